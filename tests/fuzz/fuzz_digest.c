/*
 * NAME
 *	fuzz_digest - libFuzzer harness for the T2 digest and the raw address
 * DESCRIPTION
 *	The input is a head and a body (the first byte says where the head
 *	ends, the second how the body is chunked). Whatever the chunking, the
 *	body must get the same T2 digest as cs_body_digest_hex and the same
 *	content address (cs_bodyhash_final_addr), naming head + body bytes;
 *	anything else aborts.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_digest.h"

/* addr - digest and address, the body fed in chunks of 1 to step bytes */
static int addr(const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen,
		        unsigned step, char t2[CS_DIGEST_HEX], char out[CS_DIGEST_HEX])
{
    cs_bodyhash *h = cs_bodyhash_new();
    uint64_t len = 0;
    size_t  off = 0, n, i = 0;

    if (h == NULL || cs_bodyhash_head(h, head, hlen) < 0) {
	cs_bodyhash_free(h);
	return -1;
    }
    while (off < blen) {
	n = step ? 1 + (body[i++ % blen] % step) : blen;
	if (n > blen - off)
	    n = blen - off;
	cs_bodyhash_update(h, body + off, n);
	off += n;
    }
    if (cs_bodyhash_final_addr(h, t2, out, &len) < 0)
	return -1;
    if (len != hlen + blen)
	abort();
    return 0;
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    t2a[CS_DIGEST_HEX], t2b[CS_DIGEST_HEX], a1[CS_DIGEST_HEX], a2[CS_DIGEST_HEX];
    char    want[CS_DIGEST_HEX];
    size_t  hlen;

    if (size < 2)
	return 0;
    hlen = (size - 2) * data[0] / 256;
    if (addr(data + 2, hlen, data + 2 + hlen, size - 2 - hlen, 0, t2a, a1) < 0
	|| addr(data + 2, hlen, data + 2 + hlen, size - 2 - hlen, data[1] % 64 + 1, t2b, a2) < 0)
	return 0;				/* out of memory */
    cs_body_digest_hex(data + 2 + hlen, size - 2 - hlen, want);
    if (strcmp(t2a, t2b) != 0 || strcmp(a1, a2) != 0 || strcmp(t2a, want) != 0)
	abort();
    return 0;
}
