# tests/api/apilib.sh - start and stop crmsync-api for the tests (POSIX sh)
#
#	api_start CONF LOG	start crmsync-api -f -c CONF in the background,
#				stderr to LOG; its pid in $API_STATE/*.pid;
#				wait until it listens (the log says so); 1 if not
#	api_stop_all		stop every crmsync-api started here
#	api_token FILE		write a new random token line to FILE (0600)
#
# API_STATE defaults to $CS_STATE/api. Needs cs_find_bins' variables and
# CRMSYNC_API (default $top_builddir/api/crmsync-api).

: "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
export CRMSYNC_API

api_start() {
    : "${API_STATE:=$CS_STATE/api}"
    mkdir -p "$API_STATE"
    "$CRMSYNC_API" -f -c "$1" </dev/null >>"$2" 2>&1 &
    _api_pid=$!
    echo "$_api_pid" >"$API_STATE/$_api_pid.pid"
    cs_wait 10 grep -q "listening on" "$2" && return 0
    echo "crmsync-api did not start:" >&2
    cat "$2" >&2
    return 1
}

api_stop_all() {
    : "${API_STATE:=$CS_STATE/api}"
    for _api_f in "$API_STATE"/*.pid; do
	[ -f "$_api_f" ] || continue
	cs_pid_stop "$(cat "$_api_f")" 10 >/dev/null 2>&1
	rm -f "$_api_f"
    done
}

api_token() {
    ( umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >>"$1"; echo >>"$1" )
    chmod 600 "$1"
}
