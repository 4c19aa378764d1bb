# tests/milter/milter.mk
# The do-nothing reference milter: harness self-test (e2e/smoke-postfix.sh)
# and the baseline the benchmarks compare crmsync-milter with.
check_PROGRAMS += milter/noop-milter
milter_noop_milter_SOURCES = milter/noop-milter.c
milter_noop_milter_CFLAGS = $(CS_CFLAGS) $(MILTER_CFLAGS)
milter_noop_milter_LDADD = $(MILTER_LIBS) -lpthread
