/* SPDX-License-Identifier: MIT */
/*
 * tests/test_sigbackend.c - the signal backend (no userfaultfd): the same
 * records and digests as a userfaultfd for the same run, its VMA budget, its
 * documented limits, and how it is chosen (UFFDBOX_BACKEND, seccomp).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

static void use_backend(const char *name)
{
	ASSERT_EQ(setenv("UFFDBOX_BACKEND", name, 1), 0);
}

static int add(struct uffdbox_sandbox *sb, const char *name, size_t pages, unsigned int modes,
	       const struct uffdbox_policy *pol)
{
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = pages, .name = name, .modes = modes};
	int ri = uffdbox_sandbox_add_region(sb, &ro, pol);
	ASSERT_OK(ri);
	return ri;
}

static long map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int c;
	ASSERT(f != NULL);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Mappings overlapping [a, b): what a region's own protection changes
 * split, whatever else (a sanitizer's runtime) maps meanwhile. */
static long map_count_in(uintptr_t a, uintptr_t b)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	long n = 0;
	ASSERT(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < b && e > a)
			n++;
	}
	fclose(f);
	return n;
}

/* A report record's frames name the test's own call sites (file, line,
 * offset): cut them, so two schedules compare by what happened. */
static void cut_frames(char *j)
{
	char *p;
	while ((p = strstr(j, ",\"frames\":")) != NULL) {
		char *eol = strchr(p, '\n');
		size_t rest = eol ? strlen(eol) : 0;
		p[0] = '}';
		memmove(p + 1, eol ? eol : p + strlen(p), rest + 1);
		j = p + 1;
	}
}

/*
 * One deterministic single-threaded schedule touching every kind of event
 * the SYNC transport records: missing pages from a buffer, a pattern and
 * zeros; write-first and read-then-write on INJECT_WP pages; a reset; a
 * re-armed WP region; an unmap and a stale access let go on (uau_continue).
 */
static uint64_t schedule(char **jsonl, size_t *len, enum uffdbox_backend *used)
{
	char err[1024] = "";
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = UFFDBOX_TRANSPORT_SYNC,
					 .uau_continue = true,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	struct uffdbox_sandbox *sb;
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "sandbox_new: %s: %s", uffdbox_strerror(rc), err);
	*used = uffdbox_uffd_backend(uffdbox_sandbox_uffd(sb));
	static unsigned char input[5 * 4096 + 77];
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (unsigned char)(i * 13 + (i >> 9));
	struct uffdbox_policy in = {.sz = sizeof(in),
				    .source = UFFDBOX_SOURCE_BUFFER,
				    .data = input,
				    .data_len = sizeof(input)};
	struct uffdbox_policy pat = {.sz = sizeof(pat),
				     .source = UFFDBOX_SOURCE_PATTERN,
				     .data = "ab\x01",
				     .data_len = 3};
	struct uffdbox_policy wp = {.sz = sizeof(wp), .action = UFFDBOX_POLICY_INJECT_WP};
	int ri = add(sb, "input", 8, 0, &in);
	int rp = add(sb, "pattern", 4, 0, &pat);
	int rz = add(sb, "zeros", 4, 0, NULL);
	int rw = add(sb, "state", 6, UFFDBOX_REG_WP, &wp);
	volatile char *a = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, rp));
	volatile char *z = uffdbox_region_addr(uffdbox_sandbox_region(sb, rz));
	volatile char *w = uffdbox_region_addr(uffdbox_sandbox_region(sb, rw));
	unsigned int sum = 0;
	for (int i = 0; i < 12; i++) {
		size_t page = input[i * 17] % 8, off = input[i * 29] % 4096;
		sum += (unsigned char)a[page * 4096 + off];
		sum += (unsigned char)p[(sum % 4) * 4096 + (sum % 4096)];
		if (i % 3 == 0)
			z[(sum % 4) * 4096 + 9] = 1; /* a write: its own zeroed page */
		else
			sum += (unsigned char)z[(sum % 4) * 4096];
		if (i % 2)
			w[(sum % 6) * 4096 + (sum % 4000)] = (char)sum; /* write first */
		else
			sum += (unsigned char)w[(sum % 6) * 4096]; /* read: mapped protected */
	}
	w[0] = 1; /* a WP fault if page 0 was read above */
	ASSERT_OK(uffdbox_sandbox_reset_region(sb, rw, true));
	sum += (unsigned char)w[4096 + 5];
	w[4096 + 6] = 2;
	ASSERT_OK(uffdbox_sandbox_reset(sb));
	sum += (unsigned char)a[3 * 4096 + 1];
	ASSERT_OK(uffdbox_sandbox_unmap_region(sb, rp));
	/* A stale read, reported once and let go on (quietly here: stderr is
	 * the report, compared through the records). */
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT(saved >= 0 && devnull >= 0);
	dup2(devnull, 2);
	sum += (unsigned char)p[2 * 4096 + 3];
	dup2(saved, 2);
	close(saved);
	close(devnull);
	ASSERT(sum != 0xdeadbeef); /* used */
	uint64_t d = uffdbox_sandbox_log_digest(sb);
	FILE *f = open_memstream(jsonl, len);
	ASSERT_GE(uffdbox_sandbox_log_write(sb, f), 1);
	fclose(f);
	ASSERT_GE(uffdbox_sandbox_log_count(sb), 30);
	uffdbox_sandbox_free(sb);
	return d;
}

/* Also without WP_UNPOPULATED (the legacy passes): re-arming then populates
 * the pages write-protected, and the fsm is told so. */
TEST_CASE(sigbackend_same_records_as_uffd, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	char *ju = NULL, *js = NULL;
	size_t lu = 0, ls = 0;
	enum uffdbox_backend b;
	use_backend("uffd");
	struct uffdbox_uffd *u;
	char err[1024] = "";
	struct uffdbox_uffd_opts uo = {.sz = sizeof(uo),
				       .need_features =
					       UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP,
				       .errbuf = err,
				       .errbuf_len = sizeof(err)};
	if (uffdbox_uffd_open(&uo, &u) < 0)
		SKIP("no userfaultfd to compare with: %s", err);
	uffdbox_uffd_close(u);
	uint64_t du = schedule(&ju, &lu, &b);
	ASSERT_EQ(b, UFFDBOX_BACKEND_UFFD);
	use_backend("signal");
	uint64_t ds = schedule(&js, &ls, &b);
	ASSERT_EQ(b, UFFDBOX_BACKEND_SIGNAL);
	ASSERT_CONTAINS(ju, "{\"kind\":\"report\",\"bug\":\"use-after-unmap\"");
	cut_frames(ju);
	cut_frames(js);
	ASSERT_STR_EQ(js, ju);
	ASSERT_UEQ(ds, du);
	free(ju);
	free(js);
}

/* Where the kernel has no guard markers (before 6.13; hugetlb), missing
 * pages are PROT_NONE: the same records, byte for byte. */
TEST_CASE(sigbackend_prot_none_same_records, TMEM_NONE, 0)
{
	char *jg = NULL, *jn = NULL;
	size_t lg = 0, ln = 0;
	enum uffdbox_backend b;
	use_backend("signal");
	uint64_t dg = schedule(&jg, &lg, &b);
	ASSERT_EQ(setenv("UFFDBOX_SIGNAL_NO_GUARD", "1", 1), 0);
	uint64_t dn = schedule(&jn, &ln, &b);
	ASSERT_EQ(b, UFFDBOX_BACKEND_SIGNAL);
	cut_frames(jg);
	cut_frames(jn);
	ASSERT_STR_EQ(jn, jg);
	ASSERT_UEQ(dn, dg);
	free(jg);
	free(jn);
}

/* PROT_NONE missing pages: every resolved page amid missing ones splits the
 * mapping; past the budget the fault stops with the reason. */
static void alternating_body(void *arg)
{
	(void)arg;
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		_exit(3);
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 400, .name = "alt"};
	int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
	if (ri < 0)
		_exit(4);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	long before = map_count();
	for (size_t i = 0; i < 400; i += 2) {
		p[i * 4096] = 1;
		if (map_count() - before > 60)
			_exit(5); /* the budget did not hold */
	}
	_exit(0); /* not reached: 200 pages need ~400 splits */
}

TEST_CASE(sigbackend_prot_none_split_budget, TMEM_NONE, 0)
{
	char err[4096];
	use_backend("signal");
	ASSERT_EQ(setenv("UFFDBOX_SIGNAL_NO_GUARD", "1", 1), 0);
	ASSERT_EQ(setenv("UFFDBOX_SIGNAL_MAX_SPLITS", "50", 1), 0);
	int status = tfx_run_child(alternating_body, NULL, err, sizeof(err));
	ASSERT(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_CONTAINS(err, "budget of VMA splits");
}

/* Resolving pages one by one in any order never splits a region's mapping
 * (missing pages are guard markers): a large region with every other page
 * touched costs no VMA. */
TEST_CASE(sigbackend_alternating_pages_no_vma_growth, TMEM_NONE, 0)
{
	use_backend("signal");
	unsetenv("UFFDBOX_SIGNAL_NO_GUARD"); /* this case is about the markers */
	if (uffdbox_guard_supported() != 1)
		SKIP("this kernel has no guard markers (MADV_GUARD_INSTALL, 6.13): missing pages "
		     "are PROT_NONE there, bounded by the split budget instead");
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	enum { PAGES = 40000 }; /* 20000 touched: over half of vm.max_map_count's default */
	int ri = add(sb, "big", PAGES, 0, NULL);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	uintptr_t lo = (uintptr_t)p - 4096, hi = (uintptr_t)p + PAGES * 4096UL + 4096;
	long before = map_count_in(lo, hi);
	for (size_t i = 0; i < PAGES; i += 2)
		p[i * 4096 + 1] = (char)i; /* writes: read-write pages amid missing ones */
	long after = map_count_in(lo, hi);
	/* Not one per page (20000): none at all in the region and its guards
	 * (counted there only: a sanitizer's runtime maps memory of its own
	 * while the loop runs, TSan once one more than a bound of 16). */
	ASSERT_LE(after - before, 0);
	ASSERT_EQ(p[2 * 4096 + 1], 2);
	ASSERT_EQ(p[3 * 4096 + 1], 0); /* a missing page: zeros, faulted now */
	ASSERT_UEQ(uffdbox_sandbox_log_count(sb), PAGES / 2 + 1);
	uffdbox_sandbox_free(sb);
}

/* Write-protected pages amid writable ones do split the mapping: past the
 * budget the fault is refused with the reason, never by exhausting
 * vm.max_map_count (where every later mmap, malloc's too, would fail). */
static void wp_interleaved_body(void *arg)
{
	(void)arg;
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		_exit(3);
	struct uffdbox_policy wp = {.sz = sizeof(wp), .action = UFFDBOX_POLICY_INJECT_WP};
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = 400, .name = "wp", .modes = UFFDBOX_REG_WP};
	int ri = uffdbox_sandbox_add_region(sb, &ro, &wp);
	if (ri < 0)
		_exit(4);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	long before = map_count();
	unsigned int sum = 0;
	for (size_t i = 0; i < 400; i += 2) {
		sum += (unsigned char)p[i * 4096]; /* mapped write-protected */
		p[i * 4096 + 1] = 1;		   /* and unprotected: no split left */
		if (map_count() - before > 60)
			_exit(5); /* the budget did not hold */
	}
	/* Now protected pages between writable ones: every read splits. */
	for (size_t i = 1; i < 400; i += 2) {
		sum += (unsigned char)p[i * 4096];
		if (map_count() - before > 60)
			_exit(5);
	}
	_exit(sum == 0xdeadbeef ? 6 : 0); /* not reached: the budget stops it first */
}

TEST_CASE(sigbackend_split_budget, TMEM_NONE, 0)
{
	char err[4096];
	use_backend("signal");
	ASSERT_EQ(setenv("UFFDBOX_SIGNAL_MAX_SPLITS", "50", 1), 0);
	int status = tfx_run_child(wp_interleaved_body, NULL, err, sizeof(err));
	ASSERT(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_CONTAINS(err, "could not be resolved");
	ASSERT_CONTAINS(err, "budget of VMA splits");
}

/* The documented limit: an access made inside the kernel does not trap, it
 * fails with EFAULT (as with a user-mode-only userfaultfd). */
TEST_CASE(sigbackend_kernel_access_efault, TMEM_NONE, 0)
{
	use_backend("signal");
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	int ri = add(sb, "buf", 2, 0, NULL);
	char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	errno = 0;
	ASSERT_EQ(read(fd, p, 16), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_UEQ(uffdbox_sandbox_log_count(sb), 0);
	/* Touched from user space first, the page takes the read. */
	p[0] = 0;
	ASSERT_GT(read(fd, p, 16), 0);
	close(fd);
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sigbackend_forced_and_refusals, TMEM_NONE, 0)
{
	char err[1024] = "";
	struct uffdbox_uffd *u;
	struct uffdbox_uffd_opts o = {.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
	use_backend("signal");
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_EQ(uffdbox_uffd_backend(u), UFFDBOX_BACKEND_SIGNAL);
	ASSERT_GE(uffdbox_uffd_fd(u), 0); /* the SERVED thread's eventfd */
	char buf[32];
	ASSERT_ERR(uffdbox_uffd_read(u, buf, sizeof(buf)), -EAGAIN);
	uffdbox_uffd_close(u);
	/* What signals cannot do is refused with the reason. */
	o.need_features = UFFD_FEATURE_MINOR_SHMEM;
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -UFFDBOX_E_NOFEATURE);
	ASSERT_CONTAINS(err, "MINOR_SHMEM");
	o.need_features = 0;
	o.kernel_faults = true;
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -UFFDBOX_E_DENIED);
	ASSERT_CONTAINS(err, "inside the kernel");
	o.kernel_faults = false;
	use_backend("bogus");
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -EINVAL);
	ASSERT_CONTAINS(err, "UFFDBOX_BACKEND=\"bogus\"");
	uint64_t f;
	ASSERT_ERR(uffdbox_uffd_probe(&o, &f, NULL), -EINVAL);
}

/* Denied by a seccomp filter (a container's default profile): the error
 * names the filter, not the sysctl or the device; with the backend left to
 * auto, the signal backend stands in. */
TEST_CASE(sigbackend_seccomp_named, TMEM_NONE, 0)
{
	char err[1024] = "";
	struct uffdbox_uffd *u;
	struct uffdbox_uffd_opts o = {.sz = sizeof(o),
				      .methods = UFFDBOX_OPEN_SYSCALL_USER | UFFDBOX_OPEN_SYSCALL,
				      .errbuf = err,
				      .errbuf_len = sizeof(err)};
	unsetenv("UFFDBOX_BACKEND");
	tfx_seccomp_userfaultfd(EPERM, false);
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -UFFDBOX_E_DENIED);
	ASSERT_CONTAINS(err, "seccomp filter");
	ASSERT_CONTAINS(err, "Seccomp: 2");
	ASSERT_CONTAINS(err, "UFFDBOX_BACKEND=signal");
	ASSERT(!strstr(err, "vm.unprivileged_userfaultfd"));
	/* The default sandbox: signals when the device is no way out either. */
	struct uffdbox_sandbox_opts so = {.sz = sizeof(so), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&so, &sb));
	enum uffdbox_backend b = uffdbox_uffd_backend(uffdbox_sandbox_uffd(sb));
	if (access("/dev/userfaultfd", R_OK | W_OK) != 0)
		ASSERT_EQ(b, UFFDBOX_BACKEND_SIGNAL);
	int ri = add(sb, "x", 1, 0, NULL);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	p[5] = 7;
	ASSERT_EQ(p[5], 7);
	ASSERT_UEQ(uffdbox_sandbox_log_count(sb), 1);
	uffdbox_sandbox_free(sb);
}

/* Poison without a userfaultfd: the access is the target's SIGBUS still. */
static void poison_body(void *arg)
{
	(void)arg;
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		_exit(3);
	struct uffdbox_policy pol = {.sz = sizeof(pol), .action = UFFDBOX_POLICY_POISON};
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "bad"};
	int ri = uffdbox_sandbox_add_region(sb, &ro, &pol);
	if (ri < 0)
		_exit(4);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	_exit(p[0] == 42 ? 5 : 6);
}

TEST_CASE(sigbackend_poison_is_sigbus, TMEM_NONE, UFFD_FEATURE_POISON)
{
	char err[512];
	use_backend("signal");
	int status = tfx_run_child(poison_body, NULL, err, sizeof(err));
	ASSERT(TEST_DIED_OF(status, SIGBUS));
}

/*
 * The backend finds a page's range by a binary search over its ranges by
 * address: ranges registered in any order, holes left by unregistering,
 * slots reused, a range that would contain another refused.  Each page is
 * resolved through the lookup (a copy into an unregistered page is
 * -ENOENT) and holds what was copied.
 */
TEST_CASE(sigbackend_lookup_many_ranges, TMEM_NONE, 0)
{
	enum { N = 1024 }; /* 1-page ranges at pages 2i, gaps between */
	static int order[N];
	static bool reg[N];
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	struct uffdbox_uffd *u;
	struct uffdbox_uffd_opts o = {.sz = sizeof(o)};

	use_backend("signal");
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	char *base = mmap(NULL, (2 * N + 2) * psz, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(base != MAP_FAILED);
	base += psz; /* page -1 of the layout is ours too */
	/* A fixed shuffle (LCG, Fisher-Yates). */
	uint32_t x = 12345;
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		x = x * 1103515245u + 12345u;
		int j = (int)((x >> 8) % (uint32_t)(i + 1)), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (int k = 0; k < N; k++) {
		int i = order[k];
		ASSERT_OK(uffdbox_uffd_register(u, base + 2 * (size_t)i * psz, psz,
						UFFDBOX_REG_MISSING, NULL));
		reg[i] = true;
	}
	/* Overlaps, whichever end: the same range, one starting in the
	 * gap before it, and one holding it whole (both its ends in gaps). */
	for (int i = 1; i < N; i += 97) {
		char *r = base + 2 * (size_t)i * psz;
		ASSERT_ERR(uffdbox_uffd_register(u, r, psz, UFFDBOX_REG_MISSING, NULL), -EBUSY);
		ASSERT_ERR(uffdbox_uffd_register(u, r - psz, 2 * psz, UFFDBOX_REG_MISSING, NULL),
			   -EBUSY);
		ASSERT_ERR(uffdbox_uffd_register(u, r - psz, 3 * psz, UFFDBOX_REG_MISSING, NULL),
			   -EBUSY);
	}
	/* Holes: every third range in shuffled order goes; half of those
	 * come back (into freed slots, at their old places). */
	for (int k = 0; k < N; k++) {
		int i = order[k];
		if (i % 3 == 0) {
			ASSERT_OK(uffdbox_uffd_unregister(u, base + 2 * (size_t)i * psz, psz));
			reg[i] = false;
		}
	}
	for (int k = N - 1; k >= 0; k--) {
		int i = order[k];
		if (i % 6 == 0) {
			ASSERT_OK(uffdbox_uffd_register(u, base + 2 * (size_t)i * psz, psz,
							UFFDBOX_REG_MISSING, NULL));
			reg[i] = true;
		}
	}
	/* Every page of the layout, ranges and gaps, resolved by lookup. */
	char *src = malloc(psz);
	ASSERT_NOT_NULL(src);
	int found = 0;
	for (int pg = -1; pg < 2 * N + 1; pg++) {
		char *p = base + (ptrdiff_t)pg * (ptrdiff_t)psz;
		bool want = pg >= 0 && pg % 2 == 0 && pg / 2 < N && reg[pg / 2];
		memset(src, (pg & 0x7f) + 1, psz);
		ssize_t r = uffdbox_uffd_copy(u, p, src, psz, 0);
		if (want) {
			ASSERT_EQ(r, (ssize_t)psz);
			ASSERT_EQ(p[psz - 1], (char)((pg & 0x7f) + 1));
			found++;
		} else if (r != -ENOENT) {
			test_fail(__FILE__, __LINE__,
				  "page %d (%s): copy gave %zd, expected -ENOENT", pg,
				  pg % 2 ? "a gap" : "unregistered", r);
		}
	}
	ASSERT_EQ(found, 1024 - 342 + 171); /* i % 3 == 0: 342 gone; i % 6 == 0: 171 back */
	free(src);
	uffdbox_uffd_close(u); /* unregisters what is left */
	munmap(base - psz, (2 * N + 2) * psz);
}

static void *idle_thread(void *arg)
{
	return arg;
}

/*
 * Fills hidden until complete (a process with threads) write through
 * /proc/self/mem; a forked child must write its own memory with it, never
 * its parent's: a fill in the child leaves the parent's page missing, and
 * the parent's own fill after the fork still works.
 */
TEST_CASE(sigbackend_hidden_fill_after_fork, TMEM_NONE, 0)
{
	use_backend("signal");
	/* PROT_NONE pages, which /proc/self/mem can read and write (a guard
	 * marker stops it): a child's write to its parent would show */
	ASSERT_EQ(setenv("UFFDBOX_SIGNAL_NO_GUARD", "1", 1), 0);
	pthread_t th; /* a thread started: fills are hidden from here on */
	ASSERT_EQ(pthread_create(&th, NULL, idle_thread, NULL), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	static const char pat[] = {'p'};
	struct uffdbox_policy pol = {
		.sz = sizeof(pol), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 1};
	int ri = add(sb, "r", 4, 0, &pol);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	ASSERT_EQ(p[0], 'p'); /* the parent's first fill opens /proc/self/mem */
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		/* the child's fill of page 1, then page 2's of the parent's
		 * (below) must not have happened here */
		_exit(p[4096] == 'p' && p[2 * 4096] == 'p' ? 0 : 1);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* page 1 is still missing and empty here: the child's fill went to
	 * the child */
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 1);
	char got[4096];
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	ASSERT(mem >= 0);
	ASSERT_EQ(pread(mem, got, sizeof(got), (off_t)(uintptr_t)(p + 4096)), (ssize_t)sizeof(got));
	close(mem);
	for (size_t i = 0; i < sizeof(got); i++)
		if (got[i])
			test_fail(__FILE__, __LINE__,
				  "the parent's missing page holds %#x at %zu: the child wrote it",
				  (unsigned)(unsigned char)got[i], i);
	ASSERT_EQ(p[4096], 'p');
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 2);
	uffdbox_sandbox_free(sb);
}
