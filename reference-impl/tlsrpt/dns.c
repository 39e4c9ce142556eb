/*
 * dns.c -- the thin DNS interface of the reporter: TXT (the _smtp._tls
 * record), MX and addresses (mailto: and https: delivery).
 *
 * Two lab/test knobs answer before any DNS is asked:
 *	static_txt = NAME TEXT		TXT records of NAME (may repeat)
 *	static_route = NAME ADDRESS[:PORT]
 *					NAME's mail goes to ADDRESS (on PORT,
 *					else smtp_port); an https host NAME
 *					is at ADDRESS
 * The libunbound backend (dns_unbound.c) is only made when a question is
 * not covered by them, so tests run without any resolver.  Unit tests
 * swap the backend with dns_set_ops().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

struct dns *
dns_new(const struct config *conf)
{
	struct dns	*d;

	d = xcalloc(1, sizeof(*d));
	d->conf = conf;
	return d;
}

void
dns_set_ops(struct dns *d, const struct dns_ops *ops, void *impl)
{
	if (d->ops != NULL && d->ops->free != NULL)
		d->ops->free(d->impl);
	d->ops = ops;
	d->impl = impl;
}

/* The backend, made on first use; 0, or -1 with l filled in. */
static int
dns_backend(struct dns *d, struct dns_list *l)
{
	char	err[256];

	if (d->ops != NULL)
		return 0;
	if ((d->impl = dns_unbound_new(d->conf, err, sizeof(err))) == NULL) {
		l->status = DNS_ERROR;
		l->why = xstrdup(err);
		return -1;
	}
	d->ops = &dns_unbound_ops;
	return 0;
}

static int
dns_same(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

void
dns_txt(struct dns *d, const char *name, struct dns_list *l)
{
	size_t	i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < d->conf->ntxts; i++)
		if (dns_same(d->conf->txts[i].name, name))
			dns_list_add(l, d->conf->txts[i].text);
	if (l->n > 0) {
		l->status = DNS_OK;
		l->why = xstrdup("static_txt");
		return;
	}
	if (dns_backend(d, l) == 0)
		d->ops->txt(d->impl, name, l);
}

void
dns_mx(struct dns *d, const char *domain, struct dns_list *l)
{
	memset(l, 0, sizeof(*l));
	if (config_route(d->conf, domain) != NULL) {
		l->status = DNS_OK;
		l->why = xstrdup("static_route");
		dns_list_add(l, domain);
		return;
	}
	if (dns_backend(d, l) == 0)
		d->ops->mx(d->impl, domain, l);
}

void
dns_addrs(struct dns *d, const char *name, struct dns_list *l)
{
	const struct route		*r;

	memset(l, 0, sizeof(*l));
	if ((r = config_route(d->conf, name)) != NULL) {
		l->status = DNS_OK;
		l->why = xstrdup("static_route");
		dns_list_add(l, r->address);
		return;
	}
	if (dns_backend(d, l) == 0)
		d->ops->addrs(d->impl, name, l);
}

void
dns_list_add(struct dns_list *l, const char *s)
{
	l->items = xreallocarray(l->items, l->n + 1, sizeof(*l->items));
	l->items[l->n++] = xstrdup(s);
}

void
dns_list_free(struct dns_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->why);
	memset(l, 0, sizeof(*l));
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	if (d->ops != NULL && d->ops->free != NULL)
		d->ops->free(d->impl);
	free(d);
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NOTFOUND:
		return "not-found";
	case DNS_BOGUS:
		return "bogus";
	case DNS_ERROR:
		return "error";
	}
	return "?";
}
