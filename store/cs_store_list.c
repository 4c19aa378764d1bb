/*
 * NAME
 *	cs_store_list 3
 * SUMMARY
 *	lists of threads in X1's shape: the mailbox, a record's page, one thread
 * DESCRIPTION
 *	Written once over cs_store_db.h for both dialects. A list is built
 *	in a constant number of statements whatever its length: the rows
 *	of the query that chose the threads (the mailbox's own rows, or a
 *	statement with the dialect's visibility rule), then one statement
 *	per attribute for all of them: every message's address lists, the
 *	participants' persons, the links, the labels. Those rows passed the
 *	visibility rule in the same snapshot (or the same write
 *	transaction), so the detail statements take their (owner, id) keys
 *	as they are, a JSON array of [owner, id] pairs (SQLite's json_each,
 *	PostgreSQL's jsonb_array_elements): a statement per thread and per
 *	participant made a 50-thread page cost about 20 million
 *	instructions. Links and persons pass the dialect's access rule for
 *	the reader (V6); labels are the owner's folders, only the owner
 *	sees them.
 *
 *	Participants: each message's from, to and cc lists and, for the
 *	sender's copy, its envelope-only recipients (C4), in order, at most
 *	CS_STORE_MAX_PARTICIPANTS, an address once (normalized), a name
 *	missing at first sight taken from a later one. A stored list text
 *	is parsed once per list (the same text recurs in every message of
 *	a conversation, the reader's own address in every thread), and a
 *	text already added to a thread adds nothing again.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_db.h"
#include "cs_store_prim.h"
#include "cs_store_util.h"
#include "cs_store_read.h"

#define SQL(st)	((st)->ops->sql)

/* List texts a thread remembers as added; past these, adding again is harmless. */
#define LIST_APPLIED	16

/* One thread of a list while its details come in. */
typedef struct tdraft {
    json_t *obj;			/* the thread, owned by the draft */
    json_t *parts, *labels, *deals, *persons;	/* borrowed from obj */
    cs_strlist seen;			/* participants' keys */
    const json_t *applied[LIST_APPLIED];	/* parsed lists already added */
    size_t  napplied;
    long long id;
    int     mine;			/* the reader owns it: labels */
    int     read;			/* no summary: read its messages */
} tdraft;

/* One participant waiting for its person (V6). */
typedef struct pending {
    json_t *obj;			/* borrowed from a draft's participants */
    size_t  key;			/* index in the list's keys */
} pending;

/* A list being built. */
typedef struct tlist {
    cs_store *st;
    int     w;
    const char *as;
    tdraft *d;
    int     n;
    json_t *lists;			/* stored list text -> parsed array (or null) */
    json_t *keys;			/* participants' distinct keys, a JSON array */
    json_t *index;			/* key -> its index in keys */
    pending *v;
    size_t  nv, cap;
    int     seen;			/* summaries fill the drafts' seen (to add more) */
} tlist;

/* set - o[key] = v (v taken); -1 when v is NULL (no memory, or not UTF-8) */
static int set(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new_nocheck(o, key, v) < 0 ? -1 : 0;
}

/*
 * parsed - a stored list text, parsed once per list: 0 and *arr (NULL:
 * not ours, shows nothing), -1 when it cannot be kept (no memory: a
 * text that is not UTF-8 never gets here, json_loads refuses it)
 */
static int parsed(tlist *l, const char *text, const json_t **arr)
{
    json_t *j = json_object_get(l->lists, text);

    if (j == NULL) {
	if ((j = json_loads(text, 0, NULL)) == NULL) {
	    *arr = NULL;
	    return 0;
	}
	if (!json_is_array(j)) {
	    json_decref(j);
	    j = json_null();		/* not read again */
	}
	if (json_object_set_new(l->lists, text, j) < 0)
	    return -1;
    }
    *arr = json_is_array(j) ? j : NULL;
    return 0;
}

/*
 * known - a list's text and the same list already parsed (NULL: none),
 * as parsed() would keep it; 0 when it cannot be kept
 */
static int known(tlist *l, const char *text, json_t *arr)
{
    return text == NULL || !json_is_array(arr) || json_object_get(l->lists, text) != NULL
	|| json_object_set(l->lists, text, arr) == 0;
}

/* wait_person - the participant waits for the list's persons statement */
static int wait_person(tlist *l, const char *key, json_t *participant)
{
    json_t *ix;
    size_t  k;

    if ((ix = json_object_get(l->index, key)) != NULL)
	k = (size_t) json_integer_value(ix);
    else {
	k = json_array_size(l->keys);
	if (json_array_append_new(l->keys, json_string(key)) < 0
	    || json_object_set_new(l->index, key, json_integer((json_int_t) k)) < 0)
	    return -1;
    }
    if (l->nv == l->cap) {
	size_t  cap = l->cap ? l->cap * 2 : 64;
	pending *nv = realloc(l->v, cap * sizeof(*nv));

	if (nv == NULL)
	    return -1;
	l->v = nv;
	l->cap = cap;
    }
    l->v[l->nv++] = (pending) {participant, k};
    return 0;
}

/*
 * add_parts - a stored address list's new participants into a thread
 * ({"name", "address", "person": null}; the person is filled in later)
 */
static int add_parts(tlist *l, tdraft *d, const char *text)
{
    const json_t *arr;
    json_t *v, *o;
    size_t  i;
    char    norm[CS_ADDR_MAX + 1];

    if (text == NULL)
	return 0;
    if (parsed(l, text, &arr) < 0)
	return -1;
    if (arr == NULL)
	return 0;
    /* The same list again adds nothing: every address is seen, with its name. */
    for (i = 0; i < d->napplied; i++)
	if (d->applied[i] == arr)
	    return 0;
    if (d->napplied < LIST_APPLIED)
	d->applied[d->napplied++] = arr;
    json_array_foreach(arr, i, v) {
	const char *addr = json_string_value(json_object_get(v, "address"));
	const char *name = json_string_value(json_object_get(v, "name"));
	const char *key;

	if (json_array_size(d->parts) >= CS_STORE_MAX_PARTICIPANTS)
	    break;
	if (addr == NULL)
	    continue;
	key = cs_store_normalize(l->st, addr, norm, sizeof(norm)) == 0 ? norm : addr;
	if (cs_store_part_seen(d->parts, &d->seen, key, name))
	    continue;
	if ((o = json_object()) == NULL || set(o, "name", name ? json_string(name) : json_null())
	    || set(o, "address", json_string(addr)) || set(o, "person", json_null())
	    || cs_strlist_add(&d->seen, key) < 0) {
	    json_decref(o);
	    return -1;
	}
	if (json_array_append_new(d->parts, o) < 0 || wait_person(l, key, o) < 0)
	    return -1;
    }
    return 0;
}

/* draft_new - a thread object with empty lists from the row (thread columns) */
static int draft_new(tdraft *d, const char *as, cs_rows *r)
{
    char    tid[32], first[32], last[32];
    const char *owner = cs_db_text(r, 6);
    json_t *o, *links;

    d->id = cs_db_num(r, 0);
    snprintf(tid, sizeof(tid), "t%lld", d->id);
    cs_iso_date(cs_db_num(r, 4), first, sizeof(first));
    cs_iso_date(cs_db_num(r, 5), last, sizeof(last));
    d->mine = strcmp(owner, as) == 0;
    /* X1's keys in X1's order; set() rather than json_pack: a page makes hundreds. */
    if ((d->obj = o = json_object()) == NULL
	|| set(o, "id", json_string(tid)) || set(o, "owner", json_string(owner))
	|| set(o, "subject", cs_db_null(r, 1) ? json_null() : json_string(cs_db_text(r, 1)))
	|| set(o, "participants", d->parts = json_array())
	|| set(o, "labels", d->labels = json_array())
	|| set(o, "visibility", json_string(cs_db_text(r, 2)))
	|| set(o, "links", links = json_object())
	|| set(links, "deals", d->deals = json_array())
	|| set(links, "persons", d->persons = json_array())
	|| set(o, "message_count", json_integer((json_int_t) cs_db_num(r, 3)))
	|| set(o, "first_date", json_string(first)) || set(o, "last_date", json_string(last)))
	return -1;
    return 0;
}

#define KEYS_ALL	0
#define KEYS_READ	1		/* only threads without a summary */
#define KEYS_MINE	2		/* only the reader's own */

/* keys_text - the drafts' [owner, id] pairs; those a mode leaves out get id 0 (none) */
static char *keys_text(const tlist *l, int mode)
{
    cs_buf  b = {0};
    int     i, rc = cs_buf_append(&b, "[", 1);

    for (i = 0; rc == 0 && i < l->n; i++) {
	const tdraft *d = &l->d[i];
	int     out = ((mode & KEYS_MINE) && !d->mine) || ((mode & KEYS_READ) && !d->read);

	if ((i && cs_buf_append(&b, ",", 1) < 0) || cs_buf_append(&b, "[", 1) < 0
	    || cs_json_string(&b, json_string_value(json_object_get(d->obj, "owner")),
			      json_string_length(json_object_get(d->obj, "owner")), 0) < 0
	    || cs_buf_appendf(&b, ",%lld]", out ? 0 : d->id) < 0)
	    rc = -1;
    }
    if (rc < 0 || cs_buf_append(&b, "]", 1) < 0) {
	cs_buf_free(&b);
	return NULL;
    }
    return b.data;
}

/* ord_draft - the draft a detail row's first column (1-based) names; NULL if none */
static tdraft *ord_draft(const tlist *l, cs_rows *r)
{
    long long ord = cs_db_num(r, 0);

    return ord >= 1 && ord <= l->n ? &l->d[ord - 1] : NULL;
}

/* fill_addrs - participants from every message's lists, in order */
static int fill_addrs(tlist *l, const char *keys)
{
    cs_rows *r = cs_db_q(l->st, l->w, SQL(l->st)->list_addrs, "s", keys);
    tdraft *d;
    int     n, rc = 0;

    if (r == NULL)
	return -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	if ((d = ord_draft(l, r)) != NULL) {
	    /* C4: the sender's copy shows its envelope-only recipients. */
	    char   *bcc = cs_store_bcc_json(cs_db_text(r, 4));

	    rc = add_parts(l, d, cs_db_text(r, 1)) < 0 || add_parts(l, d, cs_db_text(r, 2)) < 0
		|| add_parts(l, d, cs_db_text(r, 3)) < 0 || add_parts(l, d, bcc) < 0 ? -1 : 0;
	    free(bcc);
	}
    cs_db_close(r);
    return rc < 0 || n < 0 ? -1 : 0;
}

/* fill_persons - one statement: each waiting participant's person, if any (V6) */
static int fill_persons(tlist *l)
{
    size_t  nk = json_array_size(l->keys), i;
    json_t **person;
    cs_rows *r = NULL;
    char   *keys;
    int     n = 0, rc = 0;

    if (nk == 0)
	return 0;
    if ((person = calloc(nk, sizeof(*person))) == NULL)
	return -1;
    if ((keys = json_dumps(l->keys, JSON_COMPACT)) == NULL
	|| (r = cs_db_q(l->st, l->w, SQL(l->st)->list_persons, "ss", l->as, keys)) == NULL)
	rc = -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0) {
	long long k = cs_db_num(r, 0);

	if (k >= 0 && (size_t) k < nk && !cs_db_null(r, 1) && person[k] == NULL
	    && (person[k] = json_string(cs_db_text(r, 1))) == NULL)
	    rc = -1;
    }
    if (n < 0)
	rc = -1;
    cs_db_close(r);
    free(keys);
    /* Set in place: the participant keeps its key order. */
    for (i = 0; rc == 0 && i < l->nv; i++)
	if (person[l->v[i].key] != NULL
	    && json_object_set(l->v[i].obj, "person", person[l->v[i].key]) < 0)
	    rc = -1;
    for (i = 0; i < nk; i++)
	json_decref(person[i]);
    free(person);
    return rc;
}

/* fill_links - the links to records the reader may access (V6) */
static int fill_links(tlist *l, const char *keys)
{
    cs_rows *r = cs_db_q(l->st, l->w, SQL(l->st)->list_links, "ss", keys, l->as);
    tdraft *d;
    int     n, rc = 0;

    if (r == NULL)
	return -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	if ((d = ord_draft(l, r)) != NULL
	    && json_array_append_new(strcmp(cs_db_text(r, 1), "deal") == 0 ? d->deals
				     : d->persons, json_string(cs_db_text(r, 2))) < 0)
	    rc = -1;
    cs_db_close(r);
    return rc < 0 || n < 0 ? -1 : 0;
}

/* fill_labels - the owner's labels of the reader's own threads (those mode keeps) */
static int fill_labels(tlist *l, int mode)
{
    char   *keys = keys_text(l, mode | KEYS_MINE);
    cs_rows *r = keys ? cs_db_q(l->st, l->w, SQL(l->st)->list_labels, "s", keys) : NULL;
    tdraft *d;
    int     n = -1, rc = 0;

    free(keys);
    if (r == NULL)
	return -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	if ((d = ord_draft(l, r)) != NULL && d->mine
	    && json_array_append_new(d->labels, json_string(cs_db_text(r, 1))) < 0)
	    rc = -1;
    cs_db_close(r);
    return rc < 0 || n < 0 ? -1 : 0;
}

/*
 * A thread's summary (threads.summary) is what the list would read from
 * its messages, kept on its row by the writer (cs_read_summary_write):
 * its participants in order (name or none, address, key) and its
 * labels, with the address delimiters the keys were made with. Strings
 * are LEN:BYTES, so reading one needs neither a JSON parser nor
 * unescaping (json_loads of 50 summaries cost a quarter of a page):
 *
 *	S DELIMS NPARTS ; (- | NAME) ADDRESS (= | KEY) ... NLABELS ; LABEL ...
 *
 * (no spaces; "-" no name, "=" the key is the address). A thread without one, or with one made under other
 * delimiters, or one that does not read, has its messages read as
 * before. Persons and links are never kept: they depend on the reader
 * (V6) and change without its messages.
 */

/* A summary being read. */
typedef struct sscan {
    const char *p, *end;
} sscan;

/* snum - digits ended by stop */
static int snum(sscan *s, char stop, size_t *v)
{
    size_t  x = 0;
    const char *p0 = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && x < 100000000)
	x = x * 10 + (size_t) (*s->p++ - '0');
    if (s->p == p0 || s->p >= s->end || *s->p != stop)
	return -1;
    s->p++;
    *v = x;
    return 0;
}

/* stok - LEN:BYTES */
static int stok(sscan *s, const char **str, size_t *len)
{
    if (snum(s, ':', len) < 0 || (size_t) (s->end - s->p) < *len)
	return -1;
    *str = s->p;
    s->p += *len;
    return 0;
}

/* summary_read - the participants and (when mine) labels; -1 when it does not read */
static int summary_read(tlist *l, tdraft *d, sscan *s)
{
    const char *str, *addr, *key;
    size_t  n, i, len, alen, klen;
    char    kbuf[CS_ADDR_MAX + 1];

    if (s->p >= s->end || *s->p++ != 'S' || stok(s, &str, &len) < 0
	|| len != strlen(l->st->delims) || memcmp(str, l->st->delims, len) != 0
	|| snum(s, ';', &n) < 0)
	return -1;
    for (i = 0; i < n; i++) {
	json_t *name = NULL, *o;

	if (s->p < s->end && *s->p == '-') {
	    s->p++;
	    name = json_null();
	} else if (stok(s, &str, &len) < 0 || (name = json_stringn(str, len)) == NULL)
	    return -1;
	if (stok(s, &addr, &alen) < 0) {
	    json_decref(name);
	    return -1;
	}
	if (s->p < s->end && *s->p == '=') {
	    s->p++;
	    key = addr;
	    klen = alen;
	} else if (stok(s, &key, &klen) < 0)
	    klen = sizeof(kbuf);
	if (klen >= sizeof(kbuf)
	    || memchr(key, 0, klen) != NULL || (o = json_object()) == NULL) {
	    json_decref(name);
	    return -1;
	}
	memcpy(kbuf, key, klen);
	kbuf[klen] = 0;
	if (set(o, "name", name) || set(o, "address", json_stringn(addr, alen))
	    || set(o, "person", json_null())) {
	    json_decref(o);
	    return -1;
	}
	if (json_array_append_new(d->parts, o) < 0 || wait_person(l, kbuf, o) < 0
	    || (l->seen && cs_strlist_add(&d->seen, kbuf) < 0))
	    return -1;
    }
    if (snum(s, ';', &n) < 0)
	return -1;
    for (i = 0; i < n; i++)
	if (stok(s, &str, &len) < 0
	    || (d->mine && json_array_append_new(d->labels, json_stringn(str, len)) < 0))
	    return -1;
    return s->p == s->end ? 0 : -1;
}

/* summary_apply - a thread's summary into its draft, or d->read set (nothing added) */
static void summary_apply(tlist *l, tdraft *d, const char *text)
{
    sscan   s = {text, text + strlen(text)};
    size_t  nv = l->nv;

    d->read = 0;
    if (summary_read(l, d, &s) < 0) {
	/* Its messages then; a key it added only asks for one person more. */
	json_array_clear(d->parts);
	json_array_clear(d->labels);
	cs_strlist_free(&d->seen);
	l->nv = nv;
	d->read = 1;
    }
}

/* stok_put - LEN:BYTES into b (a string without NUL: it is stored as text) */
static int stok_put(cs_buf *b, const json_t *j)
{
    const char *s = json_string_value(j);
    size_t  n = json_string_length(j);

    return s == NULL || memchr(s, 0, n) != NULL || cs_buf_appendf(b, "%zu:", n) < 0
	|| cs_buf_append(b, s, n) < 0 ? -1 : 0;
}

/* summary_text - a draft's summary text into b; 0, 1 when it cannot be
 * kept (a NUL in a text: stored as text, it would be cut), -1 */
static int summary_text(const tlist *l, const tdraft *d, cs_buf *b)
{
    size_t  i;
    int     bad = 0;
    json_t *v;

    if (cs_buf_appendf(b, "S%zu:%s%zu;", strlen(l->st->delims), l->st->delims, l->nv) < 0)
	return -1;
    /* The participants and l->v are made together, in order. */
    for (i = 0; i < l->nv; i++) {
	json_t *name = json_object_get(l->v[i].obj, "name");
	json_t *addr = json_object_get(l->v[i].obj, "address");
	json_t *key = json_array_get(l->keys, l->v[i].key);

	if (json_is_null(name) ? cs_buf_append(b, "-", 1) < 0 : stok_put(b, name) < 0)
	    bad = 1;
	if (stok_put(b, addr) < 0 || (json_equal(addr, key) ? cs_buf_append(b, "=", 1) < 0
				      : stok_put(b, key) < 0))
	    bad = 1;
    }
    if (cs_buf_appendf(b, "%zu;", json_array_size(d->labels)) < 0)
	return -1;
    json_array_foreach(d->labels, i, v)
	if (stok_put(b, v) < 0)
	bad = 1;
    return bad;
}

/* has_labels - are all of want among the draft's labels? */
static int has_labels(const tdraft *d, const cs_strlist *want)
{
    for (size_t i = 0; want && i < want->n; i++) {
	size_t  k;
	json_t *v;
	int     found = 0;

	json_array_foreach(d->labels, k, v)
	    found |= strcmp(json_string_value(v), want->v[i]) == 0;
	if (!found)
	    return 0;
    }
    return 1;
}

/*
 * cs_read_summary_write - a thread's summary after a copy went into it
 * (new: that copy's lists, labels, sort date and id; NULL: read every
 * message), on connection w (the writer's transaction, after the copy
 * and its labels are in), by the list's own code. A copy that sorts
 * last in a thread with a summary, or is its only message, is added to
 * it (to nothing): its participants as a
 * list adds a message's, the labels read again only when it brings one
 * the thread lacks; else every message is read, as a list would. The
 * row is written only when the text changed. 0 or -1 (a thread whose
 * texts hold a NUL gets none: it is read from its messages).
 */
int     cs_read_summary_write(cs_store *st, int w, const char *owner, long long thread,
			              const cs_summary_add *new)
{
    tlist   l = {.st = st, .w = w, .as = owner, .n = 1, .seen = 1};
    tdraft  d = {.id = thread, .mine = 1, .read = 1};
    cs_buf  b = {0};
    cs_rows *r = NULL;
    char   *keys = NULL, *old = NULL, *bcc = NULL;
    int     rc = -1, bad, later = 1, alone = 0;

    l.d = &d;
    if ((d.obj = json_object()) == NULL || set(d.obj, "owner", json_string(owner))
	|| set(d.obj, "participants", d.parts = json_array())
	|| set(d.obj, "labels", d.labels = json_array())
	|| (l.lists = json_object()) == NULL || (l.keys = json_array()) == NULL
	|| (l.index = json_object()) == NULL)
	goto out;
    /* The summary as it is, and does any other message sort after the new one? */
    if ((r = cs_db_q(st, w, SQL(st)->summary_get, "siii", owner, thread,
		     new ? (long long) new->sort_date : 0LL, new ? new->message : 0LL)) == NULL)
	goto out;
    if (cs_db_next(r) > 0) {
	if (!cs_db_null(r, 0) && (old = strdup(cs_db_text(r, 0))) == NULL)
	    goto out;
	later = (int) cs_db_num(r, 1);
	alone = (int) cs_db_num(r, 2);
    }
    cs_db_close(r);
    /* A new thread's one message is all there is to add. */
    if (new != NULL && alone)
	d.read = 0;
    else if (new != NULL && old != NULL && !later)
	summary_apply(&l, &d, old);
    if (!d.read) {
	/* The job's lists as parsed when it was made: not parsed again. */
	if (!known(&l, new->from, new->from_list) || !known(&l, new->to, new->to_list)
	    || !known(&l, new->cc, new->cc_list))
	    goto out;
	/* C4: the sender's copy shows its envelope-only recipients. */
	bcc = cs_store_bcc_json(new->envelope);
	if (add_parts(&l, &d, new->from) < 0 || add_parts(&l, &d, new->to) < 0
	    || add_parts(&l, &d, new->cc) < 0 || add_parts(&l, &d, bcc) < 0)
	    goto out;
	if (!has_labels(&d, new->labels)) {
	    json_array_clear(d.labels);
	    if (fill_labels(&l, KEYS_ALL) < 0)
		goto out;
	}
    } else if ((keys = keys_text(&l, KEYS_ALL)) == NULL || fill_addrs(&l, keys) < 0
	       || fill_labels(&l, KEYS_ALL) < 0)
	goto out;
    if ((bad = summary_text(&l, &d, &b)) < 0)
	goto out;
    if (!bad && old != NULL && strcmp(old, b.data) == 0)
	rc = 0;
    else if (bad && old == NULL)
	rc = 0;
    else
	rc = cs_db_x(st, w, SQL(st)->summary_set, "sis", owner, thread, bad ? NULL : b.data);
out:
    cs_buf_free(&b);
    free(keys);
    free(old);
    free(bcc);
    free(l.v);
    json_decref(d.obj);
    cs_strlist_free(&d.seen);
    json_decref(l.lists);
    json_decref(l.keys);
    json_decref(l.index);
    return rc;
}

#define FILL_BATCH	256

/*
 * cs_read_summaries_fill - threads without a summary (an older store's,
 * or emptied by a merge, erasure, retention) get one, FILL_BATCH to a
 * write transaction, at most max: how many, or -1
 */
int     cs_read_summaries_fill(cs_store *st, int max)
{
    int     done = 0;

    while (done < max) {
	char   *owner[FILL_BATCH];
	long long id[FILL_BATCH];
	int     n = 0, i, rc, want = max - done < FILL_BATCH ? max - done : FILL_BATCH;
	cs_rows *r;

	if (cs_store_wbegin(st) != CS_OK)
	    return -1;
	rc = (r = cs_db_q(st, CS_DB_W, SQL(st)->summary_missing, "i", (long long) want)) ? 0 : -1;
	while (rc == 0 && n < want && (rc = cs_db_next(r)) > 0) {
	    if ((owner[n] = strdup(cs_db_text(r, 0))) == NULL)
		rc = -1;
	    else
		id[n++] = cs_db_num(r, 1);
	    rc = rc < 0 ? -1 : 0;
	}
	cs_db_close(r);
	for (i = 0; i < n; i++) {
	    if (rc == 0 && cs_read_summary_write(st, CS_DB_W, owner[i], id[i], NULL) < 0)
		rc = -1;
	    free(owner[i]);
	}
	if (rc < 0)
	    cs_error(NULL, "store: thread summaries: %s", cs_db_error(st, CS_DB_W));
	if (cs_store_wend(st, rc < 0 ? CS_EINTERNAL : CS_OK) != CS_OK || rc < 0)
	    return -1;
	done += n;
	if (n < want)
	    break;
    }
    return done;
}

/*
 * cs_read_threads - the threads of q's rows (the thread columns: id,
 * subject, visibility, message_count, first_date, last_date, owner,
 * summary; a page's key in column 8), at most limit of them, appended to out in
 * X1's shape as "as" may see them. q's rows passed the dialect's
 * visibility rule (or are as's own) in the snapshot or transaction w
 * still has open; q is closed here. *more is set when q had a row past
 * limit, and *key, *id (when not NULL) to the last thread's page key
 * and id. 0, or -1 with the connection's error.
 */
int     cs_read_threads(cs_store *st, int w, const char *as, cs_rows *q, int limit,
			        json_t *out, int *more, long long *key, long long *id)
{
    tlist   l = {.st = st, .w = w, .as = as};
    char   *keys = NULL;
    int     rc = 0, n = 0, any_read = 0, any_mine_read = 0, i;

    *more = 0;
    if ((l.d = calloc((size_t) (limit > 0 ? limit : 1), sizeof(*l.d))) == NULL) {
	cs_db_close(q);
	return -1;
    }
    while (rc == 0 && (n = cs_db_next(q)) > 0) {
	if (l.n == limit) {
	    *more = 1;
	    break;
	}
	rc = draft_new(&l.d[l.n], as, q);
	if (rc == 0 && l.lists == NULL
	    && ((l.lists = json_object()) == NULL || (l.keys = json_array()) == NULL
		|| (l.index = json_object()) == NULL))
	    rc = -1;
	if (rc == 0) {
	    l.d[l.n].read = cs_db_null(q, 7);
	    if (!l.d[l.n].read)
		summary_apply(&l, &l.d[l.n], cs_db_text(q, 7));
	}
	any_read |= l.d[l.n].read;
	any_mine_read |= l.d[l.n].read && l.d[l.n].mine;
	if (key)
	    *key = cs_db_num(q, 8);
	if (id)
	    *id = cs_db_num(q, 0);
	l.n++;
    }
    cs_db_close(q);
    if (n < 0)
	rc = -1;
    if (rc == 0 && l.n > 0) {
	if ((keys = keys_text(&l, KEYS_READ)) == NULL)
	    rc = -1;
	if (rc == 0 && any_read)
	    rc = fill_addrs(&l, keys);
	if (rc == 0)
	    rc = fill_persons(&l);
	free(keys);
	keys = NULL;
	if (rc == 0 && (keys = keys_text(&l, KEYS_ALL)) == NULL)
	    rc = -1;
	if (rc == 0)
	    rc = fill_links(&l, keys);
	if (rc == 0 && any_mine_read)
	    rc = fill_labels(&l, KEYS_READ);
    }
    for (i = 0; i < l.n; i++) {
	if (rc == 0 && json_array_append(out, l.d[i].obj) < 0)
	    rc = -1;
	json_decref(l.d[i].obj);
	cs_strlist_free(&l.d[i].seen);
    }
    free(keys);
    free(l.d);
    free(l.v);
    json_decref(l.lists);
    json_decref(l.keys);
    json_decref(l.index);
    return rc;
}

/*
 * page - {"threads", "cursor"} of a page query's rows (limit + 1 asked:
 * one more says there is a next page). Every list uses one cursor form
 * (cs_cursor_encode): a client treats them alike.
 */
static int page(cs_store *st, const char *as, cs_rows *q, int limit, json_t **out)
{
    json_t *res, *threads;
    long long key = 0, id = 0;
    int     more = 0;
    char    next[128];

    if ((res = json_object()) == NULL || (threads = json_array()) == NULL
	|| json_object_set_new(res, "threads", threads) < 0) {
	json_decref(res);
	cs_db_close(q);
	return CS_EINTERNAL;
    }
    if (cs_read_threads(st, CS_DB_R, as, q, limit, threads, &more, &key, &id) < 0) {
	json_decref(res);
	return CS_EINTERNAL;
    }
    if (more)
	cs_cursor_encode(key, id, next, sizeof(next));
    if (json_object_set_new(res, "cursor", more ? json_string(next) : json_null()) < 0) {
	json_decref(res);
	return CS_EINTERNAL;
    }
    *out = res;
    return CS_OK;
}

/* page_begin - the cursor read ("" is none), then one snapshot for the page and its details */
static int page_begin(cs_store *st, const char **cursor, long long *clast, long long *cid)
{
    if (*cursor && **cursor == 0)
	*cursor = NULL;
    if (*cursor && cs_cursor_decode(*cursor, clast, cid) < 0)
	return CS_EINVAL;
    return st->ops->read_begin(st) < 0 ? CS_EINTERNAL : CS_OK;
}

/* cs_read_mailbox - V2: the acting user's own threads, newest first, keyset-paginated */
int     cs_read_mailbox(cs_store *st, const char *as, const char *label, int limit,
			        const char *cursor, json_t **out)
{
    long long clast = 0, cid = 0, lim = (long long) limit + 1;
    cs_rows *q = NULL;
    int     rc = CS_EINTERNAL, r;

    if ((r = page_begin(st, &cursor, &clast, &cid)) != CS_OK)
	return r;
    if ((r = cs_db_exists(st, CS_DB_R, SQL(st)->user_exists, "s", as)) <= 0) {
	rc = r == 0 ? CS_ENOTFOUND : CS_EINTERNAL;
	goto out;
    }
    if (label)
	q = cursor ? cs_db_q(st, CS_DB_R, SQL(st)->mbl_next, "siiis", as, lim, clast, cid, label)
	    : cs_db_q(st, CS_DB_R, SQL(st)->mbl_first, "sis", as, lim, label);
    else
	q = cursor ? cs_db_q(st, CS_DB_R, SQL(st)->mb_next, "siii", as, lim, clast, cid)
	    : cs_db_q(st, CS_DB_R, SQL(st)->mb_first, "si", as, lim);
    if (q != NULL)
	rc = page(st, as, q, limit, out);
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: mailbox: %s", cs_db_error(st, CS_DB_R));
    st->ops->read_end(st);
    return rc;
}

/* cs_read_record_threads - the threads on a deal's or person's page (V3) */
int     cs_read_record_threads(cs_store *st, const char *as, const char *kind, const char *rid,
			               int limit, const char *cursor, json_t **out)
{
    long long clast = 0, cid = 0, lim = (long long) limit + 1;
    cs_rows *q;
    int     rc;

    if ((rc = page_begin(st, &cursor, &clast, &cid)) != CS_OK)
	return rc;
    if ((rc = cs_prim_record_check(st, CS_DB_R, as, kind, rid)) != CS_OK)
	goto out;
    q = cursor ? cs_db_q(st, CS_DB_R, SQL(st)->rt_next, "sssiii", as, kind, rid, lim, clast, cid)
	: cs_db_q(st, CS_DB_R, SQL(st)->rt_first, "sssi", as, kind, rid, lim);
    rc = q ? page(st, as, q, limit, out) : CS_EINTERNAL;
out:
    if (rc == CS_EINTERNAL)
	cs_error(NULL, "store: %s page: %s", kind, cs_db_error(st, CS_DB_R));
    st->ops->read_end(st);
    return rc;
}
