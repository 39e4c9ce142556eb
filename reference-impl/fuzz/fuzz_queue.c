/*
 * fuzz_queue.c -- libFuzzer target: the queue's readers, what refsend
 * believes of its own files after a crash or a damaged disk, and of the
 * message it is handed.  The input is an envelope (env/ID) for
 * queue_env_parse(), and the same bytes as a submitted message for
 * queue_message(); a message read back goes through dsn_format() with the
 * normalised message as its data.  It must never crash or leak, and:
 *  - an envelope taken has its id, a sender and at least one recipient;
 *  - a normalised message has CRLF line ends only (no bare LF), ends in
 *    CRLF, is NUL-terminated, and its Message-ID is printable ASCII;
 *  - a DSN is CRLF text of printable ASCII outside the original header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refsend.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s >= 0x7f)
			abort();
}

static void
check_message(const char *msg, size_t len, const char *mid)
{
	size_t	i;

	if (len < 2 || msg[len] != '\0' || msg[len - 2] != '\r' ||
	    msg[len - 1] != '\n')
		abort();
	for (i = 0; i < len; i++)
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			abort();
	check_printable(mid);
}

/* The DSN up to the original header: CRLF lines of printable ASCII. */
static void
check_dsn(const char *t)
{
	const char	*end = strstr(t, "text/rfc822-headers");
	const char	*p;

	if (end == NULL)
		abort();
	for (p = t; p < end; p++) {
		if (*p == '\r' && p[1] != '\n')
			abort();
		if (*p == '\n' && (p == t || p[-1] != '\r'))
			abort();
		if (*p != '\r' && *p != '\n' && *p != '\t' &&
		    (*p < 0x20 || *p >= 0x7f))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct qmsg	*m;
	char		*msg, *mid, *dsn;
	size_t		 mlen, i;

	msg = queue_message((const char *)data, len, "1a2b3c", "h.test",
	    &mlen, &mid);
	check_message(msg, mlen, mid);
	m = queue_env_parse("1a2b3c", (const char *)data, len);
	if (m != NULL) {
		if (strcmp(m->id, "1a2b3c") != 0 || m->from == NULL ||
		    m->nrcpts == 0)
			abort();
		for (i = 0; i < m->nrcpts; i++) {
			m->rcpts[i].done = 1;
			m->rcpts[i].detail = xstrndup((const char *)data,
			    len);
			if (m->rcpts[i].state == RCPT_BOUNCED)
				m->rcpts[i].host = xstrdup("mx\r\n.test");
		}
		m->data = msg;
		m->len = mlen;
		msg = NULL;
		dsn = dsn_format(m, "h.test", 1700000000, "BOUNDARY");
		check_dsn(dsn);
		free(dsn);
	}
	qmsg_free(m);
	free(msg);
	free(mid);
	return 0;
}
