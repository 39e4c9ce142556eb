/*
 * file.c -- files as refsend and refsend-tlsrpt keep them: their queue,
 * DSNs, state, reports and pending deliveries.  A write is durable: the
 * data goes to a temporary file, which is fsync'ed and renamed over the
 * final name, and then the folder is fsync'ed, so that after a crash the
 * file is either the old one or the whole new one.  Reading a whole file
 * and listing a folder are here too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int
file_fsync_dir(const char *dir)
{
	int	fd, r;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
file_fsync_parent(const char *path)
{
	char	*dir, *slash;
	int	 r;

	if ((slash = strrchr(path, '/')) == NULL)
		return file_fsync_dir(".");
	dir = xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	r = file_fsync_dir(dir);
	free(dir);
	return r;
}

int
file_put(const char *path, mode_t mode, int excl, const void *data,
    size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd, save;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL :
	    O_TRUNC), mode);
	if (fd == -1)
		return -1;
	while (off < len) {
		n = write(fd, (const char *)data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == 0)
		return 0;
	fd = -1;
 fail:
	save = errno;
	if (fd != -1)
		close(fd);
	unlink(path);
	errno = save;
	return -1;
}

int
file_write(const char *tmp, const char *path, mode_t mode, const void *data,
    size_t len)
{
	char	*own = NULL;
	int	 save;

	if (tmp == NULL) {
		xasprintf(&own, "%s.tmp", path);
		tmp = own;
	}
	if (file_put(tmp, mode, 0, data, len) == -1)
		goto fail;
	if (rename(tmp, path) == -1) {
		save = errno;
		unlink(tmp);
		errno = save;
		goto fail;
	}
	free(own);
	return file_fsync_parent(path);
 fail:
	save = errno;
	free(own);
	errno = save;
	return -1;
}

int
file_read(FILE *fp, struct buf *b)
{
	char	chunk[8192];
	size_t	n;

	buf_add(b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(b, chunk, n);
	return ferror(fp) ? -1 : 0;
}

static int
file_namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
file_list(const char *dir, const char *suffix)
{
	DIR		*d;
	struct dirent	*e;
	char		**names;
	size_t		 n = 0, len, slen = strlen(suffix);

	if ((d = opendir(dir)) == NULL)
		return NULL;
	names = xcalloc(1, sizeof(*names));
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len <= slen ||
		    strcmp(e->d_name + len - slen, suffix) != 0)
			continue;
		names = xreallocarray(names, n + 2, sizeof(*names));
		names[n++] = xstrndup(e->d_name, len - slen);
		names[n] = NULL;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), file_namecmp);
	return names;
}

void
file_list_free(char **names)
{
	size_t	i;

	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}
