# tests/unit/policy.mk - policy files and sync decisions (SPEC C2, S1-S5)
check_PROGRAMS += unit/t_policy
unit_t_policy_SOURCES = unit/t_policy.c
TESTS += unit/t_policy
