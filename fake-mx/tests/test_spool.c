/*
 * test_spool.c -- spool files (temporary name, commit, removal) and
 * events_str() on bytes that are not UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"
#include "tests.h"

static void
test_spool_cycle(void)
{
	char			 dir[] = "/tmp/fakemx-test-XXXXXX";
	char			 path[256], buf[64];
	struct spool_msg	*m;
	const char		*p;
	FILE			*fp;
	size_t			 n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	m = spool_open(dir, "l#1", 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(spool_write(m, "a\r\n", 3), 0);
	CU_ASSERT_EQUAL(spool_write(m, "b\n", 2), 0);
	snprintf(path, sizeof(path), "%s/l#1-1.eml.tmp", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	p = spool_commit(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(path, sizeof(path), "%s/l#1-1.eml", dir);
	CU_ASSERT_STRING_EQUAL(p, path);
	fp = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT(memcmp(buf, "a\r\nb\n", 5) == 0);
	spool_free(m);
	CU_ASSERT_EQUAL(unlink(path), 0);

	/* an uncommitted message leaves nothing behind */
	m = spool_open(dir, "l#1", 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	spool_write(m, "x", 1);
	spool_free(m);
	snprintf(path, sizeof(path), "%s/l#1-2.eml.tmp", dir);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
	CU_ASSERT_PTR_NULL(spool_open("/nonexistent/dir", "s", 1));
}

static void
test_events_str(void)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "plain", 5, "plain" },
		{ "caf\xc3\xa9", 5, "caf\xc3\xa9" },
		{ "bad\xff\xfe", 5, "bad??" },
		{ "nul\0x", 5, NULL },		/* kept, length 5 */
	};
	json_t	*v;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = events_str(cases[i].in, cases[i].len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		CU_ASSERT_EQUAL(json_string_length(v), cases[i].len);
		if (cases[i].want != NULL)
			CU_ASSERT_STRING_EQUAL(json_string_value(v),
			    cases[i].want);
		json_decref(v);
	}
	v = events_str(NULL, 0);
	CU_ASSERT(json_is_null(v));
	json_decref(v);
}

static void
test_events_golden(void)
{
	static const char want[] =
	    "\"session\":\"l#1\",\"listener\":\"l\",\"event\":\"x\","
	    "\"sink\":true,\"s\":\"a\\\"b\\\\c\\n\\r\\t\\u0001"
	    "\\u0000caf\xc3\xa9\",\"i\":-42,\"t\":true,\"f\":false,"
	    "\"n\":null,\"a\":[\"x\",1,[]],\"o\":{\"k\":\"v\"}}\n";
	char			 path[] = "/tmp/fakemx-events-XXXXXX";
	char			 buf[1024], *comma;
	struct listener_conf	 lc;
	json_t			*f, *back;
	json_error_t		 jerr;
	FILE			*fp;
	size_t			 n;
	int			 fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	close(fd);
	memset(&lc, 0, sizeof(lc));
	lc.name = (char *)(uintptr_t)"l";
	lc.mode = MODE_SINK;
	CU_ASSERT_EQUAL_FATAL(events_open(path), 0);
	f = json_object();
	json_object_set_new(f, "s",
	    json_stringn("a\"b\\c\n\r\t\001\0caf\xc3\xa9", 15));
	json_object_set_new(f, "i", json_integer(-42));
	json_object_set_new(f, "t", json_true());
	json_object_set_new(f, "f", json_false());
	json_object_set_new(f, "n", json_null());
	json_object_set_new(f, "a", json_pack("[si[]]", "x", 1));
	json_object_set_new(f, "o", json_pack("{ss}", "k", "v"));
	events_emit("l#1", &lc, "x", f);
	events_close();
	fp = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	unlink(path);
	buf[n] = '\0';
	CU_ASSERT(strncmp(buf, "{\"ts\":", 6) == 0);
	comma = strchr(buf, ',');
	CU_ASSERT_PTR_NOT_NULL_FATAL(comma);
	CU_ASSERT_STRING_EQUAL(comma + 1, want);
	/* and it is JSON that says the same */
	back = json_loads(buf, JSON_ALLOW_NUL, &jerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT(json_is_real(json_object_get(back, "ts")));
	CU_ASSERT_EQUAL(json_string_length(json_object_get(back, "s")), 15);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(back, "i")), -42);
	json_decref(back);
}

void
test_spool_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("spool+events", NULL, NULL);
	CU_add_test(s, "spool file cycle", test_spool_cycle);
	CU_add_test(s, "events_str", test_events_str);
	CU_add_test(s, "event line golden", test_events_golden);
}
