/* SPDX-License-Identifier: MIT */
/*
 * tests/test_stress.c - "exactly once" under load: many threads on many
 * regions, racing first writes to write-protected pages, 4,096 regions in
 * one sandbox
 * (issue 11; helpers and conventions in tests/stress.h, cases in
 * docs/stress.md; label "stress").
 */
#include "stress.h"

/* --- 1. many threads x many regions ----------------------------------------- */

enum { S1_THREADS = 8, S1_REGIONS = 64, S1_PAGES = 64 };

/* The bytes of page @page of region @region (BUFFER and CALLBACK alike). */
static uint64_t s1_word(int region, uint64_t page, size_t w)
{
	uint64_t x = ((uint64_t)(uint32_t)region << 40) ^ (page << 20) ^ w ^ 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

static void s1_page(int region, uint64_t page, void *dst, size_t len)
{
	uint64_t *w = dst;
	for (size_t i = 0; i < len / 8; i++)
		w[i] = s1_word(region, page, i);
}

static atomic_uint s1_fills;

/* Async-signal-safe (SYNC runs it in the SIGBUS handler): pure arithmetic. */
static int s1_fill(void *arg, int region, uint64_t index, void *page, size_t len)
{
	(void)arg;
	atomic_fetch_add_explicit(&s1_fills, 1, memory_order_relaxed);
	s1_page(region, index, page, len);
	return 0;
}

struct s1 {
	char *base[S1_REGIONS];
	int ri[S1_REGIONS];
	size_t psz;
	pthread_barrier_t go;
	atomic_int done;
};

struct s1_arg {
	struct s1 *s;
	int k;
	int round;
};

/* Thread k owns pages p with p % S1_THREADS == k of every region; it
 * writes every other one (a write fault) and reads the rest. */
static bool s1_writes(int r, int p, int round)
{
	return ((r + p / S1_THREADS + round) & 1) != 0;
}

static size_t s1_off(int r, int p, size_t psz)
{
	return ((size_t)r * 131 + (size_t)p * 17) % psz;
}

static void *s1_main(void *arg)
{
	struct s1_arg *a = arg;
	struct s1 *s = a->s;
	pthread_barrier_wait(&s->go);
	for (int j = 0; j < S1_PAGES / S1_THREADS; j++)
		for (int i = 0; i < S1_REGIONS; i++) {
			int r = (i + a->k * (S1_REGIONS / S1_THREADS)) % S1_REGIONS;
			int p = j * S1_THREADS + a->k;
			volatile char *c = s->base[r] + (size_t)p * s->psz + s1_off(r, p, s->psz);
			if (s1_writes(r, p, a->round))
				*c = (char)(0x5a ^ r ^ p);
			else
				(void)*c;
		}
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void many_threads_regions(enum tr tr, enum uffdbox_source_kind src)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, 8192, 0);
	struct s1 s = {.psz = (size_t)sysconf(_SC_PAGESIZE)};
	size_t rlen = S1_PAGES * s.psz;
	char *bufs = NULL;
	char *want = malloc(s.psz);
	ASSERT_NOT_NULL(want);
	atomic_store(&s1_fills, 0);

	if (src == UFFDBOX_SOURCE_BUFFER) {
		bufs = malloc(S1_REGIONS * rlen);
		ASSERT_NOT_NULL(bufs);
	}
	for (int r = 0; r < S1_REGIONS; r++) {
		struct uffdbox_policy p = {.sz = sizeof(p), .source = src};
		if (bufs) {
			/* contents as the callback would make them for region
			 * index r: the index add_region returns is checked */
			for (int pg = 0; pg < S1_PAGES; pg++)
				s1_page(r, (uint64_t)pg, bufs + r * rlen + (size_t)pg * s.psz,
					s.psz);
			p.data = bufs + r * rlen;
			p.data_len = rlen;
		} else {
			p.fill = s1_fill;
		}
		s.ri[r] = sbx_add(sb, S1_PAGES, 0, &p, r);
		ASSERT_EQ(s.ri[r], r);
		s.base[r] = sbx_base(sb, s.ri[r]);
	}
	bool exact = exact_offsets(sb, tr);
	int nrounds = rounds(20);
	unsigned int fills_before = 0;
	for (int round = 0; round < nrounds; round++) {
		pthread_t th[S1_THREADS];
		struct s1_arg args[S1_THREADS];
		atomic_store(&s.done, 0);
		ASSERT_EQ(pthread_barrier_init(&s.go, NULL, S1_THREADS), 0);
		for (int k = 0; k < S1_THREADS; k++)
			args[k] = (struct s1_arg){.s = &s, .k = k, .round = round};
		start_threads(th, S1_THREADS, s1_main, args, sizeof(args[0]));
		char what[64];
		snprintf(what, sizeof(what), "round %d: many threads x regions", round);
		await_threads(sb, &s.done, S1_THREADS, 10000, what);
		join_threads(th, S1_THREADS);
		pthread_barrier_destroy(&s.go);

		/* exactly one record per page, for the thread that owns it */
		struct uffdbox_record *v;
		size_t n;
		if (!log_all(sb, &v, &n))
			test_fail(__FILE__, __LINE__,
				  "round %d: %zu records overflowed the 8192-record ring, "
				  "expected %d",
				  round, n, S1_REGIONS * S1_PAGES);
		uint8_t seen[S1_REGIONS][S1_PAGES] = {{0}};
		uint32_t owner[S1_THREADS] = {0};
		for (size_t i = 0; i < n; i++) {
			const struct uffdbox_record *r = &v[i];
			if (r->kind != UFFDBOX_EV_MISSING || r->region < 0 ||
			    r->region >= S1_REGIONS || r->page >= S1_PAGES)
				test_fail(__FILE__, __LINE__,
					  "round %d record %zu: %s/%s region %d page %" PRIu64
					  ", expected a missing fault in one of the %d regions "
					  "(log: %s)",
					  round, i, kind_name(r->kind), res_name(r->resolution),
					  r->region, r->page, S1_REGIONS, breakdown(v, n));
			int reg = r->region, p = (int)r->page;
			ASSERT_EQ(r->resolution, src == UFFDBOX_SOURCE_BUFFER
							 ? UFFDBOX_RES_BUFFER
							 : UFFDBOX_RES_CALLBACK);
			ASSERT_EQ(r->access, s1_writes(reg, p, round) ? UFFDBOX_ACCESS_WRITE
								      : UFFDBOX_ACCESS_READ);
			if (exact)
				ASSERT_EQ(r->offset, s1_off(reg, p, s.psz));
			/* one logical thread per owner, the same for all its pages */
			int k = p % S1_THREADS;
			if (!owner[k])
				owner[k] = r->thread;
			ASSERT_EQ(r->thread, owner[k]);
			if (++seen[reg][p] > 1)
				test_fail(__FILE__, __LINE__,
					  "round %d: region %d page %d has %u records, expected "
					  "1 (log: %s)",
					  round, reg, p, seen[reg][p], breakdown(v, n));
		}
		ASSERT_EQ(n, S1_REGIONS * S1_PAGES);
		for (int a = 0; a < S1_THREADS; a++)
			for (int b = a + 1; b < S1_THREADS; b++)
				ASSERT_NE(owner[a], owner[b]);
		free(v);
		if (src == UFFDBOX_SOURCE_CALLBACK) {
			ASSERT_EQ(atomic_load(&s1_fills) - fills_before, S1_REGIONS * S1_PAGES);
			fills_before = atomic_load(&s1_fills);
		}
		/* contents exact: the source's bytes, plus each write */
		for (int r = 0; r < S1_REGIONS; r++)
			for (int p = 0; p < S1_PAGES; p++) {
				const char *got = s.base[r] + (size_t)p * s.psz;
				s1_page(r, (uint64_t)p, want, s.psz);
				if (s1_writes(r, p, round))
					want[s1_off(r, p, s.psz)] = (char)(0x5a ^ r ^ p);
				if (memcmp(got, want, s.psz) != 0)
					ASSERT_MEM_EQ(got, want, s.psz);
			}
		/* the check itself faulted nothing */
		ASSERT_EQ(uffdbox_sandbox_log_count(sb), S1_REGIONS * S1_PAGES);
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
	}
	uffdbox_sandbox_free(sb);
	free(bufs);
	free(want);
}

static void s1_buffer(enum tr tr)
{
	many_threads_regions(tr, UFFDBOX_SOURCE_BUFFER);
}

static void s1_callback(enum tr tr)
{
	many_threads_regions(tr, UFFDBOX_SOURCE_CALLBACK);
}

ON_EVERY_TRANSPORT(stress_threads_regions_buffer, 0, s1_buffer)
ON_EVERY_TRANSPORT(stress_threads_regions_callback, 0, s1_callback)

/* --- 2. concurrent first writes to write-protected pages -------------------- */

enum { S2_THREADS = 8, S2_PAGES = 256, S2_RING = 8192, S2_FILL = 0x61, S2_OFF = 64 };

struct s2 {
	char *base;
	size_t psz;
	pthread_barrier_t go;
	atomic_int done;
	_Atomic unsigned int wp_calls[S2_PAGES];
	atomic_int wp_saw_write; /* on_wp found a write already in the page */
	atomic_int bad_read;	 /* the reads before the writes saw wrong bytes */
};

struct s2_arg {
	struct s2 *s;
	int k;
};

/* The pre-write contents must be the injected ones: nothing written yet. */
static void s2_on_wp(void *arg, int region, uint64_t index, const void *page, size_t len)
{
	struct s2 *s = arg;
	const unsigned char *c = page;
	(void)region;
	(void)len;
	if (index < S2_PAGES)
		atomic_fetch_add(&s->wp_calls[index], 1);
	for (int k = 0; k < S2_THREADS; k++)
		if (__atomic_load_n(&c[S2_OFF + k], __ATOMIC_RELAXED) != S2_FILL) {
			atomic_fetch_add(&s->wp_saw_write, 1);
			break;
		}
}

static void *s2_read_all(void *arg)
{
	struct s2 *s = arg;
	for (int pg = 0; pg < S2_PAGES; pg++)
		if (((volatile char *)s->base)[(size_t)pg * s->psz] != S2_FILL)
			atomic_fetch_add(&s->bad_read, 1);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

/* Every thread writes its own byte of every page, all in the same order,
 * so that each page's first writes collide. */
static void *s2_main(void *arg)
{
	struct s2_arg *a = arg;
	struct s2 *s = a->s;
	pthread_barrier_wait(&s->go);
	/* relaxed atomics: on_wp reads these bytes in another thread, ordered
	 * only by the kernel's write protection, which TSan cannot see */
	for (int p = 0; p < S2_PAGES; p++)
		__atomic_store_n(&s->base[(size_t)p * s->psz + S2_OFF + (size_t)a->k],
				 (char)(0xb0 + a->k), __ATOMIC_RELAXED);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

/* Deviations over all rounds. */
struct s2_tally {
	int pages;	    /* page-rounds checked */
	int dup_wp;	    /* pages with more than one WP record */
	int no_wp;	    /* pages without a WP record */
	int dup_missing;    /* pages with more than one missing record */
	int bad_missing;    /* missing page without exactly one (non-exists) record */
	int order;	    /* WP record before the page's missing record */
	int other;	    /* records of another kind, or "exists" */
	int onwp_multi;	    /* pages whose on_wp ran more than once */
	int onwp_none;	    /* pages whose on_wp never ran */
	int overflow;	    /* rounds whose records overflowed the ring */
	uint64_t most;	    /* most records in one round */
	int bad_contents;   /* pages with wrong bytes */
	int wrong_resolved; /* WP records not "unprotect" */
	int bad_premap;	    /* rounds whose reads first made != S2_PAGES records */
};

static void wp_race(enum tr tr, bool missing_first, bool with_on_wp)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, S2_RING, 0);
	sbx_needs_atomic_fill(sb);
	static struct s2 s;
	static const char fill[] = {S2_FILL};
	memset(&s, 0, sizeof(s));
	s.psz = (size_t)sysconf(_SC_PAGESIZE);
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .action = UFFDBOX_POLICY_INJECT_WP,
				   .source = UFFDBOX_SOURCE_PATTERN,
				   .data = fill,
				   .data_len = 1,
				   .wp = UFFDBOX_WP_UNPROTECT,
				   .on_wp = with_on_wp ? s2_on_wp : NULL,
				   .on_wp_arg = &s};
	int ri = sbx_add(sb, S2_PAGES, UFFDBOX_REG_WP, &p, 0);
	s.base = sbx_base(sb, ri);
	struct s2_tally t = {0};
	int nrounds = rounds(20);
	size_t expect = missing_first ? 2 * S2_PAGES : S2_PAGES;

	for (int round = 0; round < nrounds; round++) {
		char what[64];
		if (!missing_first) {
			/* map every page write-protected first: one missing
			 * record each, forgotten before the writes */
			pthread_t rd;
			atomic_store(&s.done, 0);
			ASSERT_EQ(pthread_create(&rd, NULL, s2_read_all, &s), 0);
			snprintf(what, sizeof(what), "round %d: reading every page first", round);
			await_threads(sb, &s.done, 1, 10000, what);
			ASSERT_EQ(pthread_join(rd, NULL), 0);
			t.bad_premap += uffdbox_sandbox_log_count(sb) != S2_PAGES;
			uffdbox_sandbox_log_reset(sb);
		}
		for (int pg = 0; pg < S2_PAGES; pg++)
			atomic_store(&s.wp_calls[pg], 0);
		pthread_t th[S2_THREADS];
		struct s2_arg args[S2_THREADS];
		atomic_store(&s.done, 0);
		ASSERT_EQ(pthread_barrier_init(&s.go, NULL, S2_THREADS), 0);
		for (int k = 0; k < S2_THREADS; k++)
			args[k] = (struct s2_arg){.s = &s, .k = k};
		start_threads(th, S2_THREADS, s2_main, args, sizeof(args[0]));
		snprintf(what, sizeof(what), "round %d: concurrent first writes", round);
		await_threads(sb, &s.done, S2_THREADS, 10000, what);
		join_threads(th, S2_THREADS);
		pthread_barrier_destroy(&s.go);

		struct uffdbox_record *v;
		size_t n;
		if ((uint64_t)uffdbox_sandbox_log_count(sb) > t.most)
			t.most = uffdbox_sandbox_log_count(sb);
		if (!log_all(sb, &v, &n)) {
			t.overflow++;
		} else {
			int64_t wp_seq[S2_PAGES], miss_seq[S2_PAGES];
			int nwp[S2_PAGES] = {0}, nmiss[S2_PAGES] = {0};
			for (size_t i = 0; i < n; i++) {
				const struct uffdbox_record *r = &v[i];
				if (r->region != ri || r->page >= S2_PAGES ||
				    r->resolution == UFFDBOX_RES_EXISTS ||
				    (r->kind != UFFDBOX_EV_WP && r->kind != UFFDBOX_EV_MISSING)) {
					t.other++;
					continue;
				}
				if (r->kind == UFFDBOX_EV_WP) {
					if (r->resolution != UFFDBOX_RES_UNPROTECT)
						t.wrong_resolved++;
					wp_seq[r->page] = (int64_t)r->seq;
					nwp[r->page]++;
				} else {
					miss_seq[r->page] = (int64_t)r->seq;
					nmiss[r->page]++;
				}
			}
			for (int pg = 0; pg < S2_PAGES; pg++) {
				t.dup_wp += nwp[pg] > 1;
				t.no_wp += nwp[pg] == 0;
				if (missing_first) {
					t.dup_missing += nmiss[pg] > 1;
					t.bad_missing += nmiss[pg] != 1;
					t.order += nmiss[pg] == 1 && nwp[pg] == 1 &&
						   wp_seq[pg] < miss_seq[pg];
				} else {
					t.bad_missing += nmiss[pg] != 0;
				}
			}
			free(v);
		}
		if (with_on_wp)
			for (int pg = 0; pg < S2_PAGES; pg++) {
				unsigned int c = atomic_load(&s.wp_calls[pg]);
				t.onwp_multi += c > 1;
				t.onwp_none += c == 0;
			}
		/* every thread's byte landed, the rest is the injected fill */
		for (int pg = 0; pg < S2_PAGES; pg++) {
			const unsigned char *c = (unsigned char *)s.base + (size_t)pg * s.psz;
			bool ok = true;
			for (size_t i = 0; i < s.psz && ok; i++) {
				bool mine = i >= S2_OFF && i < S2_OFF + S2_THREADS;
				ok = c[i] == (mine ? 0xb0 + (i - S2_OFF) : S2_FILL);
			}
			t.bad_contents += !ok;
		}
		t.pages += S2_PAGES;
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
	}
	uffdbox_sandbox_free(sb);
	if (t.dup_wp || t.no_wp || t.dup_missing || t.bad_missing || t.order || t.other ||
	    t.onwp_multi || t.onwp_none || t.overflow || t.bad_contents || t.wrong_resolved ||
	    t.bad_premap || atomic_load(&s.bad_read) ||
	    (with_on_wp && atomic_load(&s.wp_saw_write)))
		test_fail(__FILE__, __LINE__,
			  "%d rounds x %d pages x %d writers (%s, %s%s): expected %zu records a "
			  "round, one WP record%s per page; got: pages with >1 WP record %d, "
			  "with no WP record %d, >1 missing record %d, missing records != %d "
			  "%d, WP before missing %d, other/exists records %d, WP not "
			  "unprotect %d, on_wp >1 call %d, on_wp never %d, on_wp saw a write "
			  "%d, rounds overflowing the %d ring %d (most records in a round "
			  "%" PRIu64 "), pages with wrong bytes %d; rounds whose first reads "
			  "made != %d records (a previous round's late records) %d, first reads "
			  "with wrong bytes %d",
			  nrounds, S2_PAGES, S2_THREADS, tr_names[tr],
			  missing_first ? "pages missing" : "pages mapped write-protected",
			  with_on_wp ? ", on_wp" : "", expect,
			  missing_first ? " and one missing record" : "", t.dup_wp, t.no_wp,
			  t.dup_missing, missing_first ? 1 : 0, t.bad_missing, t.order, t.other,
			  t.wrong_resolved, t.onwp_multi, t.onwp_none, atomic_load(&s.wp_saw_write),
			  S2_RING, t.overflow, t.most, t.bad_contents, S2_PAGES, t.bad_premap,
			  atomic_load(&s.bad_read));
}

static void s2_mapped(enum tr tr)
{
	wp_race(tr, false, false);
}

static void s2_mapped_onwp(enum tr tr)
{
	wp_race(tr, false, true);
}

static void s2_missing(enum tr tr)
{
	wp_race(tr, true, false);
}

static void s2_missing_onwp(enum tr tr)
{
	wp_race(tr, true, true);
}

ON_EVERY_TRANSPORT(stress_wp_race_mapped, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s2_mapped)
ON_EVERY_TRANSPORT(stress_wp_race_mapped_onwp, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s2_mapped_onwp)
ON_EVERY_TRANSPORT(stress_wp_race_missing, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s2_missing)
ON_EVERY_TRANSPORT(stress_wp_race_missing_onwp, UFFD_FEATURE_PAGEFAULT_FLAG_WP, s2_missing_onwp)

/* --- 8. 4,096 regions in one sandbox ------------------------------------------ */

enum { S8_REGIONS = 4096, S8_PAGES = 2, S8_THREADS = 4 };

static unsigned char s8_fill[S8_REGIONS]; /* region r's pattern byte */

struct s8 {
	char *base[S8_REGIONS];
	int ri[S8_REGIONS];
	size_t psz;
	atomic_int done;
	atomic_int bad;
};

struct s8_arg {
	struct s8 *s;
	int k;
};

/* Thread k: regions r % S8_THREADS == k, reads page r % 2, writes the other. */
static void *s8_main(void *arg)
{
	struct s8_arg *a = arg;
	struct s8 *s = a->s;
	for (int r = a->k; r < S8_REGIONS; r += S8_THREADS) {
		volatile char *rd = s->base[r] + (size_t)(r % 2) * s->psz + 1;
		volatile char *wr = s->base[r] + (size_t)(1 - r % 2) * s->psz + 2;
		if ((unsigned char)*rd != s8_fill[r])
			atomic_fetch_add(&s->bad, 1);
		*wr = (char)~s8_fill[r];
	}
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void regions_4096(enum tr tr)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, 2 * S8_REGIONS, 0);
	static struct s8 s;
	memset(&s, 0, sizeof(s));
	s.psz = (size_t)sysconf(_SC_PAGESIZE);
	for (int r = 0; r < S8_REGIONS; r++) {
		s8_fill[r] = (unsigned char)(r * 7 + 1);
		struct uffdbox_policy p = {.sz = sizeof(p),
					   .source = UFFDBOX_SOURCE_PATTERN,
					   .data = &s8_fill[r],
					   .data_len = 1};
		s.ri[r] = sbx_add(sb, S8_PAGES, 0, &p, r);
		ASSERT_EQ(s.ri[r], r);
		s.base[r] = sbx_base(sb, s.ri[r]);
	}
	for (int round = 0; round < rounds(3); round++) {
		pthread_t th[S8_THREADS];
		struct s8_arg args[S8_THREADS];
		atomic_store(&s.done, 0);
		for (int k = 0; k < S8_THREADS; k++)
			args[k] = (struct s8_arg){.s = &s, .k = k};
		start_threads(th, S8_THREADS, s8_main, args, sizeof(args[0]));
		char what[64];
		snprintf(what, sizeof(what), "round %d: faults in 4096 regions", round);
		await_threads(sb, &s.done, S8_THREADS, 20000, what);
		join_threads(th, S8_THREADS);
		ASSERT_EQ(atomic_load(&s.bad), 0);

		struct uffdbox_record *v;
		size_t n;
		ASSERT(log_all(sb, &v, &n));
		static uint8_t seen[S8_REGIONS][S8_PAGES];
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < n; i++) {
			const struct uffdbox_record *r = &v[i];
			if (r->kind != UFFDBOX_EV_MISSING || r->region < 0 ||
			    r->region >= S8_REGIONS || r->page >= S8_PAGES ||
			    r->resolution != UFFDBOX_RES_PATTERN)
				test_fail(__FILE__, __LINE__,
					  "round %d record %zu: %s/%s region %d page %" PRIu64
					  ", expected missing/pattern (log: %s)",
					  round, i, kind_name(r->kind), res_name(r->resolution),
					  r->region, r->page, breakdown(v, n));
			bool wr = r->page != (uint64_t)(r->region % 2);
			ASSERT_EQ(r->access, wr ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ);
			if (++seen[r->region][r->page] > 1)
				test_fail(__FILE__, __LINE__,
					  "round %d: region %d page %" PRIu64
					  " has 2 records, expected 1 (log: %s)",
					  round, r->region, r->page, breakdown(v, n));
		}
		free(v);
		ASSERT_EQ(n, S8_REGIONS * S8_PAGES);
		for (int r = 0; r < S8_REGIONS; r++) {
			const unsigned char *rd =
				(unsigned char *)s.base[r] + (size_t)(r % 2) * s.psz;
			const unsigned char *wr =
				(unsigned char *)s.base[r] + (size_t)(1 - r % 2) * s.psz;
			ASSERT_EQ(rd[s.psz - 1], s8_fill[r]);
			ASSERT_EQ(wr[2], (unsigned char)~s8_fill[r]);
			ASSERT_EQ(wr[3], s8_fill[r]);
		}
		ASSERT_EQ(uffdbox_sandbox_log_count(sb), S8_REGIONS * S8_PAGES);
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
	}
	uffdbox_sandbox_free(sb);
}

ON_EVERY_TRANSPORT(stress_regions_4096, 0, regions_4096)

/* --- 9. faults while ranges come and go --------------------------------------- */

/*
 * The signal backend finds a fault's range by a binary search over its
 * ranges sorted by address; a register or unregister in another thread
 * moves that index under it, and the lookup then scans every slot instead
 * (core/sigbackend.c).  Here one thread registers and unregisters ranges of
 * its own on the sandbox's uffd (mapped after the regions, so usually below
 * them: each change shifts the whole index) all the while other threads
 * fault into the regions, round after round.  A lookup that missed would
 * pass the SIGSEGV on (the case dies of it); records and contents are
 * checked exactly.  On a userfaultfd the kernel's registrations churn the
 * same way.
 */
enum { S9_REGIONS = 256, S9_PAGES = 2, S9_THREADS = 4, S9_CHURN = 64 };

struct s9 {
	char *base[S9_REGIONS];
	unsigned char fill[S9_REGIONS];
	size_t psz;
	struct uffdbox_uffd *u;
	char *spare; /* 2 * S9_CHURN pages: ranges of one page, a gap between */
	atomic_int done, bad, stop, churns, churn_err;
};

struct s9_arg {
	struct s9 *s;
	int k;
};

/* Thread k: regions r % S9_THREADS == k, reads page r % 2, writes the other. */
static void *s9_main(void *arg)
{
	struct s9_arg *a = arg;
	struct s9 *s = a->s;
	for (int r = a->k; r < S9_REGIONS; r += S9_THREADS) {
		volatile char *rd = s->base[r] + (size_t)(r % 2) * s->psz + 1;
		volatile char *wr = s->base[r] + (size_t)(1 - r % 2) * s->psz + 2;
		if ((unsigned char)*rd != s->fill[r])
			atomic_fetch_add(&s->bad, 1);
		*wr = (char)~s->fill[r];
	}
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void *s9_churn(void *arg)
{
	struct s9 *s = arg;
	while (!atomic_load(&s->stop)) {
		for (int i = 0; i < S9_CHURN; i++)
			if (uffdbox_uffd_register(s->u, s->spare + 2 * (size_t)i * s->psz, s->psz,
						  UFFDBOX_REG_MISSING, NULL) != 0)
				atomic_fetch_add(&s->churn_err, 1);
		for (int i = 0; i < S9_CHURN; i++)
			if (uffdbox_uffd_unregister(s->u, s->spare + 2 * (size_t)i * s->psz,
						    s->psz) != 0)
				atomic_fetch_add(&s->churn_err, 1);
		atomic_fetch_add(&s->churns, 1);
	}
	return NULL;
}

static void regions_churn(enum tr tr)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, 2 * S9_REGIONS * S9_PAGES, 0);
	static struct s9 s;
	memset(&s, 0, sizeof(s));
	s.psz = (size_t)sysconf(_SC_PAGESIZE);
	for (int r = 0; r < S9_REGIONS; r++) {
		s.fill[r] = (unsigned char)(r * 5 + 3);
		struct uffdbox_policy p = {.sz = sizeof(p),
					   .source = UFFDBOX_SOURCE_PATTERN,
					   .data = &s.fill[r],
					   .data_len = 1};
		ASSERT_EQ(sbx_add(sb, S9_PAGES, 0, &p, r), r);
		s.base[r] = sbx_base(sb, r);
	}
	s.u = uffdbox_sandbox_uffd(sb);
	s.spare = mmap(NULL, 2 * S9_CHURN * s.psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(s.spare != MAP_FAILED);
	pthread_t churn;
	ASSERT_EQ(pthread_create(&churn, NULL, s9_churn, &s), 0);
	ASSERT(await_int(&s.churns, 1, 10000)); /* churning before the first fault */
	for (int round = 0; round < rounds(10); round++) {
		pthread_t th[S9_THREADS];
		struct s9_arg args[S9_THREADS];
		atomic_store(&s.done, 0);
		for (int k = 0; k < S9_THREADS; k++)
			args[k] = (struct s9_arg){.s = &s, .k = k};
		start_threads(th, S9_THREADS, s9_main, args, sizeof(args[0]));
		char what[64];
		snprintf(what, sizeof(what), "round %d: faults while ranges churn", round);
		await_threads(sb, &s.done, S9_THREADS, 10000, what);
		join_threads(th, S9_THREADS);
		ASSERT_EQ(atomic_load(&s.bad), 0);

		struct uffdbox_record *v;
		size_t n;
		ASSERT(log_all(sb, &v, &n));
		static uint8_t seen[S9_REGIONS][S9_PAGES];
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < n; i++) {
			const struct uffdbox_record *r = &v[i];
			if (r->kind != UFFDBOX_EV_MISSING || r->region < 0 ||
			    r->region >= S9_REGIONS || r->page >= S9_PAGES ||
			    r->resolution != UFFDBOX_RES_PATTERN || ++seen[r->region][r->page] > 1)
				test_fail(__FILE__, __LINE__,
					  "round %d record %zu: %s/%s region %d page %" PRIu64
					  ", expected one missing/pattern per page (log: %s)",
					  round, i, kind_name(r->kind), res_name(r->resolution),
					  r->region, r->page, breakdown(v, n));
			bool wr = r->page != (uint64_t)(r->region % 2);
			ASSERT_EQ(r->access, wr ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ);
		}
		free(v);
		ASSERT_EQ(n, S9_REGIONS * S9_PAGES);
		for (int r = 0; r < S9_REGIONS; r++) {
			const unsigned char *rd =
				(unsigned char *)s.base[r] + (size_t)(r % 2) * s.psz;
			const unsigned char *wr =
				(unsigned char *)s.base[r] + (size_t)(1 - r % 2) * s.psz;
			ASSERT_EQ(rd[s.psz - 1], s.fill[r]);
			ASSERT_EQ(wr[2], (unsigned char)~s.fill[r]);
			ASSERT_EQ(wr[3], s.fill[r]);
		}
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
	}
	atomic_store(&s.stop, 1);
	ASSERT_EQ(pthread_join(churn, NULL), 0);
	ASSERT_EQ(atomic_load(&s.churn_err), 0);
	ASSERT_GT(atomic_load(&s.churns), 1);
	munmap(s.spare, 2 * S9_CHURN * s.psz);
	uffdbox_sandbox_free(sb);
}

ON_EVERY_TRANSPORT(stress_regions_churn, 0, regions_churn)
