/*
 * NAME
 *	cs_store_sqlite_erase 3
 * SUMMARY
 *	SQLite store backend: the primitives of erasure and retention (R1-R3)
 * DESCRIPTION
 *	Small statements only: which copies match, one copy's raw bytes,
 *	delete one copy, one empty thread, the persons crmsync made for an
 *	address, one user; and the scrub. What is deleted, in which order,
 *	and which events say so is decided once, in cs_store_subject.c and
 *	cs_store_retention.c.
 *
 *	Every connection runs with PRAGMA secure_delete=ON (sq_open), so a
 *	deleted row's bytes are overwritten in the page that held it and
 *	freed pages are zeroed. The old page images still sit in the WAL
 *	until a checkpoint copies the new ones back: sq_scrub checkpoints
 *	with TRUNCATE, which leaves the -wal file empty.
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_log.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_sqlite.h"

#define SQ_MSG_COLS \
    "m.owner, m.id, m.thread, m.raw, m.arrival, m.date, m.subject," \
    " m.from_json, m.to_json, m.cc_json, m.reply_to_json, m.envelope FROM messages m"
/*
 * The keyset condition stands alone (no "?4 IS NULL OR"), so that each
 * page starts in the primary key where the last one ended instead of
 * scanning from the first row: the first page passes ('', -1). One
 * mailbox (purge) is the range owner=?1.
 */
#define SQ_MSG_FILTER \
    " AND (?2 IS NULL OR min(coalesce(m.date, m.arrival), m.arrival) < ?2)" \
    " AND (?3 IS NULL OR instr(lower(m.from_json || m.to_json || m.cc_json" \
    " || m.reply_to_json || m.envelope), ?3) > 0)" \
    " AND (?7 IS NULL OR instr(lower(m.from_json || m.to_json || m.cc_json" \
    " || m.reply_to_json || m.envelope), ?7) > 0)"
static const char SQL_MSG_LIST[] =
"SELECT " SQ_MSG_COLS " WHERE (m.owner, m.id) > (?4, ?5) AND ?1 IS NULL" SQ_MSG_FILTER
" ORDER BY m.owner, m.id LIMIT ?6";
static const char SQL_MSG_LIST_OWNER[] =
"SELECT " SQ_MSG_COLS " WHERE m.owner=?1 AND m.id > ?5 AND ?4 IS NOT NULL" SQ_MSG_FILTER
" ORDER BY m.owner, m.id LIMIT ?6";
#define SQ_SCRUB_BUSY_MS	100	/* one scrub try's wait for readers */

static const char SQL_RAW[] = "SELECT data FROM raw WHERE id=?1";
static const char SQL_DEL_ONE[] =
"DELETE FROM messages WHERE owner=?1 AND id=?2 RETURNING thread, raw, message_id";
/* Its own Message-ID leaves its thread's threading ids (T1) too. */
static const char SQL_DEL_MSGID[] =
"DELETE FROM thread_msgids WHERE owner=?1 AND msgid=?2"
" AND NOT EXISTS (SELECT 1 FROM messages WHERE owner=?1 AND message_id=?2)";
static const char SQL_DEL_RAW_FREE[] =
"DELETE FROM raw WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE raw=?1)";
static const char SQL_THREAD_LEFT[] =
"UPDATE threads SET message_count=(SELECT count(*) FROM messages"
" WHERE owner=?1 AND thread=?2) WHERE owner=?1 AND id=?2 RETURNING message_count";
/* enum cs_erase_step: each a NULL-terminated list; ?1 the key, ?2 the id. */
static const char *const SQL_THREAD_DROP[] = {
    "DELETE FROM thread_msgids WHERE owner=?1 AND thread=?2",
    "DELETE FROM thread_links WHERE owner=?1 AND thread=?2",
    "DELETE FROM thread_unlinks WHERE owner=?1 AND thread=?2",
    "DELETE FROM threads WHERE owner=?1 AND id=?2",
    NULL,
};
#define SQ_MADE "(SELECT pe.person FROM person_emails pe JOIN persons p ON p.id=pe.person" \
    " WHERE pe.email=?1 AND p.origin<>'crm')"
/*
 * Kept events (X3, sent or not) must not name the address either (R2):
 * the person.created events of those persons go with them; any other
 * event whose payload holds the address's local part and domain (a shared
 * thread's subject and participants, V6) keeps only its ids, as a private
 * thread's event would; whatever still names it then goes.
 */
#define SQ_NAMES "instr(lower(payload), substr(?1, instr(?1, '@'))) > 0" \
    " AND instr(lower(payload), substr(?1, 1, instr(?1, '@') - 1)) > 0"
static const char *const SQL_MADE_DROP[] = {
    "DELETE FROM events WHERE type='person.created' AND (json_extract(payload, '$.person')"
    " IN " SQ_MADE " OR lower(json_extract(payload, '$.address'))=?1)",
    "UPDATE events SET payload=json_remove(payload, '$.subject', '$.participants')"
    " WHERE " SQ_NAMES,
    "DELETE FROM events WHERE " SQ_NAMES,
    "DELETE FROM thread_links WHERE kind='person' AND id IN " SQ_MADE,
    "DELETE FROM thread_unlinks WHERE kind='person' AND id IN " SQ_MADE,
    "DELETE FROM access WHERE kind='person' AND id IN " SQ_MADE,
    "DELETE FROM persons WHERE origin<>'crm' AND id IN"
    " (SELECT person FROM person_emails WHERE email=?1)",
    NULL,
};
#define SQ_OWNED "(SELECT id FROM persons WHERE owner=?1 AND origin<>'crm')"
static const char *const SQL_USER_DROP[] = {
    "DELETE FROM events WHERE type='person.created' AND owner=?1",
    "DELETE FROM thread_links WHERE kind='person' AND id IN " SQ_OWNED,
    "DELETE FROM thread_unlinks WHERE kind='person' AND id IN " SQ_OWNED,
    "DELETE FROM access WHERE kind='person' AND id IN " SQ_OWNED,
    "DELETE FROM persons WHERE owner=?1 AND origin<>'crm'",
    "UPDATE persons SET owner=NULL WHERE owner=?1",
    "DELETE FROM access WHERE user=?1",
    "DELETE FROM user_addresses WHERE user=?1",
    "DELETE FROM users WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM threads WHERE owner=?1)",
    NULL,
};
static const char *const *const SQL_STEPS[CS_ERASE_NSTEPS] = {
    SQL_THREAD_DROP, SQL_MADE_DROP, SQL_USER_DROP,
};

/* sq_msg_list - a page of copies matching q */
int     sq_msg_list(cs_store *st, const cs_store_msgq *q, cs_store_msg **out, size_t *n)
{
    sq_store *s = st->be;
    sqlite3_stmt *x;
    cs_store_msg *v;
    int     step, rc = CS_OK;

    *out = NULL;
    *n = 0;
    if ((v = calloc(q->limit ? q->limit : 1, sizeof(*v))) == NULL || sq_read_begin(s) < 0) {
	free(v);
	return CS_EINTERNAL;
    }
    if ((x = sq_stmt(&s->r, q->owner ? SQL_MSG_LIST_OWNER : SQL_MSG_LIST)) == NULL) {
	sq_read_end(s);
	free(v);
	return CS_EINTERNAL;
    }
    sq_bind_str(x, 1, q->owner);
    if (q->before)
	sqlite3_bind_int64(x, 2, (sqlite3_int64) q->before);
    sq_bind_str(x, 3, q->needle);
    sq_bind_str(x, 4, q->after_owner ? q->after_owner : "");
    sqlite3_bind_int64(x, 5, q->after_owner ? q->after_id : -1);
    sq_bind_str(x, 7, q->needle2);
    sqlite3_bind_int64(x, 6, (sqlite3_int64) q->limit);
    while (*n < q->limit && (step = sqlite3_step(x)) == SQLITE_ROW) {
	cs_store_msg *m = v + (*n)++;

	m->owner = strdup(sq_col_text(x, 0));
	m->id = sqlite3_column_int64(x, 1);
	m->thread = sqlite3_column_int64(x, 2);
	m->raw = sqlite3_column_int64(x, 3);
	m->arrival = (time_t) sqlite3_column_int64(x, 4);
	m->has_date = sqlite3_column_type(x, 5) != SQLITE_NULL;
	m->date = (time_t) sqlite3_column_int64(x, 5);
	if (sqlite3_column_type(x, 6) != SQLITE_NULL && (m->subject = strdup(sq_col_text(x, 6))) == NULL)
	    rc = CS_EINTERNAL;
	for (int i = 0; i < 5; i++)
	    if ((m->lists[i] = strdup(sq_col_text(x, 7 + i))) == NULL)
		rc = CS_EINTERNAL;
	if (m->owner == NULL)
	    rc = CS_EINTERNAL;
    }
    if (*n < q->limit && step != SQLITE_DONE)
	rc = CS_EINTERNAL;
    sqlite3_reset(x);
    sq_read_end(s);
    if (rc != CS_OK) {
	cs_store_msgs_free(v, *n);
	*n = 0;
	return rc;
    }
    *out = v;
    return CS_OK;
}

/* sq_msg_raw - one raw message's bytes appended to out */
int     sq_msg_raw(cs_store *st, int64_t raw, cs_buf *out)
{
    sq_store *s = st->be;
    sqlite3_stmt *x;
    int     rc = CS_EINTERNAL;

    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((x = sq_stmt(&s->r, SQL_RAW)) != NULL) {
	sqlite3_bind_int64(x, 1, raw);
	if (sqlite3_step(x) == SQLITE_ROW)
	    rc = cs_buf_append(out, sqlite3_column_blob(x, 0),
			       (size_t) sqlite3_column_bytes(x, 0)) < 0 ? CS_EINTERNAL : CS_OK;
	else
	    rc = CS_ENOTFOUND;
	sqlite3_reset(x);
    }
    sq_read_end(s);
    return rc;
}

/* sq_msg_delete - one copy, its raw message if unshared; messages left */
int     sq_msg_delete(cs_store *st, const char *owner, int64_t id, int64_t *left)
{
    sq_store *s = st->be;
    sqlite3_stmt *x;
    sqlite3_int64 thread, raw;
    char   *msgid;
    int     rc;

    *left = -1;
    if ((x = sq_stmt(&s->w, SQL_DEL_ONE)) == NULL)
	return CS_EINTERNAL;
    sq_bind_str(x, 1, owner);
    sqlite3_bind_int64(x, 2, id);
    if (sqlite3_step(x) != SQLITE_ROW) {
	sqlite3_reset(x);
	return CS_ENOTFOUND;
    }
    thread = sqlite3_column_int64(x, 0);
    raw = sqlite3_column_int64(x, 1);
    if ((msgid = sqlite3_column_type(x, 2) == SQLITE_NULL ? NULL
	 : strdup(sq_col_text(x, 2))) == NULL && sqlite3_column_type(x, 2) != SQLITE_NULL) {
	sqlite3_reset(x);
	return CS_EINTERNAL;
    }
    rc = sq_run(x);
    if (rc == SQLITE_OK && msgid && (x = sq_stmt(&s->w, SQL_DEL_MSGID)) != NULL) {
	sq_bind_str(x, 1, owner);
	sq_bind_str(x, 2, msgid);
	rc = sq_run(x);
    }
    free(msgid);
    if (rc != SQLITE_OK || (x = sq_stmt(&s->w, SQL_DEL_RAW_FREE)) == NULL)
	return CS_EINTERNAL;
    sqlite3_bind_int64(x, 1, raw);
    if (sq_run(x) != SQLITE_OK || (x = sq_stmt(&s->w, SQL_THREAD_LEFT)) == NULL)
	return CS_EINTERNAL;
    sq_bind_str(x, 1, owner);
    sqlite3_bind_int64(x, 2, thread);
    if (sqlite3_step(x) == SQLITE_ROW)
	*left = sqlite3_column_int64(x, 0);
    return sq_run(x) == SQLITE_OK && *left >= 0 ? CS_OK : CS_EINTERNAL;
}

/* sq_erase_step - one enum cs_erase_step's statements, in order */
int     sq_erase_step(cs_store *st, int step, const char *key, int64_t id, long *changes)
{
    sq_conn *c = &((sq_store *) st->be)->w;
    const char *const *sql;
    sqlite3_stmt *x;

    for (sql = SQL_STEPS[step]; *sql; sql++) {
	if ((x = sq_stmt(c, *sql)) == NULL)
	    return CS_EINTERNAL;
	sq_bind_str(x, 1, key);
	if (sqlite3_bind_parameter_count(x) > 1)
	    sqlite3_bind_int64(x, 2, id);
	if (sq_run(x) != SQLITE_OK)
	    return CS_EINTERNAL;
	*changes = sqlite3_changes(c->db);
    }
    return CS_OK;
}

/*
 * sq_scrub - copy the zeroed pages home and empty the WAL, under wlock.
 * The checkpoint waits for readers through the busy handler while the
 * write connection is taken: a short wait here, so that the writer (the
 * milter's mail) is never held up long; the caller tries again.
 */
int     sq_scrub(cs_store *st)
{
    sqlite3 *db = ((sq_store *) st->be)->w.db;
    int     rc;

    pthread_mutex_lock(&st->wlock);
    sqlite3_busy_timeout(db, SQ_SCRUB_BUSY_MS);
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(db, st->timeout_ms > 0x7fffffffL ? 0x7fffffff : (int) st->timeout_ms);
    pthread_mutex_unlock(&st->wlock);
    if (rc == SQLITE_OK)
	return CS_OK;
    cs_debug(NULL, "store: checkpoint: %s", sqlite3_errmsg(db));
    return CS_EINTERNAL;
}
