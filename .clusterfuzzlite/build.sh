#!/bin/bash -eu
# .clusterfuzzlite/build.sh - build every uffdbox fuzz target for OSS-Fuzz /
# ClusterFuzzLite.  See docs/fuzzing.md, "OSS-Fuzz and ClusterFuzzLite".
#
# Runs as OSS-Fuzz's `compile` runs it: `bash -eux $SRC/build.sh`, from the
# checkout $SRC/uffdbox (the Dockerfile's WORKDIR), with CC CXX CFLAGS
# CXXFLAGS LIB_FUZZING_ENGINE OUT WORK SRC SANITIZER FUZZING_ENGINE set.
# scripts/check-oss-fuzz-build.sh runs it the same way without Docker.
#
# For each target T it writes $OUT/T (linked with $LIB_FUZZING_ENGINE),
# $OUT/T_seed_corpus.zip, $OUT/T.dict and $OUT/T.options.
#
# Two builds of the library:
#   - instrumented ($CC $CFLAGS): for fuzz_msg, fuzz_fsm, fuzz_text and
#     fuzz_box, whose code under test is uffdbox itself;
#   - harness (sanitizer on, engine coverage off): for the planted example
#     and the example libraries, where uffdbox is the harness and only the
#     target's edges should guide the engine.
# The targets statically link libunwind and libdw (the runner image has
# neither: OSS-Fuzz asks for dependencies to be linked statically).

src="$SRC/uffdbox"
cd "$src"
: "${WORK:?}" "${OUT:?}" "${CC:?}" "${CXX:?}" "${LIB_FUZZING_ENGINE:?}"
CFLAGS=${CFLAGS-}
CXXFLAGS=${CXXFLAGS-}
jobs=$(nproc)

# --- the library, twice ---------------------------------------------------
build_lib() { # NAME CC CFLAGS
	local dir="$WORK/uffdbox-$1"
	cmake -S "$src" -B "$dir" -G "Unix Makefiles" \
		-DCMAKE_C_COMPILER="$2" -DCMAKE_C_FLAGS="$3" \
		-DCMAKE_BUILD_TYPE=OSSFuzz -DBUILD_SHARED_LIBS=OFF \
		-DUFFDBOX_BUILD_TESTS=OFF -DUFFDBOX_BUILD_BENCH=OFF \
		-DUFFDBOX_BUILD_EXAMPLES=OFF -DUFFDBOX_BUILD_FUZZERS=OFF \
		-DUFFDBOX_LIBDW=link >/dev/null
	cmake --build "$dir" --target uffdbox -j"$jobs" >/dev/null
	test -f "$dir/libuffdbox.a"
}

# The harness build: the same compiler and sanitizer, no engine coverage.
# libFuzzer's coverage comes from -fsanitize=fuzzer-no-link (and any
# -fsanitize-coverage=) in CFLAGS; AFL++'s from afl-clang-fast itself, so
# that build uses plain clang (afl-clang-fast still links its runtime into
# the final executable).
harness_cc=$CC
case "$(basename "$CC")" in
afl-clang-fast | afl-clang-lto | afl-cc | afl-clang) harness_cc=clang ;;
esac
harness_cflags=
for f in $CFLAGS; do
	case "$f" in
	-fsanitize=fuzzer-no-link | -fsanitize-coverage=*) ;;
	*) harness_cflags="$harness_cflags $f" ;;
	esac
done

build_lib instrumented "$CC" "$CFLAGS"
build_lib harness "$harness_cc" "$harness_cflags"
lib_instrumented="$WORK/uffdbox-instrumented/libuffdbox.a"
lib_harness="$WORK/uffdbox-harness/libuffdbox.a"

# libunwind and libdw, static (UFFDBOX_LIBDW=link above: the runner image
# has no libdw.so.1 to load at a report); libpthread as the runner's libc has it.
# -no-pie: Debian's libunwind.a is not position-independent.
static_deps="-no-pie -Wl,-Bstatic $(pkg-config --static --libs-only-l libdw libunwind |
	sed -e 's/-lpthread//g') -Wl,-Bdynamic -lpthread"

# --- one target -----------------------------------------------------------
# target NAME LIB DICT "OPTIONS" CORPUS_DIR... -- SOURCE... [-- CFLAGS...]
target() {
	local name=$1 lib=$2 dict=$3 options=$4
	shift 4
	local corpora=() sources=() extra=() objs=() s o
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		corpora+=("$1")
		shift
	done
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sources+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift && extra=("$@")

	mkdir -p "$WORK/obj/$name"
	for s in "${sources[@]}"; do
		o="$WORK/obj/$name/$(basename "$s").o"
		$CC $CFLAGS -D_GNU_SOURCE -Iinclude -Icore "${extra[@]}" -c "$s" -o "$o"
		objs+=("$o")
	done
	# C sources, linked with $CXX as OSS-Fuzz asks (libFuzzer is C++).
	$CXX $CXXFLAGS "${objs[@]}" $lib $LIB_FUZZING_ENGINE $static_deps -o "$OUT/$name"

	# Seeds: every file of the corpus directories, flattened with the
	# directory in its name (README files and dot files left out).
	local seeds="$WORK/seeds/$name" d f
	rm -rf "$seeds" "$OUT/${name}_seed_corpus.zip"
	mkdir -p "$seeds"
	for d in "${corpora[@]}"; do
		for f in "$d"/*; do
			case "$(basename "$f")" in README* | .*) continue ;; esac
			[ -f "$f" ] && cp "$f" "$seeds/$(echo "$d" | tr / -)-$(basename "$f")"
		done
	done
	(cd "$seeds" && zip -q -X "$OUT/${name}_seed_corpus.zip" ./*)

	cp "$dict" "$OUT/$name.dict"
	printf '[libfuzzer]\n%b' "$options" >"$OUT/$name.options"
}

# --- uffdbox's own targets (fuzz/, docs/fuzzing.md) -------------------------
# fuzz_msg and fuzz_text call a few pure functions: linked alone, they have
# fewer than the 1000 calls into ASan's runtime by which OSS-Fuzz's
# bad-build check (check_mixed_sanitizers) recognizes an ASan build (924 for
# fuzz_text with clang 14), so they link the whole library.
whole_instrumented="-Wl,--whole-archive $lib_instrumented -Wl,--no-whole-archive"
# max_len where the target ignores the rest of a longer input: fuzz_msg
# parses at most 4 records (5 reach -ENOSPC), fuzz_box runs at most 64
# 4-byte commands.
target fuzz_msg "$whole_instrumented" fuzz/fuzz_msg.dict 'max_len = 192\n' \
	corpus/msg corpus/regressions/msg -- fuzz/fuzz_msg.c
target fuzz_fsm "$lib_instrumented" fuzz/fuzz_fsm.dict 'max_len = 4096\n' \
	corpus/fsm corpus/regressions/fsm -- fuzz/fuzz_fsm.c
target fuzz_box "$lib_instrumented" fuzz/fuzz_box.dict 'max_len = 256\n' \
	corpus/box corpus/regressions/box -- fuzz/fuzz_box.c
if [ -f fuzz/fuzz_text.c ]; then
	target fuzz_text "$whole_instrumented" fuzz/fuzz_text.dict 'max_len = 1024\n' \
		corpus/text corpus/regressions/text -- fuzz/fuzz_text.c
fi
# The event-log reader of the uffdbox commands (run/jsonl.c: `uffdbox diff`
# and `report` read untrusted logs with it); one line of at most 8192 bytes.
if [ -f fuzz/fuzz_jsonl.c ]; then
	target fuzz_jsonl "$whole_instrumented" fuzz/fuzz_jsonl.dict 'max_len = 8192\n' \
		corpus/jsonl corpus/regressions/jsonl -- fuzz/fuzz_jsonl.c run/jsonl.c -- -Irun
fi

# --- the planted-bug example (examples/planted) -----------------------------
# Its input region is 4 pages: longer inputs are skipped.
target planted_fuzz "$lib_harness" examples/planted/planted.dict 'max_len = 16384\n' \
	examples/planted/seeds -- examples/planted/fuzz.c examples/planted/target.c \
	-- -DUFFDBOX_FUZZING_ENGINE

# --- example libraries (examples/libs, issue 12) ---------------------------
# Each examples/libs/<lib>/oss-fuzz.sh is sourced here, from the checkout,
# with everything above in scope: it builds its library with $CC $CFLAGS
# (from the distribution's source package the Dockerfile unpacked under
# $SRC/libs with `scripts/build-lib.sh LIB source`; UFFDBOX_LIBS_DIR
# elsewhere) through `example_lib`, and calls `target NAME "$lib_harness
# ARCHIVE" DICT OPTIONS SEEDS... -- SOURCES... -- CFLAGS...`.  A library
# directory without one is named in the build log as not built.

# example_lib NAME SOURCE_DIR BUILD_FN: sets example_prefix to where
# `BUILD_FN PREFIX` installed the library.  In OSS-Fuzz always a new build
# in $WORK.  With UFFDBOX_LIBS_CACHE set (scripts/check-oss-fuzz-build.sh
# sets it, to keep CI short), a prefix there built by the same
# oss-fuzz.sh with the same compiler, flags and sources is reused.
example_lib() {
	local name=$1 lib_src=$2 fn=$3 key
	if [ -z "${UFFDBOX_LIBS_CACHE:-}" ]; then
		example_prefix=$WORK/$name-prefix
		"$fn" "$example_prefix"
		return
	fi
	key=$({
		echo "$CC|$CXX|$CFLAGS|$CXXFLAGS|$(basename "$lib_src")"
		"$CC" --version 2>&1
		cat "examples/libs/$name/oss-fuzz.sh"
	} | sha1sum | cut -c1-16)
	example_prefix=$UFFDBOX_LIBS_CACHE/$name-$key
	if [ ! -f "$example_prefix/.built" ]; then
		rm -rf "$example_prefix" && mkdir -p "$example_prefix"
		"$fn" "$example_prefix"
		touch "$example_prefix/.built"
	fi
}
if [ -d examples/libs ]; then
	for d in examples/libs/*/; do
		[ -d "$d" ] || continue
		if [ ! -f "$d/oss-fuzz.sh" ]; then
			echo "build.sh: NOT BUILT: ${d%/} has no oss-fuzz.sh (see .clusterfuzzlite/build.sh, \"example libraries\")" >&2
			continue
		fi
		# shellcheck source=/dev/null
		. "$d/oss-fuzz.sh"
	done
fi
