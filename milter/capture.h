/*
 * NAME
 *	capture 3h
 * SUMMARY
 *	end-of-message: decide owners and copies, record, remove the dropbox
 * SYNOPSIS
 *	#include "capture.h"
 *
 *	int	capture_eom(cs_store *store, const cs_conn *c, cs_msg *m,
 *			    cs_strlist *delrcpts)
 *	int	capture_wanted(const cs_conn *c, const cs_msg *m)
 * DESCRIPTION
 *	capture_eom() does the work of SPEC C2-C5, K2, K4 for one message
 *	whose context is complete: the owners, each owner's copy (the
 *	policy with K2 over it, policy/cs_verdict.c), the Smart BCC
 *	persons, the record into store (NULL while it cannot be opened),
 *	logs and counters. It never rejects: it returns CAPTURE_ACCEPT,
 *	or CAPTURE_TEMPFAIL with On-Error tempfail when recording failed.
 *	It changes no mail itself: on CAPTURE_ACCEPT, delrcpts gets the
 *	recipients to delete from the envelope (C5: the dropbox ones,
 *	exactly as received), which the caller applies (mlfi_eom with
 *	smfi_delrcpt; a test without an MTA checks them). capture.c calls
 *	no libmilter function.
 *
 *	capture_wanted() answers early (at end of headers) whether the body is
 *	worth receiving: no owner and no dropbox means crmsync has nothing to
 *	do and can accept at once.
 */
#ifndef CAPTURE_H
#define CAPTURE_H

#include "mlfi.h"

enum { CAPTURE_ACCEPT, CAPTURE_TEMPFAIL };

int     capture_eom(cs_store *, const cs_conn *, cs_msg *, cs_strlist *delrcpts);
int     capture_wanted(const cs_conn *, const cs_msg *);

#endif
