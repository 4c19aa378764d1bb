/*
 * NAME
 *	cs_store_read 3
 * SUMMARY
 *	reading one thread, its raw messages, an attachment, the stats
 * DESCRIPTION
 *	Written once over cs_store_db.h: each call takes a read snapshot
 *	(read_begin), reads with the dialect's SQL and builds the answer.
 *	A thread and its messages are found only where the acting user
 *	may see them (V2, V3, V6: the SQL's visibility rule); the raw
 *	messages only in the owner's own thread (X1 --raw). Attachment
 *	extraction and message text come from the MIME parser (cs_mime).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_util.h"
#include "cs_store_read.h"

#define SQL(st)	((st)->ops->sql)

/* message_obj - one message of "thread": fields, text and attachments */
static json_t *message_obj(cs_rows *q)
{
    size_t  len;
    const char *raw = cs_db_blob(q, 8, &len);
    cs_mimeinfo mi = {0};
    json_t *o, *from, *atts;
    char    date[32];
    size_t  i;

    if (raw == NULL)
	return NULL;
    cs_iso_date(cs_db_null(q, 4) ? cs_db_num(q, 5) : cs_db_num(q, 4), date, sizeof(date));
    from = cs_addr_array(cs_db_text(q, 1));
    if (cs_mime_parse(raw, len, &mi) < 0) {
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
		  "message_id", cs_db_null(q, 0) ? NULL : cs_db_text(q, 0),
		  "from", json_array_size(from) ? json_array_get(from, 0) : json_null(),
		  "to", cs_addr_array(cs_db_text(q, 2)),
		  "cc", cs_addr_array(cs_db_text(q, 3)),
		  "date", date,
		  "subject", cs_db_null(q, 6) ? NULL : cs_db_text(q, 6),
		  "text", mi.text ? mi.text : "",
		  "attachments", atts,
		  "truncated", cs_db_num(q, 7) != 0);
    json_decref(from);
    cs_mimeinfo_free(&mi);
    return o;
}

/* cs_read_thread_get - a thread object as as may see it */
int     cs_read_thread_get(cs_store *st, int w, const char *as, long long id, json_t **t)
{
    cs_rows *r = cs_db_q(st, w, SQL(st)->tget, "si", as, id);
    json_t *a = json_array();
    int     more;

    *t = NULL;
    if (r == NULL || a == NULL || cs_read_threads(st, w, as, r, 1, a, NULL, 0, &more, NULL, NULL) < 0) {
	if (a == NULL)
	    cs_db_close(r);
	json_decref(a);
	return CS_EINTERNAL;
    }
    *t = json_incref(json_array_get(a, 0));
    json_decref(a);
    return *t ? CS_OK : CS_ENOTFOUND;
}

/* cs_read_thread - one thread with its messages as as may see it (X1) */
int     cs_read_thread(cs_store *st, const char *as, const char *tid, json_t **out)
{
    long long id = cs_thread_id(tid);
    cs_rows *q = NULL;
    json_t *t = NULL, *msgs, *m;
    int     rc, n;

    if (id == 0)
	return CS_ENOTFOUND;
    if (st->ops->read_begin(st) < 0)
	return CS_EINTERNAL;
    if ((rc = cs_read_thread_get(st, CS_DB_R, as, id, &t)) != CS_OK)
	goto out;
    rc = CS_EINTERNAL;
    if ((msgs = json_array()) == NULL || json_object_set_new(t, "messages", msgs) < 0
	|| (q = cs_db_q(st, CS_DB_R, SQL(st)->tmsgs, "si", as, id)) == NULL)
	goto out;
    while ((n = cs_db_next(q)) > 0)
	if ((m = message_obj(q)) == NULL || json_array_append_new(msgs, m) < 0)
	    goto out;
    if (n < 0)
	goto out;
    *out = t;
    t = NULL;
    rc = CS_OK;
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: thread: %s", cs_db_error(st, CS_DB_R));
    cs_db_close(q);
    st->ops->read_end(st);
    json_decref(t);
    return rc;
}

/* cs_read_thread_raw - the raw messages of one's own thread */
int     cs_read_thread_raw(cs_store *st, const char *as, const char *tid,
			           cs_store_raw_fn fn, void *arg)
{
    long long id = cs_thread_id(tid);
    cs_rows *q = NULL;
    int     rc, n;

    if (id == 0)
	return CS_ENOTFOUND;
    if (st->ops->read_begin(st) < 0)
	return CS_EINTERNAL;
    if ((rc = cs_prim_thread_check(st, CS_DB_R, as, id, NULL, 0)) != CS_OK)
	goto out;
    rc = CS_EINTERNAL;
    if ((q = cs_db_q(st, CS_DB_R, SQL(st)->tmsgs_own, "si", as, id)) == NULL)
	goto out;
    while ((n = cs_db_next(q)) > 0) {
	size_t  len;
	const void *raw = cs_db_blob(q, 2, &len);

	if (raw == NULL || fn(arg, cs_db_null(q, 0) ? NULL : cs_db_text(q, 0), raw, len,
			      (int) cs_db_num(q, 1)) != 0)
	    goto out;
    }
    if (n == 0)
	rc = CS_OK;
out:
    cs_db_close(q);
    st->ops->read_end(st);
    return rc;
}

/* cs_read_attachment - attachment n (1-based, across the thread's messages) */
int     cs_read_attachment(cs_store *st, const char *as, const char *tid, size_t n,
			           cs_buf *out)
{
    long long id = cs_thread_id(tid);
    cs_rows *q;
    int     rc = CS_EINTERNAL, r;

    if (id == 0)
	return CS_ENOTFOUND;
    if (st->ops->read_begin(st) < 0)
	return CS_EINTERNAL;
    if ((q = cs_db_q(st, CS_DB_R, SQL(st)->tmsgs, "si", as, id)) == NULL)
	goto out;
    rc = CS_ENOTFOUND;
    while ((r = cs_db_next(q)) > 0) {
	size_t  len, natt;
	const char *raw = cs_db_blob(q, 8, &len);
	cs_mimeinfo mi = {0};

	if (raw == NULL || cs_mime_parse(raw, len, &mi) < 0) {
	    rc = CS_EINTERNAL;
	    break;
	}
	natt = mi.natt;
	cs_mimeinfo_free(&mi);
	if (n > natt) {
	    n -= natt;
	    continue;
	}
	rc = cs_mime_attachment(raw, len, n, out) == 0 ? CS_OK : CS_EINTERNAL;
	break;
    }
    if (r < 0)
	rc = CS_EINTERNAL;
    cs_db_close(q);
out:
    st->ops->read_end(st);
    return rc;
}

/* stat_num - the first column of a one-row query, 0 when no row */
static int stat_num(cs_store *st, const char *sql, const char *name, long long *v)
{
    cs_rows *q = name ? cs_db_q(st, CS_DB_R, sql, "s", name) : cs_db_q(st, CS_DB_R, sql, "");
    int     n;

    if (q == NULL)
	return -1;
    n = cs_db_next(q);
    *v = n > 0 ? cs_db_num(q, 0) : 0;
    cs_db_close(q);
    return n < 0 ? -1 : 0;
}

/* cs_read_stats - counts of the store's rows, per mailbox too */
int     cs_read_stats(cs_store *st, json_t **out)
{
    static const struct {
	const char *key;
	const char *sql;			/* NULL: the dialect's */
	const char *counter;
    }       q[] = {
	{"users", "SELECT count(*) FROM users", NULL},
	{"messages", "SELECT count(*) FROM messages", NULL},
	{"threads", "SELECT count(*) FROM threads", NULL},
	{"persons", "SELECT count(*) FROM persons", NULL},
	{"deals", "SELECT count(*) FROM deals", NULL},
	{"raw_blobs", "SELECT count(*) FROM raw", NULL},
	{"raw_bytes", "SELECT coalesce(sum(size),0) FROM raw", NULL},
	{"db_bytes", NULL, NULL},
	{"merges", "SELECT count(*) FROM merges", NULL},
	{"commit_groups", NULL, "commit_groups"},
	{"records", NULL, "records"},
	{"events_pending", "SELECT count(*) FROM events WHERE state='pending'", NULL},
	{"events_failed", "SELECT count(*) FROM events WHERE state='failed'", NULL},
    };
    static const char SQL_MB[] =
	"SELECT u.id, (SELECT count(*) FROM messages m WHERE m.owner=u.id) FROM users u"
	" ORDER BY u.id";
    json_t *res, *mb;
    cs_rows *r = NULL;
    long long v;
    size_t  i;
    int     rc = CS_EINTERNAL, n;

    if ((res = json_object()) == NULL || (mb = json_object()) == NULL
	|| json_object_set_new(res, "mailboxes", mb) < 0) {
	json_decref(res);
	return CS_EINTERNAL;
    }
    if (st->ops->read_begin(st) < 0) {
	json_decref(res);
	return CS_EINTERNAL;
    }
    if (stat_num(st, SQL(st)->stat_schema, NULL, &v) < 0
	|| json_object_set_new(res, "schema_version", json_integer((json_int_t) v)) < 0)
	goto out;
    for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
	if (stat_num(st, q[i].sql ? q[i].sql : q[i].counter ? SQL(st)->stat_counter
		     : SQL(st)->stat_db_bytes, q[i].counter, &v) < 0
	    || json_object_set_new(res, q[i].key, json_integer((json_int_t) v)) < 0)
	    goto out;
    if ((r = cs_db_q(st, CS_DB_R, SQL_MB, "")) == NULL)
	goto out;
    while ((n = cs_db_next(r)) > 0)
	if (json_object_set_new(mb, cs_db_text(r, 0), json_integer((json_int_t) cs_db_num(r, 1))) < 0)
	    goto out;
    if (n < 0)
	goto out;
    *out = res;
    res = NULL;
    rc = CS_OK;
out:
    if (rc != CS_OK)
	cs_error(NULL, "store: stats: %s", cs_db_error(st, CS_DB_R));
    cs_db_close(r);
    st->ops->read_end(st);
    json_decref(res);
    return rc;
}
