/*
 * pending.c -- deliveries that failed temporarily, kept until they are
 * sent or given up: state_dir/pending/NAME.body (the bytes to send) and
 * NAME.json (report id, policy domain, rua, first and next try, number of
 * attempts).  The .json file is written last: it is what makes an entry
 * exist.  The retry schedule's values are the delays after the 1st, 2nd,
 * ... attempt, the last one repeating; an entry whose next try would fall
 * after first_try + retry_give_up (24 h by default) is given up.
 *
 * A NAME.json that is not what pending_save() writes (fields missing or of
 * the wrong type, a time before 1970 or after 9999, attempts outside
 * [0, PENDING_ATTEMPTS_MAX]) is unreadable: left alone, with a warning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlsrpt.h"

#define PENDING_TIME_MAX	253402300799LL	/* 9999-12-31T23:59:59Z */
#define PENDING_ATTEMPTS_MAX	1000000

static char *
pending_path(const char *dir, const char *name, const char *ext)
{
	char	*p;

	xasprintf(&p, "%s/pending/%s.%s", dir, name, ext);
	return p;
}

int
pending_save(const char *dir, const struct pending *pe, const void *body,
    size_t len)
{
	json_t	*o;
	char	*path, *text, *sub;
	int	 r;

	xasprintf(&sub, "%s/pending", dir);
	if (mkdir(sub, 0755) == -1 && errno != EEXIST) {
		free(sub);
		return -1;
	}
	free(sub);
	if (body != NULL) {
		path = pending_path(dir, pe->name, "body");
		r = file_write(NULL, path, 0644, body, len);
		free(path);
		if (r == -1)
			return -1;
	}
	o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:i}", "report_id", pe->report_id,
	    "policy_domain", pe->policy_domain, "rua", pe->rua,
	    "first_try", (json_int_t)pe->first_try, "next_try",
	    (json_int_t)pe->next_try, "attempts", pe->attempts);
	if (o == NULL)
		fatalx("out of memory (json_pack)");
	text = report_dump(o);
	json_decref(o);
	path = pending_path(dir, pe->name, "json");
	r = file_write(NULL, path, 0644, text, strlen(text));
	free(path);
	free(text);
	return r;
}

char **
pending_list(const char *dir)
{
	char	*sub, **list;

	xasprintf(&sub, "%s/pending", dir);
	list = file_list(sub, ".json");
	free(sub);
	return list != NULL ? list : xcalloc(1, sizeof(*list));
}

void
pending_list_free(char **list)
{
	file_list_free(list);
}

static int
pending_read(const char *path, struct buf *b)
{
	FILE	*fp;
	int	 r;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	r = file_read(fp, b);
	fclose(fp);
	return r;
}

int
pending_parse(const char *text, size_t len, const char *name,
    struct pending *pe)
{
	json_t		*o;
	const char	*rid, *pd, *rua;
	json_int_t	 first, next;
	int		 attempts;

	memset(pe, 0, sizeof(*pe));
	o = json_loadb(text, len, 0, NULL);
	if (o == NULL || json_unpack(o, "{s:s,s:s,s:s,s:I,s:I,s:i}",
	    "report_id", &rid, "policy_domain", &pd, "rua", &rua,
	    "first_try", &first, "next_try", &next, "attempts", &attempts)
	    == -1 || first < 0 || first > PENDING_TIME_MAX || next < 0 ||
	    next > PENDING_TIME_MAX || attempts < 0 ||
	    attempts > PENDING_ATTEMPTS_MAX) {
		json_decref(o);
		return -1;
	}
	pe->name = xstrdup(name);
	pe->report_id = xstrdup(rid);
	pe->policy_domain = xstrdup(pd);
	pe->rua = xstrdup(rua);
	pe->first_try = (time_t)first;
	pe->next_try = (time_t)next;
	pe->attempts = attempts;
	json_decref(o);
	return 0;
}

int
pending_load(const char *dir, const char *name, struct pending *pe,
    struct buf *body)
{
	struct buf	 b = { NULL, 0, 0 };
	char		*path;
	int		 r;

	memset(pe, 0, sizeof(*pe));
	path = pending_path(dir, name, "json");
	r = pending_read(path, &b);
	free(path);
	if (r == -1 || pending_parse(b.data, b.len, name, pe) == -1) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	if (body != NULL) {
		path = pending_path(dir, name, "body");
		if (pending_read(path, body) == -1) {
			free(path);
			pending_clear(pe);
			return -1;
		}
		free(path);
	}
	return 0;
}

int
pending_remove(const char *dir, const char *name)
{
	char	*p;
	int	 r;

	p = pending_path(dir, name, "json");
	r = unlink(p);
	free(p);
	p = pending_path(dir, name, "body");
	(void)unlink(p);
	free(p);
	return r;
}

void
pending_clear(struct pending *pe)
{
	free(pe->name);
	free(pe->report_id);
	free(pe->policy_domain);
	free(pe->rua);
	memset(pe, 0, sizeof(*pe));
}

time_t
pending_next(const struct config *c, time_t first_try, int attempts,
    time_t now)
{
	size_t	i;
	time_t	next;

	i = attempts > 0 ? (size_t)attempts - 1 : 0;
	if (i >= c->nretry)
		i = c->nretry - 1;
	next = now + c->retry[i];
	if (next > first_try + c->give_up)
		return -1;
	return next;
}
