/*
 * NAME
 *	cs_store_job 3
 * SUMMARY
 *	a record becomes a job: a deep copy with everything derived
 * DESCRIPTION
 *	cs_store_job_new() copies the caller's cs_record (UTF-8-cleaned)
 *	and computes what needs no database, in the caller's thread, so
 *	that the single writer does only database work: the T2 dedup key,
 *	the raw message's SHA-256, the JSON forms of the address lists and
 *	of each copy's envelope (C4), the participants normalized with the
 *	store's delimiters (C2). Also the helpers of stored address lists
 *	that reading shares (cs_store_bcc_json).
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
#include "cs_store_util.h"

/* cs_store_normalize - normalize an address with the store's delimiters */
int     cs_store_normalize(const cs_store *st, const char *in, char *out, size_t outlen)
{
    return cs_addr_normalize(in, st->delims, out, outlen);
}

/* cs_store_job_free - release a job and everything it copied */
void    cs_store_job_free(cs_store_job *job)
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
    json_decref(job->from_list);
    json_decref(job->to_list);
    json_decref(job->cc_list);
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

/* utf8_clean - copy of s with invalid UTF-8 bytes as '?' (JSON needs UTF-8) */
static char *utf8_clean(const char *s)
{
    char   *out, *o;
    const unsigned char *p;
    unsigned long cp;
    size_t  n;

    if (s == NULL || (out = malloc(strlen(s) + 1)) == NULL)
	return NULL;
    /* 4: a NUL ends a sequence as a bad continuation byte, never read past. */
    for (p = (const unsigned char *) s, o = out; *p; ) {
	if ((n = cs_utf8_char(p, 4, &cp)) == 0) {
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

/*
 * job_json - v as json_dumps(v, JSON_COMPACT) writes it, through the
 * store's own writer (cs_json_write: the same bytes, a fraction of the
 * cost); NULL when out of memory. jansson makes no string that is not
 * UTF-8, which is all cs_json_write refuses besides memory.
 */
static char *job_json(const json_t *v)
{
    cs_buf  b = {0};

    if (cs_json_write(&b, v, 0) < 0 || cs_buf_append(&b, "", 0) < 0) {
	cs_buf_free(&b);
	return NULL;
    }
    return b.data;
}

/*
 * addrs_json - the JSON text of an address list, names kept; the array
 * itself into *keep (NULL: none) for the thread summary, which would
 * otherwise parse the text again for every copy
 */
static char *addrs_json(const cs_addrlist *l, json_t **keep)
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
    s = job_json(a);
    if (s != NULL && keep != NULL)
	*keep = a;
    else
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

/* cs_store_job_raw - the raw bytes in one piece, without a copy if it can */
const void *cs_store_job_raw(const cs_store_job *job, void **copy)
{
    const void *mem;
    uint64_t len = 0, off = 0;
    ssize_t got;
    char   *buf;

    *copy = NULL;
    if (job->raw == NULL || job->raw_size == 0)
	return "";
    /* The size was fixed when the job was made; never read past it. */
    if ((mem = cs_spool_contiguous(job->raw, &len)) != NULL && len >= job->raw_size)
	return mem;
    if (job->raw_size > SIZE_MAX || (buf = malloc((size_t) job->raw_size)) == NULL)
	return NULL;
    while (off < job->raw_size) {
	size_t  want = job->raw_size - off < CS_STORE_CHUNK ? (size_t) (job->raw_size - off)
	: CS_STORE_CHUNK;

	if ((got = cs_spool_pread(job->raw, buf + off, want, off)) <= 0) {
	    free(buf);
	    return NULL;			/* spool shrank or failed */
	}
	off += (uint64_t) got;
    }
    return *copy = buf;
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
    if (EVP_DigestInit_ex(ctx, cs_sha256_md(), NULL) != 1)
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
    cs_hex(md, mdlen, hex);
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
    s = job_json(o);
    json_decref(o);
    return s;
}

/* cs_store_bcc_json - a stored envelope's bcc as an address list's JSON */
char   *cs_store_bcc_json(const char *envelope)
{
    json_t *o, *b, *out, *v;
    char   *s = NULL;
    size_t  i;

    /*
     * Most copies have none: the envelope is envelope_json's text (jansson escapes no ASCII letter), so without the text "bcc"
     * it has no such key, and reading every message of a page need not
     * parse its envelope.
     */
    if (envelope == NULL || strstr(envelope, "\"bcc\"") == NULL)
	return NULL;
    o = json_loads(envelope, 0, NULL);
    b = json_object_get(o, "bcc");
    if (!json_is_array(b) || json_array_size(b) == 0 || (out = json_array()) == NULL) {
	json_decref(o);
	return NULL;
    }
    json_array_foreach(b, i, v)
	if (json_is_string(v))
	    json_array_append_new(out, json_pack("{s:n,s:O}", "name", "address", v));
    s = job_json(out);
    json_decref(out);
    json_decref(o);
    return s;
}

/* cs_store_job_new - deep copy of a record, with every derived field computed */
cs_store_job *cs_store_job_new(const cs_store *st, const cs_record *rec, char *why, size_t whylen)
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
    job->refs_json = job_json(refs);
    json_decref(refs);
    if (job->refs_json == NULL
	|| (job->from_json = addrs_json(&mi->from, &job->from_list)) == NULL
	|| (job->to_json = addrs_json(&mi->to, &job->to_list)) == NULL
	|| (job->cc_json = addrs_json(&mi->cc, &job->cc_list)) == NULL
	|| (job->reply_to_json = addrs_json(&mi->reply_to, NULL)) == NULL
	|| add_participants(st, &job->participants, &mi->from) < 0
	|| add_participants(st, &job->participants, &mi->to) < 0
	|| add_participants(st, &job->participants, &mi->cc) < 0
	|| dedup_key(rec, job->dedup_key) < 0)
	goto fail;
    /* Addressed as the bytes came (the caller, or the spool): no second pass. */
    if (rec->raw != NULL && rec->raw_address != NULL && strlen(rec->raw_address) == 64) {
	memcpy(job->raw_sha256, rec->raw_address, 65);
	job->raw_size = cs_spool_kept(rec->raw);
    } else if (rec->raw != NULL && cs_spool_sha256(rec->raw, job->raw_sha256) == 0)
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
    cs_store_job_free(job);
    return NULL;
}

/* cs_store_record_valid - reject records the backend cannot store */
int     cs_store_record_valid(const cs_record *rec)
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
