#!/bin/sh
# erase-batches.sh - erasure leaves the store's write lock to mail
# between bounded batches (SPEC R1-R3 with C1)
#
# ctl-gen's store of 6,000 messages over 10 mailboxes (600 copies each);
# crmsyncctl mailbox purge of one of them must delete all 600 in more
# than one write transaction (an audit row each, none over
# CS_ERASE_BATCH = 256 copies), with a message.deleted or thread.deleted
# event per copy, and leave the other mailboxes whole.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
cs_find_bins
J=$top_builddir/tests/jget
GEN=$top_builddir/tests/bench/ctl-gen
[ -x "$GEN" ] || tap_skip_all "tests/bench/ctl-gen not built"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 not installed"
cs_init || tap_bail "cs_init failed"
D=$CS_TMP
mkdir -p "$D/policy" "$D/spool"
printf 'Database %s\nPolicyDir %s\nSpoolDir %s\nSyslog no\n' \
    "$D/s.db" "$D/policy" "$D/spool" >"$D/crmsync.conf"
ctl() { "$CRMSYNCCTL" -c "$D/crmsync.conf" "$@"; }
q() { sqlite3 "$D/s.db" "$1"; }

tap_ok "ctl-gen: 6000 messages in 10 mailboxes" "$GEN" bench "$D/s.db" 6000 10
before=$(q "select count(*) from messages where owner<>'u001'")
tap_is "$(q "select count(*) from messages where owner='u001'")" 600 "u001 holds 600 copies"
ctl mailbox purge --user u001 >"$D/p.json" 2>"$D/p.err"
tap_result $? "mailbox purge exits 0"
tap_is "$("$J" messages_deleted <"$D/p.json")" 600 "600 copies deleted"
tap_is "$("$J" scrubbed <"$D/p.json")" true "scrubbed"
batches=$(q "select count(*) from audit where what='mailbox.purge'")
tap_like "$batches" '^([3-9]|[1-9][0-9]+)$' "in 3 or more transactions ($batches)"
tap_is "$(q "select count(*) from audit where what='mailbox.purge'
	and json_extract(threads, '\$[0].messages') > 256")" 0 "none over 256 copies"
tap_is "$(q "select sum(json_extract(threads, '\$[0].messages')) from audit
	where what='mailbox.purge'")" 600 "the batches' counts add up to 600"
tap_is "$(q "select count(*) from events where owner='u001'
	and type in ('message.deleted','thread.deleted')")" 600 "an event per copy"
tap_is "$(q "select count(*) from messages where owner<>'u001'")" "$before" \
    "the other mailboxes are whole"

# A batch rolled back (here: the write lock held past StoreTimeout by
# another process) is tried again, a second apart, not the command failed.
printf 'StoreTimeout 1s\n' >>"$D/crmsync.conf"
(echo 'BEGIN IMMEDIATE;'; sleep 2; echo 'COMMIT;') | sqlite3 "$D/s.db" &
locker=$!
cs_wait 5 eval '! sqlite3 "$D/s.db" "PRAGMA busy_timeout=0; BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null'
ctl mailbox purge --user u002 >"$D/p2.json" 2>"$D/p2.err"
tap_result $? "purge while another process holds the write lock for 2 s: exits 0"
wait "$locker"
tap_is "$("$J" messages_deleted <"$D/p2.json")" 600 "all 600 deleted"
tap_like "$(cat "$D/p2.err")" 'rolled back .*trying it again' "the retry is logged"
tap_is "$(q "select count(*) from messages where owner='u002'")" 0 "none of u002's left"
tap_done
