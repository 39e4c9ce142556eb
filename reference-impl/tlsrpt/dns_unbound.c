/*
 * dns_unbound.c -- the reporter's DNS through libunbound, one question at
 * a time, with refsend's own set-up (../common/ubctx.c): forward to
 * `resolver` (else /etc/resolv.conf), validate with `trust_anchor` when
 * given, and resolve the lab's names under "test." (RFC 6761 would have
 * libunbound answer NXDOMAIN for them).  DNSSEC is not required for
 * anything the reporter asks, but a bogus answer is never used.
 *
 * Each question goes to libunbound's resolver thread (ub_resolve_async)
 * and is waited for (ub_wait): that thread's worker lives as long as the
 * context, where ub_resolve() would set a worker up and tear it down for
 * every question (half a millisecond of CPU each; a report asks five or
 * six, mostly the same names).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "tlsrpt.h"

#define T_A	1
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

/* One question's answer, filled in by dns_unbound_answer(). */
struct dns_unbound_wait {
	int			 done;
	int			 err;
	struct ub_result	*r;
};

void *
dns_unbound_new(const struct config *conf, char *err, size_t errlen)
{
	return ubctx_new(conf->resolver, conf->trust_anchor, UBCTX_ASYNC,
	    err, errlen);
}

static void
dns_unbound_answer(void *arg, int err, struct ub_result *r)
{
	struct dns_unbound_wait	*w = arg;

	w->done = 1;
	w->err = err;
	w->r = r;
}

/* Ask; on DNS_OK, *res is the result (caller ub_resolve_free()s it). */
static enum dns_status
dns_unbound_ask(struct ub_ctx *ctx, const char *name, int type,
    struct dns_list *l, struct ub_result **res)
{
	struct dns_unbound_wait	 w = { 0, 0, NULL };
	struct ub_result	*r;
	int			 e;

	*res = NULL;
	e = ub_resolve_async(ctx, name, type, 1, &w, dns_unbound_answer,
	    NULL);
	if (e == 0 && !w.done)
		e = ub_wait(ctx);	/* returns once nothing is outstanding */
	if (e == 0)
		e = w.done ? w.err : UB_PIPE;
	if (e != 0) {
		if (w.r != NULL)
			ub_resolve_free(w.r);
		xasprintf(&l->why, "libunbound: %s", ub_strerror(e));
		return l->status = DNS_ERROR;
	}
	r = w.r;
	if (r->bogus) {
		xasprintf(&l->why, "bogus: %s", r->why_bogus ?
		    r->why_bogus : "validation failed");
		ub_resolve_free(r);
		return l->status = DNS_BOGUS;
	}
	if (r->rcode != 0 && r->rcode != 3) {
		xasprintf(&l->why, "rcode %d", r->rcode);
		ub_resolve_free(r);
		return l->status = DNS_ERROR;
	}
	l->secure = r->secure;
	if (r->nxdomain || !r->havedata) {
		l->why = xstrdup(r->nxdomain ? "nxdomain" : "nodata");
		ub_resolve_free(r);
		return l->status = DNS_NOTFOUND;
	}
	*res = r;
	return l->status = DNS_OK;
}

static void
dns_unbound_txt(void *impl, const char *name, struct dns_list *l)
{
	struct ub_result	*r;
	char			*text;
	int			 i;

	if (dns_unbound_ask(impl, name, T_TXT, l, &r) != DNS_OK)
		return;
	for (i = 0; r->data[i] != NULL; i++) {
		text = record_join((const unsigned char *)r->data[i],
		    (size_t)r->len[i]);
		if (text == NULL) {
			log_warnx("%s: a TXT record that is not wire format, "
			    "skipped", name);
			continue;
		}
		dns_list_add(l, text);
		free(text);
	}
	ub_resolve_free(r);
}

static void
dns_unbound_mx(void *impl, const char *domain, struct dns_list *l)
{
	struct ub_result	*r;
	char			 name[256], **names;
	int			*prefs, i, j, k, n, pref;

	if (dns_unbound_ask(impl, domain, T_MX, l, &r) != DNS_OK) {
		if (l->status == DNS_NOTFOUND && l->why &&
		    strcmp(l->why, "nodata") == 0) {
			/* RFC 5321 section 5.1: the implicit MX. */
			l->status = DNS_OK;
			dns_list_add(l, domain);
		}
		return;
	}
	for (n = 0; r->data[n] != NULL; n++)
		;
	names = xcalloc((size_t)n + 1, sizeof(*names));
	prefs = xcalloc((size_t)n + 1, sizeof(*prefs));
	for (i = j = 0; i < n; i++) {
		if (rdata_mx((const unsigned char *)r->data[i],
		    (size_t)r->len[i], &pref, name, sizeof(name)) == -1 ||
		    strcmp(name, ".") == 0)
			continue;
		/* Insertion in preference order. */
		k = j;
		while (k > 0 && prefs[k - 1] > pref) {
			prefs[k] = prefs[k - 1];
			names[k] = names[k - 1];
			k--;
		}
		prefs[k] = pref;
		names[k] = xstrdup(name);
		j++;
	}
	for (i = 0; i < j; i++) {
		dns_list_add(l, names[i]);
		free(names[i]);
	}
	if (j == 0) {
		l->status = DNS_NOTFOUND;
		free(l->why);
		l->why = xstrdup("null MX or no usable MX name");
	}
	free(names);
	free(prefs);
	ub_resolve_free(r);
}

static void
dns_unbound_addrs(void *impl, const char *name, struct dns_list *l)
{
	static const int	 types[] = { T_A, T_AAAA };
	struct dns_list		 one;
	struct ub_result	*r;
	char			 text[INET6_ADDRSTRLEN];
	size_t			 t;
	int			 i, af;
	enum dns_status		 worst = DNS_NOTFOUND;

	for (t = 0; t < 2; t++) {
		memset(&one, 0, sizeof(one));
		if (dns_unbound_ask(impl, name, types[t], &one, &r) ==
		    DNS_OK) {
			af = types[t] == T_A ? AF_INET : AF_INET6;
			for (i = 0; r->data[i] != NULL; i++)
				if (r->len[i] == (af == AF_INET ? 4 : 16) &&
				    inet_ntop(af, r->data[i], text,
				    sizeof(text)) != NULL)
					dns_list_add(l, text);
			ub_resolve_free(r);
		} else if (one.status != DNS_NOTFOUND && worst ==
		    DNS_NOTFOUND) {
			worst = one.status;
			free(l->why);
			l->why = one.why;
			one.why = NULL;
		}
		dns_list_free(&one);
	}
	l->status = l->n > 0 ? DNS_OK : worst;
}

static void
dns_unbound_free(void *impl)
{
	ub_ctx_delete(impl);
}

const struct dns_ops dns_unbound_ops = {
	dns_unbound_txt,
	dns_unbound_mx,
	dns_unbound_addrs,
	dns_unbound_free
};
