/*
 * NAME
 *	sockpoke 1
 * SUMMARY
 *	connect to a milter's unix socket and misbehave, for close-path tests
 * DESCRIPTION
 *	Five times: connect and close at once; connect, write junk that is
 *	not a milter packet, close; connect, write a packet header that
 *	announces a huge length, close. Exits 0 if every connect worked.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* poke - one connection; junk is written when given */
static int poke(const char *path, const void *junk, size_t len)
{
    struct sockaddr_un sun;
    int     fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0)
	return -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
	close(fd);
	return -1;
    }
    strcpy(sun.sun_path, path);
    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	close(fd);
	return -1;
    }
    if (len && write(fd, junk, len) < 0) {
	close(fd);
	return -1;
    }
    close(fd);
    return 0;
}

int     main(int argc, char **argv)
{
    static const unsigned char hugelen[] = {0x7f, 0xff, 0xff, 0xff, 'O'};
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n";

    if (argc != 2) {
	fprintf(stderr, "usage: sockpoke SOCKET\n");
	return 1;
    }
    for (int i = 0; i < 5; i++) {
	if (poke(argv[1], NULL, 0) < 0 || poke(argv[1], junk, sizeof(junk) - 1) < 0
	    || poke(argv[1], hugelen, sizeof(hugelen)) < 0) {
	    perror("sockpoke");
	    return 1;
	}
    }
    /* Give the milter's threads a moment to see the closes. */
    usleep(200000);
    return 0;
}
