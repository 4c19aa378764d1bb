/*
 * NAME
 *	cmd_mailbox 3
 * SUMMARY
 *	crmsyncctl mailbox and stats
 * DESCRIPTION
 *	mailbox lists the acting user's own threads (SPEC V2: there is no
 *	way to name another user's mailbox). stats prints the store's health
 *	figures as the store reports them, with this host's journal (C6) as
 *	its milter last wrote it in JournalDir when that can be read: the
 *	status document in the store is stale exactly while the store is
 *	locked or down, and with the store down stats still prints the
 *	journal (after the error, exit 5).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include "cs_journal.h"

/* Application-specific. */
#include "ctl.h"

#define STATUS_MAX	(64 * 1024)	/* a status file larger than this is not one */

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

/*
 * journal_file - JournalDir/status.json as the milter wrote it: its
 * "journal" object with "source": "file", "updated_at" and
 * "age_seconds" added, and the host it is for; NULL when there is none
 * or it cannot be read (no JournalDir, not this user's to read) or is
 * not one (too large, not the expected shape).
 */
static json_t *journal_file(const cs_config *cfg, char *host, size_t hostlen)
{
    char    path[4096], buf[STATUS_MAX + 1], iso[32];
    json_t *doc, *j = NULL, *h, *at;
    ssize_t n;
    size_t  len = 0;
    time_t  now = time(NULL), t;
    struct tm tm;
    int     fd;

    if (cfg->journal_dir == NULL || *cfg->journal_dir == 0)
	return NULL;
    snprintf(path, sizeof(path), "%s/%s", cfg->journal_dir, CS_JOURNAL_STATUS);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
	return NULL;
    while (len <= STATUS_MAX && (n = read(fd, buf + len, STATUS_MAX + 1 - len)) > 0)
	len += (size_t) n;
    close(fd);
    if (len == 0 || len > STATUS_MAX)
	return NULL;
    if ((doc = json_loadb(buf, len, 0, NULL)) == NULL)
	return NULL;
    h = json_object_get(doc, "host");
    at = json_object_get(doc, "written_at");
    if (json_is_string(h) && json_is_integer(at) && json_is_object(json_object_get(doc, "journal"))) {
	j = json_incref(json_object_get(doc, "journal"));
	snprintf(host, hostlen, "%s", json_string_value(h));
	t = (time_t) json_integer_value(at);
	iso[0] = 0;
	if (gmtime_r(&t, &tm))
	    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(j, "source", json_string("file"));
	json_object_set_new(j, "updated_at", json_string(iso));
	json_object_set_new(j, "age_seconds", json_integer(now > t ? (json_int_t) (now - t) : 0));
	json_object_set(j, "running", json_object_get(doc, "running"));
    }
    json_decref(doc);
    return j;
}

/* put_journal - j as milter.HOST.journal in stats (steals j) */
static void put_journal(json_t *stats, const char *host, json_t *j)
{
    json_t *milter = json_object_get(stats, "milter"), *h;

    if (!json_is_object(milter)) {
	milter = json_object();
	json_object_set_new(stats, "milter", milter);
    }
    if (!json_is_object(h = json_object_get(milter, host))) {
	h = json_object();
	json_object_set_new(milter, host, h);
    }
    json_object_set_new(h, "journal", j);
}

/* cmd_stats - crmsyncctl stats */
int     cmd_stats(ctl_ctx *ctx, int argc, char **argv)
{
    cs_store *store;
    cs_answer ans = {0};
    json_t *j, *partial;
    char    host[256];
    int     rc;

    (void) argv;
    if (argc != 0)
	return ctl_fail(CTL_USAGE, "stats takes no arguments");
    j = journal_file(ctx->cfg, host, sizeof(host));
    if ((store = ctl_open_store(ctx, CS_STORE_READONLY)) != NULL) {
	cs_answer_stats(store, &ans);
	cs_store_close(store);
	if (ans.code == CS_ANS_OK) {
	    if (j)
		put_journal(ans.body, host, j);
	    return ctl_answer(&ans);
	}
	rc = ctl_answer(&ans);
    } else
	rc = CTL_INTERNAL;
    /* The store cannot answer: the journal as it is, after the error. */
    if (j && (partial = json_object()) != NULL) {
	put_journal(partial, host, j);
	(void) ctl_print(partial);
    } else
	json_decref(j);
    return rc;
}
