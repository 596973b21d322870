#!/bin/sh
# examples/persist/lf-run.sh BIN SEEDS [ARG...] - run the libFuzzer binary
# BIN with ARGs on a fresh output corpus and the seed directory SEEDS, from
# a fresh working directory (crash files land there): libFuzzer writes new
# inputs into its first corpus directory, and the tests' seeds must stay as
# they are.  Exit status: BIN's.
set -u
bin=$1 seeds=$2
shift 2
dir=$(mktemp -d) || exit 2
mkdir "$dir/out"
cd "$dir" || exit 2
"$bin" "$@" "$dir/out" "$seeds"
rc=$?
cd / && rm -rf "$dir"
exit $rc
