/*
 * listener.c -- one listening socket per configured MX host.
 *
 * \file
 * listener_start() binds address:port (SO_REUSEADDR, IPv6 only for IPv6
 * addresses; SO_REUSEPORT when the port is shared with a catch-all) and
 * hands accepted sockets to session_accept(), or catchall_accept() for a
 * catch-all listener.  The struct
 * listener borrows its conf from the struct config; it owns its
 * evconnlistener and TLS contexts, released by listener_stop().
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "fake-mx.h"

/* Decimal v at p; returns the end. */
static char *
listener_dec(char *p, unsigned int v)
{
	char	tmp[8], *t = tmp + sizeof(tmp);

	do {
		*--t = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (t < tmp + sizeof(tmp))
		*p++ = *t++;
	return p;
}

void
listener_fmtaddr(const void *sa, char *buf, size_t len)
{
	const struct sockaddr		*s = sa;
	const struct sockaddr_in	*s4 = sa;
	const struct sockaddr_in6	*s6 = sa;
	const unsigned char		*b;
	char				 a[INET6_ADDRSTRLEN], *p;
	size_t				 n;
	int				 i;

	if (s->sa_family == AF_INET) {
		/* by hand: inet_ntop + snprintf cost more than the session */
		b = (const unsigned char *)&s4->sin_addr;
		p = a;
		for (i = 0; i < 4; i++) {
			p = listener_dec(p, b[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = listener_dec(p, ntohs(s4->sin_port));
		if (len == 0)
			return;
		n = (size_t)(p - a) < len ? (size_t)(p - a) : len - 1;
		memcpy(buf, a, n);
		buf[n] = '\0';
	} else if (s->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else
		snprintf(buf, len, "unknown");
}

static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;

	(void)evl;
	if (l->conf->mode == MODE_CATCH_ALL)
		catchall_accept(l, fd, sa);
	else
		session_accept(l, fd, sa, salen);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	(void)fd;
	(void)what;
	if (l->evl != NULL)
		evconnlistener_enable(l->evl);
}

static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 0, 100000 };

	/* EMFILE and friends: log, pause 100 ms, keep going, never die */
	fprintf(stderr, "fake-mx: %s: accept: %s\n", l->conf->name,
	    strerror(errno));
	evconnlistener_disable(evl);
	if (l->retry == NULL)
		l->retry = evtimer_new(evconnlistener_get_base(evl),
		    listener_retry_cb, l);
	if (l->retry != NULL)
		evtimer_add(l->retry, &tv);
}

int
listener_start(struct listener *l, struct event_base *base, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sslen;
	int			 fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, l->conf->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)l->conf->port);
		sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, l->conf->address,
	    &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)l->conf->port);
		sslen = sizeof(*s6);
	} else {
		snprintf(err, errlen, "listeners[%zu].address: invalid",
		    l->index);
		return -1;
	}
	listener_fmtaddr(&ss, l->local, sizeof(l->local));
	l->wildcard = ss.ss_family == AF_INET ?
	    s4->sin_addr.s_addr == htonl(INADDR_ANY) :
	    IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		snprintf(err, errlen, "listeners[%zu]: socket: %s", l->index,
		    strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (l->conf->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1) {
		snprintf(err, errlen, "listeners[%zu]: SO_REUSEPORT: %s",
		    l->index, strerror(errno));
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1) {
		snprintf(err, errlen, "listeners[%zu]: bind %s: %s", l->index,
		    l->local, strerror(errno));
		close(fd);
		return -1;
	}
	l->evl = evconnlistener_new(base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE, 4096, fd);
	if (l->evl == NULL) {
		snprintf(err, errlen, "listeners[%zu]: listen %s: %s",
		    l->index, l->local, strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	return 0;
}

void
listener_stop(struct listener *l)
{
	if (l->evl != NULL)
		evconnlistener_free(l->evl);
	l->evl = NULL;
	if (l->retry != NULL)
		event_free(l->retry);
	l->retry = NULL;
}
