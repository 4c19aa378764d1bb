/*
 * NAME
 *	t_confdoc 1
 * SUMMARY
 *	the sample crmsync.conf and crmsync.conf(5) document every key as
 *	the key table defines it
 * DESCRIPTION
 *	For every key of cs_config_keys(): conf/crmsync.conf has the line
 *	"# KEY  [TYPE; default DFLT; MIN to MAX; reload|restart]" ("no
 *	default" when there is none, the bounds only when the table has them) and a line setting the key, commented out with the
 *	default as its value unless the sample sets it; crmsync.conf(5) has
 *	".B KEY" followed by the same bracket (font
 *	escapes and "\-" removed). Neither names a key the table does not
 *	have. The sample itself loads. So a key added, renamed, retyped or
 *	given a new default fails here until the docs follow.
 *
 *	Paths come from $top_srcdir (automake's test environment).
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_config.h"
#include "cs_log.h"
#include "tap.h"

/* slurp_lines - a file as an array of NUL-terminated lines */
static char **slurp_lines(const char *path, size_t *n)
{
    FILE   *fp = fopen(path, "r");
    char  **v = NULL, *line = NULL;
    size_t  cap = 0, nv = 0;
    ssize_t got;

    *n = 0;
    if (fp == NULL)
	return NULL;
    while ((got = getline(&line, &cap, fp)) >= 0) {
	if (got > 0 && line[got - 1] == '\n')
	    line[got - 1] = 0;
	v = realloc(v, (nv + 1) * sizeof(*v));
	v[nv++] = strdup(line);
    }
    free(line);
    fclose(fp);
    *n = nv;
    return v;
}

/* free_lines - release slurp_lines' result */
static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
	free(v[i]);
    free(v);
}

/* plain - a man source line without font escapes, \- and \& */
static void plain(const char *in, char *out, size_t outlen)
{
    size_t  o = 0;

    for (const char *p = in; *p && o + 1 < outlen; p++) {
	if (p[0] == '\\' && p[1] == 'f' && p[2]) {
	    p += 2;
	    continue;
	}
	if (p[0] == '\\' && (p[1] == '-' || p[1] == '&')) {
	    if (p[1] == '-')
		out[o++] = '-';
	    p++;
	    continue;
	}
	out[o++] = *p;
    }
    out[o] = 0;
}

/* summary - "[type; default X; MIN to MAX; reload]" as both files write it */
static void summary(const cs_config_keyinfo *k, char *out, size_t outlen)
{
    char    dflt[256], bounds[128] = "";

    if (k->dflt)
	snprintf(dflt, sizeof(dflt), "default %s", k->dflt);
    else
	snprintf(dflt, sizeof(dflt), "no default");
    if (k->min || k->max)
	snprintf(bounds, sizeof(bounds), "; %s to %s", k->min ? k->min : "0",
		 k->max ? k->max : "unlimited");
    snprintf(out, outlen, "[%s; %s%s; %s]", k->type, dflt, bounds, k->reload ? "reload" : "restart");
}

/* check_sample - the sample's header line and setting line for each key */
static void check_sample(const cs_config_keyinfo *keys, size_t nkeys, char **l, size_t n)
{
    for (size_t i = 0; i < nkeys; i++) {
	char    want[512], set[512], commented[512];
	int     head = 0, setting = 0, dflt_ok = 0;

	summary(&keys[i], want, sizeof(want));
	for (size_t j = 0; j < n; j++) {
	    char    hdr[600];

	    snprintf(hdr, sizeof(hdr), "# %s  %s", keys[i].name, want);
	    if (strcmp(l[j], hdr) == 0)
		head = 1;
	    snprintf(set, sizeof(set), "%s ", keys[i].name);
	    snprintf(commented, sizeof(commented), "#%s ", keys[i].name);
	    if (strncmp(l[j], set, strlen(set)) == 0) {
		setting = 1;
		dflt_ok = 1;		/* set explicitly: any valid value */
	    } else if (strncmp(l[j], commented, strlen(commented)) == 0) {
		setting = 1;
		if (keys[i].dflt == NULL || strcmp(l[j] + strlen(commented), keys[i].dflt) == 0)
		    dflt_ok = 1;
	    }
	}
	ok(head, "crmsync.conf: \"# %s  %s\"", keys[i].name, want);
	ok(setting && dflt_ok, "crmsync.conf: a %s line%s", keys[i].name,
	   keys[i].dflt ? " (commented out: the default)" : "");
    }
    /* Every "# Key  [" header names a real key. */
    for (size_t j = 0; j < n; j++) {
	char    name[128];
	size_t  k;

	if (sscanf(l[j], "# %127s  [", name) != 1 || strstr(l[j], "  [") == NULL
	    || strncmp(l[j] + 2 + strlen(name), "  [", 3) != 0)
	    continue;
	for (k = 0; k < nkeys; k++)
	    if (strcmp(keys[k].name, name) == 0)
		break;
	ok(k < nkeys, "crmsync.conf documents a known key: %s", name);
    }
}

/* check_man - ".B Key" then the summary line */
static void check_man(const cs_config_keyinfo *keys, size_t nkeys, char **l, size_t n)
{
    for (size_t i = 0; i < nkeys; i++) {
	char    want[512], got[1024] = "", key[128];
	int     found = 0;

	summary(&keys[i], want, sizeof(want));
	for (size_t j = 0; j + 1 < n; j++) {
	    if (strncmp(l[j], ".B ", 3) != 0)
		continue;
	    plain(l[j] + 3, key, sizeof(key));
	    if (strcmp(key, keys[i].name) != 0 || j == 0 || strcmp(l[j - 1], ".TP") != 0)
		continue;
	    found = 1;
	    plain(l[j + 1], got, sizeof(got));
	    break;
	}
	ok(found, "crmsync.conf(5): an entry for %s", keys[i].name);
	is_str(got, want, keys[i].name);
    }
}

int     main(void)
{
    const char *top = getenv("top_srcdir");
    const cs_config_keyinfo *keys;
    size_t  nkeys, n;
    char    path[4096], err[1024];
    char  **lines;
    cs_config *cfg;

    if (top == NULL)
	top = "..";
    cs_log_init("t_confdoc", 0, 0, CS_LOG_ERROR);
    keys = cs_config_keys(&nkeys);
    ok(nkeys >= 25, "key table has %zu keys", nkeys);

    snprintf(path, sizeof(path), "%s/conf/crmsync.conf", top);
    lines = slurp_lines(path, &n);
    ok(lines != NULL, "read %s", path);
    check_sample(keys, nkeys, lines, n);
    free_lines(lines, n);
    cfg = cs_config_load(path, err, sizeof(err));
    ok(cfg != NULL, "the sample loads%s%s", cfg ? "" : ": ", cfg ? "" : err);
    cs_config_unref(cfg);

    snprintf(path, sizeof(path), "%s/conf/crmsync.conf.5.in", top);
    lines = slurp_lines(path, &n);
    ok(lines != NULL, "read %s", path);
    check_man(keys, nkeys, lines, n);
    free_lines(lines, n);
    return done_testing();
}
