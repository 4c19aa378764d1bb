/*
 * NAME
 *	t_answer 1
 * SUMMARY
 *	cs_answer_text() prints what json_dumps(JSON_INDENT(2)) printed
 * DESCRIPTION
 *	crmsyncctl and crmsync-api print every answer with cs_answer_text()
 *	(store/cs_answer.c), which until 2026-12-07 was json_dumps with a
 *	2-space indent and a newline. Its own printer must give the same
 *	bytes, or refuse (NULL) where json_dumps refused. Checked against
 *	json_dumps itself on: strings with every control character,
 *	quotes, backslashes, slashes, DEL, 2-, 3- and 4-byte UTF-8, U+2028,
 *	an embedded NUL; invalid UTF-8 of every kind jansson refuses
 *	(continuation or overlong lead bytes, truncated sequences,
 *	surrogates, past U+10FFFF); empty arrays and objects, integers at
 *	their limits, reals, a top level that is not a container, a cycle
 *	(and a key that is not UTF-8, which json_dumps printed broken and the
 *	printer refuses; the store's keys are constants); 3,000
 *	random trees of random bytes; and the real answers of a store
 *	(mailbox, deal page, thread, empty pages, stats) holding RFC 2047
 *	subjects and names with quotes, backslashes and control
 *	characters.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_answer.h"
#include "cs_store_util.h"
#include "tap.h"
#include "tlib.h"

#define BASE	1704103200

static char tmpdir[256];

/* same_compact - cs_json_write(j, 0) is json_dumps(j, JSON_COMPACT), or both
 * refuse: the store's job texts (cs_store_job.c) are written so */
static int same_compact(const json_t *j)
{
    char   *old;
    cs_buf  b = {0};
    int     w, rc;

    /* Job texts are arrays and objects; json_dumps refuses anything else. */
    if (!json_is_array(j) && !json_is_object(j))
	return 1;
    old = json_dumps(j, JSON_COMPACT);
    w = cs_json_write(&b, j, 0);

    rc = old == NULL ? w < 0 : w == 0 && strcmp(old, b.data ? b.data : "") == 0;
    if (!rc)
	diag("json_dumps compact: %s\nwriter: %s", old ? old : "(refused)",
	     w < 0 ? "(refused)" : b.data ? b.data : "");
    free(old);
    cs_buf_free(&b);
    return rc;
}

/* same - cs_answer_text(j) is json_dumps(j, JSON_INDENT(2)) and a newline,
 * or both refuse; and the compact forms are the same (same_compact) */
static int same(const json_t *j)
{
    char   *old = json_dumps(j, JSON_INDENT(2)), *new;
    size_t  len = 0;
    int     rc;

    new = cs_answer_text(j, &len);
    if (old == NULL || new == NULL)
	rc = old == NULL && new == NULL;
    else
	rc = len == strlen(old) + 1 && memcmp(old, new, len - 1) == 0 && new[len - 1] == '\n'
	    && new[len] == 0;
    if (!rc)
	diag("json_dumps: %s\nprinter: %s", old ? old : "(refused)", new ? new : "(refused)");
    free(old);
    free(new);
    return same_compact(j) && rc;
}

/* str - {"s": the n bytes as a string, unchecked} in an array */
static json_t *str(const char *s, size_t n)
{
    return json_pack("[{s:o}]", "s", json_stringn_nocheck(s, n));
}

/* check_bytes - one string of n bytes prints the same, or is refused by both */
static int check_bytes(const char *s, size_t n, int want_refused, const char *what)
{
    json_t *j = str(s, n);
    char   *old = json_dumps(j, JSON_INDENT(2));
    int     rc;

    rc = ok(same(j) && (old == NULL) == want_refused, "%s", what);
    free(old);
    json_decref(j);
    return rc;
}

/* rnd - a small deterministic generator */
static uint32_t rnd(void)
{
    static uint32_t x = 2463534242u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* rnd_string - random bytes, mostly ASCII, some control, some UTF-8, some broken */
static json_t *rnd_string(void)
{
    static const char *const bits[] = {
	"\"", "\\", "/", "\x7f", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xc0\x80",
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82", "\xff", "=?UTF-8?B?w6k=?=",
    };
    char    buf[64];
    size_t  n = 0, k = rnd() % 12;

    while (k-- > 0 && n < sizeof(buf) - 8) {
	uint32_t r = rnd() % 10;

	if (r < 5)
	    buf[n++] = (char) (0x20 + rnd() % 95);
	else if (r < 7)
	    buf[n++] = (char) (rnd() % 0x20);
	else {
	    const char *b = bits[rnd() % (sizeof(bits) / sizeof(bits[0]))];

	    memcpy(buf + n, b, strlen(b));
	    n += strlen(b);
	}
    }
    /* Mostly checked: broken strings would stop most trees at once. */
    if (rnd() % 8) {
	json_t *j = json_stringn(buf, n);

	return j ? j : json_string("not UTF-8");
    }
    return json_stringn_nocheck(buf, n);
}

/* rnd_tree - a random value of at most depth levels */
static json_t *rnd_tree(int depth)
{
    uint32_t r = rnd() % (depth > 0 ? 9 : 6);
    json_t *j;
    size_t  n, i;

    switch (r) {
    case 0:
	return json_null();
    case 1:
	return json_boolean(rnd() % 2);
    case 2:
	return json_integer((json_int_t) (int32_t) rnd() * (rnd() % 3 ? 1 : 1000003));
    case 3:
	return rnd() % 5 ? rnd_string() : json_real((double) (int32_t) rnd() / 7.0);
    case 4:
    case 5:
	return rnd_string();
    case 6:
    case 7:
	j = json_array();
	for (n = rnd() % 5, i = 0; i < n; i++)
	    json_array_append_new(j, rnd_tree(depth - 1));
	return j;
    default:
	j = json_object();
	for (n = rnd() % 5, i = 0; i < n; i++) {
	    json_t *k = rnd_string();
	    const char *key = json_string_value(k);

	    /* Keys are checked: the store sets only constant ones. */
	    if (key != NULL && strlen(key) == json_string_length(k))
		json_object_set_new(j, key, rnd_tree(depth - 1));
	    json_decref(k);
	}
	return j;
    }
}

/* record - one message as alice's incoming copy */
static int record(cs_store *st, const char *raw)
{
    tl_msg  m;
    cs_copy cp = {.user = "alice", .direction = CS_DIR_IN};
    cs_record rec = {0};
    int     res[1] = {0}, rc;

    tl_msg_init(&m, raw, tmpdir, 1 << 20);
    rec.arrival = m.mi.date + 60;
    rec.source = "smtp";
    rec.env_from = "client@acme.example";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rc = cs_store_record(st, &rec, 5000, res);
    tl_msg_free(&m);
    return rc;
}

/* answer_same - a real answer prints as json_dumps printed it */
static void answer_same(cs_answer *a, const char *what)
{
    if (!ok(a->code == CS_ANS_OK && a->body != NULL, "%s answers", what))
	diag("code %d: %s", a->code, a->message);
    else
	ok(same(a->body), "%s: the same bytes as json_dumps", what);
    cs_answer_reset(a);
}

/*
 * page_same - a page as the answers print it while building it (no
 * tree) is, byte for byte, the tree the store builds for the same page
 * (cs_store_mailbox, cs_store_record_threads) as json_dumps prints it,
 * with the same next cursor; next (may be NULL) gets it
 */
static void page_same(cs_store *st, const char *as, const char *kind, const char *id,
		              const char *label, int limit, const char *cursor, const char *what,
		              char *next, size_t nextlen)
{
    cs_answer a = {0};
    json_t *tree = NULL;
    char   *want = NULL, *got;
    const char *tc;
    size_t  len = 0, i;
    int     rc;

    if (kind) {
	cs_answer_record(st, as, kind, id, limit, cursor, &a);
	rc = cs_store_record_threads(st, as, kind, id, limit, cursor, &tree);
    } else {
	cs_answer_mailbox(st, as, label, limit, cursor, &a);
	rc = cs_store_mailbox(st, as, label, limit, cursor, &tree);
    }
    if (!ok(a.code == CS_ANS_OK && a.text != NULL && a.body == NULL && rc == CS_OK,
	    "%s: printed as built", what)) {
	diag("code %d (%s), tree %d", a.code, a.message, rc);
	goto out;
    }
    tc = json_string_value(json_object_get(tree, "cursor"));
    if ((want = json_dumps(tree, JSON_INDENT(2))) == NULL)
	goto out;
    got = cs_answer_take_text(&a, &len);
    if (!ok(got && len == strlen(want) + 1 && memcmp(got, want, len - 1) == 0
	    && got[len - 1] == '\n' && strlen(got) == len, "%s: the tree's bytes", what)) {
	for (i = 0; got && i < len && got[i] == want[i]; i++)
	     /* void */ ;
	diag("first difference at byte %zu:\n--- printed:\n%.200s\n--- tree:\n%.200s", i,
	     got ? got + i : "(none)", want + (i < strlen(want) ? i : strlen(want)));
    }
    free(got);
    ok(strcmp(a.cursor, tc ? tc : "") == 0, "%s: the tree's cursor (%s)", what, a.cursor);
    if (next)
	snprintf(next, nextlen, "%s", a.cursor);
out:
    free(want);
    json_decref(tree);
    cs_answer_reset(&a);
}

/* page_error - a page's error answer: the code and message, no body */
static void page_error(cs_store *st, const char *as, const char *kind, const char *id,
		               const char *cursor, int code, const char *message, const char *what)
{
    cs_answer a = {0};

    if (kind)
	cs_answer_record(st, as, kind, id, 2, cursor, &a);
    else
	cs_answer_mailbox(st, as, NULL, 2, cursor, &a);
    if (!ok(a.code == code && a.text == NULL && a.body == NULL
	    && strcmp(a.message, message) == 0, "%s: %s", what, message))
	diag("code %d: %s", a.code, a.message);
    cs_answer_reset(&a);
}

/* store_answers - a store's answers with hostile text in them */
static void store_answers(void)
{
    static const char *const subjects[] = {
	"=?UTF-8?B?w4Rwb3N0cm9waGUgJyBhbmQgIlF1b3RlcyI=?=",	/* Äpostrophe ' and "Quotes" */
	"=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=",
	"=?UTF-8?Q?tab=09bell=07nul=00end?=",
	"back\\slash /slash \"quoted\" \x7f",
	"=?UTF-8?B?8J+YgCBlbW9qaSDigKggbGluZSBzZXA=?=",	/* 😀 emoji, U+2028 */
	"=?UTF-8?B?/w==?= broken encoded word",
    };
    const char *users[] = {"alice", "bob"};
    char    err[256], raw[2048], msgid[64], thread[32], next[128];
    cs_user u[2];
    const cs_user *up[2];
    cs_answer a = {0};
    cs_store *st;
    json_t *j;

    snprintf(tl_db, sizeof(tl_db), "%s/crmsync.db", tmpdir);
    if (getenv("CS_TEST_DATABASE") && *getenv("CS_TEST_DATABASE"))
	snprintf(tl_db, sizeof(tl_db), "%s", getenv("CS_TEST_DATABASE"));
    if (!ok((st = cs_store_open(tl_db, CS_STORE_CREATE, 5000, err, sizeof(err))) != NULL,
	    "store opens"))
	return;
    memset(u, 0, sizeof(u));
    for (int i = 0; i < 2; i++) {
	char    addr[64];

	snprintf(addr, sizeof(addr), "%s@corp.example", users[i]);
	u[i].id = (char *) users[i];
	u[i].role = CS_ROLE_USER;
	cs_strlist_add(&u[i].addresses, addr);
	up[i] = &u[i];
    }
    is_int(cs_store_sync_users2(st, up, 2), CS_OK, "users");
    for (int i = 0; i < 2; i++)
	cs_strlist_free(&u[i].addresses);
    j = json_loads("{\"persons\": [{\"id\": \"p1\", \"name\": \"Carl \\\"C\\\" \\\\ K\\u00f6\","
		   " \"emails\": [\"client@acme.example\"], \"access\": [\"alice\"]}],"
		   " \"deals\": [{\"id\": \"d1\", \"title\": \"R\", \"status\": \"open\","
		   " \"persons\": [\"p1\"], \"access\": [\"alice\"]},"
		   " {\"id\": \"d2\", \"title\": \"empty\", \"status\": \"open\","
		   " \"persons\": [], \"access\": [\"alice\"]}]}", 0, NULL);
    {
	json_t *out = NULL;

	is_int(cs_store_directory_import(st, j, &out, err, sizeof(err)), CS_OK, "directory");
	json_decref(out);
    }
    json_decref(j);
    /* Empty lists first: the mailbox and a deal without threads. */
    page_same(st, "alice", NULL, NULL, NULL, 50, NULL, "an empty mailbox", NULL, 0);
    page_same(st, "alice", "deal", "d2", NULL, 50, NULL, "a deal without threads", NULL, 0);
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
	snprintf(msgid, sizeof(msgid), "m%zu@acme.example", i);
	snprintf(raw, sizeof(raw),
		 "From: =?UTF-8?Q?Carl_=22C=22_=5C_K=C3=B6?= <client@acme.example>\r\n"
		 "To: \"Alice \\\"A\\\" \\\\ Ünicode\" <alice@corp.example>,"
		 " =?UTF-8?B?Qm9iIAcgYmVsbA==?= <bob@corp.example>\r\n"
		 "Cc: \"Tab\tName\" <cc@other.example>, <bare@other.example>\r\n"
		 "Subject: %s\r\nDate: Mon, 1 Jan 2024 10:%02zu:00 +0000\r\n"
		 "Message-ID: <%s>\r\n%s%s%s\r\nHello.\r\n", subjects[i], i, msgid,
		 i ? "In-Reply-To: <m" : "", i ? "0@acme.example>" : "", i ? "\r\n" : "");
	ok(record(st, raw) == CS_OK, "recorded message %zu", i);
	snprintf(msgid, sizeof(msgid), "n%zu@acme.example", i);
	snprintf(raw, sizeof(raw),
		 "From: \"Nobody\" <n@else.example>\r\nTo: alice@corp.example\r\n"
		 "Subject: %s\r\nDate: Mon, 1 Jan 2024 11:%02zu:00 +0000\r\n"
		 "Message-ID: <%s>\r\n\r\nHi.\r\n", subjects[i], i, msgid);
	ok(record(st, raw) == CS_OK, "recorded thread %zu", i);
    }
    thread[0] = 0;
    if (cs_store_mailbox(st, "alice", NULL, 50, NULL, &j) == CS_OK) {
	json_t *l = json_object_get(j, "threads");

	snprintf(thread, sizeof(thread), "%s",
		 json_string_value(json_object_get(json_array_get(l, json_array_size(l) - 1),
						   "id")));
	json_decref(j);
    }
    page_same(st, "alice", NULL, NULL, NULL, 50, NULL, "the mailbox", NULL, 0);
    page_same(st, "bob", NULL, NULL, NULL, 50, NULL, "bob's mailbox", NULL, 0);
    page_same(st, "alice", NULL, NULL, NULL, 2, NULL, "a mailbox page with a cursor", next,
	      sizeof(next));
    page_same(st, "alice", NULL, NULL, NULL, 2, next, "the mailbox's second page", NULL, 0);
    page_same(st, "alice", NULL, NULL, "Nothing", 2, NULL, "a label with no threads", NULL, 0);
    page_same(st, "alice", "deal", "d1", NULL, 50, NULL, "the deal page", NULL, 0);
    page_same(st, "alice", "deal", "d1", NULL, 3, NULL, "a deal page with a cursor", next,
	      sizeof(next));
    page_same(st, "alice", "deal", "d1", NULL, 3, next, "the deal's second page", NULL, 0);
    page_same(st, "alice", "person", "p1", NULL, 50, NULL, "the person page", NULL, 0);
    /* Errors as they were: no body, X1's messages. */
    page_error(st, "alice", NULL, NULL, "zz", CS_ANS_BADINPUT, "bad cursor", "mailbox");
    page_error(st, "nobody", NULL, NULL, NULL, CS_ANS_NOTFOUND, "cannot list the mailbox",
	       "mailbox of nobody");
    page_error(st, "bob", "deal", "d1", NULL, CS_ANS_NOTFOUND, "deal d1 not found",
	       "a deal bob may not access");
    page_error(st, "alice", "person", "p1", "zz", CS_ANS_BADINPUT, "bad cursor", "person");
    cs_answer_thread(st, "alice", thread, 0, &a);
    answer_same(&a, "a thread");
    cs_answer_thread(st, "alice", thread, 1, &a);
    answer_same(&a, "a thread's raw messages");
    cs_answer_stats(st, &a);
    answer_same(&a, "stats");
    cs_store_close(st);
}

/* main - the cases, then random trees, then a store's answers */
int     main(void)
{
    json_t *j;
    char    c[2], what[64];
    int     n_same = 0, i;

    cs_message_init();
    for (i = 1; i < 0x20; i++) {
	c[0] = (char) i;
	snprintf(what, sizeof(what), "control character 0x%02x", i);
	check_bytes(c, 1, 0, what);
    }
    check_bytes("\0", 1, 0, "an embedded NUL");
    check_bytes("\"quoted\" back\\slash /slash \x7f", 28, 0, "quotes, backslash, slash, DEL");
    check_bytes("K\xc3\xb6ln \xe2\x80\xa8 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 19, 0,
		"2-, 3-, 4-byte UTF-8, U+2028, U+10FFFF as they are");
    check_bytes("a\x80", 2, 1, "a lone continuation byte refused");
    check_bytes("\xc0\x80", 2, 1, "an overlong NUL refused");
    check_bytes("\xc1\xbf", 2, 1, "an overlong 2-byte lead refused");
    check_bytes("\xe0\x80\xaf", 3, 1, "an overlong 3-byte sequence refused");
    check_bytes("\xf0\x80\x80\xaf", 4, 1, "an overlong 4-byte sequence refused");
    check_bytes("\xed\xa0\x80", 3, 1, "a surrogate refused");
    check_bytes("\xf4\x90\x80\x80", 4, 1, "past U+10FFFF refused");
    check_bytes("\xf5\x80\x80\x80", 4, 1, "a 0xF5 lead refused");
    check_bytes("\xff", 1, 1, "0xFF refused");
    check_bytes("ok \xe2\x82", 5, 1, "a truncated sequence refused");
    check_bytes("\xc3(", 2, 1, "a bad continuation refused");
    j = json_pack("{s:[], s:{}, s:[[], {}, [[]]], s:I, s:I, s:I, s:f, s:f, s:n, s:b, s:b}",
		  "a", "o", "nest", "max", (json_int_t) INT64_MAX, "min", (json_int_t) INT64_MIN,
		  "zero", (json_int_t) 0, "real", 1.5, "whole", 3.0, "null", "t", 1, "f", 0);
    ok(same(j), "empty containers, integers at their limits, reals, literals");
    json_decref(j);
    j = json_object();
    json_object_set_new_nocheck(j, "key \"with\"\n\\ \xc3\xa9", json_true());
    ok(same(j), "an escaped key");
    json_decref(j);
    /*
     * The one difference: json_dumps printed a key that is not UTF-8 up to
     * the bad byte, without its closing quote, and went on (it ignores
     * that error for keys): broken JSON. Such a key takes
     * json_object_set_new_nocheck, which the store uses only with
     * constant keys; the printer refuses it.
     */
    j = json_object();
    json_object_set_new_nocheck(j, "bad \xff key", json_true());
    ok(cs_answer_text(j, NULL) == NULL, "a key that is not UTF-8 refused");
    json_decref(j);
    j = json_array();
    ok(same(j), "an empty top-level array");
    json_decref(j);
    j = json_string("top");
    ok(same(j) && cs_answer_text(j, NULL) == NULL, "a top-level string refused as json_dumps does");
    json_decref(j);
    j = json_integer(1);
    ok(same(j), "a top-level integer refused");
    json_decref(j);
    {
	/* A cycle: jansson's dump refuses it; the writer, at CS_JSON_DEPTH. */
	json_t *inner = json_array();
	cs_buf  buf = {0};

	j = json_array();
	json_array_append(j, inner);
	json_array_append(inner, j);
	ok(same(j) && cs_answer_text(j, NULL) == NULL, "a cycle refused as json_dumps does");
	ok(cs_json_write(&buf, j, CS_JSON_ASCII) < 0, "a cycle refused when compact too");
	cs_buf_free(&buf);
	json_array_clear(inner);
	json_decref(inner);
	json_decref(j);
    }
    for (i = 0; i < 3000; i++) {
	json_t *t = rnd() % 2 ? json_array() : json_object();

	for (int k = rnd() % 4; k >= 0; k--) {
	    if (json_is_array(t))
		json_array_append_new(t, rnd_tree(4));
	    else
		json_object_set_new(t, k % 2 ? "threads" : "x", rnd_tree(4));
	}
	n_same += same(t);
	json_decref(t);
    }
    is_int(n_same, 3000, "3,000 random trees print the same (or are refused alike)");
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_answer");
    store_answers();
    tl_rmtree(tmpdir);
    return done_testing();
}
