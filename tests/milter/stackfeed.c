/*
 * NAME
 *	stackfeed 1
 * SUMMARY
 *	play the MTA: send message files to a milter, one connection each
 * SYNOPSIS
 *	stackfeed [-a login] [-f sender] [-r rcpt] [-R file] socket file...
 * DESCRIPTION
 *	For each file, one milter connection over the unix socket: option
 *	negotiation (no step skipped, a reply to each), connect, MAIL (with
 *	the queue id and, with -a, {auth_authen}), each recipient (-r, and
 *	the lines of -R), the file's headers, end of headers, its body in
 *	64 KB chunks, end of message, quit. A file is taken as mail is: its
 *	header lines up to the first empty line (a line that starts with a
 *	space or a tab continues the header before it; a line with no colon
 *	is skipped), a header value cut at 60,000 bytes and at a NUL (the
 *	milter protocol's limits), the rest its body.
 *
 *	For tests/milter/stack.sh, which reads the stack probe's line that
 *	each connection's close logs, in the order of the files.
 * DIAGNOSTICS
 *	Prints "fed N files, M to end of message" and exits 0, or exits 1
 *	with the reason when the milter does not answer as a milter.
 */
#include <config.h>

/* System library. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_VALUE	60000		/* a header value, as libmilter takes it */
#define MAX_CHUNK	65535		/* a body chunk */

typedef struct feed {
    const char *sender;
    const char *login;
    char  **rcpts;
    size_t  nrcpts;
    int     fd;
} feed;

/* die - the reason, exit 1 */
static void die(const char *what)
{
    fprintf(stderr, "stackfeed: %s\n", what);
    exit(1);
}

/* put - one packet: length, command, data */
static void put(feed *f, char cmd, const void *data, size_t len)
{
    uint32_t n = htonl((uint32_t) (len + 1));
    char    hdr[5];

    memcpy(hdr, &n, 4);
    hdr[4] = cmd;
    if (write(f->fd, hdr, 5) != 5 || (len && write(f->fd, data, len) != (ssize_t) len))
	die("write to the milter failed");
}

/* get_all - exactly len bytes, or die */
static void get_all(feed *f, void *buf, size_t len)
{
    char   *p = buf;

    while (len > 0) {
	ssize_t r = read(f->fd, p, len);

	if (r <= 0)
	    die("the milter closed the connection or did not answer");
	p += r;
	len -= (size_t) r;
    }
}

/* reply - read packets up to the final reply of a step; its code */
static char reply(feed *f)
{
    for (;;) {
	uint32_t n;
	char    cmd, buf[4096];

	get_all(f, &n, 4);
	n = ntohl(n);
	if (n == 0)
	    die("empty packet from the milter");
	get_all(f, &cmd, 1);
	for (n--; n > 0;) {
	    size_t  take = n < sizeof(buf) ? n : sizeof(buf);

	    get_all(f, buf, take);
	    n -= (uint32_t) take;
	}
	/* Modifications and progress come before the final reply. */
	if (strchr("acdrtyO", cmd) != NULL)
	    return cmd;
    }
}

/* two - a packet of two NUL-terminated strings */
static void two(feed *f, char cmd, const char *a, const char *b)
{
    size_t  la = strlen(a) + 1, lb = strlen(b) + 1;
    char   *buf = malloc(la + lb);

    if (buf == NULL)
	die("out of memory");
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    put(f, cmd, buf, la + lb);
    free(buf);
}

/* one - a packet of one NUL-terminated string */
static void one(feed *f, char cmd, const char *a)
{
    put(f, cmd, a, strlen(a) + 1);
}

/* open_milter - connect and negotiate */
static void open_milter(feed *f, const char *path)
{
    struct sockaddr_un sun;
    struct timeval tv = {30, 0};
    uint32_t opt[3];

    if ((f->fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
	die("socket");
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path))
	die("socket path too long");
    strcpy(sun.sun_path, path);
    if (connect(f->fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
	die("cannot connect to the milter");
    (void) setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    opt[0] = htonl(6);				/* protocol version */
    opt[1] = htonl(0x1ff);			/* every action */
    opt[2] = htonl(0);				/* nothing skipped, every reply */
    put(f, 'O', opt, sizeof(opt));
    if (reply(f) != 'O')
	die("no option negotiation");
}

/* connect_step - the SMTP client: 192.0.2.1 port 40000 */
static char connect_step(feed *f)
{
    static const char pkt[] = "client.example\0" "4\x9c\x40" "192.0.2.1";

    put(f, 'C', pkt, sizeof(pkt));
    return reply(f);
}

/* header - one header line: "Name: value" (folded lines joined by \n) */
static char header(feed *f, char *line)
{
    char   *colon = strchr(line, ':'), *value;

    if (colon == NULL)
	return 'c';				/* its colon was after a NUL */
    *colon = 0;
    value = colon + 1;
    if (*value == ' ')
	value++;
    if (strlen(value) > MAX_VALUE)
	value[MAX_VALUE] = 0;
    two(f, 'L', line, value);
    return reply(f);
}

/* headers - send the header lines of text; where the body starts */
static const char *headers(feed *f, const char *text, size_t len, char *rc)
{
    const char *p = text, *end = text + len;
    char   *cur = NULL;
    size_t  clen = 0;

    *rc = 'c';
    while (p < end && *rc == 'c') {
	const char *nl = memchr(p, '\n', (size_t) (end - p));
	size_t  ll = (size_t) ((nl ? nl : end) - p);
	const char *next = nl ? nl + 1 : end;

	if (ll > 0 && p[ll - 1] == '\r')
	    ll--;
	if (ll > 0 && (p[0] == ' ' || p[0] == '\t') && cur != NULL) {
	    if ((cur = realloc(cur, clen + ll + 2)) == NULL)
		die("out of memory");
	    cur[clen++] = '\n';
	    memcpy(cur + clen, p, ll);
	    cur[clen += ll] = 0;
	    p = next;
	    continue;
	}
	if (cur != NULL) {
	    *rc = header(f, cur);
	    free(cur);
	    cur = NULL;
	}
	if (ll == 0) {
	    p = next;
	    break;				/* the body follows */
	}
	if (memchr(p, ':', ll) != NULL) {
	    if ((cur = malloc(ll + 1)) == NULL)
		die("out of memory");
	    memcpy(cur, p, ll);
	    cur[clen = ll] = 0;
	}
	p = next;
    }
    if (cur != NULL) {
	if (*rc == 'c')
	    *rc = header(f, cur);
	free(cur);
    }
    return p;
}

/* message - one file on one connection; 1 if it reached end of message */
static int message(feed *f, const char *path, const char *sock, int seq)
{
    FILE   *fp;
    char   *text = NULL, qid[32], from[1024], rc;
    size_t  len = 0, cap = 0, n;
    const char *body = NULL;
    int     eom = 0;

    if ((fp = fopen(path, "rb")) == NULL)
	die(path);
    do {
	if (len + 65536 > cap && (text = realloc(text, cap = len + 65536 + cap)) == NULL)
	    die("out of memory");
	len += n = fread(text + len, 1, cap - len - 1, fp);
    } while (n > 0);
    fclose(fp);
    text[len] = 0;

    open_milter(f, sock);
    rc = connect_step(f);
    snprintf(qid, sizeof(qid), "STK%05d", seq);
    if (rc == 'c') {
	char    macros[256];
	size_t  ml = 0;

	macros[ml++] = 'M';
	ml += (size_t) snprintf(macros + ml, sizeof(macros) - ml, "i%c%s", 0, qid) + 1;
	if (f->login)
	    ml += (size_t) snprintf(macros + ml, sizeof(macros) - ml, "{auth_authen}%c%s", 0,
				    f->login) + 1;
	put(f, 'D', macros, ml);
	snprintf(from, sizeof(from), "<%s>", f->sender);
	one(f, 'M', from);
	rc = reply(f);
    }
    for (size_t i = 0; i < f->nrcpts && rc == 'c'; i++) {
	snprintf(from, sizeof(from), "<%s>", f->rcpts[i]);
	one(f, 'R', from);
	rc = reply(f);
    }
    body = text + len;
    if (rc == 'c')
	body = headers(f, text, len, &rc);
    if (rc == 'c') {
	put(f, 'N', NULL, 0);
	rc = reply(f);
    }
    for (const char *p = body; rc == 'c' && p < text + len; p += n) {
	n = (size_t) (text + len - p) < MAX_CHUNK ? (size_t) (text + len - p) : MAX_CHUNK;
	put(f, 'B', p, n);
	rc = reply(f);
    }
    if (rc == 'c') {
	put(f, 'E', NULL, 0);
	(void) reply(f);
	eom = 1;
    }
    put(f, 'Q', NULL, 0);
    /* Wait for the milter to close: its close callback has run then. */
    while (read(f->fd, qid, sizeof(qid)) > 0)
	continue;
    close(f->fd);
    free(text);
    return eom;
}

/* add_rcpt - one more envelope recipient */
static void add_rcpt(feed *f, const char *r)
{
    if ((f->rcpts = realloc(f->rcpts, (f->nrcpts + 1) * sizeof(*f->rcpts))) == NULL
	|| (f->rcpts[f->nrcpts++] = strdup(r)) == NULL)
	die("out of memory");
}

int     main(int argc, char **argv)
{
    feed    f = {.sender = "x@outside.example"};
    int     ch, fed = 0, eoms = 0;
    char    line[1024];
    FILE   *fp;

    while ((ch = getopt(argc, argv, "a:f:r:R:")) != -1) {
	switch (ch) {
	case 'a':
	    f.login = optarg;
	    break;
	case 'f':
	    f.sender = optarg;
	    break;
	case 'r':
	    add_rcpt(&f, optarg);
	    break;
	case 'R':
	    if ((fp = fopen(optarg, "r")) == NULL)
		die(optarg);
	    while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = 0;
		if (*line)
		    add_rcpt(&f, line);
	    }
	    fclose(fp);
	    break;
	default:
	    die("usage: stackfeed [-a login] [-f sender] [-r rcpt] [-R file] socket file...");
	}
    }
    if (argc - optind < 2 || f.nrcpts == 0)
	die("usage: stackfeed [-a login] [-f sender] [-r rcpt] [-R file] socket file...");
    for (int i = optind + 1; i < argc; i++) {
	eoms += message(&f, argv[i], argv[optind], fed);
	fed++;
    }
    printf("fed %d files, %d to end of message\n", fed, eoms);
    for (size_t i = 0; i < f.nrcpts; i++)
	free(f.rcpts[i]);
    free(f.rcpts);
    return 0;
}
