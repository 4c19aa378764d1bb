#!/bin/sh
# policy-cli.sh - crmsyncctl policy check and policy explain as a program
# (SPEC S1, S2, S4, S5, X1 exit codes and error objects); no root needed.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
cs_find_bins
J=$top_builddir/tests/jget
cs_init || tap_bail "cs_init failed"
D=$CS_TMP
mkdir -p "$D/policy"
cat >"$D/crmsync.conf" <<CONF
Database $D/crmsync.db
PolicyDir $D/policy
InternalDomains example.com
TrustedNetworks 127.0.0.1/32
Dropbox log@crm.example.com
Block @spam.example
Syslog no
CONF
cat >"$D/policy/users.policy" <<'POLICY'
User alice
Address alice@example.com
Sync all

User lena
Address lena@example.com
Sync labels
Labels Sales
Rules sales.sieve
Exclude automated

User otto
Address otto@example.com
Sync off

User rudi
Address rudi@example.com
Rules broken.sieve
POLICY
cat >"$D/policy/sales.sieve" <<'SIEVE'
require ["fileinto", "variables"];
if header :matches "Subject" "*Angebot*" { fileinto "Sales"; }
elsif address :domain "From" "partner.example" { fileinto "Partners"; }
SIEVE
printf 'require "fileinto";\nif true { fileinto "X"\n' >"$D/policy/broken.sieve"
mail() {	# mail FILE FROM-HEADER SUBJECT [EXTRA-HEADER]
    printf 'From: %s\r\nTo: team@example.com\r\nSubject: %s\r\n%s\r\nbody\r\n' \
	"$2" "$3" "${4:+$4
}" >"$1"
}
ctl() { "$CRMSYNCCTL" -c "$D/crmsync.conf" "$@"; }
# decision USER JSON -> "decision reason labels"
decision() {
    i=0
    while :; do
	u=$(printf '%s' "$2" | "$J" "decisions[$i].user") || { echo "absent"; return; }
	if [ "$u" = "$1" ]; then
	    printf '%s %s %s' "$(printf '%s' "$2" | "$J" "decisions[$i].decision")" \
		"$(printf '%s' "$2" | "$J" "decisions[$i].reason")" \
		"$(printf '%s' "$2" | "$J" "decisions[$i].labels")"
	    return
	fi
	i=$((i + 1))
    done
}

out=$(ctl policy check 2>"$D/err"); rc=$?
tap_is "$rc" 4 "policy check: a broken Sieve script makes it exit 4"
tap_is "$(printf '%s' "$out" | "$J" ok)" false "... and say ok false"
tap_like "$(printf '%s' "$out" | "$J" problems)" 'broken\.sieve:[0-9]+:[0-9]+: ' "... naming the script's line:column"
tap_is "$(printf '%s' "$out" | "$J" users)" 4 "... with every user loaded"

mail "$D/m1.eml" 'Partner <p@partner.example>' 'Neues Angebot'
out=$(ctl policy explain "$D/m1.eml" --from p@partner.example --to alice@example.com \
    --to lena@example.com --to otto@example.com --to rudi@example.com); rc=$?
tap_is "$rc" 0 "explain exits 0"
tap_is "$(decision alice "$out")" 'synced null []' "alice (all): synced"
tap_is "$(decision lena "$out")" 'synced null ["Sales"]' "lena (labels): Sieve filed it into Sales"
tap_is "$(decision otto "$out")" 'skipped mode-off []' "otto: mode-off"
tap_is "$(decision rudi "$out" | cut -d' ' -f1-2)" 'skipped rules-error' "rudi: rules-error"

mail "$D/m2.eml" 'Partner <p@partner.example>' 'Hello'
out=$(ctl policy explain "$D/m2.eml" --from p@partner.example --to lena@example.com)
tap_is "$(decision lena "$out")" 'skipped no-label ["Partners"]' "lena: Partners is not a selected label"

mail "$D/m3.eml" 'Spam <x@mail.spam.example>' 'Angebot'
out=$(ctl policy explain "$D/m3.eml" --from x@mail.spam.example --to alice@example.com)
tap_is "$(decision alice "$out" | cut -d' ' -f1-2)" 'skipped blocked' "global Block @spam.example covers a subdomain"

mail "$D/m4.eml" 'List <l@lists.example>' 'Angebot der Woche' 'List-Id: <weekly.lists.example>'
out=$(ctl policy explain "$D/m4.eml" --from l@lists.example --to lena@example.com --to alice@example.com)
tap_is "$(decision lena "$out" | cut -d' ' -f1-2)" 'skipped automated' "Exclude automated: List-Id"
tap_is "$(decision alice "$out" | cut -d' ' -f1)" 'synced' "alice has no Exclude: synced"

mail "$D/m5.eml" 'alice@example.com' 'Lunch'
out=$(ctl policy explain "$D/m5.eml" --from alice@example.com --to lena@example.com --client 127.0.0.1)
tap_is "$(decision alice "$out" | cut -d' ' -f1-2)" 'skipped internal-only' "internal-only, sender authenticated by TrustedNetworks"
tap_is "$(printf '%s' "$out" | "$J" 'decisions[0].direction')" out "the sender's decision is outgoing"

mail "$D/m6.eml" 'alice@example.com' 'Offer'
out=$(ctl policy explain "$D/m6.eml" --from alice@example.com --to buyer@customer.example \
    --to log@crm.example.com --auth alice@example.com)
tap_is "$(printf '%s' "$out" | "$J" smart_bcc)" true "Smart BCC recognized (K2)"
tap_like "$(decision alice "$out")" '^synced null .*"bcc"' "... logged with label bcc"
out=$(ctl policy explain "$D/m6.eml" --from alice@example.com --to log@crm.example.com --client 192.0.2.9)
tap_is "$(printf '%s' "$out" | "$J" dropbox_spoofed)" true "unauthenticated dropbox use flagged (K4)"

ctl policy explain "$D/m1.eml" --to alice@example.com >/dev/null 2>"$D/err"; rc=$?
tap_is "$rc" 1 "explain without --from: usage, exit 1"
tap_is "$("$J" error <"$D/err")" usage "... error object on stderr"

printf 'User bad\nAddress bad@example.com\nSync sometimes\n' >"$D/policy/zz.policy"
ctl policy check >/dev/null 2>"$D/err"; rc=$?
tap_is "$rc" 4 "a refused policy: exit 4"
tap_like "$("$J" message <"$D/err")" 'zz\.policy:3: ' "... with file:line"
tap_done
