/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/persist.h - whole-target reset: fresh-process state at persistent
 * speed.  At a chosen point (the first input) the process's writable memory
 * is snapshotted; before every later input it is put back, in time
 * proportional to the pages written (uffdbox/snapshot.h's modes).
 *
 * What is put back: every private writable mapping (the .data/.bss of the
 * program and of every loaded object, the brk heap and glibc's arena in
 * libc's .data together, anonymous mappings, thread-local storage), the
 * layout (mappings created since are unmapped, mappings removed since come
 * back with their contents, brk moves back, protections come back), and
 * file descriptors opened since (closed).  Not put back: the stack (the
 * caller's frames are live), shared mappings (AFL++'s coverage map and test
 * case), what the engine asked to keep, and kernel state (fd offsets, the
 * clock, signal dispositions): see docs/persist.md.
 *
 * One reset per process; its state lives in mappings of its own.  No other
 * thread may run while a snapshot is taken or restored: take() refuses
 * when other threads exist, restore() reports threads an input left
 * running and refuses.
 */
#ifndef UFFDBOX_PERSIST_H
#define UFFDBOX_PERSIST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uffdbox_persist_opts {
	size_t sz;
	enum uffdbox_snapshot_mode mode; /* AUTO: the best the kernel offers */
	/* Compare all restored memory with the snapshot after every Nth
	 * restore (0: never); differences go to stderr, one line per range. */
	unsigned int verify_every;
	/* Print what is snapshotted (one line per range) to stderr. */
	bool verbose;
	char *errbuf;
	size_t errbuf_len;
};

/*
 * uffdbox_persist_keep - exempt [addr, addr+len) from every restore: the
 * engine's own state living in the target's memory (a loop counter, an
 * input buffer, a "current input" pointer).  Whole pages are left out of
 * the snapshot; the bytes of partial pages are saved before each restore
 * and put back after.  Memory kept must not be heap memory the target's
 * allocator hands out (the allocator's own state is restored).  Call before
 * uffdbox_persist_take(); up to 256 ranges (the reset keeps some itself).
 * Returns 0, -EINVAL (len 0, after take), -ENOSPC (too many).
 * Not thread-safe, not async-signal-safe.
 */
UFFDBOX_API int uffdbox_persist_keep(const void *addr, size_t len);

/*
 * uffdbox_persist_take - snapshot the process now.  Besides the ranges
 * given to keep(), AFL++'s runtime state found in the program's symbol
 * table (`__afl_*`, `is_persistent`, the __AFL_LOOP counters) and
 * libFuzzer's counter and PC tables (`__sancov_*` sections) are kept.
 * Returns 0; -EALREADY (taken before); -EBUSY (other threads run); -ENOTSUP
 * (a sanitizer runtime: its shadow memory is terabytes); or an error of
 * uffdbox_snapshot_new()/_add(); the errbuf says which and what to do.
 * Not thread-safe.
 */
UFFDBOX_API int uffdbox_persist_take(const struct uffdbox_persist_opts *opts);

/*
 * uffdbox_persist_restore - put the process back to the snapshot (see the
 * top of this file).  Call at the same point as take() (the stack above the
 * caller is not restored: its frames must be the same ones).
 * Returns the pages copied back (>= 0); -EINVAL (no snapshot); -EBUSY
 * (threads the input started still run: each is named on stderr and
 * nothing is restored); -EIO (a mapping that cannot be brought back, e.g.
 * a library unloaded: named on stderr); or -errno of a syscall.
 */
UFFDBOX_API ssize_t uffdbox_persist_restore(void);

/*
 * uffdbox_persist_verify - compare every snapshotted page (less the kept
 * bytes) with the snapshot, byte for byte, and the layout with the one
 * taken.  Each differing range is printed to stderr with its mapping's
 * name.  Returns the number of differing ranges (0: identical), or -EINVAL
 * (no snapshot).
 */
UFFDBOX_API int uffdbox_persist_verify(void);

struct uffdbox_persist_stats {
	enum uffdbox_snapshot_mode mode;
	uint64_t ranges;     /* ranges snapshotted */
	uint64_t bytes;	     /* bytes snapshotted */
	uint64_t restores;   /* successful restores */
	uint64_t copied;     /* pages copied back in all */
	uint64_t unmapped;   /* mappings created by inputs, unmapped */
	uint64_t rebuilt;    /* restores that had to bring back removed memory */
	uint64_t fds_closed; /* descriptors opened by inputs, closed */
	uint64_t verified;   /* verify passes */
	uint64_t differing;  /* ranges verify found different */
};

/* uffdbox_persist_stats - fill @st; -EINVAL before take(). */
UFFDBOX_API int uffdbox_persist_stats(struct uffdbox_persist_stats *st);

/*
 * uffdbox_persist_auto - the one call for a fuzz harness or an engine's
 * input hook: with UFFDBOX_PERSIST=1 in the environment, the first call
 * takes the snapshot and every later call restores it (and verifies every
 * UFFDBOX_PERSIST_VERIFY=N restores; UFFDBOX_PERSIST_MODE=wp-async |
 * wp-sync | copy forces a mode).  Without UFFDBOX_PERSIST, does nothing.
 * Call it at the start of each input, after the harness's one-time init.
 * A failure is fatal: the cause goes to stderr and the process aborts (an
 * input that left a thread running is reported as a crash, never ignored).
 * Returns 0 (nothing to do or done), 1 (snapshot taken), 2 (restored).
 */
UFFDBOX_API int uffdbox_persist_auto(void);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_PERSIST_H */
