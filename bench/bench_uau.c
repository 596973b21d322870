/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_uau.c - `uffdbox-bench uau`: what `uffdbox run` (use-after-
 * unmap quarantine, LD_PRELOAD) costs an unmodified program, against the
 * same command run plainly.
 *
 *   uau.python3  python3 work.py: parsing, Counter, json, sort, regex, a
 *                large bytearray (mmap-backed) and one grown by realloc
 *                (mremap), many small allocations (obmalloc arenas: mmap)
 *   uau.perl     perl work.pl: hash of a 200k-line file, sort, a 32 MiB string
 *   uau.git      git log -p --stat of a one-commit repository
 *   uau.gzip     gzip -9 of the words file
 *   uau.sort     sort -k2,2n of the words file
 *   uau.churn    uau_target churn N: N mmap + touch + munmap of 1-8 pages,
 *                the worst case for the quarantine (every munmap is one).
 *                N = 8000 quarantines ~140 MiB: under the default 256 MiB
 *                bound, so this measures filling the quarantine, not
 *                eviction (docs/bench.md has a steady-state figure)
 *   uau.heapchurn  uau_target heapchurn N: N rounds of malloc (128 KiB-1 MiB),
 *                touch, realloc to twice the size, calloc, free, with the
 *                mmap threshold pinned so that every block is mapped on its
 *                own: the worst case for the heap-block quarantine (every
 *                free and every moving realloc is one)
 *   uau.dlchurn  uau_target dlchurn N LIB: N rounds of dlopen, dlsym, a
 *                call, dlclose of a small library: every dlclose unloads
 *                it and quarantines its segments
 *
 * Method.  Inputs are generated once, deterministically, in a temporary
 * directory (the words file by a fixed PRNG, so no interpreter is needed to
 * make it).  A run is fork + exec + waitpid of the command, wall clock, with
 * stdin and stdout on /dev/null and stderr in a file; the uffdbox side is
 * `uffdbox run -- COMMAND`, so it includes the launcher's own fork/exec.
 * Each round runs every command once plainly and once under uffdbox, back
 * to back, in that order in even rounds and reversed in odd ones, so drift
 * on this shared machine falls on both sides alike.  A command's figure is
 * the median over rounds; one extra round before the measured ones is
 * thrown away (page cache, first-use costs).  Every run must exit 0 and
 * write nothing on stderr - with uffdbox, anything there is a report or a
 * warning from it - or the benchmark fails instead of printing a ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uffdbox/compat.h>

#include "bench.h"

#define MAX_ARGS 16

/* Sizes: the default ones keep each native run at ~0.15-0.6 s here; the
 * quick ones only check that everything runs. */
struct uau_sizes {
	unsigned int lines; /* of words.txt */
	unsigned int py_mb; /* python's bytearrays */
	unsigned int pl_mb; /* perl's big string */
	unsigned int churn; /* uau_target churn N */
	unsigned int heapchurn, dlchurn;
};

static const struct uau_sizes default_sizes = {200000, 32, 32, 8000, 600, 3000};
static const struct uau_sizes quick_sizes = {40000, 8, 8, 1000, 60, 200};

/* Deterministic inputs (the same as tests/uau/real_programs.sh makes, in
 * kind: the words file is ours, from a fixed PRNG). */
static const char work_py[] =
	"import collections, hashlib, json, re, sys\n"
	"mb = int(sys.argv[1])\n"
	"data = open(\"words.txt\").read().split(\"\\n\")\n"
	"counts = collections.Counter(line.split(\" \", 1)[0] for line in data if line)\n"
	"big = [{\"w\": w, \"n\": n, \"sq\": [i * i for i in range(n % 50)]}\n"
	"       for w, n in counts.most_common()]\n"
	"blob = json.dumps(big, sort_keys=True).encode()\n"
	"rows = sorted((int(l.split()[1]), l) for l in data[:50000] if l)\n"
	"arr = bytearray(mb << 20)  # large: mmap-backed, freed with munmap\n"
	"for i in range(0, len(arr), 4096):\n"
	"    arr[i] = i % 251\n"
	"grow = bytearray()\n"
	"for i in range(mb // 2):  # realloc of an mmap-backed buffer: mremap\n"
	"    grow += bytes(1 << 20)\n"
	"print(len(counts), len(rows), hashlib.sha256(blob).hexdigest(),\n"
	"      sum(arr[::4096]), len(grow))\n"
	"print(sorted(re.findall(r\"\\b\\w{11}\\b\", \" \".join(data[:20000])))[:5])\n";

static const char work_pl[] = "my $mb = shift // 32;\n"
			      "my %h; my $n = 0;\n"
			      "open my $f, \"<\", \"words.txt\" or die;\n"
			      "while (<$f>) { my @w = split; $h{$w[2]} += $w[1]; $n++; }\n"
			      "my @top = (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0..9];\n"
			      "print \"$n lines\\n\"; print \"$_ $h{$_}\\n\" for @top;\n"
			      "my $s = \"x\" x ($mb << 20); print length($s), \"\\n\";\n";

enum prog_id { P_PYTHON3, P_PERL, P_GIT, P_GZIP, P_SORT, P_CHURN, P_HEAPCHURN, P_DLCHURN, P_COUNT };

static bool is_target(int i)
{
	return i == P_CHURN || i == P_HEAPCHURN || i == P_DLCHURN;
}

struct prog {
	const char *name;	    /* "python3": the line is uau.<name> */
	const char *argv[MAX_ARGS]; /* the plain command, argv[0] an absolute path */
	const char *boxed[MAX_ARGS + 3];
	bool present;
	char native_name[32], box_name[32];
	struct bench_series native, box;
};

static char workdir[PATH_MAX];
static int devnull = -1;

static void remove_workdir(void)
{
	if (workdir[0])
		bench_remove_tree(workdir);
	workdir[0] = '\0';
}

/* The library dlchurn loads: $UFFDBOX_UAU_LIB, else ../tests/uau/ next to
 * this executable (a readable file; it need not be executable). */
static char *find_lib(void)
{
	const char *e = getenv("UFFDBOX_UAU_LIB");
	if (e && *e)
		return access(e, R_OK) == 0 ? bench_strdup(e) : NULL;
	char self[PATH_MAX], real[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	char *p = bench_asprintf("%s/../tests/uau/libuau_lib.so", dirname(self));
	char *r = realpath(p, real) && access(real, R_OK) == 0 ? bench_strdup(real) : NULL;
	free(p);
	return r;
}

/*
 * Fork, exec @argv in the work directory with stdin and stdout on /dev/null
 * (or stdout into @out_fd) and stderr into @err_fd; wait.  Returns the wait
 * status (-1 if fork failed) and the wall-clock time in *secs.
 */
static int spawn(const char *const argv[], int out_fd, int err_fd, double *secs)
{
	uint64_t t0 = bench_now_ns();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
		    chdir(workdir) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die(BENCH_EXIT_FAIL, "uau: waitpid: %s", strerror(errno));
	if (secs)
		*secs = (double)(bench_now_ns() - t0) / 1e9;
	return st;
}

/* The first bytes of what a run wrote on stderr, for a failure message. */
static void read_head(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
}

static int open_err_file(const char *what)
{
	char *p = bench_asprintf("%s/%s.err", workdir, what);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die(BENCH_EXIT_FAIL, "uau: %s: %s", p, strerror(errno));
	free(p);
	return fd;
}

/* A run that must succeed silently: exit 0, nothing on stderr.  Its time. */
static double timed_run(const char *what, const char *const argv[], int err_fd)
{
	double secs = 0;
	if (ftruncate(err_fd, 0) < 0)
		bench_die(BENCH_EXIT_FAIL, "uau: ftruncate: %s", strerror(errno));
	lseek(err_fd, 0, SEEK_SET);
	int st = spawn(argv, devnull, err_fd, &secs);
	struct stat sb;
	off_t errlen = fstat(err_fd, &sb) == 0 ? sb.st_size : 0;
	if (st != 0 || errlen) {
		char why[128], head[512];
		bench_describe_status(st, why, sizeof(why));
		read_head(err_fd, head, sizeof(head));
		bench_die(BENCH_EXIT_FAIL, "uau: %s: %s, %lld bytes on stderr%s%s", what, why,
			  (long long)errlen, errlen ? ":\n" : "", head);
	}
	return secs;
}

/* Setup commands: must exit 0; stderr shown if not. */
static void setup_run(const char *const argv[])
{
	int err_fd = open_err_file("setup");
	int st = spawn(argv, devnull, err_fd, NULL);
	if (st != 0) {
		char why[128], head[512];
		bench_describe_status(st, why, sizeof(why));
		read_head(err_fd, head, sizeof(head));
		bench_die(BENCH_EXIT_FAIL, "uau: setup: %s %s %s: %s\n%s", argv[0],
			  argv[1] ? argv[1] : "", argv[2] ? argv[2] : "", why, head);
	}
	close(err_fd);
}

/* The first line @argv prints, or "" if it fails. */
static void capture_line(const char *const argv[], char *buf, size_t len)
{
	char *path = bench_asprintf("%s/capture.out", workdir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	free(path);
	buf[0] = '\0';
	if (fd < 0)
		return;
	int st = spawn(argv, fd, devnull, NULL);
	if (st == 0)
		read_head(fd, buf, len);
	close(fd);
	buf[strcspn(buf, "\n")] = '\0';
}

static void write_file(const char *rel, const char *data, size_t len)
{
	char *p = bench_asprintf("%s/%s", workdir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die(BENCH_EXIT_FAIL, "uau: %s: %s", p, strerror(errno));
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die(BENCH_EXIT_FAIL, "uau: write %s: %s", p, strerror(errno));
		off += (size_t)n;
	}
	close(fd);
	free(p);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* @lines of "<word> <0..10^6> <word>" from a vocabulary of 5000 words of
 * 2-12 lowercase letters; the same bytes on every machine. */
static char *make_words(unsigned int lines, size_t *len)
{
	enum { NWORDS = 5000 };
	static char words[NWORDS][13];
	uint64_t s = 42;
	for (int i = 0; i < NWORDS; i++) {
		int n = 2 + (int)(splitmix64(&s) % 11);
		for (int k = 0; k < n; k++)
			words[i][k] = (char)('a' + splitmix64(&s) % 26);
		words[i][n] = '\0';
	}
	size_t cap = (size_t)lines * 34 + 1, used = 0;
	char *buf = malloc(cap);
	if (!buf)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	for (unsigned int i = 0; i < lines; i++) {
		const char *a = words[splitmix64(&s) % NWORDS];
		unsigned int num = (unsigned int)(splitmix64(&s) % 1000001);
		const char *b = words[splitmix64(&s) % NWORDS];
		used += (size_t)snprintf(buf + used, cap - used, "%s %u %s\n", a, num, b);
	}
	*len = used;
	return buf;
}

static void make_inputs(const struct uau_sizes *sz, const char *git)
{
	size_t wlen;
	char *w = make_words(sz->lines, &wlen);
	write_file("words.txt", w, wlen);
	write_file("work.py", work_py, sizeof(work_py) - 1);
	write_file("work.pl", work_pl, sizeof(work_pl) - 1);
	if (git) {
		char *repo = bench_asprintf("%s/repo", workdir);
		if (mkdir(repo, 0755) < 0)
			bench_die(BENCH_EXIT_FAIL, "uau: mkdir %s: %s", repo, strerror(errno));
		write_file("repo/words.txt", w, wlen);
		write_file("repo/work.py", work_py, sizeof(work_py) - 1);
		write_file("repo/work.pl", work_pl, sizeof(work_pl) - 1);
		const char *g = git;
		const char *init[] = {g, "-c", "init.defaultBranch=main", "init", "-q", repo, NULL};
		const char *add[] = {g, "-C", repo, "add", ".", NULL};
		const char *commit[] = {g, "-C", repo, "commit", "-q", "-m", "one", NULL};
		setup_run(init);
		setup_run(add);
		setup_run(commit);
		free(repo);
	}
	free(w);
}

/* The same environment on both sides, and one that does not depend on the
 * user's: C locale (sort's tie-breaking), no git configuration, fixed git
 * identity and dates, a fixed Python hash seed. */
static void set_environment(void)
{
	static const char *const env[][2] = {
		{"LC_ALL", "C"},
		{"PYTHONHASHSEED", "0"},
		{"GIT_CONFIG_NOSYSTEM", "1"},
		{"GIT_CONFIG_GLOBAL", "/dev/null"},
		{"GIT_AUTHOR_NAME", "t"},
		{"GIT_AUTHOR_EMAIL", "t@example.invalid"},
		{"GIT_COMMITTER_NAME", "t"},
		{"GIT_COMMITTER_EMAIL", "t@example.invalid"},
		{"GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"},
		{"GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		setenv(env[i][0], env[i][1], 1);
}

static void set_argv(struct prog *p, const char *const *args)
{
	int n = 0;
	for (; args[n]; n++)
		p->argv[n] = bench_strdup(args[n]);
	p->argv[n] = NULL;
}

/* python3 is often a wrapper (pyenv shim: bash + pyenv, several processes):
 * time the interpreter itself, as the program a user means. */
static char *resolve_python(char *path)
{
	const char *argv[] = {path, "-c", "import sys; print(sys.executable)", NULL};
	char line[PATH_MAX];
	capture_line(argv, line, sizeof(line));
	if (line[0] == '/' && access(line, X_OK) == 0) {
		free(path);
		return bench_strdup(line);
	}
	return path;
}

static void prepare(struct prog *progs, const struct uau_sizes *sz, const char *uffdbox,
		    char *target, char *lib)
{
	static const char *const names[P_COUNT] = {
		[P_PYTHON3] = "python3",     [P_PERL] = "perl",	      [P_GIT] = "git",
		[P_GZIP] = "gzip",	     [P_SORT] = "sort",	      [P_CHURN] = "churn",
		[P_HEAPCHURN] = "heapchurn", [P_DLCHURN] = "dlchurn",
	};
	char mb_py[16], mb_pl[16], churn[16], heapchurn[16], dlchurn[16];
	snprintf(mb_py, sizeof(mb_py), "%u", sz->py_mb);
	snprintf(mb_pl, sizeof(mb_pl), "%u", sz->pl_mb);
	snprintf(churn, sizeof(churn), "%u", sz->churn);
	snprintf(heapchurn, sizeof(heapchurn), "%u", sz->heapchurn);
	snprintf(dlchurn, sizeof(dlchurn), "%u", sz->dlchurn);

	for (int i = 0; i < P_COUNT; i++) {
		struct prog *p = &progs[i];
		p->name = names[i];
		char *bin = is_target(i) ? target : bench_find_in_path(names[i]);
		if (i == P_DLCHURN && bin && !lib) {
			fprintf(stderr,
				"uffdbox-bench: uau: skipping dlchurn: libuau_lib.so is not "
				"at ../tests/uau/ next to uffdbox-bench (build with "
				"UFFDBOX_BUILD_TESTS=ON, or set UFFDBOX_UAU_LIB)\n");
			continue;
		}
		if (!bin) {
			if (is_target(i) && getenv("UFFDBOX_UAU_TARGET") &&
			    *getenv("UFFDBOX_UAU_TARGET"))
				fprintf(stderr,
					"uffdbox-bench: uau: skipping %s: UFFDBOX_UAU_TARGET=%s "
					"is not an executable\n",
					names[i], getenv("UFFDBOX_UAU_TARGET"));
			else if (is_target(i))
				fprintf(stderr,
					"uffdbox-bench: uau: skipping %s: uau_target is not at "
					"../tests/uau/uau_target next to uffdbox-bench (build with "
					"UFFDBOX_BUILD_TESTS=ON, or set UFFDBOX_UAU_TARGET)\n",
					names[i]);
			else
				fprintf(stderr,
					"uffdbox-bench: uau: skipping %s: not found in PATH\n",
					names[i]);
			continue;
		}
		if (i == P_PYTHON3)
			bin = resolve_python(bin);
		switch (i) {
		case P_PYTHON3:
			set_argv(p, (const char *const[]){bin, "work.py", mb_py, NULL});
			break;
		case P_PERL:
			set_argv(p, (const char *const[]){bin, "work.pl", mb_pl, NULL});
			break;
		case P_GIT:
			set_argv(p, (const char *const[]){bin, "-C", "repo", "log", "-p", "--stat",
							  "--format=%H%n%an%n%s", NULL});
			break;
		case P_GZIP:
			set_argv(p,
				 (const char *const[]){bin, "-9", "-c", "-n", "words.txt", NULL});
			break;
		case P_SORT:
			set_argv(p, (const char *const[]){bin, "-k2,2n", "words.txt", NULL});
			break;
		case P_CHURN:
			set_argv(p, (const char *const[]){bin, "churn", churn, NULL});
			break;
		case P_HEAPCHURN:
			set_argv(p, (const char *const[]){bin, "heapchurn", heapchurn, NULL});
			break;
		case P_DLCHURN:
			set_argv(p, (const char *const[]){bin, "dlchurn", dlchurn, lib, NULL});
			break;
		}
		if (!is_target(i))
			free(bin);
		p->boxed[0] = uffdbox;
		p->boxed[1] = "run";
		p->boxed[2] = "--";
		for (int k = 0; p->argv[k]; k++)
			p->boxed[3 + k] = p->argv[k];
		p->present = true;
	}
}

int bench_uau(const struct bench_opts *o)
{
	const struct uau_sizes *sz = o->quick ? &quick_sizes : &default_sizes;
	struct prog progs[P_COUNT] = {0};

	/* Without a userfaultfd (or with UFFDBOX_BACKEND=signal) `uffdbox run`
	 * watches in its signal mode: that is what is measured then. */
	int rc = bench_probe_uffd();
	const char *be = getenv("UFFDBOX_BACKEND");
	if (rc < 0 || (be && !strcmp(be, "signal")))
		printf("uau: `uffdbox run` in its signal mode (PROT_NONE placeholders): %s\n",
		       rc < 0 ? strerror(-rc) : "UFFDBOX_BACKEND=signal");
	char *uffdbox = bench_find_sibling("UFFDBOX_BIN", "../run/uffdbox");
	if (!uffdbox)
		bench_die(BENCH_EXIT_FAIL,
			  "uau: the uffdbox command is not at ../run/uffdbox next to "
			  "uffdbox-bench; build it (target uffdbox-cli) or set UFFDBOX_BIN");
	char *target = bench_find_sibling("UFFDBOX_UAU_TARGET", "../tests/uau/uau_target");
	char *lib = find_lib();

	bench_make_workdir(workdir, sizeof(workdir), "uau");
	atexit(remove_workdir);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		bench_die(BENCH_EXIT_FAIL, "uau: /dev/null: %s", strerror(errno));

	set_environment();
	prepare(progs, sz, uffdbox, target, lib);
	make_inputs(sz, progs[P_GIT].present ? progs[P_GIT].argv[0] : NULL);

	for (int i = 0; i < P_COUNT; i++) {
		struct prog *p = &progs[i];
		if (!p->present)
			continue;
		snprintf(p->native_name, sizeof(p->native_name), "native.%s", p->name);
		snprintf(p->box_name, sizeof(p->box_name), "uffdbox.%s", p->name);
		if (bench_series_init(&p->native, p->native_name, o->rounds) < 0 ||
		    bench_series_init(&p->box, p->box_name, o->rounds) < 0)
			bench_die(BENCH_EXIT_FAIL, "out of memory");
	}

	int native_err = open_err_file("native"), box_err = open_err_file("uffdbox");
	/* Round -1 is the discarded warm-up round. */
	for (int r = -1; r < (int)o->rounds; r++) {
		for (int i = 0; i < P_COUNT; i++) {
			struct prog *p = &progs[i];
			if (!p->present)
				continue;
			char what_n[48], what_b[48];
			snprintf(what_n, sizeof(what_n), "%s (plain)", p->name);
			snprintf(what_b, sizeof(what_b), "%s (under uffdbox run)", p->name);
			double tn, tb;
			if (r & 1) {
				tb = timed_run(what_b, p->boxed, box_err);
				tn = timed_run(what_n, p->argv, native_err);
			} else {
				tn = timed_run(what_n, p->argv, native_err);
				tb = timed_run(what_b, p->boxed, box_err);
			}
			if (r >= 0) {
				bench_series_add(&p->native, tn);
				bench_series_add(&p->box, tb);
			}
		}
	}
	close(native_err);
	close(box_err);

	printf("uau: %u rounds of each command, plain and under `uffdbox run`, "
	       "interleaved; wall-clock s per run (fork+exec+wait)\n",
	       o->rounds);
	bench_table_header("s/run");
	for (int i = 0; i < P_COUNT; i++)
		if (progs[i].present) {
			bench_table_row(&progs[i].native);
			bench_table_row(&progs[i].box);
		}
	printf("\n");
	for (int i = 0; i < P_COUNT; i++) {
		if (!progs[i].present)
			continue;
		char line[48];
		snprintf(line, sizeof(line), "uau.%s", progs[i].name);
		bench_compare(line, &progs[i].box, &progs[i].native);
	}
	fflush(stdout);

	for (int i = 0; i < P_COUNT; i++) {
		struct prog *p = &progs[i];
		if (!p->present)
			continue;
		bench_series_free(&p->native);
		bench_series_free(&p->box);
		for (int k = 0; p->argv[k]; k++)
			free((void *)p->argv[k]);
	}
	free(uffdbox);
	free(target);
	free(lib);
	close(devnull);
	devnull = -1;
	remove_workdir();
	return BENCH_EXIT_OK;
}
