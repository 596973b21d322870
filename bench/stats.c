/* SPDX-License-Identifier: MIT */
/*
 * bench/stats.c - sample sets, medians and the two output formats.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_series_init(struct bench_series *s, const char *name, unsigned int cap)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->us = calloc(cap ? cap : 1, sizeof(*s->us));
	if (!s->us)
		return -1;
	s->cap = cap ? cap : 1;
	return 0;
}

void bench_series_add(struct bench_series *s, double us)
{
	/* One value per round: a paired comparison matches values by index,
	 * so a surplus value would pair different rounds. */
	if (s->n >= s->cap)
		bench_die(BENCH_EXIT_FAIL,
			  "series \"%s\": value %u, but room for %u: a variant measured twice in a "
			  "round?",
			  s->name, s->n + 1, s->cap);
	s->us[s->n++] = us;
}

void bench_series_free(struct bench_series *s)
{
	free(s->us);
	s->us = NULL;
	s->n = s->cap = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The middle value; the mean of the two middle ones for an even count. */
double bench_series_median(const struct bench_series *s)
{
	if (!s->n)
		return 0.0;
	double *v = malloc(s->n * sizeof(*v));
	if (!v)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	memcpy(v, s->us, s->n * sizeof(*v));
	qsort(v, s->n, sizeof(*v), cmp_double);
	double m = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2.0;
	free(v);
	return m;
}

double bench_series_min(const struct bench_series *s)
{
	double m = s->n ? s->us[0] : 0.0;
	for (unsigned int i = 1; i < s->n; i++)
		if (s->us[i] < m)
			m = s->us[i];
	return m;
}

double bench_series_max(const struct bench_series *s)
{
	double m = s->n ? s->us[0] : 0.0;
	for (unsigned int i = 1; i < s->n; i++)
		if (s->us[i] > m)
			m = s->us[i];
	return m;
}

void bench_table_header(const char *unit)
{
	char med[32];
	snprintf(med, sizeof(med), "median %s", unit);
	printf("%-22s %16s %10s %10s %7s\n", "name", med, "min", "max", "rounds");
}

void bench_table_row(const struct bench_series *s)
{
	printf("%-22s %16.3f %10.3f %10.3f %7u\n", s->name, bench_series_median(s),
	       bench_series_min(s), bench_series_max(s), s->n);
}

void bench_compare(const char *name, const struct bench_series *uffdbox,
		   const struct bench_series *baseline)
{
	double u = bench_series_median(uffdbox), b = bench_series_median(baseline);
	printf("%s: uffdbox=%.3f baseline=%.3f ratio=%.3f\n", name, u, b, b > 0 ? u / b : 0.0);
}

/* The median of the per-round ratios of two series measured back to back
 * in each round (round i of @u against round i of @b), and their spread. */
static double paired_median(const struct bench_series *u, const struct bench_series *b, double *min,
			    double *max, unsigned int *n_out)
{
	struct bench_series r;
	unsigned int n = u->n < b->n ? u->n : b->n;

	if (u->n != b->n)
		bench_die(BENCH_EXIT_FAIL, "paired series \"%s\" and \"%s\" have %u and %u rounds",
			  u->name, b->name, u->n, b->n);
	*min = *max = 0.0;
	*n_out = 0;
	if (!n || bench_series_init(&r, "paired", n) < 0)
		return 0.0;
	for (unsigned int i = 0; i < n; i++)
		if (b->us[i] > 0)
			bench_series_add(&r, u->us[i] / b->us[i]);
	double m = bench_series_median(&r);
	*min = bench_series_min(&r);
	*max = bench_series_max(&r);
	*n_out = r.n;
	bench_series_free(&r);
	return m;
}

void bench_paired(const char *name, const struct bench_series *uffdbox,
		  const struct bench_series *baseline)
{
	double lo, hi;
	unsigned int n;
	double m = paired_median(uffdbox, baseline, &lo, &hi, &n);
	printf("%-34s per-round ratios: median %.3f, min %.3f, max %.3f (%u rounds)\n", name, m, lo,
	       hi, n);
}

/* A comparison line whose ratio is the median of the per-round ratios:
 * drift between rounds (this machine is shared) falls on both sides of
 * each pair alike.  uffdbox= and baseline= are each side's median. */
void bench_compare_paired(const char *name, const struct bench_series *uffdbox,
			  const struct bench_series *baseline)
{
	double lo, hi;
	unsigned int n;
	double m = paired_median(uffdbox, baseline, &lo, &hi, &n);
	printf("%s: uffdbox=%.3f baseline=%.3f ratio=%.3f\n", name, bench_series_median(uffdbox),
	       bench_series_median(baseline), m);
}

void bench_die(int code, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("uffdbox-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}
