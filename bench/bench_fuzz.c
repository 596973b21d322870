/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fuzz.c - `uffdbox-bench fuzz`: executions per second of real
 * fuzzing campaigns on uffdbox harnesses, each engine against its baseline,
 * measured in the same run.
 *
 *   libfuzzer.box            fuzz_box (fuzz-nosan preset: clang, libFuzzer,
 *                            no sanitizers), -seed=1 on a scratch copy of
 *                            corpus/box, -max_total_time=S
 *   replay.box               the same target without an engine: fuzz_box.c +
 *                            fuzz/driver.c (default build, gcc) replaying the
 *                            corpus that libFuzzer ended that round with, in a
 *                            loop, for S/2 seconds
 *   afl.planted.persistent   examples/planted under afl-fuzz: fuzz.c + target.c
 *                            built with afl-clang-fast -fsanitize=fuzzer
 *                            (libAFLDriver: persistent mode, shared-memory input)
 *   afl.planted.forkserver   the same two files with fuzz.c's own main(),
 *                            afl-clang-fast, no persistent loop: one input file
 *                            (@@) per process, forked by AFL++'s fork server
 *   afl.box.persistent       fuzz_box the same two ways (optional pair): the
 *   afl.box.forkserver       libAFLDriver build, and fuzz_box.c + driver.c
 *   libfuzzer.msg, .fsm      the pure targets the same way as libfuzzer.box
 *   replay.msg, .fsm         and replay.box (optional: --libfuzzer-msg/-fsm)
 *
 * The engine binaries are built elsewhere (uffdbox-bench itself is a gcc
 * build) and given as options; scripts/bench-fuzz.sh builds them and runs
 * this.  Every campaign is a child process (fork + exec, own process group)
 * with its output in a file, killed after S + 30 s; a failing one ends the
 * benchmark with its exit status and the tail of its output.
 *
 * Figures are exec/s, higher is better.  Per round: libFuzzer then replay,
 * then each AFL++ pair back to back, persistent first in even rounds and
 * fork server first in odd ones; medians over rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "bench.h"

#ifndef UFFDBOX_SOURCE_DIR
#define UFFDBOX_SOURCE_DIR "."
#endif

#define DEFAULT_SECS	  10
#define QUICK_SECS	  3
#define DEFAULT_ROUNDS	  3
#define QUICK_ROUNDS	  1
#define GRACE_SECS	  30	  /* a child is killed S + GRACE_SECS s after it started */
#define MAX_REPLAY_PASSES 1000000 /* -runs of the replay driver */
#define TAIL_LINES	  15

#define HINT                                                                           \
	"run scripts/bench-fuzz.sh [--quick]: it builds the engine binaries (presets " \
	"default and fuzz-nosan, afl-clang-fast in build/afl-bench) and passes their paths"

enum variant { V_AFLP_BOX, V_AFLF_BOX, V_AFLP_PLANTED, V_AFLF_PLANTED, V_COUNT };

static const char *const variant_name[V_COUNT] = {
	[V_AFLP_BOX] = "afl.box.persistent",
	[V_AFLF_BOX] = "afl.box.forkserver",
	[V_AFLP_PLANTED] = "afl.planted.persistent",
	[V_AFLF_PLANTED] = "afl.planted.forkserver",
};

/* Per variant: exec/s and executions of each round's campaign. */
struct result {
	struct bench_series rate, execs;
	bool used;
};

/* A target run under libFuzzer and by the replay driver (no engine). */
enum { T_BOX, T_MSG, T_FSM, T_COUNT };
struct lf_target {
	const char *name;		   /* box, msg, fsm */
	char *lf, *replay, *corpus, *dict; /* absolute paths; lf NULL: not measured */
	struct result lf_res, replay_res;
	char lf_row[24], replay_row[24], line[40];
	unsigned int seed; /* libFuzzer's -seed; 0: 1 */
};

/* Absolute paths of everything a run needs. */
struct paths {
	char *aflp, *aflf, *aflp_box, *aflf_box, *afl_fuzz;
	char *planted_seeds, *planted_dict;
	struct lf_target t[T_COUNT];
};

static char workdir[PATH_MAX];
static bool keep_workdir;
static char afl_version[32];

/* ---- small helpers ------------------------------------------------------ */

static void remove_workdir(void)
{
	if (!workdir[0])
		return;
	if (keep_workdir)
		fprintf(stderr, "uffdbox-bench: fuzz: logs and outputs kept in %s\n", workdir);
	else
		bench_remove_tree(workdir);
	workdir[0] = '\0';
}

/* A regular executable file: 0, or -1 and why. */
static int check_exe(const char *opt, const char *path, const char *what, char *why, size_t len)
{
	struct stat st;
	if (!path) {
		snprintf(why, len, "%s PATH is missing (%s)", opt, what);
		return -1;
	}
	if (stat(path, &st) != 0) {
		snprintf(why, len, "%s %s: %s (%s)", opt, path, strerror(errno), what);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
		snprintf(why, len, "%s %s: not an executable file (%s)", opt, path, what);
		return -1;
	}
	return 0;
}

/* @rel relative to the directory of this executable (not checked). */
static char *sibling(const char *rel)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	return bench_asprintf("%s/%s", dirname(self), rel);
}

static char *absolute(const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %s", path, strerror(errno));
	return bench_strdup(real);
}

/* The replay driver of target @t: --replay-box for box, else the one of
 * this build (next to uffdbox-bench). */
static char *replay_path(const struct bench_opts *o, const char *t)
{
	if (!strcmp(t, "box") && o->replay_box)
		return bench_strdup(o->replay_box);
	char *rel = bench_asprintf("../fuzz/fuzz_%s_replay", t);
	char *p = sibling(rel);
	if (!p)
		return rel;
	free(rel);
	return p;
}

/* The libFuzzer binary given for target @t, or NULL. */
static const char *lf_path(const struct bench_opts *o, int t)
{
	return t == T_BOX ? o->libfuzzer_box : t == T_MSG ? o->libfuzzer_msg : o->libfuzzer_fsm;
}

static const char *const target_name[T_COUNT] = {"box", "msg", "fsm"};

static const char *const source_files[] = {
	"corpus/box",
	"fuzz/fuzz_box.dict",
	"corpus/msg",
	"fuzz/fuzz_msg.dict",
	"corpus/fsm",
	"fuzz/fuzz_fsm.dict",
	"examples/planted/seeds",
	"examples/planted/planted.dict",
};

int bench_fuzz_ready(const struct bench_opts *o, char *why, size_t len)
{
	if (check_exe("--libfuzzer-box", o->libfuzzer_box,
		      "fuzz_box of the fuzz-nosan preset: clang, libFuzzer, no sanitizers", why,
		      len) < 0 ||
	    check_exe("--afl-persistent", o->afl_persistent,
		      "planted_fuzz built with afl-clang-fast -fsanitize=fuzzer", why, len) < 0 ||
	    check_exe("--afl-forkserver", o->afl_forkserver,
		      "planted_forkserver built with afl-clang-fast", why, len) < 0)
		return -1;
	if (!o->afl_box_persistent != !o->afl_box_forkserver) {
		snprintf(why, len, "--afl-box-persistent and --afl-box-forkserver go together");
		return -1;
	}
	if (o->afl_box_persistent &&
	    (check_exe("--afl-box-persistent", o->afl_box_persistent,
		       "fuzz_box built with afl-clang-fast -fsanitize=fuzzer", why, len) < 0 ||
	     check_exe("--afl-box-forkserver", o->afl_box_forkserver,
		       "fuzz_box_replay built with afl-clang-fast", why, len) < 0))
		return -1;
	int rc = 0;
	for (int t = 0; t < T_COUNT && rc == 0; t++) {
		if (t != T_BOX) {
			char opt[32];
			snprintf(opt, sizeof(opt), "--libfuzzer-%s", target_name[t]);
			if (lf_path(o, t) &&
			    check_exe(opt, lf_path(o, t),
				      "a target of the fuzz-nosan preset: clang, libFuzzer, no "
				      "sanitizers",
				      why, len) < 0)
				return -1;
			if (!lf_path(o, t))
				continue;
		}
		char *replay = replay_path(o, target_name[t]);
		rc = check_exe(t == T_BOX ? "--replay-box" : "the replay driver", replay,
			       "fuzz_<target>_replay of the default build, found next to "
			       "uffdbox-bench",
			       why, len);
		free(replay);
	}
	if (rc < 0 || bench_fuzzlib_ready(o, why, len) < 0)
		return -1;
	char *afl = bench_find_in_path("afl-fuzz");
	if (!afl) {
		snprintf(why, len, "afl-fuzz is not in PATH (Debian package afl++)");
		return -1;
	}
	free(afl);
	for (size_t i = 0; i < sizeof(source_files) / sizeof(source_files[0]); i++) {
		char *p = bench_asprintf("%s/%s", UFFDBOX_SOURCE_DIR, source_files[i]);
		rc = access(p, R_OK);
		if (rc < 0)
			snprintf(why, len, "%s: %s (the source tree this was built from)", p,
				 strerror(errno));
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- children ----------------------------------------------------------- */

struct child {
	const char *what;	 /* for messages: "libFuzzer fuzz_box, round 2" */
	const char *const *argv; /* argv[0] an absolute path */
	const char *const *env;	 /* NAME=VALUE added to the environment, or NULL */
	const char *cwd;	 /* working directory */
	const char *log;	 /* stdout and stderr go here */
	unsigned int timeout_s;	 /* killed (with its process group) after this */
};

/* The last TAIL_LINES lines of @path on stderr, without terminal escapes. */
static void print_tail(const char *path)
{
	char buf[4096], clean[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0) {
		fprintf(stderr, "--- %s is empty\n", path);
		return;
	}
	size_t k = 0;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\033') { /* ESC [ ... letter, ESC ( B */
			if (i + 1 < n && buf[i + 1] == '[')
				for (i += 2; i < n && !(buf[i] >= '@' && buf[i] <= '~'); i++)
					;
			else if (i + 1 < n && (buf[i + 1] == '(' || buf[i + 1] == ')'))
				i += 2;
			continue;
		}
		if (buf[i] != '\r')
			clean[k++] = buf[i];
	}
	while (k && clean[k - 1] == '\n')
		k--;
	clean[k] = '\0';
	size_t start = k;
	for (int lines = 0; start > 0; start--)
		if (clean[start - 1] == '\n' && ++lines == TAIL_LINES)
			break;
	fprintf(stderr, "--- last lines of %s\n%s\n---\n", path, clean + start);
}

/* CPU time (user + system) of the last child reaped by wait_until(). */
static struct rusage child_usage;

/* Reap @pid, or return false once @deadline_ns has passed.  Sleeps in
 * poll() on a pidfd, so the exit is seen at once. */
static bool wait_until(pid_t pid, uint64_t deadline_ns, int *st)
{
	int pfd = -1;
#ifdef SYS_pidfd_open
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		pid_t w = wait4(pid, st, WNOHANG, &child_usage);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			bench_die(BENCH_EXIT_FAIL, "fuzz: waitpid: %s", strerror(errno));
		uint64_t now = bench_now_ns();
		if (now >= deadline_ns) {
			if (pfd >= 0)
				close(pfd);
			return false;
		}
		if (pfd >= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};
			uint64_t ms = (deadline_ns - now) / 1000000 + 1;
			poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
		} else {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	return true;
}

/* Run @c to completion: its wall-clock seconds (fork to exit).  A child that
 * fails or times out ends the benchmark (exit 1) with the tail of its log. */
static double run_child(const struct child *c)
{
	int logfd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %s", c->log, strerror(errno));
	fflush(NULL);
	uint64_t t0 = bench_now_ns();
	pid_t pid = fork();
	if (pid < 0)
		bench_die(BENCH_EXIT_FAIL, "fuzz: fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
		    chdir(c->cwd) < 0)
			_exit(126);
		for (const char *const *e = c->env; e && *e; e++)
			putenv((char *)*e);
		execv(c->argv[0], (char *const *)c->argv);
		dprintf(2, "cannot run %s: %s\n", c->argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* as the child does: whichever runs first */
	close(logfd);
	int st = 0;
	if (!wait_until(pid, t0 + (uint64_t)c->timeout_s * 1000000000u, &st)) {
		/* Not reaped yet, so the group id is still ours. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		keep_workdir = true;
		print_tail(c->log);
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: no exit after %u s, killed", c->what,
			  c->timeout_s);
	}
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	if (st != 0) {
		char how[96];
		bench_describe_status(st, how, sizeof(how));
		keep_workdir = true;
		print_tail(c->log);
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s failed: %s", c->what, how);
	}
	return secs;
}

/* The value after "@key<spaces>:" on a line of @path that starts with @key;
 * false if there is none. */
static bool find_value(const char *path, const char *key, char *val, size_t len)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, klen = strlen(key);
	bool found = false;
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) >= 0) {
		if (strncmp(line, key, klen) != 0)
			continue;
		const char *p = line + klen;
		p += strspn(p, " \t");
		if (*p != ':')
			continue;
		p++;
		p += strspn(p, " \t");
		snprintf(val, len, "%.*s", (int)strcspn(p, "\r\n"), p);
		found = true;
	}
	free(line);
	fclose(f);
	return found;
}

/* A number after @key, or the benchmark fails naming @what and the file. */
static double value_of(const char *what, const char *path, const char *key)
{
	char v[128], *end;
	if (!find_value(path, key, v, sizeof(v))) {
		keep_workdir = true;
		print_tail(path);
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: no '%s' in %s", what, key, path);
	}
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || d < 0) {
		keep_workdir = true;
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: '%s: %s' in %s is not a number", what, key, v,
			  path);
	}
	return d;
}

/* Copy the regular files of @src (not dot files, not README*) into @dst. */
static void copy_dir(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;
	if (!d)
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %s", src, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		char *from = bench_asprintf("%s/%s", src, e->d_name);
		char *to = bench_asprintf("%s/%s", dst, e->d_name);
		struct stat st;
		if (stat(from, &st) == 0 && S_ISREG(st.st_mode)) {
			int in = open(from, O_RDONLY | O_CLOEXEC);
			int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			char buf[65536];
			ssize_t n = 0;
			while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
				if (write(out, buf, (size_t)n) != n) {
					n = -1;
					break;
				}
			if (in < 0 || out < 0 || n < 0)
				bench_die(BENCH_EXIT_FAIL, "fuzz: copying %s to %s: %s", from, to,
					  strerror(errno));
			close(in);
			close(out);
		}
		free(from);
		free(to);
	}
	closedir(d);
}

/* mkdir @path (which it takes over) and return it. */
static char *make_dir(char *path)
{
	if (mkdir(path, 0755) < 0)
		bench_die(BENCH_EXIT_FAIL, "fuzz: mkdir %s: %s", path, strerror(errno));
	return path;
}

/* ---- the campaigns ------------------------------------------------------ */

/* libFuzzer on a scratch copy of the target's corpus; exec/s = executed
 * units over the wall-clock time of the process.  The scratch corpus (seeds +
 * what libFuzzer added) is left in @rdir/corpus for the replay. */
static double libfuzzer_round(const struct lf_target *tg, unsigned int secs, unsigned int r,
			      const char *rdir, double *execs, unsigned long runs)
{
	char *corpus = make_dir(bench_asprintf("%s/corpus", rdir));
	copy_dir(tg->corpus, corpus);
	/* -runs=N instead when given: a fixed amount of work, timed. */
	char *a_time = runs ? bench_asprintf("-runs=%lu", runs)
			    : bench_asprintf("-max_total_time=%u", secs);
	char *a_dict = bench_asprintf("-dict=%s", tg->dict);
	char *a_seed = bench_asprintf("-seed=%u", tg->seed ? tg->seed : 1);
	char *a_art = bench_asprintf("-artifact_prefix=%s/", rdir);
	char *log = bench_asprintf("%s/libfuzzer.log", rdir);
	char *what = bench_asprintf("libFuzzer %s, round %u", tg->lf, r + 1);
	const char *argv[] = {tg->lf, a_time, "-print_final_stats=1",
			      a_seed, a_dict, "-timeout=10",
			      a_art,  corpus, NULL};
	struct child c = {.what = what,
			  .argv = argv,
			  .cwd = rdir,
			  .log = log,
			  .timeout_s = (runs ? 4 * secs : secs) + GRACE_SECS};
	double t = run_child(&c);
	double units = value_of(what, log, "stat::number_of_executed_units");
	if (units < 1) {
		keep_workdir = true;
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: no execution counted (%s)", what, log);
	}
	*execs = units;
	free(corpus);
	free(a_time);
	free(a_dict);
	free(a_seed);
	free(a_art);
	free(log);
	free(what);
	return units / t;
}

double bench_fuzz_libfuzzer(const char *bin, const char *corpus, const char *dict,
			    unsigned int seed, unsigned int secs, unsigned long runs,
			    unsigned int r, const char *rdir, double *execs, double *cpu_secs)
{
	struct lf_target tg = {
		.lf = (char *)bin, .corpus = (char *)corpus, .dict = (char *)dict, .seed = seed};
	double rate = libfuzzer_round(&tg, secs, r, rdir, execs, runs);
	*cpu_secs = (double)(child_usage.ru_utime.tv_sec + child_usage.ru_stime.tv_sec) +
		    (double)(child_usage.ru_utime.tv_usec + child_usage.ru_stime.tv_usec) / 1e6;
	return rate;
}

/* The replay driver over @corpus, each input @passes times from memory
 * (-runs).  Executions (checked), wall-clock seconds in *secs. */
static double replay_run(const struct lf_target *tg, const char *rdir, const char *corpus,
			 unsigned int passes, const char *what, double *secs)
{
	char *a_runs = bench_asprintf("-runs=%u", passes);
	const char *argv[] = {tg->replay, a_runs, corpus, NULL};
	char *log = bench_asprintf("%s/replay.log", rdir);
	struct child c = {.what = what,
			  .argv = argv,
			  .cwd = rdir,
			  .log = log,
			  .timeout_s = (unsigned int)*secs + GRACE_SECS};
	*secs = run_child(&c);
	double ran = value_of(what, log, "fuzz driver");
	free(log);
	free(a_runs);
	return ran;
}

double bench_fuzz_replay(const char *bin, const char *corpus, unsigned long inputs,
			 unsigned long passes, unsigned int timeout_s, unsigned int r,
			 const char *rdir, double *execs, double *cpu_secs)
{
	struct lf_target tg = {.replay = (char *)bin};
	char *what = bench_asprintf("replay %s, round %u", bin, r + 1);
	double t = timeout_s;
	double n = replay_run(&tg, rdir, corpus, (unsigned int)passes, what, &t);
	if (n != (double)inputs * (double)passes) {
		keep_workdir = true;
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %.0f inputs ran, expected %lu x %lu", what, n,
			  passes, inputs);
	}
	*execs = n;
	*cpu_secs = (double)(child_usage.ru_utime.tv_sec + child_usage.ru_stime.tv_sec) +
		    (double)(child_usage.ru_utime.tv_usec + child_usage.ru_stime.tv_usec) / 1e6;
	free(what);
	return t > 0 ? n / t : 0;
}

/* The target without an engine, on the inputs libFuzzer kept in this
 * round: one pass to time it, then as many passes as fill @secs. */
static double replay_round(const struct lf_target *tg, double secs, unsigned int r,
			   const char *rdir, double *execs)
{
	char *corpus = bench_asprintf("%s/corpus", rdir);
	char *what = bench_asprintf("replay %s, round %u", tg->replay, r + 1);
	double t1 = secs;
	double n1 = replay_run(tg, rdir, corpus, 1, what, &t1);
	if (n1 < 1) {
		keep_workdir = true;
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: no input in %s", what, corpus);
	}
	/* Grow -runs until a run fills half of @secs, so that starting the
	 * process and reading the corpus are a small part of the time. */
	unsigned int passes = 1;
	double n = n1, t = t1;
	while (t < secs / 2 && passes < MAX_REPLAY_PASSES) {
		double grow = t > 1e-6 ? secs / t : 100;
		grow = grow < 2 ? 2 : grow > 100 ? 100 : grow;
		passes = passes * grow > MAX_REPLAY_PASSES ? MAX_REPLAY_PASSES
							   : (unsigned int)(passes * grow);
		t = secs * 4;
		n = replay_run(tg, rdir, corpus, passes, what, &t);
		if (n != n1 * passes) {
			keep_workdir = true;
			bench_die(BENCH_EXIT_FAIL, "fuzz: %s: %.0f inputs ran, expected %u x %.0f",
				  what, n, passes, n1);
		}
	}
	*execs = n;
	free(corpus);
	free(what);
	return n / t;
}

static const char *const afl_env[] = {
	"AFL_SKIP_CPUFREQ=1",
	"AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1",
	"AFL_NO_UI=1",
	/* Bind to a free core as afl-fuzz does by default, but go on without
	 * one when another afl-fuzz holds them all. */
	"AFL_TRY_AFFINITY=1",
	/* The planted bugs would crash the campaign within a second: their
	 * inputs are dropped (examples/planted/fuzz.c), the rest runs. */
	"PLANTED_SKIP=uau,oob,fetch",
	NULL,
};

/* One afl-fuzz campaign of @secs seconds; exec/s as afl-fuzz reports it
 * (execs_done over the time since its start, calibration included). */
static double afl_round(const struct paths *p, enum variant v, unsigned int secs, unsigned int r,
			double *execs)
{
	bool planted = v == V_AFLP_PLANTED || v == V_AFLF_PLANTED;
	bool fork_server = v == V_AFLF_PLANTED || v == V_AFLF_BOX;
	char *bin = planted ? (fork_server ? p->aflf : p->aflp)
			    : (fork_server ? p->aflf_box : p->aflp_box);
	char *out = bench_asprintf("%s/%s.%u", workdir, variant_name[v], r + 1);
	char *log = bench_asprintf("%s.log", out);
	char *what = bench_asprintf("afl-fuzz %s (%s), round %u", bin, variant_name[v], r + 1);
	char *a_secs = bench_asprintf("%u", secs);
	const char *argv[] = {p->afl_fuzz,
			      "-i",
			      planted ? p->planted_seeds : p->t[T_BOX].corpus,
			      "-o",
			      out,
			      "-x",
			      planted ? p->planted_dict : p->t[T_BOX].dict,
			      "-s",
			      "1",
			      "-V",
			      a_secs,
			      "--",
			      bin,
			      fork_server ? "@@" : NULL,
			      NULL};
	struct child c = {.what = what,
			  .argv = argv,
			  .env = afl_env,
			  .cwd = workdir,
			  .log = log,
			  .timeout_s = secs + GRACE_SECS};
	run_child(&c);

	char *stats = bench_asprintf("%s/default/fuzzer_stats", out);
	double done = value_of(what, stats, "execs_done");
	double rate = value_of(what, stats, "execs_per_sec");
	if (done < 1 || rate <= 0) {
		keep_workdir = true;
		bench_die(BENCH_EXIT_FAIL, "fuzz: %s: no execution counted (%s)", what, stats);
	}
	char v_crash[32] = "0", v_hang[32] = "0";
	if (!find_value(stats, "saved_crashes", v_crash, sizeof(v_crash)))
		find_value(stats, "unique_crashes", v_crash, sizeof(v_crash));
	if (!find_value(stats, "saved_hangs", v_hang, sizeof(v_hang)))
		find_value(stats, "unique_hangs", v_hang, sizeof(v_hang));
	if (!afl_version[0] && find_value(stats, "afl_version", afl_version, sizeof(afl_version)))
		memmove(afl_version, afl_version + strspn(afl_version, "+"),
			strlen(afl_version + strspn(afl_version, "+")) + 1); /* "++4.04c" */
	if (strcmp(v_crash, "0") != 0 || strcmp(v_hang, "0") != 0) {
		/* Counted all the same; the inputs are kept for a look. */
		fprintf(stderr, "uffdbox-bench: fuzz: %s: %s crashes, %s hangs saved in %s\n", what,
			v_crash, v_hang, out);
		keep_workdir = true;
	} else {
		bench_remove_tree(out);
	}
	*execs = done;
	free(stats);
	free(out);
	free(log);
	free(what);
	free(a_secs);
	return rate;
}

static void add(struct result *res, enum variant v, double rate, double execs)
{
	bench_series_add(&res[v].rate, rate);
	bench_series_add(&res[v].execs, execs);
}

static void row_of(const struct result *r)
{
	const struct bench_series *s = &r->rate;
	printf("%-24s %14.3f %12.3f %12.3f %7u %12.0f\n", s->name, bench_series_median(s),
	       bench_series_min(s), bench_series_max(s), s->n, bench_series_median(&r->execs));
}

int bench_fuzz(const struct bench_opts *o)
{
	char why[1024];
	unsigned int secs = o->secs ? o->secs : o->quick ? QUICK_SECS : DEFAULT_SECS;
	unsigned int rounds = o->rounds_given ? o->rounds
			      : o->quick      ? QUICK_ROUNDS
					      : DEFAULT_ROUNDS;
	/* Only --fuzzlib-* given: the fuzzlib lines alone (scripts/bench-fuzz.sh
	 * --fuzzlib-only). */
	bool fuzzlib_only = !o->libfuzzer_box && !o->afl_persistent && !o->afl_forkserver &&
			    !o->afl_box_persistent && !o->libfuzzer_msg && !o->libfuzzer_fsm &&
			    (o->fuzzlib_nosan || o->fuzzlib_asan);
	if (fuzzlib_only) {
		if (bench_fuzzlib_ready(o, why, sizeof(why)) < 0) {
			fprintf(stderr, "uffdbox-bench: fuzz: %s\n", why);
			return BENCH_EXIT_USAGE;
		}
		bench_make_workdir(workdir, sizeof(workdir), "fuzz");
		atexit(remove_workdir);
		bench_fuzzlib(o, secs, rounds, workdir);
		return 0;
	}
	if (bench_fuzz_ready(o, why, sizeof(why)) < 0) {
		fprintf(stderr, "uffdbox-bench: fuzz: %s\nuffdbox-bench: fuzz: %s\n", why, HINT);
		return BENCH_EXIT_USAGE;
	}
	int rc = bench_probe_uffd();
	if (rc < 0)
		bench_die(BENCH_EXIT_SKIP,
			  "fuzz: userfaultfd (SIGBUS mode) is not available here: %s; the "
			  "harnesses need it",
			  strerror(-rc));

	double replay_secs = secs / 2.0 < 1 ? 1 : secs / 2.0;
	bool box_afl = o->afl_box_persistent != NULL;

	struct paths p = {0};
	for (int t = 0; t < T_COUNT; t++) {
		struct lf_target *tg = &p.t[t];
		tg->name = target_name[t];
		if (!lf_path(o, t))
			continue;
		char *replay = replay_path(o, tg->name);
		char *corpus = bench_asprintf("%s/corpus/%s", UFFDBOX_SOURCE_DIR, tg->name);
		char *dict = bench_asprintf("%s/fuzz/fuzz_%s.dict", UFFDBOX_SOURCE_DIR, tg->name);
		tg->lf = absolute(lf_path(o, t));
		tg->replay = absolute(replay);
		tg->corpus = absolute(corpus);
		tg->dict = absolute(dict);
		free(replay);
		free(corpus);
		free(dict);
		snprintf(tg->lf_row, sizeof(tg->lf_row), "libfuzzer.%s", tg->name);
		snprintf(tg->replay_row, sizeof(tg->replay_row), "replay.%s", tg->name);
		snprintf(tg->line, sizeof(tg->line), "fuzz.%s_libfuzzer_vs_replay", tg->name);
		if (bench_series_init(&tg->lf_res.rate, tg->lf_row, rounds) < 0 ||
		    bench_series_init(&tg->lf_res.execs, tg->lf_row, rounds) < 0 ||
		    bench_series_init(&tg->replay_res.rate, tg->replay_row, rounds) < 0 ||
		    bench_series_init(&tg->replay_res.execs, tg->replay_row, rounds) < 0)
			bench_die(BENCH_EXIT_FAIL, "out of memory");
		tg->lf_res.used = tg->replay_res.used = true;
	}
	p.aflp = absolute(o->afl_persistent);
	p.aflf = absolute(o->afl_forkserver);
	if (box_afl) {
		p.aflp_box = absolute(o->afl_box_persistent);
		p.aflf_box = absolute(o->afl_box_forkserver);
	}
	p.afl_fuzz = bench_find_in_path("afl-fuzz");
	p.planted_seeds = absolute(UFFDBOX_SOURCE_DIR "/examples/planted/seeds");
	p.planted_dict = absolute(UFFDBOX_SOURCE_DIR "/examples/planted/planted.dict");

	bench_make_workdir(workdir, sizeof(workdir), "fuzz");
	atexit(remove_workdir);

	struct result res[V_COUNT] = {0};
	for (int v = 0; v < V_COUNT; v++) {
		res[v].used = box_afl || (v != V_AFLP_BOX && v != V_AFLF_BOX);
		if (res[v].used && (bench_series_init(&res[v].rate, variant_name[v], rounds) < 0 ||
				    bench_series_init(&res[v].execs, variant_name[v], rounds) < 0))
			bench_die(BENCH_EXIT_FAIL, "out of memory");
	}

	for (unsigned int r = 0; r < rounds; r++) {
		fprintf(stderr, "uffdbox-bench: fuzz: round %u of %u (%u s per campaign)\n", r + 1,
			rounds, secs);
		double execs, rate;
		for (int t = 0; t < T_COUNT; t++) {
			struct lf_target *tg = &p.t[t];
			if (!tg->lf)
				continue;
			char *rdir = make_dir(
				bench_asprintf("%s/libfuzzer.%s.%u", workdir, tg->name, r + 1));
			rate = libfuzzer_round(tg, secs, r, rdir, &execs, 0);
			bench_series_add(&tg->lf_res.rate, rate);
			bench_series_add(&tg->lf_res.execs, execs);
			rate = replay_round(tg, replay_secs, r, rdir, &execs);
			bench_series_add(&tg->replay_res.rate, rate);
			bench_series_add(&tg->replay_res.execs, execs);
			bench_remove_tree(rdir);
			free(rdir);
		}

		/* Each pair back to back, the order flipped every round. */
		static const enum variant pairs[2][2] = {{V_AFLP_PLANTED, V_AFLF_PLANTED},
							 {V_AFLP_BOX, V_AFLF_BOX}};
		for (int k = 0; k < (box_afl ? 2 : 1); k++)
			for (int i = 0; i < 2; i++) {
				enum variant v = pairs[k][r & 1 ? 1 - i : i];
				rate = afl_round(&p, v, secs, r, &execs);
				add(res, v, rate, execs);
			}
	}

	printf("fuzz: %u round%s x %u s per campaign; exec/s, higher is better; libFuzzer -seed=1 "
	       "from corpus/box; replay: fuzz_box + fuzz/driver.c (no engine) on libFuzzer's "
	       "corpus of the round, ~%.1f s; AFL++ %s -s 1 -V %u, PLANTED_SKIP=uau,oob,fetch\n",
	       rounds, rounds == 1 ? "" : "s", secs, replay_secs,
	       afl_version[0] ? afl_version : "(version unknown)", secs);
	printf("%-24s %14s %12s %12s %7s %12s\n", "name", "median exec/s", "min", "max", "rounds",
	       "median execs");
	for (int t = 0; t < T_COUNT; t++)
		if (p.t[t].lf) {
			row_of(&p.t[t].lf_res);
			row_of(&p.t[t].replay_res);
		}
	for (int v = 0; v < V_COUNT; v++)
		if (res[v].used)
			row_of(&res[v]);
	printf("\n");
	for (int t = 0; t < T_COUNT; t++)
		if (p.t[t].lf)
			bench_compare(p.t[t].line, &p.t[t].lf_res.rate, &p.t[t].replay_res.rate);
	if (box_afl)
		bench_compare("fuzz.box_afl_persistent_vs_forkserver", &res[V_AFLP_BOX].rate,
			      &res[V_AFLF_BOX].rate);
	bench_compare("fuzz.planted_afl_persistent_vs_forkserver", &res[V_AFLP_PLANTED].rate,
		      &res[V_AFLF_PLANTED].rate);
	fflush(stdout);
	/* Real libraries, uffdbox harness vs plain (when given): its own
	 * campaigns, table and lines. */
	bench_fuzzlib(o, secs, rounds, workdir);

	for (int v = 0; v < V_COUNT; v++)
		if (res[v].used) {
			bench_series_free(&res[v].rate);
			bench_series_free(&res[v].execs);
		}
	for (int t = 0; t < T_COUNT; t++) {
		struct lf_target *tg = &p.t[t];
		if (!tg->lf)
			continue;
		bench_series_free(&tg->lf_res.rate);
		bench_series_free(&tg->lf_res.execs);
		bench_series_free(&tg->replay_res.rate);
		bench_series_free(&tg->replay_res.execs);
		free(tg->lf);
		free(tg->replay);
		free(tg->corpus);
		free(tg->dict);
	}
	char **all[] = {&p.aflp,     &p.aflf,	       &p.aflp_box,    &p.aflf_box,
			&p.afl_fuzz, &p.planted_seeds, &p.planted_dict};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(*all[i]);
	remove_workdir();
	return BENCH_EXIT_OK;
}
