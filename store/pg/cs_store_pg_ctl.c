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
 *	threads it answered take only those rows' keys, in the same
 *	snapshot.
 *
 *	A list of threads (a deal's or person's page, the mailbox's, the
 *	thread of "thread") is built by pg_thread_list in a constant number
 *	of round trips, one statement per attribute for all its threads:
 *	a network round trip per thread and per participant made a
 *	50-thread page 20-40 ms on PostgreSQL.
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
    "t.id, t.subject, t.visibility, t.message_count, t.first_date, t.last_date, t.owner"

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
 * A list of threads (a page, or the one thread of "thread") is built in
 * a constant number of round trips whatever its length: the rows the
 * caller's query answered, then one statement per attribute for all of
 * them. Those rows passed PG_VISIBLE in the same snapshot (or the same
 * write transaction), so, as the one-thread statements were before,
 * the detail statements take their (owner, id) keys as they are: $1 a
 * text[] of owners and $2 a bigint[] of ids, unnested side by side
 * WITH ORDINALITY so that each row says which thread it belongs to,
 * and ordered inside a thread as before. Checking visibility again in
 * each of them would cost a cold crmsyncctl about 2 ms of planning per
 * statement. Links and persons still pass PG_CAN_ACCESS for the reader
 * (V6); the mailbox's (SQL_OWN_*) keep its own rules, the owner's
 * access rows.
 */
#define PG_PAGE_KEYS "unnest($1::text[], $2::bigint[]) WITH ORDINALITY k(owner, id, ord)"
static const char SQL_LIST_ADDRS[] =
"SELECT k.ord, m.from_json, m.to_json, m.cc_json, m.envelope FROM " PG_PAGE_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id ORDER BY k.ord, m.sort_date, m.id";
/* Labels are the owner's own: others' threads come with id 0. */
static const char SQL_LIST_LABELS[] =
"SELECT k.ord, l.label FROM " PG_PAGE_KEYS
" JOIN messages m ON m.owner=k.owner AND m.thread=k.id"
" JOIN message_labels l ON l.owner=m.owner AND l.message=m.id"
" GROUP BY k.ord, l.label ORDER BY k.ord, l.label";
static const char SQL_READER_LINKS[] =
"SELECT k.ord, tl.kind, tl.id FROM " PG_PAGE_KEYS
" JOIN thread_links tl ON tl.owner=k.owner AND tl.thread=k.id"
" WHERE " PG_CAN_ACCESS("tl.kind", "tl.id", "$3::text") " ORDER BY k.ord, tl.kind, tl.id";
static const char SQL_OWN_LINKS[] =
"SELECT k.ord, tl.kind, tl.id FROM " PG_PAGE_KEYS
" JOIN thread_links tl ON tl.owner=k.owner AND tl.thread=k.id JOIN access a"
" ON a.\"user\"=tl.owner AND a.kind=tl.kind AND a.id=tl.id ORDER BY k.ord, tl.kind, tl.id";
/*
 * $2: the participants' distinct keys, a text[] literal; a row for each
 * key, its person or NULL. The lookup is the one-key statement's, run
 * per key: a join on all keys at once plans its PG_CAN_ACCESS as a hash
 * of every person instead of a probe for each.
 */
static const char SQL_READER_PERSONS[] =
"SELECT k.email, (SELECT pe.person FROM person_emails pe WHERE pe.email=k.email"
" AND " PG_CAN_ACCESS("'person'", "pe.person", "$1::text")
" ORDER BY pe.owner IS DISTINCT FROM $1::text, pe.owner IS NOT NULL, pe.person LIMIT 1)"
" FROM unnest($2::text[]) k(email)";
static const char SQL_OWN_PERSONS[] =
"SELECT k.email, (SELECT pe.person FROM person_emails pe JOIN access a"
" ON a.\"user\"=$1::text AND a.kind='person' AND a.id=pe.person WHERE pe.email=k.email"
" ORDER BY pe.owner IS DISTINCT FROM $1::text, pe.owner IS NOT NULL, pe.person LIMIT 1)"
" FROM unnest($2::text[]) k(email)";

/* One thread of a list while its details come in. */
typedef struct pg_tdraft {
    json_t *obj;			/* the thread, owned by the draft */
    json_t *parts, *labels, *deals, *persons;	/* borrowed from obj */
    cs_strlist seen;			/* participants' keys (case-insensitive) */
    int     mine;			/* the reader owns it: labels */
} pg_tdraft;

/* One participant waiting for its person (V6). */
typedef struct pg_pending {
    json_t *obj;			/* borrowed from a draft's participants */
    size_t  key;			/* index in the list's keys */
} pg_pending;

/* What the participants of a whole list need from person_emails. */
typedef struct pg_plist {
    cs_strlist keys;			/* distinct keys, exact */
    json_t *index;			/* key -> its index in keys */
    pg_pending *v;
    size_t  n, cap;
} pg_plist;

/* ord_row - the draft a detail row belongs to; -1 if none */
static int ord_row(PGresult *q, int r, int n)
{
    long long ord = pg_int(q, r, 0);

    return ord >= 1 && ord <= n ? (int) ord - 1 : -1;
}

/* array_text - append s to a text[] literal after its "{" as a quoted element */
static int array_text(cs_buf *b, const char *s)
{
    if ((b->len > 1 && cs_buf_append(b, ",", 1) < 0) || cs_buf_append(b, "\"", 1) < 0)
	return -1;
    for (; *s; s++)
	if (((*s == '"' || *s == '\\') && cs_buf_append(b, "\\", 1) < 0)
	    || cs_buf_append(b, s, 1) < 0)
	    return -1;
    return cs_buf_append(b, "\"", 1);
}

/* pending - cs_read_parts: the participant waits for fill_persons (V6) */
static int pending(void *arg, const char *key, json_t *participant)
{
    pg_plist *pl = arg;
    json_t *ix;
    size_t  k;

    if ((ix = json_object_get(pl->index, key)) != NULL)
	k = (size_t) json_integer_value(ix);
    else {
	k = pl->keys.n;
	if (cs_strlist_add(&pl->keys, key) < 0
	    || json_object_set_new_nocheck(pl->index, key, json_integer((json_int_t) k)) < 0)
	    return -1;
    }
    if (pl->n == pl->cap) {
	size_t  cap = pl->cap ? pl->cap * 2 : 64;
	pg_pending *nv = realloc(pl->v, cap * sizeof(*nv));

	if (nv == NULL)
	    return -1;
	pl->v = nv;
	pl->cap = cap;
    }
    pl->v[pl->n++] = (pg_pending) {participant, k};
    return 0;
}

/* fill_persons - one statement: each queued participant's person, if any */
static int fill_persons(pg_conn *c, const char *as, int own, pg_plist *pl)
{
    cs_buf  b = {0};
    PGresult *q = NULL;
    json_t **person;
    size_t  i;
    int     r, rc;

    if (pl->keys.n == 0)
	return 0;
    if ((person = calloc(pl->keys.n, sizeof(*person))) == NULL)
	return -1;
    rc = cs_buf_append(&b, "{", 1);
    for (i = 0; rc == 0 && i < pl->keys.n; i++)
	rc = array_text(&b, pl->keys.v[i]);
    if (rc == 0 && (cs_buf_append(&b, "}", 1) < 0
		    || (q = pg_q(c, own ? SQL_OWN_PERSONS : SQL_READER_PERSONS, "ss", as,
				 b.data)) == NULL))
	rc = -1;
    cs_buf_free(&b);
    for (r = 0; rc == 0 && r < PQntuples(q); r++) {
	json_t *ix = json_object_get(pl->index, pg_text(q, r, 0));

	if (ix && !pg_null(q, r, 1) && (i = (size_t) json_integer_value(ix)) < pl->keys.n
	    && person[i] == NULL)
	    person[i] = json_string(pg_text(q, r, 1));
    }
    PQclear(q);
    /* Set in place: the participant keeps its key order. */
    for (i = 0; rc == 0 && i < pl->n; i++)
	if (person[pl->v[i].key] != NULL
	    && json_object_set(pl->v[i].obj, "person", person[pl->v[i].key]) < 0)
	    rc = -1;
    for (i = 0; i < pl->keys.n; i++)
	json_decref(person[i]);
    free(person);
    return rc;
}

/* draft_new - a thread object with empty lists from row r of res */
static int draft_new(pg_tdraft *d, const char *as, PGresult *res, int r, int owner_col)
{
    const char *owner = owner_col < 0 ? as : pg_text(res, r, owner_col);
    char    tid[32], first[32], last[32];

    snprintf(tid, sizeof(tid), "t%lld", pg_int(res, r, 0));
    cs_iso_date(pg_int(res, r, 4), first, sizeof(first));
    cs_iso_date(pg_int(res, r, 5), last, sizeof(last));
    d->mine = strcmp(owner, as) == 0;
    d->parts = json_array();
    d->labels = json_array();
    d->deals = json_array();
    d->persons = json_array();
    d->obj = json_pack("{s:s,s:s,s:s?,s:o,s:o,s:s,s:{s:o,s:o},s:I,s:s,s:s}",
		       "id", tid, "owner", owner,
		       "subject", pg_null(res, r, 1) ? NULL : pg_text(res, r, 1),
		       "participants", d->parts, "labels", d->labels,
		       "visibility", pg_text(res, r, 2),
		       "links", "deals", d->deals, "persons", d->persons,
		       "message_count", (json_int_t) pg_int(res, r, 3),
		       "first_date", first, "last_date", last);
    return d->obj ? 0 : -1;
}

/*
 * page_keys - the drafts' owners and ids as array literals; with
 * only_mine, the id of a thread the reader does not own is 0 (none).
 */
static int page_keys(cs_buf *owners, cs_buf *ids, PGresult *res, int n, const pg_tdraft *d,
		             const char *as, int owner_col, int only_mine)
{
    int     r, rc;

    cs_buf_reset(owners);
    cs_buf_reset(ids);
    rc = cs_buf_append(owners, "{", 1) < 0 || cs_buf_append(ids, "{", 1) < 0 ? -1 : 0;
    for (r = 0; rc == 0 && r < n; r++)
	if (array_text(owners, owner_col < 0 ? as : pg_text(res, r, owner_col)) < 0
	    || cs_buf_appendf(ids, "%s%lld", r ? "," : "",
			      only_mine && !d[r].mine ? 0LL : pg_int(res, r, 0)) < 0)
	    rc = -1;
    if (rc == 0 && (cs_buf_append(owners, "}", 1) < 0 || cs_buf_append(ids, "}", 1) < 0))
	rc = -1;
    return rc;
}

/*
 * pg_thread_list - append to out the threads of rows [0, n) of res in
 * SPEC X1's shape as reader "as" may see them. res is the answer of a
 * statement that checked each row with PG_VISIBLE for "as" (the mailbox:
 * the reader's own rows), in the snapshot c still has open: columns id,
 * subject, visibility, message_count, first_date, last_date, and the
 * owner in column owner_col (-1: the mailbox, every row the reader's
 * own, its statements and rules). Labels only for the owner; links and
 * persons only to records the reader may access (V6). 0, or -1 with
 * c->msg.
 */
int     pg_thread_list(cs_store *st, pg_conn *c, const char *as, PGresult *res, int n,
		               int owner_col, json_t *out)
{
    int     own = owner_col < 0, rc = 0, r, i, any_mine = 0;
    pg_tdraft *d;
    pg_plist pl = {0};
    cs_buf  owners = {0}, ids = {0};
    PGresult *q = NULL;

    if (n <= 0)
	return 0;
    if ((d = calloc((size_t) n, sizeof(*d))) == NULL || (pl.index = json_object()) == NULL) {
	free(d);
	return -1;
    }
    for (r = 0; rc == 0 && r < n; r++) {
	rc = draft_new(&d[r], as, res, r, owner_col);
	any_mine |= d[r].mine;
    }
    if (rc == 0)
	rc = page_keys(&owners, &ids, res, n, d, as, owner_col, 0);
    /* Participants: every message's lists in order, then their persons. */
    if (rc == 0 && (q = pg_q(c, SQL_LIST_ADDRS, "ss", owners.data, ids.data)) == NULL)
	rc = -1;
    for (i = 0; rc == 0 && i < PQntuples(q); i++)
	if ((r = ord_row(q, i, n)) >= 0) {
	    /* C4: the sender's copy shows its envelope-only recipients. */
	    char   *bcc = cs_store_bcc_json(pg_text(q, i, 4));

	    rc = cs_read_parts(st, pg_text(q, i, 1), d[r].parts, &d[r].seen, pending, &pl) < 0
		|| cs_read_parts(st, pg_text(q, i, 2), d[r].parts, &d[r].seen, pending, &pl) < 0
		|| cs_read_parts(st, pg_text(q, i, 3), d[r].parts, &d[r].seen, pending, &pl) < 0
		|| (bcc && cs_read_parts(st, bcc, d[r].parts, &d[r].seen, pending, &pl) < 0)
		? -1 : 0;
	    free(bcc);
	}
    PQclear(q);
    q = NULL;
    if (rc == 0)
	rc = fill_persons(c, as, own, &pl);
    if (rc == 0 && (q = own ? pg_q(c, SQL_OWN_LINKS, "ss", owners.data, ids.data)
		    : pg_q(c, SQL_READER_LINKS, "sss", owners.data, ids.data, as)) == NULL)
	rc = -1;
    for (i = 0; rc == 0 && i < PQntuples(q); i++)
	if ((r = ord_row(q, i, n)) >= 0
	    && json_array_append_new(strcmp(pg_text(q, i, 1), "deal") == 0 ? d[r].deals
				     : d[r].persons, json_string(pg_text(q, i, 2))) < 0)
	    rc = -1;
    PQclear(q);
    q = NULL;
    if (rc == 0 && any_mine) {
	if (page_keys(&owners, &ids, res, n, d, as, owner_col, 1) < 0
	    || (q = pg_q(c, SQL_LIST_LABELS, "ss", owners.data, ids.data)) == NULL)
	    rc = -1;
	for (i = 0; rc == 0 && i < PQntuples(q); i++)
	    if ((r = ord_row(q, i, n)) >= 0
		&& json_array_append_new(d[r].labels, json_string(pg_text(q, i, 1))) < 0)
		rc = -1;
	PQclear(q);
    }
    for (r = 0; r < n; r++) {
	if (rc == 0 && json_array_append(out, d[r].obj) < 0)
	    rc = -1;
	json_decref(d[r].obj);
	cs_strlist_free(&d[r].seen);
    }
    free(d);
    cs_strlist_free(&pl.keys);
    json_decref(pl.index);
    free(pl.v);
    cs_buf_free(&owners);
    cs_buf_free(&ids);
    return rc;
}

/* thread_obj - the thread of res's first row (PG_THREAD_COLS) as "as" may see it */
static json_t *thread_obj(cs_store *st, pg_conn *c, const char *as, PGresult *res)
{
    json_t *a = json_array(), *o = NULL;

    if (a != NULL && pg_thread_list(st, c, as, res, 1, 6, a) == 0)
	o = json_incref(json_array_get(a, 0));
    json_decref(a);
    return o;
}

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

/* pg_record_threads - the threads on a deal's or person's page (V3) */
int     pg_record_threads(cs_store *st, const char *as, const char *kind, const char *rid,
			             int limit, const char *cursor, json_t **out)
{
    pg_store *s = st->be;
    pg_conn *c = &s->r;
    long long clast = 0, cid = 0;
    PGresult *q = NULL;
    json_t *res = NULL, *threads;
    int     n, more, rc = CS_EINTERNAL, i;
    char    next[128] = "";

    if (cursor && *cursor == 0)
	cursor = NULL;
    if (cursor && cs_cursor_decode(cursor, &clast, &cid) < 0)
	return CS_EINVAL;
    if (read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = pg_q(c, SQL_REC, "sss", as, kind, rid)) == NULL)
	goto out;
    i = PQntuples(q);
    PQclear(q);
    q = NULL;
    if (i == 0) {
	rc = CS_ENOTFOUND;
	goto out;
    }
    if ((res = json_object()) == NULL || (threads = json_array()) == NULL
	|| json_object_set_new(res, "threads", threads) < 0)
	goto out;
    q = cursor ? pg_q(c, SQL_RT_NEXT, "sssiii", as, kind, rid, (long long) limit + 1, clast, cid)
	: pg_q(c, SQL_RT_FIRST, "sssi", as, kind, rid, (long long) limit + 1);
    if (q == NULL)
	goto out;
    /* limit + 1 rows asked: one more says there is a next page. */
    n = PQntuples(q) > limit ? limit : PQntuples(q);
    more = n > 0 && PQntuples(q) > limit;
    if (pg_thread_list(st, c, as, q, n, 6, threads) < 0)
	goto out;
    if (more)
	cs_cursor_encode(pg_int(q, n - 1, 7), pg_int(q, n - 1, 0), next, sizeof(next));
    if (json_object_set_new(res, "cursor", more ? json_string(next) : json_null()) < 0)
	goto out;
    *out = res;
    res = NULL;
    rc = CS_OK;
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: %s page: %s", kind, c->msg);
    PQclear(q);
    read_end(s);
    json_decref(res);
    return rc;
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

json_t *pg_act_thread_obj(cs_store *st, int w, const char *as, cs_rows *row)
{
    pg_store *s = st->be;

    return thread_obj(st, w ? &s->w : &s->r, as, pg_rows_res(row));
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
};
