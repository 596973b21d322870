#!/usr/bin/env bash
# scripts/bench-fuzz.sh [--quick] [OPTION...] - build the engine binaries and
# run `uffdbox-bench fuzz` on them (docs/bench.md):
#   build/default     uffdbox-bench and fuzz_{box,msg,fsm}_replay (gcc, no engine)
#   build/fuzz-nosan  fuzz_box, fuzz_msg, fuzz_fsm under libFuzzer, no
#                     sanitizers (clang)
#   build/afl-bench   afl-clang-fast: planted_fuzz and fuzz_box (persistent
#                     mode, libAFLDriver), planted_forkserver and
#                     fuzz_box_replay (the same harnesses, plain fork server)
#   build/libs        json-c and expat from their Debian source packages and
#                     their plain and uffdbox libFuzzer harnesses, without and
#                     with ASan (scripts/build-example-libs.sh): the
#                     fuzzlib.* lines
# Options go to uffdbox-bench: --quick (1 round of 3 s per campaign),
# --secs N, --rounds N; except --fuzzlib-only (first): build/default and
# build/libs only, and only the fuzzlib.* lines.  Build output is shown
# only when a build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
only_fuzzlib=0
if [ "${1:-}" = --fuzzlib-only ]; then
  only_fuzzlib=1
  shift
fi
scripts/deps.sh cmake make gcc clang libclang-rt-14-dev afl++ pkg-config libunwind-dev libdw-dev
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "bench-fuzz: failed: $*" >&2
    exit 1
  fi
}
a=build/afl-bench
if [ "$only_fuzzlib" = 1 ]; then
  echo "bench-fuzz: building (default, build/libs) ..." >&2
  step cmake --preset default
  step cmake --build --preset default --target uffdbox-bench
  libs_nosan=$(scripts/build-example-libs.sh nosan 2>"$log" | tail -n 1) || { cat "$log" >&2; exit 1; }
  libs_asan=$(scripts/build-example-libs.sh asan 2>"$log" | tail -n 1) || { cat "$log" >&2; exit 1; }
  echo "bench-fuzz: built in $((SECONDS - start)) s" >&2
  exec build/default/bench/uffdbox-bench fuzz --fuzzlib-nosan "$libs_nosan" \
    --fuzzlib-asan "$libs_asan" "$@"
fi
echo "bench-fuzz: building (default, fuzz-nosan, $a, build/libs) ..." >&2
step cmake --preset default
step cmake --build --preset default --target uffdbox-bench fuzz_box_replay fuzz_msg_replay \
  fuzz_fsm_replay
step cmake --preset fuzz-nosan
step cmake --build --preset fuzz-nosan --target fuzz_box fuzz_msg fuzz_fsm
step cmake -S . -B $a -DCMAKE_C_COMPILER=afl-clang-fast -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DUFFDBOX_BUILD_FUZZERS=ON -DUFFDBOX_FUZZ_ENGINE=afl -DUFFDBOX_BUILD_TESTS=OFF \
  -DUFFDBOX_BUILD_BENCH=OFF -DUFFDBOX_BUILD_EXAMPLES=ON
step cmake --build $a -j2 --target planted_fuzz planted_forkserver fuzz_box fuzz_box_replay
libs_nosan=$(scripts/build-example-libs.sh nosan 2>"$log" | tail -n 1) || { cat "$log" >&2; exit 1; }
libs_asan=$(scripts/build-example-libs.sh asan 2>"$log" | tail -n 1) || { cat "$log" >&2; exit 1; }
echo "bench-fuzz: built in $((SECONDS - start)) s" >&2
exec build/default/bench/uffdbox-bench fuzz \
  --libfuzzer-box build/fuzz-nosan/fuzz/fuzz_box \
  --replay-box build/default/fuzz/fuzz_box_replay \
  --libfuzzer-msg build/fuzz-nosan/fuzz/fuzz_msg \
  --libfuzzer-fsm build/fuzz-nosan/fuzz/fuzz_fsm \
  --afl-persistent $a/examples/planted/planted_fuzz \
  --afl-forkserver $a/examples/planted/planted_forkserver \
  --afl-box-persistent $a/fuzz/fuzz_box \
  --afl-box-forkserver $a/fuzz/fuzz_box_replay \
  --fuzzlib-nosan "$libs_nosan" --fuzzlib-asan "$libs_asan" \
  "$@"
