/*
 * fake-mx.h -- private header of fake-mx, the scriptable fake SMTP server.
 *
 * \file
 * One flat folder, one file per concern, the file name is the function
 * prefix: config_*() in config.c, events_*() in events.c, and so on.
 * Everything not declared here is static in its own file.
 *
 * Ownership in one sentence: the struct config owns every string of the
 * configuration; a struct listener borrows its listener_conf; a session
 * owns its bufferevent, SSL, timer, spool file, envelope strings and
 * relay, and session_close() frees them all (the relay via relay_free()).
 */
#ifndef FAKE_MX_H
#define FAKE_MX_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* RFC 5321 section 4.5.3.1 limits. */
#define SMTP_LINE_MAX	512		/* command line, CRLF included */
#define SMTP_TEXT_MAX	1000		/* text line, CRLF included */
#define SMTP_PATH_MAX	256		/* reverse / forward path */
#define SMTP_RCPT_MAX	100		/* recipients per message */
#define SMTP_MSG_MAX	(10 * 1024 * 1024)	/* message size (SIZE) */

struct event_base;
struct evbuffer;
struct bufferevent;
struct evconnlistener;
struct event;
struct ssl_st;
struct tls_server;

/* ---------------------------------------------------------------- xmalloc */
/* Out of memory is fatal: these never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

/* ----------------------------------------------------------------- config */
enum listener_mode {
	MODE_SERVER,
	MODE_SINK,
	MODE_STRIP_RELAY,
	MODE_IMPOSTOR,
	MODE_CATCH_ALL
};

enum starttls_policy {
	STARTTLS_OFFER,
	STARTTLS_WITHHOLD
};

enum starttls_reply {
	STLS_REPLY_220,		/* 220, then the handshake */
	STLS_REPLY_REFUSE,	/* the 4xx/5xx line profile.starttls_line */
	STLS_REPLY_DROP		/* close without a reply */
};

enum tls_fault {
	FAULT_NONE,
	FAULT_ALERT,
	FAULT_ABORT,
	FAULT_STALL
};

/* What a strip-relay does with the client's STARTTLS. */
#define RELAY_INJECT_MAX	4096	/* octets of relay_inject */
enum relay_starttls {
	RELAY_STLS_REFUSE,	/* answer 454 itself, go on in cleartext */
	RELAY_STLS_PASS		/* forward it; after a 220, tunnel the bytes */
};

/* Configured replies, indexed by stage. */
enum reply_stage {
	RS_EHLO,
	RS_MAIL,
	RS_RCPT,
	RS_DATA,
	RS_EOM,
	RS_MAX
};

/* Where a profile closes the connection once its reply has been sent. */
enum close_point {
	CLOSE_NONE,
	CLOSE_BANNER,		/* after the banner */
	CLOSE_EHLO,		/* after the EHLO/HELO reply */
	CLOSE_STARTTLS,		/* after the 220 to STARTTLS, no handshake */
	CLOSE_TLS,		/* once the TLS handshake is done */
	CLOSE_MAIL,		/* after the MAIL reply */
	CLOSE_RCPT,		/* after the (first) RCPT reply */
	CLOSE_DATA,		/* after the DATA reply */
	CLOSE_EOM,		/* after the end-of-message reply */
	CLOSE_MAX
};

/*
 * How a server behaves on one connection.  A listener has its own profile
 * and may have profiles for its first connections (listener_conf.steps).
 * A profile owns its strings.  A reply that is NULL (banner, replies[])
 * means "drop": close the connection instead of answering.
 */
struct profile {
	char			*banner;	/* full reply line, or NULL */
	enum starttls_policy	 starttls;
	enum starttls_reply	 starttls_reply;
	char			*starttls_line;	/* the refusal (REFUSE) */
	enum tls_fault		 fault;
	int			 alert;		/* TLS alert number (alert) */
	char			*replies[RS_MAX];	/* lines, or NULL */
	enum close_point	 close_after;
	unsigned int		 count;		/* connections a step serves */
};

/* A further certificate and key in the same TLS context. */
struct cert_pair {
	char		 *chain;	/* PEM file: leaf first, then chain */
	char		 *key;		/* PEM private key */
};

struct cert_conf {
	char		 *chain;	/* PEM file: leaf first, then chain */
	char		 *key;		/* PEM private key */
	char		**sni;		/* names choosing this cert, or NULL */
	size_t		  nsni;
	struct cert_pair *also;		/* other key types, same context */
	size_t		  nalso;
};

struct tls_conf {
	struct cert_conf *certs;
	size_t		  ncerts;
	int		  min_version;	/* OpenSSL TLS1_x_VERSION */
	int		  max_version;
};

struct listener_conf {
	char			*name;
	char			*address;	/* numeric IPv4 or IPv6 */
	int			 port;
	char			*hostname;
	enum listener_mode	 mode;
	struct profile		 prof;		/* the listener's own */
	struct profile		*steps;		/* first connections */
	size_t			 nsteps;
	int			 has_tls;
	struct tls_conf		 tls;
	int			 has_relay;
	char			*relay_address;
	int			 relay_port;
	int			 relay_strip;	/* remove STARTTLS from EHLO */
	enum relay_starttls	 relay_starttls;
	char			*relay_inject;	/* plaintext after the 220 */
	int			 reuseport;	/* catch-all on same port */
};

struct config {
	char			*events;	/* event log path */
	char			*spool;		/* spool folder */
	int			 command_ms;
	int			 data_ms;
	int			 tls_ms;
	struct listener_conf	*listeners;
	size_t			 nlisteners;
};

/*
 * Parse and validate a configuration held in memory (len bytes, need not
 * be NUL-terminated).  Returns a config the caller frees with
 * config_free(), or NULL with a message "FIELD: problem" in err.
 * No file named in the config is opened here (see tls_server_new()).
 */
struct config	*config_parse(const char *, size_t, char *, size_t);
/* Same, reading the file at path; err then may also name an I/O error. */
struct config	*config_load(const char *, char *, size_t);
void		 config_free(struct config *);
const char	*config_strmode(enum listener_mode);
const char	*config_strfault(enum tls_fault);

/* ---------------------------------------------------------------- profile */
/*
 * The profile serving connection number n (1-based) of a listener: the
 * step whose count covers n, else the listener's own.  *step is set to the
 * step's index, or -1 for the listener's own profile.
 */
const struct profile *profile_pick(const struct listener_conf *,
		    unsigned long, int *);
/* Copy src into dst (every string duplicated); dst owns its copies. */
void		 profile_copy(struct profile *, const struct profile *);
/* Free the strings a profile owns (not the profile itself). */
void		 profile_clear(struct profile *);
/* A TLS alert by its RFC 8446 name: its number, or -1 if unknown. */
int		 profile_alert(const char *);
/* The RFC 8446 name of a fatal alert number ("?" if not in the table). */
const char	*profile_stralert(int);
/* A close point by name ("mail"): its value, or -1 if unknown. */
int		 profile_close_point(const char *);
const char	*profile_strclose(enum close_point);

/* ------------------------------------------------------------------ reply */
/* Code of a reply line "250 text" (or "250"): 200..599, or -1. */
int	 reply_code(const char *);
/*
 * Build a reply into buf (size len), CRLF-terminated, NUL-terminated.
 * first is the first line ("250 mx.example"); when ext is non-empty and
 * the code is 2xx a multi-line EHLO reply is made with one extension per
 * line.  Returns the length written, or 0 if it does not fit.
 */
size_t	 reply_build(char *, size_t, const char *, const char *const *,
	    size_t);

/* ------------------------------------------------------------- smtp_parse */
enum smtp_verb {
	V_EMPTY,
	V_HELO,
	V_EHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_RSET,
	V_NOOP,
	V_QUIT,
	V_STARTTLS,
	V_VRFY,
	V_HELP,
	V_UNKNOWN,
	V_MAX
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	char		 arg[SMTP_LINE_MAX + 1];  /* HELO name, params */
	char		 path[SMTP_PATH_MAX + 1]; /* MAIL/RCPT path, no <> */
	long		 size;		/* MAIL SIZE= parameter, or -1 */
};

/*
 * Parse one command line (without its CRLF/LF; may hold NUL bytes).
 * Returns 0 and fills cmd, or the SMTP code to reply with: 500 (unknown
 * command, NUL byte, overlong), 501 (syntax error in arguments), 552
 * (SIZE above SMTP_MSG_MAX).  cmd->verb is always set.
 */
int		 smtp_parse(const char *, size_t, struct smtp_cmd *);
const char	*smtp_strverb(enum smtp_verb);

/* --------------------------------------------------------------- smtp_fsm */
/*
 * The states of a session; smtp_fsm_strstate() gives the names used in the
 * event log ("state" and "close" events).  A session starts in S_INIT (it
 * is allocated zeroed, so S_INIT must stay 0) and ends in S_CLOSED.
 */
enum session_state {
	S_INIT,		/* accepted, banner not yet sent (or 4xx banner sent) */
	S_GREET,	/* banner sent, or TLS just established: EHLO next */
	S_REFUSED,	/* banner was 5xx: only QUIT, NOOP and HELP served */
	S_HELO,		/* EHLO/HELO done, no transaction */
	S_MAIL,		/* MAIL accepted, no recipient yet */
	S_RCPT,		/* at least one RCPT accepted */
	S_DATA,		/* reading message content */
	S_TLS,		/* TLS handshake (or fault) after STARTTLS 220 */
	S_QUIT,		/* QUIT answered, closing */
	S_RELAY_CONNECT, /* strip-relay: connecting upstream */
	S_RELAY,	/* strip-relay: forwarding */
	S_CLOSED,	/* closed: nothing moves it any more */
	S_MAX
};

/*
 * What moves a session: a command it answered (with the reply code), or
 * one of the other events of its life.  Commands that never change the
 * state (NOOP, HELP, VRFY, refused ones) have no input.
 */
enum smtp_fsm_input {
	FSM_BANNER,	/* banner sent; code is its reply code */
	FSM_HELO,	/* HELO or EHLO answered */
	FSM_MAIL,	/* MAIL answered */
	FSM_RCPT,	/* RCPT answered */
	FSM_DATA,	/* DATA answered */
	FSM_RSET,	/* RSET answered */
	FSM_QUIT,	/* QUIT answered */
	FSM_STARTTLS,	/* STARTTLS answered (220 or 454) */
	FSM_TLS_UP,	/* TLS handshake completed */
	FSM_EOM,	/* end of message answered */
	FSM_RELAY,	/* strip-relay: started connecting upstream */
	FSM_RELAY_UP,	/* strip-relay: upstream connected */
	FSM_CLOSE,	/* session closed, whatever the reason */
	FSM_MAX
};

const char	*smtp_fsm_strstate(enum session_state);
/*
 * May verb be served in state (with TLS active or not, STARTTLS offered by
 * the profile or not)?  Returns 0, or the reply code refusing it: 503 bad
 * sequence, 502 STARTTLS withheld or already in TLS, 500 not a command.
 */
int		 smtp_fsm_check(enum session_state, enum smtp_verb, int, int);
/*
 * The state that follows state on input (code: the reply code sent, or 0
 * when the input has none).  Every state change of a session is made by
 * session_enter() from this function; an input that does not apply to
 * state leaves it unchanged.
 */
enum session_state smtp_fsm_next(enum session_state, enum smtp_fsm_input,
		    int);

/* ----------------------------------------------------------------- events */
/*
 * Open (append, create) the event log.  Returns 0, -1 with errno set.
 * An event is one line: ts, session, listener, event, the listener's mode
 * mark, then the fields.  Lines wait in the process until events_flush()
 * writes them all with one write(2) (events.c says when the daemon
 * flushes); events_close() flushes, fsyncs and closes.
 */
int	 events_open(const char *);
void	 events_close(void);
void	 events_flush(void);
/* The complete lines, from a fatal-signal handler (async-signal-safe). */
void	 events_crash_flush(void);
/* One event from obj's fields in order (steals the reference). */
void	 events_emit(const char *, const struct listener_conf *,
	    const char *, json_t *);
/*
 * One event field by field, without jansson: events_begin(session,
 * listener, kind), then the fields in order, then events_end().  The
 * line is the one events_emit() writes for the same fields.
 */
void	 events_begin(const char *, const struct listener_conf *,
	    const char *);
/* A string we trust to be UTF-8 (config, our own text); NULL: null. */
void	 events_add_str(const char *, const char *);
/* n bytes from the network, as events_str() makes them; NULL: null. */
void	 events_add_net(const char *, const char *, size_t);
/* An array of NUL-terminated strings from the network. */
void	 events_add_netv(const char *, char *const *, size_t);
void	 events_add_int(const char *, long long);
void	 events_add_bool(const char *, int);
/* Every field of a jansson object, in order (steals the reference). */
void	 events_add_json(json_t *);
void	 events_end(void);
/* A JSON string of n bytes from the network (invalid UTF-8 made '?'). */
json_t	*events_str(const char *, size_t);

/* ------------------------------------------------------------------ spool */
struct spool_msg;
/* Start a message file spool/<session>-<n>.eml.tmp; NULL on error. */
struct spool_msg *spool_open(const char *, const char *, unsigned int);
int		 spool_write(struct spool_msg *, const void *, size_t);
/* Rename to .eml; returns the final path (owned by msg) or NULL. */
const char	*spool_commit(struct spool_msg *);
/* Remove the temporary file (if not committed) and free. */
void		 spool_free(struct spool_msg *);

/* -------------------------------------------------------------------- tls */
/*
 * What one connection's handshake needs from its session and tells it:
 * the session owns it; tls_server_ssl() borrows it as the SSL's app data.
 */
struct tls_peer {
	char	sni[256];	/* from the ClientHello, "" if none */
	int	alert;		/* refuse the ClientHello with it; 0: no */
};

/*
 * Build the TLS contexts of a listener (one SSL_CTX per certificate entry,
 * holding its "also" pairs too).  NULL with "listeners[i].tls....:
 * problem" in err on error.
 */
struct tls_server *tls_server_new(const struct listener_conf *, size_t,
		    char *, size_t);
void		 tls_server_free(struct tls_server *);
/* A new server SSL whose app data is peer (the caller keeps owning it). */
struct ssl_st	*tls_server_ssl(struct tls_server *, struct tls_peer *);
/*
 * Fields of the "tls" event for an established connection: the leaf and
 * chain digests of the certificate OpenSSL really sent (with several key
 * types in a context, the one the client's signature algorithms chose).
 */
json_t		*tls_info(struct ssl_st *, const char *);
/*
 * Look at raw bytes from the client: returns 1 when buf starts with a
 * complete TLS ClientHello record (sni filled, "" if none), 0 when more
 * bytes are needed, -1 when it is not a ClientHello.
 */
int		 tls_hello_sni(const unsigned char *, size_t, char *, size_t);
void		 tls_init(void);

/* --------------------------------------------------------------- listener */
struct listener {
	struct listener_conf	*conf;
	size_t			 index;
	struct evconnlistener	*evl;
	struct event		*retry;		/* accept paused (EMFILE) */
	struct tls_server	*tls;
	unsigned long		 nsessions;
	char			 local[64];	/* "addr:port" */
	int			 wildcard;	/* bound to 0.0.0.0 or :: */
};

int	 listener_start(struct listener *, struct event_base *, char *, size_t);
void	 listener_stop(struct listener *);
/* Format a socket address as "a.b.c.d:port" or "[v6]:port". */
void	 listener_fmtaddr(const void *, char *, size_t);

/* ---------------------------------------------------------------- session */
struct spool_msg;
struct relay;

struct session {
	TAILQ_ENTRY(session)	 entry;
	TAILQ_ENTRY(session)	 out_entry;	/* in fakemx.out */
	struct listener		*l;
	struct event_base	*base;
	char			 id[160];	/* "<name>#<n>", name <= 128 */
	const struct profile	*p;		/* this connection's behaviour */
	enum session_state	 state;		/* set by session_enter() */
	struct bufferevent	*bev;
	struct event		*timer;
	struct ssl_st		*ssl;
	int			 tls;		/* TLS established */
	int			 skipping;	/* discarding a long line */
	int			 throttled;	/* paused: output full */
	int			 stalled;	/* fault stall: hello seen */
	int			 midline;	/* DATA: rest of long line */
	int			 closing_polls;
	int			 closing;	/* close once output sent */
	int			 tls_shutdown;	/* close_notify sent */
	int			 direct;	/* plain socket: see session_send */
	int			 queued;	/* in fakemx.out */
	int			 write_on;	/* EV_WRITE on until drained */
	const char		*close_reason;	/* ... with this reason */
	struct tls_peer		*tlsp;		/* once STARTTLS */
	char			*helo;
	char			*from;
	char		       **rcpts;
	size_t			 nrcpt;
	unsigned int		 nmsg;
	/* message being received */
	struct spool_msg	*msg;
	size_t			 msg_size;
	int			 msg_err;	/* reply code refusing it */
	int			 in_headers;
	int			 msgid_cont;
	char			*msgid;
	char			 peer[64];
	char			 local[64];
	struct relay		*relay;
	/* event log budget: see session_emit() */
	unsigned long		 nevents;
	unsigned long		 suppressed;
};

/*
 * Per session, the event log keeps every event up to SESSION_EVENTS_MAX;
 * past it, only the evidence the grader needs (connect, TLS, envelope,
 * message, close) until SESSION_EVENTS_HARD.  What is dropped is counted:
 * one "events-truncated" event says so, and "close" carries the count.
 */
#define SESSION_EVENTS_MAX	2000
#define SESSION_EVENTS_HARD	20000

TAILQ_HEAD(sessionlist, session);

/* The global run-time context (main.c owns it). */
struct fakemx {
	struct event_base	*base;
	struct config		*conf;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct sessionlist	 sessions;
	struct sessionlist	 out;		/* replies to write (out_entry) */
	unsigned long		 nopen;
};
extern struct fakemx fakemx;

/* Accept callback: takes ownership of fd. */
void	 session_accept(struct listener *, int, const void *, int);
/*
 * Serve a connection of listener l whose bytes come and go through bev (a
 * socket's, or one end of a bufferevent pair); the session owns bev from
 * now on.  peer and local ("addr:port") are copied for the events.
 */
void	 session_start(struct listener *, struct bufferevent *, const char *,
	    const char *);
/*
 * Accept callback of a catch-all listener: logs "connect" (peer and the
 * local address the client dialled) and "close" (reason "reset"), then
 * closes fd with a TCP reset.  Takes ownership of fd.
 */
void	 catchall_accept(struct listener *, int, const void *);
/*
 * Close now: logs "close" with the reason and the last state, frees the
 * session and all it owns.  The caller must not touch it afterwards.
 */
void	 session_close(struct session *, const char *);
/*
 * Log one event of s, within the session's event budget (session.c).
 * session_emit() takes the fields as a jansson object (consumed);
 * session_begin() starts the line (events_begin()) and returns 1, the
 * caller then adds the fields and calls events_end(), or returns 0 when
 * the budget drops the event.
 */
void	 session_emit(struct session *, const char *, json_t *);
int	 session_begin(struct session *, const char *);
/*
 * The one place a session changes state: moves s to
 * smtp_fsm_next(s->state, input, code) and, when that is a new state, logs
 * a "state" event (from, to).  The move to S_CLOSED is logged by the
 * "close" event that session_close() writes just before.
 */
void	 session_enter(struct session *, enum smtp_fsm_input, int);
void	 session_timer(struct session *, int);
void	 session_shutdown_all(void);
/*
 * Write the replies queued during this turn of the event loop and close
 * the sockets of the plain sessions closed in it; main.c calls it after
 * events_flush().  session_output_end(): the same, last, and its memory
 * freed.
 */
void	 session_output_all(void);
void	 session_output_end(void);

/* ------------------------------------------------------------------ relay */
void	 relay_start(struct session *);
void	 relay_free(struct relay *);
/*
 * Test seam (the fuzz target's, fake-mx never calls it): the next
 * relay_start() takes up, e.g. one end of a bufferevent pair, as its
 * upstream leg instead of dialling relay_to, and owns it from then on.
 * up is not connected yet: the caller reports the connect, or its
 * failure, with bufferevent_trigger_event() (BEV_EVENT_CONNECTED,
 * BEV_EVENT_ERROR) as a socket would.
 */
void	 relay_use_upstream(struct bufferevent *);
/*
 * Rewrite one EHLO reply (len octets, all its lines, CRLF or LF
 * terminated) removing the STARTTLS extension; returns a new buffer
 * (caller frees; NUL-terminated, but the reply may hold NULs of its own:
 * its length is *outlen) and sets *stripped to 1 if a line was removed.
 */
char	*relay_strip_ehlo(const char *, size_t, size_t *, int *);

#endif /* FAKE_MX_H */
