/*
 * NAME
 *	cs_spool 3h
 * SUMMARY
 *	message bytes in memory up to a threshold, then in an unlinked file
 * DESCRIPTION
 *	The milter may hold a hundred large messages at once; each keeps at
 *	most threshold bytes in memory (its first 64 KB its own, the rest
 *	while the process-wide budget, SpoolMemory, can spare it) and spills
 *	the rest to an anonymous file in dir. Writes past limit are counted
 *	in total but not kept (truncated). A spool is reference-counted so
 *	that the store's writer thread can finish with it after the milter
 *	callback has moved on. It digests the kept bytes as they are written
 *	(the store's content address) unless told not to (cs_spool_no_digest).
 */
#ifndef CS_SPOOL_H
#define CS_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct cs_spool cs_spool;

cs_spool *cs_spool_new(const char *dir, size_t threshold, uint64_t limit);
int     cs_spool_write(cs_spool *, const void *, size_t);	/* -1 on I/O error */
uint64_t cs_spool_kept(const cs_spool *);		/* bytes kept */
uint64_t cs_spool_total(const cs_spool *);		/* bytes offered */
int     cs_spool_truncated(const cs_spool *);
/* Read kept bytes at off; returns bytes read, 0 at end, -1 on error. */
ssize_t cs_spool_pread(const cs_spool *, void *, size_t, uint64_t off);
/* SHA-256 (hex) of the bytes kept so far, digested as they were written,
 * so that a large message need not be read back; -1 when it is not
 * available (read the spool instead). */
int     cs_spool_sha256(const cs_spool *, char hex[65]);
/* No running digest: the caller addresses the bytes (cs_bodyhash_final_addr). */
void    cs_spool_no_digest(cs_spool *);
/* The kept bytes when they are all in memory (len set), else NULL. */
const void *cs_spool_contiguous(const cs_spool *, uint64_t *len);
/* Bytes all spools may hold in memory beyond their first 64 KB (0: none;
 * more than the address space: all of it). */
void    cs_spool_set_memory(uint64_t);
size_t  cs_spool_memory_used(void);	/* of it, reserved now */
size_t  cs_spool_memory_kept(void);	/* of that, freed buffers kept for reuse */
cs_spool *cs_spool_ref(cs_spool *);
void    cs_spool_unref(cs_spool *);

#endif
