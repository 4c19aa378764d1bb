/*
 * NAME
 *	cs_store 3
 * SUMMARY
 *	the store's interface: open, close and dispatch
 * DESCRIPTION
 *	See cs_store.h. cs_store_open() picks a backend (a dialect: sqlite/,
 *	pg/) from the Database value and starts the writer thread
 *	(cs_store_writer.c); every other call checks its arguments (and R3's
 *	acting user) and goes to the code written once for it: reading
 *	(cs_store_read.c), the owner actions (cs_store_share.c,
 *	cs_store_link.c, cs_store_contact.c), the directory
 *	(cs_store_dir.c), users and events (cs_store_users.c), the thread
 *	rules (cs_store_thread.c); records become jobs in cs_store_job.c.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <openssl/evp.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_config.h"
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_act.h"
#include "cs_store_dir.h"
#include "cs_store_read.h"
#include "cs_store_thread.h"
#include "cs_store_users.h"

#ifdef HAVE_LIBPQ
/* The fleet backend (cs_store_pg.c), chosen by a postgresql:// Database. */
extern const struct cs_store_ops cs_store_pg_ops;
#endif


/* cs_store_display - the Database value fit for a log: passwords masked */
void    cs_store_display(const char *database, char *out, size_t outlen)
{
    const char *p, *at, *colon, *pw;
    size_t  n;

    if (outlen == 0)
	return;
    snprintf(out, outlen, "%s", database ? database : "");
    if (strncmp(out, "postgres", 8) != 0)
	return;
    /* URI form: scheme://user:password@host... */
    if ((p = strstr(out, "://")) != NULL && (at = strchr(p + 3, '@')) != NULL
	&& (colon = memchr(p + 3, ':', (size_t) (at - p - 3))) != NULL) {
	n = strlen(at);
	if ((size_t) (colon + 1 - out) + 3 + n < outlen) {
	    memmove(out + (colon + 1 - out) + 3, at, n + 1);
	    memcpy(out + (colon + 1 - out), "***", 3);
	}
    }
    /* Query or conninfo form: password=... */
    if ((pw = strstr(out, "password=")) != NULL) {
	char   *v = out + (pw - out) + 9;
	size_t  vlen = strcspn(v, "& "), rest = strlen(v + vlen);

	/* Any length, even one character: the value is replaced whole. */
	if (vlen > 0 && (size_t) (v - out) + 3 + rest < outlen) {
	    memmove(v + 3, v + vlen, rest + 1);
	    memcpy(v, "***", 3);
	}
    }
}

/* cs_store_open - open the backend the Database value names */
cs_store *cs_store_open(const char *database, unsigned flags, long timeout_ms,
			        char *err, size_t errlen)
{
    cs_store *st;
    const struct cs_store_ops *ops;

    if (err && errlen)
	*err = 0;
    if (database == NULL || *database == 0) {
	snprintf(err, errlen, "no Database given");
	return NULL;
    }
    if (cs_database_uri(database)) {
#ifdef HAVE_LIBPQ
	ops = &cs_store_pg_ops;
#else
	snprintf(err, errlen, "%s: the PostgreSQL store backend is not built", "Database");
	return NULL;
#endif
    } else
	ops = &cs_store_sqlite_ops;
    if (timeout_ms <= 0)
	timeout_ms = 5000;
    if ((st = calloc(1, sizeof(*st))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    st->ops = ops;
    st->flags = flags;
    st->timeout_ms = timeout_ms;
    strcpy(st->delims, "+");
    pthread_mutex_init(&st->wlock, NULL);
    pthread_mutex_init(&st->qlock, NULL);
    {
	pthread_condattr_t ca;

	/* The writer's commit delay waits on qcond against CLOCK_MONOTONIC. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->qcond, &ca);
	pthread_condattr_destroy(&ca);
    }
    pthread_cond_init(&st->acond, NULL);
    if (ops->open(st, database, flags, timeout_ms, err, errlen) != CS_OK) {
	pthread_cond_destroy(&st->acond);
	pthread_cond_destroy(&st->qcond);
	pthread_mutex_destroy(&st->qlock);
	pthread_mutex_destroy(&st->wlock);
	free(st);
	return NULL;
    }
    if ((flags & CS_STORE_WRITER) && !(flags & CS_STORE_READONLY)
	&& cs_store_writer_start(st) < 0) {
	snprintf(err, errlen, "cannot start the store writer thread");
	cs_store_close(st);
	return NULL;
    }
    return st;
}

/* cs_store_close - drain the queue, stop the writer, close the backend */
void    cs_store_close(cs_store *st)
{
    if (st == NULL)
	return;
    cs_store_writer_stop(st);
    st->ops->close(st);
    pthread_cond_destroy(&st->acond);
    pthread_cond_destroy(&st->qcond);
    pthread_mutex_destroy(&st->qlock);
    pthread_mutex_destroy(&st->wlock);
    free(st);
}

/* cs_store_set_subaddress - delimiters used to normalize participants */
void    cs_store_set_subaddress(cs_store *st, const char *delims)
{
    if (st == NULL)
	return;
    snprintf(st->delims, sizeof(st->delims), "%s", delims ? delims : "");
}

/* cs_store_set_webhook - are events sent at all? (stats) */
void    cs_store_set_webhook(cs_store *st, int configured)
{
    if (st)
	st->events_unsent = !configured;
}

/* events_mode - X3 without a webhook: undelivered events are kept, not pending */
static int events_mode(const cs_store *st, json_t *stats)
{
    json_t *ev = json_object_get(stats, "events");
    json_int_t undelivered = json_integer_value(json_object_get(stats, "events_pending"));
    json_int_t pending = st->events_unsent ? 0 : undelivered;
    json_int_t kept = st->events_unsent ? undelivered : 0;

    if (json_object_set_new(stats, "events_pending", json_integer(pending)) < 0
	|| json_object_set_new(stats, "events_kept", json_integer(kept)) < 0)
	return -1;
    if (ev == NULL)
	return 0;
    undelivered = json_integer_value(json_object_get(ev, "pending"));
    pending = st->events_unsent ? 0 : undelivered;
    kept = st->events_unsent ? undelivered : 0;
    if (json_object_set_new(ev, "webhook", json_boolean(!st->events_unsent)) < 0
	|| json_object_set_new(ev, "pending", json_integer(pending)) < 0
	|| json_object_set_new(ev, "kept", json_integer(kept)) < 0)
	return -1;
    return 0;
}

/* cs_store_joins_thread - T1 lookup without storing (policy, importer) */
int     cs_store_joins_thread(cs_store *st, const char *user, const cs_msginfo *mi)
{
    cs_record rec = {0};
    cs_store_job *job;
    char    why[128];
    int     rc;

    if (st == NULL || user == NULL || mi == NULL)
	return CS_EINVAL;
    /* The same derived keys the writer uses; the message is not yet here. */
    rec.info = mi;
    rec.arrival = time(NULL);
    if ((job = cs_store_job_new(st, &rec, why, sizeof(why))) == NULL)
	return CS_EINTERNAL;
    rc = cs_wt_joins_thread(st, user, job);
    cs_store_job_free(job);
    return rc;
}

/* cs_store_sync_users - make the policy's users known, roles only */
int     cs_store_sync_users(cs_store *st, const char *const *ids, const int *roles, size_t n)
{
    int     rc;

    if (st == NULL || (n && (ids == NULL || roles == NULL)))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    pthread_mutex_lock(&st->wlock);
    rc = cs_users_sync(st, ids, roles, NULL, n);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

/* cs_store_sync_users2 - make the policy's users known, with addresses */
int     cs_store_sync_users2(cs_store *st, const cs_user *const *users, size_t n)
{
    const char **ids = NULL;
    int    *roles = NULL;
    const cs_strlist **addrs = NULL;
    size_t  i;
    int     rc = CS_EINTERNAL;

    if (st == NULL || (n && users == NULL))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if (n && ((ids = calloc(n, sizeof(*ids))) == NULL
	      || (roles = calloc(n, sizeof(*roles))) == NULL
	      || (addrs = calloc(n, sizeof(*addrs))) == NULL))
	goto out;
    for (i = 0; i < n; i++) {
	if (users[i] == NULL || users[i]->id == NULL) {
	    rc = CS_EINVAL;
	    goto out;
	}
	ids[i] = users[i]->id;
	roles[i] = users[i]->role;
	addrs[i] = &users[i]->addresses;
    }
    pthread_mutex_lock(&st->wlock);
    rc = cs_users_sync(st, ids, roles, addrs, n);
    pthread_mutex_unlock(&st->wlock);
out:
    free(ids);
    free(roles);
    free(addrs);
    return rc;
}

/*
 * acting_user - R3, the one check for every CRM-facing call: the acting
 * user must be a user of the policy in force (the last one synced into
 * the store by crmsync-milter's start or reload, or by an import);
 * anyone else gets CS_ENOTFOUND, as for a thing that does not exist.
 */
static int acting_user(cs_store *st, const char *as)
{
    int     r = st->ops->user_active(st, as);

    return r == 1 ? CS_OK : r == 0 ? CS_ENOTFOUND : CS_EINTERNAL;
}

/* cs_store_mailbox_page - the acting user's own threads, newest first (V2) */
int     cs_store_mailbox_page(cs_store *st, const char *as, const char *label, int limit,
			              const char *cursor, cs_page *out)
{
    int     rc;

    if (out) {
	out->json = NULL;
	out->cursor[0] = 0;
    }
    if (st == NULL || as == NULL || out == NULL)
	return CS_EINVAL;
    if ((rc = acting_user(st, as)) != CS_OK)
	return rc;
    if (limit < 0)
	return CS_EINVAL;
    if (limit == 0)
	limit = 50;
    if (limit > 500)
	limit = 500;
    return cs_read_mailbox(st, as, label, limit, cursor, out);
}

/* cs_store_mailbox - the mailbox page as a tree */
int     cs_store_mailbox(cs_store *st, const char *as, const char *label, int limit,
			         const char *cursor, json_t **out)
{
    cs_page p = {0};
    int     rc;

    if (out == NULL)
	return CS_EINVAL;
    rc = cs_store_mailbox_page(st, as, label, limit, cursor, &p);
    *out = p.json;
    return rc;
}

/* cs_store_summaries_fill - up to max threads without a summary get one */
int     cs_store_summaries_fill(cs_store *st, int max)
{
    if (st == NULL || max <= 0 || (st->flags & CS_STORE_READONLY))
	return 0;
    return cs_read_summaries_fill(st, max);
}

/* cs_store_stats - counts for crmsyncctl stats */
int     cs_store_stats(cs_store *st, json_t **out)
{
    json_t *ev = NULL;
    int     rc;

    if (out)
	*out = NULL;
    if (st == NULL || out == NULL)
	return CS_EINVAL;
    rc = cs_read_stats(st, out);
    /* X3: the outbox's counts, when the backend has one. */
    if (rc == CS_OK && cs_events_stats(st, &ev) == CS_OK
	&& json_object_set_new(*out, "events", ev) < 0)
	rc = CS_EINTERNAL;
    if (rc == CS_OK && events_mode(st, *out) < 0)
	rc = CS_EINTERNAL;
    /* The milters' own figures (issue 10), when the backend keeps them. */
    if (rc == CS_OK && st->ops->milter_status_get
	&& st->ops->milter_status_get(st, &ev) == CS_OK
	&& json_object_set_new(*out, "milter", ev) < 0)
	rc = CS_EINTERNAL;
    return rc;
}

/* cs_store_backup - a consistent copy of the store in a file */
int     cs_store_backup(cs_store *st, const char *path, json_t **out, char *err, size_t errlen)
{
    if (out)
	*out = NULL;
    if (err && errlen)
	*err = 0;
    if (st == NULL || path == NULL || *path == 0) {
	snprintf(err, errlen, "no backup file given");
	return CS_EINVAL;
    }
    if (st->ops->backup == NULL) {
	snprintf(err, errlen, "the %s store cannot copy itself; use its own tools",
		 st->ops->name);
	return CS_EINVAL;
    }
    return st->ops->backup(st, path, out, err, errlen);
}

/*
 * ctl_args - common checks of the visibility calls' arguments, then R3;
 * thread (may be NULL) names what a refused acting user is told is not
 * found, in the words the backends use for a thread that is not there.
 */
static int ctl_args(cs_store *st, const char *as, json_t **out, char *err, size_t errlen,
		            const char *thread)
{
    int     rc;

    if (out)
	*out = NULL;
    if (err && errlen)
	*err = 0;
    if (st == NULL || as == NULL || *as == 0)
	return CS_EINVAL;
    if ((rc = acting_user(st, as)) == CS_ENOTFOUND && err && errlen && thread)
	snprintf(err, errlen, "thread %.64s not found", thread);
    return rc;
}

/* cs_store_thread - one visible thread with its messages (V3, V6) */
int     cs_store_thread(cs_store *st, const char *as, const char *thread, json_t **out)
{
    int     rc;

    if (thread == NULL || out == NULL)
	return CS_EINVAL;
    if ((rc = ctl_args(st, as, out, NULL, 0, NULL)) != CS_OK)
	return rc;
    return cs_read_thread(st, as, thread, out);
}

/* cs_store_thread_raw - the raw messages of one's own thread */
int     cs_store_thread_raw(cs_store *st, const char *as, const char *thread,
			            cs_store_raw_fn fn, void *arg)
{
    int     rc;

    if (thread == NULL || fn == NULL)
	return CS_EINVAL;
    if ((rc = ctl_args(st, as, NULL, NULL, 0, NULL)) != CS_OK)
	return rc;
    return cs_read_thread_raw(st, as, thread, fn, arg);
}

/* cs_store_attachment - decoded bytes of a visible thread's attachment n */
int     cs_store_attachment(cs_store *st, const char *as, const char *thread, size_t n,
			            cs_buf *out)
{
    int     rc;

    if (thread == NULL || out == NULL)
	return CS_EINVAL;
    if ((rc = ctl_args(st, as, NULL, NULL, 0, NULL)) != CS_OK)
	return rc;
    if (n == 0)
	return CS_ENOTFOUND;
    return cs_read_attachment(st, as, thread, n, out);
}

/* cs_store_record_page - the threads on a deal's or person's page */
int     cs_store_record_page(cs_store *st, const char *as, const char *kind, const char *id,
			             int limit, const char *cursor, cs_page *out)
{
    int     rc;

    if (out) {
	out->json = NULL;
	out->cursor[0] = 0;
    }
    if (kind == NULL || id == NULL || out == NULL
	|| (strcmp(kind, "deal") != 0 && strcmp(kind, "person") != 0) || limit < 0)
	return CS_EINVAL;
    if ((rc = ctl_args(st, as, NULL, NULL, 0, NULL)) != CS_OK)
	return rc;
    if (limit == 0)
	limit = 50;
    if (limit > 500)
	limit = 500;
    return cs_read_record_threads(st, as, kind, id, limit, cursor, out);
}

/* cs_store_record_threads - a record's page as a tree */
int     cs_store_record_threads(cs_store *st, const char *as, const char *kind, const char *id,
				        int limit, const char *cursor, json_t **out)
{
    cs_page p = {0};
    int     rc;

    if (out == NULL)
	return CS_EINVAL;
    rc = cs_store_record_page(st, as, kind, id, limit, cursor, &p);
    *out = p.json;
    return rc;
}

/* cs_store_threads_set - share, make private or delete threads (V4) */
int     cs_store_threads_set(cs_store *st, const char *as, int action,
			             const char *const *threads, size_t n, json_t **out,
			             char *err, size_t errlen)
{
    int     rc;

    if (st == NULL || as == NULL || *as == 0 || out == NULL || (n && threads == NULL)
	|| action < CS_THREADS_SHARE || action > CS_THREADS_DELETE)
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    /* n == 0: the backend's own bad-input answer. */
    if (n && (rc = ctl_args(st, as, out, err, errlen, threads[0])) != CS_OK)
	return rc;
    rc = cs_act_threads_set(st, as, action, threads, n, out, err, errlen);
    /* R2: a deleted thread's bytes leave the store's pages and WAL too. */
    if (rc == CS_OK && action == CS_THREADS_DELETE && st->ops->scrub
	&& st->ops->scrub(st) != CS_OK)
	cs_error(NULL, "store: scrub after delete failed: deleted bytes may remain"
		 " in free pages until the next scrub");
    return rc;
}

/* cs_store_link - link or unlink a thread by hand (T3, V4) */
int     cs_store_link(cs_store *st, const char *as, const char *thread, const char *kind,
		              const char *id, int unlink, json_t **out, char *err, size_t errlen)
{
    int     rc;

    if (st == NULL || out == NULL || thread == NULL || id == NULL || kind == NULL
	|| (strcmp(kind, "deal") != 0 && strcmp(kind, "person") != 0))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if ((rc = ctl_args(st, as, out, err, errlen, thread)) != CS_OK)
	return rc;
    return cs_act_link(st, as, thread, kind, id, unlink, out, err, errlen);
}

/* cs_store_contact_create - K3, K5: a person from a participant of one's thread */
int     cs_store_contact_create(cs_store *st, const char *as, const char *thread,
				        const char *address, const char *name, json_t **out,
				        char *err, size_t errlen)
{
    int     rc;

    if (st == NULL || out == NULL || thread == NULL || address == NULL)
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if ((rc = ctl_args(st, as, out, err, errlen, thread)) != CS_OK)
	return rc;
    return cs_act_contact_create(st, as, thread, address, name, out, err, errlen);
}

/* cs_store_directory_import - X2: replace the CRM directory atomically */
int     cs_store_directory_import(cs_store *st, json_t *snapshot, json_t **out,
				          char *err, size_t errlen)
{
    if (out)
	*out = NULL;
    if (err && errlen)
	*err = 0;
    if (st == NULL || snapshot == NULL || out == NULL)
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    return cs_dir_import(st, snapshot, out, err, errlen);
}

/* cs_store_outbox_open - the event sender's own connection (X3) */
cs_outbox *cs_store_outbox_open(cs_store *st, const char *holder, char *err, size_t errlen)
{
    if (st == NULL || holder == NULL || st->ops->outbox_open == NULL) {
	snprintf(err, errlen, "this store has no event outbox");
	return NULL;
    }
    return st->ops->outbox_open(st, holder, err, errlen);
}

/* cs_store_outbox_close - release the lease and the connection */
void    cs_store_outbox_close(cs_outbox *ob)
{
    if (ob)
	ob->ops->outbox_close(ob);
}

/* cs_store_outbox_claim - the next events due, in order per thread */
int     cs_store_outbox_claim(cs_outbox *ob, time_t now, size_t max, size_t max_bytes,
			              cs_event **out, size_t *n)
{
    if (out)
	*out = NULL;
    if (n)
	*n = 0;
    if (ob == NULL || out == NULL || n == NULL)
	return CS_EINVAL;
    return ob->ops->outbox_claim(ob, now, max, max_bytes, out, n);
}

/* cs_store_outbox_settle - a delivery's outcome for its events */
int     cs_store_outbox_settle(cs_outbox *ob, const cs_event *ev, size_t n, int outcome,
			               time_t when, const char *error)
{
    if (ob == NULL || (n && ev == NULL) || outcome < CS_EVENT_DELIVERED
	|| outcome > CS_EVENT_PARKED)
	return CS_EINVAL;
    if (n == 0)
	return CS_OK;
    return ob->ops->outbox_settle(ob, ev, n, outcome, when, error);
}

/* cs_store_outbox_prune - forget delivered events past retention */
int     cs_store_outbox_prune(cs_outbox *ob, time_t sent_before, time_t any_before)
{
    if (ob == NULL)
	return CS_EINVAL;
    return ob->ops->outbox_prune(ob, sent_before, any_before);
}

/* cs_store_events_free - release claimed events */
void    cs_store_events_free(cs_event *ev, size_t n)
{
    if (ev == NULL)
	return;
    for (size_t i = 0; i < n; i++) {
	free(ev[i].id);
	free(ev[i].type);
	free(ev[i].body);
    }
    free(ev);
}

/* cs_store_events_retry - parked events back to pending (events retry) */
int     cs_store_events_retry(cs_store *st, long *n)
{
    int     rc;

    if (n)
	*n = 0;
    if (st == NULL || n == NULL)
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    pthread_mutex_lock(&st->wlock);
    rc = cs_events_retry(st, n);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

/* cs_store_events_stats - the outbox's counts */
int     cs_store_events_stats(cs_store *st, json_t **out)
{
    if (out)
	*out = NULL;
    if (st == NULL || out == NULL)
	return CS_EINVAL;
    return cs_events_stats(st, out);
}

/* cs_store_milter_status_put - one host's milter status, if the writer is free */
int     cs_store_milter_status_put(cs_store *st, const char *host, time_t now, json_t *status)
{
    char   *text;
    int     rc;

    if (st == NULL || host == NULL || *host == 0 || strlen(host) > 255
	|| !json_is_object(status))
	return CS_EINVAL;
    if ((st->flags & CS_STORE_READONLY) || st->ops->milter_status_put == NULL)
	return CS_EINTERNAL;
    if ((text = json_dumps(status, JSON_COMPACT)) == NULL)
	return CS_EINTERNAL;
    /* Mail first: a group commit in progress means skip this round. */
    if (pthread_mutex_trylock(&st->wlock) != 0) {
	free(text);
	return CS_EINTERNAL;
    }
    rc = st->ops->milter_status_put(st, host, now, text);
    pthread_mutex_unlock(&st->wlock);
    free(text);
    return rc;
}

/* cs_store_milter_status - every host's milter status */
int     cs_store_milter_status(cs_store *st, json_t **out)
{
    if (out)
	*out = NULL;
    if (st == NULL || out == NULL)
	return CS_EINVAL;
    if (st->ops->milter_status_get == NULL)
	return CS_EINTERNAL;
    return st->ops->milter_status_get(st, out);
}
