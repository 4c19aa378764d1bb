/*
 * NAME
 *	t_events 1
 * SUMMARY
 *	unit tests of the X3 event outbox (SPEC X3, V6)
 * DESCRIPTION
 *	Records mail through the store and checks the events rows exactly:
 *	types, ids, payload keys, no content for private threads; then the
 *	outbox's claim order, per-thread holding, parking, retry, pruning,
 *	the sender lease, and sq_event_add inside a caller's transaction.
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
#include "cs_log.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_sqlite.h"
#include "cs_store_event.h"
#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

/* put - record one message for alice; optional In-Reply-To and contact */
static int put(cs_store *st, const char *msgid, const char *irt, const char *refs,
	               const char *subject, const char *contact)
{
    char   *raw = NULL, hdr[512] = "";
    tl_msg  m;
    cs_strlist labels = {0}, rcpts = {0};
    cs_copy cp = {0};
    cs_contact ct = {0};
    cs_record rec = {0};
    int     res = 0, rc;

    if (irt)
	snprintf(hdr, sizeof(hdr), "In-Reply-To: <%s>\r\n", irt);
    if (refs)
	snprintf(hdr + strlen(hdr), sizeof(hdr) - strlen(hdr), "References: %s\r\n", refs);
    if (asprintf(&raw, "From: Bob Outside <bob@outside.example>\r\nTo: alice@example.com\r\n"
		 "Subject: %s\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
		 "Message-ID: <%s>\r\n%s\r\nBody of %s.\r\n", subject, msgid, hdr, msgid) < 0)
	abort();
    tl_msg_init(&m, raw, tmpdir, 1 << 20);
    cs_strlist_add(&rcpts, "alice@example.com");
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    cp.labels = &labels;
    cp.env_rcpts = &rcpts;
    rec.arrival = 1704103200;
    rec.source = "smtp";
    rec.env_from = "bob@outside.example";
    rec.info = &m.mi;
    rec.raw = m.sp;
    rec.body_digest = m.digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    if (contact) {
	ct.owner = "alice";
	ct.address = contact;
	ct.name = "";
	rec.contacts = &ct;
	rec.ncontacts = 1;
    }
    rc = cs_store_record(st, &rec, 5000, &res);
    cs_strlist_free(&rcpts);
    tl_msg_free(&m);
    free(raw);
    return rc == CS_OK ? res : rc;
}

/* ev_json - the payload of the n-th event (1-based, outbox order) */
static json_t *ev_json(int n)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    json_t *j = NULL;

    if (sqlite3_open_v2(tl_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
	return NULL;
    if (sqlite3_prepare_v2(db, "SELECT payload FROM events ORDER BY id LIMIT 1 OFFSET ?1",
			   -1, &st, NULL) == SQLITE_OK) {
	sqlite3_bind_int(st, 1, n - 1);
	if (sqlite3_step(st) == SQLITE_ROW)
	    j = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return j;
}

/* keys - an object's keys, sorted, comma-separated */
static const char *keys(json_t *o, char *buf, size_t len)
{
    const char *k;
    json_t *v;
    cs_strlist l = {0};
    size_t  n = 0;

    *buf = 0;
    json_object_foreach(o, k, v)
	cs_strlist_add(&l, k);
    /* A handful of keys: sort by hand. */
    for (size_t i = 0; i < l.n; i++)
	for (size_t j = i + 1; j < l.n; j++)
	    if (strcmp(l.v[j], l.v[i]) < 0) {
		char   *t = l.v[i];

		l.v[i] = l.v[j];
		l.v[j] = t;
	    }
    for (size_t i = 0; i < l.n && n < len; i++)
	n += (size_t) snprintf(buf + n, len - n, "%s%s", i ? "," : "", l.v[i]);
    cs_strlist_free(&l);
    return buf;
}

/* str - a string member or "" */
static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

/* uuid_like - 8-4-4-4-12 hex, version 7, its time (ms) within a minute of now */
static int uuid_like(const char *s)
{
    char    hex[13];
    long long ms;

    if (strlen(s) != 36 || s[14] != '7' || !strchr("89ab", s[19]))
	return 0;
    for (int i = 0; i < 36; i++)
	if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
	    return 0;
    snprintf(hex, sizeof(hex), "%.8s%.4s", s, s + 9);
    ms = strtoll(hex, NULL, 16);
    return llabs(ms / 1000 - (long long) time(NULL)) < 60;
}

/* fresh - a new store in the temporary directory */
static cs_store *fresh(const char *name)
{
    char    err[512];
    cs_store *st;

    snprintf(tl_db, sizeof(tl_db), "%s/%s.db", tmpdir, name);
    st = cs_store_open(tl_db, CS_STORE_WRITER | CS_STORE_CREATE, 5000, err, sizeof(err));
    if (st == NULL)
	diag("open: %s", err);
    return st;
}

/* test_record - events of the record path and V6 */
static void test_record(void)
{
    cs_store *st = fresh("record");
    json_t *e;
    char    k[256];
    long long t1, t2;

    is_int(put(st, "a1@x", NULL, NULL, "Secret plans", NULL), CS_COPY_STORED, "record: first message");
    is_int(tl_q_int("SELECT count(*) FROM events"), 2, "record: two events");
    e = ev_json(1);
    is_str(str(e, "type"), "thread.created", "record: 1st is thread.created");
    is_str(keys(e, k, sizeof(k)), "id,owner,thread,time,type", "record: thread.created keys");
    ok(uuid_like(str(e, "id")), "record: id is a UUID v7 of now (%s)", str(e, "id"));
    ok(strlen(str(e, "time")) == 24 && str(e, "time")[23] == 'Z', "record: ISO 8601 UTC time");
    is_str(str(e, "owner"), "alice", "record: owner");
    t1 = tl_q_int("SELECT id FROM threads");
    snprintf(k, sizeof(k), "t%lld", t1);
    is_str(str(e, "thread"), k, "record: thread id");
    json_decref(e);
    e = ev_json(2);
    is_str(str(e, "type"), "message.added", "record: 2nd is message.added");
    is_str(keys(e, k, sizeof(k)), "id,message,message_count,owner,thread,time,type",
	   "record: private message.added has ids and counts only (V6)");
    is_int(json_integer_value(json_object_get(e, "message_count")), 1, "record: count 1");
    json_decref(e);
    is_int(tl_q_int("SELECT count(*) FROM events WHERE payload LIKE '%ecret%' OR payload LIKE"
		 " '%outside%'"), 0, "record: no subject or address in private events");

    /* Shared: content rides along. */
    tl_q_exec("UPDATE threads SET visibility='shared'");
    is_int(put(st, "a2@x", "a1@x", NULL, "Re: Secret plans", NULL), CS_COPY_STORED, "record: reply");
    e = ev_json(3);
    is_str(str(e, "type"), "message.added", "record: reply message.added");
    is_str(keys(e, k, sizeof(k)), "id,message,message_count,owner,participants,subject,thread,time,type",
	   "record: shared thread's event carries subject and participants");
    is_str(str(e, "subject"), "Re: Secret plans", "record: subject");
    is_str(str(json_array_get(json_object_get(e, "participants"), 0), "address"),
	   "bob@outside.example", "record: first participant");
    is_int(json_integer_value(json_object_get(e, "message_count")), 2, "record: count 2");
    json_decref(e);

    /* Merge: a shared thread and a private one make a private thread. */
    is_int(put(st, "b1@x", NULL, NULL, "Other", NULL), CS_COPY_STORED, "merge: second thread");
    t2 = tl_q_int("SELECT max(id) FROM threads");
    is_int(put(st, "c1@x", NULL, "<a2@x> <b1@x>", "Both", NULL), CS_COPY_STORED,
	   "merge: message naming both");
    is_int(tl_q_int("SELECT count(*) FROM threads"), 1, "merge: one thread left");
    is_int(tl_q_int("SELECT count(*) FROM events WHERE type='thread.merged'"), 1, "merge: one thread.merged");
    e = ev_json((int) tl_q_int("SELECT count(*) FROM events WHERE id<=(SELECT id FROM events"
			    " WHERE type='thread.merged')"));
    snprintf(k, sizeof(k), "t%lld", t2);
    is_str(str(e, "from"), k, "merge: from the newer thread");
    snprintf(k, sizeof(k), "t%lld", t1);
    is_str(str(e, "into"), k, "merge: into the older");
    json_decref(e);
    is_int(tl_q_int("SELECT thread2 FROM events WHERE type='thread.merged'"), t2,
	   "merge: ordered with the old thread too");
    is_int(tl_q_int("SELECT announced FROM merges"), 1, "merge: merges row announced");
    is_int(tl_q_int("SELECT count(*) FROM events WHERE type='thread.visibility_changed'"
		 " AND payload LIKE '%\"visibility\":\"private\"%'"), 1,
	   "merge: shared+private announces private (V3, V5)");
    is_int(tl_q_int("SELECT count(*) FROM events WHERE type='message.added' AND id>(SELECT id FROM"
		 " events WHERE type='thread.merged') AND payload LIKE '%subject%'"), 0,
	   "merge: the merged thread is private: no content after");
    /* Time-ordered ids: a later event's id never sorts before its time. */
    is_int(tl_q_int("SELECT count(*) FROM events a JOIN events b ON b.id>a.id"
		 " WHERE substr(b.uuid, 1, 13) < substr(a.uuid, 1, 13)"), 0,
	   "record: event ids grow with their time (the uuid index appends)");

    /* K2 person. */
    is_int(put(st, "d1@x", NULL, NULL, "Hello", "New.Person@Contacts.example"), CS_COPY_STORED,
	   "person: record with a contact");
    e = ev_json((int) tl_q_int("SELECT count(*) FROM events WHERE id<=(SELECT id FROM events"
			    " WHERE type='person.created')"));
    is_str(str(e, "type"), "person.created", "person: person.created");
    is_str(keys(e, k, sizeof(k)), "address,id,name,owner,person,time,type", "person: keys");
    is_str(str(e, "address"), "new.person@contacts.example", "person: address");
    is_str(str(e, "name"), "new.person", "person: name from the local part");
    ok(strncmp(str(e, "person"), "bcc-", 4) == 0, "person: id %s", str(e, "person"));
    json_decref(e);
    is_int(tl_q_int("SELECT count(*) FROM events WHERE thread IS NULL"), 1, "person: no thread");
    /* Duplicate: no new events. */
    {
	long long n = tl_q_int("SELECT count(*) FROM events");

	is_int(put(st, "d1@x", NULL, NULL, "Hello", NULL), CS_COPY_DUPLICATE, "dup: duplicate");
	is_int(tl_q_int("SELECT count(*) FROM events"), n, "dup: no event for a duplicate");
    }
    is_int(tl_q_int("SELECT count(DISTINCT uuid) FROM events"), tl_q_int("SELECT count(*) FROM events"),
	   "ids: all unique");
    cs_store_close(st);
}

/* test_add - sq_event_add in the caller's transaction */
static void test_add(void)
{
    cs_store *st = fresh("add");
    sqlite3 *db;
    json_t *ids = json_pack("{s:s}", "deal", "d1"), *content = json_pack("{s:s}", "subject", "S");
    json_t *e;

    put(st, "x1@x", NULL, NULL, "S", NULL);
    cs_store_close(st);
    sqlite3_open(tl_db, &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    is_int(sq_event_add(db, "thread.linked", "alice", "t1", ids, content), CS_OK, "add: ok");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    is_int(tl_q_int("SELECT count(*) FROM events WHERE type='thread.linked'"), 0,
	   "add: rolled back with its change");
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    is_int(sq_event_add(db, "thread.linked", "alice", "t1", ids, content), CS_OK, "add: again");
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    e = ev_json(3);
    is_str(str(e, "deal"), "d1", "add: payload stored");
    is_str(str(e, "thread"), "", "add: payload as given (no thread key added)");
    ok(json_object_get(e, "subject") == NULL, "add: private thread: content dropped (V6)");
    is_int(tl_q_int("SELECT thread FROM events WHERE type='thread.linked'"), 1, "add: thread column");
    json_decref(e);
    sqlite3_exec(db, "UPDATE threads SET visibility='shared'", NULL, NULL, NULL);
    is_int(sq_event_add(db, "thread.unlinked", "alice", "t1", ids, content), CS_OK, "add: shared");
    e = ev_json(4);
    is_str(str(e, "subject"), "S", "add: shared thread: content kept");
    json_decref(e);
    is_int(json_object_size(ids), 1, "add: caller's payload untouched");
    is_int(sq_event_add(db, "thread.deleted", "alice", "tx", ids, NULL), CS_EINTERNAL,
	   "add: bad thread id refused");
    json_decref(ids);
    json_decref(content);
    sqlite3_close(db);
}

/* same_text - cs_json_write's compact ASCII text of v is json_dumps's */
static int same_text(json_t *v)
{
    cs_buf  b = {0};
    char   *want = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    int     same = want && cs_json_write(&b, v, CS_JSON_ASCII) == 0 && b.data && strcmp(b.data, want) == 0;

    if (!same)
	diag("want %s\n#  got %s", want ? want : "(null)", b.data ? b.data : "(null)");
    free(want);
    cs_buf_free(&b);
    json_decref(v);
    return same;
}

/* old_body - an event body as json_pack and json_dumps made it */
static char *old_body(const char *uuid, const char *type, const char *when, const char *owner,
		              json_t *ids, json_t *content, int shared)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s?}", "id", uuid, "type", type, "time", when,
			   "owner", owner);
    char   *t;

    if (ids)
	json_object_update_missing(ev, ids);
    if (shared && content)
	json_object_update_missing(ev, content);
    t = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(ev);
    return t;
}

/* test_body - the event text is what jansson made of the same object, byte for byte */
static void test_body(void)
{
    json_t *ids = json_pack("{s:s,s:I,s:s,s:s}", "thread", "t5", "message_count",
			    (json_int_t) -42, "id", "forged", "owner", "forged too");
    json_t *content = json_pack("{s:s,s:[s,s],s:s,s:n,s:b,s:f}", "subject",
				"Ünïcödé \"quoted\" \\ / tab\t nl\n \x01 \x7f \xf0\x9f\x98\x80 \xe2\x82\xac",
				"participants", "a@x", "b@y", "thread", "not this",
				"none", "yes", 1, "ratio", 0.25);
    char    uuid[37], *text, *want, when[64];
    time_t  now;
    json_t *e;
    const char *s;

    ok(same_text(json_pack("{s:{s:[i,i,{}],s:[]},s:s}", "a", "b", 1, -2, "c", "d",
			   "caf\xc3\xa9 \xf4\x8f\xbf\xbf")), "body: nested values as jansson");
    ok(same_text(json_stringn("nul\0inside", 10)), "body: a string with a NUL as jansson");
    ok(same_text(json_real(1e300)) && same_text(json_real(-0.5)), "body: reals as jansson");
    ok(same_text(json_integer(-9223372036854775807LL - 1)), "body: the smallest integer");
    {
	cs_buf  b = {0};

	ok(cs_json_str(&b, "bad \xc3(", 6) < 0 && cs_json_str(&b, "\xed\xa0\x80", 3) < 0,
	   "body: bytes that are not UTF-8 refused");
	cs_buf_free(&b);
    }
    for (int shared = 0; shared < 2; shared++)
	for (int own = 0; own < 2; own++) {
	    const char *owner = own ? "alice" : NULL;

	    char    name[128];

	    snprintf(name, sizeof(name), "body: made (shared %d, owner %d)", shared, own);
	    is_int(cs_event_body("message.added", owner, ids, content, shared, uuid, &now, &text),
		   0, name);
	    e = json_loads(text, 0, NULL);
	    s = json_string_value(json_object_get(e, "time"));
	    snprintf(when, sizeof(when), "%s", s ? s : "");
	    json_decref(e);
	    want = old_body(uuid, "message.added", when, owner, ids, content, shared);
	    snprintf(name, sizeof(name), "body: the same bytes as json_dumps (shared %d, owner %d)",
		     shared, own);
	    is_str(text, want, name);
	    free(want);
	    free(text);
	}
    is_int(cs_event_body("t\xff", NULL, ids, NULL, 0, uuid, &now, &text), CS_EVENT_NOMEM,
	   "body: a type that is not UTF-8 refused");
    json_decref(ids);
    json_decref(content);
}

/* test_outbox - claim order, holding, park, retry, prune, lease */
static void test_outbox(void)
{
    cs_store *st = fresh("outbox");
    cs_outbox *ob, *ob2;
    cs_event *e;
    size_t  n;
    char    err[256];
    long    moved;
    json_t *s;
    time_t  now = time(NULL);

    put(st, "o1@x", NULL, NULL, "One", NULL);		/* events 1, 2: thread A */
    put(st, "o2@x", NULL, NULL, "Two", NULL);		/* events 3, 4: thread B */
    put(st, "o3@x", "o1@x", NULL, "Re: One", NULL);	/* event 5: thread A */
    ob = cs_store_outbox_open(st, "hostA:1:aaaa", err, sizeof(err));
    ok(ob != NULL, "outbox: open");
    is_int(cs_store_outbox_claim(ob, now, 100, 1 << 20, &e, &n), CS_OK, "outbox: claim");
    is_int(n, 5, "outbox: all five due");
    ok(n == 5 && e[0].seq < e[1].seq && e[3].seq < e[4].seq, "outbox: oldest first");
    ok(n == 5 && strcmp(e[0].type, "thread.created") == 0 && e[0].body[0] == '{'
       && strstr(e[0].body, e[0].id), "outbox: body is the event with its id");
    /* Thread A's first event fails: its later events wait, B's do not. */
    cs_store_outbox_settle(ob, e, 1, CS_EVENT_RETRY, now + 60, "HTTP 503");
    cs_store_events_free(e, n);
    cs_store_outbox_claim(ob, now, 100, 1 << 20, &e, &n);
    is_int(n, 2, "hold: only thread B's two events");
    ok(n == 2 && strcmp(e[0].type, "thread.created") == 0 && strcmp(e[1].type, "message.added") == 0,
       "hold: B's in order");
    cs_store_outbox_settle(ob, e, n, CS_EVENT_DELIVERED, now, NULL);
    cs_store_events_free(e, n);
    is_int(tl_q_int("SELECT last_error FROM events WHERE attempts=1 AND state='pending'") == -999, 0,
	   "hold: error noted");
    cs_store_outbox_claim(ob, now + 61, 2, 1 << 20, &e, &n);
    is_int(n, 2, "retry due: max respected");
    ok(n == 2 && e[0].attempts == 1 && e[1].attempts == 0, "retry due: attempts carried");
    cs_store_outbox_settle(ob, e, 1, CS_EVENT_PARKED, now, "HTTP 400");
    cs_store_events_free(e, n);
    cs_store_outbox_claim(ob, now + 61, 100, 1 << 20, &e, &n);
    is_int(n, 2, "park: a parked event does not hold its thread");
    cs_store_outbox_settle(ob, e, n, CS_EVENT_DELIVERED, now, NULL);
    cs_store_events_free(e, n);
    cs_store_outbox_claim(ob, now + 61, 100, 1 << 20, &e, &n);
    is_int(n, 0, "outbox: nothing left");
    cs_store_stats(st, &s);
    is_int(json_integer_value(json_object_get(json_object_get(s, "events"), "failed")), 1,
	   "stats: events.failed");
    is_int(json_integer_value(json_object_get(json_object_get(s, "events"), "delivered")), 4,
	   "stats: events.delivered");
    is_int(json_integer_value(json_object_get(json_object_get(s, "events"), "pending")), 0,
	   "stats: events.pending");
    json_decref(s);
    is_int(cs_store_events_retry(st, &moved), CS_OK, "retry: ok");
    is_int(moved, 1, "retry: one moved");
    /* X3: with a webhook (the default) the undelivered event is pending;
     * without one it is kept and nothing is pending. */
    cs_store_stats(st, &s);
    is_int(json_integer_value(json_object_get(s, "events_pending")), 1, "webhook: events_pending");
    ok(json_is_true(json_object_get(json_object_get(s, "events"), "webhook")), "webhook: true");
    json_decref(s);
    cs_store_set_webhook(st, 0);
    cs_store_stats(st, &s);
    is_int(json_integer_value(json_object_get(s, "events_pending")), 0, "no webhook: none pending");
    is_int(json_integer_value(json_object_get(s, "events_kept")), 1, "no webhook: one kept");
    is_int(json_integer_value(json_object_get(json_object_get(s, "events"), "pending")), 0,
	   "no webhook: events.pending 0");
    is_int(json_integer_value(json_object_get(json_object_get(s, "events"), "kept")), 1,
	   "no webhook: events.kept 1");
    json_decref(s);
    cs_store_set_webhook(st, 1);
    cs_store_outbox_claim(ob, now + 61, 100, 1 << 20, &e, &n);
    is_int(n, 1, "retry: pending again");
    cs_store_events_free(e, n);

    /* Lease: another live sender elsewhere waits; ours released, it takes over. */
    ob2 = cs_store_outbox_open(st, "hostB:1:bbbb", err, sizeof(err));
    cs_store_outbox_claim(ob2, now + 61, 100, 1 << 20, &e, &n);
    is_int(n, 0, "lease: a second sender gets nothing while the first holds it");
    cs_store_events_free(e, n);
    cs_store_outbox_close(ob);
    cs_store_outbox_claim(ob2, now + 61, 100, 1 << 20, &e, &n);
    is_int(n, 1, "lease: taken over after the holder closed");
    cs_store_outbox_settle(ob2, e, n, CS_EVENT_DELIVERED, now + 61, NULL);
    cs_store_events_free(e, n);
    /* Prune: delivered before the cut only. */
    is_int(cs_store_outbox_prune(ob2, now + 1, 0), CS_OK, "prune: ok");
    is_int(tl_q_int("SELECT count(*) FROM events"), 1, "prune: only the late delivery kept");
    cs_store_outbox_close(ob2);
    /* Expired lease: taken over even from another host. */
    tl_q_exec("INSERT OR REPLACE INTO event_lease VALUES('sender','hostC:1:cccc',1)");
    put(st, "o4@x", NULL, NULL, "Four", NULL);
    ob = cs_store_outbox_open(st, "hostA:1:dddd", err, sizeof(err));
    cs_store_outbox_claim(ob, now, 100, 1 << 20, &e, &n);
    is_int(n, 2, "lease: expired lease taken over");
    cs_store_events_free(e, n);
    cs_store_outbox_close(ob);
    cs_store_close(st);
}

int     main(void)
{
    cs_message_init();
    cs_log_init("t_events", 0, 0, CS_LOG_ERROR);
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_events");
    test_record();
    test_add();
    test_body();
    test_outbox();
    tl_rmtree(tmpdir);
    return done_testing();
}
