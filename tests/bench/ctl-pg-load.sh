#!/bin/sh
# ctl-pg-load.sh - copy a SQLite store into an empty PostgreSQL database
#
# SYNOPSIS
#	tests/bench/ctl-pg-load.sh SQLITE_DB URI
#
# DESCRIPTION
#	The PostgreSQL half of ctl-bench.sh --postgresql: ctl-gen's bench
#	generator writes SQLite by direct SQL, and this copies that store,
#	row for row, into the database URI names (a libpq URI, on a private
#	cluster: tests/pg/pgcluster.sh). The schema is the store's own:
#	crmsyncctl opens URI as a writer (directory import of an empty
#	directory), which runs every PostgreSQL migration; the tables are
#	then emptied and each SQLite table that PostgreSQL has is copied
#	with sqlite3 -csv into psql's \copy, in one transaction with
#	triggers and foreign keys off (session_replication_role replica:
#	the rows are a consistent store already, their link copies
#	included). Blobs travel as bytea hex. The sequences continue after
#	the copied ids, then VACUUM ANALYZE (index-only scans then skip the
#	heap, as on a store autovacuum has seen).
#
#	The two schemas have the same tables and columns (tests/pg/pg.sh
#	checks it) except SQLite's event_lease and PostgreSQL's counter
#	shards; the column list of each copy is SQLite's.
#
#	crmsyncctl comes from $top_builddir (default: the source tree) or
#	CRMSYNCCTL; sqlite3 and psql from PATH.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CRMSYNCCTL:=$top_builddir/ctl/crmsyncctl}"

[ $# = 2 ] || { echo "usage: $0 SQLITE_DB URI" >&2; exit 1; }
DB=$1
URI=$2
for b in sqlite3 psql; do
    command -v $b >/dev/null 2>&1 || { echo "$0: $b missing" >&2; exit 1; }
done
[ -x "$CRMSYNCCTL" ] || { echo "$0: $CRMSYNCCTL not built" >&2; exit 1; }
[ -f "$DB" ] || { echo "$0: $DB: no such store" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-pgload.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
printf 'Database %s\nPolicyDir %s\nSyslog no\n' "$URI" "$TMP" >"$TMP/crmsync.conf"
printf '{"persons": [], "deals": []}\n' >"$TMP/empty.json"
"$CRMSYNCCTL" -c "$TMP/crmsync.conf" directory import "$TMP/empty.json" >/dev/null \
    || { echo "$0: crmsyncctl could not create the schema in the database" >&2; exit 1; }

tables=$(psql -XAtq "$URI" -c "SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
    AND table_name <> 'schema_version' ORDER BY 1")

# cols TABLE - SQLite's column list, "user" quoted, for \copy
cols() {
    sqlite3 "$DB" "SELECT group_concat('\"' || name || '\"', ',') FROM pragma_table_info('$1')"
}

# select TABLE - the SELECT list: blobs as bytea hex input
select_list() {
    sqlite3 "$DB" "SELECT group_concat(CASE WHEN upper(type) = 'BLOB'
	THEN '''\\x'' || hex(\"' || name || '\")' ELSE '\"' || name || '\"' END, ',')
	FROM pragma_table_info('$1')"
}

{
    printf '%s\n' '\set ON_ERROR_STOP on'
    echo "BEGIN;"
    echo "SET LOCAL session_replication_role = replica;"
    # shellcheck disable=SC2086
    echo "TRUNCATE $(echo $tables | sed 's/ /, /g');"
    for t in $tables; do
	c=$(cols "$t")
	[ -n "$c" ] || continue
	sqlite3 -csv "$DB" "SELECT $(select_list "$t") FROM \"$t\"" >"$TMP/$t.csv"
	printf '\\copy "%s"(%s) FROM '"'%s'"' WITH (FORMAT csv)\n' "$t" "$c" "$TMP/$t.csv"
    done
    # Ids the store hands out next follow the copied ones.
    echo "SELECT setval('thread_ids', greatest((SELECT max(id) FROM threads), 1));"
    echo "SELECT setval('message_ids', greatest((SELECT max(id) FROM messages), 1));"
    for s in raw audit events merges; do
	echo "SELECT setval(pg_get_serial_sequence('$s', 'id'), greatest((SELECT max(id) FROM $s), 1));"
    done
    echo "COMMIT;"
    # As autovacuum leaves a live store: statistics, visibility map, hint bits.
    echo "VACUUM ANALYZE;"
} >"$TMP/load.sql"
psql -XAtq "$URI" -f "$TMP/load.sql" >/dev/null
