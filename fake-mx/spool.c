/*
 * spool.c -- one file per accepted message.
 *
 * \file
 * A message is written to "<spool>/<session>-<n>.eml.tmp" while it
 * arrives and renamed to "<session>-<n>.eml" by spool_commit(), so a
 * reader never sees half a message under the final name.  The struct
 * spool_msg owns its FILE and paths; spool_free() releases everything and
 * removes an uncommitted temporary file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"

struct spool_msg {
	FILE	*fp;
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
	if ((m->fp = fopen(m->tmp, "we")) == NULL) {
		free(m->path);
		free(m->tmp);
		free(m);
		return NULL;
	}
	return m;
}

int
spool_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->failed)
		return -1;
	if (len > 0 && fwrite(buf, 1, len, m->fp) != len) {
		m->failed = 1;
		return -1;
	}
	return 0;
}

const char *
spool_commit(struct spool_msg *m)
{
	int	r;

	r = fclose(m->fp);
	m->fp = NULL;
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
	if (m->fp != NULL)
		fclose(m->fp);
	if (!m->committed)
		unlink(m->tmp);
	free(m->tmp);
	free(m->path);
	free(m);
}
