/*
 * NAME
 *	t_owners 1
 * SUMMARY
 *	whose mailbox: SPEC C2 (owners, authentication), K2/K4 (dropbox);
 *	each owner's copy (cs_policy_verdicts: K2 over the policy, C4 bcc)
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_log.h"
#include "cs_message.h"
#include "cs_owners.h"
#include "cs_verdict.h"
#include "tap.h"
#include "tlib.h"

static char dir[256];

/* find - owners for an envelope; returns a static summary "alice:in,bob:out" */
static const char *find(cs_policy *pol, cs_config *cfg, const char *login, const char *client,
			        int local, const char *from, const char *r1, const char *r2,
			        cs_owners *o)
{
    static char out[256];
    const char *rcpts[2] = {r1, r2};
    cs_session s = {login, client, local};

    out[0] = 0;
    if (cs_owners_find(pol, cfg, &s, from, rcpts, r2 ? 2 : 1, o) < 0)
	return "ERR";
    for (size_t i = 0; i < o->n; i++) {
	if (i)
	    strcat(out, ",");
	strcat(out, o->v[i].user->id);
	strcat(out, o->v[i].direction == CS_DIR_OUT ? ":out" : ":in");
    }
    return out;
}

/* verdict - owners of an envelope, then each one's copy: "user:copy/cond/bcc:labels ..." */
static const char *verdict(cs_policy *pol, cs_config *cfg, const char *login, const char *from,
			           const char *r1, const char *r2, int sender_bcc)
{
    static char out[512];
    static const char raw[] = "From: someone@example.com\r\nTo: x@outside.example\r\n"
	"Subject: offer\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n";
    cs_owners o;
    cs_msginfo info;
    cs_policy_msg msg;
    cs_verdict v[4];
    const char *rcpts[2] = {r1, r2};

    memset(&info, 0, sizeof(info));
    cs_msginfo_parse(raw, sizeof(raw) - 1, &info);
    if (strcmp(find(pol, cfg, login, "192.0.2.1", 0, from, r1, r2, &o), "ERR") == 0 || o.n > 4)
	return "ERR";
    memset(&msg, 0, sizeof(msg));
    msg.info = &info;
    msg.env_from = from;
    msg.env_rcpts = rcpts;
    msg.nrcpts = r2 ? 2 : 1;
    msg.size = sizeof(raw) - 1;
    out[0] = 0;
    if (cs_policy_verdicts(pol, cfg, &o, &msg, -1, sender_bcc, v) < 0)
	snprintf(out, sizeof(out), "ERR");
    for (size_t i = 0; out[0] != 'E' && i < o.n; i++) {
	size_t  n = strlen(out);

	n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%s:%s%s%s:", i ? " " : "",
			       v[i].owner->user->id, v[i].copy ? "copy" : "none",
			       v[i].conditional && v[i].copy ? "/cond" : "",
			       v[i].smart_bcc ? "/k2" : "");
	for (size_t k = 0; k < v[i].labels.n && n < sizeof(out); k++)
	    n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%s", k ? "," : "",
				   v[i].labels.v[k]);
	if (v[i].smart_bcc && n < sizeof(out))
	    snprintf(out + n, sizeof(out) - n, "(policy:%s)", v[i].dec.synced ? "synced"
		     : v[i].dec.reason);
    }
    cs_verdicts_free(v, o.n);
    cs_owners_free(&o);
    cs_msginfo_free(&info);
    return out;
}

int     main(void)
{
    char    path[512], err[1024], text[512];
    cs_config *cfg;
    cs_policy *pol;
    cs_owners o;

    cs_log_init("t_owners", 0, 0, CS_LOG_ERROR);
    cs_message_init();
    tl_tmpdir(dir, sizeof(dir), "t_owners");
    snprintf(text, sizeof(text), "User alice\nAddress alice@example.com\n\n"
	     "User bob\nAddress bob@example.com, robert@example.com\nLogin BOB\n\n"
	     "User carol\nAddress carol@example.com\n\n"
	     "User dora\nAddress dora@example.com\nSync off\n\n"
	     "User erin\nAddress erin@example.com\nSync labels\nLabels Sales\n\n"
	     "Group sales@example.com alice, carol\n");
    tl_put(dir, "users.policy", text, strlen(text));
    snprintf(text, sizeof(text),
	     "PolicyDir %s\nTrustedNetworks 127.0.0.1/32\nDropbox log@crm.example.com\n", dir);
    tl_put(dir, "crmsync.conf", text, strlen(text));
    snprintf(path, sizeof(path), "%s/crmsync.conf", dir);
    cfg = cs_config_load(path, err, sizeof(err));
    if (!ok(cfg != NULL, "config loads"))
	diag("%s", err);
    pol = cfg ? cs_policy_load(cfg, err, sizeof(err)) : NULL;
    if (!ok(pol != NULL, "policy loads"))
	diag("%s", err);
    if (pol == NULL)
	return done_testing();

    is_str(find(pol, cfg, NULL, "192.0.2.1", 0, "x@outside.example", "alice@example.com",
		"bob@example.com", &o), "alice:in,bob:in", "C2: recipients who are users");
    ok(o.sender == NULL && !o.sender_claimed, "outside sender: no sender owner");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "192.0.2.1", 0, "alice@example.com", "bob@example.com", NULL, &o),
	   "bob:in", "C2: forged internal sender gets nothing");
    ok(o.sender_claimed && o.sender == NULL, "claimed but not authenticated");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "127.0.0.1", 0, "Alice+x@Example.com", "customer@outside.example",
		NULL, &o), "alice:out", "trusted network + user's sender = authenticated");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "127.0.0.1", 1, "alice@example.com", "bob@example.com", NULL, &o),
	   "bob:in", "local submission (sendmail) is never authenticated");
    cs_owners_free(&o);

    is_str(find(pol, cfg, "bob", "192.0.2.1", 0, "robert@example.com", "alice@example.com", NULL, &o),
	   "bob:out,alice:in", "AUTH login (case-insensitive) authenticates the user");
    cs_owners_free(&o);

    is_str(find(pol, cfg, "bob", "127.0.0.1", 0, "alice@example.com", "x@outside.example", NULL, &o),
	   "", "AUTH as bob with alice's sender: nobody, even from a trusted network");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "192.0.2.1", 0, "x@outside.example", "<bob+news@EXAMPLE.com>",
		NULL, &o), "bob:in", "subaddress and case in recipient");
    is_str(o.v[0].env_rcpts.v[0], "<bob+news@EXAMPLE.com>", "own RCPT TO kept as given");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "192.0.2.1", 0, "x@outside.example", "sales@example.com",
		"carol@example.com", &o), "alice:in,carol:in", "group expands, member counted once");
    is_int(o.v[1].env_rcpts.n, 2, "carol's copy knows both of her RCPT TO values");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "127.0.0.1", 0, "alice@example.com", "alice@example.com", NULL, &o),
	   "alice:out", "mail to self is one owner, outgoing");
    cs_owners_free(&o);

    is_str(find(pol, cfg, "Alice@Example.com", "192.0.2.1", 0, "alice@example.com", "<log@crm.example.com>",
		"customer@outside.example", &o), "alice:out", "K2: dropbox is never an owner");
    ok(o.smart_bcc && !o.dropbox_spoofed, "K2: authenticated dropbox use is Smart BCC");
    is_int(o.dropbox_rcpts.n, 1, "one dropbox recipient");
    is_str(o.dropbox_rcpts.v[0], "<log@crm.example.com>", "C5: dropbox kept exactly as received");
    cs_owners_free(&o);

    is_str(find(pol, cfg, NULL, "192.0.2.1", 0, "alice@example.com", "log+x@crm.example.com",
		"bob@example.com", &o), "bob:in", "K4: spoofed dropbox use");
    ok(!o.smart_bcc && o.dropbox_spoofed, "K4: flagged as spoofed, no Smart BCC");
    cs_owners_free(&o);

    /* Each owner's copy: the policy, then K2 and C4 over it. */
    is_str(verdict(pol, cfg, NULL, "x@outside.example", "alice@example.com", "erin@example.com", 0),
	   "alice:copy: erin:copy/cond:", "S1/S2: all mode synced; labels mode without a label pending");
    is_str(verdict(pol, cfg, NULL, "x@outside.example", "dora@example.com", NULL, 0),
	   "dora:none:", "S1: Sync off, no copy");
    is_str(verdict(pol, cfg, "dora@example.com", "dora@example.com", "log@crm.example.com",
		   "x@outside.example", 0),
	   "dora:copy/k2:bcc(policy:mode-off)", "K2: Smart BCC is synced, labelled bcc, over Sync off");
    is_str(verdict(pol, cfg, "erin@example.com", "erin@example.com", "log@crm.example.com",
		   "x@outside.example", 0),
	   "erin:copy/k2:bcc(policy:no-label)", "K2: ... and over a labels mode with no label");
    is_str(verdict(pol, cfg, "alice@example.com", "alice@example.com", "bob@example.com", NULL, 1),
	   "alice:copy:bcc bob:copy:", "C4: the sender's own Bcc labels the sender's copy only");
    is_str(verdict(pol, cfg, "alice@example.com", "alice@example.com", "bob@example.com", NULL, 0),
	   "alice:copy: bob:copy:", "C4: no envelope-only recipient, no bcc label");

    cs_policy_unref(pol);
    cs_config_unref(cfg);
    tl_rmtree(dir);
    return done_testing();
}
