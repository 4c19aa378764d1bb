/*
 * NAME
 *	cs_cli 3
 * SUMMARY
 *	-V, -h and detaching for every crmsync program
 * DESCRIPTION
 *	See cs_cli.h.
 */
#include <config.h>

/* System library. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_cli.h"

/* cs_cli_version - the version line */
void    cs_cli_version(FILE *fp, const char *prog)
{
    fprintf(fp, "%s (%s) %s\n", prog, PACKAGE_NAME, PACKAGE_VERSION);
}

/* cs_cli_usage - the synopsis and the options, aligned */
void    cs_cli_usage(FILE *fp, const char *prog, const char *args, const cs_cli_opt *opts)
{
    size_t  width = 0;

    fprintf(fp, "usage: %s %s\n", prog, args);
    for (const cs_cli_opt *o = opts; o && o->flag; o++)
	if (strlen(o->flag) > width)
	    width = strlen(o->flag);
    if (opts && opts->flag)
	fprintf(fp, "options:\n");
    for (const cs_cli_opt *o = opts; o && o->flag; o++)
	fprintf(fp, "  %-*s  %s\n", (int) width, o->flag, o->what);
}

static char start_dir[PATH_MAX];	/* written once (pthread_once) */
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

/* start_dir_read - the current directory, once; "" when it cannot be read */
static void start_dir_read(void)
{
    if (getcwd(start_dir, sizeof(start_dir)) == NULL)
	start_dir[0] = 0;
}

/* cs_cli_start_dir - the directory the program started in ("": unknown) */
const char *cs_cli_start_dir(void)
{
    pthread_once(&start_once, start_dir_read);
    return start_dir;
}

/* cs_cli_daemonize - detach from the terminal, the starting process and its directory */
int     cs_cli_daemonize(void)
{
    pid_t   pid;
    int     fd;

    (void) cs_cli_start_dir();
    if ((pid = fork()) < 0)
	return -1;
    if (pid > 0)
	_exit(0);
    if (setsid() < 0)
	return -1;
    if ((pid = fork()) < 0)
	return -1;
    if (pid > 0)
	_exit(0);
    /* Hold no directory an operator may want to remove or unmount. */
    if (chdir("/") < 0)
	return -1;
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
	    close(fd);
    }
    return 0;
}
