/*
 * test_stscache.c -- the MTA-STS policy cache (stscache.c): the RFC 8461
 * section 5.1 decision as a table over (cached entry, TXT id, clock), and
 * the durable file: written, read back, refused when damaged.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#define T0	1700000000

struct decide_case {
	const char	*name;
	const char	*cached_id;	/* NULL: nothing cached */
	int		 max_age;
	const char	*txt_id;	/* NULL: no usable TXT record */
	time_t		 now;
	enum sts_step	 expect;
	enum sts_step	 fallback;	/* after a failed fetch */
};

static const struct decide_case decide_cases[] = {
	{ "nothing cached, a record: fetch", NULL, 0, "1", T0,
	    STS_STEP_FETCH, STS_STEP_NONE },
	{ "nothing cached, no record: none", NULL, 0, NULL, T0,
	    STS_STEP_NONE, STS_STEP_NONE },
	{ "fresh, same id: no refetch", "1", 3600, "1", T0 + 60,
	    STS_STEP_CACHED, STS_STEP_CACHED },
	{ "fresh, new id: refetch, keep on failure", "1", 3600, "2", T0 + 60,
	    STS_STEP_FETCH, STS_STEP_CACHED },
	{ "fresh, the record gone: keep", "1", 3600, NULL, T0 + 3599,
	    STS_STEP_CACHED, STS_STEP_CACHED },
	{ "expired at max_age, same id: refetch", "1", 3600, "1", T0 + 3600,
	    STS_STEP_FETCH, STS_STEP_NONE },
	{ "expired, new id: refetch, none on failure", "1", 3600, "2",
	    T0 + 7200, STS_STEP_FETCH, STS_STEP_NONE },
	{ "expired, the record gone: none", "1", 3600, NULL, T0 + 3600,
	    STS_STEP_NONE, STS_STEP_NONE },
	{ "max_age 0: never fresh", "1", 0, "1", T0, STS_STEP_FETCH,
	    STS_STEP_NONE },
	{ "the clock before the fetch: not fresh", "1", 3600, "1", T0 - 1,
	    STS_STEP_FETCH, STS_STEP_NONE },
	{ "a year of max_age, a year later less a second", "1", STS_MAX_AGE,
	    "1", T0 + STS_MAX_AGE - 1, STS_STEP_CACHED, STS_STEP_CACHED },
	{ NULL, NULL, 0, NULL, 0, 0, 0 }
};

static void
test_stscache_decide(void)
{
	const struct decide_case	*dc;
	struct sts_cached		 c;
	enum sts_step			 got, fb;

	for (dc = decide_cases; dc->name != NULL; dc++) {
		memset(&c, 0, sizeof(c));
		if (dc->cached_id != NULL) {
			snprintf(c.id, sizeof(c.id), "%s", dc->cached_id);
			c.fetched = T0;
			c.policy.max_age = dc->max_age;
		}
		got = stscache_decide(dc->cached_id ? &c : NULL, dc->txt_id,
		    dc->now);
		fb = stscache_fallback(dc->cached_id ? &c : NULL, dc->now);
		if (got != dc->expect || fb != dc->fallback)
			fprintf(stderr, "\n  cache case '%s': got %d/%d, "
			    "want %d/%d\n", dc->name, got, fb, dc->expect,
			    dc->fallback);
		CU_ASSERT(got == dc->expect && fb == dc->fallback);
	}
}

/* A fresh folder for a cache and its tmp folder; freed by rmdir. */
static void
test_stscache_dirs(char *base, size_t len, char *dir, char *tmp)
{
	snprintf(base, len, "/tmp/refsend-stscache-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(base) != NULL);
	snprintf(dir, 512, "%s/sts", base);
	snprintf(tmp, 512, "%s/tmp", base);
	CU_ASSERT_FATAL(mkdir(tmp, 0700) == 0);
}

static void
test_stscache_file(void)
{
	static const char text[] = "version: STSv1\r\nmode: enforce\r\n"
	    "mx: *.d.test\r\nmax_age: 86400\r\n";
	struct sts_cached	 c, back;
	char			 base[64], dir[512], tmp[512], path[600];
	char			 err[128];
	FILE			*fp;

	test_stscache_dirs(base, sizeof(base), dir, tmp);
	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "d.test");
	snprintf(c.id, sizeof(c.id), "20240101");
	c.fetched = T0;
	c.text = xstrdup(text);
	c.len = strlen(text);
	CU_ASSERT_FATAL(stspolicy_parse(c.text, c.len, &c.policy, err,
	    sizeof(err)) == 0);
	/* Nothing yet; then written (the folder made), read back. */
	CU_ASSERT(stscache_load(dir, "d.test", &back) == -1 &&
	    errno == ENOENT);
	CU_ASSERT_FATAL(stscache_save(dir, tmp, &c) == 0);
	CU_ASSERT_FATAL(stscache_load(dir, "d.test", &back) == 0);
	CU_ASSERT(strcmp(back.id, "20240101") == 0 && back.fetched == T0);
	CU_ASSERT(back.len == c.len && memcmp(back.text, text, c.len) == 0);
	CU_ASSERT(back.policy.mode == STS_MODE_ENFORCE &&
	    back.policy.max_age == 86400 && back.policy.nmx == 1);
	stscache_clear(&back);
	/* Nothing left in tmp/ (written there, renamed out). */
	snprintf(path, sizeof(path), "%s/sts-d.test", tmp);
	CU_ASSERT(access(path, F_OK) == -1);
	/* A domain that is not a host name never reaches the disk. */
	snprintf(c.domain, sizeof(c.domain), "../d.test");
	CU_ASSERT(stscache_save(dir, tmp, &c) == -1 && errno == EINVAL);
	CU_ASSERT(stscache_load(dir, "../d.test", &back) == -1 &&
	    errno == EINVAL);
	/* A damaged entry, or one naming another domain: as none. */
	snprintf(path, sizeof(path), "%s/d.test.json", dir);
	CU_ASSERT_FATAL((fp = fopen(path, "w")) != NULL);
	fputs("{\"domain\": \"d.test\", \"id\": \"1\", \"fetched\": 5, "
	    "\"policy\": \"version: STSv1\\nmode: enforce\\n\"}", fp);
	fclose(fp);
	CU_ASSERT(stscache_load(dir, "d.test", &back) == -1 &&
	    errno == EINVAL);
	CU_ASSERT_FATAL((fp = fopen(path, "w")) != NULL);
	fputs("{\"domain\": \"e.test\", \"id\": \"1\", \"fetched\": 5, "
	    "\"policy\": \"version: STSv1\\nmode: none\\nmax_age: 5\\n\"}",
	    fp);
	fclose(fp);
	CU_ASSERT(stscache_load(dir, "d.test", &back) == -1 &&
	    errno == EINVAL);
	CU_ASSERT_FATAL((fp = fopen(path, "w")) != NULL);
	fputs("{\"domain\": \"d.test\", \"id\": \"1\", \"fetc", fp);
	fclose(fp);
	CU_ASSERT(stscache_load(dir, "d.test", &back) == -1 &&
	    errno == EINVAL);
	unlink(path);
	stscache_clear(&c);
	rmdir(dir);
	rmdir(tmp);
	rmdir(base);
}

void
tests_stscache(void)
{
	CU_pSuite	s;

	s = CU_add_suite("stscache", NULL, NULL);
	CU_add_test(s, "RFC 8461 section 5.1 decisions, with a clock",
	    test_stscache_decide);
	CU_add_test(s, "durable entries: written, read, refused",
	    test_stscache_file);
}
