/*
 * NAME
 *	t_policy 1
 * SUMMARY
 *	unit tests for policy files and sync decisions (SPEC C2, S1-S5)
 * DESCRIPTION
 *	Each case writes policy files (and Sieve scripts) into a fresh
 *	temporary PolicyDir, loads it and checks the exact outcome: the
 *	"file:line: what" of every refusal, defaults, lookups, groups and
 *	every decision reason.
 */
#include <config.h>

/* System library. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_config.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "tap.h"
#include "tlib.h"

/* Test fixture: a PolicyDir and a config pointing at it. */
typedef struct fixture {
    char    dir[64];
    cs_config *cfg;
    cs_policy *pol;
    char    err[1024];
} fixture;

/* fx_init - fresh directory, default config */
static void fx_init(fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    tl_tmpdir(fx->dir, sizeof(fx->dir), "t_policy");
    fx->cfg = cs_config_default();
    free(fx->cfg->policy_dir);
    fx->cfg->policy_dir = strdup(fx->dir);
}

/* fx_done - release everything */
static void fx_done(fixture *fx)
{
    cs_policy_unref(fx->pol);
    cs_config_unref(fx->cfg);
    tl_rmtree(fx->dir);
}

/* fx_write - write one file into the policy dir */
static void fx_write(fixture *fx, const char *name, const char *text)
{
    tl_put(fx->dir, name, text, strlen(text));
}

/* fx_writen - write bytes that may hold a NUL */
static void fx_writen(fixture *fx, const char *name, const char *data, size_t len)
{
    tl_put(fx->dir, name, data, len);
}

/* fx_load - load the directory; returns the policy or NULL */
static cs_policy *fx_load(fixture *fx)
{
    cs_policy_unref(fx->pol);
    fx->err[0] = 0;
    fx->pol = cs_policy_load(fx->cfg, fx->err, sizeof(fx->err));
    return fx->pol;
}

/* refused - one policy file must be refused with exactly "file:line: what" */
static void refused(const char *text, int line, const char *what, const char *name)
{
    fixture fx;
    char    want[1024];

    fx_init(&fx);
    fx_write(&fx, "a.policy", text);
    snprintf(want, sizeof(want), "%s/a.policy:%d: %s", fx.dir, line, what);
    ok(fx_load(&fx) == NULL, "refused: %s", name);
    is_str(fx.err, want, name);
    fx_done(&fx);
}

static void test_refusals(void)
{
    refused("User a\nAddress a@x.test\nFoo bar\n", 3, "unknown key \"Foo\"", "unknown key");
    refused("User a\nAddress a@x.test\naddress b@x.test\n", 3, "unknown key \"address\"",
	    "keys are case-sensitive");
    refused("# users\n\nAddress a@x.test\n", 3, "Address before any User line",
	    "key before any User");
    refused("User a\nAddress a@x.test\nWindow 3w\n", 3,
	    "bad Window \"3w\": duration needs a unit: s, m, h or d", "bad duration");
    refused("User a\nAddress a@x.test\nRetention 1s\n", 3,
	    "bad Retention \"1s\": out of range (duration from 1d to 36500d)",
	    "R1: a Retention under a day is refused");
    refused("User a\nAddress a@x.test\nSyncInternal maybe\n", 3,
	    "bad SyncInternal \"maybe\": expected yes or no", "bad bool");
    refused("User a\nAddress a@x.test\nRole root\n", 3,
	    "bad Role \"root\": user or admin", "bad role");
    refused("User a\nAddress a@x.test\nSync some\n", 3,
	    "bad Sync \"some\": all, labels or off", "bad sync");
    refused("User a\nAddress a@x.test\nUser b\nAddress A+crm@X.test\n", 4,
	    "address a@x.test is claimed by user \"a\" and user \"b\"",
	    "address claimed by two users (after normalization)");
    refused("User a\nAddress a@x.test\nGroup a@x.test a\n", 3,
	    "group address a@x.test is also an address of user \"a\"",
	    "group address that is a user address");
    refused("Group sales@x.test a\nUser a\nAddress Sales+a@x.test\n", 1,
	    "group address sales@x.test is also an address of user \"a\"",
	    "group before the user claiming its address");
    refused("User a\nAddress a@x.test\nGroup sales@x.test a, zed\n", 3,
	    "group sales@x.test names unknown user \"zed\"", "group naming an unknown user");
    refused("User a\nAddress a@x.test\nLabels Sales\n", 3,
	    "Labels without Sync labels (user \"a\")", "Labels without Sync labels");
    refused("User a\nLabels Sales\nSync all\nAddress a@x.test\nUser b\n", 2,
	    "Labels without Sync labels (user \"a\")", "Labels checked at end of block");
    refused("User a\nRole admin\n\nUser b\nAddress b@x.test\n", 1,
	    "user \"a\" has no Address", "user with no Address");
    refused("User a\nAddress a@x.test\nUser b\n", 3,
	    "user \"b\" has no Address", "last user with no Address");
    refused("User a\nAddress\n", 2, "Address: empty value", "empty value");
    refused("User a\nAddress  , ,\n", 2, "Address: empty value", "empty list");
    refused("User\n", 1, "User: empty value", "empty User");
    refused("User a\nAddress a@x.test\nRules   \n", 3, "Rules: empty value", "empty Rules");
    refused("User a\nAddress not-an-address\n", 2, "bad address \"not-an-address\"",
	    "bad address");
    refused("User a\nAddress a@x.test\nBlock spam\n", 3, "bad Block entry \"spam\"",
	    "bad Block entry");
    refused("User a\nAddress a@x.test\nBlock @\n", 3, "bad Block entry \"@\"",
	    "bad Block domain");
    refused("User a\nAddress a@x.test\nExclude newsletters\n", 3,
	    "bad Exclude \"newsletters\": only automated", "bad Exclude");
    refused("User a\nAddress a@x.test\nSync all\nSync off\n", 4,
	    "Sync given twice for user \"a\"", "scalar key twice");
    refused("User a b\nAddress a@x.test\n", 1,
	    "bad user id \"a b\": one word of printable ASCII, no comma", "bad user id");
    refused("User a\nAddress a@x.test\nLogin shared\nUser b\nAddress b@x.test\nLogin SHARED\n",
	    6, "login \"SHARED\" of user \"b\" is already a login of user \"a\"",
	    "login claimed twice (case-insensitive)");
    refused("Group sales@x.test\n", 1, "Group needs an address and at least one user",
	    "group without members");
}

static void test_refusal_files(void)
{
    fixture fx;
    char    want[1024];

    /* Duplicate user across files: the second file, with the first place. */
    fx_init(&fx);
    fx_write(&fx, "10-a.policy", "User a\nAddress a@x.test\n");
    fx_write(&fx, "20-b.policy", "# team b\nUser a\nAddress b@x.test\n");
    snprintf(want, sizeof(want), "%s/20-b.policy:2: duplicate user \"a\" (first at %s/10-a.policy:1)",
	     fx.dir, fx.dir);
    ok(fx_load(&fx) == NULL, "duplicate user across files refused");
    is_str(fx.err, want, "duplicate user: file:line of both");
    fx_done(&fx);

    fx_init(&fx);
    fx_write(&fx, "a.policy", "User a\nAddress a@x.test\nUser a\nAddress b@x.test\n");
    snprintf(want, sizeof(want), "%s/a.policy:3: duplicate user \"a\" (first at %s/a.policy:1)",
	     fx.dir, fx.dir);
    ok(fx_load(&fx) == NULL, "duplicate user in one file refused");
    is_str(fx.err, want, "duplicate user in one file");
    fx_done(&fx);

    /* A block ends with its file. */
    fx_init(&fx);
    fx_write(&fx, "a.policy", "User a\nAddress a@x.test\n");
    fx_write(&fx, "b.policy", "Sync off\n");
    snprintf(want, sizeof(want), "%s/b.policy:1: Sync before any User line", fx.dir);
    ok(fx_load(&fx) == NULL, "block does not continue into next file");
    is_str(fx.err, want, "key at top of second file");
    fx_done(&fx);

    /* Only *.policy regular files count; dot files are ignored. */
    fx_init(&fx);
    fx_write(&fx, "a.policy", "User a\nAddress a@x.test\n");
    fx_write(&fx, "a.policy~", "junk\n");
    fx_write(&fx, ".b.policy", "junk\n");
    fx_write(&fx, "README", "junk\n");
    ok(fx_load(&fx) != NULL, "other files ignored: %s", fx.err);
    is_int(cs_policy_nusers(fx.pol), 1, "one user");
    fx_done(&fx);

    /* Missing PolicyDir. */
    fx_init(&fx);
    tl_rmtree(fx.dir);
    snprintf(want, sizeof(want), "%s: cannot open policy directory: No such file or directory",
	     fx.dir);
    ok(fx_load(&fx) == NULL, "missing PolicyDir refused");
    is_str(fx.err, want, "missing PolicyDir message");
    cs_config_unref(fx.cfg);

    /* A NUL byte would cut a line short. */
    fx_init(&fx);
    {
	static const char nul[] = "User a\nAddress a@x.test\n\tSync off\nUser b\0c\nAddress b@x.test\n";

	fx_writen(&fx, "a.policy", nul, sizeof(nul) - 1);
    }
    snprintf(want, sizeof(want), "%s/a.policy:4: NUL byte in line", fx.dir);
    ok(fx_load(&fx) == NULL, "NUL byte refused");
    is_str(fx.err, want, "NUL byte: file:line");
    fx_done(&fx);

    /* Empty PolicyDir: a valid policy with nobody in it. */
    fx_init(&fx);
    ok(fx_load(&fx) != NULL, "empty PolicyDir loads");
    is_int(cs_policy_nusers(fx.pol), 0, "no users");
    is_int(cs_policy_problems(fx.pol)->n, 0, "no problems");
    fx_done(&fx);
}

static void test_defaults_and_lookups(void)
{
    fixture fx;
    const cs_user *a, *b, *c;
    const cs_user *const *m;
    size_t  n;

    fx_init(&fx);
    fx.cfg->sync_internal = 1;		/* defaults come from the config */
    fx_write(&fx, "team.policy",
	     "# the sales team\n"
	     "Group sales@example.com alice, bob\n"
	     "User alice\n"
	     "  Address Alice@Example.COM, alice.smith@example.com\n"
	     "  # indented comment\n"
	     "User bob\n"
	     "Address bob@example.com\n"
	     "Login BobLogin\n"
	     "Login bob2\n"
	     "Role admin\n"
	     "Sync labels\n"
	     "Group support@example.com bob\n"
	     "Labels Sales, Deals #1\n"
	     "Window 72h\n"
	     "Block @Spam.Example, Pest+x@Other.test\n"
	     "Exclude automated\n"
	     "SyncInternal no\n"
	     "User carol\r\n"
	     "Address carol@example.com\r\n"
	     "Sync off\r\n"
	     "Group sales@example.com carol\n");
    if (!ok(fx_load(&fx) != NULL, "policy loads")) {
	diag("%s", fx.err);
	fx_done(&fx);
	return;
    }
    is_int(cs_policy_nusers(fx.pol), 3, "three users");
    is_int(cs_policy_ngroups(fx.pol), 2, "two groups");
    a = cs_policy_user(fx.pol, "alice");
    b = cs_policy_user(fx.pol, "bob");
    c = cs_policy_user(fx.pol, "carol");
    ok(a && b && c, "users by id");
    if (!a || !b || !c) {
	fx_done(&fx);
	return;
    }
    ok(cs_policy_user(fx.pol, "Alice") == NULL, "id lookup is case-sensitive");
    ok(cs_policy_user_at(fx.pol, 0) == a && cs_policy_user_at(fx.pol, 2) == c
       && cs_policy_user_at(fx.pol, 3) == NULL, "users in file order");

    /* Defaults. */
    is_int(a->addresses.n, 2, "alice: two addresses");
    is_str(a->addresses.v[0], "alice@example.com", "address normalized");
    is_int(a->logins.n, 2, "default logins = addresses");
    is_str(a->logins.v[1], "alice.smith@example.com", "second default login");
    is_int(a->role, CS_ROLE_USER, "default role user");
    is_int(a->sync, CS_SYNC_ALL, "default sync from config");
    is_int(a->window, 30L * 86400, "default window 30d");
    is_int(a->sync_internal, 1, "default SyncInternal from config");
    is_int(a->exclude_automated, 0, "no Exclude by default");
    ok(a->rules_path == NULL && a->rules == NULL && a->rules_error == NULL, "no Rules");
    is_int(a->line, 3, "User line recorded");

    /* Explicit values. */
    is_int(b->role, CS_ROLE_ADMIN, "role admin");
    is_int(b->sync, CS_SYNC_LABELS, "sync labels");
    is_int(b->labels.n, 2, "two labels");
    is_str(b->labels.v[1], "Deals #1", "a '#' inside a value is kept");
    is_int(b->window, 72L * 3600, "window 72h");
    is_int(b->block.n, 2, "two block entries");
    is_str(b->block.v[0], "@spam.example", "@domain lower-cased");
    is_str(b->block.v[1], "pest@other.test", "block address normalized");
    is_int(b->exclude_automated, 1, "Exclude automated");
    is_int(b->sync_internal, 0, "SyncInternal no");
    is_int(b->logins.n, 2, "explicit logins replace the default");
    is_int(c->sync, CS_SYNC_OFF, "CRLF line endings");

    /* Lookups. */
    ok(cs_policy_user_by_address(fx.pol, "alice@example.com") == a, "by address");
    ok(cs_policy_user_by_address(fx.pol, "<ALICE+crm@example.COM>") == a,
       "by address with subaddress, brackets and case");
    ok(cs_policy_user_by_address(fx.pol, "alice.smith+x@example.com") == a, "second address");
    ok(cs_policy_user_by_address(fx.pol, "dave@example.com") == NULL, "unknown address");
    ok(cs_policy_user_by_address(fx.pol, "junk") == NULL, "not an address");
    ok(cs_policy_user_by_login(fx.pol, "ALICE@example.com") == a, "default login, any case");
    ok(cs_policy_user_by_login(fx.pol, "boblogin") == b, "explicit login, any case");
    ok(cs_policy_user_by_login(fx.pol, "bob@example.com") == NULL,
       "address is no login when Login is given");
    ok(cs_policy_user_by_login(fx.pol, "nobody") == NULL, "unknown login");

    /* Groups: members in order, two Group lines add up. */
    n = cs_policy_group(fx.pol, "Sales+eu@Example.com", &m);
    is_int(n, 3, "sales@ has three members");
    if (n == 3)
	ok(m[0] == a && m[1] == b && m[2] == c, "members in order");
    n = cs_policy_group(fx.pol, "support@example.com", &m);
    ok(n == 1 && m[0] == b, "Group inside a block is not part of the user");
    is_int(cs_policy_group(fx.pol, "alice@example.com", &m), 0, "a user is no group");
    ok(m == NULL, "members NULL when not a group");
    is_str(cs_policy_group_at(fx.pol, 0), "sales@example.com", "group_at");

    /* Reference counting. */
    ok(cs_policy_ref(fx.pol) == fx.pol, "ref returns the policy");
    cs_policy_unref(fx.pol);
    ok(cs_policy_user(fx.pol, "alice") == a, "still alive after ref/unref");
    fx_done(&fx);
}

static void test_many_users(void)
{
    fixture fx;
    cs_buf  text = {0};
    int     found = 0;

    fx_init(&fx);
    for (int i = 0; i < 2000; i++)
	cs_buf_appendf(&text, "User u%d\nAddress u%d@example.com\nLogin L%d\n", i, i, i);
    cs_buf_appendf(&text, "Group all@example.com u0");
    for (int i = 1; i < 2000; i++)
	cs_buf_appendf(&text, ", u%d", i);
    cs_buf_appendf(&text, "\n");
    fx_write(&fx, "many.policy", text.data);
    cs_buf_free(&text);
    ok(fx_load(&fx) != NULL, "2000 users load: %s", fx.err);
    for (int i = 0; fx.pol && i < 2000; i++) {
	char    id[32], addr[64], login[32];
	const cs_user *u;

	snprintf(id, sizeof(id), "u%d", i);
	snprintf(addr, sizeof(addr), "U%d+tag@example.com", i);
	snprintf(login, sizeof(login), "l%d", i);
	u = cs_policy_user(fx.pol, id);
	found += u && cs_policy_user_by_address(fx.pol, addr) == u
	    && cs_policy_user_by_login(fx.pol, login) == u;
    }
    is_int(found, 2000, "every user found by id, address and login");
    is_int(cs_policy_group(fx.pol, "all@example.com", NULL), 2000, "big group");
    fx_done(&fx);
}

/* Messages for the decisions. */
typedef struct tmsg {
    cs_msginfo info;
    cs_policy_msg m;
    const char *rcpts[8];
} tmsg;

/* tmsg_init - parse headers and fill the envelope */
static void tmsg_init(tmsg *t, const char *headers, const char *from, const char *rcpt1,
		              const char *rcpt2)
{
    memset(t, 0, sizeof(*t));
    if (cs_msginfo_parse(headers, strlen(headers), &t->info) < 0) {
	perror("cs_msginfo_parse");
	exit(1);
    }
    t->rcpts[0] = rcpt1;
    t->rcpts[1] = rcpt2;
    t->m.info = &t->info;
    t->m.env_from = from;
    t->m.env_rcpts = t->rcpts;
    t->m.nrcpts = rcpt2 ? 2 : 1;
    t->m.size = strlen(headers);
}

/* decide - one decision, as "synced" or the reason, labels joined by ',' */
static const char *decide(fixture *fx, const char *uid, tmsg *t, int dir, const char *env_to,
			          int joins, char *out, size_t outlen, int *conditional)
{
    const cs_user *u = cs_policy_user(fx->pol, uid);
    cs_decision d;
    size_t  len;

    if (u == NULL || cs_policy_decide(fx->pol, fx->cfg, u, &t->m, dir, env_to, joins, &d) < 0) {
	snprintf(out, outlen, "ERROR");
	return out;
    }
    snprintf(out, outlen, "%s", d.synced ? "synced" : d.reason);
    for (size_t i = 0; i < d.labels.n; i++) {
	len = strlen(out);
	snprintf(out + len, outlen - len, "%s%s", i ? "," : " ", d.labels.v[i]);
    }
    if (conditional)
	*conditional = d.conditional;
    if (d.synced && d.reason != NULL)
	snprintf(out, outlen, "synced with a reason");
    cs_decision_free(&d);
    return out;
}

#define HDR_EXT \
    "From: Client <client@customer.test>\r\n" \
    "To: Alice <alice@example.com>\r\n" \
    "Subject: the deal\r\n" \
    "Message-ID: <1@customer.test>\r\n\r\nbody\r\n"

#define SIEVE_LABELS \
    "require [\"fileinto\", \"envelope\", \"subaddress\"];\n" \
    "if header :contains \"subject\" \"deal\" { fileinto \"Sales\"; }\n" \
    "else { fileinto \"Other\"; }\n" \
    "if envelope :detail \"to\" \"crm\" { fileinto \"CRM\"; }\n"

static void test_decisions(void)
{
    fixture fx;
    tmsg    t;
    char    buf[256], want[512];
    int     cond;

    fx_init(&fx);
    cs_split_list("example.com", &fx.cfg->internal_domains);
    cs_split_list("bad@evil.test, @corp.test", &fx.cfg->block);
    fx_write(&fx, "labels.sieve", SIEVE_LABELS);
    fx_write(&fx, "broken.sieve", "require \"fileinto\";\nif true { fileinto \"x\" }\n");
    fx_write(&fx, "users.policy",
	     "User alice\nAddress alice@example.com\nRules labels.sieve\n"
	     "User lab\nAddress lab@example.com\nSync labels\nLabels Sales\nRules labels.sieve\n"
	     "User off\nAddress off@example.com\nSync off\nRules broken.sieve\n"
	     "User broken\nAddress broken@example.com\nRules broken.sieve\n"
	     "User missing\nAddress missing@example.com\nRules nowhere/x.sieve\n"
	     "User blocker\nAddress blocker@example.com\nBlock @spam.test, pest@other.test\n"
	     "User auto\nAddress auto@example.com\nExclude automated\n"
	     "User inside\nAddress inside@example.com\nSyncInternal yes\n"
	     "User corp\nAddress corp@corp.test\n"
	     "User nolab\nAddress nolab@example.com\nSync labels\nLabels Sales\n");
    if (!ok(fx_load(&fx) != NULL, "decision policy loads")) {
	diag("%s", fx.err);
	fx_done(&fx);
	return;
    }

    /* rules-error does not refuse the policy; it is listed as a problem. */
    {
	const cs_user *br = cs_policy_user(fx.pol, "broken");
	const cs_user *mi = cs_policy_user(fx.pol, "missing");
	const cs_strlist *p = cs_policy_problems(fx.pol);
	char    prefix[512];

	snprintf(prefix, sizeof(prefix), "%s/broken.sieve:2:", fx.dir);
	ok(br->rules_error && strncmp(br->rules_error, prefix, strlen(prefix)) == 0,
	   "parse error names script:line:col (%s)", br->rules_error ? br->rules_error : "NULL");
	snprintf(want, sizeof(want), "%s/nowhere/x.sieve: cannot read: No such file or directory",
		 fx.dir);
	is_str(mi->rules_error, want, "unreadable script, relative to the policy dir");
	/* Each broken script once, with the users it disables (-n, log). */
	is_int(p->n, 2, "two problems: broken.sieve (off, broken), x.sieve (missing)");
	snprintf(want, sizeof(want), "%s; user off, broken sync nothing (rules-error)",
		 br->rules_error);
	ok(p->n == 2 && strcmp(p->v[0], want) == 0, "a shared broken script is one problem (%s)",
	   p->n ? p->v[0] : "none");
	snprintf(want, sizeof(want), "%s; user missing syncs nothing (rules-error)", mi->rules_error);
	ok(p->n == 2 && strcmp(p->v[1], want) == 0, "problem line names the user");
	ok(cs_policy_user(fx.pol, "alice")->rules != NULL, "alice's script compiled");
	ok(cs_policy_user(fx.pol, "alice")->rules == cs_policy_user(fx.pol, "lab")->rules,
	   "one compiled copy per script");
    }

    tmsg_init(&t, HDR_EXT, "client@customer.test", "alice@example.com", NULL);
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, "alice@example.com", 0, buf, sizeof(buf), NULL),
	   "synced Sales", "all mode: synced, labels recorded");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, "alice+crm@example.com", 0, buf, sizeof(buf),
		  NULL), "synced Sales,CRM", "Sieve sees the copy's env_to");
    is_str(decide(&fx, "off", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "mode-off", "Sync off wins over a broken script");
    is_str(decide(&fx, "broken", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "rules-error", "broken script: rules-error");
    is_str(decide(&fx, "missing", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "rules-error", "missing script: rules-error");
    is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced", "no Rules: synced without labels");
    is_str(decide(&fx, "nolab", &t, CS_DIR_IN, NULL, 1, buf, sizeof(buf), NULL),
	   "synced", "labels mode without Rules: joins thread");
    is_str(decide(&fx, "nolab", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "no-label", "labels mode without Rules: no label");
    cs_msginfo_free(&t.info);

    /* Labels mode and joins_thread. */
    tmsg_init(&t, HDR_EXT, "client@customer.test", "lab@example.com", NULL);
    is_str(decide(&fx, "lab", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), &cond),
	   "synced Sales", "labels mode: selected label");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: client@customer.test\r\nSubject: hello\r\n\r\n",
	      "client@customer.test", "lab@example.com", NULL);
    is_str(decide(&fx, "lab", &t, CS_DIR_IN, NULL, 1, buf, sizeof(buf), &cond),
	   "synced Other", "labels mode: no label but joins a thread");
    is_int(cond, 0, "not conditional");
    is_str(decide(&fx, "lab", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), &cond),
	   "no-label Other", "labels mode: no label, no thread");
    is_int(cond, 0, "joins 0: not conditional");
    is_str(decide(&fx, "lab", &t, CS_DIR_IN, NULL, -1, buf, sizeof(buf), &cond),
	   "no-label Other", "labels mode: thread unknown");
    is_int(cond, 1, "joins -1: conditional");
    cs_msginfo_free(&t.info);

    /* blocked: user's list, @domain matches subdomains, global list. */
    tmsg_init(&t, "From: x@mail.spam.test\r\nTo: blocker@example.com\r\n\r\n",
	      "bounce@elsewhere.test", "blocker@example.com", NULL);
    is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "@domain blocks a subdomain (From)");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced Other", "another user's Block does not apply");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: x@notspam.test\r\n\r\n", "x@notspam.test", "blocker@example.com", NULL);
    is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced", "@spam.test does not match notspam.test");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: a@b.test\r\nReply-To: Pest+list@Other.test\r\n\r\n",
	      "a@b.test", "blocker@example.com", NULL);
    is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "Reply-To counts, normalized");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: a@b.test\r\n\r\n", "a@b.test", "alice@example.com", "bad@evil.test");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "global Block on an envelope recipient");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: Bad <BAD@evil.test>\r\n\r\n", "", "alice@example.com", NULL);
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "global Block on From");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: client@customer.test\r\nTo: corp@corp.test\r\n\r\n",
	      "client@customer.test", "corp@corp.test", NULL);
    is_str(decide(&fx, "corp", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced", "the user's own address never blocks");
    cs_msginfo_free(&t.info);

    /* automated. */
    {
	static const struct {
	    const char *hdr, *from, *want, *name;
	} cases[] = {
	    {"List-Id: <x.lists.test>\r\n", "a@b.test", "automated", "List-Id"},
	    {"Auto-Submitted: auto-replied\r\n", "a@b.test", "automated", "Auto-Submitted"},
	    {"Auto-Submitted: NO ; reason=x\r\n", "a@b.test", "synced",
	     "Auto-Submitted: no with parameters"},
	    {"Precedence: Bulk\r\n", "a@b.test", "automated", "Precedence bulk"},
	    {"Precedence: junk\r\n", "a@b.test", "automated", "Precedence junk"},
	    {"Precedence: list\r\n", "a@b.test", "automated", "Precedence list"},
	    {"Precedence: first-class\r\n", "a@b.test", "synced", "Precedence other"},
	    {"", "", "automated", "null return path"},
	    {"", "<>", "automated", "null return path <>"},
	    {"", "a@b.test", "synced", "plain mail"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	    char    hdr[512];

	    snprintf(hdr, sizeof(hdr), "From: a@b.test\r\n%s\r\nbody\r\n", cases[i].hdr);
	    tmsg_init(&t, hdr, cases[i].from, "auto@example.com", NULL);
	    is_str(decide(&fx, "auto", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
		   cases[i].want, cases[i].name);
	    if (strcmp(cases[i].want, "automated") == 0)
		is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
		       "synced", "without Exclude automated: synced");
	    cs_msginfo_free(&t.info);
	}
    }

    /* internal-only. */
    tmsg_init(&t, "From: blocker@example.com\r\nTo: Alice <alice@example.com>\r\n"
	      "Cc: x@sub.example.com\r\nReply-To: out@customer.test\r\n\r\n",
	      "blocker@example.com", "alice@example.com", "inside@example.com");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "internal-only", "all internal (subdomain too; Reply-To does not count)");
    is_str(decide(&fx, "inside", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced", "SyncInternal yes");
    is_str(decide(&fx, "blocker", &t, CS_DIR_OUT, NULL, 0, buf, sizeof(buf), NULL),
	   "internal-only", "outgoing internal mail too");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: blocker@example.com\r\nTo: alice@example.com\r\n"
	      "Cc: client@customer.test\r\n\r\n",
	      "blocker@example.com", "alice@example.com", NULL);
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced Other", "an external Cc: not internal-only");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: blocker@example.com\r\n\r\n",
	      "blocker@example.com", "alice@example.com", "client@customer.test");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "synced Other", "an external envelope-only recipient: not internal-only");
    cs_msginfo_free(&t.info);

    /* Order: blocked before automated before internal-only. */
    tmsg_init(&t, "From: x@spam.test\r\nList-Id: <l>\r\n\r\n", "", "blocker@example.com", NULL);
    is_str(decide(&fx, "blocker", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "blocked checked before automated");
    cs_msginfo_free(&t.info);

    /* rules-error detail is handed back. */
    {
	cs_decision d;
	const cs_user *mi = cs_policy_user(fx.pol, "missing");

	tmsg_init(&t, HDR_EXT, "client@customer.test", "missing@example.com", NULL);
	cs_policy_decide(fx.pol, fx.cfg, mi, &t.m, CS_DIR_IN, NULL, 0, &d);
	is_str(d.detail, mi->rules_error, "decision detail carries the script error");
	cs_decision_free(&d);
	cs_msginfo_free(&t.info);
    }
    fx_done(&fx);
}

/* The sample policies shipped in conf/ load and decide as documented. */
static void test_samples(void)
{
    const char *top = getenv("top_srcdir");
    cs_config *cfg = cs_config_default();
    cs_policy *pol;
    char    dir[1024], err[1024], buf[256];
    fixture fx;
    tmsg    t;

    if (top == NULL)
	top = ".";
    snprintf(dir, sizeof(dir), "%s/conf/policy", top);
    if (access(dir, R_OK) != 0) {
	snprintf(dir, sizeof(dir), "%s/../conf/policy", top);
	if (access(dir, R_OK) != 0) {
	    /* They ship in the source tree and the tarball: absent is a defect. */
	    ok(0, "sample policies found under %s", top);
	    cs_config_unref(cfg);
	    return;
	}
    }
    free(cfg->policy_dir);
    cfg->policy_dir = strdup(dir);
    cs_split_list("example.com", &cfg->internal_domains);
    pol = cs_policy_load(cfg, err, sizeof(err));
    if (!ok(pol != NULL, "sample policies load")) {
	diag("%s", err);
	cs_config_unref(cfg);
	return;
    }
    is_int(cs_policy_nusers(pol), 5, "five sample users");
    is_int(cs_policy_ngroups(pol), 2, "two sample groups");
    is_int(cs_policy_problems(pol)->n, 0, "sample Sieve scripts compile");
    if (cs_policy_problems(pol)->n)
	diag("%s", cs_policy_problems(pol)->v[0]);
    is_int(cs_policy_group(pol, "sales@example.com", NULL), 2, "sales@ has two members");
    ok(cs_policy_user_by_login(pol, "BOB") == cs_policy_user(pol, "bob"), "bob logs in as bob");

    /* decide() through the fixture helper. */
    memset(&fx, 0, sizeof(fx));
    fx.cfg = cfg;
    fx.pol = pol;
    tmsg_init(&t, "From: Client <x@client.example>\r\nTo: bob@example.com\r\n"
	      "Subject: hello\r\n\r\n", "x@client.example", "bob@example.com", NULL);
    is_str(decide(&fx, "bob", &t, CS_DIR_IN, "bob@example.com", 0, buf, sizeof(buf), NULL),
	   "synced Customers", "folders.sieve: customer domain -> Customers");
    is_str(decide(&fx, "carol", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "mode-off", "carol: Smart BCC only");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: p@prospect.example\r\nTo: bob@example.com\r\n"
	      "Subject: Re: your quote\r\n\r\n", "p@prospect.example", "bob@example.com", NULL);
    is_str(decide(&fx, "bob", &t, CS_DIR_IN, "bob@example.com", 0, buf, sizeof(buf), NULL),
	   "synced Deals", "folders.sieve: subject -> Deals");
    is_str(decide(&fx, "bob", &t, CS_DIR_IN, "bob+crm@example.com", 0, buf, sizeof(buf), NULL),
	   "synced Customers", "folders.sieve: +crm detail -> Customers");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: p@prospect.example\r\nTo: sales@example.com\r\n"
	      "Subject: hi\r\n\r\n", "p@prospect.example", "sales@example.com", NULL);
    is_str(decide(&fx, "dave", &t, CS_DIR_IN, "sales@example.com", 0, buf, sizeof(buf), NULL),
	   "no-label", "team.sieve: no customer, no label");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: x@mail.competitor.example\r\nTo: dave@example.com\r\n\r\n",
	      "x@mail.competitor.example", "dave@example.com", NULL);
    is_str(decide(&fx, "dave", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "blocked", "team Block list");
    cs_msginfo_free(&t.info);
    tmsg_init(&t, "From: dave@example.com\r\nTo: erin@example.com, alice@example.com\r\n\r\n",
	      "dave@example.com", "erin@example.com", "alice@example.com");
    is_str(decide(&fx, "alice", &t, CS_DIR_IN, NULL, 0, buf, sizeof(buf), NULL),
	   "internal-only", "alice: internal mail not synced");
    is_str(decide(&fx, "erin", &t, CS_DIR_IN, NULL, 1, buf, sizeof(buf), NULL),
	   "synced", "erin: SyncInternal yes, joins a thread");
    cs_msginfo_free(&t.info);
    cs_policy_unref(pol);
    cs_config_unref(cfg);
}

static void test_window(void)
{
    cs_user u;
    time_t  now = 1700000000;

    memset(&u, 0, sizeof(u));
    u.window = 30L * 86400;
    is_int(cs_policy_in_window(&u, now - 29L * 86400, now), 1, "29 days ago: in window");
    is_int(cs_policy_in_window(&u, now - 30L * 86400, now), 1, "exactly 30 days: in window");
    is_int(cs_policy_in_window(&u, now - 31L * 86400, now), 0, "31 days ago: out");
    is_int(cs_policy_in_window(&u, now + 3600, now), 1, "future Date: in window");
}

int     main(void)
{
    cs_log_init("t_policy", 0, 0, CS_LOG_ERROR);
    cs_message_init();
    test_refusals();
    test_refusal_files();
    test_defaults_and_lookups();
    test_many_users();
    test_decisions();
    test_samples();
    test_window();
    return done_testing();
}
