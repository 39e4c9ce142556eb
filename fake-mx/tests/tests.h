/*
 * tests.h -- CUnit suites of fake-mx; each test_*.c adds one suite.
 */
#ifndef FAKE_MX_TESTS_H
#define FAKE_MX_TESTS_H

#include <CUnit/CUnit.h>

void	test_parse_suite(void);
void	test_reply_suite(void);
void	test_config_suite(void);
void	test_fsm_suite(void);
void	test_tls_suite(void);
void	test_spool_suite(void);
void	test_events_suite(void);
void	test_relay_suite(void);

#endif
