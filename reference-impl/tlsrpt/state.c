/*
 * state.c -- state_dir/state.json, how far refsend's events have been
 * reported: {"offset", "inode", "last_flush"}.  The file is ours, but a
 * crash, a full disk or a hand may leave anything in it: what cannot be
 * used (not an object, a field that is not an integer, a negative offset,
 * a time before 1970 or after 9999) counts as no state at all, so the
 * next flush reads the events file from its start instead of failing for
 * ever on an impossible offset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

#define STATE_TIME_MAX	253402300799LL	/* 9999-12-31T23:59:59Z */

/* An integer field in [0, max] into *v; -1 if it is not one. */
static int
state_field(json_t *o, const char *key, long long max, long long *v)
{
	json_t	*f = json_object_get(o, key);

	if (!json_is_integer(f) || json_integer_value(f) < 0 ||
	    json_integer_value(f) > max)
		return -1;
	*v = json_integer_value(f);
	return 0;
}

int
state_parse(const char *text, size_t len, struct state *st)
{
	json_t		*o;
	long long	 last;
	int		 r = -1;

	memset(st, 0, sizeof(*st));
	if ((o = json_loadb(text, len, 0, NULL)) == NULL)
		return -1;
	if (json_is_object(o) &&
	    state_field(o, "offset", INT64_MAX, &st->offset) == 0 &&
	    state_field(o, "inode", INT64_MAX, &st->inode) == 0 &&
	    state_field(o, "last_flush", STATE_TIME_MAX, &last) == 0) {
		st->last_flush = (time_t)last;
		r = 0;
	}
	json_decref(o);
	if (r == -1)
		memset(st, 0, sizeof(*st));
	return r;
}

void
state_load(const char *dir, struct state *st)
{
	FILE		*fp;
	struct buf	 b = { NULL, 0, 0 };
	char		*p;

	memset(st, 0, sizeof(*st));
	xasprintf(&p, "%s/state.json", dir);
	if ((fp = fopen(p, "r")) == NULL) {
		if (errno != ENOENT)
			log_warnx("%s: %s", p, strerror(errno));
		free(p);
		return;
	}
	if (file_read(fp, &b) == -1 || state_parse(b.data, b.len, st) == -1)
		log_warnx("%s: unusable, the events are read from their "
		    "start", p);
	fclose(fp);
	buf_free(&b);
	free(p);
}

int
state_save(const char *dir, const struct state *st)
{
	json_t	*o;
	char	*p, *text;
	int	 r;

	o = json_pack("{s:I,s:I,s:I}", "offset", (json_int_t)st->offset,
	    "inode", (json_int_t)st->inode, "last_flush",
	    (json_int_t)st->last_flush);
	if (o == NULL)
		fatalx("out of memory (json_pack)");
	text = report_dump(o);
	json_decref(o);
	xasprintf(&p, "%s/state.json", dir);
	r = file_write(NULL, p, 0644, text, strlen(text));
	if (r == -1)
		log_warnx("%s: %s", p, strerror(errno));
	free(p);
	free(text);
	return r;
}
