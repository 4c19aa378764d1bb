/*
 * NAME
 *	tokens 3
 * SUMMARY
 *	crmsync-api's bearer tokens (ApiTokenFile)
 * DESCRIPTION
 *	See tokens.h. Digests rather than the tokens themselves: every
 *	comparison is over 32 bytes, so neither a token's length nor where
 *	it first differs shows in the time an answer takes.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

/* Application-specific. */
#include "tokens.h"

struct api_tokens {
    size_t  n;
    unsigned char digest[API_TOKENS_MAX][SHA256_DIGEST_LENGTH];
};

/* api_open_private - open a file only its owner may use */
int     api_open_private(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    int     fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) < 0) {
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
	snprintf(err, errlen, "%s %s: not a regular file", what, path);
	close(fd);
	return -1;
    }
    /* A secret others can read is no secret; one they can write, no proof. */
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
	snprintf(err, errlen, "%s %s: mode %03o grants group or others access;"
		 " make it 0600 or 0400", what, path, (unsigned) (sb.st_mode & 0777));
	close(fd);
	return -1;
    }
    return fd;
}

/* api_tokens_load - read and check the token file */
api_tokens *api_tokens_load(const char *path, char *err, size_t errlen)
{
    api_tokens *t;
    FILE   *fp;
    char    line[API_TOKEN_MAX + 3];
    int     fd, lineno = 0;

    if ((fd = api_open_private("ApiTokenFile", path, err, errlen)) < 0)
	return NULL;
    if ((fp = fdopen(fd, "r")) == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
	snprintf(err, errlen, "ApiTokenFile %s: %s", path, strerror(errno));
	if (fp)
	    fclose(fp);
	else
	    close(fd);
	return NULL;
    }
    while (fgets(line, sizeof(line), fp)) {
	size_t  len = strlen(line);

	lineno++;
	if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
	    snprintf(err, errlen, "%s:%d: token longer than %d characters", path, lineno,
		     API_TOKEN_MAX);
	    goto bad;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
	    line[--len] = 0;
	if (len == 0 || line[0] == '#')
	    continue;
	for (size_t i = 0; i < len; i++) {
	    if (line[i] <= ' ' || line[i] > '~') {
		snprintf(err, errlen, "%s:%d: a token is printable ASCII without spaces", path,
			 lineno);
		goto bad;
	    }
	}
	if (len < API_TOKEN_MIN) {
	    snprintf(err, errlen, "%s:%d: token shorter than %d characters", path, lineno,
		     API_TOKEN_MIN);
	    goto bad;
	}
	if (t->n == API_TOKENS_MAX) {
	    snprintf(err, errlen, "%s:%d: more than %d tokens", path, lineno, API_TOKENS_MAX);
	    goto bad;
	}
	SHA256((const unsigned char *) line, len, t->digest[t->n++]);
    }
    if (ferror(fp)) {
	snprintf(err, errlen, "ApiTokenFile %s: read error", path);
	goto bad;
    }
    if (t->n == 0) {
	snprintf(err, errlen, "ApiTokenFile %s: no token", path);
	goto bad;
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(fp);
    return t;
bad:
    OPENSSL_cleanse(line, sizeof(line));
    fclose(fp);
    api_tokens_free(t);
    return NULL;
}

/* api_tokens_count - how many tokens the file held */
size_t  api_tokens_count(const api_tokens *t)
{
    return t ? t->n : 0;
}

/* api_tokens_check - constant time over every token */
int     api_tokens_check(const api_tokens *t, const char *token, size_t len)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    int     match = 0;

    if (t == NULL || token == NULL || len > API_TOKEN_MAX)
	return 0;
    SHA256((const unsigned char *) token, len, d);
    for (size_t i = 0; i < t->n; i++)
	match |= CRYPTO_memcmp(d, t->digest[i], sizeof(d)) == 0;
    return match;
}

/* api_tokens_free - forget the digests */
void    api_tokens_free(api_tokens *t)
{
    if (t == NULL)
	return;
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
}
