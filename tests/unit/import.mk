# tests/unit/import.mk - the backfill importer (SPEC X4, S3, T2): the
# Maildir/mbox readers (lib/cs_mbox.c), crmsyncctl import without root
# (import/import.sh) and through Postfix (e2e/import.sh, CRMSYNC_E2E=1).
check_PROGRAMS += unit/t_mbox
unit_t_mbox_SOURCES = unit/t_mbox.c
TESTS += unit/t_mbox import/import.sh e2e/import.sh
EXTRA_DIST += import/import.sh e2e/import.sh bench/import-bench.sh
