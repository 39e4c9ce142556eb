/*
 * expire.c -- forced expiry of queued messages (`refsend expire ID...`).
 *
 * An administrator (or the lab, for docs/cases.md case 35) can tell the sender
 * that a message has used up its retry budget: its attempt counter is set
 * to one below max_attempts and it is due at once.  The next run then makes
 * one last attempt; if that one fails too, the ordinary out-of-attempts path
 * of deliver.c bounces the recipient with a DSN.  Nothing is bounced here:
 * the DSN always comes from the delivery code, with the cause of the last
 * attempt, exactly as when the limit is reached by waiting.
 */
#include <string.h>
#include <time.h>

#include "refsend.h"

/*
 * Does m answer to key: its queue id, or its Message-ID?  The queue keeps
 * Message-IDs without their angle brackets (queue_find_message_id()); key
 * may have them.
 */
static int
expire_matches(const struct qmsg *m, const char *key)
{
	size_t	klen = strlen(key);

	if (strcmp(m->id, key) == 0)
		return 1;
	if (m->message_id == NULL)
		return 0;
	if (klen > 2 && key[0] == '<' && key[klen - 1] == '>')
		return strlen(m->message_id) == klen - 2 &&
		    strncmp(m->message_id, key + 1, klen - 2) == 0;
	return klen > 0 && strcmp(m->message_id, key) == 0;
}

int
queue_expire(const char *dir, const char *key, int max_attempts)
{
	struct qmsg	*m;
	char		**ids;
	size_t		 i;
	int		 found = 0;

	if ((ids = queue_list(dir)) == NULL)
		return 0;
	for (i = 0; ids[i] != NULL; i++) {
		if ((m = queue_load(dir, ids[i])) == NULL)
			continue;
		if (expire_matches(m, key)) {
			if (m->attempts < max_attempts - 1)
				m->attempts = max_attempts - 1;
			m->next_try = time(NULL);
			if (queue_save(dir, m) == -1) {
				qmsg_free(m);
				queue_list_free(ids);
				return -1;
			}
			log_event("expired", json_pack("{s:s,s:s?,s:i}",
			    "queue_id", m->id, "message_id", m->message_id,
			    "attempts", m->attempts));
			found++;
		}
		qmsg_free(m);
	}
	queue_list_free(ids);
	return found;
}
