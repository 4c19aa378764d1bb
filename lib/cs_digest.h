/*
 * NAME
 *	cs_digest 3h
 * SUMMARY
 *	body digest for T2: SHA-256 over the body with line endings normalized
 * DESCRIPTION
 *	CRLF and lone CR become LF and trailing empty lines are ignored, so the
 *	same message from SMTP, Maildir or mbox digests the same. Streaming:
 *	feed the body in any chunking.
 */
#ifndef CS_DIGEST_H
#define CS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_bodyhash cs_bodyhash;

#define CS_DIGEST_HEX	65

cs_bodyhash *cs_bodyhash_new(void);
int     cs_bodyhash_update(cs_bodyhash *, const void *, size_t);
void    cs_bodyhash_final(cs_bodyhash *, char hex[CS_DIGEST_HEX]);	/* frees */
void    cs_bodyhash_free(cs_bodyhash *);
/* The bytes before the body (the header block), for the content address. */
int     cs_bodyhash_head(cs_bodyhash *, const void *, size_t);
/* The T2 digest and a content address of head + body without a second
 * pass over the body (cs_digest.c says how), and the bytes it names (the
 * caller checks them against what it keeps); frees. -1: no address. */
int     cs_bodyhash_final_addr(cs_bodyhash *, char t2[CS_DIGEST_HEX], char addr[CS_DIGEST_HEX],
			               uint64_t *len);
/* Normalized body digest of a whole string (importer, tests). */
void    cs_body_digest_hex(const void *, size_t, char hex[CS_DIGEST_HEX]);
/* Plain SHA-256 of bytes, nothing normalized (content addressing). */
void    cs_sha256_hex(const void *, size_t, char hex[CS_DIGEST_HEX]);
/* SHA-256, fetched once (an EVP_sha256() init fetches it each time). */
const struct evp_md_st *cs_sha256_md(void);
/* Lower-case hex of n bytes into hex[2n + 1]. */
void    cs_hex(const unsigned char *, size_t, char *hex);

#endif
