/*
 * conf.c -- the "key = value" configuration file of refsend and of
 * refsend-tlsrpt: the lexer (lines, comments, blanks, key and value), the
 * value parsers both use, and the key tables (struct conf_key) through
 * which each program's config.c puts the plain values (strings, numbers,
 * yes/no, number lists, static routes) into its struct config.  Which
 * keys exist, what they mean and the values with a syntax of their own
 * are each program's config.c.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

/* s without blanks at either end (cut in place). */
static char *
conf_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut line at the comment, if any. */
static void
conf_uncomment(char *line, int flags)
{
	char	*p;

	for (p = line; (p = strchr(p, '#')) != NULL; p++)
		if (!(flags & CONF_HASH_WORD) || p == line ||
		    isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
}

int
conf_read(const char *path, int flags, conf_set_fn set, void *arg,
    char *err, size_t errlen)
{
	FILE	*fp;
	char	*line = NULL, *k, *v, *eq, msg[256];
	size_t	 cap = 0;
	int	 lineno = 0, r = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (r == 0 && getline(&line, &cap, fp) != -1) {
		lineno++;
		conf_uncomment(line, flags);
		k = conf_trim(line);
		if (*k == '\0')
			continue;
		r = -1;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: want 'key = value'",
			    path, lineno);
			break;
		}
		*eq = '\0';
		k = conf_trim(k);
		v = conf_trim(eq + 1);
		if (*v == '\0') {
			snprintf(err, errlen, "%s:%d: %s: empty value", path,
			    lineno, k);
			break;
		}
		msg[0] = '\0';
		if (set(arg, k, v, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			break;
		}
		r = 0;
	}
	free(line);
	fclose(fp);
	return r;
}

int
conf_int(const char *v, int min, int max, int *out)
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

int
conf_intlist(const char *v, int min, int max, int **list, size_t *n)
{
	char	*copy, *p, *tok;
	int	*l = NULL, x;
	size_t	 count = 0;

	copy = xstrdup(v);
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if (conf_int(conf_trim(tok), min, max, &x) == -1) {
			free(copy);
			free(l);
			return -1;
		}
		l = xreallocarray(l, count + 1, sizeof(*l));
		l[count++] = x;
	}
	free(copy);
	free(*list);
	*list = l;
	*n = count;
	return 0;
}

int
conf_is_address(const char *s)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

int
conf_route(char *v, char **name, char **address, int *port)
{
	char	*n, *a, *p;
	size_t	 len;

	*port = 0;
	n = strsep(&v, " \t");
	if (v == NULL)
		return -1;
	a = v + strspn(v, " \t");
	if (*n == '\0' || *a == '\0' || strpbrk(a, " \t") != NULL)
		return -1;
	if (*a == '[') {
		/* [ADDRESS] or [ADDRESS]:PORT */
		a++;
		if ((p = strchr(a, ']')) == NULL)
			return -1;
		*p++ = '\0';
		if (*p == ':') {
			if (conf_int(p + 1, 1, 65535, port) == -1)
				return -1;
		} else if (*p != '\0')
			return -1;
	} else if ((p = strchr(a, ':')) != NULL && strchr(p + 1, ':') ==
	    NULL) {
		/* IPv4:PORT (a bare IPv6 address has several colons) */
		*p++ = '\0';
		if (conf_int(p, 1, 65535, port) == -1)
			return -1;
	}
	if (!conf_is_address(a))
		return -1;
	for (p = n; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	len = strlen(n);
	if (n[len - 1] == '.')
		n[--len] = '\0';
	if (len == 0)
		return -1;
	*name = n;
	*address = a;
	return 0;
}

/* The field of base at off, for the key tables. */
#define CONF_FIELD(base, off, type)	((type *)(void *)((char *)(base) + (off)))

int
conf_key_set(const struct conf_key *keys, void *base, const char *k,
    char *v, char *err, size_t errlen)
{
	const struct conf_key	*key;
	struct route		**routes;
	size_t			 *n;
	char			 *name, *address;
	int			  port;

	for (key = keys; key->name != NULL; key++)
		if (strcmp(k, key->name) == 0)
			break;
	if (key->name == NULL)
		return 0;
	switch (key->type) {
	case CONF_STR:
		free(*CONF_FIELD(base, key->off, char *));
		*CONF_FIELD(base, key->off, char *) = xstrdup(v);
		return 1;
	case CONF_INT:
		if (conf_int(v, key->min, key->max, CONF_FIELD(base, key->off,
		    int)) == 0)
			return 1;
		snprintf(err, errlen, "%s: bad number '%s' (%d to %d)", k, v,
		    key->min, key->max);
		return -1;
	case CONF_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0) {
			*CONF_FIELD(base, key->off, int) = v[0] == 'y';
			return 1;
		}
		snprintf(err, errlen, "%s: yes or no", k);
		return -1;
	case CONF_INTLIST:
		if (conf_intlist(v, key->min, key->max, CONF_FIELD(base,
		    key->off, int *), CONF_FIELD(base, key->off2, size_t)) == 0)
			return 1;
		snprintf(err, errlen, "%s: bad list '%s' (comma list of "
		    "numbers, %d to %d)", k, v, key->min, key->max);
		return -1;
	case CONF_ROUTE:
		if (conf_route(v, &name, &address, &port) == -1) {
			snprintf(err, errlen, "%s: want 'NAME ADDRESS[:PORT]' "
			    "(ADDRESS numeric; IPv6 with a port: "
			    "[ADDRESS]:PORT)", k);
			return -1;
		}
		routes = CONF_FIELD(base, key->off, struct route *);
		n = CONF_FIELD(base, key->off2, size_t);
		*routes = xreallocarray(*routes, *n + 1, sizeof(**routes));
		(*routes)[*n].name = xstrdup(name);
		(*routes)[*n].address = xstrdup(address);
		(*routes)[(*n)++].port = port;
		return 1;
	}
	return 0;
}

void
conf_key_clear(const struct conf_key *keys, void *base)
{
	const struct conf_key	*key;
	struct route		*routes;
	size_t			*n, i;

	for (key = keys; key->name != NULL; key++)
		switch (key->type) {
		case CONF_STR:
			free(*CONF_FIELD(base, key->off, char *));
			*CONF_FIELD(base, key->off, char *) = NULL;
			break;
		case CONF_INTLIST:
			free(*CONF_FIELD(base, key->off, int *));
			*CONF_FIELD(base, key->off, int *) = NULL;
			*CONF_FIELD(base, key->off2, size_t) = 0;
			break;
		case CONF_ROUTE:
			routes = *CONF_FIELD(base, key->off, struct route *);
			n = CONF_FIELD(base, key->off2, size_t);
			for (i = 0; i < *n; i++) {
				free(routes[i].name);
				free(routes[i].address);
			}
			free(routes);
			*CONF_FIELD(base, key->off, struct route *) = NULL;
			*n = 0;
			break;
		case CONF_INT:
		case CONF_BOOL:
			break;
		}
}

const struct route *
conf_route_find(const struct route *routes, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcasecmp(routes[i].name, name) == 0)
			return &routes[i];
	return NULL;
}
