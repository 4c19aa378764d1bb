/*
 * NAME
 *	journal 3h
 * SUMMARY
 *	the milter's local journal: breaker, records in and out, replay (C6)
 * DESCRIPTION
 *	capture_eom() asks jnl_route() first: while the breaker is open (a
 *	wait has shown the store stuck) or records are still waiting in the
 *	journal, a message's records go to the journal at once
 *	(jnl_put), so that they reach the store in the order their
 *	end-of-message was answered. Otherwise they go to the store with a
 *	wait of StoreWait; one not committed by then is journaled instead
 *	and, when the store's writer made no progress meanwhile, the
 *	breaker opens (jnl_trip).
 *
 *	A replay thread applies the journal to the store in order, in
 *	groups (cs_store_submit), and moves the cursor only past records
 *	whose commit was reported; a group that fails is tried again from
 *	its first failed record, with a growing pause (1 s to 5 s): that
 *	retry is the probe that finds the store back. T2 makes a record
 *	applied twice (a kill -9 between commit and cursor, a record whose
 *	StoreWait ran out while the writer was committing it) a duplicate.
 *	When nothing is left the breaker closes and mail goes to the store
 *	again.
 *
 *	jnl_status() is the "journal" object of the milter's status
 *	document (crmsyncctl stats).
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>
#include <jansson.h>
#include "cs_config.h"
#include "cs_store.h"

/* Open JournalDir and start the replay thread; -1 (logged) when the
 * journal cannot be used: mail flows as without one (C1). */
int     jnl_start(const cs_config *, cs_store *(*get_store) (void));
void    jnl_stop(void);
int     jnl_active(void);
/* 1: journal this message without asking the store. */
int     jnl_route(void);
/* The store was found stuck: open the breaker. */
void    jnl_trip(void);
/* 1 while the store is known stuck. */
int     jnl_breaker_open(void);
/* Journal a record (hdr: the header block it was parsed from); 0 when
 * durable; CS_JOURNAL_FULL (JournalMaxSize, disk full) or -1 otherwise,
 * counted and logged as a drop unless may_retry (the caller tries the
 * store instead and calls jnl_dropped if that fails too). */
int     jnl_put(const cs_record *, const char *hdr, size_t hdrlen, int may_retry);
void    jnl_dropped(const char *qid, const char *why);
json_t *jnl_status(void);

#endif
