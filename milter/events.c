/*
 * NAME
 *	events 3
 * SUMMARY
 *	the X3 event sender thread
 * DESCRIPTION
 *	One thread per daemon. It claims the oldest due events from the
 *	store's outbox (never one that would overtake an earlier event of
 *	its thread), POSTs them to WebhookURL, and settles them: 2xx
 *	delivered; network error, timeout, 408, 429 or 5xx retried after
 *	an exponential backoff with jitter (or Retry-After), capped at
 *	backoff_max_ms; any other answer parks them as failed until
 *	crmsyncctl events retry. An event is settled only after the answer,
 *	so a crash between the two sends it again under the same id (at
 *	least once). One event goes alone; a backlog goes as a JSON array
 *	(X-Crmsync-Event: batch, X-Crmsync-Delivery: a fresh batch id), each
 *	event keeping its own id. The body is signed with HMAC-SHA256.
 *
 *	The backoff is global: the endpoint is one, so after a failure the
 *	thread waits before trying anything, and the next try takes the
 *	oldest events again (order per thread holds).
 *
 *	One easy handle is reused for keep-alive. Transfers are bounded by
 *	timeout_ms and cut short by cs_events_stop() (progress callback), so
 *	stopping never waits for a hung CRM. The secret is read once at
 *	start, never logged, and wiped at stop. Logs name event ids and
 *	types, never their content.
 */
#include <config.h>

/* System library. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

/* Utility library. */
#include "cs_util.h"
#include "cs_log.h"
#include "cs_thread.h"

/* Application-specific. */
#include "events.h"

#define EV_SECRET_MAX	4096
#define EV_ERR_MAX	256

struct cs_events {
    cs_events_conf conf;
    char   *url, *ca_file;		/* copies: the config may be reloaded */
    unsigned char secret[EV_SECRET_MAX];
    size_t  secret_len;
    cs_outbox *ob;
    CURL   *curl;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;		/* stop */
    atomic_int stopping;
    uint64_t rng;			/* jitter, this thread only */
    int     failures;			/* consecutive retryable failures */
};

/* cs_events_conf_init - defaults, then the config's keys */
void    cs_events_conf_init(cs_events_conf *c, const cs_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->retention = 7 * 86400;
    c->timeout_ms = 10000;
    c->connect_timeout_ms = 5000;
    c->backoff_min_ms = 1000;
    c->backoff_max_ms = 300000;
    c->batch_max = 100;
    c->batch_bytes = 256 * 1024;
    c->poll_ms = 250;
    c->prune_every = 60;
    if (cfg) {
	c->url = cfg->webhook_url;
	c->secret_file = cfg->webhook_secret;
	c->ca_file = cfg->webhook_ca_file;
	if (cfg->event_retention > 0)
	    c->retention = cfg->event_retention;
    }
}

/* loopback_host - localhost, 127.0.0.0/8 or ::1 (as curl gives hosts) */
static int loopback_host(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    char    buf[64];
    size_t  n = strlen(h);

    if (strcasecmp(h, "localhost") == 0 || strcasecmp(h, "localhost.") == 0)
	return 1;
    if (inet_pton(AF_INET, h, &a4) == 1)
	return (ntohl(a4.s_addr) >> 24) == 127;
    if (n >= 2 && n - 2 < sizeof(buf) && h[0] == '[' && h[n - 1] == ']') {
	memcpy(buf, h + 1, n - 2);
	buf[n - 2] = 0;
	return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    return 0;
}

/* check_url - https, or http to a loopback address only (X3) */
static int check_url(const char *url, char *err, size_t errlen)
{
    CURLU  *u = curl_url();
    char   *scheme = NULL, *host = NULL;
    int     rc = -1;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
	|| curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
	|| curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
	snprintf(err, errlen, "WebhookURL: not a URL");
    else if (strcasecmp(scheme, "https") == 0)
	rc = 0;
    else if (strcasecmp(scheme, "http") == 0 && loopback_host(host))
	rc = 0;
    else if (strcasecmp(scheme, "http") == 0)
	snprintf(err, errlen, "WebhookURL: http:// only to a loopback address; use https://");
    else
	snprintf(err, errlen, "WebhookURL: the scheme must be https (or http to loopback)");
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* read_secret - the whole file, owner-only, trailing newline dropped */
static int read_secret(cs_events *ev, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    ssize_t r;
    size_t  n = 0;
    int     fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) < 0) {
	snprintf(err, errlen, "WebhookSecret %s: %s", path, strerror(errno));
	return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
	snprintf(err, errlen, "WebhookSecret %s: not a regular file", path);
	close(fd);
	return -1;
    }
    /* A secret others can read is no secret; one they can write, no proof. */
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
	snprintf(err, errlen, "WebhookSecret %s: mode %03o grants group or others access;"
		 " make it 0600 or 0400", path, (unsigned) (sb.st_mode & 0777));
	close(fd);
	return -1;
    }
    while (n < sizeof(ev->secret) && (r = read(fd, ev->secret + n, sizeof(ev->secret) - n)) != 0) {
	if (r < 0) {
	    if (errno == EINTR)
		continue;
	    snprintf(err, errlen, "WebhookSecret %s: %s", path, strerror(errno));
	    close(fd);
	    return -1;
	}
	n += (size_t) r;
    }
    close(fd);
    if (n == sizeof(ev->secret)) {
	snprintf(err, errlen, "WebhookSecret %s: longer than %d bytes", path, EV_SECRET_MAX - 1);
	return -1;
    }
    while (n > 0 && (ev->secret[n - 1] == '\n' || ev->secret[n - 1] == '\r'))
	n--;
    if (n == 0) {
	snprintf(err, errlen, "WebhookSecret %s: empty", path);
	return -1;
    }
    ev->secret_len = n;
    return 0;
}

/* uuid4 - a random id for a batch delivery */
static int uuid4(char out[37])
{
    unsigned char b[16];

    if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
	return -1;
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
	     b[12], b[13], b[14], b[15]);
    return 0;
}

/* nap - sleep up to ms, woken early by stop; 1 if stopping */
static int nap(cs_events *ev, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
	ts.tv_sec++;
	ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->lock);
    while (!atomic_load(&ev->stopping)
	   && pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) != ETIMEDOUT)
	 /* void */ ;
    pthread_mutex_unlock(&ev->lock);
    return atomic_load(&ev->stopping);
}

/* backoff_ms - exponential from backoff_min, capped, "equal jitter" */
static long backoff_ms(cs_events *ev)
{
    long    d = ev->conf.backoff_min_ms > 0 ? ev->conf.backoff_min_ms : 1;
    uint64_t x;

    for (int i = 1; i < ev->failures && d < ev->conf.backoff_max_ms; i++)
	d *= 2;
    if (d > ev->conf.backoff_max_ms)
	d = ev->conf.backoff_max_ms;
    /* xorshift64: jitter only, so many hosts do not retry in step. */
    x = ev->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ev->rng = x;
    return d / 2 + (long) (x % (uint64_t) (d / 2 + 1));
}

/* discard - the CRM's answer body is not ours to keep */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void) p;
    (void) arg;
    return size * n;
}

/* progress - abort a transfer when the sender stops */
static int progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    cs_events *ev = arg;

    (void) a;
    (void) b;
    (void) c;
    (void) d;
    return atomic_load(&ev->stopping) ? 1 : 0;
}

/* sign - "sha256=<hex HMAC-SHA256 of body>" */
static int sign(const cs_events *ev, const char *body, size_t len, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t  i, o;

    if (HMAC(EVP_sha256(), ev->secret, (int) ev->secret_len, (const unsigned char *) body, len,
	     md, &mdlen) == NULL || outlen < 8 + 2 * (size_t) mdlen)
	return -1;
    o = (size_t) snprintf(out, outlen, "sha256=");
    for (i = 0; i < mdlen; i++)
	o += (size_t) snprintf(out + o, outlen - o, "%02x", md[i]);
    return 0;
}

/* post - one POST; the HTTP status (0: no answer), Retry-After in *ra */
static long post(cs_events *ev, const char *type, const char *delivery, const char *body,
		         size_t len, long *ra, char *why, size_t whylen)
{
    struct curl_slist *h = NULL, *t;
    char    line[256], sig[160];
    long    status = 0;
    curl_off_t retry_after = -1;
    CURLcode cc;

    *ra = -1;
    if (sign(ev, body, len, sig, sizeof(sig)) < 0) {
	snprintf(why, whylen, "cannot sign");
	return 0;
    }
#define ADD(s) do { if ((t = curl_slist_append(h, (s))) == NULL) goto nomem; h = t; } while (0)
    ADD("Content-Type: application/json");
    ADD("Expect:");
    snprintf(line, sizeof(line), "X-Crmsync-Event: %.64s", type);
    ADD(line);
    snprintf(line, sizeof(line), "X-Crmsync-Delivery: %.64s", delivery);
    ADD(line);
    snprintf(line, sizeof(line), "X-Crmsync-Signature: %s", sig);
    ADD(line);
#undef ADD
    curl_easy_setopt(ev->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(ev->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(ev->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    cc = curl_easy_perform(ev->curl);
    if (cc == CURLE_OK) {
	curl_easy_getinfo(ev->curl, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(ev->curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK
	    && retry_after > 0)
	    *ra = retry_after > 86400 ? 86400 : (long) retry_after;
	snprintf(why, whylen, "HTTP %ld", status);
    } else
	snprintf(why, whylen, "%s", curl_easy_strerror(cc));
    /* The handle must not point at the list after it is freed. */
    curl_easy_setopt(ev->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    return status;
nomem:
    curl_slist_free_all(h);
    snprintf(why, whylen, "out of memory");
    return 0;
}

/* deliver - send claimed events as one POST and settle them */
static void deliver(cs_events *ev, cs_event *e, size_t n)
{
    cs_buf  body = {0};
    char    batch_id[37], why[EV_ERR_MAX];
    const char *type, *delivery;
    long    status, ra, delay;
    time_t  now;
    size_t  i;
    int     outcome;

    if (n == 1) {
	type = e[0].type;
	delivery = e[0].id;
	if (cs_buf_append(&body, e[0].body, strlen(e[0].body)) < 0)
	    goto nomem;
    } else {
	if (uuid4(batch_id) < 0)
	    goto nomem;
	type = "batch";
	delivery = batch_id;
	if (cs_buf_append(&body, "[", 1) < 0)
	    goto nomem;
	for (i = 0; i < n; i++)
	    if ((i && cs_buf_append(&body, ",", 1) < 0)
		|| cs_buf_append(&body, e[i].body, strlen(e[i].body)) < 0)
		goto nomem;
	if (cs_buf_append(&body, "]", 1) < 0)
	    goto nomem;
    }
    status = post(ev, type, delivery, body.data, body.len, &ra, why, sizeof(why));
    cs_buf_free(&body);
    if (atomic_load(&ev->stopping) && status == 0)
	return;				/* cut short by stop: pending as before */
    now = time(NULL);
    if (status >= 200 && status <= 299) {
	outcome = CS_EVENT_DELIVERED;
	if (ev->failures)
	    cs_info(NULL, "events: webhook answers again after %d failure(s)", ev->failures);
	ev->failures = 0;
	cs_debug(NULL, "events: delivered %zu event(s), first %s (%s)", n, e[0].id, e[0].type);
	cs_store_outbox_settle(ev->ob, e, n, outcome, now, NULL);
    } else if (status == 0 || status == 408 || status == 429 || status >= 500) {
	ev->failures++;
	delay = backoff_ms(ev);
	if (ra > 0)
	    delay = ra * 1000L;
	if (delay > ev->conf.backoff_max_ms)
	    delay = ev->conf.backoff_max_ms;
	/* The first failure of an outage is news; the rest is noise. */
	cs_log(ev->failures == 1 ? CS_LOG_WARN : CS_LOG_INFO, NULL,
	       "events: delivery of %zu event(s) failed (%s); retry in %ld ms", n, why, delay);
	cs_store_outbox_settle(ev->ob, e, n, CS_EVENT_RETRY, now + delay / 1000, why);
	nap(ev, delay);
    } else {
	ev->failures = 0;
	for (i = 0; i < n; i++)
	    cs_warn(NULL, "events: %s %s parked as failed: %s", e[i].type, e[i].id, why);
	cs_store_outbox_settle(ev->ob, e, n, CS_EVENT_PARKED, now, why);
    }
    return;
nomem:
    cs_buf_free(&body);
    cs_error(NULL, "events: out of memory building a delivery");
    nap(ev, 1000);
}

/* sender_main - claim, send, settle; prune now and then */
static void *sender_main(void *arg)
{
    cs_events *ev = arg;
    time_t  next_prune = 0, now;
    cs_event *e;
    size_t  n;

    while (!atomic_load(&ev->stopping)) {
	now = time(NULL);
	if (now >= next_prune) {
	    /* Without a webhook nobody takes events: keep them a while only. */
	    cs_store_outbox_prune(ev->ob, now - ev->conf.retention,
				  ev->curl ? 0 : now - ev->conf.retention);
	    next_prune = now + ev->conf.prune_every;
	}
	if (ev->curl == NULL) {
	    nap(ev, ev->conf.prune_every * 1000L);
	    continue;
	}
	if (cs_store_outbox_claim(ev->ob, now, ev->conf.batch_max, ev->conf.batch_bytes,
				  &e, &n) != CS_OK) {
	    nap(ev, 1000);
	    continue;
	}
	if (n == 0) {
	    nap(ev, ev->conf.poll_ms);
	    continue;
	}
	deliver(ev, e, n);
	cs_store_events_free(e, n);
    }
    return NULL;
}

/* setup_curl - the one reused handle with the fixed options */
static int setup_curl(cs_events *ev, char *err, size_t errlen)
{
    CURL   *c;

    if ((c = ev->curl = curl_easy_init()) == NULL) {
	snprintf(err, errlen, "events: cannot make an HTTP handle");
	return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, ev->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ev->conf.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ev->conf.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ev->ca_file && *ev->ca_file)
	curl_easy_setopt(c, CURLOPT_CAINFO, ev->ca_file);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ev);
    return 0;
}

/* events_free - everything but the thread */
static void events_free(cs_events *ev)
{
    if (ev->curl)
	curl_easy_cleanup(ev->curl);
    cs_store_outbox_close(ev->ob);
    OPENSSL_cleanse(ev->secret, sizeof(ev->secret));
    free(ev->url);
    free(ev->ca_file);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
    curl_global_cleanup();
}

/* cs_events_start - check the webhook settings and start the sender */
cs_events *cs_events_start(cs_store *store, const cs_events_conf *conf, char *err, size_t errlen)
{
    cs_events *ev;
    pthread_condattr_t ca;
    char    host[128], holder[256], rnd[37];
    int     web = conf->url && *conf->url;

    *err = 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
	snprintf(err, errlen, "events: cannot initialize libcurl");
	return NULL;
    }
    if ((ev = calloc(1, sizeof(*ev))) == NULL) {
	snprintf(err, errlen, "out of memory");
	curl_global_cleanup();
	return NULL;
    }
    ev->conf = *conf;
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (web) {
	if (check_url(conf->url, err, errlen) < 0)
	    goto fail;
	if (conf->secret_file == NULL || *conf->secret_file == 0) {
	    snprintf(err, errlen, "WebhookURL needs WebhookSecret (the signing key's file)");
	    goto fail;
	}
	if (read_secret(ev, conf->secret_file, err, errlen) < 0)
	    goto fail;
	if ((ev->url = cs_strdup(conf->url)) == NULL
	    || (conf->ca_file && (ev->ca_file = cs_strdup(conf->ca_file)) == NULL)) {
	    snprintf(err, errlen, "out of memory");
	    goto fail;
	}
	if (setup_curl(ev, err, errlen) < 0)
	    goto fail;
    }
    if (store == NULL) {
	events_free(ev);
	return NULL;				/* settings fine; nothing to send from */
    }
    if (gethostname(host, sizeof(host)) < 0)
	snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = 0;
    for (char *p = host; *p; p++)
	if (*p == ':')
	    *p = '_';
    if (uuid4(rnd) < 0) {
	snprintf(err, errlen, "events: no random bytes");
	goto fail;
    }
    memcpy(&ev->rng, rnd, sizeof(ev->rng));
    ev->rng |= 1;
    snprintf(holder, sizeof(holder), "%s:%ld:%.8s", host, (long) getpid(), rnd);
    if ((ev->ob = cs_store_outbox_open(store, holder, err, errlen)) == NULL)
	goto fail;
    if (cs_thread_create(&ev->tid, sender_main, ev) != 0) {
	snprintf(err, errlen, "events: cannot start the sender thread");
	goto fail;
    }
    cs_info(NULL, "events: %s", web ? "sender started" : "no WebhookURL: events are pruned"
	    " after EventRetention, not sent");
    return ev;
fail:
    events_free(ev);
    return NULL;
}

/* cs_events_stop - end the sender now (a transfer in flight is cut) */
void    cs_events_stop(cs_events *ev)
{
    if (ev == NULL)
	return;
    pthread_mutex_lock(&ev->lock);
    atomic_store(&ev->stopping, 1);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    pthread_join(ev->tid, NULL);
    events_free(ev);
}
