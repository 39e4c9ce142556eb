/*
 * sts.c -- a destination's MTA-STS policy (RFC 8461), found and applied.
 *
 * sts_resolve(), per delivery attempt and policy domain (section 5.1):
 *  1. The cached entry of the domain (stscache.c), if any.
 *  2. TXT _mta-sts.<domain> through our DNS (stspolicy_txt() reads it; a
 *     failed or bogus lookup counts as no usable record).  DNSSEC is not
 *     required (section 3.1).
 *  3. stscache_decide(): apply the cached policy, fetch, or no policy.
 *  4. A fetch: A and AAAA of mta-sts.<domain> through our DNS (bogus or
 *     failed answers are not used), then the HTTPS GET (stsfetch.c), then
 *     stspolicy_parse().  A policy that parses is cached (with the TXT id
 *     and the time) and applied.  A failed fetch, or a policy that does
 *     not parse, falls back to the fresh cached policy if there is one
 *     (stscache_fallback()), else no policy; either way the failure is
 *     reported (result_type, for TLSRPT).  A fetch cancelled because the
 *     process is stopping (stsfetch_interrupt()) falls back the same way
 *     but is no failure: nothing is reported.
 * One "sts" event says what was found and decided.  The fetch is done
 * before the attempt's first connection: the first message to a domain is
 * already protected by its policy.
 *
 * sts_apply(), once the DANE policy (policy.c) is known too, decides per
 * MX host which policy governs it (section 2: DANE takes precedence):
 *  - a host whose secure TLSA RRset was found (mode dane or encrypt), or
 *    whose TLSA lookup was bogus or failed (a DANE failure, which MTA-STS
 *    never overrides), is governed by DANE, whatever the MTA-STS policy
 *    says, also about its name;
 *  - otherwise, in mode enforce (section 4.2): mode "sts": STARTTLS
 *    required and a certificate that verifies against the sender's CAs
 *    (sts_ca_file) and names the MX host; a failure defers, never a
 *    cleartext retry.  A host whose name matches none of the policy's
 *    patterns (sts_mismatch) gets no mail either: it is dialled and
 *    judged like the others, and then its session ends after the
 *    handshake with validation-failure (4.7.5), before any MAIL command
 *    (section 5.1 checks a candidate when delivery to it is attempted;
 *    RFC 8460 reports sessions, so that failure has one to be told in);
 *  - in mode testing: the host is used as without a policy, but its
 *    certificate is judged the same way, and the failures (a name not in
 *    the policy, a certificate that does not verify) are reported;
 *  - mode none, or no policy: the host is governed by nothing ("none").
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

struct sts_job {
	struct sts_ctx		 ctx;
	char			*tag;
	char			*domain;
	char			*host;		/* mta-sts.<domain> */
	time_t			 now;
	struct sts_cached	 cache;
	int			 have_cache;
	const char		*cache_state;	/* none fresh expired bad */
	const char		*txt_state;	/* stspolicy_txt_name, error */
	enum dns_sec		 txt_status;
	char			 txt_id[STS_ID_MAX + 1];
	char			 txt_why[256];
	int			 pending;
	struct dns_answer	*ans[2];	/* A, AAAA of host */
	struct sts_fetched	*fetched;
	struct sts_result	*res;
	void			(*cb)(void *, struct sts_result *);
	void			*arg;
};

static void	sts_txt_done(void *, struct dns_answer *);
static void	sts_addr_done(void *, struct dns_answer *);
static void	sts_fetch_done(void *, struct sts_fetched *);

void
sts_result_free(struct sts_result *r)
{
	if (r == NULL)
		return;
	stspolicy_clear(&r->policy);
	free(r->domain);
	free(r->detail);
	free(r);
}

/* The policy of c, now the one that applies (moved out of c). */
static void
sts_use(struct sts_result *r, struct sts_cached *c, const char *source)
{
	r->have = 1;
	snprintf(r->id, sizeof(r->id), "%s", c->id);
	r->policy = c->policy;
	memset(&c->policy, 0, sizeof(c->policy));
	r->source = source;
}

static void
sts_event(const struct sts_job *j)
{
	const struct sts_result	*r = j->res;
	json_t			*o, *pol = json_null(), *fetch = json_null();

	if (r->have)
		pol = json_pack("{s:s,s:s,s:i,s:o,s:o,s:s}", "id", r->id,
		    "mode", stspolicy_mode_name(r->policy.mode), "max_age",
		    r->policy.max_age, "mx", log_strings(r->policy.mx,
		    r->policy.nmx), "lines", log_strings(r->policy.lines,
		    r->policy.nlines), "source", r->source);
	if (j->fetched != NULL)
		fetch = json_pack("{s:b,s:I,s:s}", "ok", j->fetched->ok,
		    "http_code", (json_int_t)j->fetched->http_code, "detail",
		    j->fetched->detail);
	o = json_pack("{s:s?,s:s,s:s,s:s,s:s?,s:s?,s:s,s:s?,s:o,s:o,s:s?,"
	    "s:s?}", "queue_id", j->tag, "domain", j->domain,
	    "txt", j->txt_state, "txt_status", dns_sec_name(j->txt_status),
	    "txt_id", j->txt_id[0] ? j->txt_id : NULL,
	    "txt_detail", j->txt_why[0] ? j->txt_why : NULL,
	    "cache", j->cache_state,
	    "cache_id", j->have_cache ? j->cache.id : NULL,
	    "fetch", fetch, "policy", pol,
	    "result_type", r->result_type, "detail", r->detail);
	if (o == NULL)
		fatalx("cannot build the sts event");
	log_event("sts", o);
}

static void
sts_finish(struct sts_job *j)
{
	sts_event(j);
	j->cb(j->arg, j->res);
	stscache_clear(&j->cache);
	stsfetch_result_free(j->fetched);
	dns_answer_free(j->ans[0]);
	dns_answer_free(j->ans[1]);
	free(j->tag);
	free(j->domain);
	free(j->host);
	free(j);
}

/* The fetch failed (why: its RFC 8460 type, NULL when it was
 * interrupted, and detail): fall back. */
static void
sts_failed(struct sts_job *j, const char *type, const char *detail)
{
	j->res->result_type = type;
	j->res->detail = xstrdup(detail);
	if (stscache_fallback(j->have_cache ? &j->cache : NULL, j->now) ==
	    STS_STEP_CACHED)
		sts_use(j->res, &j->cache, "cache");
	sts_finish(j);
}

void
sts_resolve(const struct sts_ctx *ctx, const char *domain, const char *tag,
    void (*cb)(void *, struct sts_result *), void *arg)
{
	struct sts_job	*j;
	char		*qname;

	j = xcalloc(1, sizeof(*j));
	j->ctx = *ctx;
	j->tag = tag ? xstrdup(tag) : NULL;
	j->domain = xstrdup(domain);
	xasprintf(&j->host, "mta-sts.%s", domain);
	j->now = time(NULL) + ctx->clock_offset;
	j->cb = cb;
	j->arg = arg;
	j->res = xcalloc(1, sizeof(*j->res));
	j->res->domain = xstrdup(domain);
	j->cache_state = "none";
	if (stscache_load(ctx->cache_dir, domain, &j->cache) == 0) {
		j->have_cache = 1;
		j->cache_state = stscache_fresh(&j->cache, j->now) ? "fresh" :
		    "expired";
	} else if (errno != ENOENT)
		j->cache_state = "bad";
	xasprintf(&qname, "_mta-sts.%s", domain);
	dns_resolve(ctx->dns, qname, DNS_T_TXT, sts_txt_done, j);
	free(qname);
}

static void
sts_txt_done(void *arg, struct dns_answer *a)
{
	struct sts_job	*j = arg;
	enum sts_step	 step;
	char		**recs;
	size_t		 i, n = 0;
	enum sts_txt	 t;

	dns_event(j->tag, a);
	j->txt_status = a->status;
	if (a->status == DNS_BOGUS || a->status == DNS_ERROR) {
		j->txt_state = "error";
		snprintf(j->txt_why, sizeof(j->txt_why), "TXT lookup of %s: "
		    "%s", a->qname, dns_status_text(a));
	} else {
		recs = xcalloc(a->count + 1, sizeof(*recs));
		for (i = 0; i < a->count; i++)
			if ((recs[n] = rdata_txt(a->data[i], a->len[i])) !=
			    NULL)
				n++;
		t = stspolicy_txt(recs, n, j->txt_id, j->txt_why,
		    sizeof(j->txt_why));
		j->txt_state = stspolicy_txt_name(t);
		if (t != STS_TXT_OK)
			j->txt_id[0] = '\0';
		for (i = 0; i < n; i++)
			free(recs[i]);
		free(recs);
	}
	dns_answer_free(a);
	step = stscache_decide(j->have_cache ? &j->cache : NULL,
	    j->txt_id[0] ? j->txt_id : NULL, j->now);
	switch (step) {
	case STS_STEP_CACHED:
		sts_use(j->res, &j->cache, "cache");
		sts_finish(j);
		return;
	case STS_STEP_NONE:
		sts_finish(j);
		return;
	case STS_STEP_FETCH:
		break;
	}
	if (!dns_valid_hostname(j->host)) {
		sts_failed(j, RT(STS_POLICY_FETCH_ERROR), "the policy host "
		    "name is not a host name");
		return;
	}
	j->pending = 2;
	dns_resolve(j->ctx.dns, j->host, DNS_T_A, sts_addr_done, j);
	dns_resolve(j->ctx.dns, j->host, DNS_T_AAAA, sts_addr_done, j);
}

/* The numeric addresses of the usable (secure or insecure) answers. */
static char **
sts_addrs(struct sts_job *j, size_t *n)
{
	char			 buf[INET6_ADDRSTRLEN], **v;
	const struct dns_answer	*a;
	size_t			 i, k;

	v = xcalloc(1, sizeof(*v));
	*n = 0;
	for (k = 0; k < 2; k++) {
		a = j->ans[k];
		if (a->status != DNS_SECURE && a->status != DNS_INSECURE)
			continue;
		for (i = 0; i < a->count; i++) {
			if (dns_address(a, i, buf, sizeof(buf)) == -1)
				continue;
			v = xreallocarray(v, *n + 2, sizeof(*v));
			v[(*n)++] = xstrdup(buf);
			v[*n] = NULL;
		}
	}
	return v;
}

static void
sts_addr_done(void *arg, struct dns_answer *a)
{
	struct sts_job	*j = arg;
	char		**addrs;
	size_t		 n, i;

	dns_event(j->tag, a);
	j->ans[a->qtype == DNS_T_A ? 0 : 1] = a;
	if (--j->pending > 0)
		return;
	addrs = sts_addrs(j, &n);
	stsfetch_get(j->ctx.fetch, j->host, addrs, n, sts_fetch_done, j);
	for (i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

static void
sts_fetch_done(void *arg, struct sts_fetched *f)
{
	struct sts_job		*j = arg;
	struct sts_cached	 c;
	char			 err[256], *why;

	j->fetched = f;
	if (!f->ok) {
		sts_failed(j, f->result_type, f->detail);
		return;
	}
	memset(&c, 0, sizeof(c));
	if (stspolicy_parse(f->body, f->len, &c.policy, err,
	    sizeof(err)) == -1) {
		xasprintf(&why, "the policy of %s is not valid: %s",
		    j->domain, err);
		sts_failed(j, RT(STS_POLICY_INVALID), why);
		free(why);
		return;
	}
	snprintf(c.domain, sizeof(c.domain), "%s", j->domain);
	snprintf(c.id, sizeof(c.id), "%s", j->txt_id);
	c.fetched = j->now;
	c.text = f->body;
	c.len = f->len;
	if (stscache_save(j->ctx.cache_dir, j->ctx.tmp_dir, &c) == -1)
		log_warnx("sts %s: cannot cache the policy in %s: %s",
		    j->domain, j->ctx.cache_dir, strerror(errno));
	c.text = NULL;		/* still the fetch result's */
	sts_use(j->res, &c, "fetch");
	stscache_clear(&c);
	sts_finish(j);
}

/*
 * 1 when DANE governs h (section 2 of RFC 8461): a secure TLSA RRset was
 * found for it, or its TLSA lookup was bogus or failed.
 */
static int
sts_dane_governs(const struct policy_host *h)
{
	if (!h->tlsa_looked_up)
		return 0;
	if (h->mode == HOST_DANE || h->mode == HOST_ENCRYPT)
		return 1;
	return h->mode == HOST_SKIP && (h->tlsa_status == DNS_BOGUS ||
	    h->tlsa_status == DNS_ERROR);
}

void
sts_apply(struct policy *p, const struct sts_result *r)
{
	struct policy_host	*h;
	size_t			 i;
	int			 enforce;

	p->sts = r;
	for (i = 0; i < p->nhosts; i++) {
		h = &p->hosts[i];
		if (sts_dane_governs(h)) {
			h->governed = "dane";
			continue;
		}
		if (r == NULL || !r->have ||
		    r->policy.mode == STS_MODE_NONE) {
			h->governed = "none";
			continue;
		}
		enforce = r->policy.mode == STS_MODE_ENFORCE;
		h->governed = enforce ? "sts-enforce" : "sts-testing";
		if (h->mode == HOST_SKIP)
			continue;	/* unusable anyway */
		if (enforce)
			h->mode = HOST_STS;
		else
			h->sts_check = 1;
		if (stspolicy_match(&r->policy, h->name))
			continue;
		h->sts_mismatch = 1;
		h->sts_failure = RT(VALIDATION_FAILURE);
		free(h->detail);
		xasprintf(&h->detail, "MX host %s matches no mx pattern of "
		    "the MTA-STS policy of %s (mode %s)%s", h->name, p->domain,
		    stspolicy_mode_name(r->policy.mode), enforce ? ": no mail "
		    "for it" : ": used all the same");
	}
}
