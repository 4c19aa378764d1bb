/*
 * NAME
 *	mlfi 3
 * SUMMARY
 *	libmilter callbacks
 * DESCRIPTION
 *	Each mlfi_* callback is a thin wrapper: it finds its context, tolerates
 *	NULL (libmilter calls close without connect on probes and aborts),
 *	copies what it needs and returns. All work happens in capture.c at
 *	end of message. Nothing here ever rejects (SPEC C1).
 *
 *	Negotiation asks only for what crmsync uses: the delete-recipient
 *	action (C5), no HELO, DATA or unknown-command events, and no replies
 *	to connect, MAIL, RCPT, header and body events, which saves Postfix a
 *	round trip per event. On a TCP socket it takes DATA and a reply to
 *	every event all the same (see mlfi_negotiate: Nagle and delayed ACK).
 */
#include <config.h>

/* System library. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Application-specific. */
#include "capture.h"
#include "counters.h"
#include "cs_log.h"
#include "cs_thread.h"
#include "mlfi.h"
#include "state.h"

/*
 * The store at shutdown. libmilter lets a session's callback run on
 * after smfi_main returns; the store is closed after it, so a callback
 * uses the store only between store_enter and store_leave, and
 * mlfi_store_quiesce (before the close) refuses new entries and waits
 * for those inside (an end of message waits for its commit).
 */
static atomic_int store_users, store_closing;

/* store_enter - may the store be used now? Then store_leave after. */
static int store_enter(void)
{
    atomic_fetch_add(&store_users, 1);
    if (atomic_load(&store_closing)) {
	atomic_fetch_sub(&store_users, 1);
	return 0;
    }
    return 1;
}

static void store_leave(void)
{
    atomic_fetch_sub(&store_users, 1);
}

/* mlfi_store_quiesce - no new use of the store; wait for the users, at
 * most timeout_ms; how many are still inside */
int     mlfi_store_quiesce(long timeout_ms)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    long long until = cs_mono_ms() + timeout_ms;
    int     n;

    atomic_store(&store_closing, 1);
    while ((n = atomic_load(&store_users)) > 0 && cs_mono_ms() < until)
	nanosleep(&pause, NULL);
    return n;
}

/* msg_free - release a message context */
static void msg_free(cs_msg *m)
{
    if (m == NULL)
	return;
    /* Expected but not recorded (no copy kept, aborted, failed). */
    if (m->expect_store && store_enter()) {
	cs_store_arrived(m->expect_store, 0);
	store_leave();
    }
    free(m->env_from);
    free(m->auth_authen);
    cs_strlist_free(&m->rcpts);
    cs_buf_free(&m->hdr);
    if (m->raw)
	cs_spool_unref(m->raw);
    cs_bodyhash_free(m->bh);
    if (m->have_owners)
	cs_owners_free(&m->owners);
    if (m->pol)
	cs_policy_unref(m->pol);
    cs_config_unref(m->cfg);
    free(m);
}

/* conn_msg_reset - forget the message in progress */
static void conn_msg_reset(cs_conn *c)
{
    if (c) {
	msg_free(c->msg);
	c->msg = NULL;
    }
}

/* reply - SMFIS_NOREPLY where the MTA granted it for this step */
static sfsistat reply(const cs_conn *c, unsigned long nr_flag)
{
    return (c != NULL && (c->pflags & nr_flag)) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* conn_get - the connection context, made on first use */
static cs_conn *conn_get(SMFICTX *ctx)
{
    cs_conn *c = smfi_getpriv(ctx);

    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL)
	smfi_setpriv(ctx, c);
    return c;
}

#ifdef CS_STACK_PROBE

/*
 * The stack probe (tests/milter/stack.sh). Debian's libmilter runs
 * sessions on a pool of worker threads (_FFR_WORKERS_POOL): each command
 * may run on another worker, and a worker runs many connections, so a
 * connection's close may run on a thread that never painted its stack.
 * So a thread paints its stack the first time it runs negotiate, end of
 * headers or end of message, and measures and paints it again after each
 * end of headers and end of message; a connection keeps the deepest use
 * measured there and at its close: what the thread ran since it last
 * painted, mostly this connection's callbacks (a header or body callback
 * of another one in between adds little), never less than they used.
 */
static void probe_in(void)
{
    if (!cs_stack_painted())
	cs_stack_paint();
}

static void probe_out(cs_conn *c)
{
    size_t  size, peak = cs_stack_peak(&size);

    if (c != NULL && size > 0)
	c->stack_size = size;		/* known even where nothing was painted */
    if (c != NULL && peak > c->stack_peak)
	c->stack_peak = peak;
    cs_stack_paint();
}

#else
#define probe_in()	((void) 0)
#define probe_out(c)	((void) 0)
#endif

/* probed - a callback's work between probe_in and probe_out */
static sfsistat probed(SMFICTX *ctx, sfsistat (*work) (SMFICTX *, cs_conn *))
{
    cs_conn *c = smfi_getpriv(ctx);
    sfsistat rc;

    probe_in();
    rc = work(ctx, c);
    probe_out(c);
    return rc;
}

/* copy_qid - the queue id macro, when set */
static void copy_qid(SMFICTX *ctx, cs_msg *m)
{
    const char *qid;

    if (m->qid[0] == 0 && (qid = smfi_getsymval(ctx, "i")) != NULL && *qid) {
	strncpy(m->qid, qid, sizeof(m->qid) - 1);
	m->qid[sizeof(m->qid) - 1] = 0;
    }
}

/* mlfi_socket_is_inet - is the milter socket in force a TCP one? */
static int mlfi_socket_is_inet(void)
{
    cs_config *cfg = mlfi_config();
    int     inet;

    /* Socket needs a restart to change: the config in force names ours. */
    inet = cfg && cfg->socket && strncmp(cfg->socket, "inet", 4) == 0;
    cs_config_unref(cfg);
    return inet;
}

/* mlfi_negotiate - ask only for what crmsync needs */
static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
			               unsigned long f2, unsigned long f3,
			               unsigned long *pf0, unsigned long *pf1,
			               unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want_skip = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA;
    unsigned long want_nr = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT
	| SMFIP_NR_HDR | SMFIP_NR_BODY;

    cs_conn *c;

    (void) f2;
    (void) f3;
    probe_in();
    if ((c = conn_get(ctx)) == NULL)
	return SMFIS_ALL_OPTS;			/* no memory: take the defaults */
    *pf0 = f0 & SMFIF_DELRCPT;

    /*
     * Over TCP, an event that gets no reply stalls the next: Postfix
     * sends the DATA macros even when DATA is skipped, then the header
     * events; Nagle holds those until the macros are ACKed, and the
     * kernel delays that ACK (about 40 ms) since the milter sends nothing
     * back. Measured (tests/bench): one SMTP session, 20 msg/s instead of
     * about 200. So on TCP take every event with a reply, DATA included;
     * a loopback route with "quickack 1" also fixes it (see the README).
     */
    if (mlfi_socket_is_inet()) {
	want_nr = 0;
	want_skip &= ~SMFIP_NODATA;
    }
    /* Headers with their leading space, so the raw message is as sent. */
    *pf1 = f1 & (want_skip | want_nr | SMFIP_HDR_LEADSPC | SMFIP_SKIP);
    *pf2 = 0;
    *pf3 = 0;
    /* What the MTA granted applies to this connection only. */
    c->pflags = *pf1;
    return SMFIS_CONTINUE;
}

/* mlfi_connect - make the connection context, note the client address */
static sfsistat mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    cs_conn *c;

    (void) hostname;
    if ((c = conn_get(ctx)) == NULL) {
	cs_error(NULL, "connect: out of memory; not recording this connection");
	return SMFIS_ACCEPT;
    }
    if (sa && sa->sa_family == AF_INET) {
	const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) sa;

	inet_ntop(AF_INET, &in->sin_addr, c->client_addr, sizeof(c->client_addr));
	c->client_port = ntohs(in->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) (const void *) sa;

	inet_ntop(AF_INET6, &in6->sin6_addr, c->client_addr, sizeof(c->client_addr));
	c->client_port = ntohs(in6->sin6_port);
    }

    /*
     * Postfix shows mail submitted with sendmail(1) to non_smtpd_milters
     * as a connection from "localhost" [127.0.0.1] with client port 0 (seen
     * with Postfix 3.7: {daemon_addr} is set all the same); a TCP client
     * always has a port. Sendmail shows local submissions with no address
     * or a local (unix) one.
     */
    if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
	|| c->client_port == 0)
	c->local_submission = 1;
    {
	char    safe[128];
	const char *under = smfi_getsymval(ctx, "_");

	const char *daddr = smfi_getsymval(ctx, "{daemon_addr}");
	const char *dname = smfi_getsymval(ctx, "{daemon_name}");
	char    safe2[64], safe3[64];

	cs_debug(NULL, "connect from [%s]:%d%s (%s) daemon %s [%s]", c->client_addr,
		 c->client_port, c->local_submission ? " local submission" : "",
		 cs_sanitize(under ? under : "", safe, sizeof(safe)),
		 cs_sanitize(dname ? dname : "-", safe2, sizeof(safe2)),
		 cs_sanitize(daddr ? daddr : "-", safe3, sizeof(safe3)));
    }
    return reply(c, SMFIP_NR_CONN);
}

/* mlfi_envfrom - a new message: fresh context, config and policy refs */
static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
    cs_conn *c = smfi_getpriv(ctx);
    cs_msg *m;
    const char *auth, *from;
    size_t  len;

    if (c == NULL)
	return reply(c, SMFIP_NR_MAIL);
    conn_msg_reset(c);
    if ((m = calloc(1, sizeof(*m))) == NULL)
	goto fail;
    c->msg = m;
    m->cfg = mlfi_config();
    m->pol = mlfi_policy();
    if (m->cfg == NULL || m->pol == NULL)
	goto fail;
    m->arrival = time(NULL);
    from = argv && argv[0] ? argv[0] : "";
    len = strlen(from);
    if (len >= 2 && from[0] == '<' && from[len - 1] == '>')
	m->env_from = cs_strndup(from + 1, len - 2);
    else
	m->env_from = strdup(from);
    if (m->env_from == NULL)
	goto fail;
    if ((auth = smfi_getsymval(ctx, "{auth_authen}")) != NULL && *auth
	&& (m->auth_authen = strdup(auth)) == NULL)
	goto fail;
    m->hdr.limit = (size_t) (m->cfg->max_message_size > SIZE_MAX / 2 ?
			     SIZE_MAX / 2 : m->cfg->max_message_size);
    copy_qid(ctx, m);
    return reply(c, SMFIP_NR_MAIL);

fail:
    /* With no message context the later callbacks pass the mail through;
     * answering ACCEPT here would break a no-reply step. */
    cs_error(NULL, "envfrom: out of memory or no policy; not recording this message");
    conn_msg_reset(c);
    return reply(c, SMFIP_NR_MAIL);
}

/* mlfi_envrcpt - collect recipients exactly as given (C5 needs them so) */
static sfsistat mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
    cs_conn *c = smfi_getpriv(ctx);

    if (c == NULL || c->msg == NULL)
	return reply(c, SMFIP_NR_RCPT);
    if (argv && argv[0] && cs_strlist_add(&c->msg->rcpts, argv[0]) < 0) {
	cs_error(c->msg->qid, "envrcpt: out of memory; not recording this message");
	conn_msg_reset(c);
    }
    return reply(c, SMFIP_NR_RCPT);
}

/* mlfi_header - append one header to the raw header block */
static sfsistat mlfi_header(SMFICTX *ctx, char *name, char *value)
{
    cs_conn *c = smfi_getpriv(ctx);
    cs_msg *m;
    int     rc;

    if (c == NULL || (m = c->msg) == NULL)
	return reply(c, SMFIP_NR_HDR);
    copy_qid(ctx, m);
    if (m->hdr_truncated)
	return reply(c, SMFIP_NR_HDR);
    /* With SMFIP_HDR_LEADSPC the value keeps its leading space. */
    rc = cs_buf_append(&m->hdr, name, strlen(name));
    if (rc == 0)
	rc = cs_buf_append(&m->hdr, ":", 1);
    if (rc == 0 && !(c->pflags & SMFIP_HDR_LEADSPC))
	rc = cs_buf_append(&m->hdr, " ", 1);
    if (rc == 0)
	rc = cs_buf_append(&m->hdr, value, strlen(value));
    if (rc == 0)
	rc = cs_buf_append(&m->hdr, "\r\n", 2);
    if (rc < 0)
	m->hdr_truncated = 1;			/* over MaxMessageSize */
    return reply(c, SMFIP_NR_HDR);
}

/* mlfi_data - DATA: nothing to do; taken on TCP only (mlfi_negotiate) */
static sfsistat mlfi_data(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

/* eoh - headers done: skip the body if nothing is to be recorded */
static sfsistat eoh(SMFICTX *ctx, cs_conn *c)
{
    cs_msg *m;

    cs_count(CS_CNT_SEEN);
    if (c == NULL || (m = c->msg) == NULL) {
	/* The context was lost at MAIL or RCPT (logged there). */
	cs_count(CS_CNT_FAILURES);
	return SMFIS_ACCEPT;
    }
    copy_qid(ctx, m);
    if (!capture_wanted(c, m)) {
	cs_count(CS_CNT_NO_OWNER);
	cs_debug(m->qid, "no owner, no dropbox: accepted without body");
	conn_msg_reset(c);
	return SMFIS_ACCEPT;
    }
    m->raw = cs_spool_new(m->cfg->spool_dir, (size_t) m->cfg->spool_threshold,
			  m->cfg->max_message_size);
    m->bh = cs_bodyhash_new();
    /* The body digest addresses the raw bytes too (cs_bodyhash_final_addr):
     * one SHA-256 pass over the body, not two. */
    if (m->raw != NULL)
	cs_spool_no_digest(m->raw);
    if (m->raw == NULL || m->bh == NULL
	|| cs_spool_write(m->raw, m->hdr.data ? m->hdr.data : "", m->hdr.len) < 0
	|| cs_spool_write(m->raw, "\r\n", 2) < 0
	|| cs_bodyhash_head(m->bh, m->hdr.data ? m->hdr.data : "", m->hdr.len) < 0
	|| cs_bodyhash_head(m->bh, "\r\n", 2) < 0) {
	cs_error(m->qid, "eoh: cannot spool message: %m; not recording it");
	cs_count(CS_CNT_FAILURES);
	conn_msg_reset(c);
	return SMFIS_ACCEPT;
    }
    /* Its record comes at end-of-message: the writer may wait for it. */
    if (store_enter()) {
	if ((m->expect_store = mlfi_store()) != NULL)
	    cs_store_expect(m->expect_store);
	store_leave();
    }
    return SMFIS_CONTINUE;
}

/* mlfi_eoh - eoh, with the stack probe in test builds */
static sfsistat mlfi_eoh(SMFICTX *ctx)
{
    return probed(ctx, eoh);
}

/* mlfi_body - spool a body chunk and digest it */
static sfsistat mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    cs_conn *c = smfi_getpriv(ctx);
    cs_msg *m;

    if (c == NULL || (m = c->msg) == NULL || m->raw == NULL)
	return reply(c, SMFIP_NR_BODY);
    if (cs_spool_write(m->raw, chunk, len) < 0) {
	cs_error(m->qid, "body: cannot spool message: %m; not recording it");
	cs_count(CS_CNT_FAILURES);
	conn_msg_reset(c);
	return reply(c, SMFIP_NR_BODY);
    }
    cs_bodyhash_update(m->bh, chunk, len);
    return reply(c, SMFIP_NR_BODY);
}

/* eom - record the message, delete what capture says; reset afterwards */
static sfsistat eom(SMFICTX *ctx, cs_conn *c)
{
    cs_strlist del = {0};
    char    safe[128];
    int     rc;

    if (c == NULL || c->msg == NULL || c->msg->raw == NULL) {
	conn_msg_reset(c);
	return SMFIS_ACCEPT;
    }
    copy_qid(ctx, c->msg);
    if (!store_enter()) {
	/* Shutting down (C1): accepted, logged, not recorded. */
	cs_warn(c->msg->qid, "stopping: message accepted without recording it");
	c->msg->expect_store = NULL;		/* the store is being closed */
	conn_msg_reset(c);
	return SMFIS_ACCEPT;
    }
    rc = capture_eom(mlfi_store(), c, c->msg, &del);
    store_leave();
    for (size_t i = 0; i < del.n; i++)
	if (smfi_delrcpt(ctx, del.v[i]) != MI_SUCCESS)
	    cs_warn(c->msg->qid, "could not remove dropbox recipient %s",
		    cs_sanitize(del.v[i], safe, sizeof(safe)));
    cs_strlist_free(&del);
    conn_msg_reset(c);
    return rc == CAPTURE_TEMPFAIL ? SMFIS_TEMPFAIL : SMFIS_ACCEPT;
}

/* mlfi_eom - eom, with the stack probe in test builds */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
    return probed(ctx, eom);
}

/* mlfi_abort - the message is gone; the connection may go on */
static sfsistat mlfi_abort(SMFICTX *ctx)
{
    conn_msg_reset(smfi_getpriv(ctx));
    return SMFIS_CONTINUE;
}

/* mlfi_close - free the connection; private data may be NULL */
static sfsistat mlfi_close(SMFICTX *ctx)
{
    cs_conn *c = smfi_getpriv(ctx);

#ifdef CS_STACK_PROBE
    /* Test builds only (tests/milter/stack.sh): nothing per connection is
     * logged otherwise; a connection closed before negotiating (a
     * readiness probe) has no context and logs nothing. */
    if (c != NULL) {
	probe_out(c);
	cs_warn(NULL, "stack probe: size %zu want %d peak %zu", c->stack_size, CS_CONN_STACK,
		c->stack_peak);
    }
#endif
    if (c != NULL) {
	conn_msg_reset(c);
	free(c);
	smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc mlfi_desc = {
    .xxfi_name = "crmsync",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_DELRCPT,
    .xxfi_connect = mlfi_connect,
    .xxfi_helo = NULL,
    .xxfi_envfrom = mlfi_envfrom,
    .xxfi_envrcpt = mlfi_envrcpt,
    .xxfi_header = mlfi_header,
    .xxfi_eoh = mlfi_eoh,
    .xxfi_body = mlfi_body,
    .xxfi_eom = mlfi_eom,
    .xxfi_abort = mlfi_abort,
    .xxfi_close = mlfi_close,
    .xxfi_unknown = NULL,
    .xxfi_data = mlfi_data,
    .xxfi_negotiate = mlfi_negotiate,
};
