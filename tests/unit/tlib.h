/*
 * NAME
 *	tlib 3h
 * SUMMARY
 *	helpers shared by the unit tests
 * SYNOPSIS
 *	#include "tlib.h"
 *
 *	const char *tl_tmpdir(char *dir, size_t len, const char *name)
 *	void	tl_rmtree(const char *dir)
 *	void	tl_put(const char *dir, const char *name, const void *data,
 *		       size_t len)
 *
 *	char	tl_db[];
 *	long long tl_q_int(const char *sql)
 *	long long tl_q_intf(const char *fmt, ...)
 *	char   *tl_q_col(const char *sql, int col, char *buf, size_t len)
 *	int	tl_q_exec(const char *sql)
 *
 *	char   *tl_mk(const char *from, const char *to, const char *subject,
 *		      time_t date, const char *msgid, const char *extra,
 *		      const char *body)
 *	void	tl_msg_init(tl_msg *m, const char *raw, const char *spooldir,
 *			    size_t threshold)
 *	void	tl_msg_free(tl_msg *m)
 * DESCRIPTION
 *	tl_tmpdir() makes $TMPDIR/NAME.XXXXXX (TMPDIR defaults to /tmp) and
 *	bails out of the TAP run when it cannot; tl_rmtree() removes a test
 *	directory and everything in it. tl_put() writes a file dir/name
 *	and bails out when it cannot.
 *
 *	The tl_q_* functions read or change the database named by tl_db on
 *	a connection of their own, so a test checks rows apart from the
 *	store under test: an SQLite path, or a postgresql:// URI (not
 *	tl_q_exec). tl_q_int returns the first column of the first row
 *	(NULL is 0), -999 when there is no row or the query fails (a TAP
 *	comment says why), -998 when the database does not open; tl_q_intf
 *	takes a printf format. tl_q_col copies a column into buf, "(none)"
 *	when there is no row or it is NULL. tl_q_exec returns 0 or -1.
 *
 *	tl_mk() returns a raw CRLF message (free it): From, To, Subject,
 *	Date, Message-ID <msgid>, then the header lines in extra (each
 *	ending in CRLF, or NULL), a blank line and body ("Hello." if NULL).
 *
 *	tl_msg_init() parses raw, spools it into spooldir and hashes its
 *	body: what cs_record wants of a message.
 */
#ifndef CS_TLIB_H
#define CS_TLIB_H

#include <stddef.h>
#include <time.h>

#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"

extern char tl_db[300];

extern const char *tl_tmpdir(char *, size_t, const char *);
extern void tl_rmtree(const char *);
extern void tl_put(const char *, const char *, const void *, size_t);

extern long long tl_q_int(const char *);
extern long long tl_q_intf(const char *,...) __attribute__((format(printf, 1, 2)));
extern char *tl_q_col(const char *, int, char *, size_t);
extern int tl_q_exec(const char *);

/* SQL that takes a SQLite store back from schema 8 to 7 (the thread
 * summaries: their column and triggers), for the migration tests. */
/* SQLite schema 9 undone (its index names the column schema 8 added). */
#define TL_SQ_UNDO_9 "DROP INDEX threads_summary_missing;"
#define TL_SQ_UNDO_8 TL_SQ_UNDO_9 \
    "DROP TRIGGER messages_summary_upd; DROP TRIGGER messages_summary_del;" \
    "DROP TRIGGER message_labels_summary_upd; DROP TRIGGER message_labels_summary_del;" \
    "ALTER TABLE threads DROP COLUMN summary;"

extern char *tl_mk(const char *, const char *, const char *, time_t, const char *,
		           const char *, const char *);

/* A parsed message ready to record. */
typedef struct tl_msg {
    cs_msginfo mi;
    cs_spool *sp;
    char    digest[CS_DIGEST_HEX];
} tl_msg;

extern void tl_msg_init(tl_msg *, const char *, const char *, size_t);
extern void tl_msg_free(tl_msg *);

#endif
