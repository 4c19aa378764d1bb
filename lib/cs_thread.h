/*
 * NAME
 *	cs_thread 3h
 * SUMMARY
 *	thread stacks: libmilter's connection threads and crmsync's own
 * DESCRIPTION
 *	See cs_thread.c for the sizes and the measurement behind them.
 */
#ifndef CS_THREAD_H
#define CS_THREAD_H

#include <pthread.h>
#include <stddef.h>

/* A sanitizer build's frames are larger (redzones): its stacks too. */
#if defined(__SANITIZE_ADDRESS__)
#define CS_THREAD_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_THREAD_ASAN	1
#endif
#endif

/*
 * CS_CONN_STACK - the stack of each libmilter connection thread (the
 * xxfi_* callbacks). The measurement behind it is in cs_thread.c; the
 * test that keeps it true is tests/milter/stack.sh.
 */
#ifdef CS_THREAD_ASAN
#define CS_CONN_STACK	(2 * 1024 * 1024)
#else
#define CS_CONN_STACK	(1024 * 1024)
#endif

/* CS_THREAD_STACK - crmsync's own threads (SQLite, libcurl, GMime, Sieve
 * compiles): as much as a thread gets with the usual "ulimit -s". */
#define CS_THREAD_STACK	(8 * 1024 * 1024)

extern int cs_thread_create(pthread_t *, void *(*) (void *), void *);
extern int cs_thread_default_stack(size_t);

/* Test and debug builds: how deep this thread's stack has gone. */
extern void cs_stack_paint(void);
extern size_t cs_stack_peak(size_t *);
extern int cs_stack_painted(void);

#endif
