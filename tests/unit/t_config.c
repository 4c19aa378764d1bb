/*
 * NAME
 *	t_config 1
 * SUMMARY
 *	crmsync.conf parsing: defaults, every value type, every refusal
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_config.h"
#include "cs_log.h"
#include "tap.h"

static char path[] = "/tmp/t_config.XXXXXX";

/* load_text - write text to the temp file and load it */
static cs_config *load_text(const char *text, char *err, size_t errlen)
{
    FILE   *fp = fopen(path, "w");

    fputs(text, fp);
    fclose(fp);
    err[0] = 0;
    return cs_config_load(path, err, errlen);
}

/* refused - text must be refused with "path:line: ..." containing what */
static void refused(const char *text, int line, const char *what)
{
    char    err[1024], want[256];
    cs_config *cfg = load_text(text, err, sizeof(err));

    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    if (!ok(cfg == NULL && strncmp(err, want, strlen(want)) == 0 && strstr(err, what),
	    "refused at line %d: %s", line, what))
	diag("err: %s", err);
    cs_config_unref(cfg);
}

/* note_key - collect the names cs_config_keep_restart reports */
static void note_key(const char *key, void *arg)
{
    char   *names = arg;

    strncat(names, key, 255 - strlen(names));
    strncat(names, " ", 255 - strlen(names));
}

int     main(void)
{
    char    err[1024];
    cs_config *cfg;
    int     fd = mkstemp(path);

    close(fd);
    cs_log_init("t_config", 0, 0, CS_LOG_ERROR);

    /* Defaults. */
    cfg = load_text("# nothing but a comment\n\n", err, sizeof(err));
    ok(cfg != NULL, "empty file loads");
    is_str(cfg->socket, "unix:/run/crmsync/crmsync.sock", "default Socket");
    is_str(cfg->database, "/var/lib/crmsync/crmsync.db", "default Database");
    is_int(cfg->max_message_size, 25 * 1024 * 1024, "default MaxMessageSize 25M");
    is_int(cfg->default_window, 30 * 86400, "default DefaultWindow 30d");
    is_int(cfg->on_error, CS_ON_ERROR_ACCEPT, "default On-Error accept (C1)");
    is_int(cfg->dropbox_remove, 1, "default DropboxRemove yes");
    is_int(cfg->sync_internal, 0, "default SyncInternal no");
    is_int(cfg->default_sync, CS_SYNC_ALL, "default DefaultSync all");
    is_int(cfg->trusted_networks.n, 0, "TrustedNetworks empty by default");
    is_int(cfg->umask, 007, "default UMask 007");
    is_str(cfg->subaddress_delimiter, "+", "default SubaddressDelimiter");
    is_int(cfg->use_syslog, 1, "default Syslog yes");
    is_int(cfg->log_level, CS_LOG_INFO, "default LogLevel info");
    cs_config_unref(cfg);

    /* Every type. */
    cfg = load_text("Socket inet:8899@127.0.0.1\n"
		    "UserID crmsync:crmsync\n"
		    "UMask 027\n"
		    "Database /tmp/x/crmsync.db\n"
		    "InternalDomains example.com, Example.NET\n"
		    "SubaddressDelimiter +-\n"
		    "MaxMessageSize 10M\n"
		    "On-Error tempfail\n"
		    "DefaultSync labels\n"
		    "DefaultWindow 72h\n"
		    "SyncInternal yes\n"
		    "Block spam@Evil.example , @annoying.example\n"
		    "Dropbox Log+Tag@crm.example.com\n"
		    "DropboxRemove no\n"
		    "TrustedNetworks 127.0.0.1/32, 10.0.0.0/8, ::1\n"
		    "StoreTimeout 5s\n"
		    "EventRetention 1d\n"
		    "  Syslog   no  \n"
		    "SyslogFacility local3\n"
		    "LogLevel debug\n", err, sizeof(err));
    if (!ok(cfg != NULL, "full file loads"))
	diag("err: %s", err);
    if (cfg) {
	is_str(cfg->socket, "inet:8899@127.0.0.1", "Socket");
	is_str(cfg->user_id, "crmsync:crmsync", "UserID");
	is_int(cfg->umask, 027, "UMask octal");
	is_int(cfg->internal_domains.n, 2, "InternalDomains count");
	is_str(cfg->internal_domains.v[1], "example.net", "InternalDomains lower-cased");
	is_int(cfg->max_message_size, 10 * 1024 * 1024, "MaxMessageSize 10M");
	is_int(cfg->on_error, CS_ON_ERROR_TEMPFAIL, "On-Error tempfail");
	is_int(cfg->default_sync, CS_SYNC_LABELS, "DefaultSync labels");
	is_int(cfg->default_window, 72 * 3600, "DefaultWindow 72h");
	is_int(cfg->sync_internal, 1, "SyncInternal yes");
	is_int(cfg->block.n, 2, "Block list count");
	is_str(cfg->block.v[0], "spam@evil.example", "Block address normalized");
	is_str(cfg->block.v[1], "@annoying.example", "Block domain kept");
	is_str(cfg->dropbox.v[0], "log@crm.example.com", "Dropbox normalized (subaddress gone)");
	is_int(cfg->dropbox_remove, 0, "DropboxRemove no");
	is_int(cfg->trusted_networks.n, 3, "TrustedNetworks count");
	ok(cs_cidrlist_match_str(&cfg->trusted_networks, "10.1.2.3"), "10/8 matches 10.1.2.3");
	ok(!cs_cidrlist_match_str(&cfg->trusted_networks, "127.0.0.2"), "127.0.0.1/32 not 127.0.0.2");
	ok(cs_cidrlist_match_str(&cfg->trusted_networks, "::1"), "::1 matches");
	ok(cs_cidrlist_match_str(&cfg->trusted_networks, "::ffff:127.0.0.1"), "v4-mapped matches");
	is_int(cfg->store_timeout_ms, 5000, "StoreTimeout in ms");
	is_int(cfg->use_syslog, 0, "Syslog no with spaces around");
	is_int(cfg->log_level, CS_LOG_DEBUG, "LogLevel debug");
	cs_config_unref(cfg);
    }

    /* Refusals, each with file:line. */
    refused("Bogus yes\n", 1, "unknown key \"Bogus\"");
    refused("\n# c\nsocket unix:/x\n", 3, "unknown key \"socket\"");
    refused("Socket unix:/a\nSocket unix:/b\n", 2, "given twice");
    refused("Socket tcp:1234\n", 1, "socket must be");
    refused("Socket unix:\n", 1, "socket must be");
    refused("MaxMessageSize 10X\n", 1, "size unit");
    refused("MaxMessageSize -1\n", 1, "size must be a number");
    refused("MaxMessageSize 99999999999999999999\n", 1, "size must be a number");
    refused("MaxMessageSize 99999999999G\n", 1, "size too large");
    refused("DefaultWindow 30\n", 1, "needs a unit");
    refused("DefaultWindow 30days\n", 1, "junk after duration");
    refused("DefaultWindow d\n", 1, "duration must be a number");
    refused("SyncInternal true\n", 1, "expected yes or no");
    refused("DropboxRemove Yes\n", 1, "expected yes or no");
    refused("On-Error reject\n", 1, "expected accept or tempfail");
    refused("DefaultSync some\n", 1, "expected all, labels or off");
    refused("UMask 999\n", 1, "octal");
    refused("UMask 01777\n", 1, "octal");
    refused("TrustedNetworks 127.0.0.1/33\n", 1, "bad prefix length");
    refused("TrustedNetworks localhost\n", 1, "not an IPv4 or IPv6 address");
    refused("InternalDomains user@example.com\n", 1, "expected domain names");
    refused("Dropbox crm.example.com\n", 1, "expected mail addresses");
    refused("Block example.com\n", 1, "block entries are addresses or @domains");
    refused("LogLevel loud\n", 1, "expected error, warn, info or debug");
    refused("SyslogFacility kernel\n", 1, "unknown syslog facility");
    refused("Database\n", 1, "Database needs a value");

    /* Bounds from the key table (issue #16 point 5). */
    refused("StoreTimeout 0s\n", 1, "StoreTimeout: 0s is out of range (duration from 100ms to 4m)");
    refused("StoreTimeout 99ms\n", 1, "out of range");
    refused("StoreTimeout 5m\n", 1, "out of range");
    refused("# x\nMaxMessageSize 0\n", 2, "MaxMessageSize: 0 is out of range (size from 1K to 512M)");
    refused("MaxMessageSize 1G\n", 1, "out of range");
    refused("SpoolThreshold 0\n", 1, "out of range");
    refused("DefaultWindow 0s\n", 1, "DefaultWindow: 0s is out of range");
    refused("EventRetention 0d\n", 1, "EventRetention: 0d is out of range");
    refused("Retention 1h\n", 1, "Retention: 1h is out of range");
    refused("UMask 1000\n", 1, "out of range (octal from 0 to 777)");
    refused("StoreTimeout 10x\n", 1, "duration needs a unit: ms, s, m, h or d");
    cfg = load_text("StoreTimeout 100ms\nMaxMessageSize 512M\nUMask 0\nDefaultWindow 1h\n", err,
		    sizeof(err));
    if (!ok(cfg != NULL, "values at the bounds load"))
	diag("err: %s", err);
    if (cfg) {
	is_int(cfg->store_timeout_ms, 100, "StoreTimeout 100ms in ms");
	is_int(cfg->max_message_size, 512 * 1024 * 1024, "MaxMessageSize at its maximum");
	is_int(cfg->umask, 0, "UMask 0");
	cs_config_unref(cfg);
    }

    {
	char    big[10000];

	memset(big, 'a', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = 0;
	refused(big, 1, "line too long");
    }
    cfg = cs_config_load("/nonexistent/crmsync.conf", err, sizeof(err));
    ok(cfg == NULL && strstr(err, "cannot open"), "missing file refused");

    /* References keep a config alive. */
    cfg = load_text("LogLevel warn\n", err, sizeof(err));
    cs_config_ref(cfg);
    cs_config_unref(cfg);
    is_int(cfg->log_level, CS_LOG_WARN, "config alive after ref+unref");
    cs_config_unref(cfg);

    {
	size_t  n;
	const cs_config_keyinfo *k = cs_config_keys(&n);

	ok(n >= 24, "key table has every SPEC key (%zu)", n);
	ok(strcmp(k[0].name, "Socket") == 0 && k[0].reload == 0, "Socket needs a restart");
	for (size_t i = 0; i < n; i++)
	    if (strcmp(k[i].name, "StoreTimeout") == 0)
		ok(k[i].min && strcmp(k[i].min, "100ms") == 0 && k[i].max
		   && strcmp(k[i].max, "4m") == 0, "keyinfo carries StoreTimeout's bounds");
    }
    {
	cs_config *d = cs_config_default();

	ok(d != NULL, "every default parses and lies within its bounds");
	cs_config_unref(d);
    }
    /* A reload applies reloadable keys only (issue #16 point 6). */
    {
	cs_config *run = load_text("SpoolDir /a\nUMask 027\nSyslog yes\nLogLevel info\n", err,
				   sizeof(err));
	cs_config *next = load_text("SpoolDir /b\nUMask 077\nSyslog no\nLogLevel debug\n"
				    "SyslogFacility local1\nStoreTimeout 3s\n", err, sizeof(err));
	char    names[256] = "";
	int     n = cs_config_keep_restart(next, run, note_key, names);

	is_int(n, 4, "four restart-only keys differed");
	is_str(names, "UMask SpoolDir Syslog SyslogFacility ", "named in table order");
	is_str(next->spool_dir, "/a", "SpoolDir keeps its running value");
	is_int(next->umask, 027, "UMask keeps its running value");
	is_int(next->use_syslog, 1, "Syslog keeps its running value");
	is_int(next->log_level, CS_LOG_DEBUG, "LogLevel (reload) takes the new value");
	is_int(next->store_timeout_ms, 3000, "StoreTimeout (reload) takes the new value");
	is_int(cs_config_keep_restart(next, run, NULL, NULL), 0, "nothing differs the second time");
	cs_config_ref(next);
	is_int(cs_config_keep_restart(next, run, NULL, NULL), -1, "refused on a shared config");
	cs_config_unref(next);
	cs_config_unref(next);
	cs_config_unref(run);
    }
    /* Relative paths are made absolute from the start directory (daemons chdir to /). */
    {
	static const char text[] = "Socket unix:run/m.sock\nPidFile m.pid\nDatabase db/c.db\n"
	    "SpoolDir ./spool\nJournalDir /abs/journal\nPolicyDir policy\nApiListen local:a.sock\n"
	    "ApiTokenFile tokens\nWebhookSecret ../secret\n";
	char    rel[64], *slash = strrchr(path, '/'), want[300];
	FILE   *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
	snprintf(rel, sizeof(rel), "%s", slash + 1);
	cfg = cs_config_load_at(rel, "/tmp", err, sizeof(err));
	if (!ok(cfg != NULL, "relative paths load")) {
	    diag("%s", err);
	} else {
	    is_str(cfg->path, path, "the file's own path, from the start directory");
	    is_str(cfg->socket, "unix:/tmp/run/m.sock", "a unix: socket's path");
	    is_str(cfg->pid_file, "/tmp/m.pid", "PidFile");
	    is_str(cfg->database, "/tmp/db/c.db", "Database, a file");
	    is_str(cfg->spool_dir, "/tmp/./spool", "SpoolDir, as written after the directory");
	    is_str(cfg->journal_dir, "/abs/journal", "an absolute path as it is");
	    is_str(cfg->policy_dir, "/tmp/policy", "PolicyDir");
	    is_str(cfg->api_listen, "local:/tmp/a.sock", "a local: socket's path");
	    is_str(cfg->api_token_file, "/tmp/tokens", "ApiTokenFile");
	    is_str(cfg->webhook_secret, "/tmp/../secret", "WebhookSecret, .. kept (no lexical cleaning)");
	    cs_config_unref(cfg);
	}
	cfg = load_text("Database postgresql://u@db.example/crm\nSocket inet:8891@127.0.0.1\n",
			err, sizeof(err));
	ok(cfg && strcmp(cfg->database, "postgresql://u@db.example/crm") == 0
	   && strcmp(cfg->socket, "inet:8891@127.0.0.1") == 0, "a URI and an inet socket as they are");
	cs_config_unref(cfg);
	fp = fopen(path, "w");
	fputs("Syslog no\nPolicyDir p\n", fp);
	fclose(fp);
	cfg = cs_config_load_at(path, "/", err, sizeof(err));
	ok(cfg && strcmp(cfg->policy_dir, "/p") == 0, "from /: one slash");
	cs_config_unref(cfg);
	cfg = cs_config_load_at(path, "", err, sizeof(err));
	snprintf(want, sizeof(want), "%s:2: PolicyDir: a relative path", path);
	ok(cfg == NULL && strncmp(err, want, strlen(want)) == 0,
	   "no start directory known: a relative path refused, with its line");
	cs_config_unref(cfg);
    }
    unlink(path);
    return done_testing();
}
