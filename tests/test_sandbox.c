/* SPDX-License-Identifier: MIT */
/* tests/test_sandbox.c - the harness: both transports, every policy and
 * source, write-protect tracking, the log, pause/release, the watchdog. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct sbx {
	struct uffdbox_sandbox *sb;
	char *p[4];
	size_t psz;
};

static struct uffdbox_sandbox *sandbox(enum uffdbox_transport tr, bool noncoop)
{
	char err[512] = "";
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = tr,
					 .noncooperative = noncoop,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	struct uffdbox_sandbox *sb;
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "sandbox_new: %s: %s", uffdbox_strerror(rc), err);
	return sb;
}

static int add(struct uffdbox_sandbox *sb, struct tctx *t, const char *name, size_t pages,
	       unsigned int modes, const struct uffdbox_policy *pol)
{
	char err[512] = "";
	struct uffdbox_region_opts ro = {.sz = sizeof(ro),
					 .mem = t->umem,
					 .pages = pages,
					 .modes = modes,
					 .name = name,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	int ri = uffdbox_sandbox_add_region(sb, &ro, pol);
	if (ri == -UFFDBOX_E_NOHUGE)
		SKIP("%s", err);
	if (ri < 0)
		test_fail(__FILE__, __LINE__, "add_region: %s: %s", uffdbox_strerror(ri), err);
	return ri;
}

static char *base(struct uffdbox_sandbox *sb, int ri)
{
	return uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
}

static size_t psize(struct uffdbox_sandbox *sb, int ri)
{
	return uffdbox_region_page_size(uffdbox_sandbox_region(sb, ri));
}

static void get(struct uffdbox_sandbox *sb, uint64_t seq, struct uffdbox_record *r)
{
	ASSERT_OK(uffdbox_sandbox_log_get(sb, seq, r));
	ASSERT_EQ(r->seq, seq);
}

static int fill_cb(void *arg, int region, uint64_t index, void *page, size_t len)
{
	(void)arg;
	(void)region;
	memset(page, (int)(0x40 + index), len / 2);
	return 0;
}

/* Each source, read back byte for byte, and its log record. */
static void sources(struct tctx *t, enum uffdbox_transport tr)
{
	struct uffdbox_sandbox *sb = sandbox(tr, false);
	size_t psz = t->page;
	static const char pat[] = "0123456789";
	char *buf = malloc(psz + 100);
	for (size_t i = 0; i < psz + 100; i++)
		buf[i] = (char)(i * 13);
	char path[] = "/tmp/uffdbox-test-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(write(fd, buf, 300), 300);

	struct uffdbox_policy pz = {.sz = sizeof(pz), .source = UFFDBOX_SOURCE_ZERO};
	struct uffdbox_policy pp = {
		.sz = sizeof(pp), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 10};
	struct uffdbox_policy pb = {.sz = sizeof(pb),
				    .source = UFFDBOX_SOURCE_BUFFER,
				    .data = buf,
				    .data_len = psz + 100};
	struct uffdbox_policy pf = {
		.sz = sizeof(pf), .source = UFFDBOX_SOURCE_FILE, .fd = fd, .fd_offset = 100};
	struct uffdbox_policy pc = {
		.sz = sizeof(pc), .source = UFFDBOX_SOURCE_CALLBACK, .fill = fill_cb};
	int rz = add(sb, t, "zero", 1, 0, &pz), rp = add(sb, t, "pattern", 2, 0, &pp),
	    rb = add(sb, t, "buffer", 3, 0, &pb), rf = add(sb, t, "file", 1, 0, &pf),
	    rc = add(sb, t, "callback", 2, 0, &pc);

	ASSERT_EQ(base(sb, rz)[psz - 1], 0);
	/* the pattern continues across pages */
	ASSERT_EQ(base(sb, rp)[psz + 3], pat[(psz + 3) % 10]);
	ASSERT_EQ(base(sb, rp)[0], '0');
	/* the buffer: page 1 has 100 bytes, then zeros; page 2 is all zeros */
	ASSERT_MEM_EQ(base(sb, rb) + psz, buf + psz, 100);
	ASSERT_EQ(base(sb, rb)[psz + 100], 0);
	ASSERT_EQ(base(sb, rb)[2 * psz + 7], 0);
	ASSERT_MEM_EQ(base(sb, rb), buf, psz);
	/* the file from offset 100: 200 bytes, then zeros */
	ASSERT_MEM_EQ(base(sb, rf), buf + 100, 200);
	ASSERT_EQ(base(sb, rf)[200], 0);
	/* the callback's half page, zeros after */
	ASSERT_EQ(base(sb, rc)[psz + 1], 0x41);
	ASSERT_EQ(base(sb, rc)[psz - 1 + psz], 0);

	/* zero, pattern p1, pattern p0, buffer p1, buffer p2, buffer p0, file,
	 * callback p1 */
	static const struct {
		int region_of;
		uint64_t page;
		uint8_t res;
	} want[] = {{0, 0, UFFDBOX_RES_ZERO},	 {1, 1, UFFDBOX_RES_PATTERN},
		    {1, 0, UFFDBOX_RES_PATTERN}, {2, 1, UFFDBOX_RES_BUFFER},
		    {2, 2, UFFDBOX_RES_BUFFER},	 {2, 0, UFFDBOX_RES_BUFFER},
		    {3, 0, UFFDBOX_RES_FILE},	 {4, 1, UFFDBOX_RES_CALLBACK}};
	int regions[] = {rz, rp, rb, rf, rc};
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 8);
	struct uffdbox_record r, r2;
	for (uint64_t i = 0; i < 8; i++) {
		get(sb, i, &r);
		ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
		ASSERT_EQ(r.region, regions[want[i].region_of]);
		ASSERT_EQ(r.page, want[i].page);
		ASSERT_EQ(r.resolution, want[i].res);
		ASSERT_EQ(r.access, UFFDBOX_ACCESS_READ);
		ASSERT_EQ(r.thread, 1);
		ASSERT_EQ(r.len, psz);
		ASSERT_NE(r.digest, 0);
	}
	/* buffer page 2 is all zeros: same digest as the zero page */
	get(sb, 0, &r);
	get(sb, 4, &r2);
	ASSERT_UEQ(r.digest, r2.digest);
	get(sb, 3, &r2);
	ASSERT(r.digest != r2.digest);
	/* exact offsets: sync always, served with EXACT_ADDRESS (5.18) or on
	 * the signal backend (the signal carries the address, whatever the
	 * mask says the kernel lacks) */
	get(sb, 1, &r);
	bool exact = tr == UFFDBOX_TRANSPORT_SYNC || !tfx_hidden(UFFD_FEATURE_EXACT_ADDRESS) ||
		     tfx_signal_backend();
	ASSERT_EQ(r.offset, exact ? 3 : 0);
	uffdbox_sandbox_free(sb);
	close(fd);
	free(buf);
}

TEST_CASE(sandbox_sources_sync, TMEM_ALL, UFFD_FEATURE_SIGBUS)
{
	sources(t, UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_sources_served, TMEM_ALL, 0)
{
	sources(t, UFFDBOX_TRANSPORT_SERVED);
}

struct wp_seen {
	int calls;
	unsigned char first;
	uint64_t page;
};

static void on_wp(void *arg, int region, uint64_t index, const void *page, size_t len)
{
	struct wp_seen *s = arg;
	(void)region;
	(void)len;
	s->calls++;
	s->page = index;
	s->first = *(const unsigned char *)page;
}

static void wp_tracking(struct tctx *t, enum uffdbox_transport tr)
{
	struct uffdbox_sandbox *sb = sandbox(tr, false);
	struct wp_seen seen = {0};
	static const char pat[] = {0x61};
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .action = UFFDBOX_POLICY_INJECT_WP,
				   .source = UFFDBOX_SOURCE_PATTERN,
				   .data = pat,
				   .data_len = 1,
				   .on_wp = on_wp,
				   .on_wp_arg = &seen};
	uint64_t need = t->mem == TMEM_ANON ? 0 : UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	if ((uffdbox_uffd_features(uffdbox_sandbox_uffd(sb)) & need) != need)
		SKIP("needs WP_HUGETLBFS_SHMEM");
	int ri = add(sb, t, "wp", 2, UFFDBOX_REG_WP, &p);
	/* volatile: the order of accesses is the order of faults */
	volatile char *b = base(sb, ri);
	size_t psz = psize(sb, ri);
	struct uffdbox_record r;

	ASSERT_EQ(b[psz + 5], 0x61); /* missing read: mapped protected */
	ASSERT_EQ(seen.calls, 0);
	b[psz + 6] = 0x62; /* first write: WP event with pre-write contents */
	ASSERT_EQ(seen.calls, 1);
	ASSERT_EQ(seen.page, 1);
	ASSERT_EQ(seen.first, 0x61);
	b[psz + 7] = 0x63; /* unprotected now: silent */
	ASSERT_EQ(seen.calls, 1);
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 2);
	get(sb, 1, &r);
	ASSERT_EQ(r.kind, UFFDBOX_EV_WP);
	ASSERT_EQ(r.access, UFFDBOX_ACCESS_WRITE);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_UNPROTECT);
	ASSERT_EQ(r.page, 1);
	ASSERT_EQ(r.offset, tr == UFFDBOX_TRANSPORT_SYNC ? 6 : r.offset);

	/* Write to an untouched page: missing (write) then WP. */
	b[3] = 0x64;
	ASSERT_EQ(b[3], 0x64);
	ASSERT_EQ(b[4], 0x61);
	ASSERT_EQ(seen.calls, 2);
	get(sb, 2, &r);
	ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(r.access, UFFDBOX_ACCESS_WRITE);
	get(sb, 3, &r);
	ASSERT_EQ(r.kind, UFFDBOX_EV_WP);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_wp_tracking_sync, TMEM_ALL, UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	wp_tracking(t, UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_wp_tracking_served, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	wp_tracking(t, UFFDBOX_TRANSPORT_SERVED);
}

static sigjmp_buf poison_jmp;
static void *volatile poison_addr;
static void poison_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	poison_addr = si->si_addr;
	siglongjmp(poison_jmp, 1);
}

static void poison(struct tctx *t, enum uffdbox_transport tr)
{
	/* The target's own SIGBUS handler, installed first: uffdbox must pass
	 * it the poison SIGBUS (and keep its own uffd SIGBUS in SYNC). */
	struct sigaction sa = {.sa_sigaction = poison_handler, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGBUS, &sa, NULL), 0);
	struct uffdbox_sandbox *sb = sandbox(tr, false);
	struct uffdbox_policy p = {.sz = sizeof(p), .action = UFFDBOX_POLICY_POISON};
	int ri = add(sb, t, "poison", 1, 0, &p);
	volatile char *b = base(sb, ri);
	int hits = 0;
	if (sigsetjmp(poison_jmp, 1) == 0)
		(void)b[10];
	else
		hits++;
	ASSERT_EQ(hits, 1);
	ASSERT_PTR_EQ(poison_addr, b + 10);
	if (sigsetjmp(poison_jmp, 1) == 0)
		b[11] = 1;
	else
		hits++;
	ASSERT_EQ(hits, 2);
	struct uffdbox_record r;
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 1);
	get(sb, 0, &r);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_POISON);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_poison_sync, TMEM_ALL, UFFD_FEATURE_SIGBUS | UFFD_FEATURE_POISON)
{
	poison(t, UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_poison_served, TMEM_ALL, UFFD_FEATURE_POISON)
{
	poison(t, UFFDBOX_TRANSPORT_SERVED);
}

struct abort_arg {
	struct tctx *t;
	enum uffdbox_transport tr;
};

static void abort_body(void *arg)
{
	struct abort_arg *a = arg;
	struct uffdbox_sandbox *sb = sandbox(a->tr, false);
	struct uffdbox_policy p = {.sz = sizeof(p), .action = UFFDBOX_POLICY_ABORT};
	int ri = add(sb, a->t, "trap", 2, 0, &p);
	base(sb, ri)[psize(sb, ri) + 9] = 1;
}

static void abort_policy(struct tctx *t, enum uffdbox_transport tr)
{
	struct abort_arg a = {t, tr};
	char out[512];
	int status = tfx_run_child(abort_body, &a, out, sizeof(out));
	ASSERT(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_CONTAINS(out, "WRITE of region \"trap\" page 1 offset");
	ASSERT_CONTAINS(out, "report-and-abort");
}

TEST_CASE(sandbox_abort_sync, TMEM_ANON, UFFD_FEATURE_SIGBUS)
{
	abort_policy(t, UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_abort_served, TMEM_ANON, 0)
{
	abort_policy(t, UFFDBOX_TRANSPORT_SERVED);
}

static void wp_quiet(void *arg, int region, uint64_t index, const void *page, size_t len)
{
	(void)region, (void)index, (void)page, (void)len;
	atomic_fetch_add((_Atomic int *)arg, 1); /* SERVED: the handler's thread */
}

/* Reads and writes over an INJECT_WP region, with or without an on_wp
 * callback; the log's digest and record count. */
static uint64_t wp_writes_first(struct tctx *t, enum uffdbox_transport tr, bool callback,
				uint64_t *count)
{
	struct uffdbox_sandbox *sb = sandbox(tr, false);
	static const char pat[] = {0x41, 0x42};
	_Atomic int calls = 0;
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .action = UFFDBOX_POLICY_INJECT_WP,
				   .source = UFFDBOX_SOURCE_PATTERN,
				   .data = pat,
				   .data_len = 2,
				   .on_wp = callback ? wp_quiet : NULL,
				   .on_wp_arg = &calls};
	int ri = add(sb, t, "wp", 3, UFFDBOX_REG_WP, &p);
	volatile char *b = base(sb, ri);
	size_t psz = psize(sb, ri);
	struct uffdbox_record r;

	b[5] = 0x7a; /* the first access is a write: missing, then WP */
	ASSERT_EQ(b[5], 0x7a);
	ASSERT_EQ(b[4], 0x41);
	ASSERT_EQ(b[7], 0x42);
	ASSERT_EQ(b[2 * psz + 1], 0x42); /* a read: missing, mapped protected */
	b[2 * psz + 1] = 0x7b;		 /* then its first write: WP */
	b[psz] = 0x7c;			 /* another write first */
	b[psz + 1] = 0x7d;		 /* unprotected: silent */
	ASSERT_EQ(b[psz], 0x7c);
	ASSERT_EQ(b[psz + 2], 0x41);
	ASSERT_EQ(atomic_load(&calls), callback ? 3 : 0);
	*count = uffdbox_sandbox_log_count(sb);
	ASSERT_EQ(*count, 6);
	get(sb, 0, &r);
	ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(r.access, UFFDBOX_ACCESS_WRITE);
	get(sb, 1, &r);
	ASSERT_EQ(r.kind, UFFDBOX_EV_WP);
	ASSERT_EQ(r.access, UFFDBOX_ACCESS_WRITE);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_UNPROTECT);
	ASSERT_EQ(r.page, 0);
	uint64_t d = uffdbox_sandbox_log_digest(sb);
	uffdbox_sandbox_free(sb);
	return d;
}

/* Without a callback a write that finds the page missing is resolved in one
 * round trip (page mapped writable, both events recorded); the log must be
 * what the two round trips make. */
static void wp_write_first_same_log(struct tctx *t, enum uffdbox_transport tr)
{
	struct uffdbox_sandbox *probe = sandbox(tr, false);
	uint64_t need = t->mem == TMEM_ANON ? 0 : UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	bool ok = (uffdbox_uffd_features(uffdbox_sandbox_uffd(probe)) & need) == need;
	uffdbox_sandbox_free(probe);
	if (!ok)
		SKIP("needs WP_HUGETLBFS_SHMEM");
	uint64_t n1, n2;
	uint64_t two_trips = wp_writes_first(t, tr, true, &n1);
	uint64_t one_trip = wp_writes_first(t, tr, false, &n2);
	ASSERT_EQ(n1, n2);
	ASSERT_EQ(one_trip, two_trips);
}

TEST_CASE(sandbox_wp_write_first_sync, TMEM_ALL,
	  UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	wp_write_first_same_log(t, UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_wp_write_first_served, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	wp_write_first_same_log(t, UFFDBOX_TRANSPORT_SERVED);
}

TEST_CASE(sandbox_bad_policies, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	struct tctx anon = {.mem = TMEM_ANON, .umem = UFFDBOX_MEM_ANON, .page = 4096};
	struct uffdbox_sandbox *sb = sandbox(UFFDBOX_TRANSPORT_SYNC, false);
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "r"};
	struct uffdbox_policy p = {.sz = sizeof(p), .action = UFFDBOX_POLICY_PAUSE};
	/* SYNC: nobody could release a paused thread. */
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &p), -EINVAL);
	p = (struct uffdbox_policy){.sz = sizeof(p), .source = UFFDBOX_SOURCE_PATTERN};
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &p), -EINVAL);
	p = (struct uffdbox_policy){.sz = sizeof(p), .action = UFFDBOX_POLICY_INJECT_WP};
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &p), -EINVAL); /* no WP registration */
	p = (struct uffdbox_policy){.sz = sizeof(p), .source = UFFDBOX_SOURCE_FILE, .fd = -1};
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &p), -EBADF);
	int ri = add(sb, &anon, "ok", 1, 0, NULL);
	ASSERT_EQ(ri, 0);
	p = (struct uffdbox_policy){.sz = sizeof(p), .source = UFFDBOX_SOURCE_CALLBACK};
	ASSERT_ERR(uffdbox_sandbox_set_policy(sb, ri, &p), -EINVAL);
	ASSERT_ERR(uffdbox_sandbox_set_policy(sb, 5, NULL), -EINVAL);
	struct uffdbox_paused pz;
	ASSERT_ERR(uffdbox_sandbox_wait_paused(sb, -1, UINT64_MAX, 10, &pz), -EINVAL);
	/* One SYNC sandbox at a time owns SIGBUS. */
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o)};
	struct uffdbox_sandbox *sb2;
	ASSERT_ERR(uffdbox_sandbox_new(&o, &sb2), -EBUSY);
	o.noncooperative = true;
	ASSERT_ERR(uffdbox_sandbox_new(&o, &sb2), -EINVAL);
	uffdbox_sandbox_free(sb);
}

/* --- SIGBUS chaining ---------------------------------------------------- */

static volatile sig_atomic_t prev_calls;
static void prev_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	prev_calls++;
}

TEST_CASE(sandbox_sync_chains_foreign_sigbus, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	struct sigaction sa = {.sa_sigaction = prev_handler, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGBUS, &sa, NULL), 0);
	struct uffdbox_sandbox *sb = sandbox(UFFDBOX_TRANSPORT_SYNC, false);
	struct tctx anon = {.mem = TMEM_ANON, .umem = UFFDBOX_MEM_ANON, .page = 4096};
	int ri = add(sb, &anon, "r", 1, 0, NULL);
	ASSERT_EQ(base(sb, ri)[0], 0); /* ours: resolved, not chained */
	ASSERT_EQ(prev_calls, 0);
	/* A SIGBUS sent by someone: the previous handler's. */
	ASSERT_EQ(raise(SIGBUS), 0);
	ASSERT_EQ(prev_calls, 1);
	/* A real SIGBUS outside every region (past the end of a file): also
	 * the previous handler's, which here "fixes" it by mapping the page. */
	uffdbox_sandbox_free(sb);
	struct sigaction cur;
	ASSERT_EQ(sigaction(SIGBUS, NULL, &cur), 0);
	ASSERT(cur.sa_sigaction == prev_handler); /* put back on free */
}

TEST_CASE(sandbox_sync_foreign_fault_kills_with_default, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct uffdbox_sandbox *sb = sandbox(UFFDBOX_TRANSPORT_SYNC, false);
		(void)sb;
		/* A file mapping past EOF: a real SIGBUS that is not ours. */
		char path[] = "/tmp/uffdbox-sigbus-XXXXXX";
		int fd = mkstemp(path);
		unlink(path);
		char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		(void)*(volatile char *)m;
		_exit(0);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	/* (Under ASan the previous handler is ASan's: a report, exit 1.) */
	ASSERT(TEST_DIED_OF(status, SIGBUS));
}
