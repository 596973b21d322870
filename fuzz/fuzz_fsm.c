/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_fsm.c - the state machine against a naive reference model.
 *
 * The input is a program: a sequence of operations (region add / release /
 * quarantine, faults, handler actions, kernel events, raw 32-byte messages,
 * full checks), each an opcode byte and its argument bytes (missing bytes
 * read as 0); at most MAX_OPS of them, so that an execution stays cheap.  Each operation runs on the real state machine and on the
 * reference below, which is written to be obviously right rather than fast:
 * a flat array of page states per region, linear scans instead of a sorted
 * table, 128-bit arithmetic instead of overflow builtins, if-chains instead
 * of tables.  Any difference in a return value, a classified fault, a
 * region's geometry or a page's state aborts.
 *
 * Addresses mostly fall in a 1 MiB window (units of 4 KiB) so that regions
 * meet; "raw" variants take any 64-bit value, to reach the edges of the
 * address space.  A plain region add always decodes to a region the machine
 * can take (1..48 pages, aligned to its page size); the raw add reaches the
 * errors.
 *
 * A page byte of the model holds the state (low 3 bits) and REF_BUSY while
 * a claim (uffdbox_fsm_claim) holds it, as the machine's does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox/common.h>
#include <uffdbox/fsm.h>
#include <uffdbox/msg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXR	 8  /* regions */
#define MAXP	 48 /* pages a region may have here */
#define MAX_OPS	 64 /* operations run per input; the rest is ignored */
#define BASE	 0x10000000ull
#define UNIT	 4096ull
#define U128_TOP ((unsigned __int128)1 << 64)

typedef unsigned __int128 u128;

static unsigned int opno;

#define FUZZ_NAME "fuzz_fsm"
#define FUZZ_OP	  ((long)opno) /* the operation being run */
#include "fuzz_util.h"

/* --- the reference model ------------------------------------------------------ */

struct ref_region {
	bool used, quarantined;
	uint64_t start, pages, gb, ga;
	unsigned int shift;
	u128 lo, hi, end; /* extent [lo, hi) and body end: ref_geom() */
	uint8_t st[MAXP];
};

static struct ref_region ref[MAXR];

#define REF_BUSY 0x08u

NO_COV static uint64_t psz(const struct ref_region *r)
{
	return 1ull << r->shift;
}

/* The extent and the body end, in 128 bits, from start, pages, guards and
 * shift: recomputed whenever those change, read by every lookup. */
NO_COV static void ref_geom(struct ref_region *r)
{
	r->lo = (u128)r->start - (u128)r->gb * psz(r);
	r->hi = (u128)r->start + ((u128)r->pages + r->ga) * psz(r);
	r->end = (u128)r->start + (u128)r->pages * psz(r);
}

NO_COV static u128 ext_lo(const struct ref_region *r)
{
	return r->lo;
}

NO_COV static u128 ext_hi(const struct ref_region *r)
{
	return r->hi;
}

NO_COV static u128 bend(const struct ref_region *r)
{
	return r->end;
}

/* the region whose body holds @a, or -1 */
NO_COV static int ref_body(uint64_t a)
{
	for (int i = 0; i < MAXR; i++)
		if (ref[i].used && a >= ref[i].start && a < bend(&ref[i]))
			return i;
	return -1;
}

NO_COV static int ref_extent(uint64_t a)
{
	for (int i = 0; i < MAXR; i++)
		if (ref[i].used && a >= ext_lo(&ref[i]) && a < ext_hi(&ref[i]))
			return i;
	return -1;
}

NO_COV static int ref_add(uint64_t start, uint64_t pages, unsigned int shift, uint64_t gb,
			  uint64_t ga)
{
	if (shift == 0)
		shift = 12;
	if (pages == 0 || shift < 12 || shift > 30 || start % (1ull << shift))
		return -EINVAL;
	u128 ps = (u128)1 << shift;
	/* (gb * ps can exceed 2^64: compare in 128 bits, no wrap) */
	if ((u128)gb * ps > start || (u128)start + ((u128)pages + ga) * ps >= U128_TOP)
		return -EOVERFLOW;
	int n = 0, slot = -1;
	for (int i = 0; i < MAXR; i++) {
		if (ref[i].used)
			n++;
		else if (slot < 0)
			slot = i;
	}
	if (n == MAXR)
		return -ENOSPC;
	u128 lo = start - (u128)gb * ps, hi = (u128)start + ((u128)pages + ga) * ps;
	for (int i = 0; i < MAXR; i++)
		if (ref[i].used && lo < ext_hi(&ref[i]) && ext_lo(&ref[i]) < hi)
			return -EEXIST;
	if (pages > MAXP)
		abort(); /* the decoder never asks for more */
	memset(&ref[slot], 0, sizeof(ref[slot]));
	ref[slot].used = true;
	ref[slot].start = start;
	ref[slot].pages = pages;
	ref[slot].shift = shift;
	ref[slot].gb = gb;
	ref[slot].ga = ga;
	ref_geom(&ref[slot]);
	return slot;
}

NO_COV static bool ref_slot_ok(int r)
{
	return r >= 0 && r < MAXR && ref[r].used;
}

NO_COV static int ref_quarantine(int r)
{
	if (!ref_slot_ok(r))
		return -ENOENT;
	int c = 0;
	for (uint64_t i = 0; i < ref[r].pages; i++) {
		if ((ref[r].st[i] & 7) != UFFDBOX_PAGE_QUARANTINED)
			c++;
		ref[r].st[i] = UFFDBOX_PAGE_QUARANTINED;
	}
	ref[r].quarantined = true;
	return c;
}

NO_COV static int ref_release(int r)
{
	if (!ref_slot_ok(r))
		return -ENOENT;
	ref[r].used = false;
	return 0;
}

NO_COV static int verdict_for(unsigned int st, uint64_t flags)
{
	bool wp = flags & 2, minor = !wp && (flags & 4), missing = !wp && !minor;

	if (st == UFFDBOX_PAGE_GUARD)
		return UFFDBOX_VERDICT_GUARD;
	if (st == UFFDBOX_PAGE_QUARANTINED)
		return UFFDBOX_VERDICT_USE_AFTER_UNMAP;
	if (st == UFFDBOX_PAGE_POISONED)
		return UFFDBOX_VERDICT_POISONED;
	if (st == UFFDBOX_PAGE_WP_UNPOPULATED)
		return UFFDBOX_VERDICT_ORDINARY;
	if (st == UFFDBOX_PAGE_POPULATED)
		return UFFDBOX_VERDICT_SPURIOUS;
	if (st == UFFDBOX_PAGE_WP)
		return wp ? UFFDBOX_VERDICT_ORDINARY : UFFDBOX_VERDICT_SPURIOUS;
	/* UNPOPULATED, REMOVED */
	return (missing || minor) ? UFFDBOX_VERDICT_ORDINARY : UFFDBOX_VERDICT_SPURIOUS;
}

NO_COV static void ref_classify(uint64_t a, uint64_t flags, struct uffdbox_fault *o)
{
	memset(o, 0, sizeof(*o));
	o->addr = a;
	bool w = flags & 1;
	if (flags & 2)
		o->kind = UFFDBOX_FAULT_WP;
	else if (flags & 4)
		o->kind = w ? UFFDBOX_FAULT_MINOR_WRITE : UFFDBOX_FAULT_MINOR_READ;
	else
		o->kind = w ? UFFDBOX_FAULT_MISSING_WRITE : UFFDBOX_FAULT_MISSING_READ;
	int r = ref_extent(a);
	if (r < 0) {
		o->region = -1;
		o->zone = UFFDBOX_ZONE_OUTSIDE;
		o->state = UFFDBOX_PAGE_UNPOPULATED;
		o->verdict = UFFDBOX_VERDICT_OUTSIDE;
		return;
	}
	const struct ref_region *R = &ref[r];
	uint64_t ps = psz(R);
	o->region = r;
	if (a < R->start) {
		o->zone = UFFDBOX_ZONE_GUARD_BEFORE;
		o->page = (R->start - a - 1) / ps;
		o->page_addr = R->start - (o->page + 1) * ps;
		o->state = UFFDBOX_PAGE_GUARD;
	} else if (a >= bend(R)) {
		o->zone = UFFDBOX_ZONE_GUARD_AFTER;
		o->page = (uint64_t)(a - bend(R)) / ps; /* (< 2^64: a is) */
		o->page_addr = (uint64_t)(bend(R) + (u128)o->page * ps);
		o->state = UFFDBOX_PAGE_GUARD;
	} else {
		o->zone = UFFDBOX_ZONE_BODY;
		o->page = (a - R->start) / ps;
		o->page_addr = R->start + o->page * ps;
		o->state = R->st[o->page] & 7;
	}
	o->offset = a - o->page_addr;
	if (o->zone == UFFDBOX_ZONE_BODY && (R->st[o->page] & REF_BUSY))
		o->verdict = UFFDBOX_VERDICT_BUSY;
	else
		o->verdict = (uint8_t)verdict_for(o->state, flags);
}

/* A signal's fault: a write to a page known protected is a WP fault. */
NO_COV static void ref_classify_sigbus(uint64_t a, bool write, struct uffdbox_fault *o)
{
	ref_classify(a, write ? 1 : 0, o);
	if (write && o->zone == UFFDBOX_ZONE_BODY && o->verdict != UFFDBOX_VERDICT_BUSY &&
	    (o->state == UFFDBOX_PAGE_WP || o->state == UFFDBOX_PAGE_WP_UNPOPULATED))
		ref_classify(a, 3, o);
}

/* Take the page of @f if it is still in @f->state and not claimed. */
NO_COV static int ref_claim(const struct uffdbox_fault *f)
{
	if (f->zone != UFFDBOX_ZONE_BODY || f->state > 7)
		return -EINVAL;
	int r = f->region;
	if (r < 0 || r >= MAXR || !ref[r].used || f->page >= ref[r].pages ||
	    (u128)ref[r].start + (u128)f->page * psz(&ref[r]) != f->page_addr)
		return -ENOENT;
	if (ref[r].st[f->page] != f->state)
		return 0; /* changed, or claimed */
	ref[r].st[f->page] |= REF_BUSY;
	return 1;
}

/* A claim on pages [i0, i1) of @R given up, states unchanged. */
NO_COV static void ref_unclaim(struct ref_region *R, uint64_t i0, uint64_t i1)
{
	for (uint64_t i = i0; i < i1; i++)
		R->st[i] &= 7;
}

/* set a page (a claim on it ends); 1 if its state changed */
NO_COV static int ref_set(struct ref_region *R, uint64_t i, uint8_t v)
{
	int changed = (R->st[i] & 7) != v;
	R->st[i] = v;
	return changed;
}

NO_COV static int ref_apply(const struct uffdbox_fsm_action *a)
{
	if (a->op > UFFDBOX_FSM_WAKE || (a->mode & ~3u))
		return -EINVAL;
	if (a->len == 0)
		return 0;
	int r = ref_body(a->addr);
	if (r < 0)
		return -ENOENT;
	struct ref_region *R = &ref[r];
	uint64_t ps = psz(R);
	if (a->addr % ps || a->len % ps)
		return -EINVAL;
	if ((u128)a->addr + a->len > bend(R))
		return -ERANGE;
	if (a->op == UFFDBOX_FSM_MOVE) {
		if (a->src % ps || (u128)a->src + a->len >= U128_TOP)
			return -EINVAL;
		if (a->src < (u128)a->addr + a->len && a->addr < (u128)a->src + a->len)
			return -EINVAL;
	}
	uint64_t first = (a->addr - R->start) / ps, n = a->len / ps;
	bool fill = a->op == UFFDBOX_FSM_COPY || a->op == UFFDBOX_FSM_ZEROPAGE ||
		    a->op == UFFDBOX_FSM_CONTINUE || a->op == UFFDBOX_FSM_POISON ||
		    a->op == UFFDBOX_FSM_MOVE;
	if (a->op == UFFDBOX_FSM_WAKE)
		return 0;
	if (a->result < 0) {
		if (a->result != -EEXIST || !fill) {
			ref_unclaim(R, first, first + n);
			return 0;
		}
		ref_unclaim(R, first + 1, first + n);
		uint8_t s = R->st[first] & 7;
		if (s == UFFDBOX_PAGE_UNPOPULATED || s == UFFDBOX_PAGE_REMOVED)
			return ref_set(R, first, UFFDBOX_PAGE_POPULATED);
		if (s == UFFDBOX_PAGE_WP_UNPOPULATED)
			return ref_set(R, first, UFFDBOX_PAGE_WP);
		return ref_set(R, first, s);
	}
	uint64_t done =
		fill ? ((uint64_t)a->result > a->len ? a->len : (uint64_t)a->result) / ps : n;
	int c = 0;
	ref_unclaim(R, first + done, first + n);
	for (uint64_t i = first; i < first + done; i++) {
		uint8_t s = R->st[i] & 7, v = s;
		if (s == UFFDBOX_PAGE_QUARANTINED) {
			ref_set(R, i, s);
			continue;
		}
		switch (a->op) {
		case UFFDBOX_FSM_COPY:
		case UFFDBOX_FSM_CONTINUE:
			v = (a->mode & 1) ? UFFDBOX_PAGE_WP : UFFDBOX_PAGE_POPULATED;
			break;
		case UFFDBOX_FSM_ZEROPAGE:
		case UFFDBOX_FSM_MOVE:
			v = UFFDBOX_PAGE_POPULATED;
			break;
		case UFFDBOX_FSM_POISON:
			v = UFFDBOX_PAGE_POISONED;
			break;
		case UFFDBOX_FSM_PROTECT:
			if (s == UFFDBOX_PAGE_POPULATED)
				v = UFFDBOX_PAGE_WP;
			else if ((a->mode & 2) &&
				 (s == UFFDBOX_PAGE_UNPOPULATED || s == UFFDBOX_PAGE_REMOVED))
				v = UFFDBOX_PAGE_WP_UNPOPULATED;
			break;
		case UFFDBOX_FSM_UNPROTECT:
			if (s == UFFDBOX_PAGE_WP)
				v = UFFDBOX_PAGE_POPULATED;
			else if (s == UFFDBOX_PAGE_WP_UNPOPULATED)
				v = UFFDBOX_PAGE_UNPOPULATED;
			break;
		}
		c += ref_set(R, i, v);
	}
	if (a->op == UFFDBOX_FSM_MOVE) {
		for (uint64_t i = 0; i < done; i++) {
			uint64_t s = a->src + i * ps;
			int sr = ref_body(s);
			if (sr < 0)
				continue;
			uint64_t pi = (s - ref[sr].start) / psz(&ref[sr]);
			if ((ref[sr].st[pi] & 7) != UFFDBOX_PAGE_QUARANTINED)
				c += ref_set(&ref[sr], pi, UFFDBOX_PAGE_REMOVED);
			else
				ref_set(&ref[sr], pi, UFFDBOX_PAGE_QUARANTINED);
		}
	}
	return c;
}

NO_COV static int ref_range(uint64_t start, uint64_t end, uint8_t v)
{
	if (start > end)
		return -EINVAL;
	int c = 0;
	for (int r = 0; r < MAXR; r++) {
		if (!ref[r].used || !(ref[r].start < end && bend(&ref[r]) > start))
			continue;
		for (uint64_t i = 0; i < ref[r].pages; i++) {
			u128 pa = (u128)ref[r].start + (u128)i * psz(&ref[r]);
			if (!(pa < end && pa + psz(&ref[r]) > start))
				continue;
			if (v == UFFDBOX_PAGE_REMOVED &&
			    (ref[r].st[i] & 7) == UFFDBOX_PAGE_QUARANTINED) {
				ref_set(&ref[r], i, UFFDBOX_PAGE_QUARANTINED);
				continue;
			}
			c += ref_set(&ref[r], i, v);
		}
	}
	return c;
}

NO_COV static int ref_remap(uint64_t from, uint64_t to, uint64_t len)
{
	if (len == 0)
		return 0;
	if ((u128)from + len >= U128_TOP || (u128)to + len >= U128_TOP)
		return -EINVAL;
	if (from < (u128)to + len && to < (u128)from + len)
		return -EINVAL;
	int r = ref_body(from);
	if (r < 0)
		return 0;
	struct ref_region *R = &ref[r];
	uint64_t ps = psz(R);
	if (from % ps || to % ps || len % ps)
		return -EINVAL;
	if ((u128)from + len > bend(R))
		return -ERANGE;
	uint64_t n = len / ps;
	if (from == R->start && n == R->pages) {
		for (int i = 0; i < MAXR; i++)
			if (i != r && ref[i].used && to < ext_hi(&ref[i]) &&
			    ext_lo(&ref[i]) < (u128)to + len)
				return -EEXIST;
		R->start = to;
		R->gb = R->ga = 0;
		ref_geom(R);
		return (int)n;
	}
	uint8_t moved[MAXP];
	uint64_t first = (from - R->start) / ps;
	memcpy(moved, &R->st[first], n);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = to + i * ps;
		int dr = ref_body(d);
		if (dr >= 0 && ref[dr].shift == R->shift)
			ref[dr].st[(d - ref[dr].start) / ps] = moved[i] & 7;
	}
	for (uint64_t i = 0; i < n; i++)
		R->st[first + i] = UFFDBOX_PAGE_QUARANTINED;
	return (int)n;
}

/* --- the program --------------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n;
};

NO_COV static uint8_t rd8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

NO_COV static uint16_t rd16(struct in *in)
{
	return (uint16_t)(rd8(in) | rd8(in) << 8);
}

NO_COV static uint64_t rd64(struct in *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)rd8(in) << (8 * i);
	return v;
}

NO_COV static uint64_t unit_addr(uint8_t u)
{
	return BASE + u * UNIT;
}

static struct uffdbox_fsm *fsm;
static _Alignas(8) uint8_t fsm_mem[8192];
static uint8_t storage[MAXR][MAXP]; /* caller-owned page storage */

/* The last state a full check_all() verified, in this input: the machine's
 * memory, the caller-owned page storage and the reference model. */
static bool snap_ok;
static size_t fsm_len; /* uffdbox_fsm_size(MAXR) */
static _Alignas(8) uint8_t snap_mem[sizeof(fsm_mem)];
static uint8_t snap_storage[MAXR][MAXP];
static struct ref_region snap_ref[MAXR];

NO_COV static void same_fault(const struct uffdbox_fault *a, const struct uffdbox_fault *b)
{
	FUZZ_CHECK(a->addr == b->addr);
	FUZZ_CHECK(a->region == b->region);
	FUZZ_CHECK(a->zone == b->zone);
	FUZZ_CHECK(a->kind == b->kind);
	FUZZ_CHECK(a->state == b->state);
	FUZZ_CHECK(a->verdict == b->verdict);
	FUZZ_CHECK(a->page == b->page);
	FUZZ_CHECK(a->page_addr == b->page_addr);
	FUZZ_CHECK(a->offset == b->offset);
}

/* page_states() output against the model's states (claims are not shown) */
NO_COV static bool same_states(const uint8_t *st, const struct ref_region *R)
{
	uint8_t want[MAXP];
	for (uint64_t i = 0; i < R->pages; i++)
		want[i] = R->st[i] & 7;
	return fuzz_same(st, want, R->pages);
}

/* The last fault classified, for claims made on stale classifications. */
static struct uffdbox_fault last_fault;

NO_COV static void fault(uint64_t a, uint64_t flags)
{
	struct uffdbox_fault got, want;
	int v = uffdbox_fsm_classify(fsm, a, flags, &got);
	ref_classify(a, flags, &want);
	FUZZ_CHECK(v == got.verdict);
	same_fault(&got, &want);
	last_fault = got;
}

/* A fault delivered as a signal (no WP flag), then maybe claimed: from
 * this classification, or from the last one (made before whatever ran
 * since), or from one with a field bent out of shape. */
NO_COV static void op_claim(struct in *in)
{
	uint64_t a = BASE - 8 * UNIT + rd16(in) * 32ull;
	uint8_t sel = rd8(in);
	struct uffdbox_fault got, want;
	int v = uffdbox_fsm_classify_sigbus(fsm, a, sel & 1, &got);
	ref_classify_sigbus(a, sel & 1, &want);
	FUZZ_CHECK(v == got.verdict);
	same_fault(&got, &want);
	if (sel & 2)
		got = last_fault;
	if (sel & 4)
		got.page += sel >> 5;
	if (sel & 8)
		got.state = (uint8_t)(sel >> 4);
	if (!(sel & 16))
		last_fault = got;
	int w = ref_claim(&got);
	FUZZ_CHECK(uffdbox_fsm_claim(fsm, &got) == w);
}

/* Is everything check_all() looks at as the last full check verified it?
 * The machine's memory and the caller-owned storage byte for byte, the
 * reference model byte for byte, and the page storage the machine
 * allocated as page_states shows it. */
NO_COV static bool unchanged(void)
{
	if (!snap_ok || !fuzz_same(fsm_mem, snap_mem, fsm_len) ||
	    !fuzz_same(storage, snap_storage, sizeof(storage)) ||
	    !fuzz_same(ref, snap_ref, sizeof(ref)))
		return false;
	for (int r = 0; r < MAXR; r++) {
		uint8_t st[MAXP];
		if (!ref[r].used)
			continue;
		if (uffdbox_fsm_page_states(fsm, r, 0, st, ref[r].pages) != 0 ||
		    !same_states(st, &ref[r]))
			return false;
	}
	return true;
}

/*
 * Compare everything, and probe each region's edges through classify.
 *
 * Every query below is a pure function of the machine's state, and every
 * expected value one of the reference model: when neither changed since
 * the last full check verified them (a check right after a check, or after
 * operations that changed nothing: faults, failed adds, actions and events
 * refused or outside every region...), the check would give the same
 * answers, so it is skipped.  The snapshot is taken before the queries run,
 * so that a query writing to the state shows up as a change at the next
 * check, which then runs in full.
 */
NO_COV static void check_all(void)
{
	unsigned int n = 0;

	if (unchanged())
		return;
	memcpy(snap_mem, fsm_mem, fsm_len);
	memcpy(snap_storage, storage, sizeof(storage));
	memcpy(snap_ref, ref, sizeof(ref));
	snap_ok = true;
	for (int r = 0; r < MAXR; r++) {
		struct uffdbox_fsm_region_info info;
		int ret = uffdbox_fsm_region_info(fsm, r, &info);
		if (!ref[r].used) {
			FUZZ_CHECK(ret == -ENOENT);
			FUZZ_CHECK(uffdbox_fsm_page_state(fsm, r, 0) == -ENOENT);
			continue;
		}
		n++;
		FUZZ_CHECK(ret == 0);
		FUZZ_CHECK(info.start == ref[r].start && info.pages == ref[r].pages);
		FUZZ_CHECK(info.shift == ref[r].shift);
		FUZZ_CHECK(info.guard_before == ref[r].gb && info.guard_after == ref[r].ga);
		FUZZ_CHECK(!!info.quarantined == ref[r].quarantined);
		uint8_t st[MAXP];
		FUZZ_CHECK(uffdbox_fsm_page_states(fsm, r, 0, st, ref[r].pages) == 0);
		FUZZ_CHECK(same_states(st, &ref[r]));
		uint64_t k = ref[r].pages - 1;
		FUZZ_CHECK(uffdbox_fsm_page_state(fsm, r, k) == (ref[r].st[k] & 7));
		FUZZ_CHECK(uffdbox_fsm_page_state(fsm, r, ref[r].pages) == -ERANGE);
		FUZZ_CHECK(uffdbox_fsm_page_states(fsm, r, 1, st, ref[r].pages) == -ERANGE);
		uint64_t lo = (uint64_t)ext_lo(&ref[r]), hi = (uint64_t)(ext_hi(&ref[r]) - 1);
		fault(lo, 0);
		fault(hi, 1);
		fault(ref[r].start, 2);
		fault(lo - 1, 4);
		fault(hi + 1, 5);
	}
	FUZZ_CHECK(uffdbox_fsm_regions(fsm) == n);
	FUZZ_CHECK(uffdbox_fsm_region_info(fsm, MAXR, &(struct uffdbox_fsm_region_info){0}) ==
		   -ENOENT);
}

NO_COV static void op_add(struct in *in, bool raw)
{
	struct uffdbox_fsm_region_opts o = {.sz = sizeof(o)};
	uint8_t fl;

	if (raw) {
		o.start = rd64(in);
		fl = rd8(in);
		if (!(fl & 0x80))
			o.start &= ~0xfffull;
		o.pages = rd8(in) % 48;
	} else {
		/* always a region the machine can take, unless it overlaps
		 * another: 1..MAXP pages, aligned to its page size */
		uint8_t u = rd8(in);
		fl = rd8(in);
		o.start = unit_addr(u) & ~(uint64_t)(fl & 1 ? 2 * UNIT - 1 : UNIT - 1);
		o.pages = 1 + rd8(in) % MAXP;
	}
	o.shift = 12 + (fl & 1);
	o.guard_before = (fl >> 1) & 3;
	o.guard_after = (fl >> 3) & 3;
	if (raw && (fl & 0x40)) {
		uint8_t b = rd8(in);
		o.shift = b & 31; /* 0 (= 12), bad, and big pages */
		if (b & 0x80) {
			o.guard_before = rd64(in);
			o.guard_after = rd64(in);
		}
	}
	int want = ref_add(o.start, o.pages, o.shift, o.guard_before, o.guard_after);
	/* caller storage for the slot the add will take */
	if ((fl & 0x20) && want >= 0)
		o.state = storage[want];
	if (fl & 0x20 && want < 0)
		o.state = storage[0];
	int got = uffdbox_fsm_region_add(fsm, &o);
	FUZZ_CHECK(got == want);
}

NO_COV static int slot_arg(struct in *in)
{
	return (int)(int8_t)rd8(in) % (MAXR + 2);
}

NO_COV static uint64_t pick_result(struct in *in, uint64_t len)
{
	uint8_t sel = rd8(in);
	switch (sel & 7) {
	case 0:
	case 1:
	case 2:
		return len;
	case 3:
		return (uint64_t)(sel >> 3) * UNIT; /* partial */
	case 4:
		return (uint64_t)-EEXIST;
	case 5:
		return (uint64_t) - (int64_t)(sel >> 3); /* ENOENT, EAGAIN... */
	case 6:
		return (uint64_t)(sel >> 3) * 1000; /* not a page multiple */
	default:
		return rd64(in);
	}
}

NO_COV static void op_action(struct in *in)
{
	struct uffdbox_fsm_action a = {0};
	a.op = rd8(in) % 10;
	a.mode = rd8(in) & 7;
	a.addr = unit_addr(rd8(in));
	a.len = (rd8(in) % 24) * UNIT;
	a.src = unit_addr(rd8(in));
	uint8_t tweak = rd8(in);
	if (tweak & 1)
		a.addr += 512;
	if (tweak & 2)
		a.len += 512;
	if (tweak & 4)
		a.src = rd64(in);
	if (tweak & 8)
		a.len = rd64(in);
	a.result = (int64_t)pick_result(in, a.len);
	int want = ref_apply(&a);
	int got = uffdbox_fsm_apply(fsm, &a);
	FUZZ_CHECK(got == want);
}

/* One page's action at @addr (@len: its page size), the op, mode and result
 * from the input. */
NO_COV static void op_action_at(struct in *in, uint64_t addr, uint64_t len)
{
	struct uffdbox_fsm_action a = {.addr = addr, .len = len};
	a.op = rd8(in) % UFFDBOX_FSM_OP_END;
	a.mode = rd8(in) & 3;
	a.result = (int64_t)pick_result(in, a.len);
	int want = ref_apply(&a);
	FUZZ_CHECK(uffdbox_fsm_apply(fsm, &a) == want);
}

NO_COV static void op_range(struct in *in, bool unmap)
{
	uint64_t start = BASE - 8 * UNIT + rd16(in) * 64ull;
	uint64_t end = start + rd16(in) * 64ull;
	uint8_t tweak = rd8(in);
	if (tweak & 1) {
		uint64_t t = start;
		start = end;
		end = t;
	}
	if (tweak & 2)
		end = rd64(in);
	if (tweak & 4)
		start = rd64(in);
	int want = ref_range(start, end, unmap ? UFFDBOX_PAGE_QUARANTINED : UFFDBOX_PAGE_REMOVED);
	int got = unmap ? uffdbox_fsm_unmap(fsm, start, end) : uffdbox_fsm_remove(fsm, start, end);
	FUZZ_CHECK(got == want);
}

NO_COV static void op_remap(struct in *in, bool raw)
{
	uint64_t from, to, len;
	if (raw) {
		from = rd64(in);
		to = rd64(in);
		len = rd64(in);
	} else {
		from = unit_addr(rd8(in));
		to = unit_addr(rd8(in));
		len = (rd8(in) % 48) * UNIT;
	}
	int want = ref_remap(from, to, len);
	int got = uffdbox_fsm_remap(fsm, from, to, len);
	FUZZ_CHECK(got == want);
}

/* A raw record: parsed, then fed to the state machine. */
NO_COV static void op_msg(struct in *in)
{
	uint8_t rec[UFFDBOX_MSG_SIZE];
	struct uffdbox_msg m;
	struct uffdbox_fault got, want;

	for (int i = 0; i < UFFDBOX_MSG_SIZE; i++)
		rec[i] = rd8(in);
	/* the window is far more interesting than random addresses */
	if (rec[1] & 0x80) {
		uint64_t a = unit_addr(rec[9]) + rec[10] * 16ull;
		memcpy(rec + 16, &a, 8);
	}
	uffdbox_msg_parse(rec, sizeof(rec), &m);
	int ret = uffdbox_fsm_event(fsm, &m, &got);
	switch (m.kind) {
	case UFFDBOX_MSG_PAGEFAULT:
		ref_classify(m.u.pagefault.address, m.u.pagefault.flags, &want);
		FUZZ_CHECK(ret == want.verdict);
		same_fault(&got, &want);
		break;
	case UFFDBOX_MSG_FORK:
		FUZZ_CHECK(ret == 0);
		break;
	case UFFDBOX_MSG_REMAP:
		FUZZ_CHECK(ret == ref_remap(m.u.remap.from, m.u.remap.to, m.u.remap.len));
		break;
	case UFFDBOX_MSG_REMOVE:
		FUZZ_CHECK(ret ==
			   ref_range(m.u.remove.start, m.u.remove.end, UFFDBOX_PAGE_REMOVED));
		break;
	case UFFDBOX_MSG_UNMAP:
		FUZZ_CHECK(ret ==
			   ref_range(m.u.remove.start, m.u.remove.end, UFFDBOX_PAGE_QUARANTINED));
		break;
	default:
		FUZZ_CHECK(ret == -UFFDBOX_E_MSG_UNKNOWN);
		break;
	}
}

NO_COV int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};

	for (int r = 0; r < MAXR; r++)
		ref[r].used = false; /* (ref_add() clears a slot it takes) */
	opno = 0;
	snap_ok = false;
	if (!fsm_len)
		fsm_len = uffdbox_fsm_size(MAXR);
	if (uffdbox_fsm_init(fsm_mem, sizeof(fsm_mem), MAXR, &fsm) != 0)
		abort();
	while (in.n && opno < MAX_OPS) {
		uint8_t op = rd8(&in);
		opno++;
		switch (op % 15) {
		case 0:
			op_add(&in, false);
			break;
		case 1: {
			int r = slot_arg(&in);
			FUZZ_CHECK(uffdbox_fsm_region_release(fsm, r) == ref_release(r));
			break;
		}
		case 2: {
			int r = slot_arg(&in);
			FUZZ_CHECK(uffdbox_fsm_region_quarantine(fsm, r) == ref_quarantine(r));
			break;
		}
		case 3: {
			uint64_t a = BASE - 8 * UNIT + rd16(&in) * 32ull;
			fault(a, rd8(&in));
			break;
		}
		case 4: {
			uint64_t a = rd64(&in);
			fault(a, rd64(&in));
			break;
		}
		case 5:
			op_action(&in);
			break;
		case 6:
			op_range(&in, false);
			break;
		case 7:
			op_range(&in, true);
			break;
		case 8:
			op_remap(&in, false);
			break;
		case 9:
			op_msg(&in);
			break;
		case 10:
			op_add(&in, true);
			break;
		case 11:
			check_all();
			break;
		case 12:
			op_remap(&in, true);
			break;
		case 13:
			op_claim(&in);
			break;
		default: { /* one page's action lands (a claim ends) */
			uint64_t a = BASE - 8 * UNIT + rd16(&in) * 32ull;
			struct uffdbox_fault f;
			ref_classify(a, 0, &f);
			if (f.zone == UFFDBOX_ZONE_BODY)
				op_action_at(&in, f.page_addr, psz(&ref[f.region]));
			break;
		}
		}
	}
	check_all();
	uffdbox_fsm_free(fsm);
	return 0;
}
