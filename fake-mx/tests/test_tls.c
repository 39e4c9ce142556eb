/*
 * test_tls.c -- tls_hello_sni(): the raw ClientHello reader used by the
 * "abort" and "stall" faults, on built hellos, truncations and garbage.
 */
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

/* Build a minimal TLS 1.2-style ClientHello record; returns its length. */
static size_t
hello(unsigned char *b, const char *sni)
{
	size_t	o = 0, hs, ext, rec;
	size_t	n = sni ? strlen(sni) : 0;

	b[o++] = 22; b[o++] = 3; b[o++] = 1;
	rec = o; o += 2;
	b[o++] = 1;			/* ClientHello */
	hs = o; o += 3;
	b[o++] = 3; b[o++] = 3;
	memset(b + o, 0xaa, 32); o += 32;
	b[o++] = 0;			/* session id */
	b[o++] = 0; b[o++] = 2; b[o++] = 0x13; b[o++] = 0x01;
	b[o++] = 1; b[o++] = 0;		/* compression */
	ext = o; o += 2;
	/* an unrelated extension first: supported_groups */
	b[o++] = 0; b[o++] = 10; b[o++] = 0; b[o++] = 4;
	b[o++] = 0; b[o++] = 2; b[o++] = 0; b[o++] = 23;
	if (sni != NULL) {
		b[o++] = 0; b[o++] = 0;
		b[o++] = 0; b[o++] = (unsigned char)(n + 5);
		b[o++] = 0; b[o++] = (unsigned char)(n + 3);
		b[o++] = 0;
		b[o++] = 0; b[o++] = (unsigned char)n;
		memcpy(b + o, sni, n); o += n;
	}
	b[ext] = (unsigned char)((o - ext - 2) >> 8);
	b[ext + 1] = (unsigned char)(o - ext - 2);
	b[hs] = 0;
	b[hs + 1] = (unsigned char)((o - hs - 3) >> 8);
	b[hs + 2] = (unsigned char)(o - hs - 3);
	b[rec] = (unsigned char)((o - rec - 2) >> 8);
	b[rec + 1] = (unsigned char)(o - rec - 2);
	return o;
}

static void
test_tls_hello(void)
{
	static const struct {
		const char	*sni;
		const char	*want;
	} cases[] = {
		{ "mx1.a01.test", "mx1.a01.test" },
		{ NULL, "" },
		{ "x", "x" },
		{ "bad\001name", "bad?name" },
		{ "", "" },
	};
	unsigned char	b[512];
	char		sni[256];
	size_t		i, n, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = hello(b, cases[i].sni);
		CU_ASSERT_EQUAL(tls_hello_sni(b, n, sni, sizeof(sni)), 1);
		CU_ASSERT_STRING_EQUAL(sni, cases[i].want);
		/* every truncation asks for more, never reads past */
		for (k = 0; k < n; k++)
			CU_ASSERT_EQUAL(tls_hello_sni(b, k, sni,
			    sizeof(sni)), 0);
	}
	/* SNI longer than the caller's buffer is ignored */
	n = hello(b, "abcdefgh");
	CU_ASSERT_EQUAL(tls_hello_sni(b, n, sni, 4), 1);
	CU_ASSERT_STRING_EQUAL(sni, "");
}

static void
test_tls_garbage(void)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		int		 want;
	} cases[] = {
		{ "EHLO x\r\n", 8, -1 },
		{ "\x16\x02", 2, -1 },			/* not version 3 */
		{ "\x16\x03\x01\x00\x10\x02", 6, -1 },	/* ServerHello */
		{ "\x16\x03\x01\x00\x00\x01", 6, -1 },	/* empty record */
		{ "\x16\x03\x01\xff\xff\x01", 6, -1 },	/* oversized */
		{ "\x16", 1, 0 },
		{ "", 0, 0 },
		/* record holds a hello that claims more than it has */
		{ "\x16\x03\x01\x00\x06\x01\xff\xff\xff\x03\x03", 11, 1 },
	};
	char	sni[256];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(tls_hello_sni((const unsigned char *)
		    cases[i].bytes, cases[i].len, sni, sizeof(sni)),
		    cases[i].want);
}

void
test_tls_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("tls_hello_sni", NULL, NULL);
	CU_add_test(s, "built ClientHellos and truncations", test_tls_hello);
	CU_add_test(s, "garbage", test_tls_garbage);
}
