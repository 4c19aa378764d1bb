#!/bin/sh
# tests/ops/systemd.sh - contrib/systemd/crmsync-milter.service is valid
#
# systemd-analyze verify (skipped where it is missing) on a copy whose
# ExecStart names the built crmsync-milter and with the built man pages
# on MANPATH, so its Documentation= links resolve. Also the settings the
# docs promise: Type=simple, -f, reload by SIGUSR1, user crmsync, the
# write paths, the sandbox.
. "$top_srcdir/tests/lib.sh"
U=$top_srcdir/contrib/systemd/crmsync-milter.service
command -v systemd-analyze >/dev/null 2>&1 || tap_skip_all "systemd-analyze not installed"
cs_init || tap_bail "cannot make a temporary directory"
cs_find_bins
D=$CS_TMP

mkdir -p "$D/man/man1" "$D/man/man5" "$D/man/man8"
cp "$top_builddir/milter/crmsync-milter.8" "$D/man/man8/"
cp "$top_builddir/ctl/crmsyncctl.1" "$D/man/man1/"
cp "$top_builddir/conf/crmsync.conf.5" "$top_builddir/conf/crmsync.policy.5" "$D/man/man5/"
sed "s|/usr/sbin/crmsync-milter|$CRMSYNC_MILTER|g" "$U" >"$D/crmsync-milter.service"
MANPATH=$D/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$D/crmsync-milter.service" \
    >"$D/verify.out" 2>&1
rc=$?
tap_is "$rc" 0 "systemd-analyze verify exits 0"
if [ -s "$D/verify.out" ]; then
    tap_result 1 "systemd-analyze verify has nothing to say"
    sed 's/^/# /' "$D/verify.out" >&2
else
    tap_result 0 "systemd-analyze verify has nothing to say"
fi

# has LINE - the unit has this exact line
has() {
    grep -qxF -- "$1" "$U"
}
for l in 'Type=simple' \
    'ExecStart=/usr/sbin/crmsync-milter -f -c /etc/crmsync/crmsync.conf' \
    'ExecReload=/bin/kill -USR1 $MAINPID' 'User=crmsync' 'Group=crmsync' \
    'RuntimeDirectory=crmsync' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/crmsync -/var/spool/postfix/crmsync' 'ProtectHome=yes' \
    'PrivateTmp=yes' 'PrivateDevices=yes' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
    tap_ok "unit: $l" has "$l"
done
tap_ok "unit: no -n in ExecStartPre (a rules-error user must not stop the start)" \
    sh -c "! grep -q '^ExecStartPre=.* -n' '$U'"

# crmsync-api's unit (SPEC X5), verified the same way.
A=$top_srcdir/contrib/systemd/crmsync-api.service
cp "$top_builddir/api/crmsync-api.8" "$D/man/man8/"
sed "s|/usr/sbin/crmsync-api|$top_builddir/api/crmsync-api|g" "$A" >"$D/crmsync-api.service"
MANPATH=$D/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$D/crmsync-api.service" \
    >"$D/verify-api.out" 2>&1
tap_is "$?" 0 "crmsync-api.service: systemd-analyze verify exits 0"
tap_ok "crmsync-api.service: verify has nothing to say" test ! -s "$D/verify-api.out"
for l in 'Type=simple' 'ExecStart=/usr/sbin/crmsync-api -f -c /etc/crmsync/crmsync.conf' \
    'ExecReload=/bin/kill -USR1 $MAINPID' 'User=crmsync' 'RuntimeDirectory=crmsync-api'; do
    tap_ok "crmsync-api.service: $l" grep -qxF -- "$l" "$A"
done
tap_ok "debian's copy of crmsync-api.service is the same" \
    cmp -s "$A" "$top_srcdir/debian/crmsync.crmsync-api.service"
tap_done
