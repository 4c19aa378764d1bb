/*
 * NAME
 *	cs_store_dir 3
 * SUMMARY
 *	the CRM directory snapshot (SPEC X2): validation shared by the backends
 * DESCRIPTION
 *	See cs_store_dir.h. Pure JSON checking and address normalization; the
 *	backends (cs_store_sqlite_ctl.c, cs_store_pg_ctl.c) apply the result.
 */
#include <config.h>

/* System library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Application-specific. */
#include "cs_addr.h"
#include "cs_store_dir.h"
#include "cs_store_impl.h"

/* id_ok - a record or user id: 1..CS_DIR_MAX_ID bytes, no control characters */
static int id_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t  n;

    if (s == NULL || (n = json_string_length(v)) == 0 || n > CS_DIR_MAX_ID || strlen(s) != n)
	return 0;
    for (; *s; s++)
	if ((unsigned char) *s < 0x20 || *s == 0x7f)
	    return 0;
    return 1;
}

/* opt_text - absent, null or a string */
static int opt_text(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return v == NULL || json_is_null(v) || json_is_string(v);
}

/* shown - a key fit for a message: at most 64 bytes, cut between characters */
static const char *shown(const char *key, char *buf, size_t len)
{
    size_t  n = strlen(key);

    if (n < len && n <= 64)
	return key;
    n = len - 1 < 64 ? len - 1 : 64;
    while (n > 0 && ((unsigned char) key[n] & 0xc0) == 0x80)
	n--;
    snprintf(buf, len, "%.*s...", (int) n, key);
    return buf;
}

/*
 * keys_ok - X2: every key of o is one of the allowed (NULL-terminated),
 * every required one (marked with a leading '*') is there; else err
 * names the first fault as "at.key: ...". at is "" for the top level.
 */
static int keys_ok(json_t *o, const char *const *allowed, const char *at,
		           char *err, size_t errlen)
{
    const char *key;
    char    buf[80];
    json_t *v;
    size_t  k;

    json_object_foreach(o, key, v) {
	for (k = 0; allowed[k] && strcmp(allowed[k] + (allowed[k][0] == '*'), key) != 0; k++)
	     /* void */ ;
	if (allowed[k] == NULL) {
	    snprintf(err, errlen, "%s%s%s: unknown key", at, *at ? "." : "",
		     shown(key, buf, sizeof(buf)));
	    return 0;
	}
    }
    for (k = 0; allowed[k]; k++) {
	if (allowed[k][0] == '*' && json_object_get(o, allowed[k] + 1) == NULL) {
	    snprintf(err, errlen, "%s%s%s: required field missing", at, *at ? "." : "",
		     allowed[k] + 1);
	    return 0;
	}
    }
    return 1;
}

/* list_of - an array member (absent: an empty one); NULL (and err) if it is not one */
static json_t *list_of(json_t *o, const char *key, const char *path, size_t i,
		               char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
	return json_array();			/* caller decrefs: new or borrowed+incref */
    if (!json_is_array(v)) {
	snprintf(err, errlen, "%s[%zu].%s: expected an array", path, i, key);
	return NULL;
    }
    return json_incref(v);
}

/* access_ok - an access list of user ids */
static int access_ok(json_t *o, const char *path, size_t i, char *err, size_t errlen)
{
    json_t *a = list_of(o, "access", path, i, err, errlen), *v;
    size_t  k;
    int     ok = a != NULL;

    json_array_foreach(a, k, v) {
	if (ok && !id_ok(v)) {
	    snprintf(err, errlen, "%s[%zu].access[%zu]: expected a user id", path, i, k);
	    ok = 0;
	}
    }
    json_decref(a);
    return ok;
}

/* cs_dir_free - release a validated snapshot */
void    cs_dir_free(cs_dir_snap *d)
{
    for (size_t i = 0; d->emails && i < d->npersons; i++)
	cs_strlist_free(&d->emails[i]);
    free(d->emails);
    json_decref(d->persons);
    json_decref(d->deals);
}

/* cs_dir_validate - X2: check everything before anything is changed */
int     cs_dir_validate(cs_store *st, json_t *doc, cs_dir_snap *d, char *err, size_t errlen)
{
    static const char *const statuses[] = {"open", "won", "lost"};
    /* The format (crmsyncctl(1), conf/directory.example.json); '*': required. */
    static const char *const top_keys[] = {"*persons", "*deals", NULL};
    static const char *const person_keys[] = {"*id", "name", "*emails", "*access", NULL};
    static const char *const deal_keys[] = {"*id", "title", "*status", "persons", "*access", NULL};
    char    at[48];
    json_t *ids = json_object(), *dids = json_object(), *mails = json_object(), *p, *v;
    char    norm[CS_ADDR_MAX + 1];
    size_t  i, k;
    int     ok = 0;

    memset(d, 0, sizeof(*d));
    if (ids == NULL || dids == NULL || mails == NULL)
	goto out;
    if (!json_is_object(doc)) {
	snprintf(err, errlen, "the snapshot must be a JSON object");
	goto out;
    }
    if (!keys_ok(doc, top_keys, "", err, errlen))
	goto out;
    d->persons = json_object_get(doc, "persons");
    d->deals = json_object_get(doc, "deals");
    if ((d->persons && !json_is_array(d->persons)) || (d->deals && !json_is_array(d->deals))) {
	snprintf(err, errlen, "%s: expected an array",
		 d->persons && !json_is_array(d->persons) ? "persons" : "deals");
	d->persons = d->deals = NULL;
	goto out;
    }
    d->persons = d->persons ? json_incref(d->persons) : json_array();
    d->deals = d->deals ? json_incref(d->deals) : json_array();
    if (d->persons == NULL || d->deals == NULL)
	goto out;
    d->npersons = json_array_size(d->persons);
    if (d->npersons > CS_DIR_MAX_RECORDS || json_array_size(d->deals) > CS_DIR_MAX_RECORDS) {
	snprintf(err, errlen, "at most %d persons and %d deals", CS_DIR_MAX_RECORDS, CS_DIR_MAX_RECORDS);
	goto out;
    }
    if ((d->emails = calloc(d->npersons + 1, sizeof(*d->emails))) == NULL)
	goto out;
    json_array_foreach(d->persons, i, p) {
	json_t *em, *prev;

	if (!json_is_object(p)) {
	    snprintf(err, errlen, "persons[%zu]: expected an object", i);
	    goto out;
	}
	snprintf(at, sizeof(at), "persons[%zu]", i);
	if (!keys_ok(p, person_keys, at, err, errlen))
	    goto out;
	if (!id_ok(json_object_get(p, "id"))) {
	    snprintf(err, errlen, "persons[%zu].id: expected a non-empty string of at most %d"
		     " bytes", i, CS_DIR_MAX_ID);
	    goto out;
	}
	if ((prev = json_object_get(ids, json_string_value(json_object_get(p, "id"))))) {
	    snprintf(err, errlen, "persons[%zu].id: duplicate id (also persons[%lld])", i,
		     (long long) json_integer_value(prev));
	    goto out;
	}
	json_object_set_new(ids, json_string_value(json_object_get(p, "id")),
			    json_integer((json_int_t) i));
	if (!opt_text(p, "name")) {
	    snprintf(err, errlen, "persons[%zu].name: expected a string", i);
	    goto out;
	}
	if ((em = list_of(p, "emails", "persons", i, err, errlen)) == NULL)
	    goto out;
	json_array_foreach(em, k, v) {
	    const char *e = json_string_value(v);

	    if (e == NULL || strlen(e) != json_string_length(v)
		|| cs_store_normalize(st, e, norm, sizeof(norm)) < 0
		|| strchr(norm, ' ') || strchr(norm, ',')) {
		snprintf(err, errlen, "persons[%zu].emails[%zu]: not a mail address", i, k);
		json_decref(em);
		goto out;
	    }
	    if ((prev = json_object_get(mails, norm)) && json_integer_value(prev) != (json_int_t) i) {
		snprintf(err, errlen, "persons[%zu].emails[%zu]: %s is also an address of"
			 " persons[%lld]", i, k, norm, (long long) json_integer_value(prev));
		json_decref(em);
		goto out;
	    }
	    if (prev == NULL && (json_object_set_new(mails, norm, json_integer((json_int_t) i)) < 0
			       || cs_strlist_add(&d->emails[i], norm) < 0)) {
		json_decref(em);
		goto out;
	    }
	}
	json_decref(em);
	if (!access_ok(p, "persons", i, err, errlen))
	    goto out;
    }
    json_array_foreach(d->deals, i, p) {
	json_t *pl, *prev;
	const char *status;

	if (!json_is_object(p)) {
	    snprintf(err, errlen, "deals[%zu]: expected an object", i);
	    goto out;
	}
	snprintf(at, sizeof(at), "deals[%zu]", i);
	if (!keys_ok(p, deal_keys, at, err, errlen))
	    goto out;
	if (!id_ok(json_object_get(p, "id"))) {
	    snprintf(err, errlen, "deals[%zu].id: expected a non-empty string of at most %d"
		     " bytes", i, CS_DIR_MAX_ID);
	    goto out;
	}
	if ((prev = json_object_get(dids, json_string_value(json_object_get(p, "id"))))) {
	    snprintf(err, errlen, "deals[%zu].id: duplicate id (also deals[%lld])", i,
		     (long long) json_integer_value(prev));
	    goto out;
	}
	json_object_set_new(dids, json_string_value(json_object_get(p, "id")),
			    json_integer((json_int_t) i));
	if (!opt_text(p, "title")) {
	    snprintf(err, errlen, "deals[%zu].title: expected a string", i);
	    goto out;
	}
	status = json_string_value(json_object_get(p, "status"));
	for (k = 0; status && k < 3 && strcmp(status, statuses[k]) != 0; k++)
	     /* void */ ;
	if (status == NULL || k == 3) {
	    snprintf(err, errlen, "deals[%zu].status: expected open, won or lost", i);
	    goto out;
	}
	if ((pl = list_of(p, "persons", "deals", i, err, errlen)) == NULL)
	    goto out;
	json_array_foreach(pl, k, v) {
	    if (!id_ok(v) || json_object_get(ids, json_string_value(v)) == NULL) {
		snprintf(err, errlen, "deals[%zu].persons[%zu]: %s", i, k,
			 id_ok(v) ? "unknown person" : "expected a person id");
		json_decref(pl);
		goto out;
	    }
	}
	json_decref(pl);
	if (!access_ok(p, "deals", i, err, errlen))
	    goto out;
    }
    ok = 1;
out:
    json_decref(ids);
    json_decref(dids);
    json_decref(mails);
    if (!ok && *err == 0)
	snprintf(err, errlen, "out of memory");
    return ok ? 0 : -1;
}

/* own_form - is id in crmsync's own person id form, bcc-N or hand-N? */
static int own_form(const char *id)
{
    const char *p = strncmp(id, "bcc-", 4) == 0 ? id + 4
	: strncmp(id, "hand-", 5) == 0 ? id + 5 : NULL;

    if (p == NULL || *p < '1' || *p > '9')
	return 0;
    while (*p >= '0' && *p <= '9')
	p++;
    return *p == 0;
}

/* cs_dir_check_ids - X2: no snapshot re-points a person crmsync made */
int     cs_dir_check_ids(const cs_dir_snap *d, cs_dir_lookup_fn lookup, void *arg,
			         char *err, size_t errlen)
{
    cs_strlist have = {0};
    json_t *p;
    size_t  i, k;
    int     r;

    json_array_foreach(d->persons, i, p) {
	const char *pid = json_string_value(json_object_get(p, "id"));

	cs_strlist_free(&have);
	if ((r = lookup(arg, pid, &have)) < 0) {
	    cs_strlist_free(&have);
	    return -2;
	}
	if (r == CS_DIR_ID_CRM)
	    continue;
	if (r == CS_DIR_ID_NONE) {
	    /*
	     * Not made yet: crmsync would make it later under this very id
	     * and collide, or hand the CRM's record its links.
	     */
	    if (!own_form(pid))
		continue;
	    snprintf(err, errlen, "persons[%zu].id: %.64s is in crmsync's own id form (bcc-N,"
		     " hand-N) and crmsync made no such person", i, pid);
	    cs_strlist_free(&have);
	    return -1;
	}
	/* A person crmsync made: only a record with its address takes it over. */
	for (k = 0; k < have.n; k++) {
	    if (!cs_strlist_contains(&d->emails[i], have.v[k])) {
		snprintf(err, errlen, "persons[%zu].id: %.64s is a person crmsync made for %s;"
			 " a record under its id must have that address", i, pid, have.v[k]);
		cs_strlist_free(&have);
		return -1;
	    }
	}
    }
    cs_strlist_free(&have);
    return 0;
}
