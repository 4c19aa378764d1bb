/*
 * NAME
 *	cmd_mailbox 3
 * SUMMARY
 *	crmsyncctl mailbox and stats
 * DESCRIPTION
 *	mailbox lists the acting user's own threads (SPEC V2: there is no
 *	way to name another user's mailbox). stats prints the store's health
 *	figures as the store reports them.
 */
#include <config.h>

/* System library. */
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

    (void) argv;
    if (argc != 0)
	return ctl_fail(CTL_USAGE, "stats takes no arguments");
    if ((store = ctl_open_store(ctx, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    cs_answer_stats(store, &ans);
    cs_store_close(store);
    return ctl_answer(&ans);
}
