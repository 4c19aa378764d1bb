/*
 * NAME
 *	cs_addr 3h
 * SUMMARY
 *	mail address normalization and matching (SPEC C2, S4)
 * DESCRIPTION
 *	cs_addr_normalize() turns an envelope or header address into the form
 *	crmsync compares: angle brackets and surrounding space dropped,
 *	lower-cased, the subaddress detail removed from the local part (the
 *	first character of the local part found in delims starts the detail;
 *	empty delims keeps it). "<Alice+crm@Example.COM>" -> "alice@example.com".
 *	Returns -1 when the input is not an address (no '@', empty local part or
 *	domain, control characters, a local part that is neither atext nor
 *	quoted, a domain that is neither a host name nor a [literal], longer
 *	than outlen-1). UTF-8 is allowed in both parts (RFC 6531).
 *
 *	cs_addr_domain() points at the domain part of a normalized address.
 *
 *	cs_addr_match_block() tests a normalized address against a block entry:
 *	"user@dom" matches exactly (after normalization); "@dom" matches dom and
 *	every subdomain of it.
 */
#ifndef CS_ADDR_H
#define CS_ADDR_H

#include <stddef.h>
#include "cs_util.h"

#define CS_ADDR_MAX 320			/* 64 local + @ + 255 domain */

int     cs_addr_normalize(const char *in, const char *delims, char *out, size_t outlen);
const char *cs_addr_domain(const char *normalized);
/* Is domain equal to, or a subdomain of, parent? Both lower-case. */
int     cs_domain_within(const char *domain, const char *parent);
int     cs_addr_match_block(const char *normalized, const char *entry);
int     cs_addr_blocked(const char *normalized, const cs_strlist *entries);
/* Is the address in one of the domains (each matching subdomains too)? */
int     cs_addr_in_domains(const char *normalized, const cs_strlist *domains);

#endif
