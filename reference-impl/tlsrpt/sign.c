/*
 * sign.c -- the DKIM signature of a report mail (RFC 6376), made with
 * libopendkim: rsa-sha256, relaxed/relaxed, d = reporting_domain, over
 * the headers in mime_signed_headers and the whole body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "tlsrpt.h"

/* Feed the header block (up to the empty line) field by field. */
static DKIM_STAT
sign_headers(DKIM *dkim, const char *p, const char *end)
{
	const char	*s;
	DKIM_STAT	 st;

	while (p < end) {
		s = p;
		/* A field ends at a CRLF not followed by WSP. */
		for (;;) {
			p = strstr(p, "\r\n");
			if (p == NULL || p >= end) {
				p = end;
				break;
			}
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p += 2;
		}
		st = dkim_header(dkim, (u_char *)(uintptr_t)s,
		    (size_t)(p - s));
		if (st != DKIM_STAT_OK)
			return st;
		p += 2;
	}
	return DKIM_STAT_OK;
}

int
sign_message(struct buf *msg, const char *key, const char *selector,
    const char *domain, time_t fixed_time, char *err, size_t errlen)
{
	DKIM_LIB	*lib;
	DKIM		*dkim = NULL;
	DKIM_STAT	 st;
	const char	*sep;
	u_char		*hdr;
	size_t		 hlen, i;
	uint64_t	 when;
	struct buf	 out = { NULL, 0, 0 };
	int		 ret = -1;

	if ((sep = strstr(msg->data, "\r\n\r\n")) == NULL) {
		snprintf(err, errlen, "message has no header/body boundary");
		return -1;
	}
	if ((lib = dkim_init(NULL, NULL)) == NULL) {
		snprintf(err, errlen, "dkim_init failed");
		return -1;
	}
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    (void *)(uintptr_t)mime_signed_headers,
	    sizeof(char **)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_options(SIGNHDRS) failed");
		goto done;
	}
	if (fixed_time != 0) {
		when = (uint64_t)fixed_time;
		if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME,
		    &when, sizeof(when)) != DKIM_STAT_OK) {
			snprintf(err, errlen, "dkim_options(FIXEDTIME) "
			    "failed");
			goto done;
		}
	}
	dkim = dkim_sign(lib, (const u_char *)"refsend-tlsrpt", NULL,
	    (dkim_sigkey_t)(uintptr_t)key, (const u_char *)selector,
	    (const u_char *)domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL) {
		snprintf(err, errlen, "dkim_sign: %s", dkim_getresultstr(st));
		goto done;
	}
	if ((st = sign_headers(dkim, msg->data, sep + 2)) != DKIM_STAT_OK ||
	    (st = dkim_eoh(dkim)) != DKIM_STAT_OK ||
	    (st = dkim_body(dkim, (u_char *)(uintptr_t)(sep + 4),
	    msg->len - (size_t)(sep + 4 - msg->data))) != DKIM_STAT_OK ||
	    (st = dkim_eom(dkim, NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER ": "), &hdr,
	    &hlen)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "DKIM signing failed: %s (%s)",
		    dkim_getresultstr(st), dkim_geterror(dkim) ?
		    dkim_geterror(dkim) : "no detail");
		goto done;
	}
	buf_addf(&out, "%s: ", DKIM_SIGNHEADER);
	/* libopendkim folds with a bare LF: make it CRLF. */
	for (i = 0; i < hlen; i++) {
		if (hdr[i] == '\n' && (i == 0 || hdr[i - 1] != '\r'))
			buf_add(&out, "\r", 1);
		buf_add(&out, &hdr[i], 1);
	}
	buf_add(&out, "\r\n", 2);
	buf_add(&out, msg->data, msg->len);
	buf_free(msg);
	*msg = out;
	ret = 0;
 done:
	if (dkim != NULL)
		dkim_free(dkim);
	dkim_close(lib);
	return ret;
}
