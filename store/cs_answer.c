/*
 * NAME
 *	cs_answer 3
 * SUMMARY
 *	the CRM-facing answers, once for crmsyncctl and crmsync-api
 * DESCRIPTION
 *	See cs_answer.h. Who may see or change what (V1-V6) is decided by
 *	the store's queries, never here: these functions call one store
 *	function and word its outcome. A thread, deal or person the user
 *	may not see gets the same message as one that does not exist (V6).
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

/* Application-specific. */
#include "cs_store_util.h"
#include "cs_answer.h"

/* cs_answer_error_name - the error object's name for a code */
const char *cs_answer_error_name(int code)
{
    static const char *const names[] = {
	"ok", "usage", "not_found", "forbidden", "bad_input", "internal",
    };

    return names[code >= 0 && code <= 5 ? code : 5];
}

/* cs_answer_error - {"error", "message"} */
json_t *cs_answer_error(int code, const char *message)
{
    return json_pack("{s:s, s:s}", "error", cs_answer_error_name(code), "message", message);
}

/*
 * cs_answer_text - an answer's printed form: indent 2, newline. The
 * bytes json_dumps(j, JSON_INDENT(2)) printed, and what it refused: a
 * top level that is not an array or object, a string that is not UTF-8
 * (cs_json_write, without jansson's cost: 2.3 million instructions for
 * a 50-thread page, a fifth of the page).
 */
char   *cs_answer_text(const json_t *j, size_t *len)
{
    cs_buf  b = {0};

    if (!json_is_object(j) && !json_is_array(j)) {
	errno = EINVAL;
	return NULL;
    }
    if (cs_json_write(&b, j, CS_JSON_INDENT) < 0 || cs_buf_append(&b, "\n", 1) < 0) {
	cs_buf_free(&b);
	return NULL;
    }
    if (len)
	*len = b.len;
    return b.data;
}

/* cs_answer_take_text - the printed body, taken from the answer */
char   *cs_answer_take_text(cs_answer *a, size_t *len)
{
    char   *t = a->text;

    if (t != NULL) {
	if (len)
	    *len = a->text_len;
	a->text = NULL;
	a->text_len = 0;
	return t;
    }
    return a->body ? cs_answer_text(a->body, len) : NULL;
}

/* dump - JSON text with a newline; NULL on ENOMEM */
static char *dump(const json_t *j, size_t flags, size_t *len)
{
    char   *text, *out;
    size_t  n;

    if ((text = json_dumps(j, flags)) == NULL)
	return NULL;
    n = strlen(text);
    if ((out = realloc(text, n + 2)) == NULL) {
	free(text);
	return NULL;
    }
    out[n] = '\n';
    out[n + 1] = 0;
    if (len)
	*len = n + 1;
    return out;
}

/* cs_answer_error_text - an error's printed form: one line */
char   *cs_answer_error_text(const json_t *j, size_t *len)
{
    return dump(j, JSON_COMPACT, len);
}

/* cs_answer_code - store error to answer code */
int     cs_answer_code(int rc)
{
    switch (rc) {
    case CS_OK:
	return CS_ANS_OK;
    case CS_ENOTFOUND:
	return CS_ANS_NOTFOUND;
    case CS_EFORBIDDEN:
	return CS_ANS_FORBIDDEN;
    case CS_EINVAL:
	return CS_ANS_BADINPUT;
    default:
	return CS_ANS_INTERNAL;
    }
}

/* cs_answer_parse_limit - a page size, 1..500 */
int     cs_answer_parse_limit(const char *s, int *out)
{
    char   *end;
    long    v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 1 || v > CS_ANSWER_LIMIT_MAX)
	return -1;
    *out = (int) v;
    return 0;
}

/* cs_answer_reset - drop the body */
void    cs_answer_reset(cs_answer *a)
{
    json_decref(a->body);
    a->body = NULL;
    free(a->text);
    a->text = NULL;
    a->text_len = 0;
    a->cursor[0] = 0;
    a->code = CS_ANS_OK;
    a->message[0] = 0;
}

/* fail - set an error code and its message */
static void fail(cs_answer *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(cs_answer *a, int code, const char *fmt, ...)
{
    va_list ap;

    json_decref(a->body);
    a->body = NULL;
    free(a->text);
    a->text = NULL;
    a->text_len = 0;
    a->code = code;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
}

/* ok - the body, or an internal error when building it failed */
static void ok(cs_answer *a, json_t *body)
{
    a->body = body;
    a->code = CS_ANS_OK;
    a->message[0] = 0;
    if (body == NULL)
	fail(a, CS_ANS_INTERNAL, "out of memory");
}

/* store_fail - the store's own message, else a default */
static void store_fail(cs_answer *a, int rc, const char *err, const char *dflt)
{
    fail(a, cs_answer_code(rc), "%s", err && *err ? err : dflt);
}

/* page_begin - an answer about to get a page printed into it */
static void page_begin(cs_answer *a, cs_buf *text, cs_page *p)
{
    a->body = NULL;
    a->text = NULL;
    a->text_len = 0;
    a->cursor[0] = 0;
    *text = (cs_buf) {0};
    *p = (cs_page) {.text = text};
}

/* page_ok - the printed page into the answer */
static void page_ok(cs_answer *a, cs_buf *text, const cs_page *p)
{
    a->code = CS_ANS_OK;
    a->message[0] = 0;
    a->text = text->data;
    a->text_len = text->len;
    snprintf(a->cursor, sizeof(a->cursor), "%s", p->cursor);
}

/* cs_answer_mailbox - mailbox --as U [--label L] [--limit N] [--cursor C] */
void    cs_answer_mailbox(cs_store *st, const char *as, const char *label, int limit,
			          const char *cursor, cs_answer *a)
{
    cs_buf  text;
    cs_page p;
    int     rc;

    page_begin(a, &text, &p);
    rc = cs_store_mailbox_page(st, as, label, limit, cursor, &p);
    if (rc == CS_OK) {
	page_ok(a, &text, &p);
	return;
    }
    cs_buf_free(&text);
    if (rc == CS_EINVAL)
	fail(a, CS_ANS_BADINPUT, "bad cursor");
    else
	fail(a, cs_answer_code(rc), "cannot list the mailbox");
}

/* cs_answer_record - deal D / person P --as U [--limit N] [--cursor C] */
void    cs_answer_record(cs_store *st, const char *as, const char *kind, const char *id,
			         int limit, const char *cursor, cs_answer *a)
{
    cs_buf  text;
    cs_page p;
    int     rc;

    page_begin(a, &text, &p);
    rc = cs_store_record_page(st, as, kind, id, limit, cursor, &p);
    if (rc == CS_OK) {
	page_ok(a, &text, &p);
	return;
    }
    cs_buf_free(&text);
    if (rc == CS_ENOTFOUND)
	fail(a, CS_ANS_NOTFOUND, "%s %s not found", kind, id);
    else if (rc == CS_EINVAL)
	fail(a, CS_ANS_BADINPUT, "bad cursor");
    else
	fail(a, cs_answer_code(rc), "cannot list %s %s", kind, id);
}

/* b64 - base64 of len bytes as a JSON string */
static json_t *b64(const void *p, size_t len)
{
    char   *out;
    json_t *j;

    if (len > (size_t) INT_MAX / 4 * 3 - 3 || (out = malloc(len / 3 * 4 + 5)) == NULL)
	return NULL;
    EVP_EncodeBlock((unsigned char *) out, p, (int) len);
    j = json_string(out);
    free(out);
    return j;
}

/* raw_one - cs_store_thread_raw callback: one message into the answer */
static int raw_one(void *arg, const char *message_id, const void *raw, size_t len, int truncated)
{
    json_t *msgs = arg, *data = b64(raw, len);

    if (data == NULL)
	return -1;
    return json_array_append_new(msgs, json_pack("{s:s?,s:I,s:b,s:o}", "message_id", message_id,
						 "size", (json_int_t) len,
						 "truncated", truncated, "raw", data));
}

/* cs_answer_thread - thread T --as U [--raw] */
void    cs_answer_thread(cs_store *st, const char *as, const char *thread, int raw, cs_answer *a)
{
    json_t *out = NULL, *msgs;
    int     rc;

    a->body = NULL;
    if (raw) {
	msgs = json_array();
	out = json_pack("{s:s,s:o}", "thread", thread, "messages", msgs);
	rc = out ? cs_store_thread_raw(st, as, thread, raw_one, msgs) : CS_EINTERNAL;
    } else
	rc = cs_store_thread(st, as, thread, &out);
    if (rc == CS_OK) {
	ok(a, out);
	return;
    }
    json_decref(out);
    if (rc == CS_EFORBIDDEN)
	fail(a, CS_ANS_FORBIDDEN, "thread %s: only its owner may read the raw messages", thread);
    else if (rc == CS_ENOTFOUND)
	fail(a, CS_ANS_NOTFOUND, "thread %s not found", thread);
    else
	fail(a, cs_answer_code(rc), "cannot read thread %s", thread);
}

/* cs_answer_attachment - attachment T N --as U: the bytes into out */
void    cs_answer_attachment(cs_store *st, const char *as, const char *thread, size_t n,
			             cs_buf *out, cs_answer *a)
{
    int     rc;

    a->body = NULL;
    rc = cs_store_attachment(st, as, thread, n, out);
    if (rc == CS_OK)
	a->code = CS_ANS_OK;
    /* V6: the same answer whether the thread or the attachment is missing. */
    else if (rc == CS_ENOTFOUND)
	fail(a, CS_ANS_NOTFOUND, "attachment %zu of thread %s not found", n, thread);
    else
	fail(a, cs_answer_code(rc), "cannot read thread %s", thread);
}

/* cs_answer_threads_set - share / private / delete --as U T... */
void    cs_answer_threads_set(cs_store *st, const char *as, int action,
			              const char *const *threads, size_t n, cs_answer *a)
{
    json_t *out = NULL;
    char    err[256] = "";
    int     rc;

    a->body = NULL;
    rc = cs_store_threads_set(st, as, action, threads, n, &out, err, sizeof(err));
    if (rc == CS_OK)
	ok(a, out);
    else {
	json_decref(out);
	store_fail(a, rc, err, "nothing was changed");
    }
}

/* cs_answer_link - link / unlink --as U T (--deal D | --person P) */
void    cs_answer_link(cs_store *st, const char *as, const char *thread, const char *kind,
		               const char *id, int unlink, cs_answer *a)
{
    json_t *out = NULL;
    char    err[256] = "";
    int     rc;

    a->body = NULL;
    rc = cs_store_link(st, as, thread, kind, id, unlink, &out, err, sizeof(err));
    if (rc == CS_OK)
	ok(a, out);
    else {
	json_decref(out);
	store_fail(a, rc, err, "nothing was changed");
    }
}

/* cs_answer_contact - contact create --as U --thread T --address A [--name N] */
void    cs_answer_contact(cs_store *st, const char *as, const char *thread,
			          const char *address, const char *name, cs_answer *a)
{
    json_t *out = NULL;
    char    err[512] = "";
    int     rc;

    a->body = NULL;
    rc = cs_store_contact_create(st, as, thread, address, name, &out, err, sizeof(err));
    if (rc == CS_OK)
	ok(a, out);
    else {
	json_decref(out);
	store_fail(a, rc, err, "no contact was created");
    }
}

/* cs_answer_stats - stats */
void    cs_answer_stats(cs_store *st, cs_answer *a)
{
    json_t *out = NULL;
    int     rc;

    a->body = NULL;
    if ((rc = cs_store_stats(st, &out)) == CS_OK)
	ok(a, out);
    else {
	json_decref(out);
	fail(a, cs_answer_code(rc), "cannot read statistics");
    }
}
