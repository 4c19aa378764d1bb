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

/* Event bodies are ASCII JSON: what a webhook receiver gets, byte for byte. */
#define EVENT_DUMP	(JSON_COMPACT | JSON_ENSURE_ASCII)

/* cs_event_body - id, type, time, owner, the ids, content only if shared */
int     cs_event_body(const char *type, const char *owner, json_t *ids, json_t *content,
		              int shared, char uuid[37], time_t *now, char **text)
{
    char    when[64];
    json_t *ev;
    int     rc = CS_EVENT_NOMEM;

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
    if ((ev = json_pack("{s:s,s:s,s:s,s:s?}", "id", uuid, "type", type, "time", when,
			"owner", owner)) == NULL)
	return CS_EVENT_NOMEM;
    if (ids && json_object_update_missing(ev, ids) < 0)
	goto out;
    /* V6: subject and participants only while the thread is shared. */
    if (shared && content && json_object_update_missing(ev, content) < 0)
	goto out;
    if ((*text = json_dumps(ev, EVENT_DUMP)) != NULL)
	rc = 0;
out:
    json_decref(ev);
    return rc;
}

/* cs_event_text_form - S as an event body spells it (see the header) */
int     cs_event_text_form(const char *s, char *out, size_t len)
{
    json_t *j = json_string(s);
    char   *t = j ? json_dumps(j, EVENT_DUMP | JSON_ENCODE_ANY) : NULL;
    size_t  n = t ? strlen(t) : 0, i;
    int     rc = -1;

    if (t != NULL && n >= 2 && n - 2 < len) {
	for (i = 0; i + 2 < n; i++)
	    out[i] = (char) tolower((unsigned char) t[i + 1]);
	out[n - 2] = 0;
	rc = strcmp(out, s) != 0;
    }
    free(t);
    json_decref(j);
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
