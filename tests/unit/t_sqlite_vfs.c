/*
 * NAME
 *	t_sqlite_vfs 1
 * SUMMARY
 *	the WAL-gathering VFS shim keeps SQLite's promises (cs_sqlite_vfs.c)
 * DESCRIPTION
 *	Through the "crmsync" VFS:
 *	  - at every sync of the WAL the file ends in a commit frame, and
 *	    after each commit the last sync covered every frame the
 *	    wal-index counts: all of a transaction's frames were written
 *	    before its sync (a spy VFS under the shim watches the writes
 *	    and syncs);
 *	  - a commit is seen at once by another connection, with
 *	    synchronous=FULL and with NORMAL (no sync at commit: only the
 *	    shared-memory hooks write the gathered frames before the
 *	    wal-index publishes them);
 *	  - a process killed right after its commits returned leaves every
 *	    one of them in the file (the sync writes the gathered bytes);
 *	  - a transaction larger than the page cache (frames read back and
 *	    rewritten within it) and WAL restarts after checkpoints leave
 *	    the same rows and a sound database;
 *	  - a write that fails (the file size limit) fails the commit and
 *	    loses nothing committed before.
 *	Each check fails with the corresponding flush removed.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sqlite3.h>

#include "cs_sqlite_vfs.h"
#include "tap.h"
#include "tlib.h"

static char dir[200];
static char path[256];

/* db_open - a connection through the shim (vfs) or SQLite's default VFS */
static sqlite3 *db_open(const char *vfs, const char *sync)
{
    sqlite3 *db = NULL;
    char    sql[128];

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
	return NULL;
    sqlite3_busy_timeout(db, 10000);
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", sync);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
	sqlite3_close(db);
	return NULL;
    }
    return db;
}

/*
 * The spy: SQLite's default VFS with its xWrite and xSync watched, made
 * the default before the shim is registered, so the shim runs over it.
 * At a sync of a WAL that was written, the last frame written must be a
 * commit frame (bytes 4-7 of its header, the database size, non-zero).
 */
static sqlite3_vfs spy_vfs, *unix_vfs;
static sqlite3_io_methods spy_methods;
static const sqlite3_io_methods *unix_methods;	/* a WAL file's */
static struct {
    sqlite3_file *f;
    sqlite3_int64 end;			/* where the last write since the header ended */
} spied[16];
static int spy_syncs, spy_bad;
static sqlite3_int64 spy_synced;		/* the end at the last WAL sync */

static sqlite3_int64 *spy_end(sqlite3_file *f)
{
    for (size_t i = 0; i < sizeof(spied) / sizeof(spied[0]); i++)
	if (spied[i].f == f)
	    return &spied[i].end;
    return NULL;
}

static int spy_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    sqlite3_int64 *end = spy_end(f);

    if (end != NULL) {
	if (off == 0)
	    *end = 0;				/* a new WAL header: restarted */
	if (off + n > *end)
	    *end = off + n;
    }
    return unix_methods->xWrite(f, p, n, off);
}

static int spy_sync(sqlite3_file *f, int flags)
{
    sqlite3_int64 *end = spy_end(f);
    unsigned char hdr[32], fh[8];

    if (end != NULL && *end > 32) {
	int     pgsz;

	spy_syncs++;
	spy_synced = *end;
	if (unix_methods->xRead(f, hdr, 32, 0) != SQLITE_OK) {
	    spy_bad++;
	} else {
	    pgsz = hdr[8] << 24 | hdr[9] << 16 | hdr[10] << 8 | hdr[11];
	    if (pgsz == 1)
		pgsz = 65536;
	    if ((*end - 32) % (24 + pgsz) != 0
		|| unix_methods->xRead(f, fh, 8, *end - 24 - pgsz) != SQLITE_OK
		|| (fh[4] | fh[5] | fh[6] | fh[7]) == 0)
		spy_bad++;
	}
    }
    return unix_methods->xSync(f, flags);
}

static int spy_close(sqlite3_file *f)
{
    sqlite3_int64 *end = spy_end(f);

    if (end != NULL) {
	for (size_t i = 0; i < sizeof(spied) / sizeof(spied[0]); i++)
	    if (spied[i].f == f)
		spied[i].f = NULL;
    }
    return unix_methods->xClose(f);
}

static int spy_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    int     rc = unix_vfs->xOpen(unix_vfs, name, f, flags, out);

    (void) v;
    if (rc != SQLITE_OK || f->pMethods == NULL || !(flags & SQLITE_OPEN_WAL))
	return rc;
    if (unix_methods == NULL) {
	unix_methods = f->pMethods;
	spy_methods = *unix_methods;
	spy_methods.xWrite = spy_write;
	spy_methods.xSync = spy_sync;
	spy_methods.xClose = spy_close;
    }
    if (f->pMethods != unix_methods)
	return rc;
    f->pMethods = &spy_methods;
    for (size_t i = 0; i < sizeof(spied) / sizeof(spied[0]); i++)
	if (spied[i].f == NULL) {
	    spied[i].f = f;
	    spied[i].end = 0;
	    break;
	}
    return rc;
}

/* spy_install - the spy as the default VFS, before the shim exists */
static int spy_install(void)
{
    if ((unix_vfs = sqlite3_vfs_find(NULL)) == NULL)
	return -1;
    spy_vfs = *unix_vfs;
    spy_vfs.zName = "spy";
    spy_vfs.xOpen = spy_open;
    return sqlite3_vfs_register(&spy_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* sound - PRAGMA integrity_check says ok (a connection of its own) */
static int sound(void)
{
    char    res[64];

    return strcmp(tl_q_col("PRAGMA integrity_check", 0, res, sizeof(res)), "ok") == 0;
}

/* fresh - an empty database file and table t(i, b) */
static int fresh(void)
{
    sqlite3 *db;
    char    p[300];
    int     rc;

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    if ((db = db_open(NULL, "FULL")) == NULL)
	return -1;
    rc = sqlite3_exec(db, "CREATE TABLE t(i INTEGER PRIMARY KEY, b BLOB)", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* put - row i: n bytes, each (i + k) % 251, committed alone */
static int put(sqlite3 *db, long long i, int n)
{
    sqlite3_stmt *st;
    unsigned char *b = malloc((size_t) n);
    int     rc;

    if (b == NULL)
	return SQLITE_NOMEM;
    for (int k = 0; k < n; k++)
	b[k] = (unsigned char) ((i + k) % 251);
    if ((rc = sqlite3_prepare_v2(db, "INSERT INTO t(i, b) VALUES(?1, ?2)", -1, &st, NULL))
	== SQLITE_OK) {
	sqlite3_bind_int64(st, 1, i);
	sqlite3_bind_blob(st, 2, b, n, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	sqlite3_finalize(st);
    }
    free(b);
    return rc;
}

/* right - every row's bytes are what put() wrote; the number of rows */
static long long right(sqlite3 *db)
{
    sqlite3_stmt *st;
    long long n = 0;

    if (sqlite3_prepare_v2(db, "SELECT i, b FROM t", -1, &st, NULL) != SQLITE_OK)
	return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
	long long i = sqlite3_column_int64(st, 0);
	const unsigned char *b = sqlite3_column_blob(st, 1);
	int     len = sqlite3_column_bytes(st, 1);

	for (int k = 0; k < len; k++)
	    if (b[k] != (unsigned char) ((i + k) % 251)) {
		sqlite3_finalize(st);
		return -1;
	    }
	n++;
    }
    sqlite3_finalize(st);
    return n;
}

/*
 * wal_end - where the committed frames end, by the wal-index header in
 * the -shm file (mxFrame at byte 16, the page size at 14, native order)
 */
static sqlite3_int64 wal_end(void)
{
    unsigned char h[48];
    char    p[300];
    uint32_t mx;
    uint16_t sz;
    FILE   *fp;

    snprintf(p, sizeof(p), "%s-shm", path);
    if ((fp = fopen(p, "rb")) == NULL)
	return -1;
    if (fread(h, 1, sizeof(h), fp) != sizeof(h)) {
	fclose(fp);
	return -1;
    }
    fclose(fp);
    memcpy(&sz, h + 14, 2);
    memcpy(&mx, h + 16, 4);
    return 32 + (sqlite3_int64) mx * (24 + (sz == 1 ? 65536 : sz));
}

/* seen_at_once - each commit of w is read whole by r right after it */
static void seen_at_once(const char *sync)
{
    const char *vfs = cs_sqlite_vfs_name();
    sqlite3 *w, *r;
    int     bad = 0, i;

    fresh();
    w = db_open(vfs, sync);
    r = db_open(NULL, "FULL");
    ok(w != NULL && r != NULL, "%s: two connections", sync);
    if (w == NULL || r == NULL)
	return;
    for (i = 1; i <= 200 && !bad; i++) {
	if (put(w, i, 3000 + 97 * i) != SQLITE_OK)
	    bad = 1;
	else if (right(r) != i)
	    bad = 2;
	/* The sync came after the last frame: it synced all of them. */
	else if (strcmp(sync, "FULL") == 0 && spy_synced != wal_end())
	    bad = 3;
    }
    ok(bad == 0, "synchronous=%s: 200 commits, each read whole at once by another connection"
       " (%d at %d)", sync, bad, i - 1);
    if (strcmp(sync, "FULL") == 0)
	ok(spy_syncs >= 200 && spy_bad == 0,
	   "FULL: at each of %d WAL syncs the file ended in a commit frame (%d did not)",
	   spy_syncs, spy_bad);
    ok(sound(), "%s: integrity_check", sync);
    sqlite3_close(w);
    sqlite3_close(r);
}

/* killed - a child commits, tells, is killed; every commit told of is there */
static void killed(void)
{
    int     fds[2], status;
    long long told = 0, got;
    pid_t   pid;
    sqlite3 *db;

    fresh();
    if (pipe(fds) < 0 || (pid = fork()) < 0) {
	ok(0, "pipe, fork: %s", strerror(errno));
	return;
    }
    if (pid == 0) {
	sqlite3 *w = db_open(cs_sqlite_vfs_name(), "FULL");

	close(fds[0]);
	if (w == NULL)
	    _exit(1);
	for (long long i = 1;; i++) {
	    if (put(w, i, 20000) != SQLITE_OK)
		_exit(1);
	    if (write(fds[1], &i, sizeof(i)) != sizeof(i))
		_exit(1);
	    if (i == 60)
		pause();			/* killed here, or sooner */
	}
    }
    close(fds[1]);
    while (told < 60 && read(fds[0], &got, sizeof(got)) == sizeof(got))
	told = got;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    db = db_open(NULL, "FULL");
    got = db ? right(db) : -1;
    ok(told == 60 && got == told, "killed after 60 commits: %lld rows, right bytes", got);
    ok(db && sound(), "killed: integrity_check");
    sqlite3_close(db);
}

/* big - one transaction larger than the cache, rows rewritten in it; restarts */
static void big(void)
{
    const char *vfs = cs_sqlite_vfs_name();
    sqlite3 *w, *r;
    int     rc = SQLITE_OK, i;

    fresh();
    w = db_open(vfs, "FULL");
    if (w == NULL || sqlite3_exec(w, "PRAGMA cache_size=16; BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
	ok(0, "big: open");
	return;
    }
    /* Keys in a scattered order: spilled pages are needed again soon. */
    for (i = 1; i <= 1500 && rc == SQLITE_OK; i++)
	rc = put(w, (long long) i * 877 % 1501, 1500);
    /* Rows written again: pages already in the WAL of this transaction. */
    if (rc == SQLITE_OK)
	rc = sqlite3_exec(w, "DELETE FROM t WHERE i % 3 = 0", NULL, NULL, NULL);
    for (i = 3; i <= 1500 && rc == SQLITE_OK; i += 3)
	rc = put(w, i, 700 + i);
    if (rc == SQLITE_OK)
	rc = sqlite3_exec(w, "COMMIT", NULL, NULL, NULL);
    r = db_open(NULL, "FULL");
    ok(rc == SQLITE_OK && r != NULL && right(r) == 1500 && tl_q_int("SELECT max(i) FROM t") == 1500,
       "a transaction of 1,500 rows over a 16-page cache, a third rewritten");
    ok(r && sound(), "big: integrity_check");
    /* The WAL started again from its header after each checkpoint. */
    for (i = 1501; i <= 1600 && rc == SQLITE_OK; i++) {
	rc = put(w, i, 5000);
	if (rc == SQLITE_OK && i % 10 == 0)
	    rc = sqlite3_exec(w, "PRAGMA wal_checkpoint(RESTART)", NULL, NULL, NULL);
    }
    ok(rc == SQLITE_OK && r && right(r) == 1600, "100 commits with a WAL restart every 10");
    ok(r && sound(), "restarts: integrity_check");
    ok(spy_bad == 0, "big, restarts: every WAL sync after the whole transaction (%d not)", spy_bad);
    sqlite3_close(w);
    sqlite3_close(r);
}

/* too_big - a write past the file size limit fails the commit, nothing lost */
static void too_big(void)
{
    struct stat sb;
    int     status;
    pid_t   pid;
    sqlite3 *db;

    fresh();
    if ((db = db_open(NULL, "FULL")) == NULL || put(db, 1, 1000) != SQLITE_OK
	|| sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK
	|| stat(path, &sb) < 0) {
	ok(0, "too big: setup");
	return;
    }
    sqlite3_close(db);
    if ((pid = fork()) == 0) {
	/* 64 KB of WAL may be written, the 1 MB row may not. */
	struct rlimit rl = {.rlim_cur = (rlim_t) sb.st_size + 65536,
	.rlim_max = (rlim_t) sb.st_size + 65536};
	sqlite3 *w;
	int     rc;

	signal(SIGXFSZ, SIG_IGN);
	if ((w = db_open(cs_sqlite_vfs_name(), "FULL")) == NULL || setrlimit(RLIMIT_FSIZE, &rl) < 0)
	    _exit(2);
	rc = put(w, 2, 1 << 20);
	_exit(rc == SQLITE_OK ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 1,
       "a commit whose WAL write fails fails (exit %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    db = db_open(NULL, "FULL");
    ok(db && right(db) == 1 && sound(), "the row committed before is there, the database sound");
    sqlite3_close(db);
}

int     main(void)
{
    const char *vfs;
    sqlite3 *db;
    char   *name = NULL;

    tl_tmpdir(dir, sizeof(dir), "t_sqlite_vfs");
    snprintf(path, sizeof(path), "%s/t.db", dir);
    snprintf(tl_db, sizeof(tl_db), "%s", path);
    ok(spy_install() == 0, "the spy VFS under the shim");
    vfs = cs_sqlite_vfs_name();
    is_str(vfs ? vfs : "(null)", "crmsync", "the shim is registered");
    fresh();
    db = db_open(vfs, "FULL");
    if (db == NULL || sqlite3_file_control(db, "main", SQLITE_FCNTL_VFSNAME, &name) != SQLITE_OK)
	name = NULL;
    is_str(name ? name : "(null)", "crmsync/unix", "a connection uses it");
    sqlite3_free(name);
    sqlite3_close(db);

    seen_at_once("FULL");
    seen_at_once("NORMAL");
    killed();
    big();
    too_big();

    tl_rmtree(dir);
    return done_testing();
}
