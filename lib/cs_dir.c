/*
 * NAME
 *	cs_dir 3
 * SUMMARY
 *	make and check the directories crmsync writes
 * DESCRIPTION
 *	See cs_dir.h. access(2) answers for the real uid and gid, which are
 *	the effective ones here (no set-uid program), so it tells what the
 *	process may do; root passes it everywhere, as root really may.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_dir.h"

#define CS_DIR_PATH_MAX	4096

/* writable - the directory exists and we may make files in it */
static int writable(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) < 0) {
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
	snprintf(err, errlen, "%s: not a directory", path);
	return -1;
    }
    if (access(path, W_OK | X_OK) < 0) {
	snprintf(err, errlen, "%s: not writable: %s", path, strerror(errno));
	return -1;
    }
    return 0;
}

/* cs_dir_check - exists and writable, or can be made */
int     cs_dir_check(const char *path, int can_make, char *err, size_t errlen)
{
    char    p[CS_DIR_PATH_MAX];
    struct stat st;
    char   *slash;

    if (path == NULL || *path == 0 || strlen(path) >= sizeof(p)) {
	snprintf(err, errlen, "no usable path");
	return -1;
    }
    if (stat(path, &st) == 0 || errno != ENOENT)
	return writable(path, err, errlen);
    if (!can_make) {
	snprintf(err, errlen, "%s: does not exist", path);
	return -1;
    }
    /* Missing: the nearest existing ancestor must let us make entries. */
    strcpy(p, path);
    for (;;) {
	while ((slash = strrchr(p, '/')) != NULL && slash[1] == 0 && slash != p)
	    *slash = 0;				/* trailing slashes */
	if ((slash = strrchr(p, '/')) == NULL) {
	    strcpy(p, ".");
	    break;
	}
	slash[slash == p ? 1 : 0] = 0;
	if (stat(p, &st) == 0 || errno != ENOENT)
	    break;
    }
    if (writable(p, err, errlen) < 0) {
	char    why[CS_DIR_PATH_MAX + 64];

	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, errlen, "%s: missing and cannot be made: %s", path, why);
	return -1;
    }
    return 0;
}

/* cs_dir_make - mkdir -p, then prove it writable */
int     cs_dir_make(const char *path, mode_t mode, char *err, size_t errlen)
{
    char    p[CS_DIR_PATH_MAX], probe[CS_DIR_PATH_MAX + 32];
    int     fd;

    if (path == NULL || *path == 0 || strlen(path) >= sizeof(p)) {
	snprintf(err, errlen, "no usable path");
	return -1;
    }
    strcpy(p, path);
    for (char *s = p + 1;; s++) {
	if (*s != '/' && *s != 0)
	    continue;
	char    c = *s;

	*s = 0;
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
	    snprintf(err, errlen, "%s: cannot make %s: %s", path, p, strerror(errno));
	    return -1;
	}
	*s = c;
	if (c == 0)
	    break;
    }
    if (writable(path, err, errlen) < 0)
	return -1;
    /* access(2) can be wrong (read-only file system, ACLs): try it. */
    snprintf(probe, sizeof(probe), "%s/.probe.XXXXXX", path);
    if ((fd = mkstemp(probe)) < 0) {
	snprintf(err, errlen, "%s: cannot create a file in it: %s", path, strerror(errno));
	return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}
