/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/fsm.h - the handler state machine (pure).
 *
 * It knows the regions a sandbox owns and the state of each of their pages,
 * classifies each fault (region, page, kind, verdict) and follows the
 * transitions caused by kernel events (fault, fork, remap, remove, unmap),
 * by the handler's own actions (copy, zeropage, continue, protect,
 * unprotect, poison, move, wake) and by the region lifecycle (add, unmap
 * into quarantine, release).  It decides no policy: what to put in a page,
 * whether to report, is the caller's business.
 *
 * Pure: no system call, no global, no allocation except one per region at
 * uffdbox_fsm_region_add() (none when the caller gives the page storage) and
 * one at uffdbox_fsm_new() (none with uffdbox_fsm_init()).  Region lookup is
 * a binary search over a sorted table: O(log n).  A page's state takes 3
 * bits, stored one page per byte so that two threads updating two pages
 * never touch the same byte.
 *
 * Concurrency: classify, page reads, uffdbox_fsm_claim() and
 * uffdbox_fsm_apply() read the region table and read/write page bytes with
 * atomic byte accesses, so they may run at the same time in several threads
 * or signal handlers.  A transition decided by a fault is taken exactly
 * once: the thread whose uffdbox_fsm_claim() wins owns the page (it is
 * BUSY to everyone else) until its uffdbox_fsm_apply() lands the new state.  Anything
 * that changes the region table (region add/quarantine/release, and
 * uffdbox_fsm_remap() of a whole region) must be serialized by the caller
 * against every other call.  Functions marked async-signal-safe below are
 * safe in a SIGBUS handler.
 *
 * Addresses are uint64_t (the kernel's message fields); any value is
 * accepted: what is in no region is OUTSIDE.  Semantics in docs/fsm.md.
 */
#ifndef UFFDBOX_FSM_H
#define UFFDBOX_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The state of one page (3 bits). */
enum uffdbox_page_state {
	UFFDBOX_PAGE_UNPOPULATED = 0,	 /* no page yet: an access faults MISSING/MINOR */
	UFFDBOX_PAGE_POPULATED = 1,	 /* present and writable */
	UFFDBOX_PAGE_WP = 2,		 /* present, write-protected */
	UFFDBOX_PAGE_WP_UNPOPULATED = 3, /* no page, but a write-protect marker:
					  * a write faults WP, a read MISSING */
	UFFDBOX_PAGE_POISONED = 4,	 /* UFFDIO_POISON: an access gets SIGBUS */
	UFFDBOX_PAGE_REMOVED = 5,	 /* had contents, dropped (REMOVE, MOVE
					  * source): faults MISSING again */
	UFFDBOX_PAGE_QUARANTINED = 6,	 /* unmapped by the program, kept to catch
					  * use-after-unmap; sticky */
	UFFDBOX_PAGE_GUARD = 7,		 /* a guard-zone page (reported, never stored) */
};

/* What the faulting access was, from the page-fault flags. */
enum uffdbox_fault_kind {
	UFFDBOX_FAULT_MISSING_READ = 0,
	UFFDBOX_FAULT_MISSING_WRITE = 1,
	UFFDBOX_FAULT_WP = 2, /* WP flag set (wins over MINOR) */
	UFFDBOX_FAULT_MINOR_READ = 3,
	UFFDBOX_FAULT_MINOR_WRITE = 4,
};

/* What the fault means, given the page's state. */
enum uffdbox_verdict {
	UFFDBOX_VERDICT_ORDINARY = 0,	     /* resolve it (the policy says how) */
	UFFDBOX_VERDICT_SPURIOUS = 1,	     /* the condition no longer holds (page
					      * already present or unprotected: a
					      * race): nothing to resolve, wake */
	UFFDBOX_VERDICT_USE_AFTER_UNMAP = 2, /* page in quarantine */
	UFFDBOX_VERDICT_GUARD = 3,	     /* in a guard zone of a region */
	UFFDBOX_VERDICT_POISONED = 4,	     /* the page was poisoned */
	UFFDBOX_VERDICT_OUTSIDE = 5,	     /* in no region at all */
	UFFDBOX_VERDICT_BUSY = 6,	     /* another thread claimed the page and is
					      * resolving it (uffdbox_fsm_claim):
					      * record nothing, let the access retry */
};

/* Where an address falls. */
enum uffdbox_zone {
	UFFDBOX_ZONE_OUTSIDE = 0,
	UFFDBOX_ZONE_BODY = 1,
	UFFDBOX_ZONE_GUARD_BEFORE = 2, /* underflow */
	UFFDBOX_ZONE_GUARD_AFTER = 3,  /* overflow */
};

/* A classified fault. */
struct uffdbox_fault {
	uint64_t addr;	    /* the address given */
	uint64_t page;	    /* BODY: page index; GUARD_*: pages away from the body
			     * (0 = adjacent); OUTSIDE: 0 */
	uint64_t page_addr; /* first byte of that page; OUTSIDE: 0 */
	uint64_t offset;    /* addr - page_addr; OUTSIDE: 0 */
	int32_t region;	    /* region id; -1 when OUTSIDE */
	uint8_t kind;	    /* enum uffdbox_fault_kind */
	uint8_t verdict;    /* enum uffdbox_verdict */
	uint8_t state;	    /* enum uffdbox_page_state at classification */
	uint8_t zone;	    /* enum uffdbox_zone */
};

/* The handler's actions, as reported to uffdbox_fsm_apply(). */
enum uffdbox_fsm_op {
	UFFDBOX_FSM_COPY = 0,
	UFFDBOX_FSM_ZEROPAGE = 1,
	UFFDBOX_FSM_CONTINUE = 2,
	UFFDBOX_FSM_PROTECT = 3,
	UFFDBOX_FSM_UNPROTECT = 4,
	UFFDBOX_FSM_POISON = 5,
	UFFDBOX_FSM_MOVE = 6,
	UFFDBOX_FSM_WAKE = 7,
	UFFDBOX_FSM_OP_END,
};

/* COPY/CONTINUE: the page was mapped write-protected (UFFDIO_*_MODE_WP). */
#define UFFDBOX_FSM_MODE_WP 0x1u
/* PROTECT: never-populated or removed pages got a write-protect marker
 * (UFFD_FEATURE_WP_UNPOPULATED on anonymous memory; always on shmem and
 * hugetlb).  Without it those pages are left as they are, as the kernel
 * does for anonymous memory. */
#define UFFDBOX_FSM_MODE_MARKERS 0x2u

struct uffdbox_fsm_action {
	uint32_t op;   /* enum uffdbox_fsm_op */
	uint32_t mode; /* UFFDBOX_FSM_MODE_* */
	uint64_t addr; /* destination (the range acted on) */
	uint64_t len;
	uint64_t src;	/* MOVE: source */
	int64_t result; /* what the ioctl wrapper returned: bytes done (COPY,
			 * ZEROPAGE, CONTINUE, POISON, MOVE) or 0 (PROTECT,
			 * UNPROTECT, WAKE), else -errno */
};

struct uffdbox_fsm_region_opts {
	size_t sz;	       /* sizeof(struct uffdbox_fsm_region_opts) */
	uint64_t start;	       /* first byte of the body, page-aligned */
	uint64_t pages;	       /* body pages, > 0 */
	unsigned int shift;    /* log2 of the page size, 12..30; 0 means 12 */
	uint64_t guard_before; /* guard pages below the body */
	uint64_t guard_after;  /* guard pages above the body */
	uint8_t *state;	       /* optional: @pages bytes of page storage, owned
			      * by the caller, untouched after release */
};

struct uffdbox_fsm_region_info {
	uint64_t start, pages;
	uint64_t guard_before, guard_after;
	unsigned int shift;
	int quarantined; /* unmapped into quarantine as a whole */
};

struct uffdbox_fsm;

/*
 * uffdbox_fsm_size / uffdbox_fsm_init - a state machine for up to
 * @max_regions regions (1..65536) in caller memory @mem of @len >=
 * uffdbox_fsm_size(@max_regions) bytes, aligned to 8.
 * Returns 0 and *out (pointing into @mem), or -EINVAL.  The caller owns
 * @mem; call uffdbox_fsm_free() before reusing it if regions were added
 * without caller storage.  Async-signal-safe (no allocation).
 */
UFFDBOX_API size_t uffdbox_fsm_size(unsigned int max_regions);
UFFDBOX_API int uffdbox_fsm_init(void *mem, size_t len, unsigned int max_regions,
				 struct uffdbox_fsm **out);

/*
 * uffdbox_fsm_new - the same in one allocation.  Returns 0 and *out (free
 * with uffdbox_fsm_free()), -EINVAL or -ENOMEM.  Not async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_new(unsigned int max_regions, struct uffdbox_fsm **out);

/*
 * uffdbox_fsm_free - free the page storage of every region that owns it,
 * and the state machine itself when it came from uffdbox_fsm_new().
 * NULL accepted.  Not async-signal-safe.
 */
UFFDBOX_API void uffdbox_fsm_free(struct uffdbox_fsm *f);

/*
 * uffdbox_fsm_region_add - track a region: body [start, start + pages <<
 * shift) with guard zones on each side; every body page UNPOPULATED.
 *
 * Returns the region id (>= 0: the lowest free slot; stable until release)
 * or -EINVAL (sz 0, pages 0, shift out of range, start not aligned),
 * -EOVERFLOW (body or guards wrap past 0 or 2^64), -ENOSPC (table full),
 * -EEXIST (the region with its guards overlaps another's), -ENOMEM.
 * Allocates @pages bytes when opts->state is NULL (then not
 * async-signal-safe).  Changes the region table: serialize.
 */
UFFDBOX_API int uffdbox_fsm_region_add(struct uffdbox_fsm *f,
				       const struct uffdbox_fsm_region_opts *opts);

/*
 * uffdbox_fsm_region_quarantine - the program unmapped the whole region and
 * the harness keeps its addresses reserved: every page QUARANTINED, so that
 * any later fault there is a USE_AFTER_UNMAP.  Returns the number of pages
 * whose state changed, or -ENOENT (no such region).  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_region_quarantine(struct uffdbox_fsm *f, int region);

/*
 * uffdbox_fsm_region_release - forget the region (its addresses become
 * OUTSIDE) and free its page storage if the fsm owns it.  The id may be
 * reused by the next add.  Returns 0 or -ENOENT.  Not async-signal-safe when
 * the storage is owned (free()).  Changes the region table: serialize.
 */
UFFDBOX_API int uffdbox_fsm_region_release(struct uffdbox_fsm *f, int region);

/* uffdbox_fsm_region_info - 0 and *out, or -ENOENT.  Async-signal-safe. */
UFFDBOX_API int uffdbox_fsm_region_info(const struct uffdbox_fsm *f, int region,
					struct uffdbox_fsm_region_info *out);

/* uffdbox_fsm_regions - how many regions are tracked.  Async-signal-safe. */
UFFDBOX_API unsigned int uffdbox_fsm_regions(const struct uffdbox_fsm *f);

/*
 * uffdbox_fsm_page_state - the state of page @page of @region (enum
 * uffdbox_page_state, >= 0), or -ENOENT (no such region), -ERANGE (page out
 * of the body).  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_page_state(const struct uffdbox_fsm *f, int region, uint64_t page);

/*
 * uffdbox_fsm_page_states - copy the states of pages [@first, @first + @n)
 * of @region into @out (one enum uffdbox_page_state per byte).  Returns 0,
 * -ENOENT (no such region) or -ERANGE (past the body; nothing copied).
 * Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_page_states(const struct uffdbox_fsm *f, int region, uint64_t first,
					uint8_t *out, size_t n);

/*
 * uffdbox_fsm_classify - classify a fault at @addr with page-fault @flags
 * (UFFDBOX_MSG_PF_*; unknown bits ignored) into *@out.  Changes nothing: a
 * page's state changes when the handler's action lands (uffdbox_fsm_apply).
 * Returns the verdict (>= 0).  O(log regions).  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_classify(const struct uffdbox_fsm *f, uint64_t addr, uint64_t flags,
				     struct uffdbox_fault *out);

/*
 * uffdbox_fsm_classify_sigbus - classify a fault delivered as SIGBUS
 * (UFFD_FEATURE_SIGBUS) or by another signal, which carries no WP flag:
 * @write says whether the access was a write (the x86 page-fault error
 * code).  A write to a page this machine knows write-protected (WP,
 * WP_UNPOPULATED) is a WP fault; anything else is a missing one.  Returns
 * the verdict as uffdbox_fsm_classify().  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_classify_sigbus(const struct uffdbox_fsm *f, uint64_t addr, int write,
					    struct uffdbox_fault *out);

/*
 * uffdbox_fsm_claim - take the page of fault @flt (classified ORDINARY just
 * before) for resolving: atomically, its state must still be @flt->state
 * and becomes BUSY, so that every other classification of it says
 * UFFDBOX_VERDICT_BUSY until the claimant's uffdbox_fsm_apply() on it lands
 * (whatever that returns: a failed action gives the page back unchanged).
 * Returns 1 when this call claimed the page (record and resolve it), 0 when
 * the page changed or was claimed since @flt was classified (classify
 * again), -EINVAL when @flt is not a body page, -ENOENT when its region is
 * gone.  Lock-free, async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_claim(struct uffdbox_fsm *f, const struct uffdbox_fault *flt);

/*
 * uffdbox_fsm_apply - record the outcome of a handler action.
 *
 * The destination [addr, addr + len) must lie in one region body, aligned
 * to its page size.  Pages done (the first `result` bytes rounded down to
 * pages; the whole range for PROTECT/UNPROTECT/WAKE with result >= 0) take
 * their new state; -EEXIST marks the first page present (someone else
 * resolved it); any other negative result changes no state.  Either way a
 * claim (uffdbox_fsm_claim) on the pages of the range is given up.
 * QUARANTINED pages never change here.
 * Returns the number of pages whose state changed, or -EINVAL (unknown op
 * or mode bits, misalignment, MOVE ranges overlapping or wrapping), -ENOENT
 * (addr in no region body), -ERANGE (the range leaves the body).  len 0 is
 * a no-op returning 0.  O(log regions + pages).  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_apply(struct uffdbox_fsm *f, const struct uffdbox_fsm_action *a);

/*
 * uffdbox_fsm_remove - MADV_DONTNEED/REMOVE event on [start, end): every
 * body page that intersects it, in any region, becomes REMOVED (QUARANTINED
 * stays).  uffdbox_fsm_unmap - munmap/UNMAP event: those pages become
 * QUARANTINED.  Guard zones are not affected.  Return the number of pages
 * whose state changed, or -EINVAL (start > end).  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_remove(struct uffdbox_fsm *f, uint64_t start, uint64_t end);
UFFDBOX_API int uffdbox_fsm_unmap(struct uffdbox_fsm *f, uint64_t start, uint64_t end);

/*
 * uffdbox_fsm_remap - mremap/REMAP event: [from, from + len) moved to @to.
 *
 * A source outside every body is not tracked: 0.  Otherwise the source
 * must lie in one body and from, to, len be aligned to its page size.  A
 * whole body moves as a region (same id and states; its guard zones stay
 * behind, so it has none after); the destination must not overlap another
 * region (-EEXIST).  Part of a body moves page by page: each destination
 * page that is a page of a body with the same page size takes the source
 * page's state, and the source pages become QUARANTINED (an access there is
 * a use after unmap).
 * Returns the number of source pages, or -EINVAL (overlap, wrap,
 * misalignment), -ERANGE (source leaves its body), -EEXIST.  Changes the
 * region table when a whole region moves: serialize.  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_remap(struct uffdbox_fsm *f, uint64_t from, uint64_t to, uint64_t len);

/*
 * uffdbox_fsm_event - follow a parsed kernel message: PAGEFAULT is
 * classified into *@fault (which may be NULL) and returns the verdict;
 * FORK changes nothing (the child has its own copy and its own uffd) and
 * returns 0; REMAP, REMOVE, UNMAP return what the functions above return.
 * UNKNOWN returns -UFFDBOX_E_MSG_UNKNOWN.  The message's notes are not
 * consulted: fields are used as they are.  Async-signal-safe.
 */
UFFDBOX_API int uffdbox_fsm_event(struct uffdbox_fsm *f, const struct uffdbox_msg *m,
				  struct uffdbox_fault *fault);

/* Static names for logs: "unpopulated", "missing-read", "ordinary"...
 * "?" for out-of-range values.  Pure. */
UFFDBOX_API const char *uffdbox_page_state_name(unsigned int state);
UFFDBOX_API const char *uffdbox_fault_kind_name(unsigned int kind);
UFFDBOX_API const char *uffdbox_verdict_name(unsigned int verdict);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_FSM_H */
