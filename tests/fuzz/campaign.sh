#!/usr/bin/env bash
# tests/fuzz/campaign.sh FUZZER SEEDS WORKDIR [left]
# A libFuzzer campaign from SEEDS (only the over-read bug enabled: 'O' as a
# first byte is one mutation away; with `left`, UFFDBOX_FUZZ_ALIGN=left and
# only the under-read, 'U') must find the guard hit and write a crash file;
# that file, run once, must report the same guard hit.
set -u
fz=$1; seeds=$2; work=$3; mode=${4:-right}
only=O; guard='1 bytes past the end of region "fuzz-input"'
if [ "$mode" = left ]; then
  export UFFDBOX_FUZZ_ALIGN=left
  only=U; guard='1 bytes before the start of region "fuzz-input"'
fi
guard="uffdbox: guard hit: READ at 0x[0-9a-f]+, $guard"
rm -rf "$work"; mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
out=$(FUZZ_INPUT_ONLY=$only "$fz" -seed=1 -runs=2000000 -max_total_time=60 -only_ascii=1 \
      -artifact_prefix="$work/" "$work/corpus" 2>&1)
echo "$out" | grep -Eq "$guard" || { echo "campaign found no guard hit:"; echo "$out" | tail -30; exit 1; }
crash=$(ls "$work"/crash-* 2>/dev/null | head -1)
[ -n "$crash" ] || { echo "no crash file written:"; echo "$out" | tail -30; exit 1; }
echo "campaign: crash file $crash ($(od -An -c "$crash" | head -1))"
re=$("$fz" "$crash" 2>&1) && { echo "the crash file did not crash when run once"; exit 1; }
echo "$re" | grep -Eq "$guard" || { echo "replay did not report the guard hit:"; echo "$re" | tail -30; exit 1; }
if echo "$re" | grep -q "SEGV on unknown address"; then
  echo "a second, generic SEGV report followed uffdbox's:"; echo "$re"; exit 1
fi
echo "ok: crash file reproduces the guard hit when run once"
