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
#include <libmilter/mfapi.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "capture.h"
#include "state.h"
#include "counters.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_owners.h"

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

/* remove_dropbox - C5: delete dropbox recipients exactly as received */
static void remove_dropbox(SMFICTX *ctx, cs_msg *m)
{
    char    safe[128];

    if (!m->cfg->dropbox_remove)
	return;
    for (size_t i = 0; i < m->owners.dropbox_rcpts.n; i++) {
	if (smfi_delrcpt(ctx, m->owners.dropbox_rcpts.v[i]) != MI_SUCCESS)
	    cs_warn(m->qid, "could not remove dropbox recipient %s",
		    cs_sanitize(m->owners.dropbox_rcpts.v[i], safe, sizeof(safe)));
    }
}

/* capture_eom - record one finished message */
sfsistat capture_eom(SMFICTX *ctx, cs_conn *c, cs_msg *m)
{
    cs_msginfo info;
    cs_policy_msg pmsg;
    cs_decision *dec = NULL;
    cs_copy *copies = NULL;
    cs_contact *contacts = NULL;
    cs_strlist caddrs = {0}, cnames = {0}, bcc_labels = {0}, env_only = {0};
    cs_record rec;
    char    digest[CS_DIGEST_HEX];
    char    safe[128];
    size_t  ncopies = 0, ncontacts = 0, nstored = 0, ndup = 0;
    int     failed = 0, truncated = 0;
    int    *results = NULL;
    cs_store *store = mlfi_store();

    memset(&info, 0, sizeof(info));
    memset(&rec, 0, sizeof(rec));
    cs_bodyhash_final(m->bh, digest);
    m->bh = NULL;
    if (find_owners(c, m) < 0 || cs_msginfo_parse(m->hdr.data ? m->hdr.data : "",
						  m->hdr.len, &info) < 0) {
	failed = 1;
	goto done;
    }
    if (m->owners.dropbox_spoofed) {
	cs_count(CS_CNT_DROPBOX_SPOOFED);
	cs_warn(m->qid, "dropbox mail from <%s> not authenticated as a user: "
		"no Smart BCC (K4)", cs_sanitize(m->env_from, safe, sizeof(safe)));
    }

    memset(&pmsg, 0, sizeof(pmsg));
    pmsg.info = &info;
    pmsg.env_from = m->env_from;
    pmsg.env_rcpts = (const char *const *) m->rcpts.v;
    pmsg.nrcpts = m->rcpts.n;
    pmsg.size = (size_t) cs_spool_total(m->raw);

    if (m->owners.n > 0
	&& ((dec = calloc(m->owners.n, sizeof(*dec))) == NULL
	    || (copies = calloc(m->owners.n, sizeof(*copies))) == NULL
	    || (results = calloc(m->owners.n, sizeof(*results))) == NULL)) {
	failed = 1;
	goto done;
    }
    if (m->owners.sender && envelope_only(m, &info, &env_only) < 0) {
	failed = 1;
	goto done;
    }
    for (size_t i = 0; i < m->owners.n; i++) {
	cs_owner *o = &m->owners.v[i];
	const char *env_to = o->env_rcpts.n ? o->env_rcpts.v[0] : NULL;
	int     bcc = m->owners.smart_bcc && o->user == m->owners.sender;
	/* C4: the sender's own Bcc shows as bcc on the sender's copy only. */
	int     own_bcc = o->direction == CS_DIR_OUT && env_only.n > 0;

	if (cs_policy_decide(m->pol, m->cfg, o->user, &pmsg, o->direction, env_to,
			     -1, &dec[i]) < 0) {
	    failed = 1;
	    goto done;
	}
	/* K2: Smart BCC is an explicit request, whatever mode and labels. */
	if (bcc || own_bcc) {
	    if (cs_strlist_copy(&bcc_labels, &dec[i].labels) < 0
		|| cs_strlist_add_unique(&bcc_labels, "bcc") < 0) {
		failed = 1;
		goto done;
	    }
	}
	/* A conditional copy's outcome is logged once the store has decided. */
	cs_info(m->qid, "user=%s direction=%s decision=%s reason=%s%s",
		o->user->id, o->direction == CS_DIR_OUT ? "out" : "in",
		dec[i].synced || bcc ? "synced" : dec[i].conditional && !bcc ? "pending" : "skipped",
		dec[i].synced || bcc ? "-" : dec[i].reason,
		bcc ? " smart-bcc" : dec[i].conditional ? " (synced only if it joins a thread)" : "");
	if (!dec[i].synced && !dec[i].conditional && !bcc) {
	    cs_count_skip(dec[i].reason);
	    continue;
	}
	copies[ncopies].user = o->user->id;
	copies[ncopies].direction = o->direction;
	copies[ncopies].labels = bcc || own_bcc ? &bcc_labels : &dec[i].labels;
	copies[ncopies].conditional = !dec[i].synced && !bcc;
	/* C4: only the sender's copy keeps the whole envelope, and shows
	 * its envelope-only recipients among the participants. */
	copies[ncopies].env_rcpts = o->direction == CS_DIR_OUT ? &m->rcpts : &o->env_rcpts;
	copies[ncopies].bcc = o->direction == CS_DIR_OUT ? &env_only : NULL;
	ncopies++;
    }
    if (m->owners.smart_bcc) {
	if (smart_bcc_contacts(m, &info, &caddrs, &cnames) < 0) {
	    failed = 1;
	    goto done;
	}
	if (caddrs.n > 0 && (contacts = calloc(caddrs.n, sizeof(*contacts))) == NULL) {
	    failed = 1;
	    goto done;
	}
	for (size_t i = 0; i < caddrs.n; i++) {
	    contacts[i].owner = m->owners.sender->id;
	    contacts[i].address = caddrs.v[i];
	    contacts[i].name = cnames.v[i];
	}
	ncontacts = caddrs.n;
    }
    if (ncopies == 0 && ncontacts == 0)
	goto done;
    if (store == NULL) {
	failed = 1;
	goto done;
    }
    rec.queue_id = m->qid;
    rec.arrival = m->arrival;
    rec.source = "smtp";
    rec.env_from = m->env_from;
    rec.info = &info;
    rec.body_digest = digest;
    rec.copies = copies;
    rec.ncopies = ncopies;
    rec.contacts = contacts;
    rec.ncontacts = ncontacts;
    if ((rec.raw = raw_to_keep(m, &truncated)) == NULL) {
	failed = 1;
	goto done;
    }
    rec.truncated = truncated;
    if (cs_store_record(store, &rec, m->cfg->store_timeout_ms, results) != CS_OK) {
	failed = 1;
	goto done;
    }
    for (size_t i = 0; i < ncopies; i++) {
	if (copies[i].conditional && results[i] != CS_COPY_DUPLICATE)
	    cs_info(m->qid, "user=%s direction=%s decision=%s", copies[i].user,
		    copies[i].direction == CS_DIR_OUT ? "out" : "in",
		    results[i] == CS_COPY_STORED ? "synced reason=- (joins a thread)"
		    : "skipped reason=no-label (joins no thread)");
	else
	    cs_debug(m->qid, "user=%s %s", copies[i].user,
		     results[i] == CS_COPY_STORED ? "stored" :
		     results[i] == CS_COPY_DUPLICATE ? "duplicate, stored once (T2)" :
		     "not stored: joins no thread");
	if (results[i] == CS_COPY_STORED) {
	    cs_count(CS_CNT_SYNCED);
	    nstored++;
	} else if (results[i] == CS_COPY_DUPLICATE) {
	    cs_count(CS_CNT_DUPLICATES);
	    ndup++;
	} else {
	    /* Skipped for no-label after all: counted there too. */
	    cs_count(CS_CNT_CONDITIONAL_NOT_STORED);
	    cs_count(CS_CNT_SKIP_NO_LABEL);
	}
    }
    cs_count(CS_CNT_RECORDED);
    if (m->owners.smart_bcc)
	cs_count(CS_CNT_SMART_BCC);

done:
    if (failed) {
	cs_count(CS_CNT_FAILURES);
	cs_log_limited(&capture_fail_log, CAPTURE_FAIL_LOG_INTERVAL, CS_LOG_ERROR, m->qid,
		       "could not record message from <%s>; mail %s (C1)",
		       cs_sanitize(m->env_from, safe, sizeof(safe)),
		       m->cfg->on_error == CS_ON_ERROR_TEMPFAIL ? "tempfailed" : "accepted");
    } else if (m->owners.n > 0 || ncontacts > 0) {
	/* Copies actually stored: a pending one that joined no thread is not. */
	char    dups[64] = "";

	if (ndup)
	    snprintf(dups, sizeof(dups), "; %zu duplicate%s already stored (T2)", ndup,
		     ndup == 1 ? "" : "s");
	cs_info(m->qid, "recorded %zu cop%s, %zu contact%s%s%s", nstored,
		nstored == 1 ? "y" : "ies", ncontacts, ncontacts == 1 ? "" : "s", dups,
		truncated ? ", truncated to headers" : "");
    }
    if (rec.raw)
	cs_spool_unref(rec.raw);
    for (size_t i = 0; dec && i < m->owners.n; i++)
	cs_decision_free(&dec[i]);
    free(dec);
    free(copies);
    free(contacts);
    free(results);
    cs_strlist_free(&caddrs);
    cs_strlist_free(&cnames);
    cs_strlist_free(&bcc_labels);
    cs_strlist_free(&env_only);
    cs_msginfo_free(&info);
    if (failed && m->cfg->on_error == CS_ON_ERROR_TEMPFAIL)
	return SMFIS_TEMPFAIL;
    remove_dropbox(ctx, m);
    return SMFIS_ACCEPT;
}
