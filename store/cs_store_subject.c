/*
 * NAME
 *	cs_store_subject 3
 * SUMMARY
 *	data-subject access and erasure (SPEC R2), mailbox purge (R3)
 * DESCRIPTION
 *	A copy concerns an address when the address, normalized as
 *	participants are (lower case, subaddress detail dropped, C2), is in
 *	its From, To, Cc or Reply-To list or its envelope (sender or a
 *	recipient the copy kept). The backend only narrows the candidates
 *	(msg_list with the address's "@domain" as a substring); the exact
 *	test is written here, once. (The local part is a second substring:
 *	lower-cased, a stored "Dana+x@Example.org" holds both "dana" and
 *	"@example.org".)
 *
 *	Export writes each distinct message once (copies in several
 *	mailboxes share one raw message, C3) as mboxrd, and answers the
 *	index: which mailboxes and threads held it, its date and subject.
 *
 *	Erasure deletes every such copy (cs_store_erase.c: events, threads
 *	left empty), then the persons crmsync made for the address; CRM
 *	directory persons with it are listed, not deleted (they are the
 *	CRM's). Since every copy naming the address in a participant list
 *	or its envelope is deleted, no remaining copy holds it there. The
 *	answer and the audit rows carry counts only, never the address.
 *
 *	Purge deletes a user's whole mailbox, the persons they made, and
 *	the user; the caller checks that the user left the policy.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Utility library. */
#include "cs_addr.h"
#include "cs_util.h"

/* Application-specific. */
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_event.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_erase.h"

#define SUBJECT_PAGE	500

/* cs_store_list_has - is norm in a stored address list? copies its display name */
int     cs_store_list_has(const cs_store *st, const char *text, const char *norm, char **name)
{
    json_t *a = json_loads(text, 0, NULL), *v;
    char    n[CS_ADDR_MAX + 1];
    size_t  i;
    int     found = 0;

    json_array_foreach(a, i, v) {
	const char *addr = json_string_value(json_object_get(v, "address"));
	const char *dn = json_string_value(json_object_get(v, "name"));

	if (addr == NULL || cs_store_normalize(st, addr, n, sizeof(n)) < 0 || strcmp(n, norm))
	    continue;
	found = 1;
	if (name && dn && *dn && *name == NULL)
	    *name = strdup(dn);
    }
    json_decref(a);
    return found;
}

/* cs_store_envelope_has - is norm the envelope sender or a recipient this copy kept? */
int     cs_store_envelope_has(const cs_store *st, const char *text, const char *norm)
{
    json_t *e = json_loads(text, 0, NULL), *v;
    char    n[CS_ADDR_MAX + 1];
    const char *from = json_string_value(json_object_get(e, "from"));
    size_t  i;
    int     found = from && cs_store_normalize(st, from, n, sizeof(n)) == 0
	&& strcmp(n, norm) == 0;

    json_array_foreach(json_object_get(e, "rcpts"), i, v) {
	const char *r = json_string_value(v);

	if (r && cs_store_normalize(st, r, n, sizeof(n)) == 0 && strcmp(n, norm) == 0)
	    found = 1;
    }
    json_decref(e);
    return found;
}

/* concerns - does the copy name norm in a participant list or its envelope? */
static int concerns(const cs_store *st, const cs_store_msg *m, const char *norm)
{
    for (int i = 0; i < 4; i++)
	if (cs_store_list_has(st, m->lists[i], norm, NULL))
	    return 1;
    return cs_store_envelope_has(st, m->lists[4], norm);
}

/* collect - every copy q selects that names norm (NULL: all), in (owner, id) order */
static int collect(cs_store *st, cs_store_msgq q, const char *norm,
		           cs_store_msg **all, size_t *nall)
{
    cs_store_msg *page, *grown;
    char   *after = NULL;
    size_t  n, i, cap = 0;
    int     rc;

    *all = NULL;
    *nall = 0;
    q.limit = SUBJECT_PAGE;
    for (;;) {
	q.after_owner = after;
	if ((rc = st->ops->msg_list(st, &q, &page, &n)) != CS_OK)
	    break;
	/* The next page starts after this one's last row. */
	free(after);
	after = n ? strdup(page[n - 1].owner) : NULL;
	q.after_id = n ? page[n - 1].id : 0;
	for (i = 0; rc == CS_OK && i < n; i++) {
	    if (norm && !concerns(st, page + i, norm))
		continue;
	    if (*nall == cap) {
		cap = cap ? 2 * cap : 64;
		if ((grown = realloc(*all, cap * sizeof(**all))) == NULL) {
		    rc = CS_EINTERNAL;
		    break;
		}
		*all = grown;
	    }
	    (*all)[(*nall)++] = page[i];
	    memset(page + i, 0, sizeof(page[i]));	/* moved */
	}
	cs_store_msgs_free(page, n);
	if (rc != CS_OK || n < SUBJECT_PAGE)
	    break;
	if (after == NULL) {
	    rc = CS_EINTERNAL;
	    break;
	}
    }
    free(after);
    if (rc != CS_OK) {
	cs_store_msgs_free(*all, *nall);
	*all = NULL;
	*nall = 0;
    }
    return rc;
}

/* subject_norm - normalize the address and derive the backend's needle */
static int subject_norm(const cs_store *st, const char *address, char *norm, size_t normlen,
			        char *needle, size_t needlelen, char *local, size_t locallen)
{
    const char *at;

    if (address == NULL || strlen(address) > CS_ADDR_MAX
	|| cs_store_normalize(st, address, norm, normlen) < 0
	|| (at = strrchr(norm, '@')) == NULL || at == norm || at[1] == 0)
	return CS_EINVAL;
    snprintf(needle, needlelen, "%s", at);
    snprintf(local, locallen, "%.*s", (int) (at - norm), norm);
    return CS_OK;
}

/* subject_copies - every copy concerning address */
static int subject_copies(cs_store *st, const char *address, cs_store_msg **all, size_t *n)
{
    char    norm[CS_ADDR_MAX + 1], needle[CS_ADDR_MAX + 1], local[CS_ADDR_MAX + 1];
    cs_store_msgq q = {0};
    int     rc;

    if (!cs_store_erase_supported(st))
	return CS_EINTERNAL;
    if ((rc = subject_norm(st, address, norm, sizeof(norm), needle, sizeof(needle),
			   local, sizeof(local))) != CS_OK)
	return rc;
    q.needle = needle;
    q.needle2 = local;
    return collect(st, q, norm, all, n);
}

/* raw_cmp - order copies by raw message, then owner */
static int raw_cmp(const void *a, const void *b)
{
    const cs_store_msg *x = a, *y = b;

    if (x->raw != y->raw)
	return x->raw < y->raw ? -1 : 1;
    return strcmp(x->owner, y->owner);
}

/* mboxrd_write - one message as mboxrd: From_ line, >From quoting, blank line */
static int mboxrd_write(FILE *fp, const cs_buf *b, time_t when)
{
    const char *p = b->data, *end = b->data + b->len;
    char    date[64];
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    if (fprintf(fp, "From MAILER-DAEMON %s\n", date) < 0)
	return -1;
    while (p < end) {
	const char *nl = memchr(p, '\n', (size_t) (end - p));
	size_t  len = nl ? (size_t) (nl - p) : (size_t) (end - p);
	const char *q = p;

	while (q < p + len && *q == '>')
	    q++;
	if ((size_t) (p + len - q) >= 5 && memcmp(q, "From ", 5) == 0 && fputc('>', fp) == EOF)
	    return -1;
	if (len && p[len - 1] == '\r')		/* stored as received: CRLF */
	    len--;
	if (fwrite(p, 1, len, fp) != len || fputc('\n', fp) == EOF)
	    return -1;
	p += (nl ? (size_t) (nl - p) + 1 : len);
	if (nl == NULL)
	    break;
    }
    return fputc('\n', fp) == EOF ? -1 : 0;
}

/* cs_store_subject_export - every message concerning address, once, as mboxrd */
int     cs_store_subject_export(cs_store *st, const char *address, FILE *mbox,
				        const char *who, json_t **out)
{
    cs_store_msg *v = NULL;
    size_t  n = 0, i, j;
    json_t *index = json_array(), *e = NULL, *detail;
    cs_buf  raw = {0};
    int     rc;

    *out = NULL;
    if (index == NULL)
	return CS_EINTERNAL;
    if ((rc = subject_copies(st, address, &v, &n)) != CS_OK) {
	json_decref(index);
	return rc;
    }
    if (n > 1)
	qsort(v, n, sizeof(*v), raw_cmp);
    for (i = 0; rc == CS_OK && i < n; i = j) {
	json_t *boxes = json_array(), *threads = json_array();
	time_t  when = v[i].has_date ? v[i].date : v[i].arrival;
	char    date[32], tid[32];

	for (j = i; j < n && v[j].raw == v[i].raw; j++) {
	    snprintf(tid, sizeof(tid), "t%lld", (long long) v[j].thread);
	    if (j == i || strcmp(v[j].owner, v[j - 1].owner) != 0)
		json_array_append_new(boxes, json_string(v[j].owner));
	    json_array_append_new(threads, json_pack("{s:s,s:s}", "mailbox", v[j].owner,
						     "thread", tid));
	}
	cs_iso_date((long long) when, date, sizeof(date));
	e = json_pack("{s:I,s:o,s:o,s:s,s:s?}", "n", (json_int_t) json_array_size(index) + 1,
		      "mailboxes", boxes, "threads", threads, "date", date,
		      "subject", v[i].subject);
	cs_buf_reset(&raw);
	if (e == NULL || json_array_append_new(index, e) < 0)
	    rc = CS_EINTERNAL;
	else if ((rc = st->ops->msg_raw(st, v[i].raw, &raw)) == CS_OK
		 && mboxrd_write(mbox, &raw, when) < 0)
	    rc = CS_EINTERNAL;
    }
    cs_buf_free(&raw);
    cs_store_msgs_free(v, n);
    if (rc == CS_OK && fflush(mbox) == EOF)
	rc = CS_EINTERNAL;
    /* The audit row: what was done and how much, never the address. */
    if (rc == CS_OK && (rc = cs_store_wbegin(st)) == CS_OK) {
	detail = json_pack("[{s:I}]", "messages", (json_int_t) json_array_size(index));
	rc = cs_store_audit(st, who, "subject.export", detail, time(NULL));
	json_decref(detail);
	rc = cs_store_wend(st, rc);
    }
    if (rc != CS_OK) {
	json_decref(index);
	return rc;
    }
    *out = index;
    return CS_OK;
}

/* by_owner_thread - qsort order of copies: owner, then thread */
static int by_owner_thread(const void *a, const void *b)
{
    const cs_store_msg *x = a, *y = b;
    int     d = strcmp(x->owner, y->owner);

    return d ? d : (x->thread > y->thread) - (x->thread < y->thread);
}

/* distinct_threads - how many (owner, thread) pairs the copies touch (sorts v) */
static long distinct_threads(cs_store_msg *v, size_t n)
{
    long    k = 0;

    if (n == 0)
	return 0;
    qsort(v, n, sizeof(*v), by_owner_thread);
    for (size_t i = 0; i < n; i++)
	k += i == 0 || by_owner_thread(v + i - 1, v + i) != 0;
    return k;
}

/* cs_store_subject_erase - R2: the address's copies and crmsync's persons for it */
int     cs_store_subject_erase(cs_store *st, const char *address, int dry_run,
				       const char *who, json_t **out)
{
    char    norm[CS_ADDR_MAX + 1], needle[CS_ADDR_MAX + 1], local[CS_ADDR_MAX + 1];
    char    escaped[6 * CS_ADDR_MAX + 1];
    cs_store_msg *v = NULL;
    cs_erase_counts c = {0, 0};
    json_t *crm = json_array(), *detail;
    long    persons = 0, more = 0;
    size_t  n = 0;
    int     rc, scrubbed = dry_run;

    *out = NULL;
    if (crm == NULL)
	return CS_EINTERNAL;
    if ((rc = subject_norm(st, address, norm, sizeof(norm), needle, sizeof(needle), local,
			   sizeof(local))) != CS_OK
	|| (rc = subject_copies(st, address, &v, &n)) != CS_OK) {
	json_decref(crm);
	return rc;
    }
    if (dry_run) {
	c.messages = (long) n;
	c.threads = distinct_threads(v, n);
    } else
	rc = cs_store_erase_copies(st, v, n, who, "subject.erase", &c);
    cs_store_msgs_free(v, n);
    if (rc == CS_OK && (rc = cs_store_wbegin(st)) == CS_OK) {
	rc = cs_prim_crm_persons(st, norm, crm);
	if (rc == CS_OK)
	    rc = st->ops->erase_step(st, CS_ERASE_MADE, norm, 0, &persons);
	/* Events spell a non-ASCII address with \u escapes, "\u00fc" (R2: those too). */
	if (rc == CS_OK && cs_event_text_form(norm, escaped, sizeof(escaped)) == 1)
	    rc = st->ops->erase_step(st, CS_ERASE_MADE, escaped, 0, &more);
	if (rc == CS_OK) {
	    detail = json_pack("[{s:I,s:I,s:I}]", "messages", (json_int_t) c.messages,
			       "threads", (json_int_t) c.threads, "persons", (json_int_t) persons);
	    rc = cs_store_audit(st, who, "subject.erase", detail, time(NULL));
	    json_decref(detail);
	}
	/* A dry run rolls back: it counts the persons it would delete. */
	rc = cs_store_wend(st, dry_run && rc == CS_OK ? CS_EINVAL : rc);
	if (dry_run && rc == CS_EINVAL)
	    rc = CS_OK;
    }
    if (rc == CS_OK && !dry_run)
	scrubbed = cs_store_erase_scrub(st) == CS_OK;
    if (rc != CS_OK) {
	json_decref(crm);
	return rc;
    }
    *out = json_pack("{s:b,s:b,s:I,s:I,s:I,s:o}", "dry_run", dry_run, "scrubbed", scrubbed,
		     "messages_deleted", (json_int_t) c.messages,
		     "threads_deleted", (json_int_t) c.threads,
		     "persons_deleted", (json_int_t) persons, "crm_persons", crm);
    return *out ? CS_OK : CS_EINTERNAL;
}

/* cs_store_mailbox_purge - R3: a user's whole mailbox, their persons, the user */
int     cs_store_mailbox_purge(cs_store *st, const char *user, int dry_run, const char *who,
				       json_t **out)
{
    cs_store_msgq q = {0};
    cs_store_msg *v = NULL;
    cs_erase_counts c = {0, 0};
    size_t  n = 0;
    long    changed;
    int     rc, scrubbed = dry_run;

    *out = NULL;
    if (user == NULL || *user == 0 || strlen(user) > 255)
	return CS_EINVAL;
    if (!cs_store_erase_supported(st))
	return CS_EINTERNAL;
    q.owner = user;
    if ((rc = collect(st, q, NULL, &v, &n)) != CS_OK)
	return rc;
    if (dry_run) {
	c.messages = (long) n;
	c.threads = distinct_threads(v, n);
    } else
	rc = cs_store_erase_copies(st, v, n, who, "mailbox.purge", &c);
    cs_store_msgs_free(v, n);
    if (rc == CS_OK && !dry_run && (rc = cs_store_wbegin(st)) == CS_OK)
	rc = cs_store_wend(st, st->ops->erase_step(st, CS_ERASE_USER, user, 0, &changed));
    if (rc == CS_OK && !dry_run)
	scrubbed = cs_store_erase_scrub(st) == CS_OK;
    if (rc != CS_OK)
	return rc;
    *out = json_pack("{s:b,s:b,s:s,s:I,s:I}", "dry_run", dry_run, "scrubbed", scrubbed,
		     "user", user,
		     "messages_deleted", (json_int_t) c.messages,
		     "threads_deleted", (json_int_t) c.threads);
    return *out ? CS_OK : CS_EINTERNAL;
}
