/*
 * fuzz_relay.c -- libFuzzer target: the strip-relay (relay.c) between a
 * client and an upstream that are both the fuzzer, with no socket.  The
 * client is one end of a bufferevent pair served by session_start() in
 * strip-relay mode; the upstream leg is one end of a second pair, handed
 * to the relay with relay_use_upstream() instead of a connect.
 *
 * Input: byte 0 picks the relay's configuration (one of six: relay_strip
 * on or off, times relay_starttls "refuse", "pass", "pass" with
 * relay_inject) and, with its next bit, which side leaves first once the
 * input is used up.  Then operations, one byte each (its value mod 10),
 * the event loop run after every one:
 *
 *	0  the client sends n octets: n is the next byte (0: the rest)
 *	1  the upstream sends n octets (the same way); connects it first
 *	2  the upstream connection is up (BEV_EVENT_CONNECTED)
 *	3  the upstream connection fails (an error; before 2, a failed
 *	   connect)
 *	4  the client ends its side (EOF)	5  the client's side fails
 *	6  the upstream ends its side (EOF)	7  the upstream's side fails
 *	8  the session's timer fires (the relay's timeout)
 *	9  the next chunk (0 or 1) is sent k + 1 times: k is the next byte
 *	   (so lines longer than the relay's 4096-octet chunk, and replies
 *	   longer than its 64 KiB, fit in a 4096-octet input)
 *
 * A model of the relay written from its design (relay.c's header: lines
 * forwarded both ways, replies matched to the verbs sent upstream, no
 * verb lost: with 128 awaiting replies, client lines wait; STARTTLS
 * stripped from a 2xx EHLO reply, refused with 454 or passed, nothing
 * more upstream until a passed STARTTLS is answered; the injection after
 * its 220, a tunnel from then on) says what each side must have
 * received.  Fails (abort) when:
 *
 *  - a sanitizer fires (leaks included);
 *  - after any operation, the client or the upstream has received other
 *    octets than the model says, in another order, or fewer or more;
 *  - relay_strip is on and a 2xx reply to EHLO reaches the client with a
 *    STARTTLS line (other than its first, the greeting);
 *  - relay_starttls is "refuse", the upstream never answered 354, and a
 *    STARTTLS command reaches the upstream;
 *  - the upstream sent only reply lines (RFC 5321 section 4.2: three
 *    digits 200..599, space, hyphen or nothing, CRLF) before the tunnel,
 *    and the client received something else than reply lines before it
 *    (the injection is a reply line here);
 *  - once either side has gone, the session is still open or the relay
 *    still holds the other side's connection.
 *
 * FUZZ_RELAY_SHOW=1 in the environment prints both streams (to replay an
 * input: build-fuzz/fuzz_relay FILE).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fake-mx.h"
#include "fuzz_settle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fakemx	fakemx;		/* main.c's, which is not linked here */

/* relay.c's limits: RELAY_CHUNK, RELAY_REPLY_MAX, RELAY_FIFO. */
#define FR_CHUNK	4096		/* longest line handled as a line */
#define FR_REPLY_MAX	65536		/* longest multi-line reply */
#define FR_FIFO		128		/* verbs awaiting a reply */
#define FR_RANGES	64		/* EHLO replies checked per input */

static const char	fr_refusal[] = "454 4.7.0 TLS not available due to "
			    "temporary reason\r\n";
static const char	fr_unreachable[] = "421 4.4.0 upstream unreachable\r\n";
static const char	fr_inject[] = "250 2.0.0 injected by the relay\r\n";

/* relay_strip, relay_starttls, relay_inject: the six configurations. */
static const char *const fr_profiles[] = {
	"\"relay_strip\":true,\"relay_starttls\":\"refuse\"",
	"\"relay_strip\":true,\"relay_starttls\":\"pass\"",
	"\"relay_strip\":true,\"relay_starttls\":\"pass\",\"relay_inject\":"
	    "\"250 2.0.0 injected by the relay\\r\\n\"",
	"\"relay_strip\":false,\"relay_starttls\":\"refuse\"",
	"\"relay_strip\":false,\"relay_starttls\":\"pass\"",
	"\"relay_strip\":false,\"relay_starttls\":\"pass\",\"relay_inject\":"
	    "\"250 2.0.0 injected by the relay\\r\\n\"",
};
#define FR_NPROFILES	(sizeof(fr_profiles) / sizeof(fr_profiles[0]))

static struct config	*fr_conf[FR_NPROFILES];
static struct listener	 fr_l[FR_NPROFILES];
static int		 fr_show;	/* FUZZ_RELAY_SHOW set */
static char		 fr_spool[] = "/tmp/fuzz_relay-XXXXXX";	/* unused */

/* A growing byte string; octets are taken from its front. */
struct fbuf {
	char	*base;		/* the allocation */
	char	*p;		/* the octets, n of them, then a NUL */
	size_t	 n, cap;
};

enum fr_verb { FR_BANNER, FR_EHLO, FR_DATA, FR_STARTTLS, FR_OTHER };

/* The model: what the relay must do, and what each side must receive. */
struct model {
	int		 strip, pass;
	const char	*inject;
	int		 connected, closed, tunnel, await, c_data;
	enum fr_verb	 fifo[FR_FIFO];
	size_t		 head, count;
	struct fbuf	 cin;		/* client octets not handled yet */
	struct fbuf	 uin;		/* upstream octets not handled yet */
	struct fbuf	 reply;		/* lines of an unfinished reply */
	struct fbuf	 c, u;		/* what client, upstream must have */
	size_t		 tunnel_at;	/* c.n when the tunnel began */
	int		 up_bad;	/* upstream sent a non-reply line */
	int		 up_354;	/* upstream sent a line "354..." */
	size_t		 nehlo;		/* stripped EHLO replies in c */
	size_t		 ehlo[FR_RANGES][2];
};

static void
fbuf_add(struct fbuf *b, const void *p, size_t n)
{
	if (b->base != NULL && b->p != b->base) {
		memmove(b->base, b->p, b->n);
		b->p = b->base;
	}
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		if ((b->base = realloc(b->base, b->cap)) == NULL)
			abort();
		b->p = b->base;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Remove the first n octets. */
static void
fbuf_drop(struct fbuf *b, size_t n)
{
	b->p += n;
	b->n -= n;
}

/* Move all of src to the end of dst. */
static void
fbuf_move(struct fbuf *dst, struct fbuf *src)
{
	if (src->n > 0) {
		fbuf_add(dst, src->p, src->n);
		fbuf_drop(src, src->n);
	}
}

static void
fr_fail(const struct model *m, const char *why)
{
	fprintf(stderr, "fuzz_relay: %s\n", why);
	if (m != NULL && fr_show) {
		fprintf(stderr, "--- client must have (%zu)\n", m->c.n);
		fwrite(m->c.p, 1, m->c.n, stderr);
		fprintf(stderr, "\n--- upstream must have (%zu)\n", m->u.n);
		fwrite(m->u.p, 1, m->u.n, stderr);
		fprintf(stderr, "\n");
	}
	abort();
}

/*
 * Is this line (terminator included) a reply line of RFC 5321 section
 * 4.2: code 200..599, then space, hyphen or nothing, text without CR,
 * CRLF?
 */
static int
fr_reply_line(const char *p, size_t len)
{
	if (len < 5 || p[len - 1] != '\n' || p[len - 2] != '\r')
		return 0;
	if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9')
		return 0;
	if (p[3] != ' ' && p[3] != '-' && p[3] != '\r')
		return 0;
	return memchr(p, '\r', len - 2) == NULL;
}

/* Is this reply line the STARTTLS extension ("250-STARTTLS")? */
static int
fr_starttls_line(const char *p, size_t len)
{
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' ||
	    p[len - 1] == ' '))
		len--;
	return len == 12 && strncasecmp(p + 4, "STARTTLS", 8) == 0;
}

/* The length of a line without its terminator (all CRs and LFs). */
static size_t
fr_trim(const char *p, size_t len)
{
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	return len;
}

/* Length of the next piece the relay handles: a line, or a chunk. */
static size_t
fr_next(const struct fbuf *b)
{
	const char	*nl;
	size_t		 len;

	if (b->n == 0)
		return 0;
	if ((nl = memchr(b->p, '\n', b->n)) == NULL)
		return b->n > FR_CHUNK ? FR_CHUNK : 0;
	len = (size_t)(nl - b->p) + 1;
	return len > FR_CHUNK ? FR_CHUNK : len;
}

static void
model_push(struct model *m, enum fr_verb v)
{
	if (m->count == FR_FIFO)
		fr_fail(m, "the model lost a verb");
	m->fifo[(m->head + m->count++) % FR_FIFO] = v;
}

static enum fr_verb
model_pop(struct model *m)
{
	enum fr_verb	v;

	if (m->count == 0)
		return FR_OTHER;
	v = m->fifo[m->head];
	m->head = (m->head + 1) % FR_FIFO;
	m->count--;
	return v;
}

/* The client's complete lines, as the relay must handle them. */
static void
model_client(struct model *m)
{
	struct smtp_cmd	 cmd;
	size_t		 len, clen;
	const char	*p;

	if (m->tunnel) {
		fbuf_move(&m->u, &m->cin);
		return;
	}
	/*
	 * A forwarded STARTTLS: nothing more until its reply.  FR_FIFO verbs
	 * awaiting replies: nothing more until one comes.
	 */
	while (!m->await && m->count < FR_FIFO &&
	    (len = fr_next(&m->cin)) > 0) {
		p = m->cin.p;
		clen = fr_trim(p, len);
		if (m->c_data) {
			/* message text; its end is a command */
			if (clen == 1 && p[0] == '.') {
				m->c_data = 0;
				model_push(m, FR_OTHER);
			}
		} else if (len < FR_CHUNK) {
			smtp_parse(p, clen, &cmd);
			if (cmd.verb == V_STARTTLS && !m->pass) {
				fbuf_add(&m->c, fr_refusal,
				    sizeof(fr_refusal) - 1);
				fbuf_drop(&m->cin, len);
				continue;
			}
			if (cmd.verb == V_STARTTLS)
				m->await = 1;
			model_push(m, cmd.verb == V_EHLO ? FR_EHLO :
			    cmd.verb == V_DATA ? FR_DATA :
			    cmd.verb == V_STARTTLS ? FR_STARTTLS : FR_OTHER);
		}
		fbuf_add(&m->u, p, len);
		fbuf_drop(&m->cin, len);
	}
}

/*
 * A 2xx reply to EHLO with STARTTLS stripped: every STARTTLS line but
 * the first goes; if the last line went, the new last line ends the
 * reply (its hyphen becomes a space).
 */
static void
model_strip(struct model *m, const char *p, size_t n)
{
	const char	*nl;
	size_t		 len, last = 0, lastlen = 0, off;
	int		 gone = 0;	/* the line just seen went */

	for (off = 0; off < n; off += len) {
		nl = memchr(p + off, '\n', n - off);
		len = nl != NULL ? (size_t)(nl - (p + off)) + 1 : n - off;
		if ((gone = off > 0 && fr_starttls_line(p + off, len)))
			continue;
		last = m->c.n;
		lastlen = len;
		fbuf_add(&m->c, p + off, len);
	}
	if (gone && lastlen >= 4 && m->c.p[last + 3] == '-')
		m->c.p[last + 3] = ' ';
}

/* A complete reply from the upstream, matched to the oldest verb. */
static void
model_reply(struct model *m)
{
	enum fr_verb	 v = model_pop(m);
	int		 code = (int)strtol(m->reply.p, NULL, 10);
	size_t		 start = m->c.n;

	if (v == FR_EHLO && code / 100 == 2 && m->strip) {
		model_strip(m, m->reply.p, m->reply.n);
		if (m->nehlo < FR_RANGES) {
			m->ehlo[m->nehlo][0] = start;
			m->ehlo[m->nehlo++][1] = m->c.n;
		}
	} else
		fbuf_add(&m->c, m->reply.p, m->reply.n);
	fbuf_drop(&m->reply, m->reply.n);
	if (v == FR_DATA && code == 354)
		m->c_data = 1;
	if (v != FR_STARTTLS) {
		/* a verb's place is free: lines held back for it go on */
		model_client(m);
		return;
	}
	if (code == 220) {
		/* the injection, then octets pass untouched both ways */
		m->tunnel = 1;
		m->tunnel_at = m->c.n;
		if (m->inject != NULL)
			fbuf_add(&m->c, m->inject, strlen(m->inject));
		fbuf_move(&m->u, &m->cin);
	} else {
		/* refused upstream: the client goes on in cleartext */
		m->await = 0;
		model_client(m);
	}
}

/* The upstream's complete lines, as the relay must handle them. */
static void
model_upstream(struct model *m)
{
	size_t		 len;
	const char	*p;
	int		 last;

	while (!m->tunnel && (len = fr_next(&m->uin)) > 0) {
		p = m->uin.p;
		if (!fr_reply_line(p, len))
			m->up_bad = 1;
		if (len >= 3 && memcmp(p, "354", 3) == 0)
			m->up_354 = 1;
		if (len >= FR_CHUNK || m->c_data) {
			/* not a reply line (message text): as it is */
			fbuf_add(&m->c, p, len);
			fbuf_drop(&m->uin, len);
			continue;
		}
		last = len < 4 || p[3] != '-';
		fbuf_add(&m->reply, p, len);
		fbuf_drop(&m->uin, len);
		if (last || m->reply.n > FR_REPLY_MAX)
			model_reply(m);
	}
	if (m->tunnel)
		fbuf_move(&m->c, &m->uin);
}

static void
model_free(struct model *m)
{
	free(m->cin.base);
	free(m->uin.base);
	free(m->reply.base);
	free(m->c.base);
	free(m->u.base);
}

static void
fr_cleanup(void)
{
	rmdir(fr_spool);
}

/* Once per process: the event loop and the six listeners. */
static void
fr_init(void)
{
	char	 conf[1024], err[512];
	size_t	 i;

	fr_show = getenv("FUZZ_RELAY_SHOW") != NULL;
	/* a configuration names a spool; the relay never writes to it */
	if (mkdtemp(fr_spool) == NULL)
		abort();
	atexit(fr_cleanup);
	if ((fakemx.base = event_base_new()) == NULL ||
	    events_open("/dev/null") == -1)
		abort();
	TAILQ_INIT(&fakemx.sessions);
	for (i = 0; i < FR_NPROFILES; i++) {
		snprintf(conf, sizeof(conf), "{\"events\":\"/dev/null\","
		    "\"spool\":\"%s\",\"timeouts\":{\"command_ms\":600000,\"data_ms\":600000,"
		    "\"tls_ms\":600000},\"listeners\":[{\"name\":\"fuzz\","
		    "\"address\":\"127.0.0.1\",\"mode\":\"strip-relay\","
		    "\"relay_to\":{\"address\":\"127.0.0.1\",\"port\":2525},"
		    "%s}]}", fr_spool, fr_profiles[i]);
		fr_conf[i] = config_parse(conf, strlen(conf), err,
		    sizeof(err));
		if (fr_conf[i] == NULL) {
			fprintf(stderr, "fuzz_relay: profile %zu: %s\n", i,
			    err);
			abort();
		}
		fr_l[i].conf = &fr_conf[i]->listeners[0];
		snprintf(fr_l[i].local, sizeof(fr_l[i].local),
		    "127.0.0.1:25");
	}
}

/* What a peer received since last time goes to got. */
static void
fr_collect(struct bufferevent *bev, struct fbuf *got)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 n = evbuffer_get_length(in);

	if (n > 0) {
		fbuf_add(got, evbuffer_pullup(in, (ssize_t)n), n);
		evbuffer_drain(in, n);
	}
}

/*
 * The checks that do not need the model's streams: the EHLO strip, the
 * refused STARTTLS, reply framing before the tunnel.
 */
static void
fr_check_properties(const struct model *m, const struct fbuf *c,
    const struct fbuf *u)
{
	struct smtp_cmd	 cmd;
	const char	*p, *nl;
	size_t		 i, off, len, end;

	for (i = 0; i < m->nehlo; i++)
		for (off = m->ehlo[i][0]; off < m->ehlo[i][1]; off += len) {
			nl = memchr(c->p + off, '\n', m->ehlo[i][1] - off);
			len = nl != NULL ? (size_t)(nl - (c->p + off)) + 1 :
			    m->ehlo[i][1] - off;
			if (off > m->ehlo[i][0] &&
			    fr_starttls_line(c->p + off, len))
				fr_fail(m, "STARTTLS left in a stripped EHLO "
				    "reply");
		}
	if (!m->pass && !m->up_354 && u->n > 0)
		for (p = u->p; p < u->p + u->n; p += len) {
			nl = memchr(p, '\n', (size_t)(u->p + u->n - p));
			len = nl != NULL ? (size_t)(nl - p) + 1 :
			    (size_t)(u->p + u->n - p);
			if (len >= FR_CHUNK)
				continue;
			smtp_parse(p, fr_trim(p, len), &cmd);
			if (cmd.verb == V_STARTTLS)
				fr_fail(m, "a refused STARTTLS went upstream");
		}
	if (m->up_bad)
		return;
	end = m->tunnel ? m->tunnel_at : c->n;
	if (m->tunnel && m->inject != NULL)
		end += strlen(m->inject);
	for (off = 0; off < end; off += len) {
		if ((nl = memchr(c->p + off, '\n', end - off)) == NULL)
			fr_fail(m, "a reply line cut short");
		len = (size_t)(nl - (c->p + off)) + 1;
		if (!fr_reply_line(c->p + off, len))
			fr_fail(m, "the client got a line that is not a "
			    "reply line");
	}
}

/*
 * After every operation: each side has exactly what the model says.  The
 * model only changes what it adds, so what was compared stays compared.
 */
static void
fr_check_streams(const struct model *m, const struct fbuf *c,
    const struct fbuf *u, size_t *cdone, size_t *udone)
{
	if (fr_show) {
		fprintf(stderr, "--- client has (%zu)\n", c->n);
		fwrite(c->p, 1, c->n, stderr);
		fprintf(stderr, "\n--- upstream has (%zu)\n", u->n);
		fwrite(u->p, 1, u->n, stderr);
		fprintf(stderr, "\n");
	}
	if (c->n != m->c.n || (c->n > *cdone &&
	    memcmp(c->p + *cdone, m->c.p + *cdone, c->n - *cdone) != 0))
		fr_fail(m, "the client did not get what the relay must send");
	if (u->n != m->u.n || (u->n > *udone &&
	    memcmp(u->p + *udone, m->u.p + *udone, u->n - *udone) != 0))
		fr_fail(m, "the upstream did not get what the relay must send");
	*cdone = c->n;
	*udone = u->n;
}

/* One input: its two peers and the model. */
struct fr_run {
	struct bufferevent	*cli[2];	/* [0] the relay's, [1] ours */
	struct bufferevent	*up[2];		/* the same */
	struct model		 m;
	unsigned int		 repeat;	/* the next chunk goes so often */
};

static void
fr_connect(struct fr_run *r)
{
	if (r->m.connected)
		return;
	bufferevent_trigger_event(r->up[0], BEV_EVENT_CONNECTED, 0);
	r->m.connected = 1;
	model_client(&r->m);
}

/* The client (who 0) or the upstream (1) sends p, n octets. */
static void
fr_send(struct fr_run *r, int who, const uint8_t *p, size_t n)
{
	unsigned int	i;

	if (who == 1 && !r->m.connected) {
		fr_connect(r);
		fuzz_settle();
	}
	for (i = 0; i < r->repeat; i++)
		if (who == 0) {
			bufferevent_write(r->cli[1], p, n);
			fbuf_add(&r->m.cin, p, n);
		} else {
			bufferevent_write(r->up[1], p, n);
			fbuf_add(&r->m.uin, p, n);
		}
	r->repeat = 1;
	if (who == 1)
		model_upstream(&r->m);
	else if (r->m.connected)
		model_client(&r->m);
}

/* Operation op (the input's layout is in the comment at the top). */
static void
fr_op(struct fr_run *r, int op)
{
	struct model	*m = &r->m;

	switch (op) {
	case 2:
		fr_connect(r);
		break;
	case 3:
	case 7:
	case 6:
		if (op == 6)
			bufferevent_flush(r->up[1], EV_WRITE, BEV_FINISHED);
		else
			bufferevent_trigger_event(r->up[0], BEV_EVENT_ERROR,
			    0);
		if (!m->connected)
			fbuf_add(&m->c, fr_unreachable,
			    sizeof(fr_unreachable) - 1);
		m->closed = 1;
		break;
	case 4:
		/* what the client sent before reaches the relay first */
		bufferevent_flush(r->cli[1], EV_WRITE, BEV_FINISHED);
		model_client(m);
		m->closed = 1;
		break;
	case 5:
		bufferevent_trigger_event(r->cli[0], BEV_EVENT_ERROR, 0);
		m->closed = 1;
		break;
	case 8:
		event_active(TAILQ_FIRST(&fakemx.sessions)->timer,
		    EV_TIMEOUT, 1);
		m->closed = 1;
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 ready;
	static struct fr_run	 r;
	struct fbuf		 gotc, gotu;
	struct model		*m = &r.m;
	struct listener		*l;
	size_t			 off, n, prof, cdone = 0, udone = 0;
	int			 op, upfirst;

	if (!ready) {
		fr_init();
		ready = 1;
	}
	if (size < 1)
		return 0;
	prof = data[0] % FR_NPROFILES;
	upfirst = (data[0] / FR_NPROFILES) & 1;
	l = &fr_l[prof];
	fakemx.conf = fr_conf[prof];
	memset(&r, 0, sizeof(r));
	memset(&gotc, 0, sizeof(gotc));
	memset(&gotu, 0, sizeof(gotu));
	r.repeat = 1;
	m->strip = l->conf->relay_strip;
	m->pass = l->conf->relay_starttls == RELAY_STLS_PASS;
	m->inject = l->conf->relay_inject;
	if (m->inject != NULL && strcmp(m->inject, fr_inject) != 0)
		abort();
	model_push(m, FR_BANNER);

	/* Callbacks deferred to the loop, as a socket's would be. */
	if (bufferevent_pair_new(fakemx.base, BEV_OPT_DEFER_CALLBACKS,
	    r.cli) == -1 || bufferevent_pair_new(fakemx.base,
	    BEV_OPT_DEFER_CALLBACKS, r.up) == -1)
		abort();
	bufferevent_enable(r.cli[1], EV_READ | EV_WRITE);
	bufferevent_enable(r.up[1], EV_READ | EV_WRITE);
	relay_use_upstream(r.up[0]);
	session_start(l, r.cli[0], "192.0.2.1:1025", "127.0.0.1:25");
	fuzz_settle();

	for (off = 1; !m->closed; ) {
		if (off < size)
			op = data[off++] % 10;
		else	/* the input is used up: one side leaves */
			op = upfirst ? 6 : 4;
		if (op == 0 || op == 1) {
			n = off < size ? data[off++] : 0;
			if (n == 0 || n > size - off)
				n = size - off;
			fr_send(&r, op, data + off, n);
			off += n;
		} else if (op == 9)
			r.repeat = off < size ? data[off++] + 1u : 1;
		else
			fr_op(&r, op);
		fuzz_settle();
		fr_collect(r.cli[1], &gotc);
		fr_collect(r.up[1], &gotu);
		fr_check_streams(m, &gotc, &gotu, &cdone, &udone);
	}
	/* Either side gone: the session and both its connections are. */
	if (fakemx.nopen != 0 || bufferevent_pair_get_partner(r.cli[1]) !=
	    NULL || bufferevent_pair_get_partner(r.up[1]) != NULL)
		fr_fail(m, "the session outlived a side that left");
	fr_check_properties(m, &gotc, &gotu);
	bufferevent_free(r.cli[1]);
	bufferevent_free(r.up[1]);
	model_free(m);
	free(gotc.base);
	free(gotu.base);
	return 0;
}
