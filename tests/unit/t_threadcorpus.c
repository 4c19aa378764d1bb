/*
 * NAME
 *	t_threadcorpus 1
 * SUMMARY
 *	threading (SPEC T1) on a generated corpus, checked against threads
 *	computed independently from References
 * DESCRIPTION
 *	Generates conversations as random reply trees. Each message names
 *	its parent in In-Reply-To and some of its ancestors in References:
 *	the whole chain, only the last few (truncated, as many clients do),
 *	the chain with junk and "null" in it, or a duplicate and a loop.
 *	Subjects are Re:/AW:/Fwd: variants of one subject per conversation,
 *	each conversation with its own outside participant. The messages of
 *	all conversations are recorded in a shuffled order, so replies often
 *	arrive before their parents and threads must merge.
 *
 *	The expected threads are computed here with a union-find over the
 *	Message-IDs each message names, with no knowledge of the store; the
 *	test then checks that the store's thread partition of the mailbox is
 *	exactly that partition: same thread within a conversation, different
 *	threads across conversations, message counts as generated.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cs_digest.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_spool.h"
#include "cs_store.h"
#include "tap.h"
#include "tlib.h"

#define NCONV	60
#define MAXMSG	25
#define NMSG	(NCONV * MAXMSG)

typedef struct gmsg {
    int     conv;			/* conversation it belongs to */
    int     idx;			/* index in the conversation */
    int     parent;			/* index of the parent, -1 for the root */
    char   *raw;
} gmsg;

static gmsg msgs[NMSG];
static int nmsgs;
static int uf[NMSG];
static unsigned long long rng = 88172645463325252ULL;

/* rnd - xorshift, repeatable */
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned) (rng % n);
}

/* find - union-find root */
static int find(int i)
{
    while (uf[i] != i)
	i = uf[i] = uf[uf[i]];
    return i;
}

/* unite - one component */
static void unite(int a, int b)
{
    a = find(a);
    b = find(b);
    if (a != b)
	uf[a] = b;
}

/* gen_conv - one conversation of n messages, indexes base.. in msgs */
static void gen_conv(int conv, int n, int base)
{
    static const char *const pre[] = {"Re: ", "AW: ", "RE: ", "Fwd: ", "Re: Re: ", "WG: "};
    int     parent[MAXMSG];

    for (int i = 0; i < n; i++) {
	char    refs[4096] = "", irt[128] = "", subj[128];
	int     chain[MAXMSG], depth = 0, style = (int) rnd(5);
	size_t  len;

	parent[i] = i == 0 ? -1 : (int) rnd((unsigned) i);
	for (int p = parent[i]; p >= 0; p = parent[p])
	    chain[depth++] = p;
	/* References lists ancestors root first. */
	for (int d = depth - 1; d >= 0; d--) {
	    char    id[64];

	    if (style == 1 && d > 2)
		continue;			/* truncated: the last three only */
	    snprintf(id, sizeof(id), "<c%d.m%d@gen.example> ", conv, chain[d]);
	    strcat(refs, id);
	    if (style == 2 && d == depth / 2)
		strcat(refs, "null <> junk <broken ");
	}
	if (style == 3 && depth > 0) {
	    char    id[64];

	    /* The parent twice, and a loop: the message names itself. */
	    snprintf(id, sizeof(id), "<c%d.m%d@gen.example> <c%d.m%d@gen.example> ",
		     conv, chain[0], conv, i);
	    strcat(refs, id);
	}
	if (depth > 0 && style != 4)
	    snprintf(irt, sizeof(irt), "In-Reply-To: <c%d.m%d@gen.example>\r\n", conv, chain[0]);
	if (depth > 0 && style == 4)
	    refs[0] = 0, snprintf(irt, sizeof(irt), "In-Reply-To: <c%d.m%d@gen.example>\r\n",
				  conv, chain[0]);
	snprintf(subj, sizeof(subj), "%sTopic number %d", i ? pre[rnd(6)] : "", conv);
	len = strlen(refs) + 1024;
	msgs[base + i].raw = malloc(len);
	snprintf(msgs[base + i].raw, len,
		 "From: Outside %d <o%d@outside%d.example>\r\n"
		 "To: alice@example.com\r\n"
		 "Subject: %s\r\n"
		 "Date: Thu, 26 Nov 2026 %02d:%02d:00 +0000\r\n"
		 "Message-ID: <c%d.m%d@gen.example>\r\n"
		 "%s%s%s%s"
		 "\r\n"
		 "message %d of conversation %d\r\n",
		 conv, conv, conv, subj, 8 + i / 60, i % 60, conv, i, irt,
		 refs[0] ? "References: " : "", refs, refs[0] ? "\r\n" : "", i, conv);
	msgs[base + i].conv = conv;
	msgs[base + i].idx = i;
	msgs[base + i].parent = parent[i];
    }
}

/* record - one message into alice's mailbox */
static int record(cs_store *st, const char *raw)
{
    cs_msginfo mi;
    cs_spool *sp = cs_spool_new("/tmp", 1 << 16, 1 << 20);
    const char *body = strstr(raw, "\r\n\r\n");
    char    digest[CS_DIGEST_HEX];
    cs_strlist labels = {0}, rcpts = {0};
    cs_copy cp = {0};
    cs_record rec = {0};
    int     result = 0, rc;

    memset(&mi, 0, sizeof(mi));
    cs_msginfo_parse(raw, strlen(raw), &mi);
    cs_spool_write(sp, raw, strlen(raw));
    cs_body_digest_hex(body + 4, strlen(body + 4), digest);
    cs_strlist_add(&rcpts, "alice@example.com");
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    cp.labels = &labels;
    cp.env_rcpts = &rcpts;
    rec.arrival = mi.date;
    rec.source = "import";
    rec.env_from = "o@outside.example";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rc = cs_store_record(st, &rec, 5000, &result);
    cs_strlist_free(&rcpts);
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
    return rc == CS_OK && result == CS_COPY_STORED ? 0 : -1;
}

int     main(void)
{
    char    dir[256], path[512], err[512], sql[256];
    const char *const ids[] = {"alice"};
    const int roles[] = {0};
    int     order[NMSG], fails = 0, split = 0, joined = 0, counts_ok = 1;
    long long thread_of[NMSG];
    cs_store *st;
    sqlite3 *db;
    sqlite3_stmt *q;

    cs_log_init("t_threadcorpus", 0, 0, CS_LOG_ERROR);
    cs_message_init();
    for (int c = 0; c < NCONV; c++) {
	int     n = 1 + (int) rnd(MAXMSG);

	gen_conv(c, n, nmsgs);
	nmsgs += n;
    }
    /* Independent expectation: messages joined by the ids they name. */
    for (int i = 0; i < nmsgs; i++)
	uf[i] = i;
    for (int i = 0; i < nmsgs; i++) {
	cs_msginfo mi;

	memset(&mi, 0, sizeof(mi));
	cs_msginfo_parse(msgs[i].raw, strlen(msgs[i].raw), &mi);
	for (int j = 0; j < nmsgs; j++) {
	    char    id[64];

	    snprintf(id, sizeof(id), "c%d.m%d@gen.example", msgs[j].conv, msgs[j].idx);
	    if ((mi.in_reply_to && strcmp(mi.in_reply_to, id) == 0)
		|| cs_strlist_contains(&mi.references, id))
		unite(i, j);
	}
	cs_msginfo_free(&mi);
    }
    {
	int     components = 0;

	for (int i = 0; i < nmsgs; i++)
	    components += find(i) == i;
	is_int(components, NCONV, "the generated references make one component per conversation");
    }

    tl_tmpdir(dir, sizeof(dir), "t_threadcorpus");
    snprintf(path, sizeof(path), "%s/corpus.db", dir);
    st = cs_store_open(path, CS_STORE_CREATE | CS_STORE_WRITER, 5000, err, sizeof(err));
    if (!ok(st != NULL, "store opens"))
	return done_testing();
    cs_store_sync_users(st, ids, roles, 1);
    for (int i = 0; i < nmsgs; i++)
	order[i] = i;
    for (int i = nmsgs - 1; i > 0; i--) {
	int     j = (int) rnd((unsigned) i + 1), t = order[i];

	order[i] = order[j];
	order[j] = t;
    }
    for (int i = 0; i < nmsgs; i++)
	fails += record(st, msgs[order[i]].raw) < 0;
    diag("%d messages in %d conversations", nmsgs, NCONV);
    is_int(fails, 0, "all messages recorded in shuffled order");
    cs_store_close(st);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	return 1;
    for (int i = 0; i < nmsgs; i++) {
	thread_of[i] = -1;
	snprintf(sql, sizeof(sql), "select thread from messages where owner = 'alice' "
		 "and message_id = 'c%d.m%d@gen.example'", msgs[i].conv, msgs[i].idx);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
	    if (sqlite3_step(q) == SQLITE_ROW)
		thread_of[i] = sqlite3_column_int64(q, 0);
	    sqlite3_finalize(q);
	}
    }
    for (int i = 0; i < nmsgs; i++)
	for (int j = i + 1; j < nmsgs; j++) {
	    int     same_expected = find(i) == find(j);
	    int     same_stored = thread_of[i] == thread_of[j] && thread_of[i] >= 0;

	    split += same_expected && !same_stored;
	    joined += !same_expected && same_stored;
	}
    is_int(split, 0, "no conversation split over threads (pairs)");
    is_int(joined, 0, "no two conversations in one thread (pairs)");
    {
	long long threads = -1;

	if (sqlite3_prepare_v2(db, "select count(*) from threads where owner = 'alice'", -1,
			       &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
	    threads = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	is_int(threads, NCONV, "one thread per conversation, merged ones gone");
    }
    for (int c = 0; c < NCONV; c++) {
	int     n = 0;
	long long count = -1;

	for (int i = 0; i < nmsgs; i++)
	    n += msgs[i].conv == c;
	snprintf(sql, sizeof(sql), "select t.message_count from threads t join messages m "
		 "on m.owner = t.owner and m.thread = t.id where m.message_id = 'c%d.m0@gen.example'", c);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
	    count = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (count != n) {
	    counts_ok = 0;
	    diag("conversation %d: %d messages, thread says %lld", c, n, count);
	}
    }
    ok(counts_ok, "every thread's message_count is its conversation's size");
    sqlite3_close(db);
    for (int i = 0; i < nmsgs; i++)
	free(msgs[i].raw);
    tl_rmtree(dir);
    return done_testing();
}
