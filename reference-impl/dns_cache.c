/*
 * dns_cache.c -- answers kept for their TTL, in front of another struct
 * dns (dns_unbound.c).  A queue run sends many messages to few domains:
 * the same MX, A, AAAA, TLSA and TXT questions come again and again, many
 * at once when many deliveries are in flight.  libunbound answers them
 * from its own cache, but each through its worker thread (a pipe each
 * way); here a question asked again is answered from memory, and one
 * asked while the same question is on its way waits for that answer.
 *
 * Only secure and insecure answers (records, NODATA, NXDOMAIN) are kept,
 * for their TTL (at most DNS_CACHE_TTL_MAX seconds); bogus answers and
 * errors are not, so the next question asks again.  Each caller gets its
 * own copy of the answer (the dns_cb contract), later, never from inside
 * resolve.  After dns_interrupt() every question goes to the resolver
 * underneath, which answers DNS_ERROR.  The cache owns the struct dns it
 * wraps: dns_free() frees both, and then calls back nobody.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "refsend.h"

#define DNS_CACHE_BUCKETS	1024
#define DNS_CACHE_TTL_MAX	300

struct dns_cache_entry;

/* A caller waiting for an answer. */
struct dns_cache_wait {
	struct dns_cache	*c;
	dns_cb			 cb;
	void			*arg;
	char			*qname;		/* as the caller asked */
	struct dns_answer	*a;		/* once known */
	struct event		*ev;		/* to answer it later */
	LIST_ENTRY(dns_cache_wait) entry;	/* in an entry, or c->ready */
};

struct dns_cache_entry {
	char			*key;		/* the name in lower case */
	int			 qtype;
	struct dns_answer	*a;		/* NULL: on its way */
	time_t			 expires;	/* monotonic seconds */
	LIST_HEAD(, dns_cache_wait) waits;	/* while on its way */
	LIST_ENTRY(dns_cache_entry) entry;
};

struct dns_cache {
	struct dns		*inner;
	struct event_base	*base;
	int			 interrupted;
	LIST_HEAD(, dns_cache_entry) buckets[DNS_CACHE_BUCKETS];
	LIST_HEAD(, dns_cache_wait) ready;	/* answered, not yet told */
};

static time_t
dns_cache_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned
dns_cache_hash(const char *key, int qtype)
{
	unsigned	h = 2166136261u ^ (unsigned)qtype;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % DNS_CACHE_BUCKETS;
}

static struct dns_answer *
dns_cache_copy(const struct dns_answer *a, const char *qname)
{
	struct dns_answer	*c;
	size_t			 i;

	c = dns_answer_new(qname, a->qtype);
	c->status = a->status;
	c->rcode = a->rcode;
	c->nxdomain = a->nxdomain;
	c->nodata = a->nodata;
	c->ttl = a->ttl;
	if (a->canonname != NULL)
		c->canonname = xstrdup(a->canonname);
	if (a->why_bogus != NULL)
		c->why_bogus = xstrdup(a->why_bogus);
	for (i = 0; i < a->count; i++)
		dns_answer_add(c, a->data[i], a->len[i]);
	return c;
}

static void
dns_cache_wait_free(struct dns_cache_wait *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	dns_answer_free(w->a);
	free(w->qname);
	free(w);
}

/* The later call of a waiter's callback, with its own answer. */
static void
dns_cache_tell(evutil_socket_t fd, short what, void *arg)
{
	struct dns_cache_wait	*w = arg;
	struct dns_answer	*a = w->a;

	(void)fd;
	(void)what;
	LIST_REMOVE(w, entry);
	w->a = NULL;
	w->cb(w->arg, a);
	dns_cache_wait_free(w);
}

/* Give w a copy of a, to be told on the next turn of the loop. */
static void
dns_cache_schedule(struct dns_cache_wait *w, const struct dns_answer *a)
{
	struct timeval	tv = { 0, 0 };

	w->a = dns_cache_copy(a, w->qname);
	LIST_INSERT_HEAD(&w->c->ready, w, entry);
	if ((w->ev = evtimer_new(w->c->base, dns_cache_tell, w)) == NULL ||
	    evtimer_add(w->ev, &tv) == -1)
		fatalx("cannot arm a DNS timer");
}

static void
dns_cache_entry_free(struct dns_cache_entry *e)
{
	struct dns_cache_wait	*w;

	while ((w = LIST_FIRST(&e->waits)) != NULL) {
		LIST_REMOVE(w, entry);
		dns_cache_wait_free(w);
	}
	dns_answer_free(e->a);
	free(e->key);
	free(e);
}

/* The resolver's answer to an entry's question: tell every waiter. */
static void
dns_cache_done(void *arg, struct dns_answer *a)
{
	struct dns_cache_entry	*e = arg;
	struct dns_cache_wait	*w;

	while ((w = LIST_FIRST(&e->waits)) != NULL) {
		LIST_REMOVE(w, entry);
		dns_cache_schedule(w, a);
	}
	if ((a->status == DNS_SECURE || a->status == DNS_INSECURE) &&
	    a->ttl > 0) {
		e->a = a;
		e->expires = dns_cache_now() +
		    (a->ttl < DNS_CACHE_TTL_MAX ? a->ttl : DNS_CACHE_TTL_MAX);
		return;
	}
	/* not kept: the next question asks again */
	LIST_REMOVE(e, entry);
	dns_answer_free(a);
	free(e->key);
	free(e);
}

static int
dns_cache_resolve(struct dns *d, const char *qname, int qtype, dns_cb cb,
    void *arg)
{
	struct dns_cache	*c = d->impl;
	struct dns_cache_entry	*e, *next;
	struct dns_cache_wait	*w;
	time_t			 now = dns_cache_now();
	unsigned		 h;
	char			*key, *k;

	if (c->interrupted)
		return dns_resolve(c->inner, qname, qtype, cb, arg);
	key = xstrdup(qname);
	for (k = key; *k != '\0'; k++)
		*k = (char)tolower((unsigned char)*k);
	h = dns_cache_hash(key, qtype);
	for (e = LIST_FIRST(&c->buckets[h]); e != NULL; e = next) {
		next = LIST_NEXT(e, entry);
		if (e->a != NULL && e->expires <= now) {
			LIST_REMOVE(e, entry);
			dns_cache_entry_free(e);
			continue;
		}
		if (e->qtype == qtype && strcmp(e->key, key) == 0)
			break;
	}
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->cb = cb;
	w->arg = arg;
	w->qname = xstrdup(qname);
	if (e != NULL) {
		free(key);
		if (e->a != NULL)
			dns_cache_schedule(w, e->a);
		else
			LIST_INSERT_HEAD(&e->waits, w, entry);
		return 0;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = key;
	e->qtype = qtype;
	LIST_INIT(&e->waits);
	LIST_INSERT_HEAD(&e->waits, w, entry);
	LIST_INSERT_HEAD(&c->buckets[h], e, entry);
	if (dns_resolve(c->inner, qname, qtype, dns_cache_done, e) == -1) {
		LIST_REMOVE(e, entry);
		dns_cache_entry_free(e);
		return -1;
	}
	return 0;
}

static void
dns_cache_interrupt(struct dns *d)
{
	struct dns_cache	*c = d->impl;

	c->interrupted = 1;
	dns_interrupt(c->inner);
}

static void
dns_cache_free(struct dns *d)
{
	struct dns_cache	*c = d->impl;
	struct dns_cache_entry	*e;
	struct dns_cache_wait	*w;
	size_t			 i;

	dns_free(c->inner);		/* calls dns_cache_done() no more */
	for (i = 0; i < DNS_CACHE_BUCKETS; i++)
		while ((e = LIST_FIRST(&c->buckets[i])) != NULL) {
			LIST_REMOVE(e, entry);
			dns_cache_entry_free(e);
		}
	while ((w = LIST_FIRST(&c->ready)) != NULL) {
		LIST_REMOVE(w, entry);
		dns_cache_wait_free(w);
	}
	free(c);
	free(d);
}

static const struct dns_ops dns_cache_ops = {
	dns_cache_resolve, dns_cache_free, dns_cache_interrupt
};

struct dns *
dns_cache_new(struct event_base *base, struct dns *inner)
{
	struct dns		*d;
	struct dns_cache	*c;
	size_t			 i;

	if (inner == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->inner = inner;
	c->base = base;
	for (i = 0; i < DNS_CACHE_BUCKETS; i++)
		LIST_INIT(&c->buckets[i]);
	LIST_INIT(&c->ready);
	d = xcalloc(1, sizeof(*d));
	d->ops = &dns_cache_ops;
	d->impl = c;
	return d;
}
