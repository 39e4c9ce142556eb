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
	struct opts	 o;
	char		 err[512];
	int		 i, r, all = 0;
	time_t		 now;

	log_progname("refsend-tlsrpt");
	if ((i = opts_parse(argc, argv, "T", &o)) == -1)
		usage();
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "flush") == 0) {
		if (argc != 1)
			usage();
	} else if (strcmp(argv[0], "retry") == 0) {
		if ((all = opts_all(argc, argv)) == -1)
			usage();
	} else
		usage();
	if ((conf = config_load(o.conf, err, sizeof(err))) == NULL) {
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
	now = o.at ? (time_t)o.at : time(NULL);
	if (strcmp(argv[0], "flush") == 0)
		r = flush_run(conf, dns, now);
	else
		r = retry_run(conf, dns, now, all);
	dns_free(dns);
	log_close();
	config_free(conf);
	curl_global_cleanup();
	return r == 0 ? 0 : 1;
}
