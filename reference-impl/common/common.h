/*
 * common.h -- the code the reference sender (refsend) and its TLSRPT
 * reporter (tlsrpt/, refsend-tlsrpt) share, in reference-impl/common/.  It
 * is compiled once, into common/$(BUILD)/libcommon.a by common/Makefile,
 * and linked into both programs; refsend.h and tlsrpt/tlsrpt.h include
 * this header (-I common).  Its CUnit tests are common/tests/.
 *
 *	xmalloc.c	allocation that never returns NULL; a growable buffer
 *	log.c		JSON-lines events, stderr diagnostics, fatalx()
 *	opts.c		the options in front of the command word
 *	conf.c		the "key = value" configuration file: lexer, numbers,
 *			key tables, static routes
 *	file.c		durable file writes (tmp, fsync, rename, fsync dir),
 *			reading a whole file, listing a folder
 *	rdata.c		wire-format names, MX and TXT rdata
 *	reply.c		an SMTP server's replies, read without I/O
 *	ubctx.c		a libunbound context set up for the lab
 *	result_type.c	the RFC 8460 result types (result_types.def)
 *
 * Conventions: functions returning int return 0 on success and -1 on
 * failure unless said otherwise.  Returned pointers belong to the caller
 * and are released with free() or the matching *_free().  Out of memory
 * is fatal (exit status 2); nothing else here is.
 */
#ifndef COMMON_H
#define COMMON_H

#include <sys/types.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

struct ub_ctx;

/* ---------------------------------------------------------------- xmalloc */

/* Allocation helpers: they call fatalx() (exit 2) when out of memory. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Growable byte buffer; data is always NUL-terminated (the NUL is not
 * counted in len).  Start from { NULL, 0, 0 }; buf_free() releases data
 * and empties the struct.
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_free(struct buf *);

/* -------------------------------------------------------------------- log */

/*
 * log_progname() names the program in front of every stderr line
 * ("refsend: ...", "refsend-tlsrpt: fatal: ..."); main() calls it first.
 * Until then the name is the one the program was started as.  The string
 * must stay valid (a literal).
 * log_open() opens (O_APPEND, creating it) the JSON-lines event log; with
 * NULL, events are dropped (unit tests).  Returns -1 if it cannot be opened.
 * log_event() adds "ts" and "event" in front of obj's keys, writes it as
 * one line with one write(2), and releases obj (it steals the reference).
 * log_verbose(n), n > 0: events are copied to stderr and log_info() lines
 * are written (refsend -v).
 * log_warnx()/log_info() write a diagnostic line to stderr.
 * fatalx() writes "PROG: fatal: ..." to stderr and exits with status 2.
 * log_safe() makes the len bytes at s (text from a peer, which may hold
 * anything) into text fit for an event, a log line or a mail header:
 * printable ASCII stays as it is, every other byte (controls, CR, LF, DEL,
 * 8-bit) becomes "\xHH".  The backslash itself stays, so that text made
 * safe twice is the same.  The caller frees the result.
 */
void	 log_progname(const char *);
int	 log_open(const char *);
void	 log_close(void);
void	 log_event(const char *, json_t *);
void	 log_verbose(int);
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
char	*log_safe(const void *, size_t);
/* log_strings(v, n): a new JSON array of the n strings of v (UTF-8), for
 * an event or a report; the caller owns the reference. */
json_t	*log_strings(char *const *, size_t);

/* ------------------------------------------------------------------- opts */

/*
 * The command line of both programs up to their command word:
 * "[-v] [-T SECONDS] -c CONF COMMAND ...".  opts_parse(argc, argv,
 * allowed, o) reads the options into o (conf points into argv; verbose
 * counts -v; at is the -T time, 0 when not given); allowed names the
 * options the program takes besides -c ("v", "T").  It returns the index
 * of the command word, or -1 for a usage error: an option not allowed or
 * malformed (-T takes a positive number of seconds), no -c, no command.
 * opts_all(argc, argv), argv[0] a command word that may be followed by
 * "--all" and nothing else: 1 with it, 0 without, -1 otherwise.
 */
struct opts {
	const char	*conf;
	int		 verbose;
	long long	 at;
};
int	 opts_parse(int, char **, const char *, struct opts *);
int	 opts_all(int, char **);

/* ------------------------------------------------------------------- conf */

/*
 * conf_read() reads the configuration file at path: one "key = value" per
 * line, blanks around key and value ignored, blank lines skipped.  A '#'
 * starts a comment; with CONF_HASH_WORD only a '#' at the start of the
 * line or after a blank does (so that values may contain '#').  For each
 * line it calls set(arg, key, value, msg, msglen); value is never empty
 * and set may modify it.  set returns 0, or -1 with a message in msg.
 * conf_read() returns 0, or -1 with "FILE: ..." (cannot open) or
 * "FILE:LINE: ..." (a line without '=', an empty value, or set's message)
 * in err.
 */
#define CONF_HASH_WORD	0x01
typedef int	(*conf_set_fn)(void *, const char *, char *, char *, size_t);
int	 conf_read(const char *, int, conf_set_fn, void *, char *, size_t);
/* A whole decimal number in [min, max] into *out; -1 if it is not one. */
int	 conf_int(const char *, int, int, int *);
/*
 * conf_intlist(): a comma list of such numbers (blanks around each), at
 * least one.  On success *list (freed first) and *n are replaced by the
 * new list, which the caller frees; on -1 they are left unchanged.
 */
int	 conf_intlist(const char *, int, int, int **, size_t *);
/* 1 if the string is a numeric IPv4 or IPv6 address, else 0. */
int	 conf_is_address(const char *);
/*
 * conf_route() parses the value of the static_route test knob, the same
 * in both programs: "NAME ADDRESS[:PORT]", ADDRESS numeric, an IPv6
 * ADDRESS with a port written "[ADDRESS]:PORT" ("[ADDRESS]" and a bare
 * IPv6 ADDRESS also do).  It cuts v in place: *name (lower-cased, without
 * a final dot) and *address point into v, *port is PORT or 0 when none
 * is given.  -1 if v is not of that form.
 */
int	 conf_route(char *, char **, char **, int *);

/*
 * A static route (the static_route test knob of both programs): mail for
 * name (a mail domain, or an https host; lower case) goes to the numeric
 * address, at port (0: the program's default port).
 */
struct route {
	char	*name;
	char	*address;
	int	 port;
};

/*
 * A key whose value goes straight into a field of a program's struct
 * config; a table of them ends with a NULL name.  The field is at offset
 * off of the struct:
 *	CONF_STR	char *: a copy of the value (the old one freed)
 *	CONF_INT	int: a whole number in [min, max] (conf_int())
 *	CONF_BOOL	int: "yes" 1, "no" 0
 *	CONF_INTLIST	int *: a comma list of numbers in [min, max]
 *			(conf_intlist()), its size_t count at off2
 *	CONF_ROUTE	struct route *: one more route a line (the value as
 *			conf_route() reads it), its size_t count at off2
 * conf_key_set(keys, base, k, v, err, errlen), for a conf_set_fn: the
 * line "k = v" into the struct at base when keys has k: 1, or -1 with
 * "K: what is wrong" in err; 0 when k is not in keys (the program's own
 * keys).  conf_key_clear(keys, base) frees what the table's fields of
 * base own (CONF_STR, CONF_INTLIST, CONF_ROUTE) and empties them.
 * conf_route_find(routes, n, name): the route of name among the n
 * (case-insensitive), NULL if none; it belongs to the array.
 */
enum conf_type {
	CONF_STR,
	CONF_INT,
	CONF_BOOL,
	CONF_INTLIST,
	CONF_ROUTE
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;
	size_t		 off2;
	int		 min, max;
};

int	 conf_key_set(const struct conf_key *, void *, const char *, char *,
	    char *, size_t);
void	 conf_key_clear(const struct conf_key *, void *);
const struct route *conf_route_find(const struct route *, size_t,
	    const char *);

/* ------------------------------------------------------------------- file */

/*
 * file_write() writes data to path durably: into tmp (created with mode,
 * or truncated; NULL: "<path>.tmp"), fsync, rename to path, fsync of
 * path's folder.  Returns -1 with errno on failure: tmp is then removed
 * and path is as it was, unless only that last fsync failed.
 */
int	 file_write(const char *, const char *, mode_t, const void *,
	    size_t);
/*
 * file_put(path, mode, excl, data, len): the first half of file_write(),
 * for a caller that renames the file into place later itself: data
 * written into path (created with mode; with excl it must not exist yet,
 * else it is truncated) and fsync'ed.  -1 with errno on failure: a path
 * it created is then removed.
 */
int	 file_put(const char *, mode_t, int, const void *, size_t);
/* fsync a folder (after a rename or unlink in it).  -1 with errno. */
int	 file_fsync_dir(const char *);
/* fsync the folder that holds path (after it was made, renamed or
 * unlinked).  -1 with errno. */
int	 file_fsync_parent(const char *);
/*
 * file_read() appends all that is left to read from fp to b (b->data is
 * then not NULL, even for nothing).  -1 with errno on a read error.
 */
int	 file_read(FILE *, struct buf *);
/*
 * file_list(dir, suffix): the names in folder dir that do not start with
 * '.' and end with suffix ("": any), without the suffix, sorted, in a
 * NULL-terminated array the caller frees with file_list_free().  NULL
 * with errno if dir cannot be opened.
 */
char	**file_list(const char *, const char *);
void	 file_list_free(char **);

/* ------------------------------------------------------------------ rdata */

/*
 * rdata_name() decodes a wire-format domain name (no compression) into
 * lower-case dotted text without the final dot ("." for the root).
 * Returns the number of octets it took, or -1 if the name is malformed,
 * does not fit, or has a dot, a blank or a control inside a label.
 * rdata_mx() parses MX rdata into the preference and the target name;
 * -1 if malformed (also when octets follow the name).
 * rdata_txt() joins the character-strings of one TXT record into a new
 * string the caller frees; NULL if the rdata is malformed (a string runs
 * past the end) or holds a NUL octet.
 */
int	 rdata_name(const unsigned char *, size_t, char *, size_t);
int	 rdata_mx(const unsigned char *, size_t, int *, char *, size_t);
char	*rdata_txt(const unsigned char *, size_t);

/* ------------------------------------------------------------------ reply */

/*
 * An SMTP server's replies (reply.c), parsed without I/O by both
 * programs' SMTP clients: one line "CODE text" or several "CODE-text"
 * lines closed by a "CODE text" one (RFC 5321 section 4.2), CODE 2xx to
 * 5xx, lines ending in LF (a CR before it dropped).
 * reply_parse(r, data, len, &used) takes the complete lines at the start
 * of data into r (zeroed by the caller before each reply) and stops at
 * the end of the reply: *used says how many bytes it took, the rest
 * belongs to what comes next.  A line longer than REPLY_MAXLINE or a
 * reply of more than REPLY_MAXLINES lines is REPLY_BAD.
 */
#define REPLY_MAXLINE	4096	/* longest reply line taken, LF excluded */
#define REPLY_MAXLINES	1000	/* most lines in one reply */
#define REPLY_MAXTEXT	1000	/* first line kept (made safe), with NUL */

enum reply_parse {
	REPLY_MORE = 0,		/* every complete line taken: need more */
	REPLY_DONE,		/* the reply is complete */
	REPLY_BAD		/* malformed: error says why */
};

struct reply {
	int		 code;		/* the first line's */
	int		 nlines;
	int		 starttls;	/* a line says STARTTLS (EHLO) */
	char		 text[REPLY_MAXTEXT];	/* first line, log_safe() */
	const char	*error;		/* REPLY_BAD: a static text */
};

enum reply_parse reply_parse(struct reply *, const char *, size_t,
		    size_t *);

/* ------------------------------------------------------------------ ubctx */

/*
 * ubctx_new() makes a libunbound context the way both programs use it in
 * the lab: it forwards to resolver (an address, "ADDR@PORT"; NULL: the
 * servers of /etc/resolv.conf), may query 127.0.0.0/8, validates with the
 * DS/DNSKEY file trust_anchor (NULL: no validation), and does not answer
 * the RFC 6761 names under "test." locally.  flags: UBCTX_ASYNC (answers
 * come from threads through ub_fd(), for ub_resolve_async()) and
 * UBCTX_WHY_BOGUS (val-log-level 2: detailed why_bogus texts).  The
 * context is finalised: no option can be added after.  Returns NULL with
 * a message in err; the caller frees the context with ub_ctx_delete().
 */
#define UBCTX_ASYNC	0x01
#define UBCTX_WHY_BOGUS	0x02
struct ub_ctx	*ubctx_new(const char *, const char *, int, char *, size_t);

/* ------------------------------------------------------------ result_type */

/*
 * The RFC 8460 result types, one per line of result_types.def (the only
 * list of them in the C code), in its order.  result_type_name() gives
 * the type's registry string (a literal), NULL for RESULT_TYPE_NONE or
 * any other value out of range; RT(STARTTLS_NOT_SUPPORTED) is short for
 * result_type_name(RESULT_TYPE_STARTTLS_NOT_SUPPORTED), where a reason
 * string is wanted.  result_type_from_name() is the type whose string is
 * exactly s, RESULT_TYPE_NONE when there is none (or s is NULL).
 */
enum result_type {
	RESULT_TYPE_NONE = -1,
#define RESULT_TYPE(id, name)	RESULT_TYPE_##id,
#include "result_types.def"
#undef RESULT_TYPE
	RESULT_TYPE_COUNT
};
#define RT(id)	result_type_name(RESULT_TYPE_##id)
const char		*result_type_name(enum result_type);
enum result_type	 result_type_from_name(const char *);

#endif /* COMMON_H */
