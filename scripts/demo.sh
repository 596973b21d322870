#!/usr/bin/env bash
# scripts/demo.sh - the Quick start demo: build uffdbox, show a fault served
# with injected contents and a guard hit, then run a short libFuzzer campaign
# on the planted-bug example and print what uffdbox found.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make gcc clang libclang-rt-14-dev pkg-config libunwind-dev libdw-dev python3 git
start=$SECONDS

echo "== building (gcc, default preset) =="
cmake --preset default >/dev/null
cmake --build --preset default --target uffdbox-demo >/dev/null
echo
# 77: no userfaultfd here (a container's seccomp profile); the campaigns
# below run on the signal backend all the same.
build/default/examples/uffdbox-demo || [ $? = 77 ]
echo

echo "== building the planted-bug target for libFuzzer (clang, demo preset) =="
cmake --preset demo >/dev/null
cmake --build --preset demo >/dev/null
fuzzer=build/demo/examples/planted/planted_fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/planted/seeds "$work/corpus"

# One campaign per bug: when one is found, its trigger is skipped
# (PLANTED_SKIP, a stand-in for fixing it) and the next campaign goes on.
skip=""
found=0
for round in 1 2 3; do
  t0=$SECONDS
  log="$work/log$round.jsonl"
  out="$work/campaign$round.txt"
  set +e
  PLANTED_SKIP=$skip UFFDBOX_LOG=$log "$fuzzer" -seed=$round -max_total_time=60 \
    -dict=examples/planted/planted.dict -artifact_prefix="$work/" \
    -print_final_stats=0 "$work/corpus" >"$out" 2>&1
  set -e
  report=$(grep -m1 -E "ERROR: uffdbox: (guard hit|use-after-unmap)" "$out" || true)
  if [ -z "$report" ]; then
    echo "campaign $round: nothing found in $((SECONDS - t0)) s"
    continue
  fi
  found=$((found + 1))
  execs=$(grep -oE "#[0-9]+" "$out" | tail -1 | tr -d '#')
  echo "== campaign $round: found in $((SECONDS - t0)) s (${execs:-?} executions) =="
  # the report: first line, the top frames of each stack, the summary
  sed -n '/ERROR: uffdbox/,/SUMMARY: uffdbox/p' "$out" |
    grep -E "ERROR: uffdbox|#[0-2] |bytes inside|unmapped at|SUMMARY" | sed 's/^/  /'
  crash=$(ls -t "$work"/crash-* 2>/dev/null | head -1)
  [ -n "$crash" ] && echo "  crashing input: $(od -An -c "$crash" | tr -s ' ' | head -c 60)"
  if [ -s "$log" ]; then
    echo "  event log of that input (first records of $(wc -l <"$log")):"
    head -4 "$log" | cut -c1-150 | sed 's/^/    /'
  fi
  case "$report" in
    *use-after-unmap*) skip="$skip,uau" ;;
    *'region "input"'*) skip="$skip,oob" ;;
    *'region "out"'*) skip="$skip,fetch" ;;
  esac
  rm -f "$work"/crash-*
  echo
done
echo "uffdbox found $found of 3 planted bugs in $((SECONDS - start)) s (build included)."
[ "$found" = 3 ]
