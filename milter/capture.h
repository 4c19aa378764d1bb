/*
 * NAME
 *	capture 3h
 * SUMMARY
 *	end-of-message: decide owners and copies, record, remove the dropbox
 * DESCRIPTION
 *	capture_eom() does the work of SPEC C2-C5, K2, K4 for one message
 *	whose context is complete. It never rejects: it returns the libmilter
 *	status to answer, which is SMFIS_ACCEPT unless On-Error tempfail and
 *	recording failed.
 *
 *	capture_wanted() answers early (at end of headers) whether the body is
 *	worth receiving: no owner and no dropbox means crmsync has nothing to
 *	do and can accept at once.
 */
#ifndef CAPTURE_H
#define CAPTURE_H

#include "mlfi.h"

sfsistat capture_eom(SMFICTX *, cs_conn *, cs_msg *);
int     capture_wanted(const cs_conn *, const cs_msg *);

#endif
