/*
 * fuzz_record.c -- libFuzzer target: the _smtp._tls record parser and the
 * choice among TXT records (one record a line).  It must never crash or
 * leak, and a record it accepts has at least one mailto:/https: rua.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record	 rec;
	char		*text, *p, *line, **txts = NULL, err[256];
	size_t		 n = 0, i;

	text = xstrndup((const char *)data, size);
	for (p = text; (line = strsep(&p, "\n")) != NULL;) {
		txts = xreallocarray(txts, n + 1, sizeof(*txts));
		txts[n++] = line;
	}
	if (record_select(txts, n, &rec, err, sizeof(err)) == RECORD_OK) {
		if (rec.nrua == 0)
			abort();
		for (i = 0; i < rec.nrua; i++)
			if (!record_uri_ok(rec.rua[i]))
				abort();
	} else if (rec.nrua != 0)
		abort();
	record_clear(&rec);
	free(txts);
	free(text);
	return 0;
}
