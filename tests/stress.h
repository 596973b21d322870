/* SPDX-License-Identifier: MIT */
/*
 * tests/stress.h - what the stress cases (tests/test_stress*.c, label
 * "stress") share: one case per transport, a sandbox and its regions, bounded
 * waits for threads, and the log read back whole and summarized for failure
 * messages.  Public API only.
 *
 * Every case runs on every transport the sandbox has (SYNC, SERVED with
 * poll, SERVED busy-polling) where the behaviour applies, and checks exact
 * record counts and contents.
 *
 * "Exactly once" is read strictly: one record per fault per page, whatever
 * the number of threads racing for it.  A second thread that finds the page
 * already resolved is woken, not recorded (no "exists" record), so the log
 * of an input does not depend on the schedule.
 *
 * Racy cases do not stop at the first bad page: they count every deviation
 * over all rounds and fail once, at the end, with the counts, so one run says
 * how often it happens.  See docs/stress.md.
 */
#ifndef UFFDBOX_TESTS_STRESS_H
#define UFFDBOX_TESTS_STRESS_H

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "sigbackend.h"

/* --- transports ------------------------------------------------------------ */

enum tr { TR_SYNC, TR_POLL, TR_BUSY };
static const char *const tr_names[] __attribute__((unused)) = {"sync", "poll", "busy"};

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
static inline int rounds(int n)
{
	return TEST_TSAN || TEST_ASAN ? (n + 4) / 5 : n;
}

static inline struct uffdbox_sandbox *sbx_new(enum tr tr, size_t ring, unsigned int watchdog_ms)
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

/*
 * Cases where threads write a page at the moment another thread's fault
 * fills it: a userfaultfd maps a page whole; the signal backend writes it
 * through /proc/self/mem while it is still inaccessible, where it can
 * (docs/backends.md).  Where it cannot, it fills in place and such a write
 * can be lost: those cases skip there and say why.
 */
static inline void sbx_needs_atomic_fill(struct uffdbox_sandbox *sb)
{
	struct uffdbox__sig *bk = uffdbox__uffd_sig(uffdbox_sandbox_uffd(sb));
	if (bk && !uffdbox__sig_hidden_fills(bk)) {
		uffdbox_sandbox_free(sb);
		SKIP("the signal backend cannot write through /proc/self/mem here, so it fills "
		     "a page in place: a write racing the fill can be lost (docs/backends.md); "
		     "this case checks whole-page fills");
	}
}

static inline int sbx_add(struct uffdbox_sandbox *sb, size_t pages, unsigned int modes,
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

static inline char *sbx_base(struct uffdbox_sandbox *sb, int ri)
{
	return uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
}

/* Does the log give exact in-page offsets on this sandbox? */
static inline bool exact_offsets(struct uffdbox_sandbox *sb, enum tr tr)
{
	return tr == TR_SYNC ||
	       (uffdbox_uffd_features(uffdbox_sandbox_uffd(sb)) & UFFD_FEATURE_EXACT_ADDRESS);
}

/* Hide @mask from the feature probe for the rest of this (forked) case:
 * the probe reads UFFDBOX_FEATURE_MASK at every open.  Skip when the
 * kernel, minus the mask, lacks @need. */
static inline void use_mask(const char *mask, uint64_t need)
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

static inline uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until *@counter reaches @want; false after @ms.  Spins (yielding)
 * rather than sleeping, so that the caller goes on the moment the count is
 * reached: the reset-in-flight case needs that window. */
static inline bool await_int(atomic_int *counter, int want, unsigned int ms)
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
static inline void await_threads(struct uffdbox_sandbox *sb, atomic_int *done, int want,
				 unsigned int ms, const char *what)
{
	uint64_t before = uffdbox_sandbox_log_count(sb);
	if (!await_int(done, want, ms))
		test_fail(__FILE__, __LINE__,
			  "%s: %d of %d threads finished in %u ms; log count %" PRIu64
			  " -> %" PRIu64 " meanwhile",
			  what, atomic_load(done), want, ms, before, uffdbox_sandbox_log_count(sb));
}

/* --- reading the log --------------------------------------------------------- */

static inline const char *kind_name(unsigned int k)
{
	static const char *const n[] = {"?",	 "missing", "wp",    "minor",	 "fork",
					"remap", "remove",  "unmap", "watchdog", "uau"};
	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static inline const char *res_name(unsigned int r)
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
static inline bool log_all(struct uffdbox_sandbox *sb, struct uffdbox_record **out, size_t *n)
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
static inline const char *breakdown(const struct uffdbox_record *v, size_t n)
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
static inline const char *listing(struct uffdbox_sandbox *sb, size_t max)
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
static inline void start_threads(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t size)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size), 0);
}

static inline void join_threads(pthread_t *th, int n)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
}

#endif /* UFFDBOX_TESTS_STRESS_H */
