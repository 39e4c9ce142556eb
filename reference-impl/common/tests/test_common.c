/*
 * test_common.c -- the code refsend shares with refsend-tlsrpt (common.h)
 * where the two programs' own tests do not reach it: durable writes,
 * folder listings, the list parser's ownership rules, the static_route
 * syntax, the key tables of the configuration files, the growable buffer.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
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

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	CU_ASSERT(file_read(fp, &b) == 0);
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
	/* file_put(), excl: never over a file that exists, which stays. */
	CU_ASSERT(file_put(tmp, 0600, 1, "first", 5) == 0);
	errno = 0;
	CU_ASSERT(file_put(tmp, 0600, 1, "second", 6) == -1);
	CU_ASSERT(errno == EEXIST);
	text = test_common_slurp(tmp);
	CU_ASSERT(text != NULL && strcmp(text, "first") == 0);
	free(text);
	CU_ASSERT(file_put(tmp, 0600, 0, "2nd", 3) == 0);
	text = test_common_slurp(tmp);
	CU_ASSERT(text != NULL && strcmp(text, "2nd") == 0);
	free(text);
	CU_ASSERT(file_fsync_parent(tmp) == 0);
	CU_ASSERT(unlink(tmp) == 0);
	CU_ASSERT(file_fsync_dir(dir) == 0);
	CU_ASSERT(rmdir(dir) == 0);
	free(path);
	free(tmp);
}

static void
test_common_file_list(void)
{
	static const char *const files[] = {
		"b.json", "a.json", ".c.json", ".json", "d.body", "e.json.tmp",
		NULL
	};
	char	 dir[] = "/tmp/refsend-common-XXXXXX", *path, **names, *text;
	size_t	 i;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	names = file_list(dir, "");
	CU_ASSERT(names != NULL && names[0] == NULL);
	file_list_free(names);
	for (i = 0; files[i] != NULL; i++) {
		xasprintf(&path, "%s/%s", dir, files[i]);
		CU_ASSERT(file_write(NULL, path, 0644, "", 0) == 0);
		free(path);
	}
	names = file_list(dir, ".json");
	CU_ASSERT_FATAL(names != NULL);
	CU_ASSERT(names[0] != NULL && strcmp(names[0], "a") == 0);
	CU_ASSERT(names[1] != NULL && strcmp(names[1], "b") == 0);
	CU_ASSERT(names[1] != NULL && names[2] == NULL);
	file_list_free(names);
	names = file_list(dir, "");
	for (i = 0; names != NULL && names[i] != NULL; i++)
		;
	CU_ASSERT(i == 4 && strcmp(names[0], "a.json") == 0 &&
	    strcmp(names[3], "e.json.tmp") == 0);
	file_list_free(names);
	/* An empty file reads as "". */
	xasprintf(&path, "%s/d.body", dir);
	text = test_common_slurp(path);
	CU_ASSERT(text != NULL && *text == '\0');
	free(text);
	free(path);
	for (i = 0; files[i] != NULL; i++) {
		xasprintf(&path, "%s/%s", dir, files[i]);
		unlink(path);
		free(path);
	}
	CU_ASSERT(rmdir(dir) == 0);
	errno = 0;
	CU_ASSERT(file_list(dir, "") == NULL && errno == ENOENT);
	file_list_free(NULL);
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
test_common_route(void)
{
	static const struct {
		const char	*text;
		const char	*name;		/* NULL: refused */
		const char	*address;
		int		 port;
	} cases[] = {
		{ "sink.test 127.0.0.1", "sink.test", "127.0.0.1", 0 },
		{ "sink.test 127.0.0.1:2525", "sink.test", "127.0.0.1", 2525 },
		{ "Sink.TEST. \t 127.0.0.1", "sink.test", "127.0.0.1", 0 },
		{ "six.test ::1", "six.test", "::1", 0 },
		{ "six.test [::1]", "six.test", "::1", 0 },
		{ "six.test [2001:db8::1]:26", "six.test", "2001:db8::1", 26 },
		{ "sink.test", NULL, NULL, 0 },
		{ "sink.test mx.sink.test", NULL, NULL, 0 },
		{ "sink.test 127.0.0.1 2525", NULL, NULL, 0 },
		{ "sink.test 127.0.0.1:0", NULL, NULL, 0 },
		{ "sink.test 127.0.0.1:65536", NULL, NULL, 0 },
		{ "sink.test 127.0.0.1:", NULL, NULL, 0 },
		{ "six.test [::1", NULL, NULL, 0 },
		{ "six.test [::1]x", NULL, NULL, 0 },
		{ "six.test [::1]:x", NULL, NULL, 0 },
		{ ". 127.0.0.1", NULL, NULL, 0 },
		{ NULL, NULL, NULL, 0 }
	};
	char	*v, *name, *address;
	size_t	 i;
	int	 port, r;

	for (i = 0; cases[i].text != NULL; i++) {
		v = xstrdup(cases[i].text);
		r = conf_route(v, &name, &address, &port);
		if (cases[i].name == NULL) {
			CU_ASSERT_EQUAL(r, -1);
		} else {
			CU_ASSERT_EQUAL_FATAL(r, 0);
			CU_ASSERT_STRING_EQUAL(name, cases[i].name);
			CU_ASSERT_STRING_EQUAL(address, cases[i].address);
			CU_ASSERT_EQUAL(port, cases[i].port);
		}
		free(v);
	}
}

/* A key table of each type, as both programs' config.c use it. */
struct test_conf {
	char		*s;
	int		 n, b;
	int		*list;
	size_t		 nlist;
	struct route	*routes;
	size_t		 nroutes;
};

static void
test_common_conf_key(void)
{
#define OFF(f)	offsetof(struct test_conf, f)
	static const struct conf_key keys[] = {
		{ "s", CONF_STR, OFF(s), 0, 0, 0 },
		{ "n", CONF_INT, OFF(n), 0, 1, 10 },
		{ "b", CONF_BOOL, OFF(b), 0, 0, 0 },
		{ "list", CONF_INTLIST, OFF(list), OFF(nlist), 0, 99 },
		{ "route", CONF_ROUTE, OFF(routes), OFF(nroutes), 0, 0 },
		{ NULL, CONF_STR, 0, 0, 0, 0 }
	};
#undef OFF
	static const struct {
		const char	*k, *v;
		int		 r;		/* conf_key_set() */
		const char	*err;		/* part of the message */
	} lines[] = {
		{ "s", "one", 1, NULL }, { "s", "two", 1, NULL },
		{ "n", "10", 1, NULL }, { "n", "11", -1, "n: bad number" },
		{ "b", "yes", 1, NULL }, { "b", "on", -1, "b: yes or no" },
		{ "list", "1, 2,3", 1, NULL },
		{ "list", "1,,2", -1, "list: bad list" },
		{ "route", "A.test 127.0.0.1:26", 1, NULL },
		{ "route", "b.test [::1]", 1, NULL },
		{ "route", "c.test mx.c.test", -1, "route: want 'NAME" },
		{ "other", "x", 0, NULL },
		{ NULL, NULL, 0, NULL }
	};
	struct test_conf	 c;
	char			 err[256], *v;
	size_t			 i;
	int			 r;

	memset(&c, 0, sizeof(c));
	for (i = 0; lines[i].k != NULL; i++) {
		err[0] = '\0';
		v = xstrdup(lines[i].v);
		r = conf_key_set(keys, &c, lines[i].k, v, err, sizeof(err));
		free(v);
		CU_ASSERT_EQUAL(r, lines[i].r);
		if (lines[i].err != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, lines[i].err));
	}
	CU_ASSERT_STRING_EQUAL(c.s, "two");
	CU_ASSERT(c.n == 10 && c.b == 1);
	CU_ASSERT(c.nlist == 3 && c.list[2] == 3);
	CU_ASSERT_EQUAL_FATAL(c.nroutes, 2);
	CU_ASSERT(conf_route_find(c.routes, c.nroutes, "a.TEST") ==
	    &c.routes[0] && c.routes[0].port == 26);
	CU_ASSERT(conf_route_find(c.routes, c.nroutes, "b.test")->port == 0);
	CU_ASSERT(conf_route_find(c.routes, c.nroutes, "c.test") == NULL);
	conf_key_clear(keys, &c);	/* valgrind: nothing left behind */
	CU_ASSERT(c.s == NULL && c.list == NULL && c.nlist == 0);
	CU_ASSERT(c.routes == NULL && c.nroutes == 0);
}

/* The options in front of the command word, and "[--all]". */
static void
test_common_opts(void)
{
	static const struct {
		const char	*args[7];
		const char	*allowed;
		int		 index, verbose;	/* index -1: usage */
		long long	 at;
		int		 all;
	} t[] = {
	    { { "p", "-c", "c", "run", NULL }, "v", 3, 0, 0, 0 },
	    { { "p", "-v", "-v", "-c", "c", "run", "--all" }, "v", 5, 2, 0,
		1 },
	    { { "p", "-T", "86400", "-c", "c", "retry", "-x" }, "T", 5, 0,
		86400, -1 },
	    { { "p", "-c", "c", "run", "-v", NULL }, "v", 3, 0, 0, -1 },
	    { { "p", "-T", "5", "-c", "c", "run", NULL }, "v", -1, 0, 0, 0 },
	    { { "p", "-v", "-c", "c", "run", NULL }, "T", -1, 0, 0, 0 },
	    { { "p", "-T", "0", "-c", "c", "run", NULL }, "T", -1, 0, 0, 0 },
	    { { "p", "-T", "9x", "-c", "c", "run", NULL }, "T", -1, 0, 0, 0 },
	    { { "p", "-c", "c", NULL }, "v", -1, 0, 0, 0 },
	    { { "p", "run", NULL }, "v", -1, 0, 0, 0 },
	};
	struct opts	 o;
	char		*argv[8];
	size_t		 i;
	int		 argc, r;

	opterr = 0;		/* no getopt messages in the test output */
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (argc = 0; argc < 7 && t[i].args[argc] != NULL; argc++)
			argv[argc] = xstrdup(t[i].args[argc]);
		argv[argc] = NULL;
		r = opts_parse(argc, argv, t[i].allowed, &o);
		CU_ASSERT_EQUAL(r, t[i].index);
		if (r != -1) {
			CU_ASSERT_STRING_EQUAL(o.conf, "c");
			CU_ASSERT(o.verbose == t[i].verbose && o.at == t[i].at);
			CU_ASSERT_EQUAL(opts_all(argc - r, argv + r),
			    t[i].all);
		}
		while (argc > 0)
			free(argv[--argc]);
	}
	opterr = 1;
}

/* Text from a peer made safe; a list of strings as a JSON array. */
static void
test_common_log(void)
{
	static char	*v[] = { "mx1.d.test", "*.d.test" };
	json_t		*a;
	char		*s;

	s = log_safe("a\r\n\x7f\\b\xe9", 7);
	CU_ASSERT_STRING_EQUAL(s, "a\\x0d\\x0a\\x7f\\b\\xe9");
	free(s);
	a = log_strings(v, 2);
	s = json_dumps(a, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(s, "[\"mx1.d.test\",\"*.d.test\"]");
	free(s);
	json_decref(a);
	a = log_strings(NULL, 0);
	CU_ASSERT(json_is_array(a) && json_array_size(a) == 0);
	json_decref(a);
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
	CU_add_test(s, "file_write, file_put", test_common_file_write);
	CU_add_test(s, "file_list, file_read", test_common_file_list);
	CU_add_test(s, "conf_intlist", test_common_intlist);
	CU_add_test(s, "conf_route", test_common_route);
	CU_add_test(s, "conf_key_set, conf_key_clear", test_common_conf_key);
	CU_add_test(s, "opts_parse, opts_all", test_common_opts);
	CU_add_test(s, "log_safe, log_strings", test_common_log);
	CU_add_test(s, "buf", test_common_buf);
}
