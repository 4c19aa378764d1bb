/*
 * NAME
 *	t_counters 1
 * SUMMARY
 *	unit tests: the milter's counters, last-hour ring, status document
 *	and its round trip through the store (issue 10, crmsyncctl stats)
 */
#include <config.h>

/* System library. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

/* Application-specific. */
#include "counters.h"
#include "cs_log.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

/* get_int - an integer at a dot path of a document, -1 if absent */
static long long get_int(json_t *doc, const char *path)
{
    char    buf[256], *save = NULL, *key;
    json_t *cur = doc;

    snprintf(buf, sizeof(buf), "%s", path);
    for (key = strtok_r(buf, ".", &save); key && cur; key = strtok_r(NULL, ".", &save))
	cur = json_object_get(cur, key);
    return json_is_integer(cur) ? (long long) json_integer_value(cur) : -1;
}

/* get_str - a string at a dot path, NULL if absent */
static const char *get_str(json_t *doc, const char *path)
{
    char    buf[256], *save = NULL, *key;
    json_t *cur = doc;

    snprintf(buf, sizeof(buf), "%s", path);
    for (key = strtok_r(buf, ".", &save); key && cur; key = strtok_r(NULL, ".", &save))
	cur = json_object_get(cur, key);
    return json_string_value(cur);
}

/* hour_seen - last_hour.seen at mono */
static long long hour_seen(cs_counters *c, long mono)
{
    json_t *doc = cs_counters_json(c, mono, 1);
    long long n = get_int(doc, "last_hour.seen");

    json_decref(doc);
    return n;
}

/* test_ring - since start and the last hour, across rollovers */
static void test_ring(void)
{
    cs_counters *c = cs_counters_new(86400);
    json_t *doc;

    cs_counters_add(c, CS_CNT_SEEN, 1, 0);	/* minute 0 */
    cs_counters_add(c, CS_CNT_SEEN, 2, 61);	/* minute 1 */
    cs_counters_add(c, CS_CNT_SYNCED, 1, 61);
    doc = cs_counters_json(c, 61, 1);
    is_int(get_int(doc, "since_start.seen"), 3, "ring: since start");
    is_int(get_int(doc, "last_hour.seen"), 3, "ring: last hour, same minute");
    is_int(get_int(doc, "last_hour.synced"), 1, "ring: another counter, same bucket");
    is_int(get_int(doc, "since_start.no_owner"), 0, "ring: untouched counter is 0");
    is_str(get_str(doc, "started_at"), "1970-01-02T00:00:00Z", "json: started_at ISO UTC");
    ok(json_is_true(json_object_get(doc, "running")), "json: running true");
    ok(json_object_get(doc, "interval") == NULL, "json: interval left to the flush");
    ok(json_is_null(json_object_get(json_object_get(doc, "policy"), "loaded_at")),
       "json: no policy yet: loaded_at null");
    json_decref(doc);

    is_int(hour_seen(c, 3599), 3, "ring: minute 59 still holds minute 0");
    is_int(hour_seen(c, 3600), 2, "ring: minute 60 drops minute 0");
    is_int(hour_seen(c, 3660), 0, "ring: minute 61 drops minute 1");
    is_int(hour_seen(c, 30), 1, "ring: a bucket ahead of now is left out");

    /* Minute 60 lands in minute 0's slot: cleared, not added to. */
    cs_counters_add(c, CS_CNT_SEEN, 5, 3600);
    is_int(hour_seen(c, 3600), 7, "ring: reused slot starts afresh (2 + 5)");
    cs_counters_add(c, CS_CNT_SEEN, 1, 3600 + 86400);
    is_int(hour_seen(c, 3600 + 86400), 1, "ring: a day later only the new minute");
    doc = cs_counters_json(c, 3600 + 86400, 0);
    is_int(get_int(doc, "since_start.seen"), 9, "ring: since start keeps everything");
    ok(json_is_false(json_object_get(doc, "running")), "json: running false at stop");
    json_decref(doc);

    /* Out-of-range counters are ignored, not written past the arrays. */
    cs_counters_add(c, -1, 1, 0);
    cs_counters_add(c, CS_CNT_N, 1, 0);
    cs_counters_add(NULL, CS_CNT_SEEN, 1, 0);
    is_int(hour_seen(c, 3600 + 86400), 1, "ring: bad counter ids ignored");
    cs_counters_free(c);
}

/* test_skip - S5 reasons map to their counters */
static void test_skip(void)
{
    const char *reasons[] = {"mode-off", "no-label", "rules-error", "blocked",
    "internal-only", "automated"};
    cs_counters *c = cs_counters_new(0);
    json_t *doc, *sk;
    char    path[64];

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
	is_int(cs_counters_skip_index(reasons[i]), CS_CNT_SKIP_MODE_OFF + (int) i,
	       reasons[i]);
	cs_counters_add(c, cs_counters_skip_index(reasons[i]), i + 1, 10);
    }
    is_int(cs_counters_skip_index("synced"), -1, "skip: a counter that is no reason");
    is_int(cs_counters_skip_index("bogus"), -1, "skip: unknown reason");
    is_int(cs_counters_skip_index(NULL), -1, "skip: NULL");
    doc = cs_counters_json(c, 10, 1);
    sk = json_object_get(json_object_get(doc, "since_start"), "skipped");
    is_int(json_object_size(sk), 6, "json: six reasons under skipped");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
	snprintf(path, sizeof(path), "last_hour.skipped.%s", reasons[i]);
	is_int(get_int(doc, path), (long long) i + 1, path);
    }
    ok(json_object_get(json_object_get(doc, "since_start"), "mode-off") == NULL,
       "json: reasons only under skipped");
    is_str(get_str(doc, "started_at"), NULL, "json: started_at 0 is null");
    json_decref(doc);
    cs_counters_free(c);
}

/* test_policy - load time, users, rules-error users, refused reloads */
static void test_policy(void)
{
    cs_counters *c = cs_counters_new(0);
    cs_config *cfg = cs_config_default();
    cs_policy *pol;
    char    err[1024], text[512];
    json_t *doc, *errs;
    const char *bad = "require \"fileinto\";\nfileinto \"X\"\n";

    free(cfg->policy_dir);
    cfg->policy_dir = strdup(tmpdir);
    tl_put(tmpdir, "bad.sieve", bad, strlen(bad));
    snprintf(text, sizeof(text), "User alice\nAddress alice@example.com\n\n"
	     "User dave\nAddress dave@example.com\nRules %s/bad.sieve\n\n"
	     "Group sales@example.com alice, dave\n", tmpdir);
    tl_put(tmpdir, "users.policy", text, strlen(text));
    if ((pol = cs_policy_load(cfg, err, sizeof(err))) == NULL) {
	ok(0, "policy: test policy loads: %s", err);
	cs_config_unref(cfg);
	cs_counters_free(c);
	return;
    }
    cs_counters_policy(c, pol, 42, 86400);
    doc = cs_counters_json(c, 0, 1);
    is_int(get_int(doc, "policy.users"), 2, "policy: users");
    is_int(get_int(doc, "policy.groups"), 1, "policy: groups");
    is_int(get_int(doc, "policy.load_ms"), 42, "policy: load_ms");
    is_str(get_str(doc, "policy.loaded_at"), "1970-01-02T00:00:00Z", "policy: loaded_at");
    is_int(get_int(doc, "policy.reloads"), 0, "policy: the first load is no reload");
    errs = json_object_get(json_object_get(doc, "policy"), "rules_errors");
    is_int(json_array_size(errs), 1, "policy: one rules-error user");
    is_str(json_string_value(json_object_get(json_array_get(errs, 0), "user")), "dave",
	   "policy: dave is the rules-error user");
    ok(strstr(json_string_value(json_object_get(json_array_get(errs, 0), "error")) ?
	      json_string_value(json_object_get(json_array_get(errs, 0), "error")) : "",
	      "bad.sieve:") != NULL, "policy: the error names the script");
    ok(json_is_null(json_object_get(json_object_get(doc, "policy"), "last_error")),
       "policy: no failure: last_error null");
    json_decref(doc);

    /* A refused reload: counted, reason kept (sanitized), policy kept. */
    cs_counters_policy_failed(c, "users.policy:3: bad \x01value\xff", 90000);
    cs_counters_policy(c, pol, 7, 90001);
    doc = cs_counters_json(c, 0, 1);
    is_int(get_int(doc, "policy.reload_failures"), 1, "policy: reload failure counted");
    is_str(get_str(doc, "policy.last_error"), "users.policy:3: bad ?value?",
	   "policy: last_error sanitized");
    ok(get_str(doc, "policy.last_error_at") != NULL, "policy: last_error_at");
    is_int(get_int(doc, "policy.reloads"), 1, "policy: a second load is a reload");
    is_int(get_int(doc, "policy.load_ms"), 7, "policy: load_ms of the last load");
    json_decref(doc);
    cs_policy_unref(pol);
    cs_config_unref(cfg);
    cs_counters_free(c);
}

static cs_store *test_store;

/* shm_locked_by_other - does another process see a lock on path's -shm
 * "in use" byte (SQLite's DMS lock, byte 128)? 1 yes, 0 no, -1 error */
static int shm_locked_by_other(const char *path)
{
    char    shm[600];
    pid_t   pid;
    int     status;

    snprintf(shm, sizeof(shm), "%s-shm", path);
    if ((pid = fork()) < 0)
	return -1;
    if (pid == 0) {
	/* A child holds none of its parent's POSIX locks: it sees them. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
	int     fd = open(shm, O_RDONLY);

	if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0)
	    _exit(2);
	_exit(fl.l_type == F_UNLCK ? 0 : 1);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) > 1)
	return -1;
    return WEXITSTATUS(status);
}

/* get_test_store - the flush thread's store */
static cs_store *get_test_store(void)
{
    return test_store;
}

/* sq_exec - one statement on the store's file from a connection of its own */
static int sq_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    int     rc;

    if (sqlite3_open(path, &db) != SQLITE_OK) {
	sqlite3_close(db);
	return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* status_of - the status of host as stats shows it (new reference) */
static json_t *status_of(cs_store *st, const char *host)
{
    json_t *stats = NULL, *h;

    if (cs_store_stats(st, &stats) != CS_OK)
	return NULL;
    h = json_incref(json_object_get(json_object_get(stats, "milter"), host));
    json_decref(stats);
    return h;
}

/* test_store_status - the document's round trip, busy writer, bad input */
static void test_store_status(void)
{
    char    path[512], err[512], host[256], longhost[300];
    cs_counters *c = cs_counters_new(86400);
    cs_store *st, *ro;
    json_t *doc, *h, *all = NULL;
    struct timespec pause = {0, 50 * 1000 * 1000};

    snprintf(path, sizeof(path), "%s/crmsync.db", tmpdir);
    st = cs_store_open(path, CS_STORE_WRITER | CS_STORE_CREATE, 2000, err, sizeof(err));
    if (!ok(st != NULL, "store: opened")) {
	diag("%s", err);
	cs_counters_free(c);
	return;
    }
    /* Regression: fixing the new store's side files used to close a
     * descriptor of the -shm and so drop SQLite's lock on it; crmsyncctl
     * then reset the WAL index under the milter's writes (SIGBUS). */
    is_int(shm_locked_by_other(path), 1, "store: a new store keeps its lock on the -shm file");
    cs_counters_add(c, CS_CNT_SEEN, 3, 0);
    doc = cs_counters_json(c, 0, 1);
    is_int(cs_store_milter_status_put(st, "mx1.example.com", time(NULL), doc), CS_OK,
	   "store: put mx1");
    is_int(cs_store_milter_status_put(st, "mx2", time(NULL) - 100, doc), CS_OK, "store: put mx2");
    h = status_of(st, "mx1.example.com");
    is_int(get_int(h, "since_start.seen"), 3, "store: stats shows mx1's document");
    ok(get_str(h, "updated_at") != NULL, "store: with updated_at");
    ok(get_int(h, "age_seconds") >= 0 && get_int(h, "age_seconds") < 5, "store: fresh age");
    json_decref(h);
    h = status_of(st, "mx2");
    ok(get_int(h, "age_seconds") >= 100, "store: mx2's age shows it is stale");
    json_decref(h);

    /* A second put replaces the row. */
    cs_counters_add(c, CS_CNT_SEEN, 1, 0);
    json_decref(doc);
    doc = cs_counters_json(c, 0, 1);
    is_int(cs_store_milter_status_put(st, "mx1.example.com", time(NULL), doc), CS_OK,
	   "store: put mx1 again");
    h = status_of(st, "mx1.example.com");
    is_int(get_int(h, "since_start.seen"), 4, "store: replaced, not added");
    json_decref(h);
    is_int(cs_store_milter_status(st, &all), CS_OK, "store: status of all hosts");
    is_int(json_object_size(all), 2, "store: one entry per host");
    json_decref(all);

    /* A row no milter of this version wrote: shown as unreadable, dated
     * (the one reader both dialects use, cs_status_doc). */
    {
	json_t *u = cs_status_doc("{\"a\": 1, \"a\": 2}", 1000, 1060);

	ok(u && get_str(u, "error") && strcmp(get_str(u, "error"), "unreadable status") == 0,
	   "status: duplicate keys: unreadable");
	ok(u && get_int(u, "age_seconds") == 60 && get_str(u, "updated_at")
	   && strcmp(get_str(u, "updated_at"), "1970-01-01T00:16:40Z") == 0,
	   "status: ... dated, with its age");
	json_decref(u);
	u = cs_status_doc("[1]", 1000, 900);
	ok(u && get_str(u, "error") && get_int(u, "age_seconds") == 0,
	   "status: not an object: unreadable; a future time is age 0");
	json_decref(u);
	u = cs_status_doc("{\"seen\": 7}", 1000, 1001);
	ok(u && get_int(u, "seen") == 7 && get_str(u, "error") == NULL,
	   "status: a document is shown as written");
	json_decref(u);
	ok(sq_exec(path, "INSERT INTO milter_status(host, updated_at, status_json)"
		   " VALUES('mx3', 1000, 'not json')") == 0, "store: a damaged row for mx3");
	h = status_of(st, "mx3");
	ok(h && get_str(h, "error") && strcmp(get_str(h, "error"), "unreadable status") == 0,
	   "store: stats shows mx3 as unreadable, not left out");
	json_decref(h);
	ok(sq_exec(path, "DELETE FROM milter_status WHERE host = 'mx3'") == 0, "store: mx3 gone");
    }

    /* Mail first: while the writer holds its connection, skip. */
    pthread_mutex_lock(&st->wlock);
    is_int(cs_store_milter_status_put(st, "mx1.example.com", time(NULL), doc), CS_EINTERNAL,
	   "store: writer busy: flush skipped at once");
    pthread_mutex_unlock(&st->wlock);

    is_int(cs_store_milter_status_put(st, "", time(NULL), doc), CS_EINVAL, "store: empty host");
    memset(longhost, 'h', 256);
    longhost[256] = 0;
    is_int(cs_store_milter_status_put(st, longhost, time(NULL), doc), CS_EINVAL,
	   "store: host over 255 bytes");
    all = json_array();
    is_int(cs_store_milter_status_put(st, "mx1", time(NULL), all), CS_EINVAL,
	   "store: not an object");
    json_decref(all);
    is_int(cs_store_milter_status_put(NULL, "mx1", time(NULL), doc), CS_EINVAL, "store: NULL");

    ro = cs_store_open(path, CS_STORE_READONLY, 2000, err, sizeof(err));
    ok(ro != NULL, "store: read-only open (crmsyncctl stats)");
    if (ro) {
	is_int(cs_store_milter_status_put(ro, "mx1", time(NULL), doc), CS_EINTERNAL,
	       "store: read-only: no put");
	h = status_of(ro, "mx1.example.com");
	is_int(get_int(h, "since_start.seen"), 4, "store: read-only stats shows it");
	json_decref(h);
	cs_store_close(ro);
    }
    /* The time as ISO 8601 UTC. */
    is_int(cs_store_milter_status_put(st, "mx3", 86400, doc), CS_OK, "store: put mx3 at day 1");
    h = status_of(st, "mx3");
    is_str(get_str(h, "updated_at"), "1970-01-02T00:00:00Z", "store: updated_at ISO 8601 UTC");
    json_decref(h);
    json_decref(doc);

    /* The flush thread: at once on a kick, "running": false at stop. */
    if (gethostname(host, sizeof(host)) < 0 || host[0] == 0)
	snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = 0;
    cs_count(CS_CNT_SEEN);
    cs_count_skip("blocked");
    cs_count_skip("no such reason");
    test_store = st;
    setenv("CRMSYNC_STATUS_INTERVAL", "3600", 1);
    is_int(cs_counters_flush_start(get_test_store), 0, "flush: thread started");
    cs_counters_flush_kick();
    h = NULL;
    for (int i = 0; i < 60 && h == NULL; i++) {
	nanosleep(&pause, NULL);
	h = status_of(st, host);
    }
    ok(h != NULL, "flush: a kick writes this host's status");
    is_int(get_int(h, "since_start.seen"), 1, "flush: global seen");
    is_int(get_int(h, "since_start.skipped.blocked"), 1, "flush: global skipped.blocked");
    is_int(get_int(h, "interval"), 3600, "flush: interval from CRMSYNC_STATUS_INTERVAL");
    ok(json_is_true(json_object_get(h, "running")), "flush: running");
    json_decref(h);
    cs_counters_flush_stop();
    h = status_of(st, host);
    ok(json_is_false(json_object_get(h, "running")), "flush: stop writes running false");
    json_decref(h);
    cs_counters_flush_stop();			/* twice: harmless */
    cs_store_close(st);
    cs_counters_free(c);
}

int     main(void)
{
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_counters");
    cs_message_init();
    cs_log_init("t_counters", 0, 0, CS_LOG_ERROR);
    test_ring();
    test_skip();
    test_policy();
    test_store_status();
    tl_rmtree(tmpdir);
    return done_testing();
}
