/*
 * NAME
 *	tokens 3h
 * SUMMARY
 *	crmsync-api's bearer tokens (ApiTokenFile)
 * DESCRIPTION
 *	api_tokens_load() reads the file: one token a line, empty lines and
 *	"#" lines skipped, each token 32 to 512 printable ASCII characters
 *	without spaces; a file that grants group or others any access is
 *	refused, as WebhookSecret is. Only SHA-256 digests are kept.
 *	api_tokens_check() compares a presented token with every digest,
 *	in constant time whatever matches (CRYPTO_memcmp, no early exit).
 *	A token set is immutable; reload makes a new one.
 */
#ifndef API_TOKENS_H
#define API_TOKENS_H

#include <stddef.h>

#define API_TOKEN_MIN	32
#define API_TOKEN_MAX	512
#define API_TOKENS_MAX	64

typedef struct api_tokens api_tokens;

api_tokens *api_tokens_load(const char *path, char *err, size_t errlen);
size_t  api_tokens_count(const api_tokens *);
/* 1 when the token (len bytes) is one of the file's, else 0. */
int     api_tokens_check(const api_tokens *, const char *token, size_t len);
void    api_tokens_free(api_tokens *);
/* An owner-only regular file opened for reading (also ApiTLSKey), or -1. */
int     api_open_private(const char *what, const char *path, char *err, size_t errlen);

#endif
