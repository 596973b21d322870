/* SPDX-License-Identifier: MIT */
/*
 * run/heap.c - large heap blocks in quarantine: use-after-free of the blocks
 * glibc's malloc maps on their own.
 *
 * glibc serves a request of at least M_MMAP_THRESHOLD (128 KiB, adaptive up
 * to 32 MiB) with a mapping of its own and releases it in free()/realloc()
 * with its internal __munmap/__mremap, which no interposer sees.  So free,
 * realloc and the allocation calls are interposed here:
 *
 *  - glibc marks such a chunk with IS_MMAPPED (bit 1 of the size word just
 *    before the block); the mapping is [chunk - prev_size, chunk + size)
 *    (malloc/malloc.c: chunk_is_mmapped, munmap_chunk).  Small blocks, in
 *    the arenas, are left alone: ASan's job, not ours.
 *  - An allocation that returns such a block records its stack (the block
 *    is as costly as an mmap already).  Every other call costs one inline
 *    test of the block, maybe_mapped(), around the real call: no lock, no
 *    table, no stack frame for free (docs/use-after-unmap.md).
 *  - free() and realloc() call glibc's own first (its statistics and its
 *    adaptive threshold stay exact), then take back what it unmapped with
 *    MAP_FIXED_NOREPLACE and quarantine it (uffdbox__run_reserve): a later
 *    access is a use-after-free with the access, allocation and free stacks.
 *    Between glibc's munmap and our mmap another thread may map there: then
 *    the range is not reserved and not reported (a miss, never a false
 *    report).
 *
 * Only when the allocator behind us is glibc's (checked once, dladdr):
 * with another malloc (jemalloc, tcmalloc...) every call passes through.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

#define EXPORT	  __attribute__((visibility("default")))
#define TABLE_CAP (1u << 15)

/* glibc's own entry points, for calls made while the real ones are being
 * looked up (dlsym may allocate). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
} R;
static _Atomic bool resolved, heap_on;

/* A live block glibc mapped on its own, and where it came from. */
struct block {
	uintptr_t key; /* the pointer the program got; 0: empty */
	size_t req;
	uint32_t thread;
	int32_t tid;
	struct uffdbox__stack st;
};

static struct block *table; /* open addressing, linear probing */
static size_t nblocks;
static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;

static void resolve_slow(void)
{
	static _Atomic bool resolving;
	/* glibc's own until the lookup is done: a malloc inside dlsym (or in
	 * another thread meanwhile) has something to call, and a nested call
	 * here returns at once instead of recursing. */
	if (!R.malloc) {
		R.free = __libc_free;
		R.calloc = __libc_calloc;
		R.realloc = __libc_realloc;
		R.memalign = __libc_memalign;
		R.aligned_alloc = __libc_memalign; /* the same in glibc */
		R.valloc = __libc_valloc;
		R.pvalloc = __libc_pvalloc;
		R.malloc = __libc_malloc;
	}
	if (atomic_exchange(&resolving, true))
		return;
	void *p;
#define NEXT(f)                         \
	if ((p = dlsym(RTLD_NEXT, #f))) \
		memcpy(&R.f, &p, sizeof(p));
	NEXT(malloc)
	NEXT(free)
	NEXT(calloc)
	NEXT(realloc)
	NEXT(memalign)
	NEXT(posix_memalign)
	NEXT(aligned_alloc)
	NEXT(valloc)
	NEXT(pvalloc)
#undef NEXT
	atomic_store_explicit(&resolved, true, memory_order_release);
}

/* The real functions, looked up on the first call (one load and a branch
 * afterwards). */
static inline void resolve(void)
{
	if (__builtin_expect(!atomic_load_explicit(&resolved, memory_order_acquire), 0))
		resolve_slow();
}

static bool in_glibc(void *fn)
{
	Dl_info info;
	return fn && dladdr(fn, &info) && info.dli_fname && strstr(info.dli_fname, "libc.so.6");
}

static void lock_for_fork(void)
{
	pthread_mutex_lock(&hmu);
}

static void unlock_after_fork(void)
{
	pthread_mutex_unlock(&hmu);
}

void uffdbox__heap_init(bool on)
{
	resolve();
	if (!on)
		return;
	void *f, *m, *r;
	memcpy(&f, &R.free, sizeof(f));
	memcpy(&m, &R.malloc, sizeof(m));
	memcpy(&r, &R.realloc, sizeof(r));
	if (!in_glibc(f) || !in_glibc(m) || !in_glibc(r))
		return; /* another allocator: its blocks are not glibc chunks */
	table = (struct block *)syscall(SYS_mmap, NULL, TABLE_CAP * sizeof(*table),
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (table == MAP_FAILED)
		return;
	pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
	atomic_store(&heap_on, true);
}

/* The mapping [*bs, *be) behind @p when glibc mapped it on its own. */
static bool mmapped_block(const void *p, uintptr_t *bs, uintptr_t *be)
{
	const size_t *h = (const size_t *)p - 2; /* prev_size, size | bits */
	size_t size = h[1];
	if (!(size & 2)) /* IS_MMAPPED */
		return false;
	uintptr_t chunk = (uintptr_t)h, b = chunk - h[0];
	size_t total = h[0] + (size & ~(size_t)7);
	if ((b | total) & 4095) /* what munmap_chunk checks too */
		return false;
	*bs = b;
	*be = b + total;
	return true;
}

/* --- the table of live blocks --------------------------------------------- */

static size_t slot_of(uintptr_t key)
{
	return (size_t)(((key >> 4) * 0x9e3779b97f4a7c15u) >> (64 - 15));
}

static void table_put(const struct block *b)
{
	if (nblocks >= TABLE_CAP / 4 * 3)
		return; /* full: this block's allocation stack is not kept */
	size_t i = slot_of(b->key);
	while (table[i].key && table[i].key != b->key)
		i = (i + 1) % TABLE_CAP;
	if (!table[i].key)
		nblocks++;
	table[i] = *b;
}

/* Remove @key; its record into *out (false if unknown). */
static bool table_take(uintptr_t key, struct block *out)
{
	size_t i = slot_of(key);
	while (table[i].key && table[i].key != key)
		i = (i + 1) % TABLE_CAP;
	if (!table[i].key)
		return false;
	*out = table[i];
	table[i].key = 0;
	nblocks--;
	/* Backward shift: keep every later key reachable from its home. */
	for (size_t j = (i + 1) % TABLE_CAP; table[j].key; j = (j + 1) % TABLE_CAP) {
		size_t home = slot_of(table[j].key);
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (between)
			continue;
		table[i] = table[j];
		table[j].key = 0;
		i = j;
	}
	return true;
}

/* --- tracking --------------------------------------------------------------- */

/*
 * The fast path: is @p possibly a block glibc mapped on its own?  Every
 * interposer asks this of every block, so it is kept to what must be read:
 * heap_on (false unless the allocator behind us is glibc's, so the header
 * of another allocator's block is never read) and IS_MMAPPED in the
 * chunk's size word, which glibc wrote and is about to read itself (same
 * cache line, or the one before).  No lock, no table, no TLS: everything
 * else - the page-alignment check, whether detection is on, whether we are
 * inside our own hook - is done only for blocks that pass, out of line.
 */
static inline bool maybe_mapped(const void *p)
{
	return p && atomic_load_explicit(&heap_on, memory_order_relaxed) &&
	       (((const size_t *)p)[-1] & 2) /* IS_MMAPPED */;
}

#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD	    __attribute__((cold, noinline))

/* @p was just returned for @req bytes and maybe_mapped(@p): if glibc
 * mapped it on its own, remember where it came from. */
static COLD void *track(void *p, size_t req, const struct uffdbox__stack *st)
{
	uintptr_t bs, be;
	if (!mmapped_block(p, &bs, &be) || !uffdbox__run_active())
		return p;
	struct block b = {.key = (uintptr_t)p, .req = req};
	uffdbox__run_enter();
	if (st)
		b.st = *st;
	else
		uffdbox__run_caller_stack(&b.st);
	b.thread = uffdbox__run_thread(&b.tid);
	pthread_mutex_lock(&hmu);
	table_put(&b);
	pthread_mutex_unlock(&hmu);
	uffdbox__run_leave();
	return p;
}

/* Quarantine what of the old mapping [bs, be) of block @p is gone now that
 * the new block (if any) maps [ns, ne). */
static void release(void *p, uintptr_t bs, uintptr_t be, uintptr_t ns, uintptr_t ne,
		    const struct block *old, bool known, const struct uffdbox__stack *st)
{
	struct uffdbox__qinfo qi = {
		.kind = UFFDBOX__Q_HEAP,
		.ustart = (uintptr_t)p,
		.uend = known ? (uintptr_t)p + old->req : be,
		.alloc = known ? &old->st : NULL,
		.alloc_thread = known ? old->thread : 0,
		.alloc_tid = known ? old->tid : 0,
		.release = st,
	};
	if (ne <= bs || ns >= be) {
		uffdbox__run_reserve(bs, be, &qi);
		return;
	}
	if (ns > bs)
		uffdbox__run_reserve(bs, ns, &qi);
	if (ne < be)
		uffdbox__run_reserve(ne, be, &qi);
}

static bool take(void *p, struct block *out)
{
	pthread_mutex_lock(&hmu);
	bool known = table_take((uintptr_t)p, out);
	pthread_mutex_unlock(&hmu);
	return known;
}

/* free() of a block that maybe_mapped(). */
static COLD void free_mapped(void *p)
{
	uintptr_t bs, be;
	if (!mmapped_block(p, &bs, &be) || !uffdbox__run_active()) {
		R.free(p);
		return;
	}
	/* The stack first: unwinding may map memory, which must not land
	 * where the block is about to be unmapped. */
	struct uffdbox__stack st;
	struct block old;
	uffdbox__run_enter();
	uffdbox__run_caller_stack(&st);
	bool known = take(p, &old);
	R.free(p);
	uffdbox__run_leave();
	release(p, bs, be, 0, 0, &old, known, &st);
}

/* realloc() of a block that maybe_mapped(). */
static COLD void *realloc_mapped(void *p, size_t n)
{
	uintptr_t bs, be, ns = 0, ne = 0;
	if (!mmapped_block(p, &bs, &be) || !uffdbox__run_active()) {
		void *r = R.realloc(p, n);
		return maybe_mapped(r) ? track(r, n, NULL) : r;
	}
	struct uffdbox__stack st;
	struct block old;
	uffdbox__run_enter();
	uffdbox__run_caller_stack(&st);
	bool known = take(p, &old);
	void *r = R.realloc(p, n);
	uffdbox__run_leave();
	if (!r && n) { /* failed: the old block is untouched */
		if (known) {
			pthread_mutex_lock(&hmu);
			table_put(&old);
			pthread_mutex_unlock(&hmu);
		}
		return NULL;
	}
	if (r && mmapped_block(r, &ns, &ne))
		track(r, n, &st); /* allocated by this realloc */
	release(p, bs, be, ns, ne, &old, known, &st);
	return r;
}

/* --- interposers ------------------------------------------------------------- */

/* Each is one test of maybe_mapped() around a call to the real function
 * (a tail call for free); the rest is out of line. */

/* free() before the lookup, or of a block that maybe_mapped(). */
static COLD void free_slow(void *p)
{
	resolve();
	if (maybe_mapped(p))
		free_mapped(p);
	else
		R.free(p);
}

EXPORT void free(void *p)
{
	if (UNLIKELY(!atomic_load_explicit(&resolved, memory_order_acquire) || maybe_mapped(p)))
		free_slow(p);
	else
		R.free(p);
}

EXPORT void *malloc(size_t n)
{
	resolve();
	void *p = R.malloc(n);
	return UNLIKELY(maybe_mapped(p)) ? track(p, n, NULL) : p;
}

EXPORT void *calloc(size_t n, size_t m)
{
	resolve();
	void *p = R.calloc(n, m);
	return UNLIKELY(maybe_mapped(p)) ? track(p, n * m, NULL) : p;
}

EXPORT void *realloc(void *p, size_t n)
{
	resolve();
	if (UNLIKELY(maybe_mapped(p)))
		return realloc_mapped(p, n);
	void *r = R.realloc(p, n);
	return UNLIKELY(maybe_mapped(r)) ? track(r, n, NULL) : r;
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, m, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

static void *track_any(void *p, size_t n)
{
	return UNLIKELY(maybe_mapped(p)) ? track(p, n, NULL) : p;
}

EXPORT void *memalign(size_t align, size_t n)
{
	resolve();
	return track_any(R.memalign(align, n), n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	resolve();
	if (!R.posix_memalign) { /* still looking it up: glibc's memalign */
		if (!align || (align & (align - 1)) || align % sizeof(void *))
			return EINVAL;
		void *p = R.memalign(align, n);
		if (!p)
			return ENOMEM;
		*out = track_any(p, n);
		return 0;
	}
	int rc = R.posix_memalign(out, align, n);
	if (rc == 0)
		track_any(*out, n);
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	resolve();
	if (!R.aligned_alloc) {
		errno = ENOMEM;
		return NULL;
	}
	return track_any(R.aligned_alloc(align, n), n);
}

EXPORT void *valloc(size_t n)
{
	resolve();
	return R.valloc ? track_any(R.valloc(n), n) : NULL;
}

EXPORT void *pvalloc(size_t n)
{
	resolve();
	return R.pvalloc ? track_any(R.pvalloc(n), n) : NULL;
}
