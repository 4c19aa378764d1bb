/*
 * NAME
 *	t_capture 1
 * SUMMARY
 *	end of message without an MTA (SPEC C1, C2, C4, C5, K2, K4)
 * DESCRIPTION
 *	capture_eom() (milter/capture.c) runs on message contexts built here
 *	as the callbacks would build them, against a store in a temporary
 *	directory: what it records, what it answers, and the recipients it
 *	asks the caller to delete (OpenDKIM's seam: its test.c runs the
 *	filter without an MTA in the same way). C6: a record the store
 *	refuses for good (a trigger refuses one subject) is set aside in
 *	JournalDir/rejected after a bounded number of attempts, and the
 *	journal behind it drains.
 */
#include <config.h>

/* System library. */
#include <dirent.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Application-specific. */
#include "capture.h"
#include "counters.h"
#include "cs_journal.h"
#include "journal.h"
#include "cs_log.h"
#include "cs_message.h"
#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

/* load - config and policy from text; NULL on failure (said) */
static cs_config *load(const char *extra, cs_policy **pol)
{
    char    text[2048], path[512], err[1024];
    cs_config *cfg;

    snprintf(text, sizeof(text), "Database %s/crmsync.db\nSpoolDir %s\nPolicyDir %s/policy\n"
	     "InternalDomains example.com\nDropbox log@crm.example.com\nSyslog no\n%s",
	     tmpdir, tmpdir, tmpdir, extra);
    tl_put(tmpdir, "crmsync.conf", text, strlen(text));
    snprintf(path, sizeof(path), "%s/crmsync.conf", tmpdir);
    if ((cfg = cs_config_load(path, err, sizeof(err))) == NULL
	|| (*pol = cs_policy_load(cfg, err, sizeof(err))) == NULL) {
	diag("config or policy: %s", err);
	cs_config_unref(cfg);
	return NULL;
    }
    return cfg;
}

/* msg_new - a message context as mlfi.c builds it: envelope, headers, body */
static cs_msg *msg_new(cs_config *cfg, cs_policy *pol, const char *auth, const char *from,
		               const char *const *rcpts, const char *raw)
{
    cs_msg *m = calloc(1, sizeof(*m));
    const char *body = strstr(raw, "\r\n\r\n");

    m->cfg = cs_config_ref(cfg);
    m->pol = cs_policy_ref(pol);
    m->env_from = strdup(from);
    m->auth_authen = auth ? strdup(auth) : NULL;
    for (; *rcpts; rcpts++)
	cs_strlist_add(&m->rcpts, *rcpts);
    snprintf(m->qid, sizeof(m->qid), "T%ld", (long) m->rcpts.n);
    m->hdr.limit = 1 << 20;
    cs_buf_append(&m->hdr, raw, (size_t) (body - raw) + 2);
    m->raw = cs_spool_new(cfg->spool_dir, 1 << 20, cfg->max_message_size);
    cs_spool_no_digest(m->raw);
    cs_spool_write(m->raw, raw, strlen(raw));
    m->bh = cs_bodyhash_new();
    cs_bodyhash_head(m->bh, raw, (size_t) (body - raw) + 4);
    cs_bodyhash_update(m->bh, body + 4, strlen(body + 4));
    m->arrival = time(NULL);
    return m;
}

/* msg_free - what mlfi.c's msg_free does */
static void msg_free(cs_msg *m)
{
    free(m->env_from);
    free(m->auth_authen);
    cs_strlist_free(&m->rcpts);
    cs_buf_free(&m->hdr);
    cs_spool_unref(m->raw);
    cs_bodyhash_free(m->bh);
    if (m->have_owners)
	cs_owners_free(&m->owners);
    cs_policy_unref(m->pol);
    cs_config_unref(m->cfg);
    free(m);
}

/* raw_addr - what the milter's address of raw should be: its head's and
 * body's composite (cs_bodyhash_final_addr), made here independently */
static void raw_addr(const char *raw, char hex[CS_DIGEST_HEX])
{
    const char *body = strstr(raw, "\r\n\r\n") + 4;
    cs_bodyhash *h = cs_bodyhash_new();
    char    t2[CS_DIGEST_HEX];
    uint64_t len;

    cs_bodyhash_head(h, raw, (size_t) (body - raw));
    cs_bodyhash_update(h, body, strlen(body));
    if (cs_bodyhash_final_addr(h, t2, hex, &len) < 0 || len != strlen(raw))
	snprintf(hex, CS_DIGEST_HEX, "none");
}

/* eom - run capture_eom on one message; its answer, and delrcpts joined by " " */
static int eom(cs_store *st, cs_config *cfg, cs_policy *pol, const char *auth, const char *from,
	               const char *const *rcpts, const char *raw, char *del, size_t len)
{
    cs_conn c = {0};
    cs_strlist d = {0};
    cs_msg *m = msg_new(cfg, pol, auth, from, rcpts, raw);
    int     rc;

    snprintf(c.client_addr, sizeof(c.client_addr), "192.0.2.1");
    c.client_port = 40000;
    c.msg = m;
    rc = capture_eom(st, &c, m, &d);
    del[0] = 0;
    for (size_t i = 0; i < d.n; i++)
	snprintf(del + strlen(del), len - strlen(del), "%s%s", i ? " " : "", d.v[i]);
    cs_strlist_free(&d);
    msg_free(m);
    return rc;
}

#define MSG(from, to, id) "From: " from "\r\nTo: " to "\r\nSubject: offer " id "\r\n" \
	"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <" id "@example.com>\r\n" \
	"\r\nHello.\r\n"

static cs_store *jstore;

static cs_store *get_jstore(void)
{
    return jstore;
}

/* jfig - a figure of the journal's status object; -1 when absent */
static long long jfig(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (long long) json_integer_value(v) : json_is_boolean(v)
	? (long long) json_is_true(v) : -1;
}

/* rejected_file - the one file in JournalDir/rejected; 1 if it holds the poison */
static int rejected_file(const char *jdir, int *nfiles)
{
    char    dir[600], path[900], buf[8192];
    struct dirent *e;
    DIR    *d;
    FILE   *fp;
    size_t  n;
    int     found = 0;

    *nfiles = 0;
    snprintf(dir, sizeof(dir), "%s/%s", jdir, CS_JOURNAL_REJECTED);
    if ((d = opendir(dir)) == NULL)
	return 0;
    while ((e = readdir(d)) != NULL) {
	if (e->d_name[0] == '.')
	    continue;
	++*nfiles;
	snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
	if ((fp = fopen(path, "rb")) != NULL) {
	    n = fread(buf, 1, sizeof(buf) - 1, fp);
	    fclose(fp);
	    found |= memcmp(buf, "CSJ1", 4) == 0 && memmem(buf, n, "offer poison", 12) != NULL;
	}
    }
    closedir(d);
    return found;
}

/* jconfig - the config with a journal in tmpdir/SUB, StoreWait 200ms */
static cs_config *jconfig(const char *sub, cs_policy **jp, char *jdir, size_t jdirlen)
{
    char    extra[512];

    snprintf(jdir, jdirlen, "%s/%s", tmpdir, sub);
    snprintf(extra, sizeof(extra), "JournalDir %s\nStoreWait 200ms\n", jdir);
    return load(extra, jp);
}

/* wait_rejected - the journal's status once it is empty with REJECTED set
 * aside (or after 30 s); *t0 the time waiting began */
static json_t *wait_rejected(long long rejected, time_t *t0)
{
    json_t *o;

    *t0 = time(NULL);
    do {
	struct timespec ts = {0, 100 * 1000 * 1000};

	nanosleep(&ts, NULL);
	o = jnl_status();
	if (jfig(o, "records") == 0 && jfig(o, "rejected") == rejected)
	    return o;
	json_decref(o);
    } while (time(NULL) - *t0 < 30);
    return jnl_status();
}

/*
 * C6: a record the store refuses for good (not a lock, not an outage: a
 * trigger refuses its subject while every other record commits) does not
 * hold the journal: after a bounded number of attempts it is set aside
 * in JournalDir/rejected, counted (rejected), and the records behind it
 * are stored; the journal drains and the breaker closes. Before, the
 * replay tried it again for ever: records stayed pending, the breaker
 * open, and everything past the first replay window unstored.
 */
static void refused_for_good(cs_store *st)
{
    cs_config *jc;
    cs_policy *jp;
    char    jdir[400], path[500], del[512];
    const char *ids[] = {"poison", "after1", "after2", "after3"};
    json_t *o, *doc;
    time_t  t0;
    int     nfiles;

    if ((jc = jconfig("journal", &jp, jdir, sizeof(jdir))) == NULL) {
	ok(0, "C6: config with a journal");
	return;
    }
    jstore = st;
    ok(tl_q_exec("CREATE TRIGGER poison BEFORE INSERT ON messages"
		 " WHEN NEW.subject = 'offer poison'"
		 " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END") == 0,
       "C6: a store that refuses one record (a trigger)");
    ok(jnl_start(jc, get_jstore) == 0, "C6: journal started");
    jnl_trip();
    for (size_t i = 0; i < 4; i++) {
	char    raw[512];

	snprintf(raw, sizeof(raw), "From: x@outside.example\r\nTo: bob@example.com\r\n"
		 "Subject: offer %s\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
		 "Message-ID: <%s@example.com>\r\n\r\nHello.\r\n", ids[i], ids[i]);
	is_int(eom(st, jc, jp, NULL, "x@outside.example",
		   (const char *[]) {"bob@example.com", NULL}, raw, del, sizeof(del)),
	       CAPTURE_ACCEPT, "C6: accepted, journaled");
    }
    o = wait_rejected(1, &t0);
    is_int(jfig(o, "rejected"), 1, "C6: the refused record counted as rejected");
    is_int(jfig(o, "records"), 0, "C6: the journal drained behind it");
    diag("set aside after %ld s; replay_failures %lld", (long) (time(NULL) - t0),
	 jfig(o, "replay_failures"));
    ok(jfig(o, "replay_failures") >= 4, "C6: after several attempts, not the first failure");
    json_decref(o);
    is_int(tl_q_int("SELECT count(*) FROM messages WHERE subject IN"
		    " ('offer after1', 'offer after2', 'offer after3')"), 3,
	   "C6: the records behind it are stored, once each");
    is_int(tl_q_int("SELECT count(*) FROM messages WHERE subject = 'offer poison'"), 0,
	   "C6: the refused one is not");
    ok(rejected_file(jdir, &nfiles) && nfiles == 1,
       "C6: set aside whole in JournalDir/rejected (the record, its message inside)");
    ok(jnl_breaker_open() == 0 || (sleep(2), jnl_breaker_open() == 0),
       "C6: the breaker closed again");
    jnl_stop();
    /* The status file crmsyncctl stats reads: the last one, at stop. */
    snprintf(path, sizeof(path), "%s/%s", jdir, CS_JOURNAL_STATUS);
    doc = json_load_file(path, 0, NULL);
    o = json_object_get(doc, "journal");
    ok(json_is_string(json_object_get(doc, "host")) && json_is_integer(json_object_get(doc, "written_at"))
       && json_is_false(json_object_get(doc, "running")), "C6: status file written at stop");
    is_int(jfig(o, "rejected"), 1, "C6: the status file counts the rejected record");
    json_decref(doc);
    tl_q_exec("DROP TRIGGER poison");
    cs_policy_unref(jp);
    cs_config_unref(jc);
}

/*
 * C6: a record refused alone on the direct path (the breaker closed, the
 * store committing the group it was written in) says nothing of the
 * store: journaled, tried again by the replay and set aside, but the
 * breaker stays closed and its warning is not logged. Before, it was
 * taken for a stuck store and opened the breaker.
 */
static void refused_direct(cs_store *st)
{
    cs_config *jc;
    cs_policy *jp;
    char    jdir[400], del[512], raw[512];
    long long rejected0;
    json_t *o;
    time_t  t0;
    int     rc;

    if ((jc = jconfig("journal2", &jp, jdir, sizeof(jdir))) == NULL) {
	ok(0, "C6 direct: config with a journal");
	return;
    }
    jstore = st;
    tl_q_exec("CREATE TRIGGER poison2 BEFORE INSERT ON messages"
	      " WHEN NEW.subject = 'offer refused direct'"
	      " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END");
    ok(jnl_start(jc, get_jstore) == 0 && jnl_breaker_open() == 0,
       "C6 direct: journal started, breaker closed");
    o = jnl_status();
    rejected0 = jfig(o, "rejected");
    json_decref(o);
    snprintf(raw, sizeof(raw), "From: x@outside.example\r\nTo: bob@example.com\r\n"
	     "Subject: offer refused direct\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
	     "Message-ID: <refused-direct@example.com>\r\n\r\nHello.\r\n");
    rc = eom(st, jc, jp, NULL, "x@outside.example", (const char *[]) {"bob@example.com", NULL},
	     raw, del, sizeof(del));
    is_int(rc, CAPTURE_ACCEPT, "C6 direct: the refused record's mail accepted");
    is_int(jnl_breaker_open(), 0, "C6 direct: a record refused alone leaves the breaker closed");
    o = wait_rejected(rejected0 + 1, &t0);
    is_int(jfig(o, "rejected") - rejected0, 1, "C6 direct: journaled, then set aside as rejected");
    json_decref(o);
    is_int(jnl_breaker_open(), 0, "C6 direct: the breaker closed all along");
    jnl_stop();
    tl_q_exec("DROP TRIGGER poison2");
    cs_policy_unref(jp);
    cs_config_unref(jc);
}

int     main(void)
{
    cs_config *cfg, *nodel, *tempfail;
    cs_policy *pol, *pol2, *pol3;
    const cs_user *users[2];
    cs_store *st;
    char    del[512], err[512], pdir[300];
    const char *users_policy = "User alice\nAddress alice@example.com\n\n"
	"User bob\nAddress bob@example.com\n";
    int     rc;

    cs_log_init("t_capture", 0, 0, CS_LOG_ERROR);
    cs_message_init();
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_capture");
    snprintf(pdir, sizeof(pdir), "%s/policy", tmpdir);
    mkdir(pdir, 0700);
    tl_put(pdir, "users.policy", users_policy, strlen(users_policy));
    if ((cfg = load("", &pol)) == NULL || (nodel = load("DropboxRemove no\n", &pol2)) == NULL
	|| (tempfail = load("On-Error tempfail\n", &pol3)) == NULL)
	return printf("Bail out! config\n"), 1;
    snprintf(tl_db, sizeof(tl_db), "%s", cfg->database);
    st = cs_store_open(cfg->database, CS_STORE_WRITER | CS_STORE_CREATE, 5000, err, sizeof(err));
    if (st == NULL)
	return printf("Bail out! store: %s\n", err), 1;
    users[0] = cs_policy_user(pol, "alice");
    users[1] = cs_policy_user(pol, "bob");
    cs_store_sync_users2(st, users, 2);

    /* K2: alice's Smart BCC: her copy with label bcc, a person; C5: deleted as given. */
    rc = eom(st, cfg, pol, "alice@example.com", "alice@example.com",
	     (const char *[]) {"<buyer@customer.example>", "<Log@CRM.example.com>", NULL},
	     MSG("Alice <alice@example.com>", "Buyer <buyer@customer.example>", "k2"),
	     del, sizeof(del));
    is_int(rc, CAPTURE_ACCEPT, "K2: accepted");
    is_str(del, "<Log@CRM.example.com>", "C5: the dropbox recipient to delete, as received");
    is_int(tl_q_int("SELECT count(*) FROM messages WHERE owner='alice'"), 1,
	   "K2: alice's copy recorded");
    is_int(tl_q_int("SELECT count(*) FROM message_labels WHERE owner='alice' AND label='bcc'"),
	   1, "K2: labelled bcc");
    is_int(tl_q_int("SELECT count(*) FROM persons WHERE origin='bcc' AND owner='alice'"
		    " AND name='Buyer'"), 1, "K2: a person named from the To header, alice's");

    /* K4: an outsider using the dropbox: bob's copy, no person; still deleted. */
    rc = eom(st, cfg, pol, NULL, "x@outside.example",
	     (const char *[]) {"bob@example.com", "log+x@crm.example.com", NULL},
	     MSG("x@outside.example", "bob@example.com", "k4"), del, sizeof(del));
    is_int(rc, CAPTURE_ACCEPT, "K4: accepted");
    is_str(del, "log+x@crm.example.com", "C5: deleted whoever sent it");
    is_int(tl_q_int("SELECT count(*) FROM messages WHERE owner='bob'"), 1, "C2: bob's copy");
    is_int(tl_q_int("SELECT count(*) FROM persons WHERE origin='bcc'"), 1, "K4: no Smart BCC person");

    /*
     * The raw message: one row for both copies, its bytes as sent, named
     * by the address made beside T2 (one pass), not by a second SHA-256.
     * A message with the same body and other headers: a row of its own.
     */
    {
	const char *raw1 = MSG("x@outside.example", "alice@example.com, bob@example.com", "raw1");
	const char *raw2 = MSG("x@outside.example", "alice@example.com, bob@example.com", "raw2");
	char    want[CS_DIGEST_HEX], plain[CS_DIGEST_HEX], got[CS_DIGEST_HEX];
	char    bytes[1024];

	eom(st, cfg, pol, NULL, "x@outside.example",
	    (const char *[]) {"alice@example.com", "bob@example.com", NULL}, raw1, del, sizeof(del));
	eom(st, cfg, pol, NULL, "x@outside.example",
	    (const char *[]) {"alice@example.com", "bob@example.com", NULL}, raw2, del, sizeof(del));
	is_int(tl_q_int("SELECT count(DISTINCT raw) FROM messages WHERE message_id='raw1@example.com'"),
	       1, "raw: both copies share one raw row");
	is_int(tl_q_int("SELECT count(*) FROM messages WHERE message_id='raw1@example.com'"),
	       2, "raw: two copies");
	raw_addr(raw1, want);
	cs_sha256_hex(raw1, strlen(raw1), plain);
	is_str(tl_q_col("SELECT r.sha256 FROM messages m JOIN raw r ON r.id=m.raw"
			" WHERE m.message_id='raw1@example.com' LIMIT 1", 0, got, sizeof(got)),
	       want, "raw: addressed beside T2 (one pass over the body)");
	ok(strcmp(want, plain) != 0, "raw: that address is not the plain SHA-256");
	is_str(tl_q_col("SELECT CAST(r.data AS TEXT) FROM messages m JOIN raw r ON r.id=m.raw"
			" WHERE m.message_id='raw1@example.com' LIMIT 1", 0, bytes, sizeof(bytes)),
	       raw1, "raw: the bytes as sent");
	is_str(tl_q_col("SELECT CAST(r.data AS TEXT) FROM messages m JOIN raw r ON r.id=m.raw"
			" WHERE m.message_id='raw2@example.com' LIMIT 1", 0, bytes, sizeof(bytes)),
	       raw2, "raw: same body, other headers: its own bytes");
    }

    /* No owner, no dropbox: nothing recorded, nothing deleted. */
    rc = eom(st, cfg, pol, NULL, "x@outside.example",
	     (const char *[]) {"y@outside.example", NULL},
	     MSG("x@outside.example", "y@outside.example", "none"), del, sizeof(del));
    is_int(rc, CAPTURE_ACCEPT, "no owner: accepted");
    is_str(del, "", "no owner: nothing to delete");
    is_int(tl_q_int("SELECT count(*) FROM messages"), 6, "no owner: nothing recorded");

    /* DropboxRemove no: nothing to delete. */
    rc = eom(st, nodel, pol2, NULL, "x@outside.example",
	     (const char *[]) {"bob@example.com", "log@crm.example.com", NULL},
	     MSG("x@outside.example", "bob@example.com", "keep"), del, sizeof(del));
    is_str(del, "", "DropboxRemove no: the dropbox stays");

    /* C1: no store: accepted and the dropbox still deleted; On-Error tempfail: neither. */
    rc = eom(NULL, cfg, pol, NULL, "x@outside.example",
	     (const char *[]) {"bob@example.com", "log@crm.example.com", NULL},
	     MSG("x@outside.example", "bob@example.com", "down1"), del, sizeof(del));
    is_int(rc, CAPTURE_ACCEPT, "C1: store down: accepted");
    is_str(del, "log@crm.example.com", "C1: store down: the dropbox still deleted");
    rc = eom(NULL, tempfail, pol3, NULL, "x@outside.example",
	     (const char *[]) {"bob@example.com", "log@crm.example.com", NULL},
	     MSG("x@outside.example", "bob@example.com", "down2"), del, sizeof(del));
    is_int(rc, CAPTURE_TEMPFAIL, "On-Error tempfail: store down: tempfailed");
    is_str(del, "", "... and the envelope left alone");

    refused_for_good(st);
    refused_direct(st);

    cs_store_close(st);
    cs_policy_unref(pol);
    cs_policy_unref(pol2);
    cs_policy_unref(pol3);
    cs_config_unref(cfg);
    cs_config_unref(nodel);
    cs_config_unref(tempfail);
    tl_rmtree(tmpdir);
    return done_testing();
}
