#!/bin/sh
# ctl-bench.sh - crmsyncctl read latency on a large store (SPEC X1)
#
# SYNOPSIS
#	tests/bench/ctl-bench.sh [--messages N] [--mailboxes M] [--runs K] [--keep]
#		[--postgresql]
#
# DESCRIPTION
#	Builds a store of N messages (default 20000, the CI smoke size) over
#	M mailboxes (default 100) with tests/bench/ctl-gen (direct SQL in one
#	transaction, shaped like the store's rows: threads of 4 messages,
#	2000 CRM persons, 500 deals, a third of the threads shared), then
#	measures three reads:
#	  mailbox --as u002 --limit 50
#	  deal d1 --as u002 --limit 50	(d1: about N/80 linked threads)
#	  thread t1 --as u001		(4 messages with a MIME attachment each)
#	and prints a table of p50/p99 in milliseconds:
#	  in-process	the store call alone, K calls on one open store
#			(ctl-gen time): SQL, JSON building, MIME parsing
#	  ctl timing	the same call timed inside crmsyncctl (CRMSYNC_TIMING=1;
#			mailbox is not instrumented: "-")
#	  command	the whole crmsyncctl process, start to exit (fork, exec,
#			config, store open, query, JSON output)
#	then the EXPLAIN QUERY PLAN lines of the three queries.
#
#	--postgresql measures the same store on PostgreSQL: a private
#	cluster (tests/pg/pgcluster.sh, loopback, in the run's temporary
#	directory; needs root, psql and sqlite3) gets a copy of the
#	generated SQLite store (tests/bench/ctl-pg-load.sh), and the three
#	reads run against it; the plans printed are PostgreSQL's own
#	(auto_explain, EXPLAIN ANALYZE of every statement of one deal page
#	and one mailbox page, the store's SQL as it runs).
#
#	The long run the project quotes is
#	  tests/bench/ctl-bench.sh --messages 1000000 --mailboxes 100
#	(about 1.5 GB of SQLite pages in /tmp, a minute to generate).
#
#	Binaries come from $top_builddir (default: the source tree) or
#	CRMSYNCCTL and CTL_GEN.

set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CRMSYNCCTL:=$top_builddir/ctl/crmsyncctl}"
: "${CTL_GEN:=$top_builddir/tests/bench/ctl-gen}"

N=20000 M=100 K=200 KEEP=0 PG=0
while [ $# -gt 0 ]; do
    case $1 in
    --messages) N=$2; shift 2 ;;
    --mailboxes) M=$2; shift 2 ;;
    --runs) K=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --postgresql) PG=1; shift ;;
    *) echo "usage: $0 [--messages N] [--mailboxes M] [--runs K] [--keep] [--postgresql]" >&2
	exit 1 ;;
    esac
done
for b in "$CRMSYNCCTL" "$CTL_GEN"; do
    [ -x "$b" ] || { echo "$0: $b not built (make check builds ctl-gen)" >&2; exit 1; }
done
if [ "$PG" = 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "$0: --postgresql needs root (initdb runs as postgres)" >&2; exit 1; }
    for b in psql sqlite3; do
	command -v $b >/dev/null 2>&1 || { echo "$0: --postgresql needs $b" >&2; exit 1; }
    done
    grep -q '^#define HAVE_LIBPQ 1' "$top_builddir/config.h" 2>/dev/null \
	|| { echo "$0: the PostgreSQL backend is not built (libpq-dev)" >&2; exit 1; }
fi
. "$top_srcdir/tests/lib.sh"
. "$here/benchlib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-ctlbench.XXXXXX") || exit 1
PGDIR=$TMP/pg
# The cluster stops even with --keep: its files stay, its server does not.
cleanup() {
    bench_store_stop "$TMP"
    [ "$KEEP" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
CONF=$TMP/crmsync.conf
mkdir -p "$TMP/policy"
ms() {
    bench_ms
}
bench_store "$TMP" "$N" "$M" "$PG" || exit 1
printf 'Database %s\nPolicyDir %s\nSyslog no\n' "$STORE" "$TMP/policy" >"$CONF"

# pct FILE - "p50 p99" of a column of numbers
pct() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "- -"; exit }
	i = int(NR * 0.99); if (i < 1) i = 1; if (i > NR) i = NR
	printf "%.3f %.3f\n", v[int((NR + 1) / 2)], v[i] }'
}

# runs NAME CMD... - K whole-command times and the CRMSYNC_TIMING values
runs() {
    _name=$1
    shift
    : >"$TMP/$_name.cmd"
    : >"$TMP/$_name.in"
    _i=0
    while [ "$_i" -lt "$K" ]; do
	_a=$(ms)
	CRMSYNC_TIMING=1 "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
	_b=$(ms)
	echo "$_a $_b" | awk '{ printf "%.3f\n", ($2 - $1) / 1e6 }' >>"$TMP/$_name.cmd"
	sed -n 's/.*"timing_ms": \([0-9.]*\).*/\1/p' "$TMP/err" >>"$TMP/$_name.in"
	_i=$((_i + 1))
    done
}

ctl() {
    "$CRMSYNCCTL" -c "$CONF" "$@"
}

runs mailbox ctl mailbox --as "$user" --limit 50
runs deal ctl deal "$deal" --as "$user" --limit 50
runs thread ctl thread "$thread" --as "$thread_owner"
"$CTL_GEN" time "$STORE" "$user" "$deal" "$thread" "$thread_owner" "$K" >"$TMP/inproc" \
    || exit 1

printf '\n%-28s %21s %21s %21s\n' "query ($K runs, ms)" "in-process p50/p99" \
    "ctl timing p50/p99" "command p50/p99"
for q in mailbox deal thread; do
    case $q in
    mailbox) label="mailbox --limit 50" ;;
    deal) label="deal $deal --limit 50" ;;
    thread) label="thread $thread (4 msgs)" ;;
    esac
    inp=$(awk -v q="$q" '$1 == q { print $2 "/" $3 }' "$TMP/inproc")
    set -- $(pct "$TMP/$q.in")
    ctm="$1/$2"
    [ "$ctm" = "-/-" ] && ctm="-"
    set -- $(pct "$TMP/$q.cmd")
    printf '%-28s %21s %21s %21s\n' "$label" "$inp" "$ctm" "$1/$2"
done
if [ "$PG" = 1 ]; then
    # Each statement of one page as the store runs it, with its plan.
    printf '\nquery plans (PostgreSQL auto_explain, EXPLAIN ANALYZE):\n'
    start=$(wc -l <"$PGDIR/server.log")
    explain="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0"
    explain="$explain -c auto_explain.log_analyze=on"
    PGOPTIONS=$explain ctl deal "$deal" --as "$user" --limit 50 >/dev/null
    PGOPTIONS=$explain ctl mailbox --as "$user" --limit 50 >/dev/null
    # The store's statements only: not its session set-up.
    tail -n +"$((start + 1))" "$PGDIR/server.log" | awk '
	/ LOG:  duration: .* plan:/ { show = 0; next }
	/^\tQuery Text: / { show = $0 !~ /set_config|pg_catalog|schema_version/
	    if (show) print "  " substr($0, 2, 150) (length($0) > 151 ? " ..." : ""); next }
	show && NF { sub(/^\t/, "  "); print }'
else
    printf '\nquery plans (EXPLAIN QUERY PLAN):\n'
    "$CTL_GEN" plan "$DB"
fi
