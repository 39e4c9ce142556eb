/*
 * fuzz_smtp_parse.c -- libFuzzer target: smtp_parse() on any bytes, and
 * the result must be self-consistent (NUL-terminated, bounded fields).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake-mx.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd	 cmd;
	char		*copy;
	int		 r;

	/* an exact-size heap copy so ASan sees any over-read */
	copy = xmalloc(size);
	memcpy(copy, data, size);
	r = smtp_parse(copy, size, &cmd);
	if (r != 0 && r != 500 && r != 501 && r != 552)
		abort();
	if (strlen(cmd.path) > SMTP_PATH_MAX || strlen(cmd.arg) > SMTP_LINE_MAX)
		abort();
	if (r == 0 && (cmd.verb == V_UNKNOWN || cmd.verb == V_EMPTY))
		abort();
	(void)smtp_strverb(cmd.verb);
	free(copy);
	return 0;
}
