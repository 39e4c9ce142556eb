/*
 * test_mime.c -- the report mail (mime.c): file name, headers and MIME
 * structure against a golden file (golden/report-mail.eml), the address
 * of a mailto: rua.  test_mime_params() (tests.h) is the mail test_sign.c
 * signs.
 */
#include <stdio.h>
#include <string.h>

#include "tests.h"

#define GOLDEN	"golden/report-mail.eml"

void
test_mime_params(struct mime_params *m, unsigned char *gz, size_t n)
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

	test_mime_params(&m, gz, sizeof(gz));
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

struct mailto_case {
	const char	*uri;
	const char	*addr;		/* NULL: refused */
};

static const struct mailto_case mailto_cases[] = {
	{ "mailto:a@x.test", "a@x.test" },
	{ "MAILTO:a@x.test", "a@x.test" },
	{ "mailto:tls%2Brpt@x.test?subject=x", "tls+rpt@x.test" },
	{ "mailto:a@x.test,b@y.test", NULL },
	{ "mailto:a%2C@x.test", NULL },
	{ "mailto:a%0d%0aRCPT@x.test", NULL },
	{ "mailto:<a@x.test>", NULL },
	{ "mailto:@x.test", NULL },
	{ "mailto:a@", NULL },
	{ "mailto:a@b@c", NULL },
	{ "https://x.test/", NULL },
	{ NULL, NULL }
};

static void
test_mime_mailto_addr(void)
{
	const struct mailto_case	*c;
	char				*a;

	for (c = mailto_cases; c->uri != NULL; c++) {
		a = mime_mailto_addr(c->uri);
		if (c->addr == NULL) {
			CU_ASSERT_PTR_NULL(a);
		} else {
			CU_ASSERT_PTR_NOT_NULL_FATAL(a);
			CU_ASSERT_STRING_EQUAL(a, c->addr);
		}
		free(a);
	}
}

void
tests_mime(void)
{
	CU_pSuite	s;

	s = CU_add_suite("mime", NULL, NULL);
	CU_add_test(s, "file name (RFC 8460 section 5.1)",
	    test_mime_filename);
	CU_add_test(s, "report mail, golden", test_mime_golden);
	CU_add_test(s, "mailto: address", test_mime_mailto_addr);
}
