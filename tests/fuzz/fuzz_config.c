/*
 * NAME
 *	fuzz_config 1
 * SUMMARY
 *	libFuzzer harness for the crmsync.conf parser (lib/cs_config.c)
 * DESCRIPTION
 *	Each input is written to a file and loaded. A refusal must say
 *	"file:line: what" (or "file: what"); an accepted config must hold
 *	values inside their ranges.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_config.h"
#include "cs_log.h"

static char fz_path[64];

/* fz_cleanup - remove the scratch file at exit */
static void fz_cleanup(void)
{
    unlink(fz_path);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    err[1024];
    cs_config *cfg;
    FILE   *fp;

    if (fz_path[0] == 0) {
	int     fd;

	snprintf(fz_path, sizeof(fz_path), "/tmp/fuzz_config.XXXXXX");
	if ((fd = mkstemp(fz_path)) < 0)
	    abort();
	close(fd);
	atexit(fz_cleanup);
	cs_log_init("fuzz_config", 0, 0, CS_LOG_ERROR);
	cs_log_setlevel(-1);
    }
    if ((fp = fopen(fz_path, "wb")) == NULL)
	abort();
    if (size && fwrite(data, 1, size, fp) != size)
	abort();
    fclose(fp);
    err[0] = 0;
    if ((cfg = cs_config_load(fz_path, err, sizeof(err))) == NULL) {
	if (strncmp(err, fz_path, strlen(fz_path)) != 0)
	    abort();				/* every refusal names the file */
	return 0;
    }
    if (cfg->umask < 0 || cfg->umask > 0777 || cfg->default_window < 0
	|| cfg->spool_threshold > cfg->max_message_size || cfg->socket == NULL)
	abort();
    for (size_t i = 0; i < cfg->dropbox.n; i++)
	if (strchr(cfg->dropbox.v[i], '@') == NULL)
	    abort();
    cs_config_unref(cfg);
    return 0;
}
