/*
 * NAME
 *	fuzz_policy 1
 * SUMMARY
 *	libFuzzer harness for the policy-file parser (cs_policy_load)
 * DESCRIPTION
 *	Each input becomes the only "a.policy" of a private PolicyDir, which
 *	is then loaded and, when it loads, looked up and freed. Rules lines
 *	in the input name scripts the loader reads (bounded, regular files
 *	only), so a Rules path such as "b.sieve" also exercises the Sieve
 *	compiler on a copy of the input written next to it.
 */
#include <config.h>

/* System library. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_log.h"
#include "cs_policy.h"

/* The harness's own state: one directory and config for the whole run. */
static char fz_dir[64];
static char fz_policy[96];
static char fz_sieve[96];
static cs_config *fz_cfg;

/* fz_cleanup - remove the directory at exit */
static void fz_cleanup(void)
{
    unlink(fz_policy);
    unlink(fz_sieve);
    rmdir(fz_dir);
    cs_config_unref(fz_cfg);
}

/* fz_setup - once per process */
static int fz_setup(void)
{
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_policy.XXXXXX");
    if (mkdtemp(fz_dir) == NULL)
	return -1;
    snprintf(fz_policy, sizeof(fz_policy), "%s/a.policy", fz_dir);
    snprintf(fz_sieve, sizeof(fz_sieve), "%s/b.sieve", fz_dir);
    cs_log_init("fuzz_policy", 0, 0, CS_LOG_ERROR);
    cs_log_setlevel(-1);
    if ((fz_cfg = cs_config_default()) == NULL)
	return -1;
    free(fz_cfg->policy_dir);
    fz_cfg->policy_dir = strdup(fz_dir);
    atexit(fz_cleanup);
    return 0;
}

/* fz_write - write bytes to a file */
static void fz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE   *fp = fopen(path, "wb");

    if (fp == NULL)
	abort();
    if (size && fwrite(data, 1, size, fp) != size)
	abort();
    fclose(fp);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_policy *pol;
    char    err[1024];

    if (fz_cfg == NULL && fz_setup() < 0)
	abort();
    fz_write(fz_policy, data, size);
    fz_write(fz_sieve, data, size);
    if ((pol = cs_policy_load(fz_cfg, err, sizeof(err))) == NULL) {
	/* A refusal always says where and what. */
	if (err[0] == 0)
	    abort();
	return 0;
    }
    for (size_t i = 0; i < cs_policy_nusers(pol); i++) {
	const cs_user *u = cs_policy_user_at(pol, i);

	if (cs_policy_user(pol, u->id) != u || u->addresses.n == 0
	    || cs_policy_user_by_address(pol, u->addresses.v[0]) != u)
	    abort();
	for (size_t j = 0; j < u->logins.n; j++)
	    if (cs_policy_user_by_login(pol, u->logins.v[j]) != u)
		abort();
    }
    for (size_t i = 0; i < cs_policy_ngroups(pol); i++)
	if (cs_policy_group(pol, cs_policy_group_at(pol, i), NULL) == 0)
	    abort();
    cs_policy_unref(pol);
    return 0;
}
