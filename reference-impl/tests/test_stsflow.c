/*
 * test_stsflow.c -- a domain's MTA-STS policy found (sts_resolve()) and
 * applied (sts_apply()), without a network: DNS from mock_dns.c, the
 * policy host a mock fetcher that counts its fetches, the cache a fresh
 * folder, the clock moved with clock_offset.  The steps of one table run
 * in order on one cache, so each sees what the earlier ones left.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests.h"

#define ENFORCE	"version: STSv1\r\nmode: enforce\r\nmx: mx1.d.test\r\n" \
		"max_age: 86400\r\n"
#define TESTING	"version: STSv1\nmode: testing\nmx: *.d.test\n" \
		"max_age: 86400\n"
#define SHORT	"version: STSv1\nmode: enforce\nmx: *.d.test\nmax_age: 60\n"
#define NONE	"version: STSv1\nmode: none\nmax_age: 86400\n"
#define NO_MX	"version: STSv1\nmode: enforce\nmax_age: 60\n"
#define DAY	86400

/* The policy host: what it answers, and what it was asked. */
struct mock_fetch {
	struct event_base	*base;
	const char		*body;		/* NULL: the fetch fails */
	const char		*fail_type;
	int			 interrupted;	/* stsfetch_interrupt() */
	int			 calls;
	char			 host[256];
	size_t			 naddrs;
	char			 addr0[64];
};

struct mock_fetch_call {
	struct sts_fetched	*r;
	stsfetch_cb		 cb;
	void			*arg;
};

static void
mock_fetch_answer(evutil_socket_t fd, short what, void *arg)
{
	struct mock_fetch_call	*c = arg;

	(void)fd;
	(void)what;
	c->cb(c->arg, c->r);
	free(c);
}

static void
mock_fetch_get(struct stsfetch *f, const char *host, char *const *addrs,
    size_t n, stsfetch_cb cb, void *arg)
{
	struct mock_fetch	*mf = f->impl;
	struct mock_fetch_call	*c;

	mf->calls++;
	snprintf(mf->host, sizeof(mf->host), "%s", host);
	mf->naddrs = n;
	snprintf(mf->addr0, sizeof(mf->addr0), "%s", n ? addrs[0] : "");
	c = xcalloc(1, sizeof(*c));
	c->cb = cb;
	c->arg = arg;
	c->r = xcalloc(1, sizeof(*c->r));
	if (mf->interrupted)
		c->r->interrupted = 1;
	else if (mf->body != NULL) {
		c->r->ok = 1;
		c->r->http_code = 200;
		c->r->body = xstrdup(mf->body);
		c->r->len = strlen(mf->body);
	} else
		c->r->result_type = mf->fail_type;
	c->r->detail = xstrdup("mock fetch");
	if (event_base_once(mf->base, -1, EV_TIMEOUT, mock_fetch_answer, c,
	    NULL) == -1)
		abort();
}

static void
mock_fetch_free(struct stsfetch *f)
{
	free(f->impl);
	free(f);
}

static void
mock_fetch_interrupt(struct stsfetch *f)
{
	struct mock_fetch	*mf = f->impl;

	mf->interrupted = 1;
}

static const struct stsfetch_ops mock_fetch_ops = {
	mock_fetch_get, mock_fetch_free, mock_fetch_interrupt
};

static struct stsfetch *
mock_fetch_new(void)
{
	struct stsfetch	*f = xcalloc(1, sizeof(*f));

	f->ops = &mock_fetch_ops;
	f->impl = xcalloc(1, sizeof(struct mock_fetch));
	return f;
}

static void
flow_done(void *arg, struct sts_result *r)
{
	*(struct sts_result **)arg = r;
}

/* One sts_resolve() of d.test in a DNS universe of rrs. */
static struct sts_result *
flow_run(struct stsfetch *f, const char *dir, const char *tmp,
    const struct mock_rr *rrs, int offset)
{
	struct mock_fetch	*mf = f->impl;
	struct event_base	*base = event_base_new();
	struct dns		*dns = mock_dns_new(base, rrs);
	struct sts_ctx		 ctx = { dns, f, dir, tmp, offset };
	struct sts_result	*r = NULL;

	mf->base = base;
	sts_resolve(&ctx, "d.test", "q1", flow_done, &r);
	CU_ASSERT(r == NULL);		/* never called back at once */
	event_base_dispatch(base);
	dns_free(dns);
	event_base_free(base);
	CU_ASSERT_FATAL(r != NULL);
	return r;
}

/* "-" (no policy) or "MODE ID SOURCE", then " TYPE" of a failure. */
static char *
flow_summary(const struct sts_result *r)
{
	char	*s;

	if (!r->have)
		xasprintf(&s, "-%s%s", r->result_type ? " " : "",
		    r->result_type ? r->result_type : "");
	else
		xasprintf(&s, "%s %s %s%s%s", stspolicy_mode_name(
		    r->policy.mode), r->id, r->source, r->result_type ? " " :
		    "", r->result_type ? r->result_type : "");
	return s;
}

struct flow_step {
	const char	*name;
	const char	*txt[3];	/* { NULL }: _mta-sts is NXDOMAIN */
	const char	*body;		/* NULL: the fetch fails */
	const char	*fail_type;
	int		 advance;	/* clock_offset, seconds */
	int		 fetches;	/* fetches so far, after this step */
	const char	*expect;
};

static const struct flow_step flow_steps[] = {
	{ "first: fetched", { "v=STSv1; id=1;" }, ENFORCE, NULL, 0, 1,
	    "enforce 1 fetch" },
	{ "same id: cached, not fetched", { "v=STSv1; id=1;" }, ENFORCE,
	    NULL, 0, 1, "enforce 1 cache" },
	{ "new id: fetched again", { "v=STSv1; id=2;" }, TESTING, NULL, 0, 2,
	    "testing 2 fetch" },
	{ "new id, fetch fails: the cached policy holds",
	    { "v=STSv1; id=3;" }, NULL, "sts-policy-fetch-error", 0, 3,
	    "testing 2 cache sts-policy-fetch-error" },
	{ "new id, invalid policy: the cached policy holds",
	    { "v=STSv1; id=3;" }, NO_MX, NULL, 0, 4,
	    "testing 2 cache sts-policy-invalid" },
	{ "the TXT record gone: the cached policy holds", { NULL }, ENFORCE,
	    NULL, 0, 4, "testing 2 cache" },
	{ "two records: the cached policy holds", { "v=STSv1; id=8;",
	    "v=STSv1; id=9;" }, ENFORCE, NULL, 0, 4, "testing 2 cache" },
	{ "expired, the record gone: none", { NULL }, ENFORCE, NULL, 2 * DAY,
	    4, "-" },
	{ "expired, fetch fails: none", { "v=STSv1; id=2;" }, NULL,
	    "sts-webpki-invalid", 2 * DAY, 5, "- sts-webpki-invalid" },
	{ "expired, fetched", { "v=STSv1; id=4;" }, SHORT, NULL, 2 * DAY, 6,
	    "enforce 4 fetch" },
	{ "a minute on: expired (max_age 60), refetched",
	    { "v=STSv1; id=4;" }, NONE, NULL, 2 * DAY + 60, 7,
	    "none 4 fetch" },
	{ "mode none is cached like any policy", { NULL }, ENFORCE, NULL,
	    2 * DAY + 120, 7, "none 4 cache" },
	{ NULL, { NULL }, NULL, NULL, 0, 0, NULL }
};

static void
test_stsflow_steps(void)
{
	const struct flow_step	*st;
	struct mock_rr		 rrs[3];
	struct stsfetch		*f = mock_fetch_new();
	struct mock_fetch	*mf = f->impl;
	struct sts_result	*r;
	char			 base[64] = "/tmp/refsend-stsflow-XXXXXX";
	char			 dir[128], tmp[128], path[256], *sum;
	size_t			 i;

	CU_ASSERT_FATAL(mkdtemp(base) != NULL);
	snprintf(dir, sizeof(dir), "%s/sts", base);
	snprintf(tmp, sizeof(tmp), "%s/tmp", base);
	CU_ASSERT_FATAL(mkdir(tmp, 0700) == 0);
	for (st = flow_steps; st->name != NULL; st++) {
		memset(rrs, 0, sizeof(rrs));
		rrs[0].qname = "_mta-sts.d.test";
		rrs[0].qtype = DNS_T_TXT;
		rrs[0].status = DNS_INSECURE;
		rrs[0].flags = st->txt[0] ? "" : "nx";
		for (i = 0; i < 3; i++)
			rrs[0].data[i] = st->txt[i];
		rrs[1].qname = "mta-sts.d.test";
		rrs[1].qtype = DNS_T_A;
		rrs[1].status = DNS_INSECURE;
		rrs[1].flags = "";
		rrs[1].data[0] = "127.0.0.1";
		mf->body = st->body;
		mf->fail_type = st->fail_type;
		r = flow_run(f, dir, tmp, rrs, st->advance);
		sum = flow_summary(r);
		if (strcmp(sum, st->expect) != 0 || mf->calls != st->fetches)
			fprintf(stderr, "\n  sts step '%s':\n    got  %s, %d "
			    "fetches\n    want %s, %d fetches\n", st->name, sum,
			    mf->calls, st->expect, st->fetches);
		CU_ASSERT(strcmp(sum, st->expect) == 0);
		CU_ASSERT(mf->calls == st->fetches);
		free(sum);
		sts_result_free(r);
	}
	/* The policy host was asked by name, at the address DNS gave. */
	CU_ASSERT(strcmp(mf->host, "mta-sts.d.test") == 0);
	CU_ASSERT(mf->naddrs == 1 && strcmp(mf->addr0, "127.0.0.1") == 0);
	snprintf(path, sizeof(path), "%s/d.test.json", dir);
	unlink(path);
	rmdir(dir);
	rmdir(tmp);
	rmdir(base);
	stsfetch_free(f);
}

/* A bogus address of the policy host is never used. */
static void
test_stsflow_bogus_address(void)
{
	static const struct mock_rr rrs[] = {
	    { "_mta-sts.d.test", DNS_T_TXT, DNS_INSECURE, "",
		{ "v=STSv1; id=1;" } },
	    { "mta-sts.d.test", DNS_T_A, DNS_BOGUS, "", { "127.0.0.1" } },
	    { "mta-sts.d.test", DNS_T_AAAA, DNS_SECURE, "", { "::1" } },
	    { NULL, 0, 0, NULL, { NULL } } };
	struct stsfetch		*f = mock_fetch_new();
	struct mock_fetch	*mf = f->impl;
	struct sts_result	*r;

	mf->body = ENFORCE;
	r = flow_run(f, "/nonexistent/sts", "/nonexistent/tmp", rrs, 0);
	CU_ASSERT(mf->calls == 1 && mf->naddrs == 1);
	CU_ASSERT(strcmp(mf->addr0, "::1") == 0);
	/* Applied though it could not be cached. */
	CU_ASSERT(r->have && r->policy.mode == STS_MODE_ENFORCE);
	sts_result_free(r);
	stsfetch_free(f);
}

/* A fetch interrupted (the process is stopping) is no failure: no
 * policy, no RFC 8460 type, nothing cached. */
static void
test_stsflow_interrupted(void)
{
	static const struct mock_rr rrs[] = {
	    { "_mta-sts.d.test", DNS_T_TXT, DNS_INSECURE, "",
		{ "v=STSv1; id=1;" } },
	    { "mta-sts.d.test", DNS_T_A, DNS_INSECURE, "", { "127.0.0.1" } },
	    { NULL, 0, 0, NULL, { NULL } } };
	struct stsfetch		*f = mock_fetch_new();
	struct mock_fetch	*mf = f->impl;
	struct sts_result	*r;

	mf->body = ENFORCE;
	stsfetch_interrupt(f);
	r = flow_run(f, "/nonexistent/sts", "/nonexistent/tmp", rrs, 0);
	CU_ASSERT(mf->calls == 1);
	CU_ASSERT(!r->have && r->result_type == NULL);
	sts_result_free(r);
	stsfetch_free(f);
	stsfetch_interrupt(NULL);	/* no MTA-STS: nothing to do */
}

static void
curl_done(void *arg, struct sts_fetched *r)
{
	struct sts_fetched	**out = arg;

	CU_ASSERT(*out == NULL);	/* exactly once */
	*out = r;
}

/*
 * The libcurl fetcher, interrupted with a transfer in its multi handle:
 * the transfer is dropped before it touches the network, its caller hears
 * "interrupted" from the loop (not from inside interrupt), and so does a
 * fetch asked afterwards.
 */
static void
test_stsflow_curl_interrupt(void)
{
	struct event_base	*base = event_base_new();
	struct stsfetch		*f = stsfetch_curl_new(base, NULL, 60);
	struct sts_fetched	*r1 = NULL, *r2 = NULL, *r;
	char			*addrs[] = { "127.0.0.1" };
	size_t			 i;

	stsfetch_get(f, "mta-sts.d.test", addrs, 1, curl_done, &r1);
	stsfetch_interrupt(f);
	CU_ASSERT(r1 == NULL);
	stsfetch_get(f, "mta-sts.e.test", addrs, 1, curl_done, &r2);
	CU_ASSERT(r2 == NULL);
	event_base_dispatch(base);
	CU_ASSERT_FATAL(r1 != NULL && r2 != NULL);
	for (i = 0; i < 2; i++) {
		r = i ? r2 : r1;
		CU_ASSERT(r->interrupted && !r->ok);
		CU_ASSERT(r->result_type == NULL && r->http_code == 0);
		CU_ASSERT(strstr(r->detail, "interrupted") != NULL);
		stsfetch_result_free(r);
	}
	stsfetch_free(f);
	event_base_free(base);
}

/* One host of a hand-made policy: name, DANE mode, TLSA lookup. */
struct apply_host {
	const char	*name;
	enum host_mode	 mode;
	int		 tlsa_looked_up;
	enum dns_sec	 tlsa_status;
};

static const struct apply_host apply_hosts[] = {
	{ "mx1.d.test", HOST_DANE, 1, DNS_SECURE },	/* not in mx */
	{ "mx2.d.test", HOST_MAY, 0, DNS_INSECURE },
	{ "mx3.other.test", HOST_MAY, 1, DNS_SECURE },	/* secure denial */
	{ "mx4.d.test", HOST_SKIP, 1, DNS_BOGUS },
	{ "mx5.d.test", HOST_ENCRYPT, 1, DNS_SECURE },
	{ "mx6.d.test", HOST_SKIP, 0, DNS_INSECURE },	/* no address */
	{ "d.test", HOST_MAY, 0, DNS_INSECURE },	/* not *.d.test */
};

static char *
apply_summary(const struct policy *p)
{
	struct buf	b = { NULL, 0, 0 };
	size_t		i;

	for (i = 0; i < p->nhosts; i++)
		buf_addf(&b, "%s%s=%s/%s%s%s", i ? " " : "",
		    p->hosts[i].name, host_mode_name(p->hosts[i].mode),
		    p->hosts[i].governed, p->hosts[i].sts_check ? "/check" :
		    "", p->hosts[i].sts_mismatch ? "/mismatch" : "");
	return b.data;
}

static void
test_stsflow_apply(void)
{
	static const struct {
		const char	*policy;	/* NULL: no MTA-STS result */
		const char	*expect;
	} cases[] = {
	    { "version: STSv1\nmode: enforce\nmx: mx2.d.test\n"
		"mx: mx3.d.test\nmx: *.d.test\nmax_age: 60\n",
		"mx1.d.test=dane/dane mx2.d.test=sts/sts-enforce "
		"mx3.other.test=sts/sts-enforce/mismatch "
		"mx4.d.test=skip/dane mx5.d.test=encrypt/dane "
		"mx6.d.test=skip/sts-enforce "
		"d.test=sts/sts-enforce/mismatch" },
	    { "version: STSv1\nmode: testing\nmx: *.d.test\nmax_age: 60\n",
		"mx1.d.test=dane/dane mx2.d.test=may/sts-testing/check "
		"mx3.other.test=may/sts-testing/check/mismatch "
		"mx4.d.test=skip/dane mx5.d.test=encrypt/dane "
		"mx6.d.test=skip/sts-testing "
		"d.test=may/sts-testing/check/mismatch" },
	    { "version: STSv1\nmode: none\nmax_age: 60\n",
		"mx1.d.test=dane/dane mx2.d.test=may/none "
		"mx3.other.test=may/none mx4.d.test=skip/dane "
		"mx5.d.test=encrypt/dane mx6.d.test=skip/none "
		"d.test=may/none" },
	    { NULL,
		"mx1.d.test=dane/dane mx2.d.test=may/none "
		"mx3.other.test=may/none mx4.d.test=skip/dane "
		"mx5.d.test=encrypt/dane mx6.d.test=skip/none "
		"d.test=may/none" },
	};
	struct policy		 p;
	struct sts_result	 r;
	char			 err[128], *sum;
	size_t			 i, k, n = sizeof(apply_hosts) /
				    sizeof(apply_hosts[0]);

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(&p, 0, sizeof(p));
		memset(&r, 0, sizeof(r));
		p.domain = xstrdup("d.test");
		p.hosts = xcalloc(n, sizeof(*p.hosts));
		p.nhosts = n;
		for (i = 0; i < n; i++) {
			p.hosts[i].name = xstrdup(apply_hosts[i].name);
			p.hosts[i].mode = apply_hosts[i].mode;
			p.hosts[i].tlsa_looked_up =
			    apply_hosts[i].tlsa_looked_up;
			p.hosts[i].tlsa_status = apply_hosts[i].tlsa_status;
			if (p.hosts[i].mode == HOST_SKIP)
				p.hosts[i].reason = "earlier";
		}
		if (cases[k].policy != NULL) {
			CU_ASSERT_FATAL(stspolicy_parse(cases[k].policy,
			    strlen(cases[k].policy), &r.policy, err,
			    sizeof(err)) == 0);
			r.have = 1;
			snprintf(r.id, sizeof(r.id), "1");
		}
		sts_apply(&p, cases[k].policy ? &r : NULL);
		sum = apply_summary(&p);
		if (strcmp(sum, cases[k].expect) != 0)
			fprintf(stderr, "\n  sts_apply case %zu:\n    got  %s\n"
			    "    want %s\n", k, sum, cases[k].expect);
		CU_ASSERT(strcmp(sum, cases[k].expect) == 0);
		/* Enforce: the host outside the policy has its failure
		 * ready; the one skipped earlier keeps its own reason. */
		if (k == 0) {
			CU_ASSERT(strcmp(p.hosts[2].sts_failure,
			    "validation-failure") == 0 &&
			    strstr(p.hosts[2].detail, "no mail") != NULL);
			CU_ASSERT(strcmp(p.hosts[5].reason, "earlier") == 0);
		}
		CU_ASSERT(p.sts == (cases[k].policy ? &r : NULL));
		free(sum);
		stspolicy_clear(&r.policy);
		for (i = 0; i < n; i++) {
			free(p.hosts[i].name);
			free(p.hosts[i].detail);
		}
		free(p.hosts);
		free(p.domain);
	}
}

void
tests_stsflow(void)
{
	CU_pSuite	s;

	s = CU_add_suite("stsflow", NULL, NULL);
	CU_add_test(s, "found, cached, refetched, kept, expired",
	    test_stsflow_steps);
	CU_add_test(s, "bogus address of the policy host",
	    test_stsflow_bogus_address);
	CU_add_test(s, "an interrupted fetch is no failure",
	    test_stsflow_interrupted);
	CU_add_test(s, "libcurl fetcher: interrupt drops the transfers",
	    test_stsflow_curl_interrupt);
	CU_add_test(s, "applied: DANE first, then enforce/testing/none",
	    test_stsflow_apply);
}
