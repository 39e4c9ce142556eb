/*
 * test_relay.c -- the strip-relay's EHLO rewriting relay_strip_ehlo(),
 * table-driven: which line goes, and the new last line.
 */
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

static const struct {
	const char	*in;
	const char	*out;
	int		 stripped;
} strips[] = {
	{ "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
	    "250-mx\r\n250 PIPELINING\r\n", 1 },
	{ "250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
	    "250-mx\r\n250 8BITMIME\r\n", 1 },
	{ "250-mx\r\n250 starttls\r\n", "250 mx\r\n", 1 },
	{ "250-mx\n250-STARTTLS\n250 SIZE 100\n", "250-mx\n250 SIZE 100\n",
	    1 },
	{ "250-mx\r\n250 PIPELINING\r\n", "250-mx\r\n250 PIPELINING\r\n", 0 },
	{ "250 STARTTLS\r\n", "250 STARTTLS\r\n", 0 },	/* greeting line */
	{ "250-mx\r\n250-STARTTLSX\r\n250 X\r\n",
	    "250-mx\r\n250-STARTTLSX\r\n250 X\r\n", 0 },
	{ NULL, NULL, 0 }
};

static void
test_relay_strip(void)
{
	size_t	 i;
	int	 st;
	char	*out;

	for (i = 0; strips[i].in != NULL; i++) {
		out = relay_strip_ehlo(strips[i].in, strlen(strips[i].in), &st);
		CU_ASSERT_STRING_EQUAL(out, strips[i].out);
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
