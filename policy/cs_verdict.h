/*
 * NAME
 *	cs_verdict 3h
 * SUMMARY
 *	each owner's copy of a message: the policy's decision with K2 applied
 * SYNOPSIS
 *	#include "cs_verdict.h"
 *
 *	int	cs_policy_verdicts(const cs_policy *pol, const cs_config *cfg,
 *				   const cs_owners *owners,
 *				   const cs_policy_msg *msg, int joins_thread,
 *				   int sender_bcc, cs_verdict *v)
 *	void	cs_verdicts_free(cs_verdict *v, size_t n)
 * DESCRIPTION
 *	The one loop over a message's owners that the milter, crmsyncctl
 *	policy explain and crmsyncctl import share. For each owner it runs
 *	cs_policy_decide() (S1-S5; joins_thread as there) and then the
 *	rules above the policy:
 * .IP K2
 *	the authenticated sender's copy of Smart BCC mail is synced, labelled
 *	bcc, whatever the sender's mode, labels and rules say: it is an
 *	explicit request. The policy's own decision stays in dec, to show.
 * .IP C4
 *	with sender_bcc (the message has envelope-only recipients the
 *	sender's copy shows) the sender's copy is labelled bcc too.
 * .PP
 *	v has owners->n entries, in the owners' order. Each says whether a
 *	copy is recorded (copy), whether only if it joins a thread
 *	(conditional, S2 labels mode), and its labels. Free with
 *	cs_verdicts_free() whatever cs_policy_verdicts() returned.
 * DIAGNOSTICS
 *	0, or -1 (out of memory, bad arguments).
 */
#ifndef CS_VERDICT_H
#define CS_VERDICT_H

#include "cs_owners.h"

typedef struct cs_verdict {
    const cs_owner *owner;
    cs_decision dec;			/* the policy's decision (S1-S5) */
    int     smart_bcc;			/* K2: synced whatever dec says */
    int     copy;			/* a copy is recorded */
    int     conditional;		/* ... only if it joins a thread */
    cs_strlist labels;			/* the copy's labels */
} cs_verdict;

int     cs_policy_verdicts(const cs_policy *, const cs_config *, const cs_owners *,
			           const cs_policy_msg *, int joins_thread, int sender_bcc,
			           cs_verdict *);
void    cs_verdicts_free(cs_verdict *, size_t);

#endif
