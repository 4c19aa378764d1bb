#ifndef CS_SQLITE_VFS_H
#define CS_SQLITE_VFS_H

/*
 * cs_sqlite_vfs 3h - SQLite VFS shim gathering WAL writes (cs_sqlite_vfs.c)
 */
#define CS_VFS_WAL_BUF	(256 * 1024)	/* WAL bytes gathered */
#define CS_VFS_WRITE_MAX (64 * 1024)	/* bytes per write of them */

/* "crmsync" (registered on first use), or NULL for SQLite's default VFS. */
const char *cs_sqlite_vfs_name(void);

#endif
