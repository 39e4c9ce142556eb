/*
 * log.c -- the reporter's JSON-lines events (docs/interfaces.md: report,
 * record, delivery) and its stderr diagnostics.  One event is one line,
 * written with one write(2) to a file opened O_APPEND.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlsrpt.h"

static int	log_fd = -1;

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
log_event(const char *event, json_t *obj)
{
	struct timeval	 tv;
	json_t		*line;
	char		*text;
	struct buf	 b = { NULL, 0, 0 };
	ssize_t		 n;

	if (log_fd == -1) {
		json_decref(obj);
		return;
	}
	gettimeofday(&tv, NULL);
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
	buf_add(&b, text, strlen(text));
	buf_add(&b, "\n", 1);
	free(text);
	do {
		n = write(log_fd, b.data, b.len);
	} while (n == -1 && errno == EINTR);
	if (n != (ssize_t)b.len)
		fprintf(stderr, "refsend-tlsrpt: log write: %s\n",
		    n == -1 ? strerror(errno) : "short write");
	buf_free(&b);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("refsend-tlsrpt: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
