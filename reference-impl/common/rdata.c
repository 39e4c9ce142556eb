/*
 * rdata.c -- wire-format DNS data both programs decode themselves, as
 * libunbound hands it over (uncompressed): domain names, MX and TXT
 * rdata.
 * Fuzzed by ../fuzz/fuzz_rdata.c (refsend's make fuzz).
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "common.h"

int
rdata_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t	i = 0, o = 0, l, j;

	if (outlen < 2)
		return -1;
	while (i < len) {
		l = p[i++];
		if (l == 0) {
			if (o == 0)
				out[o++] = '.';
			out[o] = '\0';
			return (int)i;
		}
		if (l > 63 || i + l > len)
			return -1;
		if (o != 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (j = 0; j < l; j++) {
			/* Keep the text form unambiguous: no dots or
			 * controls inside a label. */
			if (p[i + j] == '.' || p[i + j] <= ' ' ||
			    p[i + j] >= 0x7f || o + 1 >= outlen)
				return -1;
			out[o++] = (char)tolower(p[i + j]);
		}
		i += l;
	}
	return -1;
}

int
rdata_mx(const unsigned char *rdata, size_t len, int *pref,
    char *name, size_t namelen)
{
	int	n;

	if (len < 3)
		return -1;
	*pref = rdata[0] << 8 | rdata[1];
	n = rdata_name(rdata + 2, len - 2, name, namelen);
	if (n == -1 || (size_t)n != len - 2)
		return -1;
	return 0;
}

char *
rdata_txt(const unsigned char *rdata, size_t len)
{
	struct buf	b = { NULL, 0, 0 };
	size_t		i = 0;

	buf_add(&b, "", 0);
	while (i < len) {
		/* One character-string: a length octet, then the octets. */
		if (i + 1 + rdata[i] > len ||
		    memchr(rdata + i + 1, '\0', rdata[i]) != NULL) {
			buf_free(&b);
			return NULL;
		}
		buf_add(&b, rdata + i + 1, rdata[i]);
		i += 1 + (size_t)rdata[i];
	}
	return b.data;
}
