#!/bin/sh
# store-bench.sh - the store's write path alone: CPU and bytes written per message
#
# SYNOPSIS
#	tests/bench/store-bench.sh [-n MESSAGES] [-r ROUNDS] [-k "COPIES..."]
#				   [--compare BIN]
#
# DESCRIPTION
#	Runs tests/bench/store-bench (see store-bench.c) on a fresh store in
#	$TMPDIR for each COPIES (default "1 5": postfix-bench's 20:4k:1 and
#	20:4k:5 copies, 20 threads, 1,000 users), ROUNDS times (default 3),
#	MESSAGES each (default 2000). --compare BIN adds runs of another
#	build of store-bench, interleaved with this one's (a before/after
#	of an edit). Prints each run, then per binary and COPIES the median
#	CPU ms per message and KB written per message (WAL and checkpoints:
#	how many pages a record dirties). No root, no Postfix: seconds.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
N=2000 R=3 K="1 5" CMP=
while [ $# -gt 0 ]; do
    case "$1" in
    -n) N=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    -k) K=$2; shift 2 ;;
    --compare) CMP=$2; shift 2 ;;
    *) echo "usage: store-bench.sh [-n N] [-r ROUNDS] [-k \"COPIES...\"] [--compare BIN]" >&2
	exit 1 ;;
    esac
done
BIN=$top_builddir/tests/bench/store-bench
[ -x "$BIN" ] || { echo "store-bench.sh: $BIN not built (make -C tests bench/store-bench)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/store-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
: >"$TMP/runs"
r=1
while [ "$r" -le "$R" ]; do
    for k in $K; do
	for b in this ${CMP:+compare}; do
	    exe=$BIN
	    [ "$b" = compare ] && exe=$CMP
	    rm -rf "$TMP/s" && mkdir "$TMP/s" || exit 1
	    line=$("$exe" "$TMP/s" "$N" "$k" 2>/dev/null) || { echo "store-bench.sh: $b run failed" >&2; exit 1; }
	    echo "$b $line" | tee -a "$TMP/runs"
	done
    done
    r=$((r + 1))
done
# median of field NAME's values over the runs of one binary and COPIES
awk '{ for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
       key = $1 " copies " v["copies"]
       cpu[key] = cpu[key] " " v["cpu_ms_per_msg"]; kb[key] = kb[key] " " v["written_kb_per_msg"] }
     function med(s,   a, n, i, j, t) {
       n = split(s, a, " ")
       for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
       return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
     END { for (k in cpu) printf "median %s: cpu_ms_per_msg %s written_kb_per_msg %s\n", k, med(cpu[k]), med(kb[k]) }' \
    "$TMP/runs" | sort
