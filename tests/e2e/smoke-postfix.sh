#!/bin/sh
# smoke-postfix.sh - TAP self-test of the end-to-end harness (tests/lib.sh)
#
# A private Postfix relays to smtp-sink through the do-nothing reference
# milter (tests/milter/noop-milter). Checks that mail from SMTP and from
# sendmail(1) reaches the sink with the right envelope, that the milter is
# really in the path, and that mail still flows when the milter is down
# (default_action=accept, SPEC C1). Runs only as root with CRMSYNC_E2E=1.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$NOOP_MILTER" ] || tap_bail "$NOOP_MILTER not built (make -C tests check)"
cs_init || tap_bail "cs_init failed"

PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
SOCK=unix:$CS_TMP/milter/noop.sock
mkdir -p "$CS_TMP/milter"
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done

tap_plan 22

tap_ok "pf_setup writes a private instance that passes postfix check" \
    pf_setup "$PF" "$PORT" "$SINK"
tap_ok "smtp-sink starts on 127.0.0.1:$SINK" sink_start "$SINK" "$DUMP"
tap_ok "noop milter starts and answers on its socket" ms_start_noop "$SOCK"
tap_ok "pf_set_milter attaches it" pf_set_milter "$PF" "$SOCK"
tap_is "$(postconf -c "$PF" -h smtpd_milters)" \
    "{ $SOCK, default_action=accept }" "smtpd_milters in the per-milter form"
tap_ok "Postfix starts" pf_start "$PF"

# One multi-recipient message from a trusted client, one from an untrusted
# source address, one local submission through pickup (non_smtpd_milters).
tap_ok "send: two recipients over SMTP" \
    send_mail "$PORT" sender@outside.test 'alice@example.com,bob@example.com' \
	--header 'Subject: smoke one'
tap_ok "send: from 127.0.0.2 (untrusted client)" \
    send_mail "$PORT" someone@outside.test carol@example.com \
	--local-interface 127.0.0.2 --header 'Subject: smoke two'
printf 'From: Local <root@example.com>\nTo: dave@example.com\nSubject: smoke three\n\nlocal body\n' \
    >"$CS_TMP/three.eml"
tap_ok "send: local submission with sendmail -C" \
    send_local "$PF" root@example.com 'dave@example.com,erin@example.com' "$CS_TMP/three.eml"

tap_ok "all three reach the sink" wait_delivered "$DUMP" 3 30
tap_is "$(sink_rcpts "$DUMP" '^smoke one$' | sort | tr '\n' ' ')" \
    "alice@example.com bob@example.com " "message one: both envelope recipients"
tap_is "$(sink_rcpts "$DUMP" '^smoke two$')" "carol@example.com" \
    "message two: its recipient"
tap_is "$(sink_rcpts "$DUMP" '^smoke three$' | sort | tr '\n' ' ')" \
    "dave@example.com erin@example.com " "message three (sendmail): both recipients"
tap_is "$(sink_sender "$DUMP" '^smoke three$')" "root@example.com" \
    "message three: envelope sender from -f"
tap_ok "queue is empty" wait_queue_empty "$PF" 10
tap_is "$(maillog_milter_warnings "$PF")" "" "no milter warnings while it runs"

# Milter down: Postfix must still deliver, and say so in the maillog.
tap_ok "noop milter stops within the bound" ms_stop "$SOCK"
tap_ok "send with the milter down" \
    send_mail "$PORT" sender@outside.test alice@example.com --header 'Subject: smoke four'
tap_ok "still delivered (default_action=accept)" wait_delivered "$DUMP" 4 30
tap_like "$(maillog_milter_warnings "$PF")" 'warning: connect to Milter service' \
    "the maillog tells the milter was unreachable"

# A milter killed hard leaves its socket file: the next start must not trip.
ms_start_noop "$SOCK" >/dev/null 2>&1 && ms_kill "$SOCK"
_sock_file=$(cs_sock_path "$SOCK")
if [ -S "$_sock_file" ] && ms_start_noop "$SOCK" && ms_pid "$SOCK" >/dev/null; then
    tap_result 0 "a milter starts over a stale socket left by SIGKILL"
else
    tap_result 1 "a milter starts over a stale socket left by SIGKILL"
fi
_warn_before=$(maillog_milter_warnings "$PF" | wc -l)
send_mail "$PORT" sender@outside.test bob@example.com --header 'Subject: smoke five' &&
    wait_delivered "$DUMP" 5 30
tap_is "$(maillog_milter_warnings "$PF" | wc -l)" "$_warn_before" \
    "restarted milter is back in the path: no new warning"

tap_done
