/*
 * NAME
 *	ctl 3h
 * SUMMARY
 *	crmsyncctl internals: command table and JSON output helpers
 * DESCRIPTION
 *	Each command is a function taking the arguments after its name and
 *	the loaded context; it prints its JSON answer on stdout and returns
 *	an exit code (SPEC X1): 0 ok, 1 usage, 2 not found, 3 forbidden,
 *	4 bad input, 5 internal. Errors go through ctl_fail(), which prints
 *	{"error": "...", "message": "..."} on stderr and returns the code.
 */
#ifndef CTL_H
#define CTL_H

#include <jansson.h>
#include "cs_config.h"
#include "cs_store.h"

enum { CTL_OK = 0, CTL_USAGE = 1, CTL_NOTFOUND = 2, CTL_FORBIDDEN = 3,
       CTL_BADINPUT = 4, CTL_INTERNAL = 5 };

typedef struct ctl_ctx {
    const char *config_path;
    cs_config *cfg;
} ctl_ctx;

int     ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int     ctl_print(json_t *);			/* prints and decrefs; 0 or 5 */
int     ctl_store_rc(int cs_rc);		/* CS_E* -> exit code */
/* Open the store the config names; NULL after printing the error. */
cs_store *ctl_open_store(ctl_ctx *, unsigned flags);

int     cmd_mailbox(ctl_ctx *, int argc, char **argv);
int     cmd_stats(ctl_ctx *, int argc, char **argv);
int     cmd_policy(ctl_ctx *, int argc, char **argv);

#endif
