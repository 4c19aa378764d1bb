/*
 * NAME
 *	cs_config 3
 * SUMMARY
 *	crmsync.conf parser driven by one table of keys
 * DESCRIPTION
 *	See cs_config.h. To add a key: a field in struct cs_config, a row in
 *	key_table, a line in conf/crmsync.conf and in crmsync.conf(5). The
 *	default is written as it would be in the file and parsed by the same
 *	code, so defaults cannot drift from the syntax.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_config.h"
#include "cs_log.h"

#define CS_CONFIG_LINE_MAX	8192

enum key_type {
    T_STRING, T_LIST, T_DOMAINS, T_ADDRS, T_BLOCK, T_DURATION, T_MSEC, T_SIZE,
    T_BOOL, T_OCTAL, T_ONERROR, T_SYNC, T_CIDRS, T_LOGLEVEL, T_FACILITY, T_SOCKET,
    T_DIR,				/* a path: a directory the milter makes */
    T_PATH,				/* a file or directory name */
    T_STORE,				/* a file name or a postgresql:// URI */
};

static const char *const type_names[] = {
    "string", "list", "domain list", "address list", "block list", "duration",
    "duration", "size", "boolean", "octal", "accept|tempfail", "all|labels|off",
    "network list", "error|warn|info|debug", "syslog facility", "socket",
    "directory", "path", "path or URI",
};

/*
 * One row per key, as Postfix's CONFIG_*_TABLE rows: name, type, field,
 * default, whether SIGUSR1 applies a change, and for numbers (durations,
 * sizes, octal) the smallest and largest value accepted. Defaults and
 * bounds are written as in the file and parsed by the same code; a row
 * may stop after "reload" (no bounds).
 */
typedef struct key_def {
    const char *name;
    enum key_type type;
    size_t  off;
    const char *dflt;			/* NULL: unset */
    int     reload;			/* 1: SIGUSR1 applies it; 0: restart */
    const char *min;			/* NULL: no lower bound */
    const char *max;			/* NULL: no upper bound */
} key_def;

#define OFF(f) offsetof(cs_config, f)

/* A row without bounds stops after "reload"; C zeroes the rest. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const key_def key_table[] = {
    {"Socket", T_SOCKET, OFF(socket), "unix:/run/crmsync/crmsync.sock", 0},
    {"UserID", T_STRING, OFF(user_id), NULL, 0},
    {"PidFile", T_PATH, OFF(pid_file), NULL, 0},
    {"UMask", T_OCTAL, OFF(umask), "007", 0, "0", "777"},
    {"Database", T_STORE, OFF(database), "/var/lib/crmsync/crmsync.db", 0},
    {"SpoolDir", T_DIR, OFF(spool_dir), "/var/lib/crmsync/spool", 0},
    {"PolicyDir", T_PATH, OFF(policy_dir), "/etc/crmsync/policy.d", 1},
    {"InternalDomains", T_DOMAINS, OFF(internal_domains), NULL, 1},
    {"SubaddressDelimiter", T_STRING, OFF(subaddress_delimiter), "+", 1},
    {"MaxMessageSize", T_SIZE, OFF(max_message_size), "25M", 1, "1K", "512M"},
    {"SpoolThreshold", T_SIZE, OFF(spool_threshold), "2M", 1, "1K", "512M"},
    {"SpoolMemory", T_SIZE, OFF(spool_memory), "32M", 1, "0", "64G"},
    {"On-Error", T_ONERROR, OFF(on_error), "accept", 1},
    {"DefaultSync", T_SYNC, OFF(default_sync), "all", 1},
    {"DefaultWindow", T_DURATION, OFF(default_window), "30d", 1, "1h", "3650d"},
    {"SyncInternal", T_BOOL, OFF(sync_internal), "no", 1},
    {"Block", T_BLOCK, OFF(block), NULL, 1},
    {"Dropbox", T_ADDRS, OFF(dropbox), NULL, 1},
    {"DropboxRemove", T_BOOL, OFF(dropbox_remove), "yes", 1},
    {"TrustedNetworks", T_CIDRS, OFF(trusted_networks), NULL, 1},
    {"StoreTimeout", T_MSEC, OFF(store_timeout_ms), "10s", 1, "100ms", "4m"},
    {"StoreWait", T_MSEC, OFF(store_wait_ms), "200ms", 1, "10ms", "4m"},
    {"StoreCommitDelay", T_MSEC, OFF(store_commit_delay_ms), "5ms", 1, "0ms", "100ms"},
    {"JournalDir", T_DIR, OFF(journal_dir), "/var/lib/crmsync/journal", 0},
    {"JournalMaxSize", T_SIZE, OFF(journal_max_size), "1G", 0, "64K", "1024G"},
    {"WebhookURL", T_STRING, OFF(webhook_url), NULL, 0},
    {"WebhookSecret", T_PATH, OFF(webhook_secret), NULL, 0},
    {"WebhookCAFile", T_PATH, OFF(webhook_ca_file), NULL, 0},
    {"EventRetention", T_DURATION, OFF(event_retention), "7d", 1, "1h", "3650d"},
    {"Retention", T_DURATION, OFF(retention), NULL, 1, "1d", "36500d"},
    {"Syslog", T_BOOL, OFF(use_syslog), "yes", 0},
    {"SyslogFacility", T_FACILITY, OFF(syslog_facility), "mail", 0},
    {"LogLevel", T_LOGLEVEL, OFF(log_level), "info", 1},
    {"ApiListen", T_SOCKET, OFF(api_listen), "unix:/run/crmsync-api/api.sock", 0},
    {"ApiTokenFile", T_PATH, OFF(api_token_file), "/etc/crmsync/api-tokens", 1},
    {"ApiTLSCert", T_PATH, OFF(api_tls_cert), NULL, 0},
    {"ApiTLSKey", T_PATH, OFF(api_tls_key), NULL, 0},
};
#pragma GCC diagnostic pop

#define NKEYS (sizeof(key_table) / sizeof(key_table[0]))

/* cs_config_keys - the key table, for documentation and -n */
const cs_config_keyinfo *cs_config_keys(size_t *n)
{
    static cs_config_keyinfo info[NKEYS];	/* constant after first fill */
    static atomic_int filled;

    if (!atomic_load(&filled)) {
	for (size_t i = 0; i < NKEYS; i++) {
	    info[i].name = key_table[i].name;
	    info[i].type = type_names[key_table[i].type];
	    info[i].dflt = key_table[i].dflt;
	    info[i].reload = key_table[i].reload;
	    info[i].min = key_table[i].min;
	    info[i].max = key_table[i].max;
	}
	atomic_store(&filled, 1);
    }
    *n = NKEYS;
    return info;
}

#define FIELD(cfg, k, t) ((t *) (void *) ((char *) (cfg) + (k)->off))

/* check_socket - the forms libmilter accepts */
static int check_socket(const char *v, const char **why)
{
    static const char *const prefixes[] = {"unix:", "local:", "inet:", "inet6:"};

    if (v[0] == '/')
	return 0;				/* libmilter takes a bare path too */
    for (size_t i = 0; i < 4; i++)
	if (strncmp(v, prefixes[i], strlen(prefixes[i])) == 0 && v[strlen(prefixes[i])])
	    return 0;
    *why = "socket must be unix:/path, local:/path, inet:port@host or inet6:port@host";
    return -1;
}

/* parse_number - a duration, size or octal value as a number */
static int parse_number(const key_def *k, const char *v, uint64_t *n, const char **why)
{
    long    l;

    switch (k->type) {
    case T_DURATION:
	if (cs_parse_duration(v, &l, why) < 0)
	    return -1;
	*n = (uint64_t) l;
	return 0;
    case T_MSEC:
	if (cs_parse_duration_ms(v, &l, why) < 0)
	    return -1;
	*n = (uint64_t) l;
	return 0;
    case T_SIZE:
	return cs_parse_size(v, n, why);
    case T_OCTAL:{
	    char   *end;
	    unsigned long m;

	    errno = 0;
	    m = strtoul(v, &end, 8);
	    if (errno || *end || end == v || v[0] < '0' || v[0] > '7' || m > 07777) {
		*why = "expected an octal mode such as 007";
		return -1;
	    }
	    *n = m;
	    return 0;
	}
    default:
	*why = "internal error: not a number type";
	return -1;
    }
}

/* check_bounds - a number within the row's min and max */
static int check_bounds(const key_def *k, const char *v, uint64_t n, const char **why)
{
    /* Thread-safe: the message names the row's constant strings only. */
    static _Thread_local char msg[160];
    uint64_t lo = 0, hi = UINT64_MAX;
    const char *ignored;

    if ((k->min && parse_number(k, k->min, &lo, &ignored) < 0)
	|| (k->max && parse_number(k, k->max, &hi, &ignored) < 0)) {
	*why = "internal error: bad bound in the key table";
	return -1;
    }
    if (n >= lo && n <= hi)
	return 0;
    snprintf(msg, sizeof(msg), "%.40s is out of range (%s from %s to %s)", v,
	     type_names[k->type], k->min ? k->min : "0", k->max ? k->max : "unlimited");
    *why = msg;
    return -1;
}

/* set_value - parse one value into its field; why set on error */
static int set_value(cs_config *cfg, const key_def *k, const char *v, const char **why)
{
    switch (k->type) {
    case T_STRING:
    case T_SOCKET:
    case T_DIR:
    case T_PATH:
    case T_STORE:
	if (k->type == T_SOCKET && check_socket(v, why) < 0)
	    return -1;
	free(*FIELD(cfg, k, char *));
	if ((*FIELD(cfg, k, char *) = strdup(v)) == NULL)
	    goto nomem;
	return 0;
    case T_LIST:
    case T_DOMAINS:
    case T_ADDRS:
    case T_BLOCK:{
	    cs_strlist *l = FIELD(cfg, k, cs_strlist);

	    cs_strlist_free(l);
	    if (cs_split_list(v, l) < 0)
		goto nomem;
	    for (size_t i = 0; i < l->n; i++) {
		char   *item = l->v[i];

		cs_lowercase(item);
		if (k->type == T_DOMAINS && (strchr(item + (item[0] == '@'), '@') || !item[0])) {
		    *why = "expected domain names";
		    return -1;
		}
		if (k->type == T_ADDRS && (item[0] == '@' || !strchr(item, '@'))) {
		    *why = "expected mail addresses";
		    return -1;
		}
		if (k->type == T_BLOCK && !strchr(item, '@')) {
		    *why = "block entries are addresses or @domains";
		    return -1;
		}
	    }
	    return 0;
	}
    case T_DURATION:
    case T_MSEC:
    case T_SIZE:
    case T_OCTAL:{
	    uint64_t n;

	    if (parse_number(k, v, &n, why) < 0 || check_bounds(k, v, n, why) < 0)
		return -1;
	    if (k->type == T_SIZE)
		*FIELD(cfg, k, uint64_t) = n;
	    else
		*FIELD(cfg, k, long) = (long) n;
	    return 0;
	}
    case T_BOOL:
	return cs_parse_bool(v, FIELD(cfg, k, int), why);
    case T_ONERROR:
	if (strcmp(v, "accept") == 0)
	    *FIELD(cfg, k, int) = CS_ON_ERROR_ACCEPT;
	else if (strcmp(v, "tempfail") == 0)
	    *FIELD(cfg, k, int) = CS_ON_ERROR_TEMPFAIL;
	else {
	    *why = "expected accept or tempfail";
	    return -1;
	}
	return 0;
    case T_SYNC:
	if (strcmp(v, "all") == 0)
	    *FIELD(cfg, k, int) = CS_SYNC_ALL;
	else if (strcmp(v, "labels") == 0)
	    *FIELD(cfg, k, int) = CS_SYNC_LABELS;
	else if (strcmp(v, "off") == 0)
	    *FIELD(cfg, k, int) = CS_SYNC_OFF;
	else {
	    *why = "expected all, labels or off";
	    return -1;
	}
	return 0;
    case T_CIDRS:{
	    cs_cidrlist *l = FIELD(cfg, k, cs_cidrlist);

	    cs_cidrlist_free(l);
	    return cs_parse_cidrlist(v, l, why);
	}
    case T_LOGLEVEL:
	if ((*FIELD(cfg, k, int) = cs_log_level_parse(v)) < 0) {
	    *why = "expected error, warn, info or debug";
	    return -1;
	}
	return 0;
    case T_FACILITY:
	if ((*FIELD(cfg, k, int) = cs_log_facility_parse(v)) < 0) {
	    *why = "unknown syslog facility";
	    return -1;
	}
	return 0;
    }
    *why = "internal error: unknown key type";
    return -1;
nomem:
    *why = "out of memory";
    return -1;
}

/* free_fields - release what the fields own */
static void free_fields(cs_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
	const key_def *k = &key_table[i];

	switch (k->type) {
	case T_STRING:
	case T_SOCKET:
	case T_DIR:
	case T_PATH:
	case T_STORE:
	    free(*FIELD(cfg, k, char *));
	    break;
	case T_LIST:
	case T_DOMAINS:
	case T_ADDRS:
	case T_BLOCK:
	    cs_strlist_free(FIELD(cfg, k, cs_strlist));
	    break;
	case T_CIDRS:
	    cs_cidrlist_free(FIELD(cfg, k, cs_cidrlist));
	    break;
	default:
	    break;
	}
    }
    free(cfg->path);
}

/* normalize_addrs - Dropbox and Block addresses in the compared form */
static int normalize_addrs(cs_config *cfg, cs_strlist *l, const char **why)
{
    char    norm[CS_ADDR_MAX + 1];

    for (size_t i = 0; i < l->n; i++) {
	if (l->v[i][0] == '@')
	    continue;
	if (cs_addr_normalize(l->v[i], cfg->subaddress_delimiter, norm, sizeof(norm)) < 0) {
	    *why = "not a mail address";
	    return -1;
	}
	free(l->v[i]);
	if ((l->v[i] = strdup(norm)) == NULL) {
	    *why = "out of memory";
	    return -1;
	}
    }
    return 0;
}

/* cs_config_default - every key at its default */
cs_config *cs_config_default(void)
{
    cs_config *cfg;
    const char *why;

    if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
	return NULL;
    cfg->refcount = 1;
    for (size_t i = 0; i < NKEYS; i++) {
	if (key_table[i].dflt && set_value(cfg, &key_table[i], key_table[i].dflt, &why) < 0) {
	    /* A default that does not parse is a bug in key_table. */
	    cs_error(NULL, "internal error: default of %s: %s", key_table[i].name, why);
	    cs_config_unref(cfg);
	    return NULL;
	}
    }
    return cfg;
}

/* fail - format "file:line: what" */
static void fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
    char    what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line > 0)
	snprintf(err, errlen, "%s:%d: %s", path, line, what);
    else
	snprintf(err, errlen, "%s: %s", path, what);
}

/* cs_database_uri - is a Database value a PostgreSQL URI, not a file? */
int     cs_database_uri(const char *v)
{
    return strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;
}

/* path_of - where the file name in a key's value starts; NULL: it has none */
static const char *path_of(const key_def *k, const char *v)
{
    switch (k->type) {
    case T_STORE:
	return cs_database_uri(v) ? NULL : v;
    case T_DIR:
    case T_PATH:
	return v;
    case T_SOCKET:
	if (strncmp(v, "unix:", 5) == 0)
	    return v + 5;
	if (strncmp(v, "local:", 6) == 0)
	    return v + 6;
	return v[0] == '/' ? v : NULL;
    default:
	return NULL;
    }
}

/* path_join - the first head bytes of v, dir, a slash, rel: a new string */
static char *path_join(const char *v, size_t head, const char *dir, const char *rel)
{
    size_t  d = strlen(dir), r = strlen(rel), slash = d == 0 || dir[d - 1] != '/';
    char   *out = malloc(head + d + slash + r + 1);

    if (out != NULL) {
	memcpy(out, v, head);
	memcpy(out + head, dir, d);
	if (slash)
	    out[head + d] = '/';
	memcpy(out + head + d + slash, rel, r + 1);
    }
    return out;
}

/*
 * make_absolute - every relative path a key gives, taken from dir (NULL:
 * no directory known, a relative path is refused): daemons work from /
 * once detached, and a reload must read the same files. -1, *bad the
 * key, on error.
 */
static int make_absolute(cs_config *cfg, const char *dir, const key_def **bad, const char **why)
{
    for (size_t i = 0; i < NKEYS; i++) {
	const key_def *k = &key_table[i];
	char  **v, *full;
	const char *rel;

	if (k->type != T_DIR && k->type != T_PATH && k->type != T_STORE && k->type != T_SOCKET)
	    continue;
	v = FIELD(cfg, k, char *);
	if (*v == NULL || (rel = path_of(k, *v)) == NULL || *rel == '/' || *rel == 0)
	    continue;
	*bad = k;
	if (dir == NULL) {
	    *why = "a relative path, and the current directory cannot be read";
	    return -1;
	}
	if ((full = path_join(*v, (size_t) (rel - *v), dir, rel)) == NULL) {
	    *why = "out of memory";
	    return -1;
	}
	free(*v);
	*v = full;
    }
    return 0;
}

/* cs_config_load - read and check a config file; relative paths from the current directory */
cs_config *cs_config_load(const char *path, char *err, size_t errlen)
{
    char    cwd[PATH_MAX];

    return cs_config_load_at(path, getcwd(cwd, sizeof(cwd)) ? cwd : "", err, errlen);
}

/* cs_config_load_at - read and check a config file; relative paths from dir */
cs_config *cs_config_load_at(const char *path, const char *dir, char *err, size_t errlen)
{
    FILE   *fp;
    cs_config *cfg;
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t got;
    int     lineno = 0;
    int     seen[NKEYS] = {0};
    const char *why;
    const key_def *bad;

    if (dir != NULL && *dir == 0)
	dir = NULL;
    if ((cfg = cs_config_default()) == NULL) {
	fail(err, errlen, path, 0, "out of memory");
	return NULL;
    }
    cfg->path = path[0] == '/' || dir == NULL ? strdup(path) : path_join("", 0, dir, path);
    if (cfg->path == NULL || (fp = fopen(cfg->path, "r")) == NULL) {
	fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
	cs_config_unref(cfg);
	return NULL;
    }
    while ((got = getline(&line, &cap, fp)) >= 0) {
	char   *p, *key, *val;
	size_t  i;

	lineno++;
	if (got > CS_CONFIG_LINE_MAX) {
	    fail(err, errlen, path, lineno, "line too long");
	    goto bad;
	}
	if (memchr(line, 0, (size_t) got)) {
	    fail(err, errlen, path, lineno, "NUL byte in line");
	    goto bad;
	}
	p = cs_trim(line);
	if (*p == 0 || *p == '#')
	    continue;
	key = p;
	while (*p && *p != ' ' && *p != '\t')
	    p++;
	if (*p)
	    *p++ = 0;
	val = cs_trim(p);
	for (i = 0; i < NKEYS; i++)
	    if (strcmp(key_table[i].name, key) == 0)
		break;
	if (i == NKEYS) {
	    char    safe[64];

	    fail(err, errlen, path, lineno, "unknown key \"%s\"", cs_sanitize(key, safe, sizeof(safe)));
	    goto bad;
	}
	if (seen[i]) {
	    fail(err, errlen, path, lineno, "%s given twice (first at line %d)", key, seen[i]);
	    goto bad;
	}
	seen[i] = lineno;
	if (*val == 0 && key_table[i].type != T_LIST && key_table[i].type != T_DOMAINS
	    && key_table[i].type != T_ADDRS && key_table[i].type != T_BLOCK
	    && key_table[i].type != T_CIDRS) {
	    fail(err, errlen, path, lineno, "%s needs a value", key);
	    goto bad;
	}
	if (set_value(cfg, &key_table[i], val, &why) < 0) {
	    fail(err, errlen, path, lineno, "%s: %s", key, why);
	    goto bad;
	}
    }
    if (ferror(fp)) {
	fail(err, errlen, path, 0, "read error: %s", strerror(errno));
	goto bad;
    }
    /* Checks that need several keys. */
    for (size_t i = 0; i < NKEYS; i++) {
	const key_def *k = &key_table[i];

	if (k->type == T_ADDRS || k->type == T_BLOCK) {
	    if (normalize_addrs(cfg, FIELD(cfg, k, cs_strlist), &why) < 0) {
		fail(err, errlen, path, seen[i], "%s: %s", k->name, why);
		goto bad;
	    }
	}
    }
    if (make_absolute(cfg, dir, &bad, &why) < 0) {
	fail(err, errlen, path, seen[bad - key_table], "%s: %s", bad->name, why);
	goto bad;
    }
    if (cfg->spool_threshold > cfg->max_message_size)
	cfg->spool_threshold = cfg->max_message_size;
    free(line);
    fclose(fp);
    return cfg;

bad:
    free(line);
    fclose(fp);
    cs_config_unref(cfg);
    return NULL;
}

/* same_value - does a key hold the same value in both configs? */
static int same_value(const key_def *k, const cs_config *a, const cs_config *b)
{
    switch (k->type) {
    case T_STRING:
    case T_SOCKET:
    case T_DIR:
    case T_PATH:
    case T_STORE:{
	    const char *x = *FIELD(a, k, char *), *y = *FIELD(b, k, char *);

	    return strcmp(x ? x : "", y ? y : "") == 0;
	}
    case T_LIST:
    case T_DOMAINS:
    case T_ADDRS:
    case T_BLOCK:{
	    const cs_strlist *x = FIELD(a, k, cs_strlist), *y = FIELD(b, k, cs_strlist);

	    if (x->n != y->n)
		return 0;
	    for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i], y->v[i]) != 0)
		    return 0;
	    return 1;
	}
    case T_CIDRS:{
	    const cs_cidrlist *x = FIELD(a, k, cs_cidrlist), *y = FIELD(b, k, cs_cidrlist);

	    return x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(*x->v)) == 0);
	}
    case T_SIZE:
	return *FIELD(a, k, uint64_t) == *FIELD(b, k, uint64_t);
    case T_DURATION:
    case T_MSEC:
    case T_OCTAL:
	return *FIELD(a, k, long) == *FIELD(b, k, long);
    case T_BOOL:
    case T_ONERROR:
    case T_SYNC:
    case T_LOGLEVEL:
    case T_FACILITY:
	return *FIELD(a, k, int) == *FIELD(b, k, int);
    }
    return 0;
}

/* copy_value - set a key of dst to src's value; -1 on ENOMEM */
static int copy_value(const key_def *k, cs_config *dst, const cs_config *src)
{
    switch (k->type) {
    case T_STRING:
    case T_SOCKET:
    case T_DIR:
    case T_PATH:
    case T_STORE:{
	    const char *v = *FIELD(src, k, char *);
	    char   *copy = NULL;

	    if (v && (copy = strdup(v)) == NULL)
		return -1;
	    free(*FIELD(dst, k, char *));
	    *FIELD(dst, k, char *) = copy;
	    return 0;
	}
    case T_LIST:
    case T_DOMAINS:
    case T_ADDRS:
    case T_BLOCK:{
	    cs_strlist copy = {0};

	    if (cs_strlist_copy(&copy, FIELD(src, k, cs_strlist)) < 0) {
		cs_strlist_free(&copy);
		return -1;
	    }
	    cs_strlist_free(FIELD(dst, k, cs_strlist));
	    *FIELD(dst, k, cs_strlist) = copy;
	    return 0;
	}
    case T_CIDRS:{
	    const cs_cidrlist *from = FIELD(src, k, cs_cidrlist);
	    cs_cidrlist copy = {NULL, from->n};

	    if (from->n && (copy.v = malloc(from->n * sizeof(*from->v))) == NULL)
		return -1;
	    if (from->n)
		memcpy(copy.v, from->v, from->n * sizeof(*from->v));
	    cs_cidrlist_free(FIELD(dst, k, cs_cidrlist));
	    *FIELD(dst, k, cs_cidrlist) = copy;
	    return 0;
	}
    case T_SIZE:
	*FIELD(dst, k, uint64_t) = *FIELD(src, k, uint64_t);
	return 0;
    case T_DURATION:
    case T_MSEC:
    case T_OCTAL:
	*FIELD(dst, k, long) = *FIELD(src, k, long);
	return 0;
    case T_BOOL:
    case T_ONERROR:
    case T_SYNC:
    case T_LOGLEVEL:
    case T_FACILITY:
	*FIELD(dst, k, int) = *FIELD(src, k, int);
	return 0;
    }
    return -1;
}

/* cs_config_keep_restart - restart-only keys keep their running values */
int     cs_config_keep_restart(cs_config *cfg, const cs_config *running,
			               void (*changed) (const char *key, void *), void *arg)
{
    int     n = 0;

    if (atomic_load(&cfg->refcount) != 1) {
	/* A shared config is immutable (cs_config.h): misuse, say so. */
	cs_error(NULL, "BUG: cs_config_keep_restart on a shared configuration");
	return -1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
	const key_def *k = &key_table[i];

	if (k->reload || same_value(k, cfg, running))
	    continue;
	if (copy_value(k, cfg, running) < 0)
	    return -1;
	if (changed)
	    changed(k->name, arg);
	n++;
    }
    return n;
}

/* parent_dir - the directory part of a file path; 0 when there is none */
static int parent_dir(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    size_t  len;

    if (slash == NULL)
	return snprintf(out, outlen, ".") < (int) outlen;
    len = slash == path ? 1 : (size_t) (slash - path);
    if (len >= outlen)
	return 0;
    memcpy(out, path, len);
    out[len] = 0;
    return 1;
}

/* cs_config_dirs - the directories the config names, for start and -n */
size_t  cs_config_dirs(const cs_config *cfg, cs_config_dir *out, size_t max)
{
    size_t  n = 0;

    /* Keys of type "directory": crmsync-milter makes them at start. */
    for (size_t i = 0; i < NKEYS && n < max; i++) {
	const key_def *k = &key_table[i];
	const char *v;

	if (k->type != T_DIR || (v = *FIELD(cfg, k, char *)) == NULL || *v == 0)
	    continue;
	out[n].key = k->name;
	snprintf(out[n].path, sizeof(out[n].path), "%s", v);
	out[n].made = 1;
	n++;
    }
    /* The store's and the socket's directories must exist. */
    if (n < max && cfg->database && !cs_database_uri(cfg->database)
	&& parent_dir(cfg->database, out[n].path, sizeof(out[n].path))) {
	out[n].key = "Database";
	out[n++].made = 0;
    }
    if (n < max && cfg->socket) {
	const char *p = cfg->socket;

	if (strncmp(p, "unix:", 5) == 0)
	    p += 5;
	else if (strncmp(p, "local:", 6) == 0)
	    p += 6;
	if (p[0] == '/' && parent_dir(p, out[n].path, sizeof(out[n].path))) {
	    out[n].key = "Socket";
	    out[n++].made = 0;
	}
    }
    return n;
}

/* cs_config_ref - take a reference */
cs_config *cs_config_ref(cs_config *cfg)
{
    atomic_fetch_add(&cfg->refcount, 1);
    return cfg;
}

/* cs_config_unref - drop a reference, free on the last */
void    cs_config_unref(cs_config *cfg)
{
    if (cfg == NULL)
	return;
    if (atomic_fetch_sub(&cfg->refcount, 1) == 1) {
	free_fields(cfg);
	free(cfg);
    }
}
