#!/bin/sh
# import.sh - the importer and live capture agree through a real Postfix (T2, X4)
#
# A message imported from alice's Maildir, then the same message sent
# through Postfix to alice, is stored once; and a message captured live,
# then imported from the Maildir copy the delivery made (with the headers
# delivery adds: Return-Path, Received ...), is stored once too. Runs only
# as root with CRMSYNC_E2E=1; the importer runs as the store's user, as
# the docs tell administrators to. The parts that need no Postfix are in
# tests/import/import.sh.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
command -v runuser >/dev/null 2>&1 || tap_skip_all "needs runuser"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "needs sqlite3"
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"

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
M=$CS_TMP/Maildir
mkdir -p "$RUN" "$STORE" "$CS_TMP/spool" "$CS_TMP/policy" "$M/cur" "$M/new" "$M/tmp"
chown crmsync:postfix "$RUN" && chmod 2750 "$RUN"
chown crmsync:crmsync "$STORE" && chmod 2770 "$STORE"
chown crmsync "$CS_TMP/spool" && chmod 700 "$CS_TMP/spool"
chmod -R a+rX "$M" "$CS_TMP/policy"
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
TrustedNetworks 127.0.0.1/32
Syslog no
LogLevel debug
CONF
chmod 644 "$CONF"
printf 'User alice\nAddress alice@example.com\n' >"$CS_TMP/policy/users.policy"
chmod 644 "$CS_TMP/policy/users.policy"

# As the store's own user: files it creates (WAL, shm) stay the milter's.
ctl() { runuser -u crmsync -- "$CRMSYNCCTL" -c "$CONF" "$@"; }
sq() { sqlite3 "$STORE/crmsync.db" "$1"; }
NOW=$(date +%s)
DATE=$(perl -MPOSIX=strftime -e 'print strftime("%a, %d %b %Y %H:%M:%S +0000", gmtime($ARGV[0]))' $((NOW - 3600)))

tap_ok "private Postfix and sink set up" pf_setup "$PF" "$PORT" "$SINK"
tap_ok "sink started" sink_start "$SINK" "$DUMP"
tap_ok "crmsync-milter starts" ms_start "$SOCK" "$LOG" "$CRMSYNC_MILTER" -c "$CONF" -f
tap_ok "Postfix attached and started" \
    sh -c ". '$top_srcdir/tests/lib.sh'; pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"

# 1. Import first, then the same message arrives through Postfix.
F1=$M/cur/$((NOW - 3600)).M1P1.e2e:2,S
printf 'From: Carol <carol@client.example>\nTo: alice@example.com\nSubject: E2E import first\nDate: %s\nMessage-ID: <imp1@client.example>\n\nline one\nline two\n.\n..leading dot\n' \
    "$DATE" >"$F1"
chmod 644 "$F1"
out=$(ctl import --user alice "$M" 2>"$CS_TMP/imp.err" | tail -n 1)
tap_like "$out" '"imported":1,' "imported from the Maildir"
# swaks sends the file with CRLF line ends and dot-stuffing, as any client.
send_mail "$PORT" carol@client.example alice@example.com --data "$F1" >/dev/null
tap_ok "delivered through Postfix" wait_delivered "$DUMP" 1 60
tap_ok "queue empty" wait_queue_empty "$PF" 30
tap_ok "the milter saw it" cs_wait 10 grep -q 'duplicate, stored once\|user=alice' "$LOG"
sleep 1
tap_is "$(sq "select count(*) from messages where owner='alice' and message_id='imp1@client.example'")" 1 \
    "T2: imported then captured live: stored once"
tap_is "$(sq "select source from messages where message_id='imp1@client.example'")" import \
    "the copy kept is the imported one"

# 2. Captured live first, then imported from the copy delivery made.
send_mail "$PORT" carol@client.example alice@example.com \
    --header 'Subject: E2E live first' --header 'Message-Id: <live1@client.example>' \
    --header "Date: $DATE" --body 'live body
with two lines' >/dev/null
tap_ok "second message delivered" wait_delivered "$DUMP" 2 60
tap_ok "queue empty again" wait_queue_empty "$PF" 30
sleep 1
tap_is "$(sq "select count(*) from messages where message_id='live1@client.example'")" 1 "captured live"
# What the sink received, with LF ends and the headers a final delivery
# adds, is what alice's Maildir would hold.
F2=$M/new/$NOW.M2P1.e2e
{
    printf 'Return-Path: <carol@client.example>\nDelivered-To: alice@example.com\n'
    printf 'Received: from mx.example.com (mx.example.com [192.0.2.1])\n\tby imap.example.com (Postfix) with ESMTPS id 4AbC; %s\n' "$DATE"
    sink_message "$DUMP" '^E2E live first$' | tr -d '\r'
} >"$F2"
chmod 644 "$F2"
tap_like "$(sed -n 's/^Subject: //p' "$F2")" '^E2E live first$' "the delivered copy is in the Maildir"
out=$(ctl import --user alice "$M" 2>>"$CS_TMP/imp.err" | tail -n 1)
tap_like "$out" '"imported":0,"duplicates":2,' "T2: re-import finds both messages already there"
tap_is "$(sq "select count(*) from messages where owner='alice'")" 2 "two messages, each stored once"
tap_is "$(stat -c '%U' "$STORE/crmsync.db")" crmsync "the store still belongs to crmsync"
tap_ok "stops cleanly" ms_stop "$SOCK"
tap_done
