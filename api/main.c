/*
 * NAME
 *	crmsync-api 8
 * SUMMARY
 *	the CRM's HTTP API to the crmsync store (SPEC X5)
 * SYNOPSIS
 *	crmsync-api [-c config] [-f] [-n] [-V] [-h]
 * DESCRIPTION
 *	Start-up: parse the config, the policy and ApiTokenFile, check the
 *	listening address (anything but a unix socket or loopback needs
 *	ApiTLSCert and ApiTLSKey, else the start is refused), detach unless
 *	-f, open the socket, start libmicrohttpd's worker pool; then wait
 *	for signals. SIGUSR1 reloads the reloadable keys, the policy and the
 *	tokens, swapping them in only when all are valid. SIGTERM, SIGINT
 *	and SIGHUP stop it (requests in flight finish).
 *
 *	The store is opened by each worker on its first request, not at
 *	start: a store that is down answers 503 until it is back.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "api.h"
#include "cs_cli.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_store.h"
#include "listen.h"

static const char *config_path = CS_DEFAULT_CONFIG;

/* usage - say how to call us */
static int usage(FILE *fp, int code)
{
    static const cs_cli_opt opts[] = {
	CS_CLI_OPT_CONFIG,
	{"-f", "stay in the foreground"},
	{"-n", "check the config, policy, tokens, address and TLS files, then exit"},
	CS_CLI_OPT_VERSION,
	CS_CLI_OPT_HELP,
	{NULL, NULL},
    };

    cs_cli_usage(fp, "crmsync-api", "[-c config] [-f] [-n] | -V | -h", opts);
    return code;
}

/* read_pem - a whole owner-only PEM file into memory */
static char *read_pem(const char *what, const char *path, int private, char *err, size_t errlen)
{
    cs_buf  b = {.limit = 1024 * 1024};
    char    chunk[4096];
    ssize_t n;
    int     fd;

    fd = private ? api_open_private(what, path, err, errlen)
	: open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
	if (!private)
	    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return NULL;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
	if (cs_buf_append(&b, chunk, (size_t) n) < 0)
	    break;
    close(fd);
    if (n != 0 || b.len == 0 || strstr(b.data, "-----BEGIN ") == NULL) {
	snprintf(err, errlen, "%s %s: not a readable PEM file of at most 1 MB", what, path);
	cs_buf_free(&b);
	return NULL;
    }
    return b.data;
}

/* load - config, policy and tokens, all or nothing */
static int load(cs_config **cfgp, cs_policy **polp, api_tokens **tokp, char *err,
		        size_t errlen)
{
    cs_config *cfg;
    cs_policy *pol = NULL;
    api_tokens *tok = NULL;

    if ((cfg = cs_config_load_at(config_path, cs_cli_start_dir(), err, errlen)) == NULL)
	return -1;
    if ((pol = cs_policy_load(cfg, err, errlen)) == NULL
	|| (tok = api_tokens_load(cfg->api_token_file, err, errlen)) == NULL) {
	cs_policy_unref(pol);
	cs_config_unref(cfg);
	return -1;
    }
    *cfgp = cfg;
    *polp = pol;
    *tokp = tok;
    return 0;
}

/* check_listen - the address, and TLS wherever it is not local */
static int check_listen(const cs_config *cfg, api_addr *addr, char **cert, char **key,
			        char *err, size_t errlen)
{
    *cert = *key = NULL;
    if (api_listen_parse(cfg->api_listen, addr, err, errlen) < 0)
	return -1;
    if ((cfg->api_tls_cert == NULL) != (cfg->api_tls_key == NULL)) {
	snprintf(err, errlen, "ApiTLSCert and ApiTLSKey go together");
	return -1;
    }
    if (!addr->local && cfg->api_tls_cert == NULL) {
	snprintf(err, errlen, "ApiListen %s is neither a unix socket nor loopback:"
		 " it needs ApiTLSCert and ApiTLSKey", cfg->api_listen);
	return -1;
    }
    if (cfg->api_tls_cert == NULL)
	return 0;
    if (addr->unix_socket) {
	snprintf(err, errlen, "ApiTLSCert: TLS is for inet: and inet6: addresses");
	return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
	snprintf(err, errlen, "ApiTLSCert: this libmicrohttpd was built without TLS");
	return -1;
    }
    if ((*cert = read_pem("ApiTLSCert", cfg->api_tls_cert, 0, err, errlen)) == NULL
	|| (*key = read_pem("ApiTLSKey", cfg->api_tls_key, 1, err, errlen)) == NULL) {
	free(*cert);
	*cert = NULL;
	return -1;
    }
    return 0;
}

/* sync_users - R3: tell the store the policy's users, as crmsync-milter
 * does, so that the store's check of acting users follows this policy */
static int sync_users(const cs_config *cfg, const cs_policy *pol)
{
    size_t  n = cs_policy_nusers(pol);
    const cs_user **users;
    char    err[512], shown[512];
    cs_store *s;
    int     rc = CS_EINTERNAL;

    if ((s = cs_store_open(cfg->database, 0, cfg->store_timeout_ms, err, sizeof(err))) == NULL) {
	cs_store_display(cfg->database, shown, sizeof(shown));
	cs_error(NULL, "store %s: %s: users not updated", shown, err);
	return -1;
    }
    cs_store_set_subaddress(s, cfg->subaddress_delimiter);
    if ((users = calloc(n ? n : 1, sizeof(*users))) != NULL) {
	for (size_t i = 0; i < n; i++)
	    users[i] = cs_policy_user_at(pol, i);
	rc = cs_store_sync_users2(s, users, n);
	free(users);
    }
    cs_store_close(s);
    if (rc != CS_OK)
	cs_error(NULL, "could not update the users in the store");
    return rc == CS_OK ? 0 : -1;
}

/* reload - SIGUSR1: new policy and tokens, or the old ones kept */
static void reload(api_state *st)
{
    cs_config *cfg;
    cs_policy *pol, *oldpol;
    api_tokens *tok, *oldtok;
    char    err[1024];

    cs_info(NULL, "reload requested");
    if (load(&cfg, &pol, &tok, err, sizeof(err)) < 0) {
	cs_error(NULL, "reload failed, keeping the running policy and tokens: %s", err);
	return;
    }
    if (strcmp(cfg->api_listen, st->cfg->api_listen) != 0
	|| strcmp(cfg->database, st->cfg->database) != 0)
	cs_warn(NULL, "reload: ApiListen or Database changed; it takes effect at the next restart");
    cs_log_setlevel(cfg->log_level);
    sync_users(st->cfg, pol);
    pthread_rwlock_wrlock(&st->lock);
    oldpol = st->policy;
    oldtok = st->tokens;
    st->policy = pol;
    st->tokens = tok;
    pthread_rwlock_unlock(&st->lock);
    /* Workers keep the store the first config named (Database needs a
     * restart): only LogLevel, the policy and the tokens change here. */
    cs_policy_unref(oldpol);
    api_tokens_free(oldtok);
    cs_config_unref(cfg);
    cs_info(NULL, "reloaded: %zu users, %zu tokens", cs_policy_nusers(pol),
	    api_tokens_count(tok));
}

/* workers - one per CPU, at least 2, at most 16 */
static unsigned workers(void)
{
    long    n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 2 ? 2 : n > 16 ? 16 : (unsigned) n;
}

/* mhd_log - libmicrohttpd's own messages */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char    msg[512];
    size_t  n;

    (void) cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
	msg[--n] = 0;
    cs_debug(NULL, "http: %s", msg);
}

int     main(int argc, char **argv)
{
    api_state st = {.lock = PTHREAD_RWLOCK_INITIALIZER};
    struct MHD_Daemon *d;
    api_addr addr;
    sigset_t set;
    char    err[1024], *cert = NULL, *key = NULL;
    int     ch, foreground = 0, check = 0, fd, sig;
    unsigned flags;

    while ((ch = getopt(argc, argv, "c:fnVh")) != -1) {
	switch (ch) {
	case 'c':
	    config_path = optarg;
	    break;
	case 'f':
	    foreground = 1;
	    break;
	case 'n':
	    check = 1;
	    break;
	case 'V':
	    cs_cli_version(stdout, "crmsync-api");
	    return 0;
	case 'h':
	    return usage(stdout, 0);
	default:
	    return usage(stderr, 1);
	}
    }
    if (optind != argc)
	return usage(stderr, 1);
    cs_log_init("crmsync-api", 0, 0, CS_LOG_INFO);
    cs_message_init();
    if (load(&st.cfg, &st.policy, &st.tokens, err, sizeof(err)) < 0
	|| check_listen(st.cfg, &addr, &cert, &key, err, sizeof(err)) < 0) {
	fprintf(stderr, "crmsync-api: %s\n", err);
	return 1;
    }
    if (check) {
	const cs_strlist *p = cs_policy_problems(st.policy);
	int     bad = p && p->n;

	for (size_t i = 0; p && i < p->n; i++)
	    fprintf(stderr, "crmsync-api: %s\n", p->v[i]);
	printf("crmsync-api: %s: ok (%zu users, %zu tokens, %s%s)\n", config_path,
	       cs_policy_nusers(st.policy), api_tokens_count(st.tokens), st.cfg->api_listen,
	       cert ? ", TLS" : "");
	free(cert);
	free(key);
	api_tokens_free(st.tokens);
	cs_policy_unref(st.policy);
	cs_config_unref(st.cfg);
	return bad ? 1 : 0;
    }
    cs_log_init("crmsync-api", st.cfg->use_syslog, st.cfg->syslog_facility, st.cfg->log_level);
    if (!foreground && cs_cli_daemonize() < 0) {
	cs_error(NULL, "cannot detach: %s", strerror(errno));
	return 1;
    }
    if ((fd = api_listen_open(&addr, (unsigned) st.cfg->umask, err, sizeof(err))) < 0) {
	cs_error(NULL, "%s", err);
	return 1;
    }
    /* Signals go to the main thread's sigwait, never to the workers. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    st.started = time(NULL);
    st.workers = workers();
    st.tls = cert != NULL;
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (cert)
	flags |= MHD_USE_TLS;
    d = MHD_start_daemon(flags, 0, NULL, NULL, api_handler, &st,
			 MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
			 MHD_OPTION_THREAD_POOL_SIZE, st.workers,
			 MHD_OPTION_CONNECTION_LIMIT, (unsigned) API_MAX_CONNECTIONS,
			 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) API_TIMEOUT_S,
			 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) API_MAX_HEADERS,
			 MHD_OPTION_NOTIFY_COMPLETED, api_completed, &st,
			 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			 cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
			 MHD_OPTION_HTTPS_MEM_KEY, key,
			 MHD_OPTION_END);
    if (d == NULL) {
	cs_error(NULL, "cannot start the HTTP server on %s", st.cfg->api_listen);
	return 1;
    }
    /* The store may be down now: its users are told again at SIGUSR1. */
    sync_users(st.cfg, st.policy);
    cs_info(NULL, "listening on %s%s, %u workers, %zu users, %zu tokens", st.cfg->api_listen,
	    cert ? " (TLS)" : "", st.workers, cs_policy_nusers(st.policy),
	    api_tokens_count(st.tokens));
    for (;;) {
	if (sigwait(&set, &sig) != 0)
	    continue;
	if (sig == SIGUSR1) {
	    reload(&st);
	    continue;
	}
	break;
    }
    cs_info(NULL, "stopping on signal %d", sig);
    MHD_stop_daemon(d);
    close(fd);
    if (addr.unix_socket)
	unlink(addr.path);
    if (key) {
	memset(key, 0, strlen(key));
	free(key);
    }
    free(cert);
    api_tokens_free(st.tokens);
    cs_policy_unref(st.policy);
    cs_config_unref(st.cfg);
    return 0;
}
