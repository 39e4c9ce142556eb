/*
 * fuzz_smtp_reply.c -- libFuzzer target: the report client's reader of
 * SMTP replies (smtp_reply_parse(), run on every byte a report MX sends).
 * The first byte splits the rest into chunks, as a network would.  It
 * must never crash or leak, and: it consumes only whole lines and never
 * more than it was given; a complete reply has a code in 200..599 and
 * printable ASCII text starting with that code (it goes into events);
 * chunked or not, it reads the same replies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

#define MAXREPLIES	64

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct seen {
	int	n;
	int	code[MAXREPLIES];
	int	bad;
};

static void
check_reply(const struct smtp_reply *r)
{
	const char	*p;

	if (r->code < 200 || r->code > 599 || r->nlines < 1 ||
	    r->nlines > SMTP_MAXLINES)
		abort();
	for (p = r->text; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			abort();
	if (strlen(r->text) < 3 || (r->text[0] - '0') * 100 +
	    (r->text[1] - '0') * 10 + (r->text[2] - '0') != r->code)
		abort();
}

static void
feed(const char *data, size_t len, size_t step, struct seen *s)
{
	struct smtp_reply	 r;
	enum smtp_parse		 st;
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
		st = smtp_reply_parse(&r, buf, have, &used);
		if (used > have || (used > 0 && buf[used - 1] != '\n'))
			abort();
		memmove(buf, buf + used, have - used);
		have -= used;
		if (st == SMTP_PARSE_BAD) {
			if (r.error == NULL)
				abort();
			s->bad = 1;
			break;
		}
		if (st == SMTP_PARSE_DONE) {
			check_reply(&r);
			if (s->n < MAXREPLIES)
				s->code[s->n] = r.code;
			s->n++;
			memset(&r, 0, sizeof(r));
			continue;
		}
		if (fed == len)
			break;
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct seen	whole, chunked;
	int		i;

	if (len < 1)
		return 0;
	feed((const char *)data + 1, len - 1, 0, &whole);
	feed((const char *)data + 1, len - 1, data[0] % 17 + 1, &chunked);
	if (whole.n != chunked.n || whole.bad != chunked.bad)
		abort();
	for (i = 0; i < whole.n && i < MAXREPLIES; i++)
		if (whole.code[i] != chunked.code[i])
			abort();
	return 0;
}
