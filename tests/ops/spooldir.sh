#!/bin/sh
# tests/ops/spooldir.sh - SpoolDir is made at start or start is refused;
# crmsync-milter -n checks every directory the config names (SPEC C4)
#
# The config runs the milter as a UserID that may write "home" but not
# "locked": as root UserID nobody, home owned by nobody and locked a
# root-owned 0755 directory; otherwise (no privilege to drop) locked is
# mode 0555. Checks:
# -n passes with a SpoolDir that does not exist yet but can be made, and
# fails naming SpoolDir when it cannot be; fails naming Database and
# Socket when their directories are missing. A start with a missing
# SpoolDir makes it (and a large message is then spooled there: see
# mt_big.lua); a start where it cannot be made exits 1 and logs SpoolDir.
. "$top_srcdir/tests/lib.sh"
cs_init || tap_bail "cannot make a temporary directory"
B=$top_builddir
D=$CS_TMP
M=$B/milter/crmsync-milter

mkdir -p "$D/pol" "$D/run" "$D/db" "$D/locked" "$D/home"
if [ "$(id -u)" = 0 ]; then
    user=nobody
    userline="UserID nobody"
    chown nobody "$D/run" "$D/db" "$D/home"
    chmod 755 "$D/locked"
else
    user=$(id -un)
    userline=
    chmod 555 "$D/locked"
fi
chmod 755 "$D"

# conf FILE SPOOLDIR [DB [SOCKDIR]] - a config for this test
conf() {
    cat >"$1" <<CONF
Socket unix:${4:-$D/run}/sock
Database ${3:-$D/db}/crmsync.db
PolicyDir $D/pol
SpoolDir $2
JournalDir ${3:-$D/db}/journal
Syslog no
$userline
CONF
}

conf "$D/ok.conf" "$D/home/new/spool"
"$M" -n -c "$D/ok.conf" >"$D/out" 2>"$D/err"
tap_is "$?" 0 "-n: a SpoolDir that can be made is fine (as $user)"
tap_ok "-n made nothing" test ! -e "$D/home/new"

conf "$D/bad.conf" "$D/locked/spool"
"$M" -n -c "$D/bad.conf" >"$D/out" 2>"$D/err"
tap_is "$?" 1 "-n: a SpoolDir $user cannot make is a fault"
tap_like "$(cat "$D/err")" "bad\.conf: SpoolDir: $D/locked/spool: missing and cannot be made: $D/locked: not writable" \
    "-n names the config, SpoolDir and the directory"
tap_like "$(cat "$D/out")" "1 problem, in .*bad\.conf" "-n counts it in the summary, naming the config"

conf "$D/paths.conf" "$D/home/new/spool" "$D/nodb" "$D/nosock"
"$M" -n -c "$D/paths.conf" >"$D/out" 2>"$D/err"
tap_is "$?" 1 "-n: missing Database and Socket directories are faults"
tap_like "$(cat "$D/err")" "Database: $D/nodb: does not exist" "-n names Database's directory"
tap_like "$(cat "$D/err")" "Socket: $D/nosock: does not exist" "-n names Socket's directory"

# Start with a missing SpoolDir: it is made, as UserID.
"$M" -f -c "$D/ok.conf" 2>"$D/start.log" &
pid=$!
for _ in $(seq 1 100); do [ -S "$D/run/sock" ] && break; sleep 0.1; done
tap_ok "started with a missing SpoolDir" test -S "$D/run/sock"
tap_ok "SpoolDir made at start" test -d "$D/home/new/spool"
tap_is "$(stat -c %U "$D/home/new/spool")" "$user" "SpoolDir belongs to $user"
ms_stop_pid "$pid" "unix:$D/run/sock" 15

# Start where it cannot be made: refused, naming it.
rm -f "$D/run/sock"
timeout 20 "$M" -f -c "$D/bad.conf" 2>"$D/start.log"
tap_is "$?" 1 "start refused when SpoolDir cannot be made"
tap_like "$(cat "$D/start.log")" "SpoolDir: $D/locked/spool: cannot make" "the log names SpoolDir"
tap_ok "no socket left listening" test ! -S "$D/run/sock"
tap_done
