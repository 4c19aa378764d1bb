/*
 * NAME
 *	t_store_submit 1
 * SUMMARY
 *	cs_store_submit(), cs_store_drain() and CS_STORE_BULK (bulk capture)
 * DESCRIPTION
 *	Records submitted to a writer store are all reported through their
 *	callback once committed, in submission order, with the same per-copy
 *	results cs_store_record() gives (stored, duplicate, skipped); the
 *	number in flight never passes max_pending; a bulk store's groups
 *	stay within CS_STORE_BULK_GROUP_MAX; an inline store reports before
 *	returning; a read-only store refuses without a callback; closing
 *	without a drain still commits and reports everything.
 *
 *	cs_store_record_wait() with keep_queued (a record the milter's
 *	journal refused, SPEC C6): behind a writer that is slow but getting
 *	on, a record not committed in time stays queued and is stored late;
 *	without keep_queued it is taken back (for the journal). Behind a
 *	stuck writer (another process holds the write lock) it is taken back
 *	all the same: only then may the milter drop it.
 */
#include <config.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

typedef struct counts {
    pthread_mutex_t mu;
    int     calls, stored, dup, skipped, failed, order_ok, next;
} counts;

typedef struct ticket {
    counts *c;
    int     seq;
} ticket;

/* done - count one outcome; checks submission order */
static void done(void *arg, int rc, const int *results)
{
    ticket *t = arg;
    counts *c = t->c;

    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (t->seq != c->next++)
	c->order_ok = 0;
    if (rc != CS_OK)
	c->failed++;
    else if (results[0] == CS_COPY_STORED)
	c->stored++;
    else if (results[0] == CS_COPY_DUPLICATE)
	c->dup++;
    else if (results[0] == CS_COPY_SKIPPED)
	c->skipped++;
    pthread_mutex_unlock(&c->mu);
    free(t);
}

static int submit_fenced(cs_store *, counts *, int, int, size_t, atomic_int *);

/* submit1 - one message i for alice; conditional copies never start a thread */
static int submit1(cs_store *st, counts *c, int i, int conditional, size_t max_pending)
{
    return submit_fenced(st, c, i, conditional, max_pending, NULL);
}

/* submit_fenced - the same, in an ordered stream with fence (NULL: none) */
static int submit_fenced(cs_store *st, counts *c, int i, int conditional, size_t max_pending,
			         atomic_int *fence)
{
    char    raw[512];
    tl_msg  m;
    cs_copy cp = {0};
    cs_record rec = {0};
    ticket *t = calloc(1, sizeof(*t));
    int     rc;

    snprintf(raw, sizeof(raw), "From: c%d@client.example\r\nTo: alice@example.com\r\n"
	     "Subject: offer %d\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
	     "Message-ID: <s%d@t.example>\r\n\r\nBody %d\r\n", i % 7, i, i, i);
    tl_msg_init(&m, raw, tmpdir, 4096);
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    cp.conditional = conditional;
    rec.arrival = 1704103200;
    rec.source = "import";
    rec.env_from = "c@client.example";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    t->c = c;
    t->seq = i;
    rc = cs_store_submit_fenced(st, &rec, max_pending, done, t, fence);
    if (rc != CS_OK)
	free(t);
    tl_msg_free(&m);
    return rc;
}

/* wait1 - one message j for alice through cs_store_record_wait */
static int wait1(cs_store *st, int j, int keep, long wait_ms, long timeout_ms, cs_store_wait *w)
{
    char    raw[512], dig[CS_DIGEST_HEX];
    cs_msginfo mi;
    cs_spool *sp;
    cs_copy cp = {0};
    cs_record rec = {0};
    int     res[1], rc;

    snprintf(raw, sizeof(raw), "From: w%d@client.example\r\nTo: alice@example.com\r\n"
	     "Subject: wait %d\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
	     "Message-ID: <w%d@t.example>\r\n\r\nBody %d\r\n", j, j, j, j);
    memset(&mi, 0, sizeof(mi));
    cs_msginfo_parse(raw, strlen(raw), &mi);
    sp = cs_spool_new(tmpdir, 4096, 1 << 20);
    cs_spool_write(sp, raw, strlen(raw));
    cs_body_digest_hex(strstr(raw, "\r\n\r\n") + 4, strlen(strstr(raw, "\r\n\r\n") + 4), dig);
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    rec.queue_id = "QW";
    rec.arrival = 1704103200;
    rec.source = "smtp";
    rec.env_from = "w@client.example";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = dig;
    rec.copies = &cp;
    rec.ncopies = 1;
    memset(w, 0, sizeof(*w));
    w->keep_queued = keep;
    rc = cs_store_record_wait(st, &rec, wait_ms, timeout_ms, res, w);
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
    return rc;
}

/* A record waited on in a thread of its own, timed (the commit delay). */
typedef struct waiter {
    cs_store *st;
    int     j, rc;
    long long ms;
    pthread_t tid;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    cs_store_wait sw;
    long long t0 = cs_mono_ms();

    w->rc = wait1(w->st, w->j, 0, 10000, 10000, &sw);
    w->ms = cs_mono_ms() - t0;
    return NULL;
}

static void waiter_start(waiter *w, cs_store *st, int j)
{
    memset(w, 0, sizeof(*w));
    w->st = st;
    w->j = j;
    w->rc = -1;
    pthread_create(&w->tid, NULL, waiter_main, w);
}

/* stored_msgid - is the message with this Message-ID in the store? */
static int stored_msgid(const char *db, const char *msgid)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int     n = -1;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	return -1;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM messages WHERE message_id=?1", -1, &st,
			   NULL) == SQLITE_OK) {
	sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
	    n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return n;
}

/* counter - a counter of the store, read directly */
static long long counter(const char *name)
{
    char    sql[200];

    snprintf(sql, sizeof(sql), "SELECT value FROM counters WHERE name='%s'", name);
    return tl_q_int(sql);
}

/* reset - counts back to zero */
static void reset(counts *c)
{
    c->calls = c->stored = c->dup = c->skipped = c->failed = c->next = 0;
    c->order_ok = 1;
}

int     main(void)
{
    char    err[256];
    cs_store *st;
    counts  c;
    int     i, bad;

    cs_message_init();
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_store_submit");
    snprintf(tl_db, sizeof(tl_db), "%s/s.db", tmpdir);
    pthread_mutex_init(&c.mu, NULL);

    /* A bulk writer store: 1500 records, at most 100 in flight. */
    st = cs_store_open(tl_db, CS_STORE_CREATE | CS_STORE_WRITER | CS_STORE_BULK, 5000, err, sizeof(err));
    ok(st != NULL, "bulk writer store opens");
    reset(&c);
    for (i = 0, bad = 0; i < 1500; i++)
	if (submit1(st, &c, i, 0, 100) != CS_OK)
	    bad++;
    is_int(bad, 0, "1500 submitted");
    cs_store_drain(st);
    is_int(c.calls, 1500, "drain: every callback made");
    is_int(c.stored, 1500, "all stored");
    ok(c.order_ok, "callbacks in submission order");
    ok(st->async_n == 0 && st->async_bytes == 0, "nothing left in flight");
    /* The same again: T2, all duplicates; plus conditional copies that join nothing. */
    reset(&c);
    for (i = 0; i < 1500; i++)
	submit1(st, &c, i, 0, 4096);
    for (i = 1500; i < 1510; i++)
	submit1(st, &c, i, 1, 4096);
    cs_store_drain(st);
    is_int(c.dup, 1500, "re-submitted: 1500 duplicates");
    is_int(c.skipped, 10, "conditional copies without a thread: skipped");
    is_int(c.calls, 1510, "... every callback made");
    cs_store_close(st);
    /* 3010 records in groups of at most CS_STORE_BULK_GROUP_MAX. */
    ok(counter("records") == 3010, "3010 records counted");
    ok(counter("commit_groups") >= (3010 + CS_STORE_BULK_GROUP_MAX - 1) / CS_STORE_BULK_GROUP_MAX,
       "groups bounded by CS_STORE_BULK_GROUP_MAX (%lld groups)", counter("commit_groups"));
    ok(counter("commit_groups") < 3010 / 4, "records were grouped (%lld groups)",
       counter("commit_groups"));

    /* Close without drain: the writer commits and reports all. */
    unlink(tl_db);
    st = cs_store_open(tl_db, CS_STORE_CREATE | CS_STORE_WRITER, 5000, err, sizeof(err));
    reset(&c);
    for (i = 0; i < 700; i++)
	submit1(st, &c, i, 0, 1000);
    cs_store_close(st);
    is_int(c.calls, 700, "close without drain: every callback made");
    is_int(c.stored, 700, "... and stored");

    /*
     * keep_queued, a slow writer: 4000 records queued ahead (on tmpfs
     * where there is one, so each group commits well within a step), 2 ms
     * steps up to a timeout found below. Not committed in time, the writer getting
     * on: with keep_queued the record stays queued and is stored;
     * without, it is taken back and never stored.
     */
    {
	cs_store_wait w;
	char    kdir[] = "/dev/shm/t_store_submit.XXXXXX", kdb[300], *tdir = kdir;
	int     rc, slow_j = 1;

	if (access("/dev/shm", W_OK) != 0 || mkdtemp(kdir) == NULL)
	    tdir = tmpdir;
	snprintf(kdb, sizeof(kdb), "%s/k.db", tdir);
	st = cs_store_open(kdb, CS_STORE_CREATE | CS_STORE_WRITER, 5000, err, sizeof(err));
	/*
	 * "Slow" needs a timeout the writer commits a group in but not the
	 * whole backlog: that depends on the machine and the build (the
	 * sanitizer build writes several times slower), so the timeout
	 * grows until one try sees it. A try that was not slow leaves its
	 * record stored or taken back; only the last try's record is checked.
	 */
	{
	    static const long tries[] = {10, 30, 100, 300, 1000};
	    int     base = 10000;

	    for (size_t k = 0; k < sizeof(tries) / sizeof(tries[0]); k++, base += 4000) {
		reset(&c);
		for (i = base; i < base + 4000; i++)
		    submit1(st, &c, i, 0, 4096);
		slow_j = 1000 + (int) k;
		rc = wait1(st, slow_j, 1, 2, tries[k], &w);
		if (rc != CS_OK && w.timed_out && w.progress)
		    break;
		cs_store_drain(st);
	    }
	}
	ok(rc != CS_OK && w.timed_out && w.progress, "slow writer: timed out, progressing"
	   " (rc %d timed_out %d progress %d)", rc, w.timed_out, w.progress);
	ok(w.queued, "keep_queued: the record stays in the writer's queue");
	for (i = 30000; i < 34000; i++)
	    submit1(st, &c, i, 0, 4096);
	rc = wait1(st, 2, 0, 2, 10, &w);
	ok(rc != CS_OK && w.timed_out && !w.queued, "without keep_queued: taken back");
	cs_store_drain(st);
	cs_store_close(st);
	{
	    char    mid[32];

	    snprintf(mid, sizeof(mid), "w%d@t.example", slow_j);
	    is_int(stored_msgid(kdb, mid), 1, "the record left queued is stored late");
	}
	is_int(stored_msgid(kdb, "w2@t.example"), 0, "the record taken back is not stored");
	if (tdir == kdir) {
	    char    cmd[400];

	    snprintf(cmd, sizeof(cmd), "rm -rf %s", kdir);
	    if (system(cmd) != 0)
		diag("could not remove %s", kdir);
	}

	/* A stuck writer: another connection holds the write lock. */
	{
	    sqlite3 *lk;

	    st = cs_store_open(tl_db, CS_STORE_WRITER, 3000, err, sizeof(err));
	    sqlite3_open(tl_db, &lk);
	    sqlite3_exec(lk, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	    reset(&c);
	    submit1(st, &c, 19000, 0, 10);	/* the writer blocks on it */
	    usleep(200000);			/* ... in a group of its own */
	    rc = wait1(st, 3, 1, 50, 2000, &w);
	    ok(rc != CS_OK && w.timed_out && !w.progress, "stuck writer: timed out, no progress"
	       " (timed_out %d progress %d)", w.timed_out, w.progress);
	    ok(!w.queued, "stuck writer: taken back even with keep_queued (the caller drops it)");
	    sqlite3_exec(lk, "ROLLBACK", NULL, NULL, NULL);
	    sqlite3_close(lk);
	    cs_store_drain(st);
	    cs_store_close(st);
	    is_int(stored_msgid(tl_db, "w3@t.example"), 0, "... and not stored");
	}
    }

    /* Inline: reported before the call returns. */
    st = cs_store_open(tl_db, 0, 5000, err, sizeof(err));
    reset(&c);
    is_int(submit1(st, &c, 5000, 0, 10), CS_OK, "inline submit");
    is_int(c.calls, 1, "inline: callback before the return");
    is_int(c.stored, 1, "inline: stored");
    submit1(st, &c, 5000, 0, 10);
    is_int(c.dup, 1, "inline: duplicate");
    cs_store_drain(st);				/* a no-op */
    cs_store_close(st);

    /*
     * An ordered stream (the journal's replay, X3): a record the store
     * refuses raises the stream's fence, and a later record of it fails
     * unwritten, in a later group too, so none overtakes the one that
     * failed; a record outside the stream is written; a fence lowered
     * lets the stream on.
     */
    {
	atomic_int fence = 0;

	unlink(tl_db);
	st = cs_store_open(tl_db, CS_STORE_CREATE | CS_STORE_WRITER, 5000, err, sizeof(err));
	ok(st != NULL && tl_q_exec("CREATE TRIGGER poison BEFORE INSERT ON messages"
				   " WHEN NEW.subject = 'offer 7002'"
				   " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END") == 0,
	   "fence: a store that refuses one record (a trigger)");
	reset(&c);
	submit_fenced(st, &c, 7001, 0, 10, &fence);
	submit_fenced(st, &c, 7002, 0, 10, &fence);
	cs_store_drain(st);
	ok(c.stored == 1 && c.failed == 1 && atomic_load(&fence) == 1,
	   "fence: one stored, the refused one failed, the fence up");
	submit_fenced(st, &c, 7003, 0, 10, &fence);
	cs_store_drain(st);
	is_int(c.failed, 2, "fence: the stream's next record fails");
	is_int(stored_msgid(tl_db, "<s7003@t.example>") + stored_msgid(tl_db, "s7003@t.example"), 0,
	       "fence: ... unwritten");
	submit1(st, &c, 7004, 0, 10);
	cs_store_drain(st);
	is_int(c.stored, 2, "fence: a record outside the stream is written");
	atomic_store(&fence, 0);
	submit_fenced(st, &c, 7003, 0, 10, &fence);
	cs_store_drain(st);
	is_int(c.stored, 3, "fence: lowered, the stream goes on");
	cs_store_close(st);
    }

    /*
     * The commit delay (StoreCommitDelay): the writer waits for records
     * announced with cs_store_expect, so that they share a commit; a
     * lone record waits for nothing; one that will not come wakes the
     * writer; the delay bounds the wait; 0 turns it off.
     */
    {
	waiter  a, b;
	cs_store_wait sw;
	uint64_t g0;
	long long t0, ms;

	unlink(tl_db);
	st = cs_store_open(tl_db, CS_STORE_CREATE | CS_STORE_WRITER, 10000, err, sizeof(err));
	ok(st != NULL, "delay: writer store opens");
	cs_store_set_commit_delay(st, 5000);
	g0 = cs_store_groups(st);
	t0 = cs_mono_ms();
	is_int(wait1(st, 9001, 0, 10000, 10000, &sw), CS_OK, "delay: a lone record is stored");
	ms = cs_mono_ms() - t0;
	ok(ms < 2500, "delay: ... without waiting for the delay (%lld ms)", ms);

	/* Expected: the writer holds the group until it comes. */
	cs_store_expect(st);
	g0 = cs_store_groups(st);
	waiter_start(&a, st, 9002);
	usleep(300 * 1000);
	is_int((int) (cs_store_groups(st) - g0), 0,
	       "delay: with a record on its way, the queued one waits");
	cs_store_arrived(st, 1);
	is_int(wait1(st, 9003, 0, 10000, 10000, &sw), CS_OK, "delay: the expected record is stored");
	pthread_join(a.tid, NULL);
	is_int(a.rc, CS_OK, "delay: ... and the waiting one");
	is_int((int) (cs_store_groups(st) - g0), 1, "delay: ... both in one commit");

	/* Expected but not coming: the writer is woken to commit now. */
	cs_store_expect(st);
	waiter_start(&a, st, 9004);
	usleep(300 * 1000);
	cs_store_arrived(st, 0);
	pthread_join(a.tid, NULL);
	ok(a.rc == CS_OK && a.ms >= 250 && a.ms < 2500,
	   "delay: a record given up wakes the writer (%lld ms)", a.ms);

	/* The delay bounds the wait: it never comes, nobody says so. */
	cs_store_set_commit_delay(st, 400);
	cs_store_expect(st);
	waiter_start(&a, st, 9005);
	pthread_join(a.tid, NULL);
	ok(a.rc == CS_OK && a.ms >= 350 && a.ms < 3000,
	   "delay: the wait ends at StoreCommitDelay (%lld ms)", a.ms);

	/* 0: no wait, expected or not. */
	cs_store_set_commit_delay(st, 0);
	waiter_start(&b, st, 9006);
	pthread_join(b.tid, NULL);
	ok(b.rc == CS_OK && b.ms < 350, "delay: 0 commits at once (%lld ms)", b.ms);
	cs_store_arrived(st, 0);
	ok(atomic_load(&st->expecting) == 0, "delay: nothing expected left");
	ok(st->qbytes == 0 && st->qlen == 0, "delay: queue bytes back to 0");
	cs_store_close(st);
    }

    /* Read-only: refused, no callback. */
    st = cs_store_open(tl_db, CS_STORE_READONLY, 5000, err, sizeof(err));
    reset(&c);
    is_int(submit1(st, &c, 6000, 0, 10), CS_EINTERNAL, "read-only store refuses");
    is_int(c.calls, 0, "... without a callback");
    is_int(cs_store_submit(st, NULL, 10, done, NULL), CS_EINVAL, "no record: CS_EINVAL");
    cs_store_close(st);

    tl_rmtree(tmpdir);
    pthread_mutex_destroy(&c.mu);
    return done_testing();
}
