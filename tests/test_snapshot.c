/* SPDX-License-Identifier: MIT */
/* tests/test_snapshot.c - snapshot/restore in each mode: byte-for-byte
 * restores, dropped pages counted as written, work proportional to writes. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

#define PAGES 64

static struct uffdbox_snapshot *snap_with(enum uffdbox_snapshot_mode m, bool eager,
					  unsigned int keep)
{
	char err[512] = "";
	struct uffdbox_snapshot_opts o = {.sz = sizeof(o),
					  .mode = m,
					  .errbuf = err,
					  .errbuf_len = sizeof(err),
					  .keep_restores = keep,
					  .eager = eager};
	struct uffdbox_snapshot *s;
	int rc = uffdbox_snapshot_new(&o, &s);
	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "snapshot_new(%s): %s: %s",
			  uffdbox_snapshot_mode_name(m), uffdbox_strerror(rc), err);
	return s;
}

static struct uffdbox_snapshot *snap(enum uffdbox_snapshot_mode m)
{
	return snap_with(m, false, 0);
}

/* Rounds writing different pages, dropping one, reading others: every
 * restore returns exactly what was written or dropped, byte for byte. */
static void round_trip_with(enum uffdbox_snapshot_mode m, enum uffdbox_snapshot_mode want,
			    bool eager)
{
	struct uffdbox_snapshot *s = snap_with(m, eager, 8);
	ASSERT_STR_EQ(uffdbox_snapshot_mode_name(uffdbox_snapshot_mode(s)),
		      uffdbox_snapshot_mode_name(want));
	size_t len = PAGES * 4096;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *golden = malloc(len);
	ASSERT(p != MAP_FAILED);
	/* half the pages populated with data, half never touched */
	for (size_t i = 0; i < len / 2; i++)
		p[i] = (char)(i * 7 + 1);
	memcpy(golden, p, len);
	ASSERT_OK(uffdbox_snapshot_add(s, p, len));
	ASSERT_ERR(uffdbox_snapshot_add(s, p + 1, 4096), -EINVAL);
	ASSERT_OK(uffdbox_snapshot_take(s));
	ASSERT_ERR(uffdbox_snapshot_add(s, p, 4096), -EINVAL);

	for (int round = 0; round < 5; round++) {
		/* write 3 pages (one never touched before), drop one, read others */
		p[(size_t)(round + 1) * 4096 + 5] ^= 0x55;
		p[(size_t)(40 + round) * 4096] = 9;
		p[(size_t)(10 + round) * 4096 + 100] = 1;
		ASSERT_EQ(madvise(p + (size_t)(20 + round) * 4096, 4096, MADV_DONTNEED), 0);
		ASSERT_EQ(p[(size_t)(20 + round) * 4096 + 3], 0); /* dropped: zeros */
		volatile char c = p[50 * 4096];
		(void)c;
		ssize_t n = uffdbox_snapshot_restore(s);
		ASSERT_GT(n, 0);
		if (want == UFFDBOX_SNAPSHOT_COPY)
			ASSERT_EQ(n, PAGES);
		else
			ASSERT_EQ(n, 4); /* proportional: 3 written + 1 dropped */
		ASSERT_MEM_EQ(p, golden, len);
	}
	/* nothing written: nothing to do */
	ASSERT_EQ(uffdbox_snapshot_restore(s), want == UFFDBOX_SNAPSHOT_COPY ? PAGES : 0);
	struct uffdbox_snapshot_stats st;
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.restores, 6);
	if (want == UFFDBOX_SNAPSHOT_COPY) {
		ASSERT_UEQ(st.copied, 6 * PAGES);
	} else {
		ASSERT_UEQ(st.copied, 5 * 4);
		/* eager: nothing left unprotected; adaptive: the 20 pages
		 * written or dropped are hot, none came back unchanged often
		 * enough to be protected again */
		ASSERT_UEQ(st.hot, eager ? 0 : 20);
		ASSERT_UEQ(st.rearmed, eager ? 20 : 0);
	}
	uffdbox_snapshot_free(s);
	/* freed: the memory is ordinary again */
	p[0] = 3;
	ASSERT_EQ(p[0], 3);
	munmap(p, len);
	free(golden);
}

static void round_trip(enum uffdbox_snapshot_mode m, enum uffdbox_snapshot_mode want)
{
	round_trip_with(m, want, false);
}

TEST_CASE(snapshot_auto, TMEM_NONE, 0)
{
	uint64_t f = 0;
	ASSERT_OK(uffdbox_uffd_probe(NULL, &f, NULL));
	enum uffdbox_snapshot_mode want = (f & UFFD_FEATURE_WP_ASYNC) ? UFFDBOX_SNAPSHOT_WP_ASYNC
					  : (f & UFFD_FEATURE_PAGEFAULT_FLAG_WP)
						  ? UFFDBOX_SNAPSHOT_WP_SYNC
						  : UFFDBOX_SNAPSHOT_COPY;
	round_trip(UFFDBOX_SNAPSHOT_AUTO, want);
}

TEST_CASE(snapshot_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	round_trip(UFFDBOX_SNAPSHOT_WP_ASYNC, UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(snapshot_wp_sync, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	round_trip(UFFDBOX_SNAPSHOT_WP_SYNC, UFFDBOX_SNAPSHOT_WP_SYNC);
}

TEST_CASE(snapshot_copy, TMEM_NONE, 0)
{
	round_trip(UFFDBOX_SNAPSHOT_COPY, UFFDBOX_SNAPSHOT_COPY);
}

TEST_CASE(snapshot_fallback_without_wp_async, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP)
{
	setenv("UFFDBOX_FEATURE_MASK", "0x8000", 1); /* WP_ASYNC hidden */
	round_trip(UFFDBOX_SNAPSHOT_AUTO, UFFDBOX_SNAPSHOT_WP_SYNC);
}

TEST_CASE(snapshot_fallback_without_wp, TMEM_NONE, 0)
{
	setenv("UFFDBOX_FEATURE_MASK", "0x8001", 1); /* WP_ASYNC and WP hidden */
	round_trip(UFFDBOX_SNAPSHOT_AUTO, UFFDBOX_SNAPSHOT_COPY);
}

TEST_CASE(snapshot_forced_mode_missing, TMEM_NONE, 0)
{
	char err[512] = "";
	struct uffdbox_snapshot_opts o = {.sz = sizeof(o),
					  .mode = UFFDBOX_SNAPSHOT_WP_ASYNC,
					  .errbuf = err,
					  .errbuf_len = sizeof(err)};
	struct uffdbox_snapshot *s;
	setenv("UFFDBOX_FEATURE_MASK", "0x8000", 1);
	ASSERT_ERR(uffdbox_snapshot_new(&o, &s), -UFFDBOX_E_NOFEATURE);
	ASSERT_CONTAINS(err, "WP_ASYNC");
	o.mode = (enum uffdbox_snapshot_mode)9;
	ASSERT_ERR(uffdbox_snapshot_new(&o, &s), -EINVAL);
}

TEST_CASE(snapshot_restore_before_take, TMEM_NONE, 0)
{
	struct uffdbox_snapshot *s = snap(UFFDBOX_SNAPSHOT_COPY);
	ASSERT_ERR(uffdbox_snapshot_restore(s), -EINVAL);
	ASSERT_OK(uffdbox_snapshot_take(s));
	ASSERT_ERR(uffdbox_snapshot_take(s), -EINVAL);
	ASSERT_EQ(uffdbox_snapshot_restore(s), 0); /* no ranges */
	uffdbox_snapshot_free(s);
}

TEST_CASE(snapshot_large_scan, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	/* More written runs than one PAGEMAP_SCAN vector holds: the walk
	 * continues from where it stopped. */
	struct uffdbox_snapshot *s = snap(UFFDBOX_SNAPSHOT_WP_ASYNC);
	size_t pages = 4096, len = pages * 4096;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < pages; i++)
		p[i * 4096] = (char)i;
	ASSERT_OK(uffdbox_snapshot_add(s, p, len));
	ASSERT_OK(uffdbox_snapshot_take(s));
	for (size_t i = 0; i < pages; i += 2) /* 2048 separate runs */
		p[i * 4096 + 1] = 1;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 2048);
	for (size_t i = 0; i < pages; i++) {
		ASSERT_EQ(p[i * 4096], (char)i);
		ASSERT_EQ(p[i * 4096 + 1], 0);
	}
	ASSERT_EQ(uffdbox_snapshot_restore(s), 0);
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_wp_async_eager, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	round_trip_with(UFFDBOX_SNAPSHOT_WP_ASYNC, UFFDBOX_SNAPSHOT_WP_ASYNC, true);
}

TEST_CASE(snapshot_wp_sync_eager, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	round_trip_with(UFFDBOX_SNAPSHOT_WP_SYNC, UFFDBOX_SNAPSHOT_WP_SYNC, true);
}

/* Is page @i of @p write-protected, as the kernel sees it (WP_ASYNC: an
 * unprotected page is reported written)? */
static bool kernel_protected(char *p, size_t i)
{
	struct page_region v[1];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = (uintptr_t)p + i * 4096,
		.end = (uintptr_t)p + (i + 1) * 4096,
		.vec = (uintptr_t)v,
		.vec_len = 1,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	int n = ioctl(fd, PAGEMAP_SCAN, &a);
	close(fd);
	ASSERT_GE(n, 0);
	return n == 0;
}

/* Every byte of @p is @fill; a failure names the first one that is not. */
static void assert_filled(const char *p, size_t len, char fill)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != fill)
			ASSERT_EQ(i, (size_t)-1);
}

/* @len bytes of @fill, the one range of @s, snapshot taken. */
static char *taken(struct uffdbox_snapshot *s, size_t len, int fill)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(p != MAP_FAILED);
	memset(p, fill, len);
	ASSERT_OK(uffdbox_snapshot_add(s, p, len));
	ASSERT_OK(uffdbox_snapshot_take(s));
	return p;
}

/*
 * Adaptive re-arm, page by page: a written page stays unprotected while it
 * is written again, is compared (not copied) once it is left alone, and is
 * protected again after exactly keep_restores unchanged restores; a hot page
 * dropped is brought back.
 */
static void adaptive(enum uffdbox_snapshot_mode m)
{
	const unsigned int keep = 3;
	struct uffdbox_snapshot *s = snap_with(m, false, keep);
	struct uffdbox_snapshot_stats st;
	size_t len = PAGES * 4096;
	char *p = taken(s, len, 0x11);
	bool async = m == UFFDBOX_SNAPSHOT_WP_ASYNC;

	/* written every round: copied every round, never protected again */
	for (int round = 0; round < 10; round++) {
		p[7 * 4096 + round] = (char)round;
		ASSERT_EQ(uffdbox_snapshot_restore(s), 1);
		ASSERT_EQ(p[7 * 4096 + round], 0x11);
		if (async)
			ASSERT(!kernel_protected(p, 7));
	}
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.copied, 10);
	ASSERT_UEQ(st.compared, 9);
	ASSERT_UEQ(st.hot, 1);
	ASSERT_UEQ(st.rearm_calls, 0);

	/* left alone: unchanged keep - 1 times, still hot; the keep-th time
	 * protected */
	for (unsigned int k = 1; k <= keep; k++) {
		ASSERT_EQ(uffdbox_snapshot_restore(s), 0);
		uffdbox_snapshot_stats(s, &st);
		ASSERT_UEQ(st.hot, k < keep ? 1 : 0);
		ASSERT_UEQ(st.rearm_calls, k < keep ? 0 : 1);
		if (async)
			ASSERT(kernel_protected(p, 7) == (k == keep));
	}
	ASSERT_UEQ(st.compared, 9 + keep);

	/* protected again: a new write is found, copied without comparing */
	p[7 * 4096] = 5;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 1);
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.compared, 9 + keep);
	ASSERT_EQ(p[7 * 4096], 0x11);

	/* hot, then dropped: zeros until the restore brings it back */
	ASSERT_EQ(madvise(p + 7 * 4096, 4096, MADV_DONTNEED), 0);
	ASSERT_EQ(p[7 * 4096 + 9], 0);
	ASSERT_EQ(uffdbox_snapshot_restore(s), 1);
	ASSERT_EQ(p[7 * 4096 + 9], 0x11);
	/* hot, dropped and never touched until the restore */
	ASSERT_EQ(madvise(p + 7 * 4096, 4096, MADV_DONTNEED), 0);
	ASSERT_EQ(uffdbox_snapshot_restore(s), 1);
	ASSERT_EQ(p[7 * 4096 + 9], 0x11);
	ASSERT_EQ(uffdbox_snapshot_restore(s), 0);
	assert_filled(p, len, 0x11);
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_adaptive_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	adaptive(UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(snapshot_adaptive_wp_sync, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	adaptive(UFFDBOX_SNAPSHOT_WP_SYNC);
}

/*
 * Pages due for protection are protected in runs that span protected pages
 * between them (one ioctl for pages 1 and 3), but never a hot page still in
 * use (pages 10 and 12 around a hot 11: two ioctls).
 */
static void adaptive_runs(enum uffdbox_snapshot_mode m)
{
	struct uffdbox_snapshot *s = snap_with(m, false, 1);
	struct uffdbox_snapshot_stats st;
	size_t len = PAGES * 4096;
	char *p = taken(s, len, 0x22);

	p[1 * 4096] = p[3 * 4096] = 1;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 2);
	ASSERT_EQ(uffdbox_snapshot_restore(s), 0); /* 1 and 3 unchanged: protected */
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.rearm_calls, 1);
	ASSERT_UEQ(st.rearmed, 3); /* [1, 4) */
	ASSERT_UEQ(st.hot, 0);

	p[10 * 4096] = p[11 * 4096] = p[12 * 4096] = 1;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 3);
	p[11 * 4096] = 2; /* in use */
	ASSERT_EQ(uffdbox_snapshot_restore(s), 1);
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.rearm_calls, 3);
	ASSERT_UEQ(st.rearmed, 5);
	ASSERT_UEQ(st.hot, 1);
	if (m == UFFDBOX_SNAPSHOT_WP_ASYNC) {
		ASSERT(kernel_protected(p, 10));
		ASSERT(!kernel_protected(p, 11));
		ASSERT(kernel_protected(p, 12));
	}
	/* every page still restores */
	p[10 * 4096] = p[11 * 4096] = p[12 * 4096] = 3;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 3);
	assert_filled(p, len, 0x22);
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_adaptive_runs_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	adaptive_runs(UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(snapshot_adaptive_runs_wp_sync, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	adaptive_runs(UFFDBOX_SNAPSHOT_WP_SYNC);
}

/* More runs due at once than are worth an ioctl each: every hot page is
 * protected in one call, those still in use too (they fault once more, and
 * nothing is restored wrong). */
static void adaptive_all(enum uffdbox_snapshot_mode m)
{
	struct uffdbox_snapshot *s = snap_with(m, false, 1);
	struct uffdbox_snapshot_stats st;
	size_t len = PAGES * 4096;
	char *p = taken(s, len, 0x33);

	for (size_t i = 0; i < 40; i++)
		p[i * 4096] = 1;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 40);
	for (size_t i = 1; i < 40; i += 2) /* the odd pages in use: 20 even runs due */
		p[i * 4096] = 2;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 20);
	uffdbox_snapshot_stats(s, &st);
	ASSERT_UEQ(st.rearm_calls, 1);
	ASSERT_UEQ(st.hot, 0);
	if (m == UFFDBOX_SNAPSHOT_WP_ASYNC) {
		ASSERT_UEQ(st.rearmed, 40);
		ASSERT(kernel_protected(p, 2));
		ASSERT(kernel_protected(p, 3));
	}
	for (size_t i = 0; i < 40; i += 3)
		p[i * 4096 + 1] = 4;
	ASSERT_EQ(uffdbox_snapshot_restore(s), 14);
	assert_filled(p, len, 0x33);
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_adaptive_all_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	adaptive_all(UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(snapshot_adaptive_all_wp_sync, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	adaptive_all(UFFDBOX_SNAPSHOT_WP_SYNC);
}

/* A private file mapping written by the program, as its .data is: wp-async
 * tracks and restores it; wp-sync cannot register it and says why. */
static void private_file(enum uffdbox_snapshot_mode m)
{
	char err[512] = "";
	struct uffdbox_snapshot_opts o = {
		.sz = sizeof(o), .mode = m, .errbuf = err, .errbuf_len = sizeof(err)};
	struct uffdbox_snapshot *s;
	int rc = uffdbox_snapshot_new(&o, &s);
	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	ASSERT_OK(rc);
	char path[] = "/tmp/uffdbox-snapXXXXXX";
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	unlink(path);
	size_t len = 8 * 4096;
	ASSERT_EQ(ftruncate(fd, (off_t)len), 0);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT(p != MAP_FAILED);
	close(fd);
	p[0] = 1; /* a written page (anonymous copy) and untouched file pages */
	rc = uffdbox_snapshot_add(s, p, len);
	/* Protection changes (the signal backend) work on any mapping. */
	if (m == UFFDBOX_SNAPSHOT_WP_SYNC && !tfx_signal_backend()) {
		ASSERT_ERR(rc, -EINVAL);
		ASSERT_CONTAINS(err, "private file mapping");
	} else {
		ASSERT_OK(rc);
		ASSERT_OK(uffdbox_snapshot_take(s));
		p[0] = 2;
		p[5 * 4096] = 3;
		ASSERT_EQ(uffdbox_snapshot_restore(s), 2);
		ASSERT_EQ(p[0], 1);
		ASSERT_EQ(p[5 * 4096], 0);
	}
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_private_file_wp_async, TMEM_NONE, UFFD_FEATURE_WP_ASYNC)
{
	private_file(UFFDBOX_SNAPSHOT_WP_ASYNC);
}

TEST_CASE(snapshot_private_file_wp_sync, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	private_file(UFFDBOX_SNAPSHOT_WP_SYNC);
}

/* Several wp-sync snapshots share the SIGBUS handler: each restores its own
 * range; past 16 the next is refused with the reason; when the last is
 * freed the previous disposition is back. */
TEST_CASE(snapshot_wp_sync_several, TMEM_NONE, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	struct sigaction before, after;
	ASSERT_EQ(sigaction(SIGBUS, NULL, &before), 0);
	struct uffdbox_snapshot *s[16];
	char *p[16];
	for (int i = 0; i < 16; i++) {
		s[i] = snap(UFFDBOX_SNAPSHOT_WP_SYNC);
		p[i] = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
		ASSERT(p[i] != MAP_FAILED);
		memset(p[i], 'a' + i, 2 * 4096);
		ASSERT_OK(uffdbox_snapshot_add(s[i], p[i], 2 * 4096));
		ASSERT_OK(uffdbox_snapshot_take(s[i]));
	}
	char err[256] = "";
	struct uffdbox_snapshot_opts o = {.sz = sizeof(o),
					  .mode = UFFDBOX_SNAPSHOT_WP_SYNC,
					  .errbuf = err,
					  .errbuf_len = sizeof(err)};
	struct uffdbox_snapshot *extra;
	ASSERT_ERR(uffdbox_snapshot_new(&o, &extra), -EBUSY);
	ASSERT_CONTAINS(err, "16 WP_SYNC snapshots");

	for (int i = 0; i < 16; i += 3)
		p[i][4096 + i] = 'z';
	for (int i = 0; i < 16; i++) {
		ASSERT_EQ(uffdbox_snapshot_restore(s[i]), i % 3 == 0 ? 1 : 0);
		ASSERT_EQ(p[i][4096 + i], 'a' + i);
	}
	for (int i = 0; i < 16; i++) {
		uffdbox_snapshot_free(s[i]);
		munmap(p[i], 2 * 4096);
	}
	ASSERT_EQ(sigaction(SIGBUS, NULL, &after), 0);
	ASSERT_PTR_EQ((uintptr_t)after.sa_handler, (uintptr_t)before.sa_handler);
	/* and one can be made again */
	struct uffdbox_snapshot *again = snap(UFFDBOX_SNAPSHOT_WP_SYNC);
	uffdbox_snapshot_free(again);
}

/*
 * Never-touched and dropped pages, in every mode that tracks writes: take()
 * succeeds over a range whose pages were never touched (they are zeros in
 * the snapshot), and a page dropped with MADV_DONTNEED after the snapshot
 * and not touched again comes back at restore, counted.
 */
static void untouched_and_dropped(enum uffdbox_snapshot_mode m, bool eager)
{
	const size_t npages = 16;
	struct uffdbox_snapshot *s = snap_with(m, eager, 0);
	size_t len = npages * 4096;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(p != MAP_FAILED);
	memset(p + 2 * 4096, 0x5a, 4096); /* page 2 touched; the others never */
	ASSERT_OK(uffdbox_snapshot_add(s, p, len));
	ASSERT_OK(uffdbox_snapshot_take(s));
	assert_filled(p + 3 * 4096, 4096, 0);
	for (int round = 0; round < 3; round++) {
		ASSERT_EQ(madvise(p + 2 * 4096, 4096, MADV_DONTNEED), 0); /* dropped, not touched */
		ASSERT_EQ(p[7 * 4096], 0);
		p[9 * 4096] = 1; /* written */
		ssize_t n = uffdbox_snapshot_restore(s);
		ASSERT(n >= 2);
		assert_filled(p + 2 * 4096, 4096, 0x5a);
		assert_filled(p + 9 * 4096, 4096, 0);
		assert_filled(p + 7 * 4096, 4096, 0);
	}
	uffdbox_snapshot_free(s);
	munmap(p, len);
}

TEST_CASE(snapshot_untouched_dropped_wp_sync, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	untouched_and_dropped(UFFDBOX_SNAPSHOT_WP_SYNC, false);
	untouched_and_dropped(UFFDBOX_SNAPSHOT_WP_SYNC, true);
}

TEST_CASE(snapshot_untouched_dropped_wp_async, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC)
{
	untouched_and_dropped(UFFDBOX_SNAPSHOT_WP_ASYNC, false);
	untouched_and_dropped(UFFDBOX_SNAPSHOT_WP_ASYNC, true);
}

TEST_CASE(snapshot_untouched_dropped_auto_masked, TMEM_NONE,
	  UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS)
{
	/* the fallback the legacy kernels get: WP_ASYNC hidden */
	setenv("UFFDBOX_FEATURE_MASK", "0x18000", 1);
	untouched_and_dropped(UFFDBOX_SNAPSHOT_AUTO, false);
}
