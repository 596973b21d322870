#!/usr/bin/env bash
# tests/cli/report_browser.sh UFFDBOX UAU_TARGET OUTDIR GUARD_LOG
# A use-after-unmap run (`uffdbox run --log`), its report (`uffdbox report`),
# rendered by headless Chromium: the DOM after the page's script ran must
# hold the page map (with the use-after-unmap cell), the timeline and the
# report block with its stack. The page ships no such elements: only its
# script builds them, so their presence shows the page really rendered.
# Then the page of GUARD_LOG (a committed golden log of a guard hit) must
# show the struck guard page after the region and the guard-hit report.
# A screenshot is left in OUTDIR/report_browser.png for people to look at.
set -u
uffdbox=$1 target=$2 out=$3 guard_log=$4
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: no chromium (scripts/deps.sh chromium installs it)"
  exit 77
fi
mkdir -p "$out"
log=$out/report_browser.jsonl html=$out/report_browser.html
"$uffdbox" run --log "$log" -- "$target" read 2>"$out/run.txt"
rc=$?
if grep -q "userfaultfd unavailable" "$out/run.txt"; then
  # (a container's seccomp filter: uffdbox run needs a userfaultfd)
  echo "SKIP: $(grep -m1 'userfaultfd unavailable' "$out/run.txt")"
  exit 77
fi
[ $rc = 134 ] || { echo "FAIL: the use-after-unmap run exited $rc, expected 134"; cat "$out/run.txt"; exit 1; }
"$uffdbox" report "$log" -o "$html" || { echo "FAIL: uffdbox report failed"; exit 1; }
# Before rendering: none of the elements the checks look for.
if grep -q 'class="cell\|class="ev"\|<h3>ERROR' "$html"; then
  echo "FAIL: the page ships the elements itself; the check would prove nothing"; exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile")
timeout 90 "$chromium" "${flags[@]}" --dump-dom "file://$html" >"$out/report_browser.dom" 2>"$out/chromium.txt" ||
  { echo "FAIL: chromium --dump-dom"; tail -5 "$out/chromium.txt"; exit 1; }
timeout 90 "$chromium" "${flags[@]}" --window-size=1280,2600 --screenshot="$out/report_browser.png" "file://$html" \
  >>"$out/chromium.txt" 2>&1 || { echo "FAIL: chromium --screenshot"; tail -5 "$out/chromium.txt"; exit 1; }
dom=$out/report_browser.dom
fail=0
check() { # DESCRIPTION REGEX
  if grep -Eq -- "$2" "$dom"; then echo "ok: $1"; else echo "FAIL: $1 (/$2/ not in the DOM)"; fail=1; fi
}
check "the script ran to its end" 'data-rendered="1"'
check "a page map" '<div class="pagemap" data-region="0">'
check "the stale page: use-after-unmap, aborted" '<span class="cell k8 r10" title="page 1'
check "the unmapped pages" '<span class="cell k6 r0"'
check "a timeline of thread T1" '<h3>thread T1 — [0-9]+ events</h3>'
check "the use-after-unmap in the timeline" '<li class="ev" data-kind="use-after-unmap"'
check "the report" '<h3>ERROR: uffdbox: use-after-unmap READ 4196 bytes inside the unmapped range by thread T1</h3>'
check "the access's stack" '<span class="fn">stale_read</span>'
check "the unmap's stack" '<span class="fn">release</span>'
check "the summary" '<section id="summary">'
# The guard hit's page.
"$uffdbox" report "$guard_log" -o "$out/guard.html" 2>/dev/null || { echo "FAIL: uffdbox report $guard_log"; exit 1; }
timeout 90 "$chromium" "${flags[@]}" --dump-dom "file://$out/guard.html" >"$out/guard.dom" 2>>"$out/chromium.txt" ||
  { echo "FAIL: chromium --dump-dom (guard)"; exit 1; }
dom=$out/guard.dom
check "the guard page struck, after region out" '<span class="cell guard" title="guard page after the region: write 1 byte'
check "the guard-hit report" '<h3>ERROR: uffdbox: guard hit: WRITE, 1 bytes past the end of region "out"</h3>'
head -c 8 "$out/report_browser.png" | od -An -c | grep -q 'P   N   G' || { echo "FAIL: no PNG screenshot"; fail=1; }
[ $fail = 0 ] && echo "report rendered in chromium: ok (screenshot: $out/report_browser.png)"
exit $fail
