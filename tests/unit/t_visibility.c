/*
 * NAME
 *	t_visibility 1
 * SUMMARY
 *	unit tests of the store's visibility and owner actions (SPEC V1-V7,
 *	C3, T3, K2, K3, K5, X2)
 * DESCRIPTION
 *	A fresh store in a temporary directory: users alice, bob and carol
 *	(admin); the CRM directory has person p1 (client@acme.example, access
 *	alice and bob) and open deal d1 (p1, access alice). Messages are
 *	recorded through cs_store_record(); rows are checked with a second,
 *	plain SQLite connection.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "tap.h"
#include "tlib.h"

#define BASE	1704103200

static char tmpdir[256];

/* record_k - one raw message as a copy for each user, with K2 contacts */
static int record_k(cs_store *st, const char *raw, const char *const *users,
		            const cs_contact *k, size_t nk)
{
    tl_msg  m;
    cs_copy cp[4] = {{0}};
    cs_record rec = {0};
    int     res[4] = {0}, rc;
    size_t  n = 0;

    tl_msg_init(&m, raw, tmpdir, 1 << 20);
    for (; users[n] && n < 4; n++) {
	cp[n].user = users[n];
	cp[n].direction = CS_DIR_IN;
    }
    rec.arrival = m.mi.date + 60;
    rec.source = "smtp";
    rec.env_from = "client@acme.example";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = cp;
    rec.ncopies = n;
    rec.contacts = k;
    rec.ncontacts = nk;
    rc = cs_store_record(st, &rec, 5000, res);
    tl_msg_free(&m);
    return rc;
}

/* record - one raw message as a copy for each user in users (NULL-ended) */
static int record(cs_store *st, const char *raw, const char *const *users)
{
    return record_k(st, raw, users, NULL, 0);
}

/* mk - a message with an optional In-Reply-To */
static char *mk(const char *from, const char *to, const char *subject, const char *msgid,
		        const char *irt, time_t date, const char *body)
{
    char    hdr[512] = "";

    if (irt)
	snprintf(hdr, sizeof(hdr), "In-Reply-To: <%s>\r\n", irt);
    return tl_mk(from, to, subject, date, msgid, hdr, body);
}

/* jstr - a JSON value as compact text (freed by the next call's caller) */
static char *jstr(json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(null)");
}

/* is_json - compare a JSON value's compact text */
static void is_json(json_t *j, const char *want, const char *what)
{
    char   *s = jstr(j);

    is_str(s, want, what);
    free(s);
}

/* tid_of - "t<n>" of the thread with this subject and owner */
static void tid_of(const char *owner, const char *subject, char *out, size_t len)
{
    snprintf(out, len, "t%lld", tl_q_intf("SELECT id FROM threads WHERE owner='%s' AND subject='%s'",
				      owner, subject));
}

static const char *const ALICE[] = {"alice", NULL};
static const char *const BOTH[] = {"alice", "bob", NULL};

/* directory - the standard snapshot */
static int directory(cs_store *st, const char *extra_person_email)
{
    char    err[256];
    json_t *snap, *out = NULL;
    int     rc;

    snap = json_pack("{s:[{s:s,s:s,s:[s],s:[s,s]}],s:[{s:s,s:s,s:s,s:[s],s:[s]}]}",
		     "persons", "id", "p1", "name", "Carl", "emails", "client@acme.example",
		     "access", "alice", "bob",
		     "deals", "id", "d1", "title", "Renewal", "status", "open", "persons", "p1",
		     "access", "alice");
    if (extra_person_email)
	json_array_append_new(json_object_get(snap, "persons"),
			      json_pack("{s:s,s:s,s:[s],s:[s]}", "id", "crm9", "name", "CRM Nine",
					"emails", extra_person_email, "access", "alice"));
    rc = cs_store_directory_import(st, snap, &out, err, sizeof(err));
    if (rc != CS_OK)
	diag("directory: %s", err);
    json_decref(snap);
    json_decref(out);
    return rc;
}

/* bad_dir - a malformed snapshot must be refused with this message */
static void bad_dir(cs_store *st, const char *text, const char *want)
{
    char    err[256] = "";
    json_t *snap = json_loads(text, 0, NULL), *out = NULL;
    int     rc = cs_store_directory_import(st, snap, &out, err, sizeof(err));

    ok(rc == CS_EINVAL && out == NULL, "X2 refuses %s", want);
    is_str(err, want, "X2 names the path");
    json_decref(snap);
}

/*
 * page_walk - every thread id on a record's page as "t1 t2 ...", read in
 * pages of limit through the cursors; "ERR..." if a page breaks a rule
 */
static char *page_walk(cs_store *st, const char *as, const char *kind, const char *rid,
		               int limit)
{
    cs_buf  b = {0};
    char   *cursor = NULL, *res;
    int     pages = 0;

    do {
	json_t *out = NULL, *list, *cur, *t;
	size_t  i;

	if (cs_store_record_threads(st, as, kind, rid, limit, cursor, &out) != CS_OK) {
	    free(cursor);
	    cs_buf_free(&b);
	    return strdup("ERR: query failed");
	}
	free(cursor);
	cursor = NULL;
	list = json_object_get(out, "threads");
	cur = json_object_get(out, "cursor");
	/* A full page may have a cursor; a short one never has. */
	if (json_array_size(list) > (size_t) limit
	    || (json_is_string(cur) && json_array_size(list) != (size_t) limit)
	    || ++pages > 100) {
	    json_decref(out);
	    cs_buf_free(&b);
	    return strdup("ERR: bad page");
	}
	json_array_foreach(list, i, t) {
	    cs_buf_appendf(&b, "%s%s", b.len ? " " : "",
			   json_string_value(json_object_get(t, "id")));
	}
	if (json_is_string(cur))
	    cursor = strdup(json_string_value(cur));
	json_decref(out);
    } while (cursor);
    res = strdup(b.len ? b.data : "");
    cs_buf_free(&b);
    return res;
}

/* is_page - the page read with limits 1, 2, 3 and 50 is want each time */
static void is_page(cs_store *st, const char *as, const char *kind, const char *rid,
		            const char *want, const char *what)
{
    static const int limits[] = {1, 2, 3, 50};

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
	char   *got = page_walk(st, as, kind, rid, limits[i]), name[256];

	snprintf(name, sizeof(name), "%s (limit %d)", what, limits[i]);
	is_str(got, want, name);
	free(got);
    }
}

/* tids - "tN tN ..." of threads named by subject, owner alice */
static void tids(char *out, size_t len, const char *const *subjects)
{
    char    one[32];

    out[0] = 0;
    for (size_t i = 0; subjects[i]; i++) {
	tid_of("alice", subjects[i], one, sizeof(one));
	snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", one);
    }
}

/*
 * test_page_order - deal and person pages in last_date order (newest
 * first, ties by id) through every change that moves a thread: a reply,
 * a hand link, a merge (T1), share and private (V3, V5), delete. The
 * page reads copies of the thread's last_date and visibility kept on
 * its links; each step fails if a copy went stale.
 */
static void test_page_order(cs_store *st)
{
    static const char *const s1324[] = {"Page one", "Page three", "Page two", "Page four", NULL};
    static const char *const s4132[] = {"Page four", "Page one", "Page three", "Page two", NULL};
    static const char *const s4s132[] = {"Page four", "Side", "Page one", "Page three",
	"Page two", NULL};
    const char *subj[] = {"Page one", "Page two", "Page three", "Page four"};
    const char *ids[] = {"pg1@acme.example", "pg2@acme.example", "pg3@acme.example",
	"pg4@acme.example"};
    /* Dates against the order of ids: a link dated wrong is seen. */
    const time_t dates[] = {BASE + 30000, BASE + 20000, BASE + 20000, BASE + 10000};
    char    want[256], m[32], p4[32], p3[32], side[32], err[256];
    json_t *out = NULL;
    char   *raw;

    for (int i = 0; i < 4; i++) {
	raw = mk("Carl <client@acme.example>", "alice@corp.example", subj[i], ids[i], NULL,
		 dates[i], "Page text.");
	is_int(record(st, raw, ALICE), CS_OK, "pages: one more linked thread recorded");
	free(raw);
    }
    /* Two and three share a date: the higher id comes first. */
    tids(want, sizeof(want), s1324);
    is_page(st, "alice", "deal", "d1", want, "pages: d1 newest first, ties by id");
    is_page(st, "alice", "person", "p1", want, "pages: p1 the same");
    is_page(st, "bob", "person", "p1", "", "pages: bob sees none of alice's private ones");

    /* A reply to the oldest moves it to the top. */
    raw = mk("Carl <client@acme.example>", "alice@corp.example", "Re: Page four",
	     "pg4r@acme.example", "pg4@acme.example", BASE + 40000, "Reply.");
    is_int(record(st, raw, ALICE), CS_OK, "pages: a reply to Page four");
    free(raw);
    tids(want, sizeof(want), s4132);
    is_page(st, "alice", "deal", "d1", want, "pages: the reply moved Page four to the top");

    /* A thread linked by hand later takes its place by date. */
    raw = mk("Zed <zed@else.example>", "alice@corp.example", "Side", "side@else.example", NULL,
	     BASE + 35000, "Side text.");
    is_int(record(st, raw, ALICE), CS_OK, "pages: an unlinked thread");
    free(raw);
    tid_of("alice", "Side", side, sizeof(side));
    is_int(cs_store_link(st, "alice", side, "deal", "d1", 0, &out, err, sizeof(err)), CS_OK,
	   "pages: alice links it to d1 by hand");
    json_decref(out);
    out = NULL;
    tids(want, sizeof(want), s4s132);
    is_page(st, "alice", "deal", "d1", want, "pages: the hand-linked thread by its date");

    /* T1: a message naming one and two merges them, newest of all. */
    raw = mk("Carl <client@acme.example>", "alice@corp.example", "Re: Page two",
	     "pg5@acme.example",
	     "pg2@acme.example>\r\nReferences: <pg1@acme.example> <pg2@acme.example",
	     BASE + 45000, "Both.");
    is_int(record(st, raw, ALICE), CS_OK, "pages: a message joining two threads");
    free(raw);
    snprintf(m, sizeof(m), "t%lld", tl_q_intf("SELECT thread FROM messages WHERE owner='alice'"
					  " AND message_id LIKE '%%pg5@acme.example%%'"));
    is_int(tl_q_intf("SELECT count(DISTINCT thread) FROM messages WHERE owner='alice' AND"
		 " (message_id LIKE '%%pg1@%%' OR message_id LIKE '%%pg2@%%'"
		 " OR message_id LIKE '%%pg5@%%')"), 1, "pages: T1 merged them");
    tid_of("alice", "Page four", p4, sizeof(p4));
    tid_of("alice", "Page three", p3, sizeof(p3));
    snprintf(want, sizeof(want), "%s %s %s %s", m, p4, side, p3);
    is_page(st, "alice", "deal", "d1", want, "pages: the merged thread on top, once");
    snprintf(want, sizeof(want), "%s %s %s", m, p4, p3);
    is_page(st, "alice", "person", "p1", want, "pages: p1 without the hand-linked one");

    /* V3, V5: sharing shows a thread to bob (access to p1) at once. */
    {
	const char *one[] = {p3};

	is_int(cs_store_threads_set(st, "alice", CS_THREADS_SHARE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "pages: alice shares Page three");
	json_decref(out);
	out = NULL;
	is_page(st, "bob", "person", "p1", p3, "pages: bob sees the shared one");
	is_int(cs_store_threads_set(st, "alice", CS_THREADS_PRIVATE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "pages: private again");
	json_decref(out);
	out = NULL;
	is_page(st, "bob", "person", "p1", "", "pages: gone for bob at once");
	one[0] = m;
	is_int(cs_store_threads_set(st, "alice", CS_THREADS_SHARE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "pages: alice shares the merged thread");
	json_decref(out);
	out = NULL;
	one[0] = p3;
	is_int(cs_store_threads_set(st, "alice", CS_THREADS_SHARE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "pages: and Page three again");
	json_decref(out);
	out = NULL;
	snprintf(want, sizeof(want), "%s %s", m, p3);
	is_page(st, "bob", "person", "p1", want, "pages: bob sees both, in order");
	/* A link added to a thread already shared is shared from the start. */
	is_int(cs_store_link(st, "alice", p3, "person", "p1", 1, &out, err, sizeof(err)), CS_OK,
	       "pages: alice unlinks Page three from p1");
	json_decref(out);
	out = NULL;
	is_page(st, "bob", "person", "p1", m, "pages: off bob's p1 page");
	is_int(cs_store_link(st, "alice", p3, "person", "p1", 0, &out, err, sizeof(err)), CS_OK,
	       "pages: and links it again");
	json_decref(out);
	out = NULL;
	is_page(st, "bob", "person", "p1", want, "pages: back on bob's page at once");
	is_int(cs_store_record_threads(st, "bob", "deal", "d1", 50, NULL, &out), CS_ENOTFOUND,
	       "pages: still no d1 page for bob");
	json_decref(out);
	out = NULL;

	/* Delete: off every page. */
	one[0] = m;
	is_int(cs_store_threads_set(st, "alice", CS_THREADS_DELETE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "pages: alice deletes the merged thread");
	json_decref(out);
	out = NULL;
	is_page(st, "bob", "person", "p1", p3, "pages: bob's page without it");
	snprintf(want, sizeof(want), "%s %s %s", p4, side, p3);
	is_page(st, "alice", "deal", "d1", want, "pages: alice's d1 without it");
    }
    is_int(tl_q_intf("SELECT count(*) FROM thread_links tl JOIN threads t ON t.owner=tl.owner"
		 " AND t.id=tl.thread WHERE tl.last_date<>t.last_date"
		 " OR tl.visibility<>t.visibility"), 0, "pages: no link's copies are stale");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links tl WHERE NOT EXISTS (SELECT 1 FROM threads t"
		 " WHERE t.owner=tl.owner AND t.id=tl.thread)"), 0, "pages: no link without a thread");
}

/* share1 - one thread shared by its owner */
static int share1(cs_store *st, const char *as, const char *t)
{
    const char *one[] = {t};
    char    err[256];
    json_t *out = NULL;
    int     rc = cs_store_threads_set(st, as, CS_THREADS_SHARE, one, 1, &out, err, sizeof(err));

    json_decref(out);
    return rc;
}

/* vis_events - thread.visibility_changed events to private of one thread */
static long long vis_events(const char *t)
{
    return tl_q_intf("SELECT count(*) FROM events WHERE type='thread.visibility_changed'"
		 " AND thread=%s AND payload LIKE '%%private%%'", t + 1);
}

/*
 * test_merge_events - V7: a merge that makes shared threads private
 * announces each of them, wherever it stands among the merged threads
 * (In-Reply-To first, References after; the oldest survives).
 */
static void test_merge_events(cs_store *st)
{
    char    a[32], b[32], c[32], d[32], *raw;

    /* Case 1: private oldest A survives; the shared B folded into it. */
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge A", "ma1@far.example",
	     NULL, BASE + 20000, "A.");
    record(st, raw, ALICE);
    free(raw);
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge B", "mb1@far.example",
	     NULL, BASE + 20100, "B.");
    record(st, raw, ALICE);
    free(raw);
    tid_of("alice", "Merge A", a, sizeof(a));
    tid_of("alice", "Merge B", b, sizeof(b));
    is_int(share1(st, "alice", b), CS_OK, "V7: alice shares B");
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge both",
	     "mab@far.example", "ma1@far.example>\r\nReferences: <mb1@far.example",
	     BASE + 20200, "Both.");
    is_int(record(st, raw, ALICE), CS_OK, "T1: a message naming A and B");
    free(raw);
    is_int(tl_q_intf("SELECT count(*) FROM threads WHERE owner='alice' AND id IN (%s, %s)",
		 a + 1, b + 1), 1, "T1: A and B merged");
    is_int(tl_q_intf("SELECT count(*) FROM threads WHERE id=%s AND visibility='private'", a + 1), 1,
	   "V3: the merge is private");
    is_int(vis_events(b), 1, "V7: shared B folded into private A: thread.visibility_changed");
    is_int(vis_events(a), 0, "V7: A stayed private: no event");

    /* Case 2: shared oldest C survives, named after the private D. */
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge C", "mc1@far.example",
	     NULL, BASE + 21000, "C.");
    record(st, raw, ALICE);
    free(raw);
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge D", "md1@far.example",
	     NULL, BASE + 21100, "D.");
    record(st, raw, ALICE);
    free(raw);
    tid_of("alice", "Merge C", c, sizeof(c));
    tid_of("alice", "Merge D", d, sizeof(d));
    is_int(share1(st, "alice", c), CS_OK, "V7: alice shares C");
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Merge again",
	     "mcd@far.example", "md1@far.example>\r\nReferences: <mc1@far.example",
	     BASE + 21200, "Again.");
    is_int(record(st, raw, ALICE), CS_OK, "T1: a message naming D, then C");
    free(raw);
    is_int(tl_q_intf("SELECT count(*) FROM threads WHERE id=%s AND visibility='private'", c + 1), 1,
	   "V3: C merged with private D is private");
    is_int(vis_events(c), 1, "V7: shared C, not first in the list, announced private");
    is_int(vis_events(d), 0, "V7: D stayed private: no event");
}

/*
 * test_shared_join - T3: a message joining a shared thread gets no
 * automatic links, so naming a CRM person in a reply cannot widen who
 * reads the thread's history.
 */
static void test_shared_join(cs_store *st)
{
    char    t[32], *raw;
    json_t *out = NULL;

    raw = mk("Quinn <quinn@far.example>", "alice@corp.example", "Shared talk",
	     "st1@far.example", NULL, BASE + 30000, "Secret history.");
    record(st, raw, ALICE);
    free(raw);
    tid_of("alice", "Shared talk", t, sizeof(t));
    is_int(share1(st, "alice", t), CS_OK, "T3: alice shares a thread linked to nothing");
    raw = mk("Quinn <quinn@far.example>", "alice@corp.example, Carl <client@acme.example>",
	     "Re: Shared talk", "st2@far.example", "st1@far.example", BASE + 30100, "Cc Carl.");
    is_int(record(st, raw, ALICE), CS_OK, "T3: a reply Cc's p1's address");
    free(raw);
    is_int(tl_q_intf("SELECT message_count FROM threads WHERE id=%s", t + 1), 2,
	   "T1: the reply joined the shared thread");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND thread=%s", t + 1), 0,
	   "T3: no automatic link on a shared thread");
    is_int(tl_q_intf("SELECT count(*) FROM events WHERE type='thread.linked' AND thread=%s", t + 1), 0,
	   "T3: no thread.linked event");
    is_int(cs_store_thread(st, "bob", t, &out), CS_ENOTFOUND,
	   "T3, V6: bob (access to p1) still cannot open it");
    json_decref(out);
}

/* contact - K3 through the store: the answer (caller frees) or NULL */
static json_t *contact(cs_store *st, const char *as, const char *t, const char *addr,
		               const char *name, int *rc)
{
    char    err[256] = "";
    json_t *out = NULL;

    *rc = cs_store_contact_create(st, as, t, addr, name, &out, err, sizeof(err));
    if (*rc != CS_OK)
	diag("contact create: %s", err);
    return out;
}

/* pid_of - the answer's person id, "" if none */
static const char *pid_of(json_t *ans)
{
    const char *id = json_string_value(json_object_get(json_object_get(ans, "person"), "id"));

    return id ? id : "";
}

/* without_id - the answer's text with person.id left out */
static char *without_id(json_t *ans)
{
    json_t *c = json_deep_copy(ans);
    char   *s;

    json_object_del(json_object_get(c, "person"), "id");
    s = jstr(c);
    json_decref(c);
    return s;
}

/*
 * test_k5 - K2, K3, K5: crmsync never grants access to an existing
 * person. A user asking a contact for an address another user's person
 * or a CRM person holds gets a person of their own, answered exactly as
 * for an address nobody knew; Smart BCC by two users makes one each;
 * T3 matches each owner's own; a snapshot bringing the address under a
 * CRM id takes every one of them over (X2).
 */
static void test_k5(cs_store *st)
{
    static const char *const BOB[] = {"bob", NULL};
    char    zb[32], za[32], sb[32], want[256], *raw, *s;
    char    pzb[64] = "", pza[64] = "";
    json_t *ans, *out = NULL;
    int     rc;

    /* Bob makes "Zed by Bob" from his thread and shares it. */
    raw = mk("Zed <zed@outside.example>", "bob@corp.example", "Zed B", "zb1@outside.example",
	     NULL, BASE + 40000, "Bob's business with Zed.");
    record(st, raw, BOB);
    free(raw);
    tid_of("bob", "Zed B", zb, sizeof(zb));
    ans = contact(st, "bob", zb, "zed@outside.example", "Zed by Bob", &rc);
    is_int(rc, CS_OK, "K3: bob makes a person for zed");
    snprintf(pzb, sizeof(pzb), "%s",
	     pid_of(ans));
    json_decref(ans);
    is_int(share1(st, "bob", zb), CS_OK, "bob shares his Zed thread (linked to his person)");

    /* Alice asks for zed too: a person of her own, nothing of bob's. */
    raw = mk("Zed <zed@outside.example>", "alice@corp.example", "Zed A", "za1@outside.example",
	     NULL, BASE + 40100, "Alice's business with Zed.");
    record(st, raw, ALICE);
    free(raw);
    tid_of("alice", "Zed A", za, sizeof(za));
    ans = contact(st, "alice", za, "zed@outside.example", NULL, &rc);
    is_int(rc, CS_OK, "K5: alice asks a contact for an address bob's person holds");
    snprintf(pza, sizeof(pza), "%s",
	     pid_of(ans));
    ok(*pza && strcmp(pza, pzb) != 0, "K5: alice gets a person of her own (%s, not %s)", pza,
       pzb);
    s = without_id(ans);
    snprintf(want, sizeof(want), "{\"person\":{\"name\":\"Zed\",\"address\":"
	     "\"zed@outside.example\"},\"created\":true,\"thread\":\"%s\"}", za);
    is_str(s, want, "K5: answered as for an address nobody knew (no name of bob's)");
    free(s);
    json_decref(ans);
    is_int(tl_q_intf("SELECT count(*) FROM access WHERE \"user\"='alice' AND id='%s'", pzb), 0,
	   "K5: alice was given no access to bob's person");
    is_int(cs_store_record_threads(st, "alice", "person", pzb, 0, NULL, &out), CS_ENOTFOUND,
	   "K5, V6: bob's person is not found for alice");
    json_decref(out);
    out = NULL;
    is_int(cs_store_thread(st, "alice", zb, &out), CS_ENOTFOUND,
	   "K5, V6: nor is bob's shared thread on it");
    json_decref(out);
    out = NULL;
    is_int(tl_q_intf("SELECT count(*) FROM person_emails WHERE email='zed@outside.example'"), 2,
	   "K5: two persons with zed's address, one per owner");

    /* T3: a message to both links each copy to its owner's own person. */
    raw = mk("Zed <zed@outside.example>", "alice@corp.example, bob@corp.example", "Zed both",
	     "zab@outside.example", NULL, BASE + 40200, "To both.");
    record(st, raw, BOTH);
    free(raw);
    is_int(tl_q_intf("SELECT count(*) FROM thread_links l JOIN threads t ON t.owner=l.owner"
		 " AND t.id=l.thread WHERE t.subject='Zed both' AND l.kind='person'"
		 " AND ((l.owner='alice' AND l.id='%s') OR (l.owner='bob' AND l.id='%s'))",
		 pza, pzb), 2, "T3: each copy linked to its owner's person");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links l JOIN threads t ON t.owner=l.owner"
		 " AND t.id=l.thread WHERE t.subject='Zed both' AND l.kind='person'"), 2,
	   "T3: and to no one else's");

    /* A CRM person (crm9, stan@, alice only): bob gets his own, no forbidden. */
    raw = mk("Stan S <stan@other.example>", "bob@corp.example", "Stan B",
	     "sb1@other.example", NULL, BASE + 40300, "Stan to bob.");
    record(st, raw, BOB);
    free(raw);
    tid_of("bob", "Stan B", sb, sizeof(sb));
    ans = contact(st, "bob", sb, "stan@other.example", NULL, &rc);
    is_int(rc, CS_OK, "K5, V6: an address of a CRM person bob may not access: no forbidden");
    ok(*pid_of(ans) && strcmp(pid_of(ans), "crm9") != 0, "K5: bob's own person, not crm9");
    s = without_id(ans);
    snprintf(want, sizeof(want), "{\"person\":{\"name\":\"Stan S\",\"address\":"
	     "\"stan@other.example\"},\"created\":true,\"thread\":\"%s\"}", sb);
    is_str(s, want, "K5: answered as for an unknown address (not the CRM's name)");
    free(s);
    json_decref(ans);
    is_int(tl_q_intf("SELECT count(*) FROM access WHERE \"user\"='bob' AND id='crm9'"), 0,
	   "K5: bob was given no access to crm9");

    /* K2: Smart BCC by alice and bob to one new address: one person each. */
    {
	cs_contact ka = {"alice", "yan@far.example", "Yan"};
	cs_contact kb = {"bob", "yan@far.example", NULL};

	raw = mk("alice@corp.example", "Yan <yan@far.example>", "Yan A", "ya1@corp.example",
		 NULL, BASE + 40400, "Alice to Yan.");
	is_int(record_k(st, raw, ALICE, &ka, 1), CS_OK, "K2: alice Smart-BCCs yan");
	free(raw);
	raw = mk("bob@corp.example", "Yan <yan@far.example>", "Yan B", "yb1@corp.example",
		 NULL, BASE + 40500, "Bob to Yan.");
	is_int(record_k(st, raw, BOB, &kb, 1), CS_OK, "K2: bob Smart-BCCs yan");
	free(raw);
    }
    is_int(tl_q_intf("SELECT count(DISTINCT p.owner) FROM persons p JOIN person_emails e"
		 " ON e.person=p.id WHERE e.email='yan@far.example' AND p.origin='bcc'"), 2,
	   "K5: Smart BCC by two users, a person each");
    is_int(tl_q_intf("SELECT count(*) FROM access a JOIN persons p ON p.id=a.id"
		 " JOIN person_emails e ON e.person=p.id WHERE e.email='yan@far.example'"
		 " AND a.\"user\"<>p.owner"), 0, "K5: neither may access the other's");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links l JOIN persons p ON p.id=l.id"
		 " JOIN person_emails e ON e.person=p.id WHERE e.email='yan@far.example'"
		 " AND l.owner=p.owner"), 2, "T3: each Smart BCC thread linked to its own");

    /* X2: the CRM brings yan under crm9: both are taken over. */
    is_int(directory(st, "yan@far.example"), CS_OK, "X2: snapshot with yan under crm9");
    is_int(tl_q_intf("SELECT count(*) FROM person_emails WHERE email='yan@far.example'"), 1,
	   "X2: one person with yan's address left, the CRM's");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links l JOIN threads t ON t.owner=l.owner"
		 " AND t.id=l.thread WHERE t.subject IN ('Yan A', 'Yan B') AND l.id='crm9'"), 2,
	   "X2: crm9 took over both users' links");
}

/* raw_count - cs_store_thread_raw callback: count what was given out */
static int raw_count(void *arg, const char *message_id, const void *raw, size_t len,
		             int truncated)
{
    (void) message_id;
    (void) raw;
    (void) len;
    (void) truncated;
    (*(int *) arg)++;
    return 0;
}

/* policy_users - R3: the policy in force becomes these of alice, bob, carol */
static int policy_users(cs_store *st, int alice, int bob, int carol)
{
    static const char *const ids[] = {"alice", "bob", "carol"};
    const int in[] = {alice, bob, carol};
    cs_user u[3];
    const cs_user *up[3];
    size_t  n = 0;
    int     rc;

    memset(u, 0, sizeof(u));
    for (int i = 0; i < 3; i++) {
	if (!in[i])
	    continue;
	u[n].id = (char *) ids[i];
	u[n].role = i == 2 ? CS_ROLE_ADMIN : CS_ROLE_USER;
	{
	    char    a[64];

	    snprintf(a, sizeof(a), "%s@corp.example", ids[i]);
	    cs_strlist_add(&u[n].addresses, a);
	}
	up[n] = &u[n];
	n++;
    }
    rc = cs_store_sync_users2(st, up, n);
    for (size_t i = 0; i < n; i++)
	cs_strlist_free(&u[i].addresses);
    return rc;
}

/* main - one store, the checks in the order a user would act */
int     main(void)
{
    const char *users[] = {"alice", "bob", "carol"};
    int     roles[] = {CS_ROLE_USER, CS_ROLE_USER, CS_ROLE_ADMIN};
    char    err[256], ta[32], tb[32], tc[32];
    cs_store *st;
    json_t *out = NULL;
    cs_buf  buf = {0};
    char   *raw;
    int     rc;

    cs_message_init();
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_visibility");
    snprintf(tl_db, sizeof(tl_db), "%s/crmsync.db", tmpdir);
    /* A fresh, empty database of another backend (tests/pg/pg.sh). */
    if (getenv("CS_TEST_DATABASE") && *getenv("CS_TEST_DATABASE"))
	snprintf(tl_db, sizeof(tl_db), "%s", getenv("CS_TEST_DATABASE"));
    st = cs_store_open(tl_db, CS_STORE_CREATE, 5000, err, sizeof(err));
    if (st == NULL)
	diag("open: %s", err);
    if (!ok(st != NULL, "store opens"))
	return done_testing();
    {
	cs_user u[3];
	const cs_user *up[3];

	memset(u, 0, sizeof(u));
	for (int i = 0; i < 3; i++) {
	    char    a[64];

	    snprintf(a, sizeof(a), "%s@corp.example", users[i]);
	    u[i].id = (char *) users[i];
	    u[i].role = roles[i];
	    cs_strlist_add(&u[i].addresses, a);
	    up[i] = &u[i];
	}
	is_int(cs_store_sync_users2(st, up, 3), CS_OK, "users");
	for (int i = 0; i < 3; i++)
	    cs_strlist_free(&u[i].addresses);
    }
    is_int(directory(st, NULL), CS_OK, "X2: directory imported");
    is_int(tl_q_intf("SELECT count(*) FROM access"), 3, "X2: three access rows");

    /* C3: one message, two copies; T3 links alice's copy to p1 and d1. */
    raw = mk("Carl <client@acme.example>", "alice@corp.example, bob@corp.example",
	     "Offer", "m1@acme.example", NULL, BASE, "The offer text.");
    is_int(record(st, raw, BOTH), CS_OK, "recorded for alice and bob");
    free(raw);
    tid_of("alice", "Offer", ta, sizeof(ta));
    tid_of("bob", "Offer", tb, sizeof(tb));
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice'"), 2,
	   "T3: alice's copy linked to p1 and d1");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='bob'"), 1,
	   "T3: bob's copy linked to p1 only (no access to d1)");

    /* V1, V6: private; not found exactly like a missing id. */
    is_int(cs_store_thread(st, "bob", ta, &out), CS_ENOTFOUND, "V1: bob cannot open alice's");
    is_int(cs_store_thread(st, "bob", "t999999", &out), CS_ENOTFOUND, "V6: same as missing");
    is_int(cs_store_thread(st, "bob", "junk", &out), CS_ENOTFOUND, "V6: malformed id too");
    is_int(cs_store_thread(st, "carol", ta, &out), CS_ENOTFOUND, "V2: admin cannot either");
    is_int(cs_store_thread(st, "alice", ta, &out), CS_OK, "owner opens it");
    is_json(json_object_get(json_array_get(json_object_get(out, "messages"), 0), "text"),
	    "\"The offer text.\\n\"", "thread: message text");
    json_decref(out);
    out = NULL;

    /* V4: all or nothing; V6 wins over V4 for what bob cannot see. */
    {
	const char *two[] = {ta, tb};

	rc = cs_store_threads_set(st, "alice", CS_THREADS_SHARE, two, 2, &out, err, sizeof(err));
	is_int(rc, CS_ENOTFOUND, "V4: alice cannot share bob's private copy (not found)");
	is_str(err, "thread t2 not found", "V4: the error names it");
	is_int(tl_q_intf("SELECT count(*) FROM threads WHERE visibility='shared'"), 0,
	       "V4: nothing changed");
    }
    {
	const char *one[] = {ta, ta};

	rc = cs_store_threads_set(st, "alice", CS_THREADS_SHARE, one, 2, &out, err, sizeof(err));
	is_int(rc, CS_OK, "V3: alice shares hers (named twice)");
	is_json(out, "{\"threads\":[{\"id\":\"t1\",\"visible_to\":[\"alice\",\"bob\"]}]}",
		"share answers once, with who can see it now");
	json_decref(out);
	out = NULL;
    }
    is_int(tl_q_intf("SELECT count(*) FROM threads WHERE owner='bob' AND visibility='shared'"), 0,
	   "C3: bob's copy keeps its own visibility");
    is_int(tl_q_intf("SELECT count(*) FROM events WHERE type='thread.visibility_changed'"), 1,
	   "X3: one visibility event");
    is_int(cs_store_thread(st, "bob", ta, &out), CS_OK, "V3: bob (access to p1) opens it");
    is_json(json_object_get(out, "labels"), "[]", "non-owner sees no labels");
    is_json(json_object_get(out, "links"), "{\"deals\":[],\"persons\":[\"p1\"]}",
	    "V6: links only to records bob may access");
    json_decref(out);
    out = NULL;
    {
	const char *one[] = {ta};

	is_int(cs_store_threads_set(st, "bob", CS_THREADS_PRIVATE, one, 1, &out, err,
				    sizeof(err)), CS_EFORBIDDEN, "V4: bob may see, not change");
    }
    is_int(cs_store_thread_raw(st, "bob", ta, (cs_store_raw_fn) abort, NULL), CS_EFORBIDDEN,
	   "--raw: owner only");

    /* R3: bob leaves the policy: not found everywhere, and share forgets him. */
    is_int(policy_users(st, 1, 0, 1), CS_OK, "R3: bob removed from the policy");
    is_int(cs_store_thread(st, "bob", ta, &out), CS_ENOTFOUND, "R3: bob cannot open the shared thread");
    is_int(cs_store_mailbox(st, "bob", NULL, 0, NULL, &out), CS_ENOTFOUND,
	   "R3: nor his own mailbox");
    {
	int     nraw = 0;

	is_int(cs_store_thread_raw(st, "bob", tb, raw_count, &nraw), CS_ENOTFOUND,
	       "R3: nor his own thread's raw bytes");
	is_int(nraw, 0, "R3: not one raw message given out");
    }
    is_int(cs_store_attachment(st, "bob", tb, 1, &buf), CS_ENOTFOUND, "R3: nor an attachment");
    is_int(cs_store_record_threads(st, "bob", "person", "p1", 0, NULL, &out), CS_ENOTFOUND,
	   "R3: nor the person page");
    {
	const char *one[] = {tb};

	is_int(cs_store_threads_set(st, "bob", CS_THREADS_PRIVATE, one, 1, &out, err,
				    sizeof(err)), CS_ENOTFOUND, "R3: nor change his own thread");
	is_str(err, "thread t2 not found", "R3: the answer for a thread that is not there");
	is_int(cs_store_link(st, "bob", tb, "person", "p1", 0, &out, err, sizeof(err)),
	       CS_ENOTFOUND, "R3: nor link it");
	is_int(cs_store_contact_create(st, "bob", tb, "client@acme.example", NULL, &out, err,
				       sizeof(err)), CS_ENOTFOUND, "R3: nor make a contact");
	one[0] = ta;
	is_int(cs_store_threads_set(st, "alice", CS_THREADS_SHARE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "R3: alice shares t1 again");
	is_json(out, "{\"threads\":[{\"id\":\"t1\",\"visible_to\":[\"alice\"]}]}",
		"R3: share counts only users of the policy in force");
	json_decref(out);
	out = NULL;
    }
    is_int(policy_users(st, 1, 1, 1), CS_OK, "R3: bob back in the policy");
    is_int(cs_store_thread(st, "bob", ta, &out), CS_OK, "R3: bob reads it again");
    json_decref(out);
    out = NULL;

    /* R3: the owner leaves: her mailbox is readable by nobody, her shared
     * thread included, on the pages of the records it is linked to too. */
    is_int(policy_users(st, 0, 1, 1), CS_OK, "R3: alice removed from the policy");
    is_int(cs_store_thread(st, "bob", ta, &out), CS_ENOTFOUND,
	   "R3: bob no longer opens the shared thread of a user who left");
    is_int(cs_store_record_threads(st, "bob", "person", "p1", 0, NULL, &out), CS_OK,
	   "R3: bob opens p1's page");
    {
	json_t *th;
	size_t  i;
	int     listed = 0;

	json_array_foreach(json_object_get(out, "threads"), i, th)
	    listed += strcmp(json_string_value(json_object_get(th, "id")), ta) == 0;
	is_int(listed, 0, "R3: p1's page no longer lists the thread of a user who left");
    }
    json_decref(out);
    out = NULL;
    is_int(policy_users(st, 1, 1, 1), CS_OK, "R3: alice back in the policy");
    is_int(cs_store_thread(st, "bob", ta, &out), CS_OK, "R3: bob reads her thread again");
    json_decref(out);
    out = NULL;

    /* Deal and person pages. */
    is_int(cs_store_record_threads(st, "bob", "deal", "d1", 0, NULL, &out), CS_ENOTFOUND,
	   "deal page: bob has no access to d1");
    is_int(cs_store_record_threads(st, "bob", "person", "p1", 0, NULL, &out), CS_OK,
	   "person page: bob");
    is_int(json_array_size(json_object_get(out, "threads")), 2,
	   "V3: bob sees his own (private) and alice's shared thread on p1");
    json_decref(out);
    out = NULL;
    is_int(cs_store_record_threads(st, "bob", "person", "p1", 1, NULL, &out), CS_OK, "page 1");
    {
	char   *cur = cs_strdup(json_string_value(json_object_get(out, "cursor")));

	json_decref(out);
	out = NULL;
	is_int(cs_store_record_threads(st, "bob", "person", "p1", 1, cur, &out), CS_OK, "page 2");
	ok(json_is_null(json_object_get(out, "cursor"))
	   && json_array_size(json_object_get(out, "threads")) == 1, "page 2 is the last");
	free(cur);
	json_decref(out);
	out = NULL;
    }
    is_int(cs_store_record_threads(st, "bob", "person", "p1", 1, "zz", &out), CS_EINVAL,
	   "bad cursor");

    /* T3 by hand: an unlink is remembered; a reply does not relink. */
    is_int(cs_store_link(st, "alice", ta, "person", "p1", 1, &out, err, sizeof(err)), CS_OK,
	   "alice unlinks p1");
    is_json(json_object_get(out, "changed"), "true", "unlink changed something");
    json_decref(out);
    out = NULL;
    is_int(cs_store_link(st, "alice", ta, "person", "p1", 1, &out, err, sizeof(err)), CS_OK,
	   "unlink again");
    is_json(json_object_get(out, "changed"), "false", "idempotent");
    json_decref(out);
    out = NULL;
    is_int(cs_store_thread(st, "bob", ta, &out), CS_ENOTFOUND,
	   "V5: unlinked from p1, the shared thread is gone for bob");
    raw = mk("Carl <client@acme.example>", "alice@corp.example", "Re: Offer", "m2@acme.example",
	     "m1@acme.example", BASE + 600, "Reply.");
    is_int(record(st, raw, ALICE), CS_OK, "a reply joins alice's thread");
    free(raw);
    is_int(tl_q_intf("SELECT message_count FROM threads WHERE id=%s", ta + 1), 2, "T1: joined");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND kind='person'"), 0,
	   "T3: the hand unlink holds against automatic linking");
    is_int(cs_store_link(st, "alice", ta, "person", "p1", 0, &out, err, sizeof(err)), CS_OK,
	   "alice links p1 again by hand");
    json_decref(out);
    out = NULL;
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND kind='person'"
		 " AND origin='hand'"), 1, "a hand link");
    is_int(cs_store_link(st, "alice", ta, "deal", "d404", 0, &out, err, sizeof(err)),
	   CS_ENOTFOUND, "link to an unknown deal: not found");
    is_int(cs_store_link(st, "bob", tb, "deal", "d1", 0, &out, err, sizeof(err)), CS_ENOTFOUND,
	   "bob links to d1 he may not access: not found");

    /* K3. */
    raw = mk("Stan <stan@other.example>", "alice@corp.example", "Hello", "m3@other.example",
	     NULL, BASE + 3600, "Hi.");
    is_int(record(st, raw, ALICE), CS_OK, "a stranger writes to alice");
    free(raw);
    tid_of("alice", "Hello", tc, sizeof(tc));
    is_int(cs_store_contact_create(st, "alice", tc, "nobody@other.example", NULL, &out, err,
				   sizeof(err)), CS_EINVAL, "K3: not a participant");
    is_int(cs_store_contact_create(st, "bob", tc, "stan@other.example", NULL, &out, err,
				   sizeof(err)), CS_ENOTFOUND, "K3: not bob's thread");
    is_int(cs_store_contact_create(st, "alice", tc, "alice@corp.example", NULL, &out, err,
				   sizeof(err)), CS_EINVAL, "K3: a user's own address");
    is_int(cs_store_contact_create(st, "alice", tc, "Stan+crm@Other.example", NULL, &out, err,
				   sizeof(err)), CS_OK, "K3: alice creates Stan");
    is_json(out, "{\"person\":{\"id\":\"hand-1\",\"name\":\"Stan\",\"address\":"
	    "\"stan@other.example\"},\"created\":true,\"thread\":\"t3\"}", "K3 answer");
    json_decref(out);
    out = NULL;
    is_int(cs_store_contact_create(st, "alice", tc, "stan@other.example", "X", &out, err,
				   sizeof(err)), CS_OK, "K3: again");
    is_json(json_object_get(out, "created"), "false", "K3: existing person answered");
    json_decref(out);
    out = NULL;
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND id='hand-1'"), 1,
	   "K3: thread linked to the new person");

    /* X2: refused whole, old snapshot kept: each fault named by its path. */
#define P_OK "{\"id\":\"a\",\"emails\":[],\"access\":[]}"
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"status\":\"maybe\",\"access\":[]}]}",
	    "deals[0].status: expected open, won or lost");
    bad_dir(st, "{\"persons\":[" P_OK "," P_OK "],\"deals\":[]}",
	    "persons[1].id: duplicate id (also persons[0])");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":[\"nope\"],\"access\":[]}],\"deals\":[]}",
	    "persons[0].emails[0]: not a mail address");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":[\"x@y.z\"],\"access\":[]},"
	    "{\"id\":\"b\",\"emails\":[\"X@y.z\"],\"access\":[]}],\"deals\":[]}",
	    "persons[1].emails[0]: x@y.z is also an address of persons[0]");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"status\":\"open\","
	    "\"persons\":[\"ghost\"],\"access\":[]}]}", "deals[0].persons[0]: unknown person");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":[],\"access\":[1]}],\"deals\":[]}",
	    "persons[0].access[0]: expected a user id");
    bad_dir(st, "{\"persons\":{},\"deals\":[]}", "persons: expected an array");
    bad_dir(st, "[]", "the snapshot must be a JSON object");
    /* Unknown keys (issue #21: misspellings imported with exit 0). */
    bad_dir(st, "{\"persons\":[" P_OK ",{\"id\":\"b\",\"emails\":[],\"access\":[]},"
	    "{\"id\":\"c\",\"emails\":[],\"access\":[]},{\"id\":\"d\",\"emails\":[],"
	    "\"acess\":[\"bob\"]}],\"deals\":[]}", "persons[3].acess: unknown key");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"addresses\":[\"x@y.z\"],\"access\":[]}],"
	    "\"deals\":[]}", "persons[0].addresses: unknown key");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"name\":\"Renewal\","
	    "\"status\":\"open\",\"access\":[]}]}", "deals[0].name: unknown key");
    bad_dir(st, "{\"persons\":[],\"deals\":[],\"version\":2}", "version: unknown key");
    /* Required fields. */
    bad_dir(st, "{\"persons\":[]}", "deals: required field missing");
    bad_dir(st, "{\"deals\":[]}", "persons: required field missing");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"access\":[]}],\"deals\":[]}",
	    "persons[0].emails: required field missing");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":[]}],\"deals\":[]}",
	    "persons[0].access: required field missing");
    bad_dir(st, "{\"persons\":[{\"emails\":[],\"access\":[]}],\"deals\":[]}",
	    "persons[0].id: required field missing");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"access\":[]}]}",
	    "deals[0].status: required field missing");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"status\":\"open\"}]}",
	    "deals[0].access: required field missing");
    /* Wrong types. */
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"name\":5,\"emails\":[],\"access\":[]}],"
	    "\"deals\":[]}", "persons[0].name: expected a string");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":\"x@y.z\",\"access\":[]}],"
	    "\"deals\":[]}", "persons[0].emails: expected an array");
    bad_dir(st, "{\"persons\":[{\"id\":\"a\",\"emails\":[],\"access\":null}],\"deals\":[]}",
	    "persons[0].access: expected an array");
    bad_dir(st, "{\"persons\":[{\"id\":7,\"emails\":[],\"access\":[]}],\"deals\":[]}",
	    "persons[0].id: expected a non-empty string of at most 256 bytes");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"title\":[],\"status\":\"open\","
	    "\"access\":[]}]}", "deals[0].title: expected a string");
    bad_dir(st, "{\"persons\":[],\"deals\":[{\"id\":\"d\",\"status\":\"open\","
	    "\"persons\":{},\"access\":[]}]}", "deals[0].persons: expected an array");
    /* Hole 8: hand-1 is alice's person for stan@: no re-pointing by id. */
    bad_dir(st, "{\"persons\":[" P_OK ",{\"id\":\"hand-1\",\"emails\":[\"zed@other.example\"],"
	    "\"access\":[\"bob\"]}],\"deals\":[]}",
	    "persons[1].id: hand-1 is a person crmsync made for stan@other.example;"
	    " a record under its id must have that address");
    bad_dir(st, "{\"persons\":[{\"id\":\"hand-1\",\"emails\":[],\"access\":[\"bob\"]}],"
	    "\"deals\":[]}", "persons[0].id: hand-1 is a person crmsync made for stan@other.example;"
	    " a record under its id must have that address");
    bad_dir(st, "{\"persons\":[{\"id\":\"bcc-77\",\"emails\":[\"zed@other.example\"],"
	    "\"access\":[\"bob\"]}],\"deals\":[]}",
	    "persons[0].id: bcc-77 is in crmsync's own id form (bcc-N, hand-N) and crmsync made"
	    " no such person");
#undef P_OK
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND id='hand-1'"), 1,
	   "X2: hand-1 keeps its link after the refusals");
    is_int(tl_q_intf("SELECT count(*) FROM access WHERE kind='person' AND id='hand-1' AND user='bob'"),
	   0, "X2: bob got no access to hand-1");
    is_int(tl_q_intf("SELECT count(*) FROM persons WHERE origin='crm'"), 1, "X2: old snapshot kept");
    is_int(tl_q_intf("SELECT count(*) FROM deals"), 1, "X2: old deals kept");

    /* X2: a CRM person takes over the hand person with the same address. */
    is_int(directory(st, "stan@other.example"), CS_OK, "X2: snapshot with Stan under crm9");
    is_int(tl_q_intf("SELECT count(*) FROM persons WHERE id='hand-1'"), 0, "X2: hand person gone");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE owner='alice' AND id='crm9'"), 1,
	   "X2: crm9 took over the link");
    is_int(tl_q_intf("SELECT count(*) FROM thread_links WHERE id='hand-1'"), 0, "X2: no stale link");

    /* Attachments: none in these messages. */
    is_int(cs_store_attachment(st, "alice", ta, 1, &buf), CS_ENOTFOUND, "no attachment 1");
    cs_buf_free(&buf);

    /* Delete: a raw message stays while another copy uses it. */
    {
	const char *one[] = {ta};
	long long raws = tl_q_intf("SELECT count(*) FROM raw");

	is_int(cs_store_threads_set(st, "alice", CS_THREADS_DELETE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "alice deletes her Offer thread");
	is_json(out, "{\"threads\":[\"t1\"]}", "delete answer");
	json_decref(out);
	out = NULL;
	is_int(tl_q_intf("SELECT count(*) FROM raw"), raws - 1,
	       "C3: the reply's raw went, the shared first message stays for bob");
	is_int(tl_q_intf("SELECT count(*) FROM messages WHERE owner='alice' AND thread=%s", ta + 1), 0,
	       "messages gone");
	is_int(tl_q_intf("SELECT count(*) FROM thread_msgids WHERE owner='alice' AND thread=%s",
		     ta + 1), 0, "threading ids gone");
	is_int(cs_store_thread(st, "bob", tb, &out), CS_OK, "bob's copy intact");
	json_decref(out);
	out = NULL;
	one[0] = tb;
	is_int(cs_store_threads_set(st, "bob", CS_THREADS_DELETE, one, 1, &out, err,
				    sizeof(err)), CS_OK, "bob deletes his copy");
	json_decref(out);
	out = NULL;
	is_int(tl_q_intf("SELECT count(*) FROM raw"), raws - 2, "the last copy's raw goes with it");
    }
    /* share (twice, R3), unlink twice, link, contact twice, delete; refusals none. */
    is_int(tl_q_intf("SELECT count(*) FROM audit WHERE who='alice'"), 8,
	   "audit: one row per change, none for refused ones");
    is_int(tl_q_intf("SELECT count(*) FROM events WHERE type='thread.deleted'"), 2,
	   "X3: two thread.deleted events");

    test_page_order(st);
    test_merge_events(st);
    test_shared_join(st);
    test_k5(st);

    cs_store_close(st);
    tl_rmtree(tmpdir);
    return done_testing();
}
