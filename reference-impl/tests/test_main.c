/*
 * test_main.c -- refsend's CUnit runner.  Exit status 0 only when every
 * test passed.
 */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "tests.h"

int
main(void)
{
	unsigned int	failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	tests_common();
	tests_tlsa();
	tests_config();
	tests_policy();
	tests_dane();
	tests_mta();
	tests_queue();
	tests_dsn();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
