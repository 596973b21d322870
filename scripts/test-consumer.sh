#!/usr/bin/env bash
# scripts/test-consumer.sh [BUILD_DIR]
# Install uffdbox from BUILD_DIR (default build/default) into a scratch
# prefix, then build an out-of-tree consumer (tests/consumer) against it
# each way a user would, and run it:
#   pkg-config, shared      cc ... $(pkg-config --cflags --libs uffdbox)
#   pkg-config, static      cc -static ... $(pkg-config --static --cflags --libs uffdbox)
#   find_package            uffdbox::uffdbox (shared), uffdbox::uffdbox_static,
#                           and uffdbox_add_fuzzer() (gcc: the replay driver)
#   pkg-config uffdbox-heap clang -fsanitize=fuzzer: libFuzzer with the
#                           whole-target reset (examples/persist/heapy.c)
# Each must run a clean input and report a one-byte over-read as a guard hit.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/default}
work=$(mktemp -d /tmp/uffdbox-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cc=${CC:-cc}
fail=0
guard='uffdbox: guard hit: READ at 0x[0-9a-f]+, 1 bytes past the end of region "fuzz-input"'

# links_installed BINARY: linked to the installed libuffdbox.so (resolved path)
links_installed() {
  local got
  got=$(ldd "$1" | awk '/libuffdbox\.so/ { print $3 }')
  [ -n "$got" ] && [ "$(realpath "$got")" = "$(realpath "$prefix/lib/libuffdbox.so.0")" ]
}

# check NAME BINARY: a clean input runs, an over-read is reported.
check() {
  local name=$1 bin=$2 out
  out=$("$bin" clean 2>&1) || { echo "FAIL $name: a clean input failed:"; echo "$out"; fail=1; return; }
  if out=$("$bin" Oops 2>&1); then
    echo "FAIL $name: the over-read did not crash"; fail=1; return
  fi
  echo "$out" | grep -Eq "$guard" || { echo "FAIL $name: no guard-hit report:"; echo "$out"; fail=1; return; }
  echo "ok   $name"
}

# The .pc file knows where it was installed.
got=$(cd "$(pkg-config --variable=prefix uffdbox)" && pwd -P)
[ "$got" = "$(cd "$prefix" && pwd -P)" ] || { echo "FAIL pkg-config prefix: $got, installed in $prefix"; fail=1; }
pkg-config --static --libs uffdbox | grep -q -- "-lunwind" || { echo "FAIL --static --libs lacks -lunwind"; fail=1; }
# libdw is loaded at the first report (harness/dwload.c), not linked
! pkg-config --static --libs uffdbox | grep -q -- "-ldw" || { echo "FAIL --static --libs has -ldw"; fail=1; }

c=$src/tests/consumer
# shellcheck disable=SC2046
$cc -o "$work/pc_shared" "$c/main.c" "$c/harness.c" $(pkg-config --cflags --libs uffdbox) \
  -Wl,-rpath,"$(pkg-config --variable=libdir uffdbox)"
links_installed "$work/pc_shared" || { echo "FAIL pkg-config shared: not linked to the installed libuffdbox.so"; ldd "$work/pc_shared"; fail=1; }
check "pkg-config (shared)" "$work/pc_shared"
# shellcheck disable=SC2046
$cc -static -o "$work/pc_static" "$c/main.c" "$c/harness.c" $(pkg-config --static --cflags --libs uffdbox) 2>"$work/static.log" \
  || { echo "FAIL pkg-config static: link failed:"; cat "$work/static.log"; fail=1; }
[ -x "$work/pc_static" ] && check "pkg-config (static)" "$work/pc_static"

cmake -S "$c" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/cmake.log" 2>&1 \
  || { echo "FAIL find_package: configure:"; cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { echo "FAIL find_package: build:"; cat "$work/build.log"; exit 1; }
links_installed "$work/build/consumer_shared" || { echo "FAIL find_package: uffdbox::uffdbox is not the installed shared library"; fail=1; }
! ldd "$work/build/consumer_static" | grep -q "libuffdbox.so" || { echo "FAIL find_package: uffdbox::uffdbox_static links the shared library"; fail=1; }
check "find_package uffdbox::uffdbox (shared)" "$work/build/consumer_shared"
check "find_package uffdbox::uffdbox_static" "$work/build/consumer_static"
# uffdbox_add_fuzzer with gcc: the replay driver takes files.
printf 'clean' >"$work/clean"; printf 'Oops' >"$work/oops"
"$work/build/consumer_fuzzer" "$work/clean" >/dev/null 2>&1 || { echo "FAIL uffdbox_add_fuzzer: a clean input failed"; fail=1; }
if out=$("$work/build/consumer_fuzzer" "$work/oops" 2>&1); then
  echo "FAIL uffdbox_add_fuzzer: the over-read did not crash"; fail=1
elif ! echo "$out" | grep -Eq "$guard"; then
  echo "FAIL uffdbox_add_fuzzer: no guard-hit report:"; echo "$out"; fail=1
else
  echo "ok   uffdbox_add_fuzzer (replay driver)"
fi
# libFuzzer with the whole-target reset: the target heap (static, from
# pkg-config uffdbox-heap) in the program, uffdbox shared; a harness whose
# second input aborts if the first one's state leaks.
if command -v clang >/dev/null; then
  mkdir -p "$work/lf/out" "$work/lf/seeds"
  printf 'a' >"$work/lf/seeds/a"; printf 'zz' >"$work/lf/seeds/b"
  clang -fsanitize=fuzzer -D_GNU_SOURCE -o "$work/lf/heapy" "$src/examples/persist/heapy.c" \
    $(pkg-config --cflags --libs uffdbox-heap) -Wl,-rpath,"$(pkg-config --variable=libdir uffdbox)" \
    >"$work/lf.log" 2>&1 || { echo "FAIL pkg-config uffdbox-heap: build:"; cat "$work/lf.log"; fail=1; }
  if [ -x "$work/lf/heapy" ]; then
    out=$(cd "$work/lf" && UFFDBOX_PERSIST=1 UFFDBOX_PERSIST_VERIFY=1 ./heapy -runs=200 -seed=1 out seeds 2>&1) || true
    if echo "$out" | grep -q "Done 200 runs"; then
      echo "ok   pkg-config uffdbox-heap (libFuzzer, whole-target reset)"
    elif echo "$out" | grep -q "no userfaultfd here"; then
      # a container's seccomp filter: the reset refuses, naming the cause
      echo "skip pkg-config uffdbox-heap run: $(echo "$out" | grep -o 'no userfaultfd here[^:]*' | head -n 1) (the build was checked)"
    else
      echo "FAIL pkg-config uffdbox-heap: libFuzzer with the reset:"; echo "$out" | grep -v '^    #' | tail -n 15; fail=1
    fi
  fi
fi
exit $fail
