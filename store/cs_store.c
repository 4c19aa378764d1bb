/*
 * NAME
 *	cs_store 3
 * SUMMARY
 *	backend dispatch, the group-commit writer and its queue
 * DESCRIPTION
 *	See cs_store.h. cs_store_open() picks a backend from the Database
 *	value. cs_store_record() turns the caller's cs_record into a job (a
 *	deep copy with everything derived that needs no database) and either
 *	runs it inline (no CS_STORE_WRITER: crmsyncctl import) or queues it
 *	for the writer thread, which takes queued jobs in arrival order into
 *	one transaction, up to CS_STORE_GROUP_MAX jobs and
 *	CS_STORE_GROUP_BYTES of raw content (so that one group's commit
 *	stays well below StoreTimeout). Both paths call the same backend
 *	write_group().
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
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"

#ifdef HAVE_LIBPQ
/* The fleet backend (cs_store_pg.c), chosen by a postgresql:// Database. */
extern const struct cs_store_ops cs_store_pg_ops;
#endif

/*
 * While the store is down every record fails: say so once a minute (C1);
 * the backend logs why. What became of each record whose waiter timed
 * out is logged per record at debug level, or under the same limit.
 */
static cs_ratelimit store_fail_log;

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

/* cs_store_normalize - normalize an address with the store's delimiters */
int     cs_store_normalize(const cs_store *st, const char *in, char *out, size_t outlen)
{
    return cs_addr_normalize(in, st->delims, out, outlen);
}

/* job_free - release a job and everything it copied */
static void job_free(cs_store_job *job)
{
    size_t  i;

    if (job == NULL)
	return;
    pthread_cond_destroy(&job->cond);
    free(job->results);
    free(job->queue_id);
    free(job->source);
    free(job->env_from);
    free(job->message_id);
    free(job->in_reply_to);
    free(job->subject);
    free(job->subject_norm);
    free(job->thread_index_root);
    cs_strlist_free(&job->msgids);
    free(job->refs_json);
    free(job->from_json);
    free(job->to_json);
    free(job->cc_json);
    free(job->reply_to_json);
    cs_strlist_free(&job->participants);
    if (job->raw)
	cs_spool_unref(job->raw);
    for (i = 0; i < job->ncopies; i++) {
	free(job->copies[i].user);
	cs_strlist_free(&job->copies[i].labels);
	cs_strlist_free(&job->copies[i].env_rcpts);
	free(job->copies[i].envelope_json);
    }
    free(job->copies);
    for (i = 0; i < job->ncontacts; i++) {
	free(job->contacts[i].owner);
	free(job->contacts[i].address);
	free(job->contacts[i].name);
    }
    free(job->contacts);
    free(job);
}

/* utf8_len - length of the valid UTF-8 sequence at p, 0 if invalid */
static size_t utf8_len(const unsigned char *p)
{
    size_t  n, i;
    unsigned cp;

    if (p[0] < 0x80)
	return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
	n = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
	n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
	n = 4, cp = p[0] & 0x07;
    else
	return 0;
    for (i = 1; i < n; i++) {
	if ((p[i] & 0xc0) != 0x80)
	    return 0;
	cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
	|| (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
	return 0;
    return n;
}

/* utf8_clean - copy of s with invalid UTF-8 bytes as '?' (JSON needs UTF-8) */
static char *utf8_clean(const char *s)
{
    char   *out, *o;
    const unsigned char *p;
    size_t  n;

    if (s == NULL || (out = malloc(strlen(s) + 1)) == NULL)
	return NULL;
    for (p = (const unsigned char *) s, o = out; *p; ) {
	if ((n = utf8_len(p)) == 0) {
	    *o++ = '?';
	    p++;
	} else {
	    memcpy(o, p, n);
	    o += n;
	    p += n;
	}
    }
    *o = 0;
    return out;
}

/* add_clean - append a UTF-8-clean copy of s to a list */
static int add_clean(cs_strlist *l, const char *s)
{
    char   *c = utf8_clean(s);
    int     rc;

    if (c == NULL)
	return -1;
    rc = cs_strlist_add(l, c);
    free(c);
    return rc;
}

/* clean_list - UTF-8-clean copy of a list (labels, envelope addresses) */
static int clean_list(cs_strlist *dst, const cs_strlist *src)
{
    for (size_t i = 0; src && i < src->n; i++)
	if (src->v[i] && add_clean(dst, src->v[i]) < 0)
	    return -1;
    return 0;
}

/* addrs_json - the JSON text of an address list, names kept */
static char *addrs_json(const cs_addrlist *l)
{
    json_t *a = json_array();
    char   *s;
    size_t  i;

    if (a == NULL)
	return NULL;
    for (i = 0; i < l->n; i++) {
	const cs_mailaddr *m = &l->v[i];
	char   *name, *addr;
	json_t *o;

	if (m->address == NULL)
	    continue;
	name = m->name ? utf8_clean(m->name) : NULL;
	addr = utf8_clean(m->address);
	o = addr ? json_pack("{s:s?,s:s}", "name", name, "address", addr) : NULL;
	free(name);
	free(addr);
	if (o == NULL || json_array_append_new(a, o) < 0) {
	    json_decref(a);
	    return NULL;
	}
    }
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* add_participants - collect normalized addresses of a list, unique */
static int add_participants(const cs_store *st, cs_strlist *out, const cs_addrlist *l)
{
    char    norm[CS_ADDR_MAX + 1];
    size_t  i;

    for (i = 0; i < l->n; i++) {
	if (l->v[i].address == NULL
	    || cs_store_normalize(st, l->v[i].address, norm, sizeof(norm)) < 0)
	    continue;
	if (cs_strlist_add_unique(out, norm) < 0)
	    return -1;
    }
    return 0;
}

/* header_or_empty - raw header value, "" when absent */
static const char *header_or_empty(const cs_headers *h, const char *name)
{
    const char *v = cs_headers_get(h, name);

    return v ? v : "";
}

/* dedup_key - SPEC T2: Message-ID, body digest and the stable headers */
static int dedup_key(const cs_record *rec, char hex[CS_DIGEST_HEX])
{
    const cs_msginfo *mi = rec->info;
    cs_buf  b = {0};
    int     rc;

    /*
     * Separators keep "a"+"bc" apart from "ab"+"c". Raw (unfolded) values,
     * not decoded ones, so that a client re-encoding a header is a
     * different message only if the bytes differ.
     */
    rc = cs_buf_appendf(&b, "%s\n%s\n%s\n%s\n%s\n%s\n%s",
			mi->message_id ? mi->message_id : "",
			rec->body_digest ? rec->body_digest : "",
			header_or_empty(&mi->headers, "From"),
			header_or_empty(&mi->headers, "To"),
			header_or_empty(&mi->headers, "Cc"),
			header_or_empty(&mi->headers, "Subject"),
			header_or_empty(&mi->headers, "Date"));
    if (rc < 0) {
	cs_buf_free(&b);
	return -1;
    }
    cs_sha256_hex(b.data, b.len, hex);
    cs_buf_free(&b);
    return 0;
}

/* raw_digest - SHA-256 of the kept raw bytes, streamed from the spool */
static int raw_digest(cs_spool *sp, char hex[65], uint64_t *size)
{
    EVP_MD_CTX *ctx;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char   *buf;
    uint64_t off = 0;
    ssize_t got;
    int     rc = -1;

    if ((buf = malloc(CS_STORE_CHUNK)) == NULL)
	return -1;
    if ((ctx = EVP_MD_CTX_new()) == NULL) {
	free(buf);
	return -1;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
	goto out;
    if (sp != NULL) {
	while ((got = cs_spool_pread(sp, buf, CS_STORE_CHUNK, off)) > 0) {
	    if (EVP_DigestUpdate(ctx, buf, (size_t) got) != 1)
		goto out;
	    off += (uint64_t) got;
	}
	if (got < 0)
	    goto out;
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
	goto out;
    for (unsigned i = 0; i < mdlen; i++)
	snprintf(hex + 2 * i, 3, "%02x", md[i]);
    *size = off;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* envelope_json - C4: the sender and the recipients this copy keeps, and
 * which of them it shows as participants (bcc) */
static char *envelope_json(const char *env_from, const cs_strlist *rcpts, const cs_strlist *bcc)
{
    json_t *o, *a, *b = NULL;
    char   *s;
    size_t  i;

    if ((a = json_array()) == NULL)
	return NULL;
    for (i = 0; rcpts && i < rcpts->n; i++)
	if (json_array_append_new(a, json_string(rcpts->v[i])) < 0) {
	    json_decref(a);
	    return NULL;
	}
    if (bcc && bcc->n > 0) {
	if ((b = json_array()) == NULL) {
	    json_decref(a);
	    return NULL;
	}
	for (i = 0; i < bcc->n; i++)
	    if (json_array_append_new(b, json_string(bcc->v[i])) < 0) {
		json_decref(a);
		json_decref(b);
		return NULL;
	    }
    }
    if ((o = json_pack("{s:s,s:o,s:o*}", "from", env_from, "rcpts", a, "bcc", b)) == NULL)
	return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* cs_store_bcc_json - a stored envelope's bcc as an address list's JSON */
char   *cs_store_bcc_json(const char *envelope)
{
    json_t *o = envelope ? json_loads(envelope, 0, NULL) : NULL;
    json_t *b = json_object_get(o, "bcc"), *out, *v;
    char   *s = NULL;
    size_t  i;

    if (!json_is_array(b) || json_array_size(b) == 0 || (out = json_array()) == NULL) {
	json_decref(o);
	return NULL;
    }
    json_array_foreach(b, i, v)
	if (json_is_string(v))
	    json_array_append_new(out, json_pack("{s:n,s:O}", "name", "address", v));
    s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(o);
    return s;
}

/* cs_store_part_seen - a participant seen before; its name filled in late */
int     cs_store_part_seen(json_t *parts, const cs_strlist *seen, const char *key,
			           const char *name)
{
    for (size_t i = 0; i < seen->n; i++) {
	json_t *p;

	if (strcasecmp(seen->v[i], key) != 0)
	    continue;
	p = json_array_get(parts, i);
	if (p && name && *name && !json_is_string(json_object_get(p, "name")))
	    json_object_set_new(p, "name", json_string(name));
	return 1;
    }
    return 0;
}

/* job_new - deep copy of a record, with every derived field computed */
static cs_store_job *job_new(const cs_store *st, const cs_record *rec, char *why, size_t whylen)
{
    const cs_msginfo *mi = rec->info;
    cs_store_job *job;
    size_t  i;
    json_t *refs;
    pthread_condattr_t ca;

    if ((job = calloc(1, sizeof(*job))) == NULL) {
	snprintf(why, whylen, "out of memory");
	return NULL;
    }
    /* Waits use CLOCK_MONOTONIC: a clock step must not stretch them. */
    if (pthread_condattr_init(&ca) != 0) {
	free(job);
	snprintf(why, whylen, "cannot init condition");
	return NULL;
    }
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0
	|| pthread_cond_init(&job->cond, &ca) != 0) {
	pthread_condattr_destroy(&ca);
	free(job);
	snprintf(why, whylen, "cannot init condition");
	return NULL;
    }
    pthread_condattr_destroy(&ca);
    snprintf(why, whylen, "out of memory");
    job->rc = CS_EINTERNAL;
    job->arrival = rec->arrival;
    job->has_date = mi->has_date;
    job->date = mi->date;

    /*
     * A Date header far in the future would pin its thread to the top of
     * the mailbox forever: such a date yields to the arrival time.
     */
    job->sort_date = (mi->has_date && mi->date <= rec->arrival + 86400) ? mi->date : rec->arrival;
    job->truncated = rec->truncated != 0;
    if ((rec->queue_id && (job->queue_id = cs_strdup(rec->queue_id)) == NULL)
	|| (job->source = cs_strdup(rec->source ? rec->source : "smtp")) == NULL
	|| (job->env_from = utf8_clean(rec->env_from ? rec->env_from : "")) == NULL
	|| (mi->message_id && (job->message_id = cs_strdup(mi->message_id)) == NULL)
	|| (mi->in_reply_to && (job->in_reply_to = cs_strdup(mi->in_reply_to)) == NULL)
	|| (mi->subject && (job->subject = utf8_clean(mi->subject)) == NULL)
	|| (mi->thread_index_root
	    && (job->thread_index_root = cs_strdup(mi->thread_index_root)) == NULL))
	goto fail;
    if ((job->subject_norm = cs_subject_normalize(job->subject ? job->subject : "")) == NULL)
	goto fail;

    /*
     * T1 lookups and thread_msgids rows: the own id first, then the
     * direct parent, then References; bounded so a hostile References
     * header cannot make a message cost unbounded work.
     */
    if (job->message_id && cs_strlist_add_unique(&job->msgids, job->message_id) < 0)
	goto fail;
    if (job->in_reply_to && cs_strlist_add_unique(&job->msgids, job->in_reply_to) < 0)
	goto fail;
    /* T1: every msg-id of In-Reply-To counts, not only the first. */
    for (i = 0; i < mi->in_reply_to_ids.n && job->msgids.n < CS_MAX_REFS; i++)
	if (cs_strlist_add_unique(&job->msgids, mi->in_reply_to_ids.v[i]) < 0)
	    goto fail;
    if ((refs = json_array()) == NULL)
	goto fail;
    for (i = 0; i < mi->references.n; i++) {
	const char *r = mi->references.v[i];

	if (r == NULL || *r == 0)
	    continue;
	/* Not UTF-8: kept for threading, left out of the JSON copy. */
	json_array_append_new(refs, json_string(r));
	if (job->msgids.n < CS_MAX_REFS && cs_strlist_add_unique(&job->msgids, r) < 0) {
	    json_decref(refs);
	    goto fail;
	}
    }
    job->refs_json = json_dumps(refs, JSON_COMPACT);
    json_decref(refs);
    if (job->refs_json == NULL
	|| (job->from_json = addrs_json(&mi->from)) == NULL
	|| (job->to_json = addrs_json(&mi->to)) == NULL
	|| (job->cc_json = addrs_json(&mi->cc)) == NULL
	|| (job->reply_to_json = addrs_json(&mi->reply_to)) == NULL
	|| add_participants(st, &job->participants, &mi->from) < 0
	|| add_participants(st, &job->participants, &mi->to) < 0
	|| add_participants(st, &job->participants, &mi->cc) < 0
	|| dedup_key(rec, job->dedup_key) < 0)
	goto fail;
    /* The spool digested the bytes as they came: no second pass over them. */
    if (rec->raw != NULL && cs_spool_sha256(rec->raw, job->raw_sha256) == 0)
	job->raw_size = cs_spool_kept(rec->raw);
    else if (raw_digest(rec->raw, job->raw_sha256, &job->raw_size) < 0) {
	snprintf(why, whylen, "cannot read the spooled message");
	goto fail;
    }
    if (rec->raw)
	job->raw = cs_spool_ref(rec->raw);

    if ((job->copies = calloc(rec->ncopies ? rec->ncopies : 1, sizeof(*job->copies))) == NULL
	|| (job->results = calloc(rec->ncopies ? rec->ncopies : 1, sizeof(int))) == NULL)
	goto fail;
    job->ncopies = rec->ncopies;
    for (i = 0; i < rec->ncopies; i++) {
	const cs_copy *c = &rec->copies[i];
	cs_store_jcopy *jc = &job->copies[i];

	jc->direction = c->direction;
	jc->conditional = c->conditional;
	cs_strlist bcc = {0};

	if ((jc->user = cs_strdup(c->user)) == NULL
	    || clean_list(&jc->labels, c->labels) < 0
	    || clean_list(&jc->env_rcpts, c->env_rcpts) < 0
	    || clean_list(&bcc, c->bcc) < 0
	    || (jc->envelope_json = envelope_json(job->env_from, &jc->env_rcpts, &bcc)) == NULL) {
	    cs_strlist_free(&bcc);
	    goto fail;
	}
	cs_strlist_free(&bcc);
    }
    if (rec->ncontacts) {
	if ((job->contacts = calloc(rec->ncontacts, sizeof(*job->contacts))) == NULL)
	    goto fail;
	job->ncontacts = rec->ncontacts;
	for (i = 0; i < rec->ncontacts; i++) {
	    const cs_contact *c = &rec->contacts[i];

	    if ((job->contacts[i].owner = cs_strdup(c->owner)) == NULL
		|| (job->contacts[i].address = utf8_clean(c->address)) == NULL
		|| (c->name && (job->contacts[i].name = utf8_clean(c->name)) == NULL))
		goto fail;
	}
    }
    return job;

fail:
    job_free(job);
    return NULL;
}

/* job_unref - drop one reference; qlock held */
static void job_unref(cs_store_job *job)
{
    if (--job->refs == 0)
	job_free(job);
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
    *bytes = sum;
    return n;
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

/* writer_main - commit queued jobs in groups, one transaction each */
static void *writer_main(void *arg)
{
    cs_store *st = arg;
    cs_store_job *group[CS_STORE_BULK_GROUP_MAX > CS_STORE_GROUP_MAX
			 ? CS_STORE_BULK_GROUP_MAX : CS_STORE_GROUP_MAX];
    struct timespec t0;
    uint64_t bytes;
    size_t  n, i;
    long    ms;
    int     rc;

    pthread_mutex_lock(&st->qlock);
    for (;;) {
	while (st->qhead == NULL && !st->stopping)
	    pthread_cond_wait(&st->qcond, &st->qlock);
	if (st->qhead == NULL && st->stopping)
	    break;
	n = writer_take(st, group, &bytes);
	st->group_running = 1;
	clock_gettime(CLOCK_MONOTONIC, &st->group_t0);
	st->group_raw = bytes;
	pthread_mutex_unlock(&st->qlock);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&st->wlock);
	rc = st->ops->write_group(st, group, n);
	pthread_mutex_unlock(&st->wlock);
	ms = ms_since(&t0);
	if (rc != CS_OK)
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
	if (rc == CS_OK)
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
    if (strncmp(database, "postgresql://", 13) == 0
	|| strncmp(database, "postgres://", 11) == 0) {
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
    pthread_cond_init(&st->qcond, NULL);
    pthread_cond_init(&st->acond, NULL);
    if (ops->open(st, database, flags, timeout_ms, err, errlen) != CS_OK) {
	pthread_cond_destroy(&st->acond);
	pthread_cond_destroy(&st->qcond);
	pthread_mutex_destroy(&st->qlock);
	pthread_mutex_destroy(&st->wlock);
	free(st);
	return NULL;
    }
    if ((flags & CS_STORE_WRITER) && !(flags & CS_STORE_READONLY)) {
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
	    snprintf(err, errlen, "cannot start the store writer thread");
	    cs_store_close(st);
	    return NULL;
	}
	st->writer_started = 1;
    }
    return st;
}

/* cs_store_close - drain the queue, stop the writer, close the backend */
void    cs_store_close(cs_store *st)
{
    if (st == NULL)
	return;
    if (st->writer_started) {
	pthread_mutex_lock(&st->qlock);
	st->stopping = 1;
	/* A stop that is killed meanwhile loses these: say how many. */
	if (st->qlen > 0)
	    cs_info(NULL, "store: stopping: committing %zu queued record(s) first", st->qlen);
	pthread_cond_signal(&st->qcond);
	pthread_mutex_unlock(&st->qlock);
	pthread_join(st->writer, NULL);
    }
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
    pthread_cond_signal(&st->qcond);
}

/* record_valid - reject records the backend cannot store */
static int record_valid(const cs_record *rec)
{
    size_t  i;

    if (rec == NULL || rec->info == NULL || (rec->ncopies && rec->copies == NULL)
	|| (rec->ncontacts && rec->contacts == NULL))
	return 0;
    for (i = 0; i < rec->ncopies; i++)
	if (rec->copies[i].user == NULL || *rec->copies[i].user == 0)
	    return 0;
    for (i = 0; i < rec->ncontacts; i++)
	if (rec->contacts[i].owner == NULL || rec->contacts[i].address == NULL)
	    return 0;
    return 1;
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
    memset(w, 0, sizeof(*w));
    return record_wait(st, rec, wait_ms, timeout_ms, results, w);
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
    uint64_t groups0;
    int     rc, e = 0;

    if (st == NULL || !record_valid(rec))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if (results)
	for (size_t i = 0; i < rec->ncopies; i++)
	    results[i] = 0;
    if (rec->ncopies == 0 && rec->ncontacts == 0)
	return CS_OK;
    if ((job = job_new(st, rec, why, sizeof(why))) == NULL) {
	cs_error(rec->queue_id, "store: %s", why);
	return CS_EINTERNAL;
    }
    if (!st->writer_started) {
	/* Inline (crmsyncctl): the same group code, a group of one. */
	pthread_mutex_lock(&st->wlock);
	st->ops->write_group(st, &job, 1);
	pthread_mutex_unlock(&st->wlock);
	rc = job->rc;
	if (results)
	    memcpy(results, job->results, rec->ncopies * sizeof(int));
	job_free(job);
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
	job_free(job);
	cs_log_limited(&store_fail_log, 60, CS_LOG_ERROR, rec->queue_id,
		       "store: writer queue full, record not stored");
	return CS_EINTERNAL;
    }
    job->refs = 2;				/* queue and this caller */
    queue_push(st, job);
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
	if (!writer_moving(st, groups0))
	    break;
    }
    if (job->done) {
	rc = job->rc;
	if (results)
	    memcpy(results, job->results, rec->ncopies * sizeof(int));
    } else if (w != NULL) {
	/* The caller journals it (C6): the writer must not store it too. */
	rc = CS_EINTERNAL;
	w->timed_out = 1;
	w->progress = writer_moving(st, groups0);
	if (!queue_withdraw(st, job))
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
    cs_store_job *job;
    char    why[128];
    uint64_t budget;

    if (st == NULL || done == NULL || !record_valid(rec))
	return CS_EINVAL;
    if (st->flags & CS_STORE_READONLY)
	return CS_EINTERNAL;
    if ((job = job_new(st, rec, why, sizeof(why))) == NULL) {
	cs_error(rec->queue_id, "store: %s", why);
	return CS_EINTERNAL;
    }
    if (!st->writer_started || (rec->ncopies == 0 && rec->ncontacts == 0)) {
	/* Inline: the same group code, a group of one, reported at once. */
	if (rec->ncopies || rec->ncontacts) {
	    pthread_mutex_lock(&st->wlock);
	    st->ops->write_group(st, &job, 1);
	    pthread_mutex_unlock(&st->wlock);
	} else
	    job->rc = CS_OK;
	done(arg, job->rc, job->results);
	job_free(job);
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
	job_free(job);
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
    if ((job = job_new(st, &rec, why, sizeof(why))) == NULL)
	return CS_EINTERNAL;
    rc = st->ops->joins_thread(st, user, job);
    job_free(job);
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
    rc = st->ops->sync_users(st, ids, roles, NULL, n);
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
    rc = st->ops->sync_users(st, ids, roles, addrs, n);
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

/* cs_store_mailbox - the acting user's own threads, newest first (V2) */
int     cs_store_mailbox(cs_store *st, const char *as, const char *label, int limit,
			         const char *cursor, json_t **out)
{
    int     rc;

    if (out)
	*out = NULL;
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
    return st->ops->mailbox(st, as, label, limit, cursor, out);
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
    rc = st->ops->stats(st, out);
    /* X3: the outbox's counts, when the backend has one. */
    if (rc == CS_OK && st->ops->events_stats && st->ops->events_stats(st, &ev) == CS_OK
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
    return st->ops->thread(st, as, thread, out);
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
    return st->ops->thread_raw(st, as, thread, fn, arg);
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
    return st->ops->attachment(st, as, thread, n, out);
}

/* cs_store_record_threads - the threads on a deal's or person's page */
int     cs_store_record_threads(cs_store *st, const char *as, const char *kind, const char *id,
				        int limit, const char *cursor, json_t **out)
{
    int     rc;

    if (kind == NULL || id == NULL || out == NULL
	|| (strcmp(kind, "deal") != 0 && strcmp(kind, "person") != 0) || limit < 0)
	return CS_EINVAL;
    if ((rc = ctl_args(st, as, out, NULL, 0, NULL)) != CS_OK)
	return rc;
    if (limit == 0)
	limit = 50;
    if (limit > 500)
	limit = 500;
    return st->ops->record_threads(st, as, kind, id, limit, cursor, out);
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
    rc = st->ops->threads_set(st, as, action, threads, n, out, err, errlen);
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
    return st->ops->link(st, as, thread, kind, id, unlink, out, err, errlen);
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
    return st->ops->contact_create(st, as, thread, address, name, out, err, errlen);
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
    return st->ops->directory_import(st, snapshot, out, err, errlen);
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
    if ((st->flags & CS_STORE_READONLY) || st->ops->events_retry == NULL)
	return CS_EINTERNAL;
    pthread_mutex_lock(&st->wlock);
    rc = st->ops->events_retry(st, n);
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
    if (st->ops->events_stats == NULL)
	return CS_EINTERNAL;
    return st->ops->events_stats(st, out);
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
