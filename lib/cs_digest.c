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
 *
 *	The content address (cs_bodyhash_final_addr) is a digest of the raw
 *	bytes, head then body, made without a second pass over the body:
 *	SHA-256 over a tag, the head's length and SHA-256, the body's length,
 *	the T2 digest of the normalized body, and a digest of the body's line
 *	ends in order (CRLF, LF or CR, run-length coded, the trailing ones the
 *	T2 digest leaves out included). The normalized body and its line ends
 *	give back the raw body byte for byte (each LF of the normalized body
 *	is the next line end; the line ends left over are the trailing ones),
 *	so two different raw messages share an address only if SHA-256
 *	collides. An address made this way differs from the plain SHA-256
 *	of the same bytes (cs_spool_sha256): both name the bytes uniquely, and
 *	a store keeps a raw message once per address.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

/* Utility library. */
#include <openssl/evp.h>

/* Application-specific. */
#include "cs_digest.h"

#define CS_BODYHASH_BUF	16384

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

#define END_CRLF	0
#define END_LF		1
#define END_CR		2
#define ADDR_TAG	"crmsync raw address 2"	/* cs_bodyhash_final_addr's */

struct cs_bodyhash {
    EVP_MD_CTX *md;
    EVP_MD_CTX *head_md;		/* the head, when one was fed */
    EVP_MD_CTX *ends_md;		/* the closed runs of line ends */
    uint64_t head_len;
    uint64_t body_len;			/* raw body bytes fed */
    int     run_kind;			/* the current run of line ends; -1:
					 * its digest failed, no address */
    uint64_t run_n;
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
    if ((h->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->md, cs_sha256_md(), NULL) != 1) {
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

/* put_u64 - big-endian */
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
	p[i] = (unsigned char) (v & 0xff);
}

/* run_close - the current run of line ends (kind byte, 8-byte count) into
 * the line-end digest; most bodies have one run, a few have many */
static void run_close(cs_bodyhash *h)
{
    unsigned char run[9];

    if (h->run_n == 0 || h->run_kind < 0)
	return;
    run[0] = (unsigned char) h->run_kind;
    put_u64(run + 1, h->run_n);
    h->run_n = 0;
    if ((h->ends_md == NULL
	 && ((h->ends_md = EVP_MD_CTX_new()) == NULL
	     || EVP_DigestInit_ex(h->ends_md, cs_sha256_md(), NULL) != 1))
	|| EVP_DigestUpdate(h->ends_md, run, sizeof(run)) != 1)
	h->run_kind = -1;
}

/* line_end - one more line end of this kind */
static void line_end(cs_bodyhash *h, int kind)
{
    if (h->run_kind < 0)
	return;
    if (h->run_n > 0 && h->run_kind != kind)
	run_close(h);
    if (h->run_kind < 0)
	return;
    h->run_kind = kind;
    h->run_n++;
}

/*
 * cs_bodyhash_update - feed a chunk. Line ends are handled a byte at a
 * time; the text between them is found with memchr and hashed as a run.
 */
int     cs_bodyhash_update(cs_bodyhash *h, const void *data, size_t len)
{
    const unsigned char *p = data, *lf, *cr;
    size_t  i = 0, end;

    h->body_len += len;
    while (i < len) {
	if (h->pending_cr) {
	    h->pending_cr = 0;
	    h->pending_lf++;			/* CR or CRLF: one line end */
	    if (p[i] == '\n') {
		line_end(h, END_CRLF);
		i++;
		continue;
	    }
	    line_end(h, END_CR);
	}
	if (p[i] == '\r' || p[i] == '\n') {
	    if (p[i] == '\r') {
		h->pending_cr = 1;
	    } else {
		h->pending_lf++;
		line_end(h, END_LF);
	    }
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
    char    addr[CS_DIGEST_HEX];
    uint64_t len;

    (void) cs_bodyhash_final_addr(h, hex, addr, &len);	/* no head: T2 only */
}

/* cs_bodyhash_free - abandon a digest */
void    cs_bodyhash_free(cs_bodyhash *h)
{
    if (h == NULL)
	return;
    EVP_MD_CTX_free(h->md);
    EVP_MD_CTX_free(h->head_md);
    EVP_MD_CTX_free(h->ends_md);
    free(h);
}

/* cs_bodyhash_head - the bytes before the body, for the content address */
int     cs_bodyhash_head(cs_bodyhash *h, const void *data, size_t len)
{
    if (h->head_md == NULL
	&& ((h->head_md = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(h->head_md, cs_sha256_md(), NULL) != 1))
	return -1;
    if (EVP_DigestUpdate(h->head_md, data, len) != 1)
	return -1;
    h->head_len += len;
    return 0;
}

/*
 * cs_bodyhash_final_addr - the T2 digest and the content address of the
 * head and body fed (see above), and how many bytes it names; frees the
 * state. -1 when no head was fed or the address could not be made (t2
 * is set all the same): address the bytes another way. The caller
 * checks *len against the bytes it keeps: an address of other bytes
 * would make the store keep one message's raw bytes for another's.
 */
int     cs_bodyhash_final_addr(cs_bodyhash *h, char t2[CS_DIGEST_HEX], char addr[CS_DIGEST_HEX],
			               uint64_t *len)
{
    /* The tag (its NUL too), head length, head digest, body length, T2
     * digest, line-end digest: fixed fields, so the input decodes one way. */
    unsigned char in[sizeof(ADDR_TAG) + 8 + 32 + 8 + 32 + 32], out[EVP_MAX_MD_SIZE];
    unsigned char *head = in + sizeof(ADDR_TAG) + 8, *body = head + 32 + 8, *ends = body + 32;
    unsigned int n = 0;
    int     ok = 0;

    if (h->pending_cr) {
	h->pending_cr = 0;
	line_end(h, END_CR);
    }
    run_close(h);
    if (h->blen > 0)
	EVP_DigestUpdate(h->md, h->buf, h->blen);
    h->blen = 0;
    memset(body, 0, 32);
    *len = h->head_len + h->body_len;
    if (EVP_DigestFinal_ex(h->md, body, &n) == 1 && n == 32 && h->run_kind >= 0
	&& h->head_md != NULL) {
	memcpy(in, ADDR_TAG, sizeof(ADDR_TAG));
	put_u64(in + sizeof(ADDR_TAG), h->head_len);
	put_u64(head + 32, h->body_len);
	ok = EVP_DigestFinal_ex(h->head_md, head, &n) == 1
	    && (h->ends_md != NULL ? EVP_DigestFinal_ex(h->ends_md, ends, &n)
		: EVP_Digest("", 0, ends, &n, cs_sha256_md(), NULL)) == 1
	    && EVP_Digest(in, sizeof(in), out, &n, cs_sha256_md(), NULL) == 1 && n == 32;
    }
    cs_hex(body, 32, t2);
    if (ok)
	cs_hex(out, 32, addr);
    cs_bodyhash_free(h);
    return ok ? 0 : -1;
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
