#!/bin/sh
# privmodel-api.sh - the model-based privacy test through crmsync-api
#
# tests/unit/t_privmodel.c built with pm_http.c as its adapter
# (tests/api/t_privmodel_api): for each seed it starts crmsync-api on a
# unix socket over the seed's fresh store, sends the CRM-facing operations
# and every read as HTTP requests, and stops it. Mail, directory import,
# the policy and events go to the store (no endpoint for them). Two seeds
# of 100 operations here (other seeds than unit/t_privmodel's); long runs
# set CS_PRIVMODEL_SEEDS and CS_PRIVMODEL_OPS (tests/README). With
# CS_TEST_DATABASE a postgresql:// URI it runs on PostgreSQL
# (privmodel-api-pg.sh).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
PROG=$top_builddir/tests/api/t_privmodel_api
export CRMSYNC_API
[ -x "$CRMSYNC_API" ] || { echo "1..0 # SKIP $CRMSYNC_API not built"; exit 0; }
[ -x "$PROG" ] || { echo "1..0 # SKIP $PROG not built"; exit 0; }
case ${CS_TEST_DATABASE:-} in
postgres*) ;;
*) unset CS_TEST_DATABASE ;;
esac
CS_PRIVMODEL_SEEDS=${CS_PRIVMODEL_SEEDS:-6-7} CS_PRIVMODEL_OPS=${CS_PRIVMODEL_OPS:-100} \
    exec "$PROG"
