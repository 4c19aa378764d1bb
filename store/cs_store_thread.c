/*
 * NAME
 *	cs_store_thread 3
 * SUMMARY
 *	the write path's thread rules, written once: T1, V3/V7, T3, X3
 * DESCRIPTION
 *	See cs_store_thread.h. The decisions of V3 and V7 (which merges
 *	stay shared, which announce a change) and of T3 (automatic links
 *	on private threads only) are cs_store_rules.c's; this file reads
 *	the rows they need and writes their outcome.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_digest.h"
#include "cs_log.h"
#include "cs_util.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_rules.h"
#include "cs_store_thread.h"
#include "cs_store_read.h"

#define SQL(st)	((st)->ops->sql)
#define SQLW(st)	((st)->ops->sqlw)

/* cs_wt_own_addrs - an owner's own addresses */
int     cs_wt_own_addrs(cs_store *st, int w, const char *owner, cs_strlist *own)
{
    cs_rows *r = cs_db_q(st, w, SQLW(st)->own_addrs, "s", owner);
    int     n = -1;

    if (r == NULL)
	return -1;
    while ((n = cs_db_next(r)) > 0)
	if (cs_strlist_add(own, cs_db_text(r, 0)) < 0) {
	    n = -1;
	    break;
	}
    cs_db_close(r);
    return n < 0 ? -1 : 0;
}

/* strcmp_p - qsort comparator for strings */
static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* cs_wt_outside_key - digest of the participants that are not the owner's */
int     cs_wt_outside_key(const cs_strlist *own, const cs_store_job *job, char hex[65])
{
    char  **v = NULL;
    size_t  i, n = 0;
    cs_buf  b = {0};
    int     rc = 0;

    if (job->participants.n && (v = calloc(job->participants.n, sizeof(*v))) == NULL)
	rc = -1;
    for (i = 0; rc == 0 && i < job->participants.n; i++)
	if (!cs_strlist_contains(own, job->participants.v[i]))
	    v[n++] = job->participants.v[i];
    if (rc == 0) {
	if (n)
	    qsort(v, n, sizeof(*v), strcmp_p);
	cs_buf_append(&b, "", 0);
	for (i = 0; i < n; i++)
	    if (cs_buf_appendf(&b, "%s\n", v[i]) < 0)
		rc = -1;
	if (rc == 0)
	    cs_sha256_hex(b.data ? b.data : "", b.len, hex);
    }
    cs_buf_free(&b);
    free(v);
    return rc;
}

/* ref_threads - T1: threads holding or naming any of the message's ids */
static int ref_threads(cs_store *st, int w, const char *owner, const cs_store_job *job,
		               cs_ids *found)
{
    long long t = 0;
    int     r;

    for (size_t i = 0; i < job->msgids.n; i++) {
	if ((r = cs_db_int(cs_db_q(st, w, SQLW(st)->msgid_thread, "ss", owner, job->msgids.v[i]),
			 &t)) < 0)
	    return -1;
	if (r > 0 && cs_ids_add(found, t) < 0)
	    return -1;
    }
    return 0;
}

/* heuristic_thread - T1 fallbacks: Thread-Index root, then subject+participants */
static int heuristic_thread(cs_store *st, int w, const char *owner, const cs_store_job *job,
			            const char *okey, long long *thread)
{
    int     r;

    *thread = 0;
    if (job->thread_index_root && *job->thread_index_root) {
	r = cs_db_int(cs_db_q(st, w, SQLW(st)->tindex, "ss", owner, job->thread_index_root),
		    thread);
	if (r != 0)
	    return r < 0 ? -1 : 0;
    }
    if (job->subject_norm == NULL || *job->subject_norm == 0)
	return 0;				/* never on an empty subject */
    r = cs_db_int(cs_db_q(st, w, SQLW(st)->subject, "sssii", owner, job->subject_norm, okey,
			(long long) job->sort_date - CS_STORE_JOIN_WINDOW,
			(long long) job->sort_date + CS_STORE_JOIN_WINDOW), thread);
    return r < 0 ? -1 : 0;
}

/* cs_wt_find - the T1 decision */
int     cs_wt_find(cs_store *st, int w, const char *owner, const cs_store_job *job,
		           const char *okey, cs_ids *found, long long *thread, int *how)
{
    *how = 0;
    *thread = 0;
    if (ref_threads(st, w, owner, job, found) < 0)
	return -1;
    if (found->n) {
	/* The oldest thread (lowest id) survives a merge. */
	*thread = found->v[0];
	for (size_t i = 1; i < found->n; i++)
	    if (found->v[i] < *thread)
		*thread = found->v[i];
	*how = 1;
	return 0;
    }
    if (heuristic_thread(st, w, owner, job, okey, thread) < 0)
	return -1;
    if (*thread)
	*how = 2;
    return 0;
}

/* cs_wt_event - an X3 event about one thread: its id plus ids (both taken) */
int     cs_wt_event(cs_store *st, const char *type, const char *owner, long long thread,
		            long long thread2, json_t *ids, json_t *content)
{
    char    t[32];
    json_t *all;
    int     rc = -1;

    /* The thread first: every thread event reads the same way. */
    snprintf(t, sizeof(t), "t%lld", thread);
    if (ids && (all = json_pack("{s:s}", "thread", t)) != NULL) {
	if (json_object_update_missing(all, ids) == 0)
	    rc = st->ops->event_add(st, type, owner, thread, thread2, all, content);
	json_decref(all);
    }
    json_decref(ids);
    json_decref(content);
    return rc;
}

/* went_private - V7: thread.visibility_changed to private */
static int went_private(cs_store *st, const char *owner, long long thread)
{
    return cs_wt_event(st, "thread.visibility_changed", owner, thread, 0,
		       json_pack("{s:s}", "visibility", "private"), NULL);
}

/* cs_wt_merge - fold every found thread into target (T1, V3, V7) */
int     cs_wt_merge(cs_store *st, const char *owner, const cs_ids *found, long long target,
		            time_t now)
{
    char    vis[16], set0[4096], set[4096], from[32], into[32];
    int    *was, shared, same = 1, rc = -1;
    long long old;
    size_t  i;

    if ((was = calloc(found->n, sizeof(*was))) == NULL)
	return -1;
    /*
     * V3: every merged thread's visibility and links, the decision in
     * cs_store_rules.c. Link sets too long to compare here count as
     * different: privacy is the safe side.
     */
    for (i = 0; i < found->n; i++) {
	if (cs_db_str(cs_db_q(st, CS_DB_W, SQLW(st)->thread_vis, "si", owner, found->v[i]),
		     vis, sizeof(vis)) <= 0
	    || cs_db_str(cs_db_q(st, CS_DB_W, SQLW(st)->thread_linkset, "si", owner,
				found->v[i]), i ? set : set0, sizeof(set)) <= 0)
	    goto out;
	was[i] = strcmp(vis, "shared") == 0;
	if (strlen(i ? set : set0) >= sizeof(set) - 1 || (i && strcmp(set, set0) != 0))
	    same = 0;
    }
    shared = cs_rule_merge_shared(was, found->n, same);
    for (i = 0; i < found->n; i++) {
	if ((old = found->v[i]) == target)
	    continue;
	/* V7: a shared thread folded into a private one went private. */
	if (cs_rule_merge_changed(was[i], shared) && went_private(st, owner, old) < 0)
	    goto out;
	if (st->ops->merge_rows(st, owner, old, target, now) < 0)
	    goto out;
	/* X3: which id became which, ordered after both threads' events. */
	snprintf(from, sizeof(from), "t%lld", old);
	snprintf(into, sizeof(into), "t%lld", target);
	if (cs_wt_event(st, "thread.merged", owner, target, old,
			json_pack("{s:s,s:s}", "from", from, "into", into), NULL) < 0)
	    goto out;
    }
    if (cs_db_x(st, CS_DB_W, SQL(st)->set_vis, "sis", owner, target,
		shared ? "shared" : "private") < 0)
	goto out;
    rc = 0;
    /* V3, V5, V7: the surviving thread, if it was shared, is private now. */
    for (i = 0; i < found->n; i++)
	if (found->v[i] == target && cs_rule_merge_changed(was[i], shared))
	    rc = went_private(st, owner, target);
out:
    free(was);
    return rc;
}

/* cs_wt_message_event - X3 message.added */
int     cs_wt_message_event(cs_store *st, const cs_store_job *job, const char *owner,
			            long long thread, long long msg, long long count,
			            int new_thread)
{
    json_t *content = NULL, *parts;
    char    m[32];
    int     r = 0;

    snprintf(m, sizeof(m), "m%lld", msg);
    /*
     * Building content costs JSON parsing: only for a shared thread. A
     * thread made for this message is private (V1): no need to ask.
     */
    if (!new_thread && (r = cs_db_exists(st, CS_DB_W, SQLW(st)->ev_shared, "i", thread)) < 0)
	return -1;
    if (r > 0) {
	if ((parts = json_array()) == NULL)
	    return -1;
	if (cs_add_list(parts, job->from_list) < 0 || cs_add_list(parts, job->to_list) < 0
	    || cs_add_list(parts, job->cc_list) < 0) {
	    json_decref(parts);
	    return -1;
	}
	/* "o" takes parts even when packing fails. */
	if ((content = json_pack("{s:s?,s:o}", "subject", job->subject,
				 "participants", parts)) == NULL)
	    return -1;
    }
    return cs_wt_event(st, "message.added", owner, thread, 0,
		       json_pack("{s:s,s:I}", "message", m, "message_count", (json_int_t) count),
		       content);
}

/* link_one - an automatic link; thread.linked when it is new */
static int link_one(cs_store *st, const char *owner, long long thread, const char *kind,
		            const char *id)
{
    long long n = 0;

    if (cs_db_xn(st, CS_DB_W, &n, SQLW(st)->link_auto, "siss", owner, thread, kind, id) < 0)
	return -1;
    if (n == 0)
	return 0;
    return cs_wt_event(st, "thread.linked", owner, thread, 0,
		       json_pack("{s:s,s:s}", kind, id, "origin", "auto"), NULL);
}

/* link_person - T3: a person, and its one open deal the owner may access */
static int link_person(cs_store *st, const char *owner, long long thread, const char *person)
{
    char    deal[512];
    int     ndeals = 0, n;
    cs_rows *r;

    if (link_one(st, owner, thread, "person", person) < 0)
	return -1;
    if ((r = cs_db_q(st, CS_DB_W, SQLW(st)->link_deals, "ss", owner, person)) == NULL)
	return -1;
    while ((n = cs_db_next(r)) > 0)
	if (ndeals++ == 0)
	    snprintf(deal, sizeof(deal), "%s", cs_db_text(r, 0));
    cs_db_close(r);
    if (n < 0)
	return -1;
    if (ndeals != 1)
	return 0;				/* none, or ambiguous: no deal */
    return link_one(st, owner, thread, "deal", deal);
}

/*
 * link_address - T3 for one address: every person with it that the
 * owner may access (K5: the CRM's and the owner's own may both exist)
 */
static int link_address(cs_store *st, const char *owner, long long thread, const char *addr)
{
    cs_strlist persons = {0};
    cs_rows *r;
    int     n, rc = 0;

    if ((r = cs_db_q(st, CS_DB_W, SQLW(st)->link_person, "ss", owner, addr)) == NULL)
	return -1;
    /* Read them all first: linking reuses cached statements. */
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	rc = cs_strlist_add(&persons, cs_db_text(r, 0));
    cs_db_close(r);
    if (rc == 0 && n < 0)
	rc = -1;
    for (size_t i = 0; rc == 0 && i < persons.n; i++)
	rc = link_person(st, owner, thread, persons.v[i]);
    cs_strlist_free(&persons);
    return rc;
}

/* cs_wt_link - T3 for every participant of the copy, on a private thread */
int     cs_wt_link(cs_store *st, const cs_store_job *job, const cs_store_jcopy *cp,
		           long long thread)
{
    char    norm[CS_ADDR_MAX + 1], vis[16];
    size_t  i;

    if (cs_db_str(cs_db_q(st, CS_DB_W, SQLW(st)->thread_vis, "si", cp->user, thread), vis,
		 sizeof(vis)) <= 0)
	return -1;
    if (!cs_rule_auto_links(vis))
	return 0;				/* shared: the owner's hand only */
    for (i = 0; i < job->participants.n; i++)
	if (link_address(st, cp->user, thread, job->participants.v[i]) < 0)
	    return -1;
    /* Envelope-only recipients this copy keeps are participants too. */
    for (i = 0; i < cp->env_rcpts.n; i++)
	if (cs_store_normalize(st, cp->env_rcpts.v[i], norm, sizeof(norm)) == 0
	    && !cs_strlist_contains(&job->participants, norm)
	    && link_address(st, cp->user, thread, norm) < 0)
	    return -1;
    return 0;
}

/* cs_wt_joins_thread - would the record join one of user's threads (T1)? */
int     cs_wt_joins_thread(cs_store *st, const char *user, const cs_store_job *job)
{
    cs_ids  found = {0};
    cs_strlist own = {0};
    long long thread;
    char    okey[65];
    int     rc = -1, how = 0;

    if (st->ops->read_begin(st) < 0)
	return CS_EINTERNAL;
    if (cs_wt_own_addrs(st, CS_DB_R, user, &own) == 0
	&& cs_wt_outside_key(&own, job, okey) == 0)
	rc = cs_wt_find(st, CS_DB_R, user, job, okey, &found, &thread, &how);
    if (rc < 0)
	cs_error(NULL, "store: thread lookup: %s", cs_db_error(st, CS_DB_R));
    st->ops->read_end(st);
    cs_strlist_free(&own);
    cs_ids_free(&found);
    return rc < 0 ? CS_EINTERNAL : how != 0;
}

/*
 * summary - the thread a copy went to gets its summary again (its
 * participants and labels, cs_store_list.c), once the copy and its
 * labels are in: the one place the writer keeps it
 */
static int summary(cs_store *st, const cs_store_job *job, const cs_store_jcopy *cp)
{
    cs_summary_add add = {
	.from = job->from_json, .to = job->to_json, .cc = job->cc_json,
	.from_list = job->from_list, .to_list = job->to_list, .cc_list = job->cc_list,
	.envelope = cp->envelope_json, .labels = &cp->labels,
	.sort_date = job->sort_date, .message = cp->message,
    };

    return cs_read_summary_write(st, CS_DB_W, cp->user, cp->thread, &add);
}

/* cs_wt_job - one record: contacts (K2), then every owner's copy (C3), each thread's summary */
int     cs_wt_job(cs_store *st, cs_store_job *job, time_t now, cs_wt_copy_fn fn, void *ctx)
{
    long long raw_id = 0;			/* the raw message, stored once (C4) */
    size_t  i;

    for (i = 0; i < job->ncontacts; i++)
	if (cs_k2_contact(st, &job->contacts[i], now) < 0)
	    return -1;
    for (i = 0; i < job->ncopies; i++)
	if (fn(st, ctx, job, i, &raw_id, &job->results[i]) < 0
	    || (job->results[i] == CS_COPY_STORED && summary(st, job, &job->copies[i]) < 0))
	    return -1;
    return 0;
}
