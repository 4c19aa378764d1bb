/*
 * NAME
 *	cs_log 3
 * SUMMARY
 *	levelled logging to syslog or stderr
 * DESCRIPTION
 *	See cs_log.h. The sink is chosen once, before threads start; the
 *	level may change on reload, so it is an atomic.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_log.h"

static int log_syslog;			/* set once at start */
static atomic_int log_level = CS_LOG_INFO;
static const char *log_ident = "crmsync";

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/*
 * Postfix's words: a line at warn or above starts with "warning: ",
 * "error: " or "fatal: " (before the queue id), so that grep warning
 * /var/log/mail.log finds crmsync's lines beside Postfix's.
 */
static const char *const level_words[] = {"error: ", "warning: ", "", ""};

/* cs_log_init - choose syslog or stderr */
void    cs_log_init(const char *ident, int use_syslog, int facility, int level)
{
    log_ident = ident;
    log_syslog = use_syslog;
    atomic_store(&log_level, level);
    if (use_syslog)
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

/* cs_log_setlevel - change the level (reload) */
void    cs_log_setlevel(int level)
{
    atomic_store(&log_level, level);
}

/* cs_log_level_parse - "error" | "warn" | "info" | "debug" */
int     cs_log_level_parse(const char *s)
{
    if (strcmp(s, "error") == 0)
	return CS_LOG_ERROR;
    if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
	return CS_LOG_WARN;
    if (strcmp(s, "info") == 0)
	return CS_LOG_INFO;
    if (strcmp(s, "debug") == 0)
	return CS_LOG_DEBUG;
    return -1;
}

/* cs_log_facility_parse - syslog facility by name */
int     cs_log_facility_parse(const char *s)
{
    static const struct {
	const char *name;
	int     fac;
    } tab[] = {
	{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
	if (strcmp(s, tab[i].name) == 0)
	    return tab[i].fac;
    return -1;
}

/* cs_vlog - one line: word, queue id when there is one, text */
static void cs_vlog(int level, const char *word, const char *qid, const char *fmt, va_list ap)
{
    char    msg[2048];
    const char *q = qid && *qid ? qid : "", *sep = qid && *qid ? ": " : "";

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_syslog) {
	syslog(word == NULL ? level_prio[level] : LOG_CRIT, "%s%s%s%s",
	       word ? word : level_words[level], q, sep, msg);
    } else {
	char    stamp[32];
	time_t  now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
	/* One fprintf per line: stdio locks the stream, lines do not interleave. */
	fprintf(stderr, "%s %s[%s]: %s%s%s%s\n", stamp, log_ident, level_names[level],
		word ? word : level_words[level], q, sep, msg);
    }
}

/* cs_log - one line at LEVEL, if the level is enabled */
void    cs_log(int level, const char *qid, const char *fmt, ...)
{
    va_list ap;

    if (level < CS_LOG_ERROR || level > CS_LOG_DEBUG || level > atomic_load(&log_level))
	return;
    va_start(ap, fmt);
    cs_vlog(level, NULL, qid, fmt, ap);
    va_end(ap);
}

/* cs_log_fatal - the line before the process gives up: "fatal: ..." */
void    cs_log_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cs_vlog(CS_LOG_ERROR, "fatal: ", NULL, fmt, ap);
    va_end(ap);
}

/* cs_log_syslog_check - 0 when the syslog socket takes a connection */
int     cs_log_syslog_check(char *why, size_t len)
{
    /* glibc's syslog() drops lines silently when nobody listens. */
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
    struct sockaddr_un sun;
    int     err = 0;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
	int     fd = socket(AF_UNIX, types[i], 0);

	if (fd < 0) {
	    err = errno;
	    continue;
	}
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0) {
	    close(fd);
	    return 0;
	}
	err = errno;
	close(fd);
	if (err != EPROTOTYPE)
	    break;
    }
    snprintf(why, len, "%s: %s", _PATH_LOG, strerror(err));
    return -1;
}

/* cs_log_limited - at most one line per interval, then a count of the rest */
void    cs_log_limited(cs_ratelimit *rl, long interval, int level, const char *qid,
		               const char *fmt, ...)
{
    char    msg[2048];
    va_list ap;
    long    now = (long) time(NULL);
    long    last = atomic_load(&rl->last);
    long    held;

    if (now - last < interval || !atomic_compare_exchange_strong(&rl->last, &last, now)) {
	atomic_fetch_add(&rl->held, 1);
	return;
    }
    held = atomic_exchange(&rl->held, 0);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (held > 0)
	cs_log(level, qid, "%s (%ld more like it in the last %lds)", msg, held, now - last);
    else
	cs_log(level, qid, "%s", msg);
}
