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

#include <time.h>
#include <jansson.h>
#include "cs_config.h"
#include "cs_store.h"
#include "cs_answer.h"

enum { CTL_OK = 0, CTL_USAGE = 1, CTL_NOTFOUND = 2, CTL_FORBIDDEN = 3,
       CTL_BADINPUT = 4, CTL_INTERNAL = 5 };

typedef struct ctl_ctx {
    const char *config_path;
    cs_config *cfg;
} ctl_ctx;

int     ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int     ctl_print(json_t *);			/* prints and decrefs; 0 or 5 */
int     ctl_answer(cs_answer *);		/* body printed, or the error; exit code */
int     ctl_store_rc(int cs_rc);		/* CS_E* -> exit code */
/* Open the store the config names; NULL after printing the error. */
cs_store *ctl_open_store(ctl_ctx *, unsigned flags);
/* The same, with the config's subaddress rule set for address matching. */
cs_store *ctl_open_store_sub(ctl_ctx *, unsigned flags);
/* ctl_args.c: a command's options, from one table (see there). */
typedef struct ctl_list {
    const char **v;			/* NULL-terminated; the words are argv's */
    size_t  n;
} ctl_list;
enum { CTL_OPT_STR, CTL_OPT_NUM, CTL_OPT_FLAG, CTL_OPT_LIST };
typedef struct ctl_opt {
    const char *name;			/* "--as"; NULL ends the table */
    int     kind;			/* CTL_OPT_* */
    void   *dst;			/* const char **, int *, ctl_list * */
    int     min, max;			/* CTL_OPT_NUM */
} ctl_opt;
#define CTL_STR(name, p)	{name, CTL_OPT_STR, p, 0, 0}
#define CTL_NUM(name, p, lo, hi) {name, CTL_OPT_NUM, p, lo, hi}
#define CTL_FLAG(name, p)	{name, CTL_OPT_FLAG, p, 0, 0}
#define CTL_LIST(name, p)	{name, CTL_OPT_LIST, p, 0, 0}
#define CTL_END			{NULL, 0, NULL, 0, 0}
int     ctl_args(int argc, char **argv, const ctl_opt *opts, ctl_list *pos);
void    ctl_list_free(ctl_list *);

/* The page size every listing takes: --limit, the API's rule. */
#define CTL_LIMIT_MAX	CS_ANSWER_LIMIT_MAX

/* cmd_mailbox.c */
int     cmd_mailbox(ctl_ctx *, int argc, char **argv);
int     cmd_stats(ctl_ctx *, int argc, char **argv);
/* cmd_visibility.c: SPEC X1 reads and owner actions, X2 directory, K3 */
int     cmd_thread(ctl_ctx *, int argc, char **argv);
int     cmd_attachment(ctl_ctx *, int argc, char **argv);
int     cmd_deal(ctl_ctx *, int argc, char **argv);
int     cmd_person(ctl_ctx *, int argc, char **argv);
int     cmd_share(ctl_ctx *, int argc, char **argv);
int     cmd_private(ctl_ctx *, int argc, char **argv);
int     cmd_delete(ctl_ctx *, int argc, char **argv);
int     cmd_link(ctl_ctx *, int argc, char **argv);
int     cmd_unlink(ctl_ctx *, int argc, char **argv);
int     cmd_contact(ctl_ctx *, int argc, char **argv);
int     cmd_directory(ctl_ctx *, int argc, char **argv);
/* cmd_import.c: SPEC X4 backfill */
int     cmd_import(ctl_ctx *, int argc, char **argv);
/* cmd_policy.c */
int     cmd_policy(ctl_ctx *, int argc, char **argv);
/* cmd_events.c: SPEC X3 */
int     cmd_events(ctl_ctx *, int argc, char **argv);
/* cmd_backup.c */
int     cmd_backup(ctl_ctx *, int argc, char **argv);
/* cmd_subject.c: SPEC R1-R3, the operator's */
int     cmd_subject(ctl_ctx *, int argc, char **argv);
int     cmd_retention(ctl_ctx *, int argc, char **argv);
int     cmd_mailbox_purge(ctl_ctx *, int argc, char **argv);
time_t  ctl_now(void);				/* CRMSYNC_TEST_NOW: tests only */

#endif
