#!/bin/sh
# syscpu.sh - the whole machine's CPU over a benchmark run, by process group
#
# SYNOPSIS
#	tests/bench/syscpu.sh snap FILE
#	tests/bench/syscpu.sh diff BEFORE AFTER MSGS
#
# DESCRIPTION
#	"snap" writes the machine's CPU counters to FILE: the "cpu" and
#	"ctxt" lines of /proc/stat and, for every process, its pid, parent,
#	name, utime, stime, cutime and cstime (/proc/PID/stat, which count
#	all of a process's threads, dead ones included).
#
#	"diff" prints one line of CPU milliseconds per message between two
#	snapshots (MSGS messages in between), split into groups:
#	  milter   crmsync-milter and noop-milter (utime+stime)
#	  postfix  Postfix's daemons (smtpd, cleanup, qmgr, smtp, master,
#	           trivial-rewrite, ...)
#	  load     smtp-source and smtp-sink, the load generator
#	  kthread  kernel threads (children of kthreadd: jbd2, kworker
#	           writeback, ksoftirqd, ...), with the three largest named
#	  other    every other process (other helpers' work on a shared box)
#	  rest     busy time the machine counted and no process did
#	           (interrupts, softirq outside ksoftirqd, processes that
#	           started and ended in between and whose parent ended too)
#	  busy     the machine's total non-idle time (/proc/stat)
#	  idle     idle and iowait
#	  ctxsw    context switches per message (whole machine)
#	Each process counts its own time and that of the children it reaped
#	in between (cutime+cstime: Postfix's master reaps its daemons, make
#	its compilers); processes that started after BEFORE count from zero.
#	A child alive at BEFORE and reaped later counts its time before
#	BEFORE too: a slight overcount, kept in its parent's group.

HZ=$(getconf CLK_TCK)

case "$1" in
snap)
    {
	grep -E '^(cpu |ctxt )' /proc/stat
	for f in /proc/[0-9]*/stat; do
	    cat "$f" 2>/dev/null
	done | awk '{
	    # comm is in parentheses and may hold spaces or parentheses
	    l = $0
	    i = index(l, "("); j = length(l)
	    while (j > 0 && substr(l, j, 1) != ")") j--
	    pid = substr(l, 1, i - 2); comm = substr(l, i + 1, j - i - 1)
	    gsub(/[^A-Za-z0-9_.:\/-]/, "_", comm)
	    n = split(substr(l, j + 2), f, " ")
	    # f[1] state, f[2] ppid, ... f[12] utime f[13] stime f[14] cutime f[15] cstime
	    print "p", pid, f[2], comm, f[12], f[13], f[14], f[15]
	}'
    } >"$2"
    ;;
diff)
    awk -v hz="$HZ" -v msgs="$4" '
    FNR == NR {
	if ($1 == "cpu") { b0 = $2 + $3 + $4 + $7 + $8 + $9; i0 = $5 + $6 }
	else if ($1 == "ctxt") c0 = $2
	else { u[$2] = $5 + $6; cu[$2] = $7 + $8 }
	next
    }
    $1 == "cpu" { b1 = $2 + $3 + $4 + $7 + $8 + $9; i1 = $5 + $6; next }
    $1 == "ctxt" { c1 = $2; next }
    {
	pid = $2; ppid = $3; comm = $4
	d = $5 + $6 - (pid in u ? u[pid] : 0)
	if (d < 0) d = 0
	# Children reaped meanwhile (a compiler under make, a Postfix
	# daemon that exited) count for the parent that reaped them.
	if (pid in u) { dc = $7 + $8 - cu[pid]; if (dc > 0) d += dc }
	if (comm == "crmsync-milter" || comm == "noop-milter") g = "milter"
	else if (comm ~ /^(smtp-source|smtp-sink)$/) g = "load"
	else if (comm ~ /^(master|smtpd|cleanup|qmgr|smtp|trivial-rewrite|pickup|bounce|anvil|tlsmgr|proxymap|postdrop|sendmail|local|error|discard|scache|verify|showq|postqueue|postfix|postlog|postlogd)$/) {
	    g = "postfix"
	} else if (ppid == 2 || pid == 2) {
	    g = "kthread"
	    k = comm; sub(/[\/:].*/, "", k); sub(/[0-9]+$/, "", k)
	    kt[k] += d
	} else g = "other"
	sum[g] += d; tot += d
    }
    END {
	busy = b1 - b0; idle = i1 - i0
	ms = 1000 / hz / msgs
	n = 0
	for (k in kt) if (kt[k] > 0) { names[++n] = k }
	for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++)
	    if (kt[names[b]] > kt[names[a]]) { t = names[a]; names[a] = names[b]; names[b] = t }
	top = ""
	for (a = 1; a <= n && a <= 3; a++) top = top sprintf("%s%s %.3f", a > 1 ? ", " : "", names[a], kt[names[a]] * ms)
	rest = busy - tot; if (rest < 0) rest = 0
	printf "milter %.3f postfix %.3f load %.3f kthread %.3f other %.3f rest %.3f busy %.3f idle %.3f ctxsw %.1f (kthreads: %s)\n", \
	    sum["milter"] * ms, sum["postfix"] * ms, sum["load"] * ms, sum["kthread"] * ms, \
	    sum["other"] * ms, rest * ms, busy * ms, idle * ms, (c1 - c0) / msgs, top
    }' "$2" "$3"
    ;;
*)
    echo "usage: syscpu.sh snap FILE | diff BEFORE AFTER MSGS" >&2
    exit 1
    ;;
esac
