/*
 * test_spool.c -- spool files: temporary name, commit, removal.
 */
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

void
test_spool_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("spool", NULL, NULL);
	CU_add_test(s, "spool file cycle", test_spool_cycle);
}
