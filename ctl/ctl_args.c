/*
 * NAME
 *	ctl_args 3
 * SUMMARY
 *	the command options of crmsyncctl, parsed from one table
 * SYNOPSIS
 *	#include "ctl.h"
 *
 *	int	ctl_args(int argc, char **argv, const ctl_opt *opts,
 *			 ctl_list *pos)
 *	void	ctl_list_free(ctl_list *l)
 * DESCRIPTION
 *	ctl_args() reads a command's arguments (the words after its name)
 *	against opts, a table ended by a row with a NULL name. Each row
 *	names an option ("--as"), what it takes and where it goes:
 * .IP CTL_OPT_STR
 *	one word, stored in a const char *.
 * .IP CTL_OPT_NUM
 *	a decimal number from min to max, stored in an int.
 * .IP CTL_OPT_FLAG
 *	no value; the int is set to 1.
 * .IP CTL_OPT_LIST
 *	one word, appended to a ctl_list; the option may be repeated.
 * .PP
 *	The one rule for repeated options: an option given twice is a
 *	usage error, except a CTL_OPT_LIST option, whose values add up.
 *	A value is the next word, whatever it looks like. Any other word
 *	that starts with "-" (but "-" alone) is an option, and unknown
 *	options are refused; after "--" every word is positional. The
 *	positional words go to pos, in order; the command checks how many
 *	it wants.
 * DIAGNOSTICS
 *	0, or the exit code after ctl_fail() printed the error: CTL_USAGE,
 *	or CTL_INTERNAL when memory runs out. On error the lists filled so
 *	far are freed.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "ctl.h"

/* ctl_list_add - append a word */
static int ctl_list_add(ctl_list *l, const char *s)
{
    const char **v;

    if ((v = realloc(l->v, (l->n + 2) * sizeof(*v))) == NULL)
	return -1;
    l->v = v;
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
    return 0;
}

/* ctl_list_free - release a list's array (the words are argv's) */
void    ctl_list_free(ctl_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ctl_args_drop - free the lists on error; returns rc */
static int ctl_args_drop(const ctl_opt *opts, ctl_list *pos, int rc)
{
    for (const ctl_opt *o = opts; o->name; o++)
	if (o->kind == CTL_OPT_LIST)
	    ctl_list_free(o->dst);
    ctl_list_free(pos);
    return rc;
}

/* ctl_args - parse a command's arguments against its option table */
int     ctl_args(int argc, char **argv, const ctl_opt *opts, ctl_list *pos)
{
    unsigned long seen = 0;		/* bit k: opts[k] given */
    int     i, k, options = 1;

    memset(pos, 0, sizeof(*pos));
    for (k = 0; opts[k].name; k++) {
	if (k >= (int) (8 * sizeof(seen)))	/* a programming error */
	    return ctl_fail(CTL_INTERNAL, "too many options in one table");
	if (opts[k].kind == CTL_OPT_LIST)
	    memset(opts[k].dst, 0, sizeof(ctl_list));
    }
    for (i = 0; i < argc; i++) {
	const char *w = argv[i];
	const ctl_opt *o;

	if (options && strcmp(w, "--") == 0) {
	    options = 0;
	    continue;
	}
	if (!options || w[0] != '-' || w[1] == 0) {
	    if (ctl_list_add(pos, w) < 0)
		return ctl_args_drop(opts, pos, ctl_fail(CTL_INTERNAL, "out of memory"));
	    continue;
	}
	for (k = 0; opts[k].name && strcmp(opts[k].name, w) != 0; k++)
	    continue;
	if ((o = &opts[k])->name == NULL)
	    return ctl_args_drop(opts, pos, ctl_fail(CTL_USAGE, "unknown option %s", w));
	if ((seen & (1UL << k)) && o->kind != CTL_OPT_LIST)
	    return ctl_args_drop(opts, pos, ctl_fail(CTL_USAGE, "%s given twice", w));
	seen |= 1UL << k;
	if (o->kind == CTL_OPT_FLAG) {
	    *(int *) o->dst = 1;
	    continue;
	}
	if (i + 1 >= argc)
	    return ctl_args_drop(opts, pos, ctl_fail(CTL_USAGE, "%s needs a value", w));
	w = argv[++i];
	if (o->kind == CTL_OPT_STR) {
	    *(const char **) o->dst = w;
	} else if (o->kind == CTL_OPT_LIST) {
	    if (ctl_list_add(o->dst, w) < 0)
		return ctl_args_drop(opts, pos, ctl_fail(CTL_INTERNAL, "out of memory"));
	} else {
	    char   *end;
	    long    v;

	    errno = 0;
	    v = strtol(w, &end, 10);
	    if (errno || end == w || *end || v < o->min || v > o->max)
		return ctl_args_drop(opts, pos, ctl_fail(CTL_USAGE, "%s %s: a number from %d to %d",
							 o->name, w, o->min, o->max));
	    *(int *) o->dst = (int) v;
	}
    }
    return 0;
}
