/*
 * NAME
 *	crmsync-milter 8
 * SUMMARY
 *	CRM email sync milter
 * SYNOPSIS
 *	crmsync-milter [-c config] [-f] [-n]
 * DESCRIPTION
 *	Start-up order: parse the config and the policy (refuse to start on
 *	an error), open the log, write the pid file, drop privileges to
 *	UserID, set UMask, open the milter socket, open the store, then hand
 *	over to libmilter. The socket is made after the privilege drop so it
 *	belongs to UserID (give its directory the MTA's group, setgid); the
 *	store is opened after it so its files belong to UserID too.
 *
 *	SIGUSR1 reloads the config and policy: both are parsed completely and
 *	swapped in only when valid; messages in flight finish under the ones
 *	they started with. libmilter's own signal thread ends the process on
 *	SIGHUP, SIGINT and SIGTERM.
 *
 *	A status thread (counters.h) writes what this milter saw and decided,
 *	and the policy's load time and problems, into the store every 10
 *	seconds, after each reload and at stop, for crmsyncctl stats.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include <libmilter/mfapi.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_log.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "journal.h"
#include "counters.h"
#include "events.h"
#include "mlfi.h"

static const char *config_path = CS_DEFAULT_CONFIG;

/* usage - say how to call us */
static void usage(void)
{
    fprintf(stderr, "usage: crmsync-milter [-c config] [-f] [-n]\n");
    exit(1);
}

/* load - config and policy, or -1 with the reason printed/logged and in err */
static int load(cs_config **cfgp, cs_policy **polp, int to_stderr, char *err, size_t errlen,
		        long *ms)
{
    struct timespec t0, t1;
    cs_config *cfg;
    cs_policy *pol = NULL;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((cfg = cs_config_load(config_path, err, errlen)) != NULL
	&& (pol = cs_policy_load(cfg, err, errlen)) == NULL) {
	cs_config_unref(cfg);
	cfg = NULL;
    }
    /* Policy files and Sieve scripts grow: the load time is in stats. */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (cfg == NULL) {
	if (to_stderr)
	    fprintf(stderr, "crmsync-milter: %s\n", err);
	else
	    cs_error(NULL, "%s", err);
	return -1;
    }
    *cfgp = cfg;
    *polp = pol;
    return 0;
}

/* restart_keys_changed - warn about keys a reload cannot apply */
static void restart_keys_changed(const cs_config *old, const cs_config *new)
{
    struct {
	const char *name, *a, *b;
    } keys[] = {
	{"Socket", old->socket, new->socket},
	{"UserID", old->user_id, new->user_id},
	{"Database", old->database, new->database},
	{"PidFile", old->pid_file, new->pid_file},
	{"SpoolDir", old->spool_dir, new->spool_dir},
	{"JournalDir", old->journal_dir, new->journal_dir},
	{"WebhookURL", old->webhook_url, new->webhook_url},
	{"WebhookSecret", old->webhook_secret, new->webhook_secret},
	{"WebhookCAFile", old->webhook_ca_file, new->webhook_ca_file},
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
	const char *a = keys[i].a ? keys[i].a : "", *b = keys[i].b ? keys[i].b : "";

	if (strcmp(a, b) != 0)
	    cs_warn(NULL, "reload: %s changed; it takes effect at the next restart",
		    keys[i].name);
    }
}

/* reload_thread - SIGUSR1: parse everything, swap in only if valid */
static void *reload_thread(void *arg)
{
    sigset_t *set = arg;
    int     sig;

    for (;;) {
	cs_config *cfg, *old;
	cs_policy *pol;
	char    err[1024];
	long    ms;

	if (sigwait(set, &sig) != 0 || sig != SIGUSR1)
	    continue;
	cs_info(NULL, "reload requested");
	if (load(&cfg, &pol, 0, err, sizeof(err), &ms) < 0) {
	    cs_error(NULL, "reload failed; keeping the running config and policy");
	    cs_counters_policy_failed(cs_counters_global(), err, time(NULL));
	    cs_counters_flush_kick();
	    continue;
	}
	if ((old = mlfi_config()) != NULL) {
	    restart_keys_changed(old, cfg);
	    cs_config_unref(old);
	}
	for (size_t i = 0; i < cs_policy_problems(pol)->n; i++)
	    cs_warn(NULL, "%s", cs_policy_problems(pol)->v[i]);
	cs_log_setlevel(cfg->log_level);
	mlfi_sync_users(mlfi_store(), cfg, pol);
	cs_counters_policy(cs_counters_global(), pol, ms, time(NULL));
	mlfi_install(cfg, pol);
	cs_info(NULL, "reloaded: %zu users", cs_policy_nusers(pol));
	cs_counters_flush_kick();
    }
    return NULL;
}

/* check_events - webhook settings (X3); -1 with the reason */
static int check_events(const cs_config *cfg, char *err, size_t errlen)
{
    cs_events_conf ec;

    cs_events_conf_init(&ec, cfg);
    err[0] = 0;
    /* With no store it only checks the settings. */
    if (cs_events_start(NULL, &ec, err, errlen) == NULL && *err)
	return -1;
    return 0;
}

/* drop_privileges - become UserID (user[:group]) */
static int drop_privileges(const char *spec)
{
    char    user[256], *colon;
    struct passwd *pw;
    gid_t   gid;

    if (spec == NULL || *spec == 0)
	return 0;
    if (strlen(spec) >= sizeof(user)) {
	cs_error(NULL, "UserID too long");
	return -1;
    }
    strcpy(user, spec);
    if ((colon = strchr(user, ':')) != NULL)
	*colon++ = 0;
    if ((pw = getpwnam(user)) == NULL) {
	cs_error(NULL, "UserID: no such user: %s", user);
	return -1;
    }
    gid = pw->pw_gid;
    if (colon) {
	struct group *gr = getgrnam(colon);

	if (gr == NULL) {
	    cs_error(NULL, "UserID: no such group: %s", colon);
	    return -1;
	}
	gid = gr->gr_gid;
    }
    if (getuid() == pw->pw_uid && getgid() == gid)
	return 0;
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
	cs_error(NULL, "cannot become %s: %m", spec);
	return -1;
    }
    /* Make sure there is no way back. */
    if (pw->pw_uid != 0 && setuid(0) == 0) {
	cs_error(NULL, "privilege drop did not stick");
	return -1;
    }
    return 0;
}

/* write_pidfile - best effort, before the privilege drop */
static void write_pidfile(const char *path)
{
    FILE   *fp;

    if (path == NULL || *path == 0)
	return;
    if ((fp = fopen(path, "w")) == NULL) {
	cs_warn(NULL, "cannot write pid file %s: %m", path);
	return;
    }
    fprintf(fp, "%ld\n", (long) getpid());
    fclose(fp);
}

/* daemonize - classic double detach, unless -f */
static void daemonize(void)
{
    pid_t   pid;
    int     fd;

    if ((pid = fork()) < 0) {
	fprintf(stderr, "crmsync-milter: fork: %s\n", strerror(errno));
	exit(1);
    }
    if (pid > 0)
	_exit(0);
    setsid();
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
	    close(fd);
    }
}

int     main(int argc, char **argv)
{
    int     ch, foreground = 0, check_only = 0;
    cs_config *cfg;
    cs_policy *pol;
    char    err[1024];
    static sigset_t usr1;
    pthread_t tid;
    char   *pid_file;
    long    load_ms;
    int     rc;

    while ((ch = getopt(argc, argv, "c:fn")) != -1) {
	switch (ch) {
	case 'c':
	    config_path = optarg;
	    break;
	case 'f':
	    foreground = 1;
	    break;
	case 'n':
	    check_only = 1;
	    break;
	default:
	    usage();
	}
    }
    if (optind != argc)
	usage();

    cs_message_init();
    cs_log_init("crmsync-milter", 0, 0, CS_LOG_WARN);
    (void) cs_counters_global();		/* started_at: now */
    if (load(&cfg, &pol, 1, err, sizeof(err), &load_ms) < 0)
	return 1;
    if (check_only) {
	const cs_strlist *problems = cs_policy_problems(pol);

	for (size_t i = 0; i < problems->n; i++)
	    fprintf(stderr, "crmsync-milter: %s\n", problems->v[i]);
	rc = problems->n ? 1 : 0;
	if (check_events(cfg, err, sizeof(err)) < 0) {
	    fprintf(stderr, "crmsync-milter: %s\n", err);
	    rc = 1;
	}
	printf("%s: %s, %zu users%s\n", config_path, rc ? "NOT ok" : "config ok",
	       cs_policy_nusers(pol), problems->n ? ", with problems" : "");
	cs_policy_unref(pol);
	cs_config_unref(cfg);
	return rc;
    }

    if (!foreground)
	daemonize();
    cs_log_init("crmsync-milter", cfg->use_syslog, cfg->syslog_facility, cfg->log_level);
    for (size_t i = 0; i < cs_policy_problems(pol)->n; i++)
	cs_warn(NULL, "%s", cs_policy_problems(pol)->v[i]);
    write_pidfile(cfg->pid_file);
    if (drop_privileges(cfg->user_id) < 0)
	return 1;
    umask((mode_t) cfg->umask);

    /* X3: refuse bad webhook settings now, after the privilege drop so
     * that the secret file is checked as UserID reads it. */
    if (check_events(cfg, err, sizeof(err)) < 0) {
	cs_error(NULL, "%s", err);
	return 1;
    }
    if (smfi_setconn(cfg->socket) != MI_SUCCESS || smfi_register(mlfi_desc) != MI_SUCCESS) {
	cs_error(NULL, "cannot set up milter socket %s", cfg->socket);
	return 1;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
	cs_error(NULL, "cannot open milter socket %s: %m", cfg->socket);
	return 1;
    }
    /*
     * Block the signals before any thread starts (the store's writer, the
     * reload thread), so that every thread inherits the mask: SIGUSR1 goes
     * to the reload thread's sigwait, and SIGHUP, SIGINT and SIGTERM to
     * libmilter's signal thread, never to a thread that would die of them.
     */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    {
	sigset_t all = usr1;

	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
    }
    /* C1: a store that cannot be opened is logged and tried again later;
     * the event sender starts with it (X3). */
    mlfi_open_store(cfg, pol);
    /* C6: what the store does not commit within StoreWait is journaled. */
    if (jnl_start(cfg, mlfi_store) == 0)
	cs_counters_set_extra("journal", jnl_status);
    cs_counters_policy(cs_counters_global(), pol, load_ms, time(NULL));
    mlfi_install(cfg, pol);
    /* crmsyncctl stats reads the milter's figures from the store. */
    (void) cs_counters_flush_start(mlfi_store);

    if (pthread_create(&tid, NULL, reload_thread, &usr1) != 0)
	cs_warn(NULL, "no reload thread: SIGUSR1 will be ignored");
    else
	pthread_detach(tid);

    pid_file = cs_strdup(cfg->pid_file);
    cs_info(NULL, "starting: socket %s, %zu users", cfg->socket, cs_policy_nusers(pol));
    rc = smfi_main();
    cs_info(NULL, "stopping");
    cs_counters_flush_stop();
    jnl_stop();
    mlfi_close_store();
    mlfi_install(NULL, NULL);
    if (pid_file)
	unlink(pid_file);
    free(pid_file);
    return rc == MI_SUCCESS ? 0 : 1;
}
