/*
 * NAME
 *	cs_store_pg_write 3
 * SUMMARY
 *	PostgreSQL store backend: group commit, dedup (T2), threads (T1), links (T3)
 * DESCRIPTION
 *	pg_write_group() runs a group of jobs in one transaction (one
 *	durable commit, synchronous_commit on), first without savepoints
 *	(two round trips per job saved); when a job fails alone the group is
 *	rolled back and written again, each job in a SAVEPOINT, so that job
 *	is rolled back alone (cs_store_writer.c). An error of the
 *	database or the connection (pg_fatal: connection lost, statement or
 *	lock timeout, deadlock, disk full, read-only, shutdown) rolls the
 *	whole group back; it is reported, never retried (C1).
 *
 *	Across hosts (F1), before it changes anything, the group takes one
 *	transaction-scoped advisory lock per bucket of: every owner it
 *	writes ("o:"), every Smart BCC address ("e:") and every raw message
 *	("r:"), in ascending bucket order in a single statement. So:
 *	- a mailbox is written by one transaction at a time, whichever host:
 *	  T1 lookups, merges and T2's duplicate check see every committed
 *	  message of that mailbox and nothing half-done; events of one
 *	  thread get ids in commit order (X3 order per thread);
 *	- two hosts seeing the same Smart BCC recipient of one sender create
 *	  one person (the second finds the first's row; person_emails'
 *	  unique (email, owner) with ON CONFLICT DO NOTHING backs it up
 *	  against other writers); each sender gets their own (K5);
 *	- the same message relayed through two hosts is stored once per
 *	  mailbox (UNIQUE(owner, dedup_key) backs the check up);
 *	- the locks are always taken in one global order and before any
 *	  row lock, so writers never deadlock on each other.
 *	The owner actions of crmsyncctl (cs_store_pg_ctl.c) take the same
 *	owner buckets. Bucketing bounds the locks one group holds
 *	(PG_LOCK_BUCKETS); unrelated owners sharing a bucket only wait.
 *
 *	The per-copy logic is the SQLite backend's (cs_store_sqlite_write.c):
 *	T2 check, T1 (references both ways merging into the oldest thread,
 *	Thread-Index root, subject and outside participants within 7 days,
 *	never into a shared thread), message row, labels, thread_msgids,
 *	counts, events, T3 links (private threads only). SQLite's
 *	thread_links trigger (no automatic link over a hand unlink) is the
 *	NOT EXISTS of SQL_LINK_ADD, and its merges trigger the
 *	SQL_MERGE_UNLINKS statements.
 *
 *	The raw message is read whole from the spool into one bytea
 *	parameter (its size is bounded by MaxMessageSize).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_digest.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_pg.h"
#include "cs_store_rules.h"
#include "cs_store_db.h"
#include "cs_store_thread.h"

/* A small set of thread ids (T1 lookups). */
static const char SQL_COUNTER_ADD[] =
"INSERT INTO counters(name, shard, value) VALUES($1, pg_backend_pid() % 16, $2::bigint)"
" ON CONFLICT(name, shard) DO UPDATE SET value=counters.value+excluded.value";
static const char SQL_USER_ENSURE[] = "INSERT INTO users(id) VALUES($1) ON CONFLICT DO NOTHING";
static const char SQL_DUP[] = "SELECT 1 FROM messages WHERE owner=$1 AND dedup_key=$2";
static const char SQL_OWN_ADDRS[] = "SELECT address FROM user_addresses WHERE \"user\"=$1";
static const char SQL_MSGID_THREAD[] =
"SELECT thread FROM thread_msgids WHERE owner=$1 AND msgid=$2";
static const char SQL_TINDEX[] =
"SELECT m.thread FROM messages m JOIN threads t ON t.owner=m.owner AND t.id=m.thread"
" WHERE m.owner=$1 AND m.thread_index_root=$2 AND t.visibility='private'"
" ORDER BY m.sort_date DESC, m.id DESC LIMIT 1";
static const char SQL_SUBJECT[] =
"SELECT m.thread FROM messages m JOIN threads t ON t.owner=m.owner AND t.id=m.thread"
" WHERE m.owner=$1 AND m.subject_norm=$2 AND m.outside_key=$3"
" AND m.sort_date BETWEEN $4::bigint AND $5::bigint AND t.visibility='private'"
" ORDER BY m.sort_date DESC, m.id DESC LIMIT 1";
static const char SQL_THREAD_VIS[] = "SELECT visibility FROM threads WHERE owner=$1 AND id=$2";
static const char SQL_THREAD_LINKSET[] =
"SELECT coalesce(string_agg(kind || ':' || id, ',' ORDER BY kind, id), '')"
" FROM thread_links WHERE owner=$1 AND thread=$2";
/* Like SQLite's thread_links_unlinked trigger: the surviving thread's
 * hand unlinks hold against the automatic links the other brings (T3). */
static const char SQL_MERGE_LINKS[] =
"INSERT INTO thread_links(owner, thread, kind, id, origin)"
" SELECT l.owner, $3::bigint, l.kind, l.id, l.origin FROM thread_links l"
" WHERE l.owner=$1 AND l.thread=$2 AND NOT (l.origin='auto' AND EXISTS (SELECT 1"
" FROM thread_unlinks u WHERE u.owner=$1 AND u.thread=$3::bigint AND u.kind=l.kind"
" AND u.id=l.id)) ON CONFLICT DO NOTHING";
static const char SQL_MERGE_UNLINKS[] =
"INSERT INTO thread_unlinks(owner, thread, kind, id, at)"
" SELECT owner, $3::bigint, kind, id, at FROM thread_unlinks WHERE owner=$1 AND thread=$2"
" ON CONFLICT DO NOTHING";
static const char SQL_MERGE_UNLINKS_DROP[] =
"DELETE FROM thread_unlinks WHERE owner=$1 AND thread=$2";
static const char SQL_MERGE_MSGS[] = "UPDATE messages SET thread=$3 WHERE owner=$1 AND thread=$2";
static const char SQL_MERGE_IDS[] =
"UPDATE thread_msgids SET thread=$3 WHERE owner=$1 AND thread=$2";
static const char SQL_MERGE_COUNTS[] =
"UPDATE threads t SET first_date=least(t.first_date, o.first_date),"
" last_date=greatest(t.last_date, o.last_date), message_count=t.message_count+o.message_count"
" FROM threads o WHERE o.owner=$1 AND o.id=$2 AND t.owner=$1 AND t.id=$3";
static const char SQL_MERGE_DROP[] = "DELETE FROM threads WHERE owner=$1 AND id=$2";
static const char SQL_MERGE_NOTE[] =
"INSERT INTO merges(owner, old_thread, new_thread, at, announced) VALUES($1, $2, $3, $4, 1)";
static const char SQL_THREAD_COUNT[] = "SELECT message_count FROM threads WHERE owner=$1 AND id=$2";
static const char SQL_THREAD_NEW[] =
"INSERT INTO threads(owner, id, subject, subject_norm, visibility, first_date, last_date,"
" message_count, thread_index_root, created)"
" VALUES($1, nextval('thread_ids'), $2, $3, 'private', $4, $4, 0, $5, $6) RETURNING id";
static const char SQL_THREAD_ADD[] =
"UPDATE threads SET message_count=message_count+1, first_date=least(first_date, $3::bigint),"
" last_date=greatest(last_date, $3::bigint) WHERE owner=$1 AND id=$2";
static const char SQL_RAW_FIND[] = "SELECT id FROM raw WHERE sha256=$1";
static const char SQL_RAW_NEW[] =
"INSERT INTO raw(sha256, size, data) VALUES($1, $2, $3) ON CONFLICT(sha256) DO NOTHING"
" RETURNING id";
static const char SQL_MSG_NEW[] =
"INSERT INTO messages(owner, id, thread, message_id, dedup_key, queue_id, source, arrival,"
" date, sort_date, subject, subject_norm, outside_key, from_json, to_json, cc_json,"
" reply_to_json, in_reply_to, refs_json, thread_index_root, envelope, direction, truncated, raw)"
" VALUES($1, nextval('message_ids'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
" $15, $16, $17, $18, $19, $20, $21, $22, $23)"
" ON CONFLICT(owner, dedup_key) DO NOTHING RETURNING id";
static const char SQL_LABEL_ADD[] =
"INSERT INTO message_labels(owner, message, label) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";
static const char SQL_MSGID_ADD[] =
"INSERT INTO thread_msgids(owner, msgid, thread) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";
static const char SQL_LINK_PERSON[] =
"SELECT pe.person FROM person_emails pe JOIN access a"
" ON a.\"user\"=$1 AND a.kind='person' AND a.id=pe.person"
" WHERE pe.email=$2 AND NOT EXISTS (SELECT 1 FROM user_addresses ua WHERE ua.address=$2)";
static const char SQL_LINK_DEALS[] =
"SELECT d.id FROM deal_persons dp JOIN deals d ON d.id=dp.deal AND d.status='open'"
" JOIN access a ON a.\"user\"=$1 AND a.kind='deal' AND a.id=d.id WHERE dp.person=$2 LIMIT 2";
/* T3: never over a hand unlink (SQLite: trigger thread_links_unlinked). */
static const char SQL_LINK_ADD[] =
"INSERT INTO thread_links(owner, thread, kind, id)"
" SELECT $1::text, $2::bigint, $3::text, $4::text WHERE NOT EXISTS (SELECT 1 FROM"
" thread_unlinks u WHERE u.owner=$1 AND u.thread=$2 AND u.kind=$3 AND u.id=$4)"
" ON CONFLICT DO NOTHING";
/* K2, K5: a person with the address that the sender may already access. */
static const char SQL_PERSON_BY_EMAIL[] =
"SELECT pe.person FROM person_emails pe JOIN access a"
" ON a.\"user\"=$2 AND a.kind='person' AND a.id=pe.person WHERE pe.email=$1 LIMIT 1";
static const char SQL_PERSON_NEW[] =
"INSERT INTO persons(id, name, origin, owner, created)"
" VALUES('bcc-' || nextval('person_ids'), $1, 'bcc', $2, $3) RETURNING id";
static const char SQL_PERSON_EMAIL[] =
"INSERT INTO person_emails(email, person, owner) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";
static const char SQL_PERSON_DROP[] = "DELETE FROM persons WHERE id=$1";

/* local_err - an error of this job only (not the database's) */
static int local_err(pg_conn *c, const char *what)
{
    c->state[0] = 0;
    snprintf(c->msg, sizeof(c->msg), "%s", what);
    return -1;
}

/* raw_store - the raw message once per content address (cs_store_job) */
static int raw_store(cs_store *cst, pg_conn *c, cs_store_job *job, long long *raw_id)
{
    const void *data;
    void   *copy;
    cs_rows *res;
    int     r;

    if ((r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_RAW_FIND, "s", job->raw_sha256), raw_id)) != 0)
	return r < 0 ? -1 : 0;
    if (job->raw_size > 0x7fffffffULL)
	return local_err(c, "message too large for one bytea");
    if ((data = cs_store_job_raw(job, &copy)) == NULL)
	return local_err(c, "spool shrank or failed, or out of memory");
    res = cs_db_q(cst, CS_DB_W, SQL_RAW_NEW, "sib", job->raw_sha256, (long long) job->raw_size,
		  data, (size_t) job->raw_size);
    free(copy);
    if ((r = cs_db_int(res, raw_id)) != 0)
	return r < 0 ? -1 : 0;
    /* Another writer stored the same bytes first. */
    if ((r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_RAW_FIND, "s", job->raw_sha256), raw_id)) <= 0)
	return r < 0 ? -1 : local_err(c, "raw message vanished");
    return 0;
}

/*
 * link_address - T3 for one address: every person with it that the
 * owner may access (K5: the CRM's and the owner's own may both exist)
 */
/* pg_merge_rows - T1: move one thread's rows into another, note the merge */
int     pg_merge_rows(cs_store *cst, const char *owner, long long old, long long target,
		              time_t now)
{
    pg_conn *c = &((pg_store *) cst->be)->w;

    if (pg_x(c, SQL_MERGE_LINKS, "sii", owner, old, target) < 0
	|| pg_x(c, SQL_MERGE_UNLINKS, "sii", owner, old, target) < 0
	|| pg_x(c, SQL_MERGE_UNLINKS_DROP, "si", owner, old) < 0
	|| pg_x(c, SQL_MERGE_MSGS, "sii", owner, old, target) < 0
	|| pg_x(c, SQL_MERGE_IDS, "sii", owner, old, target) < 0
	|| pg_x(c, SQL_MERGE_COUNTS, "sii", owner, old, target) < 0
	|| pg_x(c, SQL_MERGE_DROP, "si", owner, old) < 0
	|| pg_x(c, SQL_MERGE_NOTE, "siii", owner, old, target, (long long) now) < 0)
	return -1;
    return 0;
}

/* The write path's SQL for cs_store_thread.c. */
const struct cs_sql_write pg_sql_write = {
    .own_addrs = SQL_OWN_ADDRS,
    .msgid_thread = SQL_MSGID_THREAD,
    .tindex = SQL_TINDEX,
    .subject = SQL_SUBJECT,
    .thread_vis = SQL_THREAD_VIS,
    .thread_linkset = SQL_THREAD_LINKSET,
    .link_auto = SQL_LINK_ADD,
    .link_deals = SQL_LINK_DEALS,
    .link_person = SQL_LINK_PERSON,
    .ev_shared = "SELECT 1 FROM threads WHERE id=$1 AND visibility='shared'",
    .user_ensure = SQL_USER_ENSURE,
    .k2_person = SQL_PERSON_BY_EMAIL,
};

/* store_copy - T2, T1, the message row and T3 for one owner's copy */
static int store_copy(cs_store *cst, void *ctx, cs_store_job *job, size_t ci,
		              long long *raw_id, int *result)
{
    pg_conn *c = &((pg_store *) cst->be)->w;
    time_t  now = *(const time_t *) ctx;
    cs_store_jcopy *cp = &job->copies[ci];
    const char *owner = cp->user;
    long long thread, msg, one, count = 0;
    cs_strlist own = {0};
    cs_ids  found = {0};
    char    okey[65], date[24];
    int     rc = -1, how, r;
    size_t  i;

    *result = 0;
    if (pg_x(c, SQL_USER_ENSURE, "s", owner) < 0)
	return -1;
    /* T2: stored once per mailbox (the owner's lock is held). */
    if ((r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_DUP, "ss", owner, job->dedup_key), &one)) != 0) {
	if (r > 0)
	    *result = CS_COPY_DUPLICATE;
	return r < 0 ? -1 : 0;
    }
    if (cs_wt_own_addrs(cst, CS_DB_W, owner, &own) < 0
	|| cs_wt_outside_key(&own, job, okey) < 0
	|| cs_wt_find(cst, CS_DB_W, owner, job, okey, &found, &thread, &how) < 0)
	goto out;
    if (how == 0 && cp->conditional) {
	*result = CS_COPY_SKIPPED;
	rc = 0;
	goto out;
    }
    if (found.n > 1 && cs_wt_merge(cst, owner, &found, thread, now) < 0)
	goto out;
    if (how == 0) {
	/* V1: a new thread is private. */
	if ((r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_THREAD_NEW, "sssisi", owner, job->subject,
			      job->subject_norm, (long long) job->sort_date,
			      job->thread_index_root, (long long) now), &thread)) <= 0) {
	    if (r == 0)
		local_err(c, "no thread id");
	    goto out;
	}
	if (cs_wt_event(cst, "thread.created", owner, thread, 0, json_object(), NULL) < 0)
	    goto out;
    }
    if (*raw_id == 0 && raw_store(cst, c, job, raw_id) < 0)
	goto out;
    snprintf(date, sizeof(date), "%lld", (long long) job->date);
    r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_MSG_NEW, "sissssisissssssssssssii", owner, thread,
		     job->message_id, job->dedup_key, job->queue_id, job->source,
		     (long long) job->arrival, job->has_date ? date : NULL,
		     (long long) job->sort_date, job->subject, job->subject_norm, okey,
		     job->from_json, job->to_json, job->cc_json, job->reply_to_json,
		     job->in_reply_to, job->refs_json, job->thread_index_root,
		     cp->envelope_json, cp->direction == 1 ? "out" : "in",
		     (long long) job->truncated, *raw_id), &msg);
    if (r <= 0) {
	/* Not under our lock? The unique key still stores it once. */
	if (r == 0)
	    local_err(c, "duplicate raced past the owner lock");
	goto out;
    }
    for (i = 0; i < cp->labels.n; i++)
	if (pg_x(c, SQL_LABEL_ADD, "sis", owner, msg, cp->labels.v[i]) < 0)
	    goto out;
    for (i = 0; i < job->msgids.n; i++)
	if (pg_x(c, SQL_MSGID_ADD, "ssi", owner, job->msgids.v[i], thread) < 0)
	    goto out;
    if (pg_x(c, SQL_THREAD_ADD, "sii", owner, thread, (long long) job->sort_date) < 0)
	goto out;
    if ((r = cs_db_int(cs_db_q(cst, CS_DB_W, SQL_THREAD_COUNT, "si", owner, thread), &count)) <= 0) {
	if (r == 0)
	    local_err(c, "thread vanished");
	goto out;
    }
    if (cs_wt_message_event(cst, job, owner, thread, msg, count, how == 0) < 0
	|| cs_wt_link(cst, job, cp, thread) < 0)
	goto out;
    cp->thread = thread;
    cp->message = msg;
    *result = CS_COPY_STORED;
    rc = 0;
out:
    cs_strlist_free(&own);
    free(found.v);
    return rc;
}

/*
 * store_contact - K2, K5: a person of the owner's own for an address,
 * unless the owner may already access one; one with that address that
 * the owner may not access is neither shown nor shared (K5)
 */
/* pg_bcc_person - K2: a "bcc-N" person and its address, the owner's */
int     pg_bcc_person(cs_store *cst, const char *owner, const char *email, const char *name,
		              time_t now, char *id, size_t idlen)
{
    pg_conn *c = &((pg_store *) cst->be)->w;
    PGresult *res;
    long long made;
    int     r;

    r = cs_db_str(cs_db_q(cst, CS_DB_W, SQL_PERSON_NEW, "ssi", name, owner, (long long) now), id, idlen);
    if (r <= 0)
	return r < 0 ? -1 : local_err(c, "no person id");
    if ((res = pg_q(c, SQL_PERSON_EMAIL, "sss", email, id, owner)) == NULL)
	return -1;
    made = pg_changes(res);
    PQclear(res);
    /* Another writer made the owner's person first ((email, owner) unique). */
    if (made == 0)
	return pg_x(c, SQL_PERSON_DROP, "s", id) < 0 ? -1 : 0;
    return 1;
}

/* group_locks - every bucket the group writes under, taken in order */
static int group_locks(pg_conn *c, cs_store_job **jobs, size_t n)
{
    size_t  i, k, cap = 0, nb = 0;
    int    *b, rc;
    char    email[CS_ADDR_MAX + 1];

    for (i = 0; i < n; i++)
	cap += 1 + jobs[i]->ncopies + 2 * jobs[i]->ncontacts;
    if ((b = calloc(cap ? cap : 1, sizeof(*b))) == NULL)
	return local_err(c, "out of memory");
    for (i = 0; i < n; i++) {
	b[nb++] = pg_bucket("r:", jobs[i]->raw_sha256);
	for (k = 0; k < jobs[i]->ncopies; k++)
	    b[nb++] = pg_bucket("o:", jobs[i]->copies[k].user);
	for (k = 0; k < jobs[i]->ncontacts; k++) {
	    snprintf(email, sizeof(email), "%s", jobs[i]->contacts[k].address);
	    cs_lowercase(email);
	    b[nb++] = pg_bucket("o:", jobs[i]->contacts[k].owner);
	    b[nb++] = pg_bucket("e:", email);
	}
    }
    rc = pg_lock_buckets(c, b, nb);
    free(b);
    return rc;
}

/* A store that is down fails every group: log that once a minute (C1). */
static cs_ratelimit group_fail_log;

/* pg_write_group - one transaction; careful: a savepoint per job (cs_store_impl.h) */
int     pg_write_group(cs_store *cst, cs_store_job **jobs, size_t n, int careful)
{
    pg_store *s = cst->be;
    pg_conn *c = &s->w;
    time_t  now = time(NULL);
    size_t  i, ok = 0;

    if (s->readonly || pg_begin(s, c, "BEGIN") < 0) {
	cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		       "store: begin: %s", c->msg);
	cs_jobs_fail_all(jobs, n);
	return CS_EINTERNAL;
    }
    if (group_locks(c, jobs, n) < 0)
	goto group_fail;
    for (i = 0; i < n; i++) {
	if (careful && pg_cmd(c, "SAVEPOINT job") < 0)
	    goto group_fail;
	if (cs_wt_job(cst, jobs[i], now, store_copy, &now) == 0) {
	    if (careful && pg_cmd(c, "RELEASE SAVEPOINT job") < 0)
		goto group_fail;
	    jobs[i]->rc = CS_OK;
	    ok++;
	    continue;
	}
	if (pg_fatal(c))
	    goto group_fail;
	if (!careful) {
	    /* This record alone is bad: the group again, careful (logged there). */
	    cs_jobs_fail_all(jobs, n);
	    if (pg_cmd(c, "ROLLBACK") < 0)
		goto group_fail;
	    return CS_STORE_AGAIN;
	}
	/* This record alone is bad: drop it, keep the others. */
	cs_error(jobs[i]->queue_id, "store: record not stored: %s%s%s", c->msg,
		 c->state[0] ? " SQLSTATE " : "", c->state);
	jobs[i]->rc = CS_EINTERNAL;
	memset(jobs[i]->results, 0, jobs[i]->ncopies * sizeof(int));
	if (pg_cmd(c, "ROLLBACK TO SAVEPOINT job") < 0 || pg_cmd(c, "RELEASE SAVEPOINT job") < 0)
	    goto group_fail;
    }
    if (pg_x(c, SQL_COUNTER_ADD, "si", "commit_groups", 1LL) < 0
	|| pg_x(c, SQL_COUNTER_ADD, "si", "records", (long long) ok) < 0
	|| pg_cmd(c, "COMMIT") < 0)
	goto group_fail;
    return CS_OK;

group_fail:
    cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		   "store: group of %zu record(s) rolled back: %s", n, c->msg);
    if (c->pc && PQstatus(c->pc) == CONNECTION_OK)
	pg_cmd(c, "ROLLBACK");
    cs_jobs_fail_all(jobs, n);
    return CS_EINTERNAL;
}
