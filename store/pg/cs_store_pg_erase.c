/*
 * NAME
 *	cs_store_pg_erase 3
 * SUMMARY
 *	PostgreSQL store backend: the primitives of erasure and retention (R1-R3)
 * DESCRIPTION
 *	The same small steps as cs_store_sqlite_erase.c, in PostgreSQL's
 *	dialect; the workflows are cs_store_subject.c and
 *	cs_store_retention.c. A deleted copy takes its mailbox's and its raw
 *	message's advisory lock buckets (F1) first, so that no other host's
 *	writer adds to the thread or shares the raw row meanwhile. Lock
 *	order differs from the writers' ascending order across copies: a
 *	deadlock is detected by the server and rolls back one transaction,
 *	at worst this batch, which cs_store_erase_copies tries again.
 *
 *	pg_scrub runs VACUUM on the tables that held deleted rows, outside
 *	any transaction: dead tuples are removed and their space marked
 *	free (PostgreSQL does not zero it: new rows overwrite it); the WAL
 *	and a WAL archive keep the rows until they are recycled or expire
 *	(crmsyncctl(1), DATA-SUBJECT REQUESTS).
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_log.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_pg.h"

/* As SQLite's: the keyset stands alone; one mailbox is a range of its own. */
#define PGX_COLS \
    "SELECT m.owner, m.id, m.thread, m.raw, m.arrival, m.date, m.subject," \
    " m.from_json, m.to_json, m.cc_json, m.reply_to_json, m.envelope FROM messages m"
#define PGX_FILTER \
    " AND ($2::bigint IS NULL OR least(coalesce(m.date, m.arrival), m.arrival) < $2::bigint)" \
    " AND ($3::text IS NULL OR strpos(lower(m.from_json || m.to_json || m.cc_json" \
    " || m.reply_to_json || m.envelope), $3) > 0)" \
    " AND ($7::text IS NULL OR strpos(lower(m.from_json || m.to_json || m.cc_json" \
    " || m.reply_to_json || m.envelope), $7) > 0)"
static const char PGX_LIST[] =
PGX_COLS " WHERE (m.owner, m.id) > ($4::text, $5::bigint) AND $1::text IS NULL" PGX_FILTER
" ORDER BY m.owner, m.id LIMIT $6::bigint";
static const char PGX_LIST_OWNER[] =
PGX_COLS " WHERE m.owner=$1::text AND m.id > $5::bigint AND $4::text IS NOT NULL" PGX_FILTER
" ORDER BY m.owner, m.id LIMIT $6::bigint";
static const char PGX_RAW[] = "SELECT data FROM raw WHERE id=$1::bigint";
static const char PGX_RAW_SHA[] =
"SELECT r.sha256 FROM messages m JOIN raw r ON r.id=m.raw WHERE m.owner=$1 AND m.id=$2::bigint";
static const char PGX_DEL_ONE[] =
"DELETE FROM messages WHERE owner=$1 AND id=$2::bigint RETURNING thread, raw, message_id";
/* Its own Message-ID leaves its thread's threading ids (T1) too. */
static const char PGX_DEL_MSGID[] =
"DELETE FROM thread_msgids WHERE owner=$1 AND msgid=$2"
" AND NOT EXISTS (SELECT 1 FROM messages WHERE owner=$1 AND message_id=$2)";
static const char PGX_DEL_RAW_FREE[] =
"DELETE FROM raw WHERE id=$1::bigint AND NOT EXISTS (SELECT 1 FROM messages WHERE raw=$1::bigint)";
static const char PGX_THREAD_LEFT[] =
"UPDATE threads SET message_count=(SELECT count(*) FROM messages"
" WHERE owner=$1 AND thread=$2::bigint) WHERE owner=$1 AND id=$2::bigint RETURNING message_count";
/* enum cs_erase_step: each a list ended by NULL; $1 the key, $2 the id. */
typedef struct pg_step {
    const char *sql;
    const char *types;			/* pg_q's: the key, then the id */
} pg_step;
static const pg_step PGX_THREAD_DROP[] = {
    {"DELETE FROM thread_msgids WHERE owner=$1 AND thread=$2::bigint", "si"},
    {"DELETE FROM thread_links WHERE owner=$1 AND thread=$2::bigint", "si"},
    {"DELETE FROM thread_unlinks WHERE owner=$1 AND thread=$2::bigint", "si"},
    {"DELETE FROM threads WHERE owner=$1 AND id=$2::bigint", "si"},
    {NULL, NULL},
};
#define PGX_MADE "(SELECT pe.person FROM person_emails pe JOIN persons p ON p.id=pe.person" \
    " WHERE pe.email=$1 AND p.origin<>'crm')"
/*
 * Kept events must not name the address (R2): person.created events go
 * with their persons; others that hold its local part and domain keep
 * only their ids (V6's private form); what still names it then goes.
 */
#define PGX_NAMES "strpos(lower(payload), '@' || split_part($1, '@', 2)) > 0" \
    " AND strpos(lower(payload), split_part($1, '@', 1)) > 0"
static const pg_step PGX_MADE_DROP[] = {
    {"DELETE FROM events WHERE type='person.created' AND ((payload::json->>'person')"
     " IN " PGX_MADE " OR lower(payload::json->>'address')=$1)", "s"},
    {"UPDATE events SET payload=((payload::jsonb) - 'subject' - 'participants')::text"
     " WHERE " PGX_NAMES, "s"},
    {"DELETE FROM events WHERE " PGX_NAMES, "s"},
    {"DELETE FROM thread_links WHERE kind='person' AND id IN " PGX_MADE, "s"},
    {"DELETE FROM thread_unlinks WHERE kind='person' AND id IN " PGX_MADE, "s"},
    {"DELETE FROM access WHERE kind='person' AND id IN " PGX_MADE, "s"},
    {"DELETE FROM persons WHERE origin<>'crm' AND id IN " PGX_MADE, "s"},
    {NULL, NULL},
};
#define PGX_OWNED "(SELECT id FROM persons WHERE owner=$1 AND origin<>'crm')"
static const pg_step PGX_USER_DROP[] = {
    {"DELETE FROM events WHERE type='person.created' AND owner=$1", "s"},
    {"DELETE FROM thread_links WHERE kind='person' AND id IN " PGX_OWNED, "s"},
    {"DELETE FROM thread_unlinks WHERE kind='person' AND id IN " PGX_OWNED, "s"},
    {"DELETE FROM access WHERE kind='person' AND id IN " PGX_OWNED, "s"},
    {"DELETE FROM persons WHERE owner=$1 AND origin<>'crm'", "s"},
    {"UPDATE persons SET owner=NULL WHERE owner=$1", "s"},
    {"DELETE FROM access WHERE \"user\"=$1", "s"},
    {"DELETE FROM user_addresses WHERE \"user\"=$1", "s"},
    {"DELETE FROM users WHERE id=$1 AND NOT EXISTS (SELECT 1 FROM threads WHERE owner=$1)", "s"},
    {NULL, NULL},
};
static const pg_step *const PGX_STEPS[CS_ERASE_NSTEPS] = {
    PGX_THREAD_DROP, PGX_MADE_DROP, PGX_USER_DROP,
};
/* Every table a deletion above touches. */
static const char PGX_VACUUM[] =
"VACUUM messages, message_labels, raw, threads, thread_msgids, thread_links,"
" thread_unlinks, persons, person_emails, access, users, user_addresses, audit, events";

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* pg_msg_list - a page of copies matching q, on the read connection */
int     pg_msg_list(cs_store *st, const cs_store_msgq *q, cs_store_msg **out, size_t *n)
{
    pg_store *s = st->be;
    PGresult *r;
    cs_store_msg *v;
    char    before[32], after_id[32], limit[32];
    int     rows, rc = CS_OK;

    *out = NULL;
    *n = 0;
    snprintf(before, sizeof(before), "%lld", (long long) q->before);
    snprintf(after_id, sizeof(after_id), "%lld", q->after_owner ? (long long) q->after_id : -1LL);
    snprintf(limit, sizeof(limit), "%zu", q->limit);
    pthread_mutex_lock(&s->rlock);
    if (pg_ensure(s, &s->r) < 0) {
	pthread_mutex_unlock(&s->rlock);
	return CS_EINTERNAL;
    }
    r = pg_q(&s->r, q->owner ? PGX_LIST_OWNER : PGX_LIST, "sssssss", q->owner,
	     q->before ? before : NULL, q->needle, q->after_owner ? q->after_owner : "",
	     after_id, limit, q->needle2);
    pthread_mutex_unlock(&s->rlock);
    if (r == NULL) {
	cs_error(NULL, "store: %s", s->r.msg);
	return CS_EINTERNAL;
    }
    rows = PQntuples(r);
    if ((v = calloc(rows ? (size_t) rows : 1, sizeof(*v))) == NULL) {
	PQclear(r);
	return CS_EINTERNAL;
    }
    for (int i = 0; i < rows; i++) {
	cs_store_msg *m = v + i;

	m->owner = strdup(pg_text(r, i, 0));
	m->id = pg_int(r, i, 1);
	m->thread = pg_int(r, i, 2);
	m->raw = pg_int(r, i, 3);
	m->arrival = (time_t) pg_int(r, i, 4);
	m->has_date = !pg_null(r, i, 5);
	m->date = (time_t) pg_int(r, i, 5);
	if (!pg_null(r, i, 6) && (m->subject = strdup(pg_text(r, i, 6))) == NULL)
	    rc = CS_EINTERNAL;
	for (int k = 0; k < 5; k++)
	    if ((m->lists[k] = strdup(pg_text(r, i, 7 + k))) == NULL)
		rc = CS_EINTERNAL;
	if (m->owner == NULL)
	    rc = CS_EINTERNAL;
    }
    PQclear(r);
    if (rc != CS_OK) {
	cs_store_msgs_free(v, (size_t) rows);
	return rc;
    }
    *out = v;
    *n = (size_t) rows;
    return CS_OK;
}

/* pg_msg_raw - one raw message's bytes appended to out */
int     pg_msg_raw(cs_store *st, int64_t raw, cs_buf *out)
{
    pg_store *s = st->be;
    PGresult *r;
    unsigned char *bytes;
    size_t  len;
    int     rc;

    pthread_mutex_lock(&s->rlock);
    r = pg_ensure(s, &s->r) < 0 ? NULL : pg_q(&s->r, PGX_RAW, "i", (long long) raw);
    pthread_mutex_unlock(&s->rlock);
    if (r == NULL)
	return CS_EINTERNAL;
    if (PQntuples(r) == 0)
	rc = CS_ENOTFOUND;
    else if ((bytes = PQunescapeBytea((const unsigned char *) pg_text(r, 0, 0), &len)) == NULL)
	rc = CS_EINTERNAL;
    else {
	rc = cs_buf_append(out, bytes, len) < 0 ? CS_EINTERNAL : CS_OK;
	PQfreemem(bytes);
    }
    PQclear(r);
    return rc;
}

/* pg_msg_delete - one copy under its locks, its raw if unshared; left count */
int     pg_msg_delete(cs_store *st, const char *owner, int64_t id, int64_t *left)
{
    pg_store *s = st->be;
    pg_conn *c = &s->w;
    PGresult *r;
    int     b[2], nb = 1;
    long long thread, raw;

    *left = -1;
    if ((r = pg_q(c, PGX_RAW_SHA, "si", owner, (long long) id)) == NULL)
	return CS_EINTERNAL;
    if (PQntuples(r) == 0) {
	PQclear(r);
	return CS_ENOTFOUND;
    }
    b[0] = pg_bucket("o:", owner);
    b[1] = pg_bucket("r:", pg_text(r, 0, 0));
    PQclear(r);
    if (b[1] != b[0])
	nb = 2;
    if (nb == 2 && b[1] < b[0]) {
	int     t = b[0];

	b[0] = b[1];
	b[1] = t;
    }
    if (pg_lock_buckets(c, b, (size_t) nb) < 0
	|| (r = pg_q(c, PGX_DEL_ONE, "si", owner, (long long) id)) == NULL)
	return CS_EINTERNAL;
    if (PQntuples(r) == 0) {
	PQclear(r);
	return CS_ENOTFOUND;
    }
    thread = pg_int(r, 0, 0);
    raw = pg_int(r, 0, 1);
    if (!pg_null(r, 0, 2) && pg_x(c, PGX_DEL_MSGID, "ss", owner, pg_text(r, 0, 2)) < 0) {
	PQclear(r);
	return CS_EINTERNAL;
    }
    PQclear(r);
    if (pg_x(c, PGX_DEL_RAW_FREE, "i", raw) < 0
	|| (r = pg_q(c, PGX_THREAD_LEFT, "si", owner, thread)) == NULL)
	return CS_EINTERNAL;
    if (PQntuples(r) == 1)
	*left = pg_int(r, 0, 0);
    PQclear(r);
    return *left >= 0 ? CS_OK : CS_EINTERNAL;
}

/* pg_erase_step - one enum cs_erase_step's statements, in order */
int     pg_erase_step(cs_store *st, int step, const char *key, int64_t id, long *changes)
{
    pg_conn *c = &((pg_store *) st->be)->w;
    PGresult *r;
    int     b = pg_bucket("e:", key);

    /* A Smart BCC person is made under its address's lock (F1). */
    if (step == CS_ERASE_MADE && pg_lock_buckets(c, &b, 1) < 0)
	return CS_EINTERNAL;
    for (const pg_step *p = PGX_STEPS[step]; p->sql; p++) {
	if ((r = pg_q(c, p->sql, p->types, key, (long long) id)) == NULL)
	    return CS_EINTERNAL;
	*changes = (long) pg_changes(r);
	PQclear(r);
    }
    return CS_OK;
}

/*
 * pg_scrub - VACUUM the tables deletions touch, on a connection of its
 * own: a VACUUM of large tables takes a while, and the write connection
 * (the milter's mail) must not wait for it.
 */
int     pg_scrub(cs_store *st)
{
    pg_store *s = st->be;
    PGconn *pc = PQconnectdb(s->conninfo);
    PGresult *r = PQstatus(pc) == CONNECTION_OK ? PQexec(pc, PGX_VACUUM) : NULL;
    int     ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

    if (!ok)
	cs_error(NULL, "store: vacuum: %s", PQerrorMessage(pc));
    PQclear(r);
    PQfinish(pc);
    return ok ? CS_OK : CS_EINTERNAL;
}
