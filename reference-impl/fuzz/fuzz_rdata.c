/*
 * fuzz_rdata.c -- libFuzzer target: the parsers refsend runs on data from
 * the network: DNS (MX rdata, TLSA rdata and its usability checks, TXT
 * rdata, domain names, host name syntax) and MTA-STS (the _mta-sts TXT
 * record, the policy file, MX patterns).  Built and run by `make fuzz`
 * (clang).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tlsa		 t;
	struct sts_policy	 p;
	char			 name[256], *s, id[STS_ID_MAX + 1], err[128];
	int			 pref;

	if (tlsa_parse(data, len, &t) == 0)
		tlsa_clear(&t);
	if (rdata_mx(data, len, &pref, name, sizeof(name)) == 0)
		(void)dns_valid_hostname(name);
	s = xstrndup((const char *)data, len);
	(void)dns_valid_hostname(s);
	(void)stspolicy_pattern_match(s, "mx.example.test");
	(void)stspolicy_pattern_match("*.example.test", s);
	free(s);
	if ((s = rdata_txt(data, len)) != NULL) {
		(void)stspolicy_txt(&s, 1, id, err, sizeof(err));
		free(s);
	}
	if (stspolicy_parse((const char *)data, len, &p, err,
	    sizeof(err)) == 0) {
		(void)stspolicy_match(&p, "mx.example.test");
		stspolicy_clear(&p);
	}
	return 0;
}
