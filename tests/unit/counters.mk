# tests/unit/counters.mk - the milter's counters and status document
# (issue 10: crmsyncctl stats), the last-hour ring, the store round trip
check_PROGRAMS += unit/t_counters
unit_t_counters_SOURCES = unit/t_counters.c $(top_srcdir)/milter/counters.c
unit_t_counters_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/milter
TESTS += unit/t_counters
