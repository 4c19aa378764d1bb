#!/bin/sh
# tests/ops/pidfile.sh - the pid file is never written through a link
# (issue #15 hole 6)
#
# crmsync-milter writes PidFile before it drops to UserID, and removes it
# at stop after the drop, so the pid file's directory is writable by
# UserID: that account could plant a link there to make root overwrite
# (or create) any file. The test plants such links, starts the milter and
# checks that the targets are untouched and the pid file is a regular
# file holding the milter's pid. As root the directory belongs to
# "nobody", who plants the links, and the milter runs with UserID nobody;
# otherwise everything runs as the caller. No Postfix.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_skip_all "$CRMSYNC_MILTER not built"
cs_init || tap_bail "cs_init failed"
T=$CS_TMP
mkdir -p "$T/run" "$T/policy" "$T/store"
printf 'User alice\nAddress alice@example.com\n' >"$T/policy/users.policy"
AS=
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    AS=nobody
    chown nobody "$T/run" "$T/store"
fi
# as_uid CMD... - run as the UserID account
as_uid() {
    if [ -n "$AS" ]; then
	su -s /bin/sh "$AS" -c "$*"
    else
	sh -c "$*"
    fi
}
printf 'precious\n' >"$T/victim"
chmod 644 "$T/victim"
as_uid "ln -s '$T/victim' '$T/run/crmsync.pid'"
SOCK=unix:$T/run/milter.sock
{
    printf 'Socket %s\nPidFile %s\nDatabase %s\nSpoolDir %s\nPolicyDir %s\nSyslog no\n' \
	"$SOCK" "$T/run/crmsync.pid" "$T/store/crmsync.db" "$T/store/spool" "$T/policy"
    [ -z "$AS" ] || printf 'UserID %s\n' "$AS"
} >"$T/crmsync.conf"

tap_ok "a link is planted where the pid file goes" test -L "$T/run/crmsync.pid"
ms_start_crmsync "$T/crmsync.conf" "$SOCK" "$T/milter.log" || tap_bail "milter did not start"
PID=$(ms_pid "$SOCK")
tap_is "$(cat "$T/victim")" precious "the link's target is untouched"
tap_ok "the pid file is a regular file, not the link" sh -c "test -f '$T/run/crmsync.pid' && ! test -L '$T/run/crmsync.pid'"
tap_is "$(cat "$T/run/crmsync.pid")" "$PID" "it holds the milter's pid"
ms_stop "$SOCK"
tap_ok "the pid file is removed at stop" sh -c "! test -e '$T/run/crmsync.pid'"

# A dangling link: the old code would have created its target as root.
as_uid "ln -s '$T/created-by-root' '$T/run/crmsync.pid'"
ms_start_crmsync "$T/crmsync.conf" "$SOCK" "$T/milter.log" || tap_bail "milter did not start"
tap_ok "a dangling link's target is not created" sh -c "! test -e '$T/created-by-root'"
tap_is "$(cat "$T/run/crmsync.pid")" "$(ms_pid "$SOCK")" "the pid file is written all the same"
ms_stop "$SOCK"
tap_done
