/*
 * test_dns.c -- the thin DNS interface (dns.c): host name syntax, and the
 * "status" texts of dns events (docs/interfaces.md).
 */
#include <string.h>

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

void
tests_dns(void)
{
	CU_pSuite	s;

	s = CU_add_suite("dns", NULL, NULL);
	CU_add_test(s, "host names", test_dns_valid_hostname);
	CU_add_test(s, "status texts", test_dns_status_text);
}
