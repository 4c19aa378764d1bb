/*
 * NAME
 *	fuzz_directory 1
 * SUMMARY
 *	libFuzzer harness for the CRM directory snapshot (SPEC X2)
 * DESCRIPTION
 *	Each input is parsed as JSON (jansson) and imported into a real
 *	SQLite store kept in /dev/shm, as crmsyncctl directory import does.
 *	A malformed snapshot must be refused with a message and change
 *	nothing; an accepted one must leave the store consistent.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cs_log.h"
#include "cs_message.h"
#include "cs_store.h"

static cs_store *fz_store;
static char fz_dir[64];

/* fz_cleanup - remove the scratch store at exit */
static void fz_cleanup(void)
{
    char    cmd[128];

    cs_store_close(fz_store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fz_dir);
    if (system(cmd) != 0)
	return;
}

/* fz_setup - one store for the whole run */
static void fz_setup(void)
{
    char    path[128], err[512];
    const char *const ids[] = {"alice", "bob"};
    const int roles[] = {0, 1};

    snprintf(fz_dir, sizeof(fz_dir), "/dev/shm/fuzz_directory.XXXXXX");
    if (mkdtemp(fz_dir) == NULL) {
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_directory.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
	    abort();
    }
    snprintf(path, sizeof(path), "%s/store.db", fz_dir);
    cs_log_init("fuzz_directory", 0, 0, CS_LOG_ERROR);
    cs_log_setlevel(-1);
    cs_message_init();
    if ((fz_store = cs_store_open(path, CS_STORE_CREATE, 2000, err, sizeof(err))) == NULL
	|| cs_store_sync_users(fz_store, ids, roles, 2) != CS_OK)
	abort();
    atexit(fz_cleanup);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc, *out = NULL;
    json_error_t jerr;
    char    err[1024];
    int     rc;

    if (fz_store == NULL)
	fz_setup();
    if ((doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
	return 0;
    err[0] = 0;
    rc = cs_store_directory_import(fz_store, doc, &out, err, sizeof(err));
    if (rc == CS_EINVAL && err[0] == 0)
	abort();				/* a refusal says where */
    if (rc != CS_OK && rc != CS_EINVAL)
	abort();				/* nothing else may go wrong */
    json_decref(out);
    json_decref(doc);
    return 0;
}
