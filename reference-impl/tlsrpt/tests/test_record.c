/*
 * test_record.c -- the _smtp._tls TXT record parser (RFC 8460 section 3)
 * and the choice among several TXT records, table-driven.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

struct record_case {
	const char	*txt;
	int		 ok;		/* 1: parses */
	const char	*rua[4];	/* expected URIs */
};

static const struct record_case record_cases[] = {
	/* The RFC's own examples. */
	{ "v=TLSRPTv1;rua=mailto:reports@example.com", 1,
	    { "mailto:reports@example.com" } },
	{ "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", 1,
	    { "https://reporting.example.com/v1/tlsrpt" } },
	/* Several URIs, whitespace around "," and ";". */
	{ "v=TLSRPTv1; rua=mailto:a@x.test,https://r.x.test/tlsrpt", 1,
	    { "mailto:a@x.test", "https://r.x.test/tlsrpt" } },
	{ "v=TLSRPTv1 ;\trua=mailto:a@x.test , mailto:b@y.test\t;", 1,
	    { "mailto:a@x.test", "mailto:b@y.test" } },
	/* A trailing delimiter is allowed ([field-delim]). */
	{ "v=TLSRPTv1;rua=mailto:a@x.test;", 1, { "mailto:a@x.test" } },
	{ "v=TLSRPTv1;rua=mailto:a@x.test ; ", 1, { "mailto:a@x.test" } },
	/* Extensions are parsed and ignored, before or after rua. */
	{ "v=TLSRPTv1; ext=foo; rua=mailto:a@x.test", 1,
	    { "mailto:a@x.test" } },
	{ "v=TLSRPTv1; rua=mailto:a@x.test; x_y-z.1=a:b/c", 1,
	    { "mailto:a@x.test" } },
	/* mailto with hfields and percent-escapes. */
	{ "v=TLSRPTv1; rua=mailto:tls%2Brpt@x.test?subject=hi", 1,
	    { "mailto:tls%2Brpt@x.test?subject=hi" } },
	{ "v=TLSRPTv1; rua=https://[::1]:8443/r", 1,
	    { "https://[::1]:8443/r" } },
	/* Malformed. */
	{ "v=TLSRPTv1", 0, { NULL } },			/* no field */
	{ "v=TLSRPTv1;", 0, { NULL } },
	{ "v=TLSRPTv1; ext=1", 0, { NULL } },		/* no rua */
	{ "v=TLSRPTv1; rua=", 0, { NULL } },		/* empty rua */
	{ "v=TLSRPTv1; rua= ", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:a@x.test,", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:a@x.test; rua=mailto:b@x.test", 0,
	    { NULL } },					/* second rua */
	{ "v=TLSRPTv1; rua=http://r.x.test/", 0, { NULL } },
	{ "v=TLSRPTv1; rua=ftp://r.x.test/", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:no-at-sign", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:a@x.test mailto:b@x.test", 0, { NULL } },
	{ "v=TLSRPTv1; rua=https://", 0, { NULL } },
	{ "v=TLSRPTv1; rua=mailto:a%zz@x.test", 0, { NULL } },
	{ "v=TLSRPTv1; RUA=mailto:a@x.test", 0, { NULL } },	/* case */
	{ "v=TLSRPTv1; =x; rua=mailto:a@x.test", 0, { NULL } },
	{ "v=TLSRPTv1; ext=a=b; rua=mailto:a@x.test", 0, { NULL } },
	{ "v=TLSRPTv1; ext; rua=mailto:a@x.test", 0, { NULL } },
	{ "v=TLSRPTv1 rua=mailto:a@x.test", 0, { NULL } },
	/* v= not first, or not exactly v=TLSRPTv1. */
	{ "rua=mailto:a@x.test; v=TLSRPTv1", 0, { NULL } },
	{ " v=TLSRPTv1; rua=mailto:a@x.test", 0, { NULL } },
	{ "v=tlsrptv1; rua=mailto:a@x.test", 0, { NULL } },
	{ "v=TLSRPTv2; rua=mailto:a@x.test", 0, { NULL } },
	{ "rua=mailto:a@x.test", 0, { NULL } },
	{ NULL, 0, { NULL } }
};

static void
test_record_parse(void)
{
	const struct record_case	*c;
	struct record			 rec;
	char				 err[256], msg[512];
	size_t				 i, n;
	int				 r;

	for (c = record_cases; c->txt != NULL; c++) {
		r = record_parse(c->txt, &rec, err, sizeof(err));
		snprintf(msg, sizeof(msg), "%s -> %s", c->txt, r == 0 ? "ok" :
		    err);
		CU_ASSERT_EQUAL_FATAL(r == 0, c->ok);
		if (r != 0) {
			CU_ASSERT_EQUAL(rec.nrua, 0);
			continue;
		}
		for (n = 0; c->rua[n] != NULL; n++)
			;
		CU_ASSERT_EQUAL(rec.nrua, n);
		for (i = 0; i < n && i < rec.nrua; i++)
			CU_ASSERT_STRING_EQUAL(rec.rua[i], c->rua[i]);
		record_clear(&rec);
		(void)msg;
	}
}

struct select_case {
	const char		*txts[4];
	enum record_verdict	 verdict;
	size_t			 nrua;
};

static const struct select_case select_cases[] = {
	{ { "v=TLSRPTv1; rua=mailto:a@x.test", NULL }, RECORD_OK, 1 },
	/* Other TXT records beside ours are discarded. */
	{ { "v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test,"
	    "mailto:b@x.test", "hello", NULL }, RECORD_OK, 2 },
	{ { "v=spf1 -all", NULL }, RECORD_NONE, 0 },
	{ { NULL }, RECORD_NONE, 0 },
	/* "v=TLSRPTv10" does not begin with v=TLSRPTv1 (then ";"). */
	{ { "v=TLSRPTv10; rua=mailto:a@x.test", NULL }, RECORD_NONE, 0 },
	/* Two of ours: no reporting, even if one is malformed. */
	{ { "v=TLSRPTv1; rua=mailto:a@x.test",
	    "v=TLSRPTv1; rua=mailto:b@x.test", NULL }, RECORD_SEVERAL, 0 },
	{ { "v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1;", NULL },
	    RECORD_SEVERAL, 0 },
	{ { "v=TLSRPTv1; rua=gopher://x", NULL }, RECORD_MALFORMED, 0 },
	{ { "v=TLSRPTv1", "other", NULL }, RECORD_MALFORMED, 0 },
	{ { NULL }, RECORD_OK, 99 }
};

static void
test_record_select(void)
{
	const struct select_case	*c;
	struct record			 rec;
	char				 err[256];
	size_t				 n;
	enum record_verdict		 v;

	for (c = select_cases; c->nrua != 99; c++) {
		for (n = 0; c->txts[n] != NULL; n++)
			;
		v = record_select((char *const *)(uintptr_t)c->txts, n, &rec,
		    err, sizeof(err));
		CU_ASSERT_EQUAL(v, c->verdict);
		CU_ASSERT_EQUAL(rec.nrua, c->nrua);
		record_clear(&rec);
	}
	CU_ASSERT_STRING_EQUAL(record_verdict_name(RECORD_SEVERAL),
	    "several-records");
}

/*
 * TXT rdata to one string: the strings joined; a NUL does not cut the
 * record short (it could make a record that does not parse look like one
 * that does); a length past the end is no record.
 */
static void
test_record_join(void)
{
	static const struct {
		const char	*rdata;
		size_t		 len;
		const char	*want;		/* NULL: not wire format */
	} cases[] = {
		{ "\x0av=TLSRPTv1\x14;rua=mailto:a@x.test", 32,
		    "v=TLSRPTv1;rua=mailto:a@x.test" },
		{ "", 0, "" },
		{ "\x00\x03" "abc\x00", 6, "abc" },
		{ "\x05" "a\0b;c", 6, "a\x7f" "b;c" },
		{ "\x05" "abc", 4, NULL },
		{ "\x01", 1, NULL },
		{ NULL, 0, NULL }
	};
	struct record	 rec;
	char		*t, err[256];
	size_t		 i;

	for (i = 0; cases[i].rdata != NULL; i++) {
		t = record_join((const unsigned char *)cases[i].rdata,
		    cases[i].len);
		if (cases[i].want == NULL) {
			CU_ASSERT(t == NULL);
		} else {
			CU_ASSERT(t != NULL && strcmp(t, cases[i].want) == 0);
		}
		free(t);
	}
	/* "...mailto:a@x.test" NUL "garbage": not the valid record it would
	 * be if cut at the NUL. */
	t = record_join((const unsigned char *)"\x26v=TLSRPTv1;rua=mailto:"
	    "a@x.test\0garbage", 39);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(record_parse(t, &rec, err, sizeof(err)) == -1);
	record_clear(&rec);
	free(t);
}

/* What a record is blamed for goes into an event: printable ASCII. */
static void
test_record_error_text(void)
{
	struct record	 rec;
	char		 err[256];
	const char	*p;

	CU_ASSERT(record_parse("v=TLSRPTv1; rua=mailto:r\xc3\x01@x.test",
	    &rec, err, sizeof(err)) == -1);
	for (p = err; *p != '\0'; p++)
		CU_ASSERT(*p >= 0x20 && *p < 0x7f);
	CU_ASSERT(strstr(err, "\\xc3\\x01") != NULL);
	record_clear(&rec);
}

void
tests_record(void)
{
	CU_pSuite	s;

	s = CU_add_suite("record", NULL, NULL);
	CU_add_test(s, "parse (RFC 8460 section 3)", test_record_parse);
	CU_add_test(s, "select among TXT records", test_record_select);
	CU_add_test(s, "TXT strings joined", test_record_join);
	CU_add_test(s, "error text made safe", test_record_error_text);
}
