#!/bin/sh
# tests/ops/cli.sh - every program answers -V and -h (SPEC Operations)
#
# For crmsync-milter and crmsyncctl: -V prints "PROG (crmsync) VERSION"
# (configure's version) on stdout and exits 0; -h prints the usage, naming
# -c, -V and -h, on stdout, nothing on stderr, and exits 0; an unknown
# option prints the usage on stderr and exits 1. No config file is read
# for either (-c names one that does not exist).
. "$top_srcdir/tests/lib.sh"
cs_init || tap_bail "cannot make a temporary directory"
B=$top_builddir
D=$CS_TMP
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$B/config.h")
tap_ok "configure's version found in config.h" test -n "$version"

for prog in milter/crmsync-milter ctl/crmsyncctl; do
    name=${prog#*/}
    "$B/$prog" -c "$D/none.conf" -V >"$D/out" 2>"$D/err"
    tap_is "$?" 0 "$name -V exits 0"
    tap_is "$(cat "$D/out")" "$name (crmsync) $version" "$name -V prints the version"
    tap_ok "$name -V: nothing on stderr" test ! -s "$D/err"

    "$B/$prog" -h >"$D/out" 2>"$D/err"
    tap_is "$?" 0 "$name -h exits 0"
    tap_like "$(head -1 "$D/out")" "^usage: $name " "$name -h prints the usage on stdout"
    for o in '-c config' '-V' '-h'; do
	tap_ok "$name -h lists $o" grep -q -- "^  $o " "$D/out"
    done
    tap_ok "$name -h: nothing on stderr" test ! -s "$D/err"

    "$B/$prog" -Z >"$D/out" 2>"$D/err"
    tap_is "$?" 1 "$name -Z (unknown option) exits 1"
    tap_ok "$name -Z: usage on stderr, nothing on stdout" \
	sh -c "grep -q '^usage: $name ' '$D/err' && test ! -s '$D/out'"
done
tap_done
