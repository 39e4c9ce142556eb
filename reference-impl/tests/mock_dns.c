/*
 * mock_dns.c -- a struct dns that answers from a table of canned RRsets,
 * for unit tests of policy.c (the "mock_dns_lookup" idea of Postfix's
 * tests).  Answers are delivered from the event loop, never from inside
 * dns_resolve(), exactly like the real resolver.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "tests.h"

struct mock {
	struct event_base	*base;
	const struct mock_rr	*rrs;
	char			 log[8192];	/* "TYPE qname;" per query */
};

struct mock_pending {
	struct dns_answer	*a;
	dns_cb			 cb;
	void			*arg;
};

static size_t
mock_name_wire(const char *name, unsigned char *out)
{
	size_t		 o = 0;
	const char	*p = name, *dot;

	if (strcmp(name, ".") != 0) {
		while (*p) {
			dot = strchr(p, '.');
			if (dot == NULL)
				dot = p + strlen(p);
			out[o++] = (unsigned char)(dot - p);
			memcpy(out + o, p, (size_t)(dot - p));
			o += (size_t)(dot - p);
			p = *dot ? dot + 1 : dot;
		}
	}
	out[o++] = 0;
	return o;
}

static void
mock_add(struct dns_answer *a, int qtype, const char *s)
{
	unsigned char	 buf[1024];
	unsigned int	 u, sel, m, pref;
	char		 name[256], hex[800];
	size_t		 n = 0, i, tl, chunk;

	switch (qtype) {
	case DNS_T_MX:
		if (sscanf(s, "%u %255s", &pref, name) != 2)
			abort();
		buf[0] = (unsigned char)(pref >> 8);
		buf[1] = (unsigned char)pref;
		n = 2 + mock_name_wire(name, buf + 2);
		break;
	case DNS_T_A:
		if (inet_pton(AF_INET, s, buf) != 1)
			abort();
		n = 4;
		break;
	case DNS_T_AAAA:
		if (inet_pton(AF_INET6, s, buf) != 1)
			abort();
		n = 16;
		break;
	case DNS_T_TXT:
		/* The text, in character-strings of up to 255 octets (an
		 * empty text is one empty string). */
		tl = strlen(s);
		for (i = 0; n == 0 || i < tl; i += chunk) {
			chunk = tl - i > 255 ? 255 : tl - i;
			if (n + 1 + chunk > sizeof(buf))
				abort();
			buf[n++] = (unsigned char)chunk;
			memcpy(buf + n, s + i, chunk);
			n += chunk;
		}
		break;
	case DNS_T_TLSA:
		hex[0] = '\0';
		if (sscanf(s, "%u %u %u %799s", &u, &sel, &m, hex) < 3)
			abort();
		buf[0] = (unsigned char)u;
		buf[1] = (unsigned char)sel;
		buf[2] = (unsigned char)m;
		n = 3;
		for (i = 0; hex[i] && hex[i + 1]; i += 2) {
			sscanf(hex + i, "%2x", &u);
			buf[n++] = (unsigned char)u;
		}
		break;
	}
	dns_answer_add(a, buf, n);
}

static void
mock_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct mock_pending	*p = arg;

	(void)fd;
	(void)what;
	p->cb(p->arg, p->a);
	free(p);
}

static int
mock_resolve(struct dns *d, const char *qname, int qtype, dns_cb cb,
    void *arg)
{
	struct mock		*mk = d->impl;
	const struct mock_rr	*rr;
	struct mock_pending	*p;
	size_t			 i, l;

	l = strlen(mk->log);
	snprintf(mk->log + l, sizeof(mk->log) - l, "%s %s;",
	    dns_type_name(qtype), qname);
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->a = dns_answer_new(qname, qtype);
	p->a->status = DNS_ERROR;
	p->a->rcode = 2;
	for (rr = mk->rrs; rr->qname != NULL; rr++) {
		if (rr->qtype != qtype || strcasecmp(rr->qname, qname) != 0)
			continue;
		p->a->status = rr->status;
		p->a->rcode = 0;
		if (rr->status == DNS_BOGUS)
			p->a->why_bogus = xstrdup("mock: bogus");
		if (rr->status == DNS_BOGUS || rr->status == DNS_ERROR) {
			p->a->rcode = 2;
			break;
		}
		if (strcmp(rr->flags, "nx") == 0) {
			p->a->nxdomain = 1;
			p->a->rcode = 3;
			break;
		}
		if (strncmp(rr->flags, "cname=", 6) == 0)
			p->a->canonname = xstrdup(rr->flags + 6);
		for (i = 0; i < 6 && rr->data[i] != NULL; i++)
			mock_add(p->a, qtype, rr->data[i]);
		p->a->nodata = p->a->count == 0;
		break;
	}
	if (rr->qname == NULL && qtype == DNS_T_AAAA) {
		/* Unlisted AAAA of a listed name: NODATA, same status. */
		for (rr = mk->rrs; rr->qname != NULL; rr++)
			if (rr->qtype == DNS_T_A &&
			    strcasecmp(rr->qname, qname) == 0)
				break;
		if (rr->qname != NULL && (rr->status == DNS_SECURE ||
		    rr->status == DNS_INSECURE) && strcmp(rr->flags, "nx")) {
			p->a->status = rr->status;
			p->a->rcode = 0;
			p->a->nodata = 1;
			if (strncmp(rr->flags, "cname=", 6) == 0)
				p->a->canonname = xstrdup(rr->flags + 6);
		}
	}
	if (p->a->status == DNS_SECURE || p->a->status == DNS_INSECURE)
		p->a->ttl = 60;
	if (event_base_once(mk->base, -1, EV_TIMEOUT, mock_deliver, p, NULL)
	    == -1)
		abort();
	return 0;
}

static void
mock_free(struct dns *d)
{
	free(d->impl);
	free(d);
}

static const struct dns_ops mock_ops = { mock_resolve, mock_free, NULL };

struct dns *
mock_dns_new(struct event_base *base, const struct mock_rr *rrs)
{
	struct dns	*d;
	struct mock	*mk;

	mk = xcalloc(1, sizeof(*mk));
	mk->base = base;
	mk->rrs = rrs;
	d = xcalloc(1, sizeof(*d));
	d->ops = &mock_ops;
	d->impl = mk;
	return d;
}

/* How many times was (qname, type) asked? */
int
mock_dns_queries(struct dns *d, const char *qname, int qtype)
{
	struct mock	*mk = d->impl;
	char		 needle[300];
	const char	*p = mk->log;
	int		 n = 0;

	snprintf(needle, sizeof(needle), "%s %s;", dns_type_name(qtype),
	    qname);
	while ((p = strstr(p, needle)) != NULL) {
		if (p == mk->log || p[-1] == ';')
			n++;
		p += strlen(needle);
	}
	return n;
}
