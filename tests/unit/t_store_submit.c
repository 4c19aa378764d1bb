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
 */
#include <config.h>

#include <pthread.h>
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

/* submit1 - one message i for alice; conditional copies never start a thread */
static int submit1(cs_store *st, counts *c, int i, int conditional, size_t max_pending)
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
    rc = cs_store_submit(st, &rec, max_pending, done, t);
    if (rc != CS_OK)
	free(t);
    tl_msg_free(&m);
    return rc;
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
