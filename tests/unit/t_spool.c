/*
 * NAME
 *	t_spool 1
 * SUMMARY
 *	the spool's memory: threshold, floor, the shared budget (SpoolMemory)
 * DESCRIPTION
 *	A spool keeps its first 64K in memory, more up to its threshold while
 *	the process-wide budget can spare it, and the rest in a file; its
 *	bytes and digest are the same whichever way they were kept. The
 *	budget is never overdrawn, even by threads racing for it, and comes
 *	back whole when the spools are freed, but for the freed buffers kept
 *	for reuse: they stay reserved, a larger message takes one (its
 *	bytes moved over), a small one never does, and they are dropped
 *	when a spool needs their budget or the budget is set again.
 */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cs_digest.h"
#include "cs_spool.h"
#include "tap.h"

#define K	1024

static char pattern[4 * K * K];

/* fill - a spool of n bytes of the pattern, written in chunks of step */
static cs_spool *fill(size_t threshold, size_t n, size_t step)
{
    cs_spool *s = cs_spool_new("/tmp", threshold, 64 * K * K);

    for (size_t off = 0; s && off < n; off += step)
	if (cs_spool_write(s, pattern + off, n - off < step ? n - off : step) < 0) {
	    cs_spool_unref(s);
	    return NULL;
	}
    return s;
}

/* junk - a spool of n bytes of 'Z' (to be freed: its buffer may be kept) */
static cs_spool *junk(size_t threshold, size_t n)
{
    static char z[64 * K];
    cs_spool *s = cs_spool_new("/tmp", threshold, 64 * K * K);

    memset(z, 'Z', sizeof(z));
    for (size_t off = 0; s && off < n; off += sizeof(z))
	(void) cs_spool_write(s, z, n - off < sizeof(z) ? n - off : sizeof(z));
    return s;
}

/* live - bytes reserved by spools not yet freed */
static size_t live(void)
{
    return cs_spool_memory_used() - cs_spool_memory_kept();
}

/* same_bytes - the spool reads back as the pattern, in odd-sized pieces,
 * and its running digest is the digest of those bytes */
static int same_bytes(const cs_spool *s, size_t n)
{
    static char buf[4 * K * K];
    char    want[CS_DIGEST_HEX], got[CS_DIGEST_HEX];
    size_t  off = 0;
    ssize_t r;

    while ((r = cs_spool_pread(s, buf + off, 77777, off)) > 0)
	off += (size_t) r;
    cs_sha256_hex(pattern, n, want);
    return r == 0 && off == n && memcmp(buf, pattern, n) == 0
	&& cs_spool_sha256(s, got) == 0 && strcmp(got, want) == 0;
}

/* in_memory - are all the kept bytes in memory? */
static int in_memory(const cs_spool *s)
{
    uint64_t len;

    return cs_spool_contiguous(s, &len) != NULL && len == cs_spool_kept(s);
}

static void *racer(void *arg)
{
    int     bad = 0;

    (void) arg;
    for (int i = 0; i < 200; i++) {
	cs_spool *s = fill(1 * K * K, 300 * K, 8 * K);

	if (s == NULL || !same_bytes(s, 300 * K))
	    bad++;
	/* 8 threads of 236K beyond the floor each against 1M: never over. */
	if (cs_spool_memory_used() > 1 * K * K)
	    bad++;
	cs_spool_unref(s);
    }
    return (void *) (long) bad;
}

int     main(void)
{
    cs_spool *a, *b;
    pthread_t t[8];
    long    bad = 0;

    for (size_t i = 0; i < sizeof(pattern); i++)
	pattern[i] = (char) ('a' + (i * 7 + i / 4093) % 26);

    /* No budget: 64K in memory, the rest in the file, below the threshold. */
    cs_spool_set_memory(0);
    a = fill(2 * K * K, 200 * K, 8 * K);
    ok(a && !in_memory(a), "no budget: 200K with a 2M threshold spills past its 64K");
    ok(a && same_bytes(a, 200 * K), "no budget: bytes and digest across memory and file");
    is_int(cs_spool_memory_used(), 0, "no budget: nothing reserved");
    cs_spool_unref(a);
    a = fill(2 * K * K, 64 * K, 64 * K);
    ok(a && in_memory(a), "no budget: 64K stays in memory");
    cs_spool_unref(a);

    /* A budget: the whole message in memory, reserved, given back. */
    cs_spool_set_memory(1 * K * K);
    a = fill(2 * K * K, 1000 * K, 64 * K);
    ok(a && in_memory(a), "budget: 1000K in memory");
    ok(a && same_bytes(a, 1000 * K), "budget: bytes and digest");
    ok(cs_spool_memory_used() >= 1000 * K - 64 * K && cs_spool_memory_used() <= 1 * K * K,
       "budget: reserved beyond the floor (%zu)", cs_spool_memory_used());

    /* The budget used up: the next spool spills, still correct. */
    b = fill(2 * K * K, 500 * K, 8 * K);
    ok(b && !in_memory(b), "budget used up: the next message spills");
    ok(b && same_bytes(b, 500 * K), "budget used up: bytes and digest");
    ok(cs_spool_memory_used() <= 1 * K * K, "budget never overdrawn");
    cs_spool_unref(a);
    cs_spool_unref(b);
    is_int(live(), 0, "budget given back when freed");
    ok(cs_spool_memory_kept() > 0 && cs_spool_memory_used() <= 1 * K * K,
       "freed buffers kept, within the budget (%zu)", cs_spool_memory_kept());

    /* Kept buffers: reused by large messages only, bytes moved over. */
    cs_spool_set_memory(16 * K * K);
    is_int(cs_spool_memory_used(), 0, "setting the budget drops kept buffers");
    a = junk(2 * K * K, 1000 * K);
    cs_spool_unref(a);
    {
	size_t  k = cs_spool_memory_kept();

	ok(k >= 1000 * K, "a freed 1000K spool's buffer is kept (%zu)", k);
	a = fill(2 * K * K, 4 * K, 4 * K);
	is_int(cs_spool_memory_kept(), k, "a 4K message does not take it");
	cs_spool_unref(a);
	a = fill(2 * K * K, 900 * K, 8 * K);
	is_int(cs_spool_memory_kept(), 0, "a 900K message takes it");
	ok(a && in_memory(a) && same_bytes(a, 900 * K),
	   "in a kept buffer: bytes (the first 64K moved over) and digest");
	cs_spool_unref(a);
	is_int(live(), 0, "kept buffer given back to the cache");
	is_int(cs_spool_memory_kept(), k, "and kept again");
    }
    /* Two kept buffers take most of a 1M budget: a 1000K message drops
     * what it needs instead of spilling. */
    cs_spool_set_memory(1 * K * K);
    a = junk(2 * K * K, 400 * K);
    b = junk(2 * K * K, 400 * K);
    cs_spool_unref(a);
    cs_spool_unref(b);
    ok(cs_spool_memory_kept() >= 800 * K, "two 400K buffers kept (%zu)", cs_spool_memory_kept());
    a = fill(2 * K * K, 1000 * K, 64 * K);
    ok(a && in_memory(a) && same_bytes(a, 1000 * K),
       "kept buffers dropped for a message that needs the budget");
    ok(cs_spool_memory_used() <= 1 * K * K, "budget never overdrawn with kept buffers");
    cs_spool_unref(a);
    is_int(live(), 0, "given back");

    /* The threshold caps memory whatever the budget. */
    cs_spool_set_memory(16 * K * K);
    a = fill(128 * K, 300 * K, 8 * K);
    ok(a && !in_memory(a), "threshold: 300K with a 128K threshold spills");
    ok(a && same_bytes(a, 300 * K), "threshold: bytes and digest");
    ok(cs_spool_memory_used() <= 128 * K - 64 * K, "threshold: at most threshold - floor reserved");
    cs_spool_unref(a);
    a = fill(8, 20, 3);
    ok(a && !in_memory(a) && same_bytes(a, 20), "threshold below the floor: 8 bytes, then the file");
    cs_spool_unref(a);

    /* One large write, and a message that grows by steps, in memory. */
    a = fill(4 * K * K, 3 * K * K, 3 * K * K);
    ok(a && in_memory(a) && same_bytes(a, 3 * K * K), "one 3M write in memory");
    cs_spool_unref(a);
    a = fill(4 * K * K, 3 * K * K, 1000);
    ok(a && in_memory(a) && same_bytes(a, 3 * K * K), "3M in 1000-byte writes in memory");
    cs_spool_unref(a);
    is_int(live(), 0, "all given back");

    /* Threads racing for a budget smaller than their sum. */
    cs_spool_set_memory(1 * K * K);
    for (int i = 0; i < 8; i++)
	pthread_create(&t[i], NULL, racer, NULL);
    for (int i = 0; i < 8; i++) {
	void   *r;

	pthread_join(t[i], &r);
	bad += (long) r;
    }
    is_int(bad, 0, "8 threads: bytes right, budget never overdrawn");
    is_int(live(), 0, "8 threads: budget given back");
    ok(cs_spool_memory_used() <= 1 * K * K, "8 threads: kept buffers within the budget");
    cs_spool_set_memory(0);
    is_int(cs_spool_memory_used(), 0, "no budget: nothing kept");
    return done_testing();
}
