#!/usr/bin/env bash
# tests/fuzz/crash_log.sh LOG [-e REGEX]... [-n REGEX]... -- CMD...
# Run CMD (expected to crash) with UFFDBOX_LOG=LOG; pass when it failed and
# LOG exists, matches every -e REGEX and no -n REGEX (grep -E).  Prints
# output and log on failure.
set -u
log=$1; shift
must=()
mustnot=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    -e) must+=("$2"); shift 2 ;;
    -n) mustnot+=("$2"); shift 2 ;;
    *) echo "crash_log.sh: bad argument $1" >&2; exit 2 ;;
  esac
done
shift
rm -f "$log"
out=$(UFFDBOX_LOG=$log "$@" 2>&1)
rc=$?
fail=0
[ "$rc" != 0 ] || { echo "exit status 0, expected a crash"; fail=1; }
[ -s "$log" ] || { echo "no log written to $log"; fail=1; }
for re in "${must[@]+"${must[@]}"}"; do
  grep -Eq -- "$re" "$log" 2>/dev/null || { echo "log lacks: $re"; fail=1; }
done
for re in "${mustnot[@]+"${mustnot[@]}"}"; do
  ! grep -Eq -- "$re" "$log" 2>/dev/null || { echo "log has: $re"; fail=1; }
done
if [ $fail = 1 ]; then
  echo "--- output (exit $rc)"; echo "$out"; echo "--- log"; cat "$log" 2>/dev/null
  exit 1
fi
echo "crash_log.sh: exit $rc, log:"; cat "$log"
