/*
 * test_config.c -- table-driven tests of config_parse(): each bad config
 * must be refused with an error naming the faulty field.
 */
#include <string.h>

#include <openssl/ssl.h>

#include "fake-mx.h"
#include "tests.h"

#define HEAD	"{\"events\":\"/tmp/e\",\"spool\":\"/tmp/s\","
#define TLS	"\"tls\":{\"certs\":[{\"chain\":\"c.pem\",\"key\":\"k.pem\"}]}"
#define L1	"{\"name\":\"a\",\"address\":\"127.25.1.1\"," TLS
#define RELAY	"{\"name\":\"m\",\"address\":\"127.0.0.1\",\"mode\":" \
	"\"strip-relay\",\"relay_to\":{\"address\":\"127.25.1.2\"}"

static const struct {
	const char	*json;
	const char	*err;		/* NULL: must be accepted */
} cases[] = {
	{ HEAD "\"listeners\":[" L1 "}]}", NULL },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"::1\","
	    "\"starttls\":\"withhold\"}]}", NULL },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"starttls_reply\":\"454\"}]}", NULL },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"starttls_reply\":\"drop\"}]}", NULL },
	{ HEAD "\"timeouts\":{\"command_ms\":100,\"data_ms\":200,"
	    "\"tls_ms\":300},\"listeners\":[" L1 ",\"port\":2525,"
	    "\"mode\":\"sink\",\"replies\":{\"mail\":\"451 4.7.1 later\","
	    "\"rcpt\":\"550 5.1.1 no\",\"data\":\"554 no\",\"eom\":"
	    "\"250 ok\",\"ehlo\":\"250 mx\"}}]}", NULL },
	{ HEAD "\"listeners\":[{\"name\":\"m\",\"address\":\"127.0.0.1\","
	    "\"mode\":\"strip-relay\",\"relay_to\":{\"address\":"
	    "\"127.25.1.2\",\"port\":25}}]}", NULL },
	{ HEAD "\"listeners\":[" L1 "},{\"name\":\"b\",\"address\":"
	    "\"127.25.1.2\",\"mode\":\"impostor\"," TLS "}]}", NULL },
	{ HEAD "\"listeners\":[" RELAY ",\"relay_strip\":false,"
	    "\"relay_starttls\":\"pass\",\"relay_inject\":\"250 x\\r\\n\"}]}",
	    NULL },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"},"
	    "{\"chain\":\"c2\",\"key\":\"k2\",\"sni\":[\"mx.test\"]}],"
	    "\"min_version\":\"TLSv1\",\"max_version\":\"TLSv1.2\","
	    "\"fault\":\"stall\"}}]}", NULL },

	{ HEAD "\"listeners\":[" L1 "},{\"name\":\"c\",\"address\":"
	    "\"0.0.0.0\",\"mode\":\"catch-all\"},{\"name\":\"c6\","
	    "\"address\":\"::\",\"port\":25,\"mode\":\"catch-all\"}]}",
	    NULL },

	{ "", "line 1" },
	{ "[]", "(top): must be an object" },
	{ "{\"events\":\"e\",\"events\":\"f\"}", "duplicate" },
	{ "{\"spool\":\"s\",\"listeners\":[]}", "events: missing" },
	{ "{\"events\":1}", "events: must be a string" },
	{ HEAD "\"bogus\":1}", "bogus: unknown key" },
	{ HEAD "\"listeners\":[]}", "listeners: must be a non-empty array" },
	{ HEAD "\"listeners\":{}}", "listeners: must be a non-empty array" },
	{ HEAD "\"listeners\":[1]}", "listeners[0]: must be an object" },
	{ HEAD "\"listeners\":[{\"address\":\"127.0.0.1\"}]}",
	    "listeners[0].name: missing" },
	{ HEAD "\"listeners\":[{\"name\":\"a/b\",\"address\":\"127.0.0.1\","
	    "\"starttls\":\"withhold\"}]}", "listeners[0].name: must be" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"mx.test\"}]}",
	    "listeners[0].address: not a numeric" },
	{ HEAD "\"listeners\":[" L1 ",\"port\":0}]}",
	    "listeners[0].port: must be between 1 and 65535" },
	{ HEAD "\"listeners\":[" L1 ",\"port\":\"25\"}]}",
	    "listeners[0].port: must be an integer" },
	{ HEAD "\"listeners\":[" L1 ",\"colour\":\"red\"}]}",
	    "listeners[0].colour: unknown key" },
	{ HEAD "\"listeners\":[" L1 ",\"mode\":\"proxy\"}]}",
	    "listeners[0].mode: unknown value \"proxy\"" },
	{ HEAD "\"listeners\":[" L1 ",\"starttls\":\"maybe\"}]}",
	    "listeners[0].starttls: unknown value" },
	{ HEAD "\"listeners\":[" L1 ",\"starttls_reply\":\"250 ok\"}]}",
	    "listeners[0].starttls_reply: unknown value \"250 ok\" (220, 454, "
	    "drop or a 4xx/5xx reply line)" },
	{ HEAD "\"listeners\":[" L1 ",\"starttls_reply\":\"554 \\u0001\"}]}",
	    "listeners[0].starttls_reply: control characters" },
	{ HEAD "\"listeners\":[" L1 ",\"starttls_reply\":\"554 5.7.0 "
	    "no\",\"close_after\":\"starttls\",\"banner\":\"drop\","
	    "\"replies\":{\"ehlo\":\"421 4.3.2 bye\",\"rcpt\":\"drop\"}}]}",
	    NULL },
	{ HEAD "\"listeners\":[" L1 ",\"close_after\":\"quit\"}]}",
	    "listeners[0].close_after: must be one of banner, ehlo, starttls, "
	    "tls, mail, rcpt, data, eom" },
	{ HEAD "\"listeners\":[" L1 ",\"close_after\":\"none\"}]}",
	    "listeners[0].close_after: must be one of" },
	{ HEAD "\"listeners\":[" L1 ",\"replies\":{\"mail\":\"Drop\"}}]}",
	    "listeners[0].replies.mail: must start" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"}],"
	    "\"alert\":\"internal_error\"}}]}",
	    "listeners[0].tls.alert: needs fault \"alert\"" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"}],"
	    "\"fault\":\"alert\",\"alert\":\"close_notify\"}}]}",
	    "listeners[0].tls.alert: not a fatal TLS alert name" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"also\":[]}]}}]}",
	    "listeners[0].tls.certs[0].also: must be an array of 1 to 3" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"also\":[{\"chain\":\"c2\"}]}]}}]}",
	    "listeners[0].tls.certs[0].also[0].key: missing" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"also\":[{\"chain\":\"c2\",\"key\":\"k2\",\"sni\":[]}]}]}}]}",
	    "listeners[0].tls.certs[0].also[0].sni: unknown key" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[]}]}",
	    "listeners[0].connections: must be an array of 1 to 16" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[1]}]}",
	    "listeners[0].connections[0]: must be an object" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[{\"count\":0}]}]}",
	    "listeners[0].connections[0].count: must be between 1" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[{},{\"mode\":"
	    "\"sink\"}]}]}", "listeners[0].connections[1].mode: unknown key" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[{\"tls\":"
	    "{\"certs\":[]}}]}]}",
	    "listeners[0].connections[0].tls.certs: unknown key" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[{\"tls\":"
	    "{\"alert\":\"unknown_ca\"}}]}]}",
	    "listeners[0].connections[0].tls.alert: needs fault" },
	{ HEAD "\"listeners\":[" L1 ",\"connections\":[{\"starttls_reply\":"
	    "\"maybe\"}]}]}",
	    "listeners[0].connections[0].starttls_reply: unknown value" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"starttls_reply\":\"454\",\"connections\":[{\"count\":2,"
	    "\"starttls_reply\":\"220\"}]}]}",
	    "listeners[0].tls: missing (starttls is offered with reply 220)" },
	{ HEAD "\"listeners\":[{\"name\":\"m\",\"address\":\"127.0.0.1\","
	    "\"mode\":\"strip-relay\",\"relay_to\":{\"address\":"
	    "\"127.0.0.2\"},\"connections\":[{}]}]}",
	    "listeners[0].connections: not used by a strip-relay" },
	{ HEAD "\"listeners\":[" L1 ",\"banner\":\"hello\"}]}",
	    "listeners[0].banner: must start with a 3-digit code" },
	{ HEAD "\"listeners\":[" L1 ",\"banner\":\"220 a\\r\\nb\"}]}",
	    "listeners[0].banner: control characters" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\"}]}",
	    "listeners[0].tls: missing" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{}}]}", "listeners[0].tls.certs: missing" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\"}]}}]}",
	    "listeners[0].tls.certs[0].key: missing" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"sni\":[\"x\"]}]}}]}", "listeners[0].tls.certs: needs one" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"sni\":[]}]}}]}", "listeners[0].tls.certs[0].sni: must be" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"sni\":[\"a\",3]}]}}]}",
	    "listeners[0].tls.certs[0].sni[1]: must be a host name" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"}],"
	    "\"fault\":\"explode\"}}]}",
	    "listeners[0].tls.fault: unknown value" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"}],"
	    "\"min_version\":\"SSLv3\"}}]}",
	    "listeners[0].tls.min_version: unknown value" },
	{ HEAD "\"listeners\":[{\"name\":\"a\",\"address\":\"127.0.0.1\","
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\"}],"
	    "\"min_version\":\"TLSv1.3\",\"max_version\":\"TLSv1.2\"}}]}",
	    "listeners[0].tls.max_version: lower than min_version" },
	{ HEAD "\"listeners\":[" L1 ",\"replies\":{\"mail\":\"ok\"}}]}",
	    "listeners[0].replies.mail: must start" },
	{ HEAD "\"listeners\":[" L1 ",\"replies\":{\"data\":\"250 ok\"}}]}",
	    "listeners[0].replies.data: must be 354, 4xx or 5xx" },
	{ HEAD "\"listeners\":[" L1 ",\"replies\":{\"eom\":\"354 x\"}}]}",
	    "listeners[0].replies.eom: 3xx" },
	{ HEAD "\"listeners\":[" L1 ",\"replies\":{\"quit\":\"221 x\"}}]}",
	    "listeners[0].replies.quit: unknown key" },
	{ HEAD "\"listeners\":[{\"name\":\"m\",\"address\":\"127.0.0.1\","
	    "\"mode\":\"strip-relay\"}]}",
	    "listeners[0].relay_to: missing (mode is strip-relay)" },
	{ HEAD "\"listeners\":[{\"name\":\"m\",\"address\":\"127.0.0.1\","
	    "\"mode\":\"strip-relay\",\"relay_to\":{\"address\":\"x\"}}]}",
	    "listeners[0].relay_to.address: not a numeric" },
	{ HEAD "\"listeners\":[" RELAY ",\"relay_inject\":\"250 x\"}]}",
	    "listeners[0].relay_inject: needs relay_starttls \"pass\"" },
	{ HEAD "\"listeners\":[" RELAY ",\"relay_starttls\":\"pass\","
	    "\"relay_inject\":\"\"}]}",
	    "listeners[0].relay_inject: must hold 1..4096 octets" },
	{ HEAD "\"listeners\":[" RELAY ",\"relay_starttls\":\"drop\"}]}",
	    "listeners[0].relay_starttls: unknown value" },
	{ HEAD "\"listeners\":[" RELAY ",\"relay_strip\":1}]}",
	    "listeners[0].relay_strip: must be true or false" },
	{ HEAD "\"listeners\":[" L1 ",\"relay_strip\":false}]}",
	    "listeners[0].relay_strip: only for mode strip-relay" },
	{ HEAD "\"listeners\":[" L1 "}," L1 "}]}",
	    "listeners[1].name: duplicate of listeners[0]" },
	{ HEAD "\"listeners\":[" L1 "},{\"name\":\"b\",\"address\":"
	    "\"127.25.1.1\"," TLS "}]}",
	    "listeners[1].port: address and port already used" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\"," TLS "}]}",
	    "listeners[0].tls: not used by a catch-all" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\",\"banner\":\"554 no\"}]}",
	    "listeners[0].banner: not used by a catch-all" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\",\"flavour\":1}]}",
	    "listeners[0].flavour: unknown key" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":"
	    "\"127.0.0.1\",\"mode\":\"catch-all\"}]}",
	    "listeners[0].address: a catch-all listens on 0.0.0.0 or ::" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"::1\","
	    "\"mode\":\"catch-all\"}]}",
	    "listeners[0].address: a catch-all listens on 0.0.0.0 or ::" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\",\"port\":0}]}",
	    "listeners[0].port: must be between 1 and 65535" },
	{ HEAD "\"listeners\":[{\"name\":\"c\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\"},{\"name\":\"d\",\"address\":"
	    "\"0.0.0.0\",\"mode\":\"catch-all\"}]}",
	    "listeners[1].port: address and port already used" },
	{ HEAD "\"timeouts\":{\"command_ms\":0},\"listeners\":[" L1 "}]}",
	    "timeouts.command_ms: must be between" },
	{ HEAD "\"timeouts\":{\"idle_ms\":1},\"listeners\":[" L1 "}]}",
	    "timeouts.idle_ms: unknown key" },
	{ NULL, NULL }
};

static void
test_config_table(void)
{
	struct config	*c;
	char		 err[512];
	size_t		 i;

	for (i = 0; cases[i].json != NULL; i++) {
		c = config_parse(cases[i].json, strlen(cases[i].json), err,
		    sizeof(err));
		if (cases[i].err == NULL) {
			CU_ASSERT_PTR_NOT_NULL(c);
			if (c == NULL)
				fprintf(stderr, "case %zu: %s\n", i, err);
		} else {
			CU_ASSERT_PTR_NULL(c);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].err));
			if (strstr(err, cases[i].err) == NULL)
				fprintf(stderr, "case %zu: got \"%s\"\n", i,
				    err);
		}
		config_free(c);
	}
}

static void
test_config_defaults(void)
{
	const char	*j = HEAD "\"listeners\":[{\"name\":\"a\","
	    "\"address\":\"127.25.1.1\",\"hostname\":\"mx.a.test\","
	    "\"starttls\":\"withhold\"}]}";
	struct config	*c;
	char		 err[256];

	c = config_parse(j, strlen(j), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->command_ms, 30000);
	CU_ASSERT_EQUAL(c->data_ms, 60000);
	CU_ASSERT_EQUAL(c->tls_ms, 10000);
	CU_ASSERT_EQUAL(c->listeners[0].port, 25);
	CU_ASSERT_EQUAL(c->listeners[0].mode, MODE_SERVER);
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.banner,
	    "220 mx.a.test ESMTP fake-mx");
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.replies[RS_EHLO],
	    "250 mx.a.test");
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.replies[RS_MAIL],
	    "250 2.1.0 ok");
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.replies[RS_RCPT],
	    "250 2.1.5 ok");
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.replies[RS_DATA],
	    "354 go ahead");
	CU_ASSERT_STRING_EQUAL(c->listeners[0].prof.replies[RS_EOM],
	    "250 2.0.0 queued");
	CU_ASSERT_EQUAL(c->listeners[0].prof.starttls, STARTTLS_WITHHOLD);
	CU_ASSERT_EQUAL(c->listeners[0].prof.starttls_reply, STLS_REPLY_220);
	CU_ASSERT_EQUAL(c->listeners[0].prof.fault, FAULT_NONE);
	CU_ASSERT_EQUAL(c->listeners[0].prof.alert, 40);
	CU_ASSERT_EQUAL(c->listeners[0].prof.close_after, CLOSE_NONE);
	CU_ASSERT_EQUAL(c->listeners[0].nsteps, 0);
	CU_ASSERT_EQUAL(c->listeners[0].has_tls, 0);
	CU_ASSERT_STRING_EQUAL(config_strmode(MODE_STRIP_RELAY),
	    "strip-relay");
	CU_ASSERT_STRING_EQUAL(config_strfault(FAULT_STALL), "stall");
	config_free(c);
}

static void
test_config_tls_values(void)
{
	const char	*j = HEAD "\"listeners\":[{\"name\":\"a\","
	    "\"address\":\"127.25.1.1\",\"tls\":{\"certs\":["
	    "{\"chain\":\"c2\",\"key\":\"k2\",\"sni\":[\"A.test\",\"b\"]},"
	    "{\"chain\":\"c\",\"key\":\"k\"}],\"min_version\":\"TLSv1.1\","
	    "\"max_version\":\"TLSv1.2\",\"fault\":\"alert\"}}]}";
	struct config	*c;
	char		 err[256];

	c = config_parse(j, strlen(j), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->listeners[0].tls.ncerts, 2);
	CU_ASSERT_EQUAL(c->listeners[0].tls.certs[0].nsni, 2);
	CU_ASSERT_STRING_EQUAL(c->listeners[0].tls.certs[0].sni[0], "A.test");
	CU_ASSERT_PTR_NULL(c->listeners[0].tls.certs[1].sni);
	CU_ASSERT_EQUAL(c->listeners[0].tls.min_version, TLS1_1_VERSION);
	CU_ASSERT_EQUAL(c->listeners[0].tls.max_version, TLS1_2_VERSION);
	CU_ASSERT_EQUAL(c->listeners[0].prof.fault, FAULT_ALERT);
	CU_ASSERT_EQUAL(c->listeners[0].prof.alert, 40);
	config_free(c);
}

/*
 * Per-connection profiles: each step is the listener's own profile with
 * the keys it gives changed; profile_pick() walks the counts.
 */
static void
test_config_steps(void)
{
	const char	*j = HEAD "\"listeners\":[{\"name\":\"a\","
	    "\"address\":\"127.25.1.1\",\"hostname\":\"mx.a.test\","
	    "\"replies\":{\"rcpt\":\"550 5.1.1 no\"},"
	    "\"tls\":{\"certs\":[{\"chain\":\"c\",\"key\":\"k\","
	    "\"also\":[{\"chain\":\"r\",\"key\":\"rk\"}]}],"
	    "\"fault\":\"alert\",\"alert\":\"unrecognized_name\"},"
	    "\"connections\":["
	    "{\"count\":2,\"starttls_reply\":\"454\"},"
	    "{\"banner\":\"drop\",\"tls\":{\"fault\":\"none\"}},"
	    "{\"starttls_reply\":\"554 5.7.0 go away\",\"close_after\":"
	    "\"starttls\",\"replies\":{\"mail\":\"drop\"}}]}]}";
	const struct profile	*p;
	struct config		*c;
	struct listener_conf	*l;
	char			 err[256];
	int			 step;

	c = config_parse(j, strlen(j), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	l = &c->listeners[0];
	CU_ASSERT_EQUAL(l->tls.certs[0].nalso, 1);
	CU_ASSERT_STRING_EQUAL(l->tls.certs[0].also[0].chain, "r");
	CU_ASSERT_EQUAL(l->prof.fault, FAULT_ALERT);
	CU_ASSERT_EQUAL(l->prof.alert, 112);
	CU_ASSERT_EQUAL_FATAL(l->nsteps, 3);
	/* connections 1 and 2: step 0, a 454, the rest inherited */
	p = profile_pick(l, 1, &step);
	CU_ASSERT_EQUAL(step, 0);
	CU_ASSERT_PTR_EQUAL(profile_pick(l, 2, &step), p);
	CU_ASSERT_EQUAL(p->starttls_reply, STLS_REPLY_REFUSE);
	CU_ASSERT_STRING_EQUAL(p->starttls_line,
	    "454 4.7.0 TLS not available due to temporary reason");
	CU_ASSERT_STRING_EQUAL(p->replies[RS_RCPT], "550 5.1.1 no");
	CU_ASSERT_STRING_EQUAL(p->banner, "220 mx.a.test ESMTP fake-mx");
	CU_ASSERT_EQUAL(p->fault, FAULT_ALERT);
	CU_ASSERT_EQUAL(p->alert, 112);
	/* connection 3: no banner, no fault */
	p = profile_pick(l, 3, &step);
	CU_ASSERT_EQUAL(step, 1);
	CU_ASSERT_PTR_NULL(p->banner);
	CU_ASSERT_EQUAL(p->fault, FAULT_NONE);
	CU_ASSERT_EQUAL(p->starttls_reply, STLS_REPLY_220);
	/* connection 4: refused STARTTLS, then closed; MAIL dropped */
	p = profile_pick(l, 4, &step);
	CU_ASSERT_EQUAL(step, 2);
	CU_ASSERT_STRING_EQUAL(p->starttls_line, "554 5.7.0 go away");
	CU_ASSERT_EQUAL(p->close_after, CLOSE_STARTTLS);
	CU_ASSERT_PTR_NULL(p->replies[RS_MAIL]);
	CU_ASSERT_STRING_EQUAL(p->replies[RS_EOM], "250 2.0.0 queued");
	/* then the listener's own profile, forever */
	CU_ASSERT_PTR_EQUAL(profile_pick(l, 5, &step), &l->prof);
	CU_ASSERT_EQUAL(step, -1);
	CU_ASSERT_PTR_EQUAL(profile_pick(l, 1000, &step), &l->prof);
	config_free(c);
}

/* Alert and close-point names, both ways. */
static void
test_config_names(void)
{
	static const struct {
		const char	*name;
		int		 code;
	} alerts[] = {
		{ "handshake_failure", 40 }, { "internal_error", 80 },
		{ "protocol_version", 70 }, { "unrecognized_name", 112 },
		{ "access_denied", 49 }, { "close_notify", -1 },
		{ "user_canceled", -1 }, { "", -1 },
	};
	size_t	i;

	for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
		CU_ASSERT_EQUAL(profile_alert(alerts[i].name), alerts[i].code);
		if (alerts[i].code > 0)
			CU_ASSERT_STRING_EQUAL(profile_stralert(
			    alerts[i].code), alerts[i].name);
	}
	CU_ASSERT_STRING_EQUAL(profile_stralert(0), "?");
	CU_ASSERT_EQUAL(profile_close_point("rcpt"), CLOSE_RCPT);
	CU_ASSERT_EQUAL(profile_close_point("RCPT"), -1);
	CU_ASSERT_STRING_EQUAL(profile_strclose(CLOSE_TLS), "tls");
	CU_ASSERT_STRING_EQUAL(profile_strclose(CLOSE_MAX), "?");
}

/* Every listener on a catch-all's port gets SO_REUSEPORT, no other. */
static void
test_config_catchall_reuseport(void)
{
	const char	*j = HEAD "\"listeners\":["
	    L1 "},"
	    "{\"name\":\"b\",\"address\":\"127.25.1.2\",\"port\":2525,"
	    "\"starttls\":\"withhold\"},"
	    "{\"name\":\"c\",\"address\":\"::1\",\"starttls\":"
	    "\"withhold\"},"
	    "{\"name\":\"catch-all\",\"address\":\"0.0.0.0\","
	    "\"mode\":\"catch-all\"}]}";
	const char	*k = HEAD "\"listeners\":[" L1 "}]}";
	struct config	*c;
	char		 err[256];

	c = config_parse(j, strlen(j), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->listeners[0].reuseport, 1);
	CU_ASSERT_EQUAL(c->listeners[1].reuseport, 0);
	CU_ASSERT_EQUAL(c->listeners[2].reuseport, 1);
	CU_ASSERT_EQUAL(c->listeners[3].reuseport, 1);
	CU_ASSERT_EQUAL(c->listeners[3].mode, MODE_CATCH_ALL);
	CU_ASSERT_EQUAL(c->listeners[3].port, 25);
	CU_ASSERT_EQUAL(c->listeners[3].has_tls, 0);
	CU_ASSERT_STRING_EQUAL(config_strmode(MODE_CATCH_ALL), "catch-all");
	config_free(c);
	c = config_parse(k, strlen(k), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->listeners[0].reuseport, 0);
	config_free(c);
}

static void
test_config_load_missing(void)
{
	char	err[256];

	CU_ASSERT_PTR_NULL(config_load("/nonexistent/fake-mx.json", err,
	    sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
}

void
test_config_suite(void)
{
	CU_pSuite	s;

	s = CU_add_suite("config", NULL, NULL);
	CU_add_test(s, "validation table", test_config_table);
	CU_add_test(s, "defaults", test_config_defaults);
	CU_add_test(s, "tls values", test_config_tls_values);
	CU_add_test(s, "per-connection profiles", test_config_steps);
	CU_add_test(s, "alert and close names", test_config_names);
	CU_add_test(s, "catch-all and SO_REUSEPORT",
	    test_config_catchall_reuseport);
	CU_add_test(s, "missing file", test_config_load_missing);
}
