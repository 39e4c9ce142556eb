/*
 * mime.c -- the report mail of RFC 8460 section 5.3: an RFC 5322 message,
 * multipart/report; report-type="tlsrpt", with a short text part and the
 * gzip report as application/tlsrpt+gzip (base64) named per section 5.1:
 *	<submitter>!<policy-domain>!<begin>!<end>.json.gz
 * (begin and end in Unix seconds).  Lines end in CRLF.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

const char *const mime_signed_headers[] = {
	"From", "To", "Subject", "Date", "Message-ID", "TLS-Report-Domain",
	"TLS-Report-Submitter", "MIME-Version", "Content-Type", NULL
};

char *
mime_filename(const char *submitter, const char *domain, time_t begin,
    time_t end)
{
	char	*s;

	xasprintf(&s, "%s!%s!%lld!%lld.json.gz", submitter, domain,
	    (long long)begin, (long long)end);
	return s;
}

static int
mime_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *
mime_mailto_addr(const char *uri)
{
	const char	*p, *end;
	char		*addr, *q, *at;
	int		 h, l;

	if (strncasecmp(uri, "mailto:", 7) != 0)
		return NULL;
	p = uri + 7;
	end = p + strcspn(p, "?");
	addr = q = xcalloc(1, (size_t)(end - p) + 1);
	for (; p < end; p++) {
		if (*p == '%') {
			if (end - p < 3 || (h = mime_hex(p[1])) < 0 ||
			    (l = mime_hex(p[2])) < 0)
				goto bad;
			*q++ = (char)(h * 16 + l);
			p += 2;
		} else
			*q++ = *p;
	}
	*q = '\0';
	/* One plain addr-spec: local@domain, nothing that could break
	 * the SMTP dialogue or name a second address. */
	if ((at = strrchr(addr, '@')) == NULL || at == addr ||
	    at[1] == '\0' || strchr(addr, '@') != at)
		goto bad;
	for (q = addr; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
		    strchr("<>,;()[]\\\"", *q) != NULL)
			goto bad;
	return addr;
 bad:
	free(addr);
	return NULL;
}

static void
mime_base64(struct buf *b, const unsigned char *p, size_t n)
{
	static const char	tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char			out[4];
	size_t			i, col = 0;
	unsigned int		v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[0] = tab[(v >> 18) & 63];
		out[1] = tab[(v >> 12) & 63];
		out[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[3] = i + 2 < n ? tab[v & 63] : '=';
		buf_add(b, out, 4);
		if ((col += 4) == 76) {
			buf_add(b, "\r\n", 2);
			col = 0;
		}
	}
	if (col != 0)
		buf_add(b, "\r\n", 2);
}

void
mime_message(const struct mime_params *m, struct buf *b)
{
	struct tm	 tm;
	char		 date[64], t1[32], t2[32], *fname;

	gmtime_r(&m->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fname = mime_filename(m->submitter, m->policy_domain, m->start,
	    m->end);
	buf_addf(b, "From: %s\r\n", m->from);
	buf_addf(b, "To: %s\r\n", m->to);
	buf_addf(b, "Date: %s\r\n", date);
	buf_addf(b, "Subject: Report Domain: %s\r\n Submitter: %s\r\n"
	    " Report-ID: <%s>\r\n", m->policy_domain, m->submitter,
	    m->report_id);
	buf_addf(b, "Message-ID: <%s>\r\n", m->message_id);
	buf_addf(b, "TLS-Report-Domain: %s\r\n", m->policy_domain);
	buf_addf(b, "TLS-Report-Submitter: %s\r\n", m->submitter);
	buf_addf(b, "MIME-Version: 1.0\r\n");
	buf_addf(b, "Content-Type: multipart/report; report-type=\"tlsrpt\";"
	    "\r\n\tboundary=\"%s\"\r\n", m->boundary);
	buf_addf(b, "\r\nThis is a multipart message in MIME format.\r\n");
	buf_addf(b, "\r\n--%s\r\n", m->boundary);
	buf_addf(b, "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n");
	buf_addf(b, "This is an aggregate TLS report (RFC 8460) from %s\r\n"
	    "for the policy domain %s,\r\n"
	    "covering %s to %s.\r\n", m->submitter, m->policy_domain,
	    report_time(m->start, t1, sizeof(t1)),
	    report_time(m->end, t2, sizeof(t2)));
	buf_addf(b, "\r\n--%s\r\n", m->boundary);
	buf_addf(b, "Content-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n"
	    "\tfilename=\"%s\"\r\n\r\n", fname);
	mime_base64(b, m->gz, m->gzlen);
	buf_addf(b, "\r\n--%s--\r\n", m->boundary);
	free(fname);
}
