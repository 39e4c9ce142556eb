/*
 * fuzz_reply.c -- libFuzzer target: the reader of SMTP replies
 * (reply_parse(), common/reply.c), what refsend's mta.c and
 * refsend-tlsrpt's smtp.c run on every byte a server sends.  The first
 * byte splits the rest into chunks, as a network would, so that a reply
 * cut anywhere is read the same as in one piece.  It must never crash or
 * leak, and:
 *  - it consumes only whole lines, never more than it was given;
 *  - a complete reply has a code in 200..599 and text that is printable
 *    ASCII (made safe for events and DSNs) starting with that code;
 *  - chunked or not, it reads the same replies;
 *  - STARTTLS is only reported when a line says it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

#define MAXREPLIES	64

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct seen {
	int	n;
	int	code[MAXREPLIES];
	int	starttls[MAXREPLIES];
	int	bad;
};

static void
check_reply(const struct reply *r)
{
	const char	*p;

	if (r->code < 200 || r->code > 599 || r->nlines < 1 ||
	    r->nlines > REPLY_MAXLINES)
		abort();
	for (p = r->text; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			abort();
	if (strlen(r->text) < 3 || (r->text[0] - '0') * 100 +
	    (r->text[1] - '0') * 10 + (r->text[2] - '0') != r->code)
		abort();
}

/* Feed data in chunks of step bytes (0: all at once) into s. */
static void
feed(const char *data, size_t len, size_t step, struct seen *s)
{
	struct reply		 r;
	enum reply_parse	 st;
	char			*buf;
	size_t			 have = 0, fed = 0, used, n;

	memset(s, 0, sizeof(*s));
	memset(&r, 0, sizeof(r));
	buf = xmalloc(len + 1);
	while (fed < len || have > 0) {
		n = step == 0 ? len - fed : step;
		if (n > len - fed)
			n = len - fed;
		memcpy(buf + have, data + fed, n);
		have += n;
		fed += n;
		st = reply_parse(&r, buf, have, &used);
		if (used > have)
			abort();
		if (used > 0 && buf[used - 1] != '\n')
			abort();
		memmove(buf, buf + used, have - used);
		have -= used;
		if (st == REPLY_BAD) {
			if (r.error == NULL)
				abort();
			s->bad = 1;
			break;
		}
		if (st == REPLY_DONE) {
			check_reply(&r);
			if (s->n < MAXREPLIES) {
				s->code[s->n] = r.code;
				s->starttls[s->n] = r.starttls;
			}
			s->n++;
			memset(&r, 0, sizeof(r));
			continue;
		}
		if (fed == len)
			break;		/* MORE, and nothing left to give */
	}
	free(buf);
}

/* 1 when "STARTTLS" (any case) is somewhere in data. */
static int
has_starttls(const uint8_t *data, size_t len)
{
	size_t	i;

	for (i = 0; i + 8 <= len; i++)
		if (strncasecmp((const char *)data + i, "STARTTLS", 8) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct seen	 whole, chunked;
	size_t		 step;
	int		 i;

	if (len < 1)
		return 0;
	step = data[0] % 17 + 1;
	feed((const char *)data + 1, len - 1, 0, &whole);
	feed((const char *)data + 1, len - 1, step, &chunked);
	/* A bad line stops both at the same reply. */
	if (whole.n != chunked.n || whole.bad != chunked.bad)
		abort();
	for (i = 0; i < whole.n && i < MAXREPLIES; i++)
		if (whole.code[i] != chunked.code[i] ||
		    whole.starttls[i] != chunked.starttls[i])
			abort();
	if (!has_starttls(data + 1, len - 1))
		for (i = 0; i < whole.n && i < MAXREPLIES; i++)
			if (whole.starttls[i])
				abort();
	return 0;
}
