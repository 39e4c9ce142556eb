/*
 * test_config.c -- the configuration file: defaults, every key, errors
 * that name file, line and key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

static struct config *
test_config_text(const char *text, char *err, size_t errlen)
{
	char		 path[] = "/tmp/refsend-conf-XXXXXX";
	struct config	*c;
	int		 fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	c = config_load(path, err, errlen);
	unlink(path);
	return c;
}

static void
test_config_good(void)
{
	struct config	*c;
	char		 err[512];

	c = test_config_text(
	    "# a comment\n"
	    "queue_dir = /q\n"
	    "events=/e.jsonl   # trailing comment\n"
	    "trust_anchor = /ta\n"
	    "retry_schedule = 1, 2,3\n"
	    "policy = Example.TEST. dane-only\n"
	    "policy = may.test may\n"
	    "default_policy = dane\n"
	    "static_route = sink.test 127.0.0.1:2525\n"
	    "static_route = six.test [::1]:26\n"
	    "half_dane = no\n", err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(strcmp(c->dsn_dir, "/q/dsn") == 0);
	CU_ASSERT(strcmp(c->helo_name, "refsend.invalid") == 0);
	CU_ASSERT(c->smtp_port == 25 && c->max_attempts == 5);
	CU_ASSERT(c->max_parallel == 100 && c->connect_timeout == 10);
	CU_ASSERT(c->nretry == 3 && c->retry[2] == 3);
	CU_ASSERT(config_level(c, "example.test") == LEVEL_DANE_ONLY);
	CU_ASSERT(config_level(c, "MAY.test") == LEVEL_MAY);
	CU_ASSERT(config_level(c, "other.test") == LEVEL_DANE);
	CU_ASSERT(config_level(c, "sink.test") == LEVEL_STATIC);
	CU_ASSERT(config_route(c, "six.test") != NULL &&
	    config_route(c, "six.test")->port == 26 &&
	    strcmp(config_route(c, "six.test")->address, "::1") == 0);
	CU_ASSERT(c->half_dane == 0);
	/* MTA-STS: on, the system's CAs, a minute, the real clock. */
	CU_ASSERT(c->sts == 1 && c->sts_ca_file == NULL);
	CU_ASSERT(c->sts_timeout == 60 && c->clock_offset == 0);
	config_free(c);
}

static void
test_config_bad(void)
{
	static const char *bad[][2] = {
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\nbogus = 1\n",
		    ":4: unknown key 'bogus'" },
		{ "queue_dir = /q\ntrust_anchor = /t\n", "events is required" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "smtp_port = 0\n", ":4: smtp_port: bad number" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "policy = x.test strict\n", ":4: policy:" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "static_route = x.test mx.example\n", ":4: static_route:" },
		{ "queue_dir = /q\nnonsense\n", ":2: want 'key = value'" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "retry_schedule = 1,,x\n", ":4: retry_schedule" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "retry_schedule = 60 300\n", ":4: retry_schedule" },
		{ "queue_dir = /q\nevents = # none\n", ":2: events: empty "
		    "value" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "sts = on\n", ":4: sts: yes or no" },
		{ "queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
		    "half_dane = 1\n", ":4: half_dane: yes or no" },
		{ NULL, NULL }
	};
	char	err[512];
	int	i;

	for (i = 0; bad[i][0] != NULL; i++) {
		err[0] = '\0';
		CU_ASSERT(test_config_text(bad[i][0], err, sizeof(err)) ==
		    NULL);
		if (strstr(err, bad[i][1]) == NULL) {
			fprintf(stderr, "\n  config error '%s' lacks '%s'\n",
			    err, bad[i][1]);
			CU_FAIL("error message");
		}
	}
}

/* Every key lands in its own field; every number is checked against its
 * bounds (the key table of config.c). */
static void
test_config_every_key(void)
{
	static const struct {
		const char	*key;
		int		 min, max;
	} nums[] = {
		{ "smtp_port", 1, 65535 }, { "connect_timeout", 1, 3600 },
		{ "command_timeout", 1, 3600 }, { "tls_timeout", 1, 3600 },
		{ "max_attempts", 1, 1000 }, { "max_parallel", 1, 10000 },
		{ "daemon_interval", 1, 3600 }, { "dns_timeout", 1, 3600 },
		{ "sts_timeout", 1, 3600 }, { "clock_offset", 0, 316224000 },
		{ "session_timeout", 1, 86400 }, { NULL, 0, 0 }
	};
	struct config	*c;
	char		 err[512], text[512];
	int		 i, bad;

	c = test_config_text("queue_dir = /q\nevents = /e\n"
	    "trust_anchor = /t\ndsn_dir = /d\nresolver = 127.0.0.1@53\n"
	    "helo_name = h.test\nsmtp_port = 2525\nconnect_timeout = 11\n"
	    "command_timeout = 12\ntls_timeout = 13\nmax_attempts = 14\n"
	    "max_parallel = 15\ndaemon_interval = 16\ndns_timeout = 17\n"
	    "retry_schedule = 18\ndefault_policy = may\nhalf_dane = yes\n"
	    "policy = p.test exclude\nsts = no\nsts_ca_file = /ca.pem\n"
	    "sts_timeout = 19\nclock_offset = 20\nsession_timeout = 21\n",
	    err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(strcmp(c->queue_dir, "/q") == 0);
	CU_ASSERT(strcmp(c->events, "/e") == 0);
	CU_ASSERT(strcmp(c->trust_anchor, "/t") == 0);
	CU_ASSERT(strcmp(c->dsn_dir, "/d") == 0);
	CU_ASSERT(strcmp(c->resolver, "127.0.0.1@53") == 0);
	CU_ASSERT(strcmp(c->helo_name, "h.test") == 0);
	CU_ASSERT(c->smtp_port == 2525 && c->connect_timeout == 11);
	CU_ASSERT(c->command_timeout == 12 && c->tls_timeout == 13);
	CU_ASSERT(c->max_attempts == 14 && c->max_parallel == 15);
	CU_ASSERT(c->daemon_interval == 16 && c->dns_timeout == 17);
	CU_ASSERT(c->session_timeout == 21);
	CU_ASSERT(c->nretry == 1 && c->retry[0] == 18);
	CU_ASSERT(c->default_policy == LEVEL_MAY && c->half_dane == 1);
	CU_ASSERT(config_level(c, "p.test") == LEVEL_EXCLUDE);
	CU_ASSERT(c->sts == 0 && strcmp(c->sts_ca_file, "/ca.pem") == 0);
	CU_ASSERT(c->sts_timeout == 19 && c->clock_offset == 20);
	config_free(c);
	for (i = 0; nums[i].key != NULL; i++)
		for (bad = 0; bad < 4; bad++) {
			snprintf(text, sizeof(text), "queue_dir = /q\n"
			    "events = /e\ntrust_anchor = /t\n%s = %d\n",
			    nums[i].key, bad == 0 ? nums[i].min - 1 : bad == 1 ?
			    nums[i].max + 1 : bad == 2 ? nums[i].min :
			    nums[i].max);
			c = test_config_text(text, err, sizeof(err));
			CU_ASSERT((c == NULL) == (bad < 2));
			if (c == NULL) {
				snprintf(text, sizeof(text), ":4: %s: bad "
				    "number", nums[i].key);
				CU_ASSERT(strstr(err, text) != NULL);
			}
			config_free(c);
		}
}

/* refsend: any '#' starts a comment, also inside a word. */
static void
test_config_comments(void)
{
	struct config	*c;
	char		 err[512];

	c = test_config_text("queue_dir = /q\nevents = /e\ntrust_anchor = /t\n"
	    "helo_name = mx.test#1 # a comment\n", err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(strcmp(c->helo_name, "mx.test") == 0);
	config_free(c);
	CU_ASSERT(config_load("/nonexistent/refsend.conf", err,
	    sizeof(err)) == NULL);
	CU_ASSERT(strcmp(err, "/nonexistent/refsend.conf: No such file or "
	    "directory") == 0);
}

void
tests_config(void)
{
	CU_pSuite	s;

	s = CU_add_suite("config", NULL, NULL);
	CU_add_test(s, "good file", test_config_good);
	CU_add_test(s, "errors", test_config_bad);
	CU_add_test(s, "every key, number bounds", test_config_every_key);
	CU_add_test(s, "comments, missing file", test_config_comments);
}
