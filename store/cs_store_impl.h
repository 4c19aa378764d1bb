/*
 * NAME
 *	cs_store_impl 3h
 * SUMMARY
 *	what a store backend implements, and the queued record it receives
 * DESCRIPTION
 *	cs_store.c owns everything backends share: the handle, the writer
 *	thread and its queue, and the deep copy of a cs_record (a job).
 *	A backend (cs_store_sqlite.c now, a libpq one later) fills in a
 *	struct cs_store_ops and keeps its own state behind cs_store.be.
 *
 *	write_group() runs a group of jobs in one transaction (one fsync):
 *	each job in its own savepoint, so one bad job fails alone and the
 *	others commit; it sets job->rc and job->results. It returns CS_OK,
 *	or CS_EINTERNAL when the whole group failed (busy, disk full, I/O,
 *	read-only): every job's rc is then CS_EINTERNAL and nothing of the
 *	group is kept. The caller never retries a failed group (C1: the
 *	milter accepts the mail and logs).
 *
 *	Jobs carry everything the backend needs already derived (dedup key,
 *	JSON forms, normalized addresses), computed in the caller's thread
 *	so that the single writer does only database work.
 */
#ifndef CS_STORE_IMPL_H
#define CS_STORE_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "cs_store.h"

#define CS_STORE_GROUP_MAX	256	/* jobs per transaction */
/*
 * Jobs per transaction with CS_STORE_BULK: an import's records do not
 * wait for a reply, and each commit rewrites the index pages its
 * records touched (dedup keys, digests, event ids: random keys), so
 * fewer, bigger commits write much less. A group of 512 small messages
 * holds the database's write lock about 0.1 s.
 */
#define CS_STORE_BULK_GROUP_MAX	512

/*
 * Raw bytes per transaction: a group's commit time grows with its bytes
 * (WAL write, fsync, checkpoint), and every waiter of the group and
 * behind it pays it. About 1.5 s at 45 MB/s: well under StoreTimeout.
 * A bigger record still makes a group of its own.
 */
#define CS_STORE_GROUP_BYTES	(64ULL << 20)
#define CS_STORE_QUEUE_MAX	4096	/* queued jobs before refusing */
#define CS_STORE_CHUNK		65536	/* raw bytes per blob write */
#define CS_STORE_JOIN_WINDOW	(7 * 86400)	/* T1 subject rule */

/* One owner's copy, deep-copied. */
typedef struct cs_store_jcopy {
    char   *user;
    int     direction;
    int     conditional;
    cs_strlist labels;
    cs_strlist env_rcpts;		/* as given */
    char   *envelope_json;		/* {"from": ..., "rcpts": [...]} (C4) */
} cs_store_jcopy;

typedef struct cs_store_jcontact {
    char   *owner;
    char   *address;
    char   *name;
} cs_store_jcontact;

/* A queued record: owned by the queue and the waiting caller (refs). */
typedef struct cs_store_job {
    struct cs_store_job *next;
    int     refs;			/* under cs_store.qlock */
    int     done;
    int     detached;			/* the waiter timed out (qlock) */
    int     rc;
    struct timespec queued;		/* CLOCK_MONOTONIC, for the logs */
    pthread_cond_t cond;
    int    *results;			/* ncopies cs_copy_result */
    cs_store_done_fn notify;		/* cs_store_submit: no waiter, a callback */
    void   *notify_arg;

    char   *queue_id;
    char   *source;
    char   *env_from;
    time_t  arrival;
    time_t  date;			/* Date:, valid if has_date */
    int     has_date;
    time_t  sort_date;			/* T1 window, thread dates */
    char   *message_id;
    char   *in_reply_to;
    char   *subject;
    char   *subject_norm;		/* "" when empty: no subject join */
    char   *thread_index_root;
    cs_strlist msgids;			/* own id, In-Reply-To, References */
    char   *refs_json;
    char   *from_json, *to_json, *cc_json, *reply_to_json;
    cs_strlist participants;		/* normalized From/To/Cc, unique */
    char    dedup_key[65];		/* T2 */
    char    raw_sha256[65];
    cs_spool *raw;
    uint64_t raw_size;
    int     truncated;
    cs_store_jcopy *copies;
    size_t  ncopies;
    cs_store_jcontact *contacts;
    size_t  ncontacts;
} cs_store_job;

/*
 * A stored copy as the erasure and retention primitives list it
 * (cs_store_subject.c, cs_store_retention.c decide what to do with it).
 */
typedef struct cs_store_msg {
    char   *owner;
    int64_t id;
    int64_t thread;
    int64_t raw;			/* raw copy id (C3: shared by copies) */
    time_t  arrival;
    time_t  date;			/* valid if has_date */
    int     has_date;
    char   *subject;			/* NULL: none */
    char   *lists[5];			/* from, to, cc, reply_to, envelope JSON */
} cs_store_msg;

/* Which copies msg_list returns, a keyset page in (owner, id) order. */
typedef struct cs_store_msgq {
    const char *owner;			/* NULL: every mailbox */
    time_t  before;			/* 0: any; else min(date, arrival) < before */
    const char *needle;			/* NULL: any; else in the lower-cased lists */
    const char *needle2;		/* NULL: any; else also in them */
    const char *after_owner;		/* keyset: NULL from the start (with
					 * owner: after_owner is ignored) */
    int64_t after_id;
    size_t  limit;
} cs_store_msgq;

void    cs_store_msgs_free(cs_store_msg *, size_t n);

/* What erase_step does, in the backend's dialect. */
enum cs_erase_step {
    CS_ERASE_THREAD,			/* key owner, id: an empty thread, its
					 * threading ids, links and unlinks */
    CS_ERASE_MADE,			/* key address: persons crmsync made
					 * (Smart BCC, hand), access, links */
    CS_ERASE_USER,			/* key user without threads: the user,
					 * their persons, addresses, access */
    CS_ERASE_NSTEPS
};

struct cs_store_ops {
    const char *name;
    int     (*open) (cs_store *, const char *database, unsigned flags,
		             long timeout_ms, char *err, size_t errlen);
    void    (*close) (cs_store *);
    int     (*write_group) (cs_store *, cs_store_job **, size_t);
    int     (*joins_thread) (cs_store *, const char *user, const cs_store_job *);
    int     (*sync_users) (cs_store *, const char *const *ids, const int *roles,
			           const cs_strlist *const *addresses, size_t n);
    int     (*mailbox) (cs_store *, const char *as, const char *label, int limit,
			        const char *cursor, json_t **);
    /* R3: 1 when as is a user of the policy in force (users.active, set
     * by the last sync_users), 0 when not, CS_EINTERNAL on error. */
    int     (*user_active) (cs_store *, const char *as);
    int     (*stats) (cs_store *, json_t **);
    /* X3 event outbox (see cs_store.h). */
    cs_outbox *(*outbox_open) (cs_store *, const char *holder, char *err, size_t errlen);
    void    (*outbox_close) (cs_outbox *);
    int     (*outbox_claim) (cs_outbox *, time_t now, size_t max, size_t max_bytes,
			             cs_event **, size_t *n);
    int     (*outbox_settle) (cs_outbox *, const cs_event *, size_t n, int outcome,
			              time_t when, const char *error);
    int     (*outbox_prune) (cs_outbox *, time_t sent_before, time_t any_before);
    int     (*events_retry) (cs_store *, long *n);
    int     (*events_stats) (cs_store *, json_t **);
    /* A consistent copy into a file (crmsyncctl backup); NULL: cannot. */
    int     (*backup) (cs_store *, const char *path, json_t **, char *err, size_t errlen);
    /* Visibility, owner actions, K3, X2 (cs_store.h; cs_store_sqlite_ctl.c). */
    int     (*thread) (cs_store *, const char *as, const char *thread, json_t **);
    int     (*thread_raw) (cs_store *, const char *as, const char *thread,
			           cs_store_raw_fn, void *);
    int     (*attachment) (cs_store *, const char *as, const char *thread, size_t n, cs_buf *);
    int     (*record_threads) (cs_store *, const char *as, const char *kind, const char *id,
				       int limit, const char *cursor, json_t **);
    int     (*threads_set) (cs_store *, const char *as, int action, const char *const *threads,
			            size_t n, json_t **, char *err, size_t errlen);
    int     (*link) (cs_store *, const char *as, const char *thread, const char *kind,
		             const char *id, int unlink, json_t **, char *err, size_t errlen);
    int     (*contact_create) (cs_store *, const char *as, const char *thread,
				       const char *address, const char *name, json_t **,
				       char *err, size_t errlen);
    int     (*directory_import) (cs_store *, json_t *snapshot, json_t **, char *err,
					 size_t errlen);
    /* The milter's status per host (cs_store_milter_status_put): put is
     * called under wlock with the document as JSON text and must not wait
     * long; get answers {host: {...document..., "updated_at"}}. */
    int     (*milter_status_put) (cs_store *, const char *host, time_t at, const char *json);
    int     (*milter_status_get) (cs_store *, json_t **);
    /*
     * Erasure and retention primitives (R1-R3); the workflows are
     * cs_store_erase.c, cs_store_subject.c and cs_store_retention.c.
     * msg_list and msg_raw read. The others run with cs_store.wlock held
     * by the caller: wbegin opens a write transaction, wend commits it
     * when rc is CS_OK (else rolls back); inside, msg_delete removes one
     * copy, its labels and its raw message when no other copy uses it,
     * and sets *left to the messages its thread still holds; erase_step
     * runs one enum cs_erase_step (key: owner, address or user; id: a
     * thread) and sets *changes to the rows its last statement changed;
     * crm_persons appends the CRM persons with an address; event_add
     * queues an X3 event (payload borrowed) and audit_add an audit row.
     * scrub runs outside a transaction and without wlock (it takes it
     * if it needs the write connection): no page of the store keeps
     * deleted bytes (SQLite: secure_delete is on, the WAL is
     * checkpointed and truncated; PostgreSQL: VACUUM). CS_OK or
     * CS_EINTERNAL (msg_delete: CS_ENOTFOUND when the copy is gone).
     */
    int     (*msg_list) (cs_store *, const cs_store_msgq *, cs_store_msg **, size_t *n);
    int     (*msg_raw) (cs_store *, int64_t raw, cs_buf *);
    int     (*wbegin) (cs_store *);
    int     (*wend) (cs_store *, int rc);
    int     (*msg_delete) (cs_store *, const char *owner, int64_t id, int64_t *left);
    int     (*erase_step) (cs_store *, int step, const char *key, int64_t id, long *changes);
    int     (*crm_persons) (cs_store *, const char *norm, json_t *ids);
    int     (*event_add) (cs_store *, const char *type, const char *owner, int64_t thread,
			          json_t *payload);
    int     (*audit_add) (cs_store *, const char *who, const char *what, json_t *detail,
			          time_t now);
    int     (*scrub) (cs_store *);
};

struct cs_store {
    const struct cs_store_ops *ops;
    void   *be;				/* backend state */
    unsigned flags;
    long    timeout_ms;
    char    delims[16];			/* subaddress delimiters (C2) */
    int     events_unsent;		/* no WebhookURL: stats says "kept" (X3) */

    pthread_mutex_t wlock;		/* the write connection */
    pthread_mutex_t qlock;		/* queue, job refs and done flags */
    pthread_cond_t qcond;		/* writer: work or stop */
    cs_store_job *qhead, *qtail;
    size_t  qlen;
    uint64_t group_bytes;		/* 0: CS_STORE_GROUP_BYTES (tests set it) */
    int     stopping;
    int     writer_started;
    pthread_t writer;
    /* cs_store_submit: records queued and not yet done, under qlock. */
    size_t  async_n;
    uint64_t async_bytes;
    pthread_cond_t acond;		/* async_n went down */
    uint64_t groups_done;		/* groups the writer finished, under qlock */
    int     group_running;		/* the writer is in write_group, under qlock */
    struct timespec group_t0;		/* since when */
    uint64_t group_raw;			/* with that many raw bytes */
    unsigned wflags;			/* the backend's own marks (write side) */
};

/* A backend's outbox handle starts with this (cs_store.c dispatches). */
struct cs_outbox {
    const struct cs_store_ops *ops;
};

extern const struct cs_store_ops cs_store_sqlite_ops;

/* The "bcc" of a stored envelope (C4: the sender's copy) as the JSON text
 * of an address list, names null; NULL when there is none. Free it. */
char   *cs_store_bcc_json(const char *envelope_json);

/* Read side: is key already among a thread's participants (parts and seen
 * grow together)? A display name missing at its first sight is taken from
 * a later one: names come from the headers, users' too. */
int     cs_store_part_seen(json_t *parts, const cs_strlist *seen, const char *key,
			           const char *name);
/*
 * Is norm (a normalized address) in a copy's stored address list (JSON
 * [{address, name}]; *name, if name is not NULL, gets the first display
 * name with it), or its envelope ({from, rcpts})? The one test of K3
 * (contact create) and R2 (subject export and erase); cs_store_subject.c.
 */
int     cs_store_list_has(const cs_store *, const char *text, const char *norm, char **name);
int     cs_store_envelope_has(const cs_store *, const char *text, const char *norm);

/*
 * Write transactions of the store's own changes (cs_store_erase.c): wbegin
 * takes wlock and opens one (ops->wbegin), wend commits it when rc is
 * CS_OK, else rolls back, and releases wlock. Inside: cs_store_event
 * queues an X3 event (payload consumed; NULL is CS_EINTERNAL) and
 * cs_store_audit writes one audit row (detail borrowed).
 */
int     cs_store_wbegin(cs_store *);
int     cs_store_wend(cs_store *, int rc);
int     cs_store_event(cs_store *, const char *type, const char *owner, int64_t thread,
		               json_t *payload);
int     cs_store_audit(cs_store *, const char *who, const char *what, json_t *detail,
		               time_t now);

/* Participant addresses of a job normalized with the store's delimiters. */
int     cs_store_normalize(const cs_store *, const char *in, char *out, size_t outlen);

#endif
