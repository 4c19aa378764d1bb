/*
 * NAME
 *	cs_store_db 3
 * SUMMARY
 *	one statement interface over the dialects' connections
 * DESCRIPTION
 *	See cs_store_db.h: thin calls through the store's cs_db_ops.
 */
#include <config.h>

/* System library. */
#include <stdarg.h>
#include <stdio.h>

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"

/* The dialect's table of the store a result belongs to. */
struct cs_rows {
    const struct cs_db_ops *db;
};

/* cs_db_q - run a statement, its rows to walk */
cs_rows *cs_db_q(cs_store *st, int w, const char *sql, const char *types, ...)
{
    va_list ap;
    cs_rows *r;

    va_start(ap, types);
    r = st->ops->db->run(st, w, sql, types, ap);
    va_end(ap);
    return r;
}

/* vx - run a statement, rows ignored */
static int vx(cs_store *st, int w, long long *changes, const char *sql, const char *types,
	              va_list ap)
{
    cs_rows *r = st->ops->db->run(st, w, sql, types, ap);

    if (r == NULL)
	return -1;
    if (changes)
	*changes = r->db->changes(r);
    r->db->close(r);
    return 0;
}

/* cs_db_x - run a command */
int     cs_db_x(cs_store *st, int w, const char *sql, const char *types, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, types);
    rc = vx(st, w, NULL, sql, types, ap);
    va_end(ap);
    return rc;
}

/* cs_db_xn - run a command, the rows it changed */
int     cs_db_xn(cs_store *st, int w, long long *changes, const char *sql,
		         const char *types, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, types);
    rc = vx(st, w, changes, sql, types, ap);
    va_end(ap);
    return rc;
}

/* cs_db_exists - does a query answer a row? */
int     cs_db_exists(cs_store *st, int w, const char *sql, const char *types, ...)
{
    va_list ap;
    cs_rows *r;
    int     rc;

    va_start(ap, types);
    r = st->ops->db->run(st, w, sql, types, ap);
    va_end(ap);
    if (r == NULL)
	return -1;
    rc = r->db->next(r);
    r->db->close(r);
    return rc;
}

int     cs_db_next(cs_rows *r)
{
    return r->db->next(r);
}

const char *cs_db_text(cs_rows *r, int col)
{
    return r->db->text(r, col);
}

long long cs_db_num(cs_rows *r, int col)
{
    return r->db->num(r, col);
}

int     cs_db_null(cs_rows *r, int col)
{
    return r->db->null(r, col);
}

void    cs_db_close(cs_rows *r)
{
    if (r)
	r->db->close(r);
}

const char *cs_db_error(cs_store *st, int w)
{
    return st->ops->db->error(st, w);
}

const void *cs_db_blob(cs_rows *r, int col, size_t *len)
{
    return r->db->blob(r, col, len);
}

/* cs_db_int - a query's first column of its first row: 1, 0 no row, -1 */
int     cs_db_int(cs_rows *r, long long *v)
{
    int     n;

    if (r == NULL)
	return -1;
    if ((n = r->db->next(r)) > 0)
	*v = r->db->num(r, 0);
    r->db->close(r);
    return n;
}

/* cs_db_str - the same for text, copied into out */
int     cs_db_str(cs_rows *r, char *out, size_t outlen)
{
    int     n;

    if (r == NULL)
	return -1;
    if ((n = r->db->next(r)) > 0)
	snprintf(out, outlen, "%s", r->db->text(r, 0));
    r->db->close(r);
    return n;
}
