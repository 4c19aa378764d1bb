/*
 * NAME
 *	cs_store_impl 3h
 * SUMMARY
 *	what a store dialect supplies, and the queued record it receives
 * DESCRIPTION
 *	cs_store.c owns the handle and dispatch, cs_store_writer.c the writer
 *	thread and its queue, cs_store_job.c the deep copy of a cs_record (a job).
 *	A dialect (sqlite/cs_store_sqlite*.c, pg/cs_store_pg*.c) fills in a
 *	struct cs_store_ops and keeps its own state behind cs_store.be, as
 *	Postfix's milter table: each supplies its connections, transactions,
 *	a statement interface (cs_store_db.h) with its SQL text (struct
 *	cs_sql, struct cs_sql_write) and a few primitives; the workflows are
 *	written once above them (cs_store_share.c, cs_store_link.c,
 *	cs_store_contact.c, cs_store_dir.c, cs_store_thread.c,
 *	cs_store_read.c, cs_store_users.c).
 *
 *	write_group() runs a group of jobs in one transaction (one fsync);
 *	it sets job->rc and job->results. With careful set, each job runs in
 *	its own savepoint, so one bad job fails alone and the others commit.
 *	Without, no savepoint is taken, and when one job fails alone the
 *	whole transaction is rolled back and CS_STORE_AGAIN returned (every
 *	job's rc CS_EINTERNAL): the writer (cs_store_writer.c, write_group)
 *	then runs the group again, careful. It returns CS_OK, or
 *	CS_EINTERNAL when the whole group failed (busy, disk full, I/O,
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
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "cs_store.h"
#include "cs_store_db.h"

#define CS_STORE_GROUP_MAX	256	/* jobs per transaction */
#define CS_STORE_AGAIN		1	/* write_group: one job failed; again, careful */
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
    long long thread, message;		/* out: where a stored copy went, its id */
} cs_store_jcopy;

typedef struct cs_store_jcontact {
    char   *owner;
    char   *address;
    char   *name;
} cs_store_jcontact;

/* Persons with one address (persons_by_email), for cs_rule_contact_pick. */
typedef struct cs_person_rows {
    cs_strlist ids, names, owners;	/* names[i] "" when null, owners too */
    int    *flags;			/* CS_PERSON_* */
    size_t  n;
} cs_person_rows;

#define CS_PERSON_ACCESSIBLE	0x01
#define CS_PERSON_NONAME	0x02	/* name is NULL: answered null */
#define CS_PERSON_CRM		0x04	/* owner is NULL: the CRM's */

/* Add one row (strings copied); 0 or -1. Free them all. */
int     cs_person_rows_add(cs_person_rows *, const char *id, const char *name,
			           const char *owner, int flags);
void    cs_person_rows_free(cs_person_rows *);

#define CS_TX_PLAIN	0
#define CS_TX_USERS	1		/* one users sync at a time (fleet) */

/* At most this many threads in one share, private or delete (V4). */
#define CS_STORE_MAX_THREADS	100000

/* A queued record: owned by the queue and the waiting caller (refs). */
typedef struct cs_store_job {
    struct cs_store_job *next;
    int     refs;			/* under cs_store.qlock */
    int     done;
    int     detached;			/* the waiter timed out (qlock) */
    int     rc;
    int     alone;			/* failed alone: its group committed */
    struct timespec queued;		/* CLOCK_MONOTONIC, for the logs */
    pthread_cond_t cond;
    int    *results;			/* ncopies cs_copy_result */
    cs_store_done_fn notify;		/* cs_store_submit: no waiter, a callback */
    void   *notify_arg;
    atomic_int *fence;			/* cs_store_submit_fenced: its stream's */

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
    struct json_t *from_list, *to_list, *cc_list;	/* the same parsed, or NULL */
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
    const struct cs_db_ops *db;		/* statements (cs_store_db.h) */
    const struct cs_sql *sql;		/* the dialect's SQL for them */
    const struct cs_sql_write *sqlw;	/* ... on the write path */
    int     (*open) (cs_store *, const char *database, unsigned flags,
		             long timeout_ms, char *err, size_t errlen);
    void    (*close) (cs_store *);
    int     (*write_group) (cs_store *, cs_store_job **, size_t, int careful);
    /* R3: 1 when as is a user of the policy in force (users.active, set
     * by the last users sync), 0 when not, CS_EINTERNAL on error. */
    int     (*user_active) (cs_store *, const char *as);
    /* X3 event outbox (see cs_store.h). */
    cs_outbox *(*outbox_open) (cs_store *, const char *holder, char *err, size_t errlen);
    void    (*outbox_close) (cs_outbox *);
    int     (*outbox_claim) (cs_outbox *, time_t now, size_t max, size_t max_bytes,
			             cs_event **, size_t *n);
    int     (*outbox_settle) (cs_outbox *, const cs_event *, size_t n, int outcome,
			              time_t when, const char *error);
    int     (*outbox_prune) (cs_outbox *, time_t sent_before, time_t any_before);
    /* A consistent copy into a file (crmsyncctl backup); NULL: cannot. */
    int     (*backup) (cs_store *, const char *path, json_t **, char *err, size_t errlen);

    /*
     * The owner actions (cs_store_share.c V4, cs_store_link.c T3,
     * cs_store_contact.c K3 K5) are written once over cs_store_db.h and
     * cs_store_prim.c; what differs by more than SQL text is here, on the
     * write connection between act_begin and act_end. 0 or -1.
     */
    /* A transaction on the write connection, the caller holding wlock. */
    int     (*tx_begin) (cs_store *, int what);	/* CS_TX_* */
    int     (*tx_end) (cs_store *, int rc);
    /* A write transaction for as's mailbox (and address, when given). */
    int     (*act_begin) (cs_store *, const char *as, const char *address);
    /* Commit when rc is CS_OK, else roll back; answers rc or CS_EINTERNAL. */
    int     (*act_end) (cs_store *, int rc);
    /* Messages, raw copies no other copy uses, threading ids, links, row. */
    int     (*thread_delete) (cs_store *, const char *owner, long long id);
    /* A read snapshot on the read connection (cs_store_read.c): 0 or -1. */
    int     (*read_begin) (cs_store *);
    void    (*read_end) (cs_store *);
    /* A hand person owned by and accessible to as; its id into id. */
    int     (*person_new) (cs_store *, const char *as, const char *address, const char *name,
			           time_t now, char *id, size_t idlen);
    /* An X3 event in the transaction (payload, content borrowed). */
    int     (*event_add) (cs_store *, const char *type, const char *owner, long long thread,
			          long long thread2, json_t *payload, json_t *content);
    /* K2 (cs_store_contact.c): a Smart BCC person, its address; 1 made,
     * 0 another writer made the owner's first, -1. */
    int     (*bcc_person) (cs_store *, const char *owner, const char *email,
			           const char *name, time_t now, char *id, size_t idlen);
    /* T1 (cs_store_thread.c): move old's rows into target, note the merge. */
    int     (*merge_rows) (cs_store *, const char *owner, long long old, long long target,
			           time_t now);
    /* X2 (cs_store_dir.c): act_begin for one import at a time. */
    int     (*dir_begin) (cs_store *);
    /* Constant statements without parameters, several at once (X2). */
    int     (*script) (cs_store *, const char *sql);
    /* The milter's status per host (cs_store_milter_status_put): put is
     * called under wlock with the document as JSON text and must not wait
     * long; get answers {host: {...document..., "updated_at"}}. */
    int     (*milter_status_put) (cs_store *, const char *host, time_t at, const char *json);
    int     (*milter_status_get) (cs_store *, json_t **);
    /*
     * Erasure and retention primitives (R1-R3); the workflows are
     * cs_store_erase.c, cs_store_subject.c and cs_store_retention.c.
     * msg_list and msg_raw read. The others run with cs_store.wlock held
     * by the caller, in a write transaction (tx_begin, tx_end): msg_delete removes one
     * copy, its labels and its raw message when no other copy uses it,
     * and sets *left to the messages its thread still holds; erase_step
     * runs one enum cs_erase_step (key: owner, address or user; id: a
     * thread) and sets *changes to the rows its last statement changed;
     * events and audit rows: event_add above, cs_prim_audit; the CRM's
     * persons with an address: cs_prim_crm_persons.
     * scrub runs outside a transaction and without wlock (it takes it
     * if it needs the write connection): no page of the store keeps
     * deleted bytes (SQLite: secure_delete is on, the WAL is
     * checkpointed and truncated; PostgreSQL: VACUUM). CS_OK or
     * CS_EINTERNAL (msg_delete: CS_ENOTFOUND when the copy is gone).
     */
    int     (*msg_list) (cs_store *, const cs_store_msgq *, cs_store_msg **, size_t *n);
    int     (*msg_raw) (cs_store *, int64_t raw, cs_buf *);
    int     (*msg_delete) (cs_store *, const char *owner, int64_t id, int64_t *left);
    int     (*erase_step) (cs_store *, int step, const char *key, int64_t id, long *changes);
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
    uint64_t qbytes;			/* raw bytes queued, under qlock */
    atomic_long expecting;		/* records on their way (cs_store_expect) */
    atomic_long commit_delay_ms;	/* StoreCommitDelay */
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

/* Records to jobs (cs_store_job.c): NULL with why set on failure. */
cs_store_job *cs_store_job_new(const cs_store *, const cs_record *, char *why, size_t whylen);
void    cs_store_job_free(cs_store_job *);
/* The job's raw bytes in one piece: the spool's memory when it holds them
 * all, else a copy read from it (*copy set, to free); NULL on failure. */
const void *cs_store_job_raw(const cs_store_job *, void **copy);
/* Is a record one the backends can store? */
int     cs_store_record_valid(const cs_record *);

/* The writer thread (cs_store_writer.c): 0 or -1; stop commits the queue first. */
int     cs_store_writer_start(cs_store *);
void    cs_store_writer_stop(cs_store *);

/* The "bcc" of a stored envelope (C4: the sender's copy) as the JSON text
 * of an address list, names null; NULL when there is none. Free it. */
char   *cs_store_bcc_json(const char *envelope_json);

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
 * takes wlock and opens one (ops->tx_begin), wend commits it when rc is
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
