/* SPDX-License-Identifier: MIT */
/* bench/util.c - small helpers the subcommands share (bench.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "uffdbox/compat.h"
#include "bench.h"

char *bench_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	return d;
}

char *bench_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		bench_die(BENCH_EXIT_FAIL, "out of memory");
	return s;
}

char *bench_find_in_path(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? bench_strdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char cand[PATH_MAX];
		snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, n ? path : ".", name);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return bench_strdup(cand);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void bench_remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_probe_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_SIGBUS};
	int rc = ioctl(fd, UFFDIO_API, &api) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void bench_make_workdir(char *buf, size_t len, const char *what)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, len, "%s/uffdbox-bench-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", what);
	if (!mkdtemp(buf)) {
		int err = errno;
		buf[0] = '\0';
		bench_die(BENCH_EXIT_FAIL, "%s: mkdtemp: %s", what, strerror(err));
	}
}

void bench_describe_status(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "fork failed: %s", strerror(errno));
	else if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status %#x", st);
}

/* $ENV, else @rel relative to the directory of this executable. */
char *bench_find_sibling(const char *env, const char *rel)
{
	const char *e = getenv(env);
	if (e && *e)
		return access(e, X_OK) == 0 ? bench_strdup(e) : NULL;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	char *p = bench_asprintf("%s/%s", dirname(self), rel);
	char real[PATH_MAX];
	if (realpath(p, real) && access(real, X_OK) == 0) {
		free(p);
		return bench_strdup(real);
	}
	free(p);
	return NULL;
}
