/*
 * tests.h -- refsend-tlsrpt's CUnit tests.  They need no network: the
 * parser, aggregator, report, gzip and MIME builders are pure functions,
 * fed with canned data (refsend events written as JSON lines in
 * test_agg.c), and DNS goes to the test knobs or a mock backend.
 * Golden files live in golden/ (the runner is started from tests/).
 */
#ifndef TESTS_H
#define TESTS_H

#include <CUnit/CUnit.h>

#include "tlsrpt.h"
#include "cunit_run.h"

/* One suite per file, test_NAME.c for NAME.c. */
void	tests_config(void);
void	tests_dns(void);
void	tests_pending(void);
void	tests_record(void);
void	tests_https(void);
void	tests_agg(void);
void	tests_report(void);
void	tests_gz(void);
void	tests_mime(void);
void	tests_sign(void);
void	tests_state(void);

/* The required keys of a config file (test_config.c). */
#define CONF_BASE \
	"events = /e\nstate_dir = /s\nreporting_domain = r.test\n"
/* config_load() of text, through a temporary file (test_config.c). */
struct config	*test_config_load(const char *, char *, size_t);
/* An aggregate of test_agg.c's canned refsend events; agg_free() it. */
struct agg	*test_agg_feed(int);
/* The report mail's parameters, gz filled with n made-up octets
 * (test_mime.c). */
void		 test_mime_params(struct mime_params *, unsigned char *,
		    size_t);

#endif /* TESTS_H */
