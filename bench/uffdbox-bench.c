/* SPDX-License-Identifier: MIT */
/*
 * bench/uffdbox-bench.c - the benchmark command: subcommand dispatch and
 * options.  Each subcommand prints a table, then one comparison line per
 * measurement (docs/bench.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DEFAULT_ROUNDS 9
#define DEFAULT_PAGES  2048
#define QUICK_ROUNDS   3
#define QUICK_PAGES    64
#define MAX_ROUNDS     1000
#define MAX_PAGES      ((size_t)1 << 20) /* 4 GiB of 4 KiB pages per round */
#define MAX_SECS       3600		 /* fuzz: seconds per campaign */

struct subcommand {
	const char *name;
	const char *what;
	int (*run)(const struct bench_opts *o); /* NULL: not written yet */
	const char *later;			/* where it will come from */
	/* NULL, or whether run() has what it needs (`all` skips it if not) */
	int (*ready)(const struct bench_opts *o, char *why, size_t len);
};

static const struct subcommand subcommands[] = {
	{"fault", "cost of a missing-page fault: SYNC vs native, SERVED vs a raw handler",
	 bench_fault, NULL, NULL},
	{"reset", "cost of resetting a region between inputs", bench_reset,
	 "issue 6 (snapshot/restore)", NULL},
	{"uau", "cost of use-after-unmap quarantine", bench_uau, "issue 5 (uffdbox run)", NULL},
	{"fuzz", "fuzzing exec/s: libFuzzer, AFL++ persistent vs fork server", bench_fuzz, NULL,
	 bench_fuzz_ready},
	{"report", "seconds of `uffdbox report` on a 100,000-record log", bench_report, NULL, NULL},
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: uffdbox-bench SUBCOMMAND [--rounds N] [--pages N] [--quick]\n"
		   "       uffdbox-bench fuzz --libfuzzer-box PATH --afl-persistent PATH\n"
		   "                          --afl-forkserver PATH [--afl-box-persistent PATH\n"
		   "                          --afl-box-forkserver PATH] [--replay-box PATH]\n"
		   "                          [--libfuzzer-msg PATH] [--libfuzzer-fsm PATH]\n"
		   "                          [--secs N] [--rounds N] [--quick]\n"
		   "\n"
		   "Subcommands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(f, "  %-7s %s%s\n", subcommands[i].name, subcommands[i].what,
			subcommands[i].run ? "" : " (not yet implemented)");
	fprintf(f,
		"  all     every subcommand that exists, one after the other\n"
		"\n"
		"Options:\n"
		"  --rounds N  measured rounds per variant (default %d; fuzz: 3)\n"
		"  --pages N   faults timed per round (default %d)\n"
		"  --quick     %d rounds of %d pages (fuzz: 1 round of 3 s): checks that it\n"
		"              runs, measures nothing\n"
		"  -h, --help  this text\n"
		"\n"
		"fuzz options (engine builds: scripts/bench-fuzz.sh makes them and runs this):\n"
		"  --libfuzzer-box PATH      fuzz_box of the fuzz-nosan preset (libFuzzer)\n"
		"  --afl-persistent PATH     planted_fuzz, afl-clang-fast -fsanitize=fuzzer\n"
		"  --afl-forkserver PATH     planted_forkserver, afl-clang-fast, fork server\n"
		"  --afl-box-persistent PATH fuzz_box, afl-clang-fast (optional, with the next)\n"
		"  --afl-box-forkserver PATH fuzz_box_replay, afl-clang-fast\n"
		"  --replay-box PATH         fuzz_box_replay without engine (default: the one\n"
		"                            of this build, ../fuzz/fuzz_box_replay)\n"
		"  --libfuzzer-msg PATH      fuzz_msg of the fuzz-nosan preset (optional; its\n"
		"                            baseline: ../fuzz/fuzz_msg_replay of this build)\n"
		"  --libfuzzer-fsm PATH      fuzz_fsm, the same\n"
		"  --fuzzlib-nosan DIR       examples/libs harnesses (scripts/build-example-\n"
		"                            libs.sh nosan): fuzzlib.<lib>_vs_plain lines\n"
		"  --fuzzlib-asan DIR        the same with ASan: fuzzlib.<lib>_asan_vs_plain\n"
		"                            (given alone, without the options above: only\n"
		"                            the fuzzlib lines)\n"
		"  --secs N                  seconds per campaign (default 10)\n"
		"\n"
		"Output: a table, then one line per comparison:\n"
		"  <name>: uffdbox=<v> baseline=<v> ratio=<uffdbox/baseline>\n"
		"(medians of per-round figures; both sides measured in the same run;\n"
		"time per operation, lower is better, except fuzz: exec/s, higher is better).\n"
		"Exit: 0 done, 1 failed, 2 usage, 77 userfaultfd not available.\n",
		DEFAULT_ROUNDS, DEFAULT_PAGES, QUICK_ROUNDS, QUICK_PAGES);
}

static __attribute__((noreturn, format(printf, 1, 2))) void usage_error(const char *fmt, ...);

static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("uffdbox-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'uffdbox-bench --help'.\n", stderr);
	exit(BENCH_EXIT_USAGE);
}

/* A whole decimal number in [1, max], or a usage error. */
static size_t parse_count(const char *opt, const char *s, size_t max)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+')
		usage_error("%s needs a positive number", opt);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > max)
		usage_error("%s: '%s' is not a number from 1 to %zu", opt, s, max);
	return (size_t)v;
}

/* "--name VALUE" or "--name=VALUE": the value, or NULL if @arg is not @name. */
static const char *option_value(const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		usage_error("%s needs a value", name);
	return argv[++*i];
}

/* The options that name a binary built elsewhere (fuzz): where each goes. */
static const struct {
	const char *name;
	size_t off; /* of a const char * in struct bench_opts */
} path_options[] = {
	{"--libfuzzer-box", offsetof(struct bench_opts, libfuzzer_box)},
	{"--libfuzzer-msg", offsetof(struct bench_opts, libfuzzer_msg)},
	{"--libfuzzer-fsm", offsetof(struct bench_opts, libfuzzer_fsm)},
	{"--replay-box", offsetof(struct bench_opts, replay_box)},
	{"--afl-persistent", offsetof(struct bench_opts, afl_persistent)},
	{"--afl-forkserver", offsetof(struct bench_opts, afl_forkserver)},
	{"--afl-box-persistent", offsetof(struct bench_opts, afl_box_persistent)},
	{"--afl-box-forkserver", offsetof(struct bench_opts, afl_box_forkserver)},
	{"--fuzzlib-nosan", offsetof(struct bench_opts, fuzzlib_nosan)},
	{"--fuzzlib-asan", offsetof(struct bench_opts, fuzzlib_asan)},
};

/* argv[*i] is one of path_options: store its value in @o, true. */
static bool path_option(struct bench_opts *o, int argc, char **argv, int *i)
{
	for (size_t k = 0; k < sizeof(path_options) / sizeof(path_options[0]); k++) {
		const char *v = option_value(path_options[k].name, argc, argv, i);
		if (v) {
			*(const char **)((char *)o + path_options[k].off) = v;
			return true;
		}
	}
	return false;
}

static int run_one(const struct subcommand *sc, const struct bench_opts *o)
{
	if (!sc->run) {
		fprintf(stderr, "uffdbox-bench: %s: not yet implemented (%s)\n", sc->name,
			sc->later);
		return BENCH_EXIT_USAGE;
	}
	return sc->run(o);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {.rounds = 0, .pages = 0};
	const char *cmd = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return BENCH_EXIT_OK;
		} else if (!strcmp(a, "--quick")) {
			o.quick = true;
		} else if ((v = option_value("--rounds", argc, argv, &i))) {
			o.rounds = (unsigned int)parse_count("--rounds", v, MAX_ROUNDS);
			o.rounds_given = true;
		} else if ((v = option_value("--pages", argc, argv, &i))) {
			o.pages = parse_count("--pages", v, MAX_PAGES);
		} else if ((v = option_value("--secs", argc, argv, &i))) {
			o.secs = (unsigned int)parse_count("--secs", v, MAX_SECS);
		} else if (path_option(&o, argc, argv, &i)) {
			/* stored */
		} else if (a[0] == '-') {
			usage_error("unknown option '%s'", a);
		} else if (cmd) {
			usage_error("one subcommand at a time ('%s', then '%s')", cmd, a);
		} else {
			cmd = a;
		}
	}
	if (!cmd)
		usage_error("no subcommand");
	/* Explicit sizes win over --quick, whatever the order. */
	if (!o.rounds)
		o.rounds = o.quick ? QUICK_ROUNDS : DEFAULT_ROUNDS;
	if (!o.pages)
		o.pages = o.quick ? QUICK_PAGES : DEFAULT_PAGES;

	if (!strcmp(cmd, "all")) {
		int rc = BENCH_EXIT_OK;
		for (size_t i = 0; i < NSUB && rc == BENCH_EXIT_OK; i++) {
			char why[1024];
			if (!subcommands[i].run) {
				fprintf(stderr, "uffdbox-bench: all: skipping %s (%s)\n",
					subcommands[i].name, subcommands[i].later);
				continue;
			}
			if (subcommands[i].ready &&
			    subcommands[i].ready(&o, why, sizeof(why)) < 0) {
				fprintf(stderr,
					"uffdbox-bench: all: skipping %s (%s; "
					"scripts/bench-fuzz.sh "
					"runs it with the engine builds)\n",
					subcommands[i].name, why);
				continue;
			}
			rc = subcommands[i].run(&o);
		}
		return rc;
	}
	for (size_t i = 0; i < NSUB; i++)
		if (!strcmp(cmd, subcommands[i].name))
			return run_one(&subcommands[i], &o);
	usage_error("unknown subcommand '%s'", cmd);
}
