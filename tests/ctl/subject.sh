#!/bin/sh
# subject.sh - SPEC R1-R3 as the operator runs them: crmsyncctl subject
# export / erase, retention run, mailbox purge; no root needed.
#
# A fixture imported into alice's and bob's mailboxes: three messages
# naming dana@subject.example (From; To with a subaddress and capitals,
# shared by both mailboxes; Reply-To only), others naming carol at the
# same domain and frank. Export must return exactly dana's three, once
# each; erase must delete them so that no byte of the SQLite store or its
# WAL keeps their markers (the scan is shown to find them before). The
# retention clock is CRMSYNC_TEST_NOW. On PostgreSQL (tests/pg/subject-pg.sh
# sets CS_TEST_DATABASE) the rows are checked with psql instead of bytes.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
cs_find_bins
J=$top_builddir/tests/jget
cs_init || tap_bail "cs_init failed"
D=$CS_TMP
mkdir -p "$D/policy" "$D/spool"
DB=${CS_TEST_DATABASE:-$D/crmsync.db}
cat >"$D/crmsync.conf" <<CONF
Database $DB
PolicyDir $D/policy
SpoolDir $D/spool
Retention 365d
Syslog no
CONF
both_users() {
    printf 'User alice\nAddress alice@example.com\nWindow 3650d\n\n' >"$D/policy/users.policy"
    printf 'User bob\nAddress bob@example.com\nWindow 3650d\nRetention 30d\n' >>"$D/policy/users.policy"
}
both_users
ctl() { "$CRMSYNCCTL" -c "$D/crmsync.conf" "$@"; }

# msg FROM TO SUBJECT DATE FROM_LINE_DATE [EXTRA-HEADER] - one mbox message
msg() {
    printf 'From %s %s\nFrom: %s\nTo: %s\nSubject: %s\n' "$1" "$5" "$1" "$2" "$3"
    [ -n "$4" ] && printf 'Date: %s\n' "$4"
    [ -n "${6:-}" ] && printf '%s\n' "$6"
    printf 'Message-ID: <%s@fixture>\n\n%s body\nFrom the start of a line\n\n' "$3" "$3"
}
NOW_D='Mon, 30 Nov 2026 10:00:00 +0000'
NOW_F='Mon Nov 30 10:00:00 2026'
{
    msg dana@subject.example alice@example.com MARKDANA1 "$NOW_D" "$NOW_F"
    msg alice@example.com 'Dana+news@Subject.Example' MARKDANA2 "$NOW_D" "$NOW_F" 'Cc: bob@example.com'
    msg carol@subject.example alice@example.com OTHERCAROL "$NOW_D" "$NOW_F"
    msg frank@x.example alice@example.com OTHERFRANK "$NOW_D" "$NOW_F"
    # A thread dana joins with a reply: erase takes the reply, the thread
    # stays with frank's message (message.deleted, not thread.deleted).
    msg frank@x.example alice@example.com THREADROOT "$NOW_D" "$NOW_F"
    msg dana@subject.example alice@example.com MARKDANA4 "$NOW_D" "$NOW_F" 'In-Reply-To: <THREADROOT@fixture>'
    # R1 fixture: old by Date; no Date (arrival: the From_ line, old);
    # 2 months old (kept by alice's 365d). The importer takes a Date as
    # the arrival, so a Date in the future is unit/t_retention's case.
    msg frank@x.example alice@example.com RETOLDDATE 'Mon, 2 Mar 2020 10:00:00 +0000' 'Mon Mar  2 10:00:00 2020'
    msg frank@x.example alice@example.com RETNODATE '' 'Mon Mar  2 10:00:00 2020'
    msg frank@x.example alice@example.com RETKEEPALICE 'Thu, 1 Oct 2026 10:00:00 +0000' 'Thu Oct  1 10:00:00 2026'
} >"$D/alice.mbox"
{
    msg alice@example.com 'Dana+news@Subject.Example' MARKDANA2 "$NOW_D" "$NOW_F" 'Cc: bob@example.com'
    msg erin@other.example bob@example.com MARKDANA3 "$NOW_D" "$NOW_F" 'Reply-To: <dana@subject.example>'
    # bob's Retention is 30d: this one goes, alice's of the same age stays.
    msg frank@x.example bob@example.com RETBOBOLD 'Thu, 1 Oct 2026 10:00:00 +0000' 'Thu Oct  1 10:00:00 2026'
    msg frank@x.example bob@example.com MARKBOB "$NOW_D" "$NOW_F"
} >"$D/bob.mbox"

case $DB in
    postgres*) PG=1 ;;
    *) PG= ;;
esac
# hits MARKER - how many times the store's bytes (SQLite: file and WAL)
# or rows (PostgreSQL: any text of a message or raw row) hold MARKER
hits() {
    if [ -n "$PG" ]; then
	psql -X -A -t -q "$DB" -c "select (select count(*) from raw where position('$1' in convert_from(data, 'SQL_ASCII')) > 0) + (select count(*) from messages where subject like '%$1%')"
    else
	n=0
	for f in "$DB" "$DB-wal"; do
	    [ -e "$f" ] && n=$((n + $(LC_ALL=C grep -a -o "$1" "$f" | wc -l)))
	done
	echo "$n"
    fi
}
stat_of() { ctl stats | "$J" "$1"; }
sqlq() {
    if [ -n "$PG" ]; then psql -X -A -t -q "$DB" -c "$1"; else sqlite3 "$DB" "$1"; fi
}

tap_like "$(ctl import --user alice "$D/alice.mbox" 2>&1)" '"imported":9,' "alice's fixture imported"
tap_like "$(ctl import --user bob "$D/bob.mbox" 2>&1)" '"imported":4,' "bob's fixture imported"
tap_is "$(stat_of messages)" 13 "13 copies stored"

# 1. Export: exactly dana's three messages, each once, mboxrd.
ctl subject export dana@subject.example --out "$D/ex.mbox" >"$D/ex.out" 2>"$D/ex.err"
tap_is "$?" 0 "subject export exits 0"
tap_is "$("$J" messages <"$D/ex.out")" 4 "four distinct messages exported"
tap_is "$(grep -c '^From ' "$D/ex.mbox")" 4 "four From_ lines in the mbox"
tap_is "$(grep -c '^Subject: MARKDANA[1234]$' "$D/ex.mbox")" 4 "they are MARKDANA1-4"
tap_is "$(grep -c -e OTHER -e RET -e MARKBOB -e '^Subject: THREADROOT' "$D/ex.mbox")" 0 \
    "no message of another address"
tap_is "$(grep -c '^>From the start' "$D/ex.mbox")" 4 "body From_ lines quoted (mboxrd)"
tap_is "$(stat -c %a "$D/ex.mbox")" 600 "the mbox is mode 0600"
tap_is "$("$J" -n . <"$D/ex.mbox.json")" 4 "the index has four entries"
tap_is "$("$J" '[0].mailboxes' <"$D/ex.mbox.json" | tr -d ' \n')" '["alice"]' \
    "the first was alice's alone"
tap_is "$("$J" '[1].mailboxes' <"$D/ex.mbox.json" | tr -d ' \n')" '["alice","bob"]' \
    "the shared message names both mailboxes"
tap_ok "index entries carry a thread, date and subject" \
    "$J" '[2].threads[0].thread' <"$D/ex.mbox.json"
tap_like "$("$J" '[2].date' <"$D/ex.mbox.json")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
    "an index entry's date is ISO 8601 UTC"
ctl subject export --as alice dana@subject.example >/dev/null 2>&1
tap_is "$?" 1 "subject export takes no --as"
ctl subject export nobody-at-all >/dev/null 2>&1
tap_is "$?" 4 "an address without @: bad input"
ctl subject export dana@subject.example --out "$D/ex.mbox" >/dev/null 2>&1
tap_is "$?" 4 "an existing --out file is never overwritten"

# A person alice made by hand for dana (K3): crmsync's, so erase deletes it.
t1=$("$J" '[0].threads[0].thread' <"$D/ex.mbox.json")
tap_like "$(ctl contact create --as alice --thread "$t1" --address dana@subject.example 2>&1)" \
    '"created": true' "alice makes a person for dana"
# Shared (linked to that person), the thread's events carry its subject and
# participants (V6): erase must take dana's address out of them too.
tap_ok "alice shares the thread (MARKDANA1's)" ctl share --as alice "$t1"
msg dana@subject.example alice@example.com MARKDANA5 "$NOW_D" "$NOW_F" \
    'In-Reply-To: <MARKDANA1@fixture>' >"$D/reply.mbox"
tap_like "$(ctl import --user alice "$D/reply.mbox" 2>&1)" '"imported":1,' "dana's reply imported"
tap_like "$(sqlq "SELECT count(*) FROM events WHERE type<>'person.created'
	AND lower(payload) LIKE '%dana%@subject.example%'")" '^[1-9]' \
    "a kept event of the shared thread names dana"

# 2. Erase: the scan finds the markers first. On SQLite another
#    connection stays open meanwhile (as the milter's would), so closing
#    crmsyncctl's does not checkpoint the WAL: the erase itself must.
holder=
if [ -z "$PG" ] && command -v sqlite3 >/dev/null 2>&1; then
    (echo 'select count(*) from users;'; sleep 120) | sqlite3 "$DB" >/dev/null 2>&1 &
    holder=$!
    cs_wait 10 test -e "$DB-wal"
fi
tap_like "$(hits MARKDANA2)" '^[1-9]' "before erase, the store's bytes hold the marker"
# No WebhookURL here: events are kept, not pending (stats counts them as kept).
ev0=$(stat_of events_kept)
ctl subject erase dana@subject.example --dry-run >"$D/dry.json"
tap_is "$("$J" messages_deleted <"$D/dry.json")" 6 "dry run: six copies would go"
tap_is "$("$J" persons_deleted <"$D/dry.json")" 1 "dry run: and alice's person"
tap_is "$(stat_of messages)" 14 "dry run deletes nothing"
tap_is "$(stat_of persons)" 1 "dry run keeps the person"
ctl subject erase DANA@subject.example >"$D/erase.json"
tap_is "$?" 0 "subject erase exits 0"
tap_is "$("$J" messages_deleted <"$D/erase.json")" 6 "six copies deleted"
tap_is "$("$J" threads_deleted <"$D/erase.json")" 4 "four threads left empty deleted"
tap_is "$("$J" persons_deleted <"$D/erase.json")" 1 "alice's person for dana deleted"
tap_is "$(stat_of persons)" 0 "no person left"
tap_is "$("$J" scrubbed <"$D/erase.json")" true "the answer says the store was scrubbed"
tap_is "$(grep -c subject.example "$D/erase.json")" 0 "the answer names no address"
tap_is "$(stat_of messages)" 8 "eight copies left"
# Six deletion events; the person.created of alice's person for dana goes
# with the person (it names the address).
tap_is "$(( $(stat_of events_kept) - ev0 ))" 5 "six deletion events kept, one person.created gone"
tap_is "$(sqlq "SELECT count(*) FROM events WHERE type='person.created'")" 0 \
    "no person.created event left for dana's person"
tap_is "$(sqlq "SELECT count(*) FROM events WHERE type='message.deleted'")" 2 \
    "two message.deleted (frank's thread lives on; t1 until its last)"
tap_like "$(sqlq "SELECT payload FROM events WHERE type='message.deleted'")" '"thread":"t[0-9]+"' \
    "... naming its thread"
tap_is "$(sqlq "SELECT count(*) FROM events WHERE type='thread.deleted'")" 4 "four thread.deleted"
tap_like "$(hits THREADROOT)" '^[1-9]' "frank's message of that thread is kept"
for m in MARKDANA1 MARKDANA2 MARKDANA3 MARKDANA4 MARKDANA5; do
    tap_is "$(hits $m)" 0 "after erase, no byte of the store holds $m"
done
tap_like "$(hits OTHERCAROL)" '^[1-9]' "... while the scan still finds a kept message"
# Nor the address itself: not in a participant list, an envelope, a person
# or an event's payload (person.created names it; the shared thread's
# message.added carries its participants).
if [ -z "$PG" ]; then
    tap_is "$(cat "$DB" "$DB-wal" 2>/dev/null | LC_ALL=C grep -a -i -o 'dana[^@ ]*@subject\.example' | sort | uniq -c | tr -s ' ')" "" \
	"after erase, no byte of the store holds dana's address"
else
    tap_is "$(sqlq "SELECT count(*) FROM events WHERE payload::text ILIKE '%dana%'")" 0 \
	"after erase, no event payload names dana"
fi
ctl subject export dana@subject.example --out "$D/ex2.mbox" >"$D/ex2.out" 2>&1
tap_is "$("$J" messages <"$D/ex2.out")" 0 "export after erase: nothing"

# 2b. A user's own delete: the same guarantee.
ctl subject export carol@subject.example --out "$D/c.mbox" >/dev/null 2>&1
t=$("$J" '[0].threads[0].thread' <"$D/c.mbox.json")
tap_like "$(hits OTHERCAROL)" '^[1-9]' "before delete, the store holds carol's message"
tap_ok "alice deletes carol's thread" ctl delete --as alice "$t"
tap_is "$(hits OTHERCAROL)" 0 "after delete, no byte of the store holds it"
[ -n "$holder" ] && kill "$holder" 2>/dev/null

# 2c. An internationalized address (EAI, RFC 6532): events are stored as
#     ASCII JSON ("\u00fc"), the messages as UTF-8; erase finds both.
printf 'From x %s\nFrom: J\303\274rgen <j\303\274rgen@m\303\274ller.example>\nTo: alice@example.com\nSubject: MARKEAI1\nDate: %s\nMessage-ID: <MARKEAI1@fixture>\n\nbody\n\n' \
    "$NOW_F" "$NOW_D" >"$D/eai1.mbox"
printf 'From x %s\nFrom: j\303\274rgen@m\303\274ller.example\nTo: alice@example.com\nSubject: MARKEAI2\nDate: %s\nIn-Reply-To: <MARKEAI1@fixture>\nMessage-ID: <MARKEAI2@fixture>\n\nbody\n\n' \
    "$NOW_F" "$NOW_D" >"$D/eai2.mbox"
tap_like "$(ctl import --user alice "$D/eai1.mbox" 2>&1)" '"imported":1,' "a message from an EAI address imported"
ctl subject export "$(printf 'j\303\274rgen@m\303\274ller.example')" --out "$D/eai.mbox" >/dev/null 2>&1
te=$("$J" '[0].threads[0].thread' <"$D/eai.mbox.json")
tap_like "$(ctl contact create --as alice --thread "$te" --address "$(printf 'j\303\274rgen@m\303\274ller.example')" 2>&1)" \
    '"created": true' "alice makes a person for him"
tap_ok "alice shares that thread" ctl share --as alice "$te"
tap_like "$(ctl import --user alice "$D/eai2.mbox" 2>&1)" '"imported":1,' "his reply imported"
tap_like "$(sqlq "SELECT count(*) FROM events WHERE lower(payload) LIKE '%j_u00fcrgen@m_u00fcller.example%'")" \
    '^[1-9]' "kept events name him, escaped"
ctl subject erase "$(printf 'J\303\274rgen@m\303\274ller.example')" >"$D/eai-erase.json"
tap_is "$("$J" messages_deleted <"$D/eai-erase.json")" 2 "erase: his two messages"
tap_is "$("$J" persons_deleted <"$D/eai-erase.json")" 1 "erase: alice's person for him"
tap_is "$(sqlq "SELECT count(*) FROM events WHERE lower(payload) LIKE '%u00fcrgen%' OR payload LIKE '%$(printf '\303\274')rgen%'")" 0 \
    "after erase, no event payload names him, escaped or not"
if [ -z "$PG" ]; then
    tap_is "$(cat "$DB" "$DB-wal" 2>/dev/null | LC_ALL=C grep -a -i -c -e 'u00fcrgen@' -e "$(printf '\303\274')rgen@")" 0 \
	"after erase, no byte of the store holds his address"
fi

# 3. Retention at a clock the test sets (2026-12-01).
export CRMSYNC_TEST_NOW=1796083200
ctl retention run --dry-run >"$D/rd.json"
tap_is "$("$J" messages_deleted <"$D/rd.json")" 3 "retention dry run: three copies are old"
tap_is "$(stat_of messages)" 7 "dry run deletes nothing"
tap_like "$(hits RETOLDDATE)" '^[1-9]' "before retention, the store holds an old message"
ctl retention run >"$D/r.json"
tap_is "$?" 0 "retention run exits 0"
tap_is "$("$J" messages_deleted <"$D/r.json")" 3 "three old copies deleted"
for m in RETOLDDATE RETNODATE RETBOBOLD; do
    tap_is "$(hits $m)" 0 "retention: $m is gone from the store's bytes"
done
tap_like "$(hits RETKEEPALICE)" '^[1-9]' "alice's 2-month-old message kept (365d)"
ctl retention run --max 1 >"$D/r2.json"
tap_is "$("$J" messages_deleted <"$D/r2.json")" 0 "a second run finds nothing"
unset CRMSYNC_TEST_NOW

# 4. Purge (R3): refused while bob is in the policy.
ctl mailbox purge --user bob >/dev/null 2>"$D/p.err"
tap_is "$?" 3 "purge of a user in the policy: forbidden"
tap_like "$(hits MARKBOB)" '^[1-9]' "bob's mailbox is there"
# bob's own person for a correspondent: its person.created goes with it.
tb=$(ctl mailbox --as bob | "$J" 'threads[0].id')
tap_like "$(ctl contact create --as bob --thread "$tb" --address frank@x.example 2>&1)" \
    '"created": true' "bob makes a person for frank"
printf 'User alice\nAddress alice@example.com\nWindow 3650d\n' >"$D/policy/users.policy"
ctl mailbox purge --user bob >"$D/p.json"
tap_is "$?" 0 "purge after bob left the policy exits 0"
tap_is "$("$J" messages_deleted <"$D/p.json")" 1 "bob's last copy deleted"
tap_is "$(stat_of mailboxes.bob)" "" "bob's mailbox is gone"
tap_is "$(hits MARKBOB)" 0 "no byte of the store holds bob's message"
tap_is "$(sqlq "SELECT count(*) FROM events WHERE type='person.created' AND owner='bob'")" 0 \
    "bob's person.created events are gone with his persons"
tap_like "$(hits OTHERFRANK)" '^[1-9]' "alice's mail is untouched"

# 5. A CRM directory person with the address is listed, never deleted.
printf '{"persons": [{"id": "crm-frank", "name": "Frank", "emails": ["frank@x.example"], "access": ["alice"]}], "deals": []}\n' \
    >"$D/dir.json"
tap_ok "directory with a CRM person for frank" ctl directory import "$D/dir.json"
ctl subject erase frank@x.example >"$D/ef.json"
tap_is "$("$J" crm_persons <"$D/ef.json" | tr -d ' \n')" '["crm-frank"]' "erase lists the CRM's person"
tap_is "$("$J" persons_deleted <"$D/ef.json")" 0 "and deletes no CRM person"
tap_ok "crm-frank is still there" ctl person crm-frank --as alice
tap_is "$(hits OTHERFRANK)" 0 "frank's messages are gone"
tap_done
