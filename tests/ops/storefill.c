/*
 * NAME
 *	storefill 1
 * SUMMARY
 *	test helper: a store writer that records messages as the milter does
 * SYNOPSIS
 *	storefill [-s FIRST] DATABASE COUNT [forever]
 * DESCRIPTION
 *	Opens DATABASE (created if missing) with the group-commit writer,
 *	makes users alice and bob known, and records COUNT messages from
 *	two threads, each message one copy for one of them, every third a
 *	reply into an earlier thread. Messages are numbered from FIRST
 *	(default 0); the number makes the Message-ID, so a second run on one
 *	store needs a FIRST past the first run's. Prints "ready N" when COUNT
 *	are stored.
 *	With "forever" it then goes on recording (a few ms apart) until
 *	SIGTERM or SIGINT, and prints "stopped N" before it exits.
 *
 *	Every record stores exactly one copy, so in any committed state of
 *	the store "messages" equals "records" in crmsyncctl stats: a copy
 *	that caught half a group commit would break that.
 */
#include <config.h>

/* System library. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_spool.h"
#include "cs_digest.h"
#include "cs_policy.h"
#include "cs_store.h"

typedef struct fill {
    cs_store *st;
    const char *spool;
    atomic_long next;			/* next message number */
    atomic_long stored;
    atomic_int failed;
    long    limit;			/* stop at this number, or -1 */
    sigset_t *stop;
} fill;

static atomic_int stopping;

/* record_one - build message n and record it for one user */
static int record_one(fill *f, long n)
{
    char   *raw = NULL, digest[CS_DIGEST_HEX], d[64];
    const char *user = n % 2 ? "bob" : "alice";
    cs_msginfo mi;
    cs_spool *sp;
    cs_strlist rcpts = {0};
    cs_copy cp = {0};
    cs_record rec = {0};
    time_t  t = 1704103200 + n * 60;
    struct tm tm;
    int     res = 0, rc;

    gmtime_r(&t, &tm);
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    /* Every third message replies to the one two before it (T1 joins). */
    if (n % 3 == 2) {
	if (asprintf(&raw, "From: Customer %ld <c%ld@customer.example>\r\n"
		     "To: %s@example.com\r\nSubject: Re: order %ld\r\nDate: %s\r\n"
		     "Message-ID: <m%ld@customer.example>\r\n"
		     "In-Reply-To: <m%ld@customer.example>\r\n"
		     "\r\nBody of message %ld.\r\n",
		     n % 7, n % 7, user, n - 2, d, n, n - 2, n) < 0)
	    return -1;
    } else if (asprintf(&raw, "From: Customer %ld <c%ld@customer.example>\r\n"
			"To: %s@example.com\r\nSubject: order %ld\r\nDate: %s\r\n"
			"Message-ID: <m%ld@customer.example>\r\n"
			"\r\nBody of message %ld.\r\n",
			n % 7, n % 7, user, n, d, n, n) < 0)
	return -1;
    if (cs_msginfo_parse(raw, strlen(raw), &mi) < 0) {
	free(raw);
	return -1;
    }
    sp = cs_spool_new(f->spool, 4096, 1 << 20);
    cs_spool_write(sp, raw, strlen(raw));
    cs_body_digest_hex(strstr(raw, "\r\n\r\n") + 4, strlen(strstr(raw, "\r\n\r\n") + 4), digest);
    cs_strlist_add(&rcpts, user);
    cp.user = user;
    cp.direction = CS_DIR_IN;
    cp.env_rcpts = &rcpts;
    rec.queue_id = "FILL";
    rec.arrival = t + 5;
    rec.source = "smtp";
    rec.env_from = "c@customer.example";
    rec.info = &mi;
    rec.raw = sp;
    rec.body_digest = digest;
    rec.copies = &cp;
    rec.ncopies = 1;
    rc = cs_store_record(f->st, &rec, 10000, &res);
    cs_strlist_free(&rcpts);
    cs_spool_unref(sp);
    cs_msginfo_free(&mi);
    free(raw);
    return rc == CS_OK && res == CS_COPY_STORED ? 0 : -1;
}

/* worker - record until the limit or until told to stop */
static void *worker(void *arg)
{
    fill   *f = arg;
    long    n;

    while (!atomic_load(&stopping)) {
	n = atomic_fetch_add(&f->next, 1);
	if (f->limit >= 0 && n >= f->limit)
	    break;
	if (record_one(f, n) < 0)
	    atomic_fetch_add(&f->failed, 1);
	else
	    atomic_fetch_add(&f->stored, 1);
	if (f->limit < 0)
	    usleep(2000);
    }
    return NULL;
}

/* run - two workers up to limit (-1: until stopping) */
static void run(fill *f, long limit)
{
    pthread_t t[2];

    f->limit = limit;
    for (int i = 0; i < 2; i++)
	pthread_create(&t[i], NULL, worker, f);
    for (int i = 0; i < 2; i++)
	pthread_join(t[i], NULL);
}

/* waiter - turn SIGTERM/SIGINT into the stopping flag */
static void *waiter(void *arg)
{
    int     sig;

    sigwait(arg, &sig);
    atomic_store(&stopping, 1);
    return NULL;
}

int     main(int argc, char **argv)
{
    fill    f = {0};
    char    err[512];
    cs_user alice = {0}, bob = {0};
    const cs_user *users[2] = {&alice, &bob};
    sigset_t set;
    pthread_t w;
    long    count, first = 0;

    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
	first = atol(argv[2]);
	argc -= 2;
	argv += 2;
    }
    if (argc < 3 || (count = atol(argv[2])) < 0 || first < 0) {
	fprintf(stderr, "usage: storefill [-s FIRST] DATABASE COUNT [forever]\n");
	return 1;
    }
    atomic_store(&f.next, first);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_create(&w, NULL, waiter, &set);
    cs_message_init();
    f.spool = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    f.st = cs_store_open(argv[1], CS_STORE_WRITER | CS_STORE_CREATE, 10000, err, sizeof(err));
    if (f.st == NULL) {
	fprintf(stderr, "storefill: %s\n", err);
	pthread_kill(w, SIGTERM);
	pthread_join(w, NULL);
	return 1;
    }
    alice.id = "alice";
    bob.id = "bob";
    cs_strlist_add(&alice.addresses, "alice@example.com");
    cs_strlist_add(&bob.addresses, "bob@example.com");
    if (cs_store_sync_users2(f.st, users, 2) != CS_OK)
	fprintf(stderr, "storefill: cannot sync users\n");
    cs_strlist_free(&alice.addresses);
    cs_strlist_free(&bob.addresses);

    run(&f, first + count);
    printf("ready %ld\n", atomic_load(&f.stored));
    fflush(stdout);
    if (argc > 3 && strcmp(argv[3], "forever") == 0) {
	run(&f, -1);
	printf("stopped %ld\n", atomic_load(&f.stored));
    }
    cs_store_close(f.st);
    /* Wake the waiter (its signal is blocked everywhere, so sigwait takes it). */
    pthread_kill(w, SIGTERM);
    pthread_join(w, NULL);
    if (atomic_load(&f.failed))
	fprintf(stderr, "storefill: %d records failed\n", atomic_load(&f.failed));
    return atomic_load(&f.failed) ? 1 : 0;
}
