/*
 * NAME
 *	t_stack 1
 * SUMMARY
 *	thread stacks (lib/cs_thread.c): sizes, the probe, a store opened
 *	on a connection thread
 * DESCRIPTION
 *	After cs_thread_default_stack(CS_CONN_STACK), a thread started with
 *	default attributes (as libmilter starts its connection threads) has
 *	a stack of CS_CONN_STACK, and one started by cs_thread_create() has
 *	CS_THREAD_STACK. The probe (cs_stack_paint, cs_stack_peak) finds a
 *	recursion of a known depth, and measures nothing on a thread that
 *	has not painted its stack. A store that failed to open at start is
 *	opened by the mail that needs it, on a connection thread
 *	(milter/state.c): SQLite creating the schema and the users' update
 *	there stay under a quarter of CS_CONN_STACK, as tests/milter/stack.sh
 *	checks for the mail itself.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_log.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "cs_thread.h"
#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

typedef struct probe {
    size_t  size;			/* the thread's stack */
    size_t  peak;			/* its deepest use */
    int     depth;			/* recurse: frames of 1 KB */
    int     store_ok;			/* store: opened and users set */
    int     painted[2];			/* unpainted: before and after the paint */
    size_t  unpainted;			/* unpainted: the peak before it */
} probe;

/* recurse - n frames of 1 KB each, touched */
static __attribute__((noinline)) int recurse(int n)
{
    volatile char buf[1024];

    memset((char *) buf, n, sizeof(buf));
    if (n <= 1)
	return buf[7];
    return recurse(n - 1) + buf[n % 1024];
}

/* run_recurse - paint, recurse p->depth KB, measure */
static void *run_recurse(void *arg)
{
    probe  *p = arg;

    cs_stack_paint();
    (void) recurse(p->depth);
    p->peak = cs_stack_peak(&p->size);
    return NULL;
}

/* run_store - paint, open and create a store, set its users, measure */
static void *run_store(void *arg)
{
    probe  *p = arg;
    char    path[512], err[1024], text[1024];
    cs_config *cfg;
    cs_policy *pol = NULL;
    cs_store *st;

    cs_stack_paint();
    snprintf(text, sizeof(text), "Database %s/crmsync.db\nSpoolDir %s\nPolicyDir %s/policy\n"
	     "Syslog no\n", tmpdir, tmpdir, tmpdir);
    tl_put(tmpdir, "crmsync.conf", text, strlen(text));
    snprintf(path, sizeof(path), "%s/crmsync.conf", tmpdir);
    if ((cfg = cs_config_load(path, err, sizeof(err))) == NULL
	|| (pol = cs_policy_load(cfg, err, sizeof(err))) == NULL) {
	diag("config or policy: %s", err);
    } else if ((st = cs_store_open(cfg->database, CS_STORE_WRITER | CS_STORE_CREATE, 5000,
				   err, sizeof(err))) == NULL) {
	diag("store: %s", err);
    } else {
	const cs_user *users[3];
	size_t  n = cs_policy_nusers(pol);

	for (size_t i = 0; i < n && i < 3; i++)
	    users[i] = cs_policy_user_at(pol, i);
	p->store_ok = n == 3 && cs_store_sync_users2(st, users, n) == CS_OK;
	cs_store_close(st);
    }
    if (pol)
	cs_policy_unref(pol);
    cs_config_unref(cfg);
    p->peak = cs_stack_peak(&p->size);
    return NULL;
}

/* run_unpainted - recurse and measure without painting; then paint, measure */
static void *run_unpainted(void *arg)
{
    probe  *p = arg;

    p->painted[0] = cs_stack_painted();
    (void) recurse(8);
    p->unpainted = cs_stack_peak(&p->size);
    cs_stack_paint();
    p->painted[1] = cs_stack_painted();
    p->peak = cs_stack_peak(&p->size);
    return NULL;
}

/* on_thread - run fn on a thread of default attributes, or with cs_thread_create */
static int on_thread(void *(*fn) (void *), probe *p, int own)
{
    pthread_t tid;

    if ((own ? cs_thread_create(&tid, fn, p) : pthread_create(&tid, NULL, fn, p)) != 0)
	return -1;
    return pthread_join(tid, NULL);
}

int     main(void)
{
    static const char users[] = "User a\nAddress a@example.com\n\nUser b\n"
	"Address b@example.com\n\nUser c\nAddress c@example.com\n";
    static const struct sized {
	const char *name;
	int     own;			/* cs_thread_create, not default attributes */
	int     depth;			/* KB of recursion */
	size_t  size;			/* the stack it must have */
	const char *what;
    }       cases[] = {
	{"default attributes (a connection thread)", 0, 100, CS_CONN_STACK,
	"its stack is CS_CONN_STACK"},
	{"cs_thread_create (crmsync's own)", 1, 10, CS_THREAD_STACK,
	"its stack is CS_THREAD_STACK"},
    };
    probe   p;
    char    policy[512];

    cs_log_init("t_stack", 0, 0, CS_LOG_ERROR);
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_stack");
    snprintf(policy, sizeof(policy), "%s/policy", tmpdir);
    (void) mkdir(policy, 0700);
    tl_put(policy, "users.policy", users, strlen(users));

    is_int(cs_thread_default_stack(CS_CONN_STACK), 0, "default stack set");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	const struct sized *c = &cases[i];

	memset(&p, 0, sizeof(p));
	p.depth = c->depth;
	ok(on_thread(run_recurse, &p, c->own) == 0, "%s: started", c->name);
	is_int(p.size, c->size, c->what);
	ok(p.peak >= (size_t) c->depth * 1024 && p.peak < (size_t) (c->depth + 64) * 1024,
	   "%s: the probe finds a %d KB recursion: %zu bytes", c->name, c->depth, p.peak);
    }

    /*
     * A thread that has not painted measures nothing: libmilter's worker
     * pool runs a connection's close on whatever thread is free, and a
     * fresh one's stack (no pattern) used to read as wholly used.
     */
    memset(&p, 0, sizeof(p));
    ok(on_thread(run_unpainted, &p, 0) == 0, "unpainted: started");
    ok(!p.painted[0] && p.painted[1], "unpainted: cs_stack_painted says no, then yes");
    is_int((long) p.unpainted, 0, "unpainted: the probe measures nothing (not the whole stack)");
    ok(p.peak > 0 && p.peak < 64 * 1024, "painted afterwards: %zu bytes", p.peak);

    memset(&p, 0, sizeof(p));
    ok(on_thread(run_store, &p, 0) == 0 && p.store_ok,
       "a store created and its users set on a connection-sized thread");
    ok(p.peak > 0 && p.peak < CS_CONN_STACK / 4, "it used %zu bytes (%.1f KB), under a quarter"
       " of CS_CONN_STACK", p.peak, p.peak / 1024.0);

    tl_rmtree(tmpdir);
    return done_testing();
}
