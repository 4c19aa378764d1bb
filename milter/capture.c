/*
 * NAME
 *	capture 3
 * SUMMARY
 *	end-of-message work: owners, decisions, copies, store, dropbox
 * DESCRIPTION
 *	See capture.h. The order matters for SPEC C1: the store's answer
 *	never changes what happens to the mail, except with the opt-in
 *	On-Error tempfail.
 */
#include <config.h>

/* System library. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "capture.h"
#include "counters.h"
#include "journal.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_owners.h"
#include "cs_verdict.h"

/* Recording failures repeat per message while the store is down. */
#define CAPTURE_FAIL_LOG_INTERVAL	60
static cs_ratelimit capture_fail_log;

/* find_owners - compute the owners once per message */
static int find_owners(const cs_conn *c, cs_msg *m)
{
    cs_session sess;

    if (m->have_owners)
	return 0;
    memset(&sess, 0, sizeof(sess));
    sess.auth_login = m->auth_authen;
    sess.client_addr = c->client_addr[0] ? c->client_addr : NULL;
    sess.local_submission = c->local_submission;
    if (cs_owners_find(m->pol, m->cfg, &sess, m->env_from,
		       (const char *const *) m->rcpts.v, m->rcpts.n, &m->owners) < 0)
	return -1;
    m->have_owners = 1;
    return 0;
}

/* capture_wanted - is there anything to record or remove? */
int     capture_wanted(const cs_conn *c, const cs_msg *m)
{
    cs_msg *mm = (cs_msg *) m;

    if (find_owners(c, mm) < 0)
	return 1;				/* decide again at eom */
    return mm->owners.n > 0 || mm->owners.dropbox_rcpts.n > 0;
}

/* name_for - display name of addr in an address list, else NULL */
static const char *name_for(const cs_addrlist *l, const char *norm, const char *delims)
{
    char    n[CS_ADDR_MAX + 1];

    for (size_t i = 0; i < l->n; i++)
	if (l->v[i].name && *l->v[i].name
	    && cs_addr_normalize(l->v[i].address, delims, n, sizeof(n)) == 0
	    && strcmp(n, norm) == 0)
	    return l->v[i].name;
    return NULL;
}

/* add_contact - a Smart BCC candidate, if K2 allows it */
static int add_contact(cs_msg *m, const cs_msginfo *info, const char *raw_addr,
		               cs_strlist *addrs, cs_strlist *names)
{
    const cs_config *cfg = m->cfg;
    const cs_user *const *members;
    char    norm[CS_ADDR_MAX + 1];
    const char *name;

    if (cs_addr_normalize(raw_addr, cfg->subaddress_delimiter, norm, sizeof(norm)) < 0)
	return 0;
    if (cs_strlist_contains(addrs, norm)
	|| cs_strlist_contains(&cfg->dropbox, norm)
	|| cs_policy_user_by_address(m->pol, norm) != NULL
	|| cs_policy_group(m->pol, norm, &members) > 0
	|| cs_addr_in_domains(norm, &cfg->internal_domains)
	|| cs_addr_blocked(norm, &cfg->block)
	|| cs_addr_blocked(norm, &m->owners.sender->block))
	return 0;
    if ((name = name_for(&info->to, norm, cfg->subaddress_delimiter)) == NULL)
	name = name_for(&info->cc, norm, cfg->subaddress_delimiter);
    if (cs_strlist_add(addrs, norm) < 0)
	return -1;
    if (name)
	return cs_strlist_add(names, name);
    /* No display name: the local part, as a CRM user would type it. */
    return cs_strlist_addn(names, norm, (size_t) (strchr(norm, '@') - norm));
}

/* smart_bcc_contacts - every recipient K2 makes a person of */
static int smart_bcc_contacts(cs_msg *m, const cs_msginfo *info, cs_strlist *addrs,
			              cs_strlist *names)
{
    for (size_t i = 0; i < info->to.n; i++)
	if (add_contact(m, info, info->to.v[i].address, addrs, names) < 0)
	    return -1;
    for (size_t i = 0; i < info->cc.n; i++)
	if (add_contact(m, info, info->cc.v[i].address, addrs, names) < 0)
	    return -1;
    /* Envelope-only Bcc recipients are recipients too. */
    for (size_t i = 0; i < m->rcpts.n; i++)
	if (add_contact(m, info, m->rcpts.v[i], addrs, names) < 0)
	    return -1;
    return 0;
}

/* in_list - is norm an address of a header's list? */
static int in_list(const cs_addrlist *l, const char *norm, const char *delims)
{
    char    n[CS_ADDR_MAX + 1];

    for (size_t i = 0; i < l->n; i++)
	if (cs_addr_normalize(l->v[i].address, delims, n, sizeof(n)) == 0 && strcmp(n, norm) == 0)
	    return 1;
    return 0;
}

/* envelope_only - C4: the envelope recipients no To or Cc names (the
 * sender's Bcc), dropboxes and the sender's own addresses left out: what
 * the sender's copy shows */
static int envelope_only(const cs_msg *m, const cs_msginfo *info, cs_strlist *out)
{
    const char *delims = m->cfg->subaddress_delimiter;
    char    norm[CS_ADDR_MAX + 1];

    for (size_t i = 0; i < m->rcpts.n; i++) {
	if (cs_addr_normalize(m->rcpts.v[i], delims, norm, sizeof(norm)) < 0
	    || cs_strlist_contains(&m->cfg->dropbox, norm)
	    || in_list(&info->to, norm, delims) || in_list(&info->cc, norm, delims)
	    || in_list(&info->from, norm, delims)	/* a copy to oneself */
	    || cs_policy_user_by_address(m->pol, norm) == m->owners.sender
	    || cs_strlist_contains(out, norm))
	    continue;
	if (cs_strlist_add(out, norm) < 0)
	    return -1;
    }
    return 0;
}

/* raw_to_keep - the whole message, or its headers when over the limit (C4) */
static cs_spool *raw_to_keep(cs_msg *m, int *truncated)
{
    cs_spool *hdr_only;

    *truncated = m->hdr_truncated || cs_spool_truncated(m->raw);
    if (!*truncated)
	return cs_spool_ref(m->raw);
    if ((hdr_only = cs_spool_new(m->cfg->spool_dir, (size_t) m->cfg->spool_threshold,
				 m->cfg->max_message_size)) == NULL)
	return NULL;
    if (cs_spool_write(hdr_only, m->hdr.data ? m->hdr.data : "", m->hdr.len) < 0
	|| cs_spool_write(hdr_only, "\r\n", 2) < 0) {
	cs_spool_unref(hdr_only);
	return NULL;
    }
    return hdr_only;
}

/* What end of message works with, freed at once by capture_free(). */
typedef struct capture {
    cs_msginfo info;			/* the parsed headers */
    cs_verdict *v;			/* one per owner (policy/cs_verdict.c) */
    cs_copy *copies;			/* the verdicts that make a copy */
    size_t  ncopies, nstored, ndup;
    int    *results;			/* the store's answer per copy */
    cs_contact *contacts;		/* K2: Smart BCC persons */
    size_t  ncontacts;
    cs_strlist caddrs, cnames;		/* their addresses and names */
    cs_strlist env_only;		/* C4: what the sender's copy shows */
    cs_record rec;
    char    digest[CS_DIGEST_HEX];
    char    raw_addr[CS_DIGEST_HEX];	/* "" when not made */
    uint64_t raw_addr_len;		/* the bytes it names */
    int     truncated;
} capture;

/* capture_free - release what end of message made */
static void capture_free(capture *cap, size_t nowners)
{
    if (cap->rec.raw)
	cs_spool_unref(cap->rec.raw);
    cs_verdicts_free(cap->v, nowners);
    free(cap->v);
    free(cap->copies);
    free(cap->contacts);
    free(cap->results);
    cs_strlist_free(&cap->caddrs);
    cs_strlist_free(&cap->cnames);
    cs_strlist_free(&cap->env_only);
    cs_msginfo_free(&cap->info);
}

/* capture_copies - each owner's verdict, logged; the copies to record */
static int capture_copies(cs_msg *m, capture *cap)
{
    cs_policy_msg pmsg;
    size_t  n = m->owners.n;

    memset(&pmsg, 0, sizeof(pmsg));
    pmsg.info = &cap->info;
    pmsg.env_from = m->env_from;
    pmsg.env_rcpts = (const char *const *) m->rcpts.v;
    pmsg.nrcpts = m->rcpts.n;
    pmsg.size = (size_t) cs_spool_total(m->raw);
    if (n == 0)
	return 0;
    if ((cap->v = calloc(n, sizeof(*cap->v))) == NULL
	|| (cap->copies = calloc(n, sizeof(*cap->copies))) == NULL
	|| (cap->results = calloc(n, sizeof(*cap->results))) == NULL)
	return -1;
    if (m->owners.sender && envelope_only(m, &cap->info, &cap->env_only) < 0)
	return -1;
    if (cs_policy_verdicts(m->pol, m->cfg, &m->owners, &pmsg, -1, cap->env_only.n > 0,
			   cap->v) < 0)
	return -1;
    for (size_t i = 0; i < n; i++) {
	const cs_verdict *v = &cap->v[i];
	const cs_owner *o = v->owner;
	cs_copy *cp = &cap->copies[cap->ncopies];

	/* A conditional copy's outcome is logged once the store has decided. */
	cs_info(m->qid, "user=%s direction=%s decision=%s reason=%s%s",
		o->user->id, o->direction == CS_DIR_OUT ? "out" : "in",
		!v->copy ? "skipped" : v->conditional ? "pending" : "synced",
		v->copy && !v->conditional ? "-" : v->dec.reason,
		v->smart_bcc ? " smart-bcc" : v->conditional && v->copy
		? " (synced only if it joins a thread)" : "");
	if (!v->copy) {
	    cs_count_skip(v->dec.reason);
	    continue;
	}
	cp->user = o->user->id;
	cp->direction = o->direction;
	cp->labels = &v->labels;
	cp->conditional = v->conditional;
	/* C4: only the sender's copy keeps the whole envelope, and shows
	 * its envelope-only recipients among the participants. */
	cp->env_rcpts = o->direction == CS_DIR_OUT ? &m->rcpts : &o->env_rcpts;
	cp->bcc = o->direction == CS_DIR_OUT ? &cap->env_only : NULL;
	cap->ncopies++;
    }
    return 0;
}

/* capture_contacts - K2: the persons Smart BCC makes for the sender */
static int capture_contacts(cs_msg *m, capture *cap)
{
    if (!m->owners.smart_bcc)
	return 0;
    if (smart_bcc_contacts(m, &cap->info, &cap->caddrs, &cap->cnames) < 0)
	return -1;
    if (cap->caddrs.n > 0
	&& (cap->contacts = calloc(cap->caddrs.n, sizeof(*cap->contacts))) == NULL)
	return -1;
    for (size_t i = 0; i < cap->caddrs.n; i++) {
	cap->contacts[i].owner = m->owners.sender->id;
	cap->contacts[i].address = cap->caddrs.v[i];
	cap->contacts[i].name = cap->cnames.v[i];
    }
    cap->ncontacts = cap->caddrs.n;
    return 0;
}

enum { CAPTURE_STORED, CAPTURE_JOURNALED, CAPTURE_LATE, CAPTURE_FAILED };

/* 1 + the writer's group count when it was found stuck (or failing) with
 * the journal full (0: not found so): until a group commits, later
 * records wait one StoreWait, not StoreTimeout, before they are dropped,
 * so a stuck store delays mail little; one that answers stores them. */
static _Atomic uint64_t stuck_at;

/*
 * journal_refused - the journal did not take the record (JournalMaxSize,
 * a full disk): the store, for up to StoreTimeout. Still not committed
 * then but the writer committed a group meanwhile (large mail far
 * behind: slow, not stuck), the record stays in the writer's queue and
 * is committed late, as before C6. Dropped, counted and logged only when
 * the store is stuck (no group for a whole StoreTimeout; once found so,
 * for a StoreWait) or fails too.
 */
static int journal_refused(cs_store *store, cs_msg *m, const cs_record *rec, int *results)
{
    cs_store_wait w = {.keep_queued = 1};
    long    timeout = m->cfg->store_timeout_ms;

    if (store == NULL) {
	jnl_dropped(m->qid, "journal full and no store");
	return CAPTURE_FAILED;
    }
    /* Found stuck and no group since: one StoreWait, the probe that
     * finds the store back. */
    if (atomic_load(&stuck_at) == cs_store_groups(store) + 1)
	timeout = m->cfg->store_wait_ms;
    if (cs_store_record_wait(store, rec, m->cfg->store_wait_ms, timeout, results, &w) == CS_OK)
	return CAPTURE_STORED;
    if (w.queued) {
	jnl_late(m->qid);
	return CAPTURE_LATE;
    }
    if (!w.timed_out || !w.progress)
	jnl_trip();
    atomic_store(&stuck_at, cs_store_groups(store) + 1);
    jnl_dropped(m->qid, w.timed_out ? "journal full and the store stuck"
		: "journal full and the store failed");
    return CAPTURE_FAILED;
}

/*
 * record - into the store, or the journal (C6): while the breaker is open
 * or records wait in the journal, straight to the journal (arrival
 * order); else the store, waited on in steps of StoreWait while its
 * writer gets on, then the journal. A journal that refuses: see
 * journal_refused. Without a journal, the store for StoreTimeout as
 * before.
 */
static int record(cs_store *store, cs_msg *m, const cs_record *rec, int *results)
{
    cs_store_wait w = {0};
    const char *hdr = m->hdr.data ? m->hdr.data : "";

    if (!jnl_active())
	return cs_store_record(store, rec, m->cfg->store_timeout_ms, results) == CS_OK
	    ? CAPTURE_STORED : CAPTURE_FAILED;
    if (store == NULL || jnl_route())
	return jnl_put(rec, hdr, m->hdr.len) == 0 ? CAPTURE_JOURNALED
	    : journal_refused(store, m, rec, results);
    if (cs_store_record_wait(store, rec, m->cfg->store_wait_ms, m->cfg->store_timeout_ms,
			     results, &w) == CS_OK)
	return CAPTURE_STORED;
    /*
     * Stuck (not merely slow) or failing: later messages to the journal.
     * A record refused alone (its group committed) says nothing of the
     * store: journaled, so that the replay tries it again and sets it
     * aside, but the breaker stays closed.
     */
    if (!w.refused && (!w.timed_out || !w.progress))
	jnl_trip();
    return jnl_put(rec, hdr, m->hdr.len) == 0 ? CAPTURE_JOURNALED
	: journal_refused(store, m, rec, results);
}

/* capture_record - the copies and contacts into the store or the journal */
static int capture_record(cs_store *store, cs_msg *m, capture *cap)
{
    cs_record *rec = &cap->rec;

    if (store == NULL && !jnl_active())
	return CAPTURE_FAILED;
    rec->queue_id = m->qid;
    rec->arrival = m->arrival;
    rec->source = "smtp";
    rec->env_from = m->env_from;
    rec->info = &cap->info;
    rec->body_digest = cap->digest;
    rec->copies = cap->copies;
    rec->ncopies = cap->ncopies;
    rec->contacts = cap->contacts;
    rec->ncontacts = cap->ncontacts;
    if ((rec->raw = raw_to_keep(m, &cap->truncated)) == NULL)
	return CAPTURE_FAILED;
    rec->truncated = cap->truncated;
    /* The whole message kept, and the address names all of it (mlfi.c fed
     * the digest what it spooled): no second pass over the bytes. */
    if (!cap->truncated && cap->raw_addr[0] != 0 && cap->raw_addr_len == cs_spool_kept(rec->raw))
	rec->raw_address = cap->raw_addr;
    /* Expected since end of headers: queued next (a journaled record
     * leaves the writer's commit delay to run out, a few ms). */
    if (m->expect_store) {
	cs_store_arrived(m->expect_store, 1);
	m->expect_store = NULL;
    }
    return record(store, m, rec, cap->results);
}

/* capture_outcome - log and count what the store did with each copy */
static void capture_outcome(cs_msg *m, capture *cap)
{
    for (size_t i = 0; i < cap->ncopies; i++) {
	const cs_copy *cp = &cap->copies[i];
	int     r = cap->results[i];

	if (cp->conditional && r != CS_COPY_DUPLICATE)
	    cs_info(m->qid, "user=%s direction=%s decision=%s", cp->user,
		    cp->direction == CS_DIR_OUT ? "out" : "in",
		    r == CS_COPY_STORED ? "synced reason=- (joins a thread)"
		    : "skipped reason=no-label (joins no thread)");
	else
	    cs_debug(m->qid, "user=%s %s", cp->user,
		     r == CS_COPY_STORED ? "stored" :
		     r == CS_COPY_DUPLICATE ? "duplicate, stored once (T2)" :
		     "not stored: joins no thread");
	if (r == CS_COPY_STORED) {
	    cs_count(CS_CNT_SYNCED);
	    cap->nstored++;
	} else if (r == CS_COPY_DUPLICATE) {
	    cs_count(CS_CNT_DUPLICATES);
	    cap->ndup++;
	} else {
	    /* Skipped for no-label after all: counted there too. */
	    cs_count(CS_CNT_CONDITIONAL_NOT_STORED);
	    cs_count(CS_CNT_SKIP_NO_LABEL);
	}
    }
    cs_count(CS_CNT_RECORDED);
    if (m->owners.smart_bcc)
	cs_count(CS_CNT_SMART_BCC);
}

/* capture_eom - record one finished message; the recipients to delete */
int     capture_eom(cs_store *store, const cs_conn *c, cs_msg *m, cs_strlist *delrcpts)
{
    capture cap;
    char    safe[128];
    int     failed = 0, journaled = 0;

    memset(&cap, 0, sizeof(cap));
    if (cs_bodyhash_final_addr(m->bh, cap.digest, cap.raw_addr, &cap.raw_addr_len) < 0)
	cap.raw_addr[0] = 0;
    m->bh = NULL;
    if (find_owners(c, m) < 0 || cs_msginfo_parse(m->hdr.data ? m->hdr.data : "",
						  m->hdr.len, &cap.info) < 0) {
	failed = 1;
	goto done;
    }
    if (m->owners.dropbox_spoofed) {
	cs_count(CS_CNT_DROPBOX_SPOOFED);
	cs_warn(m->qid, "dropbox mail from <%s> not authenticated as a user: "
		"no Smart BCC (K4)", cs_sanitize(m->env_from, safe, sizeof(safe)));
    }
    if (capture_copies(m, &cap) < 0 || capture_contacts(m, &cap) < 0) {
	failed = 1;
	goto done;
    }
    if (cap.ncopies == 0 && cap.ncontacts == 0)
	goto done;
    switch (capture_record(store, m, &cap)) {
    case CAPTURE_JOURNALED:
	journaled = 1;
	goto done;
    case CAPTURE_LATE:
	/* Not durable yet: a failure for On-Error tempfail (C1), as before C6. */
	if (m->cfg->on_error == CS_ON_ERROR_TEMPFAIL)
	    failed = 1;
	else
	    cs_info(m->qid, "journal full: left in the store's queue; the writer"
		    " commits it late (C6)");
	goto done;
    case CAPTURE_FAILED:
	failed = 1;
	goto done;
    }
    capture_outcome(m, &cap);

done:
    if (failed) {
	cs_count(CS_CNT_FAILURES);
	cs_log_limited(&capture_fail_log, CAPTURE_FAIL_LOG_INTERVAL, CS_LOG_ERROR, m->qid,
		       "could not record message from <%s>; mail %s (C1)",
		       cs_sanitize(m->env_from, safe, sizeof(safe)),
		       m->cfg->on_error == CS_ON_ERROR_TEMPFAIL ? "tempfailed" : "accepted");
    } else if (journaled) {
	cs_info(m->qid, "journaled %zu cop%s, %zu contact%s%s: the store applies them"
		" when it answers (C6)", cap.ncopies, cap.ncopies == 1 ? "y" : "ies",
		cap.ncontacts, cap.ncontacts == 1 ? "" : "s",
		cap.truncated ? ", truncated to headers" : "");
    } else if (m->owners.n > 0 || cap.ncontacts > 0) {
	/* Copies actually stored: a pending one that joined no thread is not. */
	char    dups[64] = "";

	if (cap.ndup)
	    snprintf(dups, sizeof(dups), "; %zu duplicate%s already stored (T2)", cap.ndup,
		     cap.ndup == 1 ? "" : "s");
	cs_info(m->qid, "recorded %zu cop%s, %zu contact%s%s%s", cap.nstored,
		cap.nstored == 1 ? "y" : "ies", cap.ncontacts, cap.ncontacts == 1 ? "" : "s",
		dups, cap.truncated ? ", truncated to headers" : "");
    }
    capture_free(&cap, m->have_owners ? m->owners.n : 0);
    if (failed && m->cfg->on_error == CS_ON_ERROR_TEMPFAIL)
	return CAPTURE_TEMPFAIL;
    /* C5: every dropbox recipient, exactly as received, whoever sent it. */
    if (m->cfg->dropbox_remove && m->have_owners
	&& cs_strlist_copy(delrcpts, &m->owners.dropbox_rcpts) < 0)
	cs_error(m->qid, "out of memory: dropbox recipients not removed");
    return CAPTURE_ACCEPT;
}
