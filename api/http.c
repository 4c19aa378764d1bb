/*
 * NAME
 *	http 3
 * SUMMARY
 *	crmsync-api's requests: authentication, routes, answers, access log
 * DESCRIPTION
 *	Order of checks (SPEC X5): the bearer token first (401 whatever the
 *	path, /v1/health excepted), then the route (404, 405), then the
 *	acting user (Crmsync-As, 400 when missing), query and body (400,
 *	413), and only then the store. Bodies are cs_answer's (the same
 *	bytes crmsyncctl prints); errors are {"error", "message"} with X1's
 *	codes as HTTP statuses: usage and bad input 400, not found 404,
 *	forbidden 403, internal (the store unavailable or failing) 503.
 *
 *	One access-log line per request: method, path, status, time, the
 *	acting user; never a header's value otherwise (no token).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Application-specific. */
#include "api.h"
#include "cs_answer.h"
#include "cs_log.h"
#include "cs_store.h"

#define MAX_SEGMENTS	8
#define MAX_SEGMENT	256

/* One request's state, from its first call to its completion. */
typedef struct api_req {
    struct timespec t0;
    int     route;
    char    seg[MAX_SEGMENTS][MAX_SEGMENT];
    int     nseg;
    char    as[MAX_SEGMENT];
    cs_buf  body;
    int     too_large;
    int     answered;
    unsigned status;			/* answered: for the access log */
    char    method[8];
    char    path[160];			/* sanitized, without the query */
} api_req;

enum route {
    R_NONE, R_HEALTH, R_STATS, R_MAILBOX, R_THREAD, R_RAW, R_ATTACHMENT, R_DEAL, R_PERSON,
    R_SHARE, R_PRIVATE, R_DELETE, R_LINK, R_UNLINK, R_CONTACT,
};

/* The routes: path pattern ("*" any one segment) and method. */
static const struct route_def {
    int     route;
    const char *method;
    const char *pattern[MAX_SEGMENTS];
    const char *query;			/* allowed query arguments, space-separated */
} routes[] = {
    {R_HEALTH, "GET", {"v1", "health"}, ""},
    {R_STATS, "GET", {"v1", "stats"}, ""},
    {R_MAILBOX, "GET", {"v1", "mailbox"}, " label limit cursor "},
    {R_SHARE, "POST", {"v1", "threads", "share"}, ""},
    {R_PRIVATE, "POST", {"v1", "threads", "private"}, ""},
    {R_DELETE, "POST", {"v1", "threads", "delete"}, ""},
    {R_THREAD, "GET", {"v1", "threads", "*"}, ""},
    {R_RAW, "GET", {"v1", "threads", "*", "raw"}, ""},
    {R_ATTACHMENT, "GET", {"v1", "threads", "*", "attachments", "*"}, ""},
    {R_LINK, "POST", {"v1", "threads", "*", "links"}, ""},
    {R_UNLINK, "DELETE", {"v1", "threads", "*", "links", "deals", "*"}, ""},
    {R_UNLINK, "DELETE", {"v1", "threads", "*", "links", "persons", "*"}, ""},
    {R_DEAL, "GET", {"v1", "deals", "*", "threads"}, " limit cursor "},
    {R_PERSON, "GET", {"v1", "persons", "*", "threads"}, " limit cursor "},
    {R_CONTACT, "POST", {"v1", "contacts"}, ""},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Each worker thread's own store connection (libmicrohttpd's pool). */
static _Thread_local cs_store *tl_store;

/* worker_store - this thread's store, opened on first use; NULL when down */
static cs_store *worker_store(api_state *st)
{
    char    err[512], shown[512];

    if (tl_store)
	return tl_store;
    if ((tl_store = cs_store_open(st->cfg->database, 0, st->cfg->store_timeout_ms, err,
				  sizeof(err))) == NULL) {
	static cs_ratelimit rl;

	cs_store_display(st->cfg->database, shown, sizeof(shown));
	cs_log_limited(&rl, 60, CS_LOG_ERROR, NULL, "store %s: %s", shown, err);
	return NULL;
    }
    cs_store_set_subaddress(tl_store, st->cfg->subaddress_delimiter);
    /* X3: without a WebhookURL the milter keeps events and sends none. */
    cs_store_set_webhook(tl_store, st->cfg->webhook_url != NULL);
    return tl_store;
}

/* split - the path's segments; -1 when too many or too long */
static int split(const char *url, api_req *r)
{
    const char *p = url;

    r->nseg = 0;
    if (*p != '/')
	return -1;
    while (*p == '/') {
	const char *e;

	p++;
	e = strchr(p, '/');
	if (e == NULL)
	    e = p + strlen(p);
	if (e == p)
	    return e[0] == 0 && r->nseg > 0 ? 0 : -1;	/* a trailing slash is fine */
	if (r->nseg == MAX_SEGMENTS || (size_t) (e - p) >= MAX_SEGMENT)
	    return -1;
	memcpy(r->seg[r->nseg], p, (size_t) (e - p));
	r->seg[r->nseg][e - p] = 0;
	r->nseg++;
	p = e;
    }
    return 0;
}

/* match - the route of the path and method; NULL with allow listing the
 * methods the path takes ("" when the path is unknown) */
static const struct route_def *match(const api_req *r, const char *method, char *allow,
				             size_t allowlen)
{
    allow[0] = 0;
    for (size_t i = 0; i < NROUTES; i++) {
	int     n = 0, same = 1;

	while (n < MAX_SEGMENTS && routes[i].pattern[n])
	    n++;
	if (n != r->nseg)
	    continue;
	for (int k = 0; k < n && same; k++)
	    same = strcmp(routes[i].pattern[k], "*") == 0
		|| strcmp(routes[i].pattern[k], r->seg[k]) == 0;
	/* "share", "private", "delete" are actions, not thread ids. */
	if (!same || (routes[i].route == R_THREAD && n == 3 && (strcmp(r->seg[2], "share") == 0
		|| strcmp(r->seg[2], "private") == 0 || strcmp(r->seg[2], "delete") == 0)))
	    continue;
	if (strcmp(routes[i].method, method) == 0)
	    return &routes[i];
	if (strstr(allow, routes[i].method) == NULL)
	    snprintf(allow + strlen(allow), allowlen - strlen(allow), "%s%s",
		     allow[0] ? ", " : "", routes[i].method);
    }
    return NULL;
}

/*
 * log_request - the access-log line, once the answer was sent (or could
 * not be: the client went away, a timeout), with the time until then
 */
static void log_request(const api_req *r, enum MHD_RequestTerminationCode why)
{
    struct timespec t1;
    char    as[80];
    double  ms;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double) (t1.tv_sec - r->t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - r->t0.tv_nsec) / 1e6;
    cs_info(NULL, "api: %s %s %u %.2fms as=%s%s", r->method, r->path, r->status, ms,
	    r->as[0] ? cs_sanitize(r->as, as, sizeof(as)) : "-",
	    why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
	    : why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " not-sent=timeout"
	    : why == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? " not-sent=client-gone"
	    : " not-sent=error");
}

/* count - the counters of one answered request */
static void count(api_state *st, api_req *r, unsigned status)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_fetch_add(&st->counters.requests, 1);
    if (status < 400)
	atomic_fetch_add(&st->counters.ok, 1);
    else if (status < 500)
	atomic_fetch_add(&st->counters.client_errors, 1);
    else
	atomic_fetch_add(&st->counters.server_errors, 1);
    if (status == MHD_HTTP_UNAUTHORIZED)
	atomic_fetch_add(&st->counters.unauthorized, 1);
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
	atomic_fetch_add(&st->counters.too_large, 1);
    atomic_fetch_add(&st->counters.usec,
		     (unsigned long) ((t1.tv_sec - r->t0.tv_sec) * 1000000L
				      + (t1.tv_nsec - r->t0.tv_nsec) / 1000));
}

/* respond - queue a response with the headers every answer carries */
static enum MHD_Result respond(api_state *st, struct MHD_Connection *c, api_req *r,
			            const char *method, const char *url, unsigned status,
			            void *data, size_t len, const char *type,
			            const char *extra_name, const char *extra_value)
{
    struct MHD_Response *resp;
    enum MHD_Result ok;

    resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
	free(data);
	return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (extra_name)
	MHD_add_response_header(resp, extra_name, extra_value);
    if (status == MHD_HTTP_UNAUTHORIZED)
	MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"crmsync\"");
    ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    r->status = status;
    snprintf(r->method, sizeof(r->method), "%s", method);
    cs_sanitize(url, r->path, sizeof(r->path));
    count(st, r, status);
    return ok;
}

/* send_json - a JSON body, printed as crmsyncctl prints it (an answer
 * indented, an error on one line); consumes j */
static enum MHD_Result send_json(api_state *st, struct MHD_Connection *c, api_req *r,
				         const char *method, const char *url, unsigned status,
				         json_t *j, const char *extra_name,
				         const char *extra_value)
{
    size_t  len;
    char   *text = j == NULL ? NULL : status >= 400 ? cs_answer_error_text(j, &len)
	: cs_answer_text(j, &len);

    json_decref(j);
    if (text == NULL)
	return MHD_NO;
    return respond(st, c, r, method, url, status, text, len, "application/json", extra_name,
		extra_value);
}

/* http_status - an answer code as an HTTP status */
static unsigned http_status(int code)
{
    switch (code) {
    case CS_ANS_OK:
	return MHD_HTTP_OK;
    case CS_ANS_USAGE:
    case CS_ANS_BADINPUT:
	return MHD_HTTP_BAD_REQUEST;
    case CS_ANS_NOTFOUND:
	return MHD_HTTP_NOT_FOUND;
    case CS_ANS_FORBIDDEN:
	return MHD_HTTP_FORBIDDEN;
    default:
	return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
}

/* send_error - {"error", "message"} with its status; X1's names, and
 * "unauthorized" (401) and "too_large" (413), which X1 has no need of */
static enum MHD_Result send_error(api_state *st, struct MHD_Connection *c, api_req *r,
				          const char *method, const char *url, int code,
				          unsigned status, const char *message)
{
    json_t *e;

    if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_CONTENT_TOO_LARGE)
	e = json_pack("{s:s, s:s}", "error", status == MHD_HTTP_UNAUTHORIZED ? "unauthorized"
		      : "too_large", "message", message);
    else
	e = cs_answer_error(code, message);
    return send_json(st, c, r, method, url, status ? status : http_status(code), e, NULL, NULL);
}

/* bearer - the token of "Authorization: Bearer TOKEN", or NULL */
static const char *bearer(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
	return NULL;
    h += 7;
    while (*h == ' ')
	h++;
    return h;
}

/* authorized - one of the tokens in force (constant time) */
static int authorized(api_state *st, struct MHD_Connection *c)
{
    const char *tok = bearer(c);
    int     ok;

    if (tok == NULL)
	return 0;
    pthread_rwlock_rdlock(&st->lock);
    ok = api_tokens_check(st->tokens, tok, strlen(tok));
    pthread_rwlock_unlock(&st->lock);
    return ok;
}

/* query check: every argument one the route takes, none twice */
typedef struct qcheck {
    const char *allowed;
    char    bad[80];
    int     seen_label, seen_limit, seen_cursor;
} qcheck;

/* query_arg - MHD_get_connection_values callback */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				         const char *value)
{
    qcheck *q = cls;
    char    word[64];
    int    *seen = NULL;

    (void) kind;
    (void) value;
    if (q->bad[0])
	return MHD_NO;
    snprintf(word, sizeof(word), " %s ", key);
    if (strlen(key) > 32 || strstr(q->allowed, word) == NULL) {
	snprintf(q->bad, sizeof(q->bad), "unknown query argument: %.32s", key);
	return MHD_NO;
    }
    seen = strcmp(key, "label") == 0 ? &q->seen_label : strcmp(key, "limit") == 0
	? &q->seen_limit : &q->seen_cursor;
    if ((*seen)++)
	snprintf(q->bad, sizeof(q->bad), "%s given twice", key);
    return q->bad[0] ? MHD_NO : MHD_YES;
}

/* urlenc - percent-encode a query value */
static void urlenc(cs_buf *b, const char *s)
{
    for (; *s; s++) {
	unsigned char ch = (unsigned char) *s;

	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
	    || ch == '-' || ch == '_' || ch == '.' || ch == '~')
	    cs_buf_append(b, s, 1);
	else
	    cs_buf_appendf(b, "%%%02X", ch);
    }
}

/* next_link - the Link header of a page with a next cursor; "" when none */
static void next_link(const char *url, const char *cursor, const char *label, int limit,
		              cs_buf *link)
{
    char    safe[MAX_SEGMENTS * MAX_SEGMENT];
    cs_buf  tmp = {0};

    if (*cursor == 0)
	return;
    /* The path as requested (segments are plain ids: re-encode them). */
    for (const char *p = url; *p; p++) {
	if (*p == '/')
	    cs_buf_append(&tmp, "/", 1);
	else {
	    size_t  n = strcspn(p, "/");

	    snprintf(safe, sizeof(safe), "%.*s", (int) n, p);
	    urlenc(&tmp, safe);
	    p += n - 1;
	}
    }
    cs_buf_appendf(link, "<%s?cursor=", tmp.data ? tmp.data : "");
    urlenc(link, cursor);
    if (limit > 0)
	cs_buf_appendf(link, "&limit=%d", limit);
    if (label) {
	cs_buf_appendf(link, "&label=");
	urlenc(link, label);
    }
    cs_buf_appendf(link, ">; rel=\"next\"");
    cs_buf_free(&tmp);
}

/* body_json - the request body as a JSON object with only the given keys */
static json_t *body_json(api_req *r, const char *keys, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *j, *v;
    const char *k;
    char    word[80];

    if (r->body.len == 0) {
	snprintf(why, whylen, "a JSON object is required");
	return NULL;
    }
    if ((j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
	snprintf(why, whylen, "body: %d:%d: %s", jerr.line, jerr.column, jerr.text);
	return NULL;
    }
    if (!json_is_object(j)) {
	snprintf(why, whylen, "body: a JSON object is required");
	json_decref(j);
	return NULL;
    }
    json_object_foreach(j, k, v) {
	snprintf(word, sizeof(word), " %.60s ", k);
	if (strlen(k) > 60 || strstr(keys, word) == NULL) {
	    snprintf(why, whylen, "body: unknown key \"%.60s\"", k);
	    json_decref(j);
	    return NULL;
	}
    }
    return j;
}

/* body_string - a string member (NULL when absent); -1 when of another type */
static int body_string(json_t *j, const char *key, const char **out, int required, char *why,
		               size_t whylen)
{
    json_t *v = json_object_get(j, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
	if (required)
	    snprintf(why, whylen, "body: \"%s\" is required", key);
	return required ? -1 : 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024
	|| strlen(json_string_value(v)) != json_string_length(v)) {
	snprintf(why, whylen, "body: \"%s\" must be a non-empty string", key);
	return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* health - GET /v1/health: liveness only */
static json_t *health(void)
{
    return json_pack("{s:s}", "status", "ok");
}

/* stats - GET /v1/stats: the store's figures and this daemon's counters */
static void stats(api_state *st, cs_store *store, cs_answer *a)
{
    json_t *api;

    cs_answer_stats(store, a);
    if (a->code != CS_ANS_OK)
	return;
    api = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:i,s:b}",
		    "requests", (json_int_t) atomic_load(&st->counters.requests),
		    "ok", (json_int_t) atomic_load(&st->counters.ok),
		    "client_errors", (json_int_t) atomic_load(&st->counters.client_errors),
		    "server_errors", (json_int_t) atomic_load(&st->counters.server_errors),
		    "unauthorized", (json_int_t) atomic_load(&st->counters.unauthorized),
		    "too_large", (json_int_t) atomic_load(&st->counters.too_large),
		    "ms_total", (double) atomic_load(&st->counters.usec) / 1000.0,
		    "started_at", (json_int_t) st->started,
		    "uptime_seconds", (json_int_t) (time(NULL) - st->started),
		    "workers", (int) st->workers, "tls", st->tls);
    /* This host's journal, as crmsyncctl stats shows it (C6). */
    (void) cs_answer_put_journal(a->body, st->cfg->journal_dir);
    if (api == NULL || json_object_set_new(a->body, "api", api) < 0) {
	cs_answer_reset(a);
	a->code = CS_ANS_INTERNAL;
	snprintf(a->message, sizeof(a->message), "out of memory");
    }
}

/* serve - run a routed, authenticated request with its body complete */
static enum MHD_Result serve(api_state *st, struct MHD_Connection *c, api_req *r,
			             const char *method, const char *url)
{
    cs_answer ans = {0};
    cs_store *store;
    cs_buf  link = {0}, bytes = {0};
    const char *label = NULL, *cursor = NULL, *lim;
    char    why[512] = "";
    json_t *body = NULL;
    int     limit = 0;
    char   *text;
    size_t  len = 0;
    enum MHD_Result ok;

    if (r->route == R_MAILBOX || r->route == R_DEAL || r->route == R_PERSON) {
	label = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
	cursor = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
	lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	if (lim && cs_answer_parse_limit(lim, &limit) < 0)
	    return send_error(st, c, r, method, url, CS_ANS_USAGE, 0, "limit must be 1 to 500");
	if (r->route == R_MAILBOX && lim == NULL)
	    limit = 50;				/* crmsyncctl mailbox's default */
	if ((label && !*label) || (cursor && !*cursor))
	    return send_error(st, c, r, method, url, CS_ANS_USAGE, 0,
			      "label and cursor need a value");
    }
    if (r->route == R_SHARE || r->route == R_PRIVATE || r->route == R_DELETE
	|| r->route == R_LINK || r->route == R_CONTACT) {
	const char *keys = r->route == R_LINK ? " deal person " : r->route == R_CONTACT
	    ? " thread address name " : " threads ";

	if ((body = body_json(r, keys, why, sizeof(why))) == NULL)
	    return send_error(st, c, r, method, url, CS_ANS_USAGE, 0, why);
    }
    if ((store = worker_store(st)) == NULL) {
	json_decref(body);
	return send_error(st, c, r, method, url, CS_ANS_INTERNAL, 0, "store unavailable");
    }
    switch (r->route) {
    case R_STATS:
	stats(st, store, &ans);
	break;
    case R_MAILBOX:
	cs_answer_mailbox(store, r->as, label, limit, cursor, &ans);
	break;
    case R_DEAL:
    case R_PERSON:
	cs_answer_record(store, r->as, r->route == R_DEAL ? "deal" : "person", r->seg[2], limit,
			 cursor, &ans);
	break;
    case R_THREAD:
    case R_RAW:
	cs_answer_thread(store, r->as, r->seg[2], r->route == R_RAW, &ans);
	break;
    case R_ATTACHMENT:{
	    char   *end;
	    unsigned long n = strtoul(r->seg[4], &end, 10);

	    if (*end || end == r->seg[4] || r->seg[4][0] == '-' || n < 1 || n > 1000000) {
		ans.code = CS_ANS_USAGE;
		snprintf(ans.message, sizeof(ans.message),
			 "the attachment number counts from 1");
	    } else
		cs_answer_attachment(store, r->as, r->seg[2], (size_t) n, &bytes, &ans);
	    break;
	}
    case R_SHARE:
    case R_PRIVATE:
    case R_DELETE:{
	    json_t *list = json_object_get(body, "threads"), *v;
	    const char **ids = NULL;
	    size_t  n = json_array_size(list), i;

	    if (!json_is_array(list) || n == 0 || n > API_MAX_THREADS
		|| (ids = calloc(n, sizeof(*ids))) == NULL) {
		ans.code = CS_ANS_USAGE;
		snprintf(ans.message, sizeof(ans.message),
			 "body: \"threads\" must be a list of 1 to %d thread ids", API_MAX_THREADS);
		break;
	    }
	    json_array_foreach(list, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0) {
		    ans.code = CS_ANS_USAGE;
		    snprintf(ans.message, sizeof(ans.message),
			     "body: threads[%zu] must be a thread id", i);
		    break;
		}
		ids[i] = json_string_value(v);
	    }
	    if (ans.code == CS_ANS_OK)
		cs_answer_threads_set(store, r->as, r->route == R_SHARE ? CS_THREADS_SHARE
				      : r->route == R_PRIVATE ? CS_THREADS_PRIVATE
				      : CS_THREADS_DELETE, ids, n, &ans);
	    free(ids);
	    break;
	}
    case R_LINK:{
	    const char *deal, *person;

	    if (body_string(body, "deal", &deal, 0, why, sizeof(why)) < 0
		|| body_string(body, "person", &person, 0, why, sizeof(why)) < 0
		|| ((deal == NULL) == (person == NULL)
		    && snprintf(why, sizeof(why), "body: either \"deal\" or \"person\"") > 0)) {
		ans.code = CS_ANS_USAGE;
		snprintf(ans.message, sizeof(ans.message), "%s", why);
	    } else
		cs_answer_link(store, r->as, r->seg[2], deal ? "deal" : "person",
			       deal ? deal : person, 0, &ans);
	    break;
	}
    case R_UNLINK:
	cs_answer_link(store, r->as, r->seg[2], strcmp(r->seg[4], "deals") == 0 ? "deal"
		       : "person", r->seg[5], 1, &ans);
	break;
    case R_CONTACT:{
	    const char *thread, *address, *name;

	    if (body_string(body, "thread", &thread, 1, why, sizeof(why)) < 0
		|| body_string(body, "address", &address, 1, why, sizeof(why)) < 0
		|| body_string(body, "name", &name, 0, why, sizeof(why)) < 0) {
		ans.code = CS_ANS_USAGE;
		snprintf(ans.message, sizeof(ans.message), "%s", why);
	    } else
		cs_answer_contact(store, r->as, thread, address, name, &ans);
	    break;
	}
    default:
	ans.code = CS_ANS_INTERNAL;
	snprintf(ans.message, sizeof(ans.message), "no handler");
    }
    json_decref(body);

    if (ans.code != CS_ANS_OK) {
	cs_buf_free(&bytes);
	json_decref(ans.body);
	free(ans.text);
	return send_error(st, c, r, method, url, ans.code, 0, ans.message);
    }
    if (r->route == R_ATTACHMENT) {
	void   *data = bytes.data ? bytes.data : strdup("");

	return respond(st, c, r, method, url, MHD_HTTP_OK, data, bytes.len,
		    "application/octet-stream", NULL, NULL);
    }
    if (r->route == R_MAILBOX || r->route == R_DEAL || r->route == R_PERSON)
	next_link(url, ans.cursor, label, limit, &link);
    text = cs_answer_take_text(&ans, &len);
    json_decref(ans.body);
    ok = text == NULL ? MHD_NO : respond(st, c, r, method, url, MHD_HTTP_OK, text, len,
					 "application/json", link.len ? "Link" : NULL, link.data);
    cs_buf_free(&link);
    return ok;
}

/* api_handler - libmicrohttpd's access handler */
enum MHD_Result api_handler(void *cls, struct MHD_Connection *c, const char *url,
			            const char *method, const char *version,
			            const char *upload, size_t *upload_size, void **con_cls)
{
    api_state *st = cls;
    api_req *r = *con_cls;
    const struct route_def *rd;
    char    allow[64];

    (void) version;
    if (r == NULL) {
	const char *as, *clen;
	qcheck  q = {0};

	if ((r = calloc(1, sizeof(*r))) == NULL)
	    return MHD_NO;
	*con_cls = r;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->body.limit = API_MAX_BODY;
	/* The token before anything else: the path is not even looked at. */
	if (split(url, r) < 0 || !(r->nseg == 2 && strcmp(r->seg[0], "v1") == 0
				   && strcmp(r->seg[1], "health") == 0)) {
	    if (!authorized(st, c))
		return send_error(st, c, r, method, url, CS_ANS_USAGE, MHD_HTTP_UNAUTHORIZED,
				  "a valid bearer token is required");
	    if (r->nseg == 0)
		return send_error(st, c, r, method, url, CS_ANS_NOTFOUND, 0,
				  "no such endpoint");
	}
	if ((rd = match(r, method, allow, sizeof(allow))) == NULL) {
	    if (allow[0] == 0)
		return send_error(st, c, r, method, url, CS_ANS_NOTFOUND, 0, "no such endpoint");
	    {
		size_t  len;
		json_t *e = cs_answer_error(CS_ANS_USAGE, "method not allowed");
		char   *text = e ? cs_answer_error_text(e, &len) : NULL;

		json_decref(e);
		return text ? respond(st, c, r, method, url, MHD_HTTP_METHOD_NOT_ALLOWED, text, len,
				   "application/json", "Allow", allow) : MHD_NO;
	    }
	}
	r->route = rd->route;
	if (r->route == R_HEALTH)
	    return send_json(st, c, r, method, url, MHD_HTTP_OK, health(), NULL, NULL);
	q.allowed = rd->query;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (q.bad[0])
	    return send_error(st, c, r, method, url, CS_ANS_USAGE, 0, q.bad);
	if (r->route != R_STATS) {
	    as = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Crmsync-As");
	    if (as == NULL || *as == 0 || strlen(as) >= sizeof(r->as))
		return send_error(st, c, r, method, url, CS_ANS_USAGE, 0,
				  "the Crmsync-As header names the acting user");
	    strcpy(r->as, as);
	}
	clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (clen && strtoull(clen, NULL, 10) > API_MAX_BODY)
	    return send_error(st, c, r, method, url, CS_ANS_USAGE, MHD_HTTP_CONTENT_TOO_LARGE,
			      "request body too large");
	return MHD_YES;
    }
    if (r->answered)
	return MHD_YES;
    if (*upload_size) {
	if (!r->too_large && cs_buf_append(&r->body, upload, *upload_size) < 0)
	    r->too_large = 1;
	*upload_size = 0;
	return MHD_YES;
    }
    if (r->too_large)
	return send_error(st, c, r, method, url, CS_ANS_USAGE, MHD_HTTP_CONTENT_TOO_LARGE,
			  "request body too large");
    return serve(st, c, r, method, url);
}

/* api_completed - log an answered request, free its state */
void    api_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		              enum MHD_RequestTerminationCode why)
{
    api_req *r = *con_cls;

    (void) cls;
    (void) c;
    if (r) {
	if (r->answered)
	    log_request(r, why);
	cs_buf_free(&r->body);
	free(r);
	*con_cls = NULL;
    }
}
