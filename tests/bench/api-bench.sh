#!/bin/sh
# api-bench.sh - crmsync-api latency and throughput with wrk (SPEC X5)
#
# SYNOPSIS
#	tests/bench/api-bench.sh [--messages N] [--mailboxes M] [--runs K]
#		[--duration S] [--connections C] [--keep] [--postgresql]
#
# DESCRIPTION
#	Builds ctl-bench's store (tests/bench/ctl-gen bench: N messages,
#	default 20000, over M mailboxes, default 100; threads of 4 messages,
#	500 deals, a third of the threads shared), writes a policy naming
#	its users (R3), starts crmsync-api on loopback TCP (LogLevel info:
#	one access-log line per request, as in production), and measures
#	with wrk (keep-alive HTTP/1.1):
#	  latency, one connection, S seconds each (default 10), wrk's
#	  p50/p99 of
#	    GET /v1/mailbox?limit=50		(as u002)
#	    GET /v1/deals/d1/threads?limit=50	(as u002; d1: about N/80 threads)
#	    GET /v1/threads/t1			(as u001; 4 messages)
#	  throughput, C connections (default 32) on 2 wrk threads, S seconds:
#	    requests/s of the same three
#	side by side with K runs (default 200) of the same reads through
#	crmsyncctl, whole command (process start to exit), in the same run.
#	Every wrk run must answer 2xx only: a non-2xx answer or a socket
#	error fails the benchmark.
#
#	--postgresql runs the same against a copy of the store in a private
#	PostgreSQL cluster on loopback (as tests/bench/ctl-bench.sh
#	--postgresql: root, psql and sqlite3 needed).
#
#	The client shares the machine with the server: on this 2-core
#	machine wrk takes a part of the CPU that the server would otherwise
#	have.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CRMSYNCCTL:=$top_builddir/ctl/crmsyncctl}"
: "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
: "${CTL_GEN:=$top_builddir/tests/bench/ctl-gen}"

N=20000 M=100 K=200 D=10 C=32 KEEP=0 PG=0
while [ $# -gt 0 ]; do
    case $1 in
    --messages) N=$2; shift 2 ;;
    --mailboxes) M=$2; shift 2 ;;
    --runs) K=$2; shift 2 ;;
    --duration) D=$2; shift 2 ;;
    --connections) C=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --postgresql) PG=1; shift ;;
    *) echo "usage: $0 [--messages N] [--mailboxes M] [--runs K] [--duration S] [--connections C] [--keep] [--postgresql]" >&2
	exit 1 ;;
    esac
done
for b in "$CRMSYNCCTL" "$CRMSYNC_API" "$CTL_GEN"; do
    [ -x "$b" ] || { echo "$0: $b not built (make check builds ctl-gen)" >&2; exit 1; }
done
command -v wrk >/dev/null 2>&1 || { echo "$0: wrk not installed (apt-get install wrk)" >&2; exit 1; }
. "$top_srcdir/tests/lib.sh"

if [ "$PG" = 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "$0: --postgresql needs root (initdb runs as postgres)" >&2; exit 1; }
    for b in psql sqlite3; do
	command -v $b >/dev/null 2>&1 || { echo "$0: --postgresql needs $b" >&2; exit 1; }
    done
fi
. "$here/benchlib.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-apibench.XXXXXX") || exit 1
cleanup() {
    bench_api_stop
    bench_store_stop "$TMP"
    [ "$KEEP" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ms() {
    bench_ms
}
bench_store "$TMP" "$N" "$M" "$PG" || exit 1
bench_policy "$TMP" "$M" || exit 1
bench_api_start "$TMP" "$STORE" || exit 1
CONF=$API_CONF

# tomsec VALUE - wrk's "1.23ms", "850.00us" or "1.02s" in milliseconds
tomsec() {
    echo "$1" | awk '/us$/ { printf "%.3f", $1 / 1000; next }
	/ms$/ { printf "%.3f", $1 + 0; next } /s$/ { printf "%.3f", $1 * 1000; next }
	{ print "-" }'
}

# bench NAME CONNS THREADS AS PATH - wrk; NAME.out kept; fails on non-2xx
bench() {
    wrk -t "$3" -c "$2" -d "${D}s" --latency -H "Authorization: Bearer $TOKEN" \
	-H "Crmsync-As: $4" "$URL$5" >"$TMP/$1.out" 2>&1 || { cat "$TMP/$1.out" >&2; exit 1; }
    if grep -Eq 'Non-2xx|Socket errors' "$TMP/$1.out"; then
	echo "$0: $1: errors:" >&2
	cat "$TMP/$1.out" >&2
	exit 1
    fi
}

# lat NAME - "p50 p99" in ms from a wrk --latency output
lat() {
    echo "$(tomsec "$(awk '$1 == "50%" { print $2 }' "$TMP/$1.out")")" \
	"$(tomsec "$(awk '$1 == "99%" { print $2 }' "$TMP/$1.out")")"
}

# rps NAME - requests/s
rps() {
    awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$TMP/$1.out"
}

# pct FILE - "p50 p99" of a column of numbers
pct() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "- -"; exit }
	i = int(NR * 0.99); if (i < 1) i = 1; if (i > NR) i = NR
	printf "%.3f %.3f\n", v[int((NR + 1) / 2)], v[i] }'
}

# runs NAME CMD... - K whole-command times of crmsyncctl
runs() {
    _name=$1
    shift
    : >"$TMP/$_name.cmd"
    _i=0
    while [ "$_i" -lt "$K" ]; do
	_a=$(ms)
	"$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
	_b=$(ms)
	echo "$_a $_b" | awk '{ printf "%.3f\n", ($2 - $1) / 1e6 }' >>"$TMP/$_name.cmd"
	_i=$((_i + 1))
    done
}

ctl() {
    "$CRMSYNCCTL" -c "$CONF" "$@"
}

# The same answer both ways, or the comparison means nothing.
curl -s -H "Authorization: Bearer $TOKEN" -H "Crmsync-As: $user" \
    "$URL/v1/deals/$deal/threads?limit=50" >"$TMP/api.body"
ctl deal "$deal" --as "$user" --limit 50 >"$TMP/ctl.body"
cmp -s "$TMP/api.body" "$TMP/ctl.body" || { echo "$0: API and crmsyncctl answers differ" >&2; exit 1; }

bench mailbox1 1 1 "$user" "/v1/mailbox?limit=50"
bench deal1 1 1 "$user" "/v1/deals/$deal/threads?limit=50"
bench thread1 1 1 "$thread_owner" "/v1/threads/$thread"
bench mailboxC "$C" 2 "$user" "/v1/mailbox?limit=50"
bench dealC "$C" 2 "$user" "/v1/deals/$deal/threads?limit=50"
bench threadC "$C" 2 "$thread_owner" "/v1/threads/$thread"
runs mailbox ctl mailbox --as "$user" --limit 50
runs deal ctl deal "$deal" --as "$user" --limit 50
runs thread ctl thread "$thread" --as "$thread_owner"

printf '\n%-30s %22s %22s %14s\n' "read (ms)" "API p50/p99 (1 conn)" "crmsyncctl p50/p99" \
    "API req/s ($C)"
for q in mailbox deal thread; do
    case $q in
    mailbox) label="mailbox --limit 50" ;;
    deal) label="deal $deal --limit 50" ;;
    thread) label="thread $thread (4 msgs)" ;;
    esac
    set -- $(lat "${q}1")
    a="$1/$2"
    set -- $(pct "$TMP/$q.cmd")
    printf '%-30s %22s %22s %14s\n' "$label" "$a" "$1/$2" "$(rps "${q}C")"
done
printf '\n(wrk %s s per row and connection count; crmsyncctl %s runs, whole command;\n' "$D" "$K"
printf ' %s access-log lines written)\n' "$(grep -c ' api: ' "$TMP/api.log")"
