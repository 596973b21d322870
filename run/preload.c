/* SPDX-License-Identifier: MIT */
/*
 * run/preload.c - libuffdbox-run.so, loaded into unmodified programs by
 * `uffdbox run` (LD_PRELOAD): use-after-unmap detection.
 *
 * Every mapping the program creates through the dynamic mmap/mremap symbols
 * is tracked.  When it releases one (munmap, or mremap moving/shrinking it),
 * the range is not given back: it is replaced by an empty anonymous mapping
 * registered with a userfaultfd in SIGBUS mode - the quarantine.  No later
 * mmap can reuse the addresses, it costs no memory, and any access raises
 * SIGBUS, which this library turns into a sanitizer-style report.  Where no
 * userfaultfd can be opened (a container's seccomp profile) or
 * UFFDBOX_BACKEND=signal asks for it, the placeholder is PROT_NONE instead
 * and the access a SIGSEGV (the signal mode; docs/backends.md).  The
 * quarantine is a FIFO bounded in bytes (UFFDBOX_RUN_QUARANTINE_MB, default
 * 256); past the bound the oldest ranges are really unmapped.
 *
 * The same quarantine keeps large heap blocks glibc unmapped in free() or
 * realloc() (run/heap.c: use-after-free) and libraries ld.so unmapped in
 * dlclose() (run/dl.c); run/fds.c keeps our userfaultfd out of the
 * program's close/close_range/closefrom/dup2/dup3.
 *
 * Options come from the environment (set by `uffdbox run`):
 *   UFFDBOX_RUN_QUARANTINE_MB  quarantine bound in MiB
 *   UFFDBOX_RUN_CONTINUE=1     report each distinct site once and go on
 *                              (the page reads as zeros) instead of abort()
 *   UFFDBOX_RUN_LOG=FILE       append the normalized event log at exit
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffdbox/compat.h"
#include "log.h"
#include "text.h"
#include "tids.h"
#include "report.h"
#include "internal.h"
#include "preload.h"

#define EXPORT	  __attribute__((visibility("default")))

#define LIVE_MAX  (1u << 20)
#define QUAR_MAX  (1u << 16)
#define SITES_MAX 256

struct live {
	uintptr_t start, end;
};

struct quar {
	_Atomic uintptr_t start; /* 0: free slot */
	uintptr_t end;
	uint64_t seq;	  /* event number of the unmap */
	uint64_t ordinal; /* n-th range quarantined: its "region" in the log */
	int32_t tid;
	uint32_t thread;
	uint8_t kind;  /* enum uffdbox__qkind */
	uint16_t path; /* DL: index into g.paths */
	struct uffdbox__stack stack;
};

/* What a heap entry says beyond an unmapped range's (a side array, so that
 * a program that only unmaps never touches its pages). */
struct quar_heap {
	uintptr_t ustart, uend; /* the block the program saw */
	bool has_alloc;
	uint32_t alloc_thread;
	int32_t alloc_tid;
	struct uffdbox__stack alloc;
};

#define PATHS_MAX 128

static struct {
	bool on;
	bool cont;
	bool sig;  /* the signal mode: no userfaultfd, PROT_NONE placeholders */
	int mysig; /* the signal a quarantine access raises: SIGBUS, or SIGSEGV */
	int uffd;
	size_t limit, bytes;
	pthread_mutex_t mu;
	struct live *live;
	size_t nlive;
	struct quar *q;	      /* ring of QUAR_MAX */
	struct quar_heap *qh; /* beside q, for UFFDBOX__Q_HEAP entries */
	char (*paths)[256];   /* DL: paths of unloaded libraries, deduplicated */
	uint32_t npaths;
	size_t qhead, qcount;
	uint64_t ordinal;
	_Atomic uint64_t seq;
	struct sigaction app_bus; /* the program's own disposition of mysig */
	_Atomic int32_t tid_slots[256];
	struct uffdbox__tids tids; /* logical thread ids, over tid_slots */
	uintptr_t sites[SITES_MAX];
	_Atomic uint32_t nsites;
	struct uffdbox__log log;
	char log_path[512];
} g = {.uffd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .tids = {.cap = 256, .tid = g.tid_slots}};

static UFFDBOX__TLS int in_hook;
/* The stack of the munmap/mremap call being handled, for the quarantine
 * entries it creates. */
static UFFDBOX__TLS const struct uffdbox__stack *cur_stack;
/* What the released range was, when not a plain unmap. */
static UFFDBOX__TLS const struct uffdbox__qinfo *cur_info;

/* libc's sigaction, for the signals we do not keep (ours is interposed). */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static int libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!real_sigaction)
		real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(
			RTLD_NEXT, "sigaction");
	return real_sigaction(sig, act, old);
}

/* --- raw system calls (never through our own interposers) --------------- */

/* The kernel's answer as libc gives it: MAP_FAILED with errno set.  (A raw
 * syscall() already sets errno and returns -1, which is MAP_FAILED; keeping
 * the conversion in one place keeps every caller's check right.) */
static void *map_result(long rc)
{
	return rc == -1 ? MAP_FAILED : (void *)rc;
}

static void *sys_mmap(void *a, size_t len, int prot, int flags, int fd, off_t off)
{
	return map_result(syscall(SYS_mmap, a, len, prot, flags, fd, off));
}

static int sys_munmap(void *a, size_t len)
{
	return (int)syscall(SYS_munmap, a, len);
}

static void *sys_mremap(void *a, size_t old, size_t len, int flags, void *to)
{
	return map_result(syscall(SYS_mremap, a, old, len, flags, to));
}

static int32_t gettid_raw(void)
{
	return (int32_t)syscall(SYS_gettid);
}

static uint32_t thread_id(int32_t tid)
{
	return uffdbox__tid_logical(&g.tids, tid);
}

/* --- the uffd --------------------------------------------------------------- */

static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_SIGBUS};
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = -errno;
		syscall(SYS_close, fd);
		return err;
	}
	return fd;
}

static int uffd_register(uintptr_t start, uintptr_t end)
{
	struct uffdio_register r = {.range = {.start = start, .len = end - start},
				    .mode = UFFDIO_REGISTER_MODE_MISSING};
	return ioctl(g.uffd, UFFDIO_REGISTER, &r) < 0 ? -errno : 0;
}

/* [start, end), an empty placeholder, made to trap every access: registered
 * with the userfaultfd, or PROT_NONE in the signal mode. */
static int arm(uintptr_t start, uintptr_t end)
{
	if (g.sig)
		return syscall(SYS_mprotect, start, end - start, PROT_NONE) < 0 ? -errno : 0;
	return uffd_register(start, end);
}

/* Undo arm() before the range is unmapped (PROT_NONE needs nothing). */
static void disarm(uintptr_t start, uintptr_t end)
{
	if (g.sig)
		return;
	struct uffdio_range r = {.start = start, .len = end - start};
	ioctl(g.uffd, UFFDIO_UNREGISTER, &r);
}

/* --- live mappings: a sorted array of disjoint ranges ---------------------- */

static size_t live_lower(uintptr_t addr)
{
	size_t lo = 0, hi = g.nlive;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g.live[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo; /* first range ending after addr */
}

/* Remove [s, e) from the live set; for each piece that was live, call @fn. */
static void live_cut(uintptr_t s, uintptr_t e, void (*fn)(uintptr_t, uintptr_t))
{
	size_t i = live_lower(s);
	while (i < g.nlive && g.live[i].start < e) {
		struct live cur = g.live[i];
		uintptr_t a = cur.start > s ? cur.start : s, b = cur.end < e ? cur.end : e;
		if (fn)
			fn(a, b);
		if (cur.start < a && cur.end > b) {
			/* split in two */
			if (g.nlive == LIVE_MAX)
				return;
			memmove(&g.live[i + 2], &g.live[i + 1],
				(g.nlive - i - 1) * sizeof(g.live[0]));
			g.live[i].end = a;
			g.live[i + 1] = (struct live){b, cur.end};
			g.nlive++;
			return;
		}
		if (cur.start < a) {
			g.live[i].end = a;
			i++;
		} else if (cur.end > b) {
			g.live[i].start = b;
			i++;
		} else {
			memmove(&g.live[i], &g.live[i + 1], (g.nlive - i - 1) * sizeof(g.live[0]));
			g.nlive--;
		}
	}
}

static void live_add(uintptr_t s, uintptr_t e)
{
	live_cut(s, e, NULL);
	if (g.nlive == LIVE_MAX)
		return; /* untracked: released for real, never reported */
	size_t i = live_lower(s);
	memmove(&g.live[i + 1], &g.live[i], (g.nlive - i) * sizeof(g.live[0]));
	g.live[i] = (struct live){s, e};
	g.nlive++;
}

/* --- the quarantine -------------------------------------------------------- */

static void log_event(uint8_t kind, int region, uint64_t page, uint32_t offset, uint64_t len,
		      uint8_t access, uint32_t thread, uint8_t res)
{
	if (!g.log_path[0])
		return;
	struct uffdbox_record r =
		uffdbox__record(kind, region, page, offset, len, access, thread, res, 0);
	uffdbox__log_append(&g.log, &r);
}

static void evict_oldest(void)
{
	struct quar *q = &g.q[g.qhead];
	uintptr_t s = atomic_load(&q->start);
	g.qhead = (g.qhead + 1) % QUAR_MAX;
	g.qcount--;
	if (!s)
		return; /* dropped earlier (mapped over by the program) */
	atomic_store(&q->start, 0);
	disarm(s, q->end);
	sys_munmap((void *)s, q->end - s);
	g.bytes -= q->end - s;
}

static uint16_t path_index(const char *path)
{
	uint32_t i;
	for (i = 0; i < g.npaths; i++)
		if (!strcmp(g.paths[i], path))
			return (uint16_t)i;
	if (i == PATHS_MAX)
		return PATHS_MAX; /* "a library" */
	snprintf(g.paths[i], sizeof(g.paths[i]), "%s", path);
	g.npaths++;
	return (uint16_t)i;
}

/* [s, e) holds our empty placeholder: register it and enter it in the
 * FIFO, described by cur_stack and cur_info. */
static void quarantine_placed(uintptr_t s, uintptr_t e)
{
	if (arm(s, e) < 0) {
		sys_munmap((void *)s, e - s);
		return;
	}
	while (g.qcount && (g.qcount == QUAR_MAX || g.bytes + (e - s) > g.limit))
		evict_oldest();
	if (e - s > g.limit) {
		disarm(s, e);
		sys_munmap((void *)s, e - s);
		return;
	}
	struct quar *q = &g.q[(g.qhead + g.qcount) % QUAR_MAX];
	int32_t tid = gettid_raw();
	q->end = e;
	q->seq = atomic_fetch_add(&g.seq, 1);
	q->ordinal = g.ordinal++;
	q->tid = tid;
	q->thread = thread_id(tid);
	if (cur_stack)
		q->stack = *cur_stack;
	else
		q->stack.n = 0;
	const struct uffdbox__qinfo *qi = cur_info;
	q->kind = qi ? (uint8_t)qi->kind : UFFDBOX__Q_UNMAP;
	if (qi && qi->kind == UFFDBOX__Q_HEAP) {
		struct quar_heap *h = &g.qh[q - g.q];
		h->ustart = qi->ustart;
		h->uend = qi->uend;
		h->has_alloc = qi->alloc != NULL;
		if (qi->alloc)
			h->alloc = *qi->alloc;
		h->alloc_thread = qi->alloc_thread;
		h->alloc_tid = qi->alloc_tid;
	} else if (qi && qi->kind == UFFDBOX__Q_DL) {
		q->path = path_index(qi->path ? qi->path : "?");
	}
	atomic_store(&q->start, s);
	g.qcount++;
	g.bytes += e - s;
	log_event(UFFDBOX_EV_UNMAP, (int)q->ordinal, 0, 0, e - s, UFFDBOX_ACCESS_NONE, q->thread,
		  UFFDBOX_RES_NONE);
}

/* The program released [s, e), which it had mapped: keep it reserved. */
static void quarantine(uintptr_t s, uintptr_t e)
{
	/* An empty private anonymous mapping in place of the old one, then
	 * registered: reads and writes fault into us, and nothing else can be
	 * mapped there meanwhile. */
	void *p = sys_mmap((void *)s, e - s, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		sys_munmap((void *)s, e - s);
		return;
	}
	quarantine_placed(s, e);
}

/* The program maps over [s, e) with MAP_FIXED: quarantined parts are its
 * again (the kernel replaced our placeholder); forget them. */
static void quarantine_forget(uintptr_t s, uintptr_t e)
{
	for (size_t k = 0; k < g.qcount; k++) {
		struct quar *q = &g.q[(g.qhead + k) % QUAR_MAX];
		uintptr_t qs = atomic_load(&q->start);
		if (!qs || qs >= e || q->end <= s)
			continue;
		if (qs < s || q->end > e) {
			/* Partly covered: unregister and release the rest now;
			 * rare enough not to track fragments. */
			uintptr_t parts[2][2] = {{qs, s}, {e, q->end}};
			for (int j = 0; j < 2; j++) {
				if (parts[j][0] >= parts[j][1])
					continue;
				disarm(parts[j][0], parts[j][1]);
				sys_munmap((void *)parts[j][0], parts[j][1] - parts[j][0]);
			}
		}
		atomic_store(&q->start, 0);
		g.bytes -= q->end - qs;
	}
}

static struct quar *quarantine_find(uintptr_t addr)
{
	for (size_t k = 0; k < g.qcount; k++) {
		struct quar *q = &g.q[(g.qhead + k) % QUAR_MAX];
		uintptr_t qs = atomic_load(&q->start);
		if (qs && addr >= qs && addr < q->end)
			return q;
	}
	return NULL;
}

/* --- the report ------------------------------------------------------------ */

/* In the log a quarantined range is a region: the n-th range unmapped. */
static const char *range_name(const void *arg, int region)
{
	(void)arg;
	(void)region;
	return "unmapped";
}

static void write_log(void)
{
	if (!g.log_path[0])
		return;
	int fd = open(g.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "a");
	if (!f) {
		close(fd);
		return;
	}
	uffdbox__log_write_jsonl(&g.log, f, range_name, NULL);
	fclose(f);
}

static bool site_seen(uintptr_t pc)
{
	uint32_t n = atomic_load(&g.nsites);
	for (uint32_t i = 0; i < n && i < SITES_MAX; i++)
		if (g.sites[i] == pc)
			return true;
	if (n < SITES_MAX) {
		g.sites[n] = pc;
		atomic_store(&g.nsites, n + 1);
	}
	return false;
}

/* An instruction fetch (x86-64 page-fault error code, bit 4). */
static bool fault_exec(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uc->uc_mcontext.gregs[REG_ERR] & 16) != 0;
#else
	(void)uc;
	return false;
#endif
}

/* A call through a stale pointer faults on its first instruction, where no
 * unwind information exists any more: frame 0 is the address, and the
 * caller is unwound from the return address the call pushed. */
static void exec_stack(struct uffdbox__stack *st, ucontext_t *uc)
{
#if defined(__x86_64__)
	ucontext_t c = *uc;
	greg_t *r = c.uc_mcontext.gregs;
	uintptr_t ip = (uintptr_t)r[REG_RIP];
	r[REG_RIP] = (greg_t) * (const uintptr_t *)r[REG_RSP];
	r[REG_RSP] += 8;
	uffdbox__stack_from_signal(st, &c);
	if (st->n == UFFDBOX_STACK_MAX)
		st->n--;
	memmove(st->pc + 1, st->pc, st->n * sizeof(st->pc[0]));
	st->pc[0] = ip;
	st->n++;
#else
	uffdbox__stack_from_signal(st, uc);
#endif
}

static void report(struct quar *q, uintptr_t addr, ucontext_t *uc)
{
	struct uffdbox__stack st;
	bool wr = uffdbox__fault_write(uc), ex = fault_exec(uc);
	int32_t tid = gettid_raw();
	uint32_t thread = thread_id(tid);
	char what[300];

	if (ex)
		exec_stack(&st, uc);
	else
		uffdbox__stack_from_signal(&st, uc);
	/* A stale call is one site per caller, not per callee address. */
	if (g.cont && st.n && site_seen(st.pc[ex && st.n > 1 ? 1 : 0]))
		return;
	struct uffdbox__uau r = {
		.write = wr,
		.addr = addr,
		.thread = thread,
		.tid = tid,
		.access = &st,
		.what = "the unmapped range",
		.start = atomic_load(&q->start),
		.end = q->end,
		.unmap_seq = q->seq,
		.unmap_thread = q->thread,
		.unmap_tid = q->tid,
		.unmap = &q->stack,
		.aborting = !g.cont,
		.exec = ex,
	};
	if (q->kind == UFFDBOX__Q_HEAP) {
		struct quar_heap *h = &g.qh[q - g.q];
		r.bug = "use-after-free";
		r.released = "freed";
		r.what = "the freed block";
		r.start = h->ustart;
		r.end = h->uend;
		r.alloc = h->has_alloc ? &h->alloc : NULL;
		r.alloc_thread = h->alloc_thread;
		r.alloc_tid = h->alloc_tid;
	} else if (q->kind == UFFDBOX__Q_DL) {
		snprintf(what, sizeof(what), "the unloaded library %s, its range",
			 q->path < g.npaths ? g.paths[q->path] : "(name not kept)");
		r.what = what;
		r.released = "unloaded by dlclose";
	}
	uffdbox__uau_report(2, &r);
	uintptr_t qs = atomic_load(&q->start);
	log_event(UFFDBOX_EV_UAU, (int)q->ordinal, (addr - qs) / 4096, (uint32_t)(addr % 4096),
		  4096, wr && !ex ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ, thread,
		  g.cont ? UFFDBOX_RES_ZERO : UFFDBOX_RES_ABORT);
}

/*
 * Not a quarantine hit: the program's own disposition.  Its default is
 * restored with libc's sigaction - uffdbox__chain_signal's sigaction would
 * be our interposer, which keeps this handler and only records the wish:
 * the fault would come back for ever (a plain NULL dereference hung in the
 * signal mode).  A fault then recurs and kills; a sent signal is sent again.
 */
static void chain(int sig, siginfo_t *si, void *ucv)
{
	const struct sigaction *app = &g.app_bus;
	if ((app->sa_flags & SA_SIGINFO) || app->sa_handler != SIG_DFL) {
		uffdbox__chain_signal(app, sig, si, ucv);
		return;
	}
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	libc_sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		syscall(SYS_tgkill, getpid(), gettid_raw(), sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct quar *q = si->si_code > 0 ? quarantine_find(addr) : NULL;

	if (!q) {
		chain(sig, si, ucv);
		errno = saved;
		return;
	}
	report(q, addr, ucv);
	if (!g.cont) {
		write_log();
		abort();
	}
	/* Continue: this page reads as zeros from now on; a stale call into
	 * an unloaded library returns at once (a page of `ret`). */
	static char zeros[4096], rets[4096];
	if (fault_exec(ucv) && !rets[0])
		memset(rets, 0xc3, sizeof(rets));
	if (g.sig) {
		/* The placeholder is a fresh anonymous page: zeros already. */
		uintptr_t pg = addr & ~(uintptr_t)4095;
		syscall(SYS_mprotect, pg, 4096, PROT_READ | PROT_WRITE);
		if (fault_exec(ucv)) {
			memcpy((void *)pg, rets, sizeof(rets));
			syscall(SYS_mprotect, pg, 4096, PROT_READ | PROT_EXEC);
		}
		errno = saved;
		return;
	}
	struct uffdio_copy c = {.dst = addr & ~(uintptr_t)4095,
				.src = (uintptr_t)(fault_exec(ucv) ? rets : zeros),
				.len = 4096,
				.mode = UFFDIO_COPY_MODE_DONTWAKE};
	ioctl(g.uffd, UFFDIO_COPY, &c);
	errno = saved;
}

/* The program's stack at an interposer: drop the frames of this library
 * (how many there are depends on the compiler's inlining). */
static void caller_stack(struct uffdbox__stack *st)
{
	static uintptr_t self_lo, self_hi;
	if (!self_hi) {
		Dl_info info;
		if (dladdr((void *)caller_stack, &info) && info.dli_fbase) {
			self_lo = (uintptr_t)info.dli_fbase;
			self_hi = (uintptr_t)&self_hi; /* .bss: past our text */
		}
	}
	uffdbox__stack_here(st, 0);
	uint32_t k = 0;
	while (k < st->n && st->pc[k] >= self_lo && st->pc[k] < self_hi)
		k++;
	memmove(st->pc, st->pc + k, (st->n - k) * sizeof(st->pc[0]));
	st->n -= k;
}

bool uffdbox__run_active(void)
{
	return g.on && !in_hook;
}

void uffdbox__run_enter(void)
{
	in_hook++;
}

void uffdbox__run_leave(void)
{
	in_hook--;
}

uint32_t uffdbox__run_thread(int32_t *tid)
{
	*tid = gettid_raw();
	return thread_id(*tid);
}

void uffdbox__run_caller_stack(struct uffdbox__stack *st)
{
	caller_stack(st);
}

int uffdbox__run_reserve(uintptr_t s, uintptr_t e, const struct uffdbox__qinfo *qi)
{
	/* Readable, writable and executable, so that every kind of access -
	 * a call through a stale function pointer too - is a missing-page
	 * fault the userfaultfd turns into SIGBUS (without PROT_EXEC an
	 * instruction fetch would be a plain SIGSEGV). */
	int prot = PROT_READ | PROT_WRITE | (qi->kind == UFFDBOX__Q_DL ? PROT_EXEC : 0);
	void *p =
		sys_mmap((void *)s, e - s, prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != (void *)s) { /* a kernel before 4.17 ignores the flag */
		sys_munmap(p, e - s);
		return -EEXIST;
	}
	in_hook++;
	cur_stack = qi->release;
	cur_info = qi;
	pthread_mutex_lock(&g.mu);
	live_cut(s, e, NULL);
	quarantine_placed(s, e);
	pthread_mutex_unlock(&g.mu);
	cur_info = NULL;
	cur_stack = NULL;
	in_hook--;
	return 0;
}

/* [s, e) was freed by mremap: drop it from the live table and, if it was
 * ours, quarantine it when the placeholder can take it (nobody mapped
 * anything there in between: the placeholder must not replace anything). */
static void quarantine_freed(uintptr_t s, uintptr_t e, bool tracked)
{
	live_cut(s, e, NULL);
	if (!tracked)
		return;
	void *q = sys_mmap((void *)s, e - s, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == (void *)s)
		quarantine(s, e);
}

/* --- interposers ------------------------------------------------------------- */

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = sys_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED || !g.on || in_hook)
		return p;
	in_hook++;
	pthread_mutex_lock(&g.mu);
	uintptr_t s = (uintptr_t)p, e = s + ((len + 4095) & ~(size_t)4095);
	if (flags & MAP_FIXED)
		quarantine_forget(s, e);
	live_add(s, e);
	pthread_mutex_unlock(&g.mu);
	in_hook--;
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr, e = s + ((len + 4095) & ~(size_t)4095);

	if (!g.on || in_hook || (s & 4095) || !len) {
		return sys_munmap(addr, len); /* -1 with errno set, as libc */
	}
	struct uffdbox__stack st;
	caller_stack(&st);
	in_hook++;
	cur_stack = &st;
	pthread_mutex_lock(&g.mu);
	/* Untracked parts go for real; tracked parts into quarantine. */
	uintptr_t cur = s;
	for (size_t i = live_lower(s); i < g.nlive && g.live[i].start < e; i++) {
		if (g.live[i].start > cur)
			sys_munmap((void *)cur, g.live[i].start - cur);
		cur = g.live[i].end;
	}
	if (cur < e)
		sys_munmap((void *)cur, e - cur);
	live_cut(s, e, quarantine);
	pthread_mutex_unlock(&g.mu);
	cur_stack = NULL;
	in_hook--;
	return 0;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *to = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		to = va_arg(ap, void *);
		va_end(ap);
	}
	/* The stack first: unwinding may map memory, which must not land in
	 * the range the kernel is about to free. */
	struct uffdbox__stack st = {0};
	if (g.on && !in_hook)
		caller_stack(&st);
	void *p = sys_mremap(old, old_len, new_len, flags, to);
	if (p == MAP_FAILED || !g.on || in_hook)
		return p;
	in_hook++;
	cur_stack = &st;
	pthread_mutex_lock(&g.mu);
	uintptr_t os = (uintptr_t)old, oe = os + ((old_len + 4095) & ~(size_t)4095);
	uintptr_t ns = (uintptr_t)p, ne = ns + ((new_len + 4095) & ~(size_t)4095);
	bool tracked = live_lower(os) < g.nlive && g.live[live_lower(os)].start <= os;
	/* Moved: the old range is gone; shrunk in place: its tail is. */
	if (ns != os)
		quarantine_freed(os, oe, tracked);
	else if (ne < oe)
		quarantine_freed(ne, oe, tracked);
	if (flags & MREMAP_FIXED)
		quarantine_forget(ns, ne);
	live_cut(ns, ne, NULL);
	live_add(ns, ne);
	pthread_mutex_unlock(&g.mu);
	cur_stack = NULL;
	in_hook--;
	return p;
}

/* SIGBUS (SIGSEGV in the signal mode) stays ours; the program's handler is
 * called for what is not. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (g.on && sig == g.mysig) {
		if (old)
			*old = g.app_bus;
		if (act)
			g.app_bus = *act;
		return 0;
	}
	return libc_sigaction(sig, act, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	struct sigaction act = {.sa_handler = h, .sa_flags = SA_RESTART}, old;
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* --- lifecycle --------------------------------------------------------------- */

static void reopen_in_child(void)
{
	/* The child's copy of every quarantined range lost its registration
	 * at fork (no EVENT_FORK): register them again with a uffd of its own. */
	pthread_mutex_unlock(&g.mu);
	if (!g.on || g.sig) /* (PROT_NONE is inherited) */
		return;
	syscall(SYS_close, g.uffd);
	g.uffd = open_uffd();
	if (g.uffd < 0) {
		g.on = false;
		return;
	}
	uffdbox__fd_own(&g.uffd);
	for (size_t k = 0; k < g.qcount; k++) {
		struct quar *q = &g.q[(g.qhead + k) % QUAR_MAX];
		uintptr_t qs = atomic_load(&q->start);
		if (qs)
			uffd_register(qs, q->end);
	}
}

static void lock_for_fork(void)
{
	pthread_mutex_lock(&g.mu);
}

static void unlock_after_fork(void)
{
	pthread_mutex_unlock(&g.mu);
}

__attribute__((constructor)) static void init(void)
{
	const char *mb = getenv("UFFDBOX_RUN_QUARANTINE_MB"), *lp = getenv("UFFDBOX_RUN_LOG");
	uint64_t qmb = 256;
	if (mb && (uffdbox__parse_u64(mb, 10, &qmb) < 0 || qmb == 0 || qmb > (1u << 20))) {
		uffdbox__say(
			2,
			"uffdbox: UFFDBOX_RUN_QUARANTINE_MB=\"%.32s\" is not a whole number of MiB "
			"from 1 to 1048576: using 256\n",
			mb);
		qmb = 256;
	}
	g.limit = (size_t)qmb << 20;
	g.cont = getenv("UFFDBOX_RUN_CONTINUE") && getenv("UFFDBOX_RUN_CONTINUE")[0] == '1';
	if (lp)
		snprintf(g.log_path, sizeof(g.log_path), "%s", lp);
	/* UFFDBOX_BACKEND as for the library (docs/backends.md): uffd, signal,
	 * or either (the userfaultfd when it opens). */
	const char *be = getenv("UFFDBOX_BACKEND");
	bool want_sig = be && !strcmp(be, "signal"), want_uffd = be && !strcmp(be, "uffd");
	g.uffd = want_sig ? -EPERM : open_uffd();
	if (g.uffd < 0 && want_uffd) {
		uffdbox__say(
			2,
			"uffdbox: userfaultfd unavailable (%s): use-after-unmap detection is off\n",
			strerror(-g.uffd));
		return;
	}
	g.sig = g.uffd < 0;
	g.mysig = g.sig ? SIGSEGV : SIGBUS;
	g.live = sys_mmap(NULL, LIVE_MAX * sizeof(*g.live), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.q = sys_mmap(NULL, QUAR_MAX * sizeof(*g.q), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.qh = sys_mmap(NULL, QUAR_MAX * sizeof(*g.qh), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.paths = sys_mmap(NULL, PATHS_MAX * sizeof(*g.paths), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g.live == MAP_FAILED || g.q == MAP_FAILED || g.qh == MAP_FAILED ||
	    g.paths == MAP_FAILED ||
	    (g.log_path[0] && uffdbox__log_init(&g.log, 1u << 16, false) < 0)) {
		uffdbox__say(
			2,
			"uffdbox: cannot allocate its tables: use-after-unmap detection is off\n");
		return;
	}
	/* Our handler goes first; what the program had is chained. */
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigemptyset(&sa.sa_mask);
	libc_sigaction(g.mysig, &sa, &g.app_bus);
	pthread_atfork(lock_for_fork, unlock_after_fork, reopen_in_child);
	if (!g.sig)
		uffdbox__fd_own(&g.uffd);
	g.on = true;
	uffdbox__heap_init(true);
}

__attribute__((destructor)) static void fini(void)
{
	write_log();
}
