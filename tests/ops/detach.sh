#!/bin/sh
# tests/ops/detach.sh - crmsync-milter and crmsync-api detached (no -f)
# work from /, with a relative -c and relative paths in the config
#
# Both daemons are started from a private directory S as "-c c.conf",
# every path in c.conf (socket, pid file, store, spool, journal, policy,
# API socket and tokens) relative to S. Then:
#   - each one's working directory (/proc/PID/cwd) is /: S is not held
#     busy, an operator may remove or unmount it;
#   - each serves: the milter's socket accepts, its status reaches the
#     store named by the relative Database; the API answers /v1/stats
#     from that store with the milter's figures;
#   - a reload (SIGUSR1), which reads c.conf and what it names again
#     from /, takes a user added to the policy (milter) and a token added
#     to the token file (API).
# No root, no Postfix: seconds.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/api/apilib.sh"

cs_find_bins
for b in "$CRMSYNC_MILTER" "$CRMSYNC_API" "$CRMSYNCCTL"; do
    [ -x "$b" ] || tap_skip_all "$b not built"
done
command -v curl >/dev/null 2>&1 || tap_skip_all "needs curl"
[ -d /proc/self ] || tap_skip_all "needs /proc"
cs_init || tap_bail "cs_init failed"
MPID= APID=
stop_all() {
    [ -n "$MPID" ] && ms_stop_pid "$MPID" "unix:$S/m.sock" 30 >/dev/null 2>&1
    [ -n "$APID" ] && cs_pid_stop "$APID" 10 >/dev/null 2>&1
    cs_cleanup
}
trap stop_all EXIT

S=$CS_TMP/start
mkdir -p "$S/policy" "$S/store"
printf 'User alice\nAddress alice@example.com\n' >"$S/policy/users.policy"
api_token "$S/tokens"
: >"$S/tokens2"
api_token "$S/tokens2"
T1=$(sed -n 1p "$S/tokens") T2=$(sed -n 1p "$S/tokens2")
cat >"$S/c.conf" <<EOC
Socket unix:m.sock
PidFile m.pid
Database store/crmsync.db
SpoolDir spool
JournalDir journal
PolicyDir policy
Syslog no
ApiListen unix:api.sock
ApiTokenFile tokens
EOC

# stats TOKEN - GET /v1/stats on the API's socket: the status, body in $CS_TMP/out
stats() {
    curl -s -o "$CS_TMP/out" -w '%{http_code}' --unix-socket "$S/api.sock" \
	-H "Authorization: Bearer $1" http://api/v1/stats
}
# users N - the milter's status in the store (crmsyncctl, from S) says N users
users() {
    (cd "$S" && "$CRMSYNCCTL" -c c.conf stats) | tr -d ' \n' | grep -q "\"users\":$1,"
}

# --- crmsync-milter
(cd "$S" && CRMSYNC_STATUS_INTERVAL=1 "$CRMSYNC_MILTER" -c c.conf) 2>"$CS_TMP/m.err"
tap_is "$?" 0 "crmsync-milter -c c.conf detaches (the parent exits 0)"
cs_wait 15 test -s "$S/m.pid" && cs_wait 15 ms_probe "unix:$S/m.sock"
tap_result $? "  its relative PidFile and Socket are in the start directory, the socket accepts" \
    || { cat "$CS_TMP/m.err" >&2; tap_bail "crmsync-milter did not start"; }
MPID=$(cat "$S/m.pid")
tap_is "$(readlink "/proc/$MPID/cwd")" / "  it works from /"
tap_ok "  its relative SpoolDir and JournalDir were made" test -d "$S/spool" -a -d "$S/journal"
tap_ok "  its status reaches the relative Database (1 user)" cs_wait 15 users 1

# --- crmsync-api
(cd "$S" && "$CRMSYNC_API" -c c.conf) 2>"$CS_TMP/a.err"
tap_is "$?" 0 "crmsync-api -c c.conf detaches (the parent exits 0)"
cs_wait 15 test -S "$S/api.sock"
tap_result $? "  its relative ApiListen socket is in the start directory" \
    || { cat "$CS_TMP/a.err" >&2; tap_bail "crmsync-api did not start"; }
APID=$(ss -Hxlp src "$S/api.sock" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$APID" ] || tap_bail "no pid listens on $S/api.sock"
tap_is "$(readlink "/proc/$APID/cwd")" / "  it works from /"
tap_is "$(stats "$T1")" 200 "  /v1/stats with a token of the relative ApiTokenFile"
tap_like "$(tr -d ' \n' <"$CS_TMP/out")" '"users":1,' "  from the store the milter writes"
tap_is "$(stats "$T2")" 401 "  a token not in the file yet: 401"

# --- reloads, from /
printf 'User bob\nAddress bob@example.com\n' >>"$S/policy/users.policy"
kill -USR1 "$MPID"
tap_ok "milter reload: c.conf and the policy read again (2 users)" cs_wait 15 users 2
cat "$S/tokens2" >>"$S/tokens"
kill -USR1 "$APID"
tap_ok "API reload: the token file read again (the new token answered)" \
    cs_wait 15 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$S/api.sock' \
	-H 'Authorization: Bearer $T2' http://api/v1/stats)\" = 200"
tap_is "$(readlink "/proc/$MPID/cwd") $(readlink "/proc/$APID/cwd")" "/ /" \
    "both still work from /"
tap_done
