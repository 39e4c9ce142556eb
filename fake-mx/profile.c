/*
 * profile.c -- behaviour profiles: which one serves a connection, copies,
 * and the names of TLS alerts and close points.
 *
 * \file
 * A listener's own profile serves every connection, except that the
 * listener's steps (config "connections") serve its first ones: step i
 * serves the count[i] connections after those of the steps before it.
 * Connections are counted per listener from 1 (the n of "<name>#<n>").
 */
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"

/* The fatal alerts of RFC 8446 section 6 (and two older ones). */
static const struct {
	const char	*name;
	int		 code;
} profile_alerts[] = {
	{ "unexpected_message", 10 },
	{ "bad_record_mac", 20 },
	{ "record_overflow", 22 },
	{ "handshake_failure", 40 },
	{ "bad_certificate", 42 },
	{ "unsupported_certificate", 43 },
	{ "certificate_revoked", 44 },
	{ "certificate_expired", 45 },
	{ "certificate_unknown", 46 },
	{ "illegal_parameter", 47 },
	{ "unknown_ca", 48 },
	{ "access_denied", 49 },
	{ "decode_error", 50 },
	{ "decrypt_error", 51 },
	{ "protocol_version", 70 },
	{ "insufficient_security", 71 },
	{ "internal_error", 80 },
	{ "inappropriate_fallback", 86 },
	{ "missing_extension", 109 },
	{ "unsupported_extension", 110 },
	{ "unrecognized_name", 112 },
	{ "bad_certificate_status_response", 113 },
	{ "unknown_psk_identity", 115 },
	{ "certificate_required", 116 },
	{ "no_application_protocol", 120 },
};

static const char *const profile_closes[CLOSE_MAX] = {
	[CLOSE_NONE] = "none",
	[CLOSE_BANNER] = "banner",
	[CLOSE_EHLO] = "ehlo",
	[CLOSE_STARTTLS] = "starttls",
	[CLOSE_TLS] = "tls",
	[CLOSE_MAIL] = "mail",
	[CLOSE_RCPT] = "rcpt",
	[CLOSE_DATA] = "data",
	[CLOSE_EOM] = "eom",
};

const struct profile *
profile_pick(const struct listener_conf *l, unsigned long n, int *step)
{
	unsigned long	upto = 0;
	size_t		i;

	for (i = 0; i < l->nsteps; i++) {
		upto += l->steps[i].count;
		if (n <= upto) {
			*step = (int)i;
			return &l->steps[i];
		}
	}
	*step = -1;
	return &l->prof;
}

static char *
profile_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
profile_copy(struct profile *dst, const struct profile *src)
{
	size_t	i;

	*dst = *src;
	dst->banner = profile_dup(src->banner);
	dst->starttls_line = profile_dup(src->starttls_line);
	for (i = 0; i < RS_MAX; i++)
		dst->replies[i] = profile_dup(src->replies[i]);
}

void
profile_clear(struct profile *p)
{
	size_t	i;

	free(p->banner);
	free(p->starttls_line);
	for (i = 0; i < RS_MAX; i++)
		free(p->replies[i]);
	memset(p, 0, sizeof(*p));
}

int
profile_alert(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(profile_alerts) / sizeof(profile_alerts[0]);
	    i++)
		if (strcmp(profile_alerts[i].name, name) == 0)
			return profile_alerts[i].code;
	return -1;
}

const char *
profile_stralert(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(profile_alerts) / sizeof(profile_alerts[0]);
	    i++)
		if (profile_alerts[i].code == code)
			return profile_alerts[i].name;
	return "?";
}

int
profile_close_point(const char *name)
{
	int	i;

	for (i = 0; i < CLOSE_MAX; i++)
		if (strcmp(profile_closes[i], name) == 0)
			return i;
	return -1;
}

const char *
profile_strclose(enum close_point c)
{
	if ((int)c < 0 || c >= CLOSE_MAX)
		return "?";
	return profile_closes[c];
}
