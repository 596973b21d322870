#!/usr/bin/env bash
# examples/libs/check-one-line.sh - each library's plain.c and uffdbox.c
# differ by exactly one added line: `data = uffdbox_fuzz_input(data, size);`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fail=0
for lib in json-c expat; do
  d=$(diff "$here/$lib/plain.c" "$here/$lib/uffdbox.c")
  added=$(printf '%s\n' "$d" | grep -c '^>')
  removed=$(printf '%s\n' "$d" | grep -c '^<')
  line=$(printf '%s\n' "$d" | sed -n 's/^> //p')
  if [ "$added" = 1 ] && [ "$removed" = 0 ] && [ "$(echo $line)" = "data = uffdbox_fuzz_input(data, size);" ]; then
    echo "ok   $lib: one line: $(echo $line)"
  else
    echo "FAIL $lib: plain.c and uffdbox.c differ by more than the one line:"; echo "$d"; fail=1
  fi
done
exit $fail
