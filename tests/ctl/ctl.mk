# tests/ctl/ctl.mk - crmsyncctl as a program (TAP shell tests, no root)
TESTS += ctl/policy-cli.sh ctl/args.sh
EXTRA_DIST += ctl/policy-cli.sh ctl/args.sh
