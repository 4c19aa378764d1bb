# tests/e2e/e2e.mk
# End-to-end tests through a private Postfix (tests/lib.sh). They print
# "1..0 # SKIP" unless run as root with CRMSYNC_E2E=1, so a plain
# `make check` and `make distcheck` skip them. journal.sh first: it waits
# through a 40 s lock (long tests first: tests/Makefile.am).
TESTS += e2e/journal.sh
TESTS += e2e/smoke-postfix.sh
EXTRA_DIST += e2e/smoke-postfix.sh
TESTS += e2e/capture.sh
EXTRA_DIST += e2e/capture.sh
TESTS += e2e/dropbox.sh
EXTRA_DIST += e2e/dropbox.sh
TESTS += e2e/faults.sh
EXTRA_DIST += e2e/faults.sh
TESTS += e2e/nasty.sh
EXTRA_DIST += e2e/nasty.sh
TESTS += e2e/events-postfix.sh
EXTRA_DIST += e2e/events-postfix.sh
EXTRA_DIST += e2e/journal.sh
