/*
 * fuzz_rdata.c -- libFuzzer target: the wire-format parsers refsend runs on
 * DNS data (MX rdata, TLSA rdata and its usability checks, domain names,
 * host name syntax).  Built and run by `make fuzz` (clang).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tlsa	 t;
	char		 name[256], *s;
	int		 pref;

	if (tlsa_parse(data, len, &t) == 0)
		tlsa_clear(&t);
	if (rdata_mx(data, len, &pref, name, sizeof(name)) == 0)
		(void)dns_valid_hostname(name);
	s = xstrndup((const char *)data, len);
	(void)dns_valid_hostname(s);
	free(s);
	return 0;
}
