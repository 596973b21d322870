#!/usr/bin/env bash
# scripts/build-example-libs.sh VARIANT [DIR] - build examples/libs: uffdbox
# (default preset, installed into DIR/uffdbox-prefix), json-c and expat from
# their Debian source packages (scripts/build-lib.sh, VARIANT nosan|asan),
# and the four libFuzzer harnesses (json-c_plain, json-c_uffdbox,
# expat_plain, expat_uffdbox) in DIR/harness-VARIANT, whose path it prints
# (last line).  DIR defaults to build/libs.  Build output shows only on failure.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 nosan|asan [DIR]" >&2; exit 2; }
variant=$1
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "${2:-$src/build/libs}" && cd "${2:-$src/build/libs}" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "build-example-libs: failed: $*" >&2; exit 1; }; }
step cmake --preset default -S "$src"
step cmake --build "$src/build/default" -j2 --target uffdbox uffdbox_shared uffdbox_fuzz_driver \
  uffdbox-cli uffdbox-run uffdbox-man
step cmake --install "$src/build/default" --prefix "$dir/uffdbox-prefix"
jsonc=$("$src/scripts/build-lib.sh" json-c "$variant" "$dir" | tail -n 1)
expat=$("$src/scripts/build-lib.sh" expat "$variant" "$dir" | tail -n 1)
h=$dir/harness-$variant
step cmake -S "$src/examples/libs" -B "$h" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_PREFIX_PATH="$dir/uffdbox-prefix" -DJSONC_PREFIX="$jsonc" -DEXPAT_PREFIX="$expat" \
  -DVARIANT="$variant"
step cmake --build "$h" -j2
echo "build-example-libs: $variant harnesses in $h" >&2
echo "$h"
