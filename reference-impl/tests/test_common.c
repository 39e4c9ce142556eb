/*
 * test_common.c -- the code refsend shares with refsend-tlsrpt (common.h)
 * where the two programs' own tests do not reach it: durable writes,
 * the list parser's ownership rules, the growable buffer.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

/* The whole content of path (caller frees), NULL if unreadable. */
static char *
test_common_slurp(const char *path)
{
	struct buf	 b = { NULL, 0, 0 };
	FILE		*fp;
	char		 chunk[256];
	size_t		 n;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	buf_add(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&b, chunk, n);
	fclose(fp);
	return b.data;
}

static void
test_common_file_write(void)
{
	char		 dir[] = "/tmp/refsend-common-XXXXXX", *path, *tmp;
	char		*text;
	struct stat	 sb;
	mode_t		 mask;

	mask = umask(022);
	umask(mask);
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	xasprintf(&path, "%s/state.json", dir);
	xasprintf(&tmp, "%s/state.json.tmp", dir);
	/* tmp NULL: "<path>.tmp", gone after the rename. */
	CU_ASSERT(file_write(NULL, path, 0644, "one", 3) == 0);
	CU_ASSERT(file_write(NULL, path, 0644, "two!", 4) == 0);
	text = test_common_slurp(path);
	CU_ASSERT(text != NULL && strcmp(text, "two!") == 0);
	free(text);
	CU_ASSERT(stat(path, &sb) == 0 &&
	    (sb.st_mode & 0777) == (0644 & ~mask));
	CU_ASSERT(access(tmp, F_OK) == -1 && errno == ENOENT);
	unlink(path);
	/* An explicit tmp and mode. */
	CU_ASSERT(file_write(tmp, path, 0600, "", 0) == 0);
	CU_ASSERT(stat(path, &sb) == 0 && sb.st_size == 0 &&
	    (sb.st_mode & 0777) == (0600 & ~mask));
	CU_ASSERT(access(tmp, F_OK) == -1);
	unlink(path);
	/* A failure: the folder of the final name is missing. */
	free(path);
	xasprintf(&path, "%s/missing/state.json", dir);
	errno = 0;
	CU_ASSERT(file_write(tmp, path, 0644, "x", 1) == -1);
	CU_ASSERT(errno == ENOENT);
	CU_ASSERT(access(tmp, F_OK) == -1);
	CU_ASSERT(file_fsync_dir(dir) == 0);
	CU_ASSERT(rmdir(dir) == 0);
	free(path);
	free(tmp);
}

static void
test_common_intlist(void)
{
	static const struct {
		const char	*text;
		int		 ok;
		size_t		 n;
		int		 last;
	} cases[] = {
		{ "7", 1, 1, 7 },
		{ " 1 ,2,\t3 ", 1, 3, 3 },
		{ "0,100", 1, 2, 100 },
		{ "101", 0, 0, 0 },
		{ "-1", 0, 0, 0 },
		{ "1,,2", 0, 0, 0 },
		{ "1 2", 0, 0, 0 },
		{ "1,", 0, 0, 0 },
		{ "x", 0, 0, 0 },
		{ NULL, 0, 0, 0 }
	};
	int	*list;
	size_t	 i, n;

	for (i = 0; cases[i].text != NULL; i++) {
		list = xcalloc(1, sizeof(*list));
		list[0] = 42;
		n = 1;
		if (cases[i].ok) {
			CU_ASSERT(conf_intlist(cases[i].text, 0, 100, &list,
			    &n) == 0);
			CU_ASSERT(n == cases[i].n &&
			    list[n - 1] == cases[i].last);
		} else {
			/* Left as it was. */
			CU_ASSERT(conf_intlist(cases[i].text, 0, 100, &list,
			    &n) == -1);
			CU_ASSERT(n == 1 && list[0] == 42);
		}
		free(list);
	}
}

static void
test_common_buf(void)
{
	struct buf	b = { NULL, 0, 0 };
	int		i;

	for (i = 0; i < 100; i++)
		buf_addf(&b, "%02d,", i);
	CU_ASSERT(b.len == 300 && b.cap >= 301 && b.data[300] == '\0');
	CU_ASSERT(strncmp(b.data + 294, "98,99,", 6) == 0);
	buf_add(&b, NULL, 0);
	CU_ASSERT(b.len == 300);
	buf_free(&b);
	CU_ASSERT(b.data == NULL && b.len == 0 && b.cap == 0);
}

void
tests_common(void)
{
	CU_pSuite	s;

	s = CU_add_suite("common", NULL, NULL);
	CU_add_test(s, "file_write", test_common_file_write);
	CU_add_test(s, "conf_intlist", test_common_intlist);
	CU_add_test(s, "buf", test_common_buf);
}
