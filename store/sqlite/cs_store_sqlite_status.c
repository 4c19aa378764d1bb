/*
 * NAME
 *	cs_store_sqlite_status 3
 * SUMMARY
 *	SQLite backend: the milters' status documents (crmsyncctl stats)
 * DESCRIPTION
 *	Table milter_status(host, updated_at, status_json): one row per
 *	host, replaced at each flush of milter/counters.c. The write runs on
 *	the write connection (cs_store.c holds wlock) with a short busy
 *	timeout instead of the store's: another process holding the database
 *	lock must not keep the writer, and the mail behind it, waiting on a
 *	status line. Rows of a host that stopped stay, with an old
 *	updated_at; "age_seconds" makes them plain.
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_log.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_sqlite.h"

/* Longest wait for the database lock for one status write. */
#define SQ_STATUS_BUSY_MS	100

static const char SQL_STATUS_PUT[] =
"INSERT INTO milter_status(host, updated_at, status_json) VALUES(?1, ?2, ?3)"
" ON CONFLICT(host) DO UPDATE SET updated_at=excluded.updated_at,"
" status_json=excluded.status_json";

/* sq_milter_status_put - replace one host's document; wlock held */
int     sq_milter_status_put(cs_store *cst, const char *host, time_t at, const char *json)
{
    sq_store *s = cst->be;
    sqlite3_stmt *st;
    int     rc;

    if (s->w.db == NULL)
	return CS_EINTERNAL;
    if ((st = sq_stmt(&s->w, SQL_STATUS_PUT)) == NULL)
	return CS_EINTERNAL;
    sqlite3_busy_timeout(s->w.db, SQ_STATUS_BUSY_MS);
    sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) at);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_busy_timeout(s->w.db, cst->timeout_ms > 0x7fffffffL ? 0x7fffffff
			 : (int) cst->timeout_ms);
    if (rc != SQLITE_DONE) {
	/* Busy is expected now and then (a crmsyncctl write): not an error. */
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
	    cs_debug(NULL, "store: status: database busy, skipped");
	else
	    cs_warn(NULL, "store: status: %s", sqlite3_errmsg(s->w.db));
	return CS_EINTERNAL;
    }
    return CS_OK;
}

/* sq_milter_status_get - {host: document} for every host */
int     sq_milter_status_get(cs_store *cst, json_t **out)
{
    sq_store *s = cst->be;
    sqlite3_stmt *st = NULL;
    time_t  now = time(NULL);
    json_t *res, *doc;
    int     rc;

    *out = NULL;
    if ((res = json_object()) == NULL)
	return CS_EINTERNAL;
    pthread_mutex_lock(&s->rlock);
    rc = sqlite3_prepare_v2(s->r.db, "SELECT host, updated_at, status_json"
			    " FROM milter_status ORDER BY host", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
	const char *host = (const char *) sqlite3_column_text(st, 0);

	if (host == NULL) {
	    rc = SQLITE_OK;
	    continue;
	}
	if ((doc = cs_status_doc((const char *) sqlite3_column_text(st, 2),
				 (long long) sqlite3_column_int64(st, 1), now)) == NULL) {
	    rc = SQLITE_NOMEM;
	    break;
	}
	/* A host name that is not UTF-8 (not one a milter writes): left out. */
	(void) json_object_set_new(res, host, doc);
	rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
	cs_error(NULL, "store: milter status: %s", rc == SQLITE_NOMEM ? "out of memory"
		 : sqlite3_errmsg(s->r.db));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rlock);
    if (rc != SQLITE_DONE) {
	json_decref(res);
	return CS_EINTERNAL;
    }
    *out = res;
    return CS_OK;
}
