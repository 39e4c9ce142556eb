/*
 * stsfetch.c -- the thin interface of the MTA-STS policy fetch (RFC 8461
 * section 3.3).  The real fetcher is stsfetch_curl.c (libcurl on the
 * libevent loop); unit tests plug in canned answers through struct
 * stsfetch_ops, as they do for DNS.
 */
#include <stdlib.h>

#include "refsend.h"

void
stsfetch_get(struct stsfetch *f, const char *host, char *const *addrs,
    size_t naddrs, stsfetch_cb cb, void *arg)
{
	f->ops->get(f, host, addrs, naddrs, cb, arg);
}

void
stsfetch_free(struct stsfetch *f)
{
	if (f != NULL)
		f->ops->free(f);
}

void
stsfetch_interrupt(struct stsfetch *f)
{
	if (f != NULL && f->ops->interrupt != NULL)
		f->ops->interrupt(f);
}

void
stsfetch_result_free(struct sts_fetched *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->detail);
	free(r);
}
