/*
 * NAME
 *	cs_store_pg 3
 * SUMMARY
 *	PostgreSQL store backend: connections, schema and migrations, reads
 * DESCRIPTION
 *	Database is a libpq URI ("postgresql://user@host:5432/crmsync");
 *	several MTAs, each with its own crmsync-milter, share one database
 *	(SPEC F1). The password comes from libpq's own sources (PGPASSFILE,
 *	~/.pgpass, PGPASSWORD, the URI); the URI is never logged with it:
 *	logs show pg_mask_uri()'s form.
 *
 *	Every wait is bounded below Postfix's milter timeouts (F1, C1):
 *	connect_timeout, tcp_user_timeout and TCP keepalives in the
 *	connection parameters (ours override the URI's), and
 *	statement_timeout and lock_timeout set to the store's timeout on
 *	each new session. JIT compilation is off for the session: on tables
 *	not yet analyzed the planner's estimates pass jit_above_cost and
 *	each short query was compiled anew (a share of 1,000 threads took
 *	12 s with JIT, 0.2 s without). Prepared statements are planned for
 *	their parameters each time (plan_cache_mode force_custom_plan): a
 *	long-lived connection otherwise keeps the generic plan it made while
 *	the tables were empty, and that plan served the dedup lookup (owner,
 *	dedup_key) from another index of the owner's, a scan that grew with
 *	the mailbox (0.75 ms a message after 6,000, until an ANALYZE). The
 *	statements are short: planning costs less than that risk. The read
 *	connection plans each statement once, generically
 *	(force_generic_plan; PostgreSQL makes the plan again whenever
 *	ANALYZE renews a table's statistics, so one made on empty tables
 *	does not stay): a read's statements carry the visibility rules,
 *	and planning them for each request cost a long-lived reader
 *	(crmsync-api) about 5 ms of a thread's 5.5 ms (bind 5.4 ms,
 *	execute 0.4 ms in the server's log); auto kept custom plans for
 *	the list statements. Its keys lead every index it uses, so the
 *	generic plan is the custom one.
 *	synchronous_commit is on: a commit is durable
 *	before end-of-message is answered. A broken connection is reset on
 *	its next use with a doubling backoff (1 s to 4 s): while the
 *	database is down a group fails at once, and recording resumes by
 *	itself when it is back.
 *
 *	Schema: the SQLite backend's logical schema (same tables, columns
 *	and meanings; "user" is quoted, a PostgreSQL keyword) as versioned
 *	migrations in pg_migrations[]. The version is the highest row of
 *	schema_version. All missing steps run in one transaction under an
 *	advisory lock, so several hosts starting at once migrate once. Ids
 *	come from sequences (thread_ids, message_ids, person_ids), not from
 *	a counters row that every host would queue on; the lifetime
 *	counters (commit_groups, records) are spread over shards summed by
 *	stats, for the same reason. The SQLite triggers of hand unlinks
 *	(T3) are explicit statements here (cs_store_pg_write.c).
 *
 *	Partitioning: the mailbox tables (threads, messages, message_labels,
 *	thread_msgids, thread_links, thread_unlinks) lead every key with
 *	owner, and no unique constraint on them omits owner (thread ids are
 *	unique by their sequence; threads_id is a plain index), so they can
 *	be declared PARTITION BY LIST (owner) or PARTITION BY HASH (owner)
 *	and, with Citus, distributed with create_distributed_table('<t>',
 *	'owner', colocate_with => 'threads'); users, persons, person_emails,
 *	deals, deal_persons, access, raw and events stay reference or local
 *	tables. A big site creates the partitioned tables itself before the
 *	first start (the migration is CREATE TABLE IF NOT EXISTS-free on
 *	purpose: it refuses to run over tables it did not make) - see the
 *	README's "PostgreSQL fleet" section.
 *
 *	Backups: pg_dump; crmsyncctl backup answers so (cs_store_backup).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_policy.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_pg.h"

#define PG_BACKOFF_MAX	4		/* seconds between reconnect attempts */

/*
 * Migration 1: the whole schema of SQLite's migrations 1-3. Dates are
 * Unix seconds (UTC); JSON columns are text, kept byte for byte.
 */
static const char pg_schema_1[] =
"CREATE TABLE counters(name text NOT NULL, shard integer NOT NULL DEFAULT 0,"
"  value bigint NOT NULL DEFAULT 0, PRIMARY KEY(name, shard));"
"CREATE SEQUENCE thread_ids;"
"CREATE SEQUENCE message_ids;"
"CREATE SEQUENCE person_ids;"
"CREATE TABLE users("
"  id text PRIMARY KEY,"
"  role text NOT NULL DEFAULT 'user' CHECK(role IN ('user','admin')),"
"  active integer NOT NULL DEFAULT 1);"
"CREATE TABLE user_addresses("
"  \"user\" text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
"  address text NOT NULL,"
"  PRIMARY KEY(\"user\", address));"
"CREATE INDEX user_addresses_address ON user_addresses(address);"
"CREATE TABLE raw("
"  id bigserial PRIMARY KEY,"
"  sha256 text NOT NULL UNIQUE,"
"  size bigint NOT NULL,"
"  data bytea NOT NULL);"
"CREATE TABLE threads("
"  owner text NOT NULL REFERENCES users(id),"
"  id bigint NOT NULL,"
"  subject text,"
"  subject_norm text NOT NULL DEFAULT '',"
"  visibility text NOT NULL DEFAULT 'private' CHECK(visibility IN ('private','shared')),"
"  first_date bigint NOT NULL,"
"  last_date bigint NOT NULL,"
"  message_count bigint NOT NULL DEFAULT 0,"
"  thread_index_root text,"
"  created bigint NOT NULL,"
"  PRIMARY KEY(owner, id));"
"CREATE INDEX threads_mailbox ON threads(owner, last_date, id);"
"CREATE INDEX threads_id ON threads(id);"
"CREATE TABLE messages("
"  owner text NOT NULL REFERENCES users(id),"
"  id bigint NOT NULL,"
"  thread bigint NOT NULL,"
"  message_id text,"
"  dedup_key text NOT NULL,"
"  queue_id text,"
"  source text NOT NULL,"
"  arrival bigint NOT NULL,"
"  date bigint,"
"  sort_date bigint NOT NULL,"
"  subject text,"
"  subject_norm text NOT NULL,"
"  outside_key text NOT NULL,"
"  from_json text NOT NULL,"
"  to_json text NOT NULL,"
"  cc_json text NOT NULL,"
"  reply_to_json text NOT NULL,"
"  in_reply_to text,"
"  refs_json text NOT NULL,"
"  thread_index_root text,"
"  envelope text NOT NULL,"
"  direction text NOT NULL CHECK(direction IN ('in','out')),"
"  truncated integer NOT NULL DEFAULT 0,"
"  raw bigint NOT NULL REFERENCES raw(id),"
"  PRIMARY KEY(owner, id),"
"  UNIQUE(owner, dedup_key),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id));"
"CREATE INDEX messages_thread ON messages(owner, thread, sort_date);"
"CREATE INDEX messages_subject ON messages(owner, subject_norm, outside_key, sort_date);"
"CREATE INDEX messages_tindex ON messages(owner, thread_index_root)"
"  WHERE thread_index_root IS NOT NULL;"
"CREATE INDEX messages_raw ON messages(raw);"
"CREATE TABLE message_labels("
"  owner text NOT NULL,"
"  message bigint NOT NULL,"
"  label text NOT NULL,"
"  PRIMARY KEY(owner, message, label),"
"  FOREIGN KEY(owner, message) REFERENCES messages(owner, id) ON DELETE CASCADE);"
"CREATE INDEX message_labels_label ON message_labels(owner, label);"
"CREATE TABLE thread_msgids("
"  owner text NOT NULL,"
"  msgid text NOT NULL,"
"  thread bigint NOT NULL,"
"  PRIMARY KEY(owner, msgid),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id) ON DELETE CASCADE);"
"CREATE INDEX thread_msgids_thread ON thread_msgids(owner, thread);"
"CREATE TABLE persons("
"  id text PRIMARY KEY,"
"  name text,"
"  origin text NOT NULL CHECK(origin IN ('crm','bcc','hand')),"
"  owner text REFERENCES users(id),"
"  created bigint NOT NULL);"
"CREATE TABLE person_emails("
"  email text PRIMARY KEY,"
"  person text NOT NULL REFERENCES persons(id) ON DELETE CASCADE);"
"CREATE INDEX person_emails_person ON person_emails(person);"
"CREATE TABLE deals("
"  id text PRIMARY KEY,"
"  title text,"
"  status text NOT NULL CHECK(status IN ('open','won','lost')));"
"CREATE TABLE deal_persons("
"  deal text NOT NULL REFERENCES deals(id) ON DELETE CASCADE,"
"  person text NOT NULL REFERENCES persons(id) ON DELETE CASCADE,"
"  PRIMARY KEY(deal, person));"
"CREATE INDEX deal_persons_person ON deal_persons(person, deal);"
"CREATE TABLE access("
"  \"user\" text NOT NULL,"
"  kind text NOT NULL CHECK(kind IN ('person','deal')),"
"  id text NOT NULL,"
"  PRIMARY KEY(\"user\", kind, id));"
"CREATE INDEX access_record ON access(kind, id, \"user\");"
"CREATE TABLE thread_links("
"  owner text NOT NULL,"
"  thread bigint NOT NULL,"
"  kind text NOT NULL CHECK(kind IN ('person','deal')),"
"  id text NOT NULL,"
"  origin text NOT NULL DEFAULT 'auto' CHECK(origin IN ('auto','hand')),"
"  PRIMARY KEY(owner, thread, kind, id),"
"  FOREIGN KEY(owner, thread) REFERENCES threads(owner, id) ON DELETE CASCADE);"
"CREATE INDEX thread_links_record ON thread_links(kind, id, owner, thread);"
"CREATE TABLE thread_unlinks("
"  owner text NOT NULL,"
"  thread bigint NOT NULL,"
"  kind text NOT NULL CHECK(kind IN ('person','deal')),"
"  id text NOT NULL,"
"  at bigint NOT NULL,"
"  PRIMARY KEY(owner, thread, kind, id));"
"CREATE INDEX thread_unlinks_record ON thread_unlinks(kind, id);"
"CREATE TABLE merges("
"  id bigserial PRIMARY KEY,"
"  owner text NOT NULL,"
"  old_thread bigint NOT NULL,"
"  new_thread bigint NOT NULL,"
"  at bigint NOT NULL,"
"  announced integer NOT NULL DEFAULT 0);"
"CREATE TABLE audit("
"  id bigserial PRIMARY KEY,"
"  who text NOT NULL,"
"  at bigint NOT NULL,"
"  what text NOT NULL,"
"  threads text NOT NULL DEFAULT '[]');"
"CREATE TABLE events("
"  id bigserial PRIMARY KEY,"
"  uuid text NOT NULL UNIQUE,"
"  type text NOT NULL,"
"  owner text,"
"  thread bigint,"
"  thread2 bigint,"
"  at bigint NOT NULL,"
"  payload text NOT NULL,"
"  state text NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','failed','sent')),"
"  attempts integer NOT NULL DEFAULT 0,"
"  next_try bigint NOT NULL DEFAULT 0,"
"  last_error text,"
"  done_at bigint);"
"CREATE INDEX events_pending ON events(state, next_try, id);"
"CREATE INDEX events_state_id ON events(state, id);"
"CREATE INDEX events_done ON events(state, done_at);";

/* Step 2: each milter's status document (crmsyncctl stats "milter"). */
static const char pg_schema_2[] =
"CREATE TABLE milter_status("
"  host text PRIMARY KEY,"
"  updated_at bigint NOT NULL,"
"  status_json text NOT NULL);";

/*
 * Step 3: deal and person pages as a range scan, as SQLite's migration
 * link_dates (see there): links carry their thread's last_date and
 * visibility, kept by triggers; thread_links_page replaces
 * thread_links_record (same (kind, id) prefix). A link gets its copies
 * BEFORE INSERT, so the row is written once. No row lock is taken on
 * the thread for that: every writer of an owner's threads and links
 * (cs_store_pg_write.c, the owner actions of cs_store_pg_ctl.c) holds
 * that owner's advisory lock, so no thread changes under a link being
 * added. On a partitioned thread_links (PostgreSQL 13 or later for the
 * BEFORE trigger) the index and triggers reach every partition; Citus
 * needs citus.enable_unsafe_triggers, the triggers touching only rows of
 * the same owner.
 */
static const char pg_schema_3[] =
"ALTER TABLE thread_links ADD COLUMN last_date bigint NOT NULL DEFAULT 0;"
"ALTER TABLE thread_links ADD COLUMN visibility text NOT NULL DEFAULT 'private'"
"  CHECK(visibility IN ('private','shared'));"
"UPDATE thread_links l SET last_date=t.last_date, visibility=t.visibility"
"  FROM threads t WHERE t.owner=l.owner AND t.id=l.thread;"
"DROP INDEX thread_links_record;"
"CREATE INDEX thread_links_page ON thread_links(kind, id, last_date, thread)"
"  INCLUDE (owner, visibility);"
"CREATE FUNCTION crmsync_link_page_new() RETURNS trigger LANGUAGE plpgsql AS $$"
"  DECLARE d bigint; v text;"
"  BEGIN"
"    SELECT t.last_date, t.visibility INTO d, v FROM threads t"
"      WHERE t.owner=NEW.owner AND t.id=NEW.thread;"
"    IF FOUND THEN NEW.last_date := d; NEW.visibility := v; END IF;"
"    RETURN NEW;"
"  END $$;"
"CREATE TRIGGER thread_links_page_new BEFORE INSERT ON thread_links"
"  FOR EACH ROW EXECUTE FUNCTION crmsync_link_page_new();"
"CREATE FUNCTION crmsync_thread_page_sync() RETURNS trigger LANGUAGE plpgsql AS $$"
"  BEGIN"
"    UPDATE thread_links SET last_date=NEW.last_date, visibility=NEW.visibility"
"      WHERE owner=NEW.owner AND thread=NEW.id;"
"    RETURN NULL;"
"  END $$;"
"CREATE TRIGGER threads_page_sync AFTER UPDATE OF last_date, visibility ON threads"
"  FOR EACH ROW WHEN (NEW.last_date IS DISTINCT FROM OLD.last_date"
"  OR NEW.visibility IS DISTINCT FROM OLD.visibility)"
"  EXECUTE FUNCTION crmsync_thread_page_sync();";

/*
 * Step 4: the threading lookups by subject and by Thread-Index root order
 * by (sort_date DESC, id DESC) LIMIT 1; with id in the index the scan
 * stops at the first private match instead of sorting every message of
 * that subject (3.3 ms per message at a 1,000-message thread). SQLite's
 * messages table is WITHOUT ROWID: its indexes end with the key (owner,
 * id) already.
 */
static const char pg_schema_4[] =
"DROP INDEX messages_subject;"
"CREATE INDEX messages_subject ON messages(owner, subject_norm, outside_key, sort_date, id);"
"DROP INDEX messages_tindex;"
"CREATE INDEX messages_tindex ON messages(owner, thread_index_root, sort_date, id)"
"  WHERE thread_index_root IS NOT NULL;";

/*
 * Step 5: persons crmsync makes are their maker's (K2, K3, K5), as
 * SQLite's migration person_owner: person_emails gains the owner of a
 * local person (NULL for the CRM's), an address is no longer unique
 * across persons but (address, owner) is, and access crmsync gave to a
 * local person's non-owners (contact create before K5) is taken back,
 * with their links to it.
 */
static const char pg_schema_5[] =
"ALTER TABLE person_emails DROP CONSTRAINT person_emails_pkey;"
"ALTER TABLE person_emails ADD COLUMN owner text;"
"UPDATE person_emails pe SET owner=p.owner FROM persons p"
"  WHERE p.id=pe.person AND p.origin<>'crm';"
"ALTER TABLE person_emails ADD PRIMARY KEY(email, person);"
"CREATE UNIQUE INDEX person_emails_owner ON person_emails(email, owner);"
"DELETE FROM access a USING persons p WHERE a.kind='person' AND a.id=p.id"
"  AND p.origin<>'crm' AND a.\"user\" IS DISTINCT FROM p.owner;"
"DELETE FROM thread_links l USING persons p WHERE l.kind='person' AND l.id=p.id"
"  AND p.origin<>'crm' AND l.owner IS DISTINCT FROM p.owner;";

/*
 * Step 6: events_pending and the unique index on events.uuid go, as in
 * SQLite's migration write_path: no statement uses them (the sender's
 * scan walks events_state_id, the prune events_done; nothing looks an
 * event up by its id), yet every event inserted or delivered updated
 * them. Event ids are UUID v7 with 74 random bits: unique as made.
 */
static const char pg_schema_6[] =
"DROP INDEX IF EXISTS events_pending;"
"ALTER TABLE events DROP CONSTRAINT IF EXISTS events_uuid_key;";

/*
 * Step 7: a thread's summary, as SQLite's migration summaries: kept by
 * the writer, emptied by these triggers when anything else changes a
 * thread's messages or labels.
 */
static const char pg_schema_7[] =
"ALTER TABLE threads ADD COLUMN summary text;"
"CREATE FUNCTION crmsync_summary_msg() RETURNS trigger LANGUAGE plpgsql AS $$"
"  BEGIN"
"    UPDATE threads SET summary=NULL WHERE summary IS NOT NULL"
"      AND ((owner=OLD.owner AND id=OLD.thread)"
"      OR (TG_OP='UPDATE' AND owner=NEW.owner AND id=NEW.thread));"
"    RETURN NULL;"
"  END $$;"
"CREATE TRIGGER messages_summary_upd AFTER UPDATE OF owner, thread, sort_date, from_json,"
"  to_json, cc_json, envelope ON messages"
"  FOR EACH ROW EXECUTE FUNCTION crmsync_summary_msg();"
"CREATE TRIGGER messages_summary_del AFTER DELETE ON messages"
"  FOR EACH ROW EXECUTE FUNCTION crmsync_summary_msg();"
"CREATE FUNCTION crmsync_summary_label() RETURNS trigger LANGUAGE plpgsql AS $$"
"  BEGIN"
"    UPDATE threads t SET summary=NULL FROM messages m WHERE t.summary IS NOT NULL"
"      AND t.owner=m.owner AND t.id=m.thread AND ((m.owner=OLD.owner AND m.id=OLD.message)"
"      OR (TG_OP='UPDATE' AND m.owner=NEW.owner AND m.id=NEW.message));"
"    RETURN NULL;"
"  END $$;"
"CREATE TRIGGER message_labels_summary_upd AFTER UPDATE ON message_labels"
"  FOR EACH ROW EXECUTE FUNCTION crmsync_summary_label();"
"CREATE TRIGGER message_labels_summary_del AFTER DELETE ON message_labels"
"  FOR EACH ROW EXECUTE FUNCTION crmsync_summary_label();";

/* Schema 8: threads without a summary found by a partial index (see the
 * SQLite schema 9: the fill's query scanned every thread). */
static const char pg_schema_8[] =
"CREATE INDEX threads_summary_missing ON threads(owner, id) WHERE summary IS NULL;";

/* Ordered migration steps: step i brings the version from i to i+1. */
static const char *const pg_migrations[] = {
    pg_schema_1,
    pg_schema_2,
    pg_schema_3,
    pg_schema_4,
    pg_schema_5,
    pg_schema_6,
    pg_schema_7,
    pg_schema_8,
};

#define PG_SCHEMA_VERSION ((int) (sizeof(pg_migrations) / sizeof(pg_migrations[0])))

/* pg_mask_uri - the URI or conninfo with any password replaced by "***" */
void    pg_mask_uri(const char *uri, char *out, size_t outlen)
{
    cs_buf  b = {0};
    const char *p, *scheme, *at, *colon, *end, *q;

    if (outlen == 0)
	return;
    *out = 0;
    if (uri == NULL)
	return;
    /* postgresql://user:secret@host... : the userinfo's password. */
    scheme = strstr(uri, "://");
    p = uri;
    if (scheme) {
	scheme += 3;
	end = scheme + strcspn(scheme, "/?");
	at = NULL;
	for (q = scheme; q < end; q++)
	    if (*q == '@')
		at = q;
	colon = at ? memchr(scheme, ':', (size_t) (at - scheme)) : NULL;
	if (colon) {
	    cs_buf_append(&b, uri, (size_t) (colon - uri));
	    cs_buf_append(&b, ":***", 4);
	    p = at;
	}
    }
    /* ...?password=secret&... and "password=secret" in a conninfo. */
    while (*p) {
	const char *pw = strstr(p, "password=");

	if (pw == NULL || (pw > uri && pw[-1] != '?' && pw[-1] != '&' && pw[-1] != ' ')) {
	    if (pw == NULL) {
		cs_buf_append(&b, p, strlen(p));
		break;
	    }
	    cs_buf_append(&b, p, (size_t) (pw - p) + 9);
	    p = pw + 9;
	    continue;
	}
	cs_buf_append(&b, p, (size_t) (pw - p) + 9);
	cs_buf_append(&b, "***", 3);
	p = pw + 9;
	if (*p == '\'') {
	    for (p++; *p && *p != '\''; p++)
		if (*p == '\\' && p[1])
		    p++;
	    if (*p)
		p++;
	} else
	    p += strcspn(p, "& ");
    }
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    cs_buf_free(&b);
}

/* set_msg - keep a one-line copy of libpq's message and the SQLSTATE */
static void set_msg(pg_conn *c, PGresult *res, const char *fallback)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char   *nl;

    if ((m == NULL || *m == 0) && c->pc)
	m = PQerrorMessage(c->pc);
    snprintf(c->msg, sizeof(c->msg), "%s", m && *m ? m : fallback);
    while ((nl = strchr(c->msg, '\n')) != NULL)
	*nl = nl[1] ? ' ' : 0;
    if (s && strlen(s) == 5)
	memcpy(c->state, s, 6);
    else if (c->pc == NULL || PQstatus(c->pc) != CONNECTION_OK)
	memcpy(c->state, "08006", 6);
    else
	memcpy(c->state, "XX000", 6);
}

/* pg_disconnect - close a connection and forget its statements */
void    pg_disconnect(pg_conn *c)
{
    if (c->pc)
	PQfinish(c->pc);
    c->pc = NULL;
    c->nsql = 0;
}

/* Session settings, each a parameter of set_config(). */
static const char SQL_SET[] = "SELECT set_config($1, $2, false)";

/* pg_connect - a new session with bounded waits and durable commits */
int     pg_connect(pg_store *s, pg_conn *c)
{
    char    ct[24], tcp[24], ms[24];
    long    secs = (s->timeout_ms + 999) / 1000;
    const char *kw[] = {"dbname", "connect_timeout", "tcp_user_timeout", "keepalives",
	"keepalives_idle", "keepalives_interval", "keepalives_count",
    "application_name", NULL};
    const char *val[9];

    pg_disconnect(c);
    c->state[0] = 0;
    /* libpq counts connect_timeout per host address, 2 s at least. */
    snprintf(ct, sizeof(ct), "%ld", secs < 2 ? 2 : secs);
    snprintf(tcp, sizeof(tcp), "%ld", s->timeout_ms);
    snprintf(ms, sizeof(ms), "%ld", s->timeout_ms);
    val[0] = s->conninfo;
    val[1] = ct;
    val[2] = tcp;
    val[3] = "1";
    val[4] = "10";
    val[5] = "5";
    val[6] = "3";
    val[7] = "crmsync";
    val[8] = NULL;
    /* expand_dbname: the URI first, our bounds after it win. */
    c->pc = PQconnectdbParams(kw, val, 1);
    if (c->pc == NULL || PQstatus(c->pc) != CONNECTION_OK) {
	set_msg(c, NULL, "cannot connect");
	pg_disconnect(c);
	memcpy(c->state, "08001", 6);
	return -1;
    }
    if (pg_x(c, SQL_SET, "ss", "statement_timeout", ms) < 0
	|| pg_x(c, SQL_SET, "ss", "lock_timeout", ms) < 0
	|| pg_x(c, SQL_SET, "ss", "synchronous_commit", "on") < 0
	|| pg_x(c, SQL_SET, "ss", "idle_in_transaction_session_timeout", "600000") < 0
	|| pg_x(c, SQL_SET, "ss", "client_min_messages", "warning") < 0
	|| pg_x(c, SQL_SET, "ss", "client_encoding", "UTF8") < 0
	|| pg_x(c, SQL_SET, "ss", "jit", "off") < 0
	|| pg_x(c, SQL_SET, "ss", "plan_cache_mode",
		c == &s->r ? "force_generic_plan" : "force_custom_plan") < 0) {
	pg_disconnect(c);
	return -1;
    }
    return 0;
}

/* pg_ensure - a usable connection, reconnecting with backoff */
int     pg_ensure(pg_store *s, pg_conn *c)
{
    time_t  now;

    if (c->pc && PQstatus(c->pc) == CONNECTION_OK)
	return 0;
    now = time(NULL);
    if (now < c->retry_at) {
	snprintf(c->msg, sizeof(c->msg), "down, next attempt in %lds",
		 (long) (c->retry_at - now));
	memcpy(c->state, "08001", 6);
	return -1;
    }
    if (pg_connect(s, c) == 0) {
	if (c->backoff)
	    cs_info(NULL, "store: %s: connected again", s->display);
	c->backoff = 0;
	c->retry_at = 0;
	return 0;
    }
    c->backoff = c->backoff ? (c->backoff * 2 > PG_BACKOFF_MAX ? PG_BACKOFF_MAX : c->backoff * 2) : 1;
    c->retry_at = time(NULL) + c->backoff;
    return -1;
}

/* pg_begin - open a transaction; a session the server dropped is redone once */
int     pg_begin(pg_store *s, pg_conn *c, const char *begin)
{
    if (pg_ensure(s, c) < 0)
	return -1;
    if (pg_cmd(c, begin) == 0)
	return 0;
    /*
     * A restarted server leaves an idle session dead without libpq
     * knowing until it is used: nothing was sent yet, so reconnect now
     * rather than fail the first group after every restart.
     */
    if (c->pc && PQstatus(c->pc) == CONNECTION_OK)
	return -1;
    c->retry_at = 0;
    if (pg_ensure(s, c) < 0)
	return -1;
    return pg_cmd(c, begin);
}

/* prepared - the statement name of sql on c, preparing it once */
static int prepared(pg_conn *c, const char *sql, int nparams, char *name, size_t namelen)
{
    PGresult *res;
    size_t  i;

    for (i = 0; i < c->nsql; i++)
	if (c->sql[i] == sql) {
	    snprintf(name, namelen, "cs%zu", i);
	    return 1;
	}
    if (c->nsql >= PG_CACHE_MAX)
	return 0;				/* unnamed statement, prepared each time */
    snprintf(name, namelen, "cs%zu", c->nsql);
    res = PQprepare(c->pc, name, sql, nparams, NULL);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
	set_msg(c, res, "prepare failed");
	PQclear(res);
	return -1;
    }
    PQclear(res);
    c->sql[c->nsql++] = sql;
    return 1;
}

/* vq - pg_q with a va_list */
static PGresult *vq(pg_conn *c, const char *sql, const char *types, va_list ap)
{
    const char *v[PG_MAXP];
    int     len[PG_MAXP], fmt[PG_MAXP], n, p;
    char    num[PG_MAXP][24], name[16];
    PGresult *res;
    ExecStatusType es;

    c->state[0] = 0;
    if (c->pc == NULL || PQstatus(c->pc) != CONNECTION_OK) {
	set_msg(c, NULL, "not connected");
	return NULL;
    }
    for (n = 0; types && types[n]; n++) {
	if (n >= PG_MAXP) {
	    snprintf(c->msg, sizeof(c->msg), "too many parameters");
	    memcpy(c->state, "XX000", 6);
	    return NULL;
	}
	len[n] = 0;
	fmt[n] = 0;
	switch (types[n]) {
	case 's':
	    v[n] = va_arg(ap, const char *);
	    break;
	case 'i':
	    snprintf(num[n], sizeof(num[n]), "%lld", va_arg(ap, long long));
	    v[n] = num[n];
	    break;
	case 'b':{
		const void *ptr = va_arg(ap, const void *);
		size_t  sz = va_arg(ap, size_t);

		if (sz > 0x7fffffffU) {
		    snprintf(c->msg, sizeof(c->msg), "parameter too large");
		    memcpy(c->state, "54000", 6);
		    return NULL;
		}
		v[n] = ptr ? ptr : "";
		len[n] = (int) sz;
		fmt[n] = 1;
		break;
	    }
	default:
	    snprintf(c->msg, sizeof(c->msg), "bad parameter type");
	    memcpy(c->state, "XX000", 6);
	    return NULL;
	}
    }
    if ((p = prepared(c, sql, n, name, sizeof(name))) < 0)
	return NULL;
    res = p ? PQexecPrepared(c->pc, name, n, v, len, fmt, 0)
	: PQexecParams(c->pc, sql, n, NULL, v, len, fmt, 0);
    es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
	set_msg(c, res, "statement failed");
	PQclear(res);
	return NULL;
    }
    return res;
}

/* pg_q - run a prepared statement with typed parameters */
PGresult *pg_q(pg_conn *c, const char *sql, const char *types, ...)
{
    va_list ap;
    PGresult *res;

    va_start(ap, types);
    res = vq(c, sql, types, ap);
    va_end(ap);
    return res;
}

/* The statement interface (cs_store_db.h) on PostgreSQL. */
typedef struct pg_rows {
    const struct cs_db_ops *db;
    PGresult *res;
    int     row;			/* -1 before the first */
    unsigned char *blob;		/* the row's unescaped bytea */
} pg_rows;

static const struct cs_db_ops pg_db;

/* pg_db_run - run a statement on the write or read connection */
static cs_rows *pg_db_run(cs_store *st, int w, const char *sql, const char *types, va_list ap)
{
    pg_store *s = st->be;
    PGresult *res = vq(w ? &s->w : &s->r, sql, types, ap);
    pg_rows *r;

    if (res == NULL)
	return NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL) {
	PQclear(res);
	return NULL;
    }
    r->db = &pg_db;
    r->res = res;
    r->row = -1;
    return (cs_rows *) r;
}

static int pg_db_next(cs_rows *base)
{
    pg_rows *r = (pg_rows *) base;

    if (r->blob) {
	PQfreemem(r->blob);
	r->blob = NULL;
    }
    if (r->row < PQntuples(r->res))
	r->row++;
    return r->row < PQntuples(r->res);
}

static const char *pg_db_text(cs_rows *base, int col)
{
    pg_rows *r = (pg_rows *) base;

    return pg_text(r->res, r->row, col);
}

static long long pg_db_num(cs_rows *base, int col)
{
    pg_rows *r = (pg_rows *) base;

    return pg_int(r->res, r->row, col);
}

static int pg_db_null(cs_rows *base, int col)
{
    pg_rows *r = (pg_rows *) base;

    return pg_null(r->res, r->row, col);
}

static long long pg_db_changes(cs_rows *base)
{
    return pg_changes(((pg_rows *) base)->res);
}

static const void *pg_db_blob(cs_rows *base, int col, size_t *len)
{
    pg_rows *r = (pg_rows *) base;

    if (r->blob)
	PQfreemem(r->blob);
    *len = 0;
    r->blob = PQunescapeBytea((const unsigned char *) pg_text(r->res, r->row, col), len);
    return r->blob;
}

static void pg_db_close(cs_rows *base)
{
    if (((pg_rows *) base)->blob)
	PQfreemem(((pg_rows *) base)->blob);
    PQclear(((pg_rows *) base)->res);
    free(base);
}

static const char *pg_db_error(cs_store *st, int w)
{
    pg_store *s = st->be;

    return w ? s->w.msg : s->r.msg;
}

static const struct cs_db_ops pg_db = {
    pg_db_run, pg_db_next, pg_db_text, pg_db_num, pg_db_null, pg_db_changes, pg_db_blob,
    pg_db_close, pg_db_error,
};

/* pg_x - run a prepared statement, rows ignored */
int     pg_x(pg_conn *c, const char *sql, const char *types, ...)
{
    va_list ap;
    PGresult *res;

    va_start(ap, types);
    res = vq(c, sql, types, ap);
    va_end(ap);
    if (res == NULL)
	return -1;
    PQclear(res);
    return 0;
}

/* pg_cmd - a constant command with no parameters and no data */
int     pg_cmd(pg_conn *c, const char *sql)
{
    PGresult *res;
    ExecStatusType es;

    c->state[0] = 0;
    if (c->pc == NULL || PQstatus(c->pc) != CONNECTION_OK) {
	set_msg(c, NULL, "not connected");
	return -1;
    }
    res = PQexec(c->pc, sql);
    es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
	set_msg(c, res, "command failed");
	PQclear(res);
	return -1;
    }
    PQclear(res);
    return 0;
}

/* pg_fatal - errors of the database or the connection, not of one record */
int     pg_fatal(const pg_conn *c)
{
    const char *s = c->state;

    if (c->pc == NULL || PQstatus(c->pc) != CONNECTION_OK)
	return 1;
    if (*s == 0)
	return 0;
    /* 08 connection, 40 rollback/deadlock, 53 resources, 54 limits,
     * 57 canceled (statement_timeout) or shutting down, 58 I/O, XX
     * internal, 25 transaction state (read-only, aborted), 55P03 lock
     * timeout. */
    return strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 || strncmp(s, "53", 2) == 0
	|| strncmp(s, "57", 2) == 0 || strncmp(s, "58", 2) == 0 || strncmp(s, "XX", 2) == 0
	|| strncmp(s, "25", 2) == 0 || strcmp(s, "55P03") == 0;
}

/* pg_changes - rows a command changed */
long long pg_changes(PGresult *res)
{
    const char *n = res ? PQcmdTuples(res) : "";

    return *n ? strtoll(n, NULL, 10) : 0;
}

/* pg_text - a text column, "" for NULL */
const char *pg_text(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

/* pg_int - an integer column, 0 for NULL */
long long pg_int(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* pg_null - is the column NULL? */
int     pg_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

/* pg_bucket - FNV-1a of prefix and key, folded to a lock bucket */
int     pg_bucket(const char *prefix, const char *key)
{
    uint32_t h = 2166136261u;
    const unsigned char *p;

    for (p = (const unsigned char *) prefix; *p; p++)
	h = (h ^ *p) * 16777619u;
    for (p = (const unsigned char *) (key ? key : ""); *p; p++)
	h = (h ^ *p) * 16777619u;
    return (int) (h % PG_LOCK_BUCKETS);
}

/* int_cmp - qsort comparator for ints */
static int int_cmp(const void *a, const void *b)
{
    int     x = *(const int *) a, y = *(const int *) b;

    return x < y ? -1 : x > y;
}

static const char SQL_LOCK[] =
"SELECT count(pg_advisory_xact_lock($1::integer, b)) FROM"
" (SELECT b FROM unnest($2::integer[]) AS b ORDER BY b) AS s";

/* pg_lock_buckets - take buckets in ascending order: no deadlock between hosts */
int     pg_lock_buckets(pg_conn *c, int *v, size_t n)
{
    cs_buf  b = {0};
    size_t  i, k = 0;
    int     rc;

    if (n == 0)
	return 0;
    qsort(v, n, sizeof(*v), int_cmp);
    cs_buf_append(&b, "{", 1);
    for (i = 0; i < n; i++) {
	if (i && v[i] == v[i - 1])
	    continue;
	/* Digits only: an integer array literal, no data in it. */
	cs_buf_appendf(&b, "%s%d", k++ ? "," : "", v[i]);
    }
    if (cs_buf_append(&b, "}", 1) < 0) {
	cs_buf_free(&b);
	return -1;
    }
    rc = pg_x(c, SQL_LOCK, "is", (long long) PG_LOCK_CLASS, b.data);
    cs_buf_free(&b);
    return rc;
}

static const char SQL_VERSION_TABLE[] =
"SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename='schema_version'"
" AND schemaname=current_schema()";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_VERSION_ADD[] =
"INSERT INTO schema_version(version, applied) VALUES($1::integer, $2::bigint)";
static const char SQL_MIGRATE_LOCK[] = "SELECT pg_advisory_xact_lock($1::integer, $2::integer)";

/* schema_version - the store's version, 0 when new; -1 on error */
static int schema_version(pg_conn *c)
{
    PGresult *res;
    int     v;

    if ((res = pg_q(c, SQL_VERSION_TABLE, "")) == NULL)
	return -1;
    v = (int) pg_int(res, 0, 0);
    PQclear(res);
    if (v == 0)
	return 0;
    if ((res = pg_q(c, SQL_VERSION, "")) == NULL)
	return -1;
    v = (int) pg_int(res, 0, 0);
    PQclear(res);
    return v;
}

/* migrate - every missing step in one transaction, one host at a time */
static int migrate(pg_store *s, pg_conn *c, char *err, size_t errlen)
{
    int     v, i = 0;

    if (pg_cmd(c, "BEGIN") < 0)
	goto fail;
    /* Hosts starting together queue here; the later ones find it done. */
    if (pg_x(c, SQL_MIGRATE_LOCK, "ii", (long long) PG_LOCK_CLASS,
	     (long long) PG_LOCK_MIGRATE) < 0
	|| pg_cmd(c, "CREATE TABLE IF NOT EXISTS schema_version("
		  "version integer PRIMARY KEY, applied bigint NOT NULL)") < 0
	|| (v = schema_version(c)) < 0)
	goto fail;
    if (v > PG_SCHEMA_VERSION) {
	pg_cmd(c, "ROLLBACK");
	snprintf(err, errlen, "%s: schema version %d is newer than this crmsync (%d)",
		 s->display, v, PG_SCHEMA_VERSION);
	return -1;
    }
    for (i = v; i < PG_SCHEMA_VERSION; i++)
	if (pg_cmd(c, pg_migrations[i]) < 0
	    || pg_x(c, SQL_VERSION_ADD, "ii", (long long) i + 1, (long long) time(NULL)) < 0)
	    goto fail;
    if (pg_cmd(c, "COMMIT") < 0)
	goto fail;
    if (v < PG_SCHEMA_VERSION)
	cs_info(NULL, "store: %s: schema migrated to version %d", s->display, PG_SCHEMA_VERSION);
    return 0;
fail:
    snprintf(err, errlen, "%s: migration %d: %s", s->display, i + 1, c->msg);
    if (c->pc)
	pg_cmd(c, "ROLLBACK");
    return -1;
}

/* pg_open - connect, migrate (writers) or check the version (read-only) */
static int pg_open(cs_store *st, const char *uri, unsigned flags, long timeout_ms,
		           char *err, size_t errlen)
{
    pg_store *s;
    int     v;

    if ((s = calloc(1, sizeof(*s))) == NULL || (s->conninfo = strdup(uri)) == NULL) {
	free(s);
	snprintf(err, errlen, "out of memory");
	return CS_EINTERNAL;
    }
    pg_mask_uri(uri, s->display, sizeof(s->display));
    s->timeout_ms = timeout_ms;
    s->readonly = (flags & CS_STORE_READONLY) != 0;
    pthread_mutex_init(&s->rlock, NULL);
    if (!s->readonly) {
	if (pg_connect(s, &s->w) < 0) {
	    snprintf(err, errlen, "%s: %s", s->display, s->w.msg);
	    goto fail;
	}
	if (migrate(s, &s->w, err, errlen) < 0)
	    goto fail;
    }
    if (pg_connect(s, &s->r) < 0) {
	snprintf(err, errlen, "%s: %s", s->display, s->r.msg);
	goto fail;
    }
    if ((v = schema_version(&s->r)) != PG_SCHEMA_VERSION) {
	if (v < 0)
	    snprintf(err, errlen, "%s: %s", s->display, s->r.msg);
	else
	    snprintf(err, errlen, "%s: schema version %d, this crmsync needs %d%s", s->display,
		     v, PG_SCHEMA_VERSION, v > PG_SCHEMA_VERSION ? " (newer)" : "");
	goto fail;
    }
    st->be = s;
    cs_info(NULL, "store: PostgreSQL %s, schema version %d", s->display, v);
    return CS_OK;
fail:
    pg_disconnect(&s->w);
    pg_disconnect(&s->r);
    pthread_mutex_destroy(&s->rlock);
    free(s->conninfo);
    free(s);
    return CS_EINTERNAL;
}

/* pg_close - close both connections */
static void pg_close(cs_store *st)
{
    pg_store *s = st->be;

    if (s == NULL)
	return;
    pg_disconnect(&s->w);
    pg_disconnect(&s->r);
    pthread_mutex_destroy(&s->rlock);
    free(s->conninfo);
    free(s);
    st->be = NULL;
}


static const char SQL_USER_ACTIVE[] = "SELECT 1 FROM users WHERE id=$1 AND active=1";

/* pg_user_active - R3: is as a user of the policy in force? */
static int pg_user_active(cs_store *st, const char *as)
{
    pg_store *s = st->be;
    PGresult *q;
    int     rc;

    pthread_mutex_lock(&s->rlock);
    if (pg_begin(s, &s->r, "BEGIN READ ONLY") < 0) {
	pthread_mutex_unlock(&s->rlock);
	return CS_EINTERNAL;
    }
    q = pg_q(&s->r, SQL_USER_ACTIVE, "s", as);
    rc = q == NULL ? CS_EINTERNAL : PQntuples(q) > 0;
    PQclear(q);
    pg_cmd(&s->r, q ? "COMMIT" : "ROLLBACK");
    pthread_mutex_unlock(&s->rlock);
    return rc;
}
/* pg_milter_status_put - replace one host's document; wlock held by caller */
static int pg_milter_status_put(cs_store *st, const char *host, time_t at, const char *json)
{
    static const char SQL_PUT[] =
	"INSERT INTO milter_status(host, updated_at, status_json) VALUES($1, $2, $3)"
	" ON CONFLICT (host) DO UPDATE SET updated_at = EXCLUDED.updated_at,"
	" status_json = EXCLUDED.status_json";
    pg_store *s = st->be;
    pg_conn *c = &s->w;

    /* A status line must never keep mail waiting: give up on any lock. */
    if (pg_begin(s, c, "BEGIN") < 0)
	return CS_EINTERNAL;
    if (pg_cmd(c, "SET LOCAL lock_timeout = '100ms'") < 0
	|| pg_x(c, SQL_PUT, "sis", host, (long long) at, json) < 0
	|| pg_cmd(c, "COMMIT") < 0) {
	pg_cmd(c, "ROLLBACK");
	return CS_EINTERNAL;
    }
    return CS_OK;
}

/* pg_milter_status_get - {host: document + updated_at + age_seconds} */
static int pg_milter_status_get(cs_store *st, json_t **out)
{
    static const char SQL_GET[] =
	"SELECT host, updated_at, status_json FROM milter_status ORDER BY host";
    pg_store *s = st->be;
    pg_conn *c = &s->r;
    PGresult *res = NULL;
    json_t *all;
    time_t  now = time(NULL);

    *out = NULL;
    if ((all = json_object()) == NULL)
	return CS_EINTERNAL;
    pthread_mutex_lock(&s->rlock);
    if (pg_ensure(s, c) == 0)
	res = pg_q(c, SQL_GET, "");
    pthread_mutex_unlock(&s->rlock);
    if (res == NULL) {
	json_decref(all);
	return CS_EINTERNAL;
    }
    for (int i = 0; i < PQntuples(res); i++) {
	json_t *doc = cs_status_doc(PQgetvalue(res, i, 2),
				    strtoll(PQgetvalue(res, i, 1), NULL, 10), now);

	if (doc == NULL) {
	    PQclear(res);
	    json_decref(all);
	    return CS_EINTERNAL;
	}
	/* A host name that is not UTF-8 (not one a milter writes): left out. */
	(void) json_object_set_new(all, PQgetvalue(res, i, 0), doc);
    }
    PQclear(res);
    *out = all;
    return CS_OK;
}

/*
 * pg_stats - counts for crmsyncctl stats, the SQLite backend's fields;
 * db_bytes is pg_database_size() of the whole database.
 */
/* pg_backup - crmsyncctl backup is SQLite's; PostgreSQL has pg_dump */
static int pg_backup(cs_store *st, const char *path, json_t **out, char *err, size_t errlen)
{
    (void) st;
    (void) path;
    (void) out;
    snprintf(err, errlen, "the PostgreSQL store is backed up with its own tools: use pg_dump"
	     " (or continuous archiving), not crmsyncctl backup");
    return CS_EINVAL;
}

const struct cs_store_ops cs_store_pg_ops = {
    .name = "postgresql",
    .db = &pg_db,
    .sql = &pg_sql,
    .open = pg_open,
    .close = pg_close,
    .write_group = pg_write_group,
    .user_active = pg_user_active,
    .milter_status_put = pg_milter_status_put,
    .milter_status_get = pg_milter_status_get,
    .msg_list = pg_msg_list,
    .msg_raw = pg_msg_raw,
    .msg_delete = pg_msg_delete,
    .erase_step = pg_erase_step,
    .scrub = pg_scrub,
    .backup = pg_backup,
    .outbox_open = pg_outbox_open,
    .outbox_close = pg_outbox_close,
    .outbox_claim = pg_outbox_claim,
    .outbox_settle = pg_outbox_settle,
    .outbox_prune = pg_outbox_prune,
    PG_ACT_OPS,
};
