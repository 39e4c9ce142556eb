/*
 * test_relay.c -- the strip-relay's EHLO rewriting relay_strip_ehlo(),
 * table-driven: which line goes, and the new last line.
 */
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

/* A string literal and its length (rows may hold NUL octets). */
#define B(s)	s, sizeof(s) - 1

static const struct {
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
	int		 stripped;
} strips[] = {
	{ B("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
	    B("250-mx\r\n250 PIPELINING\r\n"), 1 },
	{ B("250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
	    B("250-mx\r\n250 8BITMIME\r\n"), 1 },
	{ B("250-mx\r\n250 starttls\r\n"), B("250 mx\r\n"), 1 },
	{ B("250-mx\n250-STARTTLS\n250 SIZE 100\n"),
	    B("250-mx\n250 SIZE 100\n"), 1 },
	{ B("250-mx\r\n250 PIPELINING\r\n"),
	    B("250-mx\r\n250 PIPELINING\r\n"), 0 },
	{ B("250 STARTTLS\r\n"), B("250 STARTTLS\r\n"), 0 }, /* greeting */
	{ B("250-mx\r\n250-STARTTLSX\r\n250 X\r\n"),
	    B("250-mx\r\n250-STARTTLSX\r\n250 X\r\n"), 0 },
	/* an upstream's NUL octets stay, and so does what follows them */
	{ B("250-m\0x\r\n250-STARTTLS\r\n250 S\0ZE\r\n"),
	    B("250-m\0x\r\n250 S\0ZE\r\n"), 1 },
	/* the last line stays: it is not rewritten, whatever it holds */
	{ B("250-mx\r\n250-STARTTLS\r\n250\r\n"),
	    B("250-mx\r\n250\r\n"), 1 },
	{ B("250-mx\r\n250-STARTTLS\r\n250\n"), B("250-mx\r\n250\n"), 1 },
	{ B("250-mx\r\n250-STARTTLS\r\n2\r\n"), B("250-mx\r\n2\r\n"), 1 },
	{ B("250-mx\r\n250-STARTTLS\r\n250-x\r\n"),
	    B("250-mx\r\n250-x\r\n"), 1 },
	{ NULL, 0, NULL, 0, 0 }
};

static void
test_relay_strip(void)
{
	size_t	 i, n;
	int	 st;
	char	*out;

	for (i = 0; strips[i].in != NULL; i++) {
		out = relay_strip_ehlo(strips[i].in, strips[i].inlen, &n, &st);
		CU_ASSERT_EQUAL(n, strips[i].outlen);
		CU_ASSERT(n == strips[i].outlen &&
		    memcmp(out, strips[i].out, n) == 0);
		CU_ASSERT_EQUAL(out[n], '\0');
		CU_ASSERT_EQUAL(st, strips[i].stripped);
		free(out);
	}
}

void
test_relay_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("relay", NULL, NULL);
	CU_add_test(s, "EHLO strip", test_relay_strip);
}
