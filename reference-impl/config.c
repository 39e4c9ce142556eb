/*
 * config.c -- the configuration file: "key = value" lines, '#' comments,
 * unknown keys are an error.  The keys are listed in docs/interfaces.md
 * and docs/refsend.md.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "refsend.h"

static int
config_int(const char *v, int min, int max, int *out)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

static int
config_retry(struct config *c, const char *v)
{
	char	*copy, *p, *tok;
	int	 n;

	free(c->retry);
	c->retry = NULL;
	c->nretry = 0;
	copy = xstrdup(v);
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		while (isspace((unsigned char)*tok))
			tok++;
		tok[strcspn(tok, " \t")] = '\0';
		if (config_int(tok, 0, 86400 * 30, &n) == -1) {
			free(copy);
			return -1;
		}
		c->retry = xreallocarray(c->retry, c->nretry + 1, sizeof(int));
		c->retry[c->nretry++] = n;
	}
	free(copy);
	return c->nretry ? 0 : -1;
}

static int
config_is_address(const char *s)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

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

static int
config_set(struct config *c, const char *k, char *v, char *err, size_t errlen)
{
	char		*a, *b, *port;
	enum level	 l;

#define STR(name) \
	if (strcmp(k, #name) == 0) { free(c->name); c->name = xstrdup(v); \
		return 0; }
#define INT(name, min, max) \
	if (strcmp(k, #name) == 0) { \
		if (config_int(v, min, max, &c->name) == -1) { \
			snprintf(err, errlen, "%s: bad number '%s'", k, v); \
			return -1; } \
		return 0; }
	STR(queue_dir)
	STR(events)
	STR(dsn_dir)
	STR(resolver)
	STR(trust_anchor)
	STR(helo_name)
	INT(smtp_port, 1, 65535)
	INT(connect_timeout, 1, 3600)
	INT(command_timeout, 1, 3600)
	INT(tls_timeout, 1, 3600)
	INT(max_attempts, 1, 1000)
	INT(max_parallel, 1, 10000)
	INT(daemon_interval, 1, 3600)
	INT(dns_timeout, 1, 3600)
#undef STR
#undef INT
	if (strcmp(k, "retry_schedule") == 0) {
		if (config_retry(c, v) == -1) {
			snprintf(err, errlen, "retry_schedule: bad list '%s'",
			    v);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "default_policy") == 0) {
		if (level_parse(v, &c->default_policy) == -1) {
			snprintf(err, errlen, "default_policy: unknown level "
			    "'%s'", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "half_dane") == 0) {
		if (strcmp(v, "yes") == 0)
			c->half_dane = 1;
		else if (strcmp(v, "no") == 0)
			c->half_dane = 0;
		else {
			snprintf(err, errlen, "half_dane: yes or no");
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "policy") == 0) {
		if (config_two(v, &a, &b) == -1 || level_parse(b, &l) == -1) {
			snprintf(err, errlen, "policy: want 'DOMAIN LEVEL' "
			    "with LEVEL dane, dane-only, may or exclude");
			return -1;
		}
		c->policies = xreallocarray(c->policies, c->npolicies + 1,
		    sizeof(*c->policies));
		c->policies[c->npolicies].domain = config_lower(xstrdup(a));
		c->policies[c->npolicies++].level = l;
		return 0;
	}
	if (strcmp(k, "static_route") == 0) {
		if (config_two(v, &a, &b) == -1)
			goto badroute;
		c->routes = xreallocarray(c->routes, c->nroutes + 1,
		    sizeof(*c->routes));
		c->routes[c->nroutes].port = 0;
		/* ADDRESS or [ADDRESS]:PORT or IPv4:PORT */
		if (*b == '[') {
			b++;
			if ((port = strchr(b, ']')) == NULL)
				goto badroute;
			*port++ = '\0';
			if (*port == ':' && config_int(port + 1, 1, 65535,
			    &c->routes[c->nroutes].port) == -1)
				goto badroute;
		} else if ((port = strchr(b, ':')) != NULL &&
		    strchr(port + 1, ':') == NULL) {
			*port++ = '\0';
			if (config_int(port, 1, 65535,
			    &c->routes[c->nroutes].port) == -1)
				goto badroute;
		}
		if (!config_is_address(b))
			goto badroute;
		c->routes[c->nroutes].domain = config_lower(xstrdup(a));
		c->routes[c->nroutes++].address = xstrdup(b);
		return 0;
 badroute:
		snprintf(err, errlen, "static_route: want 'DOMAIN ADDRESS' "
		    "(ADDRESS numeric, optional :PORT)");
		return -1;
	}
	snprintf(err, errlen, "unknown key '%s'", k);
	return -1;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*c;
	FILE		*fp;
	char		*line = NULL, *k, *v, *p, msg[256];
	size_t		 cap = 0;
	ssize_t		 n;
	int		 lineno = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->smtp_port = 25;
	c->connect_timeout = 10;
	c->command_timeout = 30;
	c->tls_timeout = 10;
	c->max_attempts = 5;
	c->max_parallel = 100;
	c->default_policy = LEVEL_DANE;
	c->half_dane = 1;
	c->daemon_interval = 1;
	c->dns_timeout = 30;
	config_retry(c, "60,300,900,3600");
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		for (p = line + strlen(line); p > line &&
		    isspace((unsigned char)p[-1]); p--)
			p[-1] = '\0';
		for (k = line; isspace((unsigned char)*k); k++)
			;
		if (*k == '\0')
			continue;
		if ((v = strchr(k, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: want 'key = value'",
			    path, lineno);
			goto fail;
		}
		*v++ = '\0';
		for (p = v - 1; p > k && isspace((unsigned char)p[-1]); p--)
			p[-1] = '\0';
		while (isspace((unsigned char)*v))
			v++;
		if (*v == '\0') {
			snprintf(err, errlen, "%s:%d: %s: empty value", path,
			    lineno, k);
			goto fail;
		}
		if (config_set(c, k, v, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto fail;
		}
	}
	fclose(fp);
	fp = NULL;
	free(line);
	line = NULL;
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
	if (fp)
		fclose(fp);
	free(line);
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
