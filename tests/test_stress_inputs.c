/* SPDX-License-Identifier: MIT */
/*
 * tests/test_stress_inputs.c - between inputs and around held threads:
 * reset with faults in flight, signals to a thread held by the pause policy,
 * free with held threads
 * (issue 11; helpers and conventions in tests/stress.h, cases in
 * docs/stress.md; label "stress").
 */
#include "stress.h"

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
	sbx_needs_atomic_fill(sb);
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
