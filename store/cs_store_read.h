/*
 * NAME
 *	cs_store_read 3h
 * SUMMARY
 *	reading threads, lists of them, raw messages, attachments, the stats
 * DESCRIPTION
 *	Written once over cs_store_db.h (cs_store_read.c, cs_store_list.c);
 *	cs_store.c checks the arguments and calls these. Answers as
 *	cs_store.h says for cs_store_thread, cs_store_thread_raw,
 *	cs_store_attachment, cs_store_stats, cs_store_mailbox and
 *	cs_store_record_threads.
 */
#ifndef CS_STORE_READ_H
#define CS_STORE_READ_H

#include <jansson.h>
#include "cs_store.h"
#include "cs_store_db.h"

int     cs_read_thread(cs_store *, const char *as, const char *tid, json_t **out);
/* One thread object (no messages): CS_OK, CS_ENOTFOUND, CS_EINTERNAL. */
int     cs_read_thread_get(cs_store *, int w, const char *as, long long id, json_t **);
int     cs_read_thread_raw(cs_store *, const char *as, const char *tid, cs_store_raw_fn,
			           void *);
int     cs_read_attachment(cs_store *, const char *as, const char *tid, size_t n, cs_buf *);
int     cs_read_stats(cs_store *, json_t **out);

/* Lists of threads (cs_store_list.c). */
#define CS_STORE_MAX_PARTICIPANTS 100
/* Appended to out, or (out NULL) printed into text as an array at depth. */
int     cs_read_threads(cs_store *, int w, const char *as, cs_rows *q, int limit, json_t *out,
			        cs_buf *text, int depth, int *more, long long *key, long long *id);
int     cs_read_mailbox(cs_store *, const char *as, const char *label, int limit,
			        const char *cursor, cs_page *out);
int     cs_read_record_threads(cs_store *, const char *as, const char *kind, const char *id,
			               int limit, const char *cursor, cs_page *out);
/* A copy just stored into a thread (cs_read_summary_write). */
typedef struct cs_summary_add {
    const char *from, *to, *cc;		/* its stored address lists (JSON) */
    json_t *from_list, *to_list, *cc_list;	/* the same parsed, or NULL */
    const char *envelope;		/* its envelope (C4), or NULL */
    const cs_strlist *labels;		/* its labels */
    time_t  sort_date;
    long long message;			/* its id */
} cs_summary_add;

/* A thread's summary after a copy (NULL: from all its messages), on connection w: 0 or -1. */
int     cs_read_summary_write(cs_store *, int w, const char *owner, long long thread,
			              const cs_summary_add *);
/* Up to max threads without a summary get one (write transactions): how many, or -1. */
int     cs_read_summaries_fill(cs_store *, int max);

#endif
