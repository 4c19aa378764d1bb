# tests/ops/ops.mk - operations: config and policy samples, man pages,
# backup under a live writer, the systemd unit, the Debian package.
# packaging.sh prints "1..0 # SKIP" unless CRMSYNC_PACKAGING=1 and root.
check_PROGRAMS += ops/storefill ops/t_confdoc
ops_storefill_SOURCES = ops/storefill.c
ops_t_confdoc_SOURCES = ops/t_confdoc.c
OPS_SH = ops/samples.sh ops/manpages.sh ops/cli.sh ops/spooldir.sh ops/backup.sh ops/systemd.sh \
	ops/daemon.sh ops/pidfile.sh ops/detach.sh ops/packaging.sh
TESTS += ops/t_confdoc $(OPS_SH)
EXTRA_DIST += $(OPS_SH)
