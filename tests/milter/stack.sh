#!/bin/bash
# stack.sh - how deep libmilter's connection threads go (lib/cs_thread.c)
#
# Starts crmsync-milter built with its stack probe (CS_STACK_PROBE: each
# of libmilter's threads paints its stack once; each connection logs, at
# close, the stack's size and the deepest byte used on the threads its
# end of headers, end of message and close ran on: milter/mlfi.c,
# probe_in) and feeds it, one
# connection a message (stackfeed): the worst inputs made here (nested
# address groups and comments, long folded headers, RFC 2047 words in
# many charsets, thousands of headers and recipients, owners whose Rules
# are the deepest Sieve scripts the policy accepts, a subject used as a
# regex), the fuzz corpora, and the real mail of the SpamAssassin corpus
# when installed (t_realcorpus.c). Checks that every connection thread
# got CS_CONN_STACK and that the deepest one used less than a quarter of
# it, and prints the peaks.
#
# CS_STACK_QUARTER=N divides by N instead of 4 (to see it fail: 64).
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
milter=$builddir/tests/milter/crmsync-milter-probe
feed=$builddir/tests/milter/stackfeed
corpus=${CRMSYNC_CORPUS:-/usr/local/share/crmsync/corpus/spam-assassin/data}
quarter=${CS_STACK_QUARTER:-4}
. "$srcdir/tests/lib.sh"	# cs_init, ms_start (stopped by cs_cleanup), tap_*

cs_init || exit 1
tmp=$CS_TMP
mkdir -p "$tmp/policy" "$tmp/db" "$tmp/spool" "$tmp/in"

# sieve_deep BLOCKS TESTS - a script of BLOCKS nested ifs, the innermost
# testing TESTS nested allof/anyof/not deep; variables from the headers,
# the subject compiled as a regex at run time
sieve_deep() {
    local b=$1 t=$2 i test
    test='header :regex "subject" "${s}"'
    for i in $(seq 1 "$t"); do
        case $((i % 3)) in
            0) test="not $test" ;;
            1) test="anyof($test, address :localpart :matches \"to\" \"*a*b*c*\")" ;;
            2) test="allof(header :contains [\"subject\", \"x-t$i\"] \"\${f}\", $test)" ;;
        esac
    done
    printf 'require ["fileinto", "variables", "regex", "envelope", "subaddress", "imap4flags", "copy"];\n'
    printf 'if header :matches "subject" "*" { set "s" "${1}"; }\n'
    printf 'if address :all :matches "from" "*@*" { set :lower "f" "${1}"; }\n'
    for i in $(seq 1 "$b"); do
        printf 'if anyof(header :matches "from" "*${f}*${s}*", true) { set "v%d" "${f}.%d"; addflag "\\\\F%d";\n' "$i" "$i" "$i"
    done
    printf 'if %s { fileinto "Deep-${s}"; } else { fileinto :copy "Else-${v1}"; }\n' "$test"
    for i in $(seq 1 "$b"); do printf '}\n'; done
}

# accepted SCRIPT - does the policy take this Rules script?
accepted() {
    cp "$1" "$tmp/policy/probe.sieve"
    printf 'User p\nAddress p@example.com\nRules probe.sieve\nSync labels\nLabels Deep\n' \
        >"$tmp/policy/probe.policy"
    "$milter" -c "$tmp/crmsync.conf" -n 2>/dev/null | grep -q ' ok, '
    local rc=$?
    rm -f "$tmp/policy/probe.sieve" "$tmp/policy/probe.policy"
    return $rc
}

cat > "$tmp/crmsync.conf" <<CONF
Socket unix:$tmp/sock
Database $tmp/db/crmsync.db
PolicyDir $tmp/policy
SpoolDir $tmp/spool
JournalDir $tmp/journal
SpoolThreshold 16K
MaxMessageSize 256K
InternalDomains example.com
TrustedNetworks 127.0.0.1/32
Dropbox log@crm.example.com
Syslog no
LogLevel warn
CONF

# The deepest scripts the policy accepts: all in blocks, all in tests, half each.
for shape in blocks tests half; do
    for d in $(seq 34 -1 1); do
        case $shape in
            blocks) sieve_deep "$d" 1 ;;
            tests) sieve_deep 0 "$d" ;;
            half) sieve_deep "$d" "$d" ;;
        esac >"$tmp/$shape.sieve"
        accepted "$tmp/$shape.sieve" && break
    done
    echo "# deepest $shape script accepted: depth $d"
done
{
    for i in $(seq 0 199); do
        case $((i % 3)) in 0) s=blocks ;; 1) s=tests ;; 2) s=half ;; esac
        printf 'User u%d\nAddress u%d@example.com\nLogin u%d\nRules ../%s.sieve\nSync labels\nLabels Deep\n\n' \
            "$i" "$i" "$i" "$s"
    done
    printf 'Group team@example.com %s\n' "$(seq -s ', ' -f 'u%g' 0 99)"
} >"$tmp/policy/users.policy"

# The worst inputs, each a message file.
hdr() { printf 'From: x@outside.example\r\nTo: u0@example.com\r\nSubject: s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@outside.example>\r\n' "$1"; }
{ hdr groups; printf 'To: '; printf 'g:%.0s' $(seq 1 29000)
  printf ' u1@example.com'; printf ';%.0s' $(seq 1 29000); printf '\r\n\r\nbody\r\n'; } >"$tmp/in/groups"
# GMime may see groups where cs_group_flatten sees none: after an open
# quote or comment, an escaped quote, a stray ')', inside <>.
i=0
for lead in '"open' '(open' '"a\\" b"' ') x' '<' 'a <b@c.example> (c\\) d)'; do
    i=$((i + 1))
    { hdr "groups-hidden-$i"; printf 'To: %s ' "$lead"; printf 'g:%.0s' $(seq 1 20000)
      printf ' u1@example.com\r\n\r\nbody\r\n'; } >"$tmp/in/groups-hidden-$i"
done
{ hdr groups-wide; printf 'Cc: '; for i in $(seq 1 2000); do printf 'g%d: u%d@example.com, x%d@out.example;, ' "$i" $((i % 200)) "$i"; done
  printf '\r\n\r\nbody\r\n'; } | head -c 200000 >"$tmp/in/groups-wide"
{ hdr comments; printf 'From: a@outside.example '; printf '(%.0s' $(seq 1 20000)
  printf ')%.0s' $(seq 1 20000); printf '\r\n\r\nbody\r\n'; } >"$tmp/in/comments"
{ hdr brackets; printf 'To: '; printf '<%.0s' $(seq 1 20000); printf 'u2@example.com'
  printf '>%.0s' $(seq 1 20000); printf '\r\nReferences: '
  printf '<%.0s' $(seq 1 20000); printf '\r\n\r\nbody\r\n'; } >"$tmp/in/brackets"
{ hdr folded; printf 'Subject: '; for i in $(seq 1 2000); do printf 'word%d folded\r\n\t' "$i"; done
  printf 'end\r\nReferences:'; for i in $(seq 1 1500); do printf '\r\n <id%d.%d@host.example>' "$i" "$i"; done
  printf '\r\nTo: '; for i in $(seq 1 1000); do printf 'Name %d <u%d@example.com>,\r\n ' "$i" $((i % 200)); done
  printf 'last@outside.example\r\n\r\nbody\r\n'; } >"$tmp/in/folded"
{ hdr rfc2047; printf 'Subject: '
  for cs in ISO-8859-1 ISO-8859-15 KOI8-R windows-1251 windows-1252 ISO-2022-JP Shift_JIS EUC-JP \
            GB2312 GB18030 BIG5 EUC-KR UTF-7 UTF-16 x-unknown; do
      for i in $(seq 1 40); do printf '=?%s?B?GyRCJCIkJCQmGyhC5+Tl?= =?%s?Q?=E4=F6=FC_x=1B$B?= ' "$cs" "$cs"; done
  done
  printf '\r\nFrom: =?UTF-8?B?w5xiZXI=?= =?ISO-2022-JP?B?GyRCJCIbKEI=?= <x@outside.example>\r\n'
  printf 'To: '; for i in $(seq 1 300); do printf '=?KOI8-R?Q?=E1=E2=F7_%d?= <u%d@example.com>, ' "$i" $((i % 200)); done
  printf 'z@outside.example\r\n\r\nbody\r\n'; } >"$tmp/in/rfc2047"
{ hdr many-headers; for i in $(seq 1 3000); do printf 'X-Many-%d: value %d\r\nTo: u%d@example.com\r\n' "$i" "$i" $((i % 200)); done
  printf '\r\nbody\r\n'; } >"$tmp/in/many-headers"
{ hdr regex; printf 'Subject: ((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+ [[:alpha:]]{1,255}{1,255} (x|y|z)*{99}\r\n\r\nbody\r\n'; } >"$tmp/in/regex"
{ hdr eightbit; printf 'Subject: J\303\274rgen \374\337\366 \377\376\375\r\nFrom: M\374ller <x@outside.example>\r\n\r\nbody\r\n'; } >"$tmp/in/eightbit"
for f in "$srcdir"/tests/fuzz/corpus/headers/* "$srcdir"/tests/fuzz/corpus/mime/* "$srcdir"/tests/fuzz/corpus/mbox/*; do
    cp "$f" "$tmp/in/fuzz-$(basename "$(dirname "$f")")-$(basename "$f")"
done
for f in "$srcdir"/tests/fuzz/corpus/addrlist/*; do
    for h in From To Cc Reply-To; do
        { printf '%s: ' "$h"; tr -d '\r\n' <"$f"; printf '\r\nSubject: addrlist\r\n\r\nbody\r\n'; } >"$tmp/in/fuzz-addrlist-$(basename "$f")-$h"
    done
done
for f in "$srcdir"/tests/fuzz/corpus/threadhdr/* "$srcdir"/tests/fuzz/corpus/date/*; do
    for h in References In-Reply-To Subject Date Thread-Index; do
        { hdr "th-$h"; printf '%s: ' "$h"; cat "$f"; printf '\r\n\r\nbody\r\n'; } >"$tmp/in/fuzz-$(basename "$(dirname "$f")")-$(basename "$f")-$h"
    done
done
seq -f 'u%g@example.com' 0 199 >"$tmp/rcpts"
seq -f 'x%g@outside.example' 1 800 >>"$tmp/rcpts"
echo log@crm.example.com >>"$tmp/rcpts"

ms_start "unix:$tmp/sock" "$tmp/milter.log" "$milter" -c "$tmp/crmsync.conf" -f
tap_result $? "crmsync-milter (stack probe build) started"
pid=$(ms_pid "unix:$tmp/sock")

# Inbound to owners; outbound from a user to a thousand recipients (Smart
# BCC); the same worst inputs to the thousand; the real mail inbound.
inputs=$(ls "$tmp"/in/*)
"$feed" -r u0@example.com -r u1@example.com -r u2@example.com -r team@example.com \
    -r log@crm.example.com "$tmp/sock" $inputs >"$tmp/feed.out" 2>&1
tap_result $? "fed the worst inputs and the fuzz corpora: $(cat "$tmp/feed.out")"
"$feed" -a u3 -f u3@example.com -R "$tmp/rcpts" "$tmp/sock" \
    "$tmp/in/folded" "$tmp/in/rfc2047" "$tmp/in/groups" "$tmp/in/many-headers" >"$tmp/feed2.out" 2>&1
tap_result $? "fed them from a user to 1,000 recipients: $(cat "$tmp/feed2.out")"
if [ -d "$corpus" ]; then
    # Every third message keeps the run to seconds (the ASan build too).
    real=$(find "$corpus" -type f | sort | awk 'NR % 3 == 0')
    "$feed" -r u4@example.com -r u5@example.com "$tmp/sock" $real >"$tmp/feed3.out" 2>&1
    tap_result $? "fed a third of the SpamAssassin ham: $(cat "$tmp/feed3.out")"
else
    echo "# SpamAssassin corpus not installed at $corpus: real mail not fed"
fi
files="$inputs $(ls "$tmp"/in/folded "$tmp"/in/rfc2047 "$tmp"/in/groups "$tmp"/in/many-headers) ${real:-}"

cs_pid_alive "$pid"; tap_result $? "milter alive after the feed"
# The probe line of each connection, in the order of the files.
grep -o 'stack probe: size [0-9]* want [0-9]* peak [0-9]*' "$tmp/milter.log" \
    | awk '{ print $4, $6, $8 }' >"$tmp/probes"
nfiles=$(echo $files | wc -w)
nprobes=$(wc -l <"$tmp/probes")
[ "$nprobes" -ge "$nfiles" ]; tap_result $? "a probe line for each of the $nfiles connections ($nprobes)"
want=$(awk 'NR == 1 { print $2 }' "$tmp/probes")
bad=$(awk '$1 != $2' "$tmp/probes" | head -3)
[ -n "$want" ] && [ -z "$bad" ]
tap_result $? "every connection thread's stack is CS_CONN_STACK ($want bytes)${bad:+: not so: $bad}"
paste -d ' ' "$tmp/probes" <(for f in $files; do basename "$f"; done) | sort -k3,3n | tail -5 \
    | awk '{ printf "# peak %d bytes (%.1f KB): %s\n", $3, $3 / 1024, $4 }'
max=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$tmp/probes")
[ -n "$want" ] && [ "$max" -gt 0 ] && [ "$max" -lt $((want / quarter)) ]
tap_result $? "the deepest connection used $max bytes, under 1/$quarter of the stack ($((${want:-0} / quarter)))"
if grep -qE 'AddressSanitizer|runtime error' "$tmp/milter.log"; then
    tap_result 1 "no sanitizer report"; grep -E -A12 'AddressSanitizer|runtime error' "$tmp/milter.log" | head -40 | sed 's/^/# /'
fi
tap_done
