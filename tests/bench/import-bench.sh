#!/bin/sh
# import-bench.sh - crmsyncctl import speed and peak memory (SPEC X4)
#
# SYNOPSIS
#	tests/bench/import-bench.sh [--messages N] [--mbox] [--keep]
#
# DESCRIPTION
#	Generates an N-message Maildir (default 100000; CI smoke runs 2000)
#	for one user, all within the Window: an INBOX and two folders,
#	bodies of 1 to 6 KB, one message in four a reply to an earlier one.
#	Then times, with /usr/bin/time -v, a first import (everything
#	stored, the crash-safe store: WAL, synchronous=FULL; default --jobs:
#	the main thread parses and submits, the store's writer commits bulk
#	groups of up to 512 records, one fsync each), a second import of
#	the same Maildir (everything a duplicate, T2), a dry run, and a
#	first import again with --jobs 1 (the inline store, one commit and
#	fsync per message), and prints messages/second and peak RSS for
#	each, and the first import's commit groups. --mbox reads the same
#	messages from one mbox file instead. No root, no Postfix. Needs
#	perl and ctl/crmsyncctl built; the store is on $TMPDIR.
#	CRMSYNCCTL names another crmsyncctl to measure (an older build).
#
#	Peak RSS should not grow with N (the readers stream one message at
#	a time): compare a run at 2000 with one at 100000.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
N=100000
MBOX=0
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --messages|-n) N=$2; shift 2 ;;
    --mbox) MBOX=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: import-bench.sh [--messages N] [--mbox] [--keep]" >&2; exit 1 ;;
    esac
done
CTL=${CRMSYNCCTL:-$top_builddir/ctl/crmsyncctl}
[ -x "$CTL" ] || { echo "import-bench.sh: $CTL not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "import-bench.sh: needs /usr/bin/time (GNU time)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/import-bench.XXXXXX") || exit 1
if [ "$KEEP" = 1 ]; then
    echo "# kept $TMP" >&2
else
    trap 'rm -rf "$TMP"' EXIT
fi
mkdir -p "$TMP/policy" "$TMP/store"
cat >"$TMP/crmsync.conf" <<CONF
Database $TMP/store/crmsync.db
PolicyDir $TMP/policy
SpoolDir $TMP
InternalDomains example.com
Syslog no
CONF
printf 'User alice\nAddress alice@example.com\nWindow 3650d\n' >"$TMP/policy/users.policy"

# gen - N messages, dated within the last 300 days, threads of a few messages
perl -e '
use strict;
my ($root, $n, $mbox) = @ARGV;
my @folders = ("", ".Sales", ".Sales.Q4");
unless ($mbox) {
    mkdir "$root/Maildir";
    for my $f (@folders) { mkdir "$root/Maildir/$f"; mkdir "$root/Maildir/$f/$_" for qw(cur new tmp) }
}
my $now = time;
my @words = qw(offer price quote meeting contract renewal invoice discount delivery schedule
    proposal budget licence support upgrade volume order terms review signature);
my @days = qw(Sun Mon Tue Wed Thu Fri Sat);
my @mons = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
srand(42);
my $fh;
open($fh, ">", "$root/mbox") or die if $mbox;
for my $i (1 .. $n) {
    my $t = $now - int(rand(300 * 86400));
    my @g = gmtime($t);
    my $date = sprintf("%s, %02d %s %d %02d:%02d:%02d +0000", $days[$g[6]], $g[3], $mons[$g[4]],
	$g[5] + 1900, $g[2], $g[1], $g[0]);
    my $c = 1 + int(rand(200));
    my $out = ($i % 3 == 0);
    my $from = $out ? "Alice <alice\@example.com>" : "Customer $c <c$c\@client$c.example>";
    my $to = $out ? "c$c\@client$c.example" : "alice\@example.com";
    my $subj = join(" ", map { $words[int(rand(@words))] } 1 .. 4);
    my $refs = "";
    if ($i > 4 && $i % 4 == 0) {
	my $p = $i - 1 - int(rand($i < 40 ? $i - 1 : 40));
	$subj = "Re: thread $p";
	$refs = "In-Reply-To: <m$p\@bench.example>\nReferences: <m$p\@bench.example>\n";
    }
    my $body = "";
    my $len = 1024 + int(rand(5 * 1024));
    while (length($body) < $len) {
	$body .= join(" ", map { $words[int(rand(@words))] } 1 .. 12) . "\n";
    }
    my $msg = "Return-Path: <c$c\@client$c.example>\nDelivered-To: alice\@example.com\n"
	. "From: $from\nTo: $to\nSubject: $subj\nDate: $date\nMessage-ID: <m$i\@bench.example>\n"
	. $refs . "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n" . $body;
    if ($mbox) {
	$msg =~ s/^(>*From )/>$1/mg;
	print $fh "From c$c\@client$c.example " . scalar(gmtime($t)) . "\n" . $msg . "\n";
    } else {
	my $f = $folders[$i % 3];
	my $path = "$root/Maildir/$f/cur/$t.M${i}P$$.bench,S=" . length($msg) . ":2,S";
	open(my $m, ">", $path) or die "$path: $!";
	print $m $msg;
	close($m);
    }
}
close($fh) if $mbox;
' "$TMP" "$N" "$MBOX" || exit 1
SRC=$TMP/Maildir
[ "$MBOX" = 1 ] && SRC=$TMP/mbox
echo "# $N messages in $(du -sh "$SRC" | cut -f1) ($( [ "$MBOX" = 1 ] && echo mbox || echo Maildir)), $(nproc) CPUs"

# run LABEL WANT_IMPORTED WANT_DUPLICATES ARGS... - one timed import;
# prints msg/s and peak RSS; a failed run or other counts sets BAD
BAD=0
run() {
    _label=$1 _wimp=$2 _wdup=$3
    shift 3
    sync
    /usr/bin/time -v -o "$TMP/time" "$CTL" -c "$TMP/crmsync.conf" import --user alice "$SRC" "$@" \
	>"$TMP/out" 2>"$TMP/err"
    _rc=$?
    _wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time" \
	| awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    _rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time")
    _sum=$(tail -n 1 "$TMP/out")
    _imp=$(printf '%s' "$_sum" | sed -n 's/.*"imported":\([0-9]*\).*/\1/p')
    _dup=$(printf '%s' "$_sum" | sed -n 's/.*"duplicates":\([0-9]*\).*/\1/p')
    printf '%-14s exit %s  %6s s  %8s msg/s  peak RSS %6s KB  imported %s duplicates %s\n' \
	"$_label" "$_rc" "$_wall" "$(awk -v n="$N" -v s="$_wall" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }')" \
	"$_rss" "$_imp" "$_dup"
    [ "$_rc" = 0 ] || { sed 's/^/# /' "$TMP/err" | tail -n 5; }
    if [ "$_rc" != 0 ] || [ "$_imp" != "$_wimp" ] || [ "$_dup" != "$_wdup" ]; then
	echo "# $_label: FAILED (want exit 0, imported $_wimp, duplicates $_wdup)"
	BAD=1
    fi
}
run "first import" "$N" 0
echo "# first import: $("$CTL" -c "$TMP/crmsync.conf" stats 2>/dev/null \
    | sed -n 's/.*"commit_groups": *\([0-9]*\).*/\1/p') commit groups"
run "re-import" 0 "$N"
run "dry run" "$N" 0 --dry-run
# The same first import with the inline store: one transaction (one
# fsync) per message, the path the importer takes with --jobs 1.
rm -f "$TMP"/store/crmsync.db*
run "inline (-j1)" "$N" 0 --jobs 1
echo "# store: $(du -sh "$TMP/store" | cut -f1)"
exit "$BAD"
