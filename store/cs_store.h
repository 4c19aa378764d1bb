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
#include <stdint.h>
#include <time.h>
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

/* Capture. results (may be NULL) gets one cs_copy_result per copy. */
int     cs_store_record(cs_store *, const cs_record *, long timeout_ms, int *results);

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

/* Reads, SPEC X1 shapes. Ids are text: threads "t<n>", persons and deals
 * the CRM directory's own ids, Smart BCC persons "bcc-<n>". Mailbox: limit
 * 0 means 50, above 500 means 500, negative is CS_EINVAL; cursor is the
 * opaque "cursor" of the previous page (CS_EINVAL if malformed); an
 * unknown user is CS_ENOTFOUND. */
int     cs_store_mailbox(cs_store *, const char *as, const char *label, int limit,
			 const char *cursor, json_t **out);
/* {"schema_version", "users", "messages", "threads", "persons", "deals",
 *  "raw_blobs", "raw_bytes", "db_bytes", "merges", "commit_groups",
 *  "records", "mailboxes": {user: messages}}. */
int     cs_store_stats(cs_store *, json_t **out);

#endif
