/*
 * catchall.c -- the catch-all listener: traffic to an address nobody
 * serves.
 *
 * \file
 * A catch-all listens on 0.0.0.0:port or [::]:port beside the listeners
 * on specific addresses (all of them with SO_REUSEPORT; the kernel gives
 * a connection to the listener bound to its exact destination, so the
 * catch-all only sees addresses no other listener serves).  Each
 * connection is logged -- "connect" with the peer and the local address
 * the client dialled (getsockname), then "close" with reason "reset" --
 * and closed at once with a TCP reset (SO_LINGER 0), the nearest a
 * listening socket gets to "nothing listens here".  No session is kept.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake-mx.h"

void
catchall_accept(struct listener *l, int fd, const void *sa)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct linger		 lg = { 1, 0 };
	char			 id[160], peer[64], local[64];
	json_t			*o;

	snprintf(id, sizeof(id), "%s#%lu", l->conf->name, ++l->nsessions);
	listener_fmtaddr(sa, peer, sizeof(peer));
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		listener_fmtaddr(&ss, local, sizeof(local));
	else
		snprintf(local, sizeof(local), "%s", l->local);
	o = json_object();
	json_object_set_new(o, "peer", json_string(peer));
	json_object_set_new(o, "local", json_string(local));
	events_emit(id, l->conf, "connect", o);

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	events_flush();		/* before the peer sees the reset */
	close(fd);
	o = json_object();
	json_object_set_new(o, "reason", json_string("reset"));
	json_object_set_new(o, "state",
	    json_string(smtp_fsm_strstate(S_INIT)));
	events_emit(id, l->conf, "close", o);
}
