#!/bin/sh
# events-postfix.sh - a hanging CRM does not slow mail through Postfix (X3, C1)
#
# crmsync-milter with WebhookURL pointing at the test receiver: 500
# messages through Postfix with the receiver answering, then 500 with it
# hanging on every request. Both batches must take about as long and be
# recorded whole; when the receiver answers again every event is delivered.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
RECEIVER=$top_builddir/tests/events/receiver
[ -x "$RECEIVER" ] || tap_bail "$RECEIVER not built"
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"
J=$top_builddir/tests/jget
PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
CONF=$CS_TMP/crmsync.conf
LOG=$CS_TMP/crmsync-milter.log
SOCK=unix:$CS_TMP/run/crmsync.sock
mkdir -p "$CS_TMP/run" "$CS_TMP/store" "$CS_TMP/spool" "$CS_TMP/policy"
chgrp postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
printf 'the-shared-secret\n' >"$CS_TMP/secret" && chmod 600 "$CS_TMP/secret"
: >"$CS_TMP/control"
"$RECEIVER" --port-file "$CS_TMP/rport" --log "$CS_TMP/rlog" --control "$CS_TMP/control" \
    --plain --secret "$CS_TMP/secret" 2>"$CS_TMP/receiver.err" &
RPID=$!
cs_wait 5 test -s "$CS_TMP/rport" || tap_bail "receiver did not start"
trap 'kill -9 $RPID 2>/dev/null; cs_cleanup' EXIT
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done
cat >"$CONF" <<CONF
Socket $SOCK
UMask 007
Database $CS_TMP/store/crmsync.db
SpoolDir $CS_TMP/spool
PolicyDir $CS_TMP/policy
WebhookURL http://127.0.0.1:$(cat "$CS_TMP/rport")/hook
WebhookSecret $CS_TMP/secret
Syslog no
LogLevel info
CONF
printf 'User alice\nAddress alice@example.com\n' >"$CS_TMP/policy/users.policy"
ctl() { "$CRMSYNCCTL" -c "$CONF" "$@"; }
records() { ctl stats | "$J" records; }
pending() { ctl stats | "$J" events.pending; }
drained() { test "$(pending)" = 0; }
recorded_since() { test "$(records)" -ge "$1"; }
# batch TAG: 500 messages in 10 sessions; prints the seconds until all are
# delivered and recorded
batch() {
    b0=$(records); d0=$(sink_count "$DUMP"); t0=$(date +%s.%N)
    smtp-source -s 10 -m 500 -l 2000 -f "customer@outside.example" -t alice@example.com \
	-S "$1" "127.0.0.1:$PORT" >>"$CS_TMP/smtp-source.log" 2>&1
    wait_delivered "$DUMP" $((d0 + 500)) 120 || return 1
    cs_wait 60 recorded_since $((b0 + 500)) || return 1
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

tap_ok "Postfix, sink and crmsync-milter with a webhook" sh -c ". '$top_srcdir/tests/lib.sh';
    pf_setup '$PF' '$PORT' '$SINK' && sink_start '$SINK' '$DUMP' &&
    pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"
tap_ok "crmsync-milter started" ms_start "$SOCK" "$LOG" "$CRMSYNC_MILTER" -c "$CONF" -f

fine=$(batch fine)
tap_ok "500 messages delivered and recorded with the CRM answering (${fine} s)" test -n "$fine"
tap_ok "their events delivered" cs_wait 30 drained
echo hang >"$CS_TMP/control"
hang=$(batch hanging)
tap_ok "500 messages delivered and recorded with the CRM hanging (${hang} s)" test -n "$hang"
tap_ok "no slower with the CRM hanging (${hang} s vs ${fine} s; allowed 1.5x + 3 s)" \
    awk -v h="$hang" -v f="$fine" 'BEGIN { exit !(h <= 1.5 * f + 3) }'
tap_ok "events wait in the outbox meanwhile ($(pending) pending)" test "$(pending)" -gt 0
# kill -9 of the daemon with the backlog pending, then a restart: the
# outbox is in the store, so nothing is lost.
ms_kill "$SOCK"
tap_ok "restarted after kill -9 with $(pending) events pending" \
    ms_start "$SOCK" "$LOG" "$CRMSYNC_MILTER" -c "$CONF" -f
echo ok >"$CS_TMP/control"
if ! tap_ok "every event delivered once the CRM answers again" cs_wait 120 drained; then
    tap_diag "pending $(pending); sender log:"
    grep 'events:' "$LOG" | tail -8 | sed 's/^/#   /' >&2
    tap_diag "receiver log tail:"
    tail -4 "$CS_TMP/rlog" | sed 's/^/#   /' >&2
fi
tap_is "$(grep -c '^R 2' "$CS_TMP/rlog" | sed 's/^0$//' | sed 's/^[1-9][0-9]*$/yes/')" yes \
    "the receiver accepted signed requests"
tap_is "$(awk '$1 == "R" && $5 != 1' "$CS_TMP/rlog" | wc -l | tr -d ' ')" 0 "every request's signature verified"
tap_is "$(awk '$1 == "E" { print $2 }' "$CS_TMP/rlog" | sort -u | wc -l | tr -d ' ')" \
    "$(sqlite3 "$CS_TMP/store/crmsync.db" 'select count(*) from events')" \
    "every event in the outbox reached the CRM (duplicates only under the same id)"
tap_ok "stops cleanly" ms_stop "$SOCK"
tap_done
