/*
 * dane.c -- certificate matching with OpenSSL's DANE API (RFC 7671, RFC 7672
 * section 3).  No X.509 code of our own: OpenSSL matches the chain against
 * the TLSA records we hand it; we only choose the records, the names, and
 * read its verdict.
 *
 *  - DANE-EE(3): the leaf (certificate or key) must match; its names and
 *    dates are not checked (RFC 7672 section 3.1.1;
 *    DANE_FLAG_NO_DANE_EE_NAMECHECKS, OpenSSL skips the dates itself).
 *  - DANE-TA(2): the chain must lead to the matched trust anchor, the usual
 *    X.509 checks (dates included) apply, and the leaf must carry one of
 *    the reference identifiers: the TLSA base domain, the MX host name,
 *    and, after a secure MX lookup, the next-hop (recipient) domain, which
 *    RFC 7672 section 3.2.2 requires (sections 3.2.2 and 3.2.3), wildcards
 *    only as a whole left-most label.
 *  - SNI is the TLSA base domain (RFC 7672 section 8.1).
 *
 * For an MX host governed by an MTA-STS policy (HOST_STS, or a host of a
 * policy in testing mode) the verdict is PKIX instead (RFC 8461 section
 * 4.2): a chain to one of the CAs of dane_pkix_ctx_new(), valid dates,
 * and the MX host name among the certificate's names (wildcards only as a
 * whole left-most label); SNI is the MX host name.  OpenSSL's X.509
 * verification does all of it (SSL_set1_host()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "refsend.h"

SSL_CTX *
dane_ctx_new(void)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_dane_set_flags(ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* We judge the peer after the handshake (dane_verdict()), so the
	 * handshake itself never fails on verification: that lets us send
	 * QUIT politely and report exactly what was wrong. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

SSL_CTX *
dane_pkix_ctx_new(const char *ca)
{
	SSL_CTX	*ctx;
	int	 r;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	r = ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx);
	if (r != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Judged after the handshake, as for DANE (dane_verdict()). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

SSL *
dane_ssl_new(SSL_CTX *ctx, enum host_mode mode, const char *base,
    const char *mxname, const char *nexthop, const struct tlsa *tlsa,
    size_t ntlsa, size_t *added, const char *tag)
{
	SSL	*ssl;
	size_t	 i;
	int	 r;
	char	 sni[256];

	*added = 0;
	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* (A copy: the OpenSSL macro casts away const.) */
	if (base != NULL) {
		snprintf(sni, sizeof(sni), "%s", base);
		if (SSL_set_tlsext_host_name(ssl, sni) != 1)
			goto fail;
	}
	if (mode == HOST_STS) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (mxname == NULL || SSL_set1_host(ssl, mxname) != 1)
			goto fail;
		return ssl;
	}
	if (mode != HOST_DANE)
		return ssl;
	if (SSL_dane_enable(ssl, base) <= 0)
		goto fail;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (mxname != NULL && strcasecmp(mxname, base) != 0 &&
	    SSL_add1_host(ssl, mxname) != 1)
		goto fail;
	if (nexthop != NULL && strcasecmp(nexthop, base) != 0 &&
	    (mxname == NULL || strcasecmp(nexthop, mxname) != 0) &&
	    SSL_add1_host(ssl, nexthop) != 1)
		goto fail;
	for (i = 0; i < ntlsa; i++) {
		if (!tlsa[i].usable)
			continue;
		r = SSL_dane_tlsa_add(ssl, tlsa[i].usage, tlsa[i].selector,
		    tlsa[i].mtype, tlsa[i].data, tlsa[i].len);
		if (r > 0)
			(*added)++;
		else {
			/* 0: unusable, <0: malformed; either way skipped. */
			log_info("%s dane tlsa-refused tlsa=\"%s\"",
			    tag ? tag : "-", tlsa[i].text);
			ERR_clear_error();
		}
	}
	return ssl;
 fail:
	SSL_free(ssl);
	return NULL;
}

static const char *
dane_result_type(long err)
{
	switch (err) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate-expired";
	case X509_V_ERR_DANE_NO_MATCH:
		return "validation-failure";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "certificate-not-trusted";
	}
	return "validation-failure";
}

/* MTA-STS: the chain, the dates and the MX host name, by OpenSSL. */
static void
dane_verdict_pkix(SSL *ssl, struct dane_result *r)
{
	long	err;

	err = SSL_get_verify_result(ssl);
	r->verify_error = err;
	if (err == X509_V_OK && SSL_get0_peer_certificate(ssl) != NULL) {
		r->ok = 1;
		r->pkix = 1;
		xasprintf(&r->detail, "certificate verified (PKIX) for %s",
		    SSL_get0_peername(ssl) ? SSL_get0_peername(ssl) : "?");
		return;
	}
	r->result_type = err == X509_V_OK ? "validation-failure" :
	    dane_result_type(err);
	xasprintf(&r->detail, "MTA-STS: the certificate does not verify: %s "
	    "(%ld)", err == X509_V_OK ? "no certificate" :
	    X509_verify_cert_error_string(err), err);
}

void
dane_verdict(SSL *ssl, enum host_mode mode, struct dane_result *r)
{
	uint8_t			 u, s, m;
	const unsigned char	*data;
	size_t			 dlen;
	long			 err;
	int			 depth;

	memset(r, 0, sizeof(*r));
	r->depth = -1;
	if (mode == HOST_STS) {
		dane_verdict_pkix(ssl, r);
		return;
	}
	if (mode != HOST_DANE) {
		/* Opportunistic or mandatory-unauthenticated: encryption
		 * is all that is asked for. */
		r->ok = 1;
		return;
	}
	err = SSL_get_verify_result(ssl);
	r->verify_error = err;
	depth = SSL_get0_dane_authority(ssl, NULL, NULL);
	if (err == X509_V_OK && depth >= 0) {
		r->ok = 1;
		r->authenticated = 1;
		r->depth = depth;
		if (SSL_get0_dane_tlsa(ssl, &u, &s, &m, &data, &dlen) >= 0)
			r->matched = tlsa_text(u, s, m, data, dlen);
		xasprintf(&r->detail, "DANE match at depth %d: %s", depth,
		    r->matched ? r->matched : "?");
		return;
	}
	r->ok = 0;
	r->result_type = err == X509_V_OK ? "validation-failure" :
	    dane_result_type(err);
	xasprintf(&r->detail, "DANE verification failed: %s (%ld)",
	    err == X509_V_OK ? "no TLSA record matched" :
	    X509_verify_cert_error_string(err), err);
}

void
dane_result_clear(struct dane_result *r)
{
	free(r->matched);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}
