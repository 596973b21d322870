/* SPDX-License-Identifier: MIT */
/*
 * harness/snapshot.c - snapshot/restore in time proportional to the pages
 * written (see uffdbox/snapshot.h for the modes).
 *
 * WP_ASYNC restore order matters: scan for written pages *without*
 * re-arming, copy the snapshot back, then re-arm.  Re-arming first would
 * make the copy itself mark the pages written again.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "uffdbox/compat.h"
#include "uffdbox/snapshot.h"
#include "uffdbox/uffd.h"
#include "internal.h"
#include "sigbackend.h"

#define SNAP_MAX_RANGES 64
/* The kernel allocates a buffer of as many entries per scan: 512 (12 KiB)
 * made each scan a page-allocator call. */
#define SCAN_VEC     128
#define PAGE	     4096UL
#define KEEP_DEFAULT 4
#define KEEP_MAX     254 /* hot[] is a byte */
#define MERGE_PAGES  512 /* one page table's span */
#define REARM_RUNS   16	 /* more runs than this: protect every hot page in one walk */

struct snap_range {
	uintptr_t start, end;
	char *shadow;
	_Atomic uint8_t *dirty; /* WP_SYNC: one per page */
	unsigned char *mc;	/* WP_SYNC: mincore() vector, one per page */
	/* Adaptive re-arm: 0 protected; n > 0 unprotected, and came back
	 * unchanged from the last n - 1 restores. */
	uint8_t *hot;
	size_t nhot; /* pages with hot[] != 0 */
};

/* The pages to protect again at the end of a restore: runs of page indices
 * [first, end), or every hot page of the range when there are too many
 * runs (one ioctl each, and each costs a TLB flush or more). */
struct rearm {
	size_t first[REARM_RUNS], end[REARM_RUNS];
	int n;
	bool all;
};

struct uffdbox_snapshot {
	enum uffdbox_snapshot_mode mode;
	struct uffdbox_uffd *u;
	bool signals; /* WP_SYNC over the signal backend: writes trap as SIGSEGV */
	int pagemap;
	bool taken;
	bool eager;
	unsigned int keep;
	struct uffdbox_snapshot_stats st; /* .hot kept up to date as well */
	char *errbuf;			  /* the caller's, from the options */
	size_t errbuf_len;
	int n;
	struct snap_range r[SNAP_MAX_RANGES];
	struct page_region vec[SCAN_VEC];
};

/*
 * A snapshot's own state (this struct, hot[], dirty[]) lives in mappings of
 * its own, never on the malloc heap: a whole-process snapshot (persist.c)
 * restores the heap, and must not put this bookkeeping back with it.
 */
/* LeakSanitizer does not scan mappings of ours: it is told they are roots
 * (the struct points at malloc()ed objects, the userfaultfd's). */
void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));
void __lsan_unregister_root_region(const void *p, size_t size) __attribute__((weak));

/*
 * uffdbox's own mappings go at or above ASIDE_BASE (16 TiB), below where a
 * PIE program, its heap and its libraries live: persist.c's one scan over
 * the span of a whole process then does not walk (and report as written)
 * pages of ours.  A place taken is skipped (ASIDE_SKIP); no place found
 * and the kernel chooses.  aside_next is in .bss: a whole-process restore
 * may move it back, and the skipping copes.
 */
#define ASIDE_BASE  0x100000000000UL
#define ASIDE_SKIP  (1UL << 30)
#define ASIDE_TRIES 8
static uintptr_t aside_next = ASIDE_BASE;

extern void __asan_init(void) __attribute__((weak));
extern void __tsan_init(void) __attribute__((weak));
extern void __msan_init(void) __attribute__((weak));

void *uffdbox__map_aside(size_t len)
{
	len = (len + PAGE - 1) & ~(PAGE - 1);
	/* A sanitizer owns the address space layout (TSan refuses mappings
	 * outside its application ranges); no whole-process reset runs there. */
	bool sanitizer = __asan_init || __tsan_init || __msan_init;
	for (int i = 0; i < ASIDE_TRIES && !sanitizer; i++) {
		void *p = mmap((void *)aside_next, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED && (uintptr_t)p == aside_next) {
			aside_next += len;
			return p;
		}
		if (p != MAP_FAILED) { /* a kernel without MAP_FIXED_NOREPLACE: a hint */
			munmap(p, len);
			break;
		}
		if (errno != EEXIST)
			break;
		aside_next += len > ASIDE_SKIP ? len : ASIDE_SKIP;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *own_alloc(size_t len)
{
	void *p = uffdbox__map_aside(len);
	if (!p)
		return NULL;
	if (__lsan_register_root_region)
		__lsan_register_root_region(p, len);
	return p;
}

static void own_free(void *p, size_t len)
{
	if (!p)
		return;
	if (__lsan_unregister_root_region)
		__lsan_unregister_root_region(p, len);
	munmap(p, len);
}

/* WP_SYNC snapshots share one SIGBUS handler, installed while any exists. */
#define SYNC_MAX 16
static struct uffdbox_snapshot *_Atomic sync_snaps[SYNC_MAX];
static int sync_count; /* under sync_mu */
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction sync_old;
static struct sigaction segv_old; /* while a snapshot over the signal backend exists */
static int segv_count;		  /* under sync_mu */

const char *uffdbox_snapshot_mode_name(enum uffdbox_snapshot_mode m)
{
	static const char *const names[] = {"auto", "wp-async", "wp-sync", "copy"};
	return (unsigned int)m < 4 ? names[m] : "?";
}

enum uffdbox_snapshot_mode uffdbox_snapshot_mode(const struct uffdbox_snapshot *s)
{
	return s->mode;
}

/* --- WP_SYNC: the SIGBUS handler ----------------------------------------- */

/* Handle a fault at @a if it is in one of @s's ranges. */
static bool sync_fault(struct uffdbox_snapshot *s, uintptr_t a, void *ucv)
{
	for (int i = 0; i < s->n; i++) {
		struct snap_range *r = &s->r[i];
		if (a < r->start || a >= r->end)
			continue;
		uintptr_t pg = a & ~(PAGE - 1);
		atomic_store_explicit(&r->dirty[(pg - r->start) / PAGE], 1, memory_order_relaxed);
		/* present: a write-protect fault; absent: dropped since the snapshot */
		if (uffdbox__fault_present(ucv)) {
			uffdbox_uffd_writeprotect(s->u, (void *)pg, PAGE, false, UFFDBOX_DONTWAKE);
		} else {
			/* Dropped (MADV_DONTNEED): zeros, as without us,
			 * writable; restore brings the snapshot back. */
			static const char zeros[PAGE];
			uffdbox_uffd_copy(s->u, (void *)pg, zeros, PAGE,
					  UFFDBOX_DONTWAKE | UFFDBOX_EXIST_OK);
		}
		return true;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (si->si_code > 0)
		for (int k = 0; k < SYNC_MAX; k++) {
			struct uffdbox_snapshot *s = atomic_load(&sync_snaps[k]);
			if (s && sync_fault(s, a, ucv)) {
				errno = saved;
				return;
			}
		}
	uffdbox__chain_signal(&sync_old, sig, si, ucv);
	errno = saved;
}

/* The signal backend: a write to a protected page of a range is SIGSEGV. */
static void on_sigsegv(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (si->si_code > 0)
		for (int k = 0; k < SYNC_MAX; k++) {
			struct uffdbox_snapshot *s = atomic_load(&sync_snaps[k]);
			struct uffdbox__sig *bk = s ? uffdbox__uffd_sig(s->u) : NULL;
			enum uffdbox__sig_kind kind =
				bk ? uffdbox__sig_classify(bk, a, uffdbox__fault_write(ucv))
				   : UFFDBOX__SIG_NONE;
			if (kind == UFFDBOX__SIG_LATE) {
				/* another thread unprotected it meanwhile: retry */
				errno = saved;
				return;
			}
			if (kind != UFFDBOX__SIG_WP)
				continue;
			if (sync_fault(s, a, ucv)) {
				errno = saved;
				return;
			}
		}
	uffdbox__chain_signal(&segv_old, sig, si, ucv);
	errno = saved;
}

/* Enter @s in the handler's table (installing the handler for the first);
 * 0 or -errno, with the cause in @errbuf. */
static int sync_attach(struct uffdbox_snapshot *s, char *errbuf, size_t errbuf_len)
{
	int rc = -EBUSY;
	pthread_mutex_lock(&sync_mu);
	for (int k = 0; k < SYNC_MAX; k++) {
		if (atomic_load(&sync_snaps[k]))
			continue;
		if (sync_count == 0) {
			struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
			sigemptyset(&sa.sa_mask);
			if (sigaction(SIGBUS, &sa, &sync_old) < 0) {
				rc = -errno;
				uffdbox__explain(errbuf, errbuf_len, "sigaction(SIGBUS): %s",
						 strerror(errno));
				break;
			}
		}
		if (s->signals && segv_count == 0) {
			struct sigaction sa = {.sa_sigaction = on_sigsegv, .sa_flags = SA_SIGINFO};
			sigemptyset(&sa.sa_mask);
			if (sigaction(SIGSEGV, &sa, &segv_old) < 0) {
				rc = -errno;
				uffdbox__explain(errbuf, errbuf_len, "sigaction(SIGSEGV): %s",
						 strerror(errno));
				if (sync_count == 0)
					sigaction(SIGBUS, &sync_old, NULL);
				break;
			}
		}
		segv_count += s->signals;
		atomic_store(&sync_snaps[k], s);
		sync_count++;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&sync_mu);
	if (rc == -EBUSY)
		uffdbox__explain(errbuf, errbuf_len,
				 "%d WP_SYNC snapshots exist already (the most at once); free one, "
				 "or add more ranges to one snapshot",
				 SYNC_MAX);
	return rc;
}

/* Take @s out of the table; the last one out puts the old handler back. */
static void sync_detach(struct uffdbox_snapshot *s)
{
	pthread_mutex_lock(&sync_mu);
	for (int k = 0; k < SYNC_MAX; k++) {
		if (atomic_load(&sync_snaps[k]) != s)
			continue;
		atomic_store(&sync_snaps[k], NULL);
		if (--sync_count == 0)
			sigaction(SIGBUS, &sync_old, NULL);
		if (s->signals && --segv_count == 0)
			sigaction(SIGSEGV, &segv_old, NULL);
		break;
	}
	pthread_mutex_unlock(&sync_mu);
}

/* --- lifecycle ---------------------------------------------------------------- */

static enum uffdbox_snapshot_mode pick(uint64_t f)
{
	if ((f & UFFD_FEATURE_WP_ASYNC) && (f & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return UFFDBOX_SNAPSHOT_WP_ASYNC;
	if ((f & UFFD_FEATURE_PAGEFAULT_FLAG_WP) && (f & UFFD_FEATURE_SIGBUS))
		return UFFDBOX_SNAPSHOT_WP_SYNC;
	return UFFDBOX_SNAPSHOT_COPY;
}

int uffdbox_snapshot_new(const struct uffdbox_snapshot_opts *opts, struct uffdbox_snapshot **out)
{
	struct uffdbox_snapshot_opts o = {.sz = sizeof(o)};
	uint64_t avail = 0;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = uffdbox__opts_copy(
		&o, sizeof(o), UFFDBOX__OFFSETOFEND(struct uffdbox_snapshot_opts, eager), opts,
		"uffdbox_snapshot_opts", offsetof(struct uffdbox_snapshot_opts, errbuf), NULL, 0);
	if (rc < 0)
		return rc;
	if ((unsigned int)o.mode > UFFDBOX_SNAPSHOT_COPY)
		return -EINVAL;
	struct uffdbox_uffd_opts uo = {
		.sz = sizeof(uo), .errbuf = o.errbuf, .errbuf_len = o.errbuf_len};
	rc = uffdbox_uffd_probe(&uo, &avail, NULL);
	if (rc < 0 && o.mode != UFFDBOX_SNAPSHOT_COPY)
		return rc;
	/* WP_ASYNC is read back with PAGEMAP_SCAN: one is no use without the
	 * other. */
	if (uffdbox__hidden(UFFDBOX_HIDE_PAGEMAP_SCAN))
		avail &= ~(uint64_t)UFFD_FEATURE_WP_ASYNC;
	enum uffdbox_snapshot_mode m = o.mode ? o.mode : pick(rc < 0 ? 0 : avail);

	struct uffdbox_snapshot *s = own_alloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->mode = m;
	s->pagemap = -1;
	s->eager = o.eager;
	s->errbuf = o.errbuf;
	s->errbuf_len = o.errbuf_len;
	s->keep = o.keep_restores ? o.keep_restores : KEEP_DEFAULT;
	if (s->keep > KEEP_MAX)
		s->keep = KEEP_MAX;
	if (m == UFFDBOX_SNAPSHOT_WP_ASYNC && uffdbox__hidden(UFFDBOX_HIDE_PAGEMAP_SCAN)) {
		rc = -UFFDBOX_E_NOFEATURE;
		uffdbox__explain(o.errbuf, o.errbuf_len,
				 "wp-async needs PAGEMAP_SCAN (Linux 6.7), hidden by "
				 "UFFDBOX_FEATURE_MASK; use wp-sync or copy");
		goto fail;
	}
	if (m == UFFDBOX_SNAPSHOT_WP_ASYNC) {
		uo.need_features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_PAGEFAULT_FLAG_WP;
		rc = uffdbox_uffd_open(&uo, &s->u);
		if (rc < 0)
			goto fail;
		s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (s->pagemap < 0) {
			rc = -errno;
			uffdbox__explain(o.errbuf, o.errbuf_len, "/proc/self/pagemap: %s",
					 strerror(errno));
			goto fail;
		}
		s->pagemap = uffdbox__fd_high(s->pagemap); /* out of the target's reach */
	} else if (m == UFFDBOX_SNAPSHOT_WP_SYNC) {
		uo.need_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS;
		rc = uffdbox_uffd_open(&uo, &s->u);
		if (rc < 0)
			goto fail;
		/* Without a userfaultfd a page dropped (MADV_DONTNEED) after
		 * take raises no fault: restore finds such pages in pagemap. */
		s->signals = uffdbox_uffd_backend(s->u) == UFFDBOX_BACKEND_SIGNAL;
		if (s->signals)
			s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		rc = sync_attach(s, o.errbuf, o.errbuf_len);
		if (rc < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	uffdbox_snapshot_free(s);
	return rc;
}

void uffdbox_snapshot_free(struct uffdbox_snapshot *s)
{
	if (!s)
		return;
	if (s->mode == UFFDBOX_SNAPSHOT_WP_SYNC)
		sync_detach(s);
	for (int i = 0; i < s->n; i++) {
		struct snap_range *r = &s->r[i];
		if (s->u)
			uffdbox_uffd_unregister(s->u, (void *)r->start, r->end - r->start);
		if (r->shadow)
			munmap(r->shadow, r->end - r->start);
		own_free((void *)r->dirty, (r->end - r->start) / PAGE);
		own_free(r->mc, (r->end - r->start) / PAGE);
		own_free(r->hot, (r->end - r->start) / PAGE);
	}
	uffdbox_uffd_close(s->u);
	if (s->pagemap >= 0)
		close(s->pagemap);
	own_free(s, sizeof(*s));
}

int uffdbox_snapshot_add(struct uffdbox_snapshot *s, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	int rc = 0;

	if (!s)
		return -EINVAL;
	if (!addr) {
		uffdbox__explain(s->errbuf, s->errbuf_len, "uffdbox_snapshot_add: addr is NULL");
		return -EINVAL;
	}
	if (s->taken || !len || (a % PAGE) || (len % PAGE) || s->n == SNAP_MAX_RANGES)
		return -EINVAL;
	struct snap_range *r = &s->r[s->n];
	*r = (struct snap_range){.start = a, .end = a + len};
	r->shadow = uffdbox__map_aside(len);
	if (!r->shadow)
		return -ENOMEM;
	if (s->mode != UFFDBOX_SNAPSHOT_COPY && !s->eager) {
		r->hot = own_alloc(len / PAGE);
		if (!r->hot)
			rc = -ENOMEM;
	}
	if (rc == 0 && s->mode == UFFDBOX_SNAPSHOT_WP_SYNC) {
		r->dirty = own_alloc(len / PAGE);
		r->mc = own_alloc(len / PAGE);
		/* Every page present before registering: later misses are drops.
		 * After registering, populating would fault into the userfaultfd,
		 * and with the SIGBUS feature the kernel's fault fails (EFAULT). */
		if (!r->dirty || !r->mc)
			rc = -ENOMEM;
		else if (madvise(addr, len, MADV_POPULATE_WRITE) < 0)
			rc = -errno;
		else
			/* The signal backend: protection only (a missing-page
			 * trap would need the range empty); drops are found by
			 * restore instead. */
			rc = uffdbox_uffd_register(
				s->u, addr, len,
				s->signals ? UFFDBOX_REG_WP : UFFDBOX_REG_WP | UFFDBOX_REG_MISSING,
				NULL);
	} else if (rc == 0 && s->mode == UFFDBOX_SNAPSHOT_WP_ASYNC) {
		rc = uffdbox_uffd_register(s->u, addr, len, UFFDBOX_REG_WP, NULL);
	}
	if (rc == -EINVAL && s->mode == UFFDBOX_SNAPSHOT_WP_SYNC)
		uffdbox__explain(
			s->errbuf, s->errbuf_len,
			"wp-sync cannot track [%p, +%zu): the kernel write-protects only "
			"anonymous, shmem and hugetlb memory synchronously (a private file "
			"mapping such as a program's .data is not); wp-async (Linux 6.7+) "
			"tracks any memory, or force mode COPY",
			addr, len);
	else if (rc < 0 && rc != -ENOMEM)
		uffdbox__explain(s->errbuf, s->errbuf_len,
				 "registering [%p, +%zu) with the userfaultfd: %s (-EBUSY: another "
				 "userfaultfd, e.g. a sandbox region, has it)",
				 addr, len, uffdbox_strerror(rc));
	if (rc < 0) {
		munmap(r->shadow, len);
		own_free((void *)r->dirty, len / PAGE);
		own_free(r->mc, len / PAGE);
		own_free(r->hot, len / PAGE);
		return rc;
	}
	s->n++;
	return 0;
}

/*
 * WP_SYNC: which pages of @r are not there (never touched, or dropped with
 * MADV_DONTNEED since): r->mc[i] bit 0 clear.  One mincore() for the range.
 */
static int find_absent(struct snap_range *r)
{
	return mincore((void *)r->start, r->end - r->start, r->mc) < 0 ? -errno : 0;
}

/*
 * WP_SYNC, at restore: a page dropped since the snapshot and not touched
 * since raised no fault, so nothing marked it; it reads zeros.  Mark it
 * written: the copy back faults it in (the handler maps it) and restores
 * it.
 */
static int mark_absent(struct snap_range *r)
{
	size_t n = (r->end - r->start) / PAGE;
	int rc = find_absent(r);

	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!(r->mc[i] & 1))
			atomic_store_explicit(&r->dirty[i], 1, memory_order_relaxed);
	return rc;
}

/* Write-protect [a, a+len); with WP_ASYNC writes then just mark pages. */
static int arm(struct uffdbox_snapshot *s, uintptr_t a, size_t len)
{
	return uffdbox_uffd_writeprotect(s->u, (void *)a, len, true, 0);
}

int uffdbox_snapshot_take(struct uffdbox_snapshot *s)
{
	if (!s || s->taken)
		return -EINVAL;
	for (int i = 0; i < s->n; i++) {
		struct snap_range *r = &s->r[i];
		size_t len = r->end - r->start;
		memcpy(r->shadow, (void *)r->start, len);
		if (s->mode != UFFDBOX_SNAPSHOT_COPY) {
			int rc = arm(s, r->start, len);
			if (rc < 0)
				return rc;
		}
	}
	s->taken = true;
	return 0;
}

/* What a walk does with each run of written pages [first, end) (page
 * indices): returns the pages it copied back. */
typedef ssize_t (*run_fn)(struct uffdbox_snapshot *s, struct snap_range *r, size_t first,
			  size_t end, void *arg);

/*
 * Walk one range with PAGEMAP_SCAN for the pages written since they were
 * last protected (or left unprotected): with @flags 0 only list them, with
 * PM_SCAN_WP_MATCHING protect them again; @fn, if any, sees each run.
 * Returns the pages found (@fn NULL) or what @fn returned in all, or -errno.
 */
static ssize_t scan_written(struct uffdbox_snapshot *s, struct snap_range *r, uint64_t flags,
			    run_fn fn, void *fn_arg)
{
	ssize_t pages = 0;

	for (uintptr_t from = r->start; from < r->end;) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.flags = flags,
			.start = from,
			.end = r->end,
			.vec = (uintptr_t)s->vec,
			.vec_len = SCAN_VEC,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int n = ioctl(s->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			size_t first = (s->vec[i].start - r->start) / PAGE,
			       end = (s->vec[i].end - r->start) / PAGE;
			pages += fn ? fn(s, r, first, end, fn_arg) : (ssize_t)(end - first);
		}
		/* A full vector means there may be more: go on from where the
		 * walk stopped. */
		if (n < SCAN_VEC || arg.walk_end <= from)
			break;
		from = arg.walk_end;
	}
	return pages;
}

static ssize_t copy_run(struct uffdbox_snapshot *s, struct snap_range *r, size_t first, size_t end,
			void *arg)
{
	(void)s;
	(void)arg;
	memcpy((void *)(r->start + first * PAGE), r->shadow + first * PAGE, (end - first) * PAGE);
	return (ssize_t)(end - first);
}

/* WP_ASYNC: protect every page reported written, in one walk. */
static int rearm_written(struct uffdbox_snapshot *s, struct snap_range *r)
{
	ssize_t n = scan_written(s, r, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, NULL, NULL);
	if (n < 0)
		return (int)n;
	s->st.rearm_calls++;
	s->st.rearmed += (uint64_t)n;
	return 0;
}

/* WP_ASYNC: scan without re-arming, copy back, then re-arm in one walk (the
 * written pages, our copies among them, are protected again).  Re-arming
 * first would make the copy itself mark the pages written. */
static ssize_t restore_async(struct uffdbox_snapshot *s, struct snap_range *r)
{
	ssize_t pages = scan_written(s, r, 0, copy_run, NULL);
	if (pages <= 0)
		return pages; /* nothing written, nothing to arm */
	int rc = rearm_written(s, r);
	return rc < 0 ? rc : pages;
}

/* WP_SYNC: copy back the pages the SIGBUS handler marked dirty. */
static ssize_t restore_sync(struct uffdbox_snapshot *s, struct snap_range *r)
{
	size_t npages = (r->end - r->start) / PAGE;
	ssize_t pages = 0;

	for (size_t i = 0; i < npages; i++) {
		if (!atomic_load_explicit(&r->dirty[i], memory_order_relaxed))
			continue;
		size_t j = i;
		while (j < npages && atomic_load_explicit(&r->dirty[j], memory_order_relaxed))
			j++;
		memcpy((void *)(r->start + i * PAGE), r->shadow + i * PAGE, (j - i) * PAGE);
		/* (after the copy: copying into a dropped page marks it again) */
		for (size_t k = i; k < j; k++)
			atomic_store_explicit(&r->dirty[k], 0, memory_order_relaxed);
		int rc = arm(s, r->start + i * PAGE, (j - i) * PAGE);
		if (rc < 0)
			return rc;
		s->st.rearm_calls++;
		s->st.rearmed += j - i;
		pages += (ssize_t)(j - i);
		i = j;
	}
	return pages;
}

/* --- adaptive re-arm ----------------------------------------------------- */

/* Protect what @ra collected; hot[] of protected pages becomes 0. */
static int rearm_finish(struct uffdbox_snapshot *s, struct snap_range *r, struct rearm *ra)
{
	if (ra->all) {
		/* Every hot page is equal to the snapshot now (compared or
		 * copied back by this restore): protect them all. */
		if (s->mode == UFFDBOX_SNAPSHOT_WP_ASYNC) {
			int rc = rearm_written(s, r);
			if (rc < 0)
				return rc;
		} else {
			int rc = arm(s, r->start, r->end - r->start);
			if (rc < 0)
				return rc;
			s->st.rearm_calls++;
			s->st.rearmed += r->nhot;
		}
		s->st.hot -= r->nhot;
		r->nhot = 0;
		memset(r->hot, 0, (r->end - r->start) / PAGE);
		return 0;
	}
	for (int k = 0; k < ra->n; k++) {
		int rc = arm(s, r->start + ra->first[k] * PAGE, (ra->end[k] - ra->first[k]) * PAGE);
		if (rc < 0)
			return rc;
		s->st.rearm_calls++;
		s->st.rearmed += ra->end[k] - ra->first[k];
	}
	return 0;
}

/*
 * Page @i is to be protected again.  Grow the last run up to it when every
 * page between is protected already (protecting a hot page in use would
 * cost it a fault on its next write) and the gap is within a page table's
 * span; otherwise start a new run.
 */
static void rearm_add(struct uffdbox_snapshot *s, struct snap_range *r, struct rearm *ra, size_t i)
{
	r->hot[i] = 0;
	r->nhot--;
	s->st.hot--;
	if (ra->all)
		return;
	if (ra->n) {
		size_t end = ra->end[ra->n - 1];
		if (i >= end && i - end <= MERGE_PAGES) {
			size_t j = end;
			while (j < i && !r->hot[j])
				j++;
			if (j == i) {
				ra->end[ra->n - 1] = i + 1;
				return;
			}
		}
	}
	if (ra->n == REARM_RUNS) {
		ra->all = true;
		return;
	}
	ra->first[ra->n] = i;
	ra->end[ra->n++] = i + 1;
}

/*
 * One written page @i: copy it back, or, when it has been hot since an
 * earlier restore, only if it differs from the snapshot; a hot page that
 * came back unchanged often enough is put on @ra's list.  Returns 1 when it
 * was copied, else 0.
 */
static int settle_page(struct uffdbox_snapshot *s, struct snap_range *r, struct rearm *ra, size_t i,
		       bool fresh)
{
	char *page = (char *)(r->start + i * PAGE), *snap = r->shadow + i * PAGE;

	if (!fresh)
		s->st.compared++;
	if (fresh || memcmp(page, snap, PAGE)) {
		memcpy(page, snap, PAGE);
		if (!r->hot[i]) {
			s->st.hot++;
			r->nhot++;
		}
		r->hot[i] = 1;
		return 1;
	}
	if (r->hot[i] < s->keep) {
		r->hot[i]++;
		return 0;
	}
	rearm_add(s, r, ra, i);
	return 0;
}

/* WP_ASYNC: every page the scan reports is written since it was protected,
 * or hot. */
static ssize_t settle_run(struct uffdbox_snapshot *s, struct snap_range *r, size_t first,
			  size_t end, void *ra)
{
	ssize_t copied = 0;
	for (size_t i = first; i < end; i++)
		copied += settle_page(s, r, ra, i, r->hot[i] == 0);
	return copied;
}

static ssize_t restore_async_adaptive(struct uffdbox_snapshot *s, struct snap_range *r)
{
	struct rearm ra = {0};
	ssize_t copied = scan_written(s, r, 0, settle_run, &ra);
	if (copied < 0)
		return copied;
	int rc = rearm_finish(s, r, &ra);
	return rc < 0 ? rc : copied;
}

/* WP_SYNC: dirty pages were written since protected; hot ones may have been. */
static ssize_t restore_sync_adaptive(struct uffdbox_snapshot *s, struct snap_range *r)
{
	size_t npages = (r->end - r->start) / PAGE;
	struct rearm ra = {0};
	ssize_t copied = 0;

	for (size_t i = 0; i < npages; i++) {
		bool dirty = atomic_load_explicit(&r->dirty[i], memory_order_relaxed);
		if (!dirty && !r->hot[i])
			continue;
		copied += settle_page(s, r, &ra, i, dirty && !r->hot[i]);
		/* A hot page dropped since is refilled by the handler when
		 * compared: not a new write. */
		atomic_store_explicit(&r->dirty[i], 0, memory_order_relaxed);
	}
	int rc = rearm_finish(s, r, &ra);
	return rc < 0 ? rc : copied;
}

/*
 * The signal backend: pages dropped since the last restore (MADV_DONTNEED:
 * no longer present, or the shared zero page after a read) are due like
 * written ones.  One PAGEMAP_SCAN (6.7) for the runs that are not present or
 * are the zero page; before 6.7, pagemap entries read one by one (not
 * present only: the zero page's frame number is not shown to everyone).
 */
/* Pages [first, end) were dropped: due, and writable as after the missing
 * fault a userfaultfd would have taken (the copy back must not fault). */
static void drop_run(struct uffdbox_snapshot *s, struct snap_range *r, size_t first, size_t end)
{
	for (size_t i = first; i < end; i++)
		atomic_store_explicit(&r->dirty[i], 1, memory_order_relaxed);
	uffdbox_uffd_writeprotect(s->u, (void *)(r->start + first * PAGE), (end - first) * PAGE,
				  false, 0);
}

static void mark_dropped(struct uffdbox_snapshot *s, struct snap_range *r)
{
	if (s->pagemap < 0)
		return;
	for (uintptr_t from = r->start; from < r->end;) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = from,
			.end = r->end,
			.vec = (uintptr_t)s->vec,
			.vec_len = SCAN_VEC,
			.category_inverted = PAGE_IS_PRESENT,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_PFNZERO,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_PFNZERO,
		};
		int n = ioctl(s->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			break; /* before 6.7: below */
		for (int i = 0; i < n; i++)
			drop_run(s, r, (s->vec[i].start - r->start) / PAGE,
				 (s->vec[i].end - r->start) / PAGE);
		if (n < SCAN_VEC || arg.walk_end <= from)
			return;
		from = arg.walk_end;
	}
	uint64_t e[512];
	size_t npages = (r->end - r->start) / PAGE;
	for (size_t i = 0; i < npages;) {
		size_t k = npages - i < 512 ? npages - i : 512;
		ssize_t got = pread(s->pagemap, e, k * 8, (off_t)((r->start / PAGE + i) * 8));
		if (got <= 0)
			return;
		k = (size_t)got / 8;
		for (size_t j = 0; j < k; j++)
			if (!(e[j] >> 63))
				drop_run(s, r, i + j, i + j + 1);
		i += k;
	}
}

ssize_t uffdbox_snapshot_restore(struct uffdbox_snapshot *s)
{
	return uffdbox__snapshot_restore_some(s, ~(uint64_t)0);
}

ssize_t uffdbox__snapshot_restore_some(struct uffdbox_snapshot *s, uint64_t which)
{
	ssize_t total = 0;

	if (!s || !s->taken)
		return -EINVAL;
	for (int i = 0; i < s->n; i++) {
		struct snap_range *r = &s->r[i];
		ssize_t n;
		if (!(which & ((uint64_t)1 << i)) && s->mode == UFFDBOX_SNAPSHOT_WP_ASYNC)
			continue;
		switch (s->mode) {
		case UFFDBOX_SNAPSHOT_WP_ASYNC:
			n = s->eager ? restore_async(s, r) : restore_async_adaptive(s, r);
			break;
		case UFFDBOX_SNAPSHOT_WP_SYNC:
			if (s->signals) {
				mark_dropped(s, r);
				n = 0;
			} else {
				n = mark_absent(r);
			}
			if (n == 0)
				n = s->eager ? restore_sync(s, r) : restore_sync_adaptive(s, r);
			break;
		default:
			memcpy((void *)r->start, r->shadow, r->end - r->start);
			n = (ssize_t)((r->end - r->start) / PAGE);
		}
		if (n < 0)
			return n;
		total += n;
	}
	s->st.restores++;
	s->st.copied += (uint64_t)total;
	return total;
}

ssize_t uffdbox__snapshot_restore_runs(struct uffdbox_snapshot *s, int i,
				       const struct page_region *runs, int n)
{
	if (!s || !s->taken || i < 0 || i >= s->n)
		return -EINVAL;
	if (s->mode != UFFDBOX_SNAPSHOT_WP_ASYNC || s->eager)
		return -EOPNOTSUPP;
	struct snap_range *r = &s->r[i];
	struct rearm ra = {0};
	ssize_t copied = 0;
	for (int k = 0; k < n; k++) {
		if (runs[k].start < r->start || runs[k].end > r->end ||
		    runs[k].start >= runs[k].end)
			return -EINVAL;
		copied += settle_run(s, r, (runs[k].start - r->start) / PAGE,
				     (runs[k].end - r->start) / PAGE, &ra);
	}
	int rc = rearm_finish(s, r, &ra);
	if (rc < 0)
		return rc;
	s->st.copied += (uint64_t)copied;
	return copied;
}

int uffdbox__snapshot_registered(struct uffdbox_snapshot *s, int i)
{
	if (!s || i < 0 || i >= s->n)
		return -EINVAL;
	if (s->mode != UFFDBOX_SNAPSHOT_WP_SYNC || s->signals)
		return -EOPNOTSUPP;
	struct snap_range *r = &s->r[i];
	/* UFFDIO_ZEROPAGE on the first page: -EEXIST where the mapping is
	 * registered and the page present (a restore leaves every page of the
	 * range present), -ENOENT where the mapping is not registered (a new
	 * one in its place) */
	ssize_t rc = uffdbox_uffd_zeropage(s->u, (void *)r->start, PAGE, UFFDBOX_DONTWAKE);
	if (rc == -EEXIST)
		return 1;
	if (rc == -ENOENT)
		return 0;
	if (rc == (ssize_t)PAGE) {
		/* it was absent after all and reads zeros now: the snapshot's
		 * contents back, protected, as a restore leaves a page */
		memcpy((void *)r->start, r->shadow, PAGE);
		atomic_store_explicit(&r->dirty[0], 0, memory_order_relaxed);
		if (r->hot && r->hot[0]) {
			r->hot[0] = 0;
			r->nhot--;
			s->st.hot--;
		}
		int a = arm(s, r->start, PAGE);
		return a < 0 ? a : 1;
	}
	return rc < 0 ? (int)rc : 1;
}

void uffdbox_snapshot_stats(const struct uffdbox_snapshot *s, struct uffdbox_snapshot_stats *st)
{
	*st = s->st;
}

int uffdbox__snapshot_range(const struct uffdbox_snapshot *s, int i, uintptr_t *start,
			    uintptr_t *end, const char **shadow)
{
	if (i < 0 || i >= s->n)
		return -ENOENT;
	*start = s->r[i].start;
	*end = s->r[i].end;
	*shadow = s->r[i].shadow;
	return 0;
}

bool uffdbox__snapshot_signals(const struct uffdbox_snapshot *s)
{
	return s->signals;
}
