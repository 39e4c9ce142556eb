/*
 * test_reply.c -- table-driven tests of reply_code() and reply_build().
 */
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

static const struct {
	const char	*line;
	int		 code;
} codes[] = {
	{ "250 ok", 250 },
	{ "250", 250 },
	{ "599 x", 599 },
	{ "200 x", 200 },
	{ "199 x", -1 },
	{ "600 x", -1 },
	{ "25 ok", -1 },
	{ "250-ok", -1 },
	{ "2500 ok", -1 },
	{ "abc", -1 },
	{ "", -1 },
	{ NULL, 0 }
};

static void
test_reply_codes(void)
{
	size_t	i;

	for (i = 0; codes[i].line != NULL; i++)
		CU_ASSERT_EQUAL(reply_code(codes[i].line), codes[i].code);
	CU_ASSERT_EQUAL(reply_code(NULL), -1);
}

static const char *const ext2[] = { "PIPELINING", "STARTTLS" };

static const struct {
	const char		*first;
	const char *const	*ext;
	size_t			 next;
	const char		*want;	/* NULL: must fail */
} builds[] = {
	{ "250 2.1.0 ok", NULL, 0, "250 2.1.0 ok\r\n" },
	{ "221", NULL, 0, "221 \r\n" },
	{ "250 mx.example", ext2, 2,
	    "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n" },
	{ "250 mx.example", ext2, 1, "250-mx.example\r\n250 PIPELINING\r\n" },
	{ "550 go away", ext2, 2, "550 go away\r\n" },	/* no ext on 5xx */
	{ "bogus", NULL, 0, NULL },
	{ NULL, NULL, 0, NULL }
};

static void
test_reply_build(void)
{
	char	buf[256];
	size_t	i, n;

	for (i = 0; builds[i].first != NULL; i++) {
		n = reply_build(buf, sizeof(buf), builds[i].first,
		    builds[i].ext, builds[i].next);
		if (builds[i].want == NULL) {
			CU_ASSERT_EQUAL(n, 0);
		} else {
			CU_ASSERT_EQUAL(n, strlen(builds[i].want));
			CU_ASSERT_STRING_EQUAL(buf, builds[i].want);
		}
	}
	/* too small a buffer fails cleanly */
	CU_ASSERT_EQUAL(reply_build(buf, 8, "250 2.1.0 ok", NULL, 0), 0);
	CU_ASSERT_EQUAL(reply_build(buf, 0, "250 ok", NULL, 0), 0);
}

void
test_reply_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("reply", NULL, NULL);
	CU_add_test(s, "reply codes", test_reply_codes);
	CU_add_test(s, "reply builder", test_reply_build);
}
