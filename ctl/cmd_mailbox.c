/*
 * NAME
 *	cmd_mailbox 3
 * SUMMARY
 *	crmsyncctl mailbox and stats
 * DESCRIPTION
 *	mailbox lists the acting user's own threads (SPEC V2: there is no
 *	way to name another user's mailbox). stats prints the store's health
 *	figures as the store reports them, with this host's journal (C6) as
 *	its milter last wrote it in JournalDir when that can be read: the
 *	status document in the store is stale exactly while the store is
 *	locked or down, and with the store down stats still prints the
 *	journal (after the error, exit 5).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Application-specific. */
#include "ctl.h"

/* cmd_mailbox - crmsyncctl mailbox --as U [--label L] [--limit N] [--cursor C] */
int     cmd_mailbox(ctl_ctx *ctx, int argc, char **argv)
{
    const char *as = NULL, *label = NULL, *cursor = NULL;
    int     limit = 50, rc;
    const ctl_opt opts[] = {
	CTL_STR("--as", &as),
	CTL_STR("--label", &label),
	CTL_STR("--cursor", &cursor),
	CTL_NUM("--limit", &limit, 1, CTL_LIMIT_MAX),
	CTL_END,
    };
    ctl_list pos;
    cs_store *store;
    cs_answer ans = {0};

    /* A subcommand first: its own options. */
    if (argc > 0 && strcmp(argv[0], "purge") == 0)
	return cmd_mailbox_purge(ctx, argc - 1, argv + 1);
    if ((rc = ctl_args(argc, argv, opts, &pos)) != 0)
	return rc;
    rc = pos.n > 0;
    ctl_list_free(&pos);
    if (rc)
	return ctl_fail(CTL_USAGE, "mailbox takes no other argument");
    if (as == NULL)
	return ctl_fail(CTL_USAGE, "mailbox needs --as USER");
    if ((store = ctl_open_store(ctx, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    cs_answer_mailbox(store, as, label, limit, cursor, &ans);
    cs_store_close(store);
    return ctl_answer(&ans);
}

/* cmd_stats - crmsyncctl stats */
int     cmd_stats(ctl_ctx *ctx, int argc, char **argv)
{
    cs_store *store;
    cs_answer ans = {0};
    json_t *partial;
    int     rc;

    (void) argv;
    if (argc != 0)
	return ctl_fail(CTL_USAGE, "stats takes no arguments");
    if ((store = ctl_open_store(ctx, CS_STORE_READONLY)) != NULL) {
	cs_answer_stats(store, &ans);
	cs_store_close(store);
	if (ans.code == CS_ANS_OK) {
	    (void) cs_answer_put_journal(ans.body, ctx->cfg->journal_dir);
	    return ctl_answer(&ans);
	}
	rc = ctl_answer(&ans);
    } else
	rc = CTL_INTERNAL;
    /* The store cannot answer: the journal as it is, after the error. */
    if ((partial = json_object()) != NULL
	&& cs_answer_put_journal(partial, ctx->cfg->journal_dir))
	(void) ctl_print(partial);		/* prints and frees it */
    else
	json_decref(partial);
    return rc;
}
