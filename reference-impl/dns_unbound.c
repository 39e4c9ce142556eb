/*
 * dns_unbound.c -- struct dns on top of libunbound, inside the libevent
 * loop: queries go out with ub_resolve_async(), ub_fd() is watched for
 * reading and ub_process() delivers the answers to our callbacks.
 *
 * libunbound validates itself with our trust anchor (the lab's root key);
 * the upstream is the lab's Unbound (ub_ctx_set_fwd); the lab's names under
 * "test." are not answered locally: ubctx_new() (ubctx.c) sets that up.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>

#include "refsend.h"

struct dns_query;

struct dns_unbound {
	struct ub_ctx		*ctx;
	struct event		*ev;
	struct event_base	*base;
	int			 timeout;	/* seconds per query */
	int			 interrupted;
	LIST_HEAD(, dns_query)	 queries;	/* asked of libunbound */
};

struct dns_query {
	struct dns_unbound	*u;
	dns_cb			 cb;
	void			*arg;
	char			*qname;
	int			 qtype;
	int			 id;		/* libunbound's async id */
	struct event		*timer;
	const char		*why;		/* answered DNS_ERROR: why */
	LIST_ENTRY(dns_query)	 entry;		/* while in queries */
};

static void
dns_unbound_done(void *arg, int err, struct ub_result *r)
{
	struct dns_query	*q = arg;
	struct dns_answer	*a;
	int			 i;

	if (q->timer != NULL)
		LIST_REMOVE(q, entry);
	a = dns_answer_new(q->qname, q->qtype);
	if (q->why != NULL) {
		a->status = DNS_ERROR;
		a->rcode = 2;
		a->why_bogus = xstrdup(q->why);
	} else if (err != 0 || r == NULL) {
		a->status = DNS_ERROR;
		a->rcode = 2;
		xasprintf(&a->why_bogus, "libunbound: %s", ub_strerror(err));
	} else {
		a->rcode = r->rcode;
		if (r->bogus) {
			a->status = DNS_BOGUS;
			if (r->why_bogus)
				a->why_bogus = xstrdup(r->why_bogus);
		} else if (r->rcode != 0 && r->rcode != 3) {
			/* SERVFAIL and friends: indeterminate. */
			a->status = DNS_ERROR;
			xasprintf(&a->why_bogus, "rcode %d", r->rcode);
		} else if (r->secure)
			a->status = DNS_SECURE;
		else
			a->status = DNS_INSECURE;
		if (a->status == DNS_SECURE || a->status == DNS_INSECURE) {
			a->ttl = r->ttl;
			a->nxdomain = r->nxdomain;
			a->nodata = !r->havedata && !r->nxdomain;
			for (i = 0; r->havedata && r->data[i] != NULL; i++)
				dns_answer_add(a, r->data[i],
				    (size_t)r->len[i]);
			if (r->canonname && strcasecmp(r->canonname,
			    r->qname) != 0) {
				a->canonname = xstrdup(r->canonname);
				i = (int)strlen(a->canonname);
				if (i > 1 && a->canonname[i - 1] == '.')
					a->canonname[i - 1] = '\0';
			}
		}
	}
	if (r)
		ub_resolve_free(r);
	if (q->timer != NULL)
		event_free(q->timer);
	q->cb(q->arg, a);
	free(q->qname);
	free(q);
}

/*
 * A query that takes longer than dns_timeout is cancelled and answered
 * with an error (indeterminate: never a downgrade).  If libunbound can no
 * longer cancel it, its real answer is on the way and is used instead.
 */
static void
dns_unbound_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query	*q = arg;
	struct dns_answer	*a;

	(void)fd;
	(void)what;
	if (ub_cancel(q->u->ctx, q->id) != 0)
		return;
	LIST_REMOVE(q, entry);
	event_free(q->timer);
	q->timer = NULL;
	a = dns_answer_new(q->qname, q->qtype);
	a->status = DNS_ERROR;
	a->rcode = 2;
	xasprintf(&a->why_bogus, "timeout after %d s", q->u->timeout);
	q->cb(q->arg, a);
	free(q->qname);
	free(q);
}

/* A query that could not even start still gets its (error) answer, later. */
static void
dns_unbound_failed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dns_unbound_done(arg, UB_SERVFAIL, NULL);
}

static void
dns_unbound_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns_unbound	*u = arg;

	(void)fd;
	(void)what;
	ub_process(u->ctx);
}

static int
dns_unbound_resolve(struct dns *d, const char *qname, int qtype, dns_cb cb,
    void *arg)
{
	struct dns_unbound	*u = d->impl;
	struct dns_query	*q;
	int			 r;

	struct timeval		 tv = { u->timeout, 0 };

	q = xcalloc(1, sizeof(*q));
	q->u = u;
	q->cb = cb;
	q->arg = arg;
	q->qname = xstrdup(qname);
	q->qtype = qtype;
	if (u->interrupted) {
		q->why = "interrupted: the process is stopping";
		if (event_base_once(u->base, -1, EV_TIMEOUT,
		    dns_unbound_failed, q, NULL) == -1)
			fatalx("event_base_once failed");
		return 0;
	}
	r = ub_resolve_async(u->ctx, qname, qtype, 1, q, dns_unbound_done,
	    &q->id);
	if (r == 0) {
		q->timer = evtimer_new(u->base, dns_unbound_timeout, q);
		if (q->timer == NULL || evtimer_add(q->timer, &tv) == -1)
			fatalx("cannot arm a DNS timer");
		LIST_INSERT_HEAD(&u->queries, q, entry);
	}
	if (r != 0) {
		log_warnx("ub_resolve_async %s: %s", qname, ub_strerror(r));
		if (event_base_once(u->base, -1, EV_TIMEOUT,
		    dns_unbound_failed, q, NULL) == -1)
			fatalx("event_base_once failed");
	}
	return 0;
}

static void
dns_unbound_free(struct dns *d)
{
	struct dns_unbound	*u = d->impl;

	event_free(u->ev);
	ub_ctx_delete(u->ctx);
	free(u);
	free(d);
}

/*
 * The process is stopping: every query libunbound can still cancel is
 * answered DNS_ERROR from the loop (one it cannot is answered by
 * libunbound soon), and so is every query asked from now on.
 */
static void
dns_unbound_interrupt(struct dns *d)
{
	struct dns_unbound	*u = d->impl;
	struct dns_query	*q, *next;

	u->interrupted = 1;
	for (q = LIST_FIRST(&u->queries); q != NULL; q = next) {
		next = LIST_NEXT(q, entry);
		if (ub_cancel(u->ctx, q->id) != 0)
			continue;
		LIST_REMOVE(q, entry);
		event_free(q->timer);
		q->timer = NULL;
		q->why = "interrupted: the process is stopping";
		if (event_base_once(u->base, -1, EV_TIMEOUT,
		    dns_unbound_failed, q, NULL) == -1)
			fatalx("event_base_once failed");
	}
}

static const struct dns_ops dns_unbound_ops = {
	dns_unbound_resolve,
	dns_unbound_free,
	dns_unbound_interrupt
};

struct dns *
dns_unbound_new(struct event_base *base, const char *resolver,
    const char *trust_anchor, int timeout, char *err, size_t errlen)
{
	struct dns_unbound	*u;
	struct dns		*d;

	u = xcalloc(1, sizeof(*u));
	LIST_INIT(&u->queries);
	u->base = base;
	u->timeout = timeout > 0 ? timeout : 30;
	u->ctx = ubctx_new(resolver, trust_anchor,
	    UBCTX_ASYNC | UBCTX_WHY_BOGUS, err, errlen);
	if (u->ctx == NULL) {
		free(u);
		return NULL;
	}
	u->ev = event_new(base, ub_fd(u->ctx), EV_READ | EV_PERSIST,
	    dns_unbound_readable, u);
	if (u->ev == NULL || event_add(u->ev, NULL) == -1) {
		snprintf(err, errlen, "cannot watch the libunbound fd");
		if (u->ev)
			event_free(u->ev);
		goto fail;
	}
	d = xcalloc(1, sizeof(*d));
	d->ops = &dns_unbound_ops;
	d->impl = u;
	return d;
 fail:
	ub_ctx_delete(u->ctx);
	free(u);
	return NULL;
}
