/*
 * NAME
 *	fuzz_date - libFuzzer harness for cs_date_parse()
 * DESCRIPTION
 *	The input is a Date header value.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "cs_message.h"

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t  t = 0;
    char   *s;
    int     r;

    cs_message_init();
    if ((s = malloc(size + 1)) == NULL)
	return (0);
    memcpy(s, data, size);
    s[size] = 0;
    r = cs_date_parse(s, &t);
    free(s);
    return (r == 0 && t == (time_t) -1 ? 0 : 0);
}
