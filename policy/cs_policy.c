/*
 * NAME
 *	cs_policy 3
 * SUMMARY
 *	policy files: CRM users, groups, lookups (SPEC S1-S4, C2)
 * DESCRIPTION
 *	See cs_policy.h. Syntax (crmsync.policy(5)): "Key value" lines; a
 *	line whose first non-blank character is '#' is a comment; a '#'
 *	later on a line is part of the value (label names and paths may hold
 *	one). Keys and keywords are case-sensitive, as in crmsync.conf. A
 *	"User ID" line starts a block that runs to the next User line or the
 *	end of the file (a key before the first User of a file is an error).
 *	List keys (Address, Login, Labels, Block, Exclude) may be repeated
 *	and add up; the other keys may appear once per user. "Group ADDRESS
 *	USER, USER..." may appear anywhere and does not end a block; two
 *	Group lines for one address add up.
 *
 *	Checks that need the whole policy (group members, group addresses
 *	against user addresses) run after the last file; checks that need a
 *	whole block (Address present, Labels only with Sync labels, logins)
 *	run at the end of that block.
 *
 *	Rules scripts are compiled once per resolved path, so a team that
 *	shares one script shares one compiled copy.
 *
 *	Lookups by address and group normalize their argument with the
 *	config's SubaddressDelimiter first, so callers may pass an address
 *	as received.
 */
#include <config.h>

/* System library. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Utility library. */
#include "cs_addr.h"
#include "cs_log.h"
#include "cs_util.h"
#include "cs_value.h"

/* Application-specific. */
#include "cs_policy.h"

#define CS_POLICY_FILE_MAX	(16u << 20)	/* one policy file */
#define CS_RULES_FILE_MAX	(1u << 20)	/* one Sieve script */
#define CS_USER_ID_MAX		255

/* A string-keyed hash table of borrowed keys (open addressing). */
typedef struct cs_ptab_ent {
    const char *key;
    void   *val;
} cs_ptab_ent;

typedef struct cs_ptab {
    cs_ptab_ent *v;
    size_t  cap;			/* power of two, or 0 */
    size_t  n;
    int     nocase;
} cs_ptab;

typedef struct cs_group {
    char   *address;			/* normalized */
    cs_strlist member_ids;		/* as written, resolved at the end */
    const cs_user **members;
    size_t  nmembers;
    char   *file;
    int     line;
} cs_group;

typedef struct cs_script {
    char   *path;
    cs_sieve *sieve;
    char   *error;
} cs_script;

struct cs_policy {
    atomic_int refcount;
    char   *delims;			/* SubaddressDelimiter */
    cs_user **users;
    size_t  nusers, users_cap;
    cs_group **groups;
    size_t  ngroups, groups_cap;
    cs_script **scripts;
    size_t  nscripts, scripts_cap;
    cs_ptab by_id, by_addr, by_login, by_group, by_script;
    cs_strlist problems;
};

/* Where a key may appear. */
#define PK_USER		1		/* inside a User block only */
#define PK_ANY		2		/* anywhere */
#define PK_ONCE		4		/* at most once per user */

struct cs_pstate;
typedef int (*cs_pkey_fn) (struct cs_pstate *, char *value);

typedef struct cs_pkey {
    const char *name;
    cs_pkey_fn parse;
    int     flags;
} cs_pkey;

/* Parser state for one load. */
typedef struct cs_pstate {
    cs_policy *pol;
    const cs_config *cfg;
    const char *file;			/* current file path */
    const char *dir;			/* its directory (PolicyDir) */
    int     line;
    cs_user *cur;			/* open User block, or NULL */
    unsigned seen;			/* PK_ONCE keys seen in the block */
    int     labels_line;		/* first Labels line of the block */
    int     login_line;			/* first Login line of the block */
    char   *err;
    size_t  errlen;
} cs_pstate;

/* cs_ptab_hash - FNV-1a, optionally over lower-cased bytes */
static uint64_t cs_ptab_hash(const char *s, int nocase)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
	unsigned char c = (unsigned char) *s;

	if (nocase && c >= 'A' && c <= 'Z')
	    c = (unsigned char) (c - 'A' + 'a');
	h = (h ^ c) * 1099511628211ULL;
    }
    return h;
}

/* cs_ptab_slot - the slot holding key, or the empty one where it would go */
static cs_ptab_ent *cs_ptab_slot(const cs_ptab *t, const char *key)
{
    size_t  mask = t->cap - 1;
    size_t  i = (size_t) cs_ptab_hash(key, t->nocase) & mask;

    for (;;) {
	cs_ptab_ent *e = &t->v[i];

	if (e->key == NULL)
	    return e;
	if (t->nocase ? cs_strcaseeq(e->key, key) : strcmp(e->key, key) == 0)
	    return e;
	i = (i + 1) & mask;
    }
}

/* cs_ptab_get - value for key, or NULL */
static void *cs_ptab_get(const cs_ptab *t, const char *key)
{
    if (t->cap == 0 || key == NULL)
	return NULL;
    return cs_ptab_slot(t, key)->val;
}

/* cs_ptab_put - insert key (borrowed) unless present; -1 ENOMEM */
static int cs_ptab_put(cs_ptab *t, const char *key, void *val)
{
    cs_ptab_ent *e;

    /* Grow at half full: probes stay short and a free slot always exists. */
    if ((t->n + 1) * 2 > t->cap) {
	size_t  ncap = t->cap ? t->cap * 2 : 64;
	cs_ptab nt = {calloc(ncap, sizeof(cs_ptab_ent)), ncap, 0, t->nocase};

	if (nt.v == NULL || ncap < t->cap) {
	    free(nt.v);
	    return -1;
	}
	for (size_t i = 0; i < t->cap; i++)
	    if (t->v[i].key) {
		*cs_ptab_slot(&nt, t->v[i].key) = t->v[i];
		nt.n++;
	    }
	free(t->v);
	*t = nt;
    }
    e = cs_ptab_slot(t, key);
    if (e->key == NULL) {
	e->key = key;
	e->val = val;
	t->n++;
    }
    return 0;
}

/* cs_grow - make room for one more pointer in an array */
static int cs_grow(void *arrp, size_t n, size_t *cap)
{
    void  **arr = (void **) arrp;
    void   *nv;
    size_t  ncap;

    if (n < *cap)
	return 0;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / sizeof(void *))
	return -1;
    if ((nv = realloc(*arr, ncap * sizeof(void *))) == NULL)
	return -1;
    *arr = nv;
    *cap = ncap;
    return 0;
}

/* cs_perr - "file:line: what" into the caller's error buffer */
__attribute__((format(printf, 2, 3)))
static int cs_perr(cs_pstate *ps, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (ps->errlen == 0)
	return -1;
    n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, ps->line);
    if (n >= 0 && (size_t) n < ps->errlen) {
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t) n, fmt, ap);
	va_end(ap);
    }
    return -1;
}

#define SAN(s, buf) cs_sanitize((s), (buf), sizeof(buf))

/* cs_nomem - the one error that is not the file's fault */
static int cs_nomem(cs_pstate *ps)
{
    return cs_perr(ps, "out of memory");
}

/* cs_read_bounded - read a regular file of at most limit bytes */
static int cs_read_bounded(const char *path, size_t limit, cs_buf *out, const char **why)
{
    struct stat st;
    char    chunk[8192];
    ssize_t got;
    int     fd;

    /* O_NONBLOCK: a FIFO named as a script must not hang a reload. */
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
	*why = strerror(errno);
	return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
	*why = "not a regular file";
	close(fd);
	return -1;
    }
    out->limit = limit;
    for (;;) {
	got = read(fd, chunk, sizeof(chunk));
	if (got < 0 && errno == EINTR)
	    continue;
	if (got < 0) {
	    *why = strerror(errno);
	    break;
	}
	if (got == 0) {
	    close(fd);
	    if (out->data == NULL && cs_buf_append(out, "", 0) < 0) {
		*why = "out of memory";
		return -1;
	    }
	    return 0;
	}
	if (cs_buf_append(out, chunk, (size_t) got) < 0) {
	    *why = out->len + (size_t) got > limit ? "file too large" : "out of memory";
	    break;
	}
    }
    close(fd);
    return -1;
}

/* cs_user_free - release one user (the compiled script is the policy's) */
static void cs_user_free(cs_user *u)
{
    if (u == NULL)
	return;
    free(u->id);
    cs_strlist_free(&u->addresses);
    cs_strlist_free(&u->logins);
    cs_strlist_free(&u->labels);
    free(u->rules_path);
    free(u->rules_error);
    cs_strlist_free(&u->block);
    free(u->file);
    free(u);
}

/* cs_policy_free - release everything */
static void cs_policy_free(cs_policy *pol)
{
    if (pol == NULL)
	return;
    for (size_t i = 0; i < pol->nusers; i++)
	cs_user_free(pol->users[i]);
    free(pol->users);
    for (size_t i = 0; i < pol->ngroups; i++) {
	cs_group *g = pol->groups[i];

	free(g->address);
	cs_strlist_free(&g->member_ids);
	free(g->members);
	free(g->file);
	free(g);
    }
    free(pol->groups);
    for (size_t i = 0; i < pol->nscripts; i++) {
	cs_script *s = pol->scripts[i];

	free(s->path);
	cs_sieve_free(s->sieve);
	free(s->error);
	free(s);
    }
    free(pol->scripts);
    free(pol->by_id.v);
    free(pol->by_addr.v);
    free(pol->by_login.v);
    free(pol->by_group.v);
    free(pol->by_script.v);
    cs_strlist_free(&pol->problems);
    free(pol->delims);
    free(pol);
}

/* cs_valid_user_id - one printable word: it shows up in JSON, logs, store keys */
static int cs_valid_user_id(const char *id)
{
    size_t  n = strlen(id);

    if (n == 0 || n > CS_USER_ID_MAX)
	return 0;
    for (const char *p = id; *p; p++)
	if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || *p == ',')
	    return 0;
    return 1;
}

/* cs_split_nonempty - split a list value; an empty list is an empty value */
static int cs_split_nonempty(cs_pstate *ps, const char *key, const char *value,
			             cs_strlist *out)
{
    if (cs_split_list(value, out) < 0)
	return cs_nomem(ps);
    if (out->n == 0)
	return cs_perr(ps, "%s: empty value", key);
    return 0;
}

/* cs_finish_user - end-of-block checks and defaults */
static int cs_finish_user(cs_pstate *ps)
{
    cs_user *u = ps->cur;
    int     save_line = ps->line;
    int     rc = 0;

    if (u == NULL)
	return 0;
    ps->cur = NULL;
    if (u->addresses.n == 0) {
	ps->line = u->line;
	rc = cs_perr(ps, "user \"%s\" has no Address", u->id);
    } else if (u->labels.n > 0 && u->sync != CS_SYNC_LABELS) {
	ps->line = ps->labels_line;
	rc = cs_perr(ps, "Labels without Sync labels (user \"%s\")", u->id);
    } else {
	/* Default logins are the addresses (SPEC Words). */
	if (u->logins.n == 0 && cs_strlist_copy(&u->logins, &u->addresses) < 0)
	    rc = cs_nomem(ps);
	ps->line = ps->login_line ? ps->login_line : u->line;
	for (size_t i = 0; rc == 0 && i < u->logins.n; i++) {
	    const cs_user *other = cs_ptab_get(&ps->pol->by_login, u->logins.v[i]);
	    char    b1[128];

	    if (other && other != u)
		rc = cs_perr(ps, "login \"%s\" of user \"%s\" is already a login of user \"%s\"",
			     SAN(u->logins.v[i], b1), u->id, other->id);
	    else if (cs_ptab_put(&ps->pol->by_login, u->logins.v[i], u) < 0)
		rc = cs_nomem(ps);
	}
    }
    ps->line = save_line;
    return rc;
}

/* cs_k_user - User ID: start a block */
static int cs_k_user(cs_pstate *ps, char *value)
{
    cs_policy *pol = ps->pol;
    const cs_user *dup;
    cs_user *u;
    char    b1[128];

    if (cs_finish_user(ps) < 0)
	return -1;
    if (!cs_valid_user_id(value))
	return cs_perr(ps, "bad user id \"%s\": one word of printable ASCII, no comma",
		       SAN(value, b1));
    if ((dup = cs_ptab_get(&pol->by_id, value)) != NULL)
	return cs_perr(ps, "duplicate user \"%s\" (first at %s:%d)", value, dup->file, dup->line);
    if ((u = calloc(1, sizeof(*u))) == NULL
	|| (u->id = cs_strdup(value)) == NULL
	|| (u->file = cs_strdup(ps->file)) == NULL
	|| cs_grow(&pol->users, pol->nusers, &pol->users_cap) < 0) {
	cs_user_free(u);
	return cs_nomem(ps);
    }
    u->line = ps->line;
    u->role = CS_ROLE_USER;
    u->sync = ps->cfg->default_sync;
    u->window = ps->cfg->default_window;
    u->retention = ps->cfg->retention;
    u->sync_internal = ps->cfg->sync_internal;
    pol->users[pol->nusers++] = u;
    if (cs_ptab_put(&pol->by_id, u->id, u) < 0)
	return cs_nomem(ps);
    ps->cur = u;
    ps->seen = 0;
    ps->labels_line = 0;
    ps->login_line = 0;
    return 0;
}

/* cs_k_address - Address LIST: normalized, each claimed by one user only */
static int cs_k_address(cs_pstate *ps, char *value)
{
    cs_strlist items = {0};
    char    norm[CS_ADDR_MAX + 1], b1[128];
    int     rc = cs_split_nonempty(ps, "Address", value, &items);

    for (size_t i = 0; rc == 0 && i < items.n; i++) {
	const cs_user *other;

	if (cs_addr_normalize(items.v[i], ps->cfg->subaddress_delimiter,
			      norm, sizeof(norm)) < 0) {
	    rc = cs_perr(ps, "bad address \"%s\"", SAN(items.v[i], b1));
	} else if ((other = cs_ptab_get(&ps->pol->by_addr, norm)) != NULL) {
	    if (other != ps->cur)
		rc = cs_perr(ps, "address %s is claimed by user \"%s\" and user \"%s\"",
			     norm, other->id, ps->cur->id);
	} else if (cs_strlist_add(&ps->cur->addresses, norm) < 0
		   || cs_ptab_put(&ps->pol->by_addr,
			       ps->cur->addresses.v[ps->cur->addresses.n - 1],
				  ps->cur) < 0) {
	    rc = cs_nomem(ps);
	}
    }
    cs_strlist_free(&items);
    return rc;
}

/* cs_k_login - Login LIST: SMTP AUTH names, kept as written */
static int cs_k_login(cs_pstate *ps, char *value)
{
    cs_strlist items = {0};
    int     rc = cs_split_nonempty(ps, "Login", value, &items);

    if (ps->login_line == 0)
	ps->login_line = ps->line;
    for (size_t i = 0; rc == 0 && i < items.n; i++)
	if (!cs_strlist_contains_ci(&ps->cur->logins, items.v[i])
	    && cs_strlist_add(&ps->cur->logins, items.v[i]) < 0)
	    rc = cs_nomem(ps);
    cs_strlist_free(&items);
    return rc;
}

/* cs_k_role - Role user|admin */
static int cs_k_role(cs_pstate *ps, char *value)
{
    char    b1[128];

    if (strcmp(value, "user") == 0)
	ps->cur->role = CS_ROLE_USER;
    else if (strcmp(value, "admin") == 0)
	ps->cur->role = CS_ROLE_ADMIN;
    else
	return cs_perr(ps, "bad Role \"%s\": user or admin", SAN(value, b1));
    return 0;
}

/* cs_k_sync - Sync all|labels|off */
static int cs_k_sync(cs_pstate *ps, char *value)
{
    char    b1[128];

    if (strcmp(value, "all") == 0)
	ps->cur->sync = CS_SYNC_ALL;
    else if (strcmp(value, "labels") == 0)
	ps->cur->sync = CS_SYNC_LABELS;
    else if (strcmp(value, "off") == 0)
	ps->cur->sync = CS_SYNC_OFF;
    else
	return cs_perr(ps, "bad Sync \"%s\": all, labels or off", SAN(value, b1));
    return 0;
}

/* cs_k_labels - Labels LIST: checked against Sync at the end of the block */
static int cs_k_labels(cs_pstate *ps, char *value)
{
    cs_strlist items = {0};
    int     rc = cs_split_nonempty(ps, "Labels", value, &items);

    if (ps->labels_line == 0)
	ps->labels_line = ps->line;
    for (size_t i = 0; rc == 0 && i < items.n; i++)
	if (cs_strlist_add_unique(&ps->cur->labels, items.v[i]) < 0)
	    rc = cs_nomem(ps);
    cs_strlist_free(&items);
    return rc;
}

/* cs_k_window - Window DURATION */
static int cs_k_window(cs_pstate *ps, char *value)
{
    const char *why = "bad duration";
    char    b1[128];

    if (cs_parse_duration(value, &ps->cur->window, &why) < 0)
	return cs_perr(ps, "bad Window \"%s\": %s", SAN(value, b1), why);
    return 0;
}

/* cs_k_retention - Retention DURATION (R1) */
static int cs_k_retention(cs_pstate *ps, char *value)
{
    const char *why = "bad duration";
    char    b1[128];

    if (cs_parse_duration(value, &ps->cur->retention, &why) < 0)
	return cs_perr(ps, "bad Retention \"%s\": %s", SAN(value, b1), why);
    /* As crmsync.conf's Retention: a slip such as "1s" must not delete a
     * whole mailbox. */
    if (ps->cur->retention < 86400L || ps->cur->retention > 36500L * 86400)
	return cs_perr(ps, "bad Retention \"%s\": out of range (duration from 1d to 36500d)",
		       SAN(value, b1));
    return 0;
}

/* cs_k_rules - Rules PATH, relative to the policy file's directory */
static int cs_k_rules(cs_pstate *ps, char *value)
{
    cs_buf  path = {0};

    if (value[0] == '/')
	cs_buf_append(&path, value, strlen(value));
    else
	cs_buf_appendf(&path, "%s/%s", ps->dir, value);
    if (path.data == NULL)
	return cs_nomem(ps);
    ps->cur->rules_path = path.data;		/* cs_buf data is plain malloc */
    return 0;
}

/* cs_k_block - Block LIST of addresses and @domains */
static int cs_k_block(cs_pstate *ps, char *value)
{
    cs_strlist items = {0};
    char    norm[CS_ADDR_MAX + 2], b1[128];
    int     rc = cs_split_nonempty(ps, "Block", value, &items);

    for (size_t i = 0; rc == 0 && i < items.n; i++) {
	const char *item = items.v[i];
	const char *entry = norm;

	if (item[0] == '@') {
	    /* "@dom": normalize "x@dom" the way an address is, keep "@dom". */
	    char    probe[CS_ADDR_MAX + 3];

	    if (strlen(item) > CS_ADDR_MAX - 1 || strchr(item + 1, '@')
		|| snprintf(probe, sizeof(probe), "x%s", item) < 0
		|| cs_addr_normalize(probe, "", norm, sizeof(norm)) < 0) {
		rc = cs_perr(ps, "bad Block entry \"%s\"", SAN(item, b1));
		continue;
	    }
	    entry = norm + 1;
	} else if (cs_addr_normalize(item, ps->cfg->subaddress_delimiter,
				     norm, sizeof(norm)) < 0) {
	    rc = cs_perr(ps, "bad Block entry \"%s\"", SAN(item, b1));
	    continue;
	}
	if (cs_strlist_add_unique(&ps->cur->block, entry) < 0)
	    rc = cs_nomem(ps);
    }
    cs_strlist_free(&items);
    return rc;
}

/* cs_k_exclude - Exclude LIST; "automated" is the only class so far */
static int cs_k_exclude(cs_pstate *ps, char *value)
{
    cs_strlist items = {0};
    char    b1[128];
    int     rc = cs_split_nonempty(ps, "Exclude", value, &items);

    for (size_t i = 0; rc == 0 && i < items.n; i++) {
	if (strcmp(items.v[i], "automated") == 0)
	    ps->cur->exclude_automated = 1;
	else
	    rc = cs_perr(ps, "bad Exclude \"%s\": only automated", SAN(items.v[i], b1));
    }
    cs_strlist_free(&items);
    return rc;
}

/* cs_k_sync_internal - SyncInternal yes|no */
static int cs_k_sync_internal(cs_pstate *ps, char *value)
{
    const char *why = "yes or no";
    char    b1[128];

    if (cs_parse_bool(value, &ps->cur->sync_internal, &why) < 0)
	return cs_perr(ps, "bad SyncInternal \"%s\": %s", SAN(value, b1), why);
    return 0;
}

/* cs_k_group - Group ADDRESS USER, USER...: members resolved at the end */
static int cs_k_group(cs_pstate *ps, char *value)
{
    cs_policy *pol = ps->pol;
    char    norm[CS_ADDR_MAX + 1], b1[128];
    char   *sp = value + strcspn(value, " \t");
    cs_strlist ids = {0};
    cs_group *g;
    int     rc;

    if (*sp == 0)
	return cs_perr(ps, "Group needs an address and at least one user");
    *sp++ = 0;
    if (cs_addr_normalize(value, ps->cfg->subaddress_delimiter, norm, sizeof(norm)) < 0)
	return cs_perr(ps, "bad Group address \"%s\"", SAN(value, b1));
    if ((rc = cs_split_nonempty(ps, "Group", sp, &ids)) < 0) {
	cs_strlist_free(&ids);
	return rc;
    }
    if ((g = cs_ptab_get(&pol->by_group, norm)) == NULL) {
	if ((g = calloc(1, sizeof(*g))) == NULL
	    || (g->address = cs_strdup(norm)) == NULL
	    || (g->file = cs_strdup(ps->file)) == NULL
	    || cs_grow(&pol->groups, pol->ngroups, &pol->groups_cap) < 0) {
	    if (g) {
		free(g->address);
		free(g->file);
		free(g);
	    }
	    cs_strlist_free(&ids);
	    return cs_nomem(ps);
	}
	g->line = ps->line;
	pol->groups[pol->ngroups++] = g;
	if (cs_ptab_put(&pol->by_group, g->address, g) < 0)
	    rc = cs_nomem(ps);
    }
    for (size_t i = 0; rc == 0 && i < ids.n; i++)
	if (cs_strlist_add_unique(&g->member_ids, ids.v[i]) < 0)
	    rc = cs_nomem(ps);
    cs_strlist_free(&ids);
    return rc;
}

/* The one table of policy keys. */
static const cs_pkey cs_pkeys[] = {
    {"User", cs_k_user, PK_ANY},
    {"Group", cs_k_group, PK_ANY},
    {"Address", cs_k_address, PK_USER},
    {"Login", cs_k_login, PK_USER},
    {"Role", cs_k_role, PK_USER | PK_ONCE},
    {"Sync", cs_k_sync, PK_USER | PK_ONCE},
    {"Labels", cs_k_labels, PK_USER},
    {"Window", cs_k_window, PK_USER | PK_ONCE},
    {"Retention", cs_k_retention, PK_USER | PK_ONCE},
    {"Rules", cs_k_rules, PK_USER | PK_ONCE},
    {"Block", cs_k_block, PK_USER},
    {"Exclude", cs_k_exclude, PK_USER},
    {"SyncInternal", cs_k_sync_internal, PK_USER | PK_ONCE},
};

#define CS_NPKEYS (sizeof(cs_pkeys) / sizeof(cs_pkeys[0]))

/* cs_parse_line - one line, already without its newline */
static int cs_parse_line(cs_pstate *ps, char *line)
{
    const cs_pkey *k = NULL;
    char   *key, *value, b1[64];
    size_t  i;

    key = line;
    while (*key == ' ' || *key == '\t')
	key++;
    if (*key == 0 || *key == '#')
	return 0;
    value = key + strcspn(key, " \t");
    if (*value)
	*value++ = 0;
    value = cs_trim(value);
    for (i = 0; i < CS_NPKEYS; i++)
	if (strcmp(cs_pkeys[i].name, key) == 0) {
	    k = &cs_pkeys[i];
	    break;
	}
    if (k == NULL)
	return cs_perr(ps, "unknown key \"%s\"", SAN(key, b1));
    if (*value == 0)
	return cs_perr(ps, "%s: empty value", k->name);
    if ((k->flags & PK_USER) && ps->cur == NULL)
	return cs_perr(ps, "%s before any User line", k->name);
    if (k->flags & PK_ONCE) {
	if (ps->seen & (1u << i))
	    return cs_perr(ps, "%s given twice for user \"%s\"", k->name, ps->cur->id);
	ps->seen |= 1u << i;
    }
    return k->parse(ps, value);
}

/* cs_parse_file - every line of one policy file; a block ends with its file */
static int cs_parse_file(cs_pstate *ps, const char *path)
{
    cs_buf  buf = {0};
    const char *why;
    char   *p, *end;
    int     rc = 0;

    ps->file = path;
    ps->line = 0;
    if (cs_read_bounded(path, CS_POLICY_FILE_MAX, &buf, &why) < 0) {
	cs_buf_free(&buf);
	snprintf(ps->err, ps->errlen, "%s: cannot read: %s", path, why);
	return -1;
    }
    p = buf.data;
    end = buf.data + buf.len;
    while (rc == 0 && p < end) {
	char   *nl = memchr(p, '\n', (size_t) (end - p));
	char   *eol = nl ? nl : end;

	ps->line++;
	/* A NUL would silently cut the line short: refuse it. */
	if (memchr(p, 0, (size_t) (eol - p)) != NULL) {
	    rc = cs_perr(ps, "NUL byte in line");
	    break;
	}
	*eol = 0;
	if (eol > p && eol[-1] == '\r')
	    eol[-1] = 0;
	rc = cs_parse_line(ps, p);
	p = eol + 1;
    }
    if (rc == 0)
	rc = cs_finish_user(ps);
    cs_buf_free(&buf);
    return rc;
}

/* cs_name_cmp - qsort by file name */
static int cs_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* cs_policy_files - regular "*.policy" files of dir, sorted by name */
static int cs_policy_files(const char *dir, cs_strlist *out, char *err, size_t errlen)
{
    DIR    *d;
    struct dirent *de;
    cs_buf  path = {0};

    if ((d = opendir(dir)) == NULL) {
	snprintf(err, errlen, "%s: cannot open policy directory: %s", dir, strerror(errno));
	return -1;
    }
    while ((de = readdir(d)) != NULL) {
	size_t  n = strlen(de->d_name);
	struct stat st;

	/* Dot files are editor and package-manager leftovers. */
	if (de->d_name[0] == '.' || n <= 7 || strcmp(de->d_name + n - 7, ".policy") != 0)
	    continue;
	cs_buf_reset(&path);
	if (cs_buf_appendf(&path, "%s/%s", dir, de->d_name) < 0) {
	    snprintf(err, errlen, "out of memory");
	    goto fail;
	}
	if (stat(path.data, &st) < 0 || !S_ISREG(st.st_mode))
	    continue;
	if (cs_strlist_add(out, path.data) < 0) {
	    snprintf(err, errlen, "out of memory");
	    goto fail;
	}
    }
    closedir(d);
    cs_buf_free(&path);
    if (out->n > 1)
	qsort(out->v, out->n, sizeof(char *), cs_name_cmp);
    return 0;

fail:
    closedir(d);
    cs_buf_free(&path);
    return -1;
}

/* cs_resolve_groups - members exist; group addresses are nobody's address */
static int cs_resolve_groups(cs_pstate *ps)
{
    cs_policy *pol = ps->pol;

    for (size_t i = 0; i < pol->ngroups; i++) {
	cs_group *g = pol->groups[i];
	const cs_user *owner;

	ps->file = g->file;
	ps->line = g->line;
	if ((owner = cs_ptab_get(&pol->by_addr, g->address)) != NULL)
	    return cs_perr(ps, "group address %s is also an address of user \"%s\"",
			   g->address, owner->id);
	if ((g->members = calloc(g->member_ids.n, sizeof(*g->members))) == NULL)
	    return cs_nomem(ps);
	for (size_t j = 0; j < g->member_ids.n; j++) {
	    const cs_user *u = cs_ptab_get(&pol->by_id, g->member_ids.v[j]);
	    char    b1[128];

	    if (u == NULL)
		return cs_perr(ps, "group %s names unknown user \"%s\"",
			       g->address, SAN(g->member_ids.v[j], b1));
	    g->members[g->nmembers++] = u;
	}
    }
    return 0;
}

/* cs_rules_problems - one problem per broken script, naming its users */
static int cs_rules_problems(cs_policy *pol)
{
    /*
     * A script several users share is one fault: -n, policy check and the
     * log say it once, with who syncs nothing because of it (S2).
     */
    for (size_t i = 0; i < pol->nscripts; i++) {
	const cs_script *s = pol->scripts[i];
	cs_buf  line = {0};
	size_t  n = 0;
	int     bad;

	if (s->error == NULL)
	    continue;
	bad = cs_buf_appendf(&line, "%s; ", s->error) < 0;
	for (size_t j = 0; j < pol->nusers; j++) {
	    const cs_user *u = pol->users[j];

	    if (u->rules_path && strcmp(u->rules_path, s->path) == 0)
		bad |= cs_buf_appendf(&line, "%s%s", n++ ? ", " : "user ", u->id) < 0;
	}
	bad |= cs_buf_appendf(&line, " sync%s nothing (rules-error)", n == 1 ? "s" : "") < 0;
	if (bad || cs_strlist_add(&pol->problems, line.data) < 0) {
	    cs_buf_free(&line);
	    return -1;
	}
	cs_buf_free(&line);
    }
    return 0;
}

/* cs_compile_rules - compile each script once; failures only mark users */
static int cs_compile_rules(cs_policy *pol)
{
    for (size_t i = 0; i < pol->nusers; i++) {
	cs_user *u = pol->users[i];
	cs_script *s;

	if (u->rules_path == NULL)
	    continue;
	if ((s = cs_ptab_get(&pol->by_script, u->rules_path)) == NULL) {
	    cs_buf  text = {0};
	    const char *why;
	    char    err[512];
	    cs_buf  msg = {0};

	    if ((s = calloc(1, sizeof(*s))) == NULL
		|| (s->path = cs_strdup(u->rules_path)) == NULL
		|| cs_grow(&pol->scripts, pol->nscripts, &pol->scripts_cap) < 0) {
		if (s)
		    free(s->path);
		free(s);
		return -1;
	    }
	    pol->scripts[pol->nscripts++] = s;
	    if (cs_ptab_put(&pol->by_script, s->path, s) < 0)
		return -1;
	    if (cs_read_bounded(s->path, CS_RULES_FILE_MAX, &text, &why) < 0) {
		cs_buf_appendf(&msg, "%s: cannot read: %s", s->path, why);
	    } else {
		err[0] = 0;
		s->sieve = cs_sieve_compile(text.data, text.len, err, sizeof(err));
		if (s->sieve == NULL)
		    cs_buf_appendf(&msg, "%s:%s", s->path, err[0] ? err : " cannot compile");
	    }
	    cs_buf_free(&text);
	    if (s->sieve == NULL) {
		if (msg.data == NULL)
		    return -1;
		s->error = msg.data;
	    }
	}
	u->rules = s->sieve;
	if (s->error && (u->rules_error = cs_strdup(s->error)) == NULL)
	    return -1;
    }
    return cs_rules_problems(pol);
}

/* cs_policy_load - read PolicyDir; NULL and "file:line: what" if refused */
cs_policy *cs_policy_load(const cs_config *cfg, char *err, size_t errlen)
{
    cs_policy *pol;
    cs_strlist files = {0};
    cs_pstate ps = {0};
    char    dummy[1];

    if (err == NULL || errlen == 0) {
	err = dummy;
	errlen = sizeof(dummy);
    }
    err[0] = 0;
    if ((pol = calloc(1, sizeof(*pol))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return NULL;
    }
    atomic_init(&pol->refcount, 1);
    pol->by_login.nocase = 1;
    if ((pol->delims = cs_strdup(cfg->subaddress_delimiter ?
				 cfg->subaddress_delimiter : "")) == NULL) {
	snprintf(err, errlen, "out of memory");
	goto fail;
    }
    /* No PolicyDir: no users; the milter then records nothing. */
    if (cfg->policy_dir == NULL)
	return pol;
    if (cs_policy_files(cfg->policy_dir, &files, err, errlen) < 0)
	goto fail;
    ps.pol = pol;
    ps.cfg = cfg;
    ps.dir = cfg->policy_dir;
    ps.err = err;
    ps.errlen = errlen;
    for (size_t i = 0; i < files.n; i++)
	if (cs_parse_file(&ps, files.v[i]) < 0)
	    goto fail;
    if (cs_resolve_groups(&ps) < 0)
	goto fail;
    if (cs_compile_rules(pol) < 0) {
	snprintf(err, errlen, "out of memory");
	goto fail;
    }
    cs_strlist_free(&files);
    return pol;

fail:
    cs_strlist_free(&files);
    cs_policy_free(pol);
    return NULL;
}

/* cs_policy_ref - one more holder */
cs_policy *cs_policy_ref(cs_policy *pol)
{
    if (pol)
	atomic_fetch_add(&pol->refcount, 1);
    return pol;
}

/* cs_policy_unref - the last holder frees */
void    cs_policy_unref(cs_policy *pol)
{
    if (pol && atomic_fetch_sub(&pol->refcount, 1) == 1)
	cs_policy_free(pol);
}

/* cs_policy_nusers - how many users */
size_t  cs_policy_nusers(const cs_policy *pol)
{
    return pol ? pol->nusers : 0;
}

/* cs_policy_user_at - users in file order */
const cs_user *cs_policy_user_at(const cs_policy *pol, size_t i)
{
    return pol && i < pol->nusers ? pol->users[i] : NULL;
}

/* cs_policy_user - by id (case-sensitive) */
const cs_user *cs_policy_user(const cs_policy *pol, const char *id)
{
    return pol ? cs_ptab_get(&pol->by_id, id) : NULL;
}

/* cs_policy_user_by_address - by address, normalized here */
const cs_user *cs_policy_user_by_address(const cs_policy *pol, const char *addr)
{
    char    norm[CS_ADDR_MAX + 1];

    if (pol == NULL || cs_addr_normalize(addr, pol->delims, norm, sizeof(norm)) < 0)
	return NULL;
    return cs_ptab_get(&pol->by_addr, norm);
}

/* cs_policy_user_by_login - by SMTP AUTH login, case-insensitive */
const cs_user *cs_policy_user_by_login(const cs_policy *pol, const char *login)
{
    return pol ? cs_ptab_get(&pol->by_login, login) : NULL;
}

/* cs_policy_group - members of a group address */
size_t  cs_policy_group(const cs_policy *pol, const char *addr,
			        const cs_user *const **members)
{
    char    norm[CS_ADDR_MAX + 1];
    const cs_group *g;

    if (members)
	*members = NULL;
    if (pol == NULL || cs_addr_normalize(addr, pol->delims, norm, sizeof(norm)) < 0
	|| (g = cs_ptab_get(&pol->by_group, norm)) == NULL)
	return 0;
    if (members)
	*members = (const cs_user *const *) g->members;
    return g->nmembers;
}

/* cs_policy_ngroups - how many group addresses */
size_t  cs_policy_ngroups(const cs_policy *pol)
{
    return pol ? pol->ngroups : 0;
}

/* cs_policy_group_at - group addresses in order of first mention */
const char *cs_policy_group_at(const cs_policy *pol, size_t i)
{
    return pol && i < pol->ngroups ? pol->groups[i]->address : NULL;
}

/* cs_policy_problems - broken Rules scripts, one line each with their users */
const cs_strlist *cs_policy_problems(const cs_policy *pol)
{
    return pol ? &pol->problems : NULL;
}
