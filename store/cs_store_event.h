/*
 * NAME
 *	cs_store_event 3h
 * SUMMARY
 *	an X3 event's body, written once for both dialects
 * DESCRIPTION
 *	cs_event_body() makes the JSON text of one event: a fresh UUID v4
 *	"id", "type", "time" (ISO 8601 UTC, milliseconds) and "owner", then
 *	the caller's ids (never overriding those), then content (subject,
 *	participants) only when the thread is shared right now (V6: events
 *	of private threads carry ids and counts only). 0 with *text (free
 *	it), uuid and *now set, or CS_EVENT_*.
 */
#ifndef CS_STORE_EVENT_H
#define CS_STORE_EVENT_H

#include <time.h>
#include <jansson.h>

#define CS_EVENT_MISUSE		(-1)	/* no type, ids or content not objects */
#define CS_EVENT_NORANDOM	(-2)
#define CS_EVENT_NOMEM		(-3)

int     cs_event_body(const char *type, const char *owner, json_t *ids, json_t *content,
		              int shared, char uuid[37], time_t *now, char **text);

#endif
