/*
 * NAME
 *	cs_mbox 3h
 * SUMMARY
 *	read the messages of a Maildir or an mbox one at a time (SPEC X4)
 * DESCRIPTION
 *	cs_mbox_open() looks at PATH: a directory with cur/ or new/ is a
 *	Maildir (Maildir++ subfolders ".Sales", ".Sales.Q4" included), a
 *	regular file that is empty or starts with "From " is an mbox.
 *	cs_mbox_next() then yields one message at a time: its bytes in a
 *	cs_spool, its header block in memory (bounded), the T2 body digest,
 *	where it came from and the time its file name or From_ line gives.
 *	Memory is bounded whatever the mailbox size: one read buffer, one
 *	header block, the spool's in-memory part; no list of files is kept
 *	(folder names excepted, which are few).
 *
 *	Maildir: the INBOX (PATH/cur, PATH/new) first, then each folder in
 *	name order; tmp/ is never read (deliveries in progress). Files whose
 *	name starts with "." are skipped. A folder's label is its name
 *	without the leading dot, the Maildir++ hierarchy separator "."
 *	becoming "/" and modified UTF-7 (RFC 3501) decoded: ".Sales.Q4" is
 *	"Sales/Q4", ".Entw&APw-rfe" is "Entwürfe". The INBOX has no label.
 *
 *	mbox: a message starts at a line beginning with "From " at the start
 *	of the file or after an empty line; the From_ line is not part of the
 *	message and the empty line before the next one is the separator.
 *	Content-Length is ignored (it lies too often). Lines matching
 *	">+From " lose one ">" (mboxrd); mboxo files are read the same way,
 *	so a body line that really was ">From " comes out as "From " there.
 *
 *	The body digest is computed exactly as the milter does: over the
 *	bytes after the empty line that ends the header block (cs_bodyhash
 *	normalizes the line ends), so a message imported from a Maildir (LF)
 *	and the same one captured from SMTP (CRLF) share their T2 key.
 *
 *	Links (X4): the reader runs as root or crmsync inside a directory
 *	the mail user can write, so it never follows a symbolic link: PATH
 *	itself may not be one (cs_mbox_open refuses it), and a folder, a
 *	cur/ or new/ or a message file that is one is returned as an entry
 *	with symlink (and damaged) set and nothing read. Everything below
 *	the Maildir is opened relative to descriptors with O_NOFOLLOW, so a
 *	link planted between a check and an open is not followed either.
 *
 *	Every byte is hostile: a message whose first line is not a header
 *	field, an empty file, or a file that cannot be read is returned with
 *	damaged set (and the reader moves on); only a failure to walk the
 *	mailbox itself ends the iteration with -1.
 */
#ifndef CS_MBOX_H
#define CS_MBOX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cs_util.h"
#include "cs_spool.h"
#include "cs_digest.h"

enum cs_mbox_kind { CS_MBOX_MAILDIR = 1, CS_MBOX_MBOX = 2 };

typedef struct cs_mbox_opts {
    const char *spool_dir;		/* where big messages spill, NULL /tmp */
    size_t  spool_threshold;		/* bytes kept in memory per message */
    uint64_t max_size;			/* bytes kept per message (MaxMessageSize) */
    size_t  header_max;			/* header block bytes kept (0: 1 MB) */
} cs_mbox_opts;

typedef struct cs_mbox_msg {
    char   *path;			/* the file that holds it */
    uint64_t offset;			/* mbox: offset of its From_ line */
    char   *folder;			/* label of its folder, NULL for INBOX/mbox */
    time_t  file_time;			/* Maildir name or From_ line time */
    int     has_file_time;
    cs_buf  header;			/* header block, without its empty line */
    int     header_truncated;		/* longer than header_max */
    cs_spool *raw;			/* whole message as read (mbox: From_
					 * line removed, >From unescaped) */
    char    body_digest[CS_DIGEST_HEX];
    const char *damaged;		/* static reason, NULL if readable */
    int     symlink;			/* a symbolic link, skipped unread (X4) */
} cs_mbox_msg;

typedef struct cs_mbox cs_mbox;

/* NULL with "what is wrong" in err when PATH is neither kind. */
cs_mbox *cs_mbox_open(const char *path, const cs_mbox_opts *, char *err, size_t errlen);
/* An mbox stream on an open descriptor (tests, fuzzing); fd is not closed. */
cs_mbox *cs_mbox_open_fd(int fd, const char *name, const cs_mbox_opts *);
int     cs_mbox_kind(const cs_mbox *);
/* 1 a message (check damaged), 0 no more, -1 the mailbox cannot be walked
 * (err says why). Frees what msg held before. */
int     cs_mbox_next(cs_mbox *, cs_mbox_msg *, char *err, size_t errlen);
void    cs_mbox_msg_free(cs_mbox_msg *);
void    cs_mbox_close(cs_mbox *);

/* Pure helpers, exported for tests and fuzzing. */

/* Time in a Maildir file name: its leading digits ("1700000000.M1P2.host").
 * 0, or -1 when the name does not start with a plausible time. */
int     cs_maildir_name_time(const char *name, time_t *);
/* Label of a Maildir++ folder directory name (".Sales.Q4" -> "Sales/Q4");
 * -1 when name is not a folder name (no leading dot, an empty level,
 * "." or ".."). out gets valid UTF-8. */
int     cs_maildir_folder_label(const char *name, char *out, size_t outlen);
/* Date of an mbox From_ line ("From a@b Thu Nov  9 12:34:56 2023", an
 * optional zone before or after the year; no zone is local time). */
int     cs_mbox_from_time(const char *line, size_t len, time_t *);
/* Is this line (at its start) a From_ line? */
int     cs_mbox_is_from_line(const char *line, size_t len);
/* Bytes to drop at the start of a line to undo mboxrd quoting: 1 for
 * ">From ", ">>From " ..., else 0. */
size_t  cs_mbox_unquote(const char *line, size_t len);

#endif
