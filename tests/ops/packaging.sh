#!/bin/sh
# tests/ops/packaging.sh - the Debian package builds, installs, upgrades,
# is removed and purged, as debian/README.Debian describes
#
# Only with CRMSYNC_PACKAGING=1 and root (it installs a package on this
# machine). Copies the source tree (git's tracked files when it is a git
# checkout), runs dpkg-buildpackage -us -uc -b there and checks:
#   - contrib/install-deps package knows every Build-Depends; libpq-dev is
#     one, and the package Depends on libpq5 (the PostgreSQL store);
#   - the build leaves no file git does not ignore;
#   - the maintainer scripts keep the service disabled on install, restart
#     a running one after an upgrade and stop it on removal (systemd:
#     deb-systemd-invoke; sysvinit: invoke-rc.d), and never stop it in
#     the preinst;
#   - what is installed: user and group crmsync, /var/lib/crmsync 2770,
#     /etc/crmsync/crmsync.conf a conffile of mode 0640 root:crmsync,
#     policy.d and sieve 2750 root:crmsync, the unit and the init script
#     neither enabled nor started, man pages;
#   - the example policies and Sieve scripts copied with README.Debian's
#     own cp lines pass crmsync-milter -n;
#   - the init script starts the daemon as crmsync; crmsyncctl(1)'s backup
#     example works for an account in group crmsync; reinstalling the
#     package (an upgrade for the maintainer scripts) restarts it on the
#     new binary; dpkg -r stops it and says to undo main.cf; dpkg --purge
#     removes it all but the user.
# The machine has no init system and a policy-rc.d that forbids service
# actions, so the upgrade and removal steps run with an invoke-rc.d on
# PATH that logs its call and runs the init script itself.
. "$top_srcdir/tests/lib.sh"
[ "${CRMSYNC_PACKAGING:-0}" = 1 ] || tap_skip_all "set CRMSYNC_PACKAGING=1 (root) to build and install the package"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root"
for t in dpkg-buildpackage dh fakeroot git; do
    command -v $t >/dev/null 2>&1 || tap_skip_all "$t not installed (contrib/install-deps packaging)"
done
if dpkg-query -W -f='${Status}' crmsync 2>/dev/null | grep -q 'ok installed'; then
    tap_skip_all "a crmsync package is already installed here"
fi
cs_init || tap_bail "cannot make a temporary directory"
D=$CS_TMP

# Build-Depends, one package name a line (an alternative: its first name).
builddeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top_srcdir/debian/control" \
    | sed -e 's/^Build-Depends://' -e '/^[A-Z]/d' | tr ',' '\n' \
    | sed -e 's/|.*//' -e 's/(.*//' -e 's/[[:space:]]//g' -e '/^$/d' \
    -e 's/^debhelper-compat$/debhelper/')
pkglist=$(sed -n 's/^package="\$build \(.*\)"$/\1/p' "$top_srcdir/contrib/install-deps")
buildlist=$(sed -n '/^build="/,/"$/p' "$top_srcdir/contrib/install-deps" | tr -d '"' | tr '\n' ' ' \
    | sed 's/^build=//')
missing=
for p in $builddeps; do
    case " $pkglist $buildlist " in
    *" $p "*) ;;
    *) [ "$p" = pkgconf ] && case " $buildlist " in *" pkg-config "*) continue ;; esac
       missing="$missing $p" ;;
    esac
done
tap_is "${missing:-none}" none "contrib/install-deps package installs every Build-Depends"
tap_like "$builddeps" '^libpq-dev$' "libpq-dev is a Build-Depends"

# A clean copy of the source: git's tracked files, committed into a fresh
# repository so that git status can tell what the build leaves behind.
mkdir -p "$D/src/crmsync"
if git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$top_srcdir" && git ls-files -z | tar --null -T - -cf -) | (cd "$D/src/crmsync" && tar xf -)
    have_git=1
else
    (cd "$top_srcdir" && tar cf - --exclude=./.git --exclude='./build*' \
	--exclude=./autom4te.cache --exclude=./debian/crmsync --exclude=./debian/.debhelper \
	--exclude=./config.log --exclude=./config.status .) | (cd "$D/src/crmsync" && tar xf -)
    have_git=0
fi
cd "$D/src/crmsync" || tap_bail "no source copy"
if [ $have_git = 1 ]; then
    git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm copy \
	|| tap_bail "cannot commit the source copy"
fi
t0=$(date +%s)
dpkg-buildpackage -us -uc -b >"$D/build.log" 2>&1
rc=$?
tap_is "$rc" 0 "dpkg-buildpackage -us -uc -b"
[ "$rc" = 0 ] || { tail -30 "$D/build.log" | sed 's/^/# /' >&2; tap_done; exit 1; }
tap_diag "build took $(($(date +%s) - t0)) s"
if [ $have_git = 1 ]; then
    tap_is "$(git status --porcelain --untracked-files=all | head -20)" "" \
	"the build leaves no file git does not ignore"
fi
deb=$(ls "$D"/src/crmsync_*.deb 2>/dev/null | grep -v dbgsym | head -1)
tap_ok "a .deb was built" test -f "$deb"
tap_like "$(dpkg-deb -f "$deb" Depends)" 'libpq5' "Depends names libpq5 (PostgreSQL store built in)"
tap_like "$(grep -- '--with-postgresql\|checking for PQ' "$D/build.log" | head -3)" 'postgresql=yes' \
    "configure was told --with-postgresql=yes"

# The maintainer scripts, as built.
dpkg-deb -e "$deb" "$D/ctrl" || tap_bail "dpkg-deb -e"
tap_ok "preinst never stops the service on upgrade" \
    sh -c "! grep -q 'deb-systemd-invoke stop\|invoke-rc.d.* stop' '$D/ctrl/preinst' 2>/dev/null"
tap_ok "postinst: systemd restarts a running unit after an upgrade" \
    sh -c "grep -q '_dh_action=restart' '$D/ctrl/postinst' && grep -q \"deb-systemd-invoke \\\$_dh_action 'crmsync-milter.service'\" '$D/ctrl/postinst'"
tap_ok "postinst: sysvinit likewise (invoke-rc.d restart), update-rc.d defaults-disabled" \
    sh -c "grep -q 'invoke-rc.d .*crmsync-milter \$_dh_action' '$D/ctrl/postinst' && grep -q 'update-rc.d crmsync-milter defaults-disabled' '$D/ctrl/postinst'"
tap_ok "postinst: the unit is not enabled on install" \
    sh -c "! grep -q 'deb-systemd-helper enable.*crmsync-milter' '$D/ctrl/postinst' || grep -q 'was-enabled' '$D/ctrl/postinst'"
tap_ok "prerm: systemd and sysvinit stop the service on removal" \
    sh -c "grep -q \"\\\"\\\$1\\\" = remove.*/run/systemd/system\" '$D/ctrl/prerm' && grep -q \"deb-systemd-invoke stop 'crmsync-milter.service'\" '$D/ctrl/prerm' && grep -q 'invoke-rc.d .*crmsync-milter stop' '$D/ctrl/prerm'"

tap_ok "dpkg -i" dpkg -i "$deb"
tap_ok "user crmsync exists" getent passwd crmsync
tap_ok "group crmsync exists" getent group crmsync
tap_is "$(stat -c '%a %U:%G' /var/lib/crmsync)" "2770 crmsync:crmsync" "/var/lib/crmsync 2770 crmsync:crmsync"
tap_is "$(stat -c '%a %U:%G' /var/lib/crmsync/spool)" "2770 crmsync:crmsync" "/var/lib/crmsync/spool 2770 crmsync:crmsync"
tap_ok "/etc/crmsync/crmsync.conf installed" test -f /etc/crmsync/crmsync.conf
tap_ok "  as a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' crmsync | grep -q /etc/crmsync/crmsync.conf"
tap_is "$(stat -c '%a %U:%G' /etc/crmsync/crmsync.conf)" "640 root:crmsync" \
    "  mode 0640 root:crmsync (it may hold a PostgreSQL password)"
tap_is "$(stat -c '%a %U:%G' /etc/crmsync/policy.d)" "2750 root:crmsync" "/etc/crmsync/policy.d 2750 root:crmsync"
tap_is "$(stat -c '%a %U:%G' /etc/crmsync/sieve)" "2750 root:crmsync" "/etc/crmsync/sieve 2750 root:crmsync"
if getent group postfix >/dev/null; then
    tap_is "$(stat -c '%a %U:%G' /var/spool/postfix/crmsync)" "2750 crmsync:postfix" \
	"/var/spool/postfix/crmsync 2750 crmsync:postfix"
fi
tap_ok "crmsync-milter and crmsyncctl on PATH" sh -c 'command -v crmsync-milter && command -v crmsyncctl'
unit=$(dpkg -L crmsync | grep '/crmsync-milter.service$' | grep systemd/system | head -1)
tap_ok "systemd unit installed ($unit)" test -f "$unit"
tap_ok "  not enabled" test ! -e /etc/systemd/system/multi-user.target.wants/crmsync-milter.service
tap_ok "init script installed" test -x /etc/init.d/crmsync-milter
tap_ok "  not enabled (no S link in /etc/rc2.d)" sh -c '! ls /etc/rc2.d/S*crmsync-milter 2>/dev/null | grep -q .'
tap_ok "  nothing started (no /usr/sbin/crmsync-milter process)" sh -c '! pgrep -f "^/usr/sbin/crmsync-milter"'
for m in man1/crmsyncctl.1 man5/crmsync.conf.5 man5/crmsync.policy.5 man7/crmsync.7 man8/crmsync-milter.8; do
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

# The example policies, copied as README.Debian says (its own cp lines).
readme=$(ls /usr/share/doc/crmsync/README.Debian* | head -1)
cps=$(zcat -f "$readme" | sed -n 's|^[[:space:]]*\(cp /usr/share/doc/crmsync/examples/.*\)$|\1|p')
tap_is "$(printf '%s\n' "$cps" | grep -c .)" 2 "README.Debian shows how to copy the policies and the Sieve scripts"
tap_ok "  its cp lines run" sh -e -c "$cps"
out=$(su -s /bin/sh crmsync -c 'crmsync-milter -n -c /etc/crmsync/crmsync.conf' 2>&1)
tap_is "$?" 0 "  the copied samples pass crmsync-milter -n (as crmsync)"
tap_like "$out" 'ok, 5 users' "  all five users load, none with a broken Sieve script"
[ -n "$out" ] && tap_diag "$out"

# sysvinit: the init script runs the daemon as crmsync.
tap_ok "/etc/init.d/crmsync-milter start" /etc/init.d/crmsync-milter start
pid1=$(cat /run/crmsync/crmsync-milter.pid 2>/dev/null)
tap_ok "  running as crmsync" sh -c "[ \"\$(ps -o user= -p '$pid1')\" = crmsync ]"
tap_ok "  socket made" cs_wait 10 test -S /var/spool/postfix/crmsync/crmsync.sock
tap_ok "  status says running" /etc/init.d/crmsync-milter status

# crmsyncctl(1)'s backup example, run by a CRM account (group crmsync).
bk=$(zcat -f /usr/share/man/man1/crmsyncctl.1* | sed -n 's|^crmsyncctl backup \(/[^ ]*\)$|\1|p' | head -1)
tap_like "$bk" '^/var/lib/crmsync/backup/' "crmsyncctl(1)'s backup example writes to /var/lib/crmsync/backup"
tap_is "$(stat -c '%a %U:%G' /var/lib/crmsync/backup)" "2770 crmsync:crmsync" \
    "  which the package made, 2770 crmsync:crmsync"
tap_ok "  an account in group crmsync runs the example" \
    setpriv --reuid=nobody --regid=nogroup --groups=crmsync crmsyncctl backup "$bk"
rm -f "$bk"

# An upgrade (the same version again: preinst upgrade, postinst configure
# with the old version) restarts it; removal stops it.
mkdir -p "$D/fake"
cat >"$D/fake/invoke-rc.d" <<EOS
#!/bin/sh
echo "invoke-rc.d \$*" >>"$D/invoke.log"
[ "\$1" = --skip-systemd-native ] && shift
exec /etc/init.d/"\$1" "\$2"
EOS
cat >"$D/fake/postconf" <<'EOS'
#!/bin/sh
echo '{ unix:/crmsync/crmsync.sock, default_action=accept }'
EOS
chmod 755 "$D/fake/invoke-rc.d" "$D/fake/postconf"
tap_ok "dpkg -i again (upgrade)" env PATH="$D/fake:$PATH" dpkg -i "$deb"
tap_like "$(cat "$D/invoke.log" 2>/dev/null)" 'crmsync-milter restart' "  the postinst restarted the service"
pid2=$(cat /run/crmsync/crmsync-milter.pid 2>/dev/null)
tap_ok "  a new process ($pid1 -> $pid2) runs" sh -c "[ -n '$pid2' ] && [ '$pid2' != '$pid1' ] && kill -0 '$pid2'"
tap_ok "  on the new binary" sh -c "! readlink /proc/$pid2/exe | grep -q deleted"
: >"$D/invoke.log"
PATH="$D/fake:$PATH" dpkg -r crmsync >"$D/remove.log" 2>&1
tap_is "$?" 0 "dpkg -r"
tap_like "$(cat "$D/invoke.log")" 'crmsync-milter stop' "  the prerm stopped the service"
tap_ok "  no /usr/sbin/crmsync-milter process left" sh -c '! pgrep -f "^/usr/sbin/crmsync-milter"'
tap_ok "  its socket is gone" test ! -e /var/spool/postfix/crmsync/crmsync.sock
tap_like "$(cat "$D/remove.log")" 'main.cf still names the crmsync socket' \
    "  says to take the socket out of main.cf"
tap_ok "  the config stays until purge" test -f /etc/crmsync/crmsync.conf

# The daemon made a store; a purge keeps one, so this run removes it.
rm -f /var/lib/crmsync/crmsync.db /var/lib/crmsync/crmsync.db-wal /var/lib/crmsync/crmsync.db-shm
rm -f /etc/crmsync/policy.d/*.policy /etc/crmsync/sieve/*.sieve
tap_ok "dpkg --purge" dpkg --purge crmsync
tap_ok "binaries gone" sh -c '! test -e /usr/sbin/crmsync-milter && ! test -e /usr/bin/crmsyncctl'
tap_ok "/etc/crmsync gone" test ! -e /etc/crmsync
tap_ok "/etc/init.d/crmsync-milter gone" test ! -e /etc/init.d/crmsync-milter
tap_ok "/var/lib/crmsync gone (it held no store)" test ! -e /var/lib/crmsync
tap_ok "user crmsync kept (Debian keeps system users)" getent passwd crmsync
tap_done
