/*
 * reply.c -- an SMTP server's replies, read without I/O: refsend's SMTP
 * client (mta.c) and refsend-tlsrpt's (tlsrpt/smtp.c) hand it the bytes
 * they have received, and so does the fuzz target (fuzz/fuzz_reply.c).
 *
 * A reply is one line "CODE text" or several "CODE-text" lines closed by
 * a "CODE text" one (RFC 5321 section 4.2); CODE is 2xx to 5xx.  Lines
 * end in LF, a CR before it is dropped.  The first line is kept, made
 * safe (log_safe()), for the logs; an EHLO line "STARTTLS" is noted.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

/* A 3-digit reply code, 2xx to 5xx, or -1. */
static int
reply_code(const char *p)
{
	if (p[0] < '2' || p[0] > '5' || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]))
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* One line, CR LF taken off, into r.  REPLY_DONE when it ends the
 * reply. */
static enum reply_parse
reply_line(struct reply *r, const char *line, size_t len)
{
	char	*safe;
	int	 code;

	if (len < 3 || (code = reply_code(line)) == -1 ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		r->error = "malformed reply line";
		return REPLY_BAD;
	}
	if (++r->nlines > REPLY_MAXLINES) {
		r->error = "reply of too many lines";
		return REPLY_BAD;
	}
	if (r->nlines == 1) {
		/* The first line says it; it is kept for the logs. */
		r->code = code;
		safe = log_safe(line, len);
		snprintf(r->text, sizeof(r->text), "%s", safe);
		free(safe);
	}
	if (len >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
	    (len == 12 || line[12] == ' '))
		r->starttls = 1;
	return len > 3 && line[3] == '-' ? REPLY_MORE : REPLY_DONE;
}

enum reply_parse
reply_parse(struct reply *r, const char *data, size_t len, size_t *used)
{
	const char		*p = data, *nl;
	enum reply_parse	 st;
	size_t			 n;

	*used = 0;
	for (;;) {
		nl = memchr(p, '\n', len - *used);
		n = nl != NULL ? (size_t)(nl - p) : len - *used;
		if (n > REPLY_MAXLINE) {
			r->error = "reply line too long";
			return REPLY_BAD;
		}
		if (nl == NULL)
			return REPLY_MORE;
		*used += n + 1;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		st = reply_line(r, p, n);
		if (st != REPLY_MORE)
			return st;
		p = nl + 1;
	}
}
