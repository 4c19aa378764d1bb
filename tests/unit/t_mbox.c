/*
 * NAME
 *	t_mbox 1
 * SUMMARY
 *	unit tests for the Maildir and mbox readers (lib/cs_mbox.c, SPEC X4, S3, T2)
 * DESCRIPTION
 *	File name times, folder labels (Maildir++, modified UTF-7), From_
 *	line dates, mboxrd unquoting, mbox splitting (Content-Length
 *	ignored, separators, CRLF), the body digest agreeing with the
 *	milter's, a Maildir walk with folders, tmp/, dot files and damaged
 *	files, symbolic links never followed (X4), and the memory bounds.
 */
#include <config.h>

/* System library. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Utility library. */
#include "cs_digest.h"
#include "cs_mbox.h"
#include "cs_spool.h"
#include "cs_util.h"

#include "tap.h"
#include "tlib.h"

static char tmpdir[256];

/* mkd - make a directory under tmpdir */
static void mkd(const char *rel)
{
    char    path[512];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    mkdir(path, 0700);
}

/* spool_str - a spool's kept bytes as a string (tests are small) */
static char *spool_str(const cs_spool *s)
{
    static char buf[65536];
    ssize_t n = cs_spool_pread(s, buf, sizeof(buf) - 1, 0);

    buf[n > 0 ? n : 0] = 0;
    return buf;
}

/* digest_of - normalized body digest of a string */
static const char *digest_of(const char *body)
{
    static char hex[CS_DIGEST_HEX];

    cs_body_digest_hex(body, strlen(body), hex);
    return hex;
}

static void test_name_time(void)
{
    time_t  t = 0;

    ok(cs_maildir_name_time("1700000000.M1P2.host:2,S", &t) == 0 && t == 1700000000,
       "Maildir name time: leading digits");
    ok(cs_maildir_name_time("1700000000", &t) == 0 && t == 1700000000, "name of digits only");
    ok(cs_maildir_name_time("1700000000_1.host", &t) == 0, "digits then '_'");
    is_int(cs_maildir_name_time("host.1700000000", &t), -1, "no leading digits");
    is_int(cs_maildir_name_time("1700000000x.host", &t), -1, "digits glued to letters");
    is_int(cs_maildir_name_time("1234567890123.x", &t), -1, "more than 12 digits");
    is_int(cs_maildir_name_time("0.x", &t), -1, "time 0");
    is_int(cs_maildir_name_time("", &t), -1, "empty name");
}

static void test_folder_label(void)
{
    char    out[64];

    ok(cs_maildir_folder_label(".Sales", out, sizeof(out)) == 0 && strcmp(out, "Sales") == 0,
       ".Sales -> Sales");
    ok(cs_maildir_folder_label(".Sales.Q4", out, sizeof(out)) == 0
       && strcmp(out, "Sales/Q4") == 0, ".Sales.Q4 -> Sales/Q4");
    cs_maildir_folder_label(".Entw&APw-rfe", out, sizeof(out));
    is_str(out, "Entw\xc3\xbcrfe", "modified UTF-7 decoded (Entwürfe)");
    cs_maildir_folder_label(".&Jjo-", out, sizeof(out));
    is_str(out, "\xe2\x98\xba", "a BMP symbol (U+263A)");
    cs_maildir_folder_label(".&2D3eAA-", out, sizeof(out));
    is_str(out, "\xf0\x9f\x98\x80", "a surrogate pair (U+1F600)");
    cs_maildir_folder_label(".a&-b", out, sizeof(out));
    is_str(out, "a&b", "&- is &");
    cs_maildir_folder_label(".x&bad", out, sizeof(out));
    is_str(out, "x&bad", "broken mUTF-7 kept as written");
    cs_maildir_folder_label(".\xe9t\xe9", out, sizeof(out));
    is_str(out, "?t?", "8-bit bytes that are not mUTF-7 become '?'");
    is_int(cs_maildir_folder_label("Sales", out, sizeof(out)), -1, "no leading dot");
    is_int(cs_maildir_folder_label(".", out, sizeof(out)), -1, ".");
    is_int(cs_maildir_folder_label("..", out, sizeof(out)), -1, "..");
    is_int(cs_maildir_folder_label(".a..b", out, sizeof(out)), -1, "empty level");
    is_int(cs_maildir_folder_label(".a.", out, sizeof(out)), -1, "trailing dot");
    is_int(cs_maildir_folder_label(".Sales.Q4", out, 8), -1, "does not fit: refused, not cut");
}

static void test_from_time(void)
{
    time_t  t = 0;
    const char *l;

    l = "From alice@example.com Thu Nov  9 12:34:56 2023\n";
    ok(cs_mbox_from_time(l, strlen(l), &t) == 0 && t == 1699533296,
       "From_ line, asctime (TZ=UTC)");
    l = "From alice@example.com Thu Nov  9 12:34:56 2023 +0100\n";
    ok(cs_mbox_from_time(l, strlen(l), &t) == 0 && t == 1699533296 - 3600,
       "zone after the year");
    l = "From alice@example.com Thu Nov  9 12:34:56 -0200 2023\r\n";
    ok(cs_mbox_from_time(l, strlen(l), &t) == 0 && t == 1699533296 + 7200,
       "zone before the year, CRLF");
    l = "From \"a b\"@c Mon Jan  2 03:04:05 2006";
    ok(cs_mbox_from_time(l, strlen(l), &t) == 0 && t == 1136171045,
       "quoted sender with a space, no newline");
    l = "From MAILER-DAEMON Mon Jan 2 03:04 2006\n";
    ok(cs_mbox_from_time(l, strlen(l), &t) == 0 && t == 1136171045 - 5,
       "no seconds, one-digit day without padding");
    l = "From alice@example.com\n";
    is_int(cs_mbox_from_time(l, strlen(l), &t), -1, "no date");
    l = "From a Xyz Nov  9 12:34:56 2023\n";
    is_int(cs_mbox_from_time(l, strlen(l), &t), -1, "bad weekday");
    l = "From a Thu Nov 39 12:34:56 2023\n";
    is_int(cs_mbox_from_time(l, strlen(l), &t), -1, "day 39");
    l = "Fro";
    is_int(cs_mbox_from_time(l, strlen(l), &t), -1, "not a From_ line");
}

static void test_unquote(void)
{
    is_int(cs_mbox_unquote(">From here\n", 11), 1, ">From loses one >");
    is_int(cs_mbox_unquote(">>From here\n", 12), 1, ">>From loses one >");
    is_int(cs_mbox_unquote("From here\n", 10), 0, "From_ is not quoted");
    is_int(cs_mbox_unquote(">Fro", 4), 0, "short");
    is_int(cs_mbox_unquote(">>> quoted reply\n", 17), 0, "a quoted reply stays");
    ok(cs_mbox_is_from_line("From x", 6) && !cs_mbox_is_from_line("From", 4)
       && !cs_mbox_is_from_line("from x", 6), "is_from_line");
}

static void test_mbox(void)
{
    static const char mbox[] =
	"From alice@example.com Thu Nov  9 12:34:56 2023\n"
	"From: Alice <alice@example.com>\n"
	"Subject: one\n"
	"Content-Length: 5\n"
	"\n"
	"first line\n"
	">From the escaped line\n"
	">>From twice\n"
	"From inside without a blank line before\n"
	"\n"
	"From bob@example.com Fri Nov 10 00:00:00 2023\n"
	"From: bob@example.com\r\n"
	"Subject: two\r\n"
	"\r\n"
	"crlf body\r\n"
	"\r\n"
	"From carol@example.com Sat Nov 11 00:00:00 2023\n"
	"Subject: three\n"
	"\n"
	"no final newline";
    cs_mbox_opts o = {0};
    cs_mbox *mb;
    cs_mbox_msg m;
    char    err[256], path[512];
    int     n = 0;
    uint64_t off2 = strstr(mbox, "From bob") - mbox;

    memset(&m, 0, sizeof(m));
    tl_put(tmpdir, "mbox", mbox, sizeof(mbox) - 1);
    snprintf(path, sizeof(path), "%s/mbox", tmpdir);
    o.spool_threshold = 65536;
    o.max_size = 1 << 20;
    mb = cs_mbox_open(path, &o, err, sizeof(err));
    ok(mb != NULL && cs_mbox_kind(mb) == CS_MBOX_MBOX, "mbox detected");
    if (mb == NULL)
	return;
    while (cs_mbox_next(mb, &m, err, sizeof(err)) > 0) {
	n++;
	if (n == 1) {
	    is_str(spool_str(m.raw), "From: Alice <alice@example.com>\nSubject: one\n"
		   "Content-Length: 5\n\nfirst line\nFrom the escaped line\n>From twice\n"
		   "From inside without a blank line before\n",
		   "mbox 1: Content-Length ignored, >From unquoted, the separator dropped");
	    is_str(m.header.data, "From: Alice <alice@example.com>\nSubject: one\n"
		   "Content-Length: 5\n", "mbox 1: header block");
	    is_str(m.body_digest, digest_of("first line\r\nFrom the escaped line\r\n"
					    ">From twice\r\nFrom inside without a blank"
					    " line before\r\n"),
		   "mbox 1: body digest = the milter's (CRLF body) digest");
	    ok(m.has_file_time && m.file_time == 1699533296, "mbox 1: From_ line time");
	    is_int(m.offset, 0, "mbox 1: offset 0");
	    ok(m.damaged == NULL && m.folder == NULL, "mbox 1: readable, no folder");
	} else if (n == 2) {
	    is_int(m.offset, off2, "mbox 2: offset of its From_ line");
	    is_str(m.body_digest, digest_of("crlf body\n"), "mbox 2: CRLF body digests as LF");
	    is_str(m.header.data, "From: bob@example.com\r\nSubject: two\r\n",
		   "mbox 2: CRLF header block");
	} else if (n == 3) {
	    is_str(spool_str(m.raw), "Subject: three\n\nno final newline",
		   "mbox 3: last message without a final newline");
	    is_str(m.body_digest, digest_of("no final newline"), "mbox 3: digest");
	}
    }
    is_int(n, 3, "mbox: three messages");
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);

    tl_put(tmpdir, "notmbox", "Subject: x\n\nbody\n", 17);
    snprintf(path, sizeof(path), "%s/notmbox", tmpdir);
    ok(cs_mbox_open(path, &o, err, sizeof(err)) == NULL && strstr(err, "not an mbox"),
       "a file not starting with From_ is refused: %s", err);
    tl_put(tmpdir, "empty", "", 0);
    snprintf(path, sizeof(path), "%s/empty", tmpdir);
    mb = cs_mbox_open(path, &o, err, sizeof(err));
    ok(mb && cs_mbox_next(mb, &m, err, sizeof(err)) == 0, "an empty mbox has no message");
    cs_mbox_close(mb);
    snprintf(path, sizeof(path), "%s/nosuch", tmpdir);
    ok(cs_mbox_open(path, &o, err, sizeof(err)) == NULL && strstr(err, "No such file"),
       "a missing path: %s", err);
}

/* find - the message whose path ends with name, in what the walk returned */
typedef struct seen {
    char    name[64];
    char    folder[64];
    const char *damaged;
    int     has_time;
    char    digest[CS_DIGEST_HEX];
} seen;

static void test_maildir(void)
{
    static const char msg[] = "From: a@example.com\nSubject: s\n\nline 1\nline 2\n";
    cs_mbox_opts o = {0};
    cs_mbox *mb;
    cs_mbox_msg m;
    seen    s[16];
    char    err[256], path[512];
    int     n = 0, rc, found;

    memset(&m, 0, sizeof(m));
    mkd("md");
    mkd("md/cur");
    mkd("md/new");
    mkd("md/tmp");
    mkd("md/.Sales");
    mkd("md/.Sales/cur");
    mkd("md/.Sales.Q4");
    mkd("md/.Sales.Q4/new");
    mkd("md/.NotAFolder");				/* no cur/ or new/ */
    mkd("md/cur/subdir");
    tl_put(tmpdir, "md/cur/1700000001.M1.h:2,S", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/new/1700000002.M2.h", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/tmp/1700000003.M3.h", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/cur/.hidden", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/.Sales/cur/1700000004.M4.h:2,S", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/.Sales.Q4/new/noname", msg, sizeof(msg) - 1);
    tl_put(tmpdir, "md/cur/1700000005.M5.h:2,S", "\x01\x02 junk\n\nbody\n", 12);
    tl_put(tmpdir, "md/cur/1700000006.M6.h:2,S", "", 0);
    tl_put(tmpdir, "md/cur/1700000007.M7.h:2,S", "From x Thu Nov  9 12:34:56 2023\nSubject: f\n\nb\n", 47);
    snprintf(path, sizeof(path), "%s/md/", tmpdir);
    o.spool_threshold = 65536;
    o.max_size = 1 << 20;
    mb = cs_mbox_open(path, &o, err, sizeof(err));
    ok(mb != NULL && cs_mbox_kind(mb) == CS_MBOX_MAILDIR, "Maildir detected");
    if (mb == NULL)
	return;
    while ((rc = cs_mbox_next(mb, &m, err, sizeof(err))) > 0 && n < 16) {
	const char *b = strrchr(m.path, '/');

	snprintf(s[n].name, sizeof(s[n].name), "%s", b ? b + 1 : m.path);
	snprintf(s[n].folder, sizeof(s[n].folder), "%s", m.folder ? m.folder : "INBOX");
	s[n].damaged = m.damaged;
	s[n].has_time = m.has_file_time;
	memcpy(s[n].digest, m.body_digest, CS_DIGEST_HEX);
	if (strcmp(s[n].name, "1700000001.M1.h:2,S") == 0)
	    is_int(m.file_time, 1700000001, "file name time");
	n++;
    }
    is_int(rc, 0, "walk ends cleanly");
    is_int(n, 7, "7 messages: tmp/, dot files, subdirs and non-folders skipped");
    found = 0;
    for (int i = 0; i < n; i++) {
	if (strcmp(s[i].name, "1700000004.M4.h:2,S") == 0)
	    found += strcmp(s[i].folder, "Sales") == 0;
	else if (strcmp(s[i].name, "noname") == 0)
	    found += strcmp(s[i].folder, "Sales/Q4") == 0 && !s[i].has_time;
	else if (strcmp(s[i].name, "1700000005.M5.h:2,S") == 0)
	    found += s[i].damaged && strstr(s[i].damaged, "no header") != NULL;
	else if (strcmp(s[i].name, "1700000006.M6.h:2,S") == 0)
	    found += s[i].damaged && strstr(s[i].damaged, "empty") != NULL;
	else if (strcmp(s[i].name, "1700000007.M7.h:2,S") == 0)
	    found += s[i].damaged == NULL && strcmp(s[i].folder, "INBOX") == 0;
	else if (strcmp(s[i].name, "1700000002.M2.h") == 0)
	    found += strcmp(s[i].folder, "INBOX") == 0
		&& strcmp(s[i].digest, digest_of("line 1\r\nline 2\r\n\r\n")) == 0;
    }
    is_int(found, 6, "folders -> labels, damaged files named, From_ line skipped, LF digest"
	   " = CRLF digest");
    ok(strcmp(s[0].folder, "INBOX") == 0 && strcmp(s[n - 1].folder, "Sales/Q4") == 0,
       "INBOX first, folders in name order");
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);

    mkd("plain");
    snprintf(path, sizeof(path), "%s/plain", tmpdir);
    ok(cs_mbox_open(path, &o, err, sizeof(err)) == NULL && strstr(err, "not a Maildir"),
       "a directory without cur/ or new/ is refused");
}

/* X4: links to a file, a folder and a cur/ are returned as links, unread. */
static void test_links(void)
{
    static const char mine[] = "From: a@example.com\nSubject: mine\n\nmine\n";
    static const char theirs[] = "From: b@example.com\nSubject: SECRET\n\nsecret\n";
    cs_mbox_opts o = {0};
    cs_mbox *mb;
    cs_mbox_msg m;
    char    err[256], path[512], target[512];
    int     n = 0, links = 0, secret = 0, rc;
    static const char *const linkrel[] = {"lk/cur/1700000002.L.h", "lk/.Stolen", "lk/.Sub/cur"};

    memset(&m, 0, sizeof(m));
    /* Another user's mailbox beside it. */
    mkd("other");
    mkd("other/cur");
    tl_put(tmpdir, "other/cur/1700000009.S.h", theirs, sizeof(theirs) - 1);
    mkd("lk");
    mkd("lk/cur");
    mkd("lk/.Sub");
    tl_put(tmpdir, "lk/cur/1700000001.M.h", mine, sizeof(mine) - 1);
    for (int i = 0; i < 3; i++) {
	snprintf(target, sizeof(target), "%s/%s", tmpdir,
		 i == 0 ? "other/cur/1700000009.S.h" : i == 1 ? "other" : "other/cur");
	snprintf(path, sizeof(path), "%s/%s", tmpdir, linkrel[i]);
	if (symlink(target, path) < 0)
	    printf("Bail out! symlink %s: %s\n", path, strerror(errno));
    }
    o.spool_threshold = 65536;
    o.max_size = 1 << 20;
    snprintf(path, sizeof(path), "%s/lk", tmpdir);
    if ((mb = cs_mbox_open(path, &o, err, sizeof(err))) == NULL) {
	ok(0, "Maildir with links opened: %s", err);
	return;
    }
    while ((rc = cs_mbox_next(mb, &m, err, sizeof(err))) > 0) {
	n++;
	if (m.symlink)
	    links++;
	if (m.header.data && strstr(m.header.data, "SECRET"))
	    secret++;
	if (m.symlink && m.header.len != 0)
	    secret++;
    }
    is_int(rc, 0, "links: the walk ends cleanly");
    is_int(secret, 0, "X4: nothing read through a link (file, folder or cur/)");
    is_int(links, 3, "X4: the file link, the folder link and the cur/ link are reported");
    is_int(n, 4, "and the one real message is read");
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);

    /* PATH itself a link: refused, to a Maildir and to an mbox file. */
    snprintf(path, sizeof(path), "%s/lk/.Stolen", tmpdir);
    ok(cs_mbox_open(path, &o, err, sizeof(err)) == NULL && strstr(err, "symbolic link"),
       "X4: a PATH that is a link to a Maildir is refused");
    tl_put(tmpdir, "real.mbox", "From a Thu Nov  9 12:34:56 2023\nSubject: x\n\nb\n", 45);
    snprintf(target, sizeof(target), "%s/real.mbox", tmpdir);
    snprintf(path, sizeof(path), "%s/link.mbox", tmpdir);
    if (symlink(target, path) < 0)
	printf("Bail out! symlink %s: %s\n", path, strerror(errno));
    ok(cs_mbox_open(path, &o, err, sizeof(err)) == NULL && strstr(err, "symbolic link"),
       "X4: a PATH that is a link to an mbox is refused");
    ok((mb = cs_mbox_open(target, &o, err, sizeof(err))) != NULL, "the mbox itself opens");
    cs_mbox_close(mb);
}

static void test_bounds(void)
{
    cs_mbox_opts o = {0};
    cs_mbox *mb;
    cs_mbox_msg m;
    char    err[256], path[512];
    size_t  big = 300000;
    char   *data = malloc(big + 64), *p = data;

    memset(&m, 0, sizeof(m));
    /* A header line far longer than the read buffer, then a big body. */
    p += sprintf(p, "Subject: ");
    memset(p, 'x', big / 2);
    p += big / 2;
    p += sprintf(p, "\n\n");
    memset(p, 'y', big / 2);
    p += big / 2;
    mkd("big");
    mkd("big/cur");
    tl_put(tmpdir, "big/cur/1700000000.M1.h", data, (size_t) (p - data));
    snprintf(path, sizeof(path), "%s/big", tmpdir);
    o.spool_threshold = 4096;
    o.max_size = 100000;
    o.header_max = 1024;
    mb = cs_mbox_open(path, &o, err, sizeof(err));
    ok(mb && cs_mbox_next(mb, &m, err, sizeof(err)) == 1, "big message read");
    ok(m.header_truncated && m.header.len <= 1024, "header block bounded by header_max");
    ok(cs_spool_truncated(m.raw) && cs_spool_kept(m.raw) == 100000
       && cs_spool_total(m.raw) == (uint64_t) (p - data), "raw bounded by max_size, total counted");
    {
	char    hex[CS_DIGEST_HEX];

	cs_body_digest_hex(data + big / 2 + 11, big / 2, hex);
	is_str(m.body_digest, hex, "body digest over the whole body, past max_size");
    }
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);
    free(data);
}

static void test_fd(void)
{
    char    path[512];
    int     fd, n = 0;
    cs_mbox *mb;
    cs_mbox_msg m;
    char    err[64];
    static const char junk[] = "garbage first\nFrom a Thu Nov  9 12:34:56 2023\n\nFrom b\nX: y\n";

    memset(&m, 0, sizeof(m));
    tl_put(tmpdir, "fdmbox", junk, sizeof(junk) - 1);
    snprintf(path, sizeof(path), "%s/fdmbox", tmpdir);
    fd = open(path, O_RDONLY);
    mb = cs_mbox_open_fd(fd, "fdmbox", NULL);
    while (mb && cs_mbox_next(mb, &m, err, sizeof(err)) > 0) {
	n++;
	if (n == 1)
	    is_str(m.damaged, "empty message", "empty message between two From_ lines");
	if (n == 2)
	    ok(m.damaged == NULL && strcmp(m.header.data, "X: y\n") == 0, "then the next one");
    }
    is_int(n, 2, "leading garbage skipped on a stream");
    cs_mbox_msg_free(&m);
    cs_mbox_close(mb);
    close(fd);
}

int     main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    tl_tmpdir(tmpdir, sizeof(tmpdir), "t_mbox");
    test_name_time();
    test_folder_label();
    test_from_time();
    test_unquote();
    test_mbox();
    test_maildir();
    test_links();
    test_bounds();
    test_fd();
    tl_rmtree(tmpdir);
    return done_testing();
}
