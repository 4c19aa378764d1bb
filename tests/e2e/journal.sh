#!/bin/sh
# journal.sh - nothing recorded is lost, nothing waits on a stuck store (SPEC C6)
#
# Through a real Postfix, with the SQLite store write-locked by another
# process (sqlite3 holding BEGIN IMMEDIATE):
#  1. 40 s of lock, 20 messages one after another: all delivered within a
#     few seconds; every one in the store within seconds of the release,
#     none twice; stats show the journal's depth (from its status file
#     while the store is locked: records growing, breaker_open), then its
#     replay.
#  2. kill -9 of crmsync-milter while the journal holds records, and
#  3. again while it replays: after a restart nothing lost, nothing twice.
#  4. JournalMaxSize reached: mail flows, the overflow is dropped, counted
#     and logged once; what was journaled replays; once the store answers
#     again, messages that find the journal full are stored, not dropped.
#  5. the disk under JournalDir full (a small tmpfs): mail flows, counted.
#  6. a damaged segment (a flipped byte): the good records replay, the bad
#     one is set aside (copied as it was into JournalDir/damaged/), counted
#     and logged once.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
command -v sqlite3 >/dev/null || tap_bail "sqlite3 not installed"
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"
getent group crmsync >/dev/null || groupadd --system crmsync
getent passwd crmsync >/dev/null \
    || useradd --system --gid crmsync --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin crmsync

PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
CONF=$CS_TMP/crmsync.conf
LOG=$CS_TMP/crmsync-milter.log
STORE=$CS_TMP/store
DB=$STORE/crmsync.db
JDIR=$CS_TMP/journal
JFULL=$CS_TMP/journal-tmpfs
SOCK=unix:$CS_TMP/run/crmsync.sock
mkdir -p "$CS_TMP/run" "$STORE" "$CS_TMP/spool" "$CS_TMP/policy" "$JFULL" "$JDIR" \
    "$CS_TMP/journal-small"
chown crmsync:postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
chown crmsync "$CS_TMP/spool" "$JDIR" "$CS_TMP/journal-small"
chown crmsync:crmsync "$STORE" && chmod 2770 "$STORE"
mounted=0
trap 'umount "$JFULL" 2>/dev/null; cs_cleanup' EXIT
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done
# conf JOURNALDIR [JOURNALMAXSIZE]
conf() {
    cat >"$CONF" <<CONF
Socket $SOCK
UserID crmsync
Database $DB
SpoolDir $CS_TMP/spool
PolicyDir $CS_TMP/policy
JournalDir $1
JournalMaxSize ${2:-1G}
StoreWait 200ms
StoreTimeout 3s
Syslog no
LogLevel info
CONF
}
conf "$JDIR"
printf 'User alice\nAddress alice@example.com\n' >"$CS_TMP/policy/users.policy"
# (fd 7 is the lock's fifo: a milter holding it open would keep sqlite3 alive)
start_milter() {
    ms_start "$SOCK" "$LOG" env CRMSYNC_STATUS_INTERVAL=1 "$CRMSYNC_MILTER" -c "$CONF" -f 7>&-
}
sq() { sqlite3 -cmd '.timeout 5000' "$DB" "$1"; }
# tagged TAG: rows stored with subject TAG; distinct TAG: distinct queue ids
tagged() { sq "select count(*) from messages where subject = '$1'"; }
distinct() { sq "select count(distinct queue_id) from messages where subject = '$1'"; }
# send N TAG [SIZE] [SESSIONS]
send() { smtp-source -s "${4:-1}" -m "$1" -l "${3:-2000}" -f customer@outside.example \
    -t alice@example.com -S "$2" "127.0.0.1:$PORT" >>"$CS_TMP/smtp-source.log" 2>&1; }
now_ms() { date +%s%3N; }
# lock: hold the store's write lock from another process until unlock (a
# fifo feeds sqlite3, so no helper process outlives the test)
lock() {
    rm -f "$CS_TMP/lock.fifo" && mkfifo "$CS_TMP/lock.fifo"
    sqlite3 -cmd '.timeout 10000' "$DB" <"$CS_TMP/lock.fifo" >>"$CS_TMP/lock.out" 2>&1 &
    LOCKPID=$!
    exec 7>"$CS_TMP/lock.fifo"
    echo 'BEGIN IMMEDIATE;' >&7
    LOCKED_AT=$(date +%s)
    cs_wait 10 locked
}
unlock() { echo 'COMMIT;' >&7; exec 7>&-; wait "$LOCKPID" 2>/dev/null; }
# locked: another writer cannot get the store's write lock now
locked() { ! sqlite3 "$DB" 'BEGIN IMMEDIATE; ROLLBACK;' 2>/dev/null; }
# jstat KEY: the milter's journal figure in crmsyncctl stats
jstat() {
    "$CRMSYNCCTL" -c "$CONF" stats 2>/dev/null | perl -MJSON::PP -e '
	my $d = decode_json(join "", <STDIN>);
	my ($h) = values %{$d->{milter} || {}};
	my $v = $h && $h->{journal} ? $h->{journal}{$ARGV[0]} : undef;
	print defined $v ? (JSON::PP::is_bool($v) ? ($v ? "true" : "false") : $v) : "";' "$1"
}
jstat_is() { [ "$(jstat "$1")" = "$2" ]; }
logged() { grep -c "$1" "$LOG"; }
total=0
delivered() { total=$((total + $1)); wait_delivered "$DUMP" "$total" "${2:-60}"; }

tap_ok "Postfix and sink up" sh -c ". '$top_srcdir/tests/lib.sh';
    pf_setup '$PF' '$PORT' '$SINK' && sink_start '$SINK' '$DUMP' &&
    pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"
tap_ok "crmsync-milter started" start_milter
send 1 warmup
tap_ok "warm-up delivered" delivered 1
tap_ok "and stored" cs_wait 10 eval '[ "$(tagged warmup)" = 1 ]'

# 1. the store write-locked for 40 s, 20 messages one after another
lock
tap_ok "the store is write-locked by another process" locked
# Twice 10, with crmsyncctl stats looked at in between (not timed).
t0=$(now_ms)
send 10 lock40
tap_ok "10 messages delivered while the store is locked" delivered 10
t1=$(now_ms)
# The status document in the store cannot be written now: stats shows
# the journal from JournalDir's status file, seconds old.
tap_ok "stats while locked: the journal's status from its file" cs_wait 10 jstat_is source file
tap_ok "stats while locked: 10 records waiting" cs_wait 10 jstat_is records 10
tap_is "$(jstat breaker_open)" true "stats while locked: breaker_open"
tap_ok "stats while locked: the status is fresh ($(jstat age_seconds) s old)" \
    test "$(jstat age_seconds)" -le 5
t2=$(now_ms)
send 10 lock40
tap_ok "10 more delivered while the store is locked" delivered 10
t3=$(now_ms)
tap_ok "stats while locked: the records grow to 20" cs_wait 10 jstat_is records 20
tap_is "$(jstat breaker_open)" true "stats while locked: breaker_open still"
took=$((t1 - t0 + t3 - t2))
tap_diag "20 messages one after another took $took ms through Postfix with the store locked"
# One StoreWait in all, not one per message (20 x 200ms = 4 s), nor
# one StoreTimeout per message as before the journal.
tap_ok "all 20 within a few seconds in total ($took ms: one StoreWait, not 20)" \
    test "$took" -le 3000
tap_is "$(tagged lock40)" 0 "none in the store while it is locked"
tap_ok "the journal holds them (a segment in JournalDir)" sh -c "ls '$JDIR'/*.seg"
tap_ok "the breaker was logged once" test "$(logged 'go to the journal')" = 1
# Released 40 s after it was taken.
left=$((40 - ($(date +%s) - LOCKED_AT)))
[ "$left" -gt 0 ] && sleep "$left"
unlock
t2=$(now_ms)
tap_ok "every one in the store after the release" cs_wait 30 eval '[ "$(tagged lock40)" = 20 ]'
t3=$(now_ms)
tap_diag "all 20 stored $((t3 - t2)) ms after the lock was released"
tap_ok "within seconds of the release ($((t3 - t2)) ms)" test $((t3 - t2)) -le 10000
tap_is "$(distinct lock40)" 20 "none twice (20 rows, 20 queue ids)"
tap_ok "stats: the journal is empty again" cs_wait 15 jstat_is records 0
tap_ok "stats: 20 journaled, 20 replayed" \
    eval '[ "$(jstat journaled)" -ge 20 ] && [ "$(jstat replayed)" -ge 20 ]'
tap_diag "journal after phase 1: records=$(jstat records) journaled=$(jstat journaled) replayed=$(jstat replayed) replay_rate=$(jstat replay_rate)/s"
tap_is "$(jstat breaker_open)" false "stats: the breaker closed again"
send 1 after40
tap_ok "delivered after the lock" delivered 1
tap_ok "stored straight away" cs_wait 10 eval '[ "$(tagged after40)" = 1 ]'

# 2. kill -9 while the journal holds records
tap_diag "$(date +%T) phase: # 2. kill -9 while the journal holds records"
lock
tap_ok "the store is write-locked by another process" locked
send 10 kill1
tap_ok "10 delivered while locked" delivered 10
tap_is "$(tagged kill1)" 0 "none stored yet"
ms_kill "$SOCK"
tap_ok "restarted after kill -9, the store still locked" start_milter
tap_ok "it found the 10 records to replay" cs_wait 5 grep -q 'journal .*: 10 record(s) to replay' "$LOG"
unlock
tap_ok "after the release all 10 are stored" cs_wait 30 eval '[ "$(tagged kill1)" = 10 ]'
tap_is "$(distinct kill1)" 10 "none twice"

# 3. kill -9 while the journal replays
tap_diag "$(date +%T) phase: # 3. kill -9 while the journal replays"
N=300
lock
tap_ok "the store is write-locked by another process" locked
send $N kill2 20000 10
tap_ok "$N delivered while locked" delivered $N 120
unlock
# Kill as soon as the first replayed group shows: a poll with no sleep
# (cs_wait's 0.1 s steps let a fast replay of all 300 finish first).
end=$(( $(date +%s) + 30 ))
while [ "$(tagged kill2)" -eq 0 ] && [ "$(date +%s)" -lt "$end" ]; do :; done
ms_kill "$SOCK"
at_kill=$(tagged kill2)
tap_diag "killed with $at_kill of $N replayed"
tap_ok "the kill came during the replay ($at_kill of $N stored)" test "$at_kill" -lt $N
tap_ok "restarted" start_milter
tap_ok "after the restart all $N are stored" cs_wait 60 eval '[ "$(tagged kill2)" = $N ]'
tap_is "$(distinct kill2)" $N "none twice"
tap_is "$(sq 'pragma integrity_check')" ok "the store is intact"
ms_stop "$SOCK"

# 4. JournalMaxSize reached
tap_diag "$(date +%T) phase: # 4. JournalMaxSize reached"
conf "$CS_TMP/journal-small" 1M
tap_ok "restarted with JournalMaxSize 1M (the least)" start_milter
lock
tap_ok "the store is write-locked by another process" locked
send 10 full 300000
tap_ok "10 delivered with the journal full" delivered 10
# The journal stays full (its segment is on disk until the next one) and
# the breaker open until the replay, which retries 1 to 5 s apart, has
# applied it: a message now finds a full journal and a store that
# answers. It goes to the store, never dropped: drops only while the
# store is stuck as well (C6).
unlock
send 5 fullafter 300000
tap_ok "5 delivered after the release, the journal still full" delivered 5
tap_ok "stats: drops counted" cs_wait 15 eval '[ "$(jstat dropped)" -ge 5 ]'
dropped=$(jstat dropped)
# Each one answered is stored or counted as dropped (one the writer held
# when it was found stuck may still land: counted, yet stored once).
tap_ok "what was journaled is stored ($dropped dropped)" \
    cs_wait 30 eval '[ "$(tagged full)" -ge $((10 - dropped)) ]'
tap_diag "while locked: $(tagged full) of 10 stored, $dropped counted as dropped"
tap_is "$(distinct full)" "$(tagged full)" "none twice"
tap_is "$(tagged fullafter)" 5 "the 5 sent after the release are all stored"
tap_ok "no more than the 10 sent while locked were dropped" test "$dropped" -le 10
tap_is "$(logged 'record dropped')" 1 "the drop was logged once, not per message"
ms_stop "$SOCK"

# 5. the disk under JournalDir full
tap_diag "$(date +%T) phase: # 5. the disk under JournalDir full"
if mount -t tmpfs -o size=256k,mode=0700 tmpfs "$JFULL" 2>/dev/null; then
    mounted=1
    chown crmsync "$JFULL"
    conf "$JFULL/journal"
    tap_ok "restarted with JournalDir on a 256K tmpfs" start_milter
    dd if=/dev/zero of="$JFULL/filler" bs=4k >/dev/null 2>&1
    lock
    tap_ok "the store is write-locked by another process" locked
    send 5 diskfull 40000
    tap_ok "5 delivered with the journal's disk full" delivered 5
    rm -f "$JFULL/filler"
    send 1 diskback
    tap_ok "delivered once space is back" delivered 1
    unlock
    # The status reaches the store once it is unlocked. Each of the 5 is
    # dropped (counted) or, when the writer looked busy rather than stuck
    # at that moment (between two failed groups), kept queued and stored
    # late: none is lost, none stored twice, and the full disk did drop.
    tap_ok "stats: each of the 5 dropped or stored late" \
	cs_wait 30 eval '[ $(( $(jstat dropped) + $(tagged diskfull) )) -ge 5 ]' ||
	tap_diag "dropped $(jstat dropped), queued_late $(jstat queued_late), journaled $(jstat journaled), stored $(tagged diskfull); log: $(grep -c 'record dropped' "$LOG") dropped lines"
    tap_ok "stats: drops counted ($(jstat dropped))" test "$(jstat dropped)" -ge 1
    tap_is "$(distinct diskfull)" "$(tagged diskfull)" "disk full: none stored twice"
    tap_like "$(jstat last_error)" 'No space left' "stats: the reason"
    tap_ok "journaled once space came back, then stored" cs_wait 30 eval '[ "$(tagged diskback)" = 1 ]'
    ms_stop "$SOCK"
else
    for d in start locked delivered delivered-after dropped-or-late dropped none-twice reason stored-after; do
	_TAP_N=$((_TAP_N + 1))
	echo "ok $_TAP_N - disk full: $d # SKIP cannot mount a tmpfs here"
    done
fi

# 6. a damaged segment
tap_diag "$(date +%T) phase: # 6. a damaged segment"
conf "$JDIR"
tap_ok "restarted with the first journal" start_milter
lock
tap_ok "the store is write-locked by another process" locked
send 5 damaged
tap_ok "5 delivered while locked" delivered 5
ms_stop "$SOCK"
seg=$(ls "$JDIR"/*.seg | tail -1)
# The second message record's payload: one byte flipped.
off=$(grep -obUa CSJ1 "$seg" | sed -n 3p | cut -d: -f1)
tap_ok "found the second record at byte $off" test -n "$off"
printf 'X' | dd of="$seg" bs=1 seek=$((off + 60)) conv=notrunc 2>/dev/null
unlock
line=$(($(wc -l <"$LOG") + 1))
tap_ok "restarted on the damaged segment" start_milter
tap_ok "the 4 good records replay" cs_wait 30 eval '[ "$(tagged damaged)" = 4 ]'
tap_ok "stats: one damaged record counted" cs_wait 15 jstat_is damaged 1
tap_is "$(tail -n +"$line" "$LOG" | grep -c 'damaged record set aside')" 1 "logged once"
bad=$(ls "$JDIR"/damaged/*.bad 2>/dev/null)
tap_is "$(echo "$bad" | grep -c .)" 1 "the damaged record is kept in JournalDir/damaged/"
tap_is "$(head -c 4 "$bad" 2>/dev/null)" CSJ1 "kept from its header"
tap_is "$(dd if="$bad" bs=1 skip=60 count=1 2>/dev/null)" X "kept as it was, the flipped byte too"
tap_is "$(basename "$bad" .bad)" "$(basename "$seg" .seg)-$off" "named SEQ-OFFSET.bad"
tap_ok "stats: nothing left to replay" cs_wait 15 jstat_is records 0
tap_is "$(sq "select count(*) from messages") " "$(sq "select count(distinct queue_id) from messages") " \
    "no message stored twice in the whole run"
tap_is "$(maillog_milter_warnings "$PF" | grep -v 'Connection refused\|No such file' | head -3)" "" \
    "no milter timeouts or protocol errors in the maillog"
tap_ok "stops cleanly" ms_stop "$SOCK"
tap_done
