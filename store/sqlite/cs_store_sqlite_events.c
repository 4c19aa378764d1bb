/*
 * NAME
 *	cs_store_sqlite_events 3
 * SUMMARY
 *	SQLite store backend: the X3 event outbox
 * DESCRIPTION
 *	Writers add events with sq_event_add() inside the transaction of the
 *	change they announce: an event exists exactly when its change was
 *	committed, and it stays in the events table until the CRM has
 *	answered 2xx for it (state 'sent', pruned after EventRetention), or
 *	a 4xx other than 408/429 parked it (state 'failed', back to
 *	'pending' by crmsyncctl events retry).
 *
 *	Each row keeps the whole event as sent (its JSON object), so a
 *	redelivery after a crash carries the same id and the same bytes.
 *	The thread and thread2 columns order delivery: the sender never
 *	takes an event while an earlier event of the same thread waits for
 *	a retry. Parked events do not hold their thread: the CRM refused
 *	them for good, and holding would stop the thread's events forever.
 *
 *	One sender at a time: the event_lease row names the holder
 *	("host:pid:random") and an expiry; another sender takes it over when
 *	it has expired or, on the same host, when the holder's process is
 *	gone (kill -9, then restart, must not wait for the lease).
 *	The sender has its own connection with short transactions, so the
 *	writer (mail) never waits for the CRM.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <jansson.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_log.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_event.h"
#include "cs_store_sqlite.h"

#define SQ_LEASE_SECONDS	120	/* outlives any one delivery attempt */
#define SQ_SCAN_MAX		20000	/* pending rows looked at per claim */

typedef struct sq_outbox {
    struct cs_outbox base;		/* first: cs_store.c dispatches on it */
    sq_conn c;
    char    holder[256];
    time_t  lease_until;		/* our lease, as last written */
} sq_outbox;

static const char SQL_EV_INSERT[] =
"INSERT INTO events(uuid, type, owner, thread, thread2, at, payload)"
" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_EV_SHARED[] =
"SELECT 1 FROM threads WHERE id=?1 AND visibility='shared'";

/* ev_stmt - cached statement on c, else a fresh one on db */
static sqlite3_stmt *ev_stmt(sqlite3 *db, sq_conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (c)
	return sq_stmt(c, sql);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
	cs_error(NULL, "store: events: prepare: %s", sqlite3_errmsg(db));
	return NULL;
    }
    return st;
}

/* ev_release - give a statement back: reset a cached one, free a fresh one */
static void ev_release(sq_conn *c, sqlite3_stmt *st)
{
    if (c)
	sqlite3_reset(st);
    else
	sqlite3_finalize(st);
}

/* ev_shared - 1 if the thread is shared now, 0 if not, <0 SQLite error */
static int ev_shared(sqlite3 *db, sq_conn *c, sqlite3_int64 thread)
{
    sqlite3_stmt *st;
    int     rc;

    if (thread <= 0)
	return 0;
    if ((st = ev_stmt(db, c, SQL_EV_SHARED)) == NULL)
	return -SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, thread);
    rc = sqlite3_step(st);
    ev_release(c, st);
    if (rc == SQLITE_ROW)
	return 1;
    return rc == SQLITE_DONE ? 0 : -rc;
}

/* ev_add - build the event object and insert it; SQLite rc */
static int ev_add(sqlite3 *db, sq_conn *c, const char *type, const char *owner,
		          sqlite3_int64 thread, sqlite3_int64 thread2, json_t *ids,
		          json_t *content)
{
    char    uuid[37];
    char   *text = NULL;
    sqlite3_stmt *st;
    time_t  now;
    int     rc, shared = 0;

    if (content && json_is_object(content) && (shared = ev_shared(db, c, thread)) < 0)
	return -shared;
    if ((rc = cs_event_body(type, owner, ids, content, shared, uuid, &now, &text)) < 0)
	return rc == CS_EVENT_MISUSE ? SQLITE_MISUSE : rc == CS_EVENT_NOMEM ? SQLITE_NOMEM
	    : SQLITE_ERROR;
    if ((st = ev_stmt(db, c, SQL_EV_INSERT)) == NULL) {
	free(text);
	return SQLITE_ERROR;
    }
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    if (owner)
	sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
    if (thread > 0)
	sqlite3_bind_int64(st, 4, thread);
    if (thread2 > 0)
	sqlite3_bind_int64(st, 5, thread2);
    sqlite3_bind_int64(st, 6, (sqlite3_int64) now);
    sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
    ev_release(c, st);
    free(text);
    return rc;
}

/* sq_event_add - one event in the caller's transaction (see cs_store_sqlite.h) */
int     sq_event_add(sqlite3 *db, const char *type, const char *owner,
		             const char *thread_id, json_t *ids_payload, json_t *content_or_null)
{
    sqlite3_int64 thread = cs_thread_num(thread_id);
    int     rc;

    if (db == NULL || (thread_id && thread == 0)) {
	cs_error(NULL, "store: events: bad thread id for %s", type ? type : "event");
	return CS_EINTERNAL;
    }
    rc = ev_add(db, NULL, type, owner, thread, 0, ids_payload, content_or_null);
    if (rc != SQLITE_OK) {
	cs_error(NULL, "store: events: %s not recorded: %s", type ? type : "event",
		 sqlite3_errstr(rc));
	return CS_EINTERNAL;
    }
    return CS_OK;
}

/* sq_event_add_c - the record path's form: cached statements, SQLite rc */
int     sq_event_add_c(sq_conn *c, const char *type, const char *owner, sqlite3_int64 thread,
		               sqlite3_int64 thread2, json_t *ids_payload, json_t *content_or_null)
{
    return ev_add(c->db, c, type, owner, thread, thread2, ids_payload, content_or_null);
}

/* sq_event_shared - is the thread shared now? (lets callers skip content) */
int     sq_event_shared(sq_conn *c, sqlite3_int64 thread)
{
    return ev_shared(c->db, c, thread) > 0;
}

/* Sender side. */

static const char SQL_LEASE_GET[] = "SELECT holder, until FROM event_lease WHERE name='sender'";
static const char SQL_LEASE_TAKE[] =
"INSERT INTO event_lease(name, holder, until) VALUES('sender', ?1, ?2)"
" ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, until=excluded.until";
static const char SQL_LEASE_DROP[] = "DELETE FROM event_lease WHERE name='sender' AND holder=?1";
static const char SQL_SCAN[] =
"SELECT id, uuid, type, thread, thread2, next_try, payload, attempts FROM events"
" WHERE state='pending' ORDER BY id";
static const char SQL_DONE[] =
"UPDATE events SET state='sent', done_at=?2, attempts=attempts+1, last_error=NULL"
" WHERE id=?1 AND state='pending'";
static const char SQL_LATER[] =
"UPDATE events SET next_try=?2, attempts=attempts+1, last_error=?3"
" WHERE id=?1 AND state='pending'";
static const char SQL_PARK[] =
"UPDATE events SET state='failed', done_at=?2, attempts=attempts+1, last_error=?3"
" WHERE id=?1 AND state='pending'";
static const char SQL_PRUNE_SENT[] = "DELETE FROM events WHERE state='sent' AND done_at<?1";
static const char SQL_PRUNE_ALL[] = "DELETE FROM events WHERE at<?1";

/* holder_gone - is the holder a dead process on this host? */
static int holder_gone(const char *holder, const char *mine)
{
    const char *a = strchr(holder, ':'), *b = strchr(mine, ':');
    char   *end;
    long    pid;

    if (a == NULL || b == NULL || a - holder != b - mine || memcmp(holder, mine, (size_t) (a - holder)))
	return 0;				/* another host: only the expiry counts */
    errno = 0;
    pid = strtol(a + 1, &end, 10);
    if (errno || *end != ':' || pid <= 0)
	return 0;
    if (pid == (long) getpid())
	return 1;				/* an earlier sender of ours, stopped */
    return kill((pid_t) pid, 0) < 0 && errno == ESRCH;
}

/* lease - take or renew the sender lease; 1 held, 0 someone else's, <0 error */
static int lease(sq_outbox *ob, time_t now)
{
    sqlite3_stmt *st;
    int     rc, mine = 0;
    char    holder[256] = "";
    sqlite3_int64 until = 0;

    if (ob->lease_until - now > SQ_LEASE_SECONDS / 2)
	return 1;
    if (sqlite3_exec(ob->c.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
	return -1;
    if ((st = sq_stmt(&ob->c, SQL_LEASE_GET)) == NULL)
	goto fail;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
	const unsigned char *h = sqlite3_column_text(st, 0);

	snprintf(holder, sizeof(holder), "%s", h ? (const char *) h : "");
	until = sqlite3_column_int64(st, 1);
    } else if (rc != SQLITE_DONE)
	goto fail;
    sqlite3_reset(st);
    if (*holder == 0 || strcmp(holder, ob->holder) == 0 || until < (sqlite3_int64) now
	|| holder_gone(holder, ob->holder)) {
	if ((st = sq_stmt(&ob->c, SQL_LEASE_TAKE)) == NULL)
	    goto fail;
	sqlite3_bind_text(st, 1, ob->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64) (now + SQ_LEASE_SECONDS));
	if (sqlite3_step(st) != SQLITE_DONE)
	    goto fail;
	mine = 1;
    }
    sq_reset_all(&ob->c);
    if (sqlite3_exec(ob->c.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
	goto fail;
    if (mine) {
	if (strcmp(holder, ob->holder) != 0)
	    cs_info(NULL, "events: sender lease taken%s%s", *holder ? " over from " : "",
		    holder);
	ob->lease_until = now + SQ_LEASE_SECONDS;
    }
    return mine;
fail:
    cs_error(NULL, "store: events: lease: %s", sqlite3_errmsg(ob->c.db));
    sq_reset_all(&ob->c);
    sqlite3_exec(ob->c.db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* sq_outbox_open - the sender's own connection to the same database */
cs_outbox *sq_outbox_open(cs_store *st, const char *holder, char *err, size_t errlen)
{
    sq_store *s = st->be;
    const char *path = s && s->r.db ? sqlite3_db_filename(s->r.db, "main") : NULL;
    sq_outbox *ob;
    long    ms = st->timeout_ms > 0x7fffffffL ? 0x7fffffffL : st->timeout_ms;

    if (path == NULL || *path == 0 || holder == NULL || strlen(holder) >= sizeof(ob->holder)) {
	snprintf(err, errlen, "events: no database to send from");
	return NULL;
    }
    if ((ob = calloc(1, sizeof(*ob))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    ob->base.ops = st->ops;
    snprintf(ob->holder, sizeof(ob->holder), "%s", holder);
    if (sqlite3_open_v2(path, &ob->c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			NULL) != SQLITE_OK
	|| sqlite3_busy_timeout(ob->c.db, (int) ms) != SQLITE_OK
	|| sqlite3_exec(ob->c.db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;",
			NULL, NULL, NULL) != SQLITE_OK) {
	snprintf(err, errlen, "events: %s: %s", path,
		 ob->c.db ? sqlite3_errmsg(ob->c.db) : "cannot open");
	sqlite3_close(ob->c.db);
	free(ob);
	return NULL;
    }
    sqlite3_extended_result_codes(ob->c.db, 1);
    /* The store's checkpoint thread checkpoints the WAL: not this one too. */
    if (s->ck_started)
	sqlite3_wal_autocheckpoint(ob->c.db, 0);
    return &ob->base;
}

/* sq_outbox_close - give up the lease and the connection */
void    sq_outbox_close(cs_outbox *base)
{
    sq_outbox *ob = (sq_outbox *) base;
    sqlite3_stmt *st;

    if (ob == NULL)
	return;
    if (ob->lease_until && (st = sq_stmt(&ob->c, SQL_LEASE_DROP)) != NULL) {
	sqlite3_bind_text(st, 1, ob->holder, -1, SQLITE_STATIC);
	(void) sqlite3_step(st);
	sqlite3_reset(st);
    }
    for (size_t i = 0; i < ob->c.ncache; i++)
	sqlite3_finalize(ob->c.cache[i].stmt);
    sqlite3_close(ob->c.db);
    free(ob);
}

/* sq_outbox_claim - the next events due, in order, none overtaking its thread */
int     sq_outbox_claim(cs_outbox *base, time_t now, size_t max, size_t max_bytes,
			        cs_event **out, size_t *n)
{
    sq_outbox *ob = (sq_outbox *) base;
    sqlite3_stmt *st;
    cs_ids  blk = {0};
    size_t  bytes = 0, scanned = 0;
    cs_event *ev = NULL;
    int     rc, step = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    if (max == 0)
	return CS_OK;
    if ((rc = lease(ob, now)) <= 0)
	return rc < 0 ? CS_EINTERNAL : CS_OK;
    if ((ev = calloc(max, sizeof(*ev))) == NULL)
	return CS_EINTERNAL;
    if (sqlite3_exec(ob->c.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK
	|| (st = sq_stmt(&ob->c, SQL_SCAN)) == NULL) {
	rc = CS_EINTERNAL;
	goto out;
    }
    rc = CS_OK;
    while (*n < max && scanned++ < SQ_SCAN_MAX && (step = sqlite3_step(st)) == SQLITE_ROW) {
	sqlite3_int64 t1 = sqlite3_column_int64(st, 3), t2 = sqlite3_column_int64(st, 4);
	const char *body = (const char *) sqlite3_column_text(st, 6);
	size_t  len = (size_t) sqlite3_column_bytes(st, 6);
	cs_event *e = &ev[*n];

	if (cs_event_waits(&blk, t1, t2, sqlite3_column_int64(st, 5), now)) {
	    if (cs_event_hold(&blk, t1, t2) < 0) {
		rc = CS_EINTERNAL;
		break;
	    }
	    continue;
	}
	if (*n > 0 && bytes + len > max_bytes)
	    break;
	if (cs_event_take(e, sqlite3_column_int64(st, 0), sq_col_text(st, 1), sq_col_text(st, 2),
			  body, sqlite3_column_int(st, 7)) < 0) {
	    (*n)++;
	    rc = CS_EINTERNAL;
	    break;
	}
	bytes += len;
	(*n)++;
    }
    if (rc == CS_OK && *n < max && scanned <= SQ_SCAN_MAX && step != SQLITE_ROW
	&& step != SQLITE_DONE)
	rc = CS_EINTERNAL;
out:
    if (rc != CS_OK)
	cs_error(NULL, "store: events: claim: %s", sqlite3_errmsg(ob->c.db));
    sq_reset_all(&ob->c);
    sqlite3_exec(ob->c.db, "COMMIT", NULL, NULL, NULL);
    cs_ids_free(&blk);
    if (rc != CS_OK || *n == 0) {
	cs_store_events_free(ev, *n);
	*n = 0;
	return rc;
    }
    *out = ev;
    return CS_OK;
}

/* sq_outbox_settle - record one delivery's outcome for all its events */
int     sq_outbox_settle(cs_outbox *base, const cs_event *ev, size_t n, int outcome,
			         time_t when, const char *error)
{
    sq_outbox *ob = (sq_outbox *) base;
    const char *sql = outcome == CS_EVENT_DELIVERED ? SQL_DONE
    : outcome == CS_EVENT_PARKED ? SQL_PARK : SQL_LATER;
    sqlite3_stmt *st;
    size_t  i;

    if (sqlite3_exec(ob->c.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
	goto fail;
    for (i = 0; i < n; i++) {
	if ((st = sq_stmt(&ob->c, sql)) == NULL)
	    goto fail;
	sqlite3_bind_int64(st, 1, ev[i].seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64) when);
	if (outcome != CS_EVENT_DELIVERED && error)
	    sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
	    goto fail;
	sqlite3_reset(st);
    }
    sq_reset_all(&ob->c);
    if (sqlite3_exec(ob->c.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
	goto fail;
    return CS_OK;
fail:
    cs_error(NULL, "store: events: settle: %s", sqlite3_errmsg(ob->c.db));
    sq_reset_all(&ob->c);
    sqlite3_exec(ob->c.db, "ROLLBACK", NULL, NULL, NULL);
    return CS_EINTERNAL;
}

/* sq_outbox_prune - drop delivered events past retention (and all, unsent) */
int     sq_outbox_prune(cs_outbox *base, time_t sent_before, time_t any_before)
{
    sq_outbox *ob = (sq_outbox *) base;
    sqlite3_stmt *st;
    int     rc;

    if ((st = sq_stmt(&ob->c, SQL_PRUNE_SENT)) == NULL)
	return CS_EINTERNAL;
    sqlite3_bind_int64(st, 1, (sqlite3_int64) sent_before);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE && any_before) {
	if ((st = sq_stmt(&ob->c, SQL_PRUNE_ALL)) == NULL)
	    return CS_EINTERNAL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64) any_before);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE) {
	cs_error(NULL, "store: events: prune: %s", sqlite3_errmsg(ob->c.db));
	return CS_EINTERNAL;
    }
    return CS_OK;
}
