# tests/unit/store.mk - the SQLite store (SPEC C3, C4, T1-T3, K2, V1-V3)
check_PROGRAMS += unit/t_store
unit_t_store_SOURCES = unit/t_store.c
TESTS += unit/t_store
# cs_store_submit(), cs_store_drain() and bulk groups (crmsyncctl import)
check_PROGRAMS += unit/t_store_submit
unit_t_store_submit_SOURCES = unit/t_store_submit.c
TESTS += unit/t_store_submit
# The store's privacy decisions, pure (cs_store_rules.c: V3, V7, T3, K2, K5)
check_PROGRAMS += unit/t_rules
unit_t_rules_SOURCES = unit/t_rules.c
TESTS += unit/t_rules
# cs_answer_text() prints what json_dumps printed (crmsyncctl and crmsync-api)
check_PROGRAMS += unit/t_answer
unit_t_answer_SOURCES = unit/t_answer.c
TESTS += unit/t_answer
# A thread's summary gives the lists the bytes its messages give (cs_store_list.c)
check_PROGRAMS += unit/t_summary
unit_t_summary_SOURCES = unit/t_summary.c
TESTS += unit/t_summary
# The SQLite VFS shim gathering WAL writes keeps commits visible and durable
check_PROGRAMS += unit/t_sqlite_vfs
unit_t_sqlite_vfs_SOURCES = unit/t_sqlite_vfs.c
TESTS += unit/t_sqlite_vfs
