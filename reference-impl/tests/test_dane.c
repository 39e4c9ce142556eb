/*
 * test_dane.c -- certificate matching through dane.c and OpenSSL, with a
 * real TLS handshake between an in-memory client and server (a BIO pair,
 * no sockets).  Chains are generated at test time (certs.c).  The table
 * loops over usage x selector x matching type, the depth of the matched
 * certificate, wrong digests, expiry and the DANE-TA name checks of RFC
 * 7672 sections 3.1 and 3.2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests.h"

struct dane_case {
	const char	*name;
	int		 u, s, m;
	int		 depth;		/* cert hashed: 0 leaf .. 2 root */
	int		 corrupt;	/* flip a bit in the association data */
	const char	*leafname;
	const char	*base;		/* TLSA base domain (and SNI) */
	const char	*mx;		/* MX host name */
	int		 flags;		/* CERT_* */
	int		 ok;
	const char	*type;		/* RFC 8460 type on failure */
	int		 mdepth;	/* depth reported on success */
};

#define N "mx.example.test"
static const struct dane_case cases[] = {
	/* DANE-EE(3): every selector x matching type. */
	{ "3 0 0", 3, 0, 0, 0, 0, N, N, N, 0, 1, NULL, 0 },
	{ "3 0 1", 3, 0, 1, 0, 0, N, N, N, 0, 1, NULL, 0 },
	{ "3 0 2", 3, 0, 2, 0, 0, N, N, N, 0, 1, NULL, 0 },
	{ "3 1 0", 3, 1, 0, 0, 0, N, N, N, 0, 1, NULL, 0 },
	{ "3 1 1", 3, 1, 1, 0, 0, N, N, N, 0, 1, NULL, 0 },
	{ "3 1 2", 3, 1, 2, 0, 0, N, N, N, 0, 1, NULL, 0 },
	/* DANE-EE: one bit wrong never matches. */
	{ "3 0 0 wrong", 3, 0, 0, 0, 1, N, N, N, 0, 0,
	    "validation-failure", -1 },
	{ "3 0 1 wrong", 3, 0, 1, 0, 1, N, N, N, 0, 0,
	    "validation-failure", -1 },
	{ "3 1 1 wrong", 3, 1, 1, 0, 1, N, N, N, 0, 0,
	    "validation-failure", -1 },
	{ "3 1 2 wrong", 3, 1, 2, 0, 1, N, N, N, 0, 0,
	    "validation-failure", -1 },
	/* DANE-EE ignores names and dates (section 3.1.1). */
	{ "3 1 1 expired leaf", 3, 1, 1, 0, 0, N, N, N, CERT_LEAF_EXPIRED,
	    1, NULL, 0 },
	{ "3 1 1 wrong name", 3, 1, 1, 0, 0, "other.invalid", N, N, 0, 1,
	    NULL, 0 },
	{ "3 0 1 self-signed", 3, 0, 1, 0, 0, N, N, N, CERT_LEAF_SELFSIGNED,
	    1, NULL, 0 },
	/* DANE-TA(2) at depth 1 (intermediate) and 2 (root). */
	{ "2 0 0 d1", 2, 0, 0, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 0 1 d1", 2, 0, 1, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 0 2 d1", 2, 0, 2, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 1 0 d1", 2, 1, 0, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 1 1 d1", 2, 1, 1, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 1 2 d1", 2, 1, 2, 1, 0, N, N, N, 0, 1, NULL, 1 },
	{ "2 0 0 d2", 2, 0, 0, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 0 1 d2", 2, 0, 1, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 0 2 d2", 2, 0, 2, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 1 0 d2", 2, 1, 0, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 1 1 d2", 2, 1, 1, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 1 2 d2", 2, 1, 2, 2, 0, N, N, N, 0, 1, NULL, 2 },
	{ "2 0 1 d1 wrong", 2, 0, 1, 1, 1, N, N, N, 0, 0, NULL, -1 },
	{ "2 1 2 d2 wrong", 2, 1, 2, 2, 1, N, N, N, 0, 0, NULL, -1 },
	/* DANE-TA checks dates (section 3.1.2). */
	{ "2 0 1 d1 expired leaf", 2, 0, 1, 1, 0, N, N, N,
	    CERT_LEAF_EXPIRED, 0, "certificate-expired", -1 },
	{ "2 0 1 d2 expired intermediate", 2, 0, 1, 2, 0, N, N, N,
	    CERT_INT_EXPIRED, 0, "certificate-expired", -1 },
	/* DANE-TA name checks (sections 3.2.2, 3.2.3). */
	{ "2 1 1 d1 wrong name", 2, 1, 1, 1, 0, "other.example.test", N, N,
	    0, 0, "certificate-host-mismatch", -1 },
	{ "2 1 1 d1 MX name, CNAME base", 2, 1, 1, 1, 0, N,
	    "mx.hosting.test", N, 0, 1, NULL, 1 },
	{ "2 1 1 d1 base name, not MX", 2, 1, 1, 1, 0, "mx.hosting.test",
	    "mx.hosting.test", N, 0, 1, NULL, 1 },
	{ "2 1 1 d1 wildcard", 2, 1, 1, 1, 0, "*.example.test", N, N, 0, 1,
	    NULL, 1 },
	{ "2 1 1 d1 partial wildcard", 2, 1, 1, 1, 0, "m*.example.test", N,
	    N, 0, 0, "certificate-host-mismatch", -1 },
	{ "2 1 1 d1 wildcard too deep", 2, 1, 1, 1, 0, "*.test", N, N, 0, 0,
	    "certificate-host-mismatch", -1 },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, NULL, 0 }
};
#undef N

static char	sni_seen[256];

static int
test_servername(SSL *ssl, int *al, void *arg)
{
	const char	*n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)al;
	(void)arg;
	snprintf(sni_seen, sizeof(sni_seen), "%s", n ? n : "");
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
test_server_ctx(const struct chain *c)
{
	SSL_CTX	*ctx;

	ctx = SSL_CTX_new(TLS_server_method());
	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT(SSL_CTX_use_certificate(ctx, c->leaf) == 1);
	CU_ASSERT(SSL_CTX_use_PrivateKey(ctx, c->leaf_key) == 1);
	SSL_CTX_add1_chain_cert(ctx, c->inter);
	SSL_CTX_add1_chain_cert(ctx, c->ca);
	SSL_CTX_set_tlsext_servername_callback(ctx, test_servername);
	return ctx;
}

/* Run a handshake over a BIO pair; 1 when both ends completed. */
static int
test_handshake(SSL *cl, SSL *sv)
{
	BIO	*cb, *sb;
	int	 i, rc = 0, rs = 0, e;

	if (BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
		return 0;
	SSL_set_bio(cl, cb, cb);
	SSL_set_bio(sv, sb, sb);
	SSL_set_connect_state(cl);
	SSL_set_accept_state(sv);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(cl);
			e = SSL_get_error(cl, rc);
			if (rc != 1 && e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				return 0;
		}
		if (rs != 1) {
			rs = SSL_do_handshake(sv);
			e = SSL_get_error(sv, rs);
			if (rs != 1 && e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				return 0;
		}
	}
	return rc == 1 && rs == 1;
}

/* Run one handshake with the given records; fill in the verdict. */
static int
test_dane_run(const struct chain *c, enum host_mode mode, const char *base,
    const char *mx, const char *nexthop, const struct tlsa *t, size_t nt,
    size_t *added, struct dane_result *r)
{
	SSL_CTX		*cctx, *sctx;
	SSL		*cl, *sv;
	int		 done;

	cctx = dane_ctx_new();
	CU_ASSERT_FATAL(cctx != NULL);
	sctx = test_server_ctx(c);
	cl = dane_ssl_new(cctx, mode, base, mx, nexthop, t, nt, added, NULL);
	CU_ASSERT_FATAL(cl != NULL);
	sv = SSL_new(sctx);
	sni_seen[0] = '\0';
	done = test_handshake(cl, sv);
	if (done)
		dane_verdict(cl, mode, r);
	SSL_free(cl);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return done;
}

static void
test_tlsa_for(const struct chain *c, int u, int s, int m, int depth,
    int corrupt, struct tlsa *t)
{
	X509		*x;
	unsigned char	*data, rdata[1024];
	size_t		 len;

	x = depth == 0 ? c->leaf : depth == 1 ? c->inter : c->ca;
	data = certs_tlsa_data(x, s, m, &len);
	/* Full certificates: flip a bit of the signature, so that the
	 * record still parses (a usable record that does not match). */
	if (corrupt)
		data[m == 0 ? len - 2 : len / 2] ^= 0x01;
	rdata[0] = (unsigned char)u;
	rdata[1] = (unsigned char)s;
	rdata[2] = (unsigned char)m;
	memcpy(rdata + 3, data, len);
	free(data);
	CU_ASSERT_FATAL(tlsa_parse(rdata, len + 3, t) == 0);
}

static void
test_dane_table(void)
{
	const struct dane_case	*dc;
	struct chain		 c;
	struct dane_result	 r;
	struct tlsa		 t;
	size_t			 added;
	int			 good;

	for (dc = cases; dc->name != NULL; dc++) {
		certs_make(&c, dc->leafname, dc->flags);
		test_tlsa_for(&c, dc->u, dc->s, dc->m, dc->depth, dc->corrupt,
		    &t);
		memset(&r, 0, sizeof(r));
		CU_ASSERT(t.usable == 1);
		CU_ASSERT(test_dane_run(&c, HOST_DANE, dc->base, dc->mx, NULL,
		    &t, 1, &added, &r) == 1);
		CU_ASSERT(added == 1);
		good = r.ok == dc->ok && r.authenticated == dc->ok &&
		    (dc->type == NULL || (r.result_type != NULL &&
		    strcmp(r.result_type, dc->type) == 0)) &&
		    (!dc->ok || r.depth == dc->mdepth) &&
		    strcmp(sni_seen, dc->base) == 0;
		if (!good)
			fprintf(stderr, "\n  dane case '%s': ok=%d type=%s "
			    "depth=%d sni=%s detail=%s\n", dc->name, r.ok,
			    r.result_type ? r.result_type : "-", r.depth,
			    sni_seen, r.detail ? r.detail : "-");
		CU_ASSERT(good);
		if (dc->ok && r.matched != NULL)
			CU_ASSERT(strcmp(r.matched, t.text) == 0);
		dane_result_clear(&r);
		tlsa_clear(&t);
		certs_free(&c);
	}
}

/*
 * The next-hop (recipient) domain as a DANE-TA reference identifier (RFC
 * 7672 section 3.2.2): a leaf that names only the domain authenticates
 * when the MX RRset was secure (nexthop given), not otherwise.
 */
static void
test_dane_nexthop(void)
{
	struct chain		 c;
	struct dane_result	 r;
	struct tlsa		 t;
	size_t			 added;
	const char		*hops[] = { NULL, "example.test" };
	int			 i;

	certs_make(&c, "example.test", 0);
	test_tlsa_for(&c, 2, 0, 1, 1, 0, &t);
	for (i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		CU_ASSERT(test_dane_run(&c, HOST_DANE, "mx.example.test",
		    "mx.example.test", hops[i], &t, 1, &added, &r) == 1);
		CU_ASSERT(r.ok == i && r.authenticated == i);
		if (i == 0)
			CU_ASSERT(r.result_type != NULL && strcmp(r.result_type,
			    "certificate-host-mismatch") == 0);
		dane_result_clear(&r);
	}
	tlsa_clear(&t);
	certs_free(&c);
}

/*
 * Several records: one match is enough (rollover pair), garbage is
 * skipped.  Digest agility (RFC 7671 section 9, done by OpenSSL): for one
 * usage and selector, only the strongest matching type present is used,
 * so a wrong SHA-512 record hides a right SHA-256 one, and not the other
 * way round.
 */
static void
test_dane_several(void)
{
	struct chain		 c, other;
	struct dane_result	 r;
	struct tlsa		 t[4];
	static const unsigned char pkix[] = { 1, 1, 1, 0xaa };
	size_t			 added, i;

	certs_make(&c, "mx.example.test", 0);
	certs_make(&other, "mx.example.test", 0);
	test_tlsa_for(&other, 3, 1, 1, 0, 0, &t[0]);	/* next key */
	CU_ASSERT(tlsa_parse(pkix, sizeof(pkix), &t[1]) == 0);
	test_tlsa_for(&c, 3, 1, 1, 0, 0, &t[2]);	/* current key */
	CU_ASSERT(t[1].usable == 0);
	CU_ASSERT(test_dane_run(&c, HOST_DANE, "mx.example.test",
	    "mx.example.test", NULL, t, 3, &added, &r) == 1);
	CU_ASSERT(added == 2);
	CU_ASSERT(r.ok == 1 && r.authenticated == 1);
	CU_ASSERT(r.matched != NULL && strcmp(r.matched, t[2].text) == 0);
	dane_result_clear(&r);
	/* The next key alone: no match. */
	CU_ASSERT(test_dane_run(&c, HOST_DANE, "mx.example.test",
	    "mx.example.test", NULL, t, 2, &added, &r) == 1);
	CU_ASSERT(r.ok == 0 && r.authenticated == 0);
	CU_ASSERT(r.result_type != NULL &&
	    strcmp(r.result_type, "validation-failure") == 0);
	dane_result_clear(&r);
	/* Mandatory unauthenticated TLS ("encrypt"): any certificate. */
	CU_ASSERT(test_dane_run(&c, HOST_ENCRYPT, "mx.example.test",
	    "mx.example.test", NULL, t, 2, &added, &r) == 1);
	CU_ASSERT(added == 0);
	CU_ASSERT(r.ok == 1 && r.authenticated == 0);
	dane_result_clear(&r);
	/* Digest agility: wrong 3 1 2 + right 3 1 1 -> no match. */
	test_tlsa_for(&c, 3, 1, 2, 0, 1, &t[3]);
	CU_ASSERT(test_dane_run(&c, HOST_DANE, "mx.example.test",
	    "mx.example.test", NULL, t + 2, 2, &added, &r) == 1);
	CU_ASSERT(r.ok == 0);
	dane_result_clear(&r);
	tlsa_clear(&t[3]);
	/* Right 3 1 2 + wrong 3 1 1 -> match on the SHA-512 record. */
	tlsa_clear(&t[2]);
	test_tlsa_for(&c, 3, 1, 1, 0, 1, &t[2]);
	test_tlsa_for(&c, 3, 1, 2, 0, 0, &t[3]);
	CU_ASSERT(test_dane_run(&c, HOST_DANE, "mx.example.test",
	    "mx.example.test", NULL, t + 2, 2, &added, &r) == 1);
	CU_ASSERT(r.ok == 1 && r.matched != NULL &&
	    strcmp(r.matched, t[3].text) == 0);
	dane_result_clear(&r);
	for (i = 0; i < 4; i++)
		tlsa_clear(&t[i]);
	certs_free(&c);
	certs_free(&other);
}

void
tests_dane(void)
{
	CU_pSuite	s;

	s = CU_add_suite("dane", NULL, NULL);
	CU_add_test(s, "usage x selector x mtype x depth table",
	    test_dane_table);
	CU_add_test(s, "next-hop domain as a DANE-TA name", test_dane_nexthop);
	CU_add_test(s, "several records, rollover, encrypt",
	    test_dane_several);
}
