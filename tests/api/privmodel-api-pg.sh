#!/bin/sh
# privmodel-api-pg.sh - the model-based privacy test through crmsync-api
# on PostgreSQL: a private cluster (tests/lib.sh cs_pg_start), then
# tests/api/privmodel-api.sh with CS_TEST_DATABASE naming a database in it
# (each seed makes a fresh database beside it; crmsync-api, started per
# seed, serves that one). Skipped as tests/pg/pg.sh is (CRMSYNC_E2E=1 or
# CRMSYNC_PG=1, root, PostgreSQL installed, libpq built).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_pg
[ -x "$top_builddir/tests/api/t_privmodel_api" ] && [ -x "$top_builddir/api/crmsync-api" ] \
    || { echo "1..0 # SKIP crmsync-api or t_privmodel_api not built"; exit 0; }

cs_init || tap_bail "cs_init failed"
PGDIR=$CS_TMP/pg
pg_down() { sh "$CLUSTER" stop "$PGDIR" >/dev/null 2>&1; }
trap 'pg_down; cs_cleanup' EXIT

PORT=$(cs_pg_start "$PGDIR")
tap_result $? "private cluster starts on 127.0.0.1:$PORT" || tap_bail "no cluster"
tap_ok "createdb privmodel" sh "$CLUSTER" createdb "$PGDIR" "$PORT" privmodel

OUT=$CS_TMP/privmodel.tap
# Two seeds of 100 operations (other seeds than SQLite's); long runs set
# CS_PRIVMODEL_SEEDS and CS_PRIVMODEL_OPS (tests/README).
CS_PRIVMODEL_SEEDS=${CS_PRIVMODEL_SEEDS:-8-9} CS_TEST_DATABASE="postgresql://postgres@127.0.0.1:$PORT/privmodel" \
    sh "$top_srcdir/tests/api/privmodel-api.sh" >"$OUT" 2>"$CS_TMP/privmodel.err"
rc=$?
n=$(grep -c '^ok ' "$OUT")
bad=$(grep -c '^not ok ' "$OUT")
[ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$n" -gt 0 ]
tap_result $? "t_privmodel_api on PostgreSQL: $n seeds agree, $bad disagree"
grep -e '^not ok ' -e '^# ' "$OUT" | grep -v 'requests sent' | sed 's/^/# /' >&2
grep '^# pm_http: .*requests sent' "$OUT" >&2
[ "$bad" = 0 ] || tail -20 "$CS_TMP/privmodel.err" | sed 's/^/# /' >&2

tap_done
