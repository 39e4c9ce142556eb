/*
 * smtp_parse.c -- the SMTP command parser (RFC 5321 section 4.1).
 *
 * \file
 * smtp_parse() reads one command line that the caller has already cut at
 * its line end.  It allocates nothing: results go into the caller's
 * struct smtp_cmd.  It is the libFuzzer target fuzz/fuzz_smtp_parse.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake-mx.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} smtp_verbs[] = {
	{ "HELO", V_HELO },
	{ "EHLO", V_EHLO },
	{ "MAIL", V_MAIL },
	{ "RCPT", V_RCPT },
	{ "DATA", V_DATA },
	{ "RSET", V_RSET },
	{ "NOOP", V_NOOP },
	{ "QUIT", V_QUIT },
	{ "STARTTLS", V_STARTTLS },
	{ "VRFY", V_VRFY },
	{ "HELP", V_HELP },
	{ NULL, V_UNKNOWN }
};

const char *
smtp_strverb(enum smtp_verb v)
{
	size_t	i;

	if (v == V_EMPTY)
		return "EMPTY";
	for (i = 0; smtp_verbs[i].name != NULL; i++)
		if (smtp_verbs[i].verb == v)
			return smtp_verbs[i].name;
	return "UNKNOWN";
}

/* Parse "FROM:<path> params" / "TO:<path> params" after the verb. */
static int
smtp_parse_path(const char *p, size_t n, const char *kw, int nullok,
    struct smtp_cmd *cmd)
{
	size_t		 kl = strlen(kw), i, plen;
	const char	*end;
	char		*e;

	if (n < kl || strncasecmp(p, kw, kl) != 0)
		return 501;
	p += kl;
	n -= kl;
	while (n > 0 && *p == ' ') {	/* tolerate "FROM: <a@b>" */
		p++;
		n--;
	}
	if (n == 0 || *p != '<')
		return 501;
	if ((end = memchr(p, '>', n)) == NULL)
		return 501;
	plen = (size_t)(end - p) - 1;
	if (plen > SMTP_PATH_MAX)
		return 501;
	if (plen == 0 && !nullok)
		return 501;
	for (i = 0; i < plen; i++)
		if (p[1 + i] == ' ' || p[1 + i] == '<' ||
		    (unsigned char)p[1 + i] < 0x20 || p[1 + i] == 0x7f)
			return 501;
	memcpy(cmd->path, p + 1, plen);
	cmd->path[plen] = '\0';
	n -= (size_t)(end - p) + 1;
	p = end + 1;
	if (n > 0 && *p != ' ')
		return 501;
	while (n > 0 && *p == ' ') {
		p++;
		n--;
	}
	memcpy(cmd->arg, p, n);
	cmd->arg[n] = '\0';
	/* ESMTP parameters: only SIZE matters to us */
	for (e = cmd->arg; e != NULL && *e != '\0'; ) {
		if (strncasecmp(e, "SIZE=", 5) == 0) {
			char	*q;
			long	 v;

			v = strtol(e + 5, &q, 10);
			if (q == e + 5 || (*q != '\0' && *q != ' ') || v < 0)
				return 501;
			cmd->size = v;
			if (v > SMTP_MSG_MAX)
				return 552;
		}
		if ((e = strchr(e, ' ')) != NULL)
			e++;
	}
	return 0;
}

int
smtp_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t		 i, vl, alen;
	const char	*arg;

	cmd->verb = V_UNKNOWN;
	cmd->arg[0] = '\0';
	cmd->path[0] = '\0';
	cmd->size = -1;
	if (len + 2 > SMTP_LINE_MAX)
		return 500;
	if (memchr(line, '\0', len) != NULL)
		return 500;
	if (len > 0 && line[len - 1] == '\r')	/* tolerate stray CR */
		len--;
	if (len == 0) {
		cmd->verb = V_EMPTY;
		return 500;
	}
	for (vl = 0; vl < len && line[vl] != ' '; vl++)
		;
	for (i = 0; smtp_verbs[i].name != NULL; i++)
		if (strlen(smtp_verbs[i].name) == vl &&
		    strncasecmp(smtp_verbs[i].name, line, vl) == 0)
			break;
	cmd->verb = smtp_verbs[i].verb;
	if (cmd->verb == V_UNKNOWN)
		return 500;
	arg = line + vl;
	alen = len - vl;
	while (alen > 0 && *arg == ' ') {
		arg++;
		alen--;
	}
	while (alen > 0 && arg[alen - 1] == ' ')
		alen--;
	switch (cmd->verb) {
	case V_HELO:
	case V_EHLO:
		if (alen == 0)
			return 501;
		for (i = 0; i < alen; i++)
			if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
				return 501;
		memcpy(cmd->arg, arg, alen);
		cmd->arg[alen] = '\0';
		return 0;
	case V_MAIL:
		return smtp_parse_path(arg, alen, "FROM:", 1, cmd);
	case V_RCPT:
		return smtp_parse_path(arg, alen, "TO:", 0, cmd);
	case V_DATA:
	case V_RSET:
	case V_QUIT:
	case V_STARTTLS:
		return alen == 0 ? 0 : 501;
	default:
		memcpy(cmd->arg, arg, alen);
		cmd->arg[alen] = '\0';
		return 0;
	}
}
