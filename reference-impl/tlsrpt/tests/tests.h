/*
 * tests.h -- refsend-tlsrpt's CUnit tests.  They need no network: the
 * parser, aggregator, report, gzip and MIME builders are pure functions,
 * fed with canned data (refsend events written as JSON lines here).
 * Golden files live in golden/ (the runner is started from tests/).
 */
#ifndef TESTS_H
#define TESTS_H

#include <CUnit/CUnit.h>

#include "tlsrpt.h"
#include "../../tests/cunit_run.h"

void	tests_config(void);
void	tests_record(void);
void	tests_report(void);
void	tests_mime(void);
void	tests_state(void);

#endif /* TESTS_H */
