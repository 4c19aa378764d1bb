#!/bin/sh
# agree.sh - our Sieve subset against Pigeonhole's sieve-test (SPEC S2)
#
# sieve-gen writes a few hundred random (script, message, envelope) cases;
# sieve-run (ours) and sieve-test (Pigeonhole) each say which folders
# every script files its message into, and the two folder sets must be
# equal. One TAP line per case. A script both refuse to compile agrees.
#
# sieve-test refuses to run as root: as root we run it as nobody (su or
# runuser) over a temporary directory that user can read. Without
# sieve-test, or when it cannot run, the whole test is skipped.
#
# Known, intentional differences, kept out of the generated cases:
# - 8-bit header bytes that are not UTF-8: we read them as Latin-1 (as
#   mail clients do, cs_rfc2047_decode), Pigeonhole as U+FFFD.
# - A null envelope sender: we take it as "" for envelope :all (RFC 5228
#   5.4); sieve-test -f "<>" does not give a null sender at all.
# - Pigeonhole accepts any envelope part and matches nothing for unknown
#   ones; so do we. Relational (:count/:value), include, date and the
#   rest are not in our subset: requiring them is a compile error here.
# - ":matches" "?" is one octet here under every comparator; Pigeonhole
#   2.3 also takes one octet except in some positions before a "*", where
#   it takes a whole UTF-8 character ("na?ve*" matches "naïve" there).
#   The cases put no "?" against non-ASCII text.
# - Header unfolding now keeps the fold's white space as RFC 5322 and
#   Pigeonhole do; the cases still fold with one space only.
# - The string test defaults to i;octet in Pigeonhole (RFC 5229 says
#   i;ascii-casemap); we follow Pigeonhole, since S2 predicts the folders
#   the user's server files into.
# - fileinto with a folder name built from variables that is empty files
#   nowhere here; Pigeonhole fails the script at run time.
# - :regex looks at the first 4 KB of a value only, and refuses keys with
#   back-references (\1..\9): glibc matches by backtracking, and a hostile
#   100 KB header must not hold a milter thread for seconds. Pigeonhole
#   has no such bound. The cases use short values and no back-references.
#
# Environment: SIEVE_CASES (default 600), SIEVE_SEED, SIEVE_TEST (path
# of sieve-test), top_builddir (set by make check).

: "${top_builddir:=..}"
gen=${SIEVE_GEN:-$top_builddir/tests/sieve/sieve-gen}
run=${SIEVE_RUN:-$top_builddir/tests/sieve/sieve-run}
st=${SIEVE_TEST:-$(command -v sieve-test 2>/dev/null)}
cases=${SIEVE_CASES:-600}
seed=${SIEVE_SEED:-20240601}

skip() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ -n "$st" ] && [ -x "$st" ] || skip "sieve-test not available"
[ -x "$gen" ] && [ -x "$run" ] || skip "sieve-gen/sieve-run not built"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agree.XXXXXX") || skip "no temporary directory"
trap 'rm -rf "$tmp"' EXIT INT TERM
chmod 755 "$tmp"
"$gen" "$tmp" "$cases" "$seed" || { echo "1..1"; echo "not ok 1 - sieve-gen failed"; exit 1; }
chmod -R a+rX "$tmp"

# Pigeonhole, all cases in one shell. keep goes to a folder named
# KEEP.BOX, dropped below: keep and implicit keep are no labels.
cat > "$tmp/pig.sh" <<EOS
n=0
while read -r s m f t label; do
    n=\$((n + 1))
    echo "== \$n"
    "$st" -m KEEP.BOX -f "\$f" -r "\$t" "\$s" "\$m" 2>&1 |
	sed -n -e 's/^ \* store message in folder: //p' \
	       -e 's/^.*: error: .*/ERROR/p' -e 's/^.*validation failed.*/ERROR/p' \
	       -e 's/^.*Fatal: .*/ERROR/p' -e 's/^error: .*/ERROR/p' \
	       -e 's/^.*final result: failed.*/ERROR/p'
done < "$tmp/cases"
EOS
if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
	runuser -u nobody -- /bin/sh "$tmp/pig.sh" > "$tmp/pig.out" 2>&1
    else
	su nobody -s /bin/sh -c "/bin/sh '$tmp/pig.sh'" > "$tmp/pig.out" 2>&1
    fi
else
    /bin/sh "$tmp/pig.sh" > "$tmp/pig.out" 2>&1
fi
grep -q '^== 1$' "$tmp/pig.out" || skip "sieve-test cannot run"
# sieve-test must have answered the first case with actions or an error.
"$run" -b "$tmp/cases" > "$tmp/ours.out" 2>&1
runrc=$?

# A case either side never answered (sieve-run crashed, sieve-test stopped)
# is a disagreement, not an empty folder set; sieve-run must exit 0.
awk -v casesfile="$tmp/cases" -v tmp="$tmp" -v runrc="$runrc" '
function norm(s,   n, a, i, j, t, out) {
    # sort the folder set; any error is just "ERROR"
    if (s ~ /(^|\n)ERROR/) return "ERROR"
    n = split(s, a, "\n")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    out = ""
    for (i = 1; i <= n; i++) if (a[i] != "" && a[i] != "KEEP.BOX") out = out (out == "" ? "" : " | ") a[i]
    return out
}
FNR == 1 { file++; cur = "" }
/^== [0-9]+$/ { cur = $2; if (file == 1) oseen[cur] = 1; else pseen[cur] = 1; next }
file == 1 && cur == "" { next }
file == 2 && cur == "" { next }
file == 1 { sub(/^ERROR .*/, "ERROR"); ours[cur] = ours[cur] "\n" $0; next }
file == 2 { pig[cur] = pig[cur] "\n" $0; next }
END {
    n = 0
    while ((getline line < casesfile) > 0) { n++; split(line, f, " "); label[n] = f[5]; script[n] = f[1] }
    print "1.." n + 1
    bad = 0
    for (i = 1; i <= n; i++) {
	o = norm(ours[i]); p = norm(pig[i])
	if (!(i in oseen)) o = "(no answer from sieve-run)"
	if (!(i in pseen)) p = "(no answer from sieve-test)"
	if (o == p) { print "ok " i " - case " i " (" label[i] ")"; continue }
	bad++
	print "not ok " i " - case " i " (" label[i] ")"
	print "# ours:       [" o "]"
	print "# pigeonhole: [" p "]"
	while ((getline l < script[i]) > 0) print "#   " l
	close(script[i])
    }
    if (bad) print "# " bad " disagreement(s)"
    print (runrc == 0 ? "ok " : "not ok ") n + 1 " - sieve-run -b exited 0 (exit " runrc ")"
}' "$tmp/ours.out" "$tmp/pig.out"
