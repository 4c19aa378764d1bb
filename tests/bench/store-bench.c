/*
 * NAME
 *	store-bench 1
 * SUMMARY
 *	the SQLite store's write path alone, as the milter drives it
 * SYNOPSIS
 *	store-bench DIR [MESSAGES [COPIES [THREADS [USERS [BODY]]]]]
 * DESCRIPTION
 *	Opens a fresh store DIR/crmsync.db with the writer thread (the
 *	milter's settings: WAL, synchronous=FULL, group commit), syncs USERS
 *	users (default 1000) and records MESSAGES messages (default 2000)
 *	with a body of BODY bytes (default 4096; a large body is held in
 *	memory, as the milter's SpoolMemory holds it) from THREADS threads
 *	at once (default 20, like 20 SMTP
 *	sessions), each message with COPIES owner copies (default 5): the
 *	copies of postfix-bench's "N:4k:COPIES" workloads (one subject, one
 *	outside sender; odd users file it into a label or keep it only when
 *	it joins a thread), without Postfix, the milter protocol or the
 *	policy. Messages are parsed and spooled before the clock starts.
 *
 *	Prints one line: wall time, messages/s, the process's CPU per
 *	message (the callers' record building and the writer), the commit
 *	groups, and the bytes written per message (WAL, checkpoints: wchar
 *	of /proc/self/io), the figure that says how many pages a record
 *	dirties.
 */
#include <config.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "cs_util.h"
#include "cs_policy.h"
#include "cs_store.h"
#include "tlib.h"

#define MAXCOPIES	16

static cs_store *store;
static tl_msg *msgs;
static int nmsgs = 2000, ncopies = 5, nthreads = 20, nusers = 1000, bodylen = 4096;
static int next_msg, failed;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

/* worker - record messages until none is left */
static void *worker(void *arg)
{
    (void) arg;
    for (;;) {
	cs_copy cp[MAXCOPIES];
	cs_strlist labels[MAXCOPIES], rcpts[MAXCOPIES];
	cs_record rec = {0};
	int     m, i, res[MAXCOPIES];
	char    a[64];

	pthread_mutex_lock(&next_lock);
	m = next_msg++;
	pthread_mutex_unlock(&next_lock);
	if (m >= nmsgs)
	    return (NULL);
	memset(cp, 0, sizeof(cp));
	memset(labels, 0, sizeof(labels));
	memset(rcpts, 0, sizeof(rcpts));
	for (i = 0; i < ncopies; i++) {
	    /* smtp-source -N: recipient numbers handed out in turn. */
	    int     r = ncopies * m + i + 1, u = r % nusers;

	    snprintf(a, sizeof(a), "u%05d", u);
	    cp[i].user = cs_strdup(a);
	    snprintf(a, sizeof(a), "%du@example.com", r);
	    cs_strlist_add(&rcpts[i], a);
	    cp[i].env_rcpts = &rcpts[i];
	    cp[i].labels = &labels[i];
	    if (u % 2 && (u / 2) % 2 == 0)
		cs_strlist_add(&labels[i], "customers");
	    else if (u % 2)
		cp[i].conditional = 1;
	}
	rec.queue_id = "BENCH";
	rec.arrival = time(NULL);
	rec.source = "smtp";
	rec.env_from = "bench@outside.example";
	rec.info = &msgs[m].mi;
	rec.raw = msgs[m].sp;
	rec.body_digest = msgs[m].digest;
	rec.copies = cp;
	rec.ncopies = (size_t) ncopies;
	if (cs_store_record(store, &rec, 30000, res) != CS_OK)
	    __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
	for (i = 0; i < ncopies; i++) {
	    free((char *) cp[i].user);
	    cs_strlist_free(&labels[i]);
	    cs_strlist_free(&rcpts[i]);
	}
    }
}

/* wchar - bytes this process has written so far */
static long long wchar(void)
{
    FILE   *f = fopen("/proc/self/io", "r");
    char    line[128];
    long long v = 0;

    while (f && fgets(line, sizeof(line), f))
	if (sscanf(line, "wchar: %lld", &v) == 1)
	    break;
    if (f)
	fclose(f);
    return (v);
}

/* cpu_s - user+system seconds of this process */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
	    + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

int     main(int argc, char **argv)
{
    char    err[256], db[512], *body, id[64];
    cs_user *users;
    const cs_user **up;
    pthread_t th[256];
    struct timespec t0, t1;
    double  c0, wall;
    long long w0;
    int     i, k;

    if (argc < 2) {
	fprintf(stderr, "usage: store-bench DIR [MESSAGES [COPIES [THREADS [USERS [BODY]]]]]\n");
	return (1);
    }
    if (argc > 2)
	nmsgs = atoi(argv[2]);
    if (argc > 3)
	ncopies = atoi(argv[3]);
    if (argc > 4)
	nthreads = atoi(argv[4]);
    if (argc > 5)
	nusers = atoi(argv[5]);
    if (argc > 6)
	bodylen = atoi(argv[6]);
    if (bodylen < 1 || bodylen > 64 * 1024 * 1024 || nmsgs < 1 || ncopies < 1 || ncopies > MAXCOPIES || nthreads < 1 || nthreads > 256
	|| nusers < 1) {
	fprintf(stderr, "store-bench: bad numbers\n");
	return (1);
    }
    snprintf(db, sizeof(db), "%s/crmsync.db", argv[1]);
    if ((store = cs_store_open(db, CS_STORE_CREATE | CS_STORE_WRITER, 30000,
			       err, sizeof(err))) == NULL) {
	fprintf(stderr, "store-bench: %s\n", err);
	return (1);
    }
    /* gen-policy.sh's users: uNNNNN, and "Ku@example.com" for K % USERS. */
    users = calloc((size_t) nusers, sizeof(*users));
    up = calloc((size_t) nusers, sizeof(*up));
    for (i = 0; i < nusers; i++) {
	char    a[64];

	snprintf(a, sizeof(a), "u%05d", i);
	users[i].id = cs_strdup(a);
	snprintf(a, sizeof(a), "u%05d@example.com", i);
	cs_strlist_add(&users[i].addresses, a);
	for (k = i ? i : nusers; k <= ncopies * nmsgs + ncopies; k += nusers) {
	    snprintf(a, sizeof(a), "%du@example.com", k);
	    cs_strlist_add(&users[i].addresses, a);
	}
	up[i] = &users[i];
    }
    if (cs_store_sync_users2(store, up, (size_t) nusers) != CS_OK) {
	fprintf(stderr, "store-bench: users sync failed\n");
	return (1);
    }
    if ((body = malloc((size_t) bodylen + 1)) == NULL)
	return (1);
    for (i = 0; i < bodylen; i++)
	body[i] = (i % 72 == 71) ? '\n' : (char) ('a' + i % 26);
    body[bodylen] = 0;
    cs_spool_set_memory((uint64_t) nmsgs * ((uint64_t) bodylen + 65536));
    msgs = calloc((size_t) nmsgs, sizeof(*msgs));
    for (i = 0; i < nmsgs; i++) {
	char   *raw;

	snprintf(id, sizeof(id), "%d.%ld@bench.example", i, (long) getpid());
	raw = tl_mk("bench@outside.example", "u@example.com", "bench", time(NULL), id,
		    NULL, body);
	tl_msg_init(&msgs[i], raw, argv[1], (size_t) bodylen + 65536);
	free(raw);
    }
    w0 = wchar();
    c0 = cpu_s();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < nthreads; i++)
	pthread_create(&th[i], NULL, worker, NULL);
    for (i = 0; i < nthreads; i++)
	pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("messages %d copies %d threads %d wall_s %.3f msg_s %.0f cpu_ms_per_msg %.3f"
	   " groups %llu written_kb_per_msg %.1f failed %d\n",
	   nmsgs, ncopies, nthreads, wall, nmsgs / wall, 1000 * (cpu_s() - c0) / nmsgs,
	   (unsigned long long) cs_store_groups(store), (wchar() - w0) / 1024.0 / nmsgs,
	   failed);
    cs_store_close(store);
    for (i = 0; i < nmsgs; i++)
	tl_msg_free(&msgs[i]);
    free(msgs);
    for (i = 0; i < nusers; i++) {
	free(users[i].id);
	cs_strlist_free(&users[i].addresses);
    }
    free(users);
    free(up);
    return (failed ? 1 : 0);
}
