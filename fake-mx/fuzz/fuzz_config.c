/*
 * fuzz_config.c -- libFuzzer target: config_parse() on any bytes: it
 * must accept or refuse with a message, never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*c;
	char		 err[512];

	c = config_parse((const char *)data, size, err, sizeof(err));
	if (c == NULL && err[0] == '\0')
		abort();		/* a refusal must say why */
	config_free(c);
	return 0;
}
