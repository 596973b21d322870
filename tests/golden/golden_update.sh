#!/usr/bin/env bash
# tests/golden/golden_update.sh BUILD_DIR SOURCE_DIR HARNESS INPUT
# A consumer project uses the installed package's
# uffdbox_add_regression_test() to pin HARNESS on INPUT (the planted
# use-after-unmap). Its golden log is the tree's, changed as a changed log
# would be: the test must fail and show the difference; after
# UFFDBOX_UPDATE_GOLDEN=1 it must pass, the golden rewritten to the tree's.
set -euo pipefail
build=$1 src=$2 harness=$3 input=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
export LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir "$work/proj"
cat >"$work/proj/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(uffdbox REQUIRED)
enable_testing()
uffdbox_add_regression_test(NAME pinned COMMAND "$harness" "$input"
  GOLDEN "$work/golden.jsonl" EXPECT_REPORT "use-after-unmap READ" TIMEOUT 30)
uffdbox_add_regression_test(NAME wrong_report COMMAND "$harness" "$input"
  GOLDEN "$src/tests/golden/planted_uau.jsonl" EXPECT_REPORT "use-after-unmap WRITE" TIMEOUT 30)
CMAKE
golden=$src/tests/golden/planted_uau.jsonl
sed 's/"page":3,"offset":4093,/"page":2,"offset":4093,/' "$golden" >"$work/golden.jsonl"
if cmp -s "$golden" "$work/golden.jsonl"; then echo "the edit did not change the golden"; exit 1; fi
cmake -S "$work/proj" -B "$work/proj/build" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.txt" 2>&1 ||
  { cat "$work/configure.txt"; exit 1; }

echo "== 1. the log differs from the golden: the test fails and shows how"
if ctest --test-dir "$work/proj/build" -R '^pinned$' --output-on-failure >"$work/1.txt" 2>&1; then
  cat "$work/1.txt"; echo "FAIL: passed against a changed golden"; exit 1
fi
if ! grep -E '^~ +2 +2  #0 +missing +input\[0\] page 3 ' "$work/1.txt" ||
  ! grep -E 'page: 2 -> 3' "$work/1.txt" || ! grep -q 'UFFDBOX_UPDATE_GOLDEN=1' "$work/1.txt"; then
  cat "$work/1.txt"; echo "FAIL: the failure does not show the difference"; exit 1
fi

echo "== 2. UFFDBOX_UPDATE_GOLDEN=1 rewrites it"
UFFDBOX_UPDATE_GOLDEN=1 ctest --test-dir "$work/proj/build" -R '^pinned$' --output-on-failure >"$work/2.txt" 2>&1 ||
  { cat "$work/2.txt"; echo "FAIL: the update run failed"; exit 1; }
# Rewritten: the planted page is back, and the file compares equal to the
# tree's golden (byte for byte too in builds that symbolize frames).
grep -q '"page":3,"offset":4093,' "$work/golden.jsonl" || { cat "$work/golden.jsonl"; echo "FAIL: the golden was not rewritten"; exit 1; }
"$work/prefix/bin/uffdbox" diff "$golden" "$work/golden.jsonl" || { echo "FAIL: the rewritten golden differs from the tree's"; exit 1; }

echo "== 3. and the test passes"
ctest --test-dir "$work/proj/build" -R '^pinned$' --output-on-failure >"$work/3.txt" 2>&1 ||
  { cat "$work/3.txt"; echo "FAIL: fails after the update"; exit 1; }

echo "== 4. a report other than the expected one fails"
if ctest --test-dir "$work/proj/build" -R '^wrong_report$' --output-on-failure >"$work/4.txt" 2>&1; then
  cat "$work/4.txt"; echo "FAIL: passed with the wrong EXPECT_REPORT"; exit 1
fi
grep -q 'expected the report "uffdbox: use-after-unmap WRITE"' "$work/4.txt" || { cat "$work/4.txt"; exit 1; }
echo "golden update cycle: ok"
