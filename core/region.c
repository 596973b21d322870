/* SPDX-License-Identifier: MIT */
/*
 * core/region.c - guarded regions: a reservation holding guard, body, guard;
 * the body anonymous, memfd-backed or hugetlb, registered with a uffd.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uffdbox/compat.h"
#include "uffdbox/region.h"
#include "sys.h"
#include "internal.h"
#include "sigbackend.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

struct uffdbox_region {
	struct uffdbox_uffd *u; /* NULL when not registered */
	char *base;		/* start of the whole reservation */
	size_t total;		/* bytes of the reservation */
	char *body;
	size_t len;
	size_t psz;
	size_t guard_len; /* bytes of guard on each side */
	enum uffdbox_mem mem;
	enum uffdbox_guard_kind guard;
	int memfd;
	void *alias;
	uint64_t ioctls;
	unsigned int modes; /* registration modes, when u != NULL */
	char name[32];
};

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	size_t klen = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (uffdbox__has_prefix(line, key) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

size_t uffdbox_hugepage_size(void)
{
	long kb = meminfo_kb("Hugepagesize");
	return kb > 0 ? (size_t)kb * 1024 : 0;
}

int uffdbox_guard_supported(void)
{
	/* 0 unknown, 1 yes, 2 no; probed once, racing probes agree. */
	static atomic_int cached;
	int c = atomic_load(&cached);

	if (uffdbox__hidden(UFFDBOX_HIDE_GUARD_INSTALL))
		return 0;
	if (c)
		return c == 1;
	long psz = sysconf(_SC_PAGESIZE);
	void *p =
		mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	int rc = madvise(p, (size_t)psz, MADV_GUARD_INSTALL);
	int err = errno;
	munmap(p, (size_t)psz);
	if (rc == 0)
		c = 1;
	else if (err == EINVAL)
		c = 2;
	else
		return -err;
	atomic_store(&cached, c);
	return c == 1;
}

static const struct uffdbox_region_opts default_opts = {.sz = sizeof(default_opts)};

static int map_body(struct uffdbox_region *r, const struct uffdbox_region_opts *o)
{
	void *p;

	if (r->mem == UFFDBOX_MEM_ANON) {
		p = mmap(r->body, r->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return p == MAP_FAILED ? -errno : 0;
	}
	unsigned int mfd = MFD_CLOEXEC | (r->mem == UFFDBOX_MEM_HUGETLB ? MFD_HUGETLB : 0);
	r->memfd = memfd_create(r->name[0] ? r->name : "uffdbox", mfd);
	if (r->memfd < 0)
		return -errno;
	if (ftruncate(r->memfd, (off_t)r->len) < 0)
		return -errno;
	/* For hugetlb the reservation is taken at mmap: ENOMEM here means the
	 * pool is short, not that the address space is. */
	p = mmap(r->body, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->memfd, 0);
	if (p != MAP_FAILED)
		return 0;
	int err = errno;
	if (r->mem == UFFDBOX_MEM_HUGETLB && (err == ENOMEM || err == EINVAL)) {
		uffdbox__explain(
			o->errbuf, o->errbuf_len,
			"hugetlb region of %zu huge pages of %zu KiB: only %ld free of %ld "
			"(reserve more: echo N > /proc/sys/vm/nr_hugepages)",
			r->len / r->psz, r->psz / 1024, meminfo_kb("HugePages_Free"),
			meminfo_kb("HugePages_Total"));
		return -UFFDBOX_E_NOHUGE;
	}
	return -err;
}

static int install_guards(struct uffdbox_region *r, enum uffdbox_guard_kind want)
{
	char *g[2] = {r->body - r->guard_len, r->body + r->len};

	if (!r->guard_len || want == UFFDBOX_GUARD_NONE) {
		r->guard = UFFDBOX_GUARD_NONE;
		return 0;
	}
	if (want == UFFDBOX_GUARD_AUTO || want == UFFDBOX_GUARD_MADVISE) {
		int s = uffdbox_guard_supported();
		if (s == 1) {
			/* Guard markers live in page tables of an ordinary
			 * anonymous mapping: no VMA of their own. */
			for (int i = 0; i < 2; i++) {
				void *p = mmap(g[i], r->guard_len, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
				if (p == MAP_FAILED)
					return -errno;
				if (madvise(g[i], r->guard_len, MADV_GUARD_INSTALL) < 0)
					return -errno;
			}
			r->guard = UFFDBOX_GUARD_MADVISE;
			return 0;
		}
		if (want == UFFDBOX_GUARD_MADVISE)
			return s < 0 ? s : -EOPNOTSUPP;
	}
	/* The reservation is PROT_NONE already: the guards are its ends. */
	r->guard = UFFDBOX_GUARD_MPROTECT;
	return 0;
}

/* Anonymous body and its guard markers in one mapping of r->total bytes. */
static int map_anon_in_one(struct uffdbox_region *r, enum uffdbox_guard_kind want)
{
	r->base = mmap(NULL, r->total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -errno;
	}
	r->body = r->base + r->guard_len;
	if (!r->guard_len || want == UFFDBOX_GUARD_NONE) {
		r->guard = UFFDBOX_GUARD_NONE;
		return 0;
	}
	if (madvise(r->base, r->guard_len, MADV_GUARD_INSTALL) < 0 ||
	    madvise(r->body + r->len, r->guard_len, MADV_GUARD_INSTALL) < 0)
		return -errno;
	r->guard = UFFDBOX_GUARD_MADVISE;
	return 0;
}

int uffdbox_region_new(struct uffdbox_uffd *u, const struct uffdbox_region_opts *opts,
		       struct uffdbox_region **out)
{
	struct uffdbox_region_opts o = default_opts;
	size_t len, glen, total, psz;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = uffdbox__opts_copy(
		&o, sizeof(o), UFFDBOX__OFFSETOFEND(struct uffdbox_region_opts, errbuf_len), opts,
		"uffdbox_region_opts", offsetof(struct uffdbox_region_opts, errbuf), NULL, 0);
	if (rc < 0)
		return rc;
	if (o.mem > UFFDBOX_MEM_HUGETLB || o.guard > UFFDBOX_GUARD_NONE || (o.modes & ~7u)) {
		uffdbox__explain(o.errbuf, o.errbuf_len, "unknown memory type, guard kind or mode");
		return -EINVAL;
	}
	if (o.pages == 0) {
		uffdbox__explain(o.errbuf, o.errbuf_len, "a region needs at least one page");
		return -EINVAL;
	}
	psz = (size_t)sysconf(_SC_PAGESIZE);
	if (o.mem == UFFDBOX_MEM_HUGETLB) {
		psz = uffdbox_hugepage_size();
		if (!psz) {
			uffdbox__explain(o.errbuf, o.errbuf_len, "this kernel has no huge pages");
			return -UFFDBOX_E_NOHUGE;
		}
	}
	size_t gpages = o.guard == UFFDBOX_GUARD_NONE ? 0 : (o.guard_pages ? o.guard_pages : 1);
	if (__builtin_mul_overflow(o.pages, psz, &len) ||
	    __builtin_mul_overflow(gpages, psz, &glen) || glen > SIZE_MAX / 4 ||
	    __builtin_add_overflow(len, 2 * glen, &total) ||
	    __builtin_add_overflow(total, o.mem == UFFDBOX_MEM_HUGETLB ? psz : 0, &total)) {
		uffdbox__explain(o.errbuf, o.errbuf_len,
				 "region of %zu pages (+%zu guard) overflows", o.pages, gpages);
		return -EOVERFLOW;
	}
	if (o.mem == UFFDBOX_MEM_ANON && (o.modes & UFFDBOX_REG_MINOR)) {
		uffdbox__explain(
			o.errbuf, o.errbuf_len,
			"minor faults exist only for shmem and hugetlb (page cache) memory");
		return -EINVAL;
	}

	struct uffdbox_region *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->memfd = -1;
	r->mem = o.mem;
	r->psz = psz;
	r->len = len;
	r->guard_len = glen;
	if (o.name)
		snprintf(r->name, sizeof(r->name), "%s", o.name);
	/*
	 * Anonymous memory with guard markers (or no guards): one private
	 * read-write mapping of guard + body + guard, then the markers, which
	 * live in its page tables.  Three syscalls; a fuzz loop that maps a
	 * region per input feels each one.
	 */
	r->total = total;
	if (o.mem == UFFDBOX_MEM_ANON &&
	    (o.guard == UFFDBOX_GUARD_NONE || !glen ||
	     ((o.guard == UFFDBOX_GUARD_AUTO || o.guard == UFFDBOX_GUARD_MADVISE) &&
	      uffdbox_guard_supported() == 1))) {
		rc = map_anon_in_one(r, o.guard);
		if (rc < 0) {
			uffdbox__explain(o.errbuf, o.errbuf_len, "mapping %zu bytes: %s", total,
					 uffdbox_strerror(rc));
			goto fail;
		}
	} else {
		/*
		 * Otherwise reserve guard + body + guard (+ one page of slack
		 * so that a hugetlb body can be aligned to its page size) as
		 * PROT_NONE, then map the parts over it with MAP_FIXED:
		 * nothing else can land in between, and MAP_FIXED is safe
		 * because the range is ours.  (MAP_FIXED over a *registered*
		 * range would silently unregister it; registration comes
		 * last.)
		 */
		r->base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
		if (r->base == MAP_FAILED) {
			rc = -errno;
			r->base = NULL;
			goto fail;
		}
		uintptr_t body = ((uintptr_t)r->base + glen + psz - 1) & ~(uintptr_t)(psz - 1);
		r->body = (char *)body;
		rc = map_body(r, &o);
		if (rc < 0)
			goto fail;
		rc = install_guards(r, o.guard);
		if (rc < 0) {
			uffdbox__explain(o.errbuf, o.errbuf_len, "guard pages: %s",
					 uffdbox_strerror(rc));
			goto fail;
		}
	}
	if (u) {
		rc = uffdbox_uffd_register(u, r->body, r->len,
					   o.modes ? o.modes : UFFDBOX_REG_MISSING, &r->ioctls);
		if (rc < 0) {
			uffdbox__explain(o.errbuf, o.errbuf_len, "UFFDIO_REGISTER of %zu bytes: %s",
					 r->len, uffdbox_strerror(rc));
			goto fail;
		}
		r->u = u;
		r->modes = o.modes ? o.modes : UFFDBOX_REG_MISSING;
	}
	*out = r;
	return 0;
fail:
	uffdbox_region_free(r);
	return rc;
}

void uffdbox_region_free(struct uffdbox_region *r)
{
	if (!r)
		return;
	if (r->u)
		uffdbox_uffd_unregister(r->u, r->body, r->len);
	if (r->alias)
		munmap(r->alias, r->len);
	if (r->base)
		munmap(r->base, r->total);
	sys_close(r->memfd);
	free(r);
}

int uffdbox__region_dropped(struct uffdbox_region *r)
{
	return uffdbox__uffd_dropped(r->u, r->body, r->len);
}

void *uffdbox_region_addr(const struct uffdbox_region *r)
{
	return r->body;
}

size_t uffdbox_region_len(const struct uffdbox_region *r)
{
	return r->len;
}

void uffdbox__region_span(const struct uffdbox_region *r, void **base, size_t *total)
{
	*base = r->base;
	*total = r->total;
}

size_t uffdbox_region_page_size(const struct uffdbox_region *r)
{
	return r->psz;
}

size_t uffdbox_region_pages(const struct uffdbox_region *r)
{
	return r->len / r->psz;
}

enum uffdbox_mem uffdbox_region_mem(const struct uffdbox_region *r)
{
	return r->mem;
}

enum uffdbox_guard_kind uffdbox_region_guard(const struct uffdbox_region *r)
{
	return r->guard;
}

const char *uffdbox_region_name(const struct uffdbox_region *r)
{
	return r->name;
}

int uffdbox_region_memfd(const struct uffdbox_region *r)
{
	return r->memfd;
}

uint64_t uffdbox_region_ioctls(const struct uffdbox_region *r)
{
	return r->ioctls;
}

int uffdbox_region_alias(struct uffdbox_region *r, void **out)
{
	if (r->memfd < 0)
		return -EINVAL;
	if (!r->alias) {
		void *p = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
		if (p == MAP_FAILED)
			return -errno;
		r->alias = p;
	}
	*out = r->alias;
	return 0;
}

enum uffdbox_addr_class uffdbox_region_classify(const struct uffdbox_region *r, const void *addr,
						size_t *page)
{
	uintptr_t a = (uintptr_t)addr, b = (uintptr_t)r->body;

	if (a >= b && a - b < r->len) {
		if (page)
			*page = (a - b) / r->psz;
		return UFFDBOX_ADDR_BODY;
	}
	if (r->guard_len && a < b && b - a <= r->guard_len)
		return UFFDBOX_ADDR_GUARD_BEFORE;
	if (r->guard_len && a >= b + r->len && a - (b + r->len) < r->guard_len)
		return UFFDBOX_ADDR_GUARD_AFTER;
	return UFFDBOX_ADDR_OUTSIDE;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* 5.14 */
#endif

/*
 * Without WP_UNPOPULATED, UFFDIO_WRITEPROTECT skips page-table entries that
 * do not exist yet, so a never-touched page would take its first write
 * silently.  Make every page exist first, without raising the region's own
 * missing faults: where MISSING is registered, resolve each missing page with
 * a write-protected copy of zeros (ZEROPAGE has no WP mode); elsewhere let the
 * kernel populate the range.
 */
static int populate_for_wp(struct uffdbox_region *r)
{
	if (!(r->modes & UFFDBOX_REG_MISSING))
		return madvise(r->body, r->len, MADV_POPULATE_WRITE) < 0 ? -errno : 0;
	void *zeros =
		mmap(NULL, r->len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (zeros == MAP_FAILED)
		return -errno;
	size_t off = 0;
	int rc = 0;
	while (off < r->len) {
		ssize_t n = uffdbox_uffd_copy(r->u, r->body + off, (char *)zeros + off,
					      r->len - off, UFFDBOX_MAP_WP);
		if (n > 0)
			off += (size_t)n;
		else if (n == -EEXIST)
			off += r->psz; /* present already: protected below */
		else {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
	}
	munmap(zeros, r->len);
	return rc;
}

int uffdbox_region_wp_arm(struct uffdbox_region *r)
{
	if (!r->u || !(r->modes & UFFDBOX_REG_WP))
		return -EINVAL;
	if (!(uffdbox_uffd_features(r->u) & UFFD_FEATURE_WP_UNPOPULATED)) {
		int rc = populate_for_wp(r);
		if (rc < 0)
			return rc;
	}
	return uffdbox_uffd_writeprotect(r->u, r->body, r->len, true, 0);
}
