/*
 * test_events.c -- the event log: events_str() on bytes that are not
 * UTF-8, and one event line written by events_emit() against a golden
 * line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"
#include "tests.h"

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
test_events_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("events", NULL, NULL);
	CU_add_test(s, "events_str", test_events_str);
	CU_add_test(s, "event line golden", test_events_golden);
}
