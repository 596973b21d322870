/* SPDX-License-Identifier: MIT */
/* tests/test_log.c - the event log's own memory. */
#include "test.h"

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
	size_t ring = 8192 * sizeof(*log.ring), commit = 8192 * sizeof(*log.commit);
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
