#!/bin/sh
# postfix-bench.sh - what crmsync-milter costs a real Postfix (issue 8)
#
# SYNOPSIS
#	tests/bench/postfix-bench.sh [--full] [options]
#
# DESCRIPTION
#	smtp-source sends into private Postfix instances on loopback that
#	relay everything to smtp-sink. Three configurations are measured,
#	interleaved in one run (A B C, then B C A, then C A B, ...) so that
#	drift and noise fall on all of them alike:
#	  a  Postfix alone, no milter;
#	  b  the naive do-nothing libmilter milter (tests/milter/noop-milter:
#	     every callback registered, no negotiation);
#	  c  crmsync-milter with its crash-safe store (SQLite, WAL,
#	     synchronous=FULL, commit before end-of-message is answered) and
#	     a realistic policy (gen-policy.sh: 1,000 users, half sync all,
#	     half sync labels, 750 with a 20-rule Sieve script of their own);
#	     every recipient is a user;
#	  d  (only with --compare BIN) the same as c with another
#	     crmsync-milter binary, a store of its own: how an edit to
#	     crmsync changes throughput, measured interleaved with c.
#	Each configuration has its own Postfix instance (no reload between
#	runs); the milters of a workload are started with a fresh store and
#	stopped after it.
#
#	msg/s is messages over smtp-source's wall time: the rate at which
#	Postfix accepts mail, which is where a milter costs (delivery to the
#	sink goes on meanwhile and the queue is drained between runs). A
#	crmsync run counts only when "crmsyncctl stats" shows a committed
#	record for every message sent (records delta = messages); otherwise
#	it is marked invalid and left out. Ratios are the median over rounds
#	of the per-round ratios. CPU is crmsync-milter's (and the noop
#	milter's) utime+stime from /proc/PID/stat over the run, per message;
#	peak RSS is VmHWM, reset before each run (clear_refs 5). The
#	whole machine's CPU per message over the same span, split into the
#	milter, Postfix, the load generator, kernel threads, other
#	processes, interrupts and idle (tests/bench/syscpu.sh), is in
#	sys.txt per run and summed up below the table. Store bytes
#	are db_bytes/records and raw_bytes/raw_blobs after the workload, with
#	the milter stopped (so the WAL is checkpointed).
#
#	A workload is SESSIONS:SIZE:RCPTS:SOCKET, SIZE a byte count with k or
#	m (4k, 1m, 10m), SOCKET unix, tcp or tcpq (TCP with the loopback
#	routes switched to "quickack 1" during that workload's runs: see
#	--quickack). Messages per run: -m for sizes below 64k, -m/10 (at
#	least 40) up to 2m, 200 above.
#
#	Default (CI smoke, well under 60 s): -m 200, one round, workload
#	20:4k:1:unix. --full: -m 2000, 5 rounds, the workloads
#	  20:4k:1:unix 100:4k:1:unix 20:4k:5:unix 20:1m:1:unix
#	  100:1m:1:unix 20:4k:1:tcp 100:4k:1:tcp 100:10m:1:unix
#	plus 20:4k:1:tcpq when the quickack route can be set.
#
# OPTIONS
#	--full		the documented full run (about 30 minutes)
#	-m N		messages per run (4k workloads)
#	--rounds N	rounds (each runs every configuration once)
#	--workloads "W ..."	replace the workload list
#	--configs "a b c"	measure only these configurations
#	--users N	policy users (default 1000)
#	--quickack	add 20:4k:1:tcpq (needs root; routes restored at exit)
#	--compare BIN	add configuration d: crmsync-milter BIN (e.g. a build
#			from before an edit); the table adds c/d. d's stats
#			are read with BIN/../../ctl/crmsyncctl when it exists
#			(a build tree; its schema may be older), else with
#			CRMSYNCCTL; CRMSYNCCTL_D overrides
#	--perf		record crmsync-milter with "perf record -g" during its
#			runs; prints the top symbols per workload
#			(PERF_CALLGRAPH replaces -g, e.g. "--call-graph
#			dwarf,16384" for call chains through libraries)
#	--api-load N	measure mail while crmsync-api serves pages: a
#			ctl-gen store of N messages (api-bench.sh's) behind
#			crmsync-api on loopback; each round runs every
#			configuration twice, first alone (workload W), then
#			while wrk asks for 50-thread mailbox pages on 32
#			keep-alive connections (workload W+api), so the table
#			has c/b unloaded and loaded from the same rounds;
#			wrk's requests/s of each loaded round are printed
#	--out DIR	keep results (runs.txt, table.txt, logs) in DIR
#	--keep		keep the scratch directory (CS_KEEP=1)
#
# ENVIRONMENT
#	top_srcdir, top_builddir (default: this source tree), NOOP_MILTER,
#	CRMSYNC_MILTER, CRMSYNCCTL as in tests/lib.sh. CS_CONF_EXTRA and
#	CS_CONF_EXTRA_D: config lines added to c's and d's crmsync.conf,
#	each replacing the base line of its key (a config change measured
#	against the default: the same binary as --compare BIN, e.g.
#	CS_CONF_EXTRA_D="LogLevel warn"). Needs
#	root, Postfix, smtp-source and smtp-sink (CRMSYNC_E2E=1 is not
#	required).
#
# EXIT STATUS
#	0 when every run completed and every crmsync run was valid; 1
#	otherwise; 77 when the machine cannot run it (not root, no Postfix).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

M=200
ROUNDS=1
WORKLOADS="20:4k:1:unix"
CONFIGS="a b c"
USERS=1000
QUICKACK=0
FULL=0
PERF=0
API_LOAD=0
OUT=
while [ $# -gt 0 ]; do
    case "$1" in
    --full) FULL=1; M=2000; ROUNDS=5
	WORKLOADS="20:4k:1:unix 100:4k:1:unix 20:4k:5:unix 20:1m:1:unix 100:1m:1:unix 20:4k:1:tcp 100:4k:1:tcp 100:10m:1:unix"
	QUICKACK=1 ;;
    -m) M=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --workloads) WORKLOADS=$2; shift ;;
    --configs) CONFIGS=$2; shift ;;
    --users) USERS=$2; shift ;;
    --quickack) QUICKACK=1 ;;
    --perf) PERF=1 ;;
    --api-load) API_LOAD=$2; shift ;;
    --compare) CRMSYNC_MILTER_D=$2
	case " $CONFIGS " in *" d "*) ;; *) CONFIGS="$CONFIGS d" ;; esac
	shift ;;
    --out) OUT=$2; shift ;;
    --keep) CS_KEEP=1; export CS_KEEP ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "postfix-bench: unknown option $1 (--help)" >&2; exit 1 ;;
    esac
    shift
done

case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
if [ "$(id -u)" != 0 ]; then
    echo "postfix-bench: needs root (private Postfix instances)" >&2
    exit 77
fi
for b in postfix postconf postqueue smtp-source smtp-sink perl runuser; do
    command -v "$b" >/dev/null 2>&1 || { echo "postfix-bench: $b missing" >&2; exit 77; }
done
cs_find_bins
# d's stats: the crmsyncctl built beside BIN, which knows d's schema.
if [ -n "$CRMSYNC_MILTER_D" ] && [ -z "$CRMSYNCCTL_D" ]; then
    CRMSYNCCTL_D=$(dirname "$CRMSYNC_MILTER_D")/../ctl/crmsyncctl
    [ -x "$CRMSYNCCTL_D" ] || CRMSYNCCTL_D=$CRMSYNCCTL
fi
for b in "$NOOP_MILTER" "$CRMSYNC_MILTER" "$CRMSYNCCTL" ${CRMSYNC_MILTER_D:+"$CRMSYNCCTL_D"}; do
    [ -x "$b" ] || { echo "postfix-bench: $b not built (make -C tests milter/noop-milter; make)" >&2; exit 1; }
done
# Not crmsync-e2e.*: nothing that tidies up after the tests may take it.
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-bench.XXXXXX") || exit 1
cs_init "$BENCH_TMP" || exit 1
[ -n "$OUT" ] || OUT=$CS_TMP/out
mkdir -p "$OUT" || exit 1
RUNS=$OUT/runs.txt
: >"$RUNS"
HZ=$(getconf CLK_TCK)
FAILED=0

getent group crmsync >/dev/null || groupadd --system crmsync
getent passwd crmsync >/dev/null \
    || useradd --system --gid crmsync --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin crmsync

# ---------------------------------------------------------------- quickack

# The loopback routes as they were, to restore at exit.
QA_SAVED=$CS_TMP/routes.saved
ip route show table local 2>/dev/null | grep '^local 127\.' >"$QA_SAVED"

# qa_set - quickack 1 on every loopback route (1) or back as saved (0)
qa_set() {
    while read -r line; do
	line=$(printf '%s\n' "$line" | sed 's/ quickack [0-9]*//')
	if [ "$1" = 1 ]; then
	    # shellcheck disable=SC2086
	    ip route change $line table local quickack 1 || return 1
	else
	    # shellcheck disable=SC2086
	    ip route change $line table local || return 1
	fi
    done <"$QA_SAVED"
}

bench_exit() {
    [ -s "$QA_SAVED" ] && qa_set 0 2>/dev/null
    [ "$API_LOAD" -gt 0 ] && { api_load_off >/dev/null 2>&1; bench_api_stop; }
    cs_cleanup
    [ "${CS_KEEP:-0}" = 1 ] || rm -rf "$BENCH_TMP"
}
trap bench_exit EXIT

if [ "$QUICKACK" = 1 ]; then
    if [ -s "$QA_SAVED" ] && qa_set 1 && qa_set 0; then
	case " $WORKLOADS " in *:tcpq\ *) ;; *) WORKLOADS="$WORKLOADS 20:4k:1:tcpq" ;; esac
    else
	echo "postfix-bench: cannot set quickack on the loopback routes: no tcpq workload" >&2
    fi
fi

# ---------------------------------------------------------------- setup

SINK=$(cs_free_port) || exit 1
mkdir -p "$CS_TMP/sink" && chown postfix "$CS_TMP/sink"
# No dump file: writing every message out would cost more than a milter.
smtp-sink -u postfix "127.0.0.1:$SINK" 256 </dev/null >"$CS_TMP/sink/log" 2>&1 &
echo $! >"$CS_STATE/sink/$SINK.pid"
cs_wait 10 eval "! cs_port_free $SINK" || { echo "smtp-sink did not start" >&2; exit 1; }

PF_CONFIGS="a b c"
[ -n "${CRMSYNC_MILTER_D:-}" ] && PF_CONFIGS="a b c d"
for cf in $PF_CONFIGS; do
    eval "PORT_$cf=\$(cs_free_port)" || exit 1
    eval "port=\$PORT_$cf"
    pf_setup "$CS_TMP/pf-$cf" "$port" "$SINK" || exit 1
    # in_flow_delay 0: measure the SMTP server and its milter, not the
    # arrival-rate throttle. 50M: the 10 MB workload.
    pf_conf "$CS_TMP/pf-$cf" "in_flow_delay = 0" "default_process_limit = 250" \
	"message_size_limit = 52428800" "smtpd_client_connection_count_limit = 0" \
	"smtpd_client_message_rate_limit = 0" "smtpd_client_connection_rate_limit = 0" \
	|| exit 1
    pf_start "$CS_TMP/pf-$cf" || exit 1
done

RUN=$CS_TMP/run
mkdir -p "$RUN" "$CS_TMP/spool"
chown crmsync:postfix "$RUN" && chmod 2750 "$RUN"
chown crmsync "$CS_TMP/spool" && chmod 700 "$CS_TMP/spool"

# The most recipient numbers smtp-source -N hands out in one run.
maxaddr=$((M * 5))
[ "$maxaddr" -ge 2000 ] || maxaddr=2000
"$top_srcdir/tests/bench/gen-policy.sh" "$CS_TMP/policy" "$USERS" "$maxaddr" || exit 1

# ---------------------------------------------------------------- helpers

now() { date +%s.%N; }
ctl() { runuser -u crmsync -- "$CRMSYNCCTL" -c "$CS_TMP/crmsync.conf" "$@"; }
ctl_d() { runuser -u crmsync -- "$CRMSYNCCTL_D" -c "$CS_TMP/crmsync-d.conf" "$@"; }
stat_field() { sed -n "s/^  \"$1\": \([0-9]*\).*/\1/p"; }
journaled() { sed -n 's/^ *"journaled": \([0-9]*\).*/\1/p' | head -n 1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
# size_bytes - 4k, 1m, 10m, 512 -> bytes
size_bytes() {
    case "$1" in
    *k) echo $(( ${1%k} * 1024 )) ;;
    *m) echo $(( ${1%m} * 1048576 )) ;;
    *) echo "$1" ;;
    esac
}
# msgs_for - messages per run for a message size
msgs_for() {
    if [ "$1" -lt 65536 ]; then
	echo "$M"
    elif [ "$1" -le 2097152 ]; then
	n=$((M / 10))
	[ "$n" -ge 40 ] || n=40
	echo "$n"
    else
	echo 200
    fi
}

# cs_conf SOCKET STOREDIR CONFNAME [EXTRA] - a crmsync config with a
# fresh store; EXTRA, config lines added at the end
cs_conf() {
    rm -rf "${CS_TMP:?}/$2"
    mkdir -p "$CS_TMP/$2"
    chown crmsync:crmsync "$CS_TMP/$2" && chmod 2770 "$CS_TMP/$2"
    # An extra line replaces the base line of the same key (a config
    # names each key once).
    awk -v extra="${4:-}" 'BEGIN { n = split(extra, l, "\n")
	for (i = 1; i <= n; i++) { split(l[i], f, " "); if (f[1] != "") k[f[1]] = 1 } }
	!($1 in k)' >"$CS_TMP/$3" <<CONF
Socket $1
UserID crmsync
UMask 007
Database $CS_TMP/$2/crmsync.db
SpoolDir $CS_TMP/spool
JournalDir $CS_TMP/$2/journal
PolicyDir $CS_TMP/policy
InternalDomains example.com
Syslog no
LogLevel info
CONF
    [ -z "${4:-}" ] || printf '%s\n' "$4" >>"$CS_TMP/$3"
}

# milters_start SOCKTYPE - noop and crmsync milters, fresh store; attach
milters_start() {
    case "$1" in
    unix) NOOP_SOCK=unix:$RUN/noop.sock; CS_SOCK=unix:$RUN/crmsync.sock
	D_SOCK=unix:$RUN/crmsync-d.sock ;;
    tcp*) NOOP_SOCK=inet:$(cs_free_port)@127.0.0.1; CS_SOCK=inet:$(cs_free_port)@127.0.0.1
	D_SOCK=inet:$(cs_free_port)@127.0.0.1 ;;
    esac
    cs_conf "$CS_SOCK" store crmsync.conf "${CS_CONF_EXTRA:-}" || return 1
    case " $CONFIGS " in *" d "*)
	cs_conf "$D_SOCK" store-d crmsync-d.conf "${CS_CONF_EXTRA_D:-}" || return 1
	ms_start "$D_SOCK" "$OUT/crmsync-milter-d.log" "$CRMSYNC_MILTER_D" \
	    -c "$CS_TMP/crmsync-d.conf" -f || return 1
	pf_set_milter "$CS_TMP/pf-d" "$D_SOCK" || return 1 ;;
    *) D_SOCK= ;;
    esac
    case " $CONFIGS " in *" b "*)
	ms_start_noop "$NOOP_SOCK" "$OUT/noop-milter.log" || return 1
	pf_set_milter "$CS_TMP/pf-b" "$NOOP_SOCK" || return 1 ;;
    esac
    case " $CONFIGS " in *" c "*)
	ms_start_crmsync "$CS_TMP/crmsync.conf" "$CS_SOCK" "$OUT/crmsync-milter.log" || return 1
	pf_set_milter "$CS_TMP/pf-c" "$CS_SOCK" || return 1 ;;
    esac
    # A reload replaces smtpd processes as they finish; give them a moment.
    sleep 1
}

# milters_stop - stop the milters, in parallel (libmilter takes 5 s each)
milters_stop() {
    _pids=
    for _s in ${NOOP_SOCK:-} ${CS_SOCK:-} ${D_SOCK:-}; do
	ms_stop "$_s" &
	_pids="$_pids $!"
    done
    # Not a bare wait: smtp-sink is a child of this shell too.
    [ -z "$_pids" ] || wait $_pids
    NOOP_SOCK= CS_SOCK= D_SOCK=
}

# run_one WORKLOAD CONFIG ROUND [LABEL] - one smtp-source run; a line in
# $RUNS under LABEL (default WORKLOAD)
run_one() {
    _w=$1 _cf=$2 _r=$3 _label=${4:-$1}
    IFS=: read -r _s _size _rc _sock <<EOF
$_w
EOF
    _len=$(size_bytes "$_size")
    _m=$(msgs_for "$_len")
    eval "_port=\$PORT_$_cf"
    _pid= _rec0=0
    case "$_cf" in
    b) _pid=$(ms_pid "$NOOP_SOCK") ;;
    c) _pid=$(ms_pid "$CS_SOCK")
	_rec0=$(ctl stats | stat_field records) ;;
    d) _pid=$(ms_pid "$D_SOCK")
	_rec0=$(ctl_d stats | stat_field records) ;;
    esac
    if [ -n "$_pid" ]; then
	echo 5 >"/proc/$_pid/clear_refs" 2>/dev/null
	_cpu0=$(cpu_ticks "$_pid")
    fi
    _perf=
    if [ "$PERF" = 1 ] && [ "$_cf" = c ]; then
	perf record -q ${PERF_CALLGRAPH:--g} -e cpu-clock -p "$_pid" -o "$OUT/perf-$(cs_key "$_label")-$_r.data" \
	    >/dev/null 2>&1 &
	_perf=$!
	sleep 0.5
    fi
    "$top_srcdir/tests/bench/syscpu.sh" snap "$CS_TMP/sys0"
    _t0=$(now)
    smtp-source -s "$_s" -m "$_m" -l "$_len" -r "$_rc" -N -f bench@outside.example \
	-t u@example.com -S "bench $_w" "127.0.0.1:$_port" >"$OUT/smtp-source.log" 2>&1
    _src=$?
    _t1=$(now)
    if [ -n "$_perf" ]; then
	kill -INT "$_perf" 2>/dev/null
	wait "$_perf" 2>/dev/null
    fi
    _cpu=- _hwm=- _valid=ok
    [ "$_src" = 0 ] || _valid=smtp-source-failed
    if [ "$_cf" = c ] || [ "$_cf" = d ]; then
	_ctl=ctl
	[ "$_cf" = d ] && _ctl=ctl_d
	# Every record is durable before end-of-message is answered: in the
	# store, or in the journal (C6) when the store did not commit within
	# StoreWait (large mail); the journal's replay may still be running.
	# Wait for it (its CPU is counted below), at most 120 s.
	_rec1=$($_ctl stats | stat_field records)
	_left=120
	while [ "$((_rec1 - _rec0))" -lt "$_m" ] && [ "$_left" -gt 0 ]; do
	    sleep 1
	    _left=$((_left - 1))
	    _rec1=$($_ctl stats | stat_field records)
	done
	[ "$_left" -lt 118 ] && echo "# $_w $_cf: the journal's replay took $((120 - _left)) s more" >&2
	[ "$((_rec1 - _rec0))" -ge "$_m" ] || _valid="invalid:records=$((_rec1 - _rec0))/$_m"
    fi
    "$top_srcdir/tests/bench/syscpu.sh" snap "$CS_TMP/sys1"
    echo "$_label $_cf $_r $("$top_srcdir/tests/bench/syscpu.sh" diff "$CS_TMP/sys0" "$CS_TMP/sys1" "$_m")" \
	>>"$OUT/sys.txt"
    if [ -n "$_pid" ]; then
	_cpu=$(( $(cpu_ticks "$_pid") - _cpu0 ))
	_hwm=$(hwm_kb "$_pid")
    fi
    [ "$_valid" = ok ] || FAILED=1
    wait_queue_empty "$CS_TMP/pf-$_cf" 300 || { FAILED=1; _valid="$_valid,queue"; }
    # workload config round msgs seconds cpu_ticks hwm_kb valid
    awk -v w="$_label" -v c="$_cf" -v r="$_r" -v m="$_m" -v t0="$_t0" -v t1="$_t1" \
	-v cpu="$_cpu" -v hwm="$_hwm" -v v="$_valid" \
	'BEGIN { printf "%s %s %s %d %.3f %s %s %s\n", w, c, r, m, t1 - t0, cpu, hwm, v }' \
	>>"$RUNS"
    tail -n 1 "$RUNS" >&2
}

# ---------------------------------------------------------------- API load

# --api-load: crmsync-api on its own generated store (not the milter's),
# loaded by wrk during the loaded half of each round.
WRK_PID=
if [ "$API_LOAD" -gt 0 ]; then
    : "${CTL_GEN:=$top_builddir/tests/bench/ctl-gen}"
    : "${CRMSYNC_API:=$top_builddir/api/crmsync-api}"
    for b in "$CTL_GEN" "$CRMSYNC_API" "$(command -v wrk)"; do
	[ -x "$b" ] || { echo "postfix-bench: --api-load needs ctl-gen, crmsync-api and wrk" >&2
	    exit 1; }
    done
    . "$top_srcdir/tests/bench/benchlib.sh"
    bench_store "$CS_TMP/api" "$API_LOAD" 100 0 >&2 && bench_policy "$CS_TMP/api" 100 \
	&& bench_api_start "$CS_TMP/api" "$STORE" || exit 1
fi

# api_load_on WORKLOAD ROUND - wrk on mailbox pages until api_load_off
api_load_on() {
    WRK_OUT=$OUT/wrk-$(cs_key "$1")-$2.out
    wrk -t 2 -c 32 -d 36000s -H "Authorization: Bearer $TOKEN" -H "Crmsync-As: $user" \
	"$URL/v1/mailbox?limit=50" >"$WRK_OUT" 2>&1 &
    WRK_PID=$!
    WRK_LABEL="$1+api round $2"
    sleep 1
    kill -0 "$WRK_PID" 2>/dev/null
}

# api_load_off - stop wrk; one line: its pages/s (wrk prints its totals on
# SIGINT). Not in a pipeline: a subshell cannot wait for wrk.
api_load_off() {
    [ -n "$WRK_PID" ] || return 0
    kill -INT "$WRK_PID" 2>/dev/null
    wait "$WRK_PID" 2>/dev/null
    WRK_PID=
    echo "$WRK_LABEL: crmsync-api $(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WRK_OUT") pages/s" \
	"(wrk, 32 connections; $(grep -E -c 'Non-2xx|Socket errors' "$WRK_OUT") error lines)"
}

# ---------------------------------------------------------------- run

STORE_LINES=$OUT/store.txt
: >"$STORE_LINES"
echo "# postfix-bench: workloads: $WORKLOADS; -m $M; rounds $ROUNDS; configs $CONFIGS; users $USERS" >&2
for w in $WORKLOADS; do
    sock=${w##*:}
    milters_start "$sock" || { echo "postfix-bench: cannot start milters for $w" >&2; exit 1; }
    [ -n "${CS_SOCK:-}" ] && echo "$w idle_rss_kb $(hwm_kb "$(ms_pid "$CS_SOCK")")" >>"$STORE_LINES"
    [ "$sock" = tcpq ] && qa_set 1
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
	# Rotate the order each round: a b c, b c a, c a b, ...
	set -- $CONFIGS
	k=$(( (r - 1) % $# ))
	while [ "$k" -gt 0 ]; do
	    first=$1
	    shift
	    set -- "$@" "$first"
	    k=$((k - 1))
	done
	for cf in "$@"; do
	    run_one "$w" "$cf" "$r"
	done
	if [ "$API_LOAD" -gt 0 ]; then
	    api_load_on "$w" "$r" || { echo "postfix-bench: cannot load the API" >&2; exit 1; }
	    for cf in "$@"; do
		run_one "$w" "$cf" "$r" "$w+api"
	    done
	    api_load_off >>"$OUT/api-load.txt"
	    tail -n 1 "$OUT/api-load.txt" >&2
	fi
	r=$((r + 1))
    done
    [ "$sock" = tcpq ] && qa_set 0
    if [ -n "${CS_SOCK:-}" ]; then
	_csock=$CS_SOCK
	_dsock=${D_SOCK:-}
	milters_stop
	ctl stats >"$OUT/stats-$(cs_key "$w").json" 2>&1
	# Records that went through the journal (C6: the store found slow).
	_jn_d=-
	if [ -n "$_dsock" ]; then
	    ctl_d stats >"$OUT/stats-d-$(cs_key "$w").json" 2>&1
	    _jn_d=$(journaled <"$OUT/stats-d-$(cs_key "$w").json")
	fi
	echo "$w records $(stat_field records <"$OUT/stats-$(cs_key "$w").json")" \
	    "messages $(stat_field messages <"$OUT/stats-$(cs_key "$w").json")" \
	    "db_bytes $(stat_field db_bytes <"$OUT/stats-$(cs_key "$w").json")" \
	    "raw_bytes $(stat_field raw_bytes <"$OUT/stats-$(cs_key "$w").json")" \
	    "raw_blobs $(stat_field raw_blobs <"$OUT/stats-$(cs_key "$w").json")" \
	    "commit_groups $(stat_field commit_groups <"$OUT/stats-$(cs_key "$w").json")" \
	    "journaled $(journaled <"$OUT/stats-$(cs_key "$w").json")" "d_journaled ${_jn_d:--}" \
	    >>"$STORE_LINES"
    else
	milters_stop
    fi
done

# ---------------------------------------------------------------- report

"$top_srcdir/tests/bench/bench-report.sh" "$RUNS" "$STORE_LINES" "$HZ" | tee "$OUT/table.txt"
# The whole machine's CPU per message (syscpu.sh), median per configuration.
awk '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++)
	for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    k = $1 " " $2
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    for (i = 4; i <= 21; i += 2) { v[k, i] = v[k, i] " " $(i + 1); name[i] = $i }
}
END {
    if (n) print "whole machine, ms of CPU per message (median; syscpu.sh):"
    for (o = 1; o <= n; o++) {
	line = sprintf("  %-16s %s", order[o], "")
	for (i = 4; i <= 21; i += 2) line = line sprintf(" %s %.3f", name[i], median(v[order[o], i]))
	print line
    }
}' "$OUT/sys.txt" | tee -a "$OUT/table.txt"
if [ "$PERF" = 1 ]; then
    for f in "$OUT"/perf-*.data; do
	[ -f "$f" ] || continue
	echo "== $(basename "$f"): top symbols (self)"
	perf report -i "$f" --stdio --no-children --sort symbol 2>/dev/null \
	    | grep -E '^ +[0-9]' | head -n 25
    done | tee "$OUT/perf.txt"
fi
if grep -qi milter "$CS_TMP/pf-b/maillog" "$CS_TMP/pf-c/maillog" 2>/dev/null \
    && grep -iE 'milter.*(warning|error|fatal)|(warning|error|fatal).*milter' \
	"$CS_TMP/pf-b/maillog" "$CS_TMP/pf-c/maillog" | grep -v 'reload' | head -n 5 >&2; then
    echo "postfix-bench: milter warnings in the maillog (above): results suspect" >&2
    FAILED=1
fi
exit "$FAILED"
