/*
 * NAME
 *	t_sieve 1
 * SUMMARY
 *	unit tests of the Sieve subset (SPEC S2)
 * DESCRIPTION
 *	Each case compiles a script, runs it against one message and
 *	compares the folders filed into, joined with ",", or for a script
 *	that must not compile "!" and the start of the error message.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_sieve.h"
#include "tap.h"

static const char default_msg[] =
    "From: \"Joe Sender\" <Joe+news@Example.COM>\r\n"
    "To: alice@example.org, \"Bob\" <bob+work@corp.example>\r\n"
    "Cc: carol@sub.example.net\r\n"
    "Subject: =?UTF-8?Q?Caf=C3=A9_meeting?= today\r\n"
    "X-Spam: yes\r\n"
    "X-Spam: no\r\n"
    "List-Id: Dev list\r\n <dev.lists.example.org>\r\n"
    "X-Empty:\r\n"
    "X-Raw: caf\xc3\xa9\r\n"
    "X-Latin: caf\xe9\r\n"
    "\r\n"
    "body\r\n";

/* run - compile and run; returns folders joined by "," or "!error" */
static char *run(const char *script, const char *msg, const char *from,
		         const char *to, size_t size)
{
    char    err[256], *out;
    cs_sieve *sv;
    cs_msginfo mi;
    cs_strlist folders = {0};
    cs_sieve_input in;
    cs_buf  b = {0};
    size_t  i;

    if (msg == NULL)
	msg = default_msg;
    if ((sv = cs_sieve_compile(script, strlen(script), err, sizeof(err))) == NULL) {
	cs_buf_appendf(&b, "!%s", err);
	return b.data;
    }
    memset(&mi, 0, sizeof(mi));
    cs_msginfo_parse(msg, strlen(msg), &mi);
    in.headers = &mi.headers;
    in.env_from = from ? from : "sender@origin.example";
    in.env_to = to ? to : "alice+crm@example.org";
    in.size = size ? size : strlen(msg);
    if (cs_sieve_run(sv, &in, &folders, err, sizeof(err)) < 0)
	cs_buf_appendf(&b, "!run: %s", err);
    else
	for (i = 0; i < folders.n; i++)
	    cs_buf_appendf(&b, "%s%s", i ? "," : "", folders.v[i]);
    cs_buf_append(&b, "", 0);
    cs_strlist_free(&folders);
    cs_msginfo_free(&mi);
    cs_sieve_free(sv);
    out = b.data;
    return out;
}

/* check - run a case against the default message and compare */
static void check(const char *script, const char *want, const char *what)
{
    char   *got = run(script, NULL, NULL, NULL, 0);

    if (want[0] == '!' && got[0] == '!' && strncmp(got, want, strlen(want)) == 0)
	ok(1, "%s", what);
    else
	is_str(got, want, what);
    free(got);
}

#define R  "require [\"fileinto\", \"variables\", \"envelope\", \"subaddress\", " \
	   "\"regex\", \"imap4flags\", \"copy\", \"mailbox\"];\n"

/* Thread test: many threads share one compiled script. */
static cs_sieve *shared;
static cs_msginfo shared_mi;

static void *worker(void *arg)
{
    int     i, bad = 0;

    (void) arg;
    for (i = 0; i < 200; i++) {
	cs_strlist f = {0};
	cs_sieve_input in = {&shared_mi.headers, "a@b", "c+d@e", 10};
	char    err[64];

	if (cs_sieve_run(shared, &in, &f, err, sizeof(err)) != 0 || f.n != 2
	    || strcmp(f.v[0], "d") != 0 || strcmp(f.v[1], "meeting") != 0)
	    bad++;
	cs_strlist_free(&f);
    }
    return bad ? (void *) 1 : NULL;
}

int     main(void)
{
    char   *big, *got;
    size_t  i, n;
    cs_buf  b = {0};

    cs_message_init();

    /* Actions. */
    check("require \"fileinto\"; fileinto \"A\";", "A", "fileinto");
    check("keep; discard; redirect \"x@y.example\";", "", "keep, discard, redirect file nothing");
    check("", "", "empty script: implicit keep only");
    check("require \"fileinto\"; fileinto \"A\"; fileinto \"B\"; fileinto \"A\";",
	  "A,B", "each folder once, in first order");
    check("require \"fileinto\"; fileinto \"A\"; stop; fileinto \"B\";", "A", "stop ends");
    check("require \"fileinto\"; if true { if true { stop; } } fileinto \"B\";", "",
	  "stop in a nested block ends the script");
    check("require \"fileinto\"; if false {fileinto \"A\";} elsif true {fileinto \"B\";}"
	  " else {fileinto \"C\";}", "B", "elsif");
    check("require \"fileinto\"; if false {fileinto \"A\";} elsif false {fileinto \"B\";}"
	  " else {fileinto \"C\";}", "C", "else");
    check("require \"fileinto\"; if true {fileinto \"A\";} else {fileinto \"C\";}", "A", "if");
    check("require [\"fileinto\",\"copy\"]; fileinto :copy \"A\";", "A", "fileinto :copy");
    check("require \"fileinto\"; fileinto :copy \"A\";",
	  "!1:30: unknown tagged argument ':copy'", ":copy needs require");
    check("fileinto \"A\";", "!1:1: unknown command 'fileinto'", "fileinto needs require");
    check("require [\"mailbox\",\"fileinto\"]; if mailboxexists \"Foo\" {fileinto :create \"Foo\";}",
	  "Foo", "mailbox: mailboxexists, :create");
    check("require [\"vacation\",\"reject\",\"ereject\",\"enotify\"];\n"
	  "vacation :days 3 :subject \"x\" :addresses [\"a@b\"] :mime :handle \"h\" \"reason\";\n"
	  "reject \"no\"; ereject text:\nno\n.\n;\nnotify :message \"m\" :importance \"1\" \"mailto:a@b\";",
	  "", "vacation, reject, ereject, notify parsed and ignored");
    check("vacation \"x\";", "!1:1: unknown command 'vacation'", "vacation needs require");

    /* header test, match types and comparators. */
    check("require \"fileinto\"; if header :is \"subject\" \"caf\xc3\xa9 MEETING today\" {fileinto \"A\";}",
	  "A", "header :is, RFC 2047 decoded, ascii-casemap");
    check("require \"fileinto\"; if header :is \"subject\" \"CAF\xc3\x89 meeting today\" {fileinto \"A\";}",
	  "", "ascii-casemap folds ASCII only");
    check("require \"fileinto\"; if header :comparator \"i;octet\" :is \"Subject\" "
	  "\"caf\xc3\xa9 meeting today\" {fileinto \"A\";}", "", "i;octet is case-sensitive");
    check("require \"fileinto\"; if header :comparator \"i;octet\" :contains \"Subject\" "
	  "\"\xc3\xa9 meeting\" {fileinto \"A\";}", "A", "i;octet :contains");
    check("require \"fileinto\"; if header :contains \"x-spam\" \"NO\" {fileinto \"A\";}",
	  "A", "every occurrence of a header is tried");
    check("require \"fileinto\"; if header :contains [\"x-none\",\"list-id\"] [\"zz\",\"dev.LISTS\"] "
	  "{fileinto \"A\";}", "A", "header and key lists");
    check("require \"fileinto\"; if header :is \"list-id\" \"Dev list <dev.lists.example.org>\" "
	  "{fileinto \"A\";}", "A", "folded header is unfolded");
    check("require \"fileinto\"; if header :contains \"x-empty\" \"\" {fileinto \"A\";}"
	  "if header :is \"x-empty\" \"\" {fileinto \"B\";} if header :contains \"x-none\" \"\" {fileinto \"C\";}",
	  "A,B", "empty header value; absent header never matches");
    check("require \"fileinto\"; if header :matches \"subject\" \"caf?? *\" {fileinto \"A\";}",
	  "A", ":matches ? takes one octet (as Pigeonhole)");
    check("require \"fileinto\"; if header :matches \"subject\" \"caf? *\" {fileinto \"A\";}",
	  "", ":matches ? is not one UTF-8 character");
    check(R "if string :matches \"caf\xc3\xa9\" \"*?\" {fileinto \"${1}\";} fileinto \"B\";",
	  "!run: fileinto: folder name is not UTF-8", "a folder that is not UTF-8 fails the run");
    check("require \"fileinto\"; fileinto \"a\xe9\";", "!1:30: folder name is not UTF-8",
	  "constant folder not UTF-8");
    check("require \"fileinto\"; if header :matches \"x-spam\" \"y*s\" {fileinto \"A\";}"
	  "if header :matches \"x-spam\" \"?\" {fileinto \"B\";}"
	  "if header :matches \"x-spam\" \"*\" {fileinto \"C\";}", "A,C", ":matches anchors both ends");
    check("require \"fileinto\"; if header :is \"x-raw\" \"caf\xc3\xa9\" {fileinto \"A\";}",
	  "A", "8-bit UTF-8 header");
    check("require \"fileinto\"; if header :is \"x-latin\" \"caf\xc3\xa9\" {fileinto \"A\";}",
	  "A", "8-bit non-UTF-8 header read as Latin-1");
    check("require \"fileinto\"; if header :comparator \"i;ascii-numeric\" :is \"a\" \"1\" {keep;}",
	  "!1:43: unknown comparator 'i;ascii-numeric'", "unknown comparator");
    check("if header :is :contains \"a\" \"1\" {keep;}", "!1:15: more than one match type",
	  "two match types");
    check("if header :is \"a b\" \"1\" {keep;}", "!1:15: invalid header name 'a b'",
	  "invalid header name");
    check("if header :count \"ge\" \"a\" \"1\" {keep;}", "!1:11: unknown tagged argument ':count'",
	  "relational is not supported");
    check("if header \"a\" {keep;}", "!1:4: 'header' needs 2 string arguments, got 1",
	  "header needs two lists");

    /* exists, size, true/false, not, allof, anyof. */
    check("require \"fileinto\"; if exists [\"from\",\"X-SPAM\"] {fileinto \"A\";}"
	  "if exists [\"from\",\"x-none\"] {fileinto \"B\";} if not exists \"x-none\" {fileinto \"C\";}",
	  "A,C", "exists needs every header");
    check("require \"fileinto\"; if allof(true, false) {fileinto \"A\";}"
	  "if anyof(false, true) {fileinto \"B\";} if not allof(true, not false, anyof(false, true)) "
	  "{fileinto \"C\";} if allof(true, true) {fileinto \"D\";} if anyof(false, false) {fileinto \"E\";}",
	  "B,D", "allof, anyof, not, nested");
    got = run("require \"fileinto\"; if size :over 100 {fileinto \"A\";} if size :under 100 {fileinto \"B\";}"
	      "if size :over 49 {fileinto \"C\";} if size :under 50 {fileinto \"D\";}", NULL, NULL, NULL, 50);
    is_str(got, "B,C", "size :over/:under are strict");
    free(got);
    got = run("require \"fileinto\"; if size :over 1K {fileinto \"A\";} if size :under 1M {fileinto \"B\";}"
	      "if size :under 1G {fileinto \"C\";} if size :over 2k {fileinto \"D\";}",
	      NULL, NULL, NULL, 2000);
    is_str(got, "A,B,C", "size with K, M, G");
    free(got);
    check("if size :over 99999999999999999999 {keep;}", "!1:15: number too large", "number overflow");
    check("if size :over 99999999999G {keep;}", "!1:15: number too large", "quantifier overflow");
    check("if size 5 {keep;}", "!1:4: 'size' needs :over or :under", "size needs a tag");
    check("if size :over :under 5 {keep;}", "!1:15: 'size' takes one of", "size with two tags");
    check("if not true false {keep;}", "!1:13: 'true' takes no test", "not takes one test");
    check("if allof true {keep;}", "!1:4: 'allof' needs a test list", "allof needs a list");

    /* address and envelope tests, address parts, subaddress. */
    check("require \"fileinto\"; if address :is \"from\" \"joe+NEWS@example.com\" {fileinto \"A\";}"
	  "if address :all :is \"from\" \"Joe Sender\" {fileinto \"B\";}", "A", "address :all");
    check("require \"fileinto\"; if address :localpart :is \"from\" \"joe+news\" {fileinto \"A\";}"
	  "if address :domain :is \"to\" \"corp.example\" {fileinto \"B\";}"
	  "if address :domain :matches \"cc\" \"*.example.net\" {fileinto \"C\";}"
	  "if address :domain :is \"from\" \"joe\" {fileinto \"D\";}", "A,B,C", ":localpart, :domain");
    check("require [\"fileinto\",\"subaddress\"]; if address :user \"from\" \"joe\" {fileinto \"A\";}"
	  "if address :detail \"to\" \"WORK\" {fileinto \"B\";} if address :detail \"to\" \"\" {fileinto \"C\";}"
	  "if address :user \"to\" \"alice\" {fileinto \"D\";}",
	  "A,B,D", ":user, :detail; no separator, no detail");
    check("if address :user \"from\" \"joe\" {keep;}", "!1:12: unknown tagged argument ':user'",
	  ":user needs require subaddress");
    check("if address :all :domain \"from\" \"joe\" {keep;}", "!1:17: more than one address part",
	  "two address parts");
    check("if address \"subject\" \"x\" {keep;}",
	  "!1:12: header 'subject' is not allowed for the address test", "address on a non-address header");
    check(R "if envelope :is \"from\" \"SENDER@origin.example\" {fileinto \"A\";}"
	  "if envelope :domain \"to\" \"example.org\" {fileinto \"B\";}"
	  "if envelope :detail \"to\" \"crm\" {fileinto \"C\";}"
	  "if envelope :user \"to\" \"alice\" {fileinto \"D\";}"
	  "if envelope :localpart \"from\" \"origin.example\" {fileinto \"E\";}"
	  "if envelope :is \"auth\" \"\" {fileinto \"F\";}", "A,B,C,D", "envelope and its parts");
    check("if envelope :is \"from\" \"x\" {keep;}", "!1:4: unknown test 'envelope'", "envelope needs require");
    got = run(R "if envelope :is \"from\" \"\" {fileinto \"A\";} if envelope :domain :contains \"from\" \"\""
	      "{fileinto \"B\";} if envelope :matches \"to\" \"<*>\" {fileinto \"C\";}", NULL, "", "<x@y>", 0);
    is_str(got, "A", "null sender is \"\"; <> around an address dropped");
    free(got);

    /* regex. */
    check(R "if header :regex \"subject\" \"^CAF(.+) (m[a-z]+)\" { fileinto \"${2}-${1}\"; }",
	  "meeting-\xc3\xa9", ":regex sets ${N}, casemap is REG_ICASE");
    check(R "if header :regex :comparator \"i;octet\" \"subject\" \"^CAF\" { fileinto \"A\"; }",
	  "", ":regex with i;octet is case-sensitive");
    check(R "if header :regex \"subject\" \"(\" {keep;}",
	  "!2:28: invalid regular expression '('", "bad constant regex is a compile error");
    check(R "if header :regex \"subject\" \"(a)\\\\1\" {keep;}",
	  "!2:", "a back-reference in a constant :regex is refused (exponential matching)");
    {
	/* A :regex sees the first 4 KB of a value: bounded time on hostile headers. */
	cs_buf  m = {0};
	char   *got;

	cs_buf_appendf(&m, "From: a@b.example\r\nSubject: early x");
	for (int i = 0; i < 6000; i++)
	    cs_buf_append(&m, "a", 1);
	cs_buf_appendf(&m, " late y\r\n\r\nbody\r\n");
	got = run(R "if header :regex \"subject\" \"early x\" { fileinto \"E\"; }\n"
		  "if header :regex \"subject\" \"late y\" { fileinto \"L\"; }\n"
		  "if header :contains \"subject\" \"late y\" { fileinto \"C\"; }",
		  m.data, NULL, NULL, 0);
	is_str(got, "E,C", ":regex matches within the first 4 KB only; :contains sees it all");
	free(got);
	cs_buf_free(&m);
    }
    check(R "set \"r\" \"(\"; if header :regex \"subject\" \"${r}\" {fileinto \"A\";} fileinto \"B\";",
	  "B", "bad run-time regex matches nothing");
    check(R "if header :regex \"subject\" \"a+++\" {keep;}",
	  "!2:28: regular expression too complex", "stacked quantifiers refused");
    check(R "if header :regex \"subject\" \"((a{100}){100}){100}\" {keep;}",
	  "!2:28: regular expression too complex", "nested bounds refused");
    check(R "if header :regex \"subject\" \"^[0-9]{1,3}(\\\\.[0-9]{1,3}){3}$|a+b+c+d+e+f+g+h+(x|y)*\" "
	  "{fileinto \"A\";} fileinto \"B\";", "B", "ordinary repetitions accepted");
    check(R "set \"r\" \"(a{200}){200}\"; if header :regex \"subject\" \"${r}\" {fileinto \"A\";} fileinto \"B\";",
	  "B", "too complex run-time regex matches nothing");
    check("if header :regex \"subject\" \"x\" {keep;}", "!1:11: unknown tagged argument ':regex'",
	  ":regex needs require");

    /* variables. */
    check(R "if header :matches \"list-id\" \"*<*.lists.*>\" { fileinto \"list/${2}/${3}/${0}\"; }",
	  "list/dev/example.org/Dev list <dev.lists.example.org>", ":matches sets ${0}..${N}");
    check(R "if string :matches \"[acme-users] [fwd] version 1.0\" \"[*] *\" { fileinto \"${1}|${2}\"; }",
	  "acme-users|[fwd] version 1.0", "wildcards match as little as possible (RFC 5229)");
    check(R "if string :matches \"banana\" \"*a?a*\" { fileinto \"${1}|${2}|${3}\"; }",
	  "b|n|na", "? is a match variable too");
    check(R "if string :matches \"a*b\" \"a\\\\*b\" { fileinto \"A\"; }"
	  "if string :matches \"axb\" \"a\\\\*b\" { fileinto \"B\"; }"
	  "if string :matches \"a?b\" \"a\\\\?b\" { fileinto \"C\"; }", "A,C", "escaped wildcards are literal");
    check(R "if string :matches \"abc\" \"a*\" {} if string :matches \"x\" \"y*\" {} fileinto \"${1}\";",
	  "bc", "a failing match keeps match variables");
    check(R "if string :is \"abc\" \"abc\" {} fileinto \"[${1}]\";", "[]", ":is sets no match variables");
    check(R "set \"Foo\" \"x\"; fileinto \"${FOO}-${foo}\";", "x-x", "variable names ignore case");
    check(R "fileinto \"a${nope}b\"; fileinto \"${\"; fileinto \"${a\"; set \"x\" \"1\"; fileinto \"$${x}\";"
	  "fileinto \"${${x}}\"; fileinto \"${a.b}\"; fileinto \"${0001}\";",
	  "ab,${,${a,$1,${1},${a.b}", "unknown is empty, malformed is literal");
    check("require \"fileinto\"; fileinto \"${1}\";", "${1}", "no variables without require");
    check(R "set :upper \"a\" \"abc\"; set :lower \"b\" \"ABC\"; set :upperfirst \"c\" \"hello\";"
	  "set :lowerfirst \"d\" \"HELLO\"; set :length \"e\" \"caf\xc3\xa9\"; set :quotewildcard \"f\" \"a*b?c\\\\\";"
	  "set :length :upper \"g\" \"abc\"; set :upperfirst :lower \"h\" \"wORLD\";"
	  "fileinto \"${a},${b},${c},${d},${e},${f},${g},${h}\";",
	  "ABC,abc,Hello,hELLO,4,a\\*b\\?c\\\\,3,World", "set modifiers");
    check("require [\"variables\",\"enotify\",\"fileinto\"]; set :encodeurl \"u\" \"a b&c\"; fileinto \"${u}\";",
	  "a%20b%26c", ":encodeurl with enotify");
    check(R "set :lower :upper \"a\" \"b\";", "!2:12: conflicting modifier ':upper'", "conflicting modifiers");
    check(R "set \"1\" \"b\";", "!2:5: invalid variable name '1'", "numbers cannot be set");
    check(R "set \"a\";", "!2:1: 'set' needs 2 string arguments", "set needs two strings");
    check(R "set \"s\" \"x\"; if string :is \"${s}\" \"X\" {fileinto \"A\";} if string :is [\"q\",\"\"] \"\" "
	  "{fileinto \"B\";} if string :comparator \"i;ascii-casemap\" :is \"${s}\" \"X\" {fileinto \"C\";}",
	  "B,C", "string test (i;octet by default, as Pigeonhole)");
    got = run("require \"fileinto\"; if address :all :is \"to\" \"Undisclosed recipients:;\" {fileinto \"A\";}"
	      "if address :localpart :contains \"to\" \"\" {fileinto \"B\";}"
	      "if address :all :is \"cc\" \"x@y.z, plain\" {fileinto \"C\";}"
	      "if address :all :is \"cc\" \"x@y.z\" {fileinto \"D\";}",
	      "To: Undisclosed recipients:;\r\nCc: x@y.z, plain\r\n\r\n", NULL, NULL, 0);
    is_str(got, "A,C", "address :all sees an unparsable header whole, other parts nothing");
    free(got);
    check(R "set \"a\" \"b\"; set \"b\" \"${a}${a}\"; set \"a\" \"c\"; fileinto \"${b}${a}\";", "bbc",
	  "set expands once, at set time");

    /* imap4flags. */
    check(R "addflag \"\\\\Seen\"; addflag [\"a b\", \"A\"]; if hasflag :is \"B\" {fileinto \"B\";}"
	  "removeflag \"b\"; if hasflag \"b\" {fileinto \"X\";} if hasflag :contains \"seen\" {fileinto \"S\";}"
	  "setflag \"q\"; if hasflag \"a\" {fileinto \"Y\";} if hasflag \"Q\" {fileinto \"Q\";}",
	  "B,S,Q", "addflag, removeflag, setflag, hasflag");
    check(R "addflag \"mine\" [\"x\", \"y\"]; if hasflag \"mine\" \"Y\" {fileinto \"V\";}"
	  "if hasflag \"y\" {fileinto \"W\";} fileinto :flags \"x\" \"F\"; keep :flags \"z\";",
	  "V,F", "flag variables; :flags on fileinto and keep");
    check("require \"imap4flags\"; addflag \"v\" \"x\";", "!1:23: 'addflag' with a variable needs",
	  "flag variable needs variables");

    /* Syntax and errors. */
    check("require \"foo\";", "!1:9: unsupported extension 'foo'", "unsupported extension");
    check("require [\"fileinto\", \"vnd.dovecot.debug\"];", "!1:9: unsupported extension 'vnd.dovecot.debug'",
	  "unsupported extension in a list");
    check("require \"fileinto\";\nfileinto;", "!2:1: 'fileinto' needs 1 string argument, got 0",
	  "line:col of a missing argument");
    check("foo;", "!1:1: unknown command 'foo'", "unknown command");
    check("if foo {keep;}", "!1:4: unknown test 'foo'", "unknown test");
    check("if true { keep; ", "!1:17: expected '}'", "unterminated block");
    check("keep", "!1:5: expected ';' or '{' after 'keep'", "missing semicolon");
    check("if true {keep;}}", "!1:16: unexpected '}'", "stray brace");
    check("keep; \"x\";", "!1:7: expected a command", "string where a command goes");
    check("require \"fileinto\"; fileinto \"a", "!1:30: unterminated string", "unterminated string");
    check("keep; /* x", "!1:7: unterminated comment", "unterminated comment");
    check("keep; require \"fileinto\";", "!1:7: require must come before", "require after a command");
    check("if true { require \"fileinto\"; }", "!1:11: require must come before", "require in a block");
    check("elsif true {keep;}", "!1:1: 'elsif' without a preceding 'if'", "elsif without if");
    check("if true {keep;} keep; else {keep;}", "!1:23: 'else' without", "else after another command");
    check("if true {keep;} else {keep;} else {keep;}", "!1:30: 'else' without", "two elses");
    check("if true keep;", "!1:1: 'if' needs a block", "if needs a block");
    check("keep {keep;}", "!1:1: 'keep' takes no block", "block on a simple command");
    check("stop 1;", "!1:6: 'stop' takes no number", "stray argument");
    check("require [\"fileinto\",];", "!1:21: expected a string", "bad string list");
    check("keep; @", "!1:7: unexpected character '@'", "junk character");
    check("require \"fileinto\";\nif true {\n  fileinto\n  :bogus \"x\";\n}",
	  "!4:3: unknown tagged argument ':bogus' for 'fileinto'", "line:col across lines");
    check("require \"fileinto\"; fileinto \"\";", "!1:30: empty folder name", "empty folder");
    check("REQUIRE \"fileinto\"; FileInto \"A\"; IF TRUE {FILEINTO \"B\";}", "A,B",
	  "identifiers ignore case");

    /* Strings, comments, numbers. */
    check("require \"fileinto\"; fileinto text:\nA\n..B\n.\n;", "A\n.B\n", "text: with dot-stuffing");
    check("require \"fileinto\"; fileinto text: # c\r\nx\r\n.\r\n;", "x\r\n", "text: with CRLF and comment");
    check("require \"fileinto\"; fileinto text: x\n.\n;", "!1:36: text: must be followed", "text: junk");
    check("require \"fileinto\"; fileinto text:\nA\n", "!1:30: unterminated multi-line", "text: unterminated");
    check("# c\n/* multi \n line */ require \"fileinto\"; fileinto /* x */ \"A\"; # t", "A", "comments");
    check("require \"fileinto\"; fileinto \"a\\\"b\\\\c\\d\";", "a\"b\\cd", "quoted string escapes");

    /* Limits. */
    cs_buf_reset(&b);
    cs_buf_append(&b, "if ", 3);
    for (i = 0; i < 40; i++)
	cs_buf_append(&b, "not ", 4);
    cs_buf_append(&b, "true {keep;}", 12);
    check(b.data, "!1:", "tests nested too deeply");
    got = run(b.data, NULL, NULL, NULL, 0);
    ok(strstr(got, "nesting too deep") != NULL, "nesting error says so: %s", got);
    free(got);
    cs_buf_reset(&b);
    for (i = 0; i < 40; i++)
	cs_buf_append(&b, "if true {", 9);
    for (i = 0; i < 40; i++)
	cs_buf_append(&b, "}", 1);
    got = run(b.data, NULL, NULL, NULL, 0);
    ok(strstr(got, "nesting too deep") != NULL, "block nesting limit: %s", got);
    free(got);
    cs_buf_reset(&b);
    cs_buf_append(&b, "if anyof(", 9);
    for (i = 0; i < 30; i++)
	cs_buf_append(&b, "allof(", 6);
    cs_buf_append(&b, "true", 4);
    for (i = 0; i < 30; i++)
	cs_buf_append(&b, ")", 1);
    cs_buf_append(&b, ") {keep;}", 9);
    check(b.data, "", "30 nested test lists are fine");
    cs_buf_reset(&b);
    for (i = 0; i < 50001; i++)
	cs_buf_append(&b, "keep;", 5);
    got = run(b.data, NULL, NULL, NULL, 0);
    ok(strstr(got, "too complex") != NULL, "node limit");
    free(got);
    n = 1024 * 1024 + 1;
    big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = 0;
    got = run(big, NULL, NULL, NULL, 0);
    is_str(got, "!1:1: script too large (limit 1048576 bytes)", "script size limit");
    free(got);
    free(big);
    cs_buf_reset(&b);
    cs_buf_appendf(&b, R "set \"x\" \"");
    for (i = 0; i < 5000; i++)
	cs_buf_append(&b, "a", 1);
    cs_buf_appendf(&b, "\"; set :length \"n\" \"${x}\"; set \"y\" \"${x}${x}\"; set :length \"m\" \"${y}\";"
		   "fileinto \"${n}-${m}\";");
    check(b.data, "4096-4096", "variables are cut at 4096 bytes");
    cs_buf_reset(&b);
    cs_buf_appendf(&b, "require \"variables\";");
    for (i = 0; i < 256; i++)
	cs_buf_appendf(&b, "set \"v%zu\" \"x\";", i);
    got = run(b.data, NULL, NULL, NULL, 0);
    ok(strstr(got, "too many variables") != NULL, "variable count limit: %.60s", got);
    free(got);
    cs_buf_reset(&b);
    cs_buf_appendf(&b, R "set \"%s\" \"x\";", "a12345678901234567890123456789012345678901234567890123456789012345");
    check(b.data, "!2:5: invalid variable name", "variable name length limit");
    cs_buf_append(&b, "", 0);
    got = run("keep;\0fileinto \"x\";", NULL, NULL, NULL, 0);
    is_str(got, "", "compile stops at the length given");
    free(got);
    {
	char    e[64];
	cs_sieve *sv = cs_sieve_compile("keep;\0 keep;", 12, e, sizeof(e));

	ok(sv == NULL && strcmp(e, "1:6: unexpected byte 0x00") == 0, "NUL byte in script: %s", e);
	cs_sieve_free(sv);
	sv = cs_sieve_compile("require \"fileinto\"; fileinto \"a\0b\";", 35, e, sizeof(e));
	ok(sv == NULL && strncmp(e, "1:30: NUL byte", 14) == 0, "NUL byte in string: %s", e);
	cs_sieve_free(sv);
    }

    /*
     * Regression (fuzz_sieve leak): a second :flags used to overwrite the
     * first list before the "given twice" check, leaking it. Leak-free is
     * checked by running this program under valgrind or ASan.
     */
    check(R "fileinto :flags \"a\" :flags \"b\" \"F\";",
	  "!2:21: ':flags' given twice", ":flags twice on fileinto");
    check(R "keep :flags [\"a\", \"b\"] :flags [\"c\"];",
	  "!2:24: ':flags' given twice", ":flags twice on keep");
    check(R "fileinto :copy :flags \"a\" :copy \"F\";",
	  "!2:27: ':copy' given twice", ":copy twice after :flags");

    /* Threads share one compiled script. */
    {
	pthread_t th[4];
	void   *res;
	int     bad = 0;
	char    e[64];
	const char *s = R "if envelope :detail :matches \"to\" \"*\" {fileinto \"${1}\";}"
	    "if header :regex \"subject\" \"(m[a-z]+)\" {fileinto \"${1}\";}";

	shared = cs_sieve_compile(s, strlen(s), e, sizeof(e));
	memset(&shared_mi, 0, sizeof(shared_mi));
	cs_msginfo_parse(default_msg, strlen(default_msg), &shared_mi);
	for (i = 0; i < 4; i++)
	    pthread_create(&th[i], NULL, worker, NULL);
	for (i = 0; i < 4; i++) {
	    pthread_join(th[i], &res);
	    bad += res != NULL;
	}
	ok(shared != NULL && bad == 0, "4 threads x 200 runs of one script agree");
	cs_sieve_free(shared);
	cs_msginfo_free(&shared_mi);
    }
    cs_buf_free(&b);
    return done_testing();
}
