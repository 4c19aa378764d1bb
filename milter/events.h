/*
 * NAME
 *	events 3h
 * SUMMARY
 *	the X3 event sender: the store's outbox to the CRM's webhook
 * DESCRIPTION
 *	cs_events_start() checks the webhook settings and starts one thread
 *	that delivers the store's pending events (SPEC X3); cs_events_stop()
 *	ends it. The thread uses its own store connection (an outbox), never
 *	the milter's writer, so mail never waits for the CRM (C1).
 *
 *	Refused at start (cs_events_start returns NULL and says why in err):
 *	a WebhookURL that is not https:// nor http:// to a loopback address
 *	(127.0.0.0/8, ::1, localhost); a WebhookURL without WebhookSecret;
 *	a secret file that cannot be read, is empty, is not a regular file,
 *	or grants any permission to group or others. With no WebhookURL the
 *	thread only prunes events older than EventRetention. With no store,
 *	the settings are checked and NULL is returned with an empty err.
 */
#ifndef CS_EVENTS_H
#define CS_EVENTS_H

#include <stddef.h>
#include "cs_config.h"
#include "cs_store.h"

typedef struct cs_events cs_events;

typedef struct cs_events_conf {
    const char *url;			/* WebhookURL; NULL or "": prune only */
    const char *secret_file;		/* WebhookSecret */
    const char *ca_file;		/* WebhookCAFile; NULL: system CAs */
    long    retention;			/* EventRetention, seconds */
    long    timeout_ms;			/* one whole request */
    long    connect_timeout_ms;
    long    backoff_min_ms;		/* first retry delay */
    long    backoff_max_ms;		/* cap, Retry-After included */
    size_t  batch_max;			/* events per POST when there is a backlog */
    size_t  batch_bytes;		/* about this many body bytes per POST */
    long    poll_ms;			/* idle: look for new events this often */
    long    prune_every;		/* seconds between prunes */
} cs_events_conf;

/* Defaults, then the config's Webhook* and EventRetention (cfg may be NULL). */
void    cs_events_conf_init(cs_events_conf *, const cs_config *cfg);
cs_events *cs_events_start(cs_store *, const cs_events_conf *, char *err, size_t errlen);
void    cs_events_stop(cs_events *);

#endif
