/* SPDX-License-Identifier: MIT */
/*
 * core/fsm.c - the handler state machine.
 *
 * Layout: a slot table (region id = slot index, stable for the region's
 * life) and a key table sorted by address, one key per live region
 * covering its whole extent (guards included).  Extents never overlap, so
 * the keys are sorted by both ends and a lookup is one binary search.
 *
 * Page bytes are read and written with relaxed atomic byte accesses (see
 * fsm.h, "Concurrency"); the tables are plain data, changed only by calls
 * the caller serializes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox/common.h>
#include <uffdbox/fsm.h>
#include <uffdbox/msg.h>

#include "internal.h"

#define MAX_REGIONS 65536u
#define MIN_SHIFT   12u
#define MAX_SHIFT   30u

enum {
	SLOT_USED = 1u << 0,
	SLOT_OWNED = 1u << 1, /* state[] came from calloc() */
	SLOT_QUARANTINED = 1u << 2,
};

struct fsm_slot {
	uint64_t lo, hi; /* extent [lo, hi), guards included (as its key) */
	uint64_t start;	 /* body */
	uint64_t pages;
	uint64_t gb, ga; /* guard pages before / after */
	uint8_t *state;
	uint8_t shift;
	uint8_t flags;
};

struct fsm_key {
	uint64_t lo, hi; /* extent [lo, hi), guards included */
	uint32_t slot;
};

struct uffdbox_fsm {
	uint32_t max, n;
	bool self_alloc;
	struct fsm_slot *slots; /* max */
	struct fsm_key *keys;	/* n live, sorted by lo */
};

/* The small helpers on every lookup and page access: always inlined, also
 * in sanitizer builds, whose checks otherwise make them too big for the
 * inliner and turn each use into a call (with, under a fuzzer, its own
 * coverage counter and traced compares). */
#define HOT static inline __attribute__((always_inline))
/* The two loops everything goes through (the binary search, the page
 * walk): one copy each, never inlined, so that under a fuzzer one search or
 * walk is one set of coverage counters wherever it is called from, not one
 * per caller (each distinct counter hit costs the engine time on every
 * execution). */
#define SHARED static __attribute__((noinline))

/* --- page bytes ------------------------------------------------------------ */

/* A page byte: the state in the low 3 bits, and BUSY while a claimant
 * (uffdbox_fsm_claim) is resolving it. */
#define PG_STATE 0x07u
#define PG_BUSY	 0x08u

HOT uint8_t pg_get(const struct fsm_slot *s, uint64_t i)
{
	return __atomic_load_n(&s->state[i], __ATOMIC_ACQUIRE);
}

/* Give up any claim on pages [@i0, @i1), their states unchanged. */
static void pages_unclaim(const struct fsm_slot *s, uint64_t i0, uint64_t i1)
{
	for (uint64_t i = i0; i < i1; i++)
		if (pg_get(s, i) & PG_BUSY)
			__atomic_fetch_and(&s->state[i], (uint8_t)~PG_BUSY, __ATOMIC_RELEASE);
}

/* Set page @i to @v; 1 if it changed. */
HOT int pg_set(const struct fsm_slot *s, uint64_t i, uint8_t v)
{
	if (pg_get(s, i) == v)
		return 0;
	__atomic_store_n(&s->state[i], v, __ATOMIC_RELAXED);
	return 1;
}

/* A page count as a non-negative int (saturated). */
HOT int sat(uint64_t n)
{
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

HOT uint64_t body_end(const struct fsm_slot *s)
{
	return s->start + (s->pages << s->shift);
}

/* --- page transitions ------------------------------------------------------- */

/* What each transition makes of a page, by the page's state (docs/fsm.md,
 * "Handler actions" and "Kernel events"): one row per transition, one
 * column per state, in enum uffdbox_page_state order (UNPOPULATED,
 * POPULATED, WP, WP_UNPOPULATED, POISONED, REMOVED, QUARANTINED, GUARD).
 * QUARANTINED is sticky everywhere.  GUARD is never stored: its column
 * only completes the rows. */
enum {
	T_POPULATE,	/* COPY, CONTINUE; ZEROPAGE; MOVE destination */
	T_POPULATE_WP,	/* COPY, CONTINUE with UFFDBOX_FSM_MODE_WP */
	T_POISON,	/* POISON */
	T_PROTECT,	/* PROTECT without UFFDBOX_FSM_MODE_MARKERS */
	T_PROTECT_MARK, /* PROTECT with UFFDBOX_FSM_MODE_MARKERS */
	T_UNPROTECT,	/* UNPROTECT */
	T_EXISTS,	/* -EEXIST from a filling op: the page is there */
	T_REMOVE,	/* REMOVE event, MOVE source */
	T_QUARANTINE,	/* UNMAP event, region quarantine, partial REMAP source */
	T_END,
};

#define UN UFFDBOX_PAGE_UNPOPULATED
#define PO UFFDBOX_PAGE_POPULATED
#define WP UFFDBOX_PAGE_WP
#define WU UFFDBOX_PAGE_WP_UNPOPULATED
#define PS UFFDBOX_PAGE_POISONED
#define RM UFFDBOX_PAGE_REMOVED
#define QU UFFDBOX_PAGE_QUARANTINED
static const uint8_t next_state[T_END][8] = {
	[T_POPULATE] = {PO, PO, PO, PO, PO, PO, QU, PO},
	[T_POPULATE_WP] = {WP, WP, WP, WP, WP, WP, QU, WP},
	[T_POISON] = {PS, PS, PS, PS, PS, PS, QU, PS},
	[T_PROTECT] = {UN, WP, WP, WU, PS, RM, QU, UFFDBOX_PAGE_GUARD},
	[T_PROTECT_MARK] = {WU, WP, WP, WU, PS, WU, QU, UFFDBOX_PAGE_GUARD},
	[T_UNPROTECT] = {UN, PO, PO, UN, PS, RM, QU, UFFDBOX_PAGE_GUARD},
	[T_EXISTS] = {PO, PO, WP, WP, PS, PO, QU, UFFDBOX_PAGE_GUARD},
	[T_REMOVE] = {RM, RM, RM, RM, RM, RM, QU, RM},
	[T_QUARANTINE] = {QU, QU, QU, QU, QU, QU, QU, QU},
};
#undef UN
#undef PO
#undef WP
#undef WU
#undef PS
#undef RM
#undef QU

/* Pages [@i0, @i1) of @s through transition @t; how many changed state.
 * One read, one compare and at most one write per page; a claim on a page
 * ends with its write (release: whoever sees the new state sees the
 * resolver's work before it). */
SHARED uint64_t pages_to(const struct fsm_slot *s, uint64_t i0, uint64_t i1, unsigned int t)
{
	const uint8_t *row = next_state[t];
	uint64_t changed = 0;

	/* (not unrolled: each unrolled copy would be one more set of coverage
	 * counters) */
#pragma GCC unroll 1
	for (uint64_t i = i0; i < i1; i++) {
		uint8_t st = pg_get(s, i), v = row[st & PG_STATE];
		if (v != st) {
			__atomic_store_n(&s->state[i], v, __ATOMIC_RELEASE);
			changed += v != (st & PG_STATE);
		}
	}
	return changed;
}

/* --- construction ---------------------------------------------------------- */

size_t uffdbox_fsm_size(unsigned int max_regions)
{
	if (max_regions == 0 || max_regions > MAX_REGIONS)
		return 0;
	return sizeof(struct uffdbox_fsm) + (size_t)max_regions * sizeof(struct fsm_slot) +
	       (size_t)max_regions * sizeof(struct fsm_key);
}

int uffdbox_fsm_init(void *mem, size_t len, unsigned int max_regions, struct uffdbox_fsm **out)
{
	size_t need = uffdbox_fsm_size(max_regions);

	if (!mem || !need || len < need || ((uintptr_t)mem & 7))
		return -EINVAL;
	memset(mem, 0, need);
	struct uffdbox_fsm *f = mem;
	f->max = max_regions;
	f->slots = (struct fsm_slot *)(f + 1);
	f->keys = (struct fsm_key *)(f->slots + max_regions);
	*out = f;
	return 0;
}

int uffdbox_fsm_new(unsigned int max_regions, struct uffdbox_fsm **out)
{
	size_t need = uffdbox_fsm_size(max_regions);
	if (!need)
		return -EINVAL;
	void *mem = malloc(need);
	if (!mem)
		return -ENOMEM;
	uffdbox_fsm_init(mem, need, max_regions, out);
	(*out)->self_alloc = true;
	return 0;
}

void uffdbox_fsm_free(struct uffdbox_fsm *f)
{
	if (!f)
		return;
	/* Every used slot has exactly one key (a free slot's flags are 0): walk
	 * the live regions, not the whole table. */
	for (uint32_t k = 0; k < f->n; k++) {
		struct fsm_slot *s = &f->slots[f->keys[k].slot];
		if (s->flags & SLOT_OWNED)
			free(s->state);
		s->flags = 0;
	}
	f->n = 0;
	if (f->self_alloc)
		free(f);
}

/* --- lookup ------------------------------------------------------------------ */

/* Index of the first key whose extent ends after @addr (n if none). */
SHARED uint32_t first_after(const struct uffdbox_fsm *f, uint64_t addr)
{
	uint32_t lo = 0, hi = f->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (f->keys[mid].hi > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * The slot the calling thread's last lookup found.  Faults come in runs on
 * one region, and one compare with it spares the binary search: a dozen
 * cache lines of a 4,096-region table, each a TLB miss once the kernel's
 * fault path has flushed them (fault.regions_4096_vs_1: 1.83 -> 1.05).  The
 * slot, not its key: the slot holds its own extent, so a hit reads one line
 * of the table, the one the page's state hangs from, where the key's line
 * came first on the same dependent chain (~0.3 % of a SYNC fault,
 * uffdbox-bench-ab).  A hint, not state: any index, checked against the
 * table before use, so the answers are the same with or without it (the
 * machine stays a function of its table and pages; fuzz_fsm compares
 * them).  Per thread, so that concurrent lookups share no written line;
 * initial-exec, so that a signal handler's first use allocates nothing.
 */
static UFFDBOX__TLS uint32_t hint;

/* The slot whose extent holds @addr, or NULL. */
HOT struct fsm_slot *find_extent(const struct uffdbox_fsm *f, uint64_t addr)
{
	uint32_t h = hint;
	if (h < f->max) {
		struct fsm_slot *s = &f->slots[h];
		if ((s->flags & SLOT_USED) && s->lo <= addr && addr < s->hi)
			return s;
	}
	uint32_t k = first_after(f, addr);
	if (k < f->n && f->keys[k].lo <= addr) {
		hint = f->keys[k].slot;
		return &f->slots[f->keys[k].slot];
	}
	return NULL;
}

/* The slot whose body holds @addr, or NULL. */
HOT struct fsm_slot *find_body(const struct uffdbox_fsm *f, uint64_t addr)
{
	struct fsm_slot *s = find_extent(f, addr);
	if (s && addr >= s->start && addr < body_end(s))
		return s;
	return NULL;
}

HOT struct fsm_slot *slot_of(const struct uffdbox_fsm *f, int region)
{
	/* (a negative id converts to an unsigned value >= max) */
	if ((uint32_t)region >= f->max || !(f->slots[region].flags & SLOT_USED))
		return NULL;
	return &f->slots[region];
}

/* Does [lo, hi) overlap any extent other than slot @skip's? */
static bool overlaps(const struct uffdbox_fsm *f, uint64_t lo, uint64_t hi, uint32_t skip)
{
	for (uint32_t k = first_after(f, lo); k < f->n && f->keys[k].lo < hi; k++)
		if (f->keys[k].slot != skip)
			return true;
	return false;
}

static void key_insert(struct uffdbox_fsm *f, uint64_t lo, uint64_t hi, uint32_t slot)
{
	uint32_t k = first_after(f, lo);
	memmove(&f->keys[k + 1], &f->keys[k], (f->n - k) * sizeof(f->keys[0]));
	f->keys[k] = (struct fsm_key){.lo = lo, .hi = hi, .slot = slot};
	f->n++;
}

static void key_remove(struct uffdbox_fsm *f, uint32_t slot)
{
	for (uint32_t k = 0; k < f->n; k++) {
		if (f->keys[k].slot != slot)
			continue;
		memmove(&f->keys[k], &f->keys[k + 1], (f->n - k - 1) * sizeof(f->keys[0]));
		f->n--;
		return;
	}
}

/* --- region lifecycle ---------------------------------------------------------- */

/* The extent of a region, or -EOVERFLOW. */
static int extent(uint64_t start, uint64_t pages, unsigned int shift, uint64_t gb, uint64_t ga,
		  uint64_t *lo, uint64_t *hi)
{
	uint64_t blen, glo, ghi, end;

	if (pages > (UINT64_MAX >> shift) || gb > (UINT64_MAX >> shift) ||
	    ga > (UINT64_MAX >> shift))
		return -EOVERFLOW;
	blen = pages << shift;
	glo = gb << shift;
	ghi = ga << shift;
	/* (an extent ending exactly at 2^64 overflows here too: [lo, hi)
	 * must be representable) */
	if (glo > start || __builtin_add_overflow(start, blen, &end) ||
	    __builtin_add_overflow(end, ghi, hi))
		return -EOVERFLOW;
	*lo = start - glo;
	return 0;
}

int uffdbox_fsm_region_add(struct uffdbox_fsm *f, const struct uffdbox_fsm_region_opts *opts)
{
	struct uffdbox_fsm_region_opts o = {0};
	uint64_t lo, hi;
	uint32_t slot;
	int err;

	if (!f || !opts)
		return -EINVAL;
	err = uffdbox__opts_copy(&o, sizeof(o),
				 UFFDBOX__OFFSETOFEND(struct uffdbox_fsm_region_opts, state), opts,
				 "uffdbox_fsm_region_opts", UFFDBOX__NO_ERRBUF, NULL, 0);
	if (err < 0)
		return err;
	if (o.shift == 0)
		o.shift = MIN_SHIFT;
	if (o.pages == 0 || o.shift < MIN_SHIFT || o.shift > MAX_SHIFT ||
	    (o.start & ((1ull << o.shift) - 1)))
		return -EINVAL;
	err = extent(o.start, o.pages, o.shift, o.guard_before, o.guard_after, &lo, &hi);
	if (err)
		return err;
	if (f->n == f->max)
		return -ENOSPC;
	if (overlaps(f, lo, hi, UINT32_MAX))
		return -EEXIST;
	if (!o.state && o.pages > SIZE_MAX)
		return -ENOMEM;
	for (slot = 0; f->slots[slot].flags & SLOT_USED; slot++)
		;

	struct fsm_slot *s = &f->slots[slot];
	*s = (struct fsm_slot){.lo = lo,
			       .hi = hi,
			       .start = o.start,
			       .pages = o.pages,
			       .gb = o.guard_before,
			       .ga = o.guard_after,
			       .shift = (uint8_t)o.shift,
			       .state = o.state};
	if (s->state) {
		memset(s->state, UFFDBOX_PAGE_UNPOPULATED, o.pages);
	} else {
		s->state = calloc(o.pages, 1);
		if (!s->state)
			return -ENOMEM;
		s->flags |= SLOT_OWNED;
	}
	s->flags |= SLOT_USED;
	key_insert(f, lo, hi, slot);
	return (int)slot;
}

int uffdbox_fsm_region_quarantine(struct uffdbox_fsm *f, int region)
{
	struct fsm_slot *s = slot_of(f, region);
	uint64_t changed;

	if (!s)
		return -ENOENT;
	changed = pages_to(s, 0, s->pages, T_QUARANTINE);
	s->flags |= SLOT_QUARANTINED;
	return sat(changed);
}

int uffdbox_fsm_region_release(struct uffdbox_fsm *f, int region)
{
	struct fsm_slot *s = slot_of(f, region);

	if (!s)
		return -ENOENT;
	key_remove(f, (uint32_t)region);
	if (s->flags & SLOT_OWNED)
		free(s->state);
	memset(s, 0, sizeof(*s));
	return 0;
}

int uffdbox_fsm_region_info(const struct uffdbox_fsm *f, int region,
			    struct uffdbox_fsm_region_info *out)
{
	const struct fsm_slot *s = slot_of(f, region);

	if (!s)
		return -ENOENT;
	*out = (struct uffdbox_fsm_region_info){
		.start = s->start,
		.pages = s->pages,
		.guard_before = s->gb,
		.guard_after = s->ga,
		.shift = s->shift,
		.quarantined = !!(s->flags & SLOT_QUARANTINED),
	};
	return 0;
}

unsigned int uffdbox_fsm_regions(const struct uffdbox_fsm *f)
{
	return f->n;
}

int uffdbox_fsm_page_state(const struct uffdbox_fsm *f, int region, uint64_t page)
{
	const struct fsm_slot *s = slot_of(f, region);

	if (!s)
		return -ENOENT;
	if (page >= s->pages)
		return -ERANGE;
	return pg_get(s, page) & PG_STATE;
}

int uffdbox_fsm_page_states(const struct uffdbox_fsm *f, int region, uint64_t first, uint8_t *out,
			    size_t n)
{
	const struct fsm_slot *s = slot_of(f, region);

	if (!s)
		return -ENOENT;
	if (first > s->pages || n > s->pages - first)
		return -ERANGE;
#pragma GCC unroll 1
	for (size_t i = 0; i < n; i++)
		out[i] = pg_get(s, first + i) & PG_STATE;
	return 0;
}

/* --- faults ------------------------------------------------------------------- */

/* The fault kind of each combination of the WRITE, WP and MINOR flags: WP
 * wins over MINOR, WRITE only tells MISSING/MINOR reads from writes.  A
 * table rather than if-chains: classify runs on every fault (and, under a
 * fuzzer, every compare is traced). */
#define F_W UFFDBOX_MSG_PF_WRITE
#define F_P UFFDBOX_MSG_PF_WP
#define F_M UFFDBOX_MSG_PF_MINOR
static const uint8_t kind_of_flags[8] = {
	[0] = UFFDBOX_FAULT_MISSING_READ, [F_W] = UFFDBOX_FAULT_MISSING_WRITE,
	[F_P] = UFFDBOX_FAULT_WP,	  [F_P | F_W] = UFFDBOX_FAULT_WP,
	[F_M] = UFFDBOX_FAULT_MINOR_READ, [F_M | F_W] = UFFDBOX_FAULT_MINOR_WRITE,
	[F_M | F_P] = UFFDBOX_FAULT_WP,	  [F_M | F_P | F_W] = UFFDBOX_FAULT_WP,
};
#undef F_W
#undef F_P
#undef F_M
_Static_assert((UFFDBOX_MSG_PF_WRITE | UFFDBOX_MSG_PF_WP | UFFDBOX_MSG_PF_MINOR) == 7,
	       "the three known flags are the low bits");

#define O UFFDBOX_VERDICT_ORDINARY
#define S UFFDBOX_VERDICT_SPURIOUS
#define Q UFFDBOX_VERDICT_USE_AFTER_UNMAP
#define G UFFDBOX_VERDICT_GUARD
#define P UFFDBOX_VERDICT_POISONED
/* verdict[state][kind]: MISSING_READ, MISSING_WRITE, WP, MINOR_READ,
 * MINOR_WRITE (docs/fsm.md, "Faults") */
static const uint8_t verdict_of[8][5] = {
	[UFFDBOX_PAGE_UNPOPULATED] = {O, O, S, O, O},
	[UFFDBOX_PAGE_POPULATED] = {S, S, S, S, S},
	[UFFDBOX_PAGE_WP] = {S, S, O, S, S},
	[UFFDBOX_PAGE_WP_UNPOPULATED] = {O, O, O, O, O},
	[UFFDBOX_PAGE_POISONED] = {P, P, P, P, P},
	[UFFDBOX_PAGE_REMOVED] = {O, O, S, O, O},
	[UFFDBOX_PAGE_QUARANTINED] = {Q, Q, Q, Q, Q},
	[UFFDBOX_PAGE_GUARD] = {G, G, G, G, G},
};
#undef O
#undef S
#undef Q
#undef G
#undef P

int uffdbox_fsm_classify(const struct uffdbox_fsm *f, uint64_t addr, uint64_t flags,
			 struct uffdbox_fault *out)
{
	const struct fsm_slot *s;

	out->kind = kind_of_flags[flags & 7];
	out->addr = addr;

	s = find_extent(f, addr);
	if (!s) {
		out->page = out->page_addr = out->offset = 0;
		out->region = -1;
		out->zone = UFFDBOX_ZONE_OUTSIDE;
		out->state = UFFDBOX_PAGE_UNPOPULATED;
		out->verdict = UFFDBOX_VERDICT_OUTSIDE;
		return out->verdict;
	}
	out->region = (int32_t)(s - f->slots);
	uint64_t end = body_end(s);
	if (addr < s->start) {
		out->zone = UFFDBOX_ZONE_GUARD_BEFORE;
		out->page = (s->start - addr - 1) >> s->shift;
		out->page_addr = s->start - ((out->page + 1) << s->shift);
		out->state = UFFDBOX_PAGE_GUARD;
	} else if (addr >= end) {
		out->zone = UFFDBOX_ZONE_GUARD_AFTER;
		out->page = (addr - end) >> s->shift;
		out->page_addr = end + (out->page << s->shift);
		out->state = UFFDBOX_PAGE_GUARD;
	} else {
		uint8_t b;
		out->zone = UFFDBOX_ZONE_BODY;
		out->page = (addr - s->start) >> s->shift;
		out->page_addr = s->start + (out->page << s->shift);
		b = pg_get(s, out->page);
		out->state = b & PG_STATE;
		if (b & PG_BUSY) {
			out->offset = addr - out->page_addr;
			out->verdict = UFFDBOX_VERDICT_BUSY;
			return out->verdict;
		}
	}
	out->offset = addr - out->page_addr;
	out->verdict = verdict_of[out->state][out->kind];
	return out->verdict;
}

int uffdbox_fsm_classify_sigbus(const struct uffdbox_fsm *f, uint64_t addr, int write,
				struct uffdbox_fault *out)
{
	uint64_t flags = write ? UFFDBOX_MSG_PF_WRITE : 0;
	int v = uffdbox_fsm_classify(f, addr, flags, out);

	/* The signal says nothing of write protection: the page's state does.
	 * (Classified again rather than patched, so that the verdict comes
	 * from the one table.) */
	if (write && out->zone == UFFDBOX_ZONE_BODY && v != UFFDBOX_VERDICT_BUSY &&
	    (out->state == UFFDBOX_PAGE_WP || out->state == UFFDBOX_PAGE_WP_UNPOPULATED))
		v = uffdbox_fsm_classify(f, addr, flags | UFFDBOX_MSG_PF_WP, out);
	return v;
}

int uffdbox_fsm_claim(struct uffdbox_fsm *f, const struct uffdbox_fault *flt)
{
	const struct fsm_slot *s;
	uint8_t want;

	if (flt->zone != UFFDBOX_ZONE_BODY || flt->state > PG_STATE)
		return -EINVAL;
	s = slot_of(f, flt->region);
	if (!s || flt->page >= s->pages || s->start + (flt->page << s->shift) != flt->page_addr)
		return -ENOENT;
	want = flt->state;
	return __atomic_compare_exchange_n(&s->state[flt->page], &want,
					   (uint8_t)(flt->state | PG_BUSY), false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* --- the handler's actions ----------------------------------------------------- */

int uffdbox_fsm_apply(struct uffdbox_fsm *f, const struct uffdbox_fsm_action *a)
{
	const struct fsm_slot *s;
	uint64_t mask, first, n, end, done, changed;
	unsigned int t;
	bool fills = true; /* the op maps pages: `result` counts bytes done */

	if (a->op >= UFFDBOX_FSM_OP_END ||
	    (a->mode & ~(UFFDBOX_FSM_MODE_WP | UFFDBOX_FSM_MODE_MARKERS)))
		return -EINVAL;
	if (a->len == 0)
		return 0;
	s = find_body(f, a->addr);
	if (!s)
		return -ENOENT;
	mask = (1ull << s->shift) - 1;
	if ((a->addr & mask) || (a->len & mask))
		return -EINVAL;
	if (__builtin_add_overflow(a->addr, a->len, &end) || end > body_end(s))
		return -ERANGE;
	if (a->op == UFFDBOX_FSM_MOVE) {
		uint64_t send;
		if ((a->src & mask) || __builtin_add_overflow(a->src, a->len, &send) ||
		    (a->src < end && a->addr < send))
			return -EINVAL;
	}
	first = (a->addr - s->start) >> s->shift;
	n = a->len >> s->shift;

	switch (a->op) {
	case UFFDBOX_FSM_COPY:
	case UFFDBOX_FSM_CONTINUE:
		t = (a->mode & UFFDBOX_FSM_MODE_WP) ? T_POPULATE_WP : T_POPULATE;
		break;
	case UFFDBOX_FSM_ZEROPAGE: /* the kernel has no WP mode for it */
	case UFFDBOX_FSM_MOVE:	   /* a moved page arrives writable */
		t = T_POPULATE;
		break;
	case UFFDBOX_FSM_POISON:
		t = T_POISON;
		break;
	case UFFDBOX_FSM_PROTECT:
		t = (a->mode & UFFDBOX_FSM_MODE_MARKERS) ? T_PROTECT_MARK : T_PROTECT;
		fills = false;
		break;
	case UFFDBOX_FSM_UNPROTECT:
		t = T_UNPROTECT;
		fills = false;
		break;
	default: /* WAKE: no page changes, whatever the result */
		return 0;
	}

	if (a->result < 0) {
		if (a->result != -EEXIST || !fills) {
			pages_unclaim(s, first, first + n);
			return 0;
		}
		changed = pages_to(s, first, first + 1, T_EXISTS);
		pages_unclaim(s, first + 1, first + n);
		return (int)changed;
	}
	done = fills ? ((uint64_t)a->result < a->len ? (uint64_t)a->result : a->len) >> s->shift
		     : n;
	changed = pages_to(s, first, first + done, t);
	pages_unclaim(s, first + done, first + n);
	if (a->op == UFFDBOX_FSM_MOVE) {
		/* The source pages, wherever tracked, are holes now.  They are
		 * consecutive: look a body up again only when leaving the last
		 * one (bodies do not overlap, so it is the same answer). */
		const struct fsm_slot *ss = NULL;
		for (uint64_t i = 0; i < done; i++) {
			uint64_t src = a->src + (i << s->shift);
			if (!ss || src >= body_end(ss))
				ss = find_body(f, src);
			if (ss) {
				uint64_t j = (src - ss->start) >> ss->shift;
				changed += pages_to(ss, j, j + 1, T_REMOVE);
			}
		}
	}
	return sat(changed);
}

/* --- kernel events ---------------------------------------------------------------- */

/* Every body page intersecting [start, end) through transition @t. */
static int range_to(struct uffdbox_fsm *f, uint64_t start, uint64_t end, unsigned int t)
{
	uint64_t changed = 0;

	if (start > end)
		return -EINVAL;
	for (uint32_t k = first_after(f, start); k < f->n && f->keys[k].lo < end; k++) {
		const struct fsm_slot *s = &f->slots[f->keys[k].slot];
		uint64_t bend = body_end(s);
		if (end <= s->start || start >= bend)
			continue;
		uint64_t i0 = start > s->start ? (start - s->start) >> s->shift : 0;
		/* last page that starts before end */
		uint64_t i1 = end >= bend ? s->pages : ((end - s->start - 1) >> s->shift) + 1;
		changed += pages_to(s, i0, i1, t);
	}
	return sat(changed);
}

int uffdbox_fsm_remove(struct uffdbox_fsm *f, uint64_t start, uint64_t end)
{
	return range_to(f, start, end, T_REMOVE);
}

int uffdbox_fsm_unmap(struct uffdbox_fsm *f, uint64_t start, uint64_t end)
{
	return range_to(f, start, end, T_QUARANTINE);
}

int uffdbox_fsm_remap(struct uffdbox_fsm *f, uint64_t from, uint64_t to, uint64_t len)
{
	struct fsm_slot *s;
	const struct fsm_slot *ds = NULL;
	uint64_t mask, fend, tend, n, first;

	if (len == 0)
		return 0;
	if (__builtin_add_overflow(from, len, &fend) || __builtin_add_overflow(to, len, &tend) ||
	    (from < tend && to < fend))
		return -EINVAL;
	s = find_body(f, from);
	if (!s)
		return 0;
	mask = (1ull << s->shift) - 1;
	if ((from & mask) || (to & mask) || (len & mask))
		return -EINVAL;
	if (fend > body_end(s))
		return -ERANGE;
	n = len >> s->shift;

	if (from == s->start && n == s->pages) {
		uint32_t slot = (uint32_t)(s - f->slots);
		if (overlaps(f, to, tend, slot))
			return -EEXIST;
		key_remove(f, slot);
		s->start = to;
		s->gb = s->ga = 0;
		s->lo = to;
		s->hi = tend;
		key_insert(f, to, tend, slot);
		return sat(n);
	}

	/* Destination pages are consecutive: look a body up again only when
	 * leaving the last one found. */
	first = (from - s->start) >> s->shift;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = to + (i << s->shift);
		if (!ds || d >= body_end(ds))
			ds = find_body(f, d);
		if (ds && ds->shift == s->shift)
			pg_set(ds, (d - ds->start) >> ds->shift, pg_get(s, first + i) & PG_STATE);
	}
	pages_to(s, first, first + n, T_QUARANTINE);
	return sat(n);
}

int uffdbox_fsm_event(struct uffdbox_fsm *f, const struct uffdbox_msg *m,
		      struct uffdbox_fault *fault)
{
	switch (m->kind) {
	case UFFDBOX_MSG_PAGEFAULT: {
		struct uffdbox_fault tmp;
		return uffdbox_fsm_classify(f, m->u.pagefault.address, m->u.pagefault.flags,
					    fault ? fault : &tmp);
	}
	case UFFDBOX_MSG_FORK:
		return 0;
	case UFFDBOX_MSG_REMAP:
		return uffdbox_fsm_remap(f, m->u.remap.from, m->u.remap.to, m->u.remap.len);
	case UFFDBOX_MSG_REMOVE:
		return uffdbox_fsm_remove(f, m->u.remove.start, m->u.remove.end);
	case UFFDBOX_MSG_UNMAP:
		return uffdbox_fsm_unmap(f, m->u.remove.start, m->u.remove.end);
	default:
		return -UFFDBOX_E_MSG_UNKNOWN;
	}
}

/* --- names -------------------------------------------------------------------------- */

const char *uffdbox_page_state_name(unsigned int state)
{
	static const char *const names[] = {"unpopulated",    "populated", "wp",
					    "wp-unpopulated", "poisoned",  "removed",
					    "quarantined",    "guard"};
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *uffdbox_fault_kind_name(unsigned int kind)
{
	static const char *const names[] = {"missing-read", "missing-write", "wp", "minor-read",
					    "minor-write"};
	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *uffdbox_verdict_name(unsigned int verdict)
{
	static const char *const names[] = {
		"ordinary", "spurious", "use-after-unmap", "guard", "poisoned", "outside", "busy"};
	return verdict < sizeof(names) / sizeof(names[0]) ? names[verdict] : "?";
}
