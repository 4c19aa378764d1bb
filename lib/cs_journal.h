/*
 * NAME
 *	cs_journal 3h
 * SUMMARY
 *	append-only segment files with a length and CRC per record (SPEC C6)
 * DESCRIPTION
 *	A journal is a directory (JournalDir) of segment files named
 *	<16 hex digits>.seg in the order they were made, a "lock" file
 *	(flock: one process at a time) and a "cursor" file saying how far
 *	the records were applied. Each segment starts with a meta record
 *	naming the store the records are for (the Database value, password
 *	masked), so a journal is never replayed into another store.
 *
 *	A record is a 20-byte header, all little-endian: magic "CSJ1",
 *	u32 payload length, u32 type, u32 CRC32C of the payload, u32
 *	CRC32C of the 16 bytes before it; then the payload: i64 time
 *	journaled, u32 fields length, the fields, the body (the rest). The
 *	header's own CRC lets a reader trust the length before it reads
 *	the payload, and find the next record after damage (a scan for a
 *	header whose CRC holds). CRC32C (Castagnoli), table-driven: it
 *	catches more short burst errors than zlib's CRC-32 at the same cost,
 *	is what ext4, iSCSI and LevelDB's log use, and needs no library.
 *
 *	Writing: cs_journal_append() writes the whole record, then waits
 *	until it is on disk; appenders that arrive while one fdatasync()
 *	runs share the next one (group commit). The body is streamed from
 *	its spool in chunks: a large message costs no more memory here than
 *	in the spool. A failed write is cut off again (ftruncate), so a
 *	segment never carries a record that was not acknowledged; a full
 *	disk or a journal at max_bytes refuses the record (CS_JOURNAL_FULL).
 *
 *	Reading: cs_journal_seg_next() walks one segment. A record whose
 *	payload CRC fails, a header that does not check, and a tail cut
 *	short (a crash mid-write) come back as CS_JREC_BAD with the extent
 *	skipped; the good records around them are read as usual.
 *
 *	Consuming: the replayer calls cs_journal_consume() once records are
 *	committed to the store; segments wholly before the cursor are
 *	deleted. Depth (records, bytes) and the oldest pending record's
 *	time are kept for stats.
 */
#ifndef CS_JOURNAL_H
#define CS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cs_spool.h"

#define CS_JOURNAL_HDR		20	/* record header bytes */
#define CS_JOURNAL_PAYLOAD_MAX	(1ULL << 31)	/* a record's payload, at most */
#define CS_JOURNAL_FIELDS_MAX	(64U << 20)	/* its fields part, at most */
#define CS_JOURNAL_SEG_BYTES	(64ULL << 20)	/* a segment is closed past this */
/* The milter's view of its journal, replaced every few seconds (JSON:
 * {"host", "pid", "written_at", "running", "journal": {...}}), read by
 * crmsyncctl stats; and where records the store refuses for good are
 * set aside (SEQ-OFF.rec: the record as it was in its segment). */
#define CS_JOURNAL_STATUS	"status.json"
#define CS_JOURNAL_REJECTED	"rejected"
/* ... and where damaged stretches are kept (SEQ-OFF.bad: the bytes as
 * they were, from the damaged record's start to the next good one). */
#define CS_JOURNAL_DAMAGED	"damaged"

enum { CS_JREC_META = 1, CS_JREC_MSG = 2 };

/* cs_journal_append: 0 durable; CS_JOURNAL_FULL refused (JournalMaxSize
 * or disk full); -1 I/O error. */
#define CS_JOURNAL_FULL		(-2)

uint32_t cs_crc32c(uint32_t crc, const void *, size_t);

/* Where a record starts: segment number and byte offset in it. */
typedef struct cs_journal_pos {
    uint64_t seq;
    uint64_t off;
} cs_journal_pos;

/* One record as read back. fields is malloc'd and NUL-terminated (free
 * it with cs_journal_rec_free); the body stays in the segment file: read
 * it with cs_journal_body_pread(). */
typedef struct cs_journal_rec {
    uint64_t off, end;			/* extent in the segment */
    uint32_t type;
    int64_t at;				/* wall time it was journaled */
    char   *fields;
    size_t  flen;
    uint64_t body_off, body_len;	/* in the segment file */
} cs_journal_rec;

void    cs_journal_rec_free(cs_journal_rec *);

/* A segment opened for reading. */
typedef struct cs_journal_seg {
    int     fd;
    uint64_t seq;
    uint64_t off;			/* next record */
    char   *ident;			/* meta record's fields, NULL if bad */
} cs_journal_seg;

enum { CS_JREC_END = 0, CS_JREC_OK = 1, CS_JREC_BAD = 2 };

/* Take fd (closed by cs_journal_seg_close) and read its meta record;
 * -1 on a read error. A bad meta record is not an error: ident stays
 * NULL and the caller decides. */
int     cs_journal_seg_open_fd(cs_journal_seg *, int fd, uint64_t seq);
/* The next record before limit (the file's size, or how much of the
 * segment being written is durable): CS_JREC_OK, CS_JREC_END, CS_JREC_BAD
 * (rec->off..rec->end skipped: damaged or cut short), -1 read error. */
int     cs_journal_seg_next(cs_journal_seg *, uint64_t limit, cs_journal_rec *);
void    cs_journal_seg_close(cs_journal_seg *);
/* Read body bytes of rec at off (from the body's start). */
long    cs_journal_body_pread(const cs_journal_seg *, const cs_journal_rec *, void *,
			              size_t, uint64_t off);

/* The journal of one process. */
typedef struct cs_journal cs_journal;

/* Open (make) dir for the store ident: lock it, check that its
 * segments are ident's, count what is pending past the cursor. NULL with
 * err set when it cannot be used (another process holds it, another
 * store's records, not writable). */
cs_journal *cs_journal_open(const char *dir, const char *ident, uint64_t max_bytes,
			            char *err, size_t errlen);
void    cs_journal_close(cs_journal *);
/* Append one record and wait until it is durable; err says why not. */
int     cs_journal_append(cs_journal *, const void *fields, size_t flen,
			          const cs_spool *body, time_t now, char *err, size_t errlen);
/* The limit up to which segment seq may be read: its durable size; 0 if
 * no such segment; *active 1 if it is still being written. */
uint64_t cs_journal_limit(cs_journal *, uint64_t seq, int *active);
/* The first segment at or after seq that exists; 0 when none. */
uint64_t cs_journal_next_seg(cs_journal *, uint64_t seq);
int     cs_journal_open_seg(cs_journal *, uint64_t seq, cs_journal_seg *);
/* Where replay starts (the cursor). */
cs_journal_pos cs_journal_cursor(cs_journal *);
/* Records up to pos were committed (nrec records, nbytes of them, the
 * next pending one journaled at next_at, 0 if unknown): move the cursor,
 * delete segments before it. -1 when the cursor could not be written
 * (the records are then applied again after a restart: T2). */
int     cs_journal_consume(cs_journal *, cs_journal_pos pos, uint64_t nrec, uint64_t nbytes,
			           int64_t next_at);
/* The replayer read everything durable up to pos and found nothing
 * more: pending is zero (records counted but found damaged on reading
 * must not keep the journal "pending" for ever). Nothing if an append
 * landed meanwhile. */
void    cs_journal_settle(cs_journal *, cs_journal_pos pos);
/* Depth: pending records and their bytes, oldest pending time (0: none),
 * bytes on disk. */
void    cs_journal_depth(cs_journal *, uint64_t *records, uint64_t *bytes, int64_t *oldest,
			         uint64_t *disk);
/* Wait at most ms for an append (the replayer's idle wait). */
void    cs_journal_wait(cs_journal *, long ms);
/* Wake whoever waits in cs_journal_wait (stop). */
void    cs_journal_kick(cs_journal *);

#endif
