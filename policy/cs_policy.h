/*
 * NAME
 *	cs_policy 3h
 * SUMMARY
 *	CRM users, groups and per-user sync decisions (SPEC S1-S5, C2)
 * DESCRIPTION
 *	cs_policy_load() reads every "*.policy" file in the config's PolicyDir
 *	(in name order) and, for each user with a Rules script, compiles it.
 *	A structural error (unknown key, bad value, duplicate user, an address
 *	claimed twice, a group naming an unknown user, Labels without Sync
 *	labels) refuses the whole policy: NULL, with "file:line: what" in err.
 *	A script that cannot be read or parsed does not: that user gets
 *	rules_error set (with the script's own line:col) and every decision
 *	for them is skipped/rules-error; cs_policy_problems() lists these,
 *	one line per script with the users it disables, so that -n, "policy
 *	check" and the daemon's log report each fault once and exit non-zero.
 *	Loading logs nothing: the caller reports.
 *
 *	A policy is immutable once loaded and reference-counted, like the
 *	config; lookups are hash-based and safe from any thread.
 *
 *	cs_policy_decide() is pure: no I/O. It decides for one owner of one
 *	message. joins_thread says whether the message joins a thread already
 *	in that owner's mailbox: 1 yes, 0 no, -1 not known yet. In labels mode
 *	a message with no selected label is synced when joins_thread is 1;
 *	when it is -1 the decision is skipped/no-label with conditional set,
 *	meaning: store it only if it turns out to join a thread (the store
 *	decides that inside its transaction).
 */
#ifndef CS_POLICY_H
#define CS_POLICY_H

#include <stddef.h>
#include <time.h>
#include "cs_util.h"
#include "cs_config.h"
#include "cs_message.h"
#include "cs_sieve.h"

enum cs_role { CS_ROLE_USER = 0, CS_ROLE_ADMIN };

typedef struct cs_user {
    char   *id;
    cs_strlist addresses;		/* normalized */
    cs_strlist logins;			/* SMTP AUTH names; default = addresses */
    int     role;			/* enum cs_role */
    int     sync;			/* enum cs_sync_mode */
    cs_strlist labels;			/* selected labels (labels mode) */
    long    window;			/* seconds (S3, importer only) */
    long    retention;			/* seconds (R1), 0: keep mail */
    char   *rules_path;			/* Rules, NULL if none */
    cs_sieve *rules;			/* compiled, NULL if none or error;
					 * owned by the policy, shared by the
					 * users naming the same script */
    char   *rules_error;		/* "path:line:col: what", NULL if fine */
    cs_strlist block;			/* user's own Block entries */
    int     exclude_automated;		/* Exclude automated */
    int     sync_internal;		/* SyncInternal (default: config) */
    char   *file;			/* policy file and line of the User line */
    int     line;
} cs_user;

typedef struct cs_policy cs_policy;

cs_policy *cs_policy_load(const cs_config *, char *err, size_t errlen);
cs_policy *cs_policy_ref(cs_policy *);
void    cs_policy_unref(cs_policy *);

size_t  cs_policy_nusers(const cs_policy *);
const cs_user *cs_policy_user_at(const cs_policy *, size_t);
const cs_user *cs_policy_user(const cs_policy *, const char *id);
/* By address (normalized here, so "<Alice+x@Dom>" works); NULL if none. */
const cs_user *cs_policy_user_by_address(const cs_policy *, const char *addr);
/* By SMTP AUTH login (compared case-insensitively). */
const cs_user *cs_policy_user_by_login(const cs_policy *, const char *login);
/* Members of a Group address (normalized here); 0 if it is not a group. */
size_t  cs_policy_group(const cs_policy *, const char *addr, const cs_user *const **members);
/* Group addresses, in order of first mention. */
size_t  cs_policy_ngroups(const cs_policy *);
const char *cs_policy_group_at(const cs_policy *, size_t);
/* Problems that do not refuse the policy: one line per broken Rules script,
 * "path:line:col: what; users a, b sync nothing (rules-error)". */
const cs_strlist *cs_policy_problems(const cs_policy *);

/* What decide needs to know about the message. */
typedef struct cs_policy_msg {
    const cs_msginfo *info;
    const char *env_from;		/* as given, "" for the null path */
    const char *const *env_rcpts;	/* all envelope recipients, as given */
    size_t  nrcpts;
    size_t  size;
} cs_policy_msg;

typedef struct cs_decision {
    int     synced;			/* 1 synced, 0 skipped */
    const char *reason;			/* NULL when synced; else a static
					 * "mode-off" "no-label" "rules-error"
					 * "blocked" "internal-only" "automated" */
    int     conditional;		/* see DESCRIPTION */
    cs_strlist labels;			/* folders the rules filed it into */
    char   *detail;			/* rules-error: the script's error
					 * ("path:line:col: what" or the
					 * run-time error), else NULL */
} cs_decision;

/* direction: CS_DIR_IN (user is a recipient) or CS_DIR_OUT (authenticated
 * sender). env_to: the user's own envelope address for an incoming copy;
 * NULL (an outgoing copy) makes the Sieve script see the user's first
 * address as envelope "to". Returns 0, or -1 on bad arguments. Free the
 * decision with cs_decision_free() either way. */
enum cs_direction { CS_DIR_IN = 0, CS_DIR_OUT = 1 };

int     cs_policy_decide(const cs_policy *, const cs_config *, const cs_user *,
			 const cs_policy_msg *, int direction, const char *env_to,
			 int joins_thread, cs_decision *);
/* The same, the Sieve run sharing the message's parsed headers with the
 * runs for its other owners (cs_sieve_run_cached; NULL: none). */
int     cs_policy_decide_cached(const cs_policy *, const cs_config *, const cs_user *,
				const cs_policy_msg *, int direction, const char *env_to,
				int joins_thread, cs_sieve_cache *, cs_decision *);
void    cs_decision_free(cs_decision *);

/* SPEC S3, importer only: is arrival within the user's window at now? */
int     cs_policy_in_window(const cs_user *, time_t arrival, time_t now);

/* Is the message automated (S4: List-Id, Auto-Submitted other than no,
 * Precedence bulk/list/junk, null return path)? */
int     cs_policy_is_automated(const cs_policy_msg *);

#endif
