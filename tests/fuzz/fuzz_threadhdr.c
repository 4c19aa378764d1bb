/*
 * NAME
 *	fuzz_threadhdr - libFuzzer harness for the thread headers (SPEC T1):
 *	cs_msgid_list_parse(), cs_subject_normalize(), cs_unfold(), and the
 *	In-Reply-To/References fields of cs_msginfo_parse()
 * DESCRIPTION
 *	The input is a References/In-Reply-To or Subject value, obsolete
 *	forms included (phrases, quoted strings, comments between ids). Ids
 *	are capped, unique, without white space or brackets. Set in a message
 *	as its In-Reply-To and References: in_reply_to is the first of
 *	in_reply_to_ids, no parent id is the message's own id or one of its
 *	participants' addresses, and every id of either list is one that
 *	cs_msgid_list_parse() finds in the value.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    /* The same value as a message's In-Reply-To and References. */
    if (size < 4096 && !memchr(s, 0, size) && !strpbrk(s, "\r\n")) {
	size_t  rawlen = 2 * size + 256;
	char   *raw = malloc(rawlen);
	cs_msginfo mi;
	cs_strlist all = {0};

	if (raw != NULL && cs_msgid_list_parse(s, &all, CS_MAX_REFS) == 0) {
	    snprintf(raw, rawlen, "From: Bob <bob@example.com>\r\nTo: gary@example.com\r\n"
		     "Message-ID: <self@example.com>\r\nIn-Reply-To: %s\r\nReferences: %s\r\n\r\n",
		     s, s);
	    if (cs_msginfo_parse(raw, strlen(raw), &mi) == 0) {
		const cs_strlist *lists[] = {&mi.in_reply_to_ids, &mi.references};

		if ((mi.in_reply_to == NULL) != (mi.in_reply_to_ids.n == 0)
		    || (mi.in_reply_to && strcmp(mi.in_reply_to, mi.in_reply_to_ids.v[0]) != 0))
		    abort();
		for (size_t k = 0; k < 2; k++)
		    for (i = 0; i < lists[k]->n; i++) {
			const char *id = lists[k]->v[i];

			if (strcmp(id, "self@example.com") == 0
			    || strcasecmp(id, "bob@example.com") == 0
			    || strcasecmp(id, "gary@example.com") == 0
			    || !cs_strlist_contains(&all, id))
			    abort();
		    }
		cs_msginfo_free(&mi);
	    }
	}
	cs_strlist_free(&all);
	free(raw);
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
