/*
 * NAME
 *	cs_store_pg_ctl 3
 * SUMMARY
 *	PostgreSQL store backend: visibility (V1-V6), owner actions, K3, X2
 * DESCRIPTION
 *	The PostgreSQL form of cs_store_sqlite_ctl.c, statement for
 *	statement but for lists. Who may see what is decided in one place,
 *	the SQL fragments PG_CAN_ACCESS and PG_VISIBLE (the SQLite backend's
 *	SQ_CAN_ACCESS and SQ_VISIBLE): every statement that returns a
 *	thread, its messages or its raw bytes carries PG_VISIBLE in its
 *	WHERE clause, so a missing right is an empty answer (V6); the
 *	statements that fill in the participants, labels and links of the
 *	threads it answered (cs_store_list.c, a constant number of round
 *	trips per list) take only those rows' keys, in the same snapshot.
 *
 *	Reads run on the read connection in one REPEATABLE READ READ ONLY
 *	snapshot. Owner actions run on the write connection in one
 *	transaction that first takes the acting user's mailbox lock (the
 *	writers' "o:" bucket, so a record on another host cannot interleave
 *	with a share, delete or link of the same mailbox), then checks every
 *	named thread before changing anything (V4), writes an audit row and
 *	its X3 events, and commits. K3 also takes the address's "e:" bucket,
 *	in the same sorted statement, like a Smart BCC writer; a delete
 *	takes the "r:" buckets of the raw messages it may remove, so a
 *	writer about to reuse one waits for it.
 *
 *	The directory import (X2) takes its own advisory lock so that two
 *	imports never interleave.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

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
#include "cs_store_pg.h"
#include "cs_store_rules.h"

/*
 * The access rules, the only place they are written. Arguments are SQL
 * expressions (a parameter such as "$1::text" or a column).
 */
/* R3: a user of the policy in force (active since the last sync). */
#define PG_KNOWN(u) \
    "EXISTS (SELECT 1 FROM users ku WHERE ku.id=" u " AND ku.active=1)"
#define PG_CAN_ACCESS(k, i, u) \
    "(" PG_KNOWN(u) " AND EXISTS (SELECT 1 FROM access ca WHERE ca.\"user\"=" u \
    " AND ca.kind=" k " AND ca.id=" i ") AND CASE " k \
    " WHEN 'deal' THEN EXISTS (SELECT 1 FROM deals cd WHERE cd.id=" i ")" \
    " WHEN 'person' THEN EXISTS (SELECT 1 FROM persons cp WHERE cp.id=" i ")" \
    " ELSE false END)"
#define PG_VISIBLE(t, u) \
    "(" PG_KNOWN(u) " AND (" t ".owner=" u " OR (" t ".visibility='shared'" \
    " AND " PG_KNOWN(t ".owner") " AND EXISTS (SELECT 1 FROM thread_links vl WHERE vl.owner=" t ".owner" \
    " AND vl.thread=" t ".id AND " PG_CAN_ACCESS("vl.kind", "vl.id", u) "))))"

#define PG_THREAD_COLS \
    "t.id, t.subject, t.visibility, t.message_count, t.first_date, t.last_date, t.owner," \
    " t.summary"

static const char SQL_TGET[] =
"SELECT " PG_THREAD_COLS " FROM threads t WHERE t.id=$2::bigint AND " PG_VISIBLE("t", "$1::text");
static const char SQL_TMSGS[] =
"SELECT m.message_id, m.from_json, m.to_json, m.cc_json, m.date, m.sort_date, m.subject,"
" m.truncated, r.data FROM threads t JOIN messages m ON m.owner=t.owner AND m.thread=t.id"
" JOIN raw r ON r.id=m.raw WHERE t.id=$2::bigint AND " PG_VISIBLE("t", "$1::text")
" ORDER BY m.sort_date, m.id";
static const char SQL_TMSGS_OWN[] =
"SELECT m.message_id, m.truncated, r.data FROM threads t JOIN messages m"
" ON m.owner=t.owner AND m.thread=t.id JOIN raw r ON r.id=m.raw"
" WHERE t.id=$2::bigint AND t.owner=$1::text AND " PG_VISIBLE("t", "$1::text")
" ORDER BY m.sort_date, m.id";
static const char SQL_REC[] = "SELECT 1 WHERE " PG_CAN_ACCESS("$2::text", "$3::text", "$1::text");
/*
 * A record's page: thread_links_page read backwards, stopping at the
 * limit; the copied last_date and visibility (migration 3) order the
 * links and skip other owners' private threads inside the index.
 * PG_VISIBLE on the thread row decides. The last column is the page
 * key the cursor is made of.
 */
#define SQL_RT_HEAD \
    "SELECT " PG_THREAD_COLS ", tl.last_date FROM thread_links tl JOIN threads t" \
    " ON t.owner=tl.owner AND t.id=tl.thread WHERE tl.kind=$2::text AND tl.id=$3::text" \
    " AND (tl.owner=$1::text OR tl.visibility='shared')" \
    " AND " PG_CAN_ACCESS("$2::text", "$3::text", "$1::text") " AND " PG_VISIBLE("t", "$1::text")
#define SQL_RT_ORDER " ORDER BY tl.last_date DESC, tl.thread DESC LIMIT $4"
static const char SQL_RT_FIRST[] = SQL_RT_HEAD SQL_RT_ORDER;
static const char SQL_RT_NEXT[] =
SQL_RT_HEAD " AND (tl.last_date, tl.thread) < ($5::bigint, $6::bigint)" SQL_RT_ORDER;
static const char SQL_VISIBLE_TO[] =
"SELECT u.id FROM users u JOIN threads t ON t.id=$1::bigint WHERE " PG_VISIBLE("t", "u.id")
" ORDER BY u.id";

/* Writes. */
static const char SQL_SET_VIS[] = "UPDATE threads SET visibility=$3 WHERE owner=$1 AND id=$2";
static const char SQL_DEL_RAWS[] =
"SELECT DISTINCT m.raw, r.sha256 FROM messages m JOIN raw r ON r.id=m.raw"
" WHERE m.owner=$1 AND m.thread=$2";
static const char SQL_DEL_MSGS[] = "DELETE FROM messages WHERE owner=$1 AND thread=$2";
static const char SQL_DEL_IDS[] = "DELETE FROM thread_msgids WHERE owner=$1 AND thread=$2";
static const char SQL_DEL_LINKS[] = "DELETE FROM thread_links WHERE owner=$1 AND thread=$2";
static const char SQL_DEL_UNLINKS[] = "DELETE FROM thread_unlinks WHERE owner=$1 AND thread=$2";
static const char SQL_DEL_THREAD[] = "DELETE FROM threads WHERE owner=$1 AND id=$2";
static const char SQL_DEL_RAW[] =
"DELETE FROM raw WHERE id=$1::bigint AND NOT EXISTS (SELECT 1 FROM messages WHERE raw=$1::bigint)";
static const char SQL_AUDIT[] = "INSERT INTO audit(who, at, what, threads) VALUES($1, $2, $3, $4)";
static const char SQL_LINK_HAS[] =
"SELECT origin FROM thread_links WHERE owner=$1 AND thread=$2 AND kind=$3 AND id=$4";
static const char SQL_LINK_HAND[] =
"INSERT INTO thread_links(owner, thread, kind, id, origin) VALUES($1, $2, $3, $4, 'hand')"
" ON CONFLICT(owner, thread, kind, id) DO UPDATE SET origin='hand'";
static const char SQL_LINK_DEL[] =
"DELETE FROM thread_links WHERE owner=$1 AND thread=$2 AND kind=$3 AND id=$4";
static const char SQL_UNLINK_ADD[] =
"INSERT INTO thread_unlinks(owner, thread, kind, id, at) VALUES($1, $2, $3, $4, $5)"
" ON CONFLICT DO NOTHING";
static const char SQL_UNLINK_DEL[] =
"DELETE FROM thread_unlinks WHERE owner=$1 AND thread=$2 AND kind=$3 AND id=$4";
static const char SQL_K_ADDRS[] =
"SELECT from_json, to_json, cc_json, reply_to_json, envelope FROM messages"
" WHERE owner=$1 AND thread=$2 ORDER BY sort_date, id";
static const char SQL_USER_ADDR[] = "SELECT 1 FROM user_addresses WHERE address=$1";
static const char SQL_PERSON_BY_EMAIL[] =
"SELECT p.id, p.name, pe.owner, " PG_CAN_ACCESS("'person'", "p.id", "$2::text") "::int"
" FROM person_emails pe JOIN persons p ON p.id=pe.person WHERE pe.email=$1 ORDER BY p.id";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created)"
" VALUES('hand-' || nextval('person_ids'), $1, 'hand', $2, $3) RETURNING id";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES($1, $2, $3)";
static const char SQL_ACCESS_ADD[] =
"INSERT INTO access(\"user\", kind, id) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";
static const char SQL_DIR_LOCK[] = "SELECT pg_advisory_xact_lock($1::integer, $2::integer)";
#define SQL_USERS_LOCK SQL_DIR_LOCK

/* Limits on what one command may name or import. */
#define PG_MAX_ID	256

/*
 * Lists (cs_store_list.c): $1 is a JSON array of [owner, id] pairs of
 * threads that passed PG_VISIBLE (or are the reader's own), unnested in
 * order, each pair's place from 1.
 */
#define PG_LIST_KEYS \
    "(SELECT k.ord, k.v->>0 AS owner, (k.v->>1)::bigint AS id" \
    " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY k(v, ord)) k"
static const char SQL_LIST_ADDRS[] =
"SELECT k.ord, m.from_json, m.to_json, m.cc_json, m.envelope FROM " PG_LIST_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id ORDER BY k.ord, m.sort_date, m.id";
static const char SQL_LIST_LABELS[] =
"SELECT k.ord, l.label FROM " PG_LIST_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id"
" JOIN message_labels l ON l.owner=m.owner AND l.message=m.id"
" GROUP BY k.ord, l.label ORDER BY k.ord, l.label";
static const char SQL_LIST_LINKS[] =
"SELECT k.ord, tl.kind, tl.id FROM " PG_LIST_KEYS
" JOIN thread_links tl ON tl.owner=k.owner AND tl.thread=k.id"
" WHERE " PG_CAN_ACCESS("tl.kind", "tl.id", "$2::text") " ORDER BY k.ord, tl.kind, tl.id";
/*
 * $2 the addresses: a row for each, its person or NULL. The lookup is
 * the one-address statement's, run per address: a join on all of them
 * at once plans its PG_CAN_ACCESS as a hash of every person instead of
 * a probe for each.
 */
static const char SQL_LIST_PERSONS[] =
"SELECT k.ord - 1, (SELECT pe.person FROM person_emails pe WHERE pe.email=k.email"
" AND " PG_CAN_ACCESS("'person'", "pe.person", "$1::text")
" ORDER BY pe.owner IS DISTINCT FROM $1::text, pe.owner IS NOT NULL, pe.person LIMIT 1)"
" FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY k(email, ord)";
/* A thread's summary (step 6), and threads without one. */
static const char SQL_SUMMARY_GET[] =
"SELECT t.summary, EXISTS (SELECT 1 FROM messages m WHERE m.owner=t.owner AND m.thread=t.id"
" AND (m.sort_date>$3::bigint OR (m.sort_date=$3::bigint AND m.id>$4::bigint)))::int,"
" (NOT EXISTS (SELECT 1 FROM messages m WHERE m.owner=t.owner AND m.thread=t.id"
" AND m.id<>$4::bigint))::int FROM threads t WHERE t.owner=$1::text AND t.id=$2::bigint";
static const char SQL_SUMMARY_SET[] =
"UPDATE threads SET summary=$3::text WHERE owner=$1::text AND id=$2::bigint";
static const char SQL_SUMMARY_MISSING[] =
"SELECT owner, id FROM threads WHERE summary IS NULL LIMIT $1::bigint";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id=$1";
/* The mailbox (V2): the reader's own threads, newest first; the page key is last_date. */
#define SQL_MB_HEAD "SELECT " PG_THREAD_COLS ", t.last_date FROM threads t WHERE t.owner=$1::text"
#define SQL_MB_ORDER " ORDER BY t.last_date DESC, t.id DESC LIMIT $2"
#define SQL_MB_AFTER " AND (t.last_date, t.id) < ($3::bigint, $4::bigint)"
#define SQL_HAS_LABEL(p) \
    " AND EXISTS (SELECT 1 FROM messages m JOIN message_labels l" \
    " ON l.owner=m.owner AND l.message=m.id WHERE m.owner=t.owner" \
    " AND m.thread=t.id AND l.label=" p ")"
static const char SQL_MB_FIRST[] = SQL_MB_HEAD SQL_MB_ORDER;
static const char SQL_MB_NEXT[] = SQL_MB_HEAD SQL_MB_AFTER SQL_MB_ORDER;
static const char SQL_MBL_FIRST[] = SQL_MB_HEAD SQL_HAS_LABEL("$3::text") SQL_MB_ORDER;
static const char SQL_MBL_NEXT[] = SQL_MB_HEAD SQL_MB_AFTER SQL_HAS_LABEL("$5::text") SQL_MB_ORDER;

/* read_begin - lock the read connection and open one snapshot */
static int read_begin(pg_store *s)
{
    pthread_mutex_lock(&s->rlock);
    if (pg_begin(s, &s->r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0) {
	cs_error(NULL, "store: read: %s", s->r.msg);
	pthread_mutex_unlock(&s->rlock);
	return -1;
    }
    return 0;
}

/* read_end - close the snapshot and unlock */
static void read_end(pg_store *s)
{
    pg_cmd(&s->r, "COMMIT");
    pthread_mutex_unlock(&s->rlock);
}

/* pg_act_tx_begin - a transaction on the write connection (wlock held) */
int     pg_act_tx_begin(cs_store *st, int what)
{
    pg_store *s = st->be;

    if (s->readonly)
	return -1;
    if (pg_begin(s, &s->w, "BEGIN") == 0
	&& (what != CS_TX_USERS || pg_x(&s->w, SQL_USERS_LOCK, "ii", (long long) PG_LOCK_CLASS,
					(long long) PG_LOCK_USERS) == 0))
	return 0;
    if (s->w.pc && PQstatus(s->w.pc) == CONNECTION_OK)
	pg_cmd(&s->w, "ROLLBACK");
    return -1;
}

/* pg_act_tx_end - commit when rc is CS_OK, else roll back */
int     pg_act_tx_end(cs_store *st, int rc)
{
    pg_store *s = st->be;

    if (rc == CS_OK && pg_cmd(&s->w, "COMMIT") < 0) {
	cs_error(NULL, "store: commit: %s", s->w.msg);
	rc = CS_EINTERNAL;
    }
    if (rc != CS_OK && s->w.pc && PQstatus(s->w.pc) == CONNECTION_OK)
	pg_cmd(&s->w, "ROLLBACK");
    return rc;
}

/* write_begin - take the write connection, open a transaction, lock buckets */
static int write_begin(cs_store *st, int *buckets, size_t nb)
{
    pg_store *s = st->be;

    if (s->readonly)
	return -1;
    pthread_mutex_lock(&st->wlock);
    if (pg_act_tx_begin(st, CS_TX_PLAIN) == 0) {
	if (pg_lock_buckets(&s->w, buckets, nb) == 0)
	    return 0;
	pg_act_tx_end(st, CS_EINTERNAL);
    }
    cs_error(NULL, "store: begin: %s", s->w.msg);
    pthread_mutex_unlock(&st->wlock);
    return -1;
}

/* write_end - commit when rc is CS_OK, else roll back; release the connection */
static int write_end(cs_store *st, int rc)
{
    rc = pg_act_tx_end(st, rc);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

/* delete_thread - messages, unshared raw copies, threading ids, links, row */
static int delete_thread(pg_conn *c, const char *owner, long long id)
{
    PGresult *q;
    long long *raws = NULL;
    int    *bk = NULL;
    int     rc = 0, n, i;

    if ((q = pg_q(c, SQL_DEL_RAWS, "si", owner, id)) == NULL)
	return -1;
    n = PQntuples(q);
    if (n && ((raws = calloc((size_t) n, sizeof(*raws))) == NULL
	      || (bk = calloc((size_t) n, sizeof(*bk))) == NULL))
	rc = -1;
    for (i = 0; rc == 0 && i < n; i++) {
	raws[i] = pg_int(q, i, 0);
	bk[i] = pg_bucket("r:", pg_text(q, i, 1));
    }
    PQclear(q);
    /* A writer reusing one of these raw messages holds its bucket. */
    if (rc == 0)
	rc = pg_lock_buckets(c, bk, (size_t) n);
    if (rc == 0)
	rc = pg_x(c, SQL_DEL_MSGS, "si", owner, id);
    if (rc == 0)
	rc = pg_x(c, SQL_DEL_IDS, "si", owner, id);
    if (rc == 0)
	rc = pg_x(c, SQL_DEL_LINKS, "si", owner, id);
    if (rc == 0)
	rc = pg_x(c, SQL_DEL_UNLINKS, "si", owner, id);
    if (rc == 0)
	rc = pg_x(c, SQL_DEL_THREAD, "si", owner, id);
    /* A raw message stays while another copy (C3) still uses it. */
    for (i = 0; rc == 0 && i < n; i++)
	rc = pg_x(c, SQL_DEL_RAW, "i", raws[i]);
    free(raws);
    free(bk);
    return rc;
}

/*
 * The owner actions' primitives (cs_store_act.h): the workflows are in
 * cs_store_share.c, cs_store_link.c and cs_store_contact.c.
 */
#define W(st)	(&((pg_store *) (st)->be)->w)

int     pg_act_begin(cs_store *st, const char *as, const char *address)
{
    /* The mailbox and the address, in the writers' order. */
    int     b[2] = {pg_bucket("o:", as), address ? pg_bucket("e:", address) : 0};

    return write_begin(st, b, address ? 2 : 1);
}

int     pg_act_end(cs_store *st, int rc)
{
    return write_end(st, rc);
}

int     pg_act_thread_delete(cs_store *st, const char *owner, long long id)
{
    return delete_thread(W(st), owner, id) < 0 ? -1 : 0;
}

int     pg_act_read_begin(cs_store *st)
{
    return read_begin(st->be);
}

void    pg_act_read_end(cs_store *st)
{
    read_end(st->be);
}

int     pg_act_person_new(cs_store *st, const char *as, const char *address, const char *name,
			          time_t now, char *id, size_t idlen)
{
    pg_conn *c = W(st);
    PGresult *q;

    if ((q = pg_q(c, SQL_PERSON_NEW, "ssi", name, as, (long long) now)) == NULL)
	return -1;
    snprintf(id, idlen, "%s", PQntuples(q) ? pg_text(q, 0, 0) : "");
    PQclear(q);
    if (pg_x(c, SQL_PERSON_EMAIL, "sss", address, id, as) < 0
	|| pg_x(c, SQL_ACCESS_ADD, "sss", as, "person", id) < 0)
	return -1;
    return 0;
}

int     pg_act_event_add(cs_store *st, const char *type, const char *owner, long long thread,
			         long long thread2, json_t *payload, json_t *content)
{
    return pg_event_add(W(st), type, owner, thread, thread2, payload, content) < 0 ? -1 : 0;
}

/* The CRM directory (X2). */
/* A CRM person's address: no owner (K5). */
static const char SQL_DIR_PERSON_EMAIL[] = "INSERT INTO person_emails(email, person) VALUES($1, $2)";
static const char SQL_TAKE_FIND[] =
"SELECT p.id FROM person_emails pe JOIN persons p ON p.id=pe.person"
" WHERE pe.email=$1 AND p.origin<>'crm' ORDER BY p.id LIMIT 1";
/* SQLite's UPDATE OR IGNORE: move the rows that do not collide, drop the rest. */
static const char SQL_TAKE_LINKS[] =
"UPDATE thread_links l SET id=$2 WHERE l.kind='person' AND l.id=$1 AND NOT EXISTS"
" (SELECT 1 FROM thread_links x WHERE x.owner=l.owner AND x.thread=l.thread"
" AND x.kind='person' AND x.id=$2)";
static const char SQL_TAKE_LINKS_LEFT[] = "DELETE FROM thread_links WHERE kind='person' AND id=$1";
static const char SQL_TAKE_UNLINKS[] =
"UPDATE thread_unlinks l SET id=$2 WHERE l.kind='person' AND l.id=$1 AND NOT EXISTS"
" (SELECT 1 FROM thread_unlinks x WHERE x.owner=l.owner AND x.thread=l.thread"
" AND x.kind='person' AND x.id=$2)";
static const char SQL_TAKE_UNLINKS_LEFT[] =
"DELETE FROM thread_unlinks WHERE kind='person' AND id=$1";
static const char SQL_LOCAL_ACCESS_DEL[] = "DELETE FROM access WHERE kind='person' AND id=$1";
static const char SQL_LOCAL_DEL[] = "DELETE FROM persons WHERE id=$1 AND origin<>'crm'";
static const char SQL_DIR_CLEAR[] =
"DELETE FROM access WHERE kind='deal';"
"DELETE FROM access WHERE kind='person' AND id IN (SELECT id FROM persons WHERE origin='crm');"
"DELETE FROM deal_persons;"
"DELETE FROM deals;"
"DELETE FROM persons WHERE origin='crm';";
static const char SQL_DIR_PERSON[] =
"INSERT INTO persons(id, name, origin, owner, created) VALUES($1, $2, 'crm', NULL, $3)";
static const char SQL_DIR_DEAL[] = "INSERT INTO deals(id, title, status) VALUES($1, $2, $3)";
static const char SQL_DIR_DEAL_PERSON[] =
"INSERT INTO deal_persons(deal, person) VALUES($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_DIR_DANGLING[] =
"DELETE FROM thread_links WHERE kind='deal' AND id NOT IN (SELECT id FROM deals);"
"DELETE FROM thread_links WHERE kind='person' AND id NOT IN (SELECT id FROM persons);"
"DELETE FROM thread_unlinks WHERE kind='deal' AND id NOT IN (SELECT id FROM deals);"
"DELETE FROM thread_unlinks WHERE kind='person' AND id NOT IN (SELECT id FROM persons);";

static const char SQL_DIR_ID[] =
"SELECT p.origin, pe.email FROM persons p LEFT JOIN person_emails pe ON pe.person=p.id"
" WHERE p.id=$1";

int     pg_act_dir_begin(cs_store *st)
{
    if (write_begin(st, NULL, 0) < 0)
	return -1;
    /* One import at a time across the fleet. */
    if (pg_x(W(st), SQL_DIR_LOCK, "ii", (long long) PG_LOCK_CLASS,
	     (long long) PG_LOCK_DIRECTORY) < 0) {
	write_end(st, CS_EINTERNAL);
	return -1;
    }
    return 0;
}

int     pg_act_script(cs_store *st, const char *sql)
{
    return pg_cmd(W(st), sql);
}

/* This dialect's text of the statements written-once code runs (cs_store_db.h). */
const struct cs_sql pg_sql = {
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
    .user_upsert = "INSERT INTO users(id, role, active) VALUES($1, $2, 1)"
	" ON CONFLICT(id) DO UPDATE SET role=excluded.role, active=1",
    .addr_add = "INSERT INTO user_addresses(\"user\", address) VALUES($1, $2) ON CONFLICT DO NOTHING",
    .ev_retry = "UPDATE events SET state='pending', next_try=0, done_at=NULL WHERE state='failed'",
    .crm_persons = "SELECT DISTINCT pe.person FROM person_emails pe JOIN persons p"
	" ON p.id=pe.person WHERE pe.email=$1 AND p.origin='crm' ORDER BY pe.person",
    .tmsgs = SQL_TMSGS,
    .tmsgs_own = SQL_TMSGS_OWN,
    .stat_schema = "SELECT coalesce(max(version), 0) FROM schema_version",
    .stat_db_bytes = "SELECT pg_database_size(current_database())",
    .stat_counter = "SELECT coalesce(sum(value),0) FROM counters WHERE name=$1",
    CS_SQL_LISTS,
};
