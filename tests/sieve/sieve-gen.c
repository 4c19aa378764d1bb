/*
 * NAME
 *	sieve-gen 1
 * SUMMARY
 *	generate Sieve agreement cases (script, message, envelope)
 * SYNOPSIS
 *	sieve-gen DIR [COUNT [SEED]]
 * DESCRIPTION
 *	Writes DIR/mK.eml (fixed messages), DIR/N.sieve (random scripts)
 *	and DIR/cases: one line per case, "N.sieve mK.eml FROM TO LABEL",
 *	LABEL naming what the case exercises. The scripts combine every
 *	test, match type, comparator and address part, variables and
 *	flags, nested anyof/allof/not, stop and elsif chains; keys come
 *	from pools close to the message values so that many cases match.
 *	Deterministic for a given seed, so a failure can be replayed.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gen {
    uint64_t seed;
    FILE   *fp;
    char    label[64];
    int     vars;			/* ${1} may hold something */
} gen;

/* rnd - next pseudo-random number below n (xorshift64*) */
static unsigned rnd(gen *g, unsigned n)
{
    g->seed ^= g->seed >> 12;
    g->seed ^= g->seed << 25;
    g->seed ^= g->seed >> 27;
    return (unsigned) ((g->seed * 2685821657736338717ULL) >> 33) % n;
}

#define PICK(g, a) (a[rnd(g, sizeof(a) / sizeof(a[0]))])

static const char *const messages[] = {
    "From: \"Joe Sender\" <Joe+news@Example.COM>\n"
    "To: alice@example.org, \"Bob\" <bob+work@corp.example>\n"
    "Cc: carol@sub.example.net\n"
    "Subject: =?UTF-8?Q?Caf=C3=A9_meeting?= today\n"
    "X-Spam: yes\n"
    "X-Spam: no\n"
    "List-Id: Dev list <dev.lists.example.org>\n"
    "Message-Id: <m0@example.com>\n"
    "\n"
    "Hello.\n",

    "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@beispiel.de>\n"
    "To: team+sales@example.org\n"
    "Reply-To: sales-replies@example.org\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\n"
    "X-Raw: na\xc3\xafve caf\xc3\xa9\n"
    "X-Priority: 1\n"
    "\n"
    "Gruss\n",

    "From: news+daily@lists.example\n"
    "To: \"List\" <list@lists.example>, dave+a+b@example.net\n"
    "Subject: =?UTF-8?B?W2Rldl0gUmU6IHJlbGVhc2UgMS4wIGlzIG91dA==?=\n"
    "List-Id: <dev.lists.example>\n"
    "Precedence: bulk\n"
    "X-Empty:\n"
    "\n"
    "release notes\n",

    "From: plain@example.com\n"
    "To: Undisclosed recipients:;\n"
    "Cc: ALICE@EXAMPLE.ORG\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
    "X-Note: a*b?c\\d\n"
    "\n"
    "x\n",

    "From: \"Support Team\" <support@help.example.com>\n"
    "To: carol+tickets@example.net,\n"
    " erin@example.org\n"
    "Subject: Ticket #1234:\n"
    " printer on fire\n"
    "Sender: robot@help.example.com\n"
    "X-Spam-Score: 7.5\n"
    "\n"
    "It is burning.\n",

    "From: Mallory <mallory@evil.example>\n"
    "To: alice@example.org\n"
    "Subject: [SPAM] Buy now =?UTF-8?Q?=E2=82=AC_100?=\n"
    "X-Spam: YES\n"
    "X-Spam-Flag: YES\n"
    "\n"
    "buy\n",
};

static const char *const envelopes[][2] = {
    {"alice@example.org", "bob+sales@corp.example"},
    {"news+daily@lists.example", "carol@example.net"},
    {"Joe.User@Example.COM", "joe+Tag+x@example.com"},
    {"bounce-123@mailer.example", "alice+crm@example.org"},
    {"sender@beispiel.de", "team@example.org"},
};

static const char *const mtypes[] = {":is", ":contains", ":matches", ":regex"};
static const char *const comparators[] = {"", "", ":comparator \"i;octet\"",
    ":comparator \"i;ascii-casemap\""};
static const char *const aparts[] = {"", ":all", ":localpart", ":domain", ":user", ":detail"};
static const char *const hnames[] = {
    "subject", "from", "to", "cc", "x-spam", "list-id", "x-raw", "x-empty",
    "reply-to", "x-note", "sender", "x-none", "Subject", "X-SPAM", "precedence",
};
static const char *const anames[] = {"from", "to", "cc", "reply-to", "sender"};
static const char *const keys_plain[] = {
    "", "a", "e", "café", "CAFÉ", "Café meeting today", "meeting", "MEETING",
    "yes", "no", "YES", "example.org", "EXAMPLE.ORG", "example", "alice",
    "alice@example.org", "joe+news@example.com", "joe", "news", "work",
    "sales", "daily", "bulk", "Grüße aus Köln", "grüße", "Köln", "naïve",
    "release", "[dev]", "Ticket #1234: printer on fire", "fire", "1234",
    "€", "[SPAM]", "dev.lists.example.org", "lists.example", "a*b?c\\d",
    "juergen", "beispiel.de", "help.example.com", "support", "tickets", "7.5",
    "1", "Jürgen Müller", "bob", "carol", "team", "corp.example", "tag",
    "Tag+x", "x", "a+b", "dave",
};
static const char *const keys_glob[] = {
    "*", "?", "*@*", "*.*", "caf?*", "*meeting*", "*MEETING", "?es", "y*",
    "*example.org", "*.example", "*e*e*", "[*] *", "* *", "?*?", "*\\**",
    "a\\*b*", "*@example.???", "*+*", "Gr*e", "*Köln", "K\\?ln", "???",
    "na*ve*", "*[*]*", "Ticket #*:*", "*lists*", "<*>", "*<*@*>*", "",
    "j*", "*o*", "b?b", "?*", "**", "*?", "dev*", "*1234*", "*€*",
};
static const char *const keys_regex[] = {
    "^caf", "meet(ing)?", "([a-z]+)@([a-z.]+)", "^$", "x|y", "[0-9]+",
    "^(yes|no)$", "example\\.(org|com)", "^[A-Z]", "(sales|work|tickets)",
    "^[^@]+$", "([a-z]+)\\+([a-z]+)", ".", "^.*$", "(dev)\\.(lists)",
    "fire$", "^\\[([A-Z]+)\\]",
};
static const char *const headers_exist[] = {
    "\"from\"", "\"x-none\"", "[\"from\",\"to\"]", "[\"subject\",\"x-spam\"]",
    "[\"x-empty\"]", "[\"list-id\",\"x-none\"]", "\"X-Raw\"", "\"reply-to\"",
};
static const char *const sizes[] = {"10", "100", "200", "1K", "300", "1M", "0", "250"};

/* key - a key suited to the match type */
static const char *key(gen *g, const char *mt)
{
    if (strcmp(mt, ":matches") == 0)
	return (PICK(g, keys_glob));
    if (strcmp(mt, ":regex") == 0)
	return (PICK(g, keys_regex));
    return (PICK(g, keys_plain));
}

/* put_str - write a Sieve quoted string */
static void put_str(gen *g, const char *s)
{
    fputc('"', g->fp);
    for (; *s; s++) {
	if (*s == '"' || *s == '\\')
	    fputc('\\', g->fp);
	fputc(*s, g->fp);
    }
    fputc('"', g->fp);
}

/* put_keys - one key or a list of two or three */
static void put_keys(gen *g, const char *mt)
{
    unsigned n = rnd(g, 4) == 0 ? 2 + rnd(g, 2) : 1, i;

    if (n > 1)
	fputc('[', g->fp);
    for (i = 0; i < n; i++) {
	if (i)
	    fputs(", ", g->fp);
	put_str(g, key(g, mt));
    }
    if (n > 1)
	fputc(']', g->fp);
}

/* set_label - remember what a case is mostly about */
static void set_label(gen *g, const char *a, const char *b)
{
    if (g->label[0] == 0)
	snprintf(g->label, sizeof(g->label), "%s%s%s", a, *b ? "-" : "", b);
}

/* test - write a random test, nesting up to depth */
static void test(gen *g, int depth)
{
    unsigned k = rnd(g, depth > 0 ? 14 : 11);
    const char *mt = PICK(g, mtypes), *cmp = PICK(g, comparators);

    switch (k) {
    case 0: case 1: case 2:
	set_label(g, "header", mt);
	fprintf(g->fp, "header %s %s ", mt, cmp);
	if (rnd(g, 4) == 0)
	    fprintf(g->fp, "[\"%s\", \"%s\"] ", PICK(g, hnames), PICK(g, hnames));
	else
	    fprintf(g->fp, "\"%s\" ", PICK(g, hnames));
	put_keys(g, mt);
	g->vars |= !strcmp(mt, ":matches") || !strcmp(mt, ":regex");
	break;
    case 3: case 4:{
	    const char *ap = PICK(g, aparts);

	    set_label(g, "address", *ap ? ap : mt);
	    fprintf(g->fp, "address %s %s %s \"%s\" ", ap, mt, cmp, PICK(g, anames));
	    put_keys(g, mt);
	    g->vars |= !strcmp(mt, ":matches") || !strcmp(mt, ":regex");
	    break;
	}
    case 5: case 6:{
	    const char *ap = PICK(g, aparts);

	    set_label(g, "envelope", *ap ? ap : mt);
	    fprintf(g->fp, "envelope %s %s %s \"%s\" ", ap, cmp, mt, rnd(g, 2) ? "from" : "to");
	    put_keys(g, mt);
	    g->vars |= !strcmp(mt, ":matches") || !strcmp(mt, ":regex");
	    break;
	}
    case 7:
	set_label(g, "exists", "");
	fprintf(g->fp, "exists %s", PICK(g, headers_exist));
	break;
    case 8:
	set_label(g, "size", "");
	fprintf(g->fp, "size %s %s", rnd(g, 2) ? ":over" : ":under", PICK(g, sizes));
	break;
    case 9:
	set_label(g, "string", mt);
	fprintf(g->fp, "string %s %s [\"${v}\", \"${1}\"] ", mt, cmp);
	put_keys(g, mt);
	break;
    case 10:{
	    static const char *const fk[] = {"\\Seen", "\\seen", "$label1",
	    "*", "seen", "\\Flagged", "$*", "?Seen"};

	    set_label(g, "hasflag", mt);
	    fprintf(g->fp, "hasflag %s %s ", strcmp(mt, ":regex") ? mt : ":is", cmp);
	    put_str(g, PICK(g, fk));
	    break;
	}
    case 11:
	set_label(g, "not", "");
	fputs("not ", g->fp);
	test(g, depth - 1);
	break;
    default:{
	    unsigned n = 2 + rnd(g, 2), i;

	    set_label(g, k == 12 ? "allof" : "anyof", "");
	    fputs(k == 12 ? "allof(" : "anyof(", g->fp);
	    for (i = 0; i < n; i++) {
		if (i)
		    fputs(", ", g->fp);
		test(g, depth - 1);
	    }
	    fputc(')', g->fp);
	    break;
	}
    }
}

/* action - what a branch does */
static void action(gen *g, int n)
{
    unsigned k = rnd(g, 10);

    if (k < 5)
	fprintf(g->fp, "fileinto \"F%d\";", n);
    else if (k < 8)
	fprintf(g->fp, "fileinto \"V%d-${1}-${2}\";", n);
    else if (k == 8)
	fprintf(g->fp, "fileinto :copy \"C%d\"; stop;", n);
    else
	fprintf(g->fp, "fileinto \"F%d\"; keep; addflag \"\\\\Seen\";", n);
}

/* script - write one random script */
static void script(gen *g)
{
    unsigned n = 1 + rnd(g, 4), i;

    fputs("require [\"fileinto\", \"envelope\", \"subaddress\", \"regex\", "
	  "\"imap4flags\", \"copy\", \"variables\", \"mailbox\"];\n", g->fp);
    if (rnd(g, 2)) {
	static const char *const mods[] = {"", ":lower", ":upper", ":upperfirst",
	":lowerfirst", ":length", ":quotewildcard", ":upper :length"};
	fprintf(g->fp, "set %s \"v\" ", PICK(g, mods));
	put_str(g, PICK(g, keys_plain));
	fputs(";\n", g->fp);
    } else
	fputs("set \"v\" \"Café\";\n", g->fp);
    if (rnd(g, 2))
	fputs("addflag [\"\\\\Seen\", \"$label1\"];\n", g->fp);
    for (i = 0; i < n; i++) {
	fputs("if ", g->fp);
	test(g, 3);
	fputs(" { ", g->fp);
	action(g, (int) i);
	fputs(" }", g->fp);
	if (rnd(g, 3) == 0) {
	    fputs(" elsif ", g->fp);
	    test(g, 2);
	    fprintf(g->fp, " { fileinto \"E%u\"; }", i);
	}
	if (rnd(g, 3) == 0)
	    fprintf(g->fp, " else { fileinto \"L%u-${v}\"; }", i);
	fputc('\n', g->fp);
    }
    if (rnd(g, 3) == 0)
	fputs("if hasflag :contains \"seen\" { fileinto \"Seen\"; }\n", g->fp);
}

int     main(int argc, char **argv)
{
    gen     g;
    char    path[4096];
    unsigned count, i;
    FILE   *list;

    if (argc < 2) {
	fprintf(stderr, "usage: sieve-gen DIR [COUNT [SEED]]\n");
	return (1);
    }
    count = argc > 2 ? (unsigned) strtoul(argv[2], NULL, 10) : 600;
    memset(&g, 0, sizeof(g));
    g.seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 20240601;
    if (g.seed == 0)
	g.seed = 1;
    for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
	FILE   *fp;

	snprintf(path, sizeof(path), "%s/m%u.eml", argv[1], i);
	if ((fp = fopen(path, "w")) == NULL) {
	    perror(path);
	    return (1);
	}
	fputs(messages[i], fp);
	fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/cases", argv[1]);
    if ((list = fopen(path, "w")) == NULL) {
	perror(path);
	return (1);
    }
    for (i = 1; i <= count; i++) {
	unsigned m = rnd(&g, sizeof(messages) / sizeof(messages[0]));
	unsigned e = rnd(&g, sizeof(envelopes) / sizeof(envelopes[0]));

	snprintf(path, sizeof(path), "%s/%u.sieve", argv[1], i);
	if ((g.fp = fopen(path, "w")) == NULL) {
	    perror(path);
	    return (1);
	}
	g.label[0] = 0;
	script(&g);
	fclose(g.fp);
	fprintf(list, "%s/%u.sieve %s/m%u.eml %s %s %s\n", argv[1], i, argv[1], m,
		envelopes[e][0], envelopes[e][1], g.label);
    }
    fclose(list);
    return (0);
}
