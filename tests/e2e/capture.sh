#!/bin/sh
# capture.sh - end to end through a real Postfix: who gets which copy
#
# SPEC C1 (mail flows with the milter down), C2 (owners: recipients, the
# authenticated sender only; forged and local senders get nothing), C3
# (copies in both mailboxes), C4 (envelope kept whole only in the sender's
# copy), Operations (privilege drop, store file modes). Runs only as root
# with CRMSYNC_E2E=1; with CRMSYNC_VALGRIND=1 the milter runs under valgrind.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"

# A crmsync user and group, as the Debian package makes them.
getent group crmsync >/dev/null || groupadd --system crmsync
getent passwd crmsync >/dev/null \
    || useradd --system --gid crmsync --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin crmsync

PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
RUN=$CS_TMP/run
STORE=$CS_TMP/store
CONF=$CS_TMP/crmsync.conf
LOG=$CS_TMP/crmsync-milter.log
SOCK=unix:$RUN/crmsync.sock
# Socket directory: the milter's user creates the socket, the setgid
# postfix group lets smtpd reach it. Store directory: 2770 group crmsync.
mkdir -p "$RUN" "$STORE" "$CS_TMP/spool" "$CS_TMP/policy"
chown crmsync:postfix "$RUN" && chmod 2750 "$RUN"
chown crmsync:crmsync "$STORE" && chmod 2770 "$STORE"
chown crmsync "$CS_TMP/spool" && chmod 700 "$CS_TMP/spool"
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done

cat >"$CONF" <<CONF
Socket $SOCK
UserID crmsync
UMask 007
Database $STORE/crmsync.db
SpoolDir $CS_TMP/spool
PolicyDir $CS_TMP/policy
InternalDomains example.com
SyncInternal yes
TrustedNetworks 127.0.0.1/32
Syslog no
LogLevel debug
CONF
cat >"$CS_TMP/policy/users.policy" <<POLICY
User alice
Address alice@example.com

User bob
Address bob@example.com
POLICY

wrap=
if [ "${CRMSYNC_VALGRIND:-0}" = 1 ]; then
    wrap="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$CS_TMP/valgrind.log"
fi
start_milter() {
    ms_start "$SOCK" "$LOG" $wrap "$CRMSYNC_MILTER" -c "$CONF" -f
}
ctl() { "$CRMSYNCCTL" -c "$CONF" "$@"; }
subjects() { ctl mailbox --as "$1" --limit 100 | "$top_builddir/tests/jget" threads \
    | tr ',' '\n' | sed -n 's/.*"subject":"\([^"]*\)".*/\1/p' | sort | tr '\n' ' '; }
sq() { sqlite3 "$STORE/crmsync.db" "$1"; }

tap_ok "private Postfix and sink set up" pf_setup "$PF" "$PORT" "$SINK"
tap_ok "sink started" sink_start "$SINK" "$DUMP"
tap_ok "crmsync-milter starts (UserID crmsync)" start_milter
# Let a 1 MB header through to the milter (Postfix's default is 100 KB).
pf_conf "$PF" 'header_size_limit = 4194304' 'message_size_limit = 20480000' >/dev/null
tap_ok "Postfix attached in the per-milter form and started" \
    sh -c ". '$top_srcdir/tests/lib.sh'; pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"
tap_is "$(ps -o user= -p "$(ms_pid "$SOCK")" 2>/dev/null | tr -d ' ')" \
    crmsync "the milter runs as UserID"

send_mail "$PORT" customer@outside.example 'alice@example.com,bob@example.com' \
    --header 'Subject: E2E multi' --header 'To: alice@example.com, bob@example.com' >/dev/null
send_mail "$PORT" customer@outside.example 'alice@example.com,bob@example.com' \
    --header 'Subject: E2E bcc' --header 'To: alice@example.com' >/dev/null
send_mail "$PORT" alice@example.com bob@example.com \
    --header 'Subject: E2E between' --header 'To: bob@example.com' >/dev/null
send_mail "$PORT" alice@example.com bob@example.com --local-interface 127.0.0.2 \
    --header 'Subject: E2E forged' --header 'To: bob@example.com' >/dev/null
send_mail "$PORT" alice@example.com customer@outside.example --local-interface 127.0.0.2 \
    --xclient-login alice@example.com \
    --header 'Subject: E2E authenticated' --header 'To: customer@outside.example' >/dev/null
# SMTP AUTH as bob with alice's sender address: nobody is authenticated.
send_mail "$PORT" alice@example.com customer@outside.example --local-interface 127.0.0.2 \
    --xclient-login bob@example.com \
    --header 'Subject: E2E cross auth' --header 'To: customer@outside.example' >/dev/null
# A forged message reusing a real Message-ID (T2 must not drop the real one).
send_mail "$PORT" customer@outside.example bob@example.com --local-interface 127.0.0.2 \
    --header 'Subject: E2E real' --header 'Message-Id: <reused@outside.example>' \
    --body 'the real one' >/dev/null
send_mail "$PORT" forger@evil.example bob@example.com --local-interface 127.0.0.2 \
    --header 'Subject: E2E real' --header 'Message-Id: <reused@outside.example>' \
    --body 'a forgery reusing its Message-ID' >/dev/null
printf 'From: alice@example.com\nTo: bob@example.com\nSubject: E2E local\n\nfrom sendmail\n' \
    >"$CS_TMP/local.eml"
send_local "$PF" alice@example.com bob@example.com "$CS_TMP/local.eml"

# A 1 MB header, folded into 76-character lines, and raw 8-bit bytes.
{
    printf 'From: J\374rgen <customer@outside.example>\r\nTo: alice@example.com\r\n'
    printf 'Subject: E2E huge header\r\nMessage-ID: <huge@outside.example>\r\nX-Huge: start'
    awk 'BEGIN { for (i = 0; i < 13800; i++) printf "\r\n %075d", i }'
    printf '\r\n\r\nbody\r\n'
} >"$CS_TMP/huge.eml"
send_mail "$PORT" customer@outside.example alice@example.com --data "@$CS_TMP/huge.eml" >/dev/null

tap_ok "all ten messages delivered" wait_delivered "$DUMP" 10 60
tap_is "$(sink_rcpts "$DUMP" '^E2E bcc$' | sort | tr '\n' ' ')" \
    "alice@example.com bob@example.com " "C1: envelope unchanged by crmsync"
tap_ok "queue empty" wait_queue_empty "$PF" 30
tap_is "$(subjects alice)" "E2E authenticated E2E bcc E2E between E2E huge header E2E multi " \
    "alice: incoming, Bcc'd-with, her trusted-network and her AUTH'd outgoing mail"
tap_is "$(subjects bob)" "E2E bcc E2E between E2E forged E2E local E2E multi E2E real " \
    "bob: every message sent to him, Bcc included (C2, C3)"
tap_is "$(sq "select count(*) from messages where owner='alice' and subject='E2E forged'")" 0 \
    "C2: the forged internal sender gets nothing"
tap_is "$(sq "select count(*) from messages where owner='alice' and subject='E2E local'")" 0 \
    "C2: a sendmail(1) submission is not authenticated"
tap_is "$(sq "select count(*) from messages where subject='E2E cross auth'")" 0 \
    "C2: AUTH as bob with alice's sender address records nothing for either"
tap_is "$(sq "select count(*) from messages where owner='bob' and message_id='reused@outside.example'")" 2 \
    "T2: a forgery reusing a real Message-ID does not suppress the real message"
tap_ok "the local submission was seen as one" grep -q 'local submission' "$LOG"
tap_is "$(sq "select envelope like '%bob@%' from messages where owner='alice' and subject='E2E bcc'")" 0 \
    "C4: alice's copy does not show the Bcc recipient"
tap_is "$(sq "select envelope like '%alice@%' from messages where owner='bob' and subject='E2E bcc'")" 0 \
    "C4: bob's copy shows only his own envelope address"
tap_is "$(sq "select envelope like '%bob@example.com%' from messages where owner='alice' and subject='E2E between'")" 1 \
    "C4: the sender's copy keeps the whole envelope"
tap_is "$(sq "select direction from messages where owner='alice' and subject='E2E between'") $(sq "select direction from messages where owner='bob' and subject='E2E between'")" \
    "out in" "C3: one message between users, two copies, each with its direction"
tap_is "$(sq "select group_concat(owner, ' ') from (select owner from messages where subject='E2E between' order by owner)")" \
    "alice bob" "one copy in each mailbox"
tap_is "$(stat -c '%a %G' "$STORE/crmsync.db")" "660 crmsync" "store file mode 0660, group crmsync"
tap_is "$(stat -c '%a %U %G' "$RUN/crmsync.sock")" "770 crmsync postfix" \
    "socket made by UserID with UMask 007, group postfix from its setgid directory"
tap_is "$(maillog_milter_warnings "$PF")" "" "no milter warnings in the maillog while it runs"
tap_ok "log lines carry the queue id" grep -qE '\[info\]: [0-9A-F]{6,}: user=alice' "$LOG"

# C1: with crmsync-milter killed, Postfix still delivers.
ms_kill "$SOCK"
send_mail "$PORT" customer@outside.example alice@example.com --header 'Subject: E2E while down' >/dev/null
# XXX Postfix 3.7 passes and delivers about 60 KB of such a header even with
# header_size_limit raised; the store must hold exactly what was delivered.
tap_is "$(sq "select cast(data as text) from raw r join messages m on m.raw = r.id where m.subject = 'E2E huge header'" | grep -c '^ 0000')" \
    "$(grep -c '^ 0000' "$DUMP")" "the long header is stored as Postfix passed and delivered it"
tap_is "$(ctl mailbox --as alice | "$top_builddir/tests/jget" 'threads' | grep -o '"name":"J[^"]*"' | head -1)" \
    '"name":"Jürgen"' "raw Latin-1 display name stored as UTF-8"
tap_ok "delivered while the milter is down (default_action=accept)" wait_delivered "$DUMP" 11 60
tap_ok "restarted" start_milter
send_mail "$PORT" customer@outside.example alice@example.com --header 'Subject: E2E back' >/dev/null
tap_ok "delivered after restart" wait_delivered "$DUMP" 12 60
sleep 1
tap_is "$(subjects alice | grep -o 'E2E back')" "E2E back" "the next message after restart is recorded"
tap_is "$(subjects alice | grep -c 'E2E while down')" 0 "mail that passed while down is not (nothing to record it)"
tap_ok "stops cleanly" ms_stop "$SOCK"
if [ -n "$wrap" ]; then
    tap_is "$(grep -c 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]' "$CS_TMP/valgrind.log")" 0 \
	"valgrind: no errors, no definite leaks"
else
    tap_is "$(grep -E 'Sanitizer|runtime error' "$LOG" | head -5)" "" "no sanitizer report in the milter log"
fi
tap_done
