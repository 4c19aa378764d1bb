/*
 * NAME
 *	cs_store_db 3h
 * SUMMARY
 *	one statement interface over the SQLite and PostgreSQL connections
 * DESCRIPTION
 *	A dialect (store/sqlite/, store/pg/) fills a struct cs_db_ops: run
 *	one prepared statement with typed parameters on its write or read
 *	connection, walk its rows, read columns. Code written once above the
 *	dialects (the owner actions' primitives, the directory import ...)
 *	uses it with the dialect's own SQL text from struct cs_sql, so each
 *	workflow exists once and only the SQL differs.
 *
 *	types names each parameter: 's' const char * (NULL is SQL NULL), 'i'
 *	long long. Both dialects number parameters ?1/$1 in that order.
 */
#ifndef CS_STORE_DB_H
#define CS_STORE_DB_H

#include <stdarg.h>
#include <stddef.h>

struct cs_store;
typedef struct cs_rows cs_rows;

#define CS_DB_W	1			/* the write connection */
#define CS_DB_R	0			/* the read connection (snapshot) */

struct cs_db_ops {
    /* Run sql; NULL on error (cs_db_error says why). */
    cs_rows *(*run) (struct cs_store *, int w, const char *sql, const char *types, va_list);
    /* Move to the next row: 1 a row, 0 no more, -1 error. */
    int     (*next) (cs_rows *);
    const char *(*text) (cs_rows *, int col);	/* "" for NULL */
    long long (*num) (cs_rows *, int col);		/* 0 for NULL */
    int     (*null) (cs_rows *, int col);
    long long (*changes) (cs_rows *);		/* rows a command changed */
    /* Bytes of a blob column, valid until the next row; NULL: error. */
    const void *(*blob) (cs_rows *, int col, size_t *len);
    void    (*close) (cs_rows *);
    const char *(*error) (struct cs_store *, int w);
};

/* The statement's rows (close them), or NULL on error. */
cs_rows *cs_db_q(struct cs_store *, int w, const char *sql, const char *types, ...);
/* A statement whose rows are not wanted: 0 or -1; *changes if not NULL. */
int     cs_db_x(struct cs_store *, int w, const char *sql, const char *types, ...);
int     cs_db_xn(struct cs_store *, int w, long long *changes, const char *sql,
		         const char *types, ...);
/* Does the statement answer a row? 1, 0, -1. */
int     cs_db_exists(struct cs_store *, int w, const char *sql, const char *types, ...);
int     cs_db_next(cs_rows *);
const char *cs_db_text(cs_rows *, int col);
long long cs_db_num(cs_rows *, int col);
int     cs_db_null(cs_rows *, int col);
void    cs_db_close(cs_rows *);
const void *cs_db_blob(cs_rows *, int col, size_t *len);
const char *cs_db_error(struct cs_store *, int w);
/* The first column of r's first row, r closed: 1, 0 no row, -1 (r NULL too). */
int     cs_db_int(cs_rows *r, long long *v);
int     cs_db_str(cs_rows *r, char *out, size_t outlen);

/*
 * The SQL a dialect gives to the code written once (its own text of each
 * statement; parameters in the order the comment gives).
 */
struct cs_sql {
    const char *tget;			/* as, thread: SQ/PG thread columns */
    const char *set_vis;		/* owner, thread, visibility */
    const char *visible_to;		/* thread: user ids */
    const char *rec;			/* as, kind, id: a row if as may access */
    const char *audit;			/* who, at, what, threads */
    const char *link_has;		/* owner, thread, kind, id */
    const char *link_hand;		/* owner, thread, kind, id */
    const char *link_del;		/* owner, thread, kind, id */
    const char *unlink_add;		/* owner, thread, kind, id, at */
    const char *unlink_del;		/* owner, thread, kind, id */
    const char *k_addrs;		/* owner, thread: from, to, cc, reply-to, envelope */
    const char *user_addr;		/* address */
    const char *person_by_email;	/* address, as: id, name, owner, accessible (0/1) */
    const char *access_add;		/* user, kind, id (idempotent) */
    /* The directory import (X2, cs_store_dir.c). */
    const char *dir_id;			/* id: origin, email of a person */
    const char *take_find;		/* email: a local person's id */
    const char *take_links;		/* local, crm: move links that do not collide */
    const char *take_links_left;	/* local */
    const char *take_unlinks;		/* local, crm */
    const char *take_unlinks_left;	/* local */
    const char *local_access_del;	/* person */
    const char *local_del;		/* person: only a local one */
    const char *dir_clear;		/* script: the CRM's rows go */
    const char *dir_person;		/* id, name, created */
    const char *dir_person_email;	/* email, person */
    const char *dir_deal;		/* id, title, status */
    const char *dir_deal_person;	/* deal, person (idempotent) */
    const char *dir_dangling;		/* script: links to records gone */
    /* Users and the outbox (cs_store_users.c). */
    const char *users_off;		/* every user inactive */
    const char *addr_clear;		/* every user address goes */
    const char *user_upsert;		/* id, role: active */
    const char *addr_add;		/* user, address (idempotent) */
    const char *ev_retry;		/* failed events pending again */
    const char *crm_persons;		/* email: the CRM's persons with it (R2) */
    /* Reading (cs_store_read.c). */
    const char *tmsgs;			/* as, thread: message_id, from, to, cc, date,
					 * sort_date, subject, truncated, raw */
    const char *tmsgs_own;		/* as, thread: message_id, truncated, raw */
    const char *stat_schema;		/* the schema's version */
    const char *stat_db_bytes;		/* the database's size in bytes */
    const char *stat_counter;		/* name: a counter's value (0 if none) */
    /*
     * Lists of threads (cs_store_list.c). Pages answer the thread
     * columns (id, subject, visibility, message_count, first_date,
     * last_date, owner, summary) and the page key (last_date); a cursor is a
     * key and an id: rows before them. keys: a JSON array of [owner,
     * id] pairs; detail rows lead with their pair's place, from 1.
     */
    const char *user_exists;		/* user: a row if known */
    const char *mb_first;		/* as, limit: as's threads, newest first */
    const char *mb_next;		/* as, limit, key, id */
    const char *mbl_first;		/* as, limit, label: those with the label */
    const char *mbl_next;		/* as, limit, key, id, label */
    const char *rt_first;		/* as, kind, id, limit: a record's visible threads */
    const char *rt_next;		/* as, kind, id, limit, key, id */
    const char *list_addrs;		/* keys: place, from, to, cc, envelope per message */
    const char *list_labels;		/* keys: place, label (distinct, sorted) */
    const char *list_links;		/* keys, as: place, kind, id as may access */
    const char *list_persons;		/* as, JSON array of addresses: place from 0,
					 * the person as may access or NULL */
    const char *summary_get;		/* owner, thread, sort date, message: the summary,
					 * 1 if another message sorts after that one,
					 * 1 if that one is the thread's only message */
    const char *summary_set;		/* owner, thread, summary (write connection) */
    const char *summary_missing;	/* limit: owner, id of threads without one */
};

/* The list members of a dialect's struct cs_sql, from its statics of these names. */
#define CS_SQL_LISTS \
    .user_exists = SQL_USER_EXISTS, .mb_first = SQL_MB_FIRST, .mb_next = SQL_MB_NEXT, \
    .mbl_first = SQL_MBL_FIRST, .mbl_next = SQL_MBL_NEXT, .rt_first = SQL_RT_FIRST, \
    .rt_next = SQL_RT_NEXT, .list_addrs = SQL_LIST_ADDRS, .list_labels = SQL_LIST_LABELS, \
    .list_links = SQL_LIST_LINKS, .list_persons = SQL_LIST_PERSONS, \
    .summary_get = SQL_SUMMARY_GET, .summary_set = SQL_SUMMARY_SET, \
    .summary_missing = SQL_SUMMARY_MISSING

/* The write path's SQL (cs_store_thread.c), in the dialect's write file. */
struct cs_sql_write {
    const char *own_addrs;		/* user: addresses */
    const char *msgid_thread;		/* owner, msgid: thread */
    const char *tindex;			/* owner, root: a private thread */
    const char *subject;		/* owner, subject, outside key, from, to: thread */
    const char *thread_vis;		/* owner, thread: visibility */
    const char *thread_linkset;		/* owner, thread: "kind:id,..." sorted */
    const char *link_auto;		/* owner, thread, kind, id: unless unlinked */
    const char *link_deals;		/* owner, person: open deals owner may access */
    const char *link_person;		/* owner, address: persons owner may access */
    const char *ev_shared;		/* thread: a row if shared */
    const char *user_ensure;		/* id: the users row */
    const char *k2_person;		/* email, owner: a person owner may access */
};

#endif
