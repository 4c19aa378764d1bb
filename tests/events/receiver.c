/*
 * NAME
 *	receiver 1
 * SUMMARY
 *	a local HTTPS webhook receiver for the X3 event tests
 * SYNOPSIS
 *	receiver --port-file F --log F [--bodies F] [--control F]
 *		[--cert C --key K | --plain] [--secret F] [--port N]
 * DESCRIPTION
 *	Listens on 127.0.0.1 (port N, or any: the port is written to the
 *	port file), serves one connection at a time with keep-alive, and
 *	answers each POST as the control file says, re-read per request:
 *
 *	  ok                     2xx (the default, also for a missing file)
 *	  status CODE [N [RA]]   answer CODE to the next N requests (default
 *	                         all), with Retry-After: RA if given; a new
 *	                         control text starts a new count
 *	  hang                   read the request, never answer (until the
 *	                         client gives up)
 *	  drop                   close the connection without answering
 *	  slow MS                answer 200 after MS milliseconds
 *
 *	Every request is a log line "R <status> <event-header> <delivery>
 *	<sig 0|1> <headers 0|1> <n> <ms>" (ms: wall clock); every event of a request answered
 *	2xx a line "E <id> <type> <thread|-> <message_count|-> <owner|->".
 *	sig is the HMAC-SHA256 check of X-Crmsync-Signature against the
 *	secret file; headers says X-Crmsync-Event and X-Crmsync-Delivery
 *	match the body (type and id for one event, "batch" for an array).
 *	--bodies appends every request body, one per line.
 */
#include <config.h>

/* System library. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#define MAX_HEAD	16384
#define MAX_BODY	(16 * 1024 * 1024)

typedef struct conn {
    int     fd;
    SSL    *ssl;
} conn;

static const char *log_path, *bodies_path, *control_path, *secret_path;
static char control_last[256];
static long control_used;

/* io_read - read from the connection; <=0 on EOF or error */
static int io_read(conn *c, char *buf, int len)
{
    if (c->ssl)
	return SSL_read(c->ssl, buf, len);
    return (int) read(c->fd, buf, (size_t) len);
}

/* io_write - write all; -1 on error */
static int io_write(conn *c, const char *buf, size_t len)
{
    while (len > 0) {
	int     n = c->ssl ? SSL_write(c->ssl, buf, (int) len) : (int) write(c->fd, buf, len);

	if (n <= 0)
	    return -1;
	buf += n;
	len -= (size_t) n;
    }
    return 0;
}

/* header - a header's value in the head block, copied; "" if absent */
static void header(const char *head, const char *name, char *out, size_t outlen)
{
    size_t  n = strlen(name);
    const char *p = head;

    *out = 0;
    while ((p = strstr(p, "\r\n")) != NULL) {
	p += 2;
	if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
	    const char *v = p + n + 1, *e;

	    while (*v == ' ' || *v == '\t')
		v++;
	    e = strstr(v, "\r\n");
	    snprintf(out, outlen, "%.*s", (int) (e ? (size_t) (e - v) : strlen(v)), v);
	    return;
	}
    }
}

/* control - the answer for this request: status, retry-after, delay; -1 hang, -2 drop */
static int control(int *ra, int *delay)
{
    char    text[256] = "", word[32] = "";
    FILE   *fp;
    int     code = 200, n = -1, r = -1, k;

    *ra = -1;
    *delay = 0;
    if (control_path && (fp = fopen(control_path, "r")) != NULL) {
	size_t  got = fread(text, 1, sizeof(text) - 1, fp);

	text[got] = 0;
	fclose(fp);
    }
    if (strcmp(text, control_last) != 0) {
	snprintf(control_last, sizeof(control_last), "%s", text);
	control_used = 0;
    }
    k = sscanf(text, "%31s %d %d %d", word, &code, &n, &r);
    if (k < 1 || strcmp(word, "ok") == 0)
	return 200;
    if (strcmp(word, "hang") == 0)
	return -1;
    if (strcmp(word, "drop") == 0)
	return -2;
    if (strcmp(word, "slow") == 0 && k >= 2) {
	*delay = code;
	return 200;
    }
    if (strcmp(word, "status") == 0 && k >= 2) {
	if (k >= 3 && n >= 0 && control_used >= n)
	    return 200;
	control_used++;
	if (k >= 4)
	    *ra = r;
	return code;
    }
    return 200;
}

/* check_sig - does the signature header match the body? */
static int check_sig(const char *sig, const char *body, size_t len)
{
    unsigned char key[4096], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char    hex[2 * EVP_MAX_MD_SIZE + 8];
    size_t  klen = 0, o;
    FILE   *fp;

    if (secret_path == NULL || (fp = fopen(secret_path, "r")) == NULL)
	return 0;
    klen = fread(key, 1, sizeof(key), fp);
    fclose(fp);
    while (klen > 0 && (key[klen - 1] == '\n' || key[klen - 1] == '\r'))
	klen--;
    if (HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) body, len, md, &mdlen) == NULL)
	return 0;
    o = (size_t) snprintf(hex, sizeof(hex), "sha256=");
    for (unsigned i = 0; i < mdlen; i++)
	o += (size_t) snprintf(hex + o, sizeof(hex) - o, "%02x", md[i]);
    return strcmp(hex, sig) == 0;
}

/* log_events - one E line per event of an accepted request */
static void log_events(FILE *lg, json_t *doc)
{
    json_t *e;
    size_t  i, n = json_is_array(doc) ? json_array_size(doc) : 1;

    for (i = 0; i < n; i++) {
	json_t *mc;
	const char *th, *ow;

	e = json_is_array(doc) ? json_array_get(doc, i) : doc;
	th = json_string_value(json_object_get(e, "thread"));
	ow = json_string_value(json_object_get(e, "owner"));
	mc = json_object_get(e, "message_count");
	fprintf(lg, "E %s %s %s ", json_string_value(json_object_get(e, "id")) ?: "-",
		json_string_value(json_object_get(e, "type")) ?: "-", th ? th : "-");
	if (json_is_integer(mc))
	    fprintf(lg, "%lld", (long long) json_integer_value(mc));
	else
	    fprintf(lg, "-");
	fprintf(lg, " %s\n", ow ? ow : "-");
    }
}

/* serve - requests on one connection until it closes */
static void serve(conn *c)
{
    static char head[MAX_HEAD + 1];
    size_t  hlen = 0;

    for (;;) {
	char   *end, cl[32], ev[80], dl[80], sig[200], *body;
	size_t  blen, have, extra;
	int     n, status, ra, delay, sig_ok, hdr_ok;
	struct timespec now;
	json_t *doc;
	FILE   *lg;

	while ((end = hlen ? strstr(head, "\r\n\r\n") : NULL) == NULL) {
	    if (hlen >= MAX_HEAD)
		return;
	    if ((n = io_read(c, head + hlen, (int) (MAX_HEAD - hlen))) <= 0)
		return;
	    hlen += (size_t) n;
	    head[hlen] = 0;
	}
	header(head, "Content-Length", cl, sizeof(cl));
	blen = (size_t) strtoul(cl, NULL, 10);
	if (blen > MAX_BODY || (body = malloc(blen + 1)) == NULL)
	    return;
	have = hlen - (size_t) (end + 4 - head);
	if (have > blen)
	    have = blen;
	memcpy(body, end + 4, have);
	extra = hlen - (size_t) (end + 4 - head) - have;
	while (have < blen) {
	    if ((n = io_read(c, body + have, (int) (blen - have))) <= 0) {
		free(body);
		return;
	    }
	    have += (size_t) n;
	}
	body[blen] = 0;
	header(head, "X-Crmsync-Event", ev, sizeof(ev));
	header(head, "X-Crmsync-Delivery", dl, sizeof(dl));
	header(head, "X-Crmsync-Signature", sig, sizeof(sig));
	/* Keep what followed this request (pipelining is not expected). */
	memmove(head, end + 4 + have, extra);
	hlen = extra;
	head[hlen] = 0;

	sig_ok = check_sig(sig, body, blen);
	doc = json_loads(body, 0, NULL);
	if (json_is_array(doc))
	    hdr_ok = strcmp(ev, "batch") == 0 && json_array_size(doc) > 1;
	else
	    hdr_ok = json_is_object(doc)
		&& strcmp(ev, json_string_value(json_object_get(doc, "type")) ?: "") == 0
		&& strcmp(dl, json_string_value(json_object_get(doc, "id")) ?: "") == 0;
	status = control(&ra, &delay);
	clock_gettime(CLOCK_REALTIME, &now);
	if (bodies_path && (lg = fopen(bodies_path, "a")) != NULL) {
	    fprintf(lg, "%s\n", body);
	    fclose(lg);
	}
	if ((lg = fopen(log_path, "a")) != NULL) {
	    fprintf(lg, "R %d %s %s %d %d %zu %lld\n", status, *ev ? ev : "-", *dl ? dl : "-",
		    sig_ok, hdr_ok, json_is_array(doc) ? json_array_size(doc) : 1,
		    (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000);
	    if (status >= 200 && status < 300)
		log_events(lg, doc);
	    fclose(lg);
	}
	json_decref(doc);
	free(body);
	if (status == -1) {
	    struct pollfd p = {c->fd, POLLIN, 0};

	    /* Hang: answer nothing until the client gives up (or 5 min). */
	    (void) poll(&p, 1, 300000);
	    return;
	}
	if (status == -2)
	    return;
	if (delay > 0)
	    usleep((useconds_t) delay * 1000);
	{
	    char    resp[256], ra_line[64] = "";
	    int     len;

	    if (ra >= 0)
		snprintf(ra_line, sizeof(ra_line), "Retry-After: %d\r\n", ra);
	    len = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s"
			   "Connection: keep-alive\r\n\r\nok", status, ra_line);
	    if (io_write(c, resp, (size_t) len) < 0)
		return;
	}
    }
}

int     main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *port_file = NULL;
    int     plain = 0, port = 0, one = 1, lfd;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    SSL_CTX *ctx = NULL;
    FILE   *fp;

    for (int i = 1; i < argc; i++) {
	const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

	if (strcmp(a, "--plain") == 0) {
	    plain = 1;
	    continue;
	}
	if (v == NULL) {
	    fprintf(stderr, "receiver: %s needs a value\n", a);
	    return 1;
	}
	i++;
	if (strcmp(a, "--cert") == 0)
	    cert = v;
	else if (strcmp(a, "--key") == 0)
	    key = v;
	else if (strcmp(a, "--port-file") == 0)
	    port_file = v;
	else if (strcmp(a, "--port") == 0)
	    port = atoi(v);
	else if (strcmp(a, "--log") == 0)
	    log_path = v;
	else if (strcmp(a, "--bodies") == 0)
	    bodies_path = v;
	else if (strcmp(a, "--control") == 0)
	    control_path = v;
	else if (strcmp(a, "--secret") == 0)
	    secret_path = v;
	else {
	    fprintf(stderr, "receiver: unknown option %s\n", a);
	    return 1;
	}
    }
    if (log_path == NULL || port_file == NULL || (!plain && (cert == NULL || key == NULL))) {
	fprintf(stderr, "usage: receiver --port-file F --log F [--bodies F] [--control F]"
		" [--cert C --key K | --plain] [--secret F] [--port N]\n");
	return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!plain) {
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL
	    || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
	    || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
	    ERR_print_errors_fp(stderr);
	    return 1;
	}
    }
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
	return 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0
	|| getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0) {
	perror("receiver: bind");
	return 1;
    }
    if ((fp = fopen(port_file, "w")) == NULL)
	return 1;
    fprintf(fp, "%d\n", ntohs(sa.sin_port));
    fclose(fp);
    for (;;) {
	conn    c = {-1, NULL};
	struct timeval tv = {60, 0};

	if ((c.fd = accept(lfd, NULL, NULL)) < 0) {
	    if (errno == EINTR)
		continue;
	    return 1;
	}
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (ctx) {
	    if ((c.ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c.ssl, c.fd) != 1
		|| SSL_accept(c.ssl) != 1) {
		SSL_free(c.ssl);
		close(c.fd);
		continue;
	    }
	}
	serve(&c);
	if (c.ssl) {
	    SSL_shutdown(c.ssl);
	    SSL_free(c.ssl);
	}
	close(c.fd);
    }
}
