/*
 * fuzz_session.c -- libFuzzer target: whole SMTP sessions of session.c,
 * driven from the client side with no socket.  The server end of a
 * bufferevent pair is served by session_start() (parser, state machine,
 * replies, DATA to the spool, STARTTLS with its faults, closes) exactly as
 * an accepted connection; the fuzzer's bytes are the client's.
 *
 * Input: byte 0 picks one of the listener profiles below; byte 1 is how
 * the rest reaches the server: 0 all at once, else in chunks of that many
 * bytes with the event loop run between them (the bytes after STARTTLS
 * only reach the TLS layer when they come later).  Then the client ends
 * its side (EOF).
 *
 * Fails (abort) when a sanitizer fires or what the server wrote breaks
 * RFC 5321 section 4.2: every line before the TLS layer must be a reply
 * line (three digits 200..599, then space, hyphen or the end, CRLF), the
 * lines of a multiline reply must share their code; no more replies than
 * the banner plus one per line the client sent; nothing after a 221 or
 * a 421; and a session still open once its client is gone.
 *
 * FUZZ_SESSION_SHOW=1 in the environment prints what the server wrote
 * (to replay an input: build-fuzz/fuzz_session FILE).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fake-mx.h"
#include "fuzz_settle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fakemx	fakemx;		/* main.c's, which is not linked here */

/*
 * The listeners (JSON of fake-mx's configuration; %1$s is the folder for
 * the spool and the certificate).  Timeouts are long: no timer but the
 * closing ones fires while a session runs.
 */
static const char *const fuzz_profiles[] = {
	/* STARTTLS with a real handshake; every reply 2xx */
	"\"starttls\":\"offer\",\"tls\":{\"certs\":[{\"chain\":"
	    "\"%1$s/cert.pem\",\"key\":\"%1$s/key.pem\"}]}",
	/* STARTTLS, then the raw ClientHello read and never answered */
	"\"tls\":{\"certs\":[{\"chain\":\"%1$s/cert.pem\",\"key\":"
	    "\"%1$s/key.pem\"}],\"fault\":\"stall\"}",
	"\"tls\":{\"certs\":[{\"chain\":\"%1$s/cert.pem\",\"key\":"
	    "\"%1$s/key.pem\"}],\"fault\":\"abort\"}",
	/* refusals along the way */
	"\"starttls_reply\":\"454 4.7.0 not now\",\"replies\":{\"rcpt\":"
	    "\"550 5.1.1 no such user\",\"eom\":\"554 5.7.1 refused\"}",
	"\"starttls\":\"withhold\",\"close_after\":\"rcpt\"",
	"\"banner\":\"554 5.3.2 not today\",\"starttls\":\"withhold\"",
	"\"starttls_reply\":\"drop\",\"replies\":{\"data\":"
	    "\"421 4.3.0 going away\"}",
	/* first connection: EHLO refused, then the listener's own */
	"\"starttls\":\"withhold\",\"connections\":[{\"count\":1,"
	    "\"replies\":{\"ehlo\":\"502 5.5.1 say HELO\",\"mail\":"
	    "\"452 4.3.1 full\"}}]",
};
#define FUZZ_NPROFILES	(sizeof(fuzz_profiles) / sizeof(fuzz_profiles[0]))

static struct config	*fuzz_conf[FUZZ_NPROFILES];
static struct listener	 fuzz_l[FUZZ_NPROFILES];
static char		 fuzz_dir[] = "/tmp/fuzz_session-XXXXXX";
static char		 fuzz_spool[sizeof(fuzz_dir) + 8];
static int		 fuzz_show;	/* FUZZ_SESSION_SHOW set */

/* A self-signed P-256 certificate and its key in fuzz_dir. */
static void
fuzz_cert(void)
{
	EVP_PKEY	*k;
	X509		*x;
	FILE		*fp;
	char		 path[sizeof(fuzz_dir) + 16];

	if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"fuzz.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	if (X509_sign(x, k, EVP_sha256()) == 0)
		abort();
	snprintf(path, sizeof(path), "%s/cert.pem", fuzz_dir);
	if ((fp = fopen(path, "w")) == NULL || !PEM_write_X509(fp, x))
		abort();
	fclose(fp);
	snprintf(path, sizeof(path), "%s/key.pem", fuzz_dir);
	if ((fp = fopen(path, "w")) == NULL ||
	    !PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* At exit: the folder goes (the spool is emptied after every input). */
static void
fuzz_cleanup(void)
{
	char	path[sizeof(fuzz_dir) + 16];

	snprintf(path, sizeof(path), "%s/cert.pem", fuzz_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/key.pem", fuzz_dir);
	unlink(path);
	rmdir(fuzz_spool);
	rmdir(fuzz_dir);
}

/* Once per process: the folders, the certificate, the listeners. */
static void
fuzz_init(void)
{
	char	 conf[2048], prof[1024], err[512];
	size_t	 i;

	fuzz_show = getenv("FUZZ_SESSION_SHOW") != NULL;
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_spool, sizeof(fuzz_spool), "%s/spool", fuzz_dir);
	if (mkdir(fuzz_spool, 0700) == -1)
		abort();
	atexit(fuzz_cleanup);
	fuzz_cert();
	if ((fakemx.base = event_base_new()) == NULL ||
	    events_open("/dev/null") == -1)
		abort();
	TAILQ_INIT(&fakemx.sessions);
	TAILQ_INIT(&fakemx.out);
	for (i = 0; i < FUZZ_NPROFILES; i++) {
		snprintf(prof, sizeof(prof), fuzz_profiles[i], fuzz_dir);
		snprintf(conf, sizeof(conf), "{\"events\":\"/dev/null\","
		    "\"spool\":\"%s\",\"timeouts\":{\"command_ms\":600000,"
		    "\"data_ms\":600000,\"tls_ms\":600000},\"listeners\":[{"
		    "\"name\":\"fuzz\",\"address\":\"127.0.0.1\",%s}]}",
		    fuzz_spool, prof);
		fuzz_conf[i] = config_parse(conf, strlen(conf), err,
		    sizeof(err));
		if (fuzz_conf[i] == NULL) {
			fprintf(stderr, "fuzz_session: profile %zu: %s\n", i,
			    err);
			abort();
		}
		fuzz_l[i].conf = &fuzz_conf[i]->listeners[0];
		snprintf(fuzz_l[i].local, sizeof(fuzz_l[i].local),
		    "127.0.0.1:25");
		if (fuzz_l[i].conf->has_tls && (fuzz_l[i].tls =
		    tls_server_new(fuzz_l[i].conf, 0, err, sizeof(err))) ==
		    NULL) {
			fprintf(stderr, "fuzz_session: TLS: %s\n", err);
			abort();
		}
	}
}

/* What is left of a message in the spool goes (names are unique). */
static void
fuzz_clean_spool(void)
{
	char		 path[sizeof(fuzz_spool) + 256];
	struct dirent	*e;
	DIR		*d;

	if ((d = opendir(fuzz_spool)) == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fuzz_spool, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/*
 * Check what the server wrote (RFC 5321 section 4.2); nlines is how many
 * lines the client sent.  Bytes after the 220 to STARTTLS belong to TLS.
 */
static void
fuzz_check_replies(const char *p, size_t n, size_t nlines)
{
	static const char	 ready[] = "220 2.0.0 Ready to start TLS\r\n";
	const char		*eol;
	size_t			 len, nfinal = 0;
	int			 code, cont = 0, prev = 0, ended = 0;

	while (n > 0) {
		if (cont == 0 && n >= sizeof(ready) - 1 &&
		    memcmp(p, ready, sizeof(ready) - 1) == 0)
			return;		/* TLS from here on */
		if ((eol = memchr(p, '\n', n)) == NULL)
			abort();	/* a reply cut short */
		len = (size_t)(eol - p) + 1;
		if (len < 5 || p[len - 2] != '\r')
			abort();	/* no code, or a bare LF */
		if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9')
			abort();
		code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + p[2] - '0';
		if (p[3] != ' ' && p[3] != '-' && p[3] != '\r')
			abort();
		if (memchr(p, '\r', len - 2) != NULL)
			abort();	/* a CR inside the line */
		if (cont && code != prev)
			abort();	/* multiline reply changed its code */
		if (ended)
			abort();	/* a reply after 221 or 421 */
		cont = p[3] == '-';
		prev = code;
		if (!cont) {
			nfinal++;
			ended = code == 221 || code == 421;
		}
		p += len;
		n -= len;
	}
	if (cont || nfinal > nlines + 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 ready;
	struct bufferevent	*pair[2];
	struct evbuffer		*in;
	struct listener		*l;
	const char		*out;
	size_t			 chunk, off, n, nlines = 0;

	if (!ready) {
		fuzz_init();
		ready = 1;
	}
	if (size < 2)
		return 0;
	l = &fuzz_l[data[0] % FUZZ_NPROFILES];
	fakemx.conf = fuzz_conf[data[0] % FUZZ_NPROFILES];
	l->nsessions = 0;	/* the profile of a first connection */
	chunk = data[1] ? data[1] : size;
	data += 2;
	size -= 2;
	/* Callbacks deferred to the loop, as a socket's would be. */
	if (bufferevent_pair_new(fakemx.base, BEV_OPT_DEFER_CALLBACKS, pair) ==
	    -1)
		abort();
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	session_start(l, pair[0], "192.0.2.1:1025", "127.0.0.1:25");
	fuzz_settle();
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		bufferevent_write(pair[1], data + off, n);
		fuzz_settle();
	}
	for (off = 0; off < size; off++)
		nlines += data[off] == '\n';
	/* The client is gone: every session must end. */
	bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
	fuzz_settle();
	if (fakemx.nopen != 0)
		abort();
	in = bufferevent_get_input(pair[1]);
	n = evbuffer_get_length(in);
	out = (const char *)evbuffer_pullup(in, (ssize_t)n);
	if (fuzz_show)
		fwrite(out, 1, n, stderr);
	fuzz_check_replies(out, n, nlines);
	bufferevent_free(pair[1]);
	fuzz_clean_spool();
	return 0;
}
