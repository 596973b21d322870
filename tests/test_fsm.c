/* SPDX-License-Identifier: MIT */
/*
 * tests/test_fsm.c - the handler state machine (core/fsm).
 *
 * Addresses are made up: the state machine never touches memory.
 */
#include "test.h"

#include <uffdbox/fsm.h>

#define PG  4096ull
#define R0  0x100000ull /* region 0: 16 pages, 2 guard pages each side */
#define R1  0x200000ull /* region 1: 8 pages, no guards */
#define W   UFFDBOX_MSG_PF_WRITE
#define WPF (UFFDBOX_MSG_PF_WRITE | UFFDBOX_MSG_PF_WP)
#define MIN UFFDBOX_MSG_PF_MINOR

static struct uffdbox_fsm *mkfsm(void)
{
	struct uffdbox_fsm *f;
	ASSERT_OK(uffdbox_fsm_new(8, &f));
	struct uffdbox_fsm_region_opts o = {
		.sz = sizeof(o), .start = R0, .pages = 16, .guard_before = 2, .guard_after = 2};
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 0);
	o = (struct uffdbox_fsm_region_opts){.sz = sizeof(o), .start = R1, .pages = 8};
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 1);
	return f;
}

static int st(struct uffdbox_fsm *f, int r, uint64_t page)
{
	return uffdbox_fsm_page_state(f, r, page);
}

static int act(struct uffdbox_fsm *f, uint32_t op, uint32_t mode, uint64_t addr, uint64_t len,
	       int64_t result)
{
	struct uffdbox_fsm_action a = {
		.op = op, .mode = mode, .addr = addr, .len = len, .result = result};
	return uffdbox_fsm_apply(f, &a);
}

static int verdict(struct uffdbox_fsm *f, uint64_t addr, uint64_t flags)
{
	struct uffdbox_fault o;
	return uffdbox_fsm_classify(f, addr, flags, &o);
}

TEST_CASE(fsm_region_add_errors, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fsm_region_opts o = {.sz = sizeof(o), .start = 0x300000, .pages = 1};

	o.pages = 0;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL);
	o.pages = 1;
	o.start = 0x300800;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL); /* unaligned */
	o.start = 0x301000;
	o.shift = 13;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL); /* not 8K-aligned */
	o.shift = 31;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL);
	o.shift = 11;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL);
	o.shift = 0;
	o.sz = 0;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EINVAL);
	o.sz = sizeof(o);

	/* overlaps: the body, and a guard zone of region 0 (R0 + 16 pages
	 * + 2 guard pages) */
	o.start = R0 + 4 * PG;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EEXIST);
	o.start = R0 + 17 * PG;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EEXIST);
	o.start = R0 + 18 * PG;
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 2); /* just after the guard */
	o.start = R0 - 3 * PG;
	o.guard_after = 1;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EEXIST); /* its guard meets ours */
	o.guard_after = 0;

	/* the ends of the address space */
	o.start = UINT64_MAX - PG + 1;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EOVERFLOW); /* would end at 2^64 */
	o.start = UINT64_MAX - 2 * PG + 1;
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 3);
	o.start = 0;
	o.guard_before = 1;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EOVERFLOW);
	o.guard_before = 0;
	o.pages = UINT64_MAX;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EOVERFLOW);
	o.pages = 1;
	o.guard_after = UINT64_MAX / 2;
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -EOVERFLOW);
	ASSERT_EQ(uffdbox_fsm_regions(f), 4);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_region_table_full_and_ids, TMEM_NONE, 0)
{
	_Alignas(8) uint8_t mem[4096];
	struct uffdbox_fsm *f;
	uint8_t pages[3][4];

	ASSERT_ERR(uffdbox_fsm_init(mem, 16, 3, &f), -EINVAL);
	ASSERT_ERR(uffdbox_fsm_init(mem, sizeof(mem), 0, &f), -EINVAL);
	ASSERT_OK(uffdbox_fsm_init(mem, sizeof(mem), 3, &f));
	for (int i = 0; i < 3; i++) {
		memset(pages[i], 0xff, sizeof(pages[i]));
		struct uffdbox_fsm_region_opts o = {.sz = sizeof(o),
						    .start = 0x10000000ull * (3 - i),
						    .pages = 4,
						    .state = pages[i]};
		ASSERT_EQ(uffdbox_fsm_region_add(f, &o), i);
		ASSERT_EQ(pages[i][3], UFFDBOX_PAGE_UNPOPULATED); /* storage initialized */
	}
	struct uffdbox_fsm_region_opts o = {.sz = sizeof(o), .start = 0x50000000, .pages = 1};
	ASSERT_ERR(uffdbox_fsm_region_add(f, &o), -ENOSPC);
	ASSERT_OK(uffdbox_fsm_region_release(f, 1));
	ASSERT_ERR(uffdbox_fsm_region_release(f, 1), -ENOENT);
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 1); /* lowest free id */
	ASSERT_EQ(verdict(f, 0x50000000, 0), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(verdict(f, 0x20000000, 0), UFFDBOX_VERDICT_OUTSIDE); /* released */
	ASSERT_EQ(verdict(f, 0x10000000 + 3 * PG, 0), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_ERR(uffdbox_fsm_region_quarantine(f, 7), -ENOENT);
	ASSERT_ERR(uffdbox_fsm_region_release(f, -1), -ENOENT);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_classify_zones_and_fields, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fault o;

	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 5 * PG + 0x123, W, &o), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(o.region, 0);
	ASSERT_EQ(o.zone, UFFDBOX_ZONE_BODY);
	ASSERT_EQ(o.page, 5);
	ASSERT_UEQ(o.page_addr, R0 + 5 * PG);
	ASSERT_UEQ(o.offset, 0x123);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_MISSING_WRITE);
	ASSERT_EQ(o.state, UFFDBOX_PAGE_UNPOPULATED);

	/* underflow: the page just below the body is guard page 0 */
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 - 1, 0, &o), UFFDBOX_VERDICT_GUARD);
	ASSERT_EQ(o.zone, UFFDBOX_ZONE_GUARD_BEFORE);
	ASSERT_EQ(o.page, 0);
	ASSERT_UEQ(o.page_addr, R0 - PG);
	ASSERT_UEQ(o.offset, PG - 1);
	ASSERT_EQ(o.state, UFFDBOX_PAGE_GUARD);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 - 2 * PG, 0, &o), UFFDBOX_VERDICT_GUARD);
	ASSERT_EQ(o.page, 1);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 - 2 * PG - 1, 0, &o), UFFDBOX_VERDICT_OUTSIDE);

	/* overflow */
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 16 * PG, W, &o), UFFDBOX_VERDICT_GUARD);
	ASSERT_EQ(o.zone, UFFDBOX_ZONE_GUARD_AFTER);
	ASSERT_EQ(o.page, 0);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 18 * PG - 1, W, &o), UFFDBOX_VERDICT_GUARD);
	ASSERT_EQ(o.page, 1);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 18 * PG, W, &o), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(o.region, -1);
	ASSERT_EQ(o.zone, UFFDBOX_ZONE_OUTSIDE);

	/* region 1 has no guards; extremes are outside */
	ASSERT_EQ(uffdbox_fsm_classify(f, R1 - 1, 0, &o), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(uffdbox_fsm_classify(f, R1 + 7 * PG, MIN, &o), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(o.region, 1);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_MINOR_READ);
	ASSERT_EQ(uffdbox_fsm_classify(f, UINT64_MAX, UINT64_MAX, &o), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_WP); /* WP wins, unknown bits ignored */
	ASSERT_EQ(uffdbox_fsm_classify(f, 0, MIN | W, &o), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_MINOR_WRITE);
	ASSERT_EQ(uffdbox_fsm_classify(f, 0, 0, &o), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_MISSING_READ);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_fill_actions, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0 + PG, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_WP);
	ASSERT_EQ(act(f, UFFDBOX_FSM_ZEROPAGE, UFFDBOX_FSM_MODE_WP, R0 + 2 * PG, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_POPULATED); /* ZEROPAGE has no WP mode */
	ASSERT_EQ(act(f, UFFDBOX_FSM_CONTINUE, 0, R0 + 3 * PG, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_CONTINUE, UFFDBOX_FSM_MODE_WP, R0 + 4 * PG, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 4), UFFDBOX_PAGE_WP);
	ASSERT_EQ(act(f, UFFDBOX_FSM_POISON, 0, R0 + 5 * PG, PG, PG), 1);
	ASSERT_EQ(st(f, 0, 5), UFFDBOX_PAGE_POISONED);

	/* partial progress: 2 of 4 pages, and a byte count rounded down */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 8 * PG, 4 * PG, 2 * PG), 2);
	ASSERT_EQ(st(f, 0, 9), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(st(f, 0, 10), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 10 * PG, 4 * PG, PG + 100), 1);
	ASSERT_EQ(st(f, 0, 11), UFFDBOX_PAGE_UNPOPULATED);
	/* result larger than len is clamped */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 11 * PG, PG, 100 * PG), 1);
	ASSERT_EQ(st(f, 0, 12), UFFDBOX_PAGE_UNPOPULATED);

	/* failures change nothing, except EEXIST: someone else resolved it */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 12 * PG, PG, -ENOENT), 0);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 12 * PG, 2 * PG, -EAGAIN), 0);
	ASSERT_EQ(st(f, 0, 12), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0 + 12 * PG, 2 * PG, -EEXIST), 1);
	ASSERT_EQ(st(f, 0, 12), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(st(f, 0, 13), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 12 * PG, PG, -EEXIST), 0);
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, 0, R0 + 13 * PG, PG, -EEXIST), 0);

	/* WAKE changes nothing; len 0 is a no-op */
	ASSERT_EQ(act(f, UFFDBOX_FSM_WAKE, 0, R0, 16 * PG, 0), 0);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 15 * PG, 0, 0), 0);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_POPULATED);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_protect_unprotect, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0, 2 * PG, 2 * PG), 2);
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, 0, R0, 4 * PG, 0), 2);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_WP);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_UNPOPULATED); /* anonymous, no markers */
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, UFFDBOX_FSM_MODE_MARKERS, R0, 4 * PG, 0), 2);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_WP_UNPOPULATED);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_WP_UNPOPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, 0, R0, 4 * PG, -EAGAIN), 0);

	ASSERT_EQ(act(f, UFFDBOX_FSM_UNPROTECT, 0, R0, PG, 0), 1);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(act(f, UFFDBOX_FSM_UNPROTECT, 0, R0 + 3 * PG, PG, 0), 1);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_UNPOPULATED);
	/* a marked page filled: EEXIST keeps the protection, COPY does not */
	ASSERT_EQ(act(f, UFFDBOX_FSM_ZEROPAGE, 0, R0 + 2 * PG, PG, -EEXIST), 1);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_WP);
	/* protect a removed page with markers */
	ASSERT_EQ(uffdbox_fsm_remove(f, R0 + 2 * PG, R0 + 3 * PG), 1);
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, UFFDBOX_FSM_MODE_MARKERS, R0 + 2 * PG, PG, 0), 1);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_WP_UNPOPULATED);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_move, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fsm_action a = {
		.op = UFFDBOX_FSM_MOVE, .addr = R0, .len = 2 * PG, .src = R1, .result = 2 * PG};

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R1, 2 * PG, 2 * PG), 2);
	ASSERT_EQ(uffdbox_fsm_apply(f, &a), 4); /* 2 destination + 2 source pages */
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_POPULATED);
	ASSERT_EQ(st(f, 1, 0), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(st(f, 1, 1), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(verdict(f, R1, 0), UFFDBOX_VERDICT_ORDINARY);

	/* from an untracked buffer */
	a.addr = R0 + 4 * PG;
	a.src = 0x7000000;
	ASSERT_EQ(uffdbox_fsm_apply(f, &a), 2);
	/* overlapping, unaligned, wrapping source */
	a.src = R0 + 5 * PG;
	ASSERT_ERR(uffdbox_fsm_apply(f, &a), -EINVAL);
	a.src = 0x7000800;
	ASSERT_ERR(uffdbox_fsm_apply(f, &a), -EINVAL);
	a.src = UINT64_MAX - PG + 1;
	ASSERT_ERR(uffdbox_fsm_apply(f, &a), -EINVAL);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_apply_errors, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_ERR(act(f, UFFDBOX_FSM_OP_END, 0, R0, PG, PG), -EINVAL);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 4, R0, PG, PG), -EINVAL);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, R0 - PG, PG, PG), -ENOENT); /* guard */
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, 0x50000000, PG, PG), -ENOENT);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, R0 + 1, PG, PG), -EINVAL);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, R0, PG + 1, PG), -EINVAL);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, R0 + 15 * PG, 2 * PG, 2 * PG), -ERANGE);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, R0, UINT64_MAX - PG + 1, PG), -ERANGE);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(st(f, 0, (uint64_t)i), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_ERR(st(f, 0, 16), -ERANGE);
	ASSERT_ERR(st(f, 5, 0), -ENOENT);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_remove_event, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0, 8 * PG, 8 * PG), 8);
	ASSERT_EQ(act(f, UFFDBOX_FSM_POISON, 0, R0 + 8 * PG, PG, PG), 1);
	/* [page 1 + 1 byte, page 3 + 1 byte) touches pages 1, 2, 3 */
	ASSERT_EQ(uffdbox_fsm_remove(f, R0 + PG + 1, R0 + 3 * PG + 1), 3);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_WP);
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(st(f, 0, 4), UFFDBOX_PAGE_WP);
	ASSERT_EQ(uffdbox_fsm_remove(f, R0 + 8 * PG, R0 + 9 * PG), 1); /* poison dropped */
	ASSERT_EQ(st(f, 0, 8), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(uffdbox_fsm_remove(f, R0, R0), 0);
	ASSERT_ERR(uffdbox_fsm_remove(f, R0 + PG, R0), -EINVAL);
	/* a range over both regions and the gap */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R1 + 7 * PG, PG, PG), 1);
	ASSERT_EQ(uffdbox_fsm_remove(f, 0, UINT64_MAX), 16 - 3 - 1 + 8);
	ASSERT_EQ(st(f, 1, 7), UFFDBOX_PAGE_REMOVED);
	ASSERT_EQ(verdict(f, R0, 0), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(verdict(f, R0, WPF), UFFDBOX_VERDICT_SPURIOUS);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_unmap_and_quarantine, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fsm_region_info info;

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0, 4 * PG, 4 * PG), 4);
	ASSERT_EQ(uffdbox_fsm_unmap(f, R0 + 2 * PG, R0 + 4 * PG), 2);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_QUARANTINED);
	ASSERT_EQ(verdict(f, R0 + 2 * PG, 0), UFFDBOX_VERDICT_USE_AFTER_UNMAP);
	ASSERT_EQ(verdict(f, R0 + 3 * PG, WPF), UFFDBOX_VERDICT_USE_AFTER_UNMAP);
	/* quarantine is sticky: actions and REMOVE leave it */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 2 * PG, PG, PG), 0);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 2 * PG, PG, -EEXIST), 0);
	ASSERT_EQ(act(f, UFFDBOX_FSM_POISON, 0, R0 + 2 * PG, PG, PG), 0);
	ASSERT_EQ(uffdbox_fsm_remove(f, R0, R0 + 4 * PG), 2);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_QUARANTINED);

	ASSERT_OK(uffdbox_fsm_region_info(f, 0, &info));
	ASSERT_EQ(info.quarantined, 0);
	ASSERT_EQ(uffdbox_fsm_region_quarantine(f, 0), 14);
	ASSERT_OK(uffdbox_fsm_region_info(f, 0, &info));
	ASSERT_EQ(info.quarantined, 1);
	ASSERT_EQ(verdict(f, R0, MIN), UFFDBOX_VERDICT_USE_AFTER_UNMAP);
	ASSERT_EQ(verdict(f, R0 - 1, 0), UFFDBOX_VERDICT_GUARD); /* guards stay guards */
	ASSERT_EQ(uffdbox_fsm_region_quarantine(f, 0), 0);
	ASSERT_OK(uffdbox_fsm_region_release(f, 0));
	ASSERT_EQ(verdict(f, R0, 0), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_ERR(uffdbox_fsm_region_info(f, 0, &info), -ENOENT);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_remap_whole_region, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fsm_region_info info;
	const uint64_t to = 0x900000;

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0 + 3 * PG, PG, PG), 1);
	ASSERT_ERR(uffdbox_fsm_remap(f, R0, R1 - 4 * PG, 16 * PG), -EEXIST); /* onto region 1 */
	ASSERT_EQ(uffdbox_fsm_remap(f, R0, to, 16 * PG), 16);
	ASSERT_OK(uffdbox_fsm_region_info(f, 0, &info));
	ASSERT_UEQ(info.start, to);
	ASSERT_EQ(info.guard_before, 0);
	ASSERT_EQ(info.guard_after, 0);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_WP);
	ASSERT_EQ(verdict(f, to + 3 * PG, WPF), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(verdict(f, R0 + 3 * PG, WPF), UFFDBOX_VERDICT_OUTSIDE);
	ASSERT_EQ(verdict(f, R0 - 1, 0), UFFDBOX_VERDICT_OUTSIDE); /* guards stayed behind */
	ASSERT_EQ(verdict(f, to - 1, 0), UFFDBOX_VERDICT_OUTSIDE);
	/* the table is still sorted: region 1 is found, and so is region 0 */
	ASSERT_EQ(verdict(f, R1, 0), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_remap(f, to, R1 - 16 * PG, 16 * PG), 16); /* adjacent is fine */
	ASSERT_EQ(verdict(f, R1 - PG, WPF), UFFDBOX_VERDICT_SPURIOUS);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_remap_partial, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0, 2 * PG, 2 * PG), 2);
	ASSERT_EQ(act(f, UFFDBOX_FSM_POISON, 0, R0 + 2 * PG, PG, PG), 1);
	/* pages 0..2 of region 0 to pages 5..7 of region 1 */
	ASSERT_EQ(uffdbox_fsm_remap(f, R0, R1 + 5 * PG, 3 * PG), 3);
	ASSERT_EQ(st(f, 1, 5), UFFDBOX_PAGE_WP);
	ASSERT_EQ(st(f, 1, 6), UFFDBOX_PAGE_WP);
	ASSERT_EQ(st(f, 1, 7), UFFDBOX_PAGE_POISONED);
	ASSERT_EQ(st(f, 0, 0), UFFDBOX_PAGE_QUARANTINED);
	ASSERT_EQ(st(f, 0, 2), UFFDBOX_PAGE_QUARANTINED);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_EQ(verdict(f, R0, 0), UFFDBOX_VERDICT_USE_AFTER_UNMAP);
	ASSERT_EQ(verdict(f, R1 + 7 * PG, 0), UFFDBOX_VERDICT_POISONED);
	/* within a region; then to nowhere tracked */
	ASSERT_EQ(uffdbox_fsm_remap(f, R1 + 5 * PG, R1, PG), 1);
	ASSERT_EQ(st(f, 1, 0), UFFDBOX_PAGE_WP);
	ASSERT_EQ(uffdbox_fsm_remap(f, R1 + 6 * PG, 0x7000000, 2 * PG), 2);
	ASSERT_EQ(st(f, 1, 6), UFFDBOX_PAGE_QUARANTINED);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_remap_errors, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();

	ASSERT_EQ(uffdbox_fsm_remap(f, R0, 0x900000, 0), 0);
	ASSERT_EQ(uffdbox_fsm_remap(f, 0x7000000, R0, PG), 0);		/* untracked source */
	ASSERT_ERR(uffdbox_fsm_remap(f, R0, R0 + PG, 2 * PG), -EINVAL); /* overlap */
	ASSERT_ERR(uffdbox_fsm_remap(f, R0 + 1, 0x900000, PG), -EINVAL);
	ASSERT_ERR(uffdbox_fsm_remap(f, R0, 0x900001, PG), -EINVAL);
	ASSERT_ERR(uffdbox_fsm_remap(f, R0, 0x900000, PG + 1), -EINVAL);
	ASSERT_ERR(uffdbox_fsm_remap(f, R0, UINT64_MAX - PG + 1, 2 * PG), -EINVAL); /* wraps */
	ASSERT_ERR(uffdbox_fsm_remap(f, R0 + 15 * PG, 0x900000, 2 * PG), -ERANGE);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_verdict_table, TMEM_NONE, 0)
{
	/* every stored state x every fault kind */
	struct uffdbox_fsm *f = mkfsm();
	enum { O = UFFDBOX_VERDICT_ORDINARY, S = UFFDBOX_VERDICT_SPURIOUS };
	static const uint64_t kinds[] = {0, W, WPF, MIN, MIN | W};
	struct {
		int state;
		int want[5];
	} rows[] = {
		{UFFDBOX_PAGE_UNPOPULATED, {O, O, S, O, O}},
		{UFFDBOX_PAGE_POPULATED, {S, S, S, S, S}},
		{UFFDBOX_PAGE_WP, {S, S, O, S, S}},
		{UFFDBOX_PAGE_WP_UNPOPULATED, {O, O, O, O, O}},
		{UFFDBOX_PAGE_POISONED, {4, 4, 4, 4, 4}},
		{UFFDBOX_PAGE_REMOVED, {O, O, S, O, O}},
		{UFFDBOX_PAGE_QUARANTINED, {2, 2, 2, 2, 2}},
	};
	/* page i of region 0 gets state rows[i] */
	act(f, UFFDBOX_FSM_COPY, 0, R0 + 1 * PG, PG, PG);
	act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0 + 2 * PG, PG, PG);
	act(f, UFFDBOX_FSM_PROTECT, UFFDBOX_FSM_MODE_MARKERS, R0 + 3 * PG, PG, 0);
	act(f, UFFDBOX_FSM_POISON, 0, R0 + 4 * PG, PG, PG);
	uffdbox_fsm_remove(f, R0 + 5 * PG, R0 + 6 * PG);
	uffdbox_fsm_unmap(f, R0 + 6 * PG, R0 + 7 * PG);
	for (int i = 0; i < 7; i++) {
		ASSERT_EQ(st(f, 0, (uint64_t)i), rows[i].state);
		for (int k = 0; k < 5; k++) {
			struct uffdbox_fault o;
			int v = uffdbox_fsm_classify(f, R0 + (uint64_t)i * PG + 8, kinds[k], &o);
			if (v != rows[i].want[k])
				test_fail(__FILE__, __LINE__, "state %s kind %s: %s, expected %s",
					  uffdbox_page_state_name((unsigned)rows[i].state),
					  uffdbox_fault_kind_name(o.kind),
					  uffdbox_verdict_name((unsigned)v),
					  uffdbox_verdict_name((unsigned)rows[i].want[k]));
			ASSERT_EQ(o.state, rows[i].state);
		}
	}
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_event_from_messages, TMEM_NONE, 0)
{
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_msg m;
	struct uffdbox_fault o;

	uffdbox_msg_init(&m, UFFDBOX_MSG_PAGEFAULT);
	m.u.pagefault.address = R0 + 5 * PG + 16;
	m.u.pagefault.flags = W;
	ASSERT_EQ(uffdbox_fsm_event(f, &m, &o), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(o.page, 5);
	ASSERT_EQ(o.kind, UFFDBOX_FAULT_MISSING_WRITE);
	ASSERT_EQ(uffdbox_fsm_event(f, &m, NULL), UFFDBOX_VERDICT_ORDINARY);

	uffdbox_msg_init(&m, UFFDBOX_MSG_FORK);
	m.u.fork.fd = 9;
	ASSERT_EQ(uffdbox_fsm_event(f, &m, NULL), 0);

	act(f, UFFDBOX_FSM_COPY, 0, R0, 4 * PG, 4 * PG);
	uffdbox_msg_init(&m, UFFDBOX_MSG_REMOVE);
	m.u.remove.start = R0;
	m.u.remove.end = R0 + 2 * PG;
	ASSERT_EQ(uffdbox_fsm_event(f, &m, NULL), 2);
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_REMOVED);
	m.kind = UFFDBOX_MSG_UNMAP;
	ASSERT_EQ(uffdbox_fsm_event(f, &m, NULL), 2);
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_QUARANTINED);
	m.u.remove.start = R0 + 3 * PG; /* inverted */
	ASSERT_ERR(uffdbox_fsm_event(f, &m, NULL), -EINVAL);

	uffdbox_msg_init(&m, UFFDBOX_MSG_REMAP);
	m.u.remap.from = R1;
	m.u.remap.to = 0x900000;
	m.u.remap.len = 8 * PG;
	ASSERT_EQ(uffdbox_fsm_event(f, &m, NULL), 8);
	ASSERT_EQ(verdict(f, 0x900000, 0), UFFDBOX_VERDICT_ORDINARY);

	/* from raw bytes, unknown event */
	uint8_t raw[32] = {0x42};
	ASSERT_ERR(uffdbox_msg_parse(raw, 32, &m), -UFFDBOX_E_MSG_UNKNOWN);
	ASSERT_ERR(uffdbox_fsm_event(f, &m, NULL), -UFFDBOX_E_MSG_UNKNOWN);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_page_sizes, TMEM_NONE, 0)
{
	/* a 2 MiB-page region beside a 4 KiB one */
	struct uffdbox_fsm *f;
	const uint64_t H = 1ull << 21;
	ASSERT_OK(uffdbox_fsm_new(4, &f));
	struct uffdbox_fsm_region_opts o = {
		.sz = sizeof(o), .start = 4 * H, .pages = 4, .shift = 21, .guard_after = 1};
	ASSERT_EQ(uffdbox_fsm_region_add(f, &o), 0);
	struct uffdbox_fault fo;
	ASSERT_EQ(uffdbox_fsm_classify(f, 4 * H + H + 12345, W, &fo), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(fo.page, 1);
	ASSERT_UEQ(fo.offset, 12345);
	ASSERT_ERR(act(f, UFFDBOX_FSM_COPY, 0, 5 * H, PG, PG), -EINVAL); /* not a whole page */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, 5 * H, H, H), 1);
	ASSERT_EQ(uffdbox_fsm_classify(f, 8 * H + 5, 0, &fo), UFFDBOX_VERDICT_GUARD);
	ASSERT_EQ(uffdbox_fsm_remove(f, 5 * H + 100, 5 * H + 200), 1);

	uint8_t out[4];
	ASSERT_OK(uffdbox_fsm_page_states(f, 0, 0, out, 4));
	ASSERT_EQ(out[1], UFFDBOX_PAGE_REMOVED);
	ASSERT_ERR(uffdbox_fsm_page_states(f, 0, 1, out, 4), -ERANGE);
	ASSERT_ERR(uffdbox_fsm_page_states(f, 1, 0, out, 1), -ENOENT);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_lookup_many_regions, TMEM_NONE, 0)
{
	/* 1000 regions added in a scrambled order: every one is found by
	 * binary search, at its first and last byte and in its guards. */
	struct uffdbox_fsm *f;
	enum { N = 1000 };
	ASSERT_OK(uffdbox_fsm_new(N, &f));
	for (int i = 0; i < N; i++) {
		uint64_t slot = (uint64_t)((i * 617) % N); /* 617 is prime to 1000 */
		struct uffdbox_fsm_region_opts o = {.sz = sizeof(o),
						    .start = 0x10000000 + slot * 8 * PG,
						    .pages = 4,
						    .guard_before = 1,
						    .guard_after = 1};
		ASSERT_EQ(uffdbox_fsm_region_add(f, &o), i);
	}
	for (int i = 0; i < N; i++) {
		uint64_t slot = (uint64_t)((i * 617) % N), start = 0x10000000 + slot * 8 * PG;
		struct uffdbox_fault o;
		ASSERT_EQ(uffdbox_fsm_classify(f, start, 0, &o), UFFDBOX_VERDICT_ORDINARY);
		ASSERT_EQ(o.region, i);
		ASSERT_EQ(uffdbox_fsm_classify(f, start + 4 * PG - 1, 0, &o),
			  UFFDBOX_VERDICT_ORDINARY);
		ASSERT_EQ(o.region, i);
		ASSERT_EQ(uffdbox_fsm_classify(f, start - 1, 0, &o), UFFDBOX_VERDICT_GUARD);
		ASSERT_EQ(o.region, i);
		ASSERT_EQ(uffdbox_fsm_classify(f, start + 5 * PG, 0, &o), UFFDBOX_VERDICT_OUTSIDE);
	}
	for (int i = 0; i < N; i += 2)
		ASSERT_OK(uffdbox_fsm_region_release(f, i));
	ASSERT_EQ(uffdbox_fsm_regions(f), N / 2);
	ASSERT_EQ(verdict(f, 0x10000000 + (uint64_t)((1 * 617) % N) * 8 * PG, 0),
		  UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(verdict(f, 0x10000000, 0), UFFDBOX_VERDICT_OUTSIDE); /* region 0 released */
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_names, TMEM_NONE, 0)
{
	ASSERT_STR_EQ(uffdbox_page_state_name(UFFDBOX_PAGE_WP_UNPOPULATED), "wp-unpopulated");
	ASSERT_STR_EQ(uffdbox_page_state_name(8), "?");
	ASSERT_STR_EQ(uffdbox_fault_kind_name(UFFDBOX_FAULT_MINOR_WRITE), "minor-write");
	ASSERT_STR_EQ(uffdbox_verdict_name(UFFDBOX_VERDICT_USE_AFTER_UNMAP), "use-after-unmap");
	ASSERT_STR_EQ(uffdbox_verdict_name(UFFDBOX_VERDICT_BUSY), "busy");
	ASSERT_STR_EQ(uffdbox_verdict_name(7), "?");
}

TEST_CASE(fsm_claim_exactly_once, TMEM_NONE, 0)
{
	/* Two threads classify the same missing fault; one claim wins, the
	 * other sees the page changed; until the winner's action lands,
	 * everyone is told BUSY; the landing ends the claim. */
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fault a, b, c;
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 4096 + 5, W, &a), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 4096 + 9, 0, &b), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_claim(f, &a), 1);
	ASSERT_EQ(uffdbox_fsm_claim(f, &b), 0);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 4096, 0, &c), UFFDBOX_VERDICT_BUSY);
	ASSERT_EQ(c.state, UFFDBOX_PAGE_UNPOPULATED); /* the state under the claim */
	ASSERT_EQ(st(f, 0, 1), UFFDBOX_PAGE_UNPOPULATED);
	ASSERT_EQ(verdict(f, R0 + 2 * 4096, 0), UFFDBOX_VERDICT_ORDINARY); /* its neighbour */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 4096, 4096, 4096), 1);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 4096, 0, &c), UFFDBOX_VERDICT_SPURIOUS);
	ASSERT_EQ(c.state, UFFDBOX_PAGE_POPULATED);

	/* A failed action gives the page back unchanged... */
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 3 * 4096, 0, &a), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_claim(f, &a), 1);
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 3 * 4096, 4096, -EAGAIN), 0);
	ASSERT_EQ(verdict(f, R0 + 3 * 4096, 0), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_claim(f, &a), 1); /* ...to be claimed again */
	/* ...and EEXIST says someone else mapped it. */
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, 0, R0 + 3 * 4096, 4096, -EEXIST), 1);
	ASSERT_EQ(st(f, 0, 3), UFFDBOX_PAGE_POPULATED);

	/* A WP fault's claim ends with UNPROTECT. */
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, 0, R0 + 3 * 4096, 4096, 0), 1);
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 + 3 * 4096, WPF, &a), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(uffdbox_fsm_claim(f, &a), 1);
	ASSERT_EQ(verdict(f, R0 + 3 * 4096, WPF), UFFDBOX_VERDICT_BUSY);
	ASSERT_EQ(act(f, UFFDBOX_FSM_UNPROTECT, 0, R0 + 3 * 4096, 4096, 0), 1);
	ASSERT_EQ(verdict(f, R0 + 3 * 4096, WPF), UFFDBOX_VERDICT_SPURIOUS);

	/* Only body pages can be claimed; a released region's cannot. */
	ASSERT_EQ(uffdbox_fsm_classify(f, R0 - 1, 0, &c), UFFDBOX_VERDICT_GUARD);
	ASSERT_ERR(uffdbox_fsm_claim(f, &c), -EINVAL);
	ASSERT_EQ(uffdbox_fsm_classify(f, R1, 0, &c), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_OK(uffdbox_fsm_region_release(f, 1));
	ASSERT_ERR(uffdbox_fsm_claim(f, &c), -ENOENT);
	uffdbox_fsm_free(f);
}

TEST_CASE(fsm_classify_sigbus, TMEM_NONE, 0)
{
	/* A signal carries no WP flag: a write to a page known protected is a
	 * WP fault, a read of it is not (it was dropped), and a write to an
	 * unprotected page is a missing fault. */
	struct uffdbox_fsm *f = mkfsm();
	struct uffdbox_fault c;
	ASSERT_EQ(act(f, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R0, 4096, 4096), 1);
	ASSERT_EQ(act(f, UFFDBOX_FSM_PROTECT, UFFDBOX_FSM_MODE_MARKERS, R0 + 4096, 4096, 0), 1);
	ASSERT_EQ(uffdbox_fsm_classify_sigbus(f, R0 + 8, 1, &c), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(c.kind, UFFDBOX_FAULT_WP);
	ASSERT_EQ(uffdbox_fsm_classify_sigbus(f, R0 + 8, 0, &c), UFFDBOX_VERDICT_SPURIOUS);
	ASSERT_EQ(c.kind, UFFDBOX_FAULT_MISSING_READ);
	ASSERT_EQ(uffdbox_fsm_classify_sigbus(f, R0 + 4096, 1, &c), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(c.kind, UFFDBOX_FAULT_WP);
	ASSERT_EQ(c.state, UFFDBOX_PAGE_WP_UNPOPULATED);
	ASSERT_EQ(uffdbox_fsm_classify_sigbus(f, R0 + 2 * 4096, 1, &c), UFFDBOX_VERDICT_ORDINARY);
	ASSERT_EQ(c.kind, UFFDBOX_FAULT_MISSING_WRITE);
	ASSERT_EQ(uffdbox_fsm_classify_sigbus(f, 0x1000, 1, &c), UFFDBOX_VERDICT_OUTSIDE);
	uffdbox_fsm_free(f);
}
