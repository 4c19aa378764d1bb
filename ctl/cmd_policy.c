/*
 * NAME
 *	cmd_policy 3
 * SUMMARY
 *	crmsyncctl policy check | explain (SPEC S5, Operations)
 * SYNOPSIS
 *	crmsyncctl policy check
 *	crmsyncctl policy explain FILE.eml --from A --to B [--to C ...]
 *		[--auth LOGIN] [--client ADDR]
 * DESCRIPTION
 *	check loads the policy the config names and prints
 *	{"ok", "users", "groups", "problems"}. ok is true only when the
 *	policy loads and no user has a broken Rules script. A refused policy
 *	prints ok false with its "file:line: what" as the only problem, and
 *	the error object on stderr; so do problems (rules-error users). Both
 *	exit 4, so an administrator's script notices either.
 *
 *	explain reads FILE.eml ("-" for standard input, at most 64 MB),
 *	computes the owners from the envelope and session given (as the
 *	milter would: C2, K2, K4) and prints each owner's decision:
 *	{"decisions": [{"user", "direction" ("in"|"out"), "decision",
 *	"reason", "labels"}], "smart_bcc", "dropbox_spoofed"}. A rules-error
 *	decision adds "detail" (the script's error).
 *
 *	explain never opens the store, so it cannot know whether the message
 *	would join a thread already in a mailbox (T1): it decides as if not
 *	(joins_thread 0). In labels mode a reply without a selected label is
 *	thus shown as skipped/no-label although the milter would keep it if
 *	its thread is there.
 *
 *	When Smart BCC applies (K2), the sender's entry is what the milter
 *	records: decision synced, reason null, the labels plus "bcc", and
 *	"smart_bcc": true, with the decision the policy alone would have
 *	made under "policy" ({"decision", "reason"}).
 * DIAGNOSTICS
 *	Exit 0 ok, 1 usage, 4 bad input (refused policy, rules errors,
 *	unreadable message file), 5 internal.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Utility library. */
#include "cs_message.h"
#include "cs_util.h"

/* Application-specific. */
#include "cs_owners.h"
#include "cs_policy.h"
#include "cs_verdict.h"
#include "ctl.h"

#define CTL_EML_MAX	(64u << 20)

/* policy_check - load the policy and report what is wrong with it */
static int policy_check(ctl_ctx *ctx)
{
    char    err[1024];
    cs_policy *pol;
    json_t *out, *problems;
    const cs_strlist *pr;
    size_t  nprob;
    int     rc;

    pol = cs_policy_load(ctx->cfg, err, sizeof(err));
    if ((out = json_object()) == NULL || (problems = json_array()) == NULL) {
	json_decref(out);
	cs_policy_unref(pol);
	return ctl_fail(CTL_INTERNAL, "out of memory");
    }
    if (pol == NULL) {
	json_array_append_new(problems, json_string(err));
	json_object_set_new(out, "ok", json_false());
	json_object_set_new(out, "users", json_integer(0));
	json_object_set_new(out, "groups", json_integer(0));
	json_object_set_new(out, "problems", problems);
	if ((rc = ctl_print(out)) != 0)
	    return rc;
	return ctl_fail(CTL_BADINPUT, "%s", err);
    }
    pr = cs_policy_problems(pol);
    nprob = pr ? pr->n : 0;
    for (size_t i = 0; i < nprob; i++)
	json_array_append_new(problems, json_string(pr->v[i]));
    json_object_set_new(out, "ok", json_boolean(nprob == 0));
    json_object_set_new(out, "users", json_integer((json_int_t) cs_policy_nusers(pol)));
    json_object_set_new(out, "groups", json_integer((json_int_t) cs_policy_ngroups(pol)));
    json_object_set_new(out, "problems", problems);
    cs_policy_unref(pol);
    if ((rc = ctl_print(out)) != 0)
	return rc;
    if (nprob > 0)
	return ctl_fail(CTL_BADINPUT, "%zu broken Rules script%s: their users sync nothing",
			nprob, nprob == 1 ? "" : "s");
    return CTL_OK;
}

/* read_message - whole file or stdin, bounded */
static int read_message(const char *path, cs_buf *buf, const char **why)
{
    FILE   *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char    chunk[65536];
    size_t  got;
    int     rc = 0;

    if (fp == NULL) {
	*why = strerror(errno);
	return -1;
    }
    buf->limit = CTL_EML_MAX;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
	if (cs_buf_append(buf, chunk, got) < 0) {
	    *why = buf->len + got > CTL_EML_MAX ? "larger than 64 MB" : "out of memory";
	    rc = -1;
	    break;
	}
    if (rc == 0 && ferror(fp)) {
	*why = strerror(errno);
	rc = -1;
    }
    if (rc == 0 && buf->data == NULL && cs_buf_append(buf, "", 0) < 0) {
	*why = "out of memory";
	rc = -1;
    }
    if (fp != stdin)
	fclose(fp);
    return rc;
}

/* labels_json - a label list as a JSON array */
static json_t *labels_json(const cs_strlist *labels)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < labels->n; i++)
	json_array_append_new(a, json_string(labels->v[i]));
    return a;
}

/* decision_json - one owner's entry */
static json_t *decision_json(const cs_verdict *v)
{
    const cs_owner *o = v->owner;
    const cs_decision *d = &v->dec;
    json_t *e = json_object();

    if (e == NULL)
	return NULL;
    json_object_set_new(e, "user", json_string(o->user->id));
    json_object_set_new(e, "direction", json_string(o->direction == CS_DIR_OUT ? "out" : "in"));
    if (v->smart_bcc) {
	json_t *p = json_object();

	json_object_set_new(e, "decision", json_string("synced"));
	json_object_set_new(e, "reason", json_null());
	json_object_set_new(e, "labels", labels_json(&v->labels));
	json_object_set_new(e, "smart_bcc", json_true());
	json_object_set_new(p, "decision", json_string(d->synced ? "synced" : "skipped"));
	json_object_set_new(p, "reason", d->reason ? json_string(d->reason) : json_null());
	json_object_set_new(e, "policy", p);
    } else {
	json_object_set_new(e, "decision", json_string(d->synced ? "synced" : "skipped"));
	json_object_set_new(e, "reason", d->reason ? json_string(d->reason) : json_null());
	json_object_set_new(e, "labels", labels_json(&v->labels));
    }
    if (d->detail)
	json_object_set_new(e, "detail", json_string(d->detail));
    return e;
}

/* policy_explain - every owner's decision for one message file */
static int policy_explain(ctl_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL, *from = NULL, *why = "";
    cs_session sess = {NULL, NULL, 0};
    ctl_list to, pos;
    const ctl_opt opts[] = {
	CTL_STR("--from", &from),
	CTL_LIST("--to", &to),
	CTL_STR("--auth", &sess.auth_login),
	CTL_STR("--client", &sess.client_addr),
	CTL_END,
    };
    const char **rcpts;
    size_t  nrcpts;
    cs_buf  raw = {0};
    cs_msginfo info;
    cs_policy_msg msg;
    cs_owners owners;
    cs_policy *pol;
    char    err[1024];
    json_t *out = NULL, *list;
    cs_verdict *v = NULL;
    int     rc = CTL_OK;

    if ((rc = ctl_args(argc, argv, opts, &pos)) != 0)
	return rc;
    rcpts = to.v;
    nrcpts = to.n;
    if (pos.n > 1) {
	ctl_list_free(&pos);
	free(rcpts);
	return ctl_fail(CTL_USAGE, "policy explain: one message file only");
    }
    file = pos.n ? pos.v[0] : NULL;		/* a word of argv: outlives pos */
    ctl_list_free(&pos);
    if (file == NULL || from == NULL || nrcpts == 0) {
	free(rcpts);
	return ctl_fail(CTL_USAGE, "usage: policy explain FILE.eml --from A --to B [--to C ...]"
			" [--auth LOGIN] [--client ADDR]");
    }
    if (read_message(file, &raw, &why) < 0) {
	cs_buf_free(&raw);
	free(rcpts);
	return ctl_fail(CTL_BADINPUT, "%s: cannot read: %s", file, why);
    }
    if ((pol = cs_policy_load(ctx->cfg, err, sizeof(err))) == NULL) {
	cs_buf_free(&raw);
	free(rcpts);
	return ctl_fail(CTL_BADINPUT, "%s", err);
    }
    cs_message_init();
    memset(&info, 0, sizeof(info));
    if (cs_msginfo_parse(raw.data, raw.len, &info) < 0
	|| cs_owners_find(pol, ctx->cfg, &sess, from, rcpts, nrcpts, &owners) < 0) {
	cs_msginfo_free(&info);
	cs_policy_unref(pol);
	cs_buf_free(&raw);
	free(rcpts);
	return ctl_fail(CTL_INTERNAL, "out of memory");
    }
    msg.info = &info;
    msg.env_from = from;
    msg.env_rcpts = rcpts;
    msg.nrcpts = nrcpts;
    msg.size = raw.len;

    if ((out = json_object()) == NULL || (list = json_array()) == NULL) {
	rc = ctl_fail(CTL_INTERNAL, "out of memory");
	goto done;
    }
    json_object_set_new(out, "decisions", list);
    /* joins_thread 0: explain does not read the store (DESCRIPTION). */
    if (owners.n > 0 && ((v = calloc(owners.n, sizeof(*v))) == NULL
			 || cs_policy_verdicts(pol, ctx->cfg, &owners, &msg, 0, 0, v) < 0)) {
	rc = ctl_fail(CTL_INTERNAL, "cannot decide for the owners");
	goto done;
    }
    for (size_t i = 0; i < owners.n; i++) {
	json_t *e = decision_json(&v[i]);

	if (e == NULL || json_array_append_new(list, e) < 0) {
	    rc = ctl_fail(CTL_INTERNAL, "out of memory");
	    goto done;
	}
    }
    json_object_set_new(out, "smart_bcc", json_boolean(owners.smart_bcc));
    json_object_set_new(out, "dropbox_spoofed", json_boolean(owners.dropbox_spoofed));
    rc = ctl_print(out);
    out = NULL;

done:
    json_decref(out);
    cs_verdicts_free(v, owners.n);
    free(v);
    cs_owners_free(&owners);
    cs_msginfo_free(&info);
    cs_policy_unref(pol);
    cs_buf_free(&raw);
    free(rcpts);
    return rc;
}

/* cmd_policy - "policy check" and "policy explain" */
int     cmd_policy(ctl_ctx *ctx, int argc, char **argv)
{
    /* Tolerate being handed the command name itself as argv[0]. */
    if (argc > 0 && strcmp(argv[0], "policy") == 0) {
	argc--;
	argv++;
    }
    if (argc >= 1 && strcmp(argv[0], "check") == 0) {
	if (argc > 1)
	    return ctl_fail(CTL_USAGE, "usage: policy check");
	return policy_check(ctx);
    }
    if (argc >= 1 && strcmp(argv[0], "explain") == 0)
	return policy_explain(ctx, argc - 1, argv + 1);
    return ctl_fail(CTL_USAGE, "usage: policy check | policy explain FILE.eml --from A --to B"
		    " [--to C ...] [--auth LOGIN] [--client ADDR]");
}
