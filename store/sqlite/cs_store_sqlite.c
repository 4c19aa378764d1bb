/*
 * NAME
 *	cs_store_sqlite 3
 * SUMMARY
 *	SQLite store backend: files, schema and migrations, reads
 * DESCRIPTION
 *	The database is one file in WAL mode with synchronous=FULL, so a
 *	commit is durable against a machine crash and costs one fsync per
 *	group; foreign keys are on, and every lock wait is bounded by the
 *	open's timeout_ms (busy timeout).
 *
 *	Files: the directory must exist (the package makes it mode 2770,
 *	group crmsync, so files made in it get group crmsync). The database
 *	file is created mode 0660 (fchmod: the umask does not apply) and, if
 *	the directory is not set-group-id, chown'ed to the directory's group
 *	(best effort). SQLite gives the -wal and -shm files the database
 *	file's mode.
 *
 *	Schema: PRAGMA user_version is the schema version; sq_migrations[]
 *	holds the steps, each applied in its own transaction, so opening an
 *	old database migrates it and opening a current one changes nothing.
 *	A database newer than this program is refused.
 *
 *	Mailbox tables lead with owner (they are partitioned by owner on
 *	PostgreSQL); ids of threads, messages and Smart BCC persons come from
 *	the counters table so they are global, not per owner. Text forms:
 *	thread "t<id>", person/deal the CRM's id, Smart BCC person "bcc-<n>".
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_thread.h"
#include "cs_policy.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_util.h"
#include "cs_store_sqlite.h"
#include "cs_sqlite_vfs.h"

/*
 * Migration 1: the whole first schema. Dates are Unix seconds (UTC).
 * Addresses in user_addresses and person_emails are normalized
 * (lower-case, no subaddress detail).
 */
static const char sq_schema_1[] =
"CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
"INSERT INTO counters VALUES('thread',0),('message',0),('person',0),"
"  ('commit_groups',0),('records',0);"
"CREATE TABLE users("
"  id TEXT PRIMARY KEY,"
"  role TEXT NOT NULL DEFAULT 'user' CHECK(role IN ('user','admin')),"
"  active INTEGER NOT NULL DEFAULT 1"
") WITHOUT ROWID;"
"CREATE TABLE user_addresses("
"  user TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
"  address TEXT NOT NULL,"
"  PRIMARY KEY(user, address)"
") WITHOUT ROWID;"
"CREATE INDEX user_addresses_address ON user_addresses(address);"
/* Raw messages, shared by every copy of one message (same SHA-256). */
"CREATE TABLE raw("
"  id INTEGER PRIMARY KEY,"
"  sha256 TEXT NOT NULL UNIQUE,"
"  size INTEGER NOT NULL,"
"  data BLOB NOT NULL"
");"
"CREATE TABLE threads("
"  owner TEXT NOT NULL REFERENCES users(id),"
"  id INTEGER NOT NULL,"
"  subject TEXT,"
"  subject_norm TEXT NOT NULL DEFAULT '',"
"  visibility TEXT NOT NULL DEFAULT 'private' CHECK(visibility IN ('private','shared')),"
"  first_date INTEGER NOT NULL,"
"  last_date INTEGER NOT NULL,"
"  message_count INTEGER NOT NULL DEFAULT 0,"
"  thread_index_root TEXT,"
"  created INTEGER NOT NULL,"
"  PRIMARY KEY(owner, id)"
") WITHOUT ROWID;"
"CREATE INDEX threads_mailbox ON threads(owner, last_date, id);"
"CREATE UNIQUE INDEX threads_id ON threads(id);"
/* One row per owner's copy (C3). */
"CREATE TABLE messages("
"  owner TEXT NOT NULL REFERENCES users(id),"
"  id INTEGER NOT NULL,"
"  thread INTEGER NOT NULL,"
"  message_id TEXT,"
"  dedup_key TEXT NOT NULL,"
"  queue_id TEXT,"
"  source TEXT NOT NULL,"
"  arrival INTEGER NOT NULL,"
"  date INTEGER,"
"  sort_date INTEGER NOT NULL,"
"  subject TEXT,"
"  subject_norm TEXT NOT NULL,"
"  outside_key TEXT NOT NULL,"
"  from_json TEXT NOT NULL,"
"  to_json TEXT NOT NULL,"
"  cc_json TEXT NOT NULL,"
"  reply_to_json TEXT NOT NULL,"
"  in_reply_to TEXT,"
"  refs_json TEXT NOT NULL,"
"  thread_index_root TEXT,"
"  envelope TEXT NOT NULL,"
"  direction TEXT NOT NULL CHECK(direction IN ('in','out')),"
"  truncated INTEGER NOT NULL DEFAULT 0,"
"  raw INTEGER NOT NULL REFERENCES raw(id),"
"  PRIMARY KEY(owner, id),"
"  UNIQUE(owner, dedup_key),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id)"
") WITHOUT ROWID;"
"CREATE INDEX messages_thread ON messages(owner, thread, sort_date);"
"CREATE INDEX messages_subject ON messages(owner, subject_norm, outside_key, sort_date);"
"CREATE INDEX messages_tindex ON messages(owner, thread_index_root)"
"  WHERE thread_index_root IS NOT NULL;"
"CREATE INDEX messages_raw ON messages(raw);"
"CREATE TABLE message_labels("
"  owner TEXT NOT NULL,"
"  message INTEGER NOT NULL,"
"  label TEXT NOT NULL,"
"  PRIMARY KEY(owner, message, label),"
"  FOREIGN KEY(owner, message) REFERENCES messages(owner, id) ON DELETE CASCADE"
") WITHOUT ROWID;"
"CREATE INDEX message_labels_label ON message_labels(owner, label);"
/* Every Message-ID a thread holds or references (T1), one thread each. */
"CREATE TABLE thread_msgids("
"  owner TEXT NOT NULL,"
"  msgid TEXT NOT NULL,"
"  thread INTEGER NOT NULL,"
"  PRIMARY KEY(owner, msgid),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id) ON DELETE CASCADE"
") WITHOUT ROWID;"
"CREATE INDEX thread_msgids_thread ON thread_msgids(owner, thread);"
/* CRM directory (X2) and local persons (K2, K3). */
"CREATE TABLE persons("
"  id TEXT PRIMARY KEY,"
"  name TEXT,"
"  origin TEXT NOT NULL CHECK(origin IN ('crm','bcc','hand')),"
"  owner TEXT REFERENCES users(id),"
"  created INTEGER NOT NULL"
") WITHOUT ROWID;"
"CREATE TABLE person_emails("
"  email TEXT PRIMARY KEY,"
"  person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE"
") WITHOUT ROWID;"
"CREATE INDEX person_emails_person ON person_emails(person);"
"CREATE TABLE deals("
"  id TEXT PRIMARY KEY,"
"  title TEXT,"
"  status TEXT NOT NULL CHECK(status IN ('open','won','lost'))"
") WITHOUT ROWID;"
"CREATE TABLE deal_persons("
"  deal TEXT NOT NULL REFERENCES deals(id) ON DELETE CASCADE,"
"  person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,"
"  PRIMARY KEY(deal, person)"
") WITHOUT ROWID;"
"CREATE INDEX deal_persons_person ON deal_persons(person, deal);"
"CREATE TABLE access("
"  user TEXT NOT NULL,"
"  kind TEXT NOT NULL CHECK(kind IN ('person','deal')),"
"  id TEXT NOT NULL,"
"  PRIMARY KEY(user, kind, id)"
") WITHOUT ROWID;"
"CREATE INDEX access_record ON access(kind, id, user);"
"CREATE TABLE thread_links("
"  owner TEXT NOT NULL,"
"  thread INTEGER NOT NULL,"
"  kind TEXT NOT NULL CHECK(kind IN ('person','deal')),"
"  id TEXT NOT NULL,"
"  origin TEXT NOT NULL DEFAULT 'auto' CHECK(origin IN ('auto','hand')),"
"  PRIMARY KEY(owner, thread, kind, id),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id) ON DELETE CASCADE"
") WITHOUT ROWID;"
"CREATE INDEX thread_links_record ON thread_links(kind, id, owner, thread);"
/* Merges not yet announced as thread.merged events (X3). */
"CREATE TABLE merges("
"  id INTEGER PRIMARY KEY,"
"  owner TEXT NOT NULL,"
"  old_thread INTEGER NOT NULL,"
"  new_thread INTEGER NOT NULL,"
"  at INTEGER NOT NULL,"
"  announced INTEGER NOT NULL DEFAULT 0"
");"
"CREATE TABLE audit("
"  id INTEGER PRIMARY KEY,"
"  who TEXT NOT NULL,"
"  at INTEGER NOT NULL,"
"  what TEXT NOT NULL,"
"  threads TEXT NOT NULL DEFAULT '[]'"
");"
/* Event outbox (X3): filled by a later migration's writers. */
"CREATE TABLE events("
"  id INTEGER PRIMARY KEY,"
"  uuid TEXT NOT NULL UNIQUE,"
"  type TEXT NOT NULL,"
"  owner TEXT,"
"  thread INTEGER,"
"  at INTEGER NOT NULL,"
"  payload TEXT NOT NULL,"
"  state TEXT NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','failed','sent')),"
"  attempts INTEGER NOT NULL DEFAULT 0,"
"  next_try INTEGER NOT NULL DEFAULT 0,"
"  last_error TEXT"
");"
"CREATE INDEX events_pending ON events(state, next_try, id);";

/*
 * Migration (events): the X3 outbox's delivery columns. thread2 is the
 * second thread an event is ordered with (thread.merged: the old one);
 * done_at when it was delivered or parked (EventRetention counts from
 * it); event_lease names the one sender delivering at a time.
 */
static const char sq_schema_events[] =
"ALTER TABLE events ADD COLUMN thread2 INTEGER;"
"ALTER TABLE events ADD COLUMN done_at INTEGER;"
"CREATE INDEX events_state_id ON events(state, id);"
"CREATE INDEX events_done ON events(state, done_at);"
"CREATE TABLE event_lease("
"  name TEXT PRIMARY KEY,"
"  holder TEXT NOT NULL,"
"  until INTEGER NOT NULL"
") WITHOUT ROWID;";

/*
 * Migration: hand unlinks (T3, cs_store_sqlite_ctl.c). A row remembers that
 * the owner unlinked a thread from a record by hand; the trigger drops any
 * later automatic link of the same pair (the writer's INSERT OR IGNORE
 * then inserts nothing), and a merge (T1) carries the rows over to the
 * surviving thread.
 */
static const char sq_schema_unlinks[] =
"CREATE TABLE thread_unlinks("
"  owner TEXT NOT NULL,"
"  thread INTEGER NOT NULL,"
"  kind TEXT NOT NULL CHECK(kind IN ('person','deal')),"
"  id TEXT NOT NULL,"
"  at INTEGER NOT NULL,"
"  PRIMARY KEY(owner, thread, kind, id)"
") WITHOUT ROWID;"
"CREATE INDEX thread_unlinks_record ON thread_unlinks(kind, id);"
"CREATE TRIGGER thread_links_unlinked BEFORE INSERT ON thread_links"
"  WHEN NEW.origin='auto' AND EXISTS (SELECT 1 FROM thread_unlinks u"
"  WHERE u.owner=NEW.owner AND u.thread=NEW.thread AND u.kind=NEW.kind AND u.id=NEW.id)"
"  BEGIN SELECT RAISE(IGNORE); END;"
"CREATE TRIGGER merges_unlinks AFTER INSERT ON merges BEGIN"
"  INSERT OR IGNORE INTO thread_unlinks(owner, thread, kind, id, at)"
"  SELECT owner, NEW.new_thread, kind, id, at FROM thread_unlinks"
"  WHERE owner=NEW.owner AND thread=NEW.old_thread;"
"  DELETE FROM thread_unlinks WHERE owner=NEW.owner AND thread=NEW.old_thread;"
"  END;";

/*
 * Migration: the milters' status (cs_store_sqlite_status.c): one row per
 * host, the JSON document of milter/counters.c, replaced every flush.
 */
static const char sq_schema_milter_status[] =
"CREATE TABLE milter_status("
"  host TEXT PRIMARY KEY,"
"  updated_at INTEGER NOT NULL,"
"  status_json TEXT NOT NULL"
") WITHOUT ROWID;";

/*
 * Migration: deal and person pages as a range scan (cs_store_sqlite_ctl.c
 * SQL_RT_*). Each link carries a copy of its thread's last_date and
 * visibility, so one index walk over a record's links yields them in
 * page order, and rows the reader can never see (another owner's
 * private threads) are skipped inside the index without reading the
 * thread; the page then stops at its limit instead of sorting every
 * thread linked to the record. Triggers keep the copies true whichever
 * statement changes a thread or adds a link (writers, merges, imports,
 * share and private), so no writer has to know. The copies only choose
 * candidates: the page query still checks SQ_VISIBLE on the thread
 * itself, so a stale copy could hide a thread but never show one. A
 * link whose thread is missing keeps last_date 0 and 'private'.
 * thread_links_record goes: the new index has the same (kind, id)
 * prefix that the directory's statements (X2) use.
 */
static const char sq_schema_link_dates[] =
"ALTER TABLE thread_links ADD COLUMN last_date INTEGER NOT NULL DEFAULT 0;"
"ALTER TABLE thread_links ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'"
"  CHECK(visibility IN ('private','shared'));"
"UPDATE thread_links SET"
"  last_date=coalesce((SELECT t.last_date FROM threads t"
"  WHERE t.owner=thread_links.owner AND t.id=thread_links.thread), 0),"
"  visibility=coalesce((SELECT t.visibility FROM threads t"
"  WHERE t.owner=thread_links.owner AND t.id=thread_links.thread), 'private');"
"DROP INDEX thread_links_record;"
"CREATE INDEX thread_links_page ON thread_links(kind, id, last_date, thread, visibility);"
"CREATE TRIGGER thread_links_page_new AFTER INSERT ON thread_links BEGIN"
"  UPDATE thread_links SET"
"  last_date=(SELECT t.last_date FROM threads t WHERE t.owner=NEW.owner AND t.id=NEW.thread),"
"  visibility=(SELECT t.visibility FROM threads t WHERE t.owner=NEW.owner AND t.id=NEW.thread)"
"  WHERE owner=NEW.owner AND thread=NEW.thread AND kind=NEW.kind AND id=NEW.id"
"  AND EXISTS (SELECT 1 FROM threads t WHERE t.owner=NEW.owner AND t.id=NEW.thread);"
"  END;"
"CREATE TRIGGER threads_page_sync AFTER UPDATE OF last_date, visibility ON threads"
"  WHEN NEW.last_date IS NOT OLD.last_date OR NEW.visibility IS NOT OLD.visibility BEGIN"
"  UPDATE thread_links SET last_date=NEW.last_date, visibility=NEW.visibility"
"  WHERE owner=NEW.owner AND thread=NEW.id;"
"  END;";

/*
 * Migration: persons crmsync makes are their maker's (K2, K3, K5).
 * person_emails gains the owner of a local person (NULL for the CRM's)
 * and loses the global uniqueness of an address: a Smart BCC or hand
 * person is unique by (address, owner), so two users writing to one
 * address each get their own, beside a CRM person with that address.
 * Access to a local person that crmsync gave to anyone but its maker
 * (contact create before K5) is taken back: only the directory grants;
 * so are those users' links to it (a shared thread of theirs would
 * otherwise stay open to the maker through a person they cannot see).
 */
static const char sq_schema_person_owner[] =
"CREATE TABLE person_emails_k5("
"  email TEXT NOT NULL,"
"  person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,"
"  owner TEXT,"
"  PRIMARY KEY(email, person)"
") WITHOUT ROWID;"
"INSERT INTO person_emails_k5(email, person, owner)"
"  SELECT pe.email, pe.person, CASE WHEN p.origin='crm' THEN NULL ELSE p.owner END"
"  FROM person_emails pe JOIN persons p ON p.id=pe.person;"
"DROP TABLE person_emails;"
"ALTER TABLE person_emails_k5 RENAME TO person_emails;"
"CREATE INDEX person_emails_person ON person_emails(person);"
"CREATE UNIQUE INDEX person_emails_owner ON person_emails(email, owner);"
"DELETE FROM access WHERE kind='person' AND EXISTS (SELECT 1 FROM persons p"
"  WHERE p.id=access.id AND p.origin<>'crm' AND p.owner IS NOT access.user);"
"DELETE FROM thread_links WHERE kind='person' AND EXISTS (SELECT 1 FROM persons p"
"  WHERE p.id=thread_links.id AND p.origin<>'crm' AND p.owner IS NOT thread_links.owner);";

/*
 * Migration: a cheaper write path (issue #22). The events table is
 * rebuilt, columns in the same order: its state CHECK is written with OR,
 * since an IN list of three constants made SQLite build a temporary
 * b-tree for every event inserted (EXPLAIN: OpenEphemeral); events_pending
 * goes, and so does the unique index on uuid: no statement uses either
 * (the sender's scan walks events_state_id, the prune events_done; no
 * statement looks an event up by its id), yet each was an index entry
 * per event. An event id is a UUID v7 from getrandom (74 random bits):
 * ids stay unique by how they are made, not by an index that would only
 * turn a collision into a lost record. messages_tindex gains sort_date:
 * without it SQLite's planner read the owner's whole mailbox for T1's
 * Thread-Index lookup (EXPLAIN QUERY PLAN: SEARCH m USING PRIMARY KEY
 * (owner=?), then a temporary b-tree for the ORDER BY) instead of this
 * partial index.
 */
static const char sq_schema_write_path[] =
"CREATE TABLE events_new("
"  id INTEGER PRIMARY KEY,"
"  uuid TEXT NOT NULL,"
"  type TEXT NOT NULL,"
"  owner TEXT,"
"  thread INTEGER,"
"  at INTEGER NOT NULL,"
"  payload TEXT NOT NULL,"
"  state TEXT NOT NULL DEFAULT 'pending'"
"  CHECK(state='pending' OR state='failed' OR state='sent'),"
"  attempts INTEGER NOT NULL DEFAULT 0,"
"  next_try INTEGER NOT NULL DEFAULT 0,"
"  last_error TEXT,"
"  thread2 INTEGER,"
"  done_at INTEGER"
");"
"INSERT INTO events_new(id, uuid, type, owner, thread, at, payload, state, attempts,"
"  next_try, last_error, thread2, done_at)"
"  SELECT id, uuid, type, owner, thread, at, payload, state, attempts, next_try,"
"  last_error, thread2, done_at FROM events;"
"DROP TABLE events;"
"ALTER TABLE events_new RENAME TO events;"
"CREATE INDEX events_state_id ON events(state, id);"
"CREATE INDEX events_done ON events(state, done_at);"
"DROP INDEX messages_tindex;"
"CREATE INDEX messages_tindex ON messages(owner, thread_index_root, sort_date)"
"  WHERE thread_index_root IS NOT NULL;";

/*
 * Migration: a thread's summary (cs_store_list.c): its participants and
 * its labels as a list shows them, kept on its row so that a page reads
 * no message. The writer sets it after every copy it stores; anything
 * else that changes a thread's messages or labels (a merge, erasure,
 * retention, a purge) empties it by these triggers, and a list then
 * reads that thread's messages as before (and cs_store_summaries_fill
 * writes it again). Threads of older stores start empty.
 */
static const char sq_schema_summaries[] =
"ALTER TABLE threads ADD COLUMN summary TEXT;"
"CREATE TRIGGER messages_summary_upd AFTER UPDATE OF owner, thread, sort_date, from_json,"
"  to_json, cc_json, envelope ON messages BEGIN"
"  UPDATE threads SET summary=NULL WHERE summary IS NOT NULL"
"  AND ((owner=OLD.owner AND id=OLD.thread) OR (owner=NEW.owner AND id=NEW.thread));"
"  END;"
"CREATE TRIGGER messages_summary_del AFTER DELETE ON messages BEGIN"
"  UPDATE threads SET summary=NULL WHERE owner=OLD.owner AND id=OLD.thread"
"  AND summary IS NOT NULL;"
"  END;"
"CREATE TRIGGER message_labels_summary_upd AFTER UPDATE ON message_labels BEGIN"
"  UPDATE threads SET summary=NULL WHERE summary IS NOT NULL AND (owner, id) IN"
"  (SELECT owner, thread FROM messages WHERE (owner=OLD.owner AND id=OLD.message)"
"  OR (owner=NEW.owner AND id=NEW.message));"
"  END;"
"CREATE TRIGGER message_labels_summary_del AFTER DELETE ON message_labels BEGIN"
"  UPDATE threads SET summary=NULL WHERE summary IS NOT NULL AND (owner, id) IN"
"  (SELECT owner, thread FROM messages WHERE owner=OLD.owner AND id=OLD.message);"
"  END;";

/*
 * Schema 9: the background fill (cs_store_summaries_fill) finds threads
 * without a summary through a partial index, not a scan of every thread
 * under the write lock (0.45 s at a million messages from a cold cache:
 * longer than StoreWait, so mail went to the journal once an hour). The
 * index holds only threads waiting for a summary: it stays small.
 */
static const char sq_schema_summary_missing[] =
"CREATE INDEX threads_summary_missing ON threads(owner, id) WHERE summary IS NULL;";

/* Ordered migration steps: step i brings user_version from i to i+1. */
static const char *const sq_migrations[] = {
    sq_schema_1,
    sq_schema_events,
    sq_schema_unlinks,
    sq_schema_milter_status,
    sq_schema_link_dates,
    sq_schema_person_owner,
    sq_schema_write_path,
    sq_schema_summaries,
    sq_schema_summary_missing,
};

#define SQ_SCHEMA_VERSION ((int) (sizeof(sq_migrations) / sizeof(sq_migrations[0])))

/* sq_stmt - cached prepared statement, reset and unbound */
sqlite3_stmt *sq_stmt(sq_conn *c, const char *sql)
{
    sqlite3_stmt *st;
    size_t  i;

    for (i = 0; i < c->ncache; i++)
	if (c->cache[i].sql == sql) {
	    sqlite3_reset(c->cache[i].stmt);
	    sqlite3_clear_bindings(c->cache[i].stmt);
	    return c->cache[i].stmt;
	}
    if (c->ncache >= SQ_CACHE_MAX) {
	cs_error(NULL, "store: statement cache full");
	return NULL;
    }
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
	cs_error(NULL, "store: prepare: %s", sqlite3_errmsg(c->db));
	return NULL;
    }
    c->cache[c->ncache].sql = sql;
    c->cache[c->ncache].stmt = st;
    c->ncache++;
    return st;
}

/* sq_reset_all - let go of every statement's read position */
void    sq_reset_all(sq_conn *c)
{
    for (size_t i = 0; i < c->ncache; i++)
	sqlite3_reset(c->cache[i].stmt);
}

/* sq_fatal - errors that fail a whole group rather than one record */
int     sq_fatal(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
	return 1;
    default:
	return 0;
    }
}

/* conn_close - finalize cached statements and close */
static void conn_close(sq_conn *c)
{
    for (size_t i = 0; i < c->ncache; i++)
	sqlite3_finalize(c->cache[i].stmt);
    c->ncache = 0;
    if (c->db)
	sqlite3_close(c->db);
    c->db = NULL;
}

/* conn_open - open one connection with crmsync's settings */
static int conn_open(sq_conn *c, const char *path, int readonly, long timeout_ms,
		             char *err, size_t errlen)
{
    int     oflags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE)
    | SQLITE_OPEN_NOMUTEX;
    char   *msg = NULL;

    /* The file exists by now: never let SQLite create one with its modes. */
    if (sqlite3_open_v2(path, &c->db, oflags, cs_sqlite_vfs_name()) != SQLITE_OK) {
	snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
	conn_close(c);
	return -1;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, timeout_ms > 0x7fffffffL ? 0x7fffffff : (int) timeout_ms);
    /*
     * synchronous=FULL: a commit is on disk before end-of-message is
     * answered (SPEC Operations). temp_store=MEMORY keeps statement
     * journals, and those of the per-record savepoints of a group written
     * again after a failed record, off the disk (they are only needed to
     * roll a statement or savepoint back, never for durability); an 8 MB
     * page cache per connection saves re-reading index pages, and stays
     * small because large blobs pass through it too. secure_delete: a
     * deleted row's bytes are overwritten and freed pages zeroed (R2).
     */
    if (sqlite3_exec(c->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;"
		     " PRAGMA secure_delete=ON;"
		     " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-8192;",
		     NULL, NULL, &msg) != SQLITE_OK
	|| (!readonly && sqlite3_exec(c->db, "PRAGMA journal_mode=WAL;",
				      NULL, NULL, &msg) != SQLITE_OK)) {
	snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	conn_close(c);
	return -1;
    }
    /* The lists and erasure use JSON functions: say so at open, not later. */
    if (sqlite3_exec(c->db, "SELECT json_valid('[]')", NULL, NULL, &msg) != SQLITE_OK) {
	snprintf(err, errlen, "%s: SQLite %s has no JSON functions (%s): crmsync needs"
		 " 3.38 or later, or one built with JSON1", path, sqlite3_libversion(),
		 msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	conn_close(c);
	return -1;
    }
    return 0;
}

/* user_version - the schema version, -1 on error */
static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int     v = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
	return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
	v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* migrate - apply the missing migration steps, one transaction each */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char    sql[64];
    char   *msg = NULL;
    int     v, i;

    if ((v = user_version(db)) < 0) {
	snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
	return -1;
    }
    if (v > SQ_SCHEMA_VERSION) {
	snprintf(err, errlen, "%s: schema version %d is newer than this crmsync (%d)",
		 path, v, SQ_SCHEMA_VERSION);
	return -1;
    }
    for (i = v; i < SQ_SCHEMA_VERSION; i++) {
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
	    goto fail;
	/* Another process may have migrated while we waited for the lock. */
	if (user_version(db) > i) {
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	    continue;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", i + 1);
	if (sqlite3_exec(db, sq_migrations[i], NULL, NULL, &msg) != SQLITE_OK
	    || sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK
	    || sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	    goto fail;
	}
	cs_info(NULL, "store: %s: schema migrated to version %d", path, i + 1);
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: migration %d: %s", path, i + 1,
	     msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* fix_file - mode 0660 and the directory's group, best effort */
static void fix_file(const char *path, const struct stat *dir)
{
    int     fd;

    if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
	return;
    (void) fchmod(fd, 0660);
    if (!(dir->st_mode & S_ISGID))
	(void) !fchown(fd, (uid_t) -1, dir->st_gid);
    close(fd);
}

/* make_file - check or create the database file with its mode and group */
static int make_file(const char *path, unsigned flags, int *created, char *err, size_t errlen)
{
    struct stat sb, db;
    char   *copy, *dir;
    int     fd, rc;

    *created = 0;
    if (stat(path, &sb) == 0) {
	if (!S_ISREG(sb.st_mode)) {
	    snprintf(err, errlen, "%s: not a regular file", path);
	    return -1;
	}
	return 0;
    }
    if (errno != ENOENT || !(flags & CS_STORE_CREATE) || (flags & CS_STORE_READONLY)) {
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
    }
    if ((copy = strdup(path)) == NULL) {
	snprintf(err, errlen, "out of memory");
	return -1;
    }
    dir = dirname(copy);
    rc = stat(dir, &db);
    if (rc < 0 || !S_ISDIR(db.st_mode)) {
	snprintf(err, errlen, "%s: the database directory must exist (mode 2770, group crmsync)",
		 dir);
	free(copy);
	return -1;
    }
    if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0660)) < 0
	&& errno != EEXIST) {
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	free(copy);
	return -1;
    }
    if (fd >= 0) {
	close(fd);
	fix_file(path, &db);
	*created = 1;
    }
    free(copy);
    return 0;
}

/*
 * Checkpoints. SQLite's own automatic checkpoint runs inside COMMIT, on
 * the committing connection: every waiter of a group of large messages
 * waited for the WAL's pages to be copied into the database file too
 * (a second write of each blob) before its end-of-message was answered.
 * The writer's connection has a WAL hook instead: at SQ_CKPT_PAGES
 * frames (16 MB; SQLite's default is 1,000) it wakes a checkpoint thread with
 * a connection of its own, and the writer goes on with the next group.
 * A PASSIVE checkpoint waits for no lock and a writer appends to the
 * WAL while it copies, so the commit's durability (synchronous=FULL,
 * one fsync of the WAL per group) is what it was. Without a writer
 * thread (crmsyncctl) the hook checkpoints inline, as SQLite would.
 */
/*
 * 16 MB rather than SQLite's 4 MB: an index page rewritten by many groups
 * is copied into the database once per checkpoint (tests/bench/store-bench,
 * 5 copies a message: 88 -> 76 KB written per message).
 */
#define SQ_CKPT_PAGES	4096

/* wal_hook - after each commit on w: a checkpoint when the WAL is long */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sq_store *s = arg;

    if (frames < s->ckpt_pages)
	return SQLITE_OK;
    if (!s->ck_started) {
	(void) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
    }
    pthread_mutex_lock(&s->ck_lock);
    s->ck_due = 1;
    pthread_cond_signal(&s->ck_cond);
    pthread_mutex_unlock(&s->ck_lock);
    return SQLITE_OK;
}

/* ckpt_main - the checkpoint thread: one PASSIVE checkpoint per wakeup */
static void *ckpt_main(void *arg)
{
    sq_store *s = arg;

    pthread_mutex_lock(&s->ck_lock);
    for (;;) {
	while (!s->ck_due && !s->ck_stop)
	    pthread_cond_wait(&s->ck_cond, &s->ck_lock);
	if (s->ck_stop)
	    break;
	s->ck_due = 0;
	pthread_mutex_unlock(&s->ck_lock);
	if (sqlite3_wal_checkpoint_v2(s->ck.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
	    != SQLITE_OK)
	    cs_debug(NULL, "store: checkpoint: %s", sqlite3_errmsg(s->ck.db));
	pthread_mutex_lock(&s->ck_lock);
    }
    pthread_mutex_unlock(&s->ck_lock);
    return NULL;
}

/* ckpt_start - the checkpoint thread, or (failing that) inline checkpoints */
static void ckpt_start(sq_store *s, const char *path, long timeout_ms)
{
    char    err[256];

    if (conn_open(&s->ck, path, 0, timeout_ms, err, sizeof(err)) < 0) {
	cs_warn(NULL, "store: checkpoint connection: %s; checkpoints inline", err);
	return;
    }
    if (cs_thread_create(&s->ck_tid, ckpt_main, s) != 0) {
	cs_warn(NULL, "store: cannot start the checkpoint thread; checkpoints inline");
	conn_close(&s->ck);
	return;
    }
    s->ck_started = 1;
}

/* ckpt_stop - end the checkpoint thread; its connection closed */
static void ckpt_stop(sq_store *s)
{
    if (!s->ck_started)
	return;
    pthread_mutex_lock(&s->ck_lock);
    s->ck_stop = 1;
    pthread_cond_signal(&s->ck_cond);
    pthread_mutex_unlock(&s->ck_lock);
    pthread_join(s->ck_tid, NULL);
    conn_close(&s->ck);
    s->ck_started = 0;
}

/*
 * sq_global - SQLite's process-wide settings, before its first use:
 * no memory statistics (nothing here reads them; with them every
 * allocation takes a global mutex, and Debian's library, built without
 * lookaside, allocates for nearly every value a statement handles).
 * Refused (SQLITE_MISUSE) once SQLite is initialized: then it stays.
 */
static void sq_global(void)
{
    (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* sq_open - open (and create, migrate) a SQLite store */
static int sq_open(cs_store *st, const char *path, unsigned flags, long timeout_ms,
		           char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    sq_store *s;
    int     created, readonly = (flags & CS_STORE_READONLY) != 0;

    pthread_once(&once, sq_global);
    if (make_file(path, flags, &created, err, errlen) < 0)
	return CS_EINTERNAL;
    if ((s = calloc(1, sizeof(*s))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return CS_EINTERNAL;
    }
    pthread_mutex_init(&s->rlock, NULL);
    pthread_mutex_init(&s->ck_lock, NULL);
    pthread_cond_init(&s->ck_cond, NULL);
    s->ckpt_pages = SQ_CKPT_PAGES;
    if (!readonly) {
	if (conn_open(&s->w, path, 0, timeout_ms, err, errlen) < 0
	    || migrate(s->w.db, path, err, errlen) < 0)
	    goto fail;
	sqlite3_wal_hook(s->w.db, wal_hook, s);
	if (flags & CS_STORE_WRITER)
	    ckpt_start(s, path, timeout_ms);
	if (created) {
	    struct stat db;
	    char   *copy = strdup(path);
	    char    side[4096];

	    /*
	     * SQLite copies the mode; the group we set ourselves, by name:
	     * opening and closing a file that SQLite holds open drops every
	     * POSIX lock this process has on it (close(2) semantics), and
	     * without its lock on the -shm file another process (crmsyncctl)
	     * believes it is the first and resets the WAL index under the
	     * milter (SIGBUS, or worse).
	     */
	    if (copy && stat(dirname(copy), &db) == 0 && !(db.st_mode & S_ISGID)) {
		snprintf(side, sizeof(side), "%s-wal", path);
		(void) !lchown(side, (uid_t) -1, db.st_gid);
		snprintf(side, sizeof(side), "%s-shm", path);
		(void) !lchown(side, (uid_t) -1, db.st_gid);
	    }
	    free(copy);
	}
    }
    if (conn_open(&s->r, path, readonly, timeout_ms, err, errlen) < 0)
	goto fail;
    if (readonly && user_version(s->r.db) != SQ_SCHEMA_VERSION) {
	snprintf(err, errlen, "%s: schema version %d, this crmsync needs %d",
		 path, user_version(s->r.db), SQ_SCHEMA_VERSION);
	goto fail;
    }
    st->be = s;
    return CS_OK;
fail:
    ckpt_stop(s);
    conn_close(&s->w);
    conn_close(&s->r);
    pthread_mutex_destroy(&s->rlock);
    pthread_mutex_destroy(&s->ck_lock);
    pthread_cond_destroy(&s->ck_cond);
    free(s);
    return CS_EINTERNAL;
}

/* sq_close - close both connections */
static void sq_close(cs_store *st)
{
    sq_store *s = st->be;

    if (s == NULL)
	return;
    ckpt_stop(s);
    conn_close(&s->w);
    conn_close(&s->r);
    pthread_mutex_destroy(&s->rlock);
    pthread_mutex_destroy(&s->ck_lock);
    pthread_cond_destroy(&s->ck_cond);
    free(s);
    st->be = NULL;
}


/* sq_col_text - a text column as a C string, "" for NULL */
const char *sq_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? (const char *) t : "";
}

/* sq_bind_str - bind text that lives until the statement is reset */
void    sq_bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
	sqlite3_bind_null(st, i);
}

/* sq_run - step a statement to its end; SQLITE_OK or the error */
int     sq_run(sqlite3_stmt *st)
{
    int     rc;

    if (st == NULL)
	return SQLITE_ERROR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	 /* void */ ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * The statement interface (cs_store_db.h) on SQLite: the first step is
 * taken when the statement runs, so a command is done and an error is
 * seen at once, as with PostgreSQL.
 */
typedef struct sq_rows {
    const struct cs_db_ops *db;
    sq_conn *c;
    sqlite3_stmt *q;
    int     step;			/* result of the last sqlite3_step */
    int     fresh;			/* that step's row not yet handed out */
    long long changes;
} sq_rows;

static const struct cs_db_ops sq_db;

/* sq_db_run - bind, take the first step */
static cs_rows *sq_db_run(cs_store *st, int w, const char *sql, const char *types, va_list ap)
{
    sq_store *s = st->be;
    sq_conn *c = w ? &s->w : &s->r;
    sqlite3_stmt *q;
    sq_rows *r;

    if (c->db == NULL || (q = sq_stmt(c, sql)) == NULL)
	return NULL;
    for (int n = 0; types && types[n]; n++) {
	if (types[n] == 'i')
	    sqlite3_bind_int64(q, n + 1, va_arg(ap, long long));
	else
	    sq_bind_str(q, n + 1, va_arg(ap, const char *));
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
	sqlite3_reset(q);
	return NULL;
    }
    r->db = &sq_db;
    r->c = c;
    r->q = q;
    r->step = sqlite3_step(q);
    r->fresh = 1;
    if (r->step != SQLITE_ROW && r->step != SQLITE_DONE) {
	sqlite3_reset(q);
	free(r);
	return NULL;
    }
    r->changes = r->step == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
    return (cs_rows *) r;
}

/* sq_db_next - the next row: 1, 0 none, -1 error */
static int sq_db_next(cs_rows *base)
{
    sq_rows *r = (sq_rows *) base;

    if (!r->fresh && r->step == SQLITE_ROW)
	r->step = sqlite3_step(r->q);
    r->fresh = 0;
    return r->step == SQLITE_ROW ? 1 : r->step == SQLITE_DONE ? 0 : -1;
}

static const char *sq_db_text(cs_rows *base, int col)
{
    return sq_col_text(((sq_rows *) base)->q, col);
}

static long long sq_db_num(cs_rows *base, int col)
{
    return sqlite3_column_int64(((sq_rows *) base)->q, col);
}

static int sq_db_null(cs_rows *base, int col)
{
    return sqlite3_column_type(((sq_rows *) base)->q, col) == SQLITE_NULL;
}

static long long sq_db_changes(cs_rows *base)
{
    return ((sq_rows *) base)->changes;
}

static const void *sq_db_blob(cs_rows *base, int col, size_t *len)
{
    sq_rows *r = (sq_rows *) base;
    const void *b = sqlite3_column_blob(r->q, col);

    *len = b ? (size_t) sqlite3_column_bytes(r->q, col) : 0;
    return b ? b : "";
}

static void sq_db_close(cs_rows *base)
{
    sqlite3_reset(((sq_rows *) base)->q);
    free(base);
}

static const char *sq_db_error(cs_store *st, int w)
{
    sq_store *s = st->be;
    sq_conn *c = w ? &s->w : &s->r;

    return c->db ? sqlite3_errmsg(c->db) : "read-only";
}

static const struct cs_db_ops sq_db = {
    sq_db_run, sq_db_next, sq_db_text, sq_db_num, sq_db_null, sq_db_changes, sq_db_blob,
    sq_db_close, sq_db_error,
};

static const char SQL_USER_ACTIVE[] = "SELECT 1 FROM users WHERE id=?1 AND active=1";

/* sq_user_active - R3: is as a user of the policy in force? */
static int sq_user_active(cs_store *st, const char *as)
{
    sq_store *s = st->be;
    sqlite3_stmt *q;
    int     step = SQLITE_ERROR;

    if (sq_read_begin(s) < 0)
	return CS_EINTERNAL;
    if ((q = sq_stmt(&s->r, SQL_USER_ACTIVE)) != NULL) {
	sq_bind_str(q, 1, as);
	step = sqlite3_step(q);
	sqlite3_reset(q);
    }
    sq_read_end(s);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : CS_EINTERNAL;
}
/*
 * sq_stats - counts for crmsyncctl stats. Fields: schema_version; users
 * (known to the store, active or not); messages (owner copies); threads;
 * persons; deals; raw_blobs and raw_bytes (distinct raw messages and
 * their size: copies share one); db_bytes (database file pages, without
 * the WAL); merges (T1 merges so far); commit_groups and records (group
 * commits and records committed, lifetime: records/commit_groups is the
 * mean group size); events_pending and events_failed (X3 outbox);
 * mailboxes {user: messages}.
 */
/* The milters' status (cs_store_sqlite_status.c). */
int     sq_milter_status_put(cs_store *, const char *, time_t, const char *);
int     sq_milter_status_get(cs_store *, json_t **);

const struct cs_store_ops cs_store_sqlite_ops = {
    .name = "sqlite",
    .db = &sq_db,
    .sql = &sq_sql,
    .open = sq_open,
    .close = sq_close,
    .write_group = sq_write_group,
    .user_active = sq_user_active,
    .backup = sq_backup,
    .outbox_open = sq_outbox_open,
    .outbox_close = sq_outbox_close,
    .outbox_claim = sq_outbox_claim,
    .outbox_settle = sq_outbox_settle,
    .outbox_prune = sq_outbox_prune,
    SQ_ACT_OPS,
    .milter_status_put = sq_milter_status_put,
    .milter_status_get = sq_milter_status_get,
    .msg_list = sq_msg_list,
    .msg_raw = sq_msg_raw,
    .msg_delete = sq_msg_delete,
    .erase_step = sq_erase_step,
    .scrub = sq_scrub,
};
