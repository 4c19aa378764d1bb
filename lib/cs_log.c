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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Application-specific. */
#include "cs_log.h"

static int log_syslog;			/* set once at start */
static atomic_int log_level = CS_LOG_INFO;
static const char *log_ident = "crmsync";

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

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

/* cs_log - one line, prefixed with the queue id when there is one */
void    cs_log(int level, const char *qid, const char *fmt, ...)
{
    char    msg[2048];
    va_list ap;

    if (level < CS_LOG_ERROR || level > CS_LOG_DEBUG || level > atomic_load(&log_level))
	return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_syslog) {
	if (qid && *qid)
	    syslog(level_prio[level], "%s: %s", qid, msg);
	else
	    syslog(level_prio[level], "%s", msg);
    } else {
	char    stamp[32];
	time_t  now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
	/* One fprintf per line: stdio locks the stream, lines do not interleave. */
	fprintf(stderr, "%s %s[%s]: %s%s%s\n", stamp, log_ident, level_names[level],
		qid && *qid ? qid : "", qid && *qid ? ": " : "", msg);
    }
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
