/*
 * NAME
 *	cmd_events 3
 * SUMMARY
 *	crmsyncctl events retry
 * DESCRIPTION
 *	events retry puts every parked event (a 4xx answer other than 408
 *	and 429, SPEC X3) back among the pending ones, due now; the running
 *	milter's sender delivers them in their original order, each under
 *	its original id. It answers {"retried": N}. The counts of pending,
 *	parked and delivered events are in crmsyncctl stats ("events").
 */
#include <config.h>

/* System library. */
#include <string.h>

/* Application-specific. */
#include "ctl.h"

/* cmd_events - crmsyncctl events retry */
int     cmd_events(ctl_ctx *ctx, int argc, char **argv)
{
    cs_store *store;
    long    n = 0;
    int     rc;

    if (argc != 1 || strcmp(argv[0], "retry") != 0)
	return ctl_fail(CTL_USAGE, "usage: events retry");
    if ((store = ctl_open_store(ctx, 0)) == NULL)
	return CTL_INTERNAL;
    rc = cs_store_events_retry(store, &n);
    cs_store_close(store);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), "cannot move parked events back");
    return ctl_print(json_pack("{s:I}", "retried", (json_int_t) n));
}
