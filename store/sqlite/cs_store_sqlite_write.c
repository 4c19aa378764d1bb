/*
 * NAME
 *	cs_store_sqlite_write 3
 * SUMMARY
 *	SQLite store backend: group commit, dedup (T2), threads (T1), links (T3)
 * DESCRIPTION
 *	sq_write_group() runs a group of jobs in one BEGIN IMMEDIATE ...
 *	COMMIT (one fsync), first without savepoints; when a job fails on
 *	its own (a constraint, junk input) the group is rolled back and
 *	written again with a SAVEPOINT per job (cs_store_writer.c), so that
 *	job is rolled back alone and reported CS_EINTERNAL while the others
 *	commit. A failure of the database itself (busy past the timeout,
 *	disk full, read-only, I/O, corrupt) rolls the whole group back; it
 *	is reported, never retried, so a broken store cannot hold mail (C1).
 *
 *	Per copy: T2 duplicate check on (owner, dedup_key); T1 thread
 *	choice (references, both ways, merging every thread found into the
 *	oldest; else a private thread with the same Thread-Index root; else
 *	a private thread with the same normalized non-empty subject and the
 *	same outside participants within 7 days; else a new private thread
 *	unless the copy is conditional); then the message row, its labels,
 *	its thread_msgids rows, the thread's counters and T3 links
 *	(a private thread only: a shared one changes by its owner's hand).
 *
 *	"Outside participants" are the normalized From/To/Cc addresses
 *	minus the owner's own (users' addresses come from
 *	cs_store_sync_users2), compared as a SHA-256 of the sorted set.
 *
 *	Per group, what cannot change inside the writer's transaction is
 *	looked up once per owner (the users row, the owner's addresses);
 *	thread and message ids are counted in memory from the counters
 *	row, read once and written once per group; a new thread is
 *	inserted with its first message counted, and a raw message of one
 *	chunk is bound in its INSERT. No statement of the path uses
 *	RETURNING or a CHECK ... IN list of three or more constants: SQLite
 *	builds a temporary b-tree for each (EXPLAIN: OpenEphemeral);
 *	tests/unit/t_store.c checks the path's statements for it.
 *	With CS_STORE_BULK (crmsyncctl import) the write connection gets a
 *	bigger page cache and checkpoints less often; commits stay
 *	synchronous=FULL.
 *
 *	X3 events are added in the job's transaction (its savepoint, when
 *	careful), so they commit exactly with the change: thread.created,
 *	message.added (subject and participants only when the thread is
 *	shared, V6), thread.linked for each new automatic link,
 *	thread.merged per folded thread (and thread.visibility_changed when
 *	a merge makes a shared thread private), person.created for Smart BCC
 *	persons.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_digest.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_sqlite.h"
#include "cs_store_rules.h"
#include "cs_store_db.h"
#include "cs_store_thread.h"

#define SQ_W_BULK	0x01		/* cs_store.wflags: bulk settings made */

/* No RETURNING on the write path: SQLite gathers its rows in a temporary b-tree. */
static const char SQL_COUNTER_INC[] = "UPDATE counters SET value=value+?2 WHERE name=?1";
static const char SQL_COUNTER_GET[] = "SELECT value FROM counters WHERE name=?1";
static const char SQL_COUNTER_SET[] = "UPDATE counters SET value=?2 WHERE name=?1";
static const char SQL_USER_ENSURE[] = "INSERT OR IGNORE INTO users(id) VALUES(?1)";
static const char SQL_DUP[] = "SELECT 1 FROM messages WHERE owner=?1 AND dedup_key=?2";
static const char SQL_OWN_ADDRS[] = "SELECT address FROM user_addresses WHERE user=?1";
static const char SQL_MSGID_THREAD[] =
"SELECT thread FROM thread_msgids WHERE owner=?1 AND msgid=?2";
static const char SQL_TINDEX[] =
"SELECT m.thread FROM messages m JOIN threads t ON t.owner=m.owner AND t.id=m.thread"
" WHERE m.owner=?1 AND m.thread_index_root=?2 AND t.visibility='private'"
" ORDER BY m.sort_date DESC, m.id DESC LIMIT 1";
static const char SQL_SUBJECT[] =
"SELECT m.thread FROM messages m JOIN threads t ON t.owner=m.owner AND t.id=m.thread"
" WHERE m.owner=?1 AND m.subject_norm=?2 AND m.outside_key=?3"
" AND m.sort_date BETWEEN ?4 AND ?5 AND t.visibility='private'"
" ORDER BY m.sort_date DESC, m.id DESC LIMIT 1";
static const char SQL_THREAD_VIS[] = "SELECT visibility FROM threads WHERE owner=?1 AND id=?2";
static const char SQL_THREAD_LINKSET[] =
"SELECT coalesce(group_concat(k, ','), '') FROM (SELECT kind||':'||id AS k"
" FROM thread_links WHERE owner=?1 AND thread=?2 ORDER BY kind, id)";
static const char SQL_MERGE_LINKS[] =
"INSERT OR IGNORE INTO thread_links(owner, thread, kind, id, origin)"
" SELECT owner, ?3, kind, id, origin FROM thread_links WHERE owner=?1 AND thread=?2";
static const char SQL_MERGE_MSGS[] = "UPDATE messages SET thread=?3 WHERE owner=?1 AND thread=?2";
static const char SQL_MERGE_IDS[] =
"UPDATE thread_msgids SET thread=?3 WHERE owner=?1 AND thread=?2";
static const char SQL_MERGE_COUNTS[] =
"UPDATE threads SET"
" first_date=min(first_date, (SELECT first_date FROM threads WHERE owner=?1 AND id=?2)),"
" last_date=max(last_date, (SELECT last_date FROM threads WHERE owner=?1 AND id=?2)),"
" message_count=message_count+(SELECT message_count FROM threads WHERE owner=?1 AND id=?2)"
" WHERE owner=?1 AND id=?3";
static const char SQL_MERGE_DROP[] = "DELETE FROM threads WHERE owner=?1 AND id=?2";
/* Announced: its thread.merged event commits with it (X3). */
static const char SQL_MERGE_NOTE[] =
"INSERT INTO merges(owner, old_thread, new_thread, at, announced) VALUES(?1, ?2, ?3, ?4, 1)";
static const char SQL_THREAD_NEW[] =
"INSERT INTO threads(owner, id, subject, subject_norm, visibility, first_date, last_date,"
" message_count, thread_index_root, created) VALUES(?1, ?2, ?3, ?4, 'private', ?5, ?5, 1, ?6, ?7)";
static const char SQL_THREAD_ADD[] =
"UPDATE threads SET message_count=message_count+1, first_date=min(first_date, ?3),"
" last_date=max(last_date, ?3) WHERE owner=?1 AND id=?2";
static const char SQL_THREAD_COUNT[] = "SELECT message_count FROM threads WHERE owner=?1 AND id=?2";
static const char SQL_RAW_FIND[] = "SELECT id FROM raw WHERE sha256=?1";
static const char SQL_RAW_NEW[] = "INSERT INTO raw(sha256, size, data) VALUES(?1, ?2, zeroblob(?2))";
static const char SQL_RAW_NEW_DATA[] = "INSERT INTO raw(sha256, size, data) VALUES(?1, ?2, ?3)";
static const char SQL_MSG_NEW[] =
"INSERT INTO messages(owner, id, thread, message_id, dedup_key, queue_id, source, arrival,"
" date, sort_date, subject, subject_norm, outside_key, from_json, to_json, cc_json,"
" reply_to_json, in_reply_to, refs_json, thread_index_root, envelope, direction, truncated, raw)"
" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
" ?19, ?20, ?21, ?22, ?23, ?24)";
static const char SQL_LABEL_ADD[] =
"INSERT OR IGNORE INTO message_labels(owner, message, label) VALUES(?1, ?2, ?3)";
static const char SQL_MSGID_ADD[] =
"INSERT OR IGNORE INTO thread_msgids(owner, msgid, thread) VALUES(?1, ?2, ?3)";
static const char SQL_LINK_PERSON[] =
"SELECT pe.person FROM person_emails pe JOIN access a"
" ON a.user=?1 AND a.kind='person' AND a.id=pe.person"
" WHERE pe.email=?2 AND NOT EXISTS (SELECT 1 FROM user_addresses ua WHERE ua.address=?2)";
static const char SQL_LINK_DEALS[] =
"SELECT d.id FROM deal_persons dp JOIN deals d ON d.id=dp.deal AND d.status='open'"
" JOIN access a ON a.user=?1 AND a.kind='deal' AND a.id=d.id WHERE dp.person=?2 LIMIT 2";
static const char SQL_LINK_ADD[] =
"INSERT OR IGNORE INTO thread_links(owner, thread, kind, id) VALUES(?1, ?2, ?3, ?4)";
/* K2, K5: a person with the address that the sender may already access. */
static const char SQL_PERSON_BY_EMAIL[] =
"SELECT pe.person FROM person_emails pe JOIN access a"
" ON a.user=?2 AND a.kind='person' AND a.id=pe.person WHERE pe.email=?1 LIMIT 1";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created) VALUES(?1, ?2, 'bcc', ?3, ?4)";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES(?1, ?2, ?3)";
static const char SQL_SAVEPOINT[] = "SAVEPOINT job";
/* The group's transaction: prepared once too (sqlite3_exec parses each time). */
static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_RELEASE[] = "RELEASE job";

#define SQ_OWNERS_MAX	64		/* owners a group remembers */

/* The id counters a group takes from in memory (sq_wctx.ids). */
static const char *const sq_id_names[] = {"thread", "message"};

#define SQ_ID_THREAD	0
#define SQ_ID_MESSAGE	1
#define SQ_IDS		2

/*
 * What the jobs of one group share: the time, and what cannot change
 * within the writer's transaction, so that it is looked up once per
 * owner rather than once per copy: the users rows already ensured (an
 * INSERT OR IGNORE; forgotten when a job's savepoint is rolled back,
 * which may undo one) and each owner's own addresses (only sync_users
 * changes them, never inside a group).
 */
typedef struct sq_wctx {
    time_t  now;
    int     rc;				/* the last copy's SQLite code */
    /*
     * Thread and message ids: the counters row is read at a group's
     * first use and written once before its COMMIT, not updated per
     * copy. Nothing else writes it meanwhile: the group holds the
     * database's write lock. A job rolled back alone leaves a gap.
     */
    sqlite3_int64 ids[SQ_IDS];
    int     ids_loaded[SQ_IDS];
    cs_strlist ensured;
    size_t  nown;
    struct {
	char   *owner;
	cs_strlist addrs;
    }       own[SQ_OWNERS_MAX];
} sq_wctx;

/* wctx_forget_own - drop the remembered addresses */
static void wctx_forget_own(sq_wctx *x)
{
    for (size_t i = 0; i < x->nown; i++) {
	free(x->own[i].owner);
	cs_strlist_free(&x->own[i].addrs);
    }
    x->nown = 0;
}

/* wctx_free - release what a group remembered */
static void wctx_free(sq_wctx *x)
{
    cs_strlist_free(&x->ensured);
    wctx_forget_own(x);
}

/* one_int - first column of the first row; SQLITE_OK, SQLITE_DONE (none) or error */
static int one_int(sqlite3_stmt *st, sqlite3_int64 *v)
{
    int     rc;

    if (st == NULL)
	return SQLITE_ERROR;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
	*v = sqlite3_column_int64(st, 0);
	rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

/* counter_get - a global id sequence's last value */
static int counter_get(sq_conn *c, const char *name, sqlite3_int64 *v)
{
    sqlite3_stmt *st;
    int     rc;

    if ((st = sq_stmt(c, SQL_COUNTER_GET)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, name);
    rc = one_int(st, v);
    return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
}

/* sq_counter_next - the next value of a global id sequence, in the database */
int     sq_counter_next(sq_conn *c, const char *name, sqlite3_int64 *v)
{
    sqlite3_stmt *st;
    int     rc;

    if ((st = sq_stmt(c, SQL_COUNTER_INC)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, name);
    sqlite3_bind_int64(st, 2, 1);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    return counter_get(c, name, v);
}

/* id_next - the next thread or message id of the group (see sq_wctx) */
static int id_next(sq_conn *c, sq_wctx *x, int which, sqlite3_int64 *v)
{
    int     rc;

    if (!x->ids_loaded[which]) {
	if ((rc = counter_get(c, sq_id_names[which], &x->ids[which])) != SQLITE_OK)
	    return rc;
	x->ids_loaded[which] = 1;
    }
    *v = ++x->ids[which];
    return SQLITE_OK;
}

/* ids_save - write the group's id counters back, before its COMMIT */
static int ids_save(sq_conn *c, sq_wctx *x)
{
    sqlite3_stmt *st;
    int     rc, i;

    for (i = 0; i < SQ_IDS; i++) {
	if (!x->ids_loaded[i])
	    continue;
	if ((st = sq_stmt(c, SQL_COUNTER_SET)) == NULL)
	    return SQLITE_ERROR;
	sq_bind_str(st, 1, sq_id_names[i]);
	sqlite3_bind_int64(st, 2, x->ids[i]);
	if ((rc = sq_run(st)) != SQLITE_OK)
	    return rc;
    }
    return SQLITE_OK;
}

/* owner_pair - bind owner and one integer, the shape of most statements */
static sqlite3_stmt *owner_pair(sq_conn *c, const char *sql, const char *owner,
				        sqlite3_int64 a, sqlite3_int64 b)
{
    sqlite3_stmt *st = sq_stmt(c, sql);

    if (st) {
	sq_bind_str(st, 1, owner);
	sqlite3_bind_int64(st, 2, a);
	if (sqlite3_bind_parameter_count(st) >= 3)
	    sqlite3_bind_int64(st, 3, b);
    }
    return st;
}

/* sq_wrc - the SQLite code of a failure in code written once (cs_store_thread.c) */
static int sq_wrc(sq_conn *c)
{
    int     rc = sqlite3_errcode(c->db);

    return rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* own_addrs - an owner's own addresses, looked up once per group */
static int own_addrs(cs_store *cst, sq_conn *c, sq_wctx *x, const char *owner,
		             const cs_strlist **out)
{
    cs_strlist own = {0};
    size_t  i;
    int     rc;

    for (i = 0; i < x->nown; i++)
	if (strcmp(x->own[i].owner, owner) == 0) {
	    *out = &x->own[i].addrs;
	    return SQLITE_OK;
	}
    if (x->nown == SQ_OWNERS_MAX)		/* many owners: start over */
	wctx_forget_own(x);
    if (cs_wt_own_addrs(cst, CS_DB_W, owner, &own) < 0) {
	rc = sq_wrc(c);
	cs_strlist_free(&own);
	return rc;
    }
    if ((x->own[x->nown].owner = cs_strdup(owner)) == NULL) {
	cs_strlist_free(&own);
	return SQLITE_NOMEM;
    }
    x->own[x->nown].addrs = own;
    *out = &x->own[x->nown++].addrs;
    return SQLITE_OK;
}

/* raw_whole - a raw message bound in one INSERT */
static int raw_whole(sq_conn *c, cs_store_job *job, sqlite3_int64 *raw_id)
{
    sqlite3_stmt *st;
    const void *data;
    void   *copy;
    int     rc;

    if ((data = cs_store_job_raw(job, &copy)) == NULL)
	return SQLITE_MISMATCH;			/* spool shrank or failed: this job only */
    if ((st = sq_stmt(c, SQL_RAW_NEW_DATA)) == NULL) {
	free(copy);
	return SQLITE_ERROR;
    }
    sq_bind_str(st, 1, job->raw_sha256);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) job->raw_size);
    sqlite3_bind_blob(st, 3, data, (int) job->raw_size, SQLITE_STATIC);
    rc = sq_run(st);
    sqlite3_clear_bindings(st);
    free(copy);
    if (rc == SQLITE_OK)
	*raw_id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* raw_store - the raw message once per content address (cs_store_job) */
static int raw_store(sq_conn *c, cs_store_job *job, sqlite3_int64 *raw_id)
{
    const void *mem;
    uint64_t inmem;
    sqlite3_stmt *st;
    sqlite3_blob *blob = NULL;
    char   *buf;
    uint64_t off = 0;
    ssize_t got;
    int     rc;

    if ((st = sq_stmt(c, SQL_RAW_FIND)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, job->raw_sha256);
    if ((rc = one_int(st, raw_id)) != SQLITE_DONE)
	return rc;
    if (job->raw_size > 0x7fffffffULL)
	return SQLITE_TOOBIG;
    /*
     * Mail of one chunk goes in one INSERT. Larger mail is inserted as a
     * zeroblob and written into its pages: from the spool's memory in one
     * write, from a spooled file in 64 KB chunks. A bound blob would be
     * copied into a record the size of the message first (an allocation
     * of its size, its page faults and one more pass over its bytes).
     */
    if (job->raw_size > 0 && job->raw_size <= CS_STORE_CHUNK)
	return raw_whole(c, job, raw_id);
    if ((mem = cs_spool_contiguous(job->raw, &inmem)) != NULL && inmem < job->raw_size)
	mem = NULL;
    if ((st = sq_stmt(c, SQL_RAW_NEW)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, job->raw_sha256);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) job->raw_size);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    *raw_id = sqlite3_last_insert_rowid(c->db);
    if (job->raw_size == 0)
	return SQLITE_OK;
    if ((rc = sqlite3_blob_open(c->db, "main", "raw", "data", *raw_id, 1, &blob)) != SQLITE_OK)
	return rc;
    if (mem != NULL) {
	rc = sqlite3_blob_write(blob, mem, (int) job->raw_size, 0);
	if (sqlite3_blob_close(blob) != SQLITE_OK && rc == SQLITE_OK)
	    rc = sqlite3_errcode(c->db);
	return rc;
    }
    if ((buf = malloc(CS_STORE_CHUNK)) == NULL) {
	sqlite3_blob_close(blob);
	return SQLITE_NOMEM;
    }
    /* The size was fixed when the job was made; never write past it. */
    while (off < job->raw_size) {
	size_t  want = job->raw_size - off < CS_STORE_CHUNK ? (size_t) (job->raw_size - off)
	: CS_STORE_CHUNK;

	if ((got = cs_spool_pread(job->raw, buf, want, off)) <= 0) {
	    rc = SQLITE_MISMATCH;		/* spool shrank or failed: this job only */
	    break;
	}
	if ((rc = sqlite3_blob_write(blob, buf, (int) got, (int) off)) != SQLITE_OK)
	    break;
	off += (uint64_t) got;
    }
    free(buf);
    if (sqlite3_blob_close(blob) != SQLITE_OK && rc == SQLITE_OK)
	rc = sqlite3_errcode(c->db);
    return rc;
}

/*
 * link_address - T3 for one address: every person with it that the
 * owner may access (K5: the CRM's and the owner's own may both exist)
 */
/* sq_merge_rows - T1: move one thread's rows into another, note the merge */
int     sq_merge_rows(cs_store *cst, const char *owner, long long old, long long target,
		              time_t now)
{
    sq_conn *c = &((sq_store *) cst->be)->w;
    sqlite3_stmt *st;

    if (sq_run(owner_pair(c, SQL_MERGE_LINKS, owner, old, target)) != SQLITE_OK
	|| sq_run(owner_pair(c, SQL_MERGE_MSGS, owner, old, target)) != SQLITE_OK
	|| sq_run(owner_pair(c, SQL_MERGE_IDS, owner, old, target)) != SQLITE_OK
	|| sq_run(owner_pair(c, SQL_MERGE_COUNTS, owner, old, target)) != SQLITE_OK
	|| sq_run(owner_pair(c, SQL_MERGE_DROP, owner, old, 0)) != SQLITE_OK
	|| (st = owner_pair(c, SQL_MERGE_NOTE, owner, old, target)) == NULL)
	return -1;
    sqlite3_bind_int64(st, 4, (sqlite3_int64) now);
    return sq_run(st) == SQLITE_OK ? 0 : -1;
}

/* The write path's SQL for cs_store_thread.c. */
const struct cs_sql_write sq_sql_write = {
    .own_addrs = SQL_OWN_ADDRS,
    .msgid_thread = SQL_MSGID_THREAD,
    .tindex = SQL_TINDEX,
    .subject = SQL_SUBJECT,
    .thread_vis = SQL_THREAD_VIS,
    .thread_linkset = SQL_THREAD_LINKSET,
    .link_auto = SQL_LINK_ADD,
    .link_deals = SQL_LINK_DEALS,
    .link_person = SQL_LINK_PERSON,
    .ev_shared = "SELECT 1 FROM threads WHERE id=?1 AND visibility='shared'",
    .user_ensure = SQL_USER_ENSURE,
    .k2_person = SQL_PERSON_BY_EMAIL,
};

/* user_ensure - the owner's users row, once per group */
static int user_ensure(sq_conn *c, sq_wctx *x, const char *owner)
{
    sqlite3_stmt *st;
    int     rc;

    if (cs_strlist_contains(&x->ensured, owner))
	return SQLITE_OK;
    if ((st = sq_stmt(c, SQL_USER_ENSURE)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    /* Only a cache: forgetting is always safe. */
    if (x->ensured.n < SQ_OWNERS_MAX)
	(void) cs_strlist_add(&x->ensured, owner);
    return SQLITE_OK;
}

/* store_copy - T2, T1, the message row and T3 for one owner's copy */
static int store_copy(cs_store *cst, sq_conn *c, sq_wctx *x, cs_store_job *job, size_t ci,
		              sqlite3_int64 *raw_id, int *result)
{
    cs_store_jcopy *cp = &job->copies[ci];
    const char *owner = cp->user;
    const cs_strlist *own;
    sqlite3_stmt *st;
    sqlite3_int64 thread, msg, one, count = 1;
    cs_ids  found = {0};
    char    okey[65];
    int     rc, how;
    size_t  i;

    *result = 0;
    if ((rc = user_ensure(c, x, owner)) != SQLITE_OK)
	return rc;

    /* T2: stored once per mailbox. */
    if ((st = sq_stmt(c, SQL_DUP)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sq_bind_str(st, 2, job->dedup_key);
    if ((rc = one_int(st, &one)) == SQLITE_OK) {
	*result = CS_COPY_DUPLICATE;
	return SQLITE_OK;
    } else if (rc != SQLITE_DONE)
	return rc;

    if ((rc = own_addrs(cst, c, x, owner, &own)) != SQLITE_OK
	|| (rc = cs_wt_outside_key(own, job, okey) < 0 ? SQLITE_NOMEM : SQLITE_OK) != SQLITE_OK
	|| (rc = cs_wt_find(cst, CS_DB_W, owner, job, okey, &found, &thread, &how) < 0
	    ? sq_wrc(c) : SQLITE_OK) != SQLITE_OK)
	goto out;
    if (how == 0 && cp->conditional) {
	*result = CS_COPY_SKIPPED;
	goto out;
    }
    if (found.n > 1 && cs_wt_merge(cst, owner, &found, thread, x->now) < 0) {
	rc = sq_wrc(c);
	goto out;
    }
    if (how == 0) {
	/*
	 * V1: a new thread is private. It is made with this message
	 * counted and dated already: no second write of its row (and of
	 * its mailbox index entry) once the message is in.
	 */
	if ((rc = id_next(c, x, SQ_ID_THREAD, &thread)) != SQLITE_OK
	    || (st = sq_stmt(c, SQL_THREAD_NEW)) == NULL) {
	    rc = rc ? rc : SQLITE_ERROR;
	    goto out;
	}
	sq_bind_str(st, 1, owner);
	sqlite3_bind_int64(st, 2, thread);
	sq_bind_str(st, 3, job->subject);
	sq_bind_str(st, 4, job->subject_norm);
	sqlite3_bind_int64(st, 5, (sqlite3_int64) job->sort_date);
	sq_bind_str(st, 6, job->thread_index_root);
	sqlite3_bind_int64(st, 7, (sqlite3_int64) x->now);
	if ((rc = sq_run(st)) != SQLITE_OK
	    || (rc = cs_wt_event(cst, "thread.created", owner, thread, 0, json_object(),
				 NULL) < 0 ? sq_wrc(c) : SQLITE_OK) != SQLITE_OK)
	    goto out;
    }
    if (*raw_id == 0 && (rc = raw_store(c, job, raw_id)) != SQLITE_OK)
	goto out;
    if ((rc = id_next(c, x, SQ_ID_MESSAGE, &msg)) != SQLITE_OK
	|| (st = sq_stmt(c, SQL_MSG_NEW)) == NULL) {
	rc = rc ? rc : SQLITE_ERROR;
	goto out;
    }
    sq_bind_str(st, 1, owner);
    sqlite3_bind_int64(st, 2, msg);
    sqlite3_bind_int64(st, 3, thread);
    sq_bind_str(st, 4, job->message_id);
    sq_bind_str(st, 5, job->dedup_key);
    sq_bind_str(st, 6, job->queue_id);
    sq_bind_str(st, 7, job->source);
    sqlite3_bind_int64(st, 8, (sqlite3_int64) job->arrival);
    if (job->has_date)
	sqlite3_bind_int64(st, 9, (sqlite3_int64) job->date);
    sqlite3_bind_int64(st, 10, (sqlite3_int64) job->sort_date);
    sq_bind_str(st, 11, job->subject);
    sq_bind_str(st, 12, job->subject_norm);
    sq_bind_str(st, 13, okey);
    sq_bind_str(st, 14, job->from_json);
    sq_bind_str(st, 15, job->to_json);
    sq_bind_str(st, 16, job->cc_json);
    sq_bind_str(st, 17, job->reply_to_json);
    sq_bind_str(st, 18, job->in_reply_to);
    sq_bind_str(st, 19, job->refs_json);
    sq_bind_str(st, 20, job->thread_index_root);
    sq_bind_str(st, 21, cp->envelope_json);
    sq_bind_str(st, 22, cp->direction == 1 ? "out" : "in");
    sqlite3_bind_int(st, 23, job->truncated);
    sqlite3_bind_int64(st, 24, *raw_id);
    if ((rc = sq_run(st)) != SQLITE_OK)
	goto out;
    for (i = 0; i < cp->labels.n; i++) {
	if ((st = sq_stmt(c, SQL_LABEL_ADD)) == NULL) {
	    rc = SQLITE_ERROR;
	    goto out;
	}
	sq_bind_str(st, 1, owner);
	sqlite3_bind_int64(st, 2, msg);
	sq_bind_str(st, 3, cp->labels.v[i]);
	if ((rc = sq_run(st)) != SQLITE_OK)
	    goto out;
    }
    for (i = 0; i < job->msgids.n; i++) {
	if ((st = sq_stmt(c, SQL_MSGID_ADD)) == NULL) {
	    rc = SQLITE_ERROR;
	    goto out;
	}
	sq_bind_str(st, 1, owner);
	sq_bind_str(st, 2, job->msgids.v[i]);
	sqlite3_bind_int64(st, 3, thread);
	if ((rc = sq_run(st)) != SQLITE_OK)
	    goto out;
    }
    if (how != 0) {
	if ((rc = sq_run(owner_pair(c, SQL_THREAD_ADD, owner, thread,
				    (sqlite3_int64) job->sort_date))) == SQLITE_OK)
	    rc = one_int(owner_pair(c, SQL_THREAD_COUNT, owner, thread, 0), &count);
	if (rc != SQLITE_OK) {
	    rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
	    goto out;
	}
    }
    if (cs_wt_message_event(cst, job, owner, thread, msg, count, how == 0) < 0
	|| cs_wt_link(cst, job, cp, thread) < 0) {
	rc = sq_wrc(c);
	goto out;
    }
    cp->thread = thread;
    cp->message = msg;
    *result = CS_COPY_STORED;
out:
    free(found.v);
    return rc;
}

/* sq_bcc_person - K2: a "bcc-N" person and its address, the owner's */
int     sq_bcc_person(cs_store *cst, const char *owner, const char *email, const char *name,
		              time_t now, char *id, size_t idlen)
{
    sq_conn *c = &((sq_store *) cst->be)->w;
    sqlite3_stmt *st;
    sqlite3_int64 n = 0;

    if (sq_counter_next(c, "person", &n) != SQLITE_OK || (st = sq_stmt(c, SQL_PERSON_NEW)) == NULL)
	return -1;
    snprintf(id, idlen, "bcc-%lld", (long long) n);
    sq_bind_str(st, 1, id);
    sq_bind_str(st, 2, name);
    sq_bind_str(st, 3, owner);
    sqlite3_bind_int64(st, 4, (sqlite3_int64) now);
    if (sq_run(st) != SQLITE_OK || (st = sq_stmt(c, SQL_PERSON_EMAIL)) == NULL)
	return -1;
    sq_bind_str(st, 1, email);
    sq_bind_str(st, 2, id);
    sq_bind_str(st, 3, owner);
    return sq_run(st) == SQLITE_OK ? 1 : -1;
}

/* copy - cs_wt_job's call for one copy; its SQLite code kept in the context */
static int copy(cs_store *cst, void *ctx, cs_store_job *job, size_t i, long long *raw_id,
		        int *result)
{
    sq_wctx *x = ctx;

    x->rc = store_copy(cst, &((sq_store *) cst->be)->w, x, job, i, raw_id, result);
    return x->rc == SQLITE_OK ? 0 : -1;
}

/* tx - BEGIN IMMEDIATE or COMMIT, prepared once (parsed again only
 * if the statement cache is full: a group never fails for that) */
static int tx(sq_conn *c, const char *sql)
{
    sqlite3_stmt *st = sq_stmt(c, sql);

    return st != NULL ? sq_run(st) : sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

/* A store that is down fails every group: log that once a minute (C1). */
static cs_ratelimit group_fail_log;

/* sq_write_group - one transaction; careful: a savepoint per job (cs_store_impl.h) */
int     sq_write_group(cs_store *cst, cs_store_job **jobs, size_t n, int careful)
{
    sq_store *s = cst->be;
    sq_conn *c = &s->w;
    sqlite3_stmt *st;
    sq_wctx x;
    size_t  i, ok = 0;
    int     rc;

    memset(&x, 0, sizeof(x));
    x.now = time(NULL);
    if (c->db == NULL) {
	cs_jobs_fail_all(jobs, n);
	return CS_EINTERNAL;
    }
    /*
     * A bulk load (crmsyncctl import) on this connection: a 32 MB page
     * cache keeps the indexes' hot pages (and a group's dirty ones) in
     * memory, and a checkpoint every 64 MB of WAL instead of every 4 MB
     * copies an index page rewritten by several groups once. Commits
     * stay synchronous=FULL: durability is the same.
     */
    if ((cst->flags & CS_STORE_BULK) && !(cst->wflags & SQ_W_BULK)) {
	if (sqlite3_exec(c->db, "PRAGMA cache_size=-32768;", NULL, NULL, NULL) != SQLITE_OK)
	    cs_warn(NULL, "store: bulk settings: %s", sqlite3_errmsg(c->db));
	s->ckpt_pages = 16384;		/* not the pragma: it replaces the WAL hook */
	cst->wflags |= SQ_W_BULK;
    }
    if ((rc = tx(c, SQL_BEGIN)) != SQLITE_OK) {
	cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		       "store: begin: %s", sqlite3_errmsg(c->db));
	cs_jobs_fail_all(jobs, n);
	return CS_EINTERNAL;
    }
    for (i = 0; i < n; i++) {
	/* Careful: two statements per record, prepared once. */
	if (careful && (rc = sq_run(sq_stmt(c, SQL_SAVEPOINT))) != SQLITE_OK)
	    goto group_fail;
	x.rc = SQLITE_OK;
	if ((rc = cs_wt_job(cst, jobs[i], x.now, copy, &x)) < 0)
	    rc = x.rc != SQLITE_OK ? x.rc : sq_wrc(c);
	sq_reset_all(c);
	if (rc == SQLITE_OK) {
	    if (careful && (rc = sq_run(sq_stmt(c, SQL_RELEASE))) != SQLITE_OK)
		goto group_fail;
	    jobs[i]->rc = CS_OK;
	    ok++;
	    continue;
	}
	if (sq_fatal(rc))
	    goto group_fail;
	if (!careful) {
	    /* This record alone is bad: the group again, careful (logged there). */
	    wctx_free(&x);
	    cs_jobs_fail_all(jobs, n);
	    if (sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		goto group_fail;
	    return CS_STORE_AGAIN;
	}
	/* This record alone is bad: drop it, keep the others. */
	cs_error(jobs[i]->queue_id, "store: record not stored: %s (%d)",
		 sqlite3_errstr(rc), rc);
	jobs[i]->rc = CS_EINTERNAL;
	memset(jobs[i]->results, 0, jobs[i]->ncopies * sizeof(int));
	/* The rollback may undo a users row this group had ensured. */
	cs_strlist_free(&x.ensured);
	if (sqlite3_exec(c->db, "ROLLBACK TO job; RELEASE job", NULL, NULL, NULL) != SQLITE_OK) {
	    rc = sqlite3_errcode(c->db);
	    goto group_fail;
	}
    }
    if ((rc = ids_save(c, &x)) != SQLITE_OK || (st = sq_stmt(c, SQL_COUNTER_INC)) == NULL)
	goto group_fail;
    sq_bind_str(st, 1, "commit_groups");
    sqlite3_bind_int64(st, 2, 1);
    if ((rc = sq_run(st)) != SQLITE_OK || (st = sq_stmt(c, SQL_COUNTER_INC)) == NULL)
	goto group_fail;
    sq_bind_str(st, 1, "records");
    sqlite3_bind_int64(st, 2, (sqlite3_int64) ok);
    if ((rc = sq_run(st)) != SQLITE_OK)
	goto group_fail;
    sq_reset_all(c);
    if ((rc = tx(c, SQL_COMMIT)) != SQLITE_OK)
	goto group_fail;
    wctx_free(&x);
    return CS_OK;

group_fail:
    wctx_free(&x);
    cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		   "store: group of %zu record(s) rolled back: %s", n, sqlite3_errmsg(c->db));
    sq_reset_all(c);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    cs_jobs_fail_all(jobs, n);
    return CS_EINTERNAL;
}
