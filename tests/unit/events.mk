# tests/unit/events.mk - X3 events: the store's outbox (unit), a local
# HTTPS webhook receiver and a driver for tests/e2e/events.sh.
check_PROGRAMS += unit/t_events events/receiver events/evdrive
unit_t_events_SOURCES = unit/t_events.c
TESTS += unit/t_events
# The receiver speaks TLS itself (libssl: configure only checks libcrypto).
events_receiver_SOURCES = events/receiver.c
events_receiver_LDADD = $(JANSSON_LIBS) -lssl $(CRYPTO_LIBS)
# The driver runs the daemon's sender in-process.
events_evdrive_SOURCES = events/evdrive.c $(top_srcdir)/milter/events.c
events_evdrive_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/milter
events_evdrive_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
events_evdrive_LDADD = $(CS_LIBS) $(CURL_LIBS)
TESTS += e2e/events.sh
EXTRA_DIST += e2e/events.sh
