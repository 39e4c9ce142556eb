/*
 * tlsrpt.c -- refsend-tlsrpt: RFC 8460 reports for the reference sender.
 *
 *	refsend-tlsrpt -c CONF flush		report everything not yet
 *						reported, now
 *	refsend-tlsrpt -c CONF retry [--all]	retry pending deliveries
 *						that are due (--all: every one)
 *
 * -T SECONDS runs either command as if the clock read SECONDS (Unix
 * time): which days are complete, the date ranges, the retry schedule.
 * A test and lab knob (the lab closes the current UTC day with it); the
 * DKIM signature keeps the real time.
 *
 * Exit status: 0 when the command ran (whatever became of each delivery:
 * see the log), 1 on a usage, config or state error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tlsrpt.h"

static void
usage(void)
{
	fprintf(stderr, "usage: refsend-tlsrpt [-T SECONDS] -c CONF flush\n"
	    "       refsend-tlsrpt [-T SECONDS] -c CONF retry [--all]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	struct dns	*dns;
	const char	*path = NULL;
	char		 err[512], *end;
	int		 ch, r, all = 0;
	long long	 at = 0;

	log_progname("refsend-tlsrpt");
	while ((ch = getopt(argc, argv, "+c:T:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'T':
			errno = 0;
			at = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    at <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (path == NULL || argc < 1)
		usage();
	if (strcmp(argv[0], "flush") == 0) {
		if (argc != 1)
			usage();
	} else if (strcmp(argv[0], "retry") == 0) {
		if (argc == 2 && strcmp(argv[1], "--all") == 0)
			all = 1;
		else if (argc != 1)
			usage();
	} else
		usage();
	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	if (mkdir(conf->state_dir, 0755) == -1 && errno != EEXIST) {
		log_warnx("state_dir %s: %s", conf->state_dir,
		    strerror(errno));
		config_free(conf);
		return 1;
	}
	if (log_open(conf->log) == -1) {
		log_warnx("log %s: cannot open", conf->log);
		config_free(conf);
		return 1;
	}
	dns = dns_new(conf);
	if (strcmp(argv[0], "flush") == 0)
		r = flush_run(conf, dns, at ? (time_t)at : time(NULL));
	else
		r = retry_run(conf, dns, at ? (time_t)at : time(NULL),
		    all);
	dns_free(dns);
	log_close();
	config_free(conf);
	curl_global_cleanup();
	return r == 0 ? 0 : 1;
}
