#!/bin/sh
# tests/ops/manpages.sh - the man pages render cleanly and cover the code
#
# Each page (as configure made it) renders with groff -ww -man with
# nothing on stderr, and with man -l. crmsyncctl(1) has an entry for every
# command of ctl/main.c's table; crmsync.policy(5) one for every key of
# policy/cs_policy.c's table; crmsync-milter(8) documents -c, -f, -n and
# SIGUSR1. (crmsync.conf(5) against the config key table: ops/t_confdoc.)
. "$top_srcdir/tests/lib.sh"
command -v groff >/dev/null 2>&1 || tap_skip_all "groff not installed"
cs_init || tap_bail "cannot make a temporary directory"
B=$top_builddir
T=$top_srcdir
D=$CS_TMP

for m in milter/crmsync-milter.8 ctl/crmsyncctl.1 conf/crmsync.conf.5 conf/crmsync.policy.5 \
    api/crmsync-api.8; do
    if [ ! -f "$B/$m" ]; then
	tap_result 1 "$m exists in the build tree"
	continue
    fi
    groff -ww -man -Tutf8 "$B/$m" >"$D/out" 2>"$D/err"
    tap_is "$?" 0 "groff renders $m"
    if [ -s "$D/err" ]; then
	tap_result 1 "$m: no groff warnings"
	sed 's/^/# /' "$D/err" >&2
    else
	tap_result 0 "$m: no groff warnings"
    fi
    tap_ok "$m: no unsubstituted @VARIABLE@" sh -c "! grep -q '@[A-Za-z_]*@' '$B/$m'"
    if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man -l "$B/$m" >"$D/man" 2>"$D/manerr"
	tap_ok "man -l $m: output, no errors" sh -c "test -s '$D/man' && test ! -s '$D/manerr'"
    fi
done

# entry SRC NAME - the page source has ".B NAME" (or ".BI"/".BR" starting with it)
entry() {
    sed 's/\\-/-/g' "$1" | grep -Eq "^\.B[IR]? \"?$2( |\"|$)"
}

# The tables are read with sed: a format change that matches nothing would
# leave the loops below empty and pass, so an empty list fails.
cmds=$(sed -n 's/^ *{"\([a-z]*\)", cmd_.*/\1/p' "$T/ctl/main.c")
keys=$(sed -n 's/^ *{"\([A-Za-z]*\)", cs_k_.*/\1/p' "$T/policy/cs_policy.c")
tap_ok "commands found in ctl/main.c's table" test -n "$cmds"
tap_ok "keys found in policy/cs_policy.c's table" test -n "$keys"
for c in $cmds; do
    tap_ok "crmsyncctl(1) documents \"$c\"" entry "$T/ctl/crmsyncctl.1.in" "$c"
done
for k in $keys; do
    tap_ok "crmsync.policy(5) documents $k" entry "$T/conf/crmsync.policy.5.in" "$k"
done
for o in '-c' '-f' '-n'; do
    tap_ok "crmsync-milter(8) documents $o" entry "$T/milter/crmsync-milter.8.in" "$o"
done
tap_ok "crmsync-milter(8) documents SIGUSR1" entry "$T/milter/crmsync-milter.8.in" SIGUSR1
for r in mode-off no-label rules-error blocked internal-only automated; do
    tap_ok "crmsync.policy(5) names the reason $r" \
	sh -c "sed 's/\\\\-/-/g' '$T/conf/crmsync.policy.5.in' | grep -q -- '$r'"
done
tap_done
