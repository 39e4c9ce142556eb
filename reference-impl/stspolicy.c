/*
 * stspolicy.c -- MTA-STS text, read without any I/O (RFC 8461): the
 * `_mta-sts` TXT record (section 3.1), the policy file (section 3.2) and
 * the MX host patterns (section 4.1).  Pure functions, table-tested in
 * tests/test_sts.c.
 *
 * The TXT record: of the records at _mta-sts.<domain>, those that do not
 * begin with "v=STSv1;" are ignored; exactly one must be left.  Its fields
 * are "key=value" separated by ';' (blanks around them allowed); the id is
 * 1 to 32 letters and digits.  Anything else means: no policy.
 *
 * The policy file: lines ending in LF or CRLF (the last one may have no
 * terminator), each "key: value" with blanks allowed after the colon and
 * after the value; blank lines are skipped.  A key is a letter or digit,
 * then up to 31 letters, digits, '_', '-' or '.'.  Known keys: version
 * (must be STSv1), mode (enforce, testing or none), max_age (1 to 10
 * digits, at most 31557600 seconds), mx (a pattern; may repeat; at least
 * one unless the mode is none).  For the other known keys the first line
 * counts.  Unknown keys are ignored.  The whole text must be UTF-8 without
 * controls other than tabs, and at most 64 KiB.
 *
 * A pattern is a host name, or "*." and a host name: the wildcard stands
 * for exactly one left-most label, never for none (the base name itself)
 * and never for two.  Names compare without case and without a final dot.
 * A pattern written with U-labels (RFC 8461 section 3.2 allows them) is
 * kept in A-labels (libidn2, IDNA2008 with the UTS #46 mapping), the form
 * of MX host names in DNS and of TLSRPT's mx-host.  A pattern that is not
 * of that form is kept, and matches nothing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "refsend.h"

static const char *sts_mode_names[] = { "none", "testing", "enforce" };

const char *
stspolicy_mode_name(enum sts_mode m)
{
	return sts_mode_names[m];
}

const char *
stspolicy_txt_name(enum sts_txt t)
{
	switch (t) {
	case STS_TXT_OK:
		return "ok";
	case STS_TXT_NONE:
		return "none";
	case STS_TXT_SEVERAL:
		return "several";
	case STS_TXT_MALFORMED:
		break;
	}
	return "malformed";
}

static int
stspolicy_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The field "key=value" of a TXT record, blanks trimmed; 0 if it is one. */
static int
stspolicy_txt_field(char *f, char **key, char **value)
{
	char	*eq, *end;

	while (stspolicy_blank(*f))
		f++;
	end = f + strlen(f);
	while (end > f && stspolicy_blank(end[-1]))
		*--end = '\0';
	if ((eq = strchr(f, '=')) == NULL || eq == f)
		return -1;
	*eq = '\0';
	*key = f;
	*value = eq + 1;
	return 0;
}

static int
stspolicy_id_ok(const char *id)
{
	size_t	n;

	for (n = 0; id[n] != '\0'; n++)
		if (!isalnum((unsigned char)id[n]))
			return 0;
	return n >= 1 && n <= STS_ID_MAX;
}

enum sts_txt
stspolicy_txt(char *const *recs, size_t n, char *id, char *err,
    size_t errlen)
{
	const char	*rec = NULL;
	char		*copy, *rest, *f, *key, *value;
	size_t		 i, found = 0;
	int		 have_id = 0;

	for (i = 0; i < n; i++)
		if (strncmp(recs[i], "v=STSv1;", 8) == 0) {
			rec = recs[i];
			found++;
		}
	if (found == 0) {
		snprintf(err, errlen, n == 0 ? "no TXT record" :
		    "no TXT record begins with v=STSv1;");
		return STS_TXT_NONE;
	}
	if (found > 1) {
		snprintf(err, errlen, "%zu TXT records begin with v=STSv1;",
		    found);
		return STS_TXT_SEVERAL;
	}
	rest = copy = xstrdup(rec + 8);
	while ((f = strsep(&rest, ";")) != NULL) {
		if (f[strspn(f, " \t")] == '\0')
			continue;
		if (stspolicy_txt_field(f, &key, &value) == -1) {
			snprintf(err, errlen, "malformed field in the "
			    "v=STSv1 record");
			free(copy);
			return STS_TXT_MALFORMED;
		}
		if (strcmp(key, "id") == 0 && !have_id) {
			have_id = 1;
			if (!stspolicy_id_ok(value)) {
				snprintf(err, errlen, "the id is not 1 to "
				    "%d letters and digits", STS_ID_MAX);
				free(copy);
				return STS_TXT_MALFORMED;
			}
			snprintf(id, STS_ID_MAX + 1, "%s", value);
		}
	}
	free(copy);
	if (!have_id) {
		snprintf(err, errlen, "the v=STSv1 record has no id");
		return STS_TXT_MALFORMED;
	}
	return STS_TXT_OK;
}

/*
 * 1 when s[0..len) is UTF-8 (RFC 3629: shortest forms, no surrogates, at
 * most U+10FFFF).
 */
static int
stspolicy_utf8(const unsigned char *s, size_t len)
{
	size_t		i = 0, k, more;
	unsigned long	cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			more = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			more = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			more = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (i + more >= len)
			return 0;
		for (k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += more + 1;
	}
	return 1;
}

/* A key: a letter or digit, then up to 31 of [A-Za-z0-9_.-]. */
static int
stspolicy_key_ok(const char *k, size_t len)
{
	size_t	i;

	if (len == 0 || len > 32 || !isalnum((unsigned char)k[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' &&
		    k[i] != '-' && k[i] != '.')
			return 0;
	return 1;
}

/* A name for comparison: lower case, no final dot, into out. */
static void
stspolicy_norm(const char *in, char *out, size_t outlen)
{
	size_t	n;

	snprintf(out, outlen, "%s", in);
	for (n = 0; out[n] != '\0'; n++)
		out[n] = (char)tolower((unsigned char)out[n]);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
}

/* A pattern with non-ASCII labels, in A-labels (in place; left as it is
 * when it does not convert). */
static void
stspolicy_alabels(char *pat, size_t len)
{
	char	*out = NULL, *name = pat;
	size_t	 i;

	for (i = 0; pat[i] != '\0'; i++)
		if ((unsigned char)pat[i] >= 0x80)
			break;
	if (pat[i] == '\0')
		return;
	if (strncmp(pat, "*.", 2) == 0)
		name = pat + 2;
	if (idn2_to_ascii_8z(name, &out, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL) == IDN2_OK && strlen(out) + (size_t)(name -
	    pat) < len)
		snprintf(name, len - (size_t)(name - pat), "%s", out);
	idn2_free(out);
}

static void
stspolicy_add(char ***v, size_t *n, const char *s, size_t len)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrndup(s, len);
}

/* One "key: value" line (len octets, no terminator) into p. */
static int
stspolicy_line(struct sts_policy *p, const char *line, size_t len,
    int *seen, char *err, size_t errlen, size_t lineno)
{
	const char	*colon, *v, *end;
	char		 value[256], name[256];
	size_t		 klen, vlen, i;
	long		 age;

	if ((colon = memchr(line, ':', len)) == NULL) {
		snprintf(err, errlen, "line %zu: not \"key: value\"", lineno);
		return -1;
	}
	klen = (size_t)(colon - line);
	if (!stspolicy_key_ok(line, klen)) {
		snprintf(err, errlen, "line %zu: bad key", lineno);
		return -1;
	}
	v = colon + 1;
	end = line + len;
	while (v < end && stspolicy_blank(*v))
		v++;
	while (end > v && stspolicy_blank(end[-1]))
		end--;
	vlen = (size_t)(end - v);
	/* Values of the keys we read are short; the others are ignored. */
	snprintf(value, sizeof(value), "%.*s", (int)(vlen < sizeof(value) ?
	    vlen : sizeof(value) - 1), v);
	if (klen == 7 && strncmp(line, "version", 7) == 0) {
		if (!(seen[0]++) && (vlen != 5 || strcmp(value, "STSv1") != 0)) {
			snprintf(err, errlen, "line %zu: version is not STSv1",
			    lineno);
			return -1;
		}
	} else if (klen == 4 && strncmp(line, "mode", 4) == 0) {
		if (seen[1]++)
			return 0;
		for (i = 0; i < 3; i++)
			if (vlen == strlen(sts_mode_names[i]) &&
			    strcmp(value, sts_mode_names[i]) == 0)
				break;
		if (i == 3) {
			snprintf(err, errlen, "line %zu: mode is not enforce, "
			    "testing or none", lineno);
			return -1;
		}
		p->mode = (enum sts_mode)i;
	} else if (klen == 7 && strncmp(line, "max_age", 7) == 0) {
		if (seen[2]++)
			return 0;
		if (vlen < 1 || vlen > 10 || strspn(value, "0123456789") !=
		    vlen || (age = strtol(value, NULL, 10)) > STS_MAX_AGE) {
			snprintf(err, errlen, "line %zu: max_age is not a "
			    "number of seconds from 0 to %d", lineno,
			    STS_MAX_AGE);
			return -1;
		}
		p->max_age = (int)age;
	} else if (klen == 2 && strncmp(line, "mx", 2) == 0) {
		stspolicy_norm(vlen < sizeof(value) ? value : "", name,
		    sizeof(name));
		stspolicy_alabels(name, sizeof(name));
		stspolicy_add(&p->mx, &p->nmx, name, strlen(name));
	}
	return 0;
}

int
stspolicy_parse(const char *body, size_t len, struct sts_policy *p,
    char *err, size_t errlen)
{
	const char	*s = body, *end = body + len, *nl;
	size_t		 llen, lineno = 0, i;
	int		 seen[3] = { 0, 0, 0 };	/* version mode max_age */

	memset(p, 0, sizeof(*p));
	p->max_age = -1;
	if (len > STS_MAX_BODY) {
		snprintf(err, errlen, "the policy is larger than %d octets",
		    STS_MAX_BODY);
		return -1;
	}
	if (!stspolicy_utf8((const unsigned char *)body, len)) {
		snprintf(err, errlen, "the policy is not UTF-8 text");
		return -1;
	}
	while (s < end) {
		lineno++;
		nl = memchr(s, '\n', (size_t)(end - s));
		llen = (size_t)((nl ? nl : end) - s);
		if (nl && llen > 0 && s[llen - 1] == '\r')
			llen--;
		stspolicy_add(&p->lines, &p->nlines, s, llen);
		for (i = 0; i < llen; i++)
			if (((unsigned char)s[i] < 0x20 && s[i] != '\t') ||
			    s[i] == 0x7f)
				break;
		if (i < llen) {
			snprintf(err, errlen, "line %zu: control character",
			    lineno);
			goto fail;
		}
		for (i = 0; i < llen && stspolicy_blank(s[i]); i++)
			;
		if (i < llen && stspolicy_line(p, s, llen, seen, err, errlen,
		    lineno) == -1)
			goto fail;
		s = nl ? nl + 1 : end;
	}
	if (!seen[0]) {
		snprintf(err, errlen, "no version line");
		goto fail;
	}
	if (!seen[1]) {
		snprintf(err, errlen, "no mode line");
		goto fail;
	}
	if (!seen[2]) {
		snprintf(err, errlen, "no max_age line");
		goto fail;
	}
	if (p->nmx == 0 && p->mode != STS_MODE_NONE) {
		snprintf(err, errlen, "mode %s without any mx line",
		    sts_mode_names[p->mode]);
		goto fail;
	}
	return 0;
 fail:
	stspolicy_clear(p);
	return -1;
}

void
stspolicy_clear(struct sts_policy *p)
{
	size_t	i;

	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	for (i = 0; i < p->nlines; i++)
		free(p->lines[i]);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

int
stspolicy_pattern_match(const char *pattern, const char *host)
{
	char		 pat[256], h[256];
	const char	*dot;

	stspolicy_norm(pattern, pat, sizeof(pat));
	stspolicy_norm(host, h, sizeof(h));
	if (pat[0] == '\0' || h[0] == '\0')
		return 0;
	if (strncmp(pat, "*.", 2) != 0)
		return strcmp(pat, h) == 0;
	/* One whole left-most label, not empty and not itself a '*'. */
	if ((dot = strchr(h, '.')) == NULL || dot == h ||
	    (dot == h + 1 && h[0] == '*'))
		return 0;
	return strcmp(dot + 1, pat + 2) == 0;
}

int
stspolicy_match(const struct sts_policy *p, const char *host)
{
	size_t	i;

	for (i = 0; i < p->nmx; i++)
		if (stspolicy_pattern_match(p->mx[i], host))
			return 1;
	return 0;
}

json_t *
stspolicy_brief(const struct sts_result *r)
{
	if (r == NULL || !r->have)
		return json_null();
	return json_pack("{s:s,s:s}", "mode", stspolicy_mode_name(
	    r->policy.mode), "id", r->id);
}
