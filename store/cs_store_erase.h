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

/* Copies a batch holds at most (one transaction). */
#define CS_ERASE_BATCH	256

int     cs_store_erase_supported(const cs_store *);
/* Delete v[0..n) in one transaction: events, one audit row (who, what). */
int     cs_store_erase_batch(cs_store *, const cs_store_msg *v, size_t n, const char *who,
			             const char *what, cs_erase_counts *);
/* After the last batch: the deleted bytes leave the store's files. A
 * failure leaves the deletions done (and logged): answer "scrubbed" false. */
int     cs_store_erase_scrub(cs_store *);

#endif
