/*
 * NAME
 *	t_sieve 1
 * SUMMARY
 *	unit tests of the Sieve subset (SPEC S2)
 * DESCRIPTION
 *	One table of named cases. Each compiles a script (written in the
 *	row, or built by a function when it is too big to write), runs it
 *	against one message and compares the folders filed into, joined
 *	with ","; "!" and the start of the error message for a script that
 *	must not compile, "~" and a part of it. A case that is not one run
 *	of one script is a function.
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

/* joined - what a run filed, joined by ",", or "!run: error" */
static void joined(cs_buf *b, int rc, const cs_strlist *folders, const char *err)
{
    if (rc < 0)
	cs_buf_appendf(b, "!run: %s", err);
    else
	for (size_t i = 0; i < folders->n; i++)
	    cs_buf_appendf(b, "%s%s", i ? "," : "", folders->v[i]);
    cs_buf_append(b, "", 0);
}

/*
 * cached_differs - run the script twice through one cache (the second run
 * finds every header the first decoded or parsed, as a message's later
 * owners do) and say whether either run filed other than want
 */
static int cached_differs(const cs_sieve *sv, const cs_sieve_input *in, const char *want)
{
    cs_sieve_cache *c = cs_sieve_cache_new(in->headers);
    int     differs = c == NULL;

    for (int n = 0; c && n < 2 && !differs; n++) {
	cs_strlist folders = {0};
	cs_buf  b = {0};
	char    err[256];
	int     rc = cs_sieve_run_cached(sv, in, c, &folders, err, sizeof(err));

	joined(&b, rc, &folders, err);
	differs = strcmp(b.data, want) != 0;
	cs_buf_free(&b);
	cs_strlist_free(&folders);
    }
    cs_sieve_cache_free(c);
    return differs;
}

/* run - compile and run (also through a cache); returns folders joined by "," or "!error" */
static char *run(const char *script, const char *msg, const char *from,
		         const char *to, size_t size)
{
    char    err[256], *out;
    cs_sieve *sv;
    cs_msginfo mi;
    cs_strlist folders = {0};
    cs_sieve_input in;
    cs_buf  b = {0};

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
    joined(&b, cs_sieve_run(sv, &in, &folders, err, sizeof(err)), &folders, err);
    if (cached_differs(sv, &in, b.data)) {
	cs_buf_reset(&b);
	cs_buf_appendf(&b, "!a cached run filed otherwise");
    }
    cs_strlist_free(&folders);
    cs_msginfo_free(&mi);
    cs_sieve_free(sv);
    out = b.data;
    return out;
}

#define R  "require [\"fileinto\", \"variables\", \"envelope\", \"subaddress\", " \
	   "\"regex\", \"imap4flags\", \"copy\", \"mailbox\"];\n"

/* A named case: a script and what it files, or a function. */
typedef struct sv_case {
    const char *name;
    const char *script;			/* or gen: */
    const char *want;			/* "A,B", "!error start", "~part of error" */
    const char *msg, *from, *to;	/* NULL: default_msg, the default envelope */
    size_t  size;			/* 0: the message's */
    void    (*gen) (cs_buf *);		/* builds the script */
    void    (*fn) (const struct sv_case *);	/* the whole case */
} sv_case;

/* gen_not40 - a test nested 40 deep (limit 32) */
static void gen_not40(cs_buf *b)
{
    cs_buf_append(b, "if ", 3);
    for (int i = 0; i < 40; i++)
	cs_buf_append(b, "not ", 4);
    cs_buf_append(b, "true {keep;}", 12);
}

/* gen_blocks40 - blocks nested 40 deep */
static void gen_blocks40(cs_buf *b)
{
    for (int i = 0; i < 40; i++)
	cs_buf_append(b, "if true {", 9);
    for (int i = 0; i < 40; i++)
	cs_buf_append(b, "}", 1);
}

/* gen_lists30 - test lists nested 31 deep, within the limit */
static void gen_lists30(cs_buf *b)
{
    cs_buf_append(b, "if anyof(", 9);
    for (int i = 0; i < 30; i++)
	cs_buf_append(b, "allof(", 6);
    cs_buf_append(b, "true", 4);
    for (int i = 0; i < 30; i++)
	cs_buf_append(b, ")", 1);
    cs_buf_append(b, ") {keep;}", 9);
}

/* gen_nodes - 50001 commands */
static void gen_nodes(cs_buf *b)
{
    for (int i = 0; i < 50001; i++)
	cs_buf_append(b, "keep;", 5);
}

/* gen_huge - one byte over the 1 MB script limit */
static void gen_huge(cs_buf *b)
{
    for (int i = 0; i < 1024 * 1024 + 1; i++)
	cs_buf_append(b, " ", 1);
}

/* gen_longvar - a 5000-byte variable, and one twice that */
static void gen_longvar(cs_buf *b)
{
    cs_buf_appendf(b, R "set \"x\" \"");
    for (int i = 0; i < 5000; i++)
	cs_buf_append(b, "a", 1);
    cs_buf_appendf(b, "\"; set :length \"n\" \"${x}\"; set \"y\" \"${x}${x}\"; set :length \"m\" \"${y}\";"
		   "fileinto \"${n}-${m}\";");
}

/* gen_vars256 - one variable over the limit of 255 */
static void gen_vars256(cs_buf *b)
{
    cs_buf_appendf(b, "require \"variables\";");
    for (size_t i = 0; i < 256; i++)
	cs_buf_appendf(b, "set \"v%zu\" \"x\";", i);
}

/* case_regex_4k - a :regex sees the first 4 KB of a value: bounded time on hostile headers */
static void case_regex_4k(const sv_case *c)
{
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
    is_str(got, "E,C", c->name);
    free(got);
    cs_buf_free(&m);
}

/* case_nul_script - a NUL byte where a command goes */
static void case_nul_script(const sv_case *c)
{
    char    e[64];
    cs_sieve *sv = cs_sieve_compile("keep;\0 keep;", 12, e, sizeof(e));

    ok(sv == NULL && strcmp(e, "1:6: unexpected byte 0x00") == 0, "%s: %s", c->name, e);
    cs_sieve_free(sv);
}

/* case_nul_string - a NUL byte in a string */
static void case_nul_string(const sv_case *c)
{
    char    e[64];
    cs_sieve *sv = cs_sieve_compile("require \"fileinto\"; fileinto \"a\0b\";", 35, e, sizeof(e));

    ok(sv == NULL && strncmp(e, "1:30: NUL byte", 14) == 0, "%s: %s", c->name, e);
    cs_sieve_free(sv);
}

/* Thread test: many threads share one compiled script. */
static cs_sieve *shared;
static cs_msginfo shared_mi;

/* worker - run the shared script 200 times; non-NULL if any run differed */
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

/* case_threads - threads share one compiled script */
static void case_threads(const sv_case *c)
{
    pthread_t th[4];
    void   *res;
    int     i, bad = 0;
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
    ok(shared != NULL && bad == 0, "%s", c->name);
    cs_sieve_free(shared);
    cs_msginfo_free(&shared_mi);
}

static const sv_case cases[] = {
    /* Actions. */
    {.name = "fileinto",
     .script = "require \"fileinto\"; fileinto \"A\";",
     .want = "A"},
    {.name = "keep, discard, redirect file nothing",
     .script = "keep; discard; redirect \"x@y.example\";",
     .want = ""},
    {.name = "empty script: implicit keep only",
     .script = "",
     .want = ""},
    {.name = "each folder once, in first order",
     .script = "require \"fileinto\"; fileinto \"A\"; fileinto \"B\"; fileinto \"A\";",
     .want = "A,B"},
    {.name = "stop ends",
     .script = "require \"fileinto\"; fileinto \"A\"; stop; fileinto \"B\";",
     .want = "A"},
    {.name = "stop in a nested block ends the script",
     .script = "require \"fileinto\"; if true { if true { stop; } } fileinto \"B\";",
     .want = ""},
    {.name = "elsif",
     .script = "require \"fileinto\"; if false {fileinto \"A\";} elsif true {fileinto \"B\";}"
     " else {fileinto \"C\";}",
     .want = "B"},
    {.name = "else",
     .script = "require \"fileinto\"; if false {fileinto \"A\";} elsif false {fileinto \"B\";}"
     " else {fileinto \"C\";}",
     .want = "C"},
    {.name = "if",
     .script = "require \"fileinto\"; if true {fileinto \"A\";} else {fileinto \"C\";}",
     .want = "A"},
    {.name = "fileinto :copy",
     .script = "require [\"fileinto\",\"copy\"]; fileinto :copy \"A\";",
     .want = "A"},
    {.name = ":copy needs require",
     .script = "require \"fileinto\"; fileinto :copy \"A\";",
     .want = "!1:30: unknown tagged argument ':copy'"},
    {.name = "fileinto needs require",
     .script = "fileinto \"A\";",
     .want = "!1:1: unknown command 'fileinto'"},
    {.name = "mailbox: mailboxexists, :create",
     .script = "require [\"mailbox\",\"fileinto\"]; if mailboxexists \"Foo\" {fileinto :create \"Foo\";}",
     .want = "Foo"},
    {.name = "vacation, reject, ereject, notify parsed and ignored",
     .script = "require [\"vacation\",\"reject\",\"ereject\",\"enotify\"];\n"
     "vacation :days 3 :subject \"x\" :addresses [\"a@b\"] :mime :handle \"h\" \"reason\";\n"
     "reject \"no\"; ereject text:\nno\n.\n;\nnotify :message \"m\" :importance \"1\" \"mailto:a@b\";",
     .want = ""},
    {.name = "vacation needs require",
     .script = "vacation \"x\";",
     .want = "!1:1: unknown command 'vacation'"},

    /* header test, match types and comparators. */
    {.name = "header :is, RFC 2047 decoded, ascii-casemap",
     .script = "require \"fileinto\"; if header :is \"subject\" \"caf\xc3\xa9 MEETING today\" {fileinto \"A\";}",
     .want = "A"},
    {.name = "ascii-casemap folds ASCII only",
     .script = "require \"fileinto\"; if header :is \"subject\" \"CAF\xc3\x89 meeting today\" {fileinto \"A\";}",
     .want = ""},
    {.name = "i;octet is case-sensitive",
     .script = "require \"fileinto\"; if header :comparator \"i;octet\" :is \"Subject\" "
     "\"caf\xc3\xa9 meeting today\" {fileinto \"A\";}",
     .want = ""},
    {.name = "i;octet :contains",
     .script = "require \"fileinto\"; if header :comparator \"i;octet\" :contains \"Subject\" "
     "\"\xc3\xa9 meeting\" {fileinto \"A\";}",
     .want = "A"},
    {.name = "every occurrence of a header is tried",
     .script = "require \"fileinto\"; if header :contains \"x-spam\" \"NO\" {fileinto \"A\";}",
     .want = "A"},
    {.name = "header and key lists",
     .script = "require \"fileinto\"; if header :contains [\"x-none\",\"list-id\"] [\"zz\",\"dev.LISTS\"] "
     "{fileinto \"A\";}",
     .want = "A"},
    {.name = "folded header is unfolded",
     .script = "require \"fileinto\"; if header :is \"list-id\" \"Dev list <dev.lists.example.org>\" "
     "{fileinto \"A\";}",
     .want = "A"},
    {.name = "empty header value; absent header never matches",
     .script = "require \"fileinto\"; if header :contains \"x-empty\" \"\" {fileinto \"A\";}"
     "if header :is \"x-empty\" \"\" {fileinto \"B\";} if header :contains \"x-none\" \"\" {fileinto \"C\";}",
     .want = "A,B"},
    {.name = ":matches ? takes one octet (as Pigeonhole)",
     .script = "require \"fileinto\"; if header :matches \"subject\" \"caf?? *\" {fileinto \"A\";}",
     .want = "A"},
    {.name = ":matches ? is not one UTF-8 character",
     .script = "require \"fileinto\"; if header :matches \"subject\" \"caf? *\" {fileinto \"A\";}",
     .want = ""},
    {.name = "a folder that is not UTF-8 fails the run",
     .script = R "if string :matches \"caf\xc3\xa9\" \"*?\" {fileinto \"${1}\";} fileinto \"B\";",
     .want = "!run: fileinto: folder name is not UTF-8"},
    {.name = "constant folder not UTF-8",
     .script = "require \"fileinto\"; fileinto \"a\xe9\";",
     .want = "!1:30: folder name is not UTF-8"},
    {.name = ":matches anchors both ends",
     .script = "require \"fileinto\"; if header :matches \"x-spam\" \"y*s\" {fileinto \"A\";}"
     "if header :matches \"x-spam\" \"?\" {fileinto \"B\";}"
     "if header :matches \"x-spam\" \"*\" {fileinto \"C\";}",
     .want = "A,C"},
    {.name = "8-bit UTF-8 header",
     .script = "require \"fileinto\"; if header :is \"x-raw\" \"caf\xc3\xa9\" {fileinto \"A\";}",
     .want = "A"},
    {.name = "8-bit non-UTF-8 header read as Latin-1",
     .script = "require \"fileinto\"; if header :is \"x-latin\" \"caf\xc3\xa9\" {fileinto \"A\";}",
     .want = "A"},
    {.name = "unknown comparator",
     .script = "require \"fileinto\"; if header :comparator \"i;ascii-numeric\" :is \"a\" \"1\" {keep;}",
     .want = "!1:43: unknown comparator 'i;ascii-numeric'"},
    {.name = "two match types",
     .script = "if header :is :contains \"a\" \"1\" {keep;}",
     .want = "!1:15: more than one match type"},
    {.name = "invalid header name",
     .script = "if header :is \"a b\" \"1\" {keep;}",
     .want = "!1:15: invalid header name 'a b'"},
    {.name = "relational is not supported",
     .script = "if header :count \"ge\" \"a\" \"1\" {keep;}",
     .want = "!1:11: unknown tagged argument ':count'"},
    {.name = "header needs two lists",
     .script = "if header \"a\" {keep;}",
     .want = "!1:4: 'header' needs 2 string arguments, got 1"},

    /* exists, size, true/false, not, allof, anyof. */
    {.name = "exists needs every header",
     .script = "require \"fileinto\"; if exists [\"from\",\"X-SPAM\"] {fileinto \"A\";}"
     "if exists [\"from\",\"x-none\"] {fileinto \"B\";} if not exists \"x-none\" {fileinto \"C\";}",
     .want = "A,C"},
    {.name = "allof, anyof, not, nested",
     .script = "require \"fileinto\"; if allof(true, false) {fileinto \"A\";}"
     "if anyof(false, true) {fileinto \"B\";} if not allof(true, not false, anyof(false, true)) "
     "{fileinto \"C\";} if allof(true, true) {fileinto \"D\";} if anyof(false, false) {fileinto \"E\";}",
     .want = "B,D"},
    {.name = "size :over/:under are strict",
     .script = "require \"fileinto\"; if size :over 100 {fileinto \"A\";} if size :under 100 {fileinto \"B\";}"
     "if size :over 49 {fileinto \"C\";} if size :under 50 {fileinto \"D\";}",
     .want = "B,C",
     .size = 50},
    {.name = "size with K, M, G",
     .script = "require \"fileinto\"; if size :over 1K {fileinto \"A\";} if size :under 1M {fileinto \"B\";}"
     "if size :under 1G {fileinto \"C\";} if size :over 2k {fileinto \"D\";}",
     .want = "A,B,C",
     .size = 2000},
    {.name = "number overflow",
     .script = "if size :over 99999999999999999999 {keep;}",
     .want = "!1:15: number too large"},
    {.name = "quantifier overflow",
     .script = "if size :over 99999999999G {keep;}",
     .want = "!1:15: number too large"},
    {.name = "size needs a tag",
     .script = "if size 5 {keep;}",
     .want = "!1:4: 'size' needs :over or :under"},
    {.name = "size with two tags",
     .script = "if size :over :under 5 {keep;}",
     .want = "!1:15: 'size' takes one of"},
    {.name = "not takes one test",
     .script = "if not true false {keep;}",
     .want = "!1:13: 'true' takes no test"},
    {.name = "allof needs a list",
     .script = "if allof true {keep;}",
     .want = "!1:4: 'allof' needs a test list"},

    /* address and envelope tests, address parts, subaddress. */
    {.name = "address :all",
     .script = "require \"fileinto\"; if address :is \"from\" \"joe+NEWS@example.com\" {fileinto \"A\";}"
     "if address :all :is \"from\" \"Joe Sender\" {fileinto \"B\";}",
     .want = "A"},
    {.name = ":localpart, :domain",
     .script = "require \"fileinto\"; if address :localpart :is \"from\" \"joe+news\" {fileinto \"A\";}"
     "if address :domain :is \"to\" \"corp.example\" {fileinto \"B\";}"
     "if address :domain :matches \"cc\" \"*.example.net\" {fileinto \"C\";}"
     "if address :domain :is \"from\" \"joe\" {fileinto \"D\";}",
     .want = "A,B,C"},
    {.name = ":user, :detail; no separator, no detail",
     .script = "require [\"fileinto\",\"subaddress\"]; if address :user \"from\" \"joe\" {fileinto \"A\";}"
     "if address :detail \"to\" \"WORK\" {fileinto \"B\";} if address :detail \"to\" \"\" {fileinto \"C\";}"
     "if address :user \"to\" \"alice\" {fileinto \"D\";}",
     .want = "A,B,D"},
    {.name = ":user needs require subaddress",
     .script = "if address :user \"from\" \"joe\" {keep;}",
     .want = "!1:12: unknown tagged argument ':user'"},
    {.name = "two address parts",
     .script = "if address :all :domain \"from\" \"joe\" {keep;}",
     .want = "!1:17: more than one address part"},
    {.name = "address on a non-address header",
     .script = "if address \"subject\" \"x\" {keep;}",
     .want = "!1:12: header 'subject' is not allowed for the address test"},
    {.name = "envelope and its parts",
     .script = R "if envelope :is \"from\" \"SENDER@origin.example\" {fileinto \"A\";}"
     "if envelope :domain \"to\" \"example.org\" {fileinto \"B\";}"
     "if envelope :detail \"to\" \"crm\" {fileinto \"C\";}"
     "if envelope :user \"to\" \"alice\" {fileinto \"D\";}"
     "if envelope :localpart \"from\" \"origin.example\" {fileinto \"E\";}"
     "if envelope :is \"auth\" \"\" {fileinto \"F\";}",
     .want = "A,B,C,D"},
    {.name = "envelope needs require",
     .script = "if envelope :is \"from\" \"x\" {keep;}",
     .want = "!1:4: unknown test 'envelope'"},
    {.name = "null sender is \"\"; <> around an address dropped",
     .script = R "if envelope :is \"from\" \"\" {fileinto \"A\";} if envelope :domain :contains \"from\" \"\""
     "{fileinto \"B\";} if envelope :matches \"to\" \"<*>\" {fileinto \"C\";}",
     .want = "A",
     .from = "", .to = "<x@y>"},

    /* regex. */
    {.name = ":regex sets ${N}, casemap is REG_ICASE",
     .script = R "if header :regex \"subject\" \"^CAF(.+) (m[a-z]+)\" { fileinto \"${2}-${1}\"; }",
     .want = "meeting-\xc3\xa9"},
    {.name = ":regex with i;octet is case-sensitive",
     .script = R "if header :regex :comparator \"i;octet\" \"subject\" \"^CAF\" { fileinto \"A\"; }",
     .want = ""},
    {.name = "bad constant regex is a compile error",
     .script = R "if header :regex \"subject\" \"(\" {keep;}",
     .want = "!2:28: invalid regular expression '('"},
    {.name = "a back-reference in a constant :regex is refused (exponential matching)",
     .script = R "if header :regex \"subject\" \"(a)\\\\1\" {keep;}",
     .want = "!2:"},
    {.name = ":regex matches within the first 4 KB only; :contains sees it all", .fn = case_regex_4k},
    {.name = "bad run-time regex matches nothing",
     .script = R "set \"r\" \"(\"; if header :regex \"subject\" \"${r}\" {fileinto \"A\";} fileinto \"B\";",
     .want = "B"},
    {.name = "stacked quantifiers refused",
     .script = R "if header :regex \"subject\" \"a+++\" {keep;}",
     .want = "!2:28: regular expression too complex"},
    {.name = "nested bounds refused",
     .script = R "if header :regex \"subject\" \"((a{100}){100}){100}\" {keep;}",
     .want = "!2:28: regular expression too complex"},
    {.name = "ordinary repetitions accepted",
     .script = R "if header :regex \"subject\" \"^[0-9]{1,3}(\\\\.[0-9]{1,3}){3}$|a+b+c+d+e+f+g+h+(x|y)*\" "
     "{fileinto \"A\";} fileinto \"B\";",
     .want = "B"},
    {.name = "too complex run-time regex matches nothing",
     .script = R "set \"r\" \"(a{200}){200}\"; if header :regex \"subject\" \"${r}\" {fileinto \"A\";} fileinto \"B\";",
     .want = "B"},
    {.name = ":regex needs require",
     .script = "if header :regex \"subject\" \"x\" {keep;}",
     .want = "!1:11: unknown tagged argument ':regex'"},

    /* variables. */
    {.name = ":matches sets ${0}..${N}",
     .script = R "if header :matches \"list-id\" \"*<*.lists.*>\" { fileinto \"list/${2}/${3}/${0}\"; }",
     .want = "list/dev/example.org/Dev list <dev.lists.example.org>"},
    {.name = "wildcards match as little as possible (RFC 5229)",
     .script = R "if string :matches \"[acme-users] [fwd] version 1.0\" \"[*] *\" { fileinto \"${1}|${2}\"; }",
     .want = "acme-users|[fwd] version 1.0"},
    {.name = "? is a match variable too",
     .script = R "if string :matches \"banana\" \"*a?a*\" { fileinto \"${1}|${2}|${3}\"; }",
     .want = "b|n|na"},
    {.name = "escaped wildcards are literal",
     .script = R "if string :matches \"a*b\" \"a\\\\*b\" { fileinto \"A\"; }"
     "if string :matches \"axb\" \"a\\\\*b\" { fileinto \"B\"; }"
     "if string :matches \"a?b\" \"a\\\\?b\" { fileinto \"C\"; }",
     .want = "A,C"},
    /* A script captures only if some string names ${0}..${9}: each place
     * a string can name one. */
    {.name = "a match variable named only in a set value is captured",
     .script = R "if header :regex \"subject\" \"^CAF(.+) (m[a-z]+)\" {} set \"x\" \"${2}\"; fileinto \"${x}\";",
     .want = "meeting"},
    {.name = "a match variable named only in a later test's key is captured",
     .script = R "if string :matches \"abc\" \"a*\" {} if string :is \"bc\" \"${1}\" { fileinto \"A\"; }",
     .want = "A"},
    {.name = "a match variable named only in a later test's name is captured",
     .script = R "if string :matches \"abc\" \"a*\" {} if string :is \"${1}\" \"bc\" { fileinto \"A\"; }",
     .want = "A"},
    {.name = "without match variables a :regex still matches",
     .script = R "if header :regex \"subject\" \"^CAF(.+) (m[a-z]+)\" { fileinto \"A\"; }"
     "if header :regex \"subject\" \"^x(y)\" { fileinto \"B\"; }",
     .want = "A"},
    {.name = "a failing match keeps match variables",
     .script = R "if string :matches \"abc\" \"a*\" {} if string :matches \"x\" \"y*\" {} fileinto \"${1}\";",
     .want = "bc"},
    {.name = ":is sets no match variables",
     .script = R "if string :is \"abc\" \"abc\" {} fileinto \"[${1}]\";",
     .want = "[]"},
    {.name = "variable names ignore case",
     .script = R "set \"Foo\" \"x\"; fileinto \"${FOO}-${foo}\";",
     .want = "x-x"},
    {.name = "unknown is empty, malformed is literal",
     .script = R "fileinto \"a${nope}b\"; fileinto \"${\"; fileinto \"${a\"; set \"x\" \"1\"; fileinto \"$${x}\";"
     "fileinto \"${${x}}\"; fileinto \"${a.b}\"; fileinto \"${0001}\";",
     .want = "ab,${,${a,$1,${1},${a.b}"},
    {.name = "no variables without require",
     .script = "require \"fileinto\"; fileinto \"${1}\";",
     .want = "${1}"},
    {.name = "set modifiers",
     .script = R "set :upper \"a\" \"abc\"; set :lower \"b\" \"ABC\"; set :upperfirst \"c\" \"hello\";"
     "set :lowerfirst \"d\" \"HELLO\"; set :length \"e\" \"caf\xc3\xa9\"; set :quotewildcard \"f\" \"a*b?c\\\\\";"
     "set :length :upper \"g\" \"abc\"; set :upperfirst :lower \"h\" \"wORLD\";"
     "fileinto \"${a},${b},${c},${d},${e},${f},${g},${h}\";",
     .want = "ABC,abc,Hello,hELLO,4,a\\*b\\?c\\\\,3,World"},
    {.name = ":encodeurl with enotify",
     .script = "require [\"variables\",\"enotify\",\"fileinto\"]; set :encodeurl \"u\" \"a b&c\"; fileinto \"${u}\";",
     .want = "a%20b%26c"},
    {.name = "conflicting modifiers",
     .script = R "set :lower :upper \"a\" \"b\";",
     .want = "!2:12: conflicting modifier ':upper'"},
    {.name = "numbers cannot be set",
     .script = R "set \"1\" \"b\";",
     .want = "!2:5: invalid variable name '1'"},
    {.name = "set needs two strings",
     .script = R "set \"a\";",
     .want = "!2:1: 'set' needs 2 string arguments"},
    {.name = "string test (i;octet by default, as Pigeonhole)",
     .script = R "set \"s\" \"x\"; if string :is \"${s}\" \"X\" {fileinto \"A\";} if string :is [\"q\",\"\"] \"\" "
     "{fileinto \"B\";} if string :comparator \"i;ascii-casemap\" :is \"${s}\" \"X\" {fileinto \"C\";}",
     .want = "B,C"},
    {.name = "address :all sees an unparsable header whole, other parts nothing",
     .script = "require \"fileinto\"; if address :all :is \"to\" \"Undisclosed recipients:;\" {fileinto \"A\";}"
     "if address :localpart :contains \"to\" \"\" {fileinto \"B\";}"
     "if address :all :is \"cc\" \"x@y.z, plain\" {fileinto \"C\";}"
     "if address :all :is \"cc\" \"x@y.z\" {fileinto \"D\";}",
     .want = "A,C",
     .msg = "To: Undisclosed recipients:;\r\nCc: x@y.z, plain\r\n\r\n"},
    {.name = "set expands once, at set time",
     .script = R "set \"a\" \"b\"; set \"b\" \"${a}${a}\"; set \"a\" \"c\"; fileinto \"${b}${a}\";",
     .want = "bbc"},

    /* imap4flags. */
    {.name = "addflag, removeflag, setflag, hasflag",
     .script = R "addflag \"\\\\Seen\"; addflag [\"a b\", \"A\"]; if hasflag :is \"B\" {fileinto \"B\";}"
     "removeflag \"b\"; if hasflag \"b\" {fileinto \"X\";} if hasflag :contains \"seen\" {fileinto \"S\";}"
     "setflag \"q\"; if hasflag \"a\" {fileinto \"Y\";} if hasflag \"Q\" {fileinto \"Q\";}",
     .want = "B,S,Q"},
    {.name = "flag variables; :flags on fileinto and keep",
     .script = R "addflag \"mine\" [\"x\", \"y\"]; if hasflag \"mine\" \"Y\" {fileinto \"V\";}"
     "if hasflag \"y\" {fileinto \"W\";} fileinto :flags \"x\" \"F\"; keep :flags \"z\";",
     .want = "V,F"},
    {.name = "flag variable needs variables",
     .script = "require \"imap4flags\"; addflag \"v\" \"x\";",
     .want = "!1:23: 'addflag' with a variable needs"},

    /* Syntax and errors. */
    {.name = "unsupported extension",
     .script = "require \"foo\";",
     .want = "!1:9: unsupported extension 'foo'"},
    {.name = "unsupported extension in a list",
     .script = "require [\"fileinto\", \"vnd.dovecot.debug\"];",
     .want = "!1:9: unsupported extension 'vnd.dovecot.debug'"},
    {.name = "line:col of a missing argument",
     .script = "require \"fileinto\";\nfileinto;",
     .want = "!2:1: 'fileinto' needs 1 string argument, got 0"},
    {.name = "unknown command",
     .script = "foo;",
     .want = "!1:1: unknown command 'foo'"},
    {.name = "unknown test",
     .script = "if foo {keep;}",
     .want = "!1:4: unknown test 'foo'"},
    {.name = "unterminated block",
     .script = "if true { keep; ",
     .want = "!1:17: expected '}'"},
    {.name = "missing semicolon",
     .script = "keep",
     .want = "!1:5: expected ';' or '{' after 'keep'"},
    {.name = "stray brace",
     .script = "if true {keep;}}",
     .want = "!1:16: unexpected '}'"},
    {.name = "string where a command goes",
     .script = "keep; \"x\";",
     .want = "!1:7: expected a command"},
    {.name = "unterminated string",
     .script = "require \"fileinto\"; fileinto \"a",
     .want = "!1:30: unterminated string"},
    {.name = "unterminated comment",
     .script = "keep; /* x",
     .want = "!1:7: unterminated comment"},
    {.name = "require after a command",
     .script = "keep; require \"fileinto\";",
     .want = "!1:7: require must come before"},
    {.name = "require in a block",
     .script = "if true { require \"fileinto\"; }",
     .want = "!1:11: require must come before"},
    {.name = "elsif without if",
     .script = "elsif true {keep;}",
     .want = "!1:1: 'elsif' without a preceding 'if'"},
    {.name = "else after another command",
     .script = "if true {keep;} keep; else {keep;}",
     .want = "!1:23: 'else' without"},
    {.name = "two elses",
     .script = "if true {keep;} else {keep;} else {keep;}",
     .want = "!1:30: 'else' without"},
    {.name = "if needs a block",
     .script = "if true keep;",
     .want = "!1:1: 'if' needs a block"},
    {.name = "block on a simple command",
     .script = "keep {keep;}",
     .want = "!1:1: 'keep' takes no block"},
    {.name = "stray argument",
     .script = "stop 1;",
     .want = "!1:6: 'stop' takes no number"},
    {.name = "bad string list",
     .script = "require [\"fileinto\",];",
     .want = "!1:21: expected a string"},
    {.name = "junk character",
     .script = "keep; @",
     .want = "!1:7: unexpected character '@'"},
    {.name = "line:col across lines",
     .script = "require \"fileinto\";\nif true {\n  fileinto\n  :bogus \"x\";\n}",
     .want = "!4:3: unknown tagged argument ':bogus' for 'fileinto'"},
    {.name = "empty folder",
     .script = "require \"fileinto\"; fileinto \"\";",
     .want = "!1:30: empty folder name"},
    {.name = "identifiers ignore case",
     .script = "REQUIRE \"fileinto\"; FileInto \"A\"; IF TRUE {FILEINTO \"B\";}",
     .want = "A,B"},

    /* Strings, comments, numbers. */
    {.name = "text: with dot-stuffing",
     .script = "require \"fileinto\"; fileinto text:\nA\n..B\n.\n;",
     .want = "A\n.B\n"},
    {.name = "text: with CRLF and comment",
     .script = "require \"fileinto\"; fileinto text: # c\r\nx\r\n.\r\n;",
     .want = "x\r\n"},
    {.name = "text: junk",
     .script = "require \"fileinto\"; fileinto text: x\n.\n;",
     .want = "!1:36: text: must be followed"},
    {.name = "text: unterminated",
     .script = "require \"fileinto\"; fileinto text:\nA\n",
     .want = "!1:30: unterminated multi-line"},
    {.name = "comments",
     .script = "# c\n/* multi \n line */ require \"fileinto\"; fileinto /* x */ \"A\"; # t",
     .want = "A"},
    {.name = "quoted string escapes",
     .script = "require \"fileinto\"; fileinto \"a\\\"b\\\\c\\d\";",
     .want = "a\"b\\cd"},

    /* Limits. */
    {.name = "tests nested too deeply", .want = "!1:", .gen = gen_not40},
    {.name = "nesting error says so", .want = "~nesting too deep", .gen = gen_not40},
    {.name = "block nesting limit", .want = "~nesting too deep", .gen = gen_blocks40},
    {.name = "30 nested test lists are fine", .want = "", .gen = gen_lists30},
    {.name = "node limit", .want = "~too complex", .gen = gen_nodes},
    {.name = "script size limit", .gen = gen_huge,
     .want = "!1:1: script too large (limit 1048576 bytes)"},
    {.name = "variables are cut at 4096 bytes", .want = "4096-4096", .gen = gen_longvar},
    {.name = "variable count limit", .want = "~too many variables", .gen = gen_vars256},
    {.name = "variable name length limit",
     .script = R "set \"a12345678901234567890123456789012345678901234567890123456789012345\" \"x\";",
     .want = "!2:5: invalid variable name"},
    {.name = "compile stops at the length given",
     .script = "keep;\0fileinto \"x\";",
     .want = ""},
    {.name = "NUL byte in script", .fn = case_nul_script},
    {.name = "NUL byte in string", .fn = case_nul_string},

    /*
     * Regression (fuzz_sieve leak): a second :flags used to overwrite the
     * first list before the "given twice" check, leaking it. Leak-free is
     * checked by running this program under valgrind or ASan.
     */
    {.name = ":flags twice on fileinto",
     .script = R "fileinto :flags \"a\" :flags \"b\" \"F\";",
     .want = "!2:21: ':flags' given twice"},
    {.name = ":flags twice on keep",
     .script = R "keep :flags [\"a\", \"b\"] :flags [\"c\"];",
     .want = "!2:24: ':flags' given twice"},
    {.name = ":copy twice after :flags",
     .script = R "fileinto :copy :flags \"a\" :copy \"F\";",
     .want = "!2:27: ':copy' given twice"},

    {.name = "4 threads x 200 runs of one script agree", .fn = case_threads},
};

/* run_case - one row: build the script, run it, compare */
static void run_case(const sv_case *c)
{
    cs_buf  b = {0};
    const char *script = c->script;
    char   *got;

    if (c->fn) {
	c->fn(c);
	return;
    }
    if (c->gen) {
	c->gen(&b);
	script = b.data;
    }
    got = run(script, c->msg, c->from, c->to, c->size);
    if (c->want[0] == '~')
	ok(got[0] == '!' && strstr(got, c->want + 1) != NULL, "%s: %.60s", c->name, got);
    else if (c->want[0] == '!' && got[0] == '!' && strncmp(got, c->want, strlen(c->want)) == 0)
	ok(1, "%s", c->name);
    else
	is_str(got, c->want, c->name);
    free(got);
    cs_buf_free(&b);
}

int     main(void)
{
    cs_message_init();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	run_case(&cases[i]);
    return done_testing();
}
