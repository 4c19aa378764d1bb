/*
 * NAME
 *	cs_digest 3
 * SUMMARY
 *	SHA-256 body digest with line endings normalized (SPEC T2)
 * DESCRIPTION
 *	See cs_digest.h. A CR is held back until the next byte shows whether
 *	it starts a CRLF, and runs of line ends are held back until something
 *	else follows, so trailing empty lines never reach the hash whatever
 *	the chunking.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

/* Utility library. */
#include <openssl/evp.h>

/* Application-specific. */
#include "cs_digest.h"

static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* sha256_fetch - the provider's SHA-256, once; the legacy handle if none */
static void sha256_fetch(void)
{
    if ((sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
	sha256_md = EVP_sha256();
}

/* cs_sha256_md - SHA-256 for EVP_DigestInit_ex without a fetch per call */
const EVP_MD *cs_sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md;
}

/* cs_hex - lower-case hex of n bytes, NUL-terminated */
void    cs_hex(const unsigned char *b, size_t n, char *hex)
{
    static const char x[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
	hex[2 * i] = x[b[i] >> 4];
	hex[2 * i + 1] = x[b[i] & 15];
    }
    hex[2 * n] = 0;
}

struct cs_bodyhash {
    EVP_MD_CTX *md;
    int     pending_cr;			/* a CR seen, LF not yet */
    size_t  pending_lf;			/* line ends not yet hashed */
};

/* cs_bodyhash_new - start a digest */
cs_bodyhash *cs_bodyhash_new(void)
{
    cs_bodyhash *h;

    if ((h = calloc(1, sizeof(*h))) == NULL)
	return NULL;
    if ((h->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->md, cs_sha256_md(), NULL) != 1) {
	cs_bodyhash_free(h);
	return NULL;
    }
    return h;
}

/* flush_lf - hash the line ends held back, now that text follows */
static void flush_lf(cs_bodyhash *h)
{
    static const char lfs[64] = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
	"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n";

    while (h->pending_lf > 0) {
	size_t  n = h->pending_lf < sizeof(lfs) ? h->pending_lf : sizeof(lfs);

	EVP_DigestUpdate(h->md, lfs, n);
	h->pending_lf -= n;
    }
}

/* cs_bodyhash_update - feed a chunk */
int     cs_bodyhash_update(cs_bodyhash *h, const void *data, size_t len)
{
    const unsigned char *p = data, *run = NULL;

    for (size_t i = 0; i < len; i++) {
	unsigned char c = p[i];

	if (h->pending_cr) {
	    h->pending_cr = 0;
	    h->pending_lf++;			/* CR or CRLF: one line end */
	    if (c == '\n')
		continue;
	}
	if (c == '\r' || c == '\n') {
	    if (run) {
		EVP_DigestUpdate(h->md, run, (size_t) (p + i - run));
		run = NULL;
	    }
	    if (c == '\r')
		h->pending_cr = 1;
	    else
		h->pending_lf++;
	    continue;
	}
	if (run == NULL) {
	    flush_lf(h);
	    run = p + i;
	}
    }
    if (run)
	EVP_DigestUpdate(h->md, run, (size_t) (p + len - run));
    return 0;
}

/* cs_bodyhash_final - hex digest; frees the state */
void    cs_bodyhash_final(cs_bodyhash *h, char hex[CS_DIGEST_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    memset(md, 0, 32);
    EVP_DigestFinal_ex(h->md, md, &n);
    cs_hex(md, 32, hex);
    cs_bodyhash_free(h);
}

/* cs_bodyhash_free - abandon a digest */
void    cs_bodyhash_free(cs_bodyhash *h)
{
    if (h == NULL)
	return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

/* cs_body_digest_hex - normalized digest of a whole body */
void    cs_body_digest_hex(const void *data, size_t len, char hex[CS_DIGEST_HEX])
{
    cs_bodyhash *h = cs_bodyhash_new();

    if (h == NULL) {
	memset(hex, '0', 64);
	hex[64] = 0;
	return;
    }
    cs_bodyhash_update(h, data, len);
    cs_bodyhash_final(h, hex);
}

/* cs_sha256_hex - plain SHA-256 of bytes, nothing normalized */
void    cs_sha256_hex(const void *data, size_t len, char hex[CS_DIGEST_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(data, len, md, &n, cs_sha256_md(), NULL) != 1 || n != 32)
	memset(md, 0, 32);
    cs_hex(md, 32, hex);
}
