#!/bin/sh
# privacy-api.sh - the privacy matrix (tests/e2e/privacy.sh) through HTTP
#
# The same script, every check the same, with its crmsyncctl calls of
# CRM-facing commands answered by crmsync-api (tests/api/ctl-via-api):
# exit codes, leaks and expected content are checked on the HTTP answers.
# With CS_TEST_DATABASE (and CS_TEST_DATABASE_BULK) set to PostgreSQL
# databases it runs on PostgreSQL, as tests/pg/privacy-pg.sh does.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not installed"; exit 0; }
: "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
CRMSYNCCTL_REAL=${CRMSYNCCTL:-$top_builddir/ctl/crmsyncctl}
CS_API_SHIM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-api-shim.XXXXXX") || exit 1
CRMSYNCCTL=$top_srcdir/tests/api/ctl-via-api
export CRMSYNC_API CRMSYNCCTL_REAL CS_API_SHIM_DIR CRMSYNCCTL

stop() {
    for f in "$CS_API_SHIM_DIR"/*.pid; do
	[ -f "$f" ] || continue
	kill "$(cat "$f")" 2>/dev/null
    done
    if grep -h ' api: ' "$CS_API_SHIM_DIR"/*.log >/dev/null 2>&1; then
	echo "# crmsync-api answered $(cat "$CS_API_SHIM_DIR"/*.log | grep -c ' api: ') requests" >&2
    fi
    sleep 0.2
    rm -rf "$CS_API_SHIM_DIR"
}
trap stop EXIT
sh "$top_srcdir/tests/e2e/privacy.sh"
