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
 *	delivered	saved to the queue at once, "delivered" event
 *	5xx / null MX	bounced at the end of the attempt, DSN written
 *	anything else	deferred; after max_attempts, bounced with the
 *			same status code in class 5
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
};

struct deliver_job {
	struct deliver_ctx	*ctx;
	struct qmsg		*m;
	struct deliver_domain	*domains;
	size_t			 ndomains;
	size_t			 pending;
	void			(*done)(void *, struct qmsg *);
	void			*arg;
};

static void	deliver_next_host(struct deliver_domain *);
static void	deliver_domain_done(struct deliver_domain *);

const char *
deliver_status_of_reply(int code, const char *text, char *buf, size_t len)
{
	const char	*p;
	int		 a, b, c, n;

	p = text != NULL && strlen(text) > 4 ? text + 4 : "";
	if (sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 &&
	    a == code / 100 && (p[n] == '\0' || p[n] == ' ') && (a == 2 ||
	    a == 4 || a == 5)) {
		snprintf(buf, len, "%d.%d.%d", a, b, c);
		return buf;
	}
	snprintf(buf, len, "%d.0.0", code >= 200 && code < 600 ?
	    code / 100 : 4);
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

/* The DANE policy and the MTA-STS one are both known: deliver. */
static void
deliver_resolved(struct deliver_domain *dd)
{
	struct policy	*p = dd->policy;

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
 * Record a delivery before anything else happens, so that a runner killed
 * right after it restarts knowing it.  When every recipient is delivered
 * the envelope is simply unlinked (atomic, and cheap: no fsync, no
 * rewrite); otherwise the envelope is rewritten durably.  A power loss
 * may undo an unlink: then the message is sent once more (a duplicate,
 * never a loss).
 */
static void
deliver_record(const struct config *conf, struct qmsg *m)
{
	size_t	i;

	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state != RCPT_DELIVERED)
			break;
	if (i == m->nrcpts) {
		if (queue_remove(conf->queue_dir, m->id) == -1)
			log_warnx("queue %s: cannot remove", m->id);
	} else if (queue_save(conf->queue_dir, m) == -1)
		log_warnx("queue %s: cannot save state", m->id);
}

static void
deliver_session_done(void *arg, struct mta_session *s, struct mta_result *res)
{
	struct deliver_domain	*dd = arg;
	struct qmsg		*m = dd->job->m;
	struct policy_host	*h = &dd->policy->hosts[dd->hosti];
	struct qrcpt		*r;
	struct mta_rcpt		*mr;
	const char		*sid = mta_id(s);
	char			 buf[16];
	size_t			 i, ndelivered = 0;

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
		for (i = 0; i < dd->nmrcpts; i++) {
			mr = &dd->mrcpts[i];
			r = &m->rcpts[dd->idx[i]];
			deliver_status_of_reply(mr->code, mr->reply, buf,
			    sizeof(buf));
			if (mr->delivered) {
				deliver_rcpt_result(r, RCPT_DELIVERED, buf,
				    NULL, mr->reply, h->name, sid);
				free(r->reason);
				r->reason = NULL;
				ndelivered++;
			} else if (mr->code / 100 == 5)
				deliver_rcpt_result(r, RCPT_BOUNCED, buf,
				    "smtp", mr->reply, h->name, sid);
			else
				deliver_rcpt_result(r, RCPT_PENDING, buf,
				    "smtp", mr->reply ? mr->reply :
				    "no reply", h->name, sid);
		}
		if (ndelivered == 0)
			break;
		/* Durable first, then told. */
		deliver_record(dd->job->ctx->conf, m);
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
	par.ssl_ctx = ctx->ssl_ctx;
	par.sts_check = h->sts_check;
	par.sts_mismatch = h->sts_mismatch;
	par.governed = h->governed;
	par.sts = dd->sts;
	if (h->mode == HOST_STS || h->sts_check)
		par.ssl_ctx = ctx->sts_ssl_ctx;
	par.base = ctx->base;
	par.fd = -1;
	mta_start(&par, dd->mrcpts, dd->nmrcpts, deliver_session_done, dd);
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

	m->attempts++;
	for (i = 0; i < m->nrcpts; i++) {
		r = &m->rcpts[i];
		if (!r->done)
			continue;
		if (r->bounce)
			r->state = RCPT_BOUNCED;
		if (r->state == RCPT_PENDING &&
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
