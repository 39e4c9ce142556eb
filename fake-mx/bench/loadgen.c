/*
 * loadgen.c -- SMTP load generator for the fake-mx benchmark.
 *
 * \file
 * loadgen -a ADDR -p PORT -m tls|plain|idle [-c CONC] [-d SECONDS]
 *         [-n IDLE] [-s SNI]
 *
 * tls:   each client runs banner, EHLO, STARTTLS, a full TLS handshake
 *        (no session resumption), EHLO, pipelined MAIL/RCPT/DATA, one
 *        message, QUIT; then reconnects.  CONC clients run for SECONDS;
 *        prints "sessions=N errors=E seconds=S rate=R".
 * plain: the same without STARTTLS (also used against smtp-sink).
 * idle:  opens IDLE connections, reads each banner, prints "ready N" and
 *        holds them for SECONDS (or until killed).
 *
 * Only ever connects to the address it is given (the bench uses
 * 127.0.0.0/8).  Not part of fake-mx itself; built by "make all".
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

enum lg_mode {
	LG_TLS,
	LG_PLAIN,
	LG_IDLE
};

enum lg_step {
	ST_BANNER,
	ST_EHLO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_ENVELOPE,
	ST_EOM,
	ST_IDLE
};

struct lg_conn {
	struct bufferevent	*bev;
	enum lg_step		 step;
	int			 tls;
	int			 want;	/* replies still expected */
};

static struct event_base	*base;
static struct sockaddr_in	 target;
static enum lg_mode		 mode;
static SSL_CTX			*ctx;
static char			*sni;
static unsigned long		 nsessions, nerrors, nready;
static int			 stopping;
static unsigned long		 nidle;

static const char envelope[] =
    "MAIL FROM:<bench@loadgen.test>\r\n"
    "RCPT TO:<postmaster@a01.test>\r\n"
    "DATA\r\n";
static const char body[] =
    "From: bench@loadgen.test\r\n"
    "To: postmaster@a01.test\r\n"
    "Subject: bench\r\n"
    "Message-ID: <bench@loadgen.test>\r\n"
    "\r\n"
    "A short benchmark message.\r\n"
    ".\r\n"
    "QUIT\r\n";

static void	lg_start(void);

/* We measure the server: skip building and checking the chain. */
static int
lg_noverify(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}
static void	lg_read(struct bufferevent *, void *);
static void	lg_event(struct bufferevent *, short, void *);

static void
lg_free(struct lg_conn *c, int error)
{
	if (error)
		nerrors++;
	bufferevent_free(c->bev);
	free(c);
	if (!stopping && mode != LG_IDLE)
		lg_start();
}

static void
lg_write(struct lg_conn *c, const char *s, size_t n, enum lg_step next,
    int want)
{
	bufferevent_write(c->bev, s, n);
	c->step = next;
	c->want = want;
}

static void
lg_tls(struct lg_conn *c)
{
	SSL			*ssl;
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);
	struct bufferevent	*nb;

	ssl = SSL_new(ctx);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	/* detach the socket from the plain bufferevent, then swap */
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	nb = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(nb, 1);
	c->bev = nb;
	c->step = ST_HANDSHAKE;
	bufferevent_setcb(nb, lg_read, NULL, lg_event, c);
	bufferevent_enable(nb, EV_READ | EV_WRITE);
}

/*
 * One complete reply with this code arrived.  Returns 1 if c may still
 * read from the same bufferevent, 0 if c was freed or switched to TLS.
 */
static int
lg_reply(struct lg_conn *c, int code)
{
	static const char ehlo[] = "EHLO loadgen.test\r\n";

	switch (c->step) {
	case ST_BANNER:
		if (code != 220)
			goto fail;
		if (mode == LG_IDLE) {
			c->step = ST_IDLE;
			if (++nready == nidle) {
				printf("ready %lu\n", nready);
				fflush(stdout);
			}
			return 1;
		}
		lg_write(c, ehlo, sizeof(ehlo) - 1, ST_EHLO, 1);
		return 1;
	case ST_EHLO:
		if (code != 250)
			goto fail;
		if (mode == LG_TLS && !c->tls)
			lg_write(c, "STARTTLS\r\n", 10, ST_STARTTLS, 1);
		else
			lg_write(c, envelope, sizeof(envelope) - 1,
			    ST_ENVELOPE, 3);
		return 1;
	case ST_STARTTLS:
		if (code != 220)
			goto fail;
		lg_tls(c);
		return 0;
	case ST_ENVELOPE:
		if (--c->want > 0)
			return 1;
		if (code != 354)
			goto fail;
		lg_write(c, body, sizeof(body) - 1, ST_EOM, 2);
		return 1;
	case ST_EOM:
		if (c->want == 2 && code != 250)
			goto fail;
		if (--c->want > 0)
			return 1;
		nsessions++;
		lg_free(c, 0);
		return 0;
	default:
		return 1;
	}
fail:
	lg_free(c, 1);
	return 0;
}

static void
lg_read(struct bufferevent *bev, void *arg)
{
	struct lg_conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (n >= 3 && (n == 3 || line[3] == ' ')) {
			int code = atoi(line);

			free(line);
			if (!lg_reply(c, code))
				return;
			continue;
		}
		free(line);
	}
}

static void
lg_event(struct bufferevent *bev, short what, void *arg)
{
	struct lg_conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->step == ST_HANDSHAKE) {
			c->tls = 1;
			lg_write(c, "EHLO loadgen.test\r\n", 19, ST_EHLO, 1);
		}
		return;
	}
	if (c->step == ST_IDLE)
		nready--;
	lg_free(c, 1);
}

static void
lg_start(void)
{
	static unsigned	 srcn;
	struct sockaddr_in src;
	struct lg_conn	*c;
	int		 one = 1, fd;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	/*
	 * Spread the connections over 250 source addresses of 127.0.1.0/24:
	 * the server's TIME_WAIT sockets would otherwise exhaust the
	 * ephemeral ports of one source address within seconds.
	 */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		nerrors++;
		free(c);
		return;
	}
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000100u | (srcn++ % 250 + 1));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	bind(fd, (struct sockaddr *)&src, sizeof(src));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->step = ST_BANNER;
	bufferevent_setcb(c->bev, lg_read, NULL, lg_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&target,
	    sizeof(target)) == -1)
		lg_free(c, 1);
}

static void
lg_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stopping = 1;
	event_base_loopbreak(base);
}

static double
lg_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	struct rlimit	 rl;
	struct timeval	 tv;
	struct event	*ev;
	const char	*addr = "127.0.0.1";
	int		 ch, port = 25, conc = 1, secs = 5, i;
	double		 t0, t1;

	while ((ch = getopt(argc, argv, "a:p:m:c:d:n:s:")) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'm':
			mode = strcmp(optarg, "tls") == 0 ? LG_TLS :
			    strcmp(optarg, "idle") == 0 ? LG_IDLE : LG_PLAIN;
			break;
		case 'c':
			conc = atoi(optarg);
			break;
		case 'd':
			secs = atoi(optarg);
			break;
		case 'n':
			nidle = strtoul(optarg, NULL, 10);
			break;
		case 's':
			sni = optarg;
			break;
		default:
			fprintf(stderr, "usage: loadgen -a ADDR -p PORT "
			    "-m tls|plain|idle [-c N] [-d S] [-n N] "
			    "[-s SNI]\n");
			return 1;
		}
	}
	memset(&target, 0, sizeof(target));
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &target.sin_addr) != 1 ||
	    (ntohl(target.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "loadgen: only 127.0.0.0/8 targets\n");
		return 1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, lg_noverify, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	base = event_base_new();
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	ev = evtimer_new(base, lg_stop, NULL);
	evtimer_add(ev, &tv);
	if (mode == LG_IDLE)
		conc = (int)nidle;
	t0 = lg_now();
	for (i = 0; i < conc; i++)
		lg_start();
	event_base_dispatch(base);
	t1 = lg_now();
	if (mode == LG_IDLE)
		printf("idle connected=%lu errors=%lu\n", nready, nerrors);
	else
		printf("sessions=%lu errors=%lu seconds=%.2f rate=%.1f\n",
		    nsessions, nerrors, t1 - t0, nsessions / (t1 - t0));
	event_free(ev);
	event_base_free(base);
	SSL_CTX_free(ctx);
	return 0;
}
