#!/bin/sh
# privacy-api-pg.sh - the privacy matrix through crmsync-api on PostgreSQL:
# tests/pg/privacy-pg.sh's private cluster and databases, with
# tests/api/privacy-api.sh (privacy.sh's checks over HTTP) run in them.
# Skipped as privacy-pg.sh is (CRMSYNC_E2E=1 or CRMSYNC_PG=1, root, libpq).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
CS_PRIVACY_SCRIPT=$top_srcdir/tests/api/privacy-api.sh
export CS_PRIVACY_SCRIPT
exec sh "$top_srcdir/tests/pg/privacy-pg.sh"
