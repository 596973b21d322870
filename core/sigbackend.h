/* SPDX-License-Identifier: MIT */
/*
 * core/sigbackend.h - the "signal" backend behind struct uffdbox_uffd
 * (core/sigbackend.c): protection changes and guard markers instead of a
 * userfaultfd.  Called by core/uffd.c only, plus the classify query that
 * the SIGSEGV paths (harness/sync.c, harness/snapshot.c) ask.
 *
 * Return conventions are those of the uffdbox_uffd_* calls they stand in
 * for.  The resolving calls and the queries are async-signal-safe (they run
 * in the faulting thread's signal handler); register/unregister allocate.
 */
#ifndef UFFDBOX_CORE_SIGBACKEND_H
#define UFFDBOX_CORE_SIGBACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uffdbox__sig;
struct uffdbox_uffd;

int uffdbox__sig_new(struct uffdbox__sig **out, char *errbuf, size_t errbuf_len);
void uffdbox__sig_free(struct uffdbox__sig *s);
/* What the backend emulates, as UFFD_FEATURE_* / 1 << _UFFDIO_* masks. */
uint64_t uffdbox__sig_features(void);
uint64_t uffdbox__sig_ioctls(void);

int uffdbox__sig_register(struct uffdbox__sig *s, void *addr, size_t len, unsigned int modes,
			  size_t psz);
int uffdbox__sig_unregister(struct uffdbox__sig *s, void *addr, size_t len);
ssize_t uffdbox__sig_copy(struct uffdbox__sig *s, void *dst, const void *src, size_t len,
			  unsigned int flags);
ssize_t uffdbox__sig_zeropage(struct uffdbox__sig *s, void *dst, size_t len, unsigned int flags);
ssize_t uffdbox__sig_poison(struct uffdbox__sig *s, void *addr, size_t len, unsigned int flags);
int uffdbox__sig_writeprotect(struct uffdbox__sig *s, void *addr, size_t len, bool protect);
/* The pages of [addr, addr+len) were dropped (MADV_DONTNEED, a punched
 * hole): in a MISSING registration they trap again, as with a uffd. */
int uffdbox__sig_dropped(struct uffdbox__sig *s, void *addr, size_t len);

/* What a SIGSEGV at @addr is to the backend. */
enum uffdbox__sig_kind {
	UFFDBOX__SIG_NONE = 0,	  /* not a trap of ours: someone else's fault */
	UFFDBOX__SIG_MISSING = 1, /* a missing page of a registered range */
	UFFDBOX__SIG_WP = 2,	  /* a write to a write-protected page */
	UFFDBOX__SIG_POISON = 3,  /* a poisoned page: the target's memory error */
	UFFDBOX__SIG_LATE = 4,	  /* a page of a registered range that no longer
				   * traps: another thread resolved it between
				   * the fault and this look (retry the access) */
};
enum uffdbox__sig_kind uffdbox__sig_classify(struct uffdbox__sig *s, uintptr_t addr, bool write);

/* Whether fills with contents are hidden until complete (written through
 * /proc/self/mem while the pages are inaccessible: private 4 KiB pages);
 * else filled in place, visible half done to other threads. */
bool uffdbox__sig_hidden_fills(struct uffdbox__sig *s);

/* An eventfd standing in for the uffd's fd (uffdbox_uffd_fd): the SERVED
 * handler thread polls it; a faulting thread that posted a paused fault
 * kicks it (async-signal-safe); reading drains it and says -EAGAIN. */
int uffdbox__sig_fd(const struct uffdbox__sig *s);
void uffdbox__sig_kick(struct uffdbox__sig *s);
ssize_t uffdbox__sig_read(struct uffdbox__sig *s);

/* VMA splits the backend's protection changes account for now, and the
 * budget past which a change fails with -ENOMEM (and over_budget is set). */
long uffdbox__sig_splits(const struct uffdbox__sig *s);
long uffdbox__sig_budget(const struct uffdbox__sig *s);
bool uffdbox__sig_over_budget(const struct uffdbox__sig *s);

/* The signal backend of @u, NULL for a real userfaultfd (core/uffd.c). */
struct uffdbox__sig *uffdbox__uffd_sig(const struct uffdbox_uffd *u);
/* uffdbox__sig_dropped through @u; 0 for a real userfaultfd. */
int uffdbox__uffd_dropped(struct uffdbox_uffd *u, void *addr, size_t len);

/* The same for a region's body, after its pages were dropped (region.c). */
struct uffdbox_region;
int uffdbox__region_dropped(struct uffdbox_region *r);

#endif /* UFFDBOX_CORE_SIGBACKEND_H */
