/*
 * tests.h -- shared declarations of refsend's CUnit tests.  The tests run
 * without any network: DNS comes from mock_dns.c (canned answers), TLS
 * handshakes run over in-memory BIO pairs, certificates are generated at
 * test time by certs.c.
 */
#ifndef TESTS_H
#define TESTS_H

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "refsend.h"
#include "cunit_run.h"

/* One canned RRset: data strings are in presentation form per type:
 * MX "10 mx.example.test", A "192.0.2.1", AAAA "2001:db8::1",
 * TLSA "3 1 1 hex", TXT the record's text (one record per string).  flags: "nx" (NXDOMAIN), "" (data or NODATA),
 * or "cname=NAME" (the answer came through a CNAME to NAME). */
struct mock_rr {
	const char	*qname;
	int		 qtype;
	enum dns_sec	 status;
	const char	*flags;
	const char	*data[6];
};

/* A struct dns that answers from the table (NULL-qname terminated);
 * unknown questions get DNS_ERROR.  Answers arrive through base, later. */
struct dns	*mock_dns_new(struct event_base *, const struct mock_rr *);
int		 mock_dns_queries(struct dns *, const char *, int);

/* A generated chain: root CA -> intermediate CA -> leaf. */
struct chain {
	EVP_PKEY	*ca_key, *int_key, *leaf_key;
	X509		*ca, *inter, *leaf;
};

#define CERT_LEAF_EXPIRED	0x01
#define CERT_INT_EXPIRED	0x02
#define CERT_LEAF_SELFSIGNED	0x04

void		 certs_make(struct chain *, const char *, int);
void		 certs_free(struct chain *);
/* TLSA association data for cert x: selector, matching type. */
unsigned char	*certs_tlsa_data(X509 *, int, int, size_t *);
char		*certs_hex(const unsigned char *, size_t);

void		 tests_tlsa(void);
void		 tests_dns(void);
void		 tests_deliver(void);
void		 tests_policy(void);
void		 tests_dane(void);
void		 tests_queue(void);
void		 tests_dsn(void);
void		 tests_config(void);
void		 tests_mta(void);
void		 tests_sts(void);
void		 tests_stscache(void);
void		 tests_stsflow(void);

#endif
