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
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

/* Print "uffdbox-bench: <message>" on stderr and exit(@code). */
__attribute__((noreturn, format(printf, 2, 3))) void bench_die(int code, const char *fmt, ...);

/* Subcommands. */
int bench_fault(const struct bench_opts *o);
int bench_uau(const struct bench_opts *o);
int bench_reset(const struct bench_opts *o);

#endif /* UFFDBOX_BENCH_H */
