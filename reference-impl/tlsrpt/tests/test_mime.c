/*
 * test_mime.c -- the report mail: file name, headers and MIME structure
 * against a golden file (golden/report-mail.eml), and the DKIM signature
 * (made with a key generated at test time; pytest verifies signatures
 * with python3-dkim).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "tests.h"

#define GOLDEN	"golden/report-mail.eml"

static void
params(struct mime_params *m, unsigned char *gz, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		gz[i] = (unsigned char)(i * 37);
	memset(m, 0, sizeof(*m));
	m->from = "tlsrpt@sender.test";
	m->to = "reports@a.test";
	m->submitter = "sender.test";
	m->policy_domain = "a.test";
	m->report_id = "0f2c9a3e-1111-4222-8333-444455556666@sender.test";
	m->start = 1795392000;
	m->end = 1795395600;
	m->date = 1795395601;
	m->message_id = "0f2c9a3e-1111-4222-8333-444455556666@sender.test";
	m->boundary = "tlsrpt-b1";
	m->gz = gz;
	m->gzlen = n;
}

static void
test_mime_filename(void)
{
	char	*f;

	f = mime_filename("sender.test", "a.test", 1795392000, 1795395600);
	CU_ASSERT_STRING_EQUAL(f,
	    "sender.test!a.test!1795392000!1795395600.json.gz");
	free(f);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE		*fp;
	struct buf	 b = { NULL, 0, 0 };
	char		 chunk[4096];
	size_t		 n;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&b, chunk, n);
	fclose(fp);
	*len = b.len;
	return b.data;
}

static void
test_mime_golden(void)
{
	struct mime_params	 m;
	unsigned char		 gz[100];
	struct buf		 b = { NULL, 0, 0 };
	char			*golden, *p;
	size_t			 glen;
	FILE			*fp;

	params(&m, gz, sizeof(gz));
	mime_message(&m, &b);
	/* Every line ends in CRLF, none is longer than 78 characters. */
	for (p = b.data; (p = strchr(p, '\n')) != NULL; p++)
		CU_ASSERT(p > b.data && p[-1] == '\r');
	CU_ASSERT(strstr(b.data, "\r\nSubject: Report Domain: a.test\r\n"
	    " Submitter: sender.test\r\n Report-ID: <0f2c9a3e-1111-4222-"
	    "8333-444455556666@sender.test>\r\n") != NULL);
	CU_ASSERT(strstr(b.data, "\r\nMessage-ID: <0f2c9a3e-1111-4222-"
	    "8333-444455556666@sender.test>\r\n") != NULL);
	CU_ASSERT(strstr(b.data, "\r\nTLS-Report-Domain: a.test\r\n") !=
	    NULL);
	CU_ASSERT(strstr(b.data, "\r\nTLS-Report-Submitter: sender.test\r\n")
	    != NULL);
	CU_ASSERT(strstr(b.data, "Content-Type: multipart/report; "
	    "report-type=\"tlsrpt\";") != NULL);
	CU_ASSERT(strstr(b.data, "Content-Type: application/tlsrpt+gzip")
	    != NULL);
	CU_ASSERT(strstr(b.data, "filename=\"sender.test!a.test!1795392000!"
	    "1795395600.json.gz\"") != NULL);
	CU_ASSERT(strstr(b.data, "Date: Mon, 23 Nov 2026 01:00:01 +0000") !=
	    NULL);
	golden = slurp(GOLDEN, &glen);
	if (golden == NULL && getenv("TLSRPT_WRITE_GOLDEN") != NULL) {
		/* Bootstrapping the golden file: review it, then commit. */
		if ((fp = fopen(GOLDEN, "wb")) != NULL) {
			fwrite(b.data, 1, b.len, fp);
			fclose(fp);
		}
		golden = slurp(GOLDEN, &glen);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(golden);
	CU_ASSERT_EQUAL(glen, b.len);
	CU_ASSERT(glen == b.len && memcmp(golden, b.data, glen) == 0);
	free(golden);
	buf_free(&b);
}

static char *
test_key_pem(void)
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
test_mime_dkim(void)
{
	struct mime_params	 m;
	unsigned char		 gz[100];
	struct buf		 b = { NULL, 0, 0 }, orig = { NULL, 0, 0 };
	char			*key, err[256], *h, *end;
	size_t			 i;

	params(&m, gz, sizeof(gz));
	mime_message(&m, &b);
	buf_add(&orig, b.data, b.len);
	key = test_key_pem();
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
tests_mime(void)
{
	CU_pSuite	s;

	s = CU_add_suite("mime", NULL, NULL);
	CU_add_test(s, "file name (RFC 8460 section 5.1)",
	    test_mime_filename);
	CU_add_test(s, "report mail, golden", test_mime_golden);
	CU_add_test(s, "DKIM signature", test_mime_dkim);
}
