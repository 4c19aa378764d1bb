/*
 * NAME
 *	cs_store_users 3
 * SUMMARY
 *	the users of the policy in force, and the event outbox's counts
 * DESCRIPTION
 *	Written once over cs_store_db.h. cs_users_sync replaces the users
 *	and their addresses in one transaction: a user the policy no longer
 *	names stays (its mail stays) but is inactive, and R3 answers it as
 *	unknown. cs_events_retry puts parked (failed) events back to
 *	pending; cs_events_stats counts the outbox by state (X3).
 *	The caller (cs_store.c) holds the write lock for the first two.
 */
#include <config.h>

/* System library. */
#include <string.h>

/* Application-specific. */
#include "cs_log.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_users.h"

#define SQL(st)	((st)->ops->sql)

/* cs_users_sync - the policy's users (and addresses when given) */
int     cs_users_sync(cs_store *st, const char *const *ids, const int *roles,
		              const cs_strlist *const *addrs, size_t n)
{
    const struct cs_sql *q = SQL(st);
    size_t  i, j;
    int     rc;

    if (st->ops->tx_begin(st, CS_TX_USERS) < 0) {
	cs_error(NULL, "store: sync users: %s", cs_db_error(st, CS_DB_W));
	return CS_EINTERNAL;
    }
    rc = cs_db_x(st, CS_DB_W, q->users_off, "");
    if (rc == 0 && addrs)
	rc = cs_db_x(st, CS_DB_W, q->addr_clear, "");
    for (i = 0; rc == 0 && i < n; i++) {
	if (ids[i] == NULL) {
	    rc = -1;
	    break;
	}
	rc = cs_db_x(st, CS_DB_W, q->user_upsert, "ss", ids[i],
		     roles[i] == CS_ROLE_ADMIN ? "admin" : "user");
	for (j = 0; rc == 0 && addrs && addrs[i] && j < addrs[i]->n; j++)
	    rc = cs_db_x(st, CS_DB_W, q->addr_add, "ss", ids[i], addrs[i]->v[j]);
    }
    if (rc < 0)
	cs_error(NULL, "store: sync users: %s", cs_db_error(st, CS_DB_W));
    return st->ops->tx_end(st, rc == 0 ? CS_OK : CS_EINTERNAL);
}

/* cs_events_retry - parked events back to pending */
int     cs_events_retry(cs_store *st, long *n)
{
    long long changed = 0;
    int     rc;

    *n = 0;
    if (st->ops->tx_begin(st, CS_TX_PLAIN) < 0) {
	cs_error(NULL, "store: events retry: %s", cs_db_error(st, CS_DB_W));
	return CS_EINTERNAL;
    }
    if ((rc = cs_db_xn(st, CS_DB_W, &changed, SQL(st)->ev_retry, "")) < 0)
	cs_error(NULL, "store: events retry: %s", cs_db_error(st, CS_DB_W));
    if ((rc = st->ops->tx_end(st, rc == 0 ? CS_OK : CS_EINTERNAL)) == CS_OK)
	*n = (long) changed;
    return rc;
}

/* cs_events_stats - {"pending", "failed", "delivered"} */
int     cs_events_stats(cs_store *st, json_t **out)
{
    long long v[3] = {0, 0, 0};
    cs_rows *r = NULL;
    int     n = -1;

    *out = NULL;
    if (st->ops->read_begin(st) < 0)
	return CS_EINTERNAL;
    if ((r = cs_db_q(st, CS_DB_R, "SELECT state, count(*) FROM events GROUP BY state", ""))
	!= NULL)
	while ((n = cs_db_next(r)) > 0) {
	    const char *state = cs_db_text(r, 0);

	    v[strcmp(state, "pending") == 0 ? 0 : strcmp(state, "failed") == 0 ? 1 : 2] +=
		cs_db_num(r, 1);
	}
    if (n < 0)
	cs_error(NULL, "store: events stats: %s", cs_db_error(st, CS_DB_R));
    cs_db_close(r);
    st->ops->read_end(st);
    if (n < 0)
	return CS_EINTERNAL;
    *out = json_pack("{s:I,s:I,s:I}", "pending", (json_int_t) v[0], "failed",
		     (json_int_t) v[1], "delivered", (json_int_t) v[2]);
    return *out ? CS_OK : CS_EINTERNAL;
}
