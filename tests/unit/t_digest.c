/*
 * NAME
 *	t_digest 1
 * SUMMARY
 *	the raw content address made beside the T2 body digest
 * DESCRIPTION
 *	cs_bodyhash_final_addr names head + body in one pass over the body.
 *	Different raw bytes must get different addresses (line ends, trailing
 *	empty lines, the head's boundary), whatever the chunking the same
 *	bytes get the same one, and the T2 digest is the one cs_bodyhash_final
 *	gives. Exhaustively: every body of up to 8 bytes over {a, CR, LF}
 *	gets an address of its own.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs_digest.h"
#include "tap.h"

/* addr - T2 digest and address of head + body, the body fed in step-byte
 * chunks (0: whole); returns 0 or -1 as cs_bodyhash_final_addr */
static int addr(const char *head, size_t hlen, const char *body, size_t blen, size_t step,
		        char t2[CS_DIGEST_HEX], char out[CS_DIGEST_HEX])
{
    cs_bodyhash *h = cs_bodyhash_new();
    uint64_t len = 0;

    if (h == NULL)
	return -1;
    if (head != NULL && cs_bodyhash_head(h, head, hlen) < 0)
	return -1;
    for (size_t off = 0; off < blen; off += step ? step : blen)
	cs_bodyhash_update(h, body + off, step && blen - off > step ? step : blen - off);
    if (cs_bodyhash_final_addr(h, t2, out, &len) < 0)
	return -1;
    return len == hlen + blen ? 0 : -2;
}

/* same_t2 - the T2 digest of body as cs_body_digest_hex has it */
static int same_t2(const char *body, size_t blen, const char *t2)
{
    char    want[CS_DIGEST_HEX];

    cs_body_digest_hex(body, blen, want);
    return strcmp(want, t2) == 0;
}

static int cmp_hex(const void *a, const void *b)
{
    return memcmp(a, b, CS_DIGEST_HEX);
}

int     main(void)
{
    static const char head[] = "From: a@example.com\r\nSubject: x\r\n\r\n";
    char    t2a[CS_DIGEST_HEX], t2b[CS_DIGEST_HEX], a1[CS_DIGEST_HEX], a2[CS_DIGEST_HEX];
    size_t  hl = strlen(head);
    char   *big, *big2;
    size_t  bl = 0;

    /* Chunking does not matter; T2 is cs_bodyhash_final's. */
    {
	const char body[] = "line one\r\nline two\r\n\r\nend\r\n\r\n";
	int     same = 1;

	ok(addr(head, hl, body, strlen(body), 0, t2a, a1) == 0, "address made");
	ok(same_t2(body, strlen(body), t2a), "T2 digest as cs_body_digest_hex");
	for (size_t step = 1; step < 12; step++)
	    if (addr(head, hl, body, strlen(body), step, t2b, a2) < 0
		|| strcmp(a1, a2) != 0 || strcmp(t2a, t2b) != 0)
		same = 0;
	ok(same, "chunks of 1 to 11 bytes: the same address and T2");
    }

    /* What T2 normalizes away, the address keeps. */
    addr(head, hl, "a\r\nb\r\n", 6, 0, t2a, a1);
    addr(head, hl, "a\nb\n", 4, 0, t2b, a2);
    ok(strcmp(t2a, t2b) == 0 && strcmp(a1, a2) != 0, "CRLF against LF: same T2, other address");
    addr(head, hl, "a\r\nb", 4, 0, t2a, a1);
    addr(head, hl, "a\r\nb\r\n\r\n", 8, 0, t2b, a2);
    ok(strcmp(t2a, t2b) == 0 && strcmp(a1, a2) != 0, "trailing empty lines: same T2, other address");
    addr(head, hl, "a\r", 2, 0, t2a, a1);
    addr(head, hl, "a", 1, 0, t2b, a2);
    ok(strcmp(t2a, t2b) == 0 && strcmp(a1, a2) != 0, "a final lone CR counts");
    addr("AB", 2, "C", 1, 0, t2a, a1);
    addr("A", 1, "BC", 2, 0, t2b, a2);
    ok(strcmp(a1, a2) != 0, "where the head ends counts");
    addr("", 0, "x", 1, 0, t2a, a1);
    addr("x", 1, "", 0, 0, t2b, a2);
    ok(strcmp(a1, a2) != 0, "an empty head against an empty body");
    ok(addr(NULL, 0, "x", 1, 0, t2a, a1) == -1 && same_t2("x", 1, t2a),
       "no head fed: no address (the caller addresses the bytes itself), T2 made");
    ok(addr(head, hl, "abc\r\n", 5, 2, t2a, a1) == 0, "the bytes named: head and body");

    /*
     * Every body of 0 to 8 bytes over {a, CR, LF} (9,841 of them), each
     * chunked two ways: an address of its own, the same both ways.
     */
    {
	size_t  total = 0, n = 0, dups = 0, unstable = 0;
	char  (*all)[CS_DIGEST_HEX];

	for (size_t len = 0, p = 1; len <= 8; len++, p *= 3)
	    total += p;
	all = calloc(total, sizeof(*all));
	for (size_t len = 0, p = 1; all && len <= 8; len++, p *= 3) {
	    for (size_t code = 0; code < p; code++) {
		char    body[8];
		size_t  c = code;

		for (size_t i = 0; i < len; i++, c /= 3)
		    body[i] = "a\r\n"[c % 3];
		addr(head, hl, body, len, 0, t2a, all[n]);
		addr(head, hl, body, len, 1, t2b, a2);
		if (strcmp(all[n], a2) != 0 || !same_t2(body, len, t2b))
		    unstable++;
		n++;
	    }
	}
	if (all) {
	    qsort(all, n, sizeof(*all), cmp_hex);
	    for (size_t i = 1; i < n; i++)
		dups += memcmp(all[i - 1], all[i], CS_DIGEST_HEX) == 0;
	}
	is_int(n, 9841, "all bodies of up to 8 bytes over {a, CR, LF}");
	is_int(dups, 0, "each its own address");
	is_int(unstable, 0, "whole or a byte at a time: the same address and T2");
	free(all);
    }

    /* Thousands of runs (past the run buffer): one line end flipped. */
    if ((big = malloc(300000)) != NULL && (big2 = malloc(300000)) != NULL) {
	for (int i = 0; i < 20000; i++) {
	    memcpy(big + bl, "text", 4);
	    bl += 4;
	    memcpy(big + bl, i % 2 ? "\r\n" : "\n", i % 2 ? 2 : 1);
	    bl += i % 2 ? 2 : 1;
	}
	memcpy(big2, big, bl);
	big2[55004] = '\r';			/* "text\n" #10000 becomes "text\r" */
	ok(big[55004] == '\n' && big[55003] == 't', "the flipped byte is a lone LF");
	addr(head, hl, big, bl, 0, t2a, a1);
	addr(head, hl, big2, bl, 0, t2b, a2);
	ok(strcmp(t2a, t2b) == 0 && strcmp(a1, a2) != 0,
	   "20,000 line ends: LF flipped to CR, same T2, other address");
	addr(head, hl, big, bl, 4093, t2b, a2);
	ok(strcmp(a1, a2) == 0, "20,000 line ends: chunking does not matter");
	free(big);
	free(big2);
    }
    return done_testing();
}
