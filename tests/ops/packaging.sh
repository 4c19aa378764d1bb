#!/bin/sh
# tests/ops/packaging.sh - the Debian package builds, installs and purges
#
# Only with CRMSYNC_PACKAGING=1 and root (it installs a package on this
# machine). Copies the source tree, runs dpkg-buildpackage -us -uc -b
# there, installs the package with dpkg -i and checks what it promises:
# user and group crmsync, /var/lib/crmsync 2770 crmsync:crmsync,
# /etc/crmsync/crmsync.conf (a conffile) and policy.d, the unit installed
# but neither enabled nor started, man pages; crmsync-milter -n passes
# with the installed sample; dpkg --purge removes it all but the user.
. "$top_srcdir/tests/lib.sh"
[ "${CRMSYNC_PACKAGING:-0}" = 1 ] || tap_skip_all "set CRMSYNC_PACKAGING=1 (root) to build and install the package"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root"
for t in dpkg-buildpackage dh fakeroot; do
    command -v $t >/dev/null 2>&1 || tap_skip_all "$t not installed (contrib/install-deps packaging)"
done
if dpkg-query -W -f='${Status}' crmsync 2>/dev/null | grep -q 'ok installed'; then
    tap_skip_all "a crmsync package is already installed here"
fi
cs_init || tap_bail "cannot make a temporary directory"
D=$CS_TMP

# A clean copy of the source: no build trees, no VCS, no generated files.
mkdir -p "$D/src/crmsync"
(cd "$top_srcdir" && tar cf - --exclude=./.git --exclude='./build*' \
    --exclude=./autom4te.cache --exclude=./debian/crmsync --exclude=./debian/.debhelper \
    --exclude=./config.log --exclude=./config.status .) | (cd "$D/src/crmsync" && tar xf -)
cd "$D/src/crmsync" || tap_bail "no source copy"
t0=$(date +%s)
dpkg-buildpackage -us -uc -b >"$D/build.log" 2>&1
rc=$?
tap_is "$rc" 0 "dpkg-buildpackage -us -uc -b"
[ "$rc" = 0 ] || { tail -30 "$D/build.log" | sed 's/^/# /' >&2; tap_done; exit 1; }
tap_diag "build took $(($(date +%s) - t0)) s"
deb=$(ls "$D"/src/crmsync_*.deb 2>/dev/null | grep -v dbgsym | head -1)
tap_ok "a .deb was built" test -f "$deb"

tap_ok "dpkg -i" dpkg -i "$deb"
tap_ok "user crmsync exists" getent passwd crmsync
tap_ok "group crmsync exists" getent group crmsync
tap_is "$(stat -c '%a %U:%G' /var/lib/crmsync)" "2770 crmsync:crmsync" "/var/lib/crmsync 2770 crmsync:crmsync"
tap_is "$(stat -c '%a %U:%G' /var/lib/crmsync/spool)" "2770 crmsync:crmsync" "/var/lib/crmsync/spool 2770 crmsync:crmsync"
tap_ok "/etc/crmsync/crmsync.conf installed" test -f /etc/crmsync/crmsync.conf
tap_ok "  as a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' crmsync | grep -q /etc/crmsync/crmsync.conf"
tap_is "$(stat -c '%a %U:%G' /etc/crmsync/policy.d)" "2750 root:crmsync" "/etc/crmsync/policy.d 2750 root:crmsync"
if getent group postfix >/dev/null; then
    tap_is "$(stat -c '%a %U:%G' /var/spool/postfix/crmsync)" "2750 crmsync:postfix" \
	"/var/spool/postfix/crmsync 2750 crmsync:postfix"
fi
tap_ok "crmsync-milter and crmsyncctl on PATH" sh -c 'command -v crmsync-milter && command -v crmsyncctl'
unit=$(dpkg -L crmsync | grep '/crmsync-milter.service$' | grep systemd/system | head -1)
tap_ok "systemd unit installed ($unit)" test -f "$unit"
tap_ok "  not enabled" test ! -e /etc/systemd/system/multi-user.target.wants/crmsync-milter.service
tap_ok "  nothing started (no crmsync-milter process)" sh -c '! pgrep -f "^/usr/sbin/crmsync-milter"'
for m in man1/crmsyncctl.1 man5/crmsync.conf.5 man5/crmsync.policy.5 man8/crmsync-milter.8; do
    tap_ok "$m installed" sh -c "dpkg -L crmsync | grep -q '$m'"
done
tap_ok "examples installed" test -f /usr/share/doc/crmsync/examples/postfix/main.cf.sample
# crmsync-api (SPEC X5): binary, man page, unit (disabled), OpenAPI document.
tap_ok "crmsync-api on PATH" command -v crmsync-api
tap_ok "man8/crmsync-api.8 installed" sh -c "dpkg -L crmsync | grep -q 'man8/crmsync-api.8'"
tap_ok "crmsync-api.service installed, not enabled" sh -c \
    "dpkg -L crmsync | grep -q 'systemd/system/crmsync-api.service\$' &&
     test ! -e /etc/systemd/system/multi-user.target.wants/crmsync-api.service"
tap_ok "OpenAPI document installed (uncompressed)" test -f /usr/share/doc/crmsync/openapi.yaml
tap_ok "crmsync-milter -n with the installed sample" crmsync-milter -n -c /etc/crmsync/crmsync.conf
tap_ok "crmsync-milter -n as user crmsync" \
    su -s /bin/sh crmsync -c 'crmsync-milter -n -c /etc/crmsync/crmsync.conf'

tap_ok "dpkg --purge" dpkg --purge crmsync
tap_ok "binaries gone" sh -c '! test -e /usr/sbin/crmsync-milter && ! test -e /usr/bin/crmsyncctl'
tap_ok "/etc/crmsync gone" test ! -e /etc/crmsync
tap_ok "/var/lib/crmsync gone (it held no store)" test ! -e /var/lib/crmsync
tap_ok "user crmsync kept (Debian keeps system users)" getent passwd crmsync
tap_done
