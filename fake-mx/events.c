/*
 * events.c -- the JSON-lines event log, the grader's ground truth.
 *
 * \file
 * One object per line.  A line is built in memory, by events_begin(),
 * the events_add_*() calls and events_end(), or in one call by
 * events_emit() from a jansson object; complete lines wait in the
 * process until events_flush() writes them all with one write(2) on an
 * O_APPEND file descriptor.  The daemon flushes at the end of every turn
 * of its event loop (before it waits again) and before anything that
 * shows a peer that the session moved on without going through the loop
 * (a socket closed, a reply sent directly): so every event is in the
 * file (the page cache) before its consequence reaches a peer, and
 * SIGKILL can only lose the events of the loop turn it interrupts, none
 * of whose consequences left the process.  events_crash_flush() writes
 * the complete lines from a fatal-signal handler or a sanitizer's death
 * callback.  More than EVENTS_BUF_MAX bytes waiting are flushed at once.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"

#define EVENTS_BUF_MAX	65536

static int	events_fd = -1;

/*
 * The lines waiting to be written: p[0, done) are complete lines,
 * p[done, len) the line being built.
 */
static struct {
	char	*p;
	size_t	 len, done, cap;
	int	 open;		/* between events_begin() and events_end() */
} eb;

int
events_open(const char *path)
{
	events_flush();
	if (events_fd != -1)
		close(events_fd);
	events_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644);
	return events_fd == -1 ? -1 : 0;
}

void
events_close(void)
{
	events_flush();
	if (events_fd != -1) {
		fsync(events_fd);
		close(events_fd);
	}
	events_fd = -1;
	free(eb.p);
	eb.p = NULL;
	eb.len = eb.done = eb.cap = 0;
	eb.open = 0;
}

/* Write p[0, n) (not async-signal-safe only for the error message). */
static int
events_write(const char *p, size_t n)
{
	size_t	off;
	ssize_t	w;

	for (off = 0; off < n; off += (size_t)w) {
		w = write(events_fd == -1 ? STDOUT_FILENO : events_fd,
		    p + off, n - off);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0)
			return -1;
	}
	return 0;
}

void
events_flush(void)
{
	if (eb.done == 0)
		return;
	if (events_write(eb.p, eb.done) == -1)
		fprintf(stderr, "fake-mx: event log: %s\n", strerror(errno));
	/* a line being built stays */
	memmove(eb.p, eb.p + eb.done, eb.len - eb.done);
	eb.len -= eb.done;
	eb.done = 0;
}

void
events_crash_flush(void)
{
	int	saved = errno;

	if (eb.p != NULL && eb.done > 0 && events_write(eb.p, eb.done) == 0)
		eb.done = 0;
	errno = saved;
}

/* Room for n more bytes. */
static char *
eb_room(size_t n)
{
	if (eb.len + n > eb.cap) {
		while (eb.len + n > eb.cap)
			eb.cap = eb.cap ? eb.cap * 2 : 4096;
		eb.p = xrealloc(eb.p, eb.cap);
	}
	return eb.p + eb.len;
}

static void
eb_put(const char *s, size_t n)
{
	memcpy(eb_room(n), s, n);
	eb.len += n;
}

static void
eb_puts(const char *s)
{
	eb_put(s, strlen(s));
}

/* Decimal digits of v (no sign) into the end of buf; returns the start. */
static char *
eb_digits(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

static void
eb_int(long long v)
{
	char			 buf[24], *p;
	unsigned long long	 u;

	u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	p = eb_digits(buf + sizeof(buf), u);
	if (v < 0)
		*--p = '-';
	eb_put(p, (size_t)(buf + sizeof(buf) - p));
}

/*
 * Is s[0, n) UTF-8 as RFC 3629 defines it (no overlong form, no
 * surrogate, nothing above U+10FFFF)?  NUL bytes are allowed.
 */
static int
events_utf8(const unsigned char *s, size_t n)
{
	size_t		i, k, len;
	unsigned long	cp, min;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x80)
			continue;
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			len = 2;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len - 1;
	}
	return 1;
}

/*
 * A JSON string: quotes, escapes for '"', '\\' and control characters;
 * with ascii set, every byte from 0x80 up becomes '?'.
 */
static void
eb_strx(const char *s, size_t n, int ascii)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*o, *start;
	size_t			 i;
	unsigned char		 c;

	o = start = eb_room(6 * n + 2);
	*o++ = '"';
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			*o++ = (char)c;
			continue;
		}
		if (c >= 0x80) {
			*o++ = ascii ? '?' : (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
			break;
		}
	}
	*o++ = '"';
	eb.len += (size_t)(o - start);
}

static void
eb_str(const char *s, size_t n)
{
	eb_strx(s, n, 0);
}

/* Bytes from the network: a string as events_str() makes it. */
static void
eb_net(const char *s, size_t n)
{
	if (s == NULL)
		eb_put("null", 4);
	else
		eb_strx(s, n, !events_utf8((const unsigned char *)s, n));
}

static void
eb_value(json_t *v)
{
	const char	*key;
	json_t		*x;
	size_t		 i;
	char		 num[64];
	int		 first = 1;

	switch (json_typeof(v)) {
	case JSON_STRING:
		eb_str(json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		eb_int((long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		eb_puts(num);
		break;
	case JSON_TRUE:
		eb_put("true", 4);
		break;
	case JSON_FALSE:
		eb_put("false", 5);
		break;
	case JSON_NULL:
		eb_put("null", 4);
		break;
	case JSON_ARRAY:
		eb_put("[", 1);
		json_array_foreach(v, i, x) {
			if (i > 0)
				eb_put(",", 1);
			eb_value(x);
		}
		eb_put("]", 1);
		break;
	case JSON_OBJECT:
		eb_put("{", 1);
		json_object_foreach(v, key, x) {
			if (!first)
				eb_put(",", 1);
			first = 0;
			eb_str(key, strlen(key));
			eb_put(":", 1);
			eb_value(x);
		}
		eb_put("}", 1);
		break;
	}
}

void
events_begin(const char *session, const struct listener_conf *l,
    const char *kind)
{
	struct timeval	 tv;
	char		 us[8], *p;

	/*
	 * Serialized by hand, in a fixed order: ts (a JSON number with
	 * microseconds, from integers), session, listener, event, the mode
	 * marks, then the caller's fields in the order they are added.
	 */
	if (eb.open)		/* an unfinished line is dropped */
		eb.len = eb.done;
	eb.open = 1;
	gettimeofday(&tv, NULL);
	eb_put("{\"ts\":", 6);
	eb_int((long long)tv.tv_sec);
	p = eb_digits(us + sizeof(us), (unsigned long long)tv.tv_usec +
	    1000000);			/* "1" and six digits */
	*p = '.';
	eb_put(p, 7);
	eb_put(",\"session\":", 11);
	eb_str(session, strlen(session));
	eb_put(",\"listener\":", 12);
	eb_str(l ? l->name : "", l ? strlen(l->name) : 0);
	eb_put(",\"event\":", 9);
	eb_str(kind, strlen(kind));
	if (l != NULL && l->mode == MODE_SINK)
		eb_puts(",\"sink\":true");
	if (l != NULL && l->mode == MODE_IMPOSTOR)
		eb_puts(",\"impostor\":true");
	if (l != NULL && l->mode == MODE_CATCH_ALL)
		eb_puts(",\"catch_all\":true");
}

static void
eb_key(const char *key)
{
	eb_put(",", 1);
	eb_str(key, strlen(key));
	eb_put(":", 1);
}

void
events_add_str(const char *key, const char *s)
{
	eb_key(key);
	if (s == NULL)
		eb_put("null", 4);
	else
		eb_str(s, strlen(s));
}

void
events_add_net(const char *key, const char *s, size_t n)
{
	eb_key(key);
	eb_net(s, n);
}

void
events_add_netv(const char *key, char *const *v, size_t n)
{
	size_t	i;

	eb_key(key);
	eb_put("[", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			eb_put(",", 1);
		eb_net(v[i], strlen(v[i]));
	}
	eb_put("]", 1);
}

void
events_add_int(const char *key, long long v)
{
	eb_key(key);
	eb_int(v);
}

void
events_add_bool(const char *key, int v)
{
	eb_key(key);
	if (v)
		eb_put("true", 4);
	else
		eb_put("false", 5);
}

void
events_end(void)
{
	eb_put("}\n", 2);
	eb.done = eb.len;
	eb.open = 0;
	if (eb.done >= EVENTS_BUF_MAX)
		events_flush();
}

void
events_add_json(json_t *fields)
{
	const char	*key;
	json_t		*x;

	if (fields == NULL)
		return;
	json_object_foreach(fields, key, x) {
		eb_key(key);
		eb_value(x);
	}
	json_decref(fields);
}

void
events_emit(const char *session, const struct listener_conf *l,
    const char *kind, json_t *fields)
{
	events_begin(session, l, kind);
	events_add_json(fields);
	events_end();
}

json_t *
events_str(const char *s, size_t n)
{
	json_t	*v;
	char	*c;
	size_t	 i;

	if (s == NULL)
		return json_null();
	if ((v = json_stringn(s, n)) != NULL)
		return v;
	/* not UTF-8: replace every byte outside ASCII */
	c = xstrndup(s, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)c[i] >= 0x80)
			c[i] = '?';
	v = json_stringn(c, n);
	free(c);
	return v ? v : json_string("");
}
