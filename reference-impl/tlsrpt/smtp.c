/*
 * smtp.c -- the reporter's SMTP client for mailto: rua: one blocking
 * session, plain SMTP (RFC 5321) on smtp_port.  STARTTLS is never used:
 * report delivery must not depend on TLS (RFC 8460 section 5.1), and
 * these sessions never appear in refsend's events, so they are never
 * counted in a report.
 *
 * The dialogue is a small explicit state machine; a failure names the
 * state it happened in ("smtp state=rcpt code=550 ...").
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
#include <unistd.h>

#include "tlsrpt.h"

enum smtp_state {
	SMTP_CONNECT = 0, SMTP_BANNER, SMTP_EHLO, SMTP_HELO, SMTP_MAIL,
	SMTP_RCPT, SMTP_DATA, SMTP_BODY, SMTP_QUIT, SMTP_DONE
};

struct smtp_session {
	int		 fd;
	enum smtp_state	 state;
	char		 rbuf[4096];
	size_t		 rlen;
	char		 reply[1024];	/* last reply's last line */
	int		 code;
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

static int
smtp_connect(const char *address, int port, int timeout)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct pollfd		 pfd;
	struct timeval		 tv = { timeout, 0 };
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
	fcntl(fd, F_SETFL, fl);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one line (CRLF stripped) into line.  -1 on EOF/error/timeout. */
static int
smtp_line(struct smtp_session *s, char *line, size_t len)
{
	char	*nl;
	ssize_t	 r;
	size_t	 n;

	for (;;) {
		if ((nl = memchr(s->rbuf, '\n', s->rlen)) != NULL) {
			n = (size_t)(nl - s->rbuf);
			snprintf(line, len, "%.*s", (int)(n > 0 &&
			    s->rbuf[n - 1] == '\r' ? n - 1 : n), s->rbuf);
			memmove(s->rbuf, nl + 1, s->rlen - n - 1);
			s->rlen -= n + 1;
			return 0;
		}
		if (s->rlen == sizeof(s->rbuf))
			return -1;	/* a line longer than any reply */
		r = recv(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen,
		    0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		s->rlen += (size_t)r;
	}
}

/* One (multi-line) reply; its code, or -1. */
static int
smtp_reply(struct smtp_session *s)
{
	char	line[1024];

	do {
		if (smtp_line(s, line, sizeof(line)) == -1)
			return s->code = -1;
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5')
			return s->code = -1;
	} while (line[3] == '-');
	snprintf(s->reply, sizeof(s->reply), "%s", line);
	return s->code = atoi(line);
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
	r = smtp_write(s, b.data, b.len);
	buf_free(&b);
	if (r == -1)
		return s->code = -1;
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
    const char *to, const struct buf *msg, int timeout,
    struct smtp_result *res)
{
	struct smtp_session	 s;
	char			 cmd[1024];
	int			 code = 0, ok = 0;

	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(*res));
	s.state = SMTP_CONNECT;
	if ((s.fd = smtp_connect(address, port, timeout)) == -1) {
		xasprintf(&res->detail, "smtp state=connect address=%s:%d "
		    "error=\"%s\"", address, port, strerror(errno));
		return -1;
	}
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
			xasprintf(&res->detail, "smtp state=%s address=%s:%d "
			    "reply=\"%s\"", smtp_strstate(s.state), address,
			    port, code > 0 ? s.reply : "no reply");
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
