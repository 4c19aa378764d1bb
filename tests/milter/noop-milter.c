/*
 * NAME
 *	noop-milter 8
 * SUMMARY
 *	do-nothing libmilter milter, the reference for harness and benchmarks
 * SYNOPSIS
 *	noop-milter -p SOCKET [-m MODE]
 * DESCRIPTION
 *	Registers every libmilter callback; each answers SMFIS_CONTINUE and
 *	end-of-message answers SMFIS_ACCEPT. Nothing is recorded or changed.
 *	It measures what a milter costs Postfix by itself (libmilter's
 *	threads, the protocol round trips), so crmsync's own cost can be told
 *	apart, and it lets the end-to-end harness be tested without crmsync.
 *
 *	-p SOCKET	libmilter socket: unix:/path, local:/path,
 *			inet:PORT@HOST, inet6:PORT@HOST.
 *	-m MODE		octal mode given to a unix socket once it exists
 *			(default 0666, so smtpd running as postfix reaches it).
 *
 *	Runs in the foreground; SIGTERM/SIGINT end it (libmilter's signal
 *	thread makes smfi_main return).
 * DIAGNOSTICS
 *	Exit 0 on a clean stop, 1 on usage or socket errors.
 */
#include <config.h>

#define _POSIX_C_SOURCE 200809L

/* System library. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Milter library. */
#include <libmilter/mfapi.h>

/* nm_connect - accept any client */
static sfsistat nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void) ctx;
    (void) host;
    (void) addr;
    return SMFIS_CONTINUE;
}

/* nm_helo - accept any greeting */
static sfsistat nm_helo(SMFICTX *ctx, char *helo)
{
    (void) ctx;
    (void) helo;
    return SMFIS_CONTINUE;
}

/* nm_envfrom - accept any sender */
static sfsistat nm_envfrom(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_CONTINUE;
}

/* nm_envrcpt - accept any recipient */
static sfsistat nm_envrcpt(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_CONTINUE;
}

/* nm_header - ignore one header */
static sfsistat nm_header(SMFICTX *ctx, char *name, char *value)
{
    (void) ctx;
    (void) name;
    (void) value;
    return SMFIS_CONTINUE;
}

/* nm_eoh - ignore end of headers */
static sfsistat nm_eoh(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* nm_body - ignore one body chunk */
static sfsistat nm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void) ctx;
    (void) chunk;
    (void) len;
    return SMFIS_CONTINUE;
}

/* nm_eom - accept the message unchanged */
static sfsistat nm_eom(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_ACCEPT;
}

/* nm_abort - nothing to forget */
static sfsistat nm_abort(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* nm_close - nothing to free */
static sfsistat nm_close(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* nm_unknown - ignore unknown SMTP commands */
static sfsistat nm_unknown(SMFICTX *ctx, const char *cmd)
{
    (void) ctx;
    (void) cmd;
    return SMFIS_CONTINUE;
}

/* nm_data - accept DATA */
static sfsistat nm_data(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* nm_negotiate - take every step the MTA offers, so each callback really runs */
static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
			             unsigned long f2, unsigned long f3,
			             unsigned long *pf0, unsigned long *pf1,
			             unsigned long *pf2, unsigned long *pf3)
{
    (void) ctx;
    (void) f0;
    (void) f1;
    (void) f2;
    (void) f3;
    (void) pf0;
    (void) pf1;
    (void) pf2;
    (void) pf3;
    return SMFIS_ALL_OPTS;
}

/* nm_usage - print the synopsis */
static void nm_usage(const char *argv0)
{
    fprintf(stderr, "usage: %s -p SOCKET [-m OCTAL-MODE]\n", argv0);
}

/* nm_unix_path - the file name of a unix:/local: socket, or NULL */
static const char *nm_unix_path(const char *conn)
{
    if (strncmp(conn, "unix:", 5) == 0)
	return conn + 5;
    if (strncmp(conn, "local:", 6) == 0)
	return conn + 6;
    if (conn[0] == '/')
	return conn;
    return NULL;
}

int     main(int argc, char **argv)
{
    struct smfiDesc desc;
    const char *conn = NULL;
    const char *path;
    mode_t  mode = 0666;
    char   *end;
    long    m;
    int     c;

    while ((c = getopt(argc, argv, "p:m:")) != -1) {
	switch (c) {
	case 'p':
	    conn = optarg;
	    break;
	case 'm':
	    errno = 0;
	    m = strtol(optarg, &end, 8);
	    if (errno != 0 || *end != '\0' || end == optarg || m < 0 || m > 07777) {
		nm_usage(argv[0]);
		return 1;
	    }
	    mode = (mode_t) m;
	    break;
	default:
	    nm_usage(argv[0]);
	    return 1;
	}
    }
    if (conn == NULL || optind != argc) {
	nm_usage(argv[0]);
	return 1;
    }
    memset(&desc, 0, sizeof(desc));
    desc.xxfi_name = "noop-milter";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = 0;
    desc.xxfi_connect = nm_connect;
    desc.xxfi_helo = nm_helo;
    desc.xxfi_envfrom = nm_envfrom;
    desc.xxfi_envrcpt = nm_envrcpt;
    desc.xxfi_header = nm_header;
    desc.xxfi_eoh = nm_eoh;
    desc.xxfi_body = nm_body;
    desc.xxfi_eom = nm_eom;
    desc.xxfi_abort = nm_abort;
    desc.xxfi_close = nm_close;
    desc.xxfi_unknown = nm_unknown;
    desc.xxfi_data = nm_data;
    desc.xxfi_negotiate = nm_negotiate;

    if (smfi_setconn((char *) conn) == MI_FAILURE) {
	fprintf(stderr, "noop-milter: bad socket %s\n", conn);
	return 1;
    }
    if (smfi_register(desc) == MI_FAILURE) {
	fprintf(stderr, "noop-milter: smfi_register failed\n");
	return 1;
    }
    /* Remove a stale socket left by a killed run; libmilter would not bind. */
    if (smfi_opensocket(true) == MI_FAILURE) {
	fprintf(stderr, "noop-milter: cannot open socket %s\n", conn);
	return 1;
    }
    /* smtpd runs as postfix: the socket must be reachable by it. */
    if ((path = nm_unix_path(conn)) != NULL && chmod(path, mode) != 0) {
	fprintf(stderr, "noop-milter: chmod %s: %s\n", path, strerror(errno));
	return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
