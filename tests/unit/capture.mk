# tests/unit/capture.mk - the milter's end of message without an MTA
# (milter/capture.c: C1, C2, C5, K2, K4; recipients to delete returned)
check_PROGRAMS += unit/t_capture
unit_t_capture_SOURCES = unit/t_capture.c $(top_srcdir)/milter/capture.c \
	$(top_srcdir)/milter/counters.c $(top_srcdir)/milter/journal.c
unit_t_capture_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/milter
unit_t_capture_CFLAGS = $(AM_CFLAGS) $(MILTER_CFLAGS)
TESTS += unit/t_capture
