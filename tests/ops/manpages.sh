#!/bin/sh
# tests/ops/manpages.sh - the man pages render cleanly and cover the code
#
# Each page (as configure made it) renders with groff -ww -man with
# nothing on stderr, and with man -l. crmsyncctl(1) has an entry for every
# command of ctl/main.c's table; crmsync.policy(5) one for every key of
# policy/cs_policy.c's table; crmsync-milter(8) documents -c, -f, -n, -V,
# -h and SIGUSR1, crmsyncctl(1) -c, -V and -h. (crmsync.conf(5) against
# the config key table: ops/t_confdoc.)
# Every rule id (C1, K4 ...) that a log line of the C sources or a shipped
# document cites has an entry in crmsync(7), the page that explains them
# (the project's contract itself does not ship).
. "$top_srcdir/tests/lib.sh"
command -v groff >/dev/null 2>&1 || tap_skip_all "groff not installed"
cs_init || tap_bail "cannot make a temporary directory"
B=$top_builddir
T=$top_srcdir
D=$CS_TMP

for m in milter/crmsync-milter.8 ctl/crmsyncctl.1 conf/crmsync.conf.5 conf/crmsync.policy.5 \
    conf/crmsync.7 api/crmsync-api.8; do
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
for o in '-c' '-f' '-n' '-V' '-h'; do
    tap_ok "crmsync-milter(8) documents $o" entry "$T/milter/crmsync-milter.8.in" "$o"
done
for o in '-c' '-V' '-h'; do
    tap_ok "crmsyncctl(1) documents $o" entry "$T/ctl/crmsyncctl.1.in" "$o"
done
tap_ok "crmsync-milter(8) documents SIGUSR1" entry "$T/milter/crmsync-milter.8.in" SIGUSR1
for r in mode-off no-label rules-error blocked internal-only automated; do
    tap_ok "crmsync.policy(5) names the reason $r" \
	sh -c "sed 's/\\\\-/-/g' '$T/conf/crmsync.policy.5.in' | grep -q -- '$r'"
done

# Rule ids cited: "(X9)" in the C sources' strings (log lines), and any
# id in what ships (README, man pages, samples, README.Debian).
ids=$( (grep -hoE '"[^"]*\([CSKTVXRF][0-9]\)[^"]*"' "$T"/milter/*.c "$T"/lib/*.c "$T"/store/*.c \
	"$T"/policy/*.c "$T"/ctl/*.c 2>/dev/null | grep -oE '\([CSKTVXRF][0-9]\)' | tr -d '()'
    cat "$T/README.md" "$T"/milter/*.in "$T"/ctl/*.in "$T"/conf/*.5.in "$T"/conf/crmsync.conf \
	"$T"/conf/policy/*.policy "$T"/contrib/postfix/* "$T/debian/README.Debian" \
	| grep -oE '\b[CSKTVXRF][0-9]\b'
    ) | sort -u)
tap_ok "rule ids found in log lines and docs" test -n "$ids"
tap_diag "rule ids cited: $(echo $ids)"
for r in $ids; do
    tap_ok "crmsync(7) explains $r" entry "$T/conf/crmsync.7.in" "$r"
done
tap_ok "crmsync-milter(8) points to crmsync(7) for the ids" \
    sh -c "grep -q 'crmsync (7)' '$T/milter/crmsync-milter.8.in'"
tap_done
