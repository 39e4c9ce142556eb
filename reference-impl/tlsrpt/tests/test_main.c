/*
 * test_main.c -- refsend-tlsrpt's CUnit tests, suite by suite (the runner
 * is refsend's ../../tests/cunit_run.c).  Exit status 0 only when every
 * test passed.
 */
#include "tests.h"

int
main(void)
{
	static void (*const suites[])(void) = {
		tests_config,
		tests_record,
		tests_report,
		tests_mime,
		tests_state,
		NULL
	};

	return cunit_run(suites);
}
