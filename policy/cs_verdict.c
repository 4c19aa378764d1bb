/*
 * NAME
 *	cs_verdict 3
 * SUMMARY
 *	each owner's copy of a message: the policy's decision with K2 applied
 * DESCRIPTION
 *	See cs_verdict.h. Pure: no I/O, no logging; the callers log and
 *	count what they were told.
 */
#include <config.h>

/* System library. */
#include <string.h>

/* Application-specific. */
#include "cs_verdict.h"

/* cs_policy_verdicts - decide every owner's copy */
int     cs_policy_verdicts(const cs_policy *pol, const cs_config *cfg, const cs_owners *owners,
			           const cs_policy_msg *msg, int joins_thread, int sender_bcc,
			           cs_verdict *v)
{
    /* Several owners' scripts: each header decoded and parsed once. */
    cs_sieve_cache *cache = owners->n > 1 && msg->info
	? cs_sieve_cache_new(&msg->info->headers) : NULL;
    int     rc = 0;

    memset(v, 0, owners->n * sizeof(*v));
    for (size_t i = 0; rc == 0 && i < owners->n; i++) {
	const cs_owner *o = &owners->v[i];
	const char *env_to = o->env_rcpts.n ? o->env_rcpts.v[0] : NULL;
	int     bcc_label;

	v[i].owner = o;
	if (cs_policy_decide_cached(pol, cfg, o->user, msg, o->direction, env_to,
				    joins_thread, cache, &v[i].dec) < 0) {
	    rc = -1;
	    break;
	}
	/* K2: Smart BCC is an explicit request, whatever mode and labels. */
	v[i].smart_bcc = owners->smart_bcc && o->user == owners->sender;
	/* C4: the sender's own Bcc shows as bcc on the sender's copy only. */
	bcc_label = v[i].smart_bcc || (sender_bcc && o->direction == CS_DIR_OUT);
	v[i].copy = v[i].dec.synced || v[i].dec.conditional || v[i].smart_bcc;
	v[i].conditional = !v[i].dec.synced && !v[i].smart_bcc;
	if (cs_strlist_copy(&v[i].labels, &v[i].dec.labels) < 0
	    || (bcc_label && cs_strlist_add_unique(&v[i].labels, "bcc") < 0))
	    rc = -1;
    }
    cs_sieve_cache_free(cache);
    return rc;
}

/* cs_verdicts_free - release n verdicts */
void    cs_verdicts_free(cs_verdict *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
	cs_decision_free(&v[i].dec);
	cs_strlist_free(&v[i].labels);
    }
}
