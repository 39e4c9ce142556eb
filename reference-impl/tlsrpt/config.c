/*
 * config.c -- the reporter's configuration: its keys and their defaults
 * (docs/refsend-tlsrpt.md), unknown keys are an error.  The "key = value"
 * lexer is shared with refsend (../common/conf.c); here a '#' starts a comment only at the
 * start of a line or after a blank, so that values (TXT records, URLs) may
 * hold one.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

#define RETRY_MAX	(7 * 86400)	/* seconds, one retry_schedule step */

static void
config_str(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

/* One "key = value" line.  Returns NULL or an error message. */
static const char *
config_line(struct config *c, const char *k, char *v)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} strs[] = {
		{ "events", offsetof(struct config, events) },
		{ "state_dir", offsetof(struct config, state_dir) },
		{ "log", offsetof(struct config, log) },
		{ "resolver", offsetof(struct config, resolver) },
		{ "trust_anchor", offsetof(struct config, trust_anchor) },
		{ "organization_name",
		    offsetof(struct config, organization_name) },
		{ "contact_info", offsetof(struct config, contact_info) },
		{ "reporting_domain",
		    offsetof(struct config, reporting_domain) },
		{ "report_from", offsetof(struct config, report_from) },
		{ "dkim_selector", offsetof(struct config, dkim_selector) },
		{ "dkim_key", offsetof(struct config, dkim_key) },
		{ "helo_name", offsetof(struct config, helo_name) },
		{ "sending_mta_ip", offsetof(struct config, sending_mta_ip) },
		{ "https_ca", offsetof(struct config, https_ca) },
		{ NULL, 0 }
	};
	struct static_route	*r;
	char			*sp, *name, *addr;
	size_t			 i;
	int			 port;

	for (i = 0; strs[i].key != NULL; i++)
		if (strcmp(k, strs[i].key) == 0) {
			config_str((char **)(void *)((char *)c + strs[i].off),
			    v);
			return NULL;
		}
	if (strcmp(k, "smtp_port") == 0)
		return conf_int(v, 1, 65535, &c->smtp_port) ? "bad port" :
		    NULL;
	if (strcmp(k, "timeout") == 0)
		return conf_int(v, 1, 3600, &c->timeout) ? "bad timeout" :
		    NULL;
	if (strcmp(k, "session_timeout") == 0)
		return conf_int(v, 1, 86400, &c->session_timeout) ?
		    "bad session_timeout" : NULL;
	if (strcmp(k, "retry_give_up") == 0)
		return conf_int(v, 0, 30 * 86400, &c->give_up) ?
		    "bad retry_give_up" : NULL;
	if (strcmp(k, "retry_schedule") == 0)
		return conf_intlist(v, 0, RETRY_MAX, &c->retry, &c->nretry) ?
		    "bad retry_schedule (comma list of seconds)" : NULL;
	if (strcmp(k, "period") == 0) {
		if (strcmp(v, "flush") == 0)
			c->period = PERIOD_FLUSH;
		else if (strcmp(v, "daily") == 0)
			c->period = PERIOD_DAILY;
		else
			return "period must be flush or daily";
		return NULL;
	}
	if (strcmp(k, "static_txt") == 0) {
		if ((sp = strpbrk(v, " \t")) == NULL)
			return "static_txt = NAME TEXT";
		name = xstrndup(v, (size_t)(sp - v));
		c->txts = xreallocarray(c->txts, c->ntxts + 1,
		    sizeof(*c->txts));
		c->txts[c->ntxts].name = name;
		c->txts[c->ntxts++].text = xstrdup(sp + strspn(sp, " \t"));
		return NULL;
	}
	if (strcmp(k, "static_route") == 0) {
		/* The syntax is ../common/conf.c's, shared with refsend. */
		if (conf_route(v, &name, &addr, &port) == -1)
			return "want 'NAME ADDRESS[:PORT]' (ADDRESS numeric; "
			    "IPv6 with a port: [ADDRESS]:PORT)";
		c->routes = xreallocarray(c->routes, c->nroutes + 1,
		    sizeof(*c->routes));
		r = &c->routes[c->nroutes++];
		r->name = xstrdup(name);
		r->address = xstrdup(addr);
		r->port = port;
		return NULL;
	}
	return "unknown key";
}

/*
 * contact-info is an RFC 5322 addr-spec (RFC 8460 section 4.4), here a
 * dot-atom local part, and its domain is the one TLS-Report-Submitter
 * names, reporting_domain (section 5.3: MUST match).  NULL if v is one,
 * else why not.
 */
static const char *
config_contact(const char *v, const char *domain)
{
	static const char	 atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char		*at = strrchr(v, '@'), *p;

	if (strncasecmp(v, "mailto:", 7) == 0)
		return "an address (local@domain), not a mailto: URI";
	if (at == NULL || at == v || *v == '.' || at[-1] == '.')
		return "not an address (local@domain)";
	for (p = v; p < at; p++)
		if (!isalnum((unsigned char)*p) && strchr(atext, *p) == NULL &&
		    (*p != '.' || p[1] == '.'))
			return "not an address (local@domain)";
	if (strcasecmp(at + 1, domain) != 0)
		return "its domain is not reporting_domain, which "
		    "TLS-Report-Submitter names (RFC 8460 section 5.3: they "
		    "must match)";
	return NULL;
}

/* conf_set_fn: config_line(), its message prefixed with the key. */
static int
config_set(void *arg, const char *k, char *v, char *err, size_t errlen)
{
	const char	*e;

	if ((e = config_line(arg, k, v)) == NULL)
		return 0;
	snprintf(err, errlen, "%s: %s", k, e);
	return -1;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*c;
	const char	*why;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->smtp_port = 25;
	c->timeout = 30;
	c->session_timeout = 300;
	c->give_up = 86400;
	conf_intlist("60,300,900,3600,7200,14400", 0, RETRY_MAX, &c->retry,
	    &c->nretry);
	if (conf_read(path, CONF_HASH_WORD, config_set, c, err, errlen) == -1)
		goto fail;
	if (c->events == NULL || c->state_dir == NULL ||
	    c->reporting_domain == NULL) {
		snprintf(err, errlen, "%s: events, state_dir and "
		    "reporting_domain are required", path);
		goto fail;
	}
	if ((c->dkim_key == NULL) != (c->dkim_selector == NULL)) {
		snprintf(err, errlen, "%s: dkim_key and dkim_selector go "
		    "together", path);
		goto fail;
	}
	if (c->log == NULL)
		xasprintf(&c->log, "%s/tlsrpt.jsonl", c->state_dir);
	if (c->organization_name == NULL)
		c->organization_name = xstrdup(c->reporting_domain);
	if (c->contact_info == NULL)
		xasprintf(&c->contact_info, "tlsrpt@%s", c->reporting_domain);
	if ((why = config_contact(c->contact_info, c->reporting_domain)) !=
	    NULL) {
		snprintf(err, errlen, "%s: contact_info %s: %s", path,
		    c->contact_info, why);
		goto fail;
	}
	if (c->report_from == NULL)
		xasprintf(&c->report_from, "tlsrpt@%s", c->reporting_domain);
	if (c->helo_name == NULL)
		c->helo_name = xstrdup(c->reporting_domain);
	return c;
 fail:
	config_free(c);
	return NULL;
}

const struct static_route *
config_route(const struct config *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nroutes; i++)
		if (strcasecmp(c->routes[i].name, name) == 0)
			return &c->routes[i];
	return NULL;
}

void
config_free(struct config *c)
{
	size_t	i;

	if (c == NULL)
		return;
	free(c->path);
	free(c->events);
	free(c->state_dir);
	free(c->log);
	free(c->resolver);
	free(c->trust_anchor);
	free(c->organization_name);
	free(c->contact_info);
	free(c->reporting_domain);
	free(c->report_from);
	free(c->dkim_selector);
	free(c->dkim_key);
	free(c->helo_name);
	free(c->sending_mta_ip);
	free(c->https_ca);
	free(c->retry);
	for (i = 0; i < c->ntxts; i++) {
		free(c->txts[i].name);
		free(c->txts[i].text);
	}
	free(c->txts);
	for (i = 0; i < c->nroutes; i++) {
		free(c->routes[i].name);
		free(c->routes[i].address);
	}
	free(c->routes);
	free(c);
}
