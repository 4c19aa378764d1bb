# tests/lib.sh - end-to-end harness: a private Postfix, smtp-sink, milters, TAP
#
# SYNOPSIS
#	. "$top_srcdir/tests/lib.sh"
#	cs_require_e2e			# SKIP unless CRMSYNC_E2E=1, root, postfix
#	cs_init				# tmp dir, state dir, EXIT trap
#	...
#
# DESCRIPTION
#	Sourced by the end-to-end tests, the demo (contrib/demo/run) and the
#	benchmarks. POSIX sh (dash) and bash. Every wait is bounded: nothing
#	here hangs, a timeout returns 1 and says why on stderr.
#
#	State (pids, instances) is kept in files under $CS_STATE, not in shell
#	variables, so a function run in a subshell still gets cleaned up.
#	Background processes never inherit the caller's stdout/stderr: a test
#	run under a TAP driver (a pipe) would otherwise never see EOF.
#	Paths must not contain white space.
#
#	Setup and teardown
#	  cs_require_pg			print "1..0 # SKIP ..." and exit 0 unless
#					CRMSYNC_E2E=1 or CRMSYNC_PG=1, root,
#					PostgreSQL and psql installed and the
#					libpq backend built; sets PGBIN and
#					CLUSTER (tests/pg/pgcluster.sh)
#	  cs_pg_start DIR		start a private cluster in DIR (pgcluster.sh)
#					on a free loopback port, trying another
#					port if the first is taken meanwhile;
#					prints the port
#	  cs_require_e2e		print "1..0 # SKIP ..." and exit 0 unless
#					CRMSYNC_E2E=1, uid 0 and postfix/swaks/
#					smtp-sink installed
#	  cs_init [BASE]		make $CS_TMP (${TMPDIR:-/tmp}/crmsync-e2e.XXXXXX
#					or BASE), $CS_STATE; trap cs_cleanup on EXIT
#	  cs_cleanup			stop all milters, Postfix instances and sinks
#					started here; remove $CS_TMP unless CS_KEEP=1
#	  cs_free_port			print a free TCP port on 127.0.0.1
#	  cs_wait TIMEOUT CMD...	run CMD every 0.1 s until it succeeds;
#					1 after TIMEOUT seconds
#	  cs_find_bins			set NOOP_MILTER, CRMSYNC_MILTER, CRMSYNCCTL
#					from $top_builddir (env overrides kept)
#	  cs_require_built FILE...	"Bail out!" unless every FILE is executable
#	  cs_require_cmds CMD...	print "1..0 # SKIP ..." and exit 0 unless
#					every CMD is on PATH
#	  cs_port_free PORT		0 when nothing listens on 127.0.0.1:PORT
#	  cs_pid_alive PID		0 while PID runs (zombies count as gone)
#	  cs_pid_stop PID [TIMEOUT]	SIGTERM, wait, SIGKILL after TIMEOUT (15)
#	  cs_sock_path SOCKET		the file of a unix:/local: socket
#
#	Postfix (DIR is an absolute config directory, created if missing)
#	  pf_setup DIR PORT SINKPORT	write DIR/main.cf, DIR/master.cf: smtpd on
#					127.0.0.1:PORT only, pickup for sendmail,
#					everything relayed to [127.0.0.1]:SINKPORT,
#					log to DIR/maillog; queue in DIR.queue,
#					data in DIR.data; then postfix check
#	  pf_conf DIR 'name = value'...	postconf -e; reloads when running
#	  pf_set_milter DIR CONN	smtpd_milters and non_smtpd_milters =
#					{ CONN, default_action=accept }; "" removes
#	  pf_start DIR / pf_stop DIR	start; stop and wait for the master (15 s,
#					then SIGKILL)
#	  pf_reload DIR			postfix reload when running
#	  pf_running DIR		0 when its master runs
#	  pf_master_pid DIR		print its master's pid
#	  pf_queue_empty DIR		0 when its queue is empty
#	  wait_queue_empty DIR TIMEOUT	until postqueue -p shows an empty queue
#	  maillog_milter_warnings DIR	print maillog warnings/errors that name a
#					milter; 0 when there were some, 1 when none
#
#	smtp-sink
#	  sink_start PORT DUMPFILE	smtp-sink -u postfix -D DUMPFILE; waits until
#					it listens. DUMPFILE's directory is given
#					to user postfix: use a dedicated one, such
#					as $CS_TMP/sink/dump
#	  sink_stop [PORT]		stop that sink, or every sink started here
#	  sink_count DUMPFILE		number of messages delivered into DUMPFILE
#	  wait_delivered DUMPFILE COUNT TIMEOUT
#					until at least COUNT messages are in DUMPFILE
#	  sink_rcpts DUMPFILE PATTERN	envelope recipients (one per line, no <>)
#					of the messages whose Subject matches the
#					extended regex PATTERN
#	  sink_sender DUMPFILE PATTERN	envelope sender of those messages
#	  sink_message DUMPFILE PATTERN	those messages (header and body) as
#					received by the sink
#
#	Sending
#	  send_mail PORT FROM TO[,TO...] [SWAKS-ARGS...]
#					swaks to 127.0.0.1:PORT; extra args as
#					--header 'Subject: x' --body TEXT --data FILE
#					--local-interface 127.0.0.2 (untrusted
#					client) --xclient 'LOGIN=alice' (fake AUTH:
#					XCLIENT is allowed from 127.0.0.0/8). Output
#					in $CS_TMP/swaks.log
#	  send_local DIR FROM TO[,TO...] FILE
#					sendmail -C DIR -i -f FROM TO... < FILE
#
#	Milters
#	  ms_start SOCKET LOG CMD...	start CMD in the background (output to
#					LOG), wait (15 s) until SOCKET accepts a
#					connection; the pid is kept for ms_stop.
#					SOCKET: unix:/path, local:/path, /path or
#					inet:PORT@HOST. A "-c CONF" among CMD's
#					words: CONF gets SpoolDir and JournalDir
#					of its own when it names none
#					(ms_own_dirs)
#	  ms_start_noop SOCKET [LOG]	the reference do-nothing milter
#	  ms_start_crmsync CONF SOCKET [LOG]
#					crmsync-milter -c CONF -f
#	  ms_probe SOCKET		0 when SOCKET accepts a connection
#	  ms_pid SOCKET			print the pid ms_start recorded
#	  ms_stop SOCKET		SIGTERM, wait for exit (15 s; then SIGKILL),
#					remove a unix socket
#	  ms_stop_pid PID SOCKET [TIMEOUT]
#					SIGTERM a libmilter milter listening on
#					SOCKET, wake its listener, wait (15 s;
#					then SIGKILL)
#	  ms_kill SOCKET		SIGKILL at once (a crashed milter); keeps
#					the stale socket file
#
#	TAP
#	  tap_plan N			print "1..N" first (else tap_done prints it)
#	  tap_ok DESC CMD...		ok when CMD exits 0; its output becomes
#					"# " diagnostics on failure
#	  tap_is GOT WANT DESC		ok when the strings are equal
#	  tap_like GOT REGEX DESC	ok when GOT matches the extended regex
#	  tap_result STATUS DESC	"ok"/"not ok" for an exit status
#	  tap_diag TEXT...		"# " lines on stderr
#	  tap_skip_all REASON		"1..0 # SKIP REASON", exit 0
#	  tap_bail REASON		"Bail out! REASON", exit 1 (cleanup runs)
#	  tap_done			print the plan if needed; exit status of
#					the test (0 all passed)

# ---------------------------------------------------------------- setup

# cs_require_e2e - skip the whole test unless this machine may run it
cs_require_e2e() {
    if [ "${CRMSYNC_E2E:-0}" != 1 ]; then
	echo "1..0 # SKIP needs root and postfix (set CRMSYNC_E2E=1)"
	exit 0
    fi
    if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root and postfix (not root)"
	exit 0
    fi
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
    for _cs_b in postfix swaks smtp-sink postconf postqueue sendmail perl; do
	if ! command -v "$_cs_b" >/dev/null 2>&1; then
	    echo "1..0 # SKIP needs root and postfix ($_cs_b missing)"
	    exit 0
	fi
    done
}

# cs_require_built FILE... - give up unless every program was built
cs_require_built() {
    for _cs_b in "$@"; do
	[ -x "$_cs_b" ] || tap_bail "$_cs_b not built"
    done
}

# cs_require_cmds CMD... - skip the whole test unless every command is installed
cs_require_cmds() {
    for _cs_b in "$@"; do
	command -v "$_cs_b" >/dev/null 2>&1 || tap_skip_all "$_cs_b not installed"
    done
}

# cs_require_pg - skip the whole test unless a private PostgreSQL can run
cs_require_pg() {
    PGBIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
    CLUSTER=$top_srcdir/tests/pg/pgcluster.sh
    if [ "${CRMSYNC_E2E:-0}" != 1 ] && [ "${CRMSYNC_PG:-0}" != 1 ]; then
	tap_skip_all "needs root and PostgreSQL (set CRMSYNC_E2E=1 or CRMSYNC_PG=1)"
    fi
    [ "$(id -u)" = 0 ] || tap_skip_all "needs root (runs initdb as postgres)"
    [ -x "$PGBIN/initdb" ] && id postgres >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
	|| tap_skip_all "PostgreSQL not installed (contrib/install-deps test)"
    grep -q '^#define HAVE_LIBPQ 1' "$top_builddir/config.h" 2>/dev/null \
	|| tap_skip_all "the PostgreSQL backend is not built (libpq-dev)"
}

# cs_pg_start DIR - a private cluster on a free port; prints the port.
# A port found free can be taken before the server binds it (tests run
# in parallel), so a failed start is tried again on another one.
cs_pg_start() {
    for _cs_i in 1 2 3; do
	_cs_p=$(cs_free_port) || return 1
	if sh "$top_srcdir/tests/pg/pgcluster.sh" start "$1" "$_cs_p" >"$1.start.log" 2>&1; then
	    echo "$_cs_p"
	    return 0
	fi
    done
    cat "$1.start.log" >&2
    return 1
}

# cs_init - make the scratch and state directories, arm the EXIT trap
cs_init() {
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
    export PATH
    if [ -n "${1:-}" ]; then
	CS_TMP=$1
	mkdir -p "$CS_TMP" || return 1
    else
	CS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-e2e.XXXXXX") || return 1
    fi
    # smtpd (user postfix) must reach milter sockets and Postfix dirs below.
    chmod 755 "$CS_TMP"
    CS_STATE=$CS_TMP/.state
    mkdir -p "$CS_STATE/ms" "$CS_STATE/pf" "$CS_STATE/sink" || return 1
    export CS_TMP CS_STATE
    _TAP_N=0
    _TAP_FAIL=0
    _TAP_PLANNED=
    trap cs_cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# cs_cleanup - stop whatever this run started; idempotent
cs_cleanup() {
    [ -n "${CS_STATE:-}" ] && [ -d "$CS_STATE" ] || return 0
    for _cs_f in "$CS_STATE"/ms/*.pid; do
	[ -f "$_cs_f" ] || continue
	ms_stop "$(cat "$_cs_f.sock" 2>/dev/null)" >/dev/null 2>&1
	rm -f "$_cs_f" "$_cs_f.sock"
    done
    for _cs_f in "$CS_STATE"/pf/*; do
	[ -f "$_cs_f" ] || continue
	pf_stop "$(cat "$_cs_f")" >/dev/null 2>&1
	rm -f "$_cs_f"
    done
    sink_stop "" >/dev/null 2>&1
    if [ "${CS_KEEP:-0}" = 1 ]; then
	echo "# kept $CS_TMP" >&2
    else
	case "$CS_TMP" in
	*/crmsync-e2e.*|*/crmsync-demo*) rm -rf "$CS_TMP" ;;
	esac
    fi
    CS_STATE=
}

# cs_wait - poll a command until it succeeds or TIMEOUT seconds pass
cs_wait() {
    _cs_left=$(( ${1:-10} * 10 ))
    shift
    while [ "$_cs_left" -gt 0 ]; do
	"$@" >/dev/null 2>&1 && return 0
	sleep 0.1
	_cs_left=$((_cs_left - 1))
    done
    "$@" >/dev/null 2>&1
}

# cs_port_free - 0 when nothing listens on 127.0.0.1:PORT
cs_port_free() {
    ! perl -MIO::Socket::INET -e \
	'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0],
	  Proto => "tcp", Timeout => 2) ? 0 : 1)' "$1" 2>/dev/null &&
    ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# cs_free_port - a random unused port; random so parallel runs rarely
# collide. Below the kernel's ephemeral range (ip_local_port_range, from
# 32768 by default): there every outgoing connection takes a local port, and
# one taken between this check and the bind (a busy machine's clients: a
# benchmark's thousands) made Postfix fail "Address already in use".
cs_free_port() {
    _cs_lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ "${_cs_lo:-0}" -gt 22000 ] 2>/dev/null || _cs_lo=50000
    for _cs_i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	_cs_p=$(( ( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_cs_lo - 20000) ) + 20000 ))
	if cs_port_free "$_cs_p"; then
	    echo "$_cs_p"
	    return 0
	fi
    done
    echo "cs_free_port: no free port found" >&2
    return 1
}

# cs_find_bins - locate the programs under test in the build tree
cs_find_bins() {
    : "${top_builddir:=${top_srcdir:-.}}"
    : "${NOOP_MILTER:=$top_builddir/tests/milter/noop-milter}"
    : "${CRMSYNC_MILTER:=$top_builddir/milter/crmsync-milter}"
    : "${CRMSYNCCTL:=$top_builddir/ctl/crmsyncctl}"
    export NOOP_MILTER CRMSYNC_MILTER CRMSYNCCTL
}

# cs_key - a file name for a socket or port spec
cs_key() {
    printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'
}

# cs_pid_alive - 0 while PID runs (a zombie counts as gone); builtins
# only, so a tight poll forks nothing
cs_pid_alive() {
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    _cs_st=
    { read -r _cs_st <"/proc/$1/stat"; } 2>/dev/null || return 1
    # A child this shell has not reaped yet is a zombie: it still "exists".
    # The state follows the command name's closing ") ".
    _cs_st=${_cs_st##*) }
    [ -n "$_cs_st" ] && [ "${_cs_st%% *}" != Z ]
}

# cs_pid_stop - SIGTERM, wait up to TIMEOUT s, then SIGKILL; 0 once gone
cs_pid_stop() {
    _cs_pid=$1
    _cs_to=${2:-15}
    cs_pid_alive "$_cs_pid" || { wait "$_cs_pid" 2>/dev/null; return 0; }
    kill -TERM "$_cs_pid" 2>/dev/null
    if ! cs_wait "$_cs_to" eval "! cs_pid_alive $_cs_pid"; then
	echo "pid $_cs_pid ignored SIGTERM for ${_cs_to}s: SIGKILL" >&2
	kill -KILL "$_cs_pid" 2>/dev/null
	cs_wait 5 eval "! cs_pid_alive $_cs_pid" || return 1
    fi
    wait "$_cs_pid" 2>/dev/null
    return 0
}

# ---------------------------------------------------------------- postfix

# pf_setup - write a private Postfix instance into DIR and check it
pf_setup() {
    _pf_dir=$1 _pf_port=$2 _pf_sink=$3
    case "$_pf_dir" in /*) ;; *) echo "pf_setup: $_pf_dir: not absolute" >&2; return 1 ;; esac
    if [ -z "$_pf_port" ] || [ -z "$_pf_sink" ]; then
	echo "usage: pf_setup DIR PORT SINKPORT" >&2
	return 1
    fi
    # The queue and data directories sit beside DIR, not in it: postfix check
    # wants everything below the config directory owned by root.
    mkdir -p "$_pf_dir" "$_pf_dir.queue" "$_pf_dir.data" || return 1
    chmod 755 "$_pf_dir" "$_pf_dir.queue"
    chown root:root "$_pf_dir" "$_pf_dir.queue"
    chown postfix "$_pf_dir.data"
    chmod 700 "$_pf_dir.data"
    cat >"$_pf_dir/main.cf" <<EOF
# private Postfix instance written by tests/lib.sh pf_setup
compatibility_level = 3.6
queue_directory = $_pf_dir.queue
data_directory = $_pf_dir.data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.crmsync.test
mydomain = crmsync.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:5.1.1 local delivery is disabled
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
# Tests fake the client address and the SASL login ({auth_authen}) with XCLIENT.
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
default_transport = smtp:[127.0.0.1]:$_pf_sink
relay_transport = smtp:[127.0.0.1]:$_pf_sink
# A delivery deferred while the sink was down is retried within seconds.
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
biff = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
maillog_file = $_pf_dir/maillog
maillog_file_prefixes = $_pf_dir
milter_protocol = 6
EOF
    cat >"$_pf_dir/master.cf" <<EOF
# private Postfix instance written by tests/lib.sh pf_setup; chroot off, so a
# milter socket path is an ordinary absolute path.
127.0.0.1:$_pf_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    : >"$_pf_dir/maillog"
    if ! postfix -c "$_pf_dir" check >"$_pf_dir/postfix.out" 2>&1; then
	echo "pf_setup: postfix check failed:" >&2
	cat "$_pf_dir/postfix.out" "$_pf_dir/maillog" >&2
	return 1
    fi
    return 0
}

# pf_master_pid - the pid of DIR's master, or nothing
pf_master_pid() {
    _pf_q=$(postconf -c "$1" -h queue_directory 2>/dev/null) || return 1
    [ -f "$_pf_q/pid/master.pid" ] || return 1
    _pf_p=$(tr -dc '0-9' <"$_pf_q/pid/master.pid")
    [ -n "$_pf_p" ] && echo "$_pf_p"
}

# pf_running - 0 when DIR's master process runs
pf_running() {
    _pf_p=$(pf_master_pid "$1") || return 1
    cs_pid_alive "$_pf_p"
}

# pf_start - start DIR's Postfix; remember it for cs_cleanup
pf_start() {
    if pf_running "$1"; then
	return 0
    fi
    [ -n "${CS_STATE:-}" ] && echo "$1" >"$CS_STATE/pf/$(cs_key "$1")"
    # postfix prints errors only to a terminal; the maillog has them.
    if ! postfix -c "$1" start </dev/null >>"$1/postfix.out" 2>&1; then
	echo "pf_start: postfix -c $1 start failed:" >&2
	tail -n 20 "$1/postfix.out" "$1/maillog" >&2
	return 1
    fi
    if ! cs_wait 10 pf_running "$1"; then
	echo "pf_start: master did not come up" >&2
	tail -n 20 "$1/maillog" >&2
	return 1
    fi
}

# pf_stop - stop DIR's Postfix and wait for its master to go
pf_stop() {
    _pf_pid=$(pf_master_pid "$1") || { rm -f "${CS_STATE:-/nonexistent}/pf/$(cs_key "$1")"; return 0; }
    if cs_pid_alive "$_pf_pid"; then
	postfix -c "$1" stop </dev/null >>"$1/postfix.out" 2>&1
	if ! cs_wait 15 eval "! cs_pid_alive $_pf_pid"; then
	    echo "pf_stop: master $_pf_pid still up after 15 s: SIGKILL" >&2
	    kill -KILL "$_pf_pid" 2>/dev/null
	    cs_wait 5 eval "! cs_pid_alive $_pf_pid"
	fi
    fi
    [ -n "${CS_STATE:-}" ] && rm -f "$CS_STATE/pf/$(cs_key "$1")"
    return 0
}

# pf_reload - make a running instance read its configuration again
pf_reload() {
    pf_running "$1" || return 0
    postfix -c "$1" reload </dev/null >>"$1/postfix.out" 2>&1
}

# pf_conf - set main.cf parameters ('name = value' each); reload if running
pf_conf() {
    _pf_dir=$1
    shift
    postconf -c "$_pf_dir" -e "$@" || return 1
    pf_reload "$_pf_dir"
}

# pf_set_milter - attach CONN to smtpd and sendmail mail, failing open
pf_set_milter() {
    if [ -z "$2" ]; then
	pf_conf "$1" "smtpd_milters =" "non_smtpd_milters =" "milter_protocol = 6"
	return
    fi
    # Postfix writes the TCP form as inet:HOST:PORT; take libmilter's too.
    _pf_conn=$2
    case "$_pf_conn" in
    /*) _pf_conn=unix:$_pf_conn ;;
    local:*) _pf_conn=unix:${_pf_conn#local:} ;;
    inet:*@*) _pf_conn="inet:${_pf_conn#*@}:$(expr "x$_pf_conn" : 'xinet:\([^@]*\)@')" ;;
    esac
    # Per-milter default_action: a global milter_default_action would make
    # other milters fail open too (SPEC C1).
    pf_conf "$1" "smtpd_milters = { $_pf_conn, default_action=accept }" \
	"non_smtpd_milters = { $_pf_conn, default_action=accept }" \
	"milter_protocol = 6"
}

# pf_queue_empty - 0 when DIR's queue holds nothing
pf_queue_empty() {
    postqueue -c "$1" -p 2>/dev/null | grep -q 'Mail queue is empty'
}

# wait_queue_empty - wait until DIR's queue is empty
wait_queue_empty() {
    if ! cs_wait "${2:-30}" pf_queue_empty "$1"; then
	echo "wait_queue_empty: queue of $1 not empty after ${2:-30} s:" >&2
	postqueue -c "$1" -p 2>&1 | head -n 20 >&2
	return 1
    fi
}

# maillog_milter_warnings - print milter trouble found in DIR's maillog
maillog_milter_warnings() {
    grep -i 'milter' "$1/maillog" 2>/dev/null |
	grep -iE 'warning|error|fatal|panic|reject'
}

# ---------------------------------------------------------------- smtp-sink

# sink_start - run smtp-sink on 127.0.0.1:PORT appending to DUMPFILE
sink_start() {
    _sk_port=$1 _sk_dump=$2
    case "$_sk_dump" in /*) ;; *) _sk_dump=$(pwd)/$_sk_dump ;; esac
    case "$_sk_dump" in *%*) echo "sink_start: no % in $_sk_dump (strftime)" >&2; return 1 ;; esac
    # smtp-sink drops to postfix, then writes each message to a temporary
    # file beside the dump before it appends it: the directory must be
    # postfix's.
    _sk_dir=$(dirname "$_sk_dump")
    mkdir -p "$_sk_dir" || return 1
    touch "$_sk_dump" && chown postfix "$_sk_dir" "$_sk_dump" || return 1
    _sk_log=$_sk_dump.log
    smtp-sink -u postfix -D "$_sk_dump" "127.0.0.1:$_sk_port" 256 \
	</dev/null >>"$_sk_log" 2>&1 &
    _sk_pid=$!
    if [ -n "${CS_STATE:-}" ]; then
	echo "$_sk_pid" >"$CS_STATE/sink/$_sk_port.pid"
	echo "$_sk_dump" >"$CS_STATE/sink/$_sk_port.dump"
    fi
    if ! cs_wait 10 eval "! cs_port_free $_sk_port"; then
	echo "sink_start: smtp-sink not listening on $_sk_port:" >&2
	cat "$_sk_log" >&2
	return 1
    fi
    cs_pid_alive "$_sk_pid" || { echo "sink_start: port $_sk_port taken by another process" >&2; return 1; }
}

# sink_stop - stop the sink on PORT, or all sinks this run started
sink_stop() {
    [ -n "${CS_STATE:-}" ] || return 0
    for _sk_f in "$CS_STATE"/sink/*.pid; do
	[ -f "$_sk_f" ] || continue
	if [ -n "${1:-}" ] && [ "$_sk_f" != "$CS_STATE/sink/$1.pid" ]; then
	    continue
	fi
	cs_pid_stop "$(cat "$_sk_f")" 5
	rm -f "$_sk_f" "${_sk_f%.pid}.dump"
    done
}

# sink_count - how many messages DUMPFILE holds
sink_count() {
    if [ -f "$1" ]; then
	awk 'BEGIN { n = 0; prev = "" }
	     /^X-Client-Addr: / && prev == "" { n++ }
	     { prev = $0 }
	     END { print n }' "$1"
    else
	echo 0
    fi
}

# wait_delivered - wait until DUMPFILE holds at least COUNT messages
wait_delivered() {
    if ! cs_wait "${3:-30}" eval "[ \$(sink_count '$1') -ge $2 ]"; then
	echo "wait_delivered: $(sink_count "$1") of $2 messages after ${3:-30} s" >&2
	return 1
    fi
}

# cs_sink_select - awk over DUMPFILE: the records whose Subject matches PATTERN
# WHAT: rcpt, sender or message
cs_sink_select() {
    [ -f "$1" ] || return 1
    awk -v pat="$2" -v what="$3" '
    function flush(   i) {
	if (n > 0 && match_) {
	    if (what == "rcpt")
		for (i = 1; i <= nr; i++) print rc[i]
	    else if (what == "sender")
		print from
	    else
		for (i = 1; i <= nl; i++) print ln[i]
	}
	n = 0; nr = 0; nl = 0; match_ = 0; from = ""; inhdr = 1; meta = 1
    }
    function addr(s) {
	sub(/^[^:]*: */, "", s)
	sub(/^[Tt][Oo]:|^[Ff][Rr][Oo][Mm]:/, "", s)
	sub(/ .*$/, "", s)
	gsub(/[<>]/, "", s)
	return s
    }
    BEGIN { n = 0; prev = "" }
    /^X-Client-Addr: / && prev == "" { flush(); n = 1 }
    n > 0 {
	if (meta && /^X-Rcpt-Args: /) rc[++nr] = addr($0)
	else if (meta && /^X-Mail-Args: /) from = addr($0)
	if (!meta) ln[++nl] = $0
	# smtp-sink ends its own headers with a three-line Received: header.
	if (meta && /^Received: /) { rcvd = 1 }
	else if (meta && rcvd && $0 !~ /^[ \t]/) { meta = 0; rcvd = 0; ln[++nl] = $0 }
	if (!meta && inhdr && $0 == "") inhdr = 0
	if (!meta && inhdr && tolower($0) ~ /^subject:/) {
	    s = $0; sub(/^[^:]*: */, "", s)
	    if (s ~ pat) match_ = 1
	}
    }
    { prev = $0 }
    END { flush() }' "$1"
}

# sink_rcpts - envelope recipients of the messages whose Subject matches
sink_rcpts() { cs_sink_select "$1" "$2" rcpt; }

# sink_sender - envelope sender of the messages whose Subject matches
sink_sender() { cs_sink_select "$1" "$2" sender; }

# sink_message - the messages whose Subject matches, as the sink got them
sink_message() { cs_sink_select "$1" "$2" message; }

# ---------------------------------------------------------------- sending

# send_mail - one SMTP transaction with swaks to 127.0.0.1:PORT
send_mail() {
    _sm_port=$1 _sm_from=$2 _sm_to=$3
    shift 3
    _sm_log=${CS_TMP:-/tmp}/swaks.log
    echo "=== send_mail $_sm_port $_sm_from $_sm_to $*" >>"$_sm_log"
    if ! swaks --server "127.0.0.1:$_sm_port" --from "$_sm_from" --to "$_sm_to" \
	--timeout 30 "$@" </dev/null >>"$_sm_log" 2>&1; then
	echo "send_mail: swaks failed; tail of $_sm_log:" >&2
	tail -n 15 "$_sm_log" >&2
	return 1
    fi
}

# send_local - submit FILE with sendmail(1) through DIR's pickup
send_local() {
    _sl_dir=$1 _sl_from=$2 _sl_to=$3 _sl_file=$4
    # The recipients list is comma separated; sendmail wants one per argument.
    _sl_old_ifs=$IFS
    IFS=,
    # shellcheck disable=SC2086
    set -- $_sl_to
    IFS=$_sl_old_ifs
    if ! timeout 30 sendmail -C "$_sl_dir" -i -f "$_sl_from" -- "$@" <"$_sl_file"; then
	echo "send_local: sendmail -C $_sl_dir failed" >&2
	tail -n 5 "$_sl_dir/maillog" >&2
	return 1
    fi
}

# ---------------------------------------------------------------- milters

# cs_sock_path - the file of a unix socket spec, or nothing for inet
cs_sock_path() {
    case "$1" in
    unix:*) echo "${1#unix:}" ;;
    local:*) echo "${1#local:}" ;;
    /*) echo "$1" ;;
    esac
}

# ms_probe - 0 when SOCKET accepts a connection
ms_probe() {
    _ms_path=$(cs_sock_path "$1")
    if [ -n "$_ms_path" ]; then
	[ -S "$_ms_path" ] || return 1
	perl -MIO::Socket::UNIX -e \
	    'exit(IO::Socket::UNIX->new(Peer => $ARGV[0], Type => SOCK_STREAM) ? 0 : 1)' \
	    "$_ms_path" 2>/dev/null
    else
	# inet:PORT@HOST (libmilter) or inet:HOST:PORT (Postfix)
	case "$1" in
	inet:*@*) _ms_port=$(expr "x$1" : 'xinet:\([^@]*\)@'); _ms_host=${1#*@} ;;
	inet:*) _ms_port=${1##*:}; _ms_host=$(expr "x$1" : 'xinet:\(.*\):[^:]*$') ;;
	*) return 1 ;;
	esac
	perl -MIO::Socket::INET -e \
	    'exit(IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1],
	      Proto => "tcp", Timeout => 2) ? 0 : 1)' "$_ms_host" "$_ms_port" 2>/dev/null
    fi
}

# ms_start - run a milter in the background until its socket answers
ms_start() {
    _ms_sock=$1 _ms_log=$2
    shift 2
    _ms_key=$(cs_key "$_ms_sock")
    _ms_prev=
    for _ms_a in "$@"; do
	[ "$_ms_prev" = "-c" ] && ms_own_dirs "$_ms_a"
	_ms_prev=$_ms_a
    done
    if ms_probe "$_ms_sock"; then
	# An old milter still holds it: the new one could not bind (see ms_stop).
	echo "ms_start: $_ms_sock already answers; stop that milter first" >&2
	return 1
    fi
    _ms_path=$(cs_sock_path "$_ms_sock")
    [ -n "$_ms_path" ] && rm -f "$_ms_path"
    "$@" </dev/null >>"$_ms_log" 2>&1 &
    _ms_pid=$!
    if [ -n "${CS_STATE:-}" ]; then
	echo "$_ms_pid" >"$CS_STATE/ms/$_ms_key.pid"
	echo "$_ms_sock" >"$CS_STATE/ms/$_ms_key.pid.sock"
    fi
    _ms_left=150
    while ! ms_probe "$_ms_sock"; do
	if ! cs_pid_alive "$_ms_pid" || [ "$_ms_left" -le 0 ]; then
	    echo "ms_start: $1 did not open $_ms_sock; log $_ms_log:" >&2
	    tail -n 20 "$_ms_log" >&2
	    ms_stop "$_ms_sock" >/dev/null 2>&1
	    return 1
	fi
	sleep 0.1
	_ms_left=$((_ms_left - 1))
    done
}

# ms_own_dirs CONF - a config that names no SpoolDir or JournalDir gets
# its own beside its SQLite store (writable by UserID, since the store is
# made there), or in CS_TMP for PostgreSQL: crmsync-milter makes both at
# start, and a test must never make, fill or lock the system's
# /var/lib/crmsync (the packaging test checks that directory later).
ms_own_dirs() {
    [ -f "$1" ] || return 0
    _od_db=$(sed -n 's/^Database[[:space:]][[:space:]]*//p' "$1" | tail -n 1)
    case "$_od_db" in
    /*) _od_base=$(dirname "$_od_db") ;;
    *)
	_od_base=${CS_TMP:-/tmp}/dirs.$(cs_key "$1")
	mkdir -p "$_od_base" && chmod 0777 "$_od_base"
	;;
    esac
    grep -q '^SpoolDir[[:space:]]' "$1" || echo "SpoolDir $_od_base/spool" >>"$1"
    grep -q '^JournalDir[[:space:]]' "$1" || echo "JournalDir $_od_base/journal" >>"$1"
}

# ms_start_noop - start the reference do-nothing milter on SOCKET
ms_start_noop() {
    cs_find_bins
    if [ ! -x "$NOOP_MILTER" ]; then
	echo "ms_start_noop: $NOOP_MILTER not built (make -C tests check or milter/noop-milter)" >&2
	return 1
    fi
    ms_start "$1" "${2:-${CS_TMP:-/tmp}/noop-milter.log}" "$NOOP_MILTER" -p "$1"
}

# ms_start_crmsync - start crmsync-milter -c CONF -f; SOCKET as in CONF
ms_start_crmsync() {
    cs_find_bins
    if [ ! -x "$CRMSYNC_MILTER" ]; then
	echo "ms_start_crmsync: $CRMSYNC_MILTER not built" >&2
	return 1
    fi
    ms_start "$2" "${3:-${CS_TMP:-/tmp}/crmsync-milter.log}" "$CRMSYNC_MILTER" -c "$1" -f
}

# ms_pid - the pid ms_start recorded for SOCKET
ms_pid() {
    [ -n "${CS_STATE:-}" ] && cat "$CS_STATE/ms/$(cs_key "$1").pid" 2>/dev/null
}

# ms_stop_pid PID SOCKET [TIMEOUT] - SIGTERM a libmilter milter and wait
# for it. libmilter's listener looks at the stop flag only after a
# connection or when its poll times out (every 5 s, MI_CHK_TIME), so an
# idle milter takes up to 5 s to leave smfi_main; a connection to SOCKET
# after the signal (as the MTA's next one would) wakes it at once. The
# connections are closed without a command: no callback but close runs.
ms_stop_pid() {
    _mp_pid=$1 _mp_sock=$2 _mp_to=${3:-15}
    cs_pid_alive "$_mp_pid" || { wait "$_mp_pid" 2>/dev/null; return 0; }
    kill -TERM "$_mp_pid" 2>/dev/null
    # Poke every 0.2 s: one before the signal is handled only starts an
    # idle session, and the listener polls again.
    _mp_left=$((_mp_to * 10))
    while cs_pid_alive "$_mp_pid"; do
	if [ "$_mp_left" -le 0 ]; then
	    echo "pid $_mp_pid ignored SIGTERM for ${_mp_to}s: SIGKILL" >&2
	    kill -KILL "$_mp_pid" 2>/dev/null
	    cs_wait 5 eval "! cs_pid_alive $_mp_pid" || return 1
	    break
	fi
	[ $((_mp_left % 2)) = 0 ] && ms_probe "$_mp_sock"
	sleep 0.1
	_mp_left=$((_mp_left - 1))
    done
    wait "$_mp_pid" 2>/dev/null
    return 0
}

# ms_stop - stop the milter on SOCKET and wait until it is gone
ms_stop() {
    _ms_f=${CS_STATE:-/nonexistent}/ms/$(cs_key "$1").pid
    _ms_rc=0
    if [ -f "$_ms_f" ]; then
	ms_stop_pid "$(cat "$_ms_f")" "$1" 15 || _ms_rc=1
	rm -f "$_ms_f" "$_ms_f.sock"
    fi
    _ms_path=$(cs_sock_path "$1")
    [ -n "$_ms_path" ] && rm -f "$_ms_path"
    return $_ms_rc
}

# ms_kill - SIGKILL the milter on SOCKET, as a crash would
ms_kill() {
    _ms_f=${CS_STATE:-/nonexistent}/ms/$(cs_key "$1").pid
    [ -f "$_ms_f" ] || return 1
    _ms_pid=$(cat "$_ms_f")
    kill -KILL "$_ms_pid" 2>/dev/null
    cs_wait 5 eval "! cs_pid_alive $_ms_pid"
    wait "$_ms_pid" 2>/dev/null
    rm -f "$_ms_f" "$_ms_f.sock"
    return 0
}

# ---------------------------------------------------------------- TAP

# tap_plan - announce N tests
tap_plan() {
    _TAP_PLANNED=$1
    echo "1..$1"
}

# tap_result - print one result line; OK is 0 for pass
tap_result() {
    _TAP_N=$((${_TAP_N:-0} + 1))
    if [ "$1" = 0 ]; then
	echo "ok $_TAP_N - $2"
    else
	_TAP_FAIL=$((${_TAP_FAIL:-0} + 1))
	echo "not ok $_TAP_N - $2"
    fi
}

# tap_diag - diagnostics for a human
tap_diag() {
    printf '%s\n' "$@" | sed 's/^/# /' >&2
}

# tap_ok - pass when the command succeeds
tap_ok() {
    _tap_desc=$1
    shift
    _tap_out=${CS_TMP:-/tmp}/tap-ok.$$.out
    "$@" >"$_tap_out" 2>&1
    _tap_rc=$?
    tap_result "$_tap_rc" "$_tap_desc"
    if [ "$_tap_rc" != 0 ]; then
	tap_diag "command: $* (exit $_tap_rc)"
	sed 's/^/# /' "$_tap_out" >&2
    fi
    rm -f "$_tap_out"
    return "$_tap_rc"
}

# tap_is - pass when GOT equals WANT
tap_is() {
    if [ "$1" = "$2" ]; then
	tap_result 0 "$3"
    else
	tap_result 1 "$3"
	tap_diag "got:" "$1" "want:" "$2"
	return 1
    fi
}

# tap_like - pass when GOT matches the extended regex
tap_like() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then
	tap_result 0 "$3"
    else
	tap_result 1 "$3"
	tap_diag "got:" "$1" "want match: $2"
	return 1
    fi
}

# tap_skip_all - skip the whole test
tap_skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# tap_bail - give up the whole run
tap_bail() {
    echo "Bail out! $*"
    exit 1
}

# tap_done - close the test; exit status 0 when everything passed
tap_done() {
    [ -n "${_TAP_PLANNED:-}" ] || echo "1..${_TAP_N:-0}"
    if [ "${_TAP_FAIL:-0}" != 0 ]; then
	tap_diag "failed ${_TAP_FAIL} of ${_TAP_N}"
	return 1
    fi
    if [ -n "${_TAP_PLANNED:-}" ] && [ "$_TAP_PLANNED" != "$_TAP_N" ]; then
	tap_diag "planned $_TAP_PLANNED tests, ran $_TAP_N"
	return 1
    fi
    return 0
}
