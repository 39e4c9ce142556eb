/*
 * record.c -- the _smtp._tls TXT record (RFC 8460 section 3).
 *
 *	record    = "v=TLSRPTv1" 1*(delim field) [delim]
 *	delim     = *WSP ";" *WSP
 *	field     = "rua=" uri *(*WSP "," *WSP uri) / ext-name "=" ext-value
 *	ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * "v=" and "rua=" are case-sensitive.  Unknown fields (extensions) are
 * parsed and ignored.  A record with no rua, an empty rua, a second rua
 * or a URI that is neither mailto: nor https: is malformed: the domain
 * then gets no report.  Several records that begin with v=TLSRPTv1 mean
 * no reporting either.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

#define VERSION	"v=TLSRPTv1"

static int
record_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* A URI character of RFC 3986 (unreserved, reserved, "%"), minus the
 * "," and ";" that separate URIs and fields here. */
static int
record_uri_char(unsigned char c)
{
	if (isalnum(c))
		return 1;
	return strchr("-._~:/?#[]@!$&'()*+=%", c) != NULL && c != '\0';
}

char *
record_join(const unsigned char *rdata, size_t len)
{
	struct buf	 b = { NULL, 0, 0 };
	size_t		 i, n;

	buf_add(&b, "", 0);
	for (i = 0; i < len; i += n) {
		n = rdata[i++];
		if (n > len - i) {
			buf_free(&b);
			return NULL;
		}
		buf_add(&b, rdata + i, n);
	}
	/* A NUL would cut the C string short: DEL, which the record's
	 * grammar does not allow anywhere either, keeps it as invalid as it
	 * was. */
	for (i = 0; i < b.len; i++)
		if (b.data[i] == '\0')
			b.data[i] = '\x7f';
	return b.data;
}

int
record_uri_ok(const char *uri)
{
	const char	*p;
	char		*addr;

	if (strncasecmp(uri, "mailto:", 7) == 0) {
		if ((addr = mime_mailto_addr(uri)) == NULL)
			return 0;
		free(addr);
		return 1;
	}
	if (strncasecmp(uri, "https://", 8) == 0) {
		p = uri + 8;
		/* A host is needed. */
		return *p != '\0' && *p != '/' && *p != '?' && *p != '#';
	}
	return 0;
}

/* Percent-escapes must be complete: "%" 2HEXDIG. */
static int
record_escapes_ok(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] == '%' && (i + 2 >= n ||
		    !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2])))
			return 0;
	return 1;
}

/* The message, and where it was met: 32 bytes of the record, made safe
 * (it comes from the DNS and goes into an event). */
static void
record_fail(char *err, size_t errlen, const char *msg, const char *at)
{
	char	*safe;

	safe = log_safe(at, strnlen(at, 32));
	snprintf(err, errlen, "%s at \"%s\"", msg, safe);
	free(safe);
}

static int
record_rua(const char *p, const char *end, struct record *rec, char *err,
    size_t errlen)
{
	const char	*s;
	char		*uri;

	for (;;) {
		s = p;
		while (p < end && record_uri_char((unsigned char)*p))
			p++;
		if (p == s) {
			record_fail(err, errlen, "empty URI in rua", s);
			return -1;
		}
		uri = xstrndup(s, (size_t)(p - s));
		if (!record_escapes_ok(uri, strlen(uri)) ||
		    !record_uri_ok(uri)) {
			record_fail(err, errlen, "not a mailto: or https: URI",
			    s);
			free(uri);
			return -1;
		}
		rec->rua = xreallocarray(rec->rua, rec->nrua + 1,
		    sizeof(*rec->rua));
		rec->rua[rec->nrua++] = uri;
		s = p;
		while (p < end && record_wsp(*p))
			p++;
		if (p == end)
			return 0;
		if (*p != ',') {
			record_fail(err, errlen, "unexpected character in rua",
			    s);
			return -1;
		}
		p++;
		while (p < end && record_wsp(*p))
			p++;
	}
}

static int
record_extension(const char *p, const char *end, char *err, size_t errlen)
{
	const char	*s = p;
	size_t		 n;

	if (p == end || !isalnum((unsigned char)*p)) {
		record_fail(err, errlen, "bad field name", s);
		return -1;
	}
	for (n = 0; p < end && (isalnum((unsigned char)*p) || *p == '_' ||
	    *p == '-' || *p == '.'); p++)
		n++;
	if (n > 32 || p == end || *p != '=') {
		record_fail(err, errlen, "bad field name", s);
		return -1;
	}
	if (++p == end) {
		record_fail(err, errlen, "empty field value", s);
		return -1;
	}
	for (; p < end; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e ||
		    *p == ';' || *p == '=') {
			record_fail(err, errlen, "bad field value", s);
			return -1;
		}
	return 0;
}

int
record_parse(const char *txt, struct record *rec, char *err, size_t errlen)
{
	const char	*p, *f, *fend;
	int		 nfields = 0, seen_rua = 0;

	memset(rec, 0, sizeof(*rec));
	if (strncmp(txt, VERSION, strlen(VERSION)) != 0) {
		record_fail(err, errlen, "does not begin with " VERSION, txt);
		return -1;
	}
	p = txt + strlen(VERSION);
	for (;;) {
		/* delim */
		while (record_wsp(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p != ';') {
			record_fail(err, errlen, "expected ';'", p);
			goto fail;
		}
		p++;
		while (record_wsp(*p))
			p++;
		if (*p == '\0')
			break;		/* the optional trailing delim */
		/* field: up to the next delim (WSP is not part of one) */
		f = p;
		fend = p + strcspn(p, ";");
		while (fend > f && record_wsp(fend[-1]))
			fend--;
		nfields++;
		if (strncmp(f, "rua=", 4) == 0) {
			if (seen_rua++) {
				record_fail(err, errlen, "second rua", f);
				goto fail;
			}
			if (record_rua(f + 4, fend, rec, err, errlen) == -1)
				goto fail;
		} else if (record_extension(f, fend, err, errlen) == -1)
			goto fail;
		p = fend;
	}
	if (nfields == 0 || !seen_rua) {
		snprintf(err, errlen, "%s", nfields ? "no rua field" :
		    "no field after the version");
		goto fail;
	}
	return 0;
 fail:
	record_clear(rec);
	return -1;
}

static int
record_begins(const char *txt)
{
	size_t	n = strlen(VERSION);

	/* "v=TLSRPTv1" then a delimiter (or nothing): not v=TLSRPTv10. */
	return strncmp(txt, VERSION, n) == 0 &&
	    (txt[n] == ';' || txt[n] == '\0' || record_wsp(txt[n]));
}

enum record_verdict
record_select(char *const *txts, size_t n, struct record *rec, char *err,
    size_t errlen)
{
	size_t	i, found = 0, which = 0;

	memset(rec, 0, sizeof(*rec));
	for (i = 0; i < n; i++)
		if (record_begins(txts[i])) {
			found++;
			which = i;
		}
	if (found == 0) {
		snprintf(err, errlen, "no TXT record begins with " VERSION
		    " (%zu TXT record%s)", n, n == 1 ? "" : "s");
		return RECORD_NONE;
	}
	if (found > 1) {
		snprintf(err, errlen, "%zu TXT records begin with " VERSION,
		    found);
		return RECORD_SEVERAL;
	}
	if (record_parse(txts[which], rec, err, errlen) == -1)
		return RECORD_MALFORMED;
	snprintf(err, errlen, "ok");
	return RECORD_OK;
}

void
record_clear(struct record *rec)
{
	size_t	i;

	for (i = 0; i < rec->nrua; i++)
		free(rec->rua[i]);
	free(rec->rua);
	memset(rec, 0, sizeof(*rec));
}

const char *
record_verdict_name(enum record_verdict v)
{
	switch (v) {
	case RECORD_OK:
		return "ok";
	case RECORD_NONE:
		return "no-record";
	case RECORD_SEVERAL:
		return "several-records";
	case RECORD_MALFORMED:
		return "malformed";
	}
	return "?";
}
