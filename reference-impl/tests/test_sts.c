/*
 * test_sts.c -- MTA-STS text (stspolicy.c): policy files generated from
 * their parts (version, mode, max_age, mx lines, extra lines) and written
 * with every line ending, the _mta-sts TXT record, MX patterns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

/*
 * One generated policy: each non-NULL part becomes a "key: value" line
 * (mx and extra may hold several), in the order version, mode, mx,
 * max_age, extra.  expect: "ok MODE MAX_AGE MX,MX..." or "invalid".
 */
struct gen_case {
	const char	*name;
	const char	*version;
	const char	*mode;
	const char	*max_age;
	const char	*mx[4];
	const char	*extra[3];
	const char	*expect;
};

static const struct gen_case gen_cases[] = {
	{ "enforce, two patterns", "STSv1", "enforce", "86400",
	    { "mx1.d.test", "*.d.test" }, { NULL }, "ok enforce 86400 "
	    "mx1.d.test,*.d.test" },
	{ "testing", "STSv1", "testing", "604800", { "mx.d.test" }, { NULL },
	    "ok testing 604800 mx.d.test" },
	{ "none without mx", "STSv1", "none", "1", { NULL }, { NULL },
	    "ok none 1 -" },
	{ "max_age 0", "STSv1", "enforce", "0", { "mx.d.test" }, { NULL },
	    "ok enforce 0 mx.d.test" },
	{ "max_age the largest", "STSv1", "enforce", "31557600",
	    { "mx.d.test" }, { NULL }, "ok enforce 31557600 mx.d.test" },
	{ "max_age over a year", "STSv1", "enforce", "31557601",
	    { "mx.d.test" }, { NULL }, "invalid" },
	{ "max_age 11 digits", "STSv1", "enforce", "00000000001",
	    { "mx.d.test" }, { NULL }, "invalid" },
	{ "max_age 10 digits", "STSv1", "enforce", "0000000001",
	    { "mx.d.test" }, { NULL }, "ok enforce 1 mx.d.test" },
	{ "max_age not a number", "STSv1", "enforce", "one day",
	    { "mx.d.test" }, { NULL }, "invalid" },
	{ "max_age negative", "STSv1", "enforce", "-5", { "mx.d.test" },
	    { NULL }, "invalid" },
	{ "max_age empty", "STSv1", "enforce", "", { "mx.d.test" }, { NULL },
	    "invalid" },
	{ "no max_age", "STSv1", "enforce", NULL, { "mx.d.test" }, { NULL },
	    "invalid" },
	{ "no mode", "STSv1", NULL, "86400", { "mx.d.test" }, { NULL },
	    "invalid" },
	{ "unknown mode", "STSv1", "report", "86400", { "mx.d.test" },
	    { NULL }, "invalid" },
	{ "mode in capitals", "STSv1", "ENFORCE", "86400", { "mx.d.test" },
	    { NULL }, "invalid" },
	{ "enforce without mx", "STSv1", "enforce", "86400", { NULL },
	    { NULL }, "invalid" },
	{ "testing without mx", "STSv1", "testing", "86400", { NULL },
	    { NULL }, "invalid" },
	{ "no version", NULL, "enforce", "86400", { "mx.d.test" }, { NULL },
	    "invalid" },
	{ "version STSv2", "STSv2", "enforce", "86400", { "mx.d.test" },
	    { NULL }, "invalid" },
	{ "version in small letters", "stsv1", "enforce", "86400",
	    { "mx.d.test" }, { NULL }, "invalid" },
	{ "unknown keys ignored", "STSv1", "enforce", "86400",
	    { "mx.d.test" }, { "colour: blue", "x-ext_1.a: any value here" },
	    "ok enforce 86400 mx.d.test" },
	{ "a duplicate mode: the first counts", "STSv1", "testing", "86400",
	    { "mx.d.test" }, { "mode: enforce" },
	    "ok testing 86400 mx.d.test" },
	{ "a duplicate bad max_age: the first counts", "STSv1", "enforce",
	    "60", { "mx.d.test" }, { "max_age: never" },
	    "ok enforce 60 mx.d.test" },
	{ "patterns lower-cased, final dot dropped", "STSv1", "enforce", "60",
	    { "MX1.D.Test.", "*.Backup.D.TEST" }, { NULL },
	    "ok enforce 60 mx1.d.test,*.backup.d.test" },
	{ "blanks after colon and value", "STSv1", "enforce", "60",
	    { "  mx.d.test \t" }, { NULL }, "ok enforce 60 mx.d.test" },
	{ "a line without a colon", "STSv1", "enforce", "60",
	    { "mx.d.test" }, { "just words" }, "invalid" },
	{ "a key with a blank", "STSv1", "enforce", "60", { "mx.d.test" },
	    { "max age: 5" }, "invalid" },
	{ "a key too long", "STSv1", "enforce", "60", { "mx.d.test" },
	    { "k23456789012345678901234567890123: v" }, "invalid" },
	{ "UTF-8 in an extension", "STSv1", "enforce", "60", { "mx.d.test" },
	    { "note: caf\xc3\xa9" }, "ok enforce 60 mx.d.test" },
	{ "U-label patterns kept in A-labels", "STSv1", "enforce", "60",
	    { "m\xc3\xa4x.d.test", "*.M\xc3\x84X.d.test" }, { NULL },
	    "ok enforce 60 xn--mx-via.d.test,*.xn--mx-via.d.test" },
	{ NULL, NULL, NULL, NULL, { NULL }, { NULL }, NULL }
};

/* The line endings a policy may be written with. */
static const char *const eols[] = { "\n", "\r\n", "mixed", "no-final" };
static const char *const eol_names[] = { "LF", "CRLF", "mixed",
    "LF, none at the end" };

static void
gen_line(struct buf *b, const char *key, const char *value, const char *eol,
    int *n)
{
	buf_addf(b, "%s: %s", key, value);
	if (strcmp(eol, "mixed") == 0)
		buf_addf(b, "%s", (*n)++ % 2 ? "\r\n" : "\n");
	else if (strcmp(eol, "no-final") == 0)
		buf_addf(b, "\n");
	else
		buf_addf(b, "%s", eol);
}

/* The policy text of c, with line ending eol (see eols). */
static char *
gen_policy(const struct gen_case *c, const char *eol, size_t *len)
{
	struct buf	b = { NULL, 0, 0 };
	size_t		i;
	int		n = 0;

	buf_add(&b, "", 0);
	if (c->version)
		gen_line(&b, "version", c->version, eol, &n);
	if (c->mode)
		gen_line(&b, "mode", c->mode, eol, &n);
	for (i = 0; i < 4 && c->mx[i]; i++)
		gen_line(&b, "mx", c->mx[i], eol, &n);
	if (c->max_age)
		gen_line(&b, "max_age", c->max_age, eol, &n);
	for (i = 0; i < 3 && c->extra[i]; i++) {
		buf_addf(&b, "%s", c->extra[i]);
		buf_addf(&b, "%s", strcmp(eol, "\r\n") == 0 ? "\r\n" : "\n");
	}
	if (strcmp(eol, "no-final") == 0 && b.len > 0 &&
	    b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	*len = b.len;
	return b.data;
}

static char *
sts_summary(const char *body, size_t len)
{
	struct sts_policy	 p;
	struct buf		 b = { NULL, 0, 0 };
	char			 err[256];
	size_t			 i;

	if (stspolicy_parse(body, len, &p, err, sizeof(err)) == -1) {
		CU_ASSERT(p.nmx == 0 && p.nlines == 0 && err[0] != '\0');
		return xstrdup("invalid");
	}
	buf_addf(&b, "ok %s %d ", stspolicy_mode_name(p.mode), p.max_age);
	for (i = 0; i < p.nmx; i++)
		buf_addf(&b, "%s%s", i ? "," : "", p.mx[i]);
	if (p.nmx == 0)
		buf_addf(&b, "-");
	stspolicy_clear(&p);
	return b.data;
}

static void
test_sts_generated(void)
{
	const struct gen_case	*c;
	char			*body, *sum;
	size_t			 len, e;

	for (c = gen_cases; c->name != NULL; c++)
		for (e = 0; e < sizeof(eols) / sizeof(eols[0]); e++) {
			body = gen_policy(c, eols[e], &len);
			sum = sts_summary(body, len);
			if (strcmp(sum, c->expect) != 0)
				fprintf(stderr, "\n  policy '%s' (eol %s):\n"
				    "    got  %s\n    want %s\n", c->name,
				    eol_names[e], sum, c->expect);
			CU_ASSERT(strcmp(sum, c->expect) == 0);
			free(sum);
			free(body);
		}
}

/* Octet-level cases: size, encoding, controls, blank lines, lines kept. */
static void
test_sts_octets(void)
{
	static const char good[] = "version: STSv1\r\nmode: enforce\r\n"
	    "mx: mx.d.test\r\nmax_age: 60\r\n";
	struct sts_policy	 p;
	struct buf		 b = { NULL, 0, 0 };
	char			 err[256], *s;

	/* The lines as published, without terminators. */
	CU_ASSERT_FATAL(stspolicy_parse(good, strlen(good), &p, err,
	    sizeof(err)) == 0);
	CU_ASSERT(p.nlines == 4 && strcmp(p.lines[0], "version: STSv1") == 0 &&
	    strcmp(p.lines[3], "max_age: 60") == 0);
	stspolicy_clear(&p);
	/* Blank lines are skipped (and kept in lines). */
	s = "\nversion: STSv1\n\nmode: none\n  \nmax_age: 5\n";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == 0);
	CU_ASSERT(p.nlines == 6 && p.lines[0][0] == '\0');
	stspolicy_clear(&p);
	/* A NUL, a lone CR, a control, bad UTF-8 (an overlong form, a
	 * surrogate, a cut sequence): not a policy. */
	CU_ASSERT(stspolicy_parse("version: STSv1\0", 15, &p, err,
	    sizeof(err)) == -1);
	s = "version: STSv1\rmode: none\nmax_age: 5\n";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == -1);
	s = "version: STSv1\nmode: none\nmax_age: 5\nx: \x1b\n";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == -1);
	s = "version: STSv1\nmode: none\nmax_age: 5\nx: \xc0\xaf\n";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == -1);
	s = "version: STSv1\nmode: none\nmax_age: 5\nx: \xed\xa0\x80\n";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == -1);
	s = "version: STSv1\nmode: none\nmax_age: 5\nx: \xe2\x82";
	CU_ASSERT(stspolicy_parse(s, strlen(s), &p, err, sizeof(err)) == -1);
	/* 64 KiB is the most: a valid policy padded to one octet more. */
	buf_addf(&b, "%s", good);
	while (b.len < STS_MAX_BODY)
		buf_addf(&b, "x: padding\n");
	b.len = STS_MAX_BODY;
	b.data[b.len - 1] = '\n';
	CU_ASSERT(stspolicy_parse(b.data, b.len, &p, err, sizeof(err)) == 0);
	stspolicy_clear(&p);
	buf_add(&b, "\n", 1);
	CU_ASSERT(stspolicy_parse(b.data, b.len, &p, err, sizeof(err)) == -1);
	buf_free(&b);
	/* Empty. */
	CU_ASSERT(stspolicy_parse("", 0, &p, err, sizeof(err)) == -1);
	/* Exactly len octets are read, never a byte after them (no NUL at
	 * the end: a heap copy of exactly that size, for ASan). */
	s = xmalloc(1);
	s[0] = '\t';
	CU_ASSERT(stspolicy_parse(s, 1, &p, err, sizeof(err)) == -1);
	free(s);
	s = xmalloc(strlen(good));
	memcpy(s, good, strlen(good));
	CU_ASSERT(stspolicy_parse(s, strlen(good) - 2, &p, err,
	    sizeof(err)) == 0);
	CU_ASSERT(p.max_age == 60 && p.nlines == 4);
	stspolicy_clear(&p);
	free(s);
}

static void
test_sts_patterns(void)
{
	static const struct {
		const char	*pattern, *host;
		int		 match;
	} cases[] = {
		{ "mx.d.test", "mx.d.test", 1 },
		{ "mx.d.test", "MX.D.Test.", 1 },
		{ "mx.d.test.", "mx.d.test", 1 },
		{ "mx.d.test", "mx2.d.test", 0 },
		{ "mx.d.test", "d.test", 0 },
		{ "*.d.test", "mx.d.test", 1 },
		{ "*.d.test", "MX.d.TEST.", 1 },
		{ "*.d.test", "d.test", 0 },	/* never the base name */
		{ "*.d.test", "a.mx.d.test", 0 },	/* one label only */
		{ "*.d.test", ".d.test", 0 },
		{ "*.d.test", "*.d.test", 0 },
		{ "*.d.test", "mx.e.test", 0 },
		{ "*.d.test", "mxd.test", 0 },
		{ "mx*.d.test", "mx1.d.test", 0 },	/* not a wildcard */
		{ "*", "mx", 0 },
		{ "", "mx.d.test", 0 },
		{ "*.*.d.test", "a.b.d.test", 0 },
		{ NULL, NULL, 0 }
	};
	size_t	i;
	int	got;

	for (i = 0; cases[i].pattern != NULL; i++) {
		got = stspolicy_pattern_match(cases[i].pattern,
		    cases[i].host);
		if (got != cases[i].match)
			fprintf(stderr, "\n  pattern %s host %s: got %d\n",
			    cases[i].pattern, cases[i].host, got);
		CU_ASSERT(got == cases[i].match);
	}
}

static void
test_sts_txt(void)
{
	static const struct {
		const char	*recs[3];
		enum sts_txt	 expect;
		const char	*id;
	} cases[] = {
		{ { "v=STSv1; id=20240101T1;" }, STS_TXT_OK, "20240101T1" },
		{ { "v=STSv1;id=abc" }, STS_TXT_OK, "abc" },
		{ { "v=STSv1; id=abc; x=y; " }, STS_TXT_OK, "abc" },
		{ { "v=spf1 -all", "v=STSv1; id=7;" }, STS_TXT_OK, "7" },
		{ { "v=STSv1; id=1; id=2" }, STS_TXT_OK, "1" },
		{ { "v=STSv1; id=" "123456789012345678901234567890ab" },
		    STS_TXT_OK, "123456789012345678901234567890ab" },
		{ { NULL }, STS_TXT_NONE, NULL },
		{ { "v=spf1 -all" }, STS_TXT_NONE, NULL },
		{ { "v=STSv2; id=1;" }, STS_TXT_NONE, NULL },
		{ { "v=STSv1 ; id=1;" }, STS_TXT_NONE, NULL },
		{ { "V=STSv1; id=1;" }, STS_TXT_NONE, NULL },
		{ { "v=STSv1; id=1;", "v=STSv1; id=2;" }, STS_TXT_SEVERAL,
		    NULL },
		{ { "v=STSv1; id=1;", "v=STSv1; broken" }, STS_TXT_SEVERAL,
		    NULL },
		{ { "v=STSv1;" }, STS_TXT_MALFORMED, NULL },
		{ { "v=STSv1; id=a-b;" }, STS_TXT_MALFORMED, NULL },
		{ { "v=STSv1; id=" "123456789012345678901234567890abc" },
		    STS_TXT_MALFORMED, NULL },
		{ { "v=STSv1; id=1; broken" }, STS_TXT_MALFORMED, NULL }
	};
	char		 id[STS_ID_MAX + 1], err[256], *recs[3];
	size_t		 i, n;
	enum sts_txt	 got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (n = 0; n < 3 && cases[i].recs[n]; n++)
			recs[n] = xstrdup(cases[i].recs[n]);
		id[0] = '\0';
		err[0] = '\0';
		got = stspolicy_txt(recs, n, id, err, sizeof(err));
		while (n > 0)
			free(recs[--n]);
		if (got != cases[i].expect)
			fprintf(stderr, "\n  txt case %zu: got %s (%s)\n", i,
			    stspolicy_txt_name(got), err);
		CU_ASSERT(got == cases[i].expect);
		CU_ASSERT(got == STS_TXT_OK ? strcmp(id, cases[i].id) == 0 :
		    err[0] != '\0');
	}
}

void
tests_sts(void)
{
	CU_pSuite	s;

	s = CU_add_suite("sts", NULL, NULL);
	CU_add_test(s, "generated policies, every line ending",
	    test_sts_generated);
	CU_add_test(s, "size, encoding, controls, lines",
	    test_sts_octets);
	CU_add_test(s, "MX patterns (RFC 8461 section 4.1)",
	    test_sts_patterns);
	CU_add_test(s, "_mta-sts TXT record (RFC 8461 section 3.1)",
	    test_sts_txt);
}
