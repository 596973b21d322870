/* SPDX-License-Identifier: MIT */
/*
 * harness/persist.c - whole-target reset (see uffdbox/persist.h and
 * docs/persist.md).
 *
 * The process's writable private mappings are handed to uffdbox_snapshot
 * objects (64 ranges each), so a restore copies back only the pages written
 * since.  Everything this file needs after take() lives in one mapping of
 * its own (struct persist) and in the snapshots' own mappings: the heap and
 * .bss are restored under us, so no state that changes after take() may
 * live there.  The one pointer in .bss (P) is set before take() and never
 * changes after.
 *
 * A restore, in order: refuse if a thread the input started still runs;
 * save the kept bytes of partial pages; put brk back (raw syscall: glibc's
 * cached break is in libc's .data and comes back with it); unmap what the
 * input mapped; bring back what it unmapped and what it re-protected; copy
 * the written pages back (or, when memory had to be brought back, every
 * page, and snapshot again for tracking); put the kept bytes back; close
 * the descriptors the input opened.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffdbox/compat.h"
#include "uffdbox/persist.h"
#include "uffdbox/snapshot.h"
#include "internal.h"
#include "report.h"
#include "text.h"
#include "theap.h"

#define PAGE	     4096UL
#define MAXMAP	     2048 /* mappings recorded */
#define MAXSNAP	     32	  /* snapshot objects, 64 ranges each */
#define PER_SNAP     64
#define MAXKEEP	     256
#define MAXFDRUN     64
#define MAPSBUF	     (1u << 20)
#define KEEPBUF	     (64 * PAGE) /* saved bytes of partial kept pages */
#define HUGE_RANGE   (64ULL << 30)
#define LAYOUT_EVERY 64 /* restores between two full reads of the layout */
#define PRESCAN_VEC  128
#define MAXRUNS	     1024 /* written runs a restore takes from the scan of all */
/*
 * Restores a page left unprotected (hot) must come back unchanged before it
 * is write-protected again (the snapshot's default is 4).  A target's
 * executions write a small set of pages again and again, a few at a time:
 * with 4, sqlite3 replaying 8,895 AFL++ queue inputs re-protected 3.9
 * pages per restore (0.8 ioctls) and took as many write faults in the next
 * input; with 64, 0.3 pages (0.07 ioctls) for 17 more page compares
 * (~0.1 us each): the replay took 8 % less time (median of 11 pairs).
 */
#define KEEP_RESTORES 64

struct pmap {
	uintptr_t start, end;
	char perms[5];
	bool snap; /* its contents are snapshotted */
	bool file; /* file-backed (its path starts with '/'; name may be cut) */
	char name[64];
};

struct span {
	uintptr_t start, end;
};

struct persist {
	bool taken;
	/* libFuzzer: only the target's memory - its heap (theap.c's arena)
	 * and the globals of objects not the engine's or the C runtime's */
	bool scoped;
	bool exe_libfuzzer;	   /* the program's symbol table has libFuzzer's marker */
	struct span wseg[MAXKEEP]; /* scoped: the target objects' writable segments */
	int nwseg;
	int threads0; /* other threads at take() (libFuzzer's RSS thread) */
	long tids0[8];
	int ntids0;
	struct uffdbox_persist_opts o;
	enum uffdbox_snapshot_mode mode;
	struct uffdbox_snapshot *snaps[MAXSNAP];
	int nsnap;
	struct span snap[MAXSNAP * PER_SNAP]; /* ranges snapshotted */
	bool file[MAXSNAP * PER_SNAP];	      /* file-backed or TLS: COPY in WP_SYNC */
	int nspan;
	struct span keep[MAXKEEP]; /* byte ranges exempt */
	int nkeep;
	struct span part[2 * MAXKEEP]; /* kept bytes inside snapshotted pages */
	int npart;
	bool part_saved[2 * MAXKEEP]; /* saved by this restore (keep_save) */
	struct pmap layout[MAXMAP];   /* every mapping at take() */
	int nlayout;
	struct pmap cur[MAXMAP]; /* scratch: the mappings now */
	int ncur;
	uintptr_t brk0;
	struct span fdrun[MAXFDRUN]; /* closed descriptor numbers at take() */
	int nfdrun;
	/* The fast check that no descriptor came or went (see fds_as_taken):
	 * /proc/self/fd held open, its size (the count of open descriptors,
	 * Linux 6.2+; 0 before: no fast check) and the descriptors at take(). */
	int fdsfd;
	unsigned char open_fd[4096 / 8]; /* record_fds()'s scratch */
	int64_t nfd0;
	/* Scoped (libFuzzer): the engine opens descriptors between inputs
	 * (its symbolizer's pipe), so only those an input opened are closed:
	 * the open ones when an input starts and when it ends (theap.c calls
	 * uffdbox__persist_input_ended()), bitmaps below 4096 */
	unsigned char fd_start[4096 / 8], fd_end[4096 / 8];
	int64_t n_start;
	bool end_differs;
	int fd0[MAXFDRUN];
	struct pollfd pfd[MAXFDRUN];
	int nfd0_listed;
	int taskfd;
	int statmfd;	     /* /proc/self/statm: the process's size, cheaply */
	uint64_t vmsize0;    /* its first field at take() */
	unsigned int unseen; /* restores since the layout was last read */
	int pagemap;	     /* /proc/self/pagemap, for the one scan of all */
	uintptr_t lo, hi;    /* the span every snapshotted range is in */
	uint64_t want[MAXSNAP];
	struct page_region vec[PRESCAN_VEC];
	/* Every snapshotted range in address order, with the written runs
	 * the scan of all found in it: restored from those, without a scan
	 * of its own (have_runs: the runs are complete). */
	struct rrange {
		uintptr_t start, end;
		int snap, j;  /* snapshot object, range in it */
		int first, n; /* its runs in runs[] */
		bool check;   /* replaced() looks at it */
		char *shadow; /* its snapshot's copy */
	} rr[MAXSNAP * PER_SNAP];
	int nrr;
	/* What replaced() scans: the checked ranges, merged where nothing
	 * but snapshotted memory (or no mapping) lies between two */
	struct span chk[MAXSNAP * PER_SNAP];
	int nchk;
	struct page_region runs[MAXRUNS];
	bool have_runs;
	struct uffdbox_persist_stats st;
	unsigned int since_verify;
	char keepbuf[KEEPBUF];
	char mapsbuf[MAPSBUF];
};

static struct persist *P;			  /* set once, before take(); never changes after */
static const struct uffdbox__theap_ops *heap_ops; /* uffdbox_heap, if linked */

void uffdbox__persist_set_heap(const struct uffdbox__theap_ops *ops)
{
	heap_ops = ops;
}

static int get_state(void)
{
	if (P)
		return 0;
	void *p = uffdbox__map_aside(sizeof(*P)); /* out of the span scanned */
	if (!p)
		return -ENOMEM;
	P = p;
	P->taskfd = -1;
	P->statmfd = -1;
	P->fdsfd = -1;
	P->pagemap = -1;
	return 0;
}

/* --- /proc/self/maps ----------------------------------------------------- */

/* Read every mapping into @out (sorted, as the kernel lists them); the
 * number, or -errno.  No malloc, no stdio. */
static int read_maps(struct pmap *out, int max)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, P->mapsbuf + got, MAPSBUF - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == MAPSBUF - 1) {
			close(fd);
			return -E2BIG;
		}
	}
	close(fd);
	P->mapsbuf[got] = 0;
	int n = 0;
	for (char *l = P->mapsbuf; *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = 0;
		struct uffdbox__maps_line m;
		if (uffdbox__parse_maps_line(l, &m)) {
			if (n == max)
				return -E2BIG;
			struct pmap *e = &out[n++];
			e->start = m.start;
			e->end = m.end;
			memcpy(e->perms, m.perms, sizeof(e->perms));
			e->snap = false;
			e->file = m.path[0] == '/';
			const char *nm = m.path;
			size_t len = strlen(nm);
			if (len >= sizeof(e->name)) /* keep the file name's end */
				nm += len - (sizeof(e->name) - 1);
			memcpy(e->name, nm, strlen(nm) + 1);
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return n;
}

static bool special(const struct pmap *m)
{
	return m->name[0] == '[' && strcmp(m->name, "[heap]") != 0;
}

static bool is_stack(const struct pmap *m)
{
	return strncmp(m->name, "[stack", 6) == 0;
}

/* --- what to keep -------------------------------------------------------- */

int uffdbox_persist_keep(const void *addr, size_t len)
{
	int rc = get_state();
	if (rc < 0)
		return rc;
	if (!len || P->taken)
		return -EINVAL;
	if (P->nkeep == MAXKEEP)
		return -ENOSPC;
	P->keep[P->nkeep++] = (struct span){(uintptr_t)addr, (uintptr_t)addr + len};
	return 0;
}

static bool keep_prefix(const char *name)
{
	/* AFL++'s runtime; libFuzzer's and the sanitizer_common, interception,
	 * UBSan and sancov parts its runtime carries */
	static const char *const prefixes[] = {"__afl_",
					       "is_persistent",
					       "afl_",
					       "__sancov_",
					       "_ZN6fuzzer",
					       "_ZZN6fuzzer",
					       "_ZGVZN6fuzzer",
					       "_ZN11__sanitizer",
					       "_ZZN11__sanitizer",
					       "_ZN14__interception",
					       "_ZN7__ubsan",
					       "_ZN8__sancov",
					       "_ZZ31__sanitizer",
					       "_ZTVN6fuzzer"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

struct dsym {
	uintptr_t a, b;
	bool engine;
};

static int dsym_cmp(const void *x, const void *y)
{
	const struct dsym *p = x, *q = y;
	return p->a < q->a ? -1 : p->a > q->a;
}

/* A source file of libFuzzer's runtime (FuzzerLoop.cpp ...) or of the
 * sanitizer parts it carries: its static variables are the engine's. */
/* Does @path's last component start with one of @prefixes (NULL-ended)? */
static bool base_has_prefix(const char *path, const char *const *prefixes)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	for (; *prefixes; prefixes++)
		if (strncmp(b, *prefixes, strlen(*prefixes)) == 0)
			return true;
	return false;
}

static bool engine_source(const char *file)
{
	static const char *const prefixes[] = {"Fuzzer",	"sanitizer_", "ubsan_",
					       "interception_", "sancov_",    NULL};
	return base_has_prefix(file, prefixes);
}

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uintptr_t *)arg = info->dlpi_addr;
	return 1; /* the program itself comes first */
}

/*
 * Keep the engine's runtime state found in the program's symbol table: AFL++'s
 * runtime (afl-compiler-rt: `__afl_*`, `is_persistent`, and the statics of
 * __afl_persistent_loop, which count the loop's iterations) and the
 * sanitizer-coverage tables.  A stripped program keeps nothing this way
 * (said with verbose).  Returns the symbols kept.
 */
static int keep_engine_symbols(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int kept = 0;
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(Elf64_Ehdr)) {
		close(fd);
		return 0;
	}
	const char *f = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return 0;
	const Elf64_Ehdr *eh = (const void *)f;
	uintptr_t bias = 0;
	dl_iterate_phdr(first_object, &bias);
	size_t fsz = (size_t)sb.st_size;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > fsz)
		goto out;
	const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);
	/* sanitizer-coverage sections (inline counters, PC guards, PC tables):
	 * the engine's, written by instrumented code anywhere */
	if (eh->e_shstrndx < eh->e_shnum &&
	    sh[eh->e_shstrndx].sh_offset + sh[eh->e_shstrndx].sh_size <= fsz) {
		const Elf64_Shdr *names = &sh[eh->e_shstrndx];
		for (int i = 0; i < eh->e_shnum; i++) {
			if (sh[i].sh_name >= names->sh_size || !sh[i].sh_size || !sh[i].sh_addr ||
			    !(sh[i].sh_flags & SHF_WRITE))
				continue;
			const char *nm = f + names->sh_offset + sh[i].sh_name;
			if (strncmp(nm, "__sancov_", 9) == 0 &&
			    uffdbox_persist_keep((void *)(bias + sh[i].sh_addr), sh[i].sh_size) ==
				    0)
				kept++;
		}
	}
	/* every data object, the engine's marked; then runs of the engine's
	 * with none of the target's between are kept as one range (libFuzzer
	 * brings hundreds: one keep each would not fit) */
	struct dsym *ds = (struct dsym *)P->mapsbuf;
	size_t nds = 0, maxds = MAPSBUF / sizeof(struct dsym);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *strs = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > fsz || strs->sh_offset + strs->sh_size > fsz)
			continue;
		const Elf64_Sym *sym = (const void *)(f + sh[i].sh_offset);
		size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
		bool engine_file = false; /* the local symbols of an engine's file */
		for (size_t k = 0; k < nsym && nds < maxds; k++) {
			unsigned int type = ELF64_ST_TYPE(sym[k].st_info);
			if (type == STT_FILE && sym[k].st_name < strs->sh_size) {
				engine_file = engine_source(f + strs->sh_offset + sym[k].st_name);
				continue;
			}
			if (ELF64_ST_BIND(sym[k].st_info) != STB_LOCAL)
				engine_file = false; /* globals come after every local */
			/* (hidden in the program: a shared libuffdbox cannot see
			 * it through its weak reference) */
			if (type == STT_FUNC && sym[k].st_name < strs->sh_size &&
			    strcmp(f + strs->sh_offset + sym[k].st_name,
				   "__libfuzzer_is_present") == 0)
				P->exe_libfuzzer = true;
			if (type != STT_OBJECT || !sym[k].st_size || sym[k].st_shndx == SHN_UNDEF ||
			    sym[k].st_shndx >= eh->e_shnum || sym[k].st_name >= strs->sh_size ||
			    !(sh[sym[k].st_shndx].sh_flags & SHF_WRITE))
				continue;
			const char *name = f + strs->sh_offset + sym[k].st_name;
			ds[nds++] = (struct dsym){
				.a = bias + sym[k].st_value,
				.b = bias + sym[k].st_value + sym[k].st_size,
				.engine = engine_file || keep_prefix(name) ||
					  strstr(name, "__afl_persistent_loop."),
			};
		}
	}
	qsort(ds, nds, sizeof(*ds), dsym_cmp);
	for (size_t k = 0; k < nds;) {
		if (!ds[k].engine) {
			k++;
			continue;
		}
		uintptr_t a = ds[k].a, b = ds[k].b;
		while (++k < nds && (ds[k].engine || ds[k].a >= ds[k].b))
			b = ds[k].b > b ? ds[k].b : b;
		if (uffdbox_persist_keep((void *)a, b - a) == 0)
			kept++;
	}
out:
	munmap((void *)f, fsz);
	return kept;
}

/* --- descriptors and threads ------------------------------------------------ */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Record the descriptor numbers closed now, as runs, for close_range(). */
static int record_fds(void)
{
	static const unsigned int none = ~0u;
	/* kept open for fds_as_taken(), and so one of the descriptors taken
	 * (a rebuild records them again: its old one goes first) */
	if (P->fdsfd >= 0)
		close(P->fdsfd);
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	P->fdsfd = dfd;
	P->nfd0_listed = 0;
	int listed = 0;
	/* a bitmap of open descriptors below 4096; any above count as open
	 * too: the run past the highest open one closes everything */
	unsigned char *open_fd = P->open_fd; /* ours: rebuild() runs this after
					       * the snapshot, .bss would differ */
	memset(open_fd, 0, sizeof(P->open_fd));
	unsigned int maxfd = 0;
	char *buf = P->mapsbuf;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, MAPSBUF);
		if (n < 0) {
			int e = -errno;
			close(dfd);
			P->fdsfd = -1;
			return e;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			uint64_t v;
			if (uffdbox__parse_u64(d->d_name, 10, &v) == 0) {
				if (P->nfd0_listed < MAXFDRUN)
					P->fd0[P->nfd0_listed++] = (int)v;
				listed++;
				if (v < 4096)
					open_fd[v / 8] |= (unsigned char)(1u << (v % 8));
				if (v > maxfd)
					maxfd = (unsigned int)v;
			}
			off += d->d_reclen;
		}
	}
	/* the fast check only where the kernel counts (st_size) and every
	 * descriptor fits in fd0[] */
	struct stat st;
	P->nfd0 = fstat(dfd, &st) == 0 && st.st_size == listed && listed <= MAXFDRUN
			  ? (int64_t)st.st_size
			  : -1;
	P->nfdrun = 0;
	unsigned int top = maxfd < 4096 ? maxfd : 4095;
	for (unsigned int fd = 0; fd <= top && P->nfdrun < MAXFDRUN - 1;) {
		if (open_fd[fd / 8] & (1u << (fd % 8))) {
			fd++;
			continue;
		}
		unsigned int end = fd;
		while (end + 1 <= top && !(open_fd[(end + 1) / 8] & (1u << ((end + 1) % 8))))
			end++;
		P->fdrun[P->nfdrun++] = (struct span){fd, end};
		fd = end + 1;
	}
	P->fdrun[P->nfdrun++] = (struct span){maxfd + 1, none};
	return 0;
}

/* Threads besides the caller, from /proc/self/task's link count (2 + the
 * number of threads). */
static int other_threads(void)
{
	struct stat sb;
	if (fstat(P->taskfd, &sb) < 0)
		return -errno;
	return (int)sb.st_nlink - 3;
}

/*
 * No descriptor opened or closed since take(): as many are open as then,
 * and each of those still is - then no other can be.  One fstat() and a
 * fcntl() per descriptor, where closing the runs between them costs a walk
 * of the whole descriptor table per run (tens of microseconds with
 * uffdbox's own descriptors moved near RLIMIT_NOFILE).
 */
static bool fds_as_taken(void)
{
	struct stat st;
	if (P->nfd0 < 0 || fstat(P->fdsfd, &st) < 0 || st.st_size != P->nfd0)
		return false;
	/* one poll() for all: a closed one comes back POLLNVAL */
	for (int i = 0; i < P->nfd0_listed; i++)
		P->pfd[i] = (struct pollfd){.fd = P->fd0[i]};
	if (poll(P->pfd, (nfds_t)P->nfd0_listed, 0) < 0)
		return false;
	for (int i = 0; i < P->nfd0_listed; i++)
		if (P->pfd[i].revents & POLLNVAL)
			return false;
	return true;
}

/* The object a runtime's own: its globals are not the target's (libFuzzer
 * mode restores only the target's). */
static bool runtime_object(const char *path)
{
	static const char *const names[] = {"libc.so",	  "ld-linux",	"libm.so",   "libstdc++",
					    "libgcc_s",	  "libpthread", "libdl.so",  "librt.so",
					    "libuffdbox", "libunwind",	"libresolv", NULL};
	return base_has_prefix(path, names);
}

/* Scoped: the writable PT_LOAD segments (page-rounded) of every loaded
 * object that is not the runtime's (the program: its own name is empty). */
static int target_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "(program)";
	if (runtime_object(name))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && P->nwseg < MAXKEEP; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || !ph->p_memsz)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		P->wseg[P->nwseg++] =
			(struct span){a & ~(PAGE - 1), (a + ph->p_memsz + PAGE - 1) & ~(PAGE - 1)};
	}
	return 0;
}

static int span_cmp(const void *x, const void *y)
{
	const struct span *p = x, *q = y;
	return p->start < q->start ? -1 : p->start > q->start;
}

/* The count of open descriptors (Linux 6.2+: /proc/self/fd's size), or
 * -1. */
static int64_t fd_count(void)
{
	struct stat st;
	return fstat(P->fdsfd, &st) == 0 && st.st_size > 0 ? (int64_t)st.st_size : -1;
}

/* Call @fn for each numeric entry of the /proc directory @dir (threads,
 * descriptors), with the directory's own descriptor; no malloc. */
static void each_number(const char *dir, void (*fn)(uint64_t v, int dfd, void *arg), void *arg)
{
	char buf[4096];
	long n;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			uint64_t v;
			if (uffdbox__parse_u64(d->d_name, 10, &v) == 0)
				fn(v, dfd, arg);
			off += d->d_reclen;
		}
	close(dfd);
}

static void fd_mark(uint64_t v, int dfd, void *map)
{
	if (v < 4096 && (int)v != dfd)
		((unsigned char *)map)[v / 8] |= (unsigned char)(1u << (v % 8));
}

/* Open descriptors below 4096 into @map (getdents of /proc/self/fd). */
static void fd_map(unsigned char *map)
{
	memset(map, 0, 4096 / 8);
	each_number("/proc/self/fd", fd_mark, map);
}

/* The engine is back after an input (libFuzzer, through theap.c): which
 * descriptors are open now, when their count says anything changed. */
static int settled_threads(void);
static void name_threads(void);

/* The @k descriptors an input opened, when they are among the 64 lowest
 * numbers closed as it started (open() takes the lowest free one): one
 * poll() instead of a listing of /proc/self/fd, which walks the whole
 * descriptor table (uffdbox's own sit near RLIMIT_NOFILE).  False when
 * not all are found there. */
static bool new_fds_quick(int64_t k)
{
	int np = 0, found = 0;
	for (int fd = 0; fd < 4096 && np < MAXFDRUN; fd++)
		if (!(P->fd_start[fd / 8] & (1u << (fd % 8))))
			P->pfd[np++] = (struct pollfd){.fd = fd};
	if (poll(P->pfd, (nfds_t)np, 0) < 0)
		return false;
	memcpy(P->fd_end, P->fd_start, sizeof(P->fd_end));
	for (int i = 0; i < np; i++)
		if (!(P->pfd[i].revents & POLLNVAL)) {
			P->fd_end[P->pfd[i].fd / 8] |= (unsigned char)(1u << (P->pfd[i].fd % 8));
			found++;
		}
	return found == k;
}

void uffdbox__persist_input_ended(void)
{
	static volatile int dying; /* (libFuzzer's crash report calls us again) */
	if (!P || !P->taken || !P->scoped || dying)
		return;
	/* A thread the input started and left running: this input's crash,
	 * reported now - at the next restore the engine would blame the next
	 * input. */
	if (settled_threads() > 0) {
		dying = 1;
		name_threads();
		uffdbox__say(STDERR_FILENO,
			     "uffdbox persist: the input left a thread running (above): its "
			     "memory would be put back under it; reported as this input's crash\n");
		abort();
	}
	int64_t n = fd_count();
	P->end_differs = n < 0 || n != P->n_start;
	if (P->end_differs && !(n > P->n_start && new_fds_quick(n - P->n_start)))
		fd_map(P->fd_end);
}

/* Scoped restore: close what the last input opened and left open; then
 * note what is open as the next input starts. */
static void close_inputs_fds(void)
{
	if (P->end_differs)
		for (int fd = 0; fd < 4096; fd++)
			if ((P->fd_end[fd / 8] & ~P->fd_start[fd / 8]) & (1u << (fd % 8)))
				close(fd);
	int64_t n = fd_count();
	if (n < 0 || n != P->n_start) /* the engine's came or went too */
		fd_map(P->fd_start);
	P->n_start = n;
	P->end_differs = false;
}

/* The process's size in pages (statm's first field), or 0. */
static uint64_t vm_size(void)
{
	char buf[64];
	ssize_t n = pread(P->statmfd, buf, sizeof(buf) - 1, 0);
	uint64_t v = 0;
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	return v;
}

/* other_threads(), given a thread joined a moment ago the time to be
 * reaped (the kernel wakes the joiner before it drops the thread from
 * /proc/self/task). */
static int settled_threads(void)
{
	int others = other_threads();
	for (int i = 0; others > P->threads0 && i < 2000; i++) {
		sched_yield();
		others = other_threads();
	}
	if (others < 0)
		return others;
	/* (an engine thread of take()'s that ended is no input's) */
	return others > P->threads0 ? others - P->threads0 : 0;
}

static bool thread_of_take(long tid)
{
	for (int i = 0; i < P->ntids0; i++)
		if (P->tids0[i] == tid)
			return true;
	return false;
}

/* The engine's threads at take() (libFuzzer's RSS thread), not an input's. */
static void tid_note(uint64_t v, int dfd, void *arg)
{
	(void)dfd;
	(void)arg;
	if (P->ntids0 < 8)
		P->tids0[P->ntids0++] = (long)v;
}

static void record_threads(void)
{
	P->ntids0 = 0;
	each_number("/proc/self/task", tid_note, NULL);
}

static void tid_name(uint64_t v, int dfd, void *self)
{
	(void)dfd;
	if ((long)v != *(long *)self && !thread_of_take((long)v))
		uffdbox__say(STDERR_FILENO,
			     "uffdbox persist: thread %llu started by an input still runs\n",
			     (unsigned long long)v);
}

static void name_threads(void)
{
	long self = syscall(SYS_gettid);
	each_number("/proc/self/task", tid_name, &self);
}

/* --- taking the snapshot ----------------------------------------------------- */

static bool in_keep_page(uintptr_t pg)
{
	for (int i = 0; i < P->nkeep; i++)
		if (P->keep[i].start <= pg && P->keep[i].end >= pg + PAGE)
			return true;
	return false;
}

/* Add [a, b) to the ranges to snapshot, less the pages wholly kept. */
static int plan_range(uintptr_t a, uintptr_t b, bool file)
{
	uintptr_t run = a;
	for (uintptr_t pg = a; pg <= b; pg += PAGE) {
		if (pg < b && !in_keep_page(pg))
			continue;
		if (pg > run) {
			if (P->nspan == MAXSNAP * PER_SNAP)
				return -E2BIG;
			P->file[P->nspan] = file;
			P->snap[P->nspan++] = (struct span){run, pg};
		}
		run = pg + PAGE;
	}
	return 0;
}

/* Kept bytes that share a page with snapshotted memory. */
static void plan_partial(void)
{
	P->npart = 0;
	for (int k = 0; k < P->nkeep; k++)
		for (int i = 0; i < P->nspan; i++) {
			uintptr_t a = P->keep[k].start > P->snap[i].start ? P->keep[k].start
									  : P->snap[i].start;
			uintptr_t b =
				P->keep[k].end < P->snap[i].end ? P->keep[k].end : P->snap[i].end;
			if (a < b && P->npart < 2 * MAXKEEP)
				P->part[P->npart++] = (struct span){a, b};
		}
}

/*
 * Snapshot objects, in mode @mode, for the spans with file == @file (-1:
 * all).  Spans that touch are added as one range: a restore walks each
 * range with one PAGEMAP_SCAN, a syscall worth saving.
 */
static int build_group(enum uffdbox_snapshot_mode mode, int file)
{
	struct uffdbox_snapshot_opts so = {.sz = sizeof(so),
					   .mode = mode,
					   .errbuf = P->o.errbuf,
					   .errbuf_len = P->o.errbuf_len,
					   .keep_restores = KEEP_RESTORES};
	int rc = 0, in_obj = PER_SNAP;
	for (int i = 0; i < P->nspan && rc == 0; i++) {
		if (file >= 0 && P->file[i] != (bool)file)
			continue;
		uintptr_t a = P->snap[i].start, b = P->snap[i].end;
		while (i + 1 < P->nspan && P->snap[i + 1].start == b &&
		       (file < 0 || P->file[i + 1] == (bool)file))
			b = P->snap[++i].end;
		if (in_obj == PER_SNAP) {
			if (P->nsnap == MAXSNAP)
				return -E2BIG;
			rc = uffdbox_snapshot_new(&so, &P->snaps[P->nsnap]);
			if (rc < 0)
				break;
			P->nsnap++;
			in_obj = 0;
		}
		rc = uffdbox_snapshot_add(P->snaps[P->nsnap - 1], (void *)a, b - a);
		in_obj++;
	}
	return rc;
}

/*
 * Snapshot every span.  WP_SYNC write-protects only anonymous memory: the
 * file-backed spans (.data of the program and its libraries) and the TLS
 * then go to COPY snapshots, copied back whole at each restore.
 */
static int snaps_build(void)
{
	struct uffdbox_snapshot_opts so = {.sz = sizeof(so),
					   .mode = P->o.mode,
					   .errbuf = P->o.errbuf,
					   .errbuf_len = P->o.errbuf_len};
	struct uffdbox_snapshot *probe;
	P->nsnap = 0;
	int rc = uffdbox_snapshot_new(&so, &probe); /* which mode AUTO means here */
	if (rc < 0)
		return rc;
	P->mode = uffdbox_snapshot_mode(probe);
	bool signals = uffdbox__snapshot_signals(probe);
	uffdbox_snapshot_free(probe);
	/* Without a userfaultfd (a container), write tracking would put the
	 * whole process - libc, the allocator, the engine's runtime - under
	 * protection changes and SIGSEGV: refused, with the reason. */
	if (signals) {
		if (P->o.errbuf && P->o.errbuf_len)
			snprintf(P->o.errbuf, P->o.errbuf_len,
				 "uffdbox persist: no userfaultfd here (a seccomp filter?): the "
				 "whole-target reset needs one (the signal backend cannot track a "
				 "whole process); run with userfaultfd allowed (docs/persist.md)");
		return -UFFDBOX_E_NOFEATURE;
	}
	if (P->mode == UFFDBOX_SNAPSHOT_WP_SYNC) {
		rc = build_group(P->mode, 0);
		if (rc == 0)
			rc = build_group(UFFDBOX_SNAPSHOT_COPY, 1);
	} else {
		rc = build_group(P->mode, -1);
	}
	for (int i = 0; i < P->nsnap && rc == 0; i++)
		rc = uffdbox_snapshot_take(P->snaps[i]);
	return rc;
}

static void snaps_free(void)
{
	for (int i = 0; i < P->nsnap; i++)
		uffdbox_snapshot_free(P->snaps[i]);
	P->nsnap = 0;
}

/* Record the layout now; mappings overlapping a snapshotted range are
 * marked as such. */
/* P->rr: every snapshotted range, sorted by address (insertion sort: no
 * heap here, and the ranges come nearly sorted). */
static void index_ranges(void)
{
	P->nrr = 0;
	for (int i = 0; i < P->nsnap; i++) {
		uintptr_t a, b;
		const char *sh;
		for (int j = 0; uffdbox__snapshot_range(P->snaps[i], j, &a, &b, &sh) == 0 &&
				P->nrr < MAXSNAP * PER_SNAP;
		     j++) {
			int k = P->nrr++;
			while (k > 0 && P->rr[k - 1].start > a) {
				P->rr[k] = P->rr[k - 1];
				k--;
			}
			P->rr[k] = (struct rrange){
				.start = a, .end = b, .snap = i, .j = j, .shadow = (char *)sh};
		}
	}
}

/* [a, b) is covered by snapshotted ranges (P->rr: sorted, disjoint). */
static bool snapshotted(uintptr_t a, uintptr_t b)
{
	for (int x = 0; x < P->nrr && a < b; x++)
		if (P->rr[x].end > a) {
			if (P->rr[x].start > a)
				return false;
			a = P->rr[x].end;
		}
	return a >= b;
}

/* Every mapping with memory in [a, b) has it all snapshotted: a scan over
 * [a, b) for unregistered memory would find none there (the kernel skips
 * addresses with no mapping). */
static bool only_snapshotted(uintptr_t a, uintptr_t b)
{
	for (int i = 0; i < P->nlayout; i++) {
		const struct pmap *l = &P->layout[i];
		if (l->end <= a || l->start >= b)
			continue;
		if (!snapshotted(l->start > a ? l->start : a, l->end < b ? l->end : b))
			return false;
	}
	return true;
}

/*
 * Which ranges replaced() looks at: those in the heap or in an anonymous
 * mapping of their own - what allocators replace in place (mmap MAP_FIXED
 * over memory they decommit).  Not a file's .data (replaced by another
 * mapping, the layout read every LAYOUT_EVERY restores differs) nor the
 * .bss right after it (no allocator's): each range checked costs a
 * syscall per restore.
 */
static void mark_checked(void)
{
	P->nchk = 0;
	for (int x = 0; x < P->nrr; x++) {
		struct rrange *r = &P->rr[x];
		r->check = false;
		for (int i = 0; i < P->nlayout; i++) {
			const struct pmap *l = &P->layout[i];
			if (l->start > r->start || l->end <= r->start)
				continue;
			bool bss =
				i > 0 && P->layout[i - 1].end == l->start && P->layout[i - 1].file;
			r->check = !l->file && !bss;
			break;
		}
		if (!r->check)
			continue;
		struct span *c = P->nchk ? &P->chk[P->nchk - 1] : NULL;
		if (c && only_snapshotted(c->end, r->start))
			c->end = r->end;
		else
			P->chk[P->nchk++] = (struct span){r->start, r->end};
	}
}

static int record_layout(void)
{
	index_ranges();
	P->lo = UINTPTR_MAX;
	P->hi = 0;
	for (int i = 0; i < P->nspan; i++) {
		if (P->snap[i].start < P->lo)
			P->lo = P->snap[i].start;
		if (P->snap[i].end > P->hi)
			P->hi = P->snap[i].end;
	}
	int n = read_maps(P->layout, MAXMAP);
	if (n < 0)
		return n;
	P->nlayout = n;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < P->nspan; k++)
			if (P->snap[k].start < P->layout[i].end &&
			    P->snap[k].end > P->layout[i].start)
				P->layout[i].snap = true;
	mark_checked();
	return 0;
}

/*
 * Call once, before the snapshot, every libc function a restore or a verify
 * calls that take() has not: a lazily bound call writes the caller's GOT
 * (and ld.so's counters) the first time, and after the restore put that
 * back, verify would find the write of its own first call.
 */
static volatile int warm_sink; /* or the pure calls are optimized away */

static void warm_up(void)
{
	int r = memcmp(P->mapsbuf, P->mapsbuf + PAGE, PAGE); /* as verify calls it */
	r |= mprotect(P, PAGE, PROT_READ | PROT_WRITE);
	r |= madvise(P, 0, MADV_NORMAL);
	uffdbox__say(STDERR_FILENO, "%s", "");
	r |= (int)write(2, "", 0);
	warm_sink = r;
}

extern void __asan_init(void) __attribute__((weak));
extern void __tsan_init(void) __attribute__((weak));
extern void __msan_init(void) __attribute__((weak));
extern void __libfuzzer_is_present(void) __attribute__((weak));
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

/*
 * The kernel writes the thread's rseq area (glibc registers it in the
 * thread's TCB) whenever the thread is scheduled: the CPU it runs on.  It
 * is the kernel's, not the target's: keep it, or a restore would put back
 * a stale CPU number and verify would find the kernel's own updates.
 */
static int keep_rseq(void)
{
	if (!&__rseq_size || !&__rseq_offset || __rseq_size == 0)
		return 0;
	uintptr_t a = (uintptr_t)__builtin_thread_pointer() + (uintptr_t)__rseq_offset;
	return uffdbox_persist_keep((void *)a, __rseq_size < 32 ? 32 : __rseq_size);
}

/*
 * Lazy binding: the first call of a function through the PLT has ld.so
 * write its address into the object's .got.plt.  Restored, every slot would
 * be bound again at its first call of every input (a resolver run, a
 * written page).  Each loaded object's .got.plt (DT_PLTGOT, DT_PLTRELSZ) is
 * kept instead: a slot bound once stays bound, as in a process that never
 * restores.  (Under -z now it is read-only by then, outside any snapshot.)
 */
static int keep_got(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	int *kept = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
			continue;
		const ElfW(Dyn) *d = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
		uintptr_t got = 0;
		size_t relsz = 0, relent = sizeof(ElfW(Rela));
		for (; d->d_tag != DT_NULL; d++) {
			if (d->d_tag == DT_PLTGOT)
				got = d->d_un.d_ptr;
			else if (d->d_tag == DT_PLTRELSZ)
				relsz = d->d_un.d_val;
			else if (d->d_tag == DT_PLTREL && d->d_un.d_val == DT_REL)
				relent = sizeof(ElfW(Rel));
		}
		/* ld.so relocates these entries in place, but not in every object */
		if (got && got < info->dlpi_addr)
			got += info->dlpi_addr;
		if (got && relsz &&
		    uffdbox_persist_keep((void *)got, (3 + relsz / relent) * sizeof(void *)) == 0)
			(*kept)++;
	}
	return 0;
}

static int take(const struct uffdbox_persist_opts *opts)
{
	struct uffdbox_persist_opts o = {.sz = sizeof(o)};
	char *eb;
	size_t el;
	int rc = get_state();
	if (rc < 0)
		return rc;
	if (opts)
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	eb = o.errbuf;
	el = o.errbuf_len;
	if (P->taken) {
		uffdbox__explain(eb, el, "a snapshot is taken already (one per process)");
		return -EALREADY;
	}
	if (__asan_init || __tsan_init || __msan_init) {
		uffdbox__explain(
			eb, el,
			"a sanitizer runtime is linked in: its shadow memory (terabytes "
			"reserved) cannot be snapshotted, and its allocator state would "
			"be reset under it; build the target without -fsanitize for reset");
		return -ENOTSUP;
	}
	/* the engine's variables, and whether libFuzzer is the engine */
	int kept = keep_engine_symbols(), gots = 0;
	bool libfuzzer =
		__libfuzzer_is_present || P->exe_libfuzzer || (heap_ops && heap_ops->libfuzzer());
	if (libfuzzer && !heap_ops) {
		uffdbox__explain(eb, el,
				 "libFuzzer runs in this process: its corpus, mutator and "
				 "counters live on the heap the target allocates from; link "
				 "uffdbox's target heap too (CMake uffdbox::heap, -luffdbox_heap), "
				 "which gives the target an arena of its own to put back "
				 "(docs/persist.md, libFuzzer)");
		return -ENOTSUP;
	}
	P->scoped = libfuzzer;
	P->o = o;
	P->taskfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (P->taskfd < 0) {
		rc = -errno;
		uffdbox__explain(eb, el, "/proc/self/task: %s (is /proc mounted?)",
				 strerror(errno));
		return rc;
	}
	P->statmfd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (P->statmfd < 0) {
		rc = -errno;
		uffdbox__explain(eb, el, "/proc/self/statm: %s", strerror(errno));
		return rc;
	}
	P->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC); /* optional */
	/* A program that has not allocated yet gets its heap from the libc
	 * calls below (opendir): make it exist before the layout is read, or
	 * the first restore finds a [heap] it cannot bring back. */
	void *volatile first = malloc(1); /* (volatile: a pair the compiler keeps) */
	free(first);
	/* libFuzzer's RSS thread runs already: the engine's, and its stack is
	 * no memory the scoped snapshot takes */
	P->threads0 = 0;
	rc = settled_threads();
	if (P->scoped && rc > 0) {
		P->threads0 = rc;
		record_threads();
		rc = 0;
	}
	if (rc != 0) {
		uffdbox__explain(eb, el,
				 "%d other threads run: a reset restores memory they write; take "
				 "the snapshot while the process has one thread",
				 rc < 0 ? 0 : rc);
		return rc < 0 ? rc : -EBUSY;
	}
	/* our own state: its mapping may have merged with a neighbour */
	rc = uffdbox_persist_keep(P, (sizeof(*P) + PAGE - 1) & ~(PAGE - 1));
	if (rc < 0)
		return rc;
	rc = keep_rseq();
	if (rc < 0)
		return rc;
	dl_iterate_phdr(keep_got, &gots);
	int n = read_maps(P->cur, MAXMAP);
	if (n < 0) {
		uffdbox__explain(eb, el, "reading /proc/self/maps: %s", strerror(-n));
		return n;
	}
	uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
	uintptr_t heap_lo = 0, heap_hi = 0;
	P->nspan = 0;
	if (P->scoped) {
		const char *why = "";
		P->nwseg = 0;
		dl_iterate_phdr(target_segments, NULL);
		qsort(P->wseg, (size_t)P->nwseg, sizeof(P->wseg[0]), span_cmp);
		rc = heap_ops->freeze(&heap_lo, &heap_hi, &why);
		if (rc < 0) {
			uffdbox__explain(eb, el, "%s", why);
			return rc;
		}
	}
	for (int i = 0; i < n; i++) {
		struct pmap *m = &P->cur[i];
		if (m->perms[0] != 'r' || m->perms[1] != 'w' || m->perms[3] != 'p' || special(m))
			continue;
		if (P->scoped) {
			/* the target heap's frozen part; the globals (.data, and
			 * the .bss after it) of objects not the runtime's */
			if (m->start <= heap_lo && m->end > heap_lo) {
				rc = plan_range(heap_lo, heap_hi, false);
				if (rc < 0) {
					uffdbox__explain(eb, el, "more than %d ranges to snapshot",
							 MAXSNAP * PER_SNAP);
					return rc;
				}
				continue;
			}
			/* the parts of it that are a target object's writable
			 * segments (its .data and .bss: anonymous memory next to
			 * them is not theirs - ld.so's link maps and TLS are
			 * allocated in pages mapped after some object's .bss) */
			for (int k = 0; k < P->nwseg; k++) {
				uintptr_t a =
					m->start > P->wseg[k].start ? m->start : P->wseg[k].start;
				uintptr_t b = m->end < P->wseg[k].end ? m->end : P->wseg[k].end;
				if (a < b && (rc = plan_range(a, b, m->file)) < 0) {
					uffdbox__explain(eb, el, "more than %d ranges to snapshot",
							 MAXSNAP * PER_SNAP);
					return rc;
				}
			}
			continue;
		}
		if (m->end - m->start > HUGE_RANGE) {
			uffdbox__explain(eb, el,
					 "a writable mapping of %llu GiB at %#lx (%s) is too large "
					 "to snapshot (a sanitizer's shadow?)",
					 (unsigned long long)((m->end - m->start) >> 30),
					 (unsigned long)m->start, m->name);
			return -ENOTSUP;
		}
		/* WP_SYNC cannot track file-backed memory, and must not
		 * write-protect the thread's TLS: its SIGBUS handler writes errno
		 * there, and a fault inside the handler is fatal */
		rc = plan_range(m->start, m->end, m->file || (tp >= m->start && tp < m->end));
		if (rc < 0) {
			uffdbox__explain(eb, el, "more than %d ranges to snapshot",
					 MAXSNAP * PER_SNAP);
			return rc;
		}
	}
	plan_partial();
	warm_up();
	P->brk0 = (uintptr_t)syscall(SYS_brk, 0);
	rc = snaps_build();
	if (rc < 0) {
		snaps_free();
		return rc;
	}
	/* after the snapshots' own descriptors are open */
	rc = record_fds();
	if (rc < 0) {
		snaps_free();
		uffdbox__explain(eb, el, "/proc/self/fd: %s", strerror(-rc));
		return rc;
	}
	rc = record_layout();
	if (rc < 0) {
		snaps_free();
		uffdbox__explain(eb, el, "reading /proc/self/maps: %s", strerror(-rc));
		return rc;
	}
	P->vmsize0 = vm_size();
	if (P->scoped) {
		fd_map(P->fd_start);
		P->n_start = fd_count();
	}
	P->st.mode = P->mode;
	P->st.ranges = (uint64_t)P->nspan;
	for (int i = 0; i < P->nspan; i++)
		P->st.bytes += P->snap[i].end - P->snap[i].start;
	if (o.verbose) {
		uffdbox__say(STDERR_FILENO,
			     "uffdbox persist: %s, %d ranges, %llu KiB, %d engine symbols kept, %d "
			     ".got.plt kept, %d kept ranges\n",
			     uffdbox_snapshot_mode_name(P->mode), P->nspan,
			     (unsigned long long)(P->st.bytes >> 10), kept, gots, P->nkeep);
		for (int i = 0; i < P->nlayout; i++)
			if (P->layout[i].snap)
				uffdbox__say(STDERR_FILENO, "uffdbox persist:   %#lx-%#lx %s %s\n",
					     (unsigned long)P->layout[i].start,
					     (unsigned long)P->layout[i].end, P->layout[i].perms,
					     P->layout[i].name[0] ? P->layout[i].name : "[anon]");
	}
	P->taken = true;
	return 0;
}

/* uffdbox's own mappings made while taking or restoring are not the
 * target's (the target heap unmaps those an input made) */
static void heap_quiet(int on)
{
	if (heap_ops)
		heap_ops->quiet(on);
}

static int take_quietly(const struct uffdbox_persist_opts *opts)
{
	heap_quiet(1);
	int rc = take(opts);
	heap_quiet(0);
	return rc;
}

int uffdbox_persist_take(const struct uffdbox_persist_opts *opts)
{
	return take_quietly(opts);
}

/* --- restoring ----------------------------------------------------------- */

static int prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

/* Unmap what is mapped now and was not at take(). */
static int unmap_new(void)
{
	for (int i = 0; i < P->ncur; i++) {
		struct pmap *c = &P->cur[i];
		if (is_stack(c) || strcmp(c->name, "[vsyscall]") == 0)
			continue;
		uintptr_t a = c->start;
		while (a < c->end) {
			/* the recorded mapping covering a, or the next one */
			uintptr_t cover_end = 0, next = c->end;
			for (int k = 0; k < P->nlayout; k++) {
				struct pmap *l = &P->layout[k];
				if (l->start <= a && l->end > a)
					cover_end = l->end;
				else if (l->start > a && l->start < next)
					next = l->start;
			}
			if (cover_end) {
				a = cover_end;
				continue;
			}
			if (munmap((void *)a, next - a) < 0)
				return -errno;
			P->st.unmapped++;
			a = next;
		}
	}
	return 0;
}

/* Bring back recorded mappings missing now, and protections changed.
 * Returns 1 when snapshotted memory had to be mapped again, 0, or -errno. */
static int bring_back(void)
{
	int again = 0;
	for (int k = 0; k < P->nlayout; k++) {
		struct pmap *l = &P->layout[k];
		if (is_stack(l) || special(l))
			continue;
		for (uintptr_t a = l->start; a < l->end;) {
			struct pmap *c = NULL;
			uintptr_t next = l->end;
			for (int i = 0; i < P->ncur; i++) {
				if (P->cur[i].start <= a && P->cur[i].end > a)
					c = &P->cur[i];
				else if (P->cur[i].start > a && P->cur[i].start < next)
					next = P->cur[i].start;
			}
			uintptr_t b = c ? (c->end < l->end ? c->end : l->end) : next;
			if (!c) {
				if (!l->snap) {
					uffdbox__say(STDERR_FILENO,
						     "uffdbox persist: %#lx-%#lx (%s) was unmapped "
						     "by an "
						     "input and cannot be brought back (not "
						     "snapshotted: "
						     "a library unloaded?)\n",
						     (unsigned long)a, (unsigned long)b, l->name);
					return -EIO;
				}
				void *p = mmap((void *)a, b - a, prot_of(l->perms),
					       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
				if (p == MAP_FAILED)
					return -errno;
				again = 1;
			} else if (memcmp(c->perms, l->perms, 3) != 0) {
				if (mprotect((void *)a, b - a, prot_of(l->perms)) < 0)
					return -errno;
			}
			a = b;
		}
	}
	return again;
}

/* Every snapshotted page back from the shadows, then snapshot again: after
 * memory was mapped anew, tracking of it is gone. */
static int rebuild(void)
{
	for (int i = 0; i < P->nsnap; i++) {
		uintptr_t s, e;
		const char *sh;
		for (int k = 0; uffdbox__snapshot_range(P->snaps[i], k, &s, &e, &sh) == 0; k++)
			memcpy((void *)s, sh, e - s);
	}
	snaps_free();
	int rc = snaps_build();
	if (rc < 0)
		return rc;
	P->st.rebuilt++;
	rc = record_fds(); /* the new snapshots' descriptors */
	if (rc == 0)
		rc = record_layout();
	P->vmsize0 = vm_size();
	return rc;
}

static bool part_in_runs(int i);

/*
 * Save the kept bytes of each part not saved yet by this restore, before
 * the restore writes its page: all of them (@runs_only false), or only
 * those in a page of the runs the scan of all found - a restore from the
 * runs writes no other page.  Most kept bytes (.got.plt, the engine's
 * counters) lie in pages no input writes: 8.8 KB copied and compared at
 * every sqlite3 restore when saved whole.
 */
static void keep_save(bool runs_only)
{
	size_t off = 0;
	for (int i = 0; i < P->npart; i++) {
		size_t len = P->part[i].end - P->part[i].start;
		if (off + len > KEEPBUF)
			break;
		if (!P->part_saved[i] && (!runs_only || part_in_runs(i))) {
			memcpy(P->keepbuf + off, (void *)P->part[i].start, len);
			P->part_saved[i] = true;
		}
		off += len;
	}
}

/* The snapshot's copy of byte @a, or NULL (P->rr is sorted). */
static char *shadow_at(uintptr_t a)
{
	int lo = 0, hi = P->nrr;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (P->rr[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < P->nrr && P->rr[lo].start <= a)
		return P->rr[lo].shadow + (a - P->rr[lo].start);
	return NULL;
}

/*
 * Put the kept bytes back where the restore changed them, and into the
 * snapshot's copy too: the next restore then finds them equal and writes
 * nothing (a write here would make the page written again - copied back
 * and written over at every restore: a bound .got.plt slot, an engine
 * counter that settled).
 */
static void keep_put_back(void)
{
	size_t off = 0;
	for (int i = 0; i < P->npart; i++) {
		size_t len = P->part[i].end - P->part[i].start;
		if (off + len > KEEPBUF)
			break;
		char *m = (char *)P->part[i].start, *k = P->keepbuf + off;
		if (P->part_saved[i] && memcmp(m, k, len) != 0) {
			memcpy(m, k, len);
			char *sh = shadow_at(P->part[i].start);
			if (sh)
				memcpy(sh, k, len);
		}
		off += len;
	}
}

/*
 * WP_ASYNC: one PAGEMAP_SCAN over the span of all snapshotted ranges finds
 * every page written (or dropped, or kept unprotected by the adaptive
 * re-arm) in the mappings registered for it; the runs it returns are
 * matched to the ranges and each range is restored from its runs alone, no
 * scan of its own (a scan is a syscall walking page tables).  On any
 * failure, or when the runs do not fit, every range is restored the usual
 * way.
 */
static void prescan(void)
{
	P->have_runs = false;
	for (int i = 0; i < P->nsnap; i++)
		P->want[i] = ~(uint64_t)0;
	if (P->mode != UFFDBOX_SNAPSHOT_WP_ASYNC || P->pagemap < 0 || P->lo >= P->hi)
		return;
	uint64_t want[MAXSNAP] = {0};
	int k = 0, nruns = 0;
	bool overflow = false;
	for (int i = 0; i < P->nrr; i++)
		P->rr[i].n = 0;
	for (uintptr_t from = P->lo; from < P->hi;) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = from,
			.end = P->hi,
			.vec = (uintptr_t)P->vec,
			.vec_len = PRESCAN_VEC,
			/* WPALLOWED is known per mapping: the kernel skips
			 * every mapping not registered for async write
			 * protection (code, stacks, kept ranges, uffdbox's
			 * own) without walking its page tables; a snapshotted
			 * mapping replaced by an unregistered one is found by
			 * replaced() instead.  Inside registered ones
			 * "written" is exact, file pages included (a page of a
			 * private file mapping dropped and read back has no
			 * protection bit: written, and due); not asking about
			 * PAGE_IS_FILE spares the kernel a page lookup per
			 * entry (vm_normal_page, ~4 % of a sqlite3 execution) */
			.category_mask = PAGE_IS_WRITTEN | PAGE_IS_WPALLOWED,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int n = ioctl(P->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return;
		/* runs and ranges both in address order: one merge walk; a
		 * range's runs come out contiguous in runs[] */
		for (int v = 0; v < n; v++) {
			uintptr_t vs = P->vec[v].start, ve = P->vec[v].end;
			while (k < P->nrr && P->rr[k].end <= vs)
				k++;
			for (int x = k; x < P->nrr && P->rr[x].start < ve; x++) {
				struct rrange *r = &P->rr[x];
				want[r->snap] |= (uint64_t)1 << r->j;
				if (overflow || nruns == MAXRUNS) {
					overflow = true;
					continue;
				}
				if (!r->n)
					r->first = nruns;
				P->runs[nruns++] = (struct page_region){
					.start = vs > r->start ? vs : r->start,
					.end = ve < r->end ? ve : r->end,
				};
				r->n++;
			}
		}
		if (n < PRESCAN_VEC || arg.walk_end <= from)
			break;
		from = arg.walk_end;
	}
	memcpy(P->want, want, sizeof(want));
	P->have_runs = !overflow;
}

/*
 * A snapshotted range no longer registered: a mapping replaced in place by
 * one as large (mmap MAP_FIXED over it, as allocators decommit), which
 * neither the process's size nor prescan() sees (the ranges mark_checked()
 * chose).  One PAGEMAP_SCAN per group of them with nothing but
 * snapshotted memory or no mapping between (mark_checked(): the heap and
 * an allocator's chunk after it are one) asks for pages of mappings *not*
 * registered for async write protection: the registered ones are skipped
 * whole, without a page-table walk, so each costs about a syscall.  True
 * on any failure (the caller then rebuilds: slow, never wrong).
 */
static bool replaced(void)
{
	struct page_region one;
	for (int x = 0; x < P->nchk; x++) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = P->chk[x].start,
			.end = P->chk[x].end,
			.vec = (uintptr_t)&one,
			.vec_len = 1,
			.category_inverted = PAGE_IS_WPALLOWED,
			.category_mask = PAGE_IS_WPALLOWED,
		};
		if (ioctl(P->pagemap, PAGEMAP_SCAN, &arg) != 0)
			return true;
	}
	return false;
}

/* Part @i of the kept bytes shares a page with a run prescan() found. */
static bool part_in_runs(int i)
{
	uintptr_t a = P->part[i].start & ~(PAGE - 1);
	uintptr_t b = (P->part[i].end + PAGE - 1) & ~(PAGE - 1);
	for (int x = 0; x < P->nrr && P->rr[x].start < b; x++) {
		const struct rrange *r = &P->rr[x];
		for (int k = r->first; r->end > a && k < r->first + r->n; k++)
			if (P->runs[k].start < b && P->runs[k].end > a)
				return true;
	}
	return false;
}

/* Restore from the runs prescan() found: 1 done, 0 not possible here (the
 * caller restores the usual way), -EPERM memory no longer registered, or
 * -errno. */
static int restore_from_runs(ssize_t *total)
{
	bool any = false;
	for (int x = 0; x < P->nrr; x++) {
		struct rrange *r = &P->rr[x];
		if (!r->n)
			continue;
		ssize_t c = uffdbox__snapshot_restore_runs(P->snaps[r->snap], r->j,
							   &P->runs[r->first], r->n);
		if (c == -EOPNOTSUPP && !any) /* (all of one mode: the first says) */
			return 0;
		/* re-arming met memory no longer registered (a mapping
		 * replaced in place): bring all back */
		if (c == -ENOENT || c == -EPERM)
			return -EPERM;
		if (c < 0)
			return (int)c;
		*total += c;
		any = true;
	}
	return 1;
}

static ssize_t restore(void);

ssize_t uffdbox_persist_restore(void)
{
	heap_quiet(1);
	ssize_t rc = restore();
	heap_quiet(0);
	return rc;
}

static ssize_t restore(void)
{
	ssize_t total = 0;
	if (!P || !P->taken)
		return -EINVAL;
	int others = settled_threads();
	if (others != 0) {
		if (others > 0)
			name_threads();
		return others < 0 ? others : -EBUSY;
	}
	/* kept bytes are saved as late as possible, before the first write
	 * to their page: keep_save() */
	memset(P->part_saved, 0, sizeof(P->part_saved));
	/* A break below the snapshot's means heap pages were given back:
	 * moving it up again maps fresh zero pages, untracked.  (Scoped: the
	 * brk heap is glibc's, the engine's.) */
	uintptr_t now = P->scoped ? P->brk0 : (uintptr_t)syscall(SYS_brk, 0);
	bool shrunk = now < P->brk0;
	if (now != P->brk0 && (uintptr_t)syscall(SYS_brk, P->brk0) != P->brk0) {
		uffdbox__say(STDERR_FILENO,
			     "uffdbox persist: cannot move the program break back to %#lx\n",
			     (unsigned long)P->brk0);
		return -ENOMEM;
	}
	/*
	 * Reading /proc/self/maps costs more than the rest of a restore: read
	 * it when the process's size says mappings came or went (brk already
	 * moved back), and every LAYOUT_EVERY restores for what the size does
	 * not show (a protection changed, a mapping replaced by one as large).
	 */
	int rc = 0;
	bool full = false;
	if (P->scoped) {
		/* the layout is the engine's as much as the target's: the
		 * target heap unmaps what an input mapped (after_restore) */
		full = ++P->unseen >= LAYOUT_EVERY;
		if (full)
			P->unseen = 0;
	} else if (shrunk || vm_size() != P->vmsize0 || ++P->unseen >= LAYOUT_EVERY) {
		full = P->unseen >= LAYOUT_EVERY;
		P->unseen = 0;
		keep_save(false); /* (bring_back() writes) */
		int n = read_maps(P->cur, MAXMAP);
		if (n < 0)
			return n;
		P->ncur = n;
		rc = unmap_new();
		if (rc < 0)
			return rc;
		rc = bring_back();
		if (rc < 0)
			return rc;
	}
	if (P->scoped)
		close_inputs_fds();
	else if (!fds_as_taken())
		for (int i = 0; i < P->nfdrun; i++)
			syscall(SYS_close_range, (unsigned int)P->fdrun[i].start,
				(unsigned int)P->fdrun[i].end, 0);
	bool again = rc == 1 || shrunk;
	/* every LAYOUT_EVERY restores, every range's own scan too (a check
	 * of the scan of all: the two look for the same pages) */
	bool done = false; /* restored from the scan of all's runs */
	if (!again && !full) {
		prescan();
	} else {
		P->have_runs = false;
		for (int i = 0; i < P->nsnap; i++)
			P->want[i] = ~(uint64_t)0;
	}
	if (!again && P->have_runs) {
		rc = -EPERM;
		if (!replaced()) {
			keep_save(true);
			rc = restore_from_runs(&total);
		}
		if (rc == -EPERM)
			again = true;
		else if (rc < 0)
			return rc;
		done = rc == 1;
	}
	if (!done)
		keep_save(false);
	for (int i = 0; i < P->nsnap && !again && !done; i++) {
		ssize_t c = uffdbox__snapshot_restore_some(P->snaps[i], P->want[i]);
		/* -EPERM: PAGEMAP_SCAN met memory no longer registered (unmapped
		 * and mapped again at the same place): bring all back */
		if (c == -EPERM)
			again = true;
		else if (c < 0)
			return c;
		else
			total += c;
	}
	/* WP_SYNC: an anonymous mapping replaced in place raises no fault
	 * when written: ask the kernel whether each is still registered */
	for (int x = 0; x < P->nrr && !again && P->mode == UFFDBOX_SNAPSHOT_WP_SYNC; x++)
		if (P->rr[x].check &&
		    uffdbox__snapshot_registered(P->snaps[P->rr[x].snap], P->rr[x].j) == 0)
			again = true;
	if (again) {
		rc = rebuild();
		if (rc < 0)
			return rc;
		total = (ssize_t)(P->st.bytes / PAGE);
	}
	keep_put_back();
	if (P->scoped)
		P->st.unmapped += (uint64_t)heap_ops->after_restore();
	P->st.restores++;
	P->st.copied += (uint64_t)total;
	return total;
}

/* --- verify ---------------------------------------------------------------- */

static bool kept_byte(uintptr_t a)
{
	for (int i = 0; i < P->npart; i++)
		if (a >= P->part[i].start && a < P->part[i].end)
			return true;
	return false;
}

/* The name of the mapping at @a; the anonymous part of a .bss right after
 * a file's data is named after the file.  Writes only @buf, on the
 * caller's stack: verify must not write the memory it compares. */
static const char *name_at(uintptr_t a, char buf[96])
{
	for (int i = 0; i < P->nlayout; i++) {
		const struct pmap *l = &P->layout[i];
		if (l->start > a || l->end <= a)
			continue;
		if (l->name[0])
			return l->name;
		if (i > 0 && P->layout[i - 1].end == l->start && P->layout[i - 1].file) {
			size_t n = strlen(P->layout[i - 1].name);
			memcpy(buf, P->layout[i - 1].name, n);
			memcpy(buf + n, " .bss", 6);
			return buf;
		}
		return "[anon]";
	}
	return "?";
}

/* Report the differing byte runs of page [pg, pg+PAGE) against @sh as one
 * range; true when any byte differs. */
static bool page_differs(uintptr_t pg, const char *sh, uintptr_t *first, uintptr_t *last)
{
	const char *m = (const char *)pg;
	if (memcmp(m, sh, PAGE) == 0)
		return false;
	bool any = false;
	for (size_t i = 0; i < PAGE; i++)
		if (m[i] != sh[i] && !kept_byte(pg + i)) {
			if (!any)
				*first = pg + i;
			*last = pg + i;
			any = true;
		}
	return any;
}

int uffdbox_persist_verify(void)
{
	int bad = 0;
	if (!P || !P->taken)
		return -EINVAL;
	for (int i = 0; i < P->nsnap; i++) {
		uintptr_t s, e;
		const char *sh;
		for (int k = 0; uffdbox__snapshot_range(P->snaps[i], k, &s, &e, &sh) == 0; k++) {
			uintptr_t first = 0, last = 0, f, l;
			bool open = false;
			for (uintptr_t pg = s; pg <= e; pg += PAGE) {
				bool d = pg < e && page_differs(pg, sh + (pg - s), &f, &l);
				if (d) {
					if (!open)
						first = f;
					last = l;
					open = true;
					continue;
				}
				if (!open)
					continue;
				char nm[96];
				uffdbox__say(STDERR_FILENO,
					     "uffdbox persist: verify: %#lx-%#lx differs from the "
					     "snapshot "
					     "(%s, +%#lx): now %02x, snapshot %02x\n",
					     (unsigned long)first, (unsigned long)last + 1,
					     name_at(first, nm), (unsigned long)(first - s),
					     (unsigned int)*(const unsigned char *)first,
					     (unsigned int)(unsigned char)sh[first - s]);
				bad++;
				open = false;
			}
		}
	}
	int n = read_maps(P->cur, MAXMAP);
	if (n < 0)
		return n;
	P->ncur = n;
	for (int i = 0; i < n; i++) {
		struct pmap *c = &P->cur[i];
		if (is_stack(c))
			continue;
		bool ours = !P->scoped; /* scoped: only the target's memory */
		for (int k = 0; k < P->nspan && !ours; k++)
			ours = P->snap[k].start < c->end && P->snap[k].end > c->start;
		if (!ours)
			continue;
		bool found = false;
		for (int k = 0; k < P->nlayout && !found; k++)
			found = P->layout[k].start == c->start && P->layout[k].end == c->end &&
				memcmp(P->layout[k].perms, c->perms, 4) == 0;
		if (!found) {
			uffdbox__say(
				STDERR_FILENO,
				"uffdbox persist: verify: mapping %#lx-%#lx %s %s is not in the "
				"snapshot's layout\n",
				(unsigned long)c->start, (unsigned long)c->end, c->perms,
				c->name[0] ? c->name : "[anon]");
			bad++;
		}
	}
	P->st.verified++;
	P->st.differing += (uint64_t)bad;
	return bad;
}

int uffdbox_persist_stats(struct uffdbox_persist_stats *st)
{
	if (!P || !P->taken)
		return -EINVAL;
	*st = P->st;
	return 0;
}

/* --- the one call for harnesses -------------------------------------------- */

static int env_opts(struct uffdbox_persist_opts *o)
{
	const char *v = getenv("UFFDBOX_PERSIST_VERIFY");
	uint64_t n;
	if (v && *v) {
		if (uffdbox__parse_u64(v, 10, &n) < 0 || n > 0xffffffffu) {
			uffdbox__say(
				STDERR_FILENO,
				"uffdbox persist: UFFDBOX_PERSIST_VERIFY=%s: not a number (verify "
				"every N restores; 0 never)\n",
				v);
			return -EINVAL;
		}
		o->verify_every = (unsigned int)n;
	}
	v = getenv("UFFDBOX_PERSIST_MODE");
	if (v && *v) {
		static const struct {
			const char *name;
			enum uffdbox_snapshot_mode m;
		} modes[] = {{"auto", UFFDBOX_SNAPSHOT_AUTO},
			     {"wp-async", UFFDBOX_SNAPSHOT_WP_ASYNC},
			     {"wp-sync", UFFDBOX_SNAPSHOT_WP_SYNC},
			     {"copy", UFFDBOX_SNAPSHOT_COPY}};
		size_t i;
		for (i = 0; i < 4 && strcmp(v, modes[i].name); i++)
			;
		if (i == 4) {
			uffdbox__say(
				STDERR_FILENO,
				"uffdbox persist: UFFDBOX_PERSIST_MODE=%s: one of auto, wp-async, "
				"wp-sync, copy\n",
				v);
			return -EINVAL;
		}
		o->mode = modes[i].m;
	}
	v = getenv("UFFDBOX_PERSIST_VERBOSE");
	o->verbose = v && strcmp(v, "1") == 0;
	return 0;
}

bool uffdbox__persist_taken(void)
{
	return P && P->taken;
}

bool uffdbox__persist_restores(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, b = a + len;
	if (!P || !P->taken || !len)
		return false;
	for (int k = 0; k < P->nkeep; k++)
		if (P->keep[k].start <= a && P->keep[k].end >= b)
			return false;
	for (int i = 0; i < P->nspan; i++)
		if (P->snap[i].start < b && P->snap[i].end > a)
			return true;
	return false;
}

int uffdbox_persist_auto(void)
{
	static int on = -1; /* set on the first call, before take(): survives */
	if (on < 0) {
		const char *v = getenv("UFFDBOX_PERSIST");
		on = v && strcmp(v, "1") == 0;
	}
	if (!on)
		return 0;
	if (!P || !P->taken) {
		char err[512] = "";
		struct uffdbox_persist_opts o = {
			.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
		int rc = env_opts(&o);
		if (rc == 0)
			rc = take_quietly(&o);
		if (rc < 0) {
			uffdbox__say(STDERR_FILENO,
				     "uffdbox persist: snapshot failed: %s: %s (the reset's "
				     "failure, not the input's)\n",
				     uffdbox_strerror(rc), err);
			/* under libFuzzer, a configuration error ends the run
			 * without a crash file (abort() would make libFuzzer
			 * save its first, empty, input as one) */
			if (__libfuzzer_is_present || (P && P->exe_libfuzzer)) {
				uffdbox__say(STDERR_FILENO, "uffdbox persist: exiting (a "
							    "configuration error, not a crash)\n");
				_exit(1);
			}
			abort();
		}
		return 1;
	}
	ssize_t rc = uffdbox_persist_restore();
	if (rc < 0) {
		uffdbox__say(STDERR_FILENO,
			     "uffdbox persist: restore failed: %s (the reset's failure, not "
			     "the input's; a thread the input left running is named above)\n",
			     uffdbox_strerror((int)rc));
		abort();
	}
	if (P->o.verify_every && ++P->since_verify >= P->o.verify_every) {
		P->since_verify = 0;
		int bad = uffdbox_persist_verify();
		if (bad != 0) {
			uffdbox__say(
				STDERR_FILENO,
				"uffdbox persist: verify found %d differing ranges after restore "
				"%llu (the reset's failure, not the input's: the input alone "
				"does not crash; the ranges are above, docs/persist.md)\n",
				bad, (unsigned long long)P->st.restores);
			abort();
		}
	}
	return 2;
}
