/*
 * tls.c -- server-side TLS: contexts per certificate, SNI choice, faults.
 *
 * \file
 * A struct tls_server holds one SSL_CTX per configured certificate.  The
 * first certificate without "sni" is the default context every SSL starts
 * on; the servername callback switches to the context whose names match
 * the client's SNI (case-insensitive).  The ClientHello callback records
 * the SNI for the events (into the owner's buffer set as app data) and
 * implements the "alert" fault.  The "abort" and "stall" faults never
 * reach OpenSSL: session.c reads the raw ClientHello with tls_hello_sni().
 *
 * SHA-256 digests of each certificate (DER) and its chain are computed
 * once at load time.  tls_server_free() frees every context.
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
	char		  leaf[65];
	char		**chain;	/* hex digests, leaf first */
	size_t		  nchain;
};

struct tls_server {
	struct tls_cert	*certs;
	size_t		 ncerts;
	size_t		 def;		/* index of the default */
	enum tls_fault	 fault;
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
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;

	X509_digest(x, EVP_sha256(), md, &n);
	for (i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
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
	struct tls_server	*ts = arg;
	const unsigned char	*p;
	size_t			 n;
	char			*sni;

	sni = SSL_get_app_data(ssl);
	if (sni != NULL && SSL_client_hello_get0_ext(ssl,
	    TLSEXT_TYPE_server_name, &p, &n) == 1)
		tls_sni_ext(p, n, sni, 256);
	if (ts->fault == FAULT_ALERT) {
		*al = SSL_AD_HANDSHAKE_FAILURE;
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

static int
tls_cert_load(struct tls_server *ts, struct tls_cert *c,
    const struct tls_conf *tc, const char *field, char *err, size_t errlen)
{
	STACK_OF(X509)	*chain = NULL;
	X509		*leaf;
	unsigned long	 e;
	int		 i;

	if ((c->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "%s: SSL_CTX_new failed", field);
		return -1;
	}
	SSL_CTX_set_min_proto_version(c->ctx, tc->min_version);
	SSL_CTX_set_max_proto_version(c->ctx, tc->max_version);
	if (tc->min_version < TLS1_2_VERSION)
		SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:@SECLEVEL=0");
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(c->ctx, 0);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_ex_data(c->ctx, tls_ex_server, ts);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(c->ctx, c->conf->chain) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errlen, "%s.chain: cannot read file (%s)", field,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "?");
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, c->conf->key,
	    SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errlen, "%s.key: cannot read file (%s)", field,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "?");
		return -1;
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		snprintf(err, errlen, "%s.key: does not match the certificate",
		    field);
		return -1;
	}
	leaf = SSL_CTX_get0_certificate(c->ctx);
	tls_hex_digest(leaf, c->leaf);
	SSL_CTX_get0_chain_certs(c->ctx, &chain);
	c->nchain = 1 + (chain ? (size_t)sk_X509_num(chain) : 0);
	c->chain = xcalloc(c->nchain, sizeof(char *));
	c->chain[0] = xstrdup(c->leaf);
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		c->chain[i + 1] = xmalloc(65);
		tls_hex_digest(sk_X509_value(chain, i), c->chain[i + 1]);
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
	ts->fault = l->tls.fault;
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
	size_t	i, j;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->ncerts; i++) {
		SSL_CTX_free(ts->certs[i].ctx);
		for (j = 0; j < ts->certs[i].nchain; j++)
			free(ts->certs[i].chain[j]);
		free(ts->certs[i].chain);
	}
	free(ts->certs);
	free(ts);
}

SSL *
tls_server_ssl(struct tls_server *ts, char *sni)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ts->certs[ts->def].ctx)) == NULL)
		return NULL;
	SSL_set_app_data(ssl, sni);
	return ssl;
}

json_t *
tls_info(struct tls_server *ts, SSL *ssl, const char *sni)
{
	json_t		*o, *a;
	SSL_CTX		*ctx = SSL_get_SSL_CTX(ssl);
	struct tls_cert	*c = &ts->certs[ts->def];
	size_t		 i;

	for (i = 0; i < ts->ncerts; i++)
		if (ts->certs[i].ctx == ctx)
			c = &ts->certs[i];
	o = json_object();
	json_object_set_new(o, "version", json_string(SSL_get_version(ssl)));
	json_object_set_new(o, "cipher",
	    json_string(SSL_get_cipher_name(ssl)));
	json_object_set_new(o, "sni", sni && *sni ? json_string(sni) :
	    json_null());
	json_object_set_new(o, "cert_sha256", json_string(c->leaf));
	a = json_array();
	for (i = 0; i < c->nchain; i++)
		json_array_append_new(a, json_string(c->chain[i]));
	json_object_set_new(o, "chain_sha256", a);
	return o;
}
