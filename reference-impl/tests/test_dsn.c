/*
 * test_dsn.c -- RFC 3464 DSN formatting against a golden file
 * (tests/golden/dsn-dane.eml; regenerate with REFSEND_GOLDEN_WRITE=1 and
 * review the diff).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

#define GOLDEN	"tests/golden/dsn-dane.eml"

static void
test_dsn_golden(void)
{
	struct qmsg	 m;
	struct qrcpt	 r[3];
	char		*text, *want;
	FILE		*fp;
	long		 n;

	memset(&m, 0, sizeof(m));
	memset(r, 0, sizeof(r));
	snprintf(m.id, sizeof(m.id), "1a2b3c4d5e6f");
	m.from = "sender@example.org";
	m.created = 1700000000;
	m.data = "Message-ID: <m1@example.org>\r\nSubject: hello\r\n\r\n"
	    "body\r\n";
	m.len = strlen(m.data);
	m.rcpts = r;
	m.nrcpts = 3;
	r[0].addr = "a@dane.test";
	r[0].state = RCPT_BOUNCED;
	r[0].done = 1;
	snprintf(r[0].dsn, sizeof(r[0].dsn), "5.7.5");
	r[0].reason = "validation-failure";
	r[0].detail = "DANE verification failed: no matching DANE TLSA "
	    "records (65)";
	r[0].host = "mx1.dane.test";
	r[1].addr = "b@other.test";
	r[1].state = RCPT_DELIVERED;
	r[1].done = 1;
	r[2].addr = "c@null.test";
	r[2].state = RCPT_BOUNCED;
	r[2].done = 1;
	snprintf(r[2].dsn, sizeof(r[2].dsn), "5.1.10");
	r[2].reason = "null-mx";
	r[2].detail = "null.test publishes a null MX (RFC 7505)";
	text = dsn_format(&m, "refsend.example", 1700003600, "BOUNDARY");
	CU_ASSERT(strstr(text, "report-type=delivery-status") != NULL);
	CU_ASSERT(strstr(text, "Status: 5.7.5\r\n") != NULL);
	CU_ASSERT(strstr(text, "Status: 5.1.10\r\n") != NULL);
	CU_ASSERT(strstr(text, "b@other.test") == NULL);
	CU_ASSERT(strstr(text, "Final-Recipient: rfc822; a@dane.test") !=
	    NULL);
	if (getenv("REFSEND_GOLDEN_WRITE") != NULL) {
		fp = fopen(GOLDEN, "w");
		CU_ASSERT_FATAL(fp != NULL);
		fputs(text, fp);
		fclose(fp);
	}
	fp = fopen(GOLDEN, "r");
	CU_ASSERT_FATAL(fp != NULL);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	want = xcalloc(1, (size_t)n + 1);
	CU_ASSERT(fread(want, 1, (size_t)n, fp) == (size_t)n);
	fclose(fp);
	CU_ASSERT(strcmp(text, want) == 0);
	free(want);
	free(text);
}

/*
 * A server's words may hold anything: in the DSN they are printable ASCII,
 * so no bare CR or LF starts a header of its own.
 */
static void
test_dsn_peer_text(void)
{
	struct qmsg	 m;
	struct qrcpt	 r;
	char		*text;
	const char	*p;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	snprintf(m.id, sizeof(m.id), "1a2b3c4d5e6f");
	m.from = "sender@example.org";
	m.rcpts = &r;
	m.nrcpts = 1;
	r.addr = "a@example.net";
	r.state = RCPT_BOUNCED;
	r.done = 1;
	snprintf(r.dsn, sizeof(r.dsn), "5.1.1");
	r.reason = "smtp";
	r.detail = "550 5.1.1 no\rX-Injected: yes\r\nY: \x07\xe9t\xe9";
	r.host = "mx\n.example.net";
	text = dsn_format(&m, "refsend.example", 1700003600, "BOUNDARY");
	for (p = text; *p != '\0'; p++) {
		if (*p == '\r') {
			CU_ASSERT_FATAL(p[1] == '\n');
		} else if (*p == '\n') {
			CU_ASSERT_FATAL(p > text && p[-1] == '\r');
		} else {
			CU_ASSERT_FATAL(*p == '\t' || (*p >= 0x20 && *p < 0x7f));
		}
	}
	CU_ASSERT(strstr(text, "\r\nX-Injected") == NULL);
	CU_ASSERT(strstr(text, "Diagnostic-Code: smtp; 550 5.1.1 no\\x0dX-"
	    "Injected: yes\\x0d\\x0aY: \\x07\\xe9t\\xe9\r\n") != NULL);
	CU_ASSERT(strstr(text, "Remote-MTA: dns; mx\\x0a.example.net\r\n") !=
	    NULL);
	free(text);
}

void
tests_dsn(void)
{
	CU_pSuite	s;

	s = CU_add_suite("dsn", NULL, NULL);
	CU_add_test(s, "multipart/report golden file", test_dsn_golden);
	CU_add_test(s, "a server's words made safe", test_dsn_peer_text);
}
