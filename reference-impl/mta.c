/*
 * mta.c -- one SMTP client session (RFC 5321, STARTTLS per RFC 3207), as an
 * explicit state machine.  Every state has a name (mta_strstate()) that
 * appears in the logs and in the "session" event.
 *
 *   INIT -> CONNECT -> BANNER -> EHLO -+-> STARTTLS -> HANDSHAKE -> EHLO_TLS -+
 *                                 |   '----------- (may: no STARTTLS) -------+
 *                                 '-> HELO (may only) -----------------------+
 *                                                                            v
 *                        DONE <- QUIT <- BODY <- DATA <- RCPT <- ........ MAIL
 *
 * mta_enter_state() is the only code that changes the state: it logs the
 * transition and sends what the new state starts with.  A reply is handled
 * by the mta_reply_*() function of the state that sent the command.  A
 * failure (mta_fail()) is recorded with the state the session is in, so
 * the "session" event says where it failed: a certificate that does not
 * match the TLSA records fails in "handshake", a refused STARTTLS in
 * "starttls".  It then goes to QUIT when a command can still be sent (over
 * TLS after a completed handshake), else straight to DONE, which is final:
 * the session event is written and done() is called from the event loop.
 *
 * Once the server has given its final reply to the message (or refused
 * every recipient), the transaction's result is settled: par.settled() is
 * called right then, before QUIT, so that the caller can record it, and
 * nothing that happens afterwards (a bad QUIT reply, a timeout, a lost
 * connection, a signal) changes it.  The caller may hold the session
 * there (its record waits for an fsync shared with other sessions): no
 * command is sent and no reply read until mta_resume().
 *
 * Deadlines (RFC 5321 section 4.5.3.2 timeouts are per command): each
 * command has command_timeout seconds for its whole reply, counted from
 * the moment it is sent (for the message, from the moment its last byte
 * has gone), and not restarted by each byte that arrives, so a server
 * that drips its reply or never ends a multiline one is given up on in
 * time; connect_timeout and tls_timeout bound the connection and the
 * handshake the same way; session_timeout bounds the whole session.  A
 * deadline ends the session at once, without QUIT.
 *
 * Replies are parsed by reply_parse() (common/reply.c), which does no
 * I/O.  Text from the server is made safe (log_safe())
 * before it goes into a log line, an event or a DSN.
 *
 * Each session has an id (mta_id(), 16 hex digits) that starts every
 * diagnostic line it writes ("ID mta state from=ehlo to=starttls") and is
 * the "session" field of its events.
 *
 * The rules that make it a DANE client (RFC 7672 section 2.2 and 3):
 *  - in modes dane and encrypt, no STARTTLS (or a refusal) ends the session
 *    before any mail command: nothing is ever sent in cleartext;
 *  - after the handshake, dane_verdict() decides; a failed check ends the
 *    session with QUIT (over TLS) and the host is not used;
 *  - a TLS failure is never retried in cleartext on the same host.
 * Any failure here is a host failure (try the next one) unless the server
 * says 5xx to the transaction itself.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "refsend.h"

enum mta_state {
	MTA_INIT = 0,
	MTA_CONNECT,
	MTA_BANNER,
	MTA_EHLO,
	MTA_HELO,
	MTA_STARTTLS,
	MTA_HANDSHAKE,
	MTA_EHLO_TLS,
	MTA_MAIL,
	MTA_RCPT,
	MTA_DATA,
	MTA_BODY,
	MTA_QUIT,
	MTA_DONE
};

struct mta_session {
	char			 id[17];	/* mta_id() */
	struct mta_params	 par;
	struct mta_rcpt		*rcpts;
	size_t			 nrcpts;
	size_t			 rcptidx;
	size_t			 naccepted;
	enum mta_state		 state;
	enum host_mode		 mode;
	struct bufferevent	*bev;
	SSL			*ssl;
	int			 starttls_offered;
	int			 ssl_started;
	struct reply		 rp;		/* the reply being read */
	char			 reply[REPLY_MAXTEXT];	/* last complete */
	int			 code;
	struct mta_result	 res;
	enum mta_state		 failed_in;
	int			 failed;
	int			 settled;	/* par.settled() called */
	int			 paused;	/* until mta_resume() */
	int			 body_sent;	/* BODY: last byte written */
	const char		*tls_version;
	const char		*cipher;
	struct event		*ev_deadline;	/* this step's deadline */
	int			 deadline_secs;
	struct event		*ev_session;	/* session_timeout */
	struct event		*ev_done;
	void			(*done)(void *, struct mta_session *,
				    struct mta_result *);
	void			*arg;
};

static void	mta_read(struct bufferevent *, void *);
static void	mta_written(struct bufferevent *, void *);
static void	mta_event(struct bufferevent *, short, void *);
static void	mta_enter_state(struct mta_session *, enum mta_state);
static void	mta_connect(struct mta_session *);
static void	mta_finish(struct mta_session *);

static const char *
mta_strstate(enum mta_state s)
{
	switch (s) {
	case MTA_INIT:		return "init";
	case MTA_CONNECT:	return "connect";
	case MTA_BANNER:	return "banner";
	case MTA_EHLO:		return "ehlo";
	case MTA_HELO:		return "helo";
	case MTA_STARTTLS:	return "starttls";
	case MTA_HANDSHAKE:	return "handshake";
	case MTA_EHLO_TLS:	return "ehlo-tls";
	case MTA_MAIL:		return "mail";
	case MTA_RCPT:		return "rcpt";
	case MTA_DATA:		return "data";
	case MTA_BODY:		return "body";
	case MTA_QUIT:		return "quit";
	case MTA_DONE:		return "done";
	}
	return "?";
}

/*
 * A new session id, 16 hex digits: 32 random bits drawn once per process,
 * then a counter, so that no two sessions of a process share an id and
 * two processes appending to one event log hardly ever do.
 */
static void
mta_newid(char *buf, size_t len)
{
	static uint32_t	prefix, count;

	if (count == 0)
		prefix = arc4random();
	count++;
	snprintf(buf, len, "%08" PRIx32 "%08" PRIx32, prefix, count);
}

/* A diagnostic line (refsend -v): "ID mta WHAT key=value ...". */
static void __attribute__((format(printf, 2, 3)))
mta_log(const struct mta_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("out of memory (vasprintf)");
	va_end(ap);
	log_info("%s mta %s", s->id, msg);
	free(msg);
}

static const char *
mta_outcome_name(enum mta_outcome o)
{
	switch (o) {
	case MTA_OK:		return "ok";
	case MTA_HOSTFAIL:	return "host-failed";
	case MTA_PERMFAIL:	return "permanent-failure";
	}
	return "?";
}

/*
 * The deadline of the step under way (connect, a reply, the handshake):
 * secs from now, replacing the previous one.  Fixed once set: bytes that
 * arrive do not move it.
 */
static void
mta_deadline(struct mta_session *s, int secs)
{
	struct timeval	tv = { secs, 0 };

	s->deadline_secs = secs;
	if (evtimer_add(s->ev_deadline, &tv) == -1)
		fatalx("cannot arm a timer");
}

/* One command line; its reply is due within command_timeout. */
static void
mta_send(struct mta_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(s->bev), fmt, ap)
	    == -1)
		fatalx("out of memory (evbuffer)");
	va_end(ap);
	evbuffer_add(bufferevent_get_output(s->bev), "\r\n", 2);
	mta_deadline(s, s->par.command_timeout);
}

/*
 * 1 when QUIT can be sent: a dialogue is under way, and not in the middle
 * of the TLS handshake (once it has completed, QUIT goes over TLS).
 */
static int
mta_can_quit(const struct mta_session *s)
{
	if (s->bev == NULL)
		return 0;
	switch (s->state) {
	case MTA_BANNER:
	case MTA_EHLO:
	case MTA_HELO:
	case MTA_STARTTLS:
	case MTA_EHLO_TLS:
	case MTA_MAIL:
	case MTA_RCPT:
	case MTA_DATA:
		return 1;
	case MTA_HANDSHAKE:
		return s->res.tls;
	default:
		return 0;
	}
}

/*
 * Record why the session failed, once (the first cause wins), in the state
 * it is in, then leave: politely with QUIT when the dialogue allows it.
 * In QUIT the session's result is already settled (a failure, or the
 * transaction's result): what goes wrong there is logged and changes
 * nothing.
 */
static void
mta_fail(struct mta_session *s, enum mta_outcome o, const char *reason,
    const char *dsn, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (s->state == MTA_QUIT || s->settled) {
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) == -1)
			fatalx("out of memory (vasprintf)");
		va_end(ap);
		mta_log(s, "quit ignored=%s detail=\"%s\"", reason, msg);
		free(msg);
		mta_enter_state(s, MTA_DONE);
		return;
	}
	if (!s->failed) {
		s->failed = 1;
		s->failed_in = s->state;
		s->res.outcome = o;
		s->res.reason = reason;
		s->res.dsn = dsn;
		free(s->res.detail);
		va_start(ap, fmt);
		if (vasprintf(&s->res.detail, fmt, ap) == -1)
			fatalx("out of memory (vasprintf)");
		va_end(ap);
	}
	mta_enter_state(s, mta_can_quit(s) ? MTA_QUIT : MTA_DONE);
}

static const char *
mta_reply_status(struct mta_session *s)
{
	return deliver_status_of_reply(s->code, s->reply, s->res.dsnbuf,
	    sizeof(s->res.dsnbuf));
}

static void
mta_fail_reply(struct mta_session *s, enum mta_outcome o)
{
	mta_fail(s, o, "smtp", mta_reply_status(s), "%s answered in state "
	    "%s: %s", s->par.host, mta_strstate(s->state), s->reply);
}

static int
mta_tls_required(const struct mta_session *s)
{
	return s->mode == HOST_DANE || s->mode == HOST_ENCRYPT ||
	    s->mode == HOST_STS;
}

static void
mta_handshake_start(struct mta_session *s)
{
	struct bufferevent	*tls;
	size_t			 added = 0;
	const char		*sni;

	sni = s->par.tlsa_base ? s->par.tlsa_base : s->par.host;
	s->ssl_started = 1;
	/* MTA-STS testing: an opportunistic session whose certificate is
	 * judged (PKIX) all the same, for the report. */
	s->ssl = dane_ssl_new(s->par.ssl_ctx, s->mode == HOST_MAY &&
	    s->par.sts_check ? HOST_STS : s->mode, sni, s->par.host,
	    s->par.nexthop, s->par.tlsa, s->par.ntlsa, &added, s->id);
	if (s->ssl == NULL)
		fatalx("cannot set up a TLS session (out of memory?)");
	if (s->mode == HOST_DANE && added == 0) {
		/* OpenSSL refused every record we thought usable: the
		 * RRset is, in effect, all unusable (RFC 7672 2.2). */
		mta_log(s, "tls mode=encrypt reason=no-tlsa-record-accepted "
		    "host=%s", s->par.host);
		s->mode = HOST_ENCRYPT;
	}
	bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	tls = bufferevent_openssl_filter_new(s->par.base, s->bev, s->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL)
		fatalx("bufferevent_openssl_filter_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	bufferevent_setcb(s->bev, mta_read, mta_written, mta_event, s);
	mta_deadline(s, s->par.tls_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
mta_handshake_done(struct mta_session *s)
{
	s->res.tls = 1;
	s->tls_version = SSL_get_version(s->ssl);
	s->cipher = SSL_get_cipher_name(s->ssl);
	if (s->par.sts_check) {
		dane_verdict(s->ssl, HOST_STS, &s->res.sts);
		if (s->res.sts.ok && s->par.sts_mismatch) {
			s->res.sts.ok = 0;
			s->res.sts.result_type = RT(VALIDATION_FAILURE);
			free(s->res.sts.detail);
			xasprintf(&s->res.sts.detail, "MTA-STS: %s matches no "
			    "mx pattern of the policy", s->par.host);
		}
		if (!s->res.sts.ok)
			mta_log(s, "sts testing result_type=%s (delivering "
			    "all the same)", s->res.sts.result_type);
	}
	dane_verdict(s->ssl, s->mode, &s->res.dane);
	if (!s->res.dane.ok) {
		/* Reported in the handshake state; QUIT goes over TLS. */
		mta_fail(s, MTA_HOSTFAIL, s->res.dane.result_type, "4.7.5",
		    "%s", s->res.dane.detail);
		return;
	}
	if (s->mode == HOST_STS && s->par.sts_mismatch) {
		/* MTA-STS enforce: no mail for a host outside the policy. */
		mta_fail(s, MTA_HOSTFAIL, RT(VALIDATION_FAILURE), "4.7.5",
		    "MTA-STS: %s matches no mx pattern of the policy",
		    s->par.host);
		return;
	}
	mta_enter_state(s, MTA_EHLO_TLS);
}

static void
mta_send_body(struct mta_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	const char	*p = s->par.data, *end = p + s->par.len, *nl;

	/* Dot-stuffing (RFC 5321 section 4.5.2); the queue holds CRLF
	 * text that ends with CRLF. */
	while (p < end) {
		if (*p == '.')
			evbuffer_add(out, ".", 1);
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl ? nl + 1 : end;
		evbuffer_add(out, p, (size_t)(nl - p));
		p = nl;
	}
	if (s->par.len > 0 && s->par.data[s->par.len - 1] != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	/* To send it; mta_written() starts the wait for the reply. */
	s->body_sent = 0;
	mta_deadline(s, s->par.command_timeout);
}

/*
 * The one place where the state changes: it logs the transition, then does
 * what the new state starts with.  DONE is final: once there, no transition
 * happens any more.
 */
static void
mta_enter_state(struct mta_session *s, enum mta_state next)
{
	if (s->state == MTA_DONE)
		return;
	mta_log(s, "state from=%s to=%s", mta_strstate(s->state),
	    mta_strstate(next));
	s->state = next;
	switch (next) {
	case MTA_CONNECT:
		mta_connect(s);
		break;
	case MTA_EHLO:
	case MTA_EHLO_TLS:
		s->starttls_offered = 0;
		mta_send(s, "EHLO %s", s->par.helo);
		break;
	case MTA_HELO:
		mta_send(s, "HELO %s", s->par.helo);
		break;
	case MTA_STARTTLS:
		mta_send(s, "STARTTLS");
		break;
	case MTA_HANDSHAKE:
		mta_handshake_start(s);
		break;
	case MTA_MAIL:
		mta_send(s, "MAIL FROM:<%s>", s->par.from);
		break;
	case MTA_RCPT:
		mta_send(s, "RCPT TO:<%s>", s->rcpts[s->rcptidx].addr);
		break;
	case MTA_DATA:
		mta_send(s, "DATA");
		break;
	case MTA_BODY:
		mta_send_body(s);
		break;
	case MTA_QUIT:
		mta_send(s, "QUIT");
		break;
	case MTA_DONE:
		mta_finish(s);
		break;
	default:
		break;
	}
}

/*
 * The transaction has its result (every recipient refused, or the final
 * reply to the message): the caller hears it now, before QUIT.
 */
static void
mta_settle(struct mta_session *s)
{
	s->res.outcome = MTA_OK;
	s->settled = 1;
	if (s->par.settled != NULL && s->par.settled(s->arg, s, &s->res)) {
		s->paused = 1;		/* until mta_resume() */
		return;
	}
	mta_enter_state(s, MTA_QUIT);
}

void
mta_resume(struct mta_session *s)
{
	if (!s->paused)
		return;
	s->paused = 0;
	if (s->state == MTA_DONE)
		return;
	mta_enter_state(s, MTA_QUIT);
	/* what the server sent meanwhile is read in QUIT, as it would be */
	if (s->bev != NULL)
		mta_read(s->bev, s);
}

/*
 * The reply handlers, one per state that sends a command: each reads
 * s->code and s->reply and moves the session on (mta_enter_state) or ends
 * it (mta_fail).
 */
static int
mta_reply_ok(const struct mta_session *s)
{
	return s->code / 100 == 2;
}

static void
mta_reply_banner(struct mta_session *s)
{
	if (!mta_reply_ok(s))
		mta_fail_reply(s, MTA_HOSTFAIL);
	else
		mta_enter_state(s, MTA_EHLO);
}

/* EHLO in the clear: STARTTLS if offered; without it, cleartext only
 * when TLS is not required, HELO when EHLO is refused. */
static void
mta_reply_ehlo(struct mta_session *s)
{
	if (!mta_reply_ok(s)) {
		if (mta_tls_required(s))
			mta_fail(s, MTA_HOSTFAIL, RT(STARTTLS_NOT_SUPPORTED),
			    "4.7.4", "%s rejected EHLO, TLS is required: %s",
			    s->par.host, s->reply);
		else
			mta_enter_state(s, MTA_HELO);
		return;
	}
	if (s->starttls_offered)
		mta_enter_state(s, MTA_STARTTLS);
	else if (mta_tls_required(s))
		mta_fail(s, MTA_HOSTFAIL, RT(STARTTLS_NOT_SUPPORTED), "4.7.4",
		    "%s does not offer STARTTLS and TLS is required (%s)",
		    s->par.host, host_mode_name(s->mode));
	else
		mta_enter_state(s, MTA_MAIL);
}

/* HELO, or EHLO over TLS: the transaction starts. */
static void
mta_reply_hello(struct mta_session *s)
{
	if (!mta_reply_ok(s))
		mta_fail_reply(s, MTA_HOSTFAIL);
	else
		mta_enter_state(s, MTA_MAIL);
}

static void
mta_reply_starttls(struct mta_session *s)
{
	if (s->code == 220)
		mta_enter_state(s, MTA_HANDSHAKE);
	else if (mta_tls_required(s))
		mta_fail(s, MTA_HOSTFAIL, RT(STARTTLS_NOT_SUPPORTED), "4.7.4",
		    "%s refused STARTTLS and TLS is required: %s", s->par.host,
		    s->reply);
	else
		/* Opportunistic: the server declined, carry on in the
		 * clear (RFC 3207 section 4.1). */
		mta_enter_state(s, MTA_MAIL);
}

/* MAIL: a 5xx is for the whole message. */
static void
mta_reply_mail(struct mta_session *s)
{
	if (!mta_reply_ok(s)) {
		mta_fail_reply(s, s->code / 100 == 5 ? MTA_PERMFAIL :
		    MTA_HOSTFAIL);
		return;
	}
	s->rcptidx = 0;
	mta_enter_state(s, MTA_RCPT);
}

/* RCPT: each reply is that recipient's; DATA once all are asked, if one
 * was accepted. */
static void
mta_reply_rcpt(struct mta_session *s)
{
	struct mta_rcpt	*r = &s->rcpts[s->rcptidx];

	r->code = s->code;
	free(r->reply);
	r->reply = xstrdup(s->reply);
	if (mta_reply_ok(s))
		s->naccepted++;
	if (++s->rcptidx < s->nrcpts)
		mta_enter_state(s, MTA_RCPT);
	else if (s->naccepted == 0)
		mta_settle(s);
	else
		mta_enter_state(s, MTA_DATA);
}

/*
 * The final word on every accepted recipient: the reply to DATA (when not
 * 354) or to the end of the body.  Only a 2xx to the body delivers.
 */
static void
mta_reply_final(struct mta_session *s)
{
	size_t	i;

	for (i = 0; i < s->nrcpts; i++) {
		if (s->rcpts[i].code / 100 != 2)
			continue;
		s->rcpts[i].code = s->code;
		free(s->rcpts[i].reply);
		s->rcpts[i].reply = xstrdup(s->reply);
		s->rcpts[i].delivered = s->state == MTA_BODY &&
		    mta_reply_ok(s);
	}
	mta_settle(s);
}

static void
mta_reply_data(struct mta_session *s)
{
	if (s->code == 354)
		mta_enter_state(s, MTA_BODY);
	else
		mta_reply_final(s);
}

/* One complete (possibly multi-line) reply has arrived. */
static void
mta_reply(struct mta_session *s)
{
	switch (s->state) {
	case MTA_BANNER:
		mta_reply_banner(s);
		break;
	case MTA_EHLO:
		mta_reply_ehlo(s);
		break;
	case MTA_HELO:
	case MTA_EHLO_TLS:
		mta_reply_hello(s);
		break;
	case MTA_STARTTLS:
		mta_reply_starttls(s);
		break;
	case MTA_MAIL:
		mta_reply_mail(s);
		break;
	case MTA_RCPT:
		mta_reply_rcpt(s);
		break;
	case MTA_DATA:
		mta_reply_data(s);
		break;
	case MTA_BODY:
		mta_reply_final(s);
		break;
	case MTA_QUIT:
		mta_enter_state(s, MTA_DONE);
		break;
	default:
		mta_fail(s, MTA_HOSTFAIL, "protocol", "4.5.0",
		    "unexpected reply in state %s: %s",
		    mta_strstate(s->state), s->reply);
		break;
	}
}

/*
 * Bytes have arrived: complete replies go to mta_reply().  A 220 to
 * STARTTLS must be the last thing before the handshake: anything sent
 * after it in the clear could be taken for a reply over TLS (RFC 3207
 * section 5), so it ends the session.
 */
static void
mta_read(struct bufferevent *bev, void *arg)
{
	struct mta_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	const char		*data;
	enum reply_parse	 st;
	size_t			 len, used;

	while (s->state != MTA_DONE && !s->paused && s->bev == bev &&
	    (len = evbuffer_get_length(in)) > 0) {
		if ((data = (const char *)evbuffer_pullup(in, -1)) == NULL)
			fatalx("out of memory (evbuffer_pullup)");
		st = reply_parse(&s->rp, data, len, &used);
		if (evbuffer_drain(in, used) == -1)
			fatalx("evbuffer_drain failed");
		if (st == REPLY_MORE)
			return;
		if (st == REPLY_BAD) {
			mta_fail(s, MTA_HOSTFAIL, "protocol", "4.5.0",
			    "%s: %s in state %s", s->par.host, s->rp.error,
			    mta_strstate(s->state));
			return;
		}
		s->code = s->rp.code;
		snprintf(s->reply, sizeof(s->reply), "%s", s->rp.text);
		if (s->state == MTA_EHLO || s->state == MTA_EHLO_TLS)
			s->starttls_offered = s->rp.starttls;
		memset(&s->rp, 0, sizeof(s->rp));
		if (s->state == MTA_STARTTLS && s->code == 220 && used < len) {
			mta_fail(s, MTA_HOSTFAIL, mta_tls_required(s) ?
			    RT(VALIDATION_FAILURE) : "protocol", "4.5.0",
			    "%s sent more after its 220 to STARTTLS (RFC 3207 "
			    "section 5)", s->par.host);
			return;
		}
		mta_reply(s);
	}
}

/* All that was queued has been written: the message waits for its reply
 * from now on. */
static void
mta_written(struct bufferevent *bev, void *arg)
{
	struct mta_session	*s = arg;

	if (s->bev != bev || s->state != MTA_BODY || s->body_sent)
		return;
	s->body_sent = 1;
	mta_deadline(s, s->par.command_timeout);
	if (s->par.sent != NULL)
		s->par.sent(s->arg, s);
}

/* The TCP connection is up: wait for the banner. */
static void
mta_connected(struct mta_session *s)
{
	int	one = 1;

	/* One command, one reply: no Nagle delays. */
	setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	mta_deadline(s, s->par.command_timeout);
	mta_enter_state(s, MTA_BANNER);
}

/*
 * Why a handshake failed, into buf: OpenSSL's first error (reason and
 * library), else what the connection did.  libevent queues the code of
 * SSL_get_error() among OpenSSL's errors (library 0): that is no reason
 * ("lib(0)::reason(1)"), and is skipped.
 */
static void
mta_tls_error(struct mta_session *s, short what, int err, char *buf,
    size_t len)
{
	unsigned long	 e, first = 0;
	const char	*reason, *lib;

	while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
		if (ERR_GET_LIB(e) != 0)
			first = e;	/* popped newest first */
	while ((e = ERR_get_error()) != 0)
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	if (first != 0) {
		reason = ERR_reason_error_string(first);
		lib = ERR_lib_error_string(first);
		snprintf(buf, len, "%s (%s)", reason ? reason :
		    "unknown reason", lib ? lib : "OpenSSL");
	} else if (what & BEV_EVENT_EOF)
		snprintf(buf, len, "connection closed by the server");
	else if (err != 0)
		snprintf(buf, len, "%s", evutil_socket_error_to_string(err));
	else
		snprintf(buf, len, "TLS error, no reason given");
}

/* The TLS handshake did not complete (why says why): the host is not
 * used. */
static void
mta_handshake_failed(struct mta_session *s, const char *why)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ssl = NULL;
	}
	mta_fail(s, MTA_HOSTFAIL, RT(VALIDATION_FAILURE), "4.7.5",
	    "TLS handshake with %s failed: %s", s->par.host, why);
}

/* The connection failed, was closed or timed out (why), outside the
 * handshake. */
static void
mta_lost(struct mta_session *s, const char *why)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ssl = NULL;
	}
	if (s->state == MTA_CONNECT)
		mta_fail(s, MTA_HOSTFAIL, "connect-failed", "4.4.1",
		    "cannot connect to %s [%s]: %s", s->par.host,
		    s->par.address, why);
	else if (s->state == MTA_STARTTLS && mta_tls_required(s))
		mta_fail(s, MTA_HOSTFAIL, RT(STARTTLS_NOT_SUPPORTED), "4.7.4",
		    "%s gave no answer to STARTTLS and TLS is required: %s",
		    s->par.host, why);
	else
		mta_fail(s, MTA_HOSTFAIL, "smtp", "4.4.2",
		    "session with %s ended in state %s: %s", s->par.host,
		    mta_strstate(s->state), why);
}

static void
mta_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session	*s = arg;
	int			 err = EVUTIL_SOCKET_ERROR();
	char			 buf[256];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MTA_CONNECT)
			mta_connected(s);
		else if (s->state == MTA_HANDSHAKE)
			mta_handshake_done(s);
	} else if (s->state == MTA_QUIT)
		/* The server hung up on our QUIT: fine. */
		mta_enter_state(s, MTA_DONE);
	else if (s->state == MTA_HANDSHAKE) {
		mta_tls_error(s, what, err, buf, sizeof(buf));
		mta_handshake_failed(s, buf);
	} else
		mta_lost(s, what & BEV_EVENT_EOF ?
		    "connection closed by the server" :
		    evutil_socket_error_to_string(err));
}

/* A deadline has passed (why): the session ends at once, without QUIT. */
static void
mta_expire(struct mta_session *s, const char *why)
{
	mta_log(s, "timeout state=%s why=\"%s\"", mta_strstate(s->state),
	    why);
	if (s->state == MTA_HANDSHAKE)
		mta_handshake_failed(s, why);
	else
		mta_lost(s, why);
}

static void
mta_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session	*s = arg;
	char			 why[128];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "timeout: %s not done within %d s",
	    s->state == MTA_CONNECT ? "the connection" :
	    s->state == MTA_HANDSHAKE ? "the TLS handshake" :
	    s->state == MTA_BODY && !s->body_sent ? "sending the message" :
	    "the reply", s->deadline_secs);
	mta_expire(s, why);
}

static void
mta_session_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session	*s = arg;
	char			 why[128];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "session timeout: not done within %d s",
	    s->par.session_timeout);
	mta_expire(s, why);
}

static void
mta_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session	*s = arg;

	(void)fd;
	(void)what;
	s->done(s->arg, s, &s->res);
}

/* The RFC 8460 result type of a failed session, or of the failed check
 * of an MTA-STS testing session; NULL otherwise. */
static const char *
mta_result_type(const struct mta_session *s)
{
	if (!s->failed)
		return s->res.sts.result_type;
	return result_type_name(result_type_from_name(s->res.reason));
}

static void
mta_session_event(struct mta_session *s)
{
	json_t	*o;

	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:s?,s:i,s:s?,s:s?}",
	    "session", s->id, "queue_id", s->par.queue_id, "host", s->par.host,
	    "address", s->par.address, "tls", s->res.tls,
	    "authenticated", s->res.dane.authenticated || s->res.dane.pkix,
	    "matched", s->res.dane.matched, "depth", s->res.dane.depth,
	    "result_type", mta_result_type(s),
	    "detail", s->failed ? s->res.detail : s->res.sts.result_type ?
	    s->res.sts.detail : s->res.dane.detail);
	json_object_set_new(o, "domain", s->par.domain ?
	    json_string(s->par.domain) : json_null());
	json_object_set_new(o, "mode", json_string(host_mode_name(s->mode)));
	/* The SNI actually sent: the TLSA base domain, else the MX name. */
	json_object_set_new(o, "sni", s->ssl_started ? json_string(
	    s->par.tlsa_base ? s->par.tlsa_base : s->par.host) : json_null());
	json_object_set_new(o, "tls_version", s->tls_version ?
	    json_string(s->tls_version) : json_null());
	json_object_set_new(o, "cipher", s->cipher ?
	    json_string(s->cipher) : json_null());
	json_object_set_new(o, "outcome",
	    json_string(mta_outcome_name(s->res.outcome)));
	/* Which policy governed the host (sts.c); an MTA-STS testing
	 * session's own check of the certificate, which never ends it. */
	json_object_set_new(o, "governed", s->par.governed ?
	    json_string(s->par.governed) : json_null());
	json_object_set_new(o, "sts", stspolicy_brief(s->par.sts));
	json_object_set_new(o, "sts_check", s->par.sts_check && s->res.tls ?
	    json_pack("{s:b,s:s?,s:s?}", "ok", s->res.sts.ok,
	    "result_type", s->res.sts.result_type, "detail",
	    s->res.sts.detail) : json_null());
	if (s->failed) {
		json_object_set_new(o, "reason", json_string(s->res.reason));
		json_object_set_new(o, "dsn", json_string(s->res.dsn));
		json_object_set_new(o, "state",
		    json_string(mta_strstate(s->failed_in)));
	}
	log_event("session", o);
}

/* Entering DONE: close, report, and tell the caller (from the loop). */
static void
mta_finish(struct mta_session *s)
{
	struct timeval	tv = { 0, 0 };

	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ssl = NULL;
	}
	evtimer_del(s->ev_deadline);
	evtimer_del(s->ev_session);
	if (!s->failed && s->res.outcome != MTA_OK) {
		/* Ended without a transaction result. */
		s->failed = 1;
		s->failed_in = MTA_QUIT;
		s->res.reason = "protocol";
		s->res.dsn = "4.5.0";
	}
	if (s->failed)
		mta_log(s, "done outcome=%s reason=%s dsn=%s state=%s tls=%d",
		    mta_outcome_name(s->res.outcome), s->res.reason,
		    s->res.dsn, mta_strstate(s->failed_in), s->res.tls);
	else
		mta_log(s, "done outcome=ok tls=%d authenticated=%d",
		    s->res.tls, s->res.dane.authenticated);
	mta_session_event(s);
	/* The caller hears of it from the event loop, never from inside
	 * one of our own callbacks. */
	s->ev_done = evtimer_new(s->par.base, mta_done_cb, s);
	if (s->ev_done == NULL || evtimer_add(s->ev_done, &tv) == -1)
		fatalx("cannot schedule a timer");
}

/*
 * Entering CONNECT: open the TCP connection (mta_event() hears when it is
 * up), or take over the one given in par.fd.
 */
static void
mta_connect(struct mta_session *s)
{
	const struct mta_params	*par = &s->par;
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof(ss);
	char			*hostport;

	if (par->fd >= 0) {
		/* Already connected (a socketpair in the unit tests). */
		s->bev = bufferevent_socket_new(par->base, par->fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->bev == NULL)
			fatalx("bufferevent_socket_new failed");
		bufferevent_setcb(s->bev, mta_read, mta_written, mta_event, s);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		mta_connected(s);
		return;
	}
	if (strchr(par->address, ':') != NULL)
		xasprintf(&hostport, "[%s]:%d", par->address, par->port);
	else
		xasprintf(&hostport, "%s:%d", par->address, par->port);
	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		free(hostport);
		mta_fail(s, MTA_HOSTFAIL, "connect-failed", "4.4.1",
		    "bad address %s", par->address);
		return;
	}
	free(hostport);
	s->bev = bufferevent_socket_new(par->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(s->bev, mta_read, mta_written, mta_event, s);
	mta_deadline(s, par->connect_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss,
	    sslen) == -1) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		mta_fail(s, MTA_HOSTFAIL, "connect-failed", "4.4.1",
		    "cannot connect to %s [%s]: %s", par->host, par->address,
		    strerror(errno));
	}
}

struct mta_session *
mta_start(const struct mta_params *par, struct mta_rcpt *rcpts, size_t n,
    void (*done)(void *, struct mta_session *, struct mta_result *),
    void *arg)
{
	struct mta_session	*s;
	struct timeval		 tv = { 0, 0 };

	s = xcalloc(1, sizeof(*s));
	s->par = *par;
	s->rcpts = rcpts;
	s->nrcpts = n;
	s->mode = par->mode;
	s->done = done;
	s->arg = arg;
	s->res.outcome = MTA_HOSTFAIL;
	s->res.dane.depth = -1;
	mta_newid(s->id, sizeof(s->id));
	s->ev_deadline = evtimer_new(par->base, mta_deadline_cb, s);
	s->ev_session = evtimer_new(par->base, mta_session_cb, s);
	if (s->ev_deadline == NULL || s->ev_session == NULL)
		fatalx("cannot create a timer");
	if (par->session_timeout > 0) {
		tv.tv_sec = par->session_timeout;
		if (evtimer_add(s->ev_session, &tv) == -1)
			fatalx("cannot arm a timer");
	}
	mta_log(s, "start queue_id=%s domain=%s host=%s address=%s port=%d "
	    "mode=%s", par->queue_id, par->domain ? par->domain : "-",
	    par->host, par->address, par->port, host_mode_name(par->mode));
	mta_enter_state(s, MTA_CONNECT);
	return s;
}

const char *
mta_id(const struct mta_session *s)
{
	return s->id;
}

int
mta_interrupt(struct mta_session *s, int force)
{
	if (s->state == MTA_DONE)
		return 0;
	if (s->state == MTA_BODY && !force)
		return 1;
	mta_log(s, "interrupt state=%s", mta_strstate(s->state));
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ssl = NULL;
	}
	mta_fail(s, MTA_HOSTFAIL, "interrupted", "4.3.0",
	    "interrupted in state %s: the runner is stopping",
	    mta_strstate(s->state));
	return 0;
}

void
mta_free(struct mta_session *s)
{
	if (s == NULL)
		return;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->ev_done != NULL)
		event_free(s->ev_done);
	if (s->ev_deadline != NULL)
		event_free(s->ev_deadline);
	if (s->ev_session != NULL)
		event_free(s->ev_session);
	dane_result_clear(&s->res.dane);
	dane_result_clear(&s->res.sts);
	free(s->res.detail);
	free(s);
}
