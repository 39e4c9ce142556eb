/*
 * fuzz_status.c -- libFuzzer target: deliver_status_of_reply(), the
 * status code refsend takes from a server's reply (its enhanced code, or
 * one made from the basic code) for events, the queue and DSNs.  The
 * first two bytes are the basic code (any int, also out of range), the
 * rest the reply text.  It must never crash, and the status is always
 * "C.S.D" with C in 2, 4, 5 and S, D of 1 to 3 digits, in 16 bytes; C
 * is the basic code's class when that is 2, 4 or 5.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char		 buf[16], *text;
	const char	*st;
	int		 code, a, b, c, n;

	if (len < 2)
		return 0;
	code = (int)(int16_t)((data[0] << 8) | data[1]);
	text = xstrndup((const char *)data + 2, len - 2);
	st = deliver_status_of_reply(code, text, buf, sizeof(buf));
	if (st != buf || memchr(buf, '\0', sizeof(buf)) == NULL)
		abort();
	if (strspn(buf, "0123456789.") != strlen(buf) ||
	    sscanf(buf, "%1d.%3d.%3d%n", &a, &b, &c, &n) != 3 ||
	    buf[n] != '\0' || (a != 2 && a != 4 && a != 5))
		abort();
	if (code >= 200 && code < 600 && (code / 100 == 2 ||
	    code / 100 == 4 || code / 100 == 5) && a != code / 100)
		abort();
	free(text);
	return 0;
}
