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
 *
 *	A thread is gathered as plain strings (tdraft), then either made
 *	into jansson objects (cs_store_mailbox's tree, a thread read) or
 *	printed straight into the caller's buffer in the bytes
 *	cs_answer_text would print for that tree (a page for crmsyncctl and
 *	crmsync-api: no tree is built, printed and freed).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_util.h"
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

/* One participant: the person comes from the list's persons statement (V6). */
typedef struct tpart {
    char   *name;			/* NULL: none */
    char   *addr;
    size_t  key;			/* its key's index in the list's keys */
} tpart;

/*
 * One thread of a list while its details come in: plain strings, printed
 * straight into the answer's text (thread_text) or, for a caller that
 * wants a tree, made into one (thread_json). A jansson tree per page,
 * built, printed and freed, cost 2 million instructions of 4.6.
 */
typedef struct tdraft {
    long long id;
    char   *owner, *subject, *vis;	/* subject NULL: none */
    long long count;
    char    first[32], last[32];
    tpart  *parts;
    size_t  nparts, cap;
    cs_strlist labels, deals, persons;
    const json_t *applied[LIST_APPLIED];	/* parsed lists already added */
    size_t  napplied;
    int     mine;			/* the reader owns it: labels */
    int     read;			/* no summary: read its messages */
    size_t  sign;			/* its id's sign in the list's keys text */
} tdraft;

/* A list being built. */
typedef struct tlist {
    cs_store *st;
    int     w;
    const char *as;
    tdraft *d;
    int     n;
    json_t *lists;			/* stored list text -> parsed array (or null) */
    cs_strlist keys;			/* participants' distinct keys */
    json_t *index;			/* key -> its index in keys */
    char  **person;			/* per key: its person's id, or NULL */
    cs_buf  pairs;			/* the drafts' keys text (keys_text) */
} tlist;

/* parts_clear - a draft's participants dropped */
static void parts_clear(tdraft *d)
{
    for (size_t i = 0; i < d->nparts; i++) {
	free(d->parts[i].name);
	free(d->parts[i].addr);
    }
    d->nparts = 0;
}

/* draft_free - a draft's memory */
static void draft_free(tdraft *d)
{
    parts_clear(d);
    free(d->parts);
    free(d->owner);
    free(d->subject);
    free(d->vis);
    cs_strlist_free(&d->labels);
    cs_strlist_free(&d->deals);
    cs_strlist_free(&d->persons);
}

/* list_free - a list's memory (its drafts too) */
static void list_free(tlist *l)
{
    for (int i = 0; i < l->n; i++)
	draft_free(&l->d[i]);
    if (l->person)
	for (size_t i = 0; i < l->keys.n; i++)
	    free(l->person[i]);
    free(l->person);
    json_decref(l->lists);
    json_decref(l->index);
    cs_strlist_free(&l->keys);
    cs_buf_free(&l->pairs);
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

/* key_index - a participant's key, once per list: 0 and *k, or -1 */
static int key_index(tlist *l, const char *key, size_t *k)
{
    json_t *ix;

    if ((ix = json_object_get(l->index, key)) != NULL) {
	*k = (size_t) json_integer_value(ix);
	return 0;
    }
    *k = l->keys.n;
    return cs_strlist_add(&l->keys, key) < 0
	|| json_object_set_new(l->index, key, json_integer((json_int_t) *k)) < 0 ? -1 : 0;
}

/* part_add - a participant at the end of a thread's (strings copied; name NULL: none) */
static int part_add(tlist *l, tdraft *d, const char *name, size_t nlen, const char *addr,
		            size_t alen, const char *key)
{
    tpart  *p;

    if (d->nparts == d->cap) {
	size_t  cap = d->cap ? d->cap * 2 : 8;

	if ((p = realloc(d->parts, cap * sizeof(*p))) == NULL)
	    return -1;
	d->parts = p;
	d->cap = cap;
    }
    p = &d->parts[d->nparts];
    p->name = p->addr = NULL;
    if ((name && (p->name = strndup(name, nlen)) == NULL)
	|| (p->addr = strndup(addr, alen)) == NULL || key_index(l, key, &p->key) < 0) {
	free(p->name);
	free(p->addr);
	return -1;
    }
    d->nparts++;
    return 0;
}

/* part_seen - is key already among a thread's participants (alike but for
 * case)? A display name missing at its first sight is taken from a later
 * one: names come from the headers, users' too. */
static int part_seen(const tlist *l, tdraft *d, const char *key, const char *name)
{
    for (size_t i = 0; i < d->nparts; i++) {
	tpart  *p = &d->parts[i];

	if (strcasecmp(l->keys.v[p->key], key) != 0)
	    continue;
	if (p->name == NULL && name && *name)
	    p->name = strdup(name);		/* no memory: the name stays missing */
	return 1;
    }
    return 0;
}

/*
 * add_parts - a stored address list's new participants into a thread
 * (the person is filled in later)
 */
static int add_parts(tlist *l, tdraft *d, const char *text)
{
    const json_t *arr;
    json_t *v;
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
	json_t *a = json_object_get(v, "address"), *nm = json_object_get(v, "name");
	const char *addr = json_string_value(a);
	const char *name = json_string_value(nm);
	const char *key;

	if (d->nparts >= CS_STORE_MAX_PARTICIPANTS)
	    break;
	if (addr == NULL)
	    continue;
	key = cs_store_normalize(l->st, addr, norm, sizeof(norm)) == 0 ? norm : addr;
	if (part_seen(l, d, key, name))
	    continue;
	if (part_add(l, d, name, name ? json_string_length(nm) : 0, addr, json_string_length(a),
		     key) < 0)
	    return -1;
    }
    return 0;
}

/* draft_new - a thread's columns from the row */
static int draft_new(tdraft *d, const char *as, cs_rows *r)
{
    const char *owner = cs_db_text(r, 6);

    d->id = cs_db_num(r, 0);
    cs_iso_date(cs_db_num(r, 4), d->first, sizeof(d->first));
    cs_iso_date(cs_db_num(r, 5), d->last, sizeof(d->last));
    d->mine = strcmp(owner, as) == 0;
    d->count = cs_db_num(r, 3);
    if ((d->owner = strdup(owner)) == NULL || (d->vis = strdup(cs_db_text(r, 2))) == NULL
	|| (!cs_db_null(r, 1) && (d->subject = strdup(cs_db_text(r, 1))) == NULL))
	return -1;
    return 0;
}

/* jstr - a JSON string of a C string (NULL: null); NULL when not UTF-8 or no memory */
static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* jstrs - a JSON array of a list's strings */
static json_t *jstrs(const cs_strlist *sl)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sl->n; i++)
	if (json_array_append_new(a, json_string(sl->v[i])) < 0) {
	    json_decref(a);
	    return NULL;
	}
    return a;
}

/* set - o[key] = v (v taken); -1 when v is NULL (no memory, or not UTF-8) */
static int set(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new_nocheck(o, key, v) < 0 ? -1 : 0;
}

/* thread_json - a draft as a thread object, X1's keys in X1's order (for a tree) */
static json_t *thread_json(const tlist *l, const tdraft *d)
{
    char    tid[32];
    json_t *o, *parts, *links, *p;

    snprintf(tid, sizeof(tid), "t%lld", d->id);
    if ((o = json_object()) == NULL
	|| set(o, "id", json_string(tid)) || set(o, "owner", json_string(d->owner))
	|| set(o, "subject", jstr(d->subject)) || set(o, "participants", parts = json_array()))
	goto bad;
    for (size_t i = 0; i < d->nparts; i++)
	if ((p = json_object()) == NULL || json_array_append_new(parts, p) < 0
	    || set(p, "name", jstr(d->parts[i].name))
	    || set(p, "address", json_string(d->parts[i].addr))
	    || set(p, "person", jstr(l->person ? l->person[d->parts[i].key] : NULL)))
	    goto bad;
    if (set(o, "labels", jstrs(&d->labels)) || set(o, "visibility", json_string(d->vis))
	|| set(o, "links", links = json_object())
	|| set(links, "deals", jstrs(&d->deals)) || set(links, "persons", jstrs(&d->persons))
	|| set(o, "message_count", json_integer((json_int_t) d->count))
	|| set(o, "first_date", json_string(d->first))
	|| set(o, "last_date", json_string(d->last)))
	goto bad;
    return o;
bad:
    json_decref(o);
    return NULL;
}

/*
 * The printed form (cs_answer_text's bytes for the tree thread_json
 * makes): a key and its value on a line at depth+1, values printed as
 * cs_answer_text prints them. -1: no memory, or a string not UTF-8 (the
 * tree refuses it too).
 */

/* tput - a string literal's bytes */
#define tput(b, s)	cs_buf_append((b), "" s, sizeof(s) - 1)

/* tstr - a string, or null */
static int tstr(cs_buf *b, const char *s)
{
    return s ? cs_json_string(b, s, strlen(s), 0) : tput(b, "null");
}

/* tkey - a new line, depth levels in, and "KEY": (first: no comma
 * before); X1's keys are constant names with nothing to escape, which
 * cs_json_string writes as they are, so they go in whole */
static int tkey(cs_buf *b, int depth, int first, const char *key)
{
    char    line[96];
    size_t  n = 0, k = strlen(key);

    /* The keys are X1's (13 bytes at most), the depth 5 at most. */
    if ((size_t) depth * 2 + k + 6 > sizeof(line))
	return -1;
    if (!first)
	line[n++] = ',';
    line[n++] = '\n';
    memset(line + n, ' ', (size_t) depth * 2);
    n += (size_t) depth * 2;
    line[n++] = '"';
    memcpy(line + n, key, k);
    n += k;
    memcpy(line + n, "\": ", 3);
    return cs_buf_append(b, line, n + 3);
}

/* tstrs - an array of strings at depth */
static int tstrs(cs_buf *b, const cs_strlist *sl, int depth)
{
    if (sl->n == 0)
	return tput(b, "[]");
    if (tput(b, "[") < 0)
	return -1;
    for (size_t i = 0; i < sl->n; i++)
	if ((i && tput(b, ",") < 0) || cs_json_newline(b, depth + 1) < 0
	    || tstr(b, sl->v[i]) < 0)
	    return -1;
    return cs_json_newline(b, depth) < 0 ? -1 : tput(b, "]");
}

/* thread_text - a draft printed as thread_json's object at depth */
static int thread_text(const tlist *l, const tdraft *d, cs_buf *b, int depth)
{
    int     in = depth + 1;

    /* "t" and digits: nothing to escape. */
    if (tput(b, "{") < 0 || tkey(b, in, 1, "id") < 0 || cs_json_int(b, "\"t", d->id) < 0
	|| tput(b, "\"") < 0
	|| tkey(b, in, 0, "owner") < 0 || tstr(b, d->owner) < 0
	|| tkey(b, in, 0, "subject") < 0 || tstr(b, d->subject) < 0
	|| tkey(b, in, 0, "participants") < 0
	|| (d->nparts == 0 ? tput(b, "[]") : tput(b, "[")) < 0)
	return -1;
    for (size_t i = 0; i < d->nparts; i++) {
	const tpart *p = &d->parts[i];

	if ((i && tput(b, ",") < 0) || cs_json_newline(b, in + 1) < 0 || tput(b, "{") < 0
	    || tkey(b, in + 2, 1, "name") < 0 || tstr(b, p->name) < 0
	    || tkey(b, in + 2, 0, "address") < 0 || tstr(b, p->addr) < 0
	    || tkey(b, in + 2, 0, "person") < 0
	    || tstr(b, l->person ? l->person[p->key] : NULL) < 0
	    || cs_json_newline(b, in + 1) < 0 || tput(b, "}") < 0)
	    return -1;
    }
    if ((d->nparts && (cs_json_newline(b, in) < 0 || tput(b, "]") < 0))
	|| tkey(b, in, 0, "labels") < 0 || tstrs(b, &d->labels, in) < 0
	|| tkey(b, in, 0, "visibility") < 0 || tstr(b, d->vis) < 0
	|| tkey(b, in, 0, "links") < 0 || tput(b, "{") < 0
	|| tkey(b, in + 1, 1, "deals") < 0 || tstrs(b, &d->deals, in + 1) < 0
	|| tkey(b, in + 1, 0, "persons") < 0 || tstrs(b, &d->persons, in + 1) < 0
	|| cs_json_newline(b, in) < 0 || tput(b, "}") < 0
	|| tkey(b, in, 0, "message_count") < 0 || cs_json_int(b, "", d->count) < 0
	|| tkey(b, in, 0, "first_date") < 0 || tstr(b, d->first) < 0
	|| tkey(b, in, 0, "last_date") < 0 || tstr(b, d->last) < 0
	|| cs_json_newline(b, depth) < 0 || tput(b, "}") < 0)
	return -1;
    return 0;
}

#define KEYS_ALL	0
#define KEYS_READ	1		/* only threads without a summary */
#define KEYS_MINE	2		/* only the reader's own */

/*
 * keys_text - the drafts' [owner, id] pairs for a detail statement (the
 * list's own text; NULL: no memory). It is written once per list, a
 * blank before each id; a thread the mode leaves out has that blank
 * made a minus: no thread has a negative id, so it matches nothing and
 * keeps its place (the rows' first column).
 */
static const char *keys_text(tlist *l, int mode)
{
    cs_buf *b = &l->pairs;
    int     i, rc;

    if (b->data == NULL) {
	rc = cs_buf_append(b, "[", 1);
	for (i = 0; rc == 0 && i < l->n; i++) {
	    tdraft *d = &l->d[i];

	    if (d->id <= 0 || (i && cs_buf_append(b, ",", 1) < 0) || cs_buf_append(b, "[", 1) < 0
		|| cs_json_string(b, d->owner, strlen(d->owner), 0) < 0
		|| cs_buf_append(b, ",", 1) < 0)
		rc = -1;
	    else {
		d->sign = b->len;
		rc = cs_json_int(b, " ", d->id) < 0 || cs_buf_append(b, "]", 1) < 0 ? -1 : 0;
	    }
	}
	if (rc < 0 || cs_buf_append(b, "]", 1) < 0) {
	    cs_buf_free(b);
	    return NULL;
	}
    }
    for (i = 0; i < l->n; i++) {
	const tdraft *d = &l->d[i];
	int     out = ((mode & KEYS_MINE) && !d->mine) || ((mode & KEYS_READ) && !d->read);

	b->data[d->sign] = out ? '-' : ' ';
    }
    return b->data;
}

/* ord_draft - the draft a detail row's first column (1-based) names; NULL if none */
static tdraft *ord_draft(const tlist *l, cs_rows *r)
{
    long long ord = cs_db_num(r, 0);

    return ord >= 1 && ord <= l->n ? &l->d[ord - 1] : NULL;
}

/* fill_addrs - participants from every message's lists, in order (the threads mode keeps) */
static int fill_addrs(tlist *l, int mode)
{
    const char *keys = keys_text(l, mode);
    cs_rows *r = keys ? cs_db_q(l->st, l->w, SQL(l->st)->list_addrs, "s", keys) : NULL;
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

/* fill_persons - one statement: each participant key's person, if any (V6) */
static int fill_persons(tlist *l)
{
    size_t  nk = l->keys.n, i;
    cs_rows *r = NULL;
    cs_buf  keys = {0};
    int     n = 0, rc = 0;

    if (nk == 0)
	return 0;
    if ((l->person = calloc(nk, sizeof(*l->person))) == NULL)
	return -1;
    rc = cs_buf_append(&keys, "[", 1);
    for (i = 0; rc == 0 && i < nk; i++)
	if ((i && cs_buf_append(&keys, ",", 1) < 0)
	    || cs_json_string(&keys, l->keys.v[i], strlen(l->keys.v[i]), 0) < 0)
	    rc = -1;
    if (rc < 0 || cs_buf_append(&keys, "]", 1) < 0
	|| (r = cs_db_q(l->st, l->w, SQL(l->st)->list_persons, "ss", l->as, keys.data)) == NULL)
	rc = -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0) {
	long long k = cs_db_num(r, 0);

	if (k >= 0 && (size_t) k < nk && !cs_db_null(r, 1) && l->person[k] == NULL
	    && (l->person[k] = strdup(cs_db_text(r, 1))) == NULL)
	    rc = -1;
    }
    if (n < 0)
	rc = -1;
    cs_db_close(r);
    cs_buf_free(&keys);
    return rc;
}

/* fill_links - the links to records the reader may access (V6) */
static int fill_links(tlist *l)
{
    const char *keys = keys_text(l, KEYS_ALL);
    cs_rows *r = keys ? cs_db_q(l->st, l->w, SQL(l->st)->list_links, "ss", keys, l->as) : NULL;
    tdraft *d;
    int     n, rc = 0;

    if (r == NULL)
	return -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	if ((d = ord_draft(l, r)) != NULL
	    && cs_strlist_add(strcmp(cs_db_text(r, 1), "deal") == 0 ? &d->deals
			      : &d->persons, cs_db_text(r, 2)) < 0)
	    rc = -1;
    cs_db_close(r);
    return rc < 0 || n < 0 ? -1 : 0;
}

/* fill_labels - the owner's labels of the reader's own threads (those mode keeps) */
static int fill_labels(tlist *l, int mode)
{
    const char *keys = keys_text(l, mode | KEYS_MINE);
    cs_rows *r = keys ? cs_db_q(l->st, l->w, SQL(l->st)->list_labels, "s", keys) : NULL;
    tdraft *d;
    int     n = -1, rc = 0;

    if (r == NULL)
	return -1;
    while (rc == 0 && (n = cs_db_next(r)) > 0)
	if ((d = ord_draft(l, r)) != NULL && d->mine
	    && cs_strlist_add(&d->labels, cs_db_text(r, 1)) < 0)
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
    const char *str, *addr, *key, *name;
    size_t  n, i, len, alen, klen, nlen;
    char    kbuf[CS_ADDR_MAX + 1];

    if (s->p >= s->end || *s->p++ != 'S' || stok(s, &str, &len) < 0
	|| len != strlen(l->st->delims) || memcmp(str, l->st->delims, len) != 0
	|| snum(s, ';', &n) < 0)
	return -1;
    for (i = 0; i < n; i++) {
	name = NULL;
	nlen = 0;
	if (s->p < s->end && *s->p == '-')
	    s->p++;
	else if (stok(s, &name, &nlen) < 0)
	    return -1;
	if (stok(s, &addr, &alen) < 0)
	    return -1;
	if (s->p < s->end && *s->p == '=') {
	    s->p++;
	    key = addr;
	    klen = alen;
	} else if (stok(s, &key, &klen) < 0)
	    return -1;
	if (klen >= sizeof(kbuf))
	    return -1;
	memcpy(kbuf, key, klen);
	kbuf[klen] = 0;
	if (part_add(l, d, name, nlen, addr, alen, kbuf) < 0)
	    return -1;
    }
    if (snum(s, ';', &n) < 0)
	return -1;
    for (i = 0; i < n; i++)
	if (stok(s, &str, &len) < 0 || (d->mine && cs_strlist_addn(&d->labels, str, len) < 0))
	    return -1;
    return s->p == s->end ? 0 : -1;
}

/* summary_apply - a thread's summary into its draft, or d->read set (nothing
 * added); the text ends at its NUL, so no string read from it holds one */
static void summary_apply(tlist *l, tdraft *d, const char *text)
{
    sscan   s = {text, text + strlen(text)};

    d->read = 0;
    if (summary_read(l, d, &s) < 0) {
	/* Its messages then; a key it added only asks for one person more. */
	parts_clear(d);
	cs_strlist_free(&d->labels);
	d->read = 1;
    }
}

/* stok_put - LEN:BYTES into b */
static int stok_put(cs_buf *b, const char *s)
{
    size_t  n = strlen(s);

    return cs_buf_appendf(b, "%zu:", n) < 0 || cs_buf_append(b, s, n) < 0 ? -1 : 0;
}

/* summary_text - a draft's summary text into b; 0 or -1 (the drafts'
 * strings are C strings: no NUL to cut) */
static int summary_text(const tlist *l, const tdraft *d, cs_buf *b)
{
    size_t  i;

    if (cs_buf_appendf(b, "S%zu:%s%zu;", strlen(l->st->delims), l->st->delims, d->nparts) < 0)
	return -1;
    for (i = 0; i < d->nparts; i++) {
	const tpart *p = &d->parts[i];
	const char *key = l->keys.v[p->key];

	if ((p->name == NULL ? cs_buf_append(b, "-", 1) < 0 : stok_put(b, p->name) < 0)
	    || stok_put(b, p->addr) < 0
	    || (strcmp(p->addr, key) == 0 ? cs_buf_append(b, "=", 1) < 0 : stok_put(b, key) < 0))
	    return -1;
    }
    if (cs_buf_appendf(b, "%zu;", d->labels.n) < 0)
	return -1;
    for (i = 0; i < d->labels.n; i++)
	if (stok_put(b, d->labels.v[i]) < 0)
	    return -1;
    return 0;
}

/* has_labels - are all of want among the draft's labels? */
static int has_labels(const tdraft *d, const cs_strlist *want)
{
    for (size_t i = 0; want && i < want->n; i++)
	if (!cs_strlist_contains(&d->labels, want->v[i]))
	    return 0;
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
 * row is written only when the text changed. 0 or -1.
 */
int     cs_read_summary_write(cs_store *st, int w, const char *owner, long long thread,
			              const cs_summary_add *new)
{
    tdraft  d = {.id = thread, .mine = 1, .read = 1};
    tlist   l = {.st = st, .w = w, .as = owner, .d = &d, .n = 1};
    cs_buf  b = {0};
    cs_rows *r = NULL;
    char   *old = NULL, *bcc = NULL;
    int     rc = -1, later = 1, alone = 0, got;

    if ((d.owner = strdup(owner)) == NULL
	|| (l.lists = json_object()) == NULL || (l.index = json_object()) == NULL)
	goto out;
    /* The summary as it is, and does any other message sort after the new one? */
    if ((r = cs_db_q(st, w, SQL(st)->summary_get, "siii", owner, thread,
		     new ? (long long) new->sort_date : 0LL, new ? new->message : 0LL)) == NULL)
	goto out;
    if ((got = cs_db_next(r)) < 0) {
	cs_db_close(r);
	goto out;
    }
    if (got > 0) {
	if (!cs_db_null(r, 0) && (old = strdup(cs_db_text(r, 0))) == NULL) {
	    cs_db_close(r);
	    goto out;
	}
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
	    cs_strlist_free(&d.labels);
	    if (fill_labels(&l, KEYS_ALL) < 0)
		goto out;
	}
    } else if (fill_addrs(&l, KEYS_ALL) < 0 || fill_labels(&l, KEYS_ALL) < 0)
	goto out;
    if (summary_text(&l, &d, &b) < 0)
	goto out;
    if (old != NULL && strcmp(old, b.data) == 0)
	rc = 0;
    else
	rc = cs_db_x(st, w, SQL(st)->summary_set, "sis", owner, thread, b.data);
out:
    cs_buf_free(&b);
    free(old);
    free(bcc);
    list_free(&l);
    return rc;
}

#define FILL_BATCH	256
#define FILL_BATCH_MS	100		/* a transaction's time, as erasure's */
#define FILL_YIELD_MS	100		/* and the pause after it */

/*
 * cs_read_summaries_fill - threads without a summary (an older store's,
 * or emptied by a merge, erasure, retention) get one, at most max: how
 * many, or -1. A write transaction writes at most FILL_BATCH of them and
 * stops after FILL_BATCH_MS (a thread's summary reads its messages), then
 * the write lock is left to mail for FILL_YIELD_MS (C1), as erasure does.
 */
int     cs_read_summaries_fill(cs_store *st, int max)
{
    struct timespec yield = {0, FILL_YIELD_MS * 1000L * 1000L};
    int     done = 0;

    while (done < max) {
	char   *owner[FILL_BATCH];
	long long id[FILL_BATCH], start;
	int     n = 0, i, rc, written = 0, want = max - done < FILL_BATCH ? max - done : FILL_BATCH;
	cs_rows *r;

	if (done > 0)
	    nanosleep(&yield, NULL);
	if (cs_store_wbegin(st) != CS_OK)
	    return -1;
	start = cs_mono_ms();
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
	    if (rc == 0 && (written == 0 || cs_mono_ms() - start < FILL_BATCH_MS)) {
		if (cs_read_summary_write(st, CS_DB_W, owner[i], id[i], NULL) < 0)
		    rc = -1;
		else
		    written++;
	    }
	    free(owner[i]);
	}
	if (rc < 0)
	    cs_error(NULL, "store: thread summaries: %s", cs_db_error(st, CS_DB_W));
	if (cs_store_wend(st, rc < 0 ? CS_EINTERNAL : CS_OK) != CS_OK || rc < 0)
	    return -1;
	done += written;
	if (n < want)
	    break;
    }
    return done;
}

/*
 * cs_read_threads - the threads of q's rows (the thread columns: id,
 * subject, visibility, message_count, first_date, last_date, owner,
 * summary; a page's key in column 8), at most limit of them, in X1's
 * shape as "as" may see them: appended to out, or (out NULL) printed
 * into text as the array cs_answer_text prints at depth. q's rows
 * passed the dialect's visibility rule (or are as's own) in the
 * snapshot or transaction w still has open; q is closed here. *more is
 * set when q had a row past limit, and *key, *id (when not NULL) to the
 * last thread's page key and id. 0, or -1 with the connection's error.
 */
int     cs_read_threads(cs_store *st, int w, const char *as, cs_rows *q, int limit,
			        json_t *out, cs_buf *text, int depth, int *more,
			        long long *key, long long *id)
{
    tlist   l = {.st = st, .w = w, .as = as};
    int     rc = 0, n = 0, any_read = 0, any_mine_read = 0, i;
    json_t *t;

    *more = 0;
    if ((l.d = calloc((size_t) (limit > 0 ? limit : 1), sizeof(*l.d))) == NULL
	|| (l.lists = json_object()) == NULL || (l.index = json_object()) == NULL) {
	cs_db_close(q);
	list_free(&l);
	free(l.d);
	return -1;
    }
    while (rc == 0 && (n = cs_db_next(q)) > 0) {
	if (l.n == limit) {
	    *more = 1;
	    break;
	}
	rc = draft_new(&l.d[l.n], as, q);
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
	if (any_read)
	    rc = fill_addrs(&l, KEYS_READ);
	if (rc == 0)
	    rc = fill_persons(&l);
	if (rc == 0)
	    rc = fill_links(&l);
	if (rc == 0 && any_mine_read)
	    rc = fill_labels(&l, KEYS_READ);
    }
    if (rc == 0 && out == NULL)
	rc = (l.n ? tput(text, "[") : tput(text, "[]")) < 0 ? -1 : 0;
    for (i = 0; rc == 0 && i < l.n; i++)
	if (out ? (t = thread_json(&l, &l.d[i])) == NULL || json_array_append_new(out, t) < 0
	    : (i && tput(text, ",") < 0) || cs_json_newline(text, depth + 1) < 0
	    || thread_text(&l, &l.d[i], text, depth + 1) < 0)
	    rc = -1;
    if (rc == 0 && out == NULL && l.n)
	rc = cs_json_newline(text, depth) < 0 || tput(text, "]") < 0 ? -1 : 0;
    list_free(&l);
    free(l.d);
    return rc;
}

/*
 * page - {"threads", "cursor"} of a page query's rows (limit + 1 asked:
 * one more says there is a next page): a tree in p->json, or printed
 * into p->text as cs_answer_text prints the tree, its newline too. Every
 * list uses one cursor form (cs_cursor_encode): a client treats them
 * alike.
 */
static int page(cs_store *st, const char *as, cs_rows *q, int limit, cs_page *p)
{
    json_t *res = NULL, *threads = NULL;
    long long key = 0, id = 0;
    int     more = 0;
    size_t  len0 = p->text ? p->text->len : 0;

    p->cursor[0] = 0;
    if (p->text == NULL && ((res = json_object()) == NULL || (threads = json_array()) == NULL
			    || json_object_set_new(res, "threads", threads) < 0)) {
	json_decref(res);
	cs_db_close(q);
	return CS_EINTERNAL;
    }
    if ((p->text && tput(p->text, "{\n  \"threads\": ") < 0)
	|| cs_read_threads(st, CS_DB_R, as, q, limit, threads, p->text, 1, &more, &key, &id) < 0)
	goto bad;
    if (more)
	cs_cursor_encode(key, id, p->cursor, sizeof(p->cursor));
    if (p->text ? tput(p->text, ",\n  \"cursor\": ") < 0 || tstr(p->text, more ? p->cursor : NULL) < 0
	|| tput(p->text, "\n}\n") < 0
	: json_object_set_new(res, "cursor", more ? json_string(p->cursor) : json_null()) < 0)
	goto bad;
    p->json = res;
    return CS_OK;
bad:
    json_decref(res);
    if (p->text)
	p->text->len = len0;
    return CS_EINTERNAL;
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
			        const char *cursor, cs_page *out)
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
			               int limit, const char *cursor, cs_page *out)
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
