/*
 * session.c -- one SMTP server connection: I/O around the state machine.
 *
 * \file
 * session_accept() puts an accepted socket in a bufferevent and
 * session_start() makes a session of it: logs "connect" and sends the
 * banner (in strip-relay mode it hands the connection to relay.c
 * instead).  Nothing else here needs a socket: the fuzz target
 * fuzz/fuzz_session.c serves one end of a bufferevent pair.  Each
 * command line is parsed (smtp_parse()), checked against the state
 * (smtp_fsm_check()) and served by what session_verbs[] names for its
 * verb.  DATA content goes line by line to a spool file; STARTTLS is
 * answered as the profile says (220 and a handshake or a TLS fault, a
 * 4xx/5xx refusal, or a silent close).  Every state change goes through
 * session_enter(), which takes the next state from smtp_fsm_next() and
 * logs a "state" event; no other code writes session->state.
 *
 * The profile (struct profile) is chosen once per connection by
 * profile_pick(): the listener's own, or one of its first-connection
 * steps.  A reply the profile gives as NULL ("drop") closes the
 * connection instead of answering; a 421 reply is followed by a close
 * (RFC 5321 section 3.8), and so is the reply at the profile's
 * close_after point.  These closes have reason "fault" ("protocol" for
 * 421 and a 4xx banner).
 *
 * A session lives until session_close(), which logs "close" (reason and
 * last state) and frees everything the session owns: bufferevent and
 * socket, SSL, timer, spool file, envelope, relay.  session_close_after()
 * closes once the queued replies have left, after a TLS close_notify.
 *
 * Input handling never trusts the peer: command lines longer than
 * SMTP_LINE_MAX are discarded and answered with 500, NUL bytes are
 * refused, text lines and message size are bounded, input is not read
 * while more than SESSION_OUT_MAX bytes of replies wait to be sent
 * (pipelining clients that never read), and one timer per session
 * enforces the command, data and TLS timeouts.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fake-mx.h"

#define SESSION_OUT_MAX		65536
#define SESSION_HELLO_MAX	(5 + 16384 + 2048)
#define SESSION_CLOSE_POLL_MS	10
#define SESSION_CLOSE_POLLS	200

static void	session_read_cb(struct bufferevent *, void *);
static void	session_write_cb(struct bufferevent *, void *);
static void	session_event_cb(struct bufferevent *, short, void *);
static void	session_timeout_cb(evutil_socket_t, short, void *);
static void	session_input(struct session *);
static void	session_close_after(struct session *, const char *);
static int	session_after(struct session *, enum close_point, int);

static const char *const session_ext[] = {
	"PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES",
	"STARTTLS"
};

/* Events the grader needs whatever the session did before them. */
static int
session_event_vital(const char *kind)
{
	static const char *const vital[] = {
		"connect", "starttls", "tls", "tls-failed", "mail", "rcpt",
		"message", "close"
	};
	size_t	i;

	for (i = 0; i < sizeof(vital) / sizeof(vital[0]); i++)
		if (strcmp(kind, vital[i]) == 0)
			return 1;
	return 0;
}

/*
 * Start one event of S.  A client that floods the session (pipelined
 * NOOPs, endless RSET loops) cannot flood the log: past the budget
 * (SESSION_EVENTS_MAX, fake-mx.h) events are dropped and counted, the
 * vital ones last, and "close" always gets through (session_close() adds
 * the count to it).
 */
int
session_begin(struct session *s, const char *kind)
{
	if (strcmp(kind, "close") != 0 && (s->nevents >= SESSION_EVENTS_HARD ||
	    (s->nevents >= SESSION_EVENTS_MAX && !session_event_vital(kind)))) {
		if (s->suppressed++ == 0) {
			events_begin(s->id, s->l->conf, "events-truncated");
			events_add_int("after", (long long)s->nevents);
			events_end();
		}
		return 0;
	}
	s->nevents++;
	events_begin(s->id, s->l->conf, kind);
	return 1;
}

void
session_emit(struct session *s, const char *kind, json_t *o)
{
	if (!session_begin(s, kind)) {
		json_decref(o);
		return;
	}
	events_add_json(o);
	events_end();
}

/* A session is allocated zeroed: that is its initial state. */
_Static_assert(S_INIT == 0, "a zeroed session must be in S_INIT");

void
session_enter(struct session *s, enum smtp_fsm_input in, int code)
{
	enum session_state	 to;

	to = smtp_fsm_next(s->state, in, code);
	if (to == s->state)
		return;
	/* the move to S_CLOSED: the "close" event says it */
	if (to != S_CLOSED && session_begin(s, "state")) {
		events_add_str("from", smtp_fsm_strstate(s->state));
		events_add_str("to", smtp_fsm_strstate(to));
		events_end();
	}
	s->state = to;
}

void
session_timer(struct session *s, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* Log a reply (full first line) under stage. */
static void
session_reply_log(struct session *s, const char *stage, const char *line)
{
	if (!session_begin(s, "reply"))
		return;
	events_add_str("stage", stage);
	events_add_int("code", reply_code(line));
	events_add_str("text", strlen(line) > 4 ? line + 4 : "");
	events_end();
}

/*
 * Queue bytes for the client.  A session on a plain socket (s->direct)
 * keeps EV_WRITE off: session_output_all() writes what its sessions
 * queued at the end of the loop turn, after the turn's event lines, with
 * no epoll change per reply.  What the socket does not take then is left
 * to the bufferevent (EV_WRITE on until the output is drained).
 */
static void
session_send(struct session *s, const void *buf, size_t n)
{
	bufferevent_write(s->bev, buf, n);
	if (s->direct && !s->write_on && !s->queued) {
		s->queued = 1;
		TAILQ_INSERT_TAIL(&fakemx.out, s, out_entry);
	}
}

/* Sockets of closed plain sessions, closed by session_output_all(). */
static struct {
	int	*fd;
	size_t	 n, cap;
} session_later;

static void
session_close_later(int fd)
{
	if (session_later.n == session_later.cap) {
		session_later.cap = session_later.cap ?
		    session_later.cap * 2 : 64;
		session_later.fd = xrealloc(session_later.fd,
		    session_later.cap * sizeof(*session_later.fd));
	}
	session_later.fd[session_later.n++] = fd;
}

void
session_output_end(void)
{
	session_output_all();
	free(session_later.fd);
	session_later.fd = NULL;
	session_later.cap = 0;
}

void
session_output_all(void)
{
	struct session	*s;
	struct evbuffer	*out;
	evutil_socket_t	 fd;

	while ((s = TAILQ_FIRST(&fakemx.out)) != NULL) {
		TAILQ_REMOVE(&fakemx.out, s, out_entry);
		s->queued = 0;
		out = bufferevent_get_output(s->bev);
		fd = bufferevent_getfd(s->bev);
		/*
		 * A socket bufferevent keeps the start of its output frozen
		 * but while it writes itself: thaw it likewise.
		 */
		evbuffer_unfreeze(out, 1);
		while (evbuffer_get_length(out) > 0 &&
		    evbuffer_write(out, fd) > 0)
			;
		evbuffer_freeze(out, 1);
		if (evbuffer_get_length(out) > 0) {
			/* full, or an error the bufferevent will report */
			s->write_on = 1;
			bufferevent_enable(s->bev, EV_WRITE);
		} else if (s->throttled)	/* read again: next turn */
			bufferevent_trigger(s->bev, EV_WRITE,
			    BEV_TRIG_DEFER_CALLBACKS);
	}
	while (session_later.n > 0)
		close(session_later.fd[--session_later.n]);
}

/* Leave the writing to the bufferevent from now on (before TLS). */
static void
session_direct_off(struct session *s)
{
	if (s->queued)
		TAILQ_REMOVE(&fakemx.out, s, out_entry);
	s->queued = 0;
	if (s->direct)
		bufferevent_enable(s->bev, EV_WRITE);
	s->direct = 0;
	s->write_on = 0;
}

/* Send a reply: "line" is the full first line; log it under stage. */
static void
session_reply_ext(struct session *s, const char *stage, const char *line,
    const char *const *ext, size_t next)
{
	char	buf[2048];
	size_t	n;

	if ((n = reply_build(buf, sizeof(buf), line, ext, next)) == 0) {
		line = "451 4.3.0 internal error";
		n = reply_build(buf, sizeof(buf), line, NULL, 0);
	}
	session_send(s, buf, n);
	session_reply_log(s, stage, line);
}

static void
session_reply(struct session *s, const char *stage, const char *line)
{
	session_reply_ext(s, stage, line, NULL, 0);
}

static void
session_reset(struct session *s)
{
	size_t	i;

	free(s->from);
	s->from = NULL;
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	spool_free(s->msg);
	s->msg = NULL;
	free(s->msgid);
	s->msgid = NULL;
}

void
session_accept(struct listener *l, int fd, const void *sa, int salen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct bufferevent	*bev;
	char			 peer[64], local[64];
	int			 one = 1;

	(void)salen;
	/* replies are small and the client waits for each: no Nagle */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	listener_fmtaddr(sa, peer, sizeof(peer));
	/* the address the client dialled: the listener's unless a wildcard */
	if (l->wildcard &&
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		listener_fmtaddr(&ss, local, sizeof(local));
	else
		snprintf(local, sizeof(local), "%s", l->local);
	bev = bufferevent_socket_new(fakemx.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		fprintf(stderr, "fake-mx: out of memory (session)\n");
		exit(1);
	}
	session_start(l, bev, peer, local);
}

/* snprintf(dst, len, "%s", src) without stdio's cost. */
static void
session_copy(char *dst, size_t len, const char *src)
{
	size_t	n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* snprintf(id, len, "%s#%lu", name, n), likewise. */
static void
session_id(char *id, size_t len, const char *name, unsigned long n)
{
	char	num[24], *p = num + sizeof(num);
	size_t	k, m;

	*--p = '\0';
	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	*--p = '#';
	k = strlen(name);
	if (k >= len)
		k = len - 1;
	memcpy(id, name, k);
	m = (size_t)(num + sizeof(num) - p);	/* with its NUL */
	if (m > len - k)
		m = len - k;
	memcpy(id + k, p, m);
	id[k + m - 1] = '\0';
}

void
session_start(struct listener *l, struct bufferevent *bev, const char *peer,
    const char *local)
{
	struct session		*s;
	int			 code, step;

	s = xcalloc(1, sizeof(*s));
	s->l = l;
	s->base = fakemx.base;
	session_id(s->id, sizeof(s->id), l->conf->name, ++l->nsessions);
	s->p = profile_pick(l->conf, l->nsessions, &step);
	session_copy(s->peer, sizeof(s->peer), peer);
	session_copy(s->local, sizeof(s->local), local);
	s->bev = bev;
	s->timer = evtimer_new(s->base, session_timeout_cb, s);
	if (s->timer == NULL) {
		fprintf(stderr, "fake-mx: out of memory (session)\n");
		exit(1);
	}
	TAILQ_INSERT_TAIL(&fakemx.sessions, s, entry);
	fakemx.nopen++;

	if (session_begin(s, "connect")) {
		events_add_str("peer", s->peer);
		events_add_str("local", s->local);
		if (l->conf->nsteps > 0 && step >= 0) {
			char	name[32];

			snprintf(name, sizeof(name), "connections[%d]", step);
			events_add_str("profile", name);
		} else if (l->conf->nsteps > 0)
			events_add_str("profile", "default");
		events_end();
	}

	if (l->conf->mode == MODE_STRIP_RELAY) {
		relay_start(s);
		return;
	}
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	s->direct = bufferevent_getfd(s->bev) != -1;
	if (s->direct)		/* on by default in a new bufferevent */
		bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, s->direct ? EV_READ : EV_READ | EV_WRITE);
	if (s->p->banner == NULL) {
		session_close_after(s, "fault");
		return;
	}
	session_reply(s, "banner", s->p->banner);
	code = reply_code(s->p->banner);
	session_enter(s, FSM_BANNER, code);
	if (code / 100 == 4) {
		session_close_after(s, "protocol");
		return;
	}
	if (session_after(s, CLOSE_BANNER, code))
		return;
	session_timer(s, fakemx.conf->command_ms);
}

void
session_close(struct session *s, const char *reason)
{
	evutil_socket_t	fd;

	session_begin(s, "close");	/* never dropped */
	events_add_str("reason", reason);
	events_add_str("state", smtp_fsm_strstate(s->state));
	if (s->suppressed > 0)
		events_add_int("events_suppressed", (long long)s->suppressed);
	events_end();
	session_enter(s, FSM_CLOSE, 0);
	/*
	 * The peer sees the close: what led to it must be in the log first.
	 * A plain socket is closed at the end of the turn, after the turn's
	 * event lines (session_output_all()); any other, now, after a flush.
	 */
	if (s->bev != NULL && s->direct &&
	    (fd = bufferevent_getfd(s->bev)) != -1) {
		bufferevent_setfd(s->bev, -1);
		session_close_later(fd);
	} else
		events_flush();
	TAILQ_REMOVE(&fakemx.sessions, s, entry);
	if (s->queued)
		TAILQ_REMOVE(&fakemx.out, s, out_entry);
	fakemx.nopen--;
	if (s->relay != NULL)
		relay_free(s->relay);
	if (s->bev != NULL)
		bufferevent_free(s->bev);	/* frees SSL and socket */
	else if (s->ssl != NULL)
		SSL_free(s->ssl);
	event_free(s->timer);
	session_reset(s);
	free(s->tlsp);
	free(s->helo);
	free(s);
}

/* Has everything we wrote left the process? */
static int
session_flushed(struct session *s)
{
	struct bufferevent	*u;

	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return 0;
	if ((u = bufferevent_get_underlying(s->bev)) != NULL &&
	    evbuffer_get_length(bufferevent_get_output(u)) > 0)
		return 0;
	return 1;
}

/*
 * The queued replies are sent: end TLS with close_notify (once), so the
 * client sees a clean end of stream, then close when that has left too.
 * In socket mode SSL_shutdown() writes to the socket itself; in filter
 * mode into the plain bufferevent below, which the poll timer waits for.
 * A close_notify that cannot be written at once is not waited for.
 */
static void
session_finish(struct session *s)
{
	if (s->tls && s->ssl != NULL && !s->tls_shutdown) {
		s->tls_shutdown = 1;
		if (SSL_shutdown(s->ssl) < 0)
			ERR_clear_error();
		if (!session_flushed(s)) {
			session_timer(s, SESSION_CLOSE_POLL_MS);
			return;
		}
	}
	session_close(s, s->close_reason);
}

/* Close once the queued replies are sent (bounded by a poll timer). */
static void
session_close_after(struct session *s, const char *reason)
{
	s->close_reason = reason;
	s->closing = 1;
	bufferevent_disable(s->bev, EV_READ);
	/* never free synchronously: callers still hold s */
	s->closing_polls = 0;
	session_timer(s, 0);
}

/*
 * After the reply (code) at point cp: close once it is sent if it was a
 * 421 or the profile closes there.  Returns 1 when the session closes.
 */
static int
session_after(struct session *s, enum close_point cp, int code)
{
	if (code == 421)
		session_close_after(s, "protocol");
	else if (s->p->close_after == cp)
		session_close_after(s, "fault");
	else
		return 0;
	return 1;
}

static void
session_ehlo(struct session *s, const struct smtp_cmd *cmd)
{
	const char	*line = s->p->replies[RS_EHLO];
	int		 code, offer;
	size_t		 next = 0;

	offer = s->p->starttls == STARTTLS_OFFER && !s->tls;
	free(s->helo);
	s->helo = xstrdup(cmd->arg);
	session_reset(s);
	code = line != NULL ? reply_code(line) : 0;
	if (cmd->verb == V_EHLO && code / 100 == 2)
		next = offer ? 5 : 4;
	else
		offer = 0;
	if (session_begin(s, "ehlo")) {
		events_add_net("name", cmd->arg, strlen(cmd->arg));
		events_add_bool("esmtp", cmd->verb == V_EHLO);
		events_add_bool("starttls_offered", offer);
		events_end();
	}
	if (line == NULL) {
		session_close_after(s, "fault");
		return;
	}
	session_reply_ext(s, "ehlo", line, session_ext, next);
	session_enter(s, FSM_HELO, code);
	session_after(s, CLOSE_EHLO, code);
}

/*
 * Send the 220 to STARTTLS and put TLS on the connection.  Fast path:
 * a socket with nothing else queued, so send the 220 ourselves and hand
 * the socket to a socket-mode TLS bufferevent.  Otherwise put a TLS
 * filter on top of the plain bufferevent, which first sends what is
 * queued.  With the abort or
 * stall fault no TLS is started: session_input() reads the raw hello.
 */
static void
session_tls_begin(struct session *s)
{
	static const char	 ready[] = "220 2.0.0 Ready to start TLS\r\n";
	static const char	 readyline[] = "220 2.0.0 Ready to start TLS";
	struct bufferevent	*nb;
	evutil_socket_t		 fd;
	ssize_t			 sent;
	int			 fault;

	fault = s->p->fault == FAULT_ABORT || s->p->fault == FAULT_STALL;
	session_direct_off(s);
	fd = bufferevent_getfd(s->bev);
	sent = 0;
	events_flush();		/* before the peer sees the 220 */
	if (!fault && fd != -1 &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 &&
	    (sent = send(fd, ready, sizeof(ready) - 1, MSG_NOSIGNAL)) < 0)
		sent = 0;
	session_reply_log(s, "starttls", readyline);
	session_enter(s, FSM_STARTTLS, 220);
	if (s->p->close_after == CLOSE_STARTTLS) {
		if (sent != (ssize_t)sizeof(ready) - 1)
			bufferevent_write(s->bev, ready + sent,
			    sizeof(ready) - 1 - (size_t)sent);
		session_close_after(s, "fault");
		return;
	}
	if (sent == (ssize_t)sizeof(ready) - 1) {
		s->ssl = tls_server_ssl(s->l->tls, s->tlsp);
		bufferevent_setfd(s->bev, -1);
		bufferevent_free(s->bev);
		nb = s->ssl ? bufferevent_openssl_socket_new(s->base, fd,
		    s->ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) :
		    NULL;
	} else {
		bufferevent_write(s->bev, ready + sent,
		    sizeof(ready) - 1 - (size_t)sent);
		if (fault)
			return;
		s->ssl = tls_server_ssl(s->l->tls, s->tlsp);
		nb = s->ssl ? bufferevent_openssl_filter_new(s->base, s->bev,
		    s->ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) :
		    NULL;
	}
	if (nb == NULL) {
		fprintf(stderr, "fake-mx: out of memory (TLS)\n");
		exit(1);
	}
	bufferevent_openssl_set_allow_dirty_shutdown(nb, 1);
	s->bev = nb;
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* STARTTLS as the profile says: a refusal, drop, or 220 and a handshake. */
static void
session_starttls(struct session *s, const struct smtp_cmd *cmd)
{
	struct evbuffer	*in;
	json_t		*o;
	int		 code;

	(void)cmd;
	o = json_object();
	switch (s->p->starttls_reply) {
	case STLS_REPLY_REFUSE:
		code = reply_code(s->p->starttls_line);
		json_object_set_new(o, "reply", json_integer(code));
		session_emit(s, "starttls", o);
		session_reply(s, "starttls", s->p->starttls_line);
		session_enter(s, FSM_STARTTLS, code);
		session_after(s, CLOSE_STARTTLS, code);
		return;
	case STLS_REPLY_DROP:
		json_object_set_new(o, "reply", json_string("drop"));
		session_emit(s, "starttls", o);
		session_close_after(s, "protocol");
		return;
	case STLS_REPLY_220:
		break;
	}
	json_object_set_new(o, "reply", json_integer(220));
	session_emit(s, "starttls", o);
	/* RFC 3207 section 5: discard anything pipelined after STARTTLS */
	in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	session_reset(s);
	free(s->helo);
	s->helo = NULL;
	free(s->tlsp);
	s->tlsp = xcalloc(1, sizeof(*s->tlsp));
	if (s->p->fault == FAULT_ALERT)
		s->tlsp->alert = s->p->alert;
	session_timer(s, fakemx.conf->tls_ms);
	session_tls_begin(s);
}

static void
session_tls_failed(struct session *s, const char *reason)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "sni", s->tlsp && *s->tlsp->sni ?
	    json_string(s->tlsp->sni) : json_null());
	if (s->p->fault == FAULT_ALERT)
		json_object_set_new(o, "alert",
		    json_string(profile_stralert(s->p->alert)));
	session_emit(s, "tls-failed", o);
}

/* fault abort / stall: look at the raw ClientHello, never answer it. */
static void
session_tls_raw(struct session *s, struct evbuffer *in)
{
	size_t		 n = evbuffer_get_length(in);
	unsigned char	*p;
	int		 r;
	char		 reason[32];

	if (s->stalled) {
		evbuffer_drain(in, n);
		return;
	}
	if (n > SESSION_HELLO_MAX)
		n = SESSION_HELLO_MAX;
	p = evbuffer_pullup(in, (ssize_t)n);
	r = tls_hello_sni(p, n, s->tlsp->sni, sizeof(s->tlsp->sni));
	if (r == 0 && n < SESSION_HELLO_MAX)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	if (r != 1) {
		session_tls_failed(s, "not a TLS ClientHello");
		session_close(s, "tls-failed");
		return;
	}
	if (s->p->fault == FAULT_ABORT) {
		snprintf(reason, sizeof(reason), "fault:abort");
		session_tls_failed(s, reason);
		session_close(s, "tls-failed");
		return;
	}
	s->stalled = 1;		/* the tls timer ends it */
}

static void
session_mail(struct session *s, const struct smtp_cmd *cmd)
{
	const char	*line = s->p->replies[RS_MAIL];
	int		 code;

	if (session_begin(s, "mail")) {
		events_add_net("from", cmd->path, strlen(cmd->path));
		events_end();
	}
	if (line == NULL) {
		session_close_after(s, "fault");
		return;
	}
	code = reply_code(line);
	if (code / 100 == 2) {
		free(s->from);
		s->from = xstrdup(cmd->path);
	}
	session_reply(s, "mail", line);
	session_enter(s, FSM_MAIL, code);
	session_after(s, CLOSE_MAIL, code);
}

static void
session_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	const char	*line = s->p->replies[RS_RCPT];
	int		 code;

	if (session_begin(s, "rcpt")) {
		events_add_net("to", cmd->path, strlen(cmd->path));
		events_end();
	}
	if (line == NULL) {
		session_close_after(s, "fault");
		return;
	}
	if (s->nrcpt >= SMTP_RCPT_MAX)
		line = "452 4.5.3 Too many recipients";
	code = reply_code(line);
	if (code / 100 == 2) {
		s->rcpts = xrealloc(s->rcpts,
		    (s->nrcpt + 1) * sizeof(char *));
		s->rcpts[s->nrcpt++] = xstrdup(cmd->path);
	}
	session_reply(s, "rcpt", line);
	session_enter(s, FSM_RCPT, code);
	session_after(s, CLOSE_RCPT, code);
}

static void
session_data(struct session *s, const struct smtp_cmd *cmd)
{
	const char	*line = s->p->replies[RS_DATA];
	int		 code;

	(void)cmd;
	if (line == NULL) {
		session_close_after(s, "fault");
		return;
	}
	code = reply_code(line);
	if (code == 354) {
		spool_free(s->msg);
		s->msg = spool_open(fakemx.conf->spool, s->id, s->nmsg + 1);
		if (s->msg == NULL) {
			line = "451 4.3.0 Cannot open spool file";
			code = 451;
		}
	}
	session_reply(s, "data", line);
	session_enter(s, FSM_DATA, code);
	if (session_after(s, CLOSE_DATA, code) || code != 354)
		return;
	s->nmsg++;
	s->msg_size = 0;
	s->msg_err = 0;
	s->in_headers = 1;
	s->msgid_cont = 0;
	s->midline = 0;
	free(s->msgid);
	s->msgid = NULL;
	session_timer(s, fakemx.conf->data_ms);
}

/* Take the Message-ID value from a header (or continuation) line. */
static void
session_msgid(struct session *s, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0) {
		s->msgid_cont = 1;
		return;
	}
	s->msgid_cont = 0;
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	if (s->msgid == NULL && n > 0 && n < 1000)
		s->msgid = xstrndup(v, n);
}

static void
session_header(struct session *s, const char *p, size_t n)
{
	if (n == 0) {
		s->in_headers = 0;
		return;
	}
	if (*p == ' ' || *p == '\t') {
		if (s->msgid_cont)
			session_msgid(s, p, n);
		return;
	}
	s->msgid_cont = 0;
	if (n >= 11 && strncasecmp(p, "Message-ID:", 11) == 0)
		session_msgid(s, p + 11, n - 11);
}

static void
session_eom(struct session *s)
{
	const char	*line = s->p->replies[RS_EOM];
	const char	*path = NULL;
	int		 code;

	if (line == NULL && s->msg_err == 0) {
		session_reset(s);	/* the message is not accepted */
		session_close_after(s, "fault");
		return;
	}
	switch (s->msg_err) {
	case 0:
		break;
	case 500:
		line = "500 5.5.2 Line too long";
		break;
	case 552:
		line = "552 5.3.4 Message size exceeds fixed limit";
		break;
	default:
		line = "554 5.6.0 NUL character in message";
		break;
	}
	code = reply_code(line);
	if (code / 100 == 2) {
		if ((path = spool_commit(s->msg)) == NULL) {
			line = "451 4.3.0 Error writing spool file";
			code = 451;
		}
	}
	if (path != NULL && session_begin(s, "message")) {
		events_add_net("message_id", s->msgid,
		    s->msgid ? strlen(s->msgid) : 0);
		events_add_int("size", (long long)s->msg_size);
		events_add_str("spool", path);
		events_add_bool("tls", s->tls);
		events_add_net("from", s->from, s->from ? strlen(s->from) : 0);
		events_add_netv("to", s->rcpts, s->nrcpt);
		events_end();
	}
	session_reply(s, "eom", line);
	session_reset(s);
	session_enter(s, FSM_EOM, code);
	if (session_after(s, CLOSE_EOM, code))
		return;
	session_timer(s, fakemx.conf->command_ms);
}

/*
 * One step of DATA input.  Returns 1 if a line was consumed (call
 * again), 0 if more input is needed.
 */
static int
session_data_line(struct session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	 ptr;
	size_t			 n, len, content, skip = 0;
	unsigned char		*p;
	int			 start;

	ptr = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
	len = evbuffer_get_length(in);
	if (ptr.pos == -1) {
		if (len <= SMTP_TEXT_MAX)
			return 0;
		/* overlong text line: keep the bytes, refuse the message */
		p = evbuffer_pullup(in, (ssize_t)len);
		if (!s->midline && p[0] == '.')
			skip = 1;
		if (!s->msg_err)
			s->msg_err = 500;
		s->msg_size += len - skip;
		evbuffer_drain(in, len);
		s->midline = 1;
		return 0;
	}
	len = (size_t)ptr.pos + 1;		/* line with its LF */
	p = evbuffer_pullup(in, (ssize_t)len);
	start = !s->midline;
	s->midline = 0;
	content = len - 1;
	if (content > 0 && p[content - 1] == '\r')
		content--;
	if (start && content == 1 && p[0] == '.') {
		evbuffer_drain(in, len);
		session_eom(s);
		return 1;
	}
	if (start && p[0] == '.')
		skip = 1;			/* dot-unstuffing */
	if (!start || len > SMTP_TEXT_MAX) {
		if (!s->msg_err)
			s->msg_err = 500;
	}
	if (memchr(p, '\0', len) != NULL && !s->msg_err)
		s->msg_err = 554;
	s->msg_size += len - skip;
	if (s->msg_size > SMTP_MSG_MAX && (!s->msg_err || s->msg_err == 500))
		s->msg_err = 552;
	if (start && s->in_headers)
		session_header(s, (const char *)p + skip, content - skip);
	if (!s->msg_err && s->msg != NULL)
		spool_write(s->msg, p + skip, len - skip);
	evbuffer_drain(in, len);
	return 1;
}

static void
session_rset(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reset(s);
	session_reply(s, "rset", "250 2.0.0 Ok");
	session_enter(s, FSM_RSET, 250);
}

static void
session_quit(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reply(s, "quit", "221 2.0.0 Bye");
	session_enter(s, FSM_QUIT, 221);
	session_close_after(s, "quit");
}

/*
 * What each verb does: the stage its replies are logged under, and either
 * the function serving it or the one reply line it always gets.
 */
static const struct session_verb {
	const char	*stage;
	void		(*serve)(struct session *, const struct smtp_cmd *);
	const char	*reply;
} session_verbs[V_MAX] = {
	[V_EMPTY] = { "unknown", NULL,
	    "500 5.5.2 Syntax error, command unrecognized" },
	[V_HELO] = { "ehlo", session_ehlo, NULL },
	[V_EHLO] = { "ehlo", session_ehlo, NULL },
	[V_MAIL] = { "mail", session_mail, NULL },
	[V_RCPT] = { "rcpt", session_rcpt, NULL },
	[V_DATA] = { "data", session_data, NULL },
	[V_RSET] = { "rset", session_rset, NULL },
	[V_NOOP] = { "noop", NULL, "250 2.0.0 Ok" },
	[V_QUIT] = { "quit", session_quit, NULL },
	[V_STARTTLS] = { "starttls", session_starttls, NULL },
	[V_VRFY] = { "unknown", NULL, "252 2.1.5 Cannot VRFY user" },
	[V_HELP] = { "unknown", NULL, "214 2.0.0 fake-mx" },
	[V_UNKNOWN] = { "unknown", NULL,
	    "500 5.5.2 Syntax error, command unrecognized" },
};

/*
 * Refuse a command: code is what smtp_parse() or smtp_fsm_check() said;
 * nul tells a 500 for a NUL byte from one for an unknown command.
 */
static void
session_refuse(struct session *s, const char *stage, int code, int nul)
{
	const char	*line;

	switch (code) {
	case 501:
		line = "501 5.5.4 Syntax error in parameters";
		break;
	case 502:
		line = "502 5.5.1 STARTTLS not available";
		break;
	case 503:
		line = "503 5.5.1 Bad sequence of commands";
		break;
	case 552:
		line = "552 5.3.4 Message size exceeds fixed limit";
		break;
	default:
		line = nul ? "500 5.5.2 NUL character not allowed" :
		    "500 5.5.2 Syntax error, command unrecognized";
		break;
	}
	session_reply(s, stage, line);
}

/* One command line (without its CRLF; may hold NUL bytes). */
static void
session_command(struct session *s, const char *line, size_t len)
{
	const struct session_verb	*v;
	struct smtp_cmd			 cmd;
	int				 code, offer;

	code = smtp_parse(line, len, &cmd);
	v = &session_verbs[cmd.verb < V_MAX ? cmd.verb : V_UNKNOWN];
	if (code != 0) {
		session_refuse(s, v->stage, code, code == 500 &&
		    memchr(line, '\0', len) != NULL);
		return;
	}
	offer = s->p->starttls == STARTTLS_OFFER;
	if ((code = smtp_fsm_check(s->state, cmd.verb, s->tls, offer)) != 0) {
		session_refuse(s, v->stage, code, 0);
		return;
	}
	if (v->serve != NULL)
		v->serve(s, &cmd);
	else
		session_reply(s, v->stage, v->reply);
}

/*
 * Consume as much input as the state allows.  The session may have been
 * freed on return (fault abort, garbage instead of a ClientHello):
 * callers must not touch s afterwards.
 */
static void
session_input(struct session *s)
{
	struct evbuffer		*in, *out;
	struct evbuffer_ptr	 ptr;
	size_t			 n, len;
	char			 line[SMTP_LINE_MAX + 1];

	for (;;) {
		in = bufferevent_get_input(s->bev);
		out = bufferevent_get_output(s->bev);
		if (s->closing) {
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (s->state == S_TLS) {
			if (s->ssl == NULL)
				session_tls_raw(s, in);
			return;
		}
		if (evbuffer_get_length(out) > SESSION_OUT_MAX) {
			s->throttled = 1;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->state == S_DATA) {
			if (!session_data_line(s, in))
				return;
			continue;
		}
		ptr = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
		if (ptr.pos == -1) {
			len = evbuffer_get_length(in);
			if (len > SMTP_LINE_MAX) {
				s->skipping = 1;
				evbuffer_drain(in, len);
			}
			return;
		}
		len = (size_t)ptr.pos;
		if (s->skipping || len + 1 > SMTP_LINE_MAX) {
			evbuffer_drain(in, len + 1);
			s->skipping = 0;
			session_reply(s, "unknown", "500 5.5.2 Line too long");
			continue;
		}
		evbuffer_remove(in, line, len + 1);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		session_timer(s, fakemx.conf->command_ms);
		session_command(s, line, len);
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->state == S_DATA)		/* the data timeout is per read */
		session_timer(s, fakemx.conf->data_ms);
	session_input(s);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->write_on) {		/* drained: back to session_send() */
		s->write_on = 0;
		bufferevent_disable(s->bev, EV_WRITE);
	}
	if (s->closing) {
		if (session_flushed(s))
			session_finish(s);
		return;
	}
	if (s->throttled) {
		s->throttled = 0;
		bufferevent_enable(s->bev, EV_READ);
		session_input(s);
	}
}

/* OpenSSL's reason for a failed handshake, or a fallback. */
static void
session_ssl_reason(struct session *s, char *buf, size_t len)
{
	unsigned long	 e, last = 0;
	const char	*r = NULL;

	while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
		if (r == NULL)
			r = ERR_reason_error_string(e);
		last = e;
	}
	if (last == 0) {
		snprintf(buf, len, "%s", s->p->fault == FAULT_ALERT ?
		    "fault:alert" : "handshake aborted by peer");
		return;
	}
	if (s->p->fault == FAULT_ALERT)
		snprintf(buf, len, "fault:alert");
	else
		snprintf(buf, len, "%s", r ? r : "unknown TLS error");
	ERR_clear_error();
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	json_t		*o;
	char		 reason[256];
	unsigned long	 e;
	int		 eof, tlserr;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == S_TLS && s->ssl != NULL) {
			s->tls = 1;
			o = tls_info(s->ssl, s->tlsp->sni);
			session_emit(s, "tls", o);
			session_enter(s, FSM_TLS_UP, 0);
			if (session_after(s, CLOSE_TLS, 0))
				return;
			session_timer(s, fakemx.conf->command_ms);
			session_input(s);
		}
		return;
	}
	if (s->state == S_TLS) {
		session_ssl_reason(s, reason, sizeof(reason));
		session_tls_failed(s, reason);
		if (what & BEV_EVENT_EOF)
			session_close(s, "tls-failed");
		else
			session_close_after(s, "tls-failed"); /* send alert */
		return;
	}
	if (s->closing) {
		session_close(s, s->close_reason);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		session_close(s, "client-eof");
		return;
	}
	/* a client that vanished (reset, no close_notify) is an EOF */
	eof = errno == ECONNRESET || errno == EPIPE;
	tlserr = 0;
	if (s->ssl != NULL)
		while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
			/* lib 0: an errno libevent recorded */
			if (ERR_GET_LIB(e) == 0 ||
			    ERR_GET_LIB(e) == ERR_LIB_SYS ||
			    ERR_GET_REASON(e) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING)
				eof = 1;
			else
				tlserr = 1;
		}
	if (eof && !tlserr)
		session_close(s, "client-eof");
	else
		session_close(s, "error");
}

static void
session_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)what;
	if (s->closing) {
		if (++s->closing_polls >= SESSION_CLOSE_POLLS)
			session_close(s, s->close_reason);
		else if (session_flushed(s))
			session_finish(s);
		else
			session_timer(s, SESSION_CLOSE_POLL_MS);
		return;
	}
	switch (s->state) {
	case S_RELAY_CONNECT:
	case S_RELAY:
		session_close(s, "timeout");
		return;
	case S_TLS:
		session_tls_failed(s, s->stalled ? "fault:stall" : "timeout");
		session_close(s, "timeout");
		return;
	default:
		session_reply(s, "timeout",
		    "421 4.4.2 Timeout, closing connection");
		session_close_after(s, "timeout");
		return;
	}
}

void
session_shutdown_all(void)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&fakemx.sessions)) != NULL)
		session_close(s, "shutdown");
}
