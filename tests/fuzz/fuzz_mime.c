/*
 * NAME
 *	fuzz_mime - libFuzzer harness for cs_mime_parse() and
 *	cs_mime_attachment()
 * DESCRIPTION
 *	The input is a whole raw message. The text must be valid UTF-8 and
 *	every listed attachment must be fetchable with its listed size.
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
    cs_mimeinfo mi;
    cs_buf  b;
    size_t  i;

    cs_message_init();
    if (cs_mime_parse((const char *) data, size, &mi) < 0)
	return (0);
    if (mi.text == NULL || !g_utf8_validate(mi.text, -1, NULL))
	abort();
    for (i = 0; i < mi.natt && i < 3; i++) {
	memset(&b, 0, sizeof(b));
	if (mi.att[i].type == NULL)
	    abort();
	if (cs_mime_attachment((const char *) data, size, i + 1, &b) < 0
	    || b.len != mi.att[i].size)
	    abort();
	cs_buf_free(&b);
    }
    cs_mimeinfo_free(&mi);
    return (0);
}
