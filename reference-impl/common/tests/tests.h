/*
 * tests.h -- declarations of the CUnit tests of the shared code
 * (../common.h).  They need no network.
 */
#ifndef TESTS_H
#define TESTS_H

#include <CUnit/CUnit.h>

#include "common.h"
#include "cunit_run.h"

void	tests_common(void);
void	tests_rdata(void);
void	tests_reply(void);
void	tests_result_type(void);

#endif
