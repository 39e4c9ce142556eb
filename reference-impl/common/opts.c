/*
 * opts.c -- the command line both programs share in front of their
 * command word: "[-v] [-T SECONDS] -c CONF COMMAND ..." (refsend takes -v,
 * refsend-tlsrpt -T), and the "[--all]" that may follow a command.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int
opts_parse(int argc, char **argv, const char *allowed, struct opts *o)
{
	char	*end;
	int	 ch;

	memset(o, 0, sizeof(*o));
	optind = 0;	/* glibc: start afresh, whatever was parsed before */
	/* '+': the options end at the command word */
	while ((ch = getopt(argc, argv, "+c:vT:")) != -1) {
		if (ch != 'c' && (ch == '?' || strchr(allowed, ch) == NULL))
			return -1;
		switch (ch) {
		case 'c':
			o->conf = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'T':
			errno = 0;
			o->at = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    o->at <= 0)
				return -1;
			break;
		}
	}
	if (o->conf == NULL || optind >= argc)
		return -1;
	return optind;
}

int
opts_all(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argc == 2 && strcmp(argv[1], "--all") == 0)
		return 1;
	return -1;
}
