/*
 * NAME
 *	cs_store_event 3
 * SUMMARY
 *	an X3 event's body, written once for both dialects
 * DESCRIPTION
 *	See cs_store_event.h. The dialects' outbox insert (sqlite/, pg/
 *	*_events.c) stores what this builds, in the change's transaction.
 */
#include <config.h>

/* System library. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_log.h"
#include "cs_util.h"
#include "cs_store_util.h"
#include "cs_store_event.h"

/* members - obj's members after others, skipping keys an earlier part has */
static int members(cs_buf *b, json_t *obj, json_t *before)
{
    static const char *const ours[] = {"id", "type", "time", "owner"};
    const char *key;
    json_t *v;
    size_t  i, n = sizeof(ours) / sizeof(ours[0]);

    json_object_foreach(obj, key, v) {
	for (i = 0; i < n && strcmp(key, ours[i]) != 0; i++)
	     /* void */ ;
	if (i < n || (before && json_object_get(before, key)))
	    continue;
	if (cs_buf_append(b, ",", 1) < 0 || cs_json_str(b, key, strlen(key)) < 0
	    || cs_buf_append(b, ":", 1) < 0 || cs_json_write(b, v, CS_JSON_ASCII) < 0)
	    return -1;
    }
    return 0;
}

/*
 * cs_event_body - id, type, time, owner, the ids, content only if shared:
 * the text json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) made of that
 * object (json_object_update_missing order), written straight out
 */
int     cs_event_body(const char *type, const char *owner, json_t *ids, json_t *content,
		              int shared, char uuid[37], time_t *now, char **text)
{
    char    when[64];
    cs_buf  b = {0};

    *text = NULL;
    if (type == NULL || *type == 0 || (ids && !json_is_object(ids))
	|| (content && !json_is_object(content)))
	return CS_EVENT_MISUSE;
    if (cs_uuid7(uuid) < 0) {
	cs_error(NULL, "store: events: no random bytes for an event id: %m");
	return CS_EVENT_NORANDOM;
    }
    *now = cs_iso_now_ms(when, sizeof(when));
    /* Our fields first and winning: a payload cannot forge id or type. */
    if (cs_buf_append(&b, "{\"id\":\"", 7) < 0 || cs_buf_append(&b, uuid, strlen(uuid)) < 0
	|| cs_buf_append(&b, "\",\"type\":", 9) < 0 || cs_json_str(&b, type, strlen(type)) < 0
	|| cs_buf_append(&b, ",\"time\":\"", 9) < 0 || cs_buf_append(&b, when, strlen(when)) < 0
	|| cs_buf_append(&b, "\"", 1) < 0
	|| cs_buf_append(&b, ",\"owner\":", 9) < 0
	|| (owner ? cs_json_str(&b, owner, strlen(owner)) : cs_buf_append(&b, "null", 4)) < 0
	|| (ids && members(&b, ids, NULL) < 0)
	/* V6: subject and participants only while the thread is shared. */
	|| (shared && content && members(&b, content, ids) < 0)
	|| cs_buf_append(&b, "}", 1) < 0) {
	cs_buf_free(&b);
	return CS_EVENT_NOMEM;
    }
    *text = b.data;
    return 0;
}

/* cs_event_text_form - S as an event body spells it (see the header) */
int     cs_event_text_form(const char *s, char *out, size_t len)
{
    cs_buf  b = {0};
    size_t  n, i;
    int     rc = -1;

    /* The writer of the bodies themselves: the two cannot drift apart. */
    if (cs_json_str(&b, s, strlen(s)) == 0 && (n = b.len) >= 2 && n - 2 < len) {
	for (i = 0; i + 2 < n; i++)
	    out[i] = (char) tolower((unsigned char) b.data[i + 1]);
	out[n - 2] = 0;
	rc = strcmp(out, s) != 0;
    }
    cs_buf_free(&b);
    return rc;
}

/* cs_event_waits - X3 order: not yet due, or a thread of its is held back */
int     cs_event_waits(const cs_ids *held, long long t1, long long t2, long long next_try,
		               time_t now)
{
    return next_try > (long long) now || cs_ids_blocked(held, t1) || cs_ids_blocked(held, t2);
}

/* cs_event_hold - X3 order: nothing later of a waiting event's threads overtakes it */
int     cs_event_hold(cs_ids *held, long long t1, long long t2)
{
    return cs_ids_block(held, t1) < 0 || cs_ids_block(held, t2) < 0 ? -1 : 0;
}

/* cs_event_take - one claimed event, copied; -1 out of memory */
int     cs_event_take(cs_event *e, long long seq, const char *id, const char *type,
		              const char *body, int attempts)
{
    e->seq = seq;
    e->id = cs_strdup(id);
    e->type = cs_strdup(type);
    e->body = cs_strdup(body && *body ? body : "{}");
    e->attempts = attempts;
    return e->id && e->type && e->body ? 0 : -1;
}
