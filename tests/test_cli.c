/* SPDX-License-Identifier: MIT */
/*
 * tests/test_cli.c - `uffdbox features` in the environments it must
 * diagnose: as root, as an unprivileged user with
 * vm.unprivileged_userfaultfd=0, and under a seccomp filter that refuses
 * userfaultfd(2) (installed in the child before exec, as a container
 * runtime does).  The command runs as its own process (UFFDBOX_CLI).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#ifndef UFFDBOX_CLI
#error "UFFDBOX_CLI: the path of the uffdbox command, from the build"
#endif

enum { AS_IS = 0, UNPRIVILEGED = 1, SECCOMP = 2 };

static char out[65536];

/* Run `uffdbox ARGS...` in a child set up as @how says; stdout and stderr
 * into out[].  Returns the exit status (or 128+signal). */
static int run_cli(unsigned int how, const char *env, const char *a1, const char *a2)
{
	int pfd[2];
	ASSERT_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		if (how & UNPRIVILEGED)
			tfx_drop_privileges();
		if (how & SECCOMP)
			tfx_seccomp_userfaultfd(EPERM, false);
		if (env)
			putenv((char *)env);
		execl(UFFDBOX_CLI, "uffdbox", "features", a1, a2, (char *)NULL);
		printf("exec %s: %s\n", UFFDBOX_CLI, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(out) - 1 && (r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("%s", out); /* the child skipped, and said why */
		_exit(77);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool device_private(void)
{
	struct stat st;
	return stat("/dev/userfaultfd", &st) == 0 && !(st.st_mode & 06);
}

/* (TFLAG_UFFD: these describe a machine without a seccomp filter of its
 * own; under the container passes' filter they skip, and
 * cli_features_seccomp* show what such a container looks like.) */
TEST_CASE_FLAGS(cli_features_root, TMEM_NONE, 0, TFLAG_UFFD)
{
	if (geteuid() != 0)
		SKIP("the root view needs root");
	ASSERT_EQ(run_cli(AS_IS, NULL, "--json", NULL), 0);
	ASSERT_CONTAINS(out, "{\"method\":\"syscall_user\",\"label\":\"user-mode syscall\",\"ok\":"
			     "true,\"error\":null");
	ASSERT_CONTAINS(out, "{\"method\":\"syscall\",\"label\":\"syscall\",\"ok\":true,");
	ASSERT_CONTAINS(out, "\"cap_sys_ptrace\":true,\"seccomp\":0,");
	ASSERT_CONTAINS(out, "\"backend\":{\"name\":\"uffd\",\"via\":\"syscall_user\"}}");
	ASSERT_CONTAINS(out, "{\"name\":\"SIGBUS\",\"available\":true,\"hidden\":false,");
	ASSERT_CONTAINS(out, "{\"name\":\"EVENT_FORK\",\"available\":true,");
	ASSERT_EQ(run_cli(AS_IS, NULL, NULL, NULL), 0);
	ASSERT_CONTAINS(out, "\n  user-mode syscall    ok (faults in user mode only)\n");
	ASSERT_CONTAINS(out, "\nBackend: uffd (opened by syscall_user)\n");
}

TEST_CASE_FLAGS(cli_features_unprivileged_sysctl0, TMEM_NONE, 0, TFLAG_SYSCTL | TFLAG_UFFD)
{
	tfx_sysctl_set("/proc/sys/vm/unprivileged_userfaultfd", "0");
	ASSERT_EQ(run_cli(UNPRIVILEGED, NULL, "--json", NULL), 0);
	/* the user-mode-only syscall needs no privilege... */
	ASSERT_CONTAINS(out, "{\"method\":\"syscall_user\",\"label\":\"user-mode syscall\",\"ok\":"
			     "true,");
	/* ...the plain one is refused by the sysctl, and the fix is named */
	ASSERT_CONTAINS(out, "{\"method\":\"syscall\",\"label\":\"syscall\",\"ok\":false,\"error\":"
			     "\"EPERM\",\"cause\":\"vm.unprivileged_userfaultfd=0 and no "
			     "CAP_SYS_PTRACE");
	ASSERT_CONTAINS(out, "\"fix\":\"as root: sysctl -w vm.unprivileged_userfaultfd=1, or run "
			     "with CAP_SYS_PTRACE");
	ASSERT_CONTAINS(out, "\"unprivileged_userfaultfd\":0,\"cap_sys_ptrace\":false,");
	if (tfx_hidden(UFFDBOX_HIDE_DEVICE)) {
		ASSERT_CONTAINS(out, "{\"method\":\"device\",\"label\":\"/dev/userfaultfd\",\"ok\":"
				     "false,\"error\":\"ENOENT\",\"cause\":\"hidden by "
				     "UFFDBOX_FEATURE_MASK (bit 63");
	} else if (device_private()) {
		ASSERT_CONTAINS(out, "{\"method\":\"device\",\"label\":\"/dev/userfaultfd\",\"ok\":"
				     "false,\"error\":\"EACCES\",\"cause\":\"/dev/userfaultfd is "
				     "mode 0");
		ASSERT_CONTAINS(out, "not readable and writable by uid 65534");
		ASSERT_CONTAINS(out, "chmod 0660 /dev/userfaultfd");
	}
	ASSERT_CONTAINS(out, "\"backend\":{\"name\":\"uffd\",\"via\":\"syscall_user\"}}");
	ASSERT(!strstr(out, "seccomp filter"));
	/* fork events: advertised to everyone, granted with CAP_SYS_PTRACE only
	 * (UFFDIO_API fails with EPERM), so not available here */
	ASSERT_CONTAINS(out, "{\"name\":\"EVENT_FORK\",\"available\":false,\"hidden\":false,"
			     "\"since\":\"4.11\",\"fix\":\"run with CAP_SYS_PTRACE");
	/* the text form says the same */
	ASSERT_EQ(run_cli(UNPRIVILEGED, NULL, NULL, NULL), 0);
	ASSERT_CONTAINS(out, "  syscall              EPERM: vm.unprivileged_userfaultfd=0 and no "
			     "CAP_SYS_PTRACE");
	ASSERT_CONTAINS(out, "Missing pieces and fixes:\n");
	ASSERT_CONTAINS(out, "    fix: as root: sysctl -w vm.unprivileged_userfaultfd=1");
	ASSERT_CONTAINS(out, "\n  EVENT_FORK           no (refused without CAP_SYS_PTRACE)\n");
	ASSERT_CONTAINS(out, "\n  - uffd feature EVENT_FORK: refused: UFFDIO_API fails with EPERM");
}

TEST_CASE_FLAGS(cli_features_seccomp, TMEM_NONE, 0, TFLAG_UFFD)
{
	if (geteuid() != 0)
		SKIP("needs root (the device stays open to root under the filter)");
	if (tfx_hidden(UFFDBOX_HIDE_DEVICE))
		SKIP("/dev/userfaultfd hidden by UFFDBOX_FEATURE_MASK (as before Linux 6.1): "
		     "nothing is left under the filter (cli_features_seccomp_unprivileged "
		     "checks that case)");
	ASSERT_EQ(run_cli(SECCOMP, NULL, "--json", NULL), 0);
	/* both syscalls refused, and the filter named as the cause */
	ASSERT_CONTAINS(out, "{\"method\":\"syscall_user\",\"label\":\"user-mode syscall\",\"ok\":"
			     "false,\"error\":\"EPERM\",\"cause\":\"a seccomp filter refuses "
			     "userfaultfd(2) with EPERM (/proc/self/status: Seccomp: 2, "
			     "Seccomp_filters: ");
	ASSERT_CONTAINS(out, "{\"method\":\"syscall\",\"label\":\"syscall\",\"ok\":false,\"error\":"
			     "\"EPERM\",\"cause\":\"a seccomp filter refuses");
	ASSERT_CONTAINS(out, "\"fix\":\"allow the userfaultfd syscall in this container's seccomp "
			     "profile");
	ASSERT_CONTAINS(out, "\"seccomp\":2,\"seccomp_filters\":");
	/* /dev/userfaultfd is open(2) + ioctl(2): the filter lets it through */
	ASSERT_CONTAINS(out, "{\"method\":\"device\",\"label\":\"/dev/userfaultfd\",\"ok\":true,");
	ASSERT_CONTAINS(out, "\"backend\":{\"name\":\"uffd\",\"via\":\"device\"}}");
}

TEST_CASE_FLAGS(cli_features_seccomp_unprivileged, TMEM_NONE, 0, TFLAG_UFFD)
{
	if (!device_private())
		SKIP("needs a /dev/userfaultfd closed to other users, so that nothing is left");
	/* no userfaultfd left: the signal backend stands in (exit 0), and the
	 * text names seccomp and the fixes */
	ASSERT_EQ(run_cli(UNPRIVILEGED | SECCOMP, NULL, NULL, NULL), 0);
	ASSERT_CONTAINS(out,
			"  user-mode syscall    EPERM: a seccomp filter refuses userfaultfd(2) "
			"with EPERM");
	ASSERT_CONTAINS(out, "\nBackend: signal: no userfaultfd here");
	ASSERT_EQ(run_cli(UNPRIVILEGED | SECCOMP, NULL, "--json", NULL), 0);
	ASSERT_CONTAINS(out, "\"backend\":{\"name\":\"signal\",\"via\":null}}");
	/* with the userfaultfd backend forced, nothing is left: exit 1 */
	ASSERT_EQ(run_cli(UNPRIVILEGED | SECCOMP, "UFFDBOX_BACKEND=uffd", NULL, NULL), 1);
	ASSERT_CONTAINS(out, "\nBackend: none: uffdbox cannot run here\n");
	ASSERT_CONTAINS(out, "fix: allow the userfaultfd syscall in this container's seccomp");
	ASSERT_CONTAINS(out, ":\n  unknown: no way to open userfaultfd here\n");
}

TEST_CASE(cli_features_mask, TMEM_NONE, UFFD_FEATURE_MOVE)
{
	ASSERT_EQ(run_cli(AS_IS, "UFFDBOX_FEATURE_MASK=0x10000", "--json", NULL), 0);
	ASSERT_CONTAINS(out, "\"feature_mask\":\"0x10000\"");
	ASSERT_CONTAINS(out, "{\"name\":\"MOVE\",\"available\":false,\"hidden\":true,\"since\":"
			     "\"6.8\",\"fix\":\"unset UFFDBOX_FEATURE_MASK (or clear 0x10000 in "
			     "it)\"}");
	ASSERT_CONTAINS(out, "{\"name\":\"SIGBUS\",\"available\":true,\"hidden\":false,");
	ASSERT_EQ(run_cli(AS_IS, "UFFDBOX_FEATURE_MASK=0x10000", NULL, NULL), 0);
	ASSERT_CONTAINS(out, "  MOVE                 hidden by UFFDBOX_FEATURE_MASK\n");
	ASSERT_CONTAINS(out,
			"  - uffd feature MOVE: hidden by UFFDBOX_FEATURE_MASK\n    fix: unset "
			"UFFDBOX_FEATURE_MASK");
	ASSERT_EQ(run_cli(AS_IS, "UFFDBOX_FEATURE_MASK=lots", NULL, NULL), 2);
	ASSERT_CONTAINS(out, "UFFDBOX_FEATURE_MASK=\"lots\" is not a number");
}

TEST_CASE(cli_features_usage, TMEM_NONE, 0)
{
	ASSERT_EQ(run_cli(AS_IS, NULL, "--frob", NULL), 2);
	ASSERT_CONTAINS(out, "uffdbox features: unknown option --frob");
	ASSERT_EQ(run_cli(AS_IS, NULL, "extra", NULL), 2);
	ASSERT_CONTAINS(out, "no arguments expected");
	ASSERT_EQ(run_cli(AS_IS, NULL, "--help", NULL), 0);
	ASSERT_CONTAINS(out, "usage: uffdbox features [--json]");
}
