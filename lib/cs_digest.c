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

/* Utility library. */
#include <openssl/evp.h>

/* Application-specific. */
#include "cs_digest.h"

#define CS_BODYHASH_BUF	16384

struct cs_bodyhash {
    EVP_MD_CTX *md;
    int     pending_cr;			/* a CR seen, LF not yet */
    size_t  pending_lf;			/* line ends not yet hashed */
    size_t  blen;			/* normalized bytes in buf */
    unsigned char buf[CS_BODYHASH_BUF];	/* not yet hashed: one update per
					 * buffer, not per line */
};

/* cs_bodyhash_new - start a digest */
cs_bodyhash *cs_bodyhash_new(void)
{
    cs_bodyhash *h;

    if ((h = calloc(1, sizeof(*h))) == NULL)
	return NULL;
    if ((h->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
	cs_bodyhash_free(h);
	return NULL;
    }
    return h;
}

/* emit - normalized bytes to the digest, through the buffer */
static void emit(cs_bodyhash *h, const void *p, size_t len)
{
    if (h->blen + len > sizeof(h->buf)) {
	EVP_DigestUpdate(h->md, h->buf, h->blen);
	h->blen = 0;
	if (len >= sizeof(h->buf)) {
	    EVP_DigestUpdate(h->md, p, len);
	    return;
	}
    }
    memcpy(h->buf + h->blen, p, len);
    h->blen += len;
}

/* flush_lf - hash the line ends held back, now that text follows */
static void flush_lf(cs_bodyhash *h)
{
    static const char lfs[64] = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
	"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n";

    while (h->pending_lf > 0) {
	size_t  n = h->pending_lf < sizeof(lfs) ? h->pending_lf : sizeof(lfs);

	emit(h, lfs, n);
	h->pending_lf -= n;
    }
}

/*
 * cs_bodyhash_update - feed a chunk. Line ends are handled a byte at a
 * time; the text between them is found with memchr and hashed as a run.
 */
int     cs_bodyhash_update(cs_bodyhash *h, const void *data, size_t len)
{
    const unsigned char *p = data, *lf, *cr;
    size_t  i = 0, end;

    while (i < len) {
	if (h->pending_cr) {
	    h->pending_cr = 0;
	    h->pending_lf++;			/* CR or CRLF: one line end */
	    if (p[i] == '\n') {
		i++;
		continue;
	    }
	}
	if (p[i] == '\r' || p[i] == '\n') {
	    if (p[i] == '\r')
		h->pending_cr = 1;
	    else
		h->pending_lf++;
	    i++;
	    continue;
	}
	/* Text up to the next CR or LF (or the chunk's end). */
	lf = memchr(p + i, '\n', len - i);
	end = lf ? (size_t) (lf - p) : len;
	if ((cr = memchr(p + i, '\r', end - i)) != NULL)
	    end = (size_t) (cr - p);
	flush_lf(h);
	emit(h, p + i, end - i);
	i = end;
    }
    return 0;
}

/* cs_bodyhash_final - hex digest; frees the state */
void    cs_bodyhash_final(cs_bodyhash *h, char hex[CS_DIGEST_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (h->blen > 0)
	EVP_DigestUpdate(h->md, h->buf, h->blen);
    EVP_DigestFinal_ex(h->md, md, &n);
    for (unsigned int i = 0; i < n && i < 32; i++)
	snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = 0;
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

    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
	n = 0;
    memset(hex, '0', 64);
    for (unsigned int i = 0; i < n && i < 32; i++)
	snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = 0;
}
