/*
 * stscache.c -- the MTA-STS policy cache (RFC 8461 section 5): one file
 * per policy domain, DIR/DOMAIN.json (DIR is <queue_dir>/sts), holding the
 * domain, the policy id of the TXT record it was fetched under, the time
 * it was fetched and the policy text as fetched:
 *
 *	{"domain": "d.test", "id": "20240101", "fetched": 1700000000,
 *	 "policy": "version: STSv1\r\nmode: enforce\r\n..."}
 *
 * It is written as the queue writes its files: into the queue's tmp/,
 * fsync'ed, renamed into place, and the folder fsync'ed (file_write()), so
 * after a crash a domain's entry is the old one or the whole new one.  On
 * reading, the text is parsed again: an entry that does not parse, or
 * names another domain, is as good as none.
 *
 * stscache_decide() is the section 5.1 decision, a pure function of the
 * cached entry, the TXT record's id and the time.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int
stscache_fresh(const struct sts_cached *c, time_t now)
{
	return c != NULL && now >= c->fetched &&
	    now - c->fetched < (time_t)c->policy.max_age;
}

enum sts_step
stscache_decide(const struct sts_cached *c, const char *txt_id, time_t now)
{
	int	fresh = stscache_fresh(c, now);

	if (txt_id == NULL)
		/* No usable TXT record (none, several, malformed, or the
		 * lookup failed): a fresh policy still holds. */
		return fresh ? STS_STEP_CACHED : STS_STEP_NONE;
	if (fresh && strcmp(c->id, txt_id) == 0)
		return STS_STEP_CACHED;
	/* A new id, nothing cached, or the cached policy expired. */
	return STS_STEP_FETCH;
}

enum sts_step
stscache_fallback(const struct sts_cached *c, time_t now)
{
	return stscache_fresh(c, now) ? STS_STEP_CACHED : STS_STEP_NONE;
}

static char *
stscache_path(const char *dir, const char *domain)
{
	char	*path;

	xasprintf(&path, "%s/%s.json", dir, domain);
	return path;
}

int
stscache_load(const char *dir, const char *domain, struct sts_cached *c)
{
	json_t		*o;
	json_error_t	 jerr;
	const char	*d, *id, *text;
	char		*path, err[256];
	size_t		 len;
	json_int_t	 fetched;
	FILE		*fp;

	memset(c, 0, sizeof(*c));
	if (!dns_valid_hostname(domain)) {
		errno = EINVAL;
		return -1;
	}
	path = stscache_path(dir, domain);
	fp = fopen(path, "r");
	free(path);
	if (fp == NULL)
		return -1;
	o = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
	fclose(fp);
	if (o == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (json_unpack(o, "{s:s,s:s,s:I,s:s%}", "domain", &d, "id", &id,
	    "fetched", &fetched, "policy", &text, &len) == -1 ||
	    strcmp(d, domain) != 0 || strlen(id) > STS_ID_MAX ||
	    fetched < 0 || stspolicy_parse(text, len, &c->policy, err,
	    sizeof(err)) == -1) {
		json_decref(o);
		errno = EINVAL;
		return -1;
	}
	snprintf(c->domain, sizeof(c->domain), "%s", domain);
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->fetched = (time_t)fetched;
	c->text = xstrndup(text, len);
	c->len = len;
	json_decref(o);
	return 0;
}

int
stscache_save(const char *dir, const char *tmpdir, const struct sts_cached *c)
{
	json_t	*o;
	char	*path, *tmp, *text;
	int	 r, save;

	if (!dns_valid_hostname(c->domain)) {
		errno = EINVAL;
		return -1;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	o = json_pack("{s:s,s:s,s:I,s:s%}", "domain", c->domain, "id", c->id,
	    "fetched", (json_int_t)c->fetched, "policy", c->text, c->len);
	if (o == NULL) {
		errno = EINVAL;		/* not UTF-8: never parsed */
		return -1;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		fatalx("out of memory (json_dumps)");
	path = stscache_path(dir, c->domain);
	xasprintf(&tmp, "%s/sts-%s", tmpdir, c->domain);
	r = file_write(tmp, path, 0600, text, strlen(text));
	save = errno;
	free(tmp);
	free(path);
	free(text);
	errno = save;
	return r;
}

void
stscache_clear(struct sts_cached *c)
{
	stspolicy_clear(&c->policy);
	free(c->text);
	memset(c, 0, sizeof(*c));
}
