/*
 * NAME
 *	fuzz_sieve 1
 * SUMMARY
 *	libFuzzer harness: compile hostile Sieve scripts and run them
 * DESCRIPTION
 *	Every input is a script. One that compiles is run against a fixed
 *	message (encoded words, groups, subaddresses, 8-bit bytes) so the
 *	interpreter, the matcher and variable expansion see hostile keys.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_sieve.h"

static const char fuzz_msg[] =
    "From: \"J\xc3\xbcrgen\" <juergen+tag@Example.COM>\r\n"
    "To: a@b.example, Undisclosed recipients:;, \"x\" <y+z+w@q>\r\n"
    "Cc: plain\r\n"
    "Subject: =?UTF-8?Q?Caf=C3=A9?= =?ISO-8859-1?B?R3L832U=?= [x] *?\\\r\n"
    "X-Raw: caf\xe9 \xff\xfe\r\n"
    "X-Empty:\r\n"
    "List-Id: <dev.lists.example>\r\n"
    "\r\n"
    "body\r\n";

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    char    err[256];
    cs_sieve *sv;

    if (!init) {
	cs_message_init();
	init = 1;
    }
    sv = cs_sieve_compile((const char *) data, size, err, sizeof(err));
    if (sv != NULL) {
	cs_msginfo mi;
	cs_strlist folders = {0};
	cs_sieve_input in;

	memset(&mi, 0, sizeof(mi));
	cs_msginfo_parse(fuzz_msg, sizeof(fuzz_msg) - 1, &mi);
	in.headers = &mi.headers;
	in.env_from = "s+x@origin.example";
	in.env_to = "r+crm@example.org";
	in.size = sizeof(fuzz_msg) - 1;
	(void) cs_sieve_run(sv, &in, &folders, err, sizeof(err));
	cs_strlist_free(&folders);
	cs_msginfo_free(&mi);
	cs_sieve_free(sv);
    }
    return 0;
}
