/*
 * NAME
 *	cs_store_link 3
 * SUMMARY
 *	T3 by hand: link or unlink one thread and one record
 * DESCRIPTION
 *	See cs_store_act.h. The thread must be the acting user's and the
 *	record one they may access (V6: else not found). An unlink is
 *	remembered even when no link was there, so that automatic linking
 *	(T3) does not add it later; a hand link forgets an earlier hand
 *	unlink. thread.linked/thread.unlinked only when something changed;
 *	one audit row either way; the answer is the thread as it is now.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <time.h>

/* Application-specific. */
#include "cs_log.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_act.h"
#include "cs_store_read.h"

/* cs_act_link - link or unlink one thread and one deal or person */
int     cs_act_link(cs_store *st, const char *as, const char *tid, const char *kind,
		            const char *rid, int unlink, json_t **out, char *err, size_t errlen)
{
    const struct cs_store_ops *o = st->ops;
    long long id = cs_thread_id(tid);
    time_t  now = time(NULL);
    json_t *res = NULL, *t;
    int     rc, src, changed = 0;

    if (o->act_begin(st, as, NULL) < 0)
	return CS_EINTERNAL;
    if ((rc = cs_prim_thread_check(st, CS_DB_W, as, id, NULL, 0)) != CS_OK) {
	cs_act_thread_err(rc, tid, "is not yours to change", err, errlen);
	return o->act_end(st, rc);
    }
    if ((rc = cs_prim_record_check(st, CS_DB_W, as, kind, rid)) != CS_OK) {
	if (rc == CS_ENOTFOUND)
	    snprintf(err, errlen, "%s %.64s not found", kind, rid);
	return o->act_end(st, rc);
    }
    if (unlink)
	src = cs_prim_link_del(st, as, id, kind, rid, now, &changed);
    else
	src = cs_prim_link_add(st, as, id, kind, rid, &changed);
    if (src == 0 && changed)
	src = cs_act_event(st, unlink ? "thread.unlinked" : "thread.linked", as, id,
			   json_pack("{s:s,s:s,s:s}", "thread", tid, kind, rid, "origin", "hand"));
    if (src == 0)
	src = cs_act_audit_one(st, as, unlink ? "unlink" : "link", tid, now);
    if (src == 0 && (cs_read_thread_get(st, CS_DB_W, as, id, &t) != CS_OK
		     || (res = json_pack("{s:o}", "thread", t)) == NULL
		     || json_object_set_new(res, "changed", json_boolean(changed)) < 0))
	src = -1;
    if (src < 0)
	cs_error(NULL, "store: %s: %s", unlink ? "unlink" : "link", cs_db_error(st, CS_DB_W));
    if ((rc = o->act_end(st, src == 0 ? CS_OK : CS_EINTERNAL)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    return rc;
}
