/*
 * test_report.c -- the RFC 8460 section 4 JSON report (report.c), built
 * from test_agg.c's canned refsend events; report times and ids.
 */
#include <stdio.h>
#include <string.h>

#include "tests.h"

/* 1 if s is "YYYY-MM-DDTHH:MM:SSZ". */
static int
is_rfc3339_utc(const char *s)
{
	static const char	pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t			i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1)
		return 0;
	for (i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') :
		    s[i] != pat[i])
			return 0;
	return 1;
}

static json_t *
policy_of(json_t *rep, const char *domain, const char *type)
{
	json_t	*p;
	size_t	 i;

	json_array_foreach(json_object_get(rep, "policies"), i, p) {
		json_t *pol = json_object_get(p, "policy");
		if (strcmp(json_string_value(json_object_get(pol,
		    "policy-domain")), domain) == 0 &&
		    strcmp(json_string_value(json_object_get(pol,
		    "policy-type")), type) == 0)
			return p;
	}
	return NULL;
}

static void
test_report_json(void)
{
	struct agg		*a = test_agg_feed(0);
	struct agg_domain	*ds;
	struct report_meta	 m = { "danelab", "tlsrpt@s.test", "rid-1",
				    1795392000, 1795395600 };
	json_t			*rep, *back, *p, *pol, *f;
	json_error_t		 jerr;
	char			*text;
	size_t			 n, i, j;

	ds = agg_domains(a, &n);
	for (i = 0; i < n; i++) {
		rep = report_build(&ds[i], &m);
		text = report_dump(rep);
		back = json_loads(text, 0, &jerr);
		CU_ASSERT_PTR_NOT_NULL_FATAL(back);
		CU_ASSERT(json_equal(rep, back));
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(back,
		    "organization-name")), "danelab");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(back,
		    "contact-info")), "tlsrpt@s.test");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(back,
		    "report-id")), "rid-1");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
		    json_object_get(back, "date-range"), "start-datetime")),
		    "2026-11-23T00:00:00Z");
		CU_ASSERT(is_rfc3339_utc(json_string_value(json_object_get(
		    json_object_get(back, "date-range"), "end-datetime"))));
		CU_ASSERT(json_is_array(json_object_get(back, "policies")));
		json_array_foreach(json_object_get(back, "policies"), n, p) {
			pol = json_object_get(p, "policy");
			CU_ASSERT(json_is_string(json_object_get(pol,
			    "policy-type")));
			if (json_object_get(pol, "mx-host") != NULL)
				CU_ASSERT(json_is_array(json_object_get(pol,
				    "mx-host")));
			CU_ASSERT(json_is_integer(json_object_get(
			    json_object_get(p, "summary"),
			    "total-successful-session-count")));
			CU_ASSERT(json_is_integer(json_object_get(
			    json_object_get(p, "summary"),
			    "total-failure-session-count")));
			/* Always arrays (what consumers need). */
			CU_ASSERT(json_is_array(json_object_get(pol,
			    "policy-string")));
			CU_ASSERT(json_is_array(json_object_get(p,
			    "failure-details")));
			json_array_foreach(json_object_get(p,
			    "failure-details"), j, f) {
				CU_ASSERT(json_is_string(json_object_get(f,
				    "failure-reason-code")));
				CU_ASSERT_PTR_NULL(json_object_get(f,
				    "additional-information"));
			}
		}
		if (strcmp(ds[i].domain, "a.test") == 0) {
			p = policy_of(back, "a.test", "tlsa");
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			pol = json_object_get(p, "policy");
			CU_ASSERT_EQUAL(json_array_size(json_object_get(pol,
			    "policy-string")), 2);
			CU_ASSERT_STRING_EQUAL(json_string_value(
			    json_array_get(json_object_get(pol,
			    "policy-string"), 0)), "2 0 1 bb");
			CU_ASSERT_EQUAL(json_array_size(json_object_get(pol,
			    "mx-host")), 2);
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(
			    json_object_get(p, "summary"),
			    "total-successful-session-count")), 2);
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(
			    json_object_get(p, "summary"),
			    "total-failure-session-count")), 3);
			f = json_array_get(json_object_get(p,
			    "failure-details"), 1);
			CU_ASSERT_STRING_EQUAL(json_string_value(
			    json_object_get(f, "result-type")),
			    "validation-failure");
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(f,
			    "failed-session-count")), 2);
			CU_ASSERT_STRING_EQUAL(json_string_value(
			    json_object_get(f, "receiving-mx-helo")), "mx2");
			CU_ASSERT_STRING_EQUAL(json_string_value(
			    json_object_get(f, "receiving-ip")), "127.25.1.2");
			CU_ASSERT_STRING_EQUAL(json_string_value(
			    json_object_get(f, "failure-reason-code")),
			    "no match");
			/* key order as in the RFC */
			CU_ASSERT(strstr(text, "{\"organization-name\":") ==
			    text);
		}
		if (strcmp(ds[i].domain, "b.test") == 0) {
			p = policy_of(back, "b.test", "no-policy-found");
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			CU_ASSERT_EQUAL(json_array_size(json_object_get(
			    json_object_get(p, "policy"), "policy-string")), 0);
		}
		if (strcmp(ds[i].domain, "d.test") == 0) {
			p = policy_of(back, "d.test", "no-policy-found");
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			CU_ASSERT_PTR_NULL(json_object_get(json_object_get(p,
			    "policy"), "mx-host"));
			f = json_array_get(json_object_get(p,
			    "failure-details"), 0);
			CU_ASSERT_PTR_NULL(json_object_get(f,
			    "receiving-mx-hostname"));
		}
		json_decref(back);
		json_decref(rep);
		free(text);
	}
	agg_free(a);
}

static void
test_report_time_and_id(void)
{
	char	 buf[32], *id;

	CU_ASSERT_STRING_EQUAL(report_time(0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00Z");
	CU_ASSERT_STRING_EQUAL(report_time(1795395993, buf, sizeof(buf)),
	    "2026-11-23T01:06:33Z");
	id = report_new_id();
	CU_ASSERT_EQUAL(strlen(id), 36);
	CU_ASSERT_EQUAL(id[14], '4');
	free(id);
}

void
tests_report(void)
{
	CU_pSuite	s;

	s = CU_add_suite("report", NULL, NULL);
	CU_add_test(s, "RFC 8460 section 4 JSON", test_report_json);
	CU_add_test(s, "RFC 3339 times, report ids", test_report_time_and_id);
}
