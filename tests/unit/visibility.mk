# tests/unit/visibility.mk - visibility and owner actions (SPEC V1-V7, X1, X2,
# K2, K3, K5, T3): store-level unit tests, the privacy matrix through crmsyncctl
# (no Postfix, no root), and the generator the benchmark uses.
check_PROGRAMS += unit/t_visibility bench/ctl-gen
unit_t_visibility_SOURCES = unit/t_visibility.c
bench_ctl_gen_SOURCES = bench/ctl-gen.c
TESTS += unit/t_visibility e2e/privacy.sh
EXTRA_DIST += e2e/privacy.sh bench/ctl-bench.sh
# The randomized, model-based privacy test (SPEC V1-V7, K5, T3, X2, R3):
# a few seeds at smoke size here; long runs in tests/README.
check_PROGRAMS += unit/t_privmodel
unit_t_privmodel_SOURCES = unit/t_privmodel.c unit/pm_store.c unit/pm_adapter.h
TESTS += unit/t_privmodel
EXTRA_DIST += README
