# tests/ctl/ctl.mk - crmsyncctl as a program (TAP shell tests, no root)
TESTS += ctl/policy-cli.sh ctl/args.sh
EXTRA_DIST += ctl/policy-cli.sh ctl/args.sh
# SPEC R1-R3: subject export / erase, retention run, mailbox purge
TESTS += ctl/subject.sh
EXTRA_DIST += ctl/subject.sh
TESTS += ctl/retention-milter.sh
TESTS += ctl/erase-batches.sh
EXTRA_DIST += ctl/erase-batches.sh
EXTRA_DIST += ctl/retention-milter.sh
