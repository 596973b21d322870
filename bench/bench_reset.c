/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_reset.c - `uffdbox-bench reset`: what it costs to bring a
 * 64 MiB region back to its state before an input, when the input wrote
 * 0.1 %, 1 % or 10 % of its pages.
 *
 *   reset.<pct>_vs_memcpy  uffdbox_snapshot_restore() vs. copying the whole
 *                          region back from a golden copy
 *   reset.<pct>_vs_fork    the same restore vs. fork() of a process holding
 *                          the 64 MiB + the child's _exit(0) + waitpid():
 *                          what a fork server pays per input
 *   reset.<pct>_signal_vs_fork  the adaptive wp-sync restore over the signal
 *                          backend (no userfaultfd: protection changes,
 *                          SIGSEGV, a PAGEMAP_SCAN for dropped pages; what
 *                          runs in a container) vs. the same fork
 *
 * Method.  Three regions of the same size and contents, one per method,
 * because each method leaves its region in a state that would distort the
 * others:
 *   - the snapshot region (restore): armed for write tracking, so every page
 *     is write-protected after a restore and a full memcpy over it would take
 *     one fault per page (WP_ASYNC resolves them in the kernel, but each is
 *     still a fault), and would mark every page written;
 *   - a plain region (memcpy), never registered with a userfaultfd, never
 *     forked: every page stays present and writable, as in a persistent-mode
 *     target that copies everything back;
 *   - a fork-server process (fork), started before anything big is mapped
 *     here, holding only its 64 MiB (and its libc): forking this process,
 *     which also holds the snapshot's shadow copy, the golden copy and the
 *     plain region, would copy the page tables of four times as much memory.
 *     fork() write-protects the parent's pages too, so a region that was
 *     forked would fault on its next full memcpy.
 * All three are 4 KiB pages (MADV_NOHUGEPAGE), as the snapshot tracks them.
 *
 * Per round and per fraction: the same pseudo-random set of pages (a fixed-
 * seed shuffle of the page indices; the 0.1 % set is in the 1 % set, which
 * is in the 10 % set) is written in the snapshot region and in the plain
 * region, outside the timer, then the reset step alone is timed.  The fork
 * server writes nothing: its children would write while the input runs, not
 * during the reset.  So neither side pays for the writes themselves (with
 * WP_ASYNC a write fault per page and round; with fork a copy-on-write fault
 * per page and input).
 *
 * Each method runs BLOCK inputs in a row, as a persistent-mode loop would:
 * a method's steady state includes the cache it leaves itself (a 64 MiB
 * memcpy evicts everything; a restore touches the written pages and the page
 * tables).  The first input of each block runs on the cache the previous
 * method left and is not in the method's figure; for the adaptive restore it
 * is kept apart as "restore.cold" (the restore right after a 64 MiB memcpy or
 * a fork) and compared with memcpy too.  The methods' blocks come in reverse
 * order every other round; one discarded round comes first; a figure is the
 * median over the rounds' inputs.  Every reset is checked outside the timer:
 * restore must return the number of pages written (all of them in COPY
 * mode), the written pages must hash like the golden ones after every input,
 * and the whole region must equal the golden copy byte for byte at the end
 * of each block; the fork server's children must exit with status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uffdbox/snapshot.h>

#include "bench.h"

#define REGION_BYTES ((size_t)64 << 20)
#define FILL_SEED    0x9e3779b97f4a7c15ull
#define PICK_SEED    0x2545f4914f6cdd1dull

enum method { M_ADAPTIVE, M_EAGER, M_SIGNAL, M_MEMCPY, M_FORK, M_COUNT };

/* Snapshot sides per scenario: adaptive, eager, adaptive over signals. */
#define NSIDES 3

static const char *const method_name[M_COUNT] = {
	[M_ADAPTIVE] = "uffdbox.restore",
	[M_EAGER] = "restore.eager",
	[M_SIGNAL] = "restore.signal",
	[M_MEMCPY] = "memcpy",
	[M_FORK] = "fork",
};

/* What an input writes: a fraction of the region in tenths of a percent,
 * the same pages every input, or (churn) the next pages of the shuffled
 * order every input. */
static const struct {
	unsigned int permille;
	bool churn;
	const char *label;
	const char *vs_memcpy, *vs_fork, *vs_eager, *cold_vs_memcpy;
} scenarios[] = {
	{1, false, "0.1pct", "reset.0.1pct_vs_memcpy", "reset.0.1pct_vs_fork",
	 "reset.0.1pct_adaptive_vs_eager", "reset.0.1pct_cold_vs_memcpy"},
	{10, false, "1pct", "reset.1pct_vs_memcpy", "reset.1pct_vs_fork",
	 "reset.1pct_adaptive_vs_eager", "reset.1pct_cold_vs_memcpy"},
	{100, false, "10pct", "reset.10pct_vs_memcpy", "reset.10pct_vs_fork",
	 "reset.10pct_adaptive_vs_eager", "reset.10pct_cold_vs_memcpy"},
	{10, true, "1pct-churn", "reset.1pct_churn_vs_memcpy", "reset.1pct_churn_vs_fork",
	 "reset.1pct_churn_adaptive_vs_eager", "reset.1pct_churn_cold_vs_memcpy"},
};

/* Inputs in a row per method, scenario and round. */
#define BLOCK 8

#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

/* Restores before the measured rounds: enough for the adaptive re-arm to
 * reach its steady state (pages left alone are protected again after 16). */
#define WARMUP_RESTORES 24

static size_t page_size, npages;

static uint64_t lcg_next(uint64_t *x)
{
	/* Knuth's MMIX LCG; the high half is the better half. */
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 32;
}

/* Contents that are neither zeros nor repeated pages, the same in every
 * process that asks. */
static void fill(char *p, size_t len)
{
	uint64_t x = FILL_SEED, *w = (uint64_t *)p;
	for (size_t i = 0; i < len / sizeof(*w); i++)
		w[i] = lcg_next(&x) << 32 | lcg_next(&x);
}

static char *map_region(const char *what)
{
	char *p = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (p == MAP_FAILED)
		bench_die(BENCH_EXIT_FAIL, "%s: mmap of %zu bytes: %s", what, REGION_BYTES,
			  strerror(errno));
	madvise(p, REGION_BYTES, MADV_NOHUGEPAGE);
	return p;
}

/* --- the fork server ----------------------------------------------------- */

struct fork_server {
	pid_t pid;
	int cmd, res; /* our ends: commands to it, results from it */
	size_t rss_pages;
};

struct fork_result {
	uint64_t ns;
	int status, err;
};

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		len -= (size_t)n;
	}
}

static bool read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static size_t resident_pages(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss;
}

/* The server: map and fill its 64 MiB, say how much is resident, then for
 * each command byte time one fork + _exit(0) + waitpid.  EOF ends it. */
static __attribute__((noreturn)) void fork_server_main(int cmd, int res)
{
	char *mem = map_region("fork server");
	fill(mem, REGION_BYTES);
	uint64_t rss = resident_pages();
	write_all(res, &rss, sizeof(rss));

	char c;
	while (read_all(cmd, &c, 1)) {
		struct fork_result r = {0};
		uint64_t t0 = bench_now_ns();
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			r.err = errno;
		} else {
			while (waitpid(pid, &r.status, 0) < 0)
				if (errno != EINTR) {
					r.err = errno;
					break;
				}
		}
		r.ns = bench_now_ns() - t0;
		write_all(res, &r, sizeof(r));
	}
	_exit(0);
}

static void fork_server_start(struct fork_server *fs)
{
	int cmd[2], res[2];
	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
		bench_die(BENCH_EXIT_FAIL, "fork server: pipe: %s", strerror(errno));
	fflush(NULL); /* nothing buffered twice */
	pid_t pid = fork();
	if (pid < 0)
		bench_die(BENCH_EXIT_FAIL, "fork server: fork: %s", strerror(errno));
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		fork_server_main(cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	*fs = (struct fork_server){.pid = pid, .cmd = cmd[1], .res = res[0]};
	uint64_t rss;
	if (!read_all(fs->res, &rss, sizeof(rss)))
		bench_die(BENCH_EXIT_FAIL, "fork server: died while filling its memory");
	fs->rss_pages = rss;
}

/* One fork + exit + wait in the server; µs. */
static double fork_server_round(struct fork_server *fs)
{
	struct fork_result r;
	char c = 'f';
	if (write(fs->cmd, &c, 1) != 1 || !read_all(fs->res, &r, sizeof(r)))
		bench_die(BENCH_EXIT_FAIL, "fork server: gone");
	if (r.err)
		bench_die(BENCH_EXIT_FAIL, "fork server: fork/waitpid: %s", strerror(r.err));
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
		bench_die(BENCH_EXIT_FAIL, "fork server: child ended with status %#x", r.status);
	return (double)r.ns / 1000.0;
}

static void fork_server_stop(struct fork_server *fs)
{
	int st;
	close(fs->cmd);
	close(fs->res);
	while (waitpid(fs->pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* --- the measured side --------------------------------------------------- */

/* One snapshot: its own region, so that each keeps its own written set. */
struct snap_side {
	char *region;
	struct uffdbox_snapshot *snap;
	unsigned long inputs; /* inputs run on it: picks the churn set */
	uint64_t write_ns;    /* the inputs' writes in the measured rounds */
};

struct state {
	char *plain, *golden;
	uint64_t *golden_hash;		      /* page_hash() of each golden page */
	struct snap_side side[NSCEN][NSIDES]; /* [scenario][adaptive, eager, signal] */
	enum uffdbox_snapshot_mode mode;
	size_t *order; /* page indices, shuffled; a scenario's pages are a slice */
	struct fork_server fs;
};

static size_t pages_for(unsigned int permille)
{
	return (npages * permille + 500) / 1000;
}

/* Write one word in each page of the slice [@from, @from + @k) of the
 * order: its complement (the page equals the golden one before each input,
 * so the word changes), at an offset that moves from input to input. */
static void write_pages(const struct state *st, char *base, size_t from, size_t k,
			unsigned long input)
{
	size_t off = ((size_t)(input + 1) * 72) % page_size & ~(size_t)7;
	for (size_t i = from; i < from + k; i++) {
		uint64_t *w = (uint64_t *)(base + st->order[i] * page_size + off);
		*w = ~*w;
	}
}

/* The whole region against the golden copy: at the end of each block. */
static void verify(const struct state *st, const char *what, const char *label, const char *base)
{
	if (!memcmp(base, st->golden, REGION_BYTES))
		return;
	for (size_t i = 0; i < npages; i++)
		if (memcmp(base + i * page_size, st->golden + i * page_size, page_size))
			bench_die(BENCH_EXIT_FAIL,
				  "%s at %s: page %zu differs from the snapshot after the reset",
				  what, label, i);
}

/* A page's fingerprint: every word in, position-dependent. */
static uint64_t page_hash(const char *page)
{
	uint64_t h = 0xcbf29ce484222325ull, w;
	for (size_t o = 0; o < page_size; o += sizeof(w)) {
		memcpy(&w, page + o, sizeof(w));
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

/* The pages the input wrote, after every reset, against the golden pages'
 * fingerprints (the bytes themselves are compared at the end of each block):
 * reading the golden pages too after every input would leave the next
 * reset a cache that no real loop would hand it. */
static void verify_written(const struct state *st, const char *what, const char *label,
			   const char *base, size_t from, size_t k)
{
	for (size_t i = from; i < from + k; i++) {
		size_t pg = st->order[i];
		if (page_hash(base + pg * page_size) != st->golden_hash[pg])
			bench_die(BENCH_EXIT_FAIL,
				  "%s at %s: page %zu differs from the snapshot after the reset",
				  what, label, pg);
	}
}

/* One input on a snapshot side, then its restore, timed; µs.  Checked:
 * the pages copied back are exactly the pages written (all in COPY mode),
 * and the pages written are equal to the golden ones again. */
static double restore_once(struct state *st, size_t f, int v, bool measured)
{
	struct snap_side *sd = &st->side[f][v];
	size_t k = pages_for(scenarios[f].permille);
	size_t from = scenarios[f].churn ? (sd->inputs % (npages / k)) * k : 0;
	uint64_t w0 = bench_now_ns();
	write_pages(st, sd->region, from, k, sd->inputs++);
	struct uffdbox_snapshot_stats before;
	uffdbox_snapshot_stats(sd->snap, &before);
	uint64_t t0 = bench_now_ns();
	if (measured)
		sd->write_ns += t0 - w0;
	ssize_t n = uffdbox_snapshot_restore(sd->snap);
	uint64_t ns = bench_now_ns() - t0;
	const char *what = method_name[v == 2 ? M_SIGNAL : v ? M_EAGER : M_ADAPTIVE];
	if (n < 0)
		bench_die(BENCH_EXIT_FAIL, "%s at %s: %s", what, scenarios[f].label,
			  uffdbox_strerror((int)n));
	size_t want = uffdbox_snapshot_mode(sd->snap) == UFFDBOX_SNAPSHOT_COPY ? npages : k;
	if ((size_t)n != want) {
		struct uffdbox_snapshot_stats now;
		uffdbox_snapshot_stats(sd->snap, &now);
		bench_die(BENCH_EXIT_FAIL,
			  "%s at %s, input %lu: %zd pages copied back, expected %zu (this restore "
			  "compared %" PRIu64 " hot pages and protected %" PRIu64 " again; %" PRIu64
			  " hot before, %" PRIu64 " after)",
			  what, scenarios[f].label, sd->inputs, n, want,
			  now.compared - before.compared, now.rearmed - before.rearmed, before.hot,
			  now.hot);
	}
	verify_written(st, what, scenarios[f].label, sd->region, from, k);
	return (double)ns / 1000.0;
}

static double round_memcpy(struct state *st, size_t f, unsigned long input)
{
	size_t k = pages_for(scenarios[f].permille);
	write_pages(st, st->plain, 0, k, input);
	uint64_t t0 = bench_now_ns();
	memcpy(st->plain, st->golden, REGION_BYTES);
	/* The copy must happen here, not be folded into the check below. */
	__asm__ volatile("" : : "r"(st->plain) : "memory");
	uint64_t ns = bench_now_ns() - t0;
	verify_written(st, method_name[M_MEMCPY], scenarios[f].label, st->plain, 0, k);
	return (double)ns / 1000.0;
}

static double run_method(struct state *st, enum method m, size_t f, bool measured,
			 unsigned long input)
{
	switch (m) {
	case M_ADAPTIVE:
		return restore_once(st, f, 0, measured);
	case M_EAGER:
		return restore_once(st, f, 1, measured);
	case M_SIGNAL:
		return restore_once(st, f, 2, measured);
	case M_MEMCPY:
		return round_memcpy(st, f, input);
	default:
		return fork_server_round(&st->fs);
	}
}

/* After a block: the whole region of the method against the golden copy. */
static void verify_block(const struct state *st, enum method m, size_t f)
{
	if (m == M_FORK)
		return;
	const char *base = m == M_MEMCPY ? st->plain
					 : st->side[f][m == M_EAGER    ? 1
						       : m == M_SIGNAL ? 2
								       : 0]
						   .region;
	verify(st, method_name[m], scenarios[f].label, base);
}

static void snap_check(const char *call, int rc, const char *err)
{
	if (rc >= 0)
		return;
	bench_die(rc == -UFFDBOX_E_DENIED ? BENCH_EXIT_SKIP : BENCH_EXIT_FAIL, "%s: %s%s%s", call,
		  uffdbox_strerror(rc), err[0] ? ": " : "", err);
}

static void side_setup(struct state *st, struct snap_side *sd, bool eager, bool signals)
{
	char err[256] = "";
	struct uffdbox_snapshot_opts so = {
		.sz = sizeof(so),
		.mode = signals ? UFFDBOX_SNAPSHOT_WP_SYNC : UFFDBOX_SNAPSHOT_AUTO,
		.errbuf = err,
		.errbuf_len = sizeof(err),
		.eager = eager,
	};
	/* The signal side: the backend a container without userfaultfd gets
	 * (chosen when the snapshot opens its object). */
	const char *was = getenv("UFFDBOX_BACKEND");
	char saved[16] = "";
	if (was)
		snprintf(saved, sizeof(saved), "%s", was);
	if (signals)
		setenv("UFFDBOX_BACKEND", "signal", 1);
	int rc = uffdbox_snapshot_new(&so, &sd->snap);
	if (signals && was)
		setenv("UFFDBOX_BACKEND", saved, 1);
	else if (signals)
		unsetenv("UFFDBOX_BACKEND");
	snap_check("uffdbox_snapshot_new", rc, err);
	if (!signals)
		st->mode = uffdbox_snapshot_mode(sd->snap);
	sd->region = map_region("snapshot region");
	memcpy(sd->region, st->golden, REGION_BYTES);
	snap_check("uffdbox_snapshot_add", uffdbox_snapshot_add(sd->snap, sd->region, REGION_BYTES),
		   err);
	snap_check("uffdbox_snapshot_take", uffdbox_snapshot_take(sd->snap), err);
}

static void setup(struct state *st)
{
	/* Before anything big is mapped here: the server holds its 64 MiB
	 * and nothing else of ours. */
	fork_server_start(&st->fs);

	st->golden = map_region("golden copy");
	fill(st->golden, REGION_BYTES);
	st->golden_hash = malloc(npages * sizeof(*st->golden_hash));
	if (!st->golden_hash)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < npages; i++)
		st->golden_hash[i] = page_hash(st->golden + i * page_size);
	st->plain = map_region("memcpy region");
	memcpy(st->plain, st->golden, REGION_BYTES);
	for (size_t f = 0; f < NSCEN; f++)
		for (int v = 0; v < NSIDES; v++)
			side_setup(st, &st->side[f][v], v == 1, v == 2);

	st->order = malloc(npages * sizeof(*st->order));
	if (!st->order)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < npages; i++)
		st->order[i] = i;
	uint64_t x = PICK_SEED;
	for (size_t i = 0; i < npages - 1; i++) { /* Fisher-Yates */
		size_t j = i + (size_t)(lcg_next(&x) % (npages - i));
		size_t t = st->order[i];
		st->order[i] = st->order[j];
		st->order[j] = t;
	}
}

static void teardown(struct state *st)
{
	fork_server_stop(&st->fs);
	for (size_t f = 0; f < NSCEN; f++)
		for (int v = 0; v < NSIDES; v++) {
			uffdbox_snapshot_free(st->side[f][v].snap);
			munmap(st->side[f][v].region, REGION_BYTES);
		}
	munmap(st->plain, REGION_BYTES);
	munmap(st->golden, REGION_BYTES);
	free(st->order);
	free(st->golden_hash);
}

static void print_row(const struct bench_series *s, const char *label, const char *pages,
		      double write_us)
{
	char w[32] = "-";
	if (write_us >= 0)
		snprintf(w, sizeof(w), "%.1f", write_us);
	printf("%-16s %-10s %12.3f %10.3f %10.3f %7u %8s %10s\n", s->name, label,
	       bench_series_median(s), bench_series_min(s), bench_series_max(s), s->n, pages, w);
}

int bench_reset(const struct bench_opts *o)
{
	struct state st = {0};
	struct bench_series s[M_COUNT][NSCEN], cold[NSCEN];

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	npages = REGION_BYTES / page_size;
	for (int m = 0; m < M_COUNT; m++)
		for (size_t f = 0; f < NSCEN; f++)
			if (bench_series_init(&s[m][f], method_name[m], o->rounds * (BLOCK - 1)) <
			    0)
				bench_die(BENCH_EXIT_FAIL, "out of memory");
	for (size_t f = 0; f < NSCEN; f++)
		if (bench_series_init(&cold[f], "restore.cold", o->rounds) < 0)
			bench_die(BENCH_EXIT_FAIL, "out of memory");
	setup(&st);

	/* Untimed inputs first, to the restores' steady state. */
	for (int w = 0; w < WARMUP_RESTORES; w++)
		for (size_t f = 0; f < NSCEN; f++)
			for (int v = 0; v < NSIDES; v++)
				restore_once(&st, f, v, false);
	/* Round -1 is the discarded warm-up round of memcpy and fork.  Each
	 * method runs a block of BLOCK inputs in a row; the first of a block
	 * runs on the cache the previous method left and is kept apart. */
	unsigned long input = 0;
	for (int r = -1; r < (int)o->rounds; r++) {
		for (size_t f = 0; f < NSCEN; f++) {
			for (int k = 0; k < M_COUNT; k++) {
				enum method m = (r & 1) ? M_COUNT - 1 - k : k;
				for (int i = 0; i < BLOCK; i++) {
					double us = run_method(&st, m, f, r >= 0, ++input);
					if (r < 0)
						continue;
					if (i > 0)
						bench_series_add(&s[m][f], us);
					else if (m == M_ADAPTIVE)
						bench_series_add(&cold[f], us);
				}
				verify_block(&st, m, f);
			}
		}
	}

	struct uffdbox_snapshot_stats ad, eg;
	uffdbox_snapshot_stats(st.side[3][0].snap, &ad);
	uffdbox_snapshot_stats(st.side[3][1].snap, &eg);
	const char *mode = uffdbox_snapshot_mode_name(st.mode);
	printf("reset: %zu MiB (%zu pages of %zu bytes), %u rounds after %d untimed inputs; "
	       "restore mode %s%s; fork server resident %zu MiB; us per reset, methods "
	       "in alternating blocks of %d inputs\n",
	       REGION_BYTES >> 20, npages, page_size, o->rounds, WARMUP_RESTORES, mode,
	       st.mode == UFFDBOX_SNAPSHOT_WP_ASYNC
		       ? ""
		       : " (NOT wp-async: the kernel or UFFDBOX_FEATURE_MASK hides WP_ASYNC)",
	       st.fs.rss_pages * page_size >> 20, BLOCK);
	printf("1pct-churn: adaptive %.0f pages compared and %.1f protected again per restore "
	       "(%" PRIu64 " hot at the end); eager %.1f protected again per restore\n",
	       (double)ad.compared / (double)ad.restores, (double)ad.rearmed / (double)ad.restores,
	       ad.hot, (double)eg.rearmed / (double)eg.restores);
	printf("%-16s %-10s %12s %10s %10s %7s %8s %10s\n", "method", "written", "median us", "min",
	       "max", "rounds", "pages", "writes us");
	for (size_t f = 0; f < NSCEN; f++) {
		char restored[32], all[32];
		snprintf(restored, sizeof(restored), "%zu",
			 st.mode == UFFDBOX_SNAPSHOT_COPY ? npages
							  : pages_for(scenarios[f].permille));
		snprintf(all, sizeof(all), "%zu", npages);
		print_row(&s[M_ADAPTIVE][f], scenarios[f].label, restored,
			  (double)st.side[f][0].write_ns / 1000.0 / (o->rounds * BLOCK));
		print_row(&cold[f], scenarios[f].label, restored, -1);
		print_row(&s[M_EAGER][f], scenarios[f].label, restored,
			  (double)st.side[f][1].write_ns / 1000.0 / (o->rounds * BLOCK));
		print_row(&s[M_SIGNAL][f], scenarios[f].label, restored,
			  (double)st.side[f][2].write_ns / 1000.0 / (o->rounds * BLOCK));
		print_row(&s[M_MEMCPY][f], scenarios[f].label, all, -1);
		print_row(&s[M_FORK][f], scenarios[f].label, "-", -1);
	}
	printf("\n");
	for (size_t f = 0; f < NSCEN; f++) {
		bench_compare(scenarios[f].vs_memcpy, &s[M_ADAPTIVE][f], &s[M_MEMCPY][f]);
		bench_compare(scenarios[f].vs_fork, &s[M_ADAPTIVE][f], &s[M_FORK][f]);
	}
	for (size_t f = 0; f < NSCEN; f++)
		bench_compare(scenarios[f].vs_eager, &s[M_ADAPTIVE][f], &s[M_EAGER][f]);
	for (size_t f = 0; f < NSCEN; f++) {
		char name[64];
		snprintf(name, sizeof(name), "reset.%s_signal_vs_fork", scenarios[f].label);
		for (char *c = name; *c; c++)
			if (*c == '-')
				*c = '_';
		bench_compare(name, &s[M_SIGNAL][f], &s[M_FORK][f]);
	}
	for (size_t f = 0; f < NSCEN; f++)
		bench_compare(scenarios[f].cold_vs_memcpy, &cold[f], &s[M_MEMCPY][f]);
	fflush(stdout);

	teardown(&st);
	for (size_t f = 0; f < NSCEN; f++) {
		bench_series_free(&cold[f]);
		for (int m = 0; m < M_COUNT; m++)
			bench_series_free(&s[m][f]);
	}
	return BENCH_EXIT_OK;
}
