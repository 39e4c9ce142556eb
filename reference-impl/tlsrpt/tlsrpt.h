/*
 * tlsrpt.h -- the one private header of refsend-tlsrpt, the RFC 8460
 * (SMTP TLS Reporting) reporter of the danelab reference sender.
 *
 * One file per concern; the file name is the prefix of what it exports:
 *
 *	common.h	the code shared with refsend, in ../common/:
 *			xmalloc.c (allocation that never returns NULL), log.c
 *			(JSON-lines events, stderr diagnostics), conf.c (the
 *			key = value lexer), file.c (durable writes, folder
 *			lists), rdata.c (wire names, MX), ubctx.c (the
 *			libunbound set-up), result_type.c (the RFC 8460
 *			result types); linked from
 *			../common/$(BUILD)/libcommon.a
 *	config.c	the configuration keys, defaults and checks
 *	record.c	the _smtp._tls TXT record (RFC 8460 section 3)
 *	agg.c		refsend's events -> per policy domain aggregates
 *	report.c	an aggregate -> the RFC 8460 section 4 JSON report
 *	gz.c		gzip (zlib) compression of a report
 *	mime.c		the report mail (RFC 8460 section 5.3), file name
 *	sign.c		DKIM signature of the report mail (libopendkim)
 *	dns.c		thin DNS interface: TXT, MX, addresses, test knobs
 *	dns_unbound.c	its libunbound implementation (synchronous)
 *	smtp.c		a plain SMTP client for mailto: delivery
 *	https.c		https: delivery (libcurl POST)
 *	pending.c	deliveries waiting for a retry, in state_dir
 *	state.c		state_dir/state.json: how far events were reported
 *	flush.c		the flush and retry commands
 *	tlsrpt.c	main()
 *
 * Conventions: functions returning int return 0 on success and -1 on
 * failure unless said otherwise.  Returned pointers belong to the caller
 * and are released with free() or the matching *_free().  A network or
 * DNS failure is never fatal; running out of memory always is.
 */
#ifndef TLSRPT_H
#define TLSRPT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

/* ----------------------------------------------------------------- config */

/* static_txt / static_route (struct route, common.h: port 0 is smtp_port
 * or the URL's port): lab and test knobs that bypass DNS. */
struct static_txt {
	char	*name;		/* the query name, e.g. _smtp._tls.a.test */
	char	*text;
};

enum period {
	PERIOD_DAILY = 0,	/* complete UTC days only (the default) */
	PERIOD_FLUSH		/* one report per flush, up to now */
};

struct config {
	char			*path;
	char			*events;
	char			*state_dir;
	char			*log;
	char			*resolver;	/* NULL: /etc/resolv.conf */
	char			*trust_anchor;	/* NULL: no validation */
	char			*organization_name;
	char			*contact_info;
	char			*reporting_domain;
	char			*report_from;
	char			*dkim_selector;
	char			*dkim_key;	/* path of a PEM key */
	char			*helo_name;
	char			*sending_mta_ip;
	int			 smtp_port;
	char			*https_ca;
	int			 timeout;
	int			 session_timeout;
	int			*retry;
	size_t			 nretry;
	int			 give_up;	/* seconds */
	enum period		 period;
	struct static_txt	*txts;
	size_t			 ntxts;
	struct route		*routes;
	size_t			 nroutes;
};

/*
 * config_load() parses the file and fills in defaults.  On error it
 * returns NULL with "FILE:LINE: message" in err.  Free with config_free().
 */
struct config	*config_load(const char *, char *, size_t);
void		 config_free(struct config *);
/* The static route for a name (case-insensitive), NULL if none. */
const struct route *config_route(const struct config *, const char *);

/* ----------------------------------------------------------------- record */

/*
 * One parsed _smtp._tls TXT record.  rua[] are the URIs in record order
 * (owned by the struct; record_clear() frees them).
 */
struct record {
	char	**rua;
	size_t	  nrua;
};

enum record_verdict {
	RECORD_OK = 0,		/* exactly one valid v=TLSRPTv1 record */
	RECORD_NONE,		/* no record starts with v=TLSRPTv1 */
	RECORD_SEVERAL,		/* more than one starts with v=TLSRPTv1 */
	RECORD_MALFORMED	/* the one record does not parse */
};

/*
 * record_parse(): parse one TXT record (its strings already joined) per
 * RFC 8460 section 3.  Returns 0 and fills rec, or -1 with a reason in
 * err (rec is then empty).
 * record_select(): apply section 3's rules to every TXT record of the
 * name: records not starting with "v=TLSRPTv1" are discarded; exactly one
 * must remain and parse.  Fills rec on RECORD_OK, else err says why.
 */
int		 record_parse(const char *, struct record *, char *, size_t);
enum record_verdict record_select(char *const *, size_t, struct record *,
		    char *, size_t);
void		 record_clear(struct record *);
/*
 * record_join(): the character-strings of one TXT rdata (wire format)
 * joined into one string (RFC 8460 section 3: a record may be split
 * into several strings), a NUL made DEL; NULL when a string's length runs
 * past the end.  The caller frees it.
 */
char		*record_join(const unsigned char *, size_t);
const char	*record_verdict_name(enum record_verdict);
/* 1 for a "mailto:" or "https:" URI we can deliver to, else 0. */
int		 record_uri_ok(const char *);

/* -------------------------------------------------------------------- agg */

/*
 * agg_result_type() returns the RFC 8460 registry's own string for s
 * (../common/result_types.def), or NULL when s is not a result type.
 */
const char	*agg_result_type(const char *);

struct agg_failure {
	char		*result_type;
	char		*sending_ip;	/* NULL: unknown */
	char		*mx_host;	/* NULL: no MX host (MX bogus) */
	char		*receiving_ip;	/* NULL: no connection */
	char		*mx_helo;	/* NULL: unknown */
	char		*reason;	/* failure-reason-code, never NULL */
	long long	 count;
};

struct agg_policy {
	char			*type;		/* tlsa, no-policy-found */
	char			**strings;	/* sorted "u s m hex" */
	size_t			 nstrings;
	char			**mx;		/* mx-host, in order seen */
	size_t			 nmx;
	long long		 ok;
	long long		 failed;
	struct agg_failure	*failures;
	size_t			 nfailures;
};

struct agg_domain {
	char			*domain;
	time_t			 day;		/* PERIOD_DAILY: the day */
	struct agg_policy	*policies;
	size_t			 npolicies;
};

struct agg;

/*
 * agg_new(sending_mta_ip): an empty aggregator (sending_mta_ip, may be
 * NULL, is used when an event does not say it).  agg_feed_line() feeds
 * one line of refsend's events (docs/refsend-tlsrpt.md says which events
 * count and how); malformed lines are counted and skipped: it returns -1
 * for them, 0 otherwise.  With daily set, each report key is the UTC day
 * of the event.  agg_domains() gives the aggregates (owned by the
 * aggregator) sorted by (day, domain); agg_first_ts() and agg_last_ts()
 * the earliest and latest "ts" of the lines fed; agg_free() releases
 * everything.
 */
struct agg	*agg_new(const char *, int);
int		 agg_feed_line(struct agg *, const char *, size_t);
struct agg_domain *agg_domains(struct agg *, size_t *);
double		 agg_first_ts(const struct agg *);	/* 0: none */
double		 agg_last_ts(const struct agg *);	/* 0: none */
size_t		 agg_skipped(const struct agg *);
void		 agg_free(struct agg *);

/* ----------------------------------------------------------------- report */

struct report_meta {
	const char	*organization_name;
	const char	*contact_info;
	const char	*report_id;
	time_t		 start;
	time_t		 end;
};

/*
 * report_build(): the RFC 8460 section 4 report for one domain aggregate
 * (a new reference, the caller json_decref()s it).  report_dump(): the
 * report as compact text with keys in RFC order (caller frees).
 * report_time(): RFC 3339 UTC ("2026-11-23T01:02:03Z") into buf (>= 21).
 * report_new_id(): a fresh random report id (UUID form, caller frees).
 */
json_t		*report_build(const struct agg_domain *,
		    const struct report_meta *);
char		*report_dump(const json_t *);
const char	*report_time(time_t, char *, size_t);
char		*report_new_id(void);

/* --------------------------------------------------------------------- gz */

/*
 * gz_compress(): data as a gzip member (RFC 1952) into out (appended).
 * gz_decompress(): the reverse (any gzip member).  -1 on a zlib error.
 */
int		 gz_compress(const void *, size_t, struct buf *);
int		 gz_decompress(const void *, size_t, struct buf *);

/* ------------------------------------------------------------------- mime */

struct mime_params {
	const char	*from;		/* report_from address */
	const char	*to;		/* the mailto: address */
	const char	*submitter;	/* reporting_domain */
	const char	*policy_domain;
	const char	*report_id;
	time_t		 start;
	time_t		 end;
	time_t		 date;		/* Date: header */
	const char	*message_id;	/* without <> */
	const char	*boundary;
	const void	*gz;		/* the gzip report */
	size_t		 gzlen;
};

/*
 * mime_filename(): "<submitter>!<policy-domain>!<begin>!<end>.json.gz"
 * (RFC 8460 section 5.1; caller frees).
 * mime_message(): the whole report mail with CRLF line ends, without a
 * DKIM-Signature (caller frees with buf_free()).
 * mime_mailto_addr(): the address of a mailto: URI (percent-decoded,
 * "?hfields" dropped), or NULL if it is not one address (caller frees).
 */
char		*mime_filename(const char *, const char *, time_t, time_t);
void		 mime_message(const struct mime_params *, struct buf *);
char		*mime_mailto_addr(const char *);
/* The headers sign.c signs, NULL-terminated. */
extern const char *const mime_signed_headers[];

/* ------------------------------------------------------------------- sign */

/*
 * sign_message(): prepend a DKIM-Signature (rsa-sha256, relaxed/relaxed,
 * d=domain, s=selector) over mime_signed_headers and the body to the
 * CRLF message msg.  key is the PEM private key text.  fixed_time (0:
 * now) makes the signature reproducible in tests.  -1 with err on a
 * libopendkim failure; msg is then unchanged.
 */
int		 sign_message(struct buf *, const char *, const char *,
		    const char *, time_t, char *, size_t);

/* -------------------------------------------------------------------- dns */

enum dns_status {
	DNS_OK = 0,		/* an answer (maybe empty), secure or not */
	DNS_NOTFOUND,		/* NXDOMAIN or NODATA */
	DNS_BOGUS,		/* DNSSEC validation failed */
	DNS_ERROR		/* SERVFAIL, timeout, ... */
};

/*
 * A list of strings answered for one question.  For TXT each string is
 * one record with its character-strings joined; for MX the host names in
 * preference order; for addresses numeric text, A then AAAA.  secure is
 * 1 when DNSSEC-validated.  Free with dns_list_free().
 */
struct dns_list {
	enum dns_status	  status;
	int		  secure;
	char		**items;
	size_t		  n;
	char		 *why;		/* error or bogus detail, or NULL */
};

struct dns_ops {
	void	(*txt)(void *, const char *, struct dns_list *);
	void	(*mx)(void *, const char *, struct dns_list *);
	void	(*addrs)(void *, const char *, struct dns_list *);
	void	(*free)(void *);
};

struct dns {
	const struct config	*conf;
	const struct dns_ops	*ops;	/* NULL: created on first use */
	void			*impl;
};

/*
 * dns_new(): a resolver for conf; the libunbound context is only made when
 * a question is not covered by static_txt / static_route.  dns_txt(),
 * dns_mx(), dns_addrs() fill a list (always; failures are a status).
 * dns_set_ops(): replace the backend (unit tests).
 */
struct dns	*dns_new(const struct config *);
void		 dns_set_ops(struct dns *, const struct dns_ops *, void *);
void		 dns_txt(struct dns *, const char *, struct dns_list *);
void		 dns_mx(struct dns *, const char *, struct dns_list *);
void		 dns_addrs(struct dns *, const char *, struct dns_list *);
void		 dns_list_add(struct dns_list *, const char *);
void		 dns_list_free(struct dns_list *);
void		 dns_free(struct dns *);
const char	*dns_status_name(enum dns_status);

/* libunbound backend: NULL with err on failure. */
void		*dns_unbound_new(const struct config *, char *, size_t);
extern const struct dns_ops dns_unbound_ops;

/* ------------------------------------------------------------------- smtp */

struct smtp_result {
	int	 code;		/* last SMTP reply code, 0: no reply */
	int	 permanent;	/* 1: 5xx, do not retry */
	char	*detail;	/* what happened (caller frees) */
};

/*
 * smtp_send(address, port, helo, from, to, msg, timeout, session_timeout,
 * res): one plain SMTP session to address:port (numeric) that sends msg
 * from "from" to "to".  STARTTLS is never used: report delivery must not
 * depend on TLS.  Each command has timeout seconds until its whole reply,
 * the session session_timeout seconds.  Returns 0 when the message was
 * accepted, -1 otherwise (res says why).
 */
int		 smtp_send(const char *, int, const char *, const char *,
		    const char *, const struct buf *, int, int,
		    struct smtp_result *);

/*
 * smtp_source_address(): the local address the kernel would use to reach
 * dest (numeric), asked of the routing table without sending anything;
 * refsend does not bind, so this is the address its sessions came from.
 * -1 if there is no route.
 */
int		 smtp_source_address(const char *, char *, size_t);

/* ------------------------------------------------------------------ https */

/*
 * https_post(url, ca_file, address, body, len, timeout, code, detail):
 * POST body (application/tlsrpt+gzip) to url, verifying the server with
 * ca_file (NULL: the system store).  address, if not
 * NULL, is the numeric address to connect to instead of resolving the
 * URL's host (the name is still verified).  Returns 0 on a 2xx answer;
 * else -1.  *code gets the HTTP status (0: no answer), detail a text.
 */
int		 https_post(const char *, const char *, const char *,
		    const void *, size_t, int, long *, char **);
/* Host and port of an https URL into host (>= 256 bytes); -1 if bad. */
int		 https_url_host(const char *, char *, size_t, int *);

/* ---------------------------------------------------------------- pending */

/*
 * A delivery that failed temporarily waits in state_dir/pending/ as
 * NAME.json (its metadata) and NAME.body (the exact bytes to send: the
 * mail for mailto:, the gzip report for https:).
 */
struct pending {
	char	*name;		/* file name stem */
	char	*report_id;
	char	*policy_domain;
	char	*rua;
	time_t	 first_try;
	time_t	 next_try;
	int	 attempts;
};

int		 pending_save(const char *, const struct pending *,
		    const void *, size_t);
/* NULL-terminated list of stems, sorted; free with pending_list_free(). */
char		**pending_list(const char *);
void		 pending_list_free(char **);
int		 pending_load(const char *, const char *, struct pending *,
		    struct buf *);
/*
 * pending_parse(text, len, name, pe): the text of NAME.json into pe (owned
 * by pe: pending_clear()); -1, pe empty, when it is not what
 * pending_save() writes, or a time or the attempt count is out of range.
 */
int		 pending_parse(const char *, size_t, const char *,
		    struct pending *);
int		 pending_remove(const char *, const char *);
void		 pending_clear(struct pending *);
/*
 * pending_next(): the next try after attempts tries, from the retry
 * schedule (its last value repeats), or -1 when that would be past
 * first_try + give_up.
 */
time_t		 pending_next(const struct config *, time_t, int, time_t);

/* ------------------------------------------------------------------ state */

/* How far refsend's events file has been reported. */
struct state {
	long long	offset;		/* bytes consumed */
	long long	inode;		/* of the file they were read from */
	time_t		last_flush;	/* 0: none yet */
};

/*
 * state_parse(): the text of state.json into st; -1 (st zeroed) when it
 * is not an object with the three fields as integers, offset and inode
 * >= 0, last_flush in [0, year 9999].  state_load(): dir/state.json into
 * st (zeroed, with a warning, when missing or unusable: the events are
 * then read from their start).  state_save(): dir/state.json, durably.
 */
int		 state_parse(const char *, size_t, struct state *);
void		 state_load(const char *, struct state *);
int		 state_save(const char *, const struct state *);

/* ------------------------------------------------------------------ flush */

/*
 * flush_run(): report everything in the events file after the saved
 * offset (docs/refsend-tlsrpt.md), deliver to every rua, save the new
 * offset.  retry_run(): retry the pending deliveries that are due (all
 * of them with all set).  Both return 0, or -1 on a setup error (state
 * folder, events file): delivery failures are not errors.
 */
int		 flush_run(const struct config *, struct dns *, time_t);
int		 retry_run(const struct config *, struct dns *, time_t, int);

/* What became of one delivery (the "status" of a delivery event). */
enum deliver_status {
	DELIVER_SENT = 0,	/* accepted (2xx) */
	DELIVER_PENDING,	/* temporary failure: kept for retry */
	DELIVER_FAILED		/* permanent, or given up */
};

#endif /* TLSRPT_H */
