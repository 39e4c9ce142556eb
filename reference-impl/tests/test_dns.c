/*
 * test_dns.c -- the thin DNS interface (dns.c): host name syntax, the
 * "status" texts of dns events (docs/interfaces.md), and the answer cache
 * (dns_cache.c) in front of the mock resolver.
 */
#include <string.h>

#include <event2/event.h>

#include "tests.h"

static void
test_dns_valid_hostname(void)
{
	CU_ASSERT(dns_valid_hostname("mx1.example.test"));
	CU_ASSERT(dns_valid_hostname("a-b.c"));
	CU_ASSERT(!dns_valid_hostname("127.0.0.1"));
	CU_ASSERT(!dns_valid_hostname("-a.test"));
	CU_ASSERT(!dns_valid_hostname("a..test"));
	CU_ASSERT(!dns_valid_hostname("a b.test"));
	CU_ASSERT(!dns_valid_hostname(""));
}

/* The "status" of dns events (docs/interfaces.md). */
static void
test_dns_status_text(void)
{
	static const struct {
		enum dns_sec	 status;
		int		 nxdomain, nodata;
		const char	*text;
	} texts[] = {
		{ DNS_SECURE, 0, 0, "secure" },
		{ DNS_SECURE, 1, 0, "nxdomain-secure" },
		{ DNS_SECURE, 0, 1, "nodata-secure" },
		{ DNS_INSECURE, 0, 0, "insecure" },
		{ DNS_INSECURE, 1, 0, "nxdomain-insecure" },
		{ DNS_INSECURE, 0, 1, "nodata-insecure" },
		{ DNS_BOGUS, 0, 0, "bogus" },
		{ DNS_BOGUS, 1, 0, "bogus" },
		{ DNS_ERROR, 0, 0, "error" },
		{ DNS_ERROR, 0, 1, "error" },
		{ DNS_ERROR, 0, 0, NULL }
	};
	struct dns_answer	a;
	size_t			i;

	for (i = 0; texts[i].text != NULL; i++) {
		memset(&a, 0, sizeof(a));
		a.status = texts[i].status;
		a.nxdomain = texts[i].nxdomain;
		a.nodata = texts[i].nodata;
		CU_ASSERT_STRING_EQUAL(dns_status_text(&a), texts[i].text);
	}
	CU_ASSERT_STRING_EQUAL(dns_sec_name(DNS_INSECURE), "insecure");
}

static const struct mock_rr cache_rrs[] = {
	{ "mx.cache.test", DNS_T_A, DNS_SECURE, "", { "192.0.2.7" } },
	{ "bad.cache.test", DNS_T_A, DNS_BOGUS, "", { NULL } },
	{ NULL, 0, 0, NULL, { NULL } }
};

struct cache_got {
	int			 n;
	int			 inside;	/* set while resolve runs */
	int			 early;		/* called back from inside */
	struct dns_answer	*a[4];
};

static void
cache_cb(void *arg, struct dns_answer *a)
{
	struct cache_got	*g = arg;

	if (g->inside)
		g->early = 1;
	if (g->n < 4)
		g->a[g->n++] = a;
	else
		dns_answer_free(a);
}

static void
cache_ask(struct dns *d, const char *name, struct cache_got *g)
{
	g->inside = 1;
	CU_ASSERT_EQUAL(dns_resolve(d, name, DNS_T_A, cache_cb, g), 0);
	g->inside = 0;
}

static void
cache_free_got(struct cache_got *g)
{
	while (g->n > 0)
		dns_answer_free(g->a[--g->n]);
}

/*
 * One question to the resolver for many callers: those asking at once
 * wait for its answer, those asking later get it from memory; each gets
 * its own copy under its own spelling of the name, never from inside
 * dns_resolve().  Bogus answers are not kept; after dns_interrupt()
 * every question goes to the resolver again.
 */
static void
test_dns_cache(void)
{
	struct event_base	*base = event_base_new();
	struct dns		*mock, *d;
	struct cache_got	 g;
	int			 i;

	mock = mock_dns_new(base, cache_rrs);
	d = dns_cache_new(base, mock);
	memset(&g, 0, sizeof(g));
	cache_ask(d, "mx.cache.test", &g);
	cache_ask(d, "MX.Cache.test", &g);
	CU_ASSERT_EQUAL(g.n, 0);
	event_base_loop(base, 0);
	CU_ASSERT_EQUAL(mock_dns_queries(mock, "mx.cache.test", DNS_T_A), 1);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	cache_ask(d, "mx.cache.test", &g);
	CU_ASSERT_EQUAL(g.n, 2);
	event_base_loop(base, 0);
	CU_ASSERT_EQUAL(mock_dns_queries(mock, "mx.cache.test", DNS_T_A), 1);
	CU_ASSERT_FALSE(g.early);
	CU_ASSERT_EQUAL_FATAL(g.n, 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(g.a[i]->status, DNS_SECURE);
		CU_ASSERT_EQUAL(g.a[i]->count, 1);
		CU_ASSERT_EQUAL(g.a[i]->len[0], 4);
		CU_ASSERT(memcmp(g.a[i]->data[0], "\xc0\x00\x02\x07", 4) == 0);
	}
	CU_ASSERT(g.a[0] != g.a[1] && g.a[0]->data[0] != g.a[1]->data[0]);
	CU_ASSERT_STRING_EQUAL(g.a[2]->qname, "mx.cache.test");
	CU_ASSERT(strcmp(g.a[0]->qname, "MX.Cache.test") == 0 ||
	    strcmp(g.a[1]->qname, "MX.Cache.test") == 0);
	cache_free_got(&g);

	/* bogus: asked again each time */
	cache_ask(d, "bad.cache.test", &g);
	event_base_loop(base, 0);
	cache_ask(d, "bad.cache.test", &g);
	event_base_loop(base, 0);
	CU_ASSERT_EQUAL(mock_dns_queries(mock, "bad.cache.test", DNS_T_A), 2);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_EQUAL(g.a[1]->status, DNS_BOGUS);
	cache_free_got(&g);

	/* stopping: no answer from memory any more */
	dns_interrupt(d);
	cache_ask(d, "mx.cache.test", &g);
	event_base_loop(base, 0);
	CU_ASSERT_EQUAL(mock_dns_queries(mock, "mx.cache.test", DNS_T_A), 2);
	CU_ASSERT_EQUAL(g.n, 1);
	cache_free_got(&g);

	dns_free(d);
	event_base_free(base);
}

void
tests_dns(void)
{
	CU_pSuite	s;

	s = CU_add_suite("dns", NULL, NULL);
	CU_add_test(s, "host names", test_dns_valid_hostname);
	CU_add_test(s, "status texts", test_dns_status_text);
	CU_add_test(s, "answer cache", test_dns_cache);
}
