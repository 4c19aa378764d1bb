#!/bin/sh
# pgcluster.sh - a private PostgreSQL cluster for the tests (never the system one)
#
# usage: pgcluster.sh start DIR PORT    initdb in DIR (once), start on 127.0.0.1:PORT,
#                                       sockets in DIR/run; prints nothing on success
#        pgcluster.sh stop DIR [PORT [MODE]]  fast shutdown (MODE: pg_ctl -m, e.g. immediate)
#        pgcluster.sh createdb DIR PORT NAME
# Runs initdb and pg_ctl as the postgres user (they refuse root), as
# /work/shared/POSTFIX-TESTING.md describes. DIR's parent may be root's.
set -eu

bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|createdb DIR [PORT] [NAME]" >&2; exit 2; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then
	su postgres -s /bin/sh -c "$1"
    else
	sh -c "$1"
    fi
}

case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
	as_pg "mkdir -p '$dir/data' '$dir/run' && '$bin/initdb' -A trust -U postgres -D '$dir/data' >'$dir/initdb.log' 2>&1" \
	    || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 30 \
	-o \"-p $port -k '$dir/run' -c listen_addresses=127.0.0.1 -c fsync=on\" start >/dev/null" \
	|| { tail -20 "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
	as_pg "'$bin/pg_ctl' -D '$dir/data' -m ${4:-fast} -w -t 30 stop >/dev/null" || true
    fi
    ;;
createdb)
    port=${3:?port}
    name=${4:?name}
    as_pg "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres '$name'"
    ;;
*)
    echo "usage: $0 start|stop|createdb DIR [PORT] [NAME]" >&2
    exit 2
    ;;
esac
