/*
 * NAME
 *	fuzz_headers - libFuzzer harness for cs_msginfo_parse()
 * DESCRIPTION
 *	The input is a raw message; its header block is parsed and every
 *	field is touched so that ASan sees any bad pointer or length.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_message.h"

/* touch - read every byte of a string (for ASan) */
static size_t touch(const char *s)
{
    return (s ? strlen(s) : 0);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_msginfo mi;
    size_t  i, n = 0;
    char   *norm;

    cs_message_init();
    if (cs_msginfo_parse((const char *) data, size, &mi) < 0)
	return (0);
    if (mi.headers.n > CS_MAX_HEADERS)
	abort();
    for (i = 0; i < mi.headers.n; i++)
	n += touch(mi.headers.v[i].name) + touch(mi.headers.v[i].value);
    for (i = 0; i < mi.from.n; i++)
	n += touch(mi.from.v[i].name) + touch(mi.from.v[i].address);
    for (i = 0; i < mi.to.n; i++)
	n += touch(mi.to.v[i].name) + touch(mi.to.v[i].address);
    for (i = 0; i < mi.references.n; i++)
	n += touch(mi.references.v[i]);
    if (mi.references.n > CS_MAX_REFS)
	abort();
    n += touch(mi.subject) + touch(mi.message_id) + touch(mi.in_reply_to)
	+ touch(mi.thread_index_root) + touch(mi.list_id);
    if (mi.thread_index_root && strlen(mi.thread_index_root) != 44)
	abort();
    norm = cs_subject_normalize(mi.subject);
    free(norm);
    cs_msginfo_free(&mi);
    return (n == (size_t) -1);
}
