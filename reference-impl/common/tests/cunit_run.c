/*
 * cunit_run.c -- the CUnit runner of the unit tests of common/, refsend and
 * refsend-tlsrpt (cunit_run.h).
 */
#include <stddef.h>

#include <CUnit/Basic.h>

#include "cunit_run.h"

int
cunit_run(void (*const suites[])(void))
{
	unsigned int	failed;
	size_t		i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (i = 0; suites[i] != NULL; i++)
		suites[i]();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
