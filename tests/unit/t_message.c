/*
 * NAME
 *	t_message - unit tests for lib/cs_message.c
 * DESCRIPTION
 *	Header splitting and unfolding, RFC 2047, address lists, dates,
 *	message ids, subject normalization (SPEC T1), Thread-Index, and the
 *	whole cs_msginfo_parse (SPEC C4) on realistic and hostile input.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_message.h"
#include "tap.h"

/* unfold - cs_unfold of a C string literal with explicit length */
static void unfold(const char *in, size_t len, const char *want, const char *what)
{
    char   *got = cs_unfold(in, len);

    is_str(got, want, what);
    free(got);
}

/* dec - cs_rfc2047_decode check */
static void dec(const char *in, const char *want, const char *what)
{
    char   *got = cs_rfc2047_decode(in);

    is_str(got, want, what);
    free(got);
}

/* norm - cs_subject_normalize check */
static void norm(const char *in, const char *want)
{
    char   *got = cs_subject_normalize(in);
    char    what[200];
    char   *c;

    snprintf(what, sizeof(what), "normalize \"%s\"", in);
    for (c = what; *c; c++)
	if (*c == '\r' || *c == '\n')
	    *c = '?';
    is_str(got, want, what);
    free(got);
}

/* test_unfold - CRLF, LF, tabs, NUL, length */
static void test_unfold(void)
{
    unfold("a\r\n b", 5, "a b", "unfold CRLF SP");
    unfold("a\n\tb", 4, "a\tb", "unfold LF TAB: the tab stays (RFC 5322 2.2.3)");
    unfold("a \r\n\t\t b", 8, "a \t\t b", "a fold removes CRLF only, white space kept");
    unfold("  lead\r\n\t\t trail \r\n ", 21, "lead\t\t trail", "leading/trailing trimmed");
    unfold("a \t b", 5, "a \t b", "white space without a fold kept");
    unfold("a\r\nb", 4, "ab", "CRLF without white space removed");
    unfold("a\0b", 3, "a b", "NUL becomes a space");
    unfold("abcdef", 3, "abc", "length respected");
    unfold("", 0, "", "empty");
    ok(cs_unfold(NULL, 0) == NULL, "NULL in, NULL out");
}

/* test_rfc2047 - encoded words, charsets, raw 8-bit, repair */
static void test_rfc2047(void)
{
    dec("=?UTF-8?B?SGVsbG8gV8O2cmxk?=", "Hello W\xc3\xb6rld", "B UTF-8");
    dec("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
	"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", "Q UTF-8, underscore is space");
    dec("=?ISO-8859-1?Q?M=FCller?=", "M\xc3\xbcller", "Q ISO-8859-1");
    dec("=?iso-8859-1?b?TfxsbGVy?=", "M\xc3\xbcller", "B ISO-8859-1");
    dec("=?windows-1252?Q?=80_5_=96_cheap?=", "\xe2\x82\xac 5 \xe2\x80\x93 cheap",
	"Q windows-1252 euro and dash");
    dec("=?utf-8?q?a?= =?utf-8?q?b?=", "ab", "adjacent words: white space dropped");
    dec("=?utf-8?q?a?=\r\n =?iso-8859-1?q?=E4?=", "a\xc3\xa4",
	"adjacent words, different charsets");
    dec("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b", "text between words kept");
    dec("=?utf-8?q?=C3?= =?utf-8?q?=B6?=", "\xc3\xb6", "character split over two words");
    dec("Hallo =?UTF-8?B?8J+YgA==?=", "Hallo \xf0\x9f\x98\x80", "4-byte UTF-8");
    dec("=?utf-8?q?broken", "=?utf-8?q?broken", "unterminated word left as is");
    dec("=?utf-8?x?abc?=", "=?utf-8?x?abc?=", "unknown encoding left as is");
    dec("plain text", "plain text", "plain ASCII unchanged");
    dec("M\xfcller \x80", "M\xc3\xbcller \xe2\x82\xac", "raw 8-bit taken as windows-1252");
    dec("\xc3\xa4 and \xe4", "\xc3\xa4 and \xc3\xa4", "mixed raw UTF-8 and Latin-1");
    dec("=?utf-8?b?/w==?= x", "\xef\xbf\xbd x", "invalid UTF-8 in B word -> U+FFFD");
    dec("=?utf-8?q?ok=FF?=", "ok\xef\xbf\xbd", "invalid UTF-8 in Q word -> U+FFFD");
    dec("a\x01" "b\tc\x7f" "d", "ab\tcd", "controls stripped, tab kept");
    dec("=?utf-8?q?a=0Db=00c?=", "abc", "encoded controls stripped");
    dec("  spaced  ", "spaced", "trimmed");
    dec("", "", "empty");
    ok(cs_rfc2047_decode(NULL) == NULL, "NULL in, NULL out");
}

/* addr - check one address of a list */
static void addr(const cs_addrlist *al, size_t i, const char *name,
		         const char *address, const char *what)
{
    char    w[200];

    if (!ok(i < al->n, "%s: entry %zu exists", what, i))
	return;
    snprintf(w, sizeof(w), "%s: name %zu", what, i);
    is_str(al->v[i].name, name, w);
    snprintf(w, sizeof(w), "%s: address %zu", what, i);
    is_str(al->v[i].address, address, w);
}

/* test_addrlist - names, quotes, groups, comments, encodings, caps */
static void test_addrlist(void)
{
    cs_addrlist al;
    char   *big;
    size_t  i;

    ok(cs_addrlist_parse("Alice <alice@example.com>, \"Bob, Jr.\" <bob@example.org>", &al) == 0,
       "parse two");
    is_int(al.n, 2, "two addresses");
    addr(&al, 0, "Alice", "alice@example.com", "display name");
    addr(&al, 1, "Bob, Jr.", "bob@example.org", "quoted name with comma");
    cs_addrlist_free(&al);
    is_int(al.n, 0, "free empties");

    cs_addrlist_parse("Team: a@x.com, B <b@y.com>;, c@z.com", &al);
    is_int(al.n, 3, "group flattened");
    addr(&al, 0, NULL, "a@x.com", "group");
    addr(&al, 1, "B", "b@y.com", "group");
    addr(&al, 2, NULL, "c@z.com", "group");
    cs_addrlist_free(&al);

    cs_addrlist_parse("undisclosed-recipients:;", &al);
    is_int(al.n, 0, "empty group: no address");
    cs_addrlist_free(&al);

    cs_addrlist_parse("alice@example.com (Alice Smith)", &al);
    addr(&al, 0, "Alice Smith", "alice@example.com", "comment as name");
    cs_addrlist_free(&al);

    cs_addrlist_parse("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>", &al);
    addr(&al, 0, "J\xc3\xb6rg M\xc3\xbcller", "joerg@example.de", "encoded name");
    cs_addrlist_free(&al);

    cs_addrlist_parse("\"M\xfcller, Hans\" <m@x.de>", &al);
    addr(&al, 0, "M\xc3\xbcller, Hans", "m@x.de", "raw Latin-1 name");
    cs_addrlist_free(&al);

    cs_addrlist_parse("a@b.example, , ,c@d.example", &al);
    is_int(al.n, 2, "empty entries skipped");
    cs_addrlist_free(&al);

    cs_addrlist_parse("Nobody <>", &al);
    is_int(al.n, 0, "empty address dropped");
    cs_addrlist_free(&al);

    cs_addrlist_parse("foo", &al);
    addr(&al, 0, NULL, "foo", "address without @ kept");
    cs_addrlist_free(&al);

    ok(cs_addrlist_parse(NULL, &al) == 0 && al.n == 0, "NULL value: empty list");

    /* 20000 addresses: at most 10000 kept. */
    big = malloc(20000 * 16 + 1);
    big[0] = 0;
    for (i = 0; i < 20000; i++)
	sprintf(big + strlen(big), "u%05zu@ex.com, ", i);
    ok(cs_addrlist_parse(big, &al) == 0, "huge list parses");
    is_int(al.n, 10000, "capped at 10000");
    addr(&al, 9999, NULL, "u09999@ex.com", "last kept");
    cs_addrlist_free(&al);
    free(big);
}

/* test_date - RFC 5322, obsolete, junk */
static void test_date(void)
{
    time_t  t = 0;

    ok(cs_date_parse("Tue, 1 Jul 2003 10:52:37 +0200", &t) == 0, "date parses");
    is_int(t, 1057049557, "date value with zone");
    ok(cs_date_parse("1 Jul 2003 10:52:37 GMT", &t) == 0 && t == 1057056757,
       "no weekday, GMT");
    ok(cs_date_parse("Tue, 1 Jul 2003 10:52:37 +0200 (CEST)", &t) == 0 && t == 1057049557,
       "trailing comment");
    ok(cs_date_parse("Tue, 1 Jul 03 10:52:37 +0200", &t) == 0 && t == 1057049557,
       "two-digit year");
    ok(cs_date_parse("junk", &t) < 0, "junk refused");
    ok(cs_date_parse("", &t) < 0, "empty refused");
    ok(cs_date_parse("Tue, 32 Jul 2003 10:52:37 +0200", &t) < 0, "day 32 refused");
    ok(cs_date_parse(NULL, &t) < 0, "NULL refused");
}

/* ids - parse and compare with a space-separated expectation */
static void ids(const char *in, size_t max, const char *want, const char *what)
{
    cs_strlist l = {0};
    char    got[4096] = "";
    size_t  i;

    if (cs_msgid_list_parse(in, &l, max) < 0)
	strcpy(got, "ERROR");
    for (i = 0; i < l.n; i++) {
	if (i)
	    strcat(got, " ");
	if (strlen(got) + strlen(l.v[i]) < sizeof(got) - 2)
	    strcat(got, l.v[i]);
    }
    is_str(got, want, what);
    cs_strlist_free(&l);
}

/* test_msgid - junk, loops, null, truncation, thousands */
static void test_msgid(void)
{
    cs_strlist l = {0};
    char   *big;
    char    longid[1100];
    size_t  i;

    ids("<a@b> junk <c@d>", 10, "a@b c@d", "junk between ids skipped");
    ids("<a@b> <a@b> <c@d> <a@b>", 10, "a@b c@d", "duplicates dropped");
    ids("null", 10, "", "\"null\" is no id");
    ids("<a@b> <trunc", 10, "a@b", "truncated trailing id ignored");
    ids("<a@b> <trunc@x", 10, "a@b", "truncated id with @ ignored");
    ids("a@b c@d", 10, "a@b c@d", "bare ids with @");
    ids("<a@b>(comment <x@y>) <c@d>", 10, "a@b c@d", "comments skipped");
    ids("<abc <d@e>", 10, "d@e", "unclosed id restarts at next <");
    ids("<a @b\r\n .c>", 10, "a@b.c", "folded white space inside removed");
    ids("<> < >", 10, "", "empty ids skipped");
    ids("<a\x01" "b@c> <d@e>", 10, "d@e", "control character: junk");
    ids("junk <a@b> <c@d>", 1, "a@b", "max 1: the first");
    ids("<a@b>,<c@d>", 10, "a@b c@d", "comma separated");
    ids("", 10, "", "empty value");
    ids("<a@b>", 0, "", "max 0");

    /* RFC 5322 4.5.4 obsolete forms: phrases, quoted strings and comments
     * between ids; MH, nmh and exmh write the replied-to author's address
     * after "from" (T1, issue #16). Each case as found in real mail. */
    {
	static const struct {
	    const char *name, *in, *want;
	} obs[] = {
	    {"exmh: Message from NAME <addr> of \"date.\" <id>",
	     "Message from Gary Lawrence Murphy <garym@canada.com> of\r\n"
	     "    \"28 Aug 2002 15:06:39 EDT.\"\r\n    <m2vg5u3irk.fsf@maya.dyndns.org>",
	     "m2vg5u3irk.fsf@maya.dyndns.org"},
	    {"exmh: quoted display name",
	     "Message from \"James Tauber\" <jtauber@jtauber.com> of \"Mon, 02 Sep 2002.\""
	     " <20020902.1@jtauber.com>", "20020902.1@jtauber.com"},
	    {"exmh: bare address after from",
	     "Message from Valdis.Kletnieks@vt.edu of \"Mon, 26 Aug 2002 14:22:46 EDT.\""
	     " <200208261822.g7QIMk7P005756@turing-police.cc.vt.edu>",
	     "200208261822.g7QIMk7P005756@turing-police.cc.vt.edu"},
	    {"MH: Your message of \"date.\" <id>",
	     "Your message of \"Thu, 22 Aug 2002 12:36:23 +0100.\" <id.1@host>", "id.1@host"},
	    {"quoted string holding <> is no id", "\"see <not@an.id>\" <id2@host>", "id2@host"},
	    {"Elm: <id> from NAME at date", "<id3@host> from \"Gary\" at Aug 28, 2 03:06 pm",
	     "id3@host"},
	    {"comment holding an address", "<id4@host> (from Gary <g@c.com>)", "id4@host"},
	    {"Gnus: NAME's message of \"date\" with no id",
	     "Theo Van Dinter's message of \"Tue, 1 Oct 2002 16:58:21 -0400\"", ""},
	    {"a bare address in a phrase is no id", "Your message to garym@canada.com of today",
	     ""},
	    {"two ids, a phrase between", "<p1@h> and also <p2@h>", "p1@h p2@h"},
	    {"from NAME with no address: the next <id> is taken for it (a missed link, never"
	     " a false join)", "Message from Gary of \"x\" <id5@h>", ""},
	    {"from, then too many words: an id again",
	     "from a b c d e f g h i j <id6@h>", "id6@h"},
	};

	for (size_t k = 0; k < sizeof(obs) / sizeof(obs[0]); k++)
	    ids(obs[k].in, 10, obs[k].want, obs[k].name);
    }

    memset(longid, 'x', sizeof(longid));
    longid[0] = '<';
    longid[1000] = '@';
    strcpy(longid + 1001, "y> <ok@z>");
    ids(longid, 10, "ok@z", "id over 998 bytes skipped");

    /* 3000 ids: the root and the last 499 */
    big = malloc(3000 * 16 + 1);
    big[0] = 0;
    for (i = 0; i < 3000; i++)
	sprintf(big + strlen(big), "<id%zu@x>\r\n ", i);
    ok(cs_msgid_list_parse(big, &l, CS_MAX_REFS) == 0, "thousands of ids parse");
    is_int(l.n, CS_MAX_REFS, "capped at CS_MAX_REFS");
    if (l.n == CS_MAX_REFS) {
	is_str(l.v[0], "id0@x", "root kept first");
	is_str(l.v[1], "id2501@x", "then the nearest ancestors");
	is_str(l.v[CS_MAX_REFS - 1], "id2999@x", "last kept");
    }
    cs_strlist_free(&l);
    free(big);

    /* appends to what the list holds */
    cs_strlist_add(&l, "pre");
    cs_msgid_list_parse("<a@b>", &l, 5);
    ok(l.n == 2 && strcmp(l.v[0], "pre") == 0 && strcmp(l.v[1], "a@b") == 0,
       "appends to the list");
    cs_strlist_free(&l);
}

/* test_subject - SPEC T1 normalization */
static void test_subject(void)
{
    norm("AW: WG: [Sales] Re[2]: Angebot", "angebot");
    norm("Re: Re: RE:  Hello   World", "hello world");
    norm("Fwd: Fw: FW: sv: Vs: Antw: x", "x");
    norm("Re(3): x", "x");
    norm("RE : x", "x");
    norm("Re:Re:x", "x");
    norm("Reply needed", "reply needed");
    norm("Offer Re: x", "offer re: x");
    norm("Re:", "");
    norm("", "");
    norm("[tag]", "");
    norm("   ", "");
    norm("[Sales][Intern] Re: \xc3\x84RGER \xc3\x9c" "ber", "\xc3\xa4rger \xc3\xbc" "ber");
    norm("Re: [unclosed tag", "[unclosed tag");
    norm("Re:\xc2\xa0Hallo", "hallo");
    norm("Re\xef\xbc\x9a x", "x");
    norm("Tabs\tand\r\nnewlines ", "tabs and newlines");
    norm("Re[x]: y", "re[x]: y");
    norm("Stra\xdf" "e", "stra\xc3\x9f" "e");
}

/* test_msginfo - a realistic message */
static void test_msginfo(void)
{
    static const char msg[] =
	"Return-Path: <joerg@example.com>\r\n"
	"Received: from mx.example.com (mx.example.com [192.0.2.1])\r\n"
	"\tby mail.example.org with ESMTP id ABC123\r\n"
	"\tfor <bob@example.org>; Tue, 1 Jul 2003 10:52:37 +0200\r\n"
	"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.com>\r\n"
	"To: Bob <bob@example.org>, \"Smith, Carol\" <carol@example.net>\r\n"
	"Cc: sales@example.org\r\n"
	"Cc: Dave <dave@example.net>\r\n"
	"Reply-To: <replies@example.com>\r\n"
	"Subject: =?UTF-8?Q?Re:_Angebot_f=C3=BCr?=\r\n"
	" 2024\r\n"
	"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
	"Message-ID: <msg3@example.com>\r\n"
	"In-Reply-To: <msg2@example.org> (Bob's message)\r\n"
	"References: <msg1@example.com>\r\n"
	"\t<msg2@example.org> <msg3@example.com>\r\n"
	"Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQVFqq7zN3u\r\n"
	"List-Id: Sales <sales.example.org>\r\n"
	"Auto-Submitted: no\r\n"
	"Precedence: bulk\r\n"
	"\r\n"
	"Subject: not a header\r\n";
    cs_msginfo mi;

    ok(cs_msginfo_parse(msg, sizeof(msg) - 1, &mi) == 0, "msginfo parses");
    is_int(mi.headers.n, 16, "16 headers");
    is_str(cs_headers_get(&mi.headers, "received"),
	   "from mx.example.com (mx.example.com [192.0.2.1])\tby mail.example.org "
	   "with ESMTP id ABC123\tfor <bob@example.org>; Tue, 1 Jul 2003 10:52:37 +0200",
	   "Received unfolded");
    is_str(mi.headers.v[0].name, "Return-Path", "name as received");
    is_str(mi.headers.v[0].value, "<joerg@example.com>", "raw value");
    is_str(mi.subject, "Re: Angebot f\xc3\xbcr 2024", "subject decoded and unfolded");
    is_int(mi.from.n, 1, "one From");
    addr(&mi.from, 0, "J\xc3\xb6rg M\xc3\xbcller", "joerg@example.com", "From");
    is_int(mi.to.n, 2, "two To");
    addr(&mi.to, 1, "Smith, Carol", "carol@example.net", "To");
    is_int(mi.cc.n, 2, "both Cc headers used");
    addr(&mi.cc, 0, NULL, "sales@example.org", "Cc");
    addr(&mi.cc, 1, "Dave", "dave@example.net", "Cc");
    addr(&mi.reply_to, 0, NULL, "replies@example.com", "Reply-To");
    is_str(mi.date_raw, "Tue, 1 Jul 2003 10:52:37 +0200", "date_raw");
    ok(mi.has_date && mi.date == 1057049557, "date parsed");
    is_str(mi.message_id, "msg3@example.com", "message_id without <>");
    is_str(mi.in_reply_to, "msg2@example.org", "in_reply_to");
    is_int(mi.references.n, 2, "references: own id dropped");
    if (mi.references.n == 2) {
	is_str(mi.references.v[0], "msg1@example.com", "references[0]");
	is_str(mi.references.v[1], "msg2@example.org", "references[1]");
    }
    is_str(mi.thread_index_root, "0102030405060708090a0b0c0d0e0f10111213141516",
	   "thread index root");
    is_str(mi.list_id, "Sales <sales.example.org>", "list_id raw");
    is_str(mi.auto_submitted, "no", "auto_submitted");
    is_str(mi.precedence, "bulk", "precedence");
    cs_msginfo_free(&mi);
    ok(mi.subject == NULL && mi.headers.n == 0, "free zeroes");
}

/* test_obsolete_irt - every In-Reply-To id counts; participants' addresses do not */
static void test_obsolete_irt(void)
{
    static const char raw[] =
	"From: Bob <bob@example.com>\r\n"
	"To: Gary Murphy <garym@canada.com>\r\n"
	"Message-ID: <reply@example.com>\r\n"
	"In-Reply-To: <garym@canada.com> <p1@h> (two parents) \"x\" <p2@h> <reply@example.com>\r\n"
	"References: <GaryM@Canada.com> <root@h>\r\n"
	"\r\n";
    cs_msginfo mi;

    ok(cs_msginfo_parse(raw, sizeof(raw) - 1, &mi) == 0, "obsolete In-Reply-To parses");
    is_int(mi.in_reply_to_ids.n, 2, "T1: both parent ids of In-Reply-To kept");
    if (mi.in_reply_to_ids.n == 2) {
	is_str(mi.in_reply_to_ids.v[0], "p1@h", "first parent");
	is_str(mi.in_reply_to_ids.v[1], "p2@h", "second parent");
    }
    is_str(mi.in_reply_to, "p1@h", "in_reply_to: the first id that is one");
    is_int(mi.references.n, 1, "a participant's address in References is no id");
    if (mi.references.n == 1)
	is_str(mi.references.v[0], "root@h", "references keeps the real id");
    cs_msginfo_free(&mi);
}

/* test_hostile - junk lines, NUL, caps, missing fields */
static void test_hostile(void)
{
    static const char junk[] =
	" orphan continuation\n"
	"From a@b Mon Jan  1 00:00:00 2024\n"
	"no colon here\n"
	" continuation of junk\n"
	"Subject : spaced name\n"
	"Bad Name: x\n"
	"X-Nul:\0\0value\0here\n"
	"Fr\0om: x@y\n"
	"Message-ID: null\n"
	"In-Reply-To: <self@x>\n"
	"Thread-Index: AQIDBAUGBwgJCgsMDQ4PEBESExQV\n"
	"Date: yesterday\n"
	"To: c@d";
    cs_msginfo mi;
    char   *big;
    size_t  i, len;

    ok(cs_msginfo_parse(junk, sizeof(junk) - 1, &mi) == 0, "junk parses");
    is_int(mi.headers.n, 7, "7 headers kept");
    is_str(mi.subject, "spaced name", "obsolete \"Name :\" form");
    is_str(cs_headers_get(&mi.headers, "X-Nul"), "value here", "NUL bytes as spaces");
    ok(cs_headers_get(&mi.headers, "From") == NULL && mi.from.n == 0, "NUL in name: ignored");
    ok(mi.message_id == NULL, "junk Message-ID: NULL");
    is_str(mi.in_reply_to, "self@x", "in_reply_to kept without message_id");
    is_int(mi.in_reply_to_ids.n, 1, "in_reply_to_ids: the one id");
    ok(mi.thread_index_root == NULL, "short Thread-Index: no root");
    ok(mi.date_raw != NULL && !mi.has_date, "junk date: raw kept, not parsed");
    addr(&mi.to, 0, NULL, "c@d", "last line without newline");
    ok(mi.list_id == NULL && mi.precedence == NULL, "absent fields NULL");
    cs_msginfo_free(&mi);

    ok(cs_msginfo_parse("Subject: lf only\n\nTo: body@x\n", 28, &mi) == 0
       && mi.headers.n == 1 && mi.to.n == 0, "LF-only header block ends at empty line");
    is_str(mi.subject, "lf only", "LF subject");
    cs_msginfo_free(&mi);

    ok(cs_msginfo_parse("", 0, &mi) == 0 && mi.headers.n == 0, "empty input");
    cs_msginfo_free(&mi);
    ok(cs_msginfo_parse("\r\nSubject: x\r\n", 14, &mi) == 0 && mi.headers.n == 0,
       "empty first line: no headers");
    cs_msginfo_free(&mi);

    /* 20,000 headers: the first CS_MAX_HEADERS kept. */
    big = malloc(20000 * 16 + 64);
    len = 0;
    for (i = 0; i < 20000; i++)
	len += (size_t) sprintf(big + len, "X-H: %zu\r\n", i);
    len += (size_t) sprintf(big + len, "Subject: late\r\n\r\n");
    ok(cs_msginfo_parse(big, len, &mi) == 0, "20000 headers parse");
    is_int(mi.headers.n, CS_MAX_HEADERS, "CS_MAX_HEADERS kept");
    is_str(mi.headers.v[CS_MAX_HEADERS - 1].value, "9999", "last kept header");
    ok(mi.subject == NULL, "header past the cap ignored");
    cs_msginfo_free(&mi);
    free(big);
}

/* test_headers - the header list helpers */
static void test_headers(void)
{
    cs_headers h = {0};

    ok(cs_headers_add(&h, "X-A", "1") == 0 && cs_headers_add(&h, "x-a", "2") == 0,
       "headers_add");
    is_str(cs_headers_get(&h, "X-a"), "1", "get: first, case-insensitive");
    ok(cs_headers_get(&h, "X-B") == NULL, "get: absent");
    ok(cs_headers_add(&h, NULL, "x") < 0, "add NULL refused");
    cs_headers_free(&h);
    ok(h.n == 0 && h.v == NULL, "headers_free");
}

int     main(void)
{
    cs_message_init();
    test_unfold();
    test_rfc2047();
    test_addrlist();
    test_date();
    test_msgid();
    test_subject();
    test_msginfo();
    test_hostile();
    test_obsolete_irt();
    test_headers();
    return (done_testing());
}
