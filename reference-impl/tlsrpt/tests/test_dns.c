/*
 * test_dns.c -- the reporter's DNS interface (dns.c): the test knobs
 * static_txt and static_route answer before the backend, a mock one here,
 * which gets every other question with its status intact.
 */
#include <string.h>

#include "tests.h"

/* A mock DNS backend: counts questions, answers one canned name. */
static int	mock_calls;

static void
mock_txt(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	mock_calls++;
	if (strcmp(name, "_smtp._tls.dns.test") == 0) {
		l->status = DNS_OK;
		dns_list_add(l, "v=TLSRPTv1; rua=mailto:x@dns.test");
	} else
		l->status = DNS_NOTFOUND;
}

static void
mock_mx(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	(void)name;
	mock_calls++;
	l->status = DNS_ERROR;
}

static void
mock_addrs(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	(void)name;
	mock_calls++;
	l->status = DNS_BOGUS;
}

static const struct dns_ops mock_ops = {
	mock_txt, mock_mx, mock_addrs, NULL
};

static void
test_dns_knobs(void)
{
	struct config	*c;
	struct dns	*d;
	struct dns_list	 l;
	char		 err[512];

	c = test_config_load(CONF_BASE
	    "static_txt = _smtp._tls.a.test v=TLSRPTv1; rua=1\n"
	    "static_txt = _smtp._tls.a.test. second record\n"
	    "static_route = reports.test 127.0.0.9\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	d = dns_new(c);
	dns_set_ops(d, &mock_ops, NULL);
	mock_calls = 0;
	/* Knobs answer without the backend (case, final dot). */
	dns_txt(d, "_SMTP._tls.a.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_STRING_EQUAL(l.items[0], "v=TLSRPTv1; rua=1");
	CU_ASSERT_STRING_EQUAL(l.items[1], "second record");
	dns_list_free(&l);
	dns_mx(d, "reports.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_STRING_EQUAL(l.items[0], "reports.test");
	dns_list_free(&l);
	dns_addrs(d, "reports.test", &l);
	CU_ASSERT_STRING_EQUAL(l.items[0], "127.0.0.9");
	dns_list_free(&l);
	CU_ASSERT_EQUAL(mock_calls, 0);
	/* Everything else goes to the backend, statuses intact. */
	dns_txt(d, "_smtp._tls.dns.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_EQUAL(l.n, 1);
	dns_list_free(&l);
	dns_txt(d, "_smtp._tls.none.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_NOTFOUND);
	dns_list_free(&l);
	dns_mx(d, "other.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_ERROR);
	dns_list_free(&l);
	dns_addrs(d, "other.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_BOGUS);
	CU_ASSERT_EQUAL(l.n, 0);
	dns_list_free(&l);
	CU_ASSERT_EQUAL(mock_calls, 4);
	CU_ASSERT_STRING_EQUAL(dns_status_name(DNS_BOGUS), "bogus");
	dns_free(d);
	config_free(c);
}

void
tests_dns(void)
{
	CU_pSuite	s;

	s = CU_add_suite("dns", NULL, NULL);
	CU_add_test(s, "test knobs before the backend", test_dns_knobs);
}
