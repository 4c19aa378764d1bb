/*
 * NAME
 *	sieve-run 1
 * SUMMARY
 *	print the folders a Sieve script files a message into
 * SYNOPSIS
 *	sieve-run script.sieve message.eml env-from env-to
 *	sieve-run -b list-file
 * DESCRIPTION
 *	The crmsync side of tests/sieve/agree.sh. Prints one folder per
 *	line, in the order first filed; a script that does not compile
 *	prints "ERROR LINE:COL: ..." and exits 2.
 *
 *	With -b, each line of list-file is "script message from to" (no
 *	blanks inside fields; "-" for an empty envelope sender) and the
 *	output of every case is preceded by "== N", so the whole suite runs
 *	in one process.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_util.h"
#include "cs_message.h"
#include "cs_sieve.h"

/* slurp - read a whole file; NULL on error */
static char *slurp(const char *path, size_t *len)
{
    FILE   *fp = fopen(path, "rb");
    cs_buf  b = {0};
    char    tmp[8192];
    size_t  n;

    if (fp == NULL)
	return NULL;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
	if (cs_buf_append(&b, tmp, n) < 0)
	    break;
    fclose(fp);
    if (b.data == NULL)
	cs_buf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

/* run_case - compile, run and print one case; 0, or 2 on error */
static int run_case(const char *sp, const char *mp, const char *from, const char *to)
{
    size_t  slen, mlen, i;
    char   *script = slurp(sp, &slen), *msg = slurp(mp, &mlen);
    char    err[512];
    cs_sieve *sv;
    cs_msginfo mi;
    cs_strlist folders = {0};
    cs_sieve_input in;
    int     rc = 0;

    if (script == NULL || msg == NULL) {
	printf("ERROR cannot read %s or %s\n", sp, mp);
	free(script);
	free(msg);
	return 2;
    }
    if ((sv = cs_sieve_compile(script, slen, err, sizeof(err))) == NULL) {
	printf("ERROR %s\n", err);
	free(script);
	free(msg);
	return 2;
    }
    memset(&mi, 0, sizeof(mi));
    cs_msginfo_parse(msg, mlen, &mi);
    in.headers = &mi.headers;
    in.env_from = from;
    in.env_to = to;
    in.size = mlen;
    if (cs_sieve_run(sv, &in, &folders, err, sizeof(err)) < 0) {
	printf("ERROR run: %s\n", err);
	rc = 2;
    }
    for (i = 0; i < folders.n; i++)
	printf("%s\n", folders.v[i]);
    cs_strlist_free(&folders);
    cs_msginfo_free(&mi);
    cs_sieve_free(sv);
    free(script);
    free(msg);
    return rc;
}

int     main(int argc, char **argv)
{
    cs_message_init();
    if (argc == 3 && strcmp(argv[1], "-b") == 0) {
	FILE   *fp = fopen(argv[2], "r");
	char    line[4096], s[1024], m[1024], f[1024], t[1024];
	int     n = 0;

	if (fp == NULL) {
	    perror(argv[2]);
	    return 1;
	}
	while (fgets(line, sizeof(line), fp)) {
	    if (sscanf(line, "%1023s %1023s %1023s %1023s", s, m, f, t) != 4)
		continue;
	    printf("== %d\n", ++n);
	    run_case(s, m, strcmp(f, "-") == 0 ? "" : f, t);
	}
	fclose(fp);
	return 0;
    }
    if (argc != 5) {
	fprintf(stderr, "usage: sieve-run script message from to | sieve-run -b list\n");
	return 1;
    }
    return run_case(argv[1], argv[2], argv[3], argv[4]);
}
