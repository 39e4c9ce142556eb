/*
 * agg.c -- from refsend's events to per policy domain aggregates.
 *
 * refsend writes, per delivery attempt and recipient domain, a "dns"
 * event for the MX question (the start of an attempt), one "policy" event
 * per MX host (domain, host, TLSA records, mode), one "session" event per
 * connection (host, address, tls, result_type, detail) and, per recipient,
 * "delivered" / "deferred" / "bounced".  A session is joined to the latest
 * policy event of the same (queue id, host, domain) -- the domain when the
 * session names it -- which gives the domain and the TLSA records.
 *
 * What counts (docs/refsend-tlsrpt.md has the table); every session is
 * counted once at most, as one success or as one failure:
 *  - a session with an RFC 8460 result_type: one failure of that type;
 *  - a session that did TLS under a TLSA policy none of whose records
 *    could be used (the policy event's mode "encrypt", or a session that
 *    fell back to "encrypt" because OpenSSL refused every record): one
 *    tlsa-invalid failure at the session's address, not a success;
 *  - any other session that did TLS: one success;
 *  - a session in mode "may" that sent in the clear: one
 *    starttls-not-supported failure;
 *  - a policy event with mode "skip" and an RFC 8460 reason (TLSA bogus,
 *    dane-required, ...): one failure without receiving-ip; when the TLSA
 *    lookup itself failed or was bogus, the type is dnssec-invalid;
 *  - a deferred/bounced recipient with an RFC 8460 reason, no host and no
 *    policy event in its attempt (the MX lookup itself failed): one failure
 *    without receiving-mx-hostname, once per attempt and domain;
 *  - everything else (connection refused, DNS errors, SMTP replies before
 *    TLS) is not a TLS matter and is not counted.
 * The policy is "tlsa" with the host's TLSA records (sorted) when it had
 * any, else "no-policy-found"; hosts with the same policy share one
 * policies[] entry and are listed in its mx-host.
 *
 * MTA-STS (RFC 8461): refsend's "sts" event, one per attempt and domain
 * before its policy events, carries the policy that applies (its lines and
 * mx patterns), and the failure to get one (an sts-* result type).  A host
 * whose policy event says it was governed by MTA-STS ("governed":
 * "sts-enforce" or "sts-testing") counts under the policy "sts": its
 * policy-string is the policy's lines in order, its mx-host the policy's
 * patterns.  What counts there:
 *  - the sts event's failure: one failure without receiving-mx-hostname
 *    (the policy it names, or none when no policy applies);
 *  - sessions and skipped hosts as above (refsend ends the session of an
 *    MX host outside an enforce policy after the handshake, with
 *    validation-failure);
 *  - a session to a host outside a testing policy (its policy event has
 *    an sts_failure): a failure of that type unless the session has its
 *    own (one with TLS has: refsend's check of the testing policy).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

/* The latest policy event of one (queue id, host). */
struct agg_pol {
	char	*qid;
	char	*host;
	char	*domain;
	char	*mode;
	char	*unusable;	/* mode "encrypt": why no record is usable */
	char	**tlsa;
	size_t	 ntlsa;
	char	*governed;	/* NULL: not said (older refsend) */
	char	*sts_failure;	/* testing: a failure before connecting */
	char	*sts_detail;
};

/* One (queue id, domain) delivery attempt. */
struct agg_attempt {
	char	*qid;
	char	*domain;
	int	 policy_seen;
	int	 counted;
	/* the MTA-STS policy of its latest sts event, if one applied */
	int	 sts_have;
	char	**sts_lines;
	size_t	 nsts_lines;
	char	**sts_mx;
	size_t	 nsts_mx;
};

struct agg {
	char			*sending_ip;
	int			 daily;
	struct agg_domain	*domains;
	size_t			 ndomains;
	struct agg_pol		*pols;
	size_t			 npols;
	struct agg_attempt	*atts;
	size_t			 natts;
	double			 first_ts;
	double			 last_ts;
	size_t			 skipped;
};

const char *
agg_result_type(const char *s)
{
	return result_type_name(result_type_from_name(s));
}

struct agg *
agg_new(const char *sending_ip, int daily)
{
	struct agg	*a;

	a = xcalloc(1, sizeof(*a));
	a->sending_ip = sending_ip ? xstrdup(sending_ip) : NULL;
	a->daily = daily;
	return a;
}

static const char *
agg_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static char *
agg_lower(const char *s)
{
	char	*d, *p;

	d = xstrdup(s);
	for (p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* No trailing dot: "a.test." and "a.test" are one domain. */
	if (p > d + 1 && p[-1] == '.')
		p[-1] = '\0';
	return d;
}

static int
agg_strcmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static struct agg_attempt *
agg_attempt(struct agg *a, const char *qid, const char *domain)
{
	struct agg_attempt	*t;
	size_t			 i;

	for (i = 0; i < a->natts; i++)
		if (strcmp(a->atts[i].qid, qid) == 0 &&
		    strcmp(a->atts[i].domain, domain) == 0)
			return &a->atts[i];
	a->atts = xreallocarray(a->atts, a->natts + 1, sizeof(*a->atts));
	t = &a->atts[a->natts++];
	memset(t, 0, sizeof(*t));
	t->qid = xstrdup(qid);
	t->domain = xstrdup(domain);
	return t;
}

static void
agg_strings_free(char ***v, size_t *n)
{
	while (*n > 0)
		free((*v)[--*n]);
	free(*v);
	*v = NULL;
}

/* The strings of a JSON array (others skipped), into a new vector. */
static char **
agg_strings(const json_t *arr, size_t *n)
{
	char	**v;
	json_t	 *x;
	size_t	  i;

	v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
	*n = 0;
	json_array_foreach(arr, i, x)
		if (json_is_string(x))
			v[(*n)++] = xstrdup(json_string_value(x));
	return v;
}

/* domain may be NULL (older refsend sessions do not name it). */
static struct agg_pol *
agg_pol_find(struct agg *a, const char *qid, const char *host,
    const char *domain)
{
	size_t	i;

	for (i = a->npols; i-- > 0;)
		if (strcmp(a->pols[i].qid, qid) == 0 &&
		    strcasecmp(a->pols[i].host, host) == 0 &&
		    (domain == NULL || strcasecmp(a->pols[i].domain,
		    domain) == 0))
			return &a->pols[i];
	return NULL;
}

static void
agg_pol_clear(struct agg_pol *p)
{
	size_t	i;

	free(p->qid);
	free(p->host);
	free(p->domain);
	free(p->mode);
	free(p->unusable);
	for (i = 0; i < p->ntlsa; i++)
		free(p->tlsa[i]);
	free(p->tlsa);
	free(p->governed);
	free(p->sts_failure);
	free(p->sts_detail);
	memset(p, 0, sizeof(*p));
}

static struct agg_domain *
agg_domain(struct agg *a, const char *domain, time_t day)
{
	struct agg_domain	*d;
	size_t			 i;

	for (i = 0; i < a->ndomains; i++)
		if (a->domains[i].day == day &&
		    strcmp(a->domains[i].domain, domain) == 0)
			return &a->domains[i];
	a->domains = xreallocarray(a->domains, a->ndomains + 1,
	    sizeof(*a->domains));
	d = &a->domains[a->ndomains++];
	memset(d, 0, sizeof(*d));
	d->domain = xstrdup(domain);
	d->day = day;
	return d;
}

/* The policies[] entry for (type, strings) in d, made if needed.  TLSA
 * records are sorted; an MTA-STS policy's lines keep their order. */
static struct agg_policy *
agg_policy(struct agg_domain *d, const char *type, char *const *strings,
    size_t n)
{
	struct agg_policy	*p;
	char			**sorted;
	size_t			 i, j;

	sorted = xcalloc(n ? n : 1, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = xstrdup(strings[i]);
	if (strcmp(type, "sts") != 0)
		qsort(sorted, n, sizeof(*sorted), agg_strcmp);
	for (i = 0; i < d->npolicies; i++) {
		p = &d->policies[i];
		if (strcmp(p->type, type) != 0 || p->nstrings != n)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(p->strings[j], sorted[j]) != 0)
				break;
		if (j == n) {
			for (j = 0; j < n; j++)
				free(sorted[j]);
			free(sorted);
			return p;
		}
	}
	d->policies = xreallocarray(d->policies, d->npolicies + 1,
	    sizeof(*d->policies));
	p = &d->policies[d->npolicies++];
	memset(p, 0, sizeof(*p));
	p->type = xstrdup(type);
	p->strings = sorted;
	p->nstrings = n;
	return p;
}

/* mx-host: the hosts of a DANE (or no) policy; for "sts", the policy's
 * patterns (agg_sts_policy()) and nothing else. */
static void
agg_policy_host(struct agg_policy *p, const char *host)
{
	size_t	i;

	if (host == NULL || strcmp(p->type, "sts") == 0)
		return;
	for (i = 0; i < p->nmx; i++)
		if (strcasecmp(p->mx[i], host) == 0)
			return;
	p->mx = xreallocarray(p->mx, p->nmx + 1, sizeof(*p->mx));
	p->mx[p->nmx++] = agg_lower(host);
}

static void
agg_policy_mx(struct agg_policy *p, const char *host)
{
	size_t	i;

	if (host == NULL)
		return;
	for (i = 0; i < p->nmx; i++)
		if (strcasecmp(p->mx[i], host) == 0)
			return;
	p->mx = xreallocarray(p->mx, p->nmx + 1, sizeof(*p->mx));
	p->mx[p->nmx++] = agg_lower(host);
}

static int
agg_eq(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static char *
agg_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/*
 * One failed session (or policy failure) of this type.  reason is the
 * failure-reason-code: refsend's detail, which says what went wrong in
 * its words; NULL only if refsend logged none.
 */
static void
agg_failure(struct agg_policy *p, const char *type, const char *sip,
    const char *host, const char *rip, const char *helo, const char *reason)
{
	struct agg_failure	*f;
	char			*lhost = host ? agg_lower(host) : NULL;
	size_t			 i;

	if (reason == NULL)
		reason = "no detail logged by the sender";
	p->failed++;
	for (i = 0; i < p->nfailures; i++) {
		f = &p->failures[i];
		if (strcmp(f->result_type, type) == 0 &&
		    agg_eq(f->sending_ip, sip) && agg_eq(f->mx_host, lhost) &&
		    agg_eq(f->receiving_ip, rip) &&
		    agg_eq(f->mx_helo, helo) && agg_eq(f->reason, reason)) {
			f->count++;
			free(lhost);
			return;
		}
	}
	p->failures = xreallocarray(p->failures, p->nfailures + 1,
	    sizeof(*p->failures));
	f = &p->failures[p->nfailures++];
	f->result_type = xstrdup(type);
	f->sending_ip = agg_dup(sip);
	f->mx_host = lhost;
	f->receiving_ip = agg_dup(rip);
	f->mx_helo = agg_dup(helo);
	f->reason = xstrdup(reason);
	f->count = 1;
}

static time_t
agg_day(const struct agg *a, double ts)
{
	return a->daily ? (time_t)floor(ts / 86400.0) * 86400 : 0;
}

/* The "sts" entry of d for the policy of attempt t (none: no policy). */
static struct agg_policy *
agg_sts_policy(struct agg_domain *d, const struct agg_attempt *t)
{
	struct agg_policy	*p;
	size_t			 i;

	if (t == NULL || !t->sts_have)
		return agg_policy(d, "sts", NULL, 0);
	p = agg_policy(d, "sts", t->sts_lines, t->nsts_lines);
	for (i = 0; i < t->nsts_mx; i++)
		agg_policy_mx(p, t->sts_mx[i]);
	return p;
}

static struct agg_policy *
agg_policy_of(struct agg *a, const struct agg_pol *pol, double ts)
{
	struct agg_domain	*d;

	d = agg_domain(a, pol->domain, agg_day(a, ts));
	if (pol->governed != NULL && strncmp(pol->governed, "sts-", 4) == 0)
		return agg_sts_policy(d, agg_attempt(a, pol->qid,
		    pol->domain));
	if (pol->ntlsa > 0)
		return agg_policy(d, "tlsa", pol->tlsa, pol->ntlsa);
	return agg_policy(d, "no-policy-found", NULL, 0);
}

static void
agg_ev_policy(struct agg *a, const json_t *o, double ts)
{
	const char	*qid = agg_str(o, "queue_id"), *host = agg_str(o,
			    "host"), *domain = agg_str(o, "domain");
	const char	*mode = agg_str(o, "mode"), *rt, *detail, *ts_status;
	struct agg_pol	*pol;
	struct agg_policy *p;
	json_t		*tlsa = json_object_get(o, "tlsa"), *v;
	struct buf	 why = { NULL, 0, 0 };
	size_t		 i;

	if (qid == NULL || host == NULL || domain == NULL) {
		a->skipped++;
		return;
	}
	if ((pol = agg_pol_find(a, qid, host, domain)) != NULL)
		agg_pol_clear(pol);
	else {
		a->pols = xreallocarray(a->pols, a->npols + 1,
		    sizeof(*a->pols));
		pol = &a->pols[a->npols++];
		memset(pol, 0, sizeof(*pol));
	}
	pol->qid = xstrdup(qid);
	pol->host = xstrdup(host);
	pol->domain = agg_lower(domain);
	pol->mode = xstrdup(mode ? mode : "may");
	pol->governed = agg_dup(agg_str(o, "governed"));
	if (strcmp(pol->mode, "may") == 0 && pol->governed != NULL &&
	    strcmp(pol->governed, "sts-testing") == 0 &&
	    agg_result_type(agg_str(o, "sts_failure")) != NULL) {
		/* Outside the testing policy: told with its sessions (those
		 * with TLS say it themselves). */
		pol->sts_failure = xstrdup(agg_str(o, "sts_failure"));
		pol->sts_detail = agg_dup(agg_str(o, "detail"));
	}
	pol->tlsa = xcalloc(json_array_size(tlsa) + 1, sizeof(*pol->tlsa));
	json_array_foreach(tlsa, i, v)
		if (json_is_string(v))
			pol->tlsa[pol->ntlsa++] = xstrdup(json_string_value(v));
	agg_attempt(a, qid, pol->domain)->policy_seen = 1;
	rt = NULL;
	detail = agg_str(o, "detail");
	if (strcmp(pol->mode, "skip") == 0) {
		/* A host not used at all, for a reason RFC 8460 knows? */
		rt = agg_result_type(agg_str(o, "reason"));
		ts_status = agg_str(o, "tlsa_status");
		/* A TLSA lookup that failed (SERVFAIL, timeout) or was
		 * bogus: "no valid records were returned from the
		 * recursive resolver", whatever refsend calls it. */
		if (rt != NULL && ts_status != NULL &&
		    (strcmp(ts_status, "error") == 0 ||
		    strcmp(ts_status, "bogus") == 0))
			rt = RT(DNSSEC_INVALID);
	} else if (strcmp(pol->mode, "encrypt") == 0) {
		/* TLSA records, none usable: each session that follows is a
		 * tlsa-invalid failure (agg_ev_session), never a success. */
		if (detail != NULL)
			buf_addf(&why, "%s", detail);
		else {
			buf_addf(&why, "no usable TLSA record");
			json_array_foreach(json_object_get(o, "tlsa_unusable"),
			    i, v)
				if (json_is_string(v))
					buf_addf(&why, "%s%s", i ? ", " : " (",
					    json_string_value(v));
			if (json_array_size(json_object_get(o,
			    "tlsa_unusable")) > 0)
				buf_addf(&why, ")");
			buf_addf(&why, ": TLS without authentication");
		}
		pol->unusable = why.data;
	}
	if (rt != NULL) {
		p = agg_policy_of(a, pol, ts);
		agg_policy_host(p, host);
		agg_failure(p, rt, a->sending_ip, host, NULL, NULL, detail);
	}
}

/* The session sent its mail (or got SMTP replies) in the clear. */
static int
agg_cleartext(const json_t *o)
{
	static const char *after_ehlo[] = {
		"mail", "rcpt", "data", "body", "quit", "done", NULL
	};
	const char	*state = agg_str(o, "state");
	size_t		 i;

	if (json_object_get(o, "reason") == NULL ||
	    json_is_null(json_object_get(o, "reason")))
		return 1;
	for (i = 0; state != NULL && after_ehlo[i] != NULL; i++)
		if (strcmp(state, after_ehlo[i]) == 0)
			return 1;
	return 0;
}

static void
agg_ev_session(struct agg *a, const json_t *o, double ts)
{
	const char	*qid = agg_str(o, "queue_id"), *host = agg_str(o,
			    "host"), *addr = agg_str(o, "address");
	const char	*mode, *rt, *sip, *helo, *detail;
	struct agg_pol	*pol;
	struct agg_policy *p;
	int		 tls;

	if (qid == NULL || host == NULL ||
	    (pol = agg_pol_find(a, qid, host, agg_str(o, "domain"))) ==
	    NULL) {
		a->skipped++;
		return;
	}
	mode = agg_str(o, "mode");
	if (mode == NULL)
		mode = pol->mode;
	tls = json_is_true(json_object_get(o, "tls"));
	rt = agg_result_type(agg_str(o, "result_type"));
	sip = agg_str(o, "local");
	if (sip == NULL)
		sip = a->sending_ip;
	helo = agg_str(o, "mx_helo");
	detail = agg_str(o, "detail");
	if (rt == NULL && pol->sts_failure != NULL) {
		/* A host outside an MTA-STS testing policy, used. */
		rt = agg_result_type(pol->sts_failure);
		detail = pol->sts_detail;
	}
	if (rt == NULL && tls && pol->unusable != NULL) {
		/* TLS without authentication: the policy's records were
		 * all unusable.  The session is that failure. */
		rt = RT(TLSA_INVALID);
		detail = pol->unusable;
	} else if (rt == NULL && tls && strcmp(mode, "encrypt") == 0 &&
	    strcmp(pol->mode, "dane") == 0) {
		/* OpenSSL refused every record the policy found usable: in
		 * effect an unusable RRset (no policy event says so). */
		rt = RT(TLSA_INVALID);
		detail = "no TLSA record accepted: TLS without "
		    "authentication";
	} else if (rt == NULL && !tls) {
		if (strcmp(mode, "may") != 0 || !agg_cleartext(o))
			return;		/* not a TLS matter */
		rt = RT(STARTTLS_NOT_SUPPORTED);
		detail = "mail sent in the clear: no TLS session";
	}
	p = agg_policy_of(a, pol, ts);
	agg_policy_host(p, host);
	if (rt != NULL)
		agg_failure(p, rt, sip, host, addr, helo, detail);
	else
		p->ok++;
}

static void
agg_ev_rcpt(struct agg *a, const json_t *o, double ts)
{
	const char		*qid = agg_str(o, "queue_id"), *rcpt =
				    agg_str(o, "rcpt"), *rt, *at;
	struct agg_attempt	*t;
	struct agg_domain	*d;
	char			*domain;

	rt = agg_result_type(agg_str(o, "reason"));
	if (qid == NULL || rcpt == NULL || rt == NULL ||
	    agg_str(o, "host") != NULL || (at = strrchr(rcpt, '@')) == NULL)
		return;
	domain = agg_lower(at + 1);
	t = agg_attempt(a, qid, domain);
	if (!t->policy_seen && !t->counted) {
		t->counted = 1;
		d = agg_domain(a, domain, agg_day(a, ts));
		agg_failure(agg_policy(d, "no-policy-found", NULL, 0), rt,
		    a->sending_ip, NULL, NULL, NULL, agg_str(o, "detail"));
	}
	free(domain);
}

/* The sts event: the attempt's MTA-STS policy, and a failure to get it. */
static void
agg_ev_sts(struct agg *a, const json_t *o, double ts)
{
	const char		*qid = agg_str(o, "queue_id"), *domain =
				    agg_str(o, "domain"), *rt;
	const json_t		*pol = json_object_get(o, "policy");
	struct agg_attempt	*t;
	struct agg_domain	*d;
	char			*dom;

	if (qid == NULL || domain == NULL) {
		a->skipped++;
		return;
	}
	dom = agg_lower(domain);
	t = agg_attempt(a, qid, dom);
	agg_strings_free(&t->sts_lines, &t->nsts_lines);
	agg_strings_free(&t->sts_mx, &t->nsts_mx);
	t->sts_have = json_is_object(pol);
	if (t->sts_have) {
		t->sts_lines = agg_strings(json_object_get(pol, "lines"),
		    &t->nsts_lines);
		t->sts_mx = agg_strings(json_object_get(pol, "mx"),
		    &t->nsts_mx);
	}
	if ((rt = agg_result_type(agg_str(o, "result_type"))) != NULL) {
		d = agg_domain(a, dom, agg_day(a, ts));
		agg_failure(agg_sts_policy(d, t), rt, a->sending_ip, NULL,
		    NULL, NULL, agg_str(o, "detail"));
	}
	free(dom);
}

int
agg_feed_line(struct agg *a, const char *line, size_t len)
{
	json_t		*o;
	json_error_t	 jerr;
	const char	*ev, *qid, *qname, *qtype;
	char		*domain;
	struct agg_attempt *t;
	double		 ts;

	if ((o = json_loadb(line, len, 0, &jerr)) == NULL ||
	    !json_is_object(o) || (ev = agg_str(o, "event")) == NULL) {
		json_decref(o);
		a->skipped++;
		return -1;
	}
	ts = json_number_value(json_object_get(o, "ts"));
	if (ts > 0 && (a->first_ts == 0 || ts < a->first_ts))
		a->first_ts = ts;
	if (ts > a->last_ts)
		a->last_ts = ts;
	if (strcmp(ev, "dns") == 0) {
		qid = agg_str(o, "queue_id");
		qname = agg_str(o, "qname");
		qtype = agg_str(o, "qtype");
		if (qid && qname && qtype && strcmp(qtype, "MX") == 0) {
			/* A new attempt for this (message, domain). */
			domain = agg_lower(qname);
			t = agg_attempt(a, qid, domain);
			t->policy_seen = t->counted = 0;
			free(domain);
		}
	} else if (strcmp(ev, "sts") == 0)
		agg_ev_sts(a, o, ts);
	else if (strcmp(ev, "policy") == 0)
		agg_ev_policy(a, o, ts);
	else if (strcmp(ev, "session") == 0)
		agg_ev_session(a, o, ts);
	else if (strcmp(ev, "deferred") == 0 || strcmp(ev, "bounced") == 0)
		agg_ev_rcpt(a, o, ts);
	json_decref(o);
	return 0;
}

static int
agg_domain_cmp(const void *x, const void *y)
{
	const struct agg_domain	*a = x, *b = y;

	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return strcmp(a->domain, b->domain);
}

struct agg_domain *
agg_domains(struct agg *a, size_t *n)
{
	if (a->ndomains > 1)
		qsort(a->domains, a->ndomains, sizeof(*a->domains),
		    agg_domain_cmp);
	*n = a->ndomains;
	return a->domains;
}

double
agg_first_ts(const struct agg *a)
{
	return a->first_ts;
}

double
agg_last_ts(const struct agg *a)
{
	return a->last_ts;
}

size_t
agg_skipped(const struct agg *a)
{
	return a->skipped;
}

void
agg_free(struct agg *a)
{
	struct agg_domain	*d;
	struct agg_policy	*p;
	struct agg_failure	*f;
	size_t			 i, j, k;

	if (a == NULL)
		return;
	for (i = 0; i < a->ndomains; i++) {
		d = &a->domains[i];
		for (j = 0; j < d->npolicies; j++) {
			p = &d->policies[j];
			for (k = 0; k < p->nstrings; k++)
				free(p->strings[k]);
			free(p->strings);
			for (k = 0; k < p->nmx; k++)
				free(p->mx[k]);
			free(p->mx);
			for (k = 0; k < p->nfailures; k++) {
				f = &p->failures[k];
				free(f->result_type);
				free(f->sending_ip);
				free(f->mx_host);
				free(f->receiving_ip);
				free(f->mx_helo);
				free(f->reason);
			}
			free(p->failures);
			free(p->type);
		}
		free(d->policies);
		free(d->domain);
	}
	free(a->domains);
	for (i = 0; i < a->npols; i++)
		agg_pol_clear(&a->pols[i]);
	free(a->pols);
	for (i = 0; i < a->natts; i++) {
		free(a->atts[i].qid);
		free(a->atts[i].domain);
		agg_strings_free(&a->atts[i].sts_lines,
		    &a->atts[i].nsts_lines);
		agg_strings_free(&a->atts[i].sts_mx, &a->atts[i].nsts_mx);
	}
	free(a->atts);
	free(a->sending_ip);
	free(a);
}
