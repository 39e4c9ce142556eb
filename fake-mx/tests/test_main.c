/*
 * test_main.c -- runs every CUnit suite of fake-mx; exit 1 on failure.
 */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "fake-mx.h"
#include "tests.h"

struct fakemx	fakemx;		/* session.c refers to it */

int
main(void)
{
	unsigned int	failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	test_parse_suite();
	test_reply_suite();
	test_config_suite();
	test_fsm_suite();
	test_tls_suite();
	test_spool_suite();
	test_events_suite();
	test_relay_suite();
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_tests_failed();
	printf("\nfake-mx CUnit: %u tests run, %u asserts, %u failures\n",
	    CU_get_number_of_tests_run(), CU_get_number_of_asserts(),
	    CU_get_number_of_failures());
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
