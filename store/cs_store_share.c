/*
 * NAME
 *	cs_store_share 3
 * SUMMARY
 *	share, private, delete: every thread checked, then all changed (V4)
 * DESCRIPTION
 *	See cs_store_act.h. One transaction: every named thread must be
 *	the acting user's (else nothing changes and the first fault is
 *	named); a thread named twice is changed and answered once; each
 *	change emits its X3 event (thread.visibility_changed only when the
 *	visibility moved, thread.deleted) and one audit row lists them all.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_log.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_act.h"

/* cs_act_event - an X3 event in the current transaction; payload is consumed */
int     cs_act_event(cs_store *st, const char *type, const char *owner, long long thread,
		             json_t *payload)
{
    int     rc;

    if (payload == NULL)
	return -1;
    rc = st->ops->event_add(st, type, owner, thread, 0, payload, NULL);
    json_decref(payload);
    return rc;
}

/* cs_act_audit_one - an audit row naming one thread */
int     cs_act_audit_one(cs_store *st, const char *who, const char *what, const char *tid,
			         time_t now)
{
    json_t *aud = json_pack("[s]", tid);
    int     rc = aud ? cs_prim_audit(st, who, what, aud, now) : -1;

    json_decref(aud);
    return rc;
}

/* cs_act_thread_err - the message of a refused thread */
void    cs_act_thread_err(int rc, const char *tid, const char *forbidden, char *err,
			          size_t errlen)
{
    if (rc == CS_ENOTFOUND)
	snprintf(err, errlen, "thread %.64s not found", tid);
    else if (rc == CS_EFORBIDDEN)
	snprintf(err, errlen, "thread %.64s %s", tid, forbidden);
}

/* change_one - one thread's change, event and answer entry */
static int change_one(cs_store *st, const char *as, int action, long long id,
		              const char *was, json_t *list)
{
    const struct cs_store_ops *o = st->ops;
    const char *want = action == CS_THREADS_SHARE ? "shared" : "private";
    char    tid[32];
    json_t *vt;

    snprintf(tid, sizeof(tid), "t%lld", id);
    if (action == CS_THREADS_DELETE) {
	if (o->thread_delete(st, as, id) < 0
	    || cs_act_event(st, "thread.deleted", as, id, json_pack("{s:s}", "thread", tid)) < 0)
	    return -1;
	return json_array_append_new(list, json_string(tid));
    }
    if (cs_prim_set_vis(st, as, id, want) < 0)
	return -1;
    if (strcmp(was, want) != 0
	&& cs_act_event(st, "thread.visibility_changed", as, id,
			json_pack("{s:s,s:s}", "thread", tid, "visibility", want)) < 0)
	return -1;
    if (action == CS_THREADS_PRIVATE)
	return json_array_append_new(list, json_string(tid));
    if ((vt = cs_prim_visible_to(st, id)) == NULL)
	return -1;
    return json_array_append_new(list, json_pack("{s:s,s:o}", "id", tid, "visible_to", vt));
}

/* cs_act_threads_set - share, private, delete: check all, then change all */
int     cs_act_threads_set(cs_store *st, const char *as, int action, const char *const *names,
			           size_t n, json_t **out, char *err, size_t errlen)
{
    static const char *const what[] = {"", "share", "private", "delete"};
    const struct cs_store_ops *o = st->ops;
    long long *ids, *uniq = NULL;
    char   *vis = NULL, *done = NULL;
    size_t  i, nuniq = 0;
    json_t *res = NULL, *list = NULL, *audited = NULL;
    time_t  now = time(NULL);
    int     rc = CS_EINTERNAL, src = 0;

    if (n == 0 || n > CS_STORE_MAX_THREADS) {
	snprintf(err, errlen, n ? "at most %d threads at once" : "no thread named",
		 CS_STORE_MAX_THREADS);
	return CS_EINVAL;
    }
    if ((ids = calloc(n, sizeof(*ids))) == NULL || (uniq = calloc(n, sizeof(*ids))) == NULL
	|| (vis = calloc(n, 8)) == NULL || (done = calloc(n, 1)) == NULL
	|| o->act_begin(st, as, NULL) < 0) {
	free(ids);
	free(uniq);
	free(vis);
	free(done);
	return CS_EINTERNAL;
    }
    /* V4: every thread is checked before anything changes. */
    for (i = 0; i < n; i++) {
	ids[i] = cs_thread_id(names[i]);
	if ((rc = cs_prim_thread_check(st, CS_DB_W, as, ids[i], vis + 8 * i, 8)) != CS_OK) {
	    cs_act_thread_err(rc, names[i], "is not yours to change", err, errlen);
	    goto out;
	}
    }
    rc = CS_EINTERNAL;
    /* A thread named twice is changed and answered once. */
    memcpy(uniq, ids, n * sizeof(*ids));
    qsort(uniq, n, sizeof(*uniq), cs_ids_cmp);
    for (i = 0; i < n; i++)
	if (nuniq == 0 || uniq[nuniq - 1] != uniq[i])
	    uniq[nuniq++] = uniq[i];
    if ((res = json_object()) == NULL || (list = json_array()) == NULL
	|| json_object_set_new(res, "threads", list) < 0 || (audited = json_array()) == NULL)
	goto out;
    for (i = 0; i < n && src == 0; i++) {
	long long *u = bsearch(&ids[i], uniq, nuniq, sizeof(*uniq), cs_ids_cmp);
	char    tid[32];

	if (u == NULL || done[u - uniq])
	    continue;
	done[u - uniq] = 1;
	snprintf(tid, sizeof(tid), "t%lld", ids[i]);
	if (json_array_append_new(audited, json_string(tid)) < 0)
	    src = -1;
	else
	    src = change_one(st, as, action, ids[i], vis + 8 * i, list);
    }
    if (src == 0)
	src = cs_prim_audit(st, as, what[action], audited, now);
    if (src < 0) {
	cs_error(NULL, "store: %s: %s", what[action], cs_db_error(st, CS_DB_W));
	goto out;
    }
    rc = CS_OK;
out:
    if ((rc = o->act_end(st, rc)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    json_decref(audited);
    free(ids);
    free(uniq);
    free(vis);
    free(done);
    return rc;
}
