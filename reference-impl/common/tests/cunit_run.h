/*
 * cunit_run.h -- the CUnit runner shared by the tests of common/ (tests/),
 * refsend (../../tests/) and refsend-tlsrpt (../../tlsrpt/tests/).
 */
#ifndef CUNIT_RUN_H
#define CUNIT_RUN_H

/*
 * cunit_run() registers the suites (each function adds one, the array
 * ends with NULL), runs every test verbosely and returns main()'s exit
 * status: 0 when every test passed, 1 when one failed, 2 when CUnit could
 * not start.
 */
int	cunit_run(void (*const [])(void));

#endif /* CUNIT_RUN_H */
