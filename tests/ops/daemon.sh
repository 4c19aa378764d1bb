#!/bin/sh
# tests/ops/daemon.sh - what crmsync-milter tells an operator at start,
# reload and stop
#
# Runs crmsync-milter -f on a private socket, store and policy:
#   - started as root with UserID unset it warns that it runs as root, on a
#     line carrying Postfix's word "warning:";
#   - with Syslog yes and nobody listening on /dev/log it says so on stderr
#     and logs there instead (skipped when a syslog daemon listens);
#   - a reload with a broken Sieve script shared by two users logs the
#     fault once, as a warning naming the file and both users, and the
#     "reloaded:" line says how many users sync nothing;
#   - at stop the unix socket is removed (libmilter leaves it when root).
. "$top_srcdir/tests/lib.sh"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (the root warning and the socket left by root)"
cs_init || tap_bail "cannot make a temporary directory"
cs_find_bins
D=$CS_TMP
mkdir -p "$D/policy" "$D/sieve" "$D/spool"
cp "$top_srcdir/conf/sieve/team.sieve" "$D/sieve/"
cat >"$D/policy/10.policy" <<EOS
User dave
Address dave@example.com
Sync labels
Labels Customers
Rules ../sieve/team.sieve
User erin
Address erin@example.com
Sync labels
Labels Customers
Rules ../sieve/team.sieve
User alice
Address alice@example.com
EOS
# conf SYSLOG - write the config
conf() {
    cat >"$D/c.conf" <<EOS
Socket unix:$D/m.sock
Database $D/crmsync.db
SpoolDir $D/spool
JournalDir $D/journal
PolicyDir $D/policy
Syslog $1
LogLevel info
EOS
}

# start - crmsync-milter -f in the background, stderr to $D/log
start() {
    : >"$D/log"
    "$CRMSYNC_MILTER" -f -c "$D/c.conf" 2>"$D/log" &
    PID=$!
    cs_wait 15 grep -q 'starting:' "$D/log"
}

conf no
tap_ok "started as root with UserID unset" start
tap_like "$(grep 'running as root' "$D/log")" '\[warning\]: warning: running as root \(UserID unset\)' \
    "  warns that it runs as root, with Postfix's word warning:"
tap_ok "  the socket is there" test -S "$D/m.sock"

# A reload with a broken script that two users share.
printf 'require ["fileinto"];\nfileinto "x"\n' >"$D/sieve/team.sieve"
n0=$(wc -l <"$D/log")
kill -USR1 "$PID"
tap_ok "reload with a broken Sieve script" cs_wait 15 grep -q 'reloaded:' "$D/log"
after=$(tail -n +"$((n0 + 1))" "$D/log")
tap_is "$(printf '%s\n' "$after" | grep -c 'team.sieve')" 1 "  the fault is logged once"
tap_like "$(printf '%s\n' "$after" | grep 'team.sieve')" \
    'warning: policy: .*team\.sieve:[0-9]+:[0-9]+: .*; user dave, erin sync nothing \(rules-error\)$' \
    "  as a warning naming the file and the users who sync nothing"
tap_like "$(printf '%s\n' "$after" | grep 'reloaded:')" 'reloaded: 3 users, 2 of them sync nothing \(rules-error\)$' \
    "  the reload line says so too"

ms_stop_pid "$PID" "unix:$D/m.sock" 30
tap_ok "stopped" sh -c "! kill -0 $PID 2>/dev/null"
tap_ok "  the socket was removed at stop" test ! -e "$D/m.sock"

if [ -S /dev/log ]; then
    echo "ok $(( ${_TAP_N:-0} + 1 )) # SKIP a syslog daemon listens on /dev/log here"
    _TAP_N=$(( ${_TAP_N:-0} + 1 ))
else
    conf yes
    tap_ok "Syslog yes with nobody on /dev/log: starts" start
    tap_like "$(head -1 "$D/log")" '^crmsync-milter: warning: syslog cannot be reached \(/dev/log: .*\): logging to standard error instead$' \
	"  says so on stderr"
    tap_like "$(cat "$D/log")" '\[info\]: starting:' "  and logs to stderr"
    ms_stop_pid "$PID" "unix:$D/m.sock" 30
fi
tap_done
