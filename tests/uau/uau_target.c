/* SPDX-License-Identifier: MIT */
/*
 * tests/uau/uau_target.c - a small program with (and without) use-after-
 * unmap bugs, one per mode, run under `uffdbox run` by the tests.
 * Compiled without uffdbox: it only calls mmap/munmap/mremap like any
 * program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096

static char *map(size_t pages)
{
	char *p =
		mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(3);
	}
	memset(p, 'L', pages * PG);
	return p;
}

__attribute__((noinline)) static char stale_read(volatile char *p)
{
	return p[100];
}

__attribute__((noinline)) static void stale_write(volatile char *p)
{
	p[200] = 'W';
}

__attribute__((noinline)) static void release(char *p, size_t len)
{
	munmap(p, len);
}

__attribute__((noinline)) static char *heap_alloc(size_t n)
{
	char *p = malloc(n);
	if (!p) {
		perror("malloc");
		exit(3);
	}
	memset(p, 'H', n);
	return p;
}

__attribute__((noinline)) static void heap_release(char *p)
{
	free(p);
}

__attribute__((noinline)) static char *heap_grow(char *p, size_t n)
{
	return realloc(p, n);
}

/* 1 MiB (mapped on its own by glibc) from the allocation call @how:
 * each interposer's path to a tracked block. */
__attribute__((noinline)) static char *alloc_with(const char *how)
{
	size_t n = 1 << 20;
	void *p = NULL;
	if (!strcmp(how, "calloc"))
		p = calloc(1, n);
	else if (!strcmp(how, "realloc_null"))
		p = realloc(NULL, n);
	else if (!strcmp(how, "memalign"))
		p = memalign(1 << 16, n);
	else if (!strcmp(how, "posix_memalign")) {
		if (posix_memalign(&p, 1 << 16, n) != 0)
			p = NULL;
	} else if (!strcmp(how, "aligned_alloc"))
		p = aligned_alloc(1 << 16, n);
	else if (!strcmp(how, "valloc"))
		p = valloc(n);
	else if (!strcmp(how, "pvalloc"))
		p = pvalloc(n);
	else if (!strcmp(how, "reallocarray"))
		p = reallocarray(NULL, 1 << 10, 1 << 10);
	else {
		fprintf(stderr, "unknown allocation call %s\n", how);
		exit(2);
	}
	if (!p) {
		perror(how);
		exit(3);
	}
	memset(p, 'A', n);
	return p;
}

__attribute__((noinline)) static void lib_release(void *h)
{
	if (dlclose(h) != 0)
		fprintf(stderr, "dlclose: %s\n", dlerror());
}

/* The program's own descriptor hygiene, as daemons and sandboxes do it:
 * then check that its own descriptor (a pipe) really went. */
static int drop_fds(const char *how)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	long max = sysconf(_SC_OPEN_MAX);
	if (!strcmp(how, "close")) {
		for (long fd = 3; fd < max; fd++)
			close((int)fd);
	} else if (!strcmp(how, "close_range")) {
		if (close_range(3, ~0u, 0) < 0)
			perror("close_range");
	} else if (!strcmp(how, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(how, "dup2") || !strcmp(how, "dup3")) {
		/* /dev/null over every descriptor it finds open (a listing of
		 * /proc/self/fd shows ours too) */
		int nul = open("/dev/null", O_RDWR), fds[256], n = 0;
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		while (d && (de = readdir(d)) && n < 256)
			if (de->d_name[0] != '.' && atoi(de->d_name) > 2 &&
			    atoi(de->d_name) != dirfd(d) && atoi(de->d_name) != nul)
				fds[n++] = atoi(de->d_name);
		if (d)
			closedir(d);
		for (int i = 0; i < n; i++)
			if (how[3] == '2' ? dup2(nul, fds[i]) < 0
					  : dup3(nul, fds[i], O_CLOEXEC) < 0)
				perror(how);
		(void)max;
		/* every descriptor is /dev/null now: the pipe's number too */
		struct stat st;
		int hi = 0;
		for (int i = 0; i < n; i++)
			hi = fds[i] > hi ? fds[i] : hi;
		/* where userfaultfd is denied (a container) `uffdbox run` holds
		 * no descriptor of its own: said, for the test to expect */
		long u = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* USER_MODE_ONLY */);
		if (u >= 0)
			close((int)u);
		if (fstat(pfd[0], &st) == 0 && S_ISCHR(st.st_mode))
			printf("%s replaced the program's descriptors, up to %d%s\n", how, hi,
			       u < 0 ? " (no userfaultfd here)" : "");
		fflush(stdout);
		return 0;
	} else {
		return -1;
	}
	printf("%s closed the program's descriptors: %s\n", how,
	       fcntl(pfd[0], F_GETFD) < 0 && errno == EBADF ? "yes" : "no");
	fflush(stdout);
	return 0;
}

static unsigned long heap_churn(long n)
{
	unsigned long sum = 0;
	for (long i = 0; i < n; i++) {
		size_t sz = (size_t)(128 + (i * 37) % 896) << 10;
		char *b = malloc(sz);
		for (size_t k = 0; k < sz; k += PG)
			b[k] = (char)i;
		b = realloc(b, sz * 2);
		b[sz * 2 - 1] = 1;
		char *c = calloc(1, sz / 2);
		sum += (unsigned char)b[0] + (unsigned char)c[sz / 4];
		free(c);
		free(b);
	}
	return sum;
}

static void *churn_thread(void *arg)
{
	return (void *)heap_churn((long)arg);
}

static void *unmap_thread(void *arg)
{
	release(arg, 2 * PG);
	return NULL;
}

static sigjmp_buf jb;
static void swallow(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char *p = map(4);

	if (!strcmp(mode, "read")) {
		release(p, 4 * PG);
		printf("read %c\n", stale_read(p + PG));
	} else if (!strcmp(mode, "write")) {
		release(p, 4 * PG);
		stale_write(p);
	} else if (!strcmp(mode, "partial")) {
		/* pages 1-2 released; 0 and 3 stay live and must never report */
		release(p + PG, 2 * PG);
		p[0] = 'a';
		p[3 * PG + 5] = 'b';
		printf("live ok %c%c\n", p[0], p[3 * PG + 5]);
		fflush(stdout);
		printf("stale %c\n", stale_read(p + PG));
	} else if (!strcmp(mode, "mremap")) {
		char *q = mremap(p, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
		if (q == p) {
			/* grew in place: force a move */
			q = mremap(
				p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
				mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		}
		printf("moved %c\n", q[PG]);
		fflush(stdout);
		printf("stale %c\n", stale_read(p + PG));
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;
		pthread_create(&t, NULL, unmap_thread, p);
		pthread_join(t, NULL);
		printf("stale %c\n", stale_read(p));
	} else if (!strcmp(mode, "fork")) {
		release(p, 4 * PG);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			printf("child stale %c\n", stale_read(p + 2 * PG));
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("child %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
		       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return WIFSIGNALED(st) ? 10 : 0;
	} else if (!strcmp(mode, "reuse")) {
		/* Without quarantine the next mmap often lands on the freed
		 * range and the stale read silently sees its data. */
		release(p, 4 * PG);
		char *q =
			mmap(p, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memset(q, 'R', 4 * PG);
		printf("new mapping %s the old address\n", q == p ? "reuses" : "avoids");
		fflush(stdout);
		printf("stale %c\n", stale_read(p));
	} else if (!strcmp(mode, "swallow")) {
		/* A program that survives its own SIGSEGVs (as managed runtimes
		 * do) and reads on. */
		signal(SIGSEGV, swallow);
		signal(SIGBUS, swallow);
		release(p, 4 * PG);
		if (sigsetjmp(jb, 1) == 0)
			printf("stale %c\n", stale_read(p));
		else
			printf("swallowed a fault\n");
	} else if (!strcmp(mode, "churn")) {
		/* many mappings, each touched and released correctly */
		long n = argc > 2 ? atol(argv[2]) : 20000;
		unsigned long sum = 0;
		for (long i = 0; i < n; i++) {
			size_t pages = 1 + (size_t)(i % 8);
			char *q = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			q[0] = (char)i;
			q[(pages - 1) * PG] = 1;
			sum += (unsigned char)q[0];
			munmap(q, pages * PG);
		}
		/* bounded: mappings and peak RSS under the limits given */
		long maps = 0, hwm = 0;
		char line[512];
		FILE *f = fopen("/proc/self/maps", "r");
		while (f && fgets(line, sizeof(line), f))
			maps++;
		if (f)
			fclose(f);
		f = fopen("/proc/self/status", "r");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "VmHWM: %ld kB", &hwm);
		if (f)
			fclose(f);
		printf("churn %ld sum %lu\n", n, sum);
		long max_maps = argc > 3 ? atol(argv[3]) : 0,
		     max_hwm = argc > 4 ? atol(argv[4]) : 0;
		if ((max_maps && maps > max_maps) || (max_hwm && hwm > max_hwm)) {
			fprintf(stderr,
				"unbounded: %ld mappings (max %ld), VmHWM %ld kB (max %ld)\n", maps,
				max_maps, hwm, max_hwm);
			return 4;
		}
	} else if (!strcmp(mode, "errno")) {
		/* failing calls keep the kernel's errno through the interposers */
		void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int e1 = errno;
		int r = munmap((void *)1, PG);
		int e2 = errno;
		void *q = mremap(p, PG, 2 * PG, 0);
		int e3 = errno;
		printf("mmap %s %s, munmap %d %s, mremap %s %s\n",
		       bad == MAP_FAILED ? "failed" : "ok", strerror(e1), r, strerror(e2),
		       q == MAP_FAILED ? "failed" : "ok", strerror(e3));
	} else if (!strcmp(mode, "fds") && argc > 2) {
		/* the program closes or replaces every descriptor it does not
		 * know, then touches what it unmapped */
		if (drop_fds(argv[2]) < 0) {
			fprintf(stderr, "fds: close, close_range, closefrom, dup2 or dup3\n");
			return 2;
		}
		if (argc > 3 && !strcmp(argv[3], "heap")) {
			/* ... or a large heap block it freed */
			char *h = heap_alloc(1 << 20);
			heap_release(h);
			printf("stale %c\n", stale_read(h));
			return 0;
		}
		if (argc > 4 && !strcmp(argv[3], "dl")) {
			/* ... or a library it unloaded */
			void *h = dlopen(argv[4], RTLD_NOW | RTLD_LOCAL);
			char *data = h ? dlsym(h, "uau_lib_data") : NULL;
			if (!data)
				return 3;
			lib_release(h);
			printf("stale %c\n", stale_read(data));
			return 0;
		}
		release(p, 4 * PG);
		printf("stale %c\n", stale_read(p + PG));
	} else if (!strcmp(mode, "heap_read")) {
		/* 1 MiB: mapped on its own by glibc, unmapped inside free() */
		char *h = heap_alloc(1 << 20);
		heap_release(h);
		printf("stale %c\n", stale_read(h));
	} else if (!strcmp(mode, "heap_realloc")) {
		/* A pointer kept into a 300 KiB block that realloc moves (a page
		 * mapped right after it leaves no room to grow in place). */
		char *h = heap_alloc(300 << 10);
		uintptr_t end = ((uintptr_t)h + (300 << 10) + PG - 1) & ~(uintptr_t)(PG - 1);
		mmap((void *)end, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		     -1, 0);
		char *kept = h + 1000;
		char *n = heap_grow(h, 4 << 20);
		printf("realloc %s\n", n == h ? "grew in place" : "moved the block");
		fflush(stdout);
		stale_write(kept);
		printf("stale write went through\n");
	} else if (!strcmp(mode, "heap_alloc_with") && argc > 2) {
		/* a large block from calloc, memalign... freed, then read */
		char *h = alloc_with(argv[2]);
		printf("%s block %s\n", argv[2],
		       (uintptr_t)h % (1 << 16) == 0 ? "64 KiB aligned" : "allocated");
		fflush(stdout);
		heap_release(h);
		printf("stale %c\n", stale_read(h));
	} else if (!strcmp(mode, "heap_grow_small")) {
		/* a small (arena) block that realloc makes large: the new
		 * block is mapped on its own, allocated by realloc */
		char *h = heap_alloc(64);
		h = heap_grow(h, 1 << 20);
		memset(h, 'G', 1 << 20);
		heap_release(h);
		printf("stale %c\n", stale_read(h));
	} else if (!strcmp(mode, "heap_shrink")) {
		/* a large block shrunk to 100 bytes in place (glibc: mremap):
		 * its head stays the program's, the rest is freed */
		char *h = heap_alloc(1 << 20);
		char *s = heap_grow(h, 100);
		printf("shrunk %s, head %c\n", s == h ? "in place" : "by moving", s[50]);
		fflush(stdout);
		printf("stale %c\n", stale_read(h + (512 << 10)));
	} else if (!strcmp(mode, "heap_small")) {
		/* small blocks live in the arena: out of scope, never reported
		 * (the stale read sees whatever the allocator left there) */
		char *h = heap_alloc(100);
		heap_release(h);
		volatile char c = stale_read(h - 90); /* h[10] */
		(void)c;
		printf("small block read after free: not reported\n");
	} else if (!strcmp(mode, "heap_low_threshold")) {
		/* With the threshold lowered to 8 KiB, glibc maps a 24 KiB
		 * block on its own once the arena's top cannot serve it (it
		 * tells: mallinfo2().hblks).  Small, and quarantined all the
		 * same: the interposers test the block, not its size. */
		mallopt(M_MMAP_THRESHOLD, 8192);
		char *h = NULL;
		for (int i = 0; i < 64 && !h; i++) {
			size_t before = mallinfo2().hblks;
			char *b = heap_alloc(24 << 10);
			if (mallinfo2().hblks > before)
				h = b; /* the others stay allocated: the arena's */
		}
		printf("24 KiB block mapped on its own: %s\n", h ? "yes" : "no");
		fflush(stdout);
		if (!h)
			return 3;
		heap_release(h);
		printf("stale %c\n", stale_read(h));
	} else if (!strcmp(mode, "heap_reuse")) {
		/* 40 MiB freed, then the same size again: glibc maps it at the
		 * same address, and the stale read sees the new block's bytes. */
		char *a = heap_alloc(40 << 20);
		heap_release(a);
		char *b = malloc(40 << 20);
		memset(b, 'N', 40 << 20);
		printf("new block %s the old address\n", a == b ? "reuses" : "avoids");
		fflush(stdout);
		printf("stale %c\n", stale_read(a + 4096));
	} else if (!strcmp(mode, "heap_fork")) {
		/* a block freed before fork, read in the child */
		char *h = heap_alloc(1 << 20);
		heap_release(h);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			printf("child stale %c\n", stale_read(h));
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("child %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
		       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return WIFSIGNALED(st) ? 10 : 0;
	} else if (!strcmp(mode, "heap_twice")) {
		/* --continue: the same site three times, another site once */
		char *h = heap_alloc(1 << 20);
		heap_release(h);
		int sum = 0;
		for (int i = 0; i < 3; i++)
			sum += stale_read(h + i * 8192);
		stale_write(h + 5 * 8192);
		printf("went on, sum %d\n", sum);
	} else if (!strcmp(mode, "heapchurn")) {
		/* Large blocks allocated, grown, written and freed correctly:
		 * every one mapped on its own (the threshold is pinned, as
		 * mallopt users do, so glibc's adaptive threshold does not move
		 * them into the arena). */
		long n = argc > 2 ? atol(argv[2]) : 2000;
		mallopt(M_MMAP_THRESHOLD, 128 << 10);
		unsigned long sum = heap_churn(n);
		printf("heapchurn %ld sum %lu\n", n, sum);
	} else if (!strcmp(mode, "heapthreads")) {
		/* the same in 4 threads at once: shared tables, no report */
		mallopt(M_MMAP_THRESHOLD, 128 << 10);
		pthread_t t[4];
		unsigned long sum = 0;
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, churn_thread, (void *)(long)(100 + i));
		for (int i = 0; i < 4; i++) {
			void *r;
			pthread_join(t[i], &r);
			sum += (unsigned long)r;
		}
		printf("heapthreads sum %lu\n", sum);
	} else if (!strcmp(mode, "dlchurn") && argc > 3) {
		/* dlopen, call, dlclose, again */
		long n = atol(argv[2]);
		long sum = 0;
		for (long i = 0; i < n; i++) {
			void *h = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
			if (!h) {
				fprintf(stderr, "dlopen: %s\n", dlerror());
				return 3;
			}
			int (*fn)(int) = (int (*)(int))dlsym(h, "uau_lib_fn");
			sum += fn((int)i);
			dlclose(h);
		}
		printf("dlchurn %ld sum %ld\n", n, sum);
	} else if (!strncmp(mode, "dl_", 3) && argc > 2) {
		/* a pointer into a library's data, or to its function, kept
		 * past dlclose */
		void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 3;
		}
		volatile char *data = dlsym(h, "uau_lib_data");
		int (*fn)(int) = (int (*)(int))dlsym(h, "uau_lib_fn");
		printf("lib says %d %c\n", fn(41), data[5]);
		lib_release(h);
		printf("unloaded: %s\n", dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD) ? "no" : "yes");
		fflush(stdout);
		if (!strcmp(mode, "dl_read"))
			printf("stale %c\n", stale_read((char *)data));
		else if (!strcmp(mode, "dl_write"))
			stale_write((char *)data);
		else
			printf("stale call %d\n", fn(1));
		printf("went on\n");
	} else if (!strcmp(mode, "clean")) {
		release(p, 4 * PG);
		printf("clean\n");
	} else if (!strcmp(mode, "nullread")) {
		/* the program's own crash, nothing unmapped: it must die of it */
		printf("reading NULL\n");
		fflush(stdout);
		printf("read %d\n", *(volatile int *)(uintptr_t)(argc - 2));
	} else {
		fprintf(stderr,
			"modes: read write partial mremap thread fork reuse swallow churn clean "
			"errno, fds HOW, heap_read heap_realloc heap_reuse heap_twice "
			"heap_alloc_with CALL heap_grow_small heap_shrink heap_small "
			"heap_low_threshold "
			"heapchurn N, dlchurn N LIB, dl_read|dl_write|dl_call LIB, nullread\n");
		return 2;
	}
	return 0;
}
