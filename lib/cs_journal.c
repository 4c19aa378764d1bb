/*
 * NAME
 *	cs_journal 3
 * SUMMARY
 *	append-only segment files with a length and CRC per record (SPEC C6)
 * DESCRIPTION
 *	See cs_journal.h. One mutex guards the writer's state; the record's
 *	bytes are written under it (in order, so a segment has no holes),
 *	the fdatasync() outside it by one appender for all that wait
 *	(group commit, as the store's writer does for its transactions).
 */
#include <config.h>

/* System library. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_journal.h"

#define CHUNK	(64 * 1024)
static const unsigned char magic[4] = {'C', 'S', 'J', '1'};

struct cs_journal {
    pthread_mutex_t lock;
    pthread_cond_t cond;		/* a sync finished, or an append */
    char   *dir;
    char   *ident;
    uint64_t max_bytes;
    int     lockfd;
    int     dirfd;
    int     fd;				/* segment being written, -1 none */
    uint64_t seq;			/* its number (last made) */
    uint64_t size;			/* its bytes written */
    uint64_t synced;			/* its bytes durable */
    int     broken;			/* start a new segment first */
    int     syncing;
    uint64_t wgen, sgen;		/* bytes ever written / durable */
    int     sync_err;			/* errno of the last failed sync */
    uint64_t sync_fail_gen;		/* wgen covered by that failure */
    uint64_t disk;			/* bytes in all segments */
    uint64_t records, bytes;		/* pending past the cursor */
    int64_t oldest;
    cs_journal_pos cursor;
    unsigned long appends;		/* wakes the replayer */
};

/* crc_table - CRC32C (Castagnoli, reflected 0x82F63B78), made once */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
	uint32_t c = i;

	for (int k = 0; k < 8; k++)
	    c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	crc_table[i] = c;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HW 1
/* crc_hw - the same with SSE4.2's crc32 instruction (large bodies) */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *b, size_t len)
{
    uint64_t c = crc;

    for (; len >= 8; b += 8, len -= 8) {
	uint64_t v;

	memcpy(&v, b, 8);
	c = __builtin_ia32_crc32di(c, v);
    }
    crc = (uint32_t) c;
    while (len--)
	crc = __builtin_ia32_crc32qi(crc, *b++);
    return crc;
}

static int crc_have_hw;
#endif

static void crc_setup(void)
{
    crc_init();
#ifdef CRC_HW
    crc_have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* cs_crc32c - continue a CRC32C over len bytes (start with 0) */
uint32_t cs_crc32c(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *b = p;

    pthread_once(&crc_once, crc_setup);
    crc = ~crc;
#ifdef CRC_HW
    if (crc_have_hw)
	return ~crc_hw(crc, b, len);
#endif
    while (len--)
	crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* put32, put64, get32, get64 - little-endian integers */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
	p[i] = (unsigned char) (v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
	p[i] = (unsigned char) (v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
	| (uint32_t) p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

/* pread_full - read exactly len bytes at off; 1 ok, 0 short, -1 error */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t  got = 0;

    while (got < len) {
	ssize_t n = pread(fd, (char *) buf + got, len - got, (off_t) (off + got));

	if (n < 0 && errno == EINTR)
	    continue;
	if (n < 0)
	    return -1;
	if (n == 0)
	    return 0;
	got += (size_t) n;
    }
    return 1;
}

/* pwrite_full - write all of len bytes at off; -1 on error */
static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t  done = 0;

    while (done < len) {
	ssize_t n = pwrite(fd, (const char *) buf + done, len - done, (off_t) (off + done));

	if (n < 0 && errno == EINTR)
	    continue;
	if (n <= 0) {
	    if (n == 0)
		errno = EIO;
	    return -1;
	}
	done += (size_t) n;
    }
    return 0;
}

/* header_ok - a header whose own CRC holds; its payload length */
static int header_ok(const unsigned char *h, uint64_t *len)
{
    if (memcmp(h, magic, 4) != 0 || get32(h + 16) != cs_crc32c(0, h, 16))
	return 0;
    *len = get32(h + 4);
    return 1;
}

/* cs_journal_rec_free - release a record read back */
void    cs_journal_rec_free(cs_journal_rec *rec)
{
    free(rec->fields);
    rec->fields = NULL;
}

/* resync - the next offset after off where a good header starts, or limit */
static int resync(int fd, uint64_t off, uint64_t limit, uint64_t *found)
{
    unsigned char *buf;
    uint64_t pos = off + 1, len;
    int     rc = 0;

    if ((buf = malloc(CHUNK + CS_JOURNAL_HDR)) == NULL)
	return -1;
    *found = limit;
    while (pos + CS_JOURNAL_HDR <= limit) {
	size_t  want = (size_t) (limit - pos < CHUNK + CS_JOURNAL_HDR
				 ? limit - pos : CHUNK + CS_JOURNAL_HDR);
	size_t  i;

	if ((rc = pread_full(fd, buf, want, pos)) <= 0)
	    break;
	rc = 0;
	for (i = 0; i + CS_JOURNAL_HDR <= want; i++)
	    if (buf[i] == 'C' && header_ok(buf + i, &len)) {
		*found = pos + i;
		free(buf);
		return 0;
	    }
	pos += i;				/* the last HDR-1 bytes again */
    }
    free(buf);
    return rc < 0 ? -1 : 0;
}

/* cs_journal_seg_next - the next record of a segment before limit */
int     cs_journal_seg_next(cs_journal_seg *s, uint64_t limit, cs_journal_rec *rec)
{
    unsigned char h[CS_JOURNAL_HDR], pre[12];
    unsigned char *buf = NULL;
    uint64_t len, off = s->off, done;
    uint32_t crc = 0;
    int     r;

    memset(rec, 0, sizeof(*rec));
    rec->off = off;
    if (off >= limit)
	return CS_JREC_END;
    if (limit - off < CS_JOURNAL_HDR) {
	rec->end = s->off = limit;		/* a header cut short */
	return CS_JREC_BAD;
    }
    if ((r = pread_full(s->fd, h, sizeof(h), off)) < 0)
	return -1;
    if (r == 0 || !header_ok(h, &len)) {
	if (r == 0 || resync(s->fd, off, limit, &rec->end) < 0)
	    rec->end = limit;
	s->off = rec->end;
	return CS_JREC_BAD;
    }
    if (len < sizeof(pre) || len > limit - off - CS_JOURNAL_HDR) {
	/* Cut short by a crash, or a length that cannot be: look further. */
	if (len >= sizeof(pre) && len <= CS_JOURNAL_PAYLOAD_MAX)
	    rec->end = limit;
	else if (resync(s->fd, off, limit, &rec->end) < 0)
	    rec->end = limit;
	s->off = rec->end;
	return CS_JREC_BAD;
    }
    rec->end = off + CS_JOURNAL_HDR + len;
    /* The payload's CRC, streamed: a large body is never held whole. */
    if ((buf = malloc(CHUNK)) == NULL)
	return -1;
    for (done = 0; done < len;) {
	size_t  n = (size_t) (len - done < CHUNK ? len - done : CHUNK);

	if ((r = pread_full(s->fd, buf, n, off + CS_JOURNAL_HDR + done)) <= 0) {
	    free(buf);
	    if (r < 0)
		return -1;
	    s->off = rec->end = limit;
	    return CS_JREC_BAD;
	}
	if (done == 0)
	    memcpy(pre, buf, sizeof(pre));	/* len >= 12: in the first chunk */
	crc = cs_crc32c(crc, buf, n);
	done += n;
    }
    free(buf);
    s->off = rec->end;
    rec->type = get32(h + 8);
    rec->at = (int64_t) get64(pre);
    rec->flen = get32(pre + 8);
    if (crc != get32(h + 12) || rec->flen > len - sizeof(pre) || rec->flen > CS_JOURNAL_FIELDS_MAX)
	return CS_JREC_BAD;
    if ((rec->fields = malloc(rec->flen + 1)) == NULL)
	return -1;
    if (pread_full(s->fd, rec->fields, rec->flen, off + CS_JOURNAL_HDR + sizeof(pre)) <= 0) {
	cs_journal_rec_free(rec);
	return -1;
    }
    rec->fields[rec->flen] = 0;
    rec->body_off = off + CS_JOURNAL_HDR + sizeof(pre) + rec->flen;
    rec->body_len = len - sizeof(pre) - rec->flen;
    return CS_JREC_OK;
}

/* cs_journal_seg_open_fd - a segment for reading, its meta record read */
int     cs_journal_seg_open_fd(cs_journal_seg *s, int fd, uint64_t seq)
{
    struct stat st;
    cs_journal_rec rec;

    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->seq = seq;
    if (fstat(fd, &st) < 0)
	return -1;
    switch (cs_journal_seg_next(s, (uint64_t) st.st_size, &rec)) {
    case CS_JREC_OK:
	if (rec.type == CS_JREC_META) {
	    s->ident = rec.fields;		/* taken over */
	    return 0;
	}
	cs_journal_rec_free(&rec);
	s->off = 0;				/* no meta: records from the start */
	return 0;
    case -1:
	return -1;
    default:
	s->off = 0;
	return 0;
    }
}

/* cs_journal_seg_close - close a segment opened for reading */
void    cs_journal_seg_close(cs_journal_seg *s)
{
    if (s->fd >= 0)
	close(s->fd);
    s->fd = -1;
    free(s->ident);
    s->ident = NULL;
}

/* cs_journal_body_pread - body bytes of a record */
long    cs_journal_body_pread(const cs_journal_seg *s, const cs_journal_rec *rec, void *buf,
			              size_t len, uint64_t off)
{
    ssize_t n;

    if (off >= rec->body_len)
	return 0;
    if (len > rec->body_len - off)
	len = (size_t) (rec->body_len - off);
    do
	n = pread(s->fd, buf, len, (off_t) (rec->body_off + off));
    while (n < 0 && errno == EINTR);
    return (long) n;
}

/* seg_name - path of segment seq */
static void seg_name(const cs_journal *j, uint64_t seq, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%016llx.seg", j->dir, (unsigned long long) seq);
}

/* parse_seg - the number of a segment file name, 0 if not one */
static uint64_t parse_seg(const char *name)
{
    char   *end;
    unsigned long long v;

    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
	return 0;
    errno = 0;
    v = strtoull(name, &end, 16);
    if (errno || end != name + 16)
	return 0;
    return (uint64_t) v;
}

/* list_segs - the segment numbers in dir, sorted; *n of them */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static uint64_t *list_segs(const char *dir, size_t *n)
{
    DIR    *d;
    struct dirent *e;
    uint64_t *v = NULL, seq;
    size_t  cap = 0;

    *n = 0;
    if ((d = opendir(dir)) == NULL)
	return NULL;
    while ((e = readdir(d)) != NULL) {
	if ((seq = parse_seg(e->d_name)) == 0)
	    continue;
	if (*n == cap) {
	    uint64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

	    if (nv == NULL)
		break;
	    v = nv;
	    cap = cap ? cap * 2 : 16;
	}
	v[(*n)++] = seq;
    }
    closedir(d);
    if (*n)
	qsort(v, *n, sizeof(*v), cmp_u64);
    return v;
}

/* read_cursor - the cursor file, or the start */
static void read_cursor(cs_journal *j)
{
    char    path[4096], buf[128];
    unsigned long long seq, off;
    FILE   *fp;

    j->cursor.seq = j->cursor.off = 0;
    snprintf(path, sizeof(path), "%s/cursor", j->dir);
    if ((fp = fopen(path, "r")) == NULL)
	return;
    if (fgets(buf, sizeof(buf), fp) && sscanf(buf, "%llx %llu", &seq, &off) == 2) {
	j->cursor.seq = seq;
	j->cursor.off = off;
    }
    fclose(fp);
}

/* write_cursor - replace the cursor file (no fsync: losing it repeats
 * records, which T2 makes harmless) */
static int write_cursor(const cs_journal *j, cs_journal_pos pos)
{
    char    path[4096], tmp[4096];
    FILE   *fp;
    int     bad;

    snprintf(path, sizeof(path), "%s/cursor", j->dir);
    snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", j->dir);
    if ((fp = fopen(tmp, "w")) == NULL)
	return -1;
    fprintf(fp, "%016llx %llu\n", (unsigned long long) pos.seq, (unsigned long long) pos.off);
    bad = ferror(fp);
    if (fclose(fp) != 0 || bad || rename(tmp, path) < 0) {
	unlink(tmp);
	return -1;
    }
    return 0;
}

/* scan - count pending records and bytes past the cursor; check idents */
static int scan(cs_journal *j, char *err, size_t errlen)
{
    uint64_t *segs;
    size_t  n;

    segs = list_segs(j->dir, &n);
    for (size_t i = 0; i < n; i++) {
	char    path[4096];
	cs_journal_seg s;
	cs_journal_rec rec;
	struct stat st;
	int     fd, r;

	seg_name(j, segs[i], path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
	    snprintf(err, errlen, "%s: %s", path, strerror(errno));
	    if (fd >= 0)
		close(fd);
	    free(segs);
	    return -1;
	}
	j->disk += (uint64_t) st.st_size;
	if (segs[i] > j->seq)
	    j->seq = segs[i];
	if (cs_journal_seg_open_fd(&s, fd, segs[i]) < 0) {
	    snprintf(err, errlen, "%s: %s", path, strerror(errno));
	    cs_journal_seg_close(&s);
	    free(segs);
	    return -1;
	}
	if (s.ident && strcmp(s.ident, j->ident) != 0) {
	    snprintf(err, errlen, "%s holds records for another store (%.200s)", path, s.ident);
	    cs_journal_seg_close(&s);
	    free(segs);
	    return -1;
	}
	if (segs[i] < j->cursor.seq) {
	    cs_journal_seg_close(&s);
	    continue;
	}
	if (segs[i] == j->cursor.seq && j->cursor.off > s.off)
	    s.off = j->cursor.off;
	while ((r = cs_journal_seg_next(&s, (uint64_t) st.st_size, &rec)) != CS_JREC_END && r >= 0) {
	    if (r == CS_JREC_OK && rec.type == CS_JREC_MSG) {
		if (j->records++ == 0)
		    j->oldest = rec.at;
		j->bytes += rec.end - rec.off;
	    }
	    cs_journal_rec_free(&rec);
	}
	cs_journal_seg_close(&s);
    }
    free(segs);
    return 0;
}

/* cs_journal_open - lock and check a journal directory */
cs_journal *cs_journal_open(const char *dir, const char *ident, uint64_t max_bytes,
			            char *err, size_t errlen)
{
    cs_journal *j;
    char    path[4096];

    if (dir == NULL || *dir == 0 || strlen(dir) > 3000) {
	snprintf(err, errlen, "JournalDir: no usable path");
	return NULL;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
	snprintf(err, errlen, "JournalDir %s: %s", dir, strerror(errno));
	return NULL;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->fd = j->lockfd = j->dirfd = -1;
    j->max_bytes = max_bytes;
    if ((j->dir = strdup(dir)) == NULL || (j->ident = strdup(ident ? ident : "")) == NULL) {
	snprintf(err, errlen, "out of memory");
	cs_journal_close(j);
	return NULL;
    }
    snprintf(path, sizeof(path), "%s/lock", dir);
    if ((j->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0
	|| (j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
	snprintf(err, errlen, "JournalDir %s: %s", dir, strerror(errno));
	cs_journal_close(j);
	return NULL;
    }
    if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
	snprintf(err, errlen, "JournalDir %s is in use by another process", dir);
	cs_journal_close(j);
	return NULL;
    }
    read_cursor(j);
    if (scan(j, err, errlen) < 0) {
	cs_journal_close(j);
	return NULL;
    }
    /* Segments replayed and deleted still count: a new one comes after
     * the cursor, or the replayer would never look at it. */
    if (j->cursor.seq > 0 && j->cursor.seq - 1 > j->seq)
	j->seq = j->cursor.seq - 1;
    return j;
}

/* cs_journal_close - close; what is pending stays for the next open */
void    cs_journal_close(cs_journal *j)
{
    if (j == NULL)
	return;
    if (j->fd >= 0) {
	(void) fdatasync(j->fd);
	close(j->fd);
    }
    if (j->dirfd >= 0)
	close(j->dirfd);
    if (j->lockfd >= 0)
	close(j->lockfd);			/* and the flock with it */
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    free(j->dir);
    free(j->ident);
    free(j);
}

/* write_record - header and payload at j->size; lock held; -1 errno */
static int write_record(cs_journal *j, uint32_t type, int64_t at, const void *fields,
			        size_t flen, const cs_spool *body, uint64_t blen)
{
    unsigned char h[CS_JOURNAL_HDR], pre[12];
    char   *buf;
    uint64_t off = j->size + CS_JOURNAL_HDR, done = 0;
    uint32_t crc;

    put64(pre, (uint64_t) at);
    put32(pre + 8, (uint32_t) flen);
    crc = cs_crc32c(0, pre, sizeof(pre));
    crc = cs_crc32c(crc, fields, flen);
    if (pwrite_full(j->fd, pre, sizeof(pre), off) < 0
	|| pwrite_full(j->fd, fields, flen, off + sizeof(pre)) < 0)
	return -1;
    off += sizeof(pre) + flen;
    if (blen > 0) {
	if ((buf = malloc(CHUNK)) == NULL)
	    return -1;
	while (done < blen) {
	    ssize_t n = cs_spool_pread(body, buf, CHUNK, done);

	    if (n <= 0) {
		free(buf);
		errno = n < 0 ? errno : EIO;
		return -1;
	    }
	    if ((uint64_t) n > blen - done)
		n = (ssize_t) (blen - done);
	    crc = cs_crc32c(crc, buf, (size_t) n);
	    if (pwrite_full(j->fd, buf, (size_t) n, off + done) < 0) {
		free(buf);
		return -1;
	    }
	    done += (uint64_t) n;
	}
	free(buf);
    }
    /* The header last: a record is whole before its length is there. */
    memcpy(h, magic, 4);
    put32(h + 4, (uint32_t) (sizeof(pre) + flen + blen));
    put32(h + 8, type);
    put32(h + 12, crc);
    put32(h + 16, cs_crc32c(0, h, 16));
    return pwrite_full(j->fd, h, sizeof(h), j->size);
}

/* rotate - start a new segment with its meta record; lock held */
static int rotate(cs_journal *j, time_t now)
{
    char    path[4096];
    int     fd;

    while (j->syncing)
	pthread_cond_wait(&j->cond, &j->lock);
    if (j->fd >= 0) {
	/*
	 * Everything written so far durable before the file is let go; a
	 * segment already known broken is let go all the same (what it
	 * holds was refused to its appenders or is whole).
	 */
	if (fdatasync(j->fd) < 0 && !j->broken)
	    return -1;
	j->sgen = j->wgen;
	close(j->fd);
	j->fd = -1;
    }
    seg_name(j, j->seq + 1, path, sizeof(path));
    if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
	return -1;
    j->seq++;
    j->fd = fd;
    j->size = j->synced = 0;
    j->broken = 0;
    if (write_record(j, CS_JREC_META, now, j->ident, strlen(j->ident), NULL, 0) < 0
	|| fdatasync(fd) < 0 || fsync(j->dirfd) < 0) {
	int     e = errno;

	/* An empty segment is harmless; a half meta record is cut off. */
	(void) ftruncate(fd, 0);
	j->broken = 1;
	errno = e;
	return -1;
    }
    j->size = j->synced = CS_JOURNAL_HDR + 12 + strlen(j->ident);
    j->disk += j->size;
    return 0;
}

/* cs_journal_append - one record, durable on return 0 */
int     cs_journal_append(cs_journal *j, const void *fields, size_t flen,
			          const cs_spool *body, time_t now, char *err, size_t errlen)
{
    uint64_t blen = body ? cs_spool_kept(body) : 0;
    uint64_t reclen = CS_JOURNAL_HDR + 12 + flen + blen, mine, start;
    int     rc = 0;

    if (flen > CS_JOURNAL_FIELDS_MAX || 12 + flen + blen > CS_JOURNAL_PAYLOAD_MAX) {
	snprintf(err, errlen, "record too large for the journal");
	return -1;
    }
    pthread_mutex_lock(&j->lock);
    if (j->disk + reclen > j->max_bytes) {
	pthread_mutex_unlock(&j->lock);
	snprintf(err, errlen, "JournalMaxSize reached (%llu bytes)",
		 (unsigned long long) j->max_bytes);
	return CS_JOURNAL_FULL;
    }
    if ((j->fd < 0 || j->broken || j->size + reclen > CS_JOURNAL_SEG_BYTES) && rotate(j, now) < 0) {
	rc = errno == ENOSPC || errno == EDQUOT ? CS_JOURNAL_FULL : -1;
	snprintf(err, errlen, "cannot start a journal segment: %s", strerror(errno));
	pthread_mutex_unlock(&j->lock);
	return rc;
    }
    start = j->size;
    if (write_record(j, CS_JREC_MSG, now, fields, flen, body, blen) < 0) {
	int     e = errno;

	rc = e == ENOSPC || e == EDQUOT ? CS_JOURNAL_FULL : -1;
	snprintf(err, errlen, "journal write: %s", strerror(e));
	/* Never leave a record nobody acknowledged in the segment. */
	if (ftruncate(j->fd, (off_t) start) < 0)
	    j->broken = 1;
	pthread_mutex_unlock(&j->lock);
	return rc;
    }
    j->size += reclen;
    j->disk += reclen;
    j->wgen += reclen;
    mine = j->wgen;

    /* Group commit: one appender syncs for everyone written so far. */
    while (j->sgen < mine && rc == 0) {
	if (j->sync_fail_gen >= mine) {
	    rc = -1;
	    snprintf(err, errlen, "journal sync: %s", strerror(j->sync_err));
	} else if (!j->syncing) {
	    uint64_t target = j->wgen, tsize = j->size, tseq = j->seq;
	    int     fd = j->fd, e = 0;

	    j->syncing = 1;
	    pthread_mutex_unlock(&j->lock);
	    if (fdatasync(fd) < 0)
		e = errno;
	    pthread_mutex_lock(&j->lock);
	    j->syncing = 0;
	    if (e == 0) {
		if (target > j->sgen)
		    j->sgen = target;
		if (tseq == j->seq && tsize > j->synced)
		    j->synced = tsize;
	    } else {
		j->sync_err = e;
		j->sync_fail_gen = target;
		j->broken = 1;
	    }
	    pthread_cond_broadcast(&j->cond);
	} else
	    pthread_cond_wait(&j->cond, &j->lock);
    }
    if (rc == 0) {
	if (j->records++ == 0)
	    j->oldest = (int64_t) now;
	j->bytes += reclen;
	j->appends++;
	pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* cs_journal_limit - how far segment seq may be read */
uint64_t cs_journal_limit(cs_journal *j, uint64_t seq, int *active)
{
    char    path[4096];
    struct stat st;
    uint64_t lim = 0;

    pthread_mutex_lock(&j->lock);
    *active = seq == j->seq && j->fd >= 0 && !j->broken;
    if (*active)
	lim = j->synced;
    pthread_mutex_unlock(&j->lock);
    if (*active)
	return lim;
    seg_name(j, seq, path, sizeof(path));
    return stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
}

/* cs_journal_next_seg - first segment number >= seq on disk, 0 none */
uint64_t cs_journal_next_seg(cs_journal *j, uint64_t seq)
{
    size_t  n;
    uint64_t *segs = list_segs(j->dir, &n), found = 0;

    for (size_t i = 0; i < n; i++)
	if (segs[i] >= seq) {
	    found = segs[i];
	    break;
	}
    free(segs);
    return found;
}

/* cs_journal_open_seg - open segment seq for reading */
int     cs_journal_open_seg(cs_journal *j, uint64_t seq, cs_journal_seg *s)
{
    char    path[4096];
    int     fd;

    seg_name(j, seq, path, sizeof(path));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return -1;
    }
    return cs_journal_seg_open_fd(s, fd, seq);
}

/* cs_journal_cursor - where replay starts */
cs_journal_pos cs_journal_cursor(cs_journal *j)
{
    cs_journal_pos p;

    pthread_mutex_lock(&j->lock);
    p = j->cursor;
    pthread_mutex_unlock(&j->lock);
    return p;
}

/* cs_journal_consume - records up to pos are in the store */
int     cs_journal_consume(cs_journal *j, cs_journal_pos pos, uint64_t nrec, uint64_t nbytes,
			           int64_t next_at)
{
    uint64_t *segs;
    size_t  n;
    int     rc;

    pthread_mutex_lock(&j->lock);
    j->cursor = pos;
    j->records = nrec > j->records ? 0 : j->records - nrec;
    j->bytes = nbytes > j->bytes ? 0 : j->bytes - nbytes;
    if (j->records == 0)
	j->bytes = 0;
    j->oldest = j->records ? (next_at ? next_at : j->oldest) : 0;
    rc = write_cursor(j, pos);
    /* Whole segments before the cursor go, but never the one written. */
    segs = list_segs(j->dir, &n);
    for (size_t i = 0; i < n; i++) {
	char    path[4096];
	struct stat st;

	if (segs[i] >= pos.seq || (segs[i] == j->seq && j->fd >= 0))
	    continue;
	seg_name(j, segs[i], path, sizeof(path));
	if (stat(path, &st) == 0 && unlink(path) == 0)
	    j->disk -= (uint64_t) st.st_size > j->disk ? j->disk : (uint64_t) st.st_size;
    }
    free(segs);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* cs_journal_settle - the replayer is at the end: nothing is pending */
void    cs_journal_settle(cs_journal *j, cs_journal_pos pos)
{
    size_t  n;
    uint64_t *segs = list_segs(j->dir, &n);
    int     later = 0;

    for (size_t i = 0; i < n; i++)
	if (segs[i] > pos.seq)
	    later = 1;
    free(segs);
    pthread_mutex_lock(&j->lock);
    if (!later && (j->fd < 0 || j->broken || (pos.seq == j->seq && pos.off >= j->synced))) {
	j->records = j->bytes = 0;
	j->oldest = 0;
    }
    pthread_mutex_unlock(&j->lock);
}

/* cs_journal_depth - what stats shows */
void    cs_journal_depth(cs_journal *j, uint64_t *records, uint64_t *bytes, int64_t *oldest,
			         uint64_t *disk)
{
    pthread_mutex_lock(&j->lock);
    *records = j->records;
    *bytes = j->bytes;
    *oldest = j->oldest;
    *disk = j->disk;
    pthread_mutex_unlock(&j->lock);
}

/* cs_journal_wait - the replayer's idle wait: an append, a kick, or ms */
void    cs_journal_wait(cs_journal *j, long ms)
{
    struct timespec ts;
    unsigned long seen;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
	ts.tv_sec++;
	ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->lock);
    seen = j->appends;
    while (j->appends == seen && pthread_cond_timedwait(&j->cond, &j->lock, &ts) == 0)
	;
    pthread_mutex_unlock(&j->lock);
}

/* cs_journal_kick - wake the replayer */
void    cs_journal_kick(cs_journal *j)
{
    pthread_mutex_lock(&j->lock);
    j->appends++;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}
