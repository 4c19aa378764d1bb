/*
 * NAME
 *	cs_sieve_run 3
 * SUMMARY
 *	evaluate a compiled Sieve script: which folders does it file into
 * SYNOPSIS
 *	#include "cs_sieve.h"
 *
 *	int	cs_sieve_run(sv, in, folders, err, errlen)
 *
 *	cs_sieve_cache *cs_sieve_cache_new(headers)
 *	int	cs_sieve_run_cached(sv, in, cache, folders, err, errlen)
 *	void	cs_sieve_cache_free(cache)
 * DESCRIPTION
 *	Walks the tree of cs_sieve_impl.h for one message and one recipient.
 *	All run-time state (variables, match variables, flags, decoded
 *	headers) lives in a per-call sv_run, so a script is shared freely
 *	between threads. Header values are unfolded and RFC 2047 decoded
 *	before comparison (RFC 5228 2.7.2); the address test parses the
 *	raw value into addresses.
 *
 *	Decoded values and parsed addresses depend on the headers alone, so
 *	the runs of one message for its several owners may share them: a
 *	cs_sieve_cache made for those headers, passed to
 *	cs_sieve_run_cached, keeps them from one run to the next (one
 *	thread at a time; a cache for other headers is ignored).
 * DIAGNOSTICS
 *	-1 with err filled only when memory runs out. A :regex key built
 *	from variables that does not compile matches nothing. Variables are
 *	cut at CS_SIEVE_MAX_VARSIZE bytes, expanded strings at
 *	CS_SIEVE_MAX_EXPAND (on a UTF-8 character boundary).
 */
#include <config.h>

/* System library. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_sieve_impl.h"

typedef struct sv_var {
    char    name[CS_SIEVE_MAX_VARNAME + 1];	/* "" is the internal flags */
    char   *val;
    size_t  len;
} sv_var;

typedef struct sv_run {
    const cs_sieve *sv;
    const cs_sieve_input *in;
    cs_strlist *folders;
    sv_var  vars[CS_SIEVE_MAX_VARS + 1];
    size_t  nvars;
    char   *match[CS_SIEVE_MAX_MATCH];
    char  **dec;			/* decoded header values, lazily */
    struct sv_addrs *addrs;		/* parsed address headers, lazily */
    int     stop;
    int     oom;
    int     bad;			/* run-time error, why says which */
    char    why[128];
} sv_run;

/* One address header, unfolded and parsed once per run (or message). */
typedef struct sv_addrs {
    char   *u;				/* unfolded value; NULL: not yet */
    cs_addrlist al;
    int     ok;				/* sv_addrlist_ok */
} sv_addrs;

/* What the runs of one message share (see DESCRIPTION). */
struct cs_sieve_cache {
    const cs_headers *headers;
    char  **dec;
    struct sv_addrs *addrs;
};

/* Expanded key list of one test evaluation. */
typedef struct sv_keys {
    char  **s;
    size_t *len;
    unsigned char *own;
    regex_t *re;			/* run-time compiled regexes */
    unsigned char *re_ok;
    size_t  n;
    const sv_strlist *direct;		/* no variables: the test's own keys */
} sv_keys;

/* SV_KEY, SV_KEYLEN - key i of an expanded list */
#define SV_KEY(k, i)	((k)->direct ? (k)->direct->v[i].s : (k)->s[i])
#define SV_KEYLEN(k, i)	((k)->direct ? (k)->direct->v[i].len : (k)->len[i])

/* sv_utf8_cut - largest length <= n that does not split a UTF-8 char */
static size_t sv_utf8_cut(const char *s, size_t len, size_t n)
{
    if (len <= n)
	return (len);
    while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
	n--;
    return (n);
}

/* sv_ceq - compare two bytes under a comparator */
static int sv_ceq(int cmp, unsigned char a, unsigned char b)
{
    if (cmp == SV_C_CASEMAP) {
	if (a >= 'A' && a <= 'Z')
	    a = (unsigned char) (a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
	    b = (unsigned char) (b - 'A' + 'a');
    }
    return (a == b);
}

/* sv_next_star - index of the next unescaped '*' in key from i, or klen */
static size_t sv_next_star(const char *key, size_t i, size_t klen)
{
    while (i < klen) {
	if (key[i] == '\\' && i + 1 < klen)
	    i += 2;
	else if (key[i] == '*')
	    return (i);
	else
	    i++;
    }
    return (klen);
}

/* sv_count_q - number of unescaped '?' in key[ks, ke) */
static size_t sv_count_q(const char *key, size_t ks, size_t ke)
{
    size_t  n = 0;

    while (ks < ke) {
	if (key[ks] == '\\' && ks + 1 < ke)
	    ks += 2;
	else
	    n += key[ks++] == '?';
    }
    return (n);
}

/* sv_setcap - record wildcard w's match when it is one of ${1}..${9} */
static void sv_setcap(size_t caps[][2], size_t w, size_t off, size_t len)
{
    if (caps && w < CS_SIEVE_MAX_MATCH) {
	caps[w][0] = off;
	caps[w][1] = len;
    }
}

/* sv_seg_at - match the star-free key[ks, ke) at val[pos], end in *end */
static int sv_seg_at(int cmp, const char *key, size_t ks, size_t ke,
		             const char *val, size_t vlen, size_t pos,
		             size_t w, size_t caps[][2], size_t *end)
{
    while (ks < ke) {
	if (key[ks] == '?') {
	    /* One octet, whatever the comparator: as Pigeonhole does. */
	    if (pos >= vlen)
		return (0);
	    sv_setcap(caps, w++, pos, 1);
	    pos++;
	    ks++;
	    continue;
	}
	if (key[ks] == '\\' && ks + 1 < ke)
	    ks++;
	if (pos >= vlen || !sv_ceq(cmp, (unsigned char) key[ks], (unsigned char) val[pos]))
	    return (0);
	ks++;
	pos++;
    }
    *end = pos;
    return (1);
}

/*
 * sv_glob - :matches. Each '*' takes as little as it can, leftmost
 * first (RFC 5229 3.2): the earliest place each star-free segment fits
 * also leaves the most room for the rest, so one pass decides, in
 * O(value x key) time, with no backtracking to blow up.
 */
static int sv_glob(int cmp, const char *val, size_t vlen, const char *key,
		           size_t klen, size_t caps[][2], size_t *ncaps)
{
    size_t  ks = 0, ke, pos, end, w = 1, q;

    ke = sv_next_star(key, 0, klen);
    if (!sv_seg_at(cmp, key, 0, ke, val, vlen, 0, w, caps, &end))
	return (0);
    if (ke == klen) {
	if (end != vlen)
	    return (0);
	w += sv_count_q(key, 0, ke);
	goto done;
    }
    w += sv_count_q(key, 0, ke);
    pos = end;
    for (;;) {
	size_t  star = w++;
	int     last;

	ks = ke + 1;
	ke = sv_next_star(key, ks, klen);
	last = (ke == klen);
	for (q = pos; q <= vlen; q++) {
	    if (sv_seg_at(cmp, key, ks, ke, val, vlen, q, w, caps, &end)
		&& (!last || end == vlen))
		break;
	}
	if (q > vlen)
	    return (0);
	sv_setcap(caps, star, pos, q - pos);
	w += sv_count_q(key, ks, ke);
	pos = end;
	if (last)
	    break;
    }
done:
    if (caps) {
	caps[0][0] = 0;
	caps[0][1] = vlen;
	*ncaps = w < CS_SIEVE_MAX_MATCH ? w : CS_SIEVE_MAX_MATCH;
    }
    return (1);
}

/* cs_sieve_utf8_valid - is s[0, len) well-formed UTF-8 (no overlongs)? */
int     cs_sieve_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t  i = 0, n, k;
    unsigned long cp;

    while (i < len) {
	if (s[i] < 0x80) {
	    i++;
	    continue;
	}
	if (s[i] >= 0xC2 && s[i] <= 0xDF)
	    n = 1, cp = s[i] & 0x1F;
	else if (s[i] >= 0xE0 && s[i] <= 0xEF)
	    n = 2, cp = s[i] & 0x0F;
	else if (s[i] >= 0xF0 && s[i] <= 0xF4)
	    n = 3, cp = s[i] & 0x07;
	else
	    return (0);
	if (len - i <= n)
	    return (0);
	for (k = 1; k <= n; k++) {
	    if ((s[i + k] & 0xC0) != 0x80)
		return (0);
	    cp = (cp << 6) | (s[i + k] & 0x3F);
	}
	if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
	    || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
	    return (0);
	i += n + 1;
    }
    return (1);
}

/*
 * cs_sieve_regex_sane - refuse regexes glibc's regcomp would blow up on.
 * It copies a subexpression for each "+" and each bound of "{n,m}", so
 * nested or stacked repetitions grow exponentially: estimate that size
 * (nesting-aware), and refuse stacked quantifiers ("a++"), deep groups
 * and long patterns. Back-references are refused too: glibc matches
 * them by backtracking, exponentially in the value's length.
 */
int     cs_sieve_regex_sane(const char *re, size_t len)
{
    double  stack[CS_SIEVE_RE_DEPTH], cur = 0, last = 1;
    size_t  depth = 0, i;
    int     quant = 0;

    if (len > CS_SIEVE_RE_MAX)
	return (0);
    for (i = 0; i < len; i++) {
	char    c = re[i];
	double  f = 0;

	if (c == '*' || c == '?' || c == '+' || c == '{') {
	    if (c == '{') {
		size_t  j = i + 1;
		unsigned long n = 0, m = 0;
		int     comma = 0, digits = 0;

		while (j < len && ((re[j] >= '0' && re[j] <= '9') || (re[j] == ',' && !comma))) {
		    if (re[j] == ',')
			comma = 1;
		    else if ((comma ? m : n) < 100000) {
			if (comma)
			    m = m * 10 + (unsigned long) (re[j] - '0');
			else
			    n = n * 10 + (unsigned long) (re[j] - '0');
			digits = 1;
		    }
		    j++;
		}
		if (j >= len || re[j] != '}' || !digits)
		    goto atom;			/* not a bound: regcomp decides */
		f = (double) (n > m ? n : m) + 1;
		i = j;
	    } else
		f = c == '+' ? 2 : 1;
	    if (quant)
		return (0);
	    quant = 1;
	    cur += last * (f - 1);
	    last *= f;
	    if (cur > CS_SIEVE_RE_COST)
		return (0);
	    continue;
	}
atom:
	quant = 0;
	if (c == '\\' && i + 1 < len) {
	    /* A back-reference makes matching exponential (see sv_match). */
	    if (re[i + 1] >= '1' && re[i + 1] <= '9')
		return (0);
	    i++;
	} else if (c == '[') {
	    size_t  j = i + 1;

	    if (j < len && re[j] == '^')
		j++;
	    if (j < len && re[j] == ']')
		j++;
	    while (j < len && re[j] != ']')
		j++;
	    i = j;
	} else if (c == '(') {
	    if (depth >= CS_SIEVE_RE_DEPTH)
		return (0);
	    stack[depth++] = cur;
	    cur = 0;
	    quant = 1;				/* "(*" is not a repetition */
	    continue;
	} else if (c == ')' && depth > 0) {
	    last = cur > 1 ? cur : 1;
	    cur = stack[--depth] + last;
	    continue;
	}
	last = 1;
	cur += 1;
    }
    return (cur <= CS_SIEVE_RE_COST);
}

/* cs_sieve_match - one value against one key under a match type */
int     cs_sieve_match(int mtype, int cmp, const char *val, size_t vlen,
		               const char *key, size_t klen, const regex_t *re,
		               size_t caps[][2], size_t *ncaps)
{
    size_t  i, j;

    if (ncaps)
	*ncaps = 0;
    switch (mtype) {
    case SV_M_IS:
	if (vlen != klen)
	    return (0);
	for (i = 0; i < vlen; i++)
	    if (!sv_ceq(cmp, (unsigned char) val[i], (unsigned char) key[i]))
		return (0);
	return (1);
    case SV_M_CONTAINS:
	if (klen > vlen)
	    return (0);
	for (i = 0; i + klen <= vlen; i++) {
	    for (j = 0; j < klen; j++)
		if (!sv_ceq(cmp, (unsigned char) val[i + j], (unsigned char) key[j]))
		    break;
	    if (j == klen)
		return (1);
	}
	return (0);
    case SV_M_MATCHES:
	return (sv_glob(cmp, val, vlen, key, klen, caps, ncaps));
    case SV_M_REGEX:{
	    regmatch_t pm[CS_SIEVE_MAX_MATCH];

	    /*
	     * glibc's regexec backtracks: an ordinary key such as "a+x"
	     * takes seconds on a 100 KB header, and a hostile sender must not
	     * hold a milter thread that long. A :regex sees the first
	     * CS_SIEVE_RE_INPUT bytes of a value (REG_STARTEND), and keys with
	     * back-references are refused (cs_sieve_regex_sane). Pigeonhole
	     * has no such bound: this is an intended difference.
	     */
	    if (re == NULL || val[vlen] != '\0')
		return (0);
	    pm[0].rm_so = 0;
	    pm[0].rm_eo = (regoff_t) (vlen < CS_SIEVE_RE_INPUT ? vlen : CS_SIEVE_RE_INPUT);
	    /* Without caps, no subexpressions: glibc then stops at the
	     * first match instead of working out every group's bounds. */
	    if (regexec(re, val, caps ? CS_SIEVE_MAX_MATCH : 0, pm, REG_STARTEND) != 0)
		return (0);
	    if (caps) {
		for (i = 0; i < CS_SIEVE_MAX_MATCH; i++) {
		    if (pm[i].rm_so < 0 || pm[i].rm_eo < pm[i].rm_so
			|| (size_t) pm[i].rm_eo > vlen) {
			caps[i][0] = caps[i][1] = 0;
		    } else {
			caps[i][0] = (size_t) pm[i].rm_so;
			caps[i][1] = (size_t) (pm[i].rm_eo - pm[i].rm_so);
		    }
		}
		i = re->re_nsub + 1;
		*ncaps = i < CS_SIEVE_MAX_MATCH ? i : CS_SIEVE_MAX_MATCH;
	    }
	    return (1);
	}
    default:
	return (0);
    }
}

/* sv_var_find - variable by (lowercase) name, NULL if never set */
static sv_var *sv_var_find(sv_run *r, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < r->nvars; i++)
	if (strlen(r->vars[i].name) == len && strncasecmp(r->vars[i].name, name, len) == 0)
	    return (&r->vars[i]);
    return (NULL);
}

/* sv_var_set - store a value (taking ownership of val) */
static void sv_var_set(sv_run *r, const char *name, char *val, size_t len)
{
    sv_var *v = sv_var_find(r, name, strlen(name));

    len = sv_utf8_cut(val, len, CS_SIEVE_MAX_VARSIZE);
    val[len] = 0;
    if (v == NULL) {
	/* The compiler counted the names: this cannot overflow. */
	if (r->nvars >= sizeof(r->vars) / sizeof(r->vars[0])) {
	    free(val);
	    return;
	}
	v = &r->vars[r->nvars++];
	snprintf(v->name, sizeof(v->name), "%s", name);
    }
    free(v->val);
    v->val = val;
    v->len = len;
}

/* sv_append - append to a buffer that silently stops at its limit */
static int sv_append(sv_run *r, cs_buf *b, const char *s, size_t n)
{
    size_t  room = CS_SIEVE_MAX_EXPAND - b->len;

    if (b->len >= CS_SIEVE_MAX_EXPAND)
	return (0);
    if (n > room)
	n = sv_utf8_cut(s, n, room);
    if (cs_buf_append(b, s, n) < 0) {
	r->oom = 1;
	return (-1);
    }
    return (0);
}

/* sv_expand - a string with ${name} and ${N} replaced; caller frees */
static char *sv_expand(sv_run *r, const sv_string *str, size_t *olen)
{
    cs_buf  b = {0};
    const char *s = str->s, *e = str->s + str->len;

    if (!str->var) {
	char   *copy = cs_strndup(str->s, str->len);

	if (copy == NULL)
	    r->oom = 1;
	*olen = str->len;
	return (copy);
    }
    while (s < e) {
	const char *d = s + 2, *nm;
	size_t  nlen;

	if (!(s[0] == '$' && s + 1 < e && s[1] == '{')) {
	    const char *n = s + 1;

	    while (n < e && *n != '$')
		n++;
	    if (sv_append(r, &b, s, (size_t) (n - s)) < 0)
		goto fail;
	    s = n;
	    continue;
	}
	nm = d;
	if (d < e && isdigit((unsigned char) *d)) {
	    while (d < e && isdigit((unsigned char) *d))
		d++;
	} else if (d < e && (isalpha((unsigned char) *d) || *d == '_')) {
	    while (d < e && (isalnum((unsigned char) *d) || *d == '_'))
		d++;
	}
	nlen = (size_t) (d - nm);
	if (nlen == 0 || d >= e || *d != '}') {
	    /* Not a reference: a literal '$'. */
	    if (sv_append(r, &b, "$", 1) < 0)
		goto fail;
	    s++;
	    continue;
	}
	if (isdigit((unsigned char) *nm)) {
	    size_t  k = 0, i;

	    for (i = 0; i < nlen && k < CS_SIEVE_MAX_MATCH; i++)
		k = k * 10 + (size_t) (nm[i] - '0');
	    if (k < CS_SIEVE_MAX_MATCH && r->match[k]
		&& sv_append(r, &b, r->match[k], strlen(r->match[k])) < 0)
		goto fail;
	} else {
	    sv_var *v = nlen <= CS_SIEVE_MAX_VARNAME ? sv_var_find(r, nm, nlen) : NULL;

	    if (v && v->name[0] && sv_append(r, &b, v->val, v->len) < 0)
		goto fail;
	}
	s = d + 1;
    }
    if (b.data == NULL && cs_buf_append(&b, "", 0) < 0) {
	r->oom = 1;
	return (NULL);
    }
    *olen = b.len;
    return (b.data);
fail:
    cs_buf_free(&b);
    return (NULL);
}

/* sv_keys_free - release an expanded key list */
static void sv_keys_free(sv_keys *k)
{
    size_t  i;

    if (k->direct) {
	memset(k, 0, sizeof(*k));
	return;
    }
    for (i = 0; i < k->n; i++) {
	if (k->own[i])
	    free(k->s[i]);
	if (k->re_ok && k->re_ok[i])
	    regfree(&k->re[i]);
    }
    free(k->s);
    free(k->len);
    free(k->own);
    free(k->re);
    free(k->re_ok);
    memset(k, 0, sizeof(*k));
}

/* sv_keys_get - expand a test's keys and compile run-time regexes */
static int sv_keys_get(sv_run *r, const sv_test *t, sv_keys *k)
{
    size_t  i, n = t->keys.n ? t->keys.n : 1;

    memset(k, 0, sizeof(*k));
    for (i = 0; i < t->keys.n && !t->keys.v[i].var; i++)
	 /* void */ ;
    if (i == t->keys.n) {			/* nothing to expand or compile */
	k->direct = &t->keys;
	k->n = t->keys.n;
	return (0);
    }
    k->s = calloc(n, sizeof(*k->s));
    k->len = calloc(n, sizeof(*k->len));
    k->own = calloc(n, 1);
    if (t->mtype == SV_M_REGEX) {
	k->re = calloc(n, sizeof(*k->re));
	k->re_ok = calloc(n, 1);
    }
    if (k->s == NULL || k->len == NULL || k->own == NULL
	|| (t->mtype == SV_M_REGEX && (k->re == NULL || k->re_ok == NULL))) {
	r->oom = 1;
	sv_keys_free(k);
	return (-1);
    }
    for (i = 0; i < t->keys.n; i++) {
	k->n = i + 1;
	if (!t->keys.v[i].var) {
	    k->s[i] = t->keys.v[i].s;
	    k->len[i] = t->keys.v[i].len;
	    continue;
	}
	if ((k->s[i] = sv_expand(r, &t->keys.v[i], &k->len[i])) == NULL) {
	    sv_keys_free(k);
	    return (-1);
	}
	k->own[i] = 1;
	if (t->mtype == SV_M_REGEX && cs_sieve_regex_sane(k->s[i], k->len[i]))
	    k->re_ok[i] = regcomp(&k->re[i], k->s[i], REG_EXTENDED
			    | (t->cmp == SV_C_CASEMAP ? REG_ICASE : 0)) == 0;
    }
    return (0);
}

/* sv_try - does val match any key? Sets match variables when it does. */
static int sv_try(sv_run *r, const sv_test *t, const sv_keys *k,
		          const char *val, size_t vlen)
{
    size_t  caps[CS_SIEVE_MAX_MATCH][2], ncaps = 0, i, j;
    int     capture = (r->sv->ext & SV_EXT_VARIABLES) && r->sv->matchrefs
		&& (t->mtype == SV_M_MATCHES || t->mtype == SV_M_REGEX);

    for (i = 0; i < k->n; i++) {
	const regex_t *re = NULL;

	if (t->mtype == SV_M_REGEX) {
	    if (!t->keys.v[i].var)
		re = t->re_ok[i] ? &t->re[i] : NULL;
	    else
		re = k->re_ok[i] ? &k->re[i] : NULL;
	    if (re == NULL)
		continue;
	}
	if (!cs_sieve_match(t->mtype, t->cmp, val, vlen, SV_KEY(k, i), SV_KEYLEN(k, i), re,
			    capture ? caps : NULL, &ncaps))
	    continue;
	if (capture) {
	    for (j = 0; j < CS_SIEVE_MAX_MATCH; j++) {
		free(r->match[j]);
		r->match[j] = NULL;
		if (j < ncaps && (r->match[j] = cs_strndup(val + caps[j][0], caps[j][1])) == NULL)
		    r->oom = 1;
	    }
	}
	return (1);
    }
    return (0);
}

/* sv_try_part - match a piece of a string (copied to be NUL-terminated) */
static int sv_try_part(sv_run *r, const sv_test *t, const sv_keys *k,
		               const char *s, size_t len)
{
    char   *copy;
    int     rc;

    if (t->mtype != SV_M_REGEX)			/* only regexec needs the NUL */
	return (sv_try(r, t, k, s, len));
    if ((copy = cs_strndup(s, len)) == NULL) {
	r->oom = 1;
	return (0);
    }
    rc = sv_try(r, t, k, copy, len);
    free(copy);
    return (rc);
}

/* sv_header_value - header i unfolded and decoded, cached for the run */
static const char *sv_header_value(sv_run *r, size_t i)
{
    const cs_header *h = &r->in->headers->v[i];

    if (r->dec[i] == NULL) {
	char   *u = cs_unfold(h->value ? h->value : "", h->value ? strlen(h->value) : 0);

	if (u == NULL || (r->dec[i] = cs_rfc2047_decode(u)) == NULL)
	    r->oom = 1;
	free(u);
    }
    return (r->dec[i]);
}

/*
 * sv_try_address - match one address under an address part. Like
 * Pigeonhole, something without an '@' is no address and matches
 * nothing; :detail needs the "+" separator (RFC 5233 4).
 */
static int sv_try_address(sv_run *r, const sv_test *t, const sv_keys *k,
			          const char *a, int envelope)
{
    const char *at = strrchr(a, '@'), *plus;
    size_t  llen;

    if (at == NULL) {
	/* An envelope address may be a bare local part ("postmaster"). */
	if (!envelope || *a == 0)
	    return (envelope && *a == 0 && t->apart == SV_A_ALL
		    && sv_try(r, t, k, a, 0));
	at = a + strlen(a);
	if (t->apart == SV_A_DOMAIN)
	    return (0);
    }
    llen = (size_t) (at - a);
    switch (t->apart) {
    case SV_A_ALL:
	return (sv_try_part(r, t, k, a, strlen(a)));
    case SV_A_LOCAL:
	return (sv_try_part(r, t, k, a, llen));
    case SV_A_DOMAIN:
	return (sv_try_part(r, t, k, at + 1, strlen(at + 1)));
    case SV_A_USER:
	plus = memchr(a, '+', llen);
	return (sv_try_part(r, t, k, a, plus ? (size_t) (plus - a) : llen));
    case SV_A_DETAIL:
	plus = memchr(a, '+', llen);
	if (plus == NULL)
	    return (0);
	return (sv_try_part(r, t, k, plus + 1, llen - (size_t) (plus - a) - 1));
    default:
	return (0);
    }
}

/* sv_flags_split - add the space-separated flags of s to l (unique, ci) */
static int sv_flags_split(cs_strlist *l, const char *s, size_t len, int remove)
{
    size_t  i = 0, j, k;

    while (i < len) {
	while (i < len && s[i] == ' ')
	    i++;
	for (j = i; j < len && s[j] != ' '; j++)
	     /* void */ ;
	if (j > i) {
	    char   *f = cs_strndup(s + i, j - i);

	    if (f == NULL)
		return (-1);
	    if (remove) {
		for (k = 0; k < l->n; k++) {
		    if (cs_strcaseeq(l->v[k], f)) {
			free(l->v[k]);
			memmove(&l->v[k], &l->v[k + 1], (l->n - k - 1) * sizeof(*l->v));
			l->n--;
			k--;
		    }
		}
	    } else if (!cs_strlist_contains_ci(l, f) && cs_strlist_add(l, f) < 0) {
		free(f);
		return (-1);
	    }
	    free(f);
	}
	i = j;
    }
    return (0);
}

/* sv_flags_var - the value of a flag variable ("" = internal) */
static const char *sv_flags_var(sv_run *r, const char *name, size_t *len)
{
    sv_var *v = sv_var_find(r, name, strlen(name));

    *len = v ? v->len : 0;
    return (v ? v->val : "");
}

static int sv_test_eval(sv_run *, const sv_test *);

/*
 * sv_addrlist_ok - parse an address header; false when it holds no
 * address or something that is not one (no '@'). Pigeonhole then
 * compares the whole value under :all and nothing under other parts.
 */
static int sv_addrlist_ok(const char *value, cs_addrlist *al)
{
    size_t  i;

    if (cs_addrlist_parse(value, al) != 0 || al->n == 0)
	return (0);
    for (i = 0; i < al->n; i++)
	if (al->v[i].address == NULL || strchr(al->v[i].address, '@') == NULL)
	    return (0);
    return (1);
}

/* sv_header_addrs - header i unfolded and parsed, cached for the run
 * (a script tests From in several rules: one parse) */
static const sv_addrs *sv_header_addrs(sv_run *r, size_t i)
{
    sv_addrs *a = &r->addrs[i];

    if (a->u == NULL) {
	const char *raw = r->in->headers->v[i].value ? r->in->headers->v[i].value : "";

	if ((a->u = cs_unfold(raw, strlen(raw))) == NULL) {
	    r->oom = 1;
	    return (NULL);
	}
	a->ok = sv_addrlist_ok(a->u, &a->al);
    }
    return (a);
}

/* sv_names_eval - address/header/envelope/string/hasflag tests */
static int sv_names_eval(sv_run *r, const sv_test *t)
{
    sv_keys k;
    size_t  i, j, m, nlen;
    int     hit = 0;
    const cs_headers *hs = r->in->headers;

    if (sv_keys_get(r, t, &k) < 0)
	return (0);
    if (t->kind == SV_T_HASFLAG && t->names.n == 0) {
	const char *fv = sv_flags_var(r, "", &nlen);
	cs_strlist fl = {0};

	if (sv_flags_split(&fl, fv, nlen, 0) < 0)
	    r->oom = 1;
	for (m = 0; m < fl.n && !hit; m++)
	    hit = sv_try(r, t, &k, fl.v[m], strlen(fl.v[m]));
	cs_strlist_free(&fl);
    }
    for (i = 0; i < t->names.n && !hit && !r->oom; i++) {
	/* A name without variables is used as it is; hasflag lowercases. */
	int     own = t->names.v[i].var || t->kind == SV_T_HASFLAG;
	char   *name;

	if (!own) {
	    name = t->names.v[i].s;
	    nlen = t->names.v[i].len;
	} else if ((name = sv_expand(r, &t->names.v[i], &nlen)) == NULL)
	    break;
	switch (t->kind) {
	case SV_T_STRING:
	    hit = sv_try(r, t, &k, name, nlen);
	    break;
	case SV_T_HASFLAG:{
		const char *fv;
		size_t  fl_len;
		cs_strlist fl = {0};

		cs_lowercase(name);
		fv = sv_flags_var(r, name, &fl_len);
		if (sv_flags_split(&fl, fv, fl_len, 0) < 0)
		    r->oom = 1;
		for (m = 0; m < fl.n && !hit; m++)
		    hit = sv_try(r, t, &k, fl.v[m], strlen(fl.v[m]));
		cs_strlist_free(&fl);
		break;
	    }
	case SV_T_ENVELOPE:{
		const char *a = NULL;
		char   *copy;
		size_t  alen;

		if (cs_strcaseeq(name, "from"))
		    a = r->in->env_from;
		else if (cs_strcaseeq(name, "to"))
		    a = r->in->env_to;
		if (a == NULL)
		    break;
		/* Take "<x@y>" as "x@y". */
		alen = strlen(a);
		if (alen >= 2 && a[0] == '<' && a[alen - 1] == '>') {
		    a++;
		    alen -= 2;
		}
		if ((copy = cs_strndup(a, alen)) == NULL) {
		    r->oom = 1;
		    break;
		}
		hit = sv_try_address(r, t, &k, copy, 1);
		free(copy);
		break;
	    }
	default:			/* header, address */
	    for (j = 0; hs && j < hs->n && !hit && !r->oom; j++) {
		const char *v;

		if (hs->v[j].name == NULL || !cs_strcaseeq(hs->v[j].name, name))
		    continue;
		if (t->kind == SV_T_HEADER) {
		    if ((v = sv_header_value(r, j)) != NULL)
			hit = sv_try(r, t, &k, v, strlen(v));
		} else {
		    const sv_addrs *a = sv_header_addrs(r, j);

		    if (a == NULL)
			break;
		    if (a->ok) {
			for (m = 0; m < a->al.n && !hit; m++)
			    hit = sv_try_address(r, t, &k, a->al.v[m].address, 0);
		    } else if (t->apart == SV_A_ALL) {
			/* As Pigeonhole: :all sees the value itself. */
			hit = sv_try(r, t, &k, a->u, strlen(a->u));
		    }
		}
	    }
	    break;
	}
	if (own)
	    free(name);
    }
    sv_keys_free(&k);
    return (hit);
}

/* sv_test_eval - evaluate one test */
static int sv_test_eval(sv_run *r, const sv_test *t)
{
    size_t  i, j, len;
    int     all = 1;

    if (r->oom)
	return (0);
    switch (t->kind) {
    case SV_T_TRUE:
    case SV_T_MAILBOXEXISTS:
	return (1);
    case SV_T_FALSE:
	return (0);
    case SV_T_NOT:
	return (!sv_test_eval(r, &t->kids[0]));
    case SV_T_ALLOF:
	for (i = 0; i < t->nkids; i++)
	    if (!sv_test_eval(r, &t->kids[i]))
		return (0);
	return (1);
    case SV_T_ANYOF:
	for (i = 0; i < t->nkids; i++)
	    if (sv_test_eval(r, &t->kids[i]))
		return (1);
	return (0);
    case SV_T_SIZE:
	return (t->over ? (uint64_t) r->in->size > t->limit
		: (uint64_t) r->in->size < t->limit);
    case SV_T_EXISTS:
	for (i = 0; i < t->names.n && all; i++) {
	    char   *name = sv_expand(r, &t->names.v[i], &len);
	    const cs_headers *hs = r->in->headers;

	    if (name == NULL)
		return (0);
	    for (j = 0; hs && j < hs->n; j++)
		if (hs->v[j].name && cs_strcaseeq(hs->v[j].name, name))
		    break;
	    all = hs != NULL && j < hs->n;
	    free(name);
	}
	return (all);
    case SV_T_VALID_NOTIFY:
	for (i = 0; i < t->names.n && all; i++) {
	    char   *m = sv_expand(r, &t->names.v[i], &len);

	    all = m != NULL && len > 7 && strncasecmp(m, "mailto:", 7) == 0;
	    free(m);
	}
	return (all);
    default:
	return (sv_names_eval(r, t));
    }
}

/* sv_modify - apply set's modifiers in RFC 5229 precedence order */
static char *sv_modify(sv_run *r, int mods, char *s, size_t *len)
{
    size_t  i;

    if (mods & (SV_MOD_LOWER | SV_MOD_UPPER))
	for (i = 0; i < *len; i++)
	    s[i] = (char) ((mods & SV_MOD_LOWER) ? tolower((unsigned char) s[i])
			   : toupper((unsigned char) s[i]));
    if (*len > 0 && (mods & SV_MOD_LOWERFIRST))
	s[0] = (char) tolower((unsigned char) s[0]);
    if (*len > 0 && (mods & SV_MOD_UPPERFIRST))
	s[0] = (char) toupper((unsigned char) s[0]);
    if (mods & (SV_MOD_QUOTEWILDCARD | SV_MOD_ENCODEURL)) {
	cs_buf  b = {0};

	for (i = 0; i < *len; i++) {
	    unsigned char c = (unsigned char) s[i];
	    char    hex[4];
	    int     rc;

	    if (mods & SV_MOD_QUOTEWILDCARD) {
		rc = (c == '*' || c == '?' || c == '\\') ?
		    cs_buf_append(&b, "\\", 1) : 0;
		if (rc == 0)
		    rc = cs_buf_append(&b, &s[i], 1);
	    } else if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
		rc = cs_buf_append(&b, &s[i], 1);
	    } else {
		snprintf(hex, sizeof(hex), "%%%02X", c);
		rc = cs_buf_append(&b, hex, 3);
	    }
	    if (rc < 0) {
		r->oom = 1;
		cs_buf_free(&b);
		return (s);
	    }
	}
	if (b.data == NULL)
	    return (s);
	free(s);
	s = b.data;
	*len = b.len;
    }
    if (mods & SV_MOD_LENGTH) {
	size_t  n = 0;
	char    num[32];

	for (i = 0; i < *len; i++)
	    n += ((unsigned char) s[i] & 0xC0) != 0x80;
	snprintf(num, sizeof(num), "%zu", n);
	free(s);
	if ((s = cs_strdup(num)) == NULL) {
	    r->oom = 1;
	    *len = 0;
	    return (NULL);
	}
	*len = strlen(s);
    }
    return (s);
}

/* sv_flag_cmd - setflag, addflag, removeflag */
static void sv_flag_cmd(sv_run *r, const sv_cmd *c)
{
    const char *name = c->has_str ? c->str.s : "";
    cs_strlist fl = {0};
    cs_buf  b = {0};
    size_t  i, len;
    const char *cur;

    if (c->kind != SV_K_SETFLAG) {
	cur = sv_flags_var(r, name, &len);
	if (sv_flags_split(&fl, cur, len, 0) < 0)
	    goto oom;
    }
    for (i = 0; i < c->list.n; i++) {
	char   *s = sv_expand(r, &c->list.v[i], &len);

	if (s == NULL)
	    goto oom;
	if (sv_flags_split(&fl, s, len, c->kind == SV_K_REMOVEFLAG) < 0) {
	    free(s);
	    goto oom;
	}
	free(s);
    }
    for (i = 0; i < fl.n; i++)
	if ((i > 0 && cs_buf_append(&b, " ", 1) < 0)
	    || cs_buf_append(&b, fl.v[i], strlen(fl.v[i])) < 0)
	    goto oom;
    if (b.data == NULL && cs_buf_append(&b, "", 0) < 0)
	goto oom;
    sv_var_set(r, name, b.data, b.len);
    cs_strlist_free(&fl);
    return;
oom:
    r->oom = 1;
    cs_buf_free(&b);
    cs_strlist_free(&fl);
}

/* sv_block_run - run commands until the end, stop, or out of memory */
static void sv_block_run(sv_run *r, const sv_block *blk)
{
    size_t  i, j, len;

    for (i = 0; i < blk->n && !r->stop && !r->oom && !r->bad; i++) {
	const sv_cmd *c = &blk->v[i];
	char   *s;

	switch (c->kind) {
	case SV_K_IF:
	    for (j = 0; j < c->nbr; j++) {
		if (c->br[j].test == NULL || sv_test_eval(r, c->br[j].test)) {
		    if (!r->oom)
			sv_block_run(r, &c->br[j].body);
		    break;
		}
	    }
	    break;
	case SV_K_STOP:
	    r->stop = 1;
	    break;
	case SV_K_FILEINTO:
	    if ((s = sv_expand(r, &c->str, &len)) == NULL)
		break;
	    /* An empty name built from variables files nowhere (no label). */
	    if (!cs_sieve_utf8_valid(s, len)) {
		/* Pigeonhole fails the script here: so do we. */
		r->bad = 1;
		snprintf(r->why, sizeof(r->why), "fileinto: folder name is not UTF-8");
	    } else if (len > 0 && cs_strlist_add_unique(r->folders, s) < 0)
		r->oom = 1;
	    free(s);
	    break;
	case SV_K_SET:
	    if ((s = sv_expand(r, &c->value, &len)) == NULL)
		break;
	    if ((s = sv_modify(r, c->mods, s, &len)) != NULL)
		sv_var_set(r, c->str.s, s, len);
	    break;
	case SV_K_SETFLAG:
	case SV_K_ADDFLAG:
	case SV_K_REMOVEFLAG:
	    sv_flag_cmd(r, c);
	    break;
	default:				/* keep, discard, redirect, ignored */
	    break;
	}
    }
}

/* sv_parsed_free - n decoded values and parsed address headers */
static void sv_parsed_free(char **dec, sv_addrs *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	free(dec[i]);
	free(addrs[i].u);
	cs_addrlist_free(&addrs[i].al);
    }
    free(dec);
    free(addrs);
}

/* cs_sieve_cache_new - an empty cache for one message's headers; NULL: no memory */
cs_sieve_cache *cs_sieve_cache_new(const cs_headers *headers)
{
    cs_sieve_cache *c;
    size_t  nh = headers ? headers->n : 0;

    if ((c = calloc(1, sizeof(*c))) == NULL
	|| (c->dec = calloc(nh ? nh : 1, sizeof(*c->dec))) == NULL
	|| (c->addrs = calloc(nh ? nh : 1, sizeof(*c->addrs))) == NULL) {
	if (c)
	    free(c->dec);
	free(c);
	return (NULL);
    }
    c->headers = headers;
    return (c);
}

/* cs_sieve_cache_free - release a cache and what it holds */
void    cs_sieve_cache_free(cs_sieve_cache *c)
{
    if (c == NULL)
	return;
    sv_parsed_free(c->dec, c->addrs, c->headers ? c->headers->n : 0);
    free(c);
}

/* cs_sieve_run - the folders a script files one message into */
int     cs_sieve_run(const cs_sieve *sv, const cs_sieve_input *in, cs_strlist *folders,
		             char *err, size_t errlen)
{
    return (cs_sieve_run_cached(sv, in, NULL, folders, err, errlen));
}

/* cs_sieve_run_cached - the same, headers decoded and parsed once per cache */
int     cs_sieve_run_cached(const cs_sieve *sv, const cs_sieve_input *in,
			            cs_sieve_cache *cache, cs_strlist *folders,
			            char *err, size_t errlen)
{
    sv_run *r;
    size_t  i, nh;
    int     rc = 0;

    if (err && errlen)
	err[0] = 0;
    if (sv == NULL || in == NULL || folders == NULL) {
	if (err && errlen)
	    snprintf(err, errlen, "no script");
	return (-1);
    }
    nh = in->headers ? in->headers->n : 0;
    if (cache && cache->headers != in->headers)
	cache = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL
	|| (cache == NULL && ((r->dec = calloc(nh ? nh : 1, sizeof(*r->dec))) == NULL
			      || (r->addrs = calloc(nh ? nh : 1, sizeof(*r->addrs))) == NULL))) {
	if (r)
	    free(r->dec);
	free(r);
	if (err && errlen)
	    snprintf(err, errlen, "out of memory");
	return (-1);
    }
    if (cache) {
	r->dec = cache->dec;
	r->addrs = cache->addrs;
    }
    r->sv = sv;
    r->in = in;
    r->folders = folders;
    sv_block_run(r, &sv->top);
    if (r->oom || r->bad) {
	if (err && errlen)
	    snprintf(err, errlen, "%s", r->oom ? "out of memory" : r->why);
	rc = -1;
    }
    if (cache == NULL)
	sv_parsed_free(r->dec, r->addrs, nh);
    for (i = 0; i < r->nvars; i++)
	free(r->vars[i].val);
    for (i = 0; i < CS_SIEVE_MAX_MATCH; i++)
	free(r->match[i]);
    free(r);
    return (rc);
}
