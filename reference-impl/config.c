/*
 * config.c -- refsend's configuration file: its keys (docs/interfaces.md,
 * docs/refsend.md), their defaults and checks.  The "key = value" lexer,
 * where any '#' starts a comment, is conf.c's; unknown keys are an error.
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

/*
 * The keys with a value of their own (static_route, which adds up, is
 * parsed in config_set() itself).  A setter parses value v into the field
 * of c at off (bounds min and max for numbers); it returns 0, or -1 with a
 * message in err.
 */
struct config_key {
	const char	*name;
	int		(*set)(struct config *, const struct config_key *,
			    char *, char *, size_t);
	size_t		 off;
	int		 min, max;
};

static int
config_set_str(struct config *c, const struct config_key *key, char *v,
    char *err, size_t errlen)
{
	char	**field = (char **)((char *)c + key->off);

	(void)err;
	(void)errlen;
	free(*field);
	*field = xstrdup(v);
	return 0;
}

static int
config_set_int(struct config *c, const struct config_key *key, char *v,
    char *err, size_t errlen)
{
	int	*field = (int *)((char *)c + key->off);

	if (conf_int(v, key->min, key->max, field) == -1) {
		snprintf(err, errlen, "%s: bad number '%s'", key->name, v);
		return -1;
	}
	return 0;
}

static int
config_set_retry(struct config *c, const struct config_key *key, char *v,
    char *err, size_t errlen)
{
	(void)key;
	if (conf_intlist(v, 0, RETRY_MAX, &c->retry, &c->nretry) == -1) {
		snprintf(err, errlen, "retry_schedule: bad list '%s'", v);
		return -1;
	}
	return 0;
}

static int
config_set_default_policy(struct config *c, const struct config_key *key,
    char *v, char *err, size_t errlen)
{
	(void)key;
	if (level_parse(v, &c->default_policy) == -1) {
		snprintf(err, errlen, "default_policy: unknown level '%s'", v);
		return -1;
	}
	return 0;
}

static int
config_set_bool(struct config *c, const struct config_key *key,
    char *v, char *err, size_t errlen)
{
	int	*field = (int *)((char *)c + key->off);

	if (strcmp(v, "yes") == 0)
		*field = 1;
	else if (strcmp(v, "no") == 0)
		*field = 0;
	else {
		snprintf(err, errlen, "%s: yes or no", key->name);
		return -1;
	}
	return 0;
}

/* "policy = DOMAIN LEVEL": lines add up; the last one for a domain wins. */
static int
config_set_policy(struct config *c, const struct config_key *key, char *v,
    char *err, size_t errlen)
{
	char		*a, *b;
	enum level	 l;

	(void)key;
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

#define OFF(field)	offsetof(struct config, field)
static const struct config_key config_keys[] = {
	{ "queue_dir",		config_set_str, OFF(queue_dir), 0, 0 },
	{ "events",		config_set_str, OFF(events), 0, 0 },
	{ "dsn_dir",		config_set_str, OFF(dsn_dir), 0, 0 },
	{ "resolver",		config_set_str, OFF(resolver), 0, 0 },
	{ "trust_anchor",	config_set_str, OFF(trust_anchor), 0, 0 },
	{ "helo_name",		config_set_str, OFF(helo_name), 0, 0 },
	{ "smtp_port",		config_set_int, OFF(smtp_port), 1, 65535 },
	{ "connect_timeout",	config_set_int, OFF(connect_timeout), 1, 3600 },
	{ "command_timeout",	config_set_int, OFF(command_timeout), 1, 3600 },
	{ "tls_timeout",	config_set_int, OFF(tls_timeout), 1, 3600 },
	{ "session_timeout",	config_set_int, OFF(session_timeout), 1,
	    86400 },
	{ "max_attempts",	config_set_int, OFF(max_attempts), 1, 1000 },
	{ "max_parallel",	config_set_int, OFF(max_parallel), 1, 10000 },
	{ "daemon_interval",	config_set_int, OFF(daemon_interval), 1, 3600 },
	{ "dns_timeout",	config_set_int, OFF(dns_timeout), 1, 3600 },
	{ "retry_schedule",	config_set_retry, 0, 0, 0 },
	{ "default_policy",	config_set_default_policy, 0, 0, 0 },
	{ "half_dane",		config_set_bool, OFF(half_dane), 0, 0 },
	{ "sts",		config_set_bool, OFF(sts), 0, 0 },
	{ "sts_ca_file",	config_set_str, OFF(sts_ca_file), 0, 0 },
	{ "sts_timeout",	config_set_int, OFF(sts_timeout), 1, 3600 },
	{ "clock_offset",	config_set_int, OFF(clock_offset), 0,
	    CLOCK_OFFSET_MAX },
	{ "policy",		config_set_policy, 0, 0, 0 },
	{ NULL,			NULL, 0, 0, 0 }
};
#undef OFF

/* One "key = value" line (conf_set_fn). */
static int
config_set(void *arg, const char *k, char *v, char *err, size_t errlen)
{
	struct config		*c = arg;
	const struct config_key	*key;
	char			*a, *b;
	int			 port;

	for (key = config_keys; key->name != NULL; key++)
		if (strcmp(k, key->name) == 0)
			return key->set(c, key, v, err, errlen);
	if (strcmp(k, "static_route") == 0) {
		/* The syntax is common/conf.c's, shared with the reporter. */
		if (conf_route(v, &a, &b, &port) == -1) {
			snprintf(err, errlen, "static_route: want 'DOMAIN "
			    "ADDRESS[:PORT]' (ADDRESS numeric; IPv6 with a "
			    "port: [ADDRESS]:PORT)");
			return -1;
		}
		c->routes = xreallocarray(c->routes, c->nroutes + 1,
		    sizeof(*c->routes));
		c->routes[c->nroutes].domain = xstrdup(a);
		c->routes[c->nroutes].address = xstrdup(b);
		c->routes[c->nroutes++].port = port;
		return 0;
	}
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
	free(c->path);
	free(c->queue_dir);
	free(c->events);
	free(c->dsn_dir);
	free(c->resolver);
	free(c->trust_anchor);
	free(c->helo_name);
	free(c->sts_ca_file);
	free(c->retry);
	for (i = 0; i < c->npolicies; i++)
		free(c->policies[i].domain);
	free(c->policies);
	for (i = 0; i < c->nroutes; i++) {
		free(c->routes[i].domain);
		free(c->routes[i].address);
	}
	free(c->routes);
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
	size_t	i;

	for (i = 0; i < c->nroutes; i++)
		if (strcasecmp(c->routes[i].domain, domain) == 0)
			return &c->routes[i];
	return NULL;
}
