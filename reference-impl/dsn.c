/*
 * dsn.c -- delivery status notifications (RFC 3464, multipart/report with
 * report-type=delivery-status, RFC 6522) for recipients that bounced.
 * The Status field carries the enhanced status code (RFC 3463) naming the
 * cause; docs/refsend.md lists the mapping.  The returned text part holds
 * the original header only (text/rfc822-headers), not the body.
 *
 * Every text that may come from elsewhere (a server's reply, a host name
 * from the DNS) goes in through log_safe(): printable ASCII only, so no
 * bare CR or LF can start a header of its own and no control character
 * or 8-bit byte lands in a us-ascii part.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "refsend.h"

static void
dsn_date(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/*
 * Append fmt to *text with a and b (each "%s") made safe.  The format is
 * ours; a and b may hold anything.
 */
static void
dsn_append(char **text, const char *fmt, const char *a, const char *b)
{
	char	*add, *n, *sa, *sb;

	sa = log_safe(a, strlen(a));
	sb = log_safe(b, strlen(b));
	xasprintf(&add, fmt, sa, sb);
	free(sa);
	free(sb);
	xasprintf(&n, "%s%s", *text, add);
	free(add);
	free(*text);
	*text = n;
}

char *
dsn_format(const struct qmsg *m, const char *reporter, time_t now,
    const char *boundary)
{
	char		 date[64], arrival[64], *t, *hdr, *n;
	const char	*end;
	size_t		 i, hlen;

	dsn_date(now, date, sizeof(date));
	dsn_date(m->created, arrival, sizeof(arrival));
	xasprintf(&t,
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n"
	    "\r\n"
	    "--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This is the mail system at host %s.\r\n"
	    "\r\n"
	    "Your message (queue id %s) could not be delivered to one or\r\n"
	    "more recipients:\r\n\r\n",
	    reporter, m->from, date, m->id, reporter, boundary, boundary,
	    reporter, m->id);
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != RCPT_BOUNCED || !m->rcpts[i].done)
			continue;
		dsn_append(&t, "<%s>: %s\r\n", m->rcpts[i].addr,
		    m->rcpts[i].detail ? m->rcpts[i].detail :
		    (m->rcpts[i].reason ? m->rcpts[i].reason : "failed"));
	}
	dsn_append(&t, "\r\n--%s\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\n", boundary, reporter);
	dsn_append(&t, "X-Refsend-Queue-ID: %s\r\nArrival-Date: %s\r\n",
	    m->id, arrival);
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != RCPT_BOUNCED || !m->rcpts[i].done)
			continue;
		dsn_append(&t, "\r\nFinal-Recipient: rfc822; %s\r\n"
		    "Action: failed\r\nStatus: %s\r\n", m->rcpts[i].addr,
		    m->rcpts[i].dsn[0] ? m->rcpts[i].dsn : "5.0.0");
		if (m->rcpts[i].host)
			dsn_append(&t, "Remote-MTA: dns; %s%s\r\n",
			    m->rcpts[i].host, "");
		/* The server's own words when it said no; else our cause,
		 * in DANE/TLSRPT vocabulary. */
		if (m->rcpts[i].reason != NULL &&
		    strcmp(m->rcpts[i].reason, "smtp") == 0 &&
		    m->rcpts[i].detail != NULL)
			dsn_append(&t, "Diagnostic-Code: smtp; %s%s\r\n",
			    m->rcpts[i].detail, "");
		else
			dsn_append(&t, "Diagnostic-Code: X-DANE; %s%s\r\n",
			    m->rcpts[i].reason ? m->rcpts[i].reason :
			    "failed", "");
		dsn_append(&t, "Last-Attempt-Date: %s%s\r\n", date, "");
	}
	dsn_append(&t, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n"
	    "%s\r\n", boundary, "");
	if (m->data != NULL) {
		end = strstr(m->data, "\r\n\r\n");
		hlen = end ? (size_t)(end - m->data) + 2 : m->len;
		/* The sender's own header, as queued (CRLF lines). */
		hdr = xstrndup(m->data, hlen);
		xasprintf(&n, "%s%s", t, hdr);
		free(t);
		t = n;
		free(hdr);
	}
	dsn_append(&t, "\r\n--%s--\r\n", boundary, "");
	return t;
}

char *
dsn_write(const char *dsn_dir, const char *id, const char *text)
{
	char		 tmp[PATH_MAX], name[128], *path;
	unsigned char	 r[4];

	if (RAND_bytes(r, sizeof(r)) != 1)
		fatalx("RAND_bytes failed");
	snprintf(name, sizeof(name), "%s.%02x%02x%02x%02x.eml", id, r[0], r[1],
	    r[2], r[3]);
	/* Same file system as dsn_dir: its own tmp name beside it. */
	snprintf(tmp, sizeof(tmp), "%s", dsn_dir);
	if (queue_write_file(tmp, dsn_dir, name, text, strlen(text)) == -1)
		return NULL;
	xasprintf(&path, "%s/%s", dsn_dir, name);
	return path;
}
