/*
 * test_pending.c -- deliveries waiting for a retry (pending.c): when the
 * next try falls, and when the reporter gives up.
 */
#include "tests.h"

static void
test_pending_next(void)
{
	struct config	*c;
	char		 err[512];

	c = test_config_load(CONF_BASE "retry_schedule = 10,100\n"
	    "retry_give_up = 300\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* After the 1st attempt 10 s, after the 2nd 100 s, then 100 s. */
	CU_ASSERT_EQUAL(pending_next(c, 1000, 1, 1000), 1010);
	CU_ASSERT_EQUAL(pending_next(c, 1000, 2, 1010), 1110);
	CU_ASSERT_EQUAL(pending_next(c, 1000, 3, 1110), 1210);
	/* 1310 would be past first try + 300: give up. */
	CU_ASSERT_EQUAL(pending_next(c, 1000, 4, 1210), -1);
	config_free(c);
}

void
tests_pending(void)
{
	CU_pSuite	s;

	s = CU_add_suite("pending", NULL, NULL);
	CU_add_test(s, "retry schedule and giving up", test_pending_next);
}
