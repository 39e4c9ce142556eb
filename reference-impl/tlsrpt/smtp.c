/*
 * smtp.c -- the reporter's SMTP client for mailto: rua: one blocking
 * session, plain SMTP (RFC 5321) on smtp_port.  STARTTLS is never used:
 * report delivery must not depend on TLS (RFC 8460 section 5.1), and
 * these sessions never appear in refsend's events, so they are never
 * counted in a report.
 *
 * The dialogue is a small explicit state machine; a failure names the
 * state it happened in ("smtp state=rcpt code=550 ...").
 *
 * Deadlines (RFC 5321 section 4.5.3.2 timeouts are per command): each
 * command has `timeout` seconds, from the moment it is sent until its
 * whole reply has arrived (for the message: until its last byte is
 * written, then again for the reply); bytes that arrive do not move the
 * deadline, so a server that drips its reply or never ends a multiline one
 * is given up on in time.  The whole session has `session_timeout`.  The
 * socket is non-blocking; every wait is a poll() bounded by both.
 *
 * Replies are parsed by reply_parse() (common/reply.c), without I/O; their
 * text is made safe (log_safe()) as it is read.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tlsrpt.h"

enum smtp_state {
	SMTP_CONNECT = 0, SMTP_BANNER, SMTP_EHLO, SMTP_HELO, SMTP_MAIL,
	SMTP_RCPT, SMTP_DATA, SMTP_BODY, SMTP_QUIT, SMTP_DONE
};

struct smtp_session {
	int		 fd;
	enum smtp_state	 state;
	char		 rbuf[REPLY_MAXLINE + 2];
	size_t		 rlen;
	char		 reply[REPLY_MAXTEXT];	/* last reply, first line */
	int		 code;
	int		 timeout;		/* seconds per command */
	int		 session_timeout;
	long long	 deadline;		/* ms, CLOCK_MONOTONIC */
	long long	 session_deadline;
	char		 why[128];		/* code -1: why */
};

static const char *
smtp_strstate(enum smtp_state s)
{
	switch (s) {
	case SMTP_CONNECT:	return "connect";
	case SMTP_BANNER:	return "banner";
	case SMTP_EHLO:		return "ehlo";
	case SMTP_HELO:		return "helo";
	case SMTP_MAIL:		return "mail";
	case SMTP_RCPT:		return "rcpt";
	case SMTP_DATA:		return "data";
	case SMTP_BODY:		return "body";
	case SMTP_QUIT:		return "quit";
	case SMTP_DONE:		return "done";
	}
	return "?";
}

/* Milliseconds on the monotonic clock. */
static long long
smtp_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The step that starts now (a command, the banner) has timeout seconds. */
static void
smtp_deadline(struct smtp_session *s)
{
	s->deadline = smtp_now() + (long long)s->timeout * 1000;
}

/*
 * Wait until fd is ready for events, within both deadlines.  -1 with
 * s->why on a timeout or an error.
 */
static int
smtp_wait(struct smtp_session *s, short events)
{
	struct pollfd	 pfd;
	long long	 now, left;
	int		 r;

	for (;;) {
		now = smtp_now();
		if (now >= s->session_deadline) {
			snprintf(s->why, sizeof(s->why), "session timeout: "
			    "not done within %d s", s->session_timeout);
			return -1;
		}
		if (now >= s->deadline) {
			snprintf(s->why, sizeof(s->why), "timeout: not done "
			    "within %d s", s->timeout);
			return -1;
		}
		left = s->deadline < s->session_deadline ? s->deadline - now :
		    s->session_deadline - now;
		pfd.fd = s->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(s->why, sizeof(s->why), "poll: %s",
			    strerror(errno));
			return -1;
		}
		if (r == 1)
			return 0;
	}
}

static int
smtp_connect(const char *address, int port, int timeout)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct pollfd		 pfd;
	socklen_t		 sl, el = sizeof(int);
	int			 fd, e = 0, fl;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* Non-blocking for good: every wait is a poll() with a deadline. */
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout * 1000) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
			goto fail;
		if (e != 0) {
			errno = e;
			goto fail;
		}
	}
	return fd;
 fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int
smtp_write(struct smtp_session *s, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (smtp_wait(s, POLLOUT) == -1)
				return -1;
			continue;
		}
		if (w <= 0) {
			snprintf(s->why, sizeof(s->why), "send: %s",
			    w == 0 ? "nothing written" : strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One (multi-line) reply within the deadline; its code, or -1 (s->why). */
static int
smtp_reply(struct smtp_session *s)
{
	struct reply		 r;
	enum reply_parse	 st;
	size_t			 used;
	ssize_t			 n;

	memset(&r, 0, sizeof(r));
	for (;;) {
		st = reply_parse(&r, s->rbuf, s->rlen, &used);
		memmove(s->rbuf, s->rbuf + used, s->rlen - used);
		s->rlen -= used;
		if (st == REPLY_DONE) {
			snprintf(s->reply, sizeof(s->reply), "%s", r.text);
			return s->code = r.code;
		}
		if (st == REPLY_BAD) {
			snprintf(s->why, sizeof(s->why), "%s", r.error);
			return s->code = -1;
		}
		if (smtp_wait(s, POLLIN) == -1)
			return s->code = -1;
		n = recv(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen,
		    0);
		if (n == -1 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			snprintf(s->why, sizeof(s->why), "%s", n == 0 ?
			    "connection closed by the server" :
			    strerror(errno));
			return s->code = -1;
		}
		s->rlen += (size_t)n;
	}
}

/*
 * One write per command line: a separate write of the CRLF would wait
 * for the server's delayed ACK of the first (Nagle), about 40 ms per
 * command on Linux.
 */
static int
smtp_cmd(struct smtp_session *s, const char *cmd)
{
	char	*line;
	int	 n, r;

	smtp_deadline(s);
	n = xasprintf(&line, "%s\r\n", cmd);
	r = smtp_write(s, line, (size_t)n);
	free(line);
	if (r == -1)
		return s->code = -1;
	return smtp_reply(s);
}

static int
smtp_body(struct smtp_session *s, const struct buf *msg)
{
	struct buf	 b = { NULL, 0, 0 };
	const char	*p = msg->data, *end = msg->data + msg->len, *nl;
	int		 r;

	while (p < end) {
		if (*p == '.')
			buf_add(&b, ".", 1);
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl ? nl + 1 : end;
		buf_add(&b, p, (size_t)(nl - p));
		p = nl;
	}
	if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
		buf_add(&b, "\r\n", 2);
	buf_add(&b, ".\r\n", 3);
	smtp_deadline(s);
	r = smtp_write(s, b.data, b.len);
	buf_free(&b);
	if (r == -1)
		return s->code = -1;
	/* Sent: the final reply has its own timeout. */
	smtp_deadline(s);
	return smtp_reply(s);
}

int
smtp_source_address(const char *dest, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sl;
	int			 fd, r = -1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, dest, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(25);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, dest, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(25);
		sl = sizeof(*sin6);
	} else
		return -1;
	/* A UDP connect() only asks the routing table: nothing is sent. */
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
		    (void *)&sin->sin_addr : (void *)&sin6->sin6_addr, buf,
		    (socklen_t)len) != NULL)
			r = 0;
	}
	close(fd);
	return r;
}

int
smtp_send(const char *address, int port, const char *helo, const char *from,
    const char *to, const struct buf *msg, int timeout, int session_timeout,
    struct smtp_result *res)
{
	struct smtp_session	 s;
	char			 cmd[1024];
	int			 code = 0, ok = 0;

	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(*res));
	s.state = SMTP_CONNECT;
	s.timeout = timeout;
	s.session_timeout = session_timeout;
	s.session_deadline = smtp_now() + (long long)session_timeout * 1000;
	if ((s.fd = smtp_connect(address, port, timeout)) == -1) {
		xasprintf(&res->detail, "smtp state=connect address=%s:%d "
		    "error=\"%s\"", address, port, strerror(errno));
		return -1;
	}
	smtp_deadline(&s);
	for (s.state = SMTP_BANNER; s.state != SMTP_DONE;) {
		switch (s.state) {
		case SMTP_BANNER:
			code = smtp_reply(&s);
			break;
		case SMTP_EHLO:
			snprintf(cmd, sizeof(cmd), "EHLO %s", helo);
			code = smtp_cmd(&s, cmd);
			if (code / 100 == 5) {
				s.state = SMTP_HELO;
				continue;
			}
			break;
		case SMTP_HELO:
			snprintf(cmd, sizeof(cmd), "HELO %s", helo);
			code = smtp_cmd(&s, cmd);
			break;
		case SMTP_MAIL:
			snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", from);
			code = smtp_cmd(&s, cmd);
			break;
		case SMTP_RCPT:
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", to);
			code = smtp_cmd(&s, cmd);
			break;
		case SMTP_DATA:
			code = smtp_cmd(&s, "DATA");
			if (code == 354) {
				s.state = SMTP_BODY;
				continue;
			}
			break;
		case SMTP_BODY:
			code = smtp_body(&s, msg);
			if (code / 100 == 2) {
				ok = code;
				xasprintf(&res->detail, "smtp address=%s:%d "
				    "reply=\"%s\"", address, port, s.reply);
			}
			break;
		case SMTP_QUIT:
			/* The report is sent: whatever QUIT meets changes
			 * nothing. */
			(void)smtp_cmd(&s, "QUIT");
			s.state = SMTP_DONE;
			continue;
		default:
			s.state = SMTP_DONE;
			continue;
		}
		if (code / 100 != 2) {
			res->code = code > 0 ? code : 0;
			res->permanent = code / 100 == 5;
			if (code > 0)
				xasprintf(&res->detail, "smtp state=%s "
				    "address=%s:%d reply=\"%s\"",
				    smtp_strstate(s.state), address, port,
				    s.reply);
			else
				xasprintf(&res->detail, "smtp state=%s "
				    "address=%s:%d error=\"%s\"",
				    smtp_strstate(s.state), address, port,
				    s.why);
			if (code > 0)
				(void)smtp_cmd(&s, "QUIT");
			break;
		}
		s.state = s.state == SMTP_HELO ? SMTP_MAIL :
		    (enum smtp_state)(s.state + 1);
		if (s.state == SMTP_HELO)
			s.state = SMTP_MAIL;
	}
	close(s.fd);
	if (ok) {
		res->code = ok;
		return 0;
	}
	return -1;
}
