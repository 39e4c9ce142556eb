/*
 * runner.c -- the queue runner: `refsend run` (one pass) and `refsend
 * daemon` (a pass every daemon_interval seconds, until SIGTERM/SIGINT).
 * Many deliveries are in flight at once (max_parallel) in one process:
 * DNS (libunbound), TCP and TLS (bufferevents) all run on one event loop.
 * One runner per queue: the lock file guarantees that two runners never
 * deliver the same message at the same time.
 *
 * SIGTERM or SIGINT stops either within a second, however slow the peers:
 * nothing new starts, lookups, MTA-STS policy fetches and sessions in
 * flight end at once (deliver_interrupt()), except those waiting for the
 * reply to their message, which get RUNNER_GRACE_MS more (the reply may
 * well be a 250); a second signal ends those too.  What was interrupted
 * stays queued.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "refsend.h"

#define RUNNER_GRACE_MS	500

struct runner {
	struct config		*conf;
	struct event_base	*base;
	struct deliver_ctx	 dctx;
	char			**ids;
	size_t			 next;
	char			**inflight;	/* ids being delivered */
	size_t			 ninflight;
	int			 all;
	int			 daemon;
	int			 stopping;
	struct event		*ev_scan;
	struct event		*ev_grace;
	char			*sts_dir;	/* <queue_dir>/sts */
	char			*tmp_dir;	/* <queue_dir>/tmp */
};

static void	runner_fill(struct runner *);

static int
runner_is_inflight(struct runner *r, const char *id)
{
	size_t	i;

	for (i = 0; i < r->ninflight; i++)
		if (strcmp(r->inflight[i], id) == 0)
			return 1;
	return 0;
}

static void
runner_done(void *arg, struct qmsg *m)
{
	struct runner	*r = arg;
	size_t		 i;

	for (i = 0; i < r->ninflight; i++)
		if (strcmp(r->inflight[i], m->id) == 0) {
			free(r->inflight[i]);
			r->inflight[i] = r->inflight[--r->ninflight];
			break;
		}
	qmsg_free(m);
	runner_fill(r);
}

static void
runner_scan(evutil_socket_t fd, short what, void *arg)
{
	struct runner	*r = arg;

	(void)fd;
	(void)what;
	queue_list_free(r->ids);
	r->ids = queue_list(r->conf->queue_dir);
	r->next = 0;
	runner_fill(r);
}

/* Start deliveries until max_parallel are in flight or the list is done. */
static void
runner_fill(struct runner *r)
{
	struct timeval	 tv = { r->conf->daemon_interval, 0 };
	struct qmsg	*m;
	const char	*id;
	time_t		 now = time(NULL);

	while (!r->stopping && r->ids != NULL && r->ids[r->next] != NULL &&
	    r->ninflight < (size_t)r->conf->max_parallel) {
		id = r->ids[r->next++];
		if (runner_is_inflight(r, id))
			continue;
		if ((m = queue_load(r->conf->queue_dir, id)) == NULL) {
			if (errno != ENOENT)
				log_warnx("queue %s: unreadable envelope",
				    id);
			continue;
		}
		if (!r->all && m->next_try > now) {
			qmsg_free(m);
			continue;
		}
		if (queue_load_data(r->conf->queue_dir, m) == -1) {
			log_warnx("queue %s: message data missing", id);
			qmsg_free(m);
			continue;
		}
		r->inflight = xreallocarray(r->inflight, r->ninflight + 1,
		    sizeof(*r->inflight));
		r->inflight[r->ninflight++] = xstrdup(id);
		deliver_start(&r->dctx, m, runner_done, r);
	}
	if (r->ids != NULL && r->ids[r->next] != NULL && !r->stopping)
		return;			/* more to start later */
	if (r->daemon && !r->stopping) {
		/* Look again soon, even with deliveries in flight: new
		 * submissions need not wait for a slow host. */
		if (!evtimer_pending(r->ev_scan, NULL))
			evtimer_add(r->ev_scan, &tv);
		return;
	}
	if (r->ninflight > 0)
		return;			/* wait for those in flight */
	event_base_loopexit(r->base, NULL);
}

/* The grace is over: the sessions still waiting for a reply end too. */
static void
runner_grace(evutil_socket_t fd, short what, void *arg)
{
	struct runner	*r = arg;

	(void)fd;
	(void)what;
	deliver_interrupt(&r->dctx, 1);
}

static void
runner_signal(evutil_socket_t sig, short what, void *arg)
{
	struct runner	*r = arg;
	struct timeval	 tv = { 0, RUNNER_GRACE_MS * 1000 };

	(void)what;
	if (r->stopping) {
		log_info("signal %d again: ending every delivery now",
		    (int)sig);
		deliver_interrupt(&r->dctx, 1);
		return;
	}
	log_info("signal %d: stopping, %zu deliveries in flight", (int)sig,
	    r->ninflight);
	r->stopping = 1;
	if (r->ninflight == 0) {
		event_base_loopexit(r->base, NULL);
		return;
	}
	if (deliver_interrupt(&r->dctx, 0) > 0 &&
	    evtimer_add(r->ev_grace, &tv) == -1)
		fatalx("cannot arm a timer");
}

/*
 * Remove what a crash left behind, older than an hour (a concurrent submit
 * may be writing a fresh one): files in tmp/, and msg/ files whose
 * envelope never arrived (a submit killed before it said "queued").
 */
static void
runner_clean(const char *dir)
{
	char		 path[PATH_MAX], file[PATH_MAX + 256];
	char		 env[PATH_MAX + 256];
	struct dirent	*e;
	struct stat	 st;
	DIR		*d;
	time_t		 now = time(NULL);
	int		 pass;

	for (pass = 0; pass < 2; pass++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pass ? "msg" :
		    "tmp");
		if ((d = opendir(path)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path,
			    e->d_name);
			snprintf(env, sizeof(env), "%s/env/%s", dir,
			    e->d_name);
			if (stat(file, &st) == 0 &&
			    st.st_mtime < now - 3600 &&
			    (pass == 0 || access(env, F_OK) == -1))
				unlink(file);
		}
		closedir(d);
	}
}

/*
 * MTA-STS (conf->sts): the PKIX context for MTA-STS hosts, the fetcher,
 * and the policy cache in <queue_dir>/sts.  -1 with a message in err if
 * the CA file cannot be used.
 */
static int
runner_sts_init(struct runner *r, char *err, size_t errlen)
{
	struct config	*conf = r->conf;

	if (!conf->sts)
		return 0;
	/*
	 * OpenSSL's default CA store (a bundle of some 140 certificates,
	 * tens of milliseconds to parse) is loaded when an MTA-STS host first
	 * needs it (deliver.c); a configured file is loaded now, so that a
	 * wrong one stops the run before it starts.
	 */
	if (conf->sts_ca_file != NULL && (r->dctx.sts_ssl_ctx =
	    dane_pkix_ctx_new(conf->sts_ca_file)) == NULL) {
		snprintf(err, errlen, "sts_ca_file %s: cannot load the CA "
		    "certificates", conf->sts_ca_file ? conf->sts_ca_file :
		    "(OpenSSL's default)");
		return -1;
	}
	xasprintf(&r->sts_dir, "%s/sts", conf->queue_dir);
	xasprintf(&r->tmp_dir, "%s/tmp", conf->queue_dir);
	r->dctx.sts.dns = r->dctx.dns;
	r->dctx.sts.fetch = stsfetch_curl_new(r->base, conf->sts_ca_file,
	    conf->sts_timeout);
	r->dctx.sts.cache_dir = r->sts_dir;
	r->dctx.sts.tmp_dir = r->tmp_dir;
	r->dctx.sts.clock_offset = conf->clock_offset;
	return 0;
}

int
runner_run(struct config *conf, int all, int daemon)
{
	struct runner	 r;
	struct event	*ev_term, *ev_int;
	char		 err[512];
	int		 lockfd;

	if (queue_init(conf->queue_dir) == -1) {
		log_warnx("%s: %s", conf->queue_dir, strerror(errno));
		return -1;
	}
	if ((lockfd = queue_lock(conf->queue_dir)) == -1) {
		log_warnx("%s: another runner holds the queue lock; nothing "
		    "done", conf->queue_dir);
		return 0;
	}
	runner_clean(conf->queue_dir);
	memset(&r, 0, sizeof(r));
	r.conf = conf;
	r.all = all;
	r.daemon = daemon;
	if ((r.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	r.dctx.conf = conf;
	r.dctx.base = r.base;
	if ((r.dctx.ssl_ctx = dane_ctx_new()) == NULL)
		fatalx("cannot create the TLS context");
	r.dctx.dns = dns_cache_new(r.base, dns_unbound_new(r.base,
	    conf->resolver, conf->trust_anchor, conf->dns_timeout, err,
	    sizeof(err)));
	if (r.dctx.dns == NULL || runner_sts_init(&r, err, sizeof(err)) ==
	    -1) {
		log_warnx("%s", err);
		dns_free(r.dctx.dns);
		SSL_CTX_free(r.dctx.ssl_ctx);
		event_base_free(r.base);
		close(lockfd);
		return -1;
	}
	r.ev_scan = evtimer_new(r.base, runner_scan, &r);
	r.ev_grace = evtimer_new(r.base, runner_grace, &r);
	if (r.ev_scan == NULL || r.ev_grace == NULL)
		fatalx("cannot create a timer");
	ev_term = evsignal_new(r.base, SIGTERM, runner_signal, &r);
	ev_int = evsignal_new(r.base, SIGINT, runner_signal, &r);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	runner_scan(-1, 0, &r);
	if (!r.stopping && (r.ninflight > 0 || daemon))
		event_base_dispatch(r.base);
	queue_list_free(r.ids);
	while (r.ninflight > 0)
		free(r.inflight[--r.ninflight]);
	free(r.inflight);
	event_free(r.ev_scan);
	event_free(r.ev_grace);
	event_free(ev_term);
	event_free(ev_int);
	stsfetch_free(r.dctx.sts.fetch);
	SSL_CTX_free(r.dctx.sts_ssl_ctx);
	free(r.sts_dir);
	free(r.tmp_dir);
	dns_free(r.dctx.dns);
	SSL_CTX_free(r.dctx.ssl_ctx);
	event_base_free(r.base);
	close(lockfd);
	return 0;
}
