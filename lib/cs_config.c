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

/* Application-specific. */
#include "cs_addr.h"
#include "cs_config.h"
#include "cs_log.h"

#define CS_CONFIG_LINE_MAX	8192

enum key_type {
    T_STRING, T_LIST, T_DOMAINS, T_ADDRS, T_BLOCK, T_DURATION, T_MSEC, T_SIZE,
    T_BOOL, T_OCTAL, T_ONERROR, T_SYNC, T_CIDRS, T_LOGLEVEL, T_FACILITY, T_SOCKET,
};

static const char *const type_names[] = {
    "string", "list", "domain list", "address list", "block list", "duration",
    "duration", "size", "boolean", "octal", "accept|tempfail", "all|labels|off",
    "network list", "error|warn|info|debug", "syslog facility", "socket",
};

typedef struct key_def {
    const char *name;
    enum key_type type;
    size_t  off;
    const char *dflt;			/* NULL: unset */
    int     reload;
} key_def;

#define OFF(f) offsetof(cs_config, f)

static const key_def key_table[] = {
    {"Socket", T_SOCKET, OFF(socket), "unix:/run/crmsync/crmsync.sock", 0},
    {"UserID", T_STRING, OFF(user_id), NULL, 0},
    {"PidFile", T_STRING, OFF(pid_file), NULL, 0},
    {"UMask", T_OCTAL, OFF(umask), "007", 0},
    {"Database", T_STRING, OFF(database), "/var/lib/crmsync/crmsync.db", 0},
    {"SpoolDir", T_STRING, OFF(spool_dir), "/var/lib/crmsync/spool", 0},
    {"PolicyDir", T_STRING, OFF(policy_dir), "/etc/crmsync/policy.d", 1},
    {"InternalDomains", T_DOMAINS, OFF(internal_domains), NULL, 1},
    {"SubaddressDelimiter", T_STRING, OFF(subaddress_delimiter), "+", 1},
    {"MaxMessageSize", T_SIZE, OFF(max_message_size), "25M", 1},
    {"SpoolThreshold", T_SIZE, OFF(spool_threshold), "256K", 1},
    {"On-Error", T_ONERROR, OFF(on_error), "accept", 1},
    {"DefaultSync", T_SYNC, OFF(default_sync), "all", 1},
    {"DefaultWindow", T_DURATION, OFF(default_window), "30d", 1},
    {"SyncInternal", T_BOOL, OFF(sync_internal), "no", 1},
    {"Block", T_BLOCK, OFF(block), NULL, 1},
    {"Dropbox", T_ADDRS, OFF(dropbox), NULL, 1},
    {"DropboxRemove", T_BOOL, OFF(dropbox_remove), "yes", 1},
    {"TrustedNetworks", T_CIDRS, OFF(trusted_networks), NULL, 1},
    {"StoreTimeout", T_MSEC, OFF(store_timeout_ms), "10s", 1},
    {"StoreWait", T_MSEC, OFF(store_wait_ms), "200ms", 1},
    {"JournalDir", T_STRING, OFF(journal_dir), "/var/lib/crmsync/journal", 0},
    {"JournalMaxSize", T_SIZE, OFF(journal_max_size), "1G", 0},
    {"WebhookURL", T_STRING, OFF(webhook_url), NULL, 0},
    {"WebhookSecret", T_STRING, OFF(webhook_secret), NULL, 0},
    {"WebhookCAFile", T_STRING, OFF(webhook_ca_file), NULL, 0},
    {"EventRetention", T_DURATION, OFF(event_retention), "7d", 1},
    {"Syslog", T_BOOL, OFF(use_syslog), "yes", 0},
    {"SyslogFacility", T_FACILITY, OFF(syslog_facility), "mail", 0},
    {"LogLevel", T_LOGLEVEL, OFF(log_level), "info", 1},
};

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

/* set_value - parse one value into its field; why set on error */
static int set_value(cs_config *cfg, const key_def *k, const char *v, const char **why)
{
    switch (k->type) {
    case T_STRING:
    case T_SOCKET:
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
	return cs_parse_duration(v, FIELD(cfg, k, long), why);
    case T_MSEC:{
	    long    secs;
	    size_t  vl = strlen(v);

	    /* Milliseconds ("200ms", SPEC Operations) for the keys in ms. */
	    if (vl > 2 && strcmp(v + vl - 2, "ms") == 0) {
		char   *end;
		unsigned long long ms;

		errno = 0;
		ms = strtoull(v, &end, 10);
		if (errno || end != v + vl - 2 || v[0] < '0' || v[0] > '9' || ms > LONG_MAX) {
		    *why = "duration must be a number followed by ms, s, m, h or d";
		    return -1;
		}
		*FIELD(cfg, k, long) = (long) ms;
		return 0;
	    }
	    if (cs_parse_duration(v, &secs, why) < 0)
		return -1;
	    if (secs > LONG_MAX / 1000) {
		*why = "duration too large";
		return -1;
	    }
	    *FIELD(cfg, k, long) = secs * 1000;
	    return 0;
	}
    case T_SIZE:
	return cs_parse_size(v, FIELD(cfg, k, uint64_t), why);
    case T_BOOL:
	return cs_parse_bool(v, FIELD(cfg, k, int), why);
    case T_OCTAL:{
	    char   *end;
	    long    m;

	    errno = 0;
	    m = strtol(v, &end, 8);
	    if (errno || *end || end == v || m < 0 || m > 0777 || v[0] == '-') {
		*why = "expected an octal mode such as 007";
		return -1;
	    }
	    *FIELD(cfg, k, long) = m;
	    return 0;
	}
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

/* cs_config_load - read and check a config file */
cs_config *cs_config_load(const char *path, char *err, size_t errlen)
{
    FILE   *fp;
    cs_config *cfg;
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t got;
    int     lineno = 0;
    int     seen[NKEYS] = {0};
    const char *why;

    if ((cfg = cs_config_default()) == NULL) {
	fail(err, errlen, path, 0, "out of memory");
	return NULL;
    }
    if ((cfg->path = strdup(path)) == NULL || (fp = fopen(path, "r")) == NULL) {
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
