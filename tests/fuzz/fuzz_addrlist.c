/*
 * NAME
 *	fuzz_addrlist - libFuzzer harness for cs_addrlist_parse() and
 *	cs_rfc2047_decode()
 * DESCRIPTION
 *	The input is one header value. Results must be valid UTF-8 with
 *	non-NULL addresses.
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
    cs_addrlist al;
    char   *s;
    char   *d;
    size_t  i;

    cs_message_init();
    if ((s = malloc(size + 1)) == NULL)
	return (0);
    memcpy(s, data, size);
    s[size] = 0;
    if (cs_addrlist_parse(s, &al) == 0) {
	for (i = 0; i < al.n; i++) {
	    if (al.v[i].address == NULL || !g_utf8_validate(al.v[i].address, -1, NULL))
		abort();
	    if (al.v[i].name && !g_utf8_validate(al.v[i].name, -1, NULL))
		abort();
	}
	cs_addrlist_free(&al);
    }
    if ((d = cs_rfc2047_decode(s)) != NULL) {
	if (!g_utf8_validate(d, -1, NULL))
	    abort();
	free(d);
    }
    free(s);
    return (0);
}
