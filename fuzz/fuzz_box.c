/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_box.c - the input drives a real sandbox: contents injected on
 * fault, a schedule of reads, writes, resets, unmaps and snapshot restores,
 * with real kernel faults every execution, checked against a plain model.
 *
 * Invariants (any break aborts):
 *   - every read returns exactly the injected or written bytes;
 *   - restore returns the snapshot memory byte for byte;
 *   - an input's log digest is stable when replayed (checked for one input
 *     in 8 without an unmap, replayed in the same execution).
 *
 * Input: 4 bytes of content seed, then commands of 4 bytes [op, a, b, c].
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox.h>

#define FUZZ_NAME "fuzz_box"
#include "fuzz_util.h"

#define PG	   4096
#define DATA_PAGES 4
#define WP_PAGES   2
#define HEAP_PAGES 8
#define MAX_CMDS   64
/* Per input, the expensive commands past these counts are skipped: a reset
 * or restore costs a TLB flush (tens of us on a paravirtualized guest), an
 * unmap a munmap, a mmap and a registration.  Their effects compound across
 * inputs anyway (the quarantine and the slots persist). */
#define MAX_RESETS   2
#define MAX_UNMAPS   1
#define MAX_RESTORES 2

static struct uffdbox_sandbox *sb;
static struct uffdbox_snapshot *snap;
static int r_data = -1, r_wp = -1;
static unsigned char *heap, *heap_golden;
static unsigned char content[DATA_PAGES * PG];
static unsigned char model_data[DATA_PAGES * PG], model_wp[WP_PAGES * PG];
static unsigned char wp_golden[WP_PAGES * PG]; /* the pattern, expanded once */
static const unsigned char wp_pattern[] = {0xa5, 0x5a, 0x01};

/* The harness's own bookkeeping (the model, the content expansion) is not
 * what is being fuzzed: NO_COV there (fuzz_util.h). */

static int add(const char *name, size_t pages, unsigned int modes, const struct uffdbox_policy *p)
{
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = pages, .name = name, .modes = modes};
	int ri = uffdbox_sandbox_add_region(sb, &ro, p);
	FUZZ_CHECK(ri >= 0);
	return ri;
}

static void add_data(void)
{
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .source = UFFDBOX_SOURCE_BUFFER,
				   .data = content,
				   .data_len = sizeof(content)};
	r_data = add("data", DATA_PAGES, 0, &p);
}

static void setup(void)
{
	struct uffdbox_sandbox_opts o = {
		.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC, .uau_continue = true};
	FUZZ_CHECK(uffdbox_sandbox_new(&o, &sb) == 0);
	add_data();
	bool wp = uffdbox_uffd_features(uffdbox_sandbox_uffd(sb)) & UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	if (wp) {
		struct uffdbox_policy p = {.sz = sizeof(p),
					   .action = UFFDBOX_POLICY_INJECT_WP,
					   .source = UFFDBOX_SOURCE_PATTERN,
					   .data = wp_pattern,
					   .data_len = sizeof(wp_pattern)};
		r_wp = add("wp", WP_PAGES, UFFDBOX_REG_WP, &p);
	}
	for (size_t i = 0; i < sizeof(wp_golden); i++)
		wp_golden[i] = wp_pattern[i % sizeof(wp_pattern)];
	heap = aligned_alloc(PG, HEAP_PAGES * PG);
	heap_golden = malloc(HEAP_PAGES * PG);
	FUZZ_CHECK(heap && heap_golden);
	for (size_t i = 0; i < HEAP_PAGES * PG; i++)
		heap[i] = (unsigned char)(i * 13 + 7);
	memcpy(heap_golden, heap, HEAP_PAGES * PG);
	FUZZ_CHECK(uffdbox_snapshot_new(NULL, &snap) == 0);
	FUZZ_CHECK(uffdbox_snapshot_add(snap, heap, HEAP_PAGES * PG) == 0);
	FUZZ_CHECK(uffdbox_snapshot_take(snap) == 0);
}

/* What a region holds before anyone writes: its source's bytes. */
NO_COV static void model_reset(int which)
{
	if (which == 0)
		memcpy(model_data, content, sizeof(model_data));
	else
		memcpy(model_wp, wp_golden, sizeof(model_wp));
}

/* content: a seed expanded (splitmix64, a word at a time), so inputs stay
 * small; the same seed as last time keeps what is there. */
NO_COV static void expand(uint32_t seed)
{
	static uint32_t last_seed;
	static bool expanded;
	if (expanded && seed == last_seed)
		return;
	uint64_t x = seed;
	for (size_t i = 0; i < sizeof(content); i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(content + i, &z, 8);
	}
	last_seed = seed;
	expanded = true;
}

static uint64_t run(const uint8_t *d, size_t n)
{
	uint32_t seed = 0;
	memcpy(&seed, d, n < 4 ? n : 4);
	expand(seed);
	d += n < 4 ? n : 4;
	n -= n < 4 ? n : 4;

	uffdbox_sandbox_log_reset(sb);
	FUZZ_CHECK(uffdbox_sandbox_reset(sb) == 0); /* every region, one call */
	model_reset(0);
	if (r_wp >= 0)
		model_reset(1);
	FUZZ_CHECK(uffdbox_snapshot_restore(snap) >= 0);
	FUZZ_CHECK(memcmp(heap, heap_golden, HEAP_PAGES * PG) == 0);

	volatile unsigned char *data = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_data));
	volatile unsigned char *wpr =
		r_wp >= 0 ? uffdbox_region_addr(uffdbox_sandbox_region(sb, r_wp)) : NULL;
	unsigned int resets = 0, unmaps = 0, restores = 0;
	for (size_t k = 0; k + 4 <= n && k / 4 < MAX_CMDS; k += 4) {
		uint8_t op = d[k] % 8, a = d[k + 1], b = d[k + 2], c = d[k + 3];
		size_t off = ((size_t)a << 8 | b) % (DATA_PAGES * PG);
		size_t woff = ((size_t)a << 8 | b) % (WP_PAGES * PG);
		size_t hoff = ((size_t)a << 8 | b) * 3 % (HEAP_PAGES * PG);
		switch (op) {
		case 0: /* read data */
			FUZZ_CHECK(data[off] == model_data[off]);
			break;
		case 1: /* write data */
			data[off] = c;
			model_data[off] = c;
			break;
		case 2: /* read the write-protected region */
			if (wpr)
				FUZZ_CHECK(wpr[woff] == model_wp[woff]);
			break;
		case 3: /* write it: a WP event on the page's first write */
			if (wpr) {
				wpr[woff] = c;
				model_wp[woff] = c;
			}
			break;
		case 4: /* reset data: the next access faults in the source again */
			if (resets++ >= MAX_RESETS)
				break;
			FUZZ_CHECK(uffdbox_sandbox_reset_region(sb, r_data, false) == 0);
			model_reset(0);
			break;
		case 5: /* unmap data into quarantine, start a new one */
			if (unmaps++ >= MAX_UNMAPS)
				break;
			FUZZ_CHECK(uffdbox_sandbox_unmap_region(sb, r_data) == 0);
			add_data();
			data = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_data));
			model_reset(0);
			break;
		case 6: /* write the snapshot memory */
			heap[hoff] = (unsigned char)(c ^ 0x5c);
			break;
		case 7: /* restore it */
			if (restores++ >= MAX_RESTORES)
				break;
			FUZZ_CHECK(uffdbox_snapshot_restore(snap) >= 0);
			FUZZ_CHECK(memcmp(heap, heap_golden, HEAP_PAGES * PG) == 0);
			break;
		}
	}
	return uffdbox_sandbox_log_digest(sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned int count;
	if (!sb)
		setup(); /* on the first input: AFL++ forks after init */
	uint64_t d1 = run(data, size);
	/* Replay and compare.  Not after an unmap: the replacement region's
	 * index (which the log records) depends on the quarantine's history. */
	bool unmaps = false;
	for (size_t k = 4; k + 4 <= size; k += 4)
		unmaps |= data[k] % 8 == 5;
	if ((count++ & 7) == 0 && !unmaps) {
		uint64_t d2 = run(data, size);
		FUZZ_CHECK(d1 == d2);
	}
	return 0;
}
