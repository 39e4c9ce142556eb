/*
 * test_queue.c -- the durable queue: submit, load, state changes, recovery
 * from what a crash leaves behind.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

static char	qdir[256];

/*
 * A seam on fsync(2): this definition takes the C library's place in the
 * test program; it notes the path of each file or folder synced, then
 * makes the real system call.
 */
#define SYNCED_MAX	64
static char	synced[SYNCED_MAX][PATH_MAX];
static size_t	nsynced;

int
fsync(int fd)
{
	char	link[64];
	ssize_t	n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (nsynced < SYNCED_MAX && (n = readlink(link, synced[nsynced],
	    sizeof(synced[nsynced]) - 1)) > 0)
		synced[nsynced++][n] = '\0';
	return (int)syscall(SYS_fsync, fd);
}

static int
test_queue_synced(const char *path)
{
	size_t	i;

	for (i = 0; i < nsynced; i++)
		if (strcmp(synced[i], path) == 0)
			return 1;
	return 0;
}

static void
test_queue_dir(void)
{
	char	tmpl[] = "/tmp/refsend-test-XXXXXX";

	CU_ASSERT_FATAL(mkdtemp(tmpl) != NULL);
	snprintf(qdir, sizeof(qdir), "%s/q", tmpl);
}

static void
test_queue_rmrf(void)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf '%.*s'", (int)(strrchr(qdir, '/') - qdir),
	    qdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", qdir);
	free(cmd);
}

/* A new queue's folders are durable: the folder each was made in is
 * fsync'ed. */
static void
test_queue_init_durable(void)
{
	char	base[256];

	test_queue_dir();
	snprintf(base, sizeof(base), "%.*s", (int)(strrchr(qdir, '/') - qdir),
	    qdir);
	nsynced = 0;
	CU_ASSERT_FATAL(queue_init(qdir) == 0);
	CU_ASSERT(test_queue_synced(base));	/* for q */
	CU_ASSERT(test_queue_synced(qdir));	/* for q/tmp, q/msg, q/env */
	nsynced = 0;
	CU_ASSERT_FATAL(queue_init(qdir) == 0);	/* nothing new */
	CU_ASSERT(nsynced == 0);
	test_queue_rmrf();
}

static void
test_queue_roundtrip(void)
{
	char *const	 rcpts[] = { "a@x.test", "b@y.test" };
	const char	*msg = "Subject: t\n\nline\n.dot\n";
	struct qmsg	*m, *l;
	char		**ids;

	test_queue_dir();
	m = queue_submit(qdir, "s@z.test", rcpts, 2, msg, strlen(msg),
	    "h.test");
	CU_ASSERT_FATAL(m != NULL);
	/* CRLF, Message-ID added. */
	CU_ASSERT(strstr(m->data, "Message-ID: <") == m->data);
	CU_ASSERT(strstr(m->data, "\r\nline\r\n.dot\r\n") != NULL);
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(strcmp(l->from, "s@z.test") == 0);
	CU_ASSERT(l->nrcpts == 2);
	CU_ASSERT(strcmp(l->rcpts[1].addr, "b@y.test") == 0);
	CU_ASSERT(l->rcpts[0].state == RCPT_PENDING);
	CU_ASSERT(strcmp(l->message_id, m->message_id) == 0);
	CU_ASSERT(queue_load_data(qdir, l) == 0);
	CU_ASSERT(l->len == m->len && memcmp(l->data, m->data, m->len) == 0);
	/* A state change survives a reload. */
	l->rcpts[0].state = RCPT_DELIVERED;
	snprintf(l->rcpts[1].dsn, sizeof(l->rcpts[1].dsn), "4.7.5");
	l->rcpts[1].reason = xstrdup("validation-failure");
	l->attempts = 2;
	l->next_try = 12345;
	CU_ASSERT(queue_save(qdir, l) == 0);
	qmsg_free(l);
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->rcpts[0].state == RCPT_DELIVERED);
	CU_ASSERT(l->rcpts[1].state == RCPT_PENDING);
	CU_ASSERT(strcmp(l->rcpts[1].dsn, "4.7.5") == 0);
	CU_ASSERT(strcmp(l->rcpts[1].reason, "validation-failure") == 0);
	CU_ASSERT(l->attempts == 2 && l->next_try == 12345);
	ids = queue_list(qdir);
	CU_ASSERT_FATAL(ids != NULL);
	CU_ASSERT(ids[0] != NULL && strcmp(ids[0], m->id) == 0);
	CU_ASSERT(ids[1] == NULL);
	queue_list_free(ids);
	CU_ASSERT(queue_remove(qdir, m->id) == 0);
	CU_ASSERT(queue_load(qdir, m->id) == NULL);
	qmsg_free(l);
	qmsg_free(m);
	test_queue_rmrf();
}

/* What a crash can leave: a half-written file in tmp/, a message file
 * without its envelope.  Neither is a queued message. */
static void
test_queue_crash_leftovers(void)
{
	char *const	 rcpts[] = { "a@x.test" };
	const char	*msg = "Message-ID: <keep@x>\r\n\r\nbody\r\n";
	struct qmsg	*m;
	char		 path[512], **ids;
	int		 fd;

	test_queue_dir();
	m = queue_submit(qdir, "", rcpts, 1, msg, strlen(msg), "h.test");
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(strcmp(m->message_id, "keep@x") == 0);
	CU_ASSERT(strncmp(m->data, "Message-ID: <keep@x>", 20) == 0);
	snprintf(path, sizeof(path), "%s/tmp/zzz.1.tmp", qdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CU_ASSERT(fd != -1 && write(fd, "ver", 3) == 3);
	close(fd);
	snprintf(path, sizeof(path), "%s/msg/orphan", qdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	ids = queue_list(qdir);
	CU_ASSERT_FATAL(ids != NULL);
	CU_ASSERT(ids[0] != NULL && strcmp(ids[0], m->id) == 0 &&
	    ids[1] == NULL);
	queue_list_free(ids);
	/* A garbled envelope is refused, not half-read. */
	snprintf(path, sizeof(path), "%s/env/garbled", qdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CU_ASSERT(write(fd, "version 1\nid garbled\nrcpt x\n", 28) == 28);
	close(fd);
	errno = 0;
	CU_ASSERT(queue_load(qdir, "garbled") == NULL);
	/* Bad addresses are refused at submission. */
	{
		char *const	bad[] = { "no-at-sign" };
		char *const	sp[] = { "a b@x.test" };

		CU_ASSERT(queue_submit(qdir, "s@x", bad, 1, msg, strlen(msg),
		    "h") == NULL && errno == EINVAL);
		CU_ASSERT(queue_submit(qdir, "s@x", sp, 1, msg, strlen(msg),
		    "h") == NULL && errno == EINVAL);
	}
	/* The runner lock is exclusive. */
	fd = queue_lock(qdir);
	CU_ASSERT(fd != -1);
	CU_ASSERT(queue_lock(qdir) == -1);
	close(fd);
	qmsg_free(m);
	test_queue_rmrf();
}

static void
test_queue_expire(void)
{
	char *const	 rcpts[] = { "a@x.test" };
	const char	*msg = "Message-ID: <m1@h.test>\n\nbody\n";
	struct qmsg	*m, *other, *l;

	test_queue_dir();
	m = queue_submit(qdir, "s@z.test", rcpts, 1, msg, strlen(msg),
	    "h.test");
	other = queue_submit(qdir, "s@z.test", rcpts, 1, "\nb\n", 3,
	    "h.test");
	CU_ASSERT_FATAL(m != NULL && other != NULL);
	m->next_try = time(NULL) + 3600;
	CU_ASSERT_FATAL(queue_save(qdir, m) == 0);
	/* By Message-ID, with or without brackets; by queue id. */
	CU_ASSERT(queue_expire(qdir, "m1@h.test", 5) == 1);
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->attempts == 4);
	CU_ASSERT(l->next_try <= time(NULL));
	CU_ASSERT(l->rcpts[0].state == RCPT_PENDING);	/* no bounce here */
	qmsg_free(l);
	CU_ASSERT(queue_expire(qdir, "<m1@h.test>", 5) == 1);
	CU_ASSERT(queue_expire(qdir, m->id, 3) == 1);
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->attempts == 4);		/* never lowered */
	qmsg_free(l);
	/* The other message is untouched; an unknown key matches nothing. */
	l = queue_load(qdir, other->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->attempts == 0);
	qmsg_free(l);
	CU_ASSERT(queue_expire(qdir, "nope@h.test", 5) == 0);
	CU_ASSERT(queue_expire(qdir, "m1@h.tes", 5) == 0);
	qmsg_free(m);
	qmsg_free(other);
	test_queue_rmrf();
}

/*
 * A delivery prepared before the server's reply: written and fsync'ed
 * under tmp/, the envelope untouched until the commit, a rename made
 * durable by queue_sync() (an fsync of env/); the last delivery
 * (queue_done()): the envelope unlinked, made durable the same way.
 */
static void
test_queue_prepare_commit(void)
{
	char *const	 rcpts[] = { "a@x.test", "b@y.test" };
	const char	*msg = "Subject: t\n\nline\n";
	struct qmsg	*m, *l;
	char		 path[PATH_MAX], envdir[PATH_MAX];
	int		 delivered[2] = { 0, 1 };
	struct stat	 st;

	test_queue_dir();
	m = queue_submit(qdir, "s@z.test", rcpts, 2, msg, strlen(msg),
	    "h.test");
	CU_ASSERT_FATAL(m != NULL);
	snprintf(envdir, sizeof(envdir), "%s/env", qdir);
	nsynced = 0;
	CU_ASSERT_FATAL(queue_prepare(qdir, m, delivered, path,
	    sizeof(path)) == 0);
	CU_ASSERT(strncmp(path, qdir, strlen(qdir)) == 0 &&
	    strstr(path, "/tmp/") != NULL && stat(path, &st) == 0);
	CU_ASSERT(test_queue_synced(path));
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->rcpts[1].state == RCPT_PENDING);	/* not yet */
	qmsg_free(l);
	nsynced = 0;
	CU_ASSERT(queue_commit(qdir, m, path) == 0);
	CU_ASSERT(!test_queue_synced(envdir));	/* the caller's step */
	CU_ASSERT(queue_sync(qdir) == 0);
	CU_ASSERT(test_queue_synced(envdir));
	CU_ASSERT(stat(path, &st) == -1);
	l = queue_load(qdir, m->id);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->rcpts[0].state == RCPT_PENDING);
	CU_ASSERT(l->rcpts[1].state == RCPT_DELIVERED &&
	    strcmp(l->rcpts[1].dsn, "2.0.0") == 0);
	qmsg_free(l);
	/* One not needed goes. */
	CU_ASSERT_FATAL(queue_prepare(qdir, m, delivered, path,
	    sizeof(path)) == 0);
	queue_discard(path);
	CU_ASSERT(stat(path, &st) == -1);
	/* The last recipient delivered: the envelope goes, durably. */
	nsynced = 0;
	CU_ASSERT(queue_done(qdir, m->id) == 0);
	CU_ASSERT(queue_load(qdir, m->id) == NULL && errno == ENOENT);
	CU_ASSERT(queue_sync(qdir) == 0);
	CU_ASSERT(test_queue_synced(envdir));
	CU_ASSERT(queue_remove(qdir, m->id) == 0);
	qmsg_free(m);
	test_queue_rmrf();
}

/*
 * An envelope is read back only when it is what queue_save() writes: a
 * damaged one (by a crash, a disk, a hand) is refused, never half used.
 */
static void
test_queue_env_parse(void)
{
	static const char	*head = "version 1\nid Q1\nfrom s@x.test\n"
	    "message_id m@x.test\ncreated 1700000000\n";
	static const struct {
		const char	*rest;
		int		 ok;
	} cases[] = {
		{ "attempts 2\nnext_try 1700000060\n"
		    "rcpt pending 4.4.1 connect-failed a@y.test\n", 1 },
		{ "attempts 0\nnext_try 0\nrcpt delivered 2.0.0 - a@y.test", 1 },
		{ "attempts 2147483647\nrcpt pending - - a@y.test\n", 0 },
		{ "attempts -1\nrcpt pending - - a@y.test\n", 0 },
		{ "attempts 2x\nrcpt pending - - a@y.test\n", 0 },
		{ "next_try 99999999999999999999\n"
		    "rcpt pending - - a@y.test\n", 0 },
		{ "rcpt pending - - a\r@y.test\n", 0 },
		{ "rcpt pending - - a\xe9@y.test\n", 0 },
		{ "rcpt pending - - <a@y.test>\n", 0 },
		{ "rcpt pending - - no-at-sign\n", 0 },
		{ "rcpt pending - -\n", 0 },
		{ "rcpt waiting - - a@y.test\n", 0 },
		{ "rcpt pending - - a@y.test\nsurprise 1\n", 0 },
		{ "", 0 },
		{ NULL, 0 }
	};
	struct qmsg	*m;
	char		*text;
	size_t		 i;

	for (i = 0; cases[i].rest != NULL; i++) {
		xasprintf(&text, "%s%s", head, cases[i].rest);
		m = queue_env_parse("Q1", text, strlen(text));
		if (cases[i].ok != (m != NULL))
			fprintf(stderr, "\n  env case %zu: %s\n", i,
			    m ? "taken" : "refused");
		CU_ASSERT(cases[i].ok == (m != NULL));
		qmsg_free(m);
		free(text);
	}
	/* Another id, a NUL, a line of another version. */
	m = queue_env_parse("Q2", head, strlen(head));
	CU_ASSERT(m == NULL);
	m = queue_env_parse("Q1", "version 1\nid Q1\0\nfrom s@x.test\n"
	    "rcpt pending - - a@y.test\n", 49);
	CU_ASSERT(m == NULL);
	m = queue_env_parse("Q1", "version 2\nid Q1\nfrom s@x.test\n"
	    "rcpt pending - - a@y.test\n", 55);
	CU_ASSERT(m == NULL);
}

/* A message as queued: CRLF, a Message-ID, and that id made safe. */
static void
test_queue_message(void)
{
	static const char	 in[] = "Message-ID:  <a\xff b@x.test> \n"
	    "Subject: s\n\nbody\r\nlast";
	char			*out, *mid;
	size_t			 len;

	out = queue_message(in, sizeof(in) - 1, "Q1", "h.test", &len, &mid);
	CU_ASSERT(strcmp(mid, "a\\xff b@x.test") == 0);
	CU_ASSERT(len == strlen(out));
	CU_ASSERT(strcmp(out, "Message-ID:  <a\xff b@x.test> \r\n"
	    "Subject: s\r\n\r\nbody\r\nlast\r\n") == 0);
	free(out);
	free(mid);
	out = queue_message("Subject: s\n\nx", 13, "Q1", "h.test", &len,
	    &mid);
	CU_ASSERT(strcmp(mid, "Q1@h.test") == 0);
	CU_ASSERT(strcmp(out, "Message-ID: <Q1@h.test>\r\nSubject: s\r\n"
	    "\r\nx\r\n") == 0);
	free(out);
	free(mid);
}

void
tests_queue(void)
{
	CU_pSuite	s;

	s = CU_add_suite("queue", NULL, NULL);
	CU_add_test(s, "new folders are durable", test_queue_init_durable);
	CU_add_test(s, "submit, load, save, remove", test_queue_roundtrip);
	CU_add_test(s, "crash leftovers, bad input, lock",
	    test_queue_crash_leftovers);
	CU_add_test(s, "forced expiry", test_queue_expire);
	CU_add_test(s, "envelope reader", test_queue_env_parse);
	CU_add_test(s, "delivery prepared, then committed",
	    test_queue_prepare_commit);
	CU_add_test(s, "message as queued", test_queue_message);
}
