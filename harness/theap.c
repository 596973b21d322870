/* SPDX-License-Identifier: MIT */
/*
 * harness/theap.c - the target heap: under libFuzzer with UFFDBOX_PERSIST=1,
 * the target's malloc() family is served from an arena of its own, which
 * the whole-target reset puts back with the target's globals, while
 * libFuzzer's corpus, mutator and counters stay on glibc's heap, never
 * restored (docs/persist.md, "libFuzzer").  Library uffdbox_heap; linked
 * by libFuzzer harnesses that want the reset.  Inactive (every call goes
 * to glibc) unless libFuzzer is in the process and UFFDBOX_PERSIST=1.
 *
 * Who is the target: libFuzzer tells MSan when the target's code runs -
 * __msan_scoped_enable_interceptor_checks() before each callback,
 * ..._disable_...() after it and after LLVMFuzzerInitialize() - and
 * calls them whenever they are defined.  Here they flip one flag.  Calls
 * from inside libc and ld.so go to glibc even then (stdio buffers, locale
 * and time zone caches, link maps: libc's own state, which is not put
 * back, must not point into memory that is); strdup() and strndup() are
 * the target's.
 *
 * The arena: one reserved mapping, bump allocation with free lists by
 * size class (16-byte steps to 1 KiB, powers of two to 1 MiB, then
 * page-rounded first fit).  No coalescing: it is put back before every
 * input.  Its header (bump pointer, free lists) lives at its start and is
 * restored with it; what lies past the part frozen at take() is scratch,
 * dropped (MADV_DONTNEED) after each restore.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffdbox/persist.h"
#include "theap.h"

extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
/* A sanitizer runtime's allocator (ASan, MSan, TSan: their malloc is a weak
 * alias of these, which ours overrides): then everything goes there, and
 * the target heap stays off (the reset refuses sanitizers anyway). */
extern void *__interceptor_malloc(size_t n) __attribute__((weak));
extern void __interceptor_free(void *p) __attribute__((weak));
extern void *__interceptor_calloc(size_t n, size_t m) __attribute__((weak));
extern void *__interceptor_realloc(void *p, size_t n) __attribute__((weak));
extern void *__interceptor_reallocarray(void *p, size_t n, size_t m) __attribute__((weak));
extern void *__interceptor_memalign(size_t align, size_t n) __attribute__((weak));
extern void *__interceptor_aligned_alloc(size_t align, size_t n) __attribute__((weak));
extern int __interceptor_posix_memalign(void **out, size_t align, size_t n) __attribute__((weak));
extern void *__interceptor_valloc(size_t n) __attribute__((weak));
extern void *__interceptor_pvalloc(size_t n) __attribute__((weak));
extern size_t __interceptor_malloc_usable_size(void *p) __attribute__((weak));
extern void *__interceptor_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((weak));
extern int __interceptor_munmap(void *addr, size_t len) __attribute__((weak));
extern void __libfuzzer_is_present(void) __attribute__((weak));
extern char **environ;

/* Exported from the program, or libc's own calls (strdup) and the
 * target's shared objects would not reach them. */
#define EXPORT	   __attribute__((visibility("default")))

#define PAGE	   4096UL
#define NSMALL	   64		 /* 16, 32, ... 1024 */
#define NCLS	   (NSMALL + 10) /* then 2 KiB ... 1 MiB */
#define MAXMAPS	   256
#define DEFAULT_MB 4096

enum { UNDECIDED, DECIDING, OFF, ON };

struct blk {	     /* before every block */
	size_t cap;  /* usable bytes (0: an aligned block's second header) */
	size_t back; /* aligned: bytes back to the block's own start */
};

struct arena { /* at the arena's start: restored with it */
	uintptr_t bump;
	void *free[NCLS];
	void *big; /* freed blocks past 1 MiB, linked through their first word */
	int lock;
};

struct ctl { /* a mapping of its own: never restored */
	uintptr_t base, end;
	uintptr_t frozen; /* end of the snapshotted part, 0 before take() */
	uintptr_t high;	  /* the highest bump since the last restore */
	/* code of the C runtime: its malloc calls are its own state's
	 * (glibc's heap) unless in strdup/strndup; its mmap calls are never
	 * the target's.  libstdc++: mmap only (its operator new and string
	 * members allocate for the target). */
	struct {
		uintptr_t lo, hi;
		bool malloc_too;
	} rt[12];
	int nrt;
	uintptr_t mine_lo[2], mine_hi[2]; /* strdup, strndup */
	int quiet;			  /* uffdbox's own mmaps (take, restore) */
	int nmaps;
	bool overflow;
	struct {
		uintptr_t a;
		size_t len;
	} maps[MAXMAPS];
};

static int setup_err;	       /* -errno of the arena's reservation, when it failed */
static int state;	       /* once ON or OFF, never changes */
static volatile int in_engine; /* libFuzzer's code runs (MSan's hooks) */
static struct ctl *C;	       /* set with state = ON */
static struct arena *A;

/* --- libFuzzer's hooks ----------------------------------------------------- */

void __msan_scoped_enable_interceptor_checks(void);
void __msan_scoped_disable_interceptor_checks(void);

EXPORT void __msan_scoped_enable_interceptor_checks(void)
{
	in_engine = 0;
}

EXPORT void __msan_scoped_disable_interceptor_checks(void)
{
	in_engine = 1;
	if (state == ON)
		uffdbox__persist_input_ended(); /* the descriptors the input left */
}

/* --- turning on -------------------------------------------------------------- */

static int find_libs(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	/* libunwind and libgcc_s unwind exceptions (libunwind mmaps its
	 * caches then), liblzma decompresses for libunwind */
	static const char *const runtime[] = {"libc.so",  "ld-linux", "libunwind",
					      "libgcc_s", "liblzma",  "libuffdbox"};
	const char *n = info->dlpi_name ? info->dlpi_name : "";
	const char *b = strrchr(n, '/');
	b = b ? b + 1 : n;
	bool stdcxx = strncmp(b, "libstdc++", 9) == 0, rtlib = false;
	for (size_t i = 0; i < sizeof(runtime) / sizeof(runtime[0]); i++)
		rtlib |= strncmp(b, runtime[i], strlen(runtime[i])) == 0;
	if (!rtlib && !stdcxx)
		return 0;
	for (int i = 0; i < info->dlpi_phnum && C->nrt < 12; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		C->rt[C->nrt].lo = lo;
		C->rt[C->nrt].hi = lo + ph->p_memsz;
		C->rt[C->nrt++].malloc_too = rtlib;
	}
	return 0;
}

/* In the runtime's code (malloc: of those whose malloc calls are not the
 * target's)? */
static bool in_runtime(uintptr_t ra, bool for_malloc)
{
	for (int i = 0; i < C->nrt; i++)
		if (ra >= C->rt[i].lo && ra < C->rt[i].hi)
			return !for_malloc || C->rt[i].malloc_too;
	return false;
}

static void find_fn(void *fn, int i)
{
	Dl_info di;
	const ElfW(Sym) *sym = NULL;
	if (fn && dladdr1(fn, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
		C->mine_lo[i] = (uintptr_t)di.dli_saddr;
		C->mine_hi[i] = (uintptr_t)di.dli_saddr + sym->st_size;
	}
}

static int setup(void)
{
	size_t mb = DEFAULT_MB;
	const char *v = getenv("UFFDBOX_PERSIST_HEAP_MB");
	if (v && *v) {
		char *e;
		unsigned long x = strtoul(v, &e, 10);
		if (*e || x == 0 || x > (1ul << 20)) {
			static const char msg[] = "uffdbox heap: UFFDBOX_PERSIST_HEAP_MB is not a "
						  "number of MiB (1 to 1048576): using 4096\n";
			(void)!write(2, msg, sizeof(msg) - 1);
		} else {
			mb = x;
		}
	}
	void *c = mmap(NULL, (sizeof(struct ctl) + PAGE - 1) & ~(PAGE - 1), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return -errno;
	size_t len = mb << 20;
	void *a = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED) {
		int e = -errno;
		munmap(c, sizeof(struct ctl));
		return e;
	}
	C = c;
	C->base = (uintptr_t)a;
	C->end = C->base + len;
	A = a;
	A->bump = (C->base + sizeof(struct arena) + 15) & ~(uintptr_t)15;
	C->high = A->bump;
	dl_iterate_phdr(find_libs, NULL);
	find_fn((void *)&strdup, 0);
	find_fn((void *)&strndup, 1);
	return 0;
}

static void decide(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	if (s != UNDECIDED || !environ)
		return; /* too early (ld.so, libc's own start): glibc serves */
	if (!__atomic_compare_exchange_n(&state, &s, DECIDING, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	const char *v = getenv("UFFDBOX_PERSIST");
	int to = OFF;
	if (__libfuzzer_is_present && v && strcmp(v, "1") == 0 && !__interceptor_malloc) {
		setup_err = setup();
		to = setup_err == 0 ? ON : OFF;
	}
	__atomic_store_n(&state, to, __ATOMIC_RELEASE);
}

/* The target's, by the engine flag and the caller. */
static bool target(uintptr_t ra)
{
	if (__builtin_expect(state != ON, 0)) {
		decide();
		if (state != ON)
			return false;
	}
	if (in_engine)
		return false;
	if (in_runtime(ra, true))
		return (ra >= C->mine_lo[0] && ra < C->mine_hi[0]) ||
		       (ra >= C->mine_lo[1] && ra < C->mine_hi[1]);
	return true;
}

static bool mine(const void *p)
{
	return state == ON && (uintptr_t)p >= C->base && (uintptr_t)p < C->end;
}

/* --- the arena -------------------------------------------------------------- */

static void lock(void)
{
	while (__atomic_exchange_n(&A->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&A->lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void unlock(void)
{
	__atomic_store_n(&A->lock, 0, __ATOMIC_RELEASE);
}

/* size class of @n and its capacity; NCLS for the page-rounded ones */
static int cls_of(size_t n, size_t *cap)
{
	if (n <= 1024) {
		size_t c = n ? (n + 15) & ~(size_t)15 : 16;
		*cap = c;
		return (int)(c / 16) - 1;
	}
	if (n <= (1u << 20)) {
		int k = 64 - __builtin_clzl(n - 1); /* 2^k >= n, k in 11..20 */
		*cap = (size_t)1 << k;
		return NSMALL + (k - 11);
	}
	*cap = (n + PAGE - 1) & ~(PAGE - 1);
	return NCLS;
}

static struct blk *hdr(void *p)
{
	return (struct blk *)p - 1;
}

static void *arena_alloc(size_t n)
{
	size_t cap;
	if (n > C->end - C->base) {
		errno = ENOMEM;
		return NULL;
	}
	int c = cls_of(n, &cap);
	void *p = NULL;
	lock();
	if (c < NCLS) {
		p = A->free[c];
		if (p)
			A->free[c] = *(void **)p;
	} else {
		for (void **prev = &A->big; *prev; prev = (void **)*prev)
			if (hdr(*prev)->cap >= cap) {
				p = *prev;
				*prev = *(void **)p;
				break;
			}
	}
	if (!p) {
		uintptr_t b = A->bump;
		if (C->end - b < cap + sizeof(struct blk)) {
			unlock();
			errno = ENOMEM;
			return NULL;
		}
		p = (void *)(b + sizeof(struct blk));
		hdr(p)->cap = cap;
		A->bump = b + sizeof(struct blk) + cap;
		if (A->bump > C->high)
			C->high = A->bump;
	}
	hdr(p)->back = 0;
	unlock();
	return p;
}

/* the block's own start (aligned blocks point back to it) */
static void *own_start(void *p)
{
	struct blk *h = hdr(p);
	return h->cap == 0 ? (char *)p - h->back : p;
}

static void arena_free(void *p)
{
	p = own_start(p);
	size_t cap;
	int c = cls_of(hdr(p)->cap, &cap);
	lock();
	if (c < NCLS) {
		*(void **)p = A->free[c];
		A->free[c] = p;
	} else {
		*(void **)p = A->big;
		A->big = p;
	}
	unlock();
}

static size_t arena_usable(void *p)
{
	struct blk *h = hdr(p);
	if (h->cap == 0) {
		void *s = (char *)p - h->back;
		return hdr(s)->cap - h->back;
	}
	return h->cap;
}

static void *arena_aligned(size_t align, size_t n)
{
	if (align <= 16)
		return arena_alloc(n);
	if (n > SIZE_MAX - align - sizeof(struct blk)) {
		errno = ENOMEM;
		return NULL;
	}
	char *p = arena_alloc(n + align + sizeof(struct blk));
	if (!p)
		return NULL;
	uintptr_t q = ((uintptr_t)p + sizeof(struct blk) + align - 1) & ~(uintptr_t)(align - 1);
	hdr((void *)q)->cap = 0;
	hdr((void *)q)->back = q - (uintptr_t)p;
	return (void *)q;
}

/* --- the malloc family ------------------------------------------------------ */

#define CALLER ((uintptr_t)__builtin_return_address(0))

/* What serves the engine's calls: a sanitizer's allocator, else glibc. */
static void *real_malloc(size_t n)
{
	return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}

static void real_free(void *p)
{
	if (__interceptor_free)
		__interceptor_free(p);
	else
		__libc_free(p);
}

static void *real_realloc(void *p, size_t n)
{
	return __interceptor_realloc ? __interceptor_realloc(p, n) : __libc_realloc(p, n);
}

static void *real_memalign(size_t align, size_t n)
{
	return __interceptor_memalign ? __interceptor_memalign(align, n)
				      : __libc_memalign(align, n);
}

/* (glibc declares these only in malloc.h, with attributes of its own) */
void *memalign(size_t align, size_t n);
void *pvalloc(size_t n);
size_t malloc_usable_size(void *p);
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);

EXPORT void *malloc(size_t n)
{
	return target(CALLER) ? arena_alloc(n) : real_malloc(n);
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	if (mine(p))
		arena_free(p);
	else
		real_free(p);
}

EXPORT void *calloc(size_t n, size_t m)
{
	if (!target(CALLER))
		return __interceptor_calloc ? __interceptor_calloc(n, m) : __libc_calloc(n, m);
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = arena_alloc(t);
	if (p)
		memset(p, 0, t);
	return p;
}

static void *arena_realloc(void *p, size_t n)
{
	size_t have = arena_usable(p);
	if (n <= have && n)
		return p;
	if (!n) {
		arena_free(p);
		return NULL;
	}
	void *q = arena_alloc(n);
	if (q) {
		memcpy(q, p, have < n ? have : n);
		arena_free(p);
	}
	return q;
}

EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return target(CALLER) ? arena_alloc(n) : real_malloc(n);
	return mine(p) ? arena_realloc(p, n) : real_realloc(p, n);
}

EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	if (__interceptor_reallocarray)
		return __interceptor_reallocarray(p, n, m);
	if (!p)
		return target(CALLER) ? arena_alloc(t) : real_malloc(t);
	return mine(p) ? arena_realloc(p, t) : real_realloc(p, t);
}

EXPORT void *memalign(size_t align, size_t n)
{
	return target(CALLER) ? arena_aligned(align, n) : real_memalign(align, n);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (__interceptor_aligned_alloc)
		return __interceptor_aligned_alloc(align, n);
	return target(CALLER) ? arena_aligned(align, n) : __libc_memalign(align, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (__interceptor_posix_memalign)
		return __interceptor_posix_memalign(out, align, n);
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = target(CALLER) ? arena_aligned(align, n) : __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t n)
{
	if (__interceptor_valloc)
		return __interceptor_valloc(n);
	return target(CALLER) ? arena_aligned(PAGE, n) : __libc_memalign(PAGE, n);
}

EXPORT void *pvalloc(size_t n)
{
	if (__interceptor_pvalloc)
		return __interceptor_pvalloc(n);
	n = (n + PAGE - 1) & ~(PAGE - 1);
	return target(CALLER) ? arena_aligned(PAGE, n) : __libc_memalign(PAGE, n);
}

EXPORT size_t malloc_usable_size(void *p)
{
	static size_t (*next)(void *);
	if (!p)
		return 0;
	if (mine(p))
		return arena_usable(p);
	if (__interceptor_malloc_usable_size)
		return __interceptor_malloc_usable_size(p);
	if (!next)
		next = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	return next ? next(p) : 0;
}

/* --- the target's own mappings ---------------------------------------------- */

/* Mappings the target makes during an input are unmapped at the next
 * restore (its pointers to them are put back anyway). */
static void *map_and_note(void *addr, size_t len, int prot, int flags, int fd, off_t off,
			  uintptr_t ra)
{
	if (__interceptor_mmap) /* a sanitizer's (it shadows the mapping) */
		return __interceptor_mmap(addr, len, prot, flags, fd, off);
	bool t = target(ra) && C->frozen && !C->quiet && !in_runtime(ra, false);
	/* (syscall() returns -1 and sets errno, as mmap() does) */
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (r == -1)
		return MAP_FAILED;
	if (t) {
		if (C->nmaps < MAXMAPS) {
			C->maps[C->nmaps].a = (uintptr_t)r;
			C->maps[C->nmaps++].len = len;
		} else {
			C->overflow = true;
		}
	}
	return (void *)r;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return map_and_note(addr, len, prot, flags, fd, off, CALLER);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return map_and_note(addr, len, prot, flags, fd, off, CALLER);
}

static void forget(uintptr_t a, size_t len)
{
	for (int i = 0; i < C->nmaps; i++)
		if (C->maps[i].a >= a && C->maps[i].a + C->maps[i].len <= a + len)
			C->maps[i--] = C->maps[--C->nmaps];
}

EXPORT int munmap(void *addr, size_t len)
{
	if (__interceptor_munmap)
		return __interceptor_munmap(addr, len);
	if (syscall(SYS_munmap, addr, len) != 0)
		return -1;
	if (state == ON && C->nmaps)
		forget((uintptr_t)addr, len);
	return 0;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *want = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	if (state == ON)
		for (int i = 0; i < C->nmaps; i++)
			if (C->maps[i].a == (uintptr_t)old) {
				C->maps[i].a = (uintptr_t)p;
				C->maps[i].len = new_len;
			}
	return p;
}

/* --- the reset's side ------------------------------------------------------- */

static int freeze(uintptr_t *start, uintptr_t *end, const char **why)
{
	if (state != ON) {
		static char msg[160];
		if (setup_err)
			snprintf(msg, sizeof(msg),
				 "uffdbox's target heap could not reserve its arena: %s "
				 "(UFFDBOX_PERSIST_HEAP_MB sets its size)",
				 strerror(-setup_err));
		*why = setup_err ? msg
				 : "uffdbox's target heap is not serving this process (it is, "
				   "under libFuzzer with UFFDBOX_PERSIST=1 in the environment at "
				   "start)";
		return -ENOTSUP;
	}
	lock();
	C->frozen = (A->bump + PAGE - 1) & ~(PAGE - 1);
	C->high = A->bump;
	unlock();
	C->nmaps = 0;
	*start = C->base;
	*end = C->frozen;
	/* the flags in .bss are the same at take() and at every restore, but
	 * they are the heap's, not the target's */
	uffdbox_persist_keep((const void *)&state, sizeof(state));
	uffdbox_persist_keep((const void *)&in_engine, sizeof(in_engine));
	return 0;
}

static int after_restore(void)
{
	int n = 0;
	/* A->bump is the snapshot's again; the scratch past the frozen part
	 * holds this input's blocks */
	if (C->high > C->frozen)
		madvise((void *)C->frozen, ((C->high + PAGE - 1) & ~(PAGE - 1)) - C->frozen,
			MADV_DONTNEED);
	C->high = A->bump;
	C->quiet++;
	for (int i = 0; i < C->nmaps; i++, n++)
		syscall(SYS_munmap, C->maps[i].a, C->maps[i].len);
	C->quiet--;
	C->nmaps = 0;
	if (C->overflow) {
		static const char msg[] = "uffdbox heap: an input made more than 256 mappings; "
					  "the ones past 256 stay mapped\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		C->overflow = false;
	}
	return n;
}

static void quiet(int on)
{
	if (state == ON)
		C->quiet += on ? 1 : -1;
}

static int libfuzzer(void)
{
	return __libfuzzer_is_present != NULL;
}

static const struct uffdbox__theap_ops ops = {freeze, after_restore, quiet, libfuzzer};

/* Linked with -u uffdbox__theap_anchor (CMake uffdbox::heap, pkg-config
 * uffdbox-heap): this object is then in the program even where nothing
 * else would pull it from the archive. */
EXPORT const int uffdbox__theap_anchor = 1;

__attribute__((constructor)) static void theap_register(void)
{
	uffdbox__persist_set_heap(&ops);
}
