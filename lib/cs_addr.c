/*
 * NAME
 *	cs_addr 3
 * SUMMARY
 *	mail address normalization and matching
 * DESCRIPTION
 *	See cs_addr.h. Quoted local parts are compared as written (after
 *	lower-casing); crmsync does not try to canonicalize them further.
 */
#include <config.h>

/* System library. */
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"

/* atext - RFC 5322 atext or '.', or a UTF-8 byte (RFC 6531) */
static int atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	|| c >= 0x80 || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

/* valid_parts - local part (atext or quoted) and domain (name or [literal]) */
static int valid_parts(const char *b, size_t local_len, const char *dom, size_t dom_len)
{
    if (b[0] == '"') {
	if (local_len < 2 || b[local_len - 1] != '"')
	    return 0;
    } else {
	for (size_t i = 0; i < local_len; i++)
	    if (!atext((unsigned char) b[i]))
		return 0;
    }
    if (dom[0] == '[')
	return dom_len > 2 && dom[dom_len - 1] == ']' && memchr(dom, ' ', dom_len) == NULL;
    /* An empty label ("x..", "..y") is no domain; refusing it also keeps
     * normalization a fixed point: "x.." would become "x." on the first
     * pass and "x" on the second, so lookups by a normalized address
     * would miss. */
    for (size_t i = 0; i + 1 < dom_len; i++)
	if (dom[i] == '.' && dom[i + 1] == '.')
	    return 0;
    for (size_t i = 0; i < dom_len; i++) {
	unsigned char c = (unsigned char) dom[i];

	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	      || c == '-' || c == '.' || c == '_' || c >= 0x80))
	    return 0;
    }
    return 1;
}

/* cs_addr_normalize - lower-case, strip <>, drop subaddress detail */
int     cs_addr_normalize(const char *in, const char *delims, char *out, size_t outlen)
{
    const char *b, *e, *at;
    size_t  local_len, dom_len;

    if (in == NULL || outlen == 0)
	return -1;
    b = in;
    while (*b == ' ' || *b == '\t')
	b++;
    e = b + strlen(b);
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
	e--;
    if (e > b && *b == '<' && e[-1] == '>') {
	b++;
	e--;
    }
    /* A source route "<@relay:user@dom>" is obsolete; keep the mailbox. */
    if (b < e && *b == '@') {
	const char *colon = memchr(b, ':', (size_t) (e - b));

	if (colon)
	    b = colon + 1;
    }
    for (const char *p = b; p < e; p++)
	if ((unsigned char) *p < 0x20 || *p == 0x7f)
	    return -1;
    /* The domain starts after the last '@': quoted local parts may hold one. */
    at = NULL;
    for (const char *p = b; p < e; p++)
	if (*p == '@')
	    at = p;
    if (at == NULL || at == b || at + 1 == e)
	return -1;
    local_len = (size_t) (at - b);
    if (!valid_parts(b, local_len, at + 1, (size_t) (e - at - 1)))
	return -1;
    if (delims && *delims && *b != '"') {
	for (size_t i = 0; i < local_len; i++) {
	    if (strchr(delims, b[i])) {
		if (i > 0)			/* "+x@dom" keeps its local part */
		    local_len = i;
		break;
	    }
	}
    }
    dom_len = (size_t) (e - at - 1);
    if (local_len + 1 + dom_len + 1 > outlen)
	return -1;
    memcpy(out, b, local_len);
    out[local_len] = '@';
    memcpy(out + local_len + 1, at + 1, dom_len);
    out[local_len + 1 + dom_len] = 0;
    /* Trailing dot of a fully qualified domain is not significant. */
    if (dom_len > 1 && out[local_len + dom_len] == '.')
	out[local_len + dom_len] = 0;
    cs_lowercase(out);
    return 0;
}

/* cs_addr_domain - domain part of a normalized address */
const char *cs_addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return at ? at + 1 : addr + strlen(addr);
}

/* cs_domain_within - domain equal to parent or below it */
int     cs_domain_within(const char *domain, const char *parent)
{
    size_t  dl = strlen(domain), pl = strlen(parent);

    if (pl == 0)
	return 0;
    if (dl == pl)
	return strcmp(domain, parent) == 0;
    return dl > pl && domain[dl - pl - 1] == '.' && strcmp(domain + dl - pl, parent) == 0;
}

/* cs_addr_match_block - one block entry: address, or @domain and below */
int     cs_addr_match_block(const char *addr, const char *entry)
{
    if (entry[0] == '@')
	return cs_domain_within(cs_addr_domain(addr), entry + 1);
    return strcmp(addr, entry) == 0;
}

/* cs_addr_blocked - any entry matches */
int     cs_addr_blocked(const char *addr, const cs_strlist *entries)
{
    for (size_t i = 0; i < entries->n; i++)
	if (cs_addr_match_block(addr, entries->v[i]))
	    return 1;
    return 0;
}

/* cs_addr_in_domains - address in one of the domains or below */
int     cs_addr_in_domains(const char *addr, const cs_strlist *domains)
{
    const char *dom = cs_addr_domain(addr);

    for (size_t i = 0; i < domains->n; i++) {
	const char *d = domains->v[i][0] == '@' ? domains->v[i] + 1 : domains->v[i];

	if (cs_domain_within(dom, d))
	    return 1;
    }
    return 0;
}
