/* SPDX-License-Identifier: MIT */
/*
 * run/preload.h - what the parts of libuffdbox-run.so share: the quarantine
 * (run/preload.c), the program's descriptors (run/fds.c), large heap blocks
 * (run/heap.c) and unloaded libraries (run/dl.c).  Internal, hidden.
 */
#ifndef UFFDBOX_RUN_PRELOAD_H
#define UFFDBOX_RUN_PRELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"

/* What a quarantined range was before it was released. */
enum uffdbox__qkind {
	UFFDBOX__Q_UNMAP, /* munmap / mremap by the program */
	UFFDBOX__Q_HEAP,  /* a malloc block mapped on its own, freed or moved */
	UFFDBOX__Q_DL,	  /* a library unloaded by dlclose */
};

/* A released range to keep reserved, with what its report says. */
struct uffdbox__qinfo {
	enum uffdbox__qkind kind;
	uintptr_t ustart, uend;		    /* HEAP: the block the program saw */
	const struct uffdbox__stack *alloc; /* HEAP: where it was allocated, or NULL */
	uint32_t alloc_thread;		    /* HEAP: by whom */
	int32_t alloc_tid;
	const struct uffdbox__stack *release; /* free / realloc / dlclose stack */
	const char *path;		      /* DL: the library's path */
};

/* True when detection is on and the calling thread is not inside one of
 * our own hooks (our allocations and mappings are never tracked). */
bool uffdbox__run_active(void);
void uffdbox__run_enter(void);
void uffdbox__run_leave(void);

/* The calling thread's logical id (T1, T2... in first-seen order). */
uint32_t uffdbox__run_thread(int32_t *tid);

/* The program's stack at an interposer, without this library's frames. */
void uffdbox__run_caller_stack(struct uffdbox__stack *st);

/*
 * [s, e) (page aligned) has just been unmapped by code we do not see
 * (glibc's free, ld.so's dlclose): take it back with MAP_FIXED_NOREPLACE and
 * quarantine it.  If anything was mapped there meanwhile (another thread),
 * nothing is reserved and nothing will be reported: a miss, never a false
 * report.  Returns 0 or -errno.
 */
int uffdbox__run_reserve(uintptr_t s, uintptr_t e, const struct uffdbox__qinfo *qi);

/*
 * Descriptors (run/fds.c).  uffdbox__fd_own() moves *slot to a high,
 * close-on-exec number and keeps it out of the program's close, close_range,
 * closefrom, dup2 and dup3; when the program dup2()s over it, the
 * descriptor moves first and *slot is updated.  Returns the new fd or
 * -errno (the old one stays in place then).
 */
int uffdbox__fd_own(int *slot);
void uffdbox__fd_disown(int *slot);

/* Heap blocks (run/heap.c): resolve the allocator, decide whether blocks
 * can be tracked (glibc's malloc only); called from the constructor. */
void uffdbox__heap_init(bool on);

#endif /* UFFDBOX_RUN_PRELOAD_H */
