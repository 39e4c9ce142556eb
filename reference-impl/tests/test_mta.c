/*
 * test_mta.c -- the SMTP client state machine (mta.c) against a scripted
 * server over a socketpair, inside one event loop: no network.  The server
 * can switch to TLS after its 220 to STARTTLS (a generated certificate), and
 * logs every command it receives with "P:" (cleartext) or "T:" (TLS), so a
 * case can assert what was, and was not, ever sent in the clear.  Each case
 * also reads the "session" event the client wrote and asserts the state in
 * which a failure was reported, and that the event carries the session id.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "tests.h"

/* Replies; NULL: the usual positive one. */
struct script {
	const char	*banner;	/* NULL: no server, a bad address */
	int		 starttls;	/* offer STARTTLS in EHLO */
	const char	*starttls_reply;
	const char	*mail;
	const char	*rcpt;
	const char	*eom;
	const char	*ehlo_tls;	/* reply to EHLO over TLS */
	const char	*drop;		/* close instead of answering this
					 * command; "TLS": cleartext garbage
					 * in answer to the client's hello;
					 * "HANDSHAKE": close in the middle
					 * of the handshake */
	const char	*quit;		/* reply to QUIT; "LONG": 6000
					 * bytes and no line end */
};

struct server {
	struct event_base	*base;
	struct bufferevent	*bev;
	SSL_CTX			*ctx;
	const struct script	*sc;
	int			 tls;
	int			 in_data;
	int			 discard;	/* ignore what comes in */
	int			 garbage;	/* answer it with garbage */
	char			 log[2048];
	char			 sni[256];
};

struct mta_case {
	const char	*name;
	enum host_mode	 mode;
	int		 tlsa_ok;	/* DANE: TLSA record matches the key */
	struct script	 sc;
	enum mta_outcome outcome;
	const char	*reason;	/* on failure */
	const char	*state;		/* failed in (session event), or
					 * NULL: no failure reported */
	int		 delivered;
	int		 tls;
	int		 auth;
	const char	*must;		/* substring of the server's log */
	const char	*never;		/* must not appear in the log */
	const char	*detail;	/* substring of the result's detail;
					 * "!text": text must not be in it */
};

#define B	"220 mx.test ESMTP"
#define GO	"220 go"
#define N	NULL
static const struct mta_case cases[] = {
	{ "dane: no STARTTLS -> no mail at all", HOST_DANE, 1,
	    { B, 0, N, N, N, N, N, N, N }, MTA_HOSTFAIL,
	    "starttls-not-supported", "ehlo", 0, 0, 0, "P:EHLO|P:QUIT|",
	    "MAIL", N },
	{ "dane: STARTTLS 454 -> no mail", HOST_DANE, 1,
	    { B, 1, "454 4.7.0 not now", N, N, N, N, N, N }, MTA_HOSTFAIL,
	    "starttls-not-supported", "starttls", 0, 0, 0,
	    "P:STARTTLS|P:QUIT|", "MAIL", N },
	{ "dane: STARTTLS dropped -> no mail", HOST_DANE, 1,
	    { B, 1, GO, N, N, N, N, "STARTTLS", N }, MTA_HOSTFAIL,
	    "starttls-not-supported", "starttls", 0, 0, 0, "P:STARTTLS|",
	    "MAIL", N },
	{ "dane: key matches -> delivered over TLS", HOST_DANE, 1,
	    { B, 1, GO, N, N, N, N, N, N }, MTA_OK, N, N, 1, 1, 1,
	    "P:STARTTLS|T:EHLO|T:MAIL|T:RCPT|T:DATA|", "P:MAIL", N },
	{ "dane: key differs -> QUIT over TLS, no mail", HOST_DANE, 0,
	    { B, 1, GO, N, N, N, N, N, N }, MTA_HOSTFAIL,
	    "validation-failure", "handshake", 0, 1, 0, "P:STARTTLS|T:QUIT|",
	    "MAIL", N },
	/* OpenSSL's own reason, not a bare "lib(0)::reason(1)" */
	{ "dane: no TLS after 220 -> handshake failure, no mail", HOST_DANE,
	    1, { B, 1, GO, N, N, N, N, "TLS", N }, MTA_HOSTFAIL,
	    "validation-failure", "handshake", 0, 0, 0, "P:STARTTLS|", "MAIL",
	    "failed: wrong version number" },
	/*
	 * Cleartext after the 220 could pass for a reply over TLS.  Where
	 * TLS is required it is a TLSRPT failure of its own (RFC 8460 puts
	 * what fits no other type under validation-failure); elsewhere a
	 * protocol error.
	 */
	{ "dane: a reply injected after the 220 -> no TLS, no mail",
	    HOST_DANE, 1, { B, 1, "220 go\r\n250 injected", N, N, N, N, N, N },
	    MTA_HOSTFAIL, "validation-failure", "starttls", 0, 0, 0,
	    "P:STARTTLS|", "MAIL", "after its 220 to STARTTLS" },
	{ "may: a reply injected after the 220 -> no TLS, no mail",
	    HOST_MAY, 1, { B, 1, "220 go\r\n250 injected", N, N, N, N, N, N },
	    MTA_HOSTFAIL, "protocol", "starttls", 0, 0, 0, "P:STARTTLS|",
	    "MAIL", "after its 220 to STARTTLS" },
	{ "dane: EHLO over TLS refused -> host failure", HOST_DANE, 1,
	    { B, 1, GO, N, N, N, "554 5.7.0 no", N, N }, MTA_HOSTFAIL,
	    "smtp", "ehlo-tls", 0, 1, 1, "T:EHLO|T:QUIT|", "MAIL", N },
	{ "dane: TLS closed in the handshake -> a reason", HOST_DANE, 1,
	    { B, 1, GO, N, N, N, N, "HANDSHAKE", N }, MTA_HOSTFAIL,
	    "validation-failure", "handshake", 0, 0, 0, "P:STARTTLS|", "MAIL",
	    "!reason(" },
	{ "encrypt: no STARTTLS -> no mail", HOST_ENCRYPT, 0,
	    { B, 0, N, N, N, N, N, N, N }, MTA_HOSTFAIL,
	    "starttls-not-supported", "ehlo", 0, 0, 0, N, "MAIL", N },
	{ "encrypt: any certificate, TLS", HOST_ENCRYPT, 0,
	    { B, 1, GO, N, N, N, N, N, N }, MTA_OK, N, N, 1, 1, 0,
	    "T:MAIL|", "P:MAIL", N },
	{ "may: no STARTTLS -> cleartext", HOST_MAY, 0,
	    { B, 0, N, N, N, N, N, N, N }, MTA_OK, N, N, 1, 0, 0,
	    "P:MAIL|", N, N },
	{ "may: STARTTLS 454 -> cleartext", HOST_MAY, 0,
	    { B, 1, "454 4.7.0 not now", N, N, N, N, N, N }, MTA_OK, N, N, 1,
	    0, 0, "P:STARTTLS|P:MAIL|", N, N },
	{ "may: STARTTLS offered -> TLS", HOST_MAY, 0,
	    { B, 1, GO, N, N, N, N, N, N }, MTA_OK, N, N, 1, 1, 0,
	    "T:MAIL|", "P:MAIL", N },
	{ "may: no TLS after 220 -> host failure, no cleartext retry",
	    HOST_MAY, 0, { B, 1, GO, N, N, N, N, "TLS", N }, MTA_HOSTFAIL,
	    "validation-failure", "handshake", 0, 0, 0, "P:STARTTLS|", "MAIL",
	    N },
	{ "multi-line banner", HOST_MAY, 0,
	    { "220-mx.test hello\r\n220-more\r\n220 mx.test ready", 0, N, N,
	    N, N, N, N, N }, MTA_OK, N, N, 1, 0, 0, "P:MAIL|", N, N },
	{ "no server -> connect failure", HOST_MAY, 0,
	    { N, 0, N, N, N, N, N, N, N }, MTA_HOSTFAIL, "connect-failed",
	    "connect", 0, 0, 0, N, N, N },
	{ "banner 554 -> host failure", HOST_MAY, 0,
	    { "554 5.3.2 go away", 0, N, N, N, N, N, N, N }, MTA_HOSTFAIL,
	    "smtp", "banner", 0, 0, 0, "P:QUIT|", "MAIL", N },
	{ "MAIL 550 -> permanent", HOST_MAY, 0,
	    { B, 0, N, "550 5.7.1 no", N, N, N, N, N }, MTA_PERMFAIL, "smtp",
	    "mail", 0, 0, 0, "P:MAIL|", "RCPT", N },
	{ "connection lost at MAIL -> host failure", HOST_MAY, 0,
	    { B, 0, N, N, N, N, N, "MAIL", N }, MTA_HOSTFAIL, "smtp", "mail",
	    0, 0, 0, "P:MAIL|", "RCPT", N },
	{ "RCPT 550 -> no DATA", HOST_MAY, 0,
	    { B, 0, N, N, "550 5.1.1 unknown", N, N, N, N }, MTA_OK, N, N, 0,
	    0, 0, "P:RCPT|P:QUIT|", "DATA", N },
	{ "end of data 451 -> not delivered", HOST_MAY, 0,
	    { B, 0, N, N, N, "451 4.3.0 later", N, N, N }, MTA_OK, N, N, 0, 0,
	    0, "P:DATA|", N, N },
	/* After the final 250 the message is delivered, whatever follows. */
	{ "250, then an empty line -> delivered", HOST_MAY, 0,
	    { B, 0, N, N, N, "250 2.0.0 queued\r\n", N, N, N }, MTA_OK, N, N,
	    1, 0, 0, "P:DATA|", N, N },
	{ "250, then garbage -> delivered", HOST_MAY, 0,
	    { B, 0, N, N, N, "250 2.0.0 queued\r\nnot a reply", N, N, N },
	    MTA_OK, N, N, 1, 0, 0, "P:DATA|", N, N },
	{ "garbage QUIT reply -> delivered", HOST_MAY, 0,
	    { B, 0, N, N, N, N, N, N, "bye" }, MTA_OK, N, N, 1, 0, 0,
	    "P:DATA|P:QUIT|", N, N },
	{ "over-long QUIT reply -> delivered", HOST_MAY, 0,
	    { B, 0, N, N, N, N, N, N, "LONG" }, MTA_OK, N, N, 1, 0, 0,
	    "P:DATA|P:QUIT|", N, N },
	{ "QUIT over TLS answered with garbage -> delivered", HOST_DANE, 1,
	    { B, 1, GO, N, N, N, N, N, "\x01\xff" }, MTA_OK, N, N, 1, 1, 1,
	    "T:DATA|T:QUIT|", N, N },
	/* Text from the peer is made safe before it goes anywhere. */
	{ "MAIL 451 with bytes that are not text -> escaped", HOST_MAY, 0,
	    { B, 0, N, "451 4.3.0 \xc3\x28 busy\rnow\x01", N, N, N, N, N },
	    MTA_HOSTFAIL, "smtp", "mail", 0, 0, 0, "P:MAIL|", "RCPT",
	    "451 4.3.0 \\xc3( busy\\x0dnow\\x01" },
	{ N, 0, 0, { N, 0, N, N, N, N, N, N, N }, 0, N, N, 0, 0, 0, N, N, N }
};
#undef N
#undef GO
#undef B

static void	server_read(struct bufferevent *, void *);

static void
server_reply(struct server *sv, const char *line)
{
	evbuffer_add_printf(bufferevent_get_output(sv->bev), "%s\r\n", line);
}

/* n bytes of one line that never ends. */
static void
server_long(struct server *sv, size_t n)
{
	char	*p = xmalloc(n);

	memset(p, 'x', n);
	evbuffer_add(bufferevent_get_output(sv->bev), p, n);
	free(p);
}

static int
server_sni(SSL *ssl, int *al, void *arg)
{
	struct server	*sv = arg;
	const char	*n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)al;
	snprintf(sv->sni, sizeof(sv->sni), "%s", n ? n : "");
	return SSL_TLSEXT_ERR_OK;
}

static void
server_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;		/* the client went away: nothing to do */
}

static void
server_read(struct bufferevent *bev, void *arg)
{
	struct server	*sv = arg;
	char		*line, verb[16];
	size_t		 len, l;
	SSL		*ssl;
	const struct script *sc = sv->sc;

	if (sv->garbage) {
		/* The client's hello gets cleartext back. */
		server_reply(sv, "this is no TLS handshake");
		sv->garbage = 0;
		sv->discard = 1;
	}
	if (sv->discard) {
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
		return;
	}
	while (bev == sv->bev && (line = evbuffer_readln(
	    bufferevent_get_input(bev), &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (sv->in_data) {
			if (strcmp(line, ".") == 0) {
				sv->in_data = 0;
				server_reply(sv, sc->eom ? sc->eom :
				    "250 2.0.0 queued");
			}
			free(line);
			continue;
		}
		snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(line, " :"),
		    line);
		l = strlen(sv->log);
		snprintf(sv->log + l, sizeof(sv->log) - l, "%s:%s|",
		    sv->tls ? "T" : "P", verb);
		free(line);
		if (sc->drop != NULL && strcasecmp(verb, sc->drop) == 0) {
			bufferevent_free(sv->bev);
			sv->bev = NULL;
			return;
		}
		if (strcasecmp(verb, "EHLO") == 0) {
			if (sv->tls && sc->ehlo_tls != NULL)
				server_reply(sv, sc->ehlo_tls);
			else if (sc->starttls && !sv->tls)
				server_reply(sv, "250-mx.test\r\n250-PIPELINING"
				    "\r\n250 STARTTLS");
			else
				server_reply(sv, "250-mx.test\r\n250 8BITMIME");
		} else if (strcasecmp(verb, "STARTTLS") == 0) {
			if (sc->drop != NULL &&
			    strcmp(sc->drop, "HANDSHAKE") == 0) {
				/* The 220, then the door closes. */
				(void)!write(bufferevent_getfd(bev), "220 go\r\n",
				    8);
				bufferevent_free(sv->bev);
				sv->bev = NULL;
				return;
			}
			server_reply(sv, sc->starttls_reply);
			if (strncmp(sc->starttls_reply, "220", 3) != 0)
				continue;
			if (sc->drop != NULL && strcmp(sc->drop, "TLS") == 0) {
				sv->garbage = 1;
				return;
			}
			ssl = SSL_new(sv->ctx);
			bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
			sv->bev = bufferevent_openssl_filter_new(sv->base, bev,
			    ssl, BUFFEREVENT_SSL_ACCEPTING,
			    BEV_OPT_CLOSE_ON_FREE);
			bufferevent_openssl_set_allow_dirty_shutdown(sv->bev, 1);
			bufferevent_setcb(sv->bev, server_read, NULL,
			    server_event, sv);
			bufferevent_enable(sv->bev, EV_READ | EV_WRITE);
			sv->tls = 1;
			return;
		} else if (strcasecmp(verb, "MAIL") == 0)
			server_reply(sv, sc->mail ? sc->mail : "250 2.1.0 ok");
		else if (strcasecmp(verb, "RCPT") == 0)
			server_reply(sv, sc->rcpt ? sc->rcpt : "250 2.1.5 ok");
		else if (strcasecmp(verb, "DATA") == 0) {
			server_reply(sv, "354 go ahead");
			sv->in_data = 1;
		} else if (strcasecmp(verb, "QUIT") == 0) {
			if (sc->quit != NULL && strcmp(sc->quit, "LONG") == 0)
				server_long(sv, 6000);
			else
				server_reply(sv, sc->quit ? sc->quit :
				    "221 bye");
		}
		else
			server_reply(sv, "250 ok");
	}
}

struct client_done {
	struct event_base	*base;
	struct mta_result	 res;
	int			 called;
	char			*matched;
	char			 id[32];	/* mta_id() */
	char			 detail[1024];	/* res->detail */
	int			*running;	/* NULL: stop the loop */
};

static void
client_done(void *arg, struct mta_session *s, struct mta_result *res)
{
	struct client_done	*cd = arg;

	cd->called++;
	cd->res = *res;
	snprintf(cd->detail, sizeof(cd->detail), "%s", res->detail ?
	    res->detail : "");
	cd->res.detail = NULL;
	cd->res.dane.matched = NULL;
	cd->res.dane.detail = NULL;
	snprintf(cd->id, sizeof(cd->id), "%s", mta_id(s));
	mta_free(s);
	if (cd->running == NULL || --*cd->running == 0)
		event_base_loopbreak(cd->base);
}

/*
 * The last event of this kind among the lines of fp (the client's event
 * log) not read yet, or NULL.  The caller frees it with json_decref().
 */
static json_t *
test_mta_event(FILE *fp, const char *kind)
{
	char		 line[8192];
	json_t		*o, *last = NULL;
	const char	*ev;

	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		ev = json_string_value(json_object_get(o, "event"));
		if (ev != NULL && strcmp(ev, kind) == 0) {
			json_decref(last);
			last = o;
		} else
			json_decref(o);
	}
	clearerr(fp);
	return last;
}

/* 1 when detail is as want says (mta_case.detail). */
static int
test_mta_detail(const char *detail, const char *want)
{
	if (want == NULL)
		return 1;
	if (want[0] == '!')
		return detail[0] != '\0' && strstr(detail, want + 1) == NULL;
	return strstr(detail, want) != NULL;
}

/* 1 when id is a session id: 16 lower-case hex digits. */
static int
test_mta_idok(const char *id)
{
	return strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16;
}

/*
 * 1 when the session event carries the session id, and reports state (NULL:
 * no "state" at all).
 */
static int
test_mta_state(const json_t *ev, const char *id, const char *state)
{
	const json_t	*st;

	if (ev == NULL || !test_mta_idok(id) || !json_is_string(
	    json_object_get(ev, "session")) || strcmp(json_string_value(
	    json_object_get(ev, "session")), id) != 0)
		return 0;
	st = json_object_get(ev, "state");
	if (state == NULL)
		return st == NULL;
	return json_is_string(st) && strcmp(json_string_value(st), state) == 0;
}

static void
test_mta_table(void)
{
	const struct mta_case	*mc;
	struct event_base	*base;
	struct server		 sv;
	struct client_done	 cd;
	struct mta_params	 par;
	struct mta_rcpt		 rcpt;
	struct chain		 c;
	struct tlsa		 t;
	unsigned char		*d, rdata[128];
	size_t			 len;
	SSL_CTX			*cctx;
	int			 fds[2], ok, fd;
	char			 evpath[] = "/tmp/refsend-mta-XXXXXX";
	FILE			*evfp;
	json_t			*ev;

	CU_ASSERT_FATAL((fd = mkstemp(evpath)) != -1);
	close(fd);
	CU_ASSERT_FATAL(log_open(evpath) == 0);
	CU_ASSERT_FATAL((evfp = fopen(evpath, "r")) != NULL);
	certs_make(&c, "mx.test", 0);
	cctx = dane_ctx_new();
	for (mc = cases; mc->name != NULL; mc++) {
		base = event_base_new();
		memset(&sv, 0, sizeof(sv));
		sv.base = base;
		sv.sc = &mc->sc;
		sv.ctx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_use_certificate(sv.ctx, c.leaf);
		SSL_CTX_use_PrivateKey(sv.ctx, c.leaf_key);
		SSL_CTX_set_tlsext_servername_callback(sv.ctx, server_sni);
		SSL_CTX_set_tlsext_servername_arg(sv.ctx, &sv);
		fds[0] = -1;
		if (mc->sc.banner != NULL) {
			CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0,
			    fds) == 0);
			sv.bev = bufferevent_socket_new(base, fds[1],
			    BEV_OPT_CLOSE_ON_FREE);
			bufferevent_setcb(sv.bev, server_read, NULL,
			    server_event, &sv);
			bufferevent_enable(sv.bev, EV_READ | EV_WRITE);
			server_reply(&sv, mc->sc.banner);
		}

		d = certs_tlsa_data(c.leaf, 1, 1, &len);
		if (!mc->tlsa_ok)
			d[0] ^= 1;
		rdata[0] = 3;
		rdata[1] = 1;
		rdata[2] = 1;
		memcpy(rdata + 3, d, len);
		free(d);
		tlsa_parse(rdata, len + 3, &t);

		memset(&rcpt, 0, sizeof(rcpt));
		rcpt.addr = "user@mx.test";
		memset(&par, 0, sizeof(par));
		par.queue_id = "T";
		par.domain = "mx.test";
		par.host = "mx.test";
		par.address = mc->sc.banner != NULL ? "socketpair" :
		    "no-such-address";
		par.port = 25;
		par.mode = mc->mode;
		par.tlsa_base = mc->mode == HOST_MAY ? NULL : "mx.test";
		par.tlsa = &t;
		par.ntlsa = 1;
		par.helo = "client.test";
		par.from = "from@client.test";
		par.data = "Subject: t\r\n\r\nbody\r\n.dot\r\n";
		par.len = strlen(par.data);
		par.connect_timeout = par.command_timeout = 5;
		par.tls_timeout = 5;
		par.ssl_ctx = cctx;
		par.base = base;
		par.fd = fds[0];
		memset(&cd, 0, sizeof(cd));
		cd.base = base;
		mta_start(&par, &rcpt, 1, client_done, &cd);
		event_base_dispatch(base);
		ev = test_mta_event(evfp, "session");

		ok = cd.called == 1 && cd.res.outcome == mc->outcome &&
		    rcpt.delivered == mc->delivered &&
		    cd.res.tls == mc->tls &&
		    cd.res.dane.authenticated == mc->auth &&
		    (mc->reason == NULL || (cd.res.reason != NULL &&
		    strcmp(cd.res.reason, mc->reason) == 0)) &&
		    (mc->must == NULL || strstr(sv.log, mc->must) != NULL) &&
		    (mc->never == NULL || strstr(sv.log, mc->never) == NULL) &&
		    (!mc->tls || mc->mode == HOST_MAY ||
		    strcmp(sv.sni, "mx.test") == 0) &&
		    test_mta_state(ev, cd.id, mc->state) &&
		    test_mta_detail(cd.detail, mc->detail);
		if (!ok)
			fprintf(stderr, "\n  mta case '%s': called=%d "
			    "outcome=%d reason=%s state=%s delivered=%d tls=%d "
			    "auth=%d log=%s detail=%s\n", mc->name, cd.called,
			    cd.res.outcome,
			    cd.res.reason ? cd.res.reason : "-",
			    ev != NULL && json_object_get(ev, "state") ?
			    json_string_value(json_object_get(ev, "state")) :
			    "-", rcpt.delivered, cd.res.tls,
			    cd.res.dane.authenticated, sv.log, cd.detail);
		CU_ASSERT(ok);
		json_decref(ev);
		free(rcpt.reply);
		tlsa_clear(&t);
		if (sv.bev != NULL)
			bufferevent_free(sv.bev);
		SSL_CTX_free(sv.ctx);
		event_base_free(base);
	}
	SSL_CTX_free(cctx);
	certs_free(&c);
	fclose(evfp);
	log_close();
	unlink(evpath);
}

/*
 * Two sessions at once to the same MX host and address: their ids differ,
 * and each session event carries its own.
 */
static void
test_mta_ids(void)
{
	static const struct script sc = {
		"220 mx.test ESMTP", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
	};
	struct event_base	*base;
	struct server		 sv[2];
	struct client_done	 cd[2];
	struct mta_params	 par;
	struct mta_rcpt		 rcpt[2];
	char			 evpath[] = "/tmp/refsend-mta-XXXXXX";
	FILE			*evfp;
	json_t			*ev;
	const char		*id;
	int			 fds[2], fd, i, running = 2, seen = 0;
	char			 line[8192];

	CU_ASSERT_FATAL((fd = mkstemp(evpath)) != -1);
	close(fd);
	CU_ASSERT_FATAL(log_open(evpath) == 0);
	base = event_base_new();
	memset(sv, 0, sizeof(sv));
	memset(cd, 0, sizeof(cd));
	memset(rcpt, 0, sizeof(rcpt));
	memset(&par, 0, sizeof(par));
	par.queue_id = "T";
	par.domain = par.host = "mx.test";
	par.address = "socketpair";
	par.port = 25;
	par.mode = HOST_MAY;
	par.helo = "client.test";
	par.from = "from@client.test";
	par.data = "Subject: t\r\n\r\nbody\r\n";
	par.len = strlen(par.data);
	par.connect_timeout = par.command_timeout = par.tls_timeout = 5;
	par.base = base;
	for (i = 0; i < 2; i++) {
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
		sv[i].base = base;
		sv[i].sc = &sc;
		sv[i].bev = bufferevent_socket_new(base, fds[1],
		    BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(sv[i].bev, server_read, NULL, server_event,
		    &sv[i]);
		bufferevent_enable(sv[i].bev, EV_READ | EV_WRITE);
		server_reply(&sv[i], sc.banner);
		rcpt[i].addr = "user@mx.test";
		cd[i].base = base;
		cd[i].running = &running;
		par.fd = fds[0];
		mta_start(&par, &rcpt[i], 1, client_done, &cd[i]);
	}
	event_base_dispatch(base);
	log_close();

	CU_ASSERT(cd[0].called == 1 && cd[1].called == 1);
	CU_ASSERT(rcpt[0].delivered && rcpt[1].delivered);
	CU_ASSERT(test_mta_idok(cd[0].id) && test_mta_idok(cd[1].id));
	CU_ASSERT(strcmp(cd[0].id, cd[1].id) != 0);
	CU_ASSERT_FATAL((evfp = fopen(evpath, "r")) != NULL);
	while (fgets(line, sizeof(line), evfp) != NULL) {
		ev = json_loads(line, 0, NULL);
		CU_ASSERT_FATAL(ev != NULL);
		id = json_string_value(json_object_get(ev, "session"));
		for (i = 0; i < 2; i++)
			if (id != NULL && strcmp(id, cd[i].id) == 0)
				seen |= 1 << i;
		json_decref(ev);
	}
	CU_ASSERT(seen == 3);
	fclose(evfp);
	unlink(evpath);
	for (i = 0; i < 2; i++) {
		free(rcpt[i].reply);
		bufferevent_free(sv[i].bev);
	}
	event_base_free(base);
}

void
tests_mta(void)
{
	CU_pSuite	s;

	s = CU_add_suite("mta", NULL, NULL);
	CU_add_test(s, "SMTP state machine against a scripted server",
	    test_mta_table);
	CU_add_test(s, "two sessions to one host, two ids", test_mta_ids);
}
