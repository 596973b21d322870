/* SPDX-License-Identifier: MIT */
/*
 * fuzz/driver.c - the standalone driver: replays files and directories
 * through any LLVMFuzzerTestOneInput target, without a fuzzing engine, so
 * that corpora and regressions run as ordinary tests with gcc.
 *
 *   fuzz_msg_replay [-runs=N] [-flag=value...] PATH...
 *
 * -runs=N runs each input N times from memory (as libFuzzer does with input
 * files): the engine-less throughput baseline of `uffdbox-bench fuzz`, with
 * no file I/O between executions.  Other arguments starting with '-' are
 * ignored (libFuzzer-style command lines work unchanged).  A directory is replayed entry by entry in name order
 * (not recursively; names starting with '.' or "README" are skipped).  Each
 * input is copied into a malloc() buffer of exactly its size, so a target
 * that reads one byte too far is caught by ASan.  A crashing input aborts
 * the run (its path is printed first); otherwise prints how many inputs ran
 * and exits 0.  Exit 1 when an argument cannot be read.
 *
 * With UFFDBOX_PERSIST=1 the inputs run under the whole-target reset, as in
 * a fuzzing campaign with it (docs/persist.md): the target's
 * uffdbox_persist_auto() snapshots at the first input and restores before
 * each later one.  The driver then lists every input first and reads each
 * into one buffer outside the snapshot (kept across restores, like its
 * "current input" pointer): memory it allocated on the heap after the
 * snapshot would be given back by the restore.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"
#include "uffdbox/persist.h"
#include "uffdbox/uffd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static const char *current;    /* the input being run, for the crash message */
static unsigned long runs = 1; /* executions of each input */

static void on_fatal(int sig)
{
	static const char msg[] = "fuzz driver: crash in input: ";
	if (current) {
		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The inputs to run, listed before the first runs: paths at offsets into
 * one pool, both in mappings of their own (off the heap). */
static struct {
	char *pool;
	size_t used, cap;
	size_t *off;
	size_t n, ncap;
	size_t max_size;
} in;

static void *grow(void *p, size_t old, size_t want)
{
	void *q = p ? mremap(p, old, want, MREMAP_MAYMOVE)
		    : mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED) {
		perror("fuzz driver: input list");
		exit(1);
	}
	return q;
}

static void add_input(const char *path, size_t size)
{
	size_t len = strlen(path) + 1;
	if (in.used + len > in.cap) {
		size_t cap = in.cap ? in.cap * 2 : 1 << 16;
		while (cap < in.used + len)
			cap *= 2;
		in.pool = grow(in.pool, in.cap, cap);
		in.cap = cap;
	}
	if (in.n == in.ncap) {
		size_t cap = in.ncap ? in.ncap * 2 : 4096;
		in.off = grow(in.off, in.ncap * sizeof(size_t), cap * sizeof(size_t));
		in.ncap = cap;
	}
	memcpy(in.pool + in.used, path, len);
	in.off[in.n++] = in.used;
	in.used += len;
	if (size > in.max_size)
		in.max_size = size;
}

/* Read @path into @buf (exactly @size bytes expected); 0 or -1. */
static int read_input(const char *path, uint8_t *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	if (fd < 0) {
		perror(path);
		return -1;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != size) {
		fprintf(stderr, "%s: short read\n", path);
		return -1;
	}
	return 0;
}

/* Run one input: copied into a malloc() buffer of exactly its size (ASan
 * catches a read one byte too far), or with @persist_buf into that. */
static int run_file(const char *path, uint8_t *persist_buf)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = persist_buf;
	if (persist_buf && size > in.max_size) {
		fprintf(stderr, "%s: grew since it was listed\n", path);
		return -1;
	}
	if (!buf && !(buf = malloc(size ? size : 1))) {
		perror(path);
		return -1;
	}
	if (read_input(path, buf, size) < 0) {
		if (!persist_buf)
			free(buf);
		return -1;
	}
	current = path;
	for (unsigned long k = 0; k < runs; k++)
		LLVMFuzzerTestOneInput(buf, size);
	current = NULL;
	if (!persist_buf)
		free(buf);
	return 0;
}

static int skip_name(const char *name)
{
	return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	unsigned long ran = 0;
	int bad = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	signal(SIGABRT, on_fatal);
	signal(SIGSEGV, on_fatal);
	signal(SIGBUS, on_fatal);
	signal(SIGILL, on_fatal);
	signal(SIGFPE, on_fatal);

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		struct stat st;
		if (strncmp(arg, "-runs=", 6) == 0) {
			uint64_t v;
			if (uffdbox__parse_u64(arg + 6, 10, &v) < 0 || v == 0 || v > ULONG_MAX) {
				fprintf(stderr, "fuzz driver: %s: -runs takes a number from 1\n",
					arg);
				return 2;
			}
			runs = v;
			continue;
		}
		if (arg[0] == '-')
			continue;
		if (stat(arg, &st) != 0) {
			perror(arg);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			add_input(arg, (size_t)st.st_size);
			continue;
		}
		struct dirent **ents;
		int n = scandir(arg, &ents, NULL, by_name);
		if (n < 0) {
			perror(arg);
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			if (!skip_name(ents[k]->d_name) &&
			    snprintf(path, sizeof(path), "%s/%s", arg, ents[k]->d_name) <
				    (int)sizeof(path) &&
			    stat(path, &st) == 0 && S_ISREG(st.st_mode))
				add_input(path, (size_t)st.st_size);
			free(ents[k]);
		}
		free(ents);
	}

	const char *persist = getenv("UFFDBOX_PERSIST");
	uint8_t *persist_buf = NULL;
	if (persist && strcmp(persist, "1") == 0) {
		/* The reset needs a userfaultfd (docs/persist.md): where there is
		 * none (a container's seccomp filter), say so and skip (77). */
		struct uffdbox_uffd *u = NULL;
		char err[512] = "";
		struct uffdbox_uffd_opts uo = {
			.sz = sizeof(uo), .errbuf = err, .errbuf_len = sizeof(err)};
		int urc = uffdbox_uffd_open(&uo, &u);
		bool real = urc >= 0 && uffdbox_uffd_backend(u) == UFFDBOX_BACKEND_UFFD;
		uffdbox_uffd_close(u);
		if (urc < 0) { /* not the lack of one: a mistake to fix (a bad mask) */
			fprintf(stderr, "fuzz driver: UFFDBOX_PERSIST=1: %s%s%s\n",
				uffdbox_strerror(urc), err[0] ? ": " : "", err);
			return 2;
		}
		if (!real) {
			printf("fuzz driver: skipped: UFFDBOX_PERSIST=1 needs a userfaultfd (the "
			       "signal backend cannot track a whole process's writes: of the fixes "
			       "below, those that give a userfaultfd apply), and there is no "
			       "userfaultfd here%s%s\n",
			       err[0] ? ": " : "", err);
			return 77;
		}
		size_t cap = (in.max_size + 4095) & ~(size_t)4095;
		persist_buf = grow(NULL, 0, cap ? cap : 4096);
		if (uffdbox_persist_keep(persist_buf, cap ? cap : 4096) < 0 ||
		    uffdbox_persist_keep(&current, sizeof(current)) < 0) {
			fprintf(stderr, "fuzz driver: uffdbox_persist_keep failed\n");
			return 1;
		}
	}
	for (size_t k = 0; k < in.n; k++) {
		if (run_file(in.pool + in.off[k], persist_buf) == 0)
			ran++;
		else
			bad = 1;
	}
	if (runs == 1)
		printf("fuzz driver: %lu inputs ran%s\n", ran,
		       bad ? ", some could not be read" : "");
	else
		printf("fuzz driver: %lu inputs ran (%lu inputs x %lu runs)%s\n", ran * runs, ran,
		       runs, bad ? ", some could not be read" : "");
	return bad;
}
