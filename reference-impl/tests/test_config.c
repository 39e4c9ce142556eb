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
	CU_add_test(s, "comments, missing file", test_config_comments);
}
