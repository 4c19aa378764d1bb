/*
 * NAME
 *	pm_http 3
 * SUMMARY
 *	the privacy model test's adapter over crmsync-api (SPEC X5)
 * DESCRIPTION
 *	The CRM-facing operations and every observation are HTTP requests
 *	to a crmsync-api this adapter starts on a unix socket, on the same
 *	database: share, private, delete, link, unlink, contact create,
 *	mailbox, thread, deal and person pages. What the API has no endpoint
 *	for goes to the store directly, through pm_store.c: mail arriving
 *	(the milter's cs_store_record), directory import (crmsyncctl's),
 *	the policy (cs_store_sync_users2, as crmsync-api itself tells the
 *	store its policy's users at start and at SIGUSR1: R3 is checked in
 *	the store) and the events outbox.
 *
 *	HTTP answers map onto PM_* codes strictly (SPEC X5): 200 with a JSON
 *	body is PM_OK; an error body must be exactly {"error", "message"}
 *	with the name its status stands for (404 not_found, 403 forbidden,
 *	400 bad_input); anything else (usage: a request this adapter got
 *	wrong, 503, a mismatched name, a body that is not JSON) is
 *	PM_INTERNAL. err gets the whole error body, so the model's V6
 *	comparisons are of the bytes on the wire. A 404 on a read is also
 *	compared with the same read of an id that never existed (V6); list
 *	pages must carry a Link rel="next" exactly when they carry a cursor.
 * ENVIRONMENT
 *	CRMSYNC_API	the daemon (default api/crmsync-api from the cwd)
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <curl/curl.h>
#include <jansson.h>

/* Application-specific. */
#include "pm_adapter.h"

/* Never-existing ids of each kind, for the V6 comparison of 404s. */
#define NEVER_T	"t987654320"
#define NEVER_R	"never-existed"
#define NEVER_U	"never-a-user"

typedef struct pm_http {
    pm_adapter a;
    pm_adapter *store;			/* mail, directory, policy, events */
    CURL   *curl;
    pid_t   pid;
    char    dir[300], sock[340], log[340], auth[160];
    char   *body;			/* the last answer */
    size_t  len;
    int     has_link;			/* the last answer had Link rel="next" */
    long    nreq;			/* requests sent */
} pm_http;

/* on_body - libcurl's write callback: the answer's bytes appended */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    pm_http *h = arg;
    char   *b = realloc(h->body, h->len + size * n + 1);

    if (b == NULL)
	return 0;
    memcpy(b + h->len, data, size * n);
    h->len += size * n;
    b[h->len] = 0;
    h->body = b;
    return size * n;
}

/* on_header - libcurl's header callback: notes Link: <...>; rel="next" */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    pm_http *h = arg;
    size_t  len = size * n;

    if (len > 5 && strncasecmp(data, "Link:", 5) == 0 && memmem(data, len, "rel=\"next\"", 10))
	h->has_link = 1;
    return len;
}

/* request - one request; the HTTP status, 0 when none came */
static long request(pm_http *h, const char *method, const char *path, const char *as,
		            const char *body)
{
    struct curl_slist *hd = NULL;
    char    url[1200], line[300];
    long    status = 0;

    free(h->body);
    h->body = NULL;
    h->len = 0;
    h->has_link = 0;
    snprintf(url, sizeof(url), "http://api%s", path);
    h->nreq++;
    hd = curl_slist_append(hd, h->auth);
    snprintf(line, sizeof(line), "Crmsync-As: %s", as);
    hd = curl_slist_append(hd, line);
    if (body)
	hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    if (body) {
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hd);
    if (curl_easy_perform(h->curl) == CURLE_OK)
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    else
	fprintf(stdout, "# pm_http: %s %s: no answer\n", method, path);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hd);
    if (h->body == NULL && (h->body = strdup("")) == NULL)
	return 0;
    return status;
}

/* answer - the last answer as a PM_* code: content or an error body */
static int answer(pm_http *h, long status, json_t **out, char *err, size_t errlen)
{
    json_t *j = json_loadb(h->body, h->len, 0, NULL), *e, *m;
    const char *name, *want;

    if (out)
	*out = NULL;
    if (err && errlen)
	snprintf(err, errlen, "%s", h->body);
    if (j == NULL) {
	fprintf(stdout, "# pm_http: HTTP %ld, not JSON: %.200s\n", status, h->body);
	return PM_INTERNAL;
    }
    if (status == 200) {
	if (out)
	    *out = j;
	else
	    json_decref(j);
	return PM_OK;
    }
    e = json_object_get(j, "error");
    m = json_object_get(j, "message");
    name = json_is_string(e) ? json_string_value(e) : "";
    want = status == 404 ? "not_found" : status == 403 ? "forbidden"
	: status == 400 ? "bad_input" : NULL;
    if (json_object_size(j) != 2 || !json_is_string(m) || want == NULL || strcmp(name, want)) {
	fprintf(stdout, "# pm_http: HTTP %ld with %.*s\n", status, (int) strcspn(h->body, "\n"),
		h->body);
	json_decref(j);
	return PM_INTERNAL;
    }
    json_decref(j);
    return status == 404 ? PM_NOTFOUND : status == 403 ? PM_FORBIDDEN : PM_INVAL;
}

/* same_bytes - V6 on the wire: body equals ghost's with id for never */
static int same_bytes(const char *body, const char *ghost, const char *id, const char *never)
{
    const char *g = strstr(ghost, never);
    char    fixed[2048];

    if (g)
	snprintf(fixed, sizeof(fixed), "%.*s%s%s", (int) (g - ghost), ghost, id,
		 g + strlen(never));
    else
	snprintf(fixed, sizeof(fixed), "%s", ghost);
    return strcmp(body, fixed) == 0;
}

typedef struct { char s[300]; } pm_seg;

/* seg - s escaped as a URL path segment or query value, in buf */
static const char *seg(pm_http *h, pm_seg *buf, const char *s)
{
    char   *e = curl_easy_escape(h->curl, s, 0);

    snprintf(buf->s, sizeof(buf->s), "%s", e ? e : "");
    curl_free(e);
    return buf->s;
}

/* read_one - GET path; on 404 the same GET of a never-existing id must
 * answer the same bytes. path has one %s, the id (or as, when by_as). */
static int read_one(pm_http *h, const char *fmt, const char *id, const char *never,
		            const char *as, int by_as, const char *query, json_t **out)
{
    char    path[1000], first[2048];
    pm_seg  s0;
    long    st;
    int     rc;

    snprintf(path, sizeof(path), fmt, seg(h, &s0, by_as ? "" : id));
    if (query)
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", query);
    st = request(h, "GET", path, as, NULL);
    if ((rc = answer(h, st, out, NULL, 0)) != PM_NOTFOUND)
	return rc;
    snprintf(first, sizeof(first), "%s", h->body);
    snprintf(path, sizeof(path), fmt, seg(h, &s0, by_as ? "" : never));
    if (query)
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", query);
    st = request(h, "GET", path, by_as ? never : as, NULL);
    if (st != 404 || !same_bytes(first, h->body, id, never)) {
	fprintf(stdout, "# pm_http: GET %s as %s: 404 \"%s\", an id that never existed "
		"%ld \"%s\" (V6)\n", path, as, first, st, h->body);
	return PM_INTERNAL;
    }
    return PM_NOTFOUND;
}

/* all_pages - every page of a list through its cursors, one "threads" */
static int all_pages(pm_http *h, const char *as, const char *kind, const char *id,
		             json_t **out)
{
    json_t *all = json_array(), *page = NULL;
    char   *cursor = NULL, query[700], fmt[64];
    pm_seg  s1;
    int     rc = PM_OK, pages = 0;

    *out = NULL;
    if (kind)
	snprintf(fmt, sizeof(fmt), "/v1/%s/%%s/threads", strcmp(kind, "deal") == 0 ? "deals"
		 : "persons");
    else
	snprintf(fmt, sizeof(fmt), "/v1/mailbox%%s");
    do {
	json_t *cur;

	snprintf(query, sizeof(query), "?limit=3%s%s", cursor ? "&cursor=" : "",
		 cursor ? seg(h, &s1, cursor) : "");
	free(cursor);
	cursor = NULL;
	page = NULL;
	rc = read_one(h, fmt, kind ? id : as, kind ? NEVER_R : NEVER_U, as, kind == NULL, query,
		      &page);
	if (rc != PM_OK)
	    break;
	json_array_extend(all, json_object_get(page, "threads"));
	cur = json_object_get(page, "cursor");
	if (json_is_string(cur))
	    cursor = strdup(json_string_value(cur));
	if ((cursor != NULL) != h->has_link) {
	    fprintf(stdout, "# pm_http: a page %s a cursor %s a Link rel=\"next\" (X5)\n",
		    cursor ? "with" : "without", h->has_link ? "but with" : "and without");
	    rc = PM_INTERNAL;
	    break;
	}
	json_decref(page);
	page = NULL;
    } while (cursor && ++pages < 1000);
    free(cursor);
    json_decref(page);
    if (rc != PM_OK) {
	json_decref(all);
	return rc;
    }
    *out = json_pack("{s:o}", "threads", all);
    return PM_OK;
}

/* ph_mailbox - GET /v1/mailbox, every page */
static int ph_mailbox(void *ctx, const char *as, json_t **out)
{
    return all_pages(ctx, as, NULL, NULL, out);
}

/* ph_page - GET /v1/deals|persons/ID/threads, every page */
static int ph_page(void *ctx, const char *as, const char *kind, const char *id, json_t **out)
{
    return all_pages(ctx, as, kind, id, out);
}

/* ph_thread - GET /v1/threads/ID */
static int ph_thread(void *ctx, const char *as, const char *id, json_t **out)
{
    return read_one(ctx, "/v1/threads/%s", id, NEVER_T, as, 0, NULL, out);
}

/* ph_threads_set - POST /v1/threads/share|private|delete */
static int ph_threads_set(void *ctx, const char *as, int action, const char *const *ids,
			          size_t n, json_t **out, char *err, size_t errlen)
{
    pm_http *h = ctx;
    json_t *list = json_array(), *req;
    char   *body, path[64];
    long    st;

    for (size_t i = 0; i < n; i++)
	json_array_append_new(list, json_string(ids[i]));
    req = json_pack("{s:o}", "threads", list);
    body = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(req);
    snprintf(path, sizeof(path), "/v1/threads/%s", action == PM_SHARE ? "share"
	     : action == PM_PRIVATE ? "private" : "delete");
    st = request(h, "POST", path, as, body);
    free(body);
    return answer(h, st, out, err, errlen);
}

/* ph_link - POST /v1/threads/ID/links, DELETE .../links/deals|persons/ID */
static int ph_link(void *ctx, const char *as, const char *thread, const char *kind,
		           const char *id, int unlink, json_t **out, char *err, size_t errlen)
{
    pm_http *h = ctx;
    char    path[1000], *body = NULL;
    pm_seg  s0, s1;
    json_t *b;
    long    st;

    if (unlink) {
	snprintf(path, sizeof(path), "/v1/threads/%s/links/%s/%s", seg(h, &s0, thread),
		 strcmp(kind, "deal") == 0 ? "deals" : "persons", seg(h, &s1, id));
	st = request(h, "DELETE", path, as, NULL);
    } else {
	snprintf(path, sizeof(path), "/v1/threads/%s/links", seg(h, &s0, thread));
	b = json_pack("{s:s}", kind, id);
	body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	st = request(h, "POST", path, as, body);
	free(body);
    }
    return answer(h, st, out, err, errlen);
}

/* ph_contact - POST /v1/contacts */
static int ph_contact(void *ctx, const char *as, const char *thread, const char *address,
		              const char *name, json_t **out, char *err, size_t errlen)
{
    pm_http *h = ctx;
    json_t *b = json_pack("{s:s, s:s}", "thread", thread, "address", address);
    char   *body;
    long    st;

    if (name)
	json_object_set_new(b, "name", json_string(name));
    body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    st = request(h, "POST", "/v1/contacts", as, body);
    free(body);
    return answer(h, st, out, err, errlen);
}

/* The store's side: operations crmsync-api has no endpoint for. */

/* ph_deliver - mail arriving, recorded as the milter records it */
static int ph_deliver(void *ctx, const pm_mail *m)
{
    pm_adapter *s = ((pm_http *) ctx)->store;

    return s->deliver(s->ctx, m);
}

/* ph_policy - the users in force, told to the store as crmsync-api does */
static int ph_policy(void *ctx, const pm_user *u, size_t n)
{
    pm_adapter *s = ((pm_http *) ctx)->store;

    return s->policy(s->ctx, u, n);
}

/* ph_directory - X2 import, as crmsyncctl makes it */
static int ph_directory(void *ctx, json_t *snap, json_t **out, char *err, size_t errlen)
{
    pm_adapter *s = ((pm_http *) ctx)->store;

    return s->directory(s->ctx, snap, out, err, errlen);
}

/* ph_events - the outbox drained as a sender would */
static int ph_events(void *ctx, json_t **out)
{
    pm_adapter *s = ((pm_http *) ctx)->store;

    return s->events(s->ctx, out);
}

/* stop - the daemon stopped and reaped */
static void stop(pm_http *h)
{
    int     status;

    if (h->pid <= 0)
	return;
    kill(h->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
	if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
	    h->pid = 0;
	    return;
	}
	usleep(50000);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    h->pid = 0;
}

/* ph_close - daemon, store and adapter */
static void ph_close(void *ctx)
{
    pm_http *h = ctx;
    char    cmd[400], line[512];
    long    logged = 0;
    FILE   *fp;

    stop(h);
    /* What crmsync-api logged: one access-log line per request it answered. */
    if (h->log[0] && (fp = fopen(h->log, "r")) != NULL) {
	while (fgets(line, sizeof(line), fp))
	    logged += strstr(line, " api: ") != NULL;
	fclose(fp);
	fprintf(stdout, "# pm_http: %ld requests sent, crmsync-api logged %ld\n", h->nreq,
		logged);
    }
    if (h->curl)
	curl_easy_cleanup(h->curl);
    if (h->store)
	h->store->close(h->store->ctx);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    if (h->dir[0] && system(cmd) != 0)
	fprintf(stdout, "# pm_http: cannot remove %s\n", h->dir);
    free(h->body);
    free(h);
}

/* start - crmsync-api on database, listening on h->sock; 0 or -1 */
static int start(pm_http *h, const char *database, char *err, size_t errlen)
{
    const char *bin = getenv("CRMSYNC_API") ? getenv("CRMSYNC_API") : "api/crmsync-api";
    char    conf[340], pol[340], tok[340], token[65], line[200];
    unsigned char rnd[32];
    FILE   *fp;
    int     fd;

    snprintf(conf, sizeof(conf), "%s/crmsync.conf", h->dir);
    snprintf(pol, sizeof(pol), "%s/policy", h->dir);
    snprintf(tok, sizeof(tok), "%s/tokens", h->dir);
    snprintf(h->sock, sizeof(h->sock), "%s/api.sock", h->dir);
    snprintf(h->log, sizeof(h->log), "%s/api.log", h->dir);
    if (mkdir(pol, 0700) < 0 || (fd = open("/dev/urandom", O_RDONLY)) < 0
	|| read(fd, rnd, sizeof(rnd)) != (ssize_t) sizeof(rnd) || close(fd) < 0) {
	snprintf(err, errlen, "%s: %s", pol, strerror(errno));
	return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
	snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    snprintf(h->auth, sizeof(h->auth), "Authorization: Bearer %s", token);
    if ((fd = open(tok, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0
	|| dprintf(fd, "%s\n", token) < 0 || close(fd) < 0
	|| (fp = fopen(conf, "w")) == NULL) {
	snprintf(err, errlen, "%s: %s", tok, strerror(errno));
	return -1;
    }
    /* An empty policy: the model tells the store its users (R3). */
    fprintf(fp, "Database %s\nPolicyDir %s\nSyslog no\nUMask 077\nApiListen unix:%s\n"
	    "ApiTokenFile %s\n", database, pol, h->sock, tok);
    if (fclose(fp) != 0) {
	snprintf(err, errlen, "%s: %s", conf, strerror(errno));
	return -1;
    }
    fflush(stdout);
    if ((h->pid = fork()) < 0) {
	snprintf(err, errlen, "fork: %s", strerror(errno));
	return -1;
    }
    if (h->pid == 0) {
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
	if ((fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
	    dup2(fd, 1);
	    dup2(fd, 2);
	    close(fd);
	}
	if ((fd = open("/dev/null", O_RDONLY)) >= 0)
	    dup2(fd, 0);
	execl(bin, bin, "-f", "-c", conf, (char *) NULL);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
    }
    /* Listening is logged after it told the store its (empty) policy. */
    for (int i = 0; i < 200; i++) {
	int     status;

	if ((fp = fopen(h->log, "r")) != NULL) {
	    int     up = 0;

	    while (!up && fgets(line, sizeof(line), fp))
		up = strstr(line, "listening on") != NULL;
	    fclose(fp);
	    if (up)
		return 0;
	}
	if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
	    h->pid = 0;
	    break;
	}
	usleep(50000);
    }
    snprintf(err, errlen, "%s did not start (see %s)", bin, h->log);
    if ((fp = fopen(h->log, "r")) != NULL) {
	while (fgets(line, sizeof(line), fp))
	    fprintf(stdout, "# crmsync-api: %s", line);
	fclose(fp);
    }
    return -1;
}

/* pm_http_adapter - crmsync-api over a fresh store */
pm_adapter *pm_http_adapter(const char *database, const char *tmpdir, char *err, size_t errlen)
{
    static int curl_ready;
    pm_http *h = calloc(1, sizeof(*h));

    if (h == NULL)
	return NULL;
    if (!curl_ready++)
	curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(h->dir, sizeof(h->dir), "%s/api.XXXXXX", tmpdir);
    if (mkdtemp(h->dir) == NULL) {
	snprintf(err, errlen, "%s: %s", h->dir, strerror(errno));
	h->dir[0] = 0;
	ph_close(h);
	return NULL;
    }
    /* The store first: it creates the schema crmsync-api opens. */
    if ((h->store = pm_store_adapter(database, tmpdir, err, errlen)) == NULL
	|| (h->curl = curl_easy_init()) == NULL || start(h, database, err, errlen) < 0) {
	ph_close(h);
	return NULL;
    }
    curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH, h->sock);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 30L);
    h->a.ctx = h;
    h->a.name = "http";
    h->a.deliver = ph_deliver;
    h->a.policy = ph_policy;
    h->a.directory = ph_directory;
    h->a.threads_set = ph_threads_set;
    h->a.link = ph_link;
    h->a.contact = ph_contact;
    h->a.mailbox = ph_mailbox;
    h->a.thread = ph_thread;
    h->a.page = ph_page;
    h->a.events = ph_events;
    h->a.close = ph_close;
    return &h->a;
}
