/*
 * gz.c -- gzip (RFC 1952) with zlib: the report's application/tlsrpt+gzip
 * body, and the reverse for tests.
 */
#include <string.h>

#include <zlib.h>

#include "tlsrpt.h"

#define GZ_WINDOW	(15 + 16)	/* zlib: a gzip header and trailer */

/*
 * Run step (deflate or inflate) over all of z's input until the stream
 * ends, appending the output to out.  -1 on a zlib error, or when the
 * input ends before the stream does.
 */
static int
gz_pump(z_stream *z, int (*step)(z_streamp, int), int flush,
    struct buf *out)
{
	unsigned char	chunk[16384];
	int		r;

	do {
		z->next_out = chunk;
		z->avail_out = sizeof(chunk);
		r = step(z, flush);
		if (r != Z_OK && r != Z_STREAM_END)
			return -1;
		buf_add(out, chunk, sizeof(chunk) - z->avail_out);
		if (r == Z_OK && z->avail_in == 0 && z->avail_out != 0)
			return -1;	/* truncated input */
	} while (r != Z_STREAM_END);
	return 0;
}

int
gz_compress(const void *data, size_t len, struct buf *out)
{
	z_stream	z;
	int		r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, GZ_WINDOW, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	r = gz_pump(&z, deflate, Z_FINISH, out);
	deflateEnd(&z);
	return r;
}

int
gz_decompress(const void *data, size_t len, struct buf *out)
{
	z_stream	z;
	int		r;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, GZ_WINDOW) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	r = gz_pump(&z, inflate, Z_NO_FLUSH, out);
	inflateEnd(&z);
	return r;
}
