#!/bin/sh
# erase-bench.sh - crmsyncctl subject erase on a large store (SPEC R2)
#
# SYNOPSIS
#	tests/bench/erase-bench.sh [--messages N] [--mailboxes M]
#
# DESCRIPTION
#	Builds ctl-bench's store (tests/bench/ctl-gen bench: N messages,
#	default 100000, over M mailboxes, default 100; every message is from
#	or to one of 2000 client addresses @client.example, so the backend's
#	"@domain" filter passes every row and erase reads and parses them
#	all: the worst case), then with a writer recording mail as the
#	milter does (tests/ops/storefill, two threads, a message each 2 ms
#	per thread) measures:
#	  writer rate idle	records/s over 10 s with nothing else running
#	  export, erase		wall time of crmsyncctl subject export (ctl-gen
#				shares 8 raw messages among all copies, so the
#				mbox holds few distinct messages) and
#				subject erase of c5@client.example (N/2000
#				copies, about 50 at N=100000)
#	  writer rate during	records/s while the erase ran
#	  purge			crmsyncctl mailbox purge --user u001 (N/M copies)
#				and the writer's rate meanwhile
#	Exits 1 when the erase or the purge deleted nothing or did not
#	scrub (at 2,000 messages the address has no copy yet).
#	Binaries come from $top_builddir (default: the source tree).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
CTL=$top_builddir/ctl/crmsyncctl
GEN=$top_builddir/tests/bench/ctl-gen
FILL=$top_builddir/tests/ops/storefill
JGET=$top_builddir/tests/jget
N=100000 M=100
while [ $# -gt 0 ]; do
    case $1 in
    --messages) N=$2; shift 2 ;;
    --mailboxes) M=$2; shift 2 ;;
    *) echo "usage: $0 [--messages N] [--mailboxes M]" >&2; exit 1 ;;
    esac
done
for b in "$CTL" "$GEN" "$FILL" "$JGET"; do
    [ -x "$b" ] || { echo "$0: $b not built (make -C tests bench/ctl-gen ops/storefill jget)" >&2; exit 1; }
done
D=$(mktemp -d "${TMPDIR:-/tmp}/erase-bench.XXXXXX") || exit 1
trap 'kill "$fill" 2>/dev/null; rm -rf "$D"' EXIT
mkdir -p "$D/pol" "$D/spool"
printf 'Database %s\nPolicyDir %s\nSpoolDir %s\nSyslog no\n' "$D/s.db" "$D/pol" "$D/spool" >"$D/c.conf"
ms() { echo $(($(date +%s%N) / 1000000)); }
count() { "$CTL" -c "$D/c.conf" stats | "$JGET" records; }

"$GEN" bench "$D/s.db" "$N" "$M" >/dev/null || exit 1
echo "store: $N messages, $M mailboxes, $(du -m "$D/s.db" | cut -f1) MB"
TMPDIR=$D/spool "$FILL" -s 5000000 "$D/s.db" 0 forever >"$D/fill.out" 2>"$D/fill.err" </dev/null &
fill=$!
sleep 2
a=$(count); sleep 10; b=$(count)
idle=$(( (b - a) / 10 ))
echo "writer rate idle: $idle records/s"
t0=$(ms)
"$CTL" -c "$D/c.conf" subject export c5@client.example --out "$D/x.mbox" >"$D/x.json" || exit 1
t1=$(ms)
echo "export: $("$JGET" messages <"$D/x.json") messages in $((t1 - t0)) ms"
a=$(count); t0=$(ms)
"$CTL" -c "$D/c.conf" subject erase c5@client.example >"$D/e.json" || exit 1
t1=$(ms); b=$(count)
el=$((t1 - t0))
echo "erase: $("$JGET" messages_deleted <"$D/e.json") copies, $("$JGET" threads_deleted <"$D/e.json") threads in $el ms, scrubbed $("$JGET" scrubbed <"$D/e.json")"
[ "$el" -gt 0 ] && echo "writer rate during erase: $(( (b - a) * 1000 / el )) records/s"
# A bigger deletion: one whole mailbox (N/M copies), same guarantee.
a=$(count); t0=$(ms)
"$CTL" -c "$D/c.conf" mailbox purge --user u001 >"$D/p.json" || exit 1
t1=$(ms); b=$(count)
el=$((t1 - t0))
echo "purge u001: $("$JGET" messages_deleted <"$D/p.json") copies in $el ms, scrubbed $("$JGET" scrubbed <"$D/p.json")"
[ "$el" -gt 0 ] && echo "writer rate during purge: $(( (b - a) * 1000 / el )) records/s"
kill "$fill"; wait "$fill" 2>/dev/null
# A run that erased nothing, or left deleted bytes behind, measured nothing.
for f in e p; do
    if [ "$("$JGET" messages_deleted <"$D/$f.json")" -lt 1 ] \
       || [ "$("$JGET" scrubbed <"$D/$f.json")" != true ]; then
	echo "$0: invalid run: $f deleted nothing or was not scrubbed" >&2
	exit 1
    fi
done
