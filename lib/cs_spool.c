/*
 * NAME
 *	cs_spool 3
 * SUMMARY
 *	message bytes in memory up to a threshold, then in an unlinked file
 * DESCRIPTION
 *	See cs_spool.h. The file is created with O_TMPFILE where the file
 *	system has it, else mkstemp+unlink, so nothing is left behind by a
 *	crash and no other process can open it by name.
 *
 *	Memory: a spool holds up to threshold bytes in memory, the rest in
 *	its file. Its first 64 KB (less when the threshold is lower) are its
 *	own; beyond them it grows only with bytes reserved from the
 *	process-wide budget (cs_spool_set_memory), returned when it is freed.
 *	A spool that cannot reserve spills the rest to its file even below
 *	the threshold; once it has a file it never grows in memory again, so
 *	its bytes are the memory part and then the file, in order. A file
 *	costs an open, a write, a read back and a close that frees its
 *	blocks: at 1 MB about 1 ms of CPU per message more than memory
 *	(README, Performance).
 *
 *	Freed memory beyond the floor is kept for the next spool that
 *	grows, up to SPOOL_CACHE buffers, all their bytes still reserved
 *	from the budget: a large message then writes into pages already
 *	mapped instead of paying a page fault per 4 KB, the reallocations
 *	on the way and the munmap at the end. A spool that cannot reserve
 *	what it needs drops kept buffers first, so keeping never makes a
 *	message spill; cs_spool_set_memory() drops them all.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <openssl/evp.h>

/* Application-specific. */
#include "cs_digest.h"
#include "cs_spool.h"

struct cs_spool {
    atomic_int refs;
    char   *dir;
    size_t  threshold;
    uint64_t limit;
    char   *mem;			/* the first bytes */
    size_t  memlen;
    size_t  cap;			/* bytes allocated at mem */
    size_t  extra;			/* of cap, reserved from the budget */
    int     fd;				/* the rest, -1 until needed */
    uint64_t kept;
    uint64_t total;
    EVP_MD_CTX *md;			/* SHA-256 of the kept bytes; NULL:
					 * none (failed), read back instead */
};

#define SPOOL_STEP	65536		/* memory grows in these units */
#define SPOOL_FLOOR	65536		/* a spool's own, without the budget */

static atomic_size_t budget_max;	/* SpoolMemory: bytes all spools may
					 * hold beyond their floors */
static atomic_size_t budget_used;	/* of it, reserved now */

#define SPOOL_CACHE	8		/* freed buffers kept for reuse */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char   *mem;
    size_t  cap;			/* all of it reserved from the budget */
} cache[SPOOL_CACHE];
static size_t cache_n;			/* under cache_lock */
static atomic_size_t cache_bytes;	/* the kept buffers' caps */

/*
 * cache_take - take a kept buffer out: the largest, or the smallest of
 * min to max bytes; NULL when none. Its bytes stay reserved: the caller's.
 */
static char *cache_take(size_t min, size_t max, int largest, size_t *cap)
{
    char   *mem = NULL;
    size_t  i, pick = SPOOL_CACHE;

    pthread_mutex_lock(&cache_lock);
    for (i = 0; i < cache_n; i++)
	if (cache[i].cap >= min && cache[i].cap <= max
	    && (pick == SPOOL_CACHE || (largest ? cache[i].cap > cache[pick].cap
					: cache[i].cap < cache[pick].cap)))
	    pick = i;
    if (pick < SPOOL_CACHE) {
	mem = cache[pick].mem;
	*cap = cache[pick].cap;
	cache[pick] = cache[--cache_n];
	atomic_fetch_sub(&cache_bytes, *cap);
    }
    pthread_mutex_unlock(&cache_lock);
    return mem;
}

/* cache_drop_one - free the largest kept buffer; 0 when none is kept */
static int cache_drop_one(void)
{
    size_t  cap;
    char   *mem = cache_take(0, SIZE_MAX, 1, &cap);

    if (mem == NULL)
	return 0;
    free(mem);
    atomic_fetch_sub(&budget_used, cap);
    return 1;
}

/* cs_spool_set_memory - the process-wide budget beyond the floors */
void    cs_spool_set_memory(uint64_t bytes)
{
    atomic_store(&budget_max, bytes > SIZE_MAX ? SIZE_MAX : (size_t) bytes);
    while (cache_drop_one())
	 /* void */ ;
}

/* cs_spool_memory_used - bytes reserved from the budget now, kept buffers too */
size_t  cs_spool_memory_used(void)
{
    return atomic_load(&budget_used);
}

/* cs_spool_memory_kept - of them, in freed buffers kept for reuse */
size_t  cs_spool_memory_kept(void)
{
    return atomic_load(&cache_bytes);
}

/* budget_take - reserve n bytes; 0 when the budget cannot spare them */
static int budget_take(size_t n)
{
    size_t  used = atomic_load(&budget_used);

    do {
	if (n > atomic_load(&budget_max) || used > atomic_load(&budget_max) - n)
	    return 0;
    } while (!atomic_compare_exchange_weak(&budget_used, &used, used + n));
    return 1;
}

/* floor_of - bytes a spool holds without the budget */
static size_t floor_of(const cs_spool *s)
{
    return s->threshold < SPOOL_FLOOR ? s->threshold : SPOOL_FLOOR;
}

/* reserve - hold the budget that cap bytes need beyond the floor */
static int reserve(cs_spool *s, size_t cap)
{
    size_t  extra = cap > floor_of(s) ? cap - floor_of(s) : 0;

    if (extra > s->extra) {
	while (!budget_take(extra - s->extra))
	    if (!cache_drop_one())
		return 0;
    } else if (extra < s->extra) {
	atomic_fetch_sub(&budget_used, s->extra - extra);
    }
    s->extra = extra;
    return 1;
}

/* room - need rounded up to a step, at least the floor, at most the threshold */
static size_t room(const cs_spool *s, size_t need)
{
    size_t  r = need > SIZE_MAX - SPOOL_STEP ? need
    : (need + SPOOL_STEP - 1) / SPOOL_STEP * SPOOL_STEP;

    if (r < floor_of(s))
	r = floor_of(s);
    return r < s->threshold ? r : s->threshold;
}

/*
 * take_kept - a kept buffer of at least need bytes (the smallest), the
 * spool's bytes moved into it; 0 when none fits. Only for need beyond
 * the floor: a small message never takes a large buffer.
 */
static int take_kept(cs_spool *s, size_t need)
{
    size_t  cap;
    char   *mem = cache_take(need, s->threshold, 0, &cap);

    if (mem == NULL)
	return 0;
    if (s->memlen > 0)
	memcpy(mem, s->mem, s->memlen);
    free(s->mem);
    /* All cap was reserved; the spool keeps cap - floor of it. */
    atomic_fetch_sub(&budget_used, floor_of(s) + s->extra);
    s->extra = cap - floor_of(s);
    s->mem = mem;
    s->cap = cap;
    return 1;
}

/* keep - offer a freed spool's memory for reuse; 1 when kept */
static int keep(cs_spool *s)
{
    size_t  more;

    if (s->mem == NULL || s->cap <= floor_of(s))
	return 0;
    more = s->cap - s->extra;			/* the floor: not reserved yet */
    if (!budget_take(more))
	return 0;
    pthread_mutex_lock(&cache_lock);
    if (cache_n == SPOOL_CACHE) {
	pthread_mutex_unlock(&cache_lock);
	atomic_fetch_sub(&budget_used, more);
	return 0;
    }
    cache[cache_n].mem = s->mem;
    cache[cache_n++].cap = s->cap;
    atomic_fetch_add(&cache_bytes, s->cap);
    pthread_mutex_unlock(&cache_lock);
    s->mem = NULL;
    s->extra = 0;
    return 1;
}

/*
 * grow - room in memory for need bytes (at most the threshold): by half
 * again, or just need when the budget cannot spare that. Returns 0 when
 * need fits, -1 when it does not (the caller spills).
 */
static int grow(cs_spool *s, size_t need)
{
    size_t  want;
    char   *m;

    if (need <= s->cap)
	return 0;
    if (need > s->threshold)
	return -1;
    if (need > floor_of(s) && take_kept(s, need))
	return 0;
    want = room(s, s->cap + s->cap / 2 > need ? s->cap + s->cap / 2 : need);
    if (!reserve(s, want) && !reserve(s, want = room(s, need)))
	return -1;
    if ((m = realloc(s->mem, want)) == NULL) {
	reserve(s, s->cap);			/* gives back what want took */
	return -1;
    }
    s->mem = m;
    s->cap = want;
    return 0;
}

/* cs_spool_new - empty spool */
cs_spool *cs_spool_new(const char *dir, size_t threshold, uint64_t limit)
{
    cs_spool *s;

    if ((s = calloc(1, sizeof(*s))) == NULL)
	return NULL;
    atomic_init(&s->refs, 1);
    s->fd = -1;
    s->threshold = threshold;
    s->limit = limit;
    if (dir && (s->dir = strdup(dir)) == NULL) {
	free(s);
	return NULL;
    }
    /* Without a digest the store reads the bytes back: slower, still right. */
    if ((s->md = EVP_MD_CTX_new()) != NULL
	&& EVP_DigestInit_ex(s->md, cs_sha256_md(), NULL) != 1) {
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
    }
    return s;
}

/* digest - add kept bytes to the running digest, dropping it on failure */
static void digest(cs_spool *s, const void *p, size_t len)
{
    if (s->md != NULL && len > 0 && EVP_DigestUpdate(s->md, p, len) != 1) {
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
    }
}

/* open_file - anonymous file in the spool directory */
static int open_file(cs_spool *s)
{
    const char *dir = s->dir ? s->dir : "/tmp";
    char    path[4096];
    int     fd;

#ifdef O_TMPFILE
    if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
	return fd;
#endif
    if (snprintf(path, sizeof(path), "%s/crmsync.XXXXXX", dir) >= (int) sizeof(path))
	return -1;
    if ((fd = mkstemp(path)) < 0)
	return -1;
    unlink(path);
    return fd;
}

/* write_all - write, retrying short writes */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
	ssize_t n = write(fd, p, len);

	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    return -1;
	}
	p += n;
	len -= (size_t) n;
    }
    return 0;
}

/* cs_spool_write - append, keeping at most limit bytes */
int     cs_spool_write(cs_spool *s, const void *data, size_t len)
{
    const char *p = data;
    size_t  keep;

    s->total += len;
    if (s->kept >= s->limit)
	return 0;
    keep = (uint64_t) len > s->limit - s->kept ? (size_t) (s->limit - s->kept) : len;
    /* Memory while there is no file, up to the threshold. */
    if (s->fd < 0 && keep > 0) {
	size_t  n;

	/* Not all of it: the threshold if the budget allows, else the floor. */
	if ((keep > s->threshold - s->memlen || grow(s, s->memlen + keep) < 0)
	    && grow(s, s->threshold) < 0)
	    (void) grow(s, floor_of(s));
	if ((n = keep < s->cap - s->memlen ? keep : s->cap - s->memlen) > 0)
	    memcpy(s->mem + s->memlen, p, n);
	digest(s, p, n);
	s->memlen += n;
	s->kept += n;
	p += n;
	keep -= n;
    }
    if (keep > 0) {
	if (s->fd < 0 && (s->fd = open_file(s)) < 0)
	    return -1;
	/* A failed write leaves the file unlike the digest: drop it. */
	if (write_all(s->fd, p, keep) < 0) {
	    EVP_MD_CTX_free(s->md);
	    s->md = NULL;
	    return -1;
	}
	digest(s, p, keep);
	s->kept += keep;
    }
    return 0;
}

/* cs_spool_sha256 - hex SHA-256 of the kept bytes, without reading them */
int     cs_spool_sha256(const cs_spool *s, char hex[65])
{
    EVP_MD_CTX *c;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int     ok;

    if (s->md == NULL || (c = EVP_MD_CTX_new()) == NULL)
	return -1;
    /* A copy: the spool's own digest goes on if more is written. */
    ok = EVP_MD_CTX_copy_ex(c, s->md) == 1 && EVP_DigestFinal_ex(c, md, &mdlen) == 1
	&& mdlen == 32;
    EVP_MD_CTX_free(c);
    if (!ok)
	return -1;
    cs_hex(md, mdlen, hex);
    return 0;
}

/* cs_spool_kept - bytes kept */
uint64_t cs_spool_kept(const cs_spool *s)
{
    return s->kept;
}

/* cs_spool_total - bytes offered */
uint64_t cs_spool_total(const cs_spool *s)
{
    return s->total;
}

/* cs_spool_truncated - were bytes dropped? */
int     cs_spool_truncated(const cs_spool *s)
{
    return s->total > s->kept;
}

/* cs_spool_pread - read kept bytes at an offset */
ssize_t cs_spool_pread(const cs_spool *s, void *buf, size_t len, uint64_t off)
{
    char   *out = buf;
    size_t  done = 0;

    if (off >= s->kept || len == 0)
	return 0;
    if (len > s->kept - off)
	len = (size_t) (s->kept - off);
    if (off < s->memlen) {
	size_t  n = len < s->memlen - off ? len : (size_t) (s->memlen - off);

	memcpy(out, s->mem + off, n);
	done = n;
	off += n;
    }
    while (done < len) {
	ssize_t n = pread(s->fd, out + done, len - done, (off_t) (off - s->memlen));

	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    return -1;
	}
	if (n == 0)
	    break;
	done += (size_t) n;
	off += (uint64_t) n;
    }
    return (ssize_t) done;
}

/* cs_spool_no_digest - the caller addresses the bytes itself: no running digest */
void    cs_spool_no_digest(cs_spool *s)
{
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

/* cs_spool_contiguous - the kept bytes when all are in memory, else NULL */
const void *cs_spool_contiguous(const cs_spool *s, uint64_t *len)
{
    if (s->fd >= 0 || s->memlen != s->kept)
	return NULL;
    *len = s->kept;
    return s->mem ? s->mem : "";
}

/* cs_spool_ref - another owner */
cs_spool *cs_spool_ref(cs_spool *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

/* cs_spool_unref - release; the last one closes the file */
void    cs_spool_unref(cs_spool *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
	return;
    if (s->fd >= 0)
	close(s->fd);
    if (!keep(s))
	reserve(s, 0);
    EVP_MD_CTX_free(s->md);
    free(s->mem);
    free(s->dir);
    free(s);
}
