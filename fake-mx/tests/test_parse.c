/*
 * test_parse.c -- table-driven tests of smtp_parse().
 */
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

static const struct {
	const char	*line;
	size_t		 len;		/* 0: strlen(line) */
	int		 ret;
	enum smtp_verb	 verb;
	const char	*path;		/* NULL: not checked */
	const char	*arg;
	long		 size;
} cases[] = {
	{ "EHLO client.example", 0, 0, V_EHLO, NULL, "client.example", -1 },
	{ "ehlo   client.example  ", 0, 0, V_EHLO, NULL, "client.example",
	    -1 },
	{ "HELO [127.0.0.1]", 0, 0, V_HELO, NULL, "[127.0.0.1]", -1 },
	{ "EHLO", 0, 501, V_EHLO, NULL, NULL, -1 },
	{ "EHLO a\tb", 0, 501, V_EHLO, NULL, NULL, -1 },
	{ "MAIL FROM:<a@b.example>", 0, 0, V_MAIL, "a@b.example", "", -1 },
	{ "mail from:<a@b.example>", 0, 0, V_MAIL, "a@b.example", "", -1 },
	{ "MAIL FROM: <a@b.example>", 0, 0, V_MAIL, "a@b.example", "", -1 },
	{ "MAIL FROM:<>", 0, 0, V_MAIL, "", "", -1 },
	{ "MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME", 0, 0, V_MAIL, "a@b",
	    "SIZE=1000 BODY=8BITMIME", 1000 },
	{ "MAIL FROM:<a@b> SIZE=99999999", 0, 552, V_MAIL, NULL, NULL,
	    99999999 },
	{ "MAIL FROM:<a@b> SIZE=x", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "MAIL FROM:a@b", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "MAIL FROM:<a@b", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "MAIL FROM:<a@b>x", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "MAIL TO:<a@b>", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "MAIL", 0, 501, V_MAIL, NULL, NULL, -1 },
	{ "RCPT TO:<c@d.example>", 0, 0, V_RCPT, "c@d.example", "", -1 },
	{ "RCPT TO:<>", 0, 501, V_RCPT, NULL, NULL, -1 },
	{ "RCPT TO:<a b@c>", 0, 501, V_RCPT, NULL, NULL, -1 },
	{ "RCPT FROM:<a@b>", 0, 501, V_RCPT, NULL, NULL, -1 },
	{ "DATA", 0, 0, V_DATA, NULL, NULL, -1 },
	{ "DATA x", 0, 501, V_DATA, NULL, NULL, -1 },
	{ "data\r", 0, 0, V_DATA, NULL, NULL, -1 },
	{ "RSET", 0, 0, V_RSET, NULL, NULL, -1 },
	{ "NOOP anything", 0, 0, V_NOOP, NULL, "anything", -1 },
	{ "QUIT", 0, 0, V_QUIT, NULL, NULL, -1 },
	{ "STARTTLS", 0, 0, V_STARTTLS, NULL, NULL, -1 },
	{ "StartTLS", 0, 0, V_STARTTLS, NULL, NULL, -1 },
	{ "STARTTLS now", 0, 501, V_STARTTLS, NULL, NULL, -1 },
	{ "VRFY postmaster", 0, 0, V_VRFY, NULL, "postmaster", -1 },
	{ "HELP", 0, 0, V_HELP, NULL, "", -1 },
	{ "BDAT 10 LAST", 0, 500, V_UNKNOWN, NULL, NULL, -1 },
	{ "EHLOX a", 0, 500, V_UNKNOWN, NULL, NULL, -1 },
	{ "", 0, 500, V_EMPTY, NULL, NULL, -1 },
	{ "\r", 0, 500, V_EMPTY, NULL, NULL, -1 },
	{ "EH\0LO a", 7, 500, V_UNKNOWN, NULL, NULL, -1 },
	{ "MAIL FROM:<a\0b>", 15, 500, V_UNKNOWN, NULL, NULL, -1 },
	{ "\x16\x03\x01\x02\x00\x01", 6, 500, V_UNKNOWN, NULL, NULL, -1 },
	{ NULL, 0, 0, 0, NULL, NULL, 0 }
};

static void
test_parse_table(void)
{
	struct smtp_cmd	cmd;
	size_t		i, len;
	int		r;

	for (i = 0; cases[i].line != NULL; i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].line);
		r = smtp_parse(cases[i].line, len, &cmd);
		CU_ASSERT_EQUAL(r, cases[i].ret);
		CU_ASSERT_EQUAL(cmd.verb, cases[i].verb);
		if (r != cases[i].ret || cmd.verb != cases[i].verb)
			fprintf(stderr, "case %zu \"%s\": ret %d verb %d\n",
			    i, cases[i].line, r, cmd.verb);
		if (cases[i].path != NULL)
			CU_ASSERT_STRING_EQUAL(cmd.path, cases[i].path);
		if (cases[i].arg != NULL && r == 0)
			CU_ASSERT_STRING_EQUAL(cmd.arg, cases[i].arg);
		if (cases[i].size != -1)
			CU_ASSERT_EQUAL(cmd.size, cases[i].size);
	}
}

static void
test_parse_limits(void)
{
	struct smtp_cmd	cmd;
	char		line[2000];
	size_t		n;

	/* 510 octets + CRLF = 512: the longest legal command line */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	CU_ASSERT_EQUAL(smtp_parse(line, 510, &cmd), 0);
	CU_ASSERT_EQUAL(smtp_parse(line, 511, &cmd), 500);
	CU_ASSERT_EQUAL(smtp_parse(line, sizeof(line), &cmd), 500);
	/* 256-octet path is fine, 257 is not */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<%0256d>", 0);
	CU_ASSERT_EQUAL(smtp_parse(line, n, &cmd), 0);
	CU_ASSERT_EQUAL(strlen(cmd.path), 256);
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<%0257d>", 0);
	CU_ASSERT_EQUAL(smtp_parse(line, n, &cmd), 501);
	CU_ASSERT_STRING_EQUAL(smtp_strverb(V_STARTTLS), "STARTTLS");
	CU_ASSERT_STRING_EQUAL(smtp_strverb(V_EMPTY), "EMPTY");
}

void
test_parse_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("smtp_parse", NULL, NULL);
	CU_add_test(s, "command table", test_parse_table);
	CU_add_test(s, "RFC 5321 limits", test_parse_limits);
}
