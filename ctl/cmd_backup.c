/*
 * NAME
 *	cmd_backup 3
 * SUMMARY
 *	crmsyncctl backup FILE: a consistent copy of the live store
 * SYNOPSIS
 *	crmsyncctl [-c config] backup FILE
 * DESCRIPTION
 *	Opens the store read-only and has it copy itself into FILE
 *	(cs_store_backup: SQLite's online backup API, one snapshot of the
 *	last commit, taken while crmsync-milter goes on recording). Prints
 *	{"file", "bytes", "pages", "schema_version"}. FILE is replaced
 *	atomically, so a cron job may reuse one name; it is mode 0600.
 *	Restoring is a file copy with the milter stopped (crmsyncctl(1)).
 * DIAGNOSTICS
 *	Exit 1 without exactly one FILE (one starting with "-" is taken
 *	for an option: write ./-name); 4 when FILE cannot be written or
 *	names the store itself; 5 when the store cannot be read.
 */
#include <config.h>

/* System library. */
#include <string.h>

/* Application-specific. */
#include "ctl.h"

/* cmd_backup - crmsyncctl backup FILE */
int     cmd_backup(ctl_ctx *ctx, int argc, char **argv)
{
    cs_store *store;
    json_t *out = NULL;
    char    err[1024];
    int     rc;

    if (argc != 1 || argv[0][0] == 0 || argv[0][0] == '-')
	return ctl_fail(CTL_USAGE, "usage: crmsyncctl backup FILE");
    if ((store = ctl_open_store(ctx, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    rc = cs_store_backup(store, argv[0], &out, err, sizeof(err));
    cs_store_close(store);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), "backup: %s", err[0] ? err : "failed");
    return ctl_print(out);
}
