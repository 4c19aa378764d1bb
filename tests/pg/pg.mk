# tests/pg/pg.mk - the PostgreSQL (fleet) store, SPEC F1: pg/pg.sh starts a
# private cluster and runs t_pg and the store-level suites against it
# (skipped unless CRMSYNC_E2E=1 or CRMSYNC_PG=1, root, PostgreSQL installed),
# and pg/privacy-pg.sh the crmsyncctl privacy matrix;
# e2e/fleet.sh runs two Postfix+crmsync hosts on one database.
EXTRA_DIST += pg/pg.sh pg/pgcluster.sh e2e/fleet.sh bench/fleet-bench.sh
# fleet.sh first: the longest test (tests/Makefile.am)
TESTS += e2e/fleet.sh pg/privacy-pg.sh pg/pg.sh
EXTRA_DIST += pg/privacy-pg.sh
if HAVE_LIBPQ
check_PROGRAMS += pg/t_pg
pg_t_pg_SOURCES = pg/t_pg.c
endif
# SPEC R1-R3 on PostgreSQL: tests/ctl/subject.sh against a private cluster
EXTRA_DIST += pg/subject-pg.sh
TESTS += pg/subject-pg.sh
