/*
 * NAME
 *	journal 3
 * SUMMARY
 *	the milter's local journal: breaker, records in and out, replay (C6)
 * DESCRIPTION
 *	See journal.h; the segment format is lib/cs_journal. A journal
 *	record's fields are a cs_record without its parsed header fields
 *	(the header block is kept and parsed again at replay, by the same
 *	parser) and without the raw message, which is the record's body,
 *	streamed from the message's spool and back into a new one (in memory
 *	as SpoolThreshold and SpoolMemory allow, the rest in SpoolDir), so a
 *	large message costs no more memory journaled than stored.
 *
 *	Fields, in order: u32 version, str queue id, i64 arrival, str
 *	source, str envelope sender, str body digest, u8 truncated, str
 *	header block, u32 copies {str user, u8 direction, u8 conditional,
 *	list labels, list envelope recipients}, u32 contacts {str owner,
 *	str address, str name}. A str is u32 length, the bytes and a NUL
 *	(0xffffffff: NULL); a list is u32 count and its strs.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

/* Utility library. */
#include "cs_journal.h"
#include "cs_log.h"
#include "cs_thread.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_util.h"

/* Application-specific. */
#include "counters.h"
#include "journal.h"

#define JNL_VERSION	1
#define JNL_WINDOW	64		/* records in flight per replay round */
#define JNL_LOG_INTERVAL 60		/* each failure logged once per minute */
#define JNL_PAUSE_MIN	1000		/* ms before a failed round is tried again */
#define JNL_PAUSE_MAX	5000
#define JNL_REJECT_AFTER 5		/* attempts before a refused record is set aside */
#define JNL_STATUS_EVERY 2		/* seconds between status files */

static cs_journal *jnl;
static cs_store *(*jnl_get_store) (void);
static atomic_int jnl_open;		/* the breaker: 1 while the store is stuck */
static pthread_t jnl_thread, jnl_status_thread;
static int jnl_status_started;
static atomic_int jnl_stopping;
static char *jnl_dir;
static char *jnl_spool_dir;
static size_t jnl_spool_threshold;

/* Figures for stats, under jnl_stat_lock. */
static pthread_mutex_t jnl_stat_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long jnl_journaled, jnl_replayed, jnl_drops, jnl_damaged, jnl_replay_fail;
static unsigned long jnl_late_n, jnl_rejected;
static double jnl_rate;			/* records/s over the last busy rounds */
static char jnl_last_error[512];
static time_t jnl_last_error_at;

static _Thread_local char put_err[256];	/* this thread's last refusal */
static cs_ratelimit drop_log, damage_log, replay_log, trip_log, refuse_log, late_log;
static cs_ratelimit reject_log, status_log;

/* stat_add - count under the lock */
static void stat_add(unsigned long *which, unsigned long n)
{
    pthread_mutex_lock(&jnl_stat_lock);
    *which += n;
    pthread_mutex_unlock(&jnl_stat_lock);
}

/* stat_error - remember the last failure for stats */
static void stat_error(const char *what)
{
    pthread_mutex_lock(&jnl_stat_lock);
    snprintf(jnl_last_error, sizeof(jnl_last_error), "%s", what);
    jnl_last_error_at = time(NULL);
    pthread_mutex_unlock(&jnl_stat_lock);
}

/* ---------------------------------------------------------------- encoding */

/* put_u32, put_i64, put_str, put_list - append a field */
static int put_u32(cs_buf *b, uint32_t v)
{
    unsigned char p[4];

    for (int i = 0; i < 4; i++)
	p[i] = (unsigned char) (v >> (8 * i));
    return cs_buf_append(b, p, 4);
}

static int put_i64(cs_buf *b, int64_t v)
{
    return put_u32(b, (uint32_t) ((uint64_t) v & 0xffffffffu))
	| put_u32(b, (uint32_t) ((uint64_t) v >> 32));
}

static int put_strn(cs_buf *b, const char *s, size_t n)
{
    if (s == NULL)
	return put_u32(b, 0xffffffffu);
    if (n >= 0xffffffffu)
	return -1;
    return put_u32(b, (uint32_t) n) | cs_buf_append(b, s, n) | cs_buf_append(b, "", 1);
}

static int put_str(cs_buf *b, const char *s)
{
    return put_strn(b, s, s ? strlen(s) : 0);
}

static int put_list(cs_buf *b, const cs_strlist *l)
{
    size_t  n = l ? l->n : 0;
    int     rc = put_u32(b, (uint32_t) n);

    for (size_t i = 0; i < n && rc == 0; i++)
	rc = put_str(b, l->v[i]);
    return rc;
}

/* encode - a record's fields */
static int encode(cs_buf *b, const cs_record *rec, const char *hdr, size_t hdrlen)
{
    int     rc;

    rc = put_u32(b, JNL_VERSION) | put_str(b, rec->queue_id) | put_i64(b, rec->arrival)
	| put_str(b, rec->source) | put_str(b, rec->env_from) | put_str(b, rec->body_digest)
	| put_u32(b, rec->truncated ? 1 : 0) | put_strn(b, hdr ? hdr : "", hdr ? hdrlen : 0)
	| put_u32(b, (uint32_t) rec->ncopies);
    for (size_t i = 0; i < rec->ncopies && rc == 0; i++) {
	const cs_copy *c = &rec->copies[i];

	rc = put_str(b, c->user) | put_u32(b, (uint32_t) c->direction)
	    | put_u32(b, c->conditional ? 1 : 0) | put_list(b, c->labels)
	    | put_list(b, c->env_rcpts);
    }
    rc |= put_u32(b, (uint32_t) rec->ncontacts);
    for (size_t i = 0; i < rec->ncontacts && rc == 0; i++)
	rc = put_str(b, rec->contacts[i].owner) | put_str(b, rec->contacts[i].address)
	    | put_str(b, rec->contacts[i].name);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- decoding */

typedef struct jdec {
    const char *p;
    size_t  left;
    int     bad;
} jdec;

static uint32_t get_u32(jdec *d)
{
    const unsigned char *p = (const unsigned char *) d->p;
    uint32_t v;

    if (d->bad || d->left < 4) {
	d->bad = 1;
	return 0;
    }
    v = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
    d->p += 4;
    d->left -= 4;
    return v;
}

static int64_t get_i64(jdec *d)
{
    uint64_t lo = get_u32(d), hi = get_u32(d);

    return (int64_t) (lo | hi << 32);
}

/* get_str - a pointer into the fields (NUL-terminated there), len in *n */
static const char *get_strn(jdec *d, size_t *n)
{
    uint32_t len = get_u32(d);
    const char *s;

    *n = 0;
    if (d->bad || len == 0xffffffffu)
	return NULL;
    if ((size_t) len >= d->left || d->p[len] != 0) {
	d->bad = 1;
	return NULL;
    }
    s = d->p;
    d->p += (size_t) len + 1;
    d->left -= (size_t) len + 1;
    *n = len;
    return s;
}

static const char *get_str(jdec *d)
{
    size_t  n;
    const char *s = get_strn(d, &n);

    /* Text fields hold no NUL: one inside is damage. */
    if (s && strlen(s) != n)
	d->bad = 1;
    return s;
}

static void get_list(jdec *d, cs_strlist *l)
{
    uint32_t n = get_u32(d);

    /* Each entry takes at least 5 bytes: a count beyond that is damage. */
    if (d->bad || n > d->left / 5) {
	d->bad = 1;
	return;
    }
    for (uint32_t i = 0; i < n && !d->bad; i++) {
	const char *s = get_str(d);

	if (s == NULL || cs_strlist_add(l, s) < 0)
	    d->bad = 1;
    }
}

/* A record decoded for replay; strings point into the fields. */
typedef struct jmsg {
    cs_record rec;
    cs_msginfo info;
    int     have_info;
    const char *hdr;
    size_t  hdrlen;
    cs_copy *copies;
    cs_strlist *lists;			/* labels and recipients, 2 per copy */
    cs_contact *contacts;
} jmsg;

static void jmsg_free(jmsg *m)
{
    for (size_t i = 0; m->lists && i < 2 * m->rec.ncopies; i++)
	cs_strlist_free(&m->lists[i]);
    free(m->lists);
    free(m->copies);
    free(m->contacts);
    if (m->have_info)
	cs_msginfo_free(&m->info);
    if (m->rec.raw)
	cs_spool_unref(m->rec.raw);
    memset(m, 0, sizeof(*m));
}

/* decode - fields to a record (raw not yet read); -1 on damage */
static int decode(const char *fields, size_t flen, jmsg *m)
{
    jdec    d = {fields, flen, 0};
    uint32_t n;

    memset(m, 0, sizeof(*m));
    if (get_u32(&d) != JNL_VERSION)
	return -1;
    m->rec.queue_id = get_str(&d);
    m->rec.arrival = (time_t) get_i64(&d);
    m->rec.source = get_str(&d);
    m->rec.env_from = get_str(&d);
    m->rec.body_digest = get_str(&d);
    m->rec.truncated = get_u32(&d) != 0;
    m->hdr = get_strn(&d, &m->hdrlen);
    n = get_u32(&d);
    if (d.bad || n > d.left / 16)
	return -1;
    m->rec.ncopies = n;
    if (n && ((m->copies = calloc(n, sizeof(*m->copies))) == NULL
	      || (m->lists = calloc(2 * (size_t) n, sizeof(*m->lists))) == NULL))
	return -1;
    for (uint32_t i = 0; i < n && !d.bad; i++) {
	m->copies[i].user = get_str(&d);
	m->copies[i].direction = (int) get_u32(&d);
	m->copies[i].conditional = get_u32(&d) != 0;
	get_list(&d, &m->lists[2 * i]);
	get_list(&d, &m->lists[2 * i + 1]);
	m->copies[i].labels = &m->lists[2 * i];
	m->copies[i].env_rcpts = &m->lists[2 * i + 1];
	if (m->copies[i].user == NULL)
	    d.bad = 1;
    }
    n = get_u32(&d);
    if (d.bad || n > d.left / 12)
	return -1;
    m->rec.ncontacts = n;
    if (n && (m->contacts = calloc(n, sizeof(*m->contacts))) == NULL)
	return -1;
    for (uint32_t i = 0; i < n && !d.bad; i++) {
	m->contacts[i].owner = get_str(&d);
	m->contacts[i].address = get_str(&d);
	m->contacts[i].name = get_str(&d);
	if (m->contacts[i].owner == NULL || m->contacts[i].address == NULL)
	    d.bad = 1;
    }
    if (d.bad || d.left != 0 || m->hdr == NULL)
	return -1;
    m->rec.copies = m->copies;
    m->rec.contacts = m->contacts;
    if (cs_msginfo_parse(m->hdr, m->hdrlen, &m->info) < 0)
	return -1;
    m->have_info = 1;
    m->rec.info = &m->info;
    return 0;
}

/* read_body - the record's raw message into a fresh spool */
static cs_spool *read_body(const cs_journal_seg *seg, const cs_journal_rec *r)
{
    cs_spool *sp = cs_spool_new(jnl_spool_dir, jnl_spool_threshold, r->body_len);
    char   *buf = malloc(64 * 1024);
    uint64_t off = 0;
    long    n = 0;

    if (sp == NULL || buf == NULL) {
	free(buf);
	if (sp)
	    cs_spool_unref(sp);
	return NULL;
    }
    while (off < r->body_len && (n = cs_journal_body_pread(seg, r, buf, 64 * 1024, off)) > 0) {
	if (cs_spool_write(sp, buf, (size_t) n) < 0)
	    break;
	off += (uint64_t) n;
    }
    free(buf);
    if (off != r->body_len) {
	cs_spool_unref(sp);
	return NULL;
    }
    return sp;
}

/* ---------------------------------------------------------------- writing */

/* jnl_active - is there a journal? */
int     jnl_active(void)
{
    return jnl != NULL;
}

/* jnl_route - journal at once: the breaker is open or records wait */
int     jnl_route(void)
{
    uint64_t recs, bytes, disk;
    int64_t oldest;

    if (jnl == NULL)
	return 0;
    if (atomic_load(&jnl_open))
	return 1;
    /* Behind records still waiting, so that the store sees arrival order. */
    cs_journal_depth(jnl, &recs, &bytes, &oldest, &disk);
    return recs > 0;
}

/* jnl_trip - the store is stuck: later messages go to the journal */
void    jnl_trip(void)
{
    if (jnl != NULL && !atomic_exchange(&jnl_open, 1))
	cs_log_limited(&trip_log, JNL_LOG_INTERVAL, CS_LOG_WARN, NULL,
		       "journal: the store did not commit within StoreWait; messages go to"
		       " the journal %s until it answers again (C6)", jnl_dir);
}

/* jnl_breaker_open - is the store known stuck? */
int     jnl_breaker_open(void)
{
    return atomic_load(&jnl_open);
}

/* jnl_dropped - a record neither journaled nor stored: count, log */
void    jnl_dropped(const char *qid, const char *why)
{
    char    msg[512];

    /* With this thread's journal refusal, if there was one. */
    snprintf(msg, sizeof(msg), "%s%s%s", why, put_err[0] ? ": " : "", put_err);
    put_err[0] = 0;
    stat_add(&jnl_drops, 1);
    stat_error(msg);
    cs_log_limited(&drop_log, JNL_LOG_INTERVAL, CS_LOG_ERROR, qid,
		   "journal: record dropped: %s; mail accepted (C1)", msg);
}

/* jnl_late - a record the journal refused, left in the store's queue */
void    jnl_late(const char *qid)
{
    stat_add(&jnl_late_n, 1);
    cs_log_limited(&late_log, JNL_LOG_INTERVAL, CS_LOG_WARN, qid,
		   "journal: full; record left in the store's queue (the store is slow, not"
		   " stuck): committed late, not durable until then");
}

/* jnl_put - journal one record; 0 when durable */
int     jnl_put(const cs_record *rec, const char *hdr, size_t hdrlen)
{
    cs_buf  b = {0};
    char    err[256];
    int     rc;

    if (jnl == NULL)
	return -1;
    if (encode(&b, rec, hdr, hdrlen) < 0) {
	cs_buf_free(&b);
	snprintf(err, sizeof(err), "out of memory");
	rc = -1;
    } else
	rc = cs_journal_append(jnl, b.data, b.len, rec->raw, time(NULL), err, sizeof(err));
    cs_buf_free(&b);
    if (rc == 0) {
	put_err[0] = 0;
	stat_add(&jnl_journaled, 1);
	return 0;
    }
    /* The caller tries the store; a drop is counted there if it must be. */
    snprintf(put_err, sizeof(put_err), "%s", err);
    stat_error(err);
    cs_log_limited(&refuse_log, JNL_LOG_INTERVAL, CS_LOG_WARN, rec->queue_id,
		   "journal: record refused: %s; trying the store", err);
    return rc;
}

/* ---------------------------------------------------------------- replay */

typedef struct slot {
    cs_journal_pos start, end;		/* the record's extent */
    uint64_t roff;			/* its header's offset in segment end.seq */
    uint64_t bytes;
    int64_t at;
    int     refused;			/* cs_store_submit refused it */
    char    qid[64];
    atomic_int rc;			/* 1 pending, else a CS_* code */
} slot;

/* replay_done - a replayed record's commit (writer thread) */
static void replay_done(void *arg, int rc, const int *results)
{
    slot   *s = arg;

    (void) results;
    atomic_store(&s->rc, rc);
}

/* count_results - what a replayed record became, as capture counts it */
static void count_results(int ncopies, const int *res)
{
    for (int i = 0; i < ncopies; i++) {
	if (res[i] == CS_COPY_STORED)
	    cs_count(CS_CNT_SYNCED);
	else if (res[i] == CS_COPY_DUPLICATE)
	    cs_count(CS_CNT_DUPLICATES);
	else if (res[i] == CS_COPY_SKIPPED) {
	    cs_count(CS_CNT_CONDITIONAL_NOT_STORED);
	    cs_count(CS_CNT_SKIP_NO_LABEL);
	}
    }
    cs_count(CS_CNT_RECORDED);
}

/* Per record of a round: its copies' results, filled by the writer. */
typedef struct slot_res {
    slot   *s;
    int     ncopies;
    int     res[];
} slot_res;

static void replay_done_res(void *arg, int rc, const int *results)
{
    slot_res *r = arg;

    if (rc == CS_OK && results)
	memcpy(r->res, results, (size_t) r->ncopies * sizeof(int));
    replay_done(r->s, rc, results);
}

/* pause_ms - sleep unless stopping */
static void pause_ms(long ms)
{
    for (long left = ms; left > 0 && !atomic_load(&jnl_stopping); left -= 100) {
	struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};

	nanosleep(&ts, NULL);
    }
}

/*
 * copy_aside - bytes [off, end) of segment SEQ, copied as they are into
 * JournalDir/SUB/SEQ-OFF.EXT (written to a temporary file, fsync'd,
 * renamed, the directory fsync'd): what the replay lets go is kept for
 * the operator. PATH gets the file's name, or why it could not be kept.
 */
static int copy_aside(const char *sub, const char *ext, uint64_t seq, uint64_t off,
		      uint64_t end, char *path, size_t pathlen)
{
    cs_journal_seg seg = {.fd = -1};
    char    dir[4096], tmp[4300];
    char   *buf = NULL;
    int     out = -1, dfd = -1, ok = 0, err = 0;
    uint64_t at = off;

    snprintf(dir, sizeof(dir), "%s/%s", jnl_dir, sub);
    snprintf(path, pathlen, "%s/%016llx-%llu.%s", dir, (unsigned long long) seq,
	     (unsigned long long) off, ext);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((mkdir(dir, 0700) == 0 || errno == EEXIST)
	&& cs_journal_open_seg(jnl, seq, &seg) == 0
	&& (buf = malloc(64 * 1024)) != NULL
	&& (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0) {
	while (at < end) {
	    size_t  want = end - at < 64 * 1024 ? (size_t) (end - at) : 64 * 1024;
	    ssize_t n = pread(seg.fd, buf, want, (off_t) at);

	    if (n <= 0 || write(out, buf, (size_t) n) != n)
		break;
	    at += (uint64_t) n;
	}
	ok = at == end && fsync(out) == 0;
	err = errno;
	ok = (close(out) == 0) && ok;
	if (ok && rename(tmp, path) < 0)
	    ok = 0;
	if (!ok)
	    (void) unlink(tmp);
	else if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
	    (void) fsync(dfd);
	    close(dfd);
	}
    }
    if (!ok) {
	if (err == 0)
	    err = errno ? errno : EIO;
	snprintf(path, pathlen, "not kept: %s", strerror(err));
    }
    free(buf);
    cs_journal_seg_close(&seg);
    return ok ? 0 : -1;
}

/*
 * damaged - a stretch that cannot be replayed (bad CRC, cut short, fields
 * unreadable): copied as it is into JournalDir/damaged/SEQ-OFF.bad,
 * counted and logged; the records around it replay. A read error leaves
 * no stretch to copy (OFF == END): counted and logged only.
 */
static void damaged(const cs_journal_seg *seg, uint64_t off, uint64_t end, const char *why)
{
    char    msg[512], path[4400];

    stat_add(&jnl_damaged, 1);
    if (end > off)
	(void) copy_aside(CS_JOURNAL_DAMAGED, "bad", seg->seq, off, end, path, sizeof(path));
    else
	snprintf(path, sizeof(path), "nothing to keep");
    snprintf(msg, sizeof(msg), "segment %016llx bytes %llu-%llu: %s (%.300s)",
	     (unsigned long long) seg->seq, (unsigned long long) off,
	     (unsigned long long) end, why, path);
    stat_error(msg);
    cs_log_limited(&damage_log, JNL_LOG_INTERVAL, CS_LOG_ERROR, NULL,
		   "journal: damaged record set aside (%s); the records around it replay", msg);
}

/*
 * set_aside - a record the store refuses for good (it failed alone, time
 * after time, while the store committed others: a constraint, a record
 * it cannot take): copied whole, as it is in its segment, into
 * JournalDir/rejected/SEQ-OFF.rec, counted and logged; the replay goes
 * on behind it. A copy that cannot be made is said so: the record is let
 * go all the same, or it would hold everything behind it.
 */
static void set_aside(const slot *s)
{
    char    path[4400], msg[512];

    (void) copy_aside(CS_JOURNAL_REJECTED, "rec", s->end.seq, s->roff, s->end.off,
		      path, sizeof(path));
    stat_add(&jnl_rejected, 1);
    snprintf(msg, sizeof(msg), "record refused by the store %d times while it committed others;"
	     " set aside (%.300s)", JNL_REJECT_AFTER, path);
    stat_error(msg);
    cs_log_limited(&reject_log, JNL_LOG_INTERVAL, CS_LOG_ERROR, s->qid[0] ? s->qid : NULL,
		   "journal: %s; the records behind it replay", msg);
}

/* replay_main - apply the journal to the store, in order, as it answers */
static void *replay_main(void *arg)
{
    cs_journal_seg seg = {.fd = -1};
    cs_journal_pos cur = cs_journal_cursor(jnl);
    slot    slots[JNL_WINDOW];
    slot_res *res[JNL_WINDOW];
    long    pause = 0;
    long long busy_ms = 0;
    unsigned long busy_n = 0;
    cs_journal_pos refused_at = {0, 0};	/* a record failing alone, */
    int     refused_n = 0;		/* how many rounds in a row */
    atomic_int fence = 0;		/* the round's records: see cs_store.h */

    (void) arg;
    memset(res, 0, sizeof(res));
    while (!atomic_load(&jnl_stopping)) {
	uint64_t recs, bytes, disk, nbytes = 0;
	int64_t oldest;
	cs_store *st;
	cs_journal_pos reached;
	size_t  n = 0, good, consumed;
	long long t0;
	uint64_t groups0;
	int     stop_reading = 0, refused = 0, rejected = 0;

	cs_journal_depth(jnl, &recs, &bytes, &oldest, &disk);
	if (recs == 0) {
	    /* Nothing waits: the next message asks the store itself. */
	    atomic_store(&jnl_open, 0);
	    cs_journal_wait(jnl, 1000);
	    continue;
	}
	if ((st = jnl_get_store()) == NULL) {
	    pause_ms(JNL_PAUSE_MIN);
	    continue;
	}
	t0 = cs_mono_ms();
	groups0 = cs_store_groups(st);
	reached = cur;
	/* X3: none of this round is committed ahead of one that failed. */
	atomic_store(&fence, 0);
	while (n < JNL_WINDOW && !stop_reading) {
	    cs_journal_rec r;
	    jmsg    m;
	    uint64_t limit;
	    int     active, rc;

	    if (seg.fd < 0) {
		uint64_t seq = cs_journal_next_seg(jnl, reached.seq);

		if (seq == 0 || cs_journal_open_seg(jnl, seq, &seg) < 0) {
		    if (seq != 0)
			cs_journal_seg_close(&seg);
		    break;
		}
		if (seq == reached.seq && reached.off > seg.off)
		    seg.off = reached.off;
		reached.seq = seq;
		reached.off = seg.off;
	    }
	    limit = cs_journal_limit(jnl, seg.seq, &active);
	    rc = cs_journal_seg_next(&seg, limit, &r);
	    if (rc == CS_JREC_END) {
		if (active)
		    break;			/* the rest is not written yet */
		cs_journal_seg_close(&seg);
		reached.seq++;
		reached.off = 0;
		continue;
	    }
	    if (rc < 0) {
		damaged(&seg, seg.off, seg.off, strerror(errno));
		stop_reading = 1;
		break;
	    }
	    if (rc == CS_JREC_BAD) {
		damaged(&seg, r.off, r.end, r.end == limit ? "cut short or bad CRC"
			: "bad CRC or header");
		reached.off = seg.off;
		continue;
	    }
	    if (r.type != CS_JREC_MSG) {
		cs_journal_rec_free(&r);
		reached.off = seg.off;
		continue;
	    }
	    if (decode(r.fields, r.flen, &m) < 0 || (m.rec.raw = read_body(&seg, &r)) == NULL) {
		damaged(&seg, r.off, r.end, "fields or body unreadable");
		jmsg_free(&m);
		cs_journal_rec_free(&r);
		reached.off = seg.off;
		continue;
	    }
	    slots[n].start = reached;
	    slots[n].end.seq = seg.seq;
	    slots[n].end.off = r.end;
	    slots[n].roff = r.off;
	    slots[n].bytes = r.end - r.off;
	    slots[n].at = r.at;
	    slots[n].refused = 0;
	    cs_sanitize(m.rec.queue_id ? m.rec.queue_id : "", slots[n].qid, sizeof(slots[n].qid));
	    atomic_store(&slots[n].rc, 1);
	    free(res[n]);
	    res[n] = calloc(1, sizeof(slot_res) + (m.rec.ncopies + 1) * sizeof(int));
	    if (res[n] == NULL) {
		jmsg_free(&m);
		cs_journal_rec_free(&r);
		break;
	    }
	    res[n]->s = &slots[n];
	    res[n]->ncopies = (int) m.rec.ncopies;
	    if (cs_store_submit_fenced(st, &m.rec, JNL_WINDOW, replay_done_res, res[n],
				       &fence) != CS_OK) {
		atomic_store(&slots[n].rc, CS_EINTERNAL);
		slots[n].refused = 1;
	    }
	    jmsg_free(&m);
	    cs_journal_rec_free(&r);
	    reached = slots[n].end;
	    n++;
	}
	cs_store_drain(st);
	for (good = 0; good < n && atomic_load(&slots[good].rc) == CS_OK; good++) {
	    count_results(res[good]->ncopies, res[good]->res);
	    nbytes += slots[good].bytes;
	}
	consumed = good;
	if (good < n) {
	    /*
	     * Failed while the store committed a group meanwhile (or refused
	     * before it was queued): this record is refused, the store is not
	     * down. After JNL_REJECT_AFTER such rounds in a row it is set
	     * aside, so that it does not hold everything behind it.
	     */
	    refused = slots[good].refused || cs_store_groups(st) != groups0;
	    if (!refused)
		refused_n = 0;
	    else if (refused_n > 0 && refused_at.seq == slots[good].start.seq
		     && refused_at.off == slots[good].start.off)
		refused_n++;
	    else {
		refused_at = slots[good].start;
		refused_n = 1;
	    }
	    if (refused && refused_n >= JNL_REJECT_AFTER) {
		set_aside(&slots[good]);
		refused_n = 0;
		rejected = 1;
		nbytes += slots[good].bytes;
		reached = slots[good].end;
		consumed = good + 1;
	    } else
		/* From the first that failed, once the store answers again. */
		reached = slots[good].start;
	    cs_journal_seg_close(&seg);
	}
	if (n > 0 || reached.seq != cur.seq || reached.off != cur.off) {
	    int64_t next_at = consumed < n ? slots[consumed].at : 0;

	    if (cs_journal_consume(jnl, reached, consumed, nbytes, next_at) < 0)
		cs_log_limited(&replay_log, JNL_LOG_INTERVAL, CS_LOG_WARN, NULL,
			       "journal: cannot write the cursor in %s: %m (records may be"
			       " applied again after a restart; T2 stores them once)", jnl_dir);
	    cur = reached;
	}
	if (good > 0) {
	    stat_add(&jnl_replayed, good);
	    busy_ms += cs_mono_ms() - t0;
	    busy_n += good;
	    pthread_mutex_lock(&jnl_stat_lock);
	    jnl_rate = busy_ms > 0 ? busy_n * 1000.0 / (double) busy_ms : (double) busy_n;
	    pthread_mutex_unlock(&jnl_stat_lock);
	    if (busy_n > 100000) {
		busy_n /= 2;
		busy_ms /= 2;
	    }
	}
	if (rejected)
	    continue;				/* on with the records behind it */
	if (good < n && refused) {
	    char    msg[256];

	    stat_add(&jnl_replay_fail, 1);
	    snprintf(msg, sizeof(msg), "replay: the store refused a record while it committed"
		     " others (attempt %d of %d)", refused_n, JNL_REJECT_AFTER);
	    stat_error(msg);
	    cs_log_limited(&replay_log, JNL_LOG_INTERVAL, CS_LOG_WARN,
			   slots[good].qid[0] ? slots[good].qid : NULL, "journal: %s", msg);
	    pause_ms(JNL_PAUSE_MIN);
	} else if (good < n) {
	    stat_add(&jnl_replay_fail, 1);
	    stat_error("replay: the store did not commit; trying again");
	    cs_log_limited(&replay_log, JNL_LOG_INTERVAL, CS_LOG_WARN, NULL,
			   "journal: replay paused, the store did not commit (%llu record(s)"
			   " wait in %s)", (unsigned long long) recs, jnl_dir);
	    pause = pause ? (pause * 2 > JNL_PAUSE_MAX ? JNL_PAUSE_MAX : pause * 2) : JNL_PAUSE_MIN;
	    pause_ms(pause);
	} else {
	    if (good > 0 && pause)
		cs_info(NULL, "journal: the store answers again; replaying");
	    pause = 0;
	    if (n == 0 && !stop_reading) {
		/* At the end with records still counted: damaged ones. */
		cs_journal_settle(jnl, reached);
		cs_journal_wait(jnl, 200);
	    }
	    else if (stop_reading)
		pause_ms(JNL_PAUSE_MIN);
	}
    }
    cs_journal_seg_close(&seg);
    for (size_t i = 0; i < JNL_WINDOW; i++)
	free(res[i]);
    return NULL;
}

/* ---------------------------------------------------------------- status */

/*
 * status_write - JournalDir/status.json: the "journal" object with this
 * host's name, pid and the time, replaced atomically (rename) every
 * JNL_STATUS_EVERY seconds and at stop. crmsyncctl stats reads it, so
 * it shows the journal as it is while the store is locked or down, when
 * the status document in the store cannot be written. Not fsync'd: it
 * is a view, the next one comes in seconds.
 */
static void status_write(int running)
{
    json_t *doc;
    char   *text;
    char    path[4096], tmp[4200];
    size_t  len;
    int     fd, ok = 0;

    doc = json_pack("{s:s,s:I,s:I,s:b,s:o}", "host", cs_counters_host(),
		    "pid", (json_int_t) getpid(), "written_at", (json_int_t) time(NULL),
		    "running", running, "journal", jnl_status());
    if (doc == NULL)
	return;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
	return;
    snprintf(path, sizeof(path), "%s/%s", jnl_dir, CS_JOURNAL_STATUS);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640)) >= 0) {
	ok = write(fd, text, len) == (ssize_t) len;
	ok = close(fd) == 0 && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok)
	    (void) unlink(tmp);
    }
    if (!ok)
	cs_log_limited(&status_log, JNL_LOG_INTERVAL, CS_LOG_WARN, NULL,
		       "journal: cannot write %s: %s (crmsyncctl stats shows the status the"
		       " store keeps)", path, strerror(errno));
    free(text);
}

/* status_main - the status file every JNL_STATUS_EVERY seconds */
static void *status_main(void *arg)
{
    (void) arg;
    while (!atomic_load(&jnl_stopping)) {
	status_write(1);
	pause_ms(JNL_STATUS_EVERY * 1000L);
    }
    return NULL;
}

/* ---------------------------------------------------------------- control */

/* jnl_start - open JournalDir, start replaying */
int     jnl_start(const cs_config *cfg, cs_store *(*get_store) (void))
{
    char    err[512], ident[1024];

    if (cfg->journal_dir == NULL || *cfg->journal_dir == 0)
	return -1;
    cs_store_display(cfg->database, ident, sizeof(ident));
    if ((jnl = cs_journal_open(cfg->journal_dir, ident, cfg->journal_max_size, err,
			       sizeof(err))) == NULL) {
	cs_error(NULL, "journal: %s; running without a journal: a stuck store delays"
		 " mail up to StoreTimeout and what it does not commit is lost (C6)", err);
	return -1;
    }
    jnl_dir = cs_strdup(cfg->journal_dir);
    jnl_spool_dir = cs_strdup(cfg->spool_dir);
    jnl_spool_threshold = (size_t) cfg->spool_threshold;
    jnl_get_store = get_store;
    atomic_store(&jnl_stopping, 0);
    if (cs_thread_create(&jnl_thread, replay_main, NULL) != 0) {
	cs_error(NULL, "journal: cannot start the replay thread; running without a journal");
	cs_journal_close(jnl);
	jnl = NULL;
	return -1;
    }
    jnl_status_started = cs_thread_create(&jnl_status_thread, status_main, NULL) == 0;
    if (!jnl_status_started)
	cs_warn(NULL, "journal: no status thread: crmsyncctl stats shows the status the"
		" store keeps");
    {
	uint64_t recs, bytes, disk;
	int64_t oldest;

	cs_journal_depth(jnl, &recs, &bytes, &oldest, &disk);
	if (recs > 0) {
	    cs_info(NULL, "journal %s: %llu record(s) to replay", cfg->journal_dir,
		    (unsigned long long) recs);
	    atomic_store(&jnl_open, 1);
	}
    }
    return 0;
}

/* jnl_stop - stop replaying (what waits stays for the next start) */
void    jnl_stop(void)
{
    if (jnl == NULL)
	return;
    atomic_store(&jnl_stopping, 1);
    cs_journal_kick(jnl);
    pthread_join(jnl_thread, NULL);
    if (jnl_status_started)
	pthread_join(jnl_status_thread, NULL);
    jnl_status_started = 0;
    status_write(0);
    cs_journal_close(jnl);
    jnl = NULL;
    free(jnl_dir);
    free(jnl_spool_dir);
    jnl_dir = jnl_spool_dir = NULL;
}

/* jnl_status - the "journal" object of the status document */
json_t *jnl_status(void)
{
    uint64_t recs, bytes, disk;
    int64_t oldest;
    json_t *o;
    time_t now = time(NULL);

    if (jnl == NULL)
	return json_pack("{s:b}", "enabled", 0);
    cs_journal_depth(jnl, &recs, &bytes, &oldest, &disk);
    pthread_mutex_lock(&jnl_stat_lock);
    o = json_pack("{s:b,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s?,s:I}",
		  "enabled", 1, "dir", jnl_dir ? jnl_dir : "",
		  "breaker_open", atomic_load(&jnl_open) ? 1 : 0,
		  "records", (json_int_t) recs, "bytes", (json_int_t) bytes,
		  "disk_bytes", (json_int_t) disk,
		  "oldest_age_seconds", (json_int_t) (recs && oldest ? now - oldest : 0),
		  "journaled", (json_int_t) jnl_journaled,
		  "replayed", (json_int_t) jnl_replayed,
		  "dropped", (json_int_t) jnl_drops,
		  "queued_late", (json_int_t) jnl_late_n,
		  "damaged", (json_int_t) jnl_damaged,
		  "rejected", (json_int_t) jnl_rejected,
		  "replay_failures", (json_int_t) jnl_replay_fail,
		  "replay_rate", jnl_rate,
		  "last_error", jnl_last_error[0] ? jnl_last_error : NULL,
		  "last_error_at", (json_int_t) jnl_last_error_at);
    pthread_mutex_unlock(&jnl_stat_lock);
    return o;
}
