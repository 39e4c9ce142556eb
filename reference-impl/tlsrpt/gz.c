/*
 * gz.c -- gzip (RFC 1952) with zlib: the report's application/tlsrpt+gzip
 * body, and the reverse for tests.
 */
#include <string.h>

#include <zlib.h>

#include "tlsrpt.h"

#define GZ_WINDOW	(15 + 16)	/* zlib: a gzip header and trailer */

int
gz_compress(const void *data, size_t len, struct buf *out)
{
	z_stream	z;
	unsigned char	chunk[16384];
	int		r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, GZ_WINDOW, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		r = deflate(&z, Z_FINISH);
		if (r == Z_STREAM_ERROR) {
			deflateEnd(&z);
			return -1;
		}
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}

int
gz_decompress(const void *data, size_t len, struct buf *out)
{
	z_stream	z;
	unsigned char	chunk[16384];
	int		r;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, GZ_WINDOW) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		r = inflate(&z, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END) {
			inflateEnd(&z);
			return -1;
		}
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
		if (r == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			/* Truncated input. */
			inflateEnd(&z);
			return -1;
		}
	} while (r != Z_STREAM_END);
	inflateEnd(&z);
	return 0;
}
