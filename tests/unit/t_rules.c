/*
 * NAME
 *	t_rules 1
 * SUMMARY
 *	unit tests of the store's privacy decisions (cs_store_rules.c:
 *	SPEC V3, V7, T3, K2, K3, K5)
 * DESCRIPTION
 *	Named, table-driven cases: each row its facts and the decision
 *	wanted. The backends' use of these decisions is tested through the
 *	store in t_visibility and tests/e2e/privacy.sh, on both backends.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_rules.h"
#include "tap.h"

/* V3, V7: a merge's visibility and which merged threads changed. */
static const struct {
    const char *name;
    int     shared[3];
    size_t  n;
    int     same_links;
    int     want;
} merges[] = {
    {"V3: all shared, same links", {1, 1, 1}, 3, 1, 1},
    {"V3: all shared, other links", {1, 1, 0}, 2, 0, 0},
    {"V3: a private one first", {0, 1, 1}, 3, 1, 0},
    {"V3: a private one last", {1, 1, 0}, 3, 1, 0},
    {"V3: all private", {0, 0, 0}, 3, 1, 0},
};

/* K5: which existing person a contact is (the user is "nora"). */
/* Macros, not const objects: C11 takes no object as a static initializer. */
#define crm_ok		{"p1", NULL, 1}
#define crm_no		{"p1", NULL, 0}
#define olivia_no	{"hand-1", "olivia", 0}
#define nora_own	{"hand-2", "nora", 1}
#define olivia_ok	{"hand-3", "olivia", 1}
static const struct {
    const char *name;
    cs_rule_person v[3];
    size_t  n;
    long    want;
} picks[] = {
    {"K5: nobody's address: a new person", {{0}}, 0, -1},
    {"K5: another user's person: a new one, never access to it", {olivia_no}, 1, -1},
    {"K5: a CRM person she may not access: a new one", {crm_no}, 1, -1},
    {"K5: both inaccessible: a new one", {crm_no, olivia_no}, 2, -1},
    {"K5: a CRM person she may access: that one", {olivia_no, crm_ok}, 2, 1},
    {"K5: her own before the CRM's", {crm_ok, nora_own}, 2, 1},
    {"K5: her own among others", {olivia_no, nora_own, crm_no}, 3, 1},
    {"K5: the CRM's before another user's she may access", {olivia_ok, crm_ok}, 2, 1},
};

/* K2, K3: a made person's name. */
static const struct {
    const char *name, *given, *seen, *address, *want;
} names[] = {
    {"K3: the name asked for", "Zed by Nora", "Zed", "zed@x.example", "Zed by Nora"},
    {"K2: the display name", NULL, "Zed", "zed@x.example", "Zed"},
    {"K2: an empty name counts as none", "", "", "zed@x.example", "zed"},
    {"K2: else the local part", NULL, NULL, "zed.o@x.example", "zed.o"},
};

/* R1: the time a copy's age counts from (cs_store_retention.c). */
static const struct {
    const char *name;
    int     has_date;
    time_t  date, arrival, want;
} ages[] = {
    {"R1: the Date when it is before the arrival", 1, 1000, 2000, 1000},
    {"R1: the Date when it is the arrival", 1, 2000, 2000, 2000},
    {"R1: the arrival when the Date is in the future", 1, 9000, 2000, 2000},
    {"R1: the arrival when there is no Date", 0, 0, 2000, 2000},
    {"R1: an epoch Date is still a Date", 1, 0, 2000, 0},
};

int     main(void)
{
    char    buf[64];
    size_t  i;

    for (i = 0; i < sizeof(merges) / sizeof(merges[0]); i++) {
	int     got = cs_rule_merge_shared(merges[i].shared, merges[i].n, merges[i].same_links);

	is_int(got, merges[i].want, merges[i].name);
	/* V7: exactly the shared ones change when the merge is private. */
	for (size_t k = 0; k < merges[i].n; k++) {
	    char    what[128];

	    snprintf(what, sizeof(what), "V7: %s, thread %zu", merges[i].name, k);
	    is_int(cs_rule_merge_changed(merges[i].shared[k], got),
		   merges[i].shared[k] && !got, what);
	}
    }
    is_int(cs_rule_auto_links("private"), 1, "T3: a private thread gets automatic links");
    is_int(cs_rule_auto_links("shared"), 0, "T3: a shared thread gets none");
    is_int(cs_rule_auto_links(NULL), 0, "T3: unknown visibility: none (the safe side)");
    for (i = 0; i < sizeof(picks) / sizeof(picks[0]); i++)
	is_int((int) cs_rule_contact_pick(picks[i].v, picks[i].n, "nora"), (int) picks[i].want,
	       picks[i].name);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	is_str(cs_rule_person_name(names[i].given, names[i].seen, names[i].address, buf,
				   sizeof(buf)), names[i].want, names[i].name);
    for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++)
	is_int((int) cs_store_msg_age_from(ages[i].has_date, ages[i].date, ages[i].arrival),
	       (int) ages[i].want, ages[i].name);
    return done_testing();
}
