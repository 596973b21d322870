#!/usr/bin/env bash
# scripts/demo.sh - build uffdbox (default preset) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make gcc pkg-config libunwind-dev libdw-dev python3 git
cmake --preset default >/dev/null
cmake --build --preset default --target uffdbox-demo >/dev/null
exec build/default/examples/uffdbox-demo "$@"
