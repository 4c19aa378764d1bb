#!/bin/sh
# tests/ops/backup.sh - crmsyncctl backup: a consistent copy of a live store
#
# A writer (ops/storefill: the store's group-commit writer, as in the
# milter) records messages while backups are taken. Checks: an idle
# backup has the live store's exact stats; with the writer stopped in
# mid-stream (SIGSTOP) the backup's stats equal the live ones read at the
# same moment; with the writer running every backup is whole (quick_check,
# messages = records, each record being one message); a transaction held
# open by another writer neither blocks the backup nor shows in it; the
# file is 0600 and alone (no -wal); the store itself is refused as
# destination; a restored copy opens as a store.
. "$top_srcdir/tests/lib.sh"
cs_init || tap_bail "cannot make a temporary directory"
cs_find_bins
FILL=$top_builddir/tests/ops/storefill
JGET=$top_builddir/tests/jget
D=$CS_TMP
mkdir -p "$D/pol" "$D/spool"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 (the CLI) not installed"

# conf DB FILE - a config whose store is DB
conf() {
    printf 'Database %s\nPolicyDir %s\nSpoolDir %s\nSyslog no\n' "$1" "$D/pol" "$D/spool" >"$2"
}

# stats CONF OUT - crmsyncctl stats into OUT
stats() {
    "$CRMSYNCCTL" -c "$1" stats >"$2" 2>"$2.err"
}

# jv KEY FILE - one value of a JSON file
jv() {
    "$JGET" "$1" <"$2"
}

conf "$D/live.db" "$D/live.conf"
export TMPDIR="$D/spool"

# 1. A store with 200 messages, no writer.
tap_ok "storefill writes 200 messages" "$FILL" "$D/live.db" 200
stats "$D/live.conf" "$D/s0.json"
tap_is "$(jv messages "$D/s0.json")" 200 "live store: 200 messages"

# 2. Idle backup: identical stats, mode 0600, one file.
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/b1.db" >"$D/out1.json" 2>"$D/out1.err"
tap_is "$?" 0 "backup exits 0"
tap_is "$(jv file "$D/out1.json")" "$D/b1.db" "answer names the file"
tap_is "$(jv bytes "$D/out1.json")" "$(stat -c %s "$D/b1.db")" "answer gives its size"
tap_is "$(stat -c %a "$D/b1.db")" 600 "backup is mode 0600"
tap_ok "no -wal beside the backup" test ! -e "$D/b1.db-wal"
tap_is "$(sqlite3 "$D/b1.db" 'PRAGMA journal_mode')" delete "backup is a rollback-journal file"
conf "$D/b1.db" "$D/b1.conf"
stats "$D/b1.conf" "$D/s1.json"
tap_ok "idle backup: stats identical to the live store" cmp "$D/s0.json" "$D/s1.json"

# 3. A writer in mid-stream: stopped with SIGSTOP (its connection open,
#    perhaps inside a transaction), live and backup read at one moment.
"$FILL" -s 1000 "$D/live.db" 0 forever >"$D/fill.out" 2>"$D/fill.err" </dev/null &
fill_pid=$!
cs_wait 10 grep -q '^ready' "$D/fill.out" || tap_diag "storefill did not start"
cs_wait 10 eval "[ \$(\"$CRMSYNCCTL\" -c \"$D/live.conf\" stats | \"$JGET\" messages) -gt 260 ]" \
    || tap_diag "the writer is slow"
kill -STOP "$fill_pid"
stats "$D/live.conf" "$D/s2.json"
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/b2.db" >/dev/null 2>"$D/b2.err"
tap_is "$?" 0 "backup with a stopped writer exits 0"
conf "$D/b2.db" "$D/b2.conf"
stats "$D/b2.conf" "$D/s2b.json"
kill -CONT "$fill_pid"
tap_like "$(jv messages "$D/s2.json")" '^(2[6-9][0-9]|[3-9][0-9]{2}|[0-9]{4,})$' \
    "the writer had added messages"
tap_ok "writer mid-stream: backup stats identical to live stats" cmp "$D/s2.json" "$D/s2b.json"

# 4. The writer running: every backup is one whole commit.
prev=0
for i in 1 2 3; do
    "$CRMSYNCCTL" -c "$D/live.conf" backup "$D/b3.db" >/dev/null 2>"$D/b3.err"
    rc=$?
    conf "$D/b3.db" "$D/b3.conf"
    stats "$D/b3.conf" "$D/s3.json"
    m=$(jv messages "$D/s3.json")
    r=$(jv records "$D/s3.json")
    tap_is "$rc" 0 "running writer, backup $i exits 0"
    tap_is "$(sqlite3 "$D/b3.db" 'PRAGMA integrity_check')" ok "backup $i: integrity_check ok"
    tap_is "$m" "$r" "backup $i: messages = records ($m): no half commit"
    tap_ok "backup $i: no older than the one before ($m >= $prev)" test "${m:-0}" -ge "$prev"
    prev=${m:-0}
    sleep 0.2
done
cs_pid_stop "$fill_pid" 10
tap_like "$(cat "$D/fill.out")" 'stopped [0-9]+' "storefill stopped cleanly"
tap_ok "storefill recorded every message" test ! -s "$D/fill.err"

# 5. Another writer holds an open write transaction: the backup neither
#    waits for it nor contains it.
stats "$D/live.conf" "$D/s4.json"
rm -f "$D/fifo"
mkfifo "$D/fifo"
sqlite3 "$D/live.db" <"$D/fifo" >"$D/sqlite.out" 2>&1 &
sql_pid=$!
exec 3>"$D/fifo"
printf '%s\n' ".timeout 5000" "BEGIN IMMEDIATE;" \
    "UPDATE counters SET value=value+1000 WHERE name='records';" ".print locked" >&3
cs_wait 10 grep -q locked "$D/sqlite.out" || tap_diag "sqlite3 did not take the lock"
t0=$(date +%s)
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/b4.db" >/dev/null 2>"$D/b4.err"
tap_is "$?" 0 "backup beside an open write transaction exits 0"
tap_ok "and did not wait for it" test $(($(date +%s) - t0)) -le 3
conf "$D/b4.db" "$D/b4.conf"
stats "$D/b4.conf" "$D/s4b.json"
tap_ok "the uncommitted change is not in the backup" cmp "$D/s4.json" "$D/s4b.json"
printf 'COMMIT;\n' >&3
exec 3>&-
wait "$sql_pid"
stats "$D/live.conf" "$D/s5.json"
tap_is "$(jv records "$D/s5.json")" "$(($(jv records "$D/s4.json") + 1000))" \
    "the transaction was real: committed afterwards"

# 6. Refusals: exit codes and JSON errors.
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/live.db" >/dev/null 2>"$D/e1.err"
tap_is "$?" 4 "backup onto the store itself: exit 4"
tap_is "$(jv error "$D/e1.err")" bad_input "  with a bad_input JSON error"
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/live.db-wal" >/dev/null 2>/dev/null
tap_is "$?" 4 "backup onto the store's -wal: exit 4"
ln -s "$D" "$D/alias"
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/alias/live.db" >/dev/null 2>/dev/null
tap_is "$?" 4 "backup onto the store through a symlinked directory: exit 4"
"$CRMSYNCCTL" -c "$D/live.conf" backup "$D/missing/dir/b.db" >/dev/null 2>"$D/e2.err"
tap_is "$?" 4 "backup into a missing directory: exit 4"
tap_ok "  leaves nothing behind" test ! -e "$D/missing"
"$CRMSYNCCTL" -c "$D/live.conf" backup >/dev/null 2>"$D/e3.err"
tap_is "$?" 1 "backup without FILE: exit 1"
tap_is "$(jv error "$D/e3.err")" usage "  with a usage JSON error"
"$CRMSYNCCTL" -c "$D/live.conf" backup a b >/dev/null 2>/dev/null
tap_is "$?" 1 "backup with two files: exit 1"
tap_ok "live store intact after the refusals" \
    test "$(sqlite3 "$D/live.db" 'PRAGMA quick_check')" = ok
tap_ok "no temporary files left" sh -c "! ls '$D' | grep -q tmp"

# 7. Restore (crmsyncctl(1)): copy in place of a store; a writer opens it.
mkdir -p "$D/restored"
install -m 0660 "$D/b1.db" "$D/restored/crmsync.db"
tap_ok "a writer opens the restored store" "$FILL" "$D/restored/crmsync.db" 0
conf "$D/restored/crmsync.db" "$D/r.conf"
stats "$D/r.conf" "$D/sr.json"
tap_is "$(jv messages "$D/sr.json")" "$(jv messages "$D/s0.json")" \
    "restored store has the backup's messages"
tap_is "$(jv threads "$D/sr.json")" "$(jv threads "$D/s0.json")" \
    "restored store has the backup's threads"

tap_done
