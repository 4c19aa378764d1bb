#!/bin/bash
# run-mt.sh - run one miltertest scenario against a fresh crmsync-milter
#
# usage: run-mt.sh SCRIPT.lua     (automake's LUA_LOG_COMPILER)
# Makes a private config, policy and store, starts crmsync-milter on a unix
# socket, runs the Lua script (which prints TAP lines through common.lua),
# stops the milter and fails if it died, or if a sanitizer or valgrind
# reported anything in its log.
set -u
script=$1
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
milter=$builddir/milter/crmsync-milter
ctl=$builddir/ctl/crmsyncctl
jget=$builddir/tests/jget
. "$srcdir/tests/lib.sh"	# ms_stop_pid
if ! command -v miltertest >/dev/null; then
    echo "1..0 # SKIP miltertest not installed"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-mt.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && ms_stop_pid "$pid" "unix:$tmp/sock" 15 2>/dev/null
    [ "${CS_KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/policy" "$tmp/db" "$tmp/spool"
cat > "$tmp/crmsync.conf" <<CONF
Socket unix:$tmp/sock
Database $tmp/db/crmsync.db
PolicyDir $tmp/policy
SpoolDir $tmp/spool
JournalDir $tmp/journal
SpoolThreshold 16K
MaxMessageSize 64K
InternalDomains example.com
TrustedNetworks 127.0.0.1/32
Dropbox log@crm.example.com
Syslog no
LogLevel debug
CONF
cat > "$tmp/policy/users.policy" <<POLICY
User alice
Address alice@example.com

User bob
Address bob@example.com
Login bob.login
SyncInternal yes

User carol
Address carol@example.com
Sync off

Group sales@example.com alice, bob, carol
POLICY
wrap=
if [ "${CRMSYNC_VALGRIND:-0}" = 1 ]; then
    wrap="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
fi
$wrap "$milter" -c "$tmp/crmsync.conf" -f 2>"$tmp/milter.log" &
pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/sock" ] && break; sleep 0.1; done
if [ ! -S "$tmp/sock" ]; then
    echo "1..1"; echo "not ok 1 - crmsync-milter did not start"; sed 's/^/# /' "$tmp/milter.log"; exit 1
fi
miltertest -s "$script" -D sock="unix:$tmp/sock" -D conf="$tmp/crmsync.conf" \
    -D ctl="$ctl" -D jget="$jget" -D db="$tmp/db/crmsync.db" -D tmp="$tmp" \
    -D srcdir="$srcdir/tests" -D sockpoke="$builddir/tests/milter/sockpoke" -D pid="$pid" >"$tmp/tap.out" 2>"$tmp/mt.err"
mt_rc=$?
alive=1
kill -0 "$pid" 2>/dev/null || alive=0
# SIGTERM, and a connection that wakes libmilter's listener (ms_stop_pid)
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 1 150); do
    cs_pid_alive "$pid" || break
    ms_probe "unix:$tmp/sock"
    sleep 0.1
done
# A milter that ignores SIGTERM fails the scenario (exit 137), not hangs it.
if cs_pid_alive "$pid"; then
    echo "# crmsync-milter still running 15 s after SIGTERM: SIGKILL" >>"$tmp/milter.log"
    kill -KILL "$pid" 2>/dev/null
fi
wait "$pid"; rc=$?
pid=
n=$(grep -cE '^(not )?ok ' "$tmp/tap.out")
grep -E '^(not )?ok |^#' "$tmp/tap.out"
n=$((n + 1)); echo "$( [ $mt_rc = 0 ] && echo ok || echo not ok ) $n - miltertest script ran to its end"
[ $mt_rc = 0 ] || sed 's/^/# /' "$tmp/mt.err" "$tmp/tap.out" | tail -20
# A scenario that stops the milter itself says so on a line of its own.
if grep -q '^-- run-mt: stops the milter' "$script"; then
    n=$((n + 1)); echo "$( [ $alive = 0 ] && echo ok || echo not ok ) $n - milter stopped by the script"
else
    n=$((n + 1)); echo "$( [ $alive = 1 ] && echo ok || echo not ok ) $n - milter alive after the script"
fi
n=$((n + 1))
if [ $rc -le 1 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|==[0-9]+== ' "$tmp/milter.log"; then
    echo "ok $n - milter exited cleanly, no sanitizer or valgrind report"
else
    echo "not ok $n - milter exit $rc or a sanitizer/valgrind report"
    grep -E -A12 'AddressSanitizer|LeakSanitizer|runtime error|==[0-9]+== ' "$tmp/milter.log" | head -60 | sed 's/^/# /'
fi
if grep -q '^not ok' "$tmp/tap.out"; then
    echo "# milter log:"; tail -40 "$tmp/milter.log" | sed 's/^/#   /'
fi
echo "1..$n"
