/*
 * test_tlsa.c -- TLSA rdata parsing and usability (RFC 7672 section 3.1,
 * RFC 7671 section 4, RFC 6698 section 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

struct tlsa_case {
	const char	*hex;		/* whole rdata */
	int		 parses;
	int		 usable;
	const char	*why;
	const char	*text;
};

#define D32	"abababababababababababababababab" \
		"abababababababababababababababab"
#define D64	D32 D32

static const struct tlsa_case cases[] = {
	{ "030101" D32, 1, 1, NULL, "3 1 1 " D32 },
	{ "030102" D64, 1, 1, NULL, "3 1 2 " D64 },
	{ "020001" D32, 1, 1, NULL, "2 0 1 " D32 },
	{ "020102" D64, 1, 1, NULL, "2 1 2 " D64 },
	{ "000101" D32, 1, 0, "usage-pkix", NULL },
	{ "010001" D32, 1, 0, "usage-pkix", NULL },
	{ "040101" D32, 1, 0, "bad-usage", NULL },
	{ "030201" D32, 1, 0, "bad-selector", NULL },
	{ "030103" D32, 1, 0, "bad-matching-type", NULL },
	{ "0301ff" D32, 1, 0, "bad-matching-type", NULL },
	{ "030101abab", 1, 0, "bad-digest-length", NULL },
	{ "030101" D64, 1, 0, "bad-digest-length", NULL },
	{ "030102" D32, 1, 0, "bad-digest-length", NULL },
	{ "030100", 1, 0, "bad-full-data", "3 1 0 " },
	{ "030100" D32, 1, 0, "bad-full-data", NULL },
	{ "030000" D32, 1, 0, "bad-full-data", NULL },
	{ "0301", 0, 0, NULL, NULL },
	{ "", 0, 0, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL }
};

static void
test_tlsa_table(void)
{
	const struct tlsa_case	*tc;
	unsigned char		 buf[512];
	struct tlsa		 t;
	unsigned int		 b;
	size_t			 n, i;

	for (tc = cases; tc->hex != NULL; tc++) {
		n = strlen(tc->hex) / 2;
		for (i = 0; i < n; i++) {
			sscanf(tc->hex + 2 * i, "%2x", &b);
			buf[i] = (unsigned char)b;
		}
		if (!tc->parses) {
			CU_ASSERT(tlsa_parse(buf, n, &t) == -1);
			continue;
		}
		CU_ASSERT_FATAL(tlsa_parse(buf, n, &t) == 0);
		CU_ASSERT(t.usable == tc->usable);
		CU_ASSERT(tc->why ? t.why != NULL &&
		    strcmp(t.why, tc->why) == 0 : t.why == NULL);
		if (tc->text)
			CU_ASSERT(strcmp(t.text, tc->text) == 0);
		tlsa_clear(&t);
	}
}

/* Full-data records (matching type 0) must hold a parsable object. */
static void
test_tlsa_full(void)
{
	struct chain	 c;
	unsigned char	*d, rdata[2048];
	struct tlsa	 t;
	size_t		 len;
	int		 s;

	certs_make(&c, "mx.example.test", 0);
	for (s = 0; s <= 1; s++) {
		d = certs_tlsa_data(c.leaf, s, 0, &len);
		rdata[0] = 3;
		rdata[1] = (unsigned char)s;
		rdata[2] = 0;
		memcpy(rdata + 3, d, len);
		CU_ASSERT(tlsa_parse(rdata, len + 3, &t) == 0);
		CU_ASSERT(t.usable == 1);
		tlsa_clear(&t);
		/* Trailing garbage makes it unusable. */
		rdata[3 + len] = 0;
		CU_ASSERT(tlsa_parse(rdata, len + 4, &t) == 0);
		CU_ASSERT(t.usable == 0);
		tlsa_clear(&t);
		/* A certificate where a key is expected, and back. */
		rdata[1] = (unsigned char)!s;
		CU_ASSERT(tlsa_parse(rdata, len + 3, &t) == 0);
		CU_ASSERT(t.usable == 0);
		tlsa_clear(&t);
		free(d);
	}
	certs_free(&c);
}

void
tests_tlsa(void)
{
	CU_pSuite	s;

	s = CU_add_suite("tlsa", NULL, NULL);
	CU_add_test(s, "rdata table", test_tlsa_table);
	CU_add_test(s, "full data parses", test_tlsa_full);
}
