/*
 * test_fsm.c -- the SMTP state machine, table-driven: for each (state,
 * command, TLS active, STARTTLS offered, reply code) the refusal code of
 * smtp_fsm_check() and the next state of smtp_fsm_next().
 */
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

static const struct {
	enum session_state	 st;
	enum smtp_verb		 verb;
	int			 tls, offer;
	int			 check;	/* expected smtp_fsm_check() */
	int			 code;	/* reply code sent, if allowed */
	enum session_state	 next;
} cases[] = {
	/* greeting */
	{ S_GREET, V_EHLO, 0, 1, 0, 250, S_HELO },
	{ S_GREET, V_HELO, 0, 1, 0, 250, S_HELO },
	{ S_GREET, V_EHLO, 0, 1, 0, 550, S_GREET },
	{ S_GREET, V_MAIL, 0, 1, 503, 0, S_GREET },
	{ S_GREET, V_RCPT, 0, 1, 503, 0, S_GREET },
	{ S_GREET, V_DATA, 0, 1, 503, 0, S_GREET },
	{ S_GREET, V_STARTTLS, 0, 1, 503, 0, S_GREET },
	{ S_GREET, V_NOOP, 0, 1, 0, 250, S_GREET },
	{ S_GREET, V_RSET, 0, 1, 0, 250, S_GREET },
	{ S_GREET, V_QUIT, 0, 1, 0, 221, S_QUIT },
	/* banner was 5xx */
	{ S_REFUSED, V_EHLO, 0, 1, 503, 0, S_REFUSED },
	{ S_REFUSED, V_MAIL, 0, 1, 503, 0, S_REFUSED },
	{ S_REFUSED, V_NOOP, 0, 1, 0, 250, S_REFUSED },
	{ S_REFUSED, V_QUIT, 0, 1, 0, 221, S_QUIT },
	/* after EHLO */
	{ S_HELO, V_MAIL, 0, 1, 0, 250, S_MAIL },
	{ S_HELO, V_MAIL, 0, 1, 0, 451, S_HELO },
	{ S_HELO, V_MAIL, 0, 1, 0, 550, S_HELO },
	{ S_HELO, V_RCPT, 0, 1, 503, 0, S_HELO },
	{ S_HELO, V_DATA, 0, 1, 503, 0, S_HELO },
	{ S_HELO, V_EHLO, 0, 1, 0, 250, S_HELO },
	{ S_HELO, V_STARTTLS, 0, 1, 0, 220, S_TLS },
	{ S_HELO, V_STARTTLS, 0, 1, 0, 454, S_HELO },
	{ S_HELO, V_STARTTLS, 0, 0, 502, 0, S_HELO },	/* withheld */
	{ S_HELO, V_STARTTLS, 1, 1, 502, 0, S_HELO },	/* already TLS */
	{ S_HELO, V_RSET, 0, 1, 0, 250, S_HELO },
	/* transaction */
	{ S_MAIL, V_RCPT, 0, 1, 0, 250, S_RCPT },
	{ S_MAIL, V_RCPT, 0, 1, 0, 550, S_MAIL },
	{ S_MAIL, V_RCPT, 0, 1, 0, 452, S_MAIL },
	{ S_MAIL, V_MAIL, 0, 1, 503, 0, S_MAIL },
	{ S_MAIL, V_DATA, 0, 1, 503, 0, S_MAIL },
	{ S_MAIL, V_STARTTLS, 0, 1, 503, 0, S_MAIL },
	{ S_MAIL, V_RSET, 0, 1, 0, 250, S_HELO },
	{ S_MAIL, V_EHLO, 0, 1, 0, 250, S_HELO },
	{ S_RCPT, V_RCPT, 0, 1, 0, 250, S_RCPT },
	{ S_RCPT, V_RCPT, 0, 1, 0, 550, S_RCPT },
	{ S_RCPT, V_DATA, 0, 1, 0, 354, S_DATA },
	{ S_RCPT, V_DATA, 0, 1, 0, 451, S_RCPT },
	{ S_RCPT, V_DATA, 0, 1, 0, 554, S_RCPT },
	{ S_RCPT, V_MAIL, 0, 1, 503, 0, S_RCPT },
	{ S_RCPT, V_RSET, 0, 1, 0, 250, S_HELO },
	{ S_RCPT, V_QUIT, 0, 1, 0, 221, S_QUIT },
	/* after TLS the client must EHLO again (RFC 3207 section 4.2) */
	{ S_GREET, V_MAIL, 1, 1, 503, 0, S_GREET },
	{ S_GREET, V_EHLO, 1, 1, 0, 250, S_HELO },
	{ S_HELO, V_MAIL, 1, 1, 0, 250, S_MAIL },
	{ S_HELO, V_UNKNOWN, 0, 1, 500, 0, S_HELO },
	{ S_MAX, 0, 0, 0, 0, 0, 0 }
};

static void
test_fsm_table(void)
{
	size_t			i;
	int			r;
	enum session_state	next;

	for (i = 0; cases[i].st != S_MAX; i++) {
		r = smtp_fsm_check(cases[i].st, cases[i].verb, cases[i].tls,
		    cases[i].offer);
		CU_ASSERT_EQUAL(r, cases[i].check);
		next = r ? cases[i].st : smtp_fsm_next(cases[i].st,
		    cases[i].verb, cases[i].code);
		CU_ASSERT_EQUAL(next, cases[i].next);
		if (r != cases[i].check || next != cases[i].next)
			fprintf(stderr, "fsm case %zu (%s %s): check %d "
			    "next %s\n", i, smtp_fsm_strstate(cases[i].st),
			    smtp_strverb(cases[i].verb), r,
			    smtp_fsm_strstate(next));
	}
}

static void
test_fsm_names(void)
{
	int	i, j;

	/* every state has a distinct, non-empty name for the log */
	for (i = 0; i < S_MAX; i++) {
		CU_ASSERT_PTR_NOT_NULL(smtp_fsm_strstate(i));
		CU_ASSERT(strlen(smtp_fsm_strstate(i)) > 0);
		for (j = 0; j < i; j++)
			CU_ASSERT(strcmp(smtp_fsm_strstate(i),
			    smtp_fsm_strstate(j)) != 0);
	}
	CU_ASSERT_STRING_EQUAL(smtp_fsm_strstate(S_TLS), "tls");
	CU_ASSERT_STRING_EQUAL(smtp_fsm_strstate(S_MAX), "invalid");
}

void
test_fsm_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("smtp_fsm", NULL, NULL);
	CU_add_test(s, "transition table", test_fsm_table);
	CU_add_test(s, "state names", test_fsm_names);
}
