#!/usr/bin/env bash
# scripts/test.sh [PRESET] - build and run the whole test suite (default: the
# `default` preset: gcc, RelWithDebInfo). Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
scripts/deps.sh cmake make gcc pkg-config libunwind-dev libdw-dev python3 git
# headless Chromium renders `uffdbox report` pages (ctest -L browser)
if [ "$preset" = default ]; then scripts/deps.sh chromium; fi
case "$preset" in
  asan-ubsan|tsan|fuzz|fuzz-nosan) scripts/deps.sh clang libclang-rt-14-dev ;;
  afl) scripts/deps.sh clang afl++ ;;
esac
exec cmake --workflow --preset "$preset"
