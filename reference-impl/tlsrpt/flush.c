/*
 * flush.c -- the two commands.
 *
 * flush: read refsend's events from the saved offset (complete lines
 * only), aggregate them (agg.c), and for each policy domain with at least
 * one counted session: look up _smtp._tls.<domain> (a "record" event says
 * what was decided), build the report, keep a copy as
 * state_dir/reports/<report-id>.json ("report" event) and deliver it to
 * every rua ("delivery" events).  Then save the new offset.
 *
 * retry: every pending delivery that is due (pending.c) is tried again.
 *
 * state_dir/state.json (state.c) holds {"offset", "inode",
 * "last_flush"}.  With period = daily (the default), only events before
 * today 00:00 UTC are read, and each UTC day is its own report, from its
 * 00:00:00Z to the next day's 00:00:00Z (RFC 8460 section 4.1's
 * "00:00-24:00": a session in the day's last second is inside).  With
 * period = flush, a report covers from the previous flush (or the first
 * event read, if earlier) to now, or to the last event read if that is
 * later, rounded up to the second.  state_dir/lock keeps two runs apart.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tlsrpt.h"

static int
flush_setup(const struct config *c)
{
	char	*p;
	int	 fd;

	if (mkdir(c->state_dir, 0755) == -1 && errno != EEXIST) {
		log_warnx("state_dir %s: %s", c->state_dir, strerror(errno));
		return -1;
	}
	xasprintf(&p, "%s/reports", c->state_dir);
	if (mkdir(p, 0755) == -1 && errno != EEXIST) {
		log_warnx("%s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	free(p);
	xasprintf(&p, "%s/lock", c->state_dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd == -1 || flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("state_dir %s is locked by another run",
		    c->state_dir);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;	/* held until exit */
}

/*
 * Feed the complete lines after st->offset; *end gets the offset after
 * the last line consumed.  With limit (daily), stop at the first event at
 * or after limit.
 */
static int
flush_read(const struct config *c, struct state *st, struct agg *a,
    time_t limit, long long *end)
{
	struct stat	 sb;
	FILE		*fp;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	long long	 off;
	json_t		*o;
	double		 ts;

	if ((fp = fopen(c->events, "r")) == NULL) {
		if (errno == ENOENT) {
			*end = 0;
			return 0;	/* nothing logged yet */
		}
		log_warnx("events %s: %s", c->events, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &sb) == -1) {
		fclose(fp);
		return -1;
	}
	if ((long long)sb.st_ino != st->inode || sb.st_size < st->offset) {
		/* A new or truncated file: from its beginning. */
		st->inode = (long long)sb.st_ino;
		st->offset = 0;
	}
	if (fseeko(fp, (off_t)st->offset, SEEK_SET) == -1) {
		fclose(fp);
		return -1;
	}
	off = st->offset;
	while ((n = getline(&line, &cap, fp)) > 0) {
		if (line[n - 1] != '\n')
			break;		/* being written: next time */
		if (limit != 0) {
			o = json_loadb(line, (size_t)n, 0, NULL);
			ts = json_number_value(json_object_get(o, "ts"));
			json_decref(o);
			if (ts >= (double)limit)
				break;
		}
		(void)agg_feed_line(a, line, (size_t)n);
		off += n;
	}
	free(line);
	fclose(fp);
	*end = off;
	return 0;
}

/* The whole file as a string (caller frees), NULL if unreadable. */
static char *
flush_read_file(const char *path)
{
	FILE		*fp;
	struct buf	 b = { NULL, 0, 0 };
	int		 r;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	r = file_read(fp, &b);
	fclose(fp);
	if (r == -1)
		buf_free(&b);
	return b.data;
}

/* mailto: every MX host, every address, until one takes the mail. */
static enum deliver_status
flush_mailto(const struct config *c, struct dns *dns, const char *addr,
    const struct buf *msg, long *code, char **detail)
{
	const struct route		*rt;
	struct dns_list			 mx, ad;
	struct smtp_result		 res;
	const char			*domain = strrchr(addr, '@') + 1;
	enum deliver_status		 st = DELIVER_PENDING;
	size_t				 i, j;
	int				 port;

	rt = config_route(c, domain);
	port = rt != NULL && rt->port != 0 ? rt->port : c->smtp_port;
	dns_mx(dns, domain, &mx);
	if (mx.status != DNS_OK) {
		xasprintf(detail, "MX lookup of %s: %s (%s)", domain,
		    dns_status_name(mx.status), mx.why ? mx.why : "");
		st = mx.status == DNS_NOTFOUND ? DELIVER_FAILED :
		    DELIVER_PENDING;
		dns_list_free(&mx);
		return st;
	}
	for (i = 0; i < mx.n && st == DELIVER_PENDING; i++) {
		dns_addrs(dns, mx.items[i], &ad);
		if (ad.status != DNS_OK) {
			free(*detail);
			xasprintf(detail, "address lookup of %s: %s",
			    mx.items[i], dns_status_name(ad.status));
		}
		for (j = 0; j < ad.n && st == DELIVER_PENDING; j++) {
			if (smtp_send(ad.items[j], port, c->helo_name,
			    c->report_from, addr, msg, c->timeout,
			    c->session_timeout, &res) == 0)
				st = DELIVER_SENT;
			else if (res.permanent)
				st = DELIVER_FAILED;
			*code = res.code;
			free(*detail);
			*detail = res.detail;
		}
		dns_list_free(&ad);
	}
	dns_list_free(&mx);
	if (*detail == NULL)
		*detail = xstrdup("no MX host address");
	return st;
}

static enum deliver_status
flush_https(const struct config *c, struct dns *dns, const char *url,
    const struct buf *gz, long *code, char **detail)
{
	struct dns_list	 ad;
	char		 host[256];
	int		 port, r;
	unsigned char	 tmp[16];

	if (https_url_host(url, host, sizeof(host), &port) == -1) {
		xasprintf(detail, "bad https URL");
		return DELIVER_FAILED;
	}
	memset(&ad, 0, sizeof(ad));
	if (inet_pton(AF_INET, host, tmp) == 1 ||
	    inet_pton(AF_INET6, host, tmp) == 1)
		dns_list_add(&ad, host);
	else {
		dns_addrs(dns, host, &ad);
		if (ad.status != DNS_OK) {
			xasprintf(detail, "address lookup of %s: %s", host,
			    dns_status_name(ad.status));
			dns_list_free(&ad);
			return DELIVER_PENDING;
		}
	}
	r = https_post(url, c->https_ca, ad.items[0], gz->data, gz->len,
	    c->timeout, code, detail);
	dns_list_free(&ad);
	return r == 0 ? DELIVER_SENT : DELIVER_PENDING;
}

/* Deliver body (the mail for mailto:, the gzip report for https:). */
static enum deliver_status
flush_deliver(const struct config *c, struct dns *dns, const char *rua,
    const struct buf *body, long *code, char **detail)
{
	enum deliver_status	 st;
	char			*addr;

	*code = 0;
	*detail = NULL;
	if (strncasecmp(rua, "https:", 6) == 0)
		return flush_https(c, dns, rua, body, code, detail);
	if ((addr = mime_mailto_addr(rua)) == NULL) {
		*detail = xstrdup("not a mailto: or https: URI");
		return DELIVER_FAILED;
	}
	st = flush_mailto(c, dns, addr, body, code, detail);
	free(addr);
	return st;
}

static const char *
flush_status_name(enum deliver_status st)
{
	return st == DELIVER_SENT ? "sent" : st == DELIVER_PENDING ?
	    "pending" : "failed";
}

static void
flush_delivery_event(const char *rid, const char *domain, const char *rua,
    enum deliver_status st, long code, const char *detail, int attempts)
{
	log_event("delivery", json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s?,s:i}",
	    "report_id", rid, "policy_domain", domain, "rua", rua,
	    "transport", strncasecmp(rua, "https:", 6) == 0 ? "https" :
	    "mailto", "status", flush_status_name(st), "code",
	    (json_int_t)code, "detail", detail, "attempts", attempts));
}

/* The body for rua: the signed mail, or the gzip report itself. */
static int
flush_body(const struct config *c, const char *rua, const char *rid,
    const char *domain, time_t start, time_t end, time_t now,
    const struct buf *gz, struct buf *body)
{
	struct mime_params	 m;
	char			*addr, *boundary, *key, err[256];
	int			 r = 0;

	if (strncasecmp(rua, "https:", 6) == 0) {
		buf_add(body, gz->data, gz->len);
		return 0;
	}
	if ((addr = mime_mailto_addr(rua)) == NULL)
		return -1;
	xasprintf(&boundary, "tlsrpt-%s", rid);
	memset(&m, 0, sizeof(m));
	m.from = c->report_from;
	m.to = addr;
	m.submitter = c->reporting_domain;
	m.policy_domain = domain;
	m.report_id = rid;
	m.start = start;
	m.end = end;
	m.date = now;
	m.message_id = rid;		/* already "uuid@domain" */
	m.boundary = boundary;
	m.gz = gz->data;
	m.gzlen = gz->len;
	mime_message(&m, body);
	if (c->dkim_key != NULL) {
		if ((key = flush_read_file(c->dkim_key)) == NULL) {
			log_warnx("dkim_key %s: %s", c->dkim_key,
			    strerror(errno));
			r = -1;
		} else if (sign_message(body, key, c->dkim_selector,
		    c->reporting_domain, 0, err, sizeof(err)) == -1) {
			log_warnx("DKIM: %s", err);
			r = -1;
		}
		free(key);
	}
	free(addr);
	free(boundary);
	return r;
}

static void
flush_send(const struct config *c, struct dns *dns, const char *rid,
    const char *domain, size_t idx, const char *rua, const struct buf *body,
    time_t now)
{
	struct pending		 pe;
	enum deliver_status	 st;
	long			 code;
	char			*detail, *name;
	time_t			 next;

	st = flush_deliver(c, dns, rua, body, &code, &detail);
	if (st == DELIVER_PENDING) {
		if ((next = pending_next(c, now, 1, now)) == -1) {
			st = DELIVER_FAILED;
		} else {
			xasprintf(&name, "%s-%zu", rid, idx);
			pe.name = name;
			pe.report_id = (char *)(uintptr_t)rid;
			pe.policy_domain = (char *)(uintptr_t)domain;
			pe.rua = (char *)(uintptr_t)rua;
			pe.first_try = now;
			pe.next_try = next;
			pe.attempts = 1;
			if (pending_save(c->state_dir, &pe, body->data,
			    body->len) == -1) {
				log_warnx("cannot save pending %s: %s", name,
				    strerror(errno));
				st = DELIVER_FAILED;
			}
			free(name);
		}
	}
	flush_delivery_event(rid, domain, rua, st, code, detail, 1);
	free(detail);
}

/* Letters, digits, "-", "_" and dots between labels: a domain name we
 * can put into a header, a file name and a query name. */
static int
flush_domain_ok(const char *d)
{
	const char	*p;
	size_t		 label = 0;

	if (*d == '\0' || strlen(d) > 253)
		return 0;
	for (p = d; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/*
 * sending-mta-ip where refsend's events do not say it: the address the
 * kernel picks to reach the receiving IP (refsend does not bind).
 */
static void
flush_sources(const struct agg_domain *d)
{
	struct agg_failure	*f;
	char			 buf[64];
	size_t			 i, j;

	for (i = 0; i < d->npolicies; i++)
		for (j = 0; j < d->policies[i].nfailures; j++) {
			f = &d->policies[i].failures[j];
			if (f->sending_ip == NULL && f->receiving_ip != NULL &&
			    smtp_source_address(f->receiving_ip, buf,
			    sizeof(buf)) == 0)
				f->sending_ip = xstrdup(buf);
		}
}

static void
flush_domain(const struct config *c, struct dns *dns,
    const struct agg_domain *d, time_t start, time_t end, time_t now)
{
	struct dns_list		 txt;
	struct record		 rec;
	struct report_meta	 meta;
	enum record_verdict	 v = RECORD_NONE;
	json_t			*rep, *ruas;
	struct buf		 gz = { NULL, 0, 0 }, body;
	char			 err[256], *qname, *rid, *uuid, *text, *path;
	long long		 ok = 0, failed = 0;
	size_t			 i;

	for (i = 0; i < d->npolicies; i++) {
		ok += d->policies[i].ok;
		failed += d->policies[i].failed;
	}
	if (ok + failed == 0)
		return;
	if (!flush_domain_ok(d->domain)) {
		/* It goes into headers, file names and a DNS name. */
		log_warnx("policy domain \"%.64s\" is not a host name: "
		    "not reported", d->domain);
		return;
	}
	xasprintf(&qname, "_smtp._tls.%s", d->domain);
	dns_txt(dns, qname, &txt);
	memset(&rec, 0, sizeof(rec));
	switch (txt.status) {
	case DNS_OK:
		v = record_select(txt.items, txt.n, &rec, err, sizeof(err));
		break;
	case DNS_NOTFOUND:
		snprintf(err, sizeof(err), "no TXT record (%s)", txt.why ?
		    txt.why : "");
		break;
	default:
		snprintf(err, sizeof(err), "TXT lookup %s: %s",
		    dns_status_name(txt.status), txt.why ? txt.why : "");
		break;
	}
	ruas = log_strings(rec.rua, rec.nrua);
	log_event("record", json_pack("{s:s,s:s,s:s,s:b,s:s,s:o,s:s,s:I,"
	    "s:I}", "policy_domain", d->domain, "qname", qname, "dns",
	    dns_status_name(txt.status), "secure", txt.secure, "decision",
	    txt.status == DNS_OK ? record_verdict_name(v) :
	    txt.status == DNS_NOTFOUND ? "no-record" : "dns-error",
	    "rua", ruas, "detail", err, "sessions_ok", (json_int_t)ok,
	    "sessions_failed", (json_int_t)failed));
	dns_list_free(&txt);
	free(qname);
	if (v != RECORD_OK)
		return;
	if (c->sending_mta_ip == NULL)
		flush_sources(d);
	/* "uuid@reporting_domain": the Subject's Report-ID is a msg-id
	 * (RFC 8460 section 5.3), and so is the Message-ID. */
	uuid = report_new_id();
	xasprintf(&rid, "%s@%s", uuid, c->reporting_domain);
	free(uuid);
	meta.organization_name = c->organization_name;
	meta.contact_info = c->contact_info;
	meta.report_id = rid;
	meta.start = start;
	meta.end = end;
	rep = report_build(d, &meta);
	text = report_dump(rep);
	json_decref(rep);
	xasprintf(&path, "%s/reports/%s.json", c->state_dir, rid);
	if (file_write(NULL, path, 0644, text, strlen(text)) == -1)
		log_warnx("%s: %s", path, strerror(errno));
	if (gz_compress(text, strlen(text), &gz) == -1)
		fatalx("zlib deflate failed");
	log_event("report", json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:I}",
	    "report_id", rid, "policy_domain", d->domain, "sessions_ok",
	    (json_int_t)ok, "sessions_failed", (json_int_t)failed, "file",
	    path, "start", report_time(start, err, 32), "end",
	    report_time(end, err + 32, 32), "rua", (json_int_t)rec.nrua));
	for (i = 0; i < rec.nrua; i++) {
		memset(&body, 0, sizeof(body));
		if (flush_body(c, rec.rua[i], rid, d->domain, start, end, now,
		    &gz, &body) == -1)
			flush_delivery_event(rid, d->domain, rec.rua[i],
			    DELIVER_FAILED, 0, "cannot build the report mail "
			    "(bad mailto: or DKIM key)", 0);
		else
			flush_send(c, dns, rid, d->domain, i, rec.rua[i],
			    &body, now);
		buf_free(&body);
	}
	buf_free(&gz);
	free(text);
	free(path);
	free(rid);
	record_clear(&rec);
}

int
flush_run(const struct config *c, struct dns *dns, time_t now)
{
	struct state		 st;
	struct agg		*a;
	struct agg_domain	*ds;
	long long		 end;
	time_t			 limit = 0, start, stop;
	size_t			 n, i;
	int			 lock;

	if ((lock = flush_setup(c)) == -1)
		return -1;
	state_load(c->state_dir, &st);
	if (c->period == PERIOD_DAILY)
		limit = now - now % 86400;
	a = agg_new(c->sending_mta_ip, c->period == PERIOD_DAILY);
	if (flush_read(c, &st, a, limit, &end) == -1) {
		agg_free(a);
		close(lock);
		return -1;
	}
	if (agg_skipped(a) > 0)
		log_warnx("%zu event line(s) not understood or not joined "
		    "to a policy event", agg_skipped(a));
	/* PERIOD_FLUSH: every event read inside [start, stop]. */
	start = st.last_flush;
	if (agg_first_ts(a) > 0 && (start == 0 ||
	    (time_t)floor(agg_first_ts(a)) < start))
		start = (time_t)floor(agg_first_ts(a));
	if (start == 0)
		start = now;
	stop = now;
	if ((time_t)ceil(agg_last_ts(a)) > stop)
		stop = (time_t)ceil(agg_last_ts(a));
	ds = agg_domains(a, &n);
	for (i = 0; i < n; i++) {
		if (c->period == PERIOD_DAILY)
			flush_domain(c, dns, &ds[i], ds[i].day,
			    ds[i].day + 86400, now);
		else
			flush_domain(c, dns, &ds[i], start, stop, now);
	}
	agg_free(a);
	st.offset = end;
	if (c->period == PERIOD_FLUSH)
		st.last_flush = stop;
	else
		st.last_flush = limit;
	if (state_save(c->state_dir, &st) == -1) {
		close(lock);
		return -1;
	}
	close(lock);
	return 0;
}

int
retry_run(const struct config *c, struct dns *dns, time_t now, int all)
{
	struct pending		 pe;
	struct buf		 body;
	enum deliver_status	 st;
	char			**list, *detail, *gave = NULL;
	long			 code;
	size_t			 i;
	int			 lock;

	if ((lock = flush_setup(c)) == -1)
		return -1;
	list = pending_list(c->state_dir);
	for (i = 0; list[i] != NULL; i++) {
		memset(&body, 0, sizeof(body));
		if (pending_load(c->state_dir, list[i], &pe, &body) == -1) {
			log_warnx("pending %s: unreadable, left alone",
			    list[i]);
			buf_free(&body);
			continue;
		}
		if (!all && pe.next_try > now) {
			pending_clear(&pe);
			buf_free(&body);
			continue;
		}
		st = flush_deliver(c, dns, pe.rua, &body, &code, &detail);
		pe.attempts++;
		if (st == DELIVER_PENDING) {
			pe.next_try = pending_next(c, pe.first_try,
			    pe.attempts, now);
			if (pe.next_try == -1) {
				st = DELIVER_FAILED;
				xasprintf(&gave, "gave up after %d attempts: "
				    "%s", pe.attempts, detail ? detail : "");
				free(detail);
				detail = gave;
			} else if (pending_save(c->state_dir, &pe, NULL, 0)
			    == -1)
				log_warnx("pending %s: cannot save: %s",
				    pe.name, strerror(errno));
		}
		if (st != DELIVER_PENDING)
			(void)pending_remove(c->state_dir, pe.name);
		flush_delivery_event(pe.report_id, pe.policy_domain, pe.rua,
		    st, code, detail, pe.attempts);
		free(detail);
		pending_clear(&pe);
		buf_free(&body);
	}
	pending_list_free(list);
	close(lock);
	return 0;
}
