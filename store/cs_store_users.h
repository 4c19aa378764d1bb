/*
 * NAME
 *	cs_store_users 3h
 * SUMMARY
 *	the policy's users in the store; the event outbox's counts
 * DESCRIPTION
 *	Written once over cs_store_db.h (cs_store_users.c); cs_store.c
 *	checks arguments, takes the write lock and calls these.
 */
#ifndef CS_STORE_USERS_H
#define CS_STORE_USERS_H

#include <jansson.h>
#include "cs_store.h"

int     cs_users_sync(cs_store *, const char *const *ids, const int *roles,
		              const cs_strlist *const *addrs, size_t n);
int     cs_events_retry(cs_store *, long *n);
int     cs_events_stats(cs_store *, json_t **out);

#endif
