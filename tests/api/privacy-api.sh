#!/bin/sh
# privacy-api.sh - the privacy matrix (tests/e2e/privacy.sh) through HTTP
#
# The same script, every check the same, with its crmsyncctl calls of
# CRM-facing commands answered by crmsync-api (tests/api/ctl-via-api):
# exit codes, leaks and expected content are checked on the HTTP answers.
# With CS_TEST_DATABASE (and CS_TEST_DATABASE_BULK) set to PostgreSQL
# databases it runs on PostgreSQL, as tests/pg/privacy-pg.sh does.
#
# V4 under SIGKILL: privacy.sh's kills hit the crmsync-api serving the
# bulk share/private, not the client (CS_KILL_TARGET, ctl-via-api
# --serving), at a random moment after the request is on its way; the
# next call starts a fresh crmsync-api on the store the killed one left.
# So its check shows that a server killed while it runs a 1000-thread
# change leaves all or none of it. At exit every crmsync-api still
# running is stopped, and the test fails if any one started here (killed
# ones included) is still running after that.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
: "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
CRMSYNCCTL_REAL=${CRMSYNCCTL:-$top_builddir/ctl/crmsyncctl}
CS_API_SHIM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-api-shim.XXXXXX") || exit 1
CRMSYNCCTL=$top_srcdir/tests/api/ctl-via-api
CS_KILL_TARGET="$CRMSYNCCTL --serving"
export CRMSYNC_API CRMSYNCCTL_REAL CS_API_SHIM_DIR CRMSYNCCTL CS_KILL_TARGET

. "$top_srcdir/tests/lib.sh"	# cs_pid_alive

# ours PID - 0 while PID runs a crmsync-api started by the shim (a pid
# reused by another program is not ours)
ours() {
    cs_pid_alive "$1" && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$CS_API_SHIM_DIR/"
}

# stop - SIGTERM each running crmsync-api the shim knows (*.pid); fail if
# one it started (its list, killed ones included) still runs 5 s later:
# a server the shim lost track of, or one that did not stop
stop() {
    rc=$?
    for f in "$CS_API_SHIM_DIR"/*.pid; do
	[ -f "$f" ] && ours "$(cat "$f")" && kill "$(cat "$f")"
    done
    if grep -h ' api: ' "$CS_API_SHIM_DIR"/*.log >/dev/null 2>&1; then
	echo "# crmsync-api answered $(cat "$CS_API_SHIM_DIR"/*.log | grep -c ' api: ') requests" >&2
    fi
    left=
    for pid in $(cat "$CS_API_SHIM_DIR/started" 2>/dev/null); do
	ours "$pid" && left="$left $pid"
    done
    i=0
    while [ -n "$left" ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
	pids=$left left=
	for pid in $pids; do
	    cs_pid_alive "$pid" && left="$left $pid"
	done
    done
    if [ -n "$left" ]; then
	echo "# crmsync-api still running after the test:$left" >&2
	for pid in $left; do
	    ours "$pid" && kill -9 "$pid"
	done
	rc=1
    fi
    rm -rf "$CS_API_SHIM_DIR"
    exit "$rc"
}
trap stop EXIT
sh "$top_srcdir/tests/e2e/privacy.sh"
