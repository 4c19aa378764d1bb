/*
 * NAME
 *	cs_message 3
 * SUMMARY
 *	parse the header block of a message into the fields crmsync keeps
 * SYNOPSIS
 *	#include "cs_message.h"
 *
 *	void	cs_message_init(void)
 *	int	cs_msginfo_parse(const char *raw, size_t len, cs_msginfo *mi)
 *	char	*cs_unfold(const char *value, size_t len)
 *	char	*cs_rfc2047_decode(const char *value)
 *	int	cs_addrlist_parse(const char *value, cs_addrlist *al)
 * DESCRIPTION
 *	The header block is split by hand (bounded, NUL-tolerant); GMime does
 *	the RFC 2047, address-list and date work on the unfolded values.
 *
 *	Choices the SPEC leaves open (SPEC C4, T1):
 * .IP \(bu
 *	From/To/Cc/Reply-To: the addresses of every occurrence of the header
 *	are concatenated (at most CS_MAX_ADDRS per list). Groups are walked
 *	CS_MAX_GROUP_DEPTH deep; a value's colons past the first
 *	CS_MAX_COLONS become spaces before GMime parses it (it nests groups
 *	by recursion: stack).
 * .IP \(bu
 *	Subject, Date, Message-ID, In-Reply-To, References, Thread-Index,
 *	List-Id, Auto-Submitted, Precedence: the first occurrence counts.
 * .IP \(bu
 *	References longer than CS_MAX_REFS ids keep the first id (the thread
 *	root) and the last CS_MAX_REFS-1 (the nearest ancestors). A message
 *	never references itself: its own Message-ID is dropped from
 *	References and In-Reply-To.
 * .IP \(bu
 *	Raw 8-bit bytes that are not UTF-8 are taken as windows-1252 (a
 *	superset of Latin-1, what mail clients actually send).
 * DIAGNOSTICS
 *	Functions return -1 (or NULL) on ENOMEM only; junk input yields empty
 *	or NULL fields.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* GMime/GLib. */
#include <gmime/gmime.h>

/* Application-specific. */
#include "cs_message.h"

#define CS_MAX_ADDRS		10000	/* per address list */
#define CS_MAX_MSGID		998	/* RFC 5322 line length */
#define CS_MAX_HEADER_VALUE	(1024 * 1024)	/* per header, raw bytes */
#define CS_MAX_GROUP_DEPTH	8	/* GMime allows nested groups */
#define CS_MAX_COLONS		128	/* per address header: GMime's depth */

static pthread_once_t cs_message_once = PTHREAD_ONCE_INIT;

/* cs_message_init_once - start GMime (pthread_once target) */
static void cs_message_init_once(void)
{
    g_mime_init();
}

/* cs_message_init - start GMime once per process */
void    cs_message_init(void)
{
    (void) pthread_once(&cs_message_once, cs_message_init_once);
}

/* cs_parser_options - GMime options for hostile real-world mail */
static GMimeParserOptions *cs_parser_options(void)
{
    static const char *charsets[] = {"UTF-8", "windows-1252", NULL};
    GMimeParserOptions *opts;

    cs_message_init();
    opts = g_mime_parser_options_new();
    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_allow_addresses_without_domain(opts, TRUE);
    /* Encoded words in an unknown charset: try these before giving up. */
    g_mime_parser_options_set_fallback_charsets(opts, charsets);
    return (opts);
}

/* The windows-1252 meaning of 0x80..0x9f; 0 marks the five holes. */
static const uint16_t cp1252_c1[32] = {
    0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
    0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/* cs_utf8_put - encode one code point, return bytes written (<= 4) */
static size_t cs_utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
	out[0] = (char) c;
	return (1);
    }
    if (c < 0x800) {
	out[0] = (char) (0xc0 | (c >> 6));
	out[1] = (char) (0x80 | (c & 0x3f));
	return (2);
    }
    if (c >= 0xd800 && c < 0xe000)
	c = 0xfffd;
    if (c < 0x10000) {
	out[0] = (char) (0xe0 | (c >> 12));
	out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
	out[2] = (char) (0x80 | (c & 0x3f));
	return (3);
    }
    if (c > 0x10ffff)
	return (cs_utf8_put(out, 0xfffd));
    out[0] = (char) (0xf0 | (c >> 18));
    out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
    out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
    out[3] = (char) (0x80 | (c & 0x3f));
    return (4);
}

/* cs_utf8_from_raw - copy bytes as UTF-8, invalid bytes as windows-1252 */
char   *cs_utf8_from_raw(const char *s, size_t len)
{
    const char *end;
    char   *out;
    size_t  o = 0;
    size_t  i = 0;
    unsigned char c;

    /* A byte becomes at most 3 UTF-8 bytes. */
    if (len > (SIZE_MAX - 1) / 3 || (out = malloc(len * 3 + 1)) == NULL)
	return (NULL);
    while (i < len) {
	g_utf8_validate_len(s + i, len - i, &end);
	memcpy(out + o, s + i, (size_t) (end - (s + i)));
	o += (size_t) (end - (s + i));
	i = (size_t) (end - s);
	if (i >= len)
	    break;
	c = (unsigned char) s[i++];
	if (c == 0)
	    out[o++] = ' ';			/* NUL in mail: a space */
	else if (c >= 0x80 && c < 0xa0)
	    o += cs_utf8_put(out + o, cp1252_c1[c - 0x80] ? cp1252_c1[c - 0x80] : 0xfffd);
	else
	    o += cs_utf8_put(out + o, c);
    }
    out[o] = 0;
    return (out);
}

/* cs_utf8_strip_controls - drop C0 (but tab), DEL and C1 controls in place */
void    cs_utf8_strip_controls(char *s, int keep_newline)
{
    unsigned char *r = (unsigned char *) s;
    unsigned char *w = r;

    while (*r) {
	if ((*r < 0x20 && *r != '\t' && !(keep_newline && *r == '\n')) || *r == 0x7f) {
	    r++;
	} else if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] < 0xa0) {
	    r += 2;				/* U+0080..U+009F */
	} else {
	    *w++ = *r++;
	}
    }
    *w = 0;
}

/* cs_from_glib - valid, control-free malloc() copy of a GLib string */
static char *cs_from_glib(const char *g)
{
    char   *valid;
    char   *out;

    if ((valid = g_utf8_make_valid(g, -1)) == NULL)
	return (NULL);
    cs_utf8_strip_controls(valid, 0);
    out = strdup(cs_trim(valid));
    g_free(valid);
    return (out);
}

/* cs_unfold - unfold a raw header value (see cs_message.h) */
char   *cs_unfold(const char *value, size_t len)
{
    char   *out;
    size_t  i = 0;
    size_t  o = 0;
    size_t  j;

    if (value == NULL)
	return (NULL);
    if (len == SIZE_MAX || (out = malloc(len + 1)) == NULL)
	return (NULL);
    while (i < len) {
	unsigned char c = (unsigned char) value[i];

	if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0) {
	    /* A run of white space, line ends and NULs. */
	    for (j = i; j < len; j++) {
		c = (unsigned char) value[j];
		if (c != '\r' && c != '\n' && c != ' ' && c != '\t' && c != 0)
		    break;
	    }
	    if (o > 0 && j < len) {
		/*
		 * RFC 5322 2.2.3: unfolding removes the CRLF only; the white
		 * space of the fold stays as received (NUL becomes a space), so
		 * Sieve compares what Pigeonhole compares.
		 */
		for (; i < j; i++)
		    if (value[i] != '\r' && value[i] != '\n')
			out[o++] = value[i] ? value[i] : ' ';
	    }
	    i = j;
	} else {
	    out[o++] = (char) c;
	    i++;
	}
    }
    out[o] = 0;
    return (out);
}

/* cs_ew - one RFC 2047 encoded word found in a header value */
typedef struct cs_ew {
    const char *start;			/* "=?" */
    const char *end;			/* after "?=" */
    const char *charset;		/* charset name */
    size_t  charset_len;
    char    enc;			/* 'B' or 'Q' */
    const char *text;			/* encoded text */
    size_t  text_len;
} cs_ew;

/* cs_ew_scan - the encoded word starting exactly at p, 0 if none */
static int cs_ew_scan(const char *p, cs_ew *ew)
{
    const char *q;

    if (p[0] != '=' || p[1] != '?')
	return (0);
    ew->start = p;
    ew->charset = p + 2;
    for (q = ew->charset; *q && *q != '?' && *q > ' '; q++)
	 /* void */ ;
    if (*q != '?' || q == ew->charset)
	return (0);
    ew->charset_len = (size_t) (q - ew->charset);
    ew->enc = (char) (q[1] == 'b' || q[1] == 'B' ? 'B' : q[1] == 'q' || q[1] == 'Q' ? 'Q' : 0);
    if (ew->enc == 0 || q[2] != '?')
	return (0);
    ew->text = q + 3;
    for (q = ew->text; *q && *q != '?' && *q > ' '; q++)
	 /* void */ ;
    if (q[0] != '?' || q[1] != '=')
	return (0);
    ew->text_len = (size_t) (q - ew->text);
    ew->end = q + 2;
    return (1);
}

/* cs_ew_is_utf8 - does the word claim UTF-8 (RFC 2231 language allowed) */
static int cs_ew_is_utf8(const cs_ew *ew)
{
    size_t  n = ew->charset_len;
    const char *star = memchr(ew->charset, '*', n);

    if (star)
	n = (size_t) (star - ew->charset);
    return ((n == 5 && strncasecmp(ew->charset, "utf-8", 5) == 0)
	    || (n == 4 && strncasecmp(ew->charset, "utf8", 4) == 0));
}

/* cs_ew_payload - append the decoded bytes of one word to buf */
static void cs_ew_payload(const cs_ew *ew, GByteArray *buf)
{
    static const char hexd[] = "0123456789abcdef";
    const char *t = ew->text;
    const char *h1, *h2;
    gint    state = 0;
    guint   save = 0;
    guchar  out[3 * 64];
    size_t  i, n;

    if (ew->enc == 'B') {
	for (i = 0; i < ew->text_len; i += n) {
	    n = ew->text_len - i < 128 ? ew->text_len - i : 128;
	    g_byte_array_append(buf, out,
			    (guint) g_base64_decode_step(t + i, n, out, &state, &save));
	}
	return;
    }
    for (i = 0; i < ew->text_len; i++) {
	guchar  c = (guchar) t[i];

	if (c == '_')
	    c = ' ';
	else if (c == '=' && i + 2 < ew->text_len
		 && (h1 = strchr(hexd, g_ascii_tolower(t[i + 1]))) != NULL
		 && (h2 = strchr(hexd, g_ascii_tolower(t[i + 2]))) != NULL) {
	    c = (guchar) (((h1 - hexd) << 4) | (h2 - hexd));
	    i += 2;
	}
	g_byte_array_append(buf, &c, 1);
    }
}

/*
 * cs_ew_repair - rewrite runs of adjacent UTF-8 encoded words whose bytes
 * are not UTF-8 (or hold a NUL) as one B word of the repaired text, so
 * that GMime (which would print '?') yields U+FFFD (and drops the NUL). Runs are joined before the check: some
 * encoders split a character across two words. NULL on ENOMEM.
 */
static char *cs_ew_repair(const char *in)
{
    GString *out = g_string_sized_new(strlen(in) + 16);
    GByteArray *bytes = g_byte_array_new();
    const char *p = in;
    const char *run_end;
    const char *q;
    cs_ew   ew;
    char   *valid;
    char   *b64;
    guint   i, j;

    while (*p) {
	if (!cs_ew_scan(p, &ew) || !cs_ew_is_utf8(&ew)) {
	    g_string_append_c(out, *p++);
	    continue;
	}
	/* A run: UTF-8 words separated by white space only. */
	g_byte_array_set_size(bytes, 0);
	cs_ew_payload(&ew, bytes);
	run_end = ew.end;
	for (;;) {
	    for (q = run_end; *q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'; q++)
		 /* void */ ;
	    if (!cs_ew_scan(q, &ew) || !cs_ew_is_utf8(&ew))
		break;
	    cs_ew_payload(&ew, bytes);
	    run_end = ew.end;
	}
	/* A NUL would end the string early: drop it like other controls. */
	for (i = j = 0; i < bytes->len; i++)
	    if (bytes->data[i] != 0)
		bytes->data[j++] = bytes->data[i];
	if (j == i && (i == 0
		       || g_utf8_validate_len((const char *) bytes->data, bytes->len, NULL))) {
	    g_string_append_len(out, p, run_end - p);
	} else {
	    g_byte_array_set_size(bytes, j);
	    valid = j ? g_utf8_make_valid((const char *) bytes->data, (gssize) j) : g_strdup("");
	    b64 = g_base64_encode((const guchar *) valid, strlen(valid));
	    g_string_append_printf(out, "=?UTF-8?B?%s?=", b64);
	    g_free(b64);
	    g_free(valid);
	}
	p = run_end;
    }
    g_byte_array_free(bytes, TRUE);
    valid = strdup(out->str);
    g_string_free(out, TRUE);
    return (valid);
}

/* cs_rfc2047_decode - decode encoded words into clean UTF-8 */
char   *cs_rfc2047_decode(const char *value)
{
    GMimeParserOptions *opts;
    char   *raw;
    char   *fixed;
    char   *dec;
    char   *out;

    if (value == NULL)
	return (NULL);
    if ((raw = cs_utf8_from_raw(value, strlen(value))) == NULL)
	return (NULL);
    fixed = strstr(raw, "=?") ? cs_ew_repair(raw) : strdup(raw);
    free(raw);
    if (fixed == NULL)
	return (NULL);
    opts = cs_parser_options();
    dec = g_mime_utils_header_decode_text(opts, fixed);
    g_mime_parser_options_free(opts);
    free(fixed);
    if (dec == NULL)
	return (strdup(""));
    out = cs_from_glib(dec);
    g_free(dec);
    return (out);
}

/* cs_addrlist_push - append one decoded mailbox; -1 on ENOMEM */
static int cs_addrlist_push(cs_addrlist *al, size_t *cap, InternetAddressMailbox *mb)
{
    const char *addr = internet_address_mailbox_get_addr(mb);
    const char *name = internet_address_get_name(INTERNET_ADDRESS(mb));
    cs_mailaddr *nv;
    cs_mailaddr ma;

    if (addr == NULL || *addr == 0 || al->n >= CS_MAX_ADDRS)
	return (0);
    if (al->n == *cap) {
	size_t  ncap = *cap ? *cap * 2 : 4;

	if ((nv = realloc(al->v, ncap * sizeof(*nv))) == NULL)
	    return (-1);
	al->v = nv;
	*cap = ncap;
    }
    ma.name = NULL;
    if ((ma.address = cs_from_glib(addr)) == NULL)
	return (-1);
    if (name != NULL && *name) {
	if ((ma.name = cs_from_glib(name)) == NULL) {
	    free(ma.address);
	    return (-1);
	}
	if (*ma.name == 0) {
	    free(ma.name);
	    ma.name = NULL;
	}
    }
    if (*ma.address == 0) {
	free(ma.address);
	free(ma.name);
	return (0);
    }
    al->v[al->n++] = ma;
    return (0);
}

/* cs_addrlist_walk - flatten a GMime list (groups included) into al */
static int cs_addrlist_walk(cs_addrlist *al, size_t *cap, InternetAddressList *list, int depth)
{
    InternetAddress *ia;
    int     i, n;

    n = internet_address_list_length(list);
    for (i = 0; i < n && al->n < CS_MAX_ADDRS; i++) {
	ia = internet_address_list_get_address(list, i);
	if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
	    if (cs_addrlist_push(al, cap, INTERNET_ADDRESS_MAILBOX(ia)) < 0)
		return (-1);
	} else if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < CS_MAX_GROUP_DEPTH) {
	    if (cs_addrlist_walk(al, cap, internet_address_group_get_members(
				   INTERNET_ADDRESS_GROUP(ia)), depth + 1) < 0)
		return (-1);
	}
    }
    return (0);
}

/*
 * cs_group_bound - GMime parses a group inside a group by recursion,
 * about 200 bytes of stack a level, with no limit: a 64 KB To of "g:"
 * nests 32,000 deep (6 MB) and ends the milter (a connection thread has
 * 1 MB, see cs_thread.c). Each level takes a ':', and GMime finds groups
 * where a reader of the syntax sees none (after an unclosed quote, say),
 * so the colons are counted whatever surrounds them: those past the
 * first CS_MAX_COLONS become spaces. Real mail has a few (RFC 5322 nests
 * no group; a display name may hold one); past the limit a group's name
 * and members run together, which loses no address.
 */
static void cs_group_bound(char *v)
{
    size_t  n = 0;

    while ((v = strchr(v, ':')) != NULL)
	if (++n > CS_MAX_COLONS)
	    *v++ = ' ';
	else
	    v++;
}

/* cs_addrlist_append - parse value and append its addresses to al */
static int cs_addrlist_append(const char *value, cs_addrlist *al, size_t *cap)
{
    GMimeParserOptions *opts;
    InternetAddressList *list;
    char   *fixed;
    size_t  len;
    int     ret = 0;

    if (value == NULL || al->n >= CS_MAX_ADDRS)
	return (0);
    /* A megabyte of addresses is already far past CS_MAX_ADDRS. */
    len = strnlen(value, CS_MAX_HEADER_VALUE);
    if ((fixed = cs_utf8_from_raw(value, len)) == NULL)
	return (-1);
    cs_group_bound(fixed);
    opts = cs_parser_options();
    list = internet_address_list_parse(opts, fixed);
    g_mime_parser_options_free(opts);
    free(fixed);
    if (list != NULL) {
	ret = cs_addrlist_walk(al, cap, list, 0);
	g_object_unref(list);
    }
    return (ret);
}

/* cs_addrlist_parse - parse an address-list header value into al */
int     cs_addrlist_parse(const char *value, cs_addrlist *al)
{
    size_t  cap = 0;

    al->v = NULL;
    al->n = 0;
    if (cs_addrlist_append(value, al, &cap) < 0) {
	cs_addrlist_free(al);
	return (-1);
    }
    return (0);
}

/* cs_addrlist_free - free the addresses, leave an empty list */
void    cs_addrlist_free(cs_addrlist *al)
{
    size_t  i;

    if (al == NULL)
	return;
    for (i = 0; i < al->n; i++) {
	free(al->v[i].name);
	free(al->v[i].address);
    }
    free(al->v);
    al->v = NULL;
    al->n = 0;
}

/* cs_date_parse - RFC 5322 date (obsolete forms too) to time_t */
int     cs_date_parse(const char *value, time_t *when)
{
    GDateTime *dt;
    gint64  t;

    if (value == NULL)
	return (-1);
    cs_message_init();
    if ((dt = g_mime_utils_header_decode_date(value)) == NULL)
	return (-1);
    t = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    if ((gint64) (time_t) t != t)
	return (-1);
    *when = (time_t) t;
    return (0);
}

/* cs_msgid_valid - a cleaned id: printable ASCII or valid UTF-8, no <> */
static int cs_msgid_valid(const char *id, size_t len)
{
    size_t  i;

    if (len == 0 || len > CS_MAX_MSGID)
	return (0);
    for (i = 0; i < len; i++) {
	unsigned char c = (unsigned char) id[i];

	if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
	    return (0);
    }
    return (g_utf8_validate_len(id, len, NULL));
}

/*
 * Tokens of an In-Reply-To or References value (RFC 5322 3.6.4, and the
 * obsolete forms of 4.5.4: *(phrase / msg-id), with comments and quoted
 * strings anywhere). A quoted string or a word is part of a phrase; a
 * word with an '@' may also be a bare id written without its brackets.
 */
enum cs_msgid_tok { TOK_END, TOK_ID, TOK_BARE, TOK_WORD };

/*
 * cs_msgid_token - the next token at *sp; an id (TOK_ID, TOK_BARE) into
 * buf, NUL-terminated, white space removed. *from is set when the token
 * is the word "from". Junk inside <> (controls, over 998 bytes, empty)
 * is skipped; a "<" without its ">" ends the value.
 */
static enum cs_msgid_tok cs_msgid_token(const char **sp, char *buf, int *from)
{
    const char *p = *sp;
    const char *q;
    size_t  n;
    int     depth;

    *from = 0;
    for (;;) {
	while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n')
	    p++;
	if (*p == 0) {
	    *sp = p;
	    return (TOK_END);
	}
	if (*p == '(') {
	    /* A comment: nested, with quoted pairs. */
	    for (depth = 0; *p; p++) {
		if (*p == '\\' && p[1])
		    p++;
		else if (*p == '(')
		    depth++;
		else if (*p == ')' && --depth == 0) {
		    p++;
		    break;
		}
	    }
	    continue;
	}
	if (*p == '"') {
	    /* A quoted string (a date, a name): a phrase word, never ids. */
	    for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && p[1])
		    p++;
	    *sp = *p ? p + 1 : p;
	    return (TOK_WORD);
	}
	if (*p == '<') {
	    n = 0;
	    for (q = p + 1; *q && *q != '>' && *q != '<'; q++) {
		if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
		    continue;			/* folded inside the id */
		if (n <= CS_MAX_MSGID)
		    buf[n] = *q;
		n++;
	    }
	    if (*q == 0) {			/* truncated "<abc": ignored */
		*sp = q;
		return (TOK_END);
	    }
	    if (*q == '<') {			/* "<abc <d@e>": restart there */
		p = q;
		continue;
	    }
	    p = q + 1;
	    if (cs_msgid_valid(buf, n)) {
		buf[n] = 0;
		*sp = p;
		return (TOK_ID);
	    }
	    continue;
	}
	/* A word; an id written bare if it looks like one (has an '@'). */
	n = 0;
	for (q = p; *q && !strchr(" \t\r\n,<(\"", *q); q++) {
	    if (n <= CS_MAX_MSGID)
		buf[n] = *q;
	    n++;
	}
	*sp = q;
	*from = n == 4 && strncasecmp(p, "from", 4) == 0;
	if (n <= CS_MAX_MSGID && memchr(buf, '@', n) != NULL && cs_msgid_valid(buf, n)) {
	    buf[n] = 0;
	    return (TOK_BARE);
	}
	return (TOK_WORD);
    }
}

/* Words of a display name between "from" and its <address>, at most. */
#define CS_MSGID_FROM_WORDS	8

/*
 * cs_msgid_list_parse - append the unique ids of value to list (see .h).
 *
 * Every msg-id counts, in any position (T1). Two things that look like
 * one are not: the <address> of a "from NAME <address>" phrase, as MH,
 * nmh and exmh write "Message from Gary <garym@canada.com> of "date."
 * <id@host>" (the word "from", then at most a few words of a display
 * name, then the address; a bare address after "from" ends the name
 * the same way); and a bare word with an '@' in a value that
 * has a phrase (an address written in it): bare ids count only in a
 * value made of ids alone, as some old programs wrote them.
 */
int     cs_msgid_list_parse(const char *value, cs_strlist *list, size_t max)
{
    char    buf[CS_MAX_MSGID + 2];
    const char *p;
    GPtrArray *ids;
    GHashTable *seen;
    size_t  n, i, from;
    int     ret = 0, is_from, phrase = 0, after_from = -1;
    enum cs_msgid_tok tok;

    if (value == NULL || max == 0)
	return (0);
    /* First pass: is there a phrase at all? */
    for (p = value; (tok = cs_msgid_token(&p, buf, &is_from)) != TOK_END;)
	if (tok == TOK_WORD)
	    phrase = 1;
    ids = g_ptr_array_new_with_free_func(g_free);
    seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (p = value; (tok = cs_msgid_token(&p, buf, &is_from)) != TOK_END;) {
	if (is_from) {
	    after_from = 0;			/* "from": a name may follow */
	    continue;
	}
	if (tok == TOK_BARE && phrase) {
	    after_from = -1;			/* "from addr@host of ...": the address */
	    continue;
	}
	if (tok == TOK_WORD) {
	    if (after_from >= 0 && ++after_from > CS_MSGID_FROM_WORDS)
		after_from = -1;
	    continue;
	}
	if (tok == TOK_ID && after_from >= 0) {
	    after_from = -1;			/* the address of "from NAME <addr>" */
	    continue;
	}
	after_from = -1;
	if (g_hash_table_contains(seen, buf))
	    continue;
	char   *id = g_strdup(buf);

	g_ptr_array_add(ids, id);
	g_hash_table_add(seen, id);
	if (max == 1)
	    break;
    }
    /* Too many: the root and the nearest ancestors matter for T1. */
    n = ids->len;
    from = n > max ? n - (max - 1) : 1;
    for (i = 0; i < n && ret == 0; i++) {
	if (i == 0 || i >= from)
	    ret = cs_strlist_add(list, g_ptr_array_index(ids, i));
    }
    g_hash_table_destroy(seen);
    g_ptr_array_free(ids, TRUE);
    return (ret);
}

/* cs_subject_prefix - length of a reply/forward prefix at p, or 0 */
static size_t cs_subject_prefix(const char *p)
{
    static const char *const words[] = {
	"re", "fwd", "fw", "aw", "wg", "sv", "vs", "antw", NULL,
    };
    const char *const *w;
    const char *q;
    size_t  n;

    for (w = words; *w; w++) {
	n = strlen(*w);
	if (strncasecmp(p, *w, n) != 0)
	    continue;
	q = p + n;
	while (*q == ' ' || *q == '\t')
	    q++;
	/* A counter: "Re[2]:", "Re(3):". */
	if (*q == '[' || *q == '(') {
	    char    close = *q == '[' ? ']' : ')';
	    const char *d = q + 1;

	    while (*d >= '0' && *d <= '9' && d - q < 10)
		d++;
	    if (d > q + 1 && *d == close) {
		q = d + 1;
		while (*q == ' ' || *q == '\t')
		    q++;
	    }
	}
	if (*q == ':')
	    return ((size_t) (q + 1 - p));
	if (strncmp(q, "\xef\xbc\x9a", 3) == 0)	/* FULLWIDTH COLON */
	    return ((size_t) (q + 3 - p));
    }
    return (0);
}

/* cs_subject_space - length of a white space character at p, or 0 */
static size_t cs_subject_space(const char *p)
{
    if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
	return (1);
    if ((unsigned char) p[0] == 0xc2 && (unsigned char) p[1] == 0xa0)
	return (2);				/* NO-BREAK SPACE */
    return (0);
}

/* cs_subject_normalize - the T1 thread subject of a decoded subject */
char   *cs_subject_normalize(const char *decoded)
{
    const char *p;
    const char *close;
    char   *valid;
    char   *fold;
    char   *low;
    char   *out;
    size_t  n, o = 0;

    if (decoded == NULL)
	return (strdup(""));
    if ((valid = cs_utf8_from_raw(decoded, strlen(decoded))) == NULL)
	return (NULL);
    for (p = valid;;) {
	while ((n = cs_subject_space(p)) > 0)
	    p += n;
	if (*p == '[' && (close = strchr(p, ']')) != NULL) {
	    p = close + 1;			/* a [list tag] */
	} else if ((n = cs_subject_prefix(p)) > 0) {
	    p += n;
	} else {
	    break;
	}
    }
    if ((fold = malloc(strlen(p) + 1)) == NULL) {
	free(valid);
	return (NULL);
    }
    while (*p) {
	if ((n = cs_subject_space(p)) > 0) {
	    while ((n = cs_subject_space(p)) > 0)
		p += n;
	    if (*p && o > 0)
		fold[o++] = ' ';
	} else {
	    fold[o++] = *p++;
	}
    }
    fold[o] = 0;
    free(valid);
    cs_utf8_strip_controls(fold, 0);
    low = g_utf8_strdown(fold, -1);
    free(fold);
    if (low == NULL)
	return (NULL);
    out = strdup(low);
    g_free(low);
    return (out);
}

/* cs_headers_add - append a copy of one header */
int     cs_headers_add(cs_headers *h, const char *name, const char *value)
{
    cs_header *nv;

    if (name == NULL || value == NULL) {
	errno = EINVAL;
	return (-1);
    }
    if (h->n >= CS_MAX_HEADERS) {
	errno = E2BIG;
	return (-1);
    }
    if (h->n == h->cap) {
	size_t  ncap = h->cap ? h->cap * 2 : 16;

	if ((nv = realloc(h->v, ncap * sizeof(*nv))) == NULL)
	    return (-1);
	h->v = nv;
	h->cap = ncap;
    }
    if ((h->v[h->n].name = strdup(name)) == NULL)
	return (-1);
    if ((h->v[h->n].value = strdup(value)) == NULL) {
	free(h->v[h->n].name);
	return (-1);
    }
    h->n++;
    return (0);
}

/* cs_headers_get - value of the first header called name, or NULL */
const char *cs_headers_get(const cs_headers *h, const char *name)
{
    size_t  i;

    for (i = 0; i < h->n; i++)
	if (strcasecmp(h->v[i].name, name) == 0)
	    return (h->v[i].value);
    return (NULL);
}

/* cs_headers_free - free the headers, leave an empty list */
void    cs_headers_free(cs_headers *h)
{
    size_t  i;

    if (h == NULL)
	return;
    for (i = 0; i < h->n; i++) {
	free(h->v[i].name);
	free(h->v[i].value);
    }
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* cs_headers_keep - unfold and store one header found by the splitter */
static int cs_headers_keep(cs_headers *h, const char *name, size_t nlen,
			           const char *val, size_t vlen)
{
    char   *n;
    char   *v;
    int     ret;

    if (vlen > CS_MAX_HEADER_VALUE)
	vlen = CS_MAX_HEADER_VALUE;
    if ((n = strndup(name, nlen)) == NULL)
	return (-1);
    if ((v = cs_unfold(val, vlen)) == NULL) {
	free(n);
	return (-1);
    }
    ret = cs_headers_add(h, n, v);
    free(n);
    free(v);
    return (ret);
}

/*
 * cs_headers_split - the header block of raw into h: lines up to the
 * first empty one; "Name:" starts a header, white space continues it,
 * anything else is skipped. Stops after CS_MAX_HEADERS.
 */
static int cs_headers_split(const char *raw, size_t len, cs_headers *h)
{
    const char *name = NULL;
    const char *val = NULL;
    size_t  nlen = 0;
    size_t  vend = 0;
    size_t  pos = 0;
    size_t  eol, end, i;

    while (pos < len && h->n < CS_MAX_HEADERS) {
	const char *nl = memchr(raw + pos, '\n', len - pos);

	eol = nl ? (size_t) (nl - raw) : len;
	end = eol > pos && raw[eol - 1] == '\r' ? eol - 1 : eol;
	if (end == pos)				/* the empty line */
	    break;
	if (raw[pos] == ' ' || raw[pos] == '\t') {
	    if (name != NULL)
		vend = eol;
	} else {
	    if (name != NULL
		&& cs_headers_keep(h, name, nlen, val, vend - (size_t) (val - raw)) < 0)
		return (-1);
	    name = NULL;
	    for (i = pos; i < end && raw[i] > 0x20 && raw[i] < 0x7f && raw[i] != ':'; i++)
		 /* void */ ;
	    nlen = i - pos;
	    while (i < end && (raw[i] == ' ' || raw[i] == '\t'))
		i++;			/* obsolete "Name :" form */
	    if (nlen > 0 && i < end && raw[i] == ':') {
		name = raw + pos;
		val = raw + i + 1;
		vend = eol;
	    }
	}
	pos = eol + 1;
    }
    if (name != NULL && h->n < CS_MAX_HEADERS
	&& cs_headers_keep(h, name, nlen, val, vend - (size_t) (val - raw)) < 0)
	return (-1);
    return (0);
}

/* cs_thread_index_root - hex of the 22-byte root of an Outlook Thread-Index */
static char *cs_thread_index_root(const char *value)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bin[24];
    char    out[45];
    uint32_t acc = 0;
    int     bits = 0;
    size_t  n = 0;
    const char *p;
    const char *k;
    int     i;

    static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (p = value; *p && n < 22; p++) {
	if (*p == ' ' || *p == '\t')
	    continue;
	if ((k = strchr(b64, *p)) == NULL)
	    break;				/* '=' or junk ends the data */
	acc = (acc << 6) | (uint32_t) (k - b64);
	bits += 6;
	if (bits >= 8) {
	    bits -= 8;
	    bin[n++] = (unsigned char) (acc >> bits);
	    acc &= (1u << bits) - 1;
	}
    }
    if (n < 22)
	return (NULL);
    for (i = 0; i < 22; i++) {
	out[2 * i] = hex[bin[i] >> 4];
	out[2 * i + 1] = hex[bin[i] & 15];
    }
    out[44] = 0;
    return (strdup(out));
}

/* cs_msginfo_first_id - the first msg-id of value, or NULL */
static int cs_msginfo_first_id(const char *value, char **out)
{
    cs_strlist one = {0};

    *out = NULL;
    if (cs_msgid_list_parse(value, &one, 1) < 0)
	return (-1);
    if (one.n > 0) {
	*out = one.v[0];
	one.v[0] = NULL;
	one.n = 0;
    }
    cs_strlist_free(&one);
    return (0);
}

/* cs_msginfo_dup - copy of a raw header value or NULL */
static int cs_msginfo_dup(const cs_headers *h, const char *name, char **out)
{
    const char *v = cs_headers_get(h, name);

    *out = NULL;
    if (v != NULL && (*out = strdup(v)) == NULL)
	return (-1);
    return (0);
}

/* cs_msginfo_is_participant - id equal to an address of the message's headers */
static int cs_msginfo_is_participant(const cs_msginfo *mi, const cs_addrlist *sender,
				             const char *id)
{
    const cs_addrlist *lists[] = {&mi->from, &mi->to, &mi->cc, &mi->reply_to, sender};

    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
	for (size_t i = 0; i < lists[l]->n; i++)
	    if (strcasecmp(lists[l]->v[i].address, id) == 0)
		return (1);
    return (0);
}

/*
 * cs_msginfo_drop_ids - remove the message's own id and its participants'
 * addresses from a list of parent ids. XXX Some programs write addresses
 * where ids belong (VM puts the original author in References, MH the
 * replied-to author in In-Reply-To): taken for ids, every reply to that
 * person would join one thread.
 */
static int cs_msginfo_drop_ids(const cs_msginfo *mi, cs_strlist *l)
{
    cs_addrlist sender = {0};
    const char *v = cs_headers_get(&mi->headers, "Sender");
    size_t  i, j;

    if (v && cs_addrlist_parse(v, &sender) < 0)
	return (-1);
    for (i = j = 0; i < l->n; i++) {
	if ((mi->message_id && strcmp(l->v[i], mi->message_id) == 0)
	    || cs_msginfo_is_participant(mi, &sender, l->v[i]))
	    free(l->v[i]);
	else
	    l->v[j++] = l->v[i];
    }
    l->n = j;
    cs_addrlist_free(&sender);
    return (0);
}

/* cs_msginfo_fill - derive the parsed fields from mi->headers */
static int cs_msginfo_fill(cs_msginfo *mi)
{
    cs_headers *h = &mi->headers;
    const char *v;
    size_t  caps[4] = {0, 0, 0, 0};
    size_t  i;

    for (i = 0; i < h->n; i++) {
	const char *name = h->v[i].name;
	cs_addrlist *al = NULL;
	size_t *cap = NULL;

	if (strcasecmp(name, "From") == 0)
	    al = &mi->from, cap = caps;
	else if (strcasecmp(name, "To") == 0)
	    al = &mi->to, cap = caps + 1;
	else if (strcasecmp(name, "Cc") == 0)
	    al = &mi->cc, cap = caps + 2;
	else if (strcasecmp(name, "Reply-To") == 0)
	    al = &mi->reply_to, cap = caps + 3;
	if (al != NULL && cs_addrlist_append(h->v[i].value, al, cap) < 0)
	    return (-1);
    }
    if ((v = cs_headers_get(h, "Subject")) != NULL
	&& (mi->subject = cs_rfc2047_decode(v)) == NULL)
	return (-1);
    if (cs_msginfo_dup(h, "Date", &mi->date_raw) < 0)
	return (-1);
    if (mi->date_raw != NULL)
	mi->has_date = cs_date_parse(mi->date_raw, &mi->date) == 0;
    if (cs_msginfo_first_id(cs_headers_get(h, "Message-ID"), &mi->message_id) < 0
	|| cs_msgid_list_parse(cs_headers_get(h, "In-Reply-To"), &mi->in_reply_to_ids,
			       CS_MAX_REFS) < 0
	|| cs_msgid_list_parse(cs_headers_get(h, "References"), &mi->references,
			       CS_MAX_REFS) < 0)
	return (-1);
    /* Neither the message's own id (it would be its own ancestor) nor one
     * of its participants' addresses (written in a phrase) is a parent. */
    if (cs_msginfo_drop_ids(mi, &mi->in_reply_to_ids) < 0
	|| cs_msginfo_drop_ids(mi, &mi->references) < 0)
	return (-1);
    if (mi->in_reply_to_ids.n > 0 && (mi->in_reply_to = strdup(mi->in_reply_to_ids.v[0])) == NULL)
	return (-1);
    if ((v = cs_headers_get(h, "Thread-Index")) != NULL)
	mi->thread_index_root = cs_thread_index_root(v);
    if (cs_msginfo_dup(h, "List-Id", &mi->list_id) < 0
	|| cs_msginfo_dup(h, "Auto-Submitted", &mi->auto_submitted) < 0
	|| cs_msginfo_dup(h, "Precedence", &mi->precedence) < 0)
	return (-1);
    return (0);
}

/* cs_msginfo_parse - parse the header block of raw into mi */
int     cs_msginfo_parse(const char *raw, size_t len, cs_msginfo *mi)
{
    memset(mi, 0, sizeof(*mi));
    if (raw == NULL)
	return (0);
    cs_message_init();
    if (cs_headers_split(raw, len, &mi->headers) < 0 || cs_msginfo_fill(mi) < 0) {
	cs_msginfo_free(mi);
	return (-1);
    }
    return (0);
}

/* cs_msginfo_free - free everything mi holds and zero it */
void    cs_msginfo_free(cs_msginfo *mi)
{
    if (mi == NULL)
	return;
    cs_headers_free(&mi->headers);
    free(mi->subject);
    cs_addrlist_free(&mi->from);
    cs_addrlist_free(&mi->to);
    cs_addrlist_free(&mi->cc);
    cs_addrlist_free(&mi->reply_to);
    free(mi->date_raw);
    free(mi->message_id);
    free(mi->in_reply_to);
    cs_strlist_free(&mi->in_reply_to_ids);
    cs_strlist_free(&mi->references);
    free(mi->thread_index_root);
    free(mi->list_id);
    free(mi->auto_submitted);
    free(mi->precedence);
    memset(mi, 0, sizeof(*mi));
}
