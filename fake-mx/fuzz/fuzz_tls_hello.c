/*
 * fuzz_tls_hello.c -- libFuzzer target: tls_hello_sni(), the raw
 * ClientHello reader that sees untrusted bytes for the abort/stall faults.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*copy;
	char		 sni[256];
	int		 r;

	copy = xmalloc(size);
	memcpy(copy, data, size);
	r = tls_hello_sni(copy, size, sni, sizeof(sni));
	if (r < -1 || r > 1 || strlen(sni) >= sizeof(sni))
		abort();
	free(copy);
	return 0;
}
