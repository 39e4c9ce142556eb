/*
 * fuzz_txt.c -- libFuzzer target: a TXT answer's rdata as the DNS gives it
 * (record_join(): character-strings joined into one record), then the
 * record parser on it.  It must never crash or leak, and: the joined text
 * is never longer than the rdata, holds no NUL, and equals the strings
 * laid end to end (NUL made DEL); rdata whose lengths run past the end is
 * refused; a record taken has at least one deliverable rua; the error text
 * of a refused one is printable ASCII (it goes into events).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct record	 rec;
	char		*t, *txts[1], err[256];
	const char	*p;
	size_t		 i, n, o, total = 0;
	int		 wellformed = 1;

	/* The strings, walked here too: well-formed when the last one ends
	 * where the rdata does. */
	for (i = 0; i < len; i += n) {
		n = data[i++];
		if (n > len - i) {
			wellformed = 0;
			break;
		}
		total += n;
	}
	t = record_join(data, len);
	if ((t != NULL) != wellformed)
		abort();
	if (t == NULL)
		return 0;
	if (strlen(t) != total)
		abort();
	for (i = 0, o = 0; i < len;)
		for (n = data[i++]; n > 0; n--, i++, o++)
			if ((unsigned char)t[o] != (data[i] == 0 ? 0x7f :
			    data[i]))
				abort();
	txts[0] = t;
	memset(err, 0, sizeof(err));
	if (record_select(txts, 1, &rec, err, sizeof(err)) == RECORD_OK) {
		if (rec.nrua == 0)
			abort();
		for (i = 0; i < rec.nrua; i++)
			if (!record_uri_ok(rec.rua[i]))
				abort();
	} else
		for (p = err; *p != '\0'; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
	record_clear(&rec);
	free(t);
	return 0;
}
