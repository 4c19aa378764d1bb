/*
 * NAME
 *	cs_owners 3h
 * SUMMARY
 *	whose mailboxes a message belongs in (SPEC C2, K2, K4, Words)
 * DESCRIPTION
 *	cs_owners_find() is pure: from the envelope and the SMTP session it
 *	computes the owners of a message. Owners are the users among the
 *	envelope recipients (group addresses expanded to their members) and
 *	the sender's user, only when the session is authenticated as that
 *	user: the AUTH login is one of the user's logins, or the client
 *	address is in TrustedNetworks and the envelope sender is the user's.
 *	A local submission (sendmail(1), non_smtpd_milters) is never
 *	authenticated. A user who is both sender and recipient is one owner
 *	with direction CS_DIR_OUT.
 *
 *	Dropbox recipients are collected as given (C5 needs the exact RCPT TO
 *	string) and are never owners. smart_bcc is set when a dropbox is a
 *	recipient and the sender is authenticated (K2); dropbox_spoofed when
 *	a dropbox is a recipient and it is not (K4).
 */
#ifndef CS_OWNERS_H
#define CS_OWNERS_H

#include "cs_policy.h"

typedef struct cs_session {
    const char *auth_login;		/* {auth_authen}, NULL if none */
    const char *client_addr;		/* textual IP, NULL if unknown */
    int     local_submission;		/* sendmail(1) via non_smtpd_milters */
} cs_session;

typedef struct cs_owner {
    const cs_user *user;
    int     direction;			/* CS_DIR_IN / CS_DIR_OUT */
    cs_strlist env_rcpts;		/* this owner's own RCPT TO values */
} cs_owner;

typedef struct cs_owners {
    cs_owner *v;
    size_t  n;
    const cs_user *sender;		/* authenticated sender, or NULL */
    int     sender_claimed;		/* env_from is a user's address */
    int     smart_bcc;			/* K2 applies */
    int     dropbox_spoofed;		/* K4: dropbox mail, not authenticated */
    cs_strlist dropbox_rcpts;		/* RCPT TO values as given */
} cs_owners;

int     cs_owners_find(const cs_policy *, const cs_config *, const cs_session *,
		       const char *env_from, const char *const *rcpts, size_t nrcpts,
		       cs_owners *);
void    cs_owners_free(cs_owners *);

#endif
