/*
 * refsend.c -- the reference DANE sender's command line (docs/interfaces.md,
 * docs/refsend.md):
 *
 *	refsend [-v] -c CONF submit -f SENDER RCPT... < message
 *	refsend [-v] -c CONF submit -l LIST
 *	refsend [-v] -c CONF run [--all]
 *	refsend [-v] -c CONF status
 *	refsend [-v] -c CONF expire ID...
 *	refsend [-v] -c CONF daemon
 *
 * Exit status (docs/refsend.md): 0 when the command ran, whatever the
 * delivery outcomes (also when run or daemon finds another runner holding
 * the queue); 1 on a usage or configuration error, an events file that
 * cannot be opened, a queue folder or resolver set-up (trust anchor) run
 * and daemon cannot use, an address submit refuses, an ID expire finds
 * nowhere or a queue expire finds busy; 2 on a fatal error (out of
 * memory, a library that cannot set up: fatalx()); 75 (EX_TEMPFAIL) when
 * submit could not read or queue the message durably, or expire could
 * not rewrite a queued message.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refsend.h"

#define EX_TEMPFAIL	75

static void
usage(void)
{
	fprintf(stderr,
	    "usage: refsend [-v] -c CONF submit -f SENDER RCPT... < message\n"
	    "       refsend [-v] -c CONF submit -l LIST\n"
	    "       refsend [-v] -c CONF run [--all]\n"
	    "       refsend [-v] -c CONF status\n"
	    "       refsend [-v] -c CONF expire ID...\n"
	    "       refsend [-v] -c CONF daemon\n");
	exit(1);
}

static char *
read_all(FILE *fp, size_t *len)
{
	struct buf	b = { NULL, 0, 0 };

	if (file_read(fp, &b) == -1) {
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

/*
 * One message from fp, queued durably for rcpts (n of them); its queue id
 * printed and its "queued" event logged.  0, 1 (a bad address) or
 * EX_TEMPFAIL (not read or not stored).
 */
static int
submit_message(struct config *conf, const char *from, char *const *rcpts,
    size_t n, FILE *fp)
{
	struct qmsg	*m;
	char		*data;
	json_t		*to;
	size_t		 len, i;

	if (strcmp(from, "<>") == 0)
		from = "";
	if ((data = read_all(fp, &len)) == NULL) {
		log_warnx("submit: cannot read the message: %s",
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	m = queue_submit(conf->queue_dir, from, rcpts, n, data, len,
	    conf->helo_name);
	free(data);
	if (m == NULL) {
		if (errno == EINVAL) {
			log_warnx("submit: bad address (a recipient needs "
			    "an @, no spaces or <>)");
			return 1;
		}
		log_warnx("submit: cannot queue into %s: %s",
		    conf->queue_dir, strerror(errno));
		return EX_TEMPFAIL;
	}
	to = json_array();
	for (i = 0; i < m->nrcpts; i++)
		json_array_append_new(to, json_string(m->rcpts[i].addr));
	log_event("queued", json_pack("{s:s,s:s,s:o,s:s?,s:I}", "queue_id",
	    m->id, "from", m->from, "to", to, "message_id", m->message_id,
	    "size", (json_int_t)m->len));
	printf("%s\n", m->id);
	qmsg_free(m);
	return fflush(stdout) == 0 ? 0 : EX_TEMPFAIL;
}

/* Fields of one submit list line: FILE, SENDER, then the recipients. */
#define LIST_FIELDS	66

/*
 * submit -l LIST: one message a line, "FILE<tab>SENDER<tab>RCPT..." (up
 * to LIST_FIELDS - 2 recipients), each as submit -f SENDER RCPT... <
 * FILE; blank lines are skipped.  Stops at the first line that fails,
 * with that line's status (a malformed line is 1, an unreadable FILE
 * EX_TEMPFAIL); the messages of the lines before it stay queued.
 */
static int
submit_list(struct config *conf, const char *path)
{
	FILE	*lf, *fp;
	char	*line = NULL, *f[LIST_FIELDS], *p;
	size_t	 cap = 0, nf;
	ssize_t	 len;
	int	 rc = 0, lineno = 0;

	if ((lf = fopen(path, "r")) == NULL) {
		log_warnx("submit: %s: %s", path, strerror(errno));
		return 1;
	}
	while (rc == 0 && (len = getline(&line, &cap, lf)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		p = line;
		for (nf = 0; p != NULL && nf < LIST_FIELDS; nf++)
			f[nf] = strsep(&p, "\t");
		if (p != NULL || nf < 3) {
			log_warnx("submit: %s line %d: not FILE, SENDER and "
			    "1 to %d recipients separated by tabs", path,
			    lineno, LIST_FIELDS - 2);
			rc = 1;
		} else if ((fp = fopen(f[0], "r")) == NULL) {
			log_warnx("submit: %s line %d: %s: %s", path, lineno,
			    f[0], strerror(errno));
			rc = EX_TEMPFAIL;
		} else {
			rc = submit_message(conf, f[1], f + 2, nf - 2, fp);
			fclose(fp);
		}
	}
	if (rc == 0 && ferror(lf)) {
		log_warnx("submit: %s: %s", path, strerror(errno));
		rc = EX_TEMPFAIL;
	}
	free(line);
	fclose(lf);
	return rc;
}

static int
cmd_submit(struct config *conf, int argc, char **argv)
{
	const char	*from = NULL, *list = NULL;
	int		 ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "f:l:")) != -1) {
		switch (ch) {
		case 'f':
			from = optarg;
			break;
		case 'l':
			list = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (list != NULL) {
		if (from != NULL || argc != 0)
			usage();
		return submit_list(conf, list);
	}
	if (from == NULL || argc < 1)
		usage();
	return submit_message(conf, from, argv, (size_t)argc, stdin);
}

static const char *
rcpt_state_name(enum rcpt_state s)
{
	return s == RCPT_PENDING ? "pending" : s == RCPT_DELIVERED ?
	    "delivered" : "bounced";
}

static int
cmd_status(struct config *conf)
{
	struct qmsg	*m;
	json_t		*o, *to, *rc;
	char		**ids, *line;
	size_t		 i, j;

	if ((ids = queue_list(conf->queue_dir)) == NULL)
		return 0;	/* no queue yet: empty */
	for (i = 0; ids[i] != NULL; i++) {
		if ((m = queue_load(conf->queue_dir, ids[i])) == NULL)
			continue;
		to = json_array();
		rc = json_array();
		for (j = 0; j < m->nrcpts; j++) {
			json_array_append_new(to,
			    json_string(m->rcpts[j].addr));
			json_array_append_new(rc, json_pack(
			    "{s:s,s:s,s:s?,s:s?}", "rcpt", m->rcpts[j].addr,
			    "state", rcpt_state_name(m->rcpts[j].state),
			    "dsn", m->rcpts[j].dsn[0] ? m->rcpts[j].dsn :
			    NULL, "reason", m->rcpts[j].reason));
		}
		o = json_pack("{s:s,s:s,s:o,s:s?,s:I,s:I,s:i,s:o}",
		    "queue_id", m->id, "from", m->from, "to", to,
		    "message_id", m->message_id,
		    "created", (json_int_t)m->created,
		    "next_try", (json_int_t)m->next_try,
		    "attempts", m->attempts, "rcpts", rc);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (line == NULL)
			fatalx("out of memory (json_dumps)");
		printf("%s\n", line);
		free(line);
		json_decref(o);
		qmsg_free(m);
	}
	queue_list_free(ids);
	return 0;
}

/*
 * expire ID...: each ID (queue id or Message-ID) has used up its retry
 * budget; the next run makes its last attempt.  Not while a runner holds
 * the queue: it would overwrite the change.
 */
static int
cmd_expire(struct config *conf, int argc, char **argv)
{
	int	i, n, lockfd, rc = 0;

	if (argc < 2)
		usage();
	if (queue_init(conf->queue_dir) == -1 ||
	    (lockfd = queue_lock(conf->queue_dir)) == -1) {
		log_warnx("expire: queue %s is busy or unusable",
		    conf->queue_dir);
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if ((n = queue_expire(conf->queue_dir, argv[i],
		    conf->max_attempts)) == -1) {
			log_warnx("expire %s: %s", argv[i], strerror(errno));
			rc = EX_TEMPFAIL;
		} else if (n == 0) {
			log_warnx("expire %s: no such message in the queue",
			    argv[i]);
			rc = 1;
		}
	}
	close(lockfd);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config	*conf;
	struct opts	 o;
	const char	*cmd;
	char		 err[1024];
	int		 i, rc = 0, all;

	log_progname("refsend");
	signal(SIGPIPE, SIG_IGN);
	if ((i = opts_parse(argc, argv, "v", &o)) == -1)
		usage();
	argc -= i;
	argv += i;
	cmd = argv[0];
	if ((conf = config_load(o.conf, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	log_verbose(o.verbose);
	if (log_open(conf->events) == -1) {
		log_warnx("events %s: %s", conf->events, strerror(errno));
		config_free(conf);
		return 1;
	}
	if (strcmp(cmd, "submit") == 0)
		rc = cmd_submit(conf, argc, argv);
	else if (strcmp(cmd, "run") == 0) {
		if ((all = opts_all(argc, argv)) == -1)
			usage();
		rc = runner_run(conf, all, 0) == -1 ? 1 : 0;
	} else if (strcmp(cmd, "status") == 0) {
		if (argc != 1)
			usage();
		rc = cmd_status(conf);
	} else if (strcmp(cmd, "expire") == 0)
		rc = cmd_expire(conf, argc, argv);
	else if (strcmp(cmd, "daemon") == 0) {
		if (argc != 1)
			usage();
		rc = runner_run(conf, 0, 1) == -1 ? 1 : 0;
	} else
		usage();
	log_close();
	config_free(conf);
	return rc;
}
