/*
 * NAME
 *	cs_store_util 3h
 * SUMMARY
 *	small pure helpers both store dialects use, written once
 * DESCRIPTION
 *	No database: thread ids and their text, the keyset cursor codec,
 *	the time with milliseconds (a plain date is cs_util.h's
 *	cs_iso_date), UUIDs, sets of ids, the stored address lists (JSON
 *	text) read back, and JSON text written. Thread ids are long long
 *	(sqlite3_int64 is the same type).
 */
#ifndef CS_STORE_UTIL_H
#define CS_STORE_UTIL_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>
#include "cs_util.h"

struct cs_store;
struct cs_store_job;

/* Parse "t<n>" strictly; 0 if it is not a thread id. */
long long cs_thread_id(const char *s);

/* "t<n>" or "<n>" to n; 0 if NULL or malformed (event payloads). */
long long cs_thread_num(const char *s);

/* Opaque keyset cursor: hex of "last_date:id"; decode -1 if not ours. */
void    cs_cursor_encode(long long last, long long id, char *out, size_t outlen);
int     cs_cursor_decode(const char *c, long long *last, long long *id);

/* Now as ISO 8601 UTC with milliseconds; returns the seconds. */
time_t  cs_iso_now_ms(char *out, size_t outlen);

/* A time-ordered (version 7) UUID; -1 when the kernel gives no randomness. */
int     cs_uuid7(char out[37]);

/* A set of ids, each once (T1 lookups, outbox blocked threads). */
typedef struct cs_ids {
    long long *v;
    size_t  n, cap;
} cs_ids;

int     cs_ids_add(cs_ids *s, long long id);	/* 0, -1 no memory */
int     cs_ids_has(const cs_ids *s, long long id);
void    cs_ids_free(cs_ids *s);
int     cs_ids_cmp(const void *a, const void *b);	/* qsort: long long */

/* Outbox: thread t (0 or less: none) blocked, and blocking it. */
int     cs_ids_blocked(const cs_ids *s, long long t);
int     cs_ids_block(cs_ids *s, long long t);

/*
 * One host's stored milter status (its JSON text, written at time at)
 * as stats shows it: the document with updated_at and age_seconds
 * added; {"error": "unreadable status"} with them for a text that is not
 * a JSON object (another version's, damaged). NULL only without memory.
 */
json_t *cs_status_doc(const char *text, long long at, time_t now);

/* A stored address list (JSON text) as JSON, [] when unreadable. */
json_t *cs_addr_array(const char *text);

/* Append a job's parsed address list to participants (NULL: none). */
int     cs_add_list(json_t *participants, json_t *list);

/*
 * JSON text as json_dumps makes it, appended to a buffer, without its
 * cost: 0, or -1 (no memory, a string or key not UTF-8, nesting deeper
 * than CS_JSON_DEPTH). cs_json_write writes a value: flags 0 is
 * JSON_COMPACT; CS_JSON_INDENT is JSON_INDENT(2) instead (the answers),
 * CS_JSON_ASCII adds JSON_ENSURE_ASCII (the events). cs_json_string is
 * the one string writer: with ascii 0 it leaves non-ASCII characters as
 * they are; cs_json_str is it with ascii 1. cs_json_int writes an
 * integer's digits after a prefix.
 */
#define CS_JSON_INDENT	1
#define CS_JSON_ASCII	2
#define CS_JSON_DEPTH	2048
int     cs_json_write(cs_buf *, const json_t *, int flags);
int     cs_json_string(cs_buf *, const char *, size_t len, int ascii);
#define cs_json_str(b, s, len) cs_json_string((b), (s), (len), 1)
int     cs_json_int(cs_buf *, const char *prefix, long long v);
/* A newline and depth levels of two spaces (JSON_INDENT(2)'s): 0 or -1. */
int     cs_json_newline(cs_buf *, int depth);

/* The UTF-8 character at s (n bytes left): its length and code point; 0
 * when it is not one (overlong, surrogate, beyond U+10FFFF, cut short). */
size_t  cs_utf8_char(const unsigned char *s, size_t n, unsigned long *cp);

/* The whole group is lost: every waiter hears CS_EINTERNAL. */
void    cs_jobs_fail_all(struct cs_store_job **jobs, size_t n);

#endif
