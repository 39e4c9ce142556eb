/*
 * queue.c -- the durable queue.  A message accepted by `refsend submit` is
 * never lost: every file is written under tmp/, fsync'ed, renamed into
 * place, and the directory fsync'ed.  Layout under queue_dir:
 *
 *	tmp/	files being written (anything left here after a crash is
 *		garbage and is removed by the runner)
 *	msg/ID	the message, CRLF text, never changed once renamed in
 *	env/ID	envelope and per-recipient state, replaced atomically
 *	lock	held (flock) by the one runner working the queue
 *
 * env/ID is written last at submission: a message exists when, and only
 * when, env/ID exists.  A recipient's state is saved the moment it
 * changes, before anything else happens, so that a runner killed at any
 * instant restarts with every delivered recipient marked delivered.  The
 * one unavoidable window is SMTP's own (RFC 5321 section 6.1, RFC 1047):
 * between the server's final 250 and our record of it (the rename of a
 * new env/ID, or its unlink when no recipient is left pending); a kill
 * there means one duplicate, never a loss.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "refsend.h"

#define QUEUE_TIME_MAX		253402300799LL	/* 9999-12-31T23:59:59Z */
#define QUEUE_ATTEMPTS_MAX	1000000

int
queue_write_file(const char *tmpdir, const char *dir, const char *name,
    const char *data, size_t len)
{
	char	 tmp[PATH_MAX], final[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s/%s.%ld.tmp", tmpdir, name,
	    (long)getpid());
	snprintf(final, sizeof(final), "%s/%s", dir, name);
	return file_write(tmp, final, 0600, data, len);
}

/*
 * A folder of the queue.  A new one is made durable like a file: its
 * parent folder is fsync'ed, or a crash could take the folder (and all
 * that was renamed into it since) away.
 */
static int
queue_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	return file_fsync_parent(path);
}

int
queue_init(const char *dir)
{
	char	path[PATH_MAX];

	if (queue_mkdir(dir) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if (queue_mkdir(path) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/msg", dir);
	if (queue_mkdir(path) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/env", dir);
	return queue_mkdir(path);
}

static void
queue_new_id(char *id, size_t len)
{
	struct timespec	ts;
	unsigned char	r[5];

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Not RAND_bytes: it would set up OpenSSL's random generator and
	 * providers, most of the CPU time of a `refsend submit`. */
	arc4random_buf(r, sizeof(r));
	/* Time first, so that ids sort in arrival order. */
	snprintf(id, len, "%011llx%02x%02x%02x%02x%02x",
	    (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    r[0], r[1], r[2], r[3], r[4]);
}

/* The Message-ID header's value without <>, made safe (it goes into
 * events and the envelope), or NULL. */
static char *
queue_find_message_id(const char *data, size_t len)
{
	const char	*p = data, *end = data + len, *nl, *v, *e;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl == p || (nl == p + 1 && *p == '\r'))
			break;		/* end of the header */
		if ((size_t)(nl - p) > 11 && strncasecmp(p, "Message-ID:",
		    11) == 0) {
			for (v = p + 11; v < nl && isspace((unsigned char)*v);
			    v++)
				;
			for (e = nl; e > v && isspace((unsigned char)e[-1]);
			    e--)
				;
			if (e > v && *v == '<' && e[-1] == '>') {
				v++;
				e--;
			}
			return log_safe(v, (size_t)(e - v));
		}
		p = nl + 1;
	}
	return NULL;
}

/* LF or CRLF in, CRLF out, ending with CRLF (and a NUL, not counted). */
static char *
queue_crlf(const char *data, size_t len, const char *prefix, size_t *outlen)
{
	char	*out;
	size_t	 i, o, plen = prefix ? strlen(prefix) : 0;

	out = xmalloc(plen + 2 * len + 3);
	memcpy(out, prefix ? prefix : "", plen);
	o = plen;
	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = data[i];
	}
	if (o < 2 || out[o - 2] != '\r' || out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
queue_message(const char *data, size_t len, const char *id,
    const char *helo, size_t *outlen, char **message_id)
{
	char	*hdr = NULL, *out;

	*message_id = queue_find_message_id(data, len);
	if (*message_id == NULL) {
		xasprintf(message_id, "%s@%s", id, helo);
		xasprintf(&hdr, "Message-ID: <%s>\r\n", *message_id);
	}
	out = queue_crlf(data, len, hdr, outlen);
	free(hdr);
	return out;
}

/*
 * env/ID's text.  With delivered (NULL: none), the recipients i where
 * delivered[i] is set are written as delivered, status 2.0.0 (the text
 * prepared before the server's reply, which is not known yet).
 */
static char *
queue_env_text(const struct qmsg *m, const int *delivered)
{
	char		*text, *line;
	const char	*state, *dsn, *reason;
	size_t		 i;

	xasprintf(&text, "version 1\nid %s\nfrom %s\nmessage_id %s\n"
	    "created %lld\nattempts %d\nnext_try %lld\n", m->id, m->from,
	    m->message_id ? m->message_id : "", (long long)m->created,
	    m->attempts, (long long)m->next_try);
	for (i = 0; i < m->nrcpts; i++) {
		state = m->rcpts[i].state == RCPT_PENDING ? "pending" :
		    m->rcpts[i].state == RCPT_DELIVERED ? "delivered" :
		    "bounced";
		dsn = m->rcpts[i].dsn[0] ? m->rcpts[i].dsn : "-";
		reason = m->rcpts[i].reason ? m->rcpts[i].reason : "-";
		if (delivered != NULL && delivered[i]) {
			state = "delivered";
			dsn = "2.0.0";
			reason = "-";
		}
		xasprintf(&line, "%srcpt %s %s %s %s\n", text, state, dsn,
		    reason, m->rcpts[i].addr);
		free(text);
		text = line;
	}
	return text;
}

int
queue_save(const char *dir, const struct qmsg *m)
{
	char	 tmp[PATH_MAX], env[PATH_MAX], *text;
	int	 r;

	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(env, sizeof(env), "%s/env", dir);
	text = queue_env_text(m, NULL);
	r = queue_write_file(tmp, env, m->id, text, strlen(text));
	free(text);
	return r;
}

int
queue_prepare(const char *dir, const struct qmsg *m, const int *delivered,
    char *path, size_t pathlen)
{
	static unsigned	 count;
	char		*text;
	int		 r, e;

	snprintf(path, pathlen, "%s/tmp/%s.%ld.%u.next", dir, m->id,
	    (long)getpid(), count++);
	text = queue_env_text(m, delivered);
	r = file_put(path, 0600, 1, text, strlen(text));
	e = errno;
	free(text);
	if (r == -1)
		path[0] = '\0';
	errno = e;
	return r;
}

int
queue_commit(const char *dir, const struct qmsg *m, const char *path)
{
	char	env[PATH_MAX];

	snprintf(env, sizeof(env), "%s/env/%s", dir, m->id);
	return rename(path, env);
}

int
queue_done(const char *dir, const char *id)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/env/%s", dir, id);
	return unlink(path);
}

int
queue_sync(const char *dir)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/env", dir);
	return file_fsync_dir(path);
}

void
queue_discard(const char *path)
{
	if (path[0] != '\0')
		(void)unlink(path);
}

/* An address refsend can send to: printable ASCII (no SMTPUTF8), no
 * blank, no angle bracket. */
static int
queue_addr_ok(const char *a)
{
	for (; *a; a++)
		if (*a <= ' ' || *a >= 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}

struct qmsg *
queue_submit(const char *dir, const char *from, char *const *rcpts,
    size_t n, const char *data, size_t len, const char *helo)
{
	struct qmsg	*m;
	char		 tmp[PATH_MAX], msgdir[PATH_MAX];
	size_t		 i;

	if (!queue_addr_ok(from) || n == 0) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!queue_addr_ok(rcpts[i]) || strchr(rcpts[i], '@') == NULL) {
			errno = EINVAL;
			return NULL;
		}
	if (queue_init(dir) == -1)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	queue_new_id(m->id, sizeof(m->id));
	m->from = xstrdup(from);
	m->created = m->next_try = time(NULL);
	m->data = queue_message(data, len, m->id, helo, &m->len,
	    &m->message_id);
	m->rcpts = xcalloc(n, sizeof(*m->rcpts));
	m->nrcpts = n;
	for (i = 0; i < n; i++)
		m->rcpts[i].addr = xstrdup(rcpts[i]);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(msgdir, sizeof(msgdir), "%s/msg", dir);
	if (queue_write_file(tmp, msgdir, m->id, m->data, m->len) == -1 ||
	    queue_save(dir, m) == -1) {
		qmsg_free(m);
		return NULL;
	}
	return m;
}

static enum rcpt_state
queue_rcpt_state(const char *s, int *ok)
{
	if (strcmp(s, "pending") == 0)
		return RCPT_PENDING;
	if (strcmp(s, "delivered") == 0)
		return RCPT_DELIVERED;
	if (strcmp(s, "bounced") == 0)
		return RCPT_BOUNCED;
	*ok = 0;
	return RCPT_PENDING;
}

/* A whole decimal number in [min, max]; -1 if it is not one. */
static int
queue_number(const char *v, long long min, long long max, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || *out < min ||
	    *out > max)
		return -1;
	return 0;
}

/* One "rcpt STATE DSN REASON ADDRESS" line's fields (v) into m. */
static int
queue_env_rcpt(struct qmsg *m, char *v)
{
	struct qrcpt	*r;
	char		*f[3];
	size_t		 i;
	int		 ok = 1;

	for (i = 0; i < 3; i++)
		if ((f[i] = strsep(&v, " ")) == NULL)
			return -1;
	if (v == NULL || !queue_addr_ok(v) || strchr(v, '@') == NULL)
		return -1;
	m->rcpts = xreallocarray(m->rcpts, m->nrcpts + 1, sizeof(*m->rcpts));
	r = &m->rcpts[m->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(v);
	r->state = queue_rcpt_state(f[0], &ok);
	if (strcmp(f[1], "-") != 0)
		snprintf(r->dsn, sizeof(r->dsn), "%s", f[1]);
	if (strcmp(f[2], "-") != 0)
		r->reason = xstrdup(f[2]);
	return ok ? 0 : -1;
}

/* One line of an envelope (NUL-terminated, LF taken off) into m. */
static int
queue_env_line(struct qmsg *m, const char *id, char *line)
{
	long long	 n;
	char		*v;

	if ((v = strchr(line, ' ')) != NULL)
		*v++ = '\0';
	else if (strcmp(line, "from") == 0 || strcmp(line, "message_id") == 0)
		v = line + strlen(line);	/* empty value */
	else
		return -1;
	if (strcmp(line, "version") == 0)
		return strcmp(v, "1") == 0 ? 0 : -1;
	if (strcmp(line, "id") == 0)
		return strcmp(v, id) == 0 ? 0 : -1;
	if (strcmp(line, "from") == 0) {
		if (*v != '\0' && !queue_addr_ok(v))
			return -1;
		free(m->from);
		m->from = xstrdup(v);
		return 0;
	}
	if (strcmp(line, "message_id") == 0) {
		free(m->message_id);
		m->message_id = *v ? xstrdup(v) : NULL;
		return 0;
	}
	if (strcmp(line, "created") == 0 || strcmp(line, "next_try") == 0) {
		if (queue_number(v, 0, QUEUE_TIME_MAX, &n) == -1)
			return -1;
		if (line[0] == 'c')
			m->created = (time_t)n;
		else
			m->next_try = (time_t)n;
		return 0;
	}
	if (strcmp(line, "attempts") == 0) {
		if (queue_number(v, 0, QUEUE_ATTEMPTS_MAX, &n) == -1)
			return -1;
		m->attempts = (int)n;
		return 0;
	}
	if (strcmp(line, "rcpt") == 0)
		return queue_env_rcpt(m, v);
	return -1;
}

struct qmsg *
queue_env_parse(const char *id, const char *text, size_t len)
{
	struct qmsg	*m;
	const char	*p = text, *end = text + len, *nl;
	char		*line;
	size_t		 i;
	int		 ok = 1;

	/* queue_env_text() writes printable ASCII lines, nothing else. */
	for (i = 0; i < len; i++)
		if (text[i] != '\n' && (text[i] < ' ' || text[i] >= 0x7f)) {
			errno = EINVAL;
			return NULL;
		}
	m = xcalloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	while (ok && p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line = xstrndup(p, (size_t)(nl - p));
		ok = queue_env_line(m, id, line) == 0;
		free(line);
		p = nl + 1;
	}
	if (!ok || m->from == NULL || m->nrcpts == 0) {
		qmsg_free(m);
		errno = EINVAL;
		return NULL;
	}
	return m;
}

struct qmsg *
queue_load(const char *dir, const char *id)
{
	struct qmsg	*m;
	struct buf	 b = { NULL, 0, 0 };
	FILE		*fp;
	char		 path[PATH_MAX];
	int		 e;

	snprintf(path, sizeof(path), "%s/env/%s", dir, id);
	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if (file_read(fp, &b) == -1) {
		e = errno;
		fclose(fp);
		buf_free(&b);
		errno = e;
		return NULL;
	}
	fclose(fp);
	m = queue_env_parse(id, b.data, b.len);
	buf_free(&b);
	return m;
}

int
queue_load_data(const char *dir, struct qmsg *m)
{
	struct stat	 st;
	char		 path[PATH_MAX];
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	snprintf(path, sizeof(path), "%s/msg/%s", dir, m->id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -1;
	}
	free(m->data);
	m->data = xmalloc((size_t)st.st_size + 1);
	m->len = (size_t)st.st_size;
	while (off < m->len) {
		n = read(fd, m->data + off, m->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	m->data[m->len] = '\0';
	close(fd);
	return 0;
}

int
queue_remove(const char *dir, const char *id)
{
	char	path[PATH_MAX];

	/* env first: once it is gone the message no longer exists.  No
	 * fsync: an unlink undone by a power loss means one duplicate
	 * delivery, never a lost message. */
	snprintf(path, sizeof(path), "%s/env/%s", dir, id);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	snprintf(path, sizeof(path), "%s/msg/%s", dir, id);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

char **
queue_list(const char *dir)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/env", dir);
	return file_list(path, "");
}

void
queue_list_free(char **ids)
{
	file_list_free(ids);
}

int
queue_lock(const char *dir)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

void
qmsg_free(struct qmsg *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrcpts; i++) {
		free(m->rcpts[i].addr);
		free(m->rcpts[i].reason);
		free(m->rcpts[i].detail);
		free(m->rcpts[i].host);
		free(m->rcpts[i].session);
	}
	free(m->rcpts);
	free(m->from);
	free(m->message_id);
	free(m->data);
	free(m);
}
