/*
 * NAME
 *	fuzz_threadhdr - libFuzzer harness for the thread headers (SPEC T1):
 *	cs_msgid_list_parse(), cs_subject_normalize(), cs_unfold()
 * DESCRIPTION
 *	The input is a References/In-Reply-To or Subject value. Ids are
 *	capped, unique, without white space or brackets.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* GLib, for the UTF-8 check only. */
#include <glib.h>

/* Application-specific. */
#include "cs_message.h"

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_strlist l = {0};
    char   *s;
    char   *n;
    size_t  i, j;

    cs_message_init();
    if ((s = malloc(size + 1)) == NULL)
	return (0);
    memcpy(s, data, size);
    s[size] = 0;
    if (cs_msgid_list_parse(s, &l, 20) == 0) {
	if (l.n > 20)
	    abort();
	for (i = 0; i < l.n; i++) {
	    if (*l.v[i] == 0 || strlen(l.v[i]) > 998 || strpbrk(l.v[i], "<> \t\r\n"))
		abort();
	    for (j = 0; j < i; j++)
		if (strcmp(l.v[i], l.v[j]) == 0)
		    abort();
	}
    }
    cs_strlist_free(&l);
    if ((n = cs_subject_normalize(s)) != NULL) {
	if (!g_utf8_validate(n, -1, NULL))
	    abort();
	free(n);
    }
    if ((n = cs_unfold((const char *) data, size)) != NULL) {
	if (strpbrk(n, "\r\n"))
	    abort();
	free(n);
    }
    free(s);
    return (0);
}
