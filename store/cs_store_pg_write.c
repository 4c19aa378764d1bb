/*
 * NAME
 *	cs_store_pg_write 3
 * SUMMARY
 *	PostgreSQL store backend: group commit, dedup (T2), threads (T1), links (T3)
 * DESCRIPTION
 *	pg_write_group() runs a group of jobs in one transaction (one
 *	durable commit, synchronous_commit on), each job in a SAVEPOINT so
 *	that a job that fails alone is rolled back alone. An error of the
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
#include "cs_store_pg.h"
#include "cs_store_rules.h"

/* A small set of thread ids (T1 lookups). */
typedef struct pg_ids {
    long long *v;
    size_t  n, cap;
} pg_ids;

/* ids_add - add a thread id once */
static int ids_add(pg_ids *s, long long id)
{
    for (size_t i = 0; i < s->n; i++)
	if (s->v[i] == id)
	    return 0;
    if (s->n == s->cap) {
	size_t  ncap = s->cap ? 2 * s->cap : 8;
	long long *nv = realloc(s->v, ncap * sizeof(*nv));

	if (nv == NULL)
	    return -1;
	s->v = nv;
	s->cap = ncap;
    }
    s->v[s->n++] = id;
    return 0;
}

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
static const char SQL_SET_VIS[] = "UPDATE threads SET visibility=$3 WHERE owner=$1 AND id=$2";
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
static const char SQL_ACCESS_ADD[] =
"INSERT INTO access(\"user\", kind, id) VALUES($1, $2, $3) ON CONFLICT DO NOTHING";

/* local_err - an error of this job only (not the database's) */
static int local_err(pg_conn *c, const char *what)
{
    c->state[0] = 0;
    snprintf(c->msg, sizeof(c->msg), "%s", what);
    return -1;
}

/* one_int - first column of the first row: 1 found, 0 none, -1 error */
static int one_int(PGresult *res, long long *v)
{
    int     found;

    if (res == NULL)
	return -1;
    found = PQntuples(res) > 0;
    if (found)
	*v = pg_int(res, 0, 0);
    PQclear(res);
    return found;
}

/* one_text - first column of the first row into out: 1, 0 or -1 */
static int one_text(PGresult *res, char *out, size_t outlen)
{
    int     found;

    if (res == NULL)
	return -1;
    found = PQntuples(res) > 0;
    if (found)
	snprintf(out, outlen, "%s", pg_text(res, 0, 0));
    PQclear(res);
    return found;
}

/* strcmp_p - qsort comparator for strings */
static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* outside_key - digest of the participants that are not the owner's */
static int outside_key(pg_conn *c, const char *owner, const cs_store_job *job, char hex[65])
{
    cs_strlist own = {0};
    char  **v = NULL;
    size_t  i, n = 0;
    cs_buf  b = {0};
    PGresult *res;
    int     rc = 0, k;

    if ((res = pg_q(c, SQL_OWN_ADDRS, "s", owner)) == NULL)
	return -1;
    for (k = 0; k < PQntuples(res); k++)
	if (cs_strlist_add(&own, pg_text(res, k, 0)) < 0)
	    rc = -1;
    PQclear(res);
    if (rc == 0 && job->participants.n && (v = calloc(job->participants.n, sizeof(*v))) == NULL)
	rc = -1;
    for (i = 0; rc == 0 && i < job->participants.n; i++)
	if (!cs_strlist_contains(&own, job->participants.v[i]))
	    v[n++] = job->participants.v[i];
    if (rc == 0) {
	if (n)
	    qsort(v, n, sizeof(*v), strcmp_p);
	cs_buf_append(&b, "", 0);
	for (i = 0; i < n; i++)
	    if (cs_buf_appendf(&b, "%s\n", v[i]) < 0)
		rc = -1;
	if (rc == 0)
	    cs_sha256_hex(b.data ? b.data : "", b.len, hex);
    }
    cs_buf_free(&b);
    free(v);
    cs_strlist_free(&own);
    return rc < 0 && c->state[0] == 0 ? local_err(c, "out of memory") : rc;
}

/* ref_threads - T1: threads holding or naming any of the message's ids */
static int ref_threads(pg_conn *c, const char *owner, const cs_store_job *job, pg_ids *found)
{
    long long t = 0;
    int     r;

    for (size_t i = 0; i < job->msgids.n; i++) {
	if ((r = one_int(pg_q(c, SQL_MSGID_THREAD, "ss", owner, job->msgids.v[i]), &t)) < 0)
	    return -1;
	if (r > 0 && ids_add(found, t) < 0)
	    return local_err(c, "out of memory");
    }
    return 0;
}

/* heuristic_thread - T1 fallbacks: Thread-Index root, then subject+participants */
static int heuristic_thread(pg_conn *c, const char *owner, const cs_store_job *job,
			            const char *okey, long long *thread)
{
    int     r;

    *thread = 0;
    if (job->thread_index_root && *job->thread_index_root) {
	r = one_int(pg_q(c, SQL_TINDEX, "ss", owner, job->thread_index_root), thread);
	if (r != 0)
	    return r < 0 ? -1 : 0;
    }
    if (job->subject_norm == NULL || *job->subject_norm == 0)
	return 0;				/* never on an empty subject */
    r = one_int(pg_q(c, SQL_SUBJECT, "sssii", owner, job->subject_norm, okey,
		     (long long) job->sort_date - CS_STORE_JOIN_WINDOW,
		     (long long) job->sort_date + CS_STORE_JOIN_WINDOW), thread);
    return r < 0 ? -1 : 0;
}

/* find_thread - the T1 decision; *how: 0 none, 1 references, 2 heuristic */
static int find_thread(pg_conn *c, const char *owner, const cs_store_job *job,
		               const char *okey, pg_ids *found, long long *thread, int *how)
{
    *how = 0;
    *thread = 0;
    if (ref_threads(c, owner, job, found) < 0)
	return -1;
    if (found->n) {
	/* The oldest thread (lowest id) survives a merge. */
	*thread = found->v[0];
	for (size_t i = 1; i < found->n; i++)
	    if (found->v[i] < *thread)
		*thread = found->v[i];
	*how = 1;
	return 0;
    }
    if (heuristic_thread(c, owner, job, okey, thread) < 0)
	return -1;
    if (*thread)
	*how = 2;
    return 0;
}

/* thread_event - an X3 event about one thread: its id plus ids (both taken) */
static int thread_event(pg_conn *c, const char *type, const char *owner, long long thread,
			        long long thread2, json_t *ids, json_t *content)
{
    char    t[32];
    json_t *all;
    int     rc = local_err(c, "out of memory");

    snprintf(t, sizeof(t), "t%lld", thread);
    if (ids && (all = json_pack("{s:s}", "thread", t)) != NULL) {
	if (json_object_update_missing(all, ids) == 0)
	    rc = pg_event_add(c, type, owner, thread, thread2, all, content);
	json_decref(all);
    }
    json_decref(ids);
    json_decref(content);
    return rc;
}

/* merge_threads - fold every found thread into target (T1, V3, V7) */
static int merge_threads(pg_conn *c, const char *owner, const pg_ids *found,
			         long long target, time_t now)
{
    char    vis[16], set0[4096], set[4096], from[32], into[32];
    int    *was, shared, same = 1, r, rc = -1;
    long long old;
    size_t  i;

    if ((was = calloc(found->n, sizeof(*was))) == NULL)
	return local_err(c, "out of memory");
    /*
     * V3: every merged thread's visibility and links, the decision in
     * cs_store_rules.c. Link sets too long to compare count as different.
     */
    for (i = 0; i < found->n; i++) {
	if ((r = one_text(pg_q(c, SQL_THREAD_VIS, "si", owner, found->v[i]), vis,
			  sizeof(vis))) <= 0) {
	    rc = r < 0 ? -1 : local_err(c, "merged thread vanished");
	    goto out;
	}
	was[i] = strcmp(vis, "shared") == 0;
	if ((r = one_text(pg_q(c, SQL_THREAD_LINKSET, "si", owner, found->v[i]),
			  i ? set : set0, sizeof(set))) <= 0) {
	    rc = r < 0 ? -1 : local_err(c, "no link set");
	    goto out;
	}
	if (strlen(i ? set : set0) >= sizeof(set) - 1 || (i && strcmp(set, set0) != 0))
	    same = 0;
    }
    shared = cs_rule_merge_shared(was, found->n, same);
    for (i = 0; i < found->n; i++) {
	if ((old = found->v[i]) == target)
	    continue;
	/* V7: a shared thread folded into a private one went private. */
	if (cs_rule_merge_changed(was[i], shared)
	    && thread_event(c, "thread.visibility_changed", owner, old, 0,
			    json_pack("{s:s}", "visibility", "private"), NULL) < 0)
	    goto out;
	if (pg_x(c, SQL_MERGE_LINKS, "sii", owner, old, target) < 0
	    || pg_x(c, SQL_MERGE_UNLINKS, "sii", owner, old, target) < 0
	    || pg_x(c, SQL_MERGE_UNLINKS_DROP, "si", owner, old) < 0
	    || pg_x(c, SQL_MERGE_MSGS, "sii", owner, old, target) < 0
	    || pg_x(c, SQL_MERGE_IDS, "sii", owner, old, target) < 0
	    || pg_x(c, SQL_MERGE_COUNTS, "sii", owner, old, target) < 0
	    || pg_x(c, SQL_MERGE_DROP, "si", owner, old) < 0
	    || pg_x(c, SQL_MERGE_NOTE, "siii", owner, old, target, (long long) now) < 0)
	    goto out;
	/* X3: which id became which, ordered after both threads' events. */
	snprintf(from, sizeof(from), "t%lld", old);
	snprintf(into, sizeof(into), "t%lld", target);
	if (thread_event(c, "thread.merged", owner, target, old,
			 json_pack("{s:s,s:s}", "from", from, "into", into), NULL) < 0)
	    goto out;
    }
    if (pg_x(c, SQL_SET_VIS, "sis", owner, target, shared ? "shared" : "private") < 0)
	goto out;
    rc = 0;
    /* V3, V5, V7: the surviving thread, if it was shared, is private now. */
    for (i = 0; i < found->n; i++)
	if (found->v[i] == target && cs_rule_merge_changed(was[i], shared))
	    rc = thread_event(c, "thread.visibility_changed", owner, target, 0,
			      json_pack("{s:s}", "visibility", "private"), NULL);
out:
    free(was);
    return rc;
}

/* raw_store - the raw message once per SHA-256 */
static int raw_store(pg_conn *c, cs_store_job *job, long long *raw_id)
{
    char   *buf = NULL;
    uint64_t off = 0;
    ssize_t got;
    PGresult *res;
    int     r;

    if ((r = one_int(pg_q(c, SQL_RAW_FIND, "s", job->raw_sha256), raw_id)) != 0)
	return r < 0 ? -1 : 0;
    if (job->raw_size > 0x7fffffffULL)
	return local_err(c, "message too large for one bytea");
    if (job->raw_size && (buf = malloc((size_t) job->raw_size)) == NULL)
	return local_err(c, "out of memory");
    /* The size was fixed when the job was made; never read past it. */
    while (off < job->raw_size) {
	size_t  want = job->raw_size - off < CS_STORE_CHUNK ? (size_t) (job->raw_size - off)
	: CS_STORE_CHUNK;

	if ((got = cs_spool_pread(job->raw, buf + off, want, off)) <= 0) {
	    free(buf);
	    return local_err(c, "spool shrank or failed");
	}
	off += (uint64_t) got;
    }
    res = pg_q(c, SQL_RAW_NEW, "sib", job->raw_sha256, (long long) job->raw_size,
	       (const void *) buf, (size_t) job->raw_size);
    free(buf);
    if ((r = one_int(res, raw_id)) != 0)
	return r < 0 ? -1 : 0;
    /* Another writer stored the same bytes first. */
    if ((r = one_int(pg_q(c, SQL_RAW_FIND, "s", job->raw_sha256), raw_id)) <= 0)
	return r < 0 ? -1 : local_err(c, "raw message vanished");
    return 0;
}

/* link_person - T3 for one person of an address: it and its one open deal */
static int link_person(pg_conn *c, const char *owner, long long thread, const char *person)
{
    PGresult *res;
    char    deal[512];
    int     ndeals;
    long long changed;

    if ((res = pg_q(c, SQL_LINK_ADD, "siss", owner, thread, "person", person)) == NULL)
	return -1;
    changed = pg_changes(res);
    PQclear(res);
    if (changed > 0
	&& thread_event(c, "thread.linked", owner, thread, 0,
		   json_pack("{s:s,s:s}", "person", person, "origin", "auto"), NULL) < 0)
	return -1;
    if ((res = pg_q(c, SQL_LINK_DEALS, "ss", owner, person)) == NULL)
	return -1;
    ndeals = PQntuples(res);
    if (ndeals == 1)
	snprintf(deal, sizeof(deal), "%s", pg_text(res, 0, 0));
    PQclear(res);
    if (ndeals != 1)
	return 0;				/* none, or ambiguous: no deal */
    if ((res = pg_q(c, SQL_LINK_ADD, "siss", owner, thread, "deal", deal)) == NULL)
	return -1;
    changed = pg_changes(res);
    PQclear(res);
    if (changed == 0)
	return 0;
    return thread_event(c, "thread.linked", owner, thread, 0,
			json_pack("{s:s,s:s}", "deal", deal, "origin", "auto"), NULL);
}

/*
 * link_address - T3 for one address: every person with it that the
 * owner may access (K5: the CRM's and the owner's own may both exist)
 */
static int link_address(pg_conn *c, const char *owner, long long thread, const char *addr)
{
    PGresult *res;
    cs_strlist persons = {0};
    int     rc = 0, n;

    if ((res = pg_q(c, SQL_LINK_PERSON, "ss", owner, addr)) == NULL)
	return -1;
    n = PQntuples(res);
    for (int i = 0; i < n && rc == 0; i++)
	if (cs_strlist_add(&persons, pg_text(res, i, 0)) < 0)
	    rc = local_err(c, "out of memory");
    PQclear(res);
    for (size_t i = 0; rc == 0 && i < persons.n; i++)
	rc = link_person(c, owner, thread, persons.v[i]);
    cs_strlist_free(&persons);
    return rc;
}

/* link_thread - T3 for every participant of the copy, on a private thread */
static int link_thread(cs_store *cst, pg_conn *c, const cs_store_job *job,
		               const cs_store_jcopy *cp, long long thread)
{
    char    norm[CS_ADDR_MAX + 1], vis[16];
    size_t  i;
    int     r;

    if ((r = one_text(pg_q(c, SQL_THREAD_VIS, "si", cp->user, thread), vis, sizeof(vis))) <= 0)
	return r < 0 ? -1 : local_err(c, "thread vanished");
    if (!cs_rule_auto_links(vis))
	return 0;				/* shared: the owner's hand only */
    for (i = 0; i < job->participants.n; i++)
	if (link_address(c, cp->user, thread, job->participants.v[i]) < 0)
	    return -1;
    /* Envelope-only recipients this copy keeps are participants too. */
    for (i = 0; i < cp->env_rcpts.n; i++)
	if (cs_store_normalize(cst, cp->env_rcpts.v[i], norm, sizeof(norm)) == 0
	    && !cs_strlist_contains(&job->participants, norm)
	    && link_address(c, cp->user, thread, norm) < 0)
	    return -1;
    return 0;
}

/* add_list - append a stored JSON address list to participants */
static int add_list(json_t *participants, const char *text)
{
    json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
    int     rc = 0;

    if (json_is_array(arr))
	rc = json_array_extend(participants, arr);
    json_decref(arr);
    return rc;
}

/* message_event - X3 message.added; subject and participants only if shared (V6) */
static int message_event(pg_conn *c, const cs_store_job *job, const char *owner,
			         long long thread, long long msg)
{
    long long count = 0;
    json_t *content = NULL, *parts;
    char    m[32];
    int     r;

    if ((r = one_int(pg_q(c, SQL_THREAD_COUNT, "si", owner, thread), &count)) <= 0)
	return r < 0 ? -1 : local_err(c, "thread vanished");
    snprintf(m, sizeof(m), "m%lld", msg);
    if ((r = pg_event_shared(c, thread)) < 0)
	return -1;
    if (r > 0) {
	if ((parts = json_array()) == NULL)
	    return local_err(c, "out of memory");
	if (add_list(parts, job->from_json) < 0 || add_list(parts, job->to_json) < 0
	    || add_list(parts, job->cc_json) < 0) {
	    json_decref(parts);
	    return local_err(c, "out of memory");
	}
	if ((content = json_pack("{s:s?,s:o}", "subject", job->subject,
				 "participants", parts)) == NULL)
	    return local_err(c, "out of memory");
    }
    return thread_event(c, "message.added", owner, thread, 0,
			json_pack("{s:s,s:I}", "message", m, "message_count", (json_int_t) count),
			content);
}

/* store_copy - T2, T1, the message row and T3 for one owner's copy */
static int store_copy(cs_store *cst, pg_conn *c, cs_store_job *job, size_t ci,
		              long long *raw_id, time_t now, int *result)
{
    cs_store_jcopy *cp = &job->copies[ci];
    const char *owner = cp->user;
    long long thread, msg, one;
    pg_ids  found = {0};
    char    okey[65], date[24];
    int     rc = -1, how, r;
    size_t  i;

    *result = 0;
    if (pg_x(c, SQL_USER_ENSURE, "s", owner) < 0)
	return -1;
    /* T2: stored once per mailbox (the owner's lock is held). */
    if ((r = one_int(pg_q(c, SQL_DUP, "ss", owner, job->dedup_key), &one)) != 0) {
	if (r > 0)
	    *result = CS_COPY_DUPLICATE;
	return r < 0 ? -1 : 0;
    }
    if (outside_key(c, owner, job, okey) < 0
	|| find_thread(c, owner, job, okey, &found, &thread, &how) < 0)
	goto out;
    if (how == 0 && cp->conditional) {
	*result = CS_COPY_SKIPPED;
	rc = 0;
	goto out;
    }
    if (found.n > 1 && merge_threads(c, owner, &found, thread, now) < 0)
	goto out;
    if (how == 0) {
	/* V1: a new thread is private. */
	if ((r = one_int(pg_q(c, SQL_THREAD_NEW, "sssisi", owner, job->subject,
			      job->subject_norm, (long long) job->sort_date,
			      job->thread_index_root, (long long) now), &thread)) <= 0) {
	    if (r == 0)
		local_err(c, "no thread id");
	    goto out;
	}
	if (thread_event(c, "thread.created", owner, thread, 0, json_object(), NULL) < 0)
	    goto out;
    }
    if (*raw_id == 0 && raw_store(c, job, raw_id) < 0)
	goto out;
    snprintf(date, sizeof(date), "%lld", (long long) job->date);
    r = one_int(pg_q(c, SQL_MSG_NEW, "sissssisissssssssssssii", owner, thread,
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
    if (pg_x(c, SQL_THREAD_ADD, "sii", owner, thread, (long long) job->sort_date) < 0
	|| message_event(c, job, owner, thread, msg) < 0
	|| link_thread(cst, c, job, cp, thread) < 0)
	goto out;
    *result = CS_COPY_STORED;
    rc = 0;
out:
    free(found.v);
    return rc;
}

/*
 * store_contact - K2, K5: a person of the owner's own for an address,
 * unless the owner may already access one; one with that address that
 * the owner may not access is neither shown nor shared (K5)
 */
static int store_contact(pg_conn *c, const cs_store_jcontact *k, time_t now)
{
    PGresult *res;
    char    email[CS_ADDR_MAX + 1], id[64], name[1024];
    json_t *ids;
    int     r;

    if (strlen(k->address) >= sizeof(email) || strchr(k->address, '@') == NULL)
	return 0;				/* not an address: no contact */
    snprintf(email, sizeof(email), "%s", k->address);
    cs_lowercase(email);
    if (pg_x(c, SQL_USER_ENSURE, "s", k->owner) < 0)
	return -1;
    if ((r = one_text(pg_q(c, SQL_PERSON_BY_EMAIL, "ss", email, k->owner), id, sizeof(id))) != 0)
	return r < 0 ? -1 : 0;			/* K2: already a person the sender may access */
    cs_rule_person_name(k->name, NULL, email, name, sizeof(name));
    r = one_text(pg_q(c, SQL_PERSON_NEW, "ssi", name, k->owner, (long long) now), id, sizeof(id));
    if (r <= 0)
	return r < 0 ? -1 : local_err(c, "no person id");
    if ((res = pg_q(c, SQL_PERSON_EMAIL, "sss", email, id, k->owner)) == NULL)
	return -1;
    if (pg_changes(res) == 0) {
	/* Another writer made the owner's person first ((email, owner) unique). */
	PQclear(res);
	return pg_x(c, SQL_PERSON_DROP, "s", id);
    }
    PQclear(res);
    if (pg_x(c, SQL_ACCESS_ADD, "sss", k->owner, "person", id) < 0)
	return -1;
    ids = json_pack("{s:s,s:s,s:s}", "person", id, "name", name, "address", email);
    if (ids == NULL)
	return local_err(c, "out of memory");
    r = pg_event_add(c, "person.created", k->owner, 0, 0, ids, NULL);
    json_decref(ids);
    return r;
}

/* store_job - contacts first (so the sender's copy links them), then copies */
static int store_job(cs_store *cst, pg_conn *c, cs_store_job *job, time_t now)
{
    long long raw_id = 0;
    size_t  i;

    for (i = 0; i < job->ncontacts; i++)
	if (store_contact(c, &job->contacts[i], now) < 0)
	    return -1;
    for (i = 0; i < job->ncopies; i++)
	if (store_copy(cst, c, job, i, &raw_id, now, &job->results[i]) < 0)
	    return -1;
    return 0;
}

/* fail_all - the whole group is lost: every waiter hears so */
static void fail_all(cs_store_job **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	jobs[i]->rc = CS_EINTERNAL;
	memset(jobs[i]->results, 0, jobs[i]->ncopies * sizeof(int));
    }
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

/* pg_write_group - one transaction, a savepoint per job */
int     pg_write_group(cs_store *cst, cs_store_job **jobs, size_t n)
{
    pg_store *s = cst->be;
    pg_conn *c = &s->w;
    time_t  now = time(NULL);
    size_t  i, ok = 0;

    if (s->readonly || pg_begin(s, c, "BEGIN") < 0) {
	cs_log_limited(&group_fail_log, 60, CS_LOG_ERROR, jobs[0]->queue_id,
		       "store: begin: %s", c->msg);
	fail_all(jobs, n);
	return CS_EINTERNAL;
    }
    if (group_locks(c, jobs, n) < 0)
	goto group_fail;
    for (i = 0; i < n; i++) {
	if (pg_cmd(c, "SAVEPOINT job") < 0)
	    goto group_fail;
	if (store_job(cst, c, jobs[i], now) == 0) {
	    if (pg_cmd(c, "RELEASE SAVEPOINT job") < 0)
		goto group_fail;
	    jobs[i]->rc = CS_OK;
	    ok++;
	    continue;
	}
	if (pg_fatal(c))
	    goto group_fail;
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
    fail_all(jobs, n);
    return CS_EINTERNAL;
}

/* pg_joins_thread - would this message join a thread of user's? (read side) */
int     pg_joins_thread(cs_store *cst, const char *user, const cs_store_job *job)
{
    pg_store *s = cst->be;
    pg_conn *c = &s->r;
    pg_ids  found = {0};
    long long thread;
    char    okey[65];
    int     rc = -1, how = 0;

    pthread_mutex_lock(&s->rlock);
    if (pg_begin(s, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") == 0) {
	if (outside_key(c, user, job, okey) == 0)
	    rc = find_thread(c, user, job, okey, &found, &thread, &how);
	pg_cmd(c, "COMMIT");
    }
    if (rc < 0)
	cs_error(NULL, "store: thread lookup: %s", c->msg);
    pthread_mutex_unlock(&s->rlock);
    free(found.v);
    if (rc < 0)
	return CS_EINTERNAL;
    return how != 0;
}
