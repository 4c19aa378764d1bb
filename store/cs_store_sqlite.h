/*
 * NAME
 *	cs_store_sqlite 3h
 * SUMMARY
 *	SQLite backend internals shared by its source files
 * DESCRIPTION
 *	The backend keeps two connections: the write connection, used only
 *	under cs_store.wlock (by the writer thread, or inline), and a read
 *	connection under its own lock, so that reads (mailbox, stats, the
 *	milter's T1 probes) run beside a group commit on WAL snapshots.
 *	Statements are prepared once per connection and cached by their SQL
 *	text's address (the SQL are string constants).
 */
#ifndef CS_STORE_SQLITE_H
#define CS_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include "cs_store_impl.h"

#define SQ_CACHE_MAX	64

typedef struct sq_conn {
    sqlite3 *db;
    struct {
	const char *sql;
	sqlite3_stmt *stmt;
    }       cache[SQ_CACHE_MAX];
    size_t  ncache;
} sq_conn;

typedef struct sq_store {
    sq_conn w;				/* NULL db when read-only */
    sq_conn r;
    pthread_mutex_t rlock;
} sq_store;

/* A prepared, reset statement for sql on c; NULL on error. */
sqlite3_stmt *sq_stmt(sq_conn *, const char *sql);
/* Reset every cached statement (before ending a transaction). */
void    sq_reset_all(sq_conn *);
/* Is this result code one that fails a whole group (C1)? */
int     sq_fatal(int rc);

/* Writing and T1 (cs_store_sqlite_write.c). */
int     sq_write_group(cs_store *, cs_store_job **, size_t);
int     sq_joins_thread(cs_store *, const char *user, const cs_store_job *);

#endif
