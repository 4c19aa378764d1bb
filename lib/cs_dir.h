/*
 * NAME
 *	cs_dir 3h
 * SUMMARY
 *	directories crmsync writes: make them, check them (SPEC C4)
 * DESCRIPTION
 *	cs_dir_make() makes a directory and its missing parents (mkdir -p,
 *	mode as given, less the umask) and then proves it writable by
 *	creating and removing a file in it, as the calling process.
 *	cs_dir_check() changes nothing: the directory exists and the caller
 *	may create files in it, or (can_make) it is missing and the nearest
 *	existing ancestor is a directory the caller may create entries in.
 *	Both return 0, or -1 with "what is wrong" in err.
 *
 *	Run them with the identity that will use the directory (UserID):
 *	crmsync-milter -n does so in a child that dropped its privileges.
 */
#ifndef CS_DIR_H
#define CS_DIR_H

#include <stddef.h>
#include <sys/types.h>

int     cs_dir_make(const char *path, mode_t mode, char *err, size_t errlen);
int     cs_dir_check(const char *path, int can_make, char *err, size_t errlen);

#endif
