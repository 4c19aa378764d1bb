/*
 * NAME
 *	pm_adapter 3h
 * SUMMARY
 *	the model-based privacy test's view of crmsync: operations and
 *	observations behind one small table of functions
 * DESCRIPTION
 *	t_privmodel.c drives crmsync only through a pm_adapter: it makes
 *	things happen (mail arrives, a user shares, links, creates a
 *	contact, the CRM imports its directory, the policy changes) and
 *	looks at what each user sees (mailbox, thread, deal and person
 *	pages). pm_store.c implements it over store/cs_store.h on either
 *	backend; another implementation (crmsync-api over HTTP, say) can
 *	run the same model and the same checks unchanged.
 *
 *	Answers are SPEC X1's JSON shapes. Result codes are PM_* below:
 *	an implementation maps its own (exit codes, HTTP statuses) onto
 *	them. err (may be NULL) gets the error's message text.
 */
#ifndef PM_ADAPTER_H
#define PM_ADAPTER_H

#include <stddef.h>
#include <jansson.h>

enum { PM_OK = 0, PM_NOTFOUND = -2, PM_FORBIDDEN = -3, PM_INVAL = -4, PM_INTERNAL = -5 };
enum { PM_SHARE = 1, PM_PRIVATE, PM_DELETE };
enum { PM_IN = 0, PM_OUT = 1 };

/* One mailbox copy of an arriving message (C2, C3). */
typedef struct pm_copy {
    const char *user;
    int     direction;			/* PM_IN / PM_OUT */
    const char *label;			/* one label or NULL ("bcc": K2) */
} pm_copy;

/* A Smart BCC person request (K2): the store decides whether to make it. */
typedef struct pm_contact {
    const char *owner, *address, *name;
} pm_contact;

typedef struct pm_mail {
    const char *raw;			/* whole message, CRLF lines */
    const char *env_from;
    const pm_copy *copies;
    size_t  ncopies;
    const pm_contact *contacts;
    size_t  ncontacts;
} pm_mail;

/* A policy user: id, admin or not, one address. */
typedef struct pm_user {
    const char *id, *address;
    int     admin;
} pm_user;

typedef struct pm_adapter {
    void   *ctx;
    const char *name;			/* "sqlite", "postgresql", "http" ... */
    /* Operations. */
    int     (*deliver) (void *ctx, const pm_mail *);
    int     (*policy) (void *ctx, const pm_user *users, size_t n);
    int     (*directory) (void *ctx, json_t *snapshot, json_t **out, char *err, size_t errlen);
    int     (*threads_set) (void *ctx, const char *as, int action, const char *const *ids,
			            size_t n, json_t **out, char *err, size_t errlen);
    int     (*link) (void *ctx, const char *as, const char *thread, const char *kind,
		             const char *id, int unlink, json_t **out, char *err, size_t errlen);
    int     (*contact) (void *ctx, const char *as, const char *thread, const char *address,
			        const char *name, json_t **out, char *err, size_t errlen);
    /* Observations: every page read and joined into one "threads" list. */
    int     (*mailbox) (void *ctx, const char *as, json_t **out);
    int     (*thread) (void *ctx, const char *as, const char *id, json_t **out);
    int     (*page) (void *ctx, const char *as, const char *kind, const char *id, json_t **out);
    /* Events since the last call ("thread.visibility_changed" ...), oldest
     * first, as a JSON array of event bodies; NULL out when unsupported. */
    int     (*events) (void *ctx, json_t **out);
    void    (*close) (void *ctx);
} pm_adapter;

/* pm_store.c: the store on database (a file path or postgresql:// URI,
 * created empty). tmpdir holds spool files. NULL with err on failure. */
pm_adapter *pm_store_adapter(const char *database, const char *tmpdir, char *err,
			             size_t errlen);

/* pm_http.c: crmsync-api ($CRMSYNC_API) started on database, with the
 * CRM-facing operations and the observations over HTTP, the rest through
 * pm_store_adapter on the same database. */
pm_adapter *pm_http_adapter(const char *database, const char *tmpdir, char *err,
			            size_t errlen);

#endif
