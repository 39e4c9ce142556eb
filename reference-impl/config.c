/*
 * config.c -- refsend's configuration file: its keys (docs/interfaces.md,
 * docs/refsend.md), their defaults and checks.  The "key = value" lexer,
 * where any '#' starts a comment, and the key table that sets the plain
 * values are common/conf.c's (shared with refsend-tlsrpt); unknown keys
 * are an error.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "refsend.h"

#define RETRY_MAX	(86400 * 30)	/* seconds, one retry_schedule step */
#define CLOCK_OFFSET_MAX (86400 * 3660)	/* seconds: ten years */

/* Split "A B" into two words; -1 unless there are exactly two. */
static int
config_two(char *v, char **a, char **b)
{
	*a = strsep(&v, " \t");
	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	*b = v;
	if (**a == '\0' || **b == '\0' || strpbrk(*b, " \t") != NULL)
		return -1;
	return 0;
}

static char *
config_lower(char *s)
{
	char	*p;

	for (p = s; *p; p++)
		*p = tolower((unsigned char)*p);
	if (p > s && p[-1] == '.')
		p[-1] = '\0';
	return s;
}

/* "default_policy = LEVEL". */
static int
config_set_default_policy(struct config *c, char *v, char *err,
    size_t errlen)
{
	if (level_parse(v, &c->default_policy) == -1) {
		snprintf(err, errlen, "default_policy: unknown level '%s'", v);
		return -1;
	}
	return 0;
}

/* "policy = DOMAIN LEVEL": lines add up; the last one for a domain wins. */
static int
config_set_policy(struct config *c, char *v, char *err, size_t errlen)
{
	char		*a, *b;
	enum level	 l;

	if (config_two(v, &a, &b) == -1 || level_parse(b, &l) == -1) {
		snprintf(err, errlen, "policy: want 'DOMAIN LEVEL' with LEVEL "
		    "dane, dane-only, may or exclude");
		return -1;
	}
	c->policies = xreallocarray(c->policies, c->npolicies + 1,
	    sizeof(*c->policies));
	c->policies[c->npolicies].domain = config_lower(xstrdup(a));
	c->policies[c->npolicies++].level = l;
	return 0;
}

/* The keys whose value goes straight into a field (common/conf.c). */
#define OFF(field)	offsetof(struct config, field)
static const struct conf_key config_keys[] = {
	{ "queue_dir",		CONF_STR, OFF(queue_dir), 0, 0, 0 },
	{ "events",		CONF_STR, OFF(events), 0, 0, 0 },
	{ "dsn_dir",		CONF_STR, OFF(dsn_dir), 0, 0, 0 },
	{ "resolver",		CONF_STR, OFF(resolver), 0, 0, 0 },
	{ "trust_anchor",	CONF_STR, OFF(trust_anchor), 0, 0, 0 },
	{ "helo_name",		CONF_STR, OFF(helo_name), 0, 0, 0 },
	{ "sts_ca_file",	CONF_STR, OFF(sts_ca_file), 0, 0, 0 },
	{ "smtp_port",		CONF_INT, OFF(smtp_port), 0, 1, 65535 },
	{ "connect_timeout",	CONF_INT, OFF(connect_timeout), 0, 1, 3600 },
	{ "command_timeout",	CONF_INT, OFF(command_timeout), 0, 1, 3600 },
	{ "tls_timeout",	CONF_INT, OFF(tls_timeout), 0, 1, 3600 },
	{ "session_timeout",	CONF_INT, OFF(session_timeout), 0, 1, 86400 },
	{ "max_attempts",	CONF_INT, OFF(max_attempts), 0, 1, 1000 },
	{ "max_parallel",	CONF_INT, OFF(max_parallel), 0, 1, 10000 },
	{ "daemon_interval",	CONF_INT, OFF(daemon_interval), 0, 1, 3600 },
	{ "dns_timeout",	CONF_INT, OFF(dns_timeout), 0, 1, 3600 },
	{ "sts_timeout",	CONF_INT, OFF(sts_timeout), 0, 1, 3600 },
	{ "clock_offset",	CONF_INT, OFF(clock_offset), 0, 0,
	    CLOCK_OFFSET_MAX },
	{ "half_dane",		CONF_BOOL, OFF(half_dane), 0, 0, 0 },
	{ "sts",		CONF_BOOL, OFF(sts), 0, 0, 0 },
	{ "retry_schedule",	CONF_INTLIST, OFF(retry), OFF(nretry), 0,
	    RETRY_MAX },
	{ "static_route",	CONF_ROUTE, OFF(routes), OFF(nroutes), 0, 0 },
	{ NULL,			CONF_STR, 0, 0, 0, 0 }
};
#undef OFF

/* One "key = value" line (conf_set_fn). */
static int
config_set(void *arg, const char *k, char *v, char *err, size_t errlen)
{
	struct config	*c = arg;
	int		 r;

	if ((r = conf_key_set(config_keys, c, k, v, err, errlen)) != 0)
		return r == 1 ? 0 : -1;
	if (strcmp(k, "default_policy") == 0)
		return config_set_default_policy(c, v, err, errlen);
	if (strcmp(k, "policy") == 0)
		return config_set_policy(c, v, err, errlen);
	snprintf(err, errlen, "unknown key '%s'", k);
	return -1;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*c;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->smtp_port = 25;
	c->connect_timeout = 10;
	c->command_timeout = 30;
	c->tls_timeout = 10;
	c->session_timeout = 600;
	c->max_attempts = 5;
	c->max_parallel = 100;
	c->default_policy = LEVEL_DANE;
	c->half_dane = 1;
	c->daemon_interval = 1;
	c->dns_timeout = 30;
	c->sts = 1;
	c->sts_timeout = 60;
	conf_intlist("60,300,900,3600", 0, RETRY_MAX, &c->retry, &c->nretry);
	if (conf_read(path, 0, config_set, c, err, errlen) == -1)
		goto fail;
	if (c->queue_dir == NULL) {
		snprintf(err, errlen, "%s: queue_dir is required", path);
		goto fail;
	}
	if (c->events == NULL) {
		snprintf(err, errlen, "%s: events is required", path);
		goto fail;
	}
	if (c->trust_anchor == NULL) {
		snprintf(err, errlen, "%s: trust_anchor is required", path);
		goto fail;
	}
	if (c->dsn_dir == NULL)
		xasprintf(&c->dsn_dir, "%s/dsn", c->queue_dir);
	if (c->helo_name == NULL)
		c->helo_name = xstrdup("refsend.invalid");
	return c;
 fail:
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	size_t	i;

	if (c == NULL)
		return;
	conf_key_clear(config_keys, c);
	free(c->path);
	for (i = 0; i < c->npolicies; i++)
		free(c->policies[i].domain);
	free(c->policies);
	free(c);
}

enum level
config_level(const struct config *c, const char *domain)
{
	size_t	i;

	if (config_route(c, domain) != NULL)
		return LEVEL_STATIC;
	for (i = c->npolicies; i-- > 0;)
		if (strcasecmp(c->policies[i].domain, domain) == 0)
			return c->policies[i].level;
	return c->default_policy;
}

const struct route *
config_route(const struct config *c, const char *domain)
{
	return conf_route_find(c->routes, c->nroutes, domain);
}
