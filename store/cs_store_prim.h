/*
 * NAME
 *	cs_store_prim 3h
 * SUMMARY
 *	the rows the owner actions read and write, written once
 * DESCRIPTION
 *	Each function runs one or two statements through cs_store_db.h
 *	with the dialect's SQL (struct cs_sql): the code is the same for
 *	SQLite and PostgreSQL, the SQL text is each dialect's own. w is
 *	CS_DB_W (the write transaction) or CS_DB_R (a read snapshot).
 *	0 or -1 unless said otherwise.
 */
#ifndef CS_STORE_PRIM_H
#define CS_STORE_PRIM_H

#include <time.h>
#include <jansson.h>
#include "cs_store.h"

/* CS_OK (as owns it), CS_EFORBIDDEN (as may see it), CS_ENOTFOUND, CS_EINTERNAL. */
int     cs_prim_thread_check(cs_store *, int w, const char *as, long long id, char *vis,
			             size_t vislen);
int     cs_prim_set_vis(cs_store *, const char *owner, long long id, const char *vis);
/* The users who may see a thread now, owner included; NULL: error. */
json_t *cs_prim_visible_to(cs_store *, long long id);
/* May as access this deal or person? CS_OK, CS_ENOTFOUND, CS_EINTERNAL. */
int     cs_prim_record_check(cs_store *, int w, const char *as, const char *kind,
			             const char *id);
/* One audit row: who, when, what, which threads. */
int     cs_prim_audit(cs_store *, const char *who, const char *what, json_t *threads,
		              time_t now);
/* A hand link (forgets a hand unlink); *changed when it is new. */
int     cs_prim_link_add(cs_store *, const char *owner, long long thread, const char *kind,
			         const char *id, int *changed);
/* Remove a link, remember the hand unlink; *changed when one went. */
int     cs_prim_link_del(cs_store *, const char *owner, long long thread, const char *kind,
			         const char *id, time_t now, int *changed);
/* Per message of as's thread: from, to, cc, reply-to, envelope texts. */
int     cs_prim_addr_lists(cs_store *, const char *as, long long id, cs_strlist *out);
/* Is address a CRM user's? 1, 0, -1. */
int     cs_prim_user_address(cs_store *, const char *address);
/* Every person with the address, by id, and whether as may access it. */
int     cs_prim_persons_by_email(cs_store *, const char *address, const char *as,
				         struct cs_person_rows *);

/* R2: the CRM directory's persons with an address, appended; CS_OK, CS_EINTERNAL. */
int     cs_prim_crm_persons(cs_store *, const char *norm, json_t *ids);

#endif
