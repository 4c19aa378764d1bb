/*
 * NAME
 *	cs_store_rules 3
 * SUMMARY
 *	the privacy decisions both store backends take, written once
 * DESCRIPTION
 *	See cs_store_rules.h. No I/O: the backends bring the facts.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <string.h>

/* Application-specific. */
#include "cs_store_rules.h"

/* cs_rule_merge_shared - V3: shared only if all were, with the same links */
int     cs_rule_merge_shared(const int *shared, size_t n, int same_links)
{
    if (n == 0 || !same_links)
	return 0;
    for (size_t i = 0; i < n; i++)
	if (!shared[i])
	    return 0;
    return 1;
}

/* cs_rule_merge_changed - V7: a shared thread merged into a private one */
int     cs_rule_merge_changed(int was_shared, int merged_shared)
{
    return was_shared && !merged_shared;
}

/* cs_rule_auto_links - T3: automatic links on private threads only */
int     cs_rule_auto_links(const char *visibility)
{
    return visibility != NULL && strcmp(visibility, "private") == 0;
}

/* cs_rule_person_name - K2, K3: a name given, else seen, else the local part */
const char *cs_rule_person_name(const char *given, const char *seen, const char *address,
				        char *out, size_t outlen)
{
    const char *use = given && *given ? given : seen && *seen ? seen : NULL;
    const char *at;

    if (use != NULL)
	snprintf(out, outlen, "%s", use);
    else if ((at = strrchr(address, '@')) != NULL)
	snprintf(out, outlen, "%.*s", (int) (at - address), address);
    else
	snprintf(out, outlen, "%s", address);
    return out;
}

/* cs_rule_contact_pick - K5: an accessible person, the user's own first */
long    cs_rule_contact_pick(const cs_rule_person *v, size_t n, const char *user)
{
    long    crm = -1, other = -1;

    for (size_t i = 0; i < n; i++) {
	if (!v[i].accessible)
	    continue;
	if (v[i].owner && strcmp(v[i].owner, user) == 0)
	    return (long) i;
	if (v[i].owner == NULL && crm < 0)
	    crm = (long) i;
	else if (other < 0)
	    other = (long) i;
    }
    return crm >= 0 ? crm : other;
}
