/*
 * NAME
 *	cs_store_thread 3h
 * SUMMARY
 *	the write path's thread rules, written once: T1, V3/V7, T3, X3
 * DESCRIPTION
 *	Used by the dialects' write_group (cs_store_*_write.c) inside the
 *	group's transaction, on the write connection (CS_DB_W), and by
 *	cs_store_joins_thread on a read snapshot (CS_DB_R). They run the
 *	dialect's SQL (struct cs_sql) through cs_store_db.h; 0 or -1 (the
 *	dialect's connection has the error) unless said otherwise.
 */
#ifndef CS_STORE_THREAD_H
#define CS_STORE_THREAD_H

#include <time.h>
#include <jansson.h>
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"

/* An owner's own addresses (user_addresses), into own. */
int     cs_wt_own_addrs(cs_store *, int w, const char *owner, cs_strlist *own);

/* T1: digest of the participants that are not the owner's. */
int     cs_wt_outside_key(const cs_strlist *own, const cs_store_job *, char hex[65]);

/*
 * T1: the thread a copy joins; *how 0 none, 1 by references (every
 * thread found in found; *thread the oldest), 2 by Thread-Index or
 * subject and outside participants (private threads only).
 */
int     cs_wt_find(cs_store *, int w, const char *owner, const cs_store_job *,
		           const char *okey, cs_ids *found, long long *thread, int *how);

/* T1, V3, V7: fold every found thread into target; events included. */
int     cs_wt_merge(cs_store *, const char *owner, const cs_ids *found, long long target,
		            time_t now);

/* X3: an event about one thread, "thread" first, plus ids (both taken). */
int     cs_wt_event(cs_store *, const char *type, const char *owner, long long thread,
		            long long thread2, json_t *ids, json_t *content);

/* X3 message.added; subject and participants only if shared (V6). */
int     cs_wt_message_event(cs_store *, const cs_store_job *, const char *owner,
			            long long thread, long long msg, long long count,
			            int new_thread);

/* T3: automatic links of a copy's participants, on a private thread. */
int     cs_wt_link(cs_store *, const cs_store_job *, const cs_store_jcopy *, long long thread);

/* Does the record join a thread of user's mailbox? 1, 0, CS_EINTERNAL. */
int     cs_wt_joins_thread(cs_store *, const char *user, const cs_store_job *);

/* K2 (cs_store_contact.c): a record's Smart BCC contact. */
int     cs_k2_contact(cs_store *, const cs_store_jcontact *, time_t now);

/* One record: its K2 contacts, then each copy through the dialect's fn. */
typedef int (*cs_wt_copy_fn) (cs_store *, void *ctx, cs_store_job *, size_t copy,
			              long long *raw_id, int *result);
int     cs_wt_job(cs_store *, cs_store_job *, time_t now, cs_wt_copy_fn, void *ctx);

#endif
