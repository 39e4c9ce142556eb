/*
 * ubctx.c -- the libunbound context of refsend and of refsend-tlsrpt,
 * set up the one way the lab needs: forward to the lab's validating
 * resolver (on 127.0.0.0/8), validate ourselves with the lab's trust
 * anchor, and resolve the lab's names under "test.", which RFC 6761 makes
 * a default local zone answered with NXDOMAIN.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <unbound.h>

#include "common.h"

struct ub_ctx *
ubctx_new(const char *resolver, const char *trust_anchor, int flags,
    char *err, size_t errlen)
{
	struct ub_ctx	*ctx;
	int		 r;

	if ((ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "ub_ctx_create failed");
		return NULL;
	}
#define UBSET(k, v) \
	if ((r = ub_ctx_set_option(ctx, k, v)) != 0) { \
		snprintf(err, errlen, "unbound option %s %s: %s", k, v, \
		    ub_strerror(r)); \
		goto fail; }
	UBSET("do-not-query-localhost:", "no")
	if (flags & UBCTX_WHY_BOGUS)
		UBSET("val-log-level:", "2")
#undef UBSET
	if (resolver != NULL)
		r = ub_ctx_set_fwd(ctx, resolver);
	else
		r = ub_ctx_resolvconf(ctx, NULL);
	if (r != 0) {
		snprintf(err, errlen, "resolver %s: %s",
		    resolver ? resolver : "/etc/resolv.conf", ub_strerror(r));
		goto fail;
	}
	if (trust_anchor != NULL) {
		/* A missing or unreadable file gets a clear message. */
		if (access(trust_anchor, R_OK) == -1) {
			snprintf(err, errlen, "trust_anchor %s: %s",
			    trust_anchor, strerror(errno));
			goto fail;
		}
		if ((r = ub_ctx_add_ta_file(ctx, trust_anchor)) != 0) {
			snprintf(err, errlen, "trust_anchor %s: %s",
			    trust_anchor, ub_strerror(r));
			goto fail;
		}
	}
	/* Threads, not a forked helper: answers come back through ub_fd. */
	if ((flags & UBCTX_ASYNC) && (r = ub_ctx_async(ctx, 1)) != 0) {
		snprintf(err, errlen, "ub_ctx_async: %s", ub_strerror(r));
		goto fail;
	}
	/*
	 * ub_ctx_set_option("local-zone:", "test. nodefault") is accepted
	 * but has no effect in libunbound 1.17, so the zone is removed
	 * instead.  This finalises the context, so it comes last, and a
	 * trust anchor file libunbound cannot use fails here.
	 */
	if ((r = ub_ctx_zone_remove(ctx, "test.")) != 0) {
		snprintf(err, errlen, "libunbound initialisation failed "
		    "(trust_anchor %s, resolver %s): %s",
		    trust_anchor ? trust_anchor : "none",
		    resolver ? resolver : "from resolv.conf", ub_strerror(r));
		goto fail;
	}
	return ctx;
 fail:
	ub_ctx_delete(ctx);
	return NULL;
}
