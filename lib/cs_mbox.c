/*
 * NAME
 *	cs_mbox 3
 * SUMMARY
 *	Maildir and mbox readers for the backfill importer (SPEC X4, S3, T2)
 * DESCRIPTION
 *	See cs_mbox.h. One line reader (a fixed buffer; a line longer than
 *	the buffer comes in pieces, only its first piece "at the start of a
 *	line") feeds one message builder, which spools the bytes, keeps the
 *	header block and digests the body. The mbox splitter and the Maildir
 *	walker only decide where messages start and end.
 */
#include <config.h>

/* System library. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_spool.h"
#include "cs_digest.h"

/* Application-specific. */
#include "cs_mbox.h"

#define CS_MBOX_BUF		65536	/* read buffer: longer lines come in pieces */
#define CS_MBOX_HEADER_MAX	(1u << 20)
#define CS_MBOX_LABEL_MAX	1024
#define CS_MBOX_FOLDERS_MAX	100000	/* more is not a mailbox, it is an attack */

/* A buffered reader of lines; a line longer than the buffer is cut. */
typedef struct cs_lr {
    int     fd;
    char   *buf;
    size_t  start, end;
    uint64_t base;			/* file offset of buf[0] */
    int     eof;
    int     err;			/* errno of a failed read */
} cs_lr;

/* Building one message. */
typedef struct cs_mb {
    cs_mbox_msg *m;
    cs_bodyhash *bh;
    int     in_header;
    int     first;			/* no line seen yet */
} cs_mb;

struct cs_mbox {
    int     kind;
    cs_mbox_opts o;
    char   *root;
    cs_lr   r;
    /* Maildir */
    cs_strlist folders;			/* ".Name" directories, sorted */
    size_t  fi;				/* 0 INBOX, then folders.v[fi - 1] */
    int     sub;			/* 0 cur, 1 new, 2 done with fi */
    int     rootfd;			/* the Maildir, opened without following */
    DIR    *dir;
    char   *dirpath;
    char   *label;
    /* mbox */
    int     fd;
    int     own_fd;
    int     started;
    int     done;
};

/* lr_reset - read a new descriptor from its start */
static void lr_reset(cs_lr *r, int fd)
{
    r->fd = fd;
    r->start = r->end = 0;
    r->base = 0;
    r->eof = 0;
    r->err = 0;
}

/* lr_peek - the next line or piece: 1, 0 at end, -1 read error */
static int lr_peek(cs_lr *r, const char **p, size_t *len, int *complete)
{
    char   *nl;
    ssize_t got;

    for (;;) {
	if (r->end > r->start
	    && (nl = memchr(r->buf + r->start, '\n', r->end - r->start)) != NULL) {
	    *p = r->buf + r->start;
	    *len = (size_t) (nl - *p) + 1;
	    *complete = 1;
	    return 1;
	}
	if (r->eof || r->err || (r->start == 0 && r->end == CS_MBOX_BUF)) {
	    if (r->end == r->start)
		return r->err ? -1 : 0;
	    *p = r->buf + r->start;
	    *len = r->end - r->start;
	    *complete = 0;
	    return 1;
	}
	if (r->start > 0) {
	    memmove(r->buf, r->buf + r->start, r->end - r->start);
	    r->base += r->start;
	    r->end -= r->start;
	    r->start = 0;
	}
	got = read(r->fd, r->buf + r->end, CS_MBOX_BUF - r->end);
	if (got < 0 && errno == EINTR)
	    continue;
	if (got < 0)
	    r->err = errno ? errno : EIO;
	else if (got == 0)
	    r->eof = 1;
	else
	    r->end += (size_t) got;
    }
}

/* lr_consume - drop what lr_peek returned */
static void lr_consume(cs_lr *r, size_t len)
{
    r->start += len;
}

/* lr_offset - file offset of the next byte */
static uint64_t lr_offset(const cs_lr *r)
{
    return r->base + r->start;
}

/* is_empty_line - "\n" or "\r\n" */
static int is_empty_line(const char *p, size_t len)
{
    return (len == 1 && p[0] == '\n') || (len == 2 && p[0] == '\r' && p[1] == '\n');
}

/* is_header_field - does the line start "name:" (RFC 5322 ftext, WSP allowed
 * before the colon as obsolete syntax does)? */
static int is_header_field(const char *p, size_t len)
{
    size_t  i = 0;

    while (i < len && (unsigned char) p[i] > 32 && (unsigned char) p[i] < 127 && p[i] != ':')
	i++;
    if (i == 0)
	return 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
	i++;
    return i < len && p[i] == ':';
}

/* cs_mbox_msg_free - release a message and zero it */
void    cs_mbox_msg_free(cs_mbox_msg *m)
{
    if (m == NULL)
	return;
    free(m->path);
    free(m->folder);
    cs_buf_free(&m->header);
    if (m->raw)
	cs_spool_unref(m->raw);
    memset(m, 0, sizeof(*m));
}

/* mb_begin - start a message; -1 on ENOMEM */
static int mb_begin(cs_mbox *mb, cs_mb *b, cs_mbox_msg *m, const char *path, uint64_t off)
{
    cs_mbox_msg_free(m);
    memset(b, 0, sizeof(*b));
    b->m = m;
    b->in_header = 1;
    b->first = 1;
    m->offset = off;
    m->header.limit = mb->o.header_max ? mb->o.header_max : CS_MBOX_HEADER_MAX;
    if ((m->path = cs_strdup(path ? path : "")) == NULL
	|| (mb->label && (m->folder = cs_strdup(mb->label)) == NULL)
	|| (m->raw = cs_spool_new(mb->o.spool_dir, mb->o.spool_threshold,
				  mb->o.max_size)) == NULL
	|| (b->bh = cs_bodyhash_new()) == NULL) {
	cs_bodyhash_free(b->bh);
	b->bh = NULL;
	return -1;
    }
    return 0;
}

/* mb_feed - one line or piece of the message */
static void mb_feed(cs_mb *b, const char *p, size_t len, int bol)
{
    cs_mbox_msg *m = b->m;

    if (m->damaged)
	return;
    if (b->first) {
	b->first = 0;
	if (!is_header_field(p, len)) {
	    m->damaged = "no header field at the start: not a message";
	    return;
	}
    }
    if (cs_spool_write(m->raw, p, len) < 0) {
	m->damaged = "cannot spool the message (SpoolDir full or not writable?)";
	return;
    }
    if (b->in_header) {
	if (bol && is_empty_line(p, len)) {
	    b->in_header = 0;
	    return;
	}
	if (!m->header_truncated && cs_buf_append(&m->header, p, len) < 0)
	    m->header_truncated = 1;
	return;
    }
    /* The body as the milter digests it: everything after the empty line. */
    cs_bodyhash_update(b->bh, p, len);
}

/* mb_end - finish the digest */
static void mb_end(cs_mb *b)
{
    cs_mbox_msg *m = b->m;

    if (b->first && !m->damaged)
	m->damaged = "empty message";
    if (m->header.data == NULL && cs_buf_append(&m->header, "", 0) < 0 && !m->damaged)
	m->damaged = "out of memory";
    cs_bodyhash_final(b->bh, m->body_digest);
    b->bh = NULL;
}

/* ---------------------------------------------------------------- helpers */

/* cs_maildir_name_time - leading digits of a Maildir file name */
int     cs_maildir_name_time(const char *name, time_t *t)
{
    long long v = 0;
    size_t  i;

    for (i = 0; name[i] >= '0' && name[i] <= '9'; i++) {
	if (i >= 12)
	    return -1;
	v = v * 10 + (name[i] - '0');
    }
    /* Maildir names are "time.unique.host"; anything else is not a time. */
    if (i == 0 || (name[i] != '.' && name[i] != '_' && name[i] != 0) || v <= 0)
	return -1;
    *t = (time_t) v;
    return 0;
}

/* b64_value - modified base64 (RFC 3501: ',' for '/'), -1 if not */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
	return c - 'A';
    if (c >= 'a' && c <= 'z')
	return c - 'a' + 26;
    if (c >= '0' && c <= '9')
	return c - '0' + 52;
    if (c == '+')
	return 62;
    if (c == ',')
	return 63;
    return -1;
}

/* put_utf8 - append one code point; -1 when it does not fit */
static int put_utf8(unsigned long cp, char *out, size_t outlen, size_t *o)
{
    unsigned char u[4];
    size_t  n;

    if (cp < 0x80) {
	u[0] = (unsigned char) cp;
	n = 1;
    } else if (cp < 0x800) {
	u[0] = (unsigned char) (0xC0 | (cp >> 6));
	u[1] = (unsigned char) (0x80 | (cp & 0x3F));
	n = 2;
    } else if (cp < 0x10000) {
	u[0] = (unsigned char) (0xE0 | (cp >> 12));
	u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	u[2] = (unsigned char) (0x80 | (cp & 0x3F));
	n = 3;
    } else {
	u[0] = (unsigned char) (0xF0 | (cp >> 18));
	u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
	u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	u[3] = (unsigned char) (0x80 | (cp & 0x3F));
	n = 4;
    }
    if (*o + n >= outlen)
	return -1;
    memcpy(out + *o, u, n);
    *o += n;
    return 0;
}

/* mutf7_decode - one folder level in modified UTF-7 to UTF-8; -1 if junk */
static int mutf7_decode(const char *s, size_t len, char *out, size_t outlen, size_t *o)
{
    size_t  i = 0;

    while (i < len) {
	unsigned char c = (unsigned char) s[i];
	unsigned long bits = 0, hi = 0;
	int     nbits = 0, any = 0;

	if (c != '&') {
	    /* Printable US-ASCII stands for itself; the rest is not mUTF-7. */
	    if (c < 0x20 || c > 0x7e || *o + 1 >= outlen)
		return -1;
	    out[(*o)++] = (char) c;
	    i++;
	    continue;
	}
	if (++i < len && s[i] == '-') {		/* "&-" is "&" */
	    if (*o + 1 >= outlen)
		return -1;
	    out[(*o)++] = '&';
	    i++;
	    continue;
	}
	for (; i < len && s[i] != '-'; i++) {
	    int     v = b64_value((unsigned char) s[i]);

	    if (v < 0)
		return -1;
	    bits = (bits << 6) | (unsigned long) v;
	    nbits += 6;
	    if (nbits >= 16) {
		unsigned long u = (bits >> (nbits - 16)) & 0xFFFF;

		nbits -= 16;
		bits &= (1UL << nbits) - 1;
		any = 1;
		if (hi) {
		    if (u < 0xDC00 || u > 0xDFFF)
			return -1;
		    if (put_utf8(0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00), out, outlen, o) < 0)
			return -1;
		    hi = 0;
		} else if (u >= 0xD800 && u <= 0xDBFF) {
		    hi = u;
		} else if ((u >= 0xDC00 && u <= 0xDFFF) || u < 0x20 || (u >= 0x7f && u < 0xa0)) {
		    return -1;
		} else if (put_utf8(u, out, outlen, o) < 0) {
		    return -1;
		}
	    }
	}
	/* Unterminated, empty, a dangling surrogate or leftover bits set. */
	if (i >= len || !any || hi || nbits >= 6 || bits != 0)
	    return -1;
	i++;					/* the '-' */
    }
    return 0;
}

/* cs_maildir_folder_label - ".Sales.Q4" -> "Sales/Q4" */
int     cs_maildir_folder_label(const char *name, char *out, size_t outlen)
{
    const char *p, *e;
    size_t  o = 0, level;

    if (name == NULL || name[0] != '.' || name[1] == 0 || strcmp(name, "..") == 0
	|| outlen < 2)
	return -1;
    for (p = name + 1;; p = e + 1) {
	e = strchr(p, '.');
	if (e == NULL)
	    e = p + strlen(p);
	if (e == p)
	    return -1;				/* empty level: ".a..b", ".a." */
	if (o > 0) {
	    if (o + 1 >= outlen)
		return -1;
	    out[o++] = '/';
	}
	level = o;
	if (mutf7_decode(p, (size_t) (e - p), out, outlen, &o) < 0) {
	    /* Not mUTF-7 (an 8-bit name): printable bytes kept, others '?'. */
	    o = level;
	    for (const char *q = p; q < e; q++) {
		if (o + 1 >= outlen)
		    return -1;
		out[o++] = (unsigned char) *q >= 0x20 && (unsigned char) *q < 0x7f ? *q : '?';
	    }
	}
	if (*e == 0)
	    break;
    }
    out[o] = 0;
    return 0;
}

/* word_in - index of a 3-letter word in a list, -1 if absent */
static int word_in(const char *p, const char *const *list, int n)
{
    for (int i = 0; i < n; i++)
	if (strncasecmp(p, list[i], 3) == 0)
	    return i;
    return -1;
}

/* digits - parse 1..max digits at *p; -1 if none */
static int digits(const char **p, const char *e, int max)
{
    int     v = 0, n = 0;

    while (*p < e && n < max && **p >= '0' && **p <= '9') {
	v = v * 10 + (**p - '0');
	(*p)++;
	n++;
    }
    return n ? v : -1;
}

/* zone - "+hhmm"/"-hhmm" offset in seconds, or a UTC name; 1 if found */
static int zone(const char **pp, const char *e, long *off, int *utc)
{
    const char *p = *pp;

    if (p < e && (*p == '+' || *p == '-') && e - p >= 5) {
	int     sign = *p == '-' ? -1 : 1, v;
	const char *q = p + 1;

	if ((v = digits(&q, e, 4)) < 0 || q - p != 5 || v % 100 > 59 || v / 100 > 23)
	    return 0;
	*off = sign * ((v / 100) * 3600L + (v % 100) * 60L);
	*utc = 1;
	*pp = q;
	return 1;
    }
    if (e - p >= 3 && (strncmp(p, "UTC", 3) == 0 || strncmp(p, "GMT", 3) == 0)) {
	*off = 0;
	*utc = 1;
	*pp = p + 3;
	return 1;
    }
    if (p < e && *p >= 'A' && *p <= 'Z') {
	/* Another zone name: no offset known, taken as local time. */
	while (p < e && *p >= 'A' && *p <= 'Z')
	    p++;
	*pp = p;
	return 1;
    }
    return 0;
}

/* asctime_at - "Www Mmm dd hh:mm[:ss] [zone ]yyyy[ zone]" at p; 0 if so */
static int asctime_at(const char *p, const char *e, time_t *t)
{
    static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    long    off = 0;
    int     utc = 0, mon, v;
    time_t  r;

    if (e - p < 20 || word_in(p, wdays, 7) < 0 || p[3] != ' ')
	return -1;
    p += 4;
    if ((mon = word_in(p, months, 12)) < 0 || p[3] != ' ')
	return -1;
    p += 4;
    memset(&tm, 0, sizeof(tm));
    tm.tm_mon = mon;
    while (p < e && *p == ' ')
	p++;
    if ((tm.tm_mday = digits(&p, e, 2)) < 1 || tm.tm_mday > 31 || p >= e || *p++ != ' ')
	return -1;
    while (p < e && *p == ' ')
	p++;
    if ((tm.tm_hour = digits(&p, e, 2)) < 0 || tm.tm_hour > 23 || p >= e || *p++ != ':')
	return -1;
    if ((tm.tm_min = digits(&p, e, 2)) < 0 || tm.tm_min > 59)
	return -1;
    if (p < e && *p == ':') {
	p++;
	if ((tm.tm_sec = digits(&p, e, 2)) < 0 || tm.tm_sec > 60)
	    return -1;
    }
    if (p >= e || *p++ != ' ')
	return -1;
    if (zone(&p, e, &off, &utc) && (p >= e || *p++ != ' '))
	return -1;
    if ((v = digits(&p, e, 4)) < 1970 || v > 9999)
	return -1;
    tm.tm_year = v - 1900;
    if (p < e && *p == ' ') {
	const char *q = p + 1;

	if (!utc)
	    (void) zone(&q, e, &off, &utc);
    }
    if (utc) {
	if ((r = timegm(&tm)) == (time_t) -1)
	    return -1;
	r -= off;
    } else {
	/* Local time of the host that wrote the mbox, as traditional. */
	tm.tm_isdst = -1;
	if ((r = mktime(&tm)) == (time_t) -1)
	    return -1;
    }
    *t = r;
    return 0;
}

/* cs_mbox_from_time - the date of a From_ line */
int     cs_mbox_from_time(const char *line, size_t len, time_t *t)
{
    const char *e;

    if (!cs_mbox_is_from_line(line, len))
	return -1;
    /* The sender may hold spaces ("From "a b"@c ..."): look for the date. */
    if (len > 1024)
	len = 1024;
    e = line + len;
    while (e > line && (e[-1] == '\n' || e[-1] == '\r'))
	e--;
    for (const char *p = line + 5; p + 20 <= e; p++)
	if ((p[-1] == ' ' || p[-1] == '\t') && asctime_at(p, e, t) == 0)
	    return 0;
    return -1;
}

/* cs_mbox_is_from_line - "From " at the start of a line */
int     cs_mbox_is_from_line(const char *line, size_t len)
{
    return len >= 5 && memcmp(line, "From ", 5) == 0;
}

/* cs_mbox_unquote - mboxrd: ">From ", ">>From " ... lose one '>' */
size_t  cs_mbox_unquote(const char *line, size_t len)
{
    size_t  i = 0;

    while (i < len && line[i] == '>')
	i++;
    return i > 0 && len - i >= 5 && memcmp(line + i, "From ", 5) == 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- mbox */

/* mbox_next - the next message of an mbox stream */
static int mbox_next(cs_mbox *mb, cs_mbox_msg *m, char *err, size_t errlen)
{
    cs_mb   b;
    const char *p;
    size_t  len;
    int     complete, rc, bol = 1;
    char    pending[2];
    size_t  npending = 0;
    uint64_t off;
    time_t  t;

    if (mb->done)
	return 0;
    /* Lines before the first From_ line (fuzzed or mangled files) are not mail. */
    while (!mb->started) {
	if ((rc = lr_peek(&mb->r, &p, &len, &complete)) <= 0) {
	    mb->done = 1;
	    return 0;
	}
	if (bol && cs_mbox_is_from_line(p, len)) {
	    mb->started = 1;
	    break;
	}
	lr_consume(&mb->r, len);
	bol = complete;
    }
    /* Here: at the start of a From_ line. */
    off = lr_offset(&mb->r);
    if ((rc = lr_peek(&mb->r, &p, &len, &complete)) <= 0) {
	mb->done = 1;
	return 0;
    }
    if (mb_begin(mb, &b, m, mb->root, off) < 0) {
	snprintf(err, errlen, "out of memory");
	return -1;
    }
    if (cs_mbox_from_time(p, len, &t) == 0) {
	m->file_time = t;
	m->has_file_time = 1;
    }
    for (;;) {				/* the rest of an overlong From_ line */
	lr_consume(&mb->r, len);
	if (complete || lr_peek(&mb->r, &p, &len, &complete) <= 0)
	    break;
    }
    bol = 1;
    for (;;) {
	if ((rc = lr_peek(&mb->r, &p, &len, &complete)) == 0)
	    break;
	if (rc < 0) {
	    if (!m->damaged)
		m->damaged = "read error";
	    mb->done = 1;
	    break;
	}
	if (bol && npending && cs_mbox_is_from_line(p, len))
	    break;				/* the next message; keep its line */
	if (bol && complete && is_empty_line(p, len)) {
	    /* Held back: the empty line before a From_ line is the separator. */
	    if (npending)
		mb_feed(&b, pending, npending, 1);
	    memcpy(pending, p, len);
	    npending = len;
	    lr_consume(&mb->r, len);
	    continue;
	}
	if (npending) {
	    mb_feed(&b, pending, npending, 1);
	    npending = 0;
	}
	if (bol) {
	    size_t  skip = cs_mbox_unquote(p, len);

	    mb_feed(&b, p + skip, len - skip, 1);
	} else
	    mb_feed(&b, p, len, 0);
	lr_consume(&mb->r, len);
	bol = complete;
    }
    if (rc == 0)
	mb->done = 1;
    mb_end(&b);
    return 1;
}

/* ---------------------------------------------------------------- Maildir */

/* maildir_read - one message file, name in the open folder (X4: never a link) */
static void maildir_read(cs_mbox *mb, cs_mbox_msg *m, cs_mb *b, const char *name)
{
    const char *p;
    size_t  len;
    int     complete, rc, fd, bol = 1, first = 1, skip_from = 0;
    struct stat st;

    fd = openat(dirfd(mb->dir), name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
	/* ELOOP: it became a link after readdir; still not followed. */
	m->symlink = errno == ELOOP;
	m->damaged = errno == ELOOP ? "a symbolic link: not followed"
	    : errno == ENOENT ? "vanished while reading (moved by the IMAP server?)"
	    : errno == EACCES ? "permission denied" : "cannot open";
	return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
	m->damaged = "not a regular file";
	close(fd);
	return;
    }
    lr_reset(&mb->r, fd);
    while ((rc = lr_peek(&mb->r, &p, &len, &complete)) > 0) {
	/* Some tools keep an mbox From_ line at the top of Maildir files. */
	if (first && cs_mbox_is_from_line(p, len))
	    skip_from = 1;
	if (!skip_from)
	    mb_feed(b, p, len, bol);
	lr_consume(&mb->r, len);
	if (m->damaged)
	    break;
	first = 0;
	if (complete)
	    skip_from = 0;
	bol = complete;
    }
    if (rc < 0 && !m->damaged)
	m->damaged = "read error";
    close(fd);
}

/* is_link - is name in dir a symbolic link? (not followed) */
static int is_link(int dir, const char *name)
{
    struct stat st;

    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* link_entry - X4: report a symbolic link as an entry of its own */
static int link_entry(cs_mbox *mb, cs_mbox_msg *m, const char *path)
{
    cs_mbox_msg_free(m);
    if ((m->path = cs_strdup(path)) == NULL
	|| (mb->label && (m->folder = cs_strdup(mb->label)) == NULL))
	return -1;
    m->symlink = 1;
    m->damaged = "a symbolic link: not followed";
    return 0;
}

/* has_subdir - does dir/name exist as a directory, or a link to report? */
static int has_subdir(int dir, const char *name)
{
    struct stat st;

    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0
	&& (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode));
}

/* is_maildir - cur/ or new/ present (a link there is read as a link) */
static int is_maildir(int dir, const char *sub)
{
    char    path[4096];

    if (sub == NULL)
	return has_subdir(dir, "cur") || has_subdir(dir, "new");
    if ((size_t) snprintf(path, sizeof(path), "%s/cur", sub) >= sizeof(path))
	return 0;
    if (has_subdir(dir, path))
	return 1;
    snprintf(path, sizeof(path), "%s/new", sub);
    return has_subdir(dir, path);
}

/* strcmp_p - qsort on string pointers */
static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* maildir_folders - the Maildir++ folder directories (and links), in name order */
static int maildir_folders(cs_mbox *mb, char *err, size_t errlen)
{
    DIR    *d;
    struct dirent *de;
    char    label[CS_MBOX_LABEL_MAX];
    int     fd;

    if ((fd = dup(mb->rootfd)) < 0 || (d = fdopendir(fd)) == NULL) {
	snprintf(err, errlen, "%s: %s", mb->root, strerror(errno));
	if (fd >= 0)
	    close(fd);
	return -1;
    }
    while ((de = readdir(d)) != NULL) {
	if (cs_maildir_folder_label(de->d_name, label, sizeof(label)) < 0)
	    continue;
	/* X4: a folder that is a link is kept, to be reported and skipped. */
	if (!is_link(mb->rootfd, de->d_name) && !is_maildir(mb->rootfd, de->d_name))
	    continue;
	if (mb->folders.n >= CS_MBOX_FOLDERS_MAX || cs_strlist_add(&mb->folders, de->d_name) < 0) {
	    snprintf(err, errlen, "%s: too many folders or out of memory", mb->root);
	    closedir(d);
	    return -1;
	}
    }
    closedir(d);
    if (mb->folders.n > 1)
	qsort(mb->folders.v, mb->folders.n, sizeof(char *), strcmp_p);
    return 0;
}

/*
 * maildir_open_dir - open cur/ or new/ of folder fi without following a
 * link (X4): 1 opened, 0 absent, 2 an unreadable folder entry, 3 a link
 * entry for cur/ or new/, 4 a link entry for the whole folder.
 */
static int maildir_open_dir(cs_mbox *mb, cs_mbox_msg *m, cs_mb *b)
{
    char    label[CS_MBOX_LABEL_MAX];
    cs_buf  path = {0};
    const char *sub = mb->sub == 0 ? "cur" : "new";
    const int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int     rc, dfd = mb->rootfd, fd, e;

    free(mb->label);
    mb->label = NULL;
    free(mb->dirpath);
    mb->dirpath = NULL;
    if (mb->fi == 0)
	rc = cs_buf_appendf(&path, "%s/%s", mb->root, sub);
    else {
	const char *folder = mb->folders.v[mb->fi - 1];

	if (cs_maildir_folder_label(folder, label, sizeof(label)) == 0
	    && (mb->label = cs_strdup(label)) == NULL) {
	    cs_buf_free(&path);
	    return -1;
	}
	if ((dfd = openat(mb->rootfd, folder, dflags)) < 0) {
	    e = errno;
	    if (e == ENOENT)
		return 0;
	    if (cs_buf_appendf(&path, "%s/%s", mb->root, folder) < 0)
		return -1;
	    if (e == ELOOP || is_link(mb->rootfd, folder)) {
		rc = link_entry(mb, m, path.data);
		cs_buf_free(&path);
		return rc < 0 ? -1 : 4;
	    }
	    mb->dirpath = path.data;
	    goto unreadable;
	}
	rc = cs_buf_appendf(&path, "%s/%s/%s", mb->root, folder, sub);
    }
    if (rc < 0 || path.data == NULL) {
	if (dfd != mb->rootfd)
	    close(dfd);
	cs_buf_free(&path);
	return -1;
    }
    mb->dirpath = path.data;
    fd = openat(dfd, sub, dflags);
    e = fd < 0 ? errno : 0;
    if (fd < 0 && (e == ELOOP || is_link(dfd, sub))) {
	if (dfd != mb->rootfd)
	    close(dfd);
	return link_entry(mb, m, mb->dirpath) < 0 ? -1 : 3;
    }
    if (fd < 0 && e == ENOENT) {
	if (dfd != mb->rootfd)
	    close(dfd);
	return 0;
    }
    if (dfd != mb->rootfd)
	close(dfd);
    if (fd >= 0 && (mb->dir = fdopendir(fd)) != NULL)
	return 1;
    if (fd >= 0)
	close(fd);
unreadable:
    /* An unreadable folder is reported like an unreadable message. */
    if (mb_begin(mb, b, m, mb->dirpath, 0) < 0)
	return -1;
    m->damaged = "cannot read this folder";
    mb_end(b);
    return 2;
}

/* maildir_next - the next message file of the Maildir */
static int maildir_next(cs_mbox *mb, cs_mbox_msg *m, char *err, size_t errlen)
{
    cs_mb   b;
    struct dirent *de;
    cs_buf  path = {0};
    time_t  t;
    int     rc;

    for (;;) {
	if (mb->dir == NULL) {
	    if (mb->sub >= 2) {
		mb->sub = 0;
		mb->fi++;
	    }
	    if (mb->fi > mb->folders.n)
		return 0;
	    rc = maildir_open_dir(mb, m, &b);
	    if (rc != 1)
		mb->sub = rc == 4 ? 2 : mb->sub + 1;
	    if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	    }
	    if (rc >= 2)
		return 1;
	    if (rc == 0)
		continue;
	}
	errno = 0;
	if ((de = readdir(mb->dir)) == NULL) {
	    closedir(mb->dir);
	    mb->dir = NULL;
	    mb->sub++;
	    continue;
	}
	if (de->d_name[0] == '.' || de->d_type == DT_DIR)
	    continue;
	if (cs_buf_appendf(&path, "%s/%s", mb->dirpath, de->d_name) < 0) {
	    snprintf(err, errlen, "out of memory");
	    return -1;
	}
	/* X4: a link is reported, never opened. */
	if (de->d_type == DT_LNK
	    || (de->d_type == DT_UNKNOWN && is_link(dirfd(mb->dir), de->d_name))) {
	    rc = link_entry(mb, m, path.data);
	    cs_buf_free(&path);
	    if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	    }
	    return 1;
	}
	if (mb_begin(mb, &b, m, path.data, 0) < 0) {
	    cs_buf_free(&path);
	    snprintf(err, errlen, "out of memory");
	    return -1;
	}
	if (cs_maildir_name_time(de->d_name, &t) == 0) {
	    m->file_time = t;
	    m->has_file_time = 1;
	}
	maildir_read(mb, m, &b, de->d_name);
	mb_end(&b);
	cs_buf_free(&path);
	return 1;
    }
}

/* ---------------------------------------------------------------- interface */

/* mbox_new - common part of the constructors */
static cs_mbox *mbox_new(const char *path, const cs_mbox_opts *o)
{
    cs_mbox *mb;

    if ((mb = calloc(1, sizeof(*mb))) == NULL)
	return NULL;
    mb->fd = -1;
    mb->rootfd = -1;
    if (o)
	mb->o = *o;
    if ((mb->root = cs_strdup(path)) == NULL || (mb->r.buf = malloc(CS_MBOX_BUF)) == NULL) {
	cs_mbox_close(mb);
	return NULL;
    }
    return mb;
}

/* cs_mbox_open - a Maildir or an mbox, whichever PATH is */
cs_mbox *cs_mbox_open(const char *path, const cs_mbox_opts *o, char *err, size_t errlen)
{
    cs_mbox *mb;
    struct stat st;
    char    head[5];
    ssize_t got;
    size_t  len;

    /* X4: PATH itself is not followed either; the administrator names the real one. */
    if (path == NULL || lstat(path, &st) < 0) {
	snprintf(err, errlen, "%s: %s", path ? path : "(null)", strerror(errno));
	return NULL;
    }
    if (S_ISLNK(st.st_mode)) {
	snprintf(err, errlen, "%s: a symbolic link; links are not followed, give the path"
		 " it points to", path);
	return NULL;
    }
    if ((mb = mbox_new(path, o)) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    /* A trailing slash would double in every path printed. */
    len = strlen(mb->root);
    while (len > 1 && mb->root[len - 1] == '/')
	mb->root[--len] = 0;
    if (S_ISDIR(st.st_mode)) {
	if ((mb->rootfd = open(mb->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
	    snprintf(err, errlen, "%s: %s", path, strerror(errno));
	    cs_mbox_close(mb);
	    return NULL;
	}
	if (!is_maildir(mb->rootfd, NULL)) {
	    snprintf(err, errlen, "%s: a directory without cur/ or new/ is not a Maildir", path);
	    cs_mbox_close(mb);
	    return NULL;
	}
	mb->kind = CS_MBOX_MAILDIR;
	if (maildir_folders(mb, err, errlen) < 0) {
	    cs_mbox_close(mb);
	    return NULL;
	}
	return mb;
    }
    if (!S_ISREG(st.st_mode)) {
	snprintf(err, errlen, "%s: neither a Maildir nor an mbox file", path);
	cs_mbox_close(mb);
	return NULL;
    }
    if ((mb->fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW)) < 0
	|| fstat(mb->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
	snprintf(err, errlen, "%s: %s", path, mb->fd < 0 ? strerror(errno)
		 : "not a regular file");
	if (mb->fd >= 0)
	    close(mb->fd);
	mb->fd = -1;
	cs_mbox_close(mb);
	return NULL;
    }
    mb->own_fd = 1;
    do
	got = pread(mb->fd, head, sizeof(head), 0);
    while (got < 0 && errno == EINTR);
    if (got != 0 && (got != 5 || memcmp(head, "From ", 5) != 0)) {
	snprintf(err, errlen, "%s: %s", path, got < 0 ? strerror(errno)
		 : "not an mbox (does not start with \"From \") and not a Maildir");
	cs_mbox_close(mb);
	return NULL;
    }
    mb->kind = CS_MBOX_MBOX;
    lr_reset(&mb->r, mb->fd);
    return mb;
}

/* cs_mbox_open_fd - an mbox stream on a descriptor the caller keeps */
cs_mbox *cs_mbox_open_fd(int fd, const char *name, const cs_mbox_opts *o)
{
    cs_mbox *mb;

    if (fd < 0 || (mb = mbox_new(name ? name : "-", o)) == NULL)
	return NULL;
    mb->kind = CS_MBOX_MBOX;
    mb->fd = fd;
    lr_reset(&mb->r, fd);
    return mb;
}

/* cs_mbox_kind - CS_MBOX_MAILDIR or CS_MBOX_MBOX */
int     cs_mbox_kind(const cs_mbox *mb)
{
    return mb ? mb->kind : 0;
}

/* cs_mbox_next - the next message */
int     cs_mbox_next(cs_mbox *mb, cs_mbox_msg *m, char *err, size_t errlen)
{
    if (err && errlen)
	*err = 0;
    cs_mbox_msg_free(m);
    if (mb == NULL)
	return -1;
    return mb->kind == CS_MBOX_MAILDIR ? maildir_next(mb, m, err, errlen)
	: mbox_next(mb, m, err, errlen);
}

/* cs_mbox_close - release everything */
void    cs_mbox_close(cs_mbox *mb)
{
    if (mb == NULL)
	return;
    if (mb->dir)
	closedir(mb->dir);
    if (mb->own_fd && mb->fd >= 0)
	close(mb->fd);
    if (mb->rootfd >= 0)
	close(mb->rootfd);
    cs_strlist_free(&mb->folders);
    free(mb->dirpath);
    free(mb->label);
    free(mb->root);
    free(mb->r.buf);
    free(mb);
}
