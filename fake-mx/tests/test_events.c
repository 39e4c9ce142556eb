/*
 * test_events.c -- the event log: events_str() on bytes that are not
 * UTF-8, one event line written by events_emit() against a golden line,
 * the builder (events_begin() ... events_end()) against events_emit(),
 * and what reaches the file when.
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

/* The file's bytes, NUL-terminated, in buf; returns their length. */
static size_t
test_events_read(const char *path, char *buf, size_t len)
{
	FILE	*fp;
	size_t	 n;

	fp = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	n = fread(buf, 1, len - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return n;
}

/*
 * The builder writes what events_emit() writes for the same fields, and
 * nothing reaches the file before events_flush() but what
 * events_crash_flush() would write: complete lines only.
 */
static void
test_events_builder(void)
{
	static const char net[] = "a\"b\001\0caf\xc3\xa9";
	static const char bad[] = "x\xff\xc3\xa9y";	/* not UTF-8 */
	char			 path[] = "/tmp/fakemx-events-XXXXXX";
	char			 buf[2048], *l1, *l2, *nl;
	char			*v[] = { (char *)(uintptr_t)bad,
				    (char *)(uintptr_t)"ok" };
	struct listener_conf	 lc;
	json_t			*f, *a;
	int			 fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	close(fd);
	memset(&lc, 0, sizeof(lc));
	lc.name = (char *)(uintptr_t)"l";
	lc.mode = MODE_IMPOSTOR;
	CU_ASSERT_EQUAL_FATAL(events_open(path), 0);

	f = json_object();
	json_object_set_new(f, "s", json_string("t\u00e9xt"));
	json_object_set_new(f, "n", events_str(net, sizeof(net) - 1));
	json_object_set_new(f, "b", events_str(bad, sizeof(bad) - 1));
	json_object_set_new(f, "z", events_str(NULL, 0));
	json_object_set_new(f, "i", json_integer(-9223372036854775807LL - 1));
	json_object_set_new(f, "j", json_integer(1234567));
	json_object_set_new(f, "t", json_true());
	json_object_set_new(f, "f", json_false());
	a = json_array();
	json_array_append_new(a, events_str(bad, sizeof(bad) - 1));
	json_array_append_new(a, json_string("ok"));
	json_object_set_new(f, "a", a);
	events_emit("l#1", &lc, "x", f);

	events_begin("l#1", &lc, "x");
	events_add_str("s", "t\u00e9xt");
	events_add_net("n", net, sizeof(net) - 1);
	events_add_net("b", bad, sizeof(bad) - 1);
	events_add_net("z", NULL, 0);
	events_add_int("i", -9223372036854775807LL - 1);
	events_add_int("j", 1234567);
	events_add_bool("t", 1);
	events_add_bool("f", 0);
	events_add_netv("a", v, 2);
	events_end();

	CU_ASSERT_EQUAL(test_events_read(path, buf, sizeof(buf)), 0);
	events_begin("l#1", &lc, "half");	/* a line being built */
	events_crash_flush();
	events_add_int("k", 1);
	test_events_read(path, buf, sizeof(buf));
	l1 = strchr(buf, ',');
	CU_ASSERT_PTR_NOT_NULL_FATAL(l1);
	nl = strchr(l1, '\n');
	CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
	l2 = strchr(nl + 1, ',');
	CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
	*nl = '\0';
	CU_ASSERT_PTR_NULL(strstr(l2, "half"));
	nl = strchr(l2, '\n');			/* the last line */
	CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
	CU_ASSERT_EQUAL(nl[1], '\0');
	*nl = '\0';
	CU_ASSERT_STRING_EQUAL(l1, l2);
	CU_ASSERT_PTR_NOT_NULL(strstr(l1,
	    ",\"impostor\":true,\"s\":\"t\xc3\xa9xt\",\"n\":\"a\\\"b"
	    "\\u0001\\u0000caf\xc3\xa9\",\"b\":\"x???y\",\"z\":null,"
	    "\"i\":-9223372036854775808,\"j\":1234567,\"t\":true,"
	    "\"f\":false,\"a\":[\"x???y\",\"ok\"]}"));

	/* the half-built line goes out whole once it ends */
	events_end();
	events_flush();
	test_events_read(path, buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf,
	    "\"event\":\"half\",\"impostor\":true,\"k\":1}\n"));
	events_close();
	unlink(path);
}

void
test_events_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("events", NULL, NULL);
	CU_add_test(s, "events_str", test_events_str);
	CU_add_test(s, "event line golden", test_events_golden);
	CU_add_test(s, "builder and flush", test_events_builder);
}
