/*
 * NAME
 *	cs_store_writer 3
 * SUMMARY
 *	the group-commit queue and the writer thread
 * DESCRIPTION
 *	cs_store_record() turns the caller's cs_record into a job
 *	(cs_store_job.c) and either runs it inline (no CS_STORE_WRITER:
 *	crmsyncctl import) or queues it for the writer thread, which takes
 *	queued jobs in arrival order into one transaction, up to
 *	CS_STORE_GROUP_MAX jobs and CS_STORE_GROUP_BYTES of raw content (so
 *	that one group's commit stays well below StoreTimeout). Both paths
 *	call the same backend write_group().
 *
 *	Waiting is bounded: the caller waits on its job's condition variable
 *	(CLOCK_MONOTONIC) at most timeout_ms, then detaches; the job is
 *	reference-counted so whichever of caller and writer finishes last
 *	frees it. A job whose waiter timed out stays queued and is committed
 *	like any other (debug: "recorded late"); cs_store_close() drains the
 *	queue first. A group that fails as a whole (busy, full, I/O) is
 *	dropped, not retried: its waiters get CS_EINTERNAL and the milter
 *	accepts the mail and logs it (C1).
 *
 *	Bulk capture (crmsyncctl import): cs_store_submit() queues a job
 *	with a callback instead of a waiter and returns; the writer calls
 *	the callback once the job's group committed or failed, then frees
 *	the job. The submitter waits only for room (a bound on submitted
 *	jobs not yet done and on their raw bytes), so a single caller keeps
 *	whole groups queued; with CS_STORE_BULK a group is up to
 *	CS_STORE_BULK_GROUP_MAX jobs. cs_store_drain() waits for the last
 *	callback.
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
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_thread.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"

/*
 * While the store is down every record fails: say so once a minute (C1);
 * the backend logs why. What became of each record whose waiter timed
 * out is logged per record at debug level, or under the same limit.
 */
static cs_ratelimit store_fail_log;

/* job_unref - drop one reference; qlock held */
static void job_unref(cs_store_job *job)
{
    if (--job->refs == 0)
	cs_store_job_free(job);
}

/* ms_since - milliseconds from t0 to now on CLOCK_MONOTONIC */
static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long) ((now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* writer_take - unlink the next group from the queue; qlock held */
static size_t writer_take(cs_store *st, cs_store_job **group, uint64_t *bytes)
{
    cs_store_job **pp = &st->qhead, *job, *kept = NULL;
    uint64_t budget = st->group_bytes ? st->group_bytes : CS_STORE_GROUP_BYTES;
    uint64_t sum = 0;
    size_t  n = 0, max = (st->flags & CS_STORE_BULK) ? CS_STORE_BULK_GROUP_MAX
	: CS_STORE_GROUP_MAX;

    /*
     * Arrival order, closed at CS_STORE_GROUP_MAX jobs
     * (CS_STORE_BULK_GROUP_MAX for a bulk load) or when the raw
     * bytes would pass CS_STORE_GROUP_BYTES. The head always goes, so
     * every group makes progress and a record bigger than the budget is
     * a group of its own. A job that does not fit stays (it heads a
     * later group) while smaller ones behind it may still fit: a 4 KB
     * message waits for the group being committed, not for a backlog of
     * big ones.
     */
    while ((job = *pp) != NULL && n < max && sum < budget) {
	if (n > 0 && job->raw_size > budget - sum) {
	    kept = job;
	    pp = &job->next;
	    continue;
	}
	*pp = job->next;
	job->next = NULL;
	group[n++] = job;
	sum += job->raw_size;
    }
    if (job == NULL)
	st->qtail = kept;			/* the scan reached the end */
    st->qlen -= n;
    st->qbytes -= sum;
    *bytes = sum;
    return n;
}

/* deadline - now + ms on CLOCK_MONOTONIC */
static void deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
	ts->tv_sec++;
	ts->tv_nsec -= 1000000000L;
    }
}

/*
 * commit_delay - wait for the records on their way (qlock held). A
 * group's commit (its WAL pages and one fdatasync) costs about as much
 * CPU as the records in it, and a busy MTA's messages arrive one at a
 * time: the writer woke for each and committed groups of one or two.
 * While other records are expected (messages past their end of headers
 * that will be recorded), wait for them up to StoreCommitDelay; stop as
 * soon as none is expected, the group is full (CS_STORE_GROUP_MAX, its
 * bytes) or the store stops. Nothing expected: no wait. Bulk loads
 * (import, replay) fill their groups themselves.
 */
static void commit_delay(cs_store *st)
{
    long    ms = atomic_load(&st->commit_delay_ms);
    uint64_t budget = st->group_bytes ? st->group_bytes : CS_STORE_GROUP_BYTES;
    struct timespec ts;

    if (ms <= 0 || (st->flags & CS_STORE_BULK) || atomic_load(&st->expecting) <= 0)
	return;
    deadline(&ts, ms);
    while (!st->stopping && atomic_load(&st->expecting) > 0
	   && st->qlen < CS_STORE_GROUP_MAX && st->qbytes < budget)
	if (pthread_cond_timedwait(&st->qcond, &st->qlock, &ts) == ETIMEDOUT)
	    break;
}

/* writer_report - what became of jobs whose waiter gave up; qlock held */
static void writer_report(cs_store_job **group, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	if (!group[i]->detached)
	    continue;
	/*
	 * capture.c said "could not record" for these (once a minute):
	 * what became of each, per record only at debug level, so that a
	 * store that was down does not log a line per message (C1).
	 */
	if (group[i]->rc == CS_OK)
	    cs_debug(group[i]->queue_id, "store: recorded late, %ld ms after it was queued"
		    " (its end-of-message was answered unrecorded at StoreTimeout)",
		    ms_since(&group[i]->queued));
	else
	    cs_log_limited(&store_fail_log, 60, CS_LOG_ERROR, group[i]->queue_id,
			   "store: record not stored (its waiter had timed out)");
    }
}

/*
 * write_group - a group in one transaction, first without a savepoint per
 * record: in SQLite a savepoint copies every page its record first
 * changes into a sub-journal (about 8 % of the writer's instructions at
 * five copies a record, tests/bench/HISTORY.md), in PostgreSQL it costs
 * two round trips. When one record fails alone, the backend rolls the
 * group back and it is written again, a savepoint per record, so the
 * others commit without it. Under st->wlock.
 */
static int write_group(cs_store *st, cs_store_job **jobs, size_t n)
{
    int     rc = st->ops->write_group(st, jobs, n, 0);

    if (rc == CS_STORE_AGAIN)
	rc = st->ops->write_group(st, jobs, n, 1);
    if (rc == CS_STORE_AGAIN)
	rc = CS_EINTERNAL;
    /* A record that failed in a group that committed without it. */
    for (size_t i = 0; i < n; i++)
	jobs[i]->alone = rc == CS_OK && jobs[i]->rc != CS_OK;
    return rc;
}

/*
 * write_fenced - write a group, but not the records of a stream whose
 * fence is up (an earlier record of theirs failed: they fail unwritten,
 * none overtakes it); a record of a stream that fails raises its fence.
 */
static int write_fenced(cs_store *st, cs_store_job **group, size_t n, cs_store_job **live,
			        size_t *written)
{
    size_t  i, m = 0;
    int     rc = CS_OK;

    for (i = 0; i < n; i++) {
	if (group[i]->fence != NULL && atomic_load(group[i]->fence))
	    group[i]->rc = CS_EINTERNAL;
	else
	    live[m++] = group[i];
    }
    if (m > 0) {
	pthread_mutex_lock(&st->wlock);
	rc = write_group(st, live, m);
	pthread_mutex_unlock(&st->wlock);
    }
    for (i = 0; i < n; i++)
	if (group[i]->fence != NULL && group[i]->rc != CS_OK)
	    atomic_store(group[i]->fence, 1);
    *written = m;
    return rc;
}

/* writer_main - commit queued jobs in groups, one transaction each */
static void *writer_main(void *arg)
{
    cs_store *st = arg;
    cs_store_job *group[CS_STORE_BULK_GROUP_MAX > CS_STORE_GROUP_MAX
			 ? CS_STORE_BULK_GROUP_MAX : CS_STORE_GROUP_MAX];
    cs_store_job *live[sizeof(group) / sizeof(group[0])];
    struct timespec t0;
    uint64_t bytes;
    size_t  n, i, written;
    long    ms;
    int     rc;

    pthread_mutex_lock(&st->qlock);
    for (;;) {
	while (st->qhead == NULL && !st->stopping)
	    pthread_cond_wait(&st->qcond, &st->qlock);
	if (st->qhead == NULL && st->stopping)
	    break;
	commit_delay(st);
	if (st->qhead == NULL)
	    continue;				/* taken back meanwhile */
	n = writer_take(st, group, &bytes);
	st->group_running = 1;
	clock_gettime(CLOCK_MONOTONIC, &st->group_t0);
	st->group_raw = bytes;
	pthread_mutex_unlock(&st->qlock);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = write_fenced(st, group, n, live, &written);
	ms = ms_since(&t0);
	if (written == 0)
	    cs_debug(NULL, "store: %zu record(s) behind a failed one of their stream, not written",
		     n);
	else if (rc != CS_OK)
	    cs_log_limited(&store_fail_log, 60, CS_LOG_ERROR, group[0]->queue_id,
			   "store: group of %zu record(s) not stored", n);
	else
	    cs_debug(NULL, "store: group of %zu record(s), %llu KB, committed in %ld ms",
		     n, (unsigned long long) (bytes >> 10), ms);

	/* Submitted records have no waiter: their callbacks, outside qlock. */
	for (i = 0; i < n; i++)
	    if (group[i]->notify)
		group[i]->notify(group[i]->notify_arg, group[i]->rc, group[i]->results);

	pthread_mutex_lock(&st->qlock);
	st->group_running = 0;
	if (rc == CS_OK && written > 0)
	    st->groups_done++;
	writer_report(group, n);
	for (i = 0; i < n; i++) {
	    if (group[i]->notify) {
		st->async_n--;
		st->async_bytes -= group[i]->raw_size;
		pthread_cond_broadcast(&st->acond);
	    }
	    group[i]->done = 1;
	    pthread_cond_signal(&group[i]->cond);
	    job_unref(group[i]);
	}
    }
    pthread_mutex_unlock(&st->qlock);
    return NULL;
}

/* queue_push - append a job to the writer's queue and wake it (qlock held) */
static void queue_push(cs_store *st, cs_store_job *job)
{
    clock_gettime(CLOCK_MONOTONIC, &job->queued);
    if (st->qtail)
	st->qtail->next = job;
    else
	st->qhead = job;
    st->qtail = job;
    st->qlen++;
    st->qbytes += job->raw_size;
    pthread_cond_signal(&st->qcond);
}

static int record_wait(cs_store *, const cs_record *, long, long, int *, cs_store_wait *);

/* queue_withdraw - take a job the writer has not started on out of the
 * queue; 1 if it was there. qlock held. */
static int queue_withdraw(cs_store *st, cs_store_job *job)
{
    cs_store_job **pp, *prev = NULL;

    for (pp = &st->qhead; *pp != NULL; prev = *pp, pp = &(*pp)->next)
	if (*pp == job) {
	    *pp = job->next;
	    if (st->qtail == job)
		st->qtail = prev;
	    job->next = NULL;
	    st->qlen--;
	    st->qbytes -= job->raw_size;
	    job_unref(job);			/* the queue's reference */
	    return 1;
	}
    return 0;
}

/* cs_store_record - store a record's copies; wait at most timeout_ms */
int     cs_store_record(cs_store *st, const cs_record *rec, long timeout_ms, int *results)
{
    return record_wait(st, rec, timeout_ms, timeout_ms, results, NULL);
}

/* cs_store_record_wait - the same; stuck: taken back if not started */
int     cs_store_record_wait(cs_store *st, const cs_record *rec, long wait_ms,
			             long timeout_ms, int *results, cs_store_wait *w)
{
    int     keep = w->keep_queued;

    memset(w, 0, sizeof(*w));
    w->keep_queued = keep;
    return record_wait(st, rec, wait_ms, timeout_ms, results, w);
}

/* cs_store_set_commit_delay - StoreCommitDelay; 0: commit at once */
void    cs_store_set_commit_delay(cs_store *st, long ms)
{
    if (st)
	atomic_store(&st->commit_delay_ms, ms > 0 ? ms : 0);
}

/* cs_store_expect - a record is on its way */
void    cs_store_expect(cs_store *st)
{
    if (st)
	atomic_fetch_add(&st->expecting, 1);
}

/*
 * cs_store_arrived - an expected record is about to be queued (its push
 * wakes the writer), or will not come: then the writer, if it waits for
 * nothing else, is woken to commit now.
 */
void    cs_store_arrived(cs_store *st, int queued)
{
    if (st == NULL)
	return;
    if (atomic_fetch_sub(&st->expecting, 1) == 1 && !queued && st->writer_started) {
	pthread_mutex_lock(&st->qlock);
	pthread_cond_signal(&st->qcond);
	pthread_mutex_unlock(&st->qlock);
    }
}

/* cs_store_groups - groups the writer has committed so far */
uint64_t cs_store_groups(cs_store *st)
{
    uint64_t n;

    if (st == NULL)
	return 0;
    pthread_mutex_lock(&st->qlock);
    n = st->groups_done;
    pthread_mutex_unlock(&st->qlock);
    return n;
}

/*
 * writer_moving - is the writer getting on (slow, not stuck)? qlock held.
 * A group finished since groups0, or the one being written has not yet
 * taken longer than a commit of its size should: 100 ms and 20 MB/s, a
 * slow disk's pace, so that a large message committing is not "stuck"
 * while a lock or a dead connection is found within a StoreWait or two.
 */
static int writer_moving(const cs_store *st, uint64_t groups0)
{
    if (st->groups_done != groups0 || !st->group_running)
	return 1;
    return ms_since(&st->group_t0) < 100 + (long) (st->group_raw / 20000);
}

/* record_wait - cs_store_record, and with w the journal's variant */
static int record_wait(cs_store *st, const cs_record *rec, long wait_ms, long timeout_ms,
		               int *results, cs_store_wait *w)
{
    cs_store_job *job;
    char    why[128];
    struct timespec ts, total;
    uint64_t groups0, groups_start;
    int     rc, e = 0;

    if (st == NULL || !cs_store_record_valid(rec))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if (results)
	for (size_t i = 0; i < rec->ncopies; i++)
	    results[i] = 0;
    if (rec->ncopies == 0 && rec->ncontacts == 0)
	return CS_OK;
    if ((job = cs_store_job_new(st, rec, why, sizeof(why))) == NULL) {
	cs_error(rec->queue_id, "store: %s", why);
	return CS_EINTERNAL;
    }
    if (!st->writer_started) {
	/* Inline (crmsyncctl): the same group code, a group of one. */
	pthread_mutex_lock(&st->wlock);
	rc = write_group(st, &job, 1);
	pthread_mutex_unlock(&st->wlock);
	if (w != NULL)
	    w->refused = job->alone;
	rc = job->rc;
	if (results)
	    memcpy(results, job->results, rec->ncopies * sizeof(int));
	cs_store_job_free(job);
	return rc;
    }
    if (timeout_ms <= 0)
	timeout_ms = st->timeout_ms;
    if (wait_ms <= 0 || wait_ms > timeout_ms)
	wait_ms = timeout_ms;
    deadline(&total, timeout_ms);
    pthread_mutex_lock(&st->qlock);
    if (st->stopping || st->qlen >= CS_STORE_QUEUE_MAX) {
	/* The writer is far behind: waiting would only delay mail. */
	pthread_mutex_unlock(&st->qlock);
	cs_store_job_free(job);
	cs_log_limited(&store_fail_log, 60, CS_LOG_ERROR, rec->queue_id,
		       "store: writer queue full, record not stored");
	return CS_EINTERNAL;
    }
    job->refs = 2;				/* queue and this caller */
    queue_push(st, job);
    groups_start = st->groups_done;
    /* Steps of wait_ms up to timeout_ms while the writer gets on. */
    for (;;) {
	deadline(&ts, wait_ms);
	if (ts.tv_sec > total.tv_sec || (ts.tv_sec == total.tv_sec && ts.tv_nsec > total.tv_nsec))
	    ts = total;
	groups0 = st->groups_done;
	e = 0;
	while (!job->done && e != ETIMEDOUT)
	    e = pthread_cond_timedwait(&job->cond, &st->qlock, &ts);
	if (job->done || w == NULL || (ts.tv_sec == total.tv_sec && ts.tv_nsec == total.tv_nsec))
	    break;
	/* keep_queued: "stuck" only after a whole timeout_ms without a group. */
	if (!w->keep_queued && !writer_moving(st, groups0))
	    break;
    }
    if (job->done) {
	rc = job->rc;
	if (w != NULL)
	    w->refused = job->alone;
	if (results)
	    memcpy(results, job->results, rec->ncopies * sizeof(int));
    } else if (w != NULL) {
	/* The caller journals it (C6): the writer must not store it too. */
	rc = CS_EINTERNAL;
	w->timed_out = 1;
	w->progress = writer_moving(st, groups0)
	    || (w->keep_queued && st->groups_done != groups_start);
	if (w->keep_queued && w->progress) {
	    job->detached = 1;			/* the writer still stores it */
	    w->queued = 1;
	} else if (!queue_withdraw(st, job))
	    job->detached = 1;			/* in a group now: T2 dedups */
    } else {
	/* The writer still commits it and logs "recorded late" then. */
	rc = CS_EINTERNAL;
	job->detached = 1;
	cs_log_limited(&store_fail_log, 60, CS_LOG_ERROR, rec->queue_id,
		       "store: no commit within %ld ms; the record stays queued:"
		       " the writer still stores it", timeout_ms);
    }
    job_unref(job);
    pthread_mutex_unlock(&st->qlock);
    return rc;
}

/* cs_store_submit - queue a record for the writer; done() reports its commit */
int     cs_store_submit(cs_store *st, const cs_record *rec, size_t max_pending,
			        cs_store_done_fn done, void *arg)
{
    return cs_store_submit_fenced(st, rec, max_pending, done, arg, NULL);
}

/* cs_store_submit_fenced - the same, for an ordered stream (see cs_store.h) */
int     cs_store_submit_fenced(cs_store *st, const cs_record *rec, size_t max_pending,
			               cs_store_done_fn done, void *arg, atomic_int *fence)
{
    cs_store_job *job;
    char    why[128];
    uint64_t budget;

    if (st == NULL || done == NULL || !cs_store_record_valid(rec))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if ((job = cs_store_job_new(st, rec, why, sizeof(why))) == NULL) {
	cs_error(rec->queue_id, "store: %s", why);
	return CS_EINTERNAL;
    }
    job->fence = fence;
    if (!st->writer_started || (rec->ncopies == 0 && rec->ncontacts == 0)) {
	/* Inline: the same group code, a group of one, reported at once. */
	if (rec->ncopies || rec->ncontacts) {
	    cs_store_job *live[1];
	    size_t  written;

	    (void) write_fenced(st, &job, 1, live, &written);
	} else
	    job->rc = CS_OK;
	done(arg, job->rc, job->results);
	cs_store_job_free(job);
	return CS_OK;
    }
    /*
     * Room: a bounded number of records and about one group's raw bytes
     * in flight. That bounds the caller's memory and open spool files,
     * and still lets the writer find a whole group queued each time.
     */
    if (max_pending < 1)
	max_pending = 1;
    if (max_pending > CS_STORE_QUEUE_MAX)
	max_pending = CS_STORE_QUEUE_MAX;
    budget = st->group_bytes ? st->group_bytes : CS_STORE_GROUP_BYTES;
    pthread_mutex_lock(&st->qlock);
    while (!st->stopping && st->async_n > 0
	   && (st->async_n >= max_pending || st->async_bytes + job->raw_size > budget))
	pthread_cond_wait(&st->acond, &st->qlock);
    if (st->stopping) {
	pthread_mutex_unlock(&st->qlock);
	cs_store_job_free(job);
	return CS_EINTERNAL;
    }
    job->notify = done;
    job->notify_arg = arg;
    job->refs = 1;				/* the queue's only */
    st->async_n++;
    st->async_bytes += job->raw_size;
    queue_push(st, job);
    pthread_mutex_unlock(&st->qlock);
    return CS_OK;
}

/* cs_store_drain - wait until every submitted record is done */
void    cs_store_drain(cs_store *st)
{
    if (st == NULL || !st->writer_started)
	return;
    pthread_mutex_lock(&st->qlock);
    while (st->async_n > 0)
	pthread_cond_wait(&st->acond, &st->qlock);
    pthread_mutex_unlock(&st->qlock);
}

/* cs_store_writer_start - the writer thread of a store opened with CS_STORE_WRITER */
int     cs_store_writer_start(cs_store *st)
{
    if (cs_thread_create(&st->writer, writer_main, st) != 0)
	return -1;
    st->writer_started = 1;
    return 0;
}

/* cs_store_writer_stop - commit what is queued, then stop the writer */
void    cs_store_writer_stop(cs_store *st)
{
    if (!st->writer_started)
	return;
    pthread_mutex_lock(&st->qlock);
    st->stopping = 1;
    /* A stop that is killed meanwhile loses these: say how many. */
    if (st->qlen > 0)
	cs_info(NULL, "store: stopping: committing %zu queued record(s) first", st->qlen);
    pthread_cond_signal(&st->qcond);
    pthread_mutex_unlock(&st->qlock);
    pthread_join(st->writer, NULL);
}
