#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora corpus/msg and corpus/fsm (deterministic).

    python3 fuzz/gen_corpus.py [REPO_ROOT]

Seeds are small, named after what they reach, and together reach every
event kind, note, page state, fault kind, verdict and action (see
docs/fuzzing.md).  The input format of fuzz_fsm is described at the top of
fuzz/fuzz_fsm.c; the encoders below mirror its decoder.
"""
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")

PF, FORK, REMAP, REMOVE, UNMAP = 0x12, 0x13, 0x14, 0x15, 0x16
BASE, UNIT = 0x10000000, 4096


def rec(code, payload=b"", r1=0, r2=0, r3=0):
    payload = payload.ljust(24, b"\0")
    assert len(payload) == 24
    return struct.pack("<BBHI", code, r1, r2, r3) + payload


def pf(flags, addr, ptid=0, tail=0):
    return rec(PF, struct.pack("<QQII", flags, addr, ptid, tail))


def fork(fd, tail=b""):
    return rec(FORK, struct.pack("<i", fd) + tail)


def remap(a, b, n):
    return rec(REMAP, struct.pack("<QQQ", a, b, n))


def remove(s, e, tail=0, code=REMOVE):
    return rec(code, struct.pack("<QQQ", s, e, tail))


MSG = {
    "pf-read": pf(0, 0x7f0000001000, 4242),
    "pf-write": pf(1, 0x7f0000002000),
    "pf-wp": pf(3, 0x7f0000003000),
    "pf-minor-read": pf(4, 0x7f0000004000),
    "pf-minor-write": pf(5, 0x7f0000005000),
    "pf-exact-address": pf(1, 0x7f0000005abc),
    "pf-unknown-flags": pf(0x8 | 0x100 | 1, 0x7f0000006000),
    "pf-flagmix-wp-minor": pf(7, 0x7f0000007000),
    "pf-flagmix-wp-read": pf(2, 0x7f0000008000),
    "pf-tail": pf(0, 0x7f0000009000, 0, 0xdeadbeef),
    "pf-extreme-address": pf(1, 0xFFFFFFFFFFFFFFFF),
    "pf-zero-address": pf(0, 0),
    "fork": fork(7),
    "fork-negative-fd": fork(-1),
    "fork-tail": fork(9, b"\1"),
    "remap": remap(0x7f0000000000, 0x7f1000000000, 0x10000),
    "remap-wraps": remap(0xFFFFFFFFFFFF0000, 0x1000, 0x20000),
    "remap-empty": remap(0x1000, 0x2000, 0),
    "remove": remove(0x7f0000000000, 0x7f0000004000),
    "remove-inverted": remove(0x7f0000004000, 0x7f0000000000),
    "remove-tail": remove(0x1000, 0x2000, 1),
    "unmap": remove(0x7f0000000000, 0x7f0000010000, code=UNMAP),
    "unmap-unaligned": remove(0x7f0000000123, 0x7f0000010456, code=UNMAP),
    "unknown-event-0x17": rec(0x17, bytes(range(1, 25))),
    "unknown-event-0x00": rec(0x00),
    "unknown-event-0xff": rec(0xFF, b"\xff" * 24, 0xFF, 0xFFFF, 0xFFFFFFFF),
    "reserved1": rec(PF, struct.pack("<QQ", 0, 0x1000), r1=1),
    "reserved2": rec(FORK, struct.pack("<i", 3), r2=0x100),
    "reserved3": rec(REMAP, struct.pack("<QQQ", 0, 0x1000, 0x1000), r3=1),
    "short-empty": b"",
    "short-1": b"\x12",
    "short-31": pf(0, 0x1000)[:31],
    "record-plus-1": pf(0, 0x1000) + b"\x13",
    "batch-3": pf(1, 0x1000) + fork(5) + remove(0x1000, 0x3000),
    "batch-3-fragment": remap(0x1000, 0x9000, 0x1000) + remove(0, 0x1000, code=UNMAP)
    + pf(4, 0x2000) + b"\x12\0\0",
    "batch-5-nospc": pf(0, 0x1000) + pf(1, 0x2000) + pf(3, 0x3000) + pf(4, 0x4000) + rec(0x40),
}

# --- fuzz_fsm programs ------------------------------------------------------
(ADD, RELEASE, QUAR, FAULT, FAULT_RAW, ACTION, REMOVE_OP, UNMAP_OP, REMAP_OP, MSG_OP,
 ADD_RAW, CHECK, REMAP_RAW, CLAIM, LAND) = range(15)
COPY, ZEROPAGE, CONTINUE, PROTECT, UNPROTECT, POISON, MOVE, WAKE = range(8)
M_WP, M_MARKERS = 1, 2


def u8(*v):
    return bytes(x & 0xFF for x in v)


def u16(v):
    return struct.pack("<H", v)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def add(unit, pages, shift13=False, gb=0, ga=0, caller=False):
    fl = (1 if shift13 else 0) | (gb << 1) | (ga << 3) | (0x20 if caller else 0)
    return u8(ADD, unit, fl, pages)


def add_shift(unit, pages, shift):
    return u8(ADD, unit, 0x40, pages, shift)


def add_raw(start, pages, fl=0, gb=None, ga=None):
    out = u8(ADD_RAW) + u64(start) + u8(fl | (0x40 if gb is not None else 0), pages)
    if gb is not None:
        out += u8(0x80 | 12) + u64(gb) + u64(ga)
    return out


def fault(unit, flags, off=0):
    return u8(FAULT) + u16(((8 + unit) * UNIT + off) // 32) + u8(flags)


def fault_raw(addr, flags):
    return u8(FAULT_RAW) + u64(addr) + u64(flags)


# result selectors: 0 = full, 3|k<<3 = k pages, 4 = -EEXIST, 5|e<<3 = -e, 6 = odd bytes
def action(op, dst, pages, src=0, mode=0, sel=0, tweak=0):
    return u8(ACTION, op, mode, dst, pages, src, tweak, sel)


# claim selectors: bit 0 write, 2 use the last classification (stale),
# 4 bend the page, 8 bend the state, 16 do not remember this one
def claim(unit, sel=0, off=0):
    return u8(CLAIM) + u16(((8 + unit) * UNIT + off) // 32) + u8(sel)


def land(unit, op, mode=0, sel=0):
    return u8(LAND) + u16(((8 + unit) * UNIT) // 32) + u8(op, mode, sel)


def rng(op, start_unit, end_unit, tweak=0):
    s = (8 + start_unit) * UNIT // 64
    return u8(op) + u16(s) + u16((end_unit - start_unit) * UNIT // 64) + u8(tweak)


def remap_op(frm, to, pages):
    return u8(REMAP_OP, frm, to, pages)


def msg_op(r):
    assert len(r) == 32
    return u8(MSG_OP) + r


def addr(unit, off=0):
    return BASE + unit * UNIT + off


def check():
    return u8(CHECK)


FSM = {
    "lifecycle": add(16, 8, gb=1, ga=1) + check() + fault(16, 0) + u8(QUAR, 0) + fault(17, 1)
    + u8(RELEASE, 0) + fault(17, 0) + u8(RELEASE, 0) + check(),
    "missing-read-write": add(16, 8) + fault(16, 0) + fault(17, 1, 100)
    + action(COPY, 16, 1) + fault(16, 0) + action(ZEROPAGE, 17, 1) + fault(17, 1) + check(),
    "wp": add(16, 8) + action(COPY, 16, 2, mode=M_WP) + fault(16, 3) + action(UNPROTECT, 16, 1)
    + fault(16, 3) + action(PROTECT, 16, 2) + fault(17, 1) + check(),
    "wp-unpopulated": add(16, 8) + action(PROTECT, 18, 2, mode=M_MARKERS) + fault(18, 3)
    + fault(19, 0) + action(COPY, 18, 1, mode=M_WP) + action(UNPROTECT, 19, 1) + check(),
    "minor": add(32, 4, caller=True) + fault(32, 4) + fault(33, 5) + action(CONTINUE, 32, 1)
    + action(CONTINUE, 33, 1, mode=M_WP) + fault(33, 4) + fault(33, 3) + check(),
    "poison": add(16, 4) + action(POISON, 18, 1) + fault(18, 0) + fault(18, 3)
    + action(COPY, 18, 1) + check(),
    "remove": add(16, 8) + action(COPY, 16, 4) + rng(REMOVE_OP, 17, 19) + fault(17, 0)
    + fault(18, 3) + msg_op(remove(addr(16), addr(16, 100))) + check(),
    "unmap": add(16, 8) + action(COPY, 16, 8) + rng(UNMAP_OP, 18, 20) + fault(18, 0)
    + msg_op(remove(addr(22), addr(24), code=UNMAP)) + fault(23, 1) + rng(REMOVE_OP, 16, 24)
    + check(),
    "remap-whole": add(16, 4, gb=1, ga=1) + action(COPY, 16, 2) + remap_op(16, 100, 4)
    + fault(100, 0) + fault(16, 0) + fault(104, 1) + check(),
    "remap-partial": add(16, 8) + add(64, 8) + action(COPY, 16, 2, mode=M_WP) + remap_op(16, 64, 2)
    + fault(16, 0) + fault(64, 3) + msg_op(remap(addr(20), addr(120), 2 * UNIT)) + check(),
    "remap-errors": add(16, 8) + add(40, 4) + remap_op(16, 40, 8) + remap_op(16, 17, 2)
    + u8(REMAP_RAW) + u64(addr(16)) + u64(addr(100) + 1) + u64(UNIT) + remap_op(20, 90, 8)
    + check(),
    "move": add(16, 8) + add(64, 8) + action(COPY, 64, 2) + action(MOVE, 16, 2, src=64)
    + fault(16, 1) + fault(64, 0) + action(MOVE, 18, 2, src=17) + check(),
    "guard": add(16, 4, gb=2, ga=3) + fault(15, 0) + fault(14, 1, 4095) + fault(20, 0)
    + fault(22, 5) + fault(23, 0) + check(),
    "results": add(16, 8) + action(COPY, 16, 4, sel=3 | (2 << 3)) + action(COPY, 20, 2, sel=4)
    + action(ZEROPAGE, 22, 2, sel=5 | (2 << 3)) + action(COPY, 22, 2, sel=6 | (9 << 3))
    + action(WAKE, 16, 8) + action(PROTECT, 16, 8, sel=5 | (11 << 3)) + check(),
    "shift13": add(16, 4, shift13=True) + add(17, 4, shift13=True) + add(24, 4, shift13=True)
    + fault(25, 0) + action(COPY, 24, 2) + action(COPY, 26, 1) + rng(REMOVE_OP, 25, 26) + check(),
    "shift-option": add_shift(16, 2, 0) + add_shift(32, 2, 11) + add_shift(64, 1, 21)
    + add_shift(64, 1, 31) + check(),
    "add-errors": add(16, 0) + add(16, 4) + add(18, 4) + add(19, 4, gb=1) + add(20, 4, gb=1)
    + u8(RELEASE, 9) + u8(RELEASE, 0xFF) + u8(QUAR, 5) + check(),
    "table-full": b"".join(add(10 * i, 2) for i in range(9)) + check()
    + u8(RELEASE, 3) + add(31, 1) + check(),
    "extremes": add_raw(0xFFFFFFFFFFFFF000, 1) + add_raw(0xFFFFFFFFFFFFE000, 1)
    + add_raw(0, 1, gb=1, ga=0) + add_raw(0x1000, 2, gb=1, ga=0) + add_raw(0x1000, 2, 0x80)
    + add_raw(0x8000, 1, gb=0, ga=0xFFFFFFFFFFFFFFFF) + fault_raw(0xFFFFFFFFFFFFEFFF, 1)
    + fault_raw(0, 0) + fault_raw(0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
    + u8(REMAP_RAW) + u64(0xFFFFFFFFFFFFE000) + u64(0x100000000) + u64(0x1000) + check(),
    "apply-errors": add(16, 8) + action(9, 16, 1) + action(COPY, 16, 1, mode=4)
    + action(COPY, 16, 0) + action(COPY, 200, 1) + action(COPY, 23, 4) + action(COPY, 16, 1, tweak=1)
    + action(PROTECT, 20, 2, mode=M_MARKERS) + action(ZEROPAGE, 20, 1, sel=4)
    + action(MOVE, 16, 2, src=17) + remap_op(200, 16, 1) + check(),
    "claims": add(16, 8) + claim(16) + claim(16, 2) + claim(16, 1) + fault(16, 0)
    + land(16, COPY) + claim(16) + fault(16, 0) + claim(17, 1) + land(17, COPY, sel=5 | (11 << 3))
    + claim(17) + land(17, ZEROPAGE, sel=4) + check(),
    "claims-wp": add(16, 8) + action(COPY, 16, 2, mode=M_WP) + claim(16, 1) + claim(16, 3)
    + land(16, UNPROTECT) + claim(16, 1) + action(PROTECT, 18, 2, mode=M_MARKERS) + claim(18, 1)
    + claim(19, 0) + land(19, COPY, mode=M_WP) + claim(20, 4 | (1 << 5)) + claim(20, 8 | (9 << 4))
    + u8(QUAR, 0) + claim(18, 2) + land(18, COPY) + check(),
    "messages": add(16, 8) + msg_op(pf(1, addr(16, 8))) + msg_op(pf(0x41, addr(17)))
    + msg_op(fork(3)) + msg_op(rec(0x17)) + msg_op(remap(addr(16), addr(200), UNIT))
    + msg_op(remove(addr(19), addr(18))) + check(),
}


def write(dirname, seeds):
    d = os.path.join(ROOT, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("msg", MSG)
write("fsm", FSM)
print(f"corpus/msg: {len(MSG)} seeds, corpus/fsm: {len(FSM)} seeds")
