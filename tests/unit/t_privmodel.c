/*
 * NAME
 *	t_privmodel 1
 * SUMMARY
 *	randomized, model-based privacy test (SPEC V1-V7, K2, K5, T1, T3,
 *	X2, R3)
 * DESCRIPTION
 *	A seeded sequence of operations -- mail arriving (new conversations,
 *	replies, merges of two threads, Smart BCC), share, private and
 *	delete of one or several threads (some not the caller's), link and
 *	unlink, contact create, directory imports that change access, users
 *	leaving and coming back -- runs against crmsync (through the
 *	pm_adapter in pm_adapter.h; pm_store.c is the store on SQLite or
 *	PostgreSQL) and against a small reference model written from SPEC.
 *	Every few steps, what each user sees through mailbox, thread, deal
 *	and person is compared with what the model says they may see; what
 *	they may not see must answer exactly like what does not exist (V6),
 *	for reads and for changes. Visibility events (V7) are compared after
 *	every step.
 *
 *	The model knows nothing of the store's tables: a thread is visible
 *	to its owner, or when it is shared and linked to a record the reader
 *	may access (V3); the rest follows SPEC's words, rule by rule.
 *
 *	Environment:
 *	  CS_PRIVMODEL_SEEDS	seeds to run: "7", "1 2 3" or "1-50" (default 1-3)
 *	  CS_PRIVMODEL_OPS	operations per seed (default 150)
 *	  CS_PRIVMODEL_FULL=1	read every thread as every user at each check
 *				(default: the threads changed since the last
 *				check, a sample of the rest, all at the end)
 *	  CS_PRIVMODEL_TRACE=1	print every operation
 *	  CS_TEST_DATABASE	a postgresql:// URI: each seed gets a fresh
 *				database made beside it (tests/pg/pg.sh)
 *	A failure prints the seed, the operation and the last operations,
 *	and the command that replays it.
 */
#include <config.h>

/* System library. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

/* Application-specific. */
#include "cs_message.h"
#include "pm_adapter.h"
#include "tap.h"
#include "tlib.h"

#define NU	4			/* users */
#define NX	8			/* outside addresses */
#define NA	(NU + NX)
#define MAXM	1024			/* messages per seed */
#define MAXT	1024			/* threads per seed */
#define MAXR	64			/* persons and deals (a bit each) */
#define MAXDEAD	2048
#define BASE	1767225600		/* 2026-01-01 */
#define GHOST_T	"t987654321"
#define GHOST_P	"ghost-person"
#define GHOST_D	"ghost-deal"

static const char *const UID[NU] = {"alice", "bob", "carol", "dave"};
static const char *const UADDR[NU] = {"alice@corp.example", "bob@corp.example",
    "carol@corp.example", "dave@corp.example"};
static const char *const XADDR[NX] = {"ann@acme.example", "ben@acme.example",
    "cleo@beta.example", "dan@beta.example", "eva@gamma.example", "fay@gamma.example",
"gus@delta.example", "hal@delta.example"};
static const char *const XNAME[NX] = {"Ann Archer", "Ben Bauer", "Cleo Chen", "Dan Dorn",
"Eva Eck", "Fay Fox", "Gus Gray", "Hal Hunt"};

typedef struct mset {
    uint64_t w[MAXM / 64];
} mset;

typedef struct pm_msg {
    char    mid[64];
    long    date;
    int     from;			/* address index */
    uint32_t to, cc;			/* address masks */
    int     nrefs, refs[6];		/* the ids its References name */
} pm_msg;

typedef struct pm_thr {
    char    sid[32];			/* the store's id, "t<n>" */
    int     owner, alive, shared, bcc, touched;
    long    num, last_date;
    uint64_t links, unlinks;		/* record bits */
    uint64_t hand;			/* links made by hand (the rest by T3) */
    mset    ids;			/* its messages and every id they name (T1) */
    mset    msgs;
} pm_thr;

typedef struct pm_rec {
    char    id[64];
    char    kind;			/* 'p' person, 'd' deal */
    int     alive, crm, owner;		/* owner: maker of a Smart BCC/hand person */
    uint32_t emails;			/* address mask (persons) */
    unsigned access;			/* user mask */
    char    name[64];
    int     open;			/* deals */
    uint64_t dpersons;			/* deals: record bits */
} pm_rec;

/* The whole model, one seed. */
static struct {
    pm_adapter *a;
    uint64_t rng;
    unsigned long seed;
    int     op, nops, full, trace;
    unsigned cur;			/* users in the policy in force (R3) */
    pm_msg  m[MAXM];
    int     nm;
    pm_thr  t[MAXT];
    int     nt;
    long    next_tid;
    pm_rec  r[MAXR];
    int     nr;
    char    dead[MAXDEAD][32];
    int     ndead;
    /* V7: visibility changes the model expects from the current step. */
    char    vis_want[64][48];
    int     nvis;
    int     failed;
    char    why[2048];
    char    ring[32][256];
    int     nring;
    long    checks;
} S;

/* One line per failed seed, repeated on stderr at the end (pg.sh shows it). */
static char summary[64][600];
static int nsummary;

/* --- Small tools. --- */

/* rnd - splitmix64: the same sequence on every machine */
static uint64_t rnd(void)
{
    uint64_t z = (S.rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* pick - 0..n-1 */
static int pick(int n)
{
    return n <= 0 ? 0 : (int) (rnd() % (uint64_t) n);
}

/* chance - true pct times in 100 */
static int chance(int pct)
{
    return pick(100) < pct;
}

/* ms_set - add message i to a set */
static void ms_set(mset *s, int i)
{
    s->w[i / 64] |= 1ULL << (i % 64);
}

/* ms_has - is message i in the set? */
static int ms_has(const mset *s, int i)
{
    return (s->w[i / 64] >> (i % 64)) & 1;
}

/* ms_or - d gets every message of s */
static void ms_or(mset *d, const mset *s)
{
    for (int i = 0; i < MAXM / 64; i++)
	d->w[i] |= s->w[i];
}

/* ms_count - how many messages */
static int ms_count(const mset *s)
{
    int     n = 0;

    for (int i = 0; i < MAXM / 64; i++)
	n += __builtin_popcountll(s->w[i]);
    return n;
}

/* fail - the first difference between crmsync and the model ends the seed */
__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
    va_list ap;

    if (S.failed++)
	return;
    va_start(ap, fmt);
    vsnprintf(S.why, sizeof(S.why), fmt, ap);
    va_end(ap);
}

/* note - one line of the operation trace */
__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
    va_list ap;
    char   *line = S.ring[S.nring++ % 32];
    int     k = snprintf(line, 256, "op %d: ", S.op);

    va_start(ap, fmt);
    vsnprintf(line + k, (size_t) (256 - k), fmt, ap);
    va_end(ap);
    if (S.trace)
	diag("%s", line);
}

/* addr - address a's text */
static const char *addr(int a)
{
    return a < NU ? UADDR[a] : XADDR[a - NU];
}

/* aname - address a's display name */
static const char *aname(int a)
{
    return a < NU ? UID[a] : XNAME[a - NU];
}

/* is_user_addr - an address of a user in the policy in force */
static int is_user_addr(int a)
{
    return a < NU && (S.cur >> a & 1);
}

/* addr_index - the index of an address text, -1 if none of ours */
static int addr_index(const char *s)
{
    for (int a = 0; a < NA; a++)
	if (s && strcmp(s, addr(a)) == 0)
	    return a;
    return -1;
}

/* thr_by_sid - the live model thread the store calls sid, or NULL */
static pm_thr *thr_by_sid(const char *sid)
{
    for (int i = 0; i < S.nt; i++)
	if (S.t[i].alive && strcmp(S.t[i].sid, sid) == 0)
	    return &S.t[i];
    return NULL;
}

/* rec_find - the record index of a person or deal id, -1 if never seen */
static int rec_find(char kind, const char *id)
{
    for (int i = 0; i < S.nr; i++)
	if (S.r[i].kind == kind && S.r[i].id[0] && strcmp(S.r[i].id, id) == 0)
	    return i;
    return -1;
}

/* kind_word - "deal" or "person" */
static const char *kind_word(char k)
{
    return k == 'd' ? "deal" : "person";
}

/* --- The rules, as SPEC writes them. --- */

/* can_access - X2 access list, the record exists, the user is in the policy (R3) */
static int can_access(int u, int r)
{
    return u >= 0 && u < NU && (S.cur >> u & 1) && r >= 0 && S.r[r].alive
	&& (S.r[r].access >> u & 1);
}

/*
 * visible - V2, V3, V5, R3: the owner sees their thread; another user
 * sees it while it is shared and linked to a record they may access.
 * An acting user must be in the policy in force, and so must the owner
 * for anyone else to see it: the mailbox of a user who left is readable
 * by nobody, their shared threads included (R3).
 */
static int visible(const pm_thr *t, int u)
{
    if (t == NULL || !t->alive || u < 0 || u >= NU || !(S.cur >> u & 1))
	return 0;
    if (t->owner == u)
	return 1;
    if (!t->shared || !(S.cur >> t->owner & 1))
	return 0;
    for (int r = 0; r < S.nr; r++)
	if ((t->links >> r & 1) && can_access(u, r))
	    return 1;
    return 0;
}

/* person_of - K5/T3: the person with this address the user may access */
static int person_of(int u, int a)
{
    int     found = -1;

    for (int r = 0; r < S.nr; r++)
	if (S.r[r].kind == 'p' && (S.r[r].emails >> a & 1) && can_access(u, r)) {
	    if (found >= 0)
		fail("model: %s may access two persons with %s (%s, %s)", UID[u], addr(a),
		     S.r[found].id, S.r[r].id);
	    found = r;
	}
    return found;
}

/* t3_links - T3 for one message's participants in a private thread */
static void t3_links(pm_thr *t, const pm_msg *m)
{
    uint32_t parts = m->to | m->cc | (1u << m->from);

    if (t->shared)
	return;				/* T3: no automatic link on shared threads */
    for (int a = 0; a < NA; a++) {
	int     p, nd = 0, d = -1;

	if (!(parts >> a & 1) || is_user_addr(a) || (p = person_of(t->owner, a)) < 0)
	    continue;
	if (!(t->unlinks >> p & 1))
	    t->links |= 1ULL << p;
	for (int r = 0; r < S.nr; r++)
	    if (S.r[r].kind == 'd' && S.r[r].open && (S.r[r].dpersons >> p & 1)
		&& can_access(t->owner, r)) {
		nd++;
		d = r;
	    }
	if (nd == 1 && !(t->unlinks >> d & 1))
	    t->links |= 1ULL << d;
    }
}

/* vis_expect - V7: the step must emit this visibility change */
static void vis_expect(const pm_thr *t, int shared)
{
    if (S.nvis < 64)
	snprintf(S.vis_want[S.nvis++], 48, "%s %s", t->sid, shared ? "shared" : "private");
}

/* dead_add - a thread id that is gone (merged or deleted) */
static void dead_add(const char *sid)
{
    if (S.ndead < MAXDEAD)
	snprintf(S.dead[S.ndead++], 32, "%s", sid);
}

/* copy_arrives - T1, V1, V3, T3 for one owner's copy of message mi */
static pm_thr *copy_arrives(int u, int mi, const int *refs, int nrefs, int bcc)
{
    pm_thr *found[MAXT], *t;
    int     nf = 0, all_shared = 1, same_links = 1;

    for (int i = 0; i < S.nt; i++) {
	pm_thr *x = &S.t[i];
	int     hit = x->alive && x->owner == u && ms_has(&x->ids, mi);

	for (int k = 0; x->alive && x->owner == u && !hit && k < nrefs; k++)
	    hit = ms_has(&x->ids, refs[k]);
	if (hit)
	    found[nf++] = x;
    }
    if (nf == 0) {
	if (S.nt >= MAXT)
	    return NULL;
	t = &S.t[S.nt++];
	memset(t, 0, sizeof(*t));
	t->owner = u;
	t->alive = 1;
	t->num = S.next_tid++;
	snprintf(t->sid, sizeof(t->sid), "t%ld", t->num);
    } else {
	/* The oldest thread takes the others in (which id survives is the
	 * store's choice; the lowest, as numbered). */
	t = found[0];
	for (int i = 0; i < nf; i++) {
	    if (found[i]->num < t->num)
		t = found[i];
	    all_shared &= found[i]->shared;
	    same_links &= found[i]->links == found[0]->links;
	}
	for (int i = 0; nf > 1 && i < nf; i++) {
	    pm_thr *o = found[i];
	    uint64_t carried;

	    if (o == t)
		continue;
	    /*
	     * SPEC is silent here; the store documents its choice: the
	     * surviving thread's hand unlinks hold against the automatic
	     * links the other brings, then its unlinks are carried over.
	     */
	    carried = o->links & ~(o->links & ~o->hand & t->unlinks);
	    t->hand |= o->hand & carried & ~t->links;
	    t->links |= carried;
	    t->unlinks |= o->unlinks;
	    ms_or(&t->ids, &o->ids);
	    ms_or(&t->msgs, &o->msgs);
	    t->bcc |= o->bcc;
	    if (o->last_date > t->last_date)
		t->last_date = o->last_date;
	    o->alive = 0;
	    dead_add(o->sid);
	}
	if (nf > 1) {
	    /* V3: shared only if every merged thread was shared with the
	     * same links; V7: a shared thread that became private says so. */
	    int     now = all_shared && same_links;
	    char    line[200] = "";

	    for (int i = 0; i < nf; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s(%s %llx/%llx)",
			 found[i]->sid, found[i]->shared ? "shared" : "private",
			 (unsigned long long) found[i]->links,
			 (unsigned long long) found[i]->unlinks);
	    note("  %s's threads merge:%s -> %s %s", UID[u], line, t->sid,
		 now ? "shared" : "private");

	    /* Each shared thread the merge makes private, by the id the CRM
	     * knew it by (the survivor's or the one merged into it). */
	    for (int i = 0; i < nf && !now; i++)
		if (found[i]->shared)
		    vis_expect(found[i], 0);
	    t->shared = now;
	}
    }
    ms_set(&t->ids, mi);
    for (int k = 0; k < nrefs; k++)
	ms_set(&t->ids, refs[k]);
    ms_set(&t->msgs, mi);
    if (S.m[mi].date > t->last_date)
	t->last_date = S.m[mi].date;
    t->bcc |= bcc;
    t->touched = 1;
    t3_links(t, &S.m[mi]);
    return t;
}

/* --- Comparing what a user sees with the model. --- */

/* js - compact JSON text for a message (free it) */
static char *js(json_t *j)
{
    char   *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    return s ? s : strdup("(null)");
}

/* strip_id - a message id without angle brackets */
static void strip_id(const char *in, char *out, size_t len)
{
    if (in == NULL)
	in = "";
    if (*in == '<')
	in++;
    snprintf(out, len, "%s", in);
    if (*out && out[strlen(out) - 1] == '>')
	out[strlen(out) - 1] = 0;
}

/* want_links - the thread's links this reader may see, sorted by id */
static json_t *want_links(const pm_thr *t, int u)
{
    json_t *o = json_pack("{s:[],s:[]}", "deals", "persons");
    const char *ids[MAXR];
    int     n;

    for (int k = 0; k < 2; k++) {
	n = 0;
	for (int r = 0; r < S.nr; r++)
	    if ((t->links >> r & 1) && S.r[r].kind == (k ? 'p' : 'd') && can_access(u, r))
		ids[n++] = S.r[r].id;
	for (int i = 1; i < n; i++)	/* insertion sort: ORDER BY id */
	    for (int j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0; j--) {
		const char *x = ids[j];

		ids[j] = ids[j - 1];
		ids[j - 1] = x;
	    }
	for (int i = 0; i < n; i++)
	    json_array_append_new(json_object_get(o, k ? "persons" : "deals"), json_string(ids[i]));
    }
    return o;
}

/* check_thread_obj - one thread object as reader u must see it */
static void check_thread_obj(const pm_thr *t, int u, json_t *o, int with_msgs,
			             const char *where)
{
    json_t *links = want_links(t, u), *parts, *p;
    char   *got, *want;
    uint32_t mask = 0;
    size_t  i;
    int     n;

    if (S.failed)
	goto out;
    if (!json_is_string(json_object_get(o, "id"))
	|| strcmp(json_string_value(json_object_get(o, "id")), t->sid) != 0) {
	got = js(json_object_get(o, "id"));
	fail("%s: thread id %s, model %s", where, got, t->sid);
	free(got);
	goto out;
    }
    if (strcmp(json_string_value(json_object_get(o, "owner")) ?: "", UID[t->owner]) != 0)
	fail("%s: %s owner is not %s", where, t->sid, UID[t->owner]);
    if (strcmp(json_string_value(json_object_get(o, "visibility")) ?: "",
	       t->shared ? "shared" : "private") != 0)
	fail("%s: %s visibility %s, model %s (V1/V3)", where, t->sid,
	     json_string_value(json_object_get(o, "visibility")),
	     t->shared ? "shared" : "private");
    if (json_integer_value(json_object_get(o, "message_count")) != ms_count(&t->msgs))
	fail("%s: %s has %lld messages, model %d (T1)", where, t->sid,
	     (long long) json_integer_value(json_object_get(o, "message_count")),
	     ms_count(&t->msgs));
    if (!json_equal(json_object_get(o, "links"), links)) {
	got = js(json_object_get(o, "links"));
	want = js(links);
	fail("%s: %s links as %s sees them %s, model %s (T3, V6)", where, t->sid, UID[u], got,
	     want);
	free(got);
	free(want);
    }
    {
	json_t *lw = t->owner == u && t->bcc ? json_pack("[s]", "bcc") : json_array();

	if (!json_equal(json_object_get(o, "labels"), lw)) {
	    got = js(json_object_get(o, "labels"));
	    fail("%s: %s labels %s for %s (labels are the owner's)", where, t->sid, got, UID[u]);
	    free(got);
	}
	json_decref(lw);
    }
    /* Participants, each with the person this reader may access (V6, K5). */
    for (int mi = 0; mi < S.nm; mi++)
	if (ms_has(&t->msgs, mi))
	    mask |= S.m[mi].to | S.m[mi].cc | 1u << S.m[mi].from;
    parts = json_object_get(o, "participants");
    n = 0;
    json_array_foreach(parts, i, p) {
	int     a = addr_index(json_string_value(json_object_get(p, "address")));
	int     r;
	const char *pid = json_string_value(json_object_get(p, "person"));

	if (a < 0 || !(mask >> a & 1)) {
	    fail("%s: %s shows participant %s the model does not have", where, t->sid,
		 json_string_value(json_object_get(p, "address")));
	    break;
	}
	n++;
	r = person_of(u, a);
	if ((r < 0) != (pid == NULL) || (r >= 0 && strcmp(pid, S.r[r].id) != 0))
	    fail("%s: %s participant %s shows person %s to %s, model %s (V6/K5)", where,
		 t->sid, addr(a), pid ? pid : "null", UID[u], r >= 0 ? S.r[r].id : "null");
    }
    if (!S.failed && n != __builtin_popcount(mask))
	fail("%s: %s shows %d participants, model %d", where, t->sid, n,
	     __builtin_popcount(mask));
    if (with_msgs && !S.failed) {
	json_t *msgs = json_object_get(o, "messages");
	size_t  k = 0;

	for (int mi = 0; mi < S.nm && !S.failed; mi++) {
	    char    id[80];

	    if (!ms_has(&t->msgs, mi))
		continue;
	    strip_id(json_string_value(json_object_get(json_array_get(msgs, k), "message_id")),
		     id, sizeof(id));
	    if (strcmp(id, S.m[mi].mid) != 0)
		fail("%s: %s message %zu is %s, model %s (T1)", where, t->sid, k, id,
		     S.m[mi].mid);
	    k++;
	}
	if (!S.failed && json_array_size(msgs) != k)
	    fail("%s: %s has %zu messages, model %zu", where, t->sid, json_array_size(msgs), k);
    }
out:
    json_decref(links);
}

/* by_date - threads newest first, ties by id (mailbox and record pages) */
static int by_date(const void *x, const void *y)
{
    const pm_thr *a = *(pm_thr * const *) x, *b = *(pm_thr * const *) y;

    if (a->last_date != b->last_date)
	return a->last_date > b->last_date ? -1 : 1;
    return a->num > b->num ? -1 : a->num < b->num;
}

/* check_list - a mailbox or record page: these threads, in this order */
static void check_list(json_t *out, pm_thr **want, int n, int u, const char *where)
{
    json_t *list = json_object_get(out, "threads");

    qsort(want, (size_t) n, sizeof(*want), by_date);
    if (json_array_size(list) != (size_t) n) {
	char   *got = js(list);
	char    w[2048] = "";

	for (int i = 0; i < n; i++)
	    snprintf(w + strlen(w), sizeof(w) - strlen(w), " %s", want[i]->sid);
	fail("%s: %zu threads, model %d:%s; got %.1500s", where, json_array_size(list), n, w,
	     got);
	free(got);
	return;
    }
    for (int i = 0; i < n && !S.failed; i++)
	check_thread_obj(want[i], u, json_array_get(list, (size_t) i), 0, where);
}

/* not_found - V6: an error answers no content and says not found */
static void not_found(int rc, json_t *out, const char *where)
{
    if (rc != PM_NOTFOUND || out != NULL)
	fail("%s: answered %d%s, want not found like a missing id (V6)", where, rc,
	     out ? " with content" : "");
}

/* check_user - everything user u sees, against the model */
static void check_user(int u, int all_threads)
{
    pm_thr *want[MAXT];
    json_t *out = NULL;
    char    where[160];
    int     n = 0, rc;

    snprintf(where, sizeof(where), "mailbox --as %s", UID[u]);
    rc = S.a->mailbox(S.a->ctx, UID[u], &out);
    if (!(S.cur >> u & 1))
	not_found(rc, out, where);	/* R3: not in the policy in force */
    else if (rc != PM_OK)
	fail("%s: error %d", where, rc);
    else {
	for (int i = 0; i < S.nt; i++)
	    if (S.t[i].alive && S.t[i].owner == u)	/* V2: own threads only */
		want[n++] = &S.t[i];
	check_list(out, want, n, u, where);
    }
    json_decref(out);

    /* Record pages (V3), and pages one may not see like missing ones (V6). */
    for (int r = 0; r <= S.nr && !S.failed; r++) {
	for (int k = 0; r == S.nr && k < 2 && !S.failed; k++) {
	    out = NULL;
	    snprintf(where, sizeof(where), "%s %s --as %s", kind_word(k ? 'd' : 'p'),
		     k ? GHOST_D : GHOST_P, UID[u]);
	    rc = S.a->page(S.a->ctx, UID[u], k ? "deal" : "person", k ? GHOST_D : GHOST_P, &out);
	    not_found(rc, out, where);
	    json_decref(out);
	}
	if (r == S.nr || S.r[r].id[0] == 0)
	    continue;
	out = NULL;
	snprintf(where, sizeof(where), "%s %s --as %s", kind_word(S.r[r].kind), S.r[r].id,
		 UID[u]);
	rc = S.a->page(S.a->ctx, UID[u], kind_word(S.r[r].kind), S.r[r].id, &out);
	if (!can_access(u, r))
	    not_found(rc, out, where);
	else if (rc != PM_OK)
	    fail("%s: error %d, model: may access", where, rc);
	else {
	    n = 0;
	    for (int i = 0; i < S.nt; i++)
		if ((S.t[i].links >> r & 1) && visible(&S.t[i], u))
		    want[n++] = &S.t[i];
	    check_list(out, want, n, u, where);
	}
	json_decref(out);
    }

    /* Threads: visible ones in full, the others like a missing id. */
    for (int i = 0; i < S.nt && !S.failed; i++) {
	pm_thr *t = &S.t[i];

	if (!t->alive || !(all_threads || t->touched || chance(15)))
	    continue;
	out = NULL;
	snprintf(where, sizeof(where), "thread %s --as %s", t->sid, UID[u]);
	rc = S.a->thread(S.a->ctx, UID[u], t->sid, &out);
	if (!visible(t, u))
	    not_found(rc, out, where);
	else if (rc != PM_OK)
	    fail("%s: error %d, model: visible (owner %s, %s)", where, rc, UID[t->owner],
		 t->shared ? "shared" : "private");
	else
	    check_thread_obj(t, u, out, 1, where);
	json_decref(out);
    }
    for (int i = 0; i < S.ndead + 1 && !S.failed; i++) {
	const char *id = i == S.ndead ? GHOST_T : S.dead[i];

	if (!all_threads && i < S.ndead && !chance(20))
	    continue;
	out = NULL;
	snprintf(where, sizeof(where), "thread %s (gone) --as %s", id, UID[u]);
	rc = S.a->thread(S.a->ctx, UID[u], id, &out);
	not_found(rc, out, where);
	json_decref(out);
    }
}

/* check_all - every user's view; touched threads are fresh again */
static void check_all(int all_threads)
{
    for (int u = 0; u < NU && !S.failed; u++)
	check_user(u, all_threads);
    for (int i = 0; i < S.nt; i++)
	S.t[i].touched = 0;
    S.checks++;
}

/*
 * check_events - V7 (each visibility change, none other) and V6 (private
 * threads' events carry no content) for the last step
 */
static void check_events(void)
{
    json_t *evs = NULL, *e;
    char    got[64][48];
    int     ngot = 0;
    size_t  i;

    if (S.a->events == NULL || S.a->events(S.a->ctx, &evs) != PM_OK || evs == NULL) {
	S.nvis = 0;
	return;
    }
    json_array_foreach(evs, i, e) {
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *tid = json_string_value(json_object_get(e, "thread"));
	pm_thr *t = tid ? thr_by_sid(tid) : NULL;

	if (type && strcmp(type, "thread.visibility_changed") == 0 && ngot < 64)
	    snprintf(got[ngot++], 48, "%s %s", tid ? tid : "?",
		     json_string_value(json_object_get(e, "visibility")) ?: "?");
	if (tid && (t == NULL || !t->shared)
	    && (json_object_get(e, "subject") || json_object_get(e, "participants")
		|| json_object_get(e, "text") || json_object_get(e, "body"))) {
	    char   *s = js(e);

	    fail("event about private thread %s carries content (V6): %.300s", tid, s);
	    free(s);
	}
    }
    json_decref(evs);
    for (int k = 0; k < S.nvis && !S.failed; k++) {
	int     hit = -1;

	for (int j = 0; j < ngot && hit < 0; j++)
	    if (strcmp(got[j], S.vis_want[k]) == 0)
		hit = j;
	if (hit < 0)
	    fail("no thread.visibility_changed event \"%s\" (V7)", S.vis_want[k]);
	else
	    got[hit][0] = 0;
    }
    for (int j = 0; j < ngot && !S.failed; j++)
	if (got[j][0])
	    fail("thread.visibility_changed \"%s\" the model did not expect (V7)", got[j]);
    S.nvis = 0;
}

/* --- Operations. --- */

/* current_user - a user in the policy in force (alice always is) */
static int current_user(void)
{
    int     u;

    do
	u = pick(NU);
    while (!(S.cur >> u & 1));
    return u;
}

/* outside - a random outside address */
static int outside(void)
{
    return NU + pick(NX);
}

/* own_thread - a random live thread of u, or NULL */
static pm_thr *own_thread(int u)
{
    pm_thr *c[MAXT];
    int     n = 0;

    for (int i = 0; i < S.nt; i++)
	if (S.t[i].alive && S.t[i].owner == u)
	    c[n++] = &S.t[i];
    return n ? c[pick(n)] : NULL;
}

/* foreign_id - another user's thread, a gone one or one that never was */
static const char *foreign_id(int u)
{
    int     k = pick(10);

    if (k < 6) {
	pm_thr *c[MAXT];
	int     n = 0;

	for (int i = 0; i < S.nt; i++)
	    if (S.t[i].alive && S.t[i].owner != u)
		c[n++] = &S.t[i];
	if (n)
	    return c[pick(n)]->sid;
    }
    if (k < 8 && S.ndead)
	return S.dead[pick(S.ndead)];
    return GHOST_T;
}

/* mail_raw - the message as it travels */
static char *mail_raw(const pm_msg *m, const int *refs, int nrefs, const char *subject)
{
    char    d[64], list[1024] = "", cc[1024] = "", rl[2048] = "", *out = NULL;
    struct tm tm;
    time_t  date = (time_t) m->date;

    gmtime_r(&date, &tm);
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    for (int a = 0; a < NA; a++) {
	if (m->to >> a & 1)
	    snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\" <%s>",
		     *list ? ", " : "", aname(a), addr(a));
	if (m->cc >> a & 1)
	    snprintf(cc + strlen(cc), sizeof(cc) - strlen(cc), "%s\"%s\" <%s>",
		     *cc ? ", " : "", aname(a), addr(a));
    }
    for (int k = 0; k < nrefs; k++)
	snprintf(rl + strlen(rl), sizeof(rl) - strlen(rl), "%s<%s>", k ? " " : "",
		 S.m[refs[k]].mid);
    if (asprintf(&out, "From: \"%s\" <%s>\r\nTo: %s\r\n%s%s%sSubject: %s\r\nDate: %s\r\n"
		 "Message-ID: <%s>\r\n%s%s%s%s%s%s\r\nBody of %s.\r\n",
		 aname(m->from), addr(m->from), list, *cc ? "Cc: " : "", cc, *cc ? "\r\n" : "",
		 subject, d, m->mid,
		 nrefs ? "In-Reply-To: <" : "", nrefs ? S.m[refs[nrefs - 1]].mid : "",
		 nrefs ? ">\r\n" : "", nrefs ? "References: " : "", rl, nrefs ? "\r\n" : "",
		 m->mid) < 0)
	abort();
    return out;
}

/*
 * deliver - one message: the model first (K2 persons, then each copy:
 * T1, V3, T3), then crmsync, then the ids crmsync gave new persons
 */
static void deliver(int from, uint32_t to, uint32_t cc, const int *refs, int nrefs,
		            int bcc_sender, const char *kind)
{
    pm_copy copies[NU];
    pm_contact contacts[4];
    pm_thr *got[NU] = {0};
    int     newp[4], nnew = 0, ncopies = 0, ncontacts = 0, mi, rc;
    pm_msg *m;
    char   *raw, subject[96];
    pm_mail mail = {0};

    if (S.nm >= MAXM || S.nt + NU >= MAXT || (bcc_sender && S.nr + 3 >= MAXR))
	return;
    mi = S.nm;
    m = &S.m[mi];
    memset(m, 0, sizeof(*m));
    snprintf(m->mid, sizeof(m->mid), "m%d.s%lu@gen.example", mi, S.seed);
    /* Strictly later than every earlier message, and days apart so that
     * T1's subject rule (7 days) never joins: every join is by reference. */
    m->date = BASE + (long) mi * 8 * 86400;
    m->from = from;
    for (int k = nrefs > 6 ? nrefs - 6 : 0; k < nrefs; k++)
	m->refs[m->nrefs++] = refs[k];
    m->to = to & ~(1u << from);
    m->cc = cc & ~(1u << from) & ~m->to;
    /* One subject per message: no subject join either. */
    snprintf(subject, sizeof(subject), "%s%s %d", nrefs ? "Re: " : "", kind, mi);
    /* Copies (C2, C3): recipients in the policy; the sender when a user. */
    if (from < NU && (S.cur >> from & 1))
	copies[ncopies++] = (pm_copy) {UID[from], PM_OUT, bcc_sender ? "bcc" : NULL};
    for (int u = 0; u < NU && !bcc_sender; u++)
	if (((m->to | m->cc) >> u & 1) && (S.cur >> u & 1))
	    copies[ncopies++] = (pm_copy) {UID[u], PM_IN, NULL};
    if (ncopies == 0)
	return;
    S.nm++;
    /* K2/K5: a person for each outside recipient the sender may access none of. */
    if (bcc_sender)
	for (int a = NU; a < NA; a++) {
	    if (!((m->to | m->cc) >> a & 1))
		continue;
	    contacts[ncontacts++] = (pm_contact) {UID[from], addr(a), aname(a)};
	    if (person_of(from, a) < 0) {
		pm_rec *r = &S.r[S.nr];

		memset(r, 0, sizeof(*r));
		r->kind = 'p';
		r->alive = 1;
		r->owner = from;
		r->emails = 1u << a;
		r->access = 1u << from;
		snprintf(r->name, sizeof(r->name), "%s", aname(a));
		newp[nnew++] = S.nr++;
	    }
	}
    for (int c = 0; c < ncopies; c++) {
	int     u = 0;

	while (u < NU && strcmp(UID[u], copies[c].user) != 0)
	    u++;
	got[c] = copy_arrives(u, mi, refs, nrefs, bcc_sender);
    }
    note("%s %s from %s to %x cc %x refs %d%s -> %s%s%s", kind, m->mid, addr(from), to, cc,
	 nrefs, bcc_sender ? " (Smart BCC)" : "", got[0] ? got[0]->sid : "?",
	 ncopies > 1 ? "," : "", ncopies > 1 && got[1] ? got[1]->sid : "");
    raw = mail_raw(m, refs, nrefs, subject);
    mail.raw = raw;
    mail.env_from = addr(from);
    mail.copies = copies;
    mail.ncopies = (size_t) ncopies;
    mail.contacts = contacts;
    mail.ncontacts = (size_t) ncontacts;
    rc = S.a->deliver(S.a->ctx, &mail);
    free(raw);
    if (rc != PM_OK) {
	fail("deliver %s: error %d", m->mid, rc);
	return;
    }
    /* The ids of persons K2 made: as the sender's thread shows them. */
    if (nnew) {
	json_t *out = NULL;
	size_t  i;
	json_t *p;

	if ((rc = S.a->thread(S.a->ctx, UID[from], got[0]->sid, &out)) != PM_OK) {
	    fail("thread %s --as %s after Smart BCC: error %d (T1 or numbering)", got[0]->sid,
		 UID[from], rc);
	    return;
	}
	json_array_foreach(json_object_get(out, "participants"), i, p) {
	    int     a = addr_index(json_string_value(json_object_get(p, "address")));
	    const char *pid = json_string_value(json_object_get(p, "person"));

	    for (int k = 0; k < nnew; k++) {
		if (!(S.r[newp[k]].emails >> a & 1) || a < 0)
		    continue;
		if (pid == NULL || rec_find('p', pid) >= 0)
		    fail("Smart BCC by %s to %s: %s, want a new person of %s's own (K2, K5)",
			 UID[from], addr(a), pid ? pid : "no person", UID[from]);
		else
		    snprintf(S.r[newp[k]].id, sizeof(S.r[newp[k]].id), "%s", pid);
	    }
	}
	json_decref(out);
	for (int k = 0; k < nnew && !S.failed; k++)
	    if (S.r[newp[k]].id[0] == 0)
		fail("Smart BCC by %s: no person for %s on %s", UID[from],
		     addr(__builtin_ctz(S.r[newp[k]].emails)), got[0]->sid);
    }
}

/* some_refs - the ids a reply to message mi names: mi's References, mi */
static int some_refs(int mi, int *refs)
{
    int     n = 0;

    for (int k = 0; k < S.m[mi].nrefs; k++)
	refs[n++] = S.m[mi].refs[k];
    refs[n++] = mi;
    return n;
}

/* op_new_incoming - an outside sender starts a conversation with users */
static void op_new_incoming(void)
{
    int     x = outside(), u = current_user(), v = current_user();
    uint32_t to = 1u << u, cc = 0;

    if (chance(30))
	to |= 1u << v;
    if (chance(30))
	cc |= 1u << outside();
    deliver(x, to, cc & ~(1u << x), NULL, 0, 0, "Inquiry");
}

/* op_new_outgoing - a user (authenticated) writes to outside people */
static void op_new_outgoing(void)
{
    int     s = current_user(), x = outside();
    uint32_t cc = 0;

    if (chance(30))
	cc |= 1u << current_user();
    if (chance(30))
	cc |= 1u << outside();
    deliver(s, 1u << x, cc & ~(1u << s) & ~(1u << x), NULL, 0, 0, "Offer");
}

/* op_reply - a participant replies to a recent message, now and then Cc'ing more */
static void op_reply(void)
{
    int     mi, refs[8], nrefs, from;
    uint32_t parts, to, cc = 0;

    if (S.nm == 0)
	return;
    mi = S.nm - 1 - pick(S.nm < 40 ? S.nm : 40);
    parts = S.m[mi].to | S.m[mi].cc | 1u << S.m[mi].from;
    do
	from = pick(NA);
    while (!(parts >> from & 1));
    to = parts & ~(1u << from);
    if (to == 0)
	to = 1u << outside();
    if (chance(15))
	cc |= 1u << outside();
    if (chance(10))
	cc |= 1u << current_user();	/* a colleague joins the conversation */
    nrefs = some_refs(mi, refs);
    deliver(from, to, cc, refs, nrefs, 0, "Reply");
}

/* op_merge - a message naming two of one user's threads (T1 merge, V3) */
static void op_merge(void)
{
    int     u = current_user(), refs[2], k;
    pm_thr *a = own_thread(u), *b = own_thread(u);
    uint32_t to = 1u << u;

    if (a == NULL || b == NULL || a == b)
	return;
    for (k = 0; k < 2; k++) {
	pm_thr *t = k ? b : a;
	int     c[MAXM], n = 0;

	for (int mi = 0; mi < S.nm; mi++)
	    if (ms_has(&t->msgs, mi))
		c[n++] = mi;
	refs[k] = c[pick(n)];
    }
    if (chance(25))
	to |= 1u << current_user();
    deliver(outside(), to, 0, refs, 2, 0, "Merge");
}

/* op_bcc - Smart BCC (K2): a user writes to outside people, dropbox in Bcc */
static void op_bcc(void)
{
    int     s = current_user(), x = outside(), refs[8], nrefs = 0;
    uint32_t cc = chance(40) ? 1u << outside() : 0;
    pm_thr *t = chance(30) ? own_thread(s) : NULL;

    if (t) {
	int     c[MAXM], n = 0;

	for (int mi = 0; mi < S.nm; mi++)
	    if (ms_has(&t->msgs, mi))
		c[n++] = mi;
	refs[nrefs++] = c[pick(n)];
    }
    deliver(s, 1u << x, cc & ~(1u << x), refs, nrefs, 1, "Bcc");
}

/* thread_rule - V4/V6 for one named thread: 0, not found or forbidden */
static int thread_rule(const char *sid, int u)
{
    pm_thr *t = thr_by_sid(sid);

    if (!visible(t, u))
	return PM_NOTFOUND;
    return t->owner == u ? PM_OK : PM_FORBIDDEN;
}

/* invisible_existing - a thread that exists but u may not see */
static int invisible_existing(const char *sid, int u)
{
    pm_thr *t = thr_by_sid(sid);

    return t && !visible(t, u);
}

/*
 * same_as_ghost - V6: the answer for what u may not see equals the answer
 * for an id that never existed (ghost), its name put back in the message
 */
static void same_as_ghost(int rc, const char *err, json_t *out, int rc2, const char *err2,
			          json_t *out2, const char *id, const char *ghost, const char *what)
{
    char    fixed[512] = "";
    const char *g = strstr(err2, ghost);

    if (g)
	snprintf(fixed, sizeof(fixed), "%.*s%s%s", (int) (g - err2), err2, id, g + strlen(ghost));
    else
	snprintf(fixed, sizeof(fixed), "%s", err2);
    if (rc != rc2 || strcmp(err, fixed) != 0 || out || out2)
	fail("%s: %s answers %d \"%s\", one that never existed %d \"%s\" (V6)", what, id, rc,
	     err, rc2, err2);
}

/* op_threads - share, private or delete of one or several threads (V4) */
static void op_threads(int action)
{
    static const char *const word[] = {"", "share", "private", "delete"};
    int     u = chance(90) ? current_user() : pick(NU), n = 1 + pick(3), rc, want = PM_OK;
    int     bad = -1;
    const char *ids[4];
    char    idbuf[4][32], err[512] = "";
    json_t *out = NULL;

    for (int i = 0; i < n; i++) {
	pm_thr *t = chance(80) ? own_thread(u) : NULL;

	snprintf(idbuf[i], 32, "%s", t ? t->sid : foreign_id(u));
	ids[i] = idbuf[i];
    }
    for (int i = 0; i < n && want == PM_OK; i++)
	if ((want = thread_rule(ids[i], u)) != PM_OK)
	    bad = i;
    note("%s --as %s %s %s %s -> model %d", word[action], UID[u], ids[0], n > 1 ? ids[1] : "",
	 n > 2 ? ids[2] : "", want);
    rc = S.a->threads_set(S.a->ctx, UID[u], action, ids, (size_t) n, &out, err, sizeof(err));
    if (rc != want) {
	fail("%s --as %s: answered %d (%s), model %d (V4/V6)", word[action], UID[u], rc, err,
	     want);
	json_decref(out);
	return;
    }
    if (rc != PM_OK) {
	/* V6: a thread one may not see, like one that never was. */
	if (out)
	    fail("%s: an error with content", word[action]);
	if (rc == PM_NOTFOUND && invisible_existing(ids[bad], u)) {
	    char    err2[512] = "", real[32];
	    json_t *out2 = NULL;
	    int     rc2;

	    snprintf(real, sizeof(real), "%s", idbuf[bad]);
	    snprintf(idbuf[bad], 32, "%s", GHOST_T);
	    rc2 = S.a->threads_set(S.a->ctx, UID[u], action, ids, (size_t) n, &out2, err2,
				   sizeof(err2));
	    snprintf(idbuf[bad], 32, "%s", real);
	    same_as_ghost(rc, err, out, rc2, err2, out2, real, GHOST_T, word[action]);
	    json_decref(out2);
	}
	json_decref(out);
	return;
    }
    /* All the caller's: apply, each thread once. */
    {
	json_t *list = json_object_get(out, "threads");
	size_t  k = 0;

	for (int i = 0; i < n && !S.failed; i++) {
	    pm_thr *t = thr_by_sid(ids[i]);
	    int     dup = 0;

	    for (int j = 0; j < i; j++)
		dup |= strcmp(ids[j], ids[i]) == 0;
	    if (dup || t == NULL)
		continue;
	    if (action == PM_DELETE) {
		t->alive = 0;
		dead_add(t->sid);
	    } else {
		if (t->shared != (action == PM_SHARE))
		    vis_expect(t, action == PM_SHARE);
		t->shared = action == PM_SHARE;
		t->touched = 1;
	    }
	    /* The answer: share says who can see each thread now (R3: users
	     * in the policy in force). */
	    if (action == PM_SHARE) {
		json_t *vt = json_array(), *e = json_array_get(list, k);

		for (int v = 0; v < NU; v++)
		    if (visible(t, v))
			json_array_append_new(vt, json_string(UID[v]));
		if (strcmp(json_string_value(json_object_get(e, "id")) ?: "", t->sid) != 0
		    || !json_equal(json_object_get(e, "visible_to"), vt)) {
		    char   *g = js(e), *w = js(vt);

		    fail("share %s answered %s, model visible_to %s", t->sid, g, w);
		    free(g);
		    free(w);
		}
		json_decref(vt);
	    } else if (strcmp(json_string_value(json_array_get(list, k)) ?: "", t->sid) != 0)
		fail("%s answered %s at %zu, model %s", word[action],
		     json_string_value(json_array_get(list, k)), k, t->sid);
	    k++;
	}
	if (!S.failed && json_array_size(list) != k)
	    fail("%s answered %zu threads, model %zu", word[action], json_array_size(list), k);
    }
    json_decref(out);
}

/* record_for - a record u may access mostly, sometimes any, sometimes none */
static int record_for(int u, char *kind, const char **id)
{
    int     c[MAXR], n = 0, k = pick(100);

    for (int r = 0; r < S.nr; r++)
	if (S.r[r].id[0] && (k < 75 ? can_access(u, r) : 1))
	    c[n++] = r;
    if (k >= 90 || n == 0) {
	*kind = chance(50) ? 'd' : 'p';
	*id = *kind == 'd' ? GHOST_D : GHOST_P;
	return -1;
    }
    n = c[pick(n)];
    *kind = S.r[n].kind;
    *id = S.r[n].id;
    return n;
}

/* op_link - T3 by hand, owner only, records one may access (V4, V6) */
static void op_link(void)
{
    int     u = current_user(), unlink = chance(40), want, rc, r;
    pm_thr *t = chance(85) ? own_thread(u) : NULL;
    const char *tid = t ? t->sid : foreign_id(u), *rid;
    char    kind, err[512] = "", tbuf[32];
    json_t *out = NULL;

    r = record_for(u, &kind, &rid);
    snprintf(tbuf, sizeof(tbuf), "%s", tid);
    t = thr_by_sid(tbuf);
    want = thread_rule(tbuf, u);
    if (want == PM_OK && !can_access(u, r))
	want = PM_NOTFOUND;
    note("%s --as %s %s %s %s -> model %d", unlink ? "unlink" : "link", UID[u], tbuf,
	 kind_word(kind), rid, want);
    rc = S.a->link(S.a->ctx, UID[u], tbuf, kind_word(kind), rid, unlink, &out, err, sizeof(err));
    if (rc != want) {
	fail("%s --as %s %s %s %s: answered %d (%s), model %d", unlink ? "unlink" : "link",
	     UID[u], tbuf, kind_word(kind), rid, rc, err, want);
	json_decref(out);
	return;
    }
    if (rc != PM_OK) {
	char    err2[512] = "";
	json_t *out2 = NULL;
	int     rc2;

	if (invisible_existing(tbuf, u)) {
	    rc2 = S.a->link(S.a->ctx, UID[u], GHOST_T, kind_word(kind), rid, unlink, &out2, err2,
			    sizeof(err2));
	    same_as_ghost(rc, err, out, rc2, err2, out2, tbuf, GHOST_T, "link");
	} else if (want == PM_NOTFOUND && thread_rule(tbuf, u) == PM_OK && r >= 0) {
	    const char *g = kind == 'd' ? GHOST_D : GHOST_P;

	    rc2 = S.a->link(S.a->ctx, UID[u], tbuf, kind_word(kind), g, unlink, &out2, err2,
			    sizeof(err2));
	    same_as_ghost(rc, err, out, rc2, err2, out2, rid, g, "link");
	}
	json_decref(out2);
	json_decref(out);
	return;
    }
    {
	uint64_t b = 1ULL << r;
	int     changed = unlink ? (t->links & b) != 0 : (t->links & b) == 0;

	if (unlink) {
	    t->links &= ~b;
	    t->hand &= ~b;
	    t->unlinks |= b;
	} else {
	    t->links |= b;
	    t->hand |= b;
	    t->unlinks &= ~b;
	}
	t->touched = 1;
	if (json_is_true(json_object_get(out, "changed")) != changed)
	    fail("%s %s %s: changed %d, model %d", unlink ? "unlink" : "link", tbuf, rid,
		 !changed, changed);
	else
	    check_thread_obj(t, u, json_object_get(out, "thread"), 0, "link answer");
    }
    json_decref(out);
}

/* op_contact - K3 and K5: a person from a participant of one's own thread */
static void op_contact(void)
{
    int     u = current_user(), a, want, rc, p = -1;
    pm_thr *t = chance(85) ? own_thread(u) : NULL;
    const char *tid = t ? t->sid : foreign_id(u);
    char    tbuf[32], name[64], err[512] = "";
    uint32_t parts = 0;
    json_t *out = NULL;
    const char *given = NULL;

    if (S.nr + 2 >= MAXR)
	return;
    snprintf(tbuf, sizeof(tbuf), "%s", tid);
    t = thr_by_sid(tbuf);
    for (int mi = 0; t && mi < S.nm; mi++)
	if (ms_has(&t->msgs, mi))
	    parts |= S.m[mi].to | S.m[mi].cc | 1u << S.m[mi].from;
    if (parts && chance(75)) {
	do
	    a = pick(NA);
	while (!(parts >> a & 1));
    } else
	a = outside();
    if (a < NU && !is_user_addr(a))
	a = outside();			/* a user who left: keep persons off users' addresses */
    if (chance(50)) {
	snprintf(name, sizeof(name), "Hand %d", S.op);
	given = name;
    }
    want = thread_rule(tbuf, u);
    if (want == PM_OK && (!(parts >> a & 1) || is_user_addr(a)))
	want = PM_INVAL;
    if (want == PM_OK)
	p = person_of(u, a);
    note("contact create --as %s --thread %s --address %s -> model %d%s%s", UID[u], tbuf,
	 addr(a), want, p >= 0 ? " existing " : "", p >= 0 ? S.r[p].id : "");
    rc = S.a->contact(S.a->ctx, UID[u], tbuf, addr(a), given, &out, err, sizeof(err));
    if (rc != want) {
	fail("contact create --as %s --thread %s --address %s: answered %d (%s), model %d "
	     "(K3, K5, V6)", UID[u], tbuf, addr(a), rc, err, want);
	json_decref(out);
	return;
    }
    if (rc != PM_OK) {
	if (invisible_existing(tbuf, u)) {
	    char    err2[512] = "";
	    json_t *out2 = NULL;
	    int     rc2 = S.a->contact(S.a->ctx, UID[u], GHOST_T, addr(a), given, &out2, err2,
				       sizeof(err2));

	    same_as_ghost(rc, err, out, rc2, err2, out2, tbuf, GHOST_T, "contact create");
	    json_decref(out2);
	}
	json_decref(out);
	return;
    }
    {
	json_t *person = json_object_get(out, "person");
	const char *pid = json_string_value(json_object_get(person, "id"));
	const char *pname = json_string_value(json_object_get(person, "name"));
	int     created = json_is_true(json_object_get(out, "created"));

	if (p >= 0) {
	    /* K3: one's own or an accessible person is answered as it is. */
	    if (created || pid == NULL || strcmp(pid, S.r[p].id) != 0
		|| strcmp(pname ?: "", S.r[p].name) != 0)
		fail("contact create %s: answered %s \"%s\" created %d, model %s \"%s\" (K3)",
		     addr(a), pid, pname, created, S.r[p].id, S.r[p].name);
	} else {
	    /* K5: a person of u's own, answered as for an address nobody
	     * knew, whoever else has a person with it. */
	    const char *wname = given ? given : aname(a);

	    if (!created || pid == NULL || rec_find('p', pid) >= 0 || rec_find('d', pid) >= 0
		|| strcmp(pname ?: "", wname) != 0)
		fail("contact create --as %s %s: answered %s \"%s\" created %d, want a new "
		     "person \"%s\" of %s's own (K5, V6)", UID[u], addr(a), pid ?: "null",
		     pname ?: "", created, wname, UID[u]);
	    else {
		pm_rec *r = &S.r[p = S.nr++];

		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", pid);
		r->kind = 'p';
		r->alive = 1;
		r->owner = u;
		r->emails = 1u << a;
		r->access = 1u << u;
		snprintf(r->name, sizeof(r->name), "%s", wname);
	    }
	}
	if (!S.failed) {
	    t->links |= 1ULL << p;
	    t->hand |= 1ULL << p;
	    t->unlinks &= ~(1ULL << p);
	    t->touched = 1;
	}
    }
    json_decref(out);
}

/*
 * op_directory - X2: a new snapshot of persons p1..p6 and deals d1..d4
 * with new access lists; sometimes one names a person crmsync made, with
 * its address (the CRM takes it over) or without (refused whole).
 */
static void op_directory(void)
{
    json_t *snap = json_pack("{s:[],s:[]}", "persons", "deals"), *out = NULL;
    json_t *persons = json_object_get(snap, "persons");
    uint32_t used = 0, emails[8] = {0};
    unsigned access[8] = {0};
    int     inc[8] = {0}, np = 6, reuse = -1, reuse_same = 0, refuse = 0, rc;
    uint64_t dp[4] = {0};
    int     dinc[4], dopen[4];
    unsigned dacc[4];
    char    err[512] = "", pid[8][64];
    int     made[MAXR], nmade = 0;

    for (int r = 0; r < S.nr; r++)
	if (S.r[r].alive && !S.r[r].crm && S.r[r].kind == 'p' && S.r[r].id[0])
	    made[nmade++] = r;
    if (nmade && chance(20)) {
	reuse = made[pick(nmade)];
	reuse_same = chance(50);
    }
    for (int i = 0; i < np; i++) {
	snprintf(pid[i], 64, "p%d", i + 1);
	if (!(inc[i] = chance(85)))
	    continue;
	for (int tries = 0; tries < 40 && (emails[i] == 0 || chance(20)); tries++) {
	    int     a = outside();

	    if (!(used >> a & 1) && !(reuse >= 0 && (S.r[reuse].emails >> a & 1))) {
		used |= 1u << a;
		emails[i] |= 1u << a;
	    }
	}
	if (emails[i] == 0) {
	    inc[i] = 0;			/* every address taken: not in this one */
	    continue;
	}
	for (int u = 0; u < NU; u++)
	    if (chance(50))
		access[i] |= 1u << u;
    }
    if (reuse >= 0) {
	int     i = np++, a;

	snprintf(pid[i], 64, "%s", S.r[reuse].id);
	inc[i] = 1;
	if (reuse_same)
	    emails[i] = S.r[reuse].emails;
	else {
	    for (a = NU; a < NA && ((used | S.r[reuse].emails) >> a & 1); a++)
		;
	    if (a == NA) {
		np--;
		reuse = -1;
	    } else
		emails[i] = 1u << a, refuse = 1;
	}
	for (int u = 0; u < NU; u++)
	    if (chance(50))
		access[i] |= 1u << u;
    }
    for (int i = 0; i < np; i++) {
	json_t *p, *el, *al;

	if (!inc[i])
	    continue;
	p = json_pack("{s:s,s:s,s:[],s:[]}", "id", pid[i], "name", pid[i], "emails", "access");
	el = json_object_get(p, "emails");
	al = json_object_get(p, "access");
	for (int a = 0; a < NA; a++)
	    if (emails[i] >> a & 1)
		json_array_append_new(el, json_string(addr(a)));
	for (int u = 0; u < NU; u++)
	    if (access[i] >> u & 1)
		json_array_append_new(al, json_string(UID[u]));
	json_array_append_new(persons, p);
    }
    for (int d = 0; d < 4; d++) {
	json_t *o, *pl, *al;
	char    did[8];

	dacc[d] = 0;
	dp[d] = 0;
	if (!(dinc[d] = chance(80)))
	    continue;
	dopen[d] = chance(70);
	snprintf(did, sizeof(did), "d%d", d + 1);
	o = json_pack("{s:s,s:s,s:s,s:[],s:[]}", "id", did, "title", did, "status",
		      dopen[d] ? "open" : chance(50) ? "won" : "lost", "persons", "access");
	pl = json_object_get(o, "persons");
	al = json_object_get(o, "access");
	for (int i = 0; i < 6; i++)
	    if (inc[i] && chance(35)) {
		json_array_append_new(pl, json_string(pid[i]));
		dp[d] |= 1ULL << i;		/* snapshot index for now */
	    }
	for (int u = 0; u < NU; u++)
	    if (chance(50)) {
		json_array_append_new(al, json_string(UID[u]));
		dacc[d] |= 1u << u;
	    }
	json_array_append_new(json_object_get(snap, "deals"), o);
    }
    note("directory import%s%s%s", reuse >= 0 ? " naming made person " : "",
	 reuse >= 0 ? S.r[reuse].id : "", reuse >= 0 ? (refuse ? " with another address" :
							 " with its address") : "");
    rc = S.a->directory(S.a->ctx, snap, &out, err, sizeof(err));
    json_decref(snap);
    json_decref(out);
    if (rc != (refuse ? PM_INVAL : PM_OK)) {
	fail("directory import: answered %d (%s), model %s (X2)", rc, err,
	     refuse ? "refused whole: the id of a person crmsync made, without its address"
	     : "accepted");
	return;
    }
    if (refuse)
	return;
    /* Accepted: the model's directory becomes the snapshot. */
    {
	int     ri[8];

	/* X2: persons crmsync made whose address the CRM now has hand
	 * their links (and hand unlinks) over and go. */
	for (int i = 0; i < np; i++) {
	    int     crm;

	    if (!inc[i])
		continue;
	    if ((crm = rec_find('p', pid[i])) < 0) {
		crm = S.nr++;
		memset(&S.r[crm], 0, sizeof(S.r[crm]));
		snprintf(S.r[crm].id, sizeof(S.r[crm].id), "%s", pid[i]);
		S.r[crm].kind = 'p';
	    }
	    ri[i] = crm;
	    for (int m = 0; m < S.nr; m++) {
		pm_rec *mr = &S.r[m];

		if (m == crm || !mr->alive || mr->crm || mr->kind != 'p'
		    || !(mr->emails & emails[i]))
		    continue;
		for (int k = 0; k < S.nt; k++) {
		    pm_thr *t = &S.t[k];

		    if (t->links >> m & 1) {
			/* An existing link to the CRM person stays as it is. */
			if (!(t->links >> crm & 1) && (t->hand >> m & 1))
			    t->hand |= 1ULL << crm;
			t->links = (t->links & ~(1ULL << m)) | 1ULL << crm;
			t->hand &= ~(1ULL << m);
			t->touched = 1;
		    }
		    if (t->unlinks >> m & 1)
			t->unlinks = (t->unlinks & ~(1ULL << m)) | 1ULL << crm;
		}
		mr->alive = 0;
	    }
	}
	/* The CRM's records are the snapshot's, no other. */
	for (int r = 0; r < S.nr; r++)
	    if (S.r[r].crm || S.r[r].kind == 'd')
		S.r[r].alive = 0;
	for (int i = 0; i < np; i++) {
	    pm_rec *r;

	    if (!inc[i])
		continue;
	    r = &S.r[ri[i]];
	    r->alive = 1;
	    r->crm = 1;
	    r->owner = -1;
	    r->emails = emails[i];
	    r->access = access[i];
	    snprintf(r->name, sizeof(r->name), "%.63s", pid[i]);
	}
	for (int d = 0; d < 4; d++) {
	    char    did[8];
	    int     r;

	    if (!dinc[d])
		continue;
	    snprintf(did, sizeof(did), "d%d", d + 1);
	    if ((r = rec_find('d', did)) < 0) {
		r = S.nr++;
		memset(&S.r[r], 0, sizeof(S.r[r]));
		snprintf(S.r[r].id, sizeof(S.r[r].id), "%s", did);
		S.r[r].kind = 'd';
	    }
	    S.r[r].alive = 1;
	    S.r[r].crm = 1;
	    S.r[r].open = dopen[d];
	    S.r[r].access = dacc[d];
	    S.r[r].dpersons = 0;
	    for (int i = 0; i < 6; i++)
		if (dp[d] >> i & 1)
		    S.r[r].dpersons |= 1ULL << ri[i];
	}
	/* Links to records that are gone go with them. */
	{
	    uint64_t alive = 0;

	    for (int r = 0; r < S.nr; r++)
		if (S.r[r].alive)
		    alive |= 1ULL << r;
	    for (int k = 0; k < S.nt; k++) {
		if (S.t[k].links & ~alive)
		    S.t[k].touched = 1;
		S.t[k].links &= alive;
		S.t[k].hand &= alive;
		S.t[k].unlinks &= alive;
	    }
	}
    }
}

/* policy_push - the users in force, as a reload hands them to the store */
static int policy_push(void)
{
    pm_user u[NU];
    size_t  n = 0;

    for (int i = 0; i < NU; i++)
	if (S.cur >> i & 1)
	    u[n++] = (pm_user) {UID[i], UADDR[i], i == 2};
    return S.a->policy(S.a->ctx, u, n);
}

/* op_policy - R3: bob, carol or dave leaves the policy, or comes back */
static void op_policy(void)
{
    int     u = 1 + pick(NU - 1), rc;

    S.cur ^= 1u << u;
    note("policy: %s %s", UID[u], S.cur >> u & 1 ? "comes back" : "leaves");
    if ((rc = policy_push()) != PM_OK)
	fail("policy reload: error %d", rc);
    for (int i = 0; i < S.nt; i++)
	S.t[i].touched = 1;
}

/* one_step - one random operation */
static void one_step(void)
{
    int     k = pick(100);

    if (k < 14)
	op_new_incoming();
    else if (k < 21)
	op_new_outgoing();
    else if (k < 39)
	op_reply();
    else if (k < 45)
	op_merge();
    else if (k < 51)
	op_bcc();
    else if (k < 59)
	op_threads(PM_SHARE);
    else if (k < 65)
	op_threads(PM_PRIVATE);
    else if (k < 68)
	op_threads(PM_DELETE);
    else if (k < 80)
	op_link();
    else if (k < 88)
	op_contact();
    else if (k < 95)
	op_directory();
    else {
	op_policy();
    }
}

/* --- Seeds. --- */

#ifdef HAVE_LIBPQ
/* pg_db - a fresh database beside the one in uri; its URI in out */
static int pg_db(const char *uri, const char *name, int drop_only, char *out, size_t outlen)
{
    PGconn *c = PQconnectdb(uri);
    char    sql[256];
    const char *slash = strrchr(uri, '/');
    int     ok_ = 0;

    if (PQstatus(c) == CONNECTION_OK && slash) {
	PGresult *r;

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	PQclear(PQexec(c, sql));
	if (drop_only)
	    ok_ = 1;
	else {
	    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	    r = PQexec(c, sql);
	    ok_ = PQresultStatus(r) == PGRES_COMMAND_OK;
	    if (!ok_)
		diag("%s: %s", sql, PQerrorMessage(c));
	    PQclear(r);
	    snprintf(out, outlen, "%.*s/%s", (int) (slash - uri), uri, name);
	}
    } else
	diag("postgresql: %s", PQerrorMessage(c));
    PQfinish(c);
    return ok_ ? 0 : -1;
}
#endif

#ifdef PM_HTTP
#define PM_PROGRAM "CRMSYNC_API=api/crmsync-api tests/api/t_privmodel_api"
#else
#define PM_PROGRAM "tests/unit/t_privmodel"
#endif

/* run_seed - one seed from an empty store; 1 when crmsync agreed throughout */
static int run_seed(unsigned long seed, int nops, const char *tmpdir, const char *pg)
{
    char    db[512], err[256], dbname[64];
    int     every = 4;

    memset(&S, 0, sizeof(S));
    S.seed = seed;
    S.rng = seed * 0x2545f4914f6cdd1dULL + 1;
    S.nops = nops;
    S.full = getenv("CS_PRIVMODEL_FULL") && strcmp(getenv("CS_PRIVMODEL_FULL"), "1") == 0;
    S.trace = getenv("CS_PRIVMODEL_TRACE") && strcmp(getenv("CS_PRIVMODEL_TRACE"), "1") == 0;
    S.next_tid = 1;
    S.cur = (1u << NU) - 1;
    snprintf(dbname, sizeof(dbname), "privmodel_%lu_%ld", seed, (long) getpid());
    if (pg) {
#ifdef HAVE_LIBPQ
	if (pg_db(pg, dbname, 0, db, sizeof(db)) < 0)
	    return ok(0, "seed %lu: no fresh PostgreSQL database", seed);
#else
	return ok(0, "seed %lu: PostgreSQL not built", seed);
#endif
    } else
	snprintf(db, sizeof(db), "%s/%s.db", tmpdir, dbname);
#ifdef PM_HTTP
    if ((S.a = pm_http_adapter(db, tmpdir, err, sizeof(err))) == NULL)	/* crmsync-api */
#else
    if ((S.a = pm_store_adapter(db, tmpdir, err, sizeof(err))) == NULL)
#endif
	return ok(0, "seed %lu: store opens: %s", seed, err);
    if (policy_push() != PM_OK)
	fail("policy: error");
    op_directory();
    check_events();
    for (S.op = 1; S.op <= nops && !S.failed; S.op++) {
	one_step();
	if (!S.failed)
	    check_events();
	if (!S.failed && (S.op % every == 0 || S.op == nops))
	    check_all(S.full || S.op == nops);
    }
    S.op--;
    S.a->close(S.a->ctx);
    if (S.failed) {
	diag("seed %lu (%s), op %d: %s", seed, pg ? "postgresql" : "sqlite", S.op, S.why);
	diag("the last operations:");
	for (int i = S.nring > 32 ? S.nring - 32 : 0; i < S.nring; i++)
	    diag("  %s", S.ring[i % 32]);
	diag("replay: CS_PRIVMODEL_SEEDS=%lu CS_PRIVMODEL_OPS=%d CS_PRIVMODEL_TRACE=1 %s", seed,
	     S.op, PM_PROGRAM);
	if (nsummary < 64)
	    snprintf(summary[nsummary++], sizeof(summary[0]), "seed %lu op %d (%s): %.500s",
		     seed, S.op, pg ? "postgresql" : "sqlite", S.why);
    } else {
#ifdef HAVE_LIBPQ
	if (pg)
	    pg_db(pg, dbname, 1, db, sizeof(db));
#endif
	if (!pg) {
	    char    f[600];

	    for (const char *sfx = ""; sfx; sfx = *sfx == 0 ? "-wal" : *sfx == '-' && sfx[1] == 'w' ? "-shm" : NULL) {
		snprintf(f, sizeof(f), "%s%s", db, sfx);
		unlink(f);
	    }
	}
    }
    return ok(!S.failed, "seed %lu on %s: %d operations, %d messages, %d threads, "
	      "%d records, %ld checks agree with the model", seed, pg ? "postgresql" : "sqlite",
	      S.op, S.nm, S.nt, S.nr, S.checks);
}

/* main - the seeds CS_PRIVMODEL_SEEDS names, each CS_PRIVMODEL_OPS long */
int     main(void)
{
    const char *seeds = getenv("CS_PRIVMODEL_SEEDS"), *p;
    const char *ops = getenv("CS_PRIVMODEL_OPS");
    const char *pg = getenv("CS_TEST_DATABASE");
    char    tmpdir[256];
    int     nops = ops && atoi(ops) > 0 ? atoi(ops) : 150;

    cs_message_init();
    if (pg && strncmp(pg, "postgres", 8) != 0)
	pg = NULL;
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_privmodel");
    for (p = seeds && *seeds ? seeds : "1-3"; *p;) {
	char   *end;
	unsigned long a = strtoul(p, &end, 10), b = a;

	if (end == p) {
	    p++;
	    continue;
	}
	p = end;
	if (*p == '-') {
	    b = strtoul(p + 1, &end, 10);
	    p = end;
	}
	for (unsigned long s = a; s <= b; s++)
	    run_seed(s, nops, tmpdir, pg);
    }
    for (int i = 0; i < nsummary; i++)
	fprintf(stderr, "t_privmodel: %s\n", summary[i]);
    tl_rmtree(tmpdir);
    return done_testing();
}
