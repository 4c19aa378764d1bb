# tests/unit/sieve.mk - the Sieve subset (SPEC S2): unit tests, and
# agreement with Pigeonhole's sieve-test over generated cases.
check_PROGRAMS += unit/t_sieve sieve/sieve-run sieve/sieve-gen
unit_t_sieve_SOURCES = unit/t_sieve.c
sieve_sieve_run_SOURCES = sieve/sieve-run.c
sieve_sieve_gen_SOURCES = sieve/sieve-gen.c
TESTS += unit/t_sieve sieve/agree.sh
EXTRA_DIST += sieve/agree.sh
