/*
 * NAME
 *	cs_store_pg 3h
 * SUMMARY
 *	PostgreSQL store backend internals shared by its source files
 * DESCRIPTION
 *	Like the SQLite backend, two connections: the write connection,
 *	used only under cs_store.wlock (the writer thread, or inline), and
 *	a read connection under its own lock. The event sender opens a
 *	third (cs_store_pg_events.c).
 *
 *	Statements are prepared once per connection (PQprepare) and cached
 *	by the address of their SQL text (string constants); every value
 *	travels as a parameter (PQexecPrepared), never inside SQL text. A
 *	connection that breaks is reset on its next use, at most once per
 *	backoff period, so a database that is down costs a caller one
 *	bounded connect attempt or nothing at all (C1, F1).
 *
 *	Cross-host serialization (F1) uses transaction-scoped advisory
 *	locks in one class (PG_LOCK_CLASS) on buckets of hashed keys:
 *	"o:<owner>" for a mailbox, "e:<address>" for a Smart BCC person,
 *	"r:<sha256>" for a raw message. A writer takes every bucket its
 *	group needs in one statement, in ascending order, before it changes
 *	anything: two hosts can never deadlock on them.
 */
#ifndef CS_STORE_PG_H
#define CS_STORE_PG_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <libpq-fe.h>
#include "cs_store_impl.h"

#define PG_CACHE_MAX	160		/* prepared statements per connection */
#define PG_LOCK_CLASS	0x63726d73	/* "crms": our advisory lock space */
#define PG_LOCK_BUCKETS	1024		/* buckets: bounded locks per transaction */
#define PG_LOCK_MIGRATE	(-1)		/* object ids outside the buckets */
#define PG_LOCK_DIRECTORY (-2)
#define PG_LOCK_USERS	(-3)
#define PG_MAXP		32		/* parameters per statement */

typedef struct pg_conn {
    PGconn *pc;				/* NULL or broken: reconnect on use */
    const char *sql[PG_CACHE_MAX];	/* prepared as "cs<index>" */
    size_t  nsql;
    char    state[6];			/* SQLSTATE of the last error, "" */
    char    msg[256];			/* its message, one line */
    time_t  retry_at;			/* no reconnect before this */
    int     backoff;			/* seconds, doubles to PG_BACKOFF_MAX */
} pg_conn;

typedef struct pg_store {
    char   *conninfo;			/* the Database URI as given (secret) */
    char    display[512];		/* the URI with the password masked */
    long    timeout_ms;
    int     readonly;
    pg_conn w;
    pg_conn r;
    pthread_mutex_t rlock;
} pg_store;

/* Mask the password of a libpq URI or conninfo for logs. */
void    pg_mask_uri(const char *uri, char *out, size_t outlen);
/* Connect (or reconnect) c now; 0 or -1 with c->msg. */
int     pg_connect(pg_store *, pg_conn *);
/* Make sure c is usable: reconnect a broken one unless backing off. */
int     pg_ensure(pg_store *, pg_conn *);
void    pg_disconnect(pg_conn *);
/* pg_ensure, then the BEGIN statement given; once more on a dead session. */
int     pg_begin(pg_store *, pg_conn *, const char *begin);

/*
 * Run a prepared statement. types names each parameter: 's' const char *
 * (NULL is SQL NULL), 'i' long long, 'b' const void * then size_t (bytea,
 * binary). Answers the result when the statement succeeded (free it
 * with PQclear), NULL otherwise with c->state and c->msg set.
 */
PGresult *pg_q(pg_conn *c, const char *sql, const char *types, ...);
/* The same for a statement whose rows are not wanted: 0 or -1. */
int     pg_x(pg_conn *c, const char *sql, const char *types, ...);
/* A constant command without parameters (BEGIN, SAVEPOINT ...): 0 or -1. */
int     pg_cmd(pg_conn *c, const char *sql);
/* Does the last error fail a whole group (connection, timeout, lock)? */
int     pg_fatal(const pg_conn *c);
/* Rows changed by a command result. */
long long pg_changes(PGresult *);
/* Column helpers: "" for NULL text, 0 for NULL numbers. */
const char *pg_text(PGresult *, int row, int col);
long long pg_int(PGresult *, int row, int col);
int     pg_null(PGresult *, int row, int col);

/* Advisory lock bucket of a key ("o:" owner ...), 0..PG_LOCK_BUCKETS-1. */
int     pg_bucket(const char *prefix, const char *key);
/* Take the sorted, distinct buckets v[0..n) in the current transaction. */
int     pg_lock_buckets(pg_conn *c, int *v, size_t n);

/* Writing and T1 (cs_store_pg_write.c). */
int     pg_write_group(cs_store *, cs_store_job **, size_t, int);

/* X3 events in the caller's transaction; thread/thread2 0 for none. */
int     pg_event_add(pg_conn *c, const char *type, const char *owner, long long thread,
		             long long thread2, json_t *ids, json_t *content);
int     pg_event_shared(pg_conn *c, long long thread);

/* Outbox ops (cs_store_pg_events.c). */
cs_outbox *pg_outbox_open(cs_store *, const char *holder, char *err, size_t errlen);
void    pg_outbox_close(cs_outbox *);
int     pg_outbox_claim(cs_outbox *, time_t now, size_t max, size_t max_bytes,
			        cs_event **out, size_t *n);
int     pg_outbox_settle(cs_outbox *, const cs_event *, size_t n, int outcome,
			         time_t when, const char *error);
int     pg_outbox_prune(cs_outbox *, time_t sent_before, time_t any_before);

/* Erasure and retention primitives (cs_store_pg_erase.c; cs_store_impl.h). */
int     pg_msg_list(cs_store *, const cs_store_msgq *, cs_store_msg **, size_t *n);
int     pg_msg_raw(cs_store *, int64_t raw, cs_buf *);
int     pg_msg_delete(cs_store *, const char *owner, int64_t id, int64_t *left);
int     pg_erase_step(cs_store *, int step, const char *key, int64_t id, long *changes);
int     pg_scrub(cs_store *);

/* Shared read helpers (cs_store_pg.c). */

/* The owner actions' primitives (cs_store_impl.h) and SQL (cs_store_db.h). */
int     pg_act_begin(cs_store *, const char *as, const char *address);
int     pg_act_tx_begin(cs_store *, int what);
int     pg_act_tx_end(cs_store *, int rc);
int     pg_act_end(cs_store *, int rc);
int     pg_act_thread_delete(cs_store *, const char *owner, long long id);
int     pg_act_read_begin(cs_store *);
void    pg_act_read_end(cs_store *);
int     pg_act_person_new(cs_store *, const char *as, const char *address, const char *name,
			           time_t now, char *id, size_t idlen);
int     pg_act_event_add(cs_store *, const char *type, const char *owner, long long thread,
			          long long thread2, json_t *payload, json_t *content);
int     pg_merge_rows(cs_store *, const char *owner, long long old, long long target, time_t);
int     pg_bcc_person(cs_store *, const char *owner, const char *email, const char *name,
			           time_t now, char *id, size_t idlen);
extern const struct cs_sql_write pg_sql_write;
int     pg_act_dir_begin(cs_store *);
int     pg_act_script(cs_store *, const char *sql);
extern const struct cs_sql pg_sql;

#define PG_ACT_OPS \
    .act_begin = pg_act_begin, .tx_begin = pg_act_tx_begin, .tx_end = pg_act_tx_end, \
    .act_end = pg_act_end, \
    .thread_delete = pg_act_thread_delete, \
    .read_begin = pg_act_read_begin, .read_end = pg_act_read_end, \
    .person_new = pg_act_person_new, .event_add = pg_act_event_add, \
    .merge_rows = pg_merge_rows, .bcc_person = pg_bcc_person, .sqlw = &pg_sql_write, \
    .dir_begin = pg_act_dir_begin, .script = pg_act_script

#endif
