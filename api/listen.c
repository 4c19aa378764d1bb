/*
 * NAME
 *	listen 3
 * SUMMARY
 *	crmsync-api's listening socket from ApiListen
 * DESCRIPTION
 *	See listen.h.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Application-specific. */
#include "listen.h"

/* loopback - 1 for 127.0.0.0/8 and ::1 (and ::ffff:127.x) */
static int loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
	return (ntohl(((const struct sockaddr_in *) (const void *) sa)->sin_addr.s_addr) >> 24)
	    == 127;
    if (sa->sa_family == AF_INET6) {
	const struct in6_addr *a = &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr;

	return IN6_IS_ADDR_LOOPBACK(a)
	    || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* api_listen_parse - ApiListen into an address */
int     api_listen_parse(const char *spec, api_addr *a, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    const char *path = NULL, *rest, *at;
    char    port[16], host[256];
    int     family, rc;

    memset(a, 0, sizeof(*a));
    if (spec[0] == '/')
	path = spec;
    else if (strncmp(spec, "unix:", 5) == 0)
	path = spec + 5;
    else if (strncmp(spec, "local:", 6) == 0)
	path = spec + 6;
    if (path) {
	if (path[0] != '/' || strlen(path) >= sizeof(a->path)) {
	    snprintf(err, errlen, "ApiListen %s: a unix socket needs an absolute path"
		     " shorter than %zu bytes", spec, sizeof(a->path));
	    return -1;
	}
	a->unix_socket = a->local = 1;
	strcpy(a->path, path);
	return 0;
    }
    if (strncmp(spec, "inet:", 5) == 0) {
	family = AF_INET;
	rest = spec + 5;
    } else if (strncmp(spec, "inet6:", 6) == 0) {
	family = AF_INET6;
	rest = spec + 6;
    } else {
	snprintf(err, errlen, "ApiListen %s: expected unix:/path, local:/path,"
		 " inet:port@host or inet6:port@host", spec);
	return -1;
    }
    at = strchr(rest, '@');
    if ((size_t) ((at ? at : rest + strlen(rest)) - rest) >= sizeof(port)
	|| (at && strlen(at + 1) >= sizeof(host))) {
	snprintf(err, errlen, "ApiListen %s: port or host too long", spec);
	return -1;
    }
    snprintf(port, sizeof(port), "%.*s", (int) ((at ? at : rest + strlen(rest)) - rest), rest);
    snprintf(host, sizeof(host), "%s", at ? at + 1 : "");
    if (port[0] == 0 || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) {
	snprintf(err, errlen, "ApiListen %s: bad port", spec);
	return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
	snprintf(err, errlen, "ApiListen %s: %s", spec, gai_strerror(rc));
	return -1;
    }
    a->local = 1;
    for (ai = res; ai; ai = ai->ai_next)
	if (!loopback(ai->ai_addr))
	    a->local = 0;
    memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
    a->sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* api_listen_open - bind and listen */
int     api_listen_open(const api_addr *a, unsigned umask_bits, char *err, size_t errlen)
{
    int     fd, one = 1;

    if (a->unix_socket) {
	struct sockaddr_un sun;
	struct stat sb;
	mode_t  old;

	if (lstat(a->path, &sb) == 0) {
	    if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "ApiListen %s: exists and is not a socket", a->path);
		return -1;
	    }
	    unlink(a->path);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, a->path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
	    goto fail;
	old = umask((mode_t) (umask_bits & 0777));
	if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	    umask(old);
	    goto fail_close;
	}
	umask(old);
    } else {
	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
	    goto fail;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *) &a->ss, a->sslen) < 0)
	    goto fail_close;
    }
    if (listen(fd, 256) < 0)
	goto fail_close;
    return fd;
fail_close:
    snprintf(err, errlen, "ApiListen: %s", strerror(errno));
    close(fd);
    return -1;
fail:
    snprintf(err, errlen, "ApiListen: %s", strerror(errno));
    return -1;
}
