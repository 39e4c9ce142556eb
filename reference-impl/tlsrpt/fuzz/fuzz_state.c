/*
 * fuzz_state.c -- libFuzzer target: the reporter's own files as a crash or
 * a hand may leave them: state.json (state_parse()) and a pending
 * NAME.json (pending_parse()), then the next retry time computed from what
 * was taken, as `retry` does.  It must never crash, leak or overflow, and
 * what is taken is in range: offset and inode >= 0, times in [0, year
 * 9999], attempts in [0, 1000000]; a refused file leaves nothing behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

#define TIME_MAX	253402300799LL

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int		 retry[] = { 60, 300, 86400 };
	struct config		 c;
	struct state		 st;
	struct pending		 pe;
	const char		*text = (const char *)data;

	if (state_parse(text, len, &st) == 0) {
		if (st.offset < 0 || st.inode < 0 || st.last_flush < 0 ||
		    st.last_flush > TIME_MAX)
			abort();
	} else if (st.offset != 0 || st.inode != 0 || st.last_flush != 0)
		abort();
	if (pending_parse(text, len, "n-0", &pe) == 0) {
		if (pe.name == NULL || pe.report_id == NULL ||
		    pe.policy_domain == NULL || pe.rua == NULL ||
		    pe.first_try < 0 || pe.first_try > TIME_MAX ||
		    pe.next_try < 0 || pe.next_try > TIME_MAX ||
		    pe.attempts < 0 || pe.attempts > 1000000)
			abort();
		memset(&c, 0, sizeof(c));
		c.retry = retry;
		c.nretry = 3;
		c.give_up = 30 * 86400;
		pe.attempts++;
		(void)pending_next(&c, pe.first_try, pe.attempts,
		    pe.next_try);
	} else if (pe.name != NULL || pe.rua != NULL)
		abort();
	pending_clear(&pe);
	return 0;
}
