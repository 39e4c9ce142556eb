/*
 * spool.c -- one file per accepted message.
 *
 * \file
 * A message is written to "<spool>/<session>-<n>.eml.tmp" while it
 * arrives and renamed to "<session>-<n>.eml" by spool_commit(), so a
 * reader never sees half a message under the final name.  The bytes wait
 * in memory (up to SPOOL_BUF_MAX) and go out with write(2): a message of
 * a few kilobytes is one write.  The struct spool_msg owns its file
 * descriptor, buffer and paths; spool_free() releases everything and
 * removes an uncommitted temporary file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"

#define SPOOL_BUF_MAX	65536	/* written out past this */

struct spool_msg {
	int	 fd;
	char	*buf;		/* bytes not yet written */
	size_t	 len, cap;
	char	*tmp;
	char	*path;
	int	 committed;
	int	 failed;
};

struct spool_msg *
spool_open(const char *dir, const char *session, unsigned int n)
{
	struct spool_msg	*m;
	size_t			 len;

	m = xcalloc(1, sizeof(*m));
	len = strlen(dir) + strlen(session) + 32;
	m->path = xmalloc(len);
	m->tmp = xmalloc(len);
	snprintf(m->path, len, "%s/%s-%u.eml", dir, session, n);
	snprintf(m->tmp, len, "%s.tmp", m->path);
	if ((m->fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666)) == -1) {
		free(m->path);
		free(m->tmp);
		free(m);
		return NULL;
	}
	return m;
}

/* Write out the buffered bytes; -1 (and failed) on error. */
static int
spool_flush(struct spool_msg *m)
{
	size_t	off;
	ssize_t	w;

	for (off = 0; off < m->len; off += (size_t)w) {
		w = write(m->fd, m->buf + off, m->len - off);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0) {
			m->failed = 1;
			return -1;
		}
	}
	m->len = 0;
	return 0;
}

int
spool_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->failed)
		return -1;
	if (m->len + len > m->cap) {
		while (m->len + len > m->cap)
			m->cap = m->cap ? m->cap * 2 : 4096;
		m->buf = xrealloc(m->buf, m->cap);
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	if (m->len >= SPOOL_BUF_MAX)
		return spool_flush(m);
	return 0;
}

const char *
spool_commit(struct spool_msg *m)
{
	int	r;

	if (!m->failed)
		spool_flush(m);
	r = close(m->fd);
	m->fd = -1;
	if (r != 0 || m->failed || rename(m->tmp, m->path) == -1)
		return NULL;
	m->committed = 1;
	return m->path;
}

void
spool_free(struct spool_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	if (!m->committed)
		unlink(m->tmp);
	free(m->buf);
	free(m->tmp);
	free(m->path);
	free(m);
}
