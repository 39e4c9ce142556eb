/*
 * report.c -- one RFC 8460 section 4 report (JSON) from one policy
 * domain's aggregate.  Keys appear in the RFC's order; "mx-host" is an
 * array (erratum 6241); "policy-string" is always an array: one "u s m
 * hex" string per TLSA record for "tlsa", empty for "no-policy-found".
 * "failure-details" is always there (empty without failures), and every
 * failure has a "failure-reason-code" (refsend's words for what went
 * wrong).  "additional-information" is never written: the RFC wants a
 * URI to more information there, and the reporter publishes none.
 * docs/refsend-tlsrpt.md says which of these real report consumers need
 * although the RFC leaves them optional.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlsrpt.h"

const char *
report_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void
report_set_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, k, json_string(v));
}

static json_t *
report_failure(const struct agg_failure *f)
{
	json_t	*o = json_object();

	json_object_set_new(o, "result-type", json_string(f->result_type));
	report_set_str(o, "sending-mta-ip", f->sending_ip);
	report_set_str(o, "receiving-mx-hostname", f->mx_host);
	report_set_str(o, "receiving-mx-helo", f->mx_helo);
	report_set_str(o, "receiving-ip", f->receiving_ip);
	json_object_set_new(o, "failed-session-count",
	    json_integer(f->count));
	report_set_str(o, "failure-reason-code", f->reason);
	return o;
}

static json_t *
report_policy(const struct agg_domain *d, const struct agg_policy *p)
{
	json_t	*o, *pol, *sum, *fails;
	size_t	 i;

	pol = json_object();
	json_object_set_new(pol, "policy-type", json_string(p->type));
	json_object_set_new(pol, "policy-string",
	    log_strings(p->strings, p->nstrings));
	json_object_set_new(pol, "policy-domain", json_string(d->domain));
	/* For sts, the policy's patterns: none when no policy could be
	 * had, an empty array then (the key belongs to every sts entry). */
	if (p->nmx > 0 || strcmp(p->type, "sts") == 0)
		json_object_set_new(pol, "mx-host",
		    log_strings(p->mx, p->nmx));
	sum = json_object();
	json_object_set_new(sum, "total-successful-session-count",
	    json_integer(p->ok));
	json_object_set_new(sum, "total-failure-session-count",
	    json_integer(p->failed));
	o = json_object();
	json_object_set_new(o, "policy", pol);
	json_object_set_new(o, "summary", sum);
	fails = json_array();
	for (i = 0; i < p->nfailures; i++)
		json_array_append_new(fails, report_failure(&p->failures[i]));
	json_object_set_new(o, "failure-details", fails);
	return o;
}

json_t *
report_build(const struct agg_domain *d, const struct report_meta *m)
{
	json_t	*r, *range, *pols;
	char	 b1[32], b2[32];
	size_t	 i;

	r = json_object();
	json_object_set_new(r, "organization-name",
	    json_string(m->organization_name));
	range = json_object();
	json_object_set_new(range, "start-datetime",
	    json_string(report_time(m->start, b1, sizeof(b1))));
	json_object_set_new(range, "end-datetime",
	    json_string(report_time(m->end, b2, sizeof(b2))));
	json_object_set_new(r, "date-range", range);
	json_object_set_new(r, "contact-info", json_string(m->contact_info));
	json_object_set_new(r, "report-id", json_string(m->report_id));
	pols = json_array();
	for (i = 0; i < d->npolicies; i++)
		json_array_append_new(pols, report_policy(d,
		    &d->policies[i]));
	json_object_set_new(r, "policies", pols);
	return r;
}

char *
report_dump(const json_t *r)
{
	char	*s;

	if ((s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		fatalx("out of memory (json_dumps)");
	return s;
}

char *
report_new_id(void)
{
	unsigned char	 r[16];
	char		*id;
	int		 fd;
	ssize_t		 n = -1;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, r, sizeof(r));
		close(fd);
	}
	if (n != (ssize_t)sizeof(r))
		fatalx("cannot read /dev/urandom");
	r[6] = (r[6] & 0x0f) | 0x40;	/* UUID version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;
	xasprintf(&id, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
	    r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return id;
}
