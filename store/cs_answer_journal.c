/*
 * NAME
 *	cs_answer_journal 3
 * SUMMARY
 *	stats: the journal as this host's milter last wrote it (SPEC C6)
 * DESCRIPTION
 *	The store's status document cannot be written while the store is
 *	locked or down, exactly when the journal matters; so crmsync-milter
 *	also replaces JournalDir/status.json every two seconds.
 *	cs_answer_put_journal() reads it and puts its "journal" object as
 *	milter.HOST.journal into a stats answer, with "source": "file",
 *	"updated_at", "age_seconds" and "running": crmsyncctl stats and
 *	crmsync-api's GET /v1/stats show the same. Nothing is added when
 *	there is no JournalDir, no such file, or one this process may not
 *	read (JournalDir is 0700: the milter's UserID or root), or one that
 *	is not the expected shape (larger than 64 KB, not JSON, no host).
 */
#include <config.h>

/* System library. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Application-specific. */
#include "cs_journal.h"
#include "cs_store_util.h"
#include "cs_answer.h"

#define STATUS_MAX	(64 * 1024)	/* a status file larger than this is not one */

/* journal_file - the file's journal object with the fields added, and its host */
static json_t *journal_file(const char *dir, char *host, size_t hostlen)
{
    char    path[4096], buf[STATUS_MAX + 1], iso[32];
    json_t *doc, *j = NULL, *h, *at;
    ssize_t n;
    size_t  len = 0;
    time_t  now = time(NULL), t;
    int     fd;

    if (dir == NULL || *dir == 0)
	return NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, CS_JOURNAL_STATUS);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
	return NULL;
    while (len <= STATUS_MAX && (n = read(fd, buf + len, STATUS_MAX + 1 - len)) > 0)
	len += (size_t) n;
    close(fd);
    if (len == 0 || len > STATUS_MAX)
	return NULL;
    if ((doc = json_loadb(buf, len, 0, NULL)) == NULL)
	return NULL;
    h = json_object_get(doc, "host");
    at = json_object_get(doc, "written_at");
    if (json_is_string(h) && json_is_integer(at) && json_is_object(json_object_get(doc, "journal"))) {
	j = json_incref(json_object_get(doc, "journal"));
	snprintf(host, hostlen, "%s", json_string_value(h));
	t = (time_t) json_integer_value(at);
	cs_iso_date((long long) t, iso, sizeof(iso));
	json_object_set_new(j, "source", json_string("file"));
	json_object_set_new(j, "updated_at", json_string(iso));
	json_object_set_new(j, "age_seconds", json_integer(now > t ? (json_int_t) (now - t) : 0));
	json_object_set(j, "running", json_object_get(doc, "running"));
    }
    json_decref(doc);
    return j;
}

/* cs_answer_put_journal - JournalDir/status.json into a stats object */
int     cs_answer_put_journal(json_t *stats, const char *dir)
{
    char    host[256];
    json_t *j, *milter, *h;

    if (!json_is_object(stats) || (j = journal_file(dir, host, sizeof(host))) == NULL)
	return 0;
    if (!json_is_object(milter = json_object_get(stats, "milter"))) {
	milter = json_object();
	if (json_object_set_new(stats, "milter", milter) < 0) {
	    json_decref(j);
	    return 0;
	}
    }
    if (!json_is_object(h = json_object_get(milter, host))) {
	h = json_object();
	if (json_object_set_new(milter, host, h) < 0) {
	    json_decref(j);
	    return 0;
	}
    }
    return json_object_set_new(h, "journal", j) == 0;
}
