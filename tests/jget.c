/*
 * NAME
 *	jget 1
 * SUMMARY
 *	print one value of a JSON document, for shell and Lua tests
 * SYNOPSIS
 *	jget PATH < file.json
 *	jget -n PATH < file.json
 * DESCRIPTION
 *	PATH is dot-separated keys and [N] indexes: threads[0].subject.
 *	Strings print raw, other values as compact JSON; -n prints the size
 *	of an array or object. A missing path prints nothing and exits 2;
 *	input that is not JSON exits 3. "." is the whole document.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

int     main(int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc, *cur;
    int     count = 0;
    const char *path;
    char    key[256];

    if (argc == 3 && strcmp(argv[1], "-n") == 0) {
	count = 1;
	path = argv[2];
    } else if (argc == 2)
	path = argv[1];
    else {
	fprintf(stderr, "usage: jget [-n] PATH < json\n");
	return 1;
    }
    if ((doc = json_loadf(stdin, 0, &jerr)) == NULL) {
	fprintf(stderr, "jget: %s at line %d\n", jerr.text, jerr.line);
	return 3;
    }
    cur = doc;
    for (const char *p = path; *p && cur;) {
	size_t  n = 0;

	if (*p == '.') {
	    p++;
	    continue;
	}
	if (*p == '[') {
	    char   *end;
	    long    idx = strtol(p + 1, &end, 10);

	    if (*end != ']' || !json_is_array(cur)) {
		cur = NULL;
		break;
	    }
	    cur = json_array_get(cur, (size_t) idx);
	    p = end + 1;
	    continue;
	}
	while (p[n] && p[n] != '.' && p[n] != '[' && n + 1 < sizeof(key)) {
	    key[n] = p[n];
	    n++;
	}
	key[n] = 0;
	p += n;
	cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    }
    if (cur == NULL) {
	json_decref(doc);
	return 2;
    }
    if (count)
	printf("%zu\n", json_is_array(cur) ? json_array_size(cur) : json_is_object(cur) ? json_object_size(cur) : 0);
    else if (json_is_string(cur))
	printf("%s\n", json_string_value(cur));
    else {
	char   *s = json_dumps(cur, JSON_COMPACT | JSON_ENCODE_ANY);

	printf("%s\n", s ? s : "");
	free(s);
    }
    json_decref(doc);
    return 0;
}
