#!/usr/bin/env python3
# tests/cli/genlog.py N OUT [REGIONS] [THREADS]: a synthetic event log of N
# records (docs/event-log.md) for `uffdbox report` at scale: faults spread
# over REGIONS regions of up to 100,000 pages and THREADS threads, with
# unmaps, write-protect faults and one use-after-unmap and its report.
import sys
n, out = int(sys.argv[1]), sys.argv[2]
regions = int(sys.argv[3]) if len(sys.argv) > 3 else 8
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
kinds = ["missing", "missing", "missing", "wp", "minor"]
res = {"missing": ["zero", "callback", "buffer", "pattern"], "wp": ["unprotect"], "minor": ["zero"]}
with open(out, "w") as f:
    f.write('{"kind":"header","version":1,"uffdbox":"test"}\n')
    for s in range(n):
        r = s % regions
        page = (s * 7919) % 100000 if r == 0 else (s // regions) % 300
        if s == n - 1:
            k, rs, acc = "use-after-unmap", "abort", "read"
        elif s % 1000 == 999:
            k, rs, acc = "unmap", "none", "none"
        else:
            k = kinds[s % len(kinds)]
            rs = res[k][s % len(res[k])]
            acc = "write" if k == "wp" else "read"
        ln = 4096 * 4 if k == "unmap" else 4096
        f.write('{"seq":%d,"kind":"%s","region":%d,"region_name":"r%d<b>","page":%d,"offset":%d,'
                '"len":%d,"access":"%s","thread":%d,"resolution":"%s","digest":"%016x"}\n'
                % (s, k, r, r, page, s % 4096, ln, acc, 1 + s % threads, rs, s * 2654435761 % (1 << 64)))
    f.write('{"kind":"report","bug":"use-after-unmap","access":"read","region_name":"r1","offset":5,'
            '"thread":1,"unmap_seq":0,"unmap_thread":1,"summary":"use-after-unmap READ",'
            '"frames":[{"fn":"victim</script><b>x","module":"t","off":"0x1"}],"unmap_frames":[]}\n')
