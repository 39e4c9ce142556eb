/*
 * test_deliver.c -- one delivery attempt (deliver.c): the enhanced status
 * code taken from an SMTP reply.
 */
#include <string.h>

#include "tests.h"

static void
test_deliver_status_of_reply(void)
{
	char	b[16];

	CU_ASSERT(strcmp(deliver_status_of_reply(550, "550 5.1.1 no", b,
	    sizeof(b)), "5.1.1") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(450, "450 try later", b,
	    sizeof(b)), "4.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(451, "451 5.1.1 mixed", b,
	    sizeof(b)), "4.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(250, "250 2.0.0", b,
	    sizeof(b)), "2.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(0, NULL, b, sizeof(b)),
	    "4.0.0") == 0);
	/* RFC 3463 has classes 2, 4 and 5 only, and digits only. */
	CU_ASSERT(strcmp(deliver_status_of_reply(355, "355 go on", b,
	    sizeof(b)), "4.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(550, "550 5.-1.-2 no", b,
	    sizeof(b)), "5.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(550, "550  5. 1.1 no", b,
	    sizeof(b)), "5.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(550, "550 5.1234.1 no", b,
	    sizeof(b)), "5.0.0") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(550, "550 5.1.1", b,
	    sizeof(b)), "5.1.1") == 0);
	CU_ASSERT(strcmp(deliver_status_of_reply(421, "421 4.7.0\tclosing",
	    b, sizeof(b)), "4.0.0") == 0);
}

void
tests_deliver(void)
{
	CU_pSuite	s;

	s = CU_add_suite("deliver", NULL, NULL);
	CU_add_test(s, "status code of a reply",
	    test_deliver_status_of_reply);
}
