/*
 * config.c -- the reporter's configuration: its keys and their defaults
 * (docs/refsend-tlsrpt.md), unknown keys are an error.  The "key = value"
 * lexer and the key table that sets the plain values are shared with
 * refsend (../common/conf.c); here a '#' starts a comment only at the
 * start of a line or after a blank, so that values (TXT records, URLs)
 * may hold one.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

#define RETRY_MAX	(7 * 86400)	/* seconds, one retry_schedule step */

/* The keys whose value goes straight into a field (../common/conf.c). */
#define OFF(field)	offsetof(struct config, field)
static const struct conf_key config_keys[] = {
	{ "events",		CONF_STR, OFF(events), 0, 0, 0 },
	{ "state_dir",		CONF_STR, OFF(state_dir), 0, 0, 0 },
	{ "log",		CONF_STR, OFF(log), 0, 0, 0 },
	{ "resolver",		CONF_STR, OFF(resolver), 0, 0, 0 },
	{ "trust_anchor",	CONF_STR, OFF(trust_anchor), 0, 0, 0 },
	{ "organization_name",	CONF_STR, OFF(organization_name), 0, 0, 0 },
	{ "contact_info",	CONF_STR, OFF(contact_info), 0, 0, 0 },
	{ "reporting_domain",	CONF_STR, OFF(reporting_domain), 0, 0, 0 },
	{ "report_from",	CONF_STR, OFF(report_from), 0, 0, 0 },
	{ "dkim_selector",	CONF_STR, OFF(dkim_selector), 0, 0, 0 },
	{ "dkim_key",		CONF_STR, OFF(dkim_key), 0, 0, 0 },
	{ "helo_name",		CONF_STR, OFF(helo_name), 0, 0, 0 },
	{ "sending_mta_ip",	CONF_STR, OFF(sending_mta_ip), 0, 0, 0 },
	{ "https_ca",		CONF_STR, OFF(https_ca), 0, 0, 0 },
	{ "smtp_port",		CONF_INT, OFF(smtp_port), 0, 1, 65535 },
	{ "timeout",		CONF_INT, OFF(timeout), 0, 1, 3600 },
	{ "session_timeout",	CONF_INT, OFF(session_timeout), 0, 1, 86400 },
	{ "retry_give_up",	CONF_INT, OFF(give_up), 0, 0, 30 * 86400 },
	{ "retry_schedule",	CONF_INTLIST, OFF(retry), OFF(nretry), 0,
	    RETRY_MAX },
	{ "static_route",	CONF_ROUTE, OFF(routes), OFF(nroutes), 0, 0 },
	{ NULL,			CONF_STR, 0, 0, 0, 0 }
};
#undef OFF

/* One of the reporter's own keys.  Returns NULL or an error message. */
static const char *
config_line(struct config *c, const char *k, char *v)
{
	char	*sp;

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
		c->txts = xreallocarray(c->txts, c->ntxts + 1,
		    sizeof(*c->txts));
		c->txts[c->ntxts].name = xstrndup(v, (size_t)(sp - v));
		c->txts[c->ntxts++].text = xstrdup(sp + strspn(sp, " \t"));
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

/* conf_set_fn: the key table, else config_line(), its message prefixed
 * with the key. */
static int
config_set(void *arg, const char *k, char *v, char *err, size_t errlen)
{
	const char	*e;
	int		 r;

	if ((r = conf_key_set(config_keys, arg, k, v, err, errlen)) != 0)
		return r == 1 ? 0 : -1;
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

const struct route *
config_route(const struct config *c, const char *name)
{
	return conf_route_find(c->routes, c->nroutes, name);
}

void
config_free(struct config *c)
{
	size_t	i;

	if (c == NULL)
		return;
	conf_key_clear(config_keys, c);
	free(c->path);
	for (i = 0; i < c->ntxts; i++) {
		free(c->txts[i].name);
		free(c->txts[i].text);
	}
	free(c->txts);
	free(c);
}
