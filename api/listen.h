/*
 * NAME
 *	listen 3h
 * SUMMARY
 *	crmsync-api's listening socket from ApiListen (Socket's forms)
 * DESCRIPTION
 *	api_listen_parse() reads unix:/path, local:/path, /path,
 *	inet:port@host and inet6:port@host (host a name or an address;
 *	inet:port alone is every address) and says whether the address is
 *	local: a unix socket, or a host whose every address is loopback.
 *	Any other address needs TLS (SPEC X5). api_listen_open() makes the
 *	socket: a unix one with mode 0666 less the umask (UMask), a stale
 *	socket file replaced, never another kind of file.
 */
#ifndef API_LISTEN_H
#define API_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct api_addr {
    int     unix_socket;		/* 1: path set */
    char    path[108];
    struct sockaddr_storage ss;		/* inet: the first resolved address */
    socklen_t sslen;
    int     local;			/* unix socket or loopback only */
} api_addr;

int     api_listen_parse(const char *spec, api_addr *, char *err, size_t errlen);
/* A listening socket, or -1 with err set. */
int     api_listen_open(const api_addr *, unsigned umask_bits, char *err, size_t errlen);

#endif
