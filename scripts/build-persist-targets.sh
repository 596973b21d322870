#!/usr/bin/env bash
# scripts/build-persist-targets.sh - build the stateful targets of the
# whole-target reset (docs/persist.md) from their Debian source packages:
#
#   libxml2 (examples/persist/xml.c: xmlReadMemory, one-time init)
#   sqlite3 (examples/persist/sqlite.c: one connection kept, input as SQL)
# and examples/persist/stateful.c (leaks state, one real bug: the crash
# reproduction check).
#
# Each library is built once per engine flavour and cached under
# build/persist/ (a rerun with nothing changed takes a second):
#   afl        afl-clang-fast (AFL++ edge instrumentation)
#   libfuzzer  clang -fsanitize=fuzzer-no-link
# and linked with each harness into build/persist/bin/:
#   <t>_persist     AFL++ persistent mode (examples/persist/afl_main.c,
#                   shared-memory test cases); UFFDBOX_PERSIST=1 adds the reset
#   <t>_forkserver  the same harness under fuzz/driver.c: AFL++'s fork server
#                   with @@, and the plain fresh-process replay of an input
#   <t>_libfuzzer   the harness under libFuzzer, with uffdbox's target heap
#                   (libuffdbox_heap.a): UFFDBOX_PERSIST=1 adds the reset
# uffdbox itself comes from the default preset (build/default/libuffdbox.a).
# --afl-only: skip the libFuzzer flavour (what scripts/bench-persist.sh
# needs).  Build output is shown only when a step fails.
set -euo pipefail
flavours="afl libfuzzer"
if [ "${1:-}" = --afl-only ]; then
  flavours=afl
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--afl-only]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh cmake make gcc clang libclang-rt-14-dev afl++ pkg-config libunwind-dev \
  libdw-dev tcl >&2
out=$root/build/persist
src=$root/build/src
mkdir -p "$out/bin"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() {
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-persist-targets: failed: $*" >&2
    exit 1
  fi
}
export AFL_QUIET=1
start=$SECONDS

# uffdbox (gcc, not instrumented: the reset is not the code under test)
step cmake --preset default
step cmake --build build/default --target uffdbox uffdbox_heap -j2
uffdbox_libs="$root/build/default/libuffdbox.a $(pkg-config --libs libunwind) -lpthread"

xml_src=$(scripts/debian-source.sh libxml2 "$src" 2>/dev/null | tail -n 1)
sql_src=$(scripts/debian-source.sh sqlite3 "$src" 2>/dev/null | tail -n 1)
[ -d "$xml_src" ] && [ -d "$sql_src" ] || { echo "build-persist-targets: no sources" >&2; exit 1; }

cc_of() { [ "$1" = afl ] && echo afl-clang-fast || echo clang; }
cflags_of() { [ "$1" = afl ] && echo "-O2 -g" || echo "-O2 -g -fsanitize=fuzzer-no-link"; }

# libxml2: its own CMake build, static, without the network, compression
# and Python parts.
for fl in $flavours; do
  b=$out/libxml2-$fl
  if [ ! -f "$b/libxml2.a" ]; then
    echo "build-persist-targets: libxml2 ($fl) ..." >&2
    step cmake -S "$xml_src" -B "$b" -DCMAKE_C_COMPILER="$(cc_of $fl)" \
      -DCMAKE_C_FLAGS="$(cflags_of $fl)" -DCMAKE_BUILD_TYPE=None -DBUILD_SHARED_LIBS=OFF \
      -DLIBXML2_WITH_PYTHON=OFF -DLIBXML2_WITH_LZMA=OFF -DLIBXML2_WITH_ZLIB=OFF \
      -DLIBXML2_WITH_ICU=OFF -DLIBXML2_WITH_HTTP=OFF -DLIBXML2_WITH_FTP=OFF \
      -DLIBXML2_WITH_PROGRAMS=OFF -DLIBXML2_WITH_TESTS=OFF -DLIBXML2_WITH_MODULES=OFF
    step cmake --build "$b" -j2 --target LibXml2
  fi
done

# sqlite3: its amalgamation, generated once by its own build (tclsh), then
# compiled per flavour.  Loading extensions is off (an input could name any
# file), temporary tables stay in memory.
am=$out/sqlite3-amalgamation
if [ ! -f "$am/sqlite3.c" ]; then
  echo "build-persist-targets: sqlite3 amalgamation ..." >&2
  mkdir -p "$am"
  (cd "$am" && step "$sql_src/configure" CC=gcc --disable-tcl --disable-readline)
  (cd "$am" && step make -j2 sqlite3.c)
fi
sql_defs="-DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_TEMP_STORE=3 -DSQLITE_THREADSAFE=1"
for fl in $flavours; do
  o=$out/sqlite3-$fl.o
  if [ ! -f "$o" ] || [ "$am/sqlite3.c" -nt "$o" ]; then
    echo "build-persist-targets: sqlite3 ($fl) ..." >&2
    step "$(cc_of $fl)" $(cflags_of $fl) $sql_defs -c "$am/sqlite3.c" -o "$o"
  fi
done

# The harnesses.
inc="-D_GNU_SOURCE -I$root/include -I$root/core"
for t in xml sqlite stateful; do
  for fl in $flavours; do
    if [ $t = stateful ]; then
      lib=""
      tinc=""
    elif [ $t = xml ]; then
      lib="$out/libxml2-$fl/libxml2.a -lm"
      tinc="-I$xml_src/include -I$out/libxml2-$fl"
    else
      lib="$out/sqlite3-$fl.o -lm -ldl"
      tinc="-I$am"
    fi
    h=$root/examples/persist/$t.c
    if [ $fl = afl ]; then
      # The engine's loop is not instrumented (libAFLDriver is not either):
      # its first iteration enters the loop by an edge the later ones do not
      # take, a coverage difference of the engine's, not the target's.
      echo "src: *afl_main.c" >"$out/afl-denylist.txt"
      step env AFL_LLVM_DENYLIST="$out/afl-denylist.txt" afl-clang-fast -O2 -g \
        -c "$root/examples/persist/afl_main.c" -o "$out/afl_main.o"
      step afl-clang-fast -O2 -g $inc $tinc "$h" "$out/afl_main.o" $lib \
        $uffdbox_libs -o "$out/bin/${t}_persist"
      step afl-clang-fast -O2 -g $inc $tinc "$h" "$root/fuzz/driver.c" $lib $uffdbox_libs \
        -o "$out/bin/${t}_forkserver"
    else
      step clang -O2 -g -fsanitize=fuzzer $inc $tinc "$h" $lib \
        "$root/build/default/libuffdbox_heap.a" $uffdbox_libs -ldl \
        -o "$out/bin/${t}_libfuzzer"
    fi
  done
done
echo "build-persist-targets: built in $((SECONDS - start)) s: $out/bin" >&2
