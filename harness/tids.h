/* SPDX-License-Identifier: MIT */
/*
 * harness/tids.h - logical thread ids for the event log: 1, 2, 3, ... in the
 * order threads are first seen, so that a log does not depend on the
 * kernel's tid numbering.  Lock-free and async-signal-safe: the SYNC
 * transport and `uffdbox run` ask from signal handlers.  Shared by the
 * sandbox (harness/pipeline.c) and the preload library (run/preload.c).
 */
#ifndef UFFDBOX_HARNESS_TIDS_H
#define UFFDBOX_HARNESS_TIDS_H

#include <stdatomic.h>
#include <stdint.h>

struct uffdbox__tids {
	uint32_t cap;	      /* entries in @tid */
	_Atomic uint32_t n;   /* slots claimed */
	_Atomic int32_t *tid; /* kernel tid of logical id i + 1; 0 while being stored */
};

/*
 * uffdbox__tid_logical - the logical id of kernel thread @tid: its slot + 1,
 * claiming the next slot on first sight.  Past @cap threads every new one
 * is cap + 1 ("many": still the same in every run).  @tid 0 (unknown) is 0.
 */
static inline uint32_t uffdbox__tid_logical(struct uffdbox__tids *t, int32_t tid)
{
	uint32_t n = atomic_load_explicit(&t->n, memory_order_acquire);

	if (tid == 0)
		return 0;
	for (;;) {
		for (uint32_t i = 0; i < n && i < t->cap; i++)
			if (atomic_load_explicit(&t->tid[i], memory_order_acquire) == tid)
				return i + 1;
		if (n >= t->cap)
			return t->cap + 1;
		/* Claim slot n; if another thread got there first, look again. */
		if (atomic_compare_exchange_strong(&t->n, &n, n + 1)) {
			atomic_store_explicit(&t->tid[n], tid, memory_order_release);
			return n + 1;
		}
	}
}

/* Forget every thread: the next one seen is 1 again. */
static inline void uffdbox__tids_reset(struct uffdbox__tids *t)
{
	uint32_t n = atomic_load(&t->n);
	for (uint32_t i = 0; i < n && i < t->cap; i++) /* the slots ever claimed */
		atomic_store_explicit(&t->tid[i], 0, memory_order_relaxed);
	atomic_store(&t->n, 0);
}

#endif /* UFFDBOX_HARNESS_TIDS_H */
