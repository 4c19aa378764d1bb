#!/bin/sh
# nasty.sh - hostile messages through a real Postfix (SPEC C1, C4; issue 9)
#
# Postfix's limits are raised so that crmsync sees what Postfix would
# otherwise refuse or cut: 10,000 recipients, 10,000 headers, long lines,
# NUL bytes, invalid UTF-8 and unknown charsets, broken MIME, encoded words
# in addresses, SQL metacharacters and JSON control characters in every
# field. Everything must be delivered, the milter must stay up, the store
# must pass its integrity check and every crmsyncctl answer must be JSON.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
cs_init || tap_bail "cs_init failed"
chmod 755 "$CS_TMP"
J=$top_builddir/tests/jget
PF=$CS_TMP/postfix
DUMP=$CS_TMP/sink/dump
CONF=$CS_TMP/crmsync.conf
LOG=$CS_TMP/crmsync-milter.log
DB=$CS_TMP/store/crmsync.db
SOCK=unix:$CS_TMP/run/crmsync.sock
mkdir -p "$CS_TMP/run" "$CS_TMP/store" "$CS_TMP/spool" "$CS_TMP/policy" "$CS_TMP/m"
chgrp postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
PORT=$(cs_free_port) || tap_bail "no free port"
SINK=$(cs_free_port) || tap_bail "no free port"
while [ "$SINK" = "$PORT" ]; do SINK=$(cs_free_port); done
cat >"$CONF" <<CONF
Socket $SOCK
UMask 007
Database $DB
SpoolDir $CS_TMP/spool
PolicyDir $CS_TMP/policy
Dropbox log@crm.example.com
TrustedNetworks 127.0.0.1/32
Syslog no
LogLevel info
CONF
cat >"$CS_TMP/policy/users.policy" <<'POLICY'
User alice
Address alice@example.com

User bulk
Address bulk@example.com
POLICY
ctl() { "$CRMSYNCCTL" -c "$CONF" "$@"; }

tap_ok "Postfix and sink up, limits raised" sh -c ". '$top_srcdir/tests/lib.sh';
    pf_setup '$PF' '$PORT' '$SINK' && sink_start '$SINK' '$DUMP' &&
    pf_conf '$PF' 'smtpd_recipient_limit = 20000' 'header_size_limit = 4194304' \
	'line_length_limit = 1048576' 'message_size_limit = 52428800' \
	'hopcount_limit = 20000' 'default_destination_recipient_limit = 1000' &&
    pf_set_milter '$PF' '$SOCK' && pf_start '$PF'"
tap_ok "crmsync-milter started" ms_start "$SOCK" "$LOG" "$CRMSYNC_MILTER" -c "$CONF" -f

M=$CS_TMP/m
crlf() { sed 's/$/\r/'; }
# 1. SQL metacharacters and JSON control characters in every field
printf "From: \"Robert'); DROP TABLE messages;--\" <bobby@tables.example>\nTo: \"a\\\\\"b\\\\\\\\c\" <alice@example.com>\nCc: \"\\001\\002\" <x@y.example>\nSubject: '; DELETE FROM threads; -- \"\\\\u0000 \001\002\037 {\"json\": [1]}\nMessage-ID: <'\";--@evil.example>\nIn-Reply-To: <a'\"b@c>\nReferences: <x'@y> null <\"--@z> junk\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\nbody with ' and \" and \\\\ and \001\n" | crlf >"$M/sql.eml"
# 2. a 5,000-character line in a header and the body
{ printf 'From: long@outside.example\nTo: alice@example.com\nSubject: long lines\nX-Long: '
  awk 'BEGIN { for (i = 0; i < 5000; i++) printf "y" }'
  printf '\n\n'; awk 'BEGIN { for (i = 0; i < 20000; i++) printf "z" }'; printf '\n'; } | crlf >"$M/long.eml"
# 3. 10,000 headers
{ printf 'From: many@outside.example\nTo: alice@example.com\nSubject: many headers\n'
  awk 'BEGIN { for (i = 0; i < 10000; i++) printf "X-H-%d: v%d\n", i, i }'; printf '\nbody\n'; } | crlf >"$M/many.eml"
# 4. NUL bytes, invalid UTF-8, unknown charsets, encoded words in addresses
printf 'From: =?UTF-8?B?w7w=?= =?x-unknown?B?AAEC?= <=?UTF-8?Q?enc?=@outside.example>\nTo: =?utf-8?q?Al=FF=FEice?= <alice@example.com>\nSubject: =?bogus-charset?Q?=E4=F6?= \377\376 \300\200 bad utf-8\nX-Nul: a\000b\nContent-Type: text/plain; charset=x-nonexistent\n\nnul \000 in body \377\n' | crlf >"$M/bytes.eml"
# 5. broken MIME: a boundary that never comes, nested parts cut short
printf 'From: mime@outside.example\nTo: alice@example.com\nSubject: broken mime\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XYZ"\n\n--XYZ\nContent-Type: multipart/alternative; boundary="ABC"\n\n--ABC\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64@@@\n--XYZ\nContent-Type: application/octet-stream; name="=?UTF-8?B?w7wuYmlu?="\nContent-Disposition: attachment; filename*=UTF-8'"''"'%%FF%%FE.bin\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=\n' | crlf >"$M/mime.eml"

n=0
for f in sql long many bytes mime; do
    send_mail "$PORT" "nasty-$f@outside.example" alice@example.com --data "@$M/$f.eml" >/dev/null \
	&& n=$((n + 1))
done
tap_is "$n" 5 "five hostile messages accepted by Postfix"
# 6. 10,000 recipients in one transaction (smtp-source: bulk@, 2bulk@ ... 10000bulk@)
smtp-source -r 10000 -m 1 -f many-rcpts@outside.example -t bulk@example.com -S "10000 rcpts" \
    "127.0.0.1:$PORT" >"$CS_TMP/smtp-source.log" 2>&1
tap_ok "a message to 10,000 recipients accepted" test $? = 0
tap_ok "queue drained" wait_queue_empty "$PF" 180
tap_ok "milter still up" ms_probe "$SOCK"
tap_is "$(sqlite3 "$DB" 'pragma integrity_check')" ok "store integrity"
box=$(ctl mailbox --as alice --limit 100)
tap_ok "mailbox answer is JSON" sh -c "printf '%s' '$(printf '%s' "$box" | sed "s/'/'\\\\''/g")' | '$J' . >/dev/null"
tap_is "$(printf '%s' "$box" | "$J" -n threads)" 5 "all five hostile messages recorded for alice"
tap_like "$(printf '%s' "$box" | "$J" threads)" 'DELETE FROM threads' "the SQL in the subject is stored as text"
tap_is "$(sqlite3 "$DB" "select count(*) from sqlite_master where name in ('messages','threads')")" 2 \
    "and did nothing to the schema"
bad=0
for i in 0 1 2 3 4; do
    t=$(printf '%s' "$box" | "$J" "threads[$i].id")
    ctl thread "$t" --as alice >"$CS_TMP/t.json" 2>"$CS_TMP/t.err" || bad=$((bad + 1))
    "$J" . <"$CS_TMP/t.json" >/dev/null 2>&1 || bad=$((bad + 1))
done
tap_is "$bad" 0 "crmsyncctl thread answers valid JSON for each"
tap_is "$(ctl mailbox --as bulk | "$J" -n threads)" 1 "the 10,000-recipient message is in bulk's mailbox"
tap_is "$(sqlite3 "$DB" "select length(envelope) < 200 from messages where owner = 'bulk'")" 1 \
    "C4: bulk's copy keeps only its own envelope address, not 10,000"
tap_is "$(grep -cE 'Sanitizer|runtime error|segfault' "$LOG")" 0 "nothing alarming in the milter log"
tap_ok "stops cleanly" ms_stop "$SOCK"
tap_done
