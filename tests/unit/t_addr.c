/*
 * NAME
 *	t_addr 1
 * SUMMARY
 *	address normalization, block matching, values, spool, digest
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "cs_addr.h"
#include "cs_digest.h"
#include "cs_spool.h"
#include "cs_value.h"
#include "cs_store.h"
#include "tap.h"

/* norm - normalize or "ERR" */
static const char *norm(const char *in, const char *delims)
{
    static char out[CS_ADDR_MAX + 1];

    if (cs_addr_normalize(in, delims, out, sizeof(out)) < 0)
	return "ERR";
    return out;
}

int     main(void)
{
    cs_strlist block = {0}, doms = {0};

    is_str(norm("alice@example.com", "+"), "alice@example.com", "plain");
    is_str(norm("<Alice+crm@Example.COM>", "+"), "alice@example.com", "brackets, case, detail");
    is_str(norm("  <bob-x@example.com>  ", "+-"), "bob@example.com", "second delimiter");
    is_str(norm("bob+x@example.com", ""), "bob+x@example.com", "no delimiter keeps detail");
    is_str(norm("+x@example.com", "+"), "+x@example.com", "local part starting with delimiter kept");
    is_str(norm("alice@example.com.", "+"), "alice@example.com", "trailing dot of domain");
    is_str(norm("<@relay.example:alice@example.com>", "+"), "alice@example.com", "source route dropped");
    is_str(norm("\"a@b\"@example.com", "+"), "\"a@b\"@example.com", "quoted local part with @");
    is_str(norm("<>", "+"), "ERR", "null sender is not an address");
    is_str(norm("alice", "+"), "ERR", "no domain");
    is_str(norm("@example.com", "+"), "ERR", "no local part");
    is_str(norm("alice@", "+"), "ERR", "empty domain");
    is_str(norm("ali\nce@example.com", "+"), "ERR", "control character");
    is_str(norm("nothing iup sales@example.com", "+"), "ERR", "space in a bare local part");
    is_str(norm("a@exa mple.com", "+"), "ERR", "space in the domain");
    is_str(norm("a@x..", "+"), "ERR", "empty domain label (normalizing must be a fixed point)");
    is_str(norm("a@x..y.example", "+"), "ERR", "empty domain label inside");
    is_str(norm("a(b)@example.com", "+"), "ERR", "comment characters in the local part");
    is_str(norm("\"a b\"@example.com", "+"), "\"a b\"@example.com", "quoted local part with a space");
    is_str(norm("a@[192.0.2.1]", "+"), "a@[192.0.2.1]", "domain literal");
    is_str(norm("J\xc3\xbc" "rgen@b\xc3\xbc" "cher.example", "+"), "j\xc3\xbc" "rgen@b\xc3\xbc" "cher.example",
	   "UTF-8 address (RFC 6531)");
    {
	char    longaddr[400];

	memset(longaddr, 'a', 390);
	strcpy(longaddr + 390, "@x.y");
	is_str(norm(longaddr, "+"), "ERR", "too long");
    }

    cs_strlist_add(&block, "spam@evil.example");
    cs_strlist_add(&block, "@annoying.example");
    ok(cs_addr_blocked("spam@evil.example", &block), "exact address blocked");
    ok(!cs_addr_blocked("ham@evil.example", &block), "other address at domain not blocked");
    ok(cs_addr_blocked("x@annoying.example", &block), "@domain blocks domain");
    ok(cs_addr_blocked("x@mail.annoying.example", &block), "@domain blocks subdomain");
    ok(!cs_addr_blocked("x@notannoying.example", &block), "@domain does not block suffix-alike");
    cs_strlist_add(&doms, "example.com");
    ok(cs_addr_in_domains("a@example.com", &doms), "internal domain");
    ok(cs_addr_in_domains("a@sub.example.com", &doms), "internal subdomain");
    ok(!cs_addr_in_domains("a@example.com.evil", &doms), "not internal");
    cs_strlist_free(&block);
    cs_strlist_free(&doms);

    /* Values. */
    {
	long    secs;
	uint64_t sz;
	int     b;
	const char *why;

	ok(cs_parse_duration("30d", &secs, &why) == 0 && secs == 2592000, "30d");
	ok(cs_parse_duration("15m", &secs, &why) == 0 && secs == 900, "15m");
	ok(cs_parse_duration("", &secs, &why) < 0, "empty duration refused");
	ok(cs_parse_duration("99999999999999999999d", &secs, &why) < 0, "huge duration refused");
	ok(cs_parse_size("512K", &sz, &why) == 0 && sz == 524288, "512K");
	ok(cs_parse_size("1G", &sz, &why) == 0 && sz == 1073741824ULL, "1G");
	ok(cs_parse_size("100", &sz, &why) == 0 && sz == 100, "plain bytes");
	ok(cs_parse_size("1.5M", &sz, &why) < 0, "fraction refused");
	ok(cs_parse_bool("yes", &b, &why) == 0 && b == 1, "yes");
	ok(cs_parse_bool("1", &b, &why) < 0, "1 is not a boolean");
    }

    /* Spool: memory, then file, then truncation. */
    {
	cs_spool *s = cs_spool_new("/tmp", 8, 20);
	char    buf[64];
	ssize_t n;

	ok(cs_spool_write(s, "0123456789", 10) == 0, "spool write past threshold");
	ok(cs_spool_write(s, "abcdefghijklmnop", 16) == 0, "spool write past limit");
	is_int(cs_spool_kept(s), 20, "kept up to limit");
	is_int(cs_spool_total(s), 26, "total counts all");
	ok(cs_spool_truncated(s), "truncated");
	n = cs_spool_pread(s, buf, sizeof(buf), 0);
	buf[n > 0 ? n : 0] = 0;
	is_str(buf, "0123456789abcdefghij", "read back across memory and file");
	n = cs_spool_pread(s, buf, 4, 6);
	buf[n > 0 ? n : 0] = 0;
	is_str(buf, "6789", "read at offset across the boundary");
	is_int(cs_spool_pread(s, buf, 4, 20), 0, "read at end");
	cs_spool_ref(s);
	cs_spool_unref(s);
	is_int(cs_spool_kept(s), 20, "alive after ref+unref");
	cs_spool_unref(s);
    }

    /* Body digest: line endings and trailing empty lines do not matter. */
    {
	char    a[CS_DIGEST_HEX], b[CS_DIGEST_HEX], c[CS_DIGEST_HEX], d[CS_DIGEST_HEX];
	cs_bodyhash *h;

	cs_body_digest_hex("line1\r\nline2\r\n\r\n", 16, a);
	cs_body_digest_hex("line1\nline2\n", 12, b);
	is_str(a, b, "CRLF and LF bodies digest the same");
	h = cs_bodyhash_new();
	cs_bodyhash_update(h, "line1\r", 6);
	cs_bodyhash_update(h, "\nline2\r", 7);
	cs_bodyhash_update(h, "\n\n", 2);
	cs_bodyhash_final(h, c);
	is_str(c, b, "chunking across CR LF does not matter");
	cs_body_digest_hex("line1\nline2 \n", 13, d);
	ok(strcmp(d, b) != 0, "different content digests differently");
	cs_body_digest_hex("line1\n\nline2\n", 13, d);
	ok(strcmp(d, b) != 0, "inner empty line counts");
	cs_sha256_hex("abc", 3, d);
	is_str(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "plain SHA-256");
    }
    /*
     * A body longer than the digest's buffer, with CRLF, lone CR, LF,
     * runs of empty lines and long lines, fed in chunks of every size
     * from 1 to 97 bytes and whole: each digest equals the plain SHA-256
     * of the body normalized here by hand.
     */
    {
	enum { BODY = 200000 };
	char   *body = malloc(BODY), *norm = malloc(BODY);
	char    want[CS_DIGEST_HEX], got[CS_DIGEST_HEX];
	size_t  i, n = 0, keep, bad = 0;
	unsigned seed = 7;

	for (i = 0; i < BODY; i++) {
	    seed = seed * 1103515245u + 12345u;
	    switch ((seed >> 16) % 64) {
	    case 0: body[i] = '\r'; break;
	    case 1: case 2: body[i] = '\n'; break;
	    default: body[i] = (char) ('a' + (seed >> 8) % 26); break;
	    }
	    if (i > 150000 && i < 170000)	/* a line longer than the buffer */
		body[i] = 'x';
	}
	memcpy(body + BODY - 5, "\r\n\n\r\n", 5);
	for (i = 0; i < BODY; i++) {
	    if (body[i] == '\r') {
		norm[n++] = '\n';
		if (i + 1 < BODY && body[i + 1] == '\n')
		    i++;
	    } else
		norm[n++] = body[i];
	}
	for (keep = n; keep > 0 && norm[keep - 1] == '\n'; keep--)
	    ;
	cs_sha256_hex(norm, keep, want);
	cs_body_digest_hex(body, BODY, got);
	is_str(got, want, "a 200 KB body whole: the digest of its normalized form");
	for (size_t step = 1; step <= 97; step++) {
	    cs_bodyhash *h = cs_bodyhash_new();

	    for (i = 0; i < BODY; i += step)
		cs_bodyhash_update(h, body + i, BODY - i < step ? BODY - i : step);
	    cs_bodyhash_final(h, got);
	    bad += strcmp(got, want) != 0;
	}
	is_int((long) bad, 0, "the same in chunks of 1 to 97 bytes");
	free(body);
	free(norm);
    }
    /* Database values in logs never show a password. */
    {
	char    out[256];

	cs_store_display("/var/lib/crmsync/crmsync.db", out, sizeof(out));
	is_str(out, "/var/lib/crmsync/crmsync.db", "a file path is shown as is");
	cs_store_display("postgresql://crm:s3cret@db.example:5432/crmsync", out, sizeof(out));
	is_str(out, "postgresql://crm:***@db.example:5432/crmsync", "URI password masked");
	cs_store_display("postgresql://crm@db.example/crmsync?password=s3cret&sslmode=require",
			 out, sizeof(out));
	is_str(out, "postgresql://crm@db.example/crmsync?password=***&sslmode=require",
	       "query password masked");
	cs_store_display("postgresql://db.example/crmsync?password=x", out, sizeof(out));
	is_str(out, "postgresql://db.example/crmsync?password=***", "a one-character password masked");
	cs_store_display("postgres://db.example/crmsync", out, sizeof(out));
	is_str(out, "postgres://db.example/crmsync", "no password, nothing to mask");
    }
    return done_testing();
}
