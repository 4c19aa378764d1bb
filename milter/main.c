/*
 * NAME
 *	crmsync-milter 8
 * SUMMARY
 *	CRM email sync milter
 * SYNOPSIS
 *	crmsync-milter [-c config] [-f] [-n] [-V] [-h]
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
 *	they started with. Keys the config table marks "restart" keep their
 *	running values, with a warning when the file changed them.
 *	libmilter's own signal thread ends the process on SIGHUP, SIGINT and
 *	SIGTERM.
 *
 *	libmilter's threads (one per connection) get a stack of
 *	CS_CONN_STACK, whatever "ulimit -s" says; crmsync's own threads
 *	get CS_THREAD_STACK (lib/cs_thread.c).
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include <libmilter/mfapi.h>

/* Application-specific. */
#include "cs_cli.h"
#include "cs_config.h"
#include "cs_dir.h"
#include "cs_log.h"
#include "cs_thread.h"
#include "cs_message.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "journal.h"
#include "counters.h"
#include "retention.h"
#include "events.h"
#include "mlfi.h"
#include "state.h"

static const char *config_path = CS_DEFAULT_CONFIG;

/* usage - say how to call us: on stdout for -h (exit 0), else on stderr */
static void usage(FILE *fp, int code)
{
    static const cs_cli_opt opts[] = {
	CS_CLI_OPT_CONFIG,
	{"-f", "stay in the foreground"},
	{"-n", "check the configuration and the policy, then exit"},
	CS_CLI_OPT_VERSION,
	CS_CLI_OPT_HELP,
	{NULL, NULL},
    };

    cs_cli_usage(fp, "crmsync-milter", "[-c config] [-f] [-n] [-V] [-h]", opts);
    exit(code);
}

/* load - config and policy, or -1 with the reason printed/logged and in err */
static int load(cs_config **cfgp, cs_policy **polp, int to_stderr, char *err, size_t errlen,
		        long *ms)
{
    long long t0 = cs_mono_ms();
    cs_config *cfg;
    cs_policy *pol = NULL;

    if ((cfg = cs_config_load_at(config_path, cs_cli_start_dir(), err, errlen)) != NULL
	&& (pol = cs_policy_load(cfg, err, errlen)) == NULL) {
	cs_config_unref(cfg);
	cfg = NULL;
    }
    /* Policy files and Sieve scripts grow: the load time is in stats. */
    *ms = (long) (cs_mono_ms() - t0);
    if (cfg == NULL) {
	if (to_stderr)
	    fprintf(stderr, "crmsync-milter: %s%s\n", to_stderr > 1 ? "fatal: " : "", err);
	else
	    cs_error(NULL, "%s", err);
	return -1;
    }
    *cfgp = cfg;
    *polp = pol;
    return 0;
}

/* restart_key_changed - a reload cannot apply this key: say so */
static void restart_key_changed(const char *key, void *unused)
{
    (void) unused;
    cs_warn(NULL, "reload: %s changed; it takes effect at the next restart", key);
}

/* rules_error_users - how many users a broken Rules script disables */
static size_t rules_error_users(const cs_policy *pol)
{
    size_t  n = 0;

    for (size_t i = 0; i < cs_policy_nusers(pol); i++)
	n += cs_policy_user_at(pol, i)->rules_error != NULL;
    return n;
}

/* rules_error_note - ", N of them sync nothing (rules-error)" or "" */
static const char *rules_error_note(const cs_policy *pol)
{
    static _Thread_local char note[96];
    size_t  n = rules_error_users(pol);

    if (n == 0)
	return "";
    snprintf(note, sizeof(note), ", %zu of them sync%s nothing (rules-error)", n,
	     n == 1 ? "s" : "");
    return note;
}

/* log_problems - each broken Rules script once, with the users it disables */
static void log_problems(const cs_policy *pol)
{
    const cs_strlist *pr = cs_policy_problems(pol);
    char    safe[1024];

    for (size_t i = 0; i < pr->n; i++)
	cs_warn(NULL, "policy: %s", cs_sanitize(pr->v[i], safe, sizeof(safe)));
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
	/* The key table says which keys need a restart (crmsync.conf(5)):
	 * those keep their running values. */
	if ((old = mlfi_config()) != NULL) {
	    int     kept = cs_config_keep_restart(cfg, old, restart_key_changed, NULL);

	    cs_config_unref(old);
	    if (kept < 0) {
		cs_error(NULL, "reload failed: out of memory; keeping the running config");
		cs_config_unref(cfg);
		cs_policy_unref(pol);
		continue;
	    }
	}
	cs_log_setlevel(cfg->log_level);
	log_problems(pol);
	mlfi_sync_users(mlfi_store(), cfg, pol);
	cs_counters_policy(cs_counters_global(), pol, ms, time(NULL));
	mlfi_install(cfg, pol);
	cs_info(NULL, "reloaded: %zu users%s", cs_policy_nusers(pol), rules_error_note(pol));
	cs_counters_flush_kick();
    }
    return NULL;
}

/* note_file - add the file a "file:line: what" problem names to FILES, once */
static void note_file(char *files, size_t len, const char *problem)
{
    char    name[512];
    size_t  used = strlen(files), nlen;

    snprintf(name, sizeof(name), "%.*s", (int) strcspn(problem, ":"), problem);
    nlen = strlen(name);
    for (const char *p = files; (p = strstr(p, name)) != NULL; p += nlen)
	if ((p == files || p[-1] == ' ') && (p[nlen] == 0 || p[nlen] == ','))
	    return;
    if (used + nlen + 3 < len)
	snprintf(files + used, len - used, "%s%s", used ? ", " : "", name);
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

/* make_dirs - C4: make the directories of type "directory" (SpoolDir), as
 * UserID; -1 when one cannot be made or written (start is refused) */
static int make_dirs(const cs_config *cfg)
{
    cs_config_dir dirs[CS_CONFIG_DIRS_MAX];
    size_t  n = cs_config_dirs(cfg, dirs, CS_CONFIG_DIRS_MAX);
    char    err[4200];

    for (size_t i = 0; i < n; i++) {
	if (dirs[i].made && cs_dir_make(dirs[i].path, 0770, err, sizeof(err)) < 0) {
	    cs_error(NULL, "%s: %s; not starting", dirs[i].key, err);
	    return -1;
	}
    }
    return 0;
}

/* check_dirs - -n: every directory the config names, checked as UserID
 * in a child (the check must not change our own identity); faults on
 * stderr, -1 if any */
static int check_dirs(const cs_config *cfg)
{
    cs_config_dir dirs[CS_CONFIG_DIRS_MAX];
    size_t  n = cs_config_dirs(cfg, dirs, CS_CONFIG_DIRS_MAX);
    int     status;
    pid_t   pid;

    fflush(NULL);
    if ((pid = fork()) < 0) {
	fprintf(stderr, "crmsync-milter: cannot check directories: fork: %s\n", strerror(errno));
	return -1;
    }
    if (pid == 0) {
	int     bad = 0;
	char    err[4200];

	if (drop_privileges(cfg->user_id) < 0)
	    _exit(1);
	for (size_t i = 0; i < n; i++) {
	    if (cs_dir_check(dirs[i].path, dirs[i].made, err, sizeof(err)) < 0) {
		fprintf(stderr, "crmsync-milter: %s: %s: %s%s%s%s\n", config_path, dirs[i].key,
			err, cfg->user_id ? " (as UserID " : "", cfg->user_id ? cfg->user_id : "",
			cfg->user_id ? ")" : "");
		bad = 1;
	    }
	}
	fflush(stderr);
	_exit(bad);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
	continue;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * write_pidfile - best effort, before the privilege drop. The directory
 * must be writable by UserID (the unlink at stop), so that account could
 * plant a link there: remove whatever is there and create the file anew,
 * never through a link (O_EXCL|O_NOFOLLOW).
 */
static void write_pidfile(const char *path)
{
    char    buf[32];
    int     fd, len;

    if (path == NULL || *path == 0)
	return;
    if ((unlink(path) < 0 && errno != ENOENT)
	|| (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
	cs_warn(NULL, "cannot write pid file %s: %m", path);
	return;
    }
    len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if (write(fd, buf, (size_t) len) != len)
	cs_warn(NULL, "cannot write pid file %s: %m", path);
    close(fd);
}

/* unix_socket_path - the file of a unix:/local: socket spec, else NULL */
static char *unix_socket_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
	spec += 5;
    else if (strncmp(spec, "local:", 6) == 0)
	spec += 6;
    else if (*spec != '/')
	return NULL;
    return cs_strdup(spec);
}

/* remove_socket - unlink our own socket file at stop */
static void remove_socket(const char *path, const struct stat *ours)
{
    struct stat st;

    /*
     * XXX libmilter removes its socket at stop only when it does not run
     * as root. Remove it only while it is still the one we made (another
     * instance may have taken the path since).
     */
    if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)
	&& st.st_dev == ours->st_dev && st.st_ino == ours->st_ino)
	(void) unlink(path);
}

/* check - -n: every problem once, naming its file; a summary; 0 if none */
static int check(void)
{
    cs_config *cfg;
    cs_policy *pol;
    const cs_strlist *problems;
    char    err[1024], files[1024] = "";
    size_t  nprob;
    long    ms;

    if (load(&cfg, &pol, 1, err, sizeof(err), &ms) < 0) {
	note_file(files, sizeof(files), err);
	printf("crmsync-milter -n: 1 problem, in %s; refused: crmsync-milter would not start "
	       "(a reload would keep what runs)\n", files);
	return 1;
    }
    problems = cs_policy_problems(pol);
    nprob = problems->n;
    for (size_t i = 0; i < problems->n; i++) {
	fprintf(stderr, "crmsync-milter: %s\n", problems->v[i]);
	note_file(files, sizeof(files), problems->v[i]);
    }
    if (check_events(cfg, err, sizeof(err)) < 0) {
	fprintf(stderr, "crmsync-milter: %s: %s\n", config_path, err);
	note_file(files, sizeof(files), config_path);
	nprob++;
    }
    if (check_dirs(cfg) < 0) {
	note_file(files, sizeof(files), config_path);
	nprob++;
    }
    if (nprob == 0)
	printf("crmsync-milter -n: ok, %zu users\n", cs_policy_nusers(pol));
    else
	printf("crmsync-milter -n: %zu problem%s, in %s; %zu users%s\n", nprob,
	       nprob == 1 ? "" : "s", files, cs_policy_nusers(pol), rules_error_note(pol));
    cs_policy_unref(pol);
    cs_config_unref(cfg);
    return nprob ? 1 : 0;
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
    int     rc, use_syslog;
    char   *sock_path = NULL;
    struct stat sock_st;

    while ((ch = getopt(argc, argv, "c:fnVh")) != -1) {
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
	case 'V':
	    cs_cli_version(stdout, "crmsync-milter");
	    return 0;
	case 'h':
	    usage(stdout, 0);
	    break;
	default:
	    usage(stderr, 1);
	}
    }
    if (optind != argc)
	usage(stderr, 1);

    cs_message_init();
    cs_log_init("crmsync-milter", 0, 0, CS_LOG_WARN);
    (void) cs_counters_global();		/* started_at: now */
    if (check_only)
	return check();
    if (load(&cfg, &pol, 2, err, sizeof(err), &load_ms) < 0)
	return 1;

    /* No syslog daemon (a container, say): say so while stderr is the
     * terminal, and with -f log there instead of losing every line. */
    use_syslog = cfg->use_syslog;
    if (use_syslog && cs_log_syslog_check(err, sizeof(err)) < 0) {
	fprintf(stderr, "crmsync-milter: warning: syslog cannot be reached (%s): %s\n", err,
		foreground ? "logging to standard error instead"
		: "log lines are lost until a syslog daemon listens (or use -f with Syslog no)");
	if (foreground)
	    use_syslog = 0;
    }
    if (!foreground && cs_cli_daemonize() < 0) {
	fprintf(stderr, "crmsync-milter: cannot detach: %s\n", strerror(errno));
	exit(1);
    }
    cs_log_init("crmsync-milter", use_syslog, cfg->syslog_facility, cfg->log_level);
    log_problems(pol);
    write_pidfile(cfg->pid_file);
    if (drop_privileges(cfg->user_id) < 0) {
	cs_log_fatal("cannot become UserID %s", cfg->user_id);
	return 1;
    }
    if (geteuid() == 0)
	cs_warn(NULL, "running as root (UserID %s): the socket and the store's files belong "
		"to root; set UserID crmsync in %s, or start it as crmsync",
		cfg->user_id && *cfg->user_id ? cfg->user_id : "unset", config_path);
    umask((mode_t) cfg->umask);
    if (make_dirs(cfg) < 0)
	return 1;

    /* X3: refuse bad webhook settings now, after the privilege drop so
     * that the secret file is checked as UserID reads it. */
    if (check_events(cfg, err, sizeof(err)) < 0) {
	cs_log_fatal("%s", err);
	return 1;
    }
    if (smfi_setconn(cfg->socket) != MI_SUCCESS || smfi_register(mlfi_desc) != MI_SUCCESS) {
	cs_log_fatal("cannot set up milter socket %s", cfg->socket);
	return 1;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
	cs_log_fatal("cannot open milter socket %s: %m", cfg->socket);
	return 1;
    }
    sock_path = unix_socket_path(cfg->socket);
    if (sock_path && lstat(sock_path, &sock_st) < 0) {
	free(sock_path);
	sock_path = NULL;
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
    /* R1: retention in the background, never on the mail path. */
    (void) cs_retention_start();

    if (cs_thread_create(&tid, reload_thread, &usr1) != 0)
	cs_warn(NULL, "no reload thread: SIGUSR1 will be ignored");
    else
	pthread_detach(tid);

    /* libmilter's connection threads: CS_CONN_STACK, not "ulimit -s"
     * (lib/cs_thread.c says why and what was measured). */
    if ((rc = cs_thread_default_stack(CS_CONN_STACK)) != 0)
	cs_warn(NULL, "cannot set the connection threads' stack to %d KB: %s",
		CS_CONN_STACK / 1024, strerror(rc));

    pid_file = cs_strdup(cfg->pid_file);
    cs_info(NULL, "starting: socket %s, %zu users", cfg->socket, cs_policy_nusers(pol));
    rc = smfi_main();
    cs_info(NULL, "stopping");
    /* A callback may still run (an end of message waiting for its commit). */
    if (mlfi_store_quiesce(cfg->store_timeout_ms + 1000) > 0)
	cs_warn(NULL, "stopping: a message still waits for the store; closing it all the same");
    cs_retention_stop();
    cs_counters_flush_stop();
    jnl_stop();
    mlfi_close_store();
    mlfi_install(NULL, NULL);
    if (pid_file)
	unlink(pid_file);
    free(pid_file);
    remove_socket(sock_path, &sock_st);
    free(sock_path);
    return rc == MI_SUCCESS ? 0 : 1;
}
