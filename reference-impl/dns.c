/*
 * dns.c -- the thin DNS interface.  Every answer carries its DNSSEC status,
 * which maps onto RFC 7672 section 2.1: secure, insecure, and bogus or
 * indeterminate (error).  The real resolver is dns_unbound.c; unit tests
 * plug in a table of canned answers through struct dns_ops.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int
dns_resolve(struct dns *d, const char *qname, int qtype, dns_cb cb, void *arg)
{
	return d->ops->resolve(d, qname, qtype, cb, arg);
}

void
dns_free(struct dns *d)
{
	if (d != NULL)
		d->ops->free(d);
}

void
dns_interrupt(struct dns *d)
{
	if (d != NULL && d->ops->interrupt != NULL)
		d->ops->interrupt(d);
}

struct dns_answer *
dns_answer_new(const char *qname, int qtype)
{
	struct dns_answer	*a;

	a = xcalloc(1, sizeof(*a));
	a->qname = xstrdup(qname);
	a->qtype = qtype;
	return a;
}

void
dns_answer_add(struct dns_answer *a, const void *data, size_t len)
{
	a->data = xreallocarray(a->data, a->count + 1, sizeof(*a->data));
	a->len = xreallocarray(a->len, a->count + 1, sizeof(*a->len));
	a->data[a->count] = xmalloc(len);
	memcpy(a->data[a->count], data, len);
	a->len[a->count++] = len;
}

void
dns_answer_free(struct dns_answer *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->count; i++)
		free(a->data[i]);
	free(a->data);
	free(a->len);
	free(a->qname);
	free(a->canonname);
	free(a->why_bogus);
	free(a);
}

const char *
dns_sec_name(enum dns_sec s)
{
	switch (s) {
	case DNS_SECURE:
		return "secure";
	case DNS_INSECURE:
		return "insecure";
	case DNS_BOGUS:
		return "bogus";
	case DNS_ERROR:
		break;
	}
	return "error";
}

const char *
dns_status_text(const struct dns_answer *a)
{
	/* An empty answer says which kind it is; bogus and error do not. */
	static const char *const empty[][2] = {
		/* [status][nxdomain] */
		[DNS_SECURE] = { "nodata-secure", "nxdomain-secure" },
		[DNS_INSECURE] = { "nodata-insecure", "nxdomain-insecure" }
	};

	if ((a->status == DNS_SECURE || a->status == DNS_INSECURE) &&
	    (a->nxdomain || a->nodata))
		return empty[a->status][a->nxdomain != 0];
	return dns_sec_name(a->status);
}

const char *
dns_type_name(int t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_TLSA:
		return "TLSA";
	}
	return "?";
}

int
dns_valid_hostname(const char *s)
{
	size_t	label = 0, total = 0;
	int	alpha = 0;
	char	prev = '.';

	for (; *s; s++, total++) {
		if (*s == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' ||
		    *s == '_') {
			if (label == 0 && *s == '-')
				return 0;
			if (isalpha((unsigned char)*s))
				alpha = 1;
			if (++label > 63)
				return 0;
		} else
			return 0;
		prev = *s;
	}
	/* A name made of digits and dots only is an address literal. */
	return total > 0 && total < 254 && prev != '-' && alpha;
}

int
dns_address(const struct dns_answer *a, size_t i, char *buf, size_t len)
{
	int	af;

	if (a->qtype == DNS_T_A && a->len[i] == 4)
		af = AF_INET;
	else if (a->qtype == DNS_T_AAAA && a->len[i] == 16)
		af = AF_INET6;
	else
		return -1;
	return inet_ntop(af, a->data[i], buf, (socklen_t)len) == NULL ? -1 :
	    0;
}

void
dns_event(const char *tag, const struct dns_answer *a)
{
	json_t	*o;

	o = json_pack("{s:s?,s:s,s:s,s:s}", "queue_id", tag,
	    "qname", a->qname, "qtype", dns_type_name(a->qtype),
	    "status", dns_status_text(a));
	json_object_set_new(o, "why_bogus", a->why_bogus ?
	    json_string(a->why_bogus) : json_null());
	if (a->canonname)
		json_object_set_new(o, "canonname", json_string(a->canonname));
	json_object_set_new(o, "count", json_integer((json_int_t)a->count));
	log_event("dns", o);
}
