/*
 * NAME
 *	tap 3h
 * SUMMARY
 *	minimal TAP producer for unit tests (automake tap-driver.sh)
 * DESCRIPTION
 *	ok(cond, fmt, ...) prints one TAP line; is_str/is_int compare and say
 *	what differed. Call done_testing() last: it prints the plan and
 *	returns the exit status. Single-threaded test programs only.
 */
#ifndef CS_TAP_H
#define CS_TAP_H

#include <stdio.h>
#include <stdarg.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
    va_list ap;

    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
	tap_failed++;
    fflush(stdout);
    return cond;
}

#define is_str(got, want, ...) tap_is_str((got), (want), __VA_ARGS__)
__attribute__((unused))
static int tap_is_str(const char *got, const char *want, const char *what)
{
    int     same = (got == NULL && want == NULL)
	|| (got != NULL && want != NULL && strcmp(got, want) == 0);

    if (!ok(same, "%s", what))
	printf("# got:  %s%s%s\n# want: %s%s%s\n",
	       got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
	       want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    return same;
}

#define is_int(got, want, ...) tap_is_int((long long) (got), (long long) (want), __VA_ARGS__)
__attribute__((unused))
static int tap_is_int(long long got, long long want, const char *what)
{
    if (!ok(got == want, "%s", what))
	printf("# got:  %lld\n# want: %lld\n", got, want);
    return got == want;
}

__attribute__((unused))
static void diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
