/* SPDX-License-Identifier: MIT */
/*
 * core/sigbackend.c - the "signal" backend of struct uffdbox_uffd: the same
 * registrations and resolving calls as a userfaultfd, emulated with
 * protection changes, so that a fault becomes a SIGSEGV in the faulting
 * thread (see docs/backends.md).
 *
 * Per registered range, one state byte per page:
 *   MISSING  the page has no contents yet: its access must trap;
 *   PRESENT  mapped read-write;
 *   WP       mapped read-only (write-protected): a write traps;
 *   POISON   like MISSING, but resolved as "poisoned": its access is the
 *            target's memory error (the sync transport raises SIGBUS).
 *
 * How a missing page traps: where the kernel has guard markers
 * (MADV_GUARD_INSTALL, 6.13) and the memory takes them (anonymous; shmem
 * since 6.15), a marker in the page table - no VMA of its own, so resolving
 * pages one by one in any order never splits the mapping (a
 * fuzz target touching every other page of a large region costs nothing in
 * vm.max_map_count).  Elsewhere (hugetlb, older kernels) the page is
 * PROT_NONE.  Write protection is PROT_READ either way: a protection change
 * in the middle of a mapping splits its VMA (neighbours with the same
 * protection merge again), so those are counted against a budget (see
 * split budget below) and a change past it fails with -ENOMEM instead of
 * exhausting the process's map count, where every later mmap (malloc's
 * too) would fail.
 *
 * What cannot be emulated: an access made inside the kernel (a syscall
 * reading into or writing from a trapping page) gets EFAULT, no signal -
 * the same as a user-mode-only userfaultfd; there are no non-cooperative
 * events, no minor faults, no UFFDIO_MOVE.  A fill with contents is as
 * atomic as UFFDIO_COPY where /proc/self/mem can write the page while it is
 * still inaccessible (fill_hidden: private 4 KiB pages); elsewhere other
 * threads may see it half done (docs/backends.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define ONE_THREAD() (__libc_single_threaded != 0)
#else
#define ONE_THREAD() false
#endif
#include <unistd.h>

#include "uffdbox/compat.h"
#include "uffdbox/uffd.h"
#include "internal.h"
#include "sigbackend.h"
#include "sys.h"

enum { ST_MISSING = 0, ST_PRESENT = 1, ST_WP = 2, ST_POISON = 3 };

/* struct uffdbox__sig's mem, when it holds no descriptor */
#define MEM_NONE    0ULL
#define MEM_REFUSED (~0ULL)

/* As many as a sandbox has regions (UFFDBOX_SANDBOX_MAX_REGIONS), plus
 * snapshot ranges. */
#define SIG_MAX_RANGES 4160

struct sig_range {
	_Atomic uintptr_t start; /* 0: free slot */
	uintptr_t end;
	size_t psz;
	unsigned int modes;
	bool guard;		/* missing pages are guard markers (else PROT_NONE) */
	_Atomic bool no_hidden; /* fill_hidden() was refused here: fill in place */
	_Atomic uint8_t *st;
};

/*
 * Lookup: every fault, fill and reset finds its range, in any thread's
 * signal handler, while an API thread may register or unregister one.  A
 * scan of every slot cost O(ranges) per lookup: with 4,096 regions, up to
 * 4,096 acquire loads per fault, an O(n^2) setup, reset and teardown;
 * under TSan (an acquire load there is a vector-clock merge)
 * stress_regions_4096 on the signal backend took 17-30 s instead of 3-4 s,
 * past its 30 s alarm on a loaded machine.  So the used slots are also
 * kept in @ord, sorted by start, and a lookup is a binary search over it.
 *
 * A writer (register/unregister; callers serialize them, as the uffd's
 * own calls are) changes @ord and the slot's start inside a sequence
 * count @seq made odd (a seqlock).  A reader never waits for it: it
 * searches, then checks that @seq was even and unchanged throughout; if
 * a writer came in between, it falls back to scanning every slot, which
 * is right at any moment (each slot is published by its start alone).
 * Since no reader waits, a signal handler cannot deadlock against a
 * writer, even one running in the thread it interrupted.
 */
struct uffdbox__sig {
	struct sig_range r[SIG_MAX_RANGES];
	_Atomic int n;			 /* slots in use or used before */
	_Atomic int ord[SIG_MAX_RANGES]; /* used slots by start address */
	_Atomic int nord;
	_Atomic unsigned int seq; /* odd while a writer changes @ord */
	_Atomic long splits;
	long budget;
	_Atomic int over; /* a change was refused for the budget */
	int kick;	  /* eventfd: readable when a paused fault was posted */
	bool no_guard;	  /* UFFDBOX_SIGNAL_NO_GUARD: PROT_NONE as on kernels < 6.13 */
	/* /proc/self/mem, for fills no other thread sees half done (see
	 * fill_hidden): MEM_NONE not opened yet, MEM_REFUSED not usable, else
	 * the descriptor and the process that opened it, in one word (a
	 * forked child's copy would write its parent's memory). */
	_Atomic uint64_t mem;
};

static inline int sys_mprotect(void *addr, size_t len, int prot)
{
	int saved = errno;
	return (int)sys_ret(mprotect(addr, len, prot), saved);
}

static inline int sys_madvise(void *addr, size_t len, int advice)
{
	int saved = errno;
	return (int)sys_ret(madvise(addr, len, advice), saved);
}

/* The protection a page in state @s has in @R (-1: a guard marker, with the
 * mapping's protection left read-write). */
static int prot_of(const struct sig_range *R, uint8_t s)
{
	switch (s) {
	case ST_PRESENT:
		return PROT_READ | PROT_WRITE;
	case ST_WP:
		return PROT_READ;
	default:
		return R->guard ? PROT_READ | PROT_WRITE : PROT_NONE;
	}
}

static long read_long_file(const char *path, long dflt)
{
	char buf[32];
	int fd = sys_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dflt;
	ssize_t n = sys_read(fd, buf, sizeof(buf) - 1);
	sys_close(fd);
	if (n <= 0)
		return dflt;
	buf[n] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	return end == buf ? dflt : v;
}

int uffdbox__sig_new(struct uffdbox__sig **out, char *errbuf, size_t errbuf_len)
{
	struct uffdbox__sig *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/*
	 * The split budget: half of vm.max_map_count (65530 by default),
	 * leaving the other half to the program's own mappings.
	 * UFFDBOX_SIGNAL_MAX_SPLITS overrides it (tests, tight containers).
	 */
	s->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->kick >= 0) /* out of the target's reach, as a uffd is */
		s->kick = uffdbox__fd_high(s->kick);
	if (s->kick < 0) {
		int err = -errno;
		free(s);
		return err;
	}
	s->budget = read_long_file("/proc/sys/vm/max_map_count", 65530) / 2;
	/* UFFDBOX_SIGNAL_IN_PLACE=1: fills in place, as where /proc/self/mem
	 * is refused (tests of that path) */
	const char *ip = getenv("UFFDBOX_SIGNAL_IN_PLACE");
	atomic_init(&s->mem, ip && *ip && strcmp(ip, "0") != 0 ? MEM_REFUSED : MEM_NONE);
	const char *ng = getenv("UFFDBOX_SIGNAL_NO_GUARD");
	s->no_guard = ng && *ng && strcmp(ng, "0") != 0;
	const char *e = getenv("UFFDBOX_SIGNAL_MAX_SPLITS");
	if (e && *e) {
		char *end;
		long v = strtol(e, &end, 0);
		if (*end || v < 0) {
			if (errbuf && errbuf_len)
				snprintf(errbuf, errbuf_len,
					 "UFFDBOX_SIGNAL_MAX_SPLITS=\"%s\" is not a whole number",
					 e);
			sys_close(s->kick);
			free(s);
			return -EINVAL;
		}
		s->budget = v;
	}
	*out = s;
	return 0;
}

void uffdbox__sig_free(struct uffdbox__sig *s)
{
	if (!s)
		return;
	int n = atomic_load(&s->n);
	for (int i = 0; i < n; i++) {
		struct sig_range *R = &s->r[i];
		if (atomic_load(&R->start))
			uffdbox__sig_unregister(s, (void *)atomic_load(&R->start),
						R->end - atomic_load(&R->start));
	}
	sys_close(s->kick);
	uint64_t m = atomic_load(&s->mem);
	if (m != MEM_NONE && m != MEM_REFUSED && (int)(m >> 32) == (int)getpid())
		sys_close((int)(uint32_t)m);
	free(s);
}

uint64_t uffdbox__sig_features(void)
{
	/* SIGBUS: faults are delivered synchronously to the faulting thread
	 * (as SIGSEGV); THREAD_ID and EXACT_ADDRESS: the signal carries both. */
	return UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MISSING_HUGETLBFS |
	       UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_SIGBUS | UFFD_FEATURE_THREAD_ID |
	       UFFD_FEATURE_EXACT_ADDRESS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
	       UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_POISON;
}

uint64_t uffdbox__sig_ioctls(void)
{
	return (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE) |
	       (1ULL << _UFFDIO_WRITEPROTECT) | (1ULL << _UFFDIO_POISON) |
	       (1ULL << _UFFDIO_REGISTER) | (1ULL << _UFFDIO_UNREGISTER) | (1ULL << _UFFDIO_API);
}

/* The range holding [a, a+len) whole, scanning every slot; NULL if none. */
static struct sig_range *find_scan(struct uffdbox__sig *s, uintptr_t a, size_t len)
{
	int n = atomic_load_explicit(&s->n, memory_order_acquire);
	for (int i = 0; i < n; i++) {
		struct sig_range *R = &s->r[i];
		uintptr_t st = atomic_load_explicit(&R->start, memory_order_acquire);
		if (st && a >= st && a < R->end && len <= R->end - a)
			return R;
	}
	return NULL;
}

/* Position in @ord of the last range starting at or below @a; -1 if none.
 * (A reader's result is only good if @seq did not move meanwhile.) */
static int ord_floor(struct uffdbox__sig *s, uintptr_t a)
{
	int lo = 0, hi = atomic_load_explicit(&s->nord, memory_order_relaxed);
	if (hi > SIG_MAX_RANGES)
		hi = SIG_MAX_RANGES;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		int slot = atomic_load_explicit(&s->ord[mid], memory_order_relaxed);
		uintptr_t st =
			(unsigned)slot < SIG_MAX_RANGES
				? atomic_load_explicit(&s->r[slot].start, memory_order_relaxed)
				: 0;
		if (st <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* The range holding [a, a+len) whole; NULL if none.  Async-signal-safe,
 * O(log ranges) unless a writer is in (see struct uffdbox__sig). */
static struct sig_range *find(struct uffdbox__sig *s, uintptr_t a, size_t len)
{
	unsigned int q = atomic_load_explicit(&s->seq, memory_order_acquire);
	if (q & 1)
		return find_scan(s, a, len);
	int i = ord_floor(s, a);
	struct sig_range *R =
		i < 0 ? NULL : &s->r[atomic_load_explicit(&s->ord[i], memory_order_relaxed)];
	uintptr_t st = R ? atomic_load_explicit(&R->start, memory_order_acquire) : 0;
	bool hit = st && a >= st && a < R->end && len <= R->end - a;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) != q)
		return find_scan(s, a, len);
	return hit ? R : NULL;
}

/* Writer side: open and close a change of @ord (and of a slot's start). */
static void ord_begin(struct uffdbox__sig *s)
{
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void ord_end(struct uffdbox__sig *s)
{
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

/* Put @slot (its start set) in @ord, at its place by address. */
static void ord_insert(struct uffdbox__sig *s, int slot, uintptr_t start)
{
	int n = atomic_load_explicit(&s->nord, memory_order_relaxed);
	int at = ord_floor(s, start) + 1;
	for (int k = n; k > at; k--)
		atomic_store_explicit(&s->ord[k],
				      atomic_load_explicit(&s->ord[k - 1], memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&s->ord[at], slot, memory_order_relaxed);
	atomic_store_explicit(&s->nord, n + 1, memory_order_relaxed);
}

/* Take @slot (starting at @start) out of @ord. */
static void ord_remove(struct uffdbox__sig *s, int slot, uintptr_t start)
{
	int n = atomic_load_explicit(&s->nord, memory_order_relaxed);
	int at = ord_floor(s, start);
	if (at < 0 || atomic_load_explicit(&s->ord[at], memory_order_relaxed) != slot)
		return; /* not there: cannot happen (ranges do not overlap) */
	for (int k = at; k + 1 < n; k++)
		atomic_store_explicit(&s->ord[k],
				      atomic_load_explicit(&s->ord[k + 1], memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&s->nord, n - 1, memory_order_relaxed);
}

/* Protection boundaries between consecutive pages of [first-1, end] (page
 * indices), each one VMA more than the range would otherwise have. */
static long boundaries(const struct sig_range *R, size_t first, size_t end)
{
	size_t pages = (R->end - R->start) / R->psz;
	long b = 0;
	size_t lo = first ? first - 1 : 0, hi = end < pages ? end : pages - 1;
	for (size_t i = lo; i < hi; i++)
		b += prot_of(R, atomic_load_explicit(&R->st[i], memory_order_relaxed)) !=
		     prot_of(R, atomic_load_explicit(&R->st[i + 1], memory_order_relaxed));
	return b;
}

/*
 * Set pages [first, end) of @R to state @to (only those now in a state of
 * @from_mask) and their protection to match, one mprotect per run.  Fails
 * with -ENOMEM, changing nothing, when the splits would pass the budget.
 */
static int set_states(struct uffdbox__sig *s, struct sig_range *R, size_t first, size_t end,
		      unsigned int from_mask, uint8_t to)
{
	size_t pages = (R->end - R->start) / R->psz;
	long before = boundaries(R, first, end);
	/* What the boundaries would be: computed on a copy of the edges. */
	long after = 0;
	int pto = prot_of(R, to);
	size_t lo = first ? first - 1 : 0, hi = end < pages ? end : pages - 1;
	for (size_t i = lo; i < hi; i++) {
		uint8_t a = atomic_load_explicit(&R->st[i], memory_order_relaxed);
		uint8_t b = atomic_load_explicit(&R->st[i + 1], memory_order_relaxed);
		int pa = (i >= first && i < end && (from_mask & (1u << a))) ? pto : prot_of(R, a);
		int pb = (i + 1 >= first && i + 1 < end && (from_mask & (1u << b))) ? pto
										    : prot_of(R, b);
		after += pa != pb;
	}
	long delta = after - before;
	if (delta > 0 && atomic_load(&s->splits) + delta > s->budget) {
		atomic_store(&s->over, 1);
		return -ENOMEM;
	}
	size_t i = first;
	while (i < end) {
		uint8_t cur = atomic_load_explicit(&R->st[i], memory_order_relaxed);
		if (!(from_mask & (1u << cur))) {
			i++;
			continue;
		}
		size_t j = i;
		bool change = false;
		while (j < end) {
			uint8_t c = atomic_load_explicit(&R->st[j], memory_order_relaxed);
			if (!(from_mask & (1u << c)))
				break;
			change |= prot_of(R, c) != pto;
			j++;
		}
		if (change) {
			int rc = sys_mprotect((void *)(R->start + i * R->psz), (j - i) * R->psz,
					      pto);
			if (rc < 0)
				return rc;
		}
		for (size_t k = i; k < j; k++)
			atomic_store_explicit(&R->st[k], to, memory_order_relaxed);
		i = j;
	}
	atomic_fetch_add(&s->splits, delta);
	return 0;
}

/* Which pages of [start, start+len) hold something (present or swapped),
 * from /proc/self/pagemap; false for all when it cannot be read (a fresh
 * mapping, the only kind the sandbox registers, has none). */
static void populated(uintptr_t start, size_t len, size_t psz, _Atomic uint8_t *st)
{
	size_t n4k = len / 4096, pages = len / psz;
	int fd = sys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t buf[512];

	if (fd < 0)
		return;
	for (size_t done = 0; done < n4k;) {
		size_t k = n4k - done < 512 ? n4k - done : 512;
		ssize_t got = pread(fd, buf, k * 8, (off_t)((start / 4096 + done) * 8));
		if (got <= 0)
			break;
		k = (size_t)got / 8;
		for (size_t i = 0; i < k; i++)
			if (buf[i] & (3ULL << 62)) {
				size_t pg = (done + i) * 4096 / psz;
				if (pg < pages)
					atomic_store_explicit(&st[pg], ST_PRESENT,
							      memory_order_relaxed);
			}
		done += k;
	}
	sys_close(fd);
}

/* Make pages [i, j) of @R trap as missing (their contents are gone). */
static int arm_missing(struct uffdbox__sig *s, struct sig_range *R, size_t i, size_t j)
{
	void *a = (void *)(R->start + i * R->psz);
	size_t len = (j - i) * R->psz;
	if (R->guard) {
		/* WP pages are read-only: read-write again first, so that the
		 * markers' mapping has one protection. */
		int rc = set_states(s, R, i, j, 1u << ST_WP, ST_PRESENT);
		if (rc < 0)
			return rc;
		rc = sys_madvise(a, len, MADV_GUARD_INSTALL);
		if (rc < 0)
			return rc;
		for (size_t k = i; k < j; k++)
			atomic_store_explicit(&R->st[k], ST_MISSING, memory_order_relaxed);
		return 0;
	}
	return set_states(s, R, i, j, (1u << ST_PRESENT) | (1u << ST_WP), ST_MISSING);
}

int uffdbox__sig_register(struct uffdbox__sig *s, void *addr, size_t len, unsigned int modes,
			  size_t psz)
{
	uintptr_t a = (uintptr_t)addr;
	int slot = -1, n = atomic_load(&s->n);

	if (!len || (a | len) % psz)
		return -EINVAL;
	if (modes & UFFDBOX_REG_MINOR)
		return -EINVAL; /* no page cache lookups to emulate */
	/* Overlap: the last range starting inside [a, a+len) or before it
	 * reaches in (ranges are disjoint, so it ends last of those). */
	int below = ord_floor(s, a + len - 1);
	if (below >= 0 && s->r[atomic_load_explicit(&s->ord[below], memory_order_relaxed)].end > a)
		return -EBUSY;
	/* A free slot before @n exactly when fewer are used than that. */
	for (int i = 0; atomic_load_explicit(&s->nord, memory_order_relaxed) < n && i < n; i++)
		if (!atomic_load_explicit(&s->r[i].start, memory_order_relaxed)) {
			slot = i;
			break;
		}
	if (slot < 0) {
		if (n == SIG_MAX_RANGES)
			return -ENOMEM;
		slot = n;
	}
	struct sig_range *R = &s->r[slot];
	size_t pages = len / psz;
	_Atomic uint8_t *st = calloc(pages, 1);
	if (!st)
		return -ENOMEM;
	R->end = a + len;
	R->psz = psz;
	R->modes = modes;
	R->st = st;
	R->guard = false;
	atomic_store_explicit(&R->no_hidden, false, memory_order_relaxed);
	if (modes & UFFDBOX_REG_MISSING) {
		populated(a, len, psz, st);
		/* Guard markers where the kernel and the memory take them:
		 * probe on the first missing page. */
		size_t first = 0;
		while (first < pages && atomic_load(&st[first]) != ST_MISSING)
			first++;
		if (first < pages && !s->no_guard &&
		    sys_madvise((void *)(a + first * psz), psz, MADV_GUARD_INSTALL) == 0) {
			R->guard = true;
		}
	} else {
		for (size_t i = 0; i < pages; i++)
			atomic_store_explicit(&st[i], ST_PRESENT, memory_order_relaxed);
	}
	/* Missing runs trap from now on. */
	int rc = 0;
	for (size_t i = 0; i < pages && rc == 0;) {
		if (atomic_load(&st[i]) != ST_MISSING) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < pages && atomic_load(&st[j]) == ST_MISSING)
			j++;
		if (R->guard)
			rc = sys_madvise((void *)(a + i * psz), (j - i) * psz, MADV_GUARD_INSTALL);
		else
			rc = sys_mprotect((void *)(a + i * psz), (j - i) * psz, PROT_NONE);
		i = j;
	}
	if (rc == 0 && !R->guard) /* (R->start is not published yet) */
		for (size_t i = 0; i + 1 < pages; i++)
			atomic_fetch_add(&s->splits, prot_of(R, atomic_load(&st[i])) !=
							     prot_of(R, atomic_load(&st[i + 1])));
	if (rc < 0) {
		free((void *)st);
		return rc;
	}
	ord_begin(s);
	atomic_store_explicit(&R->start, a, memory_order_release);
	ord_insert(s, slot, a);
	if (slot == n)
		atomic_store_explicit(&s->n, n + 1, memory_order_release);
	ord_end(s);
	return 0;
}

int uffdbox__sig_unregister(struct uffdbox__sig *s, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	struct sig_range *R = find(s, a, len);
	if (!R)
		return 0; /* as UFFDIO_UNREGISTER of a range never registered */
	if (R->start != a || R->end != a + len)
		return -EINVAL; /* partial unregistration: not needed by anyone */
	size_t pages = len / R->psz;
	atomic_fetch_sub(&s->splits, boundaries(R, 0, pages));
	if (R->guard)
		sys_madvise(addr, len, MADV_GUARD_REMOVE);
	/* Read-write, as registered memory is mapped by everything here. */
	int rc = sys_mprotect(addr, len, PROT_READ | PROT_WRITE);
	ord_begin(s);
	ord_remove(s, (int)(R - s->r), a);
	atomic_store_explicit(&R->start, 0, memory_order_release);
	ord_end(s);
	free((void *)R->st);
	R->st = NULL;
	return rc;
}

/*
 * This process's /proc/self/mem, or -1 (async-signal-safe: open, getpid).
 * A published descriptor is never closed while the backend lives (another
 * thread may be writing through it): the loser of a race to open it
 * closes its own, unpublished one; a forked child leaves its parent's open
 * (close-on-exec) and publishes its own.  @stale: that descriptor was
 * closed under us (the whole-target reset closes what an input opened).
 */
static int self_mem(struct uffdbox__sig *s, int stale)
{
	uint64_t m = atomic_load_explicit(&s->mem, memory_order_acquire);
	if (m == MEM_REFUSED)
		return -1;
	uint32_t pid = (uint32_t)getpid();
	if (m != MEM_NONE && (uint32_t)(m >> 32) == pid && (int)(uint32_t)m != stale)
		return (int)(uint32_t)m;
	int fd = sys_open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd >= 0) /* out of the target's reach, as a uffd is */
		fd = uffdbox__fd_high(fd);
	if (fd < 0) {
		atomic_store(&s->mem, MEM_REFUSED);
		return -1;
	}
	uint64_t want = ((uint64_t)pid << 32) | (uint32_t)fd;
	if (!atomic_compare_exchange_strong(&s->mem, &m, want)) {
		sys_close(fd); /* another thread published one first */
		return (uint32_t)(m >> 32) == pid ? (int)(uint32_t)m : -1;
	}
	return fd;
}

/*
 * Fill pages [first, j) of @R with @src while they are inaccessible, and
 * only then make them accessible: another thread touching them meanwhile
 * traps, finds them missing and claimed, and waits for the fill (core/fsm),
 * as with UFFDIO_COPY - never a half-filled page, never a write of its own
 * overwritten by the fill.  The bytes go in through /proc/self/mem, which
 * writes a private mapping past its protection.  Returns 0 done (their
 * state unchanged), or -1: not possible here (shared or huge pages, a
 * kernel or sandbox refusing /proc/self/mem), nothing changed that the
 * caller's in-place fill does not redo.  With guard markers and
 * @open the pages end read-write; else still PROT_NONE, for set_states()
 * to give them their final protection (and count the split): never
 * writable on the way to write-protected.
 */
static int fill_hidden(struct uffdbox__sig *s, struct sig_range *R, size_t first, size_t j,
		       const void *src, bool open)
{
	void *p = (void *)(R->start + first * R->psz);
	size_t n = (j - first) * R->psz;
	int fd = atomic_load_explicit(&R->no_hidden, memory_order_relaxed) ? -1 : self_mem(s, -1);
	if (fd < 0)
		return -1;
	if (R->guard) {
		/* a guard marker stops /proc/self/mem too: PROT_NONE in its
		 * place for the time of the write (a split of the mapping
		 * while it lasts, merged again after) */
		if (sys_mprotect(p, n, PROT_NONE) < 0)
			return -1;
		if (sys_madvise(p, n, MADV_GUARD_REMOVE) < 0) {
			sys_mprotect(p, n, PROT_READ | PROT_WRITE);
			return -1;
		}
	}
	size_t done = 0;
	bool reopened = false;
	while (done < n) {
		int saved = errno;
		ssize_t w = pwrite(fd, (const char *)src + done, n - done,
				   (off_t)((uintptr_t)p + done));
		if (w < 0 && errno == EBADF && !reopened) {
			/* closed under us (the whole-target reset closes what
			 * an input opened): open it again, once */
			reopened = true;
			errno = saved;
			if ((fd = self_mem(s, fd)) < 0)
				break;
			continue;
		}
		errno = saved;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (done < n && done == 0) /* refused: EFAULT (shared memory), EIO
				    * (proc_mem.force_override=never) */
		atomic_store_explicit(&R->no_hidden, true, memory_order_relaxed);
	/* (failed: back to a marker's read-write for the in-place fill) */
	if (R->guard && (open || done < n) && sys_mprotect(p, n, PROT_READ | PROT_WRITE) < 0)
		return -1;
	return done < n ? -1 : 0;
}

bool uffdbox__sig_hidden_fills(struct uffdbox__sig *s)
{
	return self_mem(s, -1) >= 0;
}

/* Resolve pages from @dst: copy @src (NULL: zeros) and set the final state.
 * Returns bytes done or -errno, as the uffd calls. */
static ssize_t fill(struct uffdbox__sig *s, void *dst, const void *src, size_t len,
		    unsigned int flags, uint8_t final)
{
	uintptr_t a = (uintptr_t)dst;
	struct sig_range *R = find(s, a, len);
	if (!R || (a | len) % R->psz || !len)
		return R ? -EINVAL : -ENOENT;
	size_t first = (a - R->start) / R->psz, end = first + len / R->psz, j = first;
	while (j < end && atomic_load_explicit(&R->st[j], memory_order_relaxed) == ST_MISSING)
		j++;
	if (j == first) {
		/* The first page has contents (or is poisoned) already. */
		return (flags & UFFDBOX_EXIST_OK) ? (ssize_t)len : -EEXIST;
	}
	void *p = (void *)(R->start + first * R->psz);
	size_t n = (j - first) * R->psz;
	int rc;
	/* Contents hidden until complete where another thread could see
	 * them half done (a process that never started a thread cannot: in
	 * place there, three system calls cheaper). */
	bool hide = src && R->psz == 4096 && !ONE_THREAD();
	if (final == ST_POISON) {
		rc = 0;
	} else if (hide && fill_hidden(s, R, first, j, src, final != ST_WP) == 0) {
		/* filled; open them as after an in-place fill (the states and
		 * their splits follow) */
		rc = R->guard ? 0
			      : set_states(s, R, first, j, 1u << ST_MISSING,
					   final == ST_WP ? ST_WP : ST_PRESENT);
		if (rc == 0 && R->guard && final == ST_WP)
			rc = set_states(s, R, first, j, 1u << ST_MISSING, ST_WP);
	} else if (R->guard) {
		rc = sys_madvise(p, n, MADV_GUARD_REMOVE);
		if (rc == 0 && src)
			memcpy(p, src, n);
		if (rc == 0 && final == ST_WP)
			rc = set_states(s, R, first, j, 1u << ST_MISSING, ST_WP);
	} else {
		rc = set_states(s, R, first, j, 1u << ST_MISSING,
				src ? ST_PRESENT : (final == ST_WP ? ST_WP : ST_PRESENT));
		if (rc == 0 && src) {
			memcpy(p, src, n);
			if (final == ST_WP)
				rc = set_states(s, R, first, j, 1u << ST_PRESENT, ST_WP);
		}
	}
	if (rc < 0)
		return rc;
	for (size_t k = first; k < j; k++)
		atomic_store_explicit(&R->st[k], final, memory_order_relaxed);
	return (ssize_t)n;
}

ssize_t uffdbox__sig_copy(struct uffdbox__sig *s, void *dst, const void *src, size_t len,
			  unsigned int flags)
{
	return fill(s, dst, src, len, flags, (flags & UFFDBOX_MAP_WP) ? ST_WP : ST_PRESENT);
}

ssize_t uffdbox__sig_zeropage(struct uffdbox__sig *s, void *dst, size_t len, unsigned int flags)
{
	/* A missing page's memory is empty by construction: registered empty,
	 * or dropped before being armed again (uffdbox__sig_dropped). */
	return fill(s, dst, NULL, len, flags, ST_PRESENT);
}

ssize_t uffdbox__sig_poison(struct uffdbox__sig *s, void *addr, size_t len, unsigned int flags)
{
	return fill(s, addr, NULL, len, flags, ST_POISON);
}

int uffdbox__sig_writeprotect(struct uffdbox__sig *s, void *addr, size_t len, bool protect)
{
	uintptr_t a = (uintptr_t)addr;
	struct sig_range *R = find(s, a, len);
	if (!R)
		return -ENOENT;
	if ((a | len) % R->psz || !(R->modes & UFFDBOX_REG_WP))
		return -EINVAL;
	size_t first = (a - R->start) / R->psz, end = first + len / R->psz;
	/* Missing pages stay missing: their fault comes first, and the copy
	 * that resolves it says whether they are mapped protected. */
	return protect ? set_states(s, R, first, end, 1u << ST_PRESENT, ST_WP)
		       : set_states(s, R, first, end, 1u << ST_WP, ST_PRESENT);
}

int uffdbox__sig_dropped(struct uffdbox__sig *s, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	struct sig_range *R = find(s, a, len);
	if (!R || !(R->modes & UFFDBOX_REG_MISSING))
		return 0;
	size_t first = (a - R->start) / R->psz, end = first + len / R->psz;
	return arm_missing(s, R, first, end);
}

enum uffdbox__sig_kind uffdbox__sig_classify(struct uffdbox__sig *s, uintptr_t addr, bool write)
{
	struct sig_range *R = find(s, addr, 1);
	if (!R)
		return UFFDBOX__SIG_NONE;
	uint8_t st = atomic_load_explicit(&R->st[(addr - R->start) / R->psz], memory_order_relaxed);
	switch (st) {
	case ST_MISSING:
		return UFFDBOX__SIG_MISSING;
	case ST_POISON:
		return UFFDBOX__SIG_POISON;
	case ST_WP:
		return write ? UFFDBOX__SIG_WP : UFFDBOX__SIG_LATE;
	default:
		return UFFDBOX__SIG_LATE;
	}
}

long uffdbox__sig_splits(const struct uffdbox__sig *s)
{
	return atomic_load(&s->splits);
}

bool uffdbox__sig_over_budget(const struct uffdbox__sig *s)
{
	return atomic_load(&s->over) != 0;
}

long uffdbox__sig_budget(const struct uffdbox__sig *s)
{
	return s->budget;
}

int uffdbox__sig_fd(const struct uffdbox__sig *s)
{
	return s->kick;
}

void uffdbox__sig_kick(struct uffdbox__sig *s)
{
	uint64_t one = 1;
	int saved = errno;
	if (write(s->kick, &one, sizeof(one)) < 0)
		one = 0; /* full: already readable */
	errno = saved;
}

ssize_t uffdbox__sig_read(struct uffdbox__sig *s)
{
	uint64_t v;
	(void)sys_read(s->kick, &v, sizeof(v));
	return -EAGAIN;
}
