/*
 * NAME
 *	cmd_import 3
 * SUMMARY
 *	crmsyncctl import: backfill a user's Maildir or mbox (SPEC X4, S3, T2)
 * SYNOPSIS
 *	crmsyncctl import --user U PATH [--since DATE] [--dry-run] [--jobs N]
 * DESCRIPTION
 *	PATH is a Maildir (a directory with cur/ or new/, Maildir++ folders
 *	".Sales", ".Sales.Q4" included: a Dovecot mail location) or an mbox
 *	file; the kind is detected. Each message is decided for U alone, as
 *	the milter decides U's copy, and recorded with source "import", its
 *	arrival time and no queue id:
 *
 *	Window (S3). Arrival is the Date header, else the time at the start
 *	of the Maildir file name, else the date of the mbox From_ line; a
 *	message with none of them is skipped as "no-date". It is imported
 *	when within U's Window (cs_policy_in_window) and not before --since.
 *	--since (YYYY-MM-DD, or ISO 8601 YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]; no
 *	zone means local time) only narrows the window: an older --since is
 *	clamped to the window's start and the summary says "since_clamped".
 *
 *	Policy. The importer has no envelope: direction is "out" when From
 *	is one of U's addresses, else "in"; the envelope sender given to the
 *	policy is the From address (none when From is absent), the envelope
 *	recipient U's first address (what an incoming copy's Sieve "envelope
 *	to" sees). cs_policy_decide() runs with joins_thread -1, so in
 *	labels mode a message without a selected label becomes a conditional
 *	copy that the store keeps only if it joins a thread (T1). The folder
 *	label is added to the labels the Sieve script gives, and selects the
 *	message like them: with "Sync labels" and "Labels Sales" what sits in
 *	the Sales folder is imported. The Maildir folders Trash, Junk, Spam
 *	and Drafts (any case, with their subfolders) are not imported (reason
 *	"folder"): deleted, unwanted and unsent mail is not conversation.
 *	Owner is U only; no contact is ever created (K1).
 *
 *	Order. Folders are read one after the other, so a reply can come
 *	before the message it answers; a conditional copy whose thread was
 *	not there yet is therefore tried again in a second pass over the
 *	mailbox, once everything else is in.
 *
 *	Idempotence (T2): the record carries the same body digest as the
 *	milter's (body only, line ends normalized), so the store's dedup key
 *	matches live capture and earlier imports: a second run imports 0.
 *
 *	Output. On a terminal, a progress line on stderr. stdout is JSON
 *	Lines: when stdout is not a terminal, a {"progress": {...}} line
 *	every 10 seconds; then always, last, the one-line summary
 *	{"user", "path", "format", "dry_run", "messages", "imported",
 *	"duplicates", "skipped": {reason: n, ..., "window": n},
 *	"unreadable", "symlinks", "errors", "window_start", "since_clamped", "seconds",
 *	"rate"}. A damaged or unreadable message is reported on stderr as
 *	{"warning": "unreadable", "path", "offset" (mbox), "message"} and
 *	skipped. Symbolic links (X4) are never followed: a message file, a
 *	folder or a cur/ or new/ that is a link is reported on stderr as
 *	{"warning": "symlink", "path", "message"}, counted in "symlinks"
 *	(not in "messages") and skipped; a PATH that is a link is refused
 *	(exit 4). --dry-run decides everything and writes nothing (the store
 *	is not even opened): each message that would be imported is printed
 *	as {"path", "offset", "folder", "arrival", "message_id",
 *	"direction", "labels", "conditional"} before the summary, where
 *	"imported" counts them; duplicates and whether a conditional copy
 *	would join a thread are not known without the store ("conditional"
 *	counts those).
 *
 *	Speed. The inline store (no CS_STORE_WRITER) commits each record in
 *	its own transaction, one fsync each: --jobs 1 does that. By default
 *	(--jobs 1024) the store is opened with its group-commit writer, the
 *	milter's own crash-safe path, in bulk mode (CS_STORE_BULK: a bigger
 *	page cache, fewer checkpoints): the main thread reads, parses and
 *	decides in mailbox order and hands each record over with
 *	cs_store_submit(), which waits only while N records (or about a
 *	group's raw bytes) are not yet committed, so the writer thread
 *	commits whole groups of up to 512 records (one transaction, one
 *	fsync) while the next ones are parsed. Outcomes are counted as their
 *	groups commit; the run ends only after the last one did
 *	(cs_store_drain()), so a successful exit means every imported
 *	message is on disk, and a crash loses only uncommitted groups, which
 *	a re-run imports (T2). Memory stays bounded by N messages.
 *	tests/bench/import-bench.sh measures both.
 * DIAGNOSTICS
 *	Exit 0 done (even with unreadable messages: they are in the summary),
 *	1 usage, 2 unknown user, 4 bad PATH, --since or policy, 5 store
 *	failures (the summary is printed first).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include "cs_addr.h"
#include "cs_mbox.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_util.h"

/* Application-specific. */
#include "cs_policy.h"
#include "cs_verdict.h"
#include "ctl.h"

#define IMP_PROGRESS_TTY	200	/* ms between progress bar updates */
#define IMP_PROGRESS_JSON	10000	/* ms between JSON progress lines */
#define IMP_MAX_ERRORS		50	/* consecutive store failures: give up */
#define IMP_MAX_EXTRA		3	/* passes for conditional copies */
#define IMP_JOBS_DEFAULT	1024	/* records in flight (--jobs): two bulk groups */
#define IMP_JOBS_MAX		4096	/* the store's CS_STORE_QUEUE_MAX */

/* One decided message on its way to the store; owns what it points to. */
typedef struct imp_item {
    cs_msginfo info;
    cs_strlist labels;
    cs_strlist env;			/* the envelope recipient given to the policy */
    cs_spool *raw;
    char    digest[CS_DIGEST_HEX];
    char   *from;
    char   *path;
    uint64_t offset;
    time_t  arrival;
    int     direction;
    int     conditional;
    int     truncated;
    int     pass;
} imp_item;

typedef struct imp {
    ctl_ctx *ctx;
    cs_policy *pol;
    const cs_user *u;
    cs_store *store;
    const char *path;
    cs_mbox_opts mopts;
    int     kind;
    int     dry_run;
    int     pass;			/* 1, or 2 for conditional copies */
    time_t  now;
    time_t  lower;			/* max(now - Window, since) */
    int     since_clamped;
    int     jobs;			/* 1: inline store; more: records in flight */
    pthread_mutex_t mu;			/* counts, fatal, stderr (writer thread too) */
    const char *fatal;			/* why the run stopped early */
    /* Counts. */
    unsigned long seen, imported, duplicates, unreadable, errors, consecutive_errors;
    unsigned long symlinks;		/* X4: links skipped, never followed */
    unsigned long pending;		/* conditional copies not stored (yet) */
    unsigned long conditional;		/* dry run: would be conditional */
    json_t *skipped;
    /* Progress. */
    int     tty_err, tty_out, bar_shown;
    long long t0, last;			/* cs_mono_ms */
} imp;

/* num - parse exactly n digits */
static int num(const char **p, int n)
{
    int     v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
	if (**p < '0' || **p > '9')
	    return -1;
	v = v * 10 + (**p - '0');
    }
    return v;
}

/* parse_since - YYYY-MM-DD or ISO 8601 date-time; 0 ok */
static int parse_since(const char *s, time_t *out)
{
    struct tm tm;
    const char *p = s;
    long    off = 0;
    int     utc = 0, v;
    time_t  t;

    memset(&tm, 0, sizeof(tm));
    if ((v = num(&p, 4)) < 1970 || *p++ != '-')
	return -1;
    tm.tm_year = v - 1900;
    if ((v = num(&p, 2)) < 1 || v > 12 || *p++ != '-')
	return -1;
    tm.tm_mon = v - 1;
    if ((v = num(&p, 2)) < 1 || v > 31)
	return -1;
    tm.tm_mday = v;
    if (*p == 'T' || *p == 't' || *p == ' ') {
	p++;
	if ((tm.tm_hour = num(&p, 2)) < 0 || tm.tm_hour > 23 || *p++ != ':'
	    || (tm.tm_min = num(&p, 2)) < 0 || tm.tm_min > 59)
	    return -1;
	if (*p == ':') {
	    p++;
	    if ((tm.tm_sec = num(&p, 2)) < 0 || tm.tm_sec > 60)
		return -1;
	    if (*p == '.' || *p == ',') {		/* fractions of a second */
		p++;
		if (*p < '0' || *p > '9')
		    return -1;
		while (*p >= '0' && *p <= '9')
		    p++;
	    }
	}
	if (*p == 'Z' || *p == 'z') {
	    utc = 1;
	    p++;
	} else if (*p == '+' || *p == '-') {
	    int     sign = *p++ == '-' ? -1 : 1, h, m = 0;

	    if ((h = num(&p, 2)) < 0 || h > 23)
		return -1;
	    if (*p == ':')
		p++;
	    if (*p && ((m = num(&p, 2)) < 0 || m > 59))
		return -1;
	    off = sign * (h * 3600L + m * 60L);
	    utc = 1;
	}
    }
    if (*p != 0)
	return -1;
    if (utc) {
	if ((t = timegm(&tm)) == (time_t) -1)
	    return -1;
	t -= off;
    } else {
	/* Without a zone, the administrator means their own clock. */
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t) -1)
	    return -1;
    }
    *out = t;
    return 0;
}

/* jstr - a JSON string of bytes that may not be UTF-8 (paths, ids) */
static json_t *jstr(const char *s)
{
    json_t *j;
    char   *clean;

    if (s == NULL)
	return json_null();
    if ((j = json_string(s)) != NULL)
	return j;
    if ((clean = cs_utf8_from_raw(s, strlen(s))) == NULL)
	return NULL;
    j = json_string(clean);
    free(clean);
    return j;
}

/* skip_count - one more message skipped for reason */
static void skip_count(imp *im, const char *reason)
{
    json_t *n = json_object_get(im->skipped, reason);

    json_object_set_new(im->skipped, reason,
			json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* clear_bar - erase the progress line before other stderr output */
static void clear_bar(imp *im)
{
    if (im->bar_shown) {
	fputs("\r\033[K", stderr);
	im->bar_shown = 0;
    }
}

/* total_skipped - sum of the skipped reasons */
static unsigned long total_skipped(const imp *im)
{
    const char *k;
    json_t *v;
    unsigned long n = 0;

    json_object_foreach(im->skipped, k, v)
	n += (unsigned long) json_integer_value(v);
    return n;
}

/* summary - the counts as JSON */
static json_t *summary(imp *im, int final)
{
    char    ws[32];
    long long ms = cs_mono_ms() - im->t0;
    json_t *o = json_object(), *sk;

    if (o == NULL)
	return NULL;
    sk = json_deep_copy(im->skipped);
    if (final && im->pending > 0)
	json_object_set_new(sk, "no-label", json_integer(
		json_integer_value(json_object_get(sk, "no-label")) + (json_int_t) im->pending));
    json_object_set_new(o, "user", json_string(im->u->id));
    json_object_set_new(o, "path", jstr(im->path));
    json_object_set_new(o, "format", json_string(im->kind == CS_MBOX_MAILDIR ? "maildir" : "mbox"));
    json_object_set_new(o, "dry_run", json_boolean(im->dry_run));
    json_object_set_new(o, "messages", json_integer((json_int_t) im->seen));
    json_object_set_new(o, "imported", json_integer((json_int_t) im->imported));
    json_object_set_new(o, "duplicates", json_integer((json_int_t) im->duplicates));
    json_object_set_new(o, "skipped", sk);
    json_object_set_new(o, "unreadable", json_integer((json_int_t) im->unreadable));
    json_object_set_new(o, "symlinks", json_integer((json_int_t) im->symlinks));
    json_object_set_new(o, "errors", json_integer((json_int_t) im->errors));
    if (im->dry_run)
	json_object_set_new(o, "conditional", json_integer((json_int_t) im->conditional));
    cs_iso_date((long long) im->lower, ws, sizeof(ws));
    json_object_set_new(o, "window_start", json_string(ws));
    json_object_set_new(o, "since_clamped", json_boolean(im->since_clamped));
    json_object_set_new(o, "seconds", json_real((double) ms / 1000));
    json_object_set_new(o, "rate", json_integer(ms > 0 ? (json_int_t) (im->seen * 1000 / ms) : 0));
    return o;
}

/* print_line - one compact JSON line on stdout; consumes o */
static int print_line(json_t *o)
{
    int     rc = -1;

    if (o && json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) == 0
	&& fputc('\n', stdout) != EOF && fflush(stdout) != EOF)
	rc = 0;
    json_decref(o);
    return rc;
}

static void progress_locked(imp *, long long);

/* progress - the bar on a terminal, else a JSON line now and then */
static void progress(imp *im)
{
    long long t = cs_mono_ms();

    if ((im->tty_err && t - im->last < IMP_PROGRESS_TTY)
	|| (!im->tty_err && (im->tty_out || t - im->last < IMP_PROGRESS_JSON)))
	return;
    pthread_mutex_lock(&im->mu);
    progress_locked(im, t);
    pthread_mutex_unlock(&im->mu);
}

/* progress_locked - see progress(); im->mu held */
static void progress_locked(imp *im, long long t)
{
    double  secs = (double) (t - im->t0) / 1000;

    if (im->tty_err) {
	if (t - im->last < IMP_PROGRESS_TTY)
	    return;
	im->last = t;
	fprintf(stderr, "\r\033[Kimport%s: %lu messages, %lu imported, %lu duplicates, "
		"%lu skipped, %lu unreadable, %.0f msg/s",
		im->pass == 2 ? " (pass 2)" : "", im->seen, im->imported, im->duplicates,
		total_skipped(im), im->unreadable, secs > 0 ? im->seen / secs : 0.0);
	im->bar_shown = 1;
	return;
    }
    if (!im->tty_out && t - im->last >= IMP_PROGRESS_JSON) {
	im->last = t;
	print_line(json_pack("{s:o}", "progress", summary(im, 0)));
    }
}

/* warn_at - a JSON warning line on stderr; caller holds im->mu */
static void warn_at(imp *im, const char *what, const char *path, uint64_t offset,
		            const char *message)
{
    json_t *o = json_pack("{s:s, s:o}", "warning", what, "path", jstr(path ? path : ""));
    char   *s;

    if (o == NULL)
	return;
    if (im->kind == CS_MBOX_MBOX)
	json_object_set_new(o, "offset", json_integer((json_int_t) offset));
    json_object_set_new(o, "message", json_string(message));
    clear_bar(im);
    if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
	fprintf(stderr, "%s\n", s);
	free(s);
    }
    json_decref(o);
}

/* folder_excluded - Trash, Junk, Spam, Drafts and their subfolders */
static int folder_excluded(const char *folder)
{
    static const char *const names[] = {"Trash", "Junk", "Spam", "Drafts"};
    size_t  len = strcspn(folder, "/");

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	if (strlen(names[i]) == len && strncasecmp(folder, names[i], len) == 0)
	    return 1;
    return 0;
}

/* header_only - C4 as the milter does: over MaxMessageSize, headers only */
static cs_spool *header_only(imp *im, const cs_mbox_msg *m)
{
    cs_spool *s = cs_spool_new(im->mopts.spool_dir, im->mopts.spool_threshold,
			       im->mopts.max_size);

    if (s && (cs_spool_write(s, m->header.data, m->header.len) < 0
	      || cs_spool_write(s, "\n", 1) < 0)) {
	cs_spool_unref(s);
	return NULL;
    }
    return s;
}

/* dry_line - what the dry run would import */
static int dry_line(imp *im, const cs_mbox_msg *m, const cs_msginfo *info, time_t arrival,
		            int direction, const cs_strlist *labels, int conditional)
{
    char    at[32];
    json_t *o = json_object(), *l = json_array();

    for (size_t i = 0; l && i < labels->n; i++)
	json_array_append_new(l, jstr(labels->v[i]));
    if (o == NULL || l == NULL) {
	json_decref(o);
	json_decref(l);
	return -1;
    }
    json_object_set_new(o, "path", jstr(m->path));
    if (im->kind == CS_MBOX_MBOX)
	json_object_set_new(o, "offset", json_integer((json_int_t) m->offset));
    json_object_set_new(o, "folder", jstr(m->folder));
    cs_iso_date((long long) arrival, at, sizeof(at));
    json_object_set_new(o, "arrival", json_string(at));
    json_object_set_new(o, "message_id", jstr(info->message_id));
    json_object_set_new(o, "direction", json_string(direction == CS_DIR_OUT ? "out" : "in"));
    json_object_set_new(o, "labels", l);
    json_object_set_new(o, "conditional", json_boolean(conditional));
    clear_bar(im);
    return print_line(o);
}

/* item_free - release an item and what it owns */
static void item_free(imp_item *it)
{
    if (it == NULL)
	return;
    cs_msginfo_free(&it->info);
    cs_strlist_free(&it->labels);
    cs_strlist_free(&it->env);
    if (it->raw)
	cs_spool_unref(it->raw);
    free(it->from);
    free(it->path);
    free(it);
}

/* What a submitted record's outcome is reported against. */
typedef struct imp_ticket {
    imp    *im;
    char   *path;
    uint64_t offset;
    int     pass;
} imp_ticket;

/* count_outcome - one record's store outcome in the counts (any thread) */
static void count_outcome(imp *im, int rc, int result, int pass, const char *path,
			          uint64_t offset)
{
    pthread_mutex_lock(&im->mu);
    if (rc != CS_OK) {
	im->errors++;
	warn_at(im, "not_stored", path, offset, "the store did not take this message");
	/*
	 * A group fails whole (busy past StoreTimeout, disk full, I/O),
	 * and one group alone may be more than IMP_MAX_ERRORS records:
	 * give up after twice the records in flight failed in a row.
	 */
	if (++im->consecutive_errors >= IMP_MAX_ERRORS + 2 * (unsigned long) im->jobs
	    && im->fatal == NULL)
	    im->fatal = "too many store failures in a row: stopped";
    } else {
	im->consecutive_errors = 0;
	if (result == CS_COPY_STORED) {
	    im->imported++;
	    if (pass > 1)
		im->pending--;
	} else if (result == CS_COPY_DUPLICATE) {
	    /* A later pass sees its own earlier work as duplicates. */
	    if (pass == 1)
		im->duplicates++;
	} else if (pass == 1) {
	    im->pending++;			/* joins no thread, yet */
	}
    }
    pthread_mutex_unlock(&im->mu);
}

/* submitted - the writer committed (or failed) a submitted record */
static void submitted(void *arg, int rc, const int *results)
{
    imp_ticket *t = arg;

    count_outcome(t->im, rc, rc == CS_OK ? results[0] : 0, t->pass, t->path, t->offset);
    free(t->path);
    free(t);
}

/* store_item - hand one item to the store; the item can go right after */
static void store_item(imp *im, imp_item *it)
{
    cs_copy copy;
    cs_record rec;
    imp_ticket *t;
    long    timeout = im->ctx->cfg->store_timeout_ms;
    int     result = 0, rc;

    memset(&copy, 0, sizeof(copy));
    copy.user = im->u->id;
    copy.direction = it->direction;
    copy.labels = &it->labels;
    copy.conditional = it->conditional;
    copy.env_rcpts = &it->env;
    memset(&rec, 0, sizeof(rec));
    rec.queue_id = NULL;
    rec.arrival = it->arrival;
    rec.source = "import";
    rec.env_from = it->from;
    rec.info = &it->info;
    rec.body_digest = it->digest;
    rec.raw = it->raw;
    rec.truncated = it->truncated;
    rec.copies = &copy;
    rec.ncopies = 1;
    if (im->jobs > 1) {
	/* The store copies the record; the outcome comes with its group. */
	if ((t = calloc(1, sizeof(*t))) != NULL && (t->path = cs_strdup(it->path)) != NULL) {
	    t->im = im;
	    t->offset = it->offset;
	    t->pass = it->pass;
	    if (cs_store_submit(im->store, &rec, (size_t) im->jobs, submitted, t) == CS_OK)
		return;
	}
	if (t)
	    free(t->path);
	free(t);
	count_outcome(im, CS_EINTERNAL, 0, it->pass, it->path, it->offset);
	return;
    }
    /* No mail waits on an import: a slow disk is not a reason to give up. */
    rc = cs_store_record(im->store, &rec, timeout > 60000 ? timeout : 60000, &result);
    count_outcome(im, rc, result, it->pass, it->path, it->offset);
}

/* one_message - decide one message and send it to the store; -1 to stop */
static int one_message(imp *im, cs_mbox_msg *m)
{
    cs_msginfo info;
    cs_policy_msg pmsg;
    cs_owner owner;
    cs_owners owners;
    cs_verdict v;
    cs_strlist env = {0};
    imp_item *it;
    const cs_user *fu;
    const char *from = NULL, *env_to;
    time_t  arrival;
    int     direction, rc = 0;

    if (m->damaged) {
	if (im->pass == 1) {
	    pthread_mutex_lock(&im->mu);
	    im->unreadable++;
	    warn_at(im, "unreadable", m->path, m->offset, m->damaged);
	    pthread_mutex_unlock(&im->mu);
	}
	return 0;
    }
    memset(&info, 0, sizeof(info));
    memset(&v, 0, sizeof(v));
    if (cs_msginfo_parse(m->header.data, m->header.len, &info) < 0) {
	cs_msginfo_free(&info);
	return -1;
    }
    /* S3: the Date header, else the file name's or From_ line's time. */
    if (info.has_date)
	arrival = info.date;
    else if (m->has_file_time)
	arrival = m->file_time;
    else {
	if (im->pass == 1)
	    skip_count(im, "no-date");
	goto out;
    }
    if (!cs_policy_in_window(im->u, arrival, im->now) || arrival < im->lower) {
	if (im->pass == 1)
	    skip_count(im, "window");
	goto out;
    }
    if (m->folder && folder_excluded(m->folder)) {
	if (im->pass == 1)
	    skip_count(im, "folder");
	goto out;
    }

    /* No envelope: From decides the direction and stands for the sender. */
    if (info.from.n > 0)
	from = info.from.v[0].address;
    fu = from ? cs_policy_user_by_address(im->pol, from) : NULL;
    direction = fu == im->u ? CS_DIR_OUT : CS_DIR_IN;
    env_to = im->u->addresses.n ? im->u->addresses.v[0] : NULL;
    if (direction == CS_DIR_IN && env_to && cs_strlist_add(&env, env_to) < 0) {
	rc = -1;
	goto out;
    }
    memset(&pmsg, 0, sizeof(pmsg));
    pmsg.info = &info;
    pmsg.env_from = from;
    pmsg.env_rcpts = (const char *const *) env.v;
    pmsg.nrcpts = env.n;
    pmsg.size = (size_t) cs_spool_total(m->raw);
    /* The one owner, with no envelope but the user's own address. */
    memset(&owner, 0, sizeof(owner));
    owner.user = im->u;
    owner.direction = direction;
    owner.env_rcpts = env;			/* shared, not owned */
    memset(&owners, 0, sizeof(owners));
    owners.v = &owner;
    owners.n = 1;
    if (cs_policy_verdicts(im->pol, im->ctx->cfg, &owners, &pmsg, -1, 0, &v) < 0) {
	rc = -1;
	goto out;
    }
    /* X4: the folder is a label, and selects like one. */
    if (m->folder) {
	if (cs_strlist_add_unique(&v.labels, m->folder) < 0) {
	    rc = -1;
	    goto out;
	}
	if (!v.dec.synced && v.dec.reason && strcmp(v.dec.reason, "no-label") == 0
	    && cs_strlist_contains(&im->u->labels, m->folder)) {
	    v.dec.synced = 1;
	    v.dec.reason = NULL;
	    v.copy = 1;
	    v.conditional = 0;
	}
    }
    if (!v.copy) {
	if (im->pass == 1)
	    skip_count(im, v.dec.reason ? v.dec.reason : "skipped");
	goto out;
    }
    /* Later passes are only for the conditional copies not placed yet. */
    if (im->pass > 1 && !v.conditional)
	goto out;
    if (im->dry_run) {
	if (v.conditional)
	    im->conditional++;
	else
	    im->imported++;
	rc = dry_line(im, m, &info, arrival, direction, &v.labels, v.conditional);
	goto out;
    }

    if ((it = calloc(1, sizeof(*it))) == NULL) {
	rc = -1;
	goto out;
    }
    /* The item takes over the parsed message, labels and envelope. */
    it->info = info;
    memset(&info, 0, sizeof(info));
    it->labels = v.labels;
    memset(&v.labels, 0, sizeof(v.labels));
    it->env = env;
    memset(&env, 0, sizeof(env));
    memcpy(it->digest, m->body_digest, sizeof(it->digest));
    it->offset = m->offset;
    it->arrival = arrival;
    it->direction = direction;
    it->conditional = v.conditional;
    it->pass = im->pass;
    it->truncated = m->header_truncated || cs_spool_truncated(m->raw);
    it->raw = it->truncated ? header_only(im, m) : cs_spool_ref(m->raw);
    if (it->raw == NULL || (from && (it->from = cs_strdup(from)) == NULL)
	|| (it->path = cs_strdup(m->path)) == NULL) {
	item_free(it);
	rc = -1;
	goto out;
    }
    store_item(im, it);
    item_free(it);

out:
    cs_verdicts_free(&v, 1);
    cs_strlist_free(&env);
    cs_msginfo_free(&info);
    return rc;
}

/* run_pass - every message of the mailbox once; 0, or an exit code */
static int run_pass(imp *im)
{
    cs_mbox *mb;
    cs_mbox_msg m;
    char    err[1024];
    int     rc, stop;

    memset(&m, 0, sizeof(m));
    if ((mb = cs_mbox_open(im->path, &im->mopts, err, sizeof(err))) == NULL) {
	clear_bar(im);
	return ctl_fail(CTL_BADINPUT, "%s", err);
    }
    im->kind = cs_mbox_kind(mb);
    while ((rc = cs_mbox_next(mb, &m, err, sizeof(err))) > 0) {
	if (m.symlink) {
	    /* X4: a planted link could reach another user's mail. */
	    if (im->pass == 1) {
		pthread_mutex_lock(&im->mu);
		im->symlinks++;
		warn_at(im, "symlink", m.path, 0, "a symbolic link: skipped, not followed");
		pthread_mutex_unlock(&im->mu);
	    }
	    continue;
	}
	if (im->pass == 1) {
	    pthread_mutex_lock(&im->mu);
	    im->seen++;
	    pthread_mutex_unlock(&im->mu);
	}
	if (one_message(im, &m) < 0) {
	    pthread_mutex_lock(&im->mu);
	    if (im->fatal == NULL)
		im->fatal = "out of memory: stopped";
	    pthread_mutex_unlock(&im->mu);
	}
	pthread_mutex_lock(&im->mu);
	stop = im->fatal != NULL;
	pthread_mutex_unlock(&im->mu);
	if (stop)
	    break;
	progress(im);
    }
    /* Counts are final (pending included) only once the store answered. */
    if (im->store)
	cs_store_drain(im->store);
    if (rc < 0 && im->fatal == NULL) {
	clear_bar(im);
	ctl_fail(CTL_INTERNAL, "%s: %s", im->path, err);
	im->fatal = "the mailbox could not be read to the end";
    }
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);
    return 0;
}

/* open_store - the store, users synced: inline, or with its writer */
static int open_store(imp *im)
{
    const cs_user **users;
    size_t  n = cs_policy_nusers(im->pol);
    int     rc;

    if ((im->store = ctl_open_store_sub(im->ctx, CS_STORE_CREATE
					| (im->jobs > 1 ? CS_STORE_WRITER | CS_STORE_BULK : 0))) == NULL)
	return CTL_INTERNAL;
    if ((users = calloc(n ? n : 1, sizeof(*users))) == NULL)
	return ctl_fail(CTL_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++)
	users[i] = cs_policy_user_at(im->pol, i);
    rc = cs_store_sync_users2(im->store, users, n);
    free(users);
    if (rc != CS_OK)
	return ctl_fail(ctl_store_rc(rc), "could not update the users in the store");
    return 0;
}

/* usage - the one usage line */
static int usage(void)
{
    return ctl_fail(CTL_USAGE, "usage: import --user USER PATH [--since DATE] [--dry-run]"
		    " [--jobs N]");
}

/* cmd_import - crmsyncctl import */
int     cmd_import(ctl_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL, *since_arg = NULL;
    int     jobs = IMP_JOBS_DEFAULT, dry_run = 0;
    const ctl_opt opts[] = {
	CTL_STR("--user", &user),
	CTL_STR("--since", &since_arg),
	CTL_FLAG("--dry-run", &dry_run),
	CTL_NUM("--jobs", &jobs, 1, IMP_JOBS_MAX),
	CTL_END,
    };
    ctl_list pos;
    char    err[1024];
    imp     im;
    time_t  since = 0, window_start;
    int     rc = 0;

    memset(&im, 0, sizeof(im));
    im.ctx = ctx;
    if ((rc = ctl_args(argc, argv, opts, &pos)) != 0)
	return rc;
    im.dry_run = dry_run;
    im.path = pos.n == 1 ? pos.v[0] : NULL;	/* a word of argv: outlives pos */
    ctl_list_free(&pos);
    if (user == NULL || im.path == NULL)
	return usage();
    if (since_arg && parse_since(since_arg, &since) < 0)
	return ctl_fail(CTL_BADINPUT, "--since %s: not YYYY-MM-DD or an ISO 8601 date-time",
			since_arg);
    if ((im.pol = cs_policy_load(ctx->cfg, err, sizeof(err))) == NULL)
	return ctl_fail(CTL_BADINPUT, "%s", err);
    if ((im.u = cs_policy_user(im.pol, user)) == NULL) {
	cs_policy_unref(im.pol);
	return ctl_fail(CTL_NOTFOUND, "no user %s in the policy", user);
    }
    if ((im.skipped = json_object()) == NULL) {
	cs_policy_unref(im.pol);
	return ctl_fail(CTL_INTERNAL, "out of memory");
    }
    im.now = time(NULL);
    window_start = im.now - (time_t) im.u->window;
    im.lower = window_start;
    /* S3/X4: --since narrows the window, never widens it. */
    if (since_arg) {
	if (since < window_start)
	    im.since_clamped = 1;
	else
	    im.lower = since;
    }
    /* The temporary spool must be writable by whoever runs the import. */
    im.mopts.spool_dir = ctx->cfg->spool_dir && access(ctx->cfg->spool_dir, W_OK | X_OK) == 0
	? ctx->cfg->spool_dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    im.mopts.spool_threshold = (size_t) ctx->cfg->spool_threshold;
    /* Messages beyond their first 64K share SpoolMemory, as in the milter. */
    cs_spool_set_memory(ctx->cfg->spool_memory);
    im.mopts.max_size = ctx->cfg->max_message_size;
    im.mopts.header_max = ctx->cfg->max_message_size < (16u << 20)
	? (size_t) ctx->cfg->max_message_size + 1 : (16u << 20);
    im.tty_err = isatty(STDERR_FILENO);
    im.tty_out = isatty(STDOUT_FILENO);
    im.t0 = im.last = cs_mono_ms();
    im.jobs = im.dry_run ? 1 : (int) jobs;
    pthread_mutex_init(&im.mu, NULL);

    if (!im.dry_run && (rc = open_store(&im)) != 0)
	goto done;
    im.pass = 1;
    if ((rc = run_pass(&im)) != 0)
	goto done;
    /*
     * A conditional copy may answer a message read after it (T1): try
     * those again while the previous pass stored something.
     */
    for (int extra = 0; im.fatal == NULL && im.pending > 0 && extra < IMP_MAX_EXTRA; extra++) {
	unsigned long before = im.imported;

	if (before == 0)
	    break;				/* nothing new to join */
	im.pass = 2;
	if ((rc = run_pass(&im)) != 0)
	    goto done;
	if (im.imported == before)
	    break;
    }
    clear_bar(&im);
    if (print_line(summary(&im, 1)) < 0)
	rc = ctl_fail(CTL_INTERNAL, "cannot write output");
    else if (im.fatal)
	rc = ctl_fail(CTL_INTERNAL, "%s", im.fatal);
    else if (im.errors > 0)
	rc = ctl_fail(CTL_INTERNAL, "%lu message%s not stored", im.errors,
		      im.errors == 1 ? "" : "s");

done:
    clear_bar(&im);
    /* Closing drains the writer: whatever was submitted is committed. */
    cs_store_close(im.store);
    pthread_mutex_destroy(&im.mu);
    json_decref(im.skipped);
    cs_policy_unref(im.pol);
    return rc;
}
