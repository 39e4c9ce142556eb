/*
 * test_reply.c -- an SMTP server's replies read without I/O (reply.c),
 * the reader both programs' SMTP clients use.  Each row is what the
 * server sent and what one reply_parse() call must make of it.
 */
#include <stdlib.h>
#include <string.h>

#include "tests.h"

static void
test_reply_table(void)
{
	static const struct {
		const char		*in;
		enum reply_parse	 st;
		size_t			 used;	/* octets taken */
		int			 code, nlines, starttls;
		const char		*text;	/* or the error */
	} t[] = {
	    { "220 mx.test ESMTP\r\n", REPLY_DONE, 19, 220, 1, 0,
		"220 mx.test ESMTP" },
	    { "250 ok\n250 next\r\n", REPLY_DONE, 7, 250, 1, 0, "250 ok" },
	    { "250-mx.test\r\n250-STARTTLS\r\n250 SIZE 100\r\n", REPLY_DONE,
		41, 250, 3, 1, "250-mx.test" },
	    { "250-mx.test\r\n250 starttls\r\n", REPLY_DONE, 27, 250, 2, 1,
		"250-mx.test" },
	    /* STARTTLS must be the whole keyword */
	    { "250-mx.test\r\n250 STARTTLSX\r\n", REPLY_DONE, 28, 250, 2, 0,
		"250-mx.test" },
	    { "250-mx.test\r\n250-STARTT", REPLY_MORE, 13, 250, 1, 0, NULL },
	    { "250", REPLY_MORE, 0, 0, 0, 0, NULL },
	    { "250\r\n", REPLY_DONE, 5, 250, 1, 0, "250" },
	    { "554 no\x01\xff\r\n", REPLY_DONE, 10, 554, 1, 0,
		"554 no\\x01\\xff" },
	    { "600 no\r\n", REPLY_BAD, 8, 0, 0, 0, "malformed reply line" },
	    { "25x ok\r\n", REPLY_BAD, 8, 0, 0, 0, "malformed reply line" },
	    { "250_ok\r\n", REPLY_BAD, 8, 0, 0, 0, "malformed reply line" },
	    { "\r\n", REPLY_BAD, 2, 0, 0, 0, "malformed reply line" },
	};
	struct reply	r;
	size_t		i, used;
	enum reply_parse st;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		st = reply_parse(&r, t[i].in, strlen(t[i].in), &used);
		CU_ASSERT(st == t[i].st);
		CU_ASSERT(used == t[i].used);
		if (st == REPLY_BAD) {
			CU_ASSERT(r.error != NULL &&
			    strcmp(r.error, t[i].text) == 0);
			continue;
		}
		CU_ASSERT(r.code == t[i].code && r.nlines == t[i].nlines);
		CU_ASSERT(r.starttls == t[i].starttls);
		if (t[i].text != NULL)
			CU_ASSERT(strcmp(r.text, t[i].text) == 0);
	}
}

/* The limits: a line too long, a reply of too many lines. */
static void
test_reply_limits(void)
{
	struct reply	 r;
	struct buf	 b = { NULL, 0, 0 };
	size_t		 used;
	int		 i;

	buf_add(&b, "250 ", 4);
	for (i = 0; i < REPLY_MAXLINE; i++)
		buf_add(&b, "x", 1);	/* no LF yet: too long already */
	memset(&r, 0, sizeof(r));
	CU_ASSERT(reply_parse(&r, b.data, b.len, &used) == REPLY_BAD);
	CU_ASSERT(strcmp(r.error, "reply line too long") == 0);
	/* The first line is kept whole only up to REPLY_MAXTEXT. */
	buf_free(&b);
	buf_add(&b, "250 ", 4);
	for (i = 0; i < REPLY_MAXTEXT + 10; i++)
		buf_add(&b, "y", 1);
	buf_add(&b, "\r\n", 2);
	memset(&r, 0, sizeof(r));
	CU_ASSERT(reply_parse(&r, b.data, b.len, &used) == REPLY_DONE);
	CU_ASSERT(strlen(r.text) == REPLY_MAXTEXT - 1 && used == b.len);
	buf_free(&b);
	for (i = 0; i <= REPLY_MAXLINES; i++)
		buf_add(&b, "250-more\r\n", 10);
	memset(&r, 0, sizeof(r));
	CU_ASSERT(reply_parse(&r, b.data, b.len, &used) == REPLY_BAD);
	CU_ASSERT(strcmp(r.error, "reply of too many lines") == 0);
	buf_free(&b);
}

void
tests_reply(void)
{
	CU_pSuite	s;

	s = CU_add_suite("reply", NULL, NULL);
	CU_add_test(s, "replies, lines, STARTTLS, errors", test_reply_table);
	CU_add_test(s, "line and reply limits", test_reply_limits);
}
