# benchlib.sh - the generated store and the crmsync-api of the read benchmarks
#
# SYNOPSIS
#	. tests/bench/benchlib.sh	(after top_srcdir, CTL_GEN, CRMSYNC_API)
#	bench_store DIR N M PG		ctl-gen's store of N messages over M
#					mailboxes in DIR/store; with PG=1 a copy
#					in a private PostgreSQL cluster in DIR/pg
#	bench_store_stop DIR		stop that cluster (if any)
#	bench_policy DIR M		DIR/policy/users.policy: u001..uM (R3)
#	bench_api_start DIR STORE	crmsync-api on loopback TCP, access log on
#	bench_api_stop
#
# DESCRIPTION
#	Written once for tests/bench/ctl-bench.sh, api-bench.sh and
#	postfix-bench.sh --api-load. bench_store prints one line about the
#	store (and one about the PostgreSQL copy) and sets DB (the SQLite
#	file), STORE (what Database names) and ctl-gen's user, deal, thread
#	and thread_owner. bench_api_start sets API_PID, URL, TOKEN and
#	API_CONF; its log is DIR/api.log. Each returns non-zero with a
#	message on standard error when it fails.

# bench_ms - now in nanoseconds
bench_ms() {
    date +%s%N
}

bench_store() {
    _bs_dir=$1 _bs_n=$2 _bs_m=$3 _bs_pg=${4:-0}
    DB=$_bs_dir/store/crmsync.db
    mkdir -p "$_bs_dir/store" || return 1
    _bs_t0=$(bench_ms)
    eval "$("$CTL_GEN" bench "$DB" "$_bs_n" "$_bs_m" 2>/dev/null)" \
	|| { echo "store generation failed" >&2; return 1; }
    _bs_t1=$(bench_ms)
    printf 'store: %s messages in %s mailboxes, %s KB, generated in %s ms\n' \
	"$_bs_n" "$_bs_m" "$(du -k "$DB" | cut -f1)" $(( (_bs_t1 - _bs_t0) / 1000000 ))
    STORE=$DB
    [ "$_bs_pg" = 1 ] || return 0
    # postgres must reach its data directory under ours.
    chmod 755 "$_bs_dir"
    _bs_port=$(cs_free_port) || return 1
    sh "$top_srcdir/tests/pg/pgcluster.sh" start "$_bs_dir/pg" "$_bs_port" >/dev/null \
	&& sh "$top_srcdir/tests/pg/pgcluster.sh" createdb "$_bs_dir/pg" "$_bs_port" bench \
	    >/dev/null || { echo "cannot start PostgreSQL" >&2; return 1; }
    STORE=postgresql://postgres@127.0.0.1:$_bs_port/bench
    sh "$top_srcdir/tests/bench/ctl-pg-load.sh" "$DB" "$STORE" >/dev/null \
	|| { echo "copy to PostgreSQL failed" >&2; return 1; }
    printf 'PostgreSQL: a copy on 127.0.0.1:%s, %s, copied in %s ms\n' "$_bs_port" \
	"$(psql -XAtq "$STORE" -c "SELECT pg_size_pretty(pg_database_size('bench'))")" \
	$(( ($(bench_ms) - _bs_t1) / 1000000 ))
}

bench_store_stop() {
    [ -d "$1/pg" ] && sh "$top_srcdir/tests/pg/pgcluster.sh" stop "$1/pg" >/dev/null 2>&1
    return 0
}

bench_policy() {
    mkdir -p "$1/policy" || return 1
    _bp_i=1
    while [ "$_bp_i" -le "$2" ]; do
	_bp_u=$(printf 'u%03d' "$_bp_i")
	printf 'User %s\nAddress %s@corp.example\n' "$_bp_u" "$_bp_u"
	_bp_i=$((_bp_i + 1))
    done >"$1/policy/users.policy"
}

bench_api_start() {
    _ba_dir=$1
    ( umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$_ba_dir/tokens"
      echo >>"$_ba_dir/tokens" )
    TOKEN=$(cat "$_ba_dir/tokens")
    _ba_port=$(cs_free_port) || return 1
    API_CONF=$_ba_dir/api.conf
    printf 'Database %s\nPolicyDir %s\nSyslog no\nApiListen inet:%s@127.0.0.1\nApiTokenFile %s\n' \
	"$2" "$_ba_dir/policy" "$_ba_port" "$_ba_dir/tokens" >"$API_CONF"
    "$CRMSYNC_API" -f -c "$API_CONF" </dev/null >"$_ba_dir/api.log" 2>&1 &
    API_PID=$!
    _ba_i=0
    until grep -q "listening on" "$_ba_dir/api.log"; do
	_ba_i=$((_ba_i + 1))
	[ "$_ba_i" -lt 100 ] || { echo "crmsync-api did not start:" >&2; cat "$_ba_dir/api.log" >&2
	    return 1; }
	sleep 0.1
    done
    URL=http://127.0.0.1:$_ba_port
}

bench_api_stop() {
    [ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    API_PID=
}
