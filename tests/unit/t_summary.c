/*
 * NAME
 *	t_summary 1
 * SUMMARY
 *	a thread's summary gives the lists the bytes its messages give
 * DESCRIPTION
 *	A list (the mailbox, a deal's page, one thread) shows each
 *	thread's participants and labels from the summary the writer keeps
 *	on the thread's row (cs_store_list.c). This test records threads of
 *	every shape the participants rule knows (a name missing at first
 *	sight and taken from a later message, addresses differing in case
 *	and subaddress, the sender's envelope-only recipients (C4), more
 *	than CS_STORE_MAX_PARTICIPANTS addresses, a message dated before
 *	the thread's others, two threads merged by a reply to both,
 *	labels on some copies, a reader who does not own the thread, replies
 *	in date order that the writer adds to a summary as it is) and
 *	checks that every answer is the same bytes with the summaries as
 *	when every thread's messages are read (summaries made under other
 *	address delimiters are not used: on either backend). Then that a
 *	merge, erasure (R2: no summary keeps the erased address) and
 *	retention leave no stale summary, that cs_store_summaries_fill
 *	writes the missing ones, and (SQLite) that a schema 6 store
 *	migrates with empty summaries and lists the same.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_answer.h"
#include "cs_store_impl.h"		/* the fill's query */
#include "tap.h"
#include "tlib.h"

#define BASE	1704103200

static char tmpdir[256];
static int pg;

/* record - raw as a copy for each user, labels on alice's; bcc: alice's outgoing copy */
static int record(cs_store *st, const char *raw, const char *const *users, const char *labels,
		          const char *bcc)
{
    tl_msg  m;
    cs_copy cp[3] = {{0}};
    cs_strlist lab = {0}, env = {0}, b = {0};
    cs_record rec = {0};
    int     res[3] = {0}, rc;
    size_t  n = 0;

    tl_msg_init(&m, raw, tmpdir, 1 << 20);
    if (labels)
	for (const char *p = labels; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0)) {
	    char    one[64];

	    snprintf(one, sizeof(one), "%.*s", (int) strcspn(p, ","), p);
	    cs_strlist_add(&lab, one);
	}
    if (bcc) {
	cs_strlist_add(&b, bcc);
	cs_strlist_add(&env, bcc);
    }
    for (; users[n] && n < 3; n++) {
	cp[n].user = users[n];
	cp[n].direction = bcc && n == 0 ? CS_DIR_OUT : CS_DIR_IN;
	cp[n].labels = strcmp(users[n], "alice") == 0 ? &lab : NULL;
	cp[n].env_rcpts = bcc && n == 0 ? &env : NULL;
	cp[n].bcc = bcc && n == 0 ? &b : NULL;
    }
    rec.arrival = m.mi.date + 60;
    rec.source = "smtp";
    rec.env_from = bcc ? "alice@corp.example" : "client@acme.example";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = cp;
    rec.ncopies = n;
    rc = cs_store_record(st, &rec, 5000, res);
    tl_msg_free(&m);
    cs_strlist_free(&lab);
    cs_strlist_free(&env);
    cs_strlist_free(&b);
    return rc;
}

/* mail - a message: from, to, cc (or NULL), subject, minutes after BASE, id, In-Reply-To/References */
static int mail(cs_store *st, const char *const *users, const char *from, const char *to,
		        const char *cc, const char *subject, int minutes, const char *id,
		        const char *refs, const char *labels, const char *bcc)
{
    char    hdr[8192] = "", *raw;
    int     rc;

    if (cc)
	snprintf(hdr, sizeof(hdr), "Cc: %s\r\n", cc);
    if (refs)
	snprintf(hdr + strlen(hdr), sizeof(hdr) - strlen(hdr),
		 "In-Reply-To: <%.200s>\r\nReferences: %s\r\n", refs, refs);
    raw = tl_mk(from, to, subject, BASE + minutes * 60, id, hdr, NULL);
    rc = record(st, raw, users, labels, bcc);
    free(raw);
    return rc;
}

/* Pages printed as built (the answers) against the tree of the same page. */
static int pages_streamed, pages_differ;

/*
 * page_text - a page's answer as printed (mailbox: kind NULL), the error
 * message when it fails; the store's tree for the same page printed by
 * cs_answer_text must be the same bytes (pages_differ counts those that
 * are not); *tree (may be NULL) gets the tree
 */
static char *page_text(cs_store *st, const char *as, const char *kind, const char *id,
		               const char *label, int limit, json_t **treep)
{
    cs_answer a = {0};
    json_t *tree = NULL;
    char   *t, *want;
    const char *tc;
    int     rc;

    if (kind) {
	cs_answer_record(st, as, kind, id, limit, NULL, &a);
	rc = cs_store_record_threads(st, as, kind, id, limit, NULL, &tree);
    } else {
	cs_answer_mailbox(st, as, label, limit, NULL, &a);
	rc = cs_store_mailbox(st, as, label, limit, NULL, &tree);
    }
    if (a.code != CS_ANS_OK) {
	t = strdup(a.message);
	pages_differ += rc == CS_OK;
    } else {
	pages_streamed++;
	t = cs_answer_take_text(&a, NULL);
	want = rc == CS_OK ? cs_answer_text(tree, NULL) : NULL;
	tc = json_string_value(json_object_get(tree, "cursor"));
	if (t == NULL || want == NULL || a.body != NULL || strcmp(t, want) != 0
	    || strcmp(a.cursor, tc ? tc : "") != 0) {
	    pages_differ++;
	    diag("%s %s: printed as built:\n%.300s\n--- tree:\n%.300s", as,
		 kind ? kind : "mailbox", t ? t : "(none)", want ? want : "(none)");
	}
	free(want);
    }
    cs_answer_reset(&a);
    if (treep)
	*treep = tree;
    else
	json_decref(tree);
    return t;
}

/* answers - every list answer and thread read of the fixture, as printed, in one text */
static char *answers(cs_store *st)
{
    static const char *const who[] = {"alice", "bob"};
    cs_buf  b = {0};
    cs_answer a = {0};
    char   *t;

    for (int i = 0; i < 2; i++) {
	json_t *tree = NULL, *list;
	size_t  k;

	t = page_text(st, who[i], NULL, NULL, NULL, 100, &tree);
	cs_buf_appendf(&b, "%s", t ? t : "(none)");
	free(t);
	list = json_object_get(tree, "threads");
	for (k = 0; k < json_array_size(list); k++) {
	    const char *id = json_string_value(json_object_get(json_array_get(list, k), "id"));

	    cs_answer_thread(st, who[i], id, 0, &a);
	    t = a.code == CS_ANS_OK ? cs_answer_text(a.body, NULL) : strdup("(thread failed)");
	    cs_buf_appendf(&b, "%s", t ? t : "(none)");
	    free(t);
	    cs_answer_reset(&a);
	}
	json_decref(tree);
	t = page_text(st, who[i], NULL, NULL, "Work", 2, NULL);
	cs_buf_appendf(&b, "%s", t ? t : "(none)");
	free(t);
	t = page_text(st, who[i], "deal", "d1", NULL, 100, NULL);
	cs_buf_appendf(&b, "%s", t ? t : "(none)");
	free(t);
	t = page_text(st, who[i], "person", "p1", NULL, 100, NULL);
	cs_buf_appendf(&b, "%s", t ? t : "(none)");
	free(t);
    }
    return b.data ? b.data : strdup("");
}

/* same_read - the answers with summaries are the answers read from the messages */
static void same_read(cs_store *st, const char *what)
{
    char   *with, *without;

    pages_streamed = pages_differ = 0;
    with = answers(st);
    /* Summaries made under other delimiters are not used ("=" is in no address here). */
    cs_store_set_subaddress(st, "+=");
    without = answers(st);
    cs_store_set_subaddress(st, "+");
    if (!ok(strcmp(with, without) == 0 && strlen(with) > 1000, "%s: the same bytes", what)) {
	size_t  i = 0;

	while (with[i] && with[i] == without[i])
	    i++;
	diag("first difference at byte %zu:\n--- summaries:\n%.300s\n--- messages:\n%.300s",
	     i, with + (i > 100 ? i - 100 : 0), without + (i > 100 ? i - 100 : 0));
    }
    ok(pages_streamed >= 8 && pages_differ == 0,
       "%s: %d pages printed as built, the trees' bytes (%d differ)", what, pages_streamed,
       pages_differ);
    free(with);
    free(without);
}

/*
 * missing - threads without a summary. On PostgreSQL only the store can
 * tell: the threads a fill had to write (so none are left missing after
 * it; the checks expect 0 there, so the fill changes nothing when they
 * pass).
 */
static long long missing(cs_store *st)
{
    return pg ? cs_store_summaries_fill(st, 1000000)
	: tl_q_int("SELECT count(*) FROM threads WHERE summary IS NULL");
}

/* users - alice and bob in the policy in force (R3) */
static void users(cs_store *st)
{
    const char *ids[] = {"alice", "bob"};
    cs_user u[2];
    const cs_user *up[2];

    memset(u, 0, sizeof(u));
    for (int i = 0; i < 2; i++) {
	char    a[64];

	snprintf(a, sizeof(a), "%s@corp.example", ids[i]);
	u[i].id = (char *) ids[i];
	u[i].role = CS_ROLE_USER;
	cs_strlist_add(&u[i].addresses, a);
	up[i] = &u[i];
    }
    is_int(cs_store_sync_users2(st, up, 2), CS_OK, "users");
    for (int i = 0; i < 2; i++)
	cs_strlist_free(&u[i].addresses);
}

/* fixture - the threads */
static void fixture(cs_store *st)
{
    static const char *const ALICE[] = {"alice", NULL};
    static const char *const BOTH[] = {"alice", "bob", NULL};
    char    many[6000] = "", err[256];
    json_t *snap, *out = NULL;
    int     rc = 0;

    snap = json_loads("{\"persons\": [{\"id\": \"p1\", \"name\": \"Carl\","
		      " \"emails\": [\"carl@acme.example\"], \"access\": [\"alice\", \"bob\"]}],"
		      " \"deals\": [{\"id\": \"d1\", \"title\": \"R\", \"status\": \"open\","
		      " \"persons\": [\"p1\"], \"access\": [\"alice\", \"bob\"]}]}", 0, NULL);
    is_int(cs_store_directory_import(st, snap, &out, err, sizeof(err)), CS_OK, "directory");
    json_decref(snap);
    json_decref(out);
    /* A name missing at first sight, then given; case and subaddress. */
    rc |= mail(st, BOTH, "carl@acme.example", "alice@corp.example, bob@corp.example",
	       "Dora <dora@else.example>", "Plan", 0, "a1@x", NULL, "INBOX", NULL);
    rc |= mail(st, BOTH, "Carl Client <CARL@acme.example>", "alice+crm@corp.example",
	       "dora@ELSE.example, \"Eve \\\"E\\\" K\" <eve@else.example>", "Re: Plan", 10,
	       "a2@x", "<a1@x>", "Work,INBOX", NULL);
    /* Dated before the others: it sorts first. */
    rc |= mail(st, BOTH, "Early Bird <early@else.example>", "alice@corp.example", NULL,
	       "Re: Plan", -30, "a3@x", "<a1@x>", "Later", NULL);
    /* The sender's copy shows its envelope-only recipient (C4). */
    rc |= mail(st, ALICE, "alice@corp.example", "carl@acme.example", NULL, "Offer", 20,
	       "b1@x", NULL, "Sent", "hidden@bcc.example");
    /* More participants than a thread shows. */
    for (int i = 0; i < 120; i++)
	snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sp%d@many.example",
		 i ? ", " : "", i);
    rc |= mail(st, ALICE, "carl@acme.example", "alice@corp.example", many, "Crowd", 30,
	       "c1@x", NULL, NULL, NULL);
    /* Two threads, then a reply to both merges them (T1). */
    rc |= mail(st, BOTH, "Fay <fay@else.example>", "alice@corp.example, bob@corp.example",
	       NULL, "First", 40, "m1@x", NULL, "Work", NULL);
    rc |= mail(st, BOTH, "Gus <gus@else.example>", "alice@corp.example, bob@corp.example",
	       NULL, "Second", 50, "m2@x", NULL, "Other", NULL);
    /* Replies in date order: each added to the summary as it is. */
    rc |= mail(st, BOTH, "Ida <ida@else.example>", "alice@corp.example", NULL, "Tail", 70,
	       "t1@x", NULL, "INBOX", NULL);
    rc |= mail(st, BOTH, "alice@corp.example", "Ida <IDA@else.example>",
	       "Jon <jon@else.example>, ida@else.example", "Re: Tail", 80, "t2@x", "<t1@x>",
	       "INBOX", NULL);
    rc |= mail(st, BOTH, "Ida Q <ida@else.example>", "alice@corp.example",
	       "Kim <kim@else.example>", "Re: Tail", 90, "t3@x", "<t2@x>", "Fresh,INBOX", NULL);
    rc |= mail(st, ALICE, "alice@corp.example", "ida@else.example", NULL, "Re: Tail", 100,
	       "t4@x", "<t3@x>", "Sent", "hidden2@bcc.example");
    is_int(rc, CS_OK, "the fixture recorded");
    is_int(missing(st), 0, "every thread has its summary after the writer");
    same_read(st, "recorded threads");
    rc = mail(st, BOTH, "Hal <hal@else.example>", "alice@corp.example, bob@corp.example",
	      "carl@acme.example", "Both", 60, "m3@x", "<m1@x> <m2@x>", "Merged", NULL);
    is_int(rc, CS_OK, "a reply to both");
    is_int(missing(st), 0, "the merged thread has its summary");
    same_read(st, "after the merge");
}

/* set_summary - thread (alice, id)'s summary: the first n bytes of text, as text */
static void set_summary(long long id, const char *text, size_t n)
{
    char    sql[10000];
    size_t  k, m;

    m = (size_t) snprintf(sql, sizeof(sql), "UPDATE threads SET summary=CAST(X'");
    for (k = 0; k < n && m + 3 < sizeof(sql) - 100; k++)
	m += (size_t) snprintf(sql + m, sizeof(sql) - m, "%02x", (unsigned char) text[k]);
    snprintf(sql + m, sizeof(sql) - m, "' AS TEXT) WHERE owner='alice' AND id=%lld", id);
    tl_q_exec(sql);
}

/*
 * corrupt - a summary that does not read (every prefix of a real one,
 * lengths past the end, huge counts, bad UTF-8, a NUL) is not used: the
 * thread's messages are read (SQLite: the test writes the rows itself)
 */
static void corrupt(cs_store *st)
{
    static const struct {
	const char *s;
	size_t  n;
    } bad[] = {
#define B(s) {s, sizeof(s) - 1}
	B(""), B("S"), B("S1:"), B("S1:+"), B("S1:+1;"), B("S1:+99999999999999999999;"),
	B("S1:+1;-9:x"), B("S1:+1;-17:alice@corp.example=0;x"), B("S1:+0;1;99:INBOX"),
	B("S1:+0;0;trailing"), B("S1:-0;0;"), B("X1:+0;0;"), B("S1:+-1;0;"),
	B("S1:+1;2:\xff\xfe" "17:alice@corp.example=0;"),
	B("S1:+1;-1:\x01" "=1;5:INB\xc3"), B("S1:+1;-3:a\0b=0;"),
	B("S1:+1;-17:alice@corp.example300:x0;"),
#undef B
    };
    char    real[4096], *want;
    long long id;
    size_t  n, k;
    int     same = 1, tried = 0;

    want = answers(st);
    id = tl_q_int("SELECT id FROM threads WHERE owner='alice' ORDER BY length(summary) DESC,"
		  " id LIMIT 1 OFFSET 1");
    tl_q_col("SELECT summary FROM threads WHERE owner='alice' ORDER BY length(summary) DESC,"
	     " id LIMIT 1 OFFSET 1", 0, real, sizeof(real));
    n = strlen(real);
    ok(n > 50 && n < 1000, "a real summary of %zu bytes", n);
    for (k = 0; k < n; k++, tried++) {
	char   *got;

	set_summary(id, real, k);
	got = answers(st);
	same &= strcmp(got, want) == 0;
	free(got);
    }
    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++, tried++) {
	char   *got;

	set_summary(id, bad[k].s, bad[k].n);
	got = answers(st);
	same &= strcmp(got, want) == 0;
	free(got);
    }
    set_summary(id, real, n);
    ok(same, "%d broken summaries: the answers read from the messages", tried);
    free(want);
}

/* main - the fixture, then the changes that empty summaries */
int     main(void)
{
    char    err[256];
    cs_store *st;
    json_t *out = NULL;

    cs_message_init();
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_summary");
    snprintf(tl_db, sizeof(tl_db), "%s/crmsync.db", tmpdir);
    if (getenv("CS_TEST_DATABASE") && *getenv("CS_TEST_DATABASE")) {
	snprintf(tl_db, sizeof(tl_db), "%s", getenv("CS_TEST_DATABASE"));
	pg = 1;
    }
    st = cs_store_open(tl_db, CS_STORE_CREATE, 5000, err, sizeof(err));
    if (!ok(st != NULL, "store opens")) {
	diag("%s", err);
	return done_testing();
    }
    users(st);
    fixture(st);
    is_int(cs_store_summaries_fill(st, 1000), 0, "fill: nothing missing");

    /* R2: the erased address is in no summary; the lists stay right. */
    is_int(cs_store_subject_erase(st, "dora@else.example", 0, "test", &out), CS_OK, "erase");
    json_decref(out);
    out = NULL;
    if (!pg) {
	/* LIKE ignores ASCII case. */
	is_int(tl_q_int("SELECT count(*) FROM threads WHERE summary LIKE '%dora@else%'"), 0,
	       "R2: no summary holds the erased address");
	ok(missing(st) > 0, "the changed threads' summaries are empty");
    }
    same_read(st, "after an erasure");
    ok(cs_store_summaries_fill(st, 1000) >= 1, "fill writes the missing ones");
    is_int(missing(st), 0, "none missing after the fill");
    if (!pg)
	is_int(tl_q_int("SELECT count(*) FROM threads WHERE summary LIKE '%dora@%'"), 0,
	       "R2: nor after the fill");
    same_read(st, "after the fill");

    /* R1: retention deletes the oldest copies; the lists stay right. */
    {
	cs_retention r[] = {{"alice", 1}};

	is_int(cs_store_retention_run(st, 0, r, 1, BASE + 15 * 60 + 61, 100, 0, &out), CS_OK,
	       "retention");
	ok(json_integer_value(json_object_get(out, "messages_deleted")) > 0,
	   "retention deleted copies");
	json_decref(out);
	out = NULL;
    }
    same_read(st, "after retention");
    ok(cs_store_summaries_fill(st, 1000) >= 0, "fill after retention");
    same_read(st, "after retention and the fill");
    cs_store_close(st);

    /* SQLite: a schema 7 store migrates; its threads have no summary yet. */
    if (!pg) {
	ok(tl_q_exec(TL_SQ_UNDO_8 "PRAGMA user_version=7;") == 0,
	   "back to schema 7");
	st = cs_store_open(tl_db, 0, 5000, err, sizeof(err));
	ok(st != NULL, "schema 7 opens (migrates)");
	is_int(tl_q_int("PRAGMA user_version"), 9, "schema 9");
	ok(missing(st) > 0, "no summaries yet");
	if (st != NULL) {
	    same_read(st, "a migrated store");
	    ok(cs_store_summaries_fill(st, 1000) > 0, "fill after the migration");
	    is_int(missing(st), 0, "none missing");
	    /* Schema 9: the fill's own query reads the partial index, not
	     * every thread (it runs under the write lock). */
	    {
		char    q[512], plan[256];

		snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", st->ops->sql->summary_missing);
		tl_q_col(q, 3, plan, sizeof(plan));
		ok(strstr(plan, "INDEX threads_summary_missing") != NULL ? 1
		   : (diag("plan: %s", plan), 0),
		   "the fill finds threads without a summary by the partial index");
		is_int(tl_q_int("SELECT count(*) FROM threads INDEXED BY threads_summary_missing"
				" WHERE summary IS NULL"), 0, "the index holds none once filled");
	    }
	    same_read(st, "a migrated store, filled");
	    corrupt(st);
	    cs_store_close(st);
	}
    }
    tl_rmtree(tmpdir);
    return done_testing();
}
