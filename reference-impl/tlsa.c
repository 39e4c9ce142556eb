/*
 * tlsa.c -- TLSA records (RFC 6698 section 2) and their usability for SMTP
 * (RFC 7672 section 3.1; RFC 7671 section 4).
 *
 * An SMTP client uses only DANE-TA(2) and DANE-EE(3): PKIX-TA(0) and
 * PKIX-EE(1) are unusable (RFC 7672 section 3.1.3).  Unknown selectors and
 * matching types, digests of the wrong length and full-data records whose
 * data does not parse are unusable too.  Unusable records are kept (they
 * are reported in events and TLSRPT) but never given to OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "refsend.h"

char *
tlsa_text(uint8_t u, uint8_t s, uint8_t m, const unsigned char *data,
    size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*t, *p;
	size_t			 i;

	t = xmalloc(16 + 2 * len);
	p = t + snprintf(t, 16, "%u %u %u ", u, s, m);
	for (i = 0; i < len; i++) {
		*p++ = hex[data[i] >> 4];
		*p++ = hex[data[i] & 0xf];
	}
	*p = '\0';
	return t;
}

/* Does a full (matching type 0) record hold what its selector says? */
static int
tlsa_full_parses(uint8_t selector, const unsigned char *data, size_t len)
{
	const unsigned char	*p = data;
	X509			*x;
	EVP_PKEY		*k;
	int			 ok;

	if (selector == 0) {
		x = d2i_X509(NULL, &p, (long)len);
		/* OpenSSL also needs the key inside to decode. */
		ok = x != NULL && p == data + len &&
		    X509_get0_pubkey(x) != NULL;
		X509_free(x);
	} else {
		k = d2i_PUBKEY(NULL, &p, (long)len);
		ok = k != NULL && p == data + len;
		EVP_PKEY_free(k);
	}
	return ok;
}

static const char *
tlsa_check(const struct tlsa *t)
{
	if (t->usage == TLSA_PKIX_TA || t->usage == TLSA_PKIX_EE)
		return "usage-pkix";
	if (t->usage != TLSA_DANE_TA && t->usage != TLSA_DANE_EE)
		return "bad-usage";
	if (t->selector > 1)
		return "bad-selector";
	switch (t->mtype) {
	case 0:
		if (t->len == 0 || !tlsa_full_parses(t->selector, t->data,
		    t->len))
			return "bad-full-data";
		break;
	case 1:
		if (t->len != 32)
			return "bad-digest-length";
		break;
	case 2:
		if (t->len != 64)
			return "bad-digest-length";
		break;
	default:
		return "bad-matching-type";
	}
	return NULL;
}

int
tlsa_parse(const unsigned char *rdata, size_t len, struct tlsa *t)
{
	memset(t, 0, sizeof(*t));
	if (len < 3)
		return -1;
	t->usage = rdata[0];
	t->selector = rdata[1];
	t->mtype = rdata[2];
	t->len = len - 3;
	t->data = xmalloc(t->len);
	memcpy(t->data, rdata + 3, t->len);
	t->text = tlsa_text(t->usage, t->selector, t->mtype, t->data, t->len);
	t->why = tlsa_check(t);
	t->usable = t->why == NULL;
	return 0;
}

void
tlsa_clear(struct tlsa *t)
{
	free(t->data);
	free(t->text);
	memset(t, 0, sizeof(*t));
}
