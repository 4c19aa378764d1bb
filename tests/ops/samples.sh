#!/bin/sh
# tests/ops/samples.sh - every shipped sample passes crmsync-milter -n
#
# conf/crmsync.conf (the packaged /etc/crmsync/crmsync.conf) with an empty
# policy directory, with each conf/policy/*.policy alone and with all of
# them together (Rules paths ../sieve/*.sieve resolved from a copy of the
# conf tree), must load with no problem; crmsyncctl policy check agrees.
# And -n must be able to fail: a broken sample and a broken Sieve script
# are reported with file:line and a non-zero exit. The CRM directory
# example, conf/directory.example.json, imports with crmsyncctl.
. "$top_srcdir/tests/lib.sh"
cs_init || tap_bail "cannot make a temporary directory"
cs_find_bins
D=$CS_TMP
S=$top_srcdir/conf

# mkconf POLICYDIR OUT - the sample with PolicyDir pointed at POLICYDIR,
# and the directories -n checks (Database's, Socket's, SpoolDir) in $D:
# the package makes the real ones (packaging.sh checks those)
mkconf() {
    sed -e "s|^#*PolicyDir .*|PolicyDir $1|" \
	-e "s|^#*Database .*|Database $D/crmsync.db|" \
	-e "s|^#*Socket .*|Socket unix:$D/crmsync.sock|" \
	-e "s|^#*SpoolDir .*|SpoolDir $D/spool|" "$S/crmsync.conf" >"$2"
}

# check CONF DESC - crmsync-milter -n passes, quietly
check() {
    "$CRMSYNC_MILTER" -n -c "$1" >"$D/n.out" 2>"$D/n.err"
    _rc=$?
    tap_is "$_rc" 0 "$2: crmsync-milter -n exits 0"
    if [ -s "$D/n.err" ]; then
	tap_result 1 "$2: nothing on stderr"
	sed 's/^/# /' "$D/n.err" >&2
    else
	tap_result 0 "$2: nothing on stderr"
    fi
}

# The conf tree as shipped: policy/ and sieve/ side by side.
cp -R "$S/policy" "$S/sieve" "$D/"
mkdir -p "$D/empty"

mkconf "$D/empty" "$D/empty.conf"
check "$D/empty.conf" "crmsync.conf with no policy"
tap_like "$(cat "$D/n.out")" '0 users' "  reports 0 users"

n=0
for p in "$D"/policy/*.policy; do
    b=$(basename "$p" .policy)
    mkdir -p "$D/one-$b"
    cp "$p" "$D/one-$b/"
    # Rules ../sieve/X resolves from $D/one-NAME/ to $D/sieve/X as shipped.
    mkconf "$D/one-$b" "$D/one-$b.conf"
    case $b in
    50-group)
	# Groups name users of the other files: check it with all of them.
	continue ;;
    esac
    check "$D/one-$b.conf" "policy/$b.policy alone"
    n=$((n + 1))
done
tap_ok "at least four policy samples" test "$n" -ge 4

mkconf "$D/policy" "$D/all.conf"
check "$D/all.conf" "all policy samples together"
tap_like "$(cat "$D/n.out")" '5 users' "  reports the 5 sample users"
"$CRMSYNCCTL" -c "$D/all.conf" policy check >"$D/pc.json" 2>"$D/pc.err"
tap_is "$?" 0 "crmsyncctl policy check agrees"
tap_is "$("$top_builddir/tests/jget" ok <"$D/pc.json")" true "  ok is true"

# Each Sieve sample is used by a policy sample (so it was compiled above).
for s in "$S"/sieve/*.sieve; do
    tap_ok "sieve/$(basename "$s") is used by a policy sample" \
	grep -q "sieve/$(basename "$s")" "$S"/policy/*.policy
done

# -n can fail: a bad key, and a broken script.
mkconf "$D/policy" "$D/bad.conf"
echo "NoSuchKey 1" >>"$D/bad.conf"
"$CRMSYNC_MILTER" -n -c "$D/bad.conf" >"$D/bad.out" 2>"$D/bad.err"
tap_is "$?" 1 "a bad key: exit 1"
tap_like "$(cat "$D/bad.err")" "bad.conf:[0-9]+: unknown key" "  reported as file:line"
tap_like "$(cat "$D/bad.out")" "^crmsync-milter -n: 1 problem, in $D/bad.conf; refused" \
    "  the summary names the file and says the start is refused"
cp -R "$D/policy" "$D/broken"
printf 'require ["fileinto"];\nfileinto "x"\n' >"$D/sieve/broken.sieve"
# Two users share the broken script: one fault, reported once.
printf 'User zed\nAddress zed@example.com\nRules ../sieve/broken.sieve\n' \
    >"$D/broken/90-broken.policy"
printf 'User yan\nAddress yan@example.com\nRules ../sieve/broken.sieve\n' \
    >>"$D/broken/90-broken.policy"
mkconf "$D/broken" "$D/broken.conf"
"$CRMSYNC_MILTER" -n -c "$D/broken.conf" >"$D/broken.out" 2>"$D/broken.err"
tap_is "$?" 1 "a broken Sieve script: exit 1"
tap_like "$(cat "$D/broken.err")" 'broken.sieve:[0-9]+:[0-9]+' "  reported with line:column"
tap_is "$(wc -l <"$D/broken.err" | tr -d ' ')" 1 "  reported once, though two users share it"
tap_like "$(cat "$D/broken.err")" 'user zed, yan sync nothing \(rules-error\)$' \
    "  naming the users who sync nothing"
tap_like "$(cat "$D/broken.out")" \
    "^crmsync-milter -n: 1 problem, in $D/broken/../sieve/broken.sieve; 7 users, 2 of them sync nothing \\(rules-error\\)$" \
    "  the summary names the Sieve file, not the config"
tap_ok "  and not the config" sh -c "! grep -q 'broken.conf' '$D/broken.out'"
# A structural error in a policy file refuses the policy: a summary too.
mkdir -p "$D/structural"
printf 'User x\nAddress x@example.com\nAcess all\n' >"$D/structural/10-x.policy"
mkconf "$D/structural" "$D/structural.conf"
"$CRMSYNC_MILTER" -n -c "$D/structural.conf" >"$D/st.out" 2>"$D/st.err"
tap_is "$?" 1 "a structural policy error: exit 1"
tap_is "$(cat "$D/st.err")" "crmsync-milter: $D/structural/10-x.policy:3: unknown key \"Acess\"" \
    "  reported once as file:line"
tap_like "$(cat "$D/st.out")" "^crmsync-milter -n: 1 problem, in $D/structural/10-x.policy; refused" \
    "  with a summary naming the policy file"

# The CRM directory example (crmsyncctl(1), SPEC X2) imports as shipped.
"$CRMSYNCCTL" -c "$D/all.conf" directory import "$S/directory.example.json" >"$D/dir.json" \
    2>"$D/dir.err"
tap_is "$?" 0 "conf/directory.example.json imports (exit 0)"
tap_is "$("$top_builddir/tests/jget" persons <"$D/dir.json") $("$top_builddir/tests/jget" deals <"$D/dir.json")" \
    "3 3" "  with its 3 persons and 3 deals"

tap_done
