#!/usr/bin/env bash
# tests/uau/realprogs.sh UFFDBOX SRCDIR - real Debian programs with heavy
# mapping and heap churn (an interpreter, a compiler, a database shell,
# compressors, git) run plainly and under `uffdbox run`: stdout and output
# files byte-identical, exit statuses equal, and nothing from uffdbox on
# stderr (no report, no warning).  ctest label `realprogs`.
#
# Missing programs are installed with scripts/deps.sh; the test skips
# (exit 77, with the reason) only when that is impossible.
set -u
uffdbox=$1
src=$2
pkgs=(python3 perl gcc sqlite3 gzip xz-utils zstd git)
if ! "$src/scripts/deps.sh" "${pkgs[@]}" >deps.log 2>&1; then
  echo "SKIP: cannot install ${pkgs[*]}: $(tail -3 deps.log)"
  exit 77
fi
if "$uffdbox" run -- true 2>&1 | grep -q "userfaultfd unavailable"; then
  # (a container's seccomp filter: uffdbox run needs a userfaultfd)
  echo "SKIP: $("$uffdbox" run -- true 2>&1 | grep -m1 'userfaultfd unavailable')"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
# Debian's own interpreters, not a pyenv shim (a shell script + fork).
export PATH=/usr/bin:/bin LC_ALL=C PYTHONHASHSEED=0
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid

# Inputs, deterministic.
python3 - <<'PY'
import random
r = random.Random(42)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 12))) for _ in range(5000)]
with open("words.txt", "w") as f:
    for i in range(100000):
        f.write(f"{r.choice(words)} {r.randint(0, 10**6)} {r.choice(words)}\n")
# A C file large enough to make cc1 churn: many functions, a big table.
with open("big.c", "w") as f:
    f.write("#include <stdio.h>\n#include <string.h>\n")
    f.write("static const unsigned tab[] = {" + ",".join(str(r.randint(0, 1 << 30)) for _ in range(10000)) + "};\n")
    for i in range(150):
        f.write(f"int f{i}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += (int)(tab[(k * {i + 7}) % 10000] ^ (unsigned)k) % {i + 3}; return s; }}\n")
    f.write("int main(void) { long t = 0;\n")
    for i in range(150):
        f.write(f"  t += f{i}({i % 50});\n")
    f.write('  printf("%ld\\n", t); return 0; }\n')
PY
cat >work.py <<'PY'
import collections, hashlib, json, re, sqlite3, zlib
data = open("words.txt").read().split("\n")
counts = collections.Counter(w for line in data for w in line.split()[:1])
big = [{"w": w, "n": n, "sq": [i * i for i in range(n % 50)]} for w, n in counts.most_common()]
blob = json.dumps(big, sort_keys=True).encode()
bufs = []
for i in range(200):  # large blocks: mapped on their own by malloc, freed
    b = bytearray((i % 7 + 1) << 18)
    b[::4096] = bytes([i % 251]) * len(b[::4096])
    bufs.append(hashlib.sha1(b).hexdigest())
    if len(bufs) > 8:
        bufs.pop(0)
grow = bytearray()
for i in range(40):  # grown by realloc: mremap of a mapped block
    grow += bytes(1 << 20)
z = zlib.compress(blob, 9)
print(len(counts), hashlib.sha256(blob).hexdigest(), len(z), bufs[-1], len(grow))
print(sorted(re.findall(r"\b\w{11}\b", " ".join(data[:20000])))[:5])
PY
cat >work.pl <<'PL'
my %h; my $n = 0;
open my $f, "<", "words.txt" or die;
while (<$f>) { my @w = split; $h{$w[2]} += $w[1]; $n++; }
my @top = (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0..9];
print "$n lines\n"; print "$_ $h{$_}\n" for @top;
for my $i (1..50) { my $s = "y" x ($i << 18); $n += length($s); }
my $s = "x" x (32 << 20); print length($s), " $n\n";
PL
cat >work.sql <<'SQL'
PRAGMA cache_size = -65536;
CREATE TABLE w(a TEXT, n INTEGER, b TEXT);
.mode csv
.separator " "
.import words.txt w
CREATE INDEX wn ON w(n);
CREATE INDEX wa ON w(a, b);
SELECT count(*), sum(n), max(length(a || b)) FROM w;
SELECT a, count(*) AS c, sum(n) FROM w GROUP BY a ORDER BY c DESC, a LIMIT 10;
SELECT b, n FROM w WHERE n BETWEEN 500000 AND 500100 ORDER BY n, b;
CREATE TABLE j AS SELECT x.a, y.b FROM (SELECT * FROM w LIMIT 1500) x JOIN (SELECT * FROM w LIMIT 1500) y ON x.n % 97 = y.n % 97;
SELECT count(*) FROM j;
VACUUM;
SQL

fail=0
# name, then the command; $name.plain/ and $name.box/ hold each run's files.
run_pair() {
  local name=$1; shift
  local d
  for side in plain box; do
    d=$name.$side
    mkdir -p "$d" && cp words.txt work.py work.pl work.sql big.c "$d"/
    if [ $side = plain ]; then
      (cd "$d" && "$@" >../$d.out 2>../$d.err); echo $? >$d.rc
    else
      (cd "$d" && "$uffdbox" run -- "$@" >../$d.out 2>../$d.err); echo $? >$d.rc
    fi
  done
  local rc1 rc2
  rc1=$(cat $name.plain.rc); rc2=$(cat $name.box.rc)
  if [ "$rc1" != "$rc2" ] || ! cmp -s $name.plain.out $name.box.out; then
    echo "FAIL $name: status $rc1 plain, $rc2 under uffdbox, or stdout differs"
    diff $name.plain.out $name.box.out | head; head -40 $name.box.err; fail=1; return
  fi
  # (git's index holds timestamps and inode numbers: not compared)
  if ! diff -r -q -x index $name.plain $name.box >/dev/null; then
    echo "FAIL $name: the files it wrote differ"; diff -r -q -x index $name.plain $name.box | head; fail=1; return
  fi
  if grep -q uffdbox $name.box.err; then
    echo "FAIL $name: uffdbox wrote on stderr:"; head -60 $name.box.err; fail=1; return
  fi
  [ "$rc1" = 0 ] || { echo "FAIL $name: exit status $rc1 on both sides"; head $name.plain.err; fail=1; return; }
  echo "ok   $name ($(wc -c <$name.box.out) bytes of output, status $rc2)"
}

run_pair python3 python3 work.py
run_pair perl perl work.pl
# the compiler: cc1 at -O2 on a large file, then the program it made
run_pair gcc sh -c 'gcc -O2 -o big big.c && ./big && sha256sum big.c'
run_pair sqlite3 sh -c 'sqlite3 db.sqlite <work.sql && sqlite3 db.sqlite "PRAGMA integrity_check"'
run_pair gzip sh -c 'gzip -9 -n -c words.txt >w.gz && gzip -dc w.gz | sha256sum && sha256sum w.gz'
run_pair xz sh -c 'head -c 600000 words.txt >part && xz -6 -T1 -c part >w.xz && xz -dc w.xz | sha256sum && sha256sum w.xz'
run_pair zstd sh -c 'head -c 600000 words.txt >part && zstd -q -19 --long=27 -c part >w.zst && zstd -q -dc --long=27 w.zst | sha256sum && sha256sum w.zst'
run_pair git sh -c 'git -c init.defaultBranch=main init -q r && cp words.txt work.py big.c r/ && git -C r add . && git -C r commit -qm one && sed -i s/a/b/g r/words.txt && git -C r commit -qam two && git -C r gc -q && git -C r fsck --full --strict && git -C r log -p --stat | sha256sum && git -C r count-objects -v | grep -v size'
exit $fail
