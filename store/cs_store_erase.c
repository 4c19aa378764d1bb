/*
 * NAME
 *	cs_store_erase 3
 * SUMMARY
 *	delete stored copies for good: the step R1, R2 and R3 share
 * DESCRIPTION
 *	cs_store_erase_copies() deletes copies in batches, each one write
 *	transaction of the backend's primitives (cs_store_impl.h): each
 *	copy, then its thread when no message is left in it. Each deletion
 *	is one X3 event in the same transaction: message.deleted with the
 *	thread id while the thread lives on, thread.deleted when it goes.
 *	One audit row says who did it and how many. The caller scrubs once
 *	after its last batch (cs_store_erase_scrub), so that no page of the
 *	store keeps the deleted bytes.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Utility library. */
#include "cs_log.h"
#include "cs_util.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_erase.h"

/* cs_store_msgs_free - a page of msg_list */
void    cs_store_msgs_free(cs_store_msg *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
	free(v[i].owner);
	free(v[i].subject);
	for (int k = 0; k < 5; k++)
	    free(v[i].lists[k]);
    }
    free(v);
}

/* cs_store_erase_supported - does the backend have the primitives? */
int     cs_store_erase_supported(const cs_store *st)
{
    const struct cs_store_ops *o = st->ops;

    return o->msg_list && o->msg_raw && o->tx_begin && o->tx_end && o->msg_delete
	&& o->erase_step && o->event_add && o->scrub;
}

/* cs_store_wbegin - take the write connection, open a transaction */
int     cs_store_wbegin(cs_store *st)
{
    int     rc;

    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    pthread_mutex_lock(&st->wlock);
    if ((rc = st->ops->tx_begin(st, CS_TX_PLAIN) < 0 ? CS_EINTERNAL : CS_OK) != CS_OK) {
	cs_error(NULL, "store: begin: %s", cs_db_error(st, CS_DB_W));
	pthread_mutex_unlock(&st->wlock);
    }
    return rc;
}

/* cs_store_wend - commit (rc CS_OK) or roll back, release */
int     cs_store_wend(cs_store *st, int rc)
{
    rc = st->ops->tx_end(st, rc);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

/* cs_store_event - an X3 event in the open write transaction; payload consumed */
int     cs_store_event(cs_store *st, const char *type, const char *owner, int64_t thread,
		               json_t *payload)
{
    int     rc = payload && st->ops->event_add(st, type, owner, thread, 0, payload, NULL) == 0
	? CS_OK : CS_EINTERNAL;

    json_decref(payload);
    return rc;
}

/* cs_store_audit - one audit row in the open write transaction */
int     cs_store_audit(cs_store *st, const char *who, const char *what, json_t *detail,
		               time_t now)
{
    return detail && cs_prim_audit(st, who, what, detail, now) == 0 ? CS_OK : CS_EINTERNAL;
}

/* erase_one - one copy, its thread if left empty, and the event */
static int erase_one(cs_store *st, const cs_store_msg *m, cs_erase_counts *c)
{
    const struct cs_store_ops *o = st->ops;
    char    tid[32], mid[32];
    int64_t left;
    int     rc;

    if ((rc = o->msg_delete(st, m->owner, m->id, &left)) == CS_ENOTFOUND)
	return CS_OK;				/* gone meanwhile */
    if (rc != CS_OK)
	return rc;
    snprintf(tid, sizeof(tid), "t%lld", (long long) m->thread);
    snprintf(mid, sizeof(mid), "m%lld", (long long) m->id);
    c->messages++;
    if (left == 0) {
	long    changed;

	if ((rc = o->erase_step(st, CS_ERASE_THREAD, m->owner, m->thread, &changed)) != CS_OK)
	    return rc;
	c->threads++;
	return cs_store_event(st, "thread.deleted", m->owner, m->thread,
			      json_pack("{s:s}", "thread", tid));
    }
    return cs_store_event(st, "message.deleted", m->owner, m->thread,
			  json_pack("{s:s,s:s,s:I}", "thread", tid, "message", mid,
				    "message_count", (json_int_t) left));
}

/*
 * erase_batch - delete copies in one transaction, with events and audit:
 * up to n of them, fewer when CS_ERASE_BATCH_MS has passed (at least one);
 * *done says how many were taken.
 */
static int erase_batch(cs_store *st, const cs_store_msg *v, size_t n, const char *who,
		               const char *what, cs_erase_counts *c, size_t *done)
{
    cs_erase_counts mine = {0, 0};
    long long start = cs_mono_ms();
    json_t *detail;
    size_t  i;
    int     rc;

    *done = 0;
    if (n == 0)
	return CS_OK;
    if ((rc = cs_store_wbegin(st)) != CS_OK)
	return rc;
    for (i = 0; rc == CS_OK && i < n && (i == 0 || cs_mono_ms() - start < CS_ERASE_BATCH_MS);
	 i++)
	rc = erase_one(st, v + i, &mine);
    if (rc == CS_OK) {
	detail = json_pack("[{s:I,s:I}]", "messages", (json_int_t) mine.messages,
			   "threads", (json_int_t) mine.threads);
	rc = cs_store_audit(st, who, what, detail, time(NULL));
	json_decref(detail);
    }
    if ((rc = cs_store_wend(st, rc)) == CS_OK) {
	c->messages += mine.messages;
	c->threads += mine.threads;
	*done = i;
    }
    return rc;
}

/* cs_store_erase_copies - every copy, a batch at a time, yielding between */
int     cs_store_erase_copies(cs_store *st, const cs_store_msg *v, size_t n, const char *who,
			              const char *what, cs_erase_counts *c)
{
    struct timespec yield = {0, CS_ERASE_YIELD_MS * 1000L * 1000L};
    size_t  i = 0, done;
    int     rc = CS_OK;

    struct timespec again = {CS_ERASE_RETRY_MS / 1000, (CS_ERASE_RETRY_MS % 1000) * 1000000L};
    int     tries = 0;

    while (rc == CS_OK && i < n) {
	if (i)
	    nanosleep(&yield, NULL);
	rc = erase_batch(st, v + i, n - i < CS_ERASE_BATCH ? n - i : CS_ERASE_BATCH,
			 who, what, c, &done);
	i += done;
	/* Rolled back whole: the same batch again, a few times. */
	if (rc == CS_EINTERNAL && ++tries < CS_ERASE_TRIES) {
	    cs_error(NULL, "store: %s: a batch of deletions was rolled back (the store busy or"
		    " failing); trying it again in %d ms", what, CS_ERASE_RETRY_MS);
	    nanosleep(&again, NULL);
	    rc = CS_OK;
	} else if (rc == CS_OK)
	    tries = 0;
    }
    return rc;
}

/* cs_store_erase_scrub - no page keeps deleted bytes (after the last batch) */
int     cs_store_erase_scrub(cs_store *st)
{
    struct timespec pause = {0, 100 * 1000 * 1000};
    int     rc = CS_EINTERNAL;

    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    /*
     * A busy store (the milter's writer, a reader on an old snapshot) can
     * keep the scrub from finishing: try again for a while, letting this
     * process's own writer in between (the backend takes wlock if it
     * needs the write connection).
     */
    for (int i = 0; i < CS_ERASE_SCRUB_TRIES && rc != CS_OK; i++) {
	if (i)
	    nanosleep(&pause, NULL);
	rc = st->ops->scrub(st);
    }
    if (rc != CS_OK)
	cs_error(NULL, "store: scrub after erasure failed: deleted bytes may remain"
		 " in free pages until the next scrub");
    return rc;
}
