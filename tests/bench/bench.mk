# tests/bench/bench.mk
# Benchmarks (issue 8, issue 3): scripts run by hand, never by make check.
# policy-bench is built with the check programs so that it keeps compiling.
check_PROGRAMS += bench/policy-bench
bench_policy_bench_SOURCES = bench/policy-bench.c
# store-bench: the store's write path alone (issue 22), built the same way.
check_PROGRAMS += bench/store-bench
bench_store_bench_SOURCES = bench/store-bench.c
EXTRA_DIST += bench/postfix-bench.sh bench/bench-report.sh bench/gen-policy.sh \
	bench/policy-bench.sh
EXTRA_DIST += bench/api-bench.sh bench/benchlib.sh bench/syscpu.sh
EXTRA_DIST += bench/ctl-bench.sh bench/ctl-gen.c bench/ctl-pg-load.sh \
	bench/import-bench.sh
EXTRA_DIST += bench/erase-bench.sh
EXTRA_DIST += bench/store-bench.sh
# The dated log of the measurements and the decisions taken on them.
EXTRA_DIST += bench/HISTORY.md
