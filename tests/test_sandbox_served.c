/* SPDX-License-Identifier: MIT */
/* tests/test_sandbox_served.c - the SERVED transport's own duties: pause and
 * release, the watchdog, non-cooperative events, and the log's determinism. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static struct uffdbox_sandbox *served(bool noncoop, unsigned int watchdog_ms)
{
	char err[512] = "";
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = UFFDBOX_TRANSPORT_SERVED,
					 .noncooperative = noncoop,
					 .watchdog_ms = watchdog_ms,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	struct uffdbox_sandbox *sb;
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "sandbox_new: %s: %s", uffdbox_strerror(rc), err);
	return sb;
}

static int add(struct uffdbox_sandbox *sb, const char *name, size_t pages,
	       const struct uffdbox_policy *pol)
{
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = pages, .name = name};
	int ri = uffdbox_sandbox_add_region(sb, &ro, pol);
	ASSERT_OK(ri);
	return ri;
}

static volatile char *base(struct uffdbox_sandbox *sb, int ri)
{
	return uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
}

struct reader {
	volatile char *addr;
	char got;
	_Atomic pid_t tid;
};

static void *read_main(void *arg)
{
	struct reader *r = arg;
	atomic_store(&r->tid, (pid_t)syscall(SYS_gettid));
	r->got = *r->addr;
	return NULL;
}

/* Non-cooperative events are recorded after the kernel has let their
 * caller go (it does so when the message is read): wait for the record. */
static uint64_t await_count(struct uffdbox_sandbox *sb, uint64_t n)
{
	for (int i = 0; i < 5000 && uffdbox_sandbox_log_count(sb) < n; i++)
		usleep(1000);
	return uffdbox_sandbox_log_count(sb);
}

static const struct uffdbox_policy pause_policy = {.sz = sizeof(pause_policy),
						   .action = UFFDBOX_POLICY_PAUSE};

TEST_CASE(sandbox_pause_release, TMEM_NONE, 0)
{
	struct uffdbox_sandbox *sb = served(false, 0);
	static const char pat[] = {0x7a};
	struct uffdbox_policy other = {
		.sz = sizeof(other), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 1};
	int held = add(sb, "held", 4, &pause_policy), free_run = add(sb, "free", 1, &other);
	struct reader a = {.addr = base(sb, held) + 2 * 4096 + 1};
	pthread_t ta;
	/* Thread A freezes at page 2 ... */
	ASSERT_EQ(pthread_create(&ta, NULL, read_main, &a), 0);
	struct uffdbox_paused pz;
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, held, 2, 5000, &pz));
	ASSERT_EQ(pz.region, held);
	ASSERT_EQ(pz.page, 2);
	ASSERT_EQ(pz.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(pz.access, UFFDBOX_ACCESS_READ);
	/* ... while this thread runs through another region ... */
	ASSERT_EQ(base(sb, free_run)[5], 0x7a);
	ASSERT_EQ(a.got, 0);
	/* ... and A resumes with the contents the test chooses. */
	char page[4096];
	memset(page, 0x33, sizeof(page));
	ASSERT_OK(uffdbox_sandbox_release(sb, pz.id, page));
	pthread_join(ta, NULL);
	ASSERT_EQ(a.got, 0x33);
	ASSERT_ERR(uffdbox_sandbox_release(sb, pz.id, page), -ENOENT);
	ASSERT_ERR(uffdbox_sandbox_wait_paused(sb, held, 2, 10, &pz), -ETIMEDOUT);
	/* The log: the free-running fault first, then the release. */
	struct uffdbox_record r;
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 2);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 0, &r));
	ASSERT_EQ(r.region, free_run);
	ASSERT_EQ(r.thread, 2); /* A was seen first, at the pause */
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 1, &r));
	ASSERT_EQ(r.region, held);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_RELEASED);
	ASSERT_EQ(r.thread, 1);
	/* the offset in the page needs EXACT_ADDRESS (5.18), or the signal
	 * backend (the signal carries the address) */
	ASSERT_EQ(r.offset,
		  tfx_hidden(UFFD_FEATURE_EXACT_ADDRESS) && !tfx_signal_backend() ? 0 : 1);
	uffdbox_sandbox_free(sb);
}

static void *write_main(void *arg)
{
	__atomic_store_n((char *)arg, 0x5e, __ATOMIC_RELAXED); /* read while held */
	return NULL;
}

TEST_CASE(sandbox_pause_wp_release, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	struct uffdbox_sandbox *sb = served(false, 0);
	struct uffdbox_policy p = {
		.sz = sizeof(p), .action = UFFDBOX_POLICY_INJECT_WP, .wp = UFFDBOX_WP_PAUSE};
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = 1, .name = "wp", .modes = UFFDBOX_REG_WP};
	int ri = uffdbox_sandbox_add_region(sb, &ro, &p);
	ASSERT_OK(ri);
	volatile char *b = base(sb, ri);
	ASSERT_EQ(b[0], 0);
	pthread_t tw;
	ASSERT_EQ(pthread_create(&tw, NULL, write_main, (void *)(b + 8)), 0);
	struct uffdbox_paused pz;
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pz));
	ASSERT_EQ(pz.kind, UFFDBOX_EV_WP);
	ASSERT_EQ(pz.access, UFFDBOX_ACCESS_WRITE);
	/* held: the page still has its pre-write contents */
	ASSERT_EQ(__atomic_load_n(&b[8], __ATOMIC_RELAXED), 0);
	ASSERT_OK(uffdbox_sandbox_release(sb, pz.id, NULL));
	pthread_join(tw, NULL);
	ASSERT_EQ(b[8], 0x5e);
	uffdbox_sandbox_free(sb);
}

/* Released without contents: the region's own (zeros here), and the log
 * still says "released", not the source's name. */
TEST_CASE(sandbox_pause_release_own_contents, TMEM_NONE, 0)
{
	struct uffdbox_sandbox *sb = served(false, 0);
	int ri = add(sb, "held", 1, &pause_policy);
	struct reader a = {.addr = base(sb, ri) + 3, .got = 1};
	pthread_t ta;
	ASSERT_EQ(pthread_create(&ta, NULL, read_main, &a), 0);
	struct uffdbox_paused pz;
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pz));
	ASSERT_OK(uffdbox_sandbox_release(sb, pz.id, NULL));
	pthread_join(ta, NULL);
	ASSERT_EQ(a.got, 0);
	struct uffdbox_record r;
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 1);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 0, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_RELEASED);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_watchdog_releases, TMEM_NONE, 0)
{
	struct uffdbox_sandbox *sb = served(false, 200);
	int ri = add(sb, "forgotten", 1, &pause_policy);
	struct reader a = {.addr = base(sb, ri) + 3, .got = 1};
	pthread_t ta;
	ASSERT_EQ(pthread_create(&ta, NULL, read_main, &a), 0);
	/* Nobody releases it: the watchdog does, with zeros, and says so. */
	pthread_join(ta, NULL);
	ASSERT_EQ(a.got, 0);
	struct uffdbox_record r;
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 1);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 0, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_WATCHDOG);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_TIMEOUT);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_release_all, TMEM_NONE, 0)
{
	struct uffdbox_sandbox *sb = served(false, 0);
	int ri = add(sb, "held", 2, &pause_policy);
	struct reader a = {.addr = base(sb, ri) + 4096, .got = 1};
	struct reader b = {.addr = base(sb, ri) + 7, .got = 1};
	pthread_t ta, tb;
	struct uffdbox_paused pz;
	ASSERT_EQ(pthread_create(&ta, NULL, read_main, &a), 0);
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 1, 5000, &pz));
	ASSERT_EQ(pthread_create(&tb, NULL, read_main, &b), 0);
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pz));
	ASSERT_EQ(uffdbox_sandbox_release_all(sb), 2);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ASSERT_EQ(a.got, 0);
	ASSERT_EQ(b.got, 0);
	ASSERT_EQ(uffdbox_sandbox_release_all(sb), 0);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_free_never_leaves_a_thread_blocked, TMEM_NONE, 0)
{
	/* Freeing with a thread held: the thread is released (its retried
	 * access then finds the region gone: SIGSEGV, its bug) - the process
	 * ends, it does not hang. */
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct uffdbox_sandbox *sb = served(false, 0);
		int ri = add(sb, "held", 1, &pause_policy);
		struct reader a = {.addr = base(sb, ri)};
		pthread_t ta;
		struct uffdbox_paused pz;
		if (pthread_create(&ta, NULL, read_main, &a) != 0 ||
		    uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pz) != 0)
			_exit(3);
		uffdbox_sandbox_free(sb);
		pthread_join(ta, NULL);
		_exit(0);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT((WIFEXITED(status) && WEXITSTATUS(status) == 0) || TEST_DIED_OF(status, SIGSEGV));
}

TEST_CASE(sandbox_noncooperative_events, TMEM_NONE,
	  UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP)
{
	struct uffdbox_sandbox *sb = served(true, 0);
	static const char pat[] = {0x44};
	struct uffdbox_policy p = {
		.sz = sizeof(p), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 1};
	int ri = add(sb, "ev", 4, &p);
	volatile char *b = base(sb, ri);
	struct uffdbox_record r;
	ASSERT_EQ(b[4096], 0x44);
	ASSERT_EQ(b[2 * 4096], 0x44);
	/* REMOVE: pages dropped; the next access faults again */
	ASSERT_EQ(madvise((void *)(b + 4096), 2 * 4096, MADV_DONTNEED), 0);
	ASSERT_EQ(b[4096], 0x44);
	ASSERT_EQ(await_count(sb, 4), 4);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 2, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_REMOVE);
	ASSERT_EQ(r.page, 1);
	ASSERT_EQ(r.len, 2 * 4096);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 3, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(r.page, 1);
	/* UNMAP of the last page */
	ASSERT_EQ(munmap((void *)(b + 3 * 4096), 4096), 0);
	ASSERT_EQ(await_count(sb, 5), 5);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 4, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_UNMAP);
	ASSERT_EQ(r.page, 3);
	/* REMAP: mremap of page 0 elsewhere */
	void *to = mremap((void *)b, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED,
			  (void *)(b + 3 * 4096));
	ASSERT_PTR_EQ(to, b + 3 * 4096);
	/* REMAP, then (6.18) an UNMAP for the old range */
	ASSERT_GE(await_count(sb, 6), 6);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 5, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_REMAP);
	ASSERT_EQ(r.page, 0);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_fork_served, TMEM_NONE, UFFD_FEATURE_EVENT_FORK)
{
	if (TEST_TSAN)
		SKIP("under TSan, fork() holds TSan's internal locks while the kernel waits for "
		     "the "
		     "handler thread to read the FORK event, and that thread needs those locks: a "
		     "deadlock of TSan's fork interceptor, not of uffdbox (runs in other presets)");
	struct uffdbox_sandbox *sb = served(true, 0);
	static const char pat[] = {0x55};
	struct uffdbox_policy p = {
		.sz = sizeof(p), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 1};
	int ri = add(sb, "f", 2, &p);
	volatile char *b = base(sb, ri);
	ASSERT_EQ(b[0], 0x55);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* The child reads its copy; the untouched page never blocks. */
		_exit(b[0] == 0x55 && b[4096] == 0 ? 0 : 1);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	bool have_fork = uffdbox_uffd_features(uffdbox_sandbox_uffd(sb)) & UFFD_FEATURE_EVENT_FORK;
	struct uffdbox_record r;
	ASSERT_EQ(await_count(sb, have_fork ? 2 : 1), have_fork ? 2 : 1);
	if (have_fork) {
		ASSERT_OK(uffdbox_sandbox_log_get(sb, 1, &r));
		ASSERT_EQ(r.kind, UFFDBOX_EV_FORK);
	}
	uffdbox_sandbox_free(sb);
}

struct churn {
	volatile char *b;
	volatile bool stop;
};

static void *remove_main(void *arg)
{
	struct churn *c = arg;
	/* Bounded: a thread that changes the mm without pause starves every
	 * resolution (the kernel refuses them while its events are in flight). */
	for (int i = 0; i < 5000 && !c->stop; i++)
		madvise((void *)c->b, 4096, MADV_DONTNEED);
	return NULL;
}

TEST_CASE(sandbox_faults_during_remove_events, TMEM_NONE, UFFD_FEATURE_EVENT_REMOVE)
{
	/* Faults resolved while REMOVE events keep arriving: the kernel
	 * answers -EAGAIN while one is unread; the sandbox drains and retries,
	 * and no read ever sees wrong bytes or hangs. */
	struct uffdbox_sandbox *sb = served(true, 0);
	static const char pat[] = {0x21};
	struct uffdbox_policy p = {
		.sz = sizeof(p), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 1};
	int ri = add(sb, "churn", 64, &p);
	struct churn c = {.b = base(sb, ri)};
	pthread_t tr;
	ASSERT_EQ(pthread_create(&tr, NULL, remove_main, &c), 0);
	for (int round = 0; round < 200; round++) {
		for (int pg = 1; pg < 64; pg++)
			ASSERT_EQ(c.b[pg * 4096 + round], 0x21);
		ASSERT_EQ(madvise((void *)(c.b + 4096), 63 * 4096, MADV_DONTNEED), 0);
	}
	c.stop = true;
	pthread_join(tr, NULL);
	uffdbox_sandbox_free(sb);
}

/* Wait until thread @tid sleeps in a userfaultfd wait, or (the signal
 * backend) in its fault handler's wait for the page's claim (its wchan says
 * so): proof that its fault is in, not just about to be.  0 or -ETIMEDOUT. */
static int wait_in_uffd(pid_t tid, bool signals)
{
	char path[64], w[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(w, 1, sizeof(w) - 1, f) : 0;
		if (f)
			fclose(f);
		w[n] = 0;
		if (strstr(w, signals ? "nanosleep" : "userfault"))
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

TEST_CASE(sandbox_same_page_one_hold, TMEM_NONE, 0)
{
	/* Two threads fault on one page held by the pause policy: one held
	 * entry (core/fsm: the page is claimed by the held fault, the second
	 * message is absorbed), one release lets both go with its contents,
	 * one record. */
	struct uffdbox_sandbox *sb = served(false, 0);
	bool signals = uffdbox_uffd_backend(uffdbox_sandbox_uffd(sb)) == UFFDBOX_BACKEND_SIGNAL;
	if (TEST_TSAN && signals) {
		uffdbox_sandbox_free(sb);
		SKIP("TSan sees the waiting thread's faulting read, retried in a loop, race the "
		     "signal backend's in-place fill, which a protection change orders and TSan "
		     "cannot see (runs in other presets)");
	}
	int ri = add(sb, "race", 1, &pause_policy);
	struct reader a = {.addr = base(sb, ri) + 1}, b = {.addr = base(sb, ri) + 2};
	pthread_t ta, tb;
	struct uffdbox_paused pa;
	ASSERT_EQ(pthread_create(&ta, NULL, read_main, &a), 0);
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pa));
	ASSERT_EQ(pthread_create(&tb, NULL, read_main, &b), 0);
	while (!atomic_load(&b.tid))
		usleep(100);
	ASSERT_OK(wait_in_uffd(atomic_load(&b.tid), signals));
	/* its message is read (a drain waits for that), and absorbed */
	uffdbox_sandbox_log_reset(sb);
	struct uffdbox_paused all[4];
	ASSERT_EQ(uffdbox_sandbox_paused(sb, all, 4), 1);
	char page[4096];
	memset(page, 0x17, sizeof(page));
	ASSERT_OK(uffdbox_sandbox_release(sb, pa.id, page));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ASSERT_EQ(a.got, 0x17);
	ASSERT_EQ(b.got, 0x17);
	ASSERT_EQ(uffdbox_sandbox_paused(sb, all, 4), 0);
	uffdbox_sandbox_log_reset(sb); /* drains: any late duplicate is handled */
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 0);
	uffdbox_sandbox_free(sb);
}
