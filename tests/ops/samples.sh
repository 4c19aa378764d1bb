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

# mkconf POLICYDIR OUT - the sample with PolicyDir pointed at POLICYDIR
mkconf() {
    sed -e "s|^#*PolicyDir .*|PolicyDir $1|" \
	-e "s|^#*Database .*|Database $D/crmsync.db|" "$S/crmsync.conf" >"$2"
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
"$CRMSYNC_MILTER" -n -c "$D/bad.conf" >/dev/null 2>"$D/bad.err"
tap_is "$?" 1 "a bad key: exit 1"
tap_like "$(cat "$D/bad.err")" "bad.conf:[0-9]+: unknown key" "  reported as file:line"
cp -R "$D/policy" "$D/broken"
printf 'require ["fileinto"];\nfileinto "x"\n' >"$D/sieve/broken.sieve"
printf 'User zed\nAddress zed@example.com\nRules ../sieve/broken.sieve\n' \
    >"$D/broken/90-broken.policy"
mkconf "$D/broken" "$D/broken.conf"
"$CRMSYNC_MILTER" -n -c "$D/broken.conf" >/dev/null 2>"$D/broken.err"
tap_is "$?" 1 "a broken Sieve script: exit 1"
tap_like "$(cat "$D/broken.err")" 'broken.sieve:[0-9]+:[0-9]+' "  reported with line:column"

# The CRM directory example (crmsyncctl(1), SPEC X2) imports as shipped.
"$CRMSYNCCTL" -c "$D/all.conf" directory import "$S/directory.example.json" >"$D/dir.json" \
    2>"$D/dir.err"
tap_is "$?" 0 "conf/directory.example.json imports (exit 0)"
tap_is "$("$top_builddir/tests/jget" persons <"$D/dir.json") $("$top_builddir/tests/jget" deals <"$D/dir.json")" \
    "3 3" "  with its 3 persons and 3 deals"

tap_done
