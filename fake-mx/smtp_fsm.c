/*
 * smtp_fsm.c -- the per-connection SMTP state machine, as pure functions.
 *
 * \file
 * session.c does the I/O; these functions only say whether a command is
 * allowed in a state and which state follows an input (an answered
 * command, the banner, the TLS handshake, the end of a message, the relay
 * connecting, the close).  session_enter() is their only caller that
 * changes a session, so what runs is what tests/test_fsm.c tests, table by
 * table.  The state names returned by smtp_fsm_strstate() are the ones in
 * the event log ("state" and "close" events).
 */
#include "fake-mx.h"

static const char *const smtp_fsm_names[S_MAX] = {
	[S_INIT] = "init",
	[S_GREET] = "greet",
	[S_REFUSED] = "refused",
	[S_HELO] = "helo",
	[S_MAIL] = "mail",
	[S_RCPT] = "rcpt",
	[S_DATA] = "data",
	[S_TLS] = "tls",
	[S_QUIT] = "quit",
	[S_RELAY_CONNECT] = "relay-connect",
	[S_RELAY] = "relay",
	[S_CLOSED] = "closed",
};

const char *
smtp_fsm_strstate(enum session_state s)
{
	if ((int)s < 0 || s >= S_MAX)
		return "invalid";
	return smtp_fsm_names[s];
}

int
smtp_fsm_check(enum session_state s, enum smtp_verb v, int tls_active,
    int starttls_offered)
{
	switch (v) {
	case V_QUIT:
	case V_NOOP:
	case V_HELP:
		return 0;
	case V_RSET:
	case V_VRFY:
		return s == S_REFUSED ? 503 : 0;
	case V_HELO:
	case V_EHLO:
		return s == S_REFUSED ? 503 : 0;
	case V_MAIL:
		return s == S_HELO ? 0 : 503;
	case V_RCPT:
		return s == S_MAIL || s == S_RCPT ? 0 : 503;
	case V_DATA:
		return s == S_RCPT ? 0 : 503;
	case V_STARTTLS:
		if (tls_active || !starttls_offered)
			return 502;
		return s == S_HELO ? 0 : 503;
	default:
		return 500;
	}
}

/* The state after the banner: 5xx refuses, 4xx closes in init. */
static enum session_state
smtp_fsm_banner(int code)
{
	switch (code / 100) {
	case 4:
		return S_INIT;
	case 5:
		return S_REFUSED;
	default:
		return S_GREET;
	}
}

enum session_state
smtp_fsm_next(enum session_state s, enum smtp_fsm_input in, int code)
{
	int	ok = code >= 200 && code < 400;

	if (s == S_CLOSED)
		return S_CLOSED;
	switch (in) {
	case FSM_BANNER:
		return s == S_INIT ? smtp_fsm_banner(code) : s;
	case FSM_HELO:
		return ok ? S_HELO : (s == S_GREET ? S_GREET : S_HELO);
	case FSM_MAIL:
		return ok ? S_MAIL : s;
	case FSM_RCPT:
		return ok ? S_RCPT : s;
	case FSM_DATA:
		return code == 354 ? S_DATA : s;
	case FSM_RSET:
		return s == S_MAIL || s == S_RCPT ? S_HELO : s;
	case FSM_QUIT:
		return S_QUIT;
	case FSM_STARTTLS:
		return code == 220 ? S_TLS : s;
	case FSM_TLS_UP:
		/* RFC 3207 section 4.2: the client must EHLO again */
		return s == S_TLS ? S_GREET : s;
	case FSM_EOM:
		return s == S_DATA ? S_HELO : s;
	case FSM_RELAY:
		return s == S_INIT ? S_RELAY_CONNECT : s;
	case FSM_RELAY_UP:
		return s == S_RELAY_CONNECT ? S_RELAY : s;
	case FSM_CLOSE:
		return S_CLOSED;
	default:
		return s;
	}
}
