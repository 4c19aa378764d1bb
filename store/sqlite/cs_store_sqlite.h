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

#define SQ_CACHE_MAX	128

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
    /* Checkpoints of w's WAL: a thread and connection of their own when
     * the store has a writer thread, else inline after the commit. */
    int     ckpt_pages;			/* WAL frames that make one due */
    sq_conn ck;
    pthread_t ck_tid;
    pthread_mutex_t ck_lock;
    pthread_cond_t ck_cond;
    int     ck_started, ck_due, ck_stop;
} sq_store;

/* A prepared, reset statement for sql on c; NULL on error. */
sqlite3_stmt *sq_stmt(sq_conn *, const char *sql);
/* Reset every cached statement (before ending a transaction). */
void    sq_reset_all(sq_conn *);
/* Is this result code one that fails a whole group (C1)? */
int     sq_fatal(int rc);

/* Reads (cs_store_sqlite_ctl.c): one snapshot of the read connection
 * under rlock (sq_read_begin -1: not begun, nothing held). */
int     sq_read_begin(sq_store *);
void    sq_read_end(sq_store *);

/* Writing and T1 (cs_store_sqlite_write.c). */
int     sq_write_group(cs_store *, cs_store_job **, size_t, int);

/*
 * Event outbox (X3, cs_store_sqlite_events.c). sq_event_add() inserts one
 * event in the caller's open transaction, so it commits or rolls back
 * with the change it announces (never lost, never sent for a change that
 * did not happen). type is "thread.created", "message.added",
 * "person.created", "thread.visibility_changed", "thread.linked",
 * "thread.unlinked", "thread.merged" or "thread.deleted"; owner the
 * user whose mailbox changed; thread_id the thread's text id "t<n>" (or
 * NULL: person.created), which orders delivery per thread. ids_payload
 * (borrowed, not modified) holds the ids and counts concerned, e.g.
 * {"thread": "t5", "deal": "d1"} or {"threads": [...]}; it is stored as
 * given, under "id", "type", "time" and "owner" that sq_event_add adds.
 * content_or_null (borrowed: subject, participants ...) is merged in only
 * if the thread is shared in this transaction (V6: events of private
 * threads carry ids and counts only). CS_OK or CS_EINTERNAL.
 */
int     sq_event_add(sqlite3 *db, const char *type, const char *owner,
		             const char *thread_id, json_t *ids_payload, json_t *content_or_null);
/* The same on a cached connection; thread2 (0: none) is a second thread
 * the event orders with (thread.merged: the old thread). SQLite rc. */
int     sq_event_add_c(sq_conn *, const char *type, const char *owner, sqlite3_int64 thread,
		               sqlite3_int64 thread2, json_t *ids_payload, json_t *content_or_null);
/* Is the thread shared right now (in the caller's transaction)? */
int     sq_event_shared(sq_conn *, sqlite3_int64 thread);
/* Backend ops of the outbox (cs_store_impl.h). */
cs_outbox *sq_outbox_open(cs_store *, const char *holder, char *err, size_t errlen);
void    sq_outbox_close(cs_outbox *);
int     sq_outbox_claim(cs_outbox *, time_t now, size_t max, size_t max_bytes,
			        cs_event **out, size_t *n);
int     sq_outbox_settle(cs_outbox *, const cs_event *, size_t n, int outcome,
			         time_t when, const char *error);
int     sq_outbox_prune(cs_outbox *, time_t sent_before, time_t any_before);

/* crmsyncctl backup (cs_store_sqlite_backup.c). */
int     sq_backup(cs_store *, const char *path, json_t **out, char *err, size_t errlen);

/* Erasure and retention primitives (cs_store_sqlite_erase.c; cs_store_impl.h). */
int     sq_msg_list(cs_store *, const cs_store_msgq *, cs_store_msg **, size_t *n);
int     sq_msg_raw(cs_store *, int64_t raw, cs_buf *);
int     sq_msg_delete(cs_store *, const char *owner, int64_t id, int64_t *left);
int     sq_erase_step(cs_store *, int step, const char *key, int64_t id, long *changes);
int     sq_scrub(cs_store *);

/* Small statement helpers shared by the SQLite backend's files. */
const char *sq_col_text(sqlite3_stmt *, int);		/* "" for NULL */
void    sq_bind_str(sqlite3_stmt *, int, const char *);	/* NULL binds NULL */
int     sq_run(sqlite3_stmt *);			/* step to the end */
/* The SQL of the benchmarked reads, for EXPLAIN QUERY PLAN (ctl-bench). */
extern const char sq_sql_mailbox_first[];
extern const char sq_sql_record_page_first[];
extern const char sq_sql_thread_messages[];


/* The owner actions' primitives (cs_store_impl.h) and SQL (cs_store_db.h). */
int     sq_act_begin(cs_store *, const char *as, const char *address);
int     sq_act_tx_begin(cs_store *, int what);
int     sq_act_tx_end(cs_store *, int rc);
int     sq_act_end(cs_store *, int rc);
int     sq_act_thread_delete(cs_store *, const char *owner, long long id);
int     sq_act_read_begin(cs_store *);
void    sq_act_read_end(cs_store *);
int     sq_act_person_new(cs_store *, const char *as, const char *address, const char *name,
			           time_t now, char *id, size_t idlen);
int     sq_act_event_add(cs_store *, const char *type, const char *owner, long long thread,
			          long long thread2, json_t *payload, json_t *content);
int     sq_merge_rows(cs_store *, const char *owner, long long old, long long target, time_t);
int     sq_bcc_person(cs_store *, const char *owner, const char *email, const char *name,
			           time_t now, char *id, size_t idlen);
/* The next value of a global id sequence (counters), in the writer's transaction. */
int     sq_counter_next(sq_conn *, const char *name, sqlite3_int64 *v);
extern const struct cs_sql_write sq_sql_write;
int     sq_act_dir_begin(cs_store *);
int     sq_act_script(cs_store *, const char *sql);
extern const struct cs_sql sq_sql;

#define SQ_ACT_OPS \
    .act_begin = sq_act_begin, .tx_begin = sq_act_tx_begin, .tx_end = sq_act_tx_end, \
    .act_end = sq_act_end, \
    .thread_delete = sq_act_thread_delete, \
    .read_begin = sq_act_read_begin, .read_end = sq_act_read_end, \
    .person_new = sq_act_person_new, .event_add = sq_act_event_add, \
    .merge_rows = sq_merge_rows, .bcc_person = sq_bcc_person, .sqlw = &sq_sql_write, \
    .dir_begin = sq_act_dir_begin, .script = sq_act_script

#endif
