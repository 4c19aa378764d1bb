/*
 * NAME
 *	counters 3h
 * SUMMARY
 *	what the milter saw and decided, for crmsyncctl stats (issue 10)
 * DESCRIPTION
 *	crmsyncctl is another process: it cannot read the milter's memory.
 *	So the milter counts in memory and a flush thread writes the counts,
 *	as one JSON document per host, into the store (table milter_status,
 *	cs_store_milter_status_put); crmsyncctl stats prints them under
 *	"milter": {"<host>": {...}}, so a fleet (F1) shows every host.
 *
 *	Counts are kept since start and for the last hour (a ring of 60
 *	one-minute buckets on CLOCK_MONOTONIC, so a clock change neither
 *	loses nor invents an hour; "last hour" is the current minute and the
 *	59 before it). Message counts: seen (reached end of headers),
 *	no_owner (accepted at end of headers: no owner, no dropbox),
 *	recorded (committed to the store), failures (not recorded for an
 *	internal reason: store down or slow, memory, spool; C1 accepted them
 *	all the same), smart_bcc (logged as Smart BCC, K2), dropbox_spoofed
 *	(K4). Copy counts (one per owner, C3): synced (stored), duplicates
 *	(already stored, T2), skipped.<reason> (S5 reasons; no-label
 *	includes conditional_not_stored, the labels-mode copies that joined
 *	no thread).
 *
 *	The document (cs_counters_json):
 *	{"pid", "version", "started_at", "running" (false after the last
 *	flush at stop), "interval" (seconds between flushes), "since_start":
 *	{counts}, "last_hour": {counts}, "policy": {"loaded_at", "load_ms"
 *	(config and policy files, Sieve compiled), "users", "groups",
 *	"rules_errors": [{"user", "error"}] (users who sync nothing, S2),
 *	"reloads", "reload_failures", "last_error", "last_error_at"}}.
 *	Times are ISO 8601 UTC; the store adds "updated_at".
 *
 *	Counting takes a mutex for a few increments: nothing next to the
 *	fsync of a record. The flush never runs in a milter callback and
 *	skips a round when the store's writer is busy (mail first).
 *
 *	The flush runs every 10 seconds, at once after a SIGUSR1 reload
 *	(cs_counters_flush_kick), and at stop. CRMSYNC_STATUS_INTERVAL in
 *	the environment (1-3600 seconds) changes the period, for tests.
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <time.h>
#include <jansson.h>
#include "cs_policy.h"
#include "cs_store.h"

enum cs_counter {
    CS_CNT_SEEN = 0,
    CS_CNT_NO_OWNER,
    CS_CNT_RECORDED,
    CS_CNT_FAILURES,
    CS_CNT_SMART_BCC,
    CS_CNT_DROPBOX_SPOOFED,
    CS_CNT_SYNCED,
    CS_CNT_DUPLICATES,
    CS_CNT_CONDITIONAL_NOT_STORED,
    CS_CNT_SKIP_MODE_OFF,		/* skipped.<reason>, S5's order */
    CS_CNT_SKIP_NO_LABEL,
    CS_CNT_SKIP_RULES_ERROR,
    CS_CNT_SKIP_BLOCKED,
    CS_CNT_SKIP_INTERNAL_ONLY,
    CS_CNT_SKIP_AUTOMATED,
    CS_CNT_N
};

#define CS_COUNTERS_RING	60	/* one-minute buckets: the last hour */
#define CS_COUNTERS_INTERVAL	10	/* seconds between flushes */

typedef struct cs_counters cs_counters;

/* An instance of one's own (tests); started_at is the wall clock. */
cs_counters *cs_counters_new(time_t started_at);
void    cs_counters_free(cs_counters *);
/* n more of which at mono (seconds on a monotonic clock). */
void    cs_counters_add(cs_counters *, int which, unsigned long n, long mono);
/* The counter of an S5 reason ("mode-off" ...), -1 if unknown. */
int     cs_counters_skip_index(const char *reason);
/* A policy swapped in at wall time at, after load_ms of loading. */
void    cs_counters_policy(cs_counters *, const cs_policy *, long load_ms, time_t at);
/* A reload refused (the running policy stays): why, at wall time at. */
void    cs_counters_policy_failed(cs_counters *, const char *why, time_t at);
/* The status document at mono (no "interval": the flush adds it);
 * NULL when out of memory. */
json_t *cs_counters_json(cs_counters *, long mono, int running);

/* The milter's process-wide instance and shorthands on it. */
cs_counters *cs_counters_global(void);
void    cs_count(int which);
void    cs_count_skip(const char *reason);

/* The flush thread: get_store is asked for the store each round (NULL:
 * not open, skip). stop writes a last document, "running": false. */
int     cs_counters_flush_start(cs_store *(*get_store) (void));
/* This host's name, as the status document is kept under it. */
const char *cs_counters_host(void);
void    cs_counters_flush_kick(void);
/* One more object in each flushed document under key (the journal's,
 * C6), made by fn at flush time. */
void    cs_counters_set_extra(const char *key, json_t *(*fn) (void));
void    cs_counters_flush_stop(void);

#endif
