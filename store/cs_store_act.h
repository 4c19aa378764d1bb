/*
 * NAME
 *	cs_store_act 3h
 * SUMMARY
 *	the owner actions, written once above the dialects' primitives
 * DESCRIPTION
 *	cs_store.c checks the arguments and calls these; they run the
 *	workflow (check everything, then change, events, audit, answer)
 *	with the primitives of struct cs_store_ops (cs_store_impl.h).
 *
 *	cs_act_threads_set	share, private, delete (V4; cs_store_share.c)
 *	cs_act_link		link, unlink by hand (T3; cs_store_link.c)
 *	cs_act_contact_create	a person from a participant (K3, K5;
 *				cs_store_contact.c)
 */
#ifndef CS_STORE_ACT_H
#define CS_STORE_ACT_H

#include <jansson.h>
#include "cs_store.h"

int     cs_act_threads_set(cs_store *, const char *as, int action, const char *const *names,
			           size_t n, json_t **out, char *err, size_t errlen);
int     cs_act_link(cs_store *, const char *as, const char *tid, const char *kind,
		            const char *rid, int unlink, json_t **out, char *err, size_t errlen);
int     cs_act_contact_create(cs_store *, const char *as, const char *tid,
			              const char *address, const char *name, json_t **out,
			              char *err, size_t errlen);

/* Shared by the three: an event whose payload is consumed (NULL: -1). */
int     cs_act_event(cs_store *, const char *type, const char *owner, long long thread,
		             json_t *payload);

/* An audit row for one thread. */
int     cs_act_audit_one(cs_store *, const char *who, const char *what, const char *tid,
			         time_t now);

/* The error text of a failed thread_check on tid. */
void    cs_act_thread_err(int rc, const char *tid, const char *forbidden, char *err,
			          size_t errlen);

#endif
