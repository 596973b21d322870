#!/usr/bin/env bash
# tests/uau/real_programs.sh UFFDBOX - run real programs (python3, perl, git,
# gzip, sort) on real inputs with and without `uffdbox run`; stdout must be
# byte-identical, exit statuses equal, and uffdbox must print nothing.
set -u
uffdbox=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
for p in python3 perl git gzip sort; do
  command -v "$p" >/dev/null || { echo "SKIP: $p is not installed"; exit 77; }
done
# `uffdbox run` needs a userfaultfd (denied by a container's seccomp profile).
if "$uffdbox" run -- true 2>&1 | grep -q "userfaultfd unavailable"; then
  echo "SKIP: $("$uffdbox" run -- true 2>&1 | grep -m1 'userfaultfd unavailable')"; exit 77
fi

# Inputs made here, deterministic.
python3 - <<'PY'
import random
r = random.Random(42)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 12))) for _ in range(5000)]
with open("words.txt", "w") as f:
    for i in range(200000):
        f.write(f"{r.choice(words)} {r.randint(0, 10**6)} {r.choice(words)}\n")
PY
cat > work.py <<'PY'
import json, hashlib, collections, re
data = open("words.txt").read().split("\n")
counts = collections.Counter(w for line in data for w in line.split()[:1])
big = [{"w": w, "n": n, "sq": [i * i for i in range(n % 50)]} for w, n in counts.most_common()]
blob = json.dumps(big, sort_keys=True).encode()
arr = bytearray(64 << 20)  # a large buffer: mmap-backed, freed with munmap
for i in range(0, len(arr), 4096):
    arr[i] = i % 251
print(len(counts), hashlib.sha256(blob).hexdigest(), sum(arr[::4096]))
print(sorted(re.findall(r"\b\w{11}\b", " ".join(data[:20000])))[:5])
PY
cat > work.pl <<'PL'
my %h; my $n = 0;
open my $f, "<", "words.txt" or die;
while (<$f>) { my @w = split; $h{$w[2]} += $w[1]; $n++; }
my @top = (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0..9];
print "$n lines\n"; print "$_ $h{$_}\n" for @top;
my $s = "x" x (32 << 20); print length($s), "\n";
PL

run_pair() { # name, command...
  local name=$1; shift
  "$@" >"$name.plain.out" 2>"$name.plain.err"; local rc1=$?
  "$uffdbox" run -- "$@" >"$name.box.out" 2>"$name.box.err"; local rc2=$?
  if [ $rc1 != $rc2 ] || ! cmp -s "$name.plain.out" "$name.box.out"; then
    echo "FAIL $name: status $rc1 vs $rc2, or stdout differs"; diff "$name.plain.out" "$name.box.out" | head; cat "$name.box.err"; return 1
  fi
  if grep -q uffdbox "$name.box.err"; then
    echo "FAIL $name: uffdbox reported:"; cat "$name.box.err"; return 1
  fi
  echo "ok   $name ($(wc -c <"$name.box.out") bytes of output, status $rc2)"
}

export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
git init -q repo && cp words.txt work.py work.pl repo/ && git -C repo add . && git -C repo commit -qm one

fail=0
run_pair python3 python3 work.py || fail=1
run_pair perl perl work.pl || fail=1
run_pair git_log git -C repo log --stat --format=%H%n%an%n%s || fail=1
run_pair git_fsck git -C repo fsck --full --strict || fail=1
run_pair git_gc sh -c 'cp -r repo repo2 && git -C repo2 gc -q && git -C repo2 count-objects -v | grep -v size; rm -rf repo2' || fail=1
run_pair gzip sh -c 'gzip -9 -c words.txt | gzip -dc | sha256sum' || fail=1
run_pair gzip_bytes gzip -6 -c -n words.txt || fail=1
run_pair sort sort -k2,2n -k1,1 words.txt || fail=1
run_pair sort_parallel sort --parallel=2 -S 8M -u words.txt || fail=1
exit $fail
