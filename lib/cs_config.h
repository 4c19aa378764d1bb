/*
 * NAME
 *	cs_config 3h
 * SUMMARY
 *	crmsync.conf: one table of keys drives parsing, defaults and docs
 * DESCRIPTION
 *	cs_config_load() reads a "Key value" file (# comments, CamelCase keys)
 *	into a new configuration with reference count 1, or returns NULL and
 *	writes "file:line: what is wrong" into err. Unknown keys, duplicate
 *	keys and bad values are refused. A missing file is an error.
 *
 *	A configuration is immutable once loaded. Threads that use it hold a
 *	reference (cs_config_ref/cs_config_unref), so a reload can swap in a
 *	new one while messages in flight finish under the old one.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stdint.h>
#include "cs_util.h"
#include "cs_value.h"

#define CS_DEFAULT_CONFIG	"/etc/crmsync/crmsync.conf"

enum cs_on_error { CS_ON_ERROR_ACCEPT = 0, CS_ON_ERROR_TEMPFAIL };
enum cs_sync_mode { CS_SYNC_ALL = 0, CS_SYNC_LABELS, CS_SYNC_OFF };

typedef struct cs_config {
    _Atomic int refcount;		/* see cs_config_ref() */
    char   *path;			/* the file it came from (absolute) */

    /* Daemon (restart needed to change) */
    char   *socket;			/* Socket: unix:/path | local: | inet:port@host | inet6: */
    char   *user_id;			/* UserID: user[:group], NULL = stay */
    char   *pid_file;			/* PidFile */
    long    umask;			/* UMask (octal), default 007 */
    char   *database;			/* Database: path or postgresql:// URI */
    char   *spool_dir;			/* SpoolDir: large bodies spill here */

    /* Policy (reloadable) */
    char   *policy_dir;			/* PolicyDir */
    cs_strlist internal_domains;	/* InternalDomains */
    char   *subaddress_delimiter;	/* SubaddressDelimiter, default "+" */
    uint64_t max_message_size;		/* MaxMessageSize, default 25M */
    uint64_t spool_threshold;		/* SpoolThreshold, default 2M */
    uint64_t spool_memory;		/* SpoolMemory, default 32M */
    int     on_error;			/* On-Error */
    int     default_sync;		/* DefaultSync: enum cs_sync_mode */
    long    default_window;		/* DefaultWindow seconds, default 30d */
    int     sync_internal;		/* SyncInternal */
    cs_strlist block;			/* Block (global) */
    cs_strlist dropbox;			/* Dropbox (normalized) */
    int     dropbox_remove;		/* DropboxRemove, default yes */
    cs_cidrlist trusted_networks;	/* TrustedNetworks, default empty */
    long    store_timeout_ms;		/* StoreTimeout, default 10s */
    long    store_wait_ms;		/* StoreWait, default 200ms (C6) */
    long    store_commit_delay_ms;	/* StoreCommitDelay, default 5ms */
    char   *journal_dir;		/* JournalDir (C6), restart to change */
    uint64_t journal_max_size;		/* JournalMaxSize, default 1G */

    /* Events */
    char   *webhook_url;		/* WebhookURL */
    char   *webhook_secret;		/* WebhookSecret: path of the secret file */
    char   *webhook_ca_file;		/* WebhookCAFile */
    long    event_retention;		/* EventRetention seconds, default 7d */
    long    retention;			/* Retention seconds (R1), 0: keep mail */

    /* Logging */
    int     use_syslog;			/* Syslog, default yes */
    int     syslog_facility;		/* SyslogFacility, default mail */
    int     log_level;			/* LogLevel: error|warn|info|debug */

    /* crmsync-api (SPEC X5) */
    char   *api_listen;			/* ApiListen: Socket's forms */
    char   *api_token_file;		/* ApiTokenFile: bearer tokens, one a line */
    char   *api_tls_cert;		/* ApiTLSCert: PEM certificate chain */
    char   *api_tls_key;		/* ApiTLSKey: PEM private key */
} cs_config;

/*
 * A relative path (the file's own, a path key's, a unix: socket's) is
 * taken from the current directory (cs_config_load) or from dir
 * (cs_config_load_at: the directory a daemon started in, as it works
 * from / once detached; "": none known, a relative path is refused) and
 * made absolute: cfg->path and the keys hold absolute paths.
 */
cs_config *cs_config_load(const char *path, char *err, size_t errlen);
cs_config *cs_config_load_at(const char *path, const char *dir, char *err, size_t errlen);
cs_config *cs_config_default(void);	/* every key at its default */
cs_config *cs_config_ref(cs_config *);

/*
 * Before a reloaded config is used: every key the table marks "restart"
 * gets the running config's value back, so that a reload applies exactly
 * the reloadable keys. changed() is called with the name of each restart
 * key whose value differed. cfg must not be shared yet (refcount 1).
 * Returns how many differed, or -1 (out of memory: cfg is then unusable).
 */
int     cs_config_keep_restart(cs_config *cfg, const cs_config *running,
			               void (*changed) (const char *key, void *), void *arg);
void    cs_config_unref(cs_config *);

/*
 * The directories crmsync-milter writes as UserID: every key of type
 * "directory" (SpoolDir; made at start when missing: made = 1), the
 * directory of a SQLite Database and of a unix Socket (made = 0: they
 * must exist). Returns how many were put in out (at most max).
 */
typedef struct cs_config_dir {
    const char *key;			/* the key that names it */
    char    path[4096];
    int     made;			/* 1: crmsync-milter makes it at start */
} cs_config_dir;

#define CS_CONFIG_DIRS_MAX	16

size_t  cs_config_dirs(const cs_config *, cs_config_dir *out, size_t max);

/* For man pages and -n: iterate over the key table. */
typedef struct cs_config_keyinfo {
    const char *name;
    const char *type;			/* "string", "list", "duration", ... */
    const char *dflt;			/* default as written in the file, or NULL */
    int     reload;			/* 1 if SIGUSR1 applies a change */
    const char *min;			/* smallest value accepted, or NULL */
    const char *max;			/* largest value accepted, or NULL */
} cs_config_keyinfo;

const cs_config_keyinfo *cs_config_keys(size_t *n);

/* Is a Database value a PostgreSQL URI (postgresql://, postgres://), not a file? */
int     cs_database_uri(const char *);

#endif
