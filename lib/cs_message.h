/*
 * NAME
 *	cs_message 3h
 * SUMMARY
 *	parse the header block of a message into the fields crmsync keeps
 * DESCRIPTION
 *	Every byte here is hostile. cs_msginfo_parse() reads the header block
 *	of a raw message (up to the first empty line, or all of it) and never
 *	fails on junk: fields it cannot make sense of are left NULL/empty. It
 *	returns -1 only on ENOMEM. Header values are unfolded (CR/LF removed,
 *	the folding white space kept, RFC 5322 2.2.3) and kept as received in
 *	headers; decoded forms are UTF-8 with invalid bytes replaced by U+FFFD.
 *	GMime does the RFC 2047, address-list and date work.
 *
 *	Limits: CS_MAX_HEADERS headers are kept (the rest are ignored for
 *	parsing), CS_MAX_REFS message ids from References.
 *
 *	Call cs_message_init() once per process before any thread parses.
 */
#ifndef CS_MESSAGE_H
#define CS_MESSAGE_H

#include <stddef.h>
#include <time.h>
#include "cs_util.h"

#define CS_MAX_HEADERS	10000
#define CS_MAX_REFS	500

typedef struct cs_header {
    char   *name;			/* as received */
    char   *value;			/* unfolded, raw bytes, no leading space */
} cs_header;

typedef struct cs_headers {
    cs_header *v;
    size_t  n;
    size_t  cap;
} cs_headers;

typedef struct cs_mailaddr {
    char   *name;			/* decoded display name (UTF-8) or NULL */
    char   *address;		/* addr-spec as written (UTF-8), never NULL */
} cs_mailaddr;

typedef struct cs_addrlist {
    cs_mailaddr *v;
    size_t  n;
} cs_addrlist;

typedef struct cs_msginfo {
    cs_headers headers;
    char   *subject;			/* decoded, NULL if absent */
    cs_addrlist from, to, cc, reply_to;
    char   *date_raw;			/* Date: as received, NULL if absent */
    time_t  date;			/* parsed Date:, valid if has_date */
    int     has_date;
    char   *message_id;			/* without <>, NULL if absent or junk */
    char   *in_reply_to;		/* first msg-id of In-Reply-To, no <> */
    cs_strlist in_reply_to_ids;		/* every msg-id of In-Reply-To (T1) */
    cs_strlist references;		/* msg-ids of References, no <>, unique */
    char   *thread_index_root;		/* hex of the 22-byte Thread-Index root */
    char   *list_id;			/* raw List-Id, NULL if absent */
    char   *auto_submitted;		/* raw Auto-Submitted */
    char   *precedence;		/* raw Precedence */
} cs_msginfo;

void    cs_message_init(void);
int     cs_msginfo_parse(const char *raw, size_t len, cs_msginfo *);
void    cs_msginfo_free(cs_msginfo *);

/* Header list helpers (case-insensitive names). cs_headers_add copies;
 * it refuses a header past CS_MAX_HEADERS (-1, errno E2BIG). */
int     cs_headers_add(cs_headers *, const char *name, const char *value);
const char *cs_headers_get(const cs_headers *, const char *name);
void    cs_headers_free(cs_headers *);

/* Unfold a raw header value (RFC 5322 2.2.3): CR and LF removed, the
 * folding white space kept as received, NUL bytes as spaces, leading and
 * trailing white space trimmed. */
char   *cs_unfold(const char *value, size_t len);

/* RFC 2047 decode into valid UTF-8 (8-bit input that is not UTF-8 is taken
 * as Latin-1, as mail clients do). Never NULL for non-NULL input unless
 * ENOMEM. */
char   *cs_rfc2047_decode(const char *value);

/* Copy len bytes as valid UTF-8: UTF-8 sequences kept, every other byte
 * taken as windows-1252 (Latin-1), NUL as a space. NULL on ENOMEM. */
char   *cs_utf8_from_raw(const char *s, size_t len);

/* Remove C0 controls but tab (and newline if keep_newline), DEL and C1
 * controls from a valid UTF-8 string, in place. */
void    cs_utf8_strip_controls(char *s, int keep_newline);

/* Parse an address-list header value into a list it initializes (any
 * previous content is not freed). Groups are flattened; at most 10000
 * addresses; entries with an empty address are dropped; -1 on ENOMEM. */
int     cs_addrlist_parse(const char *value, cs_addrlist *);
void    cs_addrlist_free(cs_addrlist *);

/* RFC 5322 date; 0 on success. */
int     cs_date_parse(const char *value, time_t *);

/* Message ids "<a@b> <c@d>" -> "a@b","c@d", appended to the list; junk
 * between ids is skipped (comments, bare words without '@', a truncated
 * trailing "<abc", ids over 998 bytes or with controls); white space
 * inside <> removed; duplicates dropped. Past max ids the first one (the
 * thread root) and the last max-1 are kept. -1 on ENOMEM. */
int     cs_msgid_list_parse(const char *value, cs_strlist *, size_t max);

/* Thread subject for T1: decoded subject with Re:/Fwd:/Fw:/AW:/WG:/SV:/VS:/
 * Antw: prefixes and [tags] removed (repeated, any case), white space
 * folded, lower-cased. "" for an empty subject. */
char   *cs_subject_normalize(const char *decoded);

/* Text body and attachments of a whole raw message (crmsyncctl thread).
 * text is UTF-8 (never NULL after success; LF line ends): the first
 * text/plain body part, else the first text/html one converted to text.
 * Attachments, in document order: leaves with disposition attachment, a
 * file name, or a non-text type, and message/rfc822 parts (one each).
 * At most 1000 parts and 32 levels are walked. */
typedef struct cs_attachment {
    char   *name;			/* decoded file name or NULL */
    char   *type;			/* "type/subtype" */
    size_t  size;			/* decoded size in bytes */
} cs_attachment;

typedef struct cs_mimeinfo {
    char   *text;
    cs_attachment *att;
    size_t  natt;
} cs_mimeinfo;

int     cs_mime_parse(const char *raw, size_t len, cs_mimeinfo *);
void    cs_mimeinfo_free(cs_mimeinfo *);
/* Decoded bytes of attachment n (1-based, order of cs_mime_parse),
 * appended to out. -1 with errno ENOENT if there is no attachment n,
 * E2BIG if out's limit is reached, ENOMEM. */
int     cs_mime_attachment(const char *raw, size_t len, size_t n, cs_buf *out);
/* The multipart boundaries GMime may see (cs_mime.c): NULL when raw has at
 * most CS_MIME_MAX_BOUNDARIES "boundary" parameters, else a copy in which
 * those past it are disarmed, and their count in *n. */
#define CS_MIME_MAX_BOUNDARIES	64
char   *cs_mime_bound(const char *raw, size_t len, size_t *n);

#endif
