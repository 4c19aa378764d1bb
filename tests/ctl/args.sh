#!/bin/sh
# args.sh - crmsyncctl's command options, one table-driven parser for all
# commands (ctl/ctl_args.c): an option given twice is a usage error unless
# it is a list (--to); values, unknown options, numbers, "--". No root.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
cs_find_bins
J=$top_builddir/tests/jget
cs_init || tap_bail "cs_init failed"
D=$CS_TMP
mkdir -p "$D/policy" "$D/mail/cur"
cat >"$D/crmsync.conf" <<CONF
Database $D/crmsync.db
PolicyDir $D/policy
Syslog no
CONF
printf 'User alice\nAddress alice@example.com\n' >"$D/policy/users.policy"
printf 'From: x@ext.example\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nbody\r\n' >"$D/-m.eml"
cp "$D/-m.eml" "$D/m.eml"
ctl() { "$CRMSYNCCTL" -c "$D/crmsync.conf" "$@"; }

# usage NAME EXPECTED-MESSAGE-REGEX CTL-ARGS...: exit 1, a usage error object
usage() {
    name=$1 re=$2
    shift 2
    ctl "$@" >/dev/null 2>"$D/err"
    tap_is "$?" 1 "$name: exit 1"
    tap_is "$("$J" error <"$D/err")" usage "... error usage"
    tap_like "$("$J" message <"$D/err")" "$re" "... $re"
}

# One rule for repeated options, in every command.
usage "mailbox --as twice" '^--as given twice$' mailbox --as alice --as bob
usage "share --as twice" '^--as given twice$' share --as alice --as bob t1
usage "link --deal twice" '^--deal given twice$' link --as alice t1 --deal d1 --deal d2
usage "import --user twice" '^--user given twice$' import --user alice --user bob "$D/mail"
usage "import --dry-run twice" '^--dry-run given twice$' import --user alice --dry-run --dry-run "$D/mail"
usage "explain --from twice" '^--from given twice$' \
    policy explain "$D/m.eml" --from a@ext.example --from b@ext.example --to alice@example.com
usage "subject erase --dry-run twice" '^--dry-run given twice$' \
    subject erase x@ext.example --dry-run --dry-run
usage "retention run --max twice" '^--max given twice$' retention run --max 5 --max 6
usage "mailbox purge --user twice" '^--user given twice$' mailbox purge --user a --user b
out=$(ctl policy explain "$D/m.eml" --from x@ext.example --to alice@example.com --to bob@ext.example)
tap_is "$?" 0 "explain --to repeated: a list"
tap_is "$(printf '%s' "$out" | "$J" 'decisions[0].user')" alice "... alice is an owner"

# Values, unknown options, numbers.
usage "a value missing" '^--as needs a value$' mailbox --as
usage "unknown option" '^unknown option --bogus$' thread --as alice --bogus t1
usage "an option of another command" '^unknown option --raw$' mailbox --as alice --raw
usage "--limit over 500" '^--limit 501: a number from 1 to 500$' mailbox --as alice --limit 501
usage "--limit not a number" '^--limit 1x: a number from 1 to 500$' deal d1 --as alice --limit 1x
usage "--jobs 0" '^--jobs 0: a number from 1 to 4096$' import --user alice --jobs 0 "$D/mail"
usage "mailbox takes no word" 'no other argument' mailbox --as alice extra
usage "--max 0" '^--max 0: a number from 1 to 10000000$' retention run --max 0
usage "an option of export, not erase" '^unknown option --out$' subject erase x@ext.example --out f
usage "subject: one address" '^usage: ' subject export a@ext.example b@ext.example

# "--" ends the options: a file whose name starts with "-".
out=$(cd "$D" && ctl policy explain --from x@ext.example --to alice@example.com -- -m.eml)
tap_is "$?" 0 "-- ends the options"
tap_is "$(printf '%s' "$out" | "$J" 'decisions[0].user')" alice "... the file after it is read"
tap_done
