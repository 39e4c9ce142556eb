/*
 * log.c -- the JSON-lines event log (docs/interfaces.md: refsend's events,
 * and refsend-tlsrpt's own) and the stderr diagnostics of both programs.
 *
 * Each event is one JSON object on one line, written with a single write(2)
 * to a file opened with O_APPEND, so that several processes (refsend submit
 * beside a runner) can share the log without interleaving lines.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char	*log_name;	/* NULL: as started (argv[0]) */
static int		 log_fd = -1;
static int		 log_verbosity;

void
log_progname(const char *name)
{
	log_name = name;
}

/* "PROG: [what]message\n" on stderr. */
static void
log_vline(const char *what, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s",
	    log_name ? log_name : program_invocation_short_name, what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
log_open(const char *path)
{
	log_close();
	if (path == NULL)
		return 0;
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return log_fd == -1 ? -1 : 0;
}

void
log_close(void)
{
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
}

void
log_verbose(int v)
{
	log_verbosity = v;
}

void
log_event(const char *event, json_t *obj)
{
	struct timeval	 tv;
	json_t		*line;
	char		*text;
	struct buf	 b = { NULL, 0, 0 };
	ssize_t		 n;

	if (log_fd == -1 && log_verbosity == 0) {
		json_decref(obj);
		return;
	}
	gettimeofday(&tv, NULL);
	/* ts and event first, for people reading the file. */
	line = json_object();
	json_object_set_new(line, "ts",
	    json_real(tv.tv_sec + tv.tv_usec / 1e6));
	json_object_set_new(line, "event", json_string(event));
	if (obj == NULL) {
		/* json_pack() refused a value (text that is not UTF-8):
		 * say so rather than write a bare event. */
		log_warnx("event %s: its fields were lost (a value that is "
		    "not UTF-8?)", event);
		json_object_set_new(line, "error", json_string("fields lost"));
	}
	json_object_update(line, obj);
	json_decref(obj);
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (text == NULL)
		fatalx("out of memory (json_dumps)");
	buf_add(&b, text, strlen(text));
	buf_add(&b, "\n", 1);
	free(text);
	if (log_verbosity)
		fwrite(b.data, 1, b.len, stderr);
	if (log_fd != -1) {
		do {
			n = write(log_fd, b.data, b.len);
		} while (n == -1 && errno == EINTR);
		if (n != (ssize_t)b.len)
			log_warnx("event log write: %s",
			    n == -1 ? strerror(errno) : "short write");
	}
	buf_free(&b);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbosity)
		return;
	va_start(ap, fmt);
	log_vline("", fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("fatal: ", fmt, ap);
	va_end(ap);
	exit(2);
}

char *
log_safe(const void *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = s;
	char			*out, *o;
	size_t			 i;

	o = out = xcalloc(len + 1, 4);
	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			*o++ = (char)p[i];
			continue;
		}
		*o++ = '\\';
		*o++ = 'x';
		*o++ = hex[p[i] >> 4];
		*o++ = hex[p[i] & 0xf];
	}
	*o = '\0';
	return out;
}

json_t *
log_strings(char *const *v, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	if (a == NULL)
		fatalx("out of memory (json_array)");
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}
