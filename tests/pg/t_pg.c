/*
 * NAME
 *	t_pg 1
 * SUMMARY
 *	fleet tests of the PostgreSQL store (SPEC F1 with T1, T2, K2, X3, C1)
 * DESCRIPTION
 *	Run by tests/pg/pg.sh with CS_TEST_DATABASE naming a fresh, empty
 *	database and T_PG_CLUSTER="DIR PORT" the private cluster (so the
 *	test can stop and start it). Two cs_store handles, each with its own
 *	writer thread and connections, stand for two hosts of a fleet;
 *	records race through both from several threads at once. Rows are
 *	checked with a plain libpq connection.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "tap.h"

#define BASE	1704103200

/* From cs_store_pg.c: the URI as logs show it. */
void    pg_mask_uri(const char *uri, char *out, size_t outlen);

static const char *uri;
static char tmpdir[256];

/* q_int - one integer from a query on a separate connection */
static long long q_int(const char *fmt, ...)
{
    char    sql[1024];
    va_list ap;
    long long v = -999;
    PGconn *pc;
    PGresult *res = NULL;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    pc = PQconnectdb(uri);
    if (PQstatus(pc) == CONNECTION_OK)
	res = PQexec(pc, sql);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
	diag("q_int %s: %s", sql, PQerrorMessage(pc));
    PQclear(res);
    PQfinish(pc);
    return v;
}

/* mk - a message; irt and refs may be NULL */
static char *mk(const char *from, const char *to, const char *cc, const char *subject,
		        const char *msgid, const char *irt, const char *refs, time_t date,
		        const char *body)
{
    char    d[64], *out = NULL;
    struct tm tm;

    gmtime_r(&date, &tm);
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (asprintf(&out, "From: %s\r\nTo: %s\r\n%s%s%sSubject: %s\r\nDate: %s\r\n"
		 "Message-ID: <%s>\r\n%s%s%s%s%s%s\r\n%s\r\n", from, to,
		 cc ? "Cc: " : "", cc ? cc : "", cc ? "\r\n" : "", subject, d, msgid,
		 irt ? "In-Reply-To: <" : "", irt ? irt : "", irt ? ">\r\n" : "",
		 refs ? "References: " : "", refs ? refs : "", refs ? "\r\n" : "", body) < 0)
	abort();
    return out;
}

/* record - raw as a copy for user, with optional Smart BCC contacts */
static int record(cs_store *st, const char *raw, const char *user,
		          const cs_contact *k, size_t nk, int *result)
{
    cs_msginfo mi = {0};
    cs_spool *sp = cs_spool_new(tmpdir, 1 << 20, 1 << 26);
    cs_bodyhash *h = cs_bodyhash_new();
    char    digest[CS_DIGEST_HEX];
    const char *body = strstr(raw, "\r\n\r\n");
    cs_copy cp = {0};
    cs_record rec = {0};
    int     res[1] = {0}, rc;

    cs_msginfo_parse(raw, strlen(raw), &mi);
    cs_spool_write(sp, raw, strlen(raw));
    body = body ? body + 4 : raw + strlen(raw);
    cs_bodyhash_update(h, body, strlen(body));
    cs_bodyhash_final(h, digest);
    cp.user = user;
    cp.direction = k ? CS_DIR_OUT : CS_DIR_IN;
    rec.arrival = mi.date + 60;
    rec.source = "smtp";
    rec.env_from = "someone@outside.example";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rec.contacts = k;
    rec.ncontacts = nk;
    rc = cs_store_record(st, &rec, 5000, res);
    if (result)
	*result = res[0];
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
    return rc;
}

/* open_host - one "host": a store with its writer, users known */
static cs_store *open_host(void)
{
    char    err[512];
    cs_store *st = cs_store_open(uri, CS_STORE_WRITER | CS_STORE_CREATE, 3000, err, sizeof(err));
    cs_user a = {0}, b = {0};
    const cs_user *u[2] = {&a, &b};

    if (st == NULL) {
	diag("open: %s", err);
	return NULL;
    }
    a.id = "alice";
    cs_strlist_add(&a.addresses, "alice@corp.example");
    b.id = "bob";
    cs_strlist_add(&b.addresses, "bob@corp.example");
    if (cs_store_sync_users2(st, u, 2) != CS_OK)
	diag("sync users failed");
    cs_strlist_free(&a.addresses);
    cs_strlist_free(&b.addresses);
    return st;
}

/* Migrations: several hosts starting at once on an empty database. */
static void *open_close(void *arg)
{
    char    err[512];
    cs_store *st = cs_store_open(uri, CS_STORE_CREATE, 5000, err, sizeof(err));

    *(int *) arg = st != NULL;
    if (st == NULL)
	diag("open: %s", err);
    cs_store_close(st);
    return NULL;
}

/* test_migrate - four hosts start together: one migration, all open */
static void test_migrate(void)
{
    pthread_t t[4];
    int     okv[4] = {0}, all = 1;

    for (int i = 0; i < 4; i++)
	pthread_create(&t[i], NULL, open_close, &okv[i]);
    for (int i = 0; i < 4; i++) {
	pthread_join(t[i], NULL);
	all &= okv[i];
    }
    ok(all, "F1: four hosts open a new database at once");
    is_int(q_int("SELECT count(*) - count(DISTINCT version) FROM schema_version"), 0,
	   "F1: each migration step run once");
    is_int(q_int("SELECT max(version) - count(*) FROM schema_version"), 0,
	   "F1: every step from 1 to the latest, none skipped");
    is_int(q_int("SELECT count(*) FROM pg_indexes WHERE indexname='events_pending'"), 0,
	   "step 6: no events_pending index (no statement uses it)");
    is_int(q_int("SELECT count(*) FROM pg_indexes WHERE tablename='events'"), 3,
	   "step 6: an event is in its key and the sender's two indexes");
    is_int(q_int("SELECT count(*) FROM pg_indexes WHERE indexname IN ('events_state_id',"
		 " 'events_done')"), 2, "step 6: the sender's indexes stay");
}

/* q_exec - run SQL on a separate connection (test setup); 0 or -1 */
static int q_exec(const char *sql)
{
    PGconn *pc = PQconnectdb(uri);
    PGresult *res = PQstatus(pc) == CONNECTION_OK ? PQexec(pc, sql) : NULL;
    int     rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;

    if (rc < 0)
	diag("q_exec: %s", PQerrorMessage(pc));
    PQclear(res);
    PQfinish(pc);
    return rc;
}

/*
 * test_migrate_k5 - a schema 4 store (an address unique across persons;
 * contact create used to give other users access to a local person)
 * migrates to K5's: person_emails knows each local person's owner, and
 * access crmsync gave to anyone but that owner is taken back.
 */
static void test_migrate_k5(void)
{
    char    err[512];
    cs_store *st;

    /* Back to schema 4: the later steps' triggers, functions and column go too. */
    ok(q_exec("DROP TRIGGER messages_summary_upd ON messages;"
	      "DROP TRIGGER messages_summary_del ON messages;"
	      "DROP TRIGGER message_labels_summary_upd ON message_labels;"
	      "DROP TRIGGER message_labels_summary_del ON message_labels;"
	      "DROP FUNCTION crmsync_summary_msg(); DROP FUNCTION crmsync_summary_label();"
	      "ALTER TABLE threads DROP COLUMN summary;"
	      "DELETE FROM schema_version WHERE version=6;"
	      "DROP INDEX person_emails_owner;"
	      "ALTER TABLE person_emails DROP CONSTRAINT person_emails_pkey;"
	      "ALTER TABLE person_emails DROP COLUMN owner;"
	      "ALTER TABLE person_emails ADD PRIMARY KEY(email);"
	      "DELETE FROM schema_version WHERE version>=5;"
	      "INSERT INTO users(id) VALUES('alice'),('bob') ON CONFLICT DO NOTHING;"
	      "INSERT INTO persons(id, name, origin, owner, created) VALUES"
	      "  ('hand-1','Zed','hand','alice',0),('p1','Carl','crm',NULL,0);"
	      "INSERT INTO person_emails(email, person) VALUES('zed@x.example','hand-1'),"
	      "  ('c@x.example','p1');"
	      "INSERT INTO access(\"user\", kind, id) VALUES('alice','person','hand-1'),"
	      "  ('bob','person','hand-1'),('bob','person','p1');"
	      "INSERT INTO threads(owner, id, first_date, last_date, created)"
	      "  VALUES('bob', 1, 0, 0, 0);"
	      "INSERT INTO thread_links(owner, thread, kind, id) VALUES('bob', 1, 'person',"
	      "  'hand-1'), ('bob', 1, 'person', 'p1');") == 0,
       "K5 migration: a schema 4 store with a grant");
    st = cs_store_open(uri, CS_STORE_CREATE, 5000, err, sizeof(err));
    if (st == NULL)
	diag("open: %s", err);
    ok(st != NULL, "K5 migration: it opens");
    cs_store_close(st);
    is_int(q_int("SELECT max(version) FROM schema_version"), 8,
	   "K5 migration: then steps 6 to 8, schema 8 (the latest)");
    is_int(q_int("SELECT count(*) FROM person_emails WHERE person='hand-1' AND owner='alice'"),
	   1, "K5 migration: the local person's address knows its owner");
    is_int(q_int("SELECT count(*) FROM person_emails WHERE person='p1' AND owner IS NULL"), 1,
	   "K5 migration: the CRM person's has none");
    is_int(q_int("SELECT count(*) FROM access WHERE id='hand-1'"), 1,
	   "K5 migration: bob's access to alice's person is taken back");
    is_int(q_int("SELECT count(*) FROM access WHERE \"user\"='bob' AND id='p1'"), 1,
	   "K5 migration: the directory's grants stay");
    is_int(q_int("SELECT count(*) FROM thread_links WHERE owner='bob' AND id='hand-1'"), 0,
	   "K5 migration: and bob's link to alice's person");
    is_int(q_int("SELECT count(*) FROM thread_links WHERE owner='bob' AND id='p1'"), 1,
	   "K5 migration: his link to the CRM's person stays");
    is_int(q_int("SELECT count(*) FROM pg_indexes WHERE indexname='person_emails_owner'"
		 " AND indexdef LIKE 'CREATE UNIQUE%%(email, owner)'"), 1,
	   "K5 migration: (address, owner) unique");
    q_exec("DELETE FROM thread_links; DELETE FROM threads; DELETE FROM access;"
	   " DELETE FROM persons; DELETE FROM users;");
}

/* A message to record from a thread. */
typedef struct job {
    cs_store *st;
    char   *raw;
    const char *user;
    const cs_contact *k;
    size_t  nk;
    int     rc, result;
} job;

/* run_job - record one job (thread body) */
static void *run_job(void *arg)
{
    job    *j = arg;

    j->rc = record(j->st, j->raw, j->user, j->k, j->nk, &j->result);
    return NULL;
}

/* race - record every job at once, each from its own thread */
static void race(job *jobs, size_t n)
{
    pthread_t *t = calloc(n, sizeof(*t));

    for (size_t i = 0; i < n; i++)
	pthread_create(&t[i], NULL, run_job, &jobs[i]);
    for (size_t i = 0; i < n; i++)
	pthread_join(t[i], NULL);
    free(t);
}

/* test_threads - T1 across hosts: replies before parents, concurrent merges */
static void test_threads(cs_store *a, cs_store *b)
{
    enum { N = 12 };
    job     jobs[N];
    char    id[N][32], refs[512];
    int     okall = 1;

    /*
     * A conversation m0 <- m1 <- ... <- m11, each naming only its parent
     * (no References chain), recorded all at once through both hosts in
     * a scrambled order: every message arriving before its parent starts
     * a thread that its parent later merges. Ending with one thread means
     * every merge saw the other host's commits.
     */
    for (int i = 0; i < N; i++)
	snprintf(id[i], sizeof(id[i]), "conv%d@x.example", i);
    for (int i = 0; i < N; i++) {
	int     k = (i * 5) % N;		/* scrambled */

	jobs[i].st = i % 2 ? b : a;
	jobs[i].user = "alice";
	jobs[i].k = NULL;
	jobs[i].nk = 0;
	jobs[i].raw = mk("client@acme.example", "alice@corp.example", NULL,
			 k ? "Re: Fleet plan" : "Fleet plan", id[k], k ? id[k - 1] : NULL, NULL,
			 BASE + k * 60, k % 3 ? "reply" : "first");
    }
    race(jobs, N);
    for (int i = 0; i < N; i++) {
	okall &= jobs[i].rc == CS_OK && jobs[i].result == CS_COPY_STORED;
	free(jobs[i].raw);
    }
    ok(okall, "F1: twelve messages stored through two hosts at once");
    is_int(q_int("SELECT count(*) FROM threads WHERE owner='alice' AND subject_norm='fleet plan'"),
	   1, "F1 T1: one thread however the conversation was spread");
    is_int(q_int("SELECT message_count FROM threads WHERE owner='alice' AND subject_norm='fleet plan'"),
	   N, "F1 T1: the thread counts every message");
    is_int(q_int("SELECT count(DISTINCT thread) FROM messages WHERE owner='alice'"
		 " AND message_id LIKE 'conv%%'"), 1, "F1 T1: every message in it");
    is_int(q_int("SELECT count(*) FROM events WHERE type='thread.created' AND owner='alice'"),
	   q_int("SELECT count(*) FROM events WHERE type='thread.merged' AND owner='alice'") + 1,
	   "X3: every thread made was merged but one");

    /* A reply naming two threads from two hosts at once: one merge each way. */
    {
	char   *p1 = mk("x@acme.example", "alice@corp.example", NULL, "Left", "left@x", NULL,
			NULL, BASE + 9000, "l");
	char   *p2 = mk("y@acme.example", "alice@corp.example", NULL, "Right", "right@x", NULL,
			NULL, BASE + 9001, "r");

	record(a, p1, "alice", NULL, 0, NULL);
	record(b, p2, "alice", NULL, 0, NULL);
	free(p1);
	free(p2);
	snprintf(refs, sizeof(refs), "<left@x> <right@x>");
	jobs[0].st = a;
	jobs[0].raw = mk("x@acme.example", "alice@corp.example", NULL, "Both", "both1@x", NULL,
			 refs, BASE + 9100, "b1");
	snprintf(refs, sizeof(refs), "<right@x> <left@x>");
	jobs[1].st = b;
	jobs[1].raw = mk("y@acme.example", "alice@corp.example", NULL, "Both", "both2@x", NULL,
			 refs, BASE + 9101, "b2");
	jobs[0].user = jobs[1].user = "alice";
	jobs[0].k = jobs[1].k = NULL;
	jobs[0].nk = jobs[1].nk = 0;
	race(jobs, 2);
	ok(jobs[0].rc == CS_OK && jobs[1].rc == CS_OK, "F1: concurrent merging replies stored");
	is_int(q_int("SELECT count(DISTINCT thread) FROM messages WHERE owner='alice' AND"
		     " message_id IN ('left@x','right@x','both1@x','both2@x')"), 1,
	       "F1 T1: concurrent merges from two hosts end in one thread");
	is_int(q_int("SELECT count(*) FROM thread_msgids WHERE owner='alice' AND msgid IN"
		     " ('left@x','right@x') AND thread=(SELECT min(thread) FROM messages"
		     " WHERE owner='alice' AND message_id='left@x')"), 2,
	       "F1 T1: threading ids point at the surviving thread");
	free(jobs[0].raw);
	free(jobs[1].raw);
    }
}

/*
 * test_alone - a record the database refuses fails alone: its group is
 * written without savepoints, rolled back and written again with one per
 * record (cs_store_writer.c); the others are stored once, events once
 */
static void test_alone(cs_store *a)
{
    enum { N = 5, BAD = 2 };
    job     jobs[N];
    pthread_t t[N];
    PGconn *lock = PQconnectdb(uri);
    long long events0 = q_int("SELECT count(*) FROM events WHERE type='message.added'");
    char    subject[32], msgid[64];
    int     i, stored = 0;

    q_exec("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	   " IF NEW.subject = 'POISON' THEN RAISE EXCEPTION 'poisoned'; END IF;"
	   " RETURN NEW; END $$");
    q_exec("CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW"
	   " EXECUTE FUNCTION poison()");
    /* The first record's group waits for the lock; the others queue into one group. */
    PQclear(PQexec(lock, "BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE"));
    for (i = 0; i < N; i++) {
	snprintf(subject, sizeof(subject), i == BAD ? "POISON" : "Alone %d", i);
	snprintf(msgid, sizeof(msgid), "alone-%d@acme.example", i);
	jobs[i] = (job) {.st = a, .user = "alice"};
	jobs[i].raw = mk("client@acme.example", "alice@corp.example", NULL, subject, msgid,
			 NULL, NULL, BASE + 900 + i, "body");
	pthread_create(&t[i], NULL, run_job, &jobs[i]);
	usleep(100 * 1000);
    }
    usleep(200 * 1000);
    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    for (i = 0; i < N; i++) {
	pthread_join(t[i], NULL);
	if (i != BAD)
	    stored += jobs[i].rc == CS_OK && jobs[i].result == CS_COPY_STORED;
	free(jobs[i].raw);
    }
    is_int(stored, N - 1, "alone: every good record stored, those in the bad one's group too");
    is_int(jobs[BAD].rc, CS_EINTERNAL, "alone: the refused record fails");
    is_int(q_int("SELECT count(*) FROM messages WHERE message_id LIKE 'alone-%%'"), N - 1,
	   "alone: one row each, none twice");
    is_int(q_int("SELECT count(*) FROM threads WHERE subject='POISON'"), 0,
	   "alone: no thread left by the bad one");
    is_int(q_int("SELECT count(*) FROM events WHERE type='message.added'") - events0, N - 1,
	   "alone: one message.added per stored record");
    q_exec("DROP TRIGGER poison ON messages; DROP FUNCTION poison()");
}

/* test_dedup - T2 across hosts: the same message relayed through both */
static void test_dedup(cs_store *a, cs_store *b)
{
    job     jobs[6];
    int     stored = 0, dup = 0;

    for (int i = 0; i < 6; i++) {
	jobs[i].st = i % 2 ? b : a;
	jobs[i].user = "bob";
	jobs[i].k = NULL;
	jobs[i].nk = 0;
	jobs[i].raw = mk("client@acme.example", "bob@corp.example", NULL, "Relayed twice",
			 "relay@acme.example", NULL, NULL, BASE + 500, "the same body");
    }
    race(jobs, 6);
    for (int i = 0; i < 6; i++) {
	stored += jobs[i].rc == CS_OK && jobs[i].result == CS_COPY_STORED;
	dup += jobs[i].rc == CS_OK && jobs[i].result == CS_COPY_DUPLICATE;
	free(jobs[i].raw);
    }
    is_int(stored, 1, "F1 T2: stored once through six concurrent deliveries on two hosts");
    is_int(dup, 5, "F1 T2: the other five are duplicates");
    is_int(q_int("SELECT count(*) FROM messages WHERE owner='bob' AND"
		 " message_id='relay@acme.example'"), 1, "F1 T2: one row");
    is_int(q_int("SELECT count(*) FROM events WHERE type='message.added' AND owner='bob'"),
	   1, "X3: one message.added");
}

/*
 * test_contacts - K2, K5 across hosts: the same new recipient, one person
 * per sender (unique by address and owner), however many hosts race
 */
static void test_contacts(cs_store *a, cs_store *b)
{
    job     jobs[4];
    cs_contact k1 = {"alice", "New.Client@prospect.example", "New Client"};
    cs_contact k2 = {"bob", "new.client@prospect.example", NULL};
    int     okall = 1;

    for (int i = 0; i < 4; i++) {
	char    mid[64];

	snprintf(mid, sizeof(mid), "bcc%d@corp.example", i);
	jobs[i].st = i % 2 ? b : a;
	jobs[i].user = i < 2 ? "alice" : "bob";
	jobs[i].k = i < 2 ? &k1 : &k2;
	jobs[i].nk = 1;
	jobs[i].raw = mk(i < 2 ? "alice@corp.example" : "bob@corp.example",
			 "New Client <new.client@prospect.example>", NULL, "Offer", mid, NULL,
			 NULL, BASE + 700 + i, "offer");
    }
    race(jobs, 4);
    for (int i = 0; i < 4; i++) {
	okall &= jobs[i].rc == CS_OK;
	free(jobs[i].raw);
    }
    ok(okall, "F1 K2: four Smart BCC messages through two hosts at once");
    is_int(q_int("SELECT count(*) FROM person_emails WHERE email='new.client@prospect.example'"),
	   2, "F1 K5: one address row per sender");
    is_int(q_int("SELECT count(DISTINCT owner) FROM persons WHERE origin='bcc'"), 2,
	   "F1 K5: alice and bob each own one person");
    is_int(q_int("SELECT count(*) FROM persons WHERE origin='bcc'"), 2, "F1 K5: two in all");
    is_int(q_int("SELECT count(*) FROM access a JOIN persons p ON p.id=a.id AND a.kind='person'"
		 " WHERE p.origin='bcc' AND a.\"user\"<>p.owner"), 0,
	   "K5: neither may access the other's");
    is_int(q_int("SELECT count(*) FROM thread_links l JOIN persons p ON p.id=l.id"
		 " WHERE l.kind='person' AND p.origin='bcc' AND l.owner<>p.owner"), 0,
	   "T3: each sender's threads link to their own person only");
    is_int(q_int("SELECT count(*) FROM events WHERE type='person.created'"), 2,
	   "X3: one person.created per sender");
}

/* Two senders claiming at once (X3 order per thread across hosts). */
typedef struct claimer {
    cs_outbox *ob;
    int     n;				/* events claimed */
    long long seqs[64];
} claimer;

/* test_outbox - two senders never hold one thread's events at once */
static void test_outbox(cs_store *a, cs_store *b)
{
    char    err[256];
    cs_outbox *o1 = cs_store_outbox_open(a, "hostA:1:x", err, sizeof(err));
    cs_outbox *o2 = cs_store_outbox_open(b, "hostB:2:y", err, sizeof(err));
    cs_event *e1 = NULL, *e2 = NULL, *e3 = NULL;
    size_t  n1 = 0, n2 = 0, n3 = 0, i, j;
    long long pending = q_int("SELECT count(*) FROM events WHERE state='pending'");
    long long threads = q_int("SELECT count(DISTINCT thread) FROM events WHERE state='pending'"
			      " AND thread IS NOT NULL");
    int     overlap = 0, order = 1;
    time_t  now = time(NULL);

    ok(o1 && o2, "X3: two senders open");
    if (!o1 || !o2)
	return;
    ok(pending > 10, "X3: events waiting (%lld in %lld threads)", pending, threads);
    /* A takes a few, B claims beside it. */
    is_int(cs_store_outbox_claim(o1, now, 8, 1 << 30, &e1, &n1), CS_OK, "X3: A claims");
    is_int(cs_store_outbox_claim(o2, now, 1000, 1 << 30, &e2, &n2), CS_OK, "X3: B claims");
    ok(n1 > 0, "X3: A got %zu events", n1);
    ok(n2 > 0, "X3: B got %zu events beside A", n2);
    ok(n1 + n2 <= (size_t) pending, "X3: %zu + %zu events, none twice", n1, n2);
    for (i = 0; i < n1; i++)
	for (j = 0; j < n2; j++)
	    if (e1[i].seq == e2[j].seq)
		overlap++;
    is_int(overlap, 0, "X3: no event claimed by both senders");
    /* Threads: no thread has events on both sides. */
    {
	PGconn *pc = PQconnectdb(uri);
	int     both = 0;

	for (i = 0; i < n1; i++)
	    for (j = 0; j < n2; j++) {
		char    sql[256];
		PGresult *r;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM events x, events y WHERE"
			 " x.id=%lld AND y.id=%lld AND (x.thread=y.thread OR x.thread=y.thread2"
			 " OR x.thread2=y.thread)", (long long) e1[i].seq, (long long) e2[j].seq);
		r = PQexec(pc, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0)
		    both++;
		PQclear(r);
	    }
	PQfinish(pc);
	is_int(both, 0, "X3: no thread's events with both senders at once");
    }
    for (i = 1; i < n1; i++)
	if (e1[i].seq <= e1[i - 1].seq)
	    order = 0;
    ok(order, "X3: claimed oldest first");
    /* A settles; B finds the rest, and nothing A delivered comes again. */
    is_int(cs_store_outbox_settle(o1, e1, n1, CS_EVENT_DELIVERED, now, NULL), CS_OK,
	   "X3: A settles");
    is_int(cs_store_outbox_settle(o2, e2, n2, CS_EVENT_DELIVERED, now, NULL), CS_OK,
	   "X3: B settles");
    is_int(cs_store_outbox_claim(o2, now, 1000, 1 << 30, &e3, &n3), CS_OK, "X3: B claims again");
    is_int((long long) (n1 + n2 + n3), pending, "X3: every event delivered exactly once");
    cs_store_outbox_settle(o2, e3, n3, CS_EVENT_DELIVERED, now, NULL);
    is_int(q_int("SELECT count(*) FROM events WHERE state='sent' AND attempts=1"), pending,
	   "X3: each sent once");
    cs_store_events_free(e1, n1);
    cs_store_events_free(e2, n2);
    cs_store_events_free(e3, n3);

    /* A retry blocks its thread's later events for every sender. */
    {
	char   *m1 = mk("c@acme.example", "bob@corp.example", NULL, "Order", "ord1@x", NULL,
			NULL, BASE + 800, "1");
	char   *m2 = mk("c@acme.example", "bob@corp.example", NULL, "Re: Order", "ord2@x",
			"ord1@x", NULL, BASE + 801, "2");

	record(a, m1, "bob", NULL, 0, NULL);
	record(b, m2, "bob", NULL, 0, NULL);
	free(m1);
	free(m2);
	is_int(cs_store_outbox_claim(o1, now, 1, 1 << 30, &e1, &n1), CS_OK, "X3: A takes one");
	is_int(n1, 1, "X3: one event (thread.created)");
	is_int(cs_store_outbox_claim(o2, now, 1000, 1 << 30, &e2, &n2), CS_OK,
	       "X3: B claims while A holds the thread");
	is_int(n2, 0, "X3: B gets nothing of that thread");
	cs_store_events_free(e2, n2);
	is_int(cs_store_outbox_settle(o1, e1, n1, CS_EVENT_RETRY, now + 3600, "503"), CS_OK,
	       "X3: A's delivery failed, retry later");
	cs_store_events_free(e1, n1);
	is_int(cs_store_outbox_claim(o2, now, 1000, 1 << 30, &e2, &n2), CS_OK, "X3: B claims");
	is_int(n2, 0, "X3: nothing may overtake the waiting event");
	cs_store_events_free(e2, n2);
	is_int(cs_store_outbox_claim(o2, now + 7200, 1000, 1 << 30, &e2, &n2), CS_OK,
	       "X3: B claims after the retry time");
	ok(n2 >= 3 && strcmp(e2[0].type, "thread.created") == 0,
	   "X3: B sends the thread's events in order, first %s", n2 ? e2[0].type : "none");
	cs_store_outbox_settle(o2, e2, n2, CS_EVENT_DELIVERED, now, NULL);
	cs_store_events_free(e2, n2);
    }
    /* A sender that dies lets go at once (its connection closes). */
    {
	char   *m3 = mk("c@acme.example", "bob@corp.example", NULL, "Re: Order", "ord3@x",
			"ord2@x", NULL, BASE + 802, "3");

	record(a, m3, "bob", NULL, 0, NULL);
	free(m3);
	is_int(cs_store_outbox_claim(o1, now, 1000, 1 << 30, &e1, &n1), CS_OK, "X3: A claims");
	ok(n1 >= 1, "X3: A holds %zu event(s)", n1);
	cs_store_events_free(e1, n1);
	cs_store_outbox_close(o1);
	is_int(cs_store_outbox_claim(o2, now, 1000, 1 << 30, &e2, &n2), CS_OK, "X3: B claims");
	is_int((long long) n2, (long long) n1, "X3: B redelivers what A held (at least once)");
	cs_store_outbox_settle(o2, e2, n2, CS_EVENT_DELIVERED, now, NULL);
	cs_store_events_free(e2, n2);
    }
    cs_store_outbox_close(o2);
}

/* ms_since - milliseconds since t0 */
static long ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* cluster - run pgcluster.sh start|stop on the test's cluster */
static int cluster(const char *what)
{
    const char *cl = getenv("T_PG_CLUSTER"), *sh = getenv("T_PG_SCRIPT");
    char    cmd[1024];

    if (cl == NULL || sh == NULL)
	return -1;
    snprintf(cmd, sizeof(cmd), "sh '%s' %s %s", sh, what, cl);
    return system(cmd);
}

/* test_down - C1/F1: PostgreSQL down fails fast; recording resumes after */
static void test_down(cs_store *a)
{
    struct timespec t0;
    char   *m;
    long    ms;
    int     rc, res = 0;
    json_t *j = NULL;

    if (getenv("T_PG_CLUSTER") == NULL || getenv("T_PG_SCRIPT") == NULL) {
	ok(1, "# SKIP no cluster control");
	return;
    }
    is_int(cluster("stop"), 0, "C1: PostgreSQL stopped");
    m = mk("c@acme.example", "alice@corp.example", NULL, "While down", "down1@x", NULL, NULL,
	   BASE + 1000, "down");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = record(a, m, "alice", NULL, 0, NULL);
    ms = ms_since(&t0);
    free(m);
    is_int(rc, CS_EINTERNAL, "C1: a record while PostgreSQL is down fails");
    ok(ms < 3000, "C1: within the store timeout (%ld ms)", ms);
    is_int(cs_store_mailbox(a, "alice", NULL, 1, NULL, &j), CS_EINTERNAL,
	   "C1: a read while down fails");
    json_decref(j);
    j = NULL;
    {
	const char *cl = getenv("T_PG_CLUSTER");
	char    dir[512], port[32], cmd[1200];

	if (sscanf(cl, "%511s %31s", dir, port) == 2) {
	    snprintf(cmd, sizeof(cmd), "sh '%s' start %s %s", getenv("T_PG_SCRIPT"), dir, port);
	    is_int(system(cmd), 0, "F1: PostgreSQL started again");
	}
    }
    /* The backoff is at most 4 s; the first retry comes after 1 s. */
    for (int i = 0; i < 40; i++) {
	m = mk("c@acme.example", "alice@corp.example", NULL, "After", "after1@x", NULL, NULL,
	       BASE + 1001, "after");
	rc = record(a, m, "alice", NULL, 0, &res);
	free(m);
	if (rc == CS_OK)
	    break;
	sleep(1);
    }
    is_int(rc, CS_OK, "F1: recording resumes when PostgreSQL is back");
    is_int(res, CS_COPY_STORED, "F1: stored after the restart");
    is_int(cs_store_mailbox(a, "alice", NULL, 1, NULL, &j), CS_OK, "F1: reads resume");
    json_decref(j);
}

/* test_mask - the password never reaches a log */
static void test_mask(void)
{
    char    out[256], err[512];

    pg_mask_uri("postgresql://crm:s3cret@db.example:5432/crm?sslmode=require", out, sizeof(out));
    is_str(out, "postgresql://crm:***@db.example:5432/crm?sslmode=require", "mask: userinfo");
    pg_mask_uri("postgresql://db.example/crm?user=crm&password=s3cret&sslmode=require", out,
		sizeof(out));
    is_str(out, "postgresql://db.example/crm?user=crm&password=***&sslmode=require",
	   "mask: query parameter");
    pg_mask_uri("postgres://crm@db.example/crm", out, sizeof(out));
    is_str(out, "postgres://crm@db.example/crm", "mask: nothing to hide");
    ok(cs_store_open("postgresql://crm:s3cret@127.0.0.1:1/crm", CS_STORE_CREATE, 2000, err,
		     sizeof(err)) == NULL && strstr(err, "s3cret") == NULL
       && strstr(err, "***") != NULL, "open refused, password masked: %s", err);
}

int     main(void)
{
    cs_store *a, *b;

    uri = getenv("CS_TEST_DATABASE");
    if (uri == NULL || strncmp(uri, "postgres", 8) != 0) {
	printf("1..0 # SKIP CS_TEST_DATABASE is not a postgresql:// URI\n");
	return 0;
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/t_pg.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
	return 1;
    cs_message_init();
    test_mask();
    test_migrate();
    test_migrate_k5();
    a = open_host();
    b = open_host();
    ok(a && b, "two hosts open the store");
    if (a && b) {
	test_threads(a, b);
	test_dedup(a, b);
	test_alone(a);
	test_contacts(a, b);
	test_outbox(a, b);
	test_down(a);
    }
    cs_store_close(a);
    cs_store_close(b);
    {
	char    cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
	    diag("cannot remove %s", tmpdir);
    }
    return done_testing();
}
