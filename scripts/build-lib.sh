#!/usr/bin/env bash
# scripts/build-lib.sh LIB VARIANT [DIR] - build a real library from its
# Debian source package for fuzzing, and print its install prefix (last line).
#
#   LIB      json-c | expat
#   VARIANT  nosan  clang -O2 -g -fsanitize=fuzzer-no-link (coverage for
#                   libFuzzer; no sanitizer)
#            asan   the same plus -fsanitize=address
#            source only fetch and unpack the sources, print their directory
#                   (examples/libs/<lib>/oss-fuzz.sh builds them its own way)
#   DIR      where sources, builds and prefixes go (default build/libs):
#            DIR/src/LIB-VERSION (scripts/debian-source.sh), DIR/LIB-VARIANT/
#            {build,prefix}; an existing prefix is reused.
#
# What it changes from the Debian build, and says so: the compiler (clang)
# and flags above, a static library only, no tests, tools, examples or docs.
# json-c builds with CMake, expat with autotools (as Debian's rules do).
# The sources are the package's as apt-get source unpacks them (Debian's
# patches applied), never modified.  Needs root the first time (apt).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 json-c|expat nosan|asan|source [DIR]" >&2; exit 2; }
lib=$1 variant=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mkdir -p "${3:-$here/../build/libs}" && cd "${3:-$here/../build/libs}" && pwd)
case $variant in
  nosan) san="" ;;
  asan) san="-fsanitize=address" ;;
  source) san="" ;;
  *) echo "build-lib.sh: variant '$variant': expected nosan, asan or source" >&2; exit 2 ;;
esac
case $lib in
  json-c)
    # A fixed hash seed (json-c's documented CMake option): json-c seeds
    # its hash tables from rdrand/getrandom once per process, so objects'
    # key order, and with it what a campaign explores, changed run to run
    # (the same -seed ended in different corpora); as expat's harness fixes
    # its salt.
    opts=(-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DBUILD_APPS=OFF
          -DDISABLE_WERROR=ON -DENABLE_THREADING=OFF '-DOVERRIDE_GET_RANDOM_SEED={ return 0x5eed; }') ;;
  expat)
    opts=(--disable-shared --enable-static --without-xmlwf --without-examples --without-tests
          --without-docbook) ;;
  *) echo "build-lib.sh: library '$lib': expected json-c or expat" >&2; exit 2 ;;
esac
# The newest source version first; if the mirror no longer has its files
# (a security update superseded), the older ones apt knows of (asked after
# the first try, which adds the deb-src entries on a fresh system).
fetch_source() {
  local spec
  try_source "$lib" && return 0
  for spec in $(apt-cache showsrc "$lib" 2>/dev/null | awk '/^Version:/ { print $2 }' |
                sort -rV | uniq | sed "s/^/$lib=/"); do
    try_source "$spec" && return 0
  done
  cat "$dir/$lib.source.err" >&2
  echo "build-lib.sh: no source of $lib could be fetched" >&2
  return 1
}
try_source() {
  if src=$("$here/debian-source.sh" "$1" "$dir/src" 2>"$dir/$lib.source.err" | tail -n 1) &&
     [ -d "$src" ]; then
    return 0
  fi
  echo "build-lib.sh: apt-get source $1 failed ($(tail -n 1 "$dir/$lib.source.err")); trying an older version" >&2
  src=""
  return 1
}
if [ "$variant" = source ]; then
  fetch_source
  echo "$src"
  exit 0
fi
flags="-O2 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $san"
prefix=$dir/$lib-$variant/prefix
# Reused when built with the same flags and options (.built holds them).
if [ -f "$prefix/.built" ] && [ "$(cat "$prefix/.built")" = "$flags ${opts[*]}" ]; then
  echo "build-lib.sh: $lib ($variant) already built in $prefix" >&2
  echo "$prefix"
  exit 0
fi
"$here/deps.sh" clang cmake make autoconf automake libtool >&2
src=""
fetch_source
b=$dir/$lib-$variant/build
rm -rf "$b" "$prefix"
log=$dir/$lib-$variant/build.log
mkdir -p "$b"
build() {
  if [ "$lib" = expat ]; then
    # As Debian builds it: autotools (its CVE backports test `#if XML_DTD
    # == 1`, which the CMake build's empty XML_DTD breaks), in a copy of
    # the sources, where autoreconf may write its generated files.
    cp -a "$src/expat/." "$b/"
    (cd "$b" && autoreconf -fi && CC=clang CFLAGS="$flags" ./configure --prefix="$prefix" \
       --libdir="$prefix/lib" "${opts[@]}" && make -j2 && make install)
  else
    cmake -S "$src" -B "$b" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=None \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
      "${opts[@]}" && cmake --build "$b" -j2 && cmake --install "$b"
  fi
}
echo "build-lib.sh: $lib from $src: clang, CFLAGS='$flags', static, ${opts[*]}" >&2
if ! build >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "build-lib.sh: building $lib ($variant) failed; log: $log" >&2
  exit 1
fi
echo "$src" >"$prefix/.source"
echo "$flags ${opts[*]}" >"$prefix/.built"
echo "build-lib.sh: $lib ($variant) installed in $prefix" >&2
echo "$prefix"
