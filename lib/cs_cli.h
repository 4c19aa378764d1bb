/*
 * NAME
 *	cs_cli 3h
 * SUMMARY
 *	-V, -h and detaching for every crmsync program, written once
 * SYNOPSIS
 *	static const cs_cli_opt opts[] = {
 *	    CS_CLI_OPT_CONFIG, {"-f", "stay in the foreground"},
 *	    CS_CLI_OPT_VERSION, CS_CLI_OPT_HELP, {NULL, NULL}
 *	};
 *	cs_cli_usage(stdout, "crmsync-milter", "[-c config] [-f]", opts);
 *	cs_cli_version(stdout, "crmsync-milter");
 * DESCRIPTION
 *	SPEC Operations: crmsync-milter, crmsyncctl and crmsync-api take
 *	-c, -V and -h; -V prints the version and -h the usage on standard
 *	output, both exiting 0. A usage error prints the same usage on
 *	standard error and exits non-zero (the caller decides the code).
 */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stdio.h>
#include "cs_config.h"		/* CS_DEFAULT_CONFIG */

/* One line of -h: the flag as typed (with its argument) and what it does. */
typedef struct cs_cli_opt {
    const char *flag;
    const char *what;
} cs_cli_opt;

/* The options every program shares. */
#define CS_CLI_OPT_CONFIG \
	{"-c config", "configuration file (default " CS_DEFAULT_CONFIG ")"}
#define CS_CLI_OPT_VERSION	{"-V", "print the version and exit"}
#define CS_CLI_OPT_HELP		{"-h", "print this help and exit"}

/* "PROG (crmsync) VERSION" */
void    cs_cli_version(FILE *, const char *prog);

/* "usage: PROG ARGS", then one line per option (opts ends with NULL flag). */
void    cs_cli_usage(FILE *, const char *prog, const char *args, const cs_cli_opt *opts);

/*
 * A daemon's detach (unless -f): fork twice around setsid (no
 * controlling terminal, ever), standard streams to /dev/null, and the
 * working directory / (none held busy). -c and the config's paths may
 * be relative: the daemon reads its config with cs_config_load_at from
 * cs_cli_start_dir(), at start and at each SIGUSR1. 0 in the daemon, -1
 * (errno) when a fork or chdir failed; the parents exit 0.
 */
int     cs_cli_daemonize(void);

/* The directory the program started in (read at the first call, or by
 * cs_cli_daemonize before it leaves it); "" when it could not be read. */
const char *cs_cli_start_dir(void);

#endif
