# tests/api/api.mk - crmsync-api over HTTP (SPEC X5). No root, no Postfix:
# the fixture is ctl-gen's.
TESTS += api/api.sh
EXTRA_DIST += api/api.sh api/apilib.sh
