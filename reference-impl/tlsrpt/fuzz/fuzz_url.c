/*
 * fuzz_url.c -- libFuzzer target: https_url_host(), the host and port
 * taken from an https: rua (from the DNS), which decide where a report is
 * POSTed and which name its certificate must carry.  It must never crash,
 * and a URL it takes starts with "https://" (any case), has a host that
 * fits the buffer, holds no "@" (no userinfo), "/", "?", "#" or NUL, and a
 * port in 1..65535.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*url, host[256];
	size_t	 hl;
	int	 port = -1;

	url = xstrndup((const char *)data, len);
	memset(host, 'Z', sizeof(host));
	if (https_url_host(url, host, sizeof(host), &port) == 0) {
		hl = strnlen(host, sizeof(host));
		if (strncasecmp(url, "https://", 8) != 0 || hl == 0 ||
		    hl == sizeof(host) || strpbrk(host, "@/?#") != NULL ||
		    port < 1 || port > 65535)
			abort();
	}
	free(url);
	return 0;
}
