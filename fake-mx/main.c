/*
 * main.c -- fake-mx: command line, start-up, signals, shutdown.
 *
 * \file
 * fake-mx -c CONFIG.json [-p PIDFILE] [-t]
 *
 * Start-up order: read and validate the config, load every certificate
 * (so -t checks them too), open the event log and spool, bind every
 * listener, and only then write the PID file (the readiness signal).
 * SIGTERM/SIGINT: stop accepting, close every open session with reason
 * "shutdown", flush the event log, remove the PID file, exit 0.
 *
 * The event loop runs one turn at a time and flushes the event log after
 * each (events.c); a fatal signal (or a sanitizer's report) writes the
 * waiting event lines before the process dies as it would have.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#if defined(__SANITIZE_ADDRESS__)
#define MAIN_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAIN_ASAN	1
#endif
#endif
#ifdef MAIN_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#include "fake-mx.h"

struct fakemx	fakemx;

static const int	 main_fatal_sigs[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT
};
#define MAIN_NFATAL	(sizeof(main_fatal_sigs) / sizeof(main_fatal_sigs[0]))
static struct sigaction	 main_fatal_old[MAIN_NFATAL];

static void
usage(void)
{
	fprintf(stderr, "usage: fake-mx -c CONFIG.json [-p PIDFILE] [-t]\n");
	exit(1);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	size_t	i;

	(void)what;
	(void)arg;
	fprintf(stderr, "fake-mx: signal %d, shutting down\n", (int)sig);
	for (i = 0; i < fakemx.nlisteners; i++)
		listener_stop(&fakemx.listeners[i]);
	session_shutdown_all();
	event_base_loopbreak(fakemx.base);
}

/*
 * A fatal signal: write the event lines still in the process, put the
 * previous handler back and let it (or the default action) have the
 * signal: a fault happens again on return, a sent signal is raised.
 */
static void
main_fatal(int sig, siginfo_t *si, void *ctx)
{
	size_t	i;

	(void)ctx;
	events_crash_flush();
	for (i = 0; i < MAIN_NFATAL; i++)
		if (main_fatal_sigs[i] == sig)
			sigaction(sig, &main_fatal_old[i], NULL);
	if (si == NULL || si->si_code <= 0)
		raise(sig);
}

static void
main_fatal_handlers(void)
{
	struct sigaction	sa;
	size_t			i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = main_fatal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < MAIN_NFATAL; i++)
		sigaction(main_fatal_sigs[i], &sa, &main_fatal_old[i]);
#ifdef MAIN_ASAN
	__sanitizer_set_death_callback(events_crash_flush);
#endif
}

static void
main_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
main_pidfile(const char *path)
{
	char	 tmp[4096];
	FILE	*fp;

	/* write then rename: a reader never sees an empty file */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(fp, "%ld\n", (long)getpid());
	if (fclose(fp) != 0)
		return -1;
	return rename(tmp, path);
}

int
main(int argc, char *argv[])
{
	const char	*cfgpath = NULL, *pidfile = NULL;
	char		 err[1024];
	struct event	*sigterm, *sigint;
	size_t		 i;
	int		 ch, test = 0;

	while ((ch = getopt(argc, argv, "c:p:t")) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (cfgpath == NULL || optind != argc)
		usage();

	tls_init();
	if ((fakemx.conf = config_load(cfgpath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fake-mx: %s: %s\n", cfgpath, err);
		return 1;
	}
	fakemx.nlisteners = fakemx.conf->nlisteners;
	fakemx.listeners = xcalloc(fakemx.nlisteners,
	    sizeof(*fakemx.listeners));
	TAILQ_INIT(&fakemx.sessions);
	TAILQ_INIT(&fakemx.out);
	for (i = 0; i < fakemx.nlisteners; i++) {
		struct listener	*l = &fakemx.listeners[i];

		l->conf = &fakemx.conf->listeners[i];
		l->index = i;
		if (l->conf->has_tls && (l->tls = tls_server_new(l->conf, i,
		    err, sizeof(err))) == NULL) {
			fprintf(stderr, "fake-mx: %s: %s\n", cfgpath, err);
			return 1;
		}
	}
	if (test) {
		for (i = 0; i < fakemx.nlisteners; i++)
			tls_server_free(fakemx.listeners[i].tls);
		free(fakemx.listeners);
		config_free(fakemx.conf);
		printf("fake-mx: %s: ok\n", cfgpath);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	main_nofile();
	if (events_open(fakemx.conf->events) == -1) {
		fprintf(stderr, "fake-mx: %s: events: %s: %s\n", cfgpath,
		    fakemx.conf->events, strerror(errno));
		return 1;
	}
	main_fatal_handlers();
	if (mkdir(fakemx.conf->spool, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "fake-mx: %s: spool: %s: %s\n", cfgpath,
		    fakemx.conf->spool, strerror(errno));
		return 1;
	}
	if ((fakemx.base = event_base_new()) == NULL) {
		fprintf(stderr, "fake-mx: event_base_new failed\n");
		return 1;
	}
	for (i = 0; i < fakemx.nlisteners; i++) {
		if (listener_start(&fakemx.listeners[i], fakemx.base, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "fake-mx: %s: %s\n", cfgpath, err);
			return 1;
		}
	}
	sigterm = evsignal_new(fakemx.base, SIGTERM, main_signal_cb, NULL);
	sigint = evsignal_new(fakemx.base, SIGINT, main_signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	if (pidfile != NULL && main_pidfile(pidfile) == -1) {
		fprintf(stderr, "fake-mx: %s: %s\n", pidfile, strerror(errno));
		return 1;
	}

	/*
	 * One turn at a time; after each, the event lines, then the replies
	 * the turn queued (session_output_all()).
	 */
	while (!event_base_got_break(fakemx.base) &&
	    event_base_loop(fakemx.base, EVLOOP_ONCE) == 0) {
		events_flush();
		session_output_all();
	}

	session_shutdown_all();
	events_flush();
	session_output_end();
	for (i = 0; i < fakemx.nlisteners; i++) {
		listener_stop(&fakemx.listeners[i]);
		tls_server_free(fakemx.listeners[i].tls);
	}
	event_free(sigterm);
	event_free(sigint);
	event_base_free(fakemx.base);
	events_close();
	if (pidfile != NULL)
		unlink(pidfile);
	free(fakemx.listeners);
	config_free(fakemx.conf);
	return 0;
}
