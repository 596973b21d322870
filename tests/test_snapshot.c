/* SPDX-License-Identifier: MIT */
/* tests/test_snapshot.c - snapshot/restore in each mode: byte-for-byte
 * restores, dropped pages counted as written, work proportional to writes. */
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

#define PAGES 64

static struct uffdbox_snapshot *snap(enum uffdbox_snapshot_mode m)
{
	char err[512] = "";
	struct uffdbox_snapshot_opts o = {
		.sz = sizeof(o), .mode = m, .errbuf = err, .errbuf_len = sizeof(err)};
	struct uffdbox_snapshot *s;
	int rc = uffdbox_snapshot_new(&o, &s);
	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "snapshot_new(%s): %s: %s",
			  uffdbox_snapshot_mode_name(m), uffdbox_strerror(rc), err);
	return s;
}

static void round_trip(enum uffdbox_snapshot_mode m, enum uffdbox_snapshot_mode want)
{
	struct uffdbox_snapshot *s = snap(m);
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
	uffdbox_snapshot_free(s);
	/* freed: the memory is ordinary again */
	p[0] = 3;
	ASSERT_EQ(p[0], 3);
	munmap(p, len);
	free(golden);
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
