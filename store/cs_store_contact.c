/*
 * NAME
 *	cs_store_contact 3
 * SUMMARY
 *	K3, K5: a person from a participant of one's own thread
 * DESCRIPTION
 *	See cs_store_act.h. The address must be a participant of the
 *	acting user's thread (its headers or the envelope this copy kept)
 *	and not a CRM user's. A person with the address that the user may
 *	already access (their own, else the CRM's: cs_rule_contact_pick)
 *	is answered (created false) and linked; otherwise the user gets a
 *	person of their own, whoever else has one, and nothing is granted:
 *	the answer for an address another user's or the CRM's person holds
 *	is the answer for an address nobody knew (K5).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_util.h"
#include "cs_log.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_rules.h"
#include "cs_store_util.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_act.h"
#include "cs_store_thread.h"

#define CS_ACT_MAX_ID	256		/* bytes of a person id */

/* cs_person_rows_add - one person of persons_by_email */
int     cs_person_rows_add(cs_person_rows *p, const char *id, const char *name,
			           const char *owner, int flags)
{
    int    *nf = realloc(p->flags, (p->n + 1) * sizeof(*nf));

    if (nf == NULL)
	return -1;
    p->flags = nf;
    if (cs_strlist_add(&p->ids, id) < 0)
	return -1;
    if (cs_strlist_add(&p->names, name ? name : "") < 0) {
	p->ids.n--;
	free(p->ids.v[p->ids.n]);
	return -1;
    }
    if (cs_strlist_add(&p->owners, owner ? owner : "") < 0) {
	p->ids.n--;
	free(p->ids.v[p->ids.n]);
	p->names.n--;
	free(p->names.v[p->names.n]);
	return -1;
    }
    p->flags[p->n++] = flags | (name ? 0 : CS_PERSON_NONAME) | (owner ? 0 : CS_PERSON_CRM);
    return 0;
}

/* cs_person_rows_free - release the rows */
void    cs_person_rows_free(cs_person_rows *p)
{
    cs_strlist_free(&p->ids);
    cs_strlist_free(&p->names);
    cs_strlist_free(&p->owners);
    free(p->flags);
    memset(p, 0, sizeof(*p));
}

/* participant - K3: is norm among the thread's participants? 1, 0, -1 */
static int participant(cs_store *st, const char *as, long long id, const char *norm,
		               char **name)
{
    cs_strlist t = {0};
    int     found = 0;

    if (cs_prim_addr_lists(st, as, id, &t) < 0) {
	cs_strlist_free(&t);
	return -1;
    }
    for (size_t r = 0; r + 5 <= t.n; r += 5) {
	for (int i = 0; i < 4; i++)
	    found |= cs_store_list_has(st, t.v[r + i], norm, name);
	found |= cs_store_envelope_has(st, t.v[r + 4], norm);
    }
    cs_strlist_free(&t);
    return found;
}

/* known_person - K5: the person with norm that as may access (1), none (0), -1 */
static int known_person(cs_store *st, const char *as, const char *norm, char *pid,
			        size_t pidlen, char **pname)
{
    cs_person_rows p = {0};
    cs_rule_person *v = NULL;
    long    pick;
    int     rc = -1;

    /* Every person with the address; cs_rule_contact_pick decides. */
    if (cs_prim_persons_by_email(st, norm, as, &p) < 0
	|| (p.n && (v = calloc(p.n, sizeof(*v))) == NULL))
	goto out;
    for (size_t i = 0; i < p.n; i++) {
	v[i].id = p.ids.v[i];
	v[i].owner = p.flags[i] & CS_PERSON_CRM ? NULL : p.owners.v[i];
	v[i].accessible = (p.flags[i] & CS_PERSON_ACCESSIBLE) != 0;
    }
    rc = 0;
    if ((pick = cs_rule_contact_pick(v, p.n, as)) >= 0) {
	snprintf(pid, pidlen, "%s", p.ids.v[pick]);
	*pname = p.flags[pick] & CS_PERSON_NONAME ? NULL : strdup(p.names.v[pick]);
	rc = p.flags[pick] & CS_PERSON_NONAME || *pname ? 1 : -1;
    }
out:
    free(v);
    cs_person_rows_free(&p);
    return rc;
}

/* make_person - K3: as's own person for norm, and person.created */
static int make_person(cs_store *st, const char *as, const char *norm, const char *name,
		               const char *seen, time_t now, char *pid, size_t pidlen,
		               char **pname)
{
    char    use[1024];

    cs_rule_person_name(name, seen, norm, use, sizeof(use));
    if ((*pname = strdup(use)) == NULL
	|| st->ops->person_new(st, as, norm, *pname, now, pid, pidlen) < 0)
	return -1;
    return cs_act_event(st, "person.created", as, 0,
			json_pack("{s:s,s:s?,s:s}", "person", pid, "name", *pname,
				  "address", norm));
}

/* cs_act_contact_create - K3, K5 (see above) */
int     cs_act_contact_create(cs_store *st, const char *as, const char *tid,
			              const char *address, const char *name, json_t **out,
			              char *err, size_t errlen)
{
    const struct cs_store_ops *o = st->ops;
    long long id = cs_thread_id(tid);
    char    norm[CS_ADDR_MAX + 1], pid[CS_ACT_MAX_ID + 1];
    char   *seen_name = NULL, *pname = NULL;
    time_t  now = time(NULL);
    json_t *res = NULL;
    int     rc, src = 0, created = 0, linked = 0, r;
    int     bad = cs_store_normalize(st, address, norm, sizeof(norm)) < 0;

    /* The mailbox and the address, in the writers' order. */
    if (o->act_begin(st, as, bad ? NULL : norm) < 0)
	return CS_EINTERNAL;
    if ((rc = cs_prim_thread_check(st, CS_DB_W, as, id, NULL, 0)) != CS_OK) {
	cs_act_thread_err(rc, tid, "is not in your mailbox", err, errlen);
	return o->act_end(st, rc);
    }
    rc = CS_EINVAL;
    if (bad) {
	snprintf(err, errlen, "--address: not a mail address");
	goto out;
    }
    if ((r = participant(st, as, id, norm, &seen_name)) <= 0) {
	if (r == 0)
	    snprintf(err, errlen, "%s is not a participant of thread %.64s", norm, tid);
	rc = r == 0 ? CS_EINVAL : CS_EINTERNAL;
	goto out;
    }
    if ((r = cs_prim_user_address(st, norm)) != 0) {
	if (r > 0)
	    snprintf(err, errlen, "%s is a CRM user's address", norm);
	rc = r > 0 ? CS_EINVAL : CS_EINTERNAL;
	goto out;
    }
    if ((r = known_person(st, as, norm, pid, sizeof(pid), &pname)) < 0) {
	rc = CS_EINTERNAL;
	goto out;
    }
    /* r > 0: already the caller's to see: linked, nothing granted (K5). */
    if (r == 0) {
	src = make_person(st, as, norm, name, seen_name, now, pid, sizeof(pid), &pname);
	created = src == 0;
    }
    if (src == 0)
	src = cs_prim_link_add(st, as, id, "person", pid, &linked);
    if (src == 0 && linked)
	src = cs_act_event(st, "thread.linked", as, id,
			   json_pack("{s:s,s:s,s:s}", "thread", tid, "person", pid,
				     "origin", "hand"));
    if (src == 0)
	src = cs_act_audit_one(st, as, created ? "contact create" : "contact link", tid, now);
    if (src == 0
	&& (res = json_pack("{s:{s:s,s:s?,s:s},s:b,s:s}", "person", "id", pid, "name", pname,
			    "address", norm, "created", created, "thread", tid)) == NULL)
	src = -1;
    if (src < 0)
	cs_error(NULL, "store: contact create: %s", cs_db_error(st, CS_DB_W));
    rc = src == 0 ? CS_OK : CS_EINTERNAL;
out:
    if ((rc = o->act_end(st, rc)) == CS_OK) {
	*out = res;
	res = NULL;
    }
    json_decref(res);
    free(seen_name);
    free(pname);
    return rc;
}

/*
 * cs_k2_contact - K2, in the write path: a Smart BCC person for an
 * address, the sender's own, unless a person with it is already one the
 * sender may access (K5: never another user's); person.created.
 */
int     cs_k2_contact(cs_store *st, const cs_store_jcontact *k, time_t now)
{
    char    email[CS_ADDR_MAX + 1], id[64], name[1024];
    cs_rows *r;
    json_t *ids;
    int     n;

    if (strlen(k->address) >= sizeof(email) || strchr(k->address, '@') == NULL)
	return 0;				/* not an address: no contact */
    snprintf(email, sizeof(email), "%s", k->address);
    cs_lowercase(email);
    if (cs_db_x(st, CS_DB_W, st->ops->sqlw->user_ensure, "s", k->owner) < 0
	|| (r = cs_db_q(st, CS_DB_W, st->ops->sqlw->k2_person, "ss", email, k->owner)) == NULL)
	return -1;
    n = cs_db_next(r);
    cs_db_close(r);
    if (n != 0)
	return n < 0 ? -1 : 0;			/* already a person the sender may access */
    cs_rule_person_name(k->name, NULL, email, name, sizeof(name));
    if ((n = st->ops->bcc_person(st, k->owner, email, name, now, id, sizeof(id))) <= 0)
	return n;				/* 0: another writer made it first */
    if (cs_db_x(st, CS_DB_W, st->ops->sql->access_add, "sss", k->owner, "person", id) < 0)
	return -1;
    /* X3: a person is no thread's content; SPEC gives its name and address. */
    if ((ids = json_pack("{s:s,s:s,s:s}", "person", id, "name", name, "address", email)) == NULL)
	return -1;
    n = st->ops->event_add(st, "person.created", k->owner, 0, 0, ids, NULL);
    json_decref(ids);
    return n;
}
