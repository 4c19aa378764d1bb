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
    "t.id, t.subject, t.visibility, t.message_count, t.first_date, t.last_date, t.owner"

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
static const char SQL_T_ADDRS[] =
"SELECT from_json, to_json, cc_json, envelope FROM messages WHERE owner=?1 AND thread=?2"
" ORDER BY sort_date, id";
static const char SQL_T_LABELS[] =
"SELECT DISTINCT l.label FROM messages m JOIN message_labels l"
" ON l.owner=m.owner AND l.message=m.id WHERE m.owner=?1 AND m.thread=?2 ORDER BY l.label";
static const char SQL_T_LINKS[] =
"SELECT tl.kind, tl.id FROM thread_links tl WHERE tl.owner=?1 AND tl.thread=?2"
" AND " SQ_CAN_ACCESS("tl.kind", "tl.id", "?3") " ORDER BY tl.kind, tl.id";
/* The reader's own person first, then the CRM's (K5: both may exist). */
static const char SQL_PERSON_OF[] =
"SELECT pe.person FROM person_emails pe WHERE pe.email=?2"
" AND " SQ_CAN_ACCESS("'person'", "pe.person", "?1")
" ORDER BY pe.owner IS NOT ?1, pe.owner IS NOT NULL, pe.person LIMIT 1";
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
static const char SQL_COUNTER_INC[] = "UPDATE counters SET value=value+1 WHERE name=?1";
static const char SQL_COUNTER_GET[] = "SELECT value FROM counters WHERE name=?1";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES(?1, ?2, ?3)";
static const char SQL_ACCESS_ADD[] =
"INSERT OR IGNORE INTO access(user, kind, id) VALUES(?1, ?2, ?3)";

/* Limits on what one command may name or import. */
#define SQ_MAX_THREADS	100000
#define SQ_MAX_ID	256
#define SQ_MAX_PARTICIPANTS 100

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

/* iso_date - ISO 8601 UTC text of a Unix time */
static void iso_date(sqlite3_int64 t, char *out, size_t outlen)
{
    time_t  tt = (time_t) t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
	snprintf(out, outlen, "1970-01-01T00:00:00Z");
}

/* thread_id - parse "t<n>" strictly; 0 if it is not a thread id */
static sqlite3_int64 thread_id(const char *s)
{
    sqlite3_int64 v = 0;

    if (s == NULL || s[0] != 't' || s[1] < '1' || s[1] > '9')
	return 0;
    for (s++; *s; s++) {
	if (*s < '0' || *s > '9' || v > 99999999999999LL)
	    return 0;
	v = v * 10 + (*s - '0');
    }
    return v;
}

/* add_participants - append a JSON address list's new addresses (V6 persons) */
static int add_participants(cs_store *st, sq_conn *c, const char *as, const char *text,
			            json_t *out, cs_strlist *seen)
{
    json_t *arr, *v;
    size_t  i;
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
	json_t *person = NULL, *o;
	sqlite3_stmt *q;

	if (json_array_size(out) >= SQ_MAX_PARTICIPANTS)
	    break;
	if (addr == NULL)
	    continue;
	key = cs_store_normalize(st, addr, norm, sizeof(norm)) == 0 ? norm : addr;
	if (cs_store_part_seen(out, seen, key, name))
	    continue;
	if (cs_strlist_add(seen, key) < 0 || (q = sq_stmt(c, SQL_PERSON_OF)) == NULL) {
	    rc = -1;
	    break;
	}
	/* V6: a person's id only when the reader may access that person. */
	sq_bind_str(q, 1, as);
	sq_bind_str(q, 2, key);
	if (sqlite3_step(q) == SQLITE_ROW)
	    person = json_string(sq_col_text(q, 0));
	sqlite3_reset(q);
	o = json_pack("{s:s?,s:s,s:o}", "name", name, "address", addr, "person",
		      person ? person : json_null());
	if (o == NULL || json_array_append_new(out, o) < 0) {
	    rc = -1;
	    break;
	}
    }
    json_decref(arr);
    return rc;
}

/*
 * sq_thread_obj - one thread in SPEC X1's shape, as reader "as" may see it.
 * row holds SQ_THREAD_COLS. Labels are the owner's folders: only the
 * owner sees them. Links and participants' persons are limited to the
 * records the reader may access (V6).
 */
json_t *sq_thread_obj(cs_store *st, sq_conn *c, const char *as, sqlite3_stmt *row)
{
    sqlite3_int64 id = sqlite3_column_int64(row, 0);
    char    tid[32], first[32], last[32], *owner;
    json_t *o = NULL, *parts, *labels, *deals, *persons;
    cs_strlist seen = {0};
    sqlite3_stmt *q;
    int     rc = 0, mine;

    if ((owner = strdup(sq_col_text(row, 6))) == NULL)
	return NULL;
    mine = strcmp(owner, as) == 0;
    snprintf(tid, sizeof(tid), "t%lld", (long long) id);
    iso_date(sqlite3_column_int64(row, 4), first, sizeof(first));
    iso_date(sqlite3_column_int64(row, 5), last, sizeof(last));
    parts = json_array();
    labels = json_array();
    deals = json_array();
    persons = json_array();
    o = json_pack("{s:s,s:s,s:s?,s:o,s:o,s:s,s:{s:o,s:o},s:I,s:s,s:s}",
		  "id", tid, "owner", owner,
		  "subject", sqlite3_column_type(row, 1) == SQLITE_NULL ? NULL : sq_col_text(row, 1),
		  "participants", parts, "labels", labels,
		  "visibility", sq_col_text(row, 2),
		  "links", "deals", deals, "persons", persons,
		  "message_count", (json_int_t) sqlite3_column_int64(row, 3),
		  "first_date", first, "last_date", last);
    if (o == NULL)
	goto fail;

    if ((q = owner_stmt(c, SQL_T_ADDRS, owner, id)) == NULL)
	goto fail;
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
	char   *f = strdup(sq_col_text(q, 0)), *t = strdup(sq_col_text(q, 1)), *cc = strdup(sq_col_text(q, 2));
	/* C4: the sender's copy shows its envelope-only recipients. */
	char   *bcc = cs_store_bcc_json(sq_col_text(q, 3));

	/* The lookups below use other statements; the row is copied first. */
	if (f == NULL || t == NULL || cc == NULL)
	    rc = -1;
	else
	    rc = add_participants(st, c, as, f, parts, &seen) < 0
		|| add_participants(st, c, as, t, parts, &seen) < 0
		|| add_participants(st, c, as, cc, parts, &seen) < 0
		|| (bcc && add_participants(st, c, as, bcc, parts, &seen) < 0) ? -1 : 0;
	free(f);
	free(t);
	free(cc);
	free(bcc);
    }
    sqlite3_reset(q);
    cs_strlist_free(&seen);
    if (rc < 0)
	goto fail;
    if (mine) {
	if ((q = owner_stmt(c, SQL_T_LABELS, owner, id)) == NULL)
	    goto fail;
	while (sqlite3_step(q) == SQLITE_ROW)
	    if (json_array_append_new(labels, json_string(sq_col_text(q, 0))) < 0)
		rc = -1;
	sqlite3_reset(q);
    }
    if (rc < 0 || (q = owner_stmt(c, SQL_T_LINKS, owner, id)) == NULL)
	goto fail;
    sq_bind_str(q, 3, as);
    while (sqlite3_step(q) == SQLITE_ROW)
	if (json_array_append_new(strcmp(sq_col_text(q, 0), "deal") == 0 ? deals : persons,
				  json_string(sq_col_text(q, 1))) < 0)
	    rc = -1;
    sqlite3_reset(q);
    if (rc < 0)
	goto fail;
    free(owner);
    return o;
fail:
    free(owner);
    json_decref(o);
    return NULL;
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

/* message_obj - one message of "thread": fields, text and attachments */
static json_t *message_obj(sqlite3_stmt *q)
{
    const char *raw = sqlite3_column_blob(q, 8);
    int     len = sqlite3_column_bytes(q, 8);
    cs_mimeinfo mi = {0};
    json_t *o, *from, *atts;
    char    date[32];
    size_t  i;

    iso_date(sqlite3_column_type(q, 4) == SQLITE_NULL ? sqlite3_column_int64(q, 5)
	     : sqlite3_column_int64(q, 4), date, sizeof(date));
    from = addr_array(sq_col_text(q, 1));
    if (cs_mime_parse(raw ? raw : "", raw ? (size_t) len : 0, &mi) < 0) {
	json_decref(from);
	return NULL;
    }
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
		  "message_id", sqlite3_column_type(q, 0) == SQLITE_NULL ? NULL : sq_col_text(q, 0),
		  "from", json_array_size(from) ? json_array_get(from, 0) : json_null(),
		  "to", addr_array(sq_col_text(q, 2)),
		  "cc", addr_array(sq_col_text(q, 3)),
		  "date", date,
		  "subject", sqlite3_column_type(q, 6) == SQLITE_NULL ? NULL : sq_col_text(q, 6),
		  "text", mi.text ? mi.text : "",
		  "attachments", atts,
		  "truncated", sqlite3_column_int(q, 7) != 0);
    json_decref(from);
    cs_mimeinfo_free(&mi);
    return o;
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

/* sq_thread - one visible thread with its messages */
int     sq_thread(cs_store *st, const char *as, const char *tid, json_t **out)
{
    sq_store *s = st->be;
    sq_conn *c = &s->r;
    sqlite3_int64 id = thread_id(tid);
    sqlite3_stmt *q;
    json_t *t = NULL, *msgs = NULL, *m;
    int     rc = CS_EINTERNAL, step;

    if (id == 0)
	return CS_ENOTFOUND;
    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = owner_stmt(c, SQL_TGET, as, id)) == NULL)
	goto out;
    if ((step = sqlite3_step(q)) != SQLITE_ROW) {
	rc = step == SQLITE_DONE ? CS_ENOTFOUND : CS_EINTERNAL;
	goto out;
    }
    t = sq_thread_obj(st, c, as, q);
    sqlite3_reset(q);
    if (t == NULL || (msgs = json_array()) == NULL
	|| json_object_set_new(t, "messages", msgs) < 0)
	goto out;
    if ((q = owner_stmt(c, SQL_TMSGS, as, id)) == NULL)
	goto out;
    while ((step = sqlite3_step(q)) == SQLITE_ROW)
	if ((m = message_obj(q)) == NULL || json_array_append_new(msgs, m) < 0)
	    goto out;
    if (step != SQLITE_DONE)
	goto out;
    *out = t;
    t = NULL;
    rc = CS_OK;
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: thread: %s", sqlite3_errmsg(c->db));
    sq_read_end(s);
    json_decref(t);
    return rc;
}

/* thread_check - V4/V6 for one thread on c: found, visible, owned */
static int thread_check(sq_conn *c, const char *as, sqlite3_int64 id, char *vis, size_t vislen)
{
    sqlite3_stmt *q;
    int     step, rc;

    if (id == 0 || (q = owner_stmt(c, SQL_TGET, as, id)) == NULL)
	return id == 0 ? CS_ENOTFOUND : CS_EINTERNAL;
    step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
	rc = strcmp(sq_col_text(q, 6), as) == 0 ? CS_OK : CS_EFORBIDDEN;
	if (vis)
	    snprintf(vis, vislen, "%s", sq_col_text(q, 2));
    } else
	rc = step == SQLITE_DONE ? CS_ENOTFOUND : CS_EINTERNAL;
    sqlite3_reset(q);
    return rc;
}

/* sq_thread_raw - the raw messages of one's own thread */
int     sq_thread_raw(cs_store *st, const char *as, const char *tid,
			         cs_store_raw_fn fn, void *arg)
{
    sq_store *s = st->be;
    sq_conn *c = &s->r;
    sqlite3_int64 id = thread_id(tid);
    sqlite3_stmt *q;
    int     rc, step;

    if (id == 0)
	return CS_ENOTFOUND;
    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((rc = thread_check(c, as, id, NULL, 0)) != CS_OK)
	goto out;
    rc = CS_EINTERNAL;
    if ((q = owner_stmt(c, SQL_TMSGS_OWN, as, id)) == NULL)
	goto out;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	const void *raw = sqlite3_column_blob(q, 2);
	int     len = sqlite3_column_bytes(q, 2);

	if (fn(arg, sqlite3_column_type(q, 0) == SQLITE_NULL ? NULL : sq_col_text(q, 0),
	       raw ? raw : "", raw ? (size_t) len : 0, sqlite3_column_int(q, 1)) != 0)
	    goto out;
    }
    if (step == SQLITE_DONE)
	rc = CS_OK;
out:
    sq_read_end(s);
    return rc;
}

/* sq_attachment - attachment n counted over the thread's messages in order */
int     sq_attachment(cs_store *st, const char *as, const char *tid, size_t n, cs_buf *out)
{
    sq_store *s = st->be;
    sq_conn *c = &s->r;
    sqlite3_int64 id = thread_id(tid);
    sqlite3_stmt *q;
    int     rc = CS_EINTERNAL, step;

    if (id == 0)
	return CS_ENOTFOUND;
    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = owner_stmt(c, SQL_TMSGS, as, id)) == NULL)
	goto out;
    rc = CS_ENOTFOUND;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	const char *raw = sqlite3_column_blob(q, 8);
	size_t  len = raw ? (size_t) sqlite3_column_bytes(q, 8) : 0;
	cs_mimeinfo mi = {0};
	size_t  natt;

	if (cs_mime_parse(raw ? raw : "", len, &mi) < 0) {
	    rc = CS_EINTERNAL;
	    break;
	}
	natt = mi.natt;
	cs_mimeinfo_free(&mi);
	if (n > natt) {
	    n -= natt;
	    continue;
	}
	rc = cs_mime_attachment(raw ? raw : "", len, n, out) == 0 ? CS_OK : CS_EINTERNAL;
	break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
	rc = CS_EINTERNAL;
out:
    sq_read_end(s);
    return rc;
}

/*
 * sq_thread_page - the rows of a keyset page query q as X1 threads:
 * {"threads": [...], "cursor": the next page's or null}. Every list
 * uses one cursor form (sq_cursor_encode): a client treats them alike.
 * q is bound with LIMIT limit + 1 (the extra row only says there is
 * more) and keycol is its page key column. NULL on a SQLite or memory
 * error.
 */
json_t *sq_thread_page(cs_store *st, sq_conn *c, const char *as, sqlite3_stmt *q,
		               int limit, int keycol)
{
    sqlite3_int64 last = 0, id = 0;
    json_t *res, *threads, *t;
    int     n = 0, more = 0, step;
    char    next[128] = "";

    if ((res = json_object()) == NULL || (threads = json_array()) == NULL
	|| json_object_set_new(res, "threads", threads) < 0)
	goto fail;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	if (n == limit) {
	    more = 1;
	    break;
	}
	if ((t = sq_thread_obj(st, c, as, q)) == NULL || json_array_append_new(threads, t) < 0)
	    goto fail;
	id = sqlite3_column_int64(q, 0);
	last = sqlite3_column_int64(q, keycol);
	n++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
	goto fail;
    if (more)
	sq_cursor_encode(last, id, next, sizeof(next));
    if (json_object_set_new(res, "cursor", more ? json_string(next) : json_null()) < 0)
	goto fail;
    return res;
fail:
    json_decref(res);
    return NULL;
}

/* record_check - may as access this deal or person? CS_OK or CS_ENOTFOUND */
static int record_check(sq_conn *c, const char *as, const char *kind, const char *rid)
{
    sqlite3_stmt *q;
    int     step;

    if ((q = sq_stmt(c, SQL_REC)) == NULL)
	return CS_EINTERNAL;
    sq_bind_str(q, 1, as);
    sq_bind_str(q, 2, kind);
    sq_bind_str(q, 3, rid);
    step = sqlite3_step(q);
    sqlite3_reset(q);
    if (step == SQLITE_ROW)
	return CS_OK;
    return step == SQLITE_DONE ? CS_ENOTFOUND : CS_EINTERNAL;
}

/* sq_record_threads - the threads on a deal's or person's page (V3) */
int     sq_record_threads(cs_store *st, const char *as, const char *kind, const char *rid,
			             int limit, const char *cursor, json_t **out)
{
    sq_store *s = st->be;
    sq_conn *c = &s->r;
    sqlite3_int64 clast = 0, cid = 0;
    sqlite3_stmt *q;
    json_t *res;
    int     rc;

    if (cursor && *cursor == 0)
	cursor = NULL;
    if (cursor && sq_cursor_decode(cursor, &clast, &cid) < 0)
	return CS_EINVAL;
    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((rc = record_check(c, as, kind, rid)) != CS_OK)
	goto out;
    rc = CS_EINTERNAL;
    if ((q = sq_stmt(c, cursor ? SQL_RT_NEXT : SQL_RT_FIRST)) == NULL)
	goto out;
    sq_bind_str(q, 1, as);
    sq_bind_str(q, 2, kind);
    sq_bind_str(q, 3, rid);
    sqlite3_bind_int(q, 4, limit + 1);
    if (cursor) {
	sqlite3_bind_int64(q, 5, clast);
	sqlite3_bind_int64(q, 6, cid);
    }
    /* The page key is the link's copy of last_date, after SQ_THREAD_COLS. */
    if ((res = sq_thread_page(st, c, as, q, limit, 7)) != NULL) {
	*out = res;
	rc = CS_OK;
    }
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: %s page: %s", kind, sqlite3_errmsg(c->db));
    sq_read_end(s);
    return rc;
}

/* write_begin - take the write connection and open a write transaction */
static int write_begin(cs_store *st)
{
    return cs_store_wbegin(st) == CS_OK ? 0 : -1;
}

/* write_end - commit when rc is CS_OK, else roll back; release the connection */
static int write_end(cs_store *st, int rc)
{
    return cs_store_wend(st, rc);
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

/* visible_to - the users who may see a thread now, owner included */
static json_t *visible_to(sq_conn *c, sqlite3_int64 id)
{
    sqlite3_stmt *q;
    json_t *a = json_array();
    int     step;

    if (a == NULL || (q = sq_stmt(c, SQL_VISIBLE_TO)) == NULL) {
	json_decref(a);
	return NULL;
    }
    sqlite3_bind_int64(q, 1, id);
    while ((step = sqlite3_step(q)) == SQLITE_ROW)
	if (json_array_append_new(a, json_string(sq_col_text(q, 0))) < 0)
	    break;
    sqlite3_reset(q);
    if (step != SQLITE_DONE) {
	json_decref(a);
	return NULL;
    }
    return a;
}

/* ids_cmp - qsort comparator for thread ids */
static int ids_cmp(const void *a, const void *b)
{
    sqlite3_int64 x = *(const sqlite3_int64 *) a, y = *(const sqlite3_int64 *) b;

    return x < y ? -1 : x > y;
}

/* sq_threads_set - share, private, delete: check all, then change all */
int     sq_threads_set(cs_store *st, const char *as, int action, const char *const *names,
			          size_t n, json_t **out, char *err, size_t errlen)
{
    static const char *const what[] = {"", "share", "private", "delete"};
    sq_store *s = st->be;
    sq_conn *c = &s->w;
    sqlite3_int64 *ids, *uniq = NULL;
    char   *vis = NULL, *done = NULL;
    size_t  i, nuniq = 0;
    json_t *res = NULL, *list = NULL, *audited = NULL;
    time_t  now = time(NULL);
    int     rc = CS_EINTERNAL, src = SQLITE_OK;

    if (n == 0 || n > SQ_MAX_THREADS) {
	snprintf(err, errlen, n ? "at most %d threads at once" : "no thread named",
		 SQ_MAX_THREADS);
	return CS_EINVAL;
    }
    if ((ids = calloc(n, sizeof(*ids))) == NULL || (uniq = calloc(n, sizeof(*ids))) == NULL
	|| (vis = calloc(n, 8)) == NULL || (done = calloc(n, 1)) == NULL) {
	free(ids);
	free(uniq);
	free(vis);
	return CS_EINTERNAL;
    }
    if (write_begin(st) < 0) {
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
    /* A thread named twice is changed and answered once. */
    memcpy(uniq, ids, n * sizeof(*ids));
    qsort(uniq, n, sizeof(*uniq), ids_cmp);
    for (i = 0; i < n; i++)
	if (nuniq == 0 || uniq[nuniq - 1] != uniq[i])
	    uniq[nuniq++] = uniq[i];
    if ((res = json_object()) == NULL || (list = json_array()) == NULL
	|| json_object_set_new(res, "threads", list) < 0 || (audited = json_array()) == NULL)
	goto out;
    for (i = 0; i < n && src == SQLITE_OK; i++) {
	sqlite3_int64 id = ids[i];
	sqlite3_int64 *u = bsearch(&id, uniq, nuniq, sizeof(*uniq), ids_cmp);
	const char *want = action == CS_THREADS_SHARE ? "shared" : "private";
	char    tid[32];
	sqlite3_stmt *q;
	json_t *vt;

	if (u == NULL || done[u - uniq])
	    continue;
	done[u - uniq] = 1;
	snprintf(tid, sizeof(tid), "t%lld", (long long) id);
	if (json_array_append_new(audited, json_string(tid)) < 0) {
	    src = SQLITE_NOMEM;
	    break;
	}
	if (action == CS_THREADS_DELETE) {
	    if ((src = delete_thread(c, as, id)) == SQLITE_OK)
		src = cs_store_event(st, "thread.deleted", as, id, json_pack("{s:s}", "thread", tid));
	    if (src == SQLITE_OK && json_array_append_new(list, json_string(tid)) < 0)
		src = SQLITE_NOMEM;
	    continue;
	}
	if ((q = owner_stmt(c, SQL_SET_VIS, as, id)) == NULL) {
	    src = SQLITE_ERROR;
	    break;
	}
	sq_bind_str(q, 3, want);
	if ((src = sq_run(q)) != SQLITE_OK)
	    break;
	if (strcmp(vis + 8 * i, want) != 0
	    && (src = cs_store_event(st, "thread.visibility_changed", as, id,
			    json_pack("{s:s,s:s}", "thread", tid, "visibility", want)))
	    != SQLITE_OK)
	    break;
	if (action == CS_THREADS_PRIVATE) {
	    if (json_array_append_new(list, json_string(tid)) < 0)
		src = SQLITE_NOMEM;
	} else if ((vt = visible_to(c, id)) == NULL
		   || json_array_append_new(list, json_pack("{s:s,s:o}", "id", tid,
							     "visible_to", vt)) < 0)
	    src = SQLITE_ERROR;
    }
    if (src == SQLITE_OK)
	src = cs_store_audit(st, as, what[action], audited, now);
    if (src != SQLITE_OK) {
	cs_error(NULL, "store: %s: %s", what[action], sqlite3_errmsg(c->db));
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

/* link_stmt - a cached statement bound with owner, thread, kind, id */
static sqlite3_stmt *link_stmt(sq_conn *c, const char *sql, const char *owner,
			               sqlite3_int64 thread, const char *kind, const char *rid)
{
    sqlite3_stmt *q = owner_stmt(c, sql, owner, thread);

    if (q) {
	sq_bind_str(q, 3, kind);
	sq_bind_str(q, 4, rid);
    }
    return q;
}

/* link_add - a hand link (idempotent); *changed when it is new */
static int link_add(sq_conn *c, const char *owner, sqlite3_int64 thread, const char *kind,
		            const char *rid, int *changed)
{
    sqlite3_stmt *q;
    int     step, rc;

    if ((q = link_stmt(c, SQL_LINK_HAS, owner, thread, kind, rid)) == NULL)
	return SQLITE_ERROR;
    step = sqlite3_step(q);
    sqlite3_reset(q);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
	return step;
    *changed = step == SQLITE_DONE;
    /* A hand link forgets an earlier hand unlink; an automatic one becomes hand. */
    if ((rc = sq_run(link_stmt(c, SQL_UNLINK_DEL, owner, thread, kind, rid))) != SQLITE_OK)
	return rc;
    return sq_run(link_stmt(c, SQL_LINK_HAND, owner, thread, kind, rid));
}

/* answer_thread - {"thread": {...}} as the owner sees it now, plus extra */
static json_t *answer_thread(cs_store *st, sq_conn *c, const char *as, sqlite3_int64 id)
{
    sqlite3_stmt *q;
    json_t *t = NULL;

    if ((q = owner_stmt(c, SQL_TGET, as, id)) == NULL)
	return NULL;
    if (sqlite3_step(q) == SQLITE_ROW)
	t = sq_thread_obj(st, c, as, q);
    sqlite3_reset(q);
    return t ? json_pack("{s:o}", "thread", t) : NULL;
}

/* sq_link - T3 by hand: link or unlink one thread and one record */
int     sq_link(cs_store *st, const char *as, const char *tid, const char *kind,
		           const char *rid, int unlink, json_t **out, char *err, size_t errlen)
{
    sq_store *s = st->be;
    sq_conn *c = &s->w;
    sqlite3_int64 id = thread_id(tid);
    time_t  now = time(NULL);
    json_t *res = NULL, *aud;
    int     rc, src, changed = 0;

    if (write_begin(st) < 0)
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
	src = sq_run(link_stmt(c, SQL_LINK_DEL, as, id, kind, rid));
	changed = src == SQLITE_OK && sqlite3_changes(c->db) > 0;
	/* Remembered even when no link was there: T3 must not add it later. */
	if (src == SQLITE_OK) {
	    sqlite3_stmt *q = link_stmt(c, SQL_UNLINK_ADD, as, id, kind, rid);

	    if (q)
		sqlite3_bind_int64(q, 5, (sqlite3_int64) now);
	    src = sq_run(q);
	}
    } else
	src = link_add(c, as, id, kind, rid, &changed);
    if (src == SQLITE_OK && changed)
	src = cs_store_event(st, unlink ? "thread.unlinked" : "thread.linked", as, id,
		    json_pack("{s:s,s:s,s:s}", "thread", tid, kind, rid, "origin", "hand"));
    if (src == SQLITE_OK) {
	aud = json_pack("[s]", tid);
	src = aud ? cs_store_audit(st, as, unlink ? "unlink" : "link", aud, now) : SQLITE_NOMEM;
	json_decref(aud);
    }
    if (src == SQLITE_OK && ((res = answer_thread(st, c, as, id)) == NULL
			     || json_object_set_new(res, "changed", json_boolean(changed)) < 0))
	src = SQLITE_ERROR;
    if (src != SQLITE_OK)
	cs_error(NULL, "store: %s: %s", unlink ? "unlink" : "link", sqlite3_errmsg(c->db));
    if ((rc = write_end(st, src == SQLITE_OK ? CS_OK : CS_EINTERNAL)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    return rc;
}

/* participant - K3: is norm among the thread's participants? 1, 0, -1 */
static int participant(cs_store *st, sq_conn *c, const char *as, sqlite3_int64 id,
		               const char *norm, char **name)
{
    sqlite3_stmt *q;
    int     step, found = 0;

    if ((q = owner_stmt(c, SQL_K_ADDRS, as, id)) == NULL)
	return -1;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	for (int i = 0; i < 4; i++)
	    found |= cs_store_list_has(st, sq_col_text(q, i), norm, name);
	found |= cs_store_envelope_has(st, sq_col_text(q, 4), norm);
    }
    sqlite3_reset(q);
    return step == SQLITE_DONE ? found : -1;
}

/* one_row - step once: 1 a row (left unreset), 0 none, -1 error */
static int one_row(sqlite3_stmt *q)
{
    int     step;

    if (q == NULL)
	return -1;
    step = sqlite3_step(q);
    if (step == SQLITE_ROW)
	return 1;
    sqlite3_reset(q);
    return step == SQLITE_DONE ? 0 : -1;
}

/* person_new - K3: a hand person owned by and accessible to as */
static int person_new(sq_conn *c, const char *as, const char *norm, const char *name,
		              time_t now, char *pid, size_t pidlen)
{
    sqlite3_stmt *q;
    sqlite3_int64 n = 0;
    int     rc;

    if ((q = sq_stmt(c, SQL_COUNTER_INC)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(q, 1, "person");
    if ((rc = sq_run(q)) != SQLITE_OK)
	return rc;
    if ((q = sq_stmt(c, SQL_COUNTER_GET)) == NULL)
	return SQLITE_ERROR;
    sq_bind_str(q, 1, "person");
    if (sqlite3_step(q) == SQLITE_ROW)
	n = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
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

/* known_person - K5: the person with norm that as may access (1), none (0), -1 */
static int known_person(sq_conn *c, const char *as, const char *norm, char *pid,
			        size_t pidlen, char **pname)
{
    sqlite3_stmt *q;
    cs_strlist ids = {0}, names = {0}, owners = {0};
    cs_rule_person *v = NULL;
    int    *acc = NULL, step, rc = -1;
    long    pick;
    size_t  n = 0;

    if ((q = sq_stmt(c, SQL_PERSON_BY_EMAIL)) == NULL)
	return -1;
    sq_bind_str(q, 1, norm);
    sq_bind_str(q, 2, as);
    /* Every person with the address; cs_rule_contact_pick decides. */
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	int    *na = realloc(acc, (n + 1) * sizeof(*acc));

	if (na == NULL)
	    break;
	acc = na;
	/* bit 0: accessible; bit 1: no name (answered null). */
	acc[n] = (sqlite3_column_int(q, 3) != 0) | (sqlite3_column_type(q, 1) == SQLITE_NULL) << 1;
	if (cs_strlist_add(&ids, sq_col_text(q, 0)) < 0
	    || cs_strlist_add(&names, sq_col_text(q, 1)) < 0
	    || cs_strlist_add(&owners, sq_col_text(q, 2)) < 0)
	    break;
	if (sqlite3_column_type(q, 2) == SQLITE_NULL)
	    owners.v[n][0] = 0;			/* the CRM's: no owner */
	n++;
    }
    sqlite3_reset(q);
    if (step != SQLITE_DONE || (n && (v = calloc(n, sizeof(*v))) == NULL))
	goto out;
    for (size_t i = 0; i < n; i++) {
	v[i].id = ids.v[i];
	v[i].owner = *owners.v[i] ? owners.v[i] : NULL;
	v[i].accessible = acc[i] & 1;
    }
    rc = 0;
    if ((pick = cs_rule_contact_pick(v, n, as)) >= 0) {
	snprintf(pid, pidlen, "%s", ids.v[pick]);
	*pname = acc[pick] & 2 ? NULL : strdup(names.v[pick]);
	rc = acc[pick] & 2 || *pname ? 1 : -1;
    }
out:
    free(v);
    free(acc);
    cs_strlist_free(&ids);
    cs_strlist_free(&names);
    cs_strlist_free(&owners);
    return rc;
}

/*
 * sq_contact_create - K3, K5. A person with the address that as may
 * already access (their own, else the CRM's) is answered (created
 * false) and linked; otherwise as gets a person of their own, whoever
 * else has one: the answer for an address another user's or the CRM's
 * person holds is the answer for an address nobody knew.
 */
int     sq_contact_create(cs_store *st, const char *as, const char *tid, const char *address,
			             const char *name, json_t **out, char *err, size_t errlen)
{
    sq_store *s = st->be;
    sq_conn *c = &s->w;
    sqlite3_int64 id = thread_id(tid);
    char    norm[CS_ADDR_MAX + 1], pid[SQ_MAX_ID + 1];
    char   *seen_name = NULL, *pname = NULL;
    time_t  now = time(NULL);
    json_t *res = NULL, *aud;
    sqlite3_stmt *q;
    int     rc, src = SQLITE_OK, created = 0, linked = 0, r;

    if (write_begin(st) < 0)
	return CS_EINTERNAL;
    if ((rc = thread_check(c, as, id, NULL, 0)) != CS_OK) {
	if (rc == CS_ENOTFOUND)
	    snprintf(err, errlen, "thread %.64s not found", tid);
	else if (rc == CS_EFORBIDDEN)
	    snprintf(err, errlen, "thread %.64s is not in your mailbox", tid);
	return write_end(st, rc);
    }
    rc = CS_EINVAL;
    if (cs_store_normalize(st, address, norm, sizeof(norm)) < 0) {
	snprintf(err, errlen, "--address: not a mail address");
	goto out;
    }
    if ((r = participant(st, c, as, id, norm, &seen_name)) <= 0) {
	if (r == 0)
	    snprintf(err, errlen, "%s is not a participant of thread %.64s", norm, tid);
	rc = r == 0 ? CS_EINVAL : CS_EINTERNAL;
	goto out;
    }
    if ((q = sq_stmt(c, SQL_USER_ADDR)) == NULL) {
	rc = CS_EINTERNAL;
	goto out;
    }
    sq_bind_str(q, 1, norm);
    if ((r = one_row(q)) != 0) {
	sqlite3_reset(q);
	if (r > 0)
	    snprintf(err, errlen, "%s is a CRM user's address", norm);
	rc = r > 0 ? CS_EINVAL : CS_EINTERNAL;
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
	    src = SQLITE_NOMEM;
	else if ((src = person_new(c, as, norm, pname, now, pid, sizeof(pid))) == SQLITE_OK)
	    created = 1;
	if (src == SQLITE_OK)
	    src = cs_store_event(st, "person.created", as, 0,
			json_pack("{s:s,s:s?,s:s}", "person", pid, "name", pname,
				  "address", norm));
    }
    if (src == SQLITE_OK)
	src = link_add(c, as, id, "person", pid, &linked);
    if (src == SQLITE_OK && linked)
	src = cs_store_event(st, "thread.linked", as, id,
		    json_pack("{s:s,s:s,s:s}", "thread", tid, "person", pid, "origin", "hand"));
    if (src == SQLITE_OK) {
	aud = json_pack("[s]", tid);
	src = aud ? cs_store_audit(st, as, created ? "contact create" : "contact link", aud, now)
	    : SQLITE_NOMEM;
	json_decref(aud);
    }
    if (src == SQLITE_OK
	&& (res = json_pack("{s:{s:s,s:s?,s:s},s:b,s:s}", "person", "id", pid, "name", pname,
			    "address", norm, "created", created, "thread", tid)) == NULL)
	src = SQLITE_NOMEM;
    if (src != SQLITE_OK)
	cs_error(NULL, "store: contact create: %s", sqlite3_errmsg(c->db));
    rc = src == SQLITE_OK ? CS_OK : CS_EINTERNAL;
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

/* str_stmt - a cached statement with text ?1 and ?2 bound */
static sqlite3_stmt *str_stmt(sq_conn *c, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *q = sq_stmt(c, sql);

    if (q) {
	sq_bind_str(q, 1, a);
	if (b)
	    sq_bind_str(q, 2, b);
    }
    return q;
}

/* access_rows - the access rows of one record from its snapshot list */
static int access_rows(sq_conn *c, json_t *o, const char *kind, const char *rid)
{
    json_t *v;
    size_t  k;
    sqlite3_stmt *q;
    int     rc = SQLITE_OK;

    json_array_foreach(json_object_get(o, "access"), k, v) {
	if ((q = sq_stmt(c, SQL_ACCESS_ADD)) == NULL)
	    return SQLITE_ERROR;
	sq_bind_str(q, 1, json_string_value(v));
	sq_bind_str(q, 2, kind);
	sq_bind_str(q, 3, rid);
	if ((rc = sq_run(q)) != SQLITE_OK)
	    break;
    }
    return rc;
}

/* take_over - X2: a CRM person takes a local person's links; it goes */
static int take_over(sq_conn *c, const char *local, const char *crm)
{
    int     rc;

    if (strcmp(local, crm) != 0
	&& ((rc = sq_run(str_stmt(c, SQL_TAKE_LINKS, local, crm))) != SQLITE_OK
	    || (rc = sq_run(str_stmt(c, SQL_TAKE_LINKS_LEFT, local, NULL))) != SQLITE_OK
	    || (rc = sq_run(str_stmt(c, SQL_TAKE_UNLINKS, local, crm))) != SQLITE_OK
	    || (rc = sq_run(str_stmt(c, SQL_TAKE_UNLINKS_LEFT, local, NULL))) != SQLITE_OK))
	return rc;
    if ((rc = sq_run(str_stmt(c, SQL_LOCAL_ACCESS_DEL, local, NULL))) != SQLITE_OK)
	return rc;
    return sq_run(str_stmt(c, SQL_LOCAL_DEL, local, NULL));
}

/* dir_apply - replace the directory inside the open transaction */
static int dir_apply(sq_conn *c, cs_dir_snap *d, json_t *taken, time_t now)
{
    json_t *p, *v;
    size_t  i, k;
    sqlite3_stmt *q;
    int     rc, r;

    /* Local persons whose address (or id) the CRM now owns. */
    json_array_foreach(d->persons, i, p) {
	const char *pid = json_string_value(json_object_get(p, "id"));
	char    local[SQ_MAX_ID + 64];

	/* K5: each user may have one; every one goes (take_over drops it). */
	for (k = 0; k < d->emails[i].n; k++) for (;;) {
	    if ((q = str_stmt(c, SQL_TAKE_FIND, d->emails[i].v[k], NULL)) == NULL
		|| (r = one_row(q)) < 0)
		return SQLITE_ERROR;
	    if (r == 0)
		break;
	    snprintf(local, sizeof(local), "%s", sq_col_text(q, 0));
	    sqlite3_reset(q);
	    if ((rc = take_over(c, local, pid)) != SQLITE_OK)
		return rc;
	    if (json_array_append_new(taken, json_pack("{s:s,s:s}", "person", local,
						       "by", pid)) < 0)
		return SQLITE_NOMEM;
	}
	if ((rc = sq_run(str_stmt(c, SQL_LOCAL_DEL, pid, NULL))) != SQLITE_OK)
	    return rc;
	if (sqlite3_changes(c->db) > 0
	    && (rc = sq_run(str_stmt(c, SQL_LOCAL_ACCESS_DEL, pid, NULL))) != SQLITE_OK)
	    return rc;
    }
    if ((rc = sqlite3_exec(c->db, SQL_DIR_CLEAR, NULL, NULL, NULL)) != SQLITE_OK)
	return rc;
    json_array_foreach(d->persons, i, p) {
	const char *pid = json_string_value(json_object_get(p, "id"));

	if ((q = str_stmt(c, SQL_DIR_PERSON, pid, json_string_value(json_object_get(p, "name"))))
	    == NULL)
	    return SQLITE_ERROR;
	sqlite3_bind_int64(q, 3, (sqlite3_int64) now);
	if ((rc = sq_run(q)) != SQLITE_OK)
	    return rc;
	for (k = 0; k < d->emails[i].n; k++)
	    if ((rc = sq_run(str_stmt(c, SQL_DIR_PERSON_EMAIL, d->emails[i].v[k], pid)))
		!= SQLITE_OK)
		return rc;
	if ((rc = access_rows(c, p, "person", pid)) != SQLITE_OK)
	    return rc;
    }
    json_array_foreach(d->deals, i, p) {
	const char *did = json_string_value(json_object_get(p, "id"));

	if ((q = str_stmt(c, SQL_DIR_DEAL, did, json_string_value(json_object_get(p, "title"))))
	    == NULL)
	    return SQLITE_ERROR;
	sq_bind_str(q, 3, json_string_value(json_object_get(p, "status")));
	if ((rc = sq_run(q)) != SQLITE_OK)
	    return rc;
	json_array_foreach(json_object_get(p, "persons"), k, v)
	    if ((rc = sq_run(str_stmt(c, SQL_DIR_DEAL_PERSON, did, json_string_value(v))))
		!= SQLITE_OK)
	    return rc;
	if ((rc = access_rows(c, p, "deal", did)) != SQLITE_OK)
	    return rc;
    }
    return sqlite3_exec(c->db, SQL_DIR_DANGLING, NULL, NULL, NULL);
}

static const char SQL_DIR_ID[] =
"SELECT p.origin, pe.email FROM persons p LEFT JOIN person_emails pe ON pe.person=p.id"
" WHERE p.id=?1";

/* dir_lookup - cs_dir_check_ids: what the store holds under a person id */
static int dir_lookup(void *arg, const char *id, cs_strlist *addrs)
{
    sqlite3_stmt *q = str_stmt(arg, SQL_DIR_ID, id, NULL);
    int     r = CS_DIR_ID_NONE, step;

    if (q == NULL)
	return -1;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
	if (strcmp(sq_col_text(q, 0), "crm") == 0)
	    r = CS_DIR_ID_CRM;
	else {
	    r = CS_DIR_ID_LOCAL;
	    if (sqlite3_column_type(q, 1) != SQLITE_NULL
		&& cs_strlist_add(addrs, sq_col_text(q, 1)) < 0)
		step = SQLITE_NOMEM;
	}
	if (step != SQLITE_ROW)
	    break;
    }
    sqlite3_reset(q);
    return step == SQLITE_DONE ? r : -1;
}

/* sq_directory_import - X2: validate whole, then replace in one transaction */
int     sq_directory_import(cs_store *st, json_t *doc, json_t **out, char *err, size_t errlen)
{
    sq_store *s = st->be;
    sq_conn *c = &s->w;
    cs_dir_snap d;
    json_t *taken = NULL, *aud = NULL, *res = NULL;
    time_t  now = time(NULL);
    int     rc = CS_EINTERNAL, src;

    if (cs_dir_validate(st, doc, &d, err, errlen) < 0) {
	cs_dir_free(&d);
	return strcmp(err, "out of memory") == 0 ? CS_EINTERNAL : CS_EINVAL;
    }
    if (write_begin(st) < 0) {
	cs_dir_free(&d);
	return CS_EINTERNAL;
    }
    /* X2: the local persons' ids, checked where nothing can change them. */
    if ((src = cs_dir_check_ids(&d, dir_lookup, c, err, errlen)) < 0) {
	if (src == -2) {
	    cs_error(NULL, "store: directory import: %s", sqlite3_errmsg(c->db));
	    snprintf(err, errlen, "the directory was not changed: %s", sqlite3_errmsg(c->db));
	}
	cs_dir_free(&d);
	return write_end(st, src == -1 ? CS_EINVAL : CS_EINTERNAL);
    }
    if ((taken = json_array()) == NULL || (aud = json_array()) == NULL)
	src = SQLITE_NOMEM;
    else
	src = dir_apply(c, &d, taken, now);
    if (src == SQLITE_OK)
	src = cs_store_audit(st, "directory", "directory import", aud, now);
    if (src == SQLITE_OK
	&& (res = json_pack("{s:I,s:I,s:O}", "persons", (json_int_t) d.npersons,
			    "deals", (json_int_t) json_array_size(d.deals),
			    "taken_over", taken)) == NULL)
	src = SQLITE_NOMEM;
    if (src != SQLITE_OK) {
	cs_error(NULL, "store: directory import: %s", sqlite3_errmsg(c->db));
	snprintf(err, errlen, "the directory was not changed: %s", sqlite3_errmsg(c->db));
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

