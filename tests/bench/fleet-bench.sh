#!/bin/sh
# fleet-bench.sh - crmsync on PostgreSQL: one host vs two, and vs SQLite (F1)
#
# SYNOPSIS
#	tests/bench/fleet-bench.sh [-m MESSAGES] [-s SESSIONS] [-l BYTES] [-r ROUNDS]
#
# DESCRIPTION
#	Side by side in one run, each round in turn (drift falls on all):
#	  sqlite1  one Postfix+crmsync host, SQLite store (WAL, synchronous=FULL);
#	  pg1      one host, PostgreSQL store (synchronous_commit on);
#	  pg2      two hosts into the same PostgreSQL database, smtp-source
#	           driving both at once with half the messages each.
#	PostgreSQL is a private cluster (tests/pg/pgcluster.sh) on loopback,
#	the same machine: it competes for the CPUs with Postfix. msg/s is
#	messages over the wall time of the smtp-source run(s); a run counts
#	only when the store's "records" counter grew by the messages sent.
#	Each run also prints the machine's CPU milliseconds per message
#	(busy time from /proc/stat over the run, every process: Postfix,
#	crmsync-milter, PostgreSQL, smtp-source) and the part of it spent
#	in PostgreSQL's processes: on a machine whose CPUs are all busy,
#	msg/s is CPUs / CPU per message, so two hosts sharing those CPUs
#	cannot beat one; the CPU figures show where the time goes.
#	Defaults are small (200 messages, 10 sessions, 2 rounds): a smoke
#	run, not a measurement; raise -m for figures, e.g. the documented
#	run -m 2000 -s 20 -r 3.
#	Needs root, Postfix, smtp-source, PostgreSQL, the libpq backend and
#	tests/jget (make check builds it).
#
# EXIT STATUS
#	0 when every configuration had a valid run, 1 otherwise.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

M=200 S=10 L=2000 R=2
while getopts m:s:l:r: o; do
    case $o in
    m) M=$OPTARG ;; s) S=$OPTARG ;; l) L=$OPTARG ;; r) R=$OPTARG ;;
    *) echo "usage: $0 [-m MESSAGES] [-s SESSIONS] [-l BYTES] [-r ROUNDS]" >&2; exit 1 ;;
    esac
done
cs_find_bins
JGET=$top_builddir/tests/jget
[ -x "$JGET" ] || { echo "fleet-bench: $JGET not built (make -C tests jget)" >&2; exit 1; }
CLUSTER=$top_srcdir/tests/pg/pgcluster.sh
[ "$(id -u)" = 0 ] || { echo "fleet-bench: needs root" >&2; exit 1; }
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
for b in postfix smtp-source smtp-sink psql; do
    command -v $b >/dev/null 2>&1 || { echo "fleet-bench: $b missing" >&2; exit 1; }
done
grep -q '^#define HAVE_LIBPQ 1' "$top_builddir/config.h" \
    || { echo "fleet-bench: PostgreSQL backend not built" >&2; exit 1; }
cs_init || exit 1
PGDIR=$CS_TMP/pg
PGPORT=$(cs_free_port) && SINK=$(cs_free_port) && PA=$(cs_free_port) && PB=$(cs_free_port) \
    && PC=$(cs_free_port) || exit 1
pg_down() { sh "$CLUSTER" stop "$PGDIR" >/dev/null 2>&1; }
trap 'cs_cleanup; pg_down' EXIT
sh "$CLUSTER" start "$PGDIR" "$PGPORT" || exit 1
sh "$CLUSTER" createdb "$PGDIR" "$PGPORT" bench || exit 1
URI=postgresql://postgres@127.0.0.1:$PGPORT/bench
mkdir -p "$CS_TMP/policy" "$CS_TMP/run" "$CS_TMP/store"
chgrp postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
printf 'User u\nAddress u@example.com\n' >"$CS_TMP/policy/users.policy"
sink_start "$SINK" "$CS_TMP/sink/dump" >/dev/null || exit 1

# host NAME PORT DATABASE - a Postfix instance and its crmsync-milter
host() {
    cat >"$CS_TMP/$1.conf" <<CONF
Socket unix:$CS_TMP/run/$1.sock
UMask 007
Database $3
SpoolDir $CS_TMP/spool-$1
PolicyDir $CS_TMP/policy
Syslog no
LogLevel warning
CONF
    mkdir -p "$CS_TMP/spool-$1"
    pf_setup "$CS_TMP/pf-$1" "$2" "$SINK" >/dev/null &&
	pf_set_milter "$CS_TMP/pf-$1" "unix:$CS_TMP/run/$1.sock" >/dev/null &&
	pf_start "$CS_TMP/pf-$1" >/dev/null &&
	ms_start "unix:$CS_TMP/run/$1.sock" "$CS_TMP/$1.log" "$CRMSYNC_MILTER" -c "$CS_TMP/$1.conf" -f
}
host a "$PA" "$URI" || exit 1
host b "$PB" "$URI" || exit 1
host c "$PC" "$CS_TMP/store/crmsync.db" || exit 1

# records CONF - the store's lifetime records counter
records() {
    "$CRMSYNCCTL" -c "$1" stats 2>/dev/null | "$JGET" records 2>/dev/null || echo 0
}

# now_ms - a monotonic-enough wall clock in ms
now_ms() { perl -MTime::HiRes=time -e 'printf "%d\n", time() * 1000'; }

# busy_ticks - the machine's busy CPU time so far, in clock ticks
busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# pg_ticks - CPU ticks used so far by PostgreSQL's live processes
pg_ticks() {
    for p in $(pgrep -x postgres); do
	# fields after the ")" of comm: utime is the 12th, stime the 13th
	sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
    done | awk '{ t += $12 + $13 } END { print t + 0 }'
}
HZ=$(getconf CLK_TCK)

# src PORT N TAG - one smtp-source run
src() {
    smtp-source -s "$S" -m "$2" -l "$L" -f bench@outside.example -t u@example.com \
	-S "fleet bench $3" "127.0.0.1:$1" >>"$CS_TMP/smtp-source.log" 2>&1
}

# run CONFIG ROUND - one measured run; prints "CONFIG msg/s valid"
run() {
    case $1 in
    sqlite1) conf=$CS_TMP/c.conf ;;
    *) conf=$CS_TMP/a.conf ;;
    esac
    before=$(records "$conf")
    b0=$(busy_ticks) g0=$(pg_ticks)
    t0=$(now_ms)
    case $1 in
    sqlite1) src "$PC" "$M" "$1-$2" ;;
    pg1) src "$PA" "$M" "$1-$2" ;;
    pg2) src "$PA" $((M / 2)) "$1-$2a" & p1=$!
	 src "$PB" $((M - M / 2)) "$1-$2b" & p2=$!
	 wait $p1 $p2 ;;
    esac
    t1=$(now_ms)
    b1=$(busy_ticks) g1=$(pg_ticks)
    after=$(records "$conf")
    valid=yes
    [ $((after - before)) -ge "$M" ] || valid="no($((after - before))/$M)"
    awk -v c="$1" -v m="$M" -v ms=$((t1 - t0)) -v v="$valid" -v hz="$HZ" \
	-v b=$((b1 - b0)) -v g=$((g1 - g0)) 'BEGIN {
	    printf "%s %.1f %s cpu_ms/msg %.2f pg_cpu_ms/msg %.2f\n", c,
		m * 1000 / (ms ? ms : 1), v, b * 1000 / hz / m, g * 1000 / hz / m }'
}

echo "# fleet-bench: $M messages of $L bytes, $S sessions, $R rounds; host $(nproc) CPUs"
: >"$CS_TMP/results"
r=1
while [ $r -le "$R" ]; do
    for c in sqlite1 pg1 pg2; do
	run "$c" "$r" | tee -a "$CS_TMP/results"
	wait_queue_empty "$CS_TMP/pf-a" 60 >/dev/null 2>&1
	wait_queue_empty "$CS_TMP/pf-b" 60 >/dev/null 2>&1
	wait_queue_empty "$CS_TMP/pf-c" 60 >/dev/null 2>&1
    done
    r=$((r + 1))
done
echo "# medians over valid runs: msg/s, machine CPU ms/msg, PostgreSQL CPU ms/msg"
rc=0
for c in sqlite1 pg1 pg2; do
    awk -v c="$c" '$1 == c && $3 == "yes" { print $2, $5, $7 }' "$CS_TMP/results" |
	awk -v c="$c" '
	function med(s,   a, n, i, j, t) {
	    n = split(s, a, " ")
	    for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	    return a[int((n + 1) / 2)]
	}
	{ r = r " " $1; u = u " " $2; g = g " " $3; n++ }
	END {
	    if (!n) { printf "%-8s none\n", c; exit 1 }
	    printf "%-8s %8s msg/s %6s cpu_ms/msg %6s pg_cpu_ms/msg\n", c, med(r), med(u), med(g)
	}' || rc=1
done
for h in a b c; do ms_stop "unix:$CS_TMP/run/$h.sock" >/dev/null 2>&1; done
exit $rc
