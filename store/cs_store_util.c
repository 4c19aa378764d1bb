/*
 * NAME
 *	cs_store_util 3
 * SUMMARY
 *	small pure helpers both store dialects use, written once
 * DESCRIPTION
 *	See cs_store_util.h.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Utility library. */
#include "cs_digest.h"

/* Application-specific. */
#include "cs_addr.h"
#include "cs_store.h"
#include "cs_store_impl.h"
#include "cs_store_util.h"

/* cs_thread_id - parse "t<n>" strictly; 0 if it is not a thread id */
long long cs_thread_id(const char *s)
{
    long long v = 0;

    if (s == NULL || s[0] != 't' || s[1] < '1' || s[1] > '9')
	return 0;
    for (s++; *s; s++) {
	if (*s < '0' || *s > '9' || v > 99999999999999LL)
	    return 0;
	v = v * 10 + (*s - '0');
    }
    return v;
}

/* cs_thread_num - "t<n>" or "<n>" to n; 0 if NULL or malformed */
long long cs_thread_num(const char *s)
{
    long long v = 0;

    if (s == NULL)
	return 0;
    if (*s == 't')
	s++;
    if (*s == 0)
	return 0;
    for (; *s; s++) {
	if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
	    return 0;
	v = v * 10 + (*s - '0');
    }
    return v;
}

/* cs_cursor_encode - opaque keyset cursor: hex of "last_date:id" */
void    cs_cursor_encode(long long last, long long id, char *out, size_t outlen)
{
    char    plain[48];
    size_t  i, n;

    n = (size_t) snprintf(plain, sizeof(plain), "%lld:%lld", last, id);
    for (i = 0; i < n && 2 * i + 2 < outlen; i++)
	snprintf(out + 2 * i, 3, "%02x", (unsigned char) plain[i]);
}

/* hexval - value of a lower-case hex digit, -1 otherwise */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
	return c - '0';
    if (c >= 'a' && c <= 'f')
	return c - 'a' + 10;
    return -1;
}

/* cs_cursor_decode - parse a cursor strictly; -1 if it is not one of ours */
int     cs_cursor_decode(const char *c, long long *last, long long *id)
{
    char    plain[48], *end;
    size_t  i, n = strlen(c);
    long long a, b;

    if (n == 0 || n % 2 || n / 2 >= sizeof(plain))
	return -1;
    for (i = 0; i < n / 2; i++) {
	int     hi = hexval(c[2 * i]), lo = hexval(c[2 * i + 1]);

	if (hi < 0 || lo < 0)
	    return -1;
	plain[i] = (char) (hi * 16 + lo);
    }
    plain[n / 2] = 0;
    errno = 0;
    a = strtoll(plain, &end, 10);
    if (end == plain || *end != ':' || errno)
	return -1;
    b = strtoll(end + 1, &end, 10);
    if (*end != 0 || errno || b <= 0)
	return -1;
    *last = a;
    *id = b;
    return 0;
}

/* cs_iso_now_ms - now as ISO 8601 UTC with milliseconds */
time_t  cs_iso_now_ms(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    char    base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) == NULL
	|| strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
	snprintf(base, sizeof(base), "1970-01-01T00:00:00");
    snprintf(out, outlen, "%.20s.%03dZ", base, (int) ((ts.tv_nsec / 1000000L) % 1000));
    return ts.tv_sec;
}

/*
 * cs_uuid7 - a time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix
 * milliseconds, then 74 random bits. Ids made later sort later, so the
 * events table's unique index on them grows at its end instead of
 * dirtying a random page per event (each a page written to the WAL at
 * commit and again at checkpoint).
 */
int     cs_uuid7(char out[37])
{
    static const int group[5] = {4, 2, 2, 2, 6};	/* bytes per group */
    unsigned char b[16];
    struct timespec ts;
    unsigned long long ms;
    size_t  got = 6;
    ssize_t r;

    while (got < sizeof(b)) {
	if ((r = getrandom(b + got, sizeof(b) - got, 0)) < 0) {
	    if (errno == EINTR)
		continue;
	    return -1;
	}
	got += (size_t) r;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (unsigned long long) ts.tv_sec * 1000ULL + (unsigned long long) ts.tv_nsec / 1000000ULL;
    for (int i = 0; i < 6; i++)
	b[i] = (unsigned char) (ms >> (40 - 8 * i));
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x70);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits: each group's NUL becomes the next dash. */
    for (int g = 0, i = 0, o = 0; g < 5; g++) {
	cs_hex(b + i, (size_t) group[g], out + o);
	i += group[g];
	o += 2 * group[g];
	if (g < 4)
	    out[o++] = '-';
    }
    return 0;
}

/* cs_ids_has - is id in the set? */
int     cs_ids_has(const cs_ids *s, long long id)
{
    for (size_t i = 0; i < s->n; i++)
	if (s->v[i] == id)
	    return 1;
    return 0;
}

/* cs_ids_add - add an id once */
int     cs_ids_add(cs_ids *s, long long id)
{
    if (cs_ids_has(s, id))
	return 0;
    if (s->n == s->cap) {
	size_t  ncap = s->cap ? 2 * s->cap : 8;
	long long *nv = realloc(s->v, ncap * sizeof(*nv));

	if (nv == NULL)
	    return -1;
	s->v = nv;
	s->cap = ncap;
    }
    s->v[s->n++] = id;
    return 0;
}

/* cs_ids_free - release the set's memory */
void    cs_ids_free(cs_ids *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* cs_utf8_char - the UTF-8 character at s (n bytes left): length, code point */
size_t  cs_utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
    size_t  len, i;
    unsigned long v;

    if (s[0] < 0x80) {
	*cp = s[0];
	return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
	len = 2, v = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
	len = 3, v = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
	len = 4, v = s[0] & 0x07;
    else
	return 0;
    if (len > n)
	return 0;
    for (i = 1; i < len; i++) {
	if ((s[i] & 0xc0) != 0x80)
	    return 0;
	v = (v << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff))
	|| (v >= 0xd800 && v <= 0xdfff))
	return 0;
    *cp = v;
    return len;
}

/* cs_json_newline - a newline and depth levels of two spaces */
int     cs_json_newline(cs_buf *b, int depth)
{
    static const char spaces[] = "\n                                ";
    size_t  n = (size_t) depth * 2 + 1, k, off = 0;

    for (; n > 0; n -= k, off = 1)
	if (cs_buf_append(b, spaces + off, k = n < sizeof(spaces) - 1 - off ? n : sizeof(spaces) - 1 - off) < 0)
	    return -1;
    return 0;
}

/* cs_json_string - s (len bytes, UTF-8) as a JSON string, ASCII only or not */
int     cs_json_string(cs_buf *b, const char *s, size_t len, int ascii)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) s, *end = p + len, *run;
    unsigned long cp;
    char    esc[12];
    size_t  n, k;

    /* Nothing to escape (most strings): quotes and bytes in one go. */
    for (; p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\'; p++)
	 /* void */ ;
    if (p == end) {
	if (cs_buf_reserve(b, len + 2) < 0)
	    return -1;
	b->data[b->len] = '"';
	memcpy(b->data + b->len + 1, s, len);
	b->data[b->len + 1 + len] = '"';
	b->len += len + 2;
	b->data[b->len] = 0;
	return 0;
    }
    /* Else the plain bytes already scanned, then on from the first to escape. */
    if (cs_buf_append(b, "\"", 1) < 0
	|| cs_buf_append(b, s, (size_t) (p - (const unsigned char *) s)) < 0)
	return -1;
    while (p < end) {
	/* Runs of plain ASCII in one append. */
	for (run = p; p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\'; p++)
	     /* void */ ;
	if (p > run && cs_buf_append(b, run, (size_t) (p - run)) < 0)
	    return -1;
	if (p == end)
	    break;
	if ((n = cs_utf8_char(p, (size_t) (end - p), &cp)) == 0)
	    return -1;
	if (cp >= 0x80 && !ascii) {
	    if (cs_buf_append(b, p, n) < 0)
		return -1;
	    p += n;
	    continue;
	}
	p += n;
	k = 2;
	esc[0] = '\\';
	switch (cp) {
	case '"': esc[1] = '"'; break;
	case '\\': esc[1] = '\\'; break;
	case '\b': esc[1] = 'b'; break;
	case '\f': esc[1] = 'f'; break;
	case '\n': esc[1] = 'n'; break;
	case '\r': esc[1] = 'r'; break;
	case '\t': esc[1] = 't'; break;
	default:
	    /* Beyond the BMP: a UTF-16 surrogate pair, as jansson writes it. */
	    esc[1] = 'u';
	    if (cp >= 0x10000) {
		unsigned long hi = 0xd800 | ((cp - 0x10000) >> 10);

		for (int i = 0; i < 4; i++)
		    esc[2 + i] = hex[(hi >> (12 - 4 * i)) & 0xf];
		esc[6] = '\\';
		esc[7] = 'u';
		cp = 0xdc00 | ((cp - 0x10000) & 0x3ff);
		k = 8;
	    }
	    for (int i = 0; i < 4; i++)
		esc[k + i] = hex[(cp >> (12 - 4 * i)) & 0xf];
	    k += 4;
	}
	if (cs_buf_append(b, esc, k) < 0)
	    return -1;
    }
    return cs_buf_append(b, "\"", 1);
}

/* cs_json_int - v's decimal digits after prefix (printf was 5 % of a page) */
int     cs_json_int(cs_buf *b, const char *prefix, long long v)
{
    char    d[48], *p = d + sizeof(d);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
    size_t  k = strlen(prefix);

    do
	*--p = (char) ('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
	*--p = '-';
    if (k > (size_t) (p - d))
	return -1;
    p -= k;
    memcpy(p, prefix, k);
    return cs_buf_append(b, p, (size_t) (d + sizeof(d) - p));
}

/*
 * json_value - v at depth, as json_dumps writes it with the flags'
 * JSON_INDENT(2) and JSON_ENSURE_ASCII (JSON_COMPACT without the first).
 * In place of jansson's cycle check (a hash table entry per container,
 * a key formatted per object: a fifth of a page, a third of an event's
 * insert) nesting deeper than CS_JSON_DEPTH is refused.
 */
static int json_value(cs_buf *b, const json_t *v, int flags, int depth)
{
    int     indent = flags & CS_JSON_INDENT, ascii = (flags & CS_JSON_ASCII) != 0;
    size_t  i, n;
    void   *it;
    char   *t;
    int     rc;

    if (v == NULL || depth > CS_JSON_DEPTH)
	return -1;
    switch (json_typeof(v)) {
    case JSON_NULL:
	return cs_buf_append(b, "null", 4);
    case JSON_TRUE:
	return cs_buf_append(b, "true", 4);
    case JSON_FALSE:
	return cs_buf_append(b, "false", 5);
    case JSON_INTEGER:
	return cs_json_int(b, "", json_integer_value(v));
    case JSON_STRING:
	return cs_json_string(b, json_string_value(v), json_string_length(v), ascii);
    case JSON_ARRAY:
	if ((n = json_array_size(v)) == 0)
	    return cs_buf_append(b, "[]", 2);
	if (cs_buf_append(b, "[", 1) < 0)
	    return -1;
	for (i = 0; i < n; i++)
	    if ((i && cs_buf_append(b, ",", 1) < 0)
		|| (indent && cs_json_newline(b, depth + 1) < 0)
		|| json_value(b, json_array_get(v, i), flags, depth + 1) < 0)
		return -1;
	return indent && cs_json_newline(b, depth) < 0 ? -1 : cs_buf_append(b, "]", 1);
    case JSON_OBJECT:
	if ((it = json_object_iter((json_t *) v)) == NULL)
	    return cs_buf_append(b, "{}", 2);
	if (cs_buf_append(b, "{", 1) < 0)
	    return -1;
	for (i = 0; it != NULL; i++, it = json_object_iter_next((json_t *) v, it))
	    if ((i && cs_buf_append(b, ",", 1) < 0)
		|| (indent && cs_json_newline(b, depth + 1) < 0)
		|| cs_json_string(b, json_object_iter_key(it), json_object_iter_key_len(it),
				  ascii) < 0
		|| cs_buf_append(b, ": ", indent ? 2 : 1) < 0
		|| json_value(b, json_object_iter_value(it), flags, depth + 1) < 0)
		return -1;
	return indent && cs_json_newline(b, depth) < 0 ? -1 : cs_buf_append(b, "}", 1);
    default:
	/* Reals: jansson's own digits. */
	if ((t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
	    return -1;
	rc = cs_buf_append(b, t, strlen(t));
	free(t);
	return rc;
    }
}

/* cs_json_write - v appended as json_dumps writes it (flags: CS_JSON_*) */
int     cs_json_write(cs_buf *b, const json_t *v, int flags)
{
    return json_value(b, v, flags, 0);
}

/* cs_ids_cmp - qsort comparator for ids */
int     cs_ids_cmp(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;

    return x < y ? -1 : x > y;
}

/* cs_status_doc - a stored milter status as stats shows it (both dialects) */
json_t *cs_status_doc(const char *text, long long at, time_t now)
{
    json_t *doc = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    char    iso[32];

    /* Written by a milter of the same version or another: show what we can. */
    if (!json_is_object(doc)) {
	json_decref(doc);
	if ((doc = json_pack("{s:s}", "error", "unreadable status")) == NULL)
	    return NULL;
    }
    cs_iso_date(at, iso, sizeof(iso));
    if (json_object_set_new(doc, "updated_at", json_string(iso)) < 0
	|| json_object_set_new(doc, "age_seconds",
			       json_integer((json_int_t) (now > at ? now - at : 0))) < 0) {
	json_decref(doc);
	return NULL;
    }
    return doc;
}

/* cs_addr_array - a stored address list as JSON, [] when unreadable */
json_t *cs_addr_array(const char *text)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;

    if (a == NULL || !json_is_array(a)) {
	json_decref(a);
	return json_array();
    }
    return a;
}

/* cs_add_list - append a job's parsed address list to participants */
int     cs_add_list(json_t *participants, json_t *list)
{
    return json_is_array(list) ? json_array_extend(participants, list) : 0;
}

/* cs_jobs_fail_all - the whole group is lost: every waiter hears so */
void    cs_jobs_fail_all(cs_store_job **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	jobs[i]->rc = CS_EINTERNAL;
	memset(jobs[i]->results, 0, jobs[i]->ncopies * sizeof(int));
    }
}

/* cs_ids_blocked - is thread t (0: none) in the set? */
int     cs_ids_blocked(const cs_ids *s, long long t)
{
    return t > 0 && cs_ids_has(s, t);
}

/* cs_ids_block - add thread t (0: none) to the set */
int     cs_ids_block(cs_ids *s, long long t)
{
    return t > 0 ? cs_ids_add(s, t) : 0;
}
