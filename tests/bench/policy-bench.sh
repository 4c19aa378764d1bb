#!/bin/sh
# policy-bench.sh - policy cost per (message, owner) against the user count
#
# SYNOPSIS
#	tests/bench/policy-bench.sh [-n MESSAGES] [-r RCPTS] [USERS...]
#
# DESCRIPTION
#	For each USERS (default 100 1000 10000) writes a policy with
#	gen-policy.sh (three quarters of the users with a 20-rule Sieve
#	script of their own, ten addresses each) and runs policy-bench on
#	it: ns per message for finding the owners, ns per (message, owner)
#	for the decision (Sieve included), policy load time and memory.
#	Needs tests/bench/policy-bench built (make -C tests check, or
#	make -C tests bench/policy-bench). No root, no Postfix.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
N=200000
R=2
while [ $# -gt 0 ]; do
    case "$1" in
    -n) N=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || set -- 100 1000 10000
BIN=$top_builddir/tests/bench/policy-bench
[ -x "$BIN" ] || { echo "policy-bench.sh: $BIN not built" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/policy-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
for users in "$@"; do
    rm -rf "$TMP/p"
    "$top_srcdir/tests/bench/gen-policy.sh" "$TMP/p" "$users" $((users * 10)) || exit 1
    printf 'PolicyDir %s\nInternalDomains example.com\nSyslog no\n' "$TMP/p" >"$TMP/conf"
    "$BIN" -c "$TMP/conf" -n "$N" -r "$R" -a $((users * 10)) || exit 1
done
