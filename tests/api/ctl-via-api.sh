#!/bin/sh
# ctl-via-api.sh - tests/api/ctl-via-api, the shim privacy-api.sh runs
# crmsyncctl's CRM-facing commands through: calls at once for one config
# start one crmsync-api and share it (the start is locked per config),
# and a daemon killed meanwhile is replaced by the next call.
#
# No Postfix and no root: the fixture is tests/bench/ctl-gen's.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/api/apilib.sh"	# CRMSYNC_API

cs_find_bins
GEN=$top_builddir/tests/bench/ctl-gen
cs_require_built "$CRMSYNCCTL" "$CRMSYNC_API" "$GEN"
cs_require_cmds curl flock
cs_init || tap_bail "cs_init failed"
CS_API_SHIM_DIR=$CS_TMP/shim
CRMSYNCCTL_REAL=$CRMSYNCCTL
SHIM=$top_srcdir/tests/api/ctl-via-api
export CS_API_SHIM_DIR CRMSYNCCTL_REAL CRMSYNC_API
mkdir -p "$CS_API_SHIM_DIR" "$CS_TMP/store"

# stop - SIGTERM every daemon the shim started, then the usual cleanup
stop() {
    for pid in $(cat "$CS_API_SHIM_DIR/started" 2>/dev/null); do
	cs_pid_alive "$pid" && kill "$pid" 2>/dev/null
    done
    cs_cleanup
}
trap stop EXIT

DB=$CS_TMP/store/crmsync.db
CONF=$CS_TMP/crmsync.conf
printf 'Database %s\nPolicyDir %s\nSyslog no\n' "$DB" "$CS_TMP/policy" >"$CONF"
mkdir -p "$CS_TMP/policy"
"$GEN" fixture "$DB" >/dev/null 2>"$CS_TMP/gen.err" || tap_bail "fixture: $(cat "$CS_TMP/gen.err")"

# at_once N - N mailbox calls through the shim at once; prints how many
# were answered
at_once() {
    _i=0
    while [ $_i -lt "$1" ]; do
	"$SHIM" -c "$CONF" mailbox --as olivia >"$CS_TMP/out.$_i" 2>"$CS_TMP/err.$_i" &
	_i=$((_i + 1))
    done
    wait
    _ok=0 _i=0
    while [ $_i -lt "$1" ]; do
	grep -q '"threads"' "$CS_TMP/out.$_i" && _ok=$((_ok + 1))
	_i=$((_i + 1))
    done
    echo "$_ok"
}

# Eight first calls at once: one daemon, every call answered.
tap_is "$(at_once 8)" 8 "eight first calls at once were all answered"
tap_is "$(wc -l <"$CS_API_SHIM_DIR/started")" 1 "by one crmsync-api, started once"

# Killed: the next calls (again at once) start one successor.
first=$(head -n 1 "$CS_API_SHIM_DIR/started")
kill -9 "$first"
i=0
while cs_pid_alive "$first" && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
tap_is "$(at_once 4)" 4 "after a SIGKILL, four calls at once were all answered"
tap_is "$(wc -l <"$CS_API_SHIM_DIR/started")" 2 "by one successor"
tap_done
