/*
 * NAME
 *	retention 3
 * SUMMARY
 *	crmsync-milter's background retention runs (SPEC R1)
 * DESCRIPTION
 *	A thread of its own, never the mail path: every interval it takes
 *	the config and policy in force and, when a Retention is set in
 *	either, runs cs_store_retention_policy() for at most
 *	RETENTION_PER_RUN copies (bounded work; the store deletes them in
 *	transactions of a few hundred, so mail writes interleave). When a
 *	run stopped at its bound, the next comes after RETENTION_BACKLOG
 *	seconds instead of the interval, until the backlog is gone.
 *
 *	Each run also writes up to SUMMARIES_PER_RUN missing thread
 *	summaries (cs_store_summaries_fill: an older store's threads, and
 *	those a merge, erasure or retention emptied), with a backlog the
 *	same way.
 *
 *	The interval is RETENTION_INTERVAL (hourly: at least daily, as R1
 *	asks, even across restarts). CRMSYNC_RETENTION_INTERVAL (seconds,
 *	1-86400) and CRMSYNC_TEST_NOW (the clock, Unix seconds) are for
 *	tests only.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Utility library. */
#include "cs_log.h"
#include "cs_thread.h"

/* Application-specific. */
#include "cs_config.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "state.h"
#include "retention.h"

#define RETENTION_INTERVAL	3600
#define RETENTION_BACKLOG	60
#define RETENTION_PER_RUN	10000
#define SUMMARIES_PER_RUN	10000

static pthread_mutex_t ret_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ret_cond;
static pthread_t ret_tid;
static int ret_running, ret_stopping;

/* env_long - a test knob from the environment, else dflt */
static long env_long(const char *name, long lo, long hi, long dflt)
{
    const char *v = getenv(name);
    char   *end;
    long    n;

    if (v == NULL || *v == 0)
	return dflt;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
	cs_warn(NULL, "%s=%.20s: out of range; using %ld", name, v, dflt);
	return dflt;
    }
    return n;
}

/* any_retention - does the config or a policy user set a Retention? */
static int any_retention(const cs_config *cfg, const cs_policy *pol)
{
    if (cfg->retention > 0)
	return 1;
    for (size_t i = 0; i < cs_policy_nusers(pol); i++)
	if (cs_policy_user_at(pol, i)->retention > 0)
	    return 1;
    return 0;
}

/* run_once - one bounded run; 1 when it stopped at its bound */
static int run_once(void)
{
    cs_config *cfg = mlfi_config();
    cs_policy *pol = mlfi_policy();
    cs_store *st = mlfi_store();
    json_t *out = NULL;
    int     more = 0;

    if (cfg && pol && st && any_retention(cfg, pol)) {
	time_t  now = (time_t) env_long("CRMSYNC_TEST_NOW", 1, 0x7fffffffL, (long) time(NULL));

	if (cs_store_retention_policy(st, pol, cfg->retention, now, RETENTION_PER_RUN, 0,
				      &out) != CS_OK)
	    cs_warn(NULL, "retention: run failed; trying again later");
	else {
	    json_int_t n = json_integer_value(json_object_get(out, "messages_deleted"));

	    more = json_is_true(json_object_get(out, "more"));
	    if (n)
		cs_info(NULL, "retention: %lld messages, %lld threads deleted%s", (long long) n,
			(long long) json_integer_value(json_object_get(out, "threads_deleted")),
			more ? "; more to do" : "");
	}
	json_decref(out);
    }
    if (st) {
	int     n = cs_store_summaries_fill(st, SUMMARIES_PER_RUN);

	if (n < 0)
	    cs_warn(NULL, "thread summaries: run failed; trying again later");
	else if (n == SUMMARIES_PER_RUN)
	    more = 1;
    }
    if (pol)
	cs_policy_unref(pol);
    if (cfg)
	cs_config_unref(cfg);
    return more;
}

/* ret_main - a run every interval, sooner while a backlog is left */
static void *ret_main(void *arg)
{
    long    interval = env_long("CRMSYNC_RETENTION_INTERVAL", 1, 86400, RETENTION_INTERVAL);
    struct timespec due;
    int     more = 0;

    (void) arg;
    pthread_mutex_lock(&ret_lock);
    while (!ret_stopping) {
	clock_gettime(CLOCK_MONOTONIC, &due);
	due.tv_sec += more && interval > RETENTION_BACKLOG ? RETENTION_BACKLOG : interval;
	while (!ret_stopping && pthread_cond_timedwait(&ret_cond, &ret_lock, &due) != ETIMEDOUT)
	    ;
	if (ret_stopping)
	    break;
	pthread_mutex_unlock(&ret_lock);
	more = run_once();
	pthread_mutex_lock(&ret_lock);
    }
    pthread_mutex_unlock(&ret_lock);
    return NULL;
}

/* cs_retention_start - start the thread */
int     cs_retention_start(void)
{
    pthread_condattr_t ca;

    if (ret_running)
	return -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ret_cond, &ca);
    pthread_condattr_destroy(&ca);
    ret_stopping = 0;
    if (cs_thread_create(&ret_tid, ret_main, NULL) != 0) {
	pthread_cond_destroy(&ret_cond);
	cs_warn(NULL, "no retention thread: run crmsyncctl retention run from cron");
	return -1;
    }
    ret_running = 1;
    return 0;
}

/* cs_retention_stop - end the thread */
void    cs_retention_stop(void)
{
    if (!ret_running)
	return;
    pthread_mutex_lock(&ret_lock);
    ret_stopping = 1;
    pthread_cond_signal(&ret_cond);
    pthread_mutex_unlock(&ret_lock);
    pthread_join(ret_tid, NULL);
    pthread_cond_destroy(&ret_cond);
    ret_running = 0;
}
