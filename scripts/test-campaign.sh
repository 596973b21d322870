#!/usr/bin/env bash
# scripts/test-campaign.sh - scripts/campaign.sh on a real target: fuzz_msg
# built for AFL++ (preset afl) and with AFL_LLVM_CMPLOG=1 (build/afl-cmplog).
#   1. one machine, 2 instances (main + a CMPLOG secondary), 20 s: both are
#      alive in afl-whatsup, both executed inputs, the secondary ran with -c;
#   2. two "machines" (two output directories, hosts a and b, each with half
#      of the seeds, one instance each) syncing every 5 s through a shared
#      directory for 20 s: each has the other's main directory, and each
#      main read the other machine's queue (.synced/main-OTHER; how many of
#      its inputs were new, i.e. imported, is printed); a copies with cp,
#      b with rsync when it is installed.
# AFL++ needs AFL_SKIP_CPUFREQ and AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES on
# this VM (no cpufreq governor, core_pattern piped). Takes ~60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make clang afl++ pkg-config libunwind-dev libdw-dev >/dev/null
cmake --preset afl >/dev/null
cmake --build build/afl --target fuzz_msg -j2 >/dev/null
CC=afl-clang-fast cmake -S . -B build/afl-cmplog -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DUFFDBOX_BUILD_FUZZERS=ON -DUFFDBOX_FUZZ_ENGINE=afl -DUFFDBOX_BUILD_TESTS=OFF \
	-DUFFDBOX_BUILD_BENCH=OFF -DUFFDBOX_BUILD_EXAMPLES=OFF >/dev/null
AFL_LLVM_CMPLOG=1 AFL_QUIET=1 cmake --build build/afl-cmplog --target fuzz_msg -j2 >/dev/null 2>&1
target=build/afl/fuzz/fuzz_msg cmplog=build/afl-cmplog/fuzz/fuzz_msg
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "test-campaign: FAIL: $*"
	exit 1
}
count() { find "$1" -maxdepth 1 -name "${2:-id:*}" 2>/dev/null | wc -l; }

echo "== one machine, 2 instances, 20 s =="
timeout 150 scripts/campaign.sh -o "$tmp/one" -i corpus/msg -n 2 -x fuzz/fuzz_msg.dict \
	-c "$cmplog" -t 20 --host one -- "$target" | tee "$tmp/one.log"
grep -q "Fuzzers alive : 2" "$tmp/one.log" || fail "afl-whatsup never showed 2 fuzzers alive"
grep -qE "^  main-one +execs [1-9]" "$tmp/one.log" || fail "main-one executed nothing"
grep -qE "^  s1 +execs [1-9]" "$tmp/one.log" || fail "s1 executed nothing"
grep -q -- "-c $cmplog" "$tmp/one/s1/fuzzer_stats" || fail "s1 did not run with the CMPLOG build"
grep -q "^campaign: .*inputs in main-one's queue" "$tmp/one.log" || fail "no summary"

echo "== two machines (a, b), 1 instance each, sync every 5 s through a shared directory, 20 s =="
mkdir -p "$tmp/seeds-a" "$tmp/seeds-b" "$tmp/shared"
k=0
for f in corpus/msg/*; do
	cp "$f" "$tmp/seeds-$([ $((k % 2)) = 0 ] && echo a || echo b)/"
	k=$((k + 1))
done
# a copies with cp, b with rsync when it is installed: both ways at once.
copy_b='cp'
command -v rsync >/dev/null && copy_b=rsync
echo "(machine a copies with cp, machine b with $copy_b)"
pids=()
for h in a b; do
	copy='cp'
	[ "$h" = a ] || copy=$copy_b
	UFFDBOX_CAMPAIGN_COPY=$copy timeout 150 scripts/campaign.sh -o "$tmp/$h" -i "$tmp/seeds-$h" -n 1 -x fuzz/fuzz_msg.dict \
		-t 20 --host "$h" --sync-to "$tmp/shared" --sync-from "$tmp/shared" --sync-every 5 \
		-- "$target" >"$tmp/$h.log" 2>&1 &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=$?
done
sed 's/^/a| /' "$tmp/a.log"
sed 's/^/b| /' "$tmp/b.log"
[ "$rc" = 0 ] || fail "a campaign failed (exit $rc)"
for pair in a:b b:a; do
	h=${pair%:*} o=${pair#*:}
	[ "$(count "$tmp/shared/main-$h/queue")" -gt 0 ] || fail "main-$h's queue never reached the shared directory"
	[ "$(count "$tmp/$h/main-$o/queue")" -gt 0 ] || fail "machine $h never received main-$o's queue"
	# afl-fuzz records in .synced/NAME how far it read NAME's queue; it
	# imports the inputs that reach new coverage.
	[ -f "$tmp/$h/main-$h/.synced/main-$o" ] || fail "main-$h never read main-$o's queue"
	n=$(count "$tmp/$h/main-$h/queue" "id:*sync:main-$o*")
	echo "machine $h: $(count "$tmp/$h/main-$o/queue") inputs of main-$o received and read, $n of them new to main-$h (imported)"
done
echo "test-campaign: ok"
