/* SPDX-License-Identifier: MIT */
/*
 * harness/sandbox_int.h - the sandbox's insides, shared by its parts:
 * sandbox.c (lifecycle, regions, policies, the pipeline), sync.c (the SIGBUS
 * transport) and served.c (the handler thread, pause/release, watchdog).
 */
#ifndef UFFDBOX_HARNESS_SANDBOX_INT_H
#define UFFDBOX_HARNESS_SANDBOX_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <signal.h>

#include "uffdbox/fsm.h"
#include "uffdbox/sandbox.h"
#include "uffdbox/uffd.h"
#include "log.h"
#include "report.h"
#include "tids.h"

#define SB_MAX_REGIONS UFFDBOX_SANDBOX_MAX_REGIONS
#define SB_MAX_THREADS 1024
#define SB_MAX_PAUSED  64
#define SB_SCRATCH     64 /* pages of a size the sandbox can fill at once (concurrent faults) */
#define SB_SPARES      4  /* regions past the quarantine bound kept for reuse */

/* Pages to build a fault's contents in before UFFDIO_COPY, shared by the
 * regions of one page size: mapped once and warm, where a pool per region
 * cost a fuzz loop that maps a region per input an mmap, a munmap and a
 * first-touch fault each time. */
struct sb_scratch {
	char *mem; /* SB_SCRATCH pages of psz */
	size_t psz;
	_Atomic uint64_t busy;
};

struct sb_region {
	struct uffdbox_region *r;
	uintptr_t start, end;
	size_t psz;
	unsigned int modes;
	bool can_zeropage;
	struct uffdbox_policy pol;
	int fid;		    /* its id in the sandbox's core/fsm */
	_Atomic uint32_t touched;   /* 1: a page mapped (or armed) since the last reset */
	struct sb_scratch *scratch; /* the sandbox's pool for this page size */
	uint64_t zero_digest;
	/* Digest of every page the policy makes, when they are all alike (a
	 * pattern whose period divides the page size): no hash per fault. */
	uint64_t pol_digest;
	bool pol_digest_valid;
	/* Unmapped into quarantine: every access is a use-after-unmap. */
	_Atomic bool quarantined;
	bool released; /* evicted from quarantine: really unmapped */
	/* Evicted from quarantine but kept mapped, still quarantined (a stale
	 * access is still reported), for the next add of its shape: a fuzz
	 * loop that unmaps a region and maps a new one per input is spared an
	 * mmap, two guard installs, a registration, an unregistration and a
	 * munmap each time. */
	bool spare;
	uint64_t unmap_seq;
	uint32_t unmap_thread;
	int32_t unmap_tid;
	struct uffdbox__stack unmap_stack;
	char name[32];
	size_t guard_pages; /* as asked for at add (for sb_spare) */
	enum uffdbox_guard_kind guard;
};

struct sb_paused {
	bool used;
	struct uffdbox_paused p;
	uintptr_t page_addr;
	uint32_t offset;
	struct timespec since;
};

/*
 * The region table of the sandbox's core/fsm is read by every fault (in any
 * thread's signal handler, and the handler thread) and changed by region
 * add/release in an API thread.  Readers announce themselves in a counter
 * and back off while a writer is in; the writer waits for the readers to
 * leave.  No reader blocks on anything while in: what it does inside is a
 * binary search and a byte compare-and-swap (never a callback, never a
 * fault: the fsm's memory is ordinary heap).  The writer blocks signals
 * while in, so that no handler of its own thread can become a reader that
 * waits for it.
 */
struct sb_table_lock {
	_Atomic int readers;
	_Atomic int writer;
	pthread_mutex_t writers; /* one writer at a time */
};

struct uffdbox_sandbox {
	/* What every fault reads comes first, a few lines together, not
	 * spread over the 1.8 MB of the struct (a fault's handler would
	 * touch a page of it per field). */
	struct uffdbox_uffd *u;
	struct uffdbox_fsm *fsm; /* every page's state; decides every fault */
	struct sb_table_lock tbl;
	enum uffdbox_transport transport;
	bool busy_poll;
	bool noncooperative;
	bool signals; /* the signal backend: faults arrive as SIGSEGV (sync.c) */
	unsigned int watchdog_ms;
	const char *zeros; /* read-only zeros, as large as the largest page */
	size_t zeros_len;
	struct uffdbox__log log;
	struct uffdbox__tids tids; /* logical thread ids, over tid_slots */
	_Atomic int32_t tid_slots[SB_MAX_THREADS];
	int16_t by_fid[SB_MAX_REGIONS]; /* fsm region id -> sandbox region */
	struct sb_region regions[SB_MAX_REGIONS];
	_Atomic int nregions;
	char report_log[256];
	bool guard_reports;
	size_t quarantine_limit, quarantine_used;
	bool uau_continue;
	int quarantine_fifo[SB_MAX_REGIONS];
	int quarantine_n;
	uintptr_t uau_sites[64];
	_Atomic uint32_t uau_nsites;
	struct sb_scratch scratch[2]; /* base pages, huge pages */
	int nspares;

	/* SERVED */
	pthread_t thread;
	bool thread_started;
	int stop_fd;
	_Atomic bool stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sb_paused paused[SB_MAX_PAUSED];
	_Atomic int nheld; /* used slots of paused[]: 0 spares the watchdog a scan */
	uint64_t next_pause_id;
	/* Drain requests (reset, log reset): the handler thread reads and
	 * handles every message queued so far, then says so. */
	_Atomic uint64_t drain_req;
	uint64_t drain_done; /* under mu */
	/* Regions a released held thread may still be about to touch: left
	 * mapped at free (see uffdbox_sandbox_free). */
	bool keep_mapped;
};

/* A fault, whichever transport saw it. */
struct sb_fault {
	uintptr_t addr; /* as reported: exact (sync, EXACT_ADDRESS) or page */
	bool write;
	bool wp; /* write-protect fault */
	bool minor;
	bool sigbus;   /* delivered as a signal: no WP flag (the page state tells) */
	int32_t tid;   /* kernel tid, 0 if unknown */
	void *uc;      /* SYNC: the signal context (for the access's stack) */
	uint64_t seq1; /* seq + 1 of its record once logged (retries amend it) */
	bool locked;   /* pipeline.c: holds the table's read lock from its
			* claim to its landing (the plain inject path) */
};

/* What handling a fault came to. */
enum sb_outcome {
	SB_DONE = 0,	 /* resolved (or the thread released) */
	SB_NOT_OURS = 1, /* outside every region, or a poisoned page */
	SB_RETRY = 2,	 /* -EAGAIN: drain events, then retry */
	SB_HELD = 3,	 /* paused: the served thread keeps it */
	SB_BUSY = 4,	 /* another thread is resolving the page (or a paused
			  * fault holds it): nothing to do, the access retries */
};

static inline void uffdbox__tbl_read_lock(struct uffdbox_sandbox *sb)
{
	for (;;) {
		atomic_fetch_add(&sb->tbl.readers, 1);
		if (!atomic_load(&sb->tbl.writer))
			return;
		atomic_fetch_sub(&sb->tbl.readers, 1);
		while (atomic_load_explicit(&sb->tbl.writer, memory_order_relaxed))
			__builtin_ia32_pause();
	}
}

static inline void uffdbox__tbl_read_unlock(struct uffdbox_sandbox *sb)
{
	atomic_fetch_sub_explicit(&sb->tbl.readers, 1, memory_order_release);
}

void uffdbox__tbl_write_lock(struct uffdbox_sandbox *sb, sigset_t *old);
void uffdbox__tbl_write_unlock(struct uffdbox_sandbox *sb, const sigset_t *old);

/* The sandbox region whose body holds @addr, or -1.  Takes the table lock. */
int uffdbox__sb_find(struct uffdbox_sandbox *sb, uintptr_t addr);
/* The sandbox region of a classified fault (c->region is an fsm id). */
static inline int uffdbox__sb_region_of(const struct uffdbox_sandbox *sb,
					const struct uffdbox_fault *c)
{
	return c->region < 0 ? -1 : sb->by_fid[c->region];
}
/* Tell the fsm how an action on [@addr, @addr + @len) came out. */
void uffdbox__sb_land(struct uffdbox_sandbox *sb, uint32_t op, uint32_t mode, uintptr_t addr,
		      size_t len, long result);
uint32_t uffdbox__sb_thread_id(struct uffdbox_sandbox *sb, int32_t tid);
/* The pipeline: classify -> policy -> resolve -> record.  Async-signal-safe
 * for the SYNC transport (no PAUSE there). */
enum sb_outcome uffdbox__sb_handle_fault(struct uffdbox_sandbox *sb, struct sb_fault *f);
/* Recompute what depends on the region's policy (after set_policy). */
void uffdbox__sb_policy_changed(struct sb_region *R);
/* Resolve page @page of region @ri with its source (or @contents), record it
 * as @res with @kind/@access/@thread.  Used by release and the watchdog. */
int uffdbox__sb_resolve_held(struct uffdbox_sandbox *sb, const struct sb_paused *pz,
			     const void *contents, enum uffdbox_resolution res, uint8_t kind);
void uffdbox__sb_record(struct uffdbox_sandbox *sb, uint8_t kind, int region, uint64_t page,
			uint32_t offset, uint64_t len, uint8_t access, uint32_t thread, uint8_t res,
			uint64_t digest);

int uffdbox__guard_install(struct uffdbox_sandbox *sb);
void uffdbox__guard_uninstall(struct uffdbox_sandbox *sb);
/* Write the log to opts.report_log, if set (on the way to a crash). */
int uffdbox__sb_write_report_log(struct uffdbox_sandbox *sb);
int uffdbox__sync_install(struct uffdbox_sandbox *sb);
void uffdbox__sync_uninstall(struct uffdbox_sandbox *sb);
int uffdbox__served_start(struct uffdbox_sandbox *sb);
/* SERVED: return once the handler thread has handled every message the
 * kernel queued before the call (no-op in SYNC, or in the handler thread). */
void uffdbox__served_drain(struct uffdbox_sandbox *sb);
/* Keep a fault the policy paused (SERVED): the signal backend's faulting
 * thread calls it from its handler, then waits there. */
void uffdbox__served_hold(struct uffdbox_sandbox *sb, const struct sb_fault *f);
void uffdbox__served_stop(struct uffdbox_sandbox *sb);

#endif /* UFFDBOX_HARNESS_SANDBOX_INT_H */
