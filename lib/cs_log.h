/*
 * NAME
 *	cs_log 3h
 * SUMMARY
 *	levelled logging to syslog or stderr
 * DESCRIPTION
 *	cs_log_init() picks the sink once at start; the functions are then safe
 *	from any thread. Lines at warn and above start with Postfix's words
 *	"warning: ", "error: " or "fatal: ", in syslog and on stderr alike. Callers pass the queue id (or NULL) so that every line
 *	about a message can be found with grep. Never log header values without
 *	cs_sanitize() first.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

enum cs_loglevel { CS_LOG_ERROR = 0, CS_LOG_WARN, CS_LOG_INFO, CS_LOG_DEBUG };

void    cs_log_init(const char *ident, int use_syslog, int facility, int level);
void    cs_log_setlevel(int level);
int     cs_log_level_parse(const char *);	/* -1 if unknown */
int     cs_log_facility_parse(const char *);	/* -1 if unknown */
void    cs_log(int level, const char *qid, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The reason the process stops: logged as "fatal: ..." whatever LogLevel. */
void    cs_log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 0 when syslog's socket (/dev/log) answers; else -1 and why. */
int     cs_log_syslog_check(char *why, size_t len);

/*
 * A failure that repeats with every message (store down, disk full) is
 * logged once per interval with a count of what was held back, so that a
 * broken store does not flood the log (SPEC C1 keeps the mail flowing).
 * A zeroed struct is ready to use; share one per kind of failure.
 */
typedef struct cs_ratelimit {
    _Atomic long last;			/* time of the last line logged */
    _Atomic long held;			/* lines held back since */
} cs_ratelimit;

void    cs_log_limited(cs_ratelimit *, long interval, int level, const char *qid,
		               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define cs_error(qid, ...) cs_log(CS_LOG_ERROR, (qid), __VA_ARGS__)
#define cs_warn(qid, ...)  cs_log(CS_LOG_WARN, (qid), __VA_ARGS__)
#define cs_info(qid, ...)  cs_log(CS_LOG_INFO, (qid), __VA_ARGS__)
#define cs_debug(qid, ...) cs_log(CS_LOG_DEBUG, (qid), __VA_ARGS__)

#endif
