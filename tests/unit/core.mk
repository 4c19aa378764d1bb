# tests/unit/core.mk - lib/ core and policy/cs_owners (lead)
check_PROGRAMS += unit/t_config unit/t_addr unit/t_owners
unit_t_config_SOURCES = unit/t_config.c
unit_t_addr_SOURCES = unit/t_addr.c
unit_t_owners_SOURCES = unit/t_owners.c
TESTS += unit/t_config unit/t_addr unit/t_owners
check_PROGRAMS += unit/t_threadcorpus
unit_t_threadcorpus_SOURCES = unit/t_threadcorpus.c
TESTS += unit/t_threadcorpus
check_PROGRAMS += unit/t_realcorpus
unit_t_realcorpus_SOURCES = unit/t_realcorpus.c
TESTS += unit/t_realcorpus
check_PROGRAMS += unit/t_journal
unit_t_journal_SOURCES = unit/t_journal.c
TESTS += unit/t_journal
check_PROGRAMS += unit/t_spool
unit_t_spool_SOURCES = unit/t_spool.c
TESTS += unit/t_spool
