# tests/api/api.mk - crmsync-api over HTTP (SPEC X5). No root, no Postfix:
# the fixture is ctl-gen's. privacy-api.sh runs tests/e2e/privacy.sh's
# matrix through HTTP (ctl-via-api); privacy-api-pg.sh the same on
# PostgreSQL (skipped as tests/pg/privacy-pg.sh is); openapi.sh checks
# api/openapi.yaml and real answers with validators from npm (skipped
# when the registry cannot be reached).
check_PROGRAMS += api/t_api
api_t_api_SOURCES = api/t_api.c ../api/listen.c ../api/tokens.c
api_t_api_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
TESTS += api/t_api
TESTS += api/api.sh api/ctl-via-api.sh api/privacy-api.sh api/privacy-api-pg.sh api/openapi.sh
EXTRA_DIST += api/api.sh api/apilib.sh api/ctl-via-api api/ctl-via-api.sh api/privacy-api.sh \
	api/privacy-api-pg.sh api/openapi.sh api/openapi-check.mjs api/package.json
# The model-based privacy test (tests/unit/t_privmodel.c) through HTTP: the
# same model and checks with pm_http.c as its adapter, which starts
# crmsync-api on each seed's store. privmodel-api.sh runs it on SQLite,
# privmodel-api-pg.sh on a private PostgreSQL cluster (skipped as pg.sh is).
check_PROGRAMS += api/t_privmodel_api
api_t_privmodel_api_SOURCES = unit/t_privmodel.c unit/pm_store.c unit/pm_http.c \
	unit/pm_adapter.h
api_t_privmodel_api_CPPFLAGS = $(AM_CPPFLAGS) -DPM_HTTP
api_t_privmodel_api_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
api_t_privmodel_api_LDADD = unit/libtlib.a $(CS_LIBS) $(CURL_LIBS)
TESTS += api/privmodel-api.sh api/privmodel-api-pg.sh
EXTRA_DIST += api/privmodel-api.sh api/privmodel-api-pg.sh
# openapi.sh installs its pinned validators from npm into the build tree
# once (api/npm); make clean (and so distcheck's distcleancheck) removes them.
clean-local: clean-api-npm
clean-api-npm:
	rm -rf api/npm
.PHONY: clean-api-npm
