/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/sandbox.h - a sandbox: one userfaultfd, its guarded regions, a
 * policy per region, and a deterministic event log.
 *
 * Every missing or write-protect fault in a sandbox region goes through one
 * pipeline: parse -> classify -> policy -> resolve -> record.  Two transports
 * feed it:
 *
 *   SYNC    UFFD_FEATURE_SIGBUS: the faulting thread takes SIGBUS and resolves
 *           its own fault inside the signal handler, then the access retries.
 *           No second thread; deterministic by construction.  A SIGBUS that is
 *           not a sandbox fault goes to the handler installed before.
 *   SERVED  a handler thread reads fault messages (poll with an eventfd for
 *           shutdown, or busy-poll) and resolves them; needed for pausing a
 *           thread at a fault and for the non-cooperative events (fork,
 *           remap, remove, unmap).
 */
#ifndef UFFDBOX_SANDBOX_H
#define UFFDBOX_SANDBOX_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

enum uffdbox_transport {
	UFFDBOX_TRANSPORT_SYNC = 0,
	UFFDBOX_TRANSPORT_SERVED = 1,
};

/* --- the event log ------------------------------------------------------ */

enum uffdbox_ev_kind {
	UFFDBOX_EV_MISSING = 1, /* missing page (read or write) */
	UFFDBOX_EV_WP = 2,	/* write to a write-protected page */
	UFFDBOX_EV_MINOR = 3,	/* page in the page cache, not mapped */
	UFFDBOX_EV_FORK = 4,
	UFFDBOX_EV_REMAP = 5,
	UFFDBOX_EV_REMOVE = 6,
	UFFDBOX_EV_UNMAP = 7,
	UFFDBOX_EV_WATCHDOG = 8, /* a fault left unresolved too long */
	UFFDBOX_EV_UAU = 9,	 /* access to a region unmapped into quarantine */
	UFFDBOX_EV_GUARD = 10,	 /* access to a guard page (report_guard_hits) */
	UFFDBOX_EV_CRASH = 11,	 /* the input crashed (uffdbox_fuzz_input, UFFDBOX_LOG):
				  * len = input size, digest = hash of its bytes */
};

enum uffdbox_access {
	UFFDBOX_ACCESS_READ = 0,
	UFFDBOX_ACCESS_WRITE = 1,
	UFFDBOX_ACCESS_NONE = 2, /* events that are not accesses */
};

/* How a fault was resolved (what the target saw). */
enum uffdbox_resolution {
	UFFDBOX_RES_NONE = 0,	   /* not a fault, or nothing to do */
	UFFDBOX_RES_ZERO = 1,	   /* zero-filled page */
	UFFDBOX_RES_PATTERN = 2,   /* a repeated byte pattern */
	UFFDBOX_RES_BUFFER = 3,	   /* bytes of a caller buffer */
	UFFDBOX_RES_FILE = 4,	   /* bytes of a file */
	UFFDBOX_RES_CALLBACK = 5,  /* bytes a callback produced */
	UFFDBOX_RES_UNPROTECT = 6, /* WP fault: write allowed, page unprotected */
	UFFDBOX_RES_PAUSED = 7,	   /* the thread is being held (pause policy) */
	UFFDBOX_RES_POISON = 8,	   /* page poisoned: the access gets SIGBUS */
	UFFDBOX_RES_RELEASED = 9,  /* paused, then released by the test */
	UFFDBOX_RES_ABORT = 10,	   /* report-and-abort policy */
	UFFDBOX_RES_EXISTS = 11,   /* already resolved (a race): woken only */
	UFFDBOX_RES_GONE = 12,	   /* range or process gone (ENOENT/ESRCH) */
	UFFDBOX_RES_TIMEOUT = 13,  /* watchdog resolved it with zeros */
};

/*
 * One normalized record.  Never an absolute address or a kernel thread id:
 * the same input gives the same records, ASLR or not.
 */
struct uffdbox_record {
	uint64_t seq;	    /* 0, 1, 2... in resolution order */
	uint64_t page;	    /* page index in the region */
	uint64_t digest;    /* of the bytes injected (0 when none) */
	uint64_t ts_ns;	    /* CLOCK_MONOTONIC since the sandbox began; 0 unless asked */
	uint64_t len;	    /* bytes covered (remove/unmap/remap); page size for faults */
	uint32_t offset;    /* byte offset in the page (exact when the kernel says) */
	int32_t region;	    /* region index, -1 when outside every region */
	uint32_t thread;    /* logical thread id: 1, 2... in first-seen order */
	uint8_t kind;	    /* enum uffdbox_ev_kind */
	uint8_t access;	    /* enum uffdbox_access */
	uint8_t resolution; /* enum uffdbox_resolution */
	uint8_t reserved;
};

/* --- policies ------------------------------------------------------------ */

enum uffdbox_policy_action {
	UFFDBOX_POLICY_INJECT = 0,    /* contents from the source */
	UFFDBOX_POLICY_INJECT_WP = 1, /* contents, mapped write-protected: the
				       * first write is a WP event */
	UFFDBOX_POLICY_POISON = 2,    /* UFFDIO_POISON: the access gets SIGBUS */
	UFFDBOX_POLICY_PAUSE = 3,     /* SERVED only: hold the thread until
				       * uffdbox_sandbox_release() */
	UFFDBOX_POLICY_ABORT = 4,     /* report on stderr and abort() */
};

enum uffdbox_source_kind {
	UFFDBOX_SOURCE_ZERO = 0,
	UFFDBOX_SOURCE_PATTERN = 1,  /* pattern[0..len) repeated */
	UFFDBOX_SOURCE_BUFFER = 2,   /* page k gets buf[k*page, (k+1)*page); the
				      * short tail and anything past it are zero;
				      * data_len > the region is -EINVAL */
	UFFDBOX_SOURCE_FILE = 3,     /* like BUFFER, read from fd at offset */
	UFFDBOX_SOURCE_CALLBACK = 4, /* cb fills the page */
};

/* What to do on a write-protect fault in the region. */
enum uffdbox_wp_action {
	UFFDBOX_WP_UNPROTECT = 0, /* unprotect the page: this and later writes
				   * go through */
	UFFDBOX_WP_PAUSE = 1,	  /* SERVED only: hold the writer, page still
				   * protected, until uffdbox_sandbox_release()
				   * (which unprotects) */
};

/*
 * Fill @page (of @len bytes) for page @index of @region.  @page arrives
 * zero-filled: write only the bytes that are not zero.  Return 0, or a
 * negative value to zero-fill instead.  Called from the SIGBUS handler in the
 * SYNC transport: it must be async-signal-safe there.
 */
typedef int (*uffdbox_fill_fn)(void *arg, int region, uint64_t index, void *page, size_t len);

/* Called on a WP fault with the page's pre-write contents (read-only). */
typedef void (*uffdbox_wp_fn)(void *arg, int region, uint64_t index, const void *page, size_t len);

struct uffdbox_policy {
	size_t sz;
	enum uffdbox_policy_action action;
	enum uffdbox_source_kind source;
	const void *data; /* PATTERN: the pattern; BUFFER: the buffer */
	size_t data_len;
	int fd;		 /* FILE */
	off_t fd_offset; /* FILE */
	uffdbox_fill_fn fill;
	void *fill_arg;
	enum uffdbox_wp_action wp;
	uffdbox_wp_fn on_wp;
	void *on_wp_arg;
};

/* --- the sandbox ---------------------------------------------------------- */

struct uffdbox_sandbox_opts {
	size_t sz;
	enum uffdbox_transport transport;
	/* SERVED: spin on the fd instead of sleeping in poll (lower latency,
	 * one core busy).  Ignored on the signal backend (no messages). */
	bool busy_poll;
	/* SERVED: ask for fork/remap/remove/unmap events. */
	bool noncooperative;
	/* A fault unresolved for this long is reported, resolved with zeros
	 * and its thread released. 0 = 10000 ms. */
	unsigned int watchdog_ms;
	/* Records kept in the in-memory ring (rounded up to a power of two);
	 * 0 = 4096.  The digest covers every record, kept or not. */
	size_t ring_records;
	/* Fill ts_ns in records (makes logs differ run to run). */
	bool timestamps;
	/* Optional buffer for a human explanation of a failure. */
	char *errbuf;
	size_t errbuf_len;
	/* Quarantine bound: bytes of unmapped regions kept reserved (FIFO);
	 * 0 = 256 MiB.  Past it the oldest are really unmapped. */
	size_t quarantine_bytes;
	/* After a use-after-unmap report, go on (the page reads as zeros;
	 * each site is reported once) instead of abort(). */
	bool uau_continue;
	/* Report guard hits: install a SIGSEGV handler (chaining to the one
	 * before it) that names the region and side, sanitizer style, then lets
	 * the fault take its course (the previous handler, or death by
	 * SIGSEGV). One sandbox at a time can have it (-EBUSY). */
	bool report_guard_hits;
	/* When a report is printed (guard hit, use-after-unmap), also write the
	 * log's JSON Lines to this file first. NULL: the environment's
	 * UFFDBOX_LOG, if set; else none. Copied. */
	const char *report_log;
};

struct uffdbox_sandbox;

/* Regions a sandbox holds at once, live or in quarantine. */
#define UFFDBOX_SANDBOX_MAX_REGIONS 4096

/*
 * uffdbox_sandbox_new - open a uffd and start the transport.
 *
 * SYNC installs a process-wide SIGBUS handler (chaining to the previous one
 * for signals that are not sandbox faults); at most one SYNC sandbox exists
 * at a time (-EBUSY otherwise).  SERVED starts the handler thread.
 * Returns 0 and *out, or an error as uffdbox_uffd_open(), -EBUSY, -ENOMEM.
 * Ownership: free with uffdbox_sandbox_free().  Not async-signal-safe.
 */
UFFDBOX_API int uffdbox_sandbox_new(const struct uffdbox_sandbox_opts *opts,
				    struct uffdbox_sandbox **out);

/*
 * uffdbox_sandbox_free - stop the transport, release every paused or waiting
 * thread (their pages get zeros), unmap every region, close the uffd.
 * A thread released here may not have retried its access yet: when any
 * was held, the regions are left mapped (unregistered: they behave as
 * ordinary memory) so that it never faults on freed memory; that memory is
 * the process's from then on.  NULL accepted.  Not thread-safe against
 * other calls on @sb.
 */
UFFDBOX_API void uffdbox_sandbox_free(struct uffdbox_sandbox *sb);

/*
 * uffdbox_sandbox_add_region - create a guarded region in the sandbox.
 * @opts as uffdbox_region_new() (modes: MISSING is always registered; add
 * UFFDBOX_REG_WP for write-protect tracking).  @policy may be NULL (inject
 * zeros).  Returns the region index (>= 0) or a negative error; the region
 * is owned by the sandbox (read it with uffdbox_sandbox_region()).  Up to
 * UFFDBOX_SANDBOX_MAX_REGIONS regions, live or quarantined; when all are
 * taken the oldest quarantined one leaves (-ENOSPC when none is).  A fault
 * finds its region in O(log regions).
 * Thread-safe against faults in other regions.
 */
UFFDBOX_API int uffdbox_sandbox_add_region(struct uffdbox_sandbox *sb,
					   const struct uffdbox_region_opts *opts,
					   const struct uffdbox_policy *policy);
UFFDBOX_API struct uffdbox_region *uffdbox_sandbox_region(struct uffdbox_sandbox *sb, int region);

/*
 * uffdbox_sandbox_set_policy - change a region's policy (between inputs).
 * The policy is copied; buffers it points to must stay valid until changed.
 * Not to be called while a thread may fault in that region.
 */
UFFDBOX_API int uffdbox_sandbox_set_policy(struct uffdbox_sandbox *sb, int region,
					   const struct uffdbox_policy *policy);

/*
 * uffdbox_sandbox_reset_region - drop every page of the region
 * (MADV_DONTNEED): the next access faults again.  With @wp_arm, re-arm
 * write-protection on the whole region (uffdbox_region_wp_arm()).
 */
UFFDBOX_API int uffdbox_sandbox_reset_region(struct uffdbox_sandbox *sb, int region, bool wp_arm);

/*
 * uffdbox_sandbox_reset - uffdbox_sandbox_reset_region() (without
 * re-arming) of every live region, between two inputs: one call instead of
 * one per region.  Regions untouched since their last reset cost nothing
 * (no syscall); quarantined ones are left as they are.  Returns 0, or the
 * first error (a region that could not be dropped stays due for the next
 * reset).  SERVED: first waits until the handler thread has handled every
 * message already queued (duplicates of faults already resolved), so that
 * none is taken for a fault of the next input.  Call it with no thread
 * faulting in the sandbox.
 */
UFFDBOX_API int uffdbox_sandbox_reset(struct uffdbox_sandbox *sb);

/*
 * uffdbox_sandbox_unmap_region - release a region into quarantine: its pages
 * are dropped (near-zero memory), its addresses stay reserved and
 * registered, and any later access is reported on stderr, sanitizer style
 * ("uffdbox: use-after-unmap READ|WRITE at 0x... by thread T<n>", the
 * stacks of the access (SYNC) and of this call), logged as a "uau" record,
 * then abort() - or, with uau_continue, zeros, each site reported once.
 * Regions past the quarantine bound leave it, oldest first: up to 4
 * (anonymous, missing faults only) stay reserved as spares, still reported
 * on access, until uffdbox_sandbox_add_region() asks for their shape (pages,
 * guards, modes, name) and reuses their addresses; the others are unmapped.
 * Returns 0, -EINVAL (no such region, or already unmapped), -errno.
 * Not to be called while a thread may fault in that region.
 */
UFFDBOX_API int uffdbox_sandbox_unmap_region(struct uffdbox_sandbox *sb, int region);

/* --- pause / release (SERVED) ------------------------------------------- */

struct uffdbox_paused {
	uint64_t id; /* pass to uffdbox_sandbox_release() */
	int region;
	uint64_t page;
	uint32_t thread; /* logical id */
	uint8_t access;	 /* enum uffdbox_access */
	uint8_t kind;	 /* MISSING or WP */
};

/*
 * uffdbox_sandbox_wait_paused - wait until a thread is paused at a fault in
 * @region (any region when -1) and page @page (any when UINT64_MAX).
 * Returns 0 and *out, -ETIMEDOUT after @timeout_ms, -EINVAL on a SYNC
 * sandbox.  Thread-safe.
 */
UFFDBOX_API int uffdbox_sandbox_wait_paused(struct uffdbox_sandbox *sb, int region, uint64_t page,
					    unsigned int timeout_ms, struct uffdbox_paused *out);

/*
 * uffdbox_sandbox_paused - copy up to @max held faults into @out, oldest
 * first.  Returns how many are held (may exceed @max).  Thread-safe.
 */
UFFDBOX_API int uffdbox_sandbox_paused(struct uffdbox_sandbox *sb, struct uffdbox_paused *out,
				       size_t max);

/*
 * uffdbox_sandbox_release - resolve a paused fault and let its thread go.
 * @contents: a page of bytes to map, or NULL for the region's source.
 * Returns 0, -ENOENT (no such paused fault), or the resolving error.
 * Thread-safe.
 */
UFFDBOX_API int uffdbox_sandbox_release(struct uffdbox_sandbox *sb, uint64_t id,
					const void *contents);

/*
 * uffdbox_sandbox_release_all - release every paused fault with zeros (the
 * records say TIMEOUT).  uffdbox_sandbox_free() does this too, but then
 * unmaps the regions: a released thread that has not yet retried its access
 * would find nothing there.  Call this, join the target's threads, then free.
 * Returns the number released.  Thread-safe.
 */
UFFDBOX_API int uffdbox_sandbox_release_all(struct uffdbox_sandbox *sb);

/* --- the log -------------------------------------------------------------- */

/*
 * Records appended so far (including those the ring overwrote).
 * A fault's record is in the log before the faulting thread runs on.  A
 * non-cooperative event's (fork, remap, remove, unmap) may come a moment
 * after its caller returned: the kernel lets the caller go as soon as the
 * handler thread has read the message.
 */
UFFDBOX_API uint64_t uffdbox_sandbox_log_count(const struct uffdbox_sandbox *sb);
/* Copy record @seq (if still in the ring) into *out: 0 or -ENOENT. */
UFFDBOX_API int uffdbox_sandbox_log_get(const struct uffdbox_sandbox *sb, uint64_t seq,
					struct uffdbox_record *out);
/* Digest of every record appended since the last reset: equal logs, equal
 * digests. */
UFFDBOX_API uint64_t uffdbox_sandbox_log_digest(const struct uffdbox_sandbox *sb);
/* Write the records in the ring as JSON Lines (docs/event-log.md). Returns
 * records written or -errno. */
UFFDBOX_API int uffdbox_sandbox_log_write(const struct uffdbox_sandbox *sb, FILE *f);
/* Forget every record, restart seq at 0 and logical thread ids at 1. Call
 * between inputs, with no thread faulting; SERVED first waits for the
 * handler thread to handle what is queued (uffdbox_sandbox_reset()). */
UFFDBOX_API void uffdbox_sandbox_log_reset(struct uffdbox_sandbox *sb);

/* The uffd under the sandbox (for feature checks). */
UFFDBOX_API struct uffdbox_uffd *uffdbox_sandbox_uffd(struct uffdbox_sandbox *sb);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_SANDBOX_H */
