/*
 * NAME
 *	fuzz_journal - libFuzzer harness for the journal's segment reader
 * DESCRIPTION
 *	The input is a segment file (through a memfd), read as the replayer
 *	reads one after a crash or a disk error. Checks the bounds replay
 *	relies on, not just "no crash": every record or damaged stretch
 *	moves forward and stays inside the file, a record's fields and body
 *	lie inside its extent, and the body reads back exactly its length.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_journal.h"

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_journal_seg s;
    cs_journal_rec rec;
    char    buf[4096];
    uint64_t last;
    int     fd, r;

    if ((fd = memfd_create("fuzz_journal", 0)) < 0)
	return 0;
    if (write(fd, data, size) != (ssize_t) size) {
	close(fd);
	return 0;
    }
    if (cs_journal_seg_open_fd(&s, fd, 1) < 0) {
	cs_journal_seg_close(&s);
	return 0;
    }
    if (s.off > size)
	abort();
    last = s.off;
    while ((r = cs_journal_seg_next(&s, size, &rec)) != CS_JREC_END) {
	if (r < 0)
	    break;
	if (rec.off != last || rec.end <= rec.off || rec.end > size || s.off != rec.end)
	    abort();
	if (r == CS_JREC_OK) {
	    uint64_t got = 0;
	    long    n;

	    if (rec.fields == NULL || strlen(rec.fields) > rec.flen
		|| rec.flen > CS_JOURNAL_FIELDS_MAX
		|| rec.body_off < rec.off + CS_JOURNAL_HDR
		|| rec.body_off + rec.body_len != rec.end)
		abort();
	    while ((n = cs_journal_body_pread(&s, &rec, buf, sizeof(buf), got)) > 0)
		got += (uint64_t) n;
	    if (n < 0 || got != rec.body_len)
		abort();
	}
	cs_journal_rec_free(&rec);
	last = s.off;
    }
    cs_journal_seg_close(&s);
    return 0;
}
