/*
 * test_fsm.c -- the SMTP state machine, table-driven: for each (state,
 * command, TLS active, STARTTLS offered) the refusal code of
 * smtp_fsm_check(), and for each (state, input, reply code) the next state
 * of smtp_fsm_next(), the function session_enter() moves every session by.
 */
#include <string.h>

#include "fake-mx.h"
#include "tests.h"

static const struct {
	enum session_state	 st;
	enum smtp_verb		 verb;
	int			 tls, offer;
	int			 check;	/* expected smtp_fsm_check() */
} checks[] = {
	/* greeting */
	{ S_GREET, V_EHLO, 0, 1, 0 },
	{ S_GREET, V_HELO, 0, 1, 0 },
	{ S_GREET, V_MAIL, 0, 1, 503 },
	{ S_GREET, V_RCPT, 0, 1, 503 },
	{ S_GREET, V_DATA, 0, 1, 503 },
	{ S_GREET, V_STARTTLS, 0, 1, 503 },
	{ S_GREET, V_NOOP, 0, 1, 0 },
	{ S_GREET, V_RSET, 0, 1, 0 },
	{ S_GREET, V_QUIT, 0, 1, 0 },
	/* banner was 5xx: QUIT, NOOP and HELP only */
	{ S_REFUSED, V_EHLO, 0, 1, 503 },
	{ S_REFUSED, V_HELO, 0, 1, 503 },
	{ S_REFUSED, V_MAIL, 0, 1, 503 },
	{ S_REFUSED, V_RSET, 0, 1, 503 },
	{ S_REFUSED, V_VRFY, 0, 1, 503 },
	{ S_REFUSED, V_STARTTLS, 0, 1, 503 },
	{ S_REFUSED, V_NOOP, 0, 1, 0 },
	{ S_REFUSED, V_HELP, 0, 1, 0 },
	{ S_REFUSED, V_QUIT, 0, 1, 0 },
	/* after EHLO */
	{ S_HELO, V_MAIL, 0, 1, 0 },
	{ S_HELO, V_RCPT, 0, 1, 503 },
	{ S_HELO, V_DATA, 0, 1, 503 },
	{ S_HELO, V_EHLO, 0, 1, 0 },
	{ S_HELO, V_STARTTLS, 0, 1, 0 },
	{ S_HELO, V_STARTTLS, 0, 0, 502 },	/* withheld */
	{ S_HELO, V_STARTTLS, 1, 1, 502 },	/* already TLS */
	{ S_HELO, V_RSET, 0, 1, 0 },
	{ S_HELO, V_VRFY, 0, 1, 0 },
	{ S_HELO, V_UNKNOWN, 0, 1, 500 },
	/* transaction */
	{ S_MAIL, V_RCPT, 0, 1, 0 },
	{ S_MAIL, V_MAIL, 0, 1, 503 },
	{ S_MAIL, V_DATA, 0, 1, 503 },
	{ S_MAIL, V_STARTTLS, 0, 1, 503 },
	{ S_MAIL, V_RSET, 0, 1, 0 },
	{ S_MAIL, V_EHLO, 0, 1, 0 },
	{ S_RCPT, V_RCPT, 0, 1, 0 },
	{ S_RCPT, V_DATA, 0, 1, 0 },
	{ S_RCPT, V_MAIL, 0, 1, 503 },
	{ S_RCPT, V_RSET, 0, 1, 0 },
	{ S_RCPT, V_QUIT, 0, 1, 0 },
	/* after TLS the client must EHLO again (RFC 3207 section 4.2) */
	{ S_GREET, V_MAIL, 1, 1, 503 },
	{ S_GREET, V_EHLO, 1, 1, 0 },
	{ S_HELO, V_MAIL, 1, 1, 0 },
	{ S_MAX, 0, 0, 0, 0 }
};

static const struct {
	enum session_state	 st;
	enum smtp_fsm_input	 in;
	int			 code;	/* reply code sent, 0 if none */
	enum session_state	 next;
} moves[] = {
	/* the banner decides: 2xx greet, 5xx refused, 4xx stays (closes) */
	{ S_INIT, FSM_BANNER, 220, S_GREET },
	{ S_INIT, FSM_BANNER, 554, S_REFUSED },
	{ S_INIT, FSM_BANNER, 421, S_INIT },
	{ S_GREET, FSM_BANNER, 554, S_GREET },	/* only once, from init */
	/* greeting */
	{ S_GREET, FSM_HELO, 250, S_HELO },
	{ S_GREET, FSM_HELO, 550, S_GREET },
	{ S_GREET, FSM_RSET, 250, S_GREET },
	{ S_GREET, FSM_QUIT, 221, S_QUIT },
	{ S_REFUSED, FSM_QUIT, 221, S_QUIT },
	/* after EHLO */
	{ S_HELO, FSM_MAIL, 250, S_MAIL },
	{ S_HELO, FSM_MAIL, 451, S_HELO },
	{ S_HELO, FSM_MAIL, 550, S_HELO },
	{ S_HELO, FSM_HELO, 250, S_HELO },
	{ S_HELO, FSM_HELO, 550, S_HELO },
	{ S_HELO, FSM_RSET, 250, S_HELO },
	{ S_HELO, FSM_STARTTLS, 220, S_TLS },
	{ S_HELO, FSM_STARTTLS, 454, S_HELO },
	/* transaction */
	{ S_MAIL, FSM_RCPT, 250, S_RCPT },
	{ S_MAIL, FSM_RCPT, 550, S_MAIL },
	{ S_MAIL, FSM_RCPT, 452, S_MAIL },
	{ S_MAIL, FSM_RSET, 250, S_HELO },
	{ S_MAIL, FSM_HELO, 250, S_HELO },
	{ S_MAIL, FSM_HELO, 550, S_HELO },	/* EHLO resets anyway */
	{ S_RCPT, FSM_RCPT, 250, S_RCPT },
	{ S_RCPT, FSM_RCPT, 550, S_RCPT },
	{ S_RCPT, FSM_DATA, 354, S_DATA },
	{ S_RCPT, FSM_DATA, 451, S_RCPT },
	{ S_RCPT, FSM_DATA, 554, S_RCPT },
	{ S_RCPT, FSM_RSET, 250, S_HELO },
	{ S_RCPT, FSM_QUIT, 221, S_QUIT },
	/* the end of a message, accepted or not, ends the transaction */
	{ S_DATA, FSM_EOM, 250, S_HELO },
	{ S_DATA, FSM_EOM, 451, S_HELO },
	{ S_DATA, FSM_EOM, 554, S_HELO },
	{ S_HELO, FSM_EOM, 250, S_HELO },
	/* a completed handshake starts over at the greeting */
	{ S_TLS, FSM_TLS_UP, 0, S_GREET },
	{ S_HELO, FSM_TLS_UP, 0, S_HELO },
	/* strip-relay */
	{ S_INIT, FSM_RELAY, 0, S_RELAY_CONNECT },
	{ S_RELAY_CONNECT, FSM_RELAY_UP, 0, S_RELAY },
	{ S_GREET, FSM_RELAY, 0, S_GREET },
	{ S_INIT, FSM_RELAY_UP, 0, S_INIT },
	/* closing, from anywhere; nothing moves a closed session */
	{ S_INIT, FSM_CLOSE, 0, S_CLOSED },
	{ S_GREET, FSM_CLOSE, 0, S_CLOSED },
	{ S_DATA, FSM_CLOSE, 0, S_CLOSED },
	{ S_TLS, FSM_CLOSE, 0, S_CLOSED },
	{ S_QUIT, FSM_CLOSE, 0, S_CLOSED },
	{ S_RELAY, FSM_CLOSE, 0, S_CLOSED },
	{ S_CLOSED, FSM_QUIT, 221, S_CLOSED },
	{ S_CLOSED, FSM_BANNER, 220, S_CLOSED },
	{ S_MAX, 0, 0, 0 }
};

static void
test_fsm_check(void)
{
	size_t	i;
	int	r;

	for (i = 0; checks[i].st != S_MAX; i++) {
		r = smtp_fsm_check(checks[i].st, checks[i].verb, checks[i].tls,
		    checks[i].offer);
		CU_ASSERT_EQUAL(r, checks[i].check);
		if (r != checks[i].check)
			fprintf(stderr, "fsm check %zu (%s %s): %d\n", i,
			    smtp_fsm_strstate(checks[i].st),
			    smtp_strverb(checks[i].verb), r);
	}
}

static void
test_fsm_next(void)
{
	size_t			i;
	enum session_state	next;

	for (i = 0; moves[i].st != S_MAX; i++) {
		next = smtp_fsm_next(moves[i].st, moves[i].in, moves[i].code);
		CU_ASSERT_EQUAL(next, moves[i].next);
		if (next != moves[i].next)
			fprintf(stderr, "fsm move %zu (%s, input %d, %d): %s\n",
			    i, smtp_fsm_strstate(moves[i].st), moves[i].in,
			    moves[i].code, smtp_fsm_strstate(next));
	}
}

/* Every (state, input) gives a state; only FSM_CLOSE reaches closed. */
static void
test_fsm_total(void)
{
	static const int	codes[] = { 0, 220, 221, 250, 354, 421, 454,
	    554 };
	enum session_state	next;
	size_t			c;
	int			s, in;

	for (s = 0; s < S_MAX; s++)
		for (in = 0; in < FSM_MAX; in++)
			for (c = 0; c < sizeof(codes) / sizeof(codes[0]);
			    c++) {
				next = smtp_fsm_next(s, in, codes[c]);
				CU_ASSERT(next < S_MAX);
				CU_ASSERT((next == S_CLOSED) ==
				    (in == FSM_CLOSE || s == S_CLOSED));
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
	CU_add_test(s, "command check table", test_fsm_check);
	CU_add_test(s, "transition table", test_fsm_next);
	CU_add_test(s, "every input gives a state", test_fsm_total);
	CU_add_test(s, "state names", test_fsm_names);
}
