/*
 * NAME
 *	cs_store_prim 3
 * SUMMARY
 *	the rows the owner actions read and write, written once
 * DESCRIPTION
 *	See cs_store_prim.h.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"

#define SQL(st)	((st)->ops->sql)

/* cs_prim_thread_check - is the thread as's own, visible, or neither? */
int     cs_prim_thread_check(cs_store *st, int w, const char *as, long long id, char *vis,
			             size_t vislen)
{
    cs_rows *r;
    int     rc;

    if (id == 0)
	return CS_ENOTFOUND;
    if ((r = cs_db_q(st, w, SQL(st)->tget, "si", as, id)) == NULL)
	return CS_EINTERNAL;
    if ((rc = cs_db_next(r)) > 0) {
	rc = strcmp(cs_db_text(r, 6), as) == 0 ? CS_OK : CS_EFORBIDDEN;
	if (vis)
	    snprintf(vis, vislen, "%s", cs_db_text(r, 2));
    } else
	rc = rc == 0 ? CS_ENOTFOUND : CS_EINTERNAL;
    cs_db_close(r);
    return rc;
}

/* cs_prim_set_vis - a thread's visibility */
int     cs_prim_set_vis(cs_store *st, const char *owner, long long id, const char *vis)
{
    return cs_db_x(st, CS_DB_W, SQL(st)->set_vis, "sis", owner, id, vis);
}

/* cs_prim_visible_to - the users who may see a thread now */
json_t *cs_prim_visible_to(cs_store *st, long long id)
{
    cs_rows *r;
    json_t *a = json_array();
    int     rc = -1;

    if (a == NULL || (r = cs_db_q(st, CS_DB_W, SQL(st)->visible_to, "i", id)) == NULL) {
	json_decref(a);
	return NULL;
    }
    while ((rc = cs_db_next(r)) > 0)
	if (json_array_append_new(a, json_string(cs_db_text(r, 0))) < 0) {
	    rc = -1;
	    break;
	}
    cs_db_close(r);
    if (rc < 0) {
	json_decref(a);
	return NULL;
    }
    return a;
}

/* cs_prim_record_check - may as access this deal or person? */
int     cs_prim_record_check(cs_store *st, int w, const char *as, const char *kind,
			             const char *id)
{
    int     r = cs_db_exists(st, w, SQL(st)->rec, "sss", as, kind, id);

    return r > 0 ? CS_OK : r == 0 ? CS_ENOTFOUND : CS_EINTERNAL;
}

/* cs_prim_audit - one row per change: who, when, what, which threads */
int     cs_prim_audit(cs_store *st, const char *who, const char *what, json_t *threads,
		              time_t now)
{
    char   *text;
    int     rc;

    if ((text = json_dumps(threads, JSON_COMPACT)) == NULL)
	return -1;
    rc = cs_db_x(st, CS_DB_W, SQL(st)->audit, "siss", who, (long long) now, what, text);
    free(text);
    return rc;
}

/* cs_prim_link_add - a hand link (idempotent); *changed when it is new */
int     cs_prim_link_add(cs_store *st, const char *owner, long long thread, const char *kind,
			         const char *id, int *changed)
{
    const struct cs_sql *q = SQL(st);
    int     r = cs_db_exists(st, CS_DB_W, q->link_has, "siss", owner, thread, kind, id);

    if (r < 0)
	return -1;
    *changed = r == 0;
    /* A hand link forgets an earlier hand unlink; an automatic one becomes hand. */
    if (cs_db_x(st, CS_DB_W, q->unlink_del, "siss", owner, thread, kind, id) < 0)
	return -1;
    return cs_db_x(st, CS_DB_W, q->link_hand, "siss", owner, thread, kind, id);
}

/* cs_prim_link_del - unlink and remember it; *changed when a link went */
int     cs_prim_link_del(cs_store *st, const char *owner, long long thread, const char *kind,
			         const char *id, time_t now, int *changed)
{
    long long n = 0;

    if (cs_db_xn(st, CS_DB_W, &n, SQL(st)->link_del, "siss", owner, thread, kind, id) < 0)
	return -1;
    *changed = n > 0;
    /* Remembered even when no link was there: T3 must not add it later. */
    return cs_db_x(st, CS_DB_W, SQL(st)->unlink_add, "sissi", owner, thread, kind, id,
		   (long long) now);
}

/* cs_prim_addr_lists - the stored address lists of a thread's messages */
int     cs_prim_addr_lists(cs_store *st, const char *as, long long id, cs_strlist *out)
{
    cs_rows *r;
    int     rc, bad = 0;

    if ((r = cs_db_q(st, CS_DB_W, SQL(st)->k_addrs, "si", as, id)) == NULL)
	return -1;
    while (!bad && (rc = cs_db_next(r)) > 0)
	for (int i = 0; !bad && i < 5; i++)
	    bad = cs_strlist_add(out, cs_db_text(r, i)) < 0;
    cs_db_close(r);
    return bad || rc < 0 ? -1 : 0;
}

/* cs_prim_user_address - is address a CRM user's? */
int     cs_prim_user_address(cs_store *st, const char *address)
{
    return cs_db_exists(st, CS_DB_W, SQL(st)->user_addr, "s", address);
}

/* cs_prim_persons_by_email - every person with the address */
int     cs_prim_persons_by_email(cs_store *st, const char *address, const char *as,
				         cs_person_rows *out)
{
    cs_rows *r;
    int     rc, bad = 0;

    if ((r = cs_db_q(st, CS_DB_W, SQL(st)->person_by_email, "ss", address, as)) == NULL)
	return -1;
    while (!bad && (rc = cs_db_next(r)) > 0)
	bad = cs_person_rows_add(out, cs_db_text(r, 0),
				 cs_db_null(r, 1) ? NULL : cs_db_text(r, 1),
				 cs_db_null(r, 2) ? NULL : cs_db_text(r, 2),
				 cs_db_num(r, 3) ? CS_PERSON_ACCESSIBLE : 0) < 0;
    cs_db_close(r);
    return bad || rc < 0 ? -1 : 0;
}

/* cs_prim_crm_persons - the CRM directory's persons with an address (R2) */
int     cs_prim_crm_persons(cs_store *st, const char *norm, json_t *ids)
{
    cs_rows *r = cs_db_q(st, CS_DB_W, SQL(st)->crm_persons, "s", norm);
    int     n = -1;

    if (r == NULL)
	return CS_EINTERNAL;
    while ((n = cs_db_next(r)) > 0)
	json_array_append_new(ids, json_string(cs_db_text(r, 0)));
    cs_db_close(r);
    return n < 0 ? CS_EINTERNAL : CS_OK;
}
