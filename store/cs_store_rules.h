/*
 * NAME
 *	cs_store_rules 3h
 * SUMMARY
 *	the privacy decisions of the store, written once
 * DESCRIPTION
 *	Pure functions: the code written once over both dialects
 *	(cs_store_thread.c, cs_store_contact.c) reads the rows these
 *	decisions need with each dialect's SQL and applies the outcome;
 *	what the rule is lives only here.
 */
#ifndef CS_STORE_RULES_H
#define CS_STORE_RULES_H

#include <stddef.h>

/*
 * V3: a merge (T1) yields a shared thread only if every merged thread
 * was shared (shared[i] != 0) with the same links (same_links).
 */
int     cs_rule_merge_shared(const int *shared, size_t n, int same_links);

/*
 * V7: whether a merged thread's visibility changed (it was shared and
 * the merge is private); each such thread gets its own
 * thread.visibility_changed, wherever it stands among the merged ones.
 */
int     cs_rule_merge_changed(int was_shared, int merged_shared);

/*
 * T3: whether a message joining a thread of this visibility gives it
 * automatic links. Only a private thread does: a shared thread's
 * audience changes only by its owner's hand.
 */
int     cs_rule_auto_links(const char *visibility);

/*
 * K2, K3: the name of a person crmsync makes: the first non-empty of
 * given and seen (the name asked for, the participant's display name),
 * else the address's local part, copied into out.
 */
const char *cs_rule_person_name(const char *given, const char *seen, const char *address,
				        char *out, size_t outlen);

/* One person with the address a user asks a contact for (K3, K5). */
typedef struct cs_rule_person {
    const char *id;
    const char *owner;			/* its maker; NULL for a CRM person */
    int     accessible;			/* the user may access it */
} cs_rule_person;

/*
 * K2, K3, K5: which existing person a user's contact for an address
 * is, or -1: make one of the user's own. Only a person the user may
 * already access counts (crmsync never grants access); the user's own
 * comes first, then a CRM person, then any other (order of v).
 */
long    cs_rule_contact_pick(const cs_rule_person *v, size_t n, const char *user);

#endif
