/*
 * NAME
 *	cs_store_retention 3
 * SUMMARY
 *	delete messages older than their mailbox's Retention (SPEC R1)
 * DESCRIPTION
 *	A copy's age counts from its Date, or from its arrival when the Date
 *	is missing or later than the arrival (a Date in the future, as seen
 *	when it came). The backend narrows the candidates (msg_list: the
 *	earlier of both dates before the smallest cutoff); the rule is
 *	applied here, once, with each owner's own Retention.
 *
 *	A run deletes at most max copies (bounded work: the milter's
 *	background thread runs again later), in cs_store_erase_copies'
 *	bounded transactions, each with its events, and then scrubs once. Users
 *	not in the policy in force (R3: left, mailbox kept) get the
 *	configuration's Retention.
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_erase.h"

#define RETENTION_PAGE	500

/* owner_retention - the owner's Retention in seconds, 0: keep */
static long owner_retention(const cs_retention *r, size_t n, long dflt, const char *owner)
{
    for (size_t i = 0; i < n; i++)
	if (strcmp(r[i].user, owner) == 0)
	    return r[i].seconds;
    return dflt;
}

/* cs_store_msg_age_from - the time a copy's age counts from (R1) */
time_t  cs_store_msg_age_from(int has_date, time_t date, time_t arrival)
{
    return has_date && date <= arrival ? date : arrival;
}

/* cs_store_retention_run - R1: one bounded run at now */
int     cs_store_retention_run(cs_store *st, long dflt, const cs_retention *r, size_t nr,
			               time_t now, size_t max, int dry_run, json_t **out)
{
    cs_store_msgq q = {0};
    cs_store_msg *page, *doomed = NULL;
    cs_erase_counts c = {0, 0};
    char   *after = NULL;
    size_t  n, i, ndoomed = 0, scanned = 0;
    long    least = dflt;
    int     rc = CS_OK, more = 0, scrubbed = 0;

    *out = NULL;
    if (!cs_store_erase_supported(st))
	return CS_EINTERNAL;
    for (i = 0; i < nr; i++)
	if (r[i].seconds > 0 && (least <= 0 || r[i].seconds < least))
	    least = r[i].seconds;
    if (least > 0 && (doomed = calloc(max ? max : 1, sizeof(*doomed))) == NULL)
	return CS_EINTERNAL;
    q.before = now - least;
    q.limit = RETENTION_PAGE;
    while (least > 0 && rc == CS_OK && ndoomed < max) {
	q.after_owner = after;
	if ((rc = st->ops->msg_list(st, &q, &page, &n)) != CS_OK)
	    break;
	free(after);
	after = n ? strdup(page[n - 1].owner) : NULL;
	q.after_id = n ? page[n - 1].id : 0;
	for (i = 0; i < n; i++) {
	    long    keep = owner_retention(r, nr, dflt, page[i].owner);

	    scanned++;
	    if (keep <= 0 || cs_store_msg_age_from(page[i].has_date, page[i].date,
						   page[i].arrival) >= now - keep)
		continue;
	    if (ndoomed == max) {
		more = 1;
		break;
	    }
	    doomed[ndoomed++] = page[i];
	    memset(page + i, 0, sizeof(page[i]));	/* moved */
	}
	cs_store_msgs_free(page, n);
	if (n < RETENTION_PAGE || after == NULL)
	    break;
	if (ndoomed == max)
	    more = 1;
    }
    free(after);
    if (!dry_run)
	rc = cs_store_erase_copies(st, doomed, ndoomed, "retention", "retention", &c);
    if (rc == CS_OK && !dry_run && c.messages)
	scrubbed = cs_store_erase_scrub(st) == CS_OK;
    if (dry_run)
	c.messages = (long) ndoomed;
    cs_store_msgs_free(doomed, ndoomed);
    if (rc != CS_OK)
	return rc;
    *out = json_pack("{s:b,s:b,s:I,s:I,s:I,s:b}", "dry_run", dry_run,
		     "scrubbed", scrubbed || dry_run || c.messages == 0,
		     "messages_deleted", (json_int_t) c.messages,
		     "threads_deleted", (json_int_t) c.threads,
		     "scanned", (json_int_t) scanned, "more", more);
    return *out ? CS_OK : CS_EINTERNAL;
}

/* cs_store_retention_policy - a run with the Retention of the policy in force */
int     cs_store_retention_policy(cs_store *st, const cs_policy *pol, long dflt, time_t now,
				          size_t max, int dry_run, json_t **out)
{
    size_t  n = pol ? cs_policy_nusers(pol) : 0;
    cs_retention *r = calloc(n ? n : 1, sizeof(*r));
    int     rc;

    if (r == NULL)
	return CS_EINTERNAL;
    for (size_t i = 0; i < n; i++) {
	const cs_user *u = cs_policy_user_at(pol, i);

	r[i].user = u->id;
	r[i].seconds = u->retention;
    }
    rc = cs_store_retention_run(st, dflt, r, n, now, max, dry_run, out);
    free(r);
    return rc;
}
