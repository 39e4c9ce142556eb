/*
 * events.c -- the JSON-lines event log, the grader's ground truth.
 *
 * \file
 * One object per line, written with one write(2) on an O_APPEND file
 * descriptor: nothing is buffered in the process, so a line survives
 * SIGTERM, SIGKILL and a crash of the daemon once events_emit() returned.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"

static int	events_fd = -1;

/* The line being built; reused from one event to the next. */
static struct {
	char	*p;
	size_t	 len, cap;
} eb;

int
events_open(const char *path)
{
	if (events_fd != -1)
		close(events_fd);
	events_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644);
	return events_fd == -1 ? -1 : 0;
}

void
events_close(void)
{
	if (events_fd != -1) {
		fsync(events_fd);
		close(events_fd);
	}
	events_fd = -1;
	free(eb.p);
	eb.p = NULL;
	eb.len = eb.cap = 0;
}

static void
eb_put(const char *s, size_t n)
{
	if (eb.len + n + 1 > eb.cap) {
		while (eb.len + n + 1 > eb.cap)
			eb.cap = eb.cap ? eb.cap * 2 : 1024;
		eb.p = xrealloc(eb.p, eb.cap);
	}
	memcpy(eb.p + eb.len, s, n);
	eb.len += n;
}

static void
eb_puts(const char *s)
{
	eb_put(s, strlen(s));
}

/* A JSON string: quotes, escapes for '"', '\\' and control characters. */
static void
eb_str(const char *s, size_t n)
{
	size_t	i, run = 0;
	char	esc[8];

	eb_put("\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		eb_put(s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			eb_put("\\\"", 2);
			break;
		case '\\':
			eb_put("\\\\", 2);
			break;
		case '\n':
			eb_put("\\n", 2);
			break;
		case '\r':
			eb_put("\\r", 2);
			break;
		case '\t':
			eb_put("\\t", 2);
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			eb_put(esc, 6);
			break;
		}
	}
	eb_put(s + run, n - run);
	eb_put("\"", 1);
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
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		eb_puts(num);
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
events_emit(const char *session, const struct listener_conf *l,
    const char *kind, json_t *fields)
{
	struct timeval	 tv;
	const char	*key;
	json_t		*x;
	size_t		 off;
	ssize_t		 n;
	char		 ts[48];

	/*
	 * Serialized by hand, in a fixed order: ts (a JSON number with
	 * microseconds, from integers), session, listener, event, the mode
	 * marks, then the caller's fields in the order they were set.
	 */
	gettimeofday(&tv, NULL);
	eb.len = 0;
	snprintf(ts, sizeof(ts), "{\"ts\":%lld.%06ld,\"session\":",
	    (long long)tv.tv_sec, (long)tv.tv_usec);
	eb_puts(ts);
	eb_str(session, strlen(session));
	eb_puts(",\"listener\":");
	eb_str(l ? l->name : "", l ? strlen(l->name) : 0);
	eb_puts(",\"event\":");
	eb_str(kind, strlen(kind));
	if (l != NULL && l->mode == MODE_SINK)
		eb_puts(",\"sink\":true");
	if (l != NULL && l->mode == MODE_IMPOSTOR)
		eb_puts(",\"impostor\":true");
	if (l != NULL && l->mode == MODE_CATCH_ALL)
		eb_puts(",\"catch_all\":true");
	if (fields != NULL) {
		json_object_foreach(fields, key, x) {
			eb_put(",", 1);
			eb_str(key, strlen(key));
			eb_put(":", 1);
			eb_value(x);
		}
		json_decref(fields);
	}
	eb_put("}\n", 2);
	for (off = 0; off < eb.len; off += (size_t)n) {
		n = write(events_fd == -1 ? STDOUT_FILENO : events_fd,
		    eb.p + off, eb.len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "fake-mx: event log: %s\n",
			    strerror(errno));
			break;
		}
	}
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
