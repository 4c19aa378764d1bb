/*
 * NAME
 *	mlfi 3h
 * SUMMARY
 *	libmilter callbacks and the per-connection and per-message contexts
 * DESCRIPTION
 *	libmilter runs each SMTP connection's callbacks one at a time, on
 *	its threads (Debian's build: a pool of workers, so one connection's
 *	callbacks may run on different threads, and mlfi_close on the pool's
 *	controller for a session that timed out): nothing here is kept per
 *	thread. A connection context (cs_conn) is made at connect and freed
 *	at close; a message context (cs_msg) is reset at envfrom, eom and
 *	abort. Everything in them is copied from libmilter's arguments:
 *	macro values are not kept as pointers. The config and policy in
 *	force are held by reference from envfrom to the end of the message,
 *	so a reload never changes the rules under a message in flight; the
 *	daemon's state they come from is state.h's.
 */
#ifndef MLFI_H
#define MLFI_H

#include <libmilter/mfapi.h>
#include <stdint.h>
#include "cs_config.h"
#include "cs_digest.h"
#include "cs_owners.h"
#include "cs_policy.h"
#include "cs_spool.h"
#include "cs_store.h"

typedef struct cs_msg {
    cs_config *cfg;			/* reference for this message */
    cs_policy *pol;			/* reference for this message */
    char   *env_from;			/* MAIL FROM argument, <> stripped */
    cs_strlist rcpts;			/* RCPT TO arguments as given */
    char   *auth_authen;		/* {auth_authen} at MAIL */
    char    qid[64];			/* queue id, "" until DATA */
    cs_buf  hdr;			/* raw header block as received */
    int     hdr_truncated;		/* header block over MaxMessageSize */
    cs_spool *raw;			/* header block + body */
    cs_bodyhash *bh;			/* T2 body digest */
    time_t  arrival;
    cs_owners owners;			/* computed at end of headers */
    int     have_owners;
    cs_store *expect_store;		/* told a record is coming (eoh) */
} cs_msg;

typedef struct cs_conn {
    unsigned long pflags;		/* protocol flags granted at negotiate */
    char    client_addr[64];		/* from the connect socket address */
    int     client_port;
    int     local_submission;		/* Postfix non_smtpd_milters */
    cs_msg *msg;			/* NULL between messages */
#ifdef CS_STACK_PROBE
    size_t  stack_peak, stack_size;	/* tests/milter/stack.sh (mlfi.c) */
#endif
} cs_conn;

extern struct smfiDesc mlfi_desc;

/* After smfi_main, before the store is closed: see mlfi.c. */
int     mlfi_store_quiesce(long timeout_ms);

#endif
