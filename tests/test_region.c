/* SPDX-License-Identifier: MIT */
/* tests/test_region.c - guarded regions on every memory type. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

/* Number of mappings in /proc/self/maps overlapping [lo, hi). */
static int count_vmas(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;
	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo)
			n++;
	}
	fclose(f);
	return n;
}

/* VMAs making up a region: its body and one page of guard either side. */
static int region_vmas(struct uffdbox_region *r)
{
	uintptr_t p = (uintptr_t)uffdbox_region_addr(r);
	size_t psz = uffdbox_region_page_size(r);
	return count_vmas(p - psz, p + uffdbox_region_len(r) + psz);
}

static struct uffdbox_region *region_guarded(struct tctx *t, struct uffdbox_uffd *u, size_t pages,
					     enum uffdbox_guard_kind g)
{
	char err[512] = "";
	struct uffdbox_region_opts o = {.sz = sizeof(o),
					.mem = t->umem,
					.pages = pages,
					.guard = g,
					.name = "guarded",
					.errbuf = err,
					.errbuf_len = sizeof(err)};
	struct uffdbox_region *r;
	int rc = uffdbox_region_new(u, &o, &r);
	if (rc == -UFFDBOX_E_NOHUGE)
		SKIP("%s", err);
	if (rc == -EOPNOTSUPP && g == UFFDBOX_GUARD_MADVISE)
		SKIP("this kernel has no MADV_GUARD_INSTALL (6.13+)");
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "region_new: %s: %s", uffdbox_strerror(rc), err);
	return r;
}

TEST_CASE(region_layout, TMEM_ALL, 0)
{
	struct uffdbox_uffd *u = tfx_uffd(t, 0);
	struct uffdbox_region *r = tfx_region(t, u, 3, UFFDBOX_REG_MISSING);
	char *p = uffdbox_region_addr(r);
	size_t psz = uffdbox_region_page_size(r), page = 99;

	ASSERT_EQ(psz, t->page);
	ASSERT_EQ((uintptr_t)p % psz, 0);
	ASSERT_EQ(uffdbox_region_len(r), 3 * psz);
	ASSERT_EQ(uffdbox_region_pages(r), 3);
	ASSERT_EQ(uffdbox_region_mem(r), t->umem);
	ASSERT_STR_EQ(uffdbox_region_name(r), "test");
	ASSERT_EQ(uffdbox_region_memfd(r) >= 0, t->mem != TMEM_ANON);
	ASSERT(uffdbox_region_ioctls(r) & (1ULL << _UFFDIO_COPY));
	ASSERT_EQ(uffdbox_region_classify(r, p, &page), UFFDBOX_ADDR_BODY);
	ASSERT_EQ(page, 0);
	ASSERT_EQ(uffdbox_region_classify(r, p + 2 * psz + psz - 1, &page), UFFDBOX_ADDR_BODY);
	ASSERT_EQ(page, 2);
	ASSERT_EQ(uffdbox_region_classify(r, p - 1, NULL), UFFDBOX_ADDR_GUARD_BEFORE);
	ASSERT_EQ(uffdbox_region_classify(r, p - psz, NULL), UFFDBOX_ADDR_GUARD_BEFORE);
	ASSERT_EQ(uffdbox_region_classify(r, p - psz - 1, NULL), UFFDBOX_ADDR_OUTSIDE);
	ASSERT_EQ(uffdbox_region_classify(r, p + 3 * psz, NULL), UFFDBOX_ADDR_GUARD_AFTER);
	ASSERT_EQ(uffdbox_region_classify(r, p + 4 * psz - 1, NULL), UFFDBOX_ADDR_GUARD_AFTER);
	ASSERT_EQ(uffdbox_region_classify(r, p + 4 * psz, NULL), UFFDBOX_ADDR_OUTSIDE);
	uffdbox_region_free(r);
	uffdbox_uffd_close(u);
}

/* A guard hit and a registered fault, told apart by signal and address. */
static void guard_vs_fault(struct tctx *t, enum uffdbox_guard_kind g)
{
	struct uffdbox_uffd *u = tfx_uffd(t, UFFD_FEATURE_SIGBUS);
	struct uffdbox_region *r = region_guarded(t, u, 2, g);
	char *p = uffdbox_region_addr(r);
	size_t psz = uffdbox_region_page_size(r);
	void *a;
	int code;

	ASSERT_EQ(tfx_access(p + psz + 3, true, &a, &code), SIGBUS);
	ASSERT_PTR_EQ(a, p + psz + 3);
	ASSERT_EQ(uffdbox_region_classify(r, a, NULL), UFFDBOX_ADDR_BODY);

	ASSERT_EQ(tfx_access(p - 1, false, &a, &code), SIGSEGV);
	ASSERT_PTR_EQ(a, p - 1);
	ASSERT_EQ(uffdbox_region_classify(r, a, NULL), UFFDBOX_ADDR_GUARD_BEFORE);

	ASSERT_EQ(tfx_access(p + 2 * psz, true, &a, &code), SIGSEGV);
	ASSERT_PTR_EQ(a, p + 2 * psz);
	ASSERT_EQ(uffdbox_region_classify(r, a, NULL), UFFDBOX_ADDR_GUARD_AFTER);
	uffdbox_region_free(r);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(region_guard_hit_vs_fault, TMEM_ALL, UFFD_FEATURE_SIGBUS, TFLAG_UFFD)
{
	guard_vs_fault(t, UFFDBOX_GUARD_AUTO);
}

TEST_CASE_FLAGS(region_guard_mprotect, TMEM_ANON | TMEM_SHMEM, UFFD_FEATURE_SIGBUS, TFLAG_UFFD)
{
	guard_vs_fault(t, UFFDBOX_GUARD_MPROTECT);
}

TEST_CASE_FLAGS(region_guard_madvise, TMEM_ANON | TMEM_SHMEM, UFFD_FEATURE_SIGBUS, TFLAG_UFFD)
{
	guard_vs_fault(t, UFFDBOX_GUARD_MADVISE);
}

TEST_CASE(region_guard_kinds_cost, TMEM_ANON, 0)
{
	/* Without a uffd (registration splits VMAs either way):
	 * MADV_GUARD_INSTALL guards merge with the body's VMA, PROT_NONE guards
	 * are VMAs of their own. */
	if (uffdbox_guard_supported() != 1)
		SKIP("this kernel has no MADV_GUARD_INSTALL (6.13+)");
	struct uffdbox_region *m = region_guarded(t, NULL, 4, UFFDBOX_GUARD_MADVISE);
	ASSERT_EQ(uffdbox_region_guard(m), UFFDBOX_GUARD_MADVISE);
	ASSERT_EQ(region_vmas(m), 1);
	uffdbox_region_free(m);
	struct uffdbox_region *p = region_guarded(t, NULL, 4, UFFDBOX_GUARD_MPROTECT);
	ASSERT_EQ(uffdbox_region_guard(p), UFFDBOX_GUARD_MPROTECT);
	ASSERT_EQ(region_vmas(p), 3);
	uffdbox_region_free(p);
}

TEST_CASE(region_guard_none, TMEM_ANON, 0)
{
	struct uffdbox_region *r = region_guarded(t, NULL, 1, UFFDBOX_GUARD_NONE);
	ASSERT_EQ(uffdbox_region_guard(r), UFFDBOX_GUARD_NONE);
	ASSERT_EQ(uffdbox_region_classify(r, (char *)uffdbox_region_addr(r) - 1, NULL),
		  UFFDBOX_ADDR_OUTSIDE);
	uffdbox_region_free(r);
}

TEST_CASE(region_bad_options, TMEM_NONE, 0)
{
	char err[256] = "";
	struct uffdbox_region_opts o = {
		.sz = sizeof(o), .pages = 0, .errbuf = err, .errbuf_len = sizeof(err)};
	struct uffdbox_region *r = (void *)1;

	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EINVAL);
	ASSERT_NULL(r);
	ASSERT_CONTAINS(err, "at least one page");
	o.pages = SIZE_MAX / 2;
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EOVERFLOW);
	o.pages = 1;
	o.guard_pages = SIZE_MAX / 4096;
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EOVERFLOW);
	o.guard_pages = 0;
	o.mem = (enum uffdbox_mem)7;
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EINVAL);
	o.mem = UFFDBOX_MEM_ANON;
	o.modes = UFFDBOX_REG_MINOR;
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EINVAL);
	ASSERT_CONTAINS(err, "minor faults");
	o.modes = 1u << 5;
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -EINVAL);
	/* Defaults (NULL options) are not a region: zero pages. */
	ASSERT_ERR(uffdbox_region_new(NULL, NULL, &r), -EINVAL);
}

TEST_CASE_FLAGS(region_hugetlb_without_pool, TMEM_NONE, 0, TFLAG_SYSCTL)
{
	char err[512] = "";
	struct uffdbox_region_opts o = {.sz = sizeof(o),
					.mem = UFFDBOX_MEM_HUGETLB,
					.pages = 1,
					.errbuf = err,
					.errbuf_len = sizeof(err)};
	struct uffdbox_region *r;
	if (!uffdbox_hugepage_size())
		SKIP("this kernel has no huge pages");
	/* An empty pool (restored afterwards by the runner). */
	tfx_sysctl_set("/proc/sys/vm/nr_hugepages", "0");
	const char *free_pages = tfx_read_file("/proc/sys/vm/nr_hugepages");
	if (!free_pages || strcmp(free_pages, "0") != 0)
		SKIP("huge pages in use elsewhere: the pool cannot be emptied");
	ASSERT_ERR(uffdbox_region_new(NULL, &o, &r), -UFFDBOX_E_NOHUGE);
	ASSERT_CONTAINS(err, "nr_hugepages");
}

TEST_CASE(region_unregistered, TMEM_ALL, 0)
{
	struct uffdbox_region *r = tfx_region(t, NULL, 2, 0);
	char *p = uffdbox_region_addr(r);
	/* No uffd: ordinary memory between guards. */
	ASSERT_EQ(tfx_access(p, true, NULL, NULL), 0);
	ASSERT_EQ((unsigned char)p[0], 0x5a);
	ASSERT_EQ(uffdbox_region_ioctls(r), 0);
	ASSERT_EQ(tfx_access(p - 1, false, NULL, NULL), SIGSEGV);
	uffdbox_region_free(r);
}

TEST_CASE(region_alias, TMEM_SHMEM | TMEM_HUGETLB, 0)
{
	struct uffdbox_region *r = tfx_region(t, NULL, 1, 0);
	char *p = uffdbox_region_addr(r);
	void *a, *b;
	ASSERT_OK(uffdbox_region_alias(r, &a));
	ASSERT_OK(uffdbox_region_alias(r, &b));
	ASSERT_PTR_EQ(a, b); /* one alias, reused */
	ASSERT(a != (void *)p);
	((char *)a)[7] = 0x61;
	ASSERT_EQ(p[7], 0x61);
	p[8] = 0x62;
	ASSERT_EQ(((char *)a)[8], 0x62);
	uffdbox_region_free(r);
}

TEST_CASE(region_alias_anon_refused, TMEM_ANON, 0)
{
	struct uffdbox_region *r = tfx_region(t, NULL, 1, 0);
	void *a;
	ASSERT_ERR(uffdbox_region_alias(r, &a), -EINVAL);
	uffdbox_region_free(r);
}

TEST_CASE(region_free_unmaps_everything, TMEM_ALL, 0)
{
	struct uffdbox_uffd *u = tfx_uffd(t, 0);
	struct uffdbox_region *r = tfx_region(t, u, 1, UFFDBOX_REG_MISSING);
	char *p = uffdbox_region_addr(r);
	size_t len = uffdbox_region_len(r), psz = uffdbox_region_page_size(r);
	uffdbox_region_free(r);
	/* Body and both guards are gone: the whole span can be mapped anew. */
	void *q = mmap(p - psz, len + 2 * psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_PTR_EQ(q, p - psz);
	/* And the fresh memory is not registered: no fault, plain zeros. */
	ASSERT_EQ(p[0], 0);
	munmap(q, len + 2 * psz);
	uffdbox_uffd_close(u);
}

static void *write_main(void *arg)
{
	__atomic_store_n((char *)arg, 0x42, __ATOMIC_RELAXED);
	return NULL;
}

/* Arm WP on a never-touched region; the first write to an untouched page
 * must be a WP fault whichever path arming took. */
static void wp_arm(struct tctx *t, bool hide_unpopulated, unsigned int modes)
{
	uint64_t avail = 0;
	if (hide_unpopulated)
		setenv("UFFDBOX_FEATURE_MASK", "0x2000", 1); /* WP_UNPOPULATED */
	ASSERT_OK(uffdbox_uffd_probe(NULL, &avail, NULL));
	/* The ambient UFFDBOX_FEATURE_MASK may hide it too (the legacy pass). */
	hide_unpopulated = !(avail & UFFD_FEATURE_WP_UNPOPULATED);
	uint64_t feats = UFFD_FEATURE_PAGEFAULT_FLAG_WP |
			 (t->mem == TMEM_ANON ? 0 : UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	struct uffdbox_uffd_opts o = {.sz = sizeof(o),
				      .need_features = feats,
				      .want_features = UFFD_FEATURE_WP_UNPOPULATED};
	struct uffdbox_uffd *u = tfx_uffd(t, feats);
	uffdbox_uffd_close(u);
	/* tfx_uffd asks only for what it needs; ask for WP_UNPOPULATED too. */
	o.need_features |= t->mem == TMEM_SHMEM	    ? UFFD_FEATURE_MISSING_SHMEM
			   : t->mem == TMEM_HUGETLB ? UFFD_FEATURE_MISSING_HUGETLBFS
						    : 0;
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_EQ(!!(uffdbox_uffd_features(u) & UFFD_FEATURE_WP_UNPOPULATED), !hide_unpopulated);
	struct uffdbox_region *r = tfx_region(t, u, 3, modes);
	char *p = uffdbox_region_addr(r);
	size_t psz = uffdbox_region_page_size(r);
	ASSERT_OK(uffdbox_region_wp_arm(r));
	/* An untouched page: the write must stop on a WP fault (not a missing
	 * one), with the page's pre-write contents (zeros) visible. */
	pthread_t tid;
	ASSERT_EQ(pthread_create(&tid, NULL, write_main, p + 2 * psz + 1), 0);
	struct pollfd pfd = {.fd = uffdbox_uffd_fd(u), .events = POLLIN};
	unsigned char msg[32];
	uint64_t flags = 0, addr;
	int missing = 0;
	for (;;) {
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		ASSERT_EQ(uffdbox_uffd_read(u, msg, 32), 32);
		memcpy(&flags, msg + 8, 8);
		memcpy(&addr, msg + 16, 8);
		ASSERT_EQ(msg[0], UFFD_EVENT_PAGEFAULT);
		ASSERT_UEQ(addr, (uintptr_t)(p + 2 * psz));
		if (flags & UFFD_PAGEFAULT_FLAG_WP)
			break;
		/* With WP_UNPOPULATED and MISSING both registered, an untouched
		 * page is still missing first: resolving it write-protected
		 * (copy with MODE_WP) turns the retried write into the WP fault. */
		ASSERT_UEQ(flags, UFFD_PAGEFAULT_FLAG_WRITE);
		ASSERT(modes & UFFDBOX_REG_MISSING);
		ASSERT_EQ(missing++, 0);
		void *zeros = calloc(1, psz);
		ASSERT_EQ(uffdbox_uffd_copy(u, p + 2 * psz, zeros, psz, UFFDBOX_MAP_WP), psz);
		free(zeros);
	}
	ASSERT_UEQ(flags, UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE);
	/* The fallback populated every page: no missing fault at all. */
	if (hide_unpopulated)
		ASSERT_EQ(missing, 0);
	else
		ASSERT_EQ(missing, !!(modes & UFFDBOX_REG_MISSING));
	ASSERT_EQ(__atomic_load_n(&p[2 * psz + 1], __ATOMIC_RELAXED), 0);
	ASSERT_OK(uffdbox_uffd_writeprotect(u, p + 2 * psz, psz, false, 0));
	pthread_join(tid, NULL);
	ASSERT_EQ(p[2 * psz + 1], 0x42);
	/* The written page is unprotected now; a second write is silent. */
	p[2 * psz + 2] = 0x43;
	uffdbox_region_free(r);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(region_wp_arm, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP, TFLAG_UFFD)
{
	wp_arm(t, false, UFFDBOX_REG_MISSING | UFFDBOX_REG_WP);
}

TEST_CASE_FLAGS(region_wp_arm_without_unpopulated, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP,
		TFLAG_UFFD)
{
	/* The pre-6.4 path: pages populated with WP zero pages first. */
	wp_arm(t, true, UFFDBOX_REG_MISSING | UFFDBOX_REG_WP);
}

TEST_CASE_FLAGS(region_wp_arm_wp_only_without_unpopulated, TMEM_ANON | TMEM_SHMEM,
		UFFD_FEATURE_PAGEFAULT_FLAG_WP, TFLAG_UFFD)
{
	/* WP registered alone: populated by MADV_POPULATE_WRITE first. */
	wp_arm(t, true, UFFDBOX_REG_WP);
}

TEST_CASE(region_wp_arm_needs_wp_registration, TMEM_ANON, 0)
{
	struct uffdbox_uffd *u = tfx_uffd(t, 0);
	struct uffdbox_region *r = tfx_region(t, u, 1, UFFDBOX_REG_MISSING);
	ASSERT_ERR(uffdbox_region_wp_arm(r), -EINVAL);
	uffdbox_region_free(r);
	r = tfx_region(t, NULL, 1, 0);
	ASSERT_ERR(uffdbox_region_wp_arm(r), -EINVAL);
	uffdbox_region_free(r);
	uffdbox_uffd_close(u);
}
