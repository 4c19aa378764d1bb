/*
 * NAME
 *	cs_sieve 3h
 * SUMMARY
 *	the Sieve subset crmsync runs to find a message's labels (SPEC S2)
 * DESCRIPTION
 *	Our own implementation: no library gives a parser and interpreter
 *	that can be embedded in a threaded milter without a mail store behind
 *	it (Pigeonhole is tied to Dovecot's process model, libsieve is
 *	unmaintained). Supported: RFC 5228 core, envelope, subaddress (RFC 5233),
 *	regex (POSIX ERE), imap4flags, copy, mailbox, variables (RFC 5229);
 *	vacation, reject, ereject, enotify are parsed and ignored.
 *
 *	cs_sieve_compile() parses a script once; the result is immutable and
 *	may be run from many threads at once. On error it returns NULL and
 *	writes "LINE:COL: what is wrong" into err. Requiring an extension
 *	outside the subset is an error.
 *
 *	cs_sieve_run() evaluates it against one message for one recipient and
 *	adds the folders the script files into (fileinto, with or without
 *	:copy) to folders, each once, in the order first filed. keep, implicit
 *	keep, discard and flags add nothing. Returns 0, or -1 on a run-time
 *	error (err filled), in which case folders may be partial.
 *
 *	cs_sieve_run_cached() is cs_sieve_run() for one of several runs on
 *	the same message (its owners' scripts): header values decoded and
 *	address headers parsed by one run are kept in the cache for the
 *	next. A cache is made for one cs_headers (cs_sieve_cache_new, NULL
 *	when out of memory: then run uncached), used by one thread at a
 *	time, and freed with cs_sieve_cache_free when the message is done.
 */
#ifndef CS_SIEVE_H
#define CS_SIEVE_H

#include <stddef.h>
#include "cs_util.h"
#include "cs_message.h"

typedef struct cs_sieve cs_sieve;

typedef struct cs_sieve_input {
    const cs_headers *headers;		/* unfolded raw values, in order */
    const char *env_from;		/* envelope sender as given, "" for <> */
    const char *env_to;			/* this recipient's envelope address */
    size_t  size;			/* message size in bytes */
} cs_sieve_input;

cs_sieve *cs_sieve_compile(const char *text, size_t len, char *err, size_t errlen);
int     cs_sieve_run(const cs_sieve *, const cs_sieve_input *, cs_strlist *folders,
		     char *err, size_t errlen);
void    cs_sieve_free(cs_sieve *);

typedef struct cs_sieve_cache cs_sieve_cache;

cs_sieve_cache *cs_sieve_cache_new(const cs_headers *);
int     cs_sieve_run_cached(const cs_sieve *, const cs_sieve_input *, cs_sieve_cache *,
			            cs_strlist *folders, char *err, size_t errlen);
void    cs_sieve_cache_free(cs_sieve_cache *);

#endif
