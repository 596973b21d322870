/* SPDX-License-Identifier: MIT */
/* tests/test_persist.c - whole-target reset: globals, heap, brk, mappings
 * made and removed, protections, descriptors, threads, kept ranges, and the
 * verify mode finding a planted difference.  Each case runs in a child of
 * its own (the runner forks), so snapshotting the whole process is safe. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"

static int g_counter = 7;	   /* .data */
static char g_bss[3 * 4096];	   /* .bss */
static unsigned long g_kept = 100; /* kept across restores */
static void *volatile g_escape;	   /* so the compiler keeps an allocation */

static void take_or_skip(enum uffdbox_snapshot_mode m, unsigned int verify_every)
{
	char err[512] = "";
	struct uffdbox_persist_opts o = {.sz = sizeof(o),
					 .mode = m,
					 .verify_every = verify_every,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	int rc = uffdbox_persist_take(&o);
	if (rc == -ENOTSUP || rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "persist_take: %s: %s", uffdbox_strerror(rc), err);
}

/* Globals and the heap come back; the allocator works on after many rounds
 * of allocating, freeing what existed before, and growing brk. */
static void globals_and_heap(enum uffdbox_snapshot_mode m)
{
	char *before = malloc(200);
	ASSERT_NOT_NULL(before);
	memset(before, 'b', 200);
	char *big_before = malloc(1 << 20); /* an mmap()ed chunk */
	ASSERT_NOT_NULL(big_before);
	memset(big_before, 'B', 1 << 20);
	g_bss[4096 + 5] = 'x';
	uintptr_t brk0 = (uintptr_t)syscall(SYS_brk, 0);
	take_or_skip(m, 0);
	struct uffdbox_persist_stats st;
	ASSERT_OK(uffdbox_persist_stats(&st));
	ASSERT_GT(st.ranges, 0);

	for (int round = 0; round < 20; round++) {
		g_counter += round + 1;
		g_bss[4096 + 5] = 'y';
		g_bss[2 * 4096] = (char)round;
		memset(before, 'w', 200);
		if (round % 2)
			free(before); /* freed by one input: back allocated after */
		memset(big_before, 'W', 1 << 20);
		if (round % 3 == 0)
			free(big_before); /* its mapping goes: comes back */
		void *p[64];
		for (int i = 0; i < 64; i++) {
			p[i] = malloc(1000 + (size_t)i * 100 * (size_t)round);
			ASSERT_NOT_NULL(p[i]);
			memset(p[i], i, 1000);
		}
		void *huge = malloc(4 << 20); /* a mapping of its own, made by the input */
		ASSERT_NOT_NULL(huge);
		memset(huge, 1, 4 << 20);
		g_escape = huge;
		for (int i = 0; i < 64; i += 2)
			free(p[i]);
		ASSERT_GE(uffdbox_persist_restore(), 0);
		ASSERT_EQ(g_counter, 7);
		ASSERT_EQ(g_bss[4096 + 5], 'x');
		ASSERT_EQ(g_bss[2 * 4096], 0);
		for (int i = 0; i < 200; i++)
			ASSERT_EQ(before[i], 'b');
		for (size_t i = 0; i < (1u << 20); i += 4093)
			ASSERT_EQ(big_before[i], 'B');
		ASSERT_PTR_EQ((uintptr_t)syscall(SYS_brk, 0), brk0);
	}
	ASSERT_EQ(uffdbox_persist_verify(), 0);
	ASSERT_OK(uffdbox_persist_stats(&st));
	ASSERT_EQ(st.restores, 20);
	ASSERT_GE(st.unmapped, 20); /* the 4 MiB block of each round */
	free(before);
	free(big_before);
}

TEST_CASE(persist_heap_auto, TMEM_NONE, 0)
{
	globals_and_heap(UFFDBOX_SNAPSHOT_AUTO);
}

TEST_CASE(persist_heap_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	globals_and_heap(UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(persist_heap_copy, TMEM_NONE, 0)
{
	globals_and_heap(UFFDBOX_SNAPSHOT_COPY);
}

/* A mapping an input removed comes back with its contents; one it made
 * goes; one it re-protected is writable again. */
TEST_CASE(persist_mappings, TMEM_NONE, 0)
{
	size_t len = 8 * 4096;
	char *keep = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *prot = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(keep != MAP_FAILED && prot != MAP_FAILED);
	memset(keep, 'k', len);
	memset(prot, 'p', len);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	for (int round = 0; round < 3; round++) {
		char *made =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT(made != MAP_FAILED);
		made[0] = 1;
		ASSERT_EQ(munmap(keep + 2 * 4096, 3 * 4096), 0);
		ASSERT_EQ(mprotect(prot, 4096, PROT_READ), 0);
		ASSERT_GE(uffdbox_persist_restore(), 0);
		unsigned char vec;
		ASSERT_EQ(mincore(made, 4096, &vec), -1); /* gone */
		ASSERT_EQ(errno, ENOMEM);
		for (size_t i = 0; i < len; i += 512)
			ASSERT_EQ(keep[i], 'k');
		prot[10] = 'q'; /* writable again (would die of SIGSEGV) */
		ASSERT_EQ(prot[11], 'p');
		keep[3 * 4096] = 'z'; /* tracked again after being brought back */
		ASSERT_GE(uffdbox_persist_restore(), 1);
		ASSERT_EQ(keep[3 * 4096], 'k');
		ASSERT_EQ(prot[10], 'p');
		/* a page dropped by an input comes back (no size change: the
		 * layout is not read, the scans must see it) */
		ASSERT_EQ(madvise(keep + 6 * 4096, 4096, MADV_DONTNEED), 0);
		ASSERT_EQ(keep[6 * 4096], 0);
		ASSERT_GE(uffdbox_persist_restore(), 1);
		ASSERT_EQ(keep[6 * 4096], 'k');
		ASSERT_EQ(keep[6 * 4096 + 4095], 'k');
	}
	ASSERT_EQ(uffdbox_persist_verify(), 0);
	struct uffdbox_persist_stats st;
	ASSERT_OK(uffdbox_persist_stats(&st));
	ASSERT_GE(st.rebuilt, 3);
}

/* A mapping replaced in place by one as large (mmap MAP_FIXED over it, as
 * allocators decommit memory): the process's size does not change, the
 * new mapping is not tracked; its contents must come back all the same. */
TEST_CASE(persist_mapping_replaced, TMEM_NONE, 0)
{
	size_t len = 8 * 4096;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(m != MAP_FAILED);
	memset(m, 'm', len);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	for (int round = 0; round < 3; round++) {
		char *r = mmap(m, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ASSERT(r == m);
		m[5] = 'x';
		ASSERT_GE(uffdbox_persist_restore(), 0);
		for (size_t i = 0; i < len; i += 512)
			ASSERT_EQ(m[i], 'm');
		ASSERT_EQ(m[5], 'm');
		m[4096] = 'y'; /* tracked again */
		ASSERT_GE(uffdbox_persist_restore(), 1);
		ASSERT_EQ(m[4096], 'm');
		/* replaced and not even touched: nothing reads as written */
		ASSERT(mmap(m, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			    -1, 0) == m);
		ASSERT_GE(uffdbox_persist_restore(), 0);
		ASSERT_EQ(m[0], 'm');
		ASSERT_EQ(m[len - 1], 'm');
	}
	ASSERT_EQ(uffdbox_persist_verify(), 0);
}

/*
 * The same, with mappings replaced()'s scans take together: C lies past B
 * with no mapping between (one scan for both), A lies before them with a
 * read-only mapping between (not snapshotted: a scan across it would take
 * it for a replaced one, and rebuild at every restore).
 */
TEST_CASE(persist_mapping_replaced_grouped, TMEM_NONE, 0)
{
	const size_t pg = 4096, n = 4;
	/* [hole] A [hole] R B [hole] C [hole] */
	char *res = mmap(NULL, 30 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(res != MAP_FAILED);
	ASSERT_EQ(munmap(res, 30 * pg), 0);
	char *a = res + pg, *r = res + 7 * pg, *b = res + 11 * pg, *c = res + 17 * pg;
	const int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
	ASSERT(mmap(a, n * pg, PROT_READ | PROT_WRITE, fl, -1, 0) == a);
	ASSERT(mmap(r, n * pg, PROT_READ, fl, -1, 0) == r);
	ASSERT(mmap(b, n * pg, PROT_READ | PROT_WRITE, fl, -1, 0) == b);
	ASSERT(mmap(c, n * pg, PROT_READ | PROT_WRITE, fl, -1, 0) == c);
	memset(a, 'a', n * pg);
	memset(b, 'b', n * pg);
	memset(c, 'c', n * pg);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	struct uffdbox_persist_stats st;
	for (int round = 0; round < 10; round++) {
		a[round] = b[round] = c[round] = 'x';
		ASSERT_GE(uffdbox_persist_restore(), 1);
		ASSERT_EQ(a[round], 'a');
		ASSERT_EQ(b[round], 'b');
		ASSERT_EQ(c[round], 'c');
	}
	ASSERT_OK(uffdbox_persist_stats(&st));
	ASSERT_EQ(st.rebuilt, 0);
	char *const which[] = {c, b, a};
	for (int i = 0; i < 3; i++) {
		/* replaced, untouched: found all the same */
		ASSERT(mmap(which[i], n * pg, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == which[i]);
		ASSERT_GE(uffdbox_persist_restore(), 0);
		ASSERT_OK(uffdbox_persist_stats(&st));
		ASSERT_EQ(st.rebuilt, (uint64_t)i + 1);
		ASSERT_EQ(a[n * pg - 1], 'a');
		ASSERT_EQ(b[n * pg - 1], 'b');
		ASSERT_EQ(c[n * pg - 1], 'c');
	}
	ASSERT_EQ(uffdbox_persist_verify(), 0);
}

/* Descriptors opened by an input are closed; those from before stay. */
TEST_CASE(persist_fds, TMEM_NONE, 0)
{
	int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(before, 0);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int b = dup2(a, 900);
	ASSERT_GE(a, 0);
	ASSERT_EQ(b, 900);
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(fcntl(a, F_GETFD), -1);
	ASSERT_EQ(fcntl(900, F_GETFD), -1);
	ASSERT_GE(fcntl(before, F_GETFD), 0);
}

/* An input that closes a descriptor of the snapshot and opens one
 * elsewhere leaves as many open as there were: the new one is still
 * closed (the restore's fast check sees the old one gone). */
TEST_CASE(persist_fds_swapped, TMEM_NONE, 0)
{
	int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(before, 0);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(a, 0);
	ASSERT_EQ(dup2(a, 901), 901);
	ASSERT_EQ(close(a), 0);
	ASSERT_EQ(close(before), 0);
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(fcntl(901, F_GETFD), -1);
	/* once more, with as many open as at take() again: a new one at a
	 * number free then is closed */
	int c = open("/dev/null", O_RDONLY | O_CLOEXEC); /* before's number */
	ASSERT_EQ(c, before);
	int d = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(dup2(d, 902), 902);
	ASSERT_EQ(close(d), 0);
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(fcntl(902, F_GETFD), -1);
}

static int thread_pipe[2];

static void *blocked(void *arg)
{
	char c;
	(void)arg;
	(void)!read(thread_pipe[0], &c, 1);
	return NULL;
}

/* A thread an input left running is reported and nothing is restored;
 * once it has ended, the restore goes ahead.  Taking a snapshot with a
 * thread running is refused. */
TEST_CASE(persist_threads, TMEM_NONE, 0)
{
	if (TEST_TSAN || TEST_ASAN)
		SKIP("a sanitizer runtime cannot be snapshotted");
	ASSERT_EQ(pipe(thread_pipe), 0);
	pthread_t th;
	/* in a child: a thread it leaves would also leave its stack cached,
	 * which WP_SYNC would write-protect under the next thread */
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char err[256] = "";
		struct uffdbox_persist_opts o = {
			.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
		if (pthread_create(&th, NULL, blocked, NULL) != 0)
			_exit(2);
		int rc = uffdbox_persist_take(&o);
		_exit(rc == -EBUSY && strstr(err, "1 other threads run") ? 0 : 1);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);

	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	g_counter = 99;
	ASSERT_EQ(pthread_create(&th, NULL, blocked, NULL), 0);
	ASSERT_ERR(uffdbox_persist_restore(), -EBUSY);
	ASSERT_EQ(g_counter, 99); /* not restored under a running thread */
	ASSERT_EQ(write(thread_pipe[1], "x", 1), 1);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(g_counter, 7);
	ASSERT_EQ(uffdbox_persist_verify(), 0);
}

/* Kept bytes survive restores; the rest of their page comes back. */
TEST_CASE(persist_keep, TMEM_NONE, 0)
{
	ASSERT_OK(uffdbox_persist_keep(&g_kept, sizeof(g_kept)));
	ASSERT_ERR(uffdbox_persist_keep(&g_kept, 0), -EINVAL);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	ASSERT_ERR(uffdbox_persist_keep(&g_kept, 8), -EINVAL);
	for (unsigned long i = 1; i <= 5; i++) {
		g_kept++;
		g_counter = 1000;
		ASSERT_GE(uffdbox_persist_restore(), 0);
		ASSERT_EQ(g_kept, 100 + i);
		ASSERT_EQ(g_counter, 7);
	}
	ASSERT_EQ(uffdbox_persist_verify(), 0);
}

/* Verify reports a planted difference, naming the mapping, and a mapping
 * the layout lacks. */
TEST_CASE(persist_verify_planted, TMEM_NONE, 0)
{
	int log = memfd_create("verify-log", MFD_CLOEXEC);
	int saved = dup(2);
	ASSERT_GE(log, 0);
	ASSERT_GE(saved, 0);
	/* bind dup2 and mmap now: a first call after the restore writes the
	 * GOT (lazy binding), a difference of its own */
	ASSERT_EQ(dup2(saved, saved), saved);
	munmap(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 4096);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	g_counter = 1234;
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(uffdbox_persist_verify(), 0);
	/* planted: a write after the restore, as if the restore had missed it */
	g_bss[4096 + 17] = 'P';
	g_bss[4096 + 20] = 'Q';
	char *made = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(made != MAP_FAILED);
	ASSERT_EQ(dup2(log, 2), 2);
	int bad = uffdbox_persist_verify();
	ASSERT_EQ(dup2(saved, 2), 2);
	char out[4096] = "";
	ASSERT_GT(pread(log, out, sizeof(out) - 1, 0), 0);
	fprintf(stderr, "%s", out); /* what a user sees */
	ASSERT_EQ(bad, 2);
	char want[64];
	snprintf(want, sizeof(want), "%#lx-%#lx differs", (unsigned long)&g_bss[4096 + 17],
		 (unsigned long)&g_bss[4096 + 21]);
	ASSERT_CONTAINS(out, want);
	ASSERT_CONTAINS(out, "uffdbox-tests"); /* the mapping's name */
	ASSERT_CONTAINS(out, "now 50, snapshot 00");
	ASSERT_CONTAINS(out, "is not in the snapshot's layout");
	struct uffdbox_persist_stats st;
	ASSERT_OK(uffdbox_persist_stats(&st));
	ASSERT_EQ(st.differing, 2);
	/* and a restore puts it right */
	ASSERT_GE(uffdbox_persist_restore(), 0);
	ASSERT_EQ(uffdbox_persist_verify(), 0);
}

TEST_CASE(persist_errors, TMEM_NONE, 0)
{
	ASSERT_ERR(uffdbox_persist_restore(), -EINVAL);
	ASSERT_ERR(uffdbox_persist_verify(), -EINVAL);
	struct uffdbox_persist_stats st;
	ASSERT_ERR(uffdbox_persist_stats(&st), -EINVAL);
	take_or_skip(UFFDBOX_SNAPSHOT_AUTO, 0);
	char err[256] = "";
	struct uffdbox_persist_opts o = {.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
	ASSERT_ERR(uffdbox_persist_take(&o), -EALREADY);
	ASSERT_CONTAINS(err, "taken already");
}
