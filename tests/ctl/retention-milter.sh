#!/bin/sh
# retention-milter.sh - SPEC R1 in crmsync-milter: the background thread
# deletes messages older than Retention without any mail passing, with
# the same erasure guarantee (the store's file and WAL, while the milter
# holds its connections open), and writes missing thread summaries.
# CRMSYNC_RETENTION_INTERVAL=1 (tests only)
# makes it run every second; no Postfix, no root.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
cs_find_bins
J=$top_builddir/tests/jget
cs_init || tap_bail "cs_init failed"
D=$CS_TMP
mkdir -p "$D/policy" "$D/spool"
cat >"$D/crmsync.conf" <<CONF
Socket unix:$D/milter.sock
Database $D/crmsync.db
PolicyDir $D/policy
SpoolDir $D/spool
Retention 30d
Syslog no
CONF
printf 'User alice\nAddress alice@example.com\nWindow 3650d\n' >"$D/policy/users.policy"
ctl() { "$CRMSYNCCTL" -c "$D/crmsync.conf" "$@"; }
{
    printf 'From frank@x.example Mon Mar  2 10:00:00 2020\nFrom: frank@x.example\nTo: alice@example.com\n'
    printf 'Subject: OLDRETMARK\nDate: Mon, 2 Mar 2020 10:00:00 +0000\nMessage-ID: <old@x>\n\nold body\n\n'
    d=$(date -u -R)
    printf 'From frank@x.example %s\nFrom: frank@x.example\nTo: alice@example.com\n' "$(date -u '+%a %b %e %T %Y')"
    printf 'Subject: NEWRETMARK\nDate: %s\nMessage-ID: <new@x>\n\nnew body\n\n' "$d"
} >"$D/alice.mbox"
tap_like "$(ctl import --user alice "$D/alice.mbox" 2>&1)" '"imported":2,' "an old and a new message"
hits() {
    n=0
    for f in "$D/crmsync.db" "$D/crmsync.db-wal"; do
	[ -e "$f" ] && n=$((n + $(LC_ALL=C grep -a -o "$1" "$f" | wc -l)))
    done
    echo "$n"
}
tap_like "$(hits OLDRETMARK)" '^[1-9]' "the store holds the old one"
# Thread summaries: the same background run writes missing ones.
nosum() { sqlite3 "$D/crmsync.db" "SELECT count(*) FROM threads WHERE summary IS NULL"; }
sqlite3 "$D/crmsync.db" "UPDATE threads SET summary=NULL"
tap_is "$(nosum)" 2 "two threads without a summary (as in a store made before them)"
CRMSYNC_RETENTION_INTERVAL=1 ms_start_crmsync "$D/crmsync.conf" "unix:$D/milter.sock" "$D/milter.log" \
    || tap_bail "crmsync-milter did not start"
cs_wait 20 eval '[ "$(ctl stats | "$J" messages)" = 1 ]'
tap_is "$(ctl stats | "$J" messages)" 1 "the milter's background run deleted the old one"
cs_wait 5 grep -q 'retention: 1 messages, 1 threads deleted' "$D/milter.log"
tap_ok "and logged it" grep -q 'retention: 1 messages, 1 threads deleted' "$D/milter.log"
tap_is "$(hits OLDRETMARK)" 0 "no byte of the store or its WAL holds it (milter running)"
tap_like "$(hits NEWRETMARK)" '^[1-9]' "the new one is kept"
cs_wait 10 eval '[ "$(nosum)" = 0 ]'
tap_is "$(nosum)" 0 "the background run wrote the kept thread's summary"
tap_ok "the milter still answers" ms_probe "unix:$D/milter.sock"
ms_stop "unix:$D/milter.sock"
tap_done
