/*
 * NAME
 *	cs_sieve 3
 * SUMMARY
 *	compile a Sieve script into crmsync's immutable tree (SPEC S2)
 * SYNOPSIS
 *	#include "cs_sieve.h"
 *
 *	cs_sieve *cs_sieve_compile(text, len, err, errlen)
 *
 *	void	cs_sieve_free(sv)
 * DESCRIPTION
 *	Two passes. The first reads the RFC 5228 grammar generically
 *	(command = identifier arguments [test / test-list] (";" / block)),
 *	which needs no knowledge of any command. The second checks each
 *	command and test against what it takes (tags, positional arguments,
 *	required extensions) and builds the typed tree of cs_sieve_impl.h.
 *	Splitting them keeps the grammar in one place and every command's
 *	rules in another.
 * DIAGNOSTICS
 *	The first error wins: "LINE:COL: what is wrong" (1-based, COL in
 *	bytes). Limits: script size, nodes, nesting depth, number of
 *	variables (cs_sieve_impl.h).
 */
#include <config.h>

/* System library. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_sieve_impl.h"

/* Token types of the lexer. */
enum {
    TK_EOF, TK_ID, TK_TAG, TK_NUM, TK_STR, TK_LBRACK, TK_RBRACK, TK_LBRACE,
    TK_RBRACE, TK_LPAREN, TK_RPAREN, TK_COMMA, TK_SEMI,
};

/* Generic argument of the first pass. */
enum { A_TAG, A_NUM, A_STRS };

typedef struct sv_arg {
    int     type;
    int     line, col;
    char   *tag;			/* lowercased, without ':' */
    uint64_t num;
    sv_strlist sl;
    int     bracketed;
} sv_arg;

typedef struct sv_node {
    char   *id;				/* lowercased */
    int     line, col;
    sv_arg *args;
    size_t  nargs;
    struct sv_node *tests;
    size_t  ntests;
    int     testlist;			/* tests came in ( ) */
    struct sv_node *kids;
    size_t  nkids;
    int     block;			/* ended in { } rather than ; */
} sv_node;

typedef struct sv_parser {
    const char *p, *end;
    int     line, col;
    /* current token */
    int     tk;
    int     tline, tcol;
    char   *tstr;			/* TK_ID/TK_TAG/TK_STR text, owned */
    size_t  tlen;
    uint64_t tnum;
    size_t  nodes;
    unsigned ext;
    cs_strlist varnames;		/* distinct variables, for the limit */
    int     matchrefs;			/* a string names ${0}..${9} */
    char   *err;
    size_t  errlen;
    int     failed;
} sv_parser;

/* sv_fail - record the first error at line:col */
__attribute__((format(printf, 4, 5)))
static void sv_fail(sv_parser *ps, int line, int col, const char *fmt,...)
{
    va_list ap;
    char    msg[256];

    if (ps->failed)
	return;
    ps->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ps->err && ps->errlen > 0)
	snprintf(ps->err, ps->errlen, "%d:%d: %s", line, col, msg);
}

/* sv_safe - printable copy of script text for an error message */
static const char *sv_safe(const char *s, char *buf, size_t len)
{
    return (cs_sanitize(s, buf, len));
}

/* sv_advance - consume n bytes, keeping line and column */
static void sv_advance(sv_parser *ps, size_t n)
{
    while (n-- > 0 && ps->p < ps->end) {
	if (*ps->p == '\n') {
	    ps->line++;
	    ps->col = 1;
	} else
	    ps->col++;
	ps->p++;
    }
}

/* sv_skip_space - skip white space and both kinds of comment */
static int sv_skip_space(sv_parser *ps)
{
    while (ps->p < ps->end) {
	char    c = *ps->p;

	if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
	    sv_advance(ps, 1);
	} else if (c == '#') {
	    while (ps->p < ps->end && *ps->p != '\n')
		sv_advance(ps, 1);
	} else if (c == '/' && ps->p + 1 < ps->end && ps->p[1] == '*') {
	    int     line = ps->line, col = ps->col;

	    sv_advance(ps, 2);
	    for (;;) {
		if (ps->p >= ps->end) {
		    sv_fail(ps, line, col, "unterminated comment");
		    return (-1);
		}
		if (*ps->p == '*' && ps->p + 1 < ps->end && ps->p[1] == '/') {
		    sv_advance(ps, 2);
		    break;
		}
		sv_advance(ps, 1);
	    }
	} else
	    break;
    }
    return (0);
}

/* sv_lex_quoted - read a "quoted string"; undefined escapes drop the \ */
static int sv_lex_quoted(sv_parser *ps, cs_buf *b)
{
    int     line = ps->line, col = ps->col;

    sv_advance(ps, 1);
    for (;;) {
	if (ps->p >= ps->end) {
	    sv_fail(ps, line, col, "unterminated string");
	    return (-1);
	}
	if (*ps->p == '"') {
	    sv_advance(ps, 1);
	    return (0);
	}
	if (*ps->p == '\\') {
	    sv_advance(ps, 1);
	    if (ps->p >= ps->end)
		continue;
	}
	if (cs_buf_append(b, ps->p, 1) < 0) {
	    sv_fail(ps, line, col, "out of memory");
	    return (-1);
	}
	sv_advance(ps, 1);
    }
}

/* sv_lex_multiline - read the rest of a text: string, dot-stuffing undone */
static int sv_lex_multiline(sv_parser *ps, cs_buf *b, int line, int col)
{
    /* After "text:", blanks then a comment or the end of the line. */
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
	sv_advance(ps, 1);
    if (ps->p < ps->end && *ps->p == '#') {
	while (ps->p < ps->end && *ps->p != '\n')
	    sv_advance(ps, 1);
    }
    if (ps->p < ps->end && *ps->p == '\r')
	sv_advance(ps, 1);
    if (ps->p >= ps->end || *ps->p != '\n') {
	sv_fail(ps, ps->line, ps->col, "text: must be followed by a line break");
	return (-1);
    }
    sv_advance(ps, 1);
    for (;;) {
	const char *eol;
	size_t  n;

	if (ps->p >= ps->end) {
	    sv_fail(ps, line, col, "unterminated multi-line string");
	    return (-1);
	}
	eol = memchr(ps->p, '\n', (size_t) (ps->end - ps->p));
	n = eol ? (size_t) (eol - ps->p) + 1 : (size_t) (ps->end - ps->p);
	if (ps->p[0] == '.') {
	    size_t  rest = n - 1;
	    const char *q = ps->p + 1;

	    /* "." alone ends the string; ".." is a stuffed dot. */
	    if (rest == 0 || (rest == 1 && *q == '\n')
		|| (rest == 2 && q[0] == '\r' && q[1] == '\n')) {
		sv_advance(ps, n);
		return (0);
	    }
	    sv_advance(ps, 1);
	    n--;
	}
	if (cs_buf_append(b, ps->p, n) < 0) {
	    sv_fail(ps, line, col, "out of memory");
	    return (-1);
	}
	sv_advance(ps, n);
    }
}

/* sv_next - read the next token into ps */
static int sv_next(sv_parser *ps)
{
    cs_buf  b = {0};
    char    c;

    free(ps->tstr);
    ps->tstr = NULL;
    ps->tlen = 0;
    if (sv_skip_space(ps) < 0)
	return (-1);
    ps->tline = ps->line;
    ps->tcol = ps->col;
    if (ps->p >= ps->end) {
	ps->tk = TK_EOF;
	return (0);
    }
    c = *ps->p;
    switch (c) {
    case '[': ps->tk = TK_LBRACK; sv_advance(ps, 1); return (0);
    case ']': ps->tk = TK_RBRACK; sv_advance(ps, 1); return (0);
    case '{': ps->tk = TK_LBRACE; sv_advance(ps, 1); return (0);
    case '}': ps->tk = TK_RBRACE; sv_advance(ps, 1); return (0);
    case '(': ps->tk = TK_LPAREN; sv_advance(ps, 1); return (0);
    case ')': ps->tk = TK_RPAREN; sv_advance(ps, 1); return (0);
    case ',': ps->tk = TK_COMMA; sv_advance(ps, 1); return (0);
    case ';': ps->tk = TK_SEMI; sv_advance(ps, 1); return (0);
    default: break;
    }
    if (c == '"') {
	b.limit = CS_SIEVE_MAX_SCRIPT;
	if (sv_lex_quoted(ps, &b) < 0) {
	    cs_buf_free(&b);
	    return (-1);
	}
	goto string;
    }
    if (isdigit((unsigned char) c)) {
	uint64_t n = 0, mul = 1;

	while (ps->p < ps->end && isdigit((unsigned char) *ps->p)) {
	    unsigned d = (unsigned) (*ps->p - '0');

	    if (n > (UINT64_MAX - d) / 10) {
		sv_fail(ps, ps->tline, ps->tcol, "number too large");
		return (-1);
	    }
	    n = n * 10 + d;
	    sv_advance(ps, 1);
	}
	if (ps->p < ps->end) {
	    switch (*ps->p) {
	    case 'K': case 'k': mul = 1024; break;
	    case 'M': case 'm': mul = 1024 * 1024; break;
	    case 'G': case 'g': mul = 1024 * 1024 * 1024; break;
	    default: break;
	    }
	    if (mul > 1)
		sv_advance(ps, 1);
	}
	if (n > UINT64_MAX / mul) {
	    sv_fail(ps, ps->tline, ps->tcol, "number too large");
	    return (-1);
	}
	ps->tnum = n * mul;
	ps->tk = TK_NUM;
	return (0);
    }
    if (c == ':' || isalpha((unsigned char) c) || c == '_') {
	const char *s;
	int     tag = (c == ':');

	if (tag)
	    sv_advance(ps, 1);
	s = ps->p;
	if (ps->p >= ps->end
	    || !(isalpha((unsigned char) *ps->p) || *ps->p == '_')) {
	    sv_fail(ps, ps->tline, ps->tcol, "':' must be followed by a tag name");
	    return (-1);
	}
	while (ps->p < ps->end && (isalnum((unsigned char) *ps->p) || *ps->p == '_'))
	    sv_advance(ps, 1);
	if (!tag && ps->p - s == 4 && strncasecmp(s, "text", 4) == 0
	    && ps->p < ps->end && *ps->p == ':') {
	    sv_advance(ps, 1);
	    b.limit = CS_SIEVE_MAX_SCRIPT;
	    if (sv_lex_multiline(ps, &b, ps->tline, ps->tcol) < 0) {
		cs_buf_free(&b);
		return (-1);
	    }
	    goto string;
	}
	if ((ps->tstr = cs_strndup(s, (size_t) (ps->p - s))) == NULL) {
	    sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	    return (-1);
	}
	cs_lowercase(ps->tstr);
	ps->tlen = strlen(ps->tstr);
	ps->tk = tag ? TK_TAG : TK_ID;
	return (0);
    }
    if (isprint((unsigned char) c))
	sv_fail(ps, ps->tline, ps->tcol, "unexpected character '%c'", c);
    else
	sv_fail(ps, ps->tline, ps->tcol, "unexpected byte 0x%02x",
		(unsigned) (unsigned char) c);
    return (-1);

string:
    if (b.data == NULL && cs_buf_append(&b, "", 0) < 0) {
	sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	return (-1);
    }
    ps->tstr = b.data;
    ps->tlen = b.len;
    ps->tk = TK_STR;
    return (0);
}

/* sv_count - count one node against the limit */
static int sv_count(sv_parser *ps)
{
    if (++ps->nodes > CS_SIEVE_MAX_NODES) {
	sv_fail(ps, ps->tline, ps->tcol, "script too complex (more than %d elements)",
		CS_SIEVE_MAX_NODES);
	return (-1);
    }
    return (0);
}

/* sv_grow - make room for one more element of size sz in *v */
static int sv_grow(void **v, size_t n, size_t sz)
{
    void   *nv;

    if ((n & (n - 1)) != 0 && n != 0)
	return (0);
    /* n is 0 or a power of two: double. */
    nv = realloc(*v, (n ? n * 2 : 2) * sz);
    if (nv == NULL)
	return (-1);
    *v = nv;
    return (0);
}

static void sv_strlist_free(sv_strlist *);
static void sv_node_free(sv_node *);

/* sv_arg_free - free one generic argument */
static void sv_arg_free(sv_arg *a)
{
    free(a->tag);
    sv_strlist_free(&a->sl);
}

/* sv_node_free - free a generic node and what hangs below it */
static void sv_node_free(sv_node *n)
{
    size_t  i;

    free(n->id);
    for (i = 0; i < n->nargs; i++)
	sv_arg_free(&n->args[i]);
    free(n->args);
    for (i = 0; i < n->ntests; i++)
	sv_node_free(&n->tests[i]);
    free(n->tests);
    for (i = 0; i < n->nkids; i++)
	sv_node_free(&n->kids[i]);
    free(n->kids);
    memset(n, 0, sizeof(*n));
}

/* sv_take_string - move the current string token into list l */
static int sv_take_string(sv_parser *ps, sv_strlist *l)
{
    if (sv_grow((void **) &l->v, l->n, sizeof(*l->v)) < 0) {
	sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	return (-1);
    }
    l->v[l->n].s = ps->tstr;
    l->v[l->n].len = ps->tlen;
    l->v[l->n].var = 0;
    l->n++;
    ps->tstr = NULL;
    if (memchr(l->v[l->n - 1].s, '\0', l->v[l->n - 1].len) != NULL) {
	sv_fail(ps, ps->tline, ps->tcol, "NUL byte in string");
	return (-1);
    }
    return (sv_count(ps));
}

static int sv_parse_test(sv_parser *, sv_node *, int);

/* sv_parse_arguments - arguments, then an optional test or test list */
static int sv_parse_arguments(sv_parser *ps, sv_node *n, int depth)
{
    for (;;) {
	sv_arg *a;

	if (ps->tk != TK_STR && ps->tk != TK_LBRACK && ps->tk != TK_NUM
	    && ps->tk != TK_TAG)
	    break;
	if (sv_grow((void **) &n->args, n->nargs, sizeof(*n->args)) < 0) {
	    sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	    return (-1);
	}
	a = &n->args[n->nargs++];
	memset(a, 0, sizeof(*a));
	a->line = ps->tline;
	a->col = ps->tcol;
	if (sv_count(ps) < 0)
	    return (-1);
	if (ps->tk == TK_TAG) {
	    a->type = A_TAG;
	    a->tag = ps->tstr;
	    ps->tstr = NULL;
	} else if (ps->tk == TK_NUM) {
	    a->type = A_NUM;
	    a->num = ps->tnum;
	} else if (ps->tk == TK_STR) {
	    a->type = A_STRS;
	    if (sv_take_string(ps, &a->sl) < 0)
		return (-1);
	} else {
	    a->type = A_STRS;
	    a->bracketed = 1;
	    for (;;) {
		if (sv_next(ps) < 0)
		    return (-1);
		if (ps->tk != TK_STR) {
		    sv_fail(ps, ps->tline, ps->tcol, "expected a string in string list");
		    return (-1);
		}
		if (sv_take_string(ps, &a->sl) < 0 || sv_next(ps) < 0)
		    return (-1);
		if (ps->tk == TK_RBRACK)
		    break;
		if (ps->tk != TK_COMMA) {
		    sv_fail(ps, ps->tline, ps->tcol, "expected ',' or ']' in string list");
		    return (-1);
		}
	    }
	}
	if (sv_next(ps) < 0)
	    return (-1);
    }
    if (ps->tk == TK_ID) {
	if ((n->tests = calloc(1, sizeof(*n->tests))) == NULL) {
	    sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	    return (-1);
	}
	n->ntests = 1;
	return (sv_parse_test(ps, &n->tests[0], depth + 1));
    }
    if (ps->tk == TK_LPAREN) {
	int     line = ps->tline, col = ps->tcol;

	n->testlist = 1;
	if (depth + 1 > CS_SIEVE_MAX_DEPTH) {
	    sv_fail(ps, line, col, "nesting too deep (limit %d)", CS_SIEVE_MAX_DEPTH);
	    return (-1);
	}
	for (;;) {
	    if (sv_next(ps) < 0)
		return (-1);
	    if (ps->tk != TK_ID) {
		sv_fail(ps, ps->tline, ps->tcol, "expected a test in test list");
		return (-1);
	    }
	    if (sv_grow((void **) &n->tests, n->ntests, sizeof(*n->tests)) < 0) {
		sv_fail(ps, ps->tline, ps->tcol, "out of memory");
		return (-1);
	    }
	    memset(&n->tests[n->ntests], 0, sizeof(*n->tests));
	    if (sv_parse_test(ps, &n->tests[n->ntests++], depth + 1) < 0)
		return (-1);
	    if (ps->tk == TK_RPAREN)
		break;
	    if (ps->tk != TK_COMMA) {
		sv_fail(ps, ps->tline, ps->tcol, "expected ',' or ')' in test list");
		return (-1);
	    }
	}
	return (sv_next(ps));
    }
    return (0);
}

/* sv_parse_test - identifier and arguments of one test */
static int sv_parse_test(sv_parser *ps, sv_node *n, int depth)
{
    if (depth > CS_SIEVE_MAX_DEPTH) {
	sv_fail(ps, ps->tline, ps->tcol, "nesting too deep (limit %d)", CS_SIEVE_MAX_DEPTH);
	return (-1);
    }
    n->id = ps->tstr;
    ps->tstr = NULL;
    n->line = ps->tline;
    n->col = ps->tcol;
    if (sv_count(ps) < 0 || sv_next(ps) < 0)
	return (-1);
    return (sv_parse_arguments(ps, n, depth));
}

static int sv_parse_commands(sv_parser *, sv_node **, size_t *, int);

/* sv_parse_command - one command with its ';' or block */
static int sv_parse_command(sv_parser *ps, sv_node *n, int depth)
{
    n->id = ps->tstr;
    ps->tstr = NULL;
    n->line = ps->tline;
    n->col = ps->tcol;
    if (sv_count(ps) < 0 || sv_next(ps) < 0)
	return (-1);
    if (sv_parse_arguments(ps, n, depth) < 0)
	return (-1);
    if (ps->tk == TK_SEMI)
	return (sv_next(ps));
    if (ps->tk == TK_LBRACE) {
	if (depth + 1 > CS_SIEVE_MAX_DEPTH) {
	    sv_fail(ps, ps->tline, ps->tcol, "nesting too deep (limit %d)",
		    CS_SIEVE_MAX_DEPTH);
	    return (-1);
	}
	n->block = 1;
	if (sv_next(ps) < 0)
	    return (-1);
	if (sv_parse_commands(ps, &n->kids, &n->nkids, depth + 1) < 0)
	    return (-1);
	if (ps->tk != TK_RBRACE) {
	    sv_fail(ps, ps->tline, ps->tcol, "expected '}' to close block");
	    return (-1);
	}
	return (sv_next(ps));
    }
    sv_fail(ps, ps->tline, ps->tcol, "expected ';' or '{' after '%s'", n->id);
    return (-1);
}

/* sv_parse_commands - commands until '}' or the end */
static int sv_parse_commands(sv_parser *ps, sv_node **v, size_t *nv, int depth)
{
    while (ps->tk == TK_ID) {
	if (sv_grow((void **) v, *nv, sizeof(**v)) < 0) {
	    sv_fail(ps, ps->tline, ps->tcol, "out of memory");
	    return (-1);
	}
	memset(&(*v)[*nv], 0, sizeof(**v));
	(*nv)++;
	if (sv_parse_command(ps, &(*v)[*nv - 1], depth) < 0)
	    return (-1);
    }
    if (ps->tk != TK_RBRACE && ps->tk != TK_EOF) {
	sv_fail(ps, ps->tline, ps->tcol, "expected a command");
	return (-1);
    }
    return (0);
}

/*
 * Second pass: check each command and test, build the typed tree.
 */

/* Extensions we know, their require names. */
static const struct {
    const char *name;
    unsigned bit;
} sv_exts[] = {
    {"fileinto", SV_EXT_FILEINTO},
    {"envelope", SV_EXT_ENVELOPE},
    {"subaddress", SV_EXT_SUBADDRESS},
    {"regex", SV_EXT_REGEX},
    {"imap4flags", SV_EXT_IMAP4FLAGS},
    {"copy", SV_EXT_COPY},
    {"mailbox", SV_EXT_MAILBOX},
    {"variables", SV_EXT_VARIABLES},
    {"vacation", SV_EXT_VACATION},
    {"reject", SV_EXT_REJECT},
    {"ereject", SV_EXT_EREJECT},
    {"enotify", SV_EXT_ENOTIFY},
    {"comparator-i;octet", SV_EXT_OCTET},
    {"comparator-i;ascii-casemap", SV_EXT_CASEMAP},
};

/*
 * Headers the address test accepts (RFC 5228 5.1 says restrict it to
 * headers that hold addresses); the same list as Pigeonhole so a script
 * it refuses is refused here too.
 */
static const char *const sv_addr_headers[] = {
    "from", "to", "cc", "bcc", "sender", "resent-from", "resent-to",
    "return-path", "reply-to", "resent-sender", "resent-reply-to",
    "resent-cc", "resent-bcc", "for-approval", "for-handling",
    "for-comment", "apparently-to", "errors-to", "delivered-to",
    "return-receipt-to", "x-admin", "read-receipt-to",
    "x-confirm-reading-to", "return-receipt-requested",
    "registered-mail-reply-requested-by", "mail-followup-to",
    "mail-reply-to", "abuse-reports-to", "x-complaints-to",
    "x-report-abuse-to", "x-beenthere", "x-original-to", NULL,
};

/* sv_strlist_free - free a string list */
static void sv_strlist_free(sv_strlist *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++)
	free(l->v[i].s);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* cs_sieve_test_free - free what a test holds (not the test itself) */
void    cs_sieve_test_free(sv_test *t)
{
    size_t  i;

    /* Both or neither: one calloc can fail without the other. */
    if (t->re && t->re_ok) {
	for (i = 0; i < t->keys.n; i++)
	    if (t->re_ok[i])
		regfree(&t->re[i]);
    }
    free(t->re);
    free(t->re_ok);
    sv_strlist_free(&t->names);
    sv_strlist_free(&t->keys);
    for (i = 0; i < t->nkids; i++)
	cs_sieve_test_free(&t->kids[i]);
    free(t->kids);
    memset(t, 0, sizeof(*t));
}

/* cs_sieve_block_free - free a block of commands */
void    cs_sieve_block_free(sv_block *b)
{
    size_t  i, j;

    for (i = 0; i < b->n; i++) {
	sv_cmd *c = &b->v[i];

	for (j = 0; j < c->nbr; j++) {
	    if (c->br[j].test) {
		cs_sieve_test_free(c->br[j].test);
		free(c->br[j].test);
	    }
	    cs_sieve_block_free(&c->br[j].body);
	}
	free(c->br);
	free(c->str.s);
	free(c->value.s);
	sv_strlist_free(&c->list);
    }
    free(b->v);
    b->v = NULL;
    b->n = 0;
}

/*
 * sv_mark_var - flag a string that needs expansion at run time, and note
 * when it names a match variable (${0}..${9}): a script that names none
 * never reads what :matches and :regex capture, so its runs skip the
 * capturing (sv_try).
 */
static void sv_mark_var(sv_parser *ps, sv_string *str)
{
    const char *d = str->s;

    str->var = 0;
    if (!(ps->ext & SV_EXT_VARIABLES))
	return;
    while ((d = strstr(d, "${")) != NULL) {
	str->var = 1;
	d += 2;
	if (isdigit((unsigned char) *d))
	    ps->matchrefs = 1;
    }
}

/* sv_mark_vars - sv_mark_var for each string of a list */
static void sv_mark_vars(sv_parser *ps, sv_strlist *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++)
	sv_mark_var(ps, &l->v[i]);
}

/* sv_steal - move a string list out of an argument */
static void sv_steal(sv_parser *ps, sv_arg *a, sv_strlist *to)
{
    *to = a->sl;
    a->sl.v = NULL;
    a->sl.n = 0;
    sv_mark_vars(ps, to);
}

/* sv_steal_one - move the single string of an argument out */
static int sv_steal_one(sv_parser *ps, sv_arg *a, sv_string *to, const char *what)
{
    if (a->type != A_STRS || a->sl.n != 1 || a->bracketed) {
	sv_fail(ps, a->line, a->col, "%s must be a single string", what);
	return (-1);
    }
    *to = a->sl.v[0];
    free(a->sl.v);
    a->sl.v = NULL;
    a->sl.n = 0;
    sv_mark_var(ps, to);
    return (0);
}

/* sv_valid_varname - identifier of at most CS_SIEVE_MAX_VARNAME bytes */
static int sv_valid_varname(const char *s)
{
    size_t  i;

    if (!(isalpha((unsigned char) s[0]) || s[0] == '_'))
	return (0);
    for (i = 1; s[i]; i++)
	if (!(isalnum((unsigned char) s[i]) || s[i] == '_'))
	    return (0);
    return (i <= CS_SIEVE_MAX_VARNAME);
}

/* sv_declare_var - check a variable name and count it against the limit */
static int sv_declare_var(sv_parser *ps, sv_arg *a, sv_string *name)
{
    char    buf[80];

    if (name->var || !sv_valid_varname(name->s)) {
	sv_fail(ps, a->line, a->col, "invalid variable name '%s'",
		sv_safe(name->s, buf, sizeof(buf)));
	return (-1);
    }
    cs_lowercase(name->s);
    name->var = 0;
    if (cs_strlist_add_unique(&ps->varnames, name->s) < 0) {
	sv_fail(ps, a->line, a->col, "out of memory");
	return (-1);
    }
    if (ps->varnames.n > CS_SIEVE_MAX_VARS) {
	sv_fail(ps, a->line, a->col, "too many variables (limit %d)", CS_SIEVE_MAX_VARS);
	return (-1);
    }
    return (0);
}

/* Which optional tags a test or command takes. */
enum {
    TAGS_MATCH = 1 << 0,		/* comparator and match type */
    TAGS_APART = 1 << 1,		/* address part */
};

/* sv_unknown_tag - report a tag the command does not take */
static void sv_unknown_tag(sv_parser *ps, const sv_node *n, const sv_arg *a)
{
    char    buf[80];

    sv_fail(ps, a->line, a->col, "unknown tagged argument ':%s' for '%s'",
	    sv_safe(a->tag, buf, sizeof(buf)), n->id);
}

/*
 * sv_match_tags - read comparator, match type and address part tags at
 * the start of n's arguments; returns the index of the first positional
 * argument, or -1.
 */
static int sv_match_tags(sv_parser *ps, sv_node *n, sv_test *t, int which)
{
    size_t  i;
    int     have_m = 0, have_c = 0, have_a = 0;

    t->mtype = SV_M_IS;
    /* Pigeonhole's string test defaults to i;octet, not RFC 5228's
     * i;ascii-casemap: we follow the server the script was written for. */
    t->cmp = t->kind == SV_T_STRING ? SV_C_OCTET : SV_C_CASEMAP;
    t->apart = SV_A_ALL;
    for (i = 0; i < n->nargs && n->args[i].type == A_TAG; i++) {
	sv_arg *a = &n->args[i];
	const char *g = a->tag;
	int     m = -1, p = -1;

	if (strcmp(g, "is") == 0)
	    m = SV_M_IS;
	else if (strcmp(g, "contains") == 0)
	    m = SV_M_CONTAINS;
	else if (strcmp(g, "matches") == 0)
	    m = SV_M_MATCHES;
	else if (strcmp(g, "regex") == 0 && (ps->ext & SV_EXT_REGEX))
	    m = SV_M_REGEX;
	else if ((which & TAGS_APART) && strcmp(g, "all") == 0)
	    p = SV_A_ALL;
	else if ((which & TAGS_APART) && strcmp(g, "localpart") == 0)
	    p = SV_A_LOCAL;
	else if ((which & TAGS_APART) && strcmp(g, "domain") == 0)
	    p = SV_A_DOMAIN;
	else if ((which & TAGS_APART) && strcmp(g, "user") == 0
		 && (ps->ext & SV_EXT_SUBADDRESS))
	    p = SV_A_USER;
	else if ((which & TAGS_APART) && strcmp(g, "detail") == 0
		 && (ps->ext & SV_EXT_SUBADDRESS))
	    p = SV_A_DETAIL;
	else if (strcmp(g, "comparator") == 0) {
	    sv_arg *v = i + 1 < n->nargs ? &n->args[i + 1] : NULL;
	    char    buf[80];

	    if (have_c++) {
		sv_fail(ps, a->line, a->col, "more than one comparator");
		return (-1);
	    }
	    if (v == NULL || v->type != A_STRS || v->sl.n != 1 || v->bracketed) {
		sv_fail(ps, a->line, a->col, ":comparator needs a string argument");
		return (-1);
	    }
	    if (strcmp(v->sl.v[0].s, "i;octet") == 0)
		t->cmp = SV_C_OCTET;
	    else if (strcmp(v->sl.v[0].s, "i;ascii-casemap") == 0)
		t->cmp = SV_C_CASEMAP;
	    else {
		sv_fail(ps, v->line, v->col, "unknown comparator '%s'",
			sv_safe(v->sl.v[0].s, buf, sizeof(buf)));
		return (-1);
	    }
	    i++;
	    continue;
	} else {
	    sv_unknown_tag(ps, n, a);
	    return (-1);
	}
	if (m >= 0) {
	    if (have_m++) {
		sv_fail(ps, a->line, a->col, "more than one match type");
		return (-1);
	    }
	    t->mtype = m;
	} else {
	    if (have_a++) {
		sv_fail(ps, a->line, a->col, "more than one address part");
		return (-1);
	    }
	    t->apart = p;
	}
    }
    return ((int) i);
}

/* sv_positional - check n has exactly want string-list arguments from i */
static int sv_positional(sv_parser *ps, sv_node *n, size_t i, size_t want)
{
    size_t  k;

    for (k = i; k < n->nargs; k++) {
	if (n->args[k].type == A_TAG) {
	    sv_unknown_tag(ps, n, &n->args[k]);
	    return (-1);
	}
	if (n->args[k].type != A_STRS) {
	    sv_fail(ps, n->args[k].line, n->args[k].col,
		    "'%s' takes no number here", n->id);
	    return (-1);
	}
    }
    if (n->nargs - i != want) {
	sv_fail(ps, n->line, n->col, "'%s' needs %zu string argument%s, got %zu",
		n->id, want, want == 1 ? "" : "s", n->nargs - i);
	return (-1);
    }
    return (0);
}

/* sv_no_tests - a command or test that takes no test */
static int sv_no_tests(sv_parser *ps, sv_node *n)
{
    if (n->ntests > 0) {
	sv_fail(ps, n->tests[0].line, n->tests[0].col, "'%s' takes no test", n->id);
	return (-1);
    }
    return (0);
}

/* sv_compile_regexes - compile constant :regex keys now */
static int sv_compile_regexes(sv_parser *ps, sv_node *n, sv_test *t, const sv_arg *ka)
{
    size_t  i;

    if (t->mtype != SV_M_REGEX)
	return (0);
    t->re = calloc(t->keys.n ? t->keys.n : 1, sizeof(*t->re));
    t->re_ok = calloc(t->keys.n ? t->keys.n : 1, 1);
    if (t->re == NULL || t->re_ok == NULL) {
	sv_fail(ps, n->line, n->col, "out of memory");
	return (-1);
    }
    for (i = 0; i < t->keys.n; i++) {
	int     rc;
	char    msg[128], buf[80];

	if (t->keys.v[i].var)
	    continue;
	if (!cs_sieve_regex_sane(t->keys.v[i].s, t->keys.v[i].len)) {
	    sv_fail(ps, ka->line, ka->col, "regular expression too complex '%s'",
		    sv_safe(t->keys.v[i].s, buf, sizeof(buf)));
	    return (-1);
	}
	rc = regcomp(&t->re[i], t->keys.v[i].s,
		     REG_EXTENDED | (t->cmp == SV_C_CASEMAP ? REG_ICASE : 0));
	if (rc != 0) {
	    regerror(rc, &t->re[i], msg, sizeof(msg));
	    sv_fail(ps, ka->line, ka->col, "invalid regular expression '%s': %s",
		    sv_safe(t->keys.v[i].s, buf, sizeof(buf)), msg);
	    return (-1);
	}
	t->re_ok[i] = 1;
    }
    return (0);
}

/* sv_valid_header_name - RFC 5322 field name: printable, no colon */
static int sv_valid_header_name(const char *s)
{
    if (*s == 0)
	return (0);
    for (; *s; s++)
	if ((unsigned char) *s <= 32 || (unsigned char) *s >= 127 || *s == ':')
	    return (0);
    return (1);
}

/* sv_check_headers - constant header names must be valid field names */
static int sv_check_headers(sv_parser *ps, const sv_arg *a, const sv_strlist *l, int address)
{
    size_t  i, k;
    char    buf[80];

    for (i = 0; i < l->n; i++) {
	if (l->v[i].var)
	    continue;
	if (!sv_valid_header_name(l->v[i].s)) {
	    sv_fail(ps, a->line, a->col, "invalid header name '%s'",
		    sv_safe(l->v[i].s, buf, sizeof(buf)));
	    return (-1);
	}
	if (!address)
	    continue;
	for (k = 0; sv_addr_headers[k]; k++)
	    if (cs_strcaseeq(sv_addr_headers[k], l->v[i].s))
		break;
	if (sv_addr_headers[k] == NULL) {
	    sv_fail(ps, a->line, a->col, "header '%s' is not allowed for the address test",
		    sv_safe(l->v[i].s, buf, sizeof(buf)));
	    return (-1);
	}
    }
    return (0);
}

static int sv_conv_test(sv_parser *, sv_node *, sv_test *);

/* sv_conv_test - check one generic test and build its typed form */
static int sv_conv_test(sv_parser *ps, sv_node *n, sv_test *t)
{
    const char *id = n->id;
    int     i;
    char    buf[80];

    if (strcmp(id, "true") == 0 || strcmp(id, "false") == 0) {
	t->kind = id[0] == 't' ? SV_T_TRUE : SV_T_FALSE;
	if (sv_no_tests(ps, n) < 0 || sv_positional(ps, n, 0, 0) < 0)
	    return (-1);
	return (0);
    }
    if (strcmp(id, "not") == 0 || strcmp(id, "allof") == 0 || strcmp(id, "anyof") == 0) {
	size_t  k;

	t->kind = id[0] == 'n' ? SV_T_NOT : id[1] == 'l' ? SV_T_ALLOF : SV_T_ANYOF;
	if (sv_positional(ps, n, 0, 0) < 0)
	    return (-1);
	if (t->kind == SV_T_NOT ? (n->ntests != 1 || n->testlist)
	    : (!n->testlist || n->ntests == 0)) {
	    sv_fail(ps, n->line, n->col, t->kind == SV_T_NOT ?
		    "'not' needs one test" : "'%s' needs a test list", id);
	    return (-1);
	}
	if ((t->kids = calloc(n->ntests, sizeof(*t->kids))) == NULL) {
	    sv_fail(ps, n->line, n->col, "out of memory");
	    return (-1);
	}
	for (k = 0; k < n->ntests; k++) {
	    t->nkids++;
	    if (sv_conv_test(ps, &n->tests[k], &t->kids[k]) < 0)
		return (-1);
	}
	return (0);
    }
    if (sv_no_tests(ps, n) < 0)
	return (-1);
    if (strcmp(id, "size") == 0) {
	int     tags = 0;

	t->kind = SV_T_SIZE;
	for (i = 0; i < (int) n->nargs; i++) {
	    sv_arg *a = &n->args[i];

	    if (a->type == A_TAG && (strcmp(a->tag, "over") == 0 || strcmp(a->tag, "under") == 0)) {
		if (tags++) {
		    sv_fail(ps, a->line, a->col, "'size' takes one of :over or :under");
		    return (-1);
		}
		t->over = a->tag[0] == 'o';
	    } else if (a->type == A_TAG) {
		sv_unknown_tag(ps, n, a);
		return (-1);
	    } else if (a->type == A_NUM && tags == 1 && i == (int) n->nargs - 1) {
		t->limit = a->num;
		return (0);
	    } else
		break;
	}
	sv_fail(ps, n->line, n->col, "'size' needs :over or :under and a number");
	return (-1);
    }
    if (strcmp(id, "exists") == 0) {
	t->kind = SV_T_EXISTS;
	if (sv_positional(ps, n, 0, 1) < 0)
	    return (-1);
	sv_steal(ps, &n->args[0], &t->names);
	return (sv_check_headers(ps, &n->args[0], &t->names, 0));
    }
    if (strcmp(id, "mailboxexists") == 0 && (ps->ext & SV_EXT_MAILBOX)) {
	t->kind = SV_T_MAILBOXEXISTS;
	if (sv_positional(ps, n, 0, 1) < 0)
	    return (-1);
	sv_steal(ps, &n->args[0], &t->names);
	return (0);
    }
    if (strcmp(id, "valid_notify_method") == 0 && (ps->ext & SV_EXT_ENOTIFY)) {
	t->kind = SV_T_VALID_NOTIFY;
	if (sv_positional(ps, n, 0, 1) < 0)
	    return (-1);
	sv_steal(ps, &n->args[0], &t->names);
	return (0);
    }
    if (strcmp(id, "header") == 0 || strcmp(id, "address") == 0
	|| (strcmp(id, "envelope") == 0 && (ps->ext & SV_EXT_ENVELOPE))
	|| (strcmp(id, "string") == 0 && (ps->ext & SV_EXT_VARIABLES))) {
	int     addr = id[0] == 'a' || id[0] == 'e';

	t->kind = id[0] == 'h' ? SV_T_HEADER : id[0] == 'a' ? SV_T_ADDRESS
	    : id[0] == 'e' ? SV_T_ENVELOPE : SV_T_STRING;
	if ((i = sv_match_tags(ps, n, t, TAGS_MATCH | (addr ? TAGS_APART : 0))) < 0
	    || sv_positional(ps, n, (size_t) i, 2) < 0)
	    return (-1);
	sv_steal(ps, &n->args[i], &t->names);
	sv_steal(ps, &n->args[i + 1], &t->keys);
	if (t->kind == SV_T_HEADER || t->kind == SV_T_ADDRESS) {
	    if (sv_check_headers(ps, &n->args[i], &t->names, t->kind == SV_T_ADDRESS) < 0)
		return (-1);
	}
	return (sv_compile_regexes(ps, n, t, &n->args[i + 1]));
    }
    if (strcmp(id, "hasflag") == 0 && (ps->ext & SV_EXT_IMAP4FLAGS)) {
	size_t  k, npos;

	t->kind = SV_T_HASFLAG;
	if ((i = sv_match_tags(ps, n, t, TAGS_MATCH)) < 0)
	    return (-1);
	npos = n->nargs - (size_t) i;
	if (npos == 2 && !(ps->ext & SV_EXT_VARIABLES)) {
	    sv_fail(ps, n->line, n->col, "'hasflag' with a variable list needs require \"variables\"");
	    return (-1);
	}
	if (sv_positional(ps, n, (size_t) i, npos == 2 ? 2 : 1) < 0)
	    return (-1);
	if (npos == 2) {
	    sv_steal(ps, &n->args[i], &t->names);
	    for (k = 0; k < t->names.n; k++)
		if (sv_declare_var(ps, &n->args[i], &t->names.v[k]) < 0)
		    return (-1);
	    i++;
	}
	sv_steal(ps, &n->args[i], &t->keys);
	return (sv_compile_regexes(ps, n, t, &n->args[i]));
    }
    sv_fail(ps, n->line, n->col, "unknown test '%s'", sv_safe(id, buf, sizeof(buf)));
    return (-1);
}

/* sv_new_test - allocate and build the test of an if/elsif */
static sv_test *sv_new_test(sv_parser *ps, sv_node *n)
{
    sv_test *t;

    if (n->ntests != 1 || n->testlist) {
	sv_fail(ps, n->line, n->col, "'%s' needs one test", n->id);
	return (NULL);
    }
    if (n->nargs > 0) {
	sv_fail(ps, n->args[0].line, n->args[0].col, "'%s' takes no arguments", n->id);
	return (NULL);
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
	sv_fail(ps, n->line, n->col, "out of memory");
	return (NULL);
    }
    if (sv_conv_test(ps, &n->tests[0], t) < 0) {
	cs_sieve_test_free(t);
	free(t);
	return (NULL);
    }
    return (t);
}

/* Tagged arguments of the commands we parse and ignore. */
typedef struct sv_tagdef {
    const char *name;
    int     arg;			/* A_TAG: none, A_NUM, A_STRS */
} sv_tagdef;

static const sv_tagdef sv_vacation_tags[] = {
    {"days", A_NUM}, {"subject", A_STRS}, {"from", A_STRS},
    {"addresses", A_STRS}, {"mime", A_TAG}, {"handle", A_STRS}, {0, 0},
};
static const sv_tagdef sv_notify_tags[] = {
    {"from", A_STRS}, {"importance", A_STRS}, {"options", A_STRS},
    {"message", A_STRS}, {0, 0},
};
static const sv_tagdef sv_none_tags[] = {{0, 0}};

/* sv_check_ignored - syntax of an action we accept but do not perform */
static int sv_check_ignored(sv_parser *ps, sv_node *n, const sv_tagdef *defs)
{
    size_t  i, k;

    for (i = 0; i < n->nargs && n->args[i].type == A_TAG; i++) {
	sv_arg *a = &n->args[i];

	for (k = 0; defs[k].name; k++)
	    if (strcmp(defs[k].name, a->tag) == 0)
		break;
	if (defs[k].name == NULL) {
	    sv_unknown_tag(ps, n, a);
	    return (-1);
	}
	if (defs[k].arg != A_TAG) {
	    if (i + 1 >= n->nargs || n->args[i + 1].type != defs[k].arg) {
		sv_fail(ps, a->line, a->col, "':%s' needs %s", a->tag,
			defs[k].arg == A_NUM ? "a number" : "a string");
		return (-1);
	    }
	    i++;
	}
    }
    return (sv_positional(ps, n, i, 1));
}

/* sv_cmd_plain - stop, discard: no arguments */
static int sv_cmd_plain(sv_parser *ps, sv_node *n, sv_cmd *c)
{
    (void) c;
    return (sv_positional(ps, n, 0, 0));
}

/* sv_cmd_deliver - keep, fileinto, redirect: tags, then a folder or address */
static int sv_cmd_deliver(sv_parser *ps, sv_node *n, sv_cmd *c)
{
    int     copy = 0, flags = 0, create = 0;
    size_t  i;

    for (i = 0; i < n->nargs && n->args[i].type == A_TAG; i++) {
	sv_arg *a = &n->args[i];
	int    *seen;

	if (strcmp(a->tag, "copy") == 0 && (ps->ext & SV_EXT_COPY) && c->kind != SV_K_KEEP)
	    seen = &copy;
	else if (strcmp(a->tag, "create") == 0 && (ps->ext & SV_EXT_MAILBOX)
		 && c->kind == SV_K_FILEINTO)
	    seen = &create;
	else if (strcmp(a->tag, "flags") == 0 && (ps->ext & SV_EXT_IMAP4FLAGS)
		 && c->kind != SV_K_REDIRECT)
	    seen = &flags;
	else {
	    sv_unknown_tag(ps, n, a);
	    return (-1);
	}
	if ((*seen)++) {
	    sv_fail(ps, a->line, a->col, "':%s' given twice", a->tag);
	    return (-1);
	}
	/* Only after the twice check: a second list would overwrite the
	 * first one, which nothing would free. */
	if (seen == &flags) {
	    if (i + 1 >= n->nargs || n->args[i + 1].type != A_STRS) {
		sv_fail(ps, a->line, a->col, "':flags' needs a string list");
		return (-1);
	    }
	    i++;
	    sv_steal(ps, &n->args[i], &c->list);
	    c->has_list = 1;
	}
    }
    if (sv_positional(ps, n, i, c->kind == SV_K_KEEP ? 0 : 1) < 0)
	return (-1);
    if (c->kind == SV_K_KEEP)
	return (0);
    if (sv_steal_one(ps, &n->args[i], &c->str,
		     c->kind == SV_K_FILEINTO ? "folder" : "address") < 0)
	return (-1);
    c->has_str = 1;
    if (c->kind == SV_K_FILEINTO && !c->str.var && c->str.len == 0) {
	sv_fail(ps, n->args[i].line, n->args[i].col, "empty folder name");
	return (-1);
    }
    if (c->kind == SV_K_FILEINTO && !cs_sieve_utf8_valid(c->str.s, c->str.len)) {
	sv_fail(ps, n->args[i].line, n->args[i].col, "folder name is not UTF-8");
	return (-1);
    }
    return (0);
}

/* sv_cmd_flags - setflag, addflag, removeflag: [variable] list */
static int sv_cmd_flags(sv_parser *ps, sv_node *n, sv_cmd *c)
{
    size_t  npos = n->nargs;
    size_t  i = 0;

    if (npos == 2 && !(ps->ext & SV_EXT_VARIABLES)) {
	sv_fail(ps, n->line, n->col, "'%s' with a variable needs require \"variables\"", n->id);
	return (-1);
    }
    if (sv_positional(ps, n, 0, npos == 2 ? 2 : 1) < 0)
	return (-1);
    if (npos == 2) {
	if (sv_steal_one(ps, &n->args[0], &c->str, "variable name") < 0
	    || sv_declare_var(ps, &n->args[0], &c->str) < 0)
	    return (-1);
	c->has_str = 1;
	i = 1;
    }
    sv_steal(ps, &n->args[i], &c->list);
    c->has_list = 1;
    return (0);
}

/* sv_cmd_set - set [modifiers] name value (RFC 5229) */
static int sv_cmd_set(sv_parser *ps, sv_node *n, sv_cmd *c)
{
    static const struct {
	const char *name;
	int     bit, prec;
    }       mods[] = {
	{"lower", SV_MOD_LOWER, 40}, {"upper", SV_MOD_UPPER, 40},
	{"lowerfirst", SV_MOD_LOWERFIRST, 30}, {"upperfirst", SV_MOD_UPPERFIRST, 30},
	{"quotewildcard", SV_MOD_QUOTEWILDCARD, 20},
	{"encodeurl", SV_MOD_ENCODEURL, 15}, {"length", SV_MOD_LENGTH, 10},
    };
    int     precs = 0;
    size_t  i;

    for (i = 0; i < n->nargs && n->args[i].type == A_TAG; i++) {
	sv_arg *a = &n->args[i];
	size_t  k;

	for (k = 0; k < sizeof(mods) / sizeof(mods[0]); k++)
	    if (strcmp(mods[k].name, a->tag) == 0)
		break;
	if (k == sizeof(mods) / sizeof(mods[0])
	    || (mods[k].bit == SV_MOD_ENCODEURL && !(ps->ext & SV_EXT_ENOTIFY))) {
	    sv_unknown_tag(ps, n, a);
	    return (-1);
	}
	/* RFC 5229 4: one modifier per precedence level. */
	if (precs & (1 << (mods[k].prec / 5))) {
	    sv_fail(ps, a->line, a->col, "conflicting modifier ':%s'", a->tag);
	    return (-1);
	}
	precs |= 1 << (mods[k].prec / 5);
	c->mods |= mods[k].bit;
    }
    if (sv_positional(ps, n, i, 2) < 0
	|| sv_steal_one(ps, &n->args[i], &c->str, "variable name") < 0
	|| sv_declare_var(ps, &n->args[i], &c->str) < 0
	|| sv_steal_one(ps, &n->args[i + 1], &c->value, "value") < 0)
	return (-1);
    c->has_str = 1;
    return (0);
}

/*
 * The simple commands: name, the extension that must be required first
 * (0: core), the kind it compiles to, the function that checks its
 * arguments and, for actions we parse but do not perform, their tags.
 * if/elsif/else and require are handled by sv_conv_block and sv_require.
 */
static const struct sv_cmddef {
    const char *name;
    unsigned ext;
    int     kind;
    int     (*conv) (sv_parser *, sv_node *, sv_cmd *);
    const sv_tagdef *ignored;		/* SV_K_IGNORED: tags it takes */
} sv_cmds[] = {
    {"stop", 0, SV_K_STOP, sv_cmd_plain, 0},
    {"discard", 0, SV_K_DISCARD, sv_cmd_plain, 0},
    {"keep", 0, SV_K_KEEP, sv_cmd_deliver, 0},
    {"fileinto", SV_EXT_FILEINTO, SV_K_FILEINTO, sv_cmd_deliver, 0},
    {"redirect", 0, SV_K_REDIRECT, sv_cmd_deliver, 0},
    {"setflag", SV_EXT_IMAP4FLAGS, SV_K_SETFLAG, sv_cmd_flags, 0},
    {"addflag", SV_EXT_IMAP4FLAGS, SV_K_ADDFLAG, sv_cmd_flags, 0},
    {"removeflag", SV_EXT_IMAP4FLAGS, SV_K_REMOVEFLAG, sv_cmd_flags, 0},
    {"set", SV_EXT_VARIABLES, SV_K_SET, sv_cmd_set, 0},
    {"vacation", SV_EXT_VACATION, SV_K_IGNORED, 0, sv_vacation_tags},
    {"reject", SV_EXT_REJECT, SV_K_IGNORED, 0, sv_none_tags},
    {"ereject", SV_EXT_EREJECT, SV_K_IGNORED, 0, sv_none_tags},
    {"notify", SV_EXT_ENOTIFY, SV_K_IGNORED, 0, sv_notify_tags},
};

/* sv_conv_simple - a command other than if/elsif/else/require */
static int sv_conv_simple(sv_parser *ps, sv_node *n, sv_cmd *c)
{
    const char *id = n->id;
    size_t  k;
    char    buf[80];

    if (n->block) {
	sv_fail(ps, n->line, n->col, "'%s' takes no block", id);
	return (-1);
    }
    if (sv_no_tests(ps, n) < 0)
	return (-1);
    for (k = 0; k < sizeof(sv_cmds) / sizeof(sv_cmds[0]); k++) {
	const struct sv_cmddef *d = &sv_cmds[k];

	/* A command whose extension is not required is unknown. */
	if (strcmp(d->name, id) != 0 || (d->ext && !(ps->ext & d->ext)))
	    continue;
	c->kind = d->kind;
	if (d->ignored)
	    return (sv_check_ignored(ps, n, d->ignored));
	return (d->conv(ps, n, c));
    }
    c->kind = SV_K_IGNORED;
    if (strcmp(id, "require") == 0)
	sv_fail(ps, n->line, n->col, "require must come before any other command");
    else if (strcmp(id, "elsif") == 0 || strcmp(id, "else") == 0)
	sv_fail(ps, n->line, n->col, "'%s' without a preceding 'if'", id);
    else
	sv_fail(ps, n->line, n->col, "unknown command '%s'%s",
		sv_safe(id, buf, sizeof(buf)),
		(strcmp(id, "if") == 0) ? "" : " (missing require?)");
    return (-1);
}

/* sv_conv_block - check and build a list of commands */
static int sv_conv_block(sv_parser *ps, sv_node *v, size_t nv, sv_block *out)
{
    size_t  i;

    if (nv == 0)
	return (0);
    if ((out->v = calloc(nv, sizeof(*out->v))) == NULL) {
	sv_fail(ps, v[0].line, v[0].col, "out of memory");
	return (-1);
    }
    for (i = 0; i < nv; i++) {
	sv_node *n = &v[i];
	int     is_if = strcmp(n->id, "if") == 0;
	int     is_else = strcmp(n->id, "else") == 0;
	int     is_elsif = strcmp(n->id, "elsif") == 0;
	sv_cmd *c;
	sv_branch *b;

	if (is_if || is_else || is_elsif) {
	    if (!n->block) {
		sv_fail(ps, n->line, n->col, "'%s' needs a block", n->id);
		return (-1);
	    }
	    if (is_if) {
		c = &out->v[out->n++];
	    } else {
		c = out->n > 0 ? &out->v[out->n - 1] : NULL;
		if (c == NULL || c->kind != SV_K_IF || c->br[c->nbr - 1].test == NULL
		    || (strcmp(v[i - 1].id, "if") != 0 && strcmp(v[i - 1].id, "elsif") != 0)) {
		    sv_fail(ps, n->line, n->col, "'%s' without a preceding 'if'", n->id);
		    return (-1);
		}
	    }
	    c->kind = SV_K_IF;
	    if (sv_grow((void **) &c->br, c->nbr, sizeof(*c->br)) < 0) {
		sv_fail(ps, n->line, n->col, "out of memory");
		return (-1);
	    }
	    b = &c->br[c->nbr++];
	    memset(b, 0, sizeof(*b));
	    if (is_else) {
		if (n->nargs > 0 || n->ntests > 0) {
		    sv_fail(ps, n->line, n->col, "'else' takes no test");
		    return (-1);
		}
	    } else if ((b->test = sv_new_test(ps, n)) == NULL)
		return (-1);
	    if (sv_conv_block(ps, n->kids, n->nkids, &b->body) < 0)
		return (-1);
	    continue;
	}
	c = &out->v[out->n++];
	if (sv_conv_simple(ps, n, c) < 0)
	    return (-1);
    }
    return (0);
}

/* sv_require - the require commands at the top; returns how many */
static int sv_require(sv_parser *ps, sv_node *v, size_t nv, size_t *used)
{
    size_t  i, k, j;
    char    buf[80];

    for (i = 0; i < nv && strcmp(v[i].id, "require") == 0; i++) {
	sv_node *n = &v[i];

	if (n->block || sv_no_tests(ps, n) < 0 || sv_positional(ps, n, 0, 1) < 0) {
	    if (n->block)
		sv_fail(ps, n->line, n->col, "'require' takes no block");
	    return (-1);
	}
	for (k = 0; k < n->args[0].sl.n; k++) {
	    const char *name = n->args[0].sl.v[k].s;

	    for (j = 0; j < sizeof(sv_exts) / sizeof(sv_exts[0]); j++)
		if (strcmp(sv_exts[j].name, name) == 0)
		    break;
	    if (j == sizeof(sv_exts) / sizeof(sv_exts[0])) {
		sv_fail(ps, n->args[0].line, n->args[0].col, "unsupported extension '%s'",
			sv_safe(name, buf, sizeof(buf)));
		return (-1);
	    }
	    ps->ext |= sv_exts[j].bit;
	}
    }
    *used = i;
    return (0);
}

/* cs_sieve_compile - parse and check a script */
cs_sieve *cs_sieve_compile(const char *text, size_t len, char *err, size_t errlen)
{
    sv_parser ps;
    sv_node *top = NULL;
    size_t  ntop = 0, nreq = 0, i;
    cs_sieve *sv = NULL;

    memset(&ps, 0, sizeof(ps));
    ps.err = err;
    ps.errlen = errlen;
    ps.line = ps.col = 1;
    if (err && errlen)
	err[0] = 0;
    if (text == NULL)
	text = "";
    if (len > CS_SIEVE_MAX_SCRIPT) {
	sv_fail(&ps, 1, 1, "script too large (limit %d bytes)", CS_SIEVE_MAX_SCRIPT);
	return (NULL);
    }
    ps.p = text;
    ps.end = text + len;
    if (sv_next(&ps) == 0 && sv_parse_commands(&ps, &top, &ntop, 0) == 0
	&& ps.tk != TK_EOF)
	sv_fail(&ps, ps.tline, ps.tcol, "unexpected '}'");
    if (!ps.failed && sv_require(&ps, top, ntop, &nreq) == 0) {
	if ((sv = calloc(1, sizeof(*sv))) == NULL)
	    sv_fail(&ps, 1, 1, "out of memory");
	else {
	    sv->ext = ps.ext;
	    if (ntop > nreq)
		sv_conv_block(&ps, top + nreq, ntop - nreq, &sv->top);
	    sv->matchrefs = ps.matchrefs;
	}
    }
    for (i = 0; i < ntop; i++)
	sv_node_free(&top[i]);
    free(top);
    free(ps.tstr);
    cs_strlist_free(&ps.varnames);
    if (ps.failed) {
	cs_sieve_free(sv);
	return (NULL);
    }
    return (sv);
}

/* cs_sieve_free - release a compiled script */
void    cs_sieve_free(cs_sieve *sv)
{
    if (sv == NULL)
	return;
    cs_sieve_block_free(&sv->top);
    free(sv);
}
