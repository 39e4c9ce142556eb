/*
 * fuzz_events.c -- libFuzzer target: refsend event lines (one a line) into
 * the aggregator, then every report built and dumped.  It must never
 * crash or leak, the report must be JSON that parses back, and a policy's
 * failure details must add up to its failure count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report_meta	 m = { "org", "contact", "id", 0, 1 };
	struct agg		*a;
	struct agg_domain	*ds;
	json_t			*rep, *back;
	const char		*p = (const char *)data, *end = p + size, *nl;
	char			*text;
	long long		 sum;
	size_t			 n, i, j, k;

	a = agg_new(size % 2 ? "127.0.0.1" : NULL, (int)(size % 3 == 0));
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		(void)agg_feed_line(a, p, (size_t)(nl - p));
		p = nl + 1;
	}
	ds = agg_domains(a, &n);
	for (i = 0; i < n; i++) {
		for (j = 0; j < ds[i].npolicies; j++) {
			sum = 0;
			for (k = 0; k < ds[i].policies[j].nfailures; k++)
				sum += ds[i].policies[j].failures[k].count;
			if (sum != ds[i].policies[j].failed)
				abort();
		}
		rep = report_build(&ds[i], &m);
		text = report_dump(rep);
		if ((back = json_loads(text, 0, NULL)) == NULL)
			abort();
		json_decref(back);
		json_decref(rep);
		free(text);
	}
	agg_free(a);
	return 0;
}
