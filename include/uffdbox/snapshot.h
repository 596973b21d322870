/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/snapshot.h - snapshot memory, then restore it in time proportional
 * to the pages written since: persistent-mode fuzzing without a fork.
 *
 * Modes, best first (AUTO picks the first the kernel offers):
 *   WP_ASYNC  UFFD_FEATURE_WP_ASYNC (6.7+): the kernel resolves write-protect
 *             faults itself and remembers written pages; PAGEMAP_SCAN lists
 *             them.  No fault reaches userspace.
 *   WP_SYNC   uffd-wp with the SIGBUS feature: the first write to each page
 *             raises SIGBUS, the handler marks the page dirty and
 *             unprotects it (one fault per page per round).
 *   COPY      no tracking: restore copies everything back.
 */
#ifndef UFFDBOX_SNAPSHOT_H
#define UFFDBOX_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum uffdbox_snapshot_mode {
	UFFDBOX_SNAPSHOT_AUTO = 0,
	UFFDBOX_SNAPSHOT_WP_ASYNC = 1,
	UFFDBOX_SNAPSHOT_WP_SYNC = 2,
	UFFDBOX_SNAPSHOT_COPY = 3,
};

struct uffdbox_snapshot_opts {
	size_t sz;
	enum uffdbox_snapshot_mode mode; /* AUTO, or one to force (error if
					  * the kernel lacks it) */
	char *errbuf;
	size_t errbuf_len;
	/*
	 * Re-arming (WP modes).  Write-protecting pages again costs a page-table
	 * update and a TLB flush per page table touched, whatever the number of
	 * pages: on a paravirtualized guest ~20 us each, more than copying 50
	 * pages.  So by default a page found written stays unprotected: each
	 * restore compares it with the snapshot and copies it back if it
	 * differs, and only after it has come back unchanged from
	 * @keep_restores restores in a row is it write-protected again.  A
	 * target that writes the same pages for every input then restores with
	 * one scan and the copies, and no re-protection at all.
	 *   keep_restores  0: the default (4)
	 *   eager          true: re-protect every written page at each restore
	 *                  (the plain uffd-wp scheme; @keep_restores ignored)
	 */
	unsigned int keep_restores;
	bool eager;
};

struct uffdbox_snapshot;

/*
 * uffdbox_snapshot_new - choose a mode (UFFDBOX_FEATURE_MASK applies) and
 * open what it needs.  WP_SYNC installs a SIGBUS handler chaining to the
 * previous one while any WP_SYNC snapshot exists; 16 may exist at once
 * (-EBUSY past that).  Free a snapshot only when nothing writes its ranges.
 * Returns 0 and *out, -UFFDBOX_E_NOFEATURE (a forced mode the kernel lacks),
 * -EBUSY, -ENOMEM, or an error of uffdbox_uffd_open().
 * Not async-signal-safe.  Free with uffdbox_snapshot_free().
 */
UFFDBOX_API int uffdbox_snapshot_new(const struct uffdbox_snapshot_opts *opts,
				     struct uffdbox_snapshot **out);
UFFDBOX_API void uffdbox_snapshot_free(struct uffdbox_snapshot *s);
UFFDBOX_API enum uffdbox_snapshot_mode uffdbox_snapshot_mode(const struct uffdbox_snapshot *s);
UFFDBOX_API const char *uffdbox_snapshot_mode_name(enum uffdbox_snapshot_mode m);

/*
 * uffdbox_snapshot_add - include [addr, addr+len) in the snapshot: private
 * read-write memory, page aligned, not registered with another userfaultfd
 * (a sandbox region is restored with uffdbox_sandbox_reset_region()
 * instead).  Before take().  WP_ASYNC tracks anonymous and private
 * file-backed memory alike (a program's .data and .bss); WP_SYNC only
 * anonymous, shmem and hugetlb memory (-EINVAL otherwise).
 * Returns 0, -EINVAL (alignment, after take, a memory type the mode cannot
 * track), -EBUSY (registered elsewhere), -ENOMEM; the options' errbuf says
 * which.
 */
UFFDBOX_API int uffdbox_snapshot_add(struct uffdbox_snapshot *s, void *addr, size_t len);

/*
 * uffdbox_snapshot_take - copy the ranges' contents aside and start
 * tracking writes.  Call once, when the target is in the state to return to.
 * Returns 0 or -errno.
 */
UFFDBOX_API int uffdbox_snapshot_take(struct uffdbox_snapshot *s);

/*
 * uffdbox_snapshot_restore - bring every range back to the snapshot, byte
 * for byte; pages dropped since (MADV_DONTNEED) count as written.  Tracking
 * goes on for the next round.  No other thread may write the ranges during
 * the call.  Returns the number of pages copied back, or -errno: the pages
 * written or dropped since the last restore (a page kept unprotected by the
 * adaptive re-arm counts only when its contents differ from the snapshot);
 * all of them in COPY mode.
 */
UFFDBOX_API ssize_t uffdbox_snapshot_restore(struct uffdbox_snapshot *s);

/* What restores have done so far (counters since take()). */
struct uffdbox_snapshot_stats {
	uint64_t restores;    /* uffdbox_snapshot_restore() calls that succeeded */
	uint64_t copied;      /* pages copied back */
	uint64_t compared;    /* hot pages compared with the snapshot */
	uint64_t rearmed;     /* pages write-protected again */
	uint64_t rearm_calls; /* runs write-protected (one ioctl each) */
	uint64_t hot;	      /* pages unprotected now (adaptive re-arm) */
};

/* uffdbox_snapshot_stats - fill @st.  Not async-signal-safe. */
UFFDBOX_API void uffdbox_snapshot_stats(const struct uffdbox_snapshot *s,
					struct uffdbox_snapshot_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_SNAPSHOT_H */
