#!/bin/sh
# api.sh - crmsync-api over HTTP (SPEC X5): auth, endpoints, errors,
# the same bytes as crmsyncctl, limits, TLS refusal, reload, access log
#
# No Postfix and no root: the fixture is tests/bench/ctl-gen's (see
# tests/e2e/privacy.sh): olivia owns SECRET-PRIV (priv, linked to p1 and
# d1), SECRET-SU (su) and SECRET-SL (sl, linked to p1 and d1); dave may
# access d1, pete p1, nora nothing, adam is an admin. crmsync-api listens
# on a unix socket (curl --unix-socket) and, for the limits and TLS, on
# loopback TCP.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/api/apilib.sh"

cs_find_bins
GEN=$top_builddir/tests/bench/ctl-gen
JGET=$top_builddir/tests/jget
cs_require_built "$CRMSYNCCTL" "$CRMSYNC_API" "$GEN" "$JGET"
cs_require_cmds curl perl
cs_init || tap_bail "cs_init failed"
API_STATE=$CS_STATE/api
trap 'api_stop_all; cs_cleanup' EXIT

DB=$CS_TMP/store/crmsync.db
mkdir -p "$CS_TMP/store" "$CS_TMP/policy"
for u in olivia dave pete nora adam; do
    printf 'User %s\nAddress %s@corp.example\n' "$u" "$u"
done >"$CS_TMP/policy/users.policy"
TOK=$CS_TMP/tokens
printf '# the CRM backend, rotated monthly\n\n' >"$TOK"
api_token "$TOK"
api_token "$TOK"
T1=$(sed -n 3p "$TOK") T2=$(sed -n 4p "$TOK")
SOCK=$CS_TMP/api.sock
CONF=$CS_TMP/crmsync.conf
cat >"$CONF" <<EOC
Database $DB
PolicyDir $CS_TMP/policy
Syslog no
UMask 007
ApiListen unix:$SOCK
ApiTokenFile $TOK
JournalDir $CS_TMP/journal
EOC
LOG=$CS_TMP/api.log
OUT=$CS_TMP/out HDR=$CS_TMP/hdr ERR=$CS_TMP/err

ids=$("$GEN" fixture "$DB" 2>"$OUT") || tap_bail "fixture failed: $(cat "$OUT")"
eval "$ids"

ctl() {
    "$CRMSYNCCTL" -c "$CONF" "$@"
}

# req METHOD PATH [AS] [BODY] - status on stdout; body in $OUT, headers in $HDR.
# TOKEN (default $T1) is the bearer token; "none" sends no Authorization.
req() {
    _m=$1 _p=$2 _as=${3:-} _body=${4:-}
    set -- -s -o "$OUT" -D "$HDR" -w '%{http_code}' --unix-socket "$SOCK" -X "$_m"
    [ "${TOKEN:-$T1}" = none ] || set -- "$@" -H "Authorization: Bearer ${TOKEN:-$T1}"
    [ -n "$_as" ] && set -- "$@" -H "Crmsync-As: $_as"
    [ -n "$_body" ] && set -- "$@" -H 'Content-Type: application/json' --data-binary "$_body"
    curl "$@" "http://api$_p"
}

api_start "$CONF" "$LOG" || tap_bail "crmsync-api did not start"

# --- the socket: mode from UMask 007.
tap_is "$(stat -c %a "$SOCK")" 770 "unix socket mode 0770 from UMask 007"

# --- /v1/health: open, liveness only.
tap_is "$(TOKEN=none req GET /v1/health)" 200 "health answers without a token"
tap_is "$(tr -d ' \n' <"$OUT")" '{"status":"ok"}' "health tells liveness and nothing else"

# --- 401 before anything else.
tap_is "$(TOKEN=none req GET /v1/mailbox olivia)" 401 "no token: 401"
tap_is "$("$JGET" error <"$OUT")" unauthorized "401 body is an error object"
grep -qi '^WWW-Authenticate: Bearer' "$HDR"
tap_is "$?" 0 "401 says Bearer"
tap_is "$(TOKEN=none req GET /v1/no/such/path)" 401 "no token on an unknown path: 401, not 404"
tap_is "$(TOKEN=none req POST /v1/threads/share olivia '{not json')" 401 \
    "no token with a bad body: 401, not 400"
tap_is "$(TOKEN=$(printf '%s' "$T1" | cut -c1-40) req GET /v1/mailbox olivia)" 401 \
    "a prefix of a token: 401"
tap_is "$(TOKEN="${T1}x" req GET /v1/mailbox olivia)" 401 "a token with a byte more: 401"
tap_is "$(TOKEN=$T2 req GET /v1/mailbox olivia)" 200 "the second token of the file works (rotation)"
tap_is "$(req GET /v1/mailbox)" 400 "missing Crmsync-As: 400"
tap_is "$("$JGET" error <"$OUT")" usage "missing Crmsync-As: error usage"

# --- the same bytes as crmsyncctl (stdout for answers, stderr for errors).
# same DESC WANT_STATUS METHOD PATH AS BODY -- CTL ARGS...  (RESET: see below)
same() {
    _d=$1 _w=$2 _m=$3 _p=$4 _as=$5 _b=$6
    shift 7
    _st=$(req "$_m" "$_p" "$_as" "$_b")
    # A change is compared with crmsyncctl making it again from the same
    # state: RESET (crmsyncctl arguments) undoes the API's change first.
    [ -n "${RESET:-}" ] && eval "ctl $RESET" >/dev/null 2>&1
    ctl "$@" >"$CS_TMP/ctl.out" 2>"$CS_TMP/ctl.err"
    _rc=$?
    [ "$_rc" = 0 ] || cp "$CS_TMP/ctl.err" "$CS_TMP/ctl.out"
    tap_is "$_st" "$_w" "$_d: status $_w"
    if cmp -s "$OUT" "$CS_TMP/ctl.out"; then
	tap_result 0 "$_d: body byte for byte crmsyncctl's"
    else
	tap_result 1 "$_d: body byte for byte crmsyncctl's"
	diff "$CS_TMP/ctl.out" "$OUT" | head -20 | sed 's/^/# /' >&2
    fi
}
same "mailbox" 200 GET /v1/mailbox olivia "" -- mailbox --as olivia
same "mailbox limit 2" 200 GET '/v1/mailbox?limit=2' olivia "" -- mailbox --as olivia --limit 2
same "thread" 200 GET "/v1/threads/$priv" olivia "" -- thread "$priv" --as olivia
same "thread raw" 200 GET "/v1/threads/$priv/raw" olivia "" -- thread "$priv" --raw --as olivia
same "deal page" 200 GET /v1/deals/d1/threads olivia "" -- deal d1 --as olivia
same "person page" 200 GET /v1/persons/p1/threads olivia "" -- person p1 --as olivia
same "thread not found" 404 GET "/v1/threads/$priv" nora "" -- thread "$priv" --as nora
same "deal not accessible" 404 GET /v1/deals/d1/threads nora "" -- deal d1 --as nora
same "bad cursor" 400 GET '/v1/mailbox?cursor=zz' olivia "" -- mailbox --as olivia --cursor zz
same "share" 200 POST /v1/threads/share olivia "{\"threads\": [\"$su\", \"$sl\"]}" \
    -- share --as olivia "$su" "$sl"
same "raw by a reader, not the owner" 403 GET "/v1/threads/$sl/raw" dave "" \
    -- thread "$sl" --raw --as dave
same "shared thread for dave" 200 GET "/v1/threads/$sl" dave "" -- thread "$sl" --as dave
same "private by another" 403 POST /v1/threads/private dave "{\"threads\": [\"$sl\"]}" \
    -- private --as dave "$sl"
RESET="unlink --as olivia $su --deal d1"
same "link" 200 POST "/v1/threads/$su/links" olivia '{"deal": "d1"}' \
    -- link --as olivia "$su" --deal d1
RESET="link --as olivia $su --deal d1"
same "unlink" 200 DELETE "/v1/threads/$su/links/deals/d1" olivia "" \
    -- unlink --as olivia "$su" --deal d1
ctl link --as olivia "$su" --person p1 >/dev/null
RESET="link --as olivia $su --person p1"
same "unlink person" 200 DELETE "/v1/threads/$su/links/persons/p1" olivia "" \
    -- unlink --as olivia "$su" --person p1
RESET=
tap_is "$(req POST /v1/contacts olivia \
    "{\"thread\": \"$su\", \"address\": \"stranger@nowhere.example\", \"name\": \"Stan\"}")" 200 \
    "contact create"
tap_is "$("$JGET" created <"$OUT")" true "contact create: created true"
same "contact create again" 200 POST /v1/contacts olivia \
    "{\"thread\": \"$su\", \"address\": \"stranger@nowhere.example\", \"name\": \"Stan\"}" \
    -- contact create --as olivia --thread "$su" --address stranger@nowhere.example --name Stan
tap_is "$("$JGET" created <"$OUT")" false "contact create again: created false"
same "contact not a participant" 400 POST /v1/contacts olivia \
    "{\"thread\": \"$su\", \"address\": \"who@else.example\"}" \
    -- contact create --as olivia --thread "$su" --address who@else.example
same "private again" 200 POST /v1/threads/private olivia "{\"threads\": [\"$su\", \"$sl\"]}" \
    -- private --as olivia "$su" "$sl"

# --- attachments: the bytes.
tap_is "$(req GET "/v1/threads/$priv/attachments/1" olivia)" 200 "attachment 1"
ctl attachment "$priv" 1 --as olivia >"$CS_TMP/att.ctl" 2>/dev/null
cmp -s "$OUT" "$CS_TMP/att.ctl"
tap_is "$?" 0 "attachment bytes are crmsyncctl's"
grep -qi '^Content-Type: application/octet-stream' "$HDR"
tap_is "$?" 0 "attachment is application/octet-stream"
tap_is "$(req GET "/v1/threads/$priv/attachments/9" olivia)" 404 "attachment 9: 404"
tap_is "$(req GET "/v1/threads/$priv/attachments/0" olivia)" 400 "attachment 0: 400"
tap_is "$(req GET "/v1/threads/$priv/attachments/1" dave)" 404 "attachment of a private thread: 404 (V6)"

# --- pagination: cursor and Link.
tap_is "$(req GET '/v1/mailbox?limit=1' olivia)" 200 "mailbox page of 1"
link=$(sed -n 's/^Link: <\([^>]*\)>; rel="next".*/\1/p' "$HDR" | tr -d '\r')
cursor=$("$JGET" cursor <"$OUT")
tap_like "$link" "^/v1/mailbox\\?cursor=[^&]+&limit=1$" "Link rel=next names the next page"
tap_is "$(req GET "$link" olivia)" 200 "the Link's page answers"
ctl mailbox --as olivia --limit 1 --cursor "$cursor" >"$CS_TMP/page2"
cmp -s "$OUT" "$CS_TMP/page2"
tap_is "$?" 0 "the Link's page is crmsyncctl's page for that cursor"
req GET '/v1/mailbox?limit=500' olivia >/dev/null
grep -qi '^Link:' "$HDR"
tap_is "$?" 1 "no Link on the last page"

# --- usage errors.
tap_is "$(req GET '/v1/mailbox?limit=0' olivia)" 400 "limit 0: 400"
tap_is "$(req GET '/v1/mailbox?limit=501' olivia)" 400 "limit 501: 400"
tap_is "$(req GET '/v1/mailbox?as=dave' olivia)" 400 "unknown query argument: 400"
tap_is "$(req GET '/v1/mailbox?limit=1&limit=2' olivia)" 400 "query argument twice: 400"
tap_is "$(req GET /v1/nothing olivia)" 404 "unknown endpoint: 404"
tap_is "$("$JGET" error <"$OUT")" not_found "unknown endpoint: error not_found"
tap_is "$(req DELETE /v1/mailbox olivia)" 405 "wrong method: 405"
grep -qi '^Allow: GET' "$HDR"
tap_is "$?" 0 "405 says Allow: GET"
tap_is "$(req POST /v1/threads/share olivia '{not json')" 400 "bad JSON: 400"
tap_is "$(req POST /v1/threads/share olivia '{"threads": ["t1"], "as": "x"}')" 400 \
    "unknown body key: 400"
tap_is "$(req POST /v1/threads/share olivia '{"threads": []}')" 400 "no threads: 400"
tap_is "$(req POST /v1/threads/share olivia '{"threads": [1]}')" 400 "a thread id that is a number: 400"
tap_is "$(req POST "/v1/threads/$su/links" olivia '{"deal": "d1", "person": "p1"}')" 400 \
    "link with both deal and person: 400"
tap_is "$(req POST /v1/contacts olivia '{"thread": "t1"}')" 400 "contact without address: 400"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$CS_TMP/big"
st=$(curl -s -o "$OUT" -w '%{http_code}' --unix-socket "$SOCK" -H "Authorization: Bearer $T1" \
    -H "Crmsync-As: olivia" --data-binary @"$CS_TMP/big" http://api/v1/threads/share)
tap_is "$st" 413 "a body over 1 MB: 413"
st=$(curl -s -o "$OUT" -w '%{http_code}' --unix-socket "$SOCK" -H "Authorization: Bearer $T1" \
    -H "Crmsync-As: olivia" -H "Transfer-Encoding: chunked" --data-binary @"$CS_TMP/big" \
    http://api/v1/threads/share)
tap_is "$st" 413 "a chunked body over 1 MB: 413"
hdr=$(head -c 40000 /dev/zero | tr '\0' a)
st=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -H "Authorization: Bearer $T1" \
    -H "Crmsync-As: olivia" -H "X-Big: $hdr" http://api/v1/mailbox)
tap_like "$st" '^(431|413|400|000)$' "40 KB of headers refused ($st)"

# --- /v1/stats: the operator's view, no acting user, with the API's counters.
tap_is "$(req GET /v1/stats)" 200 "stats without Crmsync-As"
tap_like "$("$JGET" api.requests <"$OUT")" '^[0-9]+$' "stats has the API's request counter"
tap_like "$("$JGET" api.unauthorized <"$OUT")" '^[1-9][0-9]*$' "stats counts the 401s"
tap_is "$("$JGET" threads <"$OUT")" "$(ctl stats | "$JGET" threads)" "stats has the store's figures"
# This host's journal as its milter last wrote it (C6), as crmsyncctl shows it.
mkdir -m 700 "$CS_TMP/journal"
printf '{"host":"mx9","pid":1,"written_at":%s,"running":true,"journal":{"records":3,"breaker_open":true}}' \
    "$(date +%s)" >"$CS_TMP/journal/status.json"
tap_is "$(req GET /v1/stats)" 200 "stats with a journal status file"
tap_is "$("$JGET" milter.mx9.journal.source <"$OUT")" file "stats: the journal from JournalDir/status.json"
tap_is "$("$JGET" milter.mx9.journal.records <"$OUT")" 3 "stats: its records waiting"
tap_is "$("$JGET" milter.mx9.journal.records <"$OUT")" "$(ctl stats | "$JGET" milter.mx9.journal.records)" \
    "stats: as crmsyncctl stats shows it"

# --- access log: one line per request, never a token. The line is
# written once the answer has gone out: it may follow the client's read.
# log_grew N - the access log has more than N lines
log_grew() {
    [ "$(grep -c ' api: ' "$LOG")" -gt "$1" ]
}
n_before=$(grep -c ' api: ' "$LOG")
req GET "/v1/threads/$priv" dave >/dev/null
cs_wait 5 log_grew "$n_before"
sleep 0.2
n_after=$(grep -c ' api: ' "$LOG")
tap_is "$((n_after - n_before))" 1 "one access-log line per request"
tap_like "$(grep ' api: ' "$LOG" | tail -n 1)" "api: GET /v1/threads/$priv 404 [0-9.]+ms as=dave\$" \
    "access line: method, path, status, time, acting user"
grep -qF -e "$T1" -e "$T2" "$LOG"
tap_is "$?" 1 "no token in the log"

# --- an answer the client leaves before it is sent: logged as not sent.
# An 8 MB message imported into olivia's mailbox; a client asks for its
# raw bytes, reads the first ones and closes: the rest cannot be sent.
mkdir -p "$CS_TMP/bigmail/cur" "$CS_TMP/bigmail/new" "$CS_TMP/bigmail/tmp"
{
    printf 'From: client@outside.example\r\nTo: olivia@corp.example\r\n'
    printf 'Subject: big attachment\r\nDate: %s\r\n' "$(date -R)"
    printf 'Message-ID: <big-raw@outside.example>\r\n\r\n'
    perl -e 'print "x" x 76, "\r\n" for 1 .. 100000'
} >"$CS_TMP/bigmail/cur/1.big:2,S"
ctl import --user olivia "$CS_TMP/bigmail" >"$OUT" 2>&1 || tap_diag "import: $(cat "$OUT")"
big=$(ctl mailbox --as olivia --limit 100 | perl -MJSON::PP -0777 -ne '
    for (@{decode_json($_)->{threads}}) { print $_->{id} if $_->{subject} eq "big attachment" }')
n_before=$(grep -c ' api: ' "$LOG")
perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
    print $s "GET /v1/threads/$ARGV[1]/raw HTTP/1.1\r\nHost: api\r\n",
	"Authorization: Bearer $ARGV[2]\r\nCrmsync-As: olivia\r\n\r\n";
    sysread($s, my $buf, 4096);
    close $s;' "$SOCK" "$big" "$T1"
cs_wait 10 log_grew "$n_before"
tap_like "$(grep ' api: ' "$LOG" | tail -n 1)" \
    "api: GET /v1/threads/$big/raw 200 [0-9.]+ms as=olivia not-sent=[a-z-]+\$" \
    "a client gone before the answer was sent: logged as not sent (thread ${big:-none})"

# --- SIGUSR1: tokens and policy reloaded; R3 through the API.
tap_is "$(req GET /v1/persons/p1/threads pete)" 200 "pete, in the policy, reads p1's page"
printf 'User olivia\nAddress olivia@corp.example\nUser dave\nAddress dave@corp.example\n' \
    >"$CS_TMP/policy/users.policy"
: >"$TOK.new"
api_token "$TOK.new"
T3=$(cat "$TOK.new")
mv "$TOK.new" "$TOK"
kill -USR1 "$(cat "$API_STATE"/*.pid)"
cs_wait 5 grep -q "reloaded:" "$LOG"
tap_is "$(TOKEN=$T3 req GET /v1/mailbox olivia)" 200 "the new token works after SIGUSR1"
tap_is "$(req GET /v1/mailbox olivia)" 401 "the removed token is refused after SIGUSR1"
tap_is "$(TOKEN=$T3 req GET /v1/persons/p1/threads pete)" 404 \
    "R3: pete, no longer in the policy, reads nothing (404), not even p1's page"
tap_is "$(TOKEN=$T3 req GET /v1/deals/d1/threads dave)" 200 "dave, still in it, reads d1"
chmod 644 "$TOK"
kill -USR1 "$(cat "$API_STATE"/*.pid)"
cs_wait 5 grep -q "reload failed" "$LOG"
tap_is "$(TOKEN=$T3 req GET /v1/mailbox olivia)" 200 "a failed reload keeps the running tokens"
chmod 600 "$TOK"

# --- start refusals.
refused() {
    _d=$1 _want=$2
    shift 2
    # A daemon that wrongly starts is stopped after 10 s (exit 124).
    timeout 10 "$CRMSYNC_API" -f -c "$CS_TMP/bad.conf" "$@" >"$OUT" 2>&1 </dev/null
    _rc=$?
    tap_is "$_rc" 1 "$_d: refused (exit 1)"
    tap_like "$(cat "$OUT")" "$_want" "$_d: says why"
}
PORT=$(cs_free_port)
sed "s|^ApiListen .*|ApiListen inet:$PORT@0.0.0.0|" "$CONF" >"$CS_TMP/bad.conf"
refused "all addresses without TLS" "neither a unix socket nor loopback: it needs ApiTLSCert"
sed "s|^ApiListen .*|ApiListen inet:$PORT|" "$CONF" >"$CS_TMP/bad.conf"
refused "inet:port (every address) without TLS" "needs ApiTLSCert"
chmod 640 "$TOK"
cp "$CONF" "$CS_TMP/bad.conf"
refused "a token file the group can read" "mode 640 grants group or others access"
chmod 600 "$TOK"
printf 'short\n' >"$CS_TMP/short.tok"
chmod 600 "$CS_TMP/short.tok"
sed "s|^ApiTokenFile .*|ApiTokenFile $CS_TMP/short.tok|" "$CONF" >"$CS_TMP/bad.conf"
refused "a short token" "shorter than 32"
: >"$CS_TMP/empty.tok"
chmod 600 "$CS_TMP/empty.tok"
sed "s|^ApiTokenFile .*|ApiTokenFile $CS_TMP/empty.tok|" "$CONF" >"$CS_TMP/bad.conf"
refused "a token file without tokens" "no token"
"$CRMSYNC_API" -n -c "$CONF" >"$OUT" 2>&1
tap_is "$?" 0 "-n on a good config: exit 0"
"$CRMSYNC_API" -V >"$OUT" 2>&1
tap_like "$(cat "$OUT")" '^crmsync-api .*[0-9]+\.[0-9]' "-V prints the version"
"$CRMSYNC_API" -h >"$OUT" 2>&1
tap_like "$(cat "$OUT")" 'usage: crmsync-api' "-h prints the usage"

# --- loopback TCP; a slow client cannot hold the server.
sed "s|^ApiListen .*|ApiListen inet:$PORT@127.0.0.1|" "$CONF" >"$CS_TMP/tcp.conf"
api_start "$CS_TMP/tcp.conf" "$CS_TMP/tcp.log" || tap_bail "loopback instance did not start"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/health")" 200 \
    "loopback TCP without TLS is allowed"
# 100 connections that send half a request line and then nothing.
perl -MIO::Socket::INET -e '
    my @s;
    for (1..100) {
	my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or last;
	print $c "GET /v1/heal"; $c->blocking(0); push @s, $c;
    }
    open(my $f, ">", $ARGV[1]); print $f scalar(@s), "\n"; close $f;
    my $closed = 0; my $t0 = time;
    while (time - $t0 < 25 && $closed < @s) {
	$closed = 0;
	for my $c (@s) { my $b; my $r = sysread($c, $b, 1); $closed++ if defined $r && $r == 0 || !defined $r && $!{ECONNRESET}; }
	sleep 1 if $closed < @s;
    }
    open($f, ">>", $ARGV[1]); print $f "$closed ", time - $t0, "\n"; close $f;
' "$PORT" "$CS_TMP/slow" 2>/dev/null &
slowpid=$!
cs_wait 5 test -s "$CS_TMP/slow"
t0=$(date +%s%N)
st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T3" \
    -H "Crmsync-As: olivia" "http://127.0.0.1:$PORT/v1/mailbox")
t1=$(date +%s%N)
tap_is "$st" 200 "with $(head -n 1 "$CS_TMP/slow") slow clients connected, a request still answers"
tap_ok "... within a second ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 1000
wait "$slowpid"
set -- $(sed -n 2p "$CS_TMP/slow")
tap_is "${1:-0}" "$(head -n 1 "$CS_TMP/slow")" "every slow client was disconnected"
tap_ok "... by the connection timeout (${2:-?} s)" test "${2:-99}" -le 20

# --- TLS on a non-loopback address, with a self-signed certificate.
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$CS_TMP/api.key" \
	-out "$CS_TMP/api.crt" >/dev/null 2>&1; then
    chmod 600 "$CS_TMP/api.key"
    TPORT=$(cs_free_port)
    sed "s|^ApiListen .*|ApiListen inet:$TPORT@0.0.0.0|" "$CONF" >"$CS_TMP/tls.conf"
    printf 'ApiTLSCert %s\nApiTLSKey %s\n' "$CS_TMP/api.crt" "$CS_TMP/api.key" >>"$CS_TMP/tls.conf"
    chmod 644 "$CS_TMP/api.key"
    cp "$CS_TMP/tls.conf" "$CS_TMP/bad.conf"
    refused "a TLS key others can read" "ApiTLSKey .*mode 644"
    chmod 600 "$CS_TMP/api.key"
    api_start "$CS_TMP/tls.conf" "$CS_TMP/tls.log" || tap_bail "TLS instance did not start"
    st=$(curl -s -o "$OUT" -w '%{http_code}' --cacert "$CS_TMP/api.crt" \
	-H "Authorization: Bearer $T3" -H "Crmsync-As: olivia" \
	"https://127.0.0.1:$TPORT/v1/mailbox")
    tap_is "$st" 200 "HTTPS with ApiTLSCert/ApiTLSKey on 0.0.0.0"
    ctl mailbox --as olivia >"$CS_TMP/mb"
    cmp -s "$OUT" "$CS_TMP/mb"
    tap_is "$?" 0 "HTTPS body is crmsyncctl's"
    st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$TPORT/v1/health")
    tap_like "$st" '^(000|400)$' "plain HTTP to the TLS port gets no answer ($st)"
else
    tap_result 0 "# SKIP openssl cannot make a certificate"
fi

tap_done
