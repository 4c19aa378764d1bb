/*
 * NAME
 *	cs_util 3
 * SUMMARY
 *	small string and list helpers
 * DESCRIPTION
 *	See cs_util.h. Sizes are checked before memory grows: a request that
 *	would overflow size_t, or pass a buffer's limit, fails with -1.
 */
#include <config.h>

/* System library. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_util.h"

/* grow - make room for n more items of size sz, doubling */
static int grow(void **v, size_t *cap, size_t used, size_t more, size_t sz)
{
    size_t  need, ncap;
    void   *nv;

    if (more > SIZE_MAX / sz - used)
	return -1;
    need = used + more;
    if (need <= *cap)
	return 0;
    ncap = *cap ? *cap : 8;
    while (ncap < need) {
	if (ncap > SIZE_MAX / 2 / sz)
	    return -1;
	ncap *= 2;
    }
    if ((nv = realloc(*v, ncap * sz)) == NULL)
	return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* cs_strlist_addn - append a copy of len bytes */
int     cs_strlist_addn(cs_strlist *l, const char *s, size_t len)
{
    char   *copy;

    if (grow((void **) &l->v, &l->cap, l->n, 2, sizeof(char *)) < 0)
	return -1;
    if ((copy = cs_strndup(s, len)) == NULL)
	return -1;
    l->v[l->n++] = copy;
    l->v[l->n] = NULL;				/* keep it NULL-terminated */
    return 0;
}

/* cs_strlist_add - append a copy */
int     cs_strlist_add(cs_strlist *l, const char *s)
{
    return cs_strlist_addn(l, s, strlen(s));
}

/* cs_strlist_add_unique - append unless already present */
int     cs_strlist_add_unique(cs_strlist *l, const char *s)
{
    return cs_strlist_contains(l, s) ? 0 : cs_strlist_add(l, s);
}

/* cs_strlist_contains - exact membership */
int     cs_strlist_contains(const cs_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
	if (strcmp(l->v[i], s) == 0)
	    return 1;
    return 0;
}

/* cs_strlist_contains_ci - ASCII case-insensitive membership */
int     cs_strlist_contains_ci(const cs_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
	if (cs_strcaseeq(l->v[i], s))
	    return 1;
    return 0;
}

/* cs_strlist_copy - append copies of every item of src */
int     cs_strlist_copy(cs_strlist *dst, const cs_strlist *src)
{
    for (size_t i = 0; i < src->n; i++)
	if (cs_strlist_add(dst, src->v[i]) < 0)
	    return -1;
    return 0;
}

/* cs_strlist_free - release items and array */
void    cs_strlist_free(cs_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
	free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* cs_buf_append - append bytes, refusing to pass the limit */
int     cs_buf_append(cs_buf *b, const void *p, size_t len)
{
    size_t  limit = b->limit ? b->limit : SIZE_MAX / 2;

    if (len > limit || b->len > limit - len)
	return -1;
    if (grow((void **) &b->data, &b->cap, b->len, len + 1, 1) < 0)
	return -1;
    if (len)
	memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

/* cs_buf_reserve - room for n more bytes and the NUL */
int     cs_buf_reserve(cs_buf *b, size_t n)
{
    size_t  limit = b->limit ? b->limit : SIZE_MAX / 2;

    if (n > limit || b->len > limit - n)
	return -1;
    return grow((void **) &b->data, &b->cap, b->len, n + 1, 1);
}

/* cs_buf_appendf - append formatted text */
int     cs_buf_appendf(cs_buf *b, const char *fmt, ...)
{
    va_list ap;
    char    small[256];
    char   *big;
    int     n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
	return -1;
    if ((size_t) n < sizeof(small))
	return cs_buf_append(b, small, (size_t) n);
    if ((big = malloc((size_t) n + 1)) == NULL)
	return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);
    rc = cs_buf_append(b, big, (size_t) n);
    free(big);
    return rc;
}

/* cs_buf_reset - forget the contents, keep the memory */
void    cs_buf_reset(cs_buf *b)
{
    b->len = 0;
    if (b->data)
	b->data[0] = 0;
}

/* cs_buf_free - release the memory */
void    cs_buf_free(cs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* cs_strdup - strdup that passes NULL through */
char   *cs_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* cs_strndup - copy at most len bytes and terminate */
char   *cs_strndup(const char *s, size_t len)
{
    char   *d;

    if (len == SIZE_MAX || (d = malloc(len + 1)) == NULL)
	return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

/* cs_lowercase - ASCII lower-case in place */
void    cs_lowercase(char *s)
{
    for (; *s; s++)
	if (*s >= 'A' && *s <= 'Z')
	    *s = (char) (*s - 'A' + 'a');
}

/* cs_trim - strip ASCII white space at both ends, in place */
char   *cs_trim(char *s)
{
    char   *e;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
	s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
	*--e = 0;
    return s;
}

/* cs_strcaseeq - ASCII case-insensitive equality, locale-independent */
int     cs_strcaseeq(const char *a, const char *b)
{
    unsigned char ca, cb;

    do {
	ca = (unsigned char) *a++;
	cb = (unsigned char) *b++;
	if (ca >= 'A' && ca <= 'Z')
	    ca = (unsigned char) (ca - 'A' + 'a');
	if (cb >= 'A' && cb <= 'Z')
	    cb = (unsigned char) (cb - 'A' + 'a');
    } while (ca && ca == cb);
    return ca == cb;
}

/* cs_split_list - comma-separated list into trimmed, non-empty items */
int     cs_split_list(const char *s, cs_strlist *out)
{
    const char *p = s, *comma, *b, *e;

    for (;;) {
	comma = strchr(p, ',');
	e = comma ? comma : p + strlen(p);
	b = p;
	while (b < e && (*b == ' ' || *b == '\t'))
	    b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
	    e--;
	if (e > b && cs_strlist_addn(out, b, (size_t) (e - b)) < 0)
	    return -1;
	if (comma == NULL)
	    return 0;
	p = comma + 1;
    }
}

/* cs_sanitize - printable-ASCII copy of s for a log line */
char   *cs_sanitize(const char *s, char *out, size_t outlen)
{
    size_t  i = 0;

    if (outlen == 0)
	return out;
    if (s == NULL)
	s = "(null)";
    for (; *s && i + 1 < outlen; s++) {
	unsigned char c = (unsigned char) *s;

	out[i++] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }
    out[i] = 0;
    if (*s && outlen > 4)
	memcpy(out + outlen - 4, "...", 4);
    return out;
}

/* cs_mono_ms - milliseconds on CLOCK_MONOTONIC */
long long cs_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cs_iso_date - ISO 8601 UTC text of a Unix time */
void    cs_iso_date(long long t, char *out, size_t outlen)
{
    time_t  tt = (time_t) t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL) {
	snprintf(out, outlen, "1970-01-01T00:00:00Z");
	return;
    }
    /* Digits by hand (strftime was 3 % of a list page); other years as before. */
    if (tm.tm_year >= 1000 - 1900 && tm.tm_year <= 9999 - 1900 && outlen >= 21) {
	static const char sep[] = "--T::";
	static const int pow10[] = {1000, 100, 10, 1};
	int     v[6] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec};
	char   *o = out;

	for (int i = 0; i < 4; i++)
	    *o++ = (char) ('0' + v[0] / pow10[i] % 10);
	for (int i = 1; i < 6; i++) {
	    *o++ = sep[i - 1];
	    *o++ = (char) ('0' + v[i] / 10);
	    *o++ = (char) ('0' + v[i] % 10);
	}
	*o++ = 'Z';
	*o = 0;
	return;
    }
    if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
	snprintf(out, outlen, "1970-01-01T00:00:00Z");
}
