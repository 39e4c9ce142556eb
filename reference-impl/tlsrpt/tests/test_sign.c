/*
 * test_sign.c -- the DKIM signature of the report mail (sign.c), made
 * with a key generated at test time (pytest verifies signatures with
 * python3-dkim).
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "tests.h"

static char *
test_sign_key_pem(void)
{
	EVP_PKEY	*pk;
	BIO		*bio;
	char		*p, *s;
	long		 n;

	pk = EVP_RSA_gen(2048);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &p);
	s = xstrndup(p, (size_t)n);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return s;
}

static void
test_sign_message(void)
{
	struct mime_params	 m;
	unsigned char		 gz[100];
	struct buf		 b = { NULL, 0, 0 }, orig = { NULL, 0, 0 };
	char			*key, err[256], *h, *end;
	size_t			 i;

	test_mime_params(&m, gz, sizeof(gz));
	mime_message(&m, &b);
	buf_add(&orig, b.data, b.len);
	key = test_sign_key_pem();
	CU_ASSERT_EQUAL_FATAL(sign_message(&b, key, "s1", "sender.test",
	    1795395601, err, sizeof(err)), 0);
	CU_ASSERT(strncmp(b.data, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=sender.test; s=s1;", 57) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "t=1795395601;"));
	/* The signature is one header field in front of the message. */
	end = strstr(b.data, "\r\nFrom: ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(end);
	CU_ASSERT_EQUAL(b.len - (size_t)(end + 2 - b.data), orig.len);
	CU_ASSERT(memcmp(end + 2, orig.data, orig.len) == 0);
	/* h= lists every header we mean to sign. */
	h = xstrndup(b.data, (size_t)(end - b.data));
	for (i = 0; mime_signed_headers[i] != NULL; i++)
		CU_ASSERT_PTR_NOT_NULL(strstr(h, mime_signed_headers[i]));
	free(h);
	/* A bad key is an error and leaves the message alone. */
	buf_free(&b);
	buf_add(&b, orig.data, orig.len);
	CU_ASSERT_EQUAL(sign_message(&b, "not a key", "s1", "sender.test", 0,
	    err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(b.len, orig.len);
	free(key);
	buf_free(&b);
	buf_free(&orig);
}

void
tests_sign(void)
{
	CU_pSuite	s;

	s = CU_add_suite("sign", NULL, NULL);
	CU_add_test(s, "DKIM signature", test_sign_message);
}
