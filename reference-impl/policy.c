/*
 * policy.c -- a destination's DANE policy, RFC 7672 section 2.
 *
 *  1. MX lookup of the domain (section 2.2.1).  Bogus or indeterminate:
 *     defer without connecting.  NXDOMAIN: bounce.  Null MX (RFC 7505):
 *     bounce.  No MX RRset: the domain itself is the one host, preference
 *     0 ("implicit MX", section 2.2.2).  Secure or insecure is remembered:
 *     DANE applies only below a secure MX RRset (but see half-dane).
 *  2. A and AAAA of every host, in parallel.  A bogus or failed address
 *     family is never used; a host with no usable address is skipped
 *     (section 2.2.2) and the other hosts are still tried.  The host's
 *     DNSSEC status is secure only when every answer it is reached by is
 *     secure.
 *  3. TLSA only where the addresses are secure (section 2.2.2), at
 *     _PORT._tcp of the CNAME-expanded host name first and, when that
 *     name securely has no TLSA RRset, at the original name (section
 *     2.2.3).  The name that found the RRset is the TLSA base domain and
 *     the SNI name.  Bogus or failed TLSA lookup: host unusable, never a
 *     downgrade (section 2.2).  Secure TLSA RRset with no usable record:
 *     TLS is mandatory, without authentication (section 2.2: a secure
 *     RRset whose records are all unusable still promises TLS; Postfix
 *     calls this level "encrypt").
 *
 * Half-dane (a local choice that RFC 7672 leaves open, as Postfix does):
 * with half_dane set, a host found through an insecure MX RRset whose own
 * addresses and TLSA RRset are secure is still held to its TLSA records.
 * It is never applied at level dane-only, which requires a secure MX RRset.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "refsend.h"

struct policy_query {
	struct policy		*p;
	struct policy_host	*h;
	int			 qtype;
	int			 stage;		/* TLSA: 1 expanded, 2 orig. */
};

static void	policy_mx_done(void *, struct dns_answer *);
static void	policy_addr_done(void *, struct dns_answer *);
static void	policy_tlsa_done(void *, struct dns_answer *);
static void	policy_finish(struct policy *);

static const char *level_names[] = {
	"dane", "dane-only", "may", "exclude", "static"
};

const char *
level_name(enum level l)
{
	return level_names[l];
}

int
level_parse(const char *s, enum level *l)
{
	int	i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*l = (enum level)i;
			return 0;
		}
	return -1;
}

const char *
host_mode_name(enum host_mode m)
{
	switch (m) {
	case HOST_DANE:
		return "dane";
	case HOST_ENCRYPT:
		return "encrypt";
	case HOST_MAY:
		return "may";
	case HOST_STS:
		return "sts";
	case HOST_SKIP:
		break;
	}
	return "skip";
}

static void
policy_skip(struct policy_host *h, const char *reason, const char *dsn,
    const char *fmt, const char *arg)
{
	h->mode = HOST_SKIP;
	h->reason = reason;
	h->dsn = dsn;
	free(h->detail);
	xasprintf(&h->detail, fmt, arg);
}

static void
policy_defer(struct policy *p, enum policy_outcome o, const char *reason,
    const char *dsn, const char *fmt, const char *arg)
{
	p->outcome = o;
	p->reason = reason;
	p->dsn = dsn;
	free(p->detail);
	xasprintf(&p->detail, fmt, arg);
}

void
policy_resolve(struct dns *dns, const char *domain, enum level level,
    int half_dane, int port, const char *tag,
    void (*cb)(void *, struct policy *), void *arg)
{
	struct policy	*p;
	size_t		 n;
	char		*c;

	p = xcalloc(1, sizeof(*p));
	p->domain = xstrdup(domain);
	for (c = p->domain; *c; c++)
		*c = tolower((unsigned char)*c);
	if ((n = strlen(p->domain)) > 1 && p->domain[n - 1] == '.')
		p->domain[n - 1] = '\0';
	p->level = level;
	p->half_dane = half_dane;
	p->port = port;
	p->tag = tag ? xstrdup(tag) : NULL;
	p->dns = dns;
	p->cb = cb;
	p->arg = arg;
	p->pending = 1;
	dns_resolve(dns, p->domain, DNS_T_MX, policy_mx_done, p);
}

static int
policy_host_cmp(const void *a, const void *b)
{
	const struct policy_host *x = a, *y = b;

	return x->pref - y->pref;
}

/* RFC 5321 section 5.1: hosts of equal preference in random order. */
static void
policy_order(struct policy *p)
{
	struct policy_host	 tmp;
	size_t			 i, j, start;
	uint32_t		 r;

	qsort(p->hosts, p->nhosts, sizeof(*p->hosts), policy_host_cmp);
	for (start = 0; start < p->nhosts; start = j) {
		for (j = start + 1; j < p->nhosts &&
		    p->hosts[j].pref == p->hosts[start].pref; j++)
			;
		for (i = j - 1; i > start; i--) {
			if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
				r = (uint32_t)random();
			r = start + r % (uint32_t)(i - start + 1);
			tmp = p->hosts[i];
			p->hosts[i] = p->hosts[r];
			p->hosts[r] = tmp;
		}
	}
}

static void
policy_add_host(struct policy *p, const char *name, int pref)
{
	struct policy_host	*h;

	p->hosts = xreallocarray(p->hosts, p->nhosts + 1, sizeof(*p->hosts));
	h = &p->hosts[p->nhosts++];
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->pref = pref;
	h->mode = HOST_MAY;
	h->addr_status = DNS_ERROR;
	h->tlsa_status = DNS_INSECURE;
}

static void
policy_query(struct policy *p, struct policy_host *h, const char *qname,
    int qtype, int stage)
{
	struct policy_query	*q;
	dns_cb			 cb;

	q = xcalloc(1, sizeof(*q));
	q->p = p;
	q->h = h;
	q->qtype = qtype;
	q->stage = stage;
	p->pending++;
	h->pending++;
	cb = qtype == DNS_T_TLSA ? policy_tlsa_done : policy_addr_done;
	dns_resolve(p->dns, qname, qtype, cb, q);
}

static void
policy_mx_done(void *arg, struct dns_answer *a)
{
	struct policy	*p = arg;
	char		 name[256];
	size_t		 i;
	int		 pref;

	dns_event(p->tag, a);
	p->mx_status = a->status;
	switch (a->status) {
	case DNS_BOGUS:
		policy_defer(p, POLICY_DEFER, RT(DNSSEC_INVALID), "4.4.3",
		    "MX RRset of %s is bogus (RFC 7672 section 2.2.1)",
		    p->domain);
		goto done;
	case DNS_ERROR:
		policy_defer(p, POLICY_DEFER, "dns-error", "4.4.3",
		    "MX lookup of %s failed (SERVFAIL or timeout)",
		    p->domain);
		goto done;
	case DNS_SECURE:
	case DNS_INSECURE:
		break;
	}
	if (a->nxdomain) {
		policy_defer(p, POLICY_BOUNCE, "nxdomain", "5.1.2",
		    "domain %s does not exist", p->domain);
		goto done;
	}
	if (p->level == LEVEL_DANE_ONLY && a->status != DNS_SECURE) {
		policy_defer(p, POLICY_DEFER, RT(DANE_REQUIRED), "4.7.5",
		    "policy dane-only: MX lookup of %s is not DNSSEC-secure",
		    p->domain);
		goto done;
	}
	if (a->count == 0) {
		/* RFC 5321 section 5.1: the domain is its own MX. */
		p->implicit_mx = 1;
		policy_add_host(p, p->domain, 0);
	}
	for (i = 0; i < a->count; i++) {
		if (rdata_mx(a->data[i], a->len[i], &pref, name,
		    sizeof(name)) == -1)
			continue;
		if (strcmp(name, ".") == 0) {
			/* RFC 7505: a lone "0 ." is a null MX. */
			if (a->count == 1) {
				policy_defer(p, POLICY_BOUNCE, "null-mx",
				    "5.1.10", "%s publishes a null MX "
				    "(RFC 7505): it accepts no mail",
				    p->domain);
				goto done;
			}
			continue;
		}
		policy_add_host(p, name, pref);
	}
	if (p->nhosts == 0) {
		policy_defer(p, POLICY_DEFER, "no-mx-host", "4.4.4",
		    "no usable MX host name for %s", p->domain);
		goto done;
	}
	policy_order(p);
	for (i = 0; i < p->nhosts; i++) {
		if (!dns_valid_hostname(p->hosts[i].name)) {
			policy_skip(&p->hosts[i], "bad-mx-name", "4.4.4",
			    "MX target %s is not a host name",
			    p->hosts[i].name);
			continue;
		}
		policy_query(p, &p->hosts[i], p->hosts[i].name, DNS_T_A, 0);
		policy_query(p, &p->hosts[i], p->hosts[i].name, DNS_T_AAAA, 0);
	}
 done:
	dns_answer_free(a);
	if (--p->pending == 0)
		policy_finish(p);
}

static void
policy_add_addrs(struct policy_host *h, const struct dns_answer *a)
{
	char	buf[INET6_ADDRSTRLEN];
	size_t	i;
	int	af;

	if (a == NULL)
		return;
	for (i = 0; i < a->count; i++) {
		if (a->qtype == DNS_T_A && a->len[i] == 4)
			af = AF_INET;
		else if (a->qtype == DNS_T_AAAA && a->len[i] == 16)
			af = AF_INET6;
		else
			continue;
		if (inet_ntop(af, a->data[i], buf, sizeof(buf)) == NULL)
			continue;
		h->addrs = xreallocarray(h->addrs, h->naddrs + 1,
		    sizeof(*h->addrs));
		h->addrs[h->naddrs++] = xstrdup(buf);
	}
}

static int
policy_wants_tlsa(const struct policy *p, const struct policy_host *h)
{
	if (p->level != LEVEL_DANE && p->level != LEVEL_DANE_ONLY)
		return 0;
	if (h->addr_status != DNS_SECURE)
		return 0;
	if (p->mx_status == DNS_SECURE)
		return 1;
	return p->half_dane && p->level == LEVEL_DANE;
}

static void
policy_no_dane(struct policy *p, struct policy_host *h, const char *why)
{
	if (p->level == LEVEL_DANE_ONLY)
		policy_skip(h, RT(DANE_REQUIRED), "4.7.5",
		    "policy dane-only: %s", why);
	else
		h->mode = HOST_MAY;
}

static void
policy_addr_done(void *arg, struct dns_answer *a)
{
	struct policy_query	*q = arg;
	struct policy		*p = q->p;
	struct policy_host	*h = q->h;
	struct dns_answer	*aa, *a4, *bad;
	char			*qname;
	int			 ok4, ok6;

	dns_event(p->tag, a);
	if (q->qtype == DNS_T_A)
		h->ans_a = a;
	else
		h->ans_aaaa = a;
	free(q);
	h->pending--;
	if (h->pending > 0)
		goto out;
	a4 = h->ans_a;
	aa = h->ans_aaaa;
	/*
	 * A bogus or failed address family is never used, but it does not
	 * spoil the other one: a secure A RRset still gives secure IPv4
	 * addresses when the AAAA RRset is bogus (section 2.1.1).  The host
	 * is secure when every answer it is reached by is secure.
	 */
	ok4 = a4->status == DNS_SECURE || a4->status == DNS_INSECURE;
	ok6 = aa->status == DNS_SECURE || aa->status == DNS_INSECURE;
	if (ok4)
		policy_add_addrs(h, a4);
	if (ok6)
		policy_add_addrs(h, aa);
	if (h->naddrs == 0 && (!ok4 || !ok6)) {
		/* Report bogus before a mere failure. */
		bad = !ok4 && (a4->status == DNS_BOGUS || ok6) ? a4 : aa;
		h->addr_status = bad->status;
		if (bad->status == DNS_BOGUS)
			policy_skip(h, RT(DNSSEC_INVALID), "4.4.3",
			    "address records of %s are bogus", h->name);
		else
			policy_skip(h, "dns-error", "4.4.3",
			    "address lookup of %s failed", h->name);
		goto freeaddr;
	}
	h->addr_status = (!ok4 || a4->status == DNS_SECURE) &&
	    (!ok6 || aa->status == DNS_SECURE) ? DNS_SECURE : DNS_INSECURE;
	if (ok4 && a4->canonname)
		h->canon = xstrdup(a4->canonname);
	else if (ok6 && aa->canonname)
		h->canon = xstrdup(aa->canonname);
	if (h->naddrs == 0) {
		policy_skip(h, "no-address", "4.4.4",
		    "MX host %s has no address", h->name);
		goto freeaddr;
	}
	if (policy_wants_tlsa(p, h)) {
		h->tlsa_looked_up = 1;
		xasprintf(&qname, "_%d._tcp.%s", p->port,
		    h->canon ? h->canon : h->name);
		policy_query(p, h, qname, DNS_T_TLSA, h->canon ? 1 : 2);
		free(qname);
	} else if (h->addr_status != DNS_SECURE)
		policy_no_dane(p, h, "address records are not "
		    "DNSSEC-secure");
	else
		policy_no_dane(p, h, "MX RRset is not DNSSEC-secure");
 freeaddr:
	dns_answer_free(h->ans_a);
	dns_answer_free(h->ans_aaaa);
	h->ans_a = h->ans_aaaa = NULL;
 out:
	if (--p->pending == 0)
		policy_finish(p);
}

static void
policy_event(struct policy *p, struct policy_host *h)
{
	json_t	*o, *arr, *why;
	size_t	 i;

	arr = json_array();
	why = json_array();
	for (i = 0; i < h->ntlsa; i++) {
		json_array_append_new(arr, json_string(h->tlsa[i].text));
		json_array_append_new(why, h->tlsa[i].why ?
		    json_string(h->tlsa[i].why) : json_null());
	}
	o = json_pack("{s:s?,s:s,s:s,s:s,s:o,s:I,s:s?,s:s?}",
	    "queue_id", p->tag, "domain", p->domain, "host", h->name,
	    "level", level_name(p->level), "tlsa", arr,
	    "usable", (json_int_t)h->nusable,
	    "tlsa_base", h->tlsa_base, "sni", h->tlsa_base);
	json_object_set_new(o, "mode", json_string(host_mode_name(h->mode)));
	/* Per record: null if usable, else why not ("usage-pkix", ...). */
	json_object_set_new(o, "tlsa_unusable", why);
	json_object_set_new(o, "mx_status",
	    json_string(dns_sec_name(p->mx_status)));
	json_object_set_new(o, "addr_status",
	    json_string(dns_sec_name(h->addr_status)));
	json_object_set_new(o, "tlsa_status", h->tlsa_looked_up ?
	    json_string(dns_sec_name(h->tlsa_status)) : json_null());
	if (h->mode == HOST_SKIP) {
		json_object_set_new(o, "reason", json_string(h->reason));
		json_object_set_new(o, "detail", json_string(h->detail));
	}
	if (h->mode == HOST_ENCRYPT)
		json_object_set_new(o, "result_type",
		    json_string(RT(TLSA_INVALID)));
	/* Which policy governs the host (sts.c), and the MTA-STS one. */
	json_object_set_new(o, "governed", h->governed ?
	    json_string(h->governed) : json_null());
	json_object_set_new(o, "sts", stspolicy_brief(p->sts));
	if (h->sts_failure != NULL && h->mode != HOST_SKIP) {
		/* Outside the MTA-STS policy: its session will say so. */
		json_object_set_new(o, "sts_failure",
		    json_string(h->sts_failure));
		json_object_set_new(o, "detail", json_string(h->detail));
	}
	log_event("policy", o);
}

static void
policy_tlsa_done(void *arg, struct dns_answer *a)
{
	struct policy_query	*q = arg;
	struct policy		*p = q->p;
	struct policy_host	*h = q->h;
	struct tlsa		 t;
	char			*qname;
	size_t			 i;

	dns_event(p->tag, a);
	h->pending--;
	h->tlsa_status = a->status;
	free(h->tlsa_qname);
	h->tlsa_qname = xstrdup(a->qname);
	switch (a->status) {
	case DNS_BOGUS:
		policy_skip(h, RT(DNSSEC_INVALID), "4.7.5",
		    "TLSA RRset %s is bogus: not using this host", a->qname);
		break;
	case DNS_ERROR:
		policy_skip(h, RT(TLSA_INVALID), "4.7.5",
		    "TLSA lookup %s failed: not using this host", a->qname);
		break;
	case DNS_INSECURE:
		policy_no_dane(p, h, "TLSA RRset is not DNSSEC-secure");
		break;
	case DNS_SECURE:
		if (a->count == 0 && q->stage == 1) {
			/* Section 2.2.3: then the original name. */
			xasprintf(&qname, "_%d._tcp.%s", p->port, h->name);
			policy_query(p, h, qname, DNS_T_TLSA, 2);
			free(qname);
			break;
		}
		if (a->count == 0) {
			policy_no_dane(p, h, "no TLSA records (secure "
			    "denial)");
			break;
		}
		h->tlsa_base = xstrdup(q->stage == 1 ? h->canon : h->name);
		for (i = 0; i < a->count; i++) {
			if (tlsa_parse(a->data[i], a->len[i], &t) == -1)
				continue;
			h->tlsa = xreallocarray(h->tlsa, h->ntlsa + 1,
			    sizeof(*h->tlsa));
			h->tlsa[h->ntlsa++] = t;
			if (t.usable)
				h->nusable++;
		}
		if (h->nusable > 0)
			h->mode = HOST_DANE;
		else if (p->level == LEVEL_DANE_ONLY)
			policy_skip(h, RT(DANE_REQUIRED), "4.7.5",
			    "policy dane-only: %s", "no usable TLSA record");
		else
			h->mode = HOST_ENCRYPT;
		break;
	}
	free(q);
	dns_answer_free(a);
	if (--p->pending == 0)
		policy_finish(p);
}

static void
policy_mx_event(struct policy *p)
{
	json_t	*hosts, *addrs, *o;
	size_t	 i, j;

	hosts = json_array();
	for (i = 0; i < p->nhosts; i++) {
		addrs = json_array();
		for (j = 0; j < p->hosts[i].naddrs; j++)
			json_array_append_new(addrs,
			    json_string(p->hosts[i].addrs[j]));
		json_array_append_new(hosts, json_pack("{s:s,s:i,s:o,s:s}",
		    "name", p->hosts[i].name, "pref", p->hosts[i].pref,
		    "addresses", addrs, "status",
		    dns_sec_name(p->hosts[i].addr_status)));
	}
	o = json_pack("{s:s?,s:s,s:o,s:s,s:b}", "queue_id", p->tag,
	    "domain", p->domain, "hosts", hosts, "status",
	    dns_sec_name(p->mx_status), "implicit", p->implicit_mx);
	log_event("mx", o);
}

static void
policy_finish(struct policy *p)
{
	size_t	i;

	if (p->outcome == POLICY_OK) {
		for (i = 0; i < p->nhosts; i++)
			if (p->hosts[i].mode != HOST_SKIP)
				break;
		if (i == p->nhosts) {
			/* Every host unusable: defer with the reason of
			 * the most preferred one. */
			policy_defer(p, POLICY_DEFER, p->hosts[0].reason,
			    p->hosts[0].dsn, "%s", p->hosts[0].detail);
		}
	}
	p->cb(p->arg, p);
}

void
policy_log(struct policy *p)
{
	size_t	i;

	if (p->nhosts == 0)
		return;		/* the MX step ended it: no hosts to tell */
	policy_mx_event(p);
	for (i = 0; i < p->nhosts; i++)
		policy_event(p, &p->hosts[i]);
}

void
policy_free(struct policy *p)
{
	size_t	i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nhosts; i++) {
		free(p->hosts[i].name);
		free(p->hosts[i].canon);
		for (j = 0; j < p->hosts[i].naddrs; j++)
			free(p->hosts[i].addrs[j]);
		free(p->hosts[i].addrs);
		for (j = 0; j < p->hosts[i].ntlsa; j++)
			tlsa_clear(&p->hosts[i].tlsa[j]);
		free(p->hosts[i].tlsa);
		free(p->hosts[i].tlsa_qname);
		free(p->hosts[i].tlsa_base);
		free(p->hosts[i].detail);
	}
	free(p->hosts);
	free(p->domain);
	free(p->tag);
	free(p->detail);
	free(p);
}
