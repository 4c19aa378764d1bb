/*
 * NAME
 *	cmd_subject 3
 * SUMMARY
 *	crmsyncctl subject, retention run, mailbox purge (SPEC R1-R3)
 * SYNOPSIS
 *	crmsyncctl subject export ADDRESS [--out FILE]
 *	crmsyncctl subject erase ADDRESS [--dry-run]
 *	crmsyncctl retention run [--dry-run] [--max N]
 *	crmsyncctl mailbox purge --user U [--dry-run]
 * DESCRIPTION
 *	The operator's commands: none takes --as (data-subject requests are
 *	the operator's, not a CRM user's). The work is the store's
 *	(cs_store_subject.c, cs_store_retention.c); each writes audit rows.
 *
 *	export: with --out FILE, the mbox goes to FILE and the JSON index to
 *	FILE.json (both created mode 0600, never overwritten), and stdout
 *	answers {"mbox", "index", "messages"}; without --out, the mbox is
 *	written on stdout and the index on stderr as one JSON line.
 *
 *	retention run: "now" is the clock, or CRMSYNC_TEST_NOW (Unix
 *	seconds; for tests only).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "ctl.h"
#include "cs_policy.h"

#define RETENTION_MAX_DEFAULT	100000

/* ctl_now - the clock, or CRMSYNC_TEST_NOW (tests only) */
time_t  ctl_now(void)
{
    const char *t = getenv("CRMSYNC_TEST_NOW");
    char   *end;
    long long v;

    if (t && *t) {
	errno = 0;
	v = strtoll(t, &end, 10);
	if (errno == 0 && *end == 0 && v > 0)
	    return (time_t) v;
    }
    return time(NULL);
}

/* create_private - a new file, mode 0600, never an existing one */
static FILE *create_private(const char *path)
{
    int     fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE   *fp;

    if (fd < 0)
	return NULL;
    if ((fp = fdopen(fd, "w")) == NULL)
	close(fd);
    return fp;
}

/* subject_export - crmsyncctl subject export ADDRESS [--out FILE] */
static int subject_export(ctl_ctx *ctx, const char *address, const char *outpath)
{
    char    ipath[4096];
    FILE   *mbox = stdout, *ifp = NULL;
    cs_store *store;
    json_t *index = NULL;
    size_t  n;
    int     rc;

    if (outpath) {
	if (snprintf(ipath, sizeof(ipath), "%s.json", outpath) >= (int) sizeof(ipath))
	    return ctl_fail(CTL_USAGE, "--out: path too long");
	if ((mbox = create_private(outpath)) == NULL)
	    return ctl_fail(CTL_BADINPUT, "%s: %s", outpath, strerror(errno));
	if ((ifp = create_private(ipath)) == NULL) {
	    ctl_fail(CTL_BADINPUT, "%s: %s", ipath, strerror(errno));
	    fclose(mbox);
	    unlink(outpath);
	    return CTL_BADINPUT;
	}
    }
    if ((store = ctl_open_store_sub(ctx, 0)) == NULL)
	rc = CS_EINTERNAL;
    else {
	rc = cs_store_subject_export(store, address, mbox, "operator", &index);
	cs_store_close(store);
    }
    if (rc == CS_OK && (json_dumpf(index, ifp ? ifp : stderr, JSON_INDENT(ifp ? 2 : 0)) < 0
			|| fputc('\n', ifp ? ifp : stderr) == EOF))
	rc = CS_EINTERNAL;
    if (ifp && fclose(ifp) == EOF)
	rc = CS_EINTERNAL;
    if (outpath && fclose(mbox) == EOF)
	rc = CS_EINTERNAL;
    n = json_array_size(index);
    json_decref(index);
    if (rc != CS_OK) {
	if (outpath) {
	    unlink(outpath);
	    unlink(ipath);
	}
	return store ? ctl_fail(ctl_store_rc(rc), rc == CS_EINVAL ? "not an address"
				: "export failed") : CTL_INTERNAL;
    }
    if (outpath == NULL)
	return CTL_OK;
    return ctl_print(json_pack("{s:s,s:s,s:I}", "mbox", outpath, "index", ipath,
			       "messages", (json_int_t) n));
}

/* subject_usage - the usage error of subject */
static int subject_usage(void)
{
    return ctl_fail(CTL_USAGE, "usage: crmsyncctl subject export ADDRESS [--out FILE]"
		    " | subject erase ADDRESS [--dry-run]");
}

/* cmd_subject - crmsyncctl subject (export | erase) ADDRESS ... */
int     cmd_subject(ctl_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL, *addr;
    int     dry = 0, rc, export;
    const ctl_opt export_opts[] = {
	CTL_STR("--out", &out),
	CTL_END,
    };
    const ctl_opt erase_opts[] = {
	CTL_FLAG("--dry-run", &dry),
	CTL_END,
    };
    ctl_list pos;
    cs_store *store;
    json_t *res = NULL;

    if (argc < 1 || (strcmp(argv[0], "export") && strcmp(argv[0], "erase")))
	return subject_usage();
    export = strcmp(argv[0], "export") == 0;
    if ((rc = ctl_args(argc - 1, argv + 1, export ? export_opts : erase_opts, &pos)) != 0)
	return rc;
    addr = pos.n == 1 ? pos.v[0] : NULL;	/* a word of argv: outlives pos */
    ctl_list_free(&pos);
    if (addr == NULL)
	return subject_usage();
    if (export)
	return subject_export(ctx, addr, out);
    if ((store = ctl_open_store_sub(ctx, 0)) == NULL)
	return CTL_INTERNAL;
    rc = cs_store_subject_erase(store, addr, dry, "operator", &res);
    cs_store_close(store);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), rc == CS_EINVAL ? "not an address" : "erase failed");
    return ctl_print(res);
}

/* cmd_retention - crmsyncctl retention run [--dry-run] [--max N] */
int     cmd_retention(ctl_ctx *ctx, int argc, char **argv)
{
    int     max = RETENTION_MAX_DEFAULT, dry = 0, rc;
    const ctl_opt opts[] = {
	CTL_FLAG("--dry-run", &dry),
	CTL_NUM("--max", &max, 1, 10000000),
	CTL_END,
    };
    ctl_list pos;
    char    err[1024];
    cs_policy *pol;
    cs_store *store;
    json_t *res = NULL;

    if (argc < 1 || strcmp(argv[0], "run"))
	return ctl_fail(CTL_USAGE, "usage: crmsyncctl retention run [--dry-run] [--max N]");
    if ((rc = ctl_args(argc - 1, argv + 1, opts, &pos)) != 0)
	return rc;
    rc = pos.n > 0;
    ctl_list_free(&pos);
    if (rc)
	return ctl_fail(CTL_USAGE, "usage: crmsyncctl retention run [--dry-run] [--max N]");
    if ((pol = cs_policy_load(ctx->cfg, err, sizeof(err))) == NULL)
	return ctl_fail(CTL_BADINPUT, "%s", err);
    if ((store = ctl_open_store(ctx, 0)) == NULL) {
	cs_policy_unref(pol);
	return CTL_INTERNAL;
    }
    rc = cs_store_retention_policy(store, pol, ctx->cfg->retention, ctl_now(), (size_t) max,
				   dry, &res);
    cs_store_close(store);
    cs_policy_unref(pol);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), "retention run failed");
    return ctl_print(res);
}

/* cmd_mailbox_purge - crmsyncctl mailbox purge --user U [--dry-run] */
int     cmd_mailbox_purge(ctl_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL;
    int     dry = 0, rc;
    const ctl_opt opts[] = {
	CTL_STR("--user", &user),
	CTL_FLAG("--dry-run", &dry),
	CTL_END,
    };
    ctl_list pos;
    char    err[1024];
    cs_policy *pol;
    cs_store *store;
    json_t *res = NULL;

    if ((rc = ctl_args(argc, argv, opts, &pos)) != 0)
	return rc;
    rc = pos.n > 0;
    ctl_list_free(&pos);
    if (rc || user == NULL || *user == 0)
	return ctl_fail(CTL_USAGE, "usage: crmsyncctl mailbox purge --user USER [--dry-run]");
    /* R3: only a user who left the policy; one still in it would get mail again. */
    if ((pol = cs_policy_load(ctx->cfg, err, sizeof(err))) == NULL)
	return ctl_fail(CTL_BADINPUT, "%s", err);
    rc = cs_policy_user(pol, user) != NULL;
    cs_policy_unref(pol);
    if (rc)
	return ctl_fail(CTL_FORBIDDEN, "user %.255s is in the policy in force:"
			" remove them from it first", user);
    if ((store = ctl_open_store(ctx, 0)) == NULL)
	return CTL_INTERNAL;
    rc = cs_store_mailbox_purge(store, user, dry, "operator", &res);
    cs_store_close(store);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), "purge failed");
    return ctl_print(res);
}
