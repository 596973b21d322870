#!/usr/bin/env bash
# scripts/planted-afl.sh [SECONDS] - fuzz the planted-bug example with AFL++
# (afl-clang-fast, persistent mode): one campaign per bug, each stopping at
# its first crash, the found bug's trigger skipped in the next (PLANTED_SKIP).
# Prints each crash's uffdbox report line and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-60}
scripts/deps.sh cmake make clang afl++ pkg-config libunwind-dev libdw-dev
b=build/afl-planted
CC=afl-clang-fast cmake -S . -B $b -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUFFDBOX_BUILD_FUZZERS=ON \
  -DUFFDBOX_FUZZ_ENGINE=afl -DUFFDBOX_BUILD_TESTS=OFF -DUFFDBOX_BUILD_BENCH=OFF >/dev/null
cmake --build $b --target planted_fuzz -j2 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_BENCH_UNTIL_CRASH=1
skip=""
found=0
for round in 1 2 3; do
  t0=$SECONDS
  PLANTED_SKIP=$skip timeout $((limit + 10)) afl-fuzz -i examples/planted/seeds -o "$work/out$round" \
    -x examples/planted/planted.dict -V "$limit" -- $b/examples/planted/planted_fuzz \
    >"$work/afl$round.log" 2>&1 || true
  crash=$(ls "$work/out$round"/default/crashes/id* 2>/dev/null | head -1 || true)
  if [ -z "$crash" ]; then
    echo "AFL++ campaign $round: nothing found in $((SECONDS - t0)) s"
    continue
  fi
  report=$($b/examples/planted/planted_fuzz "$crash" 2>&1 | grep -m1 "ERROR: uffdbox" || true)
  execs=$(awk '/^execs_done/ {print $3}' "$work/out$round/default/fuzzer_stats")
  echo "AFL++ campaign $round: $((SECONDS - t0)) s, $execs executions: ${report#*ERROR: }"
  found=$((found + 1))
  case "$report" in
    *use-after-unmap*) skip="$skip,uau" ;;
    *'region "input"'*) skip="$skip,oob" ;;
    *'region "out"'*) skip="$skip,fetch" ;;
  esac
done
echo "AFL++ found $found of 3 planted bugs."
[ "$found" = 3 ]
