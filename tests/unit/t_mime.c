/*
 * NAME
 *	t_mime - unit tests for lib/cs_mime.c
 * DESCRIPTION
 *	Text body choice (plain over html), html to text, charsets,
 *	attachments (list and bytes), broken structure (SPEC X1 thread).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_message.h"
#include "tap.h"

/* parse - cs_mime_parse of a string */
static int parse(const char *msg, cs_mimeinfo *mi)
{
    return (cs_mime_parse(msg, strlen(msg), mi));
}

/* test_alternative - text/plain preferred, QP and Latin-1 decoded */
static void test_alternative(void)
{
    static const char msg[] =
	"From: a@example.com\r\n"
	"Subject: alt\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Gr=FC=DFe aus K=F6ln,=\r\n"
	" soft break\r\n"
	"line 2\r\n"
	"--b1\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<p>HTML version</p>\r\n"
	"--b1--\r\n";
    cs_mimeinfo mi;

    ok(parse(msg, &mi) == 0, "alternative parses");
    is_str(mi.text, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, soft break\nline 2",
	   "plain part preferred, QP + Latin-1 decoded, CRLF -> LF, CRLF before boundary not content");
    is_int(mi.natt, 0, "no attachments");
    cs_mimeinfo_free(&mi);
    ok(mi.text == NULL && mi.natt == 0, "free zeroes");
}

/* test_html - html only: tags, entities, script/style, blocks */
static void test_html(void)
{
    static const char msg[] =
	"From: a@example.com\n"
	"Content-Type: text/html; charset=utf-8\n"
	"\n"
	"<html><head><title>T</title><style>p { color: red; }</style>\n"
	"<script type=\"text/javascript\">alert('<p>x</p>');</script></head>\n"
	"<body><!-- a comment <b>hidden</b> -->\n"
	"<p>Hello&nbsp;&amp; <b>welcome</b>,   Caf&eacute; &#8364;5 &#x41;&lt;&gt;</p>\n"
	"<div>line<br>two</div>&unknown; &#xD800; &#0;</body></html>\n";
    cs_mimeinfo mi;

    ok(parse(msg, &mi) == 0, "html parses");
    is_str(mi.text,
	   "T\nHello & welcome, Caf\xc3\xa9 \xe2\x82\xac" "5 A<>\n\nline\ntwo\n"
	   "&unknown; \xef\xbf\xbd \xef\xbf\xbd",
	   "html converted to text");
    is_int(mi.natt, 0, "no attachments");
    cs_mimeinfo_free(&mi);
}

/* test_attachments - list, names, types, sizes, bytes */
static void test_attachments(void)
{
    static const char msg[] =
	"From: a@example.com\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=outer\r\n"
	"\r\n"
	"--outer\r\n"
	"Content-Type: multipart/alternative; boundary=inner\r\n"
	"\r\n"
	"--inner\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Body text.\r\n"
	"--inner\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>Body text.</p>\r\n"
	"--inner--\r\n"
	"--outer\r\n"
	"Content-Type: application/PDF; name=\"ignored.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"=?utf-8?q?Angebot_f=C3=BCr_Kunde.pdf?=\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQgZmFrZSBwZGYK\r\n"
	"--outer\r\n"
	"Content-Type: image/png\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
	"OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3Bx\r\n"
	"cnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq\r\n"
	"q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj\r\n"
	"5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\r\n"
	"--outer\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"Content-Disposition: attachment; filename*=iso-8859-1''notiz%E4.txt\r\n"
	"\r\n"
	"not the body\r\n"
	"--outer\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"second inline text is neither body nor attachment\r\n"
	"--outer--\r\n";
    cs_mimeinfo mi;
    cs_buf  b = {0};
    size_t  i;
    int     same = 1;

    ok(parse(msg, &mi) == 0, "mixed parses");
    is_str(mi.text, "Body text.", "nested plain body");
    is_int(mi.natt, 3, "three attachments");
    if (mi.natt == 3) {
	is_str(mi.att[0].name, "Angebot f\xc3\xbcr Kunde.pdf", "encoded filename decoded");
	is_str(mi.att[0].type, "application/pdf", "type lower-cased");
	is_int(mi.att[0].size, 18, "pdf decoded size");
	ok(mi.att[1].name == NULL, "unnamed image: NULL name");
	is_str(mi.att[1].type, "image/png", "image type");
	is_int(mi.att[1].size, 256, "image decoded size");
	is_str(mi.att[2].name, "notiz\xc3\xa4.txt", "RFC 2231 filename");
	is_str(mi.att[2].type, "text/plain", "text attachment type");
	is_int(mi.att[2].size, 12, "text attachment size (CRLF before boundary excluded)");
    }
    cs_mimeinfo_free(&mi);

    ok(cs_mime_attachment(msg, strlen(msg), 1, &b) == 0, "attachment 1");
    ok(b.len == 18 && memcmp(b.data, "%PDF-1.4 fake pdf\n", 18) == 0, "pdf bytes");
    cs_buf_free(&b);
    memset(&b, 0, sizeof(b));
    ok(cs_mime_attachment(msg, strlen(msg), 2, &b) == 0, "attachment 2");
    is_int(b.len, 256, "image length");
    for (i = 0; i < 256 && b.len == 256; i++)
	same &= (unsigned char) b.data[i] == i;
    ok(same && b.len == 256, "image bytes 0..255");
    cs_buf_free(&b);
    memset(&b, 0, sizeof(b));
    ok(cs_mime_attachment(msg, strlen(msg), 4, &b) < 0 && errno == ENOENT, "n past the end: ENOENT");
    ok(cs_mime_attachment(msg, strlen(msg), 0, &b) < 0 && errno == ENOENT, "n = 0: ENOENT");
    b.limit = 10;
    ok(cs_mime_attachment(msg, strlen(msg), 1, &b) < 0 && errno == E2BIG, "over limit: E2BIG");
    cs_buf_free(&b);
}

/* test_rfc822 - an attached message is one attachment */
static void test_rfc822(void)
{
    static const char msg[] =
	"Content-Type: multipart/mixed; boundary=x\n"
	"\n"
	"--x\n"
	"Content-Type: text/plain\n"
	"\n"
	"see attached\n"
	"--x\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"\n"
	"inner body\n"
	"--x--\n";
    cs_mimeinfo mi;
    cs_buf  b = {0};

    ok(parse(msg, &mi) == 0, "rfc822 parses");
    is_str(mi.text, "see attached", "outer text, not the inner");
    is_int(mi.natt, 1, "one attachment");
    if (mi.natt == 1) {
	is_str(mi.att[0].type, "message/rfc822", "message/rfc822 type");
	ok(cs_mime_attachment(msg, strlen(msg), 1, &b) == 0
	   && b.len == mi.att[0].size && strstr(b.data, "inner body") != NULL,
	   "rfc822 bytes match size");
    }
    cs_buf_free(&b);
    cs_mimeinfo_free(&mi);
}

/* test_charsets - declared, undeclared, invalid */
static void test_charsets(void)
{
    cs_mimeinfo mi;

    parse("Content-Type: text/plain; charset=windows-1252\n"
	  "Content-Transfer-Encoding: 8bit\n\n"
	  "\x80 M\xfcller \x93quoted\x94\n", &mi);
    is_str(mi.text, "\xe2\x82\xac M\xc3\xbcller \xe2\x80\x9cquoted\xe2\x80\x9d\n",
	   "windows-1252 body converted");
    cs_mimeinfo_free(&mi);

    parse("Subject: no mime\n\nM\xfcller and \xc3\xa4\n", &mi);
    is_str(mi.text, "M\xc3\xbcller and \xc3\xa4\n", "undeclared 8-bit: UTF-8 kept, rest Latin-1");
    cs_mimeinfo_free(&mi);

    parse("Content-Type: text/plain; charset=utf-8\n\nok \xff\xfe end\n", &mi);
    ok(mi.text != NULL && strstr(mi.text, "ok ") == mi.text
       && strstr(mi.text, "\xef\xbf\xbd") != NULL && strstr(mi.text, "end\n") != NULL,
       "invalid UTF-8 body: U+FFFD");
    cs_mimeinfo_free(&mi);

    parse("Content-Type: text/plain; charset=x-no-such-charset\n\nabc\n", &mi);
    is_str(mi.text, "abc\n", "unknown charset: bytes kept");
    cs_mimeinfo_free(&mi);

    parse("Content-Type: text/plain\n\na\x01" "b\tc\rd\x1b\n", &mi);
    is_str(mi.text, "ab\tc\nd\n", "controls removed, CR -> LF");
    cs_mimeinfo_free(&mi);
}

/* test_broken - bad boundaries and junk */
static void test_broken(void)
{
    static const char unterminated[] =
	"Content-Type: multipart/mixed; boundary=XYZ\n"
	"\n"
	"--XYZ\n"
	"Content-Type: text/plain\n"
	"\n"
	"first\n"
	"--XYZ\n"
	"Content-Type: application/zip\n"
	"Content-Disposition: attachment; filename=a.zip\n"
	"\n"
	"PK\n";
    static const char wrong[] =
	"Content-Type: multipart/mixed; boundary=XYZ\n"
	"\n"
	"--ABC\n"
	"Content-Type: text/plain\n"
	"\n"
	"body under the wrong boundary\n"
	"--ABC--\n";
    static const char noboundary[] =
	"Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n";
    cs_mimeinfo mi;
    char    junk[4096];
    size_t  i;

    ok(parse(unterminated, &mi) == 0, "unterminated multipart parses");
    is_str(mi.text, "first", "text before the missing end boundary");
    is_int(mi.natt, 1, "attachment after it still found");
    if (mi.natt == 1)
	is_str(mi.att[0].name, "a.zip", "its name");
    cs_mimeinfo_free(&mi);

    ok(parse(wrong, &mi) == 0, "wrong boundary parses");
    is_str(mi.text, "", "no part found: empty text");
    is_int(mi.natt, 0, "no attachments");
    cs_mimeinfo_free(&mi);

    ok(parse(noboundary, &mi) == 0 && mi.text != NULL, "multipart without boundary parses");
    cs_mimeinfo_free(&mi);

    for (i = 0; i < sizeof(junk); i++)
	junk[i] = (char) ((i * 7919 + 13) % 251 + 1);
    ok(cs_mime_parse(junk, sizeof(junk), &mi) == 0 && mi.text != NULL, "junk bytes: no crash");
    cs_mimeinfo_free(&mi);
    ok(cs_mime_parse("", 0, &mi) == 0 && mi.text != NULL && *mi.text == 0, "empty message");
    cs_mimeinfo_free(&mi);
}

/* test_deep - nesting and part count stay bounded */
static void test_deep(void)
{
    cs_buf  m = {0};
    cs_mimeinfo mi;
    int     i;

    for (i = 0; i < 200; i++)
	cs_buf_appendf(&m, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    cs_buf_appendf(&m, "Content-Type: text/plain\n\ndeep\n");
    ok(cs_mime_parse(m.data, m.len, &mi) == 0, "200 levels parse");
    is_str(mi.text, "", "text below the depth limit not reached");
    cs_mimeinfo_free(&mi);
    cs_buf_free(&m);

    memset(&m, 0, sizeof(m));
    cs_buf_appendf(&m, "Content-Type: multipart/mixed; boundary=b\n\n");
    for (i = 0; i < 3000; i++)
	cs_buf_appendf(&m, "--b\nContent-Type: application/octet-stream\n\nx\n");
    cs_buf_appendf(&m, "--b--\n");
    ok(cs_mime_parse(m.data, m.len, &mi) == 0, "3000 parts parse");
    is_int(mi.natt, 999, "part count bounded: 1000 parts with the container");
    cs_mimeinfo_free(&mi);
    cs_buf_free(&m);
}

/* test_bound - GMime sees at most CS_MIME_MAX_BOUNDARIES boundaries */
static void test_bound(void)
{
    cs_buf  m = {0};
    cs_mimeinfo mi;
    size_t  n, i, left;
    char   *copy;
    const char *p;
    int     k;

    /* Every spelling a parameter may have counts. */
    cs_buf_appendf(&m, "Content-Type: multipart/mixed; boundary=a\n");
    for (k = 0; k < CS_MIME_MAX_BOUNDARIES - 1; k++)
	cs_buf_appendf(&m, "Content-Type: multipart/mixed; BOUNDARY = \"b%d\"\n", k);
    copy = cs_mime_bound(m.data, m.len, &n);
    ok(copy == NULL && n == 0, "%d boundaries: parsed as they are", CS_MIME_MAX_BOUNDARIES);
    cs_buf_appendf(&m, "Content-Type: multipart/mixed; boundary*0=\"c\"\n");
    cs_buf_appendf(&m, "Content-Type: multipart/mixed; Boundary*=utf-8''d\n");
    cs_buf_appendf(&m, "Content-Type: multipart/mixed;\n boundary\n =e\n");
    cs_buf_appendf(&m, "a boundary of the text, not a parameter\n");
    copy = cs_mime_bound(m.data, m.len, &n);
    ok(copy != NULL && n == 3, "the 3 past the limit disarmed (RFC 2231, folded): %zu", n);
    left = 0;
    for (p = copy; p != NULL && (p = memmem(p, m.len - (size_t) (p - copy), "xoundary", 8)) != NULL; p++)
	left++;
    is_int((int) left, 3, "as \"xoundary\"");
    for (i = 0; copy != NULL && i < m.len && (copy[i] == m.data[i] || copy[i] == 'x'); i++)
	 /* void */ ;
    ok(copy != NULL && i == m.len, "nothing else changed");
    ok(copy != NULL && memmem(copy, m.len, "a boundary of", 13) != NULL, "the word in text stays");
    free(copy);
    cs_buf_free(&m);

    /* 100,000 nested multiparts: parsed (GMime saw 1,000 of them). */
    memset(&m, 0, sizeof(m));
    cs_buf_appendf(&m, "From: a@example.com\nSubject: deep\n");
    for (k = 0; k < 100000; k++)
	cs_buf_appendf(&m, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", k, k);
    cs_buf_appendf(&m, "Content-Type: text/plain\n\nhi\n");
    for (k = 100000; k-- > 0;)
	cs_buf_appendf(&m, "--b%d--\n", k);
    copy = cs_mime_bound(m.data, m.len, &n);
    ok(n == 100000 - CS_MIME_MAX_BOUNDARIES, "100,000 nested: %zu disarmed", n);
    free(copy);
    ok(cs_mime_parse(m.data, m.len, &mi) == 0 && mi.natt == 0, "100,000 nested: parsed, no attachment");
    cs_mimeinfo_free(&mi);
    cs_buf_free(&m);
}

int     main(void)
{
    cs_message_init();
    test_alternative();
    test_html();
    test_attachments();
    test_rfc822();
    test_charsets();
    test_broken();
    test_deep();
    test_bound();
    return (done_testing());
}
