#!/usr/bin/env bash
# scripts/check-oss-fuzz-build.sh [--engine libfuzzer|afl|all]
#     [--sanitizer address|undefined|coverage] [--seccomp] [--keep]
#
# OSS-Fuzz's build and its bad-build check (base-runner's bad_build_check),
# without Docker, for .clusterfuzzlite/build.sh:
#   1. lays the tree out as .clusterfuzzlite/Dockerfile does, in a temporary
#      directory: the checkout (tracked and untracked files, .gitignore'd
#      ones left out as .dockerignore leaves them out) in $SRC/uffdbox, and
#      build.sh in $SRC/;
#   2. sets the variables OSS-Fuzz's `compile` sets for SANITIZER=address
#      (or --sanitizer: undefined and coverage, libFuzzer only, as OSS-Fuzz
#      builds them) and (a) FUZZING_ENGINE=libfuzzer, (b) FUZZING_ENGINE=afl,
#      and runs `bash -eux $SRC/build.sh` from $SRC/uffdbox;
#   3. checks every target in $OUT as bad_build_check does:
#      libFuzzer: `T -seed=1337 -runs=4` must not say the code is
#        uninstrumented (and its edge count is printed, with OSS-Fuzz's
#        warning under 100); run as run_fuzzer runs it (the .options
#        arguments, the dictionary, no seed corpus) it must print
#        "Done 4 runs"; the seed corpus must replay (-runs=0) without a
#        crash;
#      AFL++: afl-fuzz runs it as run_fuzzer does (one-file corpus, -t 5000+,
#        the dictionary) until SIGINT after CHECK_AFL_SECONDS (OSS-Fuzz: 35)
#        and must print "All set and ready to roll" and never "target binary
#        crashed/terminated"; and the driver runs 4 seed inputs given as files
#        ("Execution successful." 4 times);
#      both: objdump counts calls into the sanitizer runtimes (address:
#        ASan >= 1000, UBSan <= 200, MSan <= 3; undefined: UBSan >= 168, no
#        ASan, MSan <= 3; coverage: not checked, as in OSS-Fuzz), and `ldd`
#        shows no library the runner image lacks (only libc's own,
#        libstdc++/libgcc_s); `file` says x86-64 (check_architecture).
#
# --seccomp runs every target (and afl-fuzz) under the command named by
# UFFDBOX_CHECK_WRAP, a wrapper that installs a seccomp filter denying
# userfaultfd(2) and then execs its arguments (as ClusterFuzzLite's action
# container does to the whole job), e.g.
#   UFFDBOX_CHECK_WRAP="path/to/wrapper --errno=EPERM --" scripts/check-oss-fuzz-build.sh --seccomp
# --keep leaves the temporary tree and prints where it is.
# Exit: 0 every check passed, 1 a check failed, 2 usage or setup error.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=all sanitizer=address seccomp=0 keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--engine) engine=${2:?--engine needs libfuzzer, afl or all}; shift 2 ;;
	--engine=*) engine=${1#--engine=}; shift ;;
	--sanitizer) sanitizer=${2:?--sanitizer needs address, undefined or coverage}; shift 2 ;;
	--sanitizer=*) sanitizer=${1#--sanitizer=}; shift ;;
	--seccomp) seccomp=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "check-oss-fuzz-build: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case "$engine" in
libfuzzer) engines=(libfuzzer) ;;
afl) engines=(afl) ;;
all) engines=(libfuzzer afl) ;;
*) echo "check-oss-fuzz-build: --engine must be libfuzzer, afl or all, not '$engine'" >&2; exit 2 ;;
esac
# base-builder's SANITIZER_FLAGS_* and COVERAGE_FLAGS_coverage.
case "$sanitizer" in
address) san_flags="-fsanitize=address -fsanitize-address-use-after-scope" ;;
undefined)
	ub=array-bounds,bool,builtin,enum,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow
	san_flags="-fsanitize=$ub,unsigned-integer-overflow,unreachable,vla-bound,vptr -fno-sanitize-recover=$ub,unreachable,vla-bound,vptr"
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-silence_unsigned_overflow=1} ;;
coverage) san_flags="-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument" ;;
*) echo "check-oss-fuzz-build: --sanitizer must be address, undefined or coverage, not '$sanitizer'" >&2; exit 2 ;;
esac
if [ "$sanitizer" != address ]; then
	# OSS-Fuzz builds AFL++ with ASan only.
	[ "$engine" != afl ] || { echo "check-oss-fuzz-build: AFL++ builds are ASan only (--sanitizer address)" >&2; exit 2; }
	engines=(libfuzzer)
fi
wrap=()
if [ "$seccomp" = 1 ]; then
	if [ -z "${UFFDBOX_CHECK_WRAP:-}" ]; then
		echo "check-oss-fuzz-build: --seccomp needs UFFDBOX_CHECK_WRAP, the command that denies userfaultfd(2) and execs its arguments" >&2
		exit 2
	fi
	read -r -a wrap <<<"$UFFDBOX_CHECK_WRAP"
fi
afl_seconds=${CHECK_AFL_SECONDS:-35}

scripts/deps.sh cmake make clang afl++ pkg-config libunwind-dev libdw-dev zip unzip binutils file \
	autoconf automake libtool >/dev/null
afl_driver=$(dpkg -L afl++ | grep '/libAFLDriver\.a$' | head -1)
if [ "${engines[*]}" != libfuzzer ] && [ ! -f "$afl_driver" ]; then
	echo "check-oss-fuzz-build: no libAFLDriver.a in the afl++ package (dpkg -L afl++)" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/oss-fuzz-check.XXXXXX)
if [ "$keep" = 1 ]; then
	trap 'echo "check-oss-fuzz-build: kept $tmp"' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi

# 1. The Dockerfile's layout: COPY . $SRC/uffdbox; COPY build.sh $SRC/.
SRC=$tmp/src
mkdir -p "$SRC/uffdbox"
git ls-files -z -c -o --exclude-standard | while IFS= read -r -d '' f; do
	[ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$SRC/uffdbox"
cp .clusterfuzzlite/build.sh "$SRC/build.sh"
# The Dockerfile's source step for examples/libs (scripts/build-lib.sh LIB
# source): here into build/libs/src, shared with scripts/build-lib.sh's own
# builds and kept between runs (UFFDBOX_LIBS_DIR tells oss-fuzz.sh where).
# The libraries built by examples/libs/*/oss-fuzz.sh are kept too, in
# build/libs/oss-fuzz (UFFDBOX_LIBS_CACHE, see build.sh's example_lib), and
# rebuilt when the compiler, the flags, the sources or oss-fuzz.sh change:
# ~70 s per build here, three builds per CI run otherwise.
libs_dir=$PWD/build/libs
for lib in json-c expat; do
	scripts/build-lib.sh "$lib" source "$libs_dir" >/dev/null
done

failed=0
fail() {
	echo "BAD BUILD: $*"
	failed=1
}
runner_libs='^(linux-vdso|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so'

# run_fuzzer's command line for libFuzzer: the .options [libfuzzer] keys as
# -key=value, the dictionary, OSS-Fuzz's default FUZZER_ARGS.
lf_args() {
	local t=$1
	printf '%s\n' -rss_limit_mb=2560 -timeout=25
	if [ -f "$t.options" ]; then
		awk '/^\[/ { s = $0; next } s == "[libfuzzer]" && /=/ {
			k = $0; sub(/[ \t]*=.*/, "", k); gsub(/^[ \t]+/, "", k)
			v = $0; sub(/^[^=]*=[ \t]*/, "", v); print "-" k "=" v }' "$t.options"
	fi
	[ -f "$t.dict" ] && printf '%s\n' "-dict=$t.dict"
	return 0
}

check_sanitizers() { # TARGET
	local t=$1 asan ubsan msan dis name
	name=$(basename "$t")
	dis=$(objdump -d --no-show-raw-insn "$t")
	asan=$(grep -cE 'call[q]?\s+[0-9a-f]+\s+<__asan' <<<"$dis" || true)
	ubsan=$(grep -cE 'call[q]?\s+[0-9a-f]+\s+<__ubsan' <<<"$dis" || true)
	msan=$(grep -cE 'call[q]?\s+[0-9a-f]+\s+<__msan' <<<"$dis" || true)
	case "$sanitizer" in
	address)
		[ "$asan" -ge 1000 ] || fail "$name does not seem to be compiled with ASan ($asan calls)"
		[ "$ubsan" -le 200 ] || fail "ASan build of $name seems to be compiled with UBSan ($ubsan calls)"
		[ "$msan" -le 3 ] || fail "ASan build of $name seems to be compiled with MSan ($msan calls)" ;;
	undefined)
		[ "$asan" = 0 ] || fail "UBSan build of $name seems to be compiled with ASan ($asan calls)"
		[ "$msan" -le 3 ] || fail "UBSan build of $name seems to be compiled with MSan ($msan calls)"
		[ "$ubsan" -ge 168 ] || fail "$name does not seem to be compiled with UBSan ($ubsan calls)" ;;
	esac
	file -b "$t" | grep -q x86-64 || fail "$name is not built for x86_64: $(file -b "$t")"
	local extra
	extra=$(ldd "$t" | awk '{print $1}' | sed 's|.*/||' | grep -vE "$runner_libs" || true)
	[ -z "$extra" ] || fail "$(basename "$t") needs libraries the runner image lacks: $(echo $extra)"
	echo "  sanitizer calls: asan=$asan ubsan=$ubsan msan=$msan; x86-64; shared libraries: libc's only"
}

check_libfuzzer() { # TARGET
	local t=$1 name log edges
	name=$(basename "$t")
	log=$tmp/$name.libfuzzer.log
	if [ "$sanitizer" = coverage ]; then
		check_coverage "$t"
		return
	fi
	# check_engine
	(cd "$OUT" && "${wrap[@]}" "./$name" -seed=1337 -runs=4 >"$log" 2>&1) || true
	if grep -q "ERROR: no interesting inputs were found. Is the code instrumented" "$log"; then
		fail "$name does not seem to have coverage instrumentation"
		cat "$log"
		return
	fi
	edges=$(grep -oP 'INFO: Loaded [[:digit:]]+ module.*\(.*(counters|guards)\):[[:space:]]+\K[[:digit:]]+' "$log" || true)
	if [ -n "$edges" ] && [ "$edges" -lt 100 ]; then
		echo "  warning (OSS-Fuzz prints it, does not fail): $name seems to have only partial coverage instrumentation ($edges edges)"
	fi
	# check_startup_crash: run_fuzzer without the seed corpus.
	local args
	mapfile -t args < <(cd "$OUT" && lf_args "$name")
	(cd "$OUT" && env -u OUT "${wrap[@]}" "./$name" "${args[@]}" -seed=1337 -runs=4 </dev/null >"$log" 2>&1) || true
	if ! grep -q "Done 4 runs" "$log"; then
		fail "$name seems to have either startup crash or exit:"
		cat "$log"
		return
	fi
	echo "  $name: Done 4 runs ($edges edges; $(cd "$OUT" && echo "${args[*]}"))"
	# check_seed_corpus: run_fuzzer -runs=0 over the unzipped seeds.
	if [ -f "$OUT/${name}_seed_corpus.zip" ]; then
		local corpus=$tmp/corpus-$name n
		rm -rf "$corpus" && mkdir -p "$corpus"
		unzip -q -o -d "$corpus" "$OUT/${name}_seed_corpus.zip"
		n=$(find "$corpus" -type f | wc -l)
		if ! (cd "$OUT" && env -u OUT "${wrap[@]}" "./$name" "${args[@]}" -runs=0 "$corpus" </dev/null >"$log" 2>&1); then
			fail "$name has a crashing input in its seed corpus:"
			tail -40 "$log"
			return
		fi
		echo "  $name: seed corpus of $n inputs replays without a crash"
	else
		fail "$name has no seed corpus ($OUT/${name}_seed_corpus.zip)"
	fi
}

# The coverage build is not bad-build checked by OSS-Fuzz; its targets
# replay the corpus (-runs=0) and write a profile, as coverage reports need.
check_coverage() { # TARGET
	local name corpus log
	name=$(basename "$1")
	corpus=$tmp/corpus-$name log=$tmp/$name.coverage.log
	rm -rf "$corpus" "$tmp/$name.profraw" && mkdir -p "$corpus"
	unzip -q -o -d "$corpus" "$OUT/${name}_seed_corpus.zip"
	if ! (cd "$OUT" && env -u OUT LLVM_PROFILE_FILE="$tmp/$name.profraw" "${wrap[@]}" \
		"./$name" -runs=0 "$corpus" </dev/null >"$log" 2>&1); then
		fail "coverage build of $name failed on its seed corpus:"
		tail -40 "$log"
		return
	fi
	[ -s "$tmp/$name.profraw" ] || { fail "coverage build of $name wrote no profile"; return; }
	echo "  $name: seed corpus replayed, profile of $(stat -c %s "$tmp/$name.profraw") bytes written"
}

check_afl() { # TARGET
	local t=$1 name log corpus inputs n
	name=$(basename "$t")
	log=$tmp/$name.afl.log
	corpus=$tmp/afl-in-$name
	rm -rf "$corpus" "$tmp/afl-out-$name" && mkdir -p "$corpus"
	echo input >"$corpus/input"
	local dict=()
	[ -f "$OUT/$name.dict" ] && dict=(-x "$OUT/$name.dict")
	(cd "$OUT" && env -u OUT AFL_NO_UI=1 AFL_FORKSRV_INIT_TMOUT=30000 AFL_SKIP_CPUFREQ=1 \
		AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_TRY_AFFINITY=1 AFL_FAST_CAL=1 \
		AFL_IGNORE_UNKNOWN_ENVS=1 AFL_CMPLOG_ONLY_NEW=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}:abort_on_error=1:symbolize=0:detect_odr_violation=0:" \
		timeout --preserve-status -s INT "${afl_seconds}s" "${wrap[@]}" afl-fuzz -t 5000+ \
		-i "$corpus" -o "$tmp/afl-out-$name" "${dict[@]}" -- "./$name" >"$log" 2>&1) || true
	if ! grep -q "All set and ready to roll" "$log"; then
		fail "fuzzing $name with afl-fuzz failed:"
		tail -40 "$log"
		return
	fi
	if grep -qE "target binary (crashed|terminated)" "$log"; then
		fail "$name seems to have either startup crash or exit:"
		tail -40 "$log"
		return
	fi
	local execs
	execs=$(awk '/^execs_done/ {print $3}' "$tmp/afl-out-$name/default/fuzzer_stats" 2>/dev/null || echo "?")
	echo "  $name: afl-fuzz all set and ready to roll, $execs executions in ${afl_seconds} s"
	# The driver runs files given as arguments: 4 seeds.
	unzip -q -o -d "$tmp/afl-seeds-$name" "$OUT/${name}_seed_corpus.zip"
	# (libAFLDriver skips an empty file without a word: non-empty ones.)
	mapfile -t inputs < <(find "$tmp/afl-seeds-$name" -type f -size +0 | sort | head -4)
	while [ "${#inputs[@]}" -lt 4 ]; do
		n=${#inputs[@]}
		printf 'input %d' "$n" >"$tmp/afl-seeds-$name/extra-$n"
		inputs+=("$tmp/afl-seeds-$name/extra-$n")
	done
	(cd "$OUT" && env -u OUT "${wrap[@]}" "./$name" "${inputs[@]}" >"$log" 2>&1) || true
	n=$(grep -c "Execution successful" "$log" || true)
	if [ "$n" != 4 ]; then
		fail "$name ran $n of 4 inputs given as files:"
		tail -40 "$log"
		return
	fi
	echo "  $name: 4 inputs given as files ran"
}

base_cflags="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
# The engine's coverage flags: none in the coverage build (its
# instrumentation is the profile), -fsanitize=fuzzer-no-link otherwise.
cov_flags=-fsanitize=fuzzer-no-link
[ "$sanitizer" != coverage ] || cov_flags=
for e in "${engines[@]}"; do
	t0=$SECONDS
	OUT=$tmp/out-$e WORK=$tmp/work-$e
	rm -rf "$OUT" "$WORK" && mkdir -p "$OUT" "$WORK"
	# 2. compile's environment (base-builder's Dockerfile, compile,
	# compile_libfuzzer / compile_afl). CXXFLAGS: OSS-Fuzz adds
	# -stdlib=libc++ (its clang ships libc++); Debian's clang links
	# libstdc++, which the runner image has too.
	case "$e" in
	libfuzzer)
		env_vars=(CC=clang CXX=clang++
			"CFLAGS=$base_cflags $san_flags $cov_flags"
			"CXXFLAGS=$base_cflags $san_flags $cov_flags"
			LIB_FUZZING_ENGINE=-fsanitize=fuzzer) ;;
	afl)
		env_vars=(CC=afl-clang-fast CXX=afl-clang-fast++
			"CFLAGS=$base_cflags $san_flags" "CXXFLAGS=$base_cflags $san_flags"
			"LIB_FUZZING_ENGINE=$afl_driver" AFL_QUIET=1
			ASAN_OPTIONS=detect_leaks=0:symbolize=0:detect_odr_violation=0:abort_on_error=1) ;;
	esac
	echo "== OSS-Fuzz build: FUZZING_ENGINE=$e SANITIZER=$sanitizer${wrap:+ (checks under: ${wrap[*]})} =="
	if ! (cd "$SRC/uffdbox" && env "${env_vars[@]}" SRC="$SRC" OUT="$OUT" WORK="$WORK" \
		SANITIZER="$sanitizer" FUZZING_ENGINE="$e" FUZZING_LANGUAGE=c ARCHITECTURE=x86_64 \
		UFFDBOX_LIBS_DIR="$libs_dir" UFFDBOX_LIBS_CACHE="$libs_dir/oss-fuzz" \
		bash -eux "$SRC/build.sh" >"$tmp/build-$e.log" 2>&1); then
		echo "check-oss-fuzz-build: build.sh failed ($e); its last lines:" >&2
		tail -40 "$tmp/build-$e.log" >&2
		exit 1
	fi
	targets=()
	for t in "$OUT"/*; do
		[ -f "$t" ] && [ -x "$t" ] && [[ "$(basename "$t")" != *.* ]] && targets+=("$t")
	done
	if [ "${#targets[@]}" = 0 ]; then
		echo "check-oss-fuzz-build: build.sh produced no executable in \$OUT" >&2
		exit 1
	fi
	echo "  built in $((SECONDS - t0)) s: $(cd "$OUT" && ls | tr '\n' ' ')"
	# 3. the bad-build check.
	for t in "${targets[@]}"; do
		for f in "${t}_seed_corpus.zip" "$t.dict" "$t.options"; do
			[ -f "$f" ] || fail "$(basename "$t"): no $(basename "$f")"
		done
		check_sanitizers "$t"
		if [ "$e" = libfuzzer ]; then check_libfuzzer "$t"; else check_afl "$t"; fi
	done
	echo "  $e: ${#targets[@]} targets checked in $((SECONDS - t0)) s"
done
if [ "$failed" = 0 ]; then
	echo "check-oss-fuzz-build: every target passed (${engines[*]})"
else
	echo "check-oss-fuzz-build: FAILED"
fi
exit "$failed"
