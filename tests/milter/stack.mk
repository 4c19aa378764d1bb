# tests/milter/stack.mk - the connection threads' stack (lib/cs_thread.c):
# crmsync-milter built with its stack probe, fed hostile and real mail
check_PROGRAMS += milter/crmsync-milter-probe milter/stackfeed
milter_crmsync_milter_probe_SOURCES = $(top_srcdir)/milter/main.c $(top_srcdir)/milter/state.c \
	$(top_srcdir)/milter/mlfi.c $(top_srcdir)/milter/capture.c $(top_srcdir)/milter/events.c \
	$(top_srcdir)/milter/counters.c $(top_srcdir)/milter/retention.c \
	$(top_srcdir)/milter/journal.c
milter_crmsync_milter_probe_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/milter -DCS_STACK_PROBE
milter_crmsync_milter_probe_CFLAGS = $(CS_CFLAGS) $(MILTER_CFLAGS) $(GMIME_CFLAGS) \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
milter_crmsync_milter_probe_LDADD = $(CS_LIBS) $(MILTER_LIBS) $(CURL_LIBS)
milter_stackfeed_SOURCES = milter/stackfeed.c
milter_stackfeed_LDADD =
TESTS += milter/stack.sh
EXTRA_DIST += milter/stack.sh
check_PROGRAMS += unit/t_stack
unit_t_stack_SOURCES = unit/t_stack.c
TESTS += unit/t_stack
