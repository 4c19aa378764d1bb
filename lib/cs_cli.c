/*
 * NAME
 *	cs_cli 3
 * SUMMARY
 *	-V and -h for every crmsync program
 * DESCRIPTION
 *	See cs_cli.h.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <string.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_cli.h"

/* cs_cli_version - the version line */
void    cs_cli_version(FILE *fp, const char *prog)
{
    fprintf(fp, "%s (%s) %s\n", prog, PACKAGE_NAME, PACKAGE_VERSION);
}

/* cs_cli_usage - the synopsis and the options, aligned */
void    cs_cli_usage(FILE *fp, const char *prog, const char *args, const cs_cli_opt *opts)
{
    size_t  width = 0;

    fprintf(fp, "usage: %s %s\n", prog, args);
    for (const cs_cli_opt *o = opts; o && o->flag; o++)
	if (strlen(o->flag) > width)
	    width = strlen(o->flag);
    if (opts && opts->flag)
	fprintf(fp, "options:\n");
    for (const cs_cli_opt *o = opts; o && o->flag; o++)
	fprintf(fp, "  %-*s  %s\n", (int) width, o->flag, o->what);
}
