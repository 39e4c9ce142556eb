/*
 * smtp_fsm.c -- the per-connection SMTP state machine, as pure functions.
 *
 * \file
 * session.c does the I/O; these functions only say whether a command is
 * allowed in a state and which state follows.  The state names returned
 * by smtp_fsm_strstate() are the ones in the event log ("state" and
 * "close" events).  Tested table-driven in tests/test_fsm.c.
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

enum session_state
smtp_fsm_next(enum session_state s, enum smtp_verb v, int code)
{
	int	ok = code >= 200 && code < 400;

	switch (v) {
	case V_QUIT:
		return S_QUIT;
	case V_HELO:
	case V_EHLO:
		return ok ? S_HELO : (s == S_GREET ? S_GREET : S_HELO);
	case V_RSET:
		return s == S_MAIL || s == S_RCPT ? S_HELO : s;
	case V_MAIL:
		return ok ? S_MAIL : s;
	case V_RCPT:
		return ok ? S_RCPT : s;
	case V_DATA:
		return code == 354 ? S_DATA : s;
	case V_STARTTLS:
		return code == 220 ? S_TLS : s;
	default:
		return s;
	}
}
