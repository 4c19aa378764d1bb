/*
 * NAME
 *	cs_store_event 3h
 * SUMMARY
 *	an X3 event's body, written once for both dialects
 * DESCRIPTION
 *	cs_event_body() makes the JSON text of one event: a fresh UUID v7
 *	"id", "type", "time" (ISO 8601 UTC, milliseconds) and "owner" (null
 *	when none), then the caller's ids (never overriding those), then
 *	content (subject, participants) only when the thread is shared right
 *	now (V6: events of private threads carry ids and counts only). The
 *	text is written directly (cs_json_write, CS_JSON_ASCII), the bytes
 *	jansson's compact, ASCII-only json_dumps makes of that object. 0 with *text
 *	(free it), uuid and *now set, or CS_EVENT_*.
 */
#ifndef CS_STORE_EVENT_H
#define CS_STORE_EVENT_H

#include <time.h>
#include <jansson.h>
#include "cs_store.h"
#include "cs_store_util.h"

#define CS_EVENT_MISUSE		(-1)	/* no type, ids or content not objects */
#define CS_EVENT_NORANDOM	(-2)
#define CS_EVENT_NOMEM		(-3)

int     cs_event_body(const char *type, const char *owner, json_t *ids, json_t *content,
		              int shared, char uuid[37], time_t *now, char **text);

/*
 * cs_event_text_form: how string S is spelt inside a stored event body
 * (ASCII JSON: a non-ASCII character as a \u escape, "\u00fc"),
 * lower-cased, without quotes, in OUT (LEN bytes). 1 when that differs
 * from S itself (erasure must then look for both), 0 when the same, -1
 * when it does not fit.
 */
int     cs_event_text_form(const char *s, char *out, size_t len);

/*
 * X3 delivery order, for the dialects' outbox claim: scanning pending
 * events in order, one waits when it is not yet due or when an earlier
 * event of one of its threads (t1, t2; 0 none) waits, and a waiting
 * event holds its threads, so that nothing later of a thread overtakes
 * it. cs_event_take copies a claimed event (-1: out of memory).
 */
int     cs_event_waits(const cs_ids *held, long long t1, long long t2, long long next_try,
		               time_t now);
int     cs_event_hold(cs_ids *held, long long t1, long long t2);
int     cs_event_take(cs_event *, long long seq, const char *id, const char *type,
		              const char *body, int attempts);

#endif
