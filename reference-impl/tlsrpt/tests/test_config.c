/*
 * test_config.c -- the configuration file: a table of good and bad files,
 * defaults, comments.  test_config_load() (tests.h) serves the other
 * files' tests too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

struct config *
test_config_load(const char *text, char *err, size_t errlen)
{
	char		 path[] = "/tmp/tlsrpt-test-conf.XXXXXX";
	struct config	*c;
	FILE		*fp;
	int		 fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	c = config_load(path, err, errlen);
	unlink(path);
	return c;
}

struct conf_case {
	const char	*text;
	const char	*error;	/* NULL: loads; else part of the message */
};

static const struct conf_case conf_cases[] = {
	{ CONF_BASE, NULL },
	{ CONF_BASE "# comment\n\n  smtp_port = 2525  # trailing\n", NULL },
	{ CONF_BASE "period = daily\nretry_schedule = 1, 2 ,3\n", NULL },
	{ CONF_BASE "static_txt = _smtp._tls.a.test v=TLSRPTv1; "
	    "rua=mailto:a@b\n", NULL },
	{ CONF_BASE "static_route = b.test 127.0.0.1:2525\n", NULL },
	{ CONF_BASE "static_route = b.test ::1\n", NULL },
	{ CONF_BASE "static_route = b.test [::1]:2525\n", NULL },
	{ "state_dir = /s\nreporting_domain = r\n", "are required" },
	{ CONF_BASE "colour = blue\n", ":4: colour: unknown key" },
	{ CONF_BASE "smtp_port = 0\n", ":4: smtp_port: bad number" },
	{ CONF_BASE "smtp_port = 25x\n", "smtp_port: bad number" },
	{ CONF_BASE "retry_schedule = 1,,2\n", "retry_schedule" },
	{ CONF_BASE "retry_schedule = -1\n", "retry_schedule" },
	{ CONF_BASE "period = weekly\n", "flush or daily" },
	{ CONF_BASE "static_txt = lonely\n", "static_txt" },
	{ CONF_BASE "static_route = b.test mx.b.test\n", "numeric" },
	{ CONF_BASE "static_route = b.test 127.0.0.1:70000\n",
	    ":4: static_route: want 'NAME ADDRESS[:PORT]'" },
	/* refsend's syntax: the port is not a third word. */
	{ CONF_BASE "static_route = b.test 127.0.0.1 2525\n", "static_route" },
	{ CONF_BASE "dkim_key = /k.pem\n", "go together" },
	{ CONF_BASE "no equals sign\n", "key = value" },
	{ CONF_BASE "log =\n", "empty value" },
	{ CONF_BASE "smtp_port = # none\n", ":4: smtp_port: empty value" },
	{ CONF_BASE "retry_schedule = 60 300\n", "retry_schedule" },
	{ CONF_BASE "contact_info = Ops.Team+tls@R.test\n", NULL },
	{ CONF_BASE "contact_info = mailto:tlsrpt@r.test\n",
	    "not a mailto: URI" },
	{ CONF_BASE "contact_info = TLS <tlsrpt@r.test>\n", "not an address" },
	{ CONF_BASE "contact_info = a..b@r.test\n", "not an address" },
	{ CONF_BASE "contact_info = .a@r.test\n", "not an address" },
	{ CONF_BASE "contact_info = r.test\n", "not an address" },
	{ CONF_BASE "contact_info = tlsrpt@other.test\n",
	    "TLS-Report-Submitter" },
	{ NULL, NULL }
};

static void
test_config_table(void)
{
	const struct conf_case	*t;
	struct config		*c;
	char			 err[512];

	for (t = conf_cases; t->text != NULL; t++) {
		err[0] = '\0';
		c = test_config_load(t->text, err, sizeof(err));
		if (t->error == NULL) {
			CU_ASSERT_PTR_NOT_NULL(c);
		} else {
			CU_ASSERT_PTR_NULL(c);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, t->error));
		}
		config_free(c);
	}
}

static void
test_config_defaults(void)
{
	struct config	*c;
	char		 err[512];

	c = test_config_load(CONF_BASE
	    "static_route = B.test. 127.0.0.2:2525\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->log, "/s/tlsrpt.jsonl");
	CU_ASSERT_STRING_EQUAL(c->organization_name, "r.test");
	CU_ASSERT_STRING_EQUAL(c->contact_info, "tlsrpt@r.test");
	CU_ASSERT_STRING_EQUAL(c->report_from, "tlsrpt@r.test");
	CU_ASSERT_EQUAL(c->smtp_port, 25);
	CU_ASSERT_EQUAL(c->give_up, 86400);
	CU_ASSERT_EQUAL(c->period, PERIOD_DAILY);
	CU_ASSERT_EQUAL(c->nretry, 6);
	CU_ASSERT_PTR_NOT_NULL_FATAL(config_route(c, "b.TEST"));
	CU_ASSERT_EQUAL(config_route(c, "b.test")->port, 2525);
	CU_ASSERT_STRING_EQUAL(config_route(c, "b.test")->address,
	    "127.0.0.2");
	CU_ASSERT_PTR_NULL(config_route(c, "c.test"));
	config_free(c);
}

/* A '#' inside a word is kept (TXT records, URLs); after a blank it is a
 * comment. */
static void
test_config_comments(void)
{
	struct config	*c;
	char		 err[512];

	c = test_config_load(CONF_BASE
	    "static_txt = _smtp._tls.a.test v=TLSRPTv1; "
	    "rua=https://r.test/#x # a comment\n"
	    "helo_name = mx#1\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->ntxts, 1);
	CU_ASSERT_STRING_EQUAL(c->txts[0].name, "_smtp._tls.a.test");
	CU_ASSERT_STRING_EQUAL(c->txts[0].text,
	    "v=TLSRPTv1; rua=https://r.test/#x");
	CU_ASSERT_STRING_EQUAL(c->helo_name, "mx#1");
	config_free(c);
}

void
tests_config(void)
{
	CU_pSuite	s;

	s = CU_add_suite("config", NULL, NULL);
	CU_add_test(s, "good and bad files", test_config_table);
	CU_add_test(s, "defaults, static_route", test_config_defaults);
	CU_add_test(s, "comments", test_config_comments);
}
