/*
 * NAME
 *	cs_value 3h
 * SUMMARY
 *	parse config values: durations, sizes, booleans, CIDR lists
 * DESCRIPTION
 *	Value syntax is SPEC Operations: durations "30d", "72h", "15m", "10s"
 *	(and "200ms" where milliseconds count);
 *	sizes "25M", "512K", "1G" (plain number = bytes); booleans yes/no.
 *	Each parser returns 0 on success, -1 with a short reason in *why.
 */
#ifndef CS_VALUE_H
#define CS_VALUE_H

#include <stdint.h>
#include <sys/socket.h>
#include "cs_util.h"

int     cs_parse_duration(const char *, long *seconds, const char **why);
/* The same, "200ms" too, in milliseconds. */
int     cs_parse_duration_ms(const char *, long *ms, const char **why);
int     cs_parse_size(const char *, uint64_t *bytes, const char **why);
int     cs_parse_bool(const char *, int *, const char **why);

/* An address range: IPv4 or IPv6 network with prefix length. */
typedef struct cs_cidr {
    int     family;			/* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int     prefix;
} cs_cidr;

typedef struct cs_cidrlist {
    cs_cidr *v;
    size_t  n;
} cs_cidrlist;

int     cs_parse_cidrlist(const char *, cs_cidrlist *, const char **why);
void    cs_cidrlist_free(cs_cidrlist *);
/* Does the socket address fall in any range? IPv4-mapped IPv6 counts as IPv4. */
int     cs_cidrlist_match(const cs_cidrlist *, const struct sockaddr *);
/* Same for a textual address ("127.0.0.1", "::1"); 0 if unparsable. */
int     cs_cidrlist_match_str(const cs_cidrlist *, const char *);

#endif
