/*
 * NAME
 *	pm_store 3
 * SUMMARY
 *	the privacy model test's adapter over store/cs_store.h
 * DESCRIPTION
 *	Each pm_adapter operation is one cs_store call, as crmsync-milter
 *	(cs_store_record) and crmsyncctl (the rest) make it; observations
 *	read every page of a list through its cursors. Events are taken
 *	from the outbox the way crmsync-milter's sender takes them, and
 *	marked delivered.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "pm_adapter.h"

typedef struct pm_store {
    pm_adapter a;
    cs_store *st;
    cs_outbox *ob;
    char    tmpdir[256];
} pm_store;

/* rc_map - a store result as a PM_* code */
static int rc_map(int rc)
{
    switch (rc) {
    case CS_OK:
	return PM_OK;
    case CS_ENOTFOUND:
	return PM_NOTFOUND;
    case CS_EFORBIDDEN:
	return PM_FORBIDDEN;
    case CS_EINVAL:
	return PM_INVAL;
    default:
	return PM_INTERNAL;
    }
}

/* ps_deliver - one message through cs_store_record, as the milter records it */
static int ps_deliver(void *ctx, const pm_mail *m)
{
    pm_store *p = ctx;
    cs_msginfo mi = {0};
    cs_spool *sp;
    cs_bodyhash *h;
    char    digest[CS_DIGEST_HEX];
    const char *body = strstr(m->raw, "\r\n\r\n");
    cs_copy cp[8];
    cs_contact k[8];
    cs_strlist labels[8];
    cs_record rec = {0};
    int     res[8], rc;
    size_t  i;

    if (m->ncopies > 8 || m->ncontacts > 8)
	return PM_INTERNAL;
    if ((sp = cs_spool_new(p->tmpdir, 1 << 20, 1 << 26)) == NULL)
	return PM_INTERNAL;
    h = cs_bodyhash_new();
    cs_msginfo_parse(m->raw, strlen(m->raw), &mi);
    cs_spool_write(sp, m->raw, strlen(m->raw));
    body = body ? body + 4 : m->raw + strlen(m->raw);
    cs_bodyhash_update(h, body, strlen(body));
    cs_bodyhash_final(h, digest);
    memset(cp, 0, sizeof(cp));
    memset(k, 0, sizeof(k));
    memset(labels, 0, sizeof(labels));
    for (i = 0; i < m->ncopies; i++) {
	cp[i].user = m->copies[i].user;
	cp[i].direction = m->copies[i].direction == PM_OUT ? CS_DIR_OUT : CS_DIR_IN;
	if (m->copies[i].label) {
	    cs_strlist_add(&labels[i], m->copies[i].label);
	    cp[i].labels = &labels[i];
	}
    }
    for (i = 0; i < m->ncontacts; i++) {
	k[i].owner = m->contacts[i].owner;
	k[i].address = m->contacts[i].address;
	k[i].name = m->contacts[i].name;
    }
    rec.arrival = mi.date + 60;
    rec.source = "smtp";
    rec.env_from = m->env_from;
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = cp;
    rec.ncopies = m->ncopies;
    rec.contacts = m->ncontacts ? k : NULL;
    rec.ncontacts = m->ncontacts;
    rc = cs_store_record(p->st, &rec, 10000, res);
    for (i = 0; i < m->ncopies; i++) {
	if (rc == CS_OK && res[i] != CS_COPY_STORED)
	    rc = CS_EINTERNAL;
	cs_strlist_free(&labels[i]);
    }
    cs_msginfo_free(&mi);
    cs_spool_unref(sp);
    return rc_map(rc);
}

/* ps_policy - the users in force (cs_store_sync_users2) */
static int ps_policy(void *ctx, const pm_user *users, size_t n)
{
    pm_store *p = ctx;
    cs_user u[16];
    const cs_user *up[16] = {0};
    int     rc;

    if (n > 16)
	return PM_INTERNAL;
    memset(u, 0, sizeof(u));
    for (size_t i = 0; i < n; i++) {
	u[i].id = (char *) users[i].id;
	u[i].role = users[i].admin ? CS_ROLE_ADMIN : CS_ROLE_USER;
	cs_strlist_add(&u[i].addresses, users[i].address);
	up[i] = &u[i];
    }
    rc = cs_store_sync_users2(p->st, up, n);
    for (size_t i = 0; i < n; i++)
	cs_strlist_free(&u[i].addresses);
    return rc_map(rc);
}

/* ps_directory - X2 import */
static int ps_directory(void *ctx, json_t *snap, json_t **out, char *err, size_t errlen)
{
    return rc_map(cs_store_directory_import(((pm_store *) ctx)->st, snap, out, err, errlen));
}

/* ps_threads_set - share, private, delete */
static int ps_threads_set(void *ctx, const char *as, int action, const char *const *ids,
			          size_t n, json_t **out, char *err, size_t errlen)
{
    int     a = action == PM_SHARE ? CS_THREADS_SHARE
    : action == PM_PRIVATE ? CS_THREADS_PRIVATE : CS_THREADS_DELETE;

    return rc_map(cs_store_threads_set(((pm_store *) ctx)->st, as, a, ids, n, out, err, errlen));
}

/* ps_link - link or unlink by hand */
static int ps_link(void *ctx, const char *as, const char *thread, const char *kind,
		           const char *id, int unlink, json_t **out, char *err, size_t errlen)
{
    return rc_map(cs_store_link(((pm_store *) ctx)->st, as, thread, kind, id, unlink, out,
				err, errlen));
}

/* ps_contact - contact create (K3) */
static int ps_contact(void *ctx, const char *as, const char *thread, const char *address,
		              const char *name, json_t **out, char *err, size_t errlen)
{
    return rc_map(cs_store_contact_create(((pm_store *) ctx)->st, as, thread, address, name,
					  out, err, errlen));
}

/* all_pages - read a list through its cursors into one {"threads": [...]} */
static int all_pages(pm_store *p, const char *as, const char *kind, const char *id,
		             json_t **out)
{
    json_t *all = json_array(), *page = NULL;
    char   *cursor = NULL;
    int     rc = CS_OK, pages = 0;

    *out = NULL;
    do {
	json_t *cur;

	page = NULL;
	rc = kind ? cs_store_record_threads(p->st, as, kind, id, 7, cursor, &page)
	    : cs_store_mailbox(p->st, as, NULL, 7, cursor, &page);
	free(cursor);
	cursor = NULL;
	if (rc != CS_OK) {
	    if (page != NULL)			/* an error never answers content */
		rc = CS_EINTERNAL;
	    break;
	}
	json_array_extend(all, json_object_get(page, "threads"));
	cur = json_object_get(page, "cursor");
	if (json_is_string(cur))
	    cursor = strdup(json_string_value(cur));
	json_decref(page);
	page = NULL;
    } while (cursor && ++pages < 1000);
    free(cursor);
    json_decref(page);
    if (rc != CS_OK) {
	json_decref(all);
	return rc_map(rc);
    }
    *out = json_pack("{s:o}", "threads", all);
    return PM_OK;
}

/* ps_mailbox - every page of the acting user's mailbox */
static int ps_mailbox(void *ctx, const char *as, json_t **out)
{
    return all_pages(ctx, as, NULL, NULL, out);
}

/* ps_thread - one thread with its messages */
static int ps_thread(void *ctx, const char *as, const char *id, json_t **out)
{
    return rc_map(cs_store_thread(((pm_store *) ctx)->st, as, id, out));
}

/* ps_page - every page of a deal's or person's threads */
static int ps_page(void *ctx, const char *as, const char *kind, const char *id, json_t **out)
{
    return all_pages(ctx, as, kind, id, out);
}

/* ps_events - drain the outbox as a sender would, oldest first */
static int ps_events(void *ctx, json_t **out)
{
    pm_store *p = ctx;
    json_t *all = json_array();
    char    err[256];
    int     rounds = 0;

    *out = NULL;
    if (p->ob == NULL && (p->ob = cs_store_outbox_open(p->st, "privmodel:1", err,
							 sizeof(err))) == NULL) {
	json_decref(all);
	return PM_INTERNAL;
    }
    for (;;) {
	cs_event *ev = NULL;
	size_t  n = 0;

	if (cs_store_outbox_claim(p->ob, time(NULL) + 86400, 500, 1 << 22, &ev, &n) != CS_OK) {
	    json_decref(all);
	    return PM_INTERNAL;
	}
	if (n == 0 || ++rounds > 10000)
	    break;
	for (size_t i = 0; i < n; i++) {
	    json_t *b = json_loads(ev[i].body, 0, NULL);

	    if (b && !json_object_get(b, "type"))
		json_object_set_new(b, "type", json_string(ev[i].type));
	    json_array_append_new(all, b ? b : json_string(ev[i].body));
	}
	cs_store_outbox_settle(p->ob, ev, n, CS_EVENT_DELIVERED, time(NULL), NULL);
	cs_store_events_free(ev, n);
    }
    *out = all;
    return PM_OK;
}

/* ps_close - outbox and store closed, adapter freed */
static void ps_close(void *ctx)
{
    pm_store *p = ctx;

    if (p->ob)
	cs_store_outbox_close(p->ob);
    cs_store_close(p->st);
    free(p);
}

/* pm_store_adapter - the adapter over a fresh store */
pm_adapter *pm_store_adapter(const char *database, const char *tmpdir, char *err, size_t errlen)
{
    pm_store *p = calloc(1, sizeof(*p));

    if (p == NULL)
	return NULL;
    snprintf(p->tmpdir, sizeof(p->tmpdir), "%s", tmpdir);
    if ((p->st = cs_store_open(database, CS_STORE_CREATE, 10000, err, errlen)) == NULL) {
	free(p);
	return NULL;
    }
    p->a.ctx = p;
    p->a.name = strncmp(database, "postgres", 8) == 0 ? "postgresql" : "sqlite";
    p->a.deliver = ps_deliver;
    p->a.policy = ps_policy;
    p->a.directory = ps_directory;
    p->a.threads_set = ps_threads_set;
    p->a.link = ps_link;
    p->a.contact = ps_contact;
    p->a.mailbox = ps_mailbox;
    p->a.thread = ps_thread;
    p->a.page = ps_page;
    p->a.events = ps_events;
    p->a.close = ps_close;
    return &p->a;
}
