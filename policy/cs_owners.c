/*
 * NAME
 *	cs_owners 3
 * SUMMARY
 *	whose mailboxes a message belongs in
 * DESCRIPTION
 *	See cs_owners.h. The rules are SPEC C2 (owners), Words
 *	("authenticated as U"), K2/K4 (Smart BCC and its spoofing).
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_owners.h"

/* owner_slot - the entry for user, appended if new; NULL on ENOMEM */
static cs_owner *owner_slot(cs_owners *o, const cs_user *u, int direction)
{
    cs_owner *nv;

    for (size_t i = 0; i < o->n; i++) {
	if (o->v[i].user == u) {
	    if (direction == CS_DIR_OUT)
		o->v[i].direction = CS_DIR_OUT;
	    return &o->v[i];
	}
    }
    if ((nv = realloc(o->v, (o->n + 1) * sizeof(*nv))) == NULL)
	return NULL;
    o->v = nv;
    memset(&o->v[o->n], 0, sizeof(o->v[o->n]));
    o->v[o->n].user = u;
    o->v[o->n].direction = direction;
    return &o->v[o->n++];
}

/* authenticated_as - is the session authenticated as the sender's user? */
static const cs_user *authenticated_as(const cs_policy *pol, const cs_config *cfg,
				               const cs_session *sess, const cs_user *claimed)
{
    const cs_user *u;

    if (sess->local_submission)
	return NULL;				/* sendmail(1): anyone on the host */
    if (sess->auth_login && *sess->auth_login) {
	/* The AUTH identity decides: logging in as bob and sending as
	 * alice authenticates nobody as alice. */
	u = cs_policy_user_by_login(pol, sess->auth_login);
	return (u != NULL && u == claimed) ? u : NULL;
    }
    if (claimed && sess->client_addr
	&& cs_cidrlist_match_str(&cfg->trusted_networks, sess->client_addr))
	return claimed;
    return NULL;
}

/* cs_owners_find - owners of one message */
int     cs_owners_find(const cs_policy *pol, const cs_config *cfg, const cs_session *sess,
		               const char *env_from, const char *const *rcpts, size_t nrcpts,
		               cs_owners *o)
{
    char    norm[CS_ADDR_MAX + 1];
    const cs_user *claimed = NULL;
    int     has_dropbox = 0;

    memset(o, 0, sizeof(*o));
    if (env_from && cs_addr_normalize(env_from, cfg->subaddress_delimiter, norm, sizeof(norm)) == 0)
	claimed = cs_policy_user_by_address(pol, norm);
    o->sender_claimed = claimed != NULL;
    o->sender = authenticated_as(pol, cfg, sess, claimed);
    if (o->sender && owner_slot(o, o->sender, CS_DIR_OUT) == NULL)
	goto nomem;

    for (size_t i = 0; i < nrcpts; i++) {
	const cs_user *u;
	const cs_user *const *members;
	size_t  nmembers;
	cs_owner *slot;

	if (cs_addr_normalize(rcpts[i], cfg->subaddress_delimiter, norm, sizeof(norm)) < 0)
	    continue;
	if (cs_strlist_contains(&cfg->dropbox, norm)) {
	    has_dropbox = 1;
	    if (cs_strlist_add(&o->dropbox_rcpts, rcpts[i]) < 0)
		goto nomem;
	    continue;
	}
	if ((u = cs_policy_user_by_address(pol, norm)) != NULL) {
	    if ((slot = owner_slot(o, u, CS_DIR_IN)) == NULL
		|| cs_strlist_add_unique(&slot->env_rcpts, rcpts[i]) < 0)
		goto nomem;
	    continue;
	}
	nmembers = cs_policy_group(pol, norm, &members);
	for (size_t m = 0; m < nmembers; m++) {
	    if ((slot = owner_slot(o, members[m], CS_DIR_IN)) == NULL
		|| cs_strlist_add_unique(&slot->env_rcpts, rcpts[i]) < 0)
		goto nomem;
	}
    }
    o->smart_bcc = has_dropbox && o->sender != NULL;
    o->dropbox_spoofed = has_dropbox && o->sender == NULL;
    return 0;

nomem:
    cs_owners_free(o);
    return -1;
}

/* cs_owners_free - release the lists */
void    cs_owners_free(cs_owners *o)
{
    for (size_t i = 0; i < o->n; i++)
	cs_strlist_free(&o->v[i].env_rcpts);
    free(o->v);
    cs_strlist_free(&o->dropbox_rcpts);
    memset(o, 0, sizeof(*o));
}
