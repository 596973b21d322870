#!/usr/bin/env bash
# scripts/bench-persist.sh [--quick] [--secs N] [--rounds N] [--verify-execs N]
# - the whole-target reset under AFL++ (docs/persist.md), on the stateful
# targets built by scripts/build-persist-targets.sh (libxml2, sqlite3).
#
# Per target and round, the same time budget (-V secs) for three campaigns,
# interleaved (round 1: forkserver, persistent, reset of each target; then
# round 2 ...):
#   forkserver  <t>_forkserver @@  (AFL++'s fork server, a fresh process per input)
#   persistent  <t>_persist        (__AFL_LOOP(10000), shared-memory test cases)
#   reset       <t>_persist with UFFDBOX_PERSIST=1 (the whole target reset
#               before every input)
# exec/s and stability are AFL++'s own (fuzzer_stats: execs_per_sec,
# stability); the lines give the medians over rounds:
#   persist.<t>_vs_forkserver: uffdbox=<reset exec/s> baseline=<forkserver exec/s> ratio=
#   persist.<t>_vs_persistent: uffdbox=<reset exec/s> baseline=<persistent exec/s> ratio=
#   persist.<t>_stability: uffdbox=<reset %> baseline=<persistent %> ratio=
# Then, per target:
#   persist.<t>_crash_repro: uffdbox=<crashes of the reset campaigns that
#       reproduce when run once in a fresh process (<t>_forkserver FILE)>
#       baseline=<crashes found> ratio=   (no line when none was found;
#       always one for "stateful", examples/persist/stateful.c: one real bug
#       and state that leaks, fuzzed with the reset for the same time)
#   persist.<t>_verify: one more campaign with UFFDBOX_PERSIST_VERIFY=1, every
#       restore compared byte for byte with the snapshot, stopped after
#       --verify-execs executions (-E); a difference aborts the target, which
#       AFL++ saves as a crash that does not reproduce in a fresh process:
#       uffdbox=<differences> baseline=<executions verified> ratio=<per execution>
# libFuzzer (<t>_libfuzzer, linked with uffdbox's target heap): per round,
# plain and with UFFDBOX_PERSIST=1, the same -max_total_time and -seed, a
# fresh copy of the seeds each; exec/s = executed units (libFuzzer's final
# stats) / wall time of the run:
#   persist.<t>_libfuzzer_vs_plain: uffdbox=<reset exec/s> baseline=<plain exec/s> ratio=
#   persist.<t>_libfuzzer_verify: uffdbox=<runs that found a difference>
#       baseline=<executions verified, every restore> ratio=
#   persist.stateful_libfuzzer_crash_repro: the crash found with the reset
#       (stateful.c's real bug) crashes run once without it
# (libFuzzer has no stability measure: the verify runs stand for it.)
# --quick: 1 round of 8 s, 2000 verified executions (for CI); default 3
# rounds of 30 s, 10000 verified executions.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=30
rounds=3
vexecs=10000
while [ $# -gt 0 ]; do
  case $1 in
  --quick) secs=8 rounds=1 vexecs=2000 ;;
  --secs) secs=$2; shift ;;
  --rounds) rounds=$2; shift ;;
  --verify-execs) vexecs=$2; shift ;;
  *) echo "usage: $0 [--quick] [--secs N] [--rounds N] [--verify-execs N]" >&2; exit 2 ;;
  esac
  shift
done
scripts/build-persist-targets.sh
bin=$root/build/persist/bin
work=$(mktemp -d /tmp/bench-persist.XXXXXX)
keep=0
cleanup() { [ $keep = 1 ] && echo "bench-persist: campaigns kept in $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_TRY_AFFINITY=1
targets="xml sqlite"

stat_of() { # FILE KEY -> value, without a trailing %
  awk -F: -v k="$2" '{ gsub(/ /, "", $1) } $1 == k { gsub(/[ %]/, "", $2); print $2 }' "$1"
}

# campaign TARGET VARIANT ROUND [extra afl-fuzz args...]
campaign() {
  local t=$1 v=$2 r=$3
  shift 3
  local out=$work/$t.$v.$r
  local cmd=("$bin/${t}_persist")
  [ "$v" = forkserver ] && cmd=("$bin/${t}_forkserver" @@)
  local env=(env -u UFFDBOX_PERSIST -u UFFDBOX_PERSIST_VERIFY)
  case $v in
  reset) env+=(UFFDBOX_PERSIST=1) ;;
  verify) env+=(UFFDBOX_PERSIST=1 UFFDBOX_PERSIST_VERIFY=1) ;;
  esac
  if ! timeout $((secs * 4 + 120)) "${env[@]}" afl-fuzz -i "$root/corpus/persist_$t" -o "$out" \
    -s 1 -t 1000 "$@" -- "${cmd[@]}" >"$out.log" 2>&1; then
    keep=1
    tail -n 20 "$out.log" >&2
    echo "bench-persist: afl-fuzz failed: $t $v round $r (log $out.log)" >&2
    exit 1
  fi
  local st=$out/default/fuzzer_stats
  [ -f "$st" ] || { keep=1; echo "bench-persist: no $st" >&2; exit 1; }
  printf '%s %s %s %s %s %s\n' "$t" "$v" "$(stat_of "$st" execs_per_sec)" \
    "$(stat_of "$st" stability)" "$(stat_of "$st" execs_done)" \
    "$(stat_of "$st" saved_crashes)" >>"$work/results"
  echo "bench-persist: $t $v round $r: $(stat_of "$st" execs_per_sec) exec/s," \
    "stability $(stat_of "$st" stability) %, $(stat_of "$st" saved_crashes) crashes" >&2
}

# Does FILE crash when run once in a fresh process?
crashes_fresh() {
  local rc=0
  timeout 10 "$bin/${1}_forkserver" "$2" >/dev/null 2>&1 || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ]
}

echo "bench-persist: $rounds round(s) of $secs s per campaign; AFL++ $(afl-fuzz -h 2>&1 | grep -om1 '++[0-9.a-z]*' || true)" >&2
for r in $(seq 1 "$rounds"); do
  for t in $targets; do
    for v in forkserver persistent reset; do
      campaign "$t" "$v" "$r" -V "$secs"
    done
  done
done
for t in $targets; do
  campaign "$t" verify 1 -E "$vexecs"
done
# The crash check: a target with one real bug and state that leaks
# (examples/persist/stateful.c), fuzzed with the reset.
campaign stateful reset 1 -V "$secs" -x "$root/examples/persist/stateful.dict"

# lf_campaign TARGET VARIANT ROUND ARGS...: libFuzzer, plain or reset or
# verify (reset, every restore compared); appends "TARGET lf-VARIANT
# exec/s units crashed" to results
lf_campaign() {
  local t=$1 v=$2 r=$3
  shift 3
  local out=$work/$t.lf-$v.$r
  mkdir -p "$out/corpus"
  cp "$root/corpus/persist_$t"/* "$out/corpus/"
  local env=(env -u UFFDBOX_PERSIST -u UFFDBOX_PERSIST_VERIFY)
  case $v in
  reset) env+=(UFFDBOX_PERSIST=1) ;;
  verify) env+=(UFFDBOX_PERSIST=1 UFFDBOX_PERSIST_VERIFY=1) ;;
  esac
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  (cd "$out" && timeout $((secs * 4 + 300)) "${env[@]}" "$bin/${t}_libfuzzer" -seed="$r" \
    -print_final_stats=1 "$@" corpus >log 2>&1) || rc=$?
  t1=$(date +%s.%N)
  # 0: done; 77: libFuzzer found a crash (its -error_exitcode) and stopped
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    keep=1
    grep -v '^    #' "$out/log" | tail -n 20 >&2
    echo "bench-persist: libFuzzer failed (exit $rc): $t $v round $r (log $out/log)" >&2
    exit 1
  fi
  local units
  units=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$out/log")
  awk -v t="$t" -v v="lf-$v" -v n="${units:-0}" -v a="$t0" -v b="$t1" -v c=$((rc == 77)) \
    'BEGIN { printf "%s %s %.1f - %d %d\n", t, v, n / (b - a), n, c }' >>"$work/results"
  echo "bench-persist: $t libFuzzer $v round $r: ${units:-0} executions in" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s$([ $rc = 77 ] && echo ', stopped at a crash')" >&2
}
for r in $(seq 1 "$rounds"); do
  for t in $targets; do
    for v in plain reset; do
      lf_campaign "$t" "$v" "$r" -max_total_time="$secs"
    done
  done
done
for t in $targets; do
  lf_campaign "$t" verify 1 -runs="$vexecs"
done
lf_campaign stateful reset 1 -max_total_time="$secs" -dict="$root/examples/persist/stateful.dict"

# Crashes of the reset campaigns of target $1 that reproduce when run once
# in a fresh process.
crash_repro() {
  local found=0 repro=0
  for f in "$work/$1".reset.*/default/crashes/id:*; do
    [ -f "$f" ] || continue
    found=$((found + 1))
    if crashes_fresh "$1" "$f"; then
      repro=$((repro + 1))
    else
      keep=1
      echo "bench-persist: $f does not crash in a fresh process" >&2
    fi
  done
  if [ $found -gt 0 ]; then line "persist.${1}_crash_repro" "$repro" "$found"; fi
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v t="$1" -v v="$2" -v c="$3" '$1 == t && $2 == v { print $c }' "$work/results" | median; }
line() { # NAME UFFDBOX BASELINE
  awk -v n="$1" -v u="$2" -v b="$3" 'BEGIN { printf "%s: uffdbox=%s baseline=%s ratio=%.3f\n", n, u, b, (b > 0 ? u / b : 0) }'
}
for t in $targets stateful; do
  if [ $t = stateful ]; then
    crash_repro $t
    continue
  fi
  fs=$(col "$t" forkserver 3)
  pe=$(col "$t" persistent 3)
  re=$(col "$t" reset 3)
  line "persist.${t}_vs_forkserver" "$re" "$fs"
  line "persist.${t}_vs_persistent" "$re" "$pe"
  line "persist.${t}_stability" "$(col "$t" reset 4)" "$(col "$t" persistent 4)"
  crash_repro $t
  vdone=$(awk -v t="$t" '$1 == t && $2 == "verify" { print $5 }' "$work/results")
  diffs=0
  for f in "$work/$t".verify.1/default/crashes/id:*; do
    [ -f "$f" ] || continue
    crashes_fresh "$t" "$f" || { diffs=$((diffs + 1)); keep=1; }
  done
  line "persist.${t}_verify" "$diffs" "$vdone"
done
for t in $targets; do
  line "persist.${t}_libfuzzer_vs_plain" "$(col "$t" lf-reset 3)" "$(col "$t" lf-plain 3)"
  vlog=$work/$t.lf-verify.1/log
  diffs=$(grep -c 'differs from the snapshot\|is not in the snapshot' "$vlog" || true)
  line "persist.${t}_libfuzzer_verify" "$diffs" "$(awk '$1 == "'"$t"'" && $2 == "lf-verify" { print $5 }' "$work/results")"
  [ "$diffs" = 0 ] || keep=1
done
# the stateful campaign's crash, run once in a fresh process without the reset
found=0 repro=0
for f in "$work"/stateful.lf-reset.1/crash-*; do
  [ -f "$f" ] || continue
  found=$((found + 1))
  if (env -u UFFDBOX_PERSIST "$bin/stateful_libfuzzer" "$f" 2>&1 || true) | grep -q 'stateful: the real bug'; then
    repro=$((repro + 1))
  else
    keep=1
    echo "bench-persist: $f does not crash in a fresh process" >&2
  fi
done
line persist.stateful_libfuzzer_crash_repro "$repro" "$found"
