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
"SELECT p.id, p.name, pe.owner, " PG_CAN_ACCESS("'person'", "p.id", "$2::text")
" FROM person_emails pe JOIN persons p ON p.id=pe.person WHERE pe.email=$1 ORDER BY p.id";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created)"
" VALUES('hand-' || nextval('person_ids'), $1, 'hand', $2, $3) RETURNING id";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES($1, $2, $3)";
static const char SQL_ACCESS_ADD[] =
"INSERT INTO access(\"user\", kind, id) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";
static const char SQL_DIR_LOCK[] = "SELECT pg_advisory_xact_lock($1::integer, $2::integer)";

/* Limits on what one command may name or import. */
#define PG_MAX_THREADS	100000
#define PG_MAX_ID	256
#define PG_MAX_PARTICIPANTS 100

/* thread_id - parse "t<n>" strictly; 0 if it is not a thread id */
static long long thread_id(const char *s)
{
    long long v = 0;

    if (s == NULL || s[0] != 't' || s[1] < '1' || s[1] > '9')
	return 0;
    for (s++; *s; s++) {
	if (*s < '0' || *s > '9' || v > 99999999999999LL)
	    return 0;
	v = v * 10 + (*s - '0');
    }
    return v;
}

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

/*
 * add_participants - a JSON address list's new addresses, each queued
 * for its person; the first PG_MAX_PARTICIPANTS of the thread only.
 */
static int add_participants(cs_store *st, const char *text, pg_tdraft *d, pg_plist *pl)
{
    json_t *arr, *v, *ix;
    size_t  i, k;
    char    norm[CS_ADDR_MAX + 1];
    int     rc = 0;

    if ((arr = json_loads(text, 0, NULL)) == NULL || !json_is_array(arr)) {
	json_decref(arr);
	return 0;				/* not ours: show nothing */
    }
    json_array_foreach(arr, i, v) {
	const char *addr = json_string_value(json_object_get(v, "address"));
	const char *name = json_string_value(json_object_get(v, "name"));
	const char *key;
	json_t *o;

	if (json_array_size(d->parts) >= PG_MAX_PARTICIPANTS)
	    break;
	if (addr == NULL)
	    continue;
	key = cs_store_normalize(st, addr, norm, sizeof(norm)) == 0 ? norm : addr;
	if (cs_store_part_seen(d->parts, &d->seen, key, name))
	    continue;
	if ((ix = json_object_get(pl->index, key)) != NULL)
	    k = (size_t) json_integer_value(ix);
	else {
	    k = pl->keys.n;
	    if (cs_strlist_add(&pl->keys, key) < 0
		|| json_object_set_new_nocheck(pl->index, key, json_integer((json_int_t) k)) < 0) {
		rc = -1;
		break;
	    }
	}
	if (pl->n == pl->cap) {
	    size_t  cap = pl->cap ? pl->cap * 2 : 64;
	    pg_pending *nv = realloc(pl->v, cap * sizeof(*nv));

	    if (nv == NULL) {
		rc = -1;
		break;
	    }
	    pl->v = nv;
	    pl->cap = cap;
	}
	o = json_pack("{s:s?,s:s,s:n}", "name", name, "address", addr, "person");
	if (o == NULL || cs_strlist_add(&d->seen, key) < 0) {
	    json_decref(o);
	    rc = -1;
	    break;
	}
	if (json_array_append_new(d->parts, o) < 0) {
	    rc = -1;
	    break;
	}
	pl->v[pl->n++] = (pg_pending) {o, k};
    }
    json_decref(arr);
    return rc;
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
    pg_iso_date(pg_int(res, r, 4), first, sizeof(first));
    pg_iso_date(pg_int(res, r, 5), last, sizeof(last));
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

	    rc = add_participants(st, pg_text(q, i, 1), &d[r], &pl) < 0
		|| add_participants(st, pg_text(q, i, 2), &d[r], &pl) < 0
		|| add_participants(st, pg_text(q, i, 3), &d[r], &pl) < 0
		|| (bcc && add_participants(st, bcc, &d[r], &pl) < 0) ? -1 : 0;
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

/* addr_array - a stored address list as JSON, [] when unreadable */
static json_t *addr_array(const char *text)
{
    json_t *a = json_loads(text, 0, NULL);

    if (a == NULL || !json_is_array(a)) {
	json_decref(a);
	return json_array();
    }
    return a;
}

/* raw_bytes - a bytea column's bytes (free with PQfreemem); NULL on error */
static unsigned char *raw_bytes(PGresult *q, int r, int col, size_t *len)
{
    *len = 0;
    return PQunescapeBytea((const unsigned char *) pg_text(q, r, col), len);
}

/* message_obj - one message of "thread": fields, text and attachments */
static json_t *message_obj(PGresult *q, int r)
{
    size_t  len;
    unsigned char *raw = raw_bytes(q, r, 8, &len);
    cs_mimeinfo mi = {0};
    json_t *o, *from, *atts;
    char    date[32];
    size_t  i;

    if (raw == NULL)
	return NULL;
    pg_iso_date(pg_null(q, r, 4) ? pg_int(q, r, 5) : pg_int(q, r, 4), date, sizeof(date));
    from = addr_array(pg_text(q, r, 1));
    if (cs_mime_parse((const char *) raw, len, &mi) < 0) {
	PQfreemem(raw);
	json_decref(from);
	return NULL;
    }
    PQfreemem(raw);
    atts = json_array();
    for (i = 0; atts && i < mi.natt; i++)
	if (json_array_append_new(atts, json_pack("{s:s?,s:s,s:I}", "name", mi.att[i].name,
						  "type", mi.att[i].type ? mi.att[i].type : "",
					      "size", (json_int_t) mi.att[i].size)) < 0) {
	    json_decref(atts);
	    atts = NULL;
	}
    o = atts == NULL ? NULL :
	json_pack("{s:s?,s:O,s:o,s:o,s:s,s:s?,s:s,s:o,s:b}",
		  "message_id", pg_null(q, r, 0) ? NULL : pg_text(q, r, 0),
		  "from", json_array_size(from) ? json_array_get(from, 0) : json_null(),
		  "to", addr_array(pg_text(q, r, 2)),
		  "cc", addr_array(pg_text(q, r, 3)),
		  "date", date,
		  "subject", pg_null(q, r, 6) ? NULL : pg_text(q, r, 6),
		  "text", mi.text ? mi.text : "",
		  "attachments", atts,
		  "truncated", pg_int(q, r, 7) != 0);
    json_decref(from);
    cs_mimeinfo_free(&mi);
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

/* pg_thread - one visible thread with its messages */
int     pg_thread(cs_store *st, const char *as, const char *tid, json_t **out)
{
    pg_store *s = st->be;
    pg_conn *c = &s->r;
    long long id = thread_id(tid);
    PGresult *q = NULL;
    json_t *t = NULL, *msgs = NULL, *m;
    int     rc = CS_EINTERNAL, i;

    if (id == 0)
	return CS_ENOTFOUND;
    if (read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = pg_q(c, SQL_TGET, "si", as, id)) == NULL)
	goto out;
    if (PQntuples(q) == 0) {
	rc = CS_ENOTFOUND;
	goto out;
    }
    t = thread_obj(st, c, as, q);
    PQclear(q);
    q = NULL;
    if (t == NULL || (msgs = json_array()) == NULL
	|| json_object_set_new(t, "messages", msgs) < 0)
	goto out;
    if ((q = pg_q(c, SQL_TMSGS, "si", as, id)) == NULL)
	goto out;
    for (i = 0; i < PQntuples(q); i++)
	if ((m = message_obj(q, i)) == NULL || json_array_append_new(msgs, m) < 0)
	    goto out;
    *out = t;
    t = NULL;
    rc = CS_OK;
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: thread: %s", c->msg);
    PQclear(q);
    read_end(s);
    json_decref(t);
    return rc;
}

/* thread_check - V4/V6 for one thread on c: found, visible, owned */
static int thread_check(pg_conn *c, const char *as, long long id, char *vis, size_t vislen)
{
    PGresult *q;
    int     rc;

    if (id == 0)
	return CS_ENOTFOUND;
    if ((q = pg_q(c, SQL_TGET, "si", as, id)) == NULL)
	return CS_EINTERNAL;
    if (PQntuples(q) == 0)
	rc = CS_ENOTFOUND;
    else {
	rc = strcmp(pg_text(q, 0, 6), as) == 0 ? CS_OK : CS_EFORBIDDEN;
	if (vis)
	    snprintf(vis, vislen, "%s", pg_text(q, 0, 2));
    }
    PQclear(q);
    return rc;
}

/* pg_thread_raw - the raw messages of one's own thread */
int     pg_thread_raw(cs_store *st, const char *as, const char *tid,
			         cs_store_raw_fn fn, void *arg)
{
    pg_store *s = st->be;
    pg_conn *c = &s->r;
    long long id = thread_id(tid);
    PGresult *q;
    int     rc, i;

    if (id == 0)
	return CS_ENOTFOUND;
    if (read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((rc = thread_check(c, as, id, NULL, 0)) != CS_OK)
	goto out;
    rc = CS_EINTERNAL;
    if ((q = pg_q(c, SQL_TMSGS_OWN, "si", as, id)) == NULL)
	goto out;
    rc = CS_OK;
    for (i = 0; rc == CS_OK && i < PQntuples(q); i++) {
	size_t  len;
	unsigned char *raw = raw_bytes(q, i, 2, &len);

	if (raw == NULL || fn(arg, pg_null(q, i, 0) ? NULL : pg_text(q, i, 0), raw, len,
			      (int) pg_int(q, i, 1)) != 0)
	    rc = CS_EINTERNAL;
	if (raw)
	    PQfreemem(raw);
    }
    PQclear(q);
out:
    read_end(s);
    return rc;
}

/* pg_attachment - attachment n counted over the thread's messages in order */
int     pg_attachment(cs_store *st, const char *as, const char *tid, size_t n, cs_buf *out)
{
    pg_store *s = st->be;
    pg_conn *c = &s->r;
    long long id = thread_id(tid);
    PGresult *q;
    int     rc = CS_EINTERNAL, i;

    if (id == 0)
	return CS_ENOTFOUND;
    if (read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = pg_q(c, SQL_TMSGS, "si", as, id)) == NULL)
	goto out;
    rc = CS_ENOTFOUND;
    for (i = 0; i < PQntuples(q); i++) {
	size_t  len, natt;
	unsigned char *raw = raw_bytes(q, i, 8, &len);
	cs_mimeinfo mi = {0};

	if (raw == NULL || cs_mime_parse((const char *) raw, len, &mi) < 0) {
	    if (raw)
		PQfreemem(raw);
	    rc = CS_EINTERNAL;
	    break;
	}
	natt = mi.natt;
	cs_mimeinfo_free(&mi);
	if (n > natt) {
	    n -= natt;
	    PQfreemem(raw);
	    continue;
	}
	rc = cs_mime_attachment((const char *) raw, len, n, out) == 0 ? CS_OK : CS_EINTERNAL;
	PQfreemem(raw);
	break;
    }
    PQclear(q);
out:
    read_end(s);
    return rc;
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
    if (cursor && pg_cursor_decode(cursor, &clast, &cid) < 0)
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
	pg_cursor_encode(pg_int(q, n - 1, 7), pg_int(q, n - 1, 0), next, sizeof(next));
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

/* write_begin - take the write connection, open a transaction, lock buckets */
static int write_begin(cs_store *st, int *buckets, size_t nb)
{
    pg_store *s = st->be;

    if (cs_store_wbegin(st) != CS_OK)
	return -1;
    if (pg_lock_buckets(&s->w, buckets, nb) < 0) {
	cs_error(NULL, "store: begin: %s", s->w.msg);
	cs_store_wend(st, CS_EINTERNAL);
	return -1;
    }
    return 0;
}

/* write_end - commit when rc is CS_OK, else roll back; release the connection */
static int write_end(cs_store *st, int rc)
{
    return cs_store_wend(st, rc);
}

/* owner_begin - write_begin under the acting user's mailbox lock */
static int owner_begin(cs_store *st, const char *as)
{
    int     b = pg_bucket("o:", as);

    return write_begin(st, &b, 1);
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

/* visible_to - the users who may see a thread now, owner included */
static json_t *visible_to(pg_conn *c, long long id)
{
    PGresult *q;
    json_t *a = json_array();
    int     i;

    if (a == NULL || (q = pg_q(c, SQL_VISIBLE_TO, "i", id)) == NULL) {
	json_decref(a);
	return NULL;
    }
    for (i = 0; i < PQntuples(q); i++)
	json_array_append_new(a, json_string(pg_text(q, i, 0)));
    PQclear(q);
    return a;
}

/* ids_cmp - qsort comparator for thread ids */
static int ids_cmp(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;

    return x < y ? -1 : x > y;
}

/* pg_threads_set - share, private, delete: check all, then change all */
int     pg_threads_set(cs_store *st, const char *as, int action, const char *const *names,
			          size_t n, json_t **out, char *err, size_t errlen)
{
    static const char *const what[] = {"", "share", "private", "delete"};
    pg_store *s = st->be;
    pg_conn *c = &s->w;
    long long *ids, *uniq = NULL;
    char   *vis = NULL, *done = NULL;
    size_t  i, nuniq = 0;
    json_t *res = NULL, *list = NULL, *audited = NULL;
    time_t  now = time(NULL);
    int     rc = CS_EINTERNAL, src = 0;

    if (n == 0 || n > PG_MAX_THREADS) {
	snprintf(err, errlen, n ? "at most %d threads at once" : "no thread named",
		 PG_MAX_THREADS);
	return CS_EINVAL;
    }
    if ((ids = calloc(n, sizeof(*ids))) == NULL || (uniq = calloc(n, sizeof(*ids))) == NULL
	|| (vis = calloc(n, 8)) == NULL || (done = calloc(n, 1)) == NULL) {
	free(ids);
	free(uniq);
	free(vis);
	return CS_EINTERNAL;
    }
    if (owner_begin(st, as) < 0) {
	free(ids);
	free(uniq);
	free(vis);
	free(done);
	return CS_EINTERNAL;
    }
    /* V4: every thread is checked before anything changes. */
    for (i = 0; i < n; i++) {
	ids[i] = thread_id(names[i]);
	if ((rc = thread_check(c, as, ids[i], vis + 8 * i, 8)) != CS_OK) {
	    if (rc == CS_ENOTFOUND)
		snprintf(err, errlen, "thread %.64s not found", names[i]);
	    else if (rc == CS_EFORBIDDEN)
		snprintf(err, errlen, "thread %.64s is not yours to change", names[i]);
	    goto out;
	}
    }
    rc = CS_EINTERNAL;
    memcpy(uniq, ids, n * sizeof(*ids));
    qsort(uniq, n, sizeof(*uniq), ids_cmp);
    for (i = 0; i < n; i++)
	if (nuniq == 0 || uniq[nuniq - 1] != uniq[i])
	    uniq[nuniq++] = uniq[i];
    if ((res = json_object()) == NULL || (list = json_array()) == NULL
	|| json_object_set_new(res, "threads", list) < 0 || (audited = json_array()) == NULL)
	goto out;
    for (i = 0; i < n && src == 0; i++) {
	long long id = ids[i];
	long long *u = bsearch(&id, uniq, nuniq, sizeof(*uniq), ids_cmp);
	const char *want = action == CS_THREADS_SHARE ? "shared" : "private";
	char    tid[32];
	json_t *vt;

	if (u == NULL || done[u - uniq])
	    continue;
	done[u - uniq] = 1;
	snprintf(tid, sizeof(tid), "t%lld", id);
	if (json_array_append_new(audited, json_string(tid)) < 0) {
	    src = -1;
	    break;
	}
	if (action == CS_THREADS_DELETE) {
	    if ((src = delete_thread(c, as, id)) == 0)
		src = cs_store_event(st, "thread.deleted", as, id, json_pack("{s:s}", "thread", tid));
	    if (src == 0 && json_array_append_new(list, json_string(tid)) < 0)
		src = -1;
	    continue;
	}
	if ((src = pg_x(c, SQL_SET_VIS, "sis", as, id, want)) < 0)
	    break;
	if (strcmp(vis + 8 * i, want) != 0
	    && (src = cs_store_event(st, "thread.visibility_changed", as, id,
			    json_pack("{s:s,s:s}", "thread", tid, "visibility", want))) < 0)
	    break;
	if (action == CS_THREADS_PRIVATE) {
	    if (json_array_append_new(list, json_string(tid)) < 0)
		src = -1;
	} else if ((vt = visible_to(c, id)) == NULL
		   || json_array_append_new(list, json_pack("{s:s,s:o}", "id", tid,
							     "visible_to", vt)) < 0)
	    src = -1;
    }
    if (src == 0)
	src = cs_store_audit(st, as, what[action], audited, now);
    if (src < 0) {
	cs_error(NULL, "store: %s: %s", what[action], c->msg);
	goto out;
    }
    rc = CS_OK;
out:
    if ((rc = write_end(st, rc)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    json_decref(audited);
    free(ids);
    free(uniq);
    free(vis);
    free(done);
    return rc;
}

/* record_check - may as access this deal or person? CS_OK or CS_ENOTFOUND */
static int record_check(pg_conn *c, const char *as, const char *kind, const char *rid)
{
    PGresult *q;
    int     n;

    if ((q = pg_q(c, SQL_REC, "sss", as, kind, rid)) == NULL)
	return CS_EINTERNAL;
    n = PQntuples(q);
    PQclear(q);
    return n ? CS_OK : CS_ENOTFOUND;
}

/* link_add - a hand link (idempotent); *changed when it is new */
static int link_add(pg_conn *c, const char *owner, long long thread, const char *kind,
		            const char *rid, int *changed)
{
    PGresult *q;

    if ((q = pg_q(c, SQL_LINK_HAS, "siss", owner, thread, kind, rid)) == NULL)
	return -1;
    *changed = PQntuples(q) == 0;
    PQclear(q);
    /* A hand link forgets an earlier hand unlink; an automatic one becomes hand. */
    if (pg_x(c, SQL_UNLINK_DEL, "siss", owner, thread, kind, rid) < 0)
	return -1;
    return pg_x(c, SQL_LINK_HAND, "siss", owner, thread, kind, rid);
}

/* answer_thread - {"thread": {...}} as the owner sees it now */
static json_t *answer_thread(cs_store *st, pg_conn *c, const char *as, long long id)
{
    PGresult *q;
    json_t *t = NULL;

    if ((q = pg_q(c, SQL_TGET, "si", as, id)) == NULL)
	return NULL;
    if (PQntuples(q) > 0)
	t = thread_obj(st, c, as, q);
    PQclear(q);
    return t ? json_pack("{s:o}", "thread", t) : NULL;
}

/* pg_link - T3 by hand: link or unlink one thread and one record */
int     pg_link(cs_store *st, const char *as, const char *tid, const char *kind,
		           const char *rid, int unlink, json_t **out, char *err, size_t errlen)
{
    pg_store *s = st->be;
    pg_conn *c = &s->w;
    long long id = thread_id(tid);
    time_t  now = time(NULL);
    json_t *res = NULL, *aud;
    PGresult *q;
    int     rc, src, changed = 0;

    if (owner_begin(st, as) < 0)
	return CS_EINTERNAL;
    if ((rc = thread_check(c, as, id, NULL, 0)) != CS_OK) {
	if (rc == CS_ENOTFOUND)
	    snprintf(err, errlen, "thread %.64s not found", tid);
	else if (rc == CS_EFORBIDDEN)
	    snprintf(err, errlen, "thread %.64s is not yours to change", tid);
	return write_end(st, rc);
    }
    if ((rc = record_check(c, as, kind, rid)) != CS_OK) {
	if (rc == CS_ENOTFOUND)
	    snprintf(err, errlen, "%s %.64s not found", kind, rid);
	return write_end(st, rc);
    }
    if (unlink) {
	src = -1;
	if ((q = pg_q(c, SQL_LINK_DEL, "siss", as, id, kind, rid)) != NULL) {
	    changed = pg_changes(q) > 0;
	    PQclear(q);
	    /* Remembered even when no link was there: T3 must not add it later. */
	    src = pg_x(c, SQL_UNLINK_ADD, "sissi", as, id, kind, rid, (long long) now);
	}
    } else
	src = link_add(c, as, id, kind, rid, &changed);
    if (src == 0 && changed)
	src = cs_store_event(st, unlink ? "thread.unlinked" : "thread.linked", as, id,
		    json_pack("{s:s,s:s,s:s}", "thread", tid, kind, rid, "origin", "hand"));
    if (src == 0) {
	aud = json_pack("[s]", tid);
	src = aud ? cs_store_audit(st, as, unlink ? "unlink" : "link", aud, now) : -1;
	json_decref(aud);
    }
    if (src == 0 && ((res = answer_thread(st, c, as, id)) == NULL
		     || json_object_set_new(res, "changed", json_boolean(changed)) < 0))
	src = -1;
    if (src < 0)
	cs_error(NULL, "store: %s: %s", unlink ? "unlink" : "link", c->msg);
    if ((rc = write_end(st, src == 0 ? CS_OK : CS_EINTERNAL)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    return rc;
}

/* participant - K3: is norm among the thread's participants? 1, 0, -1 */
static int participant(cs_store *st, pg_conn *c, const char *as, long long id,
		               const char *norm, char **name)
{
    PGresult *q;
    int     found = 0, r;

    if ((q = pg_q(c, SQL_K_ADDRS, "si", as, id)) == NULL)
	return -1;
    for (r = 0; r < PQntuples(q); r++) {
	for (int i = 0; i < 4; i++)
	    found |= cs_store_list_has(st, pg_text(q, r, i), norm, name);
	found |= cs_store_envelope_has(st, pg_text(q, r, 4), norm);
    }
    PQclear(q);
    return found;
}

/* known_person - K5: the person with norm that as may access (1), none (0), -1 */
static int known_person(pg_conn *c, const char *as, const char *norm, char *pid,
			        size_t pidlen, char **pname)
{
    PGresult *q;
    cs_rule_person *v = NULL;
    long    pick;
    int     n, rc = -1;

    if ((q = pg_q(c, SQL_PERSON_BY_EMAIL, "ss", norm, as)) == NULL)
	return -1;
    /* Every person with the address; cs_rule_contact_pick decides. */
    n = PQntuples(q);
    if (n == 0 || (v = calloc((size_t) n, sizeof(*v))) != NULL) {
	for (int i = 0; i < n; i++) {
	    v[i].id = pg_text(q, i, 0);
	    v[i].owner = pg_null(q, i, 2) ? NULL : pg_text(q, i, 2);
	    v[i].accessible = strcmp(pg_text(q, i, 3), "t") == 0;
	}
	rc = 0;
	if ((pick = cs_rule_contact_pick(v, (size_t) n, as)) >= 0) {
	    snprintf(pid, pidlen, "%s", v[pick].id);
	    *pname = pg_null(q, (int) pick, 1) ? NULL : strdup(pg_text(q, (int) pick, 1));
	    rc = pg_null(q, (int) pick, 1) || *pname ? 1 : -1;
	}
    }
    free(v);
    PQclear(q);
    return rc;
}

/* pg_contact_create - K3, K5, as the SQLite backend (see sq_contact_create) */
int     pg_contact_create(cs_store *st, const char *as, const char *tid, const char *address,
			             const char *name, json_t **out, char *err, size_t errlen)
{
    pg_store *s = st->be;
    pg_conn *c = &s->w;
    long long id = thread_id(tid);
    char    norm[CS_ADDR_MAX + 1], pid[PG_MAX_ID + 1];
    char   *seen_name = NULL, *pname = NULL;
    time_t  now = time(NULL);
    json_t *res = NULL, *aud;
    PGresult *q;
    int     rc, src = 0, created = 0, linked = 0, r, b[2];

    if (cs_store_normalize(st, address, norm, sizeof(norm)) < 0) {
	snprintf(err, errlen, "--address: not a mail address");
	return CS_EINVAL;
    }
    /* The mailbox and the address, in the writers' order. */
    b[0] = pg_bucket("o:", as);
    b[1] = pg_bucket("e:", norm);
    if (write_begin(st, b, 2) < 0)
	return CS_EINTERNAL;
    if ((rc = thread_check(c, as, id, NULL, 0)) != CS_OK) {
	if (rc == CS_ENOTFOUND)
	    snprintf(err, errlen, "thread %.64s not found", tid);
	else if (rc == CS_EFORBIDDEN)
	    snprintf(err, errlen, "thread %.64s is not in your mailbox", tid);
	return write_end(st, rc);
    }
    if ((r = participant(st, c, as, id, norm, &seen_name)) <= 0) {
	if (r == 0)
	    snprintf(err, errlen, "%s is not a participant of thread %.64s", norm, tid);
	rc = r == 0 ? CS_EINVAL : CS_EINTERNAL;
	goto out;
    }
    if ((q = pg_q(c, SQL_USER_ADDR, "s", norm)) == NULL) {
	rc = CS_EINTERNAL;
	goto out;
    }
    r = PQntuples(q);
    PQclear(q);
    if (r > 0) {
	snprintf(err, errlen, "%s is a CRM user's address", norm);
	rc = CS_EINVAL;
	goto out;
    }
    if ((r = known_person(c, as, norm, pid, sizeof(pid), &pname)) < 0) {
	rc = CS_EINTERNAL;
	goto out;
    }
    /* r > 0: already the caller's to see: linked, nothing granted (K5). */
    if (r == 0) {
	char    use[1024];

	cs_rule_person_name(name, seen_name, norm, use, sizeof(use));
	if ((pname = strdup(use)) == NULL)
	    src = -1;
	else if ((q = pg_q(c, SQL_PERSON_NEW, "ssi", pname, as, (long long) now)) == NULL)
	    src = -1;
	else {
	    snprintf(pid, sizeof(pid), "%s", PQntuples(q) ? pg_text(q, 0, 0) : "");
	    PQclear(q);
	    created = 1;
	    if (pg_x(c, SQL_PERSON_EMAIL, "sss", norm, pid, as) < 0
		|| pg_x(c, SQL_ACCESS_ADD, "sss", as, "person", pid) < 0)
		src = -1;
	}
	if (src == 0)
	    src = cs_store_event(st, "person.created", as, 0,
			json_pack("{s:s,s:s?,s:s}", "person", pid, "name", pname,
				  "address", norm));
    }
    if (src == 0)
	src = link_add(c, as, id, "person", pid, &linked);
    if (src == 0 && linked)
	src = cs_store_event(st, "thread.linked", as, id,
		    json_pack("{s:s,s:s,s:s}", "thread", tid, "person", pid, "origin", "hand"));
    if (src == 0) {
	aud = json_pack("[s]", tid);
	src = aud ? cs_store_audit(st, as, created ? "contact create" : "contact link", aud, now) : -1;
	json_decref(aud);
    }
    if (src == 0
	&& (res = json_pack("{s:{s:s,s:s?,s:s},s:b,s:s}", "person", "id", pid, "name", pname,
			    "address", norm, "created", created, "thread", tid)) == NULL)
	src = -1;
    if (src < 0)
	cs_error(NULL, "store: contact create: %s", c->msg);
    rc = src == 0 ? CS_OK : CS_EINTERNAL;
out:
    if ((rc = write_end(st, rc)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    free(seen_name);
    free(pname);
    return rc;
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

/* access_rows - the access rows of one record from its snapshot list */
static int access_rows(pg_conn *c, json_t *o, const char *kind, const char *rid)
{
    json_t *v;
    size_t  k;

    json_array_foreach(json_object_get(o, "access"), k, v)
	if (pg_x(c, SQL_ACCESS_ADD, "sss", json_string_value(v), kind, rid) < 0)
	return -1;
    return 0;
}

/* take_over - X2: a CRM person takes a local person's links; it goes */
static int take_over(pg_conn *c, const char *local, const char *crm)
{
    if (strcmp(local, crm) != 0
	&& (pg_x(c, SQL_TAKE_LINKS, "ss", local, crm) < 0
	    || pg_x(c, SQL_TAKE_LINKS_LEFT, "s", local) < 0
	    || pg_x(c, SQL_TAKE_UNLINKS, "ss", local, crm) < 0
	    || pg_x(c, SQL_TAKE_UNLINKS_LEFT, "s", local) < 0))
	return -1;
    if (pg_x(c, SQL_LOCAL_ACCESS_DEL, "s", local) < 0)
	return -1;
    return pg_x(c, SQL_LOCAL_DEL, "s", local);
}

/* dir_apply - replace the directory inside the open transaction */
static int dir_apply(pg_conn *c, cs_dir_snap *d, json_t *taken, time_t now)
{
    json_t *p, *v;
    size_t  i, k;
    PGresult *q;
    long long gone;

    json_array_foreach(d->persons, i, p) {
	const char *pid = json_string_value(json_object_get(p, "id"));
	char    local[PG_MAX_ID + 64];

	/* K5: each user may have one; every one goes (take_over drops it). */
	for (k = 0; k < d->emails[i].n; k++) for (;;) {
	    if ((q = pg_q(c, SQL_TAKE_FIND, "s", d->emails[i].v[k])) == NULL)
		return -1;
	    if (PQntuples(q) == 0) {
		PQclear(q);
		break;
	    }
	    snprintf(local, sizeof(local), "%s", pg_text(q, 0, 0));
	    PQclear(q);
	    if (take_over(c, local, pid) < 0)
		return -1;
	    if (json_array_append_new(taken, json_pack("{s:s,s:s}", "person", local,
						       "by", pid)) < 0)
		return -1;
	}
	if ((q = pg_q(c, SQL_LOCAL_DEL, "s", pid)) == NULL)
	    return -1;
	gone = pg_changes(q);
	PQclear(q);
	if (gone > 0 && pg_x(c, SQL_LOCAL_ACCESS_DEL, "s", pid) < 0)
	    return -1;
    }
    if (pg_cmd(c, SQL_DIR_CLEAR) < 0)
	return -1;
    json_array_foreach(d->persons, i, p) {
	const char *pid = json_string_value(json_object_get(p, "id"));

	if (pg_x(c, SQL_DIR_PERSON, "ssi", pid, json_string_value(json_object_get(p, "name")),
		 (long long) now) < 0)
	    return -1;
	for (k = 0; k < d->emails[i].n; k++)
	    if (pg_x(c, SQL_DIR_PERSON_EMAIL, "ss", d->emails[i].v[k], pid) < 0)
		return -1;
	if (access_rows(c, p, "person", pid) < 0)
	    return -1;
    }
    json_array_foreach(d->deals, i, p) {
	const char *did = json_string_value(json_object_get(p, "id"));

	if (pg_x(c, SQL_DIR_DEAL, "sss", did, json_string_value(json_object_get(p, "title")),
		 json_string_value(json_object_get(p, "status"))) < 0)
	    return -1;
	json_array_foreach(json_object_get(p, "persons"), k, v)
	    if (pg_x(c, SQL_DIR_DEAL_PERSON, "ss", did, json_string_value(v)) < 0)
	    return -1;
	if (access_rows(c, p, "deal", did) < 0)
	    return -1;
    }
    return pg_cmd(c, SQL_DIR_DANGLING);
}

static const char SQL_DIR_ID[] =
"SELECT p.origin, pe.email FROM persons p LEFT JOIN person_emails pe ON pe.person=p.id"
" WHERE p.id=$1";

/* dir_lookup - cs_dir_check_ids: what the store holds under a person id */
static int dir_lookup(void *arg, const char *id, cs_strlist *addrs)
{
    PGresult *q = pg_q(arg, SQL_DIR_ID, "s", id);
    int     r = CS_DIR_ID_NONE;

    if (q == NULL)
	return -1;
    for (int i = 0; i < PQntuples(q) && r >= 0; i++) {
	if (strcmp(pg_text(q, i, 0), "crm") == 0)
	    r = CS_DIR_ID_CRM;
	else {
	    r = CS_DIR_ID_LOCAL;
	    if (!PQgetisnull(q, i, 1) && cs_strlist_add(addrs, pg_text(q, i, 1)) < 0)
		r = -1;
	}
    }
    PQclear(q);
    return r;
}

/* pg_directory_import - X2: validate whole, then replace in one transaction */
int     pg_directory_import(cs_store *st, json_t *doc, json_t **out, char *err, size_t errlen)
{
    pg_store *s = st->be;
    pg_conn *c = &s->w;
    cs_dir_snap d;
    json_t *taken = NULL, *aud = NULL, *res = NULL;
    time_t  now = time(NULL);
    int     rc = CS_EINTERNAL, src;

    if (cs_dir_validate(st, doc, &d, err, errlen) < 0) {
	cs_dir_free(&d);
	return strcmp(err, "out of memory") == 0 ? CS_EINTERNAL : CS_EINVAL;
    }
    if (write_begin(st, NULL, 0) < 0) {
	cs_dir_free(&d);
	return CS_EINTERNAL;
    }
    /* One import at a time across the fleet. */
    src = pg_x(c, SQL_DIR_LOCK, "ii", (long long) PG_LOCK_CLASS, (long long) PG_LOCK_DIRECTORY);
    /* X2: the local persons' ids, checked under the lock, in the transaction. */
    if (src == 0 && (src = cs_dir_check_ids(&d, dir_lookup, c, err, errlen)) == -1) {
	cs_dir_free(&d);
	return write_end(st, CS_EINVAL);
    }
    if (src == 0 && ((taken = json_array()) == NULL || (aud = json_array()) == NULL))
	src = -1;
    if (src == 0)
	src = dir_apply(c, &d, taken, now);
    if (src == 0)
	src = cs_store_audit(st, "directory", "directory import", aud, now);
    if (src == 0
	&& (res = json_pack("{s:I,s:I,s:O}", "persons", (json_int_t) d.npersons,
			    "deals", (json_int_t) json_array_size(d.deals),
			    "taken_over", taken)) == NULL)
	src = -1;
    if (src < 0) {
	cs_error(NULL, "store: directory import: %s", c->msg);
	snprintf(err, errlen, "the directory was not changed: %s", c->msg);
    } else
	rc = CS_OK;
    if ((rc = write_end(st, rc)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    json_decref(taken);
    json_decref(aud);
    cs_dir_free(&d);
    return rc;
}
