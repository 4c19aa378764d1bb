/*
 * NAME
 *	cs_store_read 3h
 * SUMMARY
 *	reading one thread, its raw messages, an attachment, the stats
 * DESCRIPTION
 *	Written once over cs_store_db.h (cs_store_read.c); cs_store.c
 *	checks the arguments and calls these. Answers as cs_store.h says
 *	for cs_store_thread, cs_store_thread_raw, cs_store_attachment and
 *	cs_store_stats.
 */
#ifndef CS_STORE_READ_H
#define CS_STORE_READ_H

#include <jansson.h>
#include "cs_store.h"

int     cs_read_thread(cs_store *, const char *as, const char *tid, json_t **out);
/* One thread object (no messages): CS_OK, CS_ENOTFOUND, CS_EINTERNAL. */
int     cs_read_thread_get(cs_store *, int w, const char *as, long long id, json_t **);
int     cs_read_thread_raw(cs_store *, const char *as, const char *tid, cs_store_raw_fn,
			           void *);
int     cs_read_attachment(cs_store *, const char *as, const char *tid, size_t n, cs_buf *);
int     cs_read_stats(cs_store *, json_t **out);

/* Participants of a thread object from a stored address list (V6). */
#define CS_STORE_MAX_PARTICIPANTS 100
typedef int (*cs_read_person_fn) (void *arg, const char *key, json_t *participant);
int     cs_read_parts(cs_store *, const char *text, json_t *parts, cs_strlist *seen,
		              cs_read_person_fn, void *arg);

#endif
