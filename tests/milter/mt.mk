# tests/milter/mt.mk - milter protocol tests: each mt_*.lua is one TAP test
# run by run-mt.sh against a fresh crmsync-milter with miltertest (lead)
check_PROGRAMS += milter/sockpoke jget
milter_sockpoke_SOURCES = milter/sockpoke.c
milter_sockpoke_LDADD =
jget_SOURCES = jget.c
# mt_stop.lua first: it waits 10 s (long tests first: tests/Makefile.am)
MILTERTEST_LUA = milter/mt_stop.lua milter/mt_multi.lua milter/mt_close.lua milter/mt_big.lua \
	milter/mt_auth.lua milter/mt_dropbox.lua milter/mt_reload.lua milter/mt_stats.lua \
	milter/mt_sendercopy.lua milter/mt_delay.lua
TESTS += $(MILTERTEST_LUA)
TEST_EXTENSIONS += .lua
LUA_LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LUA_LOG_COMPILER = $(SHELL) $(srcdir)/milter/run-mt.sh
EXTRA_DIST += $(MILTERTEST_LUA) milter/common.lua milter/run-mt.sh
