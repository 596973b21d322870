#!/usr/bin/env bash
# tests/uau/expect.sh RC [-e REGEX]... [-n REGEX]... [-o EXACT_STDOUT] -- CMD...
# RC is an exit status, or !0 for any failing one (a fault ends as 139 plain,
# but as a sanitizer's exit code in instrumented builds).
# Run CMD; pass when its exit status is RC, its output (stdout+stderr) matches
# every -e REGEX (grep -E) and none of the -n REGEX, and its stdout is exactly
# EXACT_STDOUT when -o is given. Prints the output on failure.
set -u
want=$1; shift
must=(); mustnot=(); exact=""; has_exact=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    -e) must+=("$2"); shift 2 ;;
    -n) mustnot+=("$2"); shift 2 ;;
    -o) exact=$2; has_exact=1; shift 2 ;;
    *) echo "expect.sh: bad argument $1" >&2; exit 2 ;;
  esac
done
shift
out=$(mktemp); err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# CMD gets no descriptor past 2 from whoever started the test (a job runner's
# pipe at 251 once passed for uffdbox's own in the fds_dup* cases)
run_clean() {
  local f
  for f in /proc/$BASHPID/fd/*; do
    f=${f##*/}
    [ "$f" -gt 2 ] 2>/dev/null && eval "exec $f>&-"
  done
  exec "$@"
}
(run_clean "$@") >"$out" 2>"$err"
rc=$?
# `uffdbox run` watches unmapped ranges with a userfaultfd only: where it is
# denied (a container's seccomp profile) the program runs unwatched - skip.
if cat "$out" "$err" | grep -q "userfaultfd unavailable"; then
  echo "SKIP: $(cat "$out" "$err" | grep -m1 'userfaultfd unavailable')"; exit 77
fi
fail=0
if [ "$want" = "!0" ]; then
  [ "$rc" != 0 ] || { echo "exit status 0, expected a failure"; fail=1; }
else
  [ "$rc" = "$want" ] || { echo "exit status $rc, expected $want"; fail=1; }
fi
for re in "${must[@]+"${must[@]}"}"; do
  cat "$out" "$err" | grep -Eq -- "$re" || { echo "missing: $re"; fail=1; }
done
for re in "${mustnot[@]+"${mustnot[@]}"}"; do
  ! cat "$out" "$err" | grep -Eq -- "$re" || { echo "present but must not be: $re"; fail=1; }
done
if [ $has_exact = 1 ] && [ "$(cat "$out")" != "$exact" ]; then
  echo "stdout differs from: $exact"; fail=1
fi
if [ $fail = 1 ]; then
  echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
  exit 1
fi
exit 0
