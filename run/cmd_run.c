/* SPDX-License-Identifier: MIT */
/*
 * run/cmd_run.c - `uffdbox run [OPTIONS] -- PROGRAM [ARGS...]`.
 *
 * Runs PROGRAM with libuffdbox-run.so preloaded (use-after-unmap
 * detection), waits for it, and exits as it did: its exit status, or
 * 128+N when signal N killed it.  PROGRAM's stdin, stdout and stderr are
 * its own; when nothing is detected uffdbox prints nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uffdbox.h>

#include "cli.h"
#include "progcheck.h"
#include "text.h"

#define PRELOAD_NAME "libuffdbox-run.so"

/* The preload library: $UFFDBOX_PRELOAD, else next to this binary, else in
 * ../lib (an installed layout). */
static int find_preload(char *out, size_t len)
{
	const char *env = getenv("UFFDBOX_PRELOAD");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	const char *dir = dirname(self);
	static const char *const rel[] = {"/" PRELOAD_NAME, "/../lib/" PRELOAD_NAME,
					  "/../lib/x86_64-linux-gnu/" PRELOAD_NAME};
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(out, len, "%s%s", dir, rel[i]);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* The "Seccomp:" mode in /proc/self/status: 2 under a filter, -1 unknown. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int mode = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f)
		fclose(f);
	return mode;
}

/* The preload watches unmapped ranges with a user-mode userfaultfd, or
 * without one with PROT_NONE placeholders (its signal mode).  Only with
 * UFFDBOX_BACKEND=uffd and no userfaultfd does the program run unwatched:
 * say so once, with the cause (a container's seccomp filter, most often)
 * and the fix. */
static void warn_unwatched(const char *prog)
{
	const char *be = getenv("UFFDBOX_BACKEND");
	if (!be || strcmp(be, "uffd") != 0)
		return;
	int err = uffdbox_uffd_try_method(UFFDBOX_OPEN_SYSCALL_USER);
	if (err >= 0)
		return;
	const char *name = strerrorname_np(-err) ? strerrorname_np(-err) : "an error";
	if ((err == -EPERM || err == -ENOSYS) && seccomp_mode() == 2)
		fprintf(stderr,
			"uffdbox run: a seccomp filter refuses userfaultfd(2) with %s (Seccomp: 2 "
			"in /proc/self/status, as a container runtime's default profile does): "
			"%s runs with use-after-unmap detection OFF (UFFDBOX_BACKEND=uffd). "
			"Fix: unset UFFDBOX_BACKEND (the signal mode watches without one), "
			"allow userfaultfd in the container's seccomp profile "
			"(--security-opt seccomp=PROFILE.json) or run it unconfined; 'uffdbox "
			"features' tells more.\n",
			name, prog);
	else
		fprintf(stderr,
			"uffdbox run: userfaultfd(2) with UFFD_USER_MODE_ONLY fails here (%s: %s): "
			"%s runs with use-after-unmap detection OFF (UFFDBOX_BACKEND=uffd); "
			"'uffdbox features' says why and how to fix it.\n",
			name, strerror(-err), prog);
}

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"log", required_argument, NULL, 'l'},
		{"continue", no_argument, NULL, 'c'},
		{"quarantine-mb", required_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *log = NULL, *qmb = NULL;
	bool cont = false;
	int c;

	opterr = 0;
	/* "+": stop at the first non-option (the program). */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log = optarg;
			break;
		case 'c':
			cont = true;
			break;
		case 'q': {
			uint64_t v;
			if (uffdbox__parse_u64(optarg, 10, &v) < 0 || v == 0 || v > (1ULL << 20))
				return uffdbox__usage(&uffdbox__cmd_run,
						      "--quarantine-mb takes a whole number of MiB "
						      "from 1 to 1048576, not %s",
						      optarg);
			qmb = optarg;
			break;
		}
		case 'h':
			uffdbox__cmd_help(&uffdbox__cmd_run, stdout);
			return 0;
		case ':':
			return uffdbox__usage(&uffdbox__cmd_run, "this option needs a value: %s",
					      argv[optind - 1]);
		default:
			return uffdbox__usage(&uffdbox__cmd_run, "unknown option %s",
					      argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return uffdbox__usage(&uffdbox__cmd_run, "no PROGRAM given");

	char preload[PATH_MAX];
	if (find_preload(preload, sizeof(preload)) < 0) {
		fprintf(stderr,
			"uffdbox run: cannot find %s next to the uffdbox binary or in ../lib; "
			"set UFFDBOX_PRELOAD to its path\n",
			PRELOAD_NAME);
		return 127;
	}
	char why[PATH_MAX + 256];
	if (uffdbox__prog_check(argv[optind], why, sizeof(why)) < 0) {
		fprintf(stderr, "uffdbox: %s\n", why);
		return UFFDBOX_EXIT_USAGE;
	}
	if (log) {
		/* Start the log empty; the program's processes append to it. */
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "uffdbox run: cannot write the log %s: %s\n", log,
				strerror(errno));
			return UFFDBOX_EXIT_USAGE;
		}
		close(fd);
	}

	warn_unwatched(argv[optind]);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "uffdbox: fork: %s\n", strerror(errno));
		return 127;
	}
	if (child == 0) {
		const char *old = getenv("LD_PRELOAD");
		char *pre;
		if (asprintf(&pre, "%s%s%s", preload, old && *old ? ":" : "", old ? old : "") < 0)
			_exit(127);
		setenv("LD_PRELOAD", pre, 1);
		if (log)
			setenv("UFFDBOX_RUN_LOG", log, 1);
		if (cont)
			setenv("UFFDBOX_RUN_CONTINUE", "1", 1);
		if (qmb)
			setenv("UFFDBOX_RUN_QUARANTINE_MB", qmb, 1);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "uffdbox: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	/* Terminal signals reach the whole process group already; others that
	 * are meant for the program are passed on. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "uffdbox: waitpid: %s\n", strerror(errno));
			return 127;
		}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

const struct uffdbox__cmd uffdbox__cmd_run = {
	.name = "run",
	.summary = "run a program with use-after-unmap detection",
	.synopsis = "uffdbox run [OPTIONS] -- PROGRAM [ARGS...]",
	.description =
		"Run an unmodified, dynamically linked PROGRAM with use-after-unmap detection:\n"
		"ranges it releases with munmap/mremap, large heap blocks it frees (glibc malloc,\n"
		">= the mmap threshold) and libraries it dlcloses stay reserved (quarantined),\n"
		"and any later access is reported, sanitizer style, with both stacks.",
	.options =
		"  --log FILE          write the normalized event log of the run (JSON Lines,\n"
		"                      docs/event-log.md) to FILE\n"
		"  --continue          after a report, go on (the page reads as zeros); report\n"
		"                      each distinct access site once. Default: abort (SIGABRT)\n"
		"  --quarantine-mb N   keep at most N MiB of unmapped address space reserved\n"
		"                      (FIFO; default 256). Memory use stays near zero either way\n"
		"  -h, --help          this text\n",
	.exit_status =
		"PROGRAM's, or 128+N if signal N killed it (SIGABRT after a report:\n"
		"134). 2 for a usage error or a PROGRAM the preload cannot reach (statically\n"
		"linked, 32-bit), 127 if PROGRAM cannot be run.",
	.more = "Environment: UFFDBOX_PRELOAD overrides where " PRELOAD_NAME " is found.\n",
	.main = run_main,
};
