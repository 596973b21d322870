/* SPDX-License-Identifier: MIT */
/*
 * bench/ab.c - `uffdbox-bench-ab A.so B.so`: two builds of libuffdbox.so
 * against each other, and each against the raw SIGBUS handler, in one
 * process: what a change to the fault path is worth, to about 1 % per run
 * and better over the median of several, on this shared machine, where
 * `uffdbox-bench fault` moves by several per cent from run to run.
 *
 * Both libraries are loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so each
 * has its own globals (the SIGBUS handler's sandbox pointer among them) and
 * calls its own functions.  Each round measures raw, A and B once each -
 * SYNC transport, one region, zeros, the same first touches as
 * `uffdbox-bench fault` - in an order that rotates through the six
 * permutations, so that no side always runs after the same one; a
 * comparison's ratio is the median of its per-round ratios.
 *
 * Both libraries are loaded from fresh copies in /tmp, made at each run:
 * two files of the same bytes, loaded from where they were built, gave B/A
 * 0.985-0.991 in three runs - where a file's pages sit in physical memory
 * (and so in the caches) is fixed for as long as it is in the page cache,
 * and that favoured one side every time.  Fresh copies move that to each
 * run, so that it averages out over several: take the median of a few
 * runs.  (The same file given twice is also an A/A control.)
 *
 *   cmake --build build/default --target uffdbox_shared   # before
 *   cp build/default/libuffdbox.so.0.* /tmp/A.so
 *   (change, build)                                        # after
 *   build/default/bench/uffdbox-bench-ab /tmp/A.so build/default/libuffdbox.so
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uffdbox/sandbox.h>

#include "bench.h"
#include "raw_handler.h"

#define WARMUP_PAGES 16

struct lib {
	const char *path;
	int (*sandbox_new)(const struct uffdbox_sandbox_opts *, struct uffdbox_sandbox **);
	int (*add_region)(struct uffdbox_sandbox *, const struct uffdbox_region_opts *,
			  const struct uffdbox_policy *);
	struct uffdbox_region *(*region)(struct uffdbox_sandbox *, int);
	void *(*region_addr)(const struct uffdbox_region *);
	void (*log_reset)(struct uffdbox_sandbox *);
	uint64_t (*log_count)(const struct uffdbox_sandbox *);
	void (*sandbox_free)(struct uffdbox_sandbox *);
	const char *(*strerror_)(int);
};

static size_t page_size;

static void *sym(void *h, const char *path, const char *name)
{
	void *p = dlsym(h, name);
	if (!p)
		bench_die(BENCH_EXIT_FAIL, "%s: no symbol %s: is it a libuffdbox.so?", path, name);
	return p;
}

/* Load @copy, the copy of @path (which messages name). */
static void load(struct lib *l, const char *path, const char *copy)
{
	void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (!h)
		bench_die(BENCH_EXIT_FAIL, "%s: cannot be loaded (dlopen of its copy: %s)", path,
			  dlerror());
	l->path = path;
	l->sandbox_new = sym(h, path, "uffdbox_sandbox_new");
	l->add_region = sym(h, path, "uffdbox_sandbox_add_region");
	l->region = sym(h, path, "uffdbox_sandbox_region");
	l->region_addr = sym(h, path, "uffdbox_region_addr");
	l->log_reset = sym(h, path, "uffdbox_sandbox_log_reset");
	l->log_count = sym(h, path, "uffdbox_sandbox_log_count");
	l->sandbox_free = sym(h, path, "uffdbox_sandbox_free");
	l->strerror_ = sym(h, path, "uffdbox_strerror");
}

/* A copy of @path in a fresh temporary file (see the top of this file; and
 * dlopen of one file twice would return the library already loaded). */
static char *copies[2];

/* The copies go whatever ends the run (bench_die exits). */
static void remove_copies(void)
{
	for (int i = 0; i < 2; i++)
		if (copies[i])
			unlink(copies[i]);
}

static char *copy_of(const char *path)
{
	char *tmp = bench_strdup("/tmp/uffdbox-ab-XXXXXX.so");
	int out = mkstemps(tmp, 3), in = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (out < 0 || in < 0 || fstat(in, &st) < 0)
		bench_die(BENCH_EXIT_FAIL, "copying %s to %s: %s", path, tmp, strerror(errno));
	for (off_t off = 0; off < st.st_size;)
		if (sendfile(out, in, &off, (size_t)(st.st_size - off)) <= 0)
			bench_die(BENCH_EXIT_FAIL, "copying %s: %s", path, strerror(errno));
	close(in);
	close(out);
	return tmp;
}

static uint64_t touch(char *base, size_t first, size_t n)
{
	return bench_touch_pages(base, first, n, page_size);
}

static double round_raw(size_t pages)
{
	struct raw_handler *h = NULL;
	int rc = raw_handler_start(RAW_SIGBUS, pages + WARMUP_PAGES, 0, &h);
	if (rc == -EPERM || rc == -EACCES || rc == -ENOSYS)
		bench_die(BENCH_EXIT_SKIP, "userfaultfd is not available here: %s", strerror(-rc));
	if (rc < 0)
		bench_die(BENCH_EXIT_FAIL, "raw handler: %s", strerror(-rc));
	char *base = raw_handler_addr(h);
	touch(base, pages, WARMUP_PAGES);
	uint64_t ns = touch(base, 0, pages);
	uint64_t served = raw_handler_stop(h);
	if (served != pages + WARMUP_PAGES)
		bench_die(BENCH_EXIT_FAIL, "raw: %llu faults served, expected %zu",
			  (unsigned long long)served, pages + WARMUP_PAGES);
	return (double)ns / 1000.0 / (double)pages;
}

static double round_lib(const struct lib *l, size_t pages)
{
	char err[256] = "";
	struct uffdbox_sandbox *sb = NULL;
	struct uffdbox_sandbox_opts so = {.sz = sizeof(so),
					  .transport = UFFDBOX_TRANSPORT_SYNC,
					  .errbuf = err,
					  .errbuf_len = sizeof(err)};
	struct uffdbox_region_opts ro = {.sz = sizeof(ro),
					 .mem = UFFDBOX_MEM_ANON,
					 .pages = pages + WARMUP_PAGES,
					 .name = "ab",
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	struct uffdbox_policy pol = {
		.sz = sizeof(pol), .action = UFFDBOX_POLICY_INJECT, .source = UFFDBOX_SOURCE_ZERO};
	int rc = l->sandbox_new(&so, &sb);
	if (rc < 0)
		bench_die(rc == -UFFDBOX_E_DENIED ? BENCH_EXIT_SKIP : BENCH_EXIT_FAIL,
			  "%s: uffdbox_sandbox_new: %s: %s", l->path, l->strerror_(rc), err);
	rc = l->add_region(sb, &ro, &pol);
	if (rc < 0)
		bench_die(BENCH_EXIT_FAIL, "%s: uffdbox_sandbox_add_region: %s: %s", l->path,
			  l->strerror_(rc), err);
	char *base = l->region_addr(l->region(sb, rc));
	touch(base, pages, WARMUP_PAGES);
	l->log_reset(sb);
	uint64_t ns = touch(base, 0, pages);
	uint64_t logged = l->log_count(sb);
	for (size_t i = 0; i < pages + WARMUP_PAGES; i++)
		if (base[i * page_size + 1] != 0)
			bench_die(BENCH_EXIT_FAIL, "%s: page %zu is not zero-filled", l->path, i);
	l->sandbox_free(sb);
	if (logged != pages)
		bench_die(BENCH_EXIT_FAIL, "%s: %llu faults logged, expected %zu", l->path,
			  (unsigned long long)logged, pages);
	return (double)ns / 1000.0 / (double)pages;
}

static void usage(void)
{
	fprintf(stderr, "usage: uffdbox-bench-ab A.so B.so [--rounds N] [--pages N]\n");
	exit(BENCH_EXIT_USAGE);
}

int main(int argc, char **argv)
{
	unsigned int rounds = 61;
	size_t pages = 2048;
	const char *path[2] = {NULL, NULL};
	int np = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = strtoul(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && np < 2)
			path[np++] = argv[i];
		else
			usage();
	}
	if (np != 2 || !rounds || !pages)
		usage();
	page_size = (size_t)sysconf(_SC_PAGESIZE);

	struct lib lib[2];
	atexit(remove_copies);
	for (int i = 0; i < 2; i++) {
		struct stat st;
		if (stat(path[i], &st) < 0)
			bench_die(BENCH_EXIT_USAGE, "%s: %s", path[i], strerror(errno));
		copies[i] = copy_of(path[i]);
		load(&lib[i], path[i], copies[i]);
	}

	/* 0: raw, 1: A, 2: B; the six orders in turn. */
	static const int order[6][3] = {{0, 1, 2}, {2, 1, 0}, {1, 0, 2},
					{2, 0, 1}, {1, 2, 0}, {0, 2, 1}};
	static const char *const names[3] = {"raw.sigbus", "A", "B"};
	struct bench_series s[3];
	for (int v = 0; v < 3; v++)
		if (bench_series_init(&s[v], names[v], rounds) < 0)
			bench_die(BENCH_EXIT_FAIL, "out of memory");
	for (int r = -1; r < (int)rounds; r++) { /* round -1: warm-up, not kept */
		double us[3];
		for (int k = 0; k < 3; k++) {
			int v = order[(r + 6) % 6][k];
			us[v] = v == 0 ? round_raw(pages) : round_lib(&lib[v - 1], pages);
		}
		if (r >= 0)
			for (int v = 0; v < 3; v++)
				bench_series_add(&s[v], us[v]);
	}

	printf("ab: %u rounds x %zu first touches (SYNC, zeros); A = %s, B = %s\n", rounds, pages,
	       path[0], path[1]);
	bench_table_header("us/fault");
	for (int v = 0; v < 3; v++)
		bench_table_row(&s[v]);
	printf("\n");
	bench_compare_paired("ab.A_vs_raw_sigbus", &s[1], &s[0]);
	bench_compare_paired("ab.B_vs_raw_sigbus", &s[2], &s[0]);
	bench_compare_paired("ab.B_vs_A", &s[2], &s[1]);
	for (int v = 0; v < 3; v++)
		bench_series_free(&s[v]);
	return BENCH_EXIT_OK;
}
