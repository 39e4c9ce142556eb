/*
 * reply.c -- SMTP reply lines: code extraction and reply building.
 *
 * \file
 * Pure functions on caller-owned buffers; no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "fake-mx.h"

int
reply_code(const char *line)
{
	int	code;

	if (line == NULL)
		return -1;
	if (line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return -1;
	if (line[3] != '\0' && line[3] != ' ')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	return code;
}

/* Append s (n bytes) to buf at *off; 0 if it does not fit. */
static int
reply_append(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	if (*off + n + 1 > len)
		return 0;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 1;
}

size_t
reply_build(char *buf, size_t len, const char *first,
    const char *const *ext, size_t next)
{
	size_t	 off = 0, i;
	int	 code;
	char	 sep[4];

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if ((code = reply_code(first)) == -1)
		return 0;
	if (code / 100 != 2)
		next = 0;
	/* first line: "250" + sep + text */
	memcpy(sep, first, 3);
	sep[3] = next ? '-' : ' ';
	if (!reply_append(buf, len, &off, sep, 4))
		return 0;
	if (first[3] == ' ' && !reply_append(buf, len, &off, first + 4,
	    strlen(first + 4)))
		return 0;
	if (!reply_append(buf, len, &off, "\r\n", 2))
		return 0;
	for (i = 0; i < next; i++) {
		sep[3] = i + 1 < next ? '-' : ' ';
		if (!reply_append(buf, len, &off, sep, 4) ||
		    !reply_append(buf, len, &off, ext[i], strlen(ext[i])) ||
		    !reply_append(buf, len, &off, "\r\n", 2))
			return 0;
	}
	return off;
}
