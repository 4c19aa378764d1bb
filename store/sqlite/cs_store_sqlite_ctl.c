/*
 * NAME
 *	cs_store_sqlite_ctl 3
 * SUMMARY
 *	SQLite store backend: visibility (V1-V6), owner actions, K3, X2
 * DESCRIPTION
 *	The reads and writes behind crmsyncctl's CRM-facing commands. Who
 *	may see what is decided in exactly one place, the SQL fragments
 *	SQ_CAN_ACCESS (a user may access a deal or person: the record exists
 *	and the directory's access list names the user) and SQ_VISIBLE (a
 *	user may see a thread: it is theirs, or it is shared and linked to a
 *	record they may access, V3). Every statement that returns a thread,
 *	its messages or its raw bytes carries SQ_VISIBLE in its WHERE clause:
 *	nothing is read first and filtered afterwards, so a missing check is
 *	an empty answer, never a leak (V6).
 *
 *	Reads run on the read connection in one snapshot (BEGIN ... COMMIT).
 *	Writes run on the write connection under cs_store.wlock in one
 *	BEGIN IMMEDIATE transaction that first checks every named thread and
 *	only then changes anything (V4: all or nothing), writes one audit
 *	row and its X3 events, and commits (one fsync).
 *
 *	A hand unlink leaves a row in thread_unlinks; a trigger (migration 2)
 *	drops any later automatic link of the same thread to the same record,
 *	and a merge carries the rows to the surviving thread.
 *
 *	Deal and person pages read, on each link, a copy of its thread's
 *	last_date and visibility that triggers keep (migration link_dates):
 *	one index walk in page order that stops at the page's end.
 *
 *	Directory (X2): the snapshot is validated whole before the database
 *	is touched; then, in one transaction, Smart BCC and hand persons whose
 *	address the snapshot gives to a CRM person hand their thread links
 *	(and hand unlinks) over to it and are removed, the CRM's persons,
 *	deals, deal persons and access rows are replaced, and links to
 *	records that no longer exist are dropped. The CRM's access list is
 *	authoritative for the persons it takes over: the Smart BCC owner keeps
 *	access only if the CRM lists them.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_message.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_dir.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_read.h"
#include "cs_store_util.h"
#include "cs_store_sqlite.h"
#include "cs_store_rules.h"

/*
 * The access rules, the only place they are written. Arguments are SQL
 * expressions (a parameter such as "?1" or a column).
 */
/* R3: a user of the policy in force (active since the last sync); the
 * shared threads of an owner who left are read by nobody either. */
#define SQ_KNOWN(u) \
    "EXISTS (SELECT 1 FROM users ku WHERE ku.id=" u " AND ku.active=1)"
#define SQ_CAN_ACCESS(k, i, u) \
    "(" SQ_KNOWN(u) " AND EXISTS (SELECT 1 FROM access ca WHERE ca.user=" u \
    " AND ca.kind=" k " AND ca.id=" i ") AND CASE " k \
    " WHEN 'deal' THEN EXISTS (SELECT 1 FROM deals cd WHERE cd.id=" i ")" \
    " WHEN 'person' THEN EXISTS (SELECT 1 FROM persons cp WHERE cp.id=" i ")" \
    " ELSE 0 END)"
#define SQ_VISIBLE(t, u) \
    "(" SQ_KNOWN(u) " AND (" t ".owner=" u " OR (" t ".visibility='shared'" \
    " AND " SQ_KNOWN(t ".owner") " AND EXISTS (SELECT 1 FROM thread_links vl WHERE vl.owner=" t ".owner" \
    " AND vl.thread=" t ".id AND " SQ_CAN_ACCESS("vl.kind", "vl.id", u) "))))"

#define SQ_THREAD_COLS \
    "t.id, t.subject, t.visibility, t.message_count, t.first_date, t.last_date, t.owner," \
    " t.summary"

static const char SQL_TGET[] =
"SELECT " SQ_THREAD_COLS " FROM threads t WHERE t.id=?2 AND " SQ_VISIBLE("t", "?1");
#define SQL_TMSGS sq_sql_thread_messages
const char sq_sql_thread_messages[] =
"SELECT m.message_id, m.from_json, m.to_json, m.cc_json, m.date, m.sort_date, m.subject,"
" m.truncated, r.data FROM threads t JOIN messages m ON m.owner=t.owner AND m.thread=t.id"
" JOIN raw r ON r.id=m.raw WHERE t.id=?2 AND " SQ_VISIBLE("t", "?1")
" ORDER BY m.sort_date, m.id";
static const char SQL_TMSGS_OWN[] =
"SELECT m.message_id, m.truncated, r.data FROM threads t JOIN messages m"
" ON m.owner=t.owner AND m.thread=t.id JOIN raw r ON r.id=m.raw"
" WHERE t.id=?2 AND t.owner=?1 AND " SQ_VISIBLE("t", "?1") " ORDER BY m.sort_date, m.id";
/*
 * Lists (cs_store_list.c): ?1 is a JSON array of [owner, id] pairs of
 * threads that passed SQ_VISIBLE (or are the reader's own); json_each
 * walks it in order, each pair's place from 1.
 */
#define SQ_LIST_KEYS \
    "(SELECT key + 1 AS ord, json_extract(value, '$[0]') AS owner," \
    " json_extract(value, '$[1]') AS id FROM json_each(?1)) k"
static const char SQL_LIST_ADDRS[] =
"SELECT k.ord, m.from_json, m.to_json, m.cc_json, m.envelope FROM " SQ_LIST_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id ORDER BY k.ord, m.sort_date, m.id";
static const char SQL_LIST_LABELS[] =
"SELECT DISTINCT k.ord, l.label FROM " SQ_LIST_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id"
" JOIN message_labels l ON l.owner=m.owner AND l.message=m.id ORDER BY k.ord, l.label";
static const char SQL_LIST_LINKS[] =
"SELECT k.ord, tl.kind, tl.id FROM " SQ_LIST_KEYS
" JOIN thread_links tl ON tl.owner=k.owner AND tl.thread=k.id"
" WHERE " SQ_CAN_ACCESS("tl.kind", "tl.id", "?2") " ORDER BY k.ord, tl.kind, tl.id";
/* ?2 the addresses: the reader's own person first, then the CRM's (K5: both may exist). */
static const char SQL_LIST_PERSONS[] =
"SELECT k.key, (SELECT pe.person FROM person_emails pe WHERE pe.email=k.value"
" AND " SQ_CAN_ACCESS("'person'", "pe.person", "?1")
" ORDER BY pe.owner IS NOT ?1, pe.owner IS NOT NULL, pe.person LIMIT 1) FROM json_each(?2) k";
/* A thread's summary (migration summaries), and threads without one. */
static const char SQL_SUMMARY_GET[] =
"SELECT t.summary, EXISTS (SELECT 1 FROM messages m WHERE m.owner=t.owner AND m.thread=t.id"
" AND (m.sort_date>?3 OR (m.sort_date=?3 AND m.id>?4))),"
" NOT EXISTS (SELECT 1 FROM messages m WHERE m.owner=t.owner AND m.thread=t.id AND m.id<>?4)"
" FROM threads t WHERE t.owner=?1 AND t.id=?2";
static const char SQL_SUMMARY_SET[] = "UPDATE threads SET summary=?3 WHERE owner=?1 AND id=?2";
static const char SQL_SUMMARY_MISSING[] =
"SELECT owner, id FROM threads WHERE summary IS NULL LIMIT ?1";
static const char SQL_REC[] = "SELECT 1 WHERE " SQ_CAN_ACCESS("?2", "?3", "?1");
/*
 * A record's page walks thread_links_page (kind, id, last_date, thread)
 * backwards and stops after the limit: the link rows carry their
 * thread's last_date and visibility (kept by triggers, migration
 * link_dates), so the order needs no sort and another owner's private
 * threads are passed over inside the index. The copied visibility only
 * picks candidates; SQ_VISIBLE on the thread row decides, as everywhere.
 * CROSS JOIN keeps thread_links the outer loop. The last column is the
 * page key the cursor is made of.
 */
#define SQL_RT_HEAD \
    "SELECT " SQ_THREAD_COLS ", tl.last_date FROM thread_links tl CROSS JOIN threads t" \
    " ON t.owner=tl.owner AND t.id=tl.thread WHERE tl.kind=?2 AND tl.id=?3" \
    " AND (tl.owner=?1 OR tl.visibility='shared')" \
    " AND " SQ_CAN_ACCESS("?2", "?3", "?1") " AND " SQ_VISIBLE("t", "?1")
#define SQL_RT_ORDER " ORDER BY tl.last_date DESC, tl.thread DESC LIMIT ?4"
#define SQL_RT_FIRST sq_sql_record_page_first
const char sq_sql_record_page_first[] = SQL_RT_HEAD SQL_RT_ORDER;
static const char SQL_RT_NEXT[] =
SQL_RT_HEAD " AND (tl.last_date, tl.thread) < (?5, ?6)" SQL_RT_ORDER;
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id=?1";
/* The mailbox (V2): the reader's own threads, newest first; the page key is last_date. */
#define SQL_MB_HEAD "SELECT " SQ_THREAD_COLS ", t.last_date FROM threads t WHERE t.owner=?1"
#define SQL_MB_ORDER " ORDER BY t.last_date DESC, t.id DESC LIMIT ?2"
#define SQL_MB_AFTER " AND (t.last_date, t.id) < (?3, ?4)"
#define SQL_HAS_LABEL(p) \
    " AND EXISTS (SELECT 1 FROM messages m JOIN message_labels l" \
    " ON l.owner=m.owner AND l.message=m.id WHERE m.owner=t.owner" \
    " AND m.thread=t.id AND l.label=" p ")"
#define SQL_MB_FIRST sq_sql_mailbox_first
const char sq_sql_mailbox_first[] = SQL_MB_HEAD SQL_MB_ORDER;
static const char SQL_MB_NEXT[] = SQL_MB_HEAD SQL_MB_AFTER SQL_MB_ORDER;
static const char SQL_MBL_FIRST[] = SQL_MB_HEAD SQL_HAS_LABEL("?3") SQL_MB_ORDER;
static const char SQL_MBL_NEXT[] = SQL_MB_HEAD SQL_MB_AFTER SQL_HAS_LABEL("?5") SQL_MB_ORDER;
static const char SQL_VISIBLE_TO[] =
"SELECT u.id FROM users u JOIN threads t ON t.id=?1 WHERE " SQ_VISIBLE("t", "u.id")
" ORDER BY u.id";

/* Writes. */
static const char SQL_SET_VIS[] = "UPDATE threads SET visibility=?3 WHERE owner=?1 AND id=?2";
static const char SQL_DEL_RAWS[] =
"SELECT DISTINCT raw FROM messages WHERE owner=?1 AND thread=?2";
static const char SQL_DEL_MSGS[] = "DELETE FROM messages WHERE owner=?1 AND thread=?2";
static const char SQL_DEL_IDS[] = "DELETE FROM thread_msgids WHERE owner=?1 AND thread=?2";
static const char SQL_DEL_LINKS[] = "DELETE FROM thread_links WHERE owner=?1 AND thread=?2";
static const char SQL_DEL_UNLINKS[] = "DELETE FROM thread_unlinks WHERE owner=?1 AND thread=?2";
static const char SQL_DEL_THREAD[] = "DELETE FROM threads WHERE owner=?1 AND id=?2";
static const char SQL_DEL_RAW[] =
"DELETE FROM raw WHERE id=?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE raw=?1)";
static const char SQL_AUDIT[] = "INSERT INTO audit(who, at, what, threads) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_LINK_HAS[] =
"SELECT origin FROM thread_links WHERE owner=?1 AND thread=?2 AND kind=?3 AND id=?4";
static const char SQL_LINK_HAND[] =
"INSERT INTO thread_links(owner, thread, kind, id, origin) VALUES(?1, ?2, ?3, ?4, 'hand')"
" ON CONFLICT(owner, thread, kind, id) DO UPDATE SET origin='hand'";
static const char SQL_LINK_DEL[] =
"DELETE FROM thread_links WHERE owner=?1 AND thread=?2 AND kind=?3 AND id=?4";
static const char SQL_UNLINK_ADD[] =
"INSERT OR IGNORE INTO thread_unlinks(owner, thread, kind, id, at) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_UNLINK_DEL[] =
"DELETE FROM thread_unlinks WHERE owner=?1 AND thread=?2 AND kind=?3 AND id=?4";
static const char SQL_K_ADDRS[] =
"SELECT from_json, to_json, cc_json, reply_to_json, envelope FROM messages"
" WHERE owner=?1 AND thread=?2 ORDER BY sort_date, id";
static const char SQL_USER_ADDR[] = "SELECT 1 FROM user_addresses WHERE address=?1";
static const char SQL_PERSON_BY_EMAIL[] =
"SELECT p.id, p.name, pe.owner, " SQ_CAN_ACCESS("'person'", "p.id", "?2")
" FROM person_emails pe JOIN persons p ON p.id=pe.person WHERE pe.email=?1 ORDER BY p.id";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES(?1, ?2, ?3)";
static const char SQL_ACCESS_ADD[] =
"INSERT OR IGNORE INTO access(user, kind, id) VALUES(?1, ?2, ?3)";

/* Limits on what one command may name or import. */
#define SQ_MAX_ID	256

/* owner_stmt - a cached statement with owner and thread bound as ?1, ?2 */
static sqlite3_stmt *owner_stmt(sq_conn *c, const char *sql, const char *owner,
				        sqlite3_int64 thread)
{
    sqlite3_stmt *st = sq_stmt(c, sql);

    if (st) {
	sq_bind_str(st, 1, owner);
	sqlite3_bind_int64(st, 2, thread);
    }
    return st;
}

/* sq_read_begin - lock the read connection and open one snapshot */
int     sq_read_begin(sq_store *s)
{
    pthread_mutex_lock(&s->rlock);
    if (sqlite3_exec(s->r.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
	pthread_mutex_unlock(&s->rlock);
	return -1;
    }
    return 0;
}

/* sq_read_end - close the snapshot and unlock */
void    sq_read_end(sq_store *s)
{
    sq_reset_all(&s->r);
    sqlite3_exec(s->r.db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->rlock);
}

/* sq_act_tx_begin - a write transaction (wlock held) */
int     sq_act_tx_begin(cs_store *st, int what)
{
    sq_store *s = st->be;

    (void) what;			/* one writer per file already */
    if (s->w.db == NULL)
	return -1;
    return sqlite3_exec(s->w.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* sq_act_tx_end - commit when rc is CS_OK, else roll back */
int     sq_act_tx_end(cs_store *st, int rc)
{
    sq_store *s = st->be;

    sq_reset_all(&s->w);
    if (rc == CS_OK && sqlite3_exec(s->w.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
	cs_error(NULL, "store: commit: %s", sqlite3_errmsg(s->w.db));
	rc = CS_EINTERNAL;
    }
    if (rc != CS_OK)
	sqlite3_exec(s->w.db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* write_begin - take the write connection and open a write transaction */
static int write_begin(cs_store *st)
{
    sq_store *s = st->be;

    if (s->w.db == NULL)
	return -1;
    pthread_mutex_lock(&st->wlock);
    if (sq_act_tx_begin(st, CS_TX_PLAIN) < 0) {
	cs_error(NULL, "store: begin: %s", sqlite3_errmsg(s->w.db));
	pthread_mutex_unlock(&st->wlock);
	return -1;
    }
    return 0;
}

/* write_end - commit when rc is CS_OK, else roll back; release the connection */
static int write_end(cs_store *st, int rc)
{
    rc = sq_act_tx_end(st, rc);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

/* delete_thread - messages, unshared raw copies, threading ids, links, row */
static int delete_thread(sq_conn *c, const char *owner, sqlite3_int64 id)
{
    sqlite3_int64 *raws = NULL, *nr;
    size_t  n = 0, cap = 0, i;
    sqlite3_stmt *q;
    int     rc, step;

    if ((q = owner_stmt(c, SQL_DEL_RAWS, owner, id)) == NULL)
	return SQLITE_ERROR;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	if (n == cap) {
	    cap = cap ? 2 * cap : 16;
	    if ((nr = realloc(raws, cap * sizeof(*raws))) == NULL) {
		step = SQLITE_NOMEM;
		break;
	    }
	    raws = nr;
	}
	raws[n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    rc = step == SQLITE_DONE ? SQLITE_OK : step;
    /* Messages first: they refer to the thread (labels go with them). */
    if (rc == SQLITE_OK)
	rc = sq_run(owner_stmt(c, SQL_DEL_MSGS, owner, id));
    if (rc == SQLITE_OK)
	rc = sq_run(owner_stmt(c, SQL_DEL_IDS, owner, id));
    if (rc == SQLITE_OK)
	rc = sq_run(owner_stmt(c, SQL_DEL_LINKS, owner, id));
    if (rc == SQLITE_OK)
	rc = sq_run(owner_stmt(c, SQL_DEL_UNLINKS, owner, id));
    if (rc == SQLITE_OK)
	rc = sq_run(owner_stmt(c, SQL_DEL_THREAD, owner, id));
    /* A raw message stays while another copy (C3) still uses it. */
    for (i = 0; rc == SQLITE_OK && i < n; i++) {
	if ((q = sq_stmt(c, SQL_DEL_RAW)) == NULL) {
	    rc = SQLITE_ERROR;
	    break;
	}
	sqlite3_bind_int64(q, 1, raws[i]);
	rc = sq_run(q);
    }
    free(raws);
    return rc;
}

/* person_new - K3: a hand person owned by and accessible to as */
static int person_new(sq_conn *c, const char *as, const char *norm, const char *name,
		              time_t now, char *pid, size_t pidlen)
{
    sqlite3_stmt *q;
    sqlite3_int64 n = 0;
    int     rc;

    if ((rc = sq_counter_next(c, "person", &n)) != SQLITE_OK)
	return rc;
    if (n <= 0)
	return SQLITE_CORRUPT;
    snprintf(pid, pidlen, "hand-%lld", (long long) n);
    if ((q = sq_stmt(c, SQL_PERSON_NEW)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(q, 1, pid);
    sq_bind_str(q, 2, name);
    sq_bind_str(q, 3, "hand");
    sq_bind_str(q, 4, as);
    sqlite3_bind_int64(q, 5, (sqlite3_int64) now);
    if ((rc = sq_run(q)) != SQLITE_OK || (q = sq_stmt(c, SQL_PERSON_EMAIL)) == NULL)
	return rc ? rc : SQLITE_ERROR;
    sq_bind_str(q, 1, norm);
    sq_bind_str(q, 2, pid);
    sq_bind_str(q, 3, as);
    if ((rc = sq_run(q)) != SQLITE_OK || (q = sq_stmt(c, SQL_ACCESS_ADD)) == NULL)
	return rc ? rc : SQLITE_ERROR;
    sq_bind_str(q, 1, as);
    sq_bind_str(q, 2, "person");
    sq_bind_str(q, 3, pid);
    return sq_run(q);
}

/*
 * The owner actions' primitives (cs_store_act.h): the workflows are in
 * cs_store_share.c, cs_store_link.c and cs_store_contact.c.
 */
#define W(st)	(&((sq_store *) (st)->be)->w)
#define OK(rc)	((rc) == SQLITE_OK ? 0 : -1)

int     sq_act_begin(cs_store *st, const char *as, const char *address)
{
    (void) as;
    (void) address;
    return write_begin(st);
}

int     sq_act_end(cs_store *st, int rc)
{
    return write_end(st, rc);
}

int     sq_act_thread_delete(cs_store *st, const char *owner, long long id)
{
    return OK(delete_thread(W(st), owner, id));
}

int     sq_act_read_begin(cs_store *st)
{
    return sq_read_begin(st->be);
}

void    sq_act_read_end(cs_store *st)
{
    sq_read_end(st->be);
}

int     sq_act_person_new(cs_store *st, const char *as, const char *address, const char *name,
			          time_t now, char *id, size_t idlen)
{
    return OK(person_new(W(st), as, address, name, now, id, idlen));
}

int     sq_act_event_add(cs_store *st, const char *type, const char *owner, long long thread,
			         long long thread2, json_t *payload, json_t *content)
{
    return OK(sq_event_add_c(W(st), type, owner, thread, thread2, payload, content));
}

/* The CRM directory (X2). */
/* A CRM person's address: no owner (K5). */
static const char SQL_DIR_PERSON_EMAIL[] = "INSERT INTO person_emails(email, person) VALUES(?1, ?2)";
static const char SQL_TAKE_FIND[] =
"SELECT p.id FROM person_emails pe JOIN persons p ON p.id=pe.person"
" WHERE pe.email=?1 AND p.origin<>'crm' ORDER BY p.id LIMIT 1";
static const char SQL_TAKE_LINKS[] =
"UPDATE OR IGNORE thread_links SET id=?2 WHERE kind='person' AND id=?1";
static const char SQL_TAKE_LINKS_LEFT[] = "DELETE FROM thread_links WHERE kind='person' AND id=?1";
static const char SQL_TAKE_UNLINKS[] =
"UPDATE OR IGNORE thread_unlinks SET id=?2 WHERE kind='person' AND id=?1";
static const char SQL_TAKE_UNLINKS_LEFT[] =
"DELETE FROM thread_unlinks WHERE kind='person' AND id=?1";
static const char SQL_LOCAL_ACCESS_DEL[] = "DELETE FROM access WHERE kind='person' AND id=?1";
static const char SQL_LOCAL_DEL[] = "DELETE FROM persons WHERE id=?1 AND origin<>'crm'";
static const char SQL_DIR_CLEAR[] =
"DELETE FROM access WHERE kind='deal';"
"DELETE FROM access WHERE kind='person' AND id IN (SELECT id FROM persons WHERE origin='crm');"
"DELETE FROM deal_persons;"
"DELETE FROM deals;"
"DELETE FROM persons WHERE origin='crm';";
static const char SQL_DIR_PERSON[] =
"INSERT INTO persons(id, name, origin, owner, created) VALUES(?1, ?2, 'crm', NULL, ?3)";
static const char SQL_DIR_DEAL[] = "INSERT INTO deals(id, title, status) VALUES(?1, ?2, ?3)";
static const char SQL_DIR_DEAL_PERSON[] =
"INSERT OR IGNORE INTO deal_persons(deal, person) VALUES(?1, ?2)";
static const char SQL_DIR_DANGLING[] =
"DELETE FROM thread_links WHERE kind='deal' AND id NOT IN (SELECT id FROM deals);"
"DELETE FROM thread_links WHERE kind='person' AND id NOT IN (SELECT id FROM persons);"
"DELETE FROM thread_unlinks WHERE kind='deal' AND id NOT IN (SELECT id FROM deals);"
"DELETE FROM thread_unlinks WHERE kind='person' AND id NOT IN (SELECT id FROM persons);";

static const char SQL_DIR_ID[] =
"SELECT p.origin, pe.email FROM persons p LEFT JOIN person_emails pe ON pe.person=p.id"
" WHERE p.id=?1";


int     sq_act_dir_begin(cs_store *st)
{
    return write_begin(st);
}

int     sq_act_script(cs_store *st, const char *sql)
{
    return OK(sqlite3_exec(W(st)->db, sql, NULL, NULL, NULL));
}

/* This dialect's text of the statements written-once code runs (cs_store_db.h). */
const struct cs_sql sq_sql = {
    .tget = SQL_TGET,
    .set_vis = SQL_SET_VIS,
    .visible_to = SQL_VISIBLE_TO,
    .rec = SQL_REC,
    .audit = SQL_AUDIT,
    .link_has = SQL_LINK_HAS,
    .link_hand = SQL_LINK_HAND,
    .link_del = SQL_LINK_DEL,
    .unlink_add = SQL_UNLINK_ADD,
    .unlink_del = SQL_UNLINK_DEL,
    .k_addrs = SQL_K_ADDRS,
    .user_addr = SQL_USER_ADDR,
    .person_by_email = SQL_PERSON_BY_EMAIL,
    .access_add = SQL_ACCESS_ADD,
    .dir_id = SQL_DIR_ID,
    .take_find = SQL_TAKE_FIND,
    .take_links = SQL_TAKE_LINKS,
    .take_links_left = SQL_TAKE_LINKS_LEFT,
    .take_unlinks = SQL_TAKE_UNLINKS,
    .take_unlinks_left = SQL_TAKE_UNLINKS_LEFT,
    .local_access_del = SQL_LOCAL_ACCESS_DEL,
    .local_del = SQL_LOCAL_DEL,
    .dir_clear = SQL_DIR_CLEAR,
    .dir_person = SQL_DIR_PERSON,
    .dir_person_email = SQL_DIR_PERSON_EMAIL,
    .dir_deal = SQL_DIR_DEAL,
    .dir_deal_person = SQL_DIR_DEAL_PERSON,
    .dir_dangling = SQL_DIR_DANGLING,
    .users_off = "UPDATE users SET active=0",
    .addr_clear = "DELETE FROM user_addresses",
    .user_upsert = "INSERT INTO users(id, role, active) VALUES(?1, ?2, 1)"
	" ON CONFLICT(id) DO UPDATE SET role=excluded.role, active=1",
    .addr_add = "INSERT OR IGNORE INTO user_addresses(user, address) VALUES(?1, ?2)",
    .ev_retry = "UPDATE events SET state='pending', next_try=0, done_at=NULL WHERE state='failed'",
    .crm_persons = "SELECT DISTINCT pe.person FROM person_emails pe JOIN persons p"
	" ON p.id=pe.person WHERE pe.email=?1 AND p.origin='crm' ORDER BY pe.person",
    .tmsgs = SQL_TMSGS,
    .tmsgs_own = SQL_TMSGS_OWN,
    .stat_schema = "PRAGMA user_version",
    .stat_db_bytes = "SELECT page_count*page_size FROM pragma_page_count, pragma_page_size",
    .stat_counter = "SELECT coalesce(sum(value),0) FROM counters WHERE name=?1",
    CS_SQL_LISTS,
};
