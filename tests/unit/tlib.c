/*
 * NAME
 *	tlib 3
 * SUMMARY
 *	helpers shared by the unit tests
 * DESCRIPTION
 *	See tlib.h. Linked into every unit test instead of a copy per file.
 *	Not tap.h's functions: their state is each test program's own.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

/* Application-specific. */
#include "tlib.h"

char    tl_db[300];

/* tl_tmpdir - make $TMPDIR/name.XXXXXX into dir, or bail out */
const char *tl_tmpdir(char *dir, size_t len, const char *name)
{
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    if ((size_t) snprintf(dir, len, "%s/%s.XXXXXX", base, name) >= len
	|| mkdtemp(dir) == NULL) {
	printf("Bail out! cannot make a directory in %s\n", base);
	exit(1);
    }
    return dir;
}

/* tl_rm_one - nftw callback: remove one entry */
static int tl_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) ftw;
    return ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0);
}

/* tl_rmtree - remove dir and everything in it */
void    tl_rmtree(const char *dir)
{
    if (nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
	printf("# cannot remove %s\n", dir);
}

/* tl_put - write dir/name, or bail out */
void    tl_put(const char *dir, const char *name, const void *data, size_t len)
{
    char    path[1024];
    FILE   *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "wb")) == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
	printf("Bail out! %s: %s\n", path, strerror(errno));
	exit(1);
    }
}

/* tl_q_text - column col of the first row as text into buf: 0, 1 if NULL, <0 none */
static int tl_q_text(const char *sql, int col, char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int     found = -1;

    *buf = 0;
#ifdef HAVE_LIBPQ
    /* CS_TEST_DATABASE=postgresql://...: the same checks on PostgreSQL. */
    if (strncmp(tl_db, "postgres", 8) == 0) {
	PGconn *pc = PQconnectdb(tl_db);
	PGresult *res = PQstatus(pc) == CONNECTION_OK ? PQexec(pc, sql) : NULL;

	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0
	    && col < PQnfields(res)) {
	    snprintf(buf, len, "%s", PQgetvalue(res, 0, col));
	    found = PQgetisnull(res, 0, col) ? 1 : 0;
	} else
	    printf("# query: %s\n", PQerrorMessage(pc));
	PQclear(res);
	PQfinish(pc);
	return (found);
    }
#endif
    if (sqlite3_open_v2(tl_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
	sqlite3_close(db);
	return (-2);
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
	if (sqlite3_step(st) == SQLITE_ROW) {
	    found = sqlite3_column_type(st, col) == SQLITE_NULL;
	    if (!found)
		snprintf(buf, len, "%s", (const char *) sqlite3_column_text(st, col));
	}
	sqlite3_finalize(st);
    } else
	printf("# query: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return (found);
}

/* tl_q_int - one integer from a query (NULL is 0); -999 if none, -998 no database */
long long tl_q_int(const char *sql)
{
    char    v[64];
    int     rc;

    if ((rc = tl_q_text(sql, 0, v, sizeof(v))) < 0)
	return (rc == -2 ? -998 : -999);
    return (strtoll(v, NULL, 10));
}

/* tl_q_intf - tl_q_int of a printf-formatted query */
long long tl_q_intf(const char *fmt,...)
{
    char    sql[2048];
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(sql)) {
	printf("# query too long: %.60s...\n", fmt);
	return (-999);
    }
    return (tl_q_int(sql));
}

/* tl_q_col - one text column of the first row into buf; "(none)" if none or NULL */
char   *tl_q_col(const char *sql, int col, char *buf, size_t len)
{
    if (tl_q_text(sql, col, buf, len) != 0)
	snprintf(buf, len, "(none)");
    return (buf);
}

/* tl_q_exec - run SQL on the SQLite database tl_db (test setup) */
int     tl_q_exec(const char *sql)
{
    sqlite3 *db;
    char   *msg = NULL;
    int     rc;

    if (sqlite3_open_v2(tl_db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
	sqlite3_close(db);
	return (-1);
    }
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
	printf("# q_exec: %s\n", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
    return (rc == SQLITE_OK ? 0 : -1);
}

/* tl_mk - a raw message: the usual headers, extra header lines, body */
char   *tl_mk(const char *from, const char *to, const char *subject, time_t date,
	              const char *msgid, const char *extra, const char *body)
{
    char    d[64], *out = NULL;
    struct tm tm;

    gmtime_r(&date, &tm);
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (asprintf(&out, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
		 "Message-ID: <%s>\r\n%s\r\n%s\r\n",
		 from, to, subject, d, msgid,
		 extra ? extra : "", body ? body : "Hello.") < 0)
	abort();
    return (out);
}

/* tl_msg_init - parse raw, spool it, hash its body */
void    tl_msg_init(tl_msg *m, const char *raw, const char *spooldir, size_t threshold)
{
    const char *body = strstr(raw, "\r\n\r\n");
    cs_bodyhash *h = cs_bodyhash_new();

    memset(m, 0, sizeof(*m));
    cs_msginfo_parse(raw, strlen(raw), &m->mi);
    m->sp = cs_spool_new(spooldir, threshold, 1 << 26);
    cs_spool_write(m->sp, raw, strlen(raw));
    body = body ? body + 4 : raw + strlen(raw);
    cs_bodyhash_update(h, body, strlen(body));
    cs_bodyhash_final(h, m->digest);
}

/* tl_msg_free - release a message tl_msg_init made */
void    tl_msg_free(tl_msg *m)
{
    cs_msginfo_free(&m->mi);
    cs_spool_unref(m->sp);
}
