/* SPDX-License-Identifier: MIT */
/*
 * harness/theap.h - between the whole-target reset (persist.c) and the
 * target heap (theap.c, library uffdbox_heap): libFuzzer keeps its corpus
 * and mutator on the same heap as the target, so under libFuzzer the
 * target's allocations are served from an arena of their own and only
 * that arena (with the target's globals) is put back (docs/persist.md,
 * "libFuzzer").
 */
#ifndef UFFDBOX_THEAP_H
#define UFFDBOX_THEAP_H

#include <stddef.h>
#include <stdint.h>

struct uffdbox__theap_ops {
	/* At take(): the arena's part to snapshot, [*start, *end) - its
	 * header and every block allocated so far.  What is allocated past it
	 * later is scratch, dropped by after_restore().  -errno when the heap
	 * is not serving the target (with why in @why). */
	int (*freeze)(uintptr_t *start, uintptr_t *end, const char **why);
	/* After the snapshotted memory is back: drop the scratch, unmap the
	 * mappings the input made.  Returns the mappings unmapped. */
	int (*after_restore)(void);
	/* uffdbox's own mmap() calls (snapshot copies) while @on: not the
	 * target's, never unmapped by after_restore() */
	void (*quiet)(int on);
	/* libFuzzer is in the program (its marker is hidden there: a shared
	 * libuffdbox cannot see it) */
	int (*libfuzzer)(void);
};

/* Called by theap.c's constructor (exported: the heap is a static library
 * in the program, uffdbox may be the shared one). */
__attribute__((visibility("default"))) void
uffdbox__persist_set_heap(const struct uffdbox__theap_ops *ops);

/* Called by theap.c when libFuzzer's code runs again after an input. */
__attribute__((visibility("default"))) void uffdbox__persist_input_ended(void);

#endif
