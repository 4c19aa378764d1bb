#!/bin/sh
# dropbox.sh - Smart BCC through a real Postfix (SPEC K1, K2, K4, C5)
#
# An authenticated user Bccs the dropbox: the delivered copies no longer
# carry it (Postfix deleted it at crmsync's request), the message is logged
# as bcc and persons are created. The same message as plain sync creates
# none; spoofed dropbox mail creates none. A message for the dropbox alone
# is accepted with the dropbox deleted: Postfix then has no recipient left
# and discards it (the maillog says so), which is what the CRM wants.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"

PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
CONF=$CS_TMP/crmsync.conf
LOG=$CS_TMP/crmsync-milter.log
SOCK=unix:$CS_TMP/run/crmsync.sock
mkdir -p "$CS_TMP/run" "$CS_TMP/store" "$CS_TMP/spool" "$CS_TMP/policy"
chgrp postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done
cat >"$CONF" <<CONF
Socket $SOCK
UMask 007
Database $CS_TMP/store/crmsync.db
SpoolDir $CS_TMP/spool
PolicyDir $CS_TMP/policy
InternalDomains example.com
TrustedNetworks 127.0.0.1/32
Dropbox log@crm.example.com
Syslog no
LogLevel debug
CONF
printf 'User alice\nAddress alice@example.com\nSync off\n\nUser bob\nAddress bob@example.com\n' \
    >"$CS_TMP/policy/users.policy"
ctl() { "$CRMSYNCCTL" -c "$CONF" "$@"; }
sq() { sqlite3 "$CS_TMP/store/crmsync.db" "$1"; }

tap_ok "Postfix, sink and crmsync-milter up" sh -c ". '$top_srcdir/tests/lib.sh';
    pf_setup '$PF' '$PORT' '$SINK' && sink_start '$SINK' '$DUMP' &&
    pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"
tap_ok "crmsync-milter started" ms_start "$SOCK" "$LOG" "$CRMSYNC_MILTER" -c "$CONF" -f

# Alice is Sync off: Smart BCC logs it all the same (K2), from an untrusted
# address with SMTP AUTH (faked with XCLIENT LOGIN, which sets {auth_authen}).
send_mail "$PORT" alice@example.com \
    'customer@outside.example,log@crm.example.com,bob@example.com,hidden@third.example' \
    --local-interface 127.0.0.2 --xclient-login alice@example.com \
    --header 'Subject: DB smart' \
    --header 'To: "Kunde, Erika" <customer@outside.example>, bob@example.com' >/dev/null
send_mail "$PORT" alice@example.com 'plain@fresh.example' --local-interface 127.0.0.2 \
    --xclient-login alice@example.com --header 'Subject: DB plain' >/dev/null
send_mail "$PORT" alice@example.com 'victim@spoofed.example,log@crm.example.com,bob@example.com' \
    --local-interface 127.0.0.2 --header 'Subject: DB spoofed' >/dev/null
tap_ok "three messages delivered" wait_delivered "$DUMP" 3 60
tap_is "$(sink_rcpts "$DUMP" '^DB smart$' | sort | tr '\n' ' ')" \
    "bob@example.com customer@outside.example hidden@third.example " \
    "C5: delivered without the dropbox, every other recipient kept"
tap_is "$(sink_rcpts "$DUMP" '^DB spoofed$' | sort | tr '\n' ' ')" \
    "bob@example.com victim@spoofed.example " "C5: dropbox removed from spoofed mail too"
tap_is "$(ctl mailbox --as alice | "$top_builddir/tests/jget" 'threads[0].labels')" '["bcc"]' \
    "K2: logged for Sync off alice, labelled bcc"
tap_is "$(ctl mailbox --as alice | "$top_builddir/tests/jget" -n threads)" 1 \
    "only the Smart BCC message (alice syncs nothing else)"
tap_is "$(sq "select group_concat(email, ' ') from (select email from person_emails order by email)")" \
    "customer@outside.example hidden@third.example" \
    "K2: persons for the outside To and the envelope-only Bcc; none for plain sync or spoofing"
tap_is "$(sq "select name from persons p join person_emails e on e.person = p.id where email = 'customer@outside.example'")" \
    "Kunde, Erika" "K2: display name kept"
tap_ok "K4: spoofing logged" grep -q 'not authenticated as a user' "$LOG"
tap_is "$(ctl mailbox --as bob | grep -c 'DB spoofed')" 1 "K4: bob still has his copy"

# The dropbox alone.
send_mail "$PORT" alice@example.com 'log@crm.example.com' --local-interface 127.0.0.2 \
    --xclient-login alice@example.com --header 'Subject: DB alone' >/dev/null
tap_ok "queue empty afterwards" wait_queue_empty "$PF" 30
tap_is "$(sink_rcpts "$DUMP" '^DB alone$' | wc -l | tr -d ' ')" 0 "nothing delivered for the dropbox alone"
tap_is "$(ctl mailbox --as alice | grep -c '"DB alone"')" 1 "but it is logged for alice"
tap_diag "Postfix on a message left with no recipient: $(grep -i 'no recipient\|discard\|removed' "$PF/maillog" 2>/dev/null | tail -1 | cut -c1-160)"
tap_is "$(maillog_milter_warnings "$PF")" "" "no milter warnings"
tap_ok "stops cleanly" ms_stop "$SOCK"
tap_done
