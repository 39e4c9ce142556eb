/*
 * test_agg.c -- refsend's events in, per policy domain aggregates out
 * (agg.c): canned event lines (test_agg_feed(), which test_report.c's
 * report is built from too), daily keys, the result types.
 */
#include <stdio.h>
#include <string.h>

#include "tests.h"

/*
 * One flush worth of refsend events.  a.test: DANE on two MX hosts with
 * the same TLSA RRset (listed in different orders); b.test: no DANE;
 * c.test: TLSA records, none usable; g.test: records OpenSSL refused;
 * d.test: a bogus MX RRset (two attempts, two recipients each); e.test: a
 * bogus TLSA RRset; f.test: only a refused connection.
 */
static const char *const events[] = {
	/* a.test */
	"{\"ts\":1795392000.5,\"event\":\"dns\",\"queue_id\":\"q1\","
	    "\"qname\":\"a.test\",\"qtype\":\"MX\",\"status\":\"secure\"}",
	"{\"ts\":1795392001,\"event\":\"policy\",\"queue_id\":\"q1\","
	    "\"domain\":\"a.test\",\"host\":\"mx1.a.test\",\"level\":\"dane\","
	    "\"tlsa\":[\"3 1 1 aa\",\"2 0 1 bb\"],\"mode\":\"dane\"}",
	"{\"ts\":1795392001,\"event\":\"policy\",\"queue_id\":\"q1\","
	    "\"domain\":\"a.test\",\"host\":\"MX2.a.test\",\"level\":\"dane\","
	    "\"tlsa\":[\"2 0 1 bb\",\"3 1 1 aa\"],\"mode\":\"dane\"}",
	"{\"ts\":1795392002,\"event\":\"session\",\"queue_id\":\"q1\","
	    "\"host\":\"mx1.a.test\",\"address\":\"127.25.1.1\",\"tls\":true,"
	    "\"result_type\":null,\"mode\":\"dane\",\"outcome\":\"ok\"}",
	"{\"ts\":1795392003,\"event\":\"session\",\"queue_id\":\"q1\","
	    "\"domain\":\"a.test\",\"host\":\"mx1.a.test\",\"address\":"
	    "\"127.25.1.1\",\"tls\":true,\"result_type\":null,"
	    "\"mode\":\"dane\"}",
	"{\"ts\":1795392004,\"event\":\"session\",\"queue_id\":\"q1\","
	    "\"host\":\"mx1.a.test\",\"address\":\"127.25.1.1\",\"tls\":true,"
	    "\"result_type\":\"certificate-expired\",\"detail\":\"expired\","
	    "\"mode\":\"dane\",\"reason\":\"certificate-expired\"}",
	"{\"ts\":1795392005,\"event\":\"session\",\"queue_id\":\"q1\","
	    "\"host\":\"MX2.a.test\",\"address\":\"127.25.1.2\",\"tls\":true,"
	    "\"result_type\":\"validation-failure\",\"detail\":\"no match\","
	    "\"mode\":\"dane\",\"reason\":\"validation-failure\","
	    "\"local\":\"127.0.0.9\",\"mx_helo\":\"mx2\"}",
	"{\"ts\":1795392006,\"event\":\"session\",\"queue_id\":\"q1\","
	    "\"host\":\"mx2.a.test\",\"address\":\"127.25.1.2\",\"tls\":true,"
	    "\"result_type\":\"validation-failure\",\"detail\":\"no match\","
	    "\"mode\":\"dane\",\"reason\":\"validation-failure\","
	    "\"local\":\"127.0.0.9\",\"mx_helo\":\"mx2\"}",
	/* b.test */
	"{\"ts\":1795392010,\"event\":\"policy\",\"queue_id\":\"q2\","
	    "\"domain\":\"B.test\",\"host\":\"mx.b.test\",\"level\":\"dane\","
	    "\"tlsa\":[],\"mode\":\"may\"}",
	"{\"ts\":1795392011,\"event\":\"session\",\"queue_id\":\"q2\","
	    "\"host\":\"mx.b.test\",\"address\":\"127.25.2.1\",\"tls\":true,"
	    "\"result_type\":null,\"mode\":\"may\"}",
	"{\"ts\":1795392012,\"event\":\"session\",\"queue_id\":\"q2\","
	    "\"host\":\"mx.b.test\",\"address\":\"127.25.2.1\",\"tls\":false,"
	    "\"result_type\":null,\"mode\":\"may\",\"outcome\":\"ok\"}",
	"{\"ts\":1795392013,\"event\":\"session\",\"queue_id\":\"q2\","
	    "\"host\":\"mx.b.test\",\"address\":\"127.25.2.1\",\"tls\":false,"
	    "\"result_type\":null,\"mode\":\"may\",\"reason\":"
	    "\"connect-failed\",\"state\":\"connect\"}",
	/* c.test */
	"{\"ts\":1795392020,\"event\":\"policy\",\"queue_id\":\"q3\","
	    "\"domain\":\"c.test\",\"host\":\"mx.c.test\",\"level\":\"dane\","
	    "\"tlsa\":[\"0 0 1 cc\"],\"mode\":\"encrypt\","
	    "\"tlsa_unusable\":[\"usage-pkix\"],"
	    "\"result_type\":\"tlsa-invalid\"}",
	"{\"ts\":1795392021,\"event\":\"session\",\"queue_id\":\"q3\","
	    "\"host\":\"mx.c.test\",\"address\":\"127.25.3.1\",\"tls\":true,"
	    "\"result_type\":null,\"mode\":\"encrypt\"}",
	/* g.test: the policy said dane, OpenSSL refused every record */
	"{\"ts\":1795392025,\"event\":\"policy\",\"queue_id\":\"q7\","
	    "\"domain\":\"g.test\",\"host\":\"mx.g.test\",\"level\":\"dane\","
	    "\"tlsa\":[\"3 1 1 00\"],\"mode\":\"dane\"}",
	"{\"ts\":1795392026,\"event\":\"session\",\"queue_id\":\"q7\","
	    "\"host\":\"mx.g.test\",\"address\":\"127.25.7.1\",\"tls\":true,"
	    "\"result_type\":null,\"mode\":\"encrypt\"}",
	/* d.test: MX bogus, two attempts, two recipients each */
	"{\"ts\":1795392030,\"event\":\"dns\",\"queue_id\":\"q4\","
	    "\"qname\":\"d.test\",\"qtype\":\"MX\",\"status\":\"bogus\"}",
	"{\"ts\":1795392030,\"event\":\"deferred\",\"queue_id\":\"q4\","
	    "\"rcpt\":\"u@d.test\",\"reason\":\"dnssec-invalid\",\"dsn\":"
	    "\"4.4.3\",\"detail\":\"MX bogus\",\"attempts\":1}",
	"{\"ts\":1795392030,\"event\":\"deferred\",\"queue_id\":\"q4\","
	    "\"rcpt\":\"v@D.test\",\"reason\":\"dnssec-invalid\",\"dsn\":"
	    "\"4.4.3\",\"detail\":\"MX bogus\",\"attempts\":1}",
	"{\"ts\":1795392090,\"event\":\"dns\",\"queue_id\":\"q4\","
	    "\"qname\":\"d.test\",\"qtype\":\"MX\",\"status\":\"bogus\"}",
	"{\"ts\":1795392090,\"event\":\"deferred\",\"queue_id\":\"q4\","
	    "\"rcpt\":\"u@d.test\",\"reason\":\"dnssec-invalid\",\"dsn\":"
	    "\"4.4.3\",\"detail\":\"MX bogus\",\"host\":null,\"attempts\":2}",
	"{\"ts\":1795392090,\"event\":\"bounced\",\"queue_id\":\"q4\","
	    "\"rcpt\":\"v@d.test\",\"reason\":\"dnssec-invalid\",\"dsn\":"
	    "\"5.4.3\",\"detail\":\"MX bogus\"}",
	/* e.test: TLSA bogus: the host is skipped, then the domain defers
	 * (not counted twice) */
	"{\"ts\":1795392040,\"event\":\"dns\",\"queue_id\":\"q5\","
	    "\"qname\":\"e.test\",\"qtype\":\"MX\",\"status\":\"secure\"}",
	"{\"ts\":1795392041,\"event\":\"policy\",\"queue_id\":\"q5\","
	    "\"domain\":\"e.test\",\"host\":\"mx.e.test\",\"level\":\"dane\","
	    "\"tlsa\":[],\"mode\":\"skip\",\"reason\":\"dnssec-invalid\","
	    "\"detail\":\"TLSA RRset is bogus\"}",
	"{\"ts\":1795392041,\"event\":\"deferred\",\"queue_id\":\"q5\","
	    "\"rcpt\":\"u@e.test\",\"reason\":\"dnssec-invalid\",\"dsn\":"
	    "\"4.7.5\",\"detail\":\"TLSA RRset is bogus\",\"attempts\":1}",
	/* h.test: TLSA lookup timed out: refsend says tlsa-invalid, it is
	 * dnssec-invalid (no valid records from the resolver) */
	"{\"ts\":1795392045,\"event\":\"policy\",\"queue_id\":\"q8\","
	    "\"domain\":\"h.test\",\"host\":\"mx.h.test\",\"tlsa\":[],"
	    "\"mode\":\"skip\",\"reason\":\"tlsa-invalid\","
	    "\"tlsa_status\":\"error\",\"detail\":\"TLSA lookup failed\"}",
	/* f.test: connection refused: not a TLS matter */
	"{\"ts\":1795392050,\"event\":\"policy\",\"queue_id\":\"q6\","
	    "\"domain\":\"f.test\",\"host\":\"mx.f.test\",\"level\":\"dane\","
	    "\"tlsa\":[\"3 1 1 ff\"],\"mode\":\"dane\"}",
	"{\"ts\":1795392051,\"event\":\"session\",\"queue_id\":\"q6\","
	    "\"host\":\"mx.f.test\",\"address\":\"127.25.6.1\",\"tls\":false,"
	    "\"result_type\":null,\"mode\":\"dane\",\"reason\":"
	    "\"connect-failed\",\"state\":\"connect\"}",
	/* noise: not JSON; a session without its policy; other events */
	"this is not json",
	"{\"ts\":1795392060,\"event\":\"session\",\"queue_id\":\"q9\","
	    "\"host\":\"mx.z.test\",\"address\":\"127.25.9.1\",\"tls\":true}",
	"{\"ts\":1795392061,\"event\":\"delivered\",\"queue_id\":\"q1\","
	    "\"rcpt\":\"u@a.test\",\"host\":\"mx1.a.test\"}",
	NULL
};

struct agg *
test_agg_feed(int daily)
{
	struct agg	*a;
	size_t		 i;

	a = agg_new("127.0.0.1", daily);
	for (i = 0; events[i] != NULL; i++)
		(void)agg_feed_line(a, events[i], strlen(events[i]));
	return a;
}

static struct agg_domain *
find(struct agg_domain *ds, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(ds[i].domain, name) == 0)
			return &ds[i];
	return NULL;
}

static void
test_agg_counts(void)
{
	struct agg		*a = test_agg_feed(0);
	struct agg_domain	*ds, *d;
	struct agg_policy	*p;
	size_t			 n;

	ds = agg_domains(a, &n);
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT_EQUAL(agg_skipped(a), 2);
	CU_ASSERT_DOUBLE_EQUAL(agg_first_ts(a), 1795392000.5, 0.001);
	CU_ASSERT_DOUBLE_EQUAL(agg_last_ts(a), 1795392090, 0.001);
	/* a.test: one policy, both hosts, sorted policy strings. */
	d = find(ds, n, "a.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "tlsa");
	CU_ASSERT_EQUAL_FATAL(p->nstrings, 2);
	CU_ASSERT_STRING_EQUAL(p->strings[0], "2 0 1 bb");
	CU_ASSERT_STRING_EQUAL(p->strings[1], "3 1 1 aa");
	CU_ASSERT_EQUAL_FATAL(p->nmx, 2);
	CU_ASSERT_STRING_EQUAL(p->mx[0], "mx1.a.test");
	CU_ASSERT_STRING_EQUAL(p->mx[1], "mx2.a.test");
	CU_ASSERT_EQUAL(p->ok, 2);
	CU_ASSERT_EQUAL(p->failed, 3);
	CU_ASSERT_EQUAL_FATAL(p->nfailures, 2);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type,
	    "certificate-expired");
	CU_ASSERT_EQUAL(p->failures[0].count, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].sending_ip, "127.0.0.1");
	CU_ASSERT_PTR_NULL(p->failures[0].mx_helo);
	CU_ASSERT_STRING_EQUAL(p->failures[1].result_type,
	    "validation-failure");
	CU_ASSERT_EQUAL(p->failures[1].count, 2);
	CU_ASSERT_STRING_EQUAL(p->failures[1].sending_ip, "127.0.0.9");
	CU_ASSERT_STRING_EQUAL(p->failures[1].mx_host, "mx2.a.test");
	CU_ASSERT_STRING_EQUAL(p->failures[1].receiving_ip, "127.25.1.2");
	CU_ASSERT_STRING_EQUAL(p->failures[1].mx_helo, "mx2");
	CU_ASSERT_STRING_EQUAL(p->failures[1].reason, "no match");
	CU_ASSERT_STRING_EQUAL(p->failures[0].reason, "expired");
	/* b.test: no policy; cleartext is starttls-not-supported; a
	 * refused connection does not count. */
	d = find(ds, n, "b.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "no-policy-found");
	CU_ASSERT_EQUAL(p->ok, 1);
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_EQUAL_FATAL(p->nfailures, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type,
	    "starttls-not-supported");
	/* c.test: no usable TLSA: the TLS session is one tlsa-invalid
	 * failure at its address, not also a success. */
	d = find(ds, n, "c.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "tlsa");
	CU_ASSERT_EQUAL(p->ok, 0);
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_EQUAL_FATAL(p->nfailures, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type, "tlsa-invalid");
	CU_ASSERT_STRING_EQUAL(p->failures[0].receiving_ip, "127.25.3.1");
	CU_ASSERT_STRING_EQUAL(p->failures[0].mx_host, "mx.c.test");
	CU_ASSERT_STRING_EQUAL(p->failures[0].reason, "no usable TLSA record "
	    "(usage-pkix): TLS without authentication");
	/* d.test: one failure per attempt, not per recipient. */
	d = find(ds, n, "d.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "no-policy-found");
	CU_ASSERT_EQUAL(p->failed, 2);
	CU_ASSERT_EQUAL(p->nmx, 0);
	CU_ASSERT_PTR_NULL(p->failures[0].mx_host);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type, "dnssec-invalid");
	/* e.test: no TLSA records to show: no-policy-found; counted once. */
	d = find(ds, n, "e.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "no-policy-found");
	CU_ASSERT_EQUAL(p->nstrings, 0);
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_PTR_NULL(p->failures[0].receiving_ip);
	CU_ASSERT_STRING_EQUAL(p->failures[0].mx_host, "mx.e.test");
	/* g.test: the refused records make the session one tlsa-invalid
	 * failure, not a success. */
	d = find(ds, n, "g.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	p = &d->policies[0];
	CU_ASSERT_EQUAL(p->ok, 0);
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type, "tlsa-invalid");
	CU_ASSERT_STRING_EQUAL(p->failures[0].receiving_ip, "127.25.7.1");
	/* h.test */
	d = find(ds, n, "h.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	p = &d->policies[0];
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type, "dnssec-invalid");
	CU_ASSERT_STRING_EQUAL(p->failures[0].reason, "TLSA lookup failed");
	/* f.test: nothing to report. */
	CU_ASSERT_PTR_NULL(find(ds, n, "f.test"));
	agg_free(a);
}

static void
test_agg_daily(void)
{
	static const char *const lines[] = {
		"{\"ts\":86399,\"event\":\"policy\",\"queue_id\":\"q\","
		    "\"domain\":\"a.test\",\"host\":\"mx\",\"tlsa\":[],"
		    "\"mode\":\"may\"}",
		"{\"ts\":86399.5,\"event\":\"session\",\"queue_id\":\"q\","
		    "\"host\":\"mx\",\"address\":\"1.2.3.4\",\"tls\":true}",
		"{\"ts\":86400,\"event\":\"session\",\"queue_id\":\"q\","
		    "\"host\":\"mx\",\"address\":\"1.2.3.4\",\"tls\":true}",
		NULL
	};
	struct agg		*a;
	struct agg_domain	*ds;
	size_t			 n, i;

	a = agg_new(NULL, 1);
	for (i = 0; lines[i] != NULL; i++)
		CU_ASSERT_EQUAL(agg_feed_line(a, lines[i], strlen(lines[i])),
		    0);
	ds = agg_domains(a, &n);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(ds[0].day, 0);
	CU_ASSERT_EQUAL(ds[1].day, 86400);
	CU_ASSERT_EQUAL(ds[0].policies[0].ok, 1);
	CU_ASSERT_EQUAL(ds[1].policies[0].ok, 1);
	agg_free(a);
}

static void
test_agg_result_types(void)
{
	char	copy[64];
	int	t;

	/* Each type, from a copy of its name: the registry's own string. */
	for (t = 0; t < RESULT_TYPE_COUNT; t++) {
		snprintf(copy, sizeof(copy), "%s", result_type_name(t));
		CU_ASSERT_PTR_EQUAL(agg_result_type(copy),
		    result_type_name(t));
	}
	CU_ASSERT_EQUAL(RESULT_TYPE_COUNT, 11);
	CU_ASSERT_PTR_NULL(agg_result_type("connect-failed"));
	CU_ASSERT_PTR_NULL(agg_result_type(NULL));
}

/*
 * MTA-STS: s1.test enforce (a DANE host beside it), s2.test testing,
 * s3.test a fetch that failed with nothing cached, s4.test a refetch that
 * failed while a cached policy applied.
 */
#define S1_POLICY "{\"id\":\"1\",\"mode\":\"enforce\",\"max_age\":60," \
	"\"mx\":[\"mx1.s1.test\",\"*.s1.test\"],\"lines\":[\"version: " \
	"STSv1\",\"mode: enforce\",\"mx: mx1.s1.test\",\"mx: *.s1.test\"," \
	"\"max_age: 60\"],\"source\":\"fetch\"}"
#define S2_POLICY "{\"id\":\"7\",\"mode\":\"testing\",\"max_age\":60," \
	"\"mx\":[\"*.s2.test\"],\"lines\":[\"version: STSv1\",\"mode: " \
	"testing\",\"mx: *.s2.test\",\"max_age: 60\"],\"source\":\"cache\"}"
static const char *const sts_events[] = {
	"{\"ts\":1,\"event\":\"dns\",\"queue_id\":\"q1\",\"qname\":"
	    "\"s1.test\",\"qtype\":\"MX\",\"status\":\"secure\"}",
	"{\"ts\":1,\"event\":\"sts\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"policy\":" S1_POLICY ",\"result_type\":null}",
	"{\"ts\":2,\"event\":\"policy\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx1.s1.test\",\"tlsa\":[],\"mode\":\"sts\","
	    "\"governed\":\"sts-enforce\"}",
	"{\"ts\":2,\"event\":\"policy\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx9.other.test\",\"tlsa\":[],\"mode\":"
	    "\"sts\",\"sts_failure\":\"validation-failure\",\"detail\":"
	    "\"matches no mx pattern\",\"governed\":\"sts-enforce\"}",
	"{\"ts\":2,\"event\":\"policy\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx0.s1.test\",\"tlsa\":[\"3 1 1 aa\"],"
	    "\"mode\":\"dane\",\"governed\":\"dane\"}",
	"{\"ts\":3,\"event\":\"session\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx1.s1.test\",\"address\":\"127.25.1.1\","
	    "\"tls\":true,\"result_type\":null,\"mode\":\"sts\"}",
	"{\"ts\":3,\"event\":\"session\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx1.s1.test\",\"address\":\"127.25.1.1\","
	    "\"tls\":true,\"result_type\":\"certificate-host-mismatch\","
	    "\"detail\":\"hostname mismatch\",\"mode\":\"sts\","
	    "\"reason\":\"certificate-host-mismatch\",\"state\":\"handshake\"}",
	"{\"ts\":3,\"event\":\"session\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx0.s1.test\",\"address\":\"127.25.1.2\","
	    "\"tls\":true,\"result_type\":null,\"mode\":\"dane\"}",
	"{\"ts\":3,\"event\":\"session\",\"queue_id\":\"q1\",\"domain\":"
	    "\"s1.test\",\"host\":\"mx9.other.test\",\"address\":"
	    "\"127.25.1.9\",\"tls\":true,\"result_type\":"
	    "\"validation-failure\",\"detail\":\"no mx pattern\",\"mode\":"
	    "\"sts\",\"reason\":\"validation-failure\",\"state\":"
	    "\"handshake\"}",
	/* s2.test: testing */
	"{\"ts\":4,\"event\":\"sts\",\"queue_id\":\"q2\",\"domain\":"
	    "\"S2.test\",\"policy\":" S2_POLICY "}",
	"{\"ts\":4,\"event\":\"policy\",\"queue_id\":\"q2\",\"domain\":"
	    "\"s2.test\",\"host\":\"mx.other.test\",\"tlsa\":[],\"mode\":"
	    "\"may\",\"governed\":\"sts-testing\",\"sts_failure\":"
	    "\"validation-failure\",\"detail\":\"outside the policy\"}",
	"{\"ts\":4,\"event\":\"policy\",\"queue_id\":\"q2\",\"domain\":"
	    "\"s2.test\",\"host\":\"mx2.s2.test\",\"tlsa\":[],\"mode\":"
	    "\"may\",\"governed\":\"sts-testing\"}",
	"{\"ts\":5,\"event\":\"session\",\"queue_id\":\"q2\",\"domain\":"
	    "\"s2.test\",\"host\":\"mx.other.test\",\"address\":\"127.25.2.9\","
	    "\"tls\":true,\"result_type\":null,\"mode\":\"may\"}",
	"{\"ts\":5,\"event\":\"session\",\"queue_id\":\"q2\",\"domain\":"
	    "\"s2.test\",\"host\":\"mx2.s2.test\",\"address\":\"127.25.2.2\","
	    "\"tls\":true,\"result_type\":\"certificate-expired\",\"outcome\":"
	    "\"ok\",\"mode\":\"may\"}",
	"{\"ts\":5,\"event\":\"session\",\"queue_id\":\"q2\",\"domain\":"
	    "\"s2.test\",\"host\":\"mx2.s2.test\",\"address\":\"127.25.2.2\","
	    "\"tls\":true,\"result_type\":null,\"mode\":\"may\"}",
	/* s3.test: no policy could be had */
	"{\"ts\":6,\"event\":\"sts\",\"queue_id\":\"q3\",\"domain\":"
	    "\"s3.test\",\"policy\":null,\"result_type\":"
	    "\"sts-policy-fetch-error\",\"detail\":\"HTTP 404\"}",
	"{\"ts\":6,\"event\":\"policy\",\"queue_id\":\"q3\",\"domain\":"
	    "\"s3.test\",\"host\":\"mx.s3.test\",\"tlsa\":[],\"mode\":\"may\","
	    "\"governed\":\"none\"}",
	"{\"ts\":7,\"event\":\"session\",\"queue_id\":\"q3\",\"domain\":"
	    "\"s3.test\",\"host\":\"mx.s3.test\",\"address\":\"127.25.3.1\","
	    "\"tls\":true,\"result_type\":null,\"mode\":\"may\"}",
	/* s4.test: the refetch failed, the cached policy applied */
	"{\"ts\":8,\"event\":\"sts\",\"queue_id\":\"q4\",\"domain\":"
	    "\"s4.test\",\"policy\":" S1_POLICY ",\"result_type\":"
	    "\"sts-webpki-invalid\",\"detail\":\"untrusted\"}",
	NULL
};

static void
test_agg_sts(void)
{
	struct agg		*a = agg_new("127.0.0.1", 0);
	struct agg_domain	*ds, *d;
	struct agg_policy	*p, *t;
	struct report_meta	 m = { "org", "mailto:r@x.test", "id", 0, 1 };
	json_t			*r, *pol;
	size_t			 n, i;

	for (i = 0; sts_events[i] != NULL; i++)
		CU_ASSERT_EQUAL(agg_feed_line(a, sts_events[i],
		    strlen(sts_events[i])), 0);
	ds = agg_domains(a, &n);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	/* s1.test: "sts" (lines in order, the patterns as mx-host) beside
	 * "tlsa" for the DANE host. */
	d = find(ds, n, "s1.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 2);
	p = &d->policies[0];
	t = &d->policies[1];
	if (strcmp(p->type, "sts") != 0) {
		p = t;
		t = &d->policies[0];
	}
	CU_ASSERT_STRING_EQUAL(p->type, "sts");
	CU_ASSERT_EQUAL_FATAL(p->nstrings, 5);
	CU_ASSERT_STRING_EQUAL(p->strings[0], "version: STSv1");
	CU_ASSERT_STRING_EQUAL(p->strings[3], "mx: *.s1.test");
	CU_ASSERT_EQUAL_FATAL(p->nmx, 2);
	CU_ASSERT_STRING_EQUAL(p->mx[0], "mx1.s1.test");
	CU_ASSERT_STRING_EQUAL(p->mx[1], "*.s1.test");
	/* The host outside the policy: its session's validation-failure. */
	CU_ASSERT_EQUAL(p->ok, 1);
	CU_ASSERT_EQUAL(p->failed, 2);
	CU_ASSERT_EQUAL_FATAL(p->nfailures, 2);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type,
	    "certificate-host-mismatch");
	CU_ASSERT_STRING_EQUAL(p->failures[0].receiving_ip, "127.25.1.1");
	CU_ASSERT_STRING_EQUAL(p->failures[1].result_type,
	    "validation-failure");
	CU_ASSERT_STRING_EQUAL(p->failures[1].mx_host, "mx9.other.test");
	CU_ASSERT_STRING_EQUAL(p->failures[1].receiving_ip, "127.25.1.9");
	CU_ASSERT_STRING_EQUAL(t->type, "tlsa");
	CU_ASSERT_EQUAL(t->ok, 1);
	CU_ASSERT_EQUAL(t->failed, 0);
	/* The report: policy-type sts, its lines, its patterns. */
	r = report_build(d, &m);
	pol = json_object_get(json_object_get(json_array_get(
	    json_object_get(r, "policies"), p == &d->policies[0] ? 0 : 1),
	    "policy"), "policy-type");
	CU_ASSERT_STRING_EQUAL(json_string_value(pol), "sts");
	pol = json_object_get(json_array_get(json_object_get(r, "policies"),
	    p == &d->policies[0] ? 0 : 1), "policy");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
	    json_object_get(pol, "policy-string"), 1)), "mode: enforce");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
	    json_object_get(pol, "mx-host"), 1)), "*.s1.test");
	json_decref(r);
	/* s2.test: testing: the host outside the policy fails with its
	 * session, the failed certificate check counts, the rest is ok. */
	d = find(ds, n, "s2.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	p = &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "sts");
	CU_ASSERT_EQUAL(p->ok, 1);
	CU_ASSERT_EQUAL(p->failed, 2);
	CU_ASSERT_EQUAL_FATAL(p->nfailures, 2);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type,
	    "validation-failure");
	CU_ASSERT_STRING_EQUAL(p->failures[0].receiving_ip, "127.25.2.9");
	CU_ASSERT_STRING_EQUAL(p->failures[0].reason, "outside the policy");
	CU_ASSERT_STRING_EQUAL(p->failures[1].result_type,
	    "certificate-expired");
	/* s3.test: the fetch error under an empty "sts" policy; the TLS
	 * session under no-policy-found. */
	d = find(ds, n, "s3.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 2);
	p = strcmp(d->policies[0].type, "sts") == 0 ? &d->policies[0] :
	    &d->policies[1];
	t = p == &d->policies[0] ? &d->policies[1] : &d->policies[0];
	CU_ASSERT_STRING_EQUAL(p->type, "sts");
	CU_ASSERT_EQUAL(p->nstrings, 0);
	CU_ASSERT_EQUAL(p->nmx, 0);
	CU_ASSERT_EQUAL(p->failed, 1);
	CU_ASSERT_STRING_EQUAL(p->failures[0].result_type,
	    "sts-policy-fetch-error");
	CU_ASSERT_PTR_NULL(p->failures[0].mx_host);
	CU_ASSERT_STRING_EQUAL(t->type, "no-policy-found");
	CU_ASSERT_EQUAL(t->ok, 1);
	/* In the report, mx-host is there for sts, empty. */
	r = report_build(d, &m);
	for (i = 0; i < 2; i++) {
		pol = json_object_get(json_array_get(json_object_get(r,
		    "policies"), i), "policy");
		if (strcmp(json_string_value(json_object_get(pol,
		    "policy-type")), "sts") == 0)
			break;
	}
	CU_ASSERT_FATAL(i < 2);
	CU_ASSERT(json_is_array(json_object_get(pol, "mx-host")) &&
	    json_array_size(json_object_get(pol, "mx-host")) == 0);
	json_decref(r);
	/* s4.test: the failure under the policy that applied. */
	d = find(ds, n, "s4.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->npolicies, 1);
	CU_ASSERT_EQUAL(d->policies[0].nstrings, 5);
	CU_ASSERT_STRING_EQUAL(d->policies[0].failures[0].result_type,
	    "sts-webpki-invalid");
	agg_free(a);
}

void
tests_agg(void)
{
	CU_pSuite	s;

	s = CU_add_suite("agg", NULL, NULL);
	CU_add_test(s, "aggregate canned refsend events", test_agg_counts);
	CU_add_test(s, "daily: one key per UTC day", test_agg_daily);
	CU_add_test(s, "the 11 result types", test_agg_result_types);
	CU_add_test(s, "MTA-STS: sts policies, their failures",
	    test_agg_sts);
}
