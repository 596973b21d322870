/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_report.c - `uffdbox-bench report`: how long `uffdbox report`
 * takes on a 100,000-record event log (the goal: under 2 s).
 *
 * Two lines: report.100k_records_s puts the measured seconds against the
 * 2 s budget itself (baseline=2, a goal rather than a measurement: ratio < 1
 * means the goal is met); report.100k_vs_normalize compares it, round by
 * round, with `uffdbox diff --normalize` on the same log - one parse and
 * one write of every record, the least any tool that reads the log must
 * do - so the ratio says what the page maps, timelines and HTML cost on top.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define RECORDS	 100000
#define BUDGET_S 2.0

/* A log like a campaign's: faults over 8 regions and 4 threads, unmaps,
 * write-protect faults, one use-after-unmap and its report. */
static void write_log(const char *path)
{
	static const char *const kinds[] = {"missing", "missing", "missing", "wp", "minor"};
	static const char *const res[] = {"zero", "callback", "buffer", "pattern", "unprotect"};
	FILE *f = fopen(path, "we");
	if (!f)
		bench_die(BENCH_EXIT_FAIL, "report: %s: %s", path, strerror(errno));
	fputs("{\"kind\":\"header\",\"version\":1,\"uffdbox\":\"bench\"}\n", f);
	for (unsigned int s = 0; s < RECORDS; s++) {
		unsigned int r = s % 8, page = r ? (s / 8) % 300 : (s * 7919u) % 100000;
		const char *k = kinds[s % 5], *rs = s % 5 == 3 ? res[4] : res[s % 4];
		unsigned int len = 4096;
		if (s == RECORDS - 1)
			k = "use-after-unmap", rs = "abort";
		else if (s % 1000 == 999)
			k = "unmap", rs = "none", len = 16384;
		fprintf(f,
			"{\"seq\":%u,\"kind\":\"%s\",\"region\":%u,\"region_name\":\"r%u\","
			"\"page\":%u,"
			"\"offset\":%u,\"len\":%u,\"access\":\"%s\",\"thread\":%u,\"resolution\":"
			"\"%s\","
			"\"digest\":\"%016llx\"}\n",
			s, k, r, r, page, s % 4096, len, s % 5 == 3 ? "write" : "read", 1 + s % 4,
			rs, (unsigned long long)s * 2654435761ULL);
	}
	fputs("{\"kind\":\"report\",\"bug\":\"use-after-unmap\",\"access\":\"read\",\"region_"
	      "name\":"
	      "\"r1\",\"offset\":5,\"thread\":1,\"unmap_seq\":999,\"unmap_thread\":1,\"summary\":"
	      "\"use-after-unmap READ\",\"frames\":[{\"fn\":\"victim\",\"module\":\"t\",\"off\":"
	      "\"0x1\"}],\"unmap_frames\":[]}\n",
	      f);
	if (fclose(f) != 0)
		bench_die(BENCH_EXIT_FAIL, "report: writing %s: %s", path, strerror(errno));
}

/* Run @argv with stdout to @out (or /dev/null), stderr to /dev/null;
 * seconds of wall clock. */
static double run(const char *const argv[], const char *out)
{
	uint64_t t0 = bench_now_ns();
	pid_t pid = fork();
	if (pid < 0)
		bench_die(BENCH_EXIT_FAIL, "report: fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_WRONLY);
		if (fd < 0 || null < 0 || dup2(fd, 1) < 0 || dup2(null, 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die(BENCH_EXIT_FAIL, "report: waitpid: %s", strerror(errno));
	double s = (double)(bench_now_ns() - t0) / 1e9;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char why[64];
		bench_describe_status(st, why, sizeof(why));
		bench_die(BENCH_EXIT_FAIL, "report: %s %s: %s", argv[0], argv[1], why);
	}
	return s;
}

int bench_report(const struct bench_opts *o)
{
	char *uffdbox = bench_find_sibling("UFFDBOX_BIN", "../run/uffdbox");
	if (!uffdbox)
		bench_die(BENCH_EXIT_FAIL, "report: the uffdbox command is not at ../run/uffdbox "
					   "next to uffdbox-bench; build it or set UFFDBOX_BIN");
	char dir[PATH_MAX];
	bench_make_workdir(dir, sizeof(dir), "report");
	char *log = bench_asprintf("%s/log.jsonl", dir), *html = bench_asprintf("%s/r.html", dir);
	write_log(log);

	struct bench_series rep, norm, budget;
	unsigned int rounds = o->rounds;
	bench_series_init(&rep, "uffdbox report", rounds);
	bench_series_init(&norm, "diff --normalize", rounds);
	bench_series_init(&budget, "budget", rounds);
	const char *a_rep[] = {uffdbox, "report", "-o", html, log, NULL};
	const char *a_norm[] = {uffdbox, "diff", "--normalize", log, NULL};
	run(a_rep, NULL); /* warm the page cache */
	for (unsigned int i = 0; i < rounds; i++) {
		/* interleaved, in alternating order */
		if (i & 1) {
			bench_series_add(&norm, run(a_norm, NULL));
			bench_series_add(&rep, run(a_rep, NULL));
		} else {
			bench_series_add(&rep, run(a_rep, NULL));
			bench_series_add(&norm, run(a_norm, NULL));
		}
		bench_series_add(&budget, BUDGET_S);
	}
	bench_table_header("s/run");
	bench_table_row(&rep);
	bench_table_row(&norm);
	bench_compare("report.100k_records_s", &rep, &budget);
	bench_compare("report.100k_vs_normalize", &rep, &norm);
	bench_series_free(&rep);
	bench_series_free(&norm);
	bench_series_free(&budget);
	bench_remove_tree(dir);
	free(log);
	free(html);
	free(uffdbox);
	return BENCH_EXIT_OK;
}
