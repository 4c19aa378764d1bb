/*
 * NAME
 *	cs_value 3
 * SUMMARY
 *	parse config values: durations, sizes, booleans, CIDR lists
 * DESCRIPTION
 *	See cs_value.h. Every parser refuses trailing junk, signs, empty
 *	input and values that overflow.
 */
#include <config.h>

/* System library. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_value.h"

/* parse_number - leading unsigned decimal; end set past digits */
static int parse_number(const char *s, uint64_t *val, const char **end)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
	return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
	if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
	    return -1;
	v = v * 10 + (uint64_t) (*p - '0');
    }
    *val = v;
    *end = p;
    return 0;
}

/* parse_duration - "200ms", "30d", "72h", "15m", "10s" in units of 1/scale s */
static int parse_duration(const char *s, long scale, int ms_ok, long *out, const char **why)
{
    uint64_t v, mult;
    const char *end;

    if (parse_number(s, &v, &end) < 0) {
	*why = ms_ok ? "duration must be a number followed by ms, s, m, h or d"
	    : "duration must be a number followed by s, m, h or d";
	return -1;
    }
    if (ms_ok && end[0] == 'm' && end[1] == 's') {
	if (scale != 1000) {
	    *why = "internal error: ms needs a millisecond scale";
	    return -1;
	}
	mult = 1;
	end++;
    } else {
	switch (*end) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default:
	    *why = ms_ok ? "duration needs a unit: ms, s, m, h or d"
		: "duration needs a unit: s, m, h or d";
	    return -1;
	}
	mult *= (uint64_t) scale;
    }
    if (end[1] != 0) {
	*why = "junk after duration";
	return -1;
    }
    if (v > (uint64_t) LONG_MAX / mult) {
	*why = "duration too large";
	return -1;
    }
    *out = (long) (v * mult);
    return 0;
}

/* cs_parse_duration - "30d", "72h", "15m", "10s" to seconds */
int     cs_parse_duration(const char *s, long *out, const char **why)
{
    return parse_duration(s, 1, 0, out, why);
}

/* cs_parse_duration_ms - the same, or "200ms", to milliseconds */
int     cs_parse_duration_ms(const char *s, long *out, const char **why)
{
    return parse_duration(s, 1000, 1, out, why);
}

/* cs_parse_size - "25M", "512K", "1G", or plain bytes */
int     cs_parse_size(const char *s, uint64_t *out, const char **why)
{
    uint64_t v, mult = 1;
    const char *end;

    if (parse_number(s, &v, &end) < 0) {
	*why = "size must be a number optionally followed by K, M or G";
	return -1;
    }
    switch (*end) {
    case 0: break;
    case 'K': case 'k': mult = 1024; end++; break;
    case 'M': case 'm': mult = 1024 * 1024; end++; break;
    case 'G': case 'g': mult = 1024 * 1024 * 1024; end++; break;
    default:
	*why = "size unit must be K, M or G";
	return -1;
    }
    if (*end != 0) {
	*why = "junk after size";
	return -1;
    }
    if (v > UINT64_MAX / mult) {
	*why = "size too large";
	return -1;
    }
    *out = v * mult;
    return 0;
}

/* cs_parse_bool - yes/no only, so a typo is an error and not a "no" */
int     cs_parse_bool(const char *s, int *out, const char **why)
{
    if (strcmp(s, "yes") == 0)
	*out = 1;
    else if (strcmp(s, "no") == 0)
	*out = 0;
    else {
	*why = "expected yes or no";
	return -1;
    }
    return 0;
}

/* parse_cidr - one "addr[/len]" item */
static int parse_cidr(const char *item, cs_cidr *c, const char **why)
{
    char    buf[INET6_ADDRSTRLEN + 8];
    char   *slash;
    const char *end;
    uint64_t plen;
    int     max;

    if (strlen(item) >= sizeof(buf)) {
	*why = "network address too long";
	return -1;
    }
    strcpy(buf, item);
    if ((slash = strchr(buf, '/')) != NULL)
	*slash++ = 0;
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
	c->family = AF_INET;
	max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
	c->family = AF_INET6;
	max = 128;
    } else {
	*why = "not an IPv4 or IPv6 address";
	return -1;
    }
    if (slash == NULL) {
	c->prefix = max;
	return 0;
    }
    if (parse_number(slash, &plen, &end) < 0 || *end || plen > (uint64_t) max) {
	*why = "bad prefix length";
	return -1;
    }
    c->prefix = (int) plen;
    return 0;
}

/* cs_parse_cidrlist - comma-separated networks */
int     cs_parse_cidrlist(const char *s, cs_cidrlist *out, const char **why)
{
    cs_strlist items = {0};
    cs_cidr *v;

    memset(out, 0, sizeof(*out));
    if (cs_split_list(s, &items) < 0) {
	*why = "out of memory";
	return -1;
    }
    if (items.n == 0) {
	cs_strlist_free(&items);
	return 0;
    }
    if ((v = calloc(items.n, sizeof(*v))) == NULL) {
	cs_strlist_free(&items);
	*why = "out of memory";
	return -1;
    }
    for (size_t i = 0; i < items.n; i++) {
	if (parse_cidr(items.v[i], &v[i], why) < 0) {
	    free(v);
	    cs_strlist_free(&items);
	    return -1;
	}
    }
    out->v = v;
    out->n = items.n;
    cs_strlist_free(&items);
    return 0;
}

/* cs_cidrlist_free - release the ranges */
void    cs_cidrlist_free(cs_cidrlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* prefix_match - compare the first bits of two addresses */
static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int     bytes = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t) bytes) != 0)
	return 0;
    if (rest == 0)
	return 1;
    return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

/* match_raw - family and bytes against the list */
static int match_raw(const cs_cidrlist *l, int family, const unsigned char *addr)
{
    for (size_t i = 0; i < l->n; i++)
	if (l->v[i].family == family && prefix_match(l->v[i].addr, addr, l->v[i].prefix))
	    return 1;
    return 0;
}

/* cs_cidrlist_match - is the socket address in a listed range? */
int     cs_cidrlist_match(const cs_cidrlist *l, const struct sockaddr *sa)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (sa == NULL)
	return 0;
    if (sa->sa_family == AF_INET) {
	const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) sa;

	return match_raw(l, AF_INET, (const unsigned char *) &in->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) (const void *) sa;
	const unsigned char *b = (const unsigned char *) &in6->sin6_addr;

	if (memcmp(b, v4mapped, 12) == 0)
	    return match_raw(l, AF_INET, b + 12);
	return match_raw(l, AF_INET6, b);
    }
    return 0;
}

/* cs_cidrlist_match_str - same, for a textual address */
int     cs_cidrlist_match_str(const cs_cidrlist *l, const char *s)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    if (s == NULL)
	return 0;
    memset(&in, 0, sizeof(in));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, s, &in.sin_addr) == 1) {
	in.sin_family = AF_INET;
	return cs_cidrlist_match(l, (struct sockaddr *) &in);
    }
    if (inet_pton(AF_INET6, s, &in6.sin6_addr) == 1) {
	in6.sin6_family = AF_INET6;
	return cs_cidrlist_match(l, (struct sockaddr *) &in6);
    }
    return 0;
}
