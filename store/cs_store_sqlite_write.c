/*
 * NAME
 *	cs_store_sqlite_write 3
 * SUMMARY
 *	SQLite store backend: group commit, dedup (T2), threads (T1), links (T3)
 * DESCRIPTION
 *	sq_write_group() runs a group of jobs in one BEGIN IMMEDIATE ...
 *	COMMIT (one fsync). Each job has a SAVEPOINT: a job that fails on its
 *	own (a constraint, junk input) is rolled back alone and reported
 *	CS_EINTERNAL while the others commit. A failure of the database
 *	itself (busy past the timeout, disk full, read-only, I/O, corrupt)
 *	rolls the whole group back; it is reported, never retried, so a
 *	broken store cannot hold mail (C1).
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
 *	counters and a thread's count come back from their UPDATE
 *	(RETURNING), a new thread is inserted with its first message
 *	counted, and a raw message of one chunk is bound in its INSERT.
 *	With CS_STORE_BULK (crmsyncctl import) the write connection gets a
 *	bigger page cache and checkpoints less often; commits stay
 *	synchronous=FULL.
 *
 *	X3 events are added in the job's savepoint, so they commit exactly
 *	with the change: thread.created, message.added (subject and
 *	participants only when the thread is shared, V6), thread.linked for
 *	each new automatic link, thread.merged per folded thread (and
 *	thread.visibility_changed when a merge makes a shared thread
 *	private), person.created for Smart BCC persons.
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
#include "cs_store_sqlite.h"
#include "cs_store_rules.h"

#define SQ_W_BULK	0x01		/* cs_store.wflags: bulk settings made */

/* A small set of thread ids (T1 lookups). */
typedef struct sq_ids {
    sqlite3_int64 *v;
    size_t  n, cap;
} sq_ids;

/* ids_add - add a thread id once */
static int ids_add(sq_ids *s, sqlite3_int64 id)
{
    for (size_t i = 0; i < s->n; i++)
	if (s->v[i] == id)
	    return 0;
    if (s->n == s->cap) {
	size_t  ncap = s->cap ? 2 * s->cap : 8;
	sqlite3_int64 *nv = realloc(s->v, ncap * sizeof(*nv));

	if (nv == NULL)
	    return -1;
	s->v = nv;
	s->cap = ncap;
    }
    s->v[s->n++] = id;
    return 0;
}

static const char SQL_COUNTER_INC[] = "UPDATE counters SET value=value+?2 WHERE name=?1";
static const char SQL_COUNTER_NEXT[] =
"UPDATE counters SET value=value+1 WHERE name=?1 RETURNING value";
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
static const char SQL_SET_VIS[] = "UPDATE threads SET visibility=?3 WHERE owner=?1 AND id=?2";
static const char SQL_THREAD_NEW[] =
"INSERT INTO threads(owner, id, subject, subject_norm, visibility, first_date, last_date,"
" message_count, thread_index_root, created) VALUES(?1, ?2, ?3, ?4, 'private', ?5, ?5, 1, ?6, ?7)";
static const char SQL_THREAD_ADD[] =
"UPDATE threads SET message_count=message_count+1, first_date=min(first_date, ?3),"
" last_date=max(last_date, ?3) WHERE owner=?1 AND id=?2 RETURNING message_count";
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
static const char SQL_ACCESS_ADD[] =
"INSERT OR IGNORE INTO access(user, kind, id) VALUES(?1, ?2, ?3)";
static const char SQL_SAVEPOINT[] = "SAVEPOINT job";
static const char SQL_RELEASE[] = "RELEASE job";

#define SQ_OWNERS_MAX	64		/* owners a group remembers */

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

/* one_text - first column of the first row, copied into out */
static int one_text(sqlite3_stmt *st, char *out, size_t outlen)
{
    int     rc;

    if (st == NULL)
	return SQLITE_ERROR;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
	const unsigned char *t = sqlite3_column_text(st, 0);

	snprintf(out, outlen, "%s", t ? (const char *) t : "");
	rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

/* counter_next - the next value of a global id sequence */
static int counter_next(sq_conn *c, const char *name, sqlite3_int64 *v)
{
    sqlite3_stmt *st;
    int     rc;

    /* One statement: RETURNING gives the value the UPDATE made. */
    if ((st = sq_stmt(c, SQL_COUNTER_NEXT)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, name);
    rc = one_int(st, v);
    return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
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

/* strcmp_p - qsort comparator for strings */
static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* own_load - an owner's own addresses into a list */
static int own_load(sq_conn *c, const char *owner, cs_strlist *own)
{
    sqlite3_stmt *st;
    int     step;

    if ((st = sq_stmt(c, SQL_OWN_ADDRS)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
	if (cs_strlist_add(own, (const char *) sqlite3_column_text(st, 0)) < 0) {
	    step = SQLITE_NOMEM;
	    break;
	}
    sqlite3_reset(st);
    return step == SQLITE_DONE ? SQLITE_OK : step;
}

/* own_addrs - an owner's own addresses, looked up once per group */
static int own_addrs(sq_conn *c, sq_wctx *x, const char *owner, const cs_strlist **out)
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
    if ((rc = own_load(c, owner, &own)) != SQLITE_OK) {
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

/* outside_key - digest of the participants that are not the owner's */
static int outside_key(const cs_strlist *own, const cs_store_job *job, char hex[65])
{
    char  **v = NULL;
    size_t  i, n = 0;
    cs_buf  b = {0};
    int     rc = SQLITE_OK;

    if (job->participants.n && (v = calloc(job->participants.n, sizeof(*v))) == NULL)
	rc = SQLITE_NOMEM;
    for (i = 0; rc == SQLITE_OK && i < job->participants.n; i++)
	if (!cs_strlist_contains(own, job->participants.v[i]))
	    v[n++] = job->participants.v[i];
    if (rc == SQLITE_OK) {
	if (n)
	    qsort(v, n, sizeof(*v), strcmp_p);
	cs_buf_append(&b, "", 0);
	for (i = 0; i < n; i++)
	    if (cs_buf_appendf(&b, "%s\n", v[i]) < 0)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
	    cs_sha256_hex(b.data ? b.data : "", b.len, hex);
    }
    cs_buf_free(&b);
    free(v);
    return rc;
}

/* ref_threads - T1: threads holding or naming any of the message's ids */
static int ref_threads(sq_conn *c, const char *owner, const cs_store_job *job, sq_ids *found)
{
    sqlite3_stmt *st;
    sqlite3_int64 t = 0;
    int     rc;

    for (size_t i = 0; i < job->msgids.n; i++) {
	if ((st = sq_stmt(c, SQL_MSGID_THREAD)) == NULL)
	    return SQLITE_ERROR;
	sq_bind_str(st, 1, owner);
	sq_bind_str(st, 2, job->msgids.v[i]);
	rc = one_int(st, &t);
	if (rc == SQLITE_OK) {
	    if (ids_add(found, t) < 0)
		return SQLITE_NOMEM;
	} else if (rc != SQLITE_DONE)
	    return rc;
    }
    return SQLITE_OK;
}

/* heuristic_thread - T1 fallbacks: Thread-Index root, then subject+participants */
static int heuristic_thread(sq_conn *c, const char *owner, const cs_store_job *job,
			            const char *okey, sqlite3_int64 *thread)
{
    sqlite3_stmt *st;
    int     rc;

    *thread = 0;
    if (job->thread_index_root && *job->thread_index_root) {
	if ((st = sq_stmt(c, SQL_TINDEX)) == NULL)
	    return SQLITE_ERROR;
	sq_bind_str(st, 1, owner);
	sq_bind_str(st, 2, job->thread_index_root);
	if ((rc = one_int(st, thread)) != SQLITE_DONE)
	    return rc;
    }
    if (job->subject_norm == NULL || *job->subject_norm == 0)
	return SQLITE_OK;			/* never on an empty subject */
    if ((st = sq_stmt(c, SQL_SUBJECT)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sq_bind_str(st, 2, job->subject_norm);
    sq_bind_str(st, 3, okey);
    sqlite3_bind_int64(st, 4, (sqlite3_int64) job->sort_date - CS_STORE_JOIN_WINDOW);
    sqlite3_bind_int64(st, 5, (sqlite3_int64) job->sort_date + CS_STORE_JOIN_WINDOW);
    rc = one_int(st, thread);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* find_thread - the T1 decision; *how: 0 none, 1 references, 2 heuristic */
static int find_thread(sq_conn *c, const char *owner, const cs_store_job *job,
		               const char *okey, sq_ids *found, sqlite3_int64 *thread, int *how)
{
    int     rc;

    *how = 0;
    *thread = 0;
    if ((rc = ref_threads(c, owner, job, found)) != SQLITE_OK)
	return rc;
    if (found->n) {
	/* The oldest thread (lowest id) survives a merge. */
	*thread = found->v[0];
	for (size_t i = 1; i < found->n; i++)
	    if (found->v[i] < *thread)
		*thread = found->v[i];
	*how = 1;
	return SQLITE_OK;
    }
    if ((rc = heuristic_thread(c, owner, job, okey, thread)) != SQLITE_OK)
	return rc;
    if (*thread)
	*how = 2;
    return SQLITE_OK;
}

/* tid - a thread's text id */
static void tid(char *out, size_t outlen, sqlite3_int64 t)
{
    snprintf(out, outlen, "t%lld", (long long) t);
}

/* thread_event - an X3 event about one thread: its id plus ids (both taken) */
static int thread_event(sq_conn *c, const char *type, const char *owner, sqlite3_int64 thread,
			        sqlite3_int64 thread2, json_t *ids, json_t *content)
{
    char    t[32];
    json_t *all;
    int     rc = SQLITE_NOMEM;

    /* The thread first: every thread event reads the same way. */
    tid(t, sizeof(t), thread);
    if (ids && (all = json_pack("{s:s}", "thread", t)) != NULL) {
	if (json_object_update_missing(all, ids) == 0)
	    rc = sq_event_add_c(c, type, owner, thread, thread2, all, content);
	json_decref(all);
    }
    json_decref(ids);
    json_decref(content);
    return rc;
}

/* merge_threads - fold every found thread into target (T1, V3, V7) */
static int merge_threads(sq_conn *c, const char *owner, const sq_ids *found,
			         sqlite3_int64 target, time_t now)
{
    char    vis[16], set0[4096], set[4096], from[32], into[32];
    int    *was, shared, same = 1, rc = SQLITE_OK;
    sqlite3_int64 old;
    size_t  i;

    if ((was = calloc(found->n, sizeof(*was))) == NULL)
	return SQLITE_NOMEM;
    /*
     * V3: every merged thread's visibility and links, the decision in
     * cs_store_rules.c. Link sets too long to compare here count as
     * different: privacy is the safe side.
     */
    for (i = 0; i < found->n; i++) {
	rc = one_text(owner_pair(c, SQL_THREAD_VIS, owner, found->v[i], 0), vis, sizeof(vis));
	if (rc != SQLITE_OK)
	    goto out;
	was[i] = strcmp(vis, "shared") == 0;
	rc = one_text(owner_pair(c, SQL_THREAD_LINKSET, owner, found->v[i], 0),
		      i ? set : set0, sizeof(set));
	if (rc != SQLITE_OK)
	    goto out;
	if (strlen(i ? set : set0) >= sizeof(set) - 1 || (i && strcmp(set, set0) != 0))
	    same = 0;
    }
    shared = cs_rule_merge_shared(was, found->n, same);
    for (i = 0; i < found->n; i++) {
	if ((old = found->v[i]) == target)
	    continue;
	/* V7: a shared thread folded into a private one went private. */
	if (cs_rule_merge_changed(was[i], shared)
	    && (rc = thread_event(c, "thread.visibility_changed", owner, old, 0,
				  json_pack("{s:s}", "visibility", "private"),
				  NULL)) != SQLITE_OK)
	    goto out;
	if ((rc = sq_run(owner_pair(c, SQL_MERGE_LINKS, owner, old, target))) != SQLITE_OK
	    || (rc = sq_run(owner_pair(c, SQL_MERGE_MSGS, owner, old, target))) != SQLITE_OK
	    || (rc = sq_run(owner_pair(c, SQL_MERGE_IDS, owner, old, target))) != SQLITE_OK
	    || (rc = sq_run(owner_pair(c, SQL_MERGE_COUNTS, owner, old, target))) != SQLITE_OK
	    || (rc = sq_run(owner_pair(c, SQL_MERGE_DROP, owner, old, 0))) != SQLITE_OK)
	    goto out;
	{
	    sqlite3_stmt *st = owner_pair(c, SQL_MERGE_NOTE, owner, old, target);

	    if (st == NULL) {
		rc = SQLITE_ERROR;
		goto out;
	    }
	    sqlite3_bind_int64(st, 4, (sqlite3_int64) now);
	    if ((rc = sq_run(st)) != SQLITE_OK)
		goto out;
	}
	/* X3: which id became which, ordered after both threads' events. */
	tid(from, sizeof(from), old);
	tid(into, sizeof(into), target);
	if ((rc = thread_event(c, "thread.merged", owner, target, old,
			       json_pack("{s:s,s:s}", "from", from, "into", into),
			       NULL)) != SQLITE_OK)
	    goto out;
    }
    {
	sqlite3_stmt *st = owner_pair(c, SQL_SET_VIS, owner, target, 0);

	if (st == NULL) {
	    rc = SQLITE_ERROR;
	    goto out;
	}
	sq_bind_str(st, 3, shared ? "shared" : "private");
	if ((rc = sq_run(st)) != SQLITE_OK)
	    goto out;
    }
    /* V3, V5, V7: the surviving thread, if it was shared, is private now. */
    for (i = 0; i < found->n; i++)
	if (found->v[i] == target && cs_rule_merge_changed(was[i], shared))
	    rc = thread_event(c, "thread.visibility_changed", owner, target, 0,
			      json_pack("{s:s}", "visibility", "private"), NULL);
out:
    free(was);
    return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
}

/* raw_small - a raw message of one chunk at most, bound in one INSERT */
static int raw_small(sq_conn *c, cs_store_job *job, sqlite3_int64 *raw_id)
{
    sqlite3_stmt *st;
    char   *buf;
    size_t  len = (size_t) job->raw_size, off = 0;
    ssize_t got;
    int     rc;

    if ((buf = malloc(len)) == NULL)
	return SQLITE_NOMEM;
    /* The size was fixed when the job was made; never read past it. */
    while (off < len) {
	if ((got = cs_spool_pread(job->raw, buf + off, len - off, (uint64_t) off)) <= 0) {
	    free(buf);
	    return SQLITE_MISMATCH;		/* spool shrank or failed: this job only */
	}
	off += (size_t) got;
    }
    if ((st = sq_stmt(c, SQL_RAW_NEW_DATA)) == NULL) {
	free(buf);
	return SQLITE_ERROR;
    }
    sq_bind_str(st, 1, job->raw_sha256);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) len);
    sqlite3_bind_blob(st, 3, buf, (int) len, SQLITE_STATIC);
    rc = sq_run(st);
    sqlite3_clear_bindings(st);
    free(buf);
    if (rc == SQLITE_OK)
	*raw_id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* raw_store - the raw message once per SHA-256, streamed in 64 KB chunks */
static int raw_store(sq_conn *c, cs_store_job *job, sqlite3_int64 *raw_id)
{
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
    /* Most mail fits one chunk: no incremental blob handle for it. */
    if (job->raw_size > 0 && job->raw_size <= CS_STORE_CHUNK)
	return raw_small(c, job, raw_id);
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

/* link_person - T3 for one person of an address: it and its one open deal */
static int link_person(sq_conn *c, const char *owner, sqlite3_int64 thread, const char *person)
{
    sqlite3_stmt *st;
    char    deal[512];
    int     rc, ndeals = 0, step;

    if ((st = sq_stmt(c, SQL_LINK_ADD)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sqlite3_bind_int64(st, 2, thread);
    sq_bind_str(st, 3, "person");
    sq_bind_str(st, 4, person);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    if (sqlite3_changes(c->db) > 0
	&& (rc = thread_event(c, "thread.linked", owner, thread, 0,
			      json_pack("{s:s,s:s}", "person", person, "origin", "auto"),
			      NULL)) != SQLITE_OK)
	return rc;
    if ((st = sq_stmt(c, SQL_LINK_DEALS)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sq_bind_str(st, 2, person);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
	if (ndeals++ == 0)
	    snprintf(deal, sizeof(deal), "%s", (const char *) sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
	return step;
    if (ndeals != 1)
	return SQLITE_OK;			/* none, or ambiguous: no deal */
    if ((st = sq_stmt(c, SQL_LINK_ADD)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sqlite3_bind_int64(st, 2, thread);
    sq_bind_str(st, 3, "deal");
    sq_bind_str(st, 4, deal);
    if ((rc = sq_run(st)) != SQLITE_OK || sqlite3_changes(c->db) == 0)
	return rc;
    return thread_event(c, "thread.linked", owner, thread, 0,
			json_pack("{s:s,s:s}", "deal", deal, "origin", "auto"), NULL);
}

/*
 * link_address - T3 for one address: every person with it that the
 * owner may access (K5: the CRM's and the owner's own may both exist)
 */
static int link_address(sq_conn *c, const char *owner, sqlite3_int64 thread, const char *addr)
{
    sqlite3_stmt *st;
    cs_strlist persons = {0};
    int     rc = SQLITE_OK, step;

    if ((st = sq_stmt(c, SQL_LINK_PERSON)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, owner);
    sq_bind_str(st, 2, addr);
    /* Read them all first: linking reuses cached statements. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
	if (cs_strlist_add(&persons, (const char *) sqlite3_column_text(st, 0)) < 0) {
	    rc = SQLITE_NOMEM;
	    break;
	}
    sqlite3_reset(st);
    if (rc == SQLITE_OK && step != SQLITE_DONE)
	rc = step;
    for (size_t i = 0; rc == SQLITE_OK && i < persons.n; i++)
	rc = link_person(c, owner, thread, persons.v[i]);
    cs_strlist_free(&persons);
    return rc;
}

/* link_thread - T3 for every participant of the copy, on a private thread */
static int link_thread(cs_store *cst, sq_conn *c, const cs_store_job *job,
		               const cs_store_jcopy *cp, sqlite3_int64 thread)
{
    char    norm[CS_ADDR_MAX + 1], vis[16];
    size_t  i;
    int     rc;

    rc = one_text(owner_pair(c, SQL_THREAD_VIS, cp->user, thread, 0), vis, sizeof(vis));
    if (rc != SQLITE_OK)
	return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
    if (!cs_rule_auto_links(vis))
	return SQLITE_OK;			/* shared: the owner's hand only */
    for (i = 0; i < job->participants.n; i++)
	if ((rc = link_address(c, cp->user, thread, job->participants.v[i])) != SQLITE_OK)
	    return rc;
    /* Envelope-only recipients this copy keeps are participants too. */
    for (i = 0; i < cp->env_rcpts.n; i++)
	if (cs_store_normalize(cst, cp->env_rcpts.v[i], norm, sizeof(norm)) == 0
	    && !cs_strlist_contains(&job->participants, norm)
	    && (rc = link_address(c, cp->user, thread, norm)) != SQLITE_OK)
	    return rc;
    return SQLITE_OK;
}

/* add_list - append a stored JSON address list to participants */
static int add_list(json_t *participants, const char *text)
{
    json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
    int     rc = 0;

    if (json_is_array(arr))
	rc = json_array_extend(participants, arr);
    json_decref(arr);
    return rc;
}

/* message_event - X3 message.added; subject and participants only if shared (V6) */
static int message_event(sq_conn *c, const cs_store_job *job, const char *owner,
			         sqlite3_int64 thread, sqlite3_int64 msg, sqlite3_int64 count,
			         int new_thread)
{
    json_t *content = NULL, *parts;
    char    m[32];

    snprintf(m, sizeof(m), "m%lld", (long long) msg);
    /*
     * Building content costs JSON parsing: only for a shared thread. A
     * thread made for this message is private (V1): no need to ask.
     */
    if (!new_thread && sq_event_shared(c, thread)) {
	if ((parts = json_array()) == NULL)
	    return SQLITE_NOMEM;
	if (add_list(parts, job->from_json) < 0 || add_list(parts, job->to_json) < 0
	    || add_list(parts, job->cc_json) < 0) {
	    json_decref(parts);
	    return SQLITE_NOMEM;
	}
	/* "o" takes parts even when packing fails. */
	if ((content = json_pack("{s:s?,s:o}", "subject", job->subject,
				 "participants", parts)) == NULL)
	    return SQLITE_NOMEM;
    }
    return thread_event(c, "message.added", owner, thread, 0,
			json_pack("{s:s,s:I}", "message", m, "message_count", (json_int_t) count),
			content);
}

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
    sq_ids  found = {0};
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

    if ((rc = own_addrs(c, x, owner, &own)) != SQLITE_OK
	|| (rc = outside_key(own, job, okey)) != SQLITE_OK
	|| (rc = find_thread(c, owner, job, okey, &found, &thread, &how)) != SQLITE_OK)
	goto out;
    if (how == 0 && cp->conditional) {
	*result = CS_COPY_SKIPPED;
	goto out;
    }
    if (found.n > 1 && (rc = merge_threads(c, owner, &found, thread, x->now)) != SQLITE_OK)
	goto out;
    if (how == 0) {
	/*
	 * V1: a new thread is private. It is made with this message
	 * counted and dated already: no second write of its row (and of
	 * its mailbox index entry) once the message is in.
	 */
	if ((rc = counter_next(c, "thread", &thread)) != SQLITE_OK
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
	    || (rc = thread_event(c, "thread.created", owner, thread, 0, json_object(),
				  NULL)) != SQLITE_OK)
	    goto out;
    }
    if (*raw_id == 0 && (rc = raw_store(c, job, raw_id)) != SQLITE_OK)
	goto out;
    if ((rc = counter_next(c, "message", &msg)) != SQLITE_OK
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
	rc = one_int(owner_pair(c, SQL_THREAD_ADD, owner, thread, (sqlite3_int64) job->sort_date),
		     &count);
	if (rc != SQLITE_OK) {
	    rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
	    goto out;
	}
    }
    if ((rc = message_event(c, job, owner, thread, msg, count, how == 0)) != SQLITE_OK
	|| (rc = link_thread(cst, c, job, cp, thread)) != SQLITE_OK)
	goto out;
    *result = CS_COPY_STORED;
out:
    free(found.v);
    return rc;
}

/*
 * store_contact - K2, K5: a person of the owner's own for an address,
 * unless the owner may already access one; one with that address that
 * the owner may not access is neither shown nor shared (K5)
 */
static int store_contact(sq_conn *c, const cs_store_jcontact *k, time_t now)
{
    sqlite3_stmt *st;
    char    email[CS_ADDR_MAX + 1], id[32], name[1024];
    sqlite3_int64 n;
    int     rc;

    if (strlen(k->address) >= sizeof(email) || strchr(k->address, '@') == NULL)
	return SQLITE_OK;			/* not an address: no contact */
    snprintf(email, sizeof(email), "%s", k->address);
    cs_lowercase(email);
    if ((st = sq_stmt(c, SQL_USER_ENSURE)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, k->owner);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    if ((st = sq_stmt(c, SQL_PERSON_BY_EMAIL)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, email);
    sq_bind_str(st, 2, k->owner);
    if ((rc = one_text(st, id, sizeof(id))) != SQLITE_DONE)
	return rc;				/* K2: already a person the sender may access */
    if ((rc = counter_next(c, "person", &n)) != SQLITE_OK)
	return rc;
    snprintf(id, sizeof(id), "bcc-%lld", (long long) n);
    if ((st = sq_stmt(c, SQL_PERSON_NEW)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, id);
    sq_bind_str(st, 2, cs_rule_person_name(k->name, NULL, email, name, sizeof(name)));
    sq_bind_str(st, 3, k->owner);
    sqlite3_bind_int64(st, 4, (sqlite3_int64) now);
    rc = sq_run(st);
    if (rc != SQLITE_OK)
	return rc;
    if ((st = sq_stmt(c, SQL_PERSON_EMAIL)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, email);
    sq_bind_str(st, 2, id);
    sq_bind_str(st, 3, k->owner);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    if ((st = sq_stmt(c, SQL_ACCESS_ADD)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(st, 1, k->owner);
    sq_bind_str(st, 2, "person");
    sq_bind_str(st, 3, id);
    if ((rc = sq_run(st)) != SQLITE_OK)
	return rc;
    /* X3: a person is no thread's content; SPEC gives its name and address. */
    {
	json_t *ids = json_pack("{s:s,s:s,s:s}", "person", id, "name", name,
				"address", email);

	if (ids == NULL)
	    return SQLITE_NOMEM;
	rc = sq_event_add_c(c, "person.created", k->owner, 0, 0, ids, NULL);
	json_decref(ids);
	return rc;
    }
}

/* store_job - contacts first (so the sender's copy links them), then copies */
static int store_job(cs_store *cst, sq_conn *c, sq_wctx *x, cs_store_job *job)
{
    sqlite3_int64 raw_id = 0;
    size_t  i;
    int     rc;

    for (i = 0; i < job->ncontacts; i++)
	if ((rc = store_contact(c, &job->contacts[i], x->now)) != SQLITE_OK)
	    return rc;
    for (i = 0; i < job->ncopies; i++)
	if ((rc = store_copy(cst, c, x, job, i, &raw_id, &job->results[i])) != SQLITE_OK)
	    return rc;
    return SQLITE_OK;
}

/* fail_all - the whole group is lost: every waiter hears so */
static void fail_all(cs_store_job **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	jobs[i]->rc = CS_EINTERNAL;
	memset(jobs[i]->results, 0, jobs[i]->ncopies * sizeof(int));
    }
}

/* A store that is down fails every group: log that once a minute (C1). */
static cs_ratelimit group_fail_log;

/* sq_write_group - one transaction, a savepoint per job */
int     sq_write_group(cs_store *cst, cs_store_job **jobs, size_t n)
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
	fail_all(jobs, n);
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
	if (sqlite3_exec(c->db, "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=16384;",
			 NULL, NULL, NULL) != SQLITE_OK)
	    cs_warn(NULL, "store: bulk settings: %s", sqlite3_errmsg(c->db));
	cst->wflags |= SQ_W_BULK;
    }
    if ((rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
	cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		       "store: begin: %s", sqlite3_errmsg(c->db));
	fail_all(jobs, n);
	return CS_EINTERNAL;
    }
    for (i = 0; i < n; i++) {
	/* Prepared once: two statements per record, parsed once. */
	if ((rc = sq_run(sq_stmt(c, SQL_SAVEPOINT))) != SQLITE_OK)
	    goto group_fail;
	rc = store_job(cst, c, &x, jobs[i]);
	sq_reset_all(c);
	if (rc == SQLITE_OK) {
	    if ((rc = sq_run(sq_stmt(c, SQL_RELEASE))) != SQLITE_OK)
		goto group_fail;
	    jobs[i]->rc = CS_OK;
	    ok++;
	    continue;
	}
	if (sq_fatal(rc))
	    goto group_fail;
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
    if ((st = sq_stmt(c, SQL_COUNTER_INC)) == NULL)
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
    if ((rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
	goto group_fail;
    wctx_free(&x);
    return CS_OK;

group_fail:
    wctx_free(&x);
    cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		   "store: group of %zu record(s) rolled back: %s", n, sqlite3_errmsg(c->db));
    sq_reset_all(c);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    fail_all(jobs, n);
    return CS_EINTERNAL;
}

/* sq_joins_thread - would this message join a thread of user's? (read side) */
int     sq_joins_thread(cs_store *cst, const char *user, const cs_store_job *job)
{
    sq_store *s = cst->be;
    sq_conn *c = &s->r;
    sq_ids  found = {0};
    sqlite3_int64 thread;
    char    okey[65];
    int     rc, how = 0;

    pthread_mutex_lock(&s->rlock);
    if ((rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL)) == SQLITE_OK) {
	cs_strlist own = {0};

	if ((rc = own_load(c, user, &own)) == SQLITE_OK
	    && (rc = outside_key(&own, job, okey)) == SQLITE_OK)
	    rc = find_thread(c, user, job, okey, &found, &thread, &how);
	cs_strlist_free(&own);
	sq_reset_all(c);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->rlock);
    free(found.v);
    if (rc != SQLITE_OK) {
	cs_error(NULL, "store: thread lookup: %s", sqlite3_errstr(rc));
	return CS_EINTERNAL;
    }
    return how != 0;
}
