/* SPDX-License-Identifier: MIT */
/* tests/test_log.c - the event log: its memory, its digest. */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "log.h"

/* A new event log's memory is resident before the first record: a record
 * landing on a fresh page would take a page fault of its own inside the
 * fault it records (harness/log.c). */

static size_t resident(const void *p, size_t len)
{
	size_t pages = (len + 4095) / 4096, n = 0;
	unsigned char *v = calloc(pages, 1);
	ASSERT(v != NULL);
	ASSERT_EQ(mincore((void *)p, len, v), 0);
	for (size_t i = 0; i < pages; i++)
		n += v[i] & 1;
	free(v);
	return n;
}

TEST_CASE(log_ring_resident_at_init, TMEM_NONE, 0)
{
	struct uffdbox__log log;
	ASSERT_EQ(uffdbox__log_init(&log, 8192, false), 0);
	/* Both parts (harness/log.h): the first records' and the going-round. */
	ASSERT_UEQ(log.lazy, 8192);
	size_t ring = 2 * 8192 * sizeof(*log.ring), commit = 2 * 8192 * sizeof(*log.commit);
	ASSERT_EQ(resident(log.ring, ring), ring / 4096);
	ASSERT_EQ(resident(log.commit, commit), commit / 4096);
	uffdbox__log_fini(&log);
	/* Past the bound only the first 64 Ki records' memory is. */
	ASSERT_EQ(uffdbox__log_init(&log, 1u << 20, false), 0);
	size_t big = (1u << 20) * sizeof(*log.ring), warm = (64u << 10) * sizeof(*log.ring);
	size_t got = resident(log.ring, big);
	if (got < warm / 4096 || got > warm / 4096 + 1)
		test_fail(__FILE__, __LINE__, "%zu of %zu ring pages resident, expected %zu", got,
			  big / 4096, warm / 4096);
	uffdbox__log_fini(&log);
}

/* The digest: every record appended since the reset counts once, as last
 * amended, whether the ring still holds it or has overwritten it - before
 * or after its amend. */

static struct uffdbox_record rec_of(uint64_t i, uint8_t res)
{
	return uffdbox__record(UFFDBOX_EV_MISSING, (int)(i % 5), i * 7, (uint32_t)i, 4096,
			       UFFDBOX_ACCESS_WRITE, (uint32_t)(i % 3), res,
			       i * 0x9e3779b97f4a7c15ull);
}

TEST_CASE(log_digest_counts_each_record_once, TMEM_NONE, 0)
{
	struct uffdbox__log log;
	struct uffdbox_record kept[200];
	uint64_t want = 0;

	ASSERT_EQ(uffdbox__log_init(&log, 16, false), 0);
	ASSERT_UEQ(uffdbox__log_digest(&log), 0);
	for (uint64_t i = 0; i < 200; i++) {
		kept[i] = rec_of(i, UFFDBOX_RES_ZERO);
		ASSERT_UEQ(uffdbox__log_append(&log, &kept[i]), i);
		/* Amend one still in the ring and one long overwritten. */
		uint64_t back = i % 2 ? 3 : 40;
		if (i >= back && i % 7 == 0) {
			struct uffdbox_record n = kept[i - back];
			n.resolution = UFFDBOX_RES_EXISTS;
			n.digest = 0;
			uffdbox__log_amend(&log, &kept[i - back], &n);
			kept[i - back] = n;
		}
	}
	for (int i = 0; i < 200; i++)
		want += uffdbox__record_hash(&kept[i]);
	ASSERT_UEQ(uffdbox__log_digest(&log), want);
	/* The ring holds the last 16, as amended. */
	struct uffdbox_record got;
	ASSERT_EQ(uffdbox__log_get(&log, 199 - 3, &got), 0);
	ASSERT_EQ(got.resolution, kept[199 - 3].resolution);
	ASSERT_EQ(uffdbox__log_get(&log, 183, &got), -ENOENT);
	uffdbox__log_reset(&log);
	ASSERT_UEQ(uffdbox__log_digest(&log), 0);
	struct uffdbox_record one = rec_of(1, UFFDBOX_RES_ZERO);
	uffdbox__log_append(&log, &one);
	ASSERT_UEQ(uffdbox__log_digest(&log), uffdbox__record_hash(&one));
	uffdbox__log_fini(&log);
}

/* A record counted but never committed - its writer died mid-append (a
 * fork child of a process whose other thread was appending) - is not in
 * the digest, and reading the digest does not wait for it for ever; the
 * records after it are. */
TEST_CASE(log_digest_skips_unfinished_record, TMEM_NONE, 0)
{
	struct uffdbox__log log;
	uint64_t want = 0;

	ASSERT_EQ(uffdbox__log_init(&log, 64, false), 0);
	for (uint64_t i = 0; i < 10; i++) {
		struct uffdbox_record r = rec_of(i, UFFDBOX_RES_ZERO);
		if (i == 4) { /* seq 4: taken, never written */
			ASSERT_UEQ(atomic_fetch_add(&log.next, 1), 4);
			continue;
		}
		ASSERT_UEQ(uffdbox__log_append(&log, &r), i);
		want += uffdbox__record_hash(&r);
	}
	ASSERT_UEQ(uffdbox__log_digest(&log), want);
	struct uffdbox_record got;
	ASSERT_EQ(uffdbox__log_get(&log, 4, &got), -ENOENT);
	ASSERT_EQ(uffdbox__log_get(&log, 5, &got), 0);
	ASSERT_UEQ(got.page, 5 * 7);
	uffdbox__log_fini(&log);
}

/* Threads appending and amending at once: every record counts once, as
 * amended.  (The ring holds them all: two appends racing for one slot of a
 * wrapped ring would write its record at once - the digest stays exact,
 * the ring's copy does not; docs/event-log.md.) */
struct digest_worker {
	struct uffdbox__log *log;
	unsigned int id;
	uint64_t sum;
};

static void *digest_work(void *arg)
{
	struct digest_worker *w = arg;
	for (uint64_t i = 0; i < 20000; i++) {
		struct uffdbox_record r = rec_of(i * 8 + w->id, UFFDBOX_RES_ZERO);
		uffdbox__log_append(w->log, &r);
		if (i % 3 == 0) {
			struct uffdbox_record n = r;
			n.resolution = UFFDBOX_RES_GONE;
			uffdbox__log_amend(w->log, &r, &n);
			r = n;
		}
		w->sum += uffdbox__record_hash(&r);
	}
	return NULL;
}

TEST_CASE(log_digest_concurrent_appends_and_amends, TMEM_NONE, 0)
{
	struct uffdbox__log log;
	struct digest_worker w[4];
	pthread_t th[4];
	uint64_t want = 0;

	ASSERT_EQ(uffdbox__log_init(&log, 1u << 17, false), 0);
	for (unsigned int i = 0; i < 4; i++) {
		w[i] = (struct digest_worker){.log = &log, .id = i};
		ASSERT_EQ(pthread_create(&th[i], NULL, digest_work, &w[i]), 0);
	}
	for (unsigned int i = 0; i < 4; i++) {
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
		want += w[i].sum;
	}
	ASSERT_UEQ(atomic_load(&log.next), 80000);
	ASSERT_UEQ(uffdbox__log_digest(&log), want);
	uffdbox__log_fini(&log);
}
