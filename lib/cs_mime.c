/*
 * NAME
 *	cs_mime 3
 * SUMMARY
 *	text body and attachments of a whole raw message (SPEC X1)
 * SYNOPSIS
 *	#include "cs_message.h"
 *
 *	int	cs_mime_parse(const char *raw, size_t len, cs_mimeinfo *mi)
 *	void	cs_mimeinfo_free(cs_mimeinfo *mi)
 *	int	cs_mime_attachment(const char *raw, size_t len, size_t n,
 *				cs_buf *out)
 * DESCRIPTION
 *	GMime parses the message; a bounded walk (CS_MIME_MAX_DEPTH levels,
 *	CS_MIME_MAX_PARTS parts) visits the leaves in document order.
 *	GMime's own parse is not bounded: each nested multipart adds a
 *	boundary that later "--" lines are checked against, so a 24 MB
 *	message of 5,000 nested multiparts and "--z" lines took 36.6 s of CPU
 *	on every read (2.0 s now; 0.28 s for 24 MB without multiparts). It
 *	parses a copy in which the "boundary" parameters past the first
 *	CS_MIME_MAX_BOUNDARIES (64) are disarmed (cs_mime_bound():
 *	"xoundary"): those multiparts have no boundary and their content is
 *	one part. Real mail has a few (at most 2 in each of the 4,150
 *	messages of the SpamAssassin ham); past the limit an embedded
 *	message's bytes, as GMime writes them, carry "xoundary".
 *
 *	The text is the first text/plain leaf that is not an attachment,
 *	decoded and converted to UTF-8; failing that, the first such
 *	text/html leaf turned into plain text (tags dropped, script and style
 *	content dropped, common entities decoded, block tags as line breaks).
 *	Line ends become LF; controls but LF and tab are removed.
 *
 *	An attachment is a leaf with Content-Disposition attachment, or a
 *	file name, or a type other than text; an embedded message/rfc822 is
 *	one attachment (its bytes as GMime writes them), not searched for
 *	text. cs_mime_attachment() counts the same way.
 * DIAGNOSTICS
 *	-1 on ENOMEM (and the errno cases of cs_message.h); junk input gives
 *	an empty text and no attachments.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* GMime/GLib. */
#include <gmime/gmime.h>

/* Application-specific. */
#include "cs_message.h"

#define CS_MIME_MAX_DEPTH	32
#define CS_MIME_MAX_PARTS	1000

/* One walk over the leaves; what it collects depends on the caller. */
typedef struct cs_mime_walk {
    size_t  parts;			/* leaves and containers visited */
    GMimeObject *plain;			/* first body text/plain */
    GMimeObject *html;			/* first body text/html */
    GPtrArray *att;			/* attachments, document order */
} cs_mime_walk;

/* cs_mime_options - GMime parser options for hostile real-world mail */
static GMimeParserOptions *cs_mime_options(void)
{
    static const char *charsets[] = {"UTF-8", "windows-1252", NULL};
    GMimeParserOptions *opts = g_mime_parser_options_new();

    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_fallback_charsets(opts, charsets);
    return (opts);
}

/*
 * cs_mime_bound - disarm the "boundary" parameters past the first
 * CS_MIME_MAX_BOUNDARIES. Counted wherever the word stands before an
 * '=' (spaces, folding, and RFC 2231's "*" and section digits allowed
 * between), whatever surrounds it: in a body it is only text. NULL and
 * *n 0 when none is past the limit, or when out of memory (then GMime
 * parses raw as it is).
 */
char   *cs_mime_bound(const char *raw, size_t len, size_t *n)
{
    static const char word[] = "boundary";
    const size_t wlen = sizeof(word) - 1;
    size_t  i, j, seen = 0;
    char   *copy = NULL;

    *n = 0;
    for (i = 0; i + wlen < len; i++) {
	if ((raw[i] | 0x20) != 'b' || strncasecmp(raw + i, word, wlen) != 0)
	    continue;
	for (j = i + wlen; j < len && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\r'
				       || raw[j] == '\n' || raw[j] == '*'
				       || (raw[j] >= '0' && raw[j] <= '9')); j++)
	     /* void */ ;
	if (j >= len || raw[j] != '=')
	    continue;
	if (++seen <= CS_MIME_MAX_BOUNDARIES)
	    continue;
	if (copy == NULL) {
	    if ((copy = malloc(len)) == NULL)
		return (NULL);
	    memcpy(copy, raw, len);
	}
	copy[i] = 'x';
	++*n;
    }
    return (copy);
}

/* cs_mime_load - GMime message of raw, or NULL */
static GMimeMessage *cs_mime_load(const char *raw, size_t len)
{
    GMimeParserOptions *opts;
    GMimeParser *parser;
    GMimeStream *stream;
    GMimeMessage *msg;
    size_t  disarmed;
    char   *bounded;

    cs_message_init();
    if ((bounded = cs_mime_bound(raw, len, &disarmed)) != NULL)
	raw = bounded;
    stream = g_mime_stream_mem_new_with_buffer(raw, len);
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    opts = cs_mime_options();
    msg = g_mime_parser_construct_message(parser, opts);
    g_mime_parser_options_free(opts);
    g_object_unref(parser);
    g_object_unref(stream);
    free(bounded);
    return (msg);
}

/* cs_mime_is_attachment - does this leaf count as an attachment */
static int cs_mime_is_attachment(GMimeObject *obj)
{
    GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);

    if (GMIME_IS_MESSAGE_PART(obj))
	return (1);
    if (disp != NULL && g_mime_content_disposition_is_attachment(disp))
	return (1);
    if (GMIME_IS_PART(obj) && g_mime_part_get_filename(GMIME_PART(obj)) != NULL)
	return (1);
    return (ct == NULL || !g_mime_content_type_is_type(ct, "text", "*"));
}

/* cs_mime_visit - walk obj and its children in document order */
static void cs_mime_visit(cs_mime_walk *w, GMimeObject *obj, int depth)
{
    GMimeContentType *ct;
    int     i, n;

    if (obj == NULL || depth > CS_MIME_MAX_DEPTH || ++w->parts > CS_MIME_MAX_PARTS)
	return;
    if (GMIME_IS_MULTIPART(obj)) {
	n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	for (i = 0; i < n; i++)
	    cs_mime_visit(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1);
	return;
    }
    if (!GMIME_IS_PART(obj) && !GMIME_IS_MESSAGE_PART(obj))
	return;
    if (cs_mime_is_attachment(obj)) {
	g_ptr_array_add(w->att, obj);
	return;
    }
    ct = g_mime_object_get_content_type(obj);
    if (w->plain == NULL && g_mime_content_type_is_type(ct, "text", "plain"))
	w->plain = obj;
    else if (w->html == NULL && g_mime_content_type_is_type(ct, "text", "html"))
	w->html = obj;
}

/* cs_mime_write - write an attachment's decoded bytes to stream */
static void cs_mime_write(GMimeObject *obj, GMimeStream *stream)
{
    GMimeDataWrapper *content;
    GMimeMessage *msg;

    if (GMIME_IS_MESSAGE_PART(obj)) {
	msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
	if (msg != NULL)
	    g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, stream);
    } else if ((content = g_mime_part_get_content(GMIME_PART(obj))) != NULL) {
	g_mime_data_wrapper_write_to_stream(content, stream);
    }
    g_mime_stream_flush(stream);
}

/* cs_mime_clean - CRLF to LF, controls but LF/tab removed, in place */
static void cs_mime_clean(char *s)
{
    char   *r, *w;

    for (r = w = s; *r; r++)
	if (!(r[0] == '\r' && r[1] == '\n'))
	    *w++ = *r == '\r' ? '\n' : *r;
    *w = 0;
    cs_utf8_strip_controls(s, 1);
}

/*
 * cs_mime_part_text - decoded text of a text part as valid UTF-8. UTF-8
 * declared: bad bytes become U+FFFD. Another charset: GMime converts (it
 * drops bytes invalid in that charset). None or us-ascii: the bytes are
 * taken as UTF-8, else windows-1252, as for headers.
 */
static char *cs_mime_part_text(GMimeObject *obj)
{
    GMimeStream *mem;
    GByteArray *ba;
    GMimeStream *filtered;
    GMimeFilter *filter = NULL;
    GMimeDataWrapper *content;
    const char *charset;
    char   *out = NULL;
    char   *valid;
    int     utf8 = 0;

    if ((content = g_mime_part_get_content(GMIME_PART(obj))) == NULL)
	return (strdup(""));
    charset = g_mime_object_get_content_type_parameter(obj, "charset");
    mem = g_mime_stream_mem_new();
    if (charset != NULL && (g_ascii_strcasecmp(charset, "utf-8") == 0
			    || g_ascii_strcasecmp(charset, "utf8") == 0)) {
	/* GMime's converter would drop bad bytes silently. */
	g_mime_data_wrapper_write_to_stream(content, mem);
	utf8 = 1;
    } else if (charset != NULL && g_ascii_strcasecmp(charset, "us-ascii") != 0
	&& (filter = g_mime_filter_charset_new(charset, "UTF-8")) != NULL) {
	filtered = g_mime_stream_filter_new(mem);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
	g_object_unref(filter);
	g_mime_data_wrapper_write_to_stream(content, filtered);
	g_mime_stream_flush(filtered);
	g_object_unref(filtered);
    } else {
	g_mime_data_wrapper_write_to_stream(content, mem);
    }
    ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (ba->len == 0) {
	out = strdup("");
    } else if (filter != NULL || utf8) {
	valid = g_utf8_make_valid((const char *) ba->data, (gssize) ba->len);
	out = valid ? strdup(valid) : NULL;
	g_free(valid);
    } else {
	out = cs_utf8_from_raw((const char *) ba->data, ba->len);
    }
    g_object_unref(mem);
    if (out != NULL)
	cs_mime_clean(out);
    return (out);
}

/* cs_html_entity - decode the entity at s (after '&'), return its length */
static size_t cs_html_entity(const char *s, GString *out)
{
    static const struct {
	const char *name;
	const char *utf8;
    } named[] = {
	{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
	{"nbsp", " "}, {"auml", "\xc3\xa4"}, {"ouml", "\xc3\xb6"},
	{"uuml", "\xc3\xbc"}, {"Auml", "\xc3\x84"}, {"Ouml", "\xc3\x96"},
	{"Uuml", "\xc3\x9c"}, {"szlig", "\xc3\x9f"}, {"eacute", "\xc3\xa9"},
	{"euro", "\xe2\x82\xac"}, {"copy", "\xc2\xa9"}, {"ndash", "\xe2\x80\x93"},
	{"mdash", "\xe2\x80\x94"}, {"hellip", "\xe2\x80\xa6"}, {NULL, NULL},
    };
    const char *semi;
    gunichar c = 0;
    size_t  len, i;
    int     digits = 0;

    for (semi = s; semi - s < 12 && *semi && *semi != ';'; semi++)
	 /* void */ ;
    if (*semi != ';')
	return (0);
    len = (size_t) (semi - s);
    if (len > 1 && s[0] == '#') {
	int     hex = s[1] == 'x' || s[1] == 'X';

	for (i = hex ? 2 : 1; i < len; i++, digits++) {
	    int     d = g_ascii_xdigit_value(s[i]);

	    if (d < 0 || (!hex && d > 9) || c > 0x10ffff)
		return (0);
	    c = c * (hex ? 16 : 10) + (gunichar) d;
	}
	if (digits == 0)
	    return (0);
	if (c > 0x10ffff || !g_unichar_validate(c) || c == 0)
	    c = 0xfffd;
	g_string_append_unichar(out, c);
	return (len + 1);
    }
    for (i = 0; named[i].name; i++) {
	if (strlen(named[i].name) == len && strncmp(s, named[i].name, len) == 0) {
	    g_string_append(out, named[i].utf8);
	    return (len + 1);
	}
    }
    return (0);
}

/* cs_html_tag_is - does the tag text at t (after '<' and '/') name tag */
static int cs_html_tag_is(const char *t, const char *tag)
{
    size_t  n = strlen(tag);

    return (g_ascii_strncasecmp(t, tag, n) == 0
	    && !g_ascii_isalnum(t[n]));
}

/* cs_html_to_text - plain text of an HTML document (simple, bounded) */
static char *cs_html_to_text(const char *html)
{
    static const char *const blocks[] = {
	"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
	"table", "ul", "ol", "blockquote", "pre", "hr", NULL,
    };
    GString *out = g_string_sized_new(strlen(html) / 2 + 16);
    const char *p = html;
    const char *end;
    const char *t;
    const char *skip_to = NULL;
    size_t  n, i;
    char   *ret;

    while (*p) {
	if (*p == '<') {
	    if (strncmp(p, "<!--", 4) == 0) {
		end = strstr(p + 4, "-->");
		p = end ? end + 3 : p + strlen(p);
		continue;
	    }
	    t = p + 1;
	    if (*t == '/')
		t++;
	    end = strchr(p, '>');
	    p = end ? end + 1 : p + strlen(p);
	    if (cs_html_tag_is(t, "script"))
		skip_to = "</script";
	    else if (cs_html_tag_is(t, "style"))
		skip_to = "</style";
	    else
		for (i = 0; blocks[i]; i++)
		    if (cs_html_tag_is(t, blocks[i])) {
			g_string_append_c(out, '\n');
			break;
		    }
	    if (skip_to != NULL && t[-1] != '/') {
		/* Drop script/style content up to the closing tag. */
		for (end = p; *end && g_ascii_strncasecmp(end, skip_to, strlen(skip_to)) != 0; end++)
		     /* void */ ;
		p = end;
	    }
	    skip_to = NULL;
	    continue;
	}
	if (*p == '&' && (n = cs_html_entity(p + 1, out)) > 0) {
	    p += n + 1;
	    continue;
	}
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
	    /* HTML white space is one space, except at a line start. */
	    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	    if (out->len > 0 && out->str[out->len - 1] != '\n'
		&& out->str[out->len - 1] != ' ')
		g_string_append_c(out, ' ');
	    continue;
	}
	g_string_append_c(out, *p++);
    }
    /* Tidy: no space before a line break, at most one empty line. */
    for (i = n = 0; i < out->len; i++) {
	char    c = out->str[i];

	if (c == ' ' && i + 1 < out->len && out->str[i + 1] == '\n')
	    continue;
	if (c == '\n' && n >= 2 && out->str[n - 1] == '\n' && out->str[n - 2] == '\n')
	    continue;
	if (c == ' ' && n > 0 && out->str[n - 1] == '\n')
	    continue;
	out->str[n++] = c;
    }
    g_string_truncate(out, n);
    ret = strdup(cs_trim(out->str));
    g_string_free(out, TRUE);
    return (ret);
}

/* cs_mime_attachment_info - fill one cs_attachment for obj */
static int cs_mime_attachment_info(GMimeObject *obj, cs_attachment *a)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    GMimeStream *null;
    const char *name = NULL;
    char   *mime;

    memset(a, 0, sizeof(*a));
    if (GMIME_IS_PART(obj))
	name = g_mime_part_get_filename(GMIME_PART(obj));
    if (name != NULL && *name && (a->name = cs_rfc2047_decode(name)) == NULL)
	return (-1);
    if (a->name != NULL && *a->name == 0) {
	free(a->name);
	a->name = NULL;
    }
    mime = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("application/octet-stream");
    a->type = cs_utf8_from_raw(mime, strlen(mime));
    g_free(mime);
    if (a->type == NULL)
	return (-1);
    cs_utf8_strip_controls(a->type, 0);
    cs_lowercase(a->type);
    null = g_mime_stream_null_new();
    cs_mime_write(obj, null);
    a->size = GMIME_STREAM_NULL(null)->written;
    g_object_unref(null);
    return (0);
}

/* cs_mime_parse - text body and attachment list of a raw message */
int     cs_mime_parse(const char *raw, size_t len, cs_mimeinfo *mi)
{
    cs_mime_walk w;
    GMimeMessage *msg;
    char   *html;
    guint   i;
    int     ret = 0;

    memset(mi, 0, sizeof(*mi));
    memset(&w, 0, sizeof(w));
    if (raw == NULL || (msg = cs_mime_load(raw, len)) == NULL)
	return ((mi->text = strdup("")) ? 0 : -1);
    w.att = g_ptr_array_new();
    cs_mime_visit(&w, g_mime_message_get_mime_part(msg), 0);
    if (w.plain != NULL) {
	mi->text = cs_mime_part_text(w.plain);
    } else if (w.html != NULL) {
	if ((html = cs_mime_part_text(w.html)) != NULL) {
	    mi->text = cs_html_to_text(html);
	    free(html);
	}
    } else {
	mi->text = strdup("");
    }
    if (mi->text == NULL)
	ret = -1;
    if (ret == 0 && w.att->len > 0
	&& (mi->att = calloc(w.att->len, sizeof(*mi->att))) == NULL)
	ret = -1;
    for (i = 0; ret == 0 && i < w.att->len; i++) {
	ret = cs_mime_attachment_info(g_ptr_array_index(w.att, i), &mi->att[i]);
	mi->natt = i + 1;
    }
    g_ptr_array_free(w.att, TRUE);
    g_object_unref(msg);
    if (ret < 0)
	cs_mimeinfo_free(mi);
    return (ret);
}

/* cs_mimeinfo_free - free everything mi holds and zero it */
void    cs_mimeinfo_free(cs_mimeinfo *mi)
{
    size_t  i;

    if (mi == NULL)
	return;
    for (i = 0; i < mi->natt; i++) {
	free(mi->att[i].name);
	free(mi->att[i].type);
    }
    free(mi->att);
    free(mi->text);
    memset(mi, 0, sizeof(*mi));
}

/* cs_mime_attachment - decoded bytes of attachment n (1-based) into out */
int     cs_mime_attachment(const char *raw, size_t len, size_t n, cs_buf *out)
{
    cs_mime_walk w;
    GMimeMessage *msg;
    GMimeStream *mem;
    GByteArray *ba;
    int     ret = 0;
    int     err = 0;

    memset(&w, 0, sizeof(w));
    if (raw == NULL || n == 0 || (msg = cs_mime_load(raw, len)) == NULL) {
	errno = ENOENT;
	return (-1);
    }
    w.att = g_ptr_array_new();
    cs_mime_visit(&w, g_mime_message_get_mime_part(msg), 0);
    if (n > w.att->len) {
	err = ENOENT;
	ret = -1;
    } else {
	mem = g_mime_stream_mem_new();
	cs_mime_write(g_ptr_array_index(w.att, n - 1), mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (ba->len > 0 && (ret = cs_buf_append(out, ba->data, ba->len)) < 0)
	    err = errno == ENOMEM ? ENOMEM : E2BIG;
	g_object_unref(mem);
    }
    g_ptr_array_free(w.att, TRUE);
    g_object_unref(msg);
    if (ret < 0)
	errno = err;
    return (ret);
}
