/*
 * NAME
 *	t_api 1
 * SUMMARY
 *	crmsync-api's pure parts: ApiListen forms and locality, the token file
 * DESCRIPTION
 *	Named, table-driven cases. listen: which addresses are local (a unix
 *	socket, or every address loopback: no TLS needed) and which forms
 *	are refused. tokens: what the file may hold, its mode (as
 *	WebhookSecret), and that a presented token matches exactly one of
 *	the lines, never a prefix or an extension of one.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "listen.h"
#include "tokens.h"
#include "tap.h"

static const struct listen_case {
    const char *name, *spec;
    int     ok, local, unix_socket;
} listen_cases[] = {
    {"unix socket", "unix:/run/crmsync-api/api.sock", 1, 1, 1},
    {"local: socket", "local:/tmp/api.sock", 1, 1, 1},
    {"bare path", "/tmp/api.sock", 1, 1, 1},
    {"IPv4 loopback", "inet:8080@127.0.0.1", 1, 1, 0},
    {"127.0.0.2 is loopback too", "inet:8080@127.0.0.2", 1, 1, 0},
    {"localhost (IPv4)", "inet:8080@localhost", 1, 1, 0},
    {"IPv6 loopback", "inet6:8080@::1", 1, 1, 0},
    {"every IPv4 address", "inet:8080@0.0.0.0", 1, 0, 0},
    {"no host: every address", "inet:8080", 1, 0, 0},
    {"a private address", "inet:8080@10.1.2.3", 1, 0, 0},
    {"every IPv6 address", "inet6:8080@::", 1, 0, 0},
    {"relative unix path", "unix:api.sock", 0, 0, 0},
    {"unknown scheme", "tcp:8080@127.0.0.1", 0, 0, 0},
    {"no port", "inet:@127.0.0.1", 0, 0, 0},
    {"port out of range", "inet:99999@127.0.0.1", 0, 0, 0},
    {"port not a number", "inet:http@127.0.0.1", 0, 0, 0},
};

/* listen_tests - every case of listen_cases */
static void listen_tests(void)
{
    for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
	const struct listen_case *c = &listen_cases[i];
	api_addr a;
	char    err[512] = "";
	int     rc = api_listen_parse(c->spec, &a, err, sizeof(err));

	if (!ok((rc == 0) == c->ok, "listen %s (%s): %s", c->name, c->spec,
		c->ok ? "accepted" : "refused"))
	    diag("%s", err);
	if (rc == 0 && c->ok) {
	    ok(a.local == c->local, "listen %s: %s", c->name, c->local ? "local" : "needs TLS");
	    ok(a.unix_socket == c->unix_socket, "listen %s: %s", c->name,
	       c->unix_socket ? "unix socket" : "TCP");
	}
	if (rc < 0 && !c->ok)
	    ok(strstr(err, "ApiListen") != NULL, "listen %s: the error names ApiListen", c->name);
    }
}

#define T1 "0123456789abcdef0123456789abcdef"
#define T2 "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"

static const struct token_case {
    const char *name, *text;
    int     mode, ok;
    const char *why;			/* part of the error when refused */
} token_cases[] = {
    {"two tokens, comments, blank lines", "# crm\n\n" T1 "\n" T2 "\r\n", 0600, 1, NULL},
    {"owner read-only", T1 "\n", 0400, 1, NULL},
    {"group may read", T1 "\n", 0640, 0, "grants group or others access"},
    {"others may read", T1 "\n", 0604, 0, "grants group or others access"},
    {"a short token", "short\n", 0600, 0, "shorter than 32"},
    {"a token with a space", T1 " x\n", 0600, 0, "without spaces"},
    {"no token", "# nothing\n\n", 0600, 0, "no token"},
    {"empty file", "", 0600, 0, "no token"},
};

/* write_file - text into path with mode */
static void write_file(const char *path, const char *text, int mode)
{
    FILE   *fp = fopen(path, "w");

    fputs(text, fp);
    fclose(fp);
    chmod(path, (mode_t) mode);
}

/* token_tests - every case of token_cases, then matching */
static void token_tests(const char *dir)
{
    char    path[512], err[512], big[70 * 40];
    api_tokens *t;

    snprintf(path, sizeof(path), "%s/tokens", dir);
    for (size_t i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
	const struct token_case *c = &token_cases[i];

	err[0] = 0;
	write_file(path, c->text, c->mode);
	t = api_tokens_load(path, err, sizeof(err));
	if (!ok((t != NULL) == c->ok, "tokens %s: %s", c->name, c->ok ? "loaded" : "refused"))
	    diag("%s", err);
	if (t == NULL && c->why)
	    if (!ok(strstr(err, c->why) != NULL, "tokens %s: says \"%s\"", c->name, c->why))
		diag("%s", err);
	api_tokens_free(t);
    }
    /* 65 tokens: more than API_TOKENS_MAX. */
    big[0] = 0;
    for (int i = 0; i <= API_TOKENS_MAX; i++)
	snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s%02d\n", T1, i);
    write_file(path, big, 0600);
    t = api_tokens_load(path, err, sizeof(err));
    ok(t == NULL && strstr(err, "more than") != NULL, "tokens: at most %d", API_TOKENS_MAX);
    api_tokens_free(t);
    unlink(path);
    t = api_tokens_load(path, err, sizeof(err));
    ok(t == NULL, "tokens: a missing file is refused");

    write_file(path, "# crm\n" T1 "\n" T2 "\n", 0600);
    t = api_tokens_load(path, err, sizeof(err));
    ok(t != NULL && api_tokens_count(t) == 2, "tokens: two loaded");
    ok(api_tokens_check(t, T1, strlen(T1)), "tokens: the first matches");
    ok(api_tokens_check(t, T2, strlen(T2)), "tokens: the second matches (rotation)");
    ok(!api_tokens_check(t, T1, strlen(T1) - 1), "tokens: a prefix does not match");
    ok(!api_tokens_check(t, T1 "0", strlen(T1) + 1), "tokens: a longer one does not match");
    ok(!api_tokens_check(t, "", 0), "tokens: empty does not match");
    ok(!api_tokens_check(t, "# crm", 5), "tokens: a comment line is no token");
    ok(!api_tokens_check(NULL, T1, strlen(T1)), "tokens: no set, no match");
    api_tokens_free(t);
    unlink(path);
}

int     main(void)
{
    char    dir[] = "/tmp/t_api.XXXXXX";

    if (mkdtemp(dir) == NULL)
	return 1;
    listen_tests();
    token_tests(dir);
    rmdir(dir);
    return done_testing();
}
