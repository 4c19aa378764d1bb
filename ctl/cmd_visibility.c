/*
 * NAME
 *	cmd_visibility 3
 * SUMMARY
 *	crmsyncctl thread, attachment, deal, person, share, private, delete,
 *	link, unlink, contact create, directory import
 * DESCRIPTION
 *	The CRM-facing commands (SPEC X1) act --as a user; who may see or
 *	change what (V1-V6) is decided by the store's queries, never here:
 *	these functions parse arguments, call one store function and print
 *	its answer. A thread, deal or person the user may not see is "not
 *	found" (exit 2) with the same message as one that does not exist.
 *
 *	thread --raw (owner only) prints {"thread", "messages": [{"message_id",
 *	"size", "truncated", "raw"}]}, raw being the message's bytes in
 *	base64: raw mail need not be UTF-8, which JSON strings must be.
 *	attachment writes the decoded bytes alone to stdout.
 *
 *	With CRMSYNC_TIMING=1 in the environment each of these commands
 *	prints {"timing_ms": T, "command": NAME} on stderr, T being the time
 *	spent in the store call (benchmarks; not part of the interface).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "ctl.h"

#define CTL_MAX_DIRECTORY	(512L * 1024 * 1024)	/* bytes of a snapshot */

/* Arguments common to the commands: --as, options, positional words. */
typedef struct vis_args {
    const char *as;
    const char *deal, *person, *cursor, *thread, *address, *name;
    int     limit, raw;
    const char **pos;
    int     npos;
} vis_args;

/* Which options a command takes. */
enum { O_LIST = 1, O_RAW = 2, O_RECORD = 4, O_CONTACT = 8 };

/* vis_drop - release what parse_args allocated; returns rc */
static int vis_drop(vis_args *a, int rc)
{
    free(a->pos);
    a->pos = NULL;
    return rc;
}

/* parse_args - fill a vis_args; an exit code (usage) on error, else 0 */
static int parse_args(int argc, char **argv, unsigned allowed, vis_args *a)
{
    ctl_opt opts[12];
    ctl_list pos;
    int     n = 0, rc;

    memset(a, 0, sizeof(*a));
    opts[n++] = (ctl_opt) CTL_STR("--as", &a->as);
    if (allowed & O_RAW)
	opts[n++] = (ctl_opt) CTL_FLAG("--raw", &a->raw);
    if (allowed & O_LIST) {
	opts[n++] = (ctl_opt) CTL_STR("--cursor", &a->cursor);
	opts[n++] = (ctl_opt) CTL_NUM("--limit", &a->limit, 1, CTL_LIMIT_MAX);
    }
    if (allowed & O_RECORD) {
	opts[n++] = (ctl_opt) CTL_STR("--deal", &a->deal);
	opts[n++] = (ctl_opt) CTL_STR("--person", &a->person);
    }
    if (allowed & O_CONTACT) {
	opts[n++] = (ctl_opt) CTL_STR("--thread", &a->thread);
	opts[n++] = (ctl_opt) CTL_STR("--address", &a->address);
	opts[n++] = (ctl_opt) CTL_STR("--name", &a->name);
    }
    opts[n] = (ctl_opt) CTL_END;
    if ((rc = ctl_args(argc, argv, opts, &pos)) != 0)
	return rc;
    a->pos = pos.v;
    a->npos = (int) pos.n;
    if (a->as == NULL || *a->as == 0)
	return vis_drop(a, ctl_fail(CTL_USAGE, "--as USER is required"));
    return 0;
}

/*
 * now_ms - a monotonic clock in milliseconds, to the microsecond: the
 * reads timed here take 0.4 to 2 ms (ctl-bench.sh), which cs_mono_ms's
 * whole milliseconds would round to 0, 1 or 2
 */
static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* timing - CRMSYNC_TIMING=1: the store call's duration on stderr */
static void timing(const char *command, double start)
{
    const char *t = getenv("CRMSYNC_TIMING");

    if (t && strcmp(t, "1") == 0)
	fprintf(stderr, "{\"timing_ms\": %.3f, \"command\": \"%s\"}\n", now_ms() - start,
		command);
}

/* vis_open - the store for a parsed command; NULL (arguments freed) on error */
static cs_store *vis_open(ctl_ctx *ctx, vis_args *a, unsigned flags)
{
    cs_store *st = ctl_open_store_sub(ctx, flags);

    if (st == NULL)
	vis_drop(a, CTL_INTERNAL);
    return st;
}

/* vis_answer - print a shared answer, free the arguments */
static int vis_answer(vis_args *a, cs_answer *ans)
{
    return vis_drop(a, ctl_answer(ans));
}

/* cmd_thread - crmsyncctl thread T --as U [--raw] */
int     cmd_thread(ctl_ctx *ctx, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_answer ans = {0};
    double  t0;
    int     rc;

    if ((rc = parse_args(argc, argv, O_RAW, &a)) != 0)
	return rc;
    if (a.npos != 1)
	return vis_drop(&a, ctl_fail(CTL_USAGE, "thread needs one thread id"));
    if ((st = vis_open(ctx, &a, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_thread(st, a.as, a.pos[0], a.raw, &ans);
    timing("thread", t0);
    cs_store_close(st);
    return vis_answer(&a, &ans);
}

/* cmd_attachment - crmsyncctl attachment T N --as U: the bytes on stdout */
int     cmd_attachment(ctl_ctx *ctx, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_buf  buf = {0};
    cs_answer ans = {0};
    unsigned long n;
    char   *end;
    double  t0;
    int     rc;

    if ((rc = parse_args(argc, argv, 0, &a)) != 0)
	return rc;
    if (a.npos != 2)
	return vis_drop(&a, ctl_fail(CTL_USAGE, "attachment needs a thread id and a number"));
    errno = 0;
    n = strtoul(a.pos[1], &end, 10);
    if (errno || *end || end == a.pos[1] || n < 1 || n > 1000000 || a.pos[1][0] == '-')
	return vis_drop(&a, ctl_fail(CTL_USAGE, "the attachment number counts from 1"));
    if ((st = vis_open(ctx, &a, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_attachment(st, a.as, a.pos[0], (size_t) n, &buf, &ans);
    timing("attachment", t0);
    cs_store_close(st);
    free(a.pos);
    if (ans.code != CS_ANS_OK) {
	cs_buf_free(&buf);
	return ctl_answer(&ans);
    }
    if ((buf.len && fwrite(buf.data, 1, buf.len, stdout) != buf.len) || fflush(stdout) == EOF)
	rc = ctl_fail(CTL_INTERNAL, "cannot write output");
    cs_buf_free(&buf);
    return rc;
}

/* record_page - deal D / person P --as U [--limit N] [--cursor C] */
static int record_page(ctl_ctx *ctx, const char *kind, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_answer ans = {0};
    double  t0;
    int     rc;

    if ((rc = parse_args(argc, argv, O_LIST, &a)) != 0)
	return rc;
    if (a.npos != 1)
	return vis_drop(&a, ctl_fail(CTL_USAGE, "%s needs one %s id", kind, kind));
    if ((st = vis_open(ctx, &a, CS_STORE_READONLY)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_record(st, a.as, kind, a.pos[0], a.limit, a.cursor, &ans);
    timing(kind, t0);
    cs_store_close(st);
    return vis_answer(&a, &ans);
}

/* cmd_deal - crmsyncctl deal D --as U [--limit N] [--cursor C] */
int     cmd_deal(ctl_ctx *ctx, int argc, char **argv)
{
    return record_page(ctx, "deal", argc, argv);
}

/* cmd_person - crmsyncctl person P --as U [--limit N] [--cursor C] */
int     cmd_person(ctl_ctx *ctx, int argc, char **argv)
{
    return record_page(ctx, "person", argc, argv);
}

/* threads_set - share / private / delete --as U T... */
static int threads_set(ctl_ctx *ctx, const char *name, int action, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_answer ans = {0};
    double  t0;
    int     rc;

    if ((rc = parse_args(argc, argv, 0, &a)) != 0)
	return rc;
    if (a.npos < 1)
	return vis_drop(&a, ctl_fail(CTL_USAGE, "%s needs at least one thread id", name));
    if ((st = vis_open(ctx, &a, 0)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_threads_set(st, a.as, action, a.pos, (size_t) a.npos, &ans);
    timing(name, t0);
    cs_store_close(st);
    return vis_answer(&a, &ans);
}

/* cmd_share - crmsyncctl share --as U T... */
int     cmd_share(ctl_ctx *ctx, int argc, char **argv)
{
    return threads_set(ctx, "share", CS_THREADS_SHARE, argc, argv);
}

/* cmd_private - crmsyncctl private --as U T... */
int     cmd_private(ctl_ctx *ctx, int argc, char **argv)
{
    return threads_set(ctx, "private", CS_THREADS_PRIVATE, argc, argv);
}

/* cmd_delete - crmsyncctl delete --as U T... */
int     cmd_delete(ctl_ctx *ctx, int argc, char **argv)
{
    return threads_set(ctx, "delete", CS_THREADS_DELETE, argc, argv);
}

/* link_cmd - link / unlink --as U T (--deal D | --person P) */
static int link_cmd(ctl_ctx *ctx, const char *name, int unlink, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_answer ans = {0};
    double  t0;
    int     rc;

    if ((rc = parse_args(argc, argv, O_RECORD, &a)) != 0)
	return rc;
    if (a.npos != 1 || (a.deal == NULL) == (a.person == NULL))
	return vis_drop(&a, ctl_fail(CTL_USAGE,
				     "%s needs one thread id and either --deal or --person", name));
    if ((st = vis_open(ctx, &a, 0)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_link(st, a.as, a.pos[0], a.deal ? "deal" : "person",
		   a.deal ? a.deal : a.person, unlink, &ans);
    timing(name, t0);
    cs_store_close(st);
    return vis_answer(&a, &ans);
}

/* cmd_link - crmsyncctl link --as U T (--deal D | --person P) */
int     cmd_link(ctl_ctx *ctx, int argc, char **argv)
{
    return link_cmd(ctx, "link", 0, argc, argv);
}

/* cmd_unlink - crmsyncctl unlink --as U T (--deal D | --person P) */
int     cmd_unlink(ctl_ctx *ctx, int argc, char **argv)
{
    return link_cmd(ctx, "unlink", 1, argc, argv);
}

/* cmd_contact - crmsyncctl contact create --as U --thread T --address A [--name N] */
int     cmd_contact(ctl_ctx *ctx, int argc, char **argv)
{
    vis_args a;
    cs_store *st;
    cs_answer ans = {0};
    double  t0;
    int     rc;

    if (argc < 1 || strcmp(argv[0], "create") != 0)
	return ctl_fail(CTL_USAGE, "usage: contact create --as USER --thread T --address A"
			" [--name N]");
    if ((rc = parse_args(argc - 1, argv + 1, O_CONTACT, &a)) != 0)
	return rc;
    if (a.npos != 0 || a.thread == NULL || a.address == NULL)
	return vis_drop(&a, ctl_fail(CTL_USAGE,
				     "contact create needs --thread T and --address A"));
    if ((st = vis_open(ctx, &a, 0)) == NULL)
	return CTL_INTERNAL;
    t0 = now_ms();
    cs_answer_contact(st, a.as, a.thread, a.address, a.name, &ans);
    timing("contact", t0);
    cs_store_close(st);
    return vis_answer(&a, &ans);
}

/* cmd_directory - crmsyncctl directory import FILE.json */
int     cmd_directory(ctl_ctx *ctx, int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc, *out = NULL;
    cs_store *st;
    char    err[512] = "";
    FILE   *fp;
    long    size;
    double  t0;
    int     rc;

    if (argc != 2 || strcmp(argv[0], "import") != 0)
	return ctl_fail(CTL_USAGE, "usage: directory import FILE.json");
    if ((fp = fopen(argv[1], "rb")) == NULL)
	return ctl_fail(CTL_BADINPUT, "%s: %s", argv[1], strerror(errno));
    if (fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0
	|| size > CTL_MAX_DIRECTORY) {
	fclose(fp);
	return ctl_fail(CTL_BADINPUT, "%s: not a readable file of at most %ld bytes", argv[1],
			CTL_MAX_DIRECTORY);
    }
    /* A key given twice would make the snapshot mean two things. */
    doc = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (doc == NULL)
	return ctl_fail(CTL_BADINPUT, "%s:%d:%d: %s", argv[1], jerr.line, jerr.column, jerr.text);
    if ((st = ctl_open_store_sub(ctx, CS_STORE_CREATE)) == NULL) {
	json_decref(doc);
	return CTL_INTERNAL;
    }
    t0 = now_ms();
    rc = cs_store_directory_import(st, doc, &out, err, sizeof(err));
    timing("directory", t0);
    cs_store_close(st);
    json_decref(doc);
    if (rc != CS_OK) {
	if (rc == CS_EINVAL)
	    return ctl_fail(CTL_BADINPUT, "%s: %s", argv[1], err);
	return ctl_fail(ctl_store_rc(rc), "%s", *err ? err : "the directory was not changed");
    }
    return ctl_print(out);
}
