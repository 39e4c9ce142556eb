/*
 * log.c -- the JSON-lines event log (docs/interfaces.md) and diagnostics.
 *
 * Each event is one JSON object on one line, written with a single write(2)
 * to a file opened with O_APPEND, so that several refsend processes (submit
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

#include "refsend.h"

static int	log_fd = -1;
static int	log_verbosity;

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
	char		*text, *buf;
	size_t		 len;
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
	json_object_update(line, obj);
	json_decref(obj);
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (text == NULL)
		fatalx("out of memory (json_dumps)");
	len = strlen(text);
	buf = xmalloc(len + 2);
	memcpy(buf, text, len);
	buf[len++] = '\n';
	free(text);
	if (log_verbosity)
		fwrite(buf, 1, len, stderr);
	if (log_fd != -1) {
		do {
			n = write(log_fd, buf, len);
		} while (n == -1 && errno == EINTR);
		if (n != (ssize_t)len)
			fprintf(stderr, "refsend: event log write: %s\n",
			    n == -1 ? strerror(errno) : "short write");
	}
	free(buf);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("refsend: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbosity)
		return;
	va_start(ap, fmt);
	fputs("refsend: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
