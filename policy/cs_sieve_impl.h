/*
 * NAME
 *	cs_sieve_impl 3h
 * SUMMARY
 *	compiled form of a crmsync Sieve script, shared by parser and interpreter
 * DESCRIPTION
 *	cs_sieve.c turns script text into this tree (cs_sieve_compile);
 *	cs_sieve_run.c walks it. Nothing here changes after compilation, so
 *	one tree serves any number of threads. Strings keep their length:
 *	a script string may hold any byte but NUL.
 */
#ifndef CS_SIEVE_IMPL_H
#define CS_SIEVE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include "cs_sieve.h"

/* Limits (RFC 5229 asks for at least 128 variables of 4000 octets). */
#define CS_SIEVE_MAX_SCRIPT	(1024 * 1024)	/* bytes of script text */
#define CS_SIEVE_MAX_NODES	50000		/* commands + tests + arguments */
#define CS_SIEVE_MAX_DEPTH	32		/* nesting of blocks and tests */
#define CS_SIEVE_MAX_VARS	255		/* distinct variables set at run time */
#define CS_SIEVE_MAX_VARSIZE	4096		/* bytes of one variable's value */
#define CS_SIEVE_MAX_VARNAME	64		/* bytes of a variable name */
#define CS_SIEVE_MAX_EXPAND	65536		/* bytes of one expanded string */
#define CS_SIEVE_MAX_MATCH	10		/* ${0} .. ${9} */
#define CS_SIEVE_RE_MAX		1024		/* bytes of one :regex key */
#define CS_SIEVE_RE_INPUT	4096		/* bytes of a value a :regex sees */
#define CS_SIEVE_RE_DEPTH	16		/* nested groups in it */
#define CS_SIEVE_RE_COST	20000		/* its estimated size after
						 * regcomp expands repetitions */

/* Extensions, as bits of cs_sieve.ext. */
enum {
    SV_EXT_FILEINTO = 1 << 0,
    SV_EXT_ENVELOPE = 1 << 1,
    SV_EXT_SUBADDRESS = 1 << 2,
    SV_EXT_REGEX = 1 << 3,
    SV_EXT_IMAP4FLAGS = 1 << 4,
    SV_EXT_COPY = 1 << 5,
    SV_EXT_MAILBOX = 1 << 6,
    SV_EXT_VARIABLES = 1 << 7,
    SV_EXT_VACATION = 1 << 8,
    SV_EXT_REJECT = 1 << 9,
    SV_EXT_EREJECT = 1 << 10,
    SV_EXT_ENOTIFY = 1 << 11,
    SV_EXT_OCTET = 1 << 12,		/* comparator-i;octet */
    SV_EXT_CASEMAP = 1 << 13,		/* comparator-i;ascii-casemap */
};

typedef struct sv_string {
    char   *s;				/* NUL-terminated, no NUL inside */
    size_t  len;
    int     var;			/* holds "${" and variables are on */
} sv_string;

typedef struct sv_strlist {
    sv_string *v;
    size_t  n;
} sv_strlist;

enum sv_mtype { SV_M_IS, SV_M_CONTAINS, SV_M_MATCHES, SV_M_REGEX };
enum sv_cmp { SV_C_CASEMAP, SV_C_OCTET };
enum sv_apart { SV_A_ALL, SV_A_LOCAL, SV_A_DOMAIN, SV_A_USER, SV_A_DETAIL };

enum sv_test_kind {
    SV_T_ADDRESS, SV_T_ENVELOPE, SV_T_HEADER, SV_T_EXISTS, SV_T_SIZE,
    SV_T_TRUE, SV_T_FALSE, SV_T_NOT, SV_T_ALLOF, SV_T_ANYOF,
    SV_T_HASFLAG, SV_T_STRING, SV_T_MAILBOXEXISTS, SV_T_VALID_NOTIFY,
};

typedef struct sv_test {
    int     kind;
    int     mtype, cmp, apart;
    sv_strlist names;			/* headers, envelope parts, sources,
					 * flag variables */
    sv_strlist keys;
    regex_t *re;			/* per key when :regex; valid if re_ok */
    unsigned char *re_ok;
    int     over;			/* size :over (else :under) */
    uint64_t limit;
    struct sv_test *kids;		/* not, allof, anyof */
    size_t  nkids;
} sv_test;

enum sv_cmd_kind {
    SV_K_IF, SV_K_STOP, SV_K_KEEP, SV_K_DISCARD, SV_K_FILEINTO,
    SV_K_REDIRECT, SV_K_SETFLAG, SV_K_ADDFLAG, SV_K_REMOVEFLAG, SV_K_SET,
    SV_K_IGNORED,
};

/* set modifiers, in the order they apply (RFC 5229 4.1 precedence). */
enum {
    SV_MOD_LOWER = 1 << 0, SV_MOD_UPPER = 1 << 1,
    SV_MOD_LOWERFIRST = 1 << 2, SV_MOD_UPPERFIRST = 1 << 3,
    SV_MOD_QUOTEWILDCARD = 1 << 4, SV_MOD_ENCODEURL = 1 << 5,
    SV_MOD_LENGTH = 1 << 6,
};

struct sv_cmd;

typedef struct sv_block {
    struct sv_cmd *v;
    size_t  n;
} sv_block;

typedef struct sv_branch {
    sv_test *test;			/* NULL for else */
    sv_block body;
} sv_branch;

typedef struct sv_cmd {
    int     kind;
    sv_branch *br;			/* if/elsif/else chain */
    size_t  nbr;
    sv_string str;			/* fileinto folder, set/flag variable */
    int     has_str;
    sv_string value;			/* set value */
    int     mods;			/* set modifiers */
    sv_strlist list;			/* flags */
    int     has_list;
} sv_cmd;

struct cs_sieve {
    unsigned ext;
    int     matchrefs;			/* some string names ${0}..${9} */
    sv_block top;
};

/* Free a test tree / block (parser helpers used by cs_sieve_free). */
void    cs_sieve_test_free(sv_test *);
void    cs_sieve_block_free(sv_block *);

/* Byte-level match of one value against one key (no variables). caps may
 * be NULL; else it receives up to CS_SIEVE_MAX_MATCH (offset, length)
 * pairs for ${0}.. and ncaps their count. '?' is one octet. re is the compiled key for
 * SV_M_REGEX, or NULL to compile key at run time (bad regex: no match). */
int     cs_sieve_match(int mtype, int cmp, const char *val, size_t vlen,
		               const char *key, size_t klen, const regex_t *re,
		               size_t caps[][2], size_t *ncaps);

/* Could regcomp compile this in reasonable memory? */
int     cs_sieve_regex_sane(const char *, size_t);

/* Well-formed UTF-8? Folder names must be (Pigeonhole refuses others). */
int     cs_sieve_utf8_valid(const char *, size_t);

#endif
