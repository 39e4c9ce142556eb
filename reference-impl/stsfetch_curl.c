/*
 * stsfetch_curl.c -- struct stsfetch on libcurl's multi interface, inside
 * the libevent loop: libcurl says which sockets to watch and when to wake
 * it (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); our events hand
 * the readiness back (curl_multi_socket_action()) and finished transfers
 * are collected with curl_multi_info_read().  A fetch never blocks the
 * loop, so the other deliveries go on meanwhile; and since everything
 * runs on the loop's one thread, a finished fetch can touch the delivery
 * that asked for it directly (no lock, no pipe, no thread to join at
 * exit, and cancelling is curl_multi_remove_handle()).
 *
 * One GET of https://HOST/.well-known/mta-sts.txt (RFC 8461 section 3.3):
 *  - connected to the addresses our own DNS found for HOST (CURLOPT_RESOLVE:
 *    libcurl asks no resolver), port 443;
 *  - TLS 1.2 or later with SNI HOST, the certificate verified against the
 *    CA file (or libcurl's default bundle) and HOST (RFC 6125 rules);
 *  - redirects are not followed: only a 200 answer counts;
 *  - the media type must be text/plain (parameters ignored);
 *  - at most STS_MAX_BODY octets, also when the body comes chunked or
 *    without a Content-Length (the transfer is cut as soon as it passes);
 *  - the whole fetch within the timeout; no proxy, no connection or TLS
 *    session reused from an earlier fetch.
 * A certificate that does not verify is "sts-webpki-invalid"; every other
 * failure is "sts-policy-fetch-error" (RFC 8460 section 4.3.2).
 *
 * When the process stops (stsfetch_interrupt()), the transfers in flight
 * are taken out of the multi handle and freed at once, whatever the
 * policy host does, and their callers are told "interrupted" from the
 * loop, as is every fetch asked after that.
 */
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "refsend.h"

#define STS_HTTPS_PORT	443

struct fetch_job;

struct fetch_curl {
	struct event_base		*base;
	CURLM				*multi;
	struct event			*timer;
	char				*ca;		/* NULL: default bundle */
	int				 timeout;
	int				 running;
	int				 interrupted;
	LIST_HEAD(, fetch_job)		 jobs;
};

struct fetch_job {
	struct fetch_curl		*fc;
	CURL				*easy;
	struct curl_slist		*resolve;
	struct buf			 body;
	int				 toobig;
	char				 errbuf[CURL_ERROR_SIZE];
	char				*host;
	struct sts_fetched		*res;	/* set when it failed early */
	struct event			*ev_early;
	stsfetch_cb			 cb;
	void				*arg;
	LIST_ENTRY(fetch_job)		 entry;
};

static int	 curl_users;	/* curl_global_init() once per process */

static void	 stsfetch_curl_collect(struct fetch_curl *);

static void
stsfetch_curl_job_free(struct fetch_job *j)
{
	if (j->easy != NULL) {
		curl_multi_remove_handle(j->fc->multi, j->easy);
		curl_easy_cleanup(j->easy);
	}
	if (j->ev_early != NULL)
		event_free(j->ev_early);
	curl_slist_free_all(j->resolve);
	buf_free(&j->body);
	stsfetch_result_free(j->res);
	free(j->host);
	LIST_REMOVE(j, entry);
	free(j);
}

/* Hand the result to the caller, who owns it from then on. */
static void
stsfetch_curl_finish(struct fetch_job *j, struct sts_fetched *r)
{
	stsfetch_cb	 cb = j->cb;
	void		*arg = j->arg;

	j->res = NULL;
	stsfetch_curl_job_free(j);
	cb(arg, r);
}

static struct sts_fetched * __attribute__((format(printf, 3, 4)))
stsfetch_curl_failure(const char *type, long code, const char *fmt, ...)
{
	struct sts_fetched	*r;
	va_list			 ap;

	r = xcalloc(1, sizeof(*r));
	r->result_type = type;
	r->http_code = code;
	va_start(ap, fmt);
	if (vasprintf(&r->detail, fmt, ap) == -1)
		fatalx("out of memory (vasprintf)");
	va_end(ap);
	return r;
}

/* The result of a fetch cancelled because the process is stopping. */
static struct sts_fetched *
stsfetch_curl_interrupted(const char *host)
{
	struct sts_fetched	*r;

	r = xcalloc(1, sizeof(*r));
	r->interrupted = 1;
	xasprintf(&r->detail, "fetch from %s interrupted: the process is "
	    "stopping", host);
	return r;
}

/* text/plain, whatever the case and the parameters after it. */
static int
stsfetch_curl_text_plain(const char *ct)
{
	size_t	n;

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "text/plain", 10) != 0)
		return 0;
	n = 10;
	while (ct[n] == ' ' || ct[n] == '\t')
		n++;
	return ct[n] == '\0' || ct[n] == ';';
}

/* The verdict on a finished transfer. */
static struct sts_fetched *
stsfetch_curl_result(struct fetch_job *j, CURLcode rc)
{
	struct sts_fetched	*r;
	char			*ct = NULL;
	long			 code = 0;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	if (j->toobig || rc == CURLE_FILESIZE_EXCEEDED)
		return stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), code,
		    "the policy from %s is larger than %d octets", j->host,
		    STS_MAX_BODY);
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return stsfetch_curl_failure(RT(STS_WEBPKI_INVALID), 0,
		    "the certificate of %s does not verify: %s", j->host,
		    j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
	if (rc != CURLE_OK)
		return stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), code,
		    "fetch from %s failed: %s", j->host, j->errbuf[0] ?
		    j->errbuf : curl_easy_strerror(rc));
	if (code != 200)
		return stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), code,
		    "%s answered HTTP %ld%s", j->host, code, code / 100 == 3 ?
		    ", a redirect (redirects are not followed)" : ", not 200");
	curl_easy_getinfo(j->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (!stsfetch_curl_text_plain(ct))
		return stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), code,
		    "%s sent media type %s, not text/plain", j->host,
		    ct ? ct : "(none)");
	r = xcalloc(1, sizeof(*r));
	r->ok = 1;
	r->http_code = code;
	buf_add(&j->body, "", 0);
	r->body = j->body.data;
	r->len = j->body.len;
	memset(&j->body, 0, sizeof(j->body));
	xasprintf(&r->detail, "HTTP 200, %zu octets", r->len);
	return r;
}

/* Every finished transfer: its verdict to its caller. */
static void
stsfetch_curl_collect(struct fetch_curl *fc)
{
	struct fetch_job	*j;
	CURLMsg			*msg;
	int			 left;

	while ((msg = curl_multi_info_read(fc->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		j = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&j);
		stsfetch_curl_finish(j, stsfetch_curl_result(j,
		    msg->data.result));
	}
}

static void
stsfetch_curl_event(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_curl	*fc = arg;
	int			 action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(fc->multi, fd, action, &fc->running);
	stsfetch_curl_collect(fc);
}

static void
stsfetch_curl_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_curl	*fc = arg;

	(void)fd;
	(void)what;
	curl_multi_socket_action(fc->multi, CURL_SOCKET_TIMEOUT, 0,
	    &fc->running);
	stsfetch_curl_collect(fc);
}

/* libcurl: watch socket s for what (our event is its socketp). */
static int
stsfetch_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct fetch_curl	*fc = userp;
	struct event		*ev = socketp;
	short			 kind = EV_PERSIST;

	(void)easy;
	if (ev != NULL)
		event_free(ev);
	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(fc->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	ev = event_new(fc->base, s, kind, stsfetch_curl_event, fc);
	if (ev == NULL || event_add(ev, NULL) == -1)
		fatalx("cannot watch a socket of libcurl");
	curl_multi_assign(fc->multi, s, ev);
	return 0;
}

/* libcurl: wake it after ms milliseconds (-1: never). */
static int
stsfetch_curl_timer(CURLM *multi, long ms, void *userp)
{
	struct fetch_curl	*fc = userp;
	struct timeval		 tv;

	(void)multi;
	if (ms < 0)
		evtimer_del(fc->timer);
	else {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(fc->timer, &tv);
	}
	return 0;
}

static size_t
stsfetch_curl_write(char *p, size_t size, size_t n, void *arg)
{
	struct fetch_job	*j = arg;

	if (j->body.len + n * size > STS_MAX_BODY) {
		/* Returning less than given makes libcurl stop. */
		j->toobig = 1;
		return 0;
	}
	buf_add(&j->body, p, n * size);
	return n * size;
}

/* A job that failed before libcurl had it: answered from the loop. */
static void
stsfetch_curl_early(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_job	*j = arg;

	(void)fd;
	(void)what;
	stsfetch_curl_finish(j, j->res);
}

/* Answer j with its result j->res from the loop, as soon as it runs. */
static void
stsfetch_curl_answer_later(struct fetch_job *j)
{
	struct timeval	now = { 0, 0 };

	j->ev_early = evtimer_new(j->fc->base, stsfetch_curl_early, j);
	if (j->ev_early == NULL || evtimer_add(j->ev_early, &now) == -1)
		fatalx("cannot schedule a timer");
}

static void
stsfetch_curl_get(struct stsfetch *f, const char *host, char *const *addrs,
    size_t naddrs, stsfetch_cb cb, void *arg)
{
	struct fetch_curl	*fc = f->impl;
	struct fetch_job	*j;
	struct buf		 entry = { NULL, 0, 0 };
	char			*url;
	size_t			 i;

	j = xcalloc(1, sizeof(*j));
	j->fc = fc;
	j->host = xstrdup(host);
	j->cb = cb;
	j->arg = arg;
	LIST_INSERT_HEAD(&fc->jobs, j, entry);
	if (fc->interrupted) {
		j->res = stsfetch_curl_interrupted(host);
		goto early;
	}
	if (naddrs == 0) {
		j->res = stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), 0,
		    "%s has no usable address", host);
		goto early;
	}
	if ((j->easy = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	/* "HOST:443:ADDR,ADDR": where to connect, without a resolver. */
	buf_addf(&entry, "%s:%d:", host, STS_HTTPS_PORT);
	for (i = 0; i < naddrs; i++)
		buf_addf(&entry, strchr(addrs[i], ':') ? "%s[%s]" : "%s%s",
		    i ? "," : "", addrs[i]);
	j->resolve = curl_slist_append(NULL, entry.data);
	buf_free(&entry);
	xasprintf(&url, "https://%s/.well-known/mta-sts.txt", host);
	curl_easy_setopt(j->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(j->easy, CURLOPT_RESOLVE, j->resolve);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(j->easy, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(j->easy, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(j->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(j->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (fc->ca != NULL)
		curl_easy_setopt(j->easy, CURLOPT_CAINFO, fc->ca);
	curl_easy_setopt(j->easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(j->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)STS_MAX_BODY);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT, (long)fc->timeout);
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(j->easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "refsend (danelab)");
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, stsfetch_curl_write);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	if (curl_multi_add_handle(fc->multi, j->easy) == CURLM_OK)
		return;		/* libcurl asks for a timer: it starts later */
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	j->res = stsfetch_curl_failure(RT(STS_POLICY_FETCH_ERROR), 0,
	    "cannot start a fetch from %s", host);
 early:
	stsfetch_curl_answer_later(j);
}

/*
 * The process is stopping: every transfer in flight leaves the multi
 * handle now (its sockets closed, its timer gone) and its caller hears
 * "interrupted" from the loop; so does every later fetch.  Jobs already
 * answered early keep their answer.
 */
static void
stsfetch_curl_interrupt(struct stsfetch *f)
{
	struct fetch_curl	*fc = f->impl;
	struct fetch_job	*j;

	fc->interrupted = 1;
	LIST_FOREACH(j, &fc->jobs, entry) {
		if (j->easy == NULL)
			continue;
		curl_multi_remove_handle(fc->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
		j->res = stsfetch_curl_interrupted(j->host);
		stsfetch_curl_answer_later(j);
	}
}

/* Pending fetches are dropped: their callbacks are never called. */
static void
stsfetch_curl_free(struct stsfetch *f)
{
	struct fetch_curl	*fc = f->impl;

	while (!LIST_EMPTY(&fc->jobs))
		stsfetch_curl_job_free(LIST_FIRST(&fc->jobs));
	curl_multi_cleanup(fc->multi);
	event_free(fc->timer);
	free(fc->ca);
	free(fc);
	free(f);
	if (--curl_users == 0)
		curl_global_cleanup();
}

static const struct stsfetch_ops stsfetch_curl_ops = {
	stsfetch_curl_get,
	stsfetch_curl_free,
	stsfetch_curl_interrupt
};

struct stsfetch *
stsfetch_curl_new(struct event_base *base, const char *ca, int timeout)
{
	struct fetch_curl	*fc;
	struct stsfetch		*f;

	if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	fc = xcalloc(1, sizeof(*fc));
	fc->base = base;
	fc->ca = ca ? xstrdup(ca) : NULL;
	fc->timeout = timeout > 0 ? timeout : 60;
	LIST_INIT(&fc->jobs);
	if ((fc->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	if ((fc->timer = evtimer_new(base, stsfetch_curl_wakeup, fc)) == NULL)
		fatalx("cannot create a timer");
	curl_multi_setopt(fc->multi, CURLMOPT_SOCKETFUNCTION,
	    stsfetch_curl_socket);
	curl_multi_setopt(fc->multi, CURLMOPT_SOCKETDATA, fc);
	curl_multi_setopt(fc->multi, CURLMOPT_TIMERFUNCTION,
	    stsfetch_curl_timer);
	curl_multi_setopt(fc->multi, CURLMOPT_TIMERDATA, fc);
	f = xcalloc(1, sizeof(*f));
	f->ops = &stsfetch_curl_ops;
	f->impl = fc;
	return f;
}
