/*
 * NAME
 *	evdrive 1
 * SUMMARY
 *	drive the X3 event path without an MTA: record mail, run the sender
 * SYNOPSIS
 *	evdrive record DB [options]	record messages through the store API
 *	evdrive send DB [options]	run the event sender (milter/events.c)
 *	evdrive both DB [options]	send while recording; time the records
 *	evdrive share DB THREAD OWNER	share a thread (SQL + sq_event_add)
 * DESCRIPTION
 *	Options: --count N (messages), --threads T (spread over T threads,
 *	each a reply chain), --start J (first message number in each
 *	chain: J > 0 continues an earlier run's chains), --tag S (message-id tag: runs with different
 *	tags make different threads), --contacts (one Smart BCC person per
 *	message), --url U, --secret F, --ca F, --timeout-ms N,
 *	--backoff-max-ms N, --batch N, --until-empty S (send until nothing
 *	is pending, at most S seconds; exit 1 if still pending), --for S
 *	(send S seconds). Messages go to alice@example.com from
 *	"Secret Sender <secret<k>@outside.example>" with subject
 *	"SECRET subject <tag>-<k>", so a test can grep events for leaks (V6).
 *	record and both print {"records", "ms", "max_ms", "p99_ms"}; send
 *	and both then print the outbox counts.
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
#include "events.h"

typedef struct opts {
    long    count, threads, start, timeout_ms, backoff_max_ms, batch, until_empty, run_for;
    const char *tag, *url, *secret, *ca;
    int     contacts;
} opts;

/* now_ms - monotonic milliseconds */
static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* cmp_d - qsort doubles */
static int cmp_d(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* record_one - message j of thread k */
static int record_one(cs_store *st, const opts *o, long k, long j)
{
    char   *raw = NULL, irt[160] = "", addr[80];
    const char *body;
    cs_msginfo mi;
    cs_spool *sp;
    cs_bodyhash *h;
    char    digest[CS_DIGEST_HEX];
    cs_strlist labels = {0}, rcpts = {0};
    cs_copy cp = {0};
    cs_contact ct = {0};
    cs_record rec = {0};
    int     res = 0, rc;

    if (j > 0)
	snprintf(irt, sizeof(irt), "In-Reply-To: <t%ld-%ld@%s>\r\n", k, j - 1, o->tag);
    if (asprintf(&raw, "From: Secret Sender <secret%ld@outside.example>\r\n"
		 "To: alice@example.com\r\nSubject: %sSECRET subject %s-%ld\r\n"
		 "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <t%ld-%ld@%s>\r\n%s"
		 "\r\nSecret body %ld/%ld.\r\n", k, j ? "Re: " : "", o->tag, k, k, j, o->tag, irt,
		 k, j) < 0)
	return -1;
    memset(&mi, 0, sizeof(mi));
    cs_msginfo_parse(raw, strlen(raw), &mi);
    sp = cs_spool_new("/tmp", 1 << 20, 1 << 26);
    cs_spool_write(sp, raw, strlen(raw));
    body = strstr(raw, "\r\n\r\n") + 4;
    h = cs_bodyhash_new();
    cs_bodyhash_update(h, body, strlen(body));
    cs_bodyhash_final(h, digest);
    cs_strlist_add(&rcpts, "alice@example.com");
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    cp.labels = &labels;
    cp.env_rcpts = &rcpts;
    rec.queue_id = "EVQ";
    rec.arrival = time(NULL);
    rec.source = "smtp";
    rec.env_from = "secret@outside.example";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    if (o->contacts) {
	snprintf(addr, sizeof(addr), "p%ld-%ld-%s@contacts.example", k, j, o->tag);
	ct.owner = "alice";
	ct.address = addr;
	ct.name = "Contact Person";
	rec.contacts = &ct;
	rec.ncontacts = 1;
    }
    rc = cs_store_record(st, &rec, 10000, &res);
    cs_strlist_free(&rcpts);
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
    free(raw);
    return rc == CS_OK && res == CS_COPY_STORED ? 0 : -1;
}

/* record_all - count messages round-robin over the threads, timed */
static int record_all(cs_store *st, const opts *o, json_t *out)
{
    double *t = calloc((size_t) o->count + 1, sizeof(*t)), total = 0, t0;
    long    i, bad = 0;

    if (t == NULL)
	return -1;
    for (i = 0; i < o->count; i++) {
	t0 = now_ms();
	if (record_one(st, o, i % o->threads, o->start + i / o->threads) < 0)
	    bad++;
	t[i] = now_ms() - t0;
	total += t[i];
    }
    qsort(t, (size_t) o->count, sizeof(*t), cmp_d);
    json_object_set_new(out, "records", json_integer(o->count - bad));
    json_object_set_new(out, "ms", json_real(total));
    json_object_set_new(out, "max_ms", json_real(o->count ? t[o->count - 1] : 0));
    json_object_set_new(out, "p99_ms", json_real(o->count ? t[(o->count * 99) / 100] : 0));
    free(t);
    return bad ? -1 : 0;
}

/* pending - events not yet delivered nor parked */
static long pending(cs_store *st, json_t *out)
{
    json_t *ev = NULL;
    long    n = -1;

    if (cs_store_events_stats(st, &ev) == CS_OK) {
	n = (long) json_integer_value(json_object_get(ev, "pending"));
	if (out)
	    json_object_set(out, "events", ev);
    }
    json_decref(ev);
    return n;
}

/* share - what crmsyncctl share will do, for the tests until it lands */
static int share(const char *db_path, const char *thread, const char *owner)
{
    sqlite3 *db;
    char    sql[128];
    json_t *ids = json_pack("{s:s,s:s}", "thread", thread, "visibility", "shared");
    int     rc = 1;

    if (sqlite3_open(db_path, &db) != SQLITE_OK)
	return 1;
    sqlite3_busy_timeout(db, 10000);
    snprintf(sql, sizeof(sql), "UPDATE threads SET visibility='shared' WHERE id=%lld",
	     atoll(thread[0] == 't' ? thread + 1 : thread));
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
	&& sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
	&& sq_event_add(db, "thread.visibility_changed", owner, thread, ids, NULL) == CS_OK
	&& sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
	rc = 0;
    else
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    json_decref(ids);
    sqlite3_close(db);
    return rc;
}

int     main(int argc, char **argv)
{
    opts    o = {.count = 10, .threads = 3, .timeout_ms = 2000, .backoff_max_ms = 2000,
    .batch = 100, .tag = "run"};
    const char *cmd, *db;
    cs_store *st;
    cs_events *ev = NULL;
    cs_events_conf conf;
    json_t *out;
    char    err[1024];
    int     i, rc = 0;
    double  t0;

    if (argc < 3)
	goto usage;
    cmd = argv[1];
    db = argv[2];
    if (strcmp(cmd, "share") == 0)
	return argc == 5 ? share(db, argv[3], argv[4]) : 2;
    for (i = 3; i < argc; i++) {
	const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

	if (strcmp(a, "--contacts") == 0) {
	    o.contacts = 1;
	    continue;
	}
	if (v == NULL)
	    goto usage;
	i++;
	if (strcmp(a, "--count") == 0)
	    o.count = atol(v);
	else if (strcmp(a, "--threads") == 0)
	    o.threads = atol(v) > 0 ? atol(v) : 1;
	else if (strcmp(a, "--start") == 0)
	    o.start = atol(v);
	else if (strcmp(a, "--tag") == 0)
	    o.tag = v;
	else if (strcmp(a, "--url") == 0)
	    o.url = v;
	else if (strcmp(a, "--secret") == 0)
	    o.secret = v;
	else if (strcmp(a, "--ca") == 0)
	    o.ca = v;
	else if (strcmp(a, "--timeout-ms") == 0)
	    o.timeout_ms = atol(v);
	else if (strcmp(a, "--backoff-max-ms") == 0)
	    o.backoff_max_ms = atol(v);
	else if (strcmp(a, "--batch") == 0)
	    o.batch = atol(v);
	else if (strcmp(a, "--until-empty") == 0)
	    o.until_empty = atol(v);
	else if (strcmp(a, "--for") == 0)
	    o.run_for = atol(v);
	else
	    goto usage;
    }
    cs_message_init();
    cs_log_init("evdrive", 0, 0, getenv("EVDRIVE_DEBUG") ? CS_LOG_DEBUG : CS_LOG_WARN);
    if ((st = cs_store_open(db, CS_STORE_WRITER | CS_STORE_CREATE, 10000, err,
			    sizeof(err))) == NULL) {
	fprintf(stderr, "evdrive: %s\n", err);
	return 2;
    }
    out = json_object();
    if (strcmp(cmd, "send") == 0 || strcmp(cmd, "both") == 0) {
	cs_events_conf_init(&conf, NULL);
	conf.url = o.url;
	conf.secret_file = o.secret;
	conf.ca_file = o.ca;
	conf.timeout_ms = o.timeout_ms;
	conf.connect_timeout_ms = o.timeout_ms;
	conf.backoff_min_ms = 200;
	conf.backoff_max_ms = o.backoff_max_ms;
	conf.batch_max = (size_t) o.batch;
	conf.poll_ms = 50;
	if ((ev = cs_events_start(st, &conf, err, sizeof(err))) == NULL) {
	    fprintf(stderr, "evdrive: %s\n", err);
	    cs_store_close(st);
	    json_decref(out);
	    return 3;
	}
    } else if (strcmp(cmd, "record") != 0)
	goto usage;
    if (strcmp(cmd, "record") == 0 || strcmp(cmd, "both") == 0)
	rc = record_all(st, &o, out) < 0 ? 1 : 0;
    t0 = now_ms();
    if (ev && o.until_empty) {
	while (pending(st, NULL) != 0 && now_ms() - t0 < o.until_empty * 1000.0)
	    usleep(50000);
	if (pending(st, NULL) != 0)
	    rc = 1;
    } else if (ev && o.run_for)
	usleep((useconds_t) (o.run_for * 1000000L));
    json_object_set_new(out, "send_seconds", json_real((now_ms() - t0) / 1000));
    cs_events_stop(ev);
    pending(st, out);
    cs_store_close(st);
    {
	char   *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);

	printf("%s\n", s ? s : "{}");
	free(s);
    }
    json_decref(out);
    return rc;
usage:
    fprintf(stderr, "usage: evdrive record|send|both DB [options] | share DB THREAD OWNER\n");
    return 2;
}
