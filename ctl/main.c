/*
 * NAME
 *	crmsyncctl 1
 * SUMMARY
 *	CRM-facing and admin command line for the crmsync store
 * SYNOPSIS
 *	crmsyncctl [-c config] command [arguments]
 *	crmsyncctl -V | -h
 * DESCRIPTION
 *	Prints JSON on stdout; errors as a JSON object on stderr; exit codes
 *	as SPEC X1 says. CRM-facing commands act --as a user and the store's
 *	queries enforce SPEC V1-V6. crmsyncctl believes its --as: it is the
 *	CRM backend's tool, run by a system account in the crmsync group.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "ctl.h"
#include "cs_cli.h"
#include "cs_log.h"
#include "cs_message.h"

static const struct command {
    const char *name;
    int     (*fn) (ctl_ctx *, int, char **);
    const char *usage;
} commands[] = {
    {"mailbox", cmd_mailbox, "mailbox --as USER [--label L] [--limit N] [--cursor C] | mailbox purge --user USER [--dry-run]"},
    {"thread", cmd_thread, "thread T --as USER [--raw]"},
    {"attachment", cmd_attachment, "attachment T N --as USER"},
    {"deal", cmd_deal, "deal D --as USER [--limit N] [--cursor C]"},
    {"person", cmd_person, "person P --as USER [--limit N] [--cursor C]"},
    {"share", cmd_share, "share --as USER T..."},
    {"private", cmd_private, "private --as USER T..."},
    {"delete", cmd_delete, "delete --as USER T..."},
    {"link", cmd_link, "link --as USER T (--deal D | --person P)"},
    {"unlink", cmd_unlink, "unlink --as USER T (--deal D | --person P)"},
    {"contact", cmd_contact, "contact create --as USER --thread T --address A [--name N]"},
    {"directory", cmd_directory, "directory import FILE.json"},
    {"import", cmd_import, "import --user USER PATH [--since DATE] [--dry-run] [--jobs N]"},
    {"policy", cmd_policy, "policy check | policy explain FILE.eml --from A --to B [--to C ...] [--auth LOGIN] [--client ADDR]"},
    {"events", cmd_events, "events retry"},
    {"backup", cmd_backup, "backup FILE"},
    {"subject", cmd_subject, "subject export ADDRESS [--out FILE] | subject erase ADDRESS [--dry-run]"},
    {"retention", cmd_retention, "retention run [--dry-run] [--max N]"},
    {"stats", cmd_stats, "stats"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ctl_fail - JSON error on stderr, return the exit code */
int     ctl_fail(int code, const char *fmt, ...)
{
    char    msg[2048];
    va_list ap;
    json_t *err;
    char   *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err = cs_answer_error(code, msg);
    if (err && (text = cs_answer_error_text(err, NULL)) != NULL) {
	fputs(text, stderr);
	free(text);
    } else
	fprintf(stderr, "{\"error\": \"internal\", \"message\": \"out of memory\"}\n");
    json_decref(err);
    return code;
}

/* ctl_write - printed JSON on stdout; consumes text (NULL: out of memory) */
static int ctl_write(char *text, size_t len)
{
    int     bad;

    if (text == NULL)
	return ctl_fail(CTL_INTERNAL, "out of memory");
    bad = fwrite(text, 1, len, stdout) != len || fflush(stdout) == EOF;
    free(text);
    if (bad)
	return ctl_fail(CTL_INTERNAL, "cannot write output");
    return CTL_OK;
}

/* ctl_print - JSON on stdout as crmsync-api sends it; consumes the reference */
int     ctl_print(json_t *j)
{
    char   *text;
    size_t  len = 0;

    if (j == NULL)
	return ctl_fail(CTL_INTERNAL, "out of memory");
    text = cs_answer_text(j, &len);
    json_decref(j);
    return ctl_write(text, len);
}

/* ctl_answer - a shared answer (cs_answer.h): its body on stdout, or its error */
int     ctl_answer(cs_answer *a)
{
    char   *text;
    size_t  len = 0;

    if (a->code != CS_ANS_OK) {
	json_decref(a->body);
	a->body = NULL;
	return ctl_fail(a->code, "%s", a->message);
    }
    text = cs_answer_take_text(a, &len);
    json_decref(a->body);
    a->body = NULL;
    return ctl_write(text, len);
}

/* ctl_store_rc - store error to exit code */
int     ctl_store_rc(int rc)
{
    switch (rc) {
    case CS_OK:
	return CTL_OK;
    case CS_ENOTFOUND:
	return CTL_NOTFOUND;
    case CS_EFORBIDDEN:
	return CTL_FORBIDDEN;
    case CS_EINVAL:
	return CTL_BADINPUT;
    default:
	return CTL_INTERNAL;
    }
}

/* ctl_open_store - the store the config names */
cs_store *ctl_open_store(ctl_ctx *ctx, unsigned flags)
{
    char    err[1024];
    cs_store *s;

    s = cs_store_open(ctx->cfg->database, flags, ctx->cfg->store_timeout_ms, err, sizeof(err));
    /* X3: without a WebhookURL the milter keeps events and sends none. */
    cs_store_set_webhook(s, ctx->cfg->webhook_url != NULL);
    if (s == NULL) {
	char    shown[512];

	cs_store_display(ctx->cfg->database, shown, sizeof(shown));
	ctl_fail(CTL_INTERNAL, "store %s: %s", shown, err);
    }
    return s;
}

/* ctl_open_store_sub - the store, with the configured subaddress rule */
cs_store *ctl_open_store_sub(ctl_ctx *ctx, unsigned flags)
{
    cs_store *s = ctl_open_store(ctx, flags);

    if (s)
	cs_store_set_subaddress(s, ctx->cfg->subaddress_delimiter);
    return s;
}

/* usage - options and commands */
static int usage(FILE *fp, int code)
{
    static const cs_cli_opt opts[] = {
	CS_CLI_OPT_CONFIG,
	CS_CLI_OPT_VERSION,
	CS_CLI_OPT_HELP,
	{NULL, NULL},
    };

    cs_cli_usage(fp, "crmsyncctl", "[-c config] command [arguments] | -V | -h", opts);
    fprintf(fp, "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
	fprintf(fp, "  %s\n", commands[i].usage);
    return code;
}

int     main(int argc, char **argv)
{
    ctl_ctx ctx = {CS_DEFAULT_CONFIG, NULL};
    char    err[1024];
    int     i = 1, rc;

    /* Options before the command; a command's own options follow it. */
    while (i < argc && argv[i][0] == '-') {
	if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
	    ctx.config_path = argv[i + 1];
	    i += 2;
	} else if (strcmp(argv[i], "-V") == 0) {
	    cs_cli_version(stdout, "crmsyncctl");
	    return CTL_OK;
	} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
	    return usage(stdout, CTL_OK);
	} else {
	    ctl_fail(CTL_USAGE, "unknown option: %s", argv[i]);
	    return usage(stderr, CTL_USAGE);
	}
    }
    if (i >= argc)
	return usage(stderr, CTL_USAGE);
    for (size_t c = 0; c < NCOMMANDS; c++) {
	if (strcmp(argv[i], commands[c].name) != 0)
	    continue;
	for (int a = i + 1; a < argc; a++) {
	    if (strcmp(argv[a], "--help") == 0) {
		printf("usage: crmsyncctl [-c config] %s\n", commands[c].usage);
		return CTL_OK;
	    }
	}
	cs_log_init("crmsyncctl", 0, 0, CS_LOG_ERROR);
	cs_message_init();
	if ((ctx.cfg = cs_config_load(ctx.config_path, err, sizeof(err))) == NULL)
	    return ctl_fail(CTL_BADINPUT, "%s", err);
	rc = commands[c].fn(&ctx, argc - i - 1, argv + i + 1);
	cs_config_unref(ctx.cfg);
	return rc;
    }
    ctl_fail(CTL_USAGE, "unknown command: %s", argv[i]);
    return usage(stderr, CTL_USAGE);
}
