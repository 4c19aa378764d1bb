#!/bin/sh
# openapi.sh - api/openapi.yaml is valid OpenAPI 3.1, and real responses of
# crmsync-api match its schemas
#
# The validators come from npm (tests/api/package.json pins them:
# @apidevtools/swagger-parser for the document, Ajv with JSON Schema
# 2020-12 for the bodies), installed under $CS_NPM_DIR (default
# $top_builddir/tests/api/npm) once. Skipped, saying so, when node or npm
# is missing or the registry cannot be reached. Then every endpoint's
# answers on ctl-gen's fixture, errors included, are checked against the
# schema the document gives their status; and bodies that break the
# contract are shown to fail, so the check can fail.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/api/apilib.sh"

DOC=$top_srcdir/api/openapi.yaml
NPMDIR=${CS_NPM_DIR:-$top_builddir/tests/api/npm}
command -v node >/dev/null 2>&1 || tap_skip_all "node not installed"
command -v npm >/dev/null 2>&1 || tap_skip_all "npm not installed"
command -v curl >/dev/null 2>&1 || tap_skip_all "curl not installed"
if [ ! -f "$NPMDIR/.installed" ] || ! cmp -s "$NPMDIR/package.json" "$top_srcdir/tests/api/package.json"; then
    mkdir -p "$NPMDIR"
    cp "$top_srcdir/tests/api/package.json" "$NPMDIR/package.json"
    if ! (cd "$NPMDIR" && timeout 300 npm install --no-audit --no-fund --no-package-lock \
	    >npm.log 2>&1); then
	tap_skip_all "npm could not install the validators (registry unreachable?): $(tail -n 1 "$NPMDIR/npm.log")"
    fi
    touch "$NPMDIR/.installed"
fi
cp "$top_srcdir/tests/api/openapi-check.mjs" "$NPMDIR/check.mjs"
check() {
    node "$NPMDIR/check.mjs" "$@"
}

cs_find_bins
GEN=$top_builddir/tests/bench/ctl-gen
cs_require_built "$CRMSYNCCTL" "$CRMSYNC_API" "$GEN"
cs_init || tap_bail "cs_init failed"
API_STATE=$CS_STATE/api
trap 'api_stop_all; cs_cleanup' EXIT

tap_ok "api/openapi.yaml is valid OpenAPI 3.1 (swagger-parser)" check validate "$DOC"
sed 's/^openapi: 3.1.0/openapi: 3.1.0\nbogus: 1/' "$DOC" >"$CS_TMP/bad.yaml"
tap_ok "... and a document with an unknown top-level key is not" \
    sh -c "! node '$NPMDIR/check.mjs' validate '$CS_TMP/bad.yaml'"

DB=$CS_TMP/store/crmsync.db
mkdir -p "$CS_TMP/store" "$CS_TMP/policy"
for u in olivia dave pete nora adam; do
    printf 'User %s\nAddress %s@corp.example\n' "$u" "$u"
done >"$CS_TMP/policy/users.policy"
TOK=$CS_TMP/tokens
: >"$TOK"
api_token "$TOK"
T=$(cat "$TOK")
SOCK=$CS_TMP/api.sock
CONF=$CS_TMP/crmsync.conf
printf 'Database %s\nPolicyDir %s\nSyslog no\nApiListen unix:%s\nApiTokenFile %s\n' \
    "$DB" "$CS_TMP/policy" "$SOCK" "$TOK" >"$CONF"
ids=$("$GEN" fixture "$DB" 2>"$CS_TMP/gen.err") || tap_bail "fixture: $(cat "$CS_TMP/gen.err")"
eval "$ids"
api_start "$CONF" "$CS_TMP/api.log" || tap_bail "crmsync-api did not start"

# resp WANT METHOD TEMPLATE PATH AS BODY - request PATH and check the
# status; the body's check against TEMPLATE's schema for that status is
# queued in $LIST (its description in $DESCS) for check_bodies, which
# starts node once for them all (once per body took about 0.7 s each)
n=0
LIST=$CS_TMP/bodies.list
DESCS=$CS_TMP/bodies.descs
: >"$LIST"
: >"$DESCS"
resp() {
    _w=$1 _m=$2 _t=$3 _p=$4 _as=$5 _b=$6
    n=$((n + 1))
    _f=$CS_TMP/body.$n
    set -- -s -o "$_f" -w '%{http_code}' --unix-socket "$SOCK" -X "$_m"
    [ "$_as" = notoken ] || set -- "$@" -H "Authorization: Bearer $T"
    [ -n "$_as" ] && [ "$_as" != notoken ] && [ "$_as" != - ] && set -- "$@" -H "Crmsync-As: $_as"
    [ -n "$_b" ] && set -- "$@" -H 'Content-Type: application/json' --data-binary "$_b"
    _st=$(curl "$@" "http://api$_p")
    tap_is "$_st" "$_w" "$_m $_p as $_as: $_w"
    printf '%s\t%s\t%s\t%s\n' "$_m" "$_t" "$_st" "$_f" >>"$LIST"
    printf '%s\n' "$_m $_p as $_as: the body matches the document's schema for $_w" >>"$DESCS"
}
# verdict FILE - the line check_bodies printed for FILE: ok, or the reasons
verdict() {
    awk -F '\t' -v f="$1" '$1 == f { print $2; found = 1 } END { if (!found) print "no verdict" }' \
	"$CS_TMP/verdicts"
}
resp 200 GET /v1/health /v1/health notoken ""
resp 200 GET /v1/stats /v1/stats - ""
resp 401 GET /v1/stats /v1/stats notoken ""
resp 200 GET /v1/mailbox '/v1/mailbox?limit=1' olivia ""
resp 200 GET /v1/mailbox /v1/mailbox olivia ""
resp 400 GET /v1/mailbox /v1/mailbox - ""
resp 400 GET /v1/mailbox '/v1/mailbox?cursor=x' olivia ""
resp 404 GET /v1/mailbox /v1/mailbox stranger ""
resp 200 GET '/v1/threads/{thread}' "/v1/threads/$priv" olivia ""
resp 404 GET '/v1/threads/{thread}' "/v1/threads/$priv" dave ""
resp 200 GET '/v1/threads/{thread}/raw' "/v1/threads/$priv/raw" olivia ""
resp 200 GET '/v1/deals/{deal}/threads' /v1/deals/d1/threads dave ""
resp 404 GET '/v1/deals/{deal}/threads' /v1/deals/d1/threads nora ""
resp 200 GET '/v1/persons/{person}/threads' /v1/persons/p1/threads olivia ""
resp 200 POST /v1/threads/share /v1/threads/share olivia "{\"threads\": [\"$sl\", \"$su\"]}"
resp 403 GET '/v1/threads/{thread}/raw' "/v1/threads/$sl/raw" dave ""
resp 200 GET '/v1/threads/{thread}' "/v1/threads/$sl" pete ""
resp 403 POST /v1/threads/private /v1/threads/private dave "{\"threads\": [\"$sl\"]}"
resp 200 POST /v1/threads/private /v1/threads/private olivia "{\"threads\": [\"$sl\"]}"
resp 200 POST '/v1/threads/{thread}/links' "/v1/threads/$su/links" olivia '{"person": "p1"}'
resp 404 POST '/v1/threads/{thread}/links' "/v1/threads/$su/links" olivia '{"deal": "d404"}'
resp 200 DELETE '/v1/threads/{thread}/links/persons/{person}' "/v1/threads/$su/links/persons/p1" olivia ""
resp 200 DELETE '/v1/threads/{thread}/links/deals/{deal}' "/v1/threads/$su/links/deals/d1" olivia ""
resp 200 POST /v1/contacts /v1/contacts olivia "{\"thread\": \"$su\", \"address\": \"stranger@nowhere.example\"}"
resp 400 POST /v1/contacts /v1/contacts olivia '{"thread": "t1", "bogus": 1}'
resp 200 POST /v1/threads/delete /v1/threads/delete olivia "{\"threads\": [\"$su\"]}"

# The check can fail: bodies that break the contract, checked with the rest.
printf '{"threads": [], "cursor": 5}\n' >"$CS_TMP/wrong1"
sed 's/"visibility": "private"/"visibility": "public"/' "$CS_TMP/body.9" >"$CS_TMP/wrong2"
printf '{"error": "nope", "message": "x"}\n' >"$CS_TMP/wrong3"
printf 'GET\t%s\t200\t%s\n' /v1/mailbox "$CS_TMP/wrong1" '/v1/threads/{thread}' "$CS_TMP/wrong2" >>"$LIST"
printf 'GET\t/v1/mailbox\t404\t%s\n' "$CS_TMP/wrong3" >>"$LIST"

# refused FILE - the check gave reasons for FILE (not ok, not missing)
refused() {
    _v=$(verdict "$1")
    [ "$_v" != ok ] && [ "$_v" != "no verdict" ]
}

# check_bodies: every queued body, one node
check bodies "$DOC" "$LIST" >"$CS_TMP/verdicts"
i=0
while IFS= read -r desc; do
    i=$((i + 1))
    tap_is "$(verdict "$CS_TMP/body.$i")" ok "$desc"
done <"$DESCS"
tap_ok "a page whose cursor is a number fails the schema" \
    refused "$CS_TMP/wrong1"
tap_ok "a thread with visibility public fails the schema" \
    refused "$CS_TMP/wrong2"
tap_ok "an error object with an unknown error name fails the schema" \
    refused "$CS_TMP/wrong3"
tap_done
