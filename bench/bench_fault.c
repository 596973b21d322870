/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fault.c - `uffdbox-bench fault`: what a missing-page fault
 * costs through uffdbox, against what it costs without it.
 *
 *   fault.sync_vs_native           SYNC transport vs. native first touch of
 *                                  anonymous memory (zero-filled both sides)
 *   fault.sync_vs_raw_sigbus       SYNC vs. a minimal SIGBUS handler doing the
 *                                  same UFFDIO_COPY (raw_handler.c): uffdbox's
 *                                  own share of the SYNC cost
 *   fault.served_poll_vs_raw_poll  SERVED (poll) vs. a minimal handler thread
 *                                  (poll + UFFDIO_COPY, raw_handler.c)
 *   fault.served_busy_vs_raw_busy  the same, both sides busy-polling
 *   fault.signal_vs_raw_sigsegv    SYNC over the signal backend (no
 *                                  userfaultfd: what runs in a container)
 *                                  vs. a minimal SIGSEGV handler doing
 *                                  mprotect + the same copy (raw_handler.c)
 *
 * Method.  Each round measures every variant once, a baseline and its
 * uffdbox counterpart back to back, the order inside each group reversed
 * every other round, so drift on this shared machine falls on both sides
 * alike.  Each variant gets a fresh mapping (and uffd, thread, sandbox) per
 * round, set up and torn down outside the timed loop: only one busy-polling
 * thread ever exists at a time, so a spinner never steals the core of
 * another variant.  A few untimed faults warm each setup up before the
 * timed loop touches (writes one byte of) every page once, in address
 * order.  The result of a round is elapsed time / faults; a variant's figure
 * is the median over rounds, and a comparison's ratio the median of its
 * per-round ratios (three runs of 21 rounds: sync_vs_raw_sigbus 1.001,
 * 1.055, 1.105 so, against 0.888, 1.345, 1.276 as the ratio of the two
 * medians: drift between rounds cancels within a pair).  One extra round
 * before the measured ones is thrown away (first-use costs: page tables,
 * lazy binding, cold caches).
 * Nothing is pinned to a CPU: the SERVED handler thread belongs to the
 * library and cannot be pinned from here, so pinning the raw handler would
 * help one side only.  With 2 cores the faulting thread and a handler
 * thread get one each, whichever side is running.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uffdbox/sandbox.h>
#include <uffdbox/uffd.h>

#include "bench.h"
#include "raw_handler.h"

/* Untimed faults before the timed loop, on pages past the timed ones. */
#define WARMUP_PAGES 16
/* What the uffd variants fill pages with (native and SYNC: zeros). */
#define FILL_BYTE 0xa5

enum variant {
	V_NATIVE,
	V_RAW_SIGBUS,
	V_SYNC,
	V_RAW_POLL,
	V_SERVED_POLL,
	V_RAW_BUSY,
	V_SERVED_BUSY,
	V_SYNC_ONE,	/* SYNC again, next to V_SYNC_REGIONS: its baseline */
	V_SYNC_REGIONS, /* SYNC with UFFDBOX_SANDBOX_MAX_REGIONS regions */
	V_RAW_SIGSEGV,
	V_SIGNAL,
	V_COUNT,
};

static const char *const variant_name[V_COUNT] = {
	[V_NATIVE] = "native",
	[V_RAW_SIGBUS] = "raw.sigbus",
	[V_SYNC] = "uffdbox.sync",
	[V_RAW_POLL] = "raw.poll",
	[V_SERVED_POLL] = "uffdbox.served_poll",
	[V_RAW_BUSY] = "raw.busy",
	[V_SERVED_BUSY] = "uffdbox.served_busy",
	[V_SYNC_ONE] = "uffdbox.sync_1",
	[V_SYNC_REGIONS] = "uffdbox.sync_4096",
	[V_RAW_SIGSEGV] = "raw.sigsegv",
	[V_SIGNAL] = "uffdbox.signal",
};

static size_t page_size;

/* Write one byte to each of @n pages from page @first; elapsed ns. */
static uint64_t touch(char *base, size_t first, size_t n)
{
	return bench_touch_pages(base, first, n, page_size);
}

/* Every touched page holds our byte and, next to it, the injected contents:
 * a benchmark that measured the wrong thing fails here, not in its ratios. */
static void verify(const char *what, const char *base, size_t pages, unsigned char fill)
{
	for (size_t i = 0; i < pages; i++) {
		const unsigned char *pg = (const unsigned char *)base + i * page_size;
		if (pg[0] != 1 || pg[1] != fill || pg[page_size - 1] != fill)
			bench_die(BENCH_EXIT_FAIL,
				  "%s: page %zu holds %#x %#x ... %#x, expected 0x1 %#x ... %#x",
				  what, i, pg[0], pg[1], pg[page_size - 1], fill, fill);
	}
}

/* Warm up, then time @pages first touches; µs per fault. */
static double timed_touches(const char *what, char *base, size_t pages, unsigned char fill)
{
	touch(base, pages, WARMUP_PAGES);
	uint64_t ns = touch(base, 0, pages);
	verify(what, base, pages + WARMUP_PAGES, fill);
	return (double)ns / 1000.0 / (double)pages;
}

static double round_native(size_t pages)
{
	size_t len = (pages + WARMUP_PAGES) * page_size;
	char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		bench_die(BENCH_EXIT_FAIL, "native: mmap: %s", strerror(errno));
	/* A transparent huge page would make 511 of 512 touches free: the
	 * comparison is per 4 KiB page, as uffd serves them. */
	madvise(base, len, MADV_NOHUGEPAGE);
	double us = timed_touches("native", base, pages, 0);
	munmap(base, len);
	return us;
}

static void raw_check(const char *what, int rc)
{
	if (rc == -EPERM || rc == -EACCES || rc == -ENOSYS)
		bench_die(BENCH_EXIT_SKIP, "%s: userfaultfd is not available here: %s", what,
			  strerror(-rc));
	if (rc < 0)
		bench_die(BENCH_EXIT_FAIL, "%s: %s", what, strerror(-rc));
}

/* The raw baselines: threads copy FILL_BYTE pages, SIGBUS zeros (as
 * native and SYNC). */
static double round_raw(enum variant v, size_t pages)
{
	const char *what = variant_name[v];
	enum raw_mode mode = v == V_RAW_SIGBUS	  ? RAW_SIGBUS
			     : v == V_RAW_SIGSEGV ? RAW_SIGSEGV
			     : v == V_RAW_POLL	  ? RAW_POLL
						  : RAW_BUSY;
	unsigned char fill = v == V_RAW_SIGBUS || v == V_RAW_SIGSEGV ? 0 : FILL_BYTE;
	struct raw_handler *h = NULL;

	raw_check(what, raw_handler_start(mode, pages + WARMUP_PAGES, fill, &h));
	double us = timed_touches(what, raw_handler_addr(h), pages, fill);
	/* Counted after the copy that woke us: read it once the handler is
	 * gone. */
	uint64_t served = raw_handler_stop(h);
	if (served != pages + WARMUP_PAGES)
		bench_die(BENCH_EXIT_FAIL, "%s: %llu faults served, expected %zu", what,
			  (unsigned long long)served, pages + WARMUP_PAGES);
	return us;
}

static void sb_check(const char *what, const char *call, int rc, const char *errbuf)
{
	if (rc >= 0)
		return;
	bench_die(rc == -UFFDBOX_E_DENIED ? BENCH_EXIT_SKIP : BENCH_EXIT_FAIL, "%s: %s: %s%s%s",
		  what, call, uffdbox_strerror(rc), errbuf[0] ? ": " : "", errbuf);
}

/*
 * One round through a fresh sandbox: SYNC with zeros (what native first
 * touch gives), SERVED with pages of FILL_BYTE (what the raw handler
 * copies).
 */
static double round_sandbox(enum variant v, size_t pages)
{
	const char *what = variant_name[v];
	const unsigned char fill = FILL_BYTE;
	bool sync = v == V_SYNC || v == V_SIGNAL || v == V_SYNC_ONE || v == V_SYNC_REGIONS;
	char err[256] = "";
	struct uffdbox_sandbox *sb = NULL;
	struct uffdbox_sandbox_opts so = {
		.sz = sizeof(so),
		.transport = sync ? UFFDBOX_TRANSPORT_SYNC : UFFDBOX_TRANSPORT_SERVED,
		.busy_poll = v == V_SERVED_BUSY,
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro),
		.mem = UFFDBOX_MEM_ANON,
		.pages = pages + WARMUP_PAGES,
		.name = "bench",
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	struct uffdbox_policy pol = {
		.sz = sizeof(pol),
		.action = UFFDBOX_POLICY_INJECT,
		.source = sync ? UFFDBOX_SOURCE_ZERO : UFFDBOX_SOURCE_PATTERN,
		.data = sync ? NULL : &fill,
		.data_len = sync ? 0 : 1,
	};

	/* The signal variant: the backend chosen when the sandbox opens its
	 * object, as where userfaultfd is denied. */
	const char *was = getenv("UFFDBOX_BACKEND");
	char saved[16] = "";
	if (was)
		snprintf(saved, sizeof(saved), "%s", was);
	if (v == V_SIGNAL)
		setenv("UFFDBOX_BACKEND", "signal", 1);
	int rc = uffdbox_sandbox_new(&so, &sb);
	if (v == V_SIGNAL && was)
		setenv("UFFDBOX_BACKEND", saved, 1);
	else if (v == V_SIGNAL)
		unsetenv("UFFDBOX_BACKEND");
	sb_check(what, "uffdbox_sandbox_new", rc, err);
	if (v == V_SIGNAL &&
	    uffdbox_uffd_backend(uffdbox_sandbox_uffd(sb)) != UFFDBOX_BACKEND_SIGNAL)
		bench_die(BENCH_EXIT_FAIL, "%s: the sandbox did not get the signal backend", what);
	/* V_SYNC_REGIONS: the measured region among a full table (half the
	 * others added before it, half after), so that each fault's lookup
	 * searches UFFDBOX_SANDBOX_MAX_REGIONS regions, not one. */
	int others = v == V_SYNC_REGIONS ? UFFDBOX_SANDBOX_MAX_REGIONS - 1 : 0, ri = -1;
	struct uffdbox_region_opts small = {.sz = sizeof(small), .pages = 1, .name = "other"};
	for (int i = 0; i <= others; i++) {
		rc = i == others / 2 ? uffdbox_sandbox_add_region(sb, &ro, &pol)
				     : uffdbox_sandbox_add_region(sb, &small, NULL);
		sb_check(what, "uffdbox_sandbox_add_region", rc, err);
		if (i == others / 2)
			ri = rc;
	}
	struct uffdbox_region *r = uffdbox_sandbox_region(sb, ri);
	if (!r)
		bench_die(BENCH_EXIT_FAIL, "%s: uffdbox_sandbox_region(%d) is NULL", what, ri);
	char *base = uffdbox_region_addr(r);

	/* Warm-up faults are logged too: forget them, so the count below is
	 * the timed faults alone. */
	touch(base, pages, WARMUP_PAGES);
	uffdbox_sandbox_log_reset(sb);
	uint64_t ns = touch(base, 0, pages);
	verify(what, base, pages + WARMUP_PAGES, sync ? 0 : fill);
	uint64_t logged = uffdbox_sandbox_log_count(sb);
	uffdbox_sandbox_free(sb);
	if (logged != pages)
		bench_die(BENCH_EXIT_FAIL, "%s: %llu faults logged, expected %zu", what,
			  (unsigned long long)logged, pages);
	return (double)ns / 1000.0 / (double)pages;
}

static double run_variant(enum variant v, size_t pages)
{
	switch (v) {
	case V_NATIVE:
		return round_native(pages);
	case V_RAW_SIGBUS:
	case V_RAW_SIGSEGV:
	case V_RAW_POLL:
	case V_RAW_BUSY:
		return round_raw(v, pages);
	default:
		return round_sandbox(v, pages);
	}
}

/* Measured back to back; in this order in even rounds, reversed in odd
 * ones.  -1 ends a group.  A variant appears in one group only: a
 * comparison pairs its two series round by round, one value each (the
 * regions comparison once took V_SYNC from two groups, so that its pairs -
 * and sync_vs_raw_sigbus's - were of different rounds; bench_series_add
 * now refuses a second value in a round). */
static const int groups[][3] = {
	{V_NATIVE, V_RAW_SIGBUS, V_SYNC}, {V_RAW_POLL, V_SERVED_POLL, -1},
	{V_RAW_BUSY, V_SERVED_BUSY, -1},  {V_SYNC_ONE, V_SYNC_REGIONS, -1},
	{V_RAW_SIGSEGV, V_SIGNAL, -1},
};

/* Whether a userfaultfd can be had here (not in a container whose seccomp
 * profile denies it): without one only the signal backend's group runs. */
static bool uffd_available(void)
{
	struct raw_handler *h = NULL;
	int rc = raw_handler_start(RAW_POLL, 1, 0, &h);
	if (rc == -EPERM || rc == -EACCES || rc == -ENOSYS)
		return false;
	raw_check("probe", rc);
	raw_handler_stop(h);
	return true;
}

int bench_fault(const struct bench_opts *o)
{
	struct bench_series s[V_COUNT];
	bool uffd = uffd_available();

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	for (int v = 0; v < V_COUNT; v++)
		if (bench_series_init(&s[v], variant_name[v], o->rounds) < 0)
			bench_die(BENCH_EXIT_FAIL, "out of memory");

	/* Round -1 is the discarded warm-up round. */
	for (int r = -1; r < (int)o->rounds; r++) {
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
			int n = groups[g][2] < 0 ? 2 : 3;
			if (!uffd && groups[g][0] != V_RAW_SIGSEGV)
				continue;
			for (int k = 0; k < n; k++) {
				enum variant v = groups[g][(r & 1) ? n - 1 - k : k];
				double us = run_variant(v, o->pages);
				if (r >= 0)
					bench_series_add(&s[v], us);
			}
		}
	}

	printf("fault: %u rounds x %zu first touches of %zu-byte pages; "
	       "per-round us/fault, baseline and uffdbox interleaved\n",
	       o->rounds, o->pages, page_size);
	if (!uffd)
		printf("userfaultfd is not available here (a seccomp filter?): only the signal "
		       "backend's comparison runs\n");
	bench_table_header("us/fault");
	for (int v = 0; v < V_COUNT; v++)
		if (s[v].n)
			bench_table_row(&s[v]);
	printf("\n");
	if (uffd) {
		bench_paired("fault.sync_vs_native", &s[V_SYNC], &s[V_NATIVE]);
		bench_paired("fault.sync_vs_raw_sigbus", &s[V_SYNC], &s[V_RAW_SIGBUS]);
		bench_paired("fault.served_poll_vs_raw_poll", &s[V_SERVED_POLL], &s[V_RAW_POLL]);
		bench_paired("fault.served_busy_vs_raw_busy", &s[V_SERVED_BUSY], &s[V_RAW_BUSY]);
		bench_paired("fault.regions_4096_vs_1", &s[V_SYNC_REGIONS], &s[V_SYNC_ONE]);
	}
	bench_paired("fault.signal_vs_raw_sigsegv", &s[V_SIGNAL], &s[V_RAW_SIGSEGV]);
	printf("\n");
	if (uffd) {
		bench_compare_paired("fault.sync_vs_native", &s[V_SYNC], &s[V_NATIVE]);
		bench_compare_paired("fault.sync_vs_raw_sigbus", &s[V_SYNC], &s[V_RAW_SIGBUS]);
		bench_compare_paired("fault.served_poll_vs_raw_poll", &s[V_SERVED_POLL],
				     &s[V_RAW_POLL]);
		bench_compare_paired("fault.served_busy_vs_raw_busy", &s[V_SERVED_BUSY],
				     &s[V_RAW_BUSY]);
		bench_compare_paired("fault.regions_4096_vs_1", &s[V_SYNC_REGIONS], &s[V_SYNC_ONE]);
	}
	bench_compare_paired("fault.signal_vs_raw_sigsegv", &s[V_SIGNAL], &s[V_RAW_SIGSEGV]);
	fflush(stdout);
	for (int v = 0; v < V_COUNT; v++)
		bench_series_free(&s[v]);
	return BENCH_EXIT_OK;
}
