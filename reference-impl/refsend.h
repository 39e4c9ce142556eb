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
 *	dane.c		OpenSSL DANE set-up and verdict (RFC 7672 section 3)
 *	mta.c		one SMTP client session, an explicit state machine
 *	queue.c		the durable on-disk queue
 *	dsn.c		RFC 3464 delivery status notifications
 *	deliver.c	one message's delivery attempt (policy + sessions)
 *	runner.c	the queue runner (run / daemon), max_parallel
 *	refsend.c	main(): submit, run, status, daemon
 *
 * libdanepolicy.a holds dns, dns_unbound, tlsa, policy and dane: with
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

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

struct event_base;
struct ssl_ctx_st;
struct ssl_st;

/* ----------------------------------------------------------------- config */

enum level {
	LEVEL_DANE = 0,		/* DANE where secure TLSA, else opportunistic */
	LEVEL_DANE_ONLY,	/* DANE or nothing */
	LEVEL_MAY,		/* opportunistic TLS, DANE not evaluated */
	LEVEL_EXCLUDE,		/* excluded: DANE not evaluated (as may) */
	LEVEL_STATIC		/* test knob static_route: no DNS, no DANE */
};

struct route {
	char	*domain;
	char	*address;	/* numeric IPv4 or IPv6 */
	int	 port;		/* 0: smtp_port */
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
	int			*retry;		/* retry_schedule */
	size_t			 nretry;
	int			 max_attempts;
	int			 max_parallel;
	enum level		 default_policy;
	struct policy_entry	*policies;
	size_t			 npolicies;
	struct route		*routes;	/* static_route (test knob) */
	size_t			 nroutes;
	int			 half_dane;
	int			 daemon_interval;
	int			 dns_timeout;
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
};

typedef void (*dns_cb)(void *, struct dns_answer *);

struct dns;
struct dns_ops {
	/* Start a query; cb is called exactly once, later (never from
	 * inside resolve).  Returns -1 if the query could not start. */
	int	(*resolve)(struct dns *, const char *, int, dns_cb, void *);
	void	(*free)(struct dns *);
};

struct dns {
	const struct dns_ops	*ops;
	void			*impl;
};

#define DNS_T_A		1
#define DNS_T_MX	15
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

int		 dns_resolve(struct dns *, const char *, int, dns_cb, void *);
void		 dns_free(struct dns *);
struct dns_answer *dns_answer_new(const char *, int);
void		 dns_answer_add(struct dns_answer *, const void *, size_t);
void		 dns_answer_free(struct dns_answer *);
const char	*dns_sec_name(enum dns_sec);
/* "secure", "nodata-secure", "nxdomain-insecure", "bogus", "error" ... */
const char	*dns_status_text(const struct dns_answer *);
const char	*dns_type_name(int);
/* 1 if the string is a syntactically valid host name (LDH labels). */
int		 dns_valid_hostname(const char *);

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
	/* private */
	struct dns		*dns;
	int			 pending;
	void			(*cb)(void *, struct policy *);
	void			*arg;
};

/*
 * policy_resolve() starts resolving the DANE policy of a destination
 * domain at the given level: MX (or implicit MX), each host's A/AAAA, and
 * TLSA where RFC 7672 section 2.2 says so.  It emits dns, mx and policy
 * events tagged with tag.  cb(arg, policy) is called exactly once, later;
 * the callback owns the policy and frees it with policy_free().  A DNS
 * failure is never an error here: it becomes POLICY_DEFER or a HOST_SKIP.
 */
void		 policy_resolve(struct dns *, const char *, enum level, int,
		    int, const char *, void (*)(void *, struct policy *),
		    void *);
void		 policy_free(struct policy *);
const char	*host_mode_name(enum host_mode);

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
	char		*matched;
	int		 depth;
	const char	*result_type;	/* RFC 8460 type, NULL on success */
	char		*detail;
	long		 verify_error;
};

/* A client SSL_CTX with DANE enabled (SSL_CTX_dane_enable) and no other
 * trust anchors.  NULL with OpenSSL's error queue on failure. */
struct ssl_ctx_st *dane_ctx_new(void);
/*
 * dane_ssl_new(): an SSL for one connection to a host in mode (HOST_DANE,
 * HOST_ENCRYPT or HOST_MAY).  For HOST_DANE it enables DANE with the TLSA
 * base domain, adds every usable record (unusable ones are skipped: the
 * count added is stored in *added), and the reference identifiers (base
 * domain and MX host name).  SNI is sni (may be NULL for HOST_MAY).
 * tag (the session id, may be NULL) starts its diagnostic lines.
 * Returns NULL on resource failure.  The caller frees it with SSL_free()
 * (or through the bufferevent that takes it over).
 */
struct ssl_st	*dane_ssl_new(struct ssl_ctx_st *, enum host_mode,
		    const char *, const char *, const struct tlsa *, size_t,
		    size_t *, const char *);
/* After a completed handshake: fill in the verdict for mode. */
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

struct mta_rcpt {
	const char	*addr;
	int		 code;		/* RCPT reply, then final reply */
	char		*reply;
	int		 delivered;
};

struct mta_params {
	const char		*queue_id;
	const char		*domain;	/* policy (recipient) domain */
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
	int			 command_timeout;
	int			 tls_timeout;
	struct ssl_ctx_st	*ssl_ctx;
	struct event_base	*base;
	int			 fd;	/* >= 0: a connected socket to use
					 * instead of address (unit tests);
					 * -1 otherwise */
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
	const char		*reason;	/* RFC 8460 type or text */
	const char		*dsn;
	char			*detail;
	char			 dsnbuf[16];
};

struct mta_session;
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

/* ---------------------------------------------------------------- deliver */

struct deliver_ctx {
	struct config		*conf;
	struct dns		*dns;
	struct event_base	*base;
	struct ssl_ctx_st	*ssl_ctx;
};

/*
 * deliver_start(): one delivery attempt of message m (already loaded with
 * its data): per recipient domain, resolve the policy and try the hosts.
 * Recipient states are saved durably the moment they change.  done(arg, m)
 * is called once, later; m stays owned by the caller.
 */
void		 deliver_start(struct deliver_ctx *, struct qmsg *,
		    void (*)(void *, struct qmsg *), void *);
/* Status code of an SMTP reply: its enhanced code or one made from the
 * basic code.  buf must hold 16 bytes. */
const char	*deliver_status_of_reply(int, const char *, char *, size_t);

/* ----------------------------------------------------------------- runner */

/* Run one pass (all: ignore next_try) or, with daemon set, forever
 * (until SIGTERM/SIGINT).  Returns 0, or -1 on a setup error. */
int		 runner_run(struct config *, int, int);

#endif /* REFSEND_H */
