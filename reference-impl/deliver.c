/*
 * deliver.c -- one delivery attempt of one queued message.
 *
 * The pending recipients are grouped by domain.  For each domain, the
 * policy (policy.c) gives the MX hosts in order, each with its own mode;
 * the hosts are tried one after the other (and each address of a host)
 * until one takes the transaction (RFC 7672 section 2.2: every host is
 * judged on its own TLSA records; a host that fails DANE is never used,
 * and no failure leads to cleartext or to skipping authentication).
 *
 * MTA-STS (sts.c) is looked up beside the DANE policy, for levels dane,
 * may and exclude; once both are known, sts_apply() says which governs
 * each host, and the policy events are written (policy_log()).
 *
 * Recipient results, per attempt:
 *	delivered	saved to the queue at once, the moment the server
 *			gives its final reply (before QUIT), then the
 *			"delivered" event
 *	5xx / null MX	bounced at the end of the attempt, DSN written
 *	anything else	deferred; after max_attempts, bounced with the
 *			same status code in class 5
 *	interrupted	(deliver_interrupt(): the runner is stopping)
 *			deferred, the attempt not counted
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "refsend.h"

struct deliver_job;

struct deliver_domain {
	struct deliver_job	*job;
	char			*domain;
	size_t			*idx;		/* into job->m->rcpts */
	size_t			 nidx;
	struct policy		*policy;
	struct sts_result	*sts;		/* NULL: none looked up */
	int			 waiting;	/* policy, MTA-STS lookups */
	int			 port;
	size_t			 hosti;
	size_t			 addri;
	struct mta_rcpt		*mrcpts;
	size_t			 nmrcpts;
	/* the failure to report if no host takes the mail */
	int			 fprio;
	const char		*freason;
	const char		*fdsn;
	char			*fdetail;
	char			*fhost;
	char			*fsession;	/* mta_id(), NULL: none */
	char			 fdsnbuf[16];
	struct mta_session	*session;	/* under way, or NULL */
	int			 settled;	/* deliver_settled() ran */
	char			 prepared[PATH_MAX];	/* queue_prepare() */
	unsigned		 prepared_gen;	/* job->gen then */
	/* recorded, waiting for the fsync of env/ (deliver_sync()) */
	int			 syncing;
	struct mta_result	*sync_res;	/* the session's */
	TAILQ_ENTRY(deliver_domain) sync_entry;	/* in ctx->syncs */
};

struct deliver_job {
	struct deliver_ctx	*ctx;
	struct qmsg		*m;
	struct deliver_domain	*domains;
	size_t			 ndomains;
	size_t			 pending;
	int			 interrupted;	/* a domain was */
	unsigned		 gen;		/* envelope writes so far */
	void			(*done)(void *, struct qmsg *);
	void			*arg;
	LIST_ENTRY(deliver_job)	 entry;		/* in ctx->jobs */
};

static void	deliver_next_host(struct deliver_domain *);
static void	deliver_domain_done(struct deliver_domain *);

/* 1..3 digits at *p: their value, and *p moved past them; -1 if none. */
static int
deliver_digits(const char **p)
{
	int	v = 0, n = 0;

	while (n < 3 && **p >= '0' && **p <= '9') {
		v = v * 10 + (*(*p)++ - '0');
		n++;
	}
	return n == 0 || (**p >= '0' && **p <= '9') ? -1 : v;
}

/*
 * The enhanced code (RFC 3463: class "." 1*3digit "." 1*3digit) right
 * after the basic code and one space, when its class is the basic code's;
 * else one made from the basic code, class 4 when that is not 2, 4 or 5.
 */
const char *
deliver_status_of_reply(int code, const char *text, char *buf, size_t len)
{
	const char	*p;
	int		 a, b, c;

	p = text != NULL && strlen(text) > 4 ? text + 4 : "";
	if (*p >= '0' && *p <= '9') {
		a = *p++ - '0';
		if (a == code / 100 && (a == 2 || a == 4 || a == 5) &&
		    *p++ == '.' && (b = deliver_digits(&p)) != -1 &&
		    *p++ == '.' && (c = deliver_digits(&p)) != -1 &&
		    (*p == '\0' || *p == ' ')) {
			snprintf(buf, len, "%d.%d.%d", a, b, c);
			return buf;
		}
	}
	a = code / 100;
	snprintf(buf, len, "%d.0.0", code >= 200 && code < 600 &&
	    (a == 2 || a == 4 || a == 5) ? a : 4);
	return buf;
}

/* Security failures say most about a destination; then SMTP; then the
 * rest (connection, DNS of one host). */
static int
deliver_prio(const char *reason)
{
	if (reason == NULL)
		return 0;
	if (result_type_from_name(reason) != RESULT_TYPE_NONE)
		return 3;
	return strcmp(reason, "smtp") == 0 ? 2 : 1;
}

static void
deliver_note_failure(struct deliver_domain *dd, const char *host,
    const char *session, const char *reason, const char *dsn,
    const char *detail)
{
	int	prio = deliver_prio(reason);

	if (prio <= dd->fprio)
		return;
	dd->fprio = prio;
	dd->freason = reason;
	snprintf(dd->fdsnbuf, sizeof(dd->fdsnbuf), "%s", dsn ? dsn : "4.0.0");
	dd->fdsn = dd->fdsnbuf;
	free(dd->fdetail);
	dd->fdetail = xstrdup(detail ? detail : reason);
	free(dd->fhost);
	dd->fhost = host ? xstrdup(host) : NULL;
	free(dd->fsession);
	dd->fsession = session ? xstrdup(session) : NULL;
}

/* Record the attempt's result for one recipient (not yet final); host and
 * session (mta_id()) say where it came from, NULL: from no session. */
static void
deliver_rcpt_result(struct qrcpt *r, enum rcpt_state st, const char *dsn,
    const char *reason, const char *detail, const char *host,
    const char *session)
{
	r->done = 1;
	/* A bounce becomes final only at the end of the attempt, once its
	 * DSN is written: until then the saved state says pending. */
	r->bounce = st == RCPT_BOUNCED;
	r->state = st == RCPT_BOUNCED ? RCPT_PENDING : st;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn ? dsn : "4.0.0");
	/* A deferral is temporary, whatever a host said on its way out
	 * (e.g. a 554 banner of one MX among several). */
	if (st == RCPT_PENDING && r->dsn[0] == '5')
		r->dsn[0] = '4';
	free(r->reason);
	r->reason = xstrdup(reason ? reason : "unknown");
	free(r->detail);
	r->detail = detail ? xstrdup(detail) : NULL;
	free(r->host);
	r->host = host ? xstrdup(host) : NULL;
	free(r->session);
	r->session = session ? xstrdup(session) : NULL;
}

static void
deliver_defer_all(struct deliver_domain *dd, enum rcpt_state st,
    const char *reason, const char *dsn, const char *detail,
    const char *host, const char *session)
{
	struct qmsg	*m = dd->job->m;
	size_t		 i;

	for (i = 0; i < dd->nidx; i++)
		if (!m->rcpts[dd->idx[i]].done)
			deliver_rcpt_result(&m->rcpts[dd->idx[i]], st, dsn,
			    reason, detail, host, session);
}

/* The runner is stopping: what is left of the domain waits for the next
 * run. */
static void
deliver_interrupted(struct deliver_domain *dd)
{
	dd->job->interrupted = 1;
	deliver_defer_all(dd, RCPT_PENDING, "interrupted", "4.3.0",
	    "the runner stopped before this domain was done", NULL, NULL);
	deliver_domain_done(dd);
}

/* The DANE policy and the MTA-STS one are both known: deliver. */
static void
deliver_resolved(struct deliver_domain *dd)
{
	struct policy	*p = dd->policy;

	if (dd->job->ctx->stopping) {
		deliver_interrupted(dd);
		return;
	}
	sts_apply(p, dd->sts);
	policy_log(p);
	switch (p->outcome) {
	case POLICY_DEFER:
		deliver_defer_all(dd, RCPT_PENDING, p->reason, p->dsn,
		    p->detail, NULL, NULL);
		deliver_domain_done(dd);
		return;
	case POLICY_BOUNCE:
		deliver_defer_all(dd, RCPT_BOUNCED, p->reason, p->dsn,
		    p->detail, NULL, NULL);
		deliver_domain_done(dd);
		return;
	case POLICY_OK:
		break;
	}
	deliver_next_host(dd);
}

static void
deliver_policy_done(void *arg, struct policy *p)
{
	struct deliver_domain	*dd = arg;

	dd->policy = p;
	if (--dd->waiting == 0)
		deliver_resolved(dd);
}

static void
deliver_sts_done(void *arg, struct sts_result *r)
{
	struct deliver_domain	*dd = arg;

	dd->sts = r;
	if (--dd->waiting == 0)
		deliver_resolved(dd);
}

/*
 * The whole message is on its way to the server (mta.c's sent()): the
 * envelope as it will be if the server takes it (the recipients it
 * accepted delivered) is written and fsync'ed now, under tmp/, while the
 * server works, so that its 250 leaves only a rename to do.
 */
static void
deliver_sent(void *arg, struct mta_session *s)
{
	struct deliver_domain	*dd = arg;
	struct deliver_job	*job = dd->job;
	int			*delivered;
	size_t			 i, n = 0;

	(void)s;
	delivered = xcalloc(job->m->nrcpts, sizeof(*delivered));
	for (i = 0; i < dd->nmrcpts; i++)
		if (dd->mrcpts[i].code / 100 == 2) {
			delivered[dd->idx[i]] = 1;
			n++;
		}
	/* Its 250 would leave no recipient pending: queue_done() then. */
	for (i = 0; i < job->m->nrcpts; i++)
		if (!delivered[i] &&
		    job->m->rcpts[i].state != RCPT_DELIVERED)
			break;
	if (i == job->m->nrcpts)
		n = 0;
	if (n > 0 && queue_prepare(job->ctx->conf->queue_dir, job->m,
	    delivered, dd->prepared, sizeof(dd->prepared)) == 0)
		dd->prepared_gen = job->gen;
	else if (n > 0)
		log_warnx("queue %s: cannot prepare the envelope: %s",
		    job->m->id, strerror(errno));
	free(delivered);
}

/*
 * Record a delivery before anything else happens, so that a runner killed
 * right after it restarts knowing it.  When no recipient of the message is
 * left pending, the envelope goes (queue_done(): an unlink): the message
 * no longer exists.  Otherwise the envelope prepared by deliver_sent() is
 * renamed into place (it was fsync'ed before the 250).  Either is then
 * made durable by an fsync of env/ (deliver_sync()), and 1 is returned.
 * When neither applies (nothing prepared, or another session of the
 * message has written the envelope since), the envelope is written anew
 * (queue_save(): under tmp/, fsync'ed, renamed, the folder fsync'ed) and
 * 0 is returned: nothing is left to do.  The files go at the end of the
 * attempt once no recipient is pending; should that unlink be undone by a
 * power loss, the envelope still says delivered.
 */
static int
deliver_record(struct deliver_domain *dd)
{
	struct deliver_job	*job = dd->job;
	const char		*dir = job->ctx->conf->queue_dir;
	size_t			 i;

	for (i = 0; i < job->m->nrcpts; i++)
		if (job->m->rcpts[i].state != RCPT_DELIVERED)
			break;
	job->gen++;
	if (i == job->m->nrcpts && queue_done(dir, job->m->id) == 0)
		return 1;
	if (dd->prepared[0] != '\0' && dd->prepared_gen == job->gen - 1 &&
	    queue_commit(dir, job->m, dd->prepared) == 0) {
		dd->prepared[0] = '\0';
		return 1;
	}
	if (queue_save(dir, job->m) == -1)
		log_warnx("queue %s: cannot save state", job->m->id);
	return 0;
}

/* The delivery is durable (ok 0) or could not be made so: tell it. */
static void
deliver_told(struct deliver_domain *dd, int ok)
{
	struct qmsg		*m = dd->job->m;
	struct policy_host	*h = &dd->policy->hosts[dd->hosti];
	struct mta_result	*res = dd->sync_res;
	struct mta_rcpt		*mr;
	const char		*sid = mta_id(dd->session);
	size_t			 i;

	if (ok == -1)
		log_warnx("queue %s: cannot save state: %s", m->id,
		    strerror(errno));
	for (i = 0; i < dd->nmrcpts; i++) {
		mr = &dd->mrcpts[i];
		if (!mr->delivered)
			continue;
		log_event("delivered", json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:s}",
		    "session", sid, "queue_id", m->id, "rcpt", mr->addr,
		    "host", h->name, "address", h->addrs[dd->addri],
		    "tls", res->tls, "dane", res->dane.authenticated,
		    "reply", mr->reply ? mr->reply : ""));
	}
}

/*
 * Group commit: the deliveries recorded (renamed or unlinked) during one
 * turn of the event loop wait for the next turn, where one fsync of env/
 * makes them all durable; then each is told ("delivered" events) and its
 * session, held since the 250 (mta_resume()), goes on to QUIT.  Nothing
 * is told, and nothing is sent to the server, before the record is
 * durable: the same single step after the 250 as one fsync each, without
 * stopping every other session for each fsync.
 */
static void
deliver_sync(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_ctx	*ctx = arg;
	struct deliver_domain	*dd;
	int			 r;

	(void)fd;
	(void)what;
	ctx->sync_armed = 0;
	if (TAILQ_EMPTY(&ctx->syncs))
		return;
	r = queue_sync(ctx->conf->queue_dir);
	/* mta_resume() calls nothing back from here: the list holds */
	while ((dd = TAILQ_FIRST(&ctx->syncs)) != NULL) {
		TAILQ_REMOVE(&ctx->syncs, dd, sync_entry);
		dd->syncing = 0;
		deliver_told(dd, r);
		mta_resume(dd->session);
	}
}

/* The session ended while its record waited: make it durable now. */
static void
deliver_sync_now(struct deliver_domain *dd)
{
	struct deliver_ctx	*ctx = dd->job->ctx;

	if (!dd->syncing)
		return;
	TAILQ_REMOVE(&ctx->syncs, dd, sync_entry);
	dd->syncing = 0;
	deliver_told(dd, queue_sync(ctx->conf->queue_dir));
}

/*
 * The transaction's result (mta.c's settled(), before QUIT): each
 * recipient's, recorded durably first, then told in "delivered" events.
 * Returns 1 when the session is to wait for deliver_sync().
 */
static int
deliver_settled(void *arg, struct mta_session *s, struct mta_result *res)
{
	struct deliver_domain	*dd = arg;
	struct deliver_ctx	*ctx = dd->job->ctx;
	struct qmsg		*m = dd->job->m;
	struct policy_host	*h = &dd->policy->hosts[dd->hosti];
	struct qrcpt		*r;
	struct mta_rcpt		*mr;
	struct timeval		 now = { 0, 0 };
	const char		*sid = mta_id(s);
	char			 buf[16];
	size_t			 i, ndelivered = 0;

	dd->settled = 1;
	for (i = 0; i < dd->nmrcpts; i++) {
		mr = &dd->mrcpts[i];
		r = &m->rcpts[dd->idx[i]];
		deliver_status_of_reply(mr->code, mr->reply, buf, sizeof(buf));
		if (mr->delivered) {
			deliver_rcpt_result(r, RCPT_DELIVERED, buf, NULL,
			    mr->reply, h->name, sid);
			free(r->reason);
			r->reason = NULL;
			ndelivered++;
		} else if (mr->code / 100 == 5)
			deliver_rcpt_result(r, RCPT_BOUNCED, buf, "smtp",
			    mr->reply, h->name, sid);
		else
			deliver_rcpt_result(r, RCPT_PENDING, buf, "smtp",
			    mr->reply ? mr->reply : "no reply", h->name, sid);
	}
	if (ndelivered == 0)
		return 0;
	/* Durable first, then told. */
	dd->sync_res = res;
	if (deliver_record(dd) == 0) {
		deliver_told(dd, 0);
		return 0;
	}
	if (!ctx->syncs_init) {
		TAILQ_INIT(&ctx->syncs);
		ctx->syncs_init = 1;
	}
	TAILQ_INSERT_TAIL(&ctx->syncs, dd, sync_entry);
	dd->syncing = 1;
	if (!ctx->sync_armed) {
		if (event_base_once(ctx->base, -1, EV_TIMEOUT, deliver_sync,
		    ctx, &now) == -1)
			fatalx("event_base_once failed");
		ctx->sync_armed = 1;
	}
	return 1;
}

static void
deliver_session_done(void *arg, struct mta_session *s, struct mta_result *res)
{
	struct deliver_domain	*dd = arg;
	struct policy_host	*h = &dd->policy->hosts[dd->hosti];
	const char		*sid = mta_id(s);

	deliver_sync_now(dd);
	dd->session = NULL;
	/* A prepared envelope the session did not use. */
	queue_discard(dd->prepared);
	dd->prepared[0] = '\0';
	switch (res->outcome) {
	case MTA_HOSTFAIL:
		deliver_note_failure(dd, h->name, sid, res->reason, res->dsn,
		    res->detail);
		mta_free(s);
		dd->addri++;
		deliver_next_host(dd);
		return;
	case MTA_PERMFAIL:
		deliver_defer_all(dd, RCPT_BOUNCED, "smtp", res->dsn,
		    res->detail, h->name, sid);
		break;
	case MTA_OK:
		if (!dd->settled && deliver_settled(dd, s, res)) {
			dd->session = s;	/* for its id */
			deliver_sync_now(dd);
			dd->session = NULL;
		}
		break;
	}
	mta_free(s);
	deliver_domain_done(dd);
}

static void
deliver_next_host(struct deliver_domain *dd)
{
	struct deliver_ctx	*ctx = dd->job->ctx;
	struct qmsg		*m = dd->job->m;
	struct policy		*p = dd->policy;
	struct policy_host	*h = NULL;
	struct mta_params	 par;
	size_t			 i, n;

	if (ctx->stopping) {
		deliver_interrupted(dd);
		return;
	}
	for (; dd->hosti < p->nhosts; dd->hosti++, dd->addri = 0) {
		h = &p->hosts[dd->hosti];
		if (h->mode == HOST_SKIP) {
			deliver_note_failure(dd, h->name, NULL, h->reason,
			    h->dsn, h->detail);
			continue;
		}
		if (dd->addri < h->naddrs)
			break;
	}
	if (dd->hosti == p->nhosts) {
		deliver_defer_all(dd, RCPT_PENDING,
		    dd->freason ? dd->freason : "no-route",
		    dd->fdsn ? dd->fdsn : "4.4.4",
		    dd->fdetail ? dd->fdetail : "no usable MX host",
		    dd->fhost, dd->fsession);
		deliver_domain_done(dd);
		return;
	}
	/* Every recipient of the domain: a session is only started while no
	 * host has given an answer for any of them (mrcpts[i] is idx[i]). */
	for (i = 0; i < dd->nmrcpts; i++)
		free(dd->mrcpts[i].reply);
	free(dd->mrcpts);
	dd->mrcpts = xcalloc(dd->nidx, sizeof(*dd->mrcpts));
	for (i = n = 0; i < dd->nidx; i++)
		dd->mrcpts[n++].addr = m->rcpts[dd->idx[i]].addr;
	dd->nmrcpts = n;
	memset(&par, 0, sizeof(par));
	par.queue_id = m->id;
	par.domain = dd->domain;
	/* RFC 7672 section 3.2.2: after a secure MX lookup the next-hop
	 * domain is a reference identifier too (with an insecure MX RRset,
	 * "half-DANE", only the MX host's own names are). */
	par.nexthop = p->mx_status == DNS_SECURE ? dd->domain : NULL;
	par.host = h->name;
	par.address = h->addrs[dd->addri];
	par.port = dd->port;
	par.mode = h->mode;
	par.tlsa_base = h->tlsa_base;
	par.tlsa = h->tlsa;
	par.ntlsa = h->ntlsa;
	par.helo = ctx->conf->helo_name;
	par.from = m->from;
	par.data = m->data;
	par.len = m->len;
	par.connect_timeout = ctx->conf->connect_timeout;
	par.command_timeout = ctx->conf->command_timeout;
	par.tls_timeout = ctx->conf->tls_timeout;
	par.session_timeout = ctx->conf->session_timeout;
	par.ssl_ctx = ctx->ssl_ctx;
	par.sts_check = h->sts_check;
	par.sts_mismatch = h->sts_mismatch;
	par.governed = h->governed;
	par.sts = dd->sts;
	if (h->mode == HOST_STS || h->sts_check) {
		/* OpenSSL's default CA store, loaded at first need */
		if (ctx->sts_ssl_ctx == NULL &&
		    (ctx->sts_ssl_ctx = dane_pkix_ctx_new(NULL)) == NULL)
			fatalx("cannot load OpenSSL's default CA certificates");
		par.ssl_ctx = ctx->sts_ssl_ctx;
	}
	par.base = ctx->base;
	par.fd = -1;
	par.settled = deliver_settled;
	par.sent = deliver_sent;
	dd->settled = 0;
	dd->prepared[0] = '\0';
	dd->session = mta_start(&par, dd->mrcpts, dd->nmrcpts,
	    deliver_session_done, dd);
}

static void
deliver_static(struct deliver_domain *dd, const struct route *rt)
{
	struct policy		*p;
	struct policy_host	*h;

	p = xcalloc(1, sizeof(*p));
	p->domain = xstrdup(dd->domain);
	p->level = LEVEL_STATIC;
	p->hosts = h = xcalloc(1, sizeof(*h));
	p->nhosts = 1;
	h->name = xstrdup(dd->domain);
	h->addrs = xcalloc(1, sizeof(*h->addrs));
	h->addrs[0] = xstrdup(rt->address);
	h->naddrs = 1;
	h->mode = HOST_MAY;
	if (rt->port)
		dd->port = rt->port;
	log_event("policy", json_pack("{s:s,s:s,s:s,s:s,s:[],s:i,s:n,s:n,"
	    "s:s,s:s}", "queue_id", dd->job->m->id, "domain", dd->domain,
	    "host", h->name, "level", "static", "tlsa", "usable", 0,
	    "tlsa_base", "sni", "mode", "may", "detail",
	    "static_route (lab/test knob): no DNS, no DANE"));
	dd->policy = p;
	deliver_next_host(dd);
}

static char *
deliver_domain_of(const char *addr)
{
	const char	*at = strrchr(addr, '@');
	char		*d, *c;

	d = xstrdup(at ? at + 1 : "");
	for (c = d; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

static int
deliver_retry_delay(const struct config *c, int attempts)
{
	size_t	i = attempts > 0 ? (size_t)attempts - 1 : 0;

	if (i >= c->nretry)
		i = c->nretry - 1;
	return c->retry[i];
}

static void
deliver_job_finish(struct deliver_job *job)
{
	struct config	*conf = job->ctx->conf;
	struct qmsg	*m = job->m;
	struct qrcpt	*r;
	char		*text, *dsnfile = NULL, boundary[64];
	size_t		 i, nbounced = 0, nopen = 0;
	time_t		 now = time(NULL);

	LIST_REMOVE(job, entry);
	/* An interrupted attempt is not counted: the next run makes it
	 * again, as soon as it can. */
	if (!job->interrupted)
		m->attempts++;
	for (i = 0; i < m->nrcpts; i++) {
		r = &m->rcpts[i];
		if (!r->done)
			continue;
		if (r->bounce)
			r->state = RCPT_BOUNCED;
		if (r->state == RCPT_PENDING && !job->interrupted &&
		    m->attempts >= conf->max_attempts) {
			/* Out of attempts: the last cause, made permanent. */
			if (r->dsn[0] == '4' || r->dsn[0] == '2')
				r->dsn[0] = '5';
			r->state = RCPT_BOUNCED;
		}
		if (r->state == RCPT_BOUNCED)
			nbounced++;
	}
	if (nbounced > 0 && m->from[0] != '\0') {
		if (queue_load_data(conf->queue_dir, m) == -1 && m->data ==
		    NULL)
			log_warnx("queue %s: message data unreadable", m->id);
		snprintf(boundary, sizeof(boundary), "%s/%lld/refsend", m->id,
		    (long long)now);
		text = dsn_format(m, conf->helo_name, now, boundary);
		if (queue_init(conf->dsn_dir) == -1 ||
		    (dsnfile = dsn_write(conf->dsn_dir, m->id, text)) == NULL)
			log_warnx("queue %s: cannot write DSN into %s", m->id,
			    conf->dsn_dir);
		free(text);
	}
	for (i = 0; i < m->nrcpts; i++) {
		r = &m->rcpts[i];
		if (r->state == RCPT_PENDING)
			nopen++;
		if (!r->done)
			continue;
		if (r->state == RCPT_BOUNCED)
			log_event("bounced", json_pack(
			    "{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?}",
			    "queue_id", m->id, "rcpt", r->addr, "reason",
			    r->reason, "dsn", r->dsn, "detail", r->detail,
			    "dsn_file", dsnfile, "host", r->host, "session",
			    r->session));
		else if (r->state == RCPT_PENDING)
			log_event("deferred", json_pack(
			    "{s:s,s:s,s:s,s:s,s:s?,s:s?,s:i,s:s?}",
			    "queue_id", m->id, "rcpt", r->addr, "reason",
			    r->reason, "dsn", r->dsn, "detail", r->detail,
			    "host", r->host, "attempts", m->attempts,
			    "session", r->session));
	}
	free(dsnfile);
	if (!job->interrupted)
		m->next_try = now + deliver_retry_delay(conf, m->attempts);
	if (nopen == 0) {
		if (queue_remove(conf->queue_dir, m->id) == -1)
			log_warnx("queue %s: cannot remove", m->id);
	} else if (queue_save(conf->queue_dir, m) == -1)
		log_warnx("queue %s: cannot save state", m->id);
	for (i = 0; i < job->ndomains; i++) {
		free(job->domains[i].domain);
		free(job->domains[i].idx);
		policy_free(job->domains[i].policy);
		sts_result_free(job->domains[i].sts);
		free(job->domains[i].fdetail);
		free(job->domains[i].fhost);
		free(job->domains[i].fsession);
		while (job->domains[i].nmrcpts > 0)
			free(job->domains[i].mrcpts[
			    --job->domains[i].nmrcpts].reply);
		free(job->domains[i].mrcpts);
	}
	free(job->domains);
	for (i = 0; i < m->nrcpts; i++)
		m->rcpts[i].done = m->rcpts[i].bounce = 0;
	job->done(job->arg, m);
	free(job);
}

static void
deliver_domain_done(struct deliver_domain *dd)
{
	struct deliver_job	*job = dd->job;

	if (--job->pending == 0)
		deliver_job_finish(job);
}

void
deliver_start(struct deliver_ctx *ctx, struct qmsg *m,
    void (*done)(void *, struct qmsg *), void *arg)
{
	struct deliver_job	*job;
	struct deliver_domain	*dd;
	const struct route	*rt;
	enum level		 level;
	char			*dom;
	size_t			 i, j;

	job = xcalloc(1, sizeof(*job));
	job->ctx = ctx;
	job->m = m;
	job->done = done;
	job->arg = arg;
	LIST_INSERT_HEAD(&ctx->jobs, job, entry);
	for (i = 0; i < m->nrcpts; i++) {
		m->rcpts[i].done = m->rcpts[i].bounce = 0;
		if (m->rcpts[i].state != RCPT_PENDING)
			continue;
		dom = deliver_domain_of(m->rcpts[i].addr);
		for (j = 0; j < job->ndomains; j++)
			if (strcmp(job->domains[j].domain, dom) == 0)
				break;
		if (j == job->ndomains) {
			job->domains = xreallocarray(job->domains,
			    job->ndomains + 1, sizeof(*job->domains));
			memset(&job->domains[j], 0, sizeof(*job->domains));
			job->domains[j].domain = dom;
			job->domains[j].job = job;
			job->domains[j].port = ctx->conf->smtp_port;
			job->ndomains++;
		} else
			free(dom);
		dd = &job->domains[j];
		dd->idx = xreallocarray(dd->idx, dd->nidx + 1,
		    sizeof(*dd->idx));
		dd->idx[dd->nidx++] = i;
	}
	/* Count first: a domain may finish before the next one starts. */
	job->pending = job->ndomains + 1;
	for (i = 0; i < job->ndomains; i++) {
		dd = &job->domains[i];
		if ((rt = config_route(ctx->conf, dd->domain)) != NULL) {
			deliver_static(dd, rt);
			continue;
		}
		level = config_level(ctx->conf, dd->domain);
		/* dane-only needs no MTA-STS: it uses DANE hosts only. */
		dd->waiting = ctx->conf->sts && level != LEVEL_DANE_ONLY ?
		    2 : 1;
		if (dd->waiting == 2)
			sts_resolve(&ctx->sts, dd->domain, m->id,
			    deliver_sts_done, dd);
		policy_resolve(ctx->dns, dd->domain, level,
		    ctx->conf->half_dane, ctx->conf->smtp_port, m->id,
		    deliver_policy_done, dd);
	}
	/* Drop the hold taken above. */
	if (--job->pending == 0)
		deliver_job_finish(job);
}

int
deliver_interrupt(struct deliver_ctx *ctx, int force)
{
	struct deliver_job	*job;
	size_t			 i;
	int			 spared = 0;

	ctx->stopping = 1;
	dns_interrupt(ctx->dns);
	stsfetch_interrupt(ctx->sts.fetch);
	/* mta_interrupt() calls nothing back from here: the list holds. */
	LIST_FOREACH(job, &ctx->jobs, entry)
		for (i = 0; i < job->ndomains; i++)
			if (job->domains[i].session != NULL)
				spared += mta_interrupt(
				    job->domains[i].session, force);
	return spared;
}
