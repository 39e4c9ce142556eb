/*
 * test_rdata.c -- wire-format names, MX and TXT rdata (rdata.c).
 */
#include <stdlib.h>
#include <string.h>

#include "tests.h"

static void
test_rdata_mx(void)
{
	static const unsigned char mx[] = { 0, 10, 3, 'm', 'x', '1', 1, 'D',
	    4, 't', 'e', 's', 't', 0 };
	static const unsigned char bad[] = { 0, 10, 3, 'm', 'x' };
	static const unsigned char root[] = { 0, 0, 0 };
	static const unsigned char trailing[] = { 0, 10, 2, 'm', 'x', 0, 'x' };
	char	name[256];
	int	pref;

	CU_ASSERT(rdata_mx(mx, sizeof(mx), &pref, name,
	    sizeof(name)) == 0);
	CU_ASSERT(pref == 10 && strcmp(name, "mx1.d.test") == 0);
	CU_ASSERT(rdata_mx(bad, sizeof(bad), &pref, name,
	    sizeof(name)) == -1);
	CU_ASSERT(rdata_mx(root, sizeof(root), &pref, name,
	    sizeof(name)) == 0);
	CU_ASSERT(pref == 0 && strcmp(name, ".") == 0);
	CU_ASSERT(rdata_mx(trailing, sizeof(trailing), &pref, name,
	    sizeof(name)) == -1);
}

static void
test_rdata_txt(void)
{
	static const unsigned char two[] = { 8, 'v', '=', 'S', 'T', 'S', 'v',
	    '1', ';', 5, ' ', 'i', 'd', '=', '1' };
	static const unsigned char empty[] = { 0 };
	static const unsigned char past[] = { 3, 'a', 'b' };
	static const unsigned char nul[] = { 3, 'a', 0, 'b' };
	char	*s;

	s = rdata_txt(two, sizeof(two));
	CU_ASSERT(s != NULL && strcmp(s, "v=STSv1; id=1") == 0);
	free(s);
	s = rdata_txt(empty, sizeof(empty));
	CU_ASSERT(s != NULL && strcmp(s, "") == 0);
	free(s);
	CU_ASSERT(rdata_txt(past, sizeof(past)) == NULL);
	CU_ASSERT(rdata_txt(nul, sizeof(nul)) == NULL);
}

void
tests_rdata(void)
{
	CU_pSuite	s;

	s = CU_add_suite("rdata", NULL, NULL);
	CU_add_test(s, "MX rdata", test_rdata_mx);
	CU_add_test(s, "TXT rdata", test_rdata_txt);
}
