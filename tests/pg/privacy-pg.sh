#!/bin/sh
# privacy-pg.sh - the crmsyncctl privacy matrix (tests/e2e/privacy.sh, SPEC
# V1-V6, X1, T3) on the PostgreSQL store (F1): a private cluster, two empty
# databases (the matrix's and the SIGKILL run's), then privacy.sh itself,
# unchanged, with CS_TEST_DATABASE and CS_TEST_DATABASE_BULK naming them.
# Its TAP lines are this test's: every cell asserted as on SQLite.
#
# Skipped unless CRMSYNC_E2E=1 or CRMSYNC_PG=1, root, PostgreSQL installed
# (contrib/install-deps test) and the backend built (libpq). Never touches
# the system's own cluster: initdb in a temporary directory, a loopback port.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_pg

cs_init || tap_bail "cs_init failed"
PGDIR=$CS_TMP/pg
pg_down() { sh "$CLUSTER" stop "$PGDIR" >/dev/null 2>&1; }
trap 'pg_down; cs_cleanup' EXIT

# Nothing printed before privacy.sh's plan: its TAP stream is ours.
PORT=$(cs_pg_start "$PGDIR" 2>"$CS_TMP/cluster.log") \
    || tap_bail "no private cluster: $(tail -3 "$CS_TMP/cluster.log")"
for db in privacy bulk; do
    sh "$CLUSTER" createdb "$PGDIR" "$PORT" "$db" >"$CS_TMP/cluster.log" 2>&1 \
	|| tap_bail "createdb $db: $(tail -3 "$CS_TMP/cluster.log")"
done

# CS_PRIVACY_SCRIPT: the same matrix through crmsync-api (tests/api/privacy-api-pg.sh).
CS_TEST_DATABASE=postgresql://postgres@127.0.0.1:$PORT/privacy \
CS_TEST_DATABASE_BULK=postgresql://postgres@127.0.0.1:$PORT/bulk \
    sh "${CS_PRIVACY_SCRIPT:-$top_srcdir/tests/e2e/privacy.sh}"
rc=$?
exit "$rc"
