/*
 * NAME
 *	cs_store_sqlite_backup 3
 * SUMMARY
 *	a consistent copy of a live SQLite store (crmsyncctl backup)
 * SYNOPSIS
 *	#include "cs_store_sqlite.h"
 *
 *	int	sq_backup(st, path, out, err, errlen)
 * DESCRIPTION
 *	SQLite's online backup API copies every page of the store in one
 *	sqlite3_backup_step(-1), that is inside one read transaction: in WAL
 *	mode that is a snapshot of the last commit, taken without stopping
 *	the milter's writer (readers do not block writers), and no half of a
 *	group commit can be in it. Copying in several smaller steps would
 *	let a commit from another process restart the copy again and again.
 *
 *	The copy is written to a temporary file beside path (mode 0600: it
 *	holds every user's mail), checked with PRAGMA quick_check, switched
 *	to a rollback journal so that it is one self-contained file, synced,
 *	and renamed over path; a failed backup leaves path as it was. The
 *	store's own file and its -wal, -shm and -journal files are refused
 *	as path, whatever way they are named.
 * DIAGNOSTICS
 *	CS_EINVAL with err for a path that cannot be written (missing
 *	directory, permission) or names the store; CS_EINTERNAL with err for
 *	SQLite and I/O errors.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

/* Utility library. */
#include "cs_util.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_sqlite.h"

/* bk_resolve - absolute form of path: its directory resolved, its name kept */
static int bk_resolve(const char *path, char *out, size_t outlen)
{
    char   *d = cs_strdup(path), *b = cs_strdup(path);
    char    dir[PATH_MAX];
    int     rc = -1;

    if (d && b && realpath(dirname(d), dir) != NULL) {
	const char *base = basename(b);

	if (strcmp(base, "/") != 0 && strcmp(base, ".") != 0 && strcmp(base, "..") != 0) {
	    int     n = snprintf(out, outlen, "%s/%s", strcmp(dir, "/") ? dir : "", base);

	    rc = n > 0 && (size_t) n < outlen ? 0 : -1;
	}
    } else if (d && b)
	rc = -2;				/* the directory: errno says why */
    free(d);
    free(b);
    return rc;
}

/* bk_is_store - does abs name the store or one of its side files? */
static int bk_is_store(const char *abs, const char *dbfile)
{
    static const char *const side[] = {"", "-wal", "-shm", "-journal"};
    struct stat a, b;
    size_t  n = strlen(dbfile);

    for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++)
	if (strncmp(abs, dbfile, n) == 0 && strcmp(abs + n, side[i]) == 0)
	    return 1;
    /* A hard link or a second name through a symlinked directory. */
    return stat(abs, &a) == 0 && stat(dbfile, &b) == 0
	&& a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* bk_unlink_all - remove a temporary database and its side files */
static void bk_unlink_all(const char *tmp)
{
    static const char *const side[] = {"", "-wal", "-shm", "-journal"};
    char    p[PATH_MAX + 16];

    for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
	snprintf(p, sizeof(p), "%s%s", tmp, side[i]);
	(void) unlink(p);
    }
}

/* bk_fsync_path - fsync a file or directory by name */
static int bk_fsync_path(const char *path, int dir)
{
    int     fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    int     rc;

    if (fd < 0)
	return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* bk_copy - every page of src into dst in one step (one read snapshot) */
static int bk_copy(sqlite3 *dst, sqlite3 *src, long timeout_ms)
{
    sqlite3_backup *b;
    struct timespec t0, t1;
    int     rc;

    if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL)
	return sqlite3_errcode(dst);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
	rc = sqlite3_backup_step(b, -1);
	if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
	    break;
	/* Only WAL recovery by another process holds readers off: wait. */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L > timeout_ms)
	    break;
	sqlite3_sleep(50);
    }
    sqlite3_backup_finish(b);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* bk_int - first column of a one-row query as an integer, -1 on error */
static sqlite3_int64 bk_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    sqlite3_int64 v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
	return -1;
    if (sqlite3_step(q) == SQLITE_ROW)
	v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* bk_check - quick_check of the copy and its journal mode; 0 or -1 */
static int bk_check(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    char   *msg = NULL;
    int     ok = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) == SQLITE_OK) {
	if (sqlite3_step(q) == SQLITE_ROW) {
	    const unsigned char *t = sqlite3_column_text(q, 0);

	    ok = t && strcmp((const char *) t, "ok") == 0;
	    if (!ok)
		snprintf(err, errlen, "the copy fails quick_check: %s",
			 t ? (const char *) t : "?");
	}
	sqlite3_finalize(q);
    }
    if (!ok) {
	if (!*err)
	    snprintf(err, errlen, "quick_check: %s", sqlite3_errmsg(db));
	return -1;
    }
    /* The copy carries the store's WAL flag; one file is easier to move. */
    if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
	snprintf(err, errlen, "journal_mode: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
    }
    return 0;
}

/* sq_backup - consistent copy of the store into path */
int     sq_backup(cs_store *st, const char *path, json_t **out, char *err, size_t errlen)
{
    sq_store *s = st->be;
    const char *dbfile;
    char    abs[PATH_MAX], tmp[PATH_MAX + 16];
    sqlite3 *dst = NULL;
    sqlite3_int64 pages = -1, version = -1;
    struct stat sb;
    int     fd, rc, ret = CS_EINTERNAL;

    if (s == NULL || s->r.db == NULL) {
	snprintf(err, errlen, "store not open");
	return CS_EINTERNAL;
    }
    dbfile = sqlite3_db_filename(s->r.db, "main");
    if ((rc = bk_resolve(path, abs, sizeof(abs))) < 0) {
	snprintf(err, errlen, "%s: %s", path, rc == -2 ? strerror(errno) : "not a file name");
	return CS_EINVAL;
    }
    if (dbfile && *dbfile && bk_is_store(abs, dbfile)) {
	snprintf(err, errlen, "%s: that is the store itself", path);
	return CS_EINVAL;
    }
    if (stat(abs, &sb) == 0 && !S_ISREG(sb.st_mode)) {
	snprintf(err, errlen, "%s: exists and is not a regular file", path);
	return CS_EINVAL;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", abs) >= (int) sizeof(tmp)) {
	snprintf(err, errlen, "%s: name too long", path);
	return CS_EINVAL;
    }
    if ((fd = mkstemp(tmp)) < 0) {
	rc = errno;
	snprintf(err, errlen, "%s: %s", path, strerror(rc));
	return rc == ENOSPC || rc == EIO || rc == ENOMEM ? CS_EINTERNAL : CS_EINVAL;
    }
    (void) fchmod(fd, 0600);
    close(fd);

    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			NULL) != SQLITE_OK) {
	snprintf(err, errlen, "%s: %s", tmp, dst ? sqlite3_errmsg(dst) : "cannot open");
	goto out;
    }
    pthread_mutex_lock(&s->rlock);
    rc = bk_copy(dst, s->r.db, st->timeout_ms);
    pthread_mutex_unlock(&s->rlock);
    if (rc != SQLITE_OK) {
	snprintf(err, errlen, "copying the store: %s", sqlite3_errstr(rc));
	goto out;
    }
    if (bk_check(dst, err, errlen) < 0)
	goto out;
    pages = bk_int(dst, "PRAGMA page_count");
    version = bk_int(dst, "PRAGMA user_version");
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
	snprintf(err, errlen, "closing the copy: %s", sqlite3_errstr(rc));
	goto out;
    }
    /* Durable before it replaces an older backup of the same name. */
    if (bk_fsync_path(tmp, 0) < 0 || stat(tmp, &sb) < 0 || rename(tmp, abs) < 0) {
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	goto out;
    }
    {
	char   *d = cs_strdup(abs);

	if (d)
	    (void) bk_fsync_path(dirname(d), 1);
	free(d);
    }
    ret = CS_OK;
    if (out && (*out = json_pack("{s:s, s:I, s:I, s:I}", "file", abs,
				 "bytes", (json_int_t) sb.st_size,
				 "pages", (json_int_t) pages,
				 "schema_version", (json_int_t) version)) == NULL) {
	snprintf(err, errlen, "out of memory");
	ret = CS_EINTERNAL;
    }
    return ret;

out:
    if (dst)
	sqlite3_close(dst);
    bk_unlink_all(tmp);
    return ret;
}
