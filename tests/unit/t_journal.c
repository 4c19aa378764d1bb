/*
 * NAME
 *	t_journal - the journal's segment format, CRC, recovery (SPEC C6)
 * DESCRIPTION
 *	Named cases, one runner each: records written through
 *	cs_journal_append() read back whole; a flipped byte, a cut tail and
 *	a junk header each cost exactly the damaged record; the cursor and
 *	the segment deletion; JournalMaxSize; another store's journal and a
 *	second process are refused; a large body streamed.
 */
#include <config.h>

/* System library. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_journal.h"
#include "cs_spool.h"
#include "tap.h"

static char dir[256];

/* fresh - an empty journal directory for one case */
static void fresh(const char *name)
{
    char    cmd[600];

    snprintf(dir, sizeof(dir), "%s/t_journal.%ld.%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
	     (long) getpid(), name);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
	abort();
}

/* body - a spool holding text repeated to n bytes */
static cs_spool *body(const char *text, size_t n)
{
    cs_spool *sp = cs_spool_new("/tmp", 1024, (uint64_t) n + 1);
    size_t  tl = strlen(text);

    for (size_t done = 0; done < n; done += tl)
	cs_spool_write(sp, text, n - done < tl ? n - done : tl);
    return sp;
}

/* append_n - n records "rec<i>" with a body each; count of durable ones */
static int append_n(cs_journal *j, int from, int n, size_t blen)
{
    char    f[64], err[256];
    int     okn = 0;

    for (int i = from; i < from + n; i++) {
	cs_spool *sp = body("body-bytes\r\n", blen);

	snprintf(f, sizeof(f), "rec%d", i);
	if (cs_journal_append(j, f, strlen(f), sp, 1000 + i, err, sizeof(err)) == 0)
	    okn++;
	cs_spool_unref(sp);
    }
    return okn;
}

typedef struct seen {
    int     ok, bad;
    char    names[4096];
} seen;

/* read_all - every segment from the first, as a replayer walks them */
static void read_all(cs_journal *j, seen *s)
{
    uint64_t seq = 1;

    memset(s, 0, sizeof(*s));
    while ((seq = cs_journal_next_seg(j, seq)) != 0) {
	cs_journal_seg seg;
	cs_journal_rec rec;
	int     active, r;
	uint64_t lim = cs_journal_limit(j, seq, &active);

	if (cs_journal_open_seg(j, seq, &seg) < 0)
	    break;
	while ((r = cs_journal_seg_next(&seg, lim, &rec)) != CS_JREC_END && r >= 0) {
	    if (r == CS_JREC_BAD)
		s->bad++;
	    else if (rec.type == CS_JREC_MSG) {
		char    b[16] = "";
		long    n = cs_journal_body_pread(&seg, &rec, b, 10, 0);

		s->ok++;
		if (n != 10 || memcmp(b, "body-bytes", 10) != 0)
		    strcat(s->names, "!body");
		if (strlen(s->names) + rec.flen + 2 < sizeof(s->names)) {
		    strcat(s->names, rec.fields);
		    strcat(s->names, " ");
		}
	    }
	    cs_journal_rec_free(&rec);
	}
	cs_journal_seg_close(&seg);
	seq++;
    }
}

/* corrupt - overwrite bytes of the first segment at off */
static void corrupt(long off, const void *with, size_t n, int truncate_there)
{
    char    path[512];
    int     fd;

    snprintf(path, sizeof(path), "%s/%016llx.seg", dir, 1ULL);
    fd = open(path, O_RDWR);
    if (truncate_there) {
	if (ftruncate(fd, off) < 0)
	    abort();
    } else if (pwrite(fd, with, n, off) != (ssize_t) n)
	abort();
    close(fd);
}

/* rec_off - offset of the k-th message record (0-based) in segment 1 */
static long rec_off(int k, size_t blen)
{
    long    meta = CS_JOURNAL_HDR + 12 + (long) strlen("store-a");
    long    each = CS_JOURNAL_HDR + 12 + 4 + (long) blen;	/* "rec<i>" i<10 */

    return meta + k * each;
}

static void case_roundtrip(void)
{
    char    err[256];
    cs_journal *j;
    seen    s;
    uint64_t recs, bytes, disk;
    int64_t oldest;

    fresh("roundtrip");
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    ok(j != NULL, "roundtrip: opened (%s)", j ? "" : err);
    is_int(append_n(j, 0, 5, 100), 5, "roundtrip: 5 records durable");
    cs_journal_depth(j, &recs, &bytes, &oldest, &disk);
    is_int(recs, 5, "roundtrip: depth 5 records");
    is_int(oldest, 1000, "roundtrip: oldest is the first record's time");
    read_all(j, &s);
    is_int(s.ok, 5, "roundtrip: 5 read back");
    is_int(s.bad, 0, "roundtrip: none damaged");
    is_str(s.names, "rec0 rec1 rec2 rec3 rec4 ", "roundtrip: in order, bodies whole");
    cs_journal_close(j);
    /* Reopened (a restart): what is pending is counted again. */
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    cs_journal_depth(j, &recs, &bytes, &oldest, &disk);
    is_int(recs, 5, "roundtrip: 5 pending after reopen");
    ok(bytes == 5 * (uint64_t) (CS_JOURNAL_HDR + 12 + 4 + 100), "roundtrip: bytes counted");
    cs_journal_close(j);
}

static void case_damage(const char *name, int how)
{
    char    err[256];
    cs_journal *j;
    seen    s;
    char    want[128];

    fresh(name);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    append_n(j, 0, 4, 50);
    cs_journal_close(j);
    if (how == 0)				/* a flipped body byte in rec1 */
	corrupt(rec_off(1, 50) + CS_JOURNAL_HDR + 20, "X", 1, 0);
    else if (how == 1)				/* rec3 cut short */
	corrupt(rec_off(3, 50) + 30, NULL, 0, 1);
    else if (how == 2)				/* rec2's header junk */
	corrupt(rec_off(2, 50) + 2, "\xff\xff\xff\xff\xff\xff", 6, 0);
    else if (how == 3)				/* a length that cannot be */
	corrupt(rec_off(1, 50) + 4, "\xff\xff\xff\x7f", 4, 0);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    ok(j != NULL, "%s: a damaged segment still opens", name);
    read_all(j, &s);
    is_int(s.bad, 1, "damage: exactly one damaged stretch");
    snprintf(want, sizeof(want), "%s", how == 0 || how == 3 ? "rec0 rec2 rec3 "
	     : how == 1 ? "rec0 rec1 rec2 " : "rec0 rec1 rec3 ");
    is_str(s.names, want, "damage: the good records around it read back");
    /* Appending after damage goes to a new segment, read as usual. */
    is_int(append_n(j, 7, 1, 50), 1, "damage: appends after it");
    read_all(j, &s);
    ok(strstr(s.names, "rec7") != NULL, "damage: the new record is read");
    cs_journal_close(j);
}

static void case_consume(void)
{
    char    err[256], path[512];
    cs_journal *j;
    cs_journal_pos p;
    uint64_t recs, bytes, disk;
    int64_t oldest;
    struct stat st;

    fresh("consume");
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    append_n(j, 0, 3, 10);
    cs_journal_close(j);
    /* A new process writes to a new segment: 2. */
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    append_n(j, 3, 2, 10);
    p.seq = 2;
    p.off = 0;
    ok(cs_journal_consume(j, p, 3, 3 * (CS_JOURNAL_HDR + 12 + 4 + 10), 1003) == 0,
       "consume: cursor written");
    snprintf(path, sizeof(path), "%s/%016llx.seg", dir, 1ULL);
    ok(stat(path, &st) < 0, "consume: the segment wholly replayed is deleted");
    snprintf(path, sizeof(path), "%s/%016llx.seg", dir, 2ULL);
    ok(stat(path, &st) == 0, "consume: the one being written stays");
    cs_journal_depth(j, &recs, &bytes, &oldest, &disk);
    is_int(recs, 2, "consume: 2 pending");
    is_int(oldest, 1003, "consume: oldest moved on");
    cs_journal_close(j);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    p = cs_journal_cursor(j);
    ok(p.seq == 2 && p.off == 0, "consume: the cursor survives a restart");
    cs_journal_depth(j, &recs, &bytes, &oldest, &disk);
    is_int(recs, 2, "consume: 2 pending after restart");
    cs_journal_close(j);
}

/* Everything replayed and deleted, then a restart: new records must come
 * after the cursor, where the replayer looks. */
static void case_restart_empty(void)
{
    char    err[256];
    cs_journal *j;
    cs_journal_pos p;
    seen    s;
    uint64_t recs, bytes, disk, seq;
    int64_t oldest;

    fresh("restart-empty");
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    append_n(j, 0, 2, 10);
    cs_journal_close(j);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    p.seq = 2;				/* segment 1 replayed, none written */
    p.off = 0;
    cs_journal_consume(j, p, 2, 0, 0);
    cs_journal_close(j);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    is_int(cs_journal_next_seg(j, 1), 0, "restart-empty: no segment left");
    append_n(j, 5, 1, 10);
    p = cs_journal_cursor(j);
    seq = cs_journal_next_seg(j, p.seq);
    ok(seq >= p.seq && seq != 0, "restart-empty: the new segment is at or after the cursor");
    cs_journal_close(j);
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    cs_journal_depth(j, &recs, &bytes, &oldest, &disk);
    is_int(recs, 1, "restart-empty: the new record is pending after a restart");
    read_all(j, &s);
    is_str(s.names, "rec5 ", "restart-empty: and read");
    cs_journal_close(j);
}

static void case_full(void)
{
    char    err[256], f[8] = "big";
    cs_journal *j;
    cs_spool *sp;
    int     rc;

    fresh("full");
    j = cs_journal_open(dir, "store-a", 4096, err, sizeof(err));
    is_int(append_n(j, 0, 100, 100), (4096 - (CS_JOURNAL_HDR + 12 + 7)) / (CS_JOURNAL_HDR + 12 + 4 + 100),
	   "full: records up to JournalMaxSize");
    sp = body("x", 100);
    rc = cs_journal_append(j, f, 3, sp, 1, err, sizeof(err));
    is_int(rc, CS_JOURNAL_FULL, "full: past it refused as full");
    ok(strstr(err, "JournalMaxSize") != NULL, "full: and says why");
    cs_spool_unref(sp);
    cs_journal_close(j);
}

static void case_refused(void)
{
    char    err[256];
    cs_journal *j, *j2;

    fresh("refused");
    j = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    append_n(j, 0, 1, 10);
    j2 = cs_journal_open(dir, "store-a", 1 << 20, err, sizeof(err));
    ok(j2 == NULL && strstr(err, "in use") != NULL, "refused: a second opener");
    cs_journal_close(j);
    j2 = cs_journal_open(dir, "store-b", 1 << 20, err, sizeof(err));
    ok(j2 == NULL && strstr(err, "another store") != NULL,
       "refused: another store's journal");
    cs_journal_close(j2);
}

static void case_large(void)
{
    char    err[256];
    cs_journal *j;
    seen    s;

    fresh("large");
    j = cs_journal_open(dir, "store-a", 1ULL << 30, err, sizeof(err));
    /* 3 MB through a 64 KB buffer, spool mostly in its file. */
    is_int(append_n(j, 0, 1, 3 << 20), 1, "large: a 3 MB body journaled");
    read_all(j, &s);
    is_str(s.names, "rec0 ", "large: read back with a good CRC");
    cs_journal_close(j);
}

static void case_crc(void)
{
    /* The CRC32C check value (RFC 3720 B.4 / "123456789"). */
    is_int(cs_crc32c(0, "123456789", 9), 0xE3069283u, "crc: CRC32C check value");
    is_int(cs_crc32c(cs_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u,
	   "crc: continued over parts");
}

int     main(void)
{
    case_crc();
    case_roundtrip();
    case_damage("damage-crc", 0);
    case_damage("damage-cut", 1);
    case_damage("damage-header", 2);
    case_damage("damage-length", 3);
    case_consume();
    case_restart_empty();
    case_full();
    case_refused();
    case_large();
    {
	char    cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/t_journal.%ld.*",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long) getpid());
	if (system(cmd) != 0)
	    diag("cleanup failed");
    }
    return done_testing();
}
