/*
 * test_main.c -- refsend-tlsrpt's CUnit tests, suite by suite (the runner
 * is ../../common/tests/cunit_run.c).  Exit status 0 only when every
 * test passed.
 */
#include "tests.h"

int
main(void)
{
	static void (*const suites[])(void) = {
		tests_config,
		tests_dns,
		tests_pending,
		tests_record,
		tests_https,
		tests_agg,
		tests_report,
		tests_gz,
		tests_mime,
		tests_sign,
		tests_state,
		NULL
	};

	return cunit_run(suites);
}
