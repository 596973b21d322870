#!/usr/bin/env bash
# tests/fuzz/syscalls.sh PROG INPUT
# Steady state of uffdbox_fuzz_input() makes no syscall: run INPUT 200 and
# 20200 times from memory (PROG -runs=N, fuzz/driver.c) under strace -c and
# compare the syscall totals.  Pass when 20000 more inputs cost fewer than
# 20 more syscalls (a syscall per input would be 20000).
set -u
command -v strace >/dev/null || { echo "SKIP: strace is not installed (scripts/deps.sh strace)"; exit 77; }
prog=$1; in=$2
count() {
  local f; f=$(mktemp)
  strace -f -c -o "$f" "$prog" -runs="$1" "$in" >/dev/null 2>&1 || { echo "run failed: $prog -runs=$1 $in" >&2; rm -f "$f"; exit 1; }
  awk '$NF == "total" { print $4 }' "$f"
  rm -f "$f"
}
a=$(count 200); b=$(count 20200)
echo "syscalls: 200 inputs: $a, 20200 inputs: $b"
[ -n "$a" ] && [ -n "$b" ] || { echo "could not read strace's totals"; exit 1; }
d=$((b - a))
[ "$d" -lt 20 ] || { echo "FAIL: $d more syscalls for 20000 more inputs"; exit 1; }
echo "ok: $d more syscalls for 20000 more inputs"
