/*
 * config.c -- read and validate the JSON configuration (docs/interfaces.md).
 *
 * \file
 * config_parse() checks the structure and every value, and names the
 * faulty field in its error ("listeners[3].tls.certs[0].chain: must be a
 * string").  Unknown keys are an error.  It opens no file: certificates
 * and keys are loaded by tls_server_new().  The returned struct config
 * owns all its strings; free it with config_free().
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "fake-mx.h"

#define CONFIG_MAX_LISTENERS	65536

static const char *const config_reply_keys[RS_MAX] = {
	[RS_EHLO] = "ehlo",
	[RS_MAIL] = "mail",
	[RS_RCPT] = "rcpt",
	[RS_DATA] = "data",
	[RS_EOM] = "eom",
};

static const char *const config_reply_defaults[RS_MAX] = {
	[RS_EHLO] = NULL,		/* "250 <hostname>" */
	[RS_MAIL] = "250 2.1.0 ok",
	[RS_RCPT] = "250 2.1.5 ok",
	[RS_DATA] = "354 go ahead",
	[RS_EOM] = "250 2.0.0 queued",
};

/* Format a field path (truncation is harmless: it is only a name). */
static void
config_fld(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Error context: the field path being checked. */
struct cfgerr {
	char	*buf;
	size_t	 len;
};

static int
config_err(struct cfgerr *e, const char *field, const char *fmt, ...)
{
	va_list	ap;
	size_t	n;

	n = (size_t)snprintf(e->buf, e->len, "%s: ", field);
	if (n >= e->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Every key of o must be one of the NULL-terminated list allowed; the
 * error for another names it with why.
 */
static int
config_keys_why(struct cfgerr *e, const char *field, json_t *o,
    const char *const *allowed, const char *why)
{
	const char	*key;
	json_t		*v;
	size_t		 i;
	char		 f[256];

	json_object_foreach(o, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL) {
			if (*field)
				config_fld(f, sizeof(f), "%s.%s", field, key);
			else
				config_fld(f, sizeof(f), "%s", key);
			return config_err(e, f, "%s", why);
		}
	}
	return 0;
}

static int
config_keys(struct cfgerr *e, const char *field, json_t *o,
    const char *const *allowed)
{
	return config_keys_why(e, field, o, allowed, "unknown key");
}

/*
 * Fetch o[key] as a string into *out (a copy).  Missing: *out = NULL and
 * an error if required.  Returns 0 or -1.
 */
static int
config_str(struct cfgerr *e, const char *field, json_t *o, const char *key,
    int required, char **out)
{
	json_t	*v;
	char	 f[256];

	*out = NULL;
	config_fld(f, sizeof(f), "%s%s%s", field, *field ? "." : "", key);
	if ((v = json_object_get(o, key)) == NULL || json_is_null(v)) {
		if (required)
			return config_err(e, f, "missing");
		return 0;
	}
	if (!json_is_string(v))
		return config_err(e, f, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return config_err(e, f, "must not contain NUL");
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
config_int(struct cfgerr *e, const char *field, json_t *o, const char *key,
    long long lo, long long hi, int *out)
{
	json_t		*v;
	long long	 n;
	char		 f[256];

	config_fld(f, sizeof(f), "%s%s%s", field, *field ? "." : "", key);
	if ((v = json_object_get(o, key)) == NULL)
		return 1;	/* absent: keep default */
	if (!json_is_integer(v))
		return config_err(e, f, "must be an integer");
	n = json_integer_value(v);
	if (n < lo || n > hi)
		return config_err(e, f, "must be between %lld and %lld", lo,
		    hi);
	*out = (int)n;
	return 0;
}

/* Pick a keyword out of a NULL-terminated list; returns its index. */
static int
config_enum(struct cfgerr *e, const char *field, const char *s,
    const char *const *names)
{
	size_t	i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return config_err(e, field, "unknown value \"%s\"", s);
}

static int
config_reply_line(struct cfgerr *e, const char *field, const char *s)
{
	size_t	i;

	if (reply_code(s) == -1)
		return config_err(e, field,
		    "must start with a 3-digit code 200..599 and a space");
	if (strlen(s) + 2 > SMTP_LINE_MAX)
		return config_err(e, field, "longer than %d octets",
		    SMTP_LINE_MAX - 2);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return config_err(e, field,
			    "control characters not allowed");
	return 0;
}

/*
 * o[key], a string, as its index in the NULL-terminated list names; dflt
 * when absent; -1 with an error naming field.key otherwise.
 */
static int
config_keyword(struct cfgerr *e, const char *field, json_t *o,
    const char *key, const char *const *names, int dflt)
{
	char	 f[256], *s;
	int	 r;

	if (config_str(e, field, o, key, 0, &s) == -1)
		return -1;
	if (s == NULL)
		return dflt;
	config_fld(f, sizeof(f), "%s%s%s", field, *field ? "." : "", key);
	r = config_enum(e, f, s, names);
	free(s);
	return r;
}

static int
config_addr(struct cfgerr *e, const char *field, const char *s)
{
	unsigned char	buf[16];

	if (inet_pton(AF_INET, s, buf) != 1 &&
	    inet_pton(AF_INET6, s, buf) != 1)
		return config_err(e, field, "not a numeric IPv4 or IPv6 "
		    "address");
	return 0;
}

/* One chain/key pair of a cert entry (also of its "also" list). */
static int
config_pair(struct cfgerr *e, const char *field, json_t *o, char **chain,
    char **key)
{
	static const char *const keys[] = { "chain", "key", NULL };

	if (!json_is_object(o))
		return config_err(e, field, "must be an object");
	if (config_keys(e, field, o, keys) == -1 ||
	    config_str(e, field, o, "chain", 1, chain) == -1 ||
	    config_str(e, field, o, "key", 1, key) == -1)
		return -1;
	return 0;
}

static int
config_cert(struct cfgerr *e, const char *field, json_t *o,
    struct cert_conf *c)
{
	static const char *const keys[] = { "chain", "key", "sni", "also",
	    NULL };
	json_t	*sni, *also, *v;
	size_t	 i;
	char	 f[256];

	if (!json_is_object(o))
		return config_err(e, field, "must be an object");
	if (config_keys(e, field, o, keys) == -1 ||
	    config_str(e, field, o, "chain", 1, &c->chain) == -1 ||
	    config_str(e, field, o, "key", 1, &c->key) == -1)
		return -1;
	if ((also = json_object_get(o, "also")) != NULL) {
		config_fld(f, sizeof(f), "%s.also", field);
		if (!json_is_array(also) || json_array_size(also) == 0 ||
		    json_array_size(also) > 3)
			return config_err(e, f, "must be an array of 1 to 3 "
			    "{chain, key} objects");
		c->also = xcalloc(json_array_size(also), sizeof(*c->also));
		json_array_foreach(also, i, v) {
			config_fld(f, sizeof(f), "%s.also[%zu]", field, i);
			c->nalso++;
			if (config_pair(e, f, v, &c->also[i].chain,
			    &c->also[i].key) == -1)
				return -1;
		}
	}
	if ((sni = json_object_get(o, "sni")) == NULL)
		return 0;
	config_fld(f, sizeof(f), "%s.sni", field);
	if (!json_is_array(sni) || json_array_size(sni) == 0)
		return config_err(e, f, "must be a non-empty array of names");
	c->sni = xcalloc(json_array_size(sni), sizeof(char *));
	json_array_foreach(sni, i, v) {
		config_fld(f, sizeof(f), "%s.sni[%zu]", field, i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 255)
			return config_err(e, f, "must be a host name");
		c->sni[c->nsni++] = xstrdup(json_string_value(v));
	}
	return 0;
}

/* The handshake fault of a profile: "fault" and "alert" of a tls object. */
static int
config_tls_fault(struct cfgerr *e, const char *field, json_t *o,
    struct profile *p)
{
	static const char *const faults[] = { "none", "alert", "abort",
	    "stall", NULL };
	char	 f[256], *s;
	int	 r;

	if ((r = config_keyword(e, field, o, "fault", faults,
	    (int)p->fault)) == -1)
		return -1;
	p->fault = (enum tls_fault)r;
	if (config_str(e, field, o, "alert", 0, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	config_fld(f, sizeof(f), "%s.alert", field);
	r = profile_alert(s);
	free(s);
	if (r == -1)
		return config_err(e, f, "not a fatal TLS alert name of RFC "
		    "8446 (e.g. handshake_failure, internal_error)");
	if (p->fault != FAULT_ALERT)
		return config_err(e, f, "needs fault \"alert\"");
	p->alert = r;
	return 0;
}

static int
config_tls(struct cfgerr *e, const char *field, json_t *o,
    struct tls_conf *t, struct profile *p)
{
	static const char *const keys[] = { "certs", "min_version",
	    "max_version", "fault", "alert", NULL };
	static const char *const vnames[] = { "TLSv1", "TLSv1.1", "TLSv1.2",
	    "TLSv1.3", NULL };
	static const int versions[] = { TLS1_VERSION, TLS1_1_VERSION,
	    TLS1_2_VERSION, TLS1_3_VERSION };
	json_t	*certs, *v;
	size_t	 i, ndefault = 0;
	char	 f[256];
	int	 r;

	t->min_version = TLS1_2_VERSION;
	t->max_version = TLS1_3_VERSION;
	if (!json_is_object(o))
		return config_err(e, field, "must be an object");
	if (config_keys(e, field, o, keys) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.certs", field);
	if ((certs = json_object_get(o, "certs")) == NULL)
		return config_err(e, f, "missing");
	if (!json_is_array(certs) || json_array_size(certs) == 0)
		return config_err(e, f, "must be a non-empty array");
	t->certs = xcalloc(json_array_size(certs), sizeof(*t->certs));
	json_array_foreach(certs, i, v) {
		config_fld(f, sizeof(f), "%s.certs[%zu]", field, i);
		t->ncerts++;
		if (config_cert(e, f, v, &t->certs[i]) == -1)
			return -1;
		if (t->certs[i].sni == NULL)
			ndefault++;
	}
	if (ndefault == 0) {
		config_fld(f, sizeof(f), "%s.certs", field);
		return config_err(e, f, "needs one entry without \"sni\" "
		    "(the default)");
	}
	/* defaults: TLSv1.2 to TLSv1.3 */
	if ((r = config_keyword(e, field, o, "min_version", vnames, 2)) == -1)
		return -1;
	t->min_version = versions[r];
	if ((r = config_keyword(e, field, o, "max_version", vnames, 3)) == -1)
		return -1;
	t->max_version = versions[r];
	if (t->min_version > t->max_version) {
		config_fld(f, sizeof(f), "%s.max_version", field);
		return config_err(e, f, "lower than min_version");
	}
	return config_tls_fault(e, field, o, p);
}

/* A reply line, or "drop" (NULL: close without a reply). */
static int
config_reply_or_drop(struct cfgerr *e, const char *field, json_t *o,
    const char *key, char **line)
{
	char	 f[256], *s;

	if (json_object_get(o, key) == NULL)
		return 0;			/* keep what is there */
	if (config_str(e, field, o, key, 1, &s) == -1)
		return -1;
	free(*line);
	*line = NULL;
	if (strcmp(s, "drop") == 0) {
		free(s);
		return 0;
	}
	*line = s;
	config_fld(f, sizeof(f), "%s%s%s", field, *field ? "." : "", key);
	return config_reply_line(e, f, s);
}

static int
config_replies(struct cfgerr *e, const char *field, json_t *o,
    struct profile *p)
{
	static const char *const keys[] = { "ehlo", "mail", "rcpt", "data",
	    "eom", NULL };
	char	 f[256];
	int	 i, code;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return config_err(e, field, "must be an object");
	if (config_keys(e, field, o, keys) == -1)
		return -1;
	for (i = 0; i < RS_MAX; i++) {
		config_fld(f, sizeof(f), "%s.%s", field, config_reply_keys[i]);
		if (config_reply_or_drop(e, field, o, config_reply_keys[i],
		    &p->replies[i]) == -1)
			return -1;
		if (p->replies[i] == NULL)
			continue;
		code = reply_code(p->replies[i]);
		if (i == RS_DATA && code / 100 != 3 && code / 100 != 4 &&
		    code / 100 != 5)
			return config_err(e, f, "must be 354, 4xx or 5xx");
		if (i != RS_DATA && code / 100 == 3)
			return config_err(e, f, "3xx makes no sense here");
	}
	return 0;
}

/*
 * The STARTTLS reply: "220" (handshake), "454" (refused with the standard
 * 454 line), "drop", the number 220 or 454, or any 4xx/5xx reply line.
 */
static int
config_starttls_reply(struct cfgerr *e, const char *field, json_t *o,
    struct profile *p)
{
	static const char	 std454[] =
	    "454 4.7.0 TLS not available due to temporary reason";
	json_t	*v;
	char	 f[256], *s;
	int	 code;

	config_fld(f, sizeof(f), "%s.starttls_reply", field);
	if ((v = json_object_get(o, "starttls_reply")) == NULL)
		return 0;
	if (json_is_integer(v) && (json_integer_value(v) == 220 ||
	    json_integer_value(v) == 454))
		s = xstrdup(json_integer_value(v) == 220 ? "220" : "454");
	else if (config_str(e, field, o, "starttls_reply", 1, &s) == -1)
		return -1;
	free(p->starttls_line);
	p->starttls_line = NULL;
	if (strcmp(s, "220") == 0)
		p->starttls_reply = STLS_REPLY_220;
	else if (strcmp(s, "drop") == 0)
		p->starttls_reply = STLS_REPLY_DROP;
	else {
		code = strcmp(s, "454") == 0 ? 454 : reply_code(s);
		if (code / 100 != 4 && code / 100 != 5) {
			config_err(e, f, "unknown value \"%s\" (220, 454, drop "
			    "or a 4xx/5xx reply line)", s);
			free(s);
			return -1;
		}
		p->starttls_reply = STLS_REPLY_REFUSE;
		p->starttls_line = strcmp(s, "454") == 0 ? xstrdup(std454) :
		    xstrdup(s);
		free(s);
		return config_reply_line(e, f, p->starttls_line);
	}
	free(s);
	return 0;
}

static int
config_close_after(struct cfgerr *e, const char *field, json_t *o,
    struct profile *p)
{
	char	 f[256], *s;
	int	 r;

	if (config_str(e, field, o, "close_after", 0, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	config_fld(f, sizeof(f), "%s.close_after", field);
	r = profile_close_point(s);
	free(s);
	if (r <= 0)
		return config_err(e, f, "must be one of banner, ehlo, "
		    "starttls, tls, mail, rcpt, data, eom");
	p->close_after = (enum close_point)r;
	return 0;
}

/*
 * The behaviour keys every profile has (a listener's and a step's):
 * banner, starttls, starttls_reply, replies, close_after.  Keys that are
 * absent keep what p holds.
 */
static int
config_profile(struct cfgerr *e, const char *field, json_t *o,
    struct profile *p)
{
	static const char *const offers[] = { "offer", "withhold", NULL };
	char	 f[256];
	int	 r;

	if (config_reply_or_drop(e, field, o, "banner", &p->banner) == -1)
		return -1;
	if ((r = config_keyword(e, field, o, "starttls", offers,
	    (int)p->starttls)) == -1)
		return -1;
	p->starttls = (enum starttls_policy)r;
	if (config_starttls_reply(e, field, o, p) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.replies", field);
	if (config_replies(e, f, json_object_get(o, "replies"), p) == -1)
		return -1;
	return config_close_after(e, field, o, p);
}

/* The listener's own profile, with its defaults. */
static int
config_own_profile(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	struct profile	*p = &l->prof;
	size_t		 n;
	int		 i;

	n = strlen(l->hostname) + 32;
	p->banner = xmalloc(n);
	snprintf(p->banner, n, "220 %s ESMTP fake-mx", l->hostname);
	p->alert = SSL_AD_HANDSHAKE_FAILURE;
	for (i = 0; i < RS_MAX; i++) {
		if (config_reply_defaults[i] != NULL)
			p->replies[i] = xstrdup(config_reply_defaults[i]);
		else {
			n = strlen(l->hostname) + 5;
			p->replies[i] = xmalloc(n);
			snprintf(p->replies[i], n, "250 %s", l->hostname);
		}
	}
	return config_profile(e, field, o, p);
}

/*
 * "connections": profiles for the first connections, each a copy of the
 * listener's own with the keys it gives changed (its "tls" holds only
 * fault and alert), serving "count" connections (default 1).
 */
static int
config_steps(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	static const char *const keys[] = { "count", "banner", "starttls",
	    "starttls_reply", "replies", "close_after", "tls", NULL };
	static const char *const tkeys[] = { "fault", "alert", NULL };
	json_t	*a, *v, *t;
	size_t	 i;
	char	 f[256], ft[256];
	int	 count;

	config_fld(f, sizeof(f), "%s.connections", field);
	if ((a = json_object_get(o, "connections")) == NULL)
		return 0;
	if (l->mode == MODE_STRIP_RELAY)
		return config_err(e, f, "not used by a strip-relay");
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > 16)
		return config_err(e, f, "must be an array of 1 to 16 "
		    "profiles");
	l->steps = xcalloc(json_array_size(a), sizeof(*l->steps));
	json_array_foreach(a, i, v) {
		config_fld(f, sizeof(f), "%s.connections[%zu]", field, i);
		profile_copy(&l->steps[i], &l->prof);
		l->nsteps++;
		if (!json_is_object(v))
			return config_err(e, f, "must be an object");
		count = 1;
		if (config_keys(e, f, v, keys) == -1 ||
		    config_int(e, f, v, "count", 1, 1000000, &count) == -1 ||
		    config_profile(e, f, v, &l->steps[i]) == -1)
			return -1;
		l->steps[i].count = (unsigned int)count;
		if ((t = json_object_get(v, "tls")) == NULL)
			continue;
		config_fld(ft, sizeof(ft), "%s.tls", f);
		if (!json_is_object(t))
			return config_err(e, ft, "must be an object");
		if (config_keys(e, ft, t, tkeys) == -1 ||
		    config_tls_fault(e, ft, t, &l->steps[i]) == -1)
			return -1;
	}
	return 0;
}

/*
 * A catch-all listener (mode "catch-all") has only a name, the unspecified
 * address (0.0.0.0 or ::) and a port: it answers nothing, it resets.
 */
static int
config_catchall(struct cfgerr *e, const char *field, json_t *o,
    const struct listener_conf *l)
{
	static const char *const keys[] = { "name", "address", "port",
	    "mode", NULL };
	static const unsigned char zero[16];
	unsigned char	 buf[16];
	char		 f[256];

	if (config_keys_why(e, field, o, keys, "not used by a catch-all") ==
	    -1)
		return -1;
	config_fld(f, sizeof(f), "%s.address", field);
	if ((inet_pton(AF_INET, l->address, buf) == 1 &&
	    memcmp(buf, zero, 4) == 0) ||
	    (inet_pton(AF_INET6, l->address, buf) == 1 &&
	    memcmp(buf, zero, 16) == 0))
		return 0;
	return config_err(e, f, "a catch-all listens on 0.0.0.0 or ::");
}

/* Who a listener is: name, address, port. */
static int
config_listener_id(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	char	f[256];

	if (config_str(e, field, o, "name", 1, &l->name) == -1 ||
	    config_str(e, field, o, "address", 1, &l->address) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.name", field);
	if (*l->name == '\0' || strlen(l->name) > 128 ||
	    strpbrk(l->name, "/ \t\r\n") != NULL)
		return config_err(e, f, "must be 1..128 characters, no '/' "
		    "or space");
	config_fld(f, sizeof(f), "%s.address", field);
	if (config_addr(e, f, l->address) == -1)
		return -1;
	l->port = 25;
	if (config_int(e, field, o, "port", 1, 65535, &l->port) == -1)
		return -1;
	return 0;
}

/* The host name it greets with (the default banner and EHLO use it). */
static int
config_hostname(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	char	f[256];

	if (config_str(e, field, o, "hostname", 0, &l->hostname) == -1)
		return -1;
	if (l->hostname == NULL)
		l->hostname = xstrdup("fake-mx.invalid");
	config_fld(f, sizeof(f), "%s.hostname", field);
	if (*l->hostname == '\0' || strlen(l->hostname) > 255 ||
	    strpbrk(l->hostname, " \t\r\n") != NULL)
		return config_err(e, f, "must be a host name");
	return 0;
}

/* The TLS profile: certificates, versions and the handshake fault. */
static int
config_listener_tls(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	json_t	*v;
	char	 f[256];

	config_fld(f, sizeof(f), "%s.tls", field);
	if ((v = json_object_get(o, "tls")) == NULL || json_is_null(v))
		return 0;
	l->has_tls = 1;
	return config_tls(e, f, v, &l->tls, &l->prof);
}

/* TLS is required when some profile offers STARTTLS and answers 220. */
static int
config_tls_needed(struct cfgerr *e, const char *field,
    const struct listener_conf *l)
{
	char	 f[256];
	size_t	 i;
	int	 need;

	need = l->prof.starttls == STARTTLS_OFFER &&
	    l->prof.starttls_reply == STLS_REPLY_220;
	for (i = 0; i < l->nsteps; i++)
		need |= l->steps[i].starttls == STARTTLS_OFFER &&
		    l->steps[i].starttls_reply == STLS_REPLY_220;
	if (l->has_tls || l->mode == MODE_STRIP_RELAY || !need)
		return 0;
	config_fld(f, sizeof(f), "%s.tls", field);
	return config_err(e, f, "missing (starttls is offered with reply "
	    "220)");
}

/*
 * What a strip-relay does on the way: relay_strip (remove STARTTLS from
 * the EHLO reply, default true), relay_starttls ("refuse": answer 454
 * itself, the default; "pass": forward it and, after the upstream's 220,
 * pass the bytes through untouched) and relay_inject (text sent to the
 * client in plaintext right after that 220; "pass" only).  Other modes
 * take none of these keys.
 */
static int
config_relay_attack(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	static const char *const how[] = { "refuse", "pass", NULL };
	static const char *const keys[] = { "relay_strip", "relay_starttls",
	    "relay_inject", NULL };
	json_t	*v;
	char	 f[256];
	size_t	 i;
	int	 r;

	if (l->mode != MODE_STRIP_RELAY) {
		for (i = 0; keys[i] != NULL; i++)
			if (json_object_get(o, keys[i]) != NULL) {
				config_fld(f, sizeof(f), "%s.%s", field,
				    keys[i]);
				return config_err(e, f, "only for mode "
				    "strip-relay");
			}
		return 0;
	}
	l->relay_strip = 1;
	if ((v = json_object_get(o, "relay_strip")) != NULL) {
		config_fld(f, sizeof(f), "%s.relay_strip", field);
		if (!json_is_boolean(v))
			return config_err(e, f, "must be true or false");
		l->relay_strip = json_is_true(v);
	}
	if ((r = config_keyword(e, field, o, "relay_starttls", how, 0)) == -1)
		return -1;
	l->relay_starttls = (enum relay_starttls)r;
	if (config_str(e, field, o, "relay_inject", 0, &l->relay_inject) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.relay_inject", field);
	if (l->relay_inject != NULL && l->relay_starttls != RELAY_STLS_PASS)
		return config_err(e, f, "needs relay_starttls \"pass\" (the "
		    "text follows the server's 220)");
	if (l->relay_inject != NULL && (*l->relay_inject == '\0' ||
	    strlen(l->relay_inject) > RELAY_INJECT_MAX))
		return config_err(e, f, "must hold 1..%d octets",
		    RELAY_INJECT_MAX);
	return 0;
}

/* Where a strip-relay forwards to (relay_to, required in that mode). */
static int
config_relay(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	static const char *const keys[] = { "address", "port", NULL };
	json_t	*v;
	char	 f[256];

	if (config_relay_attack(e, field, o, l) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.relay_to", field);
	if ((v = json_object_get(o, "relay_to")) == NULL || json_is_null(v)) {
		if (l->mode != MODE_STRIP_RELAY)
			return 0;
		return config_err(e, f, "missing (mode is strip-relay)");
	}
	if (!json_is_object(v))
		return config_err(e, f, "must be an object");
	l->has_relay = 1;
	l->relay_port = 25;
	if (config_keys(e, f, v, keys) == -1 ||
	    config_str(e, f, v, "address", 1, &l->relay_address) == -1 ||
	    config_int(e, f, v, "port", 1, 65535, &l->relay_port) == -1)
		return -1;
	config_fld(f, sizeof(f), "%s.relay_to.address", field);
	return config_addr(e, f, l->relay_address);
}

/*
 * A listener.  Its own profile is complete (tls fault included) before
 * the steps copy it.
 */
static int
config_listener(struct cfgerr *e, const char *field, json_t *o,
    struct listener_conf *l)
{
	static const char *const keys[] = { "name", "address", "port",
	    "hostname", "mode", "banner", "starttls", "starttls_reply", "tls",
	    "replies", "relay_to", "close_after", "connections",
	    "relay_strip", "relay_starttls", "relay_inject", NULL };
	static const char *const modes[] = { "server", "sink", "strip-relay",
	    "impostor", "catch-all", NULL };
	int	r;

	if (!json_is_object(o))
		return config_err(e, field, "must be an object");
	if (config_keys(e, field, o, keys) == -1 ||
	    config_listener_id(e, field, o, l) == -1 ||
	    (r = config_keyword(e, field, o, "mode", modes, 0)) == -1)
		return -1;
	l->mode = (enum listener_mode)r;
	if (l->mode == MODE_CATCH_ALL)
		return config_catchall(e, field, o, l);
	if (config_hostname(e, field, o, l) == -1 ||
	    config_own_profile(e, field, o, l) == -1 ||
	    config_listener_tls(e, field, o, l) == -1 ||
	    config_steps(e, field, o, l) == -1 ||
	    config_tls_needed(e, field, l) == -1)
		return -1;
	return config_relay(e, field, o, l);
}

static int
config_timeouts(struct cfgerr *e, json_t *o, struct config *c)
{
	static const char *const keys[] = { "command_ms", "data_ms",
	    "tls_ms", NULL };

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return config_err(e, "timeouts", "must be an object");
	if (config_keys(e, "timeouts", o, keys) == -1 ||
	    config_int(e, "timeouts", o, "command_ms", 1, 3600000,
	    &c->command_ms) == -1 ||
	    config_int(e, "timeouts", o, "data_ms", 1, 3600000,
	    &c->data_ms) == -1 ||
	    config_int(e, "timeouts", o, "tls_ms", 1, 3600000,
	    &c->tls_ms) == -1)
		return -1;
	return 0;
}

static int
config_check(struct cfgerr *e, json_t *root, struct config *c)
{
	static const char *const keys[] = { "events", "spool", "timeouts",
	    "listeners", NULL };
	json_t	*ls, *v;
	size_t	 i, j;
	char	 f[64];

	c->command_ms = 30000;
	c->data_ms = 60000;
	c->tls_ms = 10000;
	if (!json_is_object(root))
		return config_err(e, "(top)", "must be an object");
	if (config_keys(e, "", root, keys) == -1 ||
	    config_str(e, "", root, "events", 1, &c->events) == -1 ||
	    config_str(e, "", root, "spool", 1, &c->spool) == -1 ||
	    config_timeouts(e, json_object_get(root, "timeouts"), c) == -1)
		return -1;
	if ((ls = json_object_get(root, "listeners")) == NULL)
		return config_err(e, "listeners", "missing");
	if (!json_is_array(ls) || json_array_size(ls) == 0)
		return config_err(e, "listeners", "must be a non-empty array");
	if (json_array_size(ls) > CONFIG_MAX_LISTENERS)
		return config_err(e, "listeners", "too many");
	c->listeners = xcalloc(json_array_size(ls), sizeof(*c->listeners));
	json_array_foreach(ls, i, v) {
		config_fld(f, sizeof(f), "listeners[%zu]", i);
		c->nlisteners++;
		if (config_listener(e, f, v, &c->listeners[i]) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(c->listeners[j].name,
			    c->listeners[i].name) == 0) {
				config_fld(f, sizeof(f), "listeners[%zu].name",
				    i);
				return config_err(e, f, "duplicate of "
				    "listeners[%zu]", j);
			}
			if (strcmp(c->listeners[j].address,
			    c->listeners[i].address) == 0 &&
			    c->listeners[j].port == c->listeners[i].port) {
				config_fld(f, sizeof(f), "listeners[%zu].port",
				    i);
				return config_err(e, f, "address and port "
				    "already used by listeners[%zu]", j);
			}
		}
	}
	/*
	 * Linux lets a wildcard listener share a port with listeners on
	 * specific addresses only when all of them set SO_REUSEPORT; the
	 * kernel still hands a connection to the listener bound to its
	 * exact destination address, so the catch-all gets the rest.
	 */
	for (i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].mode != MODE_CATCH_ALL)
			continue;
		for (j = 0; j < c->nlisteners; j++)
			if (c->listeners[j].port == c->listeners[i].port)
				c->listeners[j].reuseport = 1;
	}
	return 0;
}

struct config *
config_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct cfgerr	 e = { err, errlen };
	json_error_t	 jerr;
	json_t		*root;
	struct config	*c;

	if (errlen > 0)
		err[0] = '\0';
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	if (config_check(&e, root, c) == -1) {
		json_decref(root);
		config_free(c);
		return NULL;
	}
	json_decref(root);
	return c;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	FILE		*fp;
	char		*buf = NULL;
	size_t		 len = 0, n;
	struct config	*c;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		buf = xrealloc(buf, len + 65536);
		n = fread(buf + len, 1, 65536, fp);
		len += n;
		if (n == 0)
			break;
		if (len > 64 * 1024 * 1024) {
			snprintf(err, errlen, "file too large");
			fclose(fp);
			free(buf);
			return NULL;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	c = config_parse(buf, len, err, errlen);
	free(buf);
	return c;
}

void
config_free(struct config *c)
{
	struct listener_conf	*l;
	size_t			 i, j, k;

	if (c == NULL)
		return;
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		free(l->name);
		free(l->address);
		free(l->hostname);
		profile_clear(&l->prof);
		for (j = 0; j < l->nsteps; j++)
			profile_clear(&l->steps[j]);
		free(l->steps);
		for (j = 0; j < l->tls.ncerts; j++) {
			free(l->tls.certs[j].chain);
			free(l->tls.certs[j].key);
			for (k = 0; k < l->tls.certs[j].nsni; k++)
				free(l->tls.certs[j].sni[k]);
			free(l->tls.certs[j].sni);
			for (k = 0; k < l->tls.certs[j].nalso; k++) {
				free(l->tls.certs[j].also[k].chain);
				free(l->tls.certs[j].also[k].key);
			}
			free(l->tls.certs[j].also);
		}
		free(l->tls.certs);
		free(l->relay_address);
		free(l->relay_inject);
	}
	free(c->listeners);
	free(c->events);
	free(c->spool);
	free(c);
}

const char *
config_strmode(enum listener_mode m)
{
	switch (m) {
	case MODE_SERVER:
		return "server";
	case MODE_SINK:
		return "sink";
	case MODE_STRIP_RELAY:
		return "strip-relay";
	case MODE_IMPOSTOR:
		return "impostor";
	case MODE_CATCH_ALL:
		return "catch-all";
	}
	return "?";
}

const char *
config_strfault(enum tls_fault f)
{
	switch (f) {
	case FAULT_NONE:
		return "none";
	case FAULT_ALERT:
		return "alert";
	case FAULT_ABORT:
		return "abort";
	case FAULT_STALL:
		return "stall";
	}
	return "?";
}
