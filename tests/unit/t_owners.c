/*
 * NAME
 *	t_owners 1
 * SUMMARY
 *	whose mailbox: SPEC C2 (owners, authentication), K2/K4 (dropbox)
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_log.h"
#include "cs_message.h"
#include "cs_owners.h"
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

    cs_policy_unref(pol);
    cs_config_unref(cfg);
    tl_rmtree(dir);
    return done_testing();
}
