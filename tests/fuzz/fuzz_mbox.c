/*
 * NAME
 *	fuzz_mbox - libFuzzer harness for the Maildir and mbox readers
 * DESCRIPTION
 *	The input is an mbox stream, read through a memfd with small limits
 *	so that long lines, header and size bounds are all reached; the same
 *	bytes are then a Maildir file name, a folder name and a From_ line.
 *	Checks the bounds the importer relies on, not just "no crash".
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_mbox.h"
#include "cs_spool.h"

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_mbox_opts o = {"/tmp", 4096, 4096, 512};
    cs_mbox_msg m;
    cs_mbox *mb;
    char    err[128], label[256];
    char   *s;
    time_t  t;
    int     fd, n = 0;

    if ((s = malloc(size + 1)) == NULL)
	return 0;
    memcpy(s, data, size);
    s[size] = 0;
    (void) cs_maildir_name_time(s, &t);
    if (cs_maildir_folder_label(s, label, sizeof(label)) == 0 && strlen(label) >= sizeof(label))
	abort();
    (void) cs_mbox_from_time(s, size, &t);
    if (cs_mbox_unquote(s, size) > 1)
	abort();
    free(s);

    if ((fd = memfd_create("fuzz_mbox", 0)) < 0)
	return 0;
    if (write(fd, data, size) != (ssize_t) size || lseek(fd, 0, SEEK_SET) != 0) {
	close(fd);
	return 0;
    }
    memset(&m, 0, sizeof(m));
    if ((mb = cs_mbox_open_fd(fd, "fuzz", &o)) != NULL) {
	while (cs_mbox_next(mb, &m, err, sizeof(err)) > 0) {
	    n++;
	    if (m.header.len > o.header_max || m.header.data == NULL
		|| cs_spool_kept(m.raw) > o.max_size || strlen(m.body_digest) != 64)
		abort();
	    /* Every message comes from a From_ line: at most one per line. */
	    if ((size_t) n > size / 6 + 1)
		abort();
	}
	cs_mbox_msg_free(&m);
	cs_mbox_close(mb);
    }
    close(fd);
    return 0;
}
