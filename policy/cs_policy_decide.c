/*
 * NAME
 *	cs_policy_decide 3
 * SUMMARY
 *	one user's sync decision for one message (SPEC S1-S5)
 * DESCRIPTION
 *	See cs_policy.h. Pure: no I/O, no logging, no shared state.
 *
 *	Checks, first match wins: Sync off (mode-off); a broken Rules script
 *	(rules-error); a blocked participant (blocked); Exclude automated and
 *	an automated message (automated); all participants internal and
 *	SyncInternal no (internal-only); then the labels the Sieve script
 *	files the message into decide (labels mode) or are recorded (all
 *	mode). A Sieve run-time error is rules-error too.
 *
 *	Participants, for "blocked": the envelope sender, every envelope
 *	recipient, and the From, To, Cc and Reply-To addresses, each
 *	normalized; the user's own addresses never block (a user whose own
 *	domain is on the global Block list still gets their mail judged by
 *	the other participants). For "internal-only": the envelope sender,
 *	every envelope recipient, and From, To and Cc (Reply-To is where an
 *	answer goes, not who took part). Unparsable addresses and the null
 *	sender are not participants; a message with no participant at all
 *	is not internal-only.
 *
 *	The Sieve script sees the envelope "to" of the copy being decided:
 *	env_to when the caller gives one (an incoming copy: the user's own
 *	RCPT TO as received), else the user's first address. An outgoing copy
 *	is thus judged as if delivered to its sender's own mailbox, the way
 *	sieve-test runs a script for the mailbox it belongs to.
 *
 *	Smart BCC (K2) overrides the decision in the caller, not here.
 */
#include <config.h>

/* System library. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Utility library. */
#include "cs_addr.h"
#include "cs_util.h"

/* Application-specific. */
#include "cs_policy.h"

/* What a participant walk is looking for. */
enum { CS_WALK_BLOCKED, CS_WALK_INTERNAL };

/* cs_participant_blocked - one address against the user's and global Block */
static int cs_participant_blocked(const cs_config *cfg, const cs_user *u, const char *addr)
{
    char    norm[CS_ADDR_MAX + 1];

    if (addr == NULL || cs_addr_normalize(addr, cfg->subaddress_delimiter,
					  norm, sizeof(norm)) < 0)
	return 0;
    if (cs_strlist_contains(&u->addresses, norm))
	return 0;
    return cs_addr_blocked(norm, &u->block) || cs_addr_blocked(norm, &cfg->block);
}

/* cs_participant_internal - 1 internal, 0 external, -1 not a participant */
static int cs_participant_internal(const cs_config *cfg, const char *addr)
{
    char    norm[CS_ADDR_MAX + 1];

    if (addr == NULL || cs_addr_normalize(addr, cfg->subaddress_delimiter,
					  norm, sizeof(norm)) < 0)
	return -1;
    return cs_addr_in_domains(norm, &cfg->internal_domains) ? 1 : 0;
}

/* cs_any_blocked - is any participant blocked for this user? */
static int cs_any_blocked(const cs_config *cfg, const cs_user *u, const cs_policy_msg *m)
{
    const cs_addrlist *lists[4] = {0};

    if (cs_participant_blocked(cfg, u, m->env_from))
	return 1;
    for (size_t i = 0; m->env_rcpts && i < m->nrcpts; i++)
	if (cs_participant_blocked(cfg, u, m->env_rcpts[i]))
	    return 1;
    if (m->info) {
	lists[0] = &m->info->from;
	lists[1] = &m->info->to;
	lists[2] = &m->info->cc;
	lists[3] = &m->info->reply_to;
    }
    for (size_t l = 0; l < 4 && lists[l]; l++)
	for (size_t i = 0; i < lists[l]->n; i++)
	    if (cs_participant_blocked(cfg, u, lists[l]->v[i].address))
		return 1;
    return 0;
}

/* cs_all_internal - is every participant (at least one) internal? */
static int cs_all_internal(const cs_config *cfg, const cs_policy_msg *m)
{
    const cs_addrlist *lists[3] = {0};
    int     seen = 0, r;

    if (cfg->internal_domains.n == 0)
	return 0;
    if ((r = cs_participant_internal(cfg, m->env_from)) == 0)
	return 0;
    seen |= r > 0;
    for (size_t i = 0; m->env_rcpts && i < m->nrcpts; i++) {
	if ((r = cs_participant_internal(cfg, m->env_rcpts[i])) == 0)
	    return 0;
	seen |= r > 0;
    }
    if (m->info) {
	lists[0] = &m->info->from;
	lists[1] = &m->info->to;
	lists[2] = &m->info->cc;
    }
    for (size_t l = 0; l < 3 && lists[l]; l++)
	for (size_t i = 0; i < lists[l]->n; i++) {
	    if ((r = cs_participant_internal(cfg, lists[l]->v[i].address)) == 0)
		return 0;
	    seen |= r > 0;
	}
    return seen;
}

/* cs_skip - fill a skipped decision */
static int cs_skip(cs_decision *d, const char *reason)
{
    d->synced = 0;
    d->reason = reason;
    return 0;
}

/* cs_policy_decide - decide for one owner of one message */
int     cs_policy_decide(const cs_policy *pol, const cs_config *cfg, const cs_user *u,
			         const cs_policy_msg *m, int direction, const char *env_to,
			         int joins_thread, cs_decision *d)
{
    return cs_policy_decide_cached(pol, cfg, u, m, direction, env_to, joins_thread, NULL, d);
}

/* cs_policy_decide_cached - the same, Sieve's parsed headers shared */
int     cs_policy_decide_cached(const cs_policy *pol, const cs_config *cfg, const cs_user *u,
				        const cs_policy_msg *m, int direction, const char *env_to,
				        int joins_thread, cs_sieve_cache *cache, cs_decision *d)
{
    (void) pol;
    (void) direction;			/* env_to already says which copy */
    memset(d, 0, sizeof(*d));
    if (u == NULL || m == NULL || cfg == NULL)
	return -1;
    if (u->sync == CS_SYNC_OFF)
	return cs_skip(d, "mode-off");
    if (u->rules_error) {
	d->detail = cs_strdup(u->rules_error);
	return cs_skip(d, "rules-error");
    }
    if (cs_any_blocked(cfg, u, m))
	return cs_skip(d, "blocked");
    if (u->exclude_automated && cs_policy_is_automated(m))
	return cs_skip(d, "automated");
    if (!u->sync_internal && cs_all_internal(cfg, m))
	return cs_skip(d, "internal-only");

    if (u->rules) {
	static const cs_headers no_headers;
	cs_sieve_input in;
	char    err[512];

	in.headers = m->info ? &m->info->headers : &no_headers;
	in.env_from = m->env_from ? m->env_from : "";
	in.env_to = env_to ? env_to : u->addresses.n ? u->addresses.v[0] : "";
	in.size = m->size;
	err[0] = 0;
	if (cs_sieve_run_cached(u->rules, &in, cache, &d->labels, err, sizeof(err)) < 0) {
	    cs_strlist_free(&d->labels);
	    d->detail = cs_strdup(err);
	    return cs_skip(d, "rules-error");
	}
    }
    if (u->sync == CS_SYNC_ALL) {
	d->synced = 1;
	return 0;
    }
    for (size_t i = 0; i < d->labels.n; i++)
	if (cs_strlist_contains(&u->labels, d->labels.v[i])) {
	    d->synced = 1;
	    return 0;
	}
    if (joins_thread > 0) {
	d->synced = 1;
	return 0;
    }
    d->conditional = joins_thread < 0;
    return cs_skip(d, "no-label");
}

/* cs_decision_free - release labels and detail */
void    cs_decision_free(cs_decision *d)
{
    if (d == NULL)
	return;
    cs_strlist_free(&d->labels);
    free(d->detail);
    d->detail = NULL;
}

/* cs_policy_in_window - S3: arrival no older than the user's Window */
int     cs_policy_in_window(const cs_user *u, time_t arrival, time_t now)
{
    /* A Date in the future is recent, not out of the window. */
    if (arrival >= now)
	return 1;
    return (double) now - (double) arrival <= (double) u->window;
}

/* cs_token_is - does the value's first token (before ';') equal word? */
static int cs_token_is(const char *value, const char *word)
{
    size_t  n = strlen(word);
    const char *p = value, *e;

    while (*p == ' ' || *p == '\t')
	p++;
    e = p + strcspn(p, ";");
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
	e--;
    return (size_t) (e - p) == n && strncasecmp(p, word, n) == 0;
}

/* cs_policy_is_automated - S4 list and machine mail */
int     cs_policy_is_automated(const cs_policy_msg *m)
{
    const cs_msginfo *info = m->info;

    if (m->env_from && (m->env_from[0] == 0 || strcmp(m->env_from, "<>") == 0))
	return 1;
    if (info == NULL)
	return 0;
    if (info->list_id)
	return 1;
    /* RFC 3834: any value but "no" (parameters after ';' do not count). */
    if (info->auto_submitted && !cs_token_is(info->auto_submitted, "no"))
	return 1;
    if (info->precedence && (cs_token_is(info->precedence, "bulk")
			     || cs_token_is(info->precedence, "list")
			     || cs_token_is(info->precedence, "junk")))
	return 1;
    return 0;
}
