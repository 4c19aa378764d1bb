/*
 * NAME
 *	ctl-gen 1
 * SUMMARY
 *	make stores for the crmsyncctl privacy test and benchmark
 * SYNOPSIS
 *	ctl-gen fixture DB
 *	ctl-gen bulk DB USER N
 *	ctl-gen mail DB USER FILE [BCC]
 *	ctl-gen bench DB MESSAGES MAILBOXES
 *	ctl-gen sql DB QUERY
 *	ctl-gen plan DB
 *	ctl-gen time DB USER DEAL THREAD OWNER ITERATIONS
 * DESCRIPTION
 *	fixture records, through the store interface (cs_store_record), the
 *	privacy matrix's mailbox: users olivia (owner), dave (access to deal
 *	d1), pete (access to person p1 only), nora (no access) and adam
 *	(role admin, no access); the directory (person p1 client@acme.example,
 *	open deal d1 with p1); and olivia's threads SECRET-PRIV and SECRET-SL
 *	(from p1, so linked to p1 and d1, T3) and SECRET-SU (from a stranger,
 *	unlinked), each with a text attachment. It prints "priv=tN su=tN
 *	sl=tN" for the shell, the ids found through cs_store_mailbox. DB
 *	is a SQLite path or a postgresql:// URI (fixture and bulk work on
 *	either backend: they use only the store interface).
 *
 *	bulk adds N one-message threads to USER's mailbox the same way (from
 *	concurrent threads, so that the store commits them in groups) and
 *	prints the ids of USER's threads on one line, newest first (the
 *	privacy test's PostgreSQL fixture for its SIGKILL run).
 *
 *	mail records FILE (a message, LF or CRLF lines) as USER's incoming
 *	copy, or with BCC as USER's outgoing Smart BCC message with a K2
 *	person for the address BCC (tests/e2e/privacy.sh, K5).
 *
 *	bench writes MESSAGES messages over MAILBOXES mailboxes directly in
 *	SQLite's SQL, in one transaction (fast: a million rows
 *	in seconds), shaped like the store's own rows: threads of four
 *	messages, 2000 CRM persons and 500 deals with access lists, a third
 *	of the threads shared, links to a person and half to a deal (every
 *	twentieth also to the busy deal d1), eight raw messages shared by all,
 *	then the threads' summaries through the store (cs_store_summaries_fill,
 *	as the writer leaves them). It prints "user=U deal=D thread=tN" to
 *	query. sql prints the first column of a query's first row (SQLite
 *	only; tests/e2e/privacy.sh asks psql on PostgreSQL). plan
 *	prints EXPLAIN QUERY PLAN of the benchmarked queries (copies of the
 *	store's SQL: keep them in step). time calls cs_store_mailbox (USER,
 *	limit 50), cs_store_record_threads (USER, DEAL, limit 50) and
 *	cs_store_thread (OWNER, THREAD) ITERATIONS times each on one open
 *	store and prints "NAME p50_ms p99_ms" lines: the query time inside
 *	the process, without crmsyncctl's start-up.
 */
#include <config.h>

/* System library. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sqlite3.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_sqlite.h"

#define BASE	1704103200		/* Mon, 01 Jan 2024 10:00:00 +0000 */

/* die - print and exit */
static void die(const char *what, const char *detail)
{
    fprintf(stderr, "ctl-gen: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* record_k - one raw message as one copy for user, its envelope recipient, K2 contacts */
static void record_k(cs_store *st, const char *spooldir, const char *raw, const char *user,
		             int dir, const char *rcpt, const cs_contact *k, size_t nk)
{
    cs_msginfo mi = {0};
    cs_spool *sp;
    cs_bodyhash *h = cs_bodyhash_new();
    char    digest[CS_DIGEST_HEX];
    const char *body = strstr(raw, "\r\n\r\n");
    cs_strlist rcpts = {0};
    cs_copy cp = {0};
    cs_record rec = {0};
    int     res = 0;

    if (h == NULL || cs_msginfo_parse(raw, strlen(raw), &mi) < 0)
	die("out of memory", NULL);
    sp = cs_spool_new(spooldir, 1 << 20, 1 << 26);
    if (sp == NULL || cs_spool_write(sp, raw, strlen(raw)) < 0)
	die("cannot spool", spooldir);
    body = body ? body + 4 : raw + strlen(raw);
    cs_bodyhash_update(h, body, strlen(body));
    cs_bodyhash_final(h, digest);
    if (rcpt)
	cs_strlist_add(&rcpts, rcpt);
    cp.user = user;
    cp.direction = dir;
    cp.env_rcpts = &rcpts;
    rec.arrival = mi.has_date ? mi.date + 60 : BASE;
    rec.source = "smtp";
    rec.env_from = mi.from.n ? mi.from.v[0].address : "";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rec.contacts = k;
    rec.ncontacts = nk;
    if (cs_store_record(st, &rec, 10000, &res) != CS_OK || res != CS_COPY_STORED)
	die("record failed", mi.subject);
    cs_strlist_free(&rcpts);
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
}

/* record - one raw message as one copy for user */
static void record(cs_store *st, const char *spooldir, const char *raw, const char *user,
		           int dir)
{
    record_k(st, spooldir, raw, user, dir,
	     dir == CS_DIR_OUT ? "client@acme.example" : "olivia@corp.example", NULL, 0);
}

/* message - a multipart message with a text body and one text attachment */
static char *message(const char *from, const char *to, const char *subject, const char *msgid,
		             const char *irt, time_t date, const char *body, const char *att)
{
    char    d[64], *out = NULL;
    struct tm tm;

    gmtime_r(&date, &tm);
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (asprintf(&out, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
		 "Message-ID: <%s>\r\n%s%s%sMIME-Version: 1.0\r\n"
		 "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		 "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
		 "--b1\r\nContent-Type: text/plain; name=\"%s.txt\"\r\n"
		 "Content-Disposition: attachment; filename=\"%s.txt\"\r\n\r\n%s\r\n--b1--\r\n",
		 from, to, subject, d, msgid, irt ? "In-Reply-To: <" : "", irt ? irt : "",
		 irt ? ">\r\n" : "", body, att, att, att) < 0)
	die("out of memory", NULL);
    return out;
}

/* open_store - create (and migrate) a store at path, users synced */
static cs_store *open_store(const char *path, unsigned flags, const char *const *ids,
			            const int *roles, const char *const *addrs, size_t n)
{
    char    err[512];
    cs_store *st = cs_store_open(path, flags, 10000, err, sizeof(err));
    cs_user *u = calloc(n ? n : 1, sizeof(*u));
    const cs_user **up = calloc(n ? n : 1, sizeof(*up));

    if (st == NULL)
	die("cannot open the store", err);
    if (u == NULL || up == NULL)
	die("out of memory", NULL);
    for (size_t i = 0; i < n; i++) {
	u[i].id = (char *) ids[i];
	u[i].role = roles[i];
	cs_strlist_add(&u[i].addresses, addrs[i]);
	up[i] = &u[i];
    }
    if (cs_store_sync_users2(st, up, n) != CS_OK)
	die("cannot sync users", NULL);
    for (size_t i = 0; i < n; i++)
	cs_strlist_free(&u[i].addresses);
    free(u);
    free(up);
    return st;
}

/* mailbox_ids - all of user's thread objects, newest first (cs_store_mailbox) */
static json_t *mailbox_ids(cs_store *st, const char *user)
{
    json_t *all = json_array(), *page, *t;
    char   *cursor = NULL;
    size_t  i;

    /* The store's own listing, not SQL: the same code on either backend. */
    do {
	page = NULL;
	if (all == NULL || cs_store_mailbox(st, user, NULL, 500, cursor, &page) != CS_OK)
	    die("cannot list the mailbox of", user);
	free(cursor);
	cursor = json_is_string(json_object_get(page, "cursor")) ?
	    strdup(json_string_value(json_object_get(page, "cursor"))) : NULL;
	json_array_foreach(json_object_get(page, "threads"), i, t)
	    if (json_array_append(all, t) < 0)
	    die("out of memory", NULL);
	json_decref(page);
    } while (cursor != NULL);
    return all;
}

/* thread_of - the id ("tN") of user's thread with this subject */
static const char *thread_of(json_t *list, const char *subject)
{
    json_t *t;
    size_t  i;

    json_array_foreach(list, i, t)
	if (json_is_string(json_object_get(t, "subject"))
	    && strcmp(json_string_value(json_object_get(t, "subject")), subject) == 0
	    && json_is_string(json_object_get(t, "id")))
	return json_string_value(json_object_get(t, "id"));
    die("no thread", subject);
    return NULL;
}

/* spool_dir - where spooled messages would go: beside a database file */
static char *spool_dir(const char *path)
{
    const char *tmp = getenv("TMPDIR");
    char   *d, *slash;

    /* A postgresql:// URI names no directory (and these small messages
     * never leave memory anyway). */
    if (strstr(path, "://") != NULL)
	d = strdup(tmp && *tmp ? tmp : "/tmp");
    else if ((d = strdup(path)) != NULL) {
	if ((slash = strrchr(d, '/')) == NULL)
	    strcpy(d, ".");
	else
	    *slash = 0;
    }
    if (d == NULL)
	die("out of memory", NULL);
    return d;
}

/* fixture - the privacy matrix's store */
static int fixture(const char *path)
{
    static const char *const ids[] = {"olivia", "dave", "pete", "nora", "adam"};
    static const int roles[] = {CS_ROLE_USER, CS_ROLE_USER, CS_ROLE_USER, CS_ROLE_USER,
	CS_ROLE_ADMIN};
    static const char *const addrs[] = {"olivia@corp.example", "dave@corp.example",
	"pete@corp.example", "nora@corp.example", "adam@corp.example"};
    char    err[512], *raw, *dir = spool_dir(path);
    json_t *snap, *out = NULL, *list;
    cs_store *st = open_store(path, CS_STORE_CREATE, ids, roles, addrs, 5);

    snap = json_pack("{s:[{s:s,s:s,s:[s],s:[s,s]}],s:[{s:s,s:s,s:s,s:[s],s:[s,s]}]}",
		     "persons", "id", "p1", "name", "Carl Client", "emails",
		     "client@acme.example", "access", "olivia", "pete",
		     "deals", "id", "d1", "title", "Acme renewal", "status", "open",
		     "persons", "p1", "access", "olivia", "dave");
    if (snap == NULL || cs_store_directory_import(st, snap, &out, err, sizeof(err)) != CS_OK)
	die("directory import failed", err);
    json_decref(snap);
    json_decref(out);
    raw = message("Carl Client <client@acme.example>", "olivia@corp.example", "SECRET-PRIV",
		  "priv1@acme.example", NULL, BASE, "BODY-PRIV", "ATTACH-PRIV");
    record(st, dir, raw, "olivia", CS_DIR_IN);
    free(raw);
    raw = message("Stan Stranger <stranger@nowhere.example>", "olivia@corp.example",
		  "SECRET-SU", "su1@nowhere.example", NULL, BASE + 3600, "BODY-SU", "ATTACH-SU");
    record(st, dir, raw, "olivia", CS_DIR_IN);
    free(raw);
    raw = message("Carl Client <client@acme.example>", "olivia@corp.example", "SECRET-SL",
		  "sl1@acme.example", NULL, BASE + 7200, "BODY-SL", "ATTACH-SL");
    record(st, dir, raw, "olivia", CS_DIR_IN);
    free(raw);
    raw = message("Olivia Owner <olivia@corp.example>", "client@acme.example",
		  "Re: SECRET-SL", "sl2@corp.example", "sl1@acme.example", BASE + 9000,
		  "BODY-SL2", "ATTACH-SL2");
    record(st, dir, raw, "olivia", CS_DIR_OUT);
    free(raw);
    list = mailbox_ids(st, "olivia");
    printf("priv=%s su=%s sl=%s\n", thread_of(list, "SECRET-PRIV"),
	   thread_of(list, "SECRET-SU"), thread_of(list, "SECRET-SL"));
    json_decref(list);
    cs_store_close(st);
    free(dir);
    return 0;
}

/* One bulk worker's share: messages k = first, first + step, ... < n. */
typedef struct {
    cs_store *st;
    const char *dir, *user;
    long    first, step, n;
} bulk_job;

/* bulk_worker - record one worker's share of the bulk messages */
static void *bulk_worker(void *arg)
{
    const bulk_job *j = arg;
    char    subj[64], mid[64], *raw;

    for (long k = j->first; k < j->n; k += j->step) {
	snprintf(subj, sizeof(subj), "Bulk %ld", k);
	snprintf(mid, sizeof(mid), "bulk%ld@client.example", k);
	raw = message("client@client.example", "bulk-owner@corp.example", subj, mid, NULL,
		      BASE + k, "bulk body", "bulk");
	record(j->st, j->dir, raw, j->user, CS_DIR_IN);
	free(raw);
    }
    return NULL;
}

#define BULK_WORKERS 16

/* bulk - n one-message threads for user */
static int bulk(const char *path, const char *user, long n)
{
    const char *ids[] = {user};
    const int roles[] = {CS_ROLE_USER};
    const char *addrs[] = {"bulk-owner@corp.example"};
    char   *dir = spool_dir(path);
    cs_store *st = open_store(path, CS_STORE_CREATE | CS_STORE_WRITER, ids, roles, addrs, 1);
    bulk_job jobs[BULK_WORKERS];
    pthread_t tids[BULK_WORKERS];
    json_t *list, *t;
    size_t  i;
    int     w;

    /*
     * Concurrent records, as the milter's, so that the store's writer
     * commits them in groups: one by one, each waiting for its own
     * durable commit, a thousand take some 20 s on PostgreSQL.
     */
    for (w = 0; w < BULK_WORKERS; w++) {
	jobs[w] = (bulk_job) {st, dir, user, w, BULK_WORKERS, n};
	if (pthread_create(&tids[w], NULL, bulk_worker, &jobs[w]) != 0)
	    die("cannot start a thread", NULL);
    }
    for (w = 0; w < BULK_WORKERS; w++)
	pthread_join(tids[w], NULL);
    list = mailbox_ids(st, user);
    json_array_foreach(list, i, t)
	printf("%s%s", i ? " " : "", json_string_value(json_object_get(t, "id")));
    printf("\n");
    json_decref(list);
    cs_store_close(st);
    free(dir);
    return 0;
}

/* exec - run SQL or die */
static void exec(sqlite3 *db, const char *sql)
{
    char   *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
	die(sql, msg);
}

/* prep - prepare or die */
static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
	die(sql, sqlite3_errmsg(db));
    return q;
}

/* step - run a bound statement once and reset it */
static void step(sqlite3 *db, sqlite3_stmt *q)
{
    int     rc = sqlite3_step(q);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
	die("insert", sqlite3_errmsg(db));
    sqlite3_reset(q);
}

#define NPERSONS 2000
#define NDEALS	500
#define NRAW	8
#define PER_THREAD 4

/* bench - a large store written directly in SQL, one transaction */
static int bench(const char *path, long nmsg, int nbox)
{
    char    err[512], buf[512], from[256], to[256], owner[16];
    cs_store *st = cs_store_open(path, CS_STORE_CREATE, 10000, err, sizeof(err));
    sqlite3 *db;
    sqlite3_stmt *qu, *qa, *qp, *qe, *qd, *qdp, *qac, *qr, *qt, *qm, *qi, *ql, *qtl;
    long    nthreads = (nmsg + PER_THREAD - 1) / PER_THREAD, t, m = 0;
    int     i, k;

    if (st == NULL)
	die("cannot create the store", err);
    cs_store_close(st);
    if (sqlite3_open(path, &db) != SQLITE_OK)
	die("cannot open", path);
    exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-200000; PRAGMA foreign_keys=OFF;"
	 " BEGIN");
    qu = prep(db, "INSERT INTO users(id, role) VALUES(?1, 'user')");
    qa = prep(db, "INSERT INTO user_addresses(user, address) VALUES(?1, ?2)");
    for (i = 1; i <= nbox; i++) {
	snprintf(owner, sizeof(owner), "u%03d", i);
	snprintf(buf, sizeof(buf), "u%03d@corp.example", i);
	sqlite3_bind_text(qu, 1, owner, -1, SQLITE_TRANSIENT);
	step(db, qu);
	sqlite3_bind_text(qa, 1, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qa, 2, buf, -1, SQLITE_TRANSIENT);
	step(db, qa);
    }
    qp = prep(db, "INSERT INTO persons(id, name, origin, created) VALUES(?1, ?2, 'crm', 0)");
    qe = prep(db, "INSERT INTO person_emails(email, person) VALUES(?1, ?2)");
    qac = prep(db, "INSERT OR IGNORE INTO access(user, kind, id) VALUES(?1, ?2, ?3)");
    for (i = 1; i <= NPERSONS; i++) {
	char    id[16];

	snprintf(id, sizeof(id), "p%d", i);
	snprintf(buf, sizeof(buf), "Client %d", i);
	sqlite3_bind_text(qp, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qp, 2, buf, -1, SQLITE_TRANSIENT);
	step(db, qp);
	snprintf(buf, sizeof(buf), "c%d@client.example", i);
	sqlite3_bind_text(qe, 1, buf, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qe, 2, id, -1, SQLITE_TRANSIENT);
	step(db, qe);
	/* The person's "account team": five mailboxes. */
	for (k = 0; k < 5; k++) {
	    snprintf(owner, sizeof(owner), "u%03d", (i + k * 7) % nbox + 1);
	    sqlite3_bind_text(qac, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qac, 2, "person", -1, SQLITE_STATIC);
	    sqlite3_bind_text(qac, 3, id, -1, SQLITE_TRANSIENT);
	    step(db, qac);
	}
    }
    qd = prep(db, "INSERT INTO deals(id, title, status) VALUES(?1, ?2, 'open')");
    qdp = prep(db, "INSERT OR IGNORE INTO deal_persons(deal, person) VALUES(?1, ?2)");
    for (i = 1; i <= NDEALS; i++) {
	char    id[16], pid[16];

	snprintf(id, sizeof(id), "d%d", i);
	snprintf(buf, sizeof(buf), "Deal %d", i);
	sqlite3_bind_text(qd, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qd, 2, buf, -1, SQLITE_TRANSIENT);
	step(db, qd);
	for (k = 0; k < 4; k++) {
	    snprintf(pid, sizeof(pid), "p%d", (i - 1) * 4 + k + 1);
	    sqlite3_bind_text(qdp, 1, id, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qdp, 2, pid, -1, SQLITE_TRANSIENT);
	    step(db, qdp);
	}
	for (k = 0; k < 10; k++) {
	    snprintf(owner, sizeof(owner), "u%03d", (i + k * 3) % nbox + 1);
	    sqlite3_bind_text(qac, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qac, 2, "deal", -1, SQLITE_STATIC);
	    sqlite3_bind_text(qac, 3, id, -1, SQLITE_TRANSIENT);
	    step(db, qac);
	}
    }
    qr = prep(db, "INSERT INTO raw(id, sha256, size, data) VALUES(?1, ?2, ?3, ?4)");
    for (i = 1; i <= NRAW; i++) {
	char   *raw = message("Client <c1@client.example>", "u001@corp.example",
			      "Bench message", "bench@client.example", NULL, BASE,
			      "Hello, this is the benchmark's body text.", "bench");

	snprintf(buf, sizeof(buf), "%064d", i);
	sqlite3_bind_int(qr, 1, i);
	sqlite3_bind_text(qr, 2, buf, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(qr, 3, (sqlite3_int64) strlen(raw));
	sqlite3_bind_blob(qr, 4, raw, (int) strlen(raw), SQLITE_TRANSIENT);
	step(db, qr);
	free(raw);
    }
    qt = prep(db, "INSERT INTO threads(owner, id, subject, subject_norm, visibility, first_date,"
	      " last_date, message_count, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6)");
    qm = prep(db, "INSERT INTO messages(owner, id, thread, message_id, dedup_key, source,"
	      " arrival, date, sort_date, subject, subject_norm, outside_key, from_json, to_json,"
	      " cc_json, reply_to_json, refs_json, envelope, direction, raw) VALUES(?1, ?2, ?3,"
	      " ?4, ?5, 'smtp', ?6, ?6, ?6, ?7, ?8, ?9, ?10, ?11, '[]', '[]', '[]',"
	      " '{\"from\":\"\",\"rcpts\":[]}', 'in', ?12)");
    qi = prep(db, "INSERT INTO thread_msgids(owner, msgid, thread) VALUES(?1, ?2, ?3)");
    ql = prep(db, "INSERT INTO message_labels(owner, message, label) VALUES(?1, ?2, 'INBOX')");
    qtl = prep(db, "INSERT OR IGNORE INTO thread_links(owner, thread, kind, id) VALUES(?1, ?2,"
	       " ?3, ?4)");
    for (t = 1; t <= nthreads; t++) {
	int     box = (int) ((t - 1) % nbox) + 1;
	long    person = (t * 7919) % NPERSONS + 1, n = 0;
	long    deal = (person - 1) / 4 + 1;
	time_t  first = BASE + t * 60;
	char    pid[16], did[16], subj[64];

	snprintf(owner, sizeof(owner), "u%03d", box);
	snprintf(pid, sizeof(pid), "p%ld", person);
	snprintf(did, sizeof(did), "d%ld", deal);
	snprintf(subj, sizeof(subj), "Bench thread %ld", t);
	snprintf(from, sizeof(from), "[{\"name\":\"Client %ld\",\"address\":\"c%ld@client.example\"}]",
		 person, person);
	snprintf(to, sizeof(to), "[{\"name\":null,\"address\":\"%s@corp.example\"}]", owner);
	for (k = 0; k < PER_THREAD && m < nmsg; k++, m++, n++) {
	    snprintf(buf, sizeof(buf), "m%ld@client.example", m + 1);
	    sqlite3_bind_text(qm, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int64(qm, 2, m + 1);
	    sqlite3_bind_int64(qm, 3, t);
	    sqlite3_bind_text(qm, 4, buf, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qm, 5, buf, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int64(qm, 6, (sqlite3_int64) (first + k * 3600));
	    sqlite3_bind_text(qm, 7, subj, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qm, 8, subj, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qm, 9, pid, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qm, 10, k % 2 ? to : from, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qm, 11, k % 2 ? from : to, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int(qm, 12, (int) (m % NRAW) + 1);
	    step(db, qm);
	    sqlite3_bind_text(qi, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_text(qi, 2, buf, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int64(qi, 3, t);
	    step(db, qi);
	    if (m % 2 == 0) {
		sqlite3_bind_text(ql, 1, owner, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ql, 2, m + 1);
		step(db, ql);
	    }
	}
	sqlite3_bind_text(qt, 1, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(qt, 2, t);
	sqlite3_bind_text(qt, 3, subj, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qt, 4, subj, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(qt, 5, t % 3 == 0 ? "shared" : "private", -1, SQLITE_STATIC);
	sqlite3_bind_int64(qt, 6, (sqlite3_int64) first);
	sqlite3_bind_int64(qt, 7, (sqlite3_int64) (first + (n - 1) * 3600));
	sqlite3_bind_int64(qt, 8, n);
	step(db, qt);
	sqlite3_bind_text(qtl, 1, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(qtl, 2, t);
	sqlite3_bind_text(qtl, 3, "person", -1, SQLITE_STATIC);
	sqlite3_bind_text(qtl, 4, pid, -1, SQLITE_TRANSIENT);
	step(db, qtl);
	/* Every twentieth thread is also on the busy deal d1. */
	if (t % 20 == 0 && deal != 1) {
	    sqlite3_bind_text(qtl, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int64(qtl, 2, t);
	    sqlite3_bind_text(qtl, 3, "deal", -1, SQLITE_STATIC);
	    sqlite3_bind_text(qtl, 4, "d1", -1, SQLITE_STATIC);
	    step(db, qtl);
	}
	if (t % 2 == 0) {
	    sqlite3_bind_text(qtl, 1, owner, -1, SQLITE_TRANSIENT);
	    sqlite3_bind_int64(qtl, 2, t);
	    sqlite3_bind_text(qtl, 3, "deal", -1, SQLITE_STATIC);
	    sqlite3_bind_text(qtl, 4, did, -1, SQLITE_TRANSIENT);
	    step(db, qtl);
	}
    }
    snprintf(buf, sizeof(buf), "UPDATE counters SET value=%ld WHERE name='thread';"
	     "UPDATE counters SET value=%ld WHERE name='message'", nthreads, m);
    exec(db, buf);
    sqlite3_finalize(qu);
    sqlite3_finalize(qa);
    sqlite3_finalize(qp);
    sqlite3_finalize(qe);
    sqlite3_finalize(qac);
    sqlite3_finalize(qd);
    sqlite3_finalize(qdp);
    sqlite3_finalize(qr);
    sqlite3_finalize(qt);
    sqlite3_finalize(qm);
    sqlite3_finalize(qi);
    sqlite3_finalize(ql);
    sqlite3_finalize(qtl);
    exec(db, "COMMIT; ANALYZE");
    sqlite3_close(db);
    /* The threads' summaries, as the writer would have left them. */
    if ((st = cs_store_open(path, 0, 10000, err, sizeof(err))) == NULL)
	die("cannot open the store", err);
    if (cs_store_summaries_fill(st, INT_MAX) < 0)
	die("cannot write the thread summaries", path);
    cs_store_close(st);
    /* u002 may access d1 (see the access loop); u001 owns thread 1. */
    printf("user=u002 deal=d1 thread=t1 thread_owner=u001\n");
    return 0;
}

/* sql - the first column of a query's first row */
static int sql(const char *path, const char *query)
{
    sqlite3 *db;
    sqlite3_stmt *q;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	die("cannot open", path);
    sqlite3_busy_timeout(db, 10000);
    q = prep(db, query);
    if (sqlite3_step(q) == SQLITE_ROW)
	printf("%s\n", sqlite3_column_text(q, 0) ? (const char *) sqlite3_column_text(q, 0) : "");
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

/* plan - EXPLAIN QUERY PLAN of the benchmarked queries (the store's own SQL) */
static int plan(const char *path)
{
    static const struct {
	const char *name, *sql;
    }       qs[] = {
	{"mailbox (cs_store_sqlite.c SQL_MB_FIRST)", sq_sql_mailbox_first},
	{"deal page (cs_store_sqlite_ctl.c SQL_RT_FIRST)", sq_sql_record_page_first},
	{"thread messages (cs_store_sqlite_ctl.c SQL_TMSGS)", sq_sql_thread_messages},
    };
    sqlite3 *db;
    sqlite3_stmt *q;
    char    buf[4096];

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	die("cannot open", path);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
	printf("%s:\n", qs[i].name);
	snprintf(buf, sizeof(buf), "EXPLAIN QUERY PLAN %s", qs[i].sql);
	q = prep(db, buf);
	while (sqlite3_step(q) == SQLITE_ROW)
	    printf("  %s\n", (const char *) sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return 0;
}

/* dbl_cmp - qsort comparator for doubles */
static int dbl_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* ms_now - monotonic milliseconds */
static double ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* report - p50 and p99 of n samples */
static void report(const char *name, double *v, int n)
{
    qsort(v, (size_t) n, sizeof(*v), dbl_cmp);
    printf("%s %.3f %.3f\n", name, v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
}

/* timing - in-process query times of the three benchmarked reads */
static int timing(const char *path, const char *user, const char *deal, const char *thread,
		          const char *owner, int n)
{
    char    err[512];
    cs_store *st = cs_store_open(path, CS_STORE_READONLY, 10000, err, sizeof(err));
    double *v = calloc((size_t) (n > 0 ? n : 1), sizeof(*v)), t0;
    json_t *out;
    int     i, k;

    if (st == NULL || v == NULL || n <= 0)
	die("cannot open the store", err);
    for (k = 0; k < 3; k++) {
	/* Five warm-up calls: the first ones pay for the page cache. */
	for (i = -5; i < n; i++) {
	    int     rc;

	    out = NULL;
	    t0 = ms_now();
	    rc = k == 0 ? cs_store_mailbox(st, user, NULL, 50, NULL, &out)
		: k == 1 ? cs_store_record_threads(st, user, "deal", deal, 50, NULL, &out)
		: cs_store_thread(st, owner, thread, &out);
	    if (i >= 0)
		v[i] = ms_now() - t0;
	    if (rc != CS_OK)
		die("query failed", k == 0 ? "mailbox" : k == 1 ? "deal" : "thread");
	    json_decref(out);
	}
	report(k == 0 ? "mailbox" : k == 1 ? "deal" : "thread", v, n);
    }
    free(v);
    cs_store_close(st);
    return 0;
}

/*
 * mail - FILE (LF or CRLF lines) recorded as USER's copy of an incoming
 * message, or, with BCC, as USER's Smart BCC message: outgoing, with a
 * K2 person for BCC (the address, no display name) owned by USER
 */
static int mail(const char *path, const char *user, const char *file, const char *bcc)
{
    FILE   *f = fopen(file, "r");
    cs_buf  raw = {0};
    cs_contact k = {user, bcc, NULL};
    char    line[4096], *dir = spool_dir(path);
    cs_store *st;

    if (f == NULL)
	die("cannot read", file);
    while (fgets(line, sizeof(line), f) != NULL) {
	size_t  n = strcspn(line, "\r\n");

	if (cs_buf_append(&raw, line, n) < 0 || cs_buf_append(&raw, "\r\n", 2) < 0)
	    die("out of memory", NULL);
    }
    fclose(f);
    if (raw.data == NULL)
	die("empty message", file);
    if ((st = cs_store_open(path, 0, 10000, line, sizeof(line))) == NULL)
	die("cannot open the store", line);
    /* The envelope this copy keeps (C4): the Smart BCC recipient, or none. */
    record_k(st, dir, raw.data, user, bcc ? CS_DIR_OUT : CS_DIR_IN, bcc, bcc ? &k : NULL,
	     bcc ? 1 : 0);
    cs_store_close(st);
    cs_buf_free(&raw);
    free(dir);
    return 0;
}

/* main - dispatch on the mode word */
int     main(int argc, char **argv)
{
    cs_message_init();
    if (argc == 3 && strcmp(argv[1], "fixture") == 0)
	return fixture(argv[2]);
    if (argc == 5 && strcmp(argv[1], "bulk") == 0)
	return bulk(argv[2], argv[3], atol(argv[4]));
    if (argc == 5 && strcmp(argv[1], "bench") == 0)
	return bench(argv[2], atol(argv[3]), atoi(argv[4]));
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "mail") == 0)
	return mail(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    if (argc == 4 && strcmp(argv[1], "sql") == 0)
	return sql(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "plan") == 0)
	return plan(argv[2]);
    if (argc == 8 && strcmp(argv[1], "time") == 0)
	return timing(argv[2], argv[3], argv[4], argv[5], argv[6], atoi(argv[7]));
    fprintf(stderr, "usage: ctl-gen fixture DB | bulk DB USER N | mail DB USER FILE [BCC]"
	    " | bench DB MESSAGES MAILBOXES"
	    " | sql DB QUERY | plan DB | time DB USER DEAL THREAD OWNER N\n");
    return 1;
}
