#!/bin/sh
# fleet.sh - two Postfix+crmsync hosts on one PostgreSQL store (SPEC F1)
#
# Hosts A and B: each a private Postfix with its own crmsync-milter, both
# with Database postgresql://... on one private cluster, one smtp-sink.
# Checked through the real MTAs:
# - T1: a conversation whose messages are spread over both hosts, replies
#   before their parents, is one thread in the mailbox;
# - K2, K5: the same new Smart BCC recipient sent through both hosts at once
#   by two users is one person each;
# - T2: one message (same Message-ID, headers and body) relayed through A
#   and then B is stored once per mailbox;
# - X3: one outbox row per change (thread.created = merges + 1, one
#   message.added per stored copy, one person.created);
# - C1, C6: PostgreSQL stopped (immediate) for 60 s under load (about 3
#   messages/s per host, five conversations whose replies alternate
#   hosts): every message is still accepted at once, each host journals
#   what it cannot commit and replays it when PostgreSQL is back: every
#   message whose end-of-message was answered is stored once, one thread
#   per conversation, one message.added per copy, each host's events in
#   the order its mail was answered, as if nothing had happened.
# Skipped unless CRMSYNC_E2E=1, root, Postfix and PostgreSQL installed, and
# the PostgreSQL backend built.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"

cs_require_e2e
cs_find_bins
PGBIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CLUSTER=$top_srcdir/tests/pg/pgcluster.sh
[ -x "$PGBIN/initdb" ] || tap_skip_all "PostgreSQL not installed (contrib/install-deps test)"
command -v psql >/dev/null 2>&1 || tap_skip_all "psql missing"
[ -x "$CRMSYNC_MILTER" ] || tap_bail "$CRMSYNC_MILTER not built"
grep -q '^#define HAVE_LIBPQ 1' "$top_builddir/config.h" 2>/dev/null \
    || tap_skip_all "the PostgreSQL backend is not built (libpq-dev)"
cs_init || tap_bail "cs_init failed"

PGDIR=$CS_TMP/pg
SINK=$(cs_free_port) || tap_bail "no free port"
PA=$(cs_free_port) || tap_bail "no free port"
PB=$(cs_free_port) || tap_bail "no free port"
DUMP=$CS_TMP/sink/dump
pg_down() { sh "$CLUSTER" stop "$PGDIR" >/dev/null 2>&1; }
trap 'cs_cleanup; pg_down' EXIT
q() { psql -X -A -t -q -h 127.0.0.1 -p "$PGPORT" -U postgres fleet -c "$1" 2>/dev/null; }

PGPORT=$(cs_pg_start "$PGDIR")
tap_result $? "private PostgreSQL cluster" || tap_bail "no cluster"
URI=postgresql://postgres@127.0.0.1:$PGPORT/fleet
tap_ok "createdb fleet" sh "$CLUSTER" createdb "$PGDIR" "$PGPORT" fleet
mkdir -p "$CS_TMP/policy" "$CS_TMP/run"
chgrp postfix "$CS_TMP/run" && chmod 2750 "$CS_TMP/run"
printf 'User alice\nAddress alice@example.com\n\nUser bob\nAddress bob@example.com\n' \
    >"$CS_TMP/policy/users.policy"
for h in a b; do
    mkdir -p "$CS_TMP/spool-$h"
    cat >"$CS_TMP/crmsync-$h.conf" <<CONF
Socket unix:$CS_TMP/run/crmsync-$h.sock
UMask 007
Database $URI
StoreTimeout 3s
SpoolDir $CS_TMP/spool-$h
JournalDir $CS_TMP/journal-$h
PolicyDir $CS_TMP/policy
InternalDomains example.com
TrustedNetworks 127.0.0.1/32
Dropbox log@crm.example.com
Syslog no
LogLevel info
CONF
done
tap_ok "sink up" sink_start "$SINK" "$DUMP"
for h in a b; do
    port=$PA
    [ $h = b ] && port=$PB
    tap_ok "host $h: Postfix on $port" sh -c ". '$top_srcdir/tests/lib.sh';
	pf_setup '$CS_TMP/pf-$h' '$port' '$SINK' &&
	pf_set_milter '$CS_TMP/pf-$h' 'unix:$CS_TMP/run/crmsync-$h.sock' && pf_start '$CS_TMP/pf-$h'"
    tap_ok "host $h: crmsync-milter on PostgreSQL" ms_start "unix:$CS_TMP/run/crmsync-$h.sock" \
	"$CS_TMP/milter-$h.log" "$CRMSYNC_MILTER" -c "$CS_TMP/crmsync-$h.conf" -f
done
tap_is "$(q "SELECT count(*) = count(DISTINCT version) AND max(version) = count(*) FROM schema_version")" t \
    "F1: one schema, each migration step run once by one of the two hosts"

# msg PORT SUBJECT MSGID [PARENT] - an outside client writes to alice
msg() {
    _irt=
    [ -n "${4:-}" ] && _irt="--header In-Reply-To:<$4>"
    # shellcheck disable=SC2086
    send_mail "$1" client@acme.example alice@example.com --header "Subject: $2" \
	--header "Message-Id: <$3>" $_irt --body "part $3" >/dev/null
}

# T1: c0 <- c1 <- ... <- c5, replies first, alternating hosts.
n0=$(sink_count "$DUMP")
msg "$PA" "Re: Fleet deal" c5@acme.example c4@acme.example
msg "$PB" "Re: Fleet deal" c3@acme.example c2@acme.example
msg "$PA" "Re: Fleet deal" c1@acme.example c0@acme.example
msg "$PB" "Re: Fleet deal" c4@acme.example c3@acme.example
msg "$PA" "Fleet deal" c0@acme.example
msg "$PB" "Re: Fleet deal" c2@acme.example c1@acme.example
tap_ok "six messages delivered" wait_delivered "$DUMP" $((n0 + 6)) 60
tap_is "$(q "SELECT count(*) FROM messages WHERE owner='alice' AND message_id LIKE 'c_@acme.example'")" 6 \
    "the six messages recorded"
tap_is "$(q "SELECT count(DISTINCT thread) FROM messages WHERE owner='alice' AND message_id LIKE 'c_@acme.example'")" 1 \
    "F1 T1: one thread across both hosts, replies before parents"
tap_is "$(q "SELECT message_count FROM threads WHERE owner='alice' AND subject_norm='fleet deal'")" 6 \
    "F1 T1: the thread counts all six"

# K2: the same new recipient through both hosts at once.
n0=$(sink_count "$DUMP")
pids=
for h in a b; do
    port=$PA user=alice
    [ $h = b ] && port=$PB user=bob
    send_mail "$port" "$user@example.com" "prospect@newco.example,log@crm.example.com" \
	--local-interface 127.0.0.2 --xclient-login "$user@example.com" \
	--header "Subject: Offer from $user" --header 'To: "New Co" <prospect@newco.example>' \
	>/dev/null &
    pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
tap_ok "both Smart BCC messages delivered" wait_delivered "$DUMP" $((n0 + 2)) 60
tap_is "$(q "SELECT count(DISTINCT owner) || '/' || count(*) FROM person_emails WHERE email='prospect@newco.example'")" 2/2 \
    "F1 K5: one person per sender (alice's, bob's) however many hosts saw the recipient"
tap_is "$(q "SELECT count(*) FROM events WHERE type='person.created'")" 2 "X3: one person.created per sender"
tap_is "$(q "SELECT count(*) FROM messages m JOIN message_labels l ON l.owner=m.owner AND l.message=m.id WHERE l.label='bcc'")" 2 \
    "K2: both logged as bcc"

# T2: one message relayed through A, then B.
n0=$(sink_count "$DUMP")
for port in "$PA" "$PB"; do
    send_mail "$port" client@acme.example bob@example.com --header 'Subject: Relayed' \
	--header 'Message-Id: <relay1@acme.example>' \
	--header 'Date: Mon, 01 Jan 2024 10:00:00 +0000' --body 'one body' >/dev/null
done
tap_ok "relayed twice, delivered twice" wait_delivered "$DUMP" $((n0 + 2)) 60
tap_is "$(q "SELECT count(*) FROM messages WHERE owner='bob' AND message_id='relay1@acme.example'")" 1 \
    "F1 T2: stored once in bob's mailbox"

# X3: one outbox row per change.
tap_is "$(q "SELECT count(*) FROM events WHERE type='message.added'")" "$(q "SELECT count(*) FROM messages")" \
    "X3: one message.added per stored copy"
tap_is "$(q "SELECT count(*) FROM events WHERE type='thread.created'")" \
    "$(q "SELECT (SELECT count(*) FROM threads) + (SELECT count(*) FROM merges)")" \
    "X3: thread.created once per thread ever made"
tap_is "$(q "SELECT count(*) - count(DISTINCT uuid) FROM events")" 0 "X3: event ids unique"

# C1, C6 under load: PostgreSQL stopped (immediate) for 60 s while both
# hosts take a steady stream of mail (about 3 messages/s each, one SMTP
# session per message): five conversations whose replies alternate hosts,
# each message's In-Reply-To its conversation's previous one. The stream
# starts before the stop and goes on after the restart until both
# journals are empty again (new mail then goes straight to the store).
# load PORT H - host H's share: messages g = 2i + H, conversation g % 5,
# parent g - 5 (on the other host); writes "ok|fail G SECONDS" per message
# to load-H (ok: end-of-data answered 250) until load.stop exists.
CONV=5
load() {
    perl -MNet::SMTP -MTime::HiRes=sleep,time -e '
	my ($port, $h, $out, $stop, $conv) = @ARGV;
	open(my $fh, ">>", $out) or die "$out: $!";
	$fh->autoflush(1);
	for (my $i = 0; !-e $stop; $i++) {
	    my ($g, $t0, $ok) = (2 * $i + $h, time, 0);
	    my $irt = $g >= $conv ? "In-Reply-To: <L" . ($g - $conv) . "\@acme.example>\r\n" : "";
	    my $s = Net::SMTP->new("127.0.0.1", Port => $port, Timeout => 30,
				   Hello => "client.acme.example");
	    if ($s && $s->mail("client\@acme.example") && $s->to("alice\@example.com")
		&& $s->data()) {
		$s->datasend("From: <client\@acme.example>\r\nTo: <alice\@example.com>\r\n"
		    . "Subject: Load " . ($g % $conv) . " part " . int($g / $conv) . "\r\n"
		    . "Message-Id: <L$g\@acme.example>\r\n$irt\r\nload part $g\r\n");
		$ok = $s->dataend() ? 1 : 0;
	    }
	    $s->quit if $s;
	    printf $fh "%s %d %.3f\n", $ok ? "ok" : "fail", $g, time - $t0;
	    my $left = 0.33 - (time - $t0);
	    sleep($left) if $left > 0;
	}' "$1" "$2" "$CS_TMP/load-$2" "$CS_TMP/load.stop" "$CONV"
}
# jrecs H: records waiting in host H's journal (its stats, from its status file)
jrecs() {
    "$CRMSYNCCTL" -c "$CS_TMP/crmsync-$1.conf" stats 2>/dev/null | perl -MJSON::PP -e '
	my $d = eval { decode_json(join "", <STDIN>) } || {};
	for my $m (values %{$d->{milter} || {}}) {
	    print $m->{journal}{records} if $m->{journal} && $m->{journal}{source} eq "file";
	}'
}
n0=$(sink_count "$DUMP")
load "$PA" 0 &
LOAD_A=$!
load "$PB" 1 &
LOAD_B=$!
sleep 3
tap_ok "PostgreSQL stopped (immediate) under load" sh "$CLUSTER" stop "$PGDIR" "$PGPORT" immediate
down_at=$(date +%s)
sleep 10
# With the store down, stats cannot open it (exit 5) and still shows the
# host's journal as its status file has it: records waiting, breaker open.
"$CRMSYNCCTL" -c "$CS_TMP/crmsync-a.conf" stats >"$CS_TMP/stats-down" 2>"$CS_TMP/stats-down.err"
tap_is "$?" 5 "stats with PostgreSQL down: the store's error (exit 5)"
tap_ok "stats with PostgreSQL down: host a's journal, records waiting and breaker_open" \
    perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>);
	my ($m) = values %{$d->{milter}}; my $j = $m->{journal};
	exit !($j->{source} eq "file" && $j->{records} > 0 && $j->{breaker_open})' <"$CS_TMP/stats-down"
tap_diag "stats while down: $(tr -d '\n ' <"$CS_TMP/stats-down" | cut -c1-200)"
left=$((60 - ($(date +%s) - down_at)))
[ "$left" -gt 0 ] && sleep "$left"
tap_ok "PostgreSQL started again after 60 s" sh "$CLUSTER" start "$PGDIR" "$PGPORT"
up_at=$(date +%s)
for h in a b; do
    tap_ok "C6: host $h's journal is replayed (empty again)" cs_wait 60 eval '[ "$(jrecs '$h')" = 0 ]'
done
tap_diag "both journals empty $(($(date +%s) - up_at)) s after PostgreSQL came back"
sleep 2
touch "$CS_TMP/load.stop"
wait "$LOAD_A" "$LOAD_B"
sent=$(cat "$CS_TMP/load-0" "$CS_TMP/load-1" | grep -c '^ok ')
tap_is "$(cat "$CS_TMP/load-0" "$CS_TMP/load-1" | grep -c '^fail ')" 0 \
    "C1: every one of $sent messages accepted, none refused or timed out"
slow=$(cat "$CS_TMP/load-0" "$CS_TMP/load-1" | sort -k3 -n | tail -1)
tap_diag "slowest SMTP session: $slow s; PostgreSQL down $((up_at - down_at)) s"
tap_ok "C6: no message waited on the store longer than StoreTimeout (3 s)" \
    awk '$3 > 3.5 { bad = 1 } END { exit bad }' "$CS_TMP/load-0" "$CS_TMP/load-1"
tap_ok "C1: all $sent delivered" wait_delivered "$DUMP" $((n0 + sent)) 60
grep -o '^Message-Id: <L[0-9]*@acme.example>' "$DUMP" | sed 's/.*<\(.*\)>/\1/' | sort -u \
    >"$CS_TMP/load.delivered"
q "SELECT message_id FROM messages WHERE owner='alice' AND message_id LIKE 'L%@acme.example'" \
    | sort >"$CS_TMP/load.stored"
sort -u "$CS_TMP/load.stored" >"$CS_TMP/load.stored-once"
tap_is "$(wc -l <"$CS_TMP/load.delivered")" "$sent" "the sink has each of the $sent once"
tap_ok "C6: every delivered message is in the store" \
    cmp -s "$CS_TMP/load.delivered" "$CS_TMP/load.stored-once"
tap_is "$(wc -l <"$CS_TMP/load.stored")" "$sent" "C6 T2: each stored once (not replayed twice)"
tap_is "$(q "SELECT count(DISTINCT thread) FROM messages WHERE owner='alice' AND message_id LIKE 'L%@acme.example'")" $CONV \
    "F1 T1: one thread per conversation, its messages spread over both hosts and their journals"
tap_is "$(q "SELECT count(*) FROM (SELECT split_part(subject, ' part ', 1) FROM messages WHERE owner='alice' AND message_id LIKE 'L%@acme.example' GROUP BY 1 HAVING count(DISTINCT thread) = 1) c")" $CONV \
    "F1 T1: each conversation's messages in one thread"
tap_is "$(q "SELECT count(*) FROM events WHERE type='message.added'")" "$(q "SELECT count(*) FROM messages")" \
    "X3: one message.added per stored copy after the outage"
tap_is "$(q "SELECT count(*) FROM events WHERE type='thread.created'")" \
    "$(q "SELECT (SELECT count(*) FROM threads) + (SELECT count(*) FROM merges)")" \
    "X3: thread.created once per thread ever made, after the outage"
tap_is "$(q "SELECT count(*) - count(DISTINCT uuid) FROM events")" 0 "X3: event ids unique"
tap_is "$(q "SELECT count(*) FROM (SELECT payload::json->>'message' FROM events WHERE type='message.added' GROUP BY 1 HAVING count(*) > 1) d")" 0 \
    "X3: no message added twice"
# X3 order: each host's messages were answered one after another (g
# rising); their message.added events must come in that order, whether
# they went straight to the store or through the journal.
order() {
    q "SELECT substr(m.message_id, 2, strpos(m.message_id, '@') - 2) FROM events e
	JOIN messages m ON 'm' || m.id = e.payload::json->>'message'
	WHERE e.type='message.added' AND m.message_id LIKE 'L%@acme.example'
	AND substr(m.message_id, 2, strpos(m.message_id, '@') - 2)::int % 2 = $1 ORDER BY e.id"
}
for h in 0 1; do
    order $h >"$CS_TMP/order-$h"
    tap_ok "X3: host $h's message.added events in the order its mail was answered ($(wc -l <"$CS_TMP/order-$h"))" \
	sh -c "sort -n '$CS_TMP/order-$h' | cmp -s - '$CS_TMP/order-$h'" ||
	tap_diag "out of order: $(awk 'NR > 1 && $1 < p { printf "%s after %s; ", $1, p } { p = $1 }' "$CS_TMP/order-$h")"
done
for h in a b; do
    tap_ok "C6: host $h journaled during the outage" grep -q 'journaled' "$CS_TMP/milter-$h.log"
done
tap_diag "journaled copies: host a $(grep -c 'journaled' "$CS_TMP/milter-a.log"), host b $(grep -c 'journaled' "$CS_TMP/milter-b.log"); merges $(q "SELECT count(*) FROM merges")"
# Each milter writes its status into the shared store (crmsyncctl stats).
kill -USR1 "$(ms_pid "unix:$CS_TMP/run/crmsync-a.sock")" 2>/dev/null
cs_wait 10 sh -c "'$CRMSYNCCTL' -c '$CS_TMP/crmsync-a.conf' stats | grep -q '\"since_start\"'"
tap_ok "stats shows the milter's status from PostgreSQL" \
    sh -c "'$CRMSYNCCTL' -c '$CS_TMP/crmsync-a.conf' stats | '$top_builddir/tests/jget' milter | grep -q '\"seen\": *[1-9]\|\"seen\":[1-9]'"
for h in a b; do
    tap_is "$(maillog_milter_warnings "$CS_TMP/pf-$h")" "" "host $h: no milter warnings"
    tap_ok "host $h: logged the outage" grep -q 'store' "$CS_TMP/milter-$h.log"
    tap_ok "host $h: no password or crash in the log" sh -c "! grep -qiE 'segfault|abort|password=' '$CS_TMP/milter-$h.log'"
    tap_ok "host $h: stops cleanly" ms_stop "unix:$CS_TMP/run/crmsync-$h.sock"
done
tap_done
