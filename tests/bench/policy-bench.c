/*
 * NAME
 *	policy-bench 1
 * SUMMARY
 *	cost of owners and per-user decisions (issue 3)
 * SYNOPSIS
 *	policy-bench -c CONFIG [-n MESSAGES] [-r RCPTS] [-a ADDRS]
 * DESCRIPTION
 *	Loads the config and its policy (as made by gen-policy.sh), then
 *	times what crmsync-milter does per message before the store: find
 *	the owners (cs_owners_find, C2) and decide for each owner
 *	(cs_policy_decide, S1-S5, which runs the owner's Sieve script).
 *	Messages are a few fixed, parsed ones (parsing is per message and
 *	not what grows with users); each gets RCPTS envelope recipients
 *	"Ku@example.com" with K drawn from 1..ADDRS (gen-policy.sh gives
 *	every such address to a user), so owners spread over all users.
 *
 *	Prints one line: users, scripts, policy load time and memory, then
 *	ns per message for cs_owners_find and ns per (message, owner) for
 *	the decision, and the share of decisions synced. If the policy is
 *	hash-based, the per-(message, owner) figure does not grow with the
 *	number of users.
 * DIAGNOSTICS
 *	Exit 1 on usage or load errors.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_message.h"
#include "cs_owners.h"
#include "cs_policy.h"
#include "cs_util.h"

/* Sample messages: most rules miss, some file into a folder. */
static const char *const bench_msgs[] = {
    "From: \"Customer One\" <bench@outside.example>\r\n"
    "To: u@example.com\r\n"
    "Subject: Re: quote for 40 units\r\n"
    "Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n"
    "Message-ID: <q1@outside.example>\r\n"
    "In-Reply-To: <q0@example.com>\r\n"
    "\r\n",
    "From: Billing <billing@vendor.example>\r\n"
    "To: u@example.com, \"Someone\" <someone@partner7.example>\r\n"
    "Cc: finance@example.com\r\n"
    "Subject: Your invoice 2025-0042\r\n"
    "Date: Tue, 3 Jun 2025 11:00:00 +0200\r\n"
    "Message-ID: <inv42@vendor.example>\r\n"
    "X-Priority: 1\r\n"
    "\r\n",
    "From: noreply@github.com\r\n"
    "To: u@example.com\r\n"
    "Subject: [crmsync] Pull request #12: faster policy\r\n"
    "Date: Wed, 4 Jun 2025 12:00:00 +0000\r\n"
    "Message-ID: <pr12@github.com>\r\n"
    "List-Id: crmsync <crmsync.example.github.com>\r\n"
    "\r\n",
    "From: =?UTF-8?Q?J=C3=BCrgen?= <j@partner3.example>\r\n"
    "To: sales@example.com\r\n"
    "Subject: =?UTF-8?Q?Fwd:_order_#12345?=\r\n"
    "Date: Thu, 5 Jun 2025 13:00:00 +0000\r\n"
    "Message-ID: <o12345@partner3.example>\r\n"
    "References: <a@x> <b@y>\r\n"
    "\r\n",
};

#define NMSGS (sizeof(bench_msgs) / sizeof(bench_msgs[0]))

/* now_ns - monotonic clock in nanoseconds */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* rss_kb - this process's resident set, from /proc */
static long rss_kb(void)
{
    FILE   *fp = fopen("/proc/self/status", "r");
    char    line[256];
    long    kb = 0;

    if (fp == NULL)
	return 0;
    while (fgets(line, sizeof(line), fp))
	if (strncmp(line, "VmRSS:", 6) == 0)
	    kb = strtol(line + 6, NULL, 10);
    fclose(fp);
    return kb;
}

/* rnd - xorshift64*, deterministic so runs compare */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* usage - complain and exit */
static void usage(void)
{
    fprintf(stderr, "usage: policy-bench -c CONFIG [-n MESSAGES] [-r RCPTS] [-a ADDRS]\n");
    exit(1);
}

int     main(int argc, char **argv)
{
    const char *conf = NULL;
    long    nmsg = 200000, nrcpt = 2, addrs = 0;
    cs_msginfo info[NMSGS];
    cs_config *cfg;
    cs_policy *pol;
    char    err[512];
    char    rbuf[8][64];
    const char *rcpts[8];
    uint64_t seed = 88172645463325252ULL, t0, t1, t_load, t_owners = 0, t_decide = 0;
    unsigned long long pairs = 0, synced = 0;
    size_t  scripts = 0, nusers;
    long    rss0, rss1;
    int     ch;

    while ((ch = getopt(argc, argv, "c:n:r:a:")) != -1) {
	switch (ch) {
	case 'c':
	    conf = optarg;
	    break;
	case 'n':
	    nmsg = strtol(optarg, NULL, 10);
	    break;
	case 'r':
	    nrcpt = strtol(optarg, NULL, 10);
	    break;
	case 'a':
	    addrs = strtol(optarg, NULL, 10);
	    break;
	default:
	    usage();
	}
    }
    if (conf == NULL || nmsg <= 0 || nrcpt < 1 || nrcpt > 8 || addrs < 0)
	usage();
    cs_message_init();
    if ((cfg = cs_config_load(conf, err, sizeof(err))) == NULL) {
	fprintf(stderr, "policy-bench: %s\n", err);
	return 1;
    }
    rss0 = rss_kb();
    t0 = now_ns();
    if ((pol = cs_policy_load(cfg, err, sizeof(err))) == NULL) {
	fprintf(stderr, "policy-bench: %s\n", err);
	return 1;
    }
    t_load = now_ns() - t0;
    rss1 = rss_kb();
    nusers = cs_policy_nusers(pol);
    for (size_t i = 0; i < nusers; i++)
	if (cs_policy_user_at(pol, i)->rules)
	    scripts++;
    if (addrs == 0)
	addrs = (long) nusers;
    for (size_t i = 0; i < NMSGS; i++)
	if (cs_msginfo_parse(bench_msgs[i], strlen(bench_msgs[i]), &info[i]) < 0) {
	    fprintf(stderr, "policy-bench: cannot parse sample message %zu\n", i);
	    return 1;
	}

    for (long k = 0; k < nmsg; k++) {
	cs_session sess = {NULL, "192.0.2.1", 0};
	cs_owners owners;
	cs_policy_msg pm;
	cs_sieve_cache *cache;
	size_t  mi = (size_t) k % NMSGS;

	for (long r = 0; r < nrcpt; r++) {
	    snprintf(rbuf[r], sizeof(rbuf[r]), "<%lluu@example.com>",
		     (unsigned long long) (rnd(&seed) % (uint64_t) addrs) + 1);
	    rcpts[r] = rbuf[r];
	}
	memset(&owners, 0, sizeof(owners));
	t0 = now_ns();
	if (cs_owners_find(pol, cfg, &sess, "bench@outside.example", rcpts,
			   (size_t) nrcpt, &owners) < 0) {
	    fprintf(stderr, "policy-bench: cs_owners_find failed\n");
	    return 1;
	}
	t1 = now_ns();
	t_owners += t1 - t0;
	memset(&pm, 0, sizeof(pm));
	pm.info = &info[mi];
	pm.env_from = "bench@outside.example";
	pm.env_rcpts = rcpts;
	pm.nrcpts = (size_t) nrcpt;
	pm.size = 4096;
	/* As cs_policy_verdicts: several owners share the parsed headers. */
	t0 = now_ns();
	cache = owners.n > 1 ? cs_sieve_cache_new(&info[mi].headers) : NULL;
	t_decide += now_ns() - t0;
	for (size_t o = 0; o < owners.n; o++) {
	    cs_decision d;
	    const char *env_to = owners.v[o].env_rcpts.n ? owners.v[o].env_rcpts.v[0] : NULL;

	    t0 = now_ns();
	    if (cs_policy_decide_cached(pol, cfg, owners.v[o].user, &pm, owners.v[o].direction,
					env_to, -1, cache, &d) < 0) {
		fprintf(stderr, "policy-bench: cs_policy_decide failed\n");
		return 1;
	    }
	    t1 = now_ns();
	    t_decide += t1 - t0;
	    synced += d.synced != 0;
	    pairs++;
	    cs_decision_free(&d);
	}
	t0 = now_ns();
	cs_sieve_cache_free(cache);
	t_decide += now_ns() - t0;
	cs_owners_free(&owners);
    }
    printf("users %zu scripts %zu load_ms %.1f policy_rss_mb %.1f"
	   " owners_ns_per_msg %.0f decide_ns_per_pair %.0f pairs %llu synced %.2f\n",
	   nusers, scripts, (double) t_load / 1e6, (double) (rss1 - rss0) / 1024.0,
	   (double) t_owners / (double) nmsg, pairs ? (double) t_decide / (double) pairs : 0.0,
	   pairs, pairs ? (double) synced / (double) pairs : 0.0);
    for (size_t i = 0; i < NMSGS; i++)
	cs_msginfo_free(&info[i]);
    cs_policy_unref(pol);
    cs_config_unref(cfg);
    return 0;
}
