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
}

void
events_emit(const char *session, const struct listener_conf *l,
    const char *kind, json_t *fields)
{
	struct timeval	 tv;
	json_t		*o;
	char		*body, *line;
	size_t		 blen, len, off;
	ssize_t		 n;
	int		 hlen;

	gettimeofday(&tv, NULL);
	o = json_object();
	json_object_set_new(o, "session", json_string(session));
	json_object_set_new(o, "listener", json_string(l ? l->name : ""));
	json_object_set_new(o, "event", json_string(kind));
	if (l != NULL && l->mode == MODE_SINK)
		json_object_set_new(o, "sink", json_true());
	if (l != NULL && l->mode == MODE_IMPOSTOR)
		json_object_set_new(o, "impostor", json_true());
	if (fields != NULL) {
		json_object_update(o, fields);
		json_decref(fields);
	}
	body = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (body == NULL) {
		fprintf(stderr, "fake-mx: out of memory (event)\n");
		exit(1);
	}
	/*
	 * "ts" first, as a JSON number with microseconds, formatted from
	 * integers (no floating point printf on the hot path).
	 */
	blen = strlen(body);
	line = xmalloc(blen + 48);
	hlen = snprintf(line, 48, "{\"ts\":%lld.%06ld,", (long long)tv.tv_sec,
	    (long)tv.tv_usec);
	memcpy(line + hlen, body + 1, blen - 1);	/* skip body's '{' */
	len = (size_t)hlen + blen - 1;
	line[len++] = '\n';
	free(body);
	for (off = 0; off < len; off += (size_t)n) {
		n = write(events_fd == -1 ? STDOUT_FILENO : events_fd,
		    line + off, len - off);
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
	free(line);
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
