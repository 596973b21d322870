/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fuzz_exec.c - exec/s of each fuzz target without an engine.
 *
 *   bench_fuzz_exec [SECS [CORPUS_ROOT]]
 *
 * Replays CORPUS_ROOT/<target> (default: the source tree's corpus/) for
 * SECS seconds per target (default 2) and prints, per target,
 *     fuzz_<target>: execs=N secs=S exec_per_s=X
 * This is the cost of the target itself; an engine adds its own (mutation,
 * coverage bookkeeping): libFuzzer's figures are in docs/fuzzing.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_fuzz_exec.h"

#ifndef UFFDBOX_CORPUS_DIR
#define UFFDBOX_CORPUS_DIR "corpus"
#endif

struct input {
	uint8_t *data;
	size_t size;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path, struct input *in)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	in->size = (size_t)st.st_size;
	in->data = malloc(in->size ? in->size : 1);
	if (!in->data) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t r = read(fd, in->data, in->size);
	close(fd);
	if (r != (ssize_t)in->size) {
		free(in->data);
		return -EIO;
	}
	return 0;
}

int uffdbox_bench_fuzz_exec(const char *name, uffdbox_fuzz_one_fn fn, const char *corpus_dir,
			    double secs, FILE *out)
{
	DIR *d = opendir(corpus_dir);
	struct input *ins = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[4096];
		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", corpus_dir, e->d_name) >=
		    (int)sizeof(path))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct input *grown = realloc(ins, cap * sizeof(*ins));
			if (!grown)
				break;
			ins = grown;
		}
		if (load(path, &ins[n]) == 0)
			n++;
	}
	closedir(d);
	if (n == 0) {
		free(ins);
		return -ENOENT;
	}

	uint64_t execs = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 256; k++) {
			const struct input *in = &ins[execs % n];
			fn(in->data, in->size);
			execs++;
		}
		t = now() - t0;
	} while (t < secs);
	fprintf(out, "%s: execs=%llu secs=%.3f exec_per_s=%.0f\n", name, (unsigned long long)execs,
		t, (double)execs / t);
	for (size_t i = 0; i < n; i++)
		free(ins[i].data);
	free(ins);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	const char *root = argc > 2 ? argv[2] : UFFDBOX_CORPUS_DIR;
	static const struct {
		const char *name, *dir;
		uffdbox_fuzz_one_fn fn;
	} targets[] = {
		{"fuzz_msg", "msg", uffdbox__fuzz_msg_one},
		{"fuzz_fsm", "fsm", uffdbox__fuzz_fsm_one},
	};
	int rc = 0;

	if (secs <= 0)
		secs = 2.0;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/%s", root, targets[i].dir);
		int err =
			uffdbox_bench_fuzz_exec(targets[i].name, targets[i].fn, dir, secs, stdout);
		if (err) {
			fprintf(stderr, "%s: %s: %s\n", targets[i].name, dir, strerror(-err));
			rc = 1;
		}
	}
	return rc;
}
