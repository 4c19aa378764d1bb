/*
 * NAME
 *	state 3
 * SUMMARY
 *	the daemon's state: the config, policy and store in force
 * DESCRIPTION
 *	See state.h. The callbacks (mlfi.c) take references from here at
 *	envfrom; main.c installs a new config and policy on reload and opens
 *	and closes the store. A store that fails to open is retried by the
 *	mail that needs it, one thread at a time (C1: mail passes meanwhile).
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* Application-specific. */
#include "events.h"
#include "cs_log.h"
#include "cs_spool.h"
#include "state.h"

/* The config and policy in force; replaced whole on reload. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static cs_config *state_cfg;
static cs_policy *state_pol;
static _Atomic(cs_store *) state_store;
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(time_t) store_retry_at;	/* read unlocked, written under store_lock */

#define STORE_RETRY_INTERVAL	10	/* seconds between reopen attempts */

/* The event sender runs while the store is open (X3). Webhook keys need a
 * restart, so it keeps the config it was started with. */
static cs_events *state_events;		/* under store_lock after start */
static cs_config *events_cfg;

/* mlfi_config - new reference to the config in force */
cs_config *mlfi_config(void)
{
    cs_config *c;

    pthread_mutex_lock(&state_lock);
    c = state_cfg ? cs_config_ref(state_cfg) : NULL;
    pthread_mutex_unlock(&state_lock);
    return c;
}

/* mlfi_policy - new reference to the policy in force */
cs_policy *mlfi_policy(void)
{
    cs_policy *p;

    pthread_mutex_lock(&state_lock);
    p = state_pol ? cs_policy_ref(state_pol) : NULL;
    pthread_mutex_unlock(&state_lock);
    return p;
}

/* mlfi_install - swap in a new config and policy (start, reload) */
void    mlfi_install(cs_config *cfg, cs_policy *pol)
{
    cs_config *old_cfg;
    cs_policy *old_pol;

    /* Messages past their first 64 KB share this much memory (cs_spool). */
    if (cfg != NULL)
	cs_spool_set_memory(cfg->spool_memory);
    pthread_mutex_lock(&state_lock);
    old_cfg = state_cfg;
    old_pol = state_pol;
    state_cfg = cfg;
    state_pol = pol;
    pthread_mutex_unlock(&state_lock);
    cs_config_unref(old_cfg);
    if (old_pol)
	cs_policy_unref(old_pol);
}

/* mlfi_sync_users - tell the store who the users are and their addresses */
void    mlfi_sync_users(cs_store *store, const cs_config *cfg, const cs_policy *pol)
{
    size_t  n = cs_policy_nusers(pol);
    const cs_user **users;

    if (store == NULL)
	return;
    cs_store_set_subaddress(store, cfg->subaddress_delimiter);
    cs_store_set_commit_delay(store, cfg->store_commit_delay_ms);
    if ((users = calloc(n ? n : 1, sizeof(*users))) == NULL) {
	cs_error(NULL, "out of memory: users not updated in the store");
	return;
    }
    for (size_t i = 0; i < n; i++)
	users[i] = cs_policy_user_at(pol, i);
    if (cs_store_sync_users2(store, users, n) != CS_OK)
	cs_error(NULL, "could not update the users in the store");
    free(users);
}

/* open_store - open the store and tell it the users; NULL on failure */
static cs_store *open_store(const cs_config *cfg, const cs_policy *pol)
{
    char    err[1024];
    cs_store *s;

    s = cs_store_open(cfg->database, CS_STORE_WRITER | CS_STORE_CREATE,
		      cfg->store_timeout_ms, err, sizeof(err));
    if (s == NULL) {
	char    shown[512];

	/* C1: a broken store does not stop mail; we log and run on. */
	cs_store_display(cfg->database, shown, sizeof(shown));
	cs_error(NULL, "store %s: %s; mail passes unrecorded, retrying every %ds",
		 shown, err, STORE_RETRY_INTERVAL);
	return NULL;
    }
    mlfi_sync_users(s, cfg, pol);
    return s;
}

/* start_events - the sender for an open store; settings were checked at start */
static void start_events(cs_store *s)
{
    cs_events_conf ec;
    char    err[512];

    cs_events_conf_init(&ec, events_cfg);
    err[0] = 0;
    if ((state_events = cs_events_start(s, &ec, err, sizeof(err))) == NULL && *err)
	cs_error(NULL, "events: %s; no events are sent", err);
}

/* mlfi_open_store - at start, before smfi_main */
void    mlfi_open_store(cs_config *cfg, const cs_policy *pol)
{
    cs_store *s = open_store(cfg, pol);

    events_cfg = cs_config_ref(cfg);
    atomic_store(&state_store, s);
    if (s)
	start_events(s);
    atomic_store(&store_retry_at, time(NULL) + STORE_RETRY_INTERVAL);
}

/* mlfi_store - the store; one that failed to open is tried again now and then */
cs_store *mlfi_store(void)
{
    cs_store *s = atomic_load(&state_store);
    cs_config *cfg;
    cs_policy *pol;

    if (s != NULL || time(NULL) < atomic_load(&store_retry_at))
	return s;
    /* One thread retries; the others pass their mail unrecorded meanwhile. */
    if (pthread_mutex_trylock(&store_lock) != 0)
	return NULL;
    if ((s = atomic_load(&state_store)) == NULL && time(NULL) >= atomic_load(&store_retry_at)) {
	atomic_store(&store_retry_at, time(NULL) + STORE_RETRY_INTERVAL);
	cfg = mlfi_config();
	pol = mlfi_policy();
	if (cfg && pol && (s = open_store(cfg, pol)) != NULL) {
	    char    shown[512];

	    cs_store_display(cfg->database, shown, sizeof(shown));
	    cs_info(NULL, "store %s opened; recording resumes", shown);
	    start_events(s);
	    atomic_store(&state_store, s);
	}
	cs_config_unref(cfg);
	if (pol)
	    cs_policy_unref(pol);
    }
    pthread_mutex_unlock(&store_lock);
    return s;
}

/* mlfi_close_store - after smfi_main: the sender first, then the store */
void    mlfi_close_store(void)
{
    cs_store *s;

    pthread_mutex_lock(&store_lock);
    s = atomic_exchange(&state_store, NULL);
    cs_events_stop(state_events);
    state_events = NULL;
    if (s)
	cs_store_close(s);
    cs_config_unref(events_cfg);
    events_cfg = NULL;
    pthread_mutex_unlock(&store_lock);
}
