/*
 * certs.c -- certificate chains generated at test time with OpenSSL's
 * EVP/X509 APIs: root CA -> intermediate CA -> leaf, EC P-256 keys, the
 * leaf's name in subjectAltName.  Flags make the leaf or the intermediate
 * expired, or the leaf self-signed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "tests.h"

static EVP_PKEY *
certs_key(void)
{
	EVP_PKEY	*k;

	if ((k = EVP_EC_gen("P-256")) == NULL)
		abort();
	return k;
}

static void
certs_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		abort();
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

static X509 *
certs_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    int ca, const char *san, int expired, long serial)
{
	X509	*x;

	x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	if (expired) {
		X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 30);
		X509_gmtime_adj(X509_getm_notAfter(x), -86400L);
	} else {
		X509_gmtime_adj(X509_getm_notBefore(x), -3600);
		X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	}
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_set_pubkey(x, key);
	if (ca) {
		certs_ext(issuer ? issuer : x, x, NID_basic_constraints,
		    "critical,CA:TRUE");
		certs_ext(issuer ? issuer : x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		certs_ext(issuer ? issuer : x, x, NID_basic_constraints,
		    "CA:FALSE");
		certs_ext(issuer ? issuer : x, x, NID_ext_key_usage,
		    "serverAuth");
	}
	certs_ext(issuer ? issuer : x, x, NID_subject_key_identifier, "hash");
	if (san != NULL)
		certs_ext(issuer ? issuer : x, x, NID_subject_alt_name, san);
	if (X509_sign(x, ikey ? ikey : key, EVP_sha256()) == 0)
		abort();
	return x;
}

void
certs_make(struct chain *c, const char *leafname, int flags)
{
	char	*san;

	memset(c, 0, sizeof(*c));
	c->ca_key = certs_key();
	c->int_key = certs_key();
	c->leaf_key = certs_key();
	c->ca = certs_cert("danelab test root", c->ca_key, NULL, NULL, 1,
	    NULL, 0, 1);
	c->inter = certs_cert("danelab test intermediate", c->int_key, c->ca,
	    c->ca_key, 1, NULL, flags & CERT_INT_EXPIRED, 2);
	xasprintf(&san, "DNS:%s", leafname);
	if (flags & CERT_LEAF_SELFSIGNED)
		c->leaf = certs_cert(leafname, c->leaf_key, NULL, NULL, 0,
		    san, flags & CERT_LEAF_EXPIRED, 3);
	else
		c->leaf = certs_cert(leafname, c->leaf_key, c->inter,
		    c->int_key, 0, san, flags & CERT_LEAF_EXPIRED, 3);
	free(san);
}

void
certs_free(struct chain *c)
{
	EVP_PKEY_free(c->ca_key);
	EVP_PKEY_free(c->int_key);
	EVP_PKEY_free(c->leaf_key);
	X509_free(c->ca);
	X509_free(c->inter);
	X509_free(c->leaf);
	memset(c, 0, sizeof(*c));
}

unsigned char *
certs_tlsa_data(X509 *x, int selector, int mtype, size_t *len)
{
	unsigned char	*der = NULL, *out;
	unsigned int	 mdlen;
	int		 n;

	if (selector == 0)
		n = i2d_X509(x, &der);
	else
		n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
	if (n <= 0)
		abort();
	if (mtype == 0) {
		out = xmalloc((size_t)n);
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	} else {
		out = xmalloc(EVP_MAX_MD_SIZE);
		if (EVP_Digest(der, (size_t)n, out, &mdlen, mtype == 1 ?
		    EVP_sha256() : EVP_sha512(), NULL) != 1)
			abort();
		*len = mdlen;
	}
	OPENSSL_free(der);
	return out;
}

char *
certs_hex(const unsigned char *p, size_t n)
{
	char	*t;

	t = tlsa_text(0, 0, 0, p, n);
	/* drop the "0 0 0 " prefix */
	memmove(t, t + 6, strlen(t + 6) + 1);
	return t;
}
