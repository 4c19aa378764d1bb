/*
 * NAME
 *	cs_thread 3
 * SUMMARY
 *	thread stacks: libmilter's connection threads and crmsync's own
 * SYNOPSIS
 *	#include "cs_thread.h"
 *
 *	int	cs_thread_create(pthread_t *tid, void *(*fn)(void *), void *arg)
 *
 *	int	cs_thread_default_stack(size_t size)
 *
 *	void	cs_stack_paint(void)
 *
 *	size_t	cs_stack_peak(size_t *size)
 *
 *	int	cs_stack_painted(void)
 * DESCRIPTION
 *	libmilter runs SMTP connections on threads it starts with default
 *	attributes (Debian's build: a pool of workers, one started whenever
 *	none is idle, one ending when more than two exist and more than one
 *	is idle; one connection's commands may run on several of them), so
 *	each got the stack "ulimit -s" gives (8 MB): glibc keeps only 40 MB
 *	of stacks for reuse, so with more than five sessions at a time most
 *	connection threads mapped, guarded and unmapped their stack
 *	(tests/bench/HISTORY.md: 1 MB stacks took about 6 % off the
 *	milter's CPU at 20 sessions). crmsync-milter sets the
 *	default before smfi_main (cs_thread_default_stack(CS_CONN_STACK)),
 *	so every thread started with default attributes after that gets
 *	CS_CONN_STACK whatever "ulimit -s" says: libmilter's connection and
 *	signal threads, and a libcurl resolver thread (getaddrinfo).
 *
 *	What a connection thread runs: the callbacks of milter/mlfi.c and
 *	end of message (milter/capture.c): header parsing with GMime
 *	(addresses, RFC 2047 words, iconv modules loaded on first use),
 *	owners, each owner's Sieve script (regcomp and regexec on
 *	expanded keys), the journal's file writes, waiting for the store's
 *	writer; and, while a store that failed to open is retried, that open
 *	(SQLite's schema, or libpq's connect) and the users' update.
 *	SQLite statements of recorded mail run on the writer thread.
 *
 *	Measured 2026-12-07 (tests/milter/stack.sh: crmsync-milter built
 *	with CS_STACK_PROBE, fed 1,475 connections: nested groups, comments
 *	and brackets 20,000 deep, 64 KB folded headers, RFC 2047 words in
 *	15 charsets, 3,000 headers, 1,000 recipients, 200 owners whose Rules
 *	are the deepest Sieve scripts the policy takes, the fuzz corpora and
 *	a third of the SpamAssassin ham): the deepest connection used 35.2
 *	KB with gcc -O2 (x86-64), 58.3 KB with clang -O1 under ASan and
 *	UBSan. Most of it is glibc's regexec for a Sieve :regex (its DFA
 *	tables on the stack, which glibc keeps under a quarter of the
 *	stack); creating a store's schema took 21 KB (tests/unit/t_stack).
 *	Before cs_message.c bounded the colons it gives GMime, a To of
 *	nested groups took 208 bytes a level without limit (6 MB for 64 KB).
 *	CS_CONN_STACK is 1 MB, 28 times the peak; the test fails when a
 *	connection passes a quarter of it, so a deep recursion added to the
 *	mail path fails CI rather than ending a production milter. Under
 *	ASan (frames with redzones) it is 2 MB.
 *
 *	cs_thread_create() starts one of crmsync's own threads (the store's
 *	writer and checkpoint threads, the journal's replay and status
 *	threads, the event sender, retention, the status flush, reload)
 *	with an explicit CS_THREAD_STACK, so the default above never
 *	applies to them: SQLite, libcurl, GMime and policy loading keep the
 *	depth they always had.
 *
 *	cs_stack_paint() and cs_stack_peak() are for tests and debug builds:
 *	the first fills the unused part of the calling thread's stack with a
 *	pattern, the second says how many bytes from the top of the stack
 *	were used at most since (the deepest word no longer holding the
 *	pattern), and the stack's size in *size; cs_stack_painted() says
 *	whether this thread has painted its stack. A thread that has not
 *	(or whose paint failed) measures nothing: its stack holds no
 *	pattern, and its lowest word would read as "all of it used". Not
 *	for the main thread.
 * DIAGNOSTICS
 *	cs_thread_create() and cs_thread_default_stack() return 0 or an
 *	errno value, as pthread_create() does. cs_stack_peak() returns 0
 *	when the stack cannot be found or this thread has not painted it.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdint.h>

/* Application-specific. */
#include "cs_thread.h"

/* cs_thread_create - one of crmsync's own threads, CS_THREAD_STACK deep */
int     cs_thread_create(pthread_t *tid, void *(*fn) (void *), void *arg)
{
    pthread_attr_t attr;
    int     rc;

    if ((rc = pthread_attr_init(&attr)) != 0)
	return rc;
    if ((rc = pthread_attr_setstacksize(&attr, CS_THREAD_STACK)) == 0)
	rc = pthread_create(tid, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

/* cs_thread_default_stack - the stack of threads started with default attributes */
int     cs_thread_default_stack(size_t size)
{
    pthread_attr_t attr;
    int     rc;

    if ((rc = pthread_getattr_default_np(&attr)) != 0)
	return rc;
    if ((rc = pthread_attr_setstacksize(&attr, size)) == 0)
	rc = pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
    return rc;
}

/*
 * The probe reads and writes below the live frames: no sanitizer may
 * check those words (ASan's shadow may still mark an old frame's
 * redzones), and plain loops, not memset, which ASan intercepts.
 */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define CS_NO_ASAN	__attribute__((no_sanitize("address"), noinline))
#else
#define CS_NO_ASAN	__attribute__((noinline))
#endif

#define CS_STACK_PATTERN	((uintptr_t) 0xa5c3a5c3a5c3a5c3ULL)
#define CS_STACK_MARGIN		1024	/* below this frame: left alone */

static _Thread_local uintptr_t painted_lo;	/* this thread's paint: its stack */

/* stack_range - this thread's stack: lowest address and size; -1 if unknown */
static int stack_range(uintptr_t *lo, size_t *size)
{
    pthread_attr_t attr;
    void   *addr;
    int     rc;

    if (pthread_getattr_np(pthread_self(), &attr) != 0)
	return -1;
    rc = pthread_attr_getstack(&attr, &addr, size);
    pthread_attr_destroy(&attr);
    if (rc != 0)
	return -1;
    *lo = (uintptr_t) addr;
    return 0;
}

/* cs_stack_paint - fill the unused part of this thread's stack with a pattern */
CS_NO_ASAN void cs_stack_paint(void)
{
    uintptr_t lo, here = (uintptr_t) __builtin_frame_address(0);
    size_t  size;
    volatile uintptr_t *w;

    if (stack_range(&lo, &size) < 0 || here < lo + CS_STACK_MARGIN || here > lo + size)
	return;
    lo = (lo + sizeof(*w) - 1) & ~(uintptr_t) (sizeof(*w) - 1);
    for (w = (volatile uintptr_t *) lo; (uintptr_t) (w + 1) <= here - CS_STACK_MARGIN; w++)
	*w = CS_STACK_PATTERN;
    painted_lo = lo;
}

/* cs_stack_painted - has this thread painted its stack? */
int     cs_stack_painted(void)
{
    return painted_lo != 0;
}

/* cs_stack_peak - the most of this thread's stack used since the paint */
CS_NO_ASAN size_t cs_stack_peak(size_t *size)
{
    uintptr_t lo, top;
    volatile uintptr_t *w;

    *size = 0;
    if (stack_range(&lo, size) < 0)
	return 0;
    top = lo + *size;
    lo = (lo + sizeof(*w) - 1) & ~(uintptr_t) (sizeof(*w) - 1);
    if (lo != painted_lo)
	return 0;				/* not painted by this thread */
    for (w = (volatile uintptr_t *) lo; (uintptr_t) (w + 1) <= top; w++)
	if (*w != CS_STACK_PATTERN)
	    break;
    return (size_t) (top - (uintptr_t) w);
}
