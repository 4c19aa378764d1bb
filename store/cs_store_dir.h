/*
 * NAME
 *	cs_store_dir 3h
 * SUMMARY
 *	the CRM directory snapshot (SPEC X2): checked once for every backend
 * DESCRIPTION
 *	cs_dir_validate() checks a whole snapshot before anything is changed:
 *	unknown keys, required fields, types, ids, statuses, duplicate ids,
 *	deals naming unknown persons, addresses. On a refusal it returns CS_EINVAL with the JSON path of
 *	the first problem in err ("deals[3].status: expected open, won or
 *	lost") and the caller changes nothing. On success the snapshot holds
 *	borrowed arrays and each person's normalized emails, for the backend
 *	to apply in one transaction; cs_dir_free() releases it.
 */
#ifndef CS_STORE_DIR_H
#define CS_STORE_DIR_H

#include <jansson.h>
#include "cs_store.h"
#include "cs_util.h"

#define CS_DIR_MAX_ID		256	/* bytes of a record or user id */
#define CS_DIR_MAX_RECORDS	1000000	/* persons or deals in one snapshot */

/* A validated snapshot: borrowed JSON plus each person's normalized emails. */
typedef struct cs_dir_snap {
    json_t *persons, *deals;		/* arrays (borrowed or owned empty) */
    cs_strlist *emails;			/* per person */
    size_t  npersons;
} cs_dir_snap;

int     cs_dir_validate(cs_store *, json_t *doc, cs_dir_snap *, char *err, size_t errlen);
void    cs_dir_free(cs_dir_snap *);

/*
 * What the store holds under a person id, for cs_dir_check_ids(): a
 * backend's lookup answers one of these (a person crmsync made: with its
 * normalized addresses added to the list), or -1 on a database error.
 */
enum { CS_DIR_ID_NONE = 0, CS_DIR_ID_LOCAL = 1, CS_DIR_ID_CRM = 2 };
typedef int (*cs_dir_lookup_fn) (void *arg, const char *id, cs_strlist *addresses);

/*
 * X2, inside the backend's import transaction: a snapshot may give the
 * id of a person crmsync made (Smart BCC, by hand) only to a record that
 * has that person's address (it then takes the person over), and no id
 * in crmsync's own form (bcc-N, hand-N) crmsync has not made, so that a
 * CRM cannot re-point another user's links by id. 0 ok; -1 refused, err
 * names the path (CS_EINVAL); -2 the lookup failed.
 */
int     cs_dir_check_ids(const cs_dir_snap *, cs_dir_lookup_fn, void *arg, char *err,
			         size_t errlen);

#endif
