/*
 * test_config.c -- the configuration file (table of good and bad files),
 * the DNS test knobs in front of a mock backend, and the retry schedule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#define BASE	"events = /e\nstate_dir = /s\nreporting_domain = r.test\n"

static struct config *
load(const char *text, char *err, size_t errlen)
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
	{ BASE, NULL },
	{ BASE "# comment\n\n  smtp_port = 2525  # trailing\n", NULL },
	{ BASE "period = daily\nretry_schedule = 1, 2 ,3\n", NULL },
	{ BASE "static_txt = _smtp._tls.a.test v=TLSRPTv1; rua=mailto:a@b\n",
	    NULL },
	{ BASE "static_route = b.test 127.0.0.1 2525\n", NULL },
	{ BASE "static_route = b.test ::1\n", NULL },
	{ "state_dir = /s\nreporting_domain = r\n", "are required" },
	{ BASE "colour = blue\n", ":4: colour: unknown key" },
	{ BASE "smtp_port = 0\n", "bad port" },
	{ BASE "smtp_port = 25x\n", "bad port" },
	{ BASE "retry_schedule = 1,,2\n", "retry_schedule" },
	{ BASE "retry_schedule = -1\n", "retry_schedule" },
	{ BASE "period = weekly\n", "flush or daily" },
	{ BASE "static_txt = lonely\n", "static_txt" },
	{ BASE "static_route = b.test mx.b.test\n", "numeric" },
	{ BASE "static_route = b.test 127.0.0.1 70000\n", "bad port" },
	{ BASE "dkim_key = /k.pem\n", "go together" },
	{ BASE "no equals sign\n", "key = value" },
	{ BASE "log =\n", "empty value" },
	{ BASE "smtp_port = # none\n", ":4: smtp_port: empty value" },
	{ BASE "retry_schedule = 60 300\n", "retry_schedule" },
	{ BASE "contact_info = Ops.Team+tls@R.test\n", NULL },
	{ BASE "contact_info = mailto:tlsrpt@r.test\n", "not a mailto: URI" },
	{ BASE "contact_info = TLS <tlsrpt@r.test>\n", "not an address" },
	{ BASE "contact_info = a..b@r.test\n", "not an address" },
	{ BASE "contact_info = .a@r.test\n", "not an address" },
	{ BASE "contact_info = r.test\n", "not an address" },
	{ BASE "contact_info = tlsrpt@other.test\n", "TLS-Report-Submitter" },
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
		c = load(t->text, err, sizeof(err));
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

	c = load(BASE "static_route = B.test 127.0.0.2 2525\n", err,
	    sizeof(err));
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

	c = load(BASE "static_txt = _smtp._tls.a.test v=TLSRPTv1; "
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

/* A mock DNS backend: counts questions, answers one canned name. */
static int	mock_calls;

static void
mock_txt(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	mock_calls++;
	if (strcmp(name, "_smtp._tls.dns.test") == 0) {
		l->status = DNS_OK;
		dns_list_add(l, "v=TLSRPTv1; rua=mailto:x@dns.test");
	} else
		l->status = DNS_NOTFOUND;
}

static void
mock_mx(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	(void)name;
	mock_calls++;
	l->status = DNS_ERROR;
}

static void
mock_addrs(void *impl, const char *name, struct dns_list *l)
{
	(void)impl;
	(void)name;
	mock_calls++;
	l->status = DNS_BOGUS;
}

static const struct dns_ops mock_ops = {
	mock_txt, mock_mx, mock_addrs, NULL
};

static void
test_dns_knobs(void)
{
	struct config	*c;
	struct dns	*d;
	struct dns_list	 l;
	char		 err[512];

	c = load(BASE "static_txt = _smtp._tls.a.test v=TLSRPTv1; rua=1\n"
	    "static_txt = _smtp._tls.a.test. second record\n"
	    "static_route = reports.test 127.0.0.9\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	d = dns_new(c);
	dns_set_ops(d, &mock_ops, NULL);
	mock_calls = 0;
	/* Knobs answer without the backend (case, final dot). */
	dns_txt(d, "_SMTP._tls.a.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_STRING_EQUAL(l.items[0], "v=TLSRPTv1; rua=1");
	CU_ASSERT_STRING_EQUAL(l.items[1], "second record");
	dns_list_free(&l);
	dns_mx(d, "reports.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_STRING_EQUAL(l.items[0], "reports.test");
	dns_list_free(&l);
	dns_addrs(d, "reports.test", &l);
	CU_ASSERT_STRING_EQUAL(l.items[0], "127.0.0.9");
	dns_list_free(&l);
	CU_ASSERT_EQUAL(mock_calls, 0);
	/* Everything else goes to the backend, statuses intact. */
	dns_txt(d, "_smtp._tls.dns.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_OK);
	CU_ASSERT_EQUAL(l.n, 1);
	dns_list_free(&l);
	dns_txt(d, "_smtp._tls.none.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_NOTFOUND);
	dns_list_free(&l);
	dns_mx(d, "other.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_ERROR);
	dns_list_free(&l);
	dns_addrs(d, "other.test", &l);
	CU_ASSERT_EQUAL(l.status, DNS_BOGUS);
	CU_ASSERT_EQUAL(l.n, 0);
	dns_list_free(&l);
	CU_ASSERT_EQUAL(mock_calls, 4);
	CU_ASSERT_STRING_EQUAL(dns_status_name(DNS_BOGUS), "bogus");
	dns_free(d);
	config_free(c);
}

static void
test_retry_schedule(void)
{
	struct config	*c;
	char		 err[512];

	c = load(BASE "retry_schedule = 10,100\nretry_give_up = 300\n", err,
	    sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* After the 1st attempt 10 s, after the 2nd 100 s, then 100 s. */
	CU_ASSERT_EQUAL(pending_next(c, 1000, 1, 1000), 1010);
	CU_ASSERT_EQUAL(pending_next(c, 1000, 2, 1010), 1110);
	CU_ASSERT_EQUAL(pending_next(c, 1000, 3, 1110), 1210);
	/* 1310 would be past first try + 300: give up. */
	CU_ASSERT_EQUAL(pending_next(c, 1000, 4, 1210), -1);
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
	CU_add_test(s, "DNS test knobs before the backend", test_dns_knobs);
	CU_add_test(s, "retry schedule and giving up", test_retry_schedule);
}
