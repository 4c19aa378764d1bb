#!/bin/sh
# import.sh - crmsyncctl import without Postfix or root (SPEC X4, S3, T2, K1)
#
# Fixtures are generated here, dated relative to now: recent and old mail,
# messages without a Date (Maildir file name time, mbox From_ line time),
# Maildir++ folders (labels), a corrupt and an empty file, an mbox with
# >From escapes and a Content-Length that lies, a CRLF copy of a Maildir
# message. Checks the window and --since, labels mode with Labels Sales
# (a reply in the INBOX follows its Sales thread), re-import idempotency,
# that --dry-run writes nothing, and the exit codes.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_find_bins
[ -x "$CRMSYNCCTL" ] || tap_skip_all "$CRMSYNCCTL not built"
JGET=$top_builddir/tests/jget
[ -x "$JGET" ] || tap_skip_all "$JGET not built"
command -v perl >/dev/null 2>&1 || tap_skip_all "needs perl"
cs_init || tap_bail "cs_init failed"
HAVE_SQLITE=0
command -v sqlite3 >/dev/null 2>&1 && HAVE_SQLITE=1

T=$CS_TMP
mkdir -p "$T/policy" "$T/store" "$T/spool"
conf() {	# conf NAME DBFILE
    cat >"$T/$1.conf" <<CONF
Database $2
PolicyDir $T/policy
SpoolDir $T/spool
InternalDomains example.com
Syslog no
CONF
}
conf main "$T/store/crmsync.db"
cat >"$T/policy/users.policy" <<'POLICY'
User alice
Address alice@example.com
Window 30d

User bob
Address bob@example.com
Sync labels
Labels Sales
Window 30d
POLICY

NOW=$(date +%s)
DAY=86400
# rfcdate T - an RFC 5322 date for epoch T
rfcdate() { perl -MPOSIX=strftime -e 'print strftime("%a, %d %b %Y %H:%M:%S +0000", gmtime($ARGV[0]))' "$1"; }
# fromdate T - an mbox From_ line date for epoch T (asctime, UTC)
fromdate() { perl -e 'print scalar(gmtime($ARGV[0]))' "$1"; }
# msg FILE FROM SUBJECT DATE|- ID [EXTRA-HEADER] - write a message, LF endings
msg() {
    {
	printf 'Return-Path: <%s>\nDelivered-To: alice@example.com\n' "$2"
	case "$2" in
	*alice@*) printf 'From: %s\nTo: carol@client.example\nSubject: %s\n' "$2" "$3" ;;
	*) printf 'From: %s\nTo: alice@example.com\nSubject: %s\n' "$2" "$3" ;;
	esac
	[ "$4" = - ] || printf 'Date: %s\n' "$(rfcdate "$4")"
	printf 'Message-ID: <%s@test.example>\n' "$5"
	[ -z "${6:-}" ] || printf '%s\n' "$6"
	printf '\nHello,\n\nbody of %s\n-- \nsig\n' "$3"
    } >"$1"
}
ctl() { "$CRMSYNCCTL" -c "$T/main.conf" "$@"; }
imp() { ctl import "$@" 2>"$T/err" | tail -n 1; }
sq() { sqlite3 "$T/store/crmsync.db" "$1"; }
subjects() { ctl mailbox --as "$1" --limit 100 | "$JGET" threads \
    | tr ',' '\n' | sed -n 's/.*"subject":"\([^"]*\)".*/\1/p' | sort | tr '\n' '|'; }

# ---------------------------------------------------------------- Maildir
M=$T/alice/Maildir
for f in "" .Sales .Sales.Q4 .Sent .Trash; do mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"; done
msg "$M/cur/$((NOW - 2 * DAY)).M1P1.host:2,S" 'Carol <carol@client.example>' 'recent inbox' $((NOW - 2 * DAY)) m1
msg "$M/cur/$((NOW - 60 * DAY)).M2P1.host:2,S" carol@client.example 'too old' $((NOW - 60 * DAY)) m2
msg "$M/new/$((NOW - DAY)).M3P1.host" carol@client.example 'no date recent' - m3
msg "$M/cur/$((NOW - 90 * DAY)).M4P1.host:2,S" carol@client.example 'no date old' - m4
msg "$M/.Sales/cur/$((NOW - 3 * DAY)).M5P1.host:2,S" dave@client.example 'sales deal' $((NOW - 3 * DAY)) m5
msg "$M/.Sales.Q4/cur/$((NOW - 3 * DAY)).M6P1.host:2,S" erin@client.example 'q4 forecast' $((NOW - 3 * DAY)) m6
msg "$M/.Sent/cur/$((NOW - 4 * DAY)).M7P1.host:2,S" 'Alice <alice@example.com>' 'sent by alice' $((NOW - 4 * DAY)) m7
msg "$M/.Trash/cur/$((NOW - 2 * DAY)).M8P1.host:2,S" carol@client.example 'in the trash' $((NOW - 2 * DAY)) m8
msg "$M/cur/$((NOW - 10 * DAY)).M9P1.host:2,S" carol@client.example 'ten days ago' $((NOW - 10 * DAY)) m9
# The same message as m1, CRLF line ends (as some tools save it): T2.
sed 's/$/\r/' "$M/cur/$((NOW - 2 * DAY)).M1P1.host:2,S" >"$M/cur/$((NOW - 2 * DAY)).M10P1.host:2,S"
head -c 400 /dev/urandom | tr -d '\n' >"$M/cur/$((NOW - DAY)).M11P1.host:2,S"
: >"$M/new/$((NOW - DAY)).M12P1.host"
msg "$M/tmp/$NOW.M13P1.host" carol@client.example 'half delivered' $NOW m13
printf 'dovecot stuff\n' >"$M/dovecot-uidlist"

out=$(imp --user alice "$M")
tap_is "$(echo "$out" | "$JGET" format)" maildir "Maildir detected"
tap_is "$(echo "$out" | "$JGET" messages)" 12 "12 messages read (tmp/ and non-message files ignored)"
tap_is "$(echo "$out" | "$JGET" imported)" 6 "X4: 6 imported"
tap_is "$(echo "$out" | "$JGET" duplicates)" 1 "T2: the CRLF copy of a message is a duplicate"
tap_is "$(echo "$out" | "$JGET" skipped.window)" 2 "S3: 2 outside the Window (Date, file name time)"
tap_is "$(echo "$out" | "$JGET" skipped.folder)" 1 "Trash is not imported"
tap_is "$(echo "$out" | "$JGET" unreadable)" 2 "a corrupt and an empty file are unreadable"
tap_is "$(grep -c '"warning":"unreadable"' "$T/err")" 2 "each unreadable file is reported"
tap_like "$(cat "$T/err")" "M11P1.host:2,S\",\"message\":\"no header field" "with its path and why"
tap_is "$(echo "$out" | "$JGET" since_clamped)" false "no --since, nothing clamped"
tap_is "$(subjects alice)" "no date recent|q4 forecast|recent inbox|sales deal|sent by alice|ten days ago|" \
    "alice's mailbox holds what was imported"
L=$(ctl mailbox --as alice --label Sales | "$JGET" -n threads)
tap_is "$L" 1 "folder .Sales -> label Sales"
L=$(ctl mailbox --as alice --label Sales/Q4 | "$JGET" 'threads[0].subject')
tap_is "$L" "q4 forecast" "folder .Sales.Q4 -> label Sales/Q4"
L=$(ctl mailbox --as alice --label Sent | "$JGET" 'threads[0].subject')
tap_is "$L" "sent by alice" "folder .Sent -> label Sent"
if [ "$HAVE_SQLITE" = 1 ]; then
    tap_is "$(sq "select count(*) from messages where owner='alice' and source='import' and queue_id is null")" 6 \
	"source import, no queue id"
    tap_is "$(sq "select direction from messages where subject='sent by alice'") $(sq "select direction from messages where subject='recent inbox'")" \
	"out in" "direction: From is alice -> out, else in"
    tap_is "$(sq "select arrival from messages where subject='no date recent'")" \
	"$(sq "select $((NOW - DAY))")" "no Date: arrival is the file name's time"
    tap_is "$(sq "select arrival from messages where subject='recent inbox'")" $((NOW - 2 * DAY)) \
	"arrival is the Date header"
    tap_is "$(sq "select count(*) from persons")" 0 "K1: no contact created"
    tap_is "$(sq "select count(distinct owner) from messages")" 1 "owner is the user only"
fi

out=$(imp --user alice "$M")
tap_is "$(echo "$out" | "$JGET" imported) $(echo "$out" | "$JGET" duplicates)" "0 7" \
    "T2: a second import imports 0, 7 duplicates"

# ---------------------------------------------------------------- --since
conf since "$T/store/since.db"
S=$(perl -MPOSIX=strftime -e 'print strftime("%Y-%m-%d", gmtime($ARGV[0]))' $((NOW - 5 * DAY)))
out=$("$CRMSYNCCTL" -c "$T/since.conf" import --user alice "$M" --since "${S}T00:00:00Z" 2>/dev/null | tail -n 1)
tap_is "$(echo "$out" | "$JGET" imported)" 5 "--since narrows: the 10-day-old message is left out"
tap_is "$(echo "$out" | "$JGET" skipped.window)" 3 "... and counted in window"
tap_like "$(echo "$out" | "$JGET" window_start)" "^${S}T00:00:00Z$" "window_start is --since"
rm -f "$T"/store/since.db*
out=$("$CRMSYNCCTL" -c "$T/since.conf" import --user alice "$M" --since 2001-01-01 2>/dev/null | tail -n 1)
tap_is "$(echo "$out" | "$JGET" since_clamped) $(echo "$out" | "$JGET" imported)" "true 6" \
    "--since older than the Window is clamped, and says so"
"$CRMSYNCCTL" -c "$T/since.conf" import --user alice "$M" --since yesterday >/dev/null 2>"$T/err"
tap_is "$?" 4 "a bad --since is bad input (exit 4)"

# ---------------------------------------------------------------- dry run
conf dry "$T/store/dry.db"
"$CRMSYNCCTL" -c "$T/dry.conf" import --user alice "$M" --dry-run >"$T/dry.out" 2>/dev/null
tap_is "$?" 0 "dry run exits 0"
tap_ok "dry run writes nothing (no store file)" sh -c "! ls '$T'/store/dry.db* >/dev/null 2>&1"
tap_is "$(tail -n 1 "$T/dry.out" | "$JGET" imported) $(tail -n 1 "$T/dry.out" | "$JGET" dry_run)" "7 true" \
    "dry run: 7 would be imported (duplicates cannot be told without the store)"
tap_is "$(grep -c '"path"' "$T/dry.out")" 8 "one line per message to import, then the summary"
tap_like "$(grep 'q4 forecast\|M6P1' "$T/dry.out" | head -n 1)" '"folder":"Sales/Q4".*"labels":\["Sales/Q4"\]' \
    "a dry-run line names folder and labels"
A=$(perl -MPOSIX=strftime -e 'print strftime("%Y-%m-%dT%H:%M:%SZ", gmtime($ARGV[0]))' $((NOW - 2 * DAY)))
tap_is "$(grep 'M1P1' "$T/dry.out" | head -n 1 | "$JGET" arrival)" "$A" \
    "a dry-run line's arrival is its Date, ISO 8601 UTC"
tap_like "$(tail -n 1 "$T/dry.out")" '"seconds":[0-9]+(\.[0-9]{1,3})?,"rate":[0-9]+}$' \
    "the summary's seconds (to the ms) and rate (messages/s)"

# ---------------------------------------------------------------- labels mode
B=$T/bob/Maildir
for f in "" .Sales; do mkdir -p "$B/$f/cur" "$B/$f/new" "$B/$f/tmp"; done
msg "$B/cur/$((NOW - DAY)).B1.host:2,S" frank@client.example 'not selected' $((NOW - DAY)) b1
msg "$B/.Sales/cur/$((NOW - 3 * DAY)).B2.host:2,S" grace@client.example 'big order' $((NOW - 3 * DAY)) b2
# A reply in the INBOX: read before its Sales thread, kept in pass 2 (T1).
msg "$B/cur/$((NOW - 2 * DAY)).B3.host:2,S" grace@client.example 'Re: big order' $((NOW - 2 * DAY)) b3 \
    'In-Reply-To: <b2@test.example>'
out=$(imp --user bob "$B")
tap_is "$(echo "$out" | "$JGET" imported)" 2 "labels mode: the Sales message and the reply to it"
tap_is "$(echo "$out" | "$JGET" skipped.no-label)" 1 "the unlabelled INBOX message: no-label"
tap_is "$(ctl mailbox --as bob | "$JGET" 'threads[0].message_count')" 2 "the reply joined its thread"
tap_is "$(subjects bob)" "big order|" "nothing else in bob's mailbox"

# ---------------------------------------------------------------- mbox
X=$T/alice.mbox
{
    # m1 again: stored once whatever the format (T2).
    printf 'From carol@client.example %s\n' "$(fromdate $((NOW - 2 * DAY)))"
    cat "$M/cur/$((NOW - 2 * DAY)).M1P1.host:2,S"
    printf '\n'
    printf 'From carol@client.example %s\n' "$(fromdate $((NOW - DAY)))"
    printf 'From: carol@client.example\nTo: alice@example.com\nSubject: mbox escapes\n'
    printf 'Message-ID: <x1@test.example>\nContent-Length: 3\n\n'
    printf 'first\n>From the start of a line\n>>From quoted twice\n\n'
    printf 'From carol@client.example %s\n' "$(fromdate $((NOW - 80 * DAY)))"
    printf 'From: carol@client.example\nTo: alice@example.com\nSubject: mbox old\n\nold\n\n'
    printf 'From carol@client.example %s\n' "$(fromdate $((NOW - 3 * DAY)))"
    printf 'From: carol@client.example\nTo: alice@example.com\nSubject: mbox last\n\nlast\n'
} >"$X"
out=$(imp --user alice "$X")
tap_is "$(echo "$out" | "$JGET" format) $(echo "$out" | "$JGET" messages)" "mbox 4" \
    "mbox: 4 messages (Content-Length ignored)"
tap_is "$(echo "$out" | "$JGET" imported) $(echo "$out" | "$JGET" duplicates) $(echo "$out" | "$JGET" skipped.window)" \
    "2 1 1" "mbox: 2 new, the Maildir message again is a duplicate (T2), From_ time outside the window"
if [ "$HAVE_SQLITE" = 1 ]; then
    tap_is "$(sq "select cast(r.data as text) from messages m join raw r on r.id = m.raw where m.subject = 'mbox escapes'" | tail -n 4)" \
	"$(printf 'first\nFrom the start of a line\n>From quoted twice\n')" \
	"mboxrd: >From unquoted once, the separator line dropped"
    tap_is "$(sq "select arrival from messages where subject='mbox last'")" $((NOW - 3 * DAY)) \
	"no Date: arrival is the From_ line's time"
fi

# ---------------------------------------------------------------- links (X4)
# Bob can write in his own Maildir: he plants links to alice's mail (a
# file, a whole folder, a cur/) and to her mbox. The importer, running as
# root or crmsync, must read none of it into bob's mailbox.
conf links "$T/store/links.db"
L=$T/links/Maildir
mkdir -p "$L/cur" "$L/new" "$L/.Mine/cur" "$L/.Sub"
msg "$L/cur/$((NOW - DAY)).L1.host:2,S" grace@client.example 'own message' $((NOW - DAY)) l1 \
    'X-Label: Sales'
ln -s "$M/cur/$((NOW - 2 * DAY)).M1P1.host:2,S" "$L/cur/$((NOW - DAY)).L2.host:2,S"
ln -s "$M/.Sales" "$L/.Stolen"
ln -s "$M/.Sent/cur" "$L/.Sub/cur"
ln -s "$X" "$L/new/$((NOW - DAY)).L3.host"
out=$("$CRMSYNCCTL" -c "$T/links.conf" import --user alice "$L" 2>"$T/err" | tail -n 1)
tap_is "$(echo "$out" | "$JGET" symlinks)" 4 "X4: 4 links counted (a file, a folder, a cur/, an mbox)"
tap_is "$(echo "$out" | "$JGET" messages) $(echo "$out" | "$JGET" imported)" "1 1" \
    "X4: only the one regular file is read and imported"
tap_is "$(grep -c '"warning":"symlink"' "$T/err")" 4 "each link is reported on stderr"
tap_like "$(cat "$T/err")" '\.Stolen","message":"a symbolic link' "... with its path"
tap_is "$("$CRMSYNCCTL" -c "$T/links.conf" mailbox --as alice | "$JGET" -n threads)" 1 \
    "X4: nothing behind a link reached the mailbox"
ln -s "$M" "$T/links/maildir-link"
"$CRMSYNCCTL" -c "$T/links.conf" import --user alice "$T/links/maildir-link" >/dev/null 2>"$T/err"
tap_is "$?" 4 "X4: a PATH that is a link is refused (exit 4)"
tap_like "$(cat "$T/err")" 'symbolic link' "... saying why"

# ---------------------------------------------------------------- errors
ctl import --user nobody "$M" >/dev/null 2>"$T/err"
tap_is "$?" 2 "unknown user: exit 2"
ctl import --user alice "$T/policy" >/dev/null 2>"$T/err"
tap_is "$?" 4 "neither Maildir nor mbox: exit 4"
tap_like "$(cat "$T/err")" '"error":"bad_input".*not a Maildir' "... with a JSON error"
ctl import --user alice >/dev/null 2>&1
tap_is "$?" 1 "no PATH: usage"
ctl import --user alice "$M" --jobs 0 >/dev/null 2>&1
tap_is "$?" 1 "--jobs 0: usage"
out=$(imp --user alice "$M" --jobs 1)
tap_is "$(echo "$out" | "$JGET" imported) $(echo "$out" | "$JGET" duplicates)" "0 7" \
    "--jobs 1 (inline store) agrees"
tap_done
