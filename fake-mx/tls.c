/*
 * tls.c -- server-side TLS: contexts per certificate, SNI choice, faults.
 *
 * \file
 * A struct tls_server holds one SSL_CTX per configured certificate entry;
 * an entry's "also" pairs (other key types) go into the same context, and
 * OpenSSL picks the one the client's signature algorithms allow.  The
 * first entry without "sni" is the default context every SSL starts on;
 * the servername callback switches to the context whose names match the
 * client's SNI (case-insensitive).  The ClientHello callback records the
 * SNI for the events (into the session's struct tls_peer, the SSL's app
 * data) and implements the "alert" fault with the session's alert.  The
 * "abort" and "stall" faults never reach OpenSSL: session.c reads the raw
 * ClientHello with tls_hello_sni().
 *
 * Each context sends exactly the configured chain (no chain building,
 * security level 0: a scenario's weak key is the client's to judge).
 * tls_info() digests the certificate and chain the handshake really used.
 * tls_server_free() frees every context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fake-mx.h"

struct tls_cert {
	SSL_CTX		 *ctx;
	const struct cert_conf *conf;
};

struct tls_server {
	struct tls_cert	*certs;
	size_t		 ncerts;
	size_t		 def;		/* index of the default */
};

static int	tls_ex_server = -1;

void
tls_init(void)
{
	OPENSSL_init_ssl(0, NULL);
	if (tls_ex_server == -1)
		tls_ex_server = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
}

static void
tls_hex_digest(X509 *x, char out[65])
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;

	X509_digest(x, EVP_sha256(), md, &n);
	for (i = 0; i < n && i < 32; i++) {
		out[2 * i] = hexdig[md[i] >> 4];
		out[2 * i + 1] = hexdig[md[i] & 0xf];
	}
	out[2 * i] = '\0';
}

/*
 * Parse the body of a server_name extension into sni.  Returns 0 if a
 * host_name was found, -1 otherwise.
 */
static int
tls_sni_ext(const unsigned char *p, size_t n, char *sni, size_t snilen)
{
	size_t	list, nl;

	if (n < 2)
		return -1;
	list = (size_t)p[0] << 8 | p[1];
	p += 2;
	n -= 2;
	if (list > n)
		return -1;
	n = list;
	while (n >= 3) {
		nl = (size_t)p[1] << 8 | p[2];
		if (nl + 3 > n)
			return -1;
		if (p[0] == 0) {	/* host_name */
			size_t	i;

			if (nl == 0 || nl >= snilen)
				return -1;
			for (i = 0; i < nl; i++)	/* keep the log ASCII */
				sni[i] = p[3 + i] > 0x20 && p[3 + i] < 0x7f ?
				    (char)p[3 + i] : '?';
			sni[nl] = '\0';
			return 0;
		}
		p += 3 + nl;
		n -= 3 + nl;
	}
	return -1;
}

int
tls_hello_sni(const unsigned char *b, size_t len, char *sni, size_t snilen)
{
	size_t	 rec, hs, off, l, extl, et, el;

	if (snilen > 0)
		sni[0] = '\0';
	if (len >= 1 && b[0] != 22)		/* handshake record */
		return -1;
	if (len >= 2 && b[1] != 3)
		return -1;
	if (len >= 6 && b[5] != 1)		/* ClientHello */
		return -1;
	if (len < 5)
		return 0;
	rec = (size_t)b[3] << 8 | b[4];
	if (rec < 4 || rec > 16384 + 2048)
		return -1;
	if (len < 5 + rec)
		return 0;
	b += 5;
	hs = (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (hs + 4 > rec)	/* fragmented hello: good enough */
		hs = rec - 4;
	b += 4;
	/* version(2) random(32) */
	off = 34;
	if (off + 1 > hs)
		return 1;
	off += 1 + b[off];			/* session id */
	if (off + 2 > hs)
		return 1;
	l = (size_t)b[off] << 8 | b[off + 1];	/* cipher suites */
	off += 2 + l;
	if (off + 1 > hs)
		return 1;
	off += 1 + b[off];			/* compression */
	if (off + 2 > hs)
		return 1;
	extl = (size_t)b[off] << 8 | b[off + 1];
	off += 2;
	if (off + extl < off || off + extl > hs)
		extl = hs - off;
	while (extl >= 4) {
		et = (size_t)b[off] << 8 | b[off + 1];
		el = (size_t)b[off + 2] << 8 | b[off + 3];
		off += 4;
		extl -= 4;
		if (el > extl)
			break;
		if (et == 0) {
			tls_sni_ext(b + off, el, sni, snilen);
			break;
		}
		off += el;
		extl -= el;
	}
	return 1;
}

static int
tls_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_peer		*peer;
	const unsigned char	*p;
	size_t			 n;

	(void)arg;
	if ((peer = SSL_get_app_data(ssl)) == NULL)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p,
	    &n) == 1)
		tls_sni_ext(p, n, peer->sni, sizeof(peer->sni));
	if (peer->alert != 0) {
		*al = peer->alert;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int
tls_servername_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_server	*ts = arg;
	const char		*name;
	size_t			 i, j;

	(void)al;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < ts->ncerts; i++)
		for (j = 0; j < ts->certs[i].conf->nsni; j++)
			if (strcasecmp(ts->certs[i].conf->sni[j], name) == 0) {
				if (i != ts->def)
					SSL_set_SSL_CTX(ssl, ts->certs[i].ctx);
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK;
}

/* Load one chain file and its key into ctx; error text names field. */
static int
tls_pair_load(SSL_CTX *ctx, const char *chain, const char *key,
    const char *field, char *err, size_t errlen)
{
	unsigned long	 e;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, chain) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errlen, "%s.chain: cannot read file (%s)", field,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "?");
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errlen, "%s.key: cannot read file (%s)", field,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "?");
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s.key: does not match the certificate",
		    field);
		return -1;
	}
	return 0;
}

/* The key type of the certificate loaded last (EVP_PKEY_EC, ...). */
static int
tls_key_type(SSL_CTX *ctx)
{
	X509	*x = SSL_CTX_get0_certificate(ctx);

	return x != NULL ? EVP_PKEY_get_base_id(X509_get0_pubkey(x)) : -1;
}

/* A key type's name in events and errors. */
static const char *
tls_strkey(int type)
{
	switch (type) {
	case EVP_PKEY_RSA:
		return "rsa";
	case EVP_PKEY_RSA_PSS:
		return "rsa-pss";
	case EVP_PKEY_EC:
		return "ec";
	case EVP_PKEY_ED25519:
		return "ed25519";
	case EVP_PKEY_ED448:
		return "ed448";
	default:
		return "other";
	}
}

static int
tls_cert_load(struct tls_server *ts, struct tls_cert *c,
    const struct tls_conf *tc, const char *field, char *err, size_t errlen)
{
	char	 f[160];
	int	 types[4];
	size_t	 i, j;

	if ((c->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "%s: SSL_CTX_new failed", field);
		return -1;
	}
	SSL_CTX_set_security_level(c->ctx, 0);
	SSL_CTX_set_min_proto_version(c->ctx, tc->min_version);
	SSL_CTX_set_max_proto_version(c->ctx, tc->max_version);
	if (tc->min_version < TLS1_2_VERSION)
		SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:@SECLEVEL=0");
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_num_tickets(c->ctx, 0);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_ex_data(c->ctx, tls_ex_server, ts);
	if (tls_pair_load(c->ctx, c->conf->chain, c->conf->key, field, err,
	    errlen) == -1)
		return -1;
	types[0] = tls_key_type(c->ctx);
	for (i = 0; i < c->conf->nalso && i < 3; i++) {
		snprintf(f, sizeof(f), "%s.also[%zu]", field, i);
		if (tls_pair_load(c->ctx, c->conf->also[i].chain,
		    c->conf->also[i].key, f, err, errlen) == -1)
			return -1;
		types[i + 1] = tls_key_type(c->ctx);
		for (j = 0; j <= i; j++)
			if (types[j] == types[i + 1]) {
				snprintf(err, errlen, "%s.chain: a second "
				    "certificate with an %s key (one per key "
				    "type)", f, tls_strkey(types[j]));
				return -1;
			}
	}
	SSL_CTX_set_client_hello_cb(c->ctx, tls_hello_cb, ts);
	SSL_CTX_set_tlsext_servername_callback(c->ctx, tls_servername_cb);
	SSL_CTX_set_tlsext_servername_arg(c->ctx, ts);
	ERR_clear_error();
	return 0;
}

struct tls_server *
tls_server_new(const struct listener_conf *l, size_t idx, char *err,
    size_t errlen)
{
	struct tls_server	*ts;
	size_t			 i;
	char			 field[128];
	int			 found = 0;

	tls_init();
	ts = xcalloc(1, sizeof(*ts));
	ts->certs = xcalloc(l->tls.ncerts, sizeof(*ts->certs));
	for (i = 0; i < l->tls.ncerts; i++) {
		snprintf(field, sizeof(field), "listeners[%zu].tls.certs[%zu]",
		    idx, i);
		ts->certs[i].conf = &l->tls.certs[i];
		ts->ncerts++;
		if (tls_cert_load(ts, &ts->certs[i], &l->tls, field, err,
		    errlen) == -1) {
			tls_server_free(ts);
			return NULL;
		}
		if (!found && l->tls.certs[i].sni == NULL) {
			ts->def = i;
			found = 1;
		}
	}
	return ts;
}

void
tls_server_free(struct tls_server *ts)
{
	size_t	i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->ncerts; i++)
		SSL_CTX_free(ts->certs[i].ctx);
	free(ts->certs);
	free(ts);
}

SSL *
tls_server_ssl(struct tls_server *ts, struct tls_peer *peer)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ts->certs[ts->def].ctx)) == NULL)
		return NULL;
	SSL_set_app_data(ssl, peer);
	return ssl;
}

json_t *
tls_info(SSL *ssl, const char *sni)
{
	STACK_OF(X509)	*chain = NULL;
	X509		*leaf;
	json_t		*o, *a;
	char		 hex[65];
	int		 i;

	o = json_object();
	json_object_set_new(o, "version", json_string(SSL_get_version(ssl)));
	json_object_set_new(o, "cipher",
	    json_string(SSL_get_cipher_name(ssl)));
	json_object_set_new(o, "sni", sni && *sni ? json_string(sni) :
	    json_null());
	a = json_array();
	/* after the handshake, the current certificate is the one used */
	if ((leaf = SSL_get_certificate(ssl)) != NULL) {
		tls_hex_digest(leaf, hex);
		json_object_set_new(o, "cert_sha256", json_string(hex));
		json_object_set_new(o, "key_type", json_string(tls_strkey(
		    EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)))));
		json_object_set_new(o, "key_bits", json_integer(
		    EVP_PKEY_get_bits(X509_get0_pubkey(leaf))));
		json_array_append_new(a, json_string(hex));
		SSL_get0_chain_certs(ssl, &chain);
	} else
		json_object_set_new(o, "cert_sha256", json_null());
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		tls_hex_digest(sk_X509_value(chain, i), hex);
		json_array_append_new(a, json_string(hex));
	}
	json_object_set_new(o, "chain_sha256", a);
	return o;
}
