/*
 * NAME
 *	cs_store_dir 3h
 * SUMMARY
 *	the CRM directory snapshot (SPEC X2): checked once for every backend
 * DESCRIPTION
 *	cs_dir_validate() checks a whole snapshot before anything is changed:
 *	types, ids, statuses, duplicate ids, deals naming unknown persons,
 *	addresses. On a refusal it returns CS_EINVAL with the JSON path of
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

#endif
