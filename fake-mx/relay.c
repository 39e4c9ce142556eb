/*
 * relay.c -- the on-path relay (mode "strip-relay").
 *
 * \file
 * The attacker of RFC 7672 section 1.3: it accepts the client, connects
 * to relay_to from its own address (the upstream sees the attacker as its
 * peer), forwards both ways line by line and logs every line it sees as
 * a "relay" event.  What it does to STARTTLS is configured:
 *
 *   relay_strip	remove STARTTLS from the EHLO reply it forwards
 *			(the removed line is logged with "stripped": true);
 *   relay_starttls	"refuse": answer a STARTTLS the client sends anyway
 *			with 454 itself (never forwarded); "pass": forward
 *			it and, once the upstream answers 220, stop reading
 *			lines and pass the bytes through both ways (the TLS
 *			session is then between client and upstream);
 *   relay_inject	with "pass": text sent to the client in plaintext
 *			right after that 220 (each line logged with
 *			"injected": true): the STARTTLS injection of the
 *			CVE-2011-0411 class, aimed at the client.
 *
 * The struct relay belongs to its session; session_close() calls
 * relay_free(), which frees the upstream connection and buffers.
 *
 * Replies are matched to commands with a FIFO of the verbs sent upstream
 * (the banner first), so pipelined commands are handled.
 *
 * Nothing but relay_start()'s connect needs a socket: relay_use_upstream()
 * hands the next relay an upstream leg already made (the fuzz target
 * fuzz/fuzz_relay.c gives it one end of a bufferevent pair).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fake-mx.h"

#define RELAY_FIFO	128
#define RELAY_CHUNK	4096		/* longest line handled as a line */
#define RELAY_REPLY_MAX	65536		/* longest multi-line reply */
#define RELAY_OUT_MAX	(1024 * 1024)	/* stop reading the other side */

enum relay_expect {
	RX_BANNER,
	RX_EHLO,
	RX_DATA,
	RX_STARTTLS,
	RX_OTHER
};

struct relay {
	struct session		*s;
	struct bufferevent	*up;
	struct evbuffer		*reply;		/* lines of a pending reply */
	enum relay_expect	 fifo[RELAY_FIFO];
	size_t			 head, count;
	int			 c_data;	/* client sends message text */
	int			 quit;
	int			 await_tls;	/* STARTTLS forwarded, no reply */
	int			 tunnel;	/* bytes pass through unread */
	char			 up_peer[64];	/* relay_to, "addr:port" */
};

static void	relay_client_read(struct bufferevent *, void *);
static void	relay_pass(struct bufferevent *, struct bufferevent *);

/* Log one line; mark, when not NULL, is "stripped" or "injected". */
static void
relay_line_event(struct session *s, const char *dir, const char *p,
    size_t n, const char *mark)
{
	json_t	*o;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	o = json_object();
	json_object_set_new(o, "direction", json_string(dir));
	json_object_set_new(o, "line", events_str(p, n));
	if (mark != NULL)
		json_object_set_new(o, mark, json_true());
	session_emit(s, "relay", o);
}

/* Every line of buf (len octets) as relay events in direction dir. */
static void
relay_lines_event(struct session *s, const char *dir, const char *buf,
    size_t len, const char *mark)
{
	const char	*p, *nl;

	for (p = buf; p < buf + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(buf + len - p))) == NULL)
			nl = buf + len - 1;
		relay_line_event(s, dir, p, (size_t)(nl - p) + 1, mark);
	}
}

/*
 * Backpressure: when one side does not read, stop reading the other so
 * nothing grows without bound; resume once the output has drained.
 */
static void
relay_throttle(struct bufferevent *from, struct bufferevent *to)
{
	if (evbuffer_get_length(bufferevent_get_output(to)) > RELAY_OUT_MAX)
		bufferevent_disable(from, EV_READ);
}

/*
 * Throttle and find the next piece of input from -> to: a line with its
 * LF, or RELAY_CHUNK octets of a longer one.  Returns its length, or 0
 * when more input is needed.
 */
static size_t
relay_next(struct bufferevent *from, struct bufferevent *to)
{
	struct evbuffer		*in = bufferevent_get_input(from);
	struct evbuffer_ptr	 ptr;
	size_t			 n, len;

	relay_throttle(from, to);
	ptr = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_LF);
	if (ptr.pos == -1) {
		if ((len = evbuffer_get_length(in)) <= RELAY_CHUNK)
			return 0;
	} else
		len = (size_t)ptr.pos + 1;
	return len > RELAY_CHUNK ? RELAY_CHUNK : len;
}

static void
relay_client_write(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->relay != NULL && !s->closing)
		bufferevent_enable(s->relay->up, EV_READ);
}

static void
relay_up_write(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (!s->closing && s->state == S_RELAY)
		bufferevent_enable(s->bev, EV_READ);
}

/* Only called with room: relay_client_read() stops while it is full. */
static void
relay_push(struct relay *r, enum relay_expect x)
{
	r->fifo[(r->head + r->count) % RELAY_FIFO] = x;
	r->count++;
}

static enum relay_expect
relay_pop(struct relay *r)
{
	enum relay_expect	x;

	if (r->count == 0)
		return RX_OTHER;
	x = r->fifo[r->head];
	r->head = (r->head + 1) % RELAY_FIFO;
	r->count--;
	return x;
}

/* Is this reply line the STARTTLS extension? */
static int
relay_is_starttls(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' ||
	    p[n - 1] == ' '))
		n--;
	return n == 12 && strncasecmp(p + 4, "STARTTLS", 8) == 0;
}

char *
relay_strip_ehlo(const char *buf, size_t len, size_t *outlen, int *stripped)
{
	char		*out;
	size_t		 off = 0, o = 0, n, last = 0, lastn = 0;
	const char	*nl;
	int		 gone = 0;	/* the line just seen went */

	*stripped = 0;
	out = xmalloc(len + 1);
	while (off < len) {
		nl = memchr(buf + off, '\n', len - off);
		n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
		gone = off > 0 && n >= 4 && relay_is_starttls(buf + off, n);
		if (gone)
			*stripped = 1;
		else {
			memcpy(out + o, buf + off, n);
			last = o;
			lastn = n;
			o += n;
		}
		off += n;
	}
	out[o] = '\0';
	*outlen = o;
	/*
	 * The last line went: the new last line, a continuation, ends the
	 * reply now.  A last line that stayed ends it already ("250", CRLF,
	 * has no separator to change).
	 */
	if (gone && lastn >= 4 && out[last + 3] == '-')
		out[last + 3] = ' ';
	return out;
}

/*
 * The upstream answered a forwarded STARTTLS with 220: forward it, send
 * the injected text (if any), and from now on pass bytes through.
 */
static void
relay_tunnel_start(struct relay *r)
{
	struct session	*s = r->s;
	const char	*inject = s->l->conf->relay_inject;
	json_t		*o;

	r->await_tls = 0;
	r->tunnel = 1;
	if (inject != NULL) {
		relay_lines_event(s, "s2c", inject, strlen(inject),
		    "injected");
		bufferevent_write(s->bev, inject, strlen(inject));
	}
	o = json_object();
	json_object_set_new(o, "injected", json_integer(inject != NULL ?
	    (json_int_t)strlen(inject) : 0));
	session_emit(s, "tunnel", o);
	/* a client that did not wait for the 220: its bytes go on now */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		relay_pass(s->bev, r->up);
}

/* A complete reply from upstream: rewrite if needed, log, forward. */
static void
relay_reply(struct relay *r)
{
	struct session		*s = r->s;
	size_t			 len = evbuffer_get_length(r->reply);
	char			*buf, *out = NULL, *p, *nl;
	size_t			 outlen = 0;
	enum relay_expect	 x;
	int			 stripped = 0, code;
	json_t			*o;

	buf = xmalloc(len + 1);
	evbuffer_remove(r->reply, buf, len);
	buf[len] = '\0';
	x = relay_pop(r);
	code = (int)strtol(buf, NULL, 10);
	if (x == RX_EHLO && code / 100 == 2 && s->l->conf->relay_strip)
		out = relay_strip_ehlo(buf, len, &outlen, &stripped);
	if (x == RX_DATA && code == 354)
		r->c_data = 1;
	for (p = buf; p < buf + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(buf + len - p))) == NULL)
			nl = buf + len - 1;
		relay_line_event(s, "s2c", p, (size_t)(nl - p) + 1,
		    stripped && relay_is_starttls(p, (size_t)(nl - p) + 1) ?
		    "stripped" : NULL);
	}
	if (out != NULL) {
		bufferevent_write(s->bev, out, outlen);
		free(out);
	} else
		bufferevent_write(s->bev, buf, len);
	free(buf);
	if (x != RX_STARTTLS) {
		/* a verb's place is free: lines held back for it go on */
		if (!r->await_tls && evbuffer_get_length(
		    bufferevent_get_input(s->bev)) > 0)
			relay_client_read(s->bev, s);
		return;
	}
	o = json_object();
	json_object_set_new(o, "reply", json_integer(code));
	json_object_set_new(o, "forwarded", json_true());
	session_emit(s, "starttls", o);
	if (code == 220)
		relay_tunnel_start(r);
	else {
		/* refused upstream: the client goes on in cleartext */
		r->await_tls = 0;
		relay_client_read(s->bev, s);
	}
}

/* Answer the client's STARTTLS (len octets of input) with 454 ourselves. */
static void
relay_refuse_starttls(struct session *s, size_t len)
{
	static const char no[] = "454 4.7.0 TLS not available due to "
	    "temporary reason\r\n";
	json_t	*o;

	evbuffer_drain(bufferevent_get_input(s->bev), len);
	o = json_object();
	json_object_set_new(o, "reply", json_integer(454));
	session_emit(s, "starttls", o);
	relay_line_event(s, "s2c", no, sizeof(no) - 1, NULL);
	bufferevent_write(s->bev, no, sizeof(no) - 1);
}

/* Tunnel: move whatever from has read to the other side, unread. */
static void
relay_pass(struct bufferevent *from, struct bufferevent *to)
{
	relay_throttle(from, to);
	evbuffer_add_buffer(bufferevent_get_output(to),
	    bufferevent_get_input(from));
}

static void
relay_up_read(struct bufferevent *bev, void *arg)
{
	struct session		*s = arg;
	struct relay		*r = s->relay;
	struct evbuffer		*in = bufferevent_get_input(bev);
	size_t			 len;
	char			 head[4];

	session_timer(s, fakemx.conf->command_ms);
	while (!r->tunnel && (len = relay_next(bev, s->bev)) > 0) {
		if (len >= RELAY_CHUNK || r->c_data) {
			/* not a reply line: pass it through */
			relay_line_event(s, "s2c", (char *)evbuffer_pullup(in,
			    (ssize_t)len), len, NULL);
			evbuffer_remove_buffer(in, bufferevent_get_output(
			    s->bev), len);
			continue;
		}
		evbuffer_copyout(in, head, len < 4 ? len : 4);
		evbuffer_remove_buffer(in, r->reply, len);
		if (len < 4 || head[3] != '-' ||
		    evbuffer_get_length(r->reply) > RELAY_REPLY_MAX)
			relay_reply(r);
	}
	if (r->tunnel)
		relay_pass(bev, s->bev);
}

static void
relay_client_read(struct bufferevent *bev, void *arg)
{
	struct session		*s = arg;
	struct relay		*r = s->relay;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct smtp_cmd		 cmd;
	size_t			 len, clen;
	char			*p;

	session_timer(s, fakemx.conf->command_ms);
	if (r->tunnel) {
		relay_pass(bev, r->up);
		return;
	}
	/*
	 * After a forwarded STARTTLS, nothing moves until its reply; with
	 * RELAY_FIFO verbs awaiting replies, nothing until one comes (a verb
	 * not in the FIFO would leave its reply, and every later one,
	 * matched to the wrong command: an EHLO reply with STARTTLS kept).
	 */
	while (!r->await_tls && r->count < RELAY_FIFO &&
	    (len = relay_next(bev, r->up)) > 0) {
		p = (char *)evbuffer_pullup(in, (ssize_t)len);
		relay_line_event(s, "c2s", p, len, NULL);
		clen = len;
		while (clen > 0 && (p[clen - 1] == '\n' || p[clen - 1] == '\r'))
			clen--;
		if (r->c_data) {
			if (clen == 1 && p[0] == '.') {
				r->c_data = 0;
				relay_push(r, RX_OTHER);
			}
		} else if (len < RELAY_CHUNK) {
			smtp_parse(p, clen, &cmd);
			if (cmd.verb == V_STARTTLS &&
			    s->l->conf->relay_starttls == RELAY_STLS_REFUSE) {
				relay_refuse_starttls(s, len);
				continue;
			}
			if (cmd.verb == V_STARTTLS)
				r->await_tls = 1;
			if (cmd.verb == V_QUIT)
				r->quit = 1;
			relay_push(r, cmd.verb == V_EHLO ? RX_EHLO :
			    cmd.verb == V_DATA ? RX_DATA :
			    cmd.verb == V_STARTTLS ? RX_STARTTLS : RX_OTHER);
		}
		evbuffer_remove_buffer(in, bufferevent_get_output(r->up), len);
	}
}

static void
relay_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	session_close(s, (what & BEV_EVENT_EOF) ? "client-eof" : "error");
}

/*
 * Log "upstream": the address the relay dialled (peer) and the one it
 * dialled from (local), which the upstream logs as its session's peer:
 * the harness joins the two legs of a relayed session by it.
 */
static void
relay_upstream_event(struct session *s, evutil_socket_t fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 local[64] = "unknown";
	json_t			*o;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		listener_fmtaddr(&ss, local, sizeof(local));
	o = json_object();
	json_object_set_new(o, "local", json_string(local));
	json_object_set_new(o, "peer", json_string(s->relay->up_peer));
	session_emit(s, "upstream", o);
}

static void
relay_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	struct relay	*r = s->relay;

	if (what & BEV_EVENT_CONNECTED) {
		relay_upstream_event(s, bufferevent_getfd(bev));
		session_enter(s, FSM_RELAY_UP, 0);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	if (s->state == S_RELAY_CONNECT) {
		static const char msg[] = "421 4.4.0 upstream unreachable\r\n";

		bufferevent_write(s->bev, msg, sizeof(msg) - 1);
		relay_line_event(s, "s2c", msg, sizeof(msg) - 1, NULL);
		s->close_reason = "error";
	} else if (r->tunnel)
		/* QUIT, if any, went by unread inside the TLS session */
		s->close_reason = (what & BEV_EVENT_EOF) ? "upstream-eof" :
		    "error";
	else
		s->close_reason = r->quit ? "quit" : "error";
	/* upstream gone: flush what we have to the client, then close */
	bufferevent_disable(r->up, EV_READ | EV_WRITE);
	bufferevent_disable(s->bev, EV_READ);
	s->closing = 1;
	s->closing_polls = 0;
	session_timer(s, 0);
}

/*
 * A non-blocking socket for the upstream leg, bound to the address the
 * client dialled (port 0) when the families agree, so that the upstream
 * sees the attacker's address.  Returns -1 if no socket could be made
 * (libevent then makes its own at connect time).
 */
static evutil_socket_t
relay_socket(struct session *s, const struct sockaddr_storage *to)
{
	struct sockaddr_storage	 me;
	socklen_t		 len = sizeof(me);
	evutil_socket_t		 fd;

	fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (getsockname(bufferevent_getfd(s->bev), (struct sockaddr *)&me,
	    &len) == 0 && me.ss_family == to->ss_family) {
		if (me.ss_family == AF_INET)
			((struct sockaddr_in *)&me)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&me)->sin6_port = 0;
		/* not fatal: the kernel then picks the source address */
		(void)bind(fd, (struct sockaddr *)&me, len);
	}
	return fd;
}

/*
 * The upstream leg the next relay_start() takes instead of dialling
 * relay_to (relay_use_upstream()); NULL in fake-mx itself.
 */
static struct bufferevent	*relay_given_up;

void
relay_use_upstream(struct bufferevent *up)
{
	relay_given_up = up;
}

void
relay_start(struct session *s)
{
	struct relay		*r;
	struct bufferevent	*given;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	int			 sslen;
	const struct listener_conf *lc = s->l->conf;

	r = xcalloc(1, sizeof(*r));
	r->s = s;
	s->relay = r;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, lc->relay_address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)lc->relay_port);
		sslen = sizeof(*s4);
	} else {
		inet_pton(AF_INET6, lc->relay_address, &s6->sin6_addr);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)lc->relay_port);
		sslen = sizeof(*s6);
	}
	listener_fmtaddr(&ss, r->up_peer, sizeof(r->up_peer));
	if ((given = relay_given_up) != NULL) {
		r->up = given;
		relay_given_up = NULL;
	} else
		r->up = bufferevent_socket_new(s->base, relay_socket(s, &ss),
		    BEV_OPT_CLOSE_ON_FREE);
	if ((r->reply = evbuffer_new()) == NULL || r->up == NULL) {
		fprintf(stderr, "fake-mx: out of memory (relay)\n");
		exit(1);
	}
	relay_push(r, RX_BANNER);
	bufferevent_setcb(s->bev, relay_client_read, relay_client_write,
	    relay_client_event, s);
	bufferevent_setcb(r->up, relay_up_read, relay_up_write, relay_up_event,
	    s);
	bufferevent_enable(r->up, EV_READ | EV_WRITE);
	session_enter(s, FSM_RELAY, 0);
	session_timer(s, fakemx.conf->command_ms);
	if (given != NULL)
		return;		/* its owner reports the connect, or not */
	if (bufferevent_socket_connect(r->up, (struct sockaddr *)&ss,
	    sslen) == -1)
		relay_up_event(r->up, BEV_EVENT_ERROR, s);
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	if (r->up != NULL)
		bufferevent_free(r->up);
	if (r->reply != NULL)
		evbuffer_free(r->reply);
	free(r);
}
