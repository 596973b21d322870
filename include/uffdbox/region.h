/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/region.h - guarded regions: N pages of memory between guard pages,
 * registered with a userfaultfd.
 *
 * Layout (addresses grow to the right):
 *
 *   [ guard × G ][ body: N pages, registered ][ guard × G ]
 *
 * The body is anonymous private, shared anonymous (a memfd, so it can be
 * mapped twice: the second mapping is what UFFDIO_CONTINUE resolves minor
 * faults from), or hugetlb.  A guard hit is SIGSEGV; a registered fault is a
 * uffd event (or SIGBUS with UFFD_FEATURE_SIGBUS) - never the same, and
 * uffdbox_region_classify() names either from the address alone.
 */
#ifndef UFFDBOX_REGION_H
#define UFFDBOX_REGION_H

#include <stdbool.h>

#include "common.h"
#include "uffd.h"

#ifdef __cplusplus
extern "C" {
#endif

enum uffdbox_mem {
	UFFDBOX_MEM_ANON = 0,	 /* MAP_PRIVATE|MAP_ANONYMOUS */
	UFFDBOX_MEM_SHMEM = 1,	 /* memfd, MAP_SHARED */
	UFFDBOX_MEM_HUGETLB = 2, /* memfd with MFD_HUGETLB, MAP_SHARED */
};

enum uffdbox_guard_kind {
	UFFDBOX_GUARD_AUTO = 0,	    /* MADV_GUARD_INSTALL if the kernel has it,
				    * else MPROTECT */
	UFFDBOX_GUARD_MADVISE = 1,  /* MADV_GUARD_INSTALL (6.13+): no extra VMA */
	UFFDBOX_GUARD_MPROTECT = 2, /* PROT_NONE mapping: one VMA per guard */
	UFFDBOX_GUARD_NONE = 3,	    /* no guard pages */
};

struct uffdbox_region_opts {
	size_t sz;
	enum uffdbox_mem mem;
	/* Number of pages of the body (> 0). For hugetlb, huge pages. */
	size_t pages;
	/* Guard pages on each side, in pages of the body's size (default 1
	 * when 0 and guard != NONE). */
	size_t guard_pages;
	enum uffdbox_guard_kind guard;
	/* Registration modes (enum uffdbox_reg_mode); 0 = MISSING. Ignored
	 * when no uffd is given. */
	unsigned int modes;
	/* A name for logs and reports (copied; truncated to 31 bytes). */
	const char *name;
	/* Optional buffer for a human explanation of a failure. */
	char *errbuf;
	size_t errbuf_len;
};

struct uffdbox_region;

/*
 * uffdbox_region_new - map a guarded region and register its body.
 *
 * @u may be NULL: the region is then mapped but not registered (register it
 * later with uffdbox_uffd_register() on its body).  Sizes are never
 * rounded: a page count of 0, a size that overflows, or a guard count that
 * overflows is -EINVAL/-EOVERFLOW.
 *
 * Returns 0 and *out, or: -EINVAL (bad options; a mode the memory type
 * does not support), -EOVERFLOW, -UFFDBOX_E_NOHUGE (no huge pages can be
 * had; errbuf says how to reserve them), -EOPNOTSUPP (MADVISE guards asked
 * for on a kernel without MADV_GUARD_INSTALL), -ENOMEM, or what
 * UFFDIO_REGISTER returned.
 * Ownership: the caller frees *out with uffdbox_region_free(); @u must
 * outlive the region.  Thread-safe; not async-signal-safe.
 */
UFFDBOX_API int uffdbox_region_new(struct uffdbox_uffd *u, const struct uffdbox_region_opts *opts,
				   struct uffdbox_region **out);

/* uffdbox_region_free - unregister and unmap everything; NULL accepted. */
UFFDBOX_API void uffdbox_region_free(struct uffdbox_region *r);

/* Getters: thread-safe and async-signal-safe. */
UFFDBOX_API void *uffdbox_region_addr(const struct uffdbox_region *r); /* body start */
UFFDBOX_API size_t uffdbox_region_len(const struct uffdbox_region *r); /* body bytes */
UFFDBOX_API size_t uffdbox_region_page_size(const struct uffdbox_region *r);
UFFDBOX_API size_t uffdbox_region_pages(const struct uffdbox_region *r);
UFFDBOX_API enum uffdbox_mem uffdbox_region_mem(const struct uffdbox_region *r);
/* The guard kind actually installed (AUTO resolved to MADVISE/MPROTECT). */
UFFDBOX_API enum uffdbox_guard_kind uffdbox_region_guard(const struct uffdbox_region *r);
UFFDBOX_API const char *uffdbox_region_name(const struct uffdbox_region *r);
/* The memfd behind a SHMEM/HUGETLB body; -1 for ANON. Owned by the region. */
UFFDBOX_API int uffdbox_region_memfd(const struct uffdbox_region *r);
/* Resolving ioctls the kernel allows on the body (from UFFDIO_REGISTER). */
UFFDBOX_API uint64_t uffdbox_region_ioctls(const struct uffdbox_region *r);

/*
 * uffdbox_region_alias - a second, unregistered mapping of a SHMEM/HUGETLB
 * body (same pages).  Writing through it populates the page cache without
 * a fault, which is how minor faults are set up and resolved with
 * UFFDIO_CONTINUE.  Returns 0 and *out (owned by the region, unmapped by
 * uffdbox_region_free()), -EINVAL for ANON, or -errno.
 */
UFFDBOX_API int uffdbox_region_alias(struct uffdbox_region *r, void **out);

/*
 * uffdbox_region_wp_arm - write-protect the whole body, so that the first
 * write to every page, touched or not, is a WP fault.
 *
 * The region must be registered with UFFDBOX_REG_WP.  With
 * UFFD_FEATURE_WP_UNPOPULATED negotiated on its uffd this is one ioctl.
 * Without it (kernels before 6.4, or the feature hidden by
 * UFFDBOX_FEATURE_MASK) never-touched pages are populated first: with
 * write-protected zero pages where MISSING is registered (so those pages
 * raise no missing fault afterwards: they read as zeros), with
 * MADV_POPULATE_WRITE otherwise.
 * Returns 0, -EINVAL (not registered for WP), -EAGAIN (a non-cooperative
 * event is pending: read it and call again), or -errno.
 * Thread-safe; not async-signal-safe.
 */
UFFDBOX_API int uffdbox_region_wp_arm(struct uffdbox_region *r);

enum uffdbox_addr_class {
	UFFDBOX_ADDR_OUTSIDE = 0,
	UFFDBOX_ADDR_BODY = 1,
	UFFDBOX_ADDR_GUARD_BEFORE = 2, /* underflow */
	UFFDBOX_ADDR_GUARD_AFTER = 3,  /* overflow */
};

/*
 * uffdbox_region_classify - where @addr falls.  @page, when not NULL and
 * the class is BODY, receives the page index in the body.  Pure arithmetic:
 * thread-safe and async-signal-safe.
 */
UFFDBOX_API enum uffdbox_addr_class uffdbox_region_classify(const struct uffdbox_region *r,
							    const void *addr, size_t *page);

/* uffdbox_guard_supported - 1 if this kernel has MADV_GUARD_INSTALL, 0 if
 * not (probed once on a scratch page), -errno if the probe itself failed. */
UFFDBOX_API int uffdbox_guard_supported(void);

/* uffdbox_hugepage_size - the default huge page size, 0 if none. */
UFFDBOX_API size_t uffdbox_hugepage_size(void);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_REGION_H */
