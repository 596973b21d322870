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
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

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

static int run_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	size_t got = 0;
	while (buf && got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != size) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		return -1;
	}
	current = path;
	for (unsigned long k = 0; k < runs; k++)
		LLVMFuzzerTestOneInput(buf, size);
	current = NULL;
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
			if (run_file(arg) == 0)
				ran++;
			else
				bad = 1;
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
			    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) == 0)
					ran++;
				else
					bad = 1;
			}
			free(ents[k]);
		}
		free(ents);
	}
	if (runs == 1)
		printf("fuzz driver: %lu inputs ran%s\n", ran,
		       bad ? ", some could not be read" : "");
	else
		printf("fuzz driver: %lu inputs ran (%lu inputs x %lu runs)%s\n", ran * runs, ran,
		       runs, bad ? ", some could not be read" : "");
	return bad;
}
