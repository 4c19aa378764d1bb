#!/bin/sh
# bench-report.sh - the table of a postfix-bench.sh run
#
# SYNOPSIS
#	bench-report.sh RUNS STORE HZ
#
# DESCRIPTION
#	RUNS has one line per run: "WORKLOAD CONFIG ROUND MSGS SECONDS
#	CPU_TICKS VMHWM_KB VALID" (CPU and VmHWM "-" for no milter). STORE
#	has "WORKLOAD idle_rss_kb N" and "WORKLOAD records N messages N
#	db_bytes N raw_bytes N raw_blobs N commit_groups N journaled N
#	d_journaled N" lines (journaled: records the milter put in its
#	journal, C6, because the store was found slow; d_ for --compare's
#	store, "-" without one). HZ is
#	CLK_TCK. Prints, per workload, the median msg/s of each configuration
#	over its valid runs, the medians of the per-round ratios c/b and
#	c/a (and b/a; c/d when a --compare configuration d ran), CPU milliseconds per message (median), crmsync's peak
#	RSS (largest VmHWM), then the store's size per message and the
#	journaled records.

[ $# -eq 3 ] || { echo "usage: bench-report.sh RUNS STORE HZ" >&2; exit 1; }
awk -v hz="$3" '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return -1
    for (i = 2; i <= n; i++)
	for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(v, f) { return v < 0 ? "-" : sprintf(f, v) }
FNR == NR {
    w = $1; c = $2; r = $3
    if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
    if ($8 != "ok") { bad[w] = bad[w] " " c r ":" $8; next }
    rate = $4 / ($5 > 0 ? $5 : 0.001)
    rates[w, c] = rates[w, c] " " rate
    rr[w, c, r] = rate
    rounds[w, r] = 1
    if ($6 != "-") cpu[w, c] = cpu[w, c] " " ($6 * 1000 / hz) / $4
    if ($7 != "-" && $7 + 0 > hwm[w, c]) hwm[w, c] = $7 + 0
    next
}
$2 == "idle_rss_kb" { idle[$1] = $3; next }
$2 == "records" {
    for (i = 2; i < NF; i += 2) st[$1, $i] = $(i + 1)
    next
}
END {
    printf "%-16s %8s %8s %8s %6s %6s %6s %8s %8s %8s %8s\n", "workload", "a msg/s", \
	"b msg/s", "c msg/s", "c/b", "c/a", "b/a", "b ms/msg", "c ms/msg", "c RSS MB", "idle MB"
    printf "%-16s %8s %8s %8s %6s %6s %6s %8s %8s %8s %8s\n", "(s:size:rcpt:sock)", "", "", \
	"", "", "", "", "(cpu)", "(cpu)", "(VmHWM)", ""
    for (k = 1; k <= nw; k++) {
	w = order[k]
	cb = ""; ca = ""; ba = ""; cd = ""
	for (key in rounds) {
	    split(key, p, SUBSEP)
	    if (p[1] != w) continue
	    r = p[2]
	    if ((w, "c", r) in rr && (w, "b", r) in rr) cb = cb " " rr[w, "c", r] / rr[w, "b", r]
	    if ((w, "c", r) in rr && (w, "a", r) in rr) ca = ca " " rr[w, "c", r] / rr[w, "a", r]
	    if ((w, "b", r) in rr && (w, "a", r) in rr) ba = ba " " rr[w, "b", r] / rr[w, "a", r]
	    if ((w, "c", r) in rr && (w, "d", r) in rr) cd = cd " " rr[w, "c", r] / rr[w, "d", r]
	}
	printf "%-16s %8s %8s %8s %6s %6s %6s %8s %8s %8s %8s\n", w,
	    fmt(median(rates[w, "a"]), "%.0f"), fmt(median(rates[w, "b"]), "%.0f"),
	    fmt(median(rates[w, "c"]), "%.0f"), fmt(median(cb), "%.3f"),
	    fmt(median(ca), "%.3f"), fmt(median(ba), "%.3f"),
	    fmt(median(cpu[w, "b"]), "%.3f"), fmt(median(cpu[w, "c"]), "%.3f"),
	    fmt(hwm[w, "c"] ? hwm[w, "c"] / 1024 : -1, "%.1f"),
	    fmt(w in idle ? idle[w] / 1024 : -1, "%.1f")
	if (cd != "")
	    printf "  d (--compare): %s msg/s, c/d %s, d ms/msg %s, d RSS MB %s\n",
		fmt(median(rates[w, "d"]), "%.0f"), fmt(median(cd), "%.3f"),
		fmt(median(cpu[w, "d"]), "%.3f"), fmt(hwm[w, "d"] ? hwm[w, "d"] / 1024 : -1, "%.1f")
	if (w in bad) printf "  left out:%s\n", bad[w]
    }
    printf "\nstore per record (SQLite, after the workload, WAL checkpointed):\n"
    printf "%-16s %8s %8s %10s %10s %10s %8s %10s\n", "workload", "records", "copies", \
	"db B/rec", "raw B/msg", "db-raw B/c", "grp size", "journaled"
    for (k = 1; k <= nw; k++) {
	w = order[k]
	if (!((w, "records") in st) || st[w, "records"] == 0) continue
	n = st[w, "records"]
	jn = ((w, "journaled") in st) ? st[w, "journaled"] : "-"
	if ((w, "d_journaled") in st && st[w, "d_journaled"] != "-")
	    jn = jn " (d " st[w, "d_journaled"] ")"
	printf "%-16s %8d %8d %10.0f %10.0f %10.0f %8.1f %10s\n", w, n, st[w, "messages"],
	    st[w, "db_bytes"] / n, st[w, "raw_blobs"] ? st[w, "raw_bytes"] / st[w, "raw_blobs"] : 0,
	    st[w, "messages"] ? (st[w, "db_bytes"] - st[w, "raw_bytes"]) / st[w, "messages"] : 0,
	    st[w, "commit_groups"] ? n / st[w, "commit_groups"] : 0, jn
    }
}' "$1" "$2"
