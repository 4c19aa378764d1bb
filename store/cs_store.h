/*
 * NAME
 *	cs_store 3h
 * SUMMARY
 *	the message store: one interface, SQLite now, PostgreSQL later
 * DESCRIPTION
 *	Callers (crmsync-milter, crmsyncctl) use only this header. A backend
 *	is chosen by cs_store_open() from the Database value: a file path is
 *	SQLite (the embedded default), "postgresql://..." the fleet backend.
 *	Backends implement struct cs_store_ops (cs_store_impl.h).
 *
 *	Writing (CS_STORE_WRITER): one writer thread owns the write
 *	connection and commits queued records in groups, one fsync per group
 *	(WAL, synchronous=FULL). cs_store_record() queues a record and waits
 *	for its group to be durable, at most timeout_ms; on timeout or error
 *	it returns CS_EINTERNAL and the record may still be committed later
 *	(the queue owns a copy). Never blocks longer than timeout_ms.
 *
 *	Threading (T1), idempotence (T2) and visibility (V1) are decided in
 *	the writer's transaction, so concurrent records cannot race.
 *
 *	Reading: every read takes the acting user and applies SPEC V1-V6 in
 *	its queries. Results are jansson objects in SPEC X1's shapes.
 *
 *	Errors: CS_OK, or a negative CS_E* that crmsyncctl maps to its exit
 *	codes (not found 2, forbidden 3, bad input 4, internal 5).
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <stdatomic.h>
#include <jansson.h>
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"

enum {
    CS_OK = 0,
    CS_ENOTFOUND = -2,
    CS_EFORBIDDEN = -3,
    CS_EINVAL = -4,
    CS_EINTERNAL = -5,
};

#define CS_STORE_WRITER		0x01	/* start the group-commit writer */
#define CS_STORE_READONLY	0x02
#define CS_STORE_CREATE		0x04	/* create and migrate if missing */
/*
 * A bulk load (crmsyncctl import): the backend may trade memory for
 * speed on its write connection (a bigger page cache, checkpoints less
 * often), never durability: every commit is still on disk when it is
 * reported.
 */
#define CS_STORE_BULK		0x08

typedef struct cs_store cs_store;

/* One owner's copy of a message (C3: each copy has its own labels,
 * links and visibility). */
typedef struct cs_copy {
    const char *user;			/* owner's user id */
    int     direction;			/* CS_DIR_IN / CS_DIR_OUT */
    const cs_strlist *labels;		/* may be NULL */
    int     conditional;		/* store only if it joins a thread */
    const cs_strlist *env_rcpts;	/* envelope recipients this copy keeps:
					 * all for the sender's copy, the
					 * owner's own for a recipient's (C4) */
    const cs_strlist *bcc;		/* envelope-only recipients this copy
					 * shows among the thread's participants:
					 * the sender's copy only (C4); may be NULL */
} cs_copy;

/* A person to create for Smart BCC (K2), owned by and visible to owner. */
typedef struct cs_contact {
    const char *owner;
    const char *address;		/* normalized */
    const char *name;
} cs_contact;

typedef struct cs_record {
    const char *queue_id;		/* may be NULL (import) */
    time_t  arrival;
    const char *source;			/* "smtp" or "import" */
    const char *env_from;		/* as given */
    const cs_msginfo *info;
    cs_spool *raw;			/* whole raw message as kept */
    int     truncated;			/* over MaxMessageSize: headers only */
    const char *body_digest;		/* cs_bodyhash hex */
    const char *raw_address;		/* raw's content address when the
					 * caller made it (cs_bodyhash_final_addr),
					 * else NULL: its SHA-256 */
    const cs_copy *copies;
    size_t  ncopies;
    const cs_contact *contacts;
    size_t  ncontacts;
} cs_record;

/* Per-copy outcome of a record. */
enum cs_copy_result { CS_COPY_STORED = 1, CS_COPY_DUPLICATE, CS_COPY_SKIPPED };

cs_store *cs_store_open(const char *database, unsigned flags, long timeout_ms,
			char *err, size_t errlen);
void    cs_store_close(cs_store *);
/* The Database value for a log line, any password replaced by "***". */
void    cs_store_display(const char *database, char *out, size_t outlen);

/* Capture. results (may be NULL) gets one cs_copy_result per copy. */
int     cs_store_record(cs_store *, const cs_record *, long timeout_ms, int *results);

/*
 * The milter with a journal (SPEC C6): as cs_store_record, waiting in
 * steps of wait_ms (StoreWait) up to timeout_ms (StoreTimeout) while the
 * writer gets on (a group finished, or the one being written has not
 * run longer than its size explains); a record not committed when the
 * writer is found stuck (or at timeout_ms) is taken back out of the
 * writer's queue if the writer has not started on it, for the caller to
 * journal (one the writer is committing may still land: T2 makes its
 * replay a duplicate). timed_out: not committed; progress: the writer
 * was still getting on (slow, not stuck). keep_queued (set by the
 * caller, for a record the journal refused): at timeout_ms with the
 * writer still getting on, the record stays queued instead (the writer
 * commits it late) and queued says so. With keep_queued the writer is
 * "stuck" only when it finished no group during the whole timeout_ms and
 * the one it writes has run longer than its size explains; only then is
 * the record taken back. refused: the record failed alone, while the
 * group it was written in committed (a constraint, a record the store
 * cannot take): the store itself is fine.
 */
typedef struct cs_store_wait {
    int     keep_queued;		/* in */
    int     timed_out;
    int     progress;
    int     queued;
    int     refused;
} cs_store_wait;
int     cs_store_record_wait(cs_store *, const cs_record *, long wait_ms, long timeout_ms,
			             int *results, cs_store_wait *);
/* Groups the writer has committed so far (a stuck writer's stays put). */
uint64_t cs_store_groups(cs_store *);

/*
 * Group commit with the records on their way (StoreCommitDelay). A
 * caller that will record a message soon (the milter, at end of
 * headers) says so with cs_store_expect(); when that record is about to
 * be queued, or will not come after all, cs_store_arrived() with
 * queued 1 or 0. While records are expected, the writer waits up to the
 * commit delay for them before it commits what is queued, so that they
 * share one commit (one WAL write and fdatasync). A lone message waits
 * for nothing. cs_store_set_commit_delay: 0 turns it off.
 */
void    cs_store_set_commit_delay(cs_store *, long ms);
void    cs_store_expect(cs_store *);
void    cs_store_arrived(cs_store *, int queued);

/*
 * Bulk capture (crmsyncctl import). cs_store_submit() copies the record
 * and queues it for the writer without waiting for its commit, so that
 * one caller fills whole groups (one transaction and one fsync each; up
 * to 512 records with CS_STORE_BULK). It waits only for room: while
 * max_pending submitted records (or about a group's worth of raw bytes)
 * are not yet committed. done(arg, rc, results) is called exactly once
 * per record when cs_store_submit() returned CS_OK, after its group's
 * commit was durable (rc CS_OK, results one cs_copy_result per copy) or
 * failed (rc CS_EINTERNAL); it runs in the writer thread, must not call
 * back into the store, and should be quick. Without CS_STORE_WRITER the
 * record is written inline and done is called before the return.
 * cs_store_drain() waits until every submitted record is done.
 */
typedef void (*cs_store_done_fn) (void *arg, int rc, const int *results);
int     cs_store_submit(cs_store *, const cs_record *, size_t max_pending,
			        cs_store_done_fn done, void *arg);
/*
 * An ordered stream (the journal's replay, X3): the same, with a fence
 * the caller zeroes before its first record. Once a record of the
 * stream fails, the writer sets *fence, and every record of the stream
 * it takes after that fails too (CS_EINTERNAL) without being written, so
 * that none is committed ahead of one that failed. Records of the same
 * group as the one that failed alone are committed (that one is refused
 * for itself, not the store failing).
 */
int     cs_store_submit_fenced(cs_store *, const cs_record *, size_t max_pending,
			               cs_store_done_fn done, void *arg, atomic_int *fence);
void    cs_store_drain(cs_store *);

/* Does a message with these threading headers join a thread already in
 * user's mailbox? 1 yes, 0 no, <0 error. (policy explain, importer) */
int     cs_store_joins_thread(cs_store *, const char *user, const cs_msginfo *);

/* Users known to the policy, so that access lists can name them. */
int     cs_store_sync_users(cs_store *, const char *const *ids, const int *roles, size_t n);

/* The same with each user's (normalized) addresses, which T1's subject rule
 * needs to tell a mailbox's outside participants from its owner. Users
 * absent from the list stay (their mailboxes are kept) but lose their
 * addresses. (Added by the store; prefer it to cs_store_sync_users.) */
struct cs_user;
int     cs_store_sync_users2(cs_store *, const struct cs_user *const *users, size_t n);

/* SubaddressDelimiter for normalizing participants (C2); default "+". */
void    cs_store_set_subaddress(cs_store *, const char *delims);

/* Whether events are sent (a WebhookURL is set; the default). Without one,
 * cs_store_stats counts the outbox's undelivered events as "kept", none
 * as pending: nobody is waiting for them. */
void    cs_store_set_webhook(cs_store *, int configured);

/* Reads, SPEC X1 shapes. Ids are text: threads "t<n>", persons and deals
 * the CRM directory's own ids, Smart BCC persons "bcc-<n>". Mailbox: limit
 * 0 means 50, above 500 means 500, negative is CS_EINVAL; cursor is the
 * opaque "cursor" of the previous page (CS_EINVAL if malformed); an
 * unknown user is CS_ENOTFOUND. */
int     cs_store_mailbox(cs_store *, const char *as, const char *label, int limit,
			 const char *cursor, json_t **out);

/*
 * A page of threads (cs_store_mailbox_page, cs_store_record_page): with
 * text NULL, the tree in json (as cs_store_mailbox gives it); else no
 * tree, the page appended to text already printed as cs_answer_text
 * prints the tree (indent 2, the same key order and escaping, its
 * newline), which spares building and freeing one. cursor: the next
 * page's, "" when none. On an error nothing is appended.
 */
typedef struct cs_page {
    cs_buf *text;			/* in: print here, or NULL */
    json_t *json;			/* out, when text is NULL */
    char    cursor[128];		/* out */
} cs_page;

int     cs_store_mailbox_page(cs_store *, const char *as, const char *label, int limit,
			              const char *cursor, cs_page *out);
int     cs_store_record_page(cs_store *, const char *as, const char *kind, const char *id,
			             int limit, const char *cursor, cs_page *out);
/* {"schema_version", "users", "messages", "threads", "persons", "deals",
 *  "raw_blobs", "raw_bytes", "db_bytes", "merges", "commit_groups",
 *  "records", "events_pending", "events_kept", "events_failed",
 *  "mailboxes": {user: messages},
 *  "events": {"webhook", "pending", "kept", "failed", "delivered"},
 *  "milter": {host: {...}}} (see cs_store_milter_status_put). */
int     cs_store_stats(cs_store *, json_t **out);
/*
 * A list shows a thread's participants and labels from a summary on its
 * row, which the writer keeps; a merge, erasure or retention empties it
 * and the list reads that thread's messages instead. This writes up to
 * max missing ones (an older store's threads too): how many, or -1.
 */
int     cs_store_summaries_fill(cs_store *, int max);

/*
 * X3 event outbox. The writers (record path, owner actions) add events in
 * the transaction of the change; a sender (crmsync-milter's event
 * thread) drains them over its own connection, so mail never waits for
 * the CRM. A cs_outbox is that connection; it holds a lease so that one
 * sender at a time delivers (order per thread), taken over when the
 * holder's lease lapses or, on the same host, its process is gone.
 */
typedef struct cs_outbox cs_outbox;

typedef struct cs_event {
    int64_t seq;			/* outbox order */
    char   *id;				/* the event's unique id */
    char   *type;
    char   *body;			/* the event as a JSON object */
    int     attempts;			/* deliveries tried before */
} cs_event;

enum cs_event_outcome { CS_EVENT_DELIVERED = 1, CS_EVENT_RETRY, CS_EVENT_PARKED };

/* holder: this sender's unique name ("host:pid:random"). */
cs_outbox *cs_store_outbox_open(cs_store *, const char *holder, char *err, size_t errlen);
void    cs_store_outbox_close(cs_outbox *);
/* Up to max events (about max_bytes of bodies) due at now, oldest first,
 * none whose thread has an earlier event still undelivered; *n 0 when
 * nothing is due or another sender holds the lease. Free with
 * cs_store_events_free(). */
int     cs_store_outbox_claim(cs_outbox *, time_t now, size_t max, size_t max_bytes,
			              cs_event **out, size_t *n);
/* Record a delivery's outcome for its events: DELIVERED (when: now),
 * RETRY (when: next try), PARKED (failed until events retry). */
int     cs_store_outbox_settle(cs_outbox *, const cs_event *, size_t n, int outcome,
			               time_t when, const char *error);
/* Delete delivered events done before sent_before, and, when
 * any_before is not 0, every event made before it (no sender set up). */
int     cs_store_outbox_prune(cs_outbox *, time_t sent_before, time_t any_before);
void    cs_store_events_free(cs_event *, size_t n);
/* crmsyncctl events retry: parked events back to pending; *n moved. */
int     cs_store_events_retry(cs_store *, long *n);
/* {"pending", "failed", "delivered"}; cs_store_stats adds it as "events". */
int     cs_store_events_stats(cs_store *, json_t **out);

/*
 * crmsync-milter's in-memory figures (milter/counters.h), one JSON
 * object per host, replaced at each flush; cs_store_stats adds them as
 * "milter": {host: {...status..., "updated_at", "age_seconds"}}. put is
 * one short write on the writer's connection, for a flush thread (never
 * a milter callback): when the writer is committing, or the database
 * stays locked beyond a short wait, it gives up at once with
 * CS_EINTERNAL (mail first: the next flush comes soon). host: at most
 * 255 bytes; status: an object. CS_EINTERNAL also for a read-only store
 * and a backend without it.
 */
int     cs_store_milter_status_put(cs_store *, const char *host, time_t now, json_t *status);
/* {host: {...}} as stats shows it. */
int     cs_store_milter_status(cs_store *, json_t **out);

/* A consistent copy of the whole store in the file path, taken while the
 * milter goes on writing (SQLite: the online backup API, one snapshot of
 * the last commit). Written beside path and renamed over it, mode 0600;
 * path may not be the store or one of its files. out (may be NULL) gets
 * {"file", "bytes", "pages", "schema_version"}. CS_EINVAL for a path that
 * cannot be written or a backend that cannot copy itself (PostgreSQL:
 * pg_dump), CS_EINTERNAL for I/O and database errors; err says which. */
int     cs_store_backup(cs_store *, const char *path, json_t **out, char *err, size_t errlen);

/*
 * Visibility, owner actions, contacts and the directory (SPEC V1-V6, X1,
 * X2, K3; cs_store_share.c, cs_store_link.c, cs_store_contact.c,
 * cs_store_dir.c, cs_store_read.c). Ids are text ("t<n>" for threads). A
 * thread is visible to a user who owns it, or when it is shared and
 * linked to a deal or person the user may access (V3): every query that
 * returns a thread or its content carries that condition, so a thread,
 * deal or person the user may not see is CS_ENOTFOUND exactly like one
 * that does not exist (V6), and CS_EFORBIDDEN means visible but not the
 * user's (V4). err (may be NULL) names the first offending id.
 * R3: every one of them (and cs_store_mailbox) first checks that the
 * acting user is a user of the policy in force, i.e. of the last
 * cs_store_sync_users2() (or cs_store_sync_users()); anyone else gets
 * CS_ENOTFOUND, as a thread that does not exist would, and is never
 * among the users share answers with.
 */
/* The thread object (as mailbox lists it) with "messages": message_id,
 * from, to, cc, date, subject, text, attachments [{name, type, size}],
 * truncated; in date order. Non-owners see no labels, and links and
 * participants' persons only to records they may access. */
int     cs_store_thread(cs_store *, const char *as, const char *thread, json_t **out);
/* Each raw message of one's OWN thread, in the order cs_store_thread
 * lists them (visible but not owned: CS_EFORBIDDEN). fn returning
 * non-zero stops with CS_EINTERNAL. */
typedef int (*cs_store_raw_fn) (void *arg, const char *message_id, const void *raw,
				        size_t len, int truncated);
int     cs_store_thread_raw(cs_store *, const char *as, const char *thread,
			            cs_store_raw_fn fn, void *arg);
/* Decoded bytes of attachment n (from 1, over the thread's messages in
 * cs_store_thread's order) appended to out; CS_ENOTFOUND if no such n. */
int     cs_store_attachment(cs_store *, const char *as, const char *thread, size_t n,
			            cs_buf *out);
/* The threads on a deal's or person's page (kind "deal" or "person"):
 * as's own threads linked to it and others' shared ones; CS_ENOTFOUND
 * when as may not access the record. Shape, limit and cursor as
 * cs_store_mailbox. */
int     cs_store_record_threads(cs_store *, const char *as, const char *kind, const char *id,
				        int limit, const char *cursor, json_t **out);
/* V4, all or nothing in one transaction, one audit row: share answers
 * {"threads": [{"id", "visible_to": [users]}]}, private and delete
 * {"threads": [ids]}. Delete removes the messages (raw copies no other
 * message uses), threading ids and links. */
enum { CS_THREADS_SHARE = 1, CS_THREADS_PRIVATE, CS_THREADS_DELETE };
int     cs_store_threads_set(cs_store *, const char *as, int action,
			             const char *const *threads, size_t n, json_t **out,
			             char *err, size_t errlen);
/* T3 by hand (kind "deal"/"person"), owner only, idempotent; a hand
 * unlink is remembered so automatic linking never puts it back.
 * {"thread": {...}, "changed": bool}. */
int     cs_store_link(cs_store *, const char *as, const char *thread, const char *kind,
		              const char *id, int unlink, json_t **out, char *err, size_t errlen);
/* K3, K5: a person (origin "hand", owner and access as) from a
 * participant of one's own thread, linked to it; or, when as may
 * already access a person with the address (their own, a CRM person the
 * directory gives them), that one (created false). Never access to
 * another's: for an address only persons as may not access hold, the
 * answer is the one for an unknown address. {"person": {"id", "name",
 * "address"}, "created": bool, "thread"}. CS_EINVAL: not a participant,
 * or a user's address. */
int     cs_store_contact_create(cs_store *, const char *as, const char *thread,
				        const char *address, const char *name, json_t **out,
				        char *err, size_t errlen);
/* X2: validate the whole snapshot (CS_EINVAL, err names the JSON path),
 * then replace the CRM directory in one transaction. {"persons",
 * "deals", "taken_over": [{"person", "by"}]}. */
int     cs_store_directory_import(cs_store *, json_t *snapshot, json_t **out,
				          char *err, size_t errlen);

/*
 * Retention and data-subject rights (SPEC R1-R3; cs_store_retention.c,
 * cs_store_subject.c). Each deletion is an X3 event (message.deleted
 * with its thread, or thread.deleted) and, when done, no page of the
 * store keeps the deleted bytes. who names the actor in the audit rows.
 * Answers carry counts, never the address. CS_EINVAL for a bad address
 * or user; CS_EINTERNAL on a backend without the primitives.
 */
typedef struct cs_retention {
    const char *user;
    long    seconds;			/* 0: keep */
} cs_retention;
/* Delete at most max copies older than their owner's Retention (r, else
 * dflt; 0: keep) at now: {"dry_run", "messages_deleted",
 * "threads_deleted", "scanned", "more"}. */
int     cs_store_retention_run(cs_store *, long dflt, const cs_retention *r, size_t nr,
			               time_t now, size_t max, int dry_run, json_t **out);
/* The same with each policy user's Retention (cs_policy.h). */
struct cs_policy;
int     cs_store_retention_policy(cs_store *, const struct cs_policy *, long dflt, time_t now,
				          size_t max, int dry_run, json_t **out);
/* The time a copy's age counts from: its Date, else its arrival. */
time_t  cs_store_msg_age_from(int has_date, time_t date, time_t arrival);
/* Every message address sent or received, once, as mboxrd on mbox; out:
 * the index [{"n", "mailboxes", "threads": [{mailbox, thread}], "date",
 * "subject"}]. */
int     cs_store_subject_export(cs_store *, const char *address, FILE *mbox,
				        const char *who, json_t **out);
/* Delete them and crmsync's persons for address: {"dry_run",
 * "messages_deleted", "threads_deleted", "persons_deleted",
 * "crm_persons": [ids]}. */
int     cs_store_subject_erase(cs_store *, const char *address, int dry_run,
				       const char *who, json_t **out);
/* A user's whole mailbox, the persons they made, the user. */
int     cs_store_mailbox_purge(cs_store *, const char *user, int dry_run, const char *who,
				       json_t **out);

#endif
