/* SPDX-License-Identifier: MIT */
/*
 * tests/test_stress.c - "exactly once" under load, through the public API
 * only (issue 11): many threads on many regions, racing first writes to
 * write-protected pages, reset between inputs with faults in flight,
 * signals to a held thread, free with held threads, write-protect arming and
 * snapshots under the legacy feature masks, 4,096 regions.
 *
 * Every case runs on every transport the sandbox has (SYNC, SERVED with
 * poll, SERVED busy-polling) where the behaviour applies, and checks exact
 * record counts and contents.  The ctest label is "stress" (the name's
 * prefix): `ctest -L stress`.
 *
 * "Exactly once" is read strictly here: one record per fault per page,
 * whatever the number of threads racing for it.  A second thread that finds
 * the page already resolved is woken, not recorded (no "exists" record), so
 * the log of an input does not depend on the schedule.
 *
 * Racy cases do not stop at the first bad page: they count every deviation
 * over all rounds and fail once, at the end, with the counts, so one run says
 * how often it happens.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* --- transports ------------------------------------------------------------ */

enum tr { TR_SYNC, TR_POLL, TR_BUSY };
static const char *const tr_names[] = {"sync", "poll", "busy"};

/* One TEST_CASE per transport: NAME_sync, NAME_poll, NAME_busy. */
#define ON_EVERY_TRANSPORT(name_, feats_, fn_)                             \
	TEST_CASE(name_##_sync, TMEM_NONE, (feats_) | UFFD_FEATURE_SIGBUS) \
	{                                                                  \
		fn_(TR_SYNC);                                              \
	}                                                                  \
	ON_SERVED(name_, feats_, fn_)

#define ON_SERVED(name_, feats_, fn_)                \
	TEST_CASE(name_##_poll, TMEM_NONE, (feats_)) \
	{                                            \
		fn_(TR_POLL);                        \
	}                                            \
	TEST_CASE(name_##_busy, TMEM_NONE, (feats_)) \
	{                                            \
		fn_(TR_BUSY);                        \
	}

/* Fewer rounds under a sanitizer (TSan 5-15x slower, ASan 2-3x), the same
 * assertions. */
static int rounds(int n)
{
	return TEST_TSAN || TEST_ASAN ? (n + 4) / 5 : n;
}

static struct uffdbox_sandbox *sbx_new(enum tr tr, size_t ring, unsigned int watchdog_ms)
{
	char err[512] = "";
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = tr == TR_SYNC ? UFFDBOX_TRANSPORT_SYNC
								    : UFFDBOX_TRANSPORT_SERVED,
					 .busy_poll = tr == TR_BUSY,
					 .ring_records = ring,
					 .watchdog_ms = watchdog_ms,
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	struct uffdbox_sandbox *sb;
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "sandbox_new(%s): %s: %s", tr_names[tr],
			  uffdbox_strerror(rc), err);
	return sb;
}

static int sbx_add(struct uffdbox_sandbox *sb, size_t pages, unsigned int modes,
		   const struct uffdbox_policy *pol, int nth)
{
	char err[512] = "";
	struct uffdbox_region_opts ro = {.sz = sizeof(ro),
					 .pages = pages,
					 .modes = modes,
					 .name = "stress",
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	int ri = uffdbox_sandbox_add_region(sb, &ro, pol);
	if (ri < 0)
		test_fail(__FILE__, __LINE__, "add_region #%d: %d (%s), expected >= 0: %s", nth, ri,
			  uffdbox_strerror(ri), err);
	return ri;
}

static char *sbx_base(struct uffdbox_sandbox *sb, int ri)
{
	return uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
}

/* Does the log give exact in-page offsets on this sandbox? */
static bool exact_offsets(struct uffdbox_sandbox *sb, enum tr tr)
{
	return tr == TR_SYNC ||
	       (uffdbox_uffd_features(uffdbox_sandbox_uffd(sb)) & UFFD_FEATURE_EXACT_ADDRESS);
}

/* Hide @mask from the feature probe for the rest of this (forked) case:
 * the probe reads UFFDBOX_FEATURE_MASK at every open.  Skip when the
 * kernel, minus the mask, lacks @need. */
static void use_mask(const char *mask, uint64_t need)
{
	uint64_t have = 0;
	if (mask)
		ASSERT_EQ(setenv("UFFDBOX_FEATURE_MASK", mask, 1), 0);
	ASSERT_OK(uffdbox_uffd_probe(NULL, &have, NULL));
	if (need & ~have) {
		char names[256];
		uffdbox_features_format(need & ~have, names, sizeof(names));
		SKIP("needs %s, not offered by this kernel with UFFDBOX_FEATURE_MASK=%s", names,
		     getenv("UFFDBOX_FEATURE_MASK") ? getenv("UFFDBOX_FEATURE_MASK") : "(unset)");
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until *@counter reaches @want; false after @ms.  Spins (yielding)
 * rather than sleeping, so that the caller goes on the moment the count is
 * reached: the reset-in-flight case needs that window. */
static bool await_int(atomic_int *counter, int want, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	while (atomic_load(counter) < want) {
		if (now_ms() > end)
			return false;
		sched_yield();
	}
	return true;
}

/* The threads of a case must finish their accesses in @ms, or the case
 * fails saying so (a thread stuck in a fault, or a livelock: the log
 * count tells which). */
static void await_threads(struct uffdbox_sandbox *sb, atomic_int *done, int want, unsigned int ms,
			  const char *what)
{
	uint64_t before = uffdbox_sandbox_log_count(sb);
	if (!await_int(done, want, ms))
		test_fail(__FILE__, __LINE__,
			  "%s: %d of %d threads finished in %u ms; log count %" PRIu64
			  " -> %" PRIu64 " meanwhile",
			  what, atomic_load(done), want, ms, before, uffdbox_sandbox_log_count(sb));
}

/* --- reading the log --------------------------------------------------------- */

static const char *kind_name(unsigned int k)
{
	static const char *const n[] = {"?",	 "missing", "wp",    "minor",	 "fork",
					"remap", "remove",  "unmap", "watchdog", "uau"};
	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static const char *res_name(unsigned int r)
{
	static const char *const n[] = {"none",	    "zero",	 "pattern", "buffer", "file",
					"callback", "unprotect", "paused",  "poison", "released",
					"abort",    "exists",	 "gone",    "timeout"};
	return r < sizeof(n) / sizeof(n[0]) ? n[r] : "?";
}

/*
 * Copy every record of the log into a malloc'd array (*@out, *@n).  Returns
 * false when the ring no longer holds them all (overwritten): the caller
 * counts that as lost records.
 */
static bool log_all(struct uffdbox_sandbox *sb, struct uffdbox_record **out, size_t *n)
{
	uint64_t count = uffdbox_sandbox_log_count(sb);
	struct uffdbox_record *v = calloc(count ? count : 1, sizeof(*v));
	ASSERT_NOT_NULL(v);
	for (uint64_t i = 0; i < count; i++) {
		int rc = uffdbox_sandbox_log_get(sb, i, &v[i]);
		if (rc == -ENOENT) {
			free(v);
			*out = NULL;
			*n = (size_t)count;
			return false;
		}
		ASSERT_OK(rc);
		ASSERT_UEQ(v[i].seq, i);
	}
	*out = v;
	*n = (size_t)count;
	return true;
}

/* "missing/pattern=256 wp/unprotect=300" : what a log holds, for messages. */
static const char *breakdown(const struct uffdbox_record *v, size_t n)
{
	static char buf[512];
	unsigned int cnt[16][16] = {{0}};
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		cnt[v[i].kind & 15][v[i].resolution & 15]++;
	buf[0] = '\0';
	for (int k = 0; k < 16; k++)
		for (int r = 0; r < 16; r++)
			if (cnt[k][r] && len < sizeof(buf))
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s/%s=%u",
							len ? " " : "", kind_name((unsigned)k),
							res_name((unsigned)r), cnt[k][r]);
	return n ? buf : "(empty)";
}

/* The last @max records of the log, one per line, for messages. */
static const char *listing(struct uffdbox_sandbox *sb, size_t max)
{
	static char buf[1024];
	size_t len = 0;
	uint64_t count = uffdbox_sandbox_log_count(sb);
	buf[0] = '\0';
	for (uint64_t i = count > max ? count - max : 0; i < count && len < sizeof(buf); i++) {
		struct uffdbox_record r;
		if (uffdbox_sandbox_log_get(sb, i, &r) < 0)
			break;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"\n  #%" PRIu64 " %s/%s region %d page %" PRIu64
					" access %u thread %u",
					r.seq, kind_name(r.kind), res_name(r.resolution), r.region,
					r.page, r.access, r.thread);
	}
	return buf;
}

/* Start @n threads running @fn(&args[i]) (args of @size bytes each). */
static void start_threads(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t size)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size), 0);
}

static void join_threads(pthread_t *th, int n)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
}

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

/* --- 3. reset between inputs with faults in flight -------------------------- */

/*
 * Input i touches the pages p with p % 3 == i % 3 of every region, eight
 * threads on the same pages in the same order (so that several fault
 * messages name one page, up to the last).  The threads report done; then reset and log
 * reset; then the next input.  A message of input i-1 handled after the
 * reset would show as a record of a page not in input i's set, or as a page
 * mapped that input i never touched (mincore): input i-1's pages are
 * neither input i's nor input i+1's.  Even inputs are reset the moment their
 * threads are done (the widest window for a message in flight), odd ones are
 * checked first, then reset.
 */
enum { S3_THREADS = 8, S3_REGIONS = 4, S3_PAGES = 48, S3_INPUTS = 300, S3_FILL = 0x3d };

struct s3 {
	char *base[S3_REGIONS];
	int ri[S3_REGIONS];
	size_t psz;
	atomic_int go;	 /* input number + 1 the threads may start */
	atomic_int done; /* thread-inputs finished */
	atomic_int bad_bytes;
	atomic_bool stop;
};

struct s3_arg {
	struct s3 *s;
	int k;
};

static void *s3_main(void *arg)
{
	struct s3_arg *a = arg;
	struct s3 *s = a->s;
	for (int input = 0;; input++) {
		while (atomic_load(&s->go) <= input && !atomic_load(&s->stop))
			sched_yield();
		if (atomic_load(&s->stop))
			break;
		int n = S3_PAGES / 3;
		for (int j = 0; j < n * S3_REGIONS; j++) {
			int x = j;
			int r = x % S3_REGIONS, p = (x / S3_REGIONS) * 3 + input % 3;
			volatile char *c = s->base[r] + (size_t)p * s->psz + (size_t)a->k;
			if (*c != S3_FILL)
				atomic_fetch_add(&s->bad_bytes, 1);
		}
		atomic_fetch_add(&s->done, 1);
	}
	return NULL;
}

/* Fills per page, this input. */
static _Atomic unsigned int s3_fills[S3_REGIONS][S3_PAGES];

/*
 * The contents; and a millisecond's wait in every fill of the input's very
 * last page (last region, last row) but the first.  A fill that is not the
 * first is a second message for a page already resolved: its thread is
 * running already, so the wait holds such messages in flight while the test
 * resets, which is what this case looks for.  Async-signal-safe (nanosleep),
 * for SYNC, where it only slows the racing thread itself.
 */
static int s3_fill(void *arg, int region, uint64_t index, void *page, size_t len)
{
	(void)arg;
	memset(page, S3_FILL, len);
	if (region == S3_REGIONS - 1 && index < S3_PAGES && index / 3 == S3_PAGES / 3 - 1 &&
	    atomic_fetch_add(&s3_fills[region][index], 1) > 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void reset_in_flight(enum tr tr)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, 4096, 0);
	struct uffdbox_policy p = {
		.sz = sizeof(p), .source = UFFDBOX_SOURCE_CALLBACK, .fill = s3_fill};
	static struct s3 s;
	memset(&s, 0, sizeof(s));
	s.psz = (size_t)sysconf(_SC_PAGESIZE);
	for (int r = 0; r < S3_REGIONS; r++) {
		s.ri[r] = sbx_add(sb, S3_PAGES, 0, &p, r);
		ASSERT_EQ(s.ri[r], r); /* s3_fill knows the last region by its index */
		s.base[r] = sbx_base(sb, s.ri[r]);
	}
	pthread_t th[S3_THREADS];
	struct s3_arg args[S3_THREADS];
	for (int k = 0; k < S3_THREADS; k++)
		args[k] = (struct s3_arg){.s = &s, .k = k};
	start_threads(th, S3_THREADS, s3_main, args, sizeof(args[0]));

	int inputs = rounds(S3_INPUTS);
	int foreign_rec = 0, foreign_map = 0, dup = 0, lost = 0, unmapped = 0, other = 0;
	int first_foreign = -1;
	uint64_t most = 0;
	for (int input = 0; input < inputs; input++) {
		char what[64];
		/* a fresh log must be empty before anything runs */
		other += uffdbox_sandbox_log_count(sb) != 0;
		for (int r = 0; r < S3_REGIONS; r++)
			for (int pg = 0; pg < S3_PAGES; pg++)
				atomic_store(&s3_fills[r][pg], 0);
		atomic_store(&s.go, input + 1);
		snprintf(what, sizeof(what), "input %d", input);
		await_threads(sb, &s.done, (input + 1) * S3_THREADS, 10000, what);

		if (input % 2 == 0) {
			/* no delay: whatever the handler still has in hand
			 * is in flight across the reset, and shows in the next
			 * input, which is checked */
			ASSERT_OK(uffdbox_sandbox_reset(sb));
			uffdbox_sandbox_log_reset(sb);
			continue;
		}
		struct uffdbox_record *v;
		size_t n;
		bool bad_rec = false, bad_map = false;
		if (uffdbox_sandbox_log_count(sb) > most)
			most = uffdbox_sandbox_log_count(sb);
		ASSERT(log_all(sb, &v, &n));
		unsigned int cnt[S3_REGIONS][S3_PAGES] = {{0}};
		for (size_t i = 0; i < n; i++) {
			int r = -1;
			for (int x = 0; x < S3_REGIONS; x++)
				if (s.ri[x] == v[i].region)
					r = x;
			if (r < 0 || v[i].page >= S3_PAGES || v[i].kind != UFFDBOX_EV_MISSING) {
				other++;
				continue;
			}
			if ((int)(v[i].page % 3) != input % 3)
				bad_rec = true;
			else if (v[i].resolution == UFFDBOX_RES_EXISTS)
				dup++;
			else
				cnt[r][v[i].page]++;
		}
		free(v);
		for (int r = 0; r < S3_REGIONS; r++) {
			unsigned char vec[S3_PAGES];
			ASSERT_EQ(mincore(s.base[r], S3_PAGES * s.psz, vec), 0);
			for (int pg = 0; pg < S3_PAGES; pg++) {
				bool mine = pg % 3 == input % 3;
				if (mine) {
					dup += cnt[r][pg] > 1;
					lost += cnt[r][pg] == 0;
					unmapped += !(vec[pg] & 1);
				} else if (vec[pg] & 1) {
					bad_map = true;
				}
			}
		}
		foreign_rec += bad_rec;
		foreign_map += bad_map;
		if ((bad_rec || bad_map) && first_foreign < 0)
			first_foreign = input;
		ASSERT_OK(uffdbox_sandbox_reset(sb));
		uffdbox_sandbox_log_reset(sb);
	}
	atomic_store(&s.stop, true);
	join_threads(th, S3_THREADS);
	uffdbox_sandbox_free(sb);
	if (foreign_rec || foreign_map || dup || lost || unmapped || other ||
	    atomic_load(&s.bad_bytes))
		test_fail(__FILE__, __LINE__,
			  "%d inputs x %d threads (%s), %d checked: inputs holding records of "
			  "another input "
			  "%d, inputs with a page mapped that it never touched %d (first at input "
			  "%d); expected 0 and 0; also: duplicate or exists records %d, touched "
			  "pages without a record %d, touched pages not mapped %d, unexpected "
			  "records %d (most records in an input %" PRIu64 ", expected %d), reads "
			  "with wrong bytes %d",
			  inputs, S3_THREADS, tr_names[tr], inputs / 2, foreign_rec, foreign_map,
			  first_foreign, dup, lost, unmapped, other, most,
			  S3_REGIONS * S3_PAGES / 3, atomic_load(&s.bad_bytes));
}

ON_EVERY_TRANSPORT(stress_reset_in_flight, 0, reset_in_flight)

/* --- 4. signals to a thread held by the pause policy ------------------------ */

static atomic_int s4_signals;

static void s4_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&s4_signals, 1);
}

struct s4 {
	volatile char *addr;
	atomic_int done;
	atomic_int got;
};

static void *s4_main(void *arg)
{
	struct s4 *s = arg;
	atomic_store(&s->got, (unsigned char)*s->addr);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

/*
 * A held thread gets @nsig SIGUSR1s (handled, empty handler).  The kernel
 * interrupts the fault, runs the handler and retries the access, which is a
 * new fault message each time: it must stay one held entry, the thread must
 * stay held until released, and then see the released bytes.
 */
static void signals_to_held(enum tr tr, int nsig)
{
	/* the watchdog must not be what lets the thread go */
	struct uffdbox_sandbox *sb = sbx_new(tr, 0, 60000);
	struct uffdbox_policy p = {.sz = sizeof(p), .action = UFFDBOX_POLICY_PAUSE};
	int ri = sbx_add(sb, 1, 0, &p, 0);
	struct sigaction sa = {.sa_handler = s4_handler}, old;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	atomic_store(&s4_signals, 0);

	static struct s4 s;
	memset(&s, 0, sizeof(s));
	s.addr = sbx_base(sb, ri) + 5;
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, s4_main, &s), 0);
	struct uffdbox_paused pz, all[8];
	ASSERT_OK(uffdbox_sandbox_wait_paused(sb, ri, 0, 5000, &pz));

	int most = 1, held_after = 1, first_bad = -1;
	int sent = 0;
	for (int i = 0; i < nsig && !atomic_load(&s.done); i++, sent++) {
		ASSERT_EQ(pthread_kill(th, SIGUSR1), 0);
		/* TSan defers a signal's handler to the thread's next
		 * intercepted call, which a thread blocked in a fault never
		 * makes: wait for the handler only without TSan. */
		if (!TEST_TSAN && !await_int(&s4_signals, i + 1, 5000))
			test_fail(__FILE__, __LINE__,
				  "signal %d: the held thread ran %d handlers in 5 s, expected %d",
				  i + 1, atomic_load(&s4_signals), i + 1);
		/* the retried access reaches the handler thread in microseconds;
		 * give it a few milliseconds (more for the last one) */
		usleep(i == nsig - 1 ? 100000 : nsig > 10 ? 3000 : 50000);
		int held = uffdbox_sandbox_paused(sb, all, 8);
		if (held > most)
			most = held;
		if ((held != 1 || atomic_load(&s.done)) && first_bad < 0)
			first_bad = i + 1;
		held_after = held;
	}
	int done_before = atomic_load(&s.done);
	if (most != 1 || held_after != 1 || done_before)
		test_fail(__FILE__, __LINE__,
			  "%d of %d signals sent to a held thread (%s): held entries at most %d "
			  "and %d after the last signal, expected 1 and 1; thread let go without "
			  "release: %s (read 0x%02x); first wrong after signal %d",
			  sent, nsig, tr_names[tr], most, held_after, done_before ? "yes" : "no",
			  atomic_load(&s.got), first_bad);
	ASSERT_EQ(all[0].region, ri);
	ASSERT_EQ(all[0].page, 0);

	char page[4096];
	ASSERT(sysconf(_SC_PAGESIZE) <= (long)sizeof(page));
	memset(page, 0x5a, sizeof(page));
	ASSERT_OK(uffdbox_sandbox_release(sb, all[0].id, page));
	await_threads(sb, &s.done, 1, 5000, "the released thread");
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(atomic_load(&s.got), 0x5a);
	/* nothing left held, one record: the release */
	usleep(20000);
	int left = uffdbox_sandbox_paused(sb, all, 8);
	uint64_t count = uffdbox_sandbox_log_count(sb);
	if (left != 0 || count != 1)
		test_fail(__FILE__, __LINE__,
			  "after the release (%d signals, %s): %d entries still held, expected 0; "
			  "%" PRIu64 " records, expected 1 (released):%s",
			  nsig, tr_names[tr], left, count, listing(sb, 8));
	struct uffdbox_record r;
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 0, &r));
	ASSERT_EQ(r.resolution, UFFDBOX_RES_RELEASED);
	ASSERT_EQ(r.page, 0);
	uffdbox_sandbox_free(sb);
	ASSERT_EQ(sigaction(SIGUSR1, &old, NULL), 0);
}

static void s4_three(enum tr tr)
{
	signals_to_held(tr, 3);
}

static void s4_hundred(enum tr tr)
{
	signals_to_held(tr, 100);
}

ON_SERVED(stress_signal_held_3, 0, s4_three)
ON_SERVED(stress_signal_held_100, 0, s4_hundred)

/* --- 5. free with held threads ------------------------------------------------ */

/*
 * uffdbox_sandbox_free() while threads are held.  Two behaviours are
 * accepted, nothing else:
 *   - free refuses with -EBUSY (its return type is then int) while threads
 *     are held, leaving them held; after release_all() and the joins, free
 *     succeeds;
 *   - free releases them (zeros) and keeps their ranges reserved until they
 *     have retried: every thread finishes, reading zeros.
 * Either way no thread may die of SIGSEGV.  Each try runs in its own child,
 * so a crash is seen and counted, not fatal to the case.
 */
enum { S5_THREADS = 4, S5_TRIES = 50 };

#define FREE_RETURNS_INT __builtin_types_compatible_p(__typeof__(uffdbox_sandbox_free(NULL)), int)
/* uffdbox_sandbox_free(sb)'s result whichever its type (0 when void). */
#define SANDBOX_FREE(sb_)                                                  \
	__builtin_choose_expr(FREE_RETURNS_INT, uffdbox_sandbox_free(sb_), \
			      (uffdbox_sandbox_free(sb_), 0))

struct s5 {
	volatile char *addr[S5_THREADS];
	atomic_int done;
	atomic_int nonzero;
};

struct s5_arg {
	struct s5 *s;
	int k;
};

static void *s5_main(void *arg)
{
	struct s5_arg *a = arg;
	if (*a->s->addr[a->k] != 0)
		atomic_fetch_add(&a->s->nonzero, 1);
	atomic_fetch_add(&a->s->done, 1);
	return NULL;
}

/* One try, in a child: exits 0 when the behaviour was one of the two. */
static void free_held_try(enum tr tr)
{
	struct uffdbox_sandbox *sb = sbx_new(tr, 0, 60000);
	struct uffdbox_policy p = {.sz = sizeof(p), .action = UFFDBOX_POLICY_PAUSE};
	int ri = sbx_add(sb, S5_THREADS, 0, &p, 0);
	static struct s5 s;
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	for (int k = 0; k < S5_THREADS; k++)
		s.addr[k] = sbx_base(sb, ri) + (size_t)k * psz + 9;
	pthread_t th[S5_THREADS];
	struct s5_arg args[S5_THREADS];
	for (int k = 0; k < S5_THREADS; k++)
		args[k] = (struct s5_arg){.s = &s, .k = k};
	start_threads(th, S5_THREADS, s5_main, args, sizeof(args[0]));
	struct uffdbox_paused all[S5_THREADS * 2];
	int held = 0;
	for (int i = 0; i < 5000 && (held = uffdbox_sandbox_paused(sb, all, 8)) < S5_THREADS; i++)
		usleep(1000);
	ASSERT_EQ(held, S5_THREADS);

	int rc = SANDBOX_FREE(sb);
	if (rc == -EBUSY) {
		/* refused: everything as it was */
		usleep(20000);
		ASSERT_EQ(atomic_load(&s.done), 0);
		ASSERT_EQ(uffdbox_sandbox_paused(sb, all, 8), S5_THREADS);
		ASSERT_EQ(uffdbox_sandbox_release_all(sb), S5_THREADS);
		await_threads(sb, &s.done, S5_THREADS, 5000, "threads released after -EBUSY");
		join_threads(th, S5_THREADS);
		ASSERT_EQ(SANDBOX_FREE(sb), 0);
	} else {
		ASSERT_EQ(rc, 0);
		uint64_t end = now_ms() + 5000;
		while (atomic_load(&s.done) < S5_THREADS && now_ms() < end)
			sched_yield();
		if (atomic_load(&s.done) < S5_THREADS)
			test_fail(__FILE__, __LINE__,
				  "free returned, and %d of %d held threads finished in 5 s",
				  atomic_load(&s.done), S5_THREADS);
		join_threads(th, S5_THREADS);
	}
	ASSERT_EQ(atomic_load(&s.nonzero), 0);
}

static void free_held(enum tr tr)
{
	int ok = 0, segv = 0, failed = 0, other = 0, last_other = 0;
	/* under a sanitizer each crash is a symbolized report: fewer tries */
	int tries = rounds(S5_TRIES);
	for (int i = 0; i < tries; i++) {
		fflush(NULL);
		pid_t pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			free_held_try(tr);
			fflush(NULL);
			_exit(0);
		}
		int status;
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else if (TEST_DIED_OF(status, SIGSEGV))
			segv++;
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
			failed++; /* an assertion, printed above */
		else
			other++, last_other = status;
	}
	if (ok != tries)
		test_fail(__FILE__, __LINE__,
			  "free with %d threads held (%s), %d tries: %d fine, %d died of SIGSEGV "
			  "(or a sanitizer's report of it), %d failed an assertion, %d other "
			  "(last wait status 0x%x); expected %d fine (free %s)",
			  S5_THREADS, tr_names[tr], tries, ok, segv, failed, other, last_other,
			  tries,
			  FREE_RETURNS_INT ? "returns int: -EBUSY or 0 accepted"
					   : "returns void: ranges must stay reserved");
}

ON_SERVED(stress_free_held, 0, free_held)

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
