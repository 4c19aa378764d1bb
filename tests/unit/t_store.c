/*
 * NAME
 *	t_store 1
 * SUMMARY
 *	unit tests of the SQLite store (SPEC C3, C4, T1, T2, T3, K2, V1, V2)
 * DESCRIPTION
 *	Every test works on a fresh database in a temporary directory and
 *	checks exact rows with a second, plain SQLite connection.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_impl.h"		/* the writer's group budget */
#include "cs_store_sqlite.h"		/* the write connection (test_write_path) */
#include "tap.h"
#include "tlib.h"

#define BASE	1704103200		/* Mon, 01 Jan 2024 10:00:00 +0000 */
#define DAY	86400

static char tmpdir[256];

/* store1_wait - store1 waiting at most wait_ms for the commit */
static int store1_wait(cs_store *st, const char *raw, const char *user, int dir,
		               int conditional, const char *label, long wait_ms, int *result)
{
    tl_msg    m;
    cs_strlist labels = {0}, rcpts = {0};
    cs_copy cp = {0};
    cs_record rec = {0};
    int     rc;

    tl_msg_init(&m, raw, tmpdir, 4096);
    if (label)
	cs_strlist_add(&labels, label);
    cs_strlist_add(&rcpts, "someone@example.com");
    cp.user = user;
    cp.direction = dir;
    cp.labels = &labels;
    cp.conditional = conditional;
    cp.env_rcpts = &rcpts;
    rec.queue_id = "QID1";
    rec.arrival = m.mi.has_date ? m.mi.date + 60 : BASE;
    rec.source = "smtp";
    rec.env_from = "sender@example.net";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    *result = 0;
    rc = cs_store_record(st, &rec, wait_ms, result);
    cs_strlist_free(&labels);
    cs_strlist_free(&rcpts);
    tl_msg_free(&m);
    return rc;
}

/* store1 - record raw as one copy for user; returns the cs_store_record rc */
static int store1(cs_store *st, const char *raw, const char *user, int dir,
		          int conditional, const char *label, int *result)
{
    return store1_wait(st, raw, user, dir, conditional, label, 5000, result);
}

/* put - store1 for a fresh message, freeing raw; returns the copy result */
static int put(cs_store *st, char *raw, const char *user)
{
    int     res = -1, rc = store1(st, raw, user, CS_DIR_IN, 0, NULL, &res);

    free(raw);
    return rc == CS_OK ? res : rc;
}

/* q_plan - EXPLAIN QUERY PLAN details, each followed by ';' */
static char *q_plan(const char *sql, char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char    q[1024];
    size_t  n = 0;

    *buf = 0;
    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_open_v2(tl_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	return buf;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
	while (sqlite3_step(st) == SQLITE_ROW && n < len)
	    n += (size_t) snprintf(buf + n, len - n, "%s;", sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return buf;
}

/* thread_of - thread id of user's copy of a Message-ID, -1 if none */
static long long thread_of(const char *user, const char *msgid)
{
    char    sql[512];

    snprintf(sql, sizeof(sql), "SELECT thread FROM messages WHERE owner='%s'"
	     " AND message_id='%s' ORDER BY id LIMIT 1", user, msgid);
    return tl_q_int(sql);
}

/* fresh - a new empty database, opened */
static cs_store *fresh(const char *name, unsigned flags, long timeout_ms)
{
    char    err[256];
    cs_store *st;
    cs_user alice = {0}, bob = {0};
    const cs_user *users[2] = {&alice, &bob};

    snprintf(tl_db, sizeof(tl_db), "%s/%s.db", tmpdir, name);
    st = cs_store_open(tl_db, flags | CS_STORE_CREATE, timeout_ms, err, sizeof(err));
    if (st == NULL) {
	diag("open %s: %s", tl_db, err);
	return NULL;
    }
    alice.id = "alice";
    cs_strlist_add(&alice.addresses, "alice@example.com");
    bob.id = "bob";
    bob.role = CS_ROLE_ADMIN;
    cs_strlist_add(&bob.addresses, "bob@example.com");
    if (cs_store_sync_users2(st, users, 2) != CS_OK)
	diag("sync users failed");
    cs_strlist_free(&alice.addresses);
    cs_strlist_free(&bob.addresses);
    return st;
}

/* test_open - create, modes, migrate twice, refusals */
static void test_open(void)
{
    int     schema;
    char    err[256], buf[64], path[400];
    struct stat sb;
    cs_store *st;
    json_t *stats = NULL;

    st = fresh("open", 0, 2000);
    ok(st != NULL, "open: create");
    ok(stat(tl_db, &sb) == 0 && (sb.st_mode & 0777) == 0660, "open: database file mode 0660");
    snprintf(path, sizeof(path), "%s-wal", tl_db);
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0660, "open: -wal mode 0660");
    snprintf(path, sizeof(path), "%s-shm", tl_db);
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0660, "open: -shm mode 0660");
    cs_store_close(st);
    schema = tl_q_int("PRAGMA user_version");
    ok(schema >= 1, "open: schema migrated (version %d)", schema);
    is_str(tl_q_col("PRAGMA journal_mode", 0, buf, sizeof(buf)), "wal", "open: WAL mode");
    st = cs_store_open(tl_db, CS_STORE_CREATE, 2000, err, sizeof(err));
    ok(st != NULL, "open: second open (migrate again) works");
    ok(st && cs_store_stats(st, &stats) == CS_OK, "open: stats");
    is_int(json_integer_value(json_object_get(stats, "schema_version")), schema,
	   "open: stats schema_version is the file's, unchanged by a second open");
    is_int(json_integer_value(json_object_get(stats, "users")), 2, "open: users kept");
    json_decref(stats);
    cs_store_close(st);
    is_int(tl_q_int("SELECT count(*) FROM sqlite_master WHERE name='threads'"), 1,
	   "open: one threads table after two opens");
    st = cs_store_open(tl_db, CS_STORE_READONLY, 2000, err, sizeof(err));
    ok(st != NULL, "open: read-only open");
    cs_store_close(st);

    snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
    ok(cs_store_open(path, 0, 2000, err, sizeof(err)) == NULL, "open: no CREATE, no file: refused");
    snprintf(path, sizeof(path), "%s/nodir/x.db", tmpdir);
    ok(cs_store_open(path, CS_STORE_CREATE, 2000, err, sizeof(err)) == NULL
       && strstr(err, "must exist") != NULL, "open: missing directory refused");
#ifdef HAVE_LIBPQ
    /* Built: nothing listens on port 1; the password stays out of err. */
    ok(cs_store_open("postgresql://crm:s3cret@127.0.0.1:1/crm", 0, 2000, err, sizeof(err)) == NULL
       && strstr(err, "s3cret") == NULL, "open: postgresql unreachable, password masked");
#else
    ok(cs_store_open("postgresql://db/crm", 0, 2000, err, sizeof(err)) == NULL
       && strstr(err, "not built") != NULL, "open: postgresql not built");
#endif
    tl_q_exec("PRAGMA user_version=10");
    ok(cs_store_open(tl_db, 0, 2000, err, sizeof(err)) == NULL
       && strstr(err, "newer") != NULL, "open: newer schema refused");
}

/*
 * test_migrate_k5 - a store of schema 5 (an address unique across
 * persons; contact create used to give other users access to a local
 * person) migrates to K5's: person_emails knows each local person's
 * owner, and access crmsync gave to anyone but that owner is taken back.
 */
static void test_migrate_k5(void)
{
    cs_store *st = fresh("k5", 0, 2000);
    char    err[256], buf[64];

    cs_store_close(st);
    /* Back to schema 5: later steps' triggers and column go too. */
    ok(tl_q_exec(TL_SQ_UNDO_8
	      "DROP TABLE person_emails;"
	      "CREATE TABLE person_emails(email TEXT PRIMARY KEY,"
	      "  person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE) WITHOUT ROWID;"
	      "CREATE INDEX person_emails_person ON person_emails(person);"
	      "INSERT INTO persons VALUES('hand-1','Zed','hand','alice',0),"
	      "  ('p1','Carl','crm',NULL,0);"
	      "INSERT INTO person_emails VALUES('zed@x.example','hand-1'),('c@x.example','p1');"
	      "INSERT INTO access VALUES('alice','person','hand-1'),('bob','person','hand-1'),"
	      "  ('bob','person','p1');"
	      "INSERT INTO threads(owner, id, first_date, last_date, created)"
	      "  VALUES('bob', 1, 0, 0, 0);"
	      "INSERT INTO thread_links(owner, thread, kind, id) VALUES('bob', 1,"
	      "  'person', 'hand-1'), ('bob', 1, 'person', 'p1');"
	      "PRAGMA user_version=5;") == 0, "K5 migration: a schema 5 store with a grant");
    st = cs_store_open(tl_db, 0, 2000, err, sizeof(err));
    ok(st != NULL, "K5 migration: it opens");
    cs_store_close(st);
    is_int(tl_q_int("PRAGMA user_version"), 9, "K5 migration: schema 9 (the latest)");
    is_str(tl_q_col("SELECT owner FROM person_emails WHERE person='hand-1'", 0, buf, sizeof(buf)),
	   "alice", "K5 migration: the local person's address knows its owner");
    is_int(tl_q_int("SELECT count(*) FROM person_emails WHERE person='p1' AND owner IS NULL"), 1,
	   "K5 migration: the CRM person's has none");
    is_int(tl_q_int("SELECT count(*) FROM access WHERE id='hand-1'"), 1,
	   "K5 migration: bob's access to alice's person is taken back");
    is_int(tl_q_int("SELECT count(*) FROM access WHERE user='bob' AND id='p1'"), 1,
	   "K5 migration: the directory's grants stay");
    is_int(tl_q_int("SELECT count(*) FROM thread_links WHERE owner='bob' AND id='hand-1'"), 0,
	   "K5 migration: and bob's link to alice's person");
    is_int(tl_q_int("SELECT count(*) FROM thread_links WHERE owner='bob' AND id='p1'"), 1,
	   "K5 migration: his link to the CRM's person stays");
    is_int(tl_q_int("SELECT count(*) FROM pragma_index_list('person_emails')"
		 " WHERE name='person_emails_owner' AND \"unique\"=1"), 1,
	   "K5 migration: (address, owner) unique");
}

/* trace_sql - sqlite3_trace_v2 callback: each statement the writer runs, once */
static int trace_sql(unsigned what, void *ctx, void *p, void *x)
{
    cs_strlist *seen = ctx;
    const char *sql = sqlite3_sql(p);

    (void) what;
    (void) x;
    if (sql && !cs_strlist_contains(seen, sql))
	cs_strlist_add(seen, sql);
    return 0;
}

/*
 * test_write_path - no statement the writer runs for a record builds a
 * temporary b-tree (RETURNING, a CHECK ... IN list of three constants),
 * and T1's Thread-Index lookup uses its index (issue #22)
 */
static void test_write_path(void)
{
    cs_store *st = fresh("wpath", 0, 2000);
    sqlite3 *db;
    cs_strlist seen = {0};
    char    buf[1024], q[4096], *raw;
    int     bad = 0, res;

    if (st == NULL)
	return;
    db = ((sq_store *) st->be)->w.db;
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace_sql, &seen);
    /* A new thread, one joined by references (counts, links), labels, an Outlook pair. */
    put(st, tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", "Path one", BASE,
		  "p1@ext", NULL, NULL), "alice");
    put(st, tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", "Re: Path one",
		  BASE + 60, "p2@ext", "In-Reply-To: <p1@ext>", NULL), "alice");
    put(st, tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", "Outlook path", BASE,
		  "p3@ext", "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVGA==", NULL), "alice");
    put(st, tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", "Other subject", BASE,
		  "p4@ext", "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVGAkIBwYF", NULL), "alice");
    raw = tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", "Labelled", BASE, "p5@ext",
		NULL, NULL);
    store1(st, raw, "alice", CS_DIR_IN, 0, "customers", &res);
    free(raw);
    sqlite3_trace_v2(db, 0, NULL, NULL);
    ok(!cs_strlist_contains(&seen, "SAVEPOINT job"),
       "write path: records that store run without a savepoint");
    ok(thread_of("alice", "p3@ext") > 0 && thread_of("alice", "p3@ext")
       == thread_of("alice", "p4@ext"), "write path: the Thread-Index pair joined");
    ok(seen.n >= 10, "write path: %zu statements seen", seen.n);
    for (size_t i = 0; i < seen.n; i++) {
	sqlite3_stmt *ex;

	/* Trigger bodies are traced as comments; their programs are in the statement's. */
	if (strncmp(seen.v[i], "--", 2) == 0 || strncmp(seen.v[i], "EXPLAIN", 7) == 0)
	    continue;
	snprintf(q, sizeof(q), "EXPLAIN %s", seen.v[i]);
	if (sqlite3_prepare_v2(db, q, -1, &ex, NULL) != SQLITE_OK)
	    continue;
	while (sqlite3_step(ex) == SQLITE_ROW)
	    if (strcmp((const char *) sqlite3_column_text(ex, 1), "OpenEphemeral") == 0) {
		diag("temporary b-tree: %s", seen.v[i]);
		bad++;
		break;
	    }
	sqlite3_finalize(ex);
    }
    is_int(bad, 0, "write path: no statement builds a temporary b-tree");
    ok(strstr(q_plan("SELECT m.thread FROM messages m JOIN threads t ON t.owner=m.owner"
		     " AND t.id=m.thread WHERE m.owner=?1 AND m.thread_index_root=?2"
		     " AND t.visibility='private' ORDER BY m.sort_date DESC, m.id DESC LIMIT 1",
		     buf, sizeof(buf)), "USING INDEX messages_tindex") != NULL
       && strstr(buf, "TEMP B-TREE") == NULL, "T1: the Thread-Index lookup uses its index (%s)",
       buf);
    is_int(tl_q_int("SELECT count(*) FROM sqlite_master WHERE name='events_pending'"), 0,
	   "write path: no events_pending index");
    is_int(tl_q_int("SELECT count(*) FROM pragma_index_list('events')"), 2,
	   "write path: an event is in two indexes (the sender's scan, the prune)");
    /* Kept, every allocation would take SQLite's global memory mutex. */
    ok(sqlite3_memory_used() == 0, "write path: SQLite keeps no memory statistics");
    cs_strlist_free(&seen);
    cs_store_close(st);
}

/*
 * test_migrate_write_path - a schema 6 store (events with a CHECK ... IN
 * and events_pending, messages_tindex without sort_date) migrates to 7
 * (and on to 8, the summaries):
 * its events kept as they were, the index gone, the CHECK still holds
 */
static void test_migrate_write_path(void)
{
    cs_store *st = fresh("wpmig", 0, 2000);
    char    err[256], buf[256];

    cs_store_close(st);
    /* Back to schema 6: the later step's triggers and column go too. */
    ok(tl_q_exec(TL_SQ_UNDO_8
		 "DROP TABLE events;"
		 "CREATE TABLE events(id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,"
		 "  type TEXT NOT NULL, owner TEXT, thread INTEGER, at INTEGER NOT NULL,"
		 "  payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending'"
		 "  CHECK(state IN ('pending','failed','sent')),"
		 "  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,"
		 "  last_error TEXT);"
		 "CREATE INDEX events_pending ON events(state, next_try, id);"
		 "ALTER TABLE events ADD COLUMN thread2 INTEGER;"
		 "ALTER TABLE events ADD COLUMN done_at INTEGER;"
		 "CREATE INDEX events_state_id ON events(state, id);"
		 "CREATE INDEX events_done ON events(state, done_at);"
		 "INSERT INTO events VALUES(7, 'u-7', 'message.added', 'alice', 3, 100, '{}',"
		 "  'sent', 1, 0, NULL, NULL, 150),"
		 "  (9, 'u-9', 'thread.merged', 'alice', 4, 200, '{\"a\":1}', 'pending', 2, 300,"
		 "  'HTTP 503', 3, NULL);"
		 "DROP INDEX messages_tindex;"
		 "CREATE INDEX messages_tindex ON messages(owner, thread_index_root)"
		 "  WHERE thread_index_root IS NOT NULL;"
		 "PRAGMA user_version=6;") == 0, "write path migration: a schema 6 store");
    st = cs_store_open(tl_db, 0, 2000, err, sizeof(err));
    ok(st != NULL, "write path migration: it opens");
    cs_store_close(st);
    is_int(tl_q_int("PRAGMA user_version"), 9, "write path migration: schema 7, then 8 and 9");
    is_str(tl_q_col("SELECT group_concat(id||','||uuid||','||type||','||owner||','||thread||','"
		    "||at||','||payload||','||state||','||attempts||','||next_try||','"
		    "||coalesce(last_error,'-')||','||coalesce(thread2,'-')||','"
		    "||coalesce(done_at,'-'), ' ') FROM (SELECT * FROM events ORDER BY id)",
		    0, buf, sizeof(buf)),
	   "7,u-7,message.added,alice,3,100,{},sent,1,0,-,-,150 "
	   "9,u-9,thread.merged,alice,4,200,{\"a\":1},pending,2,300,HTTP 503,3,-",
	   "write path migration: every event kept, column by column");
    is_int(tl_q_int("SELECT count(*) FROM sqlite_master WHERE name='events_pending'"), 0,
	   "write path migration: events_pending gone");
    is_int(tl_q_int("SELECT count(*) FROM sqlite_master WHERE type='index'"
		    " AND name IN ('events_state_id', 'events_done')"), 2,
	   "write path migration: the sender's indexes stay");
    is_int(tl_q_int("SELECT count(*) FROM pragma_index_list('events') WHERE \"unique\"=1"), 0,
	   "write path migration: no unique index on the event id");
    ok(tl_q_exec("INSERT INTO events(uuid, type, at, payload, state)"
		 " VALUES('u-x', 't', 0, '{}', 'bogus')") != 0,
       "write path migration: the state CHECK still refuses a bad state");
    is_int(tl_q_int("SELECT count(*) FROM pragma_index_info('messages_tindex')"
		    " WHERE name='sort_date'"), 1, "write path migration: messages_tindex has sort_date");
}

/* test_copies - C3 two copies, C4 envelopes, raw shared */
static void test_copies(void)
{
    cs_store *st = fresh("copies", 0, 2000);
    char   *raw = tl_mk("Alice <alice@example.com>", "Bob <bob@example.com>, carol@ext.com",
		     "Offer", BASE, "offer1@example.com", NULL, "The offer.");
    tl_msg    m;
    cs_strlist all = {0}, own = {0}, l1 = {0};
    cs_copy cp[2] = {{0}};
    cs_record rec = {0};
    int     res[2] = {0, 0}, rc;
    char    buf[512];

    tl_msg_init(&m, raw, tmpdir, 4096);
    cs_strlist_add(&all, "bob@example.com");
    cs_strlist_add(&all, "carol@ext.com");
    cs_strlist_add(&all, "dave@ext.com");		/* Bcc */
    cs_strlist_add(&own, "bob@example.com");
    cs_strlist_add(&l1, "Sent");
    cp[0].user = "alice";
    cp[0].direction = CS_DIR_OUT;
    cp[0].env_rcpts = &all;
    cp[0].labels = &l1;
    cp[1].user = "bob";
    cp[1].direction = CS_DIR_IN;
    cp[1].env_rcpts = &own;
    rec.queue_id = "Q2";
    rec.arrival = BASE + 5;
    rec.env_from = "alice@example.com";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = cp;
    rec.ncopies = 2;
    rc = cs_store_record(st, &rec, 5000, res);
    is_int(rc, CS_OK, "C3: record ok");
    is_int(res[0], CS_COPY_STORED, "C3: sender copy stored");
    is_int(res[1], CS_COPY_STORED, "C3: recipient copy stored");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 2, "C3: two copies");
    is_int(tl_q_int("SELECT count(DISTINCT thread) FROM messages"), 2, "C3: separate threads");
    is_int(tl_q_int("SELECT count(*) FROM threads WHERE visibility='private'"), 2,
	   "V1: both threads private");
    is_int(tl_q_int("SELECT count(*) FROM raw"), 1, "C4: one raw blob for two copies");
    is_int(tl_q_int("SELECT size FROM raw"), (long long) strlen(raw), "C4: raw size");
    is_int(tl_q_int("SELECT data = CAST(x'' AS BLOB) FROM raw"), 0, "C4: raw not empty");
    is_str(tl_q_col("SELECT envelope FROM messages WHERE owner='alice'", 0, buf, sizeof(buf)),
	   "{\"from\":\"alice@example.com\",\"rcpts\":[\"bob@example.com\",\"carol@ext.com\","
	   "\"dave@ext.com\"]}", "C4: sender copy keeps the whole envelope");
    is_str(tl_q_col("SELECT envelope FROM messages WHERE owner='bob'", 0, buf, sizeof(buf)),
	   "{\"from\":\"alice@example.com\",\"rcpts\":[\"bob@example.com\"]}",
	   "C4: recipient copy keeps only its own address");
    is_str(tl_q_col("SELECT direction||' '||queue_id||' '||arrival FROM messages WHERE owner='alice'",
		   0, buf, sizeof(buf)), "out Q2 1704103205", "C4: direction, queue id, arrival");
    is_str(tl_q_col("SELECT to_json FROM messages WHERE owner='bob'", 0, buf, sizeof(buf)),
	   "[{\"name\":\"Bob\",\"address\":\"bob@example.com\"},"
	   "{\"name\":null,\"address\":\"carol@ext.com\"}]", "C4: To with names");
    is_str(tl_q_col("SELECT group_concat(label) FROM message_labels WHERE owner='alice'",
		   0, buf, sizeof(buf)), "Sent", "C3: labels per copy");
    is_int(tl_q_int("SELECT count(*) FROM message_labels WHERE owner='bob'"), 0,
	   "C3: bob's copy has no label");

    /* T2: the same message again is a duplicate in each mailbox. */
    rc = cs_store_record(st, &rec, 5000, res);
    ok(rc == CS_OK && res[0] == CS_COPY_DUPLICATE && res[1] == CS_COPY_DUPLICATE,
       "T2: same message twice -> duplicate for both owners");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 2, "T2: still two copies");
    tl_msg_free(&m);
    free(raw);

    /* T2: CRLF vs LF body is the same message (body digest normalized). */
    raw = tl_mk("Alice <alice@example.com>", "Bob <bob@example.com>, carol@ext.com",
	     "Offer", BASE, "offer1@example.com", NULL, "The offer.");
    {
	char   *p, *lf = strdup(raw);

	/* Same headers, body with LF only: the digest must not change. */
	p = strstr(lf, "\r\n\r\n");
	memcpy(p + 4, "The offer.\n", 12);
	tl_msg_init(&m, lf, tmpdir, 4096);
	rec.info = &m.mi;
	rec.raw = m.sp;
	rec.body_digest = m.digest;
	rc = cs_store_record(st, &rec, 5000, res);
	ok(rc == CS_OK && res[1] == CS_COPY_DUPLICATE, "T2: line endings do not matter");
	tl_msg_free(&m);
	free(lf);
    }
    free(raw);

    /* T2: a forgery reusing the Message-ID with another body is stored. */
    raw = tl_mk("Alice <alice@example.com>", "Bob <bob@example.com>, carol@ext.com",
	     "Offer", BASE, "offer1@example.com", NULL, "Pay me instead.");
    tl_msg_init(&m, raw, tmpdir, 4096);
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rc = cs_store_record(st, &rec, 5000, res);
    ok(rc == CS_OK && res[0] == CS_COPY_STORED && res[1] == CS_COPY_STORED,
       "T2: forged Message-ID with another body is stored");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 4, "T2: four copies now");
    is_int(tl_q_int("SELECT count(*) FROM raw"), 2, "T2: two raw blobs");
    tl_msg_free(&m);
    free(raw);
    cs_strlist_free(&all);
    cs_strlist_free(&own);
    cs_strlist_free(&l1);
    cs_store_close(st);
}

/* test_threads - T1 rules */
static void test_threads(void)
{
    cs_store *st = fresh("threads", 0, 2000);
    const char *X = "Xavier <x@ext.com>", *A = "Alice <alice@example.com>";
    long long t1, t2, t3;
    int     res;
    char    buf[256], out[128];
    tl_msg    m;

    /* Reply joins its parent. */
    is_int(put(st, tl_mk(X, A, "Project", BASE, "p1@ext", NULL, NULL), "alice"), CS_COPY_STORED,
	   "T1: parent stored");
    is_int(put(st, tl_mk(A, X, "Re: Project", BASE + 3600, "r1@ex",
		      "In-Reply-To: <p1@ext>\r\nReferences: <p1@ext>", NULL), "alice"),
	   CS_COPY_STORED, "T1: reply stored");
    t1 = thread_of("alice", "p1@ext");
    is_int(thread_of("alice", "r1@ex"), t1, "T1: reply joins its parent's thread");
    is_int(tl_q_int("SELECT message_count FROM threads WHERE id=(SELECT thread FROM messages"
		 " WHERE message_id='p1@ext')"), 2, "T1: thread counts two messages");
    ok(thread_of("bob", "p1@ext") == -999, "T1: threads are per mailbox");

    /* Joins through a deeper reference too (any of References). */
    is_int(put(st, tl_mk(X, A, "Whatever", BASE + 7200, "r2@ext",
		      "References: <unknown@x> <p1@ext> <zz@x>", NULL), "alice"),
	   CS_COPY_STORED, "T1: reply by deep reference");
    is_int(thread_of("alice", "r2@ext"), t1, "T1: deep reference joins");

    /* Reply before parent, then parent linking two threads: merge. */
    put(st, tl_mk(X, A, "Root topic", BASE, "root@ext", NULL, NULL), "alice");
    t2 = thread_of("alice", "root@ext");
    put(st, tl_mk(A, X, "Re: child", BASE + 100, "late@ex", "In-Reply-To: <mid@ext>", NULL), "alice");
    t3 = thread_of("alice", "late@ex");
    ok(t2 != t3 && t2 > 0 && t3 > 0, "T1: reply before its parent starts a thread");
    put(st, tl_mk(X, A, "Re: Root topic", BASE + 50, "mid@ext",
	       "In-Reply-To: <root@ext>\r\nReferences: <root@ext>", NULL), "alice");
    is_int(thread_of("alice", "mid@ext"), t2, "T1: parent merges into the oldest thread");
    is_int(thread_of("alice", "late@ex"), t2, "T1: the early reply moved too");
    is_int(tl_q_int("SELECT count(*) FROM threads WHERE owner='alice' AND id IN "
		 "(SELECT thread FROM messages WHERE message_id IN ('root@ext','mid@ext','late@ex'))"),
	   1, "T1: one thread after the merge");
    snprintf(buf, sizeof(buf), "SELECT count(*) FROM threads WHERE id=%lld", t3);
    is_int(tl_q_int(buf), 0, "T1: the merged-away thread is gone");
    snprintf(buf, sizeof(buf), "SELECT new_thread FROM merges WHERE old_thread=%lld", t3);
    is_int(tl_q_int(buf), t2, "T1: merge recorded old -> new");
    snprintf(buf, sizeof(buf), "SELECT message_count FROM threads WHERE id=%lld", t2);
    is_int(tl_q_int(buf), 3, "T1: merged thread counts three messages");
    snprintf(buf, sizeof(buf), "SELECT first_date||' '||last_date FROM threads WHERE id=%lld", t2);
    is_str(tl_q_col(buf, 0, out, sizeof(out)), "1704103200 1704103300", "T1: merged dates");

    /* Loop references and self references. */
    put(st, tl_mk(X, A, "Loop", BASE, "la@ext", "References: <lb@ext> <la@ext>", NULL), "alice");
    put(st, tl_mk(X, A, "Pool", BASE, "lb@ext", "References: <la@ext>\r\nIn-Reply-To: <lb@ext>",
	       NULL), "alice");
    ok(thread_of("alice", "la@ext") > 0 && thread_of("alice", "la@ext")
       == thread_of("alice", "lb@ext"), "T1: loop references make one thread");

    /* Junk and truncated References are tolerated. */
    is_int(put(st, tl_mk(X, A, "Junk refs", BASE, "junk@ext",
		      "References: <<<>>> garbage <a@b <c@d> \"<e@f>\" <", NULL), "alice"),
	   CS_COPY_STORED, "T1: junk References stored");
    is_int(put(st, tl_mk(X, A, "No id", BASE, "", "References:", NULL), "alice"),
	   CS_COPY_STORED, "T1: empty Message-ID and References stored");

    /* Thread-Index root. */
    put(st, tl_mk(X, A, "Outlook one", BASE, "ti1@ext",
	       "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVFg==", NULL), "alice");
    put(st, tl_mk(X, A, "Different subject", BASE + 20 * DAY, "ti2@ext",
	       "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVFgkIBwYF", NULL), "alice");
    ok(thread_of("alice", "ti1@ext") > 0
       && thread_of("alice", "ti1@ext") == thread_of("alice", "ti2@ext"),
       "T1: same Thread-Index root joins");

    /* Subject and outside participants within 7 days. */
    put(st, tl_mk(X, A, "Quote 42", BASE, "q1@ext", NULL, NULL), "alice");
    put(st, tl_mk(A, X, "RE: [ext] Quote 42", BASE + 6 * DAY, "q2@ex", NULL, NULL), "alice");
    t1 = thread_of("alice", "q1@ext");
    is_int(thread_of("alice", "q2@ex"), t1, "T1: same subject and participants within 7 days");
    put(st, tl_mk(X, A, "Quote 42", BASE + 15 * DAY, "q3@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "q3@ext") != t1, "T1: not after more than 7 days (9 days later)");
    put(st, tl_mk(X, A, "Quote 43", BASE + 16 * DAY, "q4@ext", NULL, NULL), "alice");
    put(st, tl_mk(X, A, "Quote 43", BASE + 24 * DAY, "q5@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "q4@ext") != thread_of("alice", "q5@ext"),
       "T1: not after 8 days");
    put(st, tl_mk("Yvonne <y@ext.com>", A, "Quote 42", BASE + DAY, "q6@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "q6@ext") != t1, "T1: other outside participants: new thread");
    put(st, tl_mk(X, "Alice <ALICE@example.com>, Bob <bob@example.com>", "Quote 42",
	       BASE + DAY, "q7@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "q7@ext") != t1, "T1: an added participant (bob) is outside");
    put(st, tl_mk(X, A, "", BASE, "e1@ext", NULL, NULL), "alice");
    put(st, tl_mk(X, A, "Re:", BASE + 10, "e2@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "e1@ext") != thread_of("alice", "e2@ext"),
       "T1: never on an empty subject");

    /* Shared threads: no heuristic join; references keep them shared. */
    put(st, tl_mk(X, A, "Shared deal", BASE, "s1@ext", NULL, NULL), "alice");
    t1 = thread_of("alice", "s1@ext");
    snprintf(buf, sizeof(buf), "UPDATE threads SET visibility='shared' WHERE id=%lld", t1);
    tl_q_exec(buf);
    put(st, tl_mk(X, A, "Re: Shared deal", BASE + 60, "s2@ext", NULL, NULL), "alice");
    ok(thread_of("alice", "s2@ext") != t1, "T1: subject never joins a shared thread");
    snprintf(buf, sizeof(buf), "SELECT visibility FROM threads WHERE id=%lld",
	     thread_of("alice", "s2@ext"));
    is_str(tl_q_col(buf, 0, out, sizeof(out)), "private", "V1: the new thread is private");
    put(st, tl_mk(X, A, "Re: Shared deal", BASE + 120, "s3@ext", "In-Reply-To: <s1@ext>", NULL),
	"alice");
    is_int(thread_of("alice", "s3@ext"), t1, "T1: references join a shared thread");
    snprintf(buf, sizeof(buf), "SELECT visibility FROM threads WHERE id=%lld", t1);
    is_str(tl_q_col(buf, 0, out, sizeof(out)), "shared", "V3: joining by references stays shared");
    put(st, tl_mk(X, A, "Outlook shared", BASE, "ts1@ext",
	       "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVFw==", NULL), "alice");
    snprintf(buf, sizeof(buf), "UPDATE threads SET visibility='shared' WHERE id=%lld",
	     thread_of("alice", "ts1@ext"));
    tl_q_exec(buf);
    put(st, tl_mk(X, A, "Outlook shared 2", BASE, "ts2@ext",
	       "Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVFwkIBwYF", NULL), "alice");
    ok(thread_of("alice", "ts2@ext") != thread_of("alice", "ts1@ext"),
       "T1: Thread-Index never joins a shared thread");

    /* V3: merging a shared thread with a private one yields private. */
    put(st, tl_mk(X, A, "Re: Shared deal", BASE + 200, "s4@ext",
	       "References: <s1@ext> <q1@ext>", NULL), "alice");
    snprintf(buf, sizeof(buf), "SELECT visibility FROM threads WHERE id=%lld",
	     thread_of("alice", "s4@ext"));
    is_str(tl_q_col(buf, 0, out, sizeof(out)), "private", "V3: shared + private merge is private");
    is_int(thread_of("alice", "s4@ext"), thread_of("alice", "q1@ext"), "T1: merged");

    /* Conditional copies. */
    is_int(store1(st, "x", "alice", CS_DIR_IN, 1, NULL, &res), CS_OK,
	   "conditional: junk message recorded without error");
    is_int(res, CS_COPY_SKIPPED, "conditional: unrelated junk skipped");
    {
	char   *r = tl_mk(X, A, "Brand new", BASE, "c1@ext", NULL, NULL);

	is_int(store1(st, r, "alice", CS_DIR_IN, 1, NULL, &res), CS_OK, "conditional: rc");
	is_int(res, CS_COPY_SKIPPED, "conditional: a new thread is not started");
	free(r);
	is_int(thread_of("alice", "c1@ext"), -999, "conditional: nothing stored");
	r = tl_mk(X, A, "Re: Project", BASE + 9000, "c2@ext", "In-Reply-To: <p1@ext>", NULL);
	store1(st, r, "alice", CS_DIR_IN, 1, "Inbox", &res);
	is_int(res, CS_COPY_STORED, "conditional: a reply to a mailbox thread is stored");
	free(r);
	r = tl_mk(X, A, "Quote 42", BASE + 2 * DAY, "c3@ext", NULL, NULL);
	store1(st, r, "alice", CS_DIR_IN, 1, NULL, &res);
	is_int(res, CS_COPY_STORED, "conditional: a subject join is stored");
	free(r);
    }

    /* cs_store_joins_thread agrees with the writer. */
    tl_msg_init(&m, "From: x@ext.com\r\nSubject: hi\r\nIn-Reply-To: <p1@ext>\r\n\r\nx\r\n", tmpdir, 4096);
    is_int(cs_store_joins_thread(st, "alice", &m.mi), 1, "joins_thread: reply -> 1");
    is_int(cs_store_joins_thread(st, "bob", &m.mi), 0, "joins_thread: other mailbox -> 0");
    tl_msg_free(&m);
    tl_msg_init(&m, "From: x@ext.com\r\nSubject: unrelated\r\nMessage-ID: <zz@q>\r\n\r\nx\r\n", tmpdir, 4096);
    is_int(cs_store_joins_thread(st, "alice", &m.mi), 0, "joins_thread: unrelated -> 0");
    tl_msg_free(&m);
    cs_store_close(st);
}

/* test_contacts - K2 persons, T3 links */
static void test_contacts(void)
{
    cs_store *st = fresh("contacts", 0, 2000);
    char   *raw = tl_mk("Alice <alice@example.com>", "Carol <carol@ext.com>", "Intro",
		     BASE, "k1@example.com", "Cc: Dave <dave@ext.com>", NULL);
    tl_msg    m;
    cs_strlist rc1 = {0};
    cs_copy cp = {0};
    cs_contact ct[3] = {{"alice", "carol@ext.com", "Carol C."},
			{"alice", "dave@ext.com", NULL},
			{"alice", "CAROL@ext.com", "Other"}};
    cs_record rec = {0};
    int     res = 0;
    char    buf[256];
    json_t *mb = NULL, *t;

    tl_msg_init(&m, raw, tmpdir, 4096);
    cs_strlist_add(&rc1, "carol@ext.com");
    cs_strlist_add(&rc1, "dave@ext.com");
    cs_strlist_add(&rc1, "bcc@crm.example.com");
    cp.user = "alice";
    cp.direction = CS_DIR_OUT;
    cp.env_rcpts = &rc1;
    rec.arrival = BASE;
    rec.env_from = "alice@example.com";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rec.contacts = ct;
    rec.ncontacts = 3;
    is_int(cs_store_record(st, &rec, 5000, &res), CS_OK, "K2: record with contacts");
    is_int(tl_q_int("SELECT count(*) FROM persons WHERE origin='bcc' AND owner='alice'"), 2,
	   "K2: one person per address (case-insensitive)");
    is_str(tl_q_col("SELECT p.name FROM persons p JOIN person_emails e ON e.person=p.id"
		  " WHERE e.email='carol@ext.com'", 0, buf, sizeof(buf)), "Carol C.", "K2: name");
    is_str(tl_q_col("SELECT p.name FROM persons p JOIN person_emails e ON e.person=p.id"
		  " WHERE e.email='dave@ext.com'", 0, buf, sizeof(buf)), "dave",
	   "K2: local part when no name");
    is_int(tl_q_int("SELECT count(*) FROM access WHERE user='alice' AND kind='person'"), 2,
	   "K2: first access is the sender's");
    is_int(tl_q_int("SELECT count(*) FROM thread_links WHERE owner='alice' AND kind='person'"), 2,
	   "T3: the sender's thread links both new persons");
    tl_msg_free(&m);
    free(raw);

    /* Again: no new persons. */
    raw = tl_mk("Alice <alice@example.com>", "Carol <carol@ext.com>", "Intro 2",
	     BASE + 10, "k2@example.com", NULL, NULL);
    tl_msg_init(&m, raw, tmpdir, 4096);
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    is_int(cs_store_record(st, &rec, 5000, &res), CS_OK, "K2: second record");
    is_int(tl_q_int("SELECT count(*) FROM persons"), 2, "K2: existing persons are not duplicated");
    tl_msg_free(&m);
    free(raw);

    /* T3: a CRM person with exactly one open deal the owner may access. */
    tl_q_exec("INSERT INTO persons VALUES('p9','Xavier','crm',NULL,0);"
	   "INSERT INTO person_emails(email, person) VALUES('x@ext.com','p9');"
	   "INSERT INTO deals VALUES('d1','Big','open'),('d2','Old','won'),('d3','Other','open');"
	   "INSERT INTO deal_persons VALUES('d1','p9'),('d2','p9'),('d3','p9');"
	   "INSERT INTO access VALUES('alice','person','p9'),('alice','deal','d1'),"
	   "('alice','deal','d2'),('bob','deal','d1'),('bob','deal','d3'),('bob','person','p9');");
    is_int(put(st, tl_mk("Xavier <X+tag@EXT.com>", "Alice <alice@example.com>, bob@example.com",
		      "Deal", BASE + 100, "d@ext", NULL, NULL), "alice"), CS_COPY_STORED,
	   "T3: stored");
    is_str(tl_q_col("SELECT group_concat(kind||':'||id, ' ') FROM (SELECT kind, id FROM"
		  " thread_links WHERE thread=(SELECT thread FROM messages WHERE owner='alice'"
		  " AND message_id='d@ext') ORDER BY kind, id)", 0, buf, sizeof(buf)),
	   "deal:d1 person:p9", "T3: person and its one open accessible deal");
    is_int(put(st, tl_mk("Xavier <x@ext.com>", "bob@example.com", "Deal", BASE, "d@ext", NULL,
		      NULL), "bob"), CS_COPY_STORED, "T3: bob's copy");
    is_str(tl_q_col("SELECT group_concat(kind||':'||id, ' ') FROM (SELECT kind, id FROM"
		  " thread_links WHERE owner='bob' ORDER BY kind, id)", 0, buf, sizeof(buf)),
	   "person:p9", "T3: two open deals: no deal link");

    /* The mailbox shows person ids the reader may see. */
    ok(cs_store_mailbox(st, "alice", NULL, 0, NULL, &mb) == CS_OK, "mailbox: alice");
    t = json_array_get(json_object_get(mb, "threads"), 0);
    is_str(json_string_value(json_object_get(t, "subject")), "Deal", "mailbox: newest first");
    is_str(json_string_value(json_object_get(json_array_get(json_object_get(t, "participants"),
							     0), "person")), "p9",
	   "mailbox: participant person id");
    is_str(json_string_value(json_array_get(json_object_get(json_object_get(t, "links"),
							    "deals"), 0)), "d1",
	   "mailbox: links.deals");
    json_decref(mb);
    cs_strlist_free(&rc1);
    cs_store_close(st);
}

/* test_mailbox - V2, X1 shape, keyset pagination */
static void test_mailbox(void)
{
    cs_store *st = fresh("mailbox", 0, 2000);
    json_t *mb = NULL, *t, *p;
    char    cursor[128] = "", id[32], subj[32], msgid[32], seen[7][32];
    int     i, page, total = 0, res;
    char   *dump;

    for (i = 0; i < 7; i++) {
	char   *r;

	snprintf(subj, sizeof(subj), "Topic %d", i);
	snprintf(msgid, sizeof(msgid), "mb%d@ext", i);
	r = tl_mk("Xavier <x@ext.com>", "Alice <alice@example.com>", subj, BASE + i * 100, msgid,
	       NULL, NULL);
	store1(st, r, "alice", CS_DIR_IN, 0, i % 2 ? "Odd" : NULL, &res);
	free(r);
    }
    put(st, tl_mk("x@ext.com", "bob@example.com", "Bob's", BASE + 5000, "bobs@ext", NULL, NULL),
	"bob");
    ok(cs_store_mailbox(st, "alice", NULL, 3, NULL, &mb) == CS_OK, "mailbox: first page");
    t = json_array_get(json_object_get(mb, "threads"), 0);
    dump = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(id, sizeof(id), "t%lld", thread_of("alice", "mb6@ext"));
    {
	char    want[1024];

	snprintf(want, sizeof(want),
		 "{\"first_date\":\"2024-01-01T10:10:00Z\",\"id\":\"%s\",\"labels\":[],"
		 "\"last_date\":\"2024-01-01T10:10:00Z\",\"links\":{\"deals\":[],\"persons\":[]},"
		 "\"message_count\":1,\"owner\":\"alice\",\"participants\":["
		 "{\"address\":\"x@ext.com\",\"name\":\"Xavier\",\"person\":null},"
		 "{\"address\":\"alice@example.com\",\"name\":\"Alice\",\"person\":null}],"
		 "\"subject\":\"Topic 6\",\"visibility\":\"private\"}", id);
	is_str(dump, want, "X1: thread object");
    }
    free(dump);
    json_decref(mb);
    mb = NULL;
    for (page = 0; page < 5; page++) {
	size_t  n;

	if (cs_store_mailbox(st, "alice", NULL, 3, *cursor ? cursor : NULL, &mb) != CS_OK)
	    break;
	n = json_array_size(json_object_get(mb, "threads"));
	for (size_t k = 0; k < n && total < 7; k++) {
	    t = json_array_get(json_object_get(mb, "threads"), k);
	    snprintf(seen[total++], 32, "%s", json_string_value(json_object_get(t, "subject")));
	    if (strcmp(json_string_value(json_object_get(t, "owner")), "alice") != 0)
		total = 100;
	}
	p = json_object_get(mb, "cursor");
	if (json_is_null(p)) {
	    json_decref(mb);
	    break;
	}
	snprintf(cursor, sizeof(cursor), "%s", json_string_value(p));
	json_decref(mb);
    }
    is_int(page, 2, "pagination: 3 pages (3+3+1), the last with a null cursor");
    is_int(total, 7, "pagination: 7 threads, all alice's (V2)");
    is_str(seen[0], "Topic 6", "pagination: newest first");
    is_str(seen[3], "Topic 3", "pagination: second page continues");
    is_str(seen[6], "Topic 0", "pagination: oldest last");

    ok(cs_store_mailbox(st, "alice", "Odd", 0, NULL, &mb) == CS_OK, "label: ok");
    is_int(json_array_size(json_object_get(mb, "threads")), 3, "label: three Odd threads");
    is_str(json_string_value(json_array_get(json_object_get(json_array_get(
	json_object_get(mb, "threads"), 0), "labels"), 0)), "Odd", "label: labels union");
    json_decref(mb);
    ok(cs_store_mailbox(st, "bob", NULL, 0, NULL, &mb) == CS_OK
       && json_array_size(json_object_get(mb, "threads")) == 1, "V2: bob sees only his own");
    json_decref(mb);
    is_int(cs_store_mailbox(st, "alice", NULL, 3, "zz", &mb), CS_EINVAL, "cursor: junk refused");
    is_int(cs_store_mailbox(st, "alice", NULL, 3, "3a", &mb), CS_EINVAL, "cursor: short refused");
    is_int(cs_store_mailbox(st, "alice", NULL, -1, NULL, &mb), CS_EINVAL, "limit: negative");
    is_int(cs_store_mailbox(st, "nobody", NULL, 0, NULL, &mb), CS_ENOTFOUND,
	   "mailbox: unknown user not found");
    {
	char    plan[256];

	is_str(q_plan("SELECT id, subject, visibility, message_count, first_date, last_date"
		      " FROM threads WHERE owner='alice' AND (last_date, id) < (5, 5)"
		      " ORDER BY last_date DESC, id DESC LIMIT 50", plan, sizeof(plan)),
	       "SEARCH threads USING INDEX threads_mailbox (owner=? AND (last_date,id)<(?,?));",
	       "mailbox: an index range scan, no sort");
    }
    cs_store_close(st);
}

typedef struct worker {
    cs_store *st;
    int     n;
    int     stored;
} worker;

/* worker_main - 200 records from one thread */
static void *worker_main(void *arg)
{
    worker *w = arg;
    char    msgid[64], subj[64];
    int     res, i;

    for (i = 0; i < 200; i++) {
	char   *r;

	snprintf(msgid, sizeof(msgid), "w%d-%d@ext", w->n, i);
	snprintf(subj, sizeof(subj), "Load %d %d", w->n, i);
	r = tl_mk("x@ext.com", "alice@example.com", subj, BASE + i, msgid, NULL, NULL);
	if (store1(w->st, r, w->n % 2 ? "alice" : "bob", CS_DIR_IN, 0, NULL, &res) == CS_OK
	    && res == CS_COPY_STORED)
	    w->stored++;
	free(r);
    }
    return NULL;
}

/* test_concurrent - 8 threads x 200 records through the group writer */
static void test_concurrent(void)
{
    cs_store *st = fresh("conc", CS_STORE_WRITER, 5000);
    pthread_t th[8];
    worker  w[8];
    int     i, stored = 0;
    json_t *stats = NULL;

    for (i = 0; i < 8; i++) {
	w[i].st = st;
	w[i].n = i;
	w[i].stored = 0;
	pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (i = 0; i < 8; i++) {
	pthread_join(th[i], NULL);
	stored += w[i].stored;
    }
    is_int(stored, 1600, "writer: 1600 records stored");
    ok(cs_store_stats(st, &stats) == CS_OK, "writer: stats");
    is_int(json_integer_value(json_object_get(stats, "messages")), 1600, "writer: 1600 rows");
    is_int(json_integer_value(json_object_get(stats, "records")), 1600, "writer: records");
    ok(json_integer_value(json_object_get(stats, "commit_groups")) < 1600,
       "writer: fewer commit groups than records (%lld)",
       (long long) json_integer_value(json_object_get(stats, "commit_groups")));
    is_int(json_integer_value(json_object_get(json_object_get(stats, "mailboxes"), "alice")), 800,
	   "writer: alice's mailbox count");
    json_decref(stats);
    cs_store_close(st);
}

/* elapsed_ms - milliseconds since t0 */
static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* test_timeout - a held write lock: bounded failure, then recovery */
static void test_timeout(void)
{
    cs_store *st = fresh("timeout", CS_STORE_WRITER, 300);
    sqlite3 *db;
    struct timespec t0;
    char   *r1 = tl_mk("x@ext.com", "alice@example.com", "Locked", BASE, "lock1@ext", NULL, NULL);
    char   *r2 = tl_mk("x@ext.com", "alice@example.com", "Locked 2", BASE, "lock2@ext", NULL, NULL);
    char   *r3 = tl_mk("x@ext.com", "alice@example.com", "Locked 3", BASE, "lock3@ext", NULL, NULL);
    int     res = -1, rc;
    long    ms;

    sqlite3_open(tl_db, &db);
    ok(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "timeout: lock held");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = store1(st, r1, "alice", CS_DIR_IN, 0, NULL, &res);
    ms = elapsed_ms(&t0);
    is_int(rc, CS_EINTERNAL, "timeout: record fails while locked (busy timeout 300 ms)");
    ok(ms >= 250 && ms < 1500, "timeout: within the busy timeout + margin (%ld ms)", ms);
    {
	cs_record rec = {0};
	tl_msg    m;
	cs_copy cp = {0};

	/* The caller's own timeout shorter than the busy timeout: detach. */
	tl_msg_init(&m, r2, tmpdir, 4096);
	cp.user = "alice";
	rec.info = &m.mi;
	rec.raw = m.sp;
	rec.body_digest = m.digest;
	rec.arrival = BASE;
	rec.copies = &cp;
	rec.ncopies = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cs_store_record(st, &rec, 100, &res);
	ms = elapsed_ms(&t0);
	is_int(rc, CS_EINTERNAL, "timeout: caller timeout -> CS_EINTERNAL");
	ok(ms >= 90 && ms < 600, "timeout: caller waited its own 100 ms (%ld ms)", ms);
	tl_msg_free(&m);
    }
    usleep(600 * 1000);				/* the writer drops the group */
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    is_int(store1(st, r3, "alice", CS_DIR_IN, 0, NULL, &res), CS_OK, "timeout: works after release");
    is_int(res, CS_COPY_STORED, "timeout: stored after release");
    is_int(store1(st, r1, "alice", CS_DIR_IN, 0, NULL, &res), CS_OK, "timeout: failed group dropped");
    is_int(res, CS_COPY_STORED, "timeout: the dropped record is not a duplicate");
    free(r1);
    free(r2);
    free(r3);
    cs_store_close(st);
}

typedef struct qjob {
    cs_store *st;
    char   *raw;
    long    wait_ms;			/* 0: 5 s */
    int     rc;
    int     res;
} qjob;

/* qjob_main - one record from its own thread */
static void *qjob_main(void *arg)
{
    qjob   *q = arg;

    q->rc = store1_wait(q->st, q->raw, "alice", CS_DIR_IN, 0, NULL,
			q->wait_ms ? q->wait_ms : 5000, &q->res);
    return NULL;
}

/*
 * test_savepoint - a bad record fails alone; its group still commits. A
 * group is written without savepoints; one record failing rolls it back
 * and it is written again with one per record (cs_store_writer.c): the
 * good record before the bad one is stored once, its ids and events once.
 */
static void test_savepoint(void)
{
    cs_store *st = fresh("savepoint", CS_STORE_WRITER, 5000);
    sqlite3 *db;
    cs_strlist seen = {0};
    pthread_t th[4];
    qjob    q[4] = {{0}};
    char    ids[64];
    int     i;

    /* A trigger stands in for a record the database refuses. */
    tl_q_exec("CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject='POISON'"
	   " BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
    q[0].raw = tl_mk("x@ext.com", "alice@example.com", "Good 1", BASE, "g1@ext", NULL, NULL);
    q[1].raw = tl_mk("x@ext.com", "alice@example.com", "Good 2", BASE, "g2@ext", NULL, NULL);
    q[2].raw = tl_mk("x@ext.com", "alice@example.com", "POISON", BASE, "bad@ext", NULL, NULL);
    q[3].raw = tl_mk("x@ext.com", "alice@example.com", "Good 3", BASE, "g3@ext", NULL, NULL);
    sqlite3_trace_v2(((sq_store *) st->be)->w.db, SQLITE_TRACE_STMT, trace_sql, &seen);
    sqlite3_open(tl_db, &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    /* The writer takes the first alone and waits; the next three queue up. */
    for (i = 0; i < 4; i++) {
	q[i].st = st;
	pthread_create(&th[i], NULL, qjob_main, &q[i]);
	usleep(150 * 1000);
    }
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    for (i = 0; i < 4; i++)
	pthread_join(th[i], NULL);
    sqlite3_trace_v2(((sq_store *) st->be)->w.db, 0, NULL, NULL);
    ok(q[0].rc == CS_OK && q[0].res == CS_COPY_STORED, "savepoint: first record stored");
    ok(q[1].rc == CS_OK && q[1].res == CS_COPY_STORED,
       "savepoint: the record before the bad one in its group is stored");
    is_int(q[2].rc, CS_EINTERNAL, "savepoint: the refused record fails");
    ok(q[3].rc == CS_OK && q[3].res == CS_COPY_STORED,
       "savepoint: the one after it is stored");
    is_int(tl_q_int("SELECT value FROM counters WHERE name='commit_groups'"), 2,
	   "savepoint: two groups (first alone, then the three queued)");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 3, "savepoint: three rows, none twice");
    is_int(tl_q_int("SELECT count(*) FROM threads"), 3, "savepoint: no thread left by the bad one");
    is_int(tl_q_int("SELECT count(*) FROM events WHERE type='message.added'"), 3,
	   "savepoint: one message.added per stored record");
    tl_q_col("SELECT group_concat(id, ',') FROM (SELECT id FROM messages ORDER BY id)", 0,
	     ids, sizeof(ids));
    is_str(ids, "1,2,4", "savepoint: message ids as if written careful from the start"
	   " (the bad record's a gap)");
    ok(cs_strlist_contains(&seen, "SAVEPOINT job"),
       "savepoint: the group with the bad record was written again, a savepoint per record");
    for (i = 0; i < 4; i++)
	free(q[i].raw);
    cs_strlist_free(&seen);
    cs_store_close(st);
}

/* queued_wait - wait until n records wait in the writer's queue */
static int queued_wait(cs_store *st, size_t n)
{
    size_t  have = 0;

    for (int tries = 0; tries < 1000; tries++) {
	pthread_mutex_lock(&st->qlock);
	have = st->qlen;
	pthread_mutex_unlock(&st->qlock);
	if (have == n)
	    return 0;
	usleep(10 * 1000);
    }
    return -1;
}

/* test_late - waiters that time out: their records are committed anyway,
 * in groups bounded by raw bytes */
static void test_late(void)
{
    /* The store's busy timeout (5 s) outlasts the lock; the waiters' do not. */
    cs_store *st = fresh("late", CS_STORE_WRITER, 5000);
    static const struct {
	const char *id;
	size_t  body;
    } msgs[] = {
	{"A", 60000}, {"B", 60000}, {"C", 100}, {"D", 60000}, {"E", 100},
    };
    enum { N = sizeof(msgs) / sizeof(msgs[0]) };
    pthread_t th[N];
    qjob    q[N];
    sqlite3 *db;
    struct timespec t0;
    char    id[32], order[64], *body;
    long long n = 0;
    long    ms;
    int     i, timedout = 0;

    if (st == NULL) {
	ok(0, "late: store opened");
	return;
    }
    /* Large records are 60 KB: a 100 KB budget holds one and a small one. */
    st->group_bytes = 100000;
    memset(q, 0, sizeof(q));
    sqlite3_open(tl_db, &db);
    ok(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "late: lock held");
    /* A goes first and alone (the writer waits on the lock); B-E queue. */
    for (i = 0; i < N; i++) {
	body = malloc(msgs[i].body + 1);
	memset(body, 'x', msgs[i].body);
	for (size_t k = 76; k < msgs[i].body; k += 77)
	    body[k] = '\n';
	body[msgs[i].body] = 0;
	snprintf(id, sizeof(id), "late-%s@ext", msgs[i].id);
	q[i].raw = tl_mk("x@ext.com", "alice@example.com", msgs[i].id, BASE, id, NULL, body);
	free(body);
	q[i].st = st;
	q[i].wait_ms = 200;
	pthread_create(&th[i], NULL, qjob_main, &q[i]);
	/* A's waiter gives up when the writer holds it; the others are queued. */
	if (i == 0)
	    pthread_join(th[0], NULL);
	else if (queued_wait(st, (size_t) i) < 0)
	    diag("late: record %d not queued in time", i);
    }
    for (i = 0; i < N; i++) {
	if (i > 0)
	    pthread_join(th[i], NULL);
	timedout += q[i].rc == CS_EINTERNAL;
    }
    is_int(timedout, N, "late: every waiter timed out while the lock was held");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 0, "late: nothing committed yet");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);

    /* The writer goes on: every record ends up in the store. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((n = tl_q_int("SELECT count(*) FROM messages")) < N && (ms = elapsed_ms(&t0)) < 10000)
	usleep(50 * 1000);
    is_int(n, N, "late: the timed-out records are stored after the lock is released");
    is_int(tl_q_int("SELECT value FROM counters WHERE name='records'"), N, "late: records counted");
    /* A alone; then B, C and E (D does not fit the budget); then D. */
    is_int(tl_q_int("SELECT value FROM counters WHERE name='commit_groups'"), 3,
	   "late: three groups under a 100 KB budget");
    is_str(tl_q_col("SELECT group_concat(subject, '') FROM (SELECT subject FROM messages"
		  " ORDER BY id)", 0, order, sizeof(order)), "ABCED",
	   "late: arrival order, a small record passes a big one that does not fit");
    is_int(tl_q_int("SELECT count(*) FROM raw WHERE length(data) > 60000"), 3,
	   "late: the large raw messages are kept whole");
    for (i = 0; i < N; i++)
	free(q[i].raw);
    cs_store_close(st);
}

/* test_large - raw bytes streamed in chunks, kept exactly */
static void test_large(void)
{
    cs_store *st = fresh("large", 0, 2000);
    size_t  n = 300000, i;
    char   *body = malloc(n + 1), *raw, buf[64], sql[160];
    long long off;

    for (i = 0; i < n; i++)
	body[i] = (i % 77 == 76) ? '\n' : (char) ('a' + (i * 7) % 26);
    body[n] = 0;
    raw = tl_mk("x@ext.com", "alice@example.com", "Big", BASE, "big@ext", NULL, body);
    is_int(put(st, strdup(raw), "alice"), CS_COPY_STORED, "large: stored");
    is_int(tl_q_int("SELECT length(data) FROM raw"), (long long) strlen(raw), "large: blob length");
    off = (long long) strlen(raw) - 200000;
    snprintf(sql, sizeof(sql), "SELECT CAST(substr(data, %lld, 40) AS TEXT) FROM raw", off + 1);
    snprintf(buf, sizeof(buf), "%.40s", raw + off);
    {
	char    got[64];

	is_str(tl_q_col(sql, 0, got, sizeof(got)), buf, "large: bytes past the first chunk kept");
    }
    {
	char    want[CS_DIGEST_HEX], got[CS_DIGEST_HEX], row[80];
	cs_spool *sp = cs_spool_new(tmpdir, 1000, 250000);
	size_t  len = strlen(raw);

	/* Digested while written: memory part, file part, the cut at limit. */
	cs_sha256_hex(raw, len, want);
	is_str(tl_q_col("SELECT sha256 FROM raw", 0, row, sizeof(row)), want,
	       "large: content address is the SHA-256 of the bytes");
	cs_spool_write(sp, raw, 700);
	cs_spool_write(sp, raw + 700, 5000);
	cs_spool_write(sp, raw + 5700, len - 5700);
	cs_sha256_hex(raw, 250000, want);
	ok(cs_spool_sha256(sp, got) == 0 && strcmp(got, want) == 0,
	   "large: spool digest of the kept (truncated) bytes");
	ok(cs_spool_truncated(sp) && cs_spool_kept(sp) == 250000, "large: spool kept its limit");
	cs_spool_unref(sp);
    }
    free(body);
    free(raw);
    cs_store_close(st);
}

/* db_size - the database file's size (what checkpoints copied into it) */
static long long db_size(void)
{
    struct stat sb;

    return stat(tl_db, &sb) == 0 ? (long long) sb.st_size : -1;
}

/*
 * test_checkpoint - a long WAL is copied into the database while the store
 * is open: by the checkpoint thread with a writer thread (the commit does
 * not wait for it), inline without one. 20 MB of raw messages pass the
 * 4,096-page threshold (SQ_CKPT_PAGES); before any checkpoint the file
 * holds the schema.
 */
static void test_checkpoint(unsigned flags, const char *what)
{
    cs_store *st = fresh(flags ? "ckpt-writer" : "ckpt-inline", flags, 5000);
    size_t  n = 1000000, i;
    char   *body = malloc(n + 1), msgid[32];
    long long before = db_size(), after = -1;
    int     k, stored = 0;

    for (i = 0; i < n; i++)
	body[i] = (i % 77 == 76) ? '\n' : (char) ('a' + (i * 11) % 26);
    body[n] = 0;
    for (k = 0; k < 20; k++) {
	body[0] = (char) ('A' + k);		/* distinct raw messages */
	snprintf(msgid, sizeof(msgid), "ckpt%d@ext", k);
	stored += put(st, tl_mk("x@ext.com", "alice@example.com", "Ckpt", BASE + k, msgid,
				NULL, body), "alice") == CS_COPY_STORED;
    }
    ok(stored == 20, "checkpoint %s: twenty 1 MB messages stored", what);
    /* The thread runs when woken: give it up to 5 s. */
    for (k = 0; k < 100 && (after = db_size()) < 10000000; k++)
	usleep(50000);
    ok(before < 1000000 && after >= 10000000,
       "checkpoint %s: WAL copied into the database while open (%lld -> %lld bytes)",
       what, before, after);
    free(body);
    cs_store_close(st);
}

int     main(void)
{
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_store");
    umask(022);					/* the store must not depend on it */
    cs_message_init();
    test_open();
    test_migrate_k5();
    test_write_path();
    test_migrate_write_path();
    test_copies();
    test_threads();
    test_contacts();
    test_mailbox();
    test_concurrent();
    test_timeout();
    test_savepoint();
    test_late();
    test_large();
    test_checkpoint(CS_STORE_WRITER, "with the writer thread");
    test_checkpoint(0, "inline");
    if (!getenv("T_STORE_KEEP"))
	tl_rmtree(tmpdir);
    else
	diag("kept %s", tmpdir);
    return done_testing();
}
