/*
 * NAME
 *	cs_util 3h
 * SUMMARY
 *	small string and list helpers shared by every crmsync module
 * DESCRIPTION
 *	cs_strlist is a growable array of owned NUL-terminated strings.
 *	cs_buf is a growable byte buffer that refuses to grow past a limit.
 *	None of these keep static state: safe in any thread.
 */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include <stddef.h>
#include <stdarg.h>

/* Owned list of strings. A zeroed struct is an empty list. */
typedef struct cs_strlist {
    char  **v;
    size_t  n;
    size_t  cap;
} cs_strlist;

int     cs_strlist_add(cs_strlist *, const char *);		/* copy in; -1 on ENOMEM */
int     cs_strlist_addn(cs_strlist *, const char *, size_t);	/* copy len bytes */
int     cs_strlist_add_unique(cs_strlist *, const char *);	/* skip if present (case-sensitive) */
int     cs_strlist_contains(const cs_strlist *, const char *);
int     cs_strlist_contains_ci(const cs_strlist *, const char *);
int     cs_strlist_copy(cs_strlist *dst, const cs_strlist *src);
void    cs_strlist_free(cs_strlist *);				/* frees strings, zeroes list */

/* Bounded byte buffer. limit 0 means SIZE_MAX/2. */
typedef struct cs_buf {
    char   *data;		/* always NUL-terminated when non-NULL */
    size_t  len;
    size_t  cap;
    size_t  limit;
} cs_buf;

int     cs_buf_append(cs_buf *, const void *, size_t);	/* -1 if over limit or ENOMEM */
int     cs_buf_reserve(cs_buf *, size_t);			/* room for n more; -1 as append */
int     cs_buf_appendf(cs_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void    cs_buf_reset(cs_buf *);				/* len = 0, keep memory */
void    cs_buf_free(cs_buf *);

char   *cs_strdup(const char *);		/* NULL-safe strdup */
char   *cs_strndup(const char *, size_t);
void    cs_lowercase(char *);			/* ASCII only */
char   *cs_trim(char *);			/* trim ASCII white space in place */
int     cs_strcaseeq(const char *, const char *);	/* ASCII case-insensitive equality */

/* Split "a, b ,c" into trimmed non-empty items. -1 on ENOMEM. */
int     cs_split_list(const char *, cs_strlist *);

/* Write a copy of s safe for a log line: control and non-ASCII bytes become
 * '?', at most outlen-1 bytes, "..." marks a cut. Returns out. */
char   *cs_sanitize(const char *s, char *out, size_t outlen);

/* Milliseconds on CLOCK_MONOTONIC (a clock step does not move it). */
long long cs_mono_ms(void);

/* ISO 8601 UTC text of a Unix time (seconds): "YYYY-MM-DDTHH:MM:SSZ". */
void    cs_iso_date(long long t, char *out, size_t outlen);

#endif
