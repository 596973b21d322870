/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h - what the parts of uffdbox-bench share: the command-line
 * options, the clock, per-variant sample sets and the output formats.
 *
 * Output convention (docs/bench.md): a readable table first, then one line
 * per comparison, `<name>: uffdbox=<v> baseline=<v> ratio=<uffdbox/baseline>`,
 * and nothing else on stdout after those lines.  Both sides of a comparison
 * are measured in the same run, round by round, because this machine is
 * shared and absolute times drift.
 */
#ifndef UFFDBOX_BENCH_H
#define UFFDBOX_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit codes: 0 done, 1 a measurement failed, 2 bad usage, 77 skipped
 * (userfaultfd is not available to this process). */
enum {
	BENCH_EXIT_OK = 0,
	BENCH_EXIT_FAIL = 1,
	BENCH_EXIT_USAGE = 2,
	BENCH_EXIT_SKIP = 77,
};

struct bench_opts {
	unsigned int rounds; /* measured rounds per variant */
	size_t pages;	     /* faults timed per round */
	bool quick;	     /* smoke-test sizes */
	bool rounds_given;   /* --rounds was on the command line */
	/* fuzz: seconds per campaign (0: its default) and the engine binaries,
	 * built elsewhere (scripts/bench-fuzz.sh); NULL when not given. */
	unsigned int secs;
	const char *libfuzzer_box;	/* fuzz_box, fuzz-nosan preset (libFuzzer) */
	const char *libfuzzer_msg;	/* fuzz_msg, the same (optional) */
	const char *libfuzzer_fsm;	/* fuzz_fsm, the same (optional) */
	const char *replay_box;		/* fuzz_box_replay (driver.c, no engine) */
	const char *afl_persistent;	/* planted_fuzz, afl-clang-fast, libAFLDriver */
	const char *afl_forkserver;	/* planted_forkserver: same harness, fork server */
	const char *afl_box_persistent; /* fuzz_box, afl-clang-fast (optional pair) */
	const char *afl_box_forkserver; /* fuzz_box_replay, afl-clang-fast */
	/* fuzzlib: harness directories of scripts/build-example-libs.sh
	 * (<lib>_plain, <lib>_uffdbox, <lib>.dict), without and with ASan. */
	const char *fuzzlib_nosan;
	const char *fuzzlib_asan;
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Write one byte to each of @n pages (@page_size bytes) from page @first of
 * @base, in address order: each a first touch where nothing is mapped yet.
 * Elapsed ns. */
static inline uint64_t bench_touch_pages(char *base, size_t first, size_t n, size_t page_size)
{
	volatile char *p = base;
	uint64_t t0 = bench_now_ns();
	for (size_t i = first; i < first + n; i++)
		p[i * page_size] = 1;
	return bench_now_ns() - t0;
}

/* The per-round results of one variant, in microseconds per operation. */
struct bench_series {
	const char *name;
	double *us;
	unsigned int n, cap;
};

int bench_series_init(struct bench_series *s, const char *name, unsigned int cap);
void bench_series_add(struct bench_series *s, double us);
void bench_series_free(struct bench_series *s);
double bench_series_median(const struct bench_series *s);
double bench_series_min(const struct bench_series *s);
double bench_series_max(const struct bench_series *s);

/* The table: a header, then one row per series. @unit names the column
 * ("us/fault"). */
void bench_table_header(const char *unit);
void bench_table_row(const struct bench_series *s);
/* One comparison line on stdout, medians of both sides. */
void bench_compare(const char *name, const struct bench_series *uffdbox,
		   const struct bench_series *baseline);
void bench_paired(const char *name, const struct bench_series *uffdbox,
		  const struct bench_series *baseline);
void bench_compare_paired(const char *name, const struct bench_series *uffdbox,
			  const struct bench_series *baseline);

/* Print "uffdbox-bench: <message>" on stderr and exit(@code). */
__attribute__((noreturn, format(printf, 2, 3))) void bench_die(int code, const char *fmt, ...);

/* Helpers (bench/util.c); out of memory ends the program. */
char *bench_strdup(const char *s);
char *bench_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* @name searched in $PATH (or taken as is if it holds a '/'); NULL if none. */
char *bench_find_in_path(const char *name);
/* rm -rf @path, best effort. */
void bench_remove_tree(const char *path);
/* A fresh directory $TMPDIR/uffdbox-bench-@what.XXXXXX into @buf, or the
 * program ends with a message. */
void bench_make_workdir(char *buf, size_t len, const char *what);
/* A wait status in words ("exit status 3", "killed by signal 9 (Killed)");
 * -1 means the fork failed (errno says why). */
void bench_describe_status(int st, char *buf, size_t len);
/* What the preload library of `uffdbox run` does first: a SIGBUS-mode
 * userfaultfd (user faults only).  0, or -errno: nothing to measure. */
int bench_probe_uffd(void);

/* Subcommands. */
int bench_fault(const struct bench_opts *o);
int bench_uau(const struct bench_opts *o);
int bench_reset(const struct bench_opts *o);
int bench_fuzz(const struct bench_opts *o);
int bench_report(const struct bench_opts *o);
/* An executable next to this one: $@env if set (NULL if not executable),
 * else @rel resolved from this executable's directory; NULL if none.
 * Malloc'ed. */
char *bench_find_sibling(const char *env, const char *rel);
/* One libFuzzer campaign of @bin (-seed=@seed, -dict=@dict, -max_total_time=
 * @secs, or -runs=@runs when not 0) on a scratch copy of @corpus in @rdir:
 * exec/s over the process's wall-clock time, executions in *execs, its CPU
 * time (user + system) in *cpu_secs.  A failing campaign ends the
 * benchmark. */
double bench_fuzz_libfuzzer(const char *bin, const char *corpus, const char *dict,
			    unsigned int seed, unsigned int secs, unsigned long runs,
			    unsigned int r, const char *rdir, double *execs, double *cpu_secs);
/* The replay driver @bin (fuzz/driver.c) over the inputs in @corpus, each
 * @passes times from memory (-runs), its log in @rdir: inputs run (checked
 * against @inputs x @passes) in *execs, its CPU time (user + system) in
 * *cpu_secs; returns exec/s over its wall-clock time.  Killed, ending the
 * benchmark, after @timeout_s s. */
double bench_fuzz_replay(const char *bin, const char *corpus, unsigned long inputs,
			 unsigned long passes, unsigned int timeout_s, unsigned int r,
			 const char *rdir, double *execs, double *cpu_secs);
/* fuzzlib (bench_fuzzlib.c): json-c and expat, the uffdbox harness vs the
 * plain one, in @workdir; prints its table rows and comparison lines. */
int bench_fuzzlib_ready(const struct bench_opts *o, char *why, size_t len);
void bench_fuzzlib(const struct bench_opts *o, unsigned int secs, unsigned int rounds,
		   const char *workdir);
/* 0 if `fuzz` has what it needs; otherwise -1 and the reason in @why. */
int bench_fuzz_ready(const struct bench_opts *o, char *why, size_t len);

#endif /* UFFDBOX_BENCH_H */
