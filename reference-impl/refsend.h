/*
 * refsend.h -- the one private header of the danelab reference sender.
 *
 * The sender is split, OpenSMTPD-like, into one file per concern; the file
 * name is the prefix of the functions it exports:
 *
 *	common.h	the code shared with refsend-tlsrpt, in common/
 *			(common/$(BUILD)/libcommon.a): xmalloc.c (allocation
 *			that never returns NULL), log.c (JSON-lines events,
 *			stderr diagnostics), conf.c (the key = value lexer),
 *			file.c (durable writes, folder lists), rdata.c (wire
 *			names, MX), ubctx.c (the libunbound set-up),
 *			result_type.c (the RFC 8460 result types)
 *	config.c	the configuration keys, defaults and checks
 *	dns.c		the thin DNS interface (answers carry DNSSEC status)
 *	dns_unbound.c	its libunbound implementation (async, libevent)
 *	tlsa.c		TLSA record parsing, usability, "u s m hex" text
 *	policy.c	a destination's DANE policy (RFC 7672 section 2)
 *	dane.c		OpenSSL DANE set-up and verdict (RFC 7672 section 3),
 *			the PKIX verdict for MTA-STS hosts
 *	stspolicy.c	MTA-STS text: TXT record, policy file, MX patterns
 *	stscache.c	the MTA-STS policy cache (durable, per domain)
 *	stsfetch.c	the thin policy-fetch interface
 *	stsfetch_curl.c	its libcurl implementation (multi, libevent)
 *	sts.c		a domain's MTA-STS policy, found and applied
 *	mta.c		one SMTP client session, an explicit state machine
 *	queue.c		the durable on-disk queue
 *	dsn.c		RFC 3464 delivery status notifications
 *	deliver.c	one message's delivery attempt (policy + sessions)
 *	runner.c	the queue runner (run / daemon), max_parallel
 *	refsend.c	main(): submit, run, status, daemon
 *
 * libdanepolicy.a holds dns, dns_unbound, tlsa, policy, dane and
 * stspolicy: with
 * libcommon.a, enough to resolve a destination's policy and judge a TLS
 * peer.
 *
 * Conventions used by every function below:
 *  - "tempfail" means: the operation could not be completed now and must be
 *    retried later; it never means "downgrade".
 *  - Functions returning int return 0 on success and -1 on failure unless
 *    said otherwise; on -1 errno or an error string explains why.
 *  - Returned pointers are owned by the caller unless said otherwise, and
 *    are released with the matching *_free() function.
 */
#ifndef REFSEND_H
#define REFSEND_H

#include <sys/queue.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

struct event_base;
struct ssl_ctx_st;
struct ssl_st;
struct sts_result;

/* ----------------------------------------------------------------- config */

enum level {
	LEVEL_DANE = 0,		/* DANE where secure TLSA, else opportunistic */
	LEVEL_DANE_ONLY,	/* DANE or nothing */
	LEVEL_MAY,		/* opportunistic TLS, DANE not evaluated */
	LEVEL_EXCLUDE,		/* excluded: DANE not evaluated (as may) */
	LEVEL_STATIC		/* test knob static_route: no DNS, no DANE */
};

struct policy_entry {
	char		*domain;
	enum level	 level;
};

struct config {
	char			*path;
	char			*queue_dir;
	char			*events;
	char			*dsn_dir;
	char			*resolver;	/* NULL: /etc/resolv.conf */
	char			*trust_anchor;
	char			*helo_name;
	int			 smtp_port;
	int			 connect_timeout;
	int			 command_timeout;
	int			 tls_timeout;
	int			 session_timeout;
	int			*retry;		/* retry_schedule */
	size_t			 nretry;
	int			 max_attempts;
	int			 max_parallel;
	enum level		 default_policy;
	struct policy_entry	*policies;
	size_t			 npolicies;
	struct route		*routes;	/* static_route (test knob;
						 * port 0: smtp_port) */
	size_t			 nroutes;
	int			 half_dane;
	int			 daemon_interval;
	int			 dns_timeout;
	int			 sts;		/* MTA-STS on (RFC 8461) */
	char			*sts_ca_file;	/* NULL: system bundle */
	int			 sts_timeout;	/* one policy fetch */
	int			 clock_offset;	/* test knob: the MTA-STS
						 * cache's clock is time() +
						 * this */
};

/*
 * config_load() parses the file and fills in defaults.  On error it returns
 * NULL and puts a message ("FILE:LINE: ...") into the buffer.  The caller
 * frees the result with config_free().
 */
struct config	*config_load(const char *, char *, size_t);
void		 config_free(struct config *);
/* Level for a recipient domain (exact match, case-insensitive). */
enum level	 config_level(const struct config *, const char *);
/* The static route for a domain, or NULL.  Owned by the config. */
const struct route *config_route(const struct config *, const char *);
/* Level names (in policy.c, part of the library): "dane", "dane-only",
 * "may", "exclude", "static".  level_parse() returns -1 if unknown. */
const char	*level_name(enum level);
int		 level_parse(const char *, enum level *);

/* -------------------------------------------------------------------- dns */

enum dns_sec {
	DNS_SECURE = 0,		/* validated by DNSSEC */
	DNS_INSECURE,		/* provably unsigned (or no trust anchor) */
	DNS_BOGUS,		/* validation failed: never use */
	DNS_ERROR		/* SERVFAIL, timeout, ...: indeterminate */
};

/*
 * One answer.  data[i]/len[i] are the wire-format rdata of the RRset at
 * the end of any CNAME chain; canonname is that chain's last name (NULL
 * when the query name was not an alias).  nxdomain/nodata say which kind
 * of empty answer it is.  status covers the whole chain: one insecure link
 * makes the answer insecure.  An answer is owned by the callback that
 * receives it, which must free it with dns_answer_free().
 */
struct dns_answer {
	char		 *qname;
	int		  qtype;
	enum dns_sec	  status;
	int		  rcode;
	int		  nxdomain;
	int		  nodata;
	char		 *canonname;
	size_t		  count;
	unsigned char	**data;
	size_t		 *len;
	char		 *why_bogus;
	int		  ttl;		/* seconds (secure, insecure) */
};

typedef void (*dns_cb)(void *, struct dns_answer *);

struct dns;
struct dns_ops {
	/* Start a query; cb is called exactly once, later (never from
	 * inside resolve).  Returns -1 if the query could not start. */
	int	(*resolve)(struct dns *, const char *, int, dns_cb, void *);
	void	(*free)(struct dns *);
	/* NULL, or: answer every query in flight, and every query asked
	 * from now on, with DNS_ERROR at once (still later, never from
	 * inside interrupt or resolve): the process is stopping. */
	void	(*interrupt)(struct dns *);
};

struct dns {
	const struct dns_ops	*ops;
	void			*impl;
};

#define DNS_T_A		1
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

int		 dns_resolve(struct dns *, const char *, int, dns_cb, void *);
void		 dns_free(struct dns *);
void		 dns_interrupt(struct dns *);
struct dns_answer *dns_answer_new(const char *, int);
void		 dns_answer_add(struct dns_answer *, const void *, size_t);
void		 dns_answer_free(struct dns_answer *);
const char	*dns_sec_name(enum dns_sec);
/* "secure", "nodata-secure", "nxdomain-insecure", "bogus", "error" ... */
const char	*dns_status_text(const struct dns_answer *);
const char	*dns_type_name(int);
/* 1 if the string is a syntactically valid host name (LDH labels). */
int		 dns_valid_hostname(const char *);
/* Record i of an A or AAAA answer as a numeric address in buf; -1 if it
 * is not one or does not fit. */
int		 dns_address(const struct dns_answer *, size_t, char *, size_t);
/* The "dns" event of an answer; tag (the queue id) may be NULL. */
void		 dns_event(const char *, const struct dns_answer *);

/*
 * dns_unbound_new(): the libunbound implementation, integrated into the
 * event base (ub_fd watched for reading).  resolver: address to forward
 * to (NULL: /etc/resolv.conf); trust_anchor: a DS/DNSKEY file; timeout:
 * seconds after which a query is answered DNS_ERROR.  Returns NULL with a
 * message in err on failure.  Free with dns_free() (pending callbacks are
 * then never called).
 */
struct dns	*dns_unbound_new(struct event_base *, const char *,
		    const char *, int, char *, size_t);
/*
 * dns_cache_new(base, inner): inner's answers kept for their TTL (at most
 * 5 minutes; secure and insecure ones only), a question asked while the
 * same one is on its way waiting for its answer (dns_cache.c).  Owns
 * inner (dns_free() frees both); NULL if inner is NULL.
 */
struct dns	*dns_cache_new(struct event_base *, struct dns *);

/* ------------------------------------------------------------------- tlsa */

enum tlsa_usage {
	TLSA_PKIX_TA = 0, TLSA_PKIX_EE = 1, TLSA_DANE_TA = 2, TLSA_DANE_EE = 3
};

/*
 * One TLSA record.  usable is 1 when RFC 7672 section 3.1 lets an SMTP
 * client use it (usage 2 or 3, selector 0 or 1, matching type 0, 1 or 2,
 * digest of the right length, full data that parses); otherwise why says
 * what is wrong ("usage-pkix", "bad-selector", ...).
 */
struct tlsa {
	uint8_t		 usage;
	uint8_t		 selector;
	uint8_t		 mtype;
	unsigned char	*data;
	size_t		 len;
	int		 usable;
	const char	*why;
	char		*text;		/* "u s m hex" */
};

/* Parse one rdata into rec (fields owned by rec; tlsa_clear() frees them).
 * Returns -1 when the rdata is shorter than 3 octets. */
int		 tlsa_parse(const unsigned char *, size_t, struct tlsa *);
void		 tlsa_clear(struct tlsa *);
/* "u s m hex" (lowercase hex); the caller frees the string. */
char		*tlsa_text(uint8_t, uint8_t, uint8_t, const unsigned char *,
		    size_t);

/* ----------------------------------------------------------------- policy */

/* What the sender will do with one MX host (RFC 7672 section 2.2). */
enum host_mode {
	HOST_DANE = 0,	/* usable TLSA: TLS required, peer authenticated */
	HOST_ENCRYPT,	/* TLSA present, none usable: TLS required, no auth */
	HOST_MAY,	/* no DANE: opportunistic TLS, cleartext allowed */
	HOST_STS,	/* MTA-STS enforce: TLS required, PKIX-authenticated
			 * for the MX host name (sts_apply()) */
	HOST_SKIP	/* must not be used in this attempt */
};

struct policy_host {
	char		*name;		/* MX host name as in the MX RRset */
	int		 pref;
	char		*canon;		/* CNAME-expanded name, or NULL */
	enum dns_sec	 addr_status;
	char		**addrs;	/* numeric addresses, A then AAAA */
	size_t		 naddrs;
	int		 tlsa_looked_up;
	enum dns_sec	 tlsa_status;
	char		*tlsa_qname;	/* last TLSA name asked */
	struct tlsa	*tlsa;
	size_t		 ntlsa;
	size_t		 nusable;
	char		*tlsa_base;	/* also the SNI name */
	enum host_mode	 mode;
	const char	*reason;	/* HOST_SKIP: RFC 8460 type or text */
	const char	*dsn;		/* HOST_SKIP: "4.7.5" ... */
	char		*detail;
	/* set by sts_apply(): */
	const char	*governed;	/* dane, sts-enforce, sts-testing,
					 * none */
	int		 sts_check;	/* MTA-STS testing: judge the
					 * certificate, report, deliver */
	int		 sts_mismatch;	/* the name fits no pattern */
	const char	*sts_failure;	/* its RFC 8460 type (detail says
					 * why), found before connecting */
	/* private: lookups in flight */
	int		 pending;
	struct dns_answer *ans_a;
	struct dns_answer *ans_aaaa;
};

enum policy_outcome {
	POLICY_OK = 0,		/* try the hosts, in order */
	POLICY_DEFER,		/* tempfail before connecting (reason, dsn) */
	POLICY_BOUNCE		/* permanent (null MX, NXDOMAIN) */
};

struct policy {
	char			*domain;
	enum level		 level;
	int			 half_dane;
	int			 port;
	char			*tag;		/* queue id, for events */
	enum dns_sec		 mx_status;
	int			 implicit_mx;
	enum policy_outcome	 outcome;
	const char		*reason;
	const char		*dsn;
	char			*detail;
	struct policy_host	*hosts;		/* preference order */
	size_t			 nhosts;
	const struct sts_result	*sts;		/* sts_apply(): not owned */
	/* private */
	struct dns		*dns;
	int			 pending;
	void			(*cb)(void *, struct policy *);
	void			*arg;
};

/*
 * policy_resolve() starts resolving the DANE policy of a destination
 * domain at the given level: MX (or implicit MX), each host's A/AAAA, and
 * TLSA where RFC 7672 section 2.2 says so.  It emits the dns events,
 * tagged with tag.  cb(arg, policy) is called exactly once, later; the
 * callback owns the policy and frees it with policy_free().  A DNS
 * failure is never an error here: it becomes POLICY_DEFER or a HOST_SKIP.
 * policy_log() emits the mx event and one policy event per host, once
 * the caller has applied what else governs the hosts (sts_apply()); it
 * emits nothing when the MX step ended the resolution (no hosts).
 */
void		 policy_resolve(struct dns *, const char *, enum level, int,
		    int, const char *, void (*)(void *, struct policy *),
		    void *);
void		 policy_log(struct policy *);
void		 policy_free(struct policy *);
const char	*host_mode_name(enum host_mode);

/* -------------------------------------------------------------- stspolicy */

#define STS_MAX_BODY	65536		/* RFC 8461 section 3.2: 64 KiB */
#define STS_MAX_AGE	31557600	/* RFC 8461 section 3.2: a year */
#define STS_ID_MAX	32		/* RFC 8461 section 3.1 */

enum sts_mode {
	STS_MODE_NONE = 0,	/* as if there were no policy */
	STS_MODE_TESTING,	/* deliver as without one, report failures */
	STS_MODE_ENFORCE	/* matching MX hosts, PKIX-valid TLS, or wait */
};

/*
 * A parsed MTA-STS policy (RFC 8461 section 3.2).  mx: the patterns, lower
 * case, without a final dot; lines: the file's lines without their
 * terminators, as published (the TLSRPT policy-string).  Everything is
 * owned by the struct: stspolicy_clear() frees it and zeroes the struct.
 */
struct sts_policy {
	enum sts_mode	 mode;
	int		 max_age;	/* seconds */
	char		**mx;
	size_t		 nmx;
	char		**lines;
	size_t		 nlines;
};

/*
 * stspolicy_parse(body, len, p, err, errlen) reads a policy file (its
 * rules are at the top of stspolicy.c).  Returns 0 and fills p, or -1 with
 * why in err and p empty.  Pure: no I/O.
 */
int		 stspolicy_parse(const char *, size_t, struct sts_policy *,
		    char *, size_t);
void		 stspolicy_clear(struct sts_policy *);
/* "none", "testing", "enforce". */
const char	*stspolicy_mode_name(enum sts_mode);
/* 1 when MX host name host fits pattern (RFC 8461 section 4.1), else 0. */
int		 stspolicy_pattern_match(const char *, const char *);
/* 1 when host fits one of the policy's patterns. */
int		 stspolicy_match(const struct sts_policy *, const char *);

enum sts_txt {
	STS_TXT_OK = 0,		/* one v=STSv1 record with a good id */
	STS_TXT_NONE,		/* no record begins with v=STSv1; */
	STS_TXT_SEVERAL,	/* more than one does */
	STS_TXT_MALFORMED	/* the one that does has no good id */
};

/*
 * stspolicy_txt(recs, n, id, err, errlen): RFC 8461 section 3.1 over the
 * TXT records of _mta-sts.<domain> (each record's strings joined).  On
 * STS_TXT_OK the id is copied into id (STS_ID_MAX + 1 bytes); otherwise
 * err says why there is no record to use.
 */
enum sts_txt	 stspolicy_txt(char *const *, size_t, char *, char *,
		    size_t);
/* "ok", "none", "several", "malformed". */
const char	*stspolicy_txt_name(enum sts_txt);
/* {"mode": ..., "id": ...} of the policy that applies, or JSON null when
 * r is NULL or none applies.  A new reference. */
json_t		*stspolicy_brief(const struct sts_result *);

/* --------------------------------------------------------------- stsfetch */

/*
 * The result of one policy fetch (RFC 8461 section 3.3).  ok: a 200
 * answer, media type text/plain, at most STS_MAX_BODY octets, now in body
 * (len octets, NUL-terminated).  Otherwise result_type is the RFC 8460
 * type of the failure: sts-webpki-invalid (the certificate of the policy
 * host does not verify) or sts-policy-fetch-error (anything else).
 * detail always says what happened.  interrupted: the fetch was cancelled
 * because the process is stopping (stsfetch_interrupt()); result_type is
 * then NULL: that is no failure of the policy host.  Owned by the
 * callback that receives it, which frees it with stsfetch_result_free().
 */
struct sts_fetched {
	int		 ok;
	int		 interrupted;
	long		 http_code;	/* 0: no HTTP answer */
	const char	*result_type;
	char		*body;
	size_t		 len;
	char		*detail;
};

typedef void (*stsfetch_cb)(void *, struct sts_fetched *);

struct stsfetch;
struct stsfetch_ops {
	/* Fetch https://HOST/.well-known/mta-sts.txt from one of the
	 * numeric addresses; cb is called exactly once, later (never from
	 * inside get). */
	void	(*get)(struct stsfetch *, const char *, char *const *,
		    size_t, stsfetch_cb, void *);
	void	(*free)(struct stsfetch *);
	/* NULL, or: cancel every fetch in flight, and answer every fetch
	 * asked from now on, with an interrupted result (still later,
	 * never from inside interrupt or get): the process is stopping. */
	void	(*interrupt)(struct stsfetch *);
};

struct stsfetch {
	const struct stsfetch_ops	*ops;
	void				*impl;
};

void		 stsfetch_get(struct stsfetch *, const char *, char *const *,
		    size_t, stsfetch_cb, void *);
/* Fetches still pending are dropped: their callbacks are never called. */
void		 stsfetch_free(struct stsfetch *);
/* The process is stopping (the interrupt op above); f may be NULL. */
void		 stsfetch_interrupt(struct stsfetch *);
void		 stsfetch_result_free(struct sts_fetched *);
/*
 * stsfetch_curl_new(base, ca, timeout): the libcurl fetcher on the event
 * base (stsfetch_curl.c says how it fetches).  ca: a PEM file of the CAs
 * to trust (NULL: libcurl's default bundle); timeout: seconds for a whole
 * fetch.  Free it with stsfetch_free().
 */
struct stsfetch	*stsfetch_curl_new(struct event_base *, const char *, int);

/* --------------------------------------------------------------- stscache */

/*
 * One cached MTA-STS policy (stscache.c says where and how it is kept):
 * the policy domain, the id of the TXT record it was fetched under, when
 * it was fetched (the sender's clock: time() + clock_offset), the text as
 * fetched and that text parsed.  text and policy are owned by the struct;
 * stscache_clear() frees them.
 */
struct sts_cached {
	char			 domain[256];
	char			 id[STS_ID_MAX + 1];
	time_t			 fetched;
	char			*text;
	size_t			 len;
	struct sts_policy	 policy;
};

/* What to do about a domain's policy (RFC 8461 section 5.1). */
enum sts_step {
	STS_STEP_CACHED = 0,	/* apply the cached policy, fetch nothing */
	STS_STEP_FETCH,		/* fetch the policy now */
	STS_STEP_NONE		/* no policy applies */
};

/*
 * stscache_load(dir, domain, c): the entry of domain (lower case) in dir.
 * 0, or -1 with errno ENOENT (none) or EINVAL (unreadable, not a policy,
 * or a domain that is not a host name); c is then empty.
 * stscache_save(dir, tmpdir, c): write c durably into dir (created if
 * missing) through a temporary file in tmpdir.  -1 with errno on failure.
 */
int		 stscache_load(const char *, const char *, struct sts_cached *);
int		 stscache_save(const char *, const char *,
		    const struct sts_cached *);
void		 stscache_clear(struct sts_cached *);
/* 1 when c (may be NULL) is younger than its max_age at now. */
int		 stscache_fresh(const struct sts_cached *, time_t);
/*
 * stscache_decide(c, txt_id, now): c is the cached entry (NULL: none),
 * txt_id the id of the domain's one usable v=STSv1 TXT record (NULL: no
 * usable record, or its lookup failed).  A fresh entry with that id (or
 * with no usable record at all) is applied as it is; a new id, an expired
 * entry or none is fetched; no record and nothing fresh means no policy.
 * stscache_fallback(c, now): after a failed fetch, the fresh cached entry
 * if there is one (STS_STEP_CACHED), else STS_STEP_NONE.
 */
enum sts_step	 stscache_decide(const struct sts_cached *, const char *,
		    time_t);
enum sts_step	 stscache_fallback(const struct sts_cached *, time_t);

/* -------------------------------------------------------------------- sts */

/* What sts_resolve() works with: borrowed, valid while it runs. */
struct sts_ctx {
	struct dns	*dns;
	struct stsfetch	*fetch;
	const char	*cache_dir;	/* <queue_dir>/sts */
	const char	*tmp_dir;	/* <queue_dir>/tmp */
	int		 clock_offset;	/* seconds added to time() */
};

/*
 * A domain's MTA-STS policy for one delivery attempt.  have: a policy
 * applies (id, policy; its mode may be none), from source "cache" or
 * "fetch".  result_type: the RFC 8460 type of a failure to get the policy
 * this time (sts-policy-fetch-error, sts-webpki-invalid,
 * sts-policy-invalid; NULL: none), detail what it was; a fresh cached
 * policy may still apply then.  Freed with sts_result_free().
 */
struct sts_result {
	char			*domain;
	int			 have;
	char			 id[STS_ID_MAX + 1];
	struct sts_policy	 policy;
	const char		*source;
	const char		*result_type;
	char			*detail;
};

/*
 * sts_resolve(ctx, domain, tag, cb, arg): find domain's policy (sts.c
 * says how), emitting dns events and one "sts" event tagged with tag (may
 * be NULL).  cb(arg, result) is called exactly once, later; the callback
 * owns the result.  No failure is an error: at worst no policy applies.
 */
void		 sts_resolve(const struct sts_ctx *, const char *,
		    const char *, void (*)(void *, struct sts_result *),
		    void *);
void		 sts_result_free(struct sts_result *);
/*
 * sts_apply(p, r): which policy governs each host of p (r may be NULL: no
 * MTA-STS), setting governed, and per r's mode: HOST_STS (enforce) or
 * sts_check (testing), and sts_mismatch with sts_failure and detail for a
 * host outside the policy.  p keeps a pointer to r, which must outlive
 * p's use.
 */
void		 sts_apply(struct policy *, const struct sts_result *);

/* ------------------------------------------------------------------- dane */

/*
 * The verdict on a TLS peer after the handshake.  authenticated is 1 only
 * for HOST_DANE when a usable TLSA record matched and, for DANE-TA, the
 * chain and the names checked out.  ok says whether mail may be sent on
 * this connection.  matched is "u s m hex" (owned by the struct, freed by
 * dane_result_clear()), depth the chain depth of the matched certificate.
 */
struct dane_result {
	int		 ok;
	int		 authenticated;
	int		 pkix;		/* HOST_STS: chain, dates, MX name */
	char		*matched;
	int		 depth;
	const char	*result_type;	/* RFC 8460 type, NULL on success */
	char		*detail;
	long		 verify_error;
};

/* A client SSL_CTX with DANE enabled (SSL_CTX_dane_enable) and no other
 * trust anchors.  NULL with OpenSSL's error queue on failure. */
struct ssl_ctx_st *dane_ctx_new(void);
/* A client SSL_CTX for MTA-STS hosts: PKIX with the CAs of the PEM file
 * ca (NULL: OpenSSL's default paths).  NULL if it cannot be loaded. */
struct ssl_ctx_st *dane_pkix_ctx_new(const char *);
/*
 * dane_ssl_new(): an SSL for one connection to a host in mode (HOST_DANE,
 * HOST_ENCRYPT, HOST_MAY or HOST_STS).  For HOST_DANE it enables DANE with
 * the TLSA base domain, adds every usable record (unusable ones are
 * skipped: the count added is stored in *added), and the reference
 * identifiers (base domain, MX host name, and nexthop: the recipient
 * domain when the MX RRset was secure, NULL otherwise; RFC 7672 section
 * 3.2.2).  For HOST_STS the MX host name is the name to verify (the
 * SSL_CTX must be dane_pkix_ctx_new()'s).  SNI is sni (may be NULL for
 * HOST_MAY).
 * tag (the session id, may be NULL) starts its diagnostic lines.
 * Returns NULL on resource failure.  The caller frees it with SSL_free()
 * (or through the bufferevent that takes it over).
 */
struct ssl_st	*dane_ssl_new(struct ssl_ctx_st *, enum host_mode,
		    const char *, const char *, const char *,
		    const struct tlsa *, size_t, size_t *, const char *);
/* After a completed handshake: fill in the verdict for mode (HOST_STS:
 * the PKIX one, pkix set on success). */
void		 dane_verdict(struct ssl_st *, enum host_mode,
		    struct dane_result *);
void		 dane_result_clear(struct dane_result *);

/* ------------------------------------------------------------------ queue */

enum rcpt_state {
	RCPT_PENDING = 0, RCPT_DELIVERED, RCPT_BOUNCED
};

struct qrcpt {
	char		*addr;
	enum rcpt_state	 state;
	char		 dsn[16];	/* last status code, "" if none */
	char		*reason;	/* last reason, NULL if none */
	/* per attempt (not stored) */
	int		 done;
	int		 bounce;	/* bounce at the end of the attempt */
	char		*detail;
	char		*host;
	char		*session;	/* mta_id() behind it, or NULL */
};

struct qmsg {
	char		 id[40];
	char		*from;
	char		*message_id;
	time_t		 created;
	time_t		 next_try;
	int		 attempts;
	struct qrcpt	*rcpts;
	size_t		 nrcpts;
	char		*data;		/* CRLF message, loaded on demand */
	size_t		 len;
};

/*
 * The queue lives in dir: tmp/ (files being written), msg/ID (the message,
 * immutable once renamed in), env/ID (envelope and state, replaced
 * atomically).  A message exists from the moment env/ID is renamed in
 * and both directories are fsync'ed.
 *
 * queue_init(): create the folders.  queue_submit(): normalise data to CRLF,
 * add a Message-ID if missing, write it durably; returns the new message
 * (caller frees with qmsg_free()) or NULL with errno.  queue_load(): read
 * env/ID (NULL + errno on failure).  queue_load_data(): read msg/ID into m.
 * queue_save(): write env/ID atomically and durably.  queue_remove():
 * delete both files once every recipient is final.  queue_list(): sorted
 * ids, NULL-terminated, free with queue_list_free().  queue_lock():
 * exclusive runner lock (returns an fd, -1 if already held).
 */
int		 queue_init(const char *);
struct qmsg	*queue_submit(const char *, const char *, char *const *,
		    size_t, const char *, size_t, const char *);
struct qmsg	*queue_load(const char *, const char *);
int		 queue_load_data(const char *, struct qmsg *);
int		 queue_save(const char *, const struct qmsg *);
/*
 * A delivery recorded in the shortest time after the server's 250:
 * queue_prepare(dir, m, delivered, path, len) writes env/ID's next text
 * (m, with the recipients i where delivered[i] is set marked delivered,
 * status 2.0.0) under tmp/ and fsyncs it, before the reply; path gets its
 * name ("" on -1).  queue_commit(dir, m, path) renames it into env/: with
 * queue_sync(), the one step left after the 250.  queue_discard(path)
 * removes one that is not needed ("" : nothing).  queue_done(dir, id):
 * the 250 that leaves no recipient pending needs no new envelope: env/ID
 * is unlinked (the message no longer exists, so it is never sent again);
 * msg/ID goes with queue_remove() at the end of the attempt.
 * queue_sync(dir) fsyncs env/: a commit or done is durable once it
 * returns 0 (one fsync serves every rename and unlink made before it).
 * Each returns -1 (errno) on failure.
 */
int		 queue_prepare(const char *, const struct qmsg *, const int *,
		    char *, size_t);
int		 queue_commit(const char *, const struct qmsg *, const char *);
int		 queue_done(const char *, const char *);
int		 queue_sync(const char *);
void		 queue_discard(const char *);
int		 queue_remove(const char *, const char *);
char		**queue_list(const char *);
void		 queue_list_free(char **);
int		 queue_lock(const char *);
void		 qmsg_free(struct qmsg *);
/*
 * queue_expire(dir, key, max_attempts): the messages whose queue id or
 * Message-ID is key get attempts = max_attempts - 1 and are due now, so a
 * failed next attempt bounces them (expire.c).  Returns how many matched,
 * -1 (errno) when one could not be saved.
 */
int		 queue_expire(const char *, const char *, int);
/*
 * The two readers, without I/O (queue_load() and queue_submit() use them,
 * and so does the fuzz target).  queue_env_parse(id, text, len): the text
 * of env/ID into a new message (caller frees with qmsg_free()), or NULL
 * (EINVAL) when it is not what queue_save() writes: only printable ASCII
 * lines, known keys, the right id, numbers in range (times in [0, year
 * 9999], attempts in [0, 1000000]), addresses refsend can send to, at
 * least one recipient.  queue_message(data, len, id, helo, &outlen,
 * &message_id): a submitted message as queued: CRLF line ends and a final
 * CRLF, a "Message-ID: <ID@HELO>" header added when it has none;
 * *message_id gets the Message-ID without <> and made safe (log_safe()).
 * The caller frees both.
 */
struct qmsg	*queue_env_parse(const char *, const char *, size_t);
char		*queue_message(const char *, size_t, const char *, const char *,
		    size_t *, char **);
/* Durable write (file_write()) of dir/name through a tmp file in tmpdir. */
int		 queue_write_file(const char *, const char *, const char *,
		    const char *, size_t);

/* -------------------------------------------------------------------- dsn */

/*
 * dsn_format() builds an RFC 3464 multipart/report (report-type=
 * delivery-status) for the bounced recipients of m (state RCPT_BOUNCED and
 * done set this attempt).  Returns a string the caller frees.
 * dsn_write() writes it durably into dsn_dir as ID.N.eml and returns its
 * path (caller frees), or NULL with errno.
 */
char		*dsn_format(const struct qmsg *, const char *, time_t,
		    const char *);
char		*dsn_write(const char *, const char *, const char *);

/* -------------------------------------------------------------------- mta */

struct mta_session;
struct mta_result;

struct mta_rcpt {
	const char	*addr;
	int		 code;		/* RCPT reply, then final reply */
	char		*reply;
	int		 delivered;
};

struct mta_params {
	const char		*queue_id;
	const char		*domain;	/* policy (recipient) domain */
	const char		*nexthop;	/* domain, as a DANE-TA reference
						 * identifier: set only after a
						 * secure MX lookup; or NULL */
	const char		*host;		/* MX host name */
	const char		*address;
	int			 port;
	enum host_mode		 mode;
	const char		*tlsa_base;
	const struct tlsa	*tlsa;
	size_t			 ntlsa;
	const char		*helo;
	const char		*from;
	const char		*data;
	size_t			 len;
	int			 connect_timeout;
	int			 command_timeout;	/* per reply */
	int			 tls_timeout;
	int			 session_timeout;	/* 0: none */
	struct ssl_ctx_st	*ssl_ctx;	/* HOST_STS, sts_check: a
						 * dane_pkix_ctx_new() one */
	int			 sts_check;	/* judge the certificate
						 * (PKIX), report, go on */
	int			 sts_mismatch;	/* MTA-STS: the host fits
						 * no pattern: HOST_STS ends
						 * after the handshake,
						 * sts_check reports it */
	const char		*governed;	/* for the session event */
	const struct sts_result	*sts;		/* NULL: no MTA-STS */
	struct event_base	*base;
	int			 fd;	/* >= 0: a connected socket to use
					 * instead of address (unit tests);
					 * -1 otherwise */
	/*
	 * NULL, or called once, from inside the session, the moment the
	 * transaction has its result (the final reply to the message, or
	 * every recipient refused), before QUIT: with mta_start()'s arg,
	 * the session and its result (outcome MTA_OK; the rcpts hold their
	 * final codes and delivered flags).  Whatever the session meets
	 * afterwards changes neither.  What settled() writes is written
	 * before the session goes on: it returns 0 to go on at once (QUIT),
	 * 1 to hold the session (nothing sent, nothing read) until
	 * mta_resume().
	 */
	int			(*settled)(void *, struct mta_session *,
				    struct mta_result *);
	/* NULL, or called once, with mta_start()'s arg, when the whole
	 * message has been written and its reply not yet read. */
	void			(*sent)(void *, struct mta_session *);
};

enum mta_outcome {
	MTA_OK = 0,		/* the transaction ran: see each rcpt */
	MTA_HOSTFAIL,		/* try the next address / host */
	MTA_PERMFAIL		/* 5xx for the whole message: bounce */
};

struct mta_result {
	enum mta_outcome	 outcome;
	int			 tls;
	struct dane_result	 dane;
	struct dane_result	 sts;		/* sts_check: PKIX verdict */
	const char		*reason;	/* RFC 8460 type or text */
	const char		*dsn;
	char			*detail;
	char			 dsnbuf[16];
};

/*
 * mta_start() opens one SMTP session and runs one transaction for rcpts
 * (count given) with the given parameters, which must stay valid until
 * done(arg, result) is called, exactly once, later.  The result is owned
 * by the session and valid until mta_free(); done must call mta_free().
 * It emits the "session" event.
 */
struct mta_session *mta_start(const struct mta_params *, struct mta_rcpt *,
		    size_t, void (*)(void *, struct mta_session *,
		    struct mta_result *), void *);
void		 mta_free(struct mta_session *);
/*
 * The session id: 16 lower-case hex digits, never the same for two
 * sessions of one process.  It starts every diagnostic line of the session
 * ("ID mta state from=ehlo to=starttls") and is the "session" field of its
 * events.  Owned by the session, valid until mta_free().
 */
const char	*mta_id(const struct mta_session *);
/*
 * mta_interrupt(): the process is stopping.  The session ends at once,
 * without QUIT, as a host failure (reason "interrupted") unless its
 * result is settled, which it keeps; done() is called as usual, later.
 * Without force, a session waiting for the reply to its message (which
 * may be the 250) is left alone, and 1 is returned; else 0.
 */
int		 mta_interrupt(struct mta_session *, int);
/* A session held by its settled() goes on (QUIT); else nothing. */
void		 mta_resume(struct mta_session *);

/* ---------------------------------------------------------------- deliver */

struct deliver_job;

/* Zeroed, then the first four fields set by the caller. */
struct deliver_ctx {
	struct config		*conf;
	struct dns		*dns;
	struct event_base	*base;
	struct ssl_ctx_st	*ssl_ctx;	/* DANE, opportunistic */
	struct ssl_ctx_st	*sts_ssl_ctx;	/* MTA-STS (conf->sts); with
						 * OpenSSL's default CAs, NULL
						 * until an MTA-STS host */
	struct sts_ctx		 sts;		/* MTA-STS (conf->sts) */
	/* private */
	int			 stopping;	/* deliver_interrupt() */
	LIST_HEAD(, deliver_job) jobs;		/* attempts under way */
	TAILQ_HEAD(, deliver_domain) syncs;	/* records to fsync */
	int			 syncs_init;
	int			 sync_armed;	/* deliver_sync() scheduled */
};

/*
 * deliver_start(): one delivery attempt of message m (already loaded with
 * its data): per recipient domain, resolve the policy and try the hosts.
 * Recipient states are saved durably the moment they change.  done(arg, m)
 * is called once, later; m stays owned by the caller.
 */
void		 deliver_start(struct deliver_ctx *, struct qmsg *,
		    void (*)(void *, struct qmsg *), void *);
/*
 * deliver_interrupt(): the process is stopping.  No new session starts;
 * DNS lookups and MTA-STS policy fetches in flight end (dns_interrupt(),
 * stsfetch_interrupt()) and so do sessions
 * (mta_interrupt(); with force unset, those waiting for the reply to
 * their message are spared).  The recipients left are deferred with
 * reason "interrupted", and that attempt is not counted.  Every done()
 * still comes, later.  Returns how many sessions were spared.
 */
int		 deliver_interrupt(struct deliver_ctx *, int);
/* Status code of an SMTP reply: its enhanced code or one made from the
 * basic code.  buf must hold 16 bytes. */
const char	*deliver_status_of_reply(int, const char *, char *, size_t);

/* ----------------------------------------------------------------- runner */

/* Run one pass (all: ignore next_try) or, with daemon set, forever
 * (until SIGTERM/SIGINT).  Returns 0, or -1 on a setup error. */
int		 runner_run(struct config *, int, int);

#endif /* REFSEND_H */
