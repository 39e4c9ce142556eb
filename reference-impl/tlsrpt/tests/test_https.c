/*
 * test_https.c -- https: delivery (https.c): the host and port of an rua
 * URL, table-driven.  The POST itself is tested end to end
 * (test_tlsrpt.py, against an HTTPS sink).
 */
#include "tests.h"

struct url_case {
	const char	*url;
	const char	*host;		/* NULL: refused */
	int		 port;
};

static const struct url_case url_cases[] = {
	{ "https://r.x.test/v1/tlsrpt", "r.x.test", 443 },
	{ "https://r.x.test:8443/", "r.x.test", 8443 },
	{ "https://r.x.test", "r.x.test", 443 },
	{ "https://[::1]:9/", "::1", 9 },
	{ "https://127.0.0.1:4443?x", "127.0.0.1", 4443 },
	{ "https://u@r.x.test/", NULL, 0 },
	{ "https://r.x.test:0/", NULL, 0 },
	{ "https://r.x.test:99999/", NULL, 0 },
	{ "https://r.x.test:/", NULL, 0 },
	{ "https:///", NULL, 0 },
	{ "http://r.x.test/", NULL, 0 },
	{ NULL, NULL, 0 }
};

static void
test_https_url_host(void)
{
	const struct url_case	*c;
	char			 host[256];
	int			 port, r;

	for (c = url_cases; c->url != NULL; c++) {
		r = https_url_host(c->url, host, sizeof(host), &port);
		if (c->host == NULL) {
			CU_ASSERT_EQUAL(r, -1);
		} else {
			CU_ASSERT_EQUAL_FATAL(r, 0);
			CU_ASSERT_STRING_EQUAL(host, c->host);
			CU_ASSERT_EQUAL(port, c->port);
		}
	}
}

void
tests_https(void)
{
	CU_pSuite	s;

	s = CU_add_suite("https", NULL, NULL);
	CU_add_test(s, "host and port of a URL", test_https_url_host);
}
