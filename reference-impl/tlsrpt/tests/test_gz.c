/*
 * test_gz.c -- gzip compression of a report (gz.c): round trips, and
 * damaged input refused.
 */
#include <string.h>

#include "tests.h"

static void
test_gz_roundtrip(void)
{
	static const char *const inputs[] = {
		"", "x", "{\"organization-name\":\"danelab\"}", NULL
	};
	struct buf	 gz, back, big = { NULL, 0, 0 };
	size_t		 i;

	for (i = 0; i < 20000; i++)
		buf_addf(&big, "%zu,", i * 7919 % 1000);
	for (i = 0; i < 4; i++) {
		const char *in = inputs[i] ? inputs[i] : big.data;
		size_t len = strlen(in);

		memset(&gz, 0, sizeof(gz));
		memset(&back, 0, sizeof(back));
		CU_ASSERT_EQUAL_FATAL(gz_compress(in, len, &gz), 0);
		CU_ASSERT_FATAL(gz.len >= 18);
		CU_ASSERT_EQUAL((unsigned char)gz.data[0], 0x1f);
		CU_ASSERT_EQUAL((unsigned char)gz.data[1], 0x8b);
		CU_ASSERT_EQUAL(gz_decompress(gz.data, gz.len, &back), 0);
		CU_ASSERT_EQUAL(back.len, len);
		if (len > 0)
			CU_ASSERT(back.data != NULL &&
			    memcmp(back.data, in, len) == 0);
		buf_free(&back);
		/* Truncated or damaged input is an error. */
		CU_ASSERT_EQUAL(gz_decompress(gz.data, gz.len / 2, &back),
		    -1);
		buf_free(&back);
		buf_free(&gz);
	}
	memset(&back, 0, sizeof(back));
	CU_ASSERT_EQUAL(gz_decompress("not gzip", 8, &back), -1);
	buf_free(&back);
	buf_free(&big);
}

void
tests_gz(void)
{
	CU_pSuite	s;

	s = CU_add_suite("gz", NULL, NULL);
	CU_add_test(s, "round trip", test_gz_roundtrip);
}
