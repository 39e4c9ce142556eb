/*
 * test_state.c -- state.json (state.c) and the pending entries'
 * NAME.json (pending.c), as written and as a crash or a hand may leave
 * them: what is out of range is refused, never used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

static void
test_state_parse(void)
{
	static const struct {
		const char	*text;
		int		 ok;
		long long	 offset;
	} cases[] = {
		{ "{\"offset\":10,\"inode\":5,\"last_flush\":1700000000}", 1,
		    10 },
		{ "{\"offset\":0,\"inode\":0,\"last_flush\":0}", 1, 0 },
		{ "{\"offset\":-5,\"inode\":5,\"last_flush\":0}", 0, 0 },
		{ "{\"offset\":1,\"inode\":-1,\"last_flush\":0}", 0, 0 },
		{ "{\"offset\":1,\"inode\":1,\"last_flush\":-1}", 0, 0 },
		{ "{\"offset\":1,\"inode\":1,\"last_flush\":"
		    "9223372036854775807}", 0, 0 },
		{ "{\"offset\":1.5,\"inode\":1,\"last_flush\":0}", 0, 0 },
		{ "{\"offset\":\"1\",\"inode\":1,\"last_flush\":0}", 0, 0 },
		{ "{\"inode\":1,\"last_flush\":0}", 0, 0 },
		{ "[1,2,3]", 0, 0 },
		{ "", 0, 0 },
		{ NULL, 0, 0 }
	};
	struct state	 st;
	size_t		 i;
	int		 r;

	for (i = 0; cases[i].text != NULL; i++) {
		memset(&st, 0xff, sizeof(st));
		r = state_parse(cases[i].text, strlen(cases[i].text), &st);
		if (cases[i].ok) {
			CU_ASSERT(r == 0 && st.offset == cases[i].offset);
		} else {
			CU_ASSERT(r == -1 && st.offset == 0 && st.inode == 0 &&
			    st.last_flush == 0);
		}
	}
}

static void
test_state_pending_parse(void)
{
	static const struct {
		const char	*times;		/* first, next, attempts */
		int		 ok;
	} cases[] = {
		{ "\"first_try\":1,\"next_try\":2,\"attempts\":1", 1 },
		{ "\"first_try\":1,\"next_try\":2,\"attempts\":2147483647",
		    0 },
		{ "\"first_try\":1,\"next_try\":2,\"attempts\":-1", 0 },
		{ "\"first_try\":-1,\"next_try\":2,\"attempts\":1", 0 },
		{ "\"first_try\":9223372036854775807,\"next_try\":2,"
		    "\"attempts\":1", 0 },
		{ "\"first_try\":1,\"next_try\":\"2\",\"attempts\":1", 0 },
		{ NULL, 0 }
	};
	struct pending	 pe;
	char		*text;
	size_t		 i;
	int		 r;

	for (i = 0; cases[i].times != NULL; i++) {
		xasprintf(&text, "{\"report_id\":\"r\",\"policy_domain\":"
		    "\"a.test\",\"rua\":\"mailto:x@y.test\",%s}",
		    cases[i].times);
		r = pending_parse(text, strlen(text), "n-0", &pe);
		CU_ASSERT(r == (cases[i].ok ? 0 : -1));
		if (r == 0) {
			CU_ASSERT(strcmp(pe.name, "n-0") == 0 &&
			    strcmp(pe.rua, "mailto:x@y.test") == 0);
		} else {
			CU_ASSERT(pe.name == NULL && pe.rua == NULL);
		}
		pending_clear(&pe);
		free(text);
	}
}

void
tests_state(void)
{
	CU_pSuite	s;

	s = CU_add_suite("state", NULL, NULL);
	CU_add_test(s, "state.json", test_state_parse);
	CU_add_test(s, "pending NAME.json", test_state_pending_parse);
}
