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
#	Defaults are small (200 messages, 10 sessions, 2 rounds): a smoke
#	run, not a measurement; raise -m for figures.
#	Needs root, Postfix, smtp-source, PostgreSQL and the libpq backend.

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
    "$CRMSYNCCTL" -c "$1" stats 2>/dev/null | "$top_builddir/tests/jget" records 2>/dev/null || echo 0
}

# now_ms - a monotonic-enough wall clock in ms
now_ms() { perl -MTime::HiRes=time -e 'printf "%d\n", time() * 1000'; }

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
    t0=$(now_ms)
    case $1 in
    sqlite1) src "$PC" "$M" "$1-$2" ;;
    pg1) src "$PA" "$M" "$1-$2" ;;
    pg2) src "$PA" $((M / 2)) "$1-$2a" & p1=$!
	 src "$PB" $((M - M / 2)) "$1-$2b" & p2=$!
	 wait $p1 $p2 ;;
    esac
    t1=$(now_ms)
    after=$(records "$conf")
    valid=yes
    [ $((after - before)) -ge "$M" ] || valid="no($((after - before))/$M)"
    echo "$1 $(awk -v m="$M" -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", m * 1000 / (ms ? ms : 1) }') $valid"
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
echo "# median msg/s (valid runs only):"
for c in sqlite1 pg1 pg2; do
    awk -v c="$c" '$1 == c && $3 == "yes" { print $2 }' "$CS_TMP/results" | sort -n |
	awk -v c="$c" '{ v[NR] = $1 } END { printf "%-8s %s\n", c, NR ? v[int((NR + 1) / 2)] : "none" }'
done
for h in a b c; do ms_stop "unix:$CS_TMP/run/$h.sock" >/dev/null 2>&1; done
