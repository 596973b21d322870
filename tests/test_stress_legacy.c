/* SPDX-License-Identifier: MIT */
/*
 * tests/test_stress_legacy.c - the older-kernel paths: write-protect arming
 * without WP_UNPOPULATED (masks 0x2000, 0x1e000, a 5.15-like 0x1f800) and
 * the snapshot fallbacks (0x8000, 0x18000)
 * (issue 11; helpers and conventions in tests/stress.h, cases in
 * docs/stress.md; label "stress").
 */
#include "stress.h"

/* --- 6. write-protect arming under legacy feature masks --------------------- */

/*
 * Masks: 0x2000 hides WP_UNPOPULATED alone; 0x1e000 is the README's legacy
 * pass (Linux 6.1 lacks WP_UNPOPULATED 6.4, POISON 6.6, WP_ASYNC 6.7, MOVE
 * 6.8); 0x1f800 is a Linux 5.15-like kernel (Ubuntu 22.04): also
 * EXACT_ADDRESS (1 << 11, 5.18) and WP_HUGETLBFS_SHMEM (1 << 12, 5.19),
 * every UFFD_FEATURE_* bit after 5.15's MINOR_SHMEM (1 << 10, 5.14).
 * "kernel" runs the same case with the ambient mask, for comparison.
 *
 * Each input: re-arm the region (uffdbox_sandbox_reset_region(wp_arm)),
 * write 0x77 into two pages; each write must complete with exactly one WP
 * record for its page.  Then reset: the written pages must read the
 * policy's bytes again (a fault each), never 0x77.
 */
enum { S6_PAGES = 16, S6_INPUTS = 20, S6_FILL = 0x3c, S6_OFF = 16 };

struct s6 {
	volatile char *addr[2];
	atomic_int done;
};

static void *s6_write(void *arg)
{
	struct s6 *s = arg;
	for (int i = 0; i < 2; i++)
		*s->addr[i] = 0x77;
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void wp_arm_masked(enum tr tr, const char *mask)
{
	use_mask(mask, UFFD_FEATURE_PAGEFAULT_FLAG_WP | (tr == TR_SYNC ? UFFD_FEATURE_SIGBUS : 0));
	struct uffdbox_sandbox *sb = sbx_new(tr, 0, 0);
	static const char fill[] = {S6_FILL};
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .action = UFFDBOX_POLICY_INJECT_WP,
				   .source = UFFDBOX_SOURCE_PATTERN,
				   .data = fill,
				   .data_len = 1,
				   .wp = UFFDBOX_WP_UNPROTECT};
	int ri = sbx_add(sb, S6_PAGES, UFFDBOX_REG_WP, &p, 0);
	char *b = sbx_base(sb, ri);
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	const char *m = getenv("UFFDBOX_FEATURE_MASK");
	m = m ? m : "unset";

	for (int input = 0; input < rounds(S6_INPUTS); input++) {
		int pg[2] = {input % S6_PAGES, (input * 7 + 3) % S6_PAGES};
		if (pg[1] == pg[0])
			pg[1] = (pg[0] + 1) % S6_PAGES;
		ASSERT_OK(uffdbox_sandbox_reset_region(sb, ri, true));
		uffdbox_sandbox_log_reset(sb);

		static struct s6 s;
		atomic_store(&s.done, 0);
		for (int i = 0; i < 2; i++)
			s.addr[i] = b + (size_t)pg[i] * psz + S6_OFF;
		pthread_t th;
		ASSERT_EQ(pthread_create(&th, NULL, s6_write, &s), 0);
		uint64_t before = uffdbox_sandbox_log_count(sb);
		if (!await_int(&s.done, 1, 5000))
			test_fail(__FILE__, __LINE__,
				  "mask %s, %s, input %d: two writes to the armed region did not "
				  "complete in 5 s; the log grew from %" PRIu64 " to %" PRIu64
				  " records (not listed: the writer is still appending)",
				  m, tr_names[tr], input, before, uffdbox_sandbox_log_count(sb));
		ASSERT_EQ(pthread_join(th, NULL), 0);
		int nwp[2] = {0, 0}, wp_other = 0;
		uint64_t count = uffdbox_sandbox_log_count(sb);
		for (uint64_t i = 0; i < count; i++) {
			struct uffdbox_record r;
			ASSERT_OK(uffdbox_sandbox_log_get(sb, i, &r));
			if (r.kind != UFFDBOX_EV_WP)
				continue;
			if (r.region == ri && r.page == (uint64_t)pg[0])
				nwp[0]++;
			else if (r.region == ri && r.page == (uint64_t)pg[1])
				nwp[1]++;
			else
				wp_other++;
		}
		if (nwp[0] != 1 || nwp[1] != 1 || wp_other)
			test_fail(__FILE__, __LINE__,
				  "mask %s, %s, input %d: WP records for page %d: %d, page %d: %d, "
				  "others: %d; expected 1, 1, 0:%s",
				  m, tr_names[tr], input, pg[0], nwp[0], pg[1], nwp[1], wp_other,
				  listing(sb, 8));
		ASSERT_EQ(b[(size_t)pg[0] * psz + S6_OFF], 0x77);
		ASSERT_EQ(b[(size_t)pg[1] * psz + S6_OFF], 0x77);

		/* the next input: the writes are gone */
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
		for (int i = 0; i < 2; i++) {
			char got = ((volatile char *)b)[(size_t)pg[i] * psz + S6_OFF];
			if (got != S6_FILL)
				test_fail(
					__FILE__, __LINE__,
					"mask %s, %s, input %d: after reset page %d reads 0x%02x, "
					"expected the policy's 0x%02x (0x77: the previous input's "
					"write); log:%s",
					m, tr_names[tr], input, pg[i], (unsigned char)got, S6_FILL,
					listing(sb, 4));
		}
		if (uffdbox_sandbox_log_count(sb) != 2)
			test_fail(__FILE__, __LINE__,
				  "mask %s, %s, input %d: reading the 2 reset pages made %" PRIu64
				  " records, expected 2 missing:%s",
				  m, tr_names[tr], input, uffdbox_sandbox_log_count(sb),
				  listing(sb, 6));
	}
	uffdbox_sandbox_free(sb);
}

static void s6_kernel(enum tr tr)
{
	wp_arm_masked(tr, NULL);
}

static void s6_2000(enum tr tr)
{
	wp_arm_masked(tr, "0x2000");
}

static void s6_1e000(enum tr tr)
{
	wp_arm_masked(tr, "0x1e000");
}

static void s6_5_15(enum tr tr)
{
	wp_arm_masked(tr, "0x1f800");
}

ON_EVERY_TRANSPORT(stress_wp_arm_kernel, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s6_kernel)
ON_EVERY_TRANSPORT(stress_wp_arm_mask_2000, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s6_2000)
ON_EVERY_TRANSPORT(stress_wp_arm_mask_1e000, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s6_1e000)
ON_EVERY_TRANSPORT(stress_wp_arm_linux_5_15, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s6_5_15)

/* --- 7. snapshot fallbacks ---------------------------------------------------- */

/*
 * 0x8000 hides WP_ASYNC, 0x18000 WP_ASYNC and MOVE: both fall back to
 * WP_SYNC (docs/snapshot.md).  "auto" runs the same checks in whatever mode
 * the ambient mask gives.  Restore counts are exact: every round changes
 * the contents of the pages it writes or drops, so each counts once (the
 * adaptive re-arm counts a hot page only when it differs, and these do).
 */
enum { S7_PAGES = 64 };

static struct uffdbox_snapshot *snap_new(const char *mask, bool want_sync)
{
	char err[512] = "";
	use_mask(mask, want_sync ? UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS : 0);
	struct uffdbox_snapshot_opts o = {
		.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
	struct uffdbox_snapshot *s;
	int rc = uffdbox_snapshot_new(&o, &s);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "snapshot_new (mask %s): %s: %s", mask ? mask : "-",
			  uffdbox_strerror(rc), err);
	if (want_sync)
		ASSERT_EQ(uffdbox_snapshot_mode(s), UFFDBOX_SNAPSHOT_WP_SYNC);
	return s;
}

static unsigned char *snap_mem(size_t psz)
{
	unsigned char *m = mmap(NULL, S7_PAGES * psz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(m != MAP_FAILED);
	return m;
}

/* Every page holds want[page] (sampled every 509 bytes). */
static void snap_check(const unsigned char *m, size_t psz, const unsigned char *want, int round,
		       const char *mode)
{
	for (int pg = 0; pg < S7_PAGES; pg++)
		for (size_t i = 0; i < psz; i += 509)
			if (m[(size_t)pg * psz + i] != want[pg])
				test_fail(__FILE__, __LINE__,
					  "%s, round %d: page %d byte %zu is 0x%02x after restore, "
					  "expected the snapshot's 0x%02x",
					  mode, round, pg, i, m[(size_t)pg * psz + i], want[pg]);
}

static void snap_restore(struct uffdbox_snapshot *s, ssize_t want, int round, const char *what)
{
	ssize_t got = uffdbox_snapshot_restore(s);
	if (got != want)
		test_fail(__FILE__, __LINE__,
			  "%s (%s), round %d: restore() = %zd (%s), expected %zd pages copied back",
			  what, uffdbox_snapshot_mode_name(uffdbox_snapshot_mode(s)), round, got,
			  got < 0 ? uffdbox_strerror((int)got) : "pages", want);
}

/* Pages never touched before take(): take() succeeds, they restore to zeros. */
static void snap_untouched(const char *mask)
{
	struct uffdbox_snapshot *s = snap_new(mask, mask != NULL);
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = snap_mem(psz), want[S7_PAGES] = {0};
	const char *mode = uffdbox_snapshot_mode_name(uffdbox_snapshot_mode(s));
	for (int pg = 0; pg < 16; pg++) { /* pages 16.. never touched */
		memset(m + (size_t)pg * psz, 0x10 + pg, psz);
		want[pg] = (unsigned char)(0x10 + pg);
	}
	ASSERT_OK(uffdbox_snapshot_add(s, m, S7_PAGES * psz));
	int rc = uffdbox_snapshot_take(s);
	if (rc < 0)
		test_fail(__FILE__, __LINE__,
			  "take() with 48 of 64 pages never touched (%s): %d (%s), expected 0",
			  mode, rc, uffdbox_strerror(rc));
	snap_check(m, psz, want, -1, mode);
	/* round r writes {3, 40} then {40, 50}, then {3, 63}, {20}, nothing */
	static const int writes[][3] = {
		{3, 40, -1}, {40, 50, -1}, {3, 63, -1}, {20, -1, -1}, {-1, -1, -1}};
	for (int round = 0; round < 5; round++) {
		ssize_t n = 0;
		for (int i = 0; i < 3 && writes[round][i] >= 0; i++, n++)
			memset(m + (size_t)writes[round][i] * psz, 0xe0 + round, psz);
		snap_restore(s, n, round, "never-touched pages");
		snap_check(m, psz, want, round, mode);
	}
	uffdbox_snapshot_free(s);
	munmap(m, S7_PAGES * psz);
}

/* Pages dropped with MADV_DONTNEED and not touched before restore()
 * count as written and get their snapshot bytes back. */
static void snap_dropped(const char *mask)
{
	struct uffdbox_snapshot *s = snap_new(mask, mask != NULL);
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = snap_mem(psz), want[S7_PAGES];
	const char *mode = uffdbox_snapshot_mode_name(uffdbox_snapshot_mode(s));
	for (int pg = 0; pg < S7_PAGES; pg++) {
		memset(m + (size_t)pg * psz, 0x80 + pg, psz);
		want[pg] = (unsigned char)(0x80 + pg);
	}
	ASSERT_OK(uffdbox_snapshot_add(s, m, S7_PAGES * psz));
	ASSERT_OK(uffdbox_snapshot_take(s));
	/* each round: pages written, pages dropped (never both) */
	static const struct {
		int w[2], d[2];
	} rounds_[] = {
		{{1, -1}, {5, -1}},   /* a write and a drop */
		{{-1, -1}, {1, 9}},   /* a page written before (hot now) dropped, and a new one */
		{{5, 9}, {30, -1}},   /* pages dropped before, written now */
		{{-1, -1}, {-1, -1}}, /* nothing */
		{{-1, -1}, {5, 63}},
	};
	for (int round = 0; round < 5; round++) {
		ssize_t n = 0;
		for (int i = 0; i < 2; i++) {
			if (rounds_[round].w[i] >= 0) {
				memset(m + (size_t)rounds_[round].w[i] * psz, 0x33, psz);
				n++;
			}
			if (rounds_[round].d[i] >= 0) {
				ASSERT_EQ(madvise(m + (size_t)rounds_[round].d[i] * psz, psz,
						  MADV_DONTNEED),
					  0);
				n++;
			}
		}
		snap_restore(s, n, round, "dropped pages");
		snap_check(m, psz, want, round, mode);
	}
	uffdbox_snapshot_free(s);
	munmap(m, S7_PAGES * psz);
}

TEST_CASE(stress_snapshot_untouched_auto, TMEM_NONE, 0)
{
	snap_untouched(NULL);
}

TEST_CASE(stress_snapshot_untouched_mask_8000, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	snap_untouched("0x8000");
}

TEST_CASE(stress_snapshot_untouched_mask_18000, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	snap_untouched("0x18000");
}

TEST_CASE(stress_snapshot_dropped_auto, TMEM_NONE, 0)
{
	snap_dropped(NULL);
}

TEST_CASE(stress_snapshot_dropped_mask_8000, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	snap_dropped("0x8000");
}

TEST_CASE(stress_snapshot_dropped_mask_18000, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	snap_dropped("0x18000");
}
