/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fuzzlib.c - `uffdbox-bench fuzz` on real libraries: json-c
 * and expat (examples/libs, built from their Debian source packages by
 * scripts/build-example-libs.sh), each fuzzed by libFuzzer through two
 * harnesses that differ by one line: plain.c, and uffdbox.c which feeds the
 * input through uffdbox_fuzz_input().
 *
 *   fuzzlib.<lib>_vs_plain        no sanitizer (--fuzzlib-nosan DIR)
 *   fuzzlib.<lib>_asan_vs_plain   ASan, library and harness (--fuzzlib-asan DIR)
 *
 * Same engine, seeds (examples/libs/<lib>/seeds, a scratch copy per
 * campaign), dictionary (DIR/<lib>.dict), -seed and amount of work: a
 * first, uncounted campaign of the plain harness runs S seconds and its
 * execution count N becomes -runs=N for every measured one (a time limit
 * would let each campaign explore different inputs, whose costs differ
 * more than the harnesses do).  Per round the two harnesses back to back,
 * plain first in even rounds and uffdbox first in odd ones, with the same
 * -seed, the round's number: even with one seed the two binaries need not
 * explore the same inputs (libFuzzer files the bytes of each memcmp/strncmp
 * under the caller's address, which differs between two binaries: json-c's
 * campaigns part after ~70 executions), and one seed for every round would
 * make the same difference of inputs count in every round; medians over
 * rounds.  exec/s = N over the campaign's CPU time (user + system, process
 * start and seed loading included): on a shared machine wall-clock time
 * measures the other tenants more than the harness (load averages of 10
 * on 2 cores here); the wall-clock figure is in the table too.  The
 * campaigns run in a directory on tmpfs (/dev/shm) when there is one:
 * libFuzzer writes a file per new input into its corpus and deletes it
 * when a smaller one replaces it, and on this machine's ext4 that was
 * 31-39 % of each campaign's CPU time (kernel time in ext4's inode
 * allocation, perf record) and its noisiest part, the same for both
 * harnesses and nothing of theirs.
 *
 *   fuzzlib.<lib>[_asan]_replay_vs_plain   one fixed corpus through both
 *
 * The campaigns compare two explorations as well as two harnesses: json-c's
 * pair parts ways even with one -seed (above), and its uffdbox campaign
 * even from itself, run to run, since the comparisons libFuzzer records
 * (trace-cmp) include the input's address, which ASLR moves.  So per round
 * the corpus the plain campaign ended with is also replayed through both
 * harnesses, the same sources and library linked with uffdbox's replay
 * driver instead of libFuzzer's loop (DIR/<lib>_{plain,uffdbox}_replay):
 * every input -runs=P times from memory, P chosen so that a replay runs
 * about N/2 inputs; each binary twice, A B B A, plain first in even rounds;
 * exec per CPU second, medians.  Same inputs, same number, same order: the
 * ratio is the one line's cost and nothing else (docs/bench.md).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "bench.h"

#ifndef UFFDBOX_SOURCE_DIR
#define UFFDBOX_SOURCE_DIR "."
#endif

static const char *const libs[] = {"json-c", "expat"};
#define NLIBS (sizeof(libs) / sizeof(libs[0]))

/* DIR/<lib>_<what> must be an executable, DIR/<lib>.dict readable. */
static int check_dir(const char *opt, const char *dir, char *why, size_t len)
{
	for (size_t l = 0; l < NLIBS; l++) {
		static const char *const kinds[] = {"plain", "uffdbox", "plain_replay",
						    "uffdbox_replay"};
		for (int k = 0; k < 4; k++) {
			char *p = bench_asprintf("%s/%s_%s", dir, libs[l], kinds[k]);
			int rc = access(p, X_OK);
			if (rc < 0)
				snprintf(why, len,
					 "%s %s: %s: %s (scripts/build-example-libs.sh builds it)",
					 opt, dir, p, strerror(errno));
			free(p);
			if (rc < 0)
				return -1;
		}
		char *d = bench_asprintf("%s/%s.dict", dir, libs[l]);
		int rc = access(d, R_OK);
		if (rc < 0)
			snprintf(why, len, "%s %s: %s: %s", opt, dir, d, strerror(errno));
		free(d);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int bench_fuzzlib_ready(const struct bench_opts *o, char *why, size_t len)
{
	if (o->fuzzlib_nosan && check_dir("--fuzzlib-nosan", o->fuzzlib_nosan, why, len) < 0)
		return -1;
	if (o->fuzzlib_asan && check_dir("--fuzzlib-asan", o->fuzzlib_asan, why, len) < 0)
		return -1;
	return 0;
}

/* A fresh directory for the campaigns: on tmpfs when /dev/shm is one (see
 * above), else @workdir itself.  *@own: made here, to be removed. */
static char *campaign_root(const char *workdir, bool *own)
{
	struct statfs st;

	*own = false;
	if (statfs("/dev/shm", &st) == 0 && st.f_type == TMPFS_MAGIC) {
		char *dir = bench_asprintf("/dev/shm/uffdbox-bench-fuzzlib.XXXXXX");
		if (mkdtemp(dir)) {
			*own = true;
			return dir;
		}
		free(dir);
	}
	return bench_asprintf("%s", workdir);
}

struct pair {
	char line[64], rline[64]; /* the campaign line, the replay line */
	unsigned long runs;	  /* -runs of every measured campaign */
	struct bench_series plain, box, plain_wall, box_wall;
	struct bench_series rplain, rbox, rplain_wall, rbox_wall; /* replays */
};

/* Inputs in @dir as the replay driver counts them: regular files, not dot
 * files, not README*. */
static unsigned long count_inputs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned long n = 0;
	if (!d)
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		char *p = bench_asprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			n++;
		free(p);
	}
	closedir(d);
	return n;
}

/* One campaign in a fresh directory under @workdir.  @keep not NULL: the
 * directory (its corpus in corpus/) is kept and returned there, for the
 * caller to remove. */
static double campaign(const char *bin, const char *lib, const char *dict, unsigned int secs,
		       unsigned long runs, unsigned int r, const char *workdir, const char *tag,
		       double *execs, double *wall, char **keep)
{
	char *rdir = bench_asprintf("%s/fuzzlib.%s.%u", workdir, tag, r + 1);
	if (mkdir(rdir, 0755) < 0)
		bench_die(BENCH_EXIT_FAIL, "fuzz: mkdir %s: %s", rdir, strerror(errno));
	char *seeds = bench_asprintf("%s/examples/libs/%s/seeds", UFFDBOX_SOURCE_DIR, lib);
	double cpu;
	/* -seed=1 to calibrate, then the round's number: the two harnesses of
	 * a round share it, and rounds differ (see above). */
	double rate = bench_fuzz_libfuzzer(bin, seeds, dict, runs ? r + 1 : 1, secs, runs, r, rdir,
					   execs, &cpu);
	if (runs) {
		*wall = rate;
		rate = cpu > 0 ? *execs / cpu : 0;
	}
	if (keep) {
		*keep = rdir;
	} else {
		bench_remove_tree(rdir);
		free(rdir);
	}
	free(seeds);
	return rate;
}

/* Round @r's replays: the corpus the plain campaign ended with (@rdir/corpus)
 * through both replay binaries, twice each (first the one whose campaign ran
 * first), about p->runs / 2 inputs each time. */
static void replay_pair(struct pair *p, const char *dir, const char *lib, unsigned int secs,
			unsigned int r, const char *rdir)
{
	char *corpus = bench_asprintf("%s/corpus", rdir);
	unsigned long n = count_inputs(corpus);
	if (!n)
		bench_die(BENCH_EXIT_FAIL, "fuzz: no input in %s", corpus);
	/* Twice each, A B B A: a drift of the machine's load within the
	 * round weighs on both alike. */
	unsigned long passes = (p->runs / 2 + n / 2) / n;
	if (!passes)
		passes = 1;
	for (int i = 0; i < 4; i++) {
		bool first_box = r & 1;
		bool is_box = (i == 0 || i == 3) ? first_box : !first_box;
		char *bin =
			bench_asprintf("%s/%s_%s_replay", dir, lib, is_box ? "uffdbox" : "plain");
		double execs, cpu;
		double wall =
			bench_fuzz_replay(bin, corpus, n, passes, 4 * secs, r, rdir, &execs, &cpu);
		bench_series_add(is_box ? &p->rbox : &p->rplain, cpu > 0 ? execs / cpu : 0);
		bench_series_add(is_box ? &p->rbox_wall : &p->rplain_wall, wall);
		free(bin);
	}
	free(corpus);
}

void bench_fuzzlib(const struct bench_opts *o, unsigned int secs, unsigned int rounds,
		   const char *workdir)
{
	const char *dirs[2] = {o->fuzzlib_nosan, o->fuzzlib_asan};
	struct pair pairs[2][NLIBS];
	bool any = false;

	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
			struct pair *p = &pairs[v][l];
			snprintf(p->line, sizeof(p->line), "fuzzlib.%s%s_vs_plain", libs[l],
				 v ? "_asan" : "");
			snprintf(p->rline, sizeof(p->rline), "fuzzlib.%s%s_replay_vs_plain",
				 libs[l], v ? "_asan" : "");
			if (bench_series_init(&p->plain, "plain", rounds) < 0 ||
			    bench_series_init(&p->box, "uffdbox", rounds) < 0 ||
			    bench_series_init(&p->plain_wall, "plain", rounds) < 0 ||
			    bench_series_init(&p->box_wall, "uffdbox", rounds) < 0 ||
			    bench_series_init(&p->rplain, "plain", 2 * rounds) < 0 ||
			    bench_series_init(&p->rbox, "uffdbox", 2 * rounds) < 0 ||
			    bench_series_init(&p->rplain_wall, "plain", 2 * rounds) < 0 ||
			    bench_series_init(&p->rbox_wall, "uffdbox", 2 * rounds) < 0)
				bench_die(BENCH_EXIT_FAIL, "out of memory");
			any = true;
		}
	if (!any)
		return;
	bool own_root;
	char *root = campaign_root(workdir, &own_root);
	fprintf(stderr, "uffdbox-bench: fuzzlib: campaigns in %s%s\n", root,
		own_root ? " (tmpfs)" : "");
	fprintf(stderr, "uffdbox-bench: fuzzlib: calibrating -runs (%u s of each plain harness)\n",
		secs);
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
			char *plain = bench_asprintf("%s/%s_plain", dirs[v], libs[l]);
			char *dict = bench_asprintf("%s/%s.dict", dirs[v], libs[l]);
			char tag[64];
			double execs, wall;
			snprintf(tag, sizeof(tag), "%s%s.calibrate", libs[l], v ? ".asan" : "");
			campaign(plain, libs[l], dict, secs, 0, 0, root, tag, &execs, &wall, NULL);
			pairs[v][l].runs = (unsigned long)execs;
			free(plain);
			free(dict);
		}
	for (unsigned int r = 0; r < rounds; r++) {
		fprintf(stderr, "uffdbox-bench: fuzzlib: round %u of %u (%u s per campaign)\n",
			r + 1, rounds, secs);
		for (int v = 0; v < 2; v++)
			for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
				struct pair *p = &pairs[v][l];
				char *plain = bench_asprintf("%s/%s_plain", dirs[v], libs[l]);
				char *box = bench_asprintf("%s/%s_uffdbox", dirs[v], libs[l]);
				char *dict = bench_asprintf("%s/%s.dict", dirs[v], libs[l]);
				char *kept = NULL; /* the plain campaign's directory */
				for (int i = 0; i < 2; i++) {
					bool is_box = (r & 1) ? i == 0 : i == 1;
					char tag[64];
					double execs, wall;
					snprintf(tag, sizeof(tag), "%s%s.%s", libs[l],
						 v ? ".asan" : "", is_box ? "uffdbox" : "plain");
					double rate = campaign(is_box ? box : plain, libs[l], dict,
							       secs, p->runs, r, root, tag, &execs,
							       &wall, is_box ? NULL : &kept);
					bench_series_add(is_box ? &p->box : &p->plain, rate);
					bench_series_add(is_box ? &p->box_wall : &p->plain_wall,
							 wall);
				}
				replay_pair(p, dirs[v], libs[l], secs, r, kept);
				bench_remove_tree(kept);
				free(kept);
				free(plain);
				free(box);
				free(dict);
			}
	}
	if (own_root)
		bench_remove_tree(root);
	printf("\nfuzzlib: %u round%s; libFuzzer -seed=<round> -runs=N (N: what the plain harness "
	       "ran in %u s) from examples/libs/<lib>/seeds with <lib>.dict, corpus on %s; "
	       "executions per CPU second of the campaign (the ratio), and per wall-clock "
	       "second; higher is better.  *_replay: the corpus the plain campaign of the round "
	       "ended with, through the replay builds of both harnesses, A B B A (each input P "
	       "times from memory, about N/2 inputs each time), medians of 2 per round\n",
	       rounds, rounds == 1 ? "" : "s", secs, own_root ? "tmpfs" : "the work directory");
	free(root);
	printf("%-36s %12s %12s %12s %12s %9s %6s\n", "name", "uffdbox", "plain", "uffdbox",
	       "plain", "runs", "rounds");
	printf("%-36s %12s %12s %12s %12s\n", "", "exec/cpu-s", "exec/cpu-s", "exec/wall-s",
	       "exec/wall-s");
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
			struct pair *p = &pairs[v][l];
			printf("%-36s %12.0f %12.0f %12.0f %12.0f %9lu %6u\n", p->line,
			       bench_series_median(&p->box), bench_series_median(&p->plain),
			       bench_series_median(&p->box_wall),
			       bench_series_median(&p->plain_wall), p->runs, p->box.n);
		}
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
			struct pair *p = &pairs[v][l];
			printf("%-36s %12.0f %12.0f %12.0f %12.0f %9s %6u\n", p->rline,
			       bench_series_median(&p->rbox), bench_series_median(&p->rplain),
			       bench_series_median(&p->rbox_wall),
			       bench_series_median(&p->rplain_wall), "2 x N/2", p->box.n);
		}
	printf("\n");
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++)
			bench_compare(pairs[v][l].line, &pairs[v][l].box, &pairs[v][l].plain);
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++)
			bench_compare(pairs[v][l].rline, &pairs[v][l].rbox, &pairs[v][l].rplain);
	fflush(stdout);
	for (int v = 0; v < 2; v++)
		for (size_t l = 0; l < NLIBS && dirs[v]; l++) {
			struct pair *p = &pairs[v][l];
			bench_series_free(&p->plain);
			bench_series_free(&p->box);
			bench_series_free(&p->plain_wall);
			bench_series_free(&p->box_wall);
			bench_series_free(&p->rplain);
			bench_series_free(&p->rbox);
			bench_series_free(&p->rplain_wall);
			bench_series_free(&p->rbox_wall);
		}
}
