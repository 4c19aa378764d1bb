/*
 * NAME
 *	cs_answer 3h
 * SUMMARY
 *	the CRM-facing answers, once for crmsyncctl and crmsync-api
 * DESCRIPTION
 *	Each function runs one CRM-facing command (SPEC X1) against the
 *	store and fills a cs_answer: code 0 and the JSON body, or an error
 *	code and the message that crmsyncctl prints on stderr and
 *	crmsync-api sends as {"error", "message"}. Both programs print the
 *	body with cs_answer_take_text(), so their answers are the same bytes:
 *	a page of threads (mailbox, deal, person) comes already printed by
 *	the store (cs_store_mailbox_page: cs_answer_text's bytes, without a
 *	tree), the others as a tree that cs_answer_text() prints.
 *
 *	Codes are crmsyncctl's exit codes (X1): 0 ok, 1 usage, 2 not found,
 *	3 forbidden, 4 bad input, 5 internal; cs_answer_error_name() names
 *	them as the error objects do.
 *
 *	R3 (an acting user outside the policy in force reads nothing) is
 *	the store's own check (cs_store.h), the same for both programs.
 */
#ifndef CS_ANSWER_H
#define CS_ANSWER_H

#include <jansson.h>
#include "cs_store.h"

enum { CS_ANS_OK = 0, CS_ANS_USAGE = 1, CS_ANS_NOTFOUND = 2, CS_ANS_FORBIDDEN = 3,
       CS_ANS_BADINPUT = 4, CS_ANS_INTERNAL = 5 };

typedef struct cs_answer {
    int     code;			/* out: CS_ANS_* */
    json_t *body;			/* out: the answer when code is 0 (no text) */
    char   *text;			/* out: or the answer already printed */
    size_t  text_len;
    char    cursor[128];		/* out: a page's next cursor, "" none */
    char    message[1024];		/* out: the error's message */
} cs_answer;

const char *cs_answer_error_name(int code);
/* {"error": NAME, "message": MESSAGE} */
json_t *cs_answer_error(int code, const char *message);
/* The JSON text both programs print: 2-space indent and a newline. */
char   *cs_answer_text(const json_t *, size_t *len);
/* The answer's body as both print it (text, else cs_answer_text of the
 * body), taken from the answer: free it; NULL when out of memory. */
char   *cs_answer_take_text(cs_answer *, size_t *len);
/* An error object as both print it: compact, one line with its newline. */
char   *cs_answer_error_text(const json_t *, size_t *len);
/* CS_E* to CS_ANS_*. */
int     cs_answer_code(int store_rc);
/* A page size, 1..CS_ANSWER_LIMIT_MAX: 0 and *out set, else -1. */
#define CS_ANSWER_LIMIT_MAX	500
int     cs_answer_parse_limit(const char *s, int *out);
/* Release the body and text. */
void    cs_answer_reset(cs_answer *);

void    cs_answer_mailbox(cs_store *, const char *as, const char *label, int limit,
			          const char *cursor, cs_answer *);
/* kind "deal" or "person" */
void    cs_answer_record(cs_store *, const char *as, const char *kind, const char *id,
			         int limit, const char *cursor, cs_answer *);
/* raw: {"thread", "messages": [{"message_id", "size", "truncated", "raw" (base64)}]} */
void    cs_answer_thread(cs_store *, const char *as, const char *thread, int raw, cs_answer *);
/* The decoded bytes into out (body stays NULL). */
void    cs_answer_attachment(cs_store *, const char *as, const char *thread, size_t n,
			             cs_buf *out, cs_answer *);
void    cs_answer_threads_set(cs_store *, const char *as, int action,
			              const char *const *threads, size_t n, cs_answer *);
void    cs_answer_link(cs_store *, const char *as, const char *thread, const char *kind,
		               const char *id, int unlink, cs_answer *);
void    cs_answer_contact(cs_store *, const char *as, const char *thread,
			          const char *address, const char *name, cs_answer *);
void    cs_answer_stats(cs_store *, cs_answer *);
/* The journal as this host's milter last wrote it (JournalDir/status.json)
 * as milter.HOST.journal in a stats object: 1 put, 0 none readable.
 * cs_answer_journal.c. */
int     cs_answer_put_journal(json_t *stats, const char *journal_dir);

#endif
