/*
 * test_policy.c -- policy resolution (RFC 7672 section 2) from canned DNS
 * answers.  Each case is a small DNS universe (mock_rr table), a level,
 * and the expected summary:
 *	"defer REASON DSN" | "bounce REASON DSN" |
 *	"ok HOST=MODE[@TLSA-BASE|:SKIP-REASON] ..."
 * plus a TLSA name that must never be queried (or NULL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "tests.h"

#define S	DNS_SECURE
#define I	DNS_INSECURE
#define B	DNS_BOGUS
#define E	DNS_ERROR
#define H32	"abababababababababababababababab" \
		"abababababababababababababababab"
#define K311	"3 1 1 " H32
#define K211	"2 1 1 cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" \
		"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define END	{ NULL, 0, 0, NULL, { NULL } }

struct policy_case {
	const char		*name;
	const char		*domain;
	enum level		 level;
	int			 half_dane;
	struct mock_rr		 rrs[12];
	const char		*expect;
	const char		*never;		/* "TYPE qname" never asked */
};

static const struct policy_case cases[] = {
	{ "A1 all secure, 3 1 1", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=dane@mx1.d.test", NULL },
	{ "A2 MX bogus: defer, no address lookup", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, B, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    END }, "defer dnssec-invalid 4.4.3", "A mx1.d.test" },
	{ "A2 MX SERVFAIL: defer", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, E, "", { NULL } },
	    END }, "defer dns-error 4.4.3", NULL },
	{ "A3 MX insecure, host insecure: may", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, I, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, I, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx1.d.test" },
	{ "A4 half-dane: MX insecure, host+TLSA secure", "d.test",
	    LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, I, "", { "10 mx1.h.test" } },
	    { "mx1.h.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.h.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.h.test=dane@mx1.h.test", NULL },
	{ "A4 half-dane off", "d.test", LEVEL_DANE, 0, {
	    { "d.test", DNS_T_MX, I, "", { "10 mx1.h.test" } },
	    { "mx1.h.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.h.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.h.test=may", "TLSA _25._tcp.mx1.h.test" },
	{ "A5 implicit MX", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { NULL } },
	    { "d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok d.test=dane@d.test", NULL },
	{ "A6 MX target CNAME, TLSA at expanded name", "d.test", LEVEL_DANE,
	    1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "cname=mx.host.test",
		{ "127.0.0.1" } },
	    { "_25._tcp.mx.host.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=dane@mx.host.test",
	    "TLSA _25._tcp.mx1.d.test" },
	{ "A6 CNAME, expanded name has no TLSA: original", "d.test",
	    LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "cname=mx.host.test",
		{ "127.0.0.1" } },
	    { "_25._tcp.mx.host.test", DNS_T_TLSA, S, "nx", { NULL } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K211 } },
	    END }, "ok mx1.d.test=dane@mx1.d.test", NULL },
	{ "A6 CNAME, neither name has TLSA", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "cname=mx.host.test",
		{ "127.0.0.1" } },
	    { "_25._tcp.mx.host.test", DNS_T_TLSA, S, "", { NULL } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "nx", { NULL } },
	    END }, "ok mx1.d.test=may", NULL },
	{ "A6 CNAME chain into an insecure zone", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, I, "cname=mx.unsigned.test",
		{ "127.0.0.1" } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx.unsigned.test" },
	{ "A7 null MX", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "0 ." } },
	    END }, "bounce null-mx 5.1.10", NULL },
	{ "A7 NXDOMAIN", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "nx", { NULL } },
	    END }, "bounce nxdomain 5.1.2", NULL },
	{ "A7 MX host without address", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { NULL } },
	    END }, "defer no-address 4.4.4", NULL },
	{ "A7 MX target is an address literal", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 127.0.0.1" } },
	    END }, "defer bad-mx-name 4.4.4", NULL },
	{ "B8 address insecure below secure MX", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, I, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx1.d.test" },
	{ "B9 address bogus: host skipped", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test",
		"20 mx2.d.test" } },
	    { "mx1.d.test", DNS_T_A, B, "", { NULL } },
	    { "mx2.d.test", DNS_T_A, S, "", { "127.0.0.2" } },
	    { "_25._tcp.mx2.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=skip:dnssec-invalid "
	    "mx2.d.test=dane@mx2.d.test", "TLSA _25._tcp.mx1.d.test" },
	{ "B9 AAAA bogus, A secure: IPv4 only, DANE", "d.test", LEVEL_DANE,
	    1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "mx1.d.test", DNS_T_AAAA, B, "", { NULL } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=dane@mx1.d.test", NULL },
	{ "B9 A bogus, AAAA secure NODATA: no address", "d.test", LEVEL_DANE,
	    1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, B, "", { NULL } },
	    { "mx1.d.test", DNS_T_AAAA, S, "", { NULL } },
	    END }, "defer dnssec-invalid 4.4.3", "TLSA _25._tcp.mx1.d.test" },
	{ "B9 A SERVFAIL, AAAA bogus: bogus wins", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, E, "", { NULL } },
	    { "mx1.d.test", DNS_T_AAAA, B, "", { NULL } },
	    END }, "defer dnssec-invalid 4.4.3", NULL },
	{ "B9 AAAA SERVFAIL, A insecure: IPv4, no DANE", "d.test",
	    LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, I, "", { "127.0.0.1" } },
	    { "mx1.d.test", DNS_T_AAAA, E, "", { NULL } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx1.d.test" },
	{ "C10 TLSA secure NODATA: may", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { NULL } },
	    END }, "ok mx1.d.test=may", NULL },
	{ "C10 TLSA secure NXDOMAIN: may", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "nx", { NULL } },
	    END }, "ok mx1.d.test=may", NULL },
	{ "C11 TLSA insecure: may", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, I, "", { K311 } },
	    END }, "ok mx1.d.test=may", NULL },
	{ "C12 TLSA bogus: never downgrade", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, B, "", { NULL } },
	    END }, "defer dnssec-invalid 4.7.5", NULL },
	{ "C12 TLSA SERVFAIL: never downgrade", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test",
		"20 mx2.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "mx2.d.test", DNS_T_A, S, "", { "127.0.0.2" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, E, "", { NULL } },
	    { "_25._tcp.mx2.d.test", DNS_T_TLSA, S, "", { NULL } },
	    END }, "ok mx1.d.test=skip:tlsa-invalid mx2.d.test=may", NULL },
	{ "C13 only unusable records: encrypt", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", {
		"0 1 1 " H32,
		"1 0 1 " H32,
		"3 2 1 " H32,
		"3 1 1 abab",
		"3 1 255 abab",
		"3 0 0 0102" } },
	    END }, "ok mx1.d.test=encrypt@mx1.d.test", NULL },
	{ "C14 one usable among garbage: dane", "d.test", LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", {
		"1 1 1 " H32,
		K311, "3 1 2 abab" } },
	    END }, "ok mx1.d.test=dane@mx1.d.test", NULL },
	{ "F29 partial coverage: each host on its own", "d.test",
	    LEVEL_DANE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "20 mx2.d.test",
		"10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "mx2.d.test", DNS_T_A, S, "", { "127.0.0.2" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    { "_25._tcp.mx2.d.test", DNS_T_TLSA, S, "nx", { NULL } },
	    END }, "ok mx1.d.test=dane@mx1.d.test mx2.d.test=may", NULL },
	{ "G33 dane-only, insecure MX", "d.test", LEVEL_DANE_ONLY, 1, {
	    { "d.test", DNS_T_MX, I, "", { "10 mx1.d.test" } },
	    END }, "defer dane-required 4.7.5", "A mx1.d.test" },
	{ "G33 dane-only, no TLSA", "d.test", LEVEL_DANE_ONLY, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { NULL } },
	    END }, "defer dane-required 4.7.5", NULL },
	{ "G33 dane-only, secure TLSA", "d.test", LEVEL_DANE_ONLY, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=dane@mx1.d.test", NULL },
	{ "G34 exclude: DANE not evaluated", "d.test", LEVEL_EXCLUDE, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx1.d.test" },
	{ "G may: DANE not evaluated", "d.test", LEVEL_MAY, 1, {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311 } },
	    END }, "ok mx1.d.test=may", "TLSA _25._tcp.mx1.d.test" },
	{ NULL, NULL, 0, 0, { END }, NULL, NULL }
};

static void
test_policy_done(void *arg, struct policy *p)
{
	*(struct policy **)arg = p;
}

static char *
test_policy_summary(const struct policy *p)
{
	char	*s, *n;
	size_t	 i;

	if (p->outcome != POLICY_OK) {
		xasprintf(&s, "%s %s %s", p->outcome == POLICY_DEFER ?
		    "defer" : "bounce", p->reason, p->dsn);
		return s;
	}
	s = xstrdup("ok");
	for (i = 0; i < p->nhosts; i++) {
		const struct policy_host *h = &p->hosts[i];

		xasprintf(&n, "%s %s=%s%s%s", s, h->name,
		    host_mode_name(h->mode), h->mode == HOST_SKIP ? ":" :
		    (h->tlsa_base ? "@" : ""), h->mode == HOST_SKIP ?
		    h->reason : (h->tlsa_base ? h->tlsa_base : ""));
		free(s);
		s = n;
	}
	return s;
}

static void
test_policy_table(void)
{
	const struct policy_case	*pc;
	struct event_base		*base;
	struct dns			*dns;
	struct policy			*p;
	char				*sum, qn[256];
	int				 qt, ok;

	for (pc = cases; pc->name != NULL; pc++) {
		base = event_base_new();
		dns = mock_dns_new(base, pc->rrs);
		p = NULL;
		policy_resolve(dns, pc->domain, pc->level, pc->half_dane, 25,
		    "test", test_policy_done, &p);
		CU_ASSERT(p == NULL);	/* never called back at once */
		event_base_dispatch(base);
		CU_ASSERT_FATAL(p != NULL);
		sum = test_policy_summary(p);
		ok = strcmp(sum, pc->expect) == 0;
		if (pc->never != NULL) {
			qt = strncmp(pc->never, "TLSA ", 5) == 0 ? DNS_T_TLSA :
			    DNS_T_A;
			snprintf(qn, sizeof(qn), "%s", strchr(pc->never, ' ') +
			    1);
			if (mock_dns_queries(dns, qn, qt) != 0) {
				fprintf(stderr, "\n  policy case '%s': asked "
				    "%s\n", pc->name, pc->never);
				ok = 0;
			}
		}
		if (!ok)
			fprintf(stderr, "\n  policy case '%s':\n    got  %s\n"
			    "    want %s\n", pc->name, sum, pc->expect);
		CU_ASSERT(ok);
		free(sum);
		policy_free(p);
		dns_free(dns);
		event_base_free(base);
	}
}

static void
test_policy_usable_count(void)
{
	static const struct mock_rr rrs[] = {
	    { "d.test", DNS_T_MX, S, "", { "10 mx1.d.test" } },
	    { "mx1.d.test", DNS_T_A, S, "", { "127.0.0.1", "127.0.0.2" } },
	    { "mx1.d.test", DNS_T_AAAA, S, "", { "::1" } },
	    { "_25._tcp.mx1.d.test", DNS_T_TLSA, S, "", { K311, K211,
		"0 0 1 " H32 } },
	    END };
	struct event_base	*base = event_base_new();
	struct dns		*dns = mock_dns_new(base, rrs);
	struct policy		*p = NULL;

	policy_resolve(dns, "D.Test.", LEVEL_DANE, 1, 25, NULL,
	    test_policy_done, &p);
	event_base_dispatch(base);
	CU_ASSERT_FATAL(p != NULL && p->nhosts == 1);
	CU_ASSERT(strcmp(p->domain, "d.test") == 0);
	CU_ASSERT(p->hosts[0].ntlsa == 3);
	CU_ASSERT(p->hosts[0].nusable == 2);
	CU_ASSERT(p->hosts[0].naddrs == 3);
	CU_ASSERT(strcmp(p->hosts[0].addrs[2], "::1") == 0);
	CU_ASSERT(strcmp(p->hosts[0].tlsa[2].why, "usage-pkix") == 0);
	policy_free(p);
	dns_free(dns);
	event_base_free(base);
}

void
tests_policy(void)
{
	CU_pSuite	s;

	s = CU_add_suite("policy", NULL, NULL);
	CU_add_test(s, "RFC 7672 section 2 cases", test_policy_table);
	CU_add_test(s, "records, addresses, usable count",
	    test_policy_usable_count);
}
