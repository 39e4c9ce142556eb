/*
 * test_main.c -- the CUnit tests of the code refsend and refsend-tlsrpt
 * share, suite by suite (the runner is cunit_run.c).  Exit status 0 only
 * when every test passed.
 */
#include "tests.h"

int
main(void)
{
	static void (*const suites[])(void) = {
		tests_common,
		tests_rdata,
		tests_reply,
		tests_result_type,
		NULL
	};

	return cunit_run(suites);
}
