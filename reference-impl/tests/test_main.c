/*
 * test_main.c -- refsend's CUnit tests, suite by suite (the runner is
 * ../common/tests/cunit_run.c).  Exit status 0 only when every test passed.
 */
#include <signal.h>

#include "tests.h"

int
main(void)
{
	static void (*const suites[])(void) = {
		tests_dns,
		tests_tlsa,
		tests_config,
		tests_policy,
		tests_sts,
		tests_stscache,
		tests_stsflow,
		tests_dane,
		tests_mta,
		tests_deliver,
		tests_queue,
		tests_dsn,
		NULL
	};

	/* As refsend's main(): a peer that hangs up is an event, not a
	 * signal that kills the process. */
	signal(SIGPIPE, SIG_IGN);
	return cunit_run(suites);
}
