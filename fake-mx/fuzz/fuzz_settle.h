/*
 * fuzz_settle.h -- for the fuzz targets that drive whole sessions
 * (fuzz_session.c, fuzz_relay.c): run fake-mx's event loop until nothing
 * is left to do now, the closing of sessions included.  Header-only: each
 * target is one translation unit.
 */
#ifndef FUZZ_SETTLE_H
#define FUZZ_SETTLE_H

#include <event2/event.h>

#include "fake-mx.h"

static void
fuzz_settle(void)
{
	struct session	*s;
	int		 i, busy;

	for (i = 0; i < 64; i++) {
		event_base_loop(fakemx.base, EVLOOP_NONBLOCK);
		busy = event_base_get_num_events(fakemx.base,
		    EVENT_BASE_COUNT_ACTIVE) > 0;
		TAILQ_FOREACH(s, &fakemx.sessions, entry)
			busy |= s->closing;
		if (!busy)
			return;
	}
}

#endif
