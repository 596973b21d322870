/* SPDX-License-Identifier: MIT */
/*
 * tests/uau/uau_target.c - a small program with (and without) use-after-
 * unmap bugs, one per mode, run under `uffdbox run` by the tests.
 * Compiled without uffdbox: it only calls mmap/munmap/mremap like any
 * program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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
	} else if (!strcmp(mode, "clean")) {
		release(p, 4 * PG);
		printf("clean\n");
	} else {
		fprintf(stderr,
			"modes: read write partial mremap thread fork reuse swallow churn clean\n");
		return 2;
	}
	return 0;
}
