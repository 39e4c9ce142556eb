/*
 * https.c -- https: rua delivery (RFC 8460 section 5.2):
 * one POST of the gzip report with Content-Type application/tlsrpt+gzip,
 * through libcurl.  The server is verified against https_ca (peer and
 * host name); redirects are not followed.  Any 2xx is success.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "tlsrpt.h"

int
https_url_host(const char *url, char *host, size_t len, int *port)
{
	const char	*p, *e, *c;
	size_t		 n;

	if (strncasecmp(url, "https://", 8) != 0)
		return -1;
	p = url + 8;
	e = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(e - p)) != NULL)
		return -1;		/* no userinfo */
	*port = 443;
	if (*p == '[') {
		if ((c = memchr(p, ']', (size_t)(e - p))) == NULL)
			return -1;
		n = (size_t)(c - p - 1);
		if (n == 0 || n >= len)
			return -1;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		c++;
	} else {
		c = memchr(p, ':', (size_t)(e - p));
		n = (size_t)((c ? c : e) - p);
		if (n == 0 || n >= len)
			return -1;
		memcpy(host, p, n);
		host[n] = '\0';
		if (c == NULL)
			c = e;
	}
	if (c < e) {
		if (*c != ':' || c + 1 == e)
			return -1;
		*port = 0;
		for (c++; c < e; c++) {
			if (!isdigit((unsigned char)*c) || *port > 65535)
				return -1;
			*port = *port * 10 + (*c - '0');
		}
		if (*port == 0 || *port > 65535)
			return -1;
	}
	return 0;
}

static size_t
https_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int
https_post(const char *url, const char *ca, const char *address,
    const void *body, size_t len, int timeout, long *code, char **detail)
{
	static int		 inited;
	CURL			*c;
	CURLcode		 r;
	struct curl_slist	*hdrs = NULL, *resolve = NULL;
	char			 host[256], *entry;
	char			 errbuf[CURL_ERROR_SIZE] = "";
	int			 port;

	*code = 0;
	*detail = NULL;
	if (https_url_host(url, host, sizeof(host), &port) == -1) {
		xasprintf(detail, "https: not a usable https URL");
		return -1;
	}
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			fatalx("curl_global_init failed");
		inited = 1;
	}
	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/tlsrpt+gzip");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (address != NULL) {
		/* Connect where our own DNS (or a static_route) says; the
		 * certificate is still checked against the URL's host. */
		xasprintf(&entry, "%s:%d:%s%s%s", host, port,
		    strchr(address, ':') ? "[" : "", address,
		    strchr(address, ':') ? "]" : "");
		resolve = curl_slist_append(resolve, entry);
		free(entry);
		curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "refsend-tlsrpt (danelab)");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, https_discard);
	r = curl_easy_perform(c);
	if (r == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	if (r != CURLE_OK)
		xasprintf(detail, "https: %s", errbuf[0] ? errbuf :
		    curl_easy_strerror(r));
	else
		xasprintf(detail, "https: HTTP %ld", *code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(resolve);
	return r == CURLE_OK && *code >= 200 && *code < 300 ? 0 : -1;
}
