/* SPDX-License-Identifier: MIT */
/* tests/test_quarantine.c - unmapping a sandbox region into quarantine: a
 * later access is named, located and reported, never read silently. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

__attribute__((noinline)) static char stale_read_here(volatile char *p)
{
	return p[4096 + 17];
}

__attribute__((noinline)) static void unmap_it(struct uffdbox_sandbox *sb, int ri)
{
	ASSERT_OK(uffdbox_sandbox_unmap_region(sb, ri));
}

struct child_arg {
	void (*body)(enum uffdbox_transport);
	enum uffdbox_transport tr;
};

static void child_main(void *arg)
{
	struct child_arg *c = arg;
	c->body(c->tr);
}

/* Run @body(@tr) in a child with stderr captured; returns the wait status. */
static int in_child(void (*body)(enum uffdbox_transport), enum uffdbox_transport tr, char *err,
		    size_t len)
{
	struct child_arg c = {body, tr};
	return tfx_run_child(child_main, &c, err, len);
}

static void stale_body(enum uffdbox_transport tr)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = tr};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		_exit(3);
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 2, .name = "buf"};
	int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	p[4096 + 17] = 'x';
	unmap_it(sb, ri);
	(void)stale_read_here(p);
	_exit(0); /* not reached: abort() */
}

static void stale(enum uffdbox_transport tr)
{
	char err[8192];
	int status = in_child(stale_body, tr, err, sizeof(err));
	ASSERT(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_CONTAINS(err, "ERROR: uffdbox: use-after-unmap READ at 0x");
	ASSERT_CONTAINS(err, "by thread T1");
	/* SERVED reports the page without EXACT_ADDRESS (before 5.18) - over a
	 * userfaultfd: on the signal backend the signal carries the address */
	if (tr == UFFDBOX_TRANSPORT_SYNC || !tfx_hidden(UFFD_FEATURE_EXACT_ADDRESS) ||
	    tfx_signal_backend())
		ASSERT_CONTAINS(err, "is 4113 bytes inside region \"buf\" [0x");
	else
		ASSERT_CONTAINS(err, "is 4096 bytes inside region \"buf\" [0x");
	ASSERT_CONTAINS(err, "unmapped at event #1 by thread T1");
	if (!TEST_TSAN)
		ASSERT_CONTAINS(err, "in unmap_it");
	/* Under the signal backend a SERVED fault is a signal in the faulting
	 * thread too: its stack is there to print. */
	bool in_thread = tr == UFFDBOX_TRANSPORT_SYNC || tfx_signal_backend();
	if (in_thread)
		ASSERT_CONTAINS(err, "#0 0x");
	if (!in_thread)
		ASSERT_CONTAINS(err, "not available with the SERVED transport");
	else if (!TEST_TSAN) /* TSan builds print raw frames (report.c) */
		ASSERT_CONTAINS(err, "in stale_read_here");
	ASSERT_CONTAINS(err, "SUMMARY: uffdbox: use-after-unmap READ");
}

TEST_CASE(quarantine_report_sync, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	stale(UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(quarantine_report_served, TMEM_NONE, 0)
{
	stale(UFFDBOX_TRANSPORT_SERVED);
}

TEST_CASE(quarantine_continue_and_log, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .uau_continue = true};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "q"};
	int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	p[0] = 'a';
	ASSERT_OK(uffdbox_sandbox_unmap_region(sb, ri));
	ASSERT_ERR(uffdbox_sandbox_unmap_region(sb, ri), -EINVAL);
	ASSERT_ERR(uffdbox_sandbox_reset_region(sb, ri, false), -EINVAL);
	/* the stale read sees zeros, not the old 'a' */
	ASSERT_EQ(p[0], 0);
	struct uffdbox_record r;
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 3);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 1, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_UNMAP);
	ASSERT_EQ(r.len, 4096);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 2, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_UAU);
	ASSERT_EQ(r.resolution, UFFDBOX_RES_ZERO);
	ASSERT_EQ(r.access, UFFDBOX_ACCESS_READ);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ASSERT_EQ(uffdbox_sandbox_log_write(sb, f), 3);
	fclose(f);
	ASSERT_CONTAINS(text, "\"kind\":\"unmap\",\"region\":0,\"region_name\":\"q\"");
	ASSERT_CONTAINS(text, "\"kind\":\"use-after-unmap\"");
	free(text);
	uffdbox_sandbox_free(sb);
}

static bool reserved(void *addr)
{
	void *q = mmap(addr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);
	if (q == MAP_FAILED)
		return true;
	munmap(q, 4096);
	return false;
}

TEST_CASE(quarantine_bounded, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	/* A bound of 3 pages: unmapping a fourth one-page region takes the
	 * oldest out of quarantine.  It is kept as a spare: still reserved,
	 * a stale access still reported, until a region of its shape (pages,
	 * guards, modes, name) takes its addresses over. */
	struct uffdbox_sandbox_opts o = {
		.sz = sizeof(o), .quarantine_bytes = 3 * 4096, .uau_continue = true};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "r"};
	volatile char *addr[4];
	for (int i = 0; i < 4; i++) {
		int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
		ASSERT_EQ(ri, i);
		addr[i] = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
		addr[i][5] = 'x';
	}
	for (int i = 0; i < 4; i++)
		ASSERT_OK(uffdbox_sandbox_unmap_region(sb, i));
	ASSERT(reserved((void *)addr[0]));
	ASSERT_EQ(addr[0][5], 0); /* reported, resolved with zeros */
	struct uffdbox_record r;
	uint64_t n = uffdbox_sandbox_log_count(sb);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, n - 1, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_UAU);
	ASSERT_EQ(r.region, 0);

	/* Another shape: new addresses. */
	struct uffdbox_region_opts other = {.sz = sizeof(other), .pages = 1, .name = "other"};
	int ri = uffdbox_sandbox_add_region(sb, &other, NULL);
	ASSERT_EQ(ri, 4);
	ASSERT(uffdbox_region_addr(uffdbox_sandbox_region(sb, ri)) != (void *)addr[0]);
	/* The same shape: the spare's addresses and slot, empty again (the
	 * stale access's page is gone) and no longer quarantined. */
	ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
	ASSERT_EQ(ri, 0);
	ASSERT_PTR_EQ(uffdbox_region_addr(uffdbox_sandbox_region(sb, ri)), (void *)addr[0]);
	ASSERT_EQ(addr[0][5], 0);
	n = uffdbox_sandbox_log_count(sb);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, n - 1, &r));
	ASSERT_EQ(r.kind, UFFDBOX_EV_MISSING);
	ASSERT_EQ(r.region, 0);
	addr[0][5] = 'y';
	ASSERT_EQ(addr[0][5], 'y');
	uffdbox_sandbox_free(sb);
}

TEST_CASE(quarantine_evicted_freed, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	/* Past the spares (4), regions taken out of quarantine are freed for
	 * real: their addresses can be mapped again, their slots are empty. */
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .quarantine_bytes = 4096};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "r"};
	void *addr[7];
	for (int i = 0; i < 7; i++) {
		int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
		ASSERT_EQ(ri, i);
		addr[i] = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	}
	for (int i = 0; i < 7; i++)
		ASSERT_OK(uffdbox_sandbox_unmap_region(sb, i));
	/* 6 out of quarantine: the first 4 spares, then 2 freed. */
	for (int i = 0; i < 4; i++)
		ASSERT(reserved(addr[i]));
	for (int i = 4; i < 6; i++) {
		ASSERT(!reserved(addr[i]));
		ASSERT_NULL(uffdbox_sandbox_region(sb, i));
	}
	ASSERT(reserved(addr[6])); /* still quarantined */
	uffdbox_sandbox_free(sb);
}

TEST_CASE(quarantine_evicted_wp_freed, TMEM_NONE,
	  UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	/* A region registered for write-protect faults is never a spare
	 * (markers could outlive the drop): freed for real. */
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .quarantine_bytes = 4096};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = 1, .name = "w", .modes = UFFDBOX_REG_WP};
	void *addr[2];
	for (int i = 0; i < 2; i++)
		addr[i] = uffdbox_region_addr(
			uffdbox_sandbox_region(sb, uffdbox_sandbox_add_region(sb, &ro, NULL)));
	for (int i = 0; i < 2; i++)
		ASSERT_OK(uffdbox_sandbox_unmap_region(sb, i));
	ASSERT(!reserved(addr[0]));
	ASSERT_NULL(uffdbox_sandbox_region(sb, 0));
	ASSERT(reserved(addr[1]));
	uffdbox_sandbox_free(sb);
}

static char guard_log[64];

__attribute__((noinline)) static char read_past(volatile char *p, size_t n)
{
	return p[n];
}

static void guard_body(enum uffdbox_transport tr)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = tr,
					 .report_guard_hits = true,
					 .report_log = guard_log};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		_exit(3);
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 2, .name = "g"};
	int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
	volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	(void)p[100];
	(void)read_past(p, 2 * 4096 + 9);
	_exit(0);
}

static void guard_report(enum uffdbox_transport tr)
{
	char err[8192];
	snprintf(guard_log, sizeof(guard_log), "/tmp/uffdbox-guard-%d.jsonl", (int)getpid());
	int status = in_child(guard_body, tr, err, sizeof(err));
	ASSERT(TEST_DIED_OF(status, SIGSEGV));
	ASSERT_CONTAINS(err, "ERROR: uffdbox: guard hit: READ at 0x");
	ASSERT_CONTAINS(err, "10 bytes past the end of region \"g\" (2 pages of 4096 bytes)");
	if (!TEST_TSAN)
		ASSERT_CONTAINS(err, "in read_past");
	ASSERT_CONTAINS(err, "SUMMARY: uffdbox: guard hit after region \"g\"");
	/* the log as it was at the crash: the header, the one fault before
	 * it, then the report with its stack */
	static char log[8192];
	FILE *f = fopen(guard_log, "re");
	ASSERT_NOT_NULL(f);
	log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
	fclose(f);
	ASSERT_CONTAINS(log, "{\"kind\":\"header\",\"version\":1,");
	ASSERT_CONTAINS(log, "\"kind\":\"missing\",\"region\":0,\"region_name\":\"g\",\"page\":0");
	ASSERT_CONTAINS(log, "{\"kind\":\"report\",\"bug\":\"guard hit\",\"access\":\"read\","
			     "\"region_name\":\"g\",\"where\":\"after\",\"offset\":10,");
	ASSERT_CONTAINS(log, "\"summary\":\"guard hit after region \\\"g\\\"\",\"frames\":[{");
	if (!TEST_TSAN)
		ASSERT_CONTAINS(log, "{\"fn\":\"read_past"); /* .isra... */
	unlink(guard_log);
}

TEST_CASE(guard_report_sync, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	guard_report(UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(guard_report_served, TMEM_NONE, 0)
{
	guard_report(UFFDBOX_TRANSPORT_SERVED);
}

TEST_CASE(quarantine_slots_recycled, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	/* A fuzz loop that adds and releases a region per input must not run
	 * out of region slots (UFFDBOX_SANDBOX_MAX_REGIONS): the oldest
	 * quarantined ones make room. */
	enum { N = UFFDBOX_SANDBOX_MAX_REGIONS + 200 };
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o)};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "cache"};
	void **addr = calloc(N, sizeof(*addr));
	ASSERT_NOT_NULL(addr);
	for (int i = 0; i < N; i++) {
		int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
		ASSERT_OK(ri);
		volatile char *p = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
		addr[i] = (void *)p;
		/* Past the slot count, the oldest leaves quarantine as a spare
		 * of this shape and is taken over in place. */
		if (i >= UFFDBOX_SANDBOX_MAX_REGIONS)
			ASSERT_PTR_EQ(addr[i], addr[i - UFFDBOX_SANDBOX_MAX_REGIONS]);
		ASSERT_EQ(p[1], 0); /* empty again */
		p[1] = (char)i;
		ASSERT_EQ(p[1], (char)i);
		ASSERT_OK(uffdbox_sandbox_unmap_region(sb, ri));
	}
	/* each round: one fault, one unmap */
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 2 * N);
	free(addr);
	uffdbox_sandbox_free(sb);
}

/*
 * uffdbox_sandbox_reset: every live region touched since its last reset is
 * dropped (pages fault in their source again), untouched and quarantined
 * ones are left alone, and guard pages still stop an overflow after it.
 */
static struct uffdbox_sandbox *reset_box(enum uffdbox_transport tr, int *ri, char **p, int n)
{
	struct uffdbox_sandbox_opts o = {
		.sz = sizeof(o), .transport = tr, .report_guard_hits = true};
	struct uffdbox_sandbox *sb;
	if (uffdbox_sandbox_new(&o, &sb) < 0)
		return NULL;
	static const unsigned char pat[3][1] = {{'A'}, {'B'}, {'C'}};
	for (int i = 0; i < n; i++) {
		struct uffdbox_policy pol = {.sz = sizeof(pol),
					     .source = UFFDBOX_SOURCE_PATTERN,
					     .data = pat[i],
					     .data_len = 1};
		struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 2, .name = "r"};
		ri[i] = uffdbox_sandbox_add_region(sb, &ro, &pol);
		if (ri[i] < 0)
			return NULL;
		p[i] = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri[i]));
	}
	return sb;
}

static void reset_all(enum uffdbox_transport tr)
{
	int ri[3];
	char *p[3];
	struct uffdbox_sandbox *sb = reset_box(tr, ri, p, 3);
	ASSERT_NOT_NULL(sb);
	p[0][0] = 'x';
	p[0][4096] = 'y';
	p[2][5] = 'z';
	ASSERT_EQ(p[1][0], 'B');
	ASSERT_OK(uffdbox_sandbox_unmap_region(sb, ri[1])); /* quarantined: left alone */
	uint64_t before = uffdbox_sandbox_log_count(sb);
	ASSERT_OK(uffdbox_sandbox_reset(sb));
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), before); /* a reset is not an event */
	ASSERT_EQ(p[0][0], 'A');
	ASSERT_EQ(p[0][4096], 'A');
	ASSERT_EQ(p[2][5], 'C');
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), before + 3); /* each page faulted again */
	/* nothing touched since: nothing to do, nothing faults again */
	ASSERT_OK(uffdbox_sandbox_reset(sb));
	ASSERT_OK(uffdbox_sandbox_reset(sb));
	ASSERT_EQ(p[0][0], 'A');
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), before + 4);
	ASSERT_ERR(uffdbox_sandbox_reset_region(sb, ri[1], false), -EINVAL); /* still quarantined */
	uffdbox_sandbox_free(sb);
}

TEST_CASE(sandbox_reset_all_sync, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	reset_all(UFFDBOX_TRANSPORT_SYNC);
}

TEST_CASE(sandbox_reset_all_served, TMEM_NONE, 0)
{
	reset_all(UFFDBOX_TRANSPORT_SERVED);
}

/* process_madvise() fails with ENOSYS from here on, as on a kernel before
 * 5.10 (a seccomp filter: the real kernel, one syscall taken away). */
static void deny_process_madvise(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_madvise, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	ASSERT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 && errno == EINVAL)
		SKIP("this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)");
	ASSERT_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_FILTER);
	errno = 0;
	ASSERT_EQ(syscall(SYS_process_madvise, -1, NULL, 0, MADV_DONTNEED, 0), -1);
	ASSERT_EQ(errno, ENOSYS);
}

/* Several regions due and no process_madvise(): one madvise() each, the
 * same outcome. */
TEST_CASE(sandbox_reset_all_no_process_madvise, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	deny_process_madvise();
	reset_all(UFFDBOX_TRANSPORT_SYNC);
}

static void reset_guard_body(enum uffdbox_transport tr)
{
	int ri[2];
	char *p[2];
	struct uffdbox_sandbox *sb = reset_box(tr, ri, p, 2);
	if (!sb)
		_exit(3);
	p[0][0] = p[1][0] = 1;
	if (uffdbox_sandbox_reset(sb) < 0)
		_exit(4);
	char *low = p[0] < p[1] ? p[0] : p[1];
	(void)read_past(low, 2 * 4096 + 1);
	_exit(0);
}

TEST_CASE(sandbox_reset_all_keeps_guards, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	char err[8192];
	int status = in_child(reset_guard_body, UFFDBOX_TRANSPORT_SYNC, err, sizeof(err));
	ASSERT(TEST_DIED_OF(status, SIGSEGV));
	ASSERT_CONTAINS(err, "ERROR: uffdbox: guard hit: READ at 0x");
	ASSERT_CONTAINS(err, "2 bytes past the end of region \"r\"");
}
