/*
 * NAME
 *	cs_store_erase 3h
 * SUMMARY
 *	the deletion step shared by retention, erasure and purge (store-internal)
 */
#ifndef CS_STORE_ERASE_H
#define CS_STORE_ERASE_H

#include "cs_store_impl.h"

typedef struct cs_erase_counts {
    long    messages;
    long    threads;
} cs_erase_counts;

/* Tries of the scrub, 100 ms apart, before it is reported undone. */
#define CS_ERASE_SCRUB_TRIES	50

/*
 * A batch (one write transaction) holds at most CS_ERASE_BATCH copies and
 * stops taking more after CS_ERASE_BATCH_MS, so that erasure holds the
 * store's write lock for less than StoreWait (200 ms by default) at a
 * time. Between two batches it pauses CS_ERASE_YIELD_MS, so that a writer
 * waiting for the lock gets it (C1: mail first): SQLite's busy handler
 * sleeps in steps of up to 100 ms, and a shorter gap is missed by a writer
 * in its sleep (back to back, 256-copy batches left the writer of
 * erase-bench 14 records/s during a 10,000-copy purge).
 */
#define CS_ERASE_BATCH		256
#define CS_ERASE_BATCH_MS	100
#define CS_ERASE_YIELD_MS	100
/*
 * A batch that fails is rolled back whole (a lock wait past StoreTimeout,
 * a deadlock PostgreSQL resolved against it, a connection lost): it is
 * tried again, CS_ERASE_TRIES times in all, a second apart, before the
 * command fails. What earlier batches deleted stays deleted; running the
 * command again finishes the rest.
 */
#define CS_ERASE_TRIES		3
#define CS_ERASE_RETRY_MS	1000

int     cs_store_erase_supported(const cs_store *);
/* Delete v[0..n) in batches: events, one audit row per batch (who, what). */
int     cs_store_erase_copies(cs_store *, const cs_store_msg *v, size_t n, const char *who,
			              const char *what, cs_erase_counts *);
/* After the last batch: the deleted bytes leave the store's files. A
 * failure leaves the deletions done (and logged): answer "scrubbed" false. */
int     cs_store_erase_scrub(cs_store *);

#endif
