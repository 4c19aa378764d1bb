#!/bin/sh
# subject-pg.sh - SPEC R1-R3 (tests/ctl/subject.sh) on the PostgreSQL
# store: a private cluster, an empty database, then subject.sh itself
# with CS_TEST_DATABASE naming it; there "no byte holds the marker" is
# checked on the rows (psql), the tables having been vacuumed. Its TAP
# lines are this test's. Skipped unless CRMSYNC_E2E=1 or CRMSYNC_PG=1,
# root, PostgreSQL installed and the backend built.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_pg

cs_init || tap_bail "cs_init failed"
PGDIR=$CS_TMP/pg
pg_down() { sh "$CLUSTER" stop "$PGDIR" >/dev/null 2>&1; }
trap 'pg_down; cs_cleanup' EXIT

PORT=$(cs_pg_start "$PGDIR" 2>"$CS_TMP/cluster.log") \
    || tap_bail "no private cluster: $(tail -3 "$CS_TMP/cluster.log")"
sh "$CLUSTER" createdb "$PGDIR" "$PORT" subject >"$CS_TMP/cluster.log" 2>&1 \
    || tap_bail "createdb subject: $(tail -3 "$CS_TMP/cluster.log")"

CS_TEST_DATABASE=postgresql://postgres@127.0.0.1:$PORT/subject \
    sh "$top_srcdir/tests/ctl/subject.sh"; rc=$?; [ -n "${KEEP:-}" ] && sleep 1000; exit $rc
