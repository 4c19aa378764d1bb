/*
 * NAME
 *	counters 3
 * SUMMARY
 *	in-memory counts of mail and decisions, flushed to the store
 * DESCRIPTION
 *	See counters.h. One mutex guards an instance; the ring's bucket for
 *	the current minute is cleared when the minute first comes round
 *	again, and buckets of a minute an hour old or more are left out of
 *	"last_hour" (a quiet hour leaves stale buckets behind).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include "cs_log.h"
#include "cs_thread.h"
#include "cs_util.h"

/* Application-specific. */
#include "counters.h"

/* JSON keys of the counters, in enum cs_counter order. */
static const char *const cs_counter_keys[CS_CNT_N] = {
    "seen", "no_owner", "recorded", "failures", "smart_bcc", "dropbox_spoofed",
    "synced", "duplicates", "conditional_not_stored",
    "mode-off", "no-label", "rules-error", "blocked", "internal-only", "automated",
};

#define CS_CNT_FIRST_SKIP	CS_CNT_SKIP_MODE_OFF

typedef struct cs_bucket {
    long    minute;			/* mono / 60; -1: never used */
    unsigned long n[CS_CNT_N];
} cs_bucket;

struct cs_counters {
    pthread_mutex_t lock;
    time_t  started_at;
    unsigned long total[CS_CNT_N];
    cs_bucket ring[CS_COUNTERS_RING];
    /* The policy in force and the reloads. */
    time_t  pol_loaded_at;		/* 0: none yet */
    long    pol_load_ms;
    size_t  pol_users, pol_groups;
    json_t *pol_rules_errors;		/* [{"user", "error"}] */
    unsigned long reloads, reload_failures;
    char    last_error[512];
    time_t  last_error_at;		/* 0: no failure */
};

/* ring_init - every bucket unused */
static void ring_init(cs_counters *c)
{
    for (size_t i = 0; i < CS_COUNTERS_RING; i++)
	c->ring[i].minute = -1;
}

/* cs_counters_new - an empty instance */
cs_counters *cs_counters_new(time_t started_at)
{
    cs_counters *c = calloc(1, sizeof(*c));

    if (c == NULL)
	return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->started_at = started_at;
    ring_init(c);
    return c;
}

/* cs_counters_free - release an instance of one's own */
void    cs_counters_free(cs_counters *c)
{
    if (c == NULL)
	return;
    json_decref(c->pol_rules_errors);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* cs_counters_add - count n of which at a monotonic time */
void    cs_counters_add(cs_counters *c, int which, unsigned long n, long mono)
{
    long    minute = mono < 0 ? 0 : mono / 60;
    cs_bucket *b;

    if (c == NULL || which < 0 || which >= CS_CNT_N)
	return;
    b = &c->ring[minute % CS_COUNTERS_RING];
    pthread_mutex_lock(&c->lock);
    c->total[which] += n;
    if (b->minute != minute) {
	/* An hour (or more) old: this minute starts afresh. */
	memset(b->n, 0, sizeof(b->n));
	b->minute = minute;
    }
    b->n[which] += n;
    pthread_mutex_unlock(&c->lock);
}

/* cs_counters_skip_index - the counter of an S5 reason */
int     cs_counters_skip_index(const char *reason)
{
    if (reason == NULL)
	return -1;
    for (int i = CS_CNT_FIRST_SKIP; i < CS_CNT_N; i++)
	if (strcmp(cs_counter_keys[i], reason) == 0)
	    return i;
    return -1;
}

/* safe_string - a JSON string of untrusted text (paths, parser messages) */
static json_t *safe_string(const char *s)
{
    char    buf[512];

    /* json_string refuses invalid UTF-8: keep printable ASCII only. */
    return json_string(cs_sanitize(s ? s : "", buf, sizeof(buf)));
}

/* cs_counters_policy - note the policy swapped in and how long it took */
void    cs_counters_policy(cs_counters *c, const cs_policy *pol, long load_ms, time_t at)
{
    json_t *errs = json_array(), *e;
    size_t  n = pol ? cs_policy_nusers(pol) : 0;

    if (c == NULL)
	return;
    for (size_t i = 0; errs && i < n; i++) {
	const cs_user *u = cs_policy_user_at(pol, i);

	if (u == NULL || u->rules_error == NULL)
	    continue;
	if ((e = json_object()) == NULL
	    || json_object_set_new(e, "user", safe_string(u->id)) < 0
	    || json_object_set_new(e, "error", safe_string(u->rules_error)) < 0
	    || json_array_append_new(errs, e) < 0) {
	    json_decref(e);
	    json_decref(errs);
	    errs = NULL;			/* shown as null: unknown */
	}
    }
    pthread_mutex_lock(&c->lock);
    if (c->pol_loaded_at != 0)
	c->reloads++;
    c->pol_loaded_at = at;
    c->pol_load_ms = load_ms;
    c->pol_users = n;
    c->pol_groups = pol ? cs_policy_ngroups(pol) : 0;
    json_decref(c->pol_rules_errors);
    c->pol_rules_errors = errs;
    pthread_mutex_unlock(&c->lock);
}

/* cs_counters_policy_failed - note a refused reload */
void    cs_counters_policy_failed(cs_counters *c, const char *why, time_t at)
{
    if (c == NULL)
	return;
    pthread_mutex_lock(&c->lock);
    c->reload_failures++;
    cs_sanitize(why ? why : "unknown error", c->last_error, sizeof(c->last_error));
    c->last_error_at = at;
    pthread_mutex_unlock(&c->lock);
}

/* iso_time - ISO 8601 UTC text of a time, JSON null for 0 (never) */
static json_t *iso_time(time_t t)
{
    char    buf[32];

    if (t == 0)
	return json_null();
    cs_iso_date((long long) t, buf, sizeof(buf));
    return json_string(buf);
}

/* counts_json - {"seen", ..., "skipped": {reason: n}} of one array */
static json_t *counts_json(const unsigned long *n)
{
    json_t *o = json_object(), *sk = json_object();
    int     bad = o == NULL || sk == NULL;

    for (int i = 0; !bad && i < CS_CNT_N; i++)
	bad = json_object_set_new(i >= CS_CNT_FIRST_SKIP ? sk : o, cs_counter_keys[i],
				  json_integer((json_int_t) n[i])) < 0;
    if (bad || json_object_set_new(o, "skipped", sk) < 0) {
	json_decref(o);
	return NULL;
    }
    return o;
}

/* cs_counters_json - the status document */
json_t *cs_counters_json(cs_counters *c, long mono, int running)
{
    unsigned long total[CS_CNT_N], hour[CS_CNT_N];
    long    minute = mono < 0 ? 0 : mono / 60;
    json_t *doc, *pol, *errs;
    time_t  loaded_at, error_at;
    long    load_ms;
    size_t  users, groups;
    unsigned long reloads, failures;
    char    last_error[sizeof(c->last_error)];

    memset(hour, 0, sizeof(hour));
    pthread_mutex_lock(&c->lock);
    memcpy(total, c->total, sizeof(total));
    for (size_t b = 0; b < CS_COUNTERS_RING; b++) {
	const cs_bucket *k = &c->ring[b];

	/* This minute and the 59 before it: the last hour. */
	if (k->minute < 0 || k->minute > minute || k->minute <= minute - CS_COUNTERS_RING)
	    continue;
	for (int i = 0; i < CS_CNT_N; i++)
	    hour[i] += k->n[i];
    }
    loaded_at = c->pol_loaded_at;
    load_ms = c->pol_load_ms;
    users = c->pol_users;
    groups = c->pol_groups;
    errs = c->pol_rules_errors ? json_deep_copy(c->pol_rules_errors) : json_null();
    reloads = c->reloads;
    failures = c->reload_failures;
    memcpy(last_error, c->last_error, sizeof(last_error));
    error_at = c->last_error_at;
    pthread_mutex_unlock(&c->lock);

    pol = json_pack("{s:o,s:I,s:I,s:I,s:o*,s:I,s:I,s:o,s:o}",
		    "loaded_at", iso_time(loaded_at),
		    "load_ms", (json_int_t) load_ms,
		    "users", (json_int_t) users,
		    "groups", (json_int_t) groups,
		    "rules_errors", errs,
		    "reloads", (json_int_t) reloads,
		    "reload_failures", (json_int_t) failures,
		    "last_error", error_at ? json_string(last_error) : json_null(),
		    "last_error_at", iso_time(error_at));
    if (pol == NULL)
	return NULL;
    doc = json_pack("{s:I,s:s,s:o,s:b,s:o*,s:o*,s:o}",
		    "pid", (json_int_t) getpid(),
		    "version", PACKAGE_VERSION,
		    "started_at", iso_time(c->started_at),
		    "running", running,
		    "since_start", counts_json(total),
		    "last_hour", counts_json(hour),
		    "policy", pol);
    /* "o*" leaves a key out for a NULL: counts_json ran out of memory. */
    if (doc && (json_object_get(doc, "since_start") == NULL
		|| json_object_get(doc, "last_hour") == NULL)) {
	json_decref(doc);
	doc = NULL;
    }
    return doc;
}

/*
 * The milter's instance. Static state, guarded by its mutex; started_at
 * is set once by cs_counters_global().
 */
static cs_counters global_counters = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* global_init - process start time, empty ring */
static void global_init(void)
{
    global_counters.started_at = time(NULL);
    ring_init(&global_counters);
}

/* cs_counters_global - the process-wide instance */
cs_counters *cs_counters_global(void)
{
    pthread_once(&global_once, global_init);
    return &global_counters;
}

/* mono_now - seconds on CLOCK_MONOTONIC */
static long mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec;
}

/* cs_count - one more of which, process-wide */
void    cs_count(int which)
{
    cs_counters_add(cs_counters_global(), which, 1, mono_now());
}

/* cs_count_skip - one more copy skipped for reason, process-wide */
void    cs_count_skip(const char *reason)
{
    int     i = cs_counters_skip_index(reason);

    if (i >= 0)
	cs_count(i);
}

/* The flush thread's state (under flush_lock). */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_cond;
static pthread_t flush_tid;
static int flush_running, flush_stopping, flush_kicked;
static long flush_interval = CS_COUNTERS_INTERVAL;
static cs_store *(*flush_get_store) (void);
static char flush_host[256];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* host_init - this host's name as its status document is keyed */
static void host_init(void)
{
    char    host[256];

    if (gethostname(host, sizeof(host)) < 0)
	host[0] = 0;
    host[sizeof(host) - 1] = 0;
    cs_sanitize(*host ? host : "localhost", flush_host, sizeof(flush_host));
}

/* cs_counters_host - the name the status is kept under (crmsyncctl stats) */
const char *cs_counters_host(void)
{
    pthread_once(&host_once, host_init);
    return flush_host;
}

static const char *flush_extra_key;
static json_t *(*flush_extra_fn) (void);

/* cs_counters_set_extra - add fn's object under key at each flush */
void    cs_counters_set_extra(const char *key, json_t *(*fn) (void))
{
    pthread_mutex_lock(&flush_lock);
    flush_extra_key = key;
    flush_extra_fn = fn;
    pthread_mutex_unlock(&flush_lock);
}

/* flush_once - write the document; CS_OK, or why not */
static int flush_once(int running)
{
    cs_store *s = flush_get_store();
    json_t *doc;
    int     rc;

    if (s == NULL)
	return CS_EINTERNAL;			/* store down: nothing to write to */
    if ((doc = cs_counters_json(cs_counters_global(), mono_now(), running)) == NULL
	|| json_object_set_new(doc, "interval", json_integer((json_int_t) flush_interval)) < 0) {
	json_decref(doc);
	return CS_EINTERNAL;
    }
    pthread_mutex_lock(&flush_lock);
    if (flush_extra_fn != NULL)
	(void) json_object_set_new(doc, flush_extra_key, flush_extra_fn());
    pthread_mutex_unlock(&flush_lock);
    rc = cs_store_milter_status_put(s, flush_host, time(NULL), doc);
    json_decref(doc);
    if (rc != CS_OK)
	cs_debug(NULL, "status: not written this round (store busy or down)");
    return rc;
}

/* flush_main - write the status every interval, or when kicked */
static void *flush_main(void *arg)
{
    struct timespec due;

    (void) arg;
    pthread_mutex_lock(&flush_lock);
    while (!flush_stopping) {
	clock_gettime(CLOCK_MONOTONIC, &due);
	due.tv_sec += flush_interval;
	while (!flush_stopping && !flush_kicked
	       && pthread_cond_timedwait(&flush_cond, &flush_lock, &due) != ETIMEDOUT)
	    ;
	if (flush_stopping)
	    break;
	flush_kicked = 0;
	pthread_mutex_unlock(&flush_lock);
	(void) flush_once(1);
	pthread_mutex_lock(&flush_lock);
    }
    pthread_mutex_unlock(&flush_lock);
    return NULL;
}

/* status_interval - CRMSYNC_STATUS_INTERVAL (tests), else the default */
static long status_interval(void)
{
    const char *v = getenv("CRMSYNC_STATUS_INTERVAL");
    char   *end;
    long    n;

    if (v == NULL || *v == 0)
	return CS_COUNTERS_INTERVAL;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < 1 || n > 3600) {
	cs_warn(NULL, "CRMSYNC_STATUS_INTERVAL=%.20s: not 1-3600 seconds; using %d",
		v, CS_COUNTERS_INTERVAL);
	return CS_COUNTERS_INTERVAL;
    }
    return n;
}

/* cs_counters_flush_start - start the flush thread */
int     cs_counters_flush_start(cs_store *(*get_store) (void))
{
    pthread_condattr_t ca;

    (void) cs_counters_global();
    if (get_store == NULL || flush_running)
	return -1;
    (void) cs_counters_host();
    flush_interval = status_interval();
    flush_get_store = get_store;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&flush_cond, &ca);
    pthread_condattr_destroy(&ca);
    flush_stopping = flush_kicked = 0;
    if (cs_thread_create(&flush_tid, flush_main, NULL) != 0) {
	pthread_cond_destroy(&flush_cond);
	cs_warn(NULL, "no status thread: crmsyncctl stats shows no milter figures");
	return -1;
    }
    pthread_mutex_lock(&flush_lock);
    flush_running = 1;
    pthread_mutex_unlock(&flush_lock);
    return 0;
}

/* cs_counters_flush_kick - write the status now (after a reload) */
void    cs_counters_flush_kick(void)
{
    pthread_mutex_lock(&flush_lock);
    if (flush_running) {
	flush_kicked = 1;
	pthread_cond_signal(&flush_cond);
    }
    pthread_mutex_unlock(&flush_lock);
}

/* cs_counters_flush_stop - end the thread, write the last document */
void    cs_counters_flush_stop(void)
{
    struct timespec pause = {0, 50 * 1000 * 1000};

    pthread_mutex_lock(&flush_lock);
    if (!flush_running) {
	pthread_mutex_unlock(&flush_lock);
	return;
    }
    flush_stopping = 1;
    pthread_cond_signal(&flush_cond);
    pthread_mutex_unlock(&flush_lock);
    pthread_join(flush_tid, NULL);
    /* Under the lock: a SIGUSR1 now must not signal a destroyed cond. */
    pthread_mutex_lock(&flush_lock);
    flush_running = 0;
    pthread_cond_destroy(&flush_cond);
    pthread_mutex_unlock(&flush_lock);
    /* The writer may be draining its queue: a few short tries, no more
     * (a locked store must not hold up the stop). */
    for (int i = 0; i < 5 && flush_once(0) != CS_OK && flush_get_store() != NULL; i++)
	nanosleep(&pause, NULL);
}
