/*
 * NAME
 *	cs_sqlite_vfs 3
 * SUMMARY
 *	SQLite VFS shim: a transaction's WAL frames written in large pieces
 * DESCRIPTION
 *	cs_sqlite_vfs_name() registers, once, a VFS named "crmsync" over
 *	SQLite's default one and returns its name for sqlite3_open_v2().
 *	Every call goes to the default VFS unchanged but one: writes to a
 *	WAL file that continue the previous one are gathered in a buffer
 *	(CS_VFS_WAL_BUF) and written in one piece. SQLite writes a WAL frame
 *	as two writes (its 24-byte header, then the page), so a commit of a
 *	1 MB message is about 520 pwrite calls, each crossing two pages of
 *	the file; gathered, it is a handful (README, Performance).
 *
 *	The bytes reach the file, in the order SQLite wrote them, before
 *	anything can depend on them:
 *	  - before any other call on the WAL file: read (SQLite reads back
 *	    its own frames within a transaction), sync, truncate, size,
 *	    file control, close; a write that does not continue the
 *	    gathered ones (an overwritten frame, the header at a restart);
 *	  - before the connection's xShmLock and xShmBarrier on its
 *	    database: a commit publishes its frames in the wal-index, which
 *	    other connections read, only between those calls.
 *	With synchronous=FULL (every connection crmsync opens) the WAL is
 *	synced at each commit, before the wal-index is written, so the sync
 *	already writes them; the shared-memory hooks make that hold for any
 *	other setting too. Durability is SQLite's: nothing is acknowledged
 *	before the xSync that follows the writes, and that xSync writes the
 *	buffer first and fails if the write fails.
 *
 *	A write that fails while gathered bytes are written is reported by
 *	the call that wrote them (xShmBarrier cannot report: its error is
 *	kept and returned by the next call on that WAL file).
 *
 *	A file object belongs to one connection, and a connection is used
 *	by one thread at a time (crmsync opens them SQLITE_OPEN_NOMUTEX, one
 *	per thread), so the buffer needs no lock.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

/* Application-specific. */
#include "cs_sqlite_vfs.h"

#define CS_VFS_NAME	"crmsync"

typedef struct cs_vfile cs_vfile;

struct cs_vfile {
    sqlite3_file base;			/* pMethods: vfile_methods */
    sqlite3_file *real;			/* the default VFS's file, after us */
    cs_vfile *wal;			/* a database: its open WAL, if any */
    cs_vfile *db;			/* a WAL: its database file */
    int     is_wal;
    int     err;			/* a failed write not reported yet */
    char   *buf;			/* gathered writes, from off */
    size_t  len;
    sqlite3_int64 off;
};

/* The real file follows the shim's, aligned for any type. */
#define VFILE_SIZE	((sizeof(cs_vfile) + 15) & ~(size_t) 15)

static sqlite3_vfs cs_vfs;
static const sqlite3_io_methods vfile_methods;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static int vfs_ok;

#define REAL(f)		(((cs_vfile *) (f))->real)
#define RM(f)		(REAL(f)->pMethods)

/* wal_flush - write the gathered bytes; the first error is kept and returned */
static int wal_flush(cs_vfile *f)
{
    size_t  done, n;
    int     rc;

    /* The unix VFS writes at most 128 KB - 1 per call (its pwrite is masked). */
    for (done = 0; done < f->len; done += n) {
	n = f->len - done < CS_VFS_WRITE_MAX ? f->len - done : CS_VFS_WRITE_MAX;
	rc = RM(f)->xWrite(f->real, f->buf + done, (int) n, f->off + (sqlite3_int64) done);
	if (rc != SQLITE_OK) {
	    if (f->err == SQLITE_OK)
		f->err = rc;
	    break;
	}
    }
    f->len = 0;
    rc = f->err;
    f->err = SQLITE_OK;
    return rc;
}

/* ready - a WAL's gathered bytes written (anything else: nothing to do) */
static int ready(sqlite3_file *file)
{
    cs_vfile *f = (cs_vfile *) file;

    return f->is_wal ? wal_flush(f) : SQLITE_OK;
}

/* db_flush - a database's WAL, before its wal-index changes */
static int db_flush(sqlite3_file *file)
{
    cs_vfile *f = (cs_vfile *) file;

    return f->wal != NULL ? wal_flush(f->wal) : SQLITE_OK;
}

/* vf_close - write what is gathered, unlink, close */
static int vf_close(sqlite3_file *file)
{
    cs_vfile *f = (cs_vfile *) file;
    int     rc = SQLITE_OK, rc2;

    if (f->is_wal) {
	rc = wal_flush(f);
	if (f->db != NULL)
	    f->db->wal = NULL;
    } else if (f->wal != NULL) {
	f->wal->db = NULL;
    }
    free(f->buf);
    f->buf = NULL;
    rc2 = RM(f)->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

/* vf_read - a WAL's gathered bytes first */
static int vf_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
    int     rc = ready(file);

    return rc != SQLITE_OK ? rc : RM(file)->xRead(REAL(file), p, n, off);
}

/* vf_write - a WAL write that continues the gathered ones is gathered */
static int vf_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
    cs_vfile *f = (cs_vfile *) file;
    int     rc;

    if (!f->is_wal || n <= 0)
	return RM(f)->xWrite(f->real, p, n, off);
    if (f->len > 0 && off == f->off + (sqlite3_int64) f->len
	&& (size_t) n <= CS_VFS_WAL_BUF - f->len) {
	memcpy(f->buf + f->len, p, (size_t) n);
	f->len += (size_t) n;
	return SQLITE_OK;
    }
    if ((rc = wal_flush(f)) != SQLITE_OK)
	return rc;
    if ((size_t) n > CS_VFS_WRITE_MAX
	|| (f->buf == NULL && (f->buf = malloc(CS_VFS_WAL_BUF)) == NULL))
	return RM(f)->xWrite(f->real, p, n, off);
    memcpy(f->buf, p, (size_t) n);
    f->len = (size_t) n;
    f->off = off;
    return SQLITE_OK;
}

/* The calls below write a WAL's gathered bytes, then pass on. */

static int vf_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int     rc = ready(file);

    return rc != SQLITE_OK ? rc : RM(file)->xTruncate(REAL(file), size);
}

static int vf_sync(sqlite3_file *file, int flags)
{
    int     rc = ready(file);

    return rc != SQLITE_OK ? rc : RM(file)->xSync(REAL(file), flags);
}

static int vf_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int     rc = ready(file);

    return rc != SQLITE_OK ? rc : RM(file)->xFileSize(REAL(file), size);
}

static int vf_file_control(sqlite3_file *file, int op, void *arg)
{
    int     rc;

    if ((rc = ready(file)) != SQLITE_OK)
	return rc;
    if (op == SQLITE_FCNTL_VFSNAME) {
	rc = RM(file)->xFileControl(REAL(file), op, arg);
	if (rc == SQLITE_OK) {
	    char   *name = sqlite3_mprintf(CS_VFS_NAME "/%z", *(char **) arg);

	    *(char **) arg = name;
	}
	return rc;
    }
    return RM(file)->xFileControl(REAL(file), op, arg);
}

/* Passed on as they are. */

static int vf_lock(sqlite3_file *file, int lock)
{
    return RM(file)->xLock(REAL(file), lock);
}

static int vf_unlock(sqlite3_file *file, int lock)
{
    return RM(file)->xUnlock(REAL(file), lock);
}

static int vf_check_reserved(sqlite3_file *file, int *out)
{
    return RM(file)->xCheckReservedLock(REAL(file), out);
}

static int vf_sector_size(sqlite3_file *file)
{
    return RM(file)->xSectorSize(REAL(file));
}

static int vf_device(sqlite3_file *file)
{
    return RM(file)->xDeviceCharacteristics(REAL(file));
}

static int vf_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    if (RM(file)->iVersion < 2)
	return SQLITE_IOERR_SHMMAP;
    return RM(file)->xShmMap(REAL(file), pg, pgsz, extend, pp);
}

/* vf_shm_lock - the database's WAL is written before its wal-index locks change */
static int vf_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    int     rc;

    if (RM(file)->iVersion < 2)
	return SQLITE_IOERR_SHMLOCK;
    if ((rc = db_flush(file)) != SQLITE_OK)
	return rc;
    return RM(file)->xShmLock(REAL(file), offset, n, flags);
}

/* vf_shm_barrier - and before a wal-index header is published */
static void vf_shm_barrier(sqlite3_file *file)
{
    cs_vfile *f = (cs_vfile *) file;
    int     rc = db_flush(file);

    if (rc != SQLITE_OK)
	f->wal->err = rc;			/* the next call on the WAL says so */
    if (RM(file)->iVersion >= 2)
	RM(file)->xShmBarrier(REAL(file));
}

static int vf_shm_unmap(sqlite3_file *file, int del)
{
    if (RM(file)->iVersion < 2)
	return SQLITE_OK;
    return RM(file)->xShmUnmap(REAL(file), del);
}

static int vf_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
    if (RM(file)->iVersion < 3) {
	*pp = NULL;
	return SQLITE_OK;
    }
    return RM(file)->xFetch(REAL(file), off, n, pp);
}

static int vf_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    if (RM(file)->iVersion < 3)
	return SQLITE_OK;
    return RM(file)->xUnfetch(REAL(file), off, p);
}

static const sqlite3_io_methods vfile_methods = {
    3,
    vf_close, vf_read, vf_write, vf_truncate, vf_sync, vf_file_size,
    vf_lock, vf_unlock, vf_check_reserved, vf_file_control,
    vf_sector_size, vf_device,
    vf_shm_map, vf_shm_lock, vf_shm_barrier, vf_shm_unmap,
    vf_fetch, vf_unfetch,
};

/* vfs_open - the default VFS's file, wrapped; a WAL linked to its database */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		            int *out)
{
    sqlite3_vfs *real = vfs->pAppData;
    cs_vfile *f = (cs_vfile *) file;
    int     rc;

    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *) ((char *) f + VFILE_SIZE);
    rc = real->xOpen(real, name, f->real, flags, out);
    if (f->real->pMethods == NULL) {
	file->pMethods = NULL;
	return rc;
    }
    file->pMethods = &vfile_methods;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && name != NULL) {
	cs_vfile *db = (cs_vfile *) sqlite3_database_file_object(name);

	f->is_wal = 1;
	if (db != NULL && db->base.pMethods == &vfile_methods) {
	    f->db = db;
	    db->wal = f;
	}
    }
    return rc;
}

/* The rest of the VFS is the default one's. */

#define RV(v)	((sqlite3_vfs *) (v)->pAppData)

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync)
{
    return RV(v)->xDelete(RV(v), name, sync);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return RV(v)->xAccess(RV(v), name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return RV(v)->xFullPathname(RV(v), name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
    return RV(v)->xDlOpen(RV(v), name);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *out)
{
    RV(v)->xDlError(RV(v), n, out);
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym)) (void)
{
    return RV(v)->xDlSym(RV(v), h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
    RV(v)->xDlClose(RV(v), h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    return RV(v)->xRandomness(RV(v), n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    return RV(v)->xSleep(RV(v), us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    return RV(v)->xCurrentTime(RV(v), out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    return RV(v)->xGetLastError ? RV(v)->xGetLastError(RV(v), n, out) : 0;
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return RV(v)->xCurrentTimeInt64(RV(v), out);
}

static int vfs_set_syscall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr p)
{
    return RV(v)->xSetSystemCall(RV(v), name, p);
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *v, const char *name)
{
    return RV(v)->xGetSystemCall(RV(v), name);
}

static const char *vfs_next_syscall(sqlite3_vfs *v, const char *name)
{
    return RV(v)->xNextSystemCall(RV(v), name);
}

/* vfs_register - once: the shim over the default VFS */
static void vfs_register(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);

    /* A default VFS older than version 3 (no xNextSystemCall): do without. */
    if (real == NULL || real->iVersion < 3)
	return;
    cs_vfs.iVersion = 3;
    cs_vfs.szOsFile = (int) VFILE_SIZE + real->szOsFile;
    cs_vfs.mxPathname = real->mxPathname;
    cs_vfs.zName = CS_VFS_NAME;
    cs_vfs.pAppData = real;
    cs_vfs.xOpen = vfs_open;
    cs_vfs.xDelete = vfs_delete;
    cs_vfs.xAccess = vfs_access;
    cs_vfs.xFullPathname = vfs_full_pathname;
    cs_vfs.xDlOpen = vfs_dlopen;
    cs_vfs.xDlError = vfs_dlerror;
    cs_vfs.xDlSym = vfs_dlsym;
    cs_vfs.xDlClose = vfs_dlclose;
    cs_vfs.xRandomness = vfs_randomness;
    cs_vfs.xSleep = vfs_sleep;
    cs_vfs.xCurrentTime = vfs_current_time;
    cs_vfs.xGetLastError = vfs_last_error;
    cs_vfs.xCurrentTimeInt64 = vfs_current_time64;
    cs_vfs.xSetSystemCall = vfs_set_syscall;
    cs_vfs.xGetSystemCall = vfs_get_syscall;
    cs_vfs.xNextSystemCall = vfs_next_syscall;
    vfs_ok = sqlite3_vfs_register(&cs_vfs, 0) == SQLITE_OK;
}

/* cs_sqlite_vfs_name - the shim's name for sqlite3_open_v2(); NULL: the default VFS */
const char *cs_sqlite_vfs_name(void)
{
    pthread_once(&vfs_once, vfs_register);
    return vfs_ok ? CS_VFS_NAME : NULL;
}
