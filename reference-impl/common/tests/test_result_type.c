/*
 * test_result_type.c -- the RFC 8460 result types (result_type.c,
 * result_types.def): names and their inverse.
 */
#include <stdio.h>
#include <string.h>

#include "tests.h"

static void
test_result_type_names(void)
{
	char	copy[64];
	int	t;

	CU_ASSERT_EQUAL(RESULT_TYPE_COUNT, 11);
	CU_ASSERT_STRING_EQUAL(result_type_name(0), "starttls-not-supported");
	CU_ASSERT_STRING_EQUAL(result_type_name(RESULT_TYPE_COUNT - 1),
	    "sts-webpki-invalid");
	CU_ASSERT_STRING_EQUAL(RT(DANE_REQUIRED), "dane-required");
	CU_ASSERT_PTR_EQUAL(RT(TLSA_INVALID),
	    result_type_name(RESULT_TYPE_TLSA_INVALID));
	for (t = 0; t < RESULT_TYPE_COUNT; t++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(result_type_name(t));
		snprintf(copy, sizeof(copy), "%s", result_type_name(t));
		CU_ASSERT_EQUAL(result_type_from_name(copy), t);
	}
	CU_ASSERT_PTR_NULL(result_type_name(RESULT_TYPE_NONE));
	CU_ASSERT_PTR_NULL(result_type_name(RESULT_TYPE_COUNT));
}

static void
test_result_type_unknown(void)
{
	CU_ASSERT_EQUAL(result_type_from_name(NULL), RESULT_TYPE_NONE);
	CU_ASSERT_EQUAL(result_type_from_name(""), RESULT_TYPE_NONE);
	/* Reasons refsend gives that are not TLS matters. */
	CU_ASSERT_EQUAL(result_type_from_name("connect-failed"),
	    RESULT_TYPE_NONE);
	CU_ASSERT_EQUAL(result_type_from_name("smtp"), RESULT_TYPE_NONE);
	/* Exact strings only. */
	CU_ASSERT_EQUAL(result_type_from_name("Validation-Failure"),
	    RESULT_TYPE_NONE);
	CU_ASSERT_EQUAL(result_type_from_name("tlsa-invalid "),
	    RESULT_TYPE_NONE);
}

void
tests_result_type(void)
{
	CU_pSuite	s;

	s = CU_add_suite("result_type", NULL, NULL);
	CU_add_test(s, "names, in order, and back", test_result_type_names);
	CU_add_test(s, "what is not a result type", test_result_type_unknown);
}
