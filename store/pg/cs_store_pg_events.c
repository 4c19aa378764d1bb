/*
 * NAME
 *	cs_store_pg_events 3
 * SUMMARY
 *	PostgreSQL store backend: the X3 event outbox, shared by a fleet
 * DESCRIPTION
 *	Writers add events with pg_event_add() in the transaction of the
 *	change they announce, as the SQLite backend does: an event exists
 *	exactly when its change committed, with its whole JSON object (id
 *	and bytes stable across redeliveries).
 *
 *	Senders: every crmsync-milter of a fleet runs one, and any of them
 *	may deliver any event, but never two at once for one thread and
 *	never one overtaking an earlier event of its thread (X3 order per
 *	thread, F1). Instead of SQLite's single-sender lease, a claim opens
 *	a transaction on the sender's own connection that lives until the
 *	outcome is settled (the delivery in between is bounded by the HTTP
 *	timeout). In it the sender takes, oldest first, each pending event
 *	whose thread(s) it can lock: pg_try_advisory_xact_lock on each
 *	thread (never waits; a thread another sender holds is skipped with
 *	everything after it), then the event row itself with FOR UPDATE SKIP
 *	LOCKED, re-checked to still be pending and due. Events without a
 *	thread (person.created) need only their row. An event that waits
 *	for a retry still blocks its thread's later events. Settling updates
 *	the rows and commits, which frees the threads. A sender that dies
 *	loses its connection, and PostgreSQL releases its locks at once:
 *	another host's sender redelivers (at least once, same id).
 *
 *	Writers insert events of one thread under the thread owner's lock
 *	(cs_store_pg_write.c), so within a thread, event ids follow commit
 *	order and "oldest first" is the order of the changes.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <libpq-fe.h>
#include <jansson.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_log.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_event.h"
#include "cs_store_pg.h"

#define PG_SCAN_MAX	20000		/* pending rows looked at per claim */
#define PG_LOCK_THREADS	(PG_LOCK_CLASS + 1)	/* lock space of event threads */

typedef struct pg_outbox {
    struct cs_outbox base;		/* first: cs_store.c dispatches on it */
    pg_store *s;			/* the store's settings (outlives us) */
    pg_conn c;
    char    holder[256];
    int     in_tx;			/* a claim's transaction is open */
} pg_outbox;

static const char SQL_EV_INSERT[] =
"INSERT INTO events(uuid, type, owner, thread, thread2, at, payload)"
" VALUES($1, $2, $3, $4::bigint, $5::bigint, $6, $7)";
static const char SQL_EV_SHARED[] =
"SELECT 1 FROM threads WHERE id=$1 AND visibility='shared'";

/* pg_event_shared - 1 if the thread is shared now, 0 if not, -1 error */
int     pg_event_shared(pg_conn *c, long long thread)
{
    PGresult *res;
    int     n;

    if (thread <= 0)
	return 0;
    if ((res = pg_q(c, SQL_EV_SHARED, "i", thread)) == NULL)
	return -1;
    n = PQntuples(res) > 0;
    PQclear(res);
    return n;
}

/* pg_event_add - one event in the caller's transaction; ids/content borrowed */
int     pg_event_add(pg_conn *c, const char *type, const char *owner, long long thread,
		             long long thread2, json_t *ids, json_t *content)
{
    char    uuid[37], t1[24], t2[24];
    char   *text = NULL;
    time_t  now;
    int     rc, shared = 0;

    c->state[0] = 0;
    if (content && json_is_object(content) && (shared = pg_event_shared(c, thread)) < 0)
	return -1;
    if ((rc = cs_event_body(type, owner, ids, content, shared, uuid, &now, &text)) < 0) {
	snprintf(c->msg, sizeof(c->msg), "event %s: %s", type ? type : "?",
		 rc == CS_EVENT_NORANDOM ? "no random bytes for an event id"
		 : rc == CS_EVENT_MISUSE ? "bad payload" : "out of memory");
	return -1;
    }
    snprintf(t1, sizeof(t1), "%lld", thread);
    snprintf(t2, sizeof(t2), "%lld", thread2);
    rc = pg_x(c, SQL_EV_INSERT, "sssssis", uuid, type, owner, thread > 0 ? t1 : NULL,
	      thread2 > 0 ? t2 : NULL, (long long) now, text);
    free(text);
    return rc;
}

/* Sender side. */

static const char SQL_SCAN[] =
"SELECT id, uuid, type, thread, thread2, next_try, payload, attempts FROM events"
" WHERE state='pending' ORDER BY id LIMIT $1";
static const char SQL_TRY_THREAD[] =
"SELECT pg_try_advisory_xact_lock($1::integer, $2::integer)";
static const char SQL_ROW_LOCK[] =
"SELECT state, next_try FROM events WHERE id=$1 FOR UPDATE SKIP LOCKED";
static const char SQL_DONE[] =
"UPDATE events SET state='sent', done_at=$2, attempts=attempts+1, last_error=NULL"
" WHERE id=$1 AND state='pending'";
static const char SQL_LATER[] =
"UPDATE events SET next_try=$2, attempts=attempts+1, last_error=$3"
" WHERE id=$1 AND state='pending'";
static const char SQL_PARK[] =
"UPDATE events SET state='failed', done_at=$2, attempts=attempts+1, last_error=$3"
" WHERE id=$1 AND state='pending'";
static const char SQL_PRUNE_SENT[] = "DELETE FROM events WHERE state='sent' AND done_at<$1";
static const char SQL_PRUNE_ALL[] = "DELETE FROM events WHERE at<$1";

/* pg_outbox_open - the sender's own connection to the same database */
cs_outbox *pg_outbox_open(cs_store *st, const char *holder, char *err, size_t errlen)
{
    pg_store *s = st->be;
    pg_outbox *ob;

    if (s == NULL || holder == NULL || strlen(holder) >= sizeof(ob->holder)) {
	snprintf(err, errlen, "events: no database to send from");
	return NULL;
    }
    if ((ob = calloc(1, sizeof(*ob))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    ob->base.ops = st->ops;
    ob->s = s;
    snprintf(ob->holder, sizeof(ob->holder), "%s", holder);
    /* Down now is not fatal: claims reconnect when it is back. */
    if (pg_connect(s, &ob->c) < 0)
	cs_warn(NULL, "events: %s: %s; will retry", s->display, ob->c.msg);
    return &ob->base;
}

/* end_claim - close an open claim's transaction (rollback: nothing settled) */
static void end_claim(pg_outbox *ob)
{
    if (ob->in_tx && ob->c.pc && PQstatus(ob->c.pc) == CONNECTION_OK)
	pg_cmd(&ob->c, "ROLLBACK");
    ob->in_tx = 0;
}

/* pg_outbox_close - release the claims and the connection */
void    pg_outbox_close(cs_outbox *base)
{
    pg_outbox *ob = (pg_outbox *) base;

    if (ob == NULL)
	return;
    end_claim(ob);
    pg_disconnect(&ob->c);
    free(ob);
}

/* try_thread - lock a thread for this claim without waiting: 1, 0 or -1 */
static int try_thread(pg_conn *c, long long t)
{
    PGresult *res;
    int     got;

    if (t <= 0)
	return 1;
    /* Thread ids fold into 31 bits: a collision only delays a thread. */
    if ((res = pg_q(c, SQL_TRY_THREAD, "ii", (long long) PG_LOCK_THREADS,
		    t & 0x7fffffffLL)) == NULL)
	return -1;
    got = strcmp(pg_text(res, 0, 0), "t") == 0;
    PQclear(res);
    return got;
}

/* pg_outbox_claim - the next due events no other sender holds, in order per thread */
int     pg_outbox_claim(cs_outbox *base, time_t now, size_t max, size_t max_bytes,
			        cs_event **out, size_t *n)
{
    pg_outbox *ob = (pg_outbox *) base;
    pg_conn *c = &ob->c;
    PGresult *scan = NULL, *row;
    cs_ids  blk = {0}, mine = {0};
    size_t  bytes = 0;
    cs_event *ev = NULL;
    int     rc = CS_EINTERNAL, i, r;

    *out = NULL;
    *n = 0;
    end_claim(ob);
    if (max == 0)
	return CS_OK;
    if (pg_begin(ob->s, c, "BEGIN") < 0)
	goto out;
    ob->in_tx = 1;
    if ((ev = calloc(max, sizeof(*ev))) == NULL
	|| (scan = pg_q(c, SQL_SCAN, "i", (long long) PG_SCAN_MAX)) == NULL)
	goto out;
    rc = CS_OK;
    for (i = 0; i < PQntuples(scan) && *n < max; i++) {
	long long id = pg_int(scan, i, 0), t1 = pg_int(scan, i, 3), t2 = pg_int(scan, i, 4);
	const char *body = pg_text(scan, i, 6);
	size_t  len = strlen(body);
	cs_event *e = &ev[*n];
	int     wait = 0;

	if (cs_event_waits(&blk, t1, t2, pg_int(scan, i, 5), now))
	    wait = 1;
	else if (*n > 0 && bytes + len > max_bytes)
	    break;
	/* Another sender's thread: it and what follows it are theirs. */
	if (!wait && !cs_ids_blocked(&mine, t1)) {
	    if ((r = try_thread(c, t1)) < 0)
		goto fail;
	    wait = r == 0;
	    if (r > 0 && cs_ids_block(&mine, t1) < 0)
		goto fail;
	}
	if (!wait && !cs_ids_blocked(&mine, t2)) {
	    if ((r = try_thread(c, t2)) < 0)
		goto fail;
	    wait = r == 0;
	    if (r > 0 && cs_ids_block(&mine, t2) < 0)
		goto fail;
	}
	if (!wait) {
	    /* Re-read under the row lock: the scan's snapshot may be old. */
	    if ((row = pg_q(c, SQL_ROW_LOCK, "i", id)) == NULL)
		goto fail;
	    if (PQntuples(row) == 0)
		wait = 1;			/* another sender holds the row */
	    else if (strcmp(pg_text(row, 0, 0), "pending") != 0) {
		PQclear(row);
		continue;			/* settled meanwhile: not waiting */
	    } else if (pg_int(row, 0, 1) > (long long) now)
		wait = 1;
	    PQclear(row);
	}
	if (wait) {
	    if (cs_event_hold(&blk, t1, t2) < 0)
		goto fail;
	    continue;
	}
	(*n)++;
	if (cs_event_take(e, id, pg_text(scan, i, 1), pg_text(scan, i, 2), body,
			  (int) pg_int(scan, i, 7)) < 0)
	    goto fail;
	bytes += len;
    }
    goto out;
fail:
    rc = CS_EINTERNAL;
out:
    if (rc != CS_OK)
	cs_error(NULL, "store: events: claim: %s", c->msg);
    PQclear(scan);
    cs_ids_free(&blk);
    cs_ids_free(&mine);
    if (rc != CS_OK || *n == 0) {
	/* Nothing taken: let the threads go now. */
	end_claim(ob);
	cs_store_events_free(ev, *n);
	*n = 0;
	return rc;
    }
    *out = ev;
    return CS_OK;
}

/* pg_outbox_settle - record one delivery's outcome; frees the claim's threads */
int     pg_outbox_settle(cs_outbox *base, const cs_event *ev, size_t n, int outcome,
			         time_t when, const char *error)
{
    pg_outbox *ob = (pg_outbox *) base;
    pg_conn *c = &ob->c;
    const char *sql = outcome == CS_EVENT_DELIVERED ? SQL_DONE
    : outcome == CS_EVENT_PARKED ? SQL_PARK : SQL_LATER;
    size_t  i;

    /* Without the claim's transaction (lost connection) the rows are free:
     * settle them anyway, each on its own, when the database answers. */
    if (!ob->in_tx && pg_begin(ob->s, c, "BEGIN") < 0)
	goto fail;
    ob->in_tx = 1;
    for (i = 0; i < n; i++)
	if ((outcome == CS_EVENT_DELIVERED
	     ? pg_x(c, sql, "ii", (long long) ev[i].seq, (long long) when)
	     : pg_x(c, sql, "iis", (long long) ev[i].seq, (long long) when, error)) < 0)
	    goto fail;
    if (pg_cmd(c, "COMMIT") < 0)
	goto fail;
    ob->in_tx = 0;
    return CS_OK;
fail:
    cs_error(NULL, "store: events: settle: %s", c->msg);
    end_claim(ob);
    return CS_EINTERNAL;
}

/* pg_outbox_prune - drop delivered events past retention (and all, unsent) */
int     pg_outbox_prune(cs_outbox *base, time_t sent_before, time_t any_before)
{
    pg_outbox *ob = (pg_outbox *) base;
    pg_conn *c = &ob->c;

    end_claim(ob);
    if (pg_ensure(ob->s, c) < 0
	|| pg_x(c, SQL_PRUNE_SENT, "i", (long long) sent_before) < 0
	|| (any_before && pg_x(c, SQL_PRUNE_ALL, "i", (long long) any_before) < 0)) {
	cs_error(NULL, "store: events: prune: %s", c->msg);
	return CS_EINTERNAL;
    }
    return CS_OK;
}


